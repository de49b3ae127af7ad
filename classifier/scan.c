/*
 * Classification of one message: clean each field once, run the literal prefilter over
 * the text once, match only the candidate rules, work out the meta rules, then score.
 * All per-message state lives in the scanner, one per thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "intake/normalise.h"
#include "ruleset.h"

#define MATCH_LIMIT 200000     /* backtracking steps per match before giving up */
#define DEPTH_LIMIT 2000
#define HEAP_LIMIT_KIB 4096
#define JIT_STACK_MIN (32 * 1024)
#define JIT_STACK_MAX (512 * 1024)
#define OCC_START 1024         /* prefix occurrences room to start with */
#define OCC_MAX (1u << 18)     /* never more: past this, atoms match unanchored */
#define NONE UINT32_MAX
#define MAX_ANCHORED_TRIES 64  /* per branch and message; then one plain search */

struct intake_scanner {
    const intake_ruleset *rs;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    /* Every cleaned field in one buffer, so that one prefilter pass covers them all:
     * subject '\n' body '\n' from '\n' from_name '\n' channel. */
    intake_buf text;
    size_t off[FIELD_NONE]; /* where each field starts in text */
    size_t len[FIELD_NONE];
    intake_buf body;  /* scratch for the cleaned body */
    intake_buf line;  /* scratch for a cleaned one-line field */
    bool is_public;
    uint64_t *seen;   /* literal groups the prefilter found in this message */
    struct acscan_occ *occ; /* where anchored atoms' prefixes occur */
    uint32_t *occ_next;     /* the next occurrence of the same atom, or NONE */
    size_t occ_cap;
    size_t nocc;      /* may exceed occ_cap: then anchors are not used */
    uint32_t *occ_head; /* per atom: its first occurrence, valid when stamp == gen */
    uint32_t *stamp;
    uint32_t gen;
    uint64_t *fired;
    uint32_t *fired_list;
};

intake_scanner *intake_scanner_new(const intake_ruleset *rs)
{
    intake_scanner *sc = calloc(1, sizeof *sc);
    if (sc == NULL)
        return NULL;
    sc->rs = rs;
    sc->md = pcre2_match_data_create(1, NULL);
    sc->mctx = pcre2_match_context_create(NULL);
    sc->jit = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
    sc->seen = calloc(rs->group_words, sizeof *sc->seen);
    sc->fired = calloc(rs->words, sizeof *sc->fired);
    sc->fired_list = malloc((rs->n ? rs->n : 1) * sizeof *sc->fired_list);
    sc->occ_head = malloc((rs->natoms ? rs->natoms : 1) * sizeof *sc->occ_head);
    sc->occ = malloc(OCC_START * sizeof *sc->occ);
    sc->occ_next = malloc(OCC_START * sizeof *sc->occ_next);
    sc->occ_cap = OCC_START;
    sc->stamp = calloc(rs->natoms ? rs->natoms : 1, sizeof *sc->stamp);
    if (sc->md == NULL || sc->mctx == NULL || sc->seen == NULL || sc->fired == NULL ||
        sc->fired_list == NULL || sc->occ_head == NULL || sc->stamp == NULL ||
        sc->occ == NULL || sc->occ_next == NULL) {
        intake_scanner_free(sc);
        return NULL;
    }
    pcre2_set_match_limit(sc->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(sc->mctx, DEPTH_LIMIT);
    pcre2_set_heap_limit(sc->mctx, HEAP_LIMIT_KIB);
    if (sc->jit != NULL)
        pcre2_jit_stack_assign(sc->mctx, NULL, sc->jit);
    return sc;
}

void intake_scanner_free(intake_scanner *sc)
{
    if (sc == NULL)
        return;
    pcre2_match_data_free(sc->md);
    pcre2_match_context_free(sc->mctx);
    pcre2_jit_stack_free(sc->jit);
    intake_buf_free(&sc->text);
    intake_buf_free(&sc->body);
    intake_buf_free(&sc->line);
    free(sc->seen);
    free(sc->fired);
    free(sc->fired_list);
    free(sc->occ_head);
    free(sc->occ);
    free(sc->occ_next);
    free(sc->stamp);
    free(sc);
}

const char *scanner_field(const intake_scanner *sc, enum rule_field field, size_t *len)
{
    if (field == FIELD_PUBLIC || field == FIELD_NONE) {
        *len = sc->is_public ? 4 : 5;
        return sc->is_public ? "true" : "false";
    }
    *len = sc->len[field];
    return sc->text.data + sc->off[field];
}

/* Appends one cleaned one-line field and a line break, recording where it is. */
static int add_line_field(intake_scanner *sc, enum rule_field f, const char *s, size_t n)
{
    intake_buf *t = &sc->text;
    size_t start = t->len;
    sc->line.len = 0;
    int rc = intake_normalise_line(s, n, RULESET_MAX_SCAN, &sc->line);
    if (rc == 0)
        rc = intake_buf_append(t, sc->line.data ? sc->line.data : "", sc->line.len);
    sc->off[f] = start;
    sc->len[f] = t->len - start;
    return rc == 0 ? intake_buf_append(t, "\n", 1) : -1;
}

/* Cleans every field of msg into the scanner's text buffer. */
static int prepare(intake_scanner *sc, const intake_message *m)
{
    sc->text.len = 0;
    if (add_line_field(sc, FIELD_SUBJECT, m->subject, m->subject_len) != 0 ||
        intake_normalise_body(m->body, m->body_len, RULESET_MAX_SCAN * 8, RULESET_MAX_SCAN,
                              &sc->body) != 0)
        return -1;
    sc->off[FIELD_BODY] = sc->text.len;
    sc->len[FIELD_BODY] = sc->body.len;
    if (intake_buf_append(&sc->text, sc->body.data, sc->body.len) != 0 ||
        intake_buf_append(&sc->text, "\n", 1) != 0)
        return -1;
    sc->off[FIELD_TEXT] = 0;
    sc->len[FIELD_TEXT] = sc->off[FIELD_BODY] + sc->len[FIELD_BODY];
    if (add_line_field(sc, FIELD_FROM, m->from_address, m->from_address_len) != 0 ||
        add_line_field(sc, FIELD_FROM_NAME, m->from_name, m->from_name_len) != 0 ||
        add_line_field(sc, FIELD_CHANNEL, m->channel, m->channel_len) != 0)
        return -1;
    sc->is_public = m->is_public;
    return 0;
}

/* Runs compiled code on `len` bytes at s, from `start`. Returns true on a match. */
static bool match_at(intake_scanner *sc, const pcre2_code *re, bool jit, const char *s,
                     size_t len, size_t start, unsigned *limit_hits)
{
    /* Every field is valid UTF-8 (the normaliser's promise) and every start is the first
     * byte of an ASCII literal, so PCRE2 need not check either. */
    int rc = jit ? pcre2_jit_match(re, (PCRE2_SPTR)s, len, start, 0, sc->md, sc->mctx)
                 : pcre2_match(re, (PCRE2_SPTR)s, len, start, PCRE2_NO_UTF_CHECK, sc->md,
                               sc->mctx);
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT)
        (*limit_hits)++;
    return rc >= 0;
}

/* Runs atom a: only at its prefix occurrences when it is anchored and they were all
 * kept, else over the whole field. Returns true on a match. */
static bool match_atom(intake_scanner *sc, uint32_t a, unsigned *limit_hits)
{
    const struct atom *at = &sc->rs->atoms[a];
    enum rule_field f = sc->rs->rules[at->rule].field;
    size_t len;
    const char *s = scanner_field(sc, f, &len);
    if (!at->anchored || sc->nocc > sc->occ_cap)
        return match_at(sc, at->re, at->jit, s, len, 0, limit_hits);
    size_t off = sc->off[f];
    uint32_t first = sc->stamp[a] == sc->gen ? sc->occ_head[a] : NONE;
    unsigned tries = 0;
    for (uint32_t k = first; k != NONE; k = sc->occ_next[k]) {
        const struct poslit *pl = &sc->rs->poslits[sc->occ[k].id];
        size_t begin = sc->occ[k].end - pl->len;
        if (begin < off || begin - off >= len)
            continue;
        /* Many places to try (a hostile or very repetitive text): one plain search from
         * here costs less and bounds the work, since every match starts at one of them. */
        if (++tries > MAX_ANCHORED_TRIES)
            return match_at(sc, at->re, at->jit, s, len, begin - off, limit_hits);
        if (match_at(sc, at->re_anchored, at->jit_anchored, s, len, begin - off, limit_hits))
            return true;
    }
    return false;
}

static void set_bit(uint64_t *bits, uint32_t i)
{
    bits[i >> 6] |= UINT64_C(1) << (i & 63);
}

static bool prefilter_passes(const uint64_t *seen, const struct atom *at)
{
    for (size_t k = 0; k < at->ngroups; k++)
        if (!((seen[at->group[k] >> 6] >> (at->group[k] & 63)) & 1))
            return false;
    return true;
}

/* Threads the kept prefix occurrences into one list per atom, in text order. */
static void link_occurrences(intake_scanner *sc)
{
    if (++sc->gen == 0) { /* wrapped: old stamps could look current */
        memset(sc->stamp, 0, sc->rs->natoms * sizeof *sc->stamp);
        sc->gen = 1;
    }
    size_t n = sc->nocc < sc->occ_cap ? sc->nocc : sc->occ_cap;
    for (size_t k = n; k-- > 0;) {
        uint32_t a = sc->rs->poslits[sc->occ[k].id].atom;
        if (sc->stamp[a] != sc->gen) {
            sc->stamp[a] = sc->gen;
            sc->occ_head[a] = NONE;
        }
        sc->occ_next[k] = sc->occ_head[a];
        sc->occ_head[a] = (uint32_t)k;
    }
}

/* Grows the occurrence arrays to hold n. Returns false when n is past the bound or memory
 * runs out (the arrays stay as they were). */
static bool grow_occurrences(intake_scanner *sc, size_t n)
{
    if (n > OCC_MAX)
        return false;
    struct acscan_occ *occ = realloc(sc->occ, n * sizeof *occ);
    if (occ == NULL)
        return false;
    sc->occ = occ;
    uint32_t *next = realloc(sc->occ_next, n * sizeof *next);
    if (next == NULL)
        return false;
    sc->occ_next = next;
    sc->occ_cap = n;
    return true;
}

/* One prefilter pass over the whole text; a second one, with room, in the rare message
 * that has more prefix occurrences than the scanner holds. */
static void scan_literals(intake_scanner *sc)
{
    const intake_ruleset *rs = sc->rs;
    acscan_run(rs->ac, sc->text.data, sc->text.len, sc->seen, sc->occ, sc->occ_cap,
               &sc->nocc);
    if (sc->nocc > sc->occ_cap && grow_occurrences(sc, sc->nocc))
        acscan_run(rs->ac, sc->text.data, sc->text.len, sc->seen, sc->occ, sc->occ_cap,
                   &sc->nocc);
}

static void run_patterns(intake_scanner *sc, unsigned *limit_hits)
{
    const intake_ruleset *rs = sc->rs;
    memset(sc->seen, 0, rs->group_words * sizeof *sc->seen);
    memset(sc->fired, 0, rs->words * sizeof *sc->fired);
    scan_literals(sc);
    link_occurrences(sc);
    /* Each literal group belongs to one atom: an atom is woken by its first group and
     * runs when all its groups were seen. */
    for (size_t w = 0; w < rs->group_words; w++) {
        for (uint64_t bits = sc->seen[w]; bits; bits &= bits - 1) {
            uint32_t g = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            uint32_t a = rs->group_atom[g];
            const struct atom *at = &rs->atoms[a];
            if (at->group[0] != g || scanner_fired(sc, at->rule) ||
                !prefilter_passes(sc->seen, at))
                continue;
            if (match_atom(sc, a, limit_hits))
                set_bit(sc->fired, at->rule);
        }
    }
    for (size_t k = 0; k < rs->nalways; k++) {
        const struct atom *at = &rs->atoms[rs->always_atoms[k]];
        if (!scanner_fired(sc, at->rule) && match_atom(sc, rs->always_atoms[k], limit_hits))
            set_bit(sc->fired, at->rule);
    }
}

static void run_metas(intake_scanner *sc)
{
    const intake_ruleset *rs = sc->rs;
    for (size_t k = 0; k < rs->nmeta; k++) {
        uint32_t i = rs->meta_order[k];
        if (meta_eval(rs->rules[i].meta, sc->fired))
            set_bit(sc->fired, i);
    }
}

/* Sums the weights of the fired rules and lists them in file order. */
static void score(intake_scanner *sc, intake_verdict *v)
{
    const intake_ruleset *rs = sc->rs;
    memset(v->score, 0, sizeof v->score);
    v->nfired = 0;
    for (uint32_t i = 0; i < rs->n; i++) {
        if (!((sc->fired[i >> 6] >> (i & 63)) & 1))
            continue;
        sc->fired_list[v->nfired++] = i;
        for (int t = 0; t < INTAKE_TARGET_COUNT; t++)
            v->score[t] += rs->rules[i].weight[t];
    }
    v->fired = sc->fired_list;
}

static void decide(const intake_ruleset *rs, intake_verdict *v)
{
    int best = -1;
    double top = 0.0;
    for (int c = 0; c < INTAKE_CAT_COUNT; c++) {
        if (v->score[c] > top + 1e-9) {
            top = v->score[c];
            best = c;
        }
    }
    v->category = best >= 0 ? best : rs->default_category;
    double max = v->score[0], sum = 0.0;
    for (int c = 1; c < INTAKE_CAT_COUNT; c++)
        max = v->score[c] > max ? v->score[c] : max;
    for (int c = 0; c < INTAKE_CAT_COUNT; c++)
        sum += exp(v->score[c] - max);
    v->confidence = exp(v->score[v->category] - max) / sum;
    v->flags = 0;
    for (int f = 0; f < INTAKE_FLAG_COUNT; f++)
        if (v->score[INTAKE_CAT_COUNT + f] >= rs->flag_threshold - 1e-9)
            v->flags |= 1u << f;
    v->mp_underlying = -1;
    if (v->category == INTAKE_CAT_MP_ENQUIRY)
        v->mp_underlying = v->score[INTAKE_CAT_COMPLAINT] > v->score[INTAKE_CAT_SERVICE_REQUEST]
                               ? INTAKE_CAT_COMPLAINT
                               : INTAKE_CAT_SERVICE_REQUEST;
}

int intake_classify(intake_scanner *sc, const intake_message *msg, intake_verdict *out)
{
    if (prepare(sc, msg) != 0)
        return -1;
    out->limit_hits = 0;
    run_patterns(sc, &out->limit_hits);
    run_metas(sc);
    score(sc, out);
    decide(sc->rs, out);
    return 0;
}

bool scanner_fired(const intake_scanner *sc, uint32_t i)
{
    return (sc->fired[i >> 6] >> (i & 63)) & 1;
}
