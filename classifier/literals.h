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

/* True when a prefix set is worth anchoring matches at: known, and no string so short
 * and common that matching everywhere would be cheaper (a single digit is rare enough). */
bool literals_prefix_usable(const lit_set *pre);

/* Frees every group of a requirement and resets it. */
void lit_req_free(lit_req *lr);

#define LITERALS_MAX_BRANCHES 64

/* Branches of a pattern, each an owned NUL-terminated pattern string. */
typedef struct branch_list {
    char **s;
    size_t n;
} branch_list;

/* Splits `pattern` into branches that can each be matched (and prefiltered) on their
 * own: the pattern matches a text exactly when one branch does. It splits at the
 * top-level '|' and multiplies out the first unquantified alternation group of each
 * branch (P(?:A|B)S becomes P(?:A)S and P(?:B)S). The whole pattern is the only branch
 * when splitting could change the meaning (inline options, back-references,
 * conditionals, recursion) or would give more than LITERALS_MAX_BRANCHES. Returns 0 (the
 * caller owns *out; branch_list_free), or -1 when memory runs out. */
int literals_split(const char *pattern, size_t len, branch_list *out);

/* Frees every branch and resets the list. */
void branch_list_free(branch_list *bl);

/* Frees the strings of a set and resets it. */
void lit_set_free(lit_set *ls);

#endif
