/*
 * HTML to readable text, for message bodies that come only as HTML (e-mail, Intercom,
 * Mastodon statuses). Not a full HTML parser: a forgiving single pass over the bytes that
 * never fails on bad markup. No I/O, no global state.
 */
#ifndef INTAKE_HTML_H
#define INTAKE_HTML_H

#include <stddef.h>

/* Converts HTML (len bytes at html, borrowed, any bytes) to readable UTF-8 text: tags
 * dropped, <script>/<style>/<head> content and comments dropped, entities decoded (named
 * common ones + numeric; an unknown or malformed one stays as written), <br> and <li> a
 * line break (two <br> a blank line), </p>, </div>-level blocks and headings a paragraph
 * break, runs of whitespace collapsed to one space, no breaks or spaces at either end,
 * control characters dropped, invalid UTF-8 replaced with U+FFFD. Output capped at
 * max_out bytes, cut only between characters.
 * Returns a new NUL-terminated string the caller frees (length in *out_len if not NULL),
 * or NULL on out-of-memory. */
char *intake_html_to_text(const char *html, size_t len, size_t max_out, size_t *out_len);

/* intake_html_to_text, also setting *looked (must not be NULL) to the number of bytes its
 * look-ahead searches (a tag's end, a closing tag, a comment's end, <body) read. The pass
 * is linear: *looked <= 4 * len whatever the markup (each search reads only up to where
 * the pass resumes, except a failed one, which is never made again). For tests and
 * measurements; same result and ownership. */
char *intake_html_to_text_counted(const char *html, size_t len, size_t max_out,
                                  size_t *out_len, size_t *looked);

#endif
