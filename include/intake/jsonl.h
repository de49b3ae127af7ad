/*
 * The `intake classify` contract (../shared/DESIGN.md): JSON Lines in, one JSON line out
 * per input line, in input order. A bad line gets {"id": ..., "error": "..."} and the run
 * goes on. Error texts never quote the message.
 */
#ifndef INTAKE_JSONL_H
#define INTAKE_JSONL_H

#include <stdio.h>

#include "intake/classifier.h"
#include "intake/redact.h"

/* Which items the contract redacts. A redacted item's redacted_body is its body with each
 * span of personal data replaced by a placeholder ("[PHONE]"), and its redactions list
 * the spans as {type, start, end}, UTF-8 byte offsets into the original body (only the
 * first INTAKE_REDACT_MAX_SCAN bytes of a body are searched). Any other item gets its
 * body unchanged and an empty redactions array. */
enum intake_redact_mode {
    INTAKE_REDACT_PUBLIC, /* only items with "public": true (the default) */
    INTAKE_REDACT_ALL,
    INTAKE_REDACT_NONE
};

/* Parses "all", "public" or "none". Returns 0 and sets *mode, or -1 for anything else. */
int intake_redact_mode_parse(const char *s, enum intake_redact_mode *mode);

#define INTAKE_JSONL_MAX_LINE (16u * 1024 * 1024) /* longer lines get an error line */

struct intake_jsonl_stats {
    unsigned long lines;
    unsigned long errors;
};

/* Reads JSON Lines from `in` until EOF and writes one result line per input line to `out`,
 * classifying with `rs` and redacting the items `mode` selects with `red` (both borrowed;
 * a scanner and a redaction context are made for the call). `red` may be NULL: then no
 * item is redacted, whatever the mode. An item's from.name and from.handle are the
 * redactor's hints. Returns 0 when every line was answered, or -1 when reading, writing
 * or memory failed (then `out` may hold fewer lines than were read). *stats, if not NULL,
 * receives counts. */
int intake_jsonl_classify_redact(FILE *in, FILE *out, const intake_ruleset *rs,
                                 const intake_redactor *red, enum intake_redact_mode mode,
                                 struct intake_jsonl_stats *stats);

/* The same without a redactor: every item gets its body unchanged and []. */
int intake_jsonl_classify(FILE *in, FILE *out, const intake_ruleset *rs,
                          enum intake_redact_mode mode, struct intake_jsonl_stats *stats);

#endif
