/*
 * The public-post actions sink (type "social_actions"): for a public post in which the
 * redactor found personal data (a record with "public": true and a non-empty
 * "redactions"), asks the resident to move to a private channel, on the platform the post
 * came from (the record's channel):
 *
 * - facebook: hides the comment or visitor post (POST /{id} is_hidden=true), then sends
 *   one private reply (POST /{page-id}/messages with recipient.comment_id, or
 *   recipient.post_id for a visitor post) with the text of facebook_reply_template;
 * - x: when x_reply_template is set, a public reply (POST /2/tweets, reply.in_reply_to_
 *   tweet_id) "@<handle> <text>";
 * - mastodon: when mastodon_reply_template is set, a reply (POST /api/v1/statuses,
 *   in_reply_to_id, the post's own visibility) "@<acct> <text>".
 * Everything else is INTAKE_SKIPPED with the reason. The reply texts are fixed: a
 * template holding "{{" is refused at start, so no record field (and so no personal
 * data) can reach a reply.
 *
 * Never twice. Each record is one delivery row (retry, backoff, dead letter as for every
 * sink), and a retry repeats the steps from the start, so each step must be safe to
 * repeat or must never be repeated:
 * - hiding is idempotent;
 * - Meta allows one private reply per comment: a retry after a reply whose answer was
 *   lost gets an error (code 10900, "Activity already replied to"), which counts as
 *   delivered. Residual risk: that refusal is documented, its code is not verified
 *   against the live API; a different code would dead-letter the retry (not send twice);
 * - Mastodon: the record id goes as Idempotency-Key, which the server keeps for an hour:
 *   a retry within the hour answers the first status. Residual risk: a retry more than an
 *   hour after a lost answer (retry_max_delay is 300 s by default, so only after a long
 *   outage) could post a second reply;
 * - X has no idempotency key: a reply whose outcome is unknown (a timeout or a reset
 *   after the request was written, a 5xx) is dead-lettered with "outcome unknown" instead
 *   of retried; only failures known to have done nothing (no connection, 429, 401) are
 *   retried. Residual risk: none of a double post; an unknown outcome needs an operator.
 *
 * One request takes at most half of `timeout`, so the two Facebook steps fit in one
 * attempt. Errors and logs carry status codes and Graph error codes, never text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "intake/httpc.h"
#include "intake/sink.h"
#include "intake/social.h"
#include "intake/timefmt.h"

#define TEMPLATE_MAX 2000
#define X_TEXT_MAX 250        /* characters: X allows 280, room kept */
#define MASTODON_TEXT_MAX 400 /* characters with the mention: Mastodon allows 500 */
#define ID_MAX 128
#define URL_MAX 2048
#define ALREADY_REPLIED 10900 /* Graph: the comment already has a private reply */

static const struct intake_option options[] = {
    {"facebook_token", INTAKE_OPT_STRING, NULL,
     "Page access token (MODERATE task: pages_manage_engagement, pages_messaging); unset: "
     "no Facebook actions", NULL, 0, 0, false, true},
    {"facebook_base_url", INTAKE_OPT_STRING, "https://graph.facebook.com/v21.0",
     "Graph API base URL", NULL, 0, 0, false, false},
    {"facebook_page_id", INTAKE_OPT_STRING, NULL,
     "the Page's id, for records whose thread has no page_id (webhook comments)", NULL, 0, 0,
     false, false},
    {"facebook_hide", INTAKE_OPT_BOOL, "yes", "hide the comment before the private reply",
     NULL, 0, 0, false, false},
    {"facebook_reply_template", INTAKE_OPT_PATH, "social_private_reply.txt",
     "text file of the private reply (relative: the config file's folder, then the rules' "
     "templates/)", NULL, 0, 0, false, false},
    {"x_token", INTAKE_OPT_STRING, NULL,
     "X user access token with tweet.write; unset: no X replies", NULL, 0, 0, false, true},
    {"x_base_url", INTAKE_OPT_STRING, "https://api.x.com", "X API base URL", NULL, 0, 0,
     false, false},
    {"x_reply_template", INTAKE_OPT_PATH, NULL,
     "text file of the public reply on X (at most 250 characters); unset: no X replies",
     NULL, 0, 0, false, false},
    {"mastodon_token", INTAKE_OPT_STRING, NULL,
     "Mastodon access token with write:statuses; unset: no Mastodon replies", NULL, 0, 0,
     false, true},
    {"mastodon_base_url", INTAKE_OPT_STRING, NULL, "the Mastodon instance's base URL", NULL,
     0, 0, false, false},
    {"mastodon_reply_template", INTAKE_OPT_PATH, NULL,
     "text file of the reply on Mastodon; unset: no Mastodon replies", NULL, 0, 0, false,
     false},
    {"tls_verify", INTAKE_OPT_BOOL, "yes",
     "check the servers' certificates and names (turn off only for a test)", NULL, 0, 0,
     false, false},
    {"ca_file", INTAKE_OPT_PATH, NULL,
     "PEM file of CA certificates to trust instead of the system's", NULL, 0, 0, false,
     false},
    {0},
};

/* One platform's settings; on is false when it is not configured. */
struct platform {
    bool on;
    char *auth;  /* "Authorization: Bearer ..." */
    char *base;  /* without a trailing '/' */
    char *text;  /* the reply text */
};

struct actions {
    intake_httpc *http;
    struct platform fb, x, masto;
    char *page_id; /* facebook_page_id, or NULL */
    bool hide;
};

/* ---- settings ---- */

static void set_err(char *err, size_t errlen, const char *what, const char *why)
{
    snprintf(err, errlen, "%s: %s", what, why);
}

/* Characters (code points) in UTF-8 text. */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Reads a reply text: trailing white space dropped, not empty, valid UTF-8, at most
 * maxchars characters, no "{{". Returns a new string, or NULL with a reason in err. */
static char *load_text(const char *path, size_t maxchars, const char *key, char *err,
                       size_t errlen)
{
    char buf[TEMPLATE_MAX + 2];
    FILE *f = path ? fopen(path, "rb") : NULL;
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    json_t *valid = json_stringn(buf, n);
    const char *why = !f ? "cannot read the file (a relative name is looked for beside the "
                           "config file, then in the rules' templates/)"
                      : n > TEMPLATE_MAX || chars(buf) > maxchars ? "the text is too long"
                      : n == 0 || strlen(buf) != n ? "empty, or holds a NUL byte"
                      : !valid ? "not UTF-8"
                      : strstr(buf, "{{") ? "holds \"{{\": reply texts are fixed, so that no "
                                            "personal data can be poured into them"
                                          : NULL;
    json_decref(valid);
    if (why)
        set_err(err, errlen, key, why);
    return why ? NULL : strdup(buf);
}

static void platform_free(struct platform *p)
{
    free(p->auth);
    free(p->base);
    free(p->text);
}

/* Reads one platform's keys (<prefix>_token, _base_url, template_key). The platform is
 * off when the token or the template is unset. Returns 0, or -1 with a reason. */
static int load_platform(struct platform *p, const intake_config *cfg,
                         const struct intake_section *sec, const char *prefix,
                         const char *template_key, size_t maxchars, char *err, size_t errlen)
{
    char key[64], why[96];
    snprintf(key, sizeof key, "%s_token", prefix);
    const char *token = intake_config_get(sec, key);
    snprintf(key, sizeof key, "%s_base_url", prefix);
    const char *base = intake_config_get(sec, key);
    if (token == NULL || intake_config_get(sec, template_key) == NULL)
        return 0;
    if (base == NULL || intake_http_check_url(base, why, sizeof why) != 0) {
        set_err(err, errlen, key, base ? why : "required with a token and a template");
        return -1;
    }
    char *path = intake_config_get_template_path(cfg, sec, template_key);
    p->text = load_text(path, maxchars, template_key, err, errlen);
    free(path);
    p->auth = intake_http_bearer(token);
    p->base = strdup(base);
    if (!p->text || !p->auth || !p->base) {
        if (p->text && !p->auth)
            set_err(err, errlen, prefix, "the token is empty or holds a line break");
        return -1;
    }
    size_t n = strlen(p->base);
    while (n > 0 && p->base[n - 1] == '/')
        p->base[--n] = '\0';
    p->on = true;
    return 0;
}

static void sa_destroy(void *state)
{
    struct actions *a = state;
    if (a == NULL)
        return;
    intake_httpc_free(a->http);
    platform_free(&a->fb);
    platform_free(&a->x);
    platform_free(&a->masto);
    free(a->page_id);
    free(a);
}

static int load(struct actions *a, const intake_config *cfg, const struct intake_section *sec,
                char *err, size_t errlen)
{
    const char *page = intake_config_get(sec, "facebook_page_id");
    a->hide = intake_config_get_bool(sec, "facebook_hide", true);
    if (page && (!page[0] || strspn(page, "0123456789") != strlen(page))) {
        set_err(err, errlen, "facebook_page_id", "the Page's numeric id");
        return -1;
    }
    a->page_id = page ? strdup(page) : NULL;
    if (load_platform(&a->fb, cfg, sec, "facebook", "facebook_reply_template", TEMPLATE_MAX,
                      err, errlen) ||
        load_platform(&a->x, cfg, sec, "x", "x_reply_template", X_TEXT_MAX, err, errlen) ||
        load_platform(&a->masto, cfg, sec, "mastodon", "mastodon_reply_template",
                      MASTODON_TEXT_MAX, err, errlen))
        return -1;
    if (!a->fb.on && !a->x.on && !a->masto.on) {
        set_err(err, errlen, "social_actions", "no platform configured (set facebook_token, "
                "or x_token and x_reply_template, or mastodon_token and "
                "mastodon_reply_template)");
        return -1;
    }
    return 0;
}

static int sa_create(const intake_config *cfg, const struct intake_section *sec, void **state,
                     char *err, size_t errlen)
{
    struct actions *a = calloc(1, sizeof *a);
    *state = NULL;
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long timeout = intake_config_get_int(sec, "timeout", 30) / 2;
    char *ca = intake_config_get_path(cfg, sec, "ca_file");
    struct intake_httpc_conf conf = {timeout < 1 ? 1 : timeout,
                                     intake_config_get_bool(sec, "tls_verify", true), ca,
                                     64 * 1024};
    int rc = load(a, cfg, sec, err, errlen);
    if (rc == 0 && (a->http = intake_httpc_new(&conf, err, errlen)) == NULL)
        rc = -1;
    free(ca);
    if (rc != 0) {
        sa_destroy(a);
        return -1;
    }
    *state = a;
    return 0;
}

static int sa_check(const intake_config *cfg, const struct intake_section *sec,
                    intake_diag *diag)
{
    char err[320];
    struct actions *a = calloc(1, sizeof *a);
    int rc = a ? load(a, cfg, sec, err, sizeof err) : -1;
    if (a == NULL)
        snprintf(err, sizeof err, "out of memory");
    if (rc != 0)
        intake_diag_add(diag, "%s:%d: sink \"%s\": %s", cfg->path, sec->line,
                        sec->name ? sec->name : "", err);
    sa_destroy(a);
    return rc;
}

/* ---- results ---- */

static void outcome(struct intake_delivery_result *res, enum intake_outcome o, const char *step,
                    const char *why)
{
    res->outcome = o;
    snprintf(res->error, sizeof res->error, "%s: %s", step, why);
}

static void keep(struct intake_delivery_result *res, const struct intake_httpc_resp *r)
{
    size_t n = r->body_len < INTAKE_SINK_BODY_KEEP ? r->body_len : INTAKE_SINK_BODY_KEEP;
    while (n > 0 && n < r->body_len && ((unsigned char)r->body[n] & 0xC0) == 0x80)
        n--;
    memcpy(res->response, r->body, n);
    res->response[n] = '\0';
}

/* ---- requests ---- */

/* POSTs body to url with the platform's token. Returns what intake_httpc_do returns. */
static int post(struct actions *a, const struct platform *p, const char *url, const char *ctype,
                const char *body, const char *idem, struct intake_httpc_resp *r)
{
    char key[INTAKE_RECORD_ID_LEN + 64];
    const char *headers[4] = {ctype, "Accept: application/json", p->auth, key};
    snprintf(key, sizeof key, "Idempotency-Key: %s", idem ? idem : "");
    struct intake_httpc_req req = {"POST", url, headers, idem ? 4 : 3, body, strlen(body)};
    return intake_httpc_do(a->http, &req, r);
}

/* A Graph answer: 0 when it succeeded (or, for the reply, was already done: *already),
 * else fills res and returns -1. */
static int judge_graph(struct actions *a, int sent, const struct intake_httpc_resp *r,
                       const char *step, bool *already, struct intake_delivery_result *res)
{
    struct intake_meta_error e;
    char why[96], buc[2048];
    res->status = (int)r->status;
    if (sent != 0) {
        outcome(res, INTAKE_RETRY, step, r->error);
        return -1;
    }
    if (r->status == 200)
        return 0;
    intake_meta_error_parse(r->body, r->body_len, &e);
    if (already && e.code == ALREADY_REPLIED) {
        *already = true;
        return 0;
    }
    enum intake_meta_action act = intake_meta_action_of(e.code);
    bool retry = act != INTAKE_META_FAIL || r->status == 401 || r->status == 429 ||
                 r->status >= 500;
    snprintf(why, sizeof why, "HTTP %ld, Graph error code %d%s", r->status, e.code,
             act == INTAKE_META_REAUTH ? " (the token is invalid or expired)"
             : act == INTAKE_META_THROTTLE ? " (throttled)" : "");
    outcome(res, retry ? INTAKE_RETRY : INTAKE_DEAD, step, why);
    double regain = 0;
    intake_meta_usage(NULL, intake_httpc_header(a->http, "X-Business-Use-Case-Usage", buc,
                                                sizeof buc), &regain);
    res->retry_after = act == INTAKE_META_THROTTLE && regain > 0 ? regain : -1;
    keep(res, r);
    return -1;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* An id fit for a URL path: digits and '_' only, not too long. */
static bool id_ok(const char *id)
{
    return id && id[0] && strlen(id) <= ID_MAX && strspn(id, "0123456789_") == strlen(id);
}

static void facebook(struct actions *a, json_t *rec, struct intake_delivery_result *res)
{
    json_t *thread = json_object_get(rec, "thread");
    /* a comment is answered by its comment_id; a visitor post (no comment_id) by its
     * post_id: Graph refuses a post id given as comment_id (error 100) */
    const char *kind = str(thread, "comment_id") ? "comment_id" : "post_id";
    const char *comment = str(thread, "comment_id") ? str(thread, "comment_id")
                          : str(thread, "post_id")  ? str(thread, "post_id")
                                                    : str(rec, "source_id");
    const char *page = str(thread, "page_id") ? str(thread, "page_id") : a->page_id;
    char url[URL_MAX];
    struct intake_httpc_resp r;
    bool already = false;
    if (!id_ok(comment) || !id_ok(page)) {
        outcome(res, INTAKE_DEAD, "facebook", "no usable comment id or page id in the record");
        return;
    }
    snprintf(url, sizeof url, "%s/%s", a->fb.base, comment);
    if (a->hide &&
        judge_graph(a, post(a, &a->fb, url, "Content-Type: application/x-www-form-urlencoded",
                            "is_hidden=true", NULL, &r), &r, "hide", NULL, res) != 0)
        return;
    json_t *body = json_pack("{s:{s:s}, s:{s:s}}", "recipient", kind, comment,
                             "message", "text", a->fb.text);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    snprintf(url, sizeof url, "%s/%s/messages", a->fb.base, page);
    int sent = text ? post(a, &a->fb, url, "Content-Type: application/json", text, NULL, &r)
                    : -1;
    if (!text)
        snprintf(r.error, sizeof r.error, "out of memory");
    free(text);
    if (judge_graph(a, sent, &r, "private reply", &already, res) != 0)
        return;
    outcome(res, INTAKE_DELIVERED, "facebook", already ? "hidden; the private reply had been "
            "sent by an earlier attempt" : a->hide ? "hidden and replied privately"
            : "replied privately");
}

/* Seconds until an epoch-seconds or ISO reset header value, +1; -1 when absent. */
static double until_reset(struct actions *a, const char *header)
{
    char v[64];
    double t;
    const char *s = intake_httpc_header(a->http, header, v, sizeof v);
    if (s == NULL || (intake_time_parse(s, &t) != 0 && sscanf(s, "%lf", &t) != 1))
        return -1;
    t -= intake_time_now();
    return t < 0 ? 1 : t + 1;
}

/* The id in {"data": {"id"}} (X) or {"id"} (Mastodon) into res->case_id. */
static void take_id(const struct intake_httpc_resp *r, struct intake_delivery_result *res)
{
    json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
    const char *id = str(json_object_get(doc, "data"), "id") ? str(json_object_get(doc, "data"),
                                                                   "id") : str(doc, "id");
    snprintf(res->case_id, sizeof res->case_id, "%s", id ? id : "");
    json_decref(doc);
}

/* "@handle text": the author's handle first. Mastodon notifies the author by it; X
 * refuses a text identical to an earlier post of the account (seen in public reports),
 * and the handle makes each resident's reply differ. A handle with anything but letters,
 * digits and "_.-@" is left out. Returns a new string, NULL when out of memory. */
static char *mention_text(const char *text, const char *handle)
{
    const char *h = handle && handle[0] == '@' ? handle + 1 : handle;
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789_.-@";
    if (h && (!h[0] || strspn(h, ok) != strlen(h) || strlen(h) > 200))
        h = NULL;
    size_t n = strlen(text) + (h ? strlen(h) : 0) + 4;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s%s", h ? "@" : "", h ? h : "", h ? " " : "", text);
    return out;
}

/* Judges the answer to an X reply (sent: what intake_httpc_do returned). */
static void judge_x(struct actions *a, int sent, const struct intake_httpc_resp *r,
                    struct intake_delivery_result *res)
{
    char why[200];
    res->status = sent == 0 ? (int)r->status : 0;
    if (sent != 0 && !r->maybe_sent) {
        outcome(res, INTAKE_RETRY, "x reply", r->error);
    } else if (sent != 0 || r->status >= 500) {
        snprintf(why, sizeof why, "outcome unknown (%s): not retried, so that the reply is "
                 "never posted twice; check the conversation", sent ? "no answer" : "5xx");
        outcome(res, INTAKE_DEAD, "x reply", why);
    } else if (r->status == 200 || r->status == 201) {
        outcome(res, INTAKE_DELIVERED, "x reply", "replied");
        take_id(r, res);
    } else {
        snprintf(why, sizeof why, "HTTP %ld", r->status);
        outcome(res, r->status == 429 || r->status == 401 ? INTAKE_RETRY : INTAKE_DEAD,
                "x reply", why);
        res->retry_after = r->status == 429 ? until_reset(a, "x-rate-limit-reset") : -1;
    }
    if (sent == 0 && res->outcome != INTAKE_DELIVERED)
        keep(res, r);
}

static void x_reply(struct actions *a, json_t *rec, struct intake_delivery_result *res)
{
    json_t *thread = json_object_get(rec, "thread");
    const char *post_id = str(thread, "post_id") ? str(thread, "post_id")
                                                 : str(rec, "source_id");
    char url[URL_MAX];
    struct intake_httpc_resp r;
    if (!id_ok(post_id)) {
        outcome(res, INTAKE_DEAD, "x reply", "no usable post id in the record");
        return;
    }
    char *msg = mention_text(a->x.text, str(json_object_get(rec, "author"), "handle"));
    json_t *body = msg ? json_pack("{s:s, s:{s:s}}", "text", msg, "reply",
                                   "in_reply_to_tweet_id", post_id) : NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    free(msg);
    if (text == NULL) {
        outcome(res, INTAKE_RETRY, "x reply", "out of memory");
        return;
    }
    snprintf(url, sizeof url, "%s/2/tweets", a->x.base);
    int sent = post(a, &a->x, url, "Content-Type: application/json", text, NULL, &r);
    free(text);
    judge_x(a, sent, &r, res);
}

/* The reply's visibility: the post's own when it is one of Mastodon's, else "private"
 * (followers only: an unknown visibility must never become a wider one). */
static const char *reply_visibility(const char *v)
{
    return v && (strcmp(v, "public") == 0 || strcmp(v, "unlisted") == 0 ||
                 strcmp(v, "private") == 0) ? v : "private";
}

static void mastodon(struct actions *a, const char *record_id, json_t *rec,
                     struct intake_delivery_result *res)
{
    json_t *thread = json_object_get(rec, "thread");
    const char *status = str(thread, "status_id") ? str(thread, "status_id")
                                                  : str(rec, "source_id");
    char url[URL_MAX], why[64];
    struct intake_httpc_resp r;
    if (!id_ok(status)) {
        outcome(res, INTAKE_DEAD, "mastodon reply", "no usable status id in the record");
        return;
    }
    char *msg = mention_text(a->masto.text, str(json_object_get(rec, "author"), "handle"));
    json_t *body = msg ? json_pack("{s:s, s:s, s:s}", "status", msg, "in_reply_to_id", status,
                                   "visibility", reply_visibility(str(thread, "visibility")))
                       : NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    free(msg);
    snprintf(url, sizeof url, "%s/api/v1/statuses", a->masto.base);
    int sent = text ? post(a, &a->masto, url, "Content-Type: application/json", text, record_id,
                           &r) : -1;
    free(text);
    res->status = sent == 0 ? (int)r.status : 0;
    if (sent != 0) {
        outcome(res, INTAKE_RETRY, "mastodon reply", text ? r.error : "out of memory");
        return;
    }
    if (r.status == 200) {
        outcome(res, INTAKE_DELIVERED, "mastodon reply", "replied");
        take_id(&r, res);
        return;
    }
    snprintf(why, sizeof why, "HTTP %ld", r.status);
    bool retry = r.status == 429 || r.status == 401 || r.status >= 500;
    outcome(res, retry ? INTAKE_RETRY : INTAKE_DEAD, "mastodon reply", why);
    res->retry_after = r.status == 429 ? until_reset(a, "X-RateLimit-Reset") : -1;
    keep(res, &r);
}

/* ---- the entry point ---- */

static void skip(struct intake_delivery_result *res, const char *why)
{
    res->outcome = INTAKE_SKIPPED;
    snprintf(res->error, sizeof res->error, "%s", why);
}

static void sa_deliver(void *state, const char *record_id, const char *record_json, size_t len,
                       struct intake_delivery_result *res)
{
    struct actions *a = state;
    memset(res, 0, sizeof *res);
    res->retry_after = -1;
    json_t *rec = json_loadb(record_json, len, 0, NULL);
    const char *channel = str(rec, "channel");
    if (!json_is_object(rec))
        outcome(res, INTAKE_DEAD, "record", "not a JSON object");
    else if (!json_is_true(json_object_get(rec, "public")))
        skip(res, "not a public post");
    else if (json_array_size(json_object_get(rec, "redactions")) == 0)
        skip(res, "no personal data found");
    else if (channel && strcmp(channel, "facebook") == 0 && a->fb.on)
        facebook(a, rec, res);
    else if (channel && strcmp(channel, "x") == 0 && a->x.on)
        x_reply(a, rec, res);
    else if (channel && strcmp(channel, "mastodon") == 0 && a->masto.on)
        mastodon(a, record_id, rec, res);
    else
        skip(res, "no action configured for this channel");
    json_decref(rec);
}

/* The "social_actions" sink type (registered in registry.c). */
const struct intake_sink_type intake_sink_social_actions = {
    .type = "social_actions",
    .description = "hides public Facebook comments with personal data and replies privately; "
                   "optional replies on X and Mastodon asking for a private message",
    .options = options,
    .check = sa_check,
    .create = sa_create,
    .deliver = sa_deliver,
    .destroy = sa_destroy,
    .at_most_once = true, /* a mail or a reply sent twice is seen twice */
};
