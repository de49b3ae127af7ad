/*
 * The spool: the one module that owns the SQLite database (WAL). Sources, the processor,
 * sinks and the admin CLI never run SQL themselves; they call these functions.
 *
 * Tables: items (unique on source + source_id; the item JSON as received, its record id, a
 * state and an attempt count), records (the record JSON), deliveries (one row per record
 * and sink: state, attempts, next try, last error, response), cursors (per source, key =
 * value), tombstones (the keys of purged items) and meta (user_version holds the schema
 * version; older spools are migrated on open). Item states: "new" (waiting for the
 * processor), "processed" (record made, deliveries pending or done) and "quarantined" (the
 * processor failed on it INTAKE_SPOOL_MAX_PROCESS times). Delivery states: "pending", "done", "dead".
 *
 * Errors: every function returns INTAKE_SPOOL_OK (0) on success, INTAKE_SPOOL_TEMP when a
 * retry later may succeed (database busy or locked, disk full, I/O error) and
 * INTAKE_SPOOL_FATAL otherwise (corrupt database, schema newer than this program, out of
 * memory, misuse). A short reason is kept per handle (intake_spool_error); it never holds
 * message text.
 *
 * Threads: one handle per thread. Several handles, in one process or several, may use one
 * database at once (a daemon and `intake submit`, say).
 */
#ifndef INTAKE_SPOOL_H
#define INTAKE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define INTAKE_SPOOL_OK 0
#define INTAKE_SPOOL_TEMP (-1)
#define INTAKE_SPOOL_FATAL (-2)

#define INTAKE_SPOOL_MAX_PROCESS 3   /* processor attempts before quarantine */
#define INTAKE_RECORD_ID_LEN 36      /* a UUID in text form */

typedef struct intake_spool intake_spool;

/* Opens (creating and migrating when needed) the spool at `path`. Stores a handle the
 * caller owns in *out (free with intake_spool_close) and returns INTAKE_SPOOL_OK; on error
 * *out is NULL and, when err is not NULL, a reason is written there (errlen bytes). */
int intake_spool_open(const char *path, intake_spool **out, char *err, size_t errlen);

/* Closes a handle. NULL is allowed. */
void intake_spool_close(intake_spool *sp);

/* The reason for the last failure on this handle. Owned by the handle. */
const char *intake_spool_error(const intake_spool *sp);

/* ---- sources ---- */

/* What submitting one item did. */
struct intake_submit_result {
    char record_id[INTAKE_RECORD_ID_LEN + 1]; /* the new, or the earlier, record id */
    bool duplicate; /* (source, source_id) was already in the spool: nothing changed */
};

/* Stores items durably (synchronous=FULL; one transaction for all n) and, when
 * cursor_key is not NULL, sets that source cursor in the same transaction. Each item is a
 * JSON object (borrowed) with at least string "id" (the source_id), "channel" and "body";
 * it may carry "subject", "public", "from" {name, address, handle}, "received_at"
 * (RFC 3339; default now), "thread", "attachments" and other members, which are kept.
 * A record id (UUIDv7) is assigned on first sight. results (n entries, the caller's) may be
 * NULL. Returns OK only once the transaction is committed; an item without the required
 * members makes the whole call fail with FATAL and nothing stored. */
int intake_spool_submit(intake_spool *sp, const char *source, json_t *const *items, size_t n,
                        const char *cursor_key, const char *cursor_value,
                        struct intake_submit_result *results);

/* Checks that an item has the members intake_spool_submit needs. Returns NULL when it
 * does, else a static reason. */
const char *intake_spool_item_invalid(const json_t *item);

/* Reads a source cursor into *value (the caller owns it; free()); *value is NULL when the
 * cursor was never set. */
int intake_spool_cursor_get(intake_spool *sp, const char *source, const char *key,
                            char **value);

/* Sets a source cursor (durably). */
int intake_spool_cursor_set(intake_spool *sp, const char *source, const char *key,
                            const char *value);

/* ---- the processor ---- */

/* One item claimed for processing. Every pointer is owned by the struct; free with
 * intake_spool_claim_free. */
struct intake_claim {
    int64_t item;       /* row id */
    char *record_id;
    char *source;
    char *received_at;  /* RFC 3339, UTC */
    json_t *item_json;  /* the item as submitted */
    int attempt;        /* 1 for the first try */
};

/* Claims the oldest "new" item: its attempt count is raised and committed before this
 * returns, so a crash while processing it still counts. One processor thread at a time:
 * a claimed item stays "new" until its record is stored, so a second claimer would take
 * it too. Items that already used INTAKE_SPOOL_MAX_PROCESS attempts are quarantined on
 * the way ("quarantined" count in *quarantined, which may be NULL). Returns OK with *found set to whether an item was
 * claimed. */
int intake_spool_claim(intake_spool *sp, struct intake_claim *c, bool *found,
                       unsigned *quarantined);

/* Frees what a claim holds and zeroes it. */
void intake_spool_claim_free(struct intake_claim *c);

/* Stores the record of a claimed item and one pending delivery per sink name (nsinks
 * entries, borrowed), and marks the item processed, in one transaction. `category` and
 * `flags` (comma-separated names) are kept as columns for listings and metrics. */
int intake_spool_store_record(intake_spool *sp, const struct intake_claim *c,
                              const char *record_json, const char *category,
                              const char *flags, const char *const *sinks, size_t nsinks);

/* Gives back the attempt a claim counted, when processing failed for a reason that is
 * not the item's (the spool was busy, memory ran out), so that only real poison uses up
 * the item's tries. */
int intake_spool_unclaim(intake_spool *sp, int64_t item);

/* Quarantines an item with a short reason (no message text). */
int intake_spool_quarantine(intake_spool *sp, int64_t item, const char *reason);

/* ---- sinks ---- */

/* One delivery due now. Owned by the struct; free with intake_spool_delivery_free. */
struct intake_delivery {
    int64_t item;
    char *record_id;
    char *record_json;
    int attempts;       /* earlier attempts */
};

/* Finds the pending delivery for `sink` whose next try is due (at or before `now`, Unix
 * seconds), oldest first. Returns OK with *found. When none is due, *next_due (may be
 * NULL) receives the earliest next try of that sink, or 0 when nothing is pending. */
int intake_spool_next_delivery(intake_spool *sp, const char *sink, double now,
                               struct intake_delivery *d, bool *found, double *next_due);

void intake_spool_delivery_free(struct intake_delivery *d);

/* Outcomes of one attempt. `status` is the remote status (HTTP code; 0 when none).
 * done: `case_id` may be NULL. retry: the next try is at `next_try`. dead: `error` and
 * `response` (first 1 KiB of the body, may be NULL) are kept for the operator. */
int intake_spool_delivery_done(intake_spool *sp, int64_t item, const char *sink, int status,
                               const char *case_id);
/* Marks a pending delivery "sending" (durably) before an attempt whose repeat people would
 * see (intake_sink_type.at_most_once). Its outcome is stored with the calls below as
 * usual; if none ever is, intake_spool_delivery_recover finds it. */
int intake_spool_delivery_begin(intake_spool *sp, int64_t item, const char *sink);

/* Dead-letters every delivery of `sink` left "sending" by a daemon that died during the
 * attempt (outcome unknown: the mail or reply may or may not have gone out); *n receives
 * how many (may be NULL). Call when the sink starts, before its first attempt. */
int intake_spool_delivery_recover(intake_spool *sp, const char *sink, long *n);

/* skipped: done, with `note` ("skipped: ...", no personal data) kept as the row's error. */
int intake_spool_delivery_skipped(intake_spool *sp, int64_t item, const char *sink,
                                  const char *note);
int intake_spool_delivery_retry(intake_spool *sp, int64_t item, const char *sink, int status,
                                double next_try, const char *error);
int intake_spool_delivery_dead(intake_spool *sp, int64_t item, const char *sink, int status,
                               const char *error, const char *response);

/* ---- sink marks: a sink's small memory across restarts ---- */

/* Remembers that `sink` did something for `key` at `at` (Unix seconds), durably, replacing
 * an earlier mark of the same key. Only the key's SHA-256 is stored, never the key (keys
 * may hold addresses). Marks older than the retention cutoff (at least 30 days) go with
 * intake_spool_purge. */
int intake_spool_mark_set(intake_spool *sp, const char *sink, const char *key, double at);

/* *at receives the time `key` was last marked for `sink`, or 0 when it never was. */
int intake_spool_mark_get(intake_spool *sp, const char *sink, const char *key, double *at);

/* ---- operators, metrics, retention ---- */

struct intake_spool_stats {
    long items_new, items_processed, items_quarantined;
    long deliveries_pending, deliveries_done, deliveries_dead;
    double oldest_undelivered; /* received time (Unix s) of the oldest item not yet fully
                                * delivered, 0 when none */
};

int intake_spool_stats(intake_spool *sp, struct intake_spool_stats *st);

/* Called once per group with its labels and count (labels borrowed for the call). */
typedef void (*intake_spool_count_fn)(void *ud, const char *a, const char *b, long count);

enum intake_spool_grouping {
    INTAKE_COUNT_ITEMS_BY_SOURCE_CHANNEL, /* a = source, b = channel */
    INTAKE_COUNT_ITEMS_BY_STATE,          /* a = state, b = "" */
    INTAKE_COUNT_RECORDS_BY_CATEGORY,     /* a = category, b = "" */
    INTAKE_COUNT_DELIVERIES_BY_SINK_STATE /* a = sink, b = state */
};

int intake_spool_count(intake_spool *sp, enum intake_spool_grouping g,
                       intake_spool_count_fn fn, void *ud);

/* One row of a listing: identifiers and labels only, never message text. Borrowed for
 * the callback. */
struct intake_spool_row {
    const char *record_id, *source, *source_id, *channel, *received_at, *state;
    const char *category;  /* NULL before processing */
    const char *deliveries; /* "sink:state,..." */
    int attempts;
    const char *flags;      /* "damp_mould,urgent", "" when none or not processed */
};
typedef int (*intake_spool_row_fn)(void *ud, const struct intake_spool_row *row);

/* Lists items, newest first, optionally only those in `state` (an item state, or "dead",
 * "pending" or "done" for items with a delivery in that state); at most
 * `limit` rows (0 = all). The callback may return non-zero to stop. */
int intake_spool_list(intake_spool *sp, const char *state, long limit,
                      intake_spool_row_fn fn, void *ud);

/* Builds a JSON object describing one item for operators: ids, state, attempts, error,
 * deliveries with their states, errors and responses; with_text adds the item and record
 * JSON. `id` is a record id or its unique prefix. Stores a new object in *out (the caller
 * owns it); *out is NULL when no item matches. */
int intake_spool_show(intake_spool *sp, const char *id, bool with_text, json_t **out);

/* Makes dead deliveries (and a quarantined item) pending again, due now: one item by
 * record id (or unique prefix), or every dead delivery when id is NULL. *changed receives
 * the number of deliveries and items changed. */
int intake_spool_retry(intake_spool *sp, const char *id, long *changed);

/* Deletes items whose deliveries all finished more than `days` days before `now` (with
 * their records and deliveries), and sink marks older than that or 30 days, whichever is
 * longer (the longest window a sink remembers, smtp's repeat_window). Each item leaves a
 * tombstone (source, source_id, record id),
 * so a late re-delivery of it is still a duplicate. Dead letters and quarantined items
 * stay. *purged receives the number of items deleted. */
int intake_spool_purge(intake_spool *sp, double now, double days, long *purged);

/* Whether the database takes a write now (a tiny write, rolled back, waiting at most 1 s
 * for a lock). For /readyz. */
int intake_spool_writable(intake_spool *sp);

#endif
