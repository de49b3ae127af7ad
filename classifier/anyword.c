/*
 * Any of a few words in a text: see anyword.h.
 *
 * Where SSE2 is available, 16 positions are tested at a time against the first and last
 * bytes of every word of a batch (case folded by setting bit 0x20, which keeps every
 * match and lets a few other bytes through), and only the positions that pass are
 * compared in full: a common pair such as "do" is no candidate for "dob" unless a "b"
 * follows. A text without the words is read once, with no branch per byte.
 */
#include "anyword.h"

#include <stdint.h>

#include "textutil.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define BATCH 8 /* words tested side by side in one pass */

/* Whether word w starts at s[i]. */
static bool word_at(const char *s, size_t len, size_t i, const struct anyword *w)
{
    if (w->len > len - i)
        return false;
    for (size_t k = 0; k < w->len; k++)
        if ((char)textutil_lower((unsigned char)s[i + k]) != w->text[k])
            return false;
    return true;
}

/* Whether one of the n words starts at s[i]. */
static bool any_at(const char *s, size_t len, size_t i, const struct anyword *w, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (word_at(s, len, i, &w[k]))
            return true;
    return false;
}

#if defined(__SSE2__)
/* Tests s[from..) in blocks of 16 positions against the words w[0..n), n <= BATCH, by
 * each word's first and last bytes (a word of one byte tests its one byte twice). Returns
 * the first position where one starts, or SIZE_MAX; then *next is the first position not
 * tested. */
static size_t blocks_find(const char *s, size_t len, size_t from, const struct anyword *w,
                          size_t n, size_t *next)
{
    __m128i first[BATCH], last[BATCH];
    size_t reach = 16; /* the bytes a block reads */
    const __m128i fold = _mm_set1_epi8(0x20);
    for (size_t k = 0; k < n; k++) {
        first[k] = _mm_set1_epi8((char)(w[k].text[0] | 0x20));
        last[k] = _mm_set1_epi8((char)(w[k].text[w[k].len - 1] | 0x20));
        reach = 15 + w[k].len > reach ? 15 + w[k].len : reach;
    }
    size_t i = from;
    for (; len - i >= reach; i += 16) {
        const __m128i *p = (const __m128i *)(const void *)(s + i);
        __m128i a = _mm_or_si128(_mm_loadu_si128(p), fold);
        __m128i hit = _mm_setzero_si128();
        for (size_t k = 0; k < n; k++) {
            const __m128i *q = (const __m128i *)(const void *)(s + i + w[k].len - 1);
            __m128i b = _mm_or_si128(_mm_loadu_si128(q), fold);
            hit = _mm_or_si128(hit, _mm_and_si128(_mm_cmpeq_epi8(a, first[k]),
                                                  _mm_cmpeq_epi8(b, last[k])));
        }
        for (unsigned m = (unsigned)_mm_movemask_epi8(hit); m != 0; m &= m - 1) {
            size_t at = i + (size_t)__builtin_ctz(m);
            if (any_at(s, len, at, w, n))
                return at;
        }
    }
    *next = i;
    return SIZE_MAX;
}
#endif

/* The first position at or after `from` where one of the n <= BATCH words starts, or len
 * when there is none. */
static size_t batch_find(const char *s, size_t len, size_t from, const struct anyword *w,
                         size_t n)
{
    size_t i = from;
#if defined(__SSE2__)
    size_t at = blocks_find(s, len, from, w, n, &i);
    if (at != SIZE_MAX)
        return at;
#endif
    for (; i < len; i++)
        if (any_at(s, len, i, w, n))
            return i;
    return len;
}

bool anyword_in(const char *s, size_t len, const struct anyword *w, size_t n)
{
    for (size_t b = 0; b < n; b += BATCH)
        if (batch_find(s, len, 0, w + b, n - b < BATCH ? n - b : BATCH) < len)
            return true;
    return false;
}
