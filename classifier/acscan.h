/*
 * Aho-Corasick multi-literal scanner (internal to the classifier).
 *
 * Built once from the prefilter literals of all rules, read-only afterwards. One pass over
 * a text, with ASCII case folded, sets the bit of every rule that owns a literal found in
 * it. The automaton is a full DFA over a reduced alphabet (only bytes that occur in some
 * literal get a class of their own), so the scan costs one table lookup per byte.
 */
#ifndef INTAKE_ACSCAN_H
#define INTAKE_ACSCAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct acscan acscan;

/* Builds a scanner for `n` literals; literal i (lower-case ASCII, NUL-terminated,
 * borrowed) reports id ids[i]. Returns the new scanner (the caller owns it; free with
 * acscan_free), or NULL when memory runs out. n may be 0. */
acscan *acscan_build(const char *const *lits, const uint32_t *ids, size_t n);

/* Frees a scanner. NULL is allowed. */
void acscan_free(acscan *ac);

/* Scans `len` bytes of `text` and sets bit id in `hits` (an array of 64-bit words that
 * the caller sized for the largest id) for each literal found. */
void acscan_run(const acscan *ac, const char *text, size_t len, uint64_t *hits);

#endif
