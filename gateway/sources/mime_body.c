/*
 * The part tree to text and attachments (gateway/sources/mime_internal.h).
 *
 * Each message (the outer one and every nested message/rfc822) gathers its inline
 * text/plain parts and its inline text/html parts apart; its text is the plain text when
 * it has any, else the HTML as text, followed by the texts of the messages nested in it
 * ("---------- Forwarded message ----------" and the subject). Every other part, and
 * every text part marked as an attachment, is listed in "attachments" with its decoded
 * size and SHA-256; its bytes are not kept. Depth and part count are capped; text stops
 * at max_text bytes in all.
 */
#include "mime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "intake/html.h"
#include "intake/normalise.h"

#define MAX_FILENAME 255
#define FORWARD_RULE "---------- Forwarded message ----------"

struct walk {
    const struct intake_mime_opts *o;
    json_t *problems, *attachments;
    unsigned parts;
    size_t text_left; /* bytes of plain text still allowed */
    size_t html_left; /* bytes of HTML still allowed (apart: the plain text may win) */
    bool report;
    bool oom;
};

/* One message's gathered text. */
struct texts {
    intake_buf plain, html, nested;
};

static void texts_free(struct texts *t)
{
    intake_buf_free(&t->plain);
    intake_buf_free(&t->html);
    intake_buf_free(&t->nested);
}

/* Appends text to a buffer, with a blank line between pieces, within the budget *left. */
static void add_text(struct walk *w, intake_buf *b, const char *s, size_t n, size_t *left)
{
    if (n == 0)
        return;
    size_t sep = b->len ? 2 : 0;
    if (sep + n > *left) {
        mime_problem(w->problems, "text_capped");
        n = *left > sep ? *left - sep : 0;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* cut between characters */
        if (n == 0)
            return;
    }
    if ((sep && intake_buf_append(b, "\n\n", sep) < 0) || intake_buf_append(b, s, n) < 0) {
        w->oom = true;
        return;
    }
    *left -= sep + n;
}

/* ---- part facts ---- */

/* "type/subtype" of a content type, lower case, into buf. */
static const char *type_string(const struct mailmime_content *ct, char *buf, size_t cap)
{
    const char *top = "application";
    if (ct && ct->ct_type && ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE) {
        const struct mailmime_discrete_type *d = ct->ct_type->tp_data.tp_discrete_type;
        static const char *const names[] = {"application", "text", "image", "audio",
                                            "video", "application"};
        top = d->dt_type == MAILMIME_DISCRETE_TYPE_EXTENSION && d->dt_extension
                  ? d->dt_extension
                  : d->dt_type >= 0 && d->dt_type <= MAILMIME_DISCRETE_TYPE_APPLICATION
                        ? names[d->dt_type]
                        : "application";
    } else if (ct && ct->ct_type && ct->ct_type->tp_data.tp_composite_type) {
        const struct mailmime_composite_type *c = ct->ct_type->tp_data.tp_composite_type;
        top = c->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE     ? "message"
              : c->ct_type == MAILMIME_COMPOSITE_TYPE_MULTIPART ? "multipart"
              : c->ct_token                                     ? c->ct_token
                                                                : "application";
    }
    snprintf(buf, cap, "%s/%s", top, ct && ct->ct_subtype ? ct->ct_subtype : "octet-stream");
    for (char *p = buf; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p | 0x20 : *p);
    return buf;
}

static bool is_attachment(const struct mailmime_single_fields *sf)
{
    int type = sf->fld_disposition && sf->fld_disposition->dsp_type
                   ? sf->fld_disposition->dsp_type->dsp_type
                   : -1;
    return type == MAILMIME_DISPOSITION_TYPE_ATTACHMENT ||
           (type != MAILMIME_DISPOSITION_TYPE_INLINE &&
            (sf->fld_disposition_filename || sf->fld_content_name));
}

/* The part's bytes after its transfer encoding is undone (a new string to free with
 * mailmime_decoded_part_free in *out, or the raw bytes borrowed when *out is NULL).
 * Returns -1 when memory runs out. */
static int decode_part(struct walk *w, const struct mailmime_data *d, const char **bytes,
                       size_t *len, char **out)
{
    const char *s = d->dt_data.dt_text.dt_data;
    size_t n = d->dt_data.dt_text.dt_length, idx = 0;
    int enc = d->dt_encoding;
    *out = NULL;
    *bytes = s ? s : "";
    *len = s ? n : 0;
    if (!s || !d->dt_encoded ||
        (enc != MAILMIME_MECHANISM_BASE64 && enc != MAILMIME_MECHANISM_QUOTED_PRINTABLE))
        return 0;
    if (enc == MAILMIME_MECHANISM_BASE64 && !mime_base64_clean(s, n))
        mime_problem(w->problems, "bad_base64");
    if (enc == MAILMIME_MECHANISM_QUOTED_PRINTABLE && !mime_qp_clean(s, n))
        mime_problem(w->problems, "bad_quoted_printable");
    int rc = mailmime_part_parse(s, n, &idx, enc, out, len);
    if (rc == MAILIMF_ERROR_MEMORY)
        return -1;
    if (rc != MAILIMF_NO_ERROR || !*out) {
        mime_problem(w->problems, enc == MAILMIME_MECHANISM_BASE64 ? "bad_base64"
                                                                    : "bad_quoted_printable");
        *out = NULL;
        *len = 0;
        *bytes = "";
        return 0;
    }
    *bytes = *out;
    return 0;
}

/* ---- parts ---- */

static void add_attachment(struct walk *w, const struct mailmime *m, const char *type,
                           const char *bytes, size_t len)
{
    char hex[65];
    bool oom;
    char *name = mime_part_name(m, MAX_FILENAME, w->problems, &oom);
    mime_sha256_hex(bytes, len, hex);
    json_t *a = json_pack("{s:s?, s:s, s:I, s:s}", "name", name, "type", type, "size",
                          (json_int_t)len, "sha256", hex);
    if (oom || json_array_append_new(w->attachments, a) < 0)
        w->oom = true;
    free(name);
}

/* Line ends to "\n" (CRLF and lone CR), trailing white space dropped, in place.
 * Returns the new length. */
static size_t tidy_lines(char *s, size_t n)
{
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (s[r] == '\r') {
            s[w++] = '\n';
            r += r + 1 < n && s[r + 1] == '\n';
        } else {
            s[w++] = s[r];
        }
    }
    while (w > 0 && (s[w - 1] == '\n' || s[w - 1] == ' ' || s[w - 1] == '\t'))
        w--;
    s[w] = '\0';
    return w;
}

/* Whether the part's Content-Type parameter `name` is `value` (any case). */
static bool param_is(const struct mailmime *m, const char *name, const char *value)
{
    const char *v = m->mm_content_type ? mailmime_content_param_get(m->mm_content_type,
                                                                     (char *)name)
                                       : NULL;
    return v && strcasecmp(v, value) == 0;
}

/* Undoes format=flowed (RFC 3676) on unquoted lines, in place: a line ending in a space
 * (other than the "-- " signature line) runs on into the next, without that space when
 * delsp; a leading space added by space-stuffing goes. Returns the new length. */
static size_t unflow(char *s, size_t n, bool delsp)
{
    size_t w = 0;
    for (size_t r = 0; r < n;) {
        size_t end = r;
        while (end < n && s[end] != '\n')
            end++;
        bool quoted = s[r] == '>';
        size_t from = !quoted && s[r] == ' ' ? r + 1 : r; /* space-stuffing */
        size_t len = end - from;
        bool sig = len == 3 && memcmp(s + from, "-- ", 3) == 0;
        bool soft = !quoted && !sig && len > 0 && s[end - 1] == ' ' && end < n &&
                    s[end + 1] != '>';
        memmove(s + w, s + from, len);
        w += len - (soft && delsp);
        if (end < n && !soft)
            s[w++] = '\n';
        r = end + 1;
    }
    s[w] = '\0';
    return w;
}

/* Converts a text part to UTF-8 and gathers it as plain text or HTML. */
static void add_part_text(struct walk *w, struct texts *t, const struct mailmime *m,
                          const struct mailmime_single_fields *sf, bool html, const char *bytes,
                          size_t len)
{
    size_t n, *left = html ? &w->html_left : &w->text_left;
    char *u = mime_to_utf8(sf->fld_content_charset, bytes, len, *left + 4, w->problems,
                           &n); /* more than is left, so that add_text sees the cut */
    if (!u) {
        w->oom = true;
        return;
    }
    if (!html)
        n = tidy_lines(u, n);
    if (!html && param_is(m, "format", "flowed"))
        n = unflow(u, n, param_is(m, "delsp", "yes"));
    add_text(w, html ? &t->html : &t->plain, u, n, left);
    free(u);
}

static void single_part(struct walk *w, struct mailmime *m, struct texts *t)
{
    struct mailmime_single_fields sf;
    char type[128];
    const char *bytes;
    char *decoded;
    size_t len;
    mailmime_single_fields_init(&sf, m->mm_mime_fields, m->mm_content_type);
    type_string(m->mm_content_type, type, sizeof type);
    if (!m->mm_data.mm_single)
        return; /* no body at all */
    if (decode_part(w, m->mm_data.mm_single, &bytes, &len, &decoded) < 0) {
        w->oom = true;
        return;
    }
    if (strncmp(type, "multipart/", 10) == 0) { /* no boundary: read it as text */
        mime_problem(w->problems, "bad_multipart");
        snprintf(type, sizeof type, "text/plain");
    }
    bool plain = strcmp(type, "text/plain") == 0, html = strcmp(type, "text/html") == 0;
    if (strcmp(type, "message/delivery-status") == 0)
        w->report = true;
    if ((plain || html) && !is_attachment(&sf))
        add_part_text(w, t, m, &sf, html, bytes, len);
    else
        add_attachment(w, m, type, bytes, len);
    if (decoded)
        mailmime_decoded_part_free(decoded);
}

static void walk_part(struct walk *w, struct mailmime *m, unsigned depth, struct texts *t);
static void walk_message(struct walk *w, struct mailmime *m, unsigned depth,
                         struct texts *parent);

/* Whether the n bytes at needle occur in the len bytes at hay. */
static bool contains(const char *hay, size_t len, const char *needle, size_t n)
{
    for (const char *p = len >= n ? memchr(hay, needle[0], len - n + 1) : NULL; p;
         p = memchr(p + 1, needle[0], len - n - (size_t)(p - hay)))
        if (memcmp(p, needle, n) == 0)
            return true;
    return false;
}

/* Whether a multipart's closing delimiter "--boundary--" is in its bytes. */
static bool closed(const struct mailmime *m)
{
    char *b = mailmime_extract_boundary(m->mm_content_type);
    bool yes = true;
    if (b && m->mm_mime_start) {
        char delim[80];
        int n = snprintf(delim, sizeof delim, "--%s--", b);
        yes = n <= 0 || (size_t)n >= sizeof delim ||
              contains(m->mm_mime_start, m->mm_length, delim, (size_t)n);
    }
    free(b);
    return yes;
}

static void multipart(struct walk *w, struct mailmime *m, unsigned depth, struct texts *t)
{
    if (mime_is_report(m->mm_content_type))
        w->report = true;
    if (!closed(m))
        mime_problem(w->problems, "truncated");
    clist *parts = m->mm_data.mm_multipart.mm_mp_list;
    for (clistiter *it = parts ? clist_begin(parts) : NULL; it && !w->oom; it = clist_next(it))
        walk_part(w, clist_content(it), depth + 1, t);
}

static void walk_part(struct walk *w, struct mailmime *m, unsigned depth, struct texts *t)
{
    if (w->parts >= w->o->max_parts) {
        mime_problem(w->problems, "parts_capped");
        return;
    }
    w->parts++;
    if (m->mm_type == MAILMIME_SINGLE) {
        single_part(w, m, t);
        return;
    }
    if (depth >= w->o->max_depth) {
        mime_problem(w->problems, "depth_capped");
        return;
    }
    if (m->mm_type == MAILMIME_MULTIPLE)
        multipart(w, m, depth, t);
    else if (m->mm_type == MAILMIME_MESSAGE)
        walk_message(w, m, depth, t);
}

/* The subject line of a nested message, for its heading in the text. */
static char *nested_subject(struct walk *w, const struct mailmime *m)
{
    const struct mailimf_fields *f = m->mm_data.mm_message.mm_fields;
    const struct mailimf_field *fld;
    for (clistiter *it = f ? clist_begin(f->fld_list) : NULL; it; it = clist_next(it)) {
        fld = clist_content(it);
        if (fld->fld_type == MAILIMF_FIELD_SUBJECT && fld->fld_data.fld_subject)
            return mime_header_text(fld->fld_data.fld_subject->sbj_value, 500, w->problems);
    }
    return NULL;
}

/* Appends already counted text to a buffer, with a blank line between pieces. */
static void append(struct walk *w, intake_buf *b, const char *s, size_t n)
{
    if (n && ((b->len && intake_buf_append(b, "\n\n", 2) < 0) || intake_buf_append(b, s, n) < 0))
        w->oom = true;
}

/* Resolves a message's text: its plain text, else its HTML as text, then its nested
 * messages. Appends it to out. */
static void resolve(struct walk *w, struct texts *t, intake_buf *out)
{
    if (t->plain.len) {
        append(w, out, t->plain.data, t->plain.len);
    } else if (t->html.len) {
        size_t n;
        char *text = intake_html_to_text(t->html.data, t->html.len, w->o->max_text, &n);
        if (!text)
            w->oom = true;
        else
            append(w, out, text, n);
        free(text);
    }
    append(w, out, t->nested.data, t->nested.len);
}

/* A nested message/rfc822: listed as an attachment, its text added under a heading. */
static void walk_message(struct walk *w, struct mailmime *m, unsigned depth,
                         struct texts *parent)
{
    struct texts t = {{0}, {0}, {0}};
    add_attachment(w, m, "message/rfc822", m->mm_mime_start ? m->mm_mime_start : "",
                   m->mm_mime_start ? m->mm_length : 0);
    if (m->mm_data.mm_message.mm_msg_mime)
        walk_part(w, m->mm_data.mm_message.mm_msg_mime, depth + 1, &t);
    char *subject = nested_subject(w, m);
    char head[700];
    int n = snprintf(head, sizeof head, FORWARD_RULE "%s%s", subject ? "\nSubject: " : "",
                     subject ? subject : "");
    free(subject);
    add_text(w, &parent->nested, head, n > 0 ? strlen(head) : 0, &w->text_left);
    resolve(w, &t, &parent->nested);
    texts_free(&t);
}

int mime_body_to_item(json_t *item, struct mailmime *body, const struct intake_mime_opts *o,
                      json_t *problems, bool *report)
{
    struct walk w = {o, problems, json_array(), 0, o->max_text, o->max_text, false, false};
    struct texts t = {{0}, {0}, {0}};
    intake_buf out = {0};
    if (body)
        walk_part(&w, body, 0, &t);
    resolve(&w, &t, &out);
    *report = w.report;
    if (out.len > o->max_text)
        mime_problem(problems, "text_capped");
    char *text = mime_utf8_repair(out.data ? out.data : "", out.len, o->max_text, NULL, NULL);
    int rc = w.oom || !w.attachments || !text ? -1 : 0;
    rc |= json_object_set_new(item, "body", json_string(text ? text : ""));
    free(text);
    rc |= json_object_set_new(item, "attachments", w.attachments);
    texts_free(&t);
    intake_buf_free(&out);
    return rc ? -1 : 0;
}
