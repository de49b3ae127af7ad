/*
 * RFC 5322 messages to e-mail items (include/intake/mime.h): libetpan parses, the
 * headers (mime_header.c) and the part tree (mime_body.c) fill the item.
 *
 * libetpan's parser recurses once per nested multipart or message, so a message built
 * of thousands of nested parts would exhaust the stack before any cap of ours applies.
 * Nesting needs a "multipart/" or "message/" in the bytes for every level or two, so the
 * parser only sees the message up to the MARKER_CAP-th of these (the rest is dropped,
 * named "parts_capped"), which bounds its depth to a few hundred frames.
 *
 * Parts that are not nested need no marker, only a boundary line each: libetpan builds
 * the whole part list before our max_parts applies (25 MB of empty parts took 630 MB).
 * So the parser also sees the message only up to its BOUNDARY_CAP-th line starting with
 * "--" (the rest dropped the same way, "parts_capped"), which bounds the list.
 */
#include "intake/mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime_internal.h"

#define MARKER_CAP 256
#define BOUNDARY_CAP 4096 /* lines starting with "--": 40 x the default max_parts */
#define MAX_ID 512 /* the spool's longest source_id */
#define MAX_TEXT_LIMIT ((size_t)64 << 20) /* max_text above this is taken as this */

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* Where the MARKER_CAP-th "multipart/" or "message/" (any case) starts, or len. */
static size_t marker_cut(const char *raw, size_t len)
{
    unsigned count = 0;
    for (const char *p = memchr(raw, '/', len); p;
         p = memchr(p + 1, '/', len - (size_t)(p + 1 - raw))) {
        size_t at = (size_t)(p - raw);
        size_t word = at >= 9 && strncasecmp(p - 9, "multipart", 9) == 0 ? 9
                      : at >= 7 && strncasecmp(p - 7, "message", 7) == 0 ? 7
                                                                          : 0;
        if (word && ++count >= MARKER_CAP)
            return at - word;
    }
    return len;
}

/* Where the BOUNDARY_CAP-th line that starts with "--" (a boundary line, or text that
 * looks like one) starts, or len. */
static size_t boundary_cut(const char *raw, size_t len)
{
    unsigned count = 0;
    for (size_t at = 0; at < len;) {
        if (len - at >= 2 && raw[at] == '-' && raw[at + 1] == '-' && ++count >= BOUNDARY_CAP)
            return at;
        const char *nl = memchr(raw + at, '\n', len - at);
        at = nl ? (size_t)(nl - raw) + 1 : len;
    }
    return len;
}

/* How many bytes of raw the parser sees: up to the first of the two cuts, or len. */
static size_t input_cut(const char *raw, size_t len)
{
    return boundary_cut(raw, marker_cut(raw, len));
}

/* Whether a Message-ID can be the item's id: not empty, not too long, printable
 * UTF-8 without spaces. */
static bool usable_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] <= ' ' || id[i] == 0x7f)
            return false;
    bool bad = false;
    free(mime_utf8_repair(id, n, n, NULL, &bad));
    return !bad;
}

/* "id": the Message-ID, else "sha256:" and the hex of the raw bytes. */
static json_t *item_id(const struct mailimf_fields *f, const char *raw, size_t len,
                       json_t *problems)
{
    const char *mid = mime_message_id(f);
    if (usable_id(mid))
        return json_string(mid);
    mime_problem(problems, mid ? "bad_message_id" : "no_message_id");
    char buf[7 + 65] = "sha256:";
    mime_sha256_hex(raw, len, buf + 7);
    return json_string(buf);
}

/* The item of a message from its header fields; the body is the caller's to add.
 * *email is the item's "email" object (borrowed). Returns NULL when memory runs out. */
static json_t *new_item(const struct mailimf_fields *f, const char *raw, size_t rawlen,
                        size_t size, bool oversize, json_t *problems, json_t **email)
{
    json_t *item = json_object();
    *email = json_object();
    if (!item || !*email || json_object_set_new(item, "email", *email) < 0) {
        json_decref(item);
        return NULL;
    }
    int rc = json_object_set_new(item, "id", item_id(f, raw, rawlen, problems));
    rc |= json_object_set_new(item, "channel", json_string("email"));
    rc |= json_object_set_new(item, "public", json_false());
    rc |= mime_headers_to_item(item, *email, f, problems);
    rc |= json_object_set_new(*email, "size", json_integer((json_int_t)size));
    rc |= json_object_set_new(*email, "oversize", json_boolean(oversize));
    if (rc) {
        json_decref(item);
        return NULL;
    }
    return item;
}

/* Adds "automated" (when there is a reason) and email.problems, which it takes. */
static json_t *finish(json_t *item, json_t *email, const char *reason, json_t *problems)
{
    int rc = json_object_set_new(email, "problems", problems);
    if (reason)
        rc |= json_object_set_new(item, "automated", json_string(reason));
    if (rc) {
        json_decref(item);
        return NULL;
    }
    return item;
}

static const struct intake_mime_opts defaults = INTAKE_MIME_OPTS_DEFAULT;

/* The bytes libetpan parses (*n of them): the first cut bytes of raw, with a final line
 * end added (libetpan drops a last header line without one) in a new copy (*copy, to
 * free) when needed. NULL when memory runs out. */
static const char *parse_input(const char *raw, size_t cut, size_t *n, char **copy)
{
    *n = cut;
    *copy = NULL;
    if (*n == 0 || raw[*n - 1] == '\n')
        return raw;
    if (!(*copy = malloc(*n + 1)))
        return NULL;
    memcpy(*copy, raw, *n);
    (*copy)[(*n)++] = '\n';
    return *copy;
}

/* The item of a parsed message: headers, body, automated reason. NULL when memory runs
 * out. */
static json_t *message_item(const struct mailmime *mime, const char *raw, size_t len,
                            bool capped, const struct intake_mime_opts *o)
{
    const struct mailimf_fields *f = mime->mm_data.mm_message.mm_fields;
    json_t *problems = json_array(), *email = NULL, *item = NULL;
    bool report = false;
    if (problems && capped)
        mime_problem(problems, "parts_capped");
    if (problems)
        item = new_item(f, raw, len, len, false, problems, &email);
    if (item && mime_body_to_item(item, mime->mm_data.mm_message.mm_msg_mime, o, problems,
                                  &report) < 0) {
        json_decref(item);
        item = NULL;
    }
    if (item)
        item = finish(item, email, report ? "delivery_report" : mime_automated_reason(f),
                      json_incref(problems));
    json_decref(problems);
    return item;
}

/* Parses the first cut bytes of raw with libetpan. Returns the tree (to free with
 * mailmime_free, with *copy after it) or NULL with the reason in err. */
static struct mailmime *parse_tree(const char *raw, size_t cut, char **copy, char *err,
                                   size_t errlen)
{
    struct mailmime *mime = NULL;
    size_t idx = 0, n = 0;
    const char *in = parse_input(raw, cut, &n, copy);
    int rc = in ? mailmime_parse(in, n, &idx, &mime) : MAILIMF_ERROR_MEMORY;
    const struct mailimf_fields *f = mime ? mime->mm_data.mm_message.mm_fields : NULL;
    if (rc == MAILIMF_NO_ERROR && f && clist_count(f->fld_list) > 0)
        return mime;
    set_err(err, errlen, rc == MAILIMF_ERROR_MEMORY ? "out of memory"
                                                     : "not a message: no header fields");
    if (mime)
        mailmime_free(mime);
    free(*copy);
    *copy = NULL;
    return NULL;
}

json_t *intake_mime_parse(const char *raw, size_t len, const struct intake_mime_opts *o,
                          char *err, size_t errlen)
{
    char *copy = NULL;
    struct intake_mime_opts opts = o ? *o : defaults;
    if (opts.max_text > MAX_TEXT_LIMIT)
        opts.max_text = MAX_TEXT_LIMIT; /* keeps the sums of text budgets from overflowing */
    if (!raw || len == 0)
        return set_err(err, errlen, "empty message"), NULL;
    size_t cut = input_cut(raw, len);
    struct mailmime *mime = parse_tree(raw, cut, &copy, err, errlen);
    json_t *item = mime ? message_item(mime, raw, len, cut < len, &opts) : NULL;
    if (mime && !item)
        set_err(err, errlen, "out of memory");
    if (mime)
        mailmime_free(mime);
    free(copy);
    return item;
}

/* The automated reason of an oversize message's header: its fields, or a multipart/report
 * Content-Type (libetpan keeps that with the MIME part, not the fields). */
static const char *header_reason(const struct mailmime *mime)
{
    const struct mailmime *body = mime->mm_data.mm_message.mm_msg_mime;
    if (body && mime_is_report(body->mm_content_type))
        return "delivery_report";
    return mime_automated_reason(mime->mm_data.mm_message.mm_fields);
}

json_t *intake_mime_parse_oversize(const char *header, size_t hlen, size_t size,
                                   const struct intake_mime_opts *o, char *err, size_t errlen)
{
    char *copy = NULL;
    (void)o; /* nothing of the body is walked */
    if (!header || hlen == 0)
        return set_err(err, errlen, "empty header"), NULL;
    /* mailmime_parse rather than mailimf_fields_parse: the latter leaks on a Return-Path
     * without its '>' (libetpan 1.9). Nothing after the header is walked. */
    struct mailmime *mime = parse_tree(header, input_cut(header, hlen), &copy, err, errlen);
    if (!mime)
        return NULL;
    const struct mailimf_fields *f = mime->mm_data.mm_message.mm_fields;
    json_t *problems = json_array(), *email = NULL;
    json_t *item = problems ? new_item(f, header, hlen, size, true, problems, &email) : NULL;
    if (item && (json_object_set_new(item, "body", json_string("")) < 0 ||
                 json_object_set_new(item, "attachments", json_array()) < 0)) {
        json_decref(item);
        item = NULL;
    }
    if (item)
        item = finish(item, email, header_reason(mime), json_incref(problems));
    json_decref(problems);
    mailmime_free(mime);
    free(copy);
    if (!item)
        set_err(err, errlen, "out of memory");
    return item;
}
