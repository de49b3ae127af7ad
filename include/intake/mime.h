/*
 * RFC 5322 / MIME messages to e-mail items (the shape is in README.md, "E-mail parsing"),
 * with libetpan's parser: headers (RFC 2047 decoded), the text (text/plain preferred,
 * else HTML as text), attachments as metadata, nested messages, and the signs of an
 * automated message (auto-replies, bounces, lists). Used by the imap and maildir sources
 * and by `intake submit --format eml`. No I/O, no global state, no logging: safe to call
 * from several threads at once.
 */
#ifndef INTAKE_MIME_H
#define INTAKE_MIME_H

#include <stddef.h>

#include <jansson.h>

struct intake_mime_opts {
    unsigned max_depth; /* nesting of multipart/message parts, default 8 */
    unsigned max_parts; /* parts walked, default 100 (the parser sees a message only up
                           to its 4096th line starting with "--", so at most ~4000
                           parts exist to walk, whatever this is) */
    size_t max_text;    /* bytes of body text kept, default 1 MiB */
};
#define INTAKE_MIME_OPTS_DEFAULT {8, 100, (size_t)1 << 20}

/* Parses one RFC 5322 message (len bytes at raw, borrowed) into a new e-mail item that
 * the caller owns (json_decref). Bad content never fails: undecodable parts, unknown
 * charsets, invalid UTF-8, depth/part caps are repaired or skipped and named in
 * email.problems. o may be NULL (the defaults). Returns NULL only on out-of-memory or
 * input that is not a message at all (empty, or no header field), with a reason (never
 * quoting the input) in err (errlen bytes). */
json_t *intake_mime_parse(const char *raw, size_t len, const struct intake_mime_opts *o,
                          char *err, size_t errlen);

/* Builds the item for a message too big to fetch, from its header block only (hlen bytes,
 * borrowed) and its full size: body empty, email.oversize true, email.size = size;
 * automated detection still applies (a multipart/report Content-Type included). Same
 * ownership and errors as intake_mime_parse. */
json_t *intake_mime_parse_oversize(const char *header, size_t hlen, size_t size,
                                   const struct intake_mime_opts *o, char *err, size_t errlen);

#endif
