/*
 * Redaction of personal data (UK formats): finds spans of personal data in a text and
 * replaces each with a typed placeholder ("[PHONE]").
 *
 * Detectors are data wherever a pattern can be: rules/redact/ holds the pattern files
 * (PCRE2 patterns, each with a type, an optional named check done in code, such as a Luhn
 * or NINO-prefix check, and example sentences), rules/names/ the first-name and surname
 * lists. Overlapping spans resolve to the longest.
 *
 * Part of the classifier library: no global mutable state, no printing. A loaded
 * redactor is read-only and may be shared by threads; each thread uses its own context.
 */
#ifndef INTAKE_REDACT_H
#define INTAKE_REDACT_H

#include <stddef.h>
#include <stdint.h>

#include "intake/diag.h"
#include "intake/normalise.h" /* intake_buf */

enum intake_pii_type {
    INTAKE_PII_PERSON,
    INTAKE_PII_PHONE,
    INTAKE_PII_EMAIL,
    INTAKE_PII_POSTCODE,
    INTAKE_PII_ADDRESS,
    INTAKE_PII_NINO,
    INTAKE_PII_BANK,
    INTAKE_PII_CARD,
    INTAKE_PII_DOB,
    INTAKE_PII_COUNT
};

/* The contract name of a type ("person", "phone", ... as in the corpus FORMAT.md), or NULL
 * when out of range. Static. */
const char *intake_pii_type_name(int type);

/* Looks a type up by contract name. Returns the type, or -1. */
int intake_pii_type_from_name(const char *name);

/* The placeholder of a type ("[NAME]", "[PHONE]", "[EMAIL]", "[POSTCODE]", "[ADDRESS]",
 * "[NINO]", "[BANK]", "[CARD]", "[DOB]"), or NULL when out of range. Static. */
const char *intake_pii_placeholder(int type);

/* One span of personal data: UTF-8 byte offsets [start, end) into the text given. */
struct intake_span {
    uint32_t start, end;
    int type; /* enum intake_pii_type */
};

typedef struct intake_redactor intake_redactor;
typedef struct intake_redact_ctx intake_redact_ctx;

/* Loads the detectors under `rules_dir` (rules_dir/redact/ and rules_dir/names/). On
 * success stores a redactor the caller owns (free with intake_redactor_free) and returns
 * 0; on failure returns -1, leaves *out NULL and appends "file:line: message" lines to
 * diag (may be NULL). */
int intake_redactor_load_dir(const char *rules_dir, intake_redactor **out, intake_diag *diag);

/* Frees a redactor. NULL is allowed; no context made from it may be used afterwards. */
void intake_redactor_free(intake_redactor *r);

/* Runs every detector's example sentences. Returns the number that failed (0 when all
 * pass), appending "file:line: message" per failure to diag; -1 when memory runs out.
 * *checked (may be NULL) receives the number run. */
int intake_redactor_check_examples(const intake_redactor *r, intake_diag *diag,
                                   size_t *checked);

/* Makes a per-thread context (match data, span lists). The redactor is borrowed and must
 * outlive it. NULL when memory runs out. */
intake_redact_ctx *intake_redact_ctx_new(const intake_redactor *r);

/* Frees a context. NULL is allowed. */
void intake_redact_ctx_free(intake_redact_ctx *c);

/* What else is known about the text's author. Borrowed; any pointer may be NULL. */
struct intake_redact_hints {
    const char *author_name; /* display name: its parts found in the text are names */
    size_t author_name_len;
    const char *author_handle; /* social handle ("@jsmith"), when the item has one */
    size_t author_handle_len;
};

/* Finds the personal data in `len` bytes at `text` (need not be valid UTF-8 or
 * NUL-terminated; only the first INTAKE_REDACT_MAX_SCAN bytes are searched). On success
 * returns 0 and points *spans at `*n` spans, sorted by start, not overlapping (the longest
 * wins an overlap); the array belongs to the context and stays valid until its next
 * intake_redact_find or free. Returns -1 when memory runs out. hints may be NULL. */
#define INTAKE_REDACT_MAX_SCAN (512u * 1024)
int intake_redact_find(intake_redact_ctx *c, const char *text, size_t len,
                       const struct intake_redact_hints *hints,
                       const struct intake_span **spans, size_t *n);

/* Writes `text` with each span replaced by its type's placeholder into `out` (replacing
 * what was there). Spans must be sorted and not overlap, as intake_redact_find gives them.
 * Returns 0, or -1 when memory runs out. */
int intake_redact_apply(const char *text, size_t len, const struct intake_span *spans,
                        size_t n, intake_buf *out);

#endif
