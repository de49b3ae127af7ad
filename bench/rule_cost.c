/*
 * bench/rule_cost: which rules cost the most time. For each pattern rule, over a JSONL
 * corpus: how often the prefilter lets it run, how often it matches, and the time spent
 * matching. Measures; never passes or fails.
 *
 * usage: rule_cost RULES_DIR CORPUS.jsonl [TOP]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake/normalise.h"
#include "literals.h"
#include "ruleset.h"

#ifndef REPS
#define REPS 20
#endif

struct cost {
    size_t rule;
    unsigned long runs, hits;
    double secs;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_secs(const void *a, const void *b)
{
    double x = ((const struct cost *)a)->secs, y = ((const struct cost *)b)->secs;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Matches one atom the way the engine does: at its prefix occurrences when anchored. */
static bool run_atom(const intake_ruleset *rs, size_t a, const char *text, size_t len,
                     const struct acscan_occ *occ, size_t nocc, pcre2_match_data *md)
{
    const struct atom *at = &rs->atoms[a];
    if (!at->anchored || nocc > 512)
        return pcre2_match(at->re, (PCRE2_SPTR)text, len, 0, 0, md, NULL) >= 0;
    for (size_t k = 0; k < nocc; k++) {
        const struct poslit *pl = &rs->poslits[occ[k].id];
        if (pl->atom == a && pcre2_match(at->re_anchored, (PCRE2_SPTR)text, len,
                                         occ[k].end - pl->len, 0, md, NULL) >= 0)
            return true;
    }
    return false;
}

static void measure(const intake_ruleset *rs, const char *text, size_t len, struct cost *c,
                    uint64_t *hits, pcre2_match_data *md)
{
    memset(hits, 0, rs->group_words * sizeof *hits);
    struct acscan_occ occ[512];
    size_t nocc;
    acscan_run(rs->ac, text, len, hits, occ, 512, &nocc);
    for (size_t a = 0; a < rs->natoms; a++) {
        const struct atom *at = &rs->atoms[a];
        bool pass = true;
        for (size_t k = 0; k < at->ngroups; k++)
            pass = pass && ((hits[at->group[k] >> 6] >> (at->group[k] & 63)) & 1);
        if (!pass)
            continue;
        struct cost *ci = &c[at->rule];
        double t0 = now();
        for (int k = 0; k < REPS; k++)
            if (run_atom(rs, a, text, len, occ, nocc, md) && k == 0)
                ci->hits++;
        ci->secs += now() - t0;
        ci->runs++;
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rule_cost RULES_DIR CORPUS.jsonl [TOP]\n");
        return 2;
    }
    intake_ruleset *rs;
    intake_diag d = {0};
    if (intake_ruleset_load_dir(argv[1], &rs, &d) != 0) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s\n", d.lines[i]);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (f == NULL)
        return 1;
    struct cost *c = calloc(rs->n, sizeof *c);
    uint64_t *hits = calloc(rs->group_words, sizeof *hits);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    intake_buf b = {0};
    char *line = NULL;
    size_t cap = 0;
    unsigned long msgs = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *body = json_object_get(o, "body");
        if (json_is_string(body)) {
            intake_normalise_body(json_string_value(body), json_string_length(body), 1 << 20,
                                  RULESET_MAX_SCAN, &b);
            measure(rs, b.data, b.len, c, hits, md);
            msgs++;
        }
        json_decref(o);
    }
    for (size_t i = 0; i < rs->n; i++)
        c[i].rule = i;
    qsort(c, rs->n, sizeof *c, by_secs);
    int top = argc > 3 ? atoi(argv[3]) : 25;
    printf("%lu messages; per rule: branch runs (prefilter passed), branch hits, "
           "microseconds per message\n",
           msgs);
    for (int i = 0; i < top && (size_t)i < rs->n; i++) {
        const struct rule *r = &rs->rules[c[i].rule];
        printf("%-32s %6lu %6lu %8.3f%s\n", r->name, c[i].runs, c[i].hits,
               c[i].secs / REPS / (double)msgs * 1e6, r->prefiltered ? "" : "  (no prefilter)");
    }
    size_t anchored = 0;
    for (size_t a = 0; a < rs->natoms; a++)
        anchored += rs->atoms[a].anchored;
    printf("%zu rules, %zu branches, %zu anchored at their prefixes\n", rs->n, rs->natoms,
           anchored);
    free(line);
    fclose(f);
    intake_buf_free(&b);
    pcre2_match_data_free(md);
    free(hits);
    free(c);
    intake_ruleset_free(rs);
    return 0;
}
