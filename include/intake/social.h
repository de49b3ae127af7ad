/*
 * What the social connectors share (the facebook, x and mastodon sources, and the
 * social_actions sink): reading the vendors' rate-limit headers and error bodies (pure
 * functions, unit-tested), and a polling runtime over the shared HTTP client (httpc.h):
 * the common options, an authenticated GET of a JSON document with a size cap, and the
 * run loop that turns a poll's outcome into the source's state ("ok", "error",
 * "needs_reauth") and its next wait. Shapes: ../shared/apis.md sections 1-3.
 */
#ifndef INTAKE_SOCIAL_H
#define INTAKE_SOCIAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "intake/httpc.h"
#include "intake/source.h"

/* ---- pure parsing ---- */

/* A rate-limit budget as the headers said it. */
struct intake_rate {
    bool known;      /* all three headers were present and well formed */
    long limit;      /* requests per window */
    long remaining;  /* left in this window */
    double reset;    /* Unix seconds when the window starts again */
};

/* X: x-rate-limit-limit / -remaining / -reset (epoch seconds). Any argument may be NULL
 * (absent header): then out->known is false. Returns 0 when known, else -1. */
int intake_rate_parse_x(const char *limit, const char *remaining, const char *reset,
                        struct intake_rate *out);

/* Mastodon: X-RateLimit-Limit / -Remaining / -Reset (an ISO 8601 time). As above. */
int intake_rate_parse_mastodon(const char *limit, const char *remaining, const char *reset,
                               struct intake_rate *out);

/* Seconds to wait before the next request so that the budget lasts the window: `floor`
 * when the budget is unknown or ample; (reset - now) / remaining when that is longer;
 * reset - now + 1 when nothing remains. Never negative, at most a day. */
double intake_rate_wait(const struct intake_rate *r, double now, double floor);

/* A Graph API error body {"error": {"code", "error_subcode", "is_transient", ...}}. */
struct intake_meta_error {
    int code;        /* 0 when the body holds no error */
    int subcode;
    bool transient;
};

/* Parses `len` bytes of a response body. Returns 0 and fills *e when it is a Graph error
 * object, -1 otherwise (e->code is then 0). */
int intake_meta_error_parse(const char *body, size_t len, struct intake_meta_error *e);

/* What a Graph error code asks of us. */
enum intake_meta_action {
    INTAKE_META_FAIL,     /* a plain failure */
    INTAKE_META_THROTTLE, /* 4, 17, 32, 613, 80001 (rate limits): back off */
    INTAKE_META_REAUTH,   /* 190: the token is invalid or expired */
    INTAKE_META_TEMP      /* 1, 2: temporary, try again */
};

enum intake_meta_action intake_meta_action_of(int code);

/* The highest percentage in X-App-Usage / X-Page-Usage ({"call_count":28,...}) and
 * X-Business-Use-Case-Usage ({"<id>":[{"call_count":95,...,
 * "estimated_time_to_regain_access":5}]}) values (either may be NULL). Returns the
 * percentage (0 when none), and sets *regain to the longest estimated_time_to_regain_access
 * in seconds (0 when none; at most a day, the longest wait of the social sources). */
double intake_meta_usage(const char *app_usage, const char *buc_usage, double *regain);

/* Compares two decimal id strings (X and Mastodon snowflakes) as numbers: <0, 0, >0. */
int intake_id_cmp(const char *a, const char *b);

/* ---- the polling runtime ---- */

/* The options every social source takes, placed inside its option table. */
#define INTAKE_SOCIAL_OPTIONS(default_base, base_required)                                   \
    {"base_url", INTAKE_OPT_STRING, default_base,                                            \
     "the API's base URL (a local stand-in in tests)", NULL, 0, 0, base_required,           \
     false},                                                                                 \
    {"token", INTAKE_OPT_STRING, NULL, "access token, sent as Authorization: Bearer", NULL,  \
     0, 0, true, true},                                                                      \
    {"timeout", INTAKE_OPT_INT, "30", "seconds one API request may take", NULL, 1, 600,      \
     false, false},                                                                          \
    {"tls_verify", INTAKE_OPT_BOOL, "yes",                                                   \
     "check the server's certificate and name (turn off only for a test)", NULL, 0, 0,      \
     false, false},                                                                          \
    {"ca_file", INTAKE_OPT_PATH, NULL,                                                       \
     "PEM file of CA certificates to trust instead of the system's", NULL, 0, 0, false,     \
     false},                                                                                 \
    {"max_page_bytes", INTAKE_OPT_INT, "4194304",                                            \
     "largest API response read, in bytes; a larger one is an error", NULL, 1024,            \
     64L * 1024 * 1024, false, false}

/* One source's connection. Every pointer is owned by it (intake_social_close). */
struct intake_social {
    intake_source_ctx *ctx;
    intake_httpc *http;
    char *auth;         /* "Authorization: Bearer ..." */
    char *base;         /* base_url without a trailing '/' */
    double interval;    /* poll_interval */
    struct intake_httpc_resp resp; /* the last response */
};

/* The checks every social source's section gets (config check and start): base_url an
 * http(s) URL, the token without line breaks; `id_key` (may be NULL) a numeric id. Returns
 * 0, or -1 with "file:line: ..." messages in diag (no secret quoted). */
int intake_social_check(const intake_config *cfg, const struct intake_section *sec,
                        const char *id_key, intake_diag *diag);

/* Opens the connection from the source's section. Returns 0, or -1 (logged, no secret). */
int intake_social_open(struct intake_social *s, intake_source_ctx *ctx);

void intake_social_close(struct intake_social *s);

/* GETs url (which must start with the base URL: a paging link pointing elsewhere is
 * refused, so the token never leaves for another host) with the token. Returns the parsed
 * body (the caller owns it) when it is JSON, else NULL; s->resp holds the status (0 after
 * a transfer failure) either way. */
json_t *intake_social_get(struct intake_social *s, const char *url);

/* A header of the last response into out (cap bytes); NULL when absent. */
const char *intake_social_header(const struct intake_social *s, const char *name, char *out,
                                 size_t cap);

/* How a poll ended. */
enum intake_poll {
    INTAKE_POLL_OK,      /* everything fetched and stored */
    INTAKE_POLL_WAIT,    /* rate-limited or throttled: *wait says how long */
    INTAKE_POLL_REAUTH,  /* the token is invalid or expired */
    INTAKE_POLL_ERROR    /* anything else: try again at the next poll */
};

/* A poll: fetches and submits; sets *wait (seconds before the next poll; the runtime uses
 * at least poll_interval) and *reason (a static text without personal data). */
typedef enum intake_poll (*intake_social_poll_fn)(struct intake_social *s, void *state,
                                                   double *wait, const char **reason);

/* Runs poll until the daemon stops: reports the state (one log line when it changes:
 * "needs_reauth" says the token must be renewed), counts polls and sleeps. Returns 0. */
int intake_social_run(struct intake_social *s, intake_social_poll_fn poll, void *state);

/* The answers X and Mastodon share: 429 waits until the window of `rate` resets (or
 * `unknown_wait` seconds when its headers said nothing) and 401 asks for a new token.
 * Returns true with *out, *wait (429 only) and *reason set; false for any other status. */
bool intake_social_refused(long status, const struct intake_rate *rate, double unknown_wait,
                           enum intake_poll *out, double *wait, const char **reason);

/* Within a poll: when the budget r is known and used up, sleeps until its window resets
 * (+1 s). Returns false when the daemon began to stop. */
bool intake_social_await(struct intake_social *s, const struct intake_rate *r);

/* Sets item.received_at from an RFC 3339 time (left unset when it is not one). */
void intake_social_set_time(json_t *item, const char *when);

/* Submits items with the cursor (may be NULL) in one transaction. Returns 0, or -1 when
 * the spool failed (nothing stored, the cursor not moved). Items are borrowed. */
int intake_social_submit(struct intake_social *s, json_t *items, const char *cursor_key,
                         const char *cursor_value);

/* A new item {"id", "channel", "body", "public", "from": {"name", "handle"},
 * "permalink", "thread": {}}; NULL arguments other than id become null or are left out.
 * The caller owns it. */
json_t *intake_social_item(const char *id, const char *channel, const char *body, bool pub,
                           const char *name, const char *handle, const char *permalink);

#endif
