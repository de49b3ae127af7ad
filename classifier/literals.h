/*
 * Required-literal extraction for the prefilter (internal to the classifier).
 *
 * For a PCRE2 pattern, finds up to LITERALS_MAX_GROUPS groups of lower-case ASCII strings
 * such that every match of the pattern (ignoring case) contains at least one string of
 * every group. The engine then runs the pattern only on texts where the Aho-Corasick scan
 * found all its groups (the Hyperscan/Rspamd "prefilter" idea). When nothing can be
 * proved, there are no groups and the pattern runs on every message.
 */
#ifndef INTAKE_LITERALS_H
#define INTAKE_LITERALS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lit_set {
    char **s; /* owned strings, each owned */
    size_t n;
    bool ok; /* false: no requirement could be proved (n is then 0) */
    bool word_start; /* every string comes right after a \b in the pattern */
} lit_set;

#define LITERALS_MAX_GROUPS 3

/* All of these groups are required (each group: any one of its strings). */
typedef struct lit_req {
    lit_set g[LITERALS_MAX_GROUPS]; /* owned; best group first */
    size_t n;
} lit_req;

/* Extracts the required literals of `pattern` (`len` bytes, borrowed) into *out, and into
 * *prefix the strings one of which every match starts with (prefix->ok false when that
 * cannot be proved). Returns 0 (out->n tells how many groups were found, possibly none),
 * or -1 when memory runs out. The caller owns both results. */
int literals_required(const char *pattern, size_t len, lit_req *out, lit_set *prefix);

/* Frees every group of a requirement and resets it. */
void lit_req_free(lit_req *lr);

#define LITERALS_MAX_BRANCHES 64

/* Splits `pattern` at its top-level '|' into branches, so that each can be matched (and
 * prefiltered) on its own: the pattern matches a text exactly when one branch does.
 * Stores up to LITERALS_MAX_BRANCHES (offset, length) pairs and returns their number; 1
 * (the whole pattern) when splitting could change the meaning (inline options,
 * back-references, conditionals, recursion) or there are too many branches. */
size_t literals_split(const char *pattern, size_t len, size_t *off, size_t *blen);

/* Frees the strings of a set and resets it. */
void lit_set_free(lit_set *ls);

#endif
