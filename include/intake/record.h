/*
 * The record (contract in ../shared/DESIGN.md): what a classified item becomes and what
 * sinks deliver. JSON, "schema": "intake.record/1".
 */
#ifndef INTAKE_RECORD_H
#define INTAKE_RECORD_H

#include <stdbool.h>

#include <jansson.h>

#include "intake/calendar.h"
#include "intake/classifier.h"

#define INTAKE_RECORD_SCHEMA "intake.record/1"

/* Everything a record is made from. Every pointer is borrowed. */
struct intake_record_in {
    const char *record_id;   /* the spool's UUIDv7 */
    const char *source;      /* source name from the config */
    const char *received_at; /* RFC 3339 UTC */
    const json_t *item;      /* the item as submitted */
    const intake_ruleset *rs;
    const intake_verdict *verdict;
    const struct intake_deadlines *deadlines;
    const char *policy;       /* the policy profile's name */
    const char *text;         /* the text to carry (redacted when redaction applies);
                               * NULL: the item's body */
    const json_t *redactions; /* array of {type, start, end}; NULL: none */
    const char *original_text; /* when not NULL, kept as "original_text" (an operator's
                                * choice, for a case system that restricts that field) */
    const char *route;        /* the team queue from [routing] ("route"); NULL: null */
    const char *automated;     /* why the item is an automated message (the item's
                                * "automated"), or NULL: kept as "automated", and "automated"
                                * is added to the record's rules */
};

/* The default case-reference pattern ([rules] case_reference): "case ref: HC-123456",
 * "complaint no. 20481", "Your complaint CAS-0042". */
#define INTAKE_CASE_REFERENCE_DEFAULT                                                      \
    "\\b(?:case|complaint|ticket|incident|enquiry|ref|reference)"                           \
    "(?:\\s+(?:no\\.?|number|ref(?:erence)?|id))?\\s*[:#]?\\s*"                            \
    "((?:[A-Z]{1,5}[-/]?)?[0-9]{4,12})\\b"

typedef struct intake_recorder intake_recorder;

/* Makes a record builder (it holds the compiled pattern that finds case references).
 * Returns NULL when memory runs out. The caller owns it. */
intake_recorder *intake_recorder_new(void);

/* Makes a record builder that finds case references with `pattern` (borrowed; PCRE2,
 * matched caseless and as UTF-8 against the subject, then the text; NULL: the default).
 * The reference is the pattern's capturing group, or its whole match when it has none.
 * Returns NULL with a reason in err (errlen bytes) when the pattern does not compile or
 * has more than one capturing group, or memory runs out. The caller owns the result. */
intake_recorder *intake_recorder_new_with(const char *pattern, char *err, size_t errlen);

void intake_recorder_free(intake_recorder *r);

/* Builds the record. Returns a new object the caller owns, or NULL when memory runs out. */
json_t *intake_record_build(intake_recorder *r, const struct intake_record_in *in);

/* The flags of a verdict as comma-separated names ("damp_mould,urgent"), into buf
 * (buflen bytes, cut when too small). Returns buf. */
char *intake_flags_join(uint32_t flags, char *buf, size_t buflen);

#endif
