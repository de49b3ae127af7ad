/*
 * The pure half of the smtp sink (gateway/sinks/smtp.c): plain-text templates with
 * {{name}} placeholders, dates in words, checks of addresses and message ids, and the
 * RFC 5322 message itself (headers with RFC 2047 encoded words where needed, a
 * quoted-printable UTF-8 body, CRLF line ends). No I/O, no global state, no printing.
 */
#ifndef INTAKE_SMTP_COMPOSE_H
#define INTAKE_SMTP_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_TEMPLATE_MAX (64 * 1024) /* largest template file, bytes */
#define SMTP_REFERENCES_MAX 20        /* message ids kept in References (the newest) */

/* One placeholder's name and value (both borrowed). */
struct smtp_var {
    const char *name;
    const char *value;
};

/* Checks that every "{{name}}" in tmpl names one of `names` (NULL-ended) and that every
 * "{{" is closed. Returns 0, or -1 with a reason in err (errlen bytes). */
int smtp_template_check(const char *tmpl, const char *const *names, char *err, size_t errlen);

/* Reads a template file (at most SMTP_TEMPLATE_MAX bytes, UTF-8 text without NUL bytes)
 * and checks it against `names`. Returns the text (the caller owns it; free()), or NULL
 * with a reason in err. */
char *smtp_template_load(const char *path, const char *const *names, char *err,
                         size_t errlen);

/* Replaces each "{{name}}" by its value (an unknown or NULL one by ""). Returns a new
 * string the caller owns, or NULL when memory runs out. */
char *smtp_render(const char *tmpl, const struct smtp_var *vars, size_t nvars);

/* "2026-01-09" -> "Friday 9 January 2026" into out (outlen bytes). Returns 0, or -1 when
 * `ymd` is not a date (out is then ""). */
int smtp_date_words(const char *ymd, char *out, size_t outlen);

/* The category in plain words ("a complaint", "a request to take your complaint to stage
 * 2", ...); static. */
const char *smtp_category_words(const char *category, bool stage2);

/* True for a plain mailbox "local@domain": printable ASCII or UTF-8, no spaces, quotes,
 * angle brackets or control characters, one '@' with text on both sides, at most 254
 * bytes. Such a value is safe to put in a header and an SMTP command. */
bool smtp_address_ok(const char *addr);

/* True for a message id "<...@...>" of at most 250 printable ASCII characters without
 * spaces or further angle brackets. */
bool smtp_msgid_ok(const char *id);

/* What one message holds; every pointer borrowed, NULL when absent. */
struct smtp_mail {
    const char *from, *from_name; /* From: "from_name" <from> */
    const char *to;
    const char *reply_to;
    const char *subject;          /* UTF-8; line breaks become spaces */
    const char *message_id;       /* "<...>" */
    const char *in_reply_to;      /* "<...>" */
    const char *const *references; /* "<...>" each, oldest first */
    size_t nreferences;
    const char *auto_submitted;   /* "auto-replied", "auto-generated" */
    double date;                  /* Unix seconds */
    const char *body;             /* UTF-8 text, '\n' line ends */
};

/* Builds the whole message (headers, blank line, quoted-printable body; CRLF line ends).
 * Returns a new string the caller owns, or NULL when memory runs out. */
char *smtp_mail_build(const struct smtp_mail *m);

/* Copies `in` to out (outlen bytes) with every mailbox ("<...>" and any word holding
 * '@') replaced by "[address]", for keeping a server's answer without addresses. */
void smtp_mask_addresses(const char *in, char *out, size_t outlen);

#endif
