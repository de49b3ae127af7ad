/* /healthz, /readyz and /metrics: see include/intake/metrics.h. */
#include "intake/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/* ---- Prometheus text ---- */

int intake_prom_label_escape(const char *in, intake_buf *out)
{
    const char *run = in;
    for (const char *p = in;; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (esc == NULL && *p != '\0')
            continue;
        if (intake_buf_append(out, run, (size_t)(p - run)) != 0)
            return -1;
        if (*p == '\0')
            return 0;
        if (intake_buf_append(out, esc, 2) != 0)
            return -1;
        run = p + 1;
    }
}

static int put(intake_buf *out, const char *s)
{
    return intake_buf_append(out, s, strlen(s));
}

static int putf(intake_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int putf(intake_buf *out, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    return intake_buf_append(out, tmp, (size_t)n);
}

/* # HELP and # TYPE lines of one family. */
static int family(intake_buf *out, const char *name, const char *type, const char *help)
{
    return putf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: name{k1="v1",...} value. keys/vals hold n labels (NULL keys skipped). */
static int sample(intake_buf *out, const char *name, const char *const *keys,
                  const char *const *vals, int n, const char *value)
{
    int rc = put(out, name);
    const char *sep = "{";
    for (int i = 0; rc == 0 && i < n; i++) {
        if (keys[i] == NULL)
            continue;
        rc = putf(out, "%s%s=\"", sep, keys[i]);
        if (rc == 0)
            rc = intake_prom_label_escape(vals[i] != NULL ? vals[i] : "", out);
        if (rc == 0)
            rc = put(out, "\"");
        sep = ",";
    }
    if (rc == 0 && sep[0] == ',')
        rc = put(out, "}");
    return rc == 0 ? putf(out, " %s\n", value) : -1;
}

static int sample_long(intake_buf *out, const char *name, const char *const *keys,
                       const char *const *vals, int n, long v)
{
    char num[32];
    snprintf(num, sizeof num, "%ld", v);
    return sample(out, name, keys, vals, n, num);
}

/* ---- spool families ---- */

struct count_ctx {
    intake_buf *out;
    const char *name;
    const char *keys[2]; /* keys[1] NULL: one label */
    int err;
};

static void count_row(void *ud, const char *a, const char *b, long count)
{
    struct count_ctx *cc = ud;
    const char *vals[2] = {a, b};
    if (cc->err == 0)
        cc->err = sample_long(cc->out, cc->name, cc->keys, vals, 2, count);
}

/* One family from an intake_spool_count grouping. Returns 0, -1 (memory) or 1 (spool). */
static int count_family(intake_spool *sp, intake_buf *out, enum intake_spool_grouping g,
                        const char *name, const char *help, const char *k1, const char *k2)
{
    struct count_ctx cc = {out, name, {k1, k2}, 0};
    if (family(out, name, "gauge", help) != 0)
        return -1;
    if (intake_spool_count(sp, g, count_row, &cc) != INTAKE_SPOOL_OK)
        return 1;
    return cc.err;
}

static int queue_family(intake_buf *out, const struct intake_spool_stats *s, double now)
{
    static const char *const key[1] = {"queue"};
    const char *const names[4] = {"processor", "quarantine", "delivery", "dead_letter"};
    const long depth[4] = {s->items_new, s->items_quarantined, s->deliveries_pending,
                           s->deliveries_dead};
    int rc = family(out, "intake_queue_depth", "gauge",
                    "Work waiting: new items, quarantined items, pending and dead deliveries.");
    for (int i = 0; rc == 0 && i < 4; i++)
        rc = sample_long(out, "intake_queue_depth", key, &names[i], 1, depth[i]);
    double age = s->oldest_undelivered > 0 && now > s->oldest_undelivered
                     ? now - s->oldest_undelivered
                     : 0;
    char num[32];
    snprintf(num, sizeof num, "%.3f", age);
    if (rc == 0)
        rc = family(out, "intake_oldest_undelivered_age_seconds", "gauge",
                    "Age of the oldest item not yet fully delivered (0 when none).");
    if (rc == 0)
        rc = sample(out, "intake_oldest_undelivered_age_seconds", NULL, NULL, 0, num);
    return rc;
}

/* Every spool family into out. Returns 0, -1 (memory) or 1 (a spool query failed). */
static int spool_families(intake_spool *sp, double now, intake_buf *out)
{
    int rc = count_family(sp, out, INTAKE_COUNT_ITEMS_BY_SOURCE_CHANNEL,
                          "intake_spool_items", "Items in the spool by source and channel.",
                          "source", "channel");
    if (rc == 0)
        rc = count_family(sp, out, INTAKE_COUNT_RECORDS_BY_CATEGORY, "intake_spool_records",
                          "Records in the spool by category.", "category", NULL);
    if (rc == 0)
        rc = count_family(sp, out, INTAKE_COUNT_DELIVERIES_BY_SINK_STATE,
                          "intake_spool_deliveries", "Deliveries in the spool by sink and state.",
                          "sink", "state");
    struct intake_spool_stats st;
    if (rc == 0 && intake_spool_stats(sp, &st) != INTAKE_SPOOL_OK)
        rc = 1;
    if (rc == 0)
        rc = queue_family(out, &st, now);
    return rc;
}

/* ---- part families ---- */

static const char *kind_name(enum intake_part_kind k)
{
    return k == INTAKE_PART_SOURCE ? "source" : "sink";
}

static int part_families(const struct intake_part_status *p, size_t n, intake_buf *out)
{
    static const char *const up_keys[4] = {"kind", "name", "type", "state"};
    int rc = family(out, "intake_part_up", "gauge",
                    "1 when the source or sink is in state ok, else 0.");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *vals[4] = {kind_name(p[i].kind), p[i].name, p[i].type, p[i].state};
        rc = sample_long(out, "intake_part_up", up_keys, vals, 4,
                         strcmp(p[i].state, "ok") == 0);
    }
    if (rc == 0)
        rc = family(out, "intake_errors_total", "counter",
                    "Errors counted per source and sink since the daemon started.");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *vals[2] = {kind_name(p[i].kind), p[i].name};
        char num[32];
        snprintf(num, sizeof num, "%lu", p[i].errors);
        rc = sample(out, "intake_errors_total", up_keys, vals, 2, num);
    }
    return rc;
}

/* A snapshot of the status table (malloc'd; *n parts). NULL with *n 0 when st is NULL
 * or memory runs out. */
static struct intake_part_status *snapshot(intake_status *st, size_t *n)
{
    *n = 0;
    if (st == NULL)
        return NULL;
    struct intake_part_status *p = malloc(INTAKE_STATUS_MAX_PARTS * sizeof *p);
    if (p != NULL)
        *n = intake_status_snapshot(st, p, INTAKE_STATUS_MAX_PARTS);
    return p;
}

int intake_metrics_render(intake_spool *sp, intake_status *st, double now, intake_buf *out)
{
    intake_buf spool = {0};
    int rc = sp != NULL ? spool_families(sp, now, &spool) : 1;
    if (rc < 0) {
        intake_buf_free(&spool);
        return -1;
    }
    if (rc > 0)
        spool.len = 0; /* a query failed: leave every spool family out */
    rc = family(out, "intake_spool_up", "gauge", "1 when the spool could be read, else 0.");
    if (rc == 0)
        rc = sample_long(out, "intake_spool_up", NULL, NULL, 0, spool.len > 0 && sp != NULL);
    if (rc == 0 && spool.len > 0)
        rc = intake_buf_append(out, spool.data, spool.len);
    intake_buf_free(&spool);
    size_t n;
    struct intake_part_status *parts = snapshot(st, &n);
    if (rc == 0 && (st == NULL || parts != NULL))
        rc = part_families(parts, n, out);
    else
        rc = -1;
    free(parts);
    return rc;
}

/* ---- readiness ---- */

static void rfc3339(double t, char *out, size_t outlen)
{
    time_t s = (time_t)t;
    struct tm tm;
    if (t <= 0 || gmtime_r(&s, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outlen, "%s", "");
}

/* A JSON string, or "?" when s is not valid UTF-8 (the document must still render). */
static json_t *text_json(const char *s)
{
    json_t *j = json_string(s);
    return j != NULL ? j : json_string("?");
}

static json_t *part_json(const struct intake_part_status *p)
{
    char since[32];
    rfc3339(p->since, since, sizeof since);
    return json_pack("{s:o, s:o, s:o, s:o, s:s}", "name", text_json(p->name), "type",
                     text_json(p->type), "state", text_json(p->state), "reason",
                     text_json(p->reason), "since", since);
}

/* {"sources": [...], "sinks": [...]} members added to doc. Returns 0 or -1. */
static int parts_json(json_t *doc, intake_status *st)
{
    json_t *sources = json_array();
    json_t *sinks = json_array();
    int rc = json_object_set_new(doc, "sources", sources) | json_object_set_new(doc, "sinks", sinks);
    size_t n;
    struct intake_part_status *p = snapshot(st, &n);
    if (st != NULL && p == NULL)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = json_array_append_new(p[i].kind == INTAKE_PART_SOURCE ? sources : sinks,
                                   part_json(&p[i]));
    free(p);
    return rc;
}

int intake_readyz_render(intake_spool *sp, const char *spool_error, intake_status *st,
                         intake_buf *out, bool *ready)
{
    char spool_text[256];
    *ready = sp != NULL && intake_spool_writable(sp) == INTAKE_SPOOL_OK;
    if (*ready)
        snprintf(spool_text, sizeof spool_text, "ok");
    else
        snprintf(spool_text, sizeof spool_text, "error: %s",
                 sp != NULL ? intake_spool_error(sp)
                 : spool_error != NULL ? spool_error : "spool unavailable");
    json_t *doc = json_pack("{s:b, s:s}", "ready", (int)*ready, "spool", spool_text);
    if (doc == NULL || parts_json(doc, st) != 0) {
        json_decref(doc);
        return -1;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    int rc = text != NULL && put(out, text) == 0 && put(out, "\n") == 0 ? 0 : -1;
    free(text);
    return rc;
}

/* ---- the endpoints ---- */

struct intake_ops {
    char *spool_path;
    intake_status *st;
};

intake_ops *intake_ops_new(const char *spool_path, intake_status *st)
{
    if (spool_path == NULL)
        return NULL;
    intake_ops *ops = calloc(1, sizeof *ops);
    if (ops == NULL)
        return NULL;
    ops->spool_path = strdup(spool_path);
    if (ops->spool_path == NULL) {
        free(ops);
        return NULL;
    }
    ops->st = st;
    return ops;
}

void intake_ops_free(intake_ops *ops)
{
    if (ops == NULL)
        return;
    free(ops->spool_path);
    free(ops);
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_healthz(void *ud, const struct intake_http_request *req,
                      struct intake_http_response *resp)
{
    (void)ud;
    (void)req;
    return intake_http_respond(resp, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static int on_metrics(void *ud, const struct intake_http_request *req,
                      struct intake_http_response *resp)
{
    (void)req;
    intake_ops *ops = ud;
    intake_spool *sp = NULL;
    if (intake_spool_open(ops->spool_path, &sp, NULL, 0) != INTAKE_SPOOL_OK)
        sp = NULL;
    int rc = intake_http_respond(resp, 200, "text/plain; version=0.0.4; charset=utf-8", "", 0);
    if (rc == 0)
        rc = intake_metrics_render(sp, ops->st, unix_now(), &resp->body);
    intake_spool_close(sp);
    return rc;
}

static int on_readyz(void *ud, const struct intake_http_request *req,
                     struct intake_http_response *resp)
{
    (void)req;
    intake_ops *ops = ud;
    intake_spool *sp = NULL;
    char err[200] = "";
    if (intake_spool_open(ops->spool_path, &sp, err, sizeof err) != INTAKE_SPOOL_OK)
        sp = NULL;
    bool ready = false;
    int rc = intake_http_respond(resp, 200, "application/json", "", 0);
    if (rc == 0)
        rc = intake_readyz_render(sp, err[0] ? err : NULL, ops->st, &resp->body, &ready);
    resp->status = ready ? 200 : 503;
    intake_spool_close(sp);
    return rc;
}

int intake_ops_register(intake_ops *ops, intake_httpd *h)
{
    if (ops == NULL || h == NULL)
        return -1;
    if (intake_httpd_route(h, "GET", "/healthz", INTAKE_HTTP_UNLIMITED, 0, on_healthz, ops) != 0 ||
        intake_httpd_route(h, "GET", "/readyz", INTAKE_HTTP_EXACT, 0, on_readyz, ops) != 0 ||
        intake_httpd_route(h, "GET", "/metrics", INTAKE_HTTP_EXACT, 0, on_metrics, ops) != 0)
        return -1;
    return 0;
}
