/*
 * The processor: takes new items from the spool, classifies them, computes their
 * deadlines, builds their records and queues one delivery per sink. Used by one thread.
 */
#ifndef INTAKE_GATEWAY_PROCESSOR_H
#define INTAKE_GATEWAY_PROCESSOR_H

#include <stddef.h>

#include "intake/calendar.h"
#include "intake/classifier.h"
#include "intake/jsonl.h"
#include "intake/redact.h"
#include "intake/routing.h"
#include "intake/spool.h"

/* Borrowed for the processor's lifetime. */
struct intake_processor_conf {
    const intake_calendar *calendar;
    const struct intake_policy *policy;
    const char *const *sinks; /* names of the enabled sinks */
    size_t nsinks;
    enum intake_redact_mode redact; /* whose text is redacted ([privacy] redact) */
    bool keep_original;             /* [privacy] keep_original */
    const struct intake_routing *routing; /* [routing]; NULL: no routes */
    const char *case_reference;     /* [rules] case_reference; NULL: the default */
};

typedef struct intake_processor intake_processor;

/* Makes a processor classifying with `rs` and redacting with `rd` (both borrowed until
 * replaced or freed). Returns NULL when memory runs out. */
intake_processor *intake_processor_new(const struct intake_processor_conf *conf,
                                       const intake_ruleset *rs, const intake_redactor *rd);

/* Switches to another rule set and redactor (borrowed); the old ones are no longer used
 * after this. Returns 0, or -1 when memory runs out (the old ones stay in use). */
int intake_processor_set_rules(intake_processor *p, const intake_ruleset *rs,
                               const intake_redactor *rd);

void intake_processor_free(intake_processor *p);

/* Processes at most one new item. Returns 1 when one was processed or quarantined, 0
 * when none was waiting, or an INTAKE_SPOOL_* error code (< 0). */
int intake_processor_step(intake_processor *p, intake_spool *sp);

#endif
