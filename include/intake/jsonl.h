/*
 * The `intake classify` contract (../shared/DESIGN.md): JSON Lines in, one JSON line out
 * per input line, in input order. A bad line gets {"id": ..., "error": "..."} and the run
 * goes on. Error texts never quote the message.
 */
#ifndef INTAKE_JSONL_H
#define INTAKE_JSONL_H

#include <stdio.h>

#include "intake/classifier.h"

/* Which items the contract redacts. Redaction itself is not built yet: until it is, every
 * mode returns the body unchanged as redacted_body and an empty redactions array, as the
 * foundation issue specifies; the option is parsed and checked so that callers need not
 * change when it arrives. */
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
 * classifying with `rs` (borrowed; a scanner is made for the call). Returns 0 when every
 * line was answered, or -1 when reading, writing or memory failed (then `out` may hold
 * fewer lines than were read). *stats, if not NULL, receives counts. */
int intake_jsonl_classify(FILE *in, FILE *out, const intake_ruleset *rs,
                          enum intake_redact_mode mode, struct intake_jsonl_stats *stats);

#endif
