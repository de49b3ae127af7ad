/*
 * Required-literal extraction: see literals.h.
 *
 * A small recursive-descent reading of the pattern. A sequence offers every run of plain
 * characters that must occur, and every mandatory group whose alternatives all offer a
 * set; the best offer (longest shortest string, then fewest strings) is the sequence's
 * requirement. An alternation needs a requirement from every branch and unions them.
 * Anything not understood is treated as "matches something unknown", which only ever
 * makes the requirement weaker, never wrong; constructs that change how the rest of the
 * pattern reads (\Q, extended mode, conditionals, recursion) give up on the whole pattern.
 */
#include "literals.h"

#include <stdlib.h>
#include <string.h>

#include "textutil.h"

#define MAX_DEPTH 64
#define MAX_SET 64
#define MAX_RUN 64

struct parser {
    const char *p;
    const char *end;
    int depth;
    bool give_up;
    bool oom;
};

enum atom_kind { ATOM_CHAR, ATOM_GROUP, ATOM_OTHER };

struct atom {
    enum atom_kind kind;
    char c;
    lit_set group;
};

void lit_set_free(lit_set *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        free(ls->s[i]);
    free(ls->s);
    ls->s = NULL;
    ls->n = 0;
    ls->ok = false;
}

static size_t shortest(const lit_set *ls)
{
    size_t m = (size_t)-1;
    for (size_t i = 0; i < ls->n; i++) {
        size_t l = strlen(ls->s[i]);
        m = l < m ? l : m;
    }
    return m;
}

static bool better(const lit_set *a, const lit_set *b)
{
    if (!b->ok)
        return a->ok;
    if (!a->ok)
        return false;
    size_t sa = shortest(a), sb = shortest(b);
    return sa != sb ? sa > sb : a->n < b->n;
}

/* Keeps the better of *best and *cand in *best and frees the other. */
static void offer(lit_set *best, lit_set *cand)
{
    if (better(cand, best)) {
        lit_set_free(best);
        *best = *cand;
    } else {
        lit_set_free(cand);
    }
    *cand = (lit_set){0};
}

static void offer_run(struct parser *ps, lit_set *best, const char *run, size_t len)
{
    if (len == 0)
        return;
    lit_set one = {.s = malloc(sizeof(char *)), .n = 1, .ok = true};
    if (one.s == NULL || (one.s[0] = strndup(run, len)) == NULL) {
        free(one.s);
        ps->oom = true;
        return;
    }
    offer(best, &one);
}

/* Appends b's strings to a (both ok). Frees b. Returns false when the set grows too big
 * or memory runs out (a is then freed as well). */
static bool set_union(struct parser *ps, lit_set *a, lit_set *b)
{
    if (a->n + b->n > MAX_SET) {
        lit_set_free(a);
        lit_set_free(b);
        return false;
    }
    char **s = realloc(a->s, (a->n + b->n) * sizeof *s);
    if (s == NULL && a->n + b->n > 0) {
        ps->oom = true;
        lit_set_free(a);
        lit_set_free(b);
        return false;
    }
    a->s = s;
    memcpy(a->s + a->n, b->s, b->n * sizeof *s);
    a->n += b->n;
    free(b->s);
    *b = (lit_set){0};
    return true;
}

static lit_set parse_alt(struct parser *ps);

static bool at(struct parser *ps, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

/* Skips a character class starting at '['. */
static void skip_class(struct parser *ps)
{
    ps->p++;
    if (ps->p < ps->end && *ps->p == '^')
        ps->p++;
    if (ps->p < ps->end && *ps->p == ']')
        ps->p++;
    while (ps->p < ps->end && *ps->p != ']') {
        if (*ps->p == '\\' && ps->p + 1 < ps->end)
            ps->p++;
        else if (at(ps, "[:")) {
            const char *close = strstr(ps->p, ":]");
            if (close != NULL && close < ps->end)
                ps->p = close + 1;
        }
        ps->p++;
    }
    if (ps->p >= ps->end)
        ps->give_up = true;
    else
        ps->p++;
}

/* Skips "{...}" right after an escape letter such as \x or \p, if present. */
static void skip_braces(struct parser *ps)
{
    if (ps->p < ps->end && *ps->p == '{') {
        while (ps->p < ps->end && *ps->p != '}')
            ps->p++;
        if (ps->p < ps->end)
            ps->p++;
    }
}

static struct atom parse_escape(struct parser *ps)
{
    struct atom a = {.kind = ATOM_OTHER};
    ps->p++;
    if (ps->p >= ps->end) {
        ps->give_up = true;
        return a;
    }
    unsigned char c = (unsigned char)*ps->p++;
    if (!textutil_is_alnum(c)) {
        if (c >= 0x80)
            ps->give_up = true;
        a.kind = ATOM_CHAR;
        a.c = (char)c;
        return a;
    }
    if (c == 'Q')
        ps->give_up = true;
    else if (c == 'x' || c == 'p' || c == 'P' || c == 'N' || c == 'g' || c == 'o')
        skip_braces(ps);
    else if (c == 'k' && ps->p < ps->end && (*ps->p == '<' || *ps->p == '{'))
        ps->give_up = true;
    else if (c == 'c' && ps->p < ps->end)
        ps->p++;
    else if (c >= '0' && c <= '9')
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    if (c == 'x' && ps->p[-1] != '}')
        for (int i = 0; i < 2 && ps->p < ps->end && textutil_digit_value(*ps->p, 16) >= 0; i++)
            ps->p++;
    return a;
}

/* After "(?", decides what the group is. Returns 1 for a group whose content must match,
 * 0 for a group whose content must be read and ignored (lookaround), 2 for a zero-width
 * item already consumed (option setting, comment); gives up on anything else. */
static int group_kind(struct parser *ps)
{
    if (ps->p >= ps->end) {
        ps->give_up = true;
        return 2;
    }
    char c = *ps->p;
    if (c == ':' || c == '|' || c == '>') {
        ps->p++;
        return 1;
    }
    if (c == '=' || c == '!' || at(ps, "<=") || at(ps, "<!")) {
        ps->p += (c == '<') ? 2 : 1;
        return 0;
    }
    if (c == '#') {
        while (ps->p < ps->end && *ps->p != ')')
            ps->p++;
        return 2;
    }
    if (c == '<' || c == '\'' || at(ps, "P<")) {
        char close = c == '\'' ? '\'' : '>';
        while (ps->p < ps->end && *ps->p != close)
            ps->p++;
        ps->p++;
        return 1;
    }
    const char *q = ps->p;
    while (q < ps->end && (strchr("imnsUxJ-^", *q) != NULL) && *q != '\0') {
        if (*q == 'x')
            ps->give_up = true;
        q++;
    }
    if (q == ps->p || q >= ps->end || (*q != ')' && *q != ':')) {
        ps->give_up = true;
        return 2;
    }
    ps->p = q + (*q == ':');
    return *q == ':' ? 1 : 2;
}

static struct atom parse_group(struct parser *ps)
{
    struct atom a = {.kind = ATOM_OTHER};
    ps->p++;
    int kind = 1;
    if (ps->p < ps->end && *ps->p == '?') {
        ps->p++;
        kind = group_kind(ps);
    }
    if (kind != 2) {
        if (++ps->depth > MAX_DEPTH) {
            ps->give_up = true;
            return a;
        }
        lit_set inner = parse_alt(ps);
        ps->depth--;
        if (kind == 1) {
            a.kind = ATOM_GROUP;
            a.group = inner;
        } else {
            lit_set_free(&inner);
        }
    }
    if (ps->p >= ps->end || *ps->p != ')') {
        ps->give_up = true;
        lit_set_free(&a.group);
        a.kind = ATOM_OTHER;
        return a;
    }
    ps->p++;
    return a;
}

static struct atom parse_atom(struct parser *ps)
{
    struct atom a = {.kind = ATOM_OTHER};
    unsigned char c = (unsigned char)*ps->p;
    switch (c) {
    case '(':
        return parse_group(ps);
    case '[':
        skip_class(ps);
        return a;
    case '\\':
        return parse_escape(ps);
    case '.': case '^': case '$':
        ps->p++;
        return a;
    case '*': case '+': case '?':
        ps->give_up = true;
        return a;
    default:
        break;
    }
    ps->p++;
    if (c >= 0x80) {
        while (ps->p < ps->end && ((unsigned char)*ps->p & 0xC0) == 0x80)
            ps->p++;
        return a;
    }
    a.kind = ATOM_CHAR;
    a.c = (char)textutil_lower(c);
    return a;
}

static bool read_number(struct parser *ps, long *out)
{
    const char *start = ps->p;
    long v = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && v < 100000)
        v = v * 10 + (*ps->p++ - '0');
    *out = v;
    return ps->p > start;
}

/* Reads a quantifier if one follows. Sets *min and *max (-1: unbounded); 1,1 if none. */
static void parse_quant(struct parser *ps, long *min, long *max)
{
    *min = *max = 1;
    if (ps->p >= ps->end)
        return;
    char c = *ps->p;
    if (c == '?' || c == '*' || c == '+') {
        *min = c == '+' ? 1 : 0;
        *max = c == '?' ? 1 : -1;
        ps->p++;
    } else if (c == '{') {
        const char *save = ps->p++;
        long lo, hi = -1;
        if (!read_number(ps, &lo)) {
            ps->p = save;
            if (at(ps, "{,"))
                ps->give_up = true;
            return;
        }
        hi = lo;
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            if (!read_number(ps, &hi))
                hi = -1;
        }
        if (ps->p >= ps->end || *ps->p != '}') {
            ps->p = save;
            return;
        }
        ps->p++;
        *min = lo;
        *max = hi;
    } else {
        return;
    }
    if (ps->p < ps->end && (*ps->p == '?' || *ps->p == '+'))
        ps->p++;
}

static lit_set parse_seq(struct parser *ps)
{
    lit_set best = {0};
    char run[MAX_RUN];
    size_t rlen = 0;
    while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')' && !ps->give_up) {
        struct atom a = parse_atom(ps);
        long min, max;
        parse_quant(ps, &min, &max);
        if (a.kind == ATOM_CHAR && min >= 1 && rlen < MAX_RUN)
            run[rlen++] = a.c;
        if (a.kind != ATOM_CHAR || min != 1 || max != 1 || rlen == MAX_RUN) {
            offer_run(ps, &best, run, rlen);
            rlen = 0;
        }
        if (a.kind == ATOM_GROUP && min >= 1)
            offer(&best, &a.group);
        else
            lit_set_free(&a.group);
    }
    offer_run(ps, &best, run, rlen);
    return best;
}

static lit_set parse_alt(struct parser *ps)
{
    lit_set all = parse_seq(ps);
    bool ok = all.ok;
    while (ps->p < ps->end && *ps->p == '|' && !ps->give_up) {
        ps->p++;
        lit_set next = parse_seq(ps);
        if (!ok || !next.ok) {
            lit_set_free(&next);
            ok = false;
            continue;
        }
        ok = set_union(ps, &all, &next);
    }
    if (!ok)
        lit_set_free(&all);
    return all;
}

int literals_required(const char *pattern, size_t len, lit_set *out)
{
    struct parser ps = {.p = pattern, .end = pattern + len};
    *out = parse_alt(&ps);
    if (ps.p != ps.end || ps.give_up || ps.oom)
        lit_set_free(out);
    return ps.oom ? -1 : 0;
}
