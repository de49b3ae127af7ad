/*
 * The webhook source: vendors POST events to `path` on the daemon's HTTP server (a
 * reverse proxy in front does TLS). Formats: generic (the JSON body of DESIGN.md, or
 * another vendor's mapped by JSON pointers), meta (Facebook page feed and Messenger) and
 * intercom. The parsing and signature checks are in webhook_parse.c
 * (include/intake/webhook.h); this file holds the options and the HTTP handlers.
 *
 * One POST goes: signature on the raw bytes (401), content type (415), JSON and the
 * format's members (400), then every item of the request in one group commit
 * (intake_source_submit_shared). 200 only once committed, a duplicate included; 503 with
 * Retry-After when the spool cannot take it now. The server answers 413 past max_body.
 *
 * The source keeps no state: handlers read the section's options per request (a few
 * string look-ups), so nothing needs freeing when the server stops. Logs carry the
 * source name, a status and a fixed reason, never a header value, a body or a secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "intake/log.h"
#include "intake/source.h"
#include "intake/spool.h"
#include "intake/timefmt.h"
#include "intake/webhook.h"

#define RETRY_AFTER 5 /* seconds a vendor is asked to wait when the spool is busy */
#define MAX_ITEMS 1000 /* items taken from one request; more is a 400 */

static const struct intake_option options[] = {
    {"path", INTAKE_OPT_STRING, NULL,
     "URL path the vendor posts to on the [http] server, e.g. /webhooks/webchat", NULL, 0, 0,
     true, false},
    {"format", INTAKE_OPT_ENUM, "generic",
     "body and signature format: generic (X-Signature-256 or Standard Webhooks), meta "
     "(Facebook page feed and Messenger) or intercom", "generic|meta|intercom", 0, 0, false,
     false},
    {"secret", INTAKE_OPT_STRING, NULL,
     "HMAC key: the shared secret (generic; standard-webhooks: the whsec_ key), the Meta app "
     "secret or the Intercom client secret", NULL, 0, 0, true, true},
    {"signature", INTAKE_OPT_ENUM, "hub-sha256",
     "generic only: hub-sha256 (X-Signature-256: sha256=<hex>) or standard-webhooks "
     "(webhook-id, webhook-timestamp, webhook-signature)", "hub-sha256|standard-webhooks", 0,
     0, false, false},
    {"verify_token", INTAKE_OPT_STRING, NULL,
     "meta: the token the GET verification handshake must carry (hub.verify_token)", NULL, 0,
     0, false, true},
    {"tolerance", INTAKE_OPT_INT, "300",
     "seconds a signed timestamp (standard-webhooks) may be off from now", NULL, 1, 86400,
     false, false},
    {"max_body", INTAKE_OPT_INT, "1048576",
     "largest request body in bytes (chunked bodies counted too); larger ones get 413", NULL,
     1, 8L * 1024 * 1024, false, false},
    {"id_pointer", INTAKE_OPT_STRING, "/id",
     "generic: JSON pointer to the event's unique id (the source_id; deduplicated)", NULL, 0,
     0, false, false},
    {"text_pointer", INTAKE_OPT_STRING, "/text", "generic: JSON pointer to the message text",
     NULL, 0, 0, false, false},
    {"author_name_pointer", INTAKE_OPT_STRING, "/author/name",
     "generic: JSON pointer to the author's name", NULL, 0, 0, false, false},
    {"author_email_pointer", INTAKE_OPT_STRING, "/author/email",
     "generic: JSON pointer to the author's e-mail address", NULL, 0, 0, false, false},
    {"author_handle_pointer", INTAKE_OPT_STRING, "/author/handle",
     "generic: JSON pointer to the author's handle or user id", NULL, 0, 0, false, false},
    {"conversation_pointer", INTAKE_OPT_STRING, "/conversation_id",
     "generic: JSON pointer to the conversation id (thread.conversation_id)", NULL, 0, 0,
     false, false},
    {"created_pointer", INTAKE_OPT_STRING, "/created_at",
     "generic: JSON pointer to the event time (RFC 3339 or Unix seconds/milliseconds)", NULL,
     0, 0, false, false},
    {"public_pointer", INTAKE_OPT_STRING, "/public",
     "generic: JSON pointer to whether the message was public (true/false)", NULL, 0, 0,
     false, false},
    {0},
};

/* The options one request needs, read from the section (all borrowed from it). */
struct hook {
    intake_source_ctx *ctx;
    const char *name, *secret, *verify_token;
    bool standard; /* generic with signature = standard-webhooks */
    long tolerance;
    struct intake_webhook_conf conf;
};

static enum intake_webhook_format format_of(const struct intake_section *sec)
{
    const char *f = intake_config_get(sec, "format");
    return f && strcmp(f, "meta") == 0       ? INTAKE_WEBHOOK_META
         : f && strcmp(f, "intercom") == 0 ? INTAKE_WEBHOOK_INTERCOM
                                           : INTAKE_WEBHOOK_GENERIC;
}

/* The items' channel: the section's own `channel` line, else the format's. */
static const char *channel_of(const struct intake_section *sec, enum intake_webhook_format f)
{
    for (size_t i = 0; i < sec->nkv; i++)
        if (strcmp(sec->kv[i].key, "channel") == 0)
            return sec->kv[i].value;
    return f == INTAKE_WEBHOOK_META ? "facebook" : "webchat";
}

static void load_hook(intake_source_ctx *ctx, struct hook *h)
{
    const struct intake_section *sec = intake_source_section(ctx);
    memset(h, 0, sizeof *h);
    h->ctx = ctx;
    h->name = intake_source_name(ctx);
    h->secret = intake_config_get(sec, "secret");
    h->verify_token = intake_config_get(sec, "verify_token");
    h->conf.format = format_of(sec);
    const char *sig = intake_config_get(sec, "signature");
    h->standard = h->conf.format == INTAKE_WEBHOOK_GENERIC && sig &&
                  strcmp(sig, "standard-webhooks") == 0;
    h->tolerance = intake_config_get_int(sec, "tolerance", 300);
    h->conf.channel = channel_of(sec, h->conf.format);
    struct intake_webhook_pointers *p = &h->conf.pointers;
    p->id = intake_config_get(sec, "id_pointer");
    p->text = intake_config_get(sec, "text_pointer");
    p->author_name = intake_config_get(sec, "author_name_pointer");
    p->author_email = intake_config_get(sec, "author_email_pointer");
    p->author_handle = intake_config_get(sec, "author_handle_pointer");
    p->conversation = intake_config_get(sec, "conversation_pointer");
    p->created = intake_config_get(sec, "created_pointer");
    p->public_ = intake_config_get(sec, "public_pointer");
}

/* ---- answers ---- */

static int answer(struct intake_http_response *resp, int status, const char *text)
{
    return intake_http_respond(resp, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* Answers a refused request and logs it (source, status, fixed reason). */
static int refuse(const struct hook *h, struct intake_http_response *resp, int status,
                  const char *reason)
{
    char code[8], text[128];
    snprintf(code, sizeof code, "%d", status);
    snprintf(text, sizeof text, "%s\n", reason);
    intake_log(status >= 500 ? INTAKE_LOG_WARN : INTAKE_LOG_INFO, "webhook_refused", "source",
               h->name, "status", code, "reason", reason, NULL);
    return answer(resp, status, text);
}

/* ---- the POST handler ---- */

/* Checks the request's signature. Returns 0, or the reason it fails. */
static const char *signature_problem(const struct hook *h, const struct intake_http_request *req)
{
    if (h->standard) {
        int rc = intake_webhook_check_standard(
            h->secret, intake_http_header(req, "webhook-id"),
            intake_http_header(req, "webhook-timestamp"),
            intake_http_header(req, "webhook-signature"), req->body, req->body_len,
            intake_time_now(), h->tolerance);
        return rc == INTAKE_WEBHOOK_SIG_OK      ? NULL
             : rc == INTAKE_WEBHOOK_SIG_STALE ? "timestamp outside the tolerance"
                                              : "bad or missing signature";
    }
    const char *header, *algo = "sha256";
    if (h->conf.format == INTAKE_WEBHOOK_INTERCOM) {
        header = intake_http_header(req, "X-Hub-Signature");
        algo = "sha1";
    } else if (h->conf.format == INTAKE_WEBHOOK_META) {
        header = intake_http_header(req, "X-Hub-Signature-256");
    } else {
        header = intake_http_header(req, "X-Signature-256");
        if (!header)
            header = intake_http_header(req, "X-Hub-Signature-256");
    }
    bool ok = intake_webhook_check_hub(header, algo, h->secret, req->body, req->body_len);
    return ok ? NULL : "bad or missing signature";
}

/* Whether the content type is application/json (parameters such as charset allowed). */
static bool is_json(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    ct += strspn(ct, " \t");
    size_t n = sizeof want - 1;
    for (size_t i = 0; i < n; i++)
        if (ct[i] == '\0' || (ct[i] | 0x20) != want[i])
            return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

/* Parses the body into items. Returns 0 with *items (the caller's), or -1 with a reason
 * for a 400. */
static int body_items(struct hook *h, const struct intake_http_request *req, json_t **items,
                      const char **why)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    *items = NULL;
    if (!body) {
        *why = "malformed JSON";
        return -1;
    }
    h->conf.fallback_id = h->standard ? intake_http_header(req, "webhook-id") : NULL;
    int rc = intake_webhook_items(&h->conf, body, items, why);
    json_decref(body);
    size_t i;
    json_t *it;
    json_array_foreach(rc == 0 ? *items : NULL, i, it) {
        const char *bad = intake_spool_item_invalid(it);
        if (bad || i >= MAX_ITEMS) {
            *why = bad ? bad : "too many events in one request";
            rc = -1;
            break;
        }
    }
    if (rc) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}

/* Commits the items and answers: 200 with counts, 503 + Retry-After, or 500. */
static int store(const struct hook *h, json_t *items, struct intake_http_response *resp)
{
    size_t n = json_array_size(items);
    struct intake_submit_result *res = calloc(n ? n : 1, sizeof *res);
    json_t **list = calloc(n ? n : 1, sizeof *list);
    int rc = res && list ? INTAKE_SPOOL_OK : INTAKE_SPOOL_TEMP;
    for (size_t i = 0; rc == INTAKE_SPOOL_OK && i < n; i++)
        list[i] = json_array_get(items, i);
    if (rc == INTAKE_SPOOL_OK && n > 0)
        rc = intake_source_submit_shared(h->ctx, list, n, res);
    size_t dup = 0;
    for (size_t i = 0; rc == INTAKE_SPOOL_OK && i < n; i++)
        dup += res[i].duplicate;
    free(res);
    free(list);
    if (rc == INTAKE_SPOOL_TEMP) {
        resp->retry_after = RETRY_AFTER;
        return refuse(h, resp, 503, "the spool cannot take it now");
    }
    if (rc != INTAKE_SPOOL_OK)
        return refuse(h, resp, 500, "the spool refused the items");
    char text[96], stored[24];
    snprintf(text, sizeof text, "{\"stored\":%zu,\"duplicates\":%zu}\n", n - dup, dup);
    snprintf(stored, sizeof stored, "%zu", n - dup);
    intake_log(INTAKE_LOG_DEBUG, "webhook_stored", "source", h->name, "stored", stored, NULL);
    return intake_http_respond(resp, 200, "application/json", text, strlen(text));
}

static int on_post(void *ud, const struct intake_http_request *req,
                   struct intake_http_response *resp)
{
    struct hook h;
    load_hook(ud, &h);
    const char *why = signature_problem(&h, req);
    if (why)
        return refuse(&h, resp, 401, why);
    if (!is_json(intake_http_header(req, "Content-Type")))
        return refuse(&h, resp, 415, "content type must be application/json");
    json_t *items;
    if (body_items(&h, req, &items, &why) != 0)
        return refuse(&h, resp, 400, why);
    int rc = store(&h, items, resp);
    json_decref(items);
    return rc;
}

/* ---- the Meta GET handshake ---- */

static bool token_matches(const char *got, const char *want)
{
    size_t n = want ? strlen(want) : 0;
    return got && n > 0 && strlen(got) == n && CRYPTO_memcmp(got, want, n) == 0;
}

static int on_verify(void *ud, const struct intake_http_request *req,
                     struct intake_http_response *resp)
{
    struct hook h;
    load_hook(ud, &h);
    const char *mode = intake_http_query(req, "hub.mode");
    const char *challenge = intake_http_query(req, "hub.challenge");
    if (!mode || strcmp(mode, "subscribe") != 0 || !challenge || strlen(challenge) > 256 ||
        !token_matches(intake_http_query(req, "hub.verify_token"), h.verify_token))
        return refuse(&h, resp, 403, "verification refused");
    intake_log(INTAKE_LOG_INFO, "webhook_verified", "source", h.name, NULL);
    return intake_http_respond(resp, 200, "text/plain; charset=utf-8", challenge,
                               strlen(challenge));
}

/* ---- plugin callbacks ---- */

static int mount(intake_source_ctx *ctx, intake_httpd *httpd, char *err, size_t errlen)
{
    const struct intake_section *sec = intake_source_section(ctx);
    const char *path = intake_config_get(sec, "path");
    size_t max_body = (size_t)intake_config_get_int(sec, "max_body", 1048576);
    if (intake_httpd_route(httpd, "POST", path, INTAKE_HTTP_EXACT, max_body, on_post, ctx) ||
        (format_of(sec) == INTAKE_WEBHOOK_META &&
         intake_httpd_route(httpd, "GET", path, INTAKE_HTTP_EXACT, 0, on_verify, ctx))) {
        snprintf(err, errlen, "cannot route its path (used twice, or too many routes)");
        return -1;
    }
    intake_source_state(ctx, "ok", NULL);
    return 0;
}

static bool pointer_ok(const char *p)
{
    return !p || !*p || p[0] == '/';
}

/* The first problem of the section that the option table cannot see, or NULL. */
static const char *section_problem(const intake_config *cfg, const struct intake_section *sec)
{
    const struct intake_section *http = intake_config_section(cfg, "http", NULL);
    const char *path = intake_config_get(sec, "path");
    const char *sig = intake_config_get(sec, "signature");
    static const char *const pointers[] = {"id_pointer", "text_pointer",
        "author_name_pointer", "author_email_pointer", "author_handle_pointer",
        "conversation_pointer", "created_pointer", "public_pointer", NULL};
    if (!intake_config_get_bool(http, "enabled", true))
        return "a webhook source needs the [http] server (enabled = yes)";
    if (!path || path[0] != '/' || strpbrk(path, "?# \t"))
        return "path must start with / and hold no query, fragment or space";
    if (format_of(sec) == INTAKE_WEBHOOK_META && !intake_config_get(sec, "verify_token"))
        return "format = meta needs verify_token (for the GET verification handshake)";
    if (format_of(sec) == INTAKE_WEBHOOK_GENERIC && sig &&
        strcmp(sig, "standard-webhooks") == 0 &&
        !intake_webhook_standard_secret_ok(intake_config_get(sec, "secret")))
        return "signature = standard-webhooks needs a base64 secret (whsec_...)";
    for (size_t i = 0; pointers[i]; i++)
        if (!pointer_ok(intake_config_get(sec, pointers[i])))
            return "a *_pointer value must be empty or start with /";
    return NULL;
}

static int check(const intake_config *cfg, const struct intake_section *sec, intake_diag *diag)
{
    const char *problem = section_problem(cfg, sec);
    if (!problem)
        return 0;
    intake_diag_add(diag, "%s:%d: source \"%s\": %s", cfg->path, sec->line, sec->name,
                    problem);
    return -1;
}

const struct intake_source_type intake_source_webhook = {
    "webhook", "events pushed over HTTP by a webchat vendor, Meta or Intercom (signed)",
    options, check, NULL, mount,
};
