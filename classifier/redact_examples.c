/*
 * Detector examples: every detector carries sentences with the span it must find
 * ("example+ TEXT => SPAN") and sentences where it must find nothing ("example-"). Each
 * runs through the detector alone, prefilter included, so a wrong 'needs' line fails
 * here as it would on real text.
 */
#include <stdlib.h>
#include <string.h>

#include "redact_rules.h"

/* True when the detector found `span` (its first occurrence in the text) exactly, and no
 * other span of its overlaps it: one that runs on or starts early is a failure too. */
static bool found_span(const struct pii_spanlist *l, const char *text, const char *span)
{
    uint32_t a = (uint32_t)(strstr(text, span) - text), b = a + (uint32_t)strlen(span);
    bool exact = false;
    for (size_t i = 0; i < l->n; i++) {
        const struct intake_span *s = &l->v[i];
        if (s->start == a && s->end == b)
            exact = true;
        else if (s->start < b && s->end > a)
            return false;
    }
    return exact;
}

/* The found span to show when an example+ fails: one overlapping the wanted span, else
 * the first. */
static const struct intake_span *wrong_span(const struct pii_spanlist *l, const char *text,
                                            const char *span)
{
    uint32_t a = (uint32_t)(strstr(text, span) - text), b = a + (uint32_t)strlen(span);
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].start < b && l->v[i].end > a)
            return &l->v[i];
    return &l->v[0];
}

/* Checks one example. Returns 0 when it holds, 1 when it fails (reported), or -1. */
static int check_one(intake_redact_ctx *c, size_t i, const struct pii_detector *d,
                     const struct pii_example *ex, struct pii_spanlist *found,
                     intake_diag *diag)
{
    found->n = 0;
    size_t len = strlen(ex->text);
    if (redact_run_detector(c, i, ex->text, len, found) != 0)
        return -1;
    if (ex->positive ? found_span(found, ex->text, ex->span) : found->n == 0)
        return 0;
    int rc;
    if (!ex->positive) {
        const struct intake_span *s = &found->v[0];
        rc = intake_diag_add(diag, "%s:%d: detector %s finds '%.*s' in its example-",
                             d->file, ex->line, d->name, (int)(s->end - s->start),
                             ex->text + s->start);
    } else if (found->n == 0) {
        rc = intake_diag_add(diag, "%s:%d: detector %s finds nothing in its example+",
                             d->file, ex->line, d->name);
    } else {
        const struct intake_span *s = wrong_span(found, ex->text, ex->span);
        rc = intake_diag_add(diag, "%s:%d: detector %s finds '%.*s', not '%s'", d->file,
                             ex->line, d->name, (int)(s->end - s->start),
                             ex->text + s->start, ex->span);
    }
    return rc != 0 ? -1 : 1;
}

int intake_redactor_check_examples(const intake_redactor *r, intake_diag *diag,
                                   size_t *checked)
{
    intake_redact_ctx *c = intake_redact_ctx_new(r);
    if (c == NULL)
        return -1;
    struct pii_spanlist found = {0};
    int failures = 0;
    size_t count = 0;
    for (size_t i = 0; i < r->n && failures >= 0; i++) {
        const struct pii_detector *d = &r->det[i];
        for (size_t k = 0; k < d->nex && failures >= 0; k++) {
            int rc = check_one(c, i, d, &d->ex[k], &found, diag);
            failures = rc < 0 ? -1 : failures + rc;
            count++;
        }
    }
    free(found.v);
    intake_redact_ctx_free(c);
    if (checked)
        *checked = count;
    return failures;
}
