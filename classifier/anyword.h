/*
 * Whether a text holds any of a few short words, ASCII case ignored, found in one pass
 * over the text: the redactor's 'needs any' prefilter. Internal to the classifier library.
 */
#ifndef INTAKE_ANYWORD_H
#define INTAKE_ANYWORD_H

#include <stdbool.h>
#include <stddef.h>

/* One word: its bytes with every ASCII letter in lower case (other bytes are matched as
 * they are). `text` is owned by whoever made the word (the redactor owns its own). */
struct anyword {
    char *text;
    size_t len; /* at least 1 */
};

/* True when s[0..len) (any bytes) holds one of the n words w[0..n) anywhere, ASCII letters
 * in either case. Reads only: no allocation, no state, safe from any thread. */
bool anyword_in(const char *s, size_t len, const struct anyword *w, size_t n);

#endif
