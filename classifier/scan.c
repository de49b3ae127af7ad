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

struct intake_scanner {
    const intake_ruleset *rs;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    intake_buf text;  /* subject '\n' body */
    size_t subject_len;
    intake_buf body;  /* scratch for the cleaned body */
    intake_buf from;
    intake_buf from_name;
    intake_buf channel;
    bool is_public;
    uint64_t *seen;   /* literal groups the prefilter found in this message */
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
    if (sc->md == NULL || sc->mctx == NULL || sc->seen == NULL || sc->fired == NULL ||
        sc->fired_list == NULL) {
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
    intake_buf_free(&sc->from);
    intake_buf_free(&sc->from_name);
    intake_buf_free(&sc->channel);
    free(sc->seen);
    free(sc->fired);
    free(sc->fired_list);
    free(sc);
}

const char *scanner_field(const intake_scanner *sc, enum rule_field field, size_t *len)
{
    switch (field) {
    case FIELD_SUBJECT:
        *len = sc->subject_len;
        return sc->text.data;
    case FIELD_BODY:
        *len = sc->text.len - sc->subject_len - 1;
        return sc->text.data + sc->subject_len + 1;
    case FIELD_TEXT:
        *len = sc->text.len;
        return sc->text.data;
    case FIELD_FROM:
        *len = sc->from.len;
        return sc->from.data;
    case FIELD_FROM_NAME:
        *len = sc->from_name.len;
        return sc->from_name.data;
    case FIELD_CHANNEL:
        *len = sc->channel.len;
        return sc->channel.data;
    case FIELD_PUBLIC:
    case FIELD_NONE:
        break;
    }
    *len = sc->is_public ? 4 : 5;
    return sc->is_public ? "true" : "false";
}

static int set_line(intake_buf *b, const char *s, size_t n)
{
    b->len = 0;
    return intake_normalise_line(s, n, RULESET_MAX_SCAN, b);
}

/* Cleans every field of msg into the scanner's buffers. */
static int prepare(intake_scanner *sc, const intake_message *m)
{
    if (set_line(&sc->text, m->subject, m->subject_len) != 0)
        return -1;
    sc->subject_len = sc->text.len;
    if (intake_normalise_body(m->body, m->body_len, RULESET_MAX_SCAN * 8, RULESET_MAX_SCAN,
                              &sc->body) != 0 ||
        intake_buf_append(&sc->text, "\n", 1) != 0 ||
        intake_buf_append(&sc->text, sc->body.data, sc->body.len) != 0)
        return -1;
    if (set_line(&sc->from, m->from_address, m->from_address_len) != 0 ||
        set_line(&sc->from_name, m->from_name, m->from_name_len) != 0 ||
        set_line(&sc->channel, m->channel, m->channel_len) != 0)
        return -1;
    sc->is_public = m->is_public;
    return 0;
}

/* Runs one atom on its rule's field. Returns true on a match. */
static bool match_atom(intake_scanner *sc, const struct atom *a, unsigned *limit_hits)
{
    size_t len;
    const char *s = scanner_field(sc, sc->rs->rules[a->rule].field, &len);
    int rc = pcre2_match(a->re, (PCRE2_SPTR)s, len, 0, 0, sc->md, sc->mctx);
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT)
        (*limit_hits)++;
    return rc >= 0;
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

static void run_patterns(intake_scanner *sc, unsigned *limit_hits)
{
    const intake_ruleset *rs = sc->rs;
    memset(sc->seen, 0, rs->group_words * sizeof *sc->seen);
    memset(sc->fired, 0, rs->words * sizeof *sc->fired);
    acscan_run(rs->ac, sc->text.data, sc->text.len, sc->seen);
    for (size_t a = 0; a < rs->natoms; a++) {
        const struct atom *at = &rs->atoms[a];
        if (scanner_fired(sc, at->rule) || !prefilter_passes(sc->seen, at))
            continue;
        if (match_atom(sc, at, limit_hits))
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
