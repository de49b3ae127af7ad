/*
 * Person names for the redactor (internal to the classifier library): name lists from
 * rules/names/ and the contexts that make a word a name (titles, sign-offs, relational
 * phrases, capitalised pairs, the author's own name).
 */
#ifndef INTAKE_PII_NAMES_H
#define INTAKE_PII_NAMES_H

#include <stddef.h>

#include "intake/diag.h"
#include "intake/redact.h"

typedef struct pii_names pii_names;

/* A growable list of spans; the struct is the caller's, `v` owned by the list. */
struct pii_spanlist {
    struct intake_span *v;
    size_t n, cap;
};

/* Appends a span. Returns 0, or -1 when memory runs out. */
int pii_spanlist_push(struct pii_spanlist *l, uint32_t start, uint32_t end, int type);

/* Loads the lists in `names_dir` (rules/names). On success stores a new object the caller
 * owns in *out and returns 0; else -1 with "file:line: message" lines in diag. */
int pii_names_load(const char *names_dir, pii_names **out, intake_diag *diag);

void pii_names_free(pii_names *nm);

/* Appends a span of type INTAKE_PII_PERSON for every person's name found in `len` bytes
 * at `text` (hints may be NULL). Read-only on nm, so threads may share it. Returns 0, or
 * -1 when memory runs out. */
int pii_names_find(const pii_names *nm, const char *text, size_t len,
                   const struct intake_redact_hints *hints, struct pii_spanlist *out);

#endif
