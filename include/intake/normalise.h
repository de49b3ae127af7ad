/*
 * Text clean-up before classification.
 *
 * The classifier never looks at raw message text: bodies lose quoted earlier replies,
 * signatures, phone-app footers, legal disclaimers and HTML remnants; every field is made
 * valid UTF-8 (invalid bytes become U+FFFD), typographic quotes, dashes and spaces become
 * plain ASCII ones, and runs of blanks fold to one space. Case is kept: the rules ignore
 * case when they match.
 */
#ifndef INTAKE_NORMALISE_H
#define INTAKE_NORMALISE_H

#include <stddef.h>

/* A growable byte buffer, always NUL-terminated once written. The struct is the caller's;
 * `data` is owned by the buffer and freed by intake_buf_free. */
typedef struct intake_buf {
    char *data;
    size_t len;
    size_t cap;
} intake_buf;

/* Makes room for `extra` more bytes plus a NUL. Returns 0, or -1 when memory runs out. */
int intake_buf_reserve(intake_buf *b, size_t extra);

/* Appends `n` bytes. Returns 0, or -1 when memory runs out. */
int intake_buf_append(intake_buf *b, const char *s, size_t n);

/* Frees the data and resets the buffer to empty. */
void intake_buf_free(intake_buf *b);

/* Cleans a message body (`in`, `len` bytes, borrowed) into `out`, replacing what was there.
 * At most `max_in` input bytes are read and at most `max_out` bytes written (cut at a
 * character boundary). Returns 0, or -1 when memory runs out. */
int intake_normalise_body(const char *in, size_t len, size_t max_in, size_t max_out,
                          intake_buf *out);

/* Cleans a one-line field (subject, name, address) the same way, without the body-only
 * steps (quotes, signatures, disclaimers, HTML); line breaks become spaces. Appends at
 * most `max_out` bytes to `out`, after a space when `out` was not empty. Returns 0, or
 * -1 when memory runs out. */
int intake_normalise_line(const char *in, size_t len, size_t max_out, intake_buf *out);

#endif
