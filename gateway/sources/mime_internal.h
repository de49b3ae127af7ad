/*
 * The MIME parser's parts (gateway/sources/mime*.c), shared between its files only:
 * mime_text.c (charsets, UTF-8 repair, encoded words), mime_header.c (header fields to
 * item members, automated-message signs), mime_body.c (the part tree to text and
 * attachments) and mime.c (the public entry points).
 */
#ifndef INTAKE_MIME_INTERNAL_H
#define INTAKE_MIME_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libetpan/libetpan.h>

#include "intake/mime.h"

/* ---- mime_text.c ---- */

/* Appends `code` to the problems array unless it is there already. */
void mime_problem(json_t *problems, const char *code);

/* Copies n bytes into a new NUL-terminated string of valid UTF-8 of at most max bytes
 * (cut between characters): invalid sequences and NUL become U+FFFD. *bad (may be NULL)
 * tells whether anything was replaced. Returns NULL when memory runs out. */
char *mime_utf8_repair(const char *s, size_t n, size_t max, size_t *out_len, bool *bad);

/* Converts n bytes in `charset` (NULL: us-ascii) to valid UTF-8 of at most max bytes.
 * An unknown charset is named "unknown_charset" in problems and its bytes kept where
 * they are valid UTF-8, else replaced; invalid UTF-8 in a UTF-8 or ASCII part is
 * "invalid_utf8". Returns a new string, or NULL when memory runs out. */
char *mime_to_utf8(const char *charset, const char *s, size_t n, size_t max,
                   json_t *problems, size_t *out_len);

/* Decodes a header value (RFC 2047 encoded words; raw 8-bit bytes taken as UTF-8 when
 * valid, else as windows-1252 and named "8bit_header") into one line of UTF-8 of at most
 * max bytes: folding, tabs and control characters become single spaces, trimmed. NULL
 * raw gives NULL. Returns a new string, or NULL when memory runs out. */
char *mime_header_text(const char *raw, size_t max, json_t *problems);

/* Whether s (n bytes) is clean base64: only the alphabet, whitespace and final padding,
 * and a length that decodes whole. */
bool mime_base64_clean(const char *s, size_t n);

/* Whether s (n bytes) is clean quoted-printable: every '=' starts a soft line break or
 * two hex digits. */
bool mime_qp_clean(const char *s, size_t n);

/* The lower-case hex SHA-256 of n bytes into hex (65 bytes). */
void mime_sha256_hex(const void *s, size_t n, char hex[65]);

/* ---- mime_header.c ---- */

/* Sets subject, from, email.to/cc/date and thread of item from the header fields.
 * Returns 0, or -1 when memory runs out. */
int mime_headers_to_item(json_t *item, json_t *email, const struct mailimf_fields *f,
                         json_t *problems);

/* The reason an automated message gives in its header fields (RFC 3834 and helpdesk
 * practice), or NULL: "auto_submitted", "x_autoreply", "precedence", "list",
 * "null_return_path", "mailer_daemon", or "delivery_report" for a multipart/report
 * Content-Type header. */
const char *mime_automated_reason(const struct mailimf_fields *f);

/* Whether a content type is multipart/report (a delivery or disposition report). */
bool mime_is_report(const struct mailmime_content *ct);

/* The Message-ID (without brackets) of the fields, or NULL. Borrowed from f. */
const char *mime_message_id(const struct mailimf_fields *f);

/* ---- mime_name.c ---- */

/* The part's file name: Content-Disposition filename, else Content-Type name, each in
 * RFC 2231 form (charset, %-encoding, continuations) or plain (RFC 2047 words allowed),
 * as one line of UTF-8 of at most max bytes. Returns a new string, or NULL when the
 * part has none, or when memory runs out (then *oom is set). */
char *mime_part_name(const struct mailmime *m, size_t max, json_t *problems, bool *oom);

/* ---- mime_body.c ---- */

/* Sets item "body" and "attachments" from the message's body part (may be NULL).
 * *report is set when a delivery report (multipart/report, message/delivery-status) was
 * seen. Returns 0, or -1 when memory runs out. */
int mime_body_to_item(json_t *item, struct mailmime *body, const struct intake_mime_opts *o,
                      json_t *problems, bool *report);

#endif
