/*
 * Reader for one input item of the `intake classify` contract: a JSON object with "id",
 * "channel", "body", and optionally "subject", "public" and "from" {name, address,
 * handle}. Unknown members are checked for syntax and skipped.
 *
 * It is a strict RFC 8259 reader (UTF-8 checked, escapes and surrogate pairs decoded,
 * numbers checked, nesting bounded) that builds no tree: decoded strings go into one
 * buffer owned by the reader, reused from line to line. This keeps the hot path of
 * `intake classify` free of per-member allocations.
 */
#ifndef INTAKE_ITEM_JSON_H
#define INTAKE_ITEM_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "intake/normalise.h"

#define INTAKE_JSON_MAX_DEPTH 64

enum intake_json_type {
    INTAKE_JSON_ABSENT,
    INTAKE_JSON_NULL,
    INTAKE_JSON_STRING,
    INTAKE_JSON_INTEGER, /* text holds the number as written */
    INTAKE_JSON_TRUE,
    INTAKE_JSON_FALSE,
    INTAKE_JSON_OTHER    /* a number with a fraction or exponent, an array or an object */
};

/* One member's value. `text` points into the reader's buffer (decoded, NUL-terminated)
 * for strings and integers; valid until the next parse or the reader's free. */
struct intake_json_field {
    enum intake_json_type type;
    const char *text;
    size_t len;
};

struct intake_json_item {
    struct intake_json_field id, channel, body, subject, is_public;
    struct intake_json_field from;         /* type only: object, null or other */
    bool from_is_object;
    struct intake_json_field from_name, from_address, from_handle;
};

/* The reader: its buffer holds the decoded strings of the last parsed line. The struct is
 * the caller's; zero-initialise it and free it with intake_json_reader_free. */
struct intake_json_reader {
    intake_buf strings;
};

/* Parses `len` bytes at `line` (borrowed) into *item. Returns 0; -1 when the line is not
 * valid JSON (then *error_at is the byte offset of the problem); -3 when it is valid JSON
 * but not an object; or -2 when memory runs out. */
int intake_json_item_parse(struct intake_json_reader *rd, const char *line, size_t len,
                           struct intake_json_item *item, size_t *error_at);

/* Frees the reader's buffer. */
void intake_json_reader_free(struct intake_json_reader *rd);

#endif
