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
 * borrowed) reports id ids[i]. When word_start (may be NULL) has word_start[i] set, the
 * literal only counts where it is not preceded by a word character ([A-Za-z0-9_]), as
 * after a \b in a pattern. Returns the new scanner (the caller owns it; free with
 * acscan_free), or NULL when memory runs out. n may be 0. */
acscan *acscan_build(const char *const *lits, const uint32_t *ids, const uint8_t *word_start,
                     size_t n);

/* Frees a scanner. NULL is allowed. */
void acscan_free(acscan *ac);

/* An id with this bit set is positional: the scan records where each occurrence ends
 * instead of setting a bit. */
#define ACSCAN_POSITIONAL 0x80000000u

struct acscan_occ {
    uint32_t id;  /* without ACSCAN_POSITIONAL */
    uint32_t end; /* offset just past the occurrence */
};

/* Scans `len` bytes of `text` (at most 4 GiB). For each literal found, sets bit id in
 * `hits` (64-bit words the caller sized for the largest id), or, for positional ids,
 * appends an occurrence to `occ` while fewer than `occ_cap` are there. *nocc receives
 * the number of positional occurrences found, which may exceed occ_cap. */
void acscan_run(const acscan *ac, const char *text, size_t len, uint64_t *hits,
                struct acscan_occ *occ, size_t occ_cap, size_t *nocc);

#endif
