/*
 * Operations endpoints: /healthz, /readyz and /metrics (Prometheus text exposition format
 * 0.0.4), rendered from the spool and the status table.
 *
 * Metrics (every label value is a source or sink name, a type, a channel, a category or a
 * state name: configuration and fixed vocabularies, never personal data):
 *   intake_spool_up                              gauge  1 when the spool could be read
 *   intake_spool_items{source,channel}           gauge  items in the spool (purge removes
 *                                                       rows, so this is not a counter)
 *   intake_spool_records{category}               gauge  records in the spool by category
 *   intake_spool_deliveries{sink,state}          gauge  deliveries by sink and state
 *   intake_queue_depth{queue}                    gauge  work waiting: queue="processor"
 *                                                       (items new), "quarantine" (items
 *                                                       quarantined), "delivery" (deliveries
 *                                                       pending), "dead_letter" (dead)
 *   intake_oldest_undelivered_age_seconds        gauge  age of the oldest item not yet
 *                                                       fully delivered, 0 when none
 *   intake_part_up{kind,name,type,state}         gauge  1 when the part's state is "ok"
 *   intake_errors_total{kind,name}               counter errors counted per part
 * When the spool cannot be opened or read, the spool families are left out and
 * intake_spool_up is 0; the part families are always there.
 *
 * Readiness (/readyz): ready means the spool takes a write now. That alone decides 200 or
 * 503: a load balancer that drops an unready gateway drops every webhook with it, and a
 * restart does not mend one mailbox's password, so a failing source or sink ("error",
 * "needs_reauth") is listed with its state and reason but does not make the gateway
 * unready; alert on intake_part_up == 0 for that.
 *
 * Spool handles are one per thread and the endpoints run on the HTTP server's connection
 * threads, so each /metrics or /readyz request opens its own handle from the spool path
 * and closes it (an SQLite open is cheap next to a scrape interval). Opening creates the
 * spool file when it is missing, as every other spool user does.
 */
#ifndef INTAKE_METRICS_H
#define INTAKE_METRICS_H

#include <stdbool.h>

#include "intake/httpd.h"
#include "intake/normalise.h"
#include "intake/spool.h"
#include "intake/status.h"

/* Appends `in` to `out` escaped as a Prometheus label value (backslash, double quote and
 * line feed become \\, \" and \n; nothing else changes). Returns 0, or -1 when memory
 * runs out. */
int intake_prom_label_escape(const char *in, intake_buf *out);

/* Appends the whole exposition to `out`. `sp` (borrowed) may be NULL when the spool could
 * not be opened; `st` (borrowed) may be NULL when there are no parts; `now` is Unix time.
 * A spool query that fails leaves the spool families out (intake_spool_up 0). Returns 0,
 * or -1 when memory runs out (out then holds a partial text). */
int intake_metrics_render(intake_spool *sp, intake_status *st, double now, intake_buf *out);

/* Appends the /readyz JSON document to `out`:
 *   {"ready": bool, "spool": "ok" | "error: <reason>",
 *    "sources": [{"name","type","state","reason","since"}], "sinks": [...]}
 * ("since" is RFC 3339 UTC). `sp` may be NULL, then `spool_error` (a short reason without
 * personal data; may be NULL) says why. *ready receives the verdict (spool writable).
 * Returns 0, or -1 when memory runs out. */
int intake_readyz_render(intake_spool *sp, const char *spool_error, intake_status *st,
                         intake_buf *out, bool *ready);

/* The endpoints' shared state: the spool path and the status table. */
typedef struct intake_ops intake_ops;

/* Makes the endpoints' state. spool_path is copied; st is borrowed (may be NULL) and must
 * outlive the server the endpoints are registered on. Returns NULL when memory runs out
 * or spool_path is NULL. The caller owns the result: free it with intake_ops_free after
 * stopping that server. */
intake_ops *intake_ops_new(const char *spool_path, intake_status *st);

/* Registers GET /healthz (200 "ok\n", no spool access; exempt from the server's
 * max_inflight, INTAKE_HTTP_UNLIMITED), GET /readyz (200 or 503, JSON as
 * above) and GET /metrics (text/plain; version=0.0.4) on a server that is not running.
 * Returns 0, or -1 when a route cannot be added (see intake_httpd_route). */
int intake_ops_register(intake_ops *ops, intake_httpd *h);

/* Frees the state. NULL is allowed. */
void intake_ops_free(intake_ops *ops);

#endif
