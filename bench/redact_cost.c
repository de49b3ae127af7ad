/*
 * bench/redact_cost: what redaction adds to classify's time per message, measured inside
 * one process, steadier than whole-process timings on a busy machine. Each pass goes
 * through the corpus twice: first classifying every message alone, then classifying each
 * and redacting it right after (as `intake classify --redact all` does), so that both see
 * the same moments of the machine; per message the fastest of all passes counts. The
 * messages are read as intake classify reads them, except that the author's handle is
 * not joined to the display name. Measures; never passes or fails.
 *
 * usage: redact_cost RULES_DIR CORPUS.jsonl [PASSES] [all|names]
 *   all    intake_redact_find, as the gateway runs it (the default)
 *   names  the names detector alone (pii_names_find)
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake/classifier.h"
#include "intake/redact.h"
#include "redact_rules.h"

/* The messages of the corpus; every string owned. */
struct corpus {
    intake_message *m;
    struct intake_redact_hints *h;
    size_t n;
};

/* The fastest time of each message, in nanoseconds. */
struct best {
    uint64_t *alone, *with, *redact;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char *dup_member(json_t *o, const char *key, size_t *len)
{
    const char *s = json_string_value(json_object_get(o, key));
    *len = s ? strlen(s) : 0;
    return s ? strdup(s) : NULL;
}

/* Appends the message of one JSON line. Returns 0, or -1 when memory runs out. */
static int add_message(struct corpus *c, json_t *o)
{
    intake_message *m = realloc(c->m, (c->n + 1) * sizeof *m);
    struct intake_redact_hints *h = m ? realloc(c->h, (c->n + 1) * sizeof *h) : NULL;
    if (m)
        c->m = m;
    if (h == NULL)
        return -1;
    c->h = h;
    m += c->n;
    h += c->n;
    *m = (intake_message){.is_public = json_is_true(json_object_get(o, "public"))};
    m->body = dup_member(o, "body", &m->body_len);
    m->subject = dup_member(o, "subject", &m->subject_len);
    m->channel = dup_member(o, "channel", &m->channel_len);
    json_t *from = json_object_get(o, "from");
    m->from_name = from ? dup_member(from, "name", &m->from_name_len) : NULL;
    m->from_address = from ? dup_member(from, "address", &m->from_address_len) : NULL;
    *h = (struct intake_redact_hints){.author_name = m->from_name,
                                      .author_name_len = m->from_name_len};
    h->author_handle = from ? dup_member(from, "handle", &h->author_handle_len) : NULL;
    c->n++;
    return m->body && m->channel ? 0 : -1;
}

/* Reads the JSON Lines corpus at path into c. Returns 0, or -1 when it cannot be read,
 * holds no message or memory runs out. */
static int read_corpus(const char *path, struct corpus *c)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (json_is_object(o))
            rc = add_message(c, o);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return c->n > 0 ? rc : -1;
}

static void free_corpus(struct corpus *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free((char *)c->m[i].body);
        free((char *)c->m[i].subject);
        free((char *)c->m[i].channel);
        free((char *)c->m[i].from_name);
        free((char *)c->m[i].from_address);
        free((char *)c->h[i].author_handle);
    }
    free(c->m);
    free(c->h);
}

static void keep_min(uint64_t *slot, uint64_t t)
{
    if (t < *slot)
        *slot = t;
}

/* One pass: every message classified alone, then every message classified and redacted;
 * the fastest times so far are kept in b. */
static void one_pass(intake_scanner *sc, intake_redact_ctx *rc, const intake_redactor *r,
                     bool names_only, const struct corpus *c, struct best *b)
{
    struct pii_spanlist found = {0};
    for (int with = 0; with < 2; with++) {
        for (size_t i = 0; i < c->n; i++) {
            intake_verdict v;
            const struct intake_span *spans;
            size_t n;
            uint64_t t0 = now_ns();
            intake_classify(sc, &c->m[i], &v);
            uint64_t t1 = now_ns();
            found.n = 0;
            if (with && names_only)
                pii_names_find(r->names, c->m[i].body, c->m[i].body_len, &c->h[i], &found);
            else if (with)
                intake_redact_find(rc, c->m[i].body, c->m[i].body_len, &c->h[i], &spans, &n);
            uint64_t t2 = now_ns();
            keep_min(with ? &b->with[i] : &b->alone[i], t1 - t0);
            if (with)
                keep_min(&b->redact[i], t2 - t1);
        }
    }
    free(found.v);
}

static void report(const struct corpus *c, const struct best *b, int passes, bool names_only)
{
    double alone = 0, with = 0, redact = 0;
    for (size_t i = 0; i < c->n; i++) {
        alone += (double)b->alone[i];
        with += (double)b->with[i];
        redact += (double)b->redact[i];
    }
    alone /= (double)c->n, with /= (double)c->n, redact /= (double)c->n;
    double added = redact + with - alone;
    printf("%zu messages, fastest of %d passes each, ns per message (%s)\n", c->n, passes,
           names_only ? "names detector only" : "all detectors");
    printf("classify alone         %8.0f\n", alone);
    printf("classify beside it     %8.0f  (%+.0f: shared caches and predictors)\n", with,
           with - alone);
    printf("redaction              %8.0f\n", redact);
    printf("redaction adds         %8.0f  = %.1f%% of classify alone\n", added,
           100.0 * added / alone);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: redact_cost RULES_DIR CORPUS.jsonl [PASSES] [all|names]\n");
        return 2;
    }
    int passes = argc > 3 ? atoi(argv[3]) : 11;
    bool names_only = argc > 4 && strcmp(argv[4], "names") == 0;
    intake_ruleset *rs = NULL;
    intake_redactor *r = NULL;
    struct corpus c = {0};
    if (intake_ruleset_load_dir(argv[1], &rs, NULL) != 0 ||
        intake_redactor_load_dir(argv[1], &r, NULL) != 0 || read_corpus(argv[2], &c) != 0) {
        fprintf(stderr, "redact_cost: cannot load the rules or the corpus\n");
        return 2;
    }
    size_t size = c.n * sizeof(uint64_t);
    struct best b = {malloc(size), malloc(size), malloc(size)};
    intake_scanner *sc = intake_scanner_new(rs);
    intake_redact_ctx *rc = intake_redact_ctx_new(r);
    int status = b.alone && b.with && b.redact && sc && rc ? 0 : 2;
    if (status == 0) {
        memset(b.alone, 0xFF, size);
        memset(b.with, 0xFF, size);
        memset(b.redact, 0xFF, size);
        for (int p = 0; p < passes; p++)
            one_pass(sc, rc, r, names_only, &c, &b);
        report(&c, &b, passes, names_only);
    }
    free(b.alone);
    free(b.with);
    free(b.redact);
    intake_redact_ctx_free(rc);
    intake_scanner_free(sc);
    intake_redactor_free(r);
    intake_ruleset_free(rs);
    free_corpus(&c);
    return status;
}
