/*
 * The webhook source's pure parts (include/intake/webhook.h): HMAC signature checks with
 * OpenSSL, compared in constant time on the raw bytes; JSON pointers; and
 * the vendors' events (generic, Meta page feed and Messenger, Intercom) to items.
 *
 * Meta edits: the spool keeps the first version of a (source, source_id) and treats any
 * later one as a duplicate (no update: the first version's record may already be in the
 * case system). An edited comment therefore becomes a new item whose source_id is
 * "<comment_id>#edit-<16 hex of SHA-256 of the new text>", with thread.edit_of naming the
 * comment, so a retried delivery of the same edit is a duplicate and each distinct edit
 * is recorded once, next to the original.
 */
#include "intake/webhook.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "intake/html.h"
#include "intake/timefmt.h"

#define MAX_KEY 512       /* bytes of a decoded Standard Webhooks key */
#define MAX_SIG_B64 128   /* characters of one base64 signature */

/* ---- signatures ---- */

bool intake_webhook_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes exactly 2*n hex digits. Returns false on any other input. */
static bool hex_decode(const char *hex, unsigned char *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

bool intake_webhook_check_hub(const char *header, const char *algo, const char *secret,
                              const char *body, size_t len)
{
    if (!header || !algo || !secret || !body)
        return false;
    const EVP_MD *md = strcmp(algo, "sha256") == 0 ? EVP_sha256()
                     : strcmp(algo, "sha1") == 0   ? EVP_sha1()
                                                   : NULL;
    size_t alen = strlen(algo);
    if (!md || strncmp(header, algo, alen) != 0 || header[alen] != '=')
        return false;
    unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    size_t mdlen = (size_t)EVP_MD_get_size(md);
    if (!hex_decode(header + alen + 1, got, mdlen) ||
        !HMAC(md, secret, (int)strlen(secret), (const unsigned char *)body, len, want, &n) ||
        n != mdlen)
        return false;
    return intake_webhook_equal(want, got, mdlen);
}

/* Decodes standard base64 (with padding). Returns the length, or -1. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t outcap)
{
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > outcap)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    if (in[len - 1] == '=')
        n--;
    if (in[len - 2] == '=')
        n--;
    return n;
}

/* The Standard Webhooks key: base64 after an optional "whsec_". Returns its length or -1. */
static int standard_key(const char *secret, unsigned char *key)
{
    if (!secret)
        return -1;
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    return b64_decode(secret, strlen(secret), key, MAX_KEY);
}

bool intake_webhook_standard_secret_ok(const char *secret)
{
    unsigned char key[MAX_KEY];
    return standard_key(secret, key) > 0;
}

/* Parses a Unix time in seconds: digits only. */
static bool parse_unix(const char *s, double *t)
{
    if (!s || !*s || strlen(s) > 15 || strspn(s, "0123456789") != strlen(s))
        return false;
    *t = strtod(s, NULL);
    return true;
}

/* Whether one "v1,<base64>" entry matches mac. */
static bool signature_matches(const char *sig, size_t n, const unsigned char *mac)
{
    unsigned char got[MAX_SIG_B64];
    if (n < 4 || n - 3 > MAX_SIG_B64 || memcmp(sig, "v1,", 3) != 0)
        return false;
    int len = b64_decode(sig + 3, n - 3, got, sizeof got);
    return len == SHA256_DIGEST_LENGTH && intake_webhook_equal(got, mac, SHA256_DIGEST_LENGTH);
}

/* HMAC-SHA256(key, "<id>.<ts>.<body>"). Returns false when memory runs out. */
static bool standard_mac(const unsigned char *key, int klen, const char *id, const char *ts,
                         const char *body, size_t len, unsigned char *mac)
{
    size_t hl = strlen(id) + strlen(ts) + 2;
    unsigned char *msg = malloc(hl + len + 1);
    if (!msg)
        return false;
    snprintf((char *)msg, hl + 1, "%s.%s.", id, ts);
    memcpy(msg + hl, body, len);
    unsigned int n = 0;
    bool ok = HMAC(EVP_sha256(), key, klen, msg, hl + len, mac, &n) && n == SHA256_DIGEST_LENGTH;
    free(msg);
    return ok;
}

int intake_webhook_check_standard(const char *secret, const char *id, const char *timestamp,
                                  const char *signatures, const char *body, size_t len,
                                  double now, long tolerance)
{
    unsigned char key[MAX_KEY], mac[SHA256_DIGEST_LENGTH];
    double ts;
    int klen = standard_key(secret, key);
    if (klen <= 0 || !id || !*id || !signatures || !body || !parse_unix(timestamp, &ts) ||
        !standard_mac(key, klen, id, timestamp, body, len, mac))
        return INTAKE_WEBHOOK_SIG_BAD;
    bool found = false;
    for (const char *p = signatures; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        found = found | signature_matches(p, n, mac); /* try every one, no early exit */
        p += n;
    }
    OPENSSL_cleanse(key, sizeof key);
    if (!found)
        return INTAKE_WEBHOOK_SIG_BAD;
    return fabs(now - ts) > (double)tolerance ? INTAKE_WEBHOOK_SIG_STALE : INTAKE_WEBHOOK_SIG_OK;
}

/* ---- JSON pointers ---- */

/* Unescapes one reference token (~1 is '/', ~0 is '~') into buf. */
static bool pointer_token(const char *s, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '~') {
            if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))
                return false;
            c = s[++i] == '0' ? '~' : '/';
        }
        if (k + 1 >= cap)
            return false;
        buf[k++] = c;
    }
    buf[k] = '\0';
    return true;
}

static json_t *array_step(json_t *a, const char *tok)
{
    size_t n = strlen(tok);
    if (n == 0 || n > 9 || strspn(tok, "0123456789") != n || (tok[0] == '0' && n > 1))
        return NULL;
    return json_array_get(a, (size_t)strtoul(tok, NULL, 10));
}

json_t *intake_json_pointer(json_t *doc, const char *pointer)
{
    if (!doc || !pointer || (pointer[0] && pointer[0] != '/'))
        return NULL;
    json_t *v = doc;
    for (const char *p = pointer; v && *p == '/';) {
        p++;
        size_t n = strcspn(p, "/");
        char tok[256];
        if (!pointer_token(p, n, tok, sizeof tok))
            return NULL;
        v = json_is_object(v) ? json_object_get(v, tok)
          : json_is_array(v)  ? array_step(v, tok)
                              : NULL;
        p += n;
    }
    return v;
}

/* ---- events to items ---- */

static const char *str_of(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *get(json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

/* An identifier as a new JSON string: a non-empty string, or an integer in decimal. */
static json_t *id_string(json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0)
        return json_string(json_string_value(v));
    if (json_is_integer(v)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return json_string(buf);
    }
    return NULL;
}

/* Sets "received_at" from an event time: Unix seconds (or milliseconds, when the number
 * is too large for seconds), as a number or digits, or an RFC 3339 string. An absent or
 * null time leaves it unset (the spool uses now). Returns -1 for anything else. */
static int set_time(json_t *item, json_t *v)
{
    double t;
    const char *s = str_of(v);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v))
        t = json_number_value(v);
    else if (!s || (!parse_unix(s, &t) && intake_time_parse(s, &t) != 0))
        return -1;
    if (t > 1e11)
        t /= 1000.0; /* epoch milliseconds (Messenger's timestamp) */
    if (!(t > 0 && t < 253402300800.0)) /* before 10000-01-01 */
        return -1;
    char buf[INTAKE_RFC3339_LEN];
    return json_object_set_new(item, "received_at", json_string(intake_time_format(t, buf)));
}

static json_t *new_item(const char *id, const char *channel, const char *body, bool pub)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:{}}", "id", id, "channel", channel, "body",
                     body ? body : "", "public", pub, "thread");
}

/* Adds "from" with the members that are known. */
static void set_from(json_t *item, const char *name, const char *email, json_t *handle)
{
    json_t *from = json_object();
    if (name)
        json_object_set_new(from, "name", json_string(name));
    if (email)
        json_object_set_new(from, "address", json_string(email));
    if (handle)
        json_object_set(from, "handle", handle);
    if (json_object_size(from) > 0)
        json_object_set(item, "from", from);
    json_decref(from);
}

/* Sets thread.<key> to a new value (stolen; NULL is skipped). */
static void set_thread(json_t *item, const char *key, json_t *value)
{
    if (value)
        json_object_set_new(json_object_get(item, "thread"), key, value);
}

static int fail(const char **why, const char *reason)
{
    *why = reason;
    return -1;
}

/* Appends item (stolen) to items. Returns 0, or -1 when it is NULL (out of memory). */
static int add_item(json_t *items, json_t *item, const char **why)
{
    if (!item || json_array_append_new(items, item) != 0)
        return fail(why, "out of memory");
    return 0;
}

static json_t *ptr(const struct intake_webhook_conf *c, json_t *body, const char *p)
{
    (void)c;
    return p && *p ? intake_json_pointer(body, p) : NULL;
}

static int generic_items(const struct intake_webhook_conf *c, json_t *body, json_t *items,
                         const char **why)
{
    const struct intake_webhook_pointers *p = &c->pointers;
    json_t *id = id_string(ptr(c, body, p->id));
    json_t *text = ptr(c, body, p->text), *pub = ptr(c, body, p->public_);
    if (!id && c->fallback_id && *c->fallback_id)
        id = json_string(c->fallback_id);
    if (!id)
        return fail(why, "missing id");
    int rc = 0;
    if (!json_is_string(text))
        rc = fail(why, "missing text");
    else if (pub && !json_is_boolean(pub) && !json_is_null(pub))
        rc = fail(why, "public is not true or false");
    json_t *item = rc ? NULL : new_item(json_string_value(id), c->channel,
                                        json_string_value(text), json_is_true(pub));
    json_decref(id);
    if (rc)
        return rc;
    json_t *handle = id_string(ptr(c, body, p->author_handle));
    set_from(item, str_of(ptr(c, body, p->author_name)), str_of(ptr(c, body, p->author_email)),
             handle);
    json_decref(handle);
    set_thread(item, "conversation_id", id_string(ptr(c, body, p->conversation)));
    if (item && set_time(item, ptr(c, body, p->created)) != 0) {
        json_decref(item);
        return fail(why, "created_at is not a time");
    }
    return add_item(items, item, why);
}

#define MAX_COMMENT_ID 256 /* Meta's ids are about 40 bytes; longer ones are refused */

/* "<comment_id>#edit-<16 hex of SHA-256(text)>" */
static void edit_id(const char *comment_id, const char *text, char *out, size_t cap)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, strlen(text), md);
    int n = snprintf(out, cap, "%s#edit-", comment_id);
    for (int i = 0; i < 8 && n > 0 && (size_t)n + 2 < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%02x", md[i]);
}

static bool same_id(json_t *a, const char *page)
{
    return a && page && strcmp(json_string_value(a), page) == 0;
}

/* One entry.changes[] member: feed comments added or edited. */
static int meta_change(const struct intake_webhook_conf *c, const char *page, json_t *change,
                       json_t *items, const char **why)
{
    json_t *v = get(change, "value");
    const char *verb = str_of(get(v, "verb"));
    if (!json_is_object(v) || !str_of(get(change, "field")) ||
        strcmp(str_of(get(change, "field")), "feed") != 0 || !str_of(get(v, "item")) ||
        strcmp(str_of(get(v, "item")), "comment") != 0)
        return 0;
    bool edited = verb && strcmp(verb, "edited") == 0;
    if (verb && !edited && strcmp(verb, "add") != 0)
        return 0; /* remove, hide, unhide: nothing to take in */
    json_t *from_id = id_string(get(get(v, "from"), "id"));
    const char *comment = str_of(get(v, "comment_id"));
    const char *text = str_of(get(v, "message"));
    if (same_id(from_id, page) || !comment || strlen(comment) > MAX_COMMENT_ID) {
        json_decref(from_id);
        if (comment && strlen(comment) > MAX_COMMENT_ID)
            return fail(why, "comment_id is too long");
        return comment ? 0 : fail(why, "comment without comment_id"); /* own: skipped */
    }
    char id[MAX_COMMENT_ID + 32]; /* room for "#edit-" and 16 hex digits */
    snprintf(id, sizeof id, "%s", comment);
    if (edited)
        edit_id(comment, text ? text : "", id, sizeof id);
    json_t *item = new_item(id, c->channel, text, true);
    set_from(item, str_of(get(get(v, "from"), "name")), NULL, from_id);
    json_decref(from_id);
    set_thread(item, "conversation_id", id_string(get(v, "post_id")));
    set_thread(item, "parent_id", id_string(get(v, "parent_id")));
    set_thread(item, "comment_id", json_string(comment));
    if (edited)
        set_thread(item, "edit_of", json_string(comment));
    else if (item && set_time(item, get(v, "created_time")) != 0)
        json_object_del(item, "received_at");
    return add_item(items, item, why);
}

/* One entry.messaging[] member: a message from a person (echoes skipped). */
static int meta_message(const struct intake_webhook_conf *c, const char *page, json_t *ev,
                        json_t *items, const char **why)
{
    json_t *msg = get(ev, "message");
    if (!json_is_object(msg) || json_is_true(get(msg, "is_echo")))
        return 0;
    json_t *sender = id_string(get(get(ev, "sender"), "id"));
    const char *mid = str_of(get(msg, "mid"));
    if (same_id(sender, page) || !mid) {
        json_decref(sender);
        return mid ? 0 : fail(why, "message without mid");
    }
    json_t *item = new_item(mid, c->channel, str_of(get(msg, "text")), false);
    set_from(item, NULL, NULL, sender);
    set_thread(item, "conversation_id", sender); /* the PSID: one thread per person */
    set_thread(item, "reply_to", id_string(get(get(msg, "reply_to"), "mid")));
    if (item && set_time(item, get(ev, "timestamp")) != 0)
        json_object_del(item, "received_at");
    return add_item(items, item, why);
}

static int meta_items(const struct intake_webhook_conf *c, json_t *body, json_t *items,
                      const char **why)
{
    const char *object = str_of(get(body, "object"));
    json_t *entries = get(body, "entry");
    if (object && strcmp(object, "page") != 0)
        return 0; /* another product's events (instagram, ...): not ours */
    if (!json_is_array(entries))
        return fail(why, "missing entry");
    size_t i, k;
    json_t *entry, *ev;
    json_array_foreach(entries, i, entry) {
        if (!json_is_object(entry))
            return fail(why, "entry is not an object");
        json_t *page_id = id_string(get(entry, "id"));
        const char *page = page_id ? json_string_value(page_id) : NULL;
        int rc = 0;
        json_array_foreach(get(entry, "changes"), k, ev)
            if (rc == 0)
                rc = meta_change(c, page, ev, items, why);
        json_array_foreach(get(entry, "messaging"), k, ev)
            if (rc == 0)
                rc = meta_message(c, page, ev, items, why);
        json_decref(page_id);
        if (rc)
            return rc;
    }
    return 0;
}

/* The part of an Intercom conversation a topic is about: the opening message, or the
 * last comment of a reply. */
static json_t *intercom_part(json_t *conv, bool created)
{
    if (created)
        return get(conv, "source");
    json_t *parts = intake_json_pointer(conv, "/conversation_parts/conversation_parts");
    for (size_t i = json_array_size(parts); i > 0; i--) {
        json_t *p = json_array_get(parts, i - 1);
        const char *type = str_of(get(p, "part_type"));
        if (type && strcmp(type, "comment") == 0)
            return p;
    }
    return NULL;
}

static json_t *first_time(json_t *a, json_t *b, json_t *c)
{
    return a && !json_is_null(a) ? a : b && !json_is_null(b) ? b : c;
}

static int intercom_items(const struct intake_webhook_conf *c, json_t *body, json_t *items,
                          const char **why)
{
    const char *topic = str_of(get(body, "topic"));
    if (!topic)
        return fail(why, "missing topic");
    bool created = strcmp(topic, "conversation.user.created") == 0;
    if (!created && strcmp(topic, "conversation.user.replied") != 0)
        return 0; /* ping and topics we do not take */
    const char *nid = str_of(get(body, "id"));
    json_t *conv = intake_json_pointer(body, "/data/item");
    json_t *part = intercom_part(conv, created);
    if (!nid || !*nid)
        return fail(why, "missing id");
    if (!json_is_object(part))
        return fail(why, "no message in the conversation");
    const char *html = str_of(get(part, "body"));
    char *text = intake_html_to_text(html, html ? strlen(html) : 0, SIZE_MAX, NULL);
    if (!text)
        return fail(why, "out of memory");
    json_t *item = new_item(nid, c->channel, text, false);
    free(text);
    json_t *author = get(part, "author"), *handle = id_string(get(author, "id"));
    set_from(item, str_of(get(author, "name")), str_of(get(author, "email")), handle);
    json_decref(handle);
    set_thread(item, "conversation_id", id_string(get(conv, "id")));
    json_t *when = first_time(get(part, "created_at"), get(conv, "updated_at"),
                              get(body, "created_at"));
    if (item && set_time(item, when) != 0)
        json_object_del(item, "received_at");
    return add_item(items, item, why);
}

int intake_webhook_items(const struct intake_webhook_conf *conf, json_t *body, json_t **items,
                         const char **why)
{
    *items = json_array();
    *why = NULL;
    if (!*items)
        return fail(why, "out of memory");
    int rc = !json_is_object(body) ? fail(why, "not a JSON object")
           : conf->format == INTAKE_WEBHOOK_META     ? meta_items(conf, body, *items, why)
           : conf->format == INTAKE_WEBHOOK_INTERCOM ? intercom_items(conf, body, *items, why)
                                                     : generic_items(conf, body, *items, why);
    if (rc) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}
