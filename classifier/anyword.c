/*
 * Any of a few words in a text: see anyword.h.
 *
 * Where SSE2 is available, 16 positions are tested at a time against the first two bytes
 * of every word of a batch (case folded by setting bit 0x20, which keeps every match and
 * lets a few other bytes through), and only the positions that pass are compared in full.
 * A text without the words is read once, with no branch per byte.
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
/* Tests s[from..) in blocks of 16 positions (each block reads 17 bytes) against the words
 * w[0..n), n <= BATCH. Returns true on a find; else stores in *next the first position
 * not tested. */
static bool blocks_in(const char *s, size_t len, size_t from, const struct anyword *w,
                      size_t n, size_t *next)
{
    __m128i first[BATCH], second[BATCH], short_word[BATCH];
    const __m128i fold = _mm_set1_epi8(0x20);
    for (size_t k = 0; k < n; k++) {
        first[k] = _mm_set1_epi8((char)(w[k].text[0] | 0x20));
        second[k] = _mm_set1_epi8((char)(w[k].len > 1 ? w[k].text[1] | 0x20 : 0));
        /* a one-byte word: its second test always passes */
        short_word[k] = _mm_set1_epi8(w[k].len > 1 ? 0 : -1);
    }
    size_t i = from;
    for (; len - i >= 17; i += 16) {
        const __m128i *p = (const __m128i *)(const void *)(s + i);
        __m128i a = _mm_or_si128(_mm_loadu_si128(p), fold);
        __m128i b = _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(s + i + 1)),
                                 fold);
        __m128i hit = _mm_setzero_si128();
        for (size_t k = 0; k < n; k++) {
            __m128i two = _mm_and_si128(
                _mm_cmpeq_epi8(a, first[k]),
                _mm_or_si128(_mm_cmpeq_epi8(b, second[k]), short_word[k]));
            hit = _mm_or_si128(hit, two);
        }
        for (unsigned m = (unsigned)_mm_movemask_epi8(hit); m != 0; m &= m - 1)
            if (any_at(s, len, i + (size_t)__builtin_ctz(m), w, n))
                return true;
    }
    *next = i;
    return false;
}
#endif

/* anyword_in for at most BATCH words. */
static bool batch_in(const char *s, size_t len, const struct anyword *w, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    if (len >= 17 && blocks_in(s, len, 0, w, n, &i))
        return true;
#endif
    for (; i < len; i++)
        if (any_at(s, len, i, w, n))
            return true;
    return false;
}

bool anyword_in(const char *s, size_t len, const struct anyword *w, size_t n)
{
    for (size_t b = 0; b < n; b += BATCH)
        if (batch_in(s, len, w + b, n - b < BATCH ? n - b : BATCH))
            return true;
    return false;
}
