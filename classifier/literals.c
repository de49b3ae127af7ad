/*
 * Required-literal extraction: see literals.h.
 *
 * A small recursive-descent reading of the pattern. A sequence requires every run of plain
 * characters that must occur, and everything a mandatory group requires; the best few
 * (longest shortest string, then fewest strings) are kept. An alternation needs a
 * requirement from every branch and unions each branch's best one into a single group.
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
#define MIN_EXTRA_GROUP 3
#define MIN_ANCHOR 2 /* shortest starting string worth anchoring at (but digits) */

struct parser {
    const char *p;
    const char *end;
    bool entry_b; /* a \b comes right before the sequence about to be read */
    int depth;
    bool give_up;
    bool oom;
};

enum atom_kind { ATOM_CHAR, ATOM_GROUP, ATOM_ZERO, ATOM_DIGIT, ATOM_OTHER };

/* What a pattern (or part of one) is known to need: `req`, strings it must contain, and
 * `pre`, strings one of which every match starts with. */
struct result {
    lit_req req;
    lit_set pre;
};

struct atom {
    enum atom_kind kind; /* ATOM_ZERO: matches no characters (\b, ^, lookaround) */
    char c;
    bool word_boundary; /* ATOM_ZERO that is \b */
    lit_req group;
    lit_set pre; /* ATOM_GROUP: the group's prefixes */
};

static bool split_unsafe(const char *p, size_t len);

/* Frees a vector of n owned strings. */
static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void lit_set_free(lit_set *ls)
{
    free_strings(ls->s, ls->n);
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

void lit_req_free(lit_req *lr)
{
    for (size_t i = 0; i < lr->n; i++)
        lit_set_free(&lr->g[i]);
    lr->n = 0;
}

/* Adds *cand to the requirement, keeping the best LITERALS_MAX_GROUPS in order; takes
 * ownership of cand's strings. */
static void offer(lit_req *req, lit_set *cand)
{
    if (!cand->ok) {
        lit_set_free(cand);
        return;
    }
    if (req->n == LITERALS_MAX_GROUPS) {
        if (!better(cand, &req->g[req->n - 1])) {
            lit_set_free(cand);
            return;
        }
        lit_set_free(&req->g[--req->n]);
    }
    size_t i = req->n++;
    while (i > 0 && better(cand, &req->g[i - 1])) {
        req->g[i] = req->g[i - 1];
        i--;
    }
    req->g[i] = *cand;
    *cand = (lit_set){0};
}

/* Adds every group of *from to req and frees from. */
static void offer_all(lit_req *req, lit_req *from)
{
    for (size_t i = 0; i < from->n; i++)
        offer(req, &from->g[i]);
    from->n = 0;
}

static void offer_run(struct parser *ps, lit_req *req, const char *run, size_t len,
                      bool word_start)
{
    if (len == 0)
        return;
    lit_set one = {.s = malloc(sizeof(char *)), .n = 1, .ok = true, .word_start = word_start};
    if (one.s == NULL || (one.s[0] = strndup(run, len)) == NULL) {
        free(one.s);
        ps->oom = true;
        return;
    }
    offer(req, &one);
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
    a->word_start = a->word_start && b->word_start;
    free(b->s);
    *b = (lit_set){0};
    return true;
}

static struct result parse_alt(struct parser *ps);

static bool at(struct parser *ps, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

/* At "[:" inside a class: a POSIX class "[:name:]" ends at its ":]" when no ']' comes
 * first. Returns the position of the ']' of ":]", or p itself when it is not one. */
static const char *posix_class_end(const char *p, const char *end)
{
    for (const char *q = p + 2; q + 1 < end && *q != ']'; q++)
        if (q[0] == ':' && q[1] == ']')
            return q + 1;
    return p;
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
        else if (at(ps, "[:"))
            ps->p = posix_class_end(ps->p, ps->end);
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
    if (c == 'b' || c == 'B' || c == 'A' || c == 'z' || c == 'Z')
        a.kind = ATOM_ZERO;
    a.word_boundary = c == 'b';
    if (c == 'd')
        a.kind = ATOM_DIGIT;
    if (c == 'Q')
        ps->give_up = true;
    else if ((c == 'p' || c == 'P') && ps->p < ps->end && *ps->p != '{')
        ps->p++; /* \pL: a one-letter property */
    else if (c == 'x' || c == 'p' || c == 'P' || c == 'N' || c == 'o')
        skip_braces(ps);
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
        ps->p += c == 'P' ? 2 : 1; /* past the opening delimiter */
        while (ps->p < ps->end && *ps->p != close)
            ps->p++;
        if (ps->p >= ps->end) {
            ps->give_up = true;
            return 2;
        }
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
    struct atom a = {.kind = ATOM_ZERO};
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
        struct result inner = parse_alt(ps);
        ps->depth--;
        if (kind == 1) {
            a.kind = ATOM_GROUP;
            a.group = inner.req;
            a.pre = inner.pre;
        } else {
            lit_req_free(&inner.req);
            lit_set_free(&inner.pre);
        }
    }
    if (ps->p >= ps->end || *ps->p != ')') {
        ps->give_up = true;
        lit_req_free(&a.group);
        lit_set_free(&a.pre);
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
    case '^': case '$':
        ps->p++;
        a.kind = ATOM_ZERO;
        return a;
    case '.':
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

static lit_set one_string(struct parser *ps, const char *run, size_t len, bool word_start)
{
    lit_set one = {.s = malloc(sizeof(char *)), .n = 1, .ok = true, .word_start = word_start};
    if (one.s == NULL || (one.s[0] = strndup(run, len)) == NULL) {
        free(one.s);
        ps->oom = true;
        return (lit_set){0};
    }
    return one;
}

/* Prepends run to every string of *set (in place). */
static void prepend_run(struct parser *ps, lit_set *set, const char *run, size_t len)
{
    for (size_t i = 0; i < set->n && len > 0; i++) {
        size_t sl = strlen(set->s[i]);
        char *joined = malloc(len + sl + 1);
        if (joined == NULL) {
            ps->oom = true;
            lit_set_free(set);
            return;
        }
        memcpy(joined, run, len);
        memcpy(joined + len, set->s[i], sl + 1);
        free(set->s[i]);
        set->s[i] = joined;
    }
}

/* The ten strings run + "0" ... run + "9". */
static lit_set digit_strings(struct parser *ps, const char *run, size_t len, bool word_start)
{
    lit_set set = {.s = calloc(10, sizeof(char *)), .ok = true, .word_start = word_start};
    if (set.s == NULL) {
        ps->oom = true;
        return (lit_set){0};
    }
    for (char d = '0'; d <= '9'; d++) {
        char *s = malloc(len + 2);
        if (s == NULL) {
            ps->oom = true;
            lit_set_free(&set);
            return set;
        }
        memcpy(s, run, len);
        s[len] = d;
        s[len + 1] = '\0';
        set.s[set.n++] = s;
    }
    return set;
}

/* Tracks the prefix of a sequence while its atoms are read. */
struct prefix_state {
    bool done;
    bool word_start; /* a \b came before the first character */
    char run[MAX_RUN];
    size_t rlen;
    lit_set pre;
};

/* Ends the prefix with what was collected (the run, if any). */
static void prefix_finish(struct parser *ps, struct prefix_state *st)
{
    if (!st->done && st->rlen > 0)
        st->pre = one_string(ps, st->run, st->rlen, st->word_start);
    st->done = true;
}

static void prefix_step(struct parser *ps, struct prefix_state *st, struct atom *a, long min,
                        long max)
{
    if (st->done)
        return;
    if (a->kind == ATOM_ZERO && st->rlen == 0) {
        st->word_start = st->word_start || a->word_boundary;
        return; /* \b, ^ or a lookaround before the first character */
    }
    if (a->kind == ATOM_CHAR && min >= 1 && st->rlen < MAX_RUN) {
        st->run[st->rlen++] = a->c;
        if (min != 1 || max != 1)
            prefix_finish(ps, st);
        return;
    }
    if (a->kind == ATOM_DIGIT && min >= 1) {
        st->pre = digit_strings(ps, st->run, st->rlen, st->word_start);
        st->done = true;
        return;
    }
    if (a->kind == ATOM_GROUP && min >= 1 && a->pre.ok) {
        prepend_run(ps, &a->pre, st->run, st->rlen);
        a->pre.word_start = st->rlen > 0 ? st->word_start : st->word_start || a->pre.word_start;
        st->pre = a->pre;
        a->pre = (lit_set){0};
        st->done = true;
        return;
    }
    prefix_finish(ps, st);
}

static struct result parse_seq(struct parser *ps)
{
    lit_req req = {0};
    bool after_b = ps->entry_b, run_after_b = false;
    struct prefix_state st = {.word_start = after_b};
    char run[MAX_RUN];
    size_t rlen = 0;
    while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')' && !ps->give_up) {
        ps->entry_b = after_b;
        struct atom a = parse_atom(ps);
        long min, max;
        parse_quant(ps, &min, &max);
        prefix_step(ps, &st, &a, min, max);
        if (a.kind == ATOM_CHAR && min >= 1 && rlen < MAX_RUN) {
            if (rlen == 0)
                run_after_b = after_b;
            run[rlen++] = a.c;
        }
        if (a.kind != ATOM_CHAR || min != 1 || max != 1 || rlen == MAX_RUN) {
            offer_run(ps, &req, run, rlen, run_after_b);
            rlen = 0;
        }
        after_b = a.kind == ATOM_ZERO ? after_b || a.word_boundary : false;
        if (a.kind == ATOM_GROUP && min >= 1)
            offer_all(&req, &a.group);
        else
            lit_req_free(&a.group);
        lit_set_free(&a.pre);
    }
    offer_run(ps, &req, run, rlen, run_after_b);
    prefix_finish(ps, &st);
    return (struct result){.req = req, .pre = st.pre};
}

/* Keeps only the best group of a branch, as a single-group requirement. */
static lit_set best_group(lit_req *r)
{
    lit_set best = r->n ? r->g[0] : (lit_set){0};
    for (size_t i = 1; i < r->n; i++)
        lit_set_free(&r->g[i]);
    r->n = 0;
    return best;
}

/* Unions b into a when both are known; otherwise leaves a unknown. Frees b. */
static void union_or_drop(struct parser *ps, lit_set *a, lit_set *b)
{
    if (!a->ok || !b->ok) {
        lit_set_free(a);
        lit_set_free(b);
        return;
    }
    if (!set_union(ps, a, b))
        lit_set_free(a);
}

static struct result parse_alt(struct parser *ps)
{
    bool entry = ps->entry_b;
    struct result first = parse_seq(ps);
    if (ps->p >= ps->end || *ps->p != '|' || ps->give_up)
        return first;
    lit_set all = best_group(&first.req);
    lit_set pre = first.pre;
    while (ps->p < ps->end && *ps->p == '|' && !ps->give_up) {
        ps->p++;
        ps->entry_b = entry;
        struct result next = parse_seq(ps);
        lit_set nb = best_group(&next.req);
        union_or_drop(ps, &all, &nb);
        union_or_drop(ps, &pre, &next.pre);
    }
    struct result out = {.pre = pre};
    offer(&out.req, &all);
    return out;
}

/* True when a group is worth checking besides the best one: its strings are long, or
 * are made of characters rare in prose (a '?', an '@', a digit). */
static bool selective(const lit_set *ls)
{
    if (shortest(ls) >= MIN_EXTRA_GROUP)
        return true;
    for (size_t i = 0; i < ls->n; i++)
        for (const char *c = ls->s[i]; *c; c++)
            if (textutil_is_alnum((unsigned char)*c) && !(*c >= '0' && *c <= '9'))
                return false;
            else if (strchr(" '.,-", *c) != NULL)
                return false;
    return true;
}

int literals_required(const char *pattern, size_t len, lit_req *out, lit_set *prefix)
{
    struct parser ps = {.p = pattern, .end = pattern + len};
    if (split_unsafe(pattern, len)) {
        *out = (lit_req){0};
        *prefix = (lit_set){0};
        return 0;
    }
    struct result r = parse_alt(&ps);
    *out = r.req;
    *prefix = r.pre;
    if (ps.p != ps.end || ps.give_up || ps.oom) {
        lit_req_free(out);
        lit_set_free(prefix);
    }
    /* Extra groups of very short strings filter little and fire often: keep the best
     * group whatever it is, and the others only when they are selective. */
    size_t kept = 1;
    for (size_t k = 1; k < out->n; k++) {
        if (selective(&out->g[k]))
            out->g[kept++] = out->g[k];
        else
            lit_set_free(&out->g[k]);
    }
    out->n = out->n ? kept : 0;
    return ps.oom ? -1 : 0;
}

/* Constructs the analysis does not follow, or whose meaning depends on the rest of the
 * pattern: with any of them the pattern is neither prefiltered nor split, and simply runs
 * on every message. Rule files seldom need them. */
static bool unsafe_group(const char *p, size_t len)
{
    static const char *const bad[] = {"(?i", "(?-", "(?s", "(?m", "(?x", "(?^", "(?J", "(?U",
                                      "(?n", "(?(", "(?R", "(?&", "(?P>", "(?|", "(?#",
                                      "(?+", "(*"};
    if (len >= 3 && p[1] == '?' && p[2] >= '0' && p[2] <= '9')
        return true; /* a numbered recursion */
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        size_t bl = strlen(bad[k]);
        if (bl <= len && memcmp(p, bad[k], bl) == 0)
            return true;
    }
    return false;
}

/* Escapes the analysis does not follow: back-references, \G, \Q...\E. */
static bool unsafe_escape(char c)
{
    return (c >= '1' && c <= '9') || c == 'g' || c == 'k' || c == 'G' || c == 'Q' || c == 'E';
}

static void pass_class(const char *p, size_t len, size_t *i);

static bool split_unsafe(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\\') {
            if (i + 1 < len && unsafe_escape(p[i + 1]))
                return true;
            i++;
        } else if (p[i] == '[') {
            size_t j = i;
            pass_class(p, len, &j);
            for (size_t k = i; k < j && k < len; k++) /* \Q or \E inside a class */
                if (p[k] == '\\' && k + 1 < len && (p[k + 1] == 'Q' || p[k + 1] == 'E'))
                    return true;
            i = j;
        } else if (p[i] == '(' && unsafe_group(p + i, len - i)) {
            return true;
        }
    }
    return false;
}

/* Moves *i past a character class that starts at p[*i] == '['. */
static void pass_class(const char *p, size_t len, size_t *i)
{
    size_t j = *i + 1;
    if (j < len && p[j] == '^')
        j++;
    if (j < len && p[j] == ']')
        j++;
    while (j < len && p[j] != ']') {
        if (p[j] == '\\')
            j++;
        else if (p[j] == '[' && j + 1 < len && p[j + 1] == ':')
            j = (size_t)(posix_class_end(p + j, p + len) - p);
        j++;
    }
    *i = j;
}

/* Returns the index of the next '(', ')' or '|' at or after i that is neither escaped
 * nor inside a character class, or len when there is none. */
static size_t next_structural(const char *p, size_t len, size_t i)
{
    for (; i < len; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '[')
            pass_class(p, len, &i);
        else if (p[i] == '(' || p[i] == ')' || p[i] == '|')
            return i;
    }
    return len;
}

/* Finds the ')' that closes the '(' at p[open]. Returns its index, or len. */
static size_t group_end(const char *p, size_t len, size_t open)
{
    int depth = 0;
    for (size_t i = next_structural(p, len, open); i < len;
         i = next_structural(p, len, i + 1)) {
        if (p[i] == '(')
            depth++;
        else if (p[i] == ')' && --depth == 0)
            return i;
    }
    return len;
}

/* Splits p[0..len) at the '|' that are outside any group: stores (offset, length) pairs.
 * Returns their number, or 0 when there are more than `max` or the groups do not close. */
static size_t split_bars(const char *p, size_t len, size_t *off, size_t *blen, size_t max)
{
    size_t n = 0, start = 0;
    int depth = 0;
    for (size_t i = next_structural(p, len, 0); i < len; i = next_structural(p, len, i + 1)) {
        if (p[i] != '|')
            depth += p[i] == '(' ? 1 : -1;
        else if (depth == 0) {
            if (n + 1 >= max)
                return 0;
            off[n] = start;
            blen[n++] = i - start;
            start = i + 1;
        }
    }
    if (depth != 0)
        return 0;
    off[n] = start;
    blen[n++] = len - start;
    return n;
}

static int push(branch_list *bl, char *s)
{
    if (s == NULL)
        return -1;
    char **v = realloc(bl->s, (bl->n + 1) * sizeof *v);
    if (v == NULL) {
        free(s);
        return -1;
    }
    bl->s = v;
    bl->s[bl->n++] = s;
    return 0;
}

/* prefix + "(?:" + alt + ")" + suffix, as a new string. */
static char *join3(const char *pre, size_t lp, const char *alt, size_t la, const char *suf,
                   size_t ls)
{
    char *s = malloc(lp + la + ls + 5);
    if (s == NULL)
        return NULL;
    memcpy(s, pre, lp);
    memcpy(s + lp, "(?:", 3);
    memcpy(s + lp + 3, alt, la);
    s[lp + 3 + la] = ')';
    memcpy(s + lp + 4 + la, suf, ls);
    s[lp + la + ls + 4] = '\0';
    return s;
}

/* The first group of the branch that can be multiplied out: a plain or (?: group, not
 * quantified, with '|' inside. Returns its '(' index, or len when there is none. */
static size_t distributable_group(const char *p, size_t len, size_t *close)
{
    for (size_t i = next_structural(p, len, 0); i < len; i = next_structural(p, len, i + 1)) {
        if (p[i] != '(')
            continue;
        size_t end = group_end(p, len, i);
        if (end >= len)
            return len;
        bool plain = i + 1 < len && (p[i + 1] != '?' || (i + 2 < len && p[i + 2] == ':'));
        bool quantified = end + 1 < len && strchr("?*+{", p[end + 1]) != NULL;
        size_t inner = i + (p[i + 1] == '?' ? 3 : 1);
        size_t o[2], l[2];
        if (plain && !quantified && split_bars(p + inner, end - inner, o, l, 2) != 1) {
            *close = end;
            return i;
        }
        i = end;
    }
    return len;
}

bool literals_prefix_usable(const lit_set *pre)
{
    if (!pre->ok || pre->n == 0)
        return false;
    for (size_t i = 0; i < pre->n; i++) {
        size_t n = strlen(pre->s[i]);
        if (n < MIN_ANCHOR && !(n == 1 && pre->s[i][0] >= '0' && pre->s[i][0] <= '9'))
            return false;
    }
    return true;
}

/* True when the branch already has starting strings to anchor at. Returns -1 when memory
 * runs out. */
static int anchorable(const char *p, size_t len)
{
    lit_req req;
    lit_set pre;
    if (literals_required(p, len, &req, &pre) != 0)
        return -1;
    bool ok = literals_prefix_usable(&pre);
    lit_req_free(&req);
    lit_set_free(&pre);
    return ok;
}

/* Adds one branch to the list. A branch with no starting strings to anchor at is
 * multiplied out over its first alternation group, when it has one: P(?:A|B)S matches
 * exactly where P(?:A)S or P(?:B)S does, and each of those may have them. */
static int add_distributed(branch_list *bl, const char *p, size_t len)
{
    size_t close = 0;
    int can_anchor = anchorable(p, len);
    if (can_anchor < 0)
        return -1;
    size_t open = can_anchor ? len : distributable_group(p, len, &close);
    if (open == len)
        return push(bl, strndup(p, len));
    size_t inner = open + (p[open + 1] == '?' ? 3 : 1);
    size_t off[LITERALS_MAX_BRANCHES], blen[LITERALS_MAX_BRANCHES];
    size_t n = split_bars(p + inner, close - inner, off, blen, LITERALS_MAX_BRANCHES);
    if (n == 0 || bl->n + n > LITERALS_MAX_BRANCHES)
        return push(bl, strndup(p, len));
    for (size_t k = 0; k < n; k++)
        if (push(bl, join3(p, open, p + inner + off[k], blen[k], p + close + 1,
                           len - close - 1)) != 0)
            return -1;
    return 0;
}

void branch_list_free(branch_list *bl)
{
    free_strings(bl->s, bl->n);
    bl->s = NULL;
    bl->n = 0;
}

int literals_split(const char *p, size_t len, branch_list *out)
{
    *out = (branch_list){0};
    size_t off[LITERALS_MAX_BRANCHES], blen[LITERALS_MAX_BRANCHES];
    size_t n = split_unsafe(p, len) ? 0 : split_bars(p, len, off, blen, LITERALS_MAX_BRANCHES);
    if (n == 0)
        return push(out, strndup(p, len));
    for (size_t k = 0; k < n; k++) {
        if (add_distributed(out, p + off[k], blen[k]) != 0) {
            branch_list_free(out);
            return -1;
        }
    }
    if (out->n > LITERALS_MAX_BRANCHES) { /* too many: keep the pattern whole */
        branch_list_free(out);
        return push(out, strndup(p, len));
    }
    return 0;
}
