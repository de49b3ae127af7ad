/* Validators for the redactor: see redact_check.h. */
#include "redact_check.h"

#include <stdint.h>
#include <string.h>

#define MAX_DIGITS 20 /* more digits than any card or number, so never valid */

/* The digits of a span, and where each group of them (a run between separators) ends. */
struct digit_groups {
    char d[MAX_DIGITS];
    size_t n;
    size_t ends[MAX_DIGITS];   /* offset in the span just past each group */
    size_t counts[MAX_DIGITS]; /* digits up to and including each group */
    size_t ngroups;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
}

static bool in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

/* Collects the digits of s from `from` on; any byte that is neither a digit nor in
 * `seps` fails, as do more than MAX_DIGITS digits. */
static bool collect_digits(const char *s, size_t len, size_t from, const char *seps,
                           struct digit_groups *g)
{
    g->n = g->ngroups = 0;
    for (size_t i = from; i < len; i++) {
        if (!is_digit(s[i])) {
            if (!in_set(s[i], seps))
                return false;
            continue;
        }
        if (g->n == MAX_DIGITS)
            return false;
        g->d[g->n++] = s[i];
        if (i + 1 == len || !is_digit(s[i + 1])) {
            g->ends[g->ngroups] = i + 1;
            g->counts[g->ngroups++] = g->n;
        }
    }
    return true;
}

/* ---- payment cards --------------------------------------------------------------- */

static bool luhn_digits_ok(const char *d, size_t n)
{
    if (n < 13 || n > 19)
        return false;
    bool same = true;
    unsigned sum = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned v = (unsigned)(d[n - 1 - k] - '0');
        if (k % 2 == 1)
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
        same = same && d[k] == d[0];
    }
    return !same && sum % 10 == 0;
}

bool pii_check_luhn(const char *s, size_t len, size_t *keep)
{
    struct digit_groups g;
    if (!collect_digits(s, len, 0, " -", &g))
        return false;
    while (g.ngroups > 0) {
        g.ngroups--;
        if (luhn_digits_ok(g.d, g.counts[g.ngroups])) {
            *keep = g.ends[g.ngroups];
            return true;
        }
    }
    return false;
}

/* ---- National Insurance numbers --------------------------------------------------- */

static bool nino_prefix_ok(char a, char b)
{
    static const char *const never[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    if (in_set(a, "DFIQUV") || in_set(b, "DFIOQUV"))
        return false;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (never[i][0] == a && never[i][1] == b)
            return false;
    return true;
}

bool pii_check_nino(const char *s, size_t len)
{
    char c[9];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ')
            continue;
        if (n == sizeof c || !(is_alpha(s[i]) || is_digit(s[i])))
            return false;
        c[n++] = upper(s[i]);
    }
    if (n != 9 || !is_alpha(c[0]) || !is_alpha(c[1]) || !in_set(c[8], "ABCD"))
        return false;
    for (size_t i = 2; i < 8; i++)
        if (!is_digit(c[i]))
            return false;
    return nino_prefix_ok(c[0], c[1]);
}

/* ---- telephone numbers ------------------------------------------------------------ */

/* The national significant number (after the trunk 0) of a UK number. */
static bool uk_nsn_ok(const char *d, size_t n)
{
    switch (n ? d[0] : 0) {
    case '7':
    case '3':
    case '5':
    case '9':
        return n == 10;
    case '1':
    case '2':
    case '8':
        return n == 9 || n == 10;
    default:
        return false;
    }
}

static bool phone_digits_ok(const char *d, size_t n, bool plus)
{
    if (plus || (n > 2 && d[0] == '0' && d[1] == '0')) {
        size_t skip = plus ? 0 : 2;
        if (n - skip >= 2 && d[skip] == '4' && d[skip + 1] == '4') {
            skip += 2;
            if (n > skip && d[skip] == '0') /* "+44 (0)7..." or "+44 07..." */
                skip++;
            return uk_nsn_ok(d + skip, n - skip);
        }
        /* Another country: only with a +, as 00 then digits is as likely a reference. */
        return plus && n >= 8 && n <= 15 && d[0] != '0';
    }
    return n > 1 && d[0] == '0' && uk_nsn_ok(d + 1, n - 1);
}

bool pii_check_uk_phone(const char *s, size_t len, size_t *keep)
{
    struct digit_groups g;
    bool plus = len > 0 && s[0] == '+';
    if (!collect_digits(s, len, plus ? 1 : 0, " .-()/", &g) || g.n < 2)
        return false;
    /* Another country's numbers vary in length: only the whole span can be one. */
    if (plus && !(g.d[0] == '4' && g.d[1] == '4')) {
        g.counts[0] = g.counts[g.ngroups - 1];
        g.ends[0] = g.ends[g.ngroups - 1];
        g.ngroups = 1;
    }
    while (g.ngroups > 0) {
        g.ngroups--;
        if (phone_digits_ok(g.d, g.counts[g.ngroups], plus)) {
            *keep = g.ends[g.ngroups];
            return true;
        }
    }
    return false;
}

/* ---- postcodes ------------------------------------------------------------------- */

/* The outward code (before the inward "9AA"), upper case, `n` characters. */
static bool outward_ok(const char *o, size_t n)
{
    if (n < 2 || n > 4 || !is_alpha(o[0]) || in_set(o[0], "QVX"))
        return false;
    bool two_letters = is_alpha(o[1]);
    if (two_letters && in_set(o[1], "IJZ"))
        return false;
    size_t k = two_letters ? 2 : 1; /* where the district digit is */
    if (k >= n || !is_digit(o[k]))
        return false;
    if (k + 1 == n)
        return true; /* A9, AA9 */
    if (k + 2 != n)
        return false;
    if (is_digit(o[k + 1]))
        return true; /* A99, AA99 */
    return two_letters ? in_set(o[3], "ABEHMNPRVWXY") : in_set(o[2], "ABCDEFGHJKPSTUW");
}

bool pii_check_postcode(const char *s, size_t len)
{
    char c[8];
    size_t n = 0, spaces = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            spaces++;
            continue;
        }
        if (n == sizeof c || !(is_alpha(s[i]) || is_digit(s[i])))
            return false;
        c[n++] = upper(s[i]);
    }
    if (spaces > 1 || n < 5 || n > 7)
        return false;
    if (n == 6 && memcmp(c, "GIR0AA", 6) == 0)
        return true;
    const char *in = c + n - 3;
    if (!is_digit(in[0]) || !is_alpha(in[1]) || !is_alpha(in[2]) || in_set(in[1], "CIKMOV") ||
        in_set(in[2], "CIKMOV"))
        return false;
    if (spaces == 1) { /* the space, if any, separates the halves */
        const char *sp = memchr(s, ' ', len);
        if ((size_t)(s + len - sp) != 4)
            return false;
    }
    return outward_ok(c, n - 3);
}

/* ---- dates ----------------------------------------------------------------------- */

struct date_tok {
    unsigned value; /* the number, or the month (1-12) of a month name */
    unsigned digits; /* digits in a number; 0 for a month name */
};

static unsigned month_from_name(const char *w, size_t n)
{
    static const char *const names[] = {"january", "february", "march",     "april",
                                        "may",     "june",     "july",      "august",
                                        "september", "october", "november", "december"};
    char low[10];
    if (n < 3 || n > sizeof low)
        return 0;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(upper(w[i]) + 32);
    for (unsigned m = 0; m < 12; m++) {
        size_t full = strlen(names[m]);
        if ((n == full || n == 3 || (m == 8 && n == 4)) && n <= full &&
            memcmp(low, names[m], n) == 0)
            return m + 1;
    }
    return 0;
}

static bool ordinal_suffix(const char *w, size_t n)
{
    static const char *const sfx[] = {"st", "nd", "rd", "th"};
    if (n != 2)
        return false;
    for (size_t i = 0; i < 4; i++)
        if (upper(w[0]) == upper(sfx[i][0]) && upper(w[1]) == upper(sfx[i][1]))
            return true;
    return false;
}

/* Reads one token at s[*i]. Returns 1 for a token, 0 to skip ("of", a suffix), -1 for
 * something a date cannot hold. */
static int date_token(const char *s, size_t len, size_t *i, struct date_tok *t)
{
    size_t start = *i;
    if (is_digit(s[start])) {
        unsigned v = 0, k = 0;
        while (*i < len && is_digit(s[*i]) && k <= 4)
            v = v * 10 + (unsigned)(s[(*i)++] - '0'), k++;
        *t = (struct date_tok){v, k};
        return k <= 4 ? 1 : -1;
    }
    while (*i < len && is_alpha(s[*i]))
        (*i)++;
    size_t n = *i - start;
    if (n == 2 && upper(s[start]) == 'O' && upper(s[start + 1]) == 'F')
        return 0;
    if (ordinal_suffix(s + start, n))
        return 0;
    unsigned m = month_from_name(s + start, n);
    if (n == 0 || m == 0)
        return -1;
    *t = (struct date_tok){m, 0};
    return 1;
}

static bool leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool ymd_ok(unsigned y, unsigned ydigits, unsigned m, unsigned d)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (ydigits == 2)
        y += 2000; /* only for the leap-year rule: 00 is a leap year either way */
    else if (ydigits != 4 || y < 1900 || y > 2099)
        return false;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    return m != 2 || d < 29 || leap(y);
}

static bool tokens_ok(const struct date_tok *t)
{
    bool day_digits_ok[3];
    for (size_t i = 0; i < 3; i++)
        day_digits_ok[i] = t[i].digits >= 1 && t[i].digits <= 2;
    if (t[1].digits == 0 && day_digits_ok[0]) /* 3 July 1933 */
        return ymd_ok(t[2].value, t[2].digits, t[1].value, t[0].value);
    if (t[0].digits == 0 && day_digits_ok[1]) /* July 3 1933 */
        return ymd_ok(t[2].value, t[2].digits, t[0].value, t[1].value);
    if (t[0].digits == 0 || t[1].digits == 0 || t[2].digits == 0)
        return false;
    if (t[0].digits == 4) /* 1991-07-03 */
        return day_digits_ok[1] && day_digits_ok[2] &&
               ymd_ok(t[0].value, 4, t[1].value, t[2].value);
    if (!day_digits_ok[0] || !day_digits_ok[1])
        return false;
    /* day/month/year as written in the UK; month/day/year when only that is a date */
    return ymd_ok(t[2].value, t[2].digits, t[1].value, t[0].value) ||
           ymd_ok(t[2].value, t[2].digits, t[0].value, t[1].value);
}

bool pii_check_date(const char *s, size_t len)
{
    struct date_tok t[3];
    size_t nt = 0, i = 0;
    while (i < len) {
        if (!is_digit(s[i]) && !is_alpha(s[i])) {
            if (!in_set(s[i], "/-., "))
                return false;
            i++;
            continue;
        }
        struct date_tok tok;
        int rc = date_token(s, len, &i, &tok);
        if (rc < 0 || (rc == 1 && nt == 3))
            return false;
        if (rc == 1)
            t[nt++] = tok;
    }
    return nt == 3 && tokens_ok(t);
}

/* ---- the table ------------------------------------------------------------------- */

static bool run_nino(const char *s, size_t len, size_t *keep)
{
    *keep = len;
    return pii_check_nino(s, len);
}

static bool run_postcode(const char *s, size_t len, size_t *keep)
{
    *keep = len;
    return pii_check_postcode(s, len);
}

static bool run_date(const char *s, size_t len, size_t *keep)
{
    *keep = len;
    return pii_check_date(s, len);
}

static const struct {
    const char *name;
    bool (*fn)(const char *s, size_t len, size_t *keep);
} checks[] = {
    {"luhn", pii_check_luhn},         {"nino", run_nino}, {"uk_phone", pii_check_uk_phone},
    {"postcode", run_postcode}, {"date", run_date},
};

int pii_check_find(const char *name)
{
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (strcmp(checks[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *pii_check_list(void)
{
    return "luhn, nino, uk_phone, postcode, date";
}

bool pii_check_run(int idx, const char *s, size_t len, size_t *keep)
{
    if (idx < 0 || (size_t)idx >= sizeof checks / sizeof checks[0])
        return false;
    return checks[idx].fn(s, len, keep);
}
