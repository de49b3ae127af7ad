/*
 * Person names: see pii_names.h.
 *
 * Loading builds one open-addressing hash set of lower-cased words, each with flag bits
 * saying which lists it is in (first name, surname, ordinary word, place, and the context
 * sections of contexts.txt). It is read-only afterwards.
 *
 * Finding makes one pass that cuts the text into word tokens (letters of any Latin script,
 * digits, and apostrophes or hyphens inside a word: O'Brien, Smith-Jones), noting the
 * punctuation and line breaks between them. A token's flags are looked up only when a rule
 * asks (capitalised words and their neighbours, mostly). Rules then mark tokens that are
 * parts of names:
 *   - a title before ("Mr Ford") or after ("Helen Marsden MP", "Edith Marsden (Mrs)");
 *   - a relation or role word before ("my neighbour Gary", "the caretaker, Steve") or
 *     after ("Kieran the caretaker");
 *   - a greeting ("Dear Lorraine", "thanks sharon");
 *   - a sign-off: a closing ("Kind regards," "Thanks") then a name-like line or the rest of
 *     the line after a comma ("Thanks, Andy");
 *   - "name: X", "name of X", "called X", "I'm X";
 *   - the lists: a capitalised first name that is not also an ordinary word; one that is
 *     (Mark, Grace) only mid-sentence, or next to a surname; a capitalised word before a
 *     listed surname; a line holding nothing but a name;
 *   - the author's own name from the hints.
 * Marked names grow to the capitalised words next to them that read as surnames, and
 * across "and" ("Graham and Sue Wood"). Words in a run that ends in a street, building or
 * organisation word ("Victoria Street", "Hart Hall Family Law"), after "St" or "Storm",
 * after a house number, in e-mail addresses, links, handles and hashtags are never names.
 * Each run of marked tokens becomes one span.
 */
#include "pii_names.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------------------------------ */
/* Flags of a word in the lists                                                          */

enum {
    NF_FIRST = 1u << 0,
    NF_SUR = 1u << 1,
    NF_ALSO_WORD = 1u << 2,   /* Mark, Grace: a name mid-sentence, else needs context */
    NF_MOSTLY_WORD = 1u << 3, /* Will, May, Hope: needs context */
    NF_WORD = 1u << 4,        /* words.txt */
    NF_PLACE = 1u << 5,
    NF_TITLE = 1u << 6,
    NF_POST_TITLE = 1u << 7,
    NF_RELATION = 1u << 8,
    NF_GREETING = 1u << 9,
    NF_CLOSING = 1u << 10,
    NF_CLOSING_FILL = 1u << 11,
    NF_INTRO = 1u << 12,
    NF_SELF_INTRO = 1u << 13,
    NF_STREET = 1u << 14,
    NF_AMBIG = 1u << 15,
    NF_ORG = 1u << 16,
    NF_STOP = 1u << 17,
    NF_WEAK = 1u << 18,
    NF_NOT_BEFORE = 1u << 19,
};
#define NF_NAME (NF_FIRST | NF_SUR)
#define NF_NEVER (NF_STOP | NF_ORG | NF_STREET | NF_TITLE | NF_POST_TITLE)
#define NF_CONTEXT (NF_RELATION | NF_GREETING | NF_CLOSING | NF_INTRO | NF_SELF_INTRO)
#define NF_TIER (NF_ALSO_WORD | NF_MOSTLY_WORD | NF_PLACE | NF_WEAK)

#define KEY_MAX 64 /* longest word looked up, in bytes */

_Static_assert(NF_NOT_BEFORE < 1u << 24, "the flags fit in struct slot");
_Static_assert(KEY_MAX <= 256, "a key's length fits in struct slot");

#define INLINE_KEY 8 /* keys of at most this many bytes are kept in their slot */

/* One slot of the table: 16 bytes, four to a cache line. A key of at most INLINE_KEY bytes
 * (most words) sits in the slot itself, so that a look-up that finds its word reads one
 * cache line, not three (slot, key location, key): the classifier runs between two texts
 * and leaves little of the table in the caches. A longer key is in pii_names.keys. */
struct slot {
    uint32_t hash;       /* 0: empty */
    uint32_t flags : 24; /* NF_* */
    uint32_t len : 8;    /* the key's length in bytes */
    union {
        char text[INLINE_KEY]; /* len <= INLINE_KEY: the key, zero past its end */
        uint64_t off;          /* else: the key's offset in pii_names.keys */
    } key;
};

#define BLOOM_WORDS 64 /* 4096 bits */

/* Two bits of the Bloom filter for hash h. */
static bool bloom_has(const uint64_t *b, uint32_t h)
{
    uint32_t x = h & 4095, y = (h >> 12) & 4095;
    return (b[x >> 6] >> (x & 63) & 1) && (b[y >> 6] >> (y & 63) & 1);
}

static void bloom_add(uint64_t *b, uint32_t h)
{
    uint32_t x = h & 4095, y = (h >> 12) & 4095;
    b[x >> 6] |= 1ull << (x & 63);
    b[y >> 6] |= 1ull << (y & 63);
}

struct pii_names {
    uint64_t bloom[BLOOM_WORDS]; /* relation, intro and self-intro words */
    struct slot *slot;
    uint32_t mask;
    uint32_t used;
    char *keys; /* the keys longer than INLINE_KEY bytes */
    size_t keys_len, keys_cap;
};

/* ------------------------------------------------------------------------------------ */
/* Characters                                                                            */

/* Lower case of U+00C0..U+017F (Latin-1 Supplement letters and Latin Extended-A). */
static const uint16_t latin_lower[192] = {
    0x0E0, 0x0E1, 0x0E2, 0x0E3, 0x0E4, 0x0E5, 0x0E6, 0x0E7, 0x0E8, 0x0E9, 0x0EA, 0x0EB,
    0x0EC, 0x0ED, 0x0EE, 0x0EF, 0x0F0, 0x0F1, 0x0F2, 0x0F3, 0x0F4, 0x0F5, 0x0F6, 0x0D7,
    0x0F8, 0x0F9, 0x0FA, 0x0FB, 0x0FC, 0x0FD, 0x0FE, 0x0DF, 0x0E0, 0x0E1, 0x0E2, 0x0E3,
    0x0E4, 0x0E5, 0x0E6, 0x0E7, 0x0E8, 0x0E9, 0x0EA, 0x0EB, 0x0EC, 0x0ED, 0x0EE, 0x0EF,
    0x0F0, 0x0F1, 0x0F2, 0x0F3, 0x0F4, 0x0F5, 0x0F6, 0x0F7, 0x0F8, 0x0F9, 0x0FA, 0x0FB,
    0x0FC, 0x0FD, 0x0FE, 0x0FF, 0x101, 0x101, 0x103, 0x103, 0x105, 0x105, 0x107, 0x107,
    0x109, 0x109, 0x10B, 0x10B, 0x10D, 0x10D, 0x10F, 0x10F, 0x111, 0x111, 0x113, 0x113,
    0x115, 0x115, 0x117, 0x117, 0x119, 0x119, 0x11B, 0x11B, 0x11D, 0x11D, 0x11F, 0x11F,
    0x121, 0x121, 0x123, 0x123, 0x125, 0x125, 0x127, 0x127, 0x129, 0x129, 0x12B, 0x12B,
    0x12D, 0x12D, 0x12F, 0x12F, 0x130, 0x131, 0x133, 0x133, 0x135, 0x135, 0x137, 0x137,
    0x138, 0x13A, 0x13A, 0x13C, 0x13C, 0x13E, 0x13E, 0x140, 0x140, 0x142, 0x142, 0x144,
    0x144, 0x146, 0x146, 0x148, 0x148, 0x149, 0x14B, 0x14B, 0x14D, 0x14D, 0x14F, 0x14F,
    0x151, 0x151, 0x153, 0x153, 0x155, 0x155, 0x157, 0x157, 0x159, 0x159, 0x15B, 0x15B,
    0x15D, 0x15D, 0x15F, 0x15F, 0x161, 0x161, 0x163, 0x163, 0x165, 0x165, 0x167, 0x167,
    0x169, 0x169, 0x16B, 0x16B, 0x16D, 0x16D, 0x16F, 0x16F, 0x171, 0x171, 0x173, 0x173,
    0x175, 0x175, 0x177, 0x177, 0x0FF, 0x17A, 0x17A, 0x17C, 0x17C, 0x17E, 0x17E, 0x17F,
};

/* ASCII letter without its accent, for U+00C0..U+017F ('?': not a letter). */
static const char latin_base[] =
    "aaaaaaaceeeeiiiidnooooo?ouuuuytsaaaaaaaceeeeiiiidnooooo?ouuuuyty"
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkklllllll"
    "lllnnnnnnnnnoooooooorrrrrrsssssssstttttttuuuuuuuuuuuuwwyyyzzzzzzs";

static uint32_t cp_lower(uint32_t cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp >= 0xC0 && cp < 0x180)
        return latin_lower[cp - 0xC0];
    if (cp >= 0x391 && cp <= 0x3A9)
        return cp + 32; /* Greek */
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 32; /* Cyrillic */
    return cp;
}

static bool cp_letter(uint32_t cp)
{
    if ((cp | 32) >= 'a' && (cp | 32) <= 'z')
        return true;
    if (cp >= 0xC0 && cp <= 0x24F)
        return cp != 0xD7 && cp != 0xF7;
    return (cp >= 0x370 && cp <= 0x3FF) || (cp >= 0x400 && cp <= 0x4FF);
}

static bool cp_upper(uint32_t cp)
{
    return cp_letter(cp) && cp_lower(cp) != cp;
}

/* Decodes the character at s[i] (n bytes in all) into *cp; returns its length (1 for a
 * byte that is not valid UTF-8, which then decodes as U+FFFD). */
static size_t next_cp(const char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t k = intake_utf8_decode(s + i, n - i, cp);
    if (k == 0) {
        *cp = 0xFFFD;
        return 1;
    }
    return k;
}

static bool is_apostrophe(uint32_t cp)
{
    return cp == '\'' || cp == 0x2019;
}

/* Class of each byte: L lower-case letter, U upper-case letter, D digit, S blank, N line
 * break, A apostrophe, Y hyphen, H not ASCII, P other. */
static const char byte_class[] =
    "PPPPPPPPPSNPPSPPPPPPPPPPPPPPPPPPSPPPPPPAPPPPPYPPDDDDDDDDDDPPPPPP"
    "PUUUUUUUUUUUUUUUUUUUUUUUUUUPPPPPPLLLLLLLLLLLLLLLLLLLLLLLLLLPPPPP"
    "HHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHH"
    "HHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHHH";

static char bclass(const char *s, size_t i)
{
    return byte_class[(unsigned char)s[i]];
}

/* Writes the look-up key of the word s[0..n): lower case, U+2019 as an apostrophe, and
 * with `strip` accents removed. Returns the key's length, or 0 when it is longer than
 * KEY_MAX - 1 bytes or holds something else than a word may. */
static size_t make_key(const char *s, size_t n, char *out, bool strip)
{
    if (n < KEY_MAX) {
        size_t i = 0;
        for (; i < n && (unsigned char)s[i] < 0x80; i++)
            out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
        if (i == n)
            return n;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += next_cp(s, n, i, &cp);
        cp = is_apostrophe(cp) ? '\'' : cp_lower(cp);
        if (strip && cp >= 0xC0 && cp < 0x180 && latin_base[cp - 0xC0] != '?')
            cp = (uint32_t)latin_base[cp - 0xC0];
        if (o + 4 >= KEY_MAX)
            return 0;
        o += intake_utf8_encode(cp, out + o);
    }
    return o;
}

/* ------------------------------------------------------------------------------------ */
/* The hash set                                                                          */

#define HASH_MUL 0x9E3779B97F4A7C15ull
#define HASH_MUL2 0xBF58476D1CE4E5B9ull

/* The hash's state after its first two 8-byte chunks (little-endian, zero past the key),
 * for a key of n bytes: two multiplications side by side and no byte-by-byte chain, so
 * that a word read 16 bytes at a time hashes in a few cycles. */
static uint64_t hash_start(uint64_t lo, uint64_t hi, size_t n)
{
    return (lo + (uint64_t)n) * HASH_MUL ^ hi * HASH_MUL2;
}

/* The hash from its state (never 0): the product's high half, where every key byte has
 * been mixed in. */
static uint32_t hash_finish(uint64_t x)
{
    uint32_t h = (uint32_t)(x >> 32);
    return h ? h : 1;
}

/* Little-endian 8 bytes of k[0..n) from offset o, zero past n. */
static uint64_t chunk_at(const char *k, size_t n, size_t o)
{
    uint64_t c = 0;
    for (size_t i = 0; i < 8 && o + i < n; i++)
        c |= (uint64_t)(unsigned char)k[o + i] << (8 * i);
    return c;
}

/* The hash of a key: its bytes in 8-byte chunks, at least two (see hash_start). */
static uint32_t hash_key(const char *k, size_t n)
{
    uint64_t x = hash_start(chunk_at(k, n, 0), chunk_at(k, n, 8), n);
    for (size_t o = 16; o < n; o += 8)
        x = (x ^ chunk_at(k, n, o)) * HASH_MUL;
    return hash_finish(x);
}

static bool same_key(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* The key of a used slot (its length is s->len). */
static const char *slot_key(const pii_names *nm, const struct slot *s)
{
    return s->len <= INLINE_KEY ? s->key.text : nm->keys + s->key.off;
}

/* Whether slot i holds the key k[0..n). */
static bool slot_is(const pii_names *nm, uint32_t i, const char *k, size_t n)
{
    const struct slot *s = &nm->slot[i];
    return s->len == n && same_key(slot_key(nm, s), k, n);
}

/* The slot of key k[0..n) with hash h, or the empty slot where it would go. */
static uint32_t find_slot(const pii_names *nm, const char *k, size_t n, uint32_t h)
{
    for (uint32_t i = h & nm->mask;; i = (i + 1) & nm->mask) {
        const struct slot *s = &nm->slot[i];
        if (s->hash == 0)
            return i;
        if (s->hash == h && slot_is(nm, i, k, n))
            return i;
    }
}

/* Doubles the table (or makes the first one). Returns 0, or -1 when memory runs out. */
static int grow_table(pii_names *nm)
{
    uint32_t cap = nm->mask ? (nm->mask + 1) * 2 : 1024;
    pii_names bigger = *nm;
    bigger.slot = calloc(cap, sizeof *bigger.slot);
    bigger.mask = cap - 1;
    if (!bigger.slot)
        return -1;
    for (uint32_t i = 0; nm->slot && i <= nm->mask; i++) {
        const struct slot *s = &nm->slot[i];
        if (s->hash == 0)
            continue;
        bigger.slot[find_slot(&bigger, slot_key(nm, s), s->len, s->hash)] = *s;
    }
    free(nm->slot);
    *nm = bigger;
    return 0;
}

static int keep_key(pii_names *nm, const char *k, size_t n, uint32_t *off)
{
    if (nm->keys_len + n > nm->keys_cap) {
        size_t cap = nm->keys_cap ? nm->keys_cap * 2 : 65536;
        char *p = realloc(nm->keys, cap);
        if (!p)
            return -1;
        nm->keys = p;
        nm->keys_cap = cap;
    }
    memcpy(nm->keys + nm->keys_len, k, n);
    *off = (uint32_t)nm->keys_len;
    nm->keys_len += n;
    return 0;
}

/* Adds `flags` to the key k[0..n) (a key from make_key). Returns 0, or -1 when memory
 * runs out. */
static int add_key(pii_names *nm, const char *k, size_t n, uint32_t flags)
{
    /* at most half full: a word that is in no list (most capitalised words that are not
     * names) is told so after 1.5 slots on average instead of 7 at three quarters */
    if ((nm->used + 1) * 2 > nm->mask + 1 && grow_table(nm) != 0)
        return -1;
    uint32_t h = hash_key(k, n);
    uint32_t i = find_slot(nm, k, n, h);
    struct slot *s = &nm->slot[i];
    if (s->hash == 0) {
        uint32_t off = 0;
        if (n > INLINE_KEY && keep_key(nm, k, n, &off) != 0)
            return -1;
        if (n > INLINE_KEY)
            s->key.off = off;
        else
            memcpy(s->key.text, k, n);
        s->hash = h;
        s->len = (uint32_t)n;
        nm->used++;
    }
    s->flags |= flags;
    if (flags & (NF_RELATION | NF_INTRO | NF_SELF_INTRO))
        bloom_add(nm->bloom, h);
    return 0;
}

static uint32_t lookup_key(const pii_names *nm, const char *k, size_t n)
{
    if (n == 0)
        return 0;
    return nm->slot[find_slot(nm, k, n, hash_key(k, n))].flags;
}

/* Flags of the ASCII word s[0..n) (n < KEY_MAX), or UINT32_MAX when it is not ASCII:
 * the key and its hash made in one loop. */
static uint32_t lookup_ascii(const pii_names *nm, const char *s, size_t n)
{
    char key[KEY_MAX];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            return UINT32_MAX;
        key[i] = (char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
    }
    return nm->slot[find_slot(nm, key, n, hash_key(key, n))].flags;
}

/* Whether k[0..n) is made of lower-case ASCII letters only. */
static bool ascii_letters(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (k[i] < 'a' || k[i] > 'z')
            return false;
    return true;
}

/* Whether a[0..n), ASCII letters in any case, is the lower-case key b[0..n). */
static bool same_folded(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((a[i] | 32) != b[i])
            return false;
    return true;
}

/* Whether the key kept in slot sl (at most INLINE_KEY bytes, zero past its end) is the one
 * whose bytes, as a little-endian number and zero past its end, are `head` (read as a
 * number byte by byte, so that this holds on any machine; compilers make it one load). */
static bool inline_key_is(const struct slot *sl, uint64_t head)
{
    return chunk_at(sl->key.text, INLINE_KEY, 0) == head;
}

/* Flags of the word s[0..n) of ASCII letters only, whose key hashes to h and whose key's
 * first 8 bytes are `head` (as ascii_word made them): no key is built; a short key is
 * compared at once, a longer one folding the word's case. */
static uint32_t lookup_letters(const pii_names *nm, const char *s, size_t n, uint32_t h,
                               uint64_t head)
{
    _Static_assert(INLINE_KEY == sizeof head, "a short key is compared as one word");
    if (n >= KEY_MAX)
        return 0;
    for (uint32_t i = h & nm->mask;; i = (i + 1) & nm->mask) {
        const struct slot *sl = &nm->slot[i];
        if (sl->hash == 0)
            return 0;
        if (sl->hash != h || sl->len != n)
            continue;
        if (n <= INLINE_KEY ? inline_key_is(sl, head) : same_folded(s, slot_key(nm, sl), n))
            return sl->flags;
    }
}

/* Flags of the word s[0..n): as written, else without accents ("Sian" for "Siân"). */
static uint32_t lookup_word(const pii_names *nm, const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if (n < KEY_MAX) {
        uint32_t fa = lookup_ascii(nm, s, n);
        if (fa != UINT32_MAX)
            return fa;
    }
    char key[KEY_MAX];
    size_t k = make_key(s, n, key, false);
    uint32_t f = lookup_key(nm, key, k);
    if (f == 0 && k > 0) {
        bool ascii = true;
        for (size_t i = 0; i < n && ascii; i++)
            ascii = (unsigned char)s[i] < 0x80;
        if (!ascii)
            f = lookup_key(nm, key, make_key(s, n, key, true));
    }
    return f;
}

/* ------------------------------------------------------------------------------------ */
/* Tokens                                                                                */

enum {
    SH_CAP = 1u << 0,     /* first letter upper case, not all upper case */
    SH_ALLCAPS = 1u << 1, /* two or more letters, all upper case */
    SH_LOWER = 1u << 2,   /* first letter lower case */
    SH_INITIAL = 1u << 3, /* one upper-case letter */
    SH_DIGIT = 1u << 4,
    SH_INERT = 1u << 5,   /* in an address, a link, a handle or a hashtag */
    SH_LOOKED = 1u << 6,  /* flags are known */
    SH_POSS = 1u << 7,    /* "'s" followed, left out of the word */
    SH_SENT = 1u << 8,    /* starts a sentence */
    SH_LINE = 1u << 9,    /* first word of its line */
    SH_HYPHEN = 1u << 10, /* holds a hyphen */
    SH_MENTION = 1u << 11, /* the one word of "@Word": a mention of a person or a handle */
};

enum {
    G_NL = 1u << 0,
    G_BLANK = 1u << 1, /* two line breaks or more */
    G_COMMA = 1u << 2,
    G_PERIOD = 1u << 3,
    G_END = 1u << 4, /* . ! ? ; : */
    G_AMP = 1u << 5,
    G_OPEN = 1u << 6,
    G_CLOSE = 1u << 7,
    G_OTHER = 1u << 8,
};
#define G_PUNCT (G_COMMA | G_PERIOD | G_END | G_AMP | G_OPEN | G_CLOSE | G_OTHER)

enum { MK_NAME = 1, MK_BLOCK = 2, MK_HINT_SUR = 4 };

struct tok {
    uint32_t s, e; /* the word's bytes, without a possessive "'s" */
    uint32_t flags;
    uint32_t hash; /* hash_key of an ASCII word's key, made while it was read; 0: not made */
    uint64_t head; /* with hash: the key's first 8 bytes, little-endian, zero past its end */
    uint16_t shape;
    uint16_t gap; /* G_* of the bytes before the word */
    uint8_t mark;
};

#define LOCAL_TOKS 256
#define MAX_HINT 6

struct hint_part {
    char key[KEY_MAX];
    size_t len;
    uint32_t hash; /* a key of 1 to 15 ASCII letters: hash_key of it, as a token's; else 0 */
    int role; /* HINT_GIVEN, HINT_SUR, HINT_OTHER */
    bool weak;
};

enum { HINT_OTHER, HINT_GIVEN, HINT_SUR };

struct scan {
    const pii_names *nm;
    const char *text;
    size_t len;
    struct tok *t;
    size_t n, cap;
    struct tok local[LOCAL_TOKS];
    uint32_t *cand; /* the tokens the rules must look at, in order (see add_word) */
    size_t ncand;
    uint32_t cand_local[LOCAL_TOKS];
    uint64_t hint_words; /* bit set of the hashes of the display name's ASCII words */
    size_t hint_len;     /* the bytes of the display name that are read (hint_cut) */
    struct hint_part hint[MAX_HINT];
    size_t nhint;
    uint8_t hint_first[32]; /* bit set of the hint parts' first key bytes */
    uint64_t hint_hashes;   /* bit set of the hint parts' hashes, modulo 64 */
    bool lower_text; /* no capitalised word at all: names may be written in lower case */
    size_t marks;    /* tokens marked so far */
    size_t mark_lo, mark_hi; /* with marks: every marked token lies in [mark_lo, mark_hi] */
};

static bool ascii_alnum(unsigned char c)
{
    return (unsigned)((c | 32) - 'a') < 26u || (unsigned)(c - '0') < 10u;
}

static bool word_byte_start(const char *s, size_t n, size_t i, uint32_t *cp, size_t *k)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
        *cp = c;
        *k = 1;
        return ascii_alnum(c);
    }
    *k = next_cp(s, n, i, cp);
    return cp_letter(*cp) || (*cp >= '0' && *cp <= '9');
}

/* Letter counts of a word while it is read, for its case shape. */
struct caseinfo {
    unsigned letters, upper;
    bool first_seen, first_upper;
};

static void count_letter(struct caseinfo *ci, bool up)
{
    if (!ci->first_seen)
        ci->first_seen = true, ci->first_upper = up;
    ci->letters++;
    ci->upper += up;
}

static uint16_t shape_of(const struct caseinfo *ci)
{
    if (!ci->first_seen)
        return 0;
    if (!ci->first_upper)
        return SH_LOWER;
    if (ci->letters == 1)
        return SH_INITIAL;
    return ci->upper == ci->letters ? SH_ALLCAPS : SH_CAP;
}

/* Whether the character at s[i] is a letter (not a digit). */
static bool letter_at(const char *s, size_t n, size_t i)
{
    char c = bclass(s, i);
    if (c == 'L' || c == 'U')
        return true;
    uint32_t cp;
    return c == 'H' && intake_utf8_decode(s + i, n - i, &cp) && cp_letter(cp);
}

/* Reads one character of a word that is not an ASCII letter at s[j]: a digit, a letter of
 * another script, or an apostrophe or hyphen with a letter after it. Returns its length,
 * or 0 when the word ends before it. */
static size_t word_char(const char *s, size_t n, size_t j, uint16_t *shape, struct caseinfo *ci)
{
    char c = bclass(s, j);
    if (c == 'D') {
        *shape |= SH_DIGIT;
        return 1;
    }
    uint32_t cp = (unsigned char)s[j];
    size_t k = 1;
    if (c == 'H') {
        k = intake_utf8_decode(s + j, n - j, &cp);
        if (k == 0)
            return 0;
        if (cp_letter(cp)) {
            count_letter(ci, cp_upper(cp));
            return k;
        }
    }
    if (!(is_apostrophe(cp) || cp == '-') || j + k >= n || !letter_at(s, n, j + k))
        return 0;
    if (cp == '-')
        *shape |= SH_HYPHEN;
    return k;
}

/* Length of the word starting at s[i]: letters and digits, and an apostrophe or hyphen
 * with a letter on each side. Adds SH_DIGIT and SH_HYPHEN to *shape and counts letters
 * into ci (may be NULL). */
static size_t scan_word(const char *s, size_t n, size_t i, uint16_t *shape, struct caseinfo *ci)
{
    struct caseinfo dummy = {0};
    ci = ci ? ci : &dummy;
    size_t j = i;
    while (j < n) {
        char c = bclass(s, j);
        if (c == 'L' && ci->first_seen) {
            ci->letters++;
            j++;
        } else if (c == 'L' || c == 'U') {
            count_letter(ci, c == 'U');
            j++;
        } else {
            size_t k = word_char(s, n, j, shape, ci);
            if (k == 0)
                break;
            j += k;
        }
    }
    return j - i;
}

/* A run of ASCII letters read 16 bytes at a time: its length (at most 16), `upper` equal
 * to it when every letter is upper case (and smaller otherwise: nothing else asks how
 * many), and the two 8-byte chunks of its lower-cased key. */
struct letters16 {
    unsigned len, upper;
    uint64_t lo, hi;
};

#if defined(__SSE2__)
/* Reads the letters at p[0..16) (all 16 bytes readable): bit masks of the bytes that are
 * letters and upper case, found without a branch per byte. */
static void read_letters16(const unsigned char *p, struct letters16 *r)
{
    static const char iota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i low = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i off = _mm_add_epi8(low, _mm_set1_epi8((char)(0x80 - 'a')));
    __m128i letter = _mm_cmplt_epi8(off, _mm_set1_epi8((char)(-128 + 26)));
    unsigned lmask = (unsigned)_mm_movemask_epi8(letter);
    unsigned len = (unsigned)__builtin_ctz(~lmask | 0x10000u);
    __m128i in = _mm_cmplt_epi8(_mm_loadu_si128((const __m128i *)(const void *)iota),
                                _mm_set1_epi8((char)len));
    __m128i up = _mm_cmpeq_epi8(_mm_and_si128(v, _mm_set1_epi8(0x20)), _mm_setzero_si128());
    unsigned umask = (unsigned)_mm_movemask_epi8(_mm_and_si128(up, in));
    __m128i key = _mm_and_si128(low, in);
    r->len = len;
    r->upper = umask == (1u << len) - 1 ? len : umask != 0; /* only "all" matters */
    r->lo = (uint64_t)_mm_cvtsi128_si64(key);
    r->hi = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(key, key));
}
#else
/* Reads the letters at p[0..16) (all 16 bytes readable), a byte at a time; the same
 * result as the SSE2 version. */
static void read_letters16(const unsigned char *p, struct letters16 *r)
{
    unsigned len = 0, upper = 0;
    uint64_t k[2] = {0, 0};
    while (len < 16 && (unsigned)((p[len] | 32) - 'a') < 26u) {
        upper += p[len] < 'a';
        k[len >> 3] |= (uint64_t)(p[len] | 32u) << (8 * (len & 7));
        len++;
    }
    r->len = len;
    r->upper = upper;
    r->lo = k[0];
    r->hi = k[1];
}
#endif

/* The fast path of scan_word: the length of a word of ASCII letters only at s[i] (at most
 * 15 bytes), or 0 when the word holds anything else or is longer (then scan_word reads
 * it). Also gives the hash of the word's key (as hash_key would make it) in *hash and the
 * key's first 8 bytes (little-endian, zero past its end) in *head, so that the word is
 * read only once. Inlined into each caller: as a call it cost the tokeniser a tenth of
 * its time. */
static inline __attribute__((always_inline)) size_t
ascii_word(const char *s, size_t n, size_t i, struct caseinfo *ci, uint32_t *hash, uint64_t *head)
{
    unsigned char tail[16] = {0};
    const unsigned char *p = (const unsigned char *)s + i;
    if (n - i < 16) {
        memcpy(tail, p, n - i);
        p = tail;
    }
    struct letters16 r;
    read_letters16(p, &r);
    if (r.len == 0 || r.len == 16)
        return 0;
    size_t j = i + r.len;
    char c = j < n ? bclass(s, j) : 'S';
    if (c != 'S' && c != 'N' && c != 'P')
        return 0;
    *hash = hash_finish(hash_start(r.lo, r.hi, r.len));
    *head = r.lo;
    ci->first_seen = true;
    ci->first_upper = p[0] < 'a';
    ci->letters = r.len;
    ci->upper = r.upper;
    return r.len;
}

static size_t word_len(const char *s, size_t n, size_t i, uint16_t *shape)
{
    return scan_word(s, n, i, shape, NULL);
}

/* Case shape of the word s[0..n). */
static uint16_t case_shape(const char *s, size_t n)
{
    struct caseinfo ci = {0};
    uint16_t ignored = 0;
    scan_word(s, n, 0, &ignored, &ci);
    return shape_of(&ci);
}

/* Adds the gap bits of the non-word byte s[i] to *g; returns how many bytes it took. */
static size_t gap_byte(const char *s, size_t n, size_t i, uint16_t *g, int *nl)
{
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '\n': (*nl)++; *g |= G_NL; if (*nl >= 2) *g |= G_BLANK; return 1;
    case ' ': case '\t': case '\r': return 1;
    case ',': *g |= G_COMMA; return 1;
    case '.': *g |= G_PERIOD | G_END; return 1;
    case '!': case '?': case ';': case ':': *g |= G_END; return 1;
    case '&': *g |= G_AMP; return 1;
    case '(': case '[': *g |= G_OPEN; return 1;
    case ')': case ']': *g |= G_CLOSE; return 1;
    case '>': if (*nl == 0) *g |= G_OTHER; return 1; /* quoted reply marks */
    default: break;
    }
    if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0)
        return 2; /* no-break space */
    *g |= G_OTHER;
    uint32_t cp;
    return c < 0x80 ? 1 : next_cp(s, n, i, &cp);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether the non-space byte s[i] makes its chunk (the run of non-space bytes around it)
 * an e-mail address, a link, a handle or a hashtag. */
static bool inert_byte(const char *s, size_t n, size_t i)
{
    char c = s[i];
    if (c == '@' || c == '#')
        return true;
    if (c == '/')
        return i + 1 < n && s[i + 1] == '/';
    return c == '.' && i > 0 && i + 1 < n && s[i + 1] >= 'a' && s[i + 1] <= 'z' &&
           (unsigned)((s[i - 1] | 32) - 'a') < 26u;
}

/* Doubles the room for tokens and candidates. Returns 0, or -1 when memory runs out. */
static int grow_toks(struct scan *sc)
{
    size_t cap = sc->cap * 2;
    bool local = sc->t == sc->local;
    struct tok *v = local ? malloc(cap * sizeof *v) : realloc(sc->t, cap * sizeof *v);
    if (!v)
        return -1;
    if (local)
        memcpy(v, sc->local, sc->n * sizeof *v);
    sc->t = v;
    uint32_t *c = local ? malloc(cap * sizeof *c) : realloc(sc->cand, cap * sizeof *c);
    if (!c)
        return -1;
    if (local)
        memcpy(c, sc->cand_local, sc->ncand * sizeof *c);
    sc->cand = c;
    sc->cap = cap;
    return 0;
}

/* Makes room for one more token, and for it in the list of candidates. Returns 0, or -1
 * when memory runs out. */
static inline int room_for_tok(struct scan *sc)
{
    return sc->n < sc->cap ? 0 : grow_toks(sc);
}

/* Leaves a possessive "'s" (or "’s") at the end of t's word out of it. */
static void drop_possessive(const char *s, struct tok *t, struct caseinfo *ci)
{
    size_t n = t->e - t->s;
    const char *w = s + t->s;
    if (n < 3 || (w[n - 1] | 32) != 's')
        return;
    if (w[n - 2] == '\'')
        t->e -= 2;
    else if (n >= 5 && !memcmp(w + n - 4, "\xE2\x80\x99", 3))
        t->e -= 4;
    else
        return;
    t->shape |= SH_POSS;
    ci->letters--;
    ci->upper -= w[n - 1] == 'S';
}

/* Whether the word after a gap starts a sentence: the text's first word, a line's first
 * word, or after . ! ? : ; unless the word before is an initial ("D. Ingham"). */
static bool starts_sentence(const struct scan *sc, const struct tok *t)
{
    if (sc->n == 0 || (t->gap & G_NL))
        return true;
    if (!(t->gap & G_END))
        return false;
    return !(sc->t[sc->n - 1].shape & SH_INITIAL);
}

/* Whether block_all or rules_at could do anything at a token of this shape and hash,
 * unless the text turns out to have no capitalised word (then rules_at sees every token):
 * a mention; a capitalised word (even with digits: it starts or breaks a run) or the first
 * of a sentence or a line; not another word with digits; a word not of ASCII letters (no
 * hash); one that may be a context word (the Bloom filter) or a word of the author's name
 * (hint_words, a superset of read_hint's parts). */
static bool rules_may_act(const struct scan *sc, uint16_t shape, uint32_t hash)
{
    /* without a branch: which way a word goes is as good as random, and every word of
     * the text comes here */
    const uint64_t *b = sc->nm->bloom;
    uint32_t x = hash & 4095, y = (hash >> 12) & 4095;
    uint64_t bloom = (b[x >> 6] >> (x & 63)) & (b[y >> 6] >> (y & 63));
    uint64_t hint = sc->hint_words >> (hash & 63);
    unsigned strong = (shape & (SH_MENTION | SH_CAP | SH_ALLCAPS | SH_INITIAL | SH_SENT |
                                SH_LINE)) != 0;
    unsigned digit = (shape & SH_DIGIT) != 0;
    unsigned other = (hash == 0) | (unsigned)((bloom | hint) & 1);
    return strong | ((digit ^ 1u) & other);
}

/* Makes a token of the word at text[i], after a gap with bits g, and stores the word's
 * end (a possessive included) in *end. Returns -1 when memory runs out. */
static int add_word(struct scan *sc, size_t i, uint16_t g, bool mention, size_t *end)
{
    if (room_for_tok(sc) != 0)
        return -1;
    struct tok *t = &sc->t[sc->n];
    struct caseinfo ci = {0};
    uint16_t shape = 0;
    uint32_t hash = 0;
    uint64_t head = 0;
    size_t e = i + ascii_word(sc->text, sc->len, i, &ci, &hash, &head);
    if (e == i)
        e = i + scan_word(sc->text, sc->len, i, &shape, &ci);
    *end = e;
    if (mention && e < sc->len && !is_space(sc->text[e]))
        mention = false; /* "@Word" must be the whole chunk */
    t->s = (uint32_t)i;
    t->e = (uint32_t)e;
    t->flags = 0;
    t->hash = hash;
    t->head = head;
    t->gap = g;
    t->mark = 0;
    t->shape = shape;
    if (hash == 0) /* a word of ASCII letters only has no "'s" */
        drop_possessive(sc->text, t, &ci);
    shape = t->shape | shape_of(&ci) | (mention ? SH_MENTION : 0);
    if (sc->n == 0 || (g & G_NL))
        shape |= SH_LINE;
    if (starts_sentence(sc, t))
        shape |= SH_SENT;
    if (shape & (SH_CAP | SH_ALLCAPS))
        sc->lower_text &= t->e - t->s == 1;
    t->shape = shape;
    /* the rules look every capitalised word up later: start loading its slot (all words
     * would be too many: they fill the core's queue of misses and stall the tokeniser) */
    if (hash != 0 && (shape & (SH_CAP | SH_ALLCAPS | SH_INITIAL | SH_SENT | SH_LINE)))
        __builtin_prefetch(&sc->nm->slot[hash & sc->nm->mask]);
    sc->cand[sc->ncand] = (uint32_t)sc->n;
    sc->ncand += rules_may_act(sc, shape, hash);
    sc->n++;
    return 0;
}

/* The most common word: lower-case ASCII letters only, right after a single blank that
 * follows another word (so gap 0, neither the first of a sentence nor of a line, no
 * possessive, no look-up to start). Makes its token as add_word would, without asking
 * add_word's questions, and returns the word's end; returns 0, making nothing, for any
 * other word (add_word makes it then). Room for the token must be there. */
static inline __attribute__((always_inline)) size_t add_lower(struct scan *sc, size_t i)
{
    if ((unsigned)((unsigned char)sc->text[i] - 'a') >= 26u)
        return 0;
    struct caseinfo ci; /* only its case matters, and the first letter says it */
    uint32_t hash = 0;
    uint64_t head = 0;
    size_t e = i + ascii_word(sc->text, sc->len, i, &ci, &hash, &head);
    if (e == i)
        return 0;
    sc->t[sc->n] = (struct tok){
        .s = (uint32_t)i, .e = (uint32_t)e, .hash = hash, .head = head, .shape = SH_LOWER};
    sc->cand[sc->ncand] = (uint32_t)sc->n;
    sc->ncand += rules_may_act(sc, SH_LOWER, hash);
    sc->n++;
    return e;
}

/* Marks the tokens from `first` on as inert (their chunk is an address or a link). */
static void make_inert(struct scan *sc, size_t first)
{
    for (size_t k = first; k < sc->n; k++)
        sc->t[k].shape |= SH_INERT;
}

/* Whether a word starts at s[i]. */
static bool word_starts(const char *s, size_t n, size_t i)
{
    char c = bclass(s, i);
    if (c == 'L' || c == 'U' || c == 'D')
        return true;
    uint32_t cp;
    return c == 'H' && intake_utf8_decode(s + i, n - i, &cp) && cp_letter(cp);
}

/* Cuts the text into tokens in one pass. Returns 0, or -1 when memory runs out. */
static int tokenise(struct scan *sc)
{
    const char *s = sc->text;
    size_t n = sc->len, chunk_tok = 0;
    uint16_t g = 0;
    int nl = 0;
    bool in_chunk = false, inert = false;
    for (size_t i = 0; i < n;) {
        char c = bclass(s, i);
        if (c == 'S' || c == 'N') {
            in_chunk = inert = false;
            if (c == 'N')
                g |= ++nl >= 2 ? G_NL | G_BLANK : G_NL;
            i++;
            continue;
        }
        if (!in_chunk)
            in_chunk = true, chunk_tok = sc->n;
        if (c != 'L' && c != 'U' && !word_starts(s, n, i)) {
            if (!inert && inert_byte(s, n, i))
                inert = true, make_inert(sc, chunk_tok);
            i += gap_byte(s, n, i, &g, &nl);
            continue;
        }
        bool mention = i > 0 && s[i - 1] == '@' && sc->n == chunk_tok;
        if (add_word(sc, i, g, mention, &i) != 0)
            return -1;
        if (inert)
            sc->t[sc->n - 1].shape |= SH_INERT;
        g = 0;
        nl = 0;
        /* the common case, one space and the next word, without going round the loop */
        while (i + 1 < n && s[i] == ' ' && (unsigned)((s[i + 1] | 32) - 'a') < 26u) {
            in_chunk = true, inert = false, chunk_tok = sc->n;
            if (room_for_tok(sc) != 0)
                return -1;
            size_t e = add_lower(sc, i + 1);
            if (e != 0)
                i = e;
            else if (add_word(sc, i + 1, 0, false, &i) != 0)
                return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Token questions                                                                       */

static uint32_t fl_lookup(struct scan *sc, struct tok *t);

/* Flags of token i, looked up on first use. A hyphenated word not in the lists takes its
 * first part's name flags; one with a lower-case part ("Stoke-on-Trent") reads as a place.
 * The test for a token looked up already is inline, the look-up is not. */
static inline uint32_t fl(struct scan *sc, size_t i)
{
    struct tok *t = &sc->t[i];
    return (t->shape & SH_LOOKED) ? t->flags : fl_lookup(sc, t);
}

/* fl for a token not looked up yet: looks it up and keeps its flags in it. */
static uint32_t fl_lookup(struct scan *sc, struct tok *t)
{
    t->shape |= SH_LOOKED;
    const char *w = sc->text + t->s;
    size_t n = t->e - t->s;
    t->flags = t->hash ? lookup_letters(sc->nm, w, n, t->hash, t->head)
                       : lookup_word(sc->nm, w, n);
    if (t->flags == 0 && (t->shape & SH_HYPHEN)) {
        size_t h = 0;
        bool lower_part = false;
        for (size_t k = 1; k + 1 < n; k++) {
            if (w[k] != '-')
                continue;
            h = h ? h : k;
            lower_part |= w[k + 1] >= 'a' && w[k + 1] <= 'z';
        }
        t->flags = lower_part ? NF_PLACE : (h ? lookup_word(sc->nm, w, h) & NF_NAME : 0);
    }
    return t->flags;
}

static bool has(struct scan *sc, size_t i, uint32_t f)
{
    return i < sc->n && (fl(sc, i) & f) != 0;
}

static uint16_t sh(const struct scan *sc, size_t i)
{
    return i < sc->n ? sc->t[i].shape : 0;
}

/* True when token i is the word w (ASCII, lower case, n bytes), in any case. */
#define is_word(sc, i, w) is_word_n(sc, i, w, sizeof w - 1)
static bool is_word_n(const struct scan *sc, size_t i, const char *w, size_t n)
{
    if (i >= sc->n)
        return false;
    const struct tok *t = &sc->t[i];
    if (t->e - t->s != n)
        return false;
    for (size_t k = 0; k < n; k++)
        if ((sc->text[t->s + k] | 32) != w[k])
            return false;
    return true;
}

/* Only blanks (no line break, no punctuation) before token i. */
static bool space_before(const struct scan *sc, size_t i)
{
    return i < sc->n && (sc->t[i].gap & (G_NL | G_PUNCT)) == 0;
}

/* Blanks, or the period of an initial or a title ("D. Ingham", "Mr. Ford"), before i. */
static bool joined_before(struct scan *sc, size_t i)
{
    if (i >= sc->n || i == 0)
        return false;
    uint16_t g = sc->t[i].gap;
    if ((g & (G_NL | G_PUNCT)) == 0)
        return true;
    if ((g & (G_NL | G_PUNCT)) != (G_PERIOD | G_END))
        return false;
    return (sh(sc, i - 1) & SH_INITIAL) || has(sc, i - 1, NF_TITLE);
}

static bool marked(const struct scan *sc, size_t i)
{
    return i < sc->n && (sc->t[i].mark & MK_NAME);
}

static bool blocked(const struct scan *sc, size_t i)
{
    return i >= sc->n || (sc->t[i].mark & MK_BLOCK) ||
           (sc->t[i].shape & (SH_INERT | SH_DIGIT));
}

/* Capitalised (or a capital initial), and free to be a name. */
static bool cap_free(const struct scan *sc, size_t i)
{
    return !blocked(sc, i) && (sh(sc, i) & (SH_CAP | SH_INITIAL));
}

/* ------------------------------------------------------------------------------------ */
/* The author's name (hints)                                                             */

static int hint_role(struct scan *sc, size_t i);

/* The first byte of token i, ASCII letters in lower case. */
static unsigned char first_byte(const struct scan *sc, size_t i)
{
    unsigned char c0 = (unsigned char)sc->text[sc->t[i].s];
    return c0 >= 'A' && c0 <= 'Z' ? (unsigned char)(c0 + 32) : c0;
}

/* Whether token i may be a part of the author's name (a cheap test before hint_match):
 * a word of ASCII letters by its hash, which it holds already, any other by its first
 * byte. */
static bool maybe_hint(const struct scan *sc, size_t i)
{
    if (sc->nhint == 0)
        return false;
    uint32_t h = sc->t[i].hash;
    if (h != 0)
        return (sc->hint_hashes >> (h & 63)) & 1;
    unsigned char c0 = first_byte(sc, i);
    return (sc->hint_first[c0 >> 3] & (1u << (c0 & 7))) != 0;
}

/* hint_match for token t, a word of ASCII letters with its hash: only a part whose key is
 * made of ASCII letters can be it, and the hashes tell most apart. */
static int hint_match_letters(const struct scan *sc, const struct tok *t)
{
    size_t n = t->e - t->s;
    for (size_t h = 0; h < sc->nhint; h++) {
        const struct hint_part *p = &sc->hint[h];
        if (p->hash == t->hash && p->len == n && same_folded(sc->text + t->s, p->key, n))
            return (int)h;
    }
    return -1;
}

/* The index of hint part matching token i, or -1. */
static int hint_match(struct scan *sc, size_t i)
{
    if (i >= sc->n || !maybe_hint(sc, i))
        return -1;
    const struct tok *t = &sc->t[i];
    if (t->hash != 0)
        return hint_match_letters(sc, t);
    unsigned char c0 = first_byte(sc, i);
    bool any = false;
    for (size_t h = 0; h < sc->nhint && !any; h++)
        any = (unsigned char)sc->hint[h].key[0] == c0 &&
              (c0 >= 0x80 || sc->hint[h].len == t->e - t->s);
    if (!any)
        return -1;
    char key[KEY_MAX];
    size_t k = make_key(sc->text + t->s, t->e - t->s, key, false);
    for (size_t h = 0; h < sc->nhint; h++)
        if (k && sc->hint[h].len == k && !memcmp(sc->hint[h].key, key, k))
            return (int)h;
    return -1;
}

static int hint_role(struct scan *sc, size_t i)
{
    int h = hint_match(sc, i);
    return h < 0 ? HINT_OTHER : sc->hint[h].role;
}

/* Cuts a display name where a person's name ends: "Jake from ResolveIQ", "Priya | SEO",
 * "Claims Team - Redwood Legal". */
static size_t hint_cut(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '|' || c == '(' || c == '<' || c == ',' || c == '/')
            return i;
        if (c != ' ')
            continue;
        const char *w = s + i + 1; /* after a blank: " - ", " from ", " at " */
        size_t left = n - i - 1;
        if ((left >= 1 && w[0] == '-') || (left >= 5 && !memcmp(w, "from ", 5)) ||
            (left >= 3 && !memcmp(w, "at ", 3)))
            return i + 1;
    }
    return n;
}

/* Whether a word of the display name makes it something else than a person's ("Mail
 * Delivery System", "Cedar House resident", "BrightBeam LED"). An ordinary word may follow
 * a given name ("Rob Kettle"). */
static bool hint_spoils(const struct scan *sc, uint32_t f, uint16_t shape)
{
    if (f & (NF_STOP | NF_ORG | NF_STREET | NF_CONTEXT))
        return true;
    if ((shape & (SH_ALLCAPS | SH_DIGIT | SH_LOWER)) && !(f & NF_NAME))
        return true;
    bool after_given = sc->nhint > 0 && sc->hint[0].role == HINT_GIVEN;
    return (f & NF_WORD) && !(f & NF_NAME) && !after_given;
}

/* Adds the word w[0..n) of the display name as a part, with its flags and shape; hash is
 * its key's hash when hint_word read it as a word of ASCII letters, else 0. */
static void hint_add(struct scan *sc, const char *w, size_t n, uint32_t f, uint16_t shape,
                     uint32_t hash)
{
    struct hint_part *p = &sc->hint[sc->nhint];
    if (shape & SH_INITIAL)
        f = 0;
    p->len = make_key(w, n, p->key, false);
    if (p->len == 0)
        return;
    p->hash = hash;
    if (hash == 0 && p->len < 16 && ascii_letters(p->key, p->len))
        p->hash = hash_key(p->key, p->len); /* as "Jo" in "Jo-" or "Jo'" */
    p->weak = (f & NF_TIER) != 0;
    p->role = HINT_OTHER;
    if (sc->nhint == 0 && (f & NF_FIRST) && !(shape & SH_INITIAL))
        p->role = HINT_GIVEN;
    else if (sc->nhint > 0 && !(shape & SH_INITIAL) && !(f & NF_PLACE) &&
             ((f & NF_SUR) || !(f & NF_WORD)))
        p->role = HINT_SUR;
    sc->nhint++;
}

/* The word of the display name at s[i]: returns its length and gives its case shape
 * (with SH_DIGIT and SH_HYPHEN), its flags and, for a word of ASCII letters (read only
 * once), its key's hash (else 0). */
static size_t hint_word(const pii_names *nm, const char *s, size_t n, size_t i,
                        uint16_t *shape, uint32_t *f, uint32_t *hash)
{
    struct caseinfo ci = {0};
    uint64_t head = 0;
    *hash = 0;
    size_t w = ascii_word(s, n, i, &ci, hash, &head);
    if (w > 0) {
        *shape = shape_of(&ci);
        *f = lookup_letters(nm, s + i, w, *hash, head);
        return w;
    }
    *shape = 0;
    w = word_len(s, n, i, shape);
    *shape |= case_shape(s + i, w);
    *f = lookup_word(nm, s + i, w);
    return w;
}

static bool ascii_letter(char c)
{
    return (unsigned)((c | 32) - 'a') < 26u;
}

/* Before the text is tokenised: notes in sc->hint_words the hash of every run of 1 to 15
 * ASCII letters in the part of the author's display name that read_hint reads. Any part
 * read_hint keeps that is a word of ASCII letters is one of those runs, so a token whose
 * hash is not among them is none of the name's parts. Also starts loading the table slots
 * of the first few, so that read_hint, after the text is tokenised, finds them in the
 * cache: the author's name is rarely looked up twice in a row. */
static void hint_prepare(struct scan *sc, const struct intake_redact_hints *hints)
{
    sc->hint_words = 0;
    sc->hint_len = 0;
    if (!hints || !hints->author_name)
        return;
    const char *s = hints->author_name;
    size_t n = sc->hint_len = hint_cut(s, hints->author_name_len);
    for (size_t i = 0, runs = 0; i < n;) {
        if (!ascii_letter(s[i])) {
            i++;
            continue;
        }
        uint64_t key[2] = {0, 0};
        size_t j = i;
        for (; j < n && ascii_letter(s[j]); j++)
            if (j - i < 16)
                key[(j - i) >> 3] |= (uint64_t)(unsigned char)(s[j] | 32) << (8 * ((j - i) & 7));
        if (j - i < 16) {
            uint32_t h = hash_finish(hash_start(key[0], key[1], j - i));
            sc->hint_words |= 1ull << (h & 63);
            if (runs++ < MAX_HINT)
                __builtin_prefetch(&sc->nm->slot[h & sc->nm->mask]);
        }
        i = j;
    }
}

/* Reads the author's display name (as far as hint_prepare cut it) into sc->hint. A name
 * with a title and one word ("Mrs Okafor") gives a surname. Nothing is kept when it does
 * not read as a person's. */
static void read_hint(struct scan *sc, const struct intake_redact_hints *hints)
{
    sc->nhint = 0;
    memset(sc->hint_first, 0, sizeof sc->hint_first);
    sc->hint_hashes = 0;
    if (!hints || !hints->author_name || hints->author_name_len == 0)
        return;
    const char *s = hints->author_name;
    size_t n = sc->hint_len, titles = 0; /* hint_prepare cut the name */
    for (size_t i = 0; i < n && sc->nhint < MAX_HINT;) {
        uint32_t cp;
        size_t k;
        if (!word_byte_start(s, n, i, &cp, &k)) {
            i += k;
            continue;
        }
        uint16_t shape;
        uint32_t f;
        uint32_t hash;
        size_t w = hint_word(sc->nm, s, n, i, &shape, &f, &hash);
        bool skip = (f & (NF_TITLE | NF_POST_TITLE)) || (w == 6 && !memcmp(s + i, "Office", 6)) ||
                    (w == 2 && !memcmp(s + i, "of", 2));
        if (skip)
            titles++;
        else if (!(shape & SH_INITIAL) && hint_spoils(sc, f, shape)) {
            sc->nhint = 0;
            return;
        } else
            hint_add(sc, s + i, w, f, shape, hash);
        i += w;
    }
    if (sc->nhint == 1 && titles > 0 && sc->hint[0].role != HINT_SUR)
        sc->hint[0].role = HINT_SUR;
    if (sc->nhint == 1 && sc->hint[0].role == HINT_OTHER)
        sc->nhint = 0;
    for (size_t h = 0; h < sc->nhint; h++) {
        unsigned char c0 = (unsigned char)sc->hint[h].key[0];
        sc->hint_first[c0 >> 3] |= (uint8_t)(1u << (c0 & 7));
        sc->hint_hashes |= 1ull << (sc->hint[h].hash & 63);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Marking                                                                               */

static void mark(struct scan *sc, size_t i)
{
    sc->t[i].mark |= MK_NAME;
    sc->marks++;
    sc->mark_lo = i < sc->mark_lo ? i : sc->mark_lo;
    sc->mark_hi = i > sc->mark_hi ? i : sc->mark_hi;
}

/* Token i reads as a name in a strong context (after a relation word, in a sign-off):
 * listed (even if also an ordinary word), the author's, or a capitalised word that is not
 * an ordinary word, a place or a context word. */
static bool strong_ok(struct scan *sc, size_t i)
{
    if (!cap_free(sc, i) || (sh(sc, i) & SH_INITIAL))
        return false;
    uint32_t f = fl(sc, i);
    if (f & (NF_NEVER | NF_CONTEXT))
        return false;
    if (f & NF_NAME)
        return true;
    if (hint_match(sc, i) >= 0)
        return true;
    return !(f & (NF_WORD | NF_PLACE | NF_WEAK));
}

/* Token i may continue a name to its right ("Sharon" -> "Sharon Booth"): a surname, a
 * first name that is not an ordinary word, the author's, or a capitalised word that is
 * not an ordinary word (places allowed: "Arthur Leigh"). */
static bool surname_ok(struct scan *sc, size_t i)
{
    if (!cap_free(sc, i))
        return false;
    uint32_t f = fl(sc, i);
    if (f & (NF_NEVER | NF_CONTEXT))
        return false;
    if (sh(sc, i) & SH_INITIAL)
        return surname_ok(sc, i + 1) && joined_before(sc, i + 1);
    if (f & NF_SUR)
        return true;
    if ((f & NF_FIRST) && !(f & NF_TIER))
        return true;
    if (hint_match(sc, i) >= 0)
        return true;
    return !(f & (NF_WORD | NF_WEAK));
}

/* Marks the words after the name ending at token i that continue it (up to four words in
 * all). */
static void extend_right(struct scan *sc, size_t i)
{
    size_t run = 1;
    for (size_t k = i; k > 0 && marked(sc, k - 1) && joined_before(sc, k); k--)
        run++;
    for (size_t j = i + 1; run < 4 && j < sc->n && !(sc->t[j - 1].shape & SH_POSS); j++) {
        if (marked(sc, j) || !joined_before(sc, j) || !surname_ok(sc, j))
            break;
        mark(sc, j);
        run++;
    }
}

/* Marks token i and the words that continue it. */
static void mark_name(struct scan *sc, size_t i)
{
    mark(sc, i);
    extend_right(sc, i);
}

/* ------------------------------------------------------------------------------------ */
/* Blocking: places, streets, organisations                                              */

/* Blocks tokens a..b-1. */
static void block(struct scan *sc, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        sc->t[i].mark |= MK_BLOCK;
}

/* In a run of capitalised words a..b-1, blocks the words before a street, building or
 * organisation word, and before a place word ("Park", "Side", "Ward") unless it is also a
 * surname with a first name right before it ("Pauline Ward"); a run of two or more right
 * after a house number is an address. */
static void block_run(struct scan *sc, size_t a, size_t b)
{
    if (b - a >= 2 && a > 0 && (sc->t[a - 1].shape & SH_DIGIT) && space_before(sc, a) &&
        !has(sc, a, NF_TITLE))
        block(sc, a, b);
    for (size_t i = a; i < b; i++) {
        uint32_t f = fl(sc, i);
        if (f & (NF_STREET | NF_ORG))
            block(sc, a, i);
        else if ((f & NF_AMBIG) && i > a && !(has(sc, i - 1, NF_FIRST) && (f & NF_SUR)))
            block(sc, a, i + 1);
        if ((f & NF_NOT_BEFORE) && i + 1 < sc->n && (sc->t[i + 1].gap & G_NL) == 0)
            block(sc, i + 1, i + 2);
    }
}

static bool run_word(const struct scan *sc, size_t i)
{
    return (sc->t[i].shape & (SH_CAP | SH_ALLCAPS | SH_INITIAL)) != 0;
}

/* Whether token i continues the capitalised run before it: blanks or a lone "&" between. */
static bool run_joined(const struct scan *sc, size_t i)
{
    uint16_t g = sc->t[i].gap & (G_NL | G_PUNCT);
    return g == 0 || g == G_AMP;
}

/* Blocks within every run of capitalised words. Such words are all candidates, so only
 * the candidates are walked. */
static void block_all(struct scan *sc)
{
    for (size_t k = 0; k < sc->ncand;) {
        size_t i = sc->cand[k];
        if (!run_word(sc, i)) {
            k++;
            continue;
        }
        size_t b = i + 1;
        while (b < sc->n && run_word(sc, b) && run_joined(sc, b))
            b++;
        block_run(sc, i, b);
        while (k < sc->ncand && sc->cand[k] < b)
            k++;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Rules                                                                                 */

/* "Mr Ford", "Mrs D. Ingham", "Mr and Mrs Vikram Shah", "Rt Hon Margaret Ellison". */
static void rule_title(struct scan *sc, size_t i)
{
    size_t k = i + 1;
    for (;;) {
        if (is_word(sc, k, "and") && has(sc, k + 1, NF_TITLE))
            k += 2;
        else if (k < sc->n && has(sc, k, NF_TITLE) && (sh(sc, k) & (SH_CAP | SH_ALLCAPS)) &&
                 (space_before(sc, k) || joined_before(sc, k) ||
                  (sc->t[k].gap & (G_NL | G_PUNCT)) == G_AMP))
            k++;
        else
            break;
    }
    for (size_t count = 0; k < sc->n && count < 4; k++, count++) {
        if (!joined_before(sc, k) || blocked(sc, k))
            break;
        if (!(sh(sc, k) & (SH_CAP | SH_ALLCAPS | SH_INITIAL)))
            break;
        if (!(sh(sc, k) & SH_INITIAL) &&
            (fl(sc, k) & (NF_STOP | NF_ORG | NF_STREET | NF_TITLE | NF_POST_TITLE)))
            break;
        if ((sh(sc, k) & SH_INITIAL) && !(joined_before(sc, k + 1) &&
                                          (sh(sc, k + 1) & (SH_CAP | SH_ALLCAPS | SH_INITIAL))))
            break;
        mark(sc, k);
        if (sh(sc, k) & SH_POSS)
            break;
    }
}

/* Marks up to three capitalised words ending at token i (walking left). */
static void mark_left(struct scan *sc, size_t i, bool first_joined)
{
    if (!first_joined)
        return;
    for (size_t k = i, count = 0; count < 3; count++, k--) {
        if (!cap_free(sc, k) || (fl(sc, k) & (NF_NEVER | NF_CONTEXT)))
            return;
        mark(sc, k);
        if (k == 0 || !joined_before(sc, k))
            return;
    }
}

/* "Helen Marsden MP", "Edith Marsden (Mrs)". */
static void rule_post_title(struct scan *sc, size_t i)
{
    if (i == 0)
        return;
    if (has(sc, i, NF_POST_TITLE) && (sh(sc, i) & (SH_ALLCAPS | SH_CAP)))
        mark_left(sc, i - 1, space_before(sc, i));
    else if (has(sc, i, NF_TITLE) && (sc->t[i].gap & G_OPEN) && !(sc->t[i].gap & G_NL) &&
             sc->t[i].e < sc->len && sc->text[sc->t[i].e] == ')')
        mark_left(sc, i - 1, true);
}

/* In a text written all in lower case, whether token i is a listed given name that is
 * not mostly an ordinary word ("my sister grace"). */
static bool lower_given(struct scan *sc, size_t i)
{
    if (!sc->lower_text || !(sh(sc, i) & SH_LOWER) || blocked(sc, i))
        return false;
    uint32_t f = fl(sc, i);
    if (!(f & NF_FIRST) || (f & (NF_NEVER | NF_CONTEXT | NF_MOSTLY_WORD | NF_PLACE | NF_WEAK)))
        return false;
    return !(f & NF_WORD) || (f & NF_ALSO_WORD);
}

/* Marks the lower-case name at token i and a lower-case surname after it. */
static void mark_lower(struct scan *sc, size_t i)
{
    mark(sc, i);
    size_t j = i + 1;
    if (j < sc->n && space_before(sc, j) && (sh(sc, j) & SH_LOWER) && !blocked(sc, j) &&
        (fl(sc, j) & NF_SUR) && !(fl(sc, j) & (NF_WORD | NF_NEVER | NF_CONTEXT)))
        mark(sc, j);
}

/* "my neighbour Gary", "the caretaker, Steve", "a lad called Reece". */
static void rule_relation(struct scan *sc, size_t i)
{
    if ((sh(sc, i) & SH_POSS) || i + 1 >= sc->n)
        return;
    size_t j = i + 1;
    if (is_word(sc, j, "called") || is_word(sc, j, "named"))
        j++;
    if (j >= sc->n)
        return;
    uint16_t g = sc->t[j].gap & (G_NL | G_PUNCT);
    if ((g == 0 || g == G_COMMA) && strong_ok(sc, j))
        mark_name(sc, j);
    else if (g == 0 && lower_given(sc, j))
        mark_lower(sc, j);
}

/* "Kieran the caretaker", "Marcus the ASB officer". */
static void rule_the_relation(struct scan *sc, size_t i)
{
    if (!is_word(sc, i + 1, "the") || !space_before(sc, i + 1) || !strong_ok(sc, i))
        return;
    for (size_t k = i + 2; k < sc->n && k <= i + 4 && space_before(sc, k); k++) {
        if (has(sc, k, NF_RELATION) && !(sh(sc, k) & SH_POSS)) {
            mark_name(sc, i);
            return;
        }
    }
}

/* "May from the estates team", "Dean from @NorthgateHomes", "Jake from ResolveIQ": a
 * listed given name (even an ordinary word) followed by "from the", "from your", or "from"
 * and a capitalised word or a handle. */
static void rule_from(struct scan *sc, size_t i)
{
    if (!is_word(sc, i + 1, "from") || !space_before(sc, i + 1) || !space_before(sc, i + 2))
        return;
    if (!cap_free(sc, i) || (sh(sc, i) & SH_INITIAL) || !has(sc, i, NF_FIRST) ||
        has(sc, i, NF_NEVER | NF_CONTEXT | NF_PLACE | NF_WEAK))
        return;
    size_t j = i + 2;
    if (is_word(sc, j, "the") || is_word(sc, j, "your") || (sh(sc, j) & (SH_CAP | SH_INERT)))
        mark_name(sc, i);
}

/* A given name found once as a name is a name wherever else it stands capitalised in the
 * text ("said Bill would sort it. Bill never rang"). */
static void rule_again(struct scan *sc)
{
    enum { MAX_SEEN = 16 };
    char seen[MAX_SEEN][KEY_MAX];
    size_t seen_len[MAX_SEEN], nseen = 0;
    for (size_t i = sc->mark_lo; i <= sc->mark_hi && nseen < MAX_SEEN; i++) {
        if (marked(sc, i) && (sh(sc, i) & SH_CAP) && (fl(sc, i) & NF_FIRST) &&
            (fl(sc, i) & NF_TIER)) {
            const struct tok *t = &sc->t[i];
            seen_len[nseen] = make_key(sc->text + t->s, t->e - t->s, seen[nseen], false);
            nseen += seen_len[nseen] > 0;
        }
    }
    for (size_t i = 0; nseen && i < sc->n; i++) {
        if (marked(sc, i) || !cap_free(sc, i) || !(sh(sc, i) & SH_CAP) ||
            !(fl(sc, i) & NF_FIRST))
            continue;
        char key[KEY_MAX];
        const struct tok *t = &sc->t[i];
        size_t k = make_key(sc->text + t->s, t->e - t->s, key, false);
        for (size_t h = 0; h < nseen; h++)
            if (k && seen_len[h] == k && !memcmp(seen[h], key, k))
                mark(sc, i);
    }
}

/* "@Shannon Pollard": a Facebook mention of a person, a listed first name and a surname
 * (an X handle is one word: "@NorthgateHomes Sharon Booth" is a handle, then a name). */
static void rule_mention(struct scan *sc, size_t i)
{
    size_t j = i + 1;
    if (!(sh(sc, i) & SH_CAP) || j >= sc->n || !space_before(sc, j) || !surname_ok(sc, j))
        return;
    uint32_t f = fl(sc, i);
    if ((f & (NF_NEVER | NF_CONTEXT)) || !(f & NF_FIRST))
        return;
    mark(sc, i);
    mark_name(sc, j);
}

/* An initial at the start of a line before a marked surname ("M Osei", "A. Pollard"). */
static void initials_before(struct scan *sc)
{
    for (size_t i = sc->mark_lo ? sc->mark_lo - 1 : 0; i < sc->mark_hi; i++)
        if ((sh(sc, i) & (SH_INITIAL | SH_LINE)) == (SH_INITIAL | SH_LINE) && marked(sc, i + 1) &&
            !marked(sc, i) && joined_before(sc, i + 1))
            mark(sc, i);
}

/* Whether the word after token i ends a phrase (punctuation, a line break or the end). */
static bool ends_phrase(const struct scan *sc, size_t i)
{
    return i + 1 >= sc->n || (sc->t[i + 1].gap & (G_NL | G_PUNCT));
}

/* "Dear Lorraine", "Hi Sharon", "thanks sharon", "Thank you to Marcus". */
static void rule_greeting(struct scan *sc, size_t i)
{
    if (!(sh(sc, i) & SH_SENT))
        return;
    size_t j = i + 1;
    if (is_word(sc, i, "thank") && is_word(sc, j, "you"))
        j++;
    if (is_word(sc, j, "to"))
        j++;
    if (j >= sc->n || blocked(sc, j) || (sc->t[j].gap & (G_NL | (G_PUNCT & ~G_COMMA))))
        return;
    uint32_t f = fl(sc, j);
    if (f & (NF_NEVER | NF_CONTEXT))
        return;
    bool given = (f & NF_FIRST) || hint_role(sc, j) == HINT_GIVEN;
    if (!given)
        return;
    bool weak = (f & NF_TIER) != 0;
    if (sh(sc, j) & SH_CAP) {
        if (!weak || ends_phrase(sc, j))
            mark_name(sc, j);
    } else if ((sh(sc, j) & SH_LOWER) && !weak && !(f & NF_WORD) &&
               (ends_phrase(sc, j) || is_word(sc, j + 1, "for"))) {
        mark(sc, j);
    }
}

/* Marks the name-like words of the line segment starting at token a: up to the line's
 * end or a comma, "(" or other punctuation. Titles and "and" may sit among the names; a
 * surname position may hold an ordinary word ("Jo Kettle"). Marks nothing unless every
 * word fits and one at least is a capitalised name. `loose` allows unlisted
 * non-ordinary words as the only name ("Regards,\nLan"). Returns whether it marked. */
/* Whether token b continues a segment: blanks, "&", or an initial's period before it. */
static bool segment_joined(const struct scan *sc, size_t b)
{
    uint16_t g = sc->t[b].gap & (G_NL | G_PUNCT);
    return g == 0 || g == G_AMP || (g == (G_PERIOD | G_END) && (sh(sc, b - 1) & SH_INITIAL));
}

static bool mark_segment(struct scan *sc, size_t a, bool loose)
{
    size_t b = a, names = 0;
    bool listed = false, prev_given = false;
    for (; b < sc->n && (b == a || segment_joined(sc, b)); b++) {
        uint32_t f = fl(sc, b);
        if (is_word(sc, b, "and") || (f & (NF_TITLE | NF_POST_TITLE))) {
            prev_given = false;
            continue;
        }
        if (sh(sc, b) & SH_INITIAL)
            continue;
        bool ok = strong_ok(sc, b) || (prev_given && cap_free(sc, b) && (f & NF_WORD) &&
                                       !(f & (NF_NEVER | NF_CONTEXT | NF_PLACE)));
        if (!ok || ++names > 4)
            return false;
        listed |= (f & NF_NAME) || hint_match(sc, b) >= 0;
        prev_given = (f & NF_FIRST) != 0 || hint_role(sc, b) == HINT_GIVEN;
    }
    if (names == 0 || (!listed && !loose))
        return false;
    for (size_t k = a; k < b; k++)
        if (!is_word(sc, k, "and") && !(fl(sc, k) & (NF_TITLE | NF_POST_TITLE)) &&
            !((sh(sc, k) & SH_INITIAL) && !(k + 1 < b)))
            mark(sc, k);
    return true;
}

/* Index after the closing phrase starting at token i ("Kind regards", "Many thanks",
 * "With thanks in anticipation"), or i when there is none. */
static size_t closing_end(struct scan *sc, size_t i)
{
    size_t k = i;
    bool key = false;
    while (k < sc->n && k < i + 6 && (k == i || space_before(sc, k)) &&
           has(sc, k, NF_CLOSING | NF_CLOSING_FILL) && !(sh(sc, k) & SH_ALLCAPS)) {
        key |= has(sc, k, NF_CLOSING);
        k++;
    }
    return key ? k : i;
}

/* "Kind regards,\nJane Smith", "Thanks\nTom", "Many thanks, Tom", "Cheers, Priya". */
static void rule_closing(struct scan *sc, size_t i)
{
    if (!(sh(sc, i) & SH_SENT))
        return;
    size_t e = closing_end(sc, i);
    if (e == i || e >= sc->n)
        return;
    uint16_t g = sc->t[e].gap;
    if (g & G_NL)
        mark_segment(sc, e, true);
    else if ((g & G_PUNCT) == G_COMMA || (g & G_PUNCT) == G_OTHER)
        mark_segment(sc, e, true);
}

/* A line holding only a name: "Ray Ormerod", "Graham and Sue Wood", "Mrs D. Ingham". */
static void rule_name_line(struct scan *sc, size_t i)
{
    if (!(sh(sc, i) & SH_LINE) || marked(sc, i))
        return;
    size_t k = i;
    while (k < sc->n && has(sc, k, NF_TITLE))
        k++;
    if (k >= sc->n || !(sh(sc, k) & SH_CAP))
        return;
    uint32_t f = fl(sc, k);
    bool given = (f & NF_FIRST) || hint_role(sc, k) == HINT_GIVEN;
    if (!given || k + 1 >= sc->n || (sc->t[k + 1].gap & (G_NL | G_PUNCT)))
        return;
    uint32_t f2 = fl(sc, k + 1);
    if ((f & NF_TIER) && !((f2 & NF_SUR) && !(f2 & NF_TIER)) && !is_word(sc, k + 1, "and") &&
        (f2 & (NF_WORD | NF_NAME)))
        return;
    mark_segment(sc, i, false);
}

/* "Name: Kelly Brennan", "name of Fell", "in my name Rehana Patel", "called Milo". */
static void rule_intro(struct scan *sc, size_t i)
{
    size_t j = i + 1;
    for (size_t n = 0; n < 3 && j < sc->n; n++, j++) {
        if (!(is_word(sc, j, "is") || is_word(sc, j, "was") || is_word(sc, j, "of") ||
              is_word(sc, j, "on") || is_word(sc, j, "account") || is_word(sc, j, "as") ||
              is_word(sc, j, "by") || is_word(sc, j, "be") || is_word(sc, j, "under") ||
              is_word(sc, j, "s")))
            break;
    }
    if (j < sc->n && !(sc->t[j].gap & G_NL) && is_word(sc, i, "name") && lower_given(sc, j)) {
        mark_lower(sc, j);
        return;
    }
    if (j >= sc->n || (sc->t[j].gap & G_NL) || !cap_free(sc, j))
        return;
    uint32_t f = fl(sc, j);
    if (f & (NF_NEVER | NF_CONTEXT | NF_PLACE))
        return;
    if ((sh(sc, j) & SH_INITIAL) && !surname_ok(sc, j))
        return;
    mark_name(sc, j);
}

/* "I'm Katie Smith", "i am Abdi". */
static void rule_self_intro(struct scan *sc, size_t i)
{
    size_t j = i + 1;
    if (j >= sc->n || !space_before(sc, j) || !strong_ok(sc, j))
        return;
    uint32_t f = fl(sc, j);
    if ((f & NF_NAME) || !(f & (NF_WORD | NF_PLACE | NF_WEAK)))
        mark_name(sc, j);
}

/* A first name that is also an ordinary word or a place, marked with what follows it
 * when that is a surname ("Grace Holden", "Mark Whitfield"). */
static void weak_pair(struct scan *sc, size_t i, uint32_t f)
{
    size_t j = i + 1;
    if (j >= sc->n || !space_before(sc, j) || !cap_free(sc, j) || (sh(sc, j) & SH_INITIAL))
        return;
    uint32_t g = fl(sc, j);
    if (g & (NF_NEVER | NF_CONTEXT | NF_AMBIG))
        return;
    bool sur = (g & NF_SUR) && !(g & NF_TIER);
    bool unlisted = !(g & (NF_WORD | NF_NAME | NF_PLACE | NF_WEAK));
    if (sur || (unlisted && !((f & NF_MOSTLY_WORD) && (sh(sc, i) & SH_SENT)))) {
        mark(sc, i);
        mark_name(sc, j);
    }
}

/* A capitalised word right before a listed surname that is not an ordinary word
 * ("Rahim Begum"). */
static void surname_pair(struct scan *sc, size_t i, uint32_t f)
{
    if (i == 0 || !(f & NF_SUR) || (f & (NF_TIER | NF_AMBIG)) || !space_before(sc, i))
        return;
    size_t p = i - 1;
    if (!cap_free(sc, p) || (sh(sc, p) & SH_INITIAL))
        return;
    uint32_t g = fl(sc, p);
    if (g & (NF_WORD | NF_NEVER | NF_CONTEXT | NF_PLACE | NF_WEAK | NF_NOT_BEFORE))
        return;
    mark(sc, p);
    mark_name(sc, i);
}

/* The name lists: a capitalised first name. */
static void rule_list(struct scan *sc, size_t i)
{
    if (!(sh(sc, i) & SH_CAP) || blocked(sc, i))
        return;
    uint32_t f = fl(sc, i);
    if (f & (NF_NEVER | NF_CONTEXT))
        return;
    if (!(f & NF_FIRST)) {
        surname_pair(sc, i, f);
        return;
    }
    bool next_cap = i + 1 < sc->n && space_before(sc, i + 1) && (sh(sc, i + 1) & SH_CAP);
    bool prev_cap = i > 0 && space_before(sc, i) && (sh(sc, i - 1) & SH_CAP) &&
                    !(fl(sc, i - 1) & NF_CONTEXT);
    uint32_t tier = f & (NF_TIER | NF_AMBIG); /* "Vale", "Dale": places too */
    if (!tier)
        mark_name(sc, i);
    else if ((tier & ~(NF_ALSO_WORD | NF_AMBIG)) == 0 && !(sh(sc, i) & SH_SENT) && !next_cap &&
             !prev_cap)
        mark_name(sc, i);
    else
        weak_pair(sc, i, f);
}

/* Whether the author's full name (two words or more) starts at token i, in any case;
 * token i matches the name's first part already. Returns the number of its words, or 0. */
static size_t hint_full(struct scan *sc, size_t i)
{
    size_t parts = sc->nhint; /* each part kept has a key (hint_add) */
    if (parts < 2 || i + parts > sc->n || blocked(sc, i))
        return 0;
    for (size_t k = 1; k < parts; k++) {
        if (hint_match(sc, i + k) != (int)k || !joined_before(sc, i + k) || blocked(sc, i + k))
            return 0;
    }
    return parts;
}

/* The author's name: in full in any case ("mick yates"), its given name and surname
 * wherever they stand capitalised (a given name that is also an ordinary word only
 * mid-sentence or alone on its line). */
static void rule_hint(struct scan *sc, size_t i)
{
    int h = hint_match(sc, i);
    size_t full = h == 0 ? hint_full(sc, i) : 0;
    if (full) {
        for (size_t k = 0; k < full; k++)
            mark(sc, i + k);
        return;
    }
    if (h < 0 || !(sh(sc, i) & SH_CAP) || blocked(sc, i))
        return;
    const struct hint_part *p = &sc->hint[h];
    bool alone = (sh(sc, i) & SH_LINE) && (i + 1 >= sc->n || (sc->t[i + 1].gap & G_NL));
    if (p->role == HINT_OTHER || (p->weak && (sh(sc, i) & SH_SENT) && !alone))
        return;
    mark_name(sc, i);
}

/* "Colin and Maureen Morris", "Graham and Sue Wood": a listed name joined by "and" or
 * "&" to a marked one is a name too. */
static void rule_and(struct scan *sc)
{
    for (size_t i = sc->mark_lo > 1 ? sc->mark_lo - 1 : 1; i + 1 < sc->n && i <= sc->mark_hi + 1;
         i++) {
        size_t a = i - 1, b = i + 1;
        if (marked(sc, a) == marked(sc, b) || !is_word(sc, i, "and") || !space_before(sc, i) ||
            !space_before(sc, b))
            continue;
        if (marked(sc, a) && !marked(sc, b) && cap_free(sc, b) && has(sc, b, NF_NAME) &&
            !has(sc, b, NF_NEVER))
            mark_name(sc, b);
        if (marked(sc, b) && !marked(sc, a) && cap_free(sc, a) && has(sc, a, NF_FIRST) &&
            !has(sc, a, NF_NEVER))
            mark(sc, a);
    }
}

/* A first name right before a marked surname ("Sue" in "Sue Wood" once "Wood" is the
 * author's). */
static void extend_left(struct scan *sc)
{
    for (size_t i = sc->mark_hi + 1; i-- > 1 && i >= sc->mark_lo;) {
        if (!marked(sc, i) || marked(sc, i - 1) || !joined_before(sc, i))
            continue;
        if (cap_free(sc, i - 1) && has(sc, i - 1, NF_FIRST) && !has(sc, i - 1, NF_NEVER) &&
            !(sh(sc, i - 1) & SH_INITIAL) && (has(sc, i, NF_SUR) || hint_role(sc, i) == HINT_SUR))
            mark(sc, i - 1);
    }
}

/* Whether the lower-case token i may be a relation, intro or self-intro word (a Bloom
 * filter of them, so that most words are never looked up). */
static bool maybe_context(const struct scan *sc, size_t i)
{
    const struct tok *t = &sc->t[i];
    if (t->hash)
        return bloom_has(sc->nm->bloom, t->hash);
    size_t n = t->e - t->s;
    if (n >= KEY_MAX)
        return true;
    char key[KEY_MAX];
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)sc->text[t->s + k];
        if (c >= 0x80)
            return true;
        key[k] = (char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
    }
    return bloom_has(sc->nm->bloom, hash_key(key, n));
}

/* Runs the rules that start at token i. */
static void rules_at(struct scan *sc, size_t i)
{
    uint16_t s = sh(sc, i);
    if (s & SH_MENTION)
        rule_mention(sc, i);
    if (s & (SH_INERT | SH_DIGIT))
        return;
    if (maybe_hint(sc, i))
        rule_hint(sc, i);
    if ((s & SH_INITIAL) && first_byte(sc, i) == 'i' && !(sh(sc, i + 1) & (SH_CAP | SH_INITIAL)))
        return; /* the pronoun "I" */
    if (!(s & (SH_CAP | SH_ALLCAPS | SH_INITIAL | SH_SENT | SH_LINE)) && !sc->lower_text) {
        /* a lower-case word in mid-sentence: only a relation or "name", "called", "I'm"
         * before a capital, or "name is X", "name on account: X" a little further */
        if (!maybe_context(sc, i))
            return;
        if (!(sh(sc, i + 1) & (SH_CAP | SH_INITIAL))) {
            if (is_word(sc, i, "name") && ((sh(sc, i + 2) | sh(sc, i + 3) | sh(sc, i + 4)) &
                                           (SH_CAP | SH_INITIAL)))
                rule_intro(sc, i);
            return;
        }
    }
    uint32_t f = fl(sc, i);
    if ((f & NF_TITLE) && (s & (SH_CAP | SH_ALLCAPS)))
        rule_title(sc, i);
    if (f & (NF_POST_TITLE | NF_TITLE))
        rule_post_title(sc, i);
    if (f & NF_RELATION)
        rule_relation(sc, i);
    if (f & NF_GREETING)
        rule_greeting(sc, i);
    if (f & (NF_CLOSING | NF_CLOSING_FILL))
        rule_closing(sc, i);
    if (f & NF_INTRO)
        rule_intro(sc, i);
    if ((f & NF_SELF_INTRO) || (is_word(sc, i, "am") && is_word(sc, i - 1, "i")))
        rule_self_intro(sc, i);
    if (s & SH_CAP) {
        rule_the_relation(sc, i);
        rule_from(sc, i);
        rule_list(sc, i);
    }
    if (s & SH_LINE)
        rule_name_line(sc, i);
}

/* Appends one span per run of marked tokens (sc->marks > 0; only [mark_lo, mark_hi] is
 * walked, as in the passes after the rules). */
static int emit(struct scan *sc, struct pii_spanlist *out)
{
    for (size_t i = sc->mark_lo; i <= sc->mark_hi;) {
        if (!marked(sc, i)) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < sc->n && marked(sc, j) && joined_before(sc, j) &&
               !(sc->t[j - 1].shape & SH_POSS))
            j++;
        if (pii_spanlist_push(out, sc->t[i].s, sc->t[j - 1].e, INTAKE_PII_PERSON) != 0)
            return -1;
        i = j;
    }
    return 0;
}

/* Appends a person span for every name found in text[0..len) (any bytes; the author's
 * display name in hints helps, hints may be NULL). Reads nm only, so threads may share
 * it. Returns 0, or -1 when memory runs out (spans appended so far stay in out). */
int pii_names_find(const pii_names *nm, const char *text, size_t len,
                   const struct intake_redact_hints *hints, struct pii_spanlist *out)
{
    struct scan scan, *sc = &scan;
    sc->nm = nm;
    sc->text = text;
    sc->len = len > UINT32_MAX ? UINT32_MAX : len;
    sc->t = sc->local;
    sc->n = 0;
    sc->cap = LOCAL_TOKS;
    sc->cand = sc->cand_local;
    sc->ncand = 0;
    sc->lower_text = true;
    sc->marks = 0;
    sc->mark_lo = SIZE_MAX;
    sc->mark_hi = 0;
    hint_prepare(sc, hints);
    int rc = tokenise(sc);
    if (rc == 0) {
        read_hint(sc, hints);
        block_all(sc);
        if (sc->lower_text) {
            for (size_t i = 0; i < sc->n; i++)
                rules_at(sc, i);
        } else {
            for (size_t k = 0; k < sc->ncand; k++)
                rules_at(sc, sc->cand[k]);
        }
        if (sc->marks) {
            rule_and(sc);
            rule_again(sc);
            extend_left(sc);
            initials_before(sc);
            rc = emit(sc, out);
        }
    }
    if (sc->t != sc->local)
        free(sc->t);
    if (sc->cand != sc->cand_local)
        free(sc->cand);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Loading                                                                               */

enum list_kind { L_FIRST, L_SUR, L_WORDS, L_PLACES, L_CONTEXTS };

struct list_file {
    const char *name;
    enum list_kind kind;
};

static const struct list_file list_files[] = {
    {"first_names.txt", L_FIRST}, {"surnames.txt", L_SUR},     {"words.txt", L_WORDS},
    {"places.txt", L_PLACES},     {"contexts.txt", L_CONTEXTS},
};

static const struct {
    const char *name;
    uint32_t flag;
} sections[] = {
    {"title", NF_TITLE},         {"post_title", NF_POST_TITLE},
    {"relation", NF_RELATION},   {"greeting", NF_GREETING},
    {"closing", NF_CLOSING},     {"closing_filler", NF_CLOSING_FILL},
    {"intro", NF_INTRO},         {"self_intro", NF_SELF_INTRO},
    {"street", NF_STREET},       {"ambiguous", NF_AMBIG},
    {"org", NF_ORG},             {"stop", NF_STOP},
    {"weak", NF_WEAK},           {"not_before", NF_NOT_BEFORE},
    {"also_word", NF_ALSO_WORD},
};

#define BAD_SECTION UINT32_MAX

struct loader {
    pii_names *nm;
    const char *path;
    size_t line;
    enum list_kind kind;
    uint32_t section; /* contexts.txt: flag of the current section, 0 before the first */
    size_t entries;
    int errors;
    intake_diag *diag;
};

static void load_error(struct loader *ld, const char *msg, const char *what, size_t n)
{
    ld->errors++;
    if (what)
        intake_diag_add(ld->diag, "%s:%zu: %s \"%.*s\"", ld->path, ld->line, msg,
                        (int)(n > 60 ? 60 : n), what);
    else
        intake_diag_add(ld->diag, "%s:%zu: %s", ld->path, ld->line, msg);
}

/* Whether s[0..n) is valid UTF-8 and exactly one word as the tokeniser cuts them. */
static bool one_word(const char *s, size_t n)
{
    uint32_t cp;
    size_t k;
    for (size_t i = 0; i < n; i += k) {
        k = intake_utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            return false;
    }
    uint16_t shape = 0;
    return n > 0 && word_byte_start(s, n, 0, &cp, &k) && word_len(s, n, 0, &shape) == n;
}

static uint32_t marker_flag(const char *m, size_t n)
{
    if (n == 9 && !memcmp(m, "also-word", 9))
        return NF_ALSO_WORD;
    if (n == 11 && !memcmp(m, "mostly-word", 11))
        return NF_MOSTLY_WORD;
    return 0;
}

static uint32_t section_flag(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
        if (strlen(sections[i].name) == n && !memcmp(sections[i].name, s, n))
            return sections[i].flag;
    return 0;
}

/* The flags an entry of this file gives, with the marker after the word (names files). */
static int entry_flags(struct loader *ld, const char *m, size_t mn, uint32_t *flags)
{
    static const uint32_t base[] = {NF_FIRST, NF_SUR, NF_WORD, NF_PLACE, 0};
    *flags = ld->kind == L_CONTEXTS ? ld->section : base[ld->kind];
    if (mn == 0)
        return 0;
    uint32_t mf = (ld->kind == L_FIRST || ld->kind == L_SUR) ? marker_flag(m, mn) : 0;
    if (mf == 0) {
        load_error(ld, "unknown marker (also-word or mostly-word expected):", m, mn);
        return -1;
    }
    *flags |= mf;
    return 0;
}

/* One line of a list file, without its line break. Returns -1 when memory runs out. */
static int load_line(struct loader *ld, const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    if (n == 0 || s[0] == '#')
        return 0;
    if (ld->kind == L_CONTEXTS && s[0] == '[') {
        ld->section = n > 2 && s[n - 1] == ']' ? section_flag(s + 1, n - 2) : 0;
        if (ld->section == 0) {
            load_error(ld, "unknown section", s, n);
            ld->section = BAD_SECTION; /* its entries are skipped */
        }
        return 0;
    }
    if (ld->section == BAD_SECTION)
        return 0;
    size_t w = 0; /* the word, then a tab and a marker (names files) */
    while (w < n && s[w] != '\t')
        w++;
    size_t m = w;
    while (m < n && s[m] == '\t')
        m++;
    uint32_t flags;
    if (entry_flags(ld, s + m, n - m, &flags) != 0)
        return 0;
    if (ld->kind == L_CONTEXTS && ld->section == 0) {
        load_error(ld, "entry before any [section]", s, n);
        return 0;
    }
    char key[KEY_MAX];
    size_t k = one_word(s, w) ? make_key(s, w, key, false) : 0;
    if (k == 0) {
        load_error(ld, "not one word (letters, with ' or - inside)", s, w);
        return 0;
    }
    ld->entries++;
    return add_key(ld->nm, key, k, flags);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *p = realloc(buf, cap * 2);
        if (!p) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = p;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Loads one list file. Returns -1 when memory runs out; errors in the file are counted in
 * ld->errors. */
static int load_file(struct loader *ld, const char *dir, const struct list_file *lf)
{
    size_t plen = strlen(dir) + strlen(lf->name) + 2, len = 0;
    char *path = malloc(plen);
    if (!path)
        return -1;
    snprintf(path, plen, "%s/%s", dir, lf->name);
    ld->path = path;
    ld->line = 0;
    ld->kind = lf->kind;
    ld->section = 0;
    ld->entries = 0;
    errno = 0;
    char *text = read_all(path, &len);
    int rc = 0;
    if (!text) {
        ld->errors++;
        intake_diag_add(ld->diag, "%s: cannot read: %s", path,
                        errno ? strerror(errno) : "out of memory");
    }
    for (size_t i = 0; text && i < len && rc == 0 && ld->errors < 20;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - text) : len;
        ld->line++;
        rc = load_line(ld, text + i, e - i);
        i = e + 1;
    }
    if (text && rc == 0 && ld->entries == 0) {
        ld->errors++;
        intake_diag_add(ld->diag, "%s: no entries", path);
    }
    free(text);
    free(path);
    return rc;
}

/* Loads first_names.txt, surnames.txt, words.txt, places.txt and contexts.txt from
 * names_dir into a new object stored in *out (the caller's, free with pii_names_free);
 * returns 0. On any bad line, missing file or empty list returns -1, leaves *out NULL and
 * appends "file:line: message" lines (at most 20 a file) to diag (may be NULL). */
int pii_names_load(const char *names_dir, pii_names **out, intake_diag *diag)
{
    *out = NULL;
    pii_names *nm = calloc(1, sizeof *nm);
    if (!nm || grow_table(nm) != 0) {
        pii_names_free(nm);
        intake_diag_add(diag, "%s: out of memory", names_dir);
        return -1;
    }
    struct loader ld = {.nm = nm, .diag = diag};
    for (size_t i = 0; i < sizeof list_files / sizeof *list_files; i++) {
        if (load_file(&ld, names_dir, &list_files[i]) != 0) {
            intake_diag_add(diag, "%s: out of memory", names_dir);
            ld.errors++;
            break;
        }
    }
    if (ld.errors) {
        pii_names_free(nm);
        return -1;
    }
    *out = nm;
    return 0;
}

/* Frees what pii_names_load made. NULL is allowed. */
void pii_names_free(pii_names *nm)
{
    if (!nm)
        return;
    free(nm->slot);
    free(nm->keys);
    free(nm);
}
