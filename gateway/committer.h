/*
 * Group commit for sources whose items arrive on many threads at once (webhook handlers
 * on the HTTP server's connection threads). Callers queue a batch and block; one committer
 * thread, with its own spool handle, takes everything queued, stores it in one transaction
 * per source, and wakes every caller with its own result. Durability then costs one fsync
 * per group, not one per request.
 */
#ifndef INTAKE_GATEWAY_COMMITTER_H
#define INTAKE_GATEWAY_COMMITTER_H

#include <stddef.h>

#include <jansson.h>

#include "intake/spool.h"

#define INTAKE_COMMITTER_MAX_QUEUE 1024 /* requests waiting at most; more get TEMP */
#define INTAKE_COMMITTER_MAX_BATCH 512  /* items taken into one round at most */

typedef struct intake_committer intake_committer;

/* Opens a spool handle on `spool_path` (borrowed) and starts the committer thread, which
 * queues at most `max_queue` requests (0: INTAKE_COMMITTER_MAX_QUEUE). The environment
 * variable INTAKE_COMMIT_BATCH=N (1 <= N < INTAKE_COMMITTER_MAX_BATCH), read here, lowers
 * the items taken into one round; it exists for bench/webhooks, whose N=1 run commits one
 * request per transaction to measure what group commit saves. Not a setting: unset in
 * production. Returns the
 * committer (the caller owns it; stop with intake_committer_stop), or NULL with a reason
 * (no personal data) in err when the spool cannot be opened or the thread cannot start. */
intake_committer *intake_committer_start(const char *spool_path, size_t max_queue, char *err,
                                         size_t errlen);

/* Stores `n` items (borrowed, as for intake_spool_submit) for `source` (borrowed) and
 * blocks until they are committed together with whatever else was queued. Thread-safe.
 * Returns INTAKE_SPOOL_OK with results[i] filled (results: n entries, the caller's; may
 * be NULL); INTAKE_SPOOL_TEMP when the queue is full, the committer is stopping or the
 * spool failed for a temporary reason; INTAKE_SPOOL_FATAL when these items can never be
 * stored (another caller's bad items do not fail this one). */
int intake_committer_submit(intake_committer *c, const char *source, json_t *const *items,
                            size_t n, struct intake_submit_result *results);

/* Stops the thread once the queue is empty (requests still queued are committed first;
 * submits after this call get TEMP), closes the spool handle and frees the committer.
 * Call only when no thread can still submit. NULL is allowed. */
void intake_committer_stop(intake_committer *c);

#endif
