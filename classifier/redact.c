/*
 * The redactor: type names and placeholders, loading the pattern files of rules/redact (every pattern
 * compiled once, with JIT) and rules/names, and writing placeholders over spans. Finding
 * the spans is in redact_scan.c, the examples check in redact_examples.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact_rules.h"
#include "ruledir.h"

#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif


static const char *const type_names[INTAKE_PII_COUNT] = {
    [INTAKE_PII_PERSON] = "person",     [INTAKE_PII_PHONE] = "phone",
    [INTAKE_PII_EMAIL] = "email",       [INTAKE_PII_POSTCODE] = "postcode",
    [INTAKE_PII_ADDRESS] = "address",   [INTAKE_PII_NINO] = "nino",
    [INTAKE_PII_BANK] = "bank",         [INTAKE_PII_CARD] = "card",
    [INTAKE_PII_DOB] = "dob",
};

static const char *const placeholders[INTAKE_PII_COUNT] = {
    [INTAKE_PII_PERSON] = "[NAME]",     [INTAKE_PII_PHONE] = "[PHONE]",
    [INTAKE_PII_EMAIL] = "[EMAIL]",     [INTAKE_PII_POSTCODE] = "[POSTCODE]",
    [INTAKE_PII_ADDRESS] = "[ADDRESS]", [INTAKE_PII_NINO] = "[NINO]",
    [INTAKE_PII_BANK] = "[BANK]",       [INTAKE_PII_CARD] = "[CARD]",
    [INTAKE_PII_DOB] = "[DOB]",
};

const char *intake_pii_type_name(int type)
{
    return type >= 0 && type < INTAKE_PII_COUNT ? type_names[type] : NULL;
}

int intake_pii_type_from_name(const char *name)
{
    for (int t = 0; t < INTAKE_PII_COUNT; t++)
        if (strcmp(type_names[t], name) == 0)
            return t;
    return -1;
}

const char *intake_pii_placeholder(int type)
{
    return type >= 0 && type < INTAKE_PII_COUNT ? placeholders[type] : NULL;
}

int pii_spanlist_push(struct pii_spanlist *l, uint32_t start, uint32_t end, int type)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct intake_span *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct intake_span){.start = start, .end = end, .type = type};
    return 0;
}

/* ---- freeing ------------------------------------------------------------------------ */

void redact_detector_free(struct pii_detector *d)
{
    free(d->name);
    free(d->describe);
    for (size_t i = 0; i < d->npats; i++) {
        free(d->pats[i].src);
        pcre2_code_free(d->pats[i].re);
    }
    free(d->pats);
    free(d->any);
    for (size_t i = 0; i < d->nex; i++) {
        free(d->ex[i].text);
        free(d->ex[i].span);
    }
    free(d->ex);
}

void intake_redactor_free(intake_redactor *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        redact_detector_free(&r->det[i]);
    free(r->det);
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    free(r->files);
    for (size_t i = 0; i < r->nwords; i++)
        free(r->words[i].text);
    free(r->words);
    free(r->groups);
    pii_names_free(r->names);
    free(r);
}

/* ---- compiling ---------------------------------------------------------------------- */

/* JIT-compiles re, except under valgrind, whose view of JIT code's vector loads past
 * the subject would only be noise (the interpreter runs the same pattern). Returns true
 * when the JIT code is there. */
static bool jit(pcre2_code *re)
{
    if (RUNNING_ON_VALGRIND || pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) != 0)
        return false;
    size_t jit_size = 0;
    pcre2_pattern_info(re, PCRE2_INFO_JITSIZE, &jit_size);
    return jit_size > 0;
}

/* Whether every match of re starts at an ASCII digit: PCRE2's own analysis of the code
 * units a match can start with (its first-code-unit bitmap) holds digits only. */
static bool starts_with_digit(const pcre2_code *re)
{
    uint32_t first_type = 0;
    const uint8_t *bits = NULL;
    pcre2_pattern_info(re, PCRE2_INFO_FIRSTCODETYPE, &first_type);
    pcre2_pattern_info(re, PCRE2_INFO_FIRSTBITMAP, &bits);
    if (first_type != 0 || bits == NULL)
        return false;
    for (unsigned b = 0; b < 256; b++)
        if ((bits[b >> 3] >> (b & 7) & 1) && (b < '0' || b > '9'))
            return false;
    return true;
}

/* A pattern of an unanchored detector whose matches start at a digit is compiled again
 * with PCRE2_USE_OFFSET_LIMIT, so that the search can stop at the text's last digit
 * (redact_scan.c). Returns 0, or -1 when memory runs out. */
static int mark_digit_start(struct pii_pattern *p, const struct pii_detector *d,
                            uint32_t opts)
{
    if (d->anchor != '\0' || !starts_with_digit(p->re))
        return 0;
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p->src, PCRE2_ZERO_TERMINATED,
                                   opts | PCRE2_USE_OFFSET_LIMIT, &err, &off, NULL);
    if (re == NULL)
        return -1; /* it compiled once: only memory can run out */
    if (!starts_with_digit(re)) {
        pcre2_code_free(re);
        return 0;
    }
    pcre2_code_free(p->re);
    p->re = re;
    p->digit_start = true;
    return 0;
}

/* Compiles one pattern. Returns 0, 1 for a bad pattern (reported), or -1 when memory
 * runs out. */
static int compile_pattern(intake_redactor *r, const struct pii_detector *d,
                           struct pii_pattern *p, intake_diag *diag)
{
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    if (!p->match_case)
        opts |= PCRE2_CASELESS;
    if (d->anchor != '\0')
        opts |= PCRE2_USE_OFFSET_LIMIT;
    int err;
    PCRE2_SIZE off;
    p->re = pcre2_compile((PCRE2_SPTR)p->src, PCRE2_ZERO_TERMINATED, opts, &err, &off, NULL);
    if (p->re == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return intake_diag_add(diag, "%s:%d: detector %s: bad pattern at offset %zu: %s",
                               d->file, p->line, d->name, (size_t)off,
                               (const char *)msg) != 0 ? -1 : 1;
    }
    uint32_t groups = 0;
    pcre2_pattern_info(p->re, PCRE2_INFO_CAPTURECOUNT, &groups);
    for (size_t i = 0; i < d->ngroup; i++)
        if (d->group[i] > groups)
            return intake_diag_add(diag, "%s:%d: detector %s: the pattern has no group %u",
                                   d->file, p->line, d->name, (unsigned)d->group[i]) != 0
                       ? -1 : 1;
    if (groups > r->max_groups)
        r->max_groups = groups;
    if (mark_digit_start(p, d, opts) != 0)
        return -1;
    p->jit = jit(p->re);
    return 0;
}

static int compile_all(intake_redactor *r, intake_diag *diag)
{
    int problems = 0;
    for (size_t i = 0; i < r->n && problems >= 0; i++) {
        struct pii_detector *d = &r->det[i];
        for (size_t k = 0; k < d->npats && problems >= 0; k++) {
            int rc = compile_pattern(r, d, &d->pats[k], diag);
            problems = rc < 0 ? -1 : problems + rc;
        }
    }
    return problems;
}

/* ---- reading the folder ------------------------------------------------------------- */

/* Lists the *.pii files of dir, in name order, into r->files as full paths. Returns 0,
 * 1 when the folder cannot be read or has none (reported), or -1 when memory runs out. */
static int list_files(intake_redactor *r, const char *dir, intake_diag *diag)
{
    int rc = ruledir_list(dir, ".pii", &r->files, &r->nfiles);
    if (rc > 0)
        return intake_diag_add(diag, "%s: cannot open the redaction patterns folder", dir)
                   ? -1 : 1;
    if (rc == 0 && r->nfiles == 0)
        rc = intake_diag_add(diag, "%s: no *.pii files", dir) ? -1 : 1;
    return rc;
}

static int parse_files(intake_redactor *r, intake_diag *diag)
{
    int problems = 0;
    for (size_t i = 0; i < r->nfiles && problems >= 0; i++) {
        char *text = ruledir_read(r->files[i], diag);
        int rc = text ? redact_parse_text(r, r->files[i], text, diag) : 1;
        free(text);
        problems = rc < 0 ? -1 : problems + rc;
    }
    return problems;
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Reads, parses and compiles everything into r. Returns the number of problems, or -1. */
static int load_into(intake_redactor *r, const char *rules_dir, intake_diag *diag)
{
    char *redact_dir = join_path(rules_dir, "redact");
    char *names_dir = join_path(rules_dir, "names");
    int problems = redact_dir && names_dir ? list_files(r, redact_dir, diag) : -1;
    if (problems == 0)
        problems = parse_files(r, diag);
    if (problems == 0)
        problems = compile_all(r, diag);
    if (problems == 0 && pii_names_load(names_dir, &r->names, diag) != 0)
        problems = 1;
    free(redact_dir);
    free(names_dir);
    return problems;
}

int intake_redactor_load_dir(const char *rules_dir, intake_redactor **out, intake_diag *diag)
{
    *out = NULL;
    intake_redactor *r = calloc(1, sizeof *r);
    int problems = r ? load_into(r, rules_dir, diag) : -1;
    if (problems < 0)
        intake_diag_add(diag, "%s: out of memory while loading the redactor", rules_dir);
    if (problems != 0) {
        intake_redactor_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* ---- placeholders ------------------------------------------------------------------- */

int intake_redact_apply(const char *text, size_t len, const struct intake_span *spans,
                        size_t n, intake_buf *out)
{
    out->len = 0;
    if (intake_buf_reserve(out, len) != 0)
        return -1;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const struct intake_span *s = &spans[i];
        const char *ph = intake_pii_placeholder(s->type);
        if (s->start < at || s->end < s->start || s->end > len || ph == NULL)
            continue; /* not as intake_redact_find gives them: skipped, never overrun */
        if (intake_buf_append(out, text + at, s->start - at) != 0 ||
            intake_buf_append(out, ph, strlen(ph)) != 0)
            return -1;
        at = s->end;
    }
    return intake_buf_append(out, text + at, len - at);
}
