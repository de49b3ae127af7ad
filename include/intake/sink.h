/*
 * Sinks: one file each in gateway/sinks/, each filling one struct intake_sink_type. The
 * core hands a sink one record at a time and the sink says what happened: delivered,
 * retry (optionally after a time the remote asked for), or dead (will never succeed). The
 * core keeps the delivery rows, the backoff and the dead letters; sinks never touch the
 * spool.
 */
#ifndef INTAKE_SINK_H
#define INTAKE_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "intake/config.h"

/* DELIVERED: done. RETRY: try again later. DEAD: will never succeed (dead letter).
 * SKIPPED: this sink has nothing to do for this record (e.g. an acknowledgement sink and
 * an auto-reply); the delivery is done, and `error` holds the reason (no personal data),
 * kept on the delivery row as "skipped: <reason>". */
enum intake_outcome { INTAKE_DELIVERED, INTAKE_RETRY, INTAKE_DEAD, INTAKE_SKIPPED };

#define INTAKE_SINK_BODY_KEEP 1024 /* bytes of a failed response kept for the operator */

/* What one delivery attempt did; the sink fills it. */
struct intake_delivery_result {
    enum intake_outcome outcome;
    int status;          /* remote status (HTTP code), 0 when none */
    double retry_after;  /* seconds the remote asked to wait, < 0 when it did not say */
    char error[256];     /* short reason, no message text: "HTTP 503", "timeout" */
    char response[INTAKE_SINK_BODY_KEEP + 1]; /* start of the response body, for dead */
    char case_id[128];   /* id the case system gave, "" when none */
};

/* A sink's small memory across restarts (kept in the spool, keyed by the SHA-256 of the
 * key: no address is stored). Handed to a sink by its optional attach callback. */
struct intake_sink_marks {
    void *ctx;
    /* *at receives when `key` was last marked (Unix seconds), 0 when never. Returns 0, or
     * -1 when the spool failed (a retry later may work). */
    int (*get)(void *ctx, const char *key, double *at);
    /* Marks `key` at `at`, durably. Returns 0 or -1 as above. */
    int (*set)(void *ctx, const char *key, double at);
};

struct intake_sink_type {
    const char *type;
    const char *description;
    const struct intake_option *options;

    /* Extra checks beyond the option table (may be NULL); see intake_source_type.check. */
    int (*check)(const intake_config *cfg, const struct intake_section *sec,
                 intake_diag *diag);

    /* Makes the sink's state from its section. Returns 0 and sets *state (owned by the
     * sink, freed by destroy), or -1 with a reason in err (errlen bytes, no secrets). */
    int (*create)(const intake_config *cfg, const struct intake_section *sec, void **state,
                  char *err, size_t errlen);

    /* Delivers one record (record_json: `len` bytes, borrowed; record_id: the idempotency
     * key). Fills *res. Must return within the sink's timeout. Called from one thread per
     * sink at a time. */
    void (*deliver)(void *state, const char *record_id, const char *record_json, size_t len,
                    struct intake_delivery_result *res);

    void (*destroy)(void *state);

    /* Optional (NULL: not needed). Called on the sink's delivery thread before its first
     * deliver with the sink's marks (borrowed; valid until attach is called again with
     * NULL, which happens before the thread ends and before destroy). */
    void (*attach)(void *state, const struct intake_sink_marks *marks);

    /* Optional (false: deliveries may be repeated, e.g. thanks to an idempotency key).
     * true for sinks whose repeat people would see twice (a mail, a public reply): the
     * core stores "sending" durably before each attempt, and an attempt whose outcome was
     * never stored (the daemon died during it) becomes a dead letter "outcome unknown"
     * for an operator instead of being sent again. */
    bool at_most_once;
};

/* All sink types, ended by a NULL entry (gateway/registry.c). */
extern const struct intake_sink_type *const intake_sink_types[];

/* The type named `type`, or NULL. */
const struct intake_sink_type *intake_sink_type_find(const char *type);

#endif
