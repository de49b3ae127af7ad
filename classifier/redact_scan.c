/*
 * Finding personal data: one cheap pass works out what the text could hold (how many
 * digits, the longest run of them, whether a letter comes right before one); a detector
 * runs its patterns only when its needs are met (those features first, then its 'needs
 * any' words, each line's looked up at most once per text, in one pass); validators check each candidate; the
 * names detector adds its spans; overlaps resolve to the longest span. All per-call state
 * lives in the context, one per thread.
 */
#include <stdlib.h>
#include <string.h>

#include "redact_check.h"
#include "redact_rules.h"

#define MATCH_LIMIT 200000 /* backtracking steps per match before giving up */
#define DEPTH_LIMIT 2000
#define HEAP_LIMIT_KIB 4096
#define JIT_STACK_MIN (32 * 1024)
#define JIT_STACK_MAX (512 * 1024)
#define SMALL_SORT 32 /* at most this many spans are sorted by insertion */

struct order {
    uint32_t len, idx;
};

struct intake_redact_ctx {
    const intake_redactor *r;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    uint8_t *seen;             /* per 'needs any' group: GROUP_UNKNOWN, _SEEN, _ABSENT */
    struct pii_spanlist cand;  /* every candidate, detectors in order, then names */
    struct pii_spanlist out;   /* the answer: resolved, sorted by start */
    struct order *order;       /* scratch: candidates, longest first */
    size_t order_cap;
    uint64_t *taken;           /* scratch: one bit per byte already redacted */
    size_t taken_words;
};

enum { GROUP_UNKNOWN, GROUP_SEEN, GROUP_ABSENT };

/* What one pass over the text says it could hold. */
struct features {
    uint32_t digits;   /* ASCII digits */
    uint32_t run;      /* the longest run of digits, at most two of " .-()," between two */
    uint32_t block;    /* the most digits in a row, nothing between them */
    bool letter_digit; /* an ASCII letter right before a digit */
    uint32_t first_digit, last_digit; /* offsets of the first and last digit (digits > 0) */
    uint32_t cur_block; /* while reading: digits in a row up to last_digit */
};

intake_redact_ctx *intake_redact_ctx_new(const intake_redactor *r)
{
    intake_redact_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->r = r;
    c->md = pcre2_match_data_create(r->max_groups + 1, NULL);
    c->mctx = pcre2_match_context_create(NULL);
    c->jit = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
    c->seen = calloc(r->ngroups + 1, sizeof *c->seen);
    if (c->md == NULL || c->mctx == NULL || c->seen == NULL) {
        intake_redact_ctx_free(c);
        return NULL;
    }
    pcre2_set_match_limit(c->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(c->mctx, DEPTH_LIMIT);
    pcre2_set_heap_limit(c->mctx, HEAP_LIMIT_KIB);
    if (c->jit != NULL)
        pcre2_jit_stack_assign(c->mctx, NULL, c->jit);
    return c;
}

void intake_redact_ctx_free(intake_redact_ctx *c)
{
    if (c == NULL)
        return;
    pcre2_match_data_free(c->md);
    pcre2_match_context_free(c->mctx);
    pcre2_jit_stack_free(c->jit);
    free(c->seen);
    free(c->cand.v);
    free(c->out.v);
    free(c->order);
    free(c->taken);
    free(c);
}

/* ---- the prefilter ------------------------------------------------------------------ */

enum { C_OTHER, C_DIGIT, C_SEP, C_LETTER };

/* Byte classes for the features pass. */
static const uint8_t byte_class[256] = {
    [' '] = C_SEP, ['.'] = C_SEP, ['-'] = C_SEP, ['('] = C_SEP, [')'] = C_SEP, [','] = C_SEP,
    ['0'] = C_DIGIT, ['1'] = C_DIGIT, ['2'] = C_DIGIT, ['3'] = C_DIGIT, ['4'] = C_DIGIT,
    ['5'] = C_DIGIT, ['6'] = C_DIGIT, ['7'] = C_DIGIT, ['8'] = C_DIGIT, ['9'] = C_DIGIT,
#define L(c) [c] = C_LETTER, [c + 32] = C_LETTER
    L('A'), L('B'), L('C'), L('D'), L('E'), L('F'), L('G'), L('H'), L('I'), L('J'), L('K'),
    L('L'), L('M'), L('N'), L('O'), L('P'), L('Q'), L('R'), L('S'), L('T'), L('U'), L('V'),
    L('W'), L('X'), L('Y'), L('Z'),
#undef L
};

static bool is_digit(unsigned char c)
{
    return (unsigned char)(c - '0') < 10;
}

/* The high bit of each byte of x that is an ASCII digit: a byte is one when, xor '0', it
 * is below 10. */
static uint64_t digit_bytes(uint64_t x)
{
    const uint64_t low7 = UINT64_C(0x7F7F7F7F7F7F7F7F), high = UINT64_C(0x8080808080808080);
    uint64_t t = x ^ UINT64_C(0x3030303030303030);
    return ~(((t & low7) + UINT64_C(0x7676767676767676)) | t) & high;
}

/* Takes bytes [from, to) into the features: digits, the letter-digit pair, and the
 * current and longest run of digits (at most two of " .-()," between two digits). */
static void feature_bytes(const unsigned char *s, size_t from, size_t to, struct features *f,
                          uint32_t *cur, uint32_t *seps)
{
    for (size_t i = from; i < to; i++) {
        if (is_digit(s[i])) {
            if (f->digits++ == 0)
                f->first_digit = (uint32_t)i;
            bool after_digit = f->digits > 1 && f->last_digit == i - 1;
            f->last_digit = (uint32_t)i;
            f->letter_digit |= i > 0 && byte_class[s[i - 1]] == C_LETTER;
            f->cur_block = after_digit ? f->cur_block + 1 : 1;
            if (f->cur_block > f->block)
                f->block = f->cur_block;
            *seps = 0;
            if (++*cur > f->run)
                f->run = *cur;
        } else if (*cur > 0 && (byte_class[s[i]] != C_SEP || ++*seps > 2)) {
            *cur = 0;
        }
    }
}

/* One pass over the text. Digits are rare, so eight bytes without one are skipped at
 * once (they also end any run of digits). */
static void find_features(const char *text, size_t len, struct features *f)
{
    const unsigned char *s = (const unsigned char *)text;
    *f = (struct features){0};
    uint32_t cur = 0, seps = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, sizeof x);
        if (digit_bytes(x) == 0)
            cur = 0;
        else
            feature_bytes(s, i, i + 8, f, &cur, &seps);
    }
    feature_bytes(s, i, len, f, &cur, &seps);
}

/* True when the text holds a word of 'needs any' group g; looked up once per text, all
 * the group's words in one pass. */
static bool group_seen(intake_redact_ctx *c, uint32_t g, const char *s, size_t len)
{
    if (c->seen[g] == GROUP_UNKNOWN) {
        const struct pii_group *grp = &c->r->groups[g];
        bool in = anyword_in(s, len, &c->r->words[grp->first], grp->n);
        c->seen[g] = in ? GROUP_SEEN : GROUP_ABSENT;
    }
    return c->seen[g] == GROUP_SEEN;
}

/* The cheap needs first, then the words. */
static bool needs_met(intake_redact_ctx *c, const struct pii_detector *d,
                      const struct features *f, const char *s, size_t len)
{
    if (f->digits < d->min_digits || f->run < d->min_run || f->block < d->min_block ||
        (d->letter_digit && !f->letter_digit))
        return false;
    if (d->anchor != '\0' && memchr(s, d->anchor, len) == NULL)
        return false;
    for (size_t i = 0; i < d->nany; i++)
        if (!group_seen(c, d->any[i], s, len))
            return false;
    return true;
}

static void prefilter_reset(intake_redact_ctx *c)
{
    memset(c->seen, GROUP_UNKNOWN, c->r->ngroups + 1);
}

/* ---- matching ----------------------------------------------------------------------- */

/* The offset after the character that starts at `at` (UTF-8 continuation bytes are
 * skipped, at most three, so invalid input still moves on). */
static size_t next_char(const char *s, size_t len, size_t at)
{
    size_t i = at + 1;
    for (int k = 0; k < 3 && i < len && ((unsigned char)s[i] & 0xC0) == 0x80; k++)
        i++;
    return i;
}

static int match_at(intake_redact_ctx *c, const struct pii_pattern *p, const char *s,
                    size_t len, size_t start)
{
    if (p->jit)
        return pcre2_jit_match(p->re, (PCRE2_SPTR)s, len, start, 0, c->md, c->mctx);
    return pcre2_match(p->re, (PCRE2_SPTR)s, len, start, 0, c->md, c->mctx);
}

/* The span of a match: group 0, or from the first start to the last end of the
 * detector's groups that are set (a group may sit in a lookbehind, before the match).
 * False when none is set. */
static bool match_span(const struct pii_detector *d, const PCRE2_SIZE *ov, size_t *a,
                       size_t *b)
{
    if (d->ngroup == 0) {
        *a = ov[0], *b = ov[1];
        return true;
    }
    *a = PCRE2_UNSET, *b = 0;
    for (size_t i = 0; i < d->ngroup; i++) {
        PCRE2_SIZE s = ov[2 * d->group[i]], e = ov[2 * d->group[i] + 1];
        if (s == PCRE2_UNSET)
            continue;
        *a = s < *a ? s : *a;
        *b = e > *b ? e : *b;
    }
    return *a != PCRE2_UNSET;
}

/* Looks at one match: its span, through the detector's validator. Returns the offset to
 * search on from, after appending the span when it is accepted; SIZE_MAX when memory
 * runs out. */
static size_t take_match(const struct pii_detector *d, const PCRE2_SIZE *ov, const char *s,
                         size_t len, struct pii_spanlist *out)
{
    size_t m0 = ov[0], m1 = ov[1], a, b;
    if (!match_span(d, ov, &a, &b) || b <= a || b > len)
        return next_char(s, len, m0);
    size_t keep = b - a;
    if (d->check >= 0 && !pii_check_run(d->check, s + a, b - a, &keep))
        return next_char(s, len, m0);
    if (keep == 0 || keep > b - a)
        return next_char(s, len, m0);
    if (pii_spanlist_push(out, (uint32_t)a, (uint32_t)(a + keep), d->type) != 0)
        return SIZE_MAX;
    size_t resume = keep < b - a ? a + keep : b > m1 ? b : m1;
    return resume > m0 ? resume : next_char(s, len, m0);
}

/* Matches one pattern from `start` on (no further than `limit` for the match's start,
 * when the pattern has an anchor) and takes every match. Returns the offset reached, or
 * SIZE_MAX when memory runs out. */
static size_t run_from(intake_redact_ctx *c, const struct pii_detector *d,
                       const struct pii_pattern *p, const char *s, size_t len, size_t start,
                       struct pii_spanlist *out)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
    while (start < len) {
        /* No match, or a limit hit by a pathological text: either way this pattern is
         * done here (the limits bound the time; nothing is printed). */
        if (match_at(c, p, s, len, start) < 0)
            break;
        start = take_match(d, ov, s, len, out);
        if (start == SIZE_MAX)
            break;
    }
    return start;
}

static bool in_run_class(const struct pii_detector *d, unsigned char b)
{
    return (d->run_class[b >> 3] >> (b & 7)) & 1;
}

/* Where a match for the anchor character at pos may start: anchor_back bytes before it at
 * most, and with a run class, exactly where the run of class bytes before it starts. */
static size_t anchor_start(const struct pii_detector *d, const char *s, size_t pos)
{
    size_t from = pos > d->anchor_back ? pos - d->anchor_back : 0;
    if (!d->anchor_run)
        return from;
    size_t k = pos;
    while (k > from && in_run_class(d, (unsigned char)s[k - 1]))
        k--;
    return k;
}

/* An anchored detector: its matches start at most anchor_back bytes before its anchor
 * character (with a run class, at one place), so only those stretches are searched. */
static int run_anchored(intake_redact_ctx *c, const struct pii_detector *d,
                        const struct pii_pattern *p, const char *s, size_t len,
                        struct pii_spanlist *out)
{
    size_t resume = 0;
    const char *at = memchr(s, d->anchor, len);
    int rc = 0;
    while (at != NULL && rc == 0) {
        size_t pos = (size_t)(at - s);
        size_t from = anchor_start(d, s, pos);
        pcre2_set_offset_limit(c->mctx, d->anchor_run ? from : pos);
        resume = run_from(c, d, p, s, len, from > resume ? from : resume, out);
        rc = resume == SIZE_MAX ? -1 : 0;
        size_t next = resume > pos + 1 ? resume : pos + 1;
        at = rc == 0 && next < len ? memchr(s + next, d->anchor, len - next) : NULL;
    }
    pcre2_set_offset_limit(c->mctx, PCRE2_UNSET);
    return rc;
}

/* A pattern whose matches start at an ASCII digit: searched from the text's first digit,
 * and for matches that start no later than its last (PCRE2 would otherwise test every
 * byte of the text for a digit on its own, one at a time). */
static int run_digits(intake_redact_ctx *c, const struct pii_detector *d,
                      const struct pii_pattern *p, const char *s, size_t len,
                      const struct features *f, struct pii_spanlist *out)
{
    if (f->digits == 0)
        return 0;
    pcre2_set_offset_limit(c->mctx, f->last_digit);
    size_t end = run_from(c, d, p, s, len, f->first_digit, out);
    pcre2_set_offset_limit(c->mctx, PCRE2_UNSET);
    return end == SIZE_MAX ? -1 : 0;
}

static int run_pattern(intake_redact_ctx *c, const struct pii_detector *d,
                       const struct pii_pattern *p, const char *s, size_t len,
                       const struct features *f, struct pii_spanlist *out)
{
    if (d->anchor != '\0')
        return run_anchored(c, d, p, s, len, out);
    if (p->digit_start)
        return run_digits(c, d, p, s, len, f, out);
    return run_from(c, d, p, s, len, 0, out) == SIZE_MAX ? -1 : 0;
}

static int run_detector(intake_redact_ctx *c, const struct pii_detector *d, const char *s,
                        size_t len, const struct features *f, struct pii_spanlist *out)
{
    for (size_t k = 0; k < d->npats; k++)
        if (run_pattern(c, d, &d->pats[k], s, len, f, out) != 0)
            return -1;
    return 0;
}

int redact_run_detector(intake_redact_ctx *c, size_t d, const char *text, size_t len,
                        struct pii_spanlist *out)
{
    struct features f;
    find_features(text, len, &f);
    prefilter_reset(c);
    const struct pii_detector *det = &c->r->det[d];
    return needs_met(c, det, &f, text, len) ? run_detector(c, det, text, len, &f, out) : 0;
}

/* ---- overlaps ----------------------------------------------------------------------- */

/* Whether candidate x goes before y: longer first, then the earlier candidate (the
 * earlier detector, then the earlier match). */
static bool longer_first(const struct order *x, const struct order *y)
{
    return x->len != y->len ? x->len > y->len : x->idx < y->idx;
}

static int cmp_longest(const void *a, const void *b)
{
    return longer_first(a, b) ? -1 : longer_first(b, a);
}

static bool range_free(const uint64_t *taken, uint32_t a, uint32_t b)
{
    for (uint32_t i = a; i < b; i++)
        if ((taken[i >> 6] >> (i & 63)) & 1)
            return false;
    return true;
}

static void range_take(uint64_t *taken, uint32_t a, uint32_t b)
{
    for (uint32_t i = a; i < b; i++)
        taken[i >> 6] |= UINT64_C(1) << (i & 63);
}

/* Sorts the candidates longest first: by insertion while they are few (most texts have a
 * handful, where qsort's set-up costs more than the sort), else by qsort. */
static void sort_longest(struct order *o, size_t n)
{
    if (n > SMALL_SORT) {
        qsort(o, n, sizeof *o, cmp_longest);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct order x = o[i];
        size_t j = i;
        for (; j > 0 && longer_first(&x, &o[j - 1]); j--)
            o[j] = o[j - 1];
        o[j] = x;
    }
}

static int cmp_start(const void *a, const void *b)
{
    const struct intake_span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorts the kept spans by start (no two overlap, so no two starts are equal), by
 * insertion while they are few. */
static void sort_by_start(struct intake_span *v, size_t n)
{
    if (n > SMALL_SORT) {
        qsort(v, n, sizeof *v, cmp_start);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct intake_span x = v[i];
        size_t j = i;
        for (; j > 0 && x.start < v[j - 1].start; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static int grow_scratch(intake_redact_ctx *c, size_t n, size_t len)
{
    if (n > c->order_cap) {
        struct order *o = realloc(c->order, n * sizeof *o);
        if (o == NULL)
            return -1;
        c->order = o;
        c->order_cap = n;
    }
    size_t words = len / 64 + 1;
    if (words > c->taken_words) {
        uint64_t *t = realloc(c->taken, words * sizeof *t);
        if (t == NULL)
            return -1;
        c->taken = t;
        c->taken_words = words;
    }
    memset(c->taken, 0, words * sizeof *c->taken);
    return 0;
}

static bool continuation(unsigned char b)
{
    return (b & 0xC0) == 0x80;
}

/* True when a span is inside the text and starts and ends on character boundaries (so
 * that placeholders keep valid UTF-8 valid). */
static bool span_fits(const struct intake_span *s, const char *text, size_t len)
{
    return s->start < s->end && s->end <= len && !continuation((unsigned char)text[s->start]) &&
           (s->end == len || !continuation((unsigned char)text[s->end]));
}

/* Keeps the longest of overlapping candidates into c->out, sorted by start. */
static int resolve(intake_redact_ctx *c, const char *text, size_t len)
{
    const struct pii_spanlist *cand = &c->cand;
    c->out.n = 0;
    if (cand->n == 0)
        return 0;
    if (grow_scratch(c, cand->n, len) != 0)
        return -1;
    for (size_t i = 0; i < cand->n; i++)
        c->order[i] = (struct order){cand->v[i].end - cand->v[i].start, (uint32_t)i};
    sort_longest(c->order, cand->n);
    for (size_t i = 0; i < cand->n; i++) {
        const struct intake_span *s = &cand->v[c->order[i].idx];
        if (!span_fits(s, text, len) || !range_free(c->taken, s->start, s->end))
            continue;
        range_take(c->taken, s->start, s->end);
        if (pii_spanlist_push(&c->out, s->start, s->end, s->type) != 0)
            return -1;
    }
    sort_by_start(c->out.v, c->out.n);
    return 0;
}

/* ---- the whole search ------------------------------------------------------------- */

int intake_redact_find(intake_redact_ctx *c, const char *text, size_t len,
                       const struct intake_redact_hints *hints,
                       const struct intake_span **spans, size_t *n)
{
    const intake_redactor *r = c->r;
    if (len > INTAKE_REDACT_MAX_SCAN)
        len = INTAKE_REDACT_MAX_SCAN;
    c->cand.n = 0;
    c->out.n = 0;
    *spans = c->out.v;
    *n = 0;
    if (len == 0)
        return 0;
    struct features f;
    find_features(text, len, &f);
    prefilter_reset(c);
    int rc = 0;
    for (size_t i = 0; i < r->n && rc == 0; i++)
        if (needs_met(c, &r->det[i], &f, text, len))
            rc = run_detector(c, &r->det[i], text, len, &f, &c->cand);
    if (rc == 0 && r->names != NULL)
        rc = pii_names_find(r->names, text, len, hints, &c->cand);
    if (rc == 0)
        rc = resolve(c, text, len);
    *spans = rc == 0 ? c->out.v : NULL;
    *n = rc == 0 ? c->out.n : 0;
    return rc;
}
