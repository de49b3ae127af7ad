/*
 * Required-literal extraction for the prefilter (internal to the classifier).
 *
 * For a PCRE2 pattern, finds a set of lower-case ASCII strings such that every match of
 * the pattern (ignoring case) contains at least one of them. The engine then runs the
 * pattern only on texts where the Aho-Corasick scan found one (the Hyperscan/Rspamd
 * "prefilter" idea). When no such set can be proved, the set is empty and the rule runs
 * on every message.
 */
#ifndef INTAKE_LITERALS_H
#define INTAKE_LITERALS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lit_set {
    char **s; /* owned strings, each owned */
    size_t n;
    bool ok; /* false: no requirement could be proved (n is then 0) */
} lit_set;

/* Extracts the required literals of `pattern` (`len` bytes, borrowed) into *out. Returns
 * 0 (out->ok tells whether a set was found), or -1 when memory runs out. */
int literals_required(const char *pattern, size_t len, lit_set *out);

/* Frees the strings of a set and resets it. */
void lit_set_free(lit_set *ls);

#endif
