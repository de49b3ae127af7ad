/*
 * The gateway daemon: setup from the config, the worker threads, signals and shutdown.
 *
 * Threads: one per polling source (its type's run callback), one processor, one per sink,
 * the HTTP server's own (sources with a mount callback, such as webhooks, answer on them),
 * the group committer that stores what those handlers submit, and the main thread, which
 * waits for signals. Each thread has its own spool handle. They share only `struct daemon`'s mutex-guarded fields: the stop flag,
 * the wake-up condition and a rule set waiting to be swapped in.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "intake/calendar.h"
#include "intake/classifier.h"
#include "intake/jsonl.h"
#include "intake/redact.h"
#include "intake/log.h"
#include "intake/sink.h"
#include "intake/source.h"
#include "intake/spool.h"
#include "intake/status.h"
#include "intake/timefmt.h"
#include "committer.h"
#include "monitor.h"
#include "processor.h"

#define IDLE_WAIT 0.5          /* seconds a worker sleeps when it has nothing to do */
#define SPOOL_ERROR_WAIT 1.0   /* ... and after a spool error */
#define PURGE_EVERY 3600.0     /* seconds between retention purges */

struct daemon;

/* What the rules folder holds: the classifier's rules and the redactor's detectors.
 * Loaded and swapped together. */
struct rulebook {
    intake_ruleset *rs;
    intake_redactor *rd;
};

static void rulebook_free(struct rulebook *b)
{
    intake_ruleset_free(b->rs);
    intake_redactor_free(b->rd);
    b->rs = NULL;
    b->rd = NULL;
}

struct intake_source_ctx {
    struct daemon *d;
    const struct intake_section *sec;
    const struct intake_source_type *type;
    intake_spool *sp;
    int part;
    pthread_t thread;
    bool started;
    int passes; /* completed polls (guarded by d->mu), for --until-idle */
};

struct sink_rt {
    struct daemon *d;
    const struct intake_section *sec;
    const struct intake_sink_type *type;
    void *state;
    int part;
    pthread_t thread;
    bool started;
    long min_delay, max_delay, max_attempts;
};

struct daemon {
    const intake_config *cfg;
    const struct intake_run_options *opt;
    char *spool_path;
    char *rules_dir;
    int lock_fd;        /* holds a lock on spool_path + ".lock": one daemon per spool */
    intake_status *status;
    intake_calendar *calendar;
    struct intake_policy policy;
    struct intake_routing routing; /* [routing], strings borrowed from cfg */
    enum intake_redact_mode redact; /* [privacy] */
    bool keep_original;
    intake_monitor *httpd;
    intake_committer *committer; /* when a source has a mount callback */

    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stopping;
    struct rulebook rules;         /* in use by the processor */
    struct rulebook pending_rules; /* loaded on SIGHUP, swapped in by the processor */

    struct sink_rt *sinks;
    size_t nsinks;
    const char **sink_names;
    struct intake_source_ctx *sources;
    size_t nsources;
    pthread_t processor;
    bool processor_started;
};

/* ---- small shared helpers ---- */

static bool stopping(struct daemon *d)
{
    pthread_mutex_lock(&d->mu);
    bool s = d->stopping;
    pthread_mutex_unlock(&d->mu);
    return s;
}

/* Monotonic seconds: waits do not move when the wall clock is set. */
static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timespec mono_deadline(double end)
{
    struct timespec ts;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    return ts;
}

/* Waits up to `seconds` for the stop, and for a wake-up (new work) unless `whole` is set.
 * Returns true when stopping. */
static bool wait_until(struct daemon *d, double seconds, bool whole)
{
    double end = mono_now() + (seconds > 0 ? seconds : 0);
    struct timespec ts = mono_deadline(end);
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    while (!d->stopping && rc != ETIMEDOUT && mono_now() < end) {
        rc = pthread_cond_timedwait(&d->wake, &d->mu, &ts);
        if (!whole)
            break;
    }
    bool s = d->stopping;
    pthread_mutex_unlock(&d->mu);
    return s;
}

/* Waits for new work, the stop, or `seconds`. */
static bool wait_for(struct daemon *d, double seconds)
{
    return wait_until(d, seconds, false);
}

/* Waits the whole `seconds` unless the daemon stops (wake-ups for new work do not cut a
 * source's poll interval short). */
static bool sleep_for(struct daemon *d, double seconds)
{
    return wait_until(d, seconds, true);
}

static void wake_all(struct daemon *d)
{
    pthread_mutex_lock(&d->mu);
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->mu);
}

static void request_stop(struct daemon *d)
{
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->mu);
}

/* Opens a spool handle for a worker, trying again with capped backoff until it works or
 * the daemon stops (then NULL). */
static intake_spool *open_spool(struct daemon *d, int part)
{
    double delay = 1;
    for (;;) {
        intake_spool *sp = NULL;
        char err[256];
        if (intake_spool_open(d->spool_path, &sp, err, sizeof err) == INTAKE_SPOOL_OK)
            return sp;
        intake_log(INTAKE_LOG_ERROR, "spool_open_failed", "reason", err, NULL);
        if (part >= 0)
            intake_status_set(d->status, part, "error", "cannot open the spool");
        if (sleep_for(d, delay))
            return NULL;
        delay = fmin(delay * 2, 60);
    }
}

/* ---- the source context (include/intake/source.h) ---- */

const struct intake_section *intake_source_section(intake_source_ctx *ctx)
{
    return ctx->sec;
}

const intake_config *intake_source_config(intake_source_ctx *ctx)
{
    return ctx->d->cfg;
}

const char *intake_source_name(intake_source_ctx *ctx)
{
    return ctx->sec->name;
}

int intake_source_submit(intake_source_ctx *ctx, json_t *const *items, size_t n,
                         const char *cursor_key, const char *cursor_value,
                         struct intake_submit_result *results)
{
    int rc = intake_spool_submit(ctx->sp, ctx->sec->name, items, n, cursor_key,
                                 cursor_value, results);
    if (rc == INTAKE_SPOOL_OK)
        wake_all(ctx->d);
    else
        intake_status_error(ctx->d->status, ctx->part);
    return rc;
}

int intake_source_submit_shared(intake_source_ctx *ctx, json_t *const *items, size_t n,
                                struct intake_submit_result *results)
{
    int rc = intake_committer_submit(ctx->d->committer, ctx->sec->name, items, n, results);
    if (rc == INTAKE_SPOOL_OK)
        wake_all(ctx->d);
    else
        intake_status_error(ctx->d->status, ctx->part);
    return rc;
}

int intake_source_cursor_get(intake_source_ctx *ctx, const char *key, char **value)
{
    return intake_spool_cursor_get(ctx->sp, ctx->sec->name, key, value);
}

int intake_source_cursor_set(intake_source_ctx *ctx, const char *key, const char *value)
{
    return intake_spool_cursor_set(ctx->sp, ctx->sec->name, key, value);
}

void intake_source_state(intake_source_ctx *ctx, const char *state, const char *reason)
{
    intake_status_set(ctx->d->status, ctx->part, state, reason);
    if (strcmp(state, "ok") != 0)
        intake_status_error(ctx->d->status, ctx->part);
}

int intake_source_part_add(intake_source_ctx *ctx, const char *sub)
{
    char name[64];
    int n = snprintf(name, sizeof name, "%s/%s", ctx->sec->name, sub);
    if (n < 0 || (size_t)n >= sizeof name)
        return -1;
    return intake_status_add(ctx->d->status, INTAKE_PART_SOURCE, name, ctx->type->type);
}

void intake_source_part_state(intake_source_ctx *ctx, int part, const char *state,
                              const char *reason)
{
    if (part < 0)
        return;
    intake_status_set(ctx->d->status, part, state, reason);
    if (strcmp(state, "ok") != 0)
        intake_status_error(ctx->d->status, part);
}

void intake_source_polled(intake_source_ctx *ctx)
{
    pthread_mutex_lock(&ctx->d->mu);
    ctx->passes++;
    pthread_mutex_unlock(&ctx->d->mu);
}

bool intake_source_stopping(intake_source_ctx *ctx)
{
    return stopping(ctx->d);
}

bool intake_source_sleep(intake_source_ctx *ctx, double seconds)
{
    return sleep_for(ctx->d, seconds);
}

static void *source_main(void *arg)
{
    intake_source_ctx *ctx = arg;
    ctx->sp = open_spool(ctx->d, ctx->part);
    if (!ctx->sp)
        return NULL;
    intake_status_set(ctx->d->status, ctx->part, "ok", NULL);
    int rc = ctx->type->run(ctx);
    intake_status_set(ctx->d->status, ctx->part, rc == 0 ? "stopped" : "error",
                      rc == 0 ? NULL : "the source stopped on an error");
    intake_spool_close(ctx->sp);
    ctx->sp = NULL;
    return NULL;
}

/* ---- the processor thread ---- */

/* Swaps in a rule set loaded by SIGHUP, if one waits. */
static void swap_rules(struct daemon *d, intake_processor *p)
{
    pthread_mutex_lock(&d->mu);
    struct rulebook next = d->pending_rules;
    d->pending_rules = (struct rulebook){NULL, NULL};
    pthread_mutex_unlock(&d->mu);
    if (!next.rs)
        return;
    if (intake_processor_set_rules(p, next.rs, next.rd) < 0) {
        intake_log(INTAKE_LOG_ERROR, "rules_reload_failed", "reason", "out of memory", NULL);
        rulebook_free(&next);
        return;
    }
    rulebook_free(&d->rules);
    d->rules = next;
    intake_log(INTAKE_LOG_INFO, "rules_reloaded", NULL);
}

static void purge(struct daemon *d, intake_spool *sp)
{
    const struct intake_section *s = intake_config_section(d->cfg, "spool", NULL);
    long days = intake_config_get_int(s, "retention_days", 30);
    long n = 0;
    if (intake_spool_purge(sp, intake_time_now(), (double)days, &n) != INTAKE_SPOOL_OK) {
        intake_log(INTAKE_LOG_WARN, "purge_failed", "reason", intake_spool_error(sp), NULL);
    } else if (n > 0) {
        char buf[32];
        snprintf(buf, sizeof buf, "%ld", n);
        intake_log(INTAKE_LOG_INFO, "spool_purged", "items", buf, NULL);
    }
}

static void processor_loop(struct daemon *d, intake_processor *p, intake_spool *sp)
{
    double next_purge = 0;
    while (!stopping(d)) {
        swap_rules(d, p);
        if (intake_time_now() >= next_purge) {
            purge(d, sp);
            next_purge = intake_time_now() + PURGE_EVERY;
        }
        int rc = intake_processor_step(p, sp);
        if (rc == 1) {
            wake_all(d);
            continue;
        }
        if (rc < 0)
            intake_log(INTAKE_LOG_WARN, "processor_spool_error", "reason",
                       intake_spool_error(sp), NULL);
        wait_for(d, rc < 0 ? SPOOL_ERROR_WAIT : IDLE_WAIT);
    }
}

static void *processor_main(void *arg)
{
    struct daemon *d = arg;
    intake_spool *sp = open_spool(d, -1);
    struct intake_processor_conf pc = {d->calendar, &d->policy, d->sink_names, d->nsinks,
                                       d->redact, d->keep_original, &d->routing,
                                       intake_config_get(intake_config_section(d->cfg, "rules",
                                                                               NULL),
                                                         "case_reference")};
    intake_processor *p = sp ? intake_processor_new(&pc, d->rules.rs, d->rules.rd) : NULL;
    if (p)
        processor_loop(d, p, sp);
    else
        intake_log(INTAKE_LOG_ERROR, "processor_failed", "reason", "cannot start", NULL);
    intake_processor_free(p);
    intake_spool_close(sp);
    return NULL;
}

/* ---- sink threads ---- */

static unsigned random_seed(void)
{
    unsigned seed = (unsigned)time(NULL);
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed ^= (unsigned)clock();
    return seed;
}

/* Capped exponential backoff with full jitter above the minimum; a Retry-After the remote
 * sent wins (bounded to a day). */
static double backoff(const struct sink_rt *s, int attempts, double retry_after,
                      unsigned *seed)
{
    if (retry_after >= 0)
        return fmin(fmax(retry_after, (double)s->min_delay), 86400.0);
    double ceiling = (double)s->min_delay * pow(2.0, attempts < 30 ? attempts : 30);
    ceiling = fmin(ceiling, (double)s->max_delay);
    double r = (double)rand_r(seed) / ((double)RAND_MAX + 1.0);
    return (double)s->min_delay + r * fmax(ceiling - (double)s->min_delay, 0.0);
}

static void log_outcome(const struct sink_rt *s, const struct intake_delivery *dv,
                        const struct intake_delivery_result *r, const char *event)
{
    char status[16];
    snprintf(status, sizeof status, "%d", r->status);
    bool fine = r->outcome == INTAKE_DELIVERED || r->outcome == INTAKE_SKIPPED;
    intake_log(fine ? INTAKE_LOG_INFO : INTAKE_LOG_WARN, event, "sink", s->sec->name,
               "record", dv->record_id, "status", status, "reason",
               r->outcome == INTAKE_DELIVERED ? NULL : r->error, NULL);
}

/* Stores what one attempt did. */
static int record_outcome(struct sink_rt *s, intake_spool *sp, const struct intake_delivery *dv,
                          const struct intake_delivery_result *r, unsigned *seed)
{
    const char *name = s->sec->name;
    if (r->outcome == INTAKE_DELIVERED) {
        log_outcome(s, dv, r, "delivered");
        return intake_spool_delivery_done(sp, dv->item, name, r->status, r->case_id);
    }
    if (r->outcome == INTAKE_SKIPPED) {
        char note[sizeof r->error + 16];
        snprintf(note, sizeof note, "skipped: %s", r->error);
        log_outcome(s, dv, r, "delivery_skipped");
        return intake_spool_delivery_skipped(sp, dv->item, name, note);
    }
    bool give_up = r->outcome == INTAKE_DEAD || dv->attempts + 1 >= s->max_attempts;
    if (give_up) {
        log_outcome(s, dv, r, "dead_letter");
        intake_status_error(s->d->status, s->part);
        return intake_spool_delivery_dead(sp, dv->item, name, r->status,
                                          r->outcome == INTAKE_DEAD ? r->error
                                          : "gave up after max_attempts", r->response);
    }
    log_outcome(s, dv, r, "delivery_retry");
    double next = intake_time_now() + backoff(s, dv->attempts, r->retry_after, seed);
    return intake_spool_delivery_retry(sp, dv->item, name, r->status, next, r->error);
}

/* Delivers the next due record, if any. Returns 1 when one was tried, 0 when none was
 * due (then *next_due is set), or an INTAKE_SPOOL_* error. */
static int sink_step(struct sink_rt *s, intake_spool *sp, unsigned *seed, double *next_due)
{
    struct intake_delivery dv;
    bool found;
    int rc = intake_spool_next_delivery(sp, s->sec->name, intake_time_now(), &dv, &found,
                                        next_due);
    if (rc || !found)
        return rc;
    if (s->type->at_most_once && (rc = intake_spool_delivery_begin(sp, dv.item, s->sec->name))) {
        intake_spool_delivery_free(&dv);
        return rc; /* not begun durably: not sent */
    }
    struct intake_delivery_result r;
    memset(&r, 0, sizeof r);
    r.retry_after = -1;
    s->type->deliver(s->state, dv.record_id, dv.record_json, strlen(dv.record_json), &r);
    rc = record_outcome(s, sp, &dv, &r, seed);
    /* An attempt that must not be repeated keeps its outcome until the spool takes it. */
    while (rc && s->type->at_most_once && !stopping(s->d)) {
        wait_for(s->d, SPOOL_ERROR_WAIT);
        rc = record_outcome(s, sp, &dv, &r, seed);
    }
    bool fine = r.outcome == INTAKE_DELIVERED || r.outcome == INTAKE_SKIPPED;
    intake_status_set(s->d->status, s->part, fine ? "ok" : "error", fine ? NULL : r.error);
    intake_spool_delivery_free(&dv);
    return rc ? rc : 1;
}

/* The sink marks of one sink thread: its spool handle and the sink's name. */
struct marks_ctx {
    intake_spool *sp;
    const char *sink;
};

static int marks_get(void *ctx, const char *key, double *at)
{
    struct marks_ctx *m = ctx;
    return intake_spool_mark_get(m->sp, m->sink, key, at) ? -1 : 0;
}

static int marks_set(void *ctx, const char *key, double at)
{
    struct marks_ctx *m = ctx;
    return intake_spool_mark_set(m->sp, m->sink, key, at) ? -1 : 0;
}

/* Dead-letters the attempts a previous run of the daemon died in (at_most_once sinks). */
static void recover_unknown(struct sink_rt *s, intake_spool *sp)
{
    long n = 0;
    char buf[24];
    if (intake_spool_delivery_recover(sp, s->sec->name, &n) != INTAKE_SPOOL_OK) {
        intake_log(INTAKE_LOG_WARN, "sink_spool_error", "sink", s->sec->name, "reason",
                   intake_spool_error(sp), NULL);
        return;
    }
    if (n == 0)
        return;
    snprintf(buf, sizeof buf, "%ld", n);
    intake_log(INTAKE_LOG_ERROR, "delivery_outcome_unknown", "sink", s->sec->name, "count",
               buf, "reason", "the daemon stopped during these attempts: dead letters to "
               "check by hand", NULL);
    intake_status_error(s->d->status, s->part);
}

static void *sink_main(void *arg)
{
    struct sink_rt *s = arg;
    intake_spool *sp = open_spool(s->d, s->part);
    unsigned seed = random_seed();
    struct marks_ctx mctx = {sp, s->sec->name};
    struct intake_sink_marks marks = {&mctx, marks_get, marks_set};
    if (sp && s->type->attach)
        s->type->attach(s->state, &marks);
    if (sp && s->type->at_most_once)
        recover_unknown(s, sp);
    if (sp)
        intake_status_set(s->d->status, s->part, "ok", NULL);
    while (sp && !stopping(s->d)) {
        double next_due = 0;
        int rc = sink_step(s, sp, &seed, &next_due);
        if (rc == 1)
            continue;
        if (rc < 0)
            intake_log(INTAKE_LOG_WARN, "sink_spool_error", "sink", s->sec->name, "reason",
                       intake_spool_error(sp), NULL);
        double wait = rc < 0 ? SPOOL_ERROR_WAIT : IDLE_WAIT;
        if (rc == 0 && next_due > 0)
            wait = fmin(wait, next_due - intake_time_now());
        wait_for(s->d, wait);
    }
    if (sp && s->type->attach)
        s->type->attach(s->state, NULL);
    intake_spool_close(sp);
    return NULL;
}

/* ---- setup ---- */

char *intake_daemon_spool_path(const intake_config *cfg)
{
    return intake_config_get_path(cfg, intake_config_section(cfg, "spool", NULL), "path");
}

/* Loads the classifier's rules and the redactor's detectors from `dir`; both or neither.
 * Problems are logged as file:line lines. */
static int load_rules(const char *dir, struct rulebook *out)
{
    intake_diag diag = {0};
    int rc = intake_ruleset_load_dir(dir, &out->rs, &diag);
    if (rc == 0)
        rc = intake_redactor_load_dir(dir, &out->rd, &diag);
    for (size_t i = 0; i < diag.n; i++)
        intake_log(INTAKE_LOG_ERROR, "rules_error", "problem", diag.lines[i], NULL);
    intake_diag_clear(&diag);
    if (rc < 0)
        rulebook_free(out);
    return rc;
}

/* Adds the comma-separated YYYY-MM-DD days of [policy] closures. */
static int add_closures(intake_calendar *cal, const char *list)
{
    while (list && *list) {
        while (*list == ' ' || *list == ',')
            list++;
        char day[11] = {0};
        size_t n = strcspn(list, ", ");
        if (n == 0)
            break;
        intake_day d;
        memcpy(day, list, n < 10 ? n : 10);
        if (n != 10 || intake_day_parse(day, &d) < 0 || intake_calendar_add_day(cal, d) < 0)
            return -1;
        list += n;
    }
    return 0;
}

static void read_policy(const struct intake_section *pol, struct intake_policy *p)
{
    intake_policy_default(p);
    p->name = intake_config_get(pol, "profile");
    if (!p->name)
        p->name = "housing-ombudsman";
    p->acknowledge_days = (int)intake_config_get_int(pol, "acknowledge_days", 5);
    p->stage1_days = (int)intake_config_get_int(pol, "stage1_days", 10);
    p->stage2_days = (int)intake_config_get_int(pol, "stage2_days", 20);
    p->mp_acknowledge_days = (int)intake_config_get_int(pol, "mp_acknowledge_days", 5);
    p->mp_respond_days = (int)intake_config_get_int(pol, "mp_respond_days", 10);
    p->ombudsman_days = (int)intake_config_get_int(pol, "ombudsman_days", 10);
    p->damp_mould_days = (int)intake_config_get_int(pol, "damp_mould_days", 10);
    p->emergency_hours = (int)intake_config_get_int(pol, "emergency_hours", 24);
    const char *from = intake_config_get(pol, "respond_from");
    p->respond_from_receipt = from && strcmp(from, "receipt") == 0;
}

static int setup_calendar(struct daemon *d)
{
    const struct intake_section *pol = intake_config_section(d->cfg, "policy", NULL);
    read_policy(pol, &d->policy);
    intake_routing_read(intake_config_section(d->cfg, "routing", NULL), &d->routing);
    char *path = intake_config_get_rules_path(d->cfg, pol, "calendar");
    intake_diag diag = {0};
    d->calendar = intake_calendar_new();
    int rc = path && d->calendar ? intake_calendar_load_file(d->calendar, path, &diag) : -1;
    for (size_t i = 0; i < diag.n; i++)
        intake_log(INTAKE_LOG_ERROR, "calendar_error", "problem", diag.lines[i], NULL);
    intake_diag_clear(&diag);
    free(path);
    if (rc == 0 && add_closures(d->calendar, intake_config_get(pol, "closures")) < 0) {
        intake_log(INTAKE_LOG_ERROR, "calendar_error", "problem", "bad [policy] closures",
                   NULL);
        rc = -1;
    }
    return rc;
}

static bool enabled(const struct intake_section *s)
{
    return intake_config_get_bool(s, "enabled", true);
}

static size_t count_kind(const intake_config *cfg, const char *kind)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->nsections; i++)
        n += !strcmp(cfg->sections[i].kind, kind) && enabled(&cfg->sections[i]);
    return n;
}

static int create_sink(struct daemon *d, const struct intake_section *sec, struct sink_rt *s)
{
    char err[256] = "";
    s->d = d;
    s->sec = sec;
    s->type = intake_sink_type_find(intake_config_get(sec, "type"));
    s->part = intake_status_add(d->status, INTAKE_PART_SINK, sec->name, s->type->type);
    s->min_delay = intake_config_get_int(sec, "retry_min_delay", 1);
    s->max_delay = intake_config_get_int(sec, "retry_max_delay", 300);
    s->max_attempts = intake_config_get_int(sec, "max_attempts", 20);
    if (s->type->create(d->cfg, sec, &s->state, err, sizeof err) == 0)
        return 0;
    intake_log(INTAKE_LOG_ERROR, "sink_failed", "sink", sec->name, "reason", err, NULL);
    return -1;
}

static int setup_sinks(struct daemon *d)
{
    size_t n = count_kind(d->cfg, "sink");
    d->sinks = calloc(n ? n : 1, sizeof *d->sinks);
    d->sink_names = calloc(n ? n : 1, sizeof *d->sink_names);
    if (!d->sinks || !d->sink_names)
        return -1;
    for (size_t i = 0; i < d->cfg->nsections; i++) {
        const struct intake_section *sec = &d->cfg->sections[i];
        if (strcmp(sec->kind, "sink") || !enabled(sec))
            continue;
        d->sink_names[d->nsinks] = sec->name;
        if (create_sink(d, sec, &d->sinks[d->nsinks++]) < 0)
            return -1;
    }
    return 0;
}

static int setup_sources(struct daemon *d)
{
    size_t n = count_kind(d->cfg, "source");
    d->sources = calloc(n ? n : 1, sizeof *d->sources);
    if (!d->sources)
        return -1;
    for (size_t i = 0; i < d->cfg->nsections; i++) {
        const struct intake_section *sec = &d->cfg->sections[i];
        if (strcmp(sec->kind, "source") || !enabled(sec))
            continue;
        intake_source_ctx *ctx = &d->sources[d->nsources++];
        ctx->d = d;
        ctx->sec = sec;
        ctx->type = intake_source_type_find(intake_config_get(sec, "type"));
        ctx->part = intake_status_add(d->status, INTAKE_PART_SOURCE, sec->name,
                                      ctx->type->type);
    }
    return 0;
}

static bool any_mounted(const struct daemon *d)
{
    for (size_t i = 0; i < d->nsources; i++)
        if (d->sources[i].type->mount)
            return true;
    return false;
}

/* Lets every source with a mount callback add its routes. */
static int mount_sources(struct daemon *d, intake_httpd *httpd, char *err, size_t errlen)
{
    for (size_t i = 0; i < d->nsources; i++) {
        intake_source_ctx *c = &d->sources[i];
        if (!c->type->mount)
            continue;
        if (c->type->mount(c, httpd, err, errlen) < 0) {
            intake_log(INTAKE_LOG_ERROR, "source_mount_failed", "source", c->sec->name,
                       "reason", err, NULL);
            snprintf(err, errlen, "a source could not add its routes");
            return -1;
        }
    }
    return 0;
}

/* The HTTP server: the ops routes, the sources' routes, then listening. */
static int setup_http(struct daemon *d)
{
    const struct intake_section *h = intake_config_section(d->cfg, "http", NULL);
    if (!intake_config_get_bool(h, "enabled", true))
        return 0;
    char err[256] = "";
    d->httpd = intake_monitor_new(d->spool_path, d->status, err, sizeof err);
    if (d->httpd && any_mounted(d))
        d->committer = intake_committer_start(d->spool_path, 0, err, sizeof err);
    if (d->httpd && (!any_mounted(d) || d->committer) &&
        mount_sources(d, intake_monitor_httpd(d->httpd), err, sizeof err) == 0 &&
        intake_monitor_listen(d->httpd, d->cfg, err, sizeof err) == 0)
        return 0;
    intake_log(INTAKE_LOG_ERROR, "http_failed", "reason", err, NULL);
    return -1;
}

static void read_privacy(struct daemon *d)
{
    const struct intake_section *s = intake_config_section(d->cfg, "privacy", NULL);
    const char *mode = intake_config_get(s, "redact");
    if (!mode || intake_redact_mode_parse(mode, &d->redact) < 0)
        d->redact = INTAKE_REDACT_PUBLIC;
    d->keep_original = intake_config_get_bool(s, "keep_original", false);
}

/* Takes the daemon lock of the spool (fcntl, released when the process ends, even by
 * SIGKILL). Returns 0, or -1 when another daemon holds it or the file cannot be made. */
static int lock_spool(struct daemon *d)
{
    size_t n = strlen(d->spool_path) + sizeof ".lock";
    char *path = malloc(n);
    if (!path)
        return -1;
    snprintf(path, n, "%s.lock", d->spool_path);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (d->lock_fd >= 0 && fcntl(d->lock_fd, F_SETLK, &fl) == 0)
        return 0;
    intake_log(INTAKE_LOG_ERROR, "spool_locked", "reason", d->lock_fd < 0
               ? "cannot create the spool's lock file"
               : "another intake run is using this spool", NULL);
    return -1;
}

/* Opens the spool once in the main thread, so a broken spool fails the start. */
static int check_spool(struct daemon *d)
{
    intake_spool *sp = NULL;
    char err[256];
    int rc = intake_spool_open(d->spool_path, &sp, err, sizeof err);
    if (rc != INTAKE_SPOOL_OK)
        intake_log(INTAKE_LOG_ERROR, "spool_open_failed", "reason", err, NULL);
    intake_spool_close(sp);
    return rc == INTAKE_SPOOL_OK ? 0 : rc == INTAKE_SPOOL_TEMP ? 75 : 1;
}

static int setup(struct daemon *d)
{
    d->spool_path = intake_daemon_spool_path(d->cfg);
    d->rules_dir = intake_config_rules_dir(d->cfg);
    d->status = intake_status_new();
    if (!d->spool_path || !d->rules_dir || !d->status)
        return 1;
    if (lock_spool(d) < 0)
        return 1;
    read_privacy(d);
    int rc = check_spool(d);
    if (rc)
        return rc;
    if (load_rules(d->rules_dir, &d->rules) < 0 || setup_calendar(d) < 0 ||
        setup_sinks(d) < 0 || setup_sources(d) < 0 || setup_http(d) < 0)
        return 1;
    return 0;
}

/* ---- start, run, stop ---- */

static int start_threads(struct daemon *d)
{
    for (size_t i = 0; i < d->nsources; i++) {
        intake_source_ctx *c = &d->sources[i];
        if (!c->type->run) {
            intake_status_set(d->status, c->part, "ok", c->type->mount && d->httpd
                              ? "passive: fed by HTTP requests"
                              : "passive: fed by intake submit");
            continue;
        }
        if (pthread_create(&c->thread, NULL, source_main, c))
            return -1;
        c->started = true;
    }
    if (pthread_create(&d->processor, NULL, processor_main, d))
        return -1;
    d->processor_started = true;
    for (size_t i = 0; i < d->nsinks; i++) {
        if (pthread_create(&d->sinks[i].thread, NULL, sink_main, &d->sinks[i]))
            return -1;
        d->sinks[i].started = true;
    }
    return 0;
}

static void join_threads(struct daemon *d)
{
    request_stop(d);
    for (size_t i = 0; i < d->nsources; i++)
        if (d->sources[i].started)
            pthread_join(d->sources[i].thread, NULL);
    if (d->processor_started)
        pthread_join(d->processor, NULL);
    for (size_t i = 0; i < d->nsinks; i++)
        if (d->sinks[i].started)
            pthread_join(d->sinks[i].thread, NULL);
}

static void reload_rules(struct daemon *d)
{
    struct rulebook rs = {NULL, NULL};
    if (load_rules(d->rules_dir, &rs) < 0) {
        intake_log(INTAKE_LOG_ERROR, "rules_reload_failed", "reason",
                   "the new rules do not load; the old ones stay in use", NULL);
        return;
    }
    pthread_mutex_lock(&d->mu);
    rulebook_free(&d->pending_rules);
    d->pending_rules = rs;
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->mu);
}

/* Deliveries still to make, counted for the sinks of this configuration only: those of a
 * sink taken out of it wait in the spool for a run that has it again, and must not keep
 * --until-idle waiting for ever. */
struct unfinished {
    const struct daemon *d;
    long mine, others;
};

static void count_unfinished(void *ud, const char *sink, const char *state, long count)
{
    struct unfinished *u = ud;
    if (strcmp(state, "pending") != 0 && strcmp(state, "sending") != 0)
        return;
    bool mine = false;
    for (size_t i = 0; i < u->d->nsinks && !mine; i++)
        mine = strcmp(u->d->sink_names[i], sink) == 0;
    *(mine ? &u->mine : &u->others) += count;
}

/* True once every polling source finished a pass and nothing waits in the spool for this
 * run (the first time deliveries for sinks it does not have are left, says so once). */
static bool idle(struct daemon *d, intake_spool *sp)
{
    pthread_mutex_lock(&d->mu);
    bool polled = true;
    for (size_t i = 0; i < d->nsources; i++)
        if (d->sources[i].type->run && d->sources[i].passes < 1)
            polled = false;
    pthread_mutex_unlock(&d->mu);
    struct intake_spool_stats st;
    struct unfinished u = {d, 0, 0};
    if (!polled || intake_spool_stats(sp, &st) != INTAKE_SPOOL_OK || st.items_new != 0 ||
        intake_spool_count(sp, INTAKE_COUNT_DELIVERIES_BY_SINK_STATE, count_unfinished, &u) !=
            INTAKE_SPOOL_OK ||
        u.mine != 0)
        return false;
    if (u.others != 0) {
        char n[32];
        snprintf(n, sizeof n, "%ld", u.others);
        intake_log(INTAKE_LOG_WARN, "deliveries_left", "count", n, "reason",
                   "their sinks are not in this configuration; they wait in the spool", NULL);
    }
    return true;
}

static void wait_signals(struct daemon *d)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    intake_spool *sp = d->opt->until_idle ? open_spool(d, -1) : NULL;
    for (;;) {
        struct timespec ts = {0, 250 * 1000 * 1000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGHUP) {
            reload_rules(d);
        } else if (sig == SIGTERM || sig == SIGINT) {
            intake_log(INTAKE_LOG_INFO, "stopping", "signal", sig == SIGINT ? "INT" : "TERM",
                       NULL);
            break;
        } else if (sp && idle(d, sp)) {
            intake_log(INTAKE_LOG_INFO, "idle", NULL);
            break;
        }
    }
    intake_spool_close(sp);
}

static void teardown(struct daemon *d)
{
    intake_monitor_stop(d->httpd); /* no handler can submit after this */
    intake_committer_stop(d->committer);
    for (size_t i = 0; i < d->nsinks; i++)
        if (d->sinks[i].state)
            d->sinks[i].type->destroy(d->sinks[i].state);
    free(d->sinks);
    free(d->sink_names);
    free(d->sources);
    rulebook_free(&d->rules);
    rulebook_free(&d->pending_rules);
    intake_calendar_free(d->calendar);
    intake_status_free(d->status);
    free(d->spool_path);
    free(d->rules_dir);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->mu);
}

int intake_daemon_run(const intake_config *cfg, const struct intake_run_options *opt)
{
    struct daemon d;
    memset(&d, 0, sizeof d);
    d.lock_fd = -1;
    d.cfg = cfg;
    d.opt = opt;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.wake, &ca);
    pthread_condattr_destroy(&ca);
    int rc = setup(&d);
    if (rc == 0 && start_threads(&d) < 0)
        rc = 1;
    if (rc == 0) {
        intake_log(INTAKE_LOG_INFO, "started", NULL);
        wait_signals(&d);
    }
    join_threads(&d);
    if (rc == 0 && opt->summary)
        intake_daemon_summary(d.spool_path, opt->summary);
    teardown(&d);
    intake_log(INTAKE_LOG_INFO, "stopped", NULL);
    return rc;
}
