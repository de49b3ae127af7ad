/* What the social connectors share: see include/intake/social.h. */
#include "intake/social.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/log.h"
#include "intake/timefmt.h"

#define WAIT_MAX 86400.0

/* ---- pure parsing ---- */

/* A non-negative decimal integer, the whole string. */
static int parse_long(const char *s, long *out)
{
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int intake_rate_parse_x(const char *limit, const char *remaining, const char *reset,
                        struct intake_rate *out)
{
    long l, r, t;
    memset(out, 0, sizeof *out);
    if (parse_long(limit, &l) || parse_long(remaining, &r) || parse_long(reset, &t))
        return -1;
    *out = (struct intake_rate){true, l, r, (double)t};
    return 0;
}

int intake_rate_parse_mastodon(const char *limit, const char *remaining, const char *reset,
                               struct intake_rate *out)
{
    long l, r;
    double t;
    memset(out, 0, sizeof *out);
    if (parse_long(limit, &l) || parse_long(remaining, &r) || intake_time_parse(reset, &t))
        return -1;
    *out = (struct intake_rate){true, l, r, t};
    return 0;
}

double intake_rate_wait(const struct intake_rate *r, double now, double floor)
{
    double wait = floor > 0 ? floor : 0;
    double left = r->known ? r->reset - now : 0;
    if (r->known && r->remaining <= 0)
        wait = left + 1 > wait ? left + 1 : wait;
    else if (r->known && left > 0 && left / (double)r->remaining > wait)
        wait = left / (double)r->remaining;
    return wait < WAIT_MAX ? wait : WAIT_MAX;
}

static int int_member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

int intake_meta_error_parse(const char *body, size_t len, struct intake_meta_error *e)
{
    memset(e, 0, sizeof *e);
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *err = json_object_get(doc, "error");
    int rc = -1;
    if (json_is_object(err) && json_is_integer(json_object_get(err, "code"))) {
        e->code = int_member(err, "code");
        e->subcode = int_member(err, "error_subcode");
        e->transient = json_is_true(json_object_get(err, "is_transient"));
        rc = 0;
    }
    json_decref(doc);
    return rc;
}

enum intake_meta_action intake_meta_action_of(int code)
{
    switch (code) {
    case 4: case 17: case 32: case 613: case 80001:
        return INTAKE_META_THROTTLE;
    case 190:
        return INTAKE_META_REAUTH;
    case 1: case 2:
        return INTAKE_META_TEMP;
    default:
        return INTAKE_META_FAIL;
    }
}

/* The highest of the usage percentages in one usage object. */
static double usage_max(json_t *o)
{
    static const char *const keys[] = {"call_count", "total_cputime", "total_time"};
    double m = 0;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (json_is_number(v) && json_number_value(v) > m)
            m = json_number_value(v);
    }
    return m;
}

/* X-Business-Use-Case-Usage: {"<id>": [{usage}, ...], ...}. */
static double buc_max(json_t *doc, double *regain)
{
    const char *key;
    json_t *list, *u;
    size_t i;
    double m = 0;
    json_object_foreach(doc, key, list) {
        json_array_foreach(list, i, u) {
            double p = usage_max(u);
            json_t *r = json_object_get(u, "estimated_time_to_regain_access");
            m = p > m ? p : m;
            double w = json_is_number(r) ? json_number_value(r) * 60 : 0; /* minutes */
            if (w > *regain) /* bounded like every other wait */
                *regain = w < WAIT_MAX ? w : WAIT_MAX;
        }
    }
    return m;
}

double intake_meta_usage(const char *app_usage, const char *buc_usage, double *regain)
{
    double m = 0;
    *regain = 0;
    json_t *app = app_usage ? json_loads(app_usage, 0, NULL) : NULL;
    json_t *buc = buc_usage ? json_loads(buc_usage, 0, NULL) : NULL;
    if (json_is_object(app))
        m = usage_max(app);
    if (json_is_object(buc)) {
        double b = buc_max(buc, regain);
        m = b > m ? b : m;
    }
    json_decref(app);
    json_decref(buc);
    return m;
}

int intake_id_cmp(const char *a, const char *b)
{
    while (*a == '0' && a[1])
        a++;
    while (*b == '0' && b[1])
        b++;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

/* ---- the polling runtime ---- */

static const char *trimmed_base(char *base)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        base[--n] = '\0';
    return base;
}

int intake_social_check(const intake_config *cfg, const struct intake_section *sec,
                        const char *id_key, intake_diag *diag)
{
    const char *base = intake_config_get(sec, "base_url");
    const char *token = intake_config_get(sec, "token");
    const char *id = id_key ? intake_config_get(sec, id_key) : NULL;
    const char *name = sec->name ? sec->name : "";
    char why[96];
    int rc = 0;
    if (base && intake_http_check_url(base, why, sizeof why) != 0) {
        intake_diag_add(diag, "%s:%d: source \"%s\": base_url: %s", cfg->path, sec->line, name,
                        why);
        rc = -1;
    }
    if (token && (!token[0] || strpbrk(token, "\r\n"))) {
        intake_diag_add(diag, "%s:%d: source \"%s\": token: empty or holds a line break",
                        cfg->path, sec->line, name);
        rc = -1;
    }
    if (id_key && (!id || !id[0] || strspn(id, "0123456789") != strlen(id) || strlen(id) > 32)) {
        intake_diag_add(diag, "%s:%d: source \"%s\": %s: a numeric id", cfg->path, sec->line,
                        name, id_key);
        rc = -1;
    }
    return rc;
}

int intake_social_open(struct intake_social *s, intake_source_ctx *ctx)
{
    const struct intake_section *sec = intake_source_section(ctx);
    const char *base = intake_config_get(sec, "base_url");
    char err[160] = "";
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    s->interval = (double)intake_config_get_int(sec, "poll_interval", 60);
    char *ca = intake_config_get_path(intake_source_config(ctx), sec, "ca_file");
    struct intake_httpc_conf conf = {
        intake_config_get_int(sec, "timeout", 30), intake_config_get_bool(sec, "tls_verify", true),
        ca, (size_t)intake_config_get_int(sec, "max_page_bytes", 4194304)};
    if (base == NULL || intake_http_check_url(base, err, sizeof err) != 0)
        snprintf(err, sizeof err, "base_url: not an http:// or https:// URL");
    else if ((s->auth = intake_http_bearer(intake_config_get(sec, "token"))) == NULL)
        snprintf(err, sizeof err, "token: empty or holds a line break");
    else if ((s->base = strdup(base)) == NULL)
        snprintf(err, sizeof err, "out of memory");
    else
        s->http = intake_httpc_new(&conf, err, sizeof err);
    free(ca);
    if (s->http == NULL) {
        intake_log(INTAKE_LOG_ERROR, "source_setup_failed", "source", intake_source_name(ctx),
                   "reason", err, NULL);
        intake_social_close(s);
        return -1;
    }
    trimmed_base(s->base);
    return 0;
}

void intake_social_close(struct intake_social *s)
{
    intake_httpc_free(s->http);
    free(s->auth);
    free(s->base);
    s->http = NULL;
    s->auth = s->base = NULL;
}

json_t *intake_social_get(struct intake_social *s, const char *url)
{
    size_t n = strlen(s->base);
    if (strncmp(url, s->base, n) != 0 || (url[n] != '/' && url[n] != '?')) {
        memset(&s->resp, 0, sizeof s->resp);
        snprintf(s->resp.error, sizeof s->resp.error, "a paging link left the base URL");
        return NULL;
    }
    const char *headers[] = {"Accept: application/json", s->auth};
    struct intake_httpc_req req = {"GET", url, headers, 2, NULL, 0};
    if (intake_httpc_do(s->http, &req, &s->resp) != 0 || s->resp.truncated)
        return NULL;
    return json_loadb(s->resp.body, s->resp.body_len, 0, NULL);
}

const char *intake_social_header(const struct intake_social *s, const char *name, char *out,
                                 size_t cap)
{
    return intake_httpc_header(s->http, name, out, cap);
}

static double wait_of(const struct intake_social *s, double wait)
{
    return wait > s->interval ? wait : s->interval;
}

int intake_social_run(struct intake_social *s, intake_social_poll_fn poll, void *state)
{
    intake_source_ctx *ctx = s->ctx;
    double wait;
    do {
        wait = 0;
        const char *reason = NULL;
        enum intake_poll p = poll(s, state, &wait, &reason);
        if (p == INTAKE_POLL_REAUTH)
            intake_source_state(ctx, "needs_reauth", reason);
        else if (p == INTAKE_POLL_ERROR)
            intake_source_state(ctx, "error", reason);
        else
            intake_source_state(ctx, "ok", NULL);
        if (p == INTAKE_POLL_OK)
            intake_source_polled(ctx);
        if (p == INTAKE_POLL_WAIT)
            intake_log(INTAKE_LOG_INFO, "source_rate_limited", "source",
                       intake_source_name(ctx), "reason", reason, NULL);
    } while (!intake_source_sleep(ctx, wait_of(s, wait)));
    return 0;
}

bool intake_social_await(struct intake_social *s, const struct intake_rate *r)
{
    if (!r->known || r->remaining > 0)
        return true;
    return !intake_source_sleep(s->ctx, intake_rate_wait(r, intake_time_now(), 0));
}

void intake_social_set_time(json_t *item, const char *when)
{
    double t;
    char buf[INTAKE_RFC3339_LEN];
    if (when && intake_time_parse(when, &t) == 0)
        json_object_set_new(item, "received_at", json_string(intake_time_format(t, buf)));
}

int intake_social_submit(struct intake_social *s, json_t *items, const char *cursor_key,
                         const char *cursor_value)
{
    size_t n = json_array_size(items);
    if (n == 0 && cursor_key == NULL)
        return 0;
    json_t **list = calloc(n ? n : 1, sizeof *list);
    if (list == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        list[i] = json_array_get(items, i);
    int rc = intake_source_submit(s->ctx, list, n, cursor_key, cursor_value, NULL);
    free(list);
    return rc == INTAKE_SPOOL_OK ? 0 : -1;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *intake_social_item(const char *id, const char *channel, const char *body, bool pub,
                           const char *name, const char *handle, const char *permalink)
{
    json_t *from = json_pack("{s:o, s:o}", "name", str_or_null(name), "handle",
                             str_or_null(handle));
    return json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:{}}", "id", id, "channel", channel,
                     "body", body ? body : "", "public", pub, "from", from, "permalink",
                     str_or_null(permalink), "thread");
}

bool intake_social_refused(long status, const struct intake_rate *rate, double unknown_wait,
                           enum intake_poll *out, double *wait, const char **reason)
{
    if (status == 429) {
        struct intake_rate r = *rate;
        r.remaining = 0;
        *wait = r.known ? intake_rate_wait(&r, intake_time_now(), 0) : unknown_wait;
        *reason = "HTTP 429: waiting until the rate-limit window resets";
        *out = INTAKE_POLL_WAIT;
        return true;
    }
    if (status == 401) {
        *reason = "the token was refused (HTTP 401): renew it and restart";
        *out = INTAKE_POLL_REAUTH;
        return true;
    }
    return false;
}
