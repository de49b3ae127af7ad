/*
 * The webhook source's pure parts (gateway/sources/webhook.c), public so that they can be
 * tested without a server: signature checks, JSON pointers, and vendor events to items
 * (HTML to text is in intake/html.h).
 * No I/O, no threads, no logging.
 */
#ifndef INTAKE_WEBHOOK_H
#define INTAKE_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>


enum intake_webhook_format { INTAKE_WEBHOOK_GENERIC, INTAKE_WEBHOOK_META, INTAKE_WEBHOOK_INTERCOM };

/* Where the generic format finds each member: JSON pointers (RFC 6901) into the body. */
struct intake_webhook_pointers {
    const char *id, *text, *author_name, *author_email, *author_handle, *conversation,
        *created, *public_;
};

/* How events become items. Every pointer is borrowed. */
struct intake_webhook_conf {
    enum intake_webhook_format format;
    const char *channel;                     /* the items' channel */
    struct intake_webhook_pointers pointers; /* generic only */
    const char *fallback_id; /* generic: source_id when the body has none (the Standard
                              * Webhooks webhook-id); may be NULL */
};

/* Compares n bytes in time that does not depend on where they differ (CRYPTO_memcmp).
 * Returns true when equal. */
bool intake_webhook_equal(const void *a, const void *b, size_t n);

/* Checks a hub-style signature header, "<algo>=<hex>" with algo "sha256" (HMAC-SHA256:
 * X-Hub-Signature-256, X-Signature-256) or "sha1" (HMAC-SHA1: Intercom's X-Hub-Signature),
 * against HMAC(secret, the raw body). The hex may be upper or lower case. Returns true
 * when it matches; false when it does not, or header or secret is NULL or malformed. */
bool intake_webhook_check_hub(const char *header, const char *algo, const char *secret,
                              const char *body, size_t len);

/* Standard Webhooks results. */
#define INTAKE_WEBHOOK_SIG_OK 0
#define INTAKE_WEBHOOK_SIG_BAD (-1)   /* missing, malformed or no signature matches */
#define INTAKE_WEBHOOK_SIG_STALE (-2) /* the timestamp is more than tolerance s from now */

/* Checks Standard Webhooks headers: `signatures` is a space-separated list of
 * "v1,<base64>"; the signed text is "<id>.<timestamp>.<body>"; the key is the base64
 * decoding of `secret` after an optional "whsec_" prefix. `now` is Unix seconds. Any
 * NULL argument is a bad signature. Returns an INTAKE_WEBHOOK_SIG_* code. */
int intake_webhook_check_standard(const char *secret, const char *id, const char *timestamp,
                                  const char *signatures, const char *body, size_t len,
                                  double now, long tolerance);

/* Whether a Standard Webhooks secret decodes to a key (for the config check). */
bool intake_webhook_standard_secret_ok(const char *secret);

/* A JSON pointer (RFC 6901, "" is the whole document) into `doc`. Returns the value
 * (borrowed from doc) or NULL when it does not resolve or the pointer is malformed. */
json_t *intake_json_pointer(json_t *doc, const char *pointer);

/* Turns one parsed request body (borrowed) into items for intake_spool_submit. On
 * success returns 0 and stores in *items a new array the caller owns (json_decref), which
 * may be empty (a ping, or only skipped events: own comments, echoes, removals). Returns
 * -1 with a short static reason (never quoting the input) in *why for a body that lacks
 * what the format needs, or when memory runs out. */
int intake_webhook_items(const struct intake_webhook_conf *conf, json_t *body, json_t **items,
                         const char **why);

#endif
