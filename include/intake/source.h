/*
 * Sources: one file each in gateway/sources/, each filling one struct intake_source_type.
 * A source talks to the core only through its context: submit items (durable when the call
 * returns OK), read and write its cursors, report its state, and sleep until stopped.
 */
#ifndef INTAKE_SOURCE_H
#define INTAKE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "intake/config.h"
#include "intake/httpd.h"
#include "intake/spool.h"

/* The core's side of one running source (owned by the daemon). */
typedef struct intake_source_ctx intake_source_ctx;

struct intake_source_type {
    const char *type;        /* the config's `type =` value */
    const char *description; /* one line for `intake config keys` */
    const struct intake_option *options; /* its own keys (common keys are added) */

    /* Checks the section beyond what the option table can (may be NULL). Returns 0, or -1
     * with a message (no secrets) appended to diag as "file:line: ...". */
    int (*check)(const intake_config *cfg, const struct intake_section *sec,
                 intake_diag *diag);

    /* Runs until intake_source_stopping(ctx) is true; NULL for passive sources (the pipe
     * source: items arrive through `intake submit`). Returns 0 on a clean stop, -1 when it
     * cannot go on (the daemon logs it and marks the source "error"). */
    int (*run)(intake_source_ctx *ctx);

    /* Registers the source's HTTP routes (may be NULL): called by the daemon for every
     * enabled source after the server's own routes and before it starts listening. The
     * routes' `ud` may be ctx, which outlives the server. Returns 0, or -1 with a reason
     * (no secrets) in err (errlen bytes); the daemon then does not start. Handlers run on
     * the server's threads: they submit with intake_source_submit_shared. */
    int (*mount)(intake_source_ctx *ctx, intake_httpd *httpd, char *err, size_t errlen);
};

/* The source's configuration section and whole config. Borrowed. */
const struct intake_section *intake_source_section(intake_source_ctx *ctx);
const intake_config *intake_source_config(intake_source_ctx *ctx);
const char *intake_source_name(intake_source_ctx *ctx);

/* Submits items (see intake_spool_submit: same arguments, same results) through the
 * source's own spool handle. Returns an INTAKE_SPOOL_* code. Wakes the processor. */
int intake_source_submit(intake_source_ctx *ctx, json_t *const *items, size_t n,
                         const char *cursor_key, const char *cursor_value,
                         struct intake_submit_result *results);

/* Submits items like intake_source_submit, but from any thread, any number at once:
 * blocks until the items are committed, batched with other callers' into one transaction
 * (group commit, gateway/committer.c). Returns INTAKE_SPOOL_OK with results filled (n
 * entries, the caller's; may be NULL); INTAKE_SPOOL_TEMP when the spool is busy or failing
 * for a while, or too many callers already wait (the caller should answer "try later");
 * INTAKE_SPOOL_FATAL when these items can never be stored, or when the daemon runs no
 * committer (no source of the config has a mount callback). items are borrowed. */
int intake_source_submit_shared(intake_source_ctx *ctx, json_t *const *items, size_t n,
                                struct intake_submit_result *results);

int intake_source_cursor_get(intake_source_ctx *ctx, const char *key, char **value);
int intake_source_cursor_set(intake_source_ctx *ctx, const char *key, const char *value);

/* Reports the source's state ("ok", "error", "needs_reauth") and a short reason without
 * personal data; "error" also counts an error. */
void intake_source_state(intake_source_ctx *ctx, const char *state, const char *reason);

/* Adds a status part for one piece of the source (an IMAP mailbox), named "SOURCE/sub"
 * (sub: no personal data; the whole name is cut at 63 bytes): shown in /readyz and
 * /metrics like the source's own state. Call from the source's thread. Returns a handle,
 * or -1 when the status table is full or the name too long (then states are not shown). */
int intake_source_part_add(intake_source_ctx *ctx, const char *sub);

/* Sets the state of a part made by intake_source_part_add, as intake_source_state does for
 * the source's own. part -1 is ignored. */
void intake_source_part_state(intake_source_ctx *ctx, int part, const char *state,
                              const char *reason);

/* Tells the core that one full poll finished (`intake run --until-idle` waits for one
 * from every polling source). */
void intake_source_polled(intake_source_ctx *ctx);

/* True once the daemon is shutting down. */
bool intake_source_stopping(intake_source_ctx *ctx);

/* Sleeps up to `seconds`, returning early (true) when the daemon begins to stop. */
bool intake_source_sleep(intake_source_ctx *ctx, double seconds);

/* Parses one JSON item (`len` bytes at `text`, borrowed) as a source received it and
 * fills what the source's section implies: "channel" from the section's `channel` when
 * the item has none. Returns a new object the caller owns, or NULL with a static reason
 * (never quoting the input) in *why. */
json_t *intake_item_parse(const char *text, size_t len, const struct intake_section *sec,
                          const char **why);

/* All source types, ended by a NULL entry (gateway/registry.c). */
extern const struct intake_source_type *const intake_source_types[];

/* The type named `type`, or NULL. */
const struct intake_source_type *intake_source_type_find(const char *type);

#endif
