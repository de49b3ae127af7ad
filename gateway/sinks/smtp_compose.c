/* The pure half of the smtp sink: templates, words, checks and the message text. See
 * smtp_compose.h. */
#include "smtp_compose.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "intake/calendar.h"
#include "intake/normalise.h"

#define SUBJECT_MAX 900 /* bytes of a subject kept (a header line holds at most 998) */

/* ---- templates ---- */

/* Finds the next "{{ name }}" at or after s. Returns 1 with [*open, *end) the whole
 * reference and [*name, *name + *n) the trimmed name; 0 when there is none; -1 for "{{"
 * without "}}". */
static int next_ref(const char *s, const char **open, const char **end, const char **name,
                    size_t *n)
{
    const char *a = strstr(s, "{{");
    if (!a)
        return 0;
    const char *b = strstr(a + 2, "}}");
    if (!b)
        return -1;
    const char *p = a + 2, *q = b;
    while (p < q && (*p == ' ' || *p == '\t'))
        p++;
    while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    *open = a;
    *end = b + 2;
    *name = p;
    *n = (size_t)(q - p);
    return 1;
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(name, want, n) == 0;
}

int smtp_template_check(const char *tmpl, const char *const *names, char *err, size_t errlen)
{
    const char *open, *end, *name;
    size_t n;
    int found;
    for (const char *s = tmpl; (found = next_ref(s, &open, &end, &name, &n)) == 1; s = end) {
        bool known = false;
        for (size_t i = 0; names[i] && !known; i++)
            known = name_is(name, n, names[i]);
        if (!known) {
            snprintf(err, errlen, "unknown placeholder {{%.*s}}", (int)(n < 60 ? n : 60),
                     name);
            return -1;
        }
    }
    if (found < 0)
        snprintf(err, errlen, "\"{{\" without \"}}\"");
    return found < 0 ? -1 : 0;
}

char *smtp_template_load(const char *path, const char *const *names, char *err,
                         size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text = f ? malloc(SMTP_TEMPLATE_MAX + 1) : NULL;
    size_t n = text ? fread(text, 1, SMTP_TEMPLATE_MAX + 1, f) : 0;
    const char *why = !f ? strerror(errno) : !text ? "out of memory"
                      : ferror(f) ? "read error"
                      : n > SMTP_TEMPLATE_MAX ? "larger than 64 KiB"
                      : memchr(text, '\0', n) ? "holds a NUL byte" : NULL;
    if (f)
        fclose(f);
    if (why) {
        snprintf(err, errlen, "%.200s: %s", path, why);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    char reason[160];
    if (smtp_template_check(text, names, reason, sizeof reason) < 0) {
        snprintf(err, errlen, "%.200s: %s", path, reason);
        free(text);
        return NULL;
    }
    return text;
}

static const char *var_value(const struct smtp_var *vars, size_t nvars, const char *name,
                             size_t n)
{
    for (size_t i = 0; i < nvars; i++)
        if (name_is(name, n, vars[i].name))
            return vars[i].value ? vars[i].value : "";
    return "";
}

char *smtp_render(const char *tmpl, const struct smtp_var *vars, size_t nvars)
{
    intake_buf out = {0};
    const char *open, *end, *name, *s = tmpl;
    size_t n;
    int rc = 0;
    while (rc == 0 && next_ref(s, &open, &end, &name, &n) == 1) {
        const char *v = var_value(vars, nvars, name, n);
        rc = intake_buf_append(&out, s, (size_t)(open - s));
        if (rc == 0)
            rc = intake_buf_append(&out, v, strlen(v));
        s = end;
    }
    if (rc == 0)
        rc = intake_buf_append(&out, s, strlen(s));
    if (rc < 0) {
        intake_buf_free(&out);
        return NULL;
    }
    return out.data;
}

/* ---- words ---- */

int smtp_date_words(const char *ymd, char *out, size_t outlen)
{
    static const char *const days[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                       "Friday", "Saturday", "Sunday"};
    static const char *const months[] = {"January", "February", "March", "April",
                                         "May", "June", "July", "August", "September",
                                         "October", "November", "December"};
    intake_day d;
    int y, m, md;
    out[0] = '\0';
    if (!ymd || intake_day_parse(ymd, &d) < 0)
        return -1;
    intake_day_to_civil(d, &y, &m, &md);
    snprintf(out, outlen, "%s %d %s %d", days[intake_day_weekday(d)], md, months[m - 1], y);
    return 0;
}

const char *smtp_category_words(const char *category, bool stage2)
{
    static const struct {
        const char *name, *words;
    } t[] = {
        {"complaint", "a complaint"},
        {"mp_enquiry", "an enquiry from an MP or councillor"},
        {"service_request", "a request for a service"},
        {"compliment", "a compliment"},
        {"comment", "a comment or suggestion"},
    };
    if (stage2)
        return "a request to take your complaint to stage 2";
    for (size_t i = 0; category && i < sizeof t / sizeof t[0]; i++)
        if (strcmp(category, t[i].name) == 0)
            return t[i].words;
    return "a message";
}

/* ---- checks ---- */

bool smtp_address_ok(const char *addr)
{
    if (!addr)
        return false;
    size_t n = strlen(addr);
    const char *at = strchr(addr, '@');
    if (n == 0 || n > 254 || !at || at == addr || at[1] == '\0' || strchr(at + 1, '@'))
        return false;
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr("<>\"(),;:\\[]", *p))
            return false;
    return true;
}

bool smtp_msgid_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 5 || n > 250 || id[0] != '<' || id[n - 1] != '>')
        return false;
    bool at = false;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= ' ' || c >= 0x7f || c == '<' || c == '>')
            return false;
        at = at || c == '@';
    }
    return at;
}

/* ---- the message ---- */

static bool is_plain_ascii(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < ' ' || *p >= 0x7f)
            return false;
    return true;
}

/* The length of the longest prefix of s (at most max bytes) that ends on a UTF-8
 * character boundary; at least 1 byte when s is not empty. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n ? n : max;
}

static int append_str(intake_buf *b, const char *s)
{
    return intake_buf_append(b, s, strlen(s));
}

/* Appends text as RFC 2047 "B" encoded words, folded with CRLF SP between them: the
 * first word fits in `first` characters (what is left of its line), later ones in 75. */
static int append_encoded_words(intake_buf *b, const char *s, size_t len, size_t first)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int rc = 0;
    for (bool start = true; rc == 0 && len > 0; start = false) {
        size_t room = start ? (first > 24 ? first : 24) : 75;
        size_t n = utf8_cut(s, len, (room - 12) / 4 * 3); /* 12: "=?UTF-8?B?" "?=" */
        char word[96];
        size_t w = (size_t)snprintf(word, sizeof word, "%s=?UTF-8?B?", start ? "" : "\r\n ");
        for (size_t i = 0; i < n; i += 3) {
            unsigned v = (unsigned char)s[i] << 16;
            if (i + 1 < n)
                v |= (unsigned char)s[i + 1] << 8;
            if (i + 2 < n)
                v |= (unsigned char)s[i + 2];
            word[w++] = b64[(v >> 18) & 63];
            word[w++] = b64[(v >> 12) & 63];
            word[w++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
            word[w++] = i + 2 < n ? b64[v & 63] : '=';
        }
        memcpy(word + w, "?=", 2);
        rc = intake_buf_append(b, word, w + 2);
        s += n;
        len -= n;
    }
    return rc;
}

/* A one-line copy of a UTF-8 value: control characters (line breaks included) become
 * spaces, at most max bytes (cut at a character boundary). NULL when out of memory. */
static char *one_line(const char *s, size_t max)
{
    size_t n = utf8_cut(s, strlen(s), max);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)s[i] < ' ' || s[i] == 0x7f ? ' ' : s[i];
    out[n] = '\0';
    return out;
}

/* "Name: value\r\n" for unstructured text (Subject): as is when plain ASCII, else encoded
 * words. */
static int header_text(intake_buf *b, const char *name, const char *value)
{
    char *v = one_line(value, SUBJECT_MAX);
    if (!v)
        return -1;
    int rc = append_str(b, name);
    if (rc == 0)
        rc = append_str(b, ": ");
    if (rc == 0)
        rc = is_plain_ascii(v) ? append_str(b, v)
                               : append_encoded_words(b, v, strlen(v), 76 - strlen(name) - 2);
    if (rc == 0)
        rc = append_str(b, "\r\n");
    free(v);
    return rc;
}

/* "Name: value\r\n" for a value already known to be safe (addresses, ids). */
static int header_raw(intake_buf *b, const char *name, const char *value)
{
    int rc = append_str(b, name);
    if (rc == 0)
        rc = append_str(b, ": ");
    if (rc == 0)
        rc = append_str(b, value);
    return rc ? rc : append_str(b, "\r\n");
}

/* From: "Display Name" <address>, the name quoted (ASCII) or encoded (UTF-8). */
static int header_from(intake_buf *b, const char *name, const char *addr)
{
    char *v = name && *name ? one_line(name, 200) : NULL;
    int rc = append_str(b, "From: ");
    if (rc == 0 && v && is_plain_ascii(v)) {
        rc = append_str(b, "\"");
        for (const char *p = v; rc == 0 && *p; p++) {
            if (*p == '"' || *p == '\\')
                rc = append_str(b, "\\");
            if (rc == 0)
                rc = intake_buf_append(b, p, 1);
        }
        if (rc == 0)
            rc = append_str(b, "\"");
    } else if (rc == 0 && v) {
        rc = append_encoded_words(b, v, strlen(v), 76 - strlen("From: "));
    }
    if (rc == 0 && v) /* the address on its own folded line keeps lines short */
        rc = append_str(b, "\r\n ");
    if (rc == 0)
        rc = intake_buf_append(b, "<", 1);
    if (rc == 0)
        rc = append_str(b, addr);
    if (rc == 0)
        rc = append_str(b, ">\r\n");
    free(v);
    return rc;
}

static int header_references(intake_buf *b, const struct smtp_mail *m)
{
    size_t first = m->nreferences > SMTP_REFERENCES_MAX ? m->nreferences - SMTP_REFERENCES_MAX
                                                        : 0;
    int rc = append_str(b, "References:");
    for (size_t i = first; rc == 0 && i < m->nreferences; i++) {
        rc = append_str(b, i == first ? " " : "\r\n ");
        if (rc == 0)
            rc = append_str(b, m->references[i]);
    }
    return rc ? rc : append_str(b, "\r\n");
}

/* RFC 5322 date in UTC: "Fri, 09 Jan 2026 10:00:00 +0000". */
static void mail_date(double t, char out[40])
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday % 7],
             tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

static int headers(intake_buf *b, const struct smtp_mail *m)
{
    char date[40];
    mail_date(m->date, date);
    int rc = header_raw(b, "Date", date);
    if (rc == 0)
        rc = header_from(b, m->from_name, m->from);
    if (rc == 0)
        rc = header_raw(b, "To", m->to);
    if (rc == 0 && m->reply_to)
        rc = header_raw(b, "Reply-To", m->reply_to);
    if (rc == 0)
        rc = header_text(b, "Subject", m->subject ? m->subject : "");
    if (rc == 0 && m->message_id)
        rc = header_raw(b, "Message-ID", m->message_id);
    if (rc == 0 && m->in_reply_to)
        rc = header_raw(b, "In-Reply-To", m->in_reply_to);
    if (rc == 0 && m->nreferences)
        rc = header_references(b, m);
    if (rc == 0 && m->auto_submitted)
        rc = header_raw(b, "Auto-Submitted", m->auto_submitted);
    if (rc == 0 && m->auto_submitted) /* asks Exchange not to answer with its own */
        rc = header_raw(b, "X-Auto-Response-Suppress", "All");
    if (rc == 0)
        rc = append_str(b, "MIME-Version: 1.0\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    return rc;
}

/* Appends one body line (without its line end) quoted-printable, soft-broken so that no
 * encoded line is longer than 76 characters, then CRLF. */
static int qp_line(intake_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool last = i + 1 == n;
        bool literal = (c > ' ' && c < 0x7f && c != '=' && !(c == '.' && col == 0)) ||
                       ((c == ' ' || c == '\t') && !last);
        char tok[3] = {(char)c, 0, 0};
        size_t len = 1;
        if (!literal) {
            tok[0] = '=';
            tok[1] = hex[c >> 4];
            tok[2] = hex[c & 15];
            len = 3;
        }
        if (col + len > 75) {
            rc = append_str(b, "=\r\n");
            col = 0;
            if (rc == 0 && c == '.') { /* a '.' now starting a line is encoded too */
                tok[0] = '=', tok[1] = '2', tok[2] = 'E', len = 3;
            }
        }
        if (rc == 0)
            rc = intake_buf_append(b, tok, len);
        col += len;
    }
    return rc ? rc : append_str(b, "\r\n");
}

static int qp_body(intake_buf *b, const char *body)
{
    int rc = 0;
    const char *s = body;
    while (rc == 0 && *s) {
        size_t n = strcspn(s, "\n");
        size_t k = n && s[n - 1] == '\r' ? n - 1 : n;
        rc = qp_line(b, s, k);
        s += n + (s[n] == '\n');
    }
    return rc;
}

char *smtp_mail_build(const struct smtp_mail *m)
{
    intake_buf b = {0};
    int rc = headers(&b, m);
    if (rc == 0)
        rc = qp_body(&b, m->body ? m->body : "");
    if (rc != 0) {
        intake_buf_free(&b);
        return NULL;
    }
    return b.data;
}

void smtp_mask_addresses(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    while (*in && o + 1 < outlen) {
        size_t n = strcspn(in, " \t\r\n");
        bool mailbox = memchr(in, '@', n) != NULL || (n > 1 && in[0] == '<');
        const char *src = mailbox ? "[address]" : in;
        size_t len = mailbox ? strlen(src) : n;
        if (len > outlen - 1 - o)
            len = outlen - 1 - o;
        memcpy(out + o, src, len);
        o += len;
        in += n;
        if (*in && o + 1 < outlen)
            out[o++] = (*in == '\r' || *in == '\n') ? ' ' : *in;
        if (*in)
            in++;
    }
    out[o] = '\0';
}
