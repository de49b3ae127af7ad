/* Small text helpers shared inside the classifier library (not a public header). */
#ifndef INTAKE_TEXTUTIL_H
#define INTAKE_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes one UTF-8 sequence at s (n bytes available) into *cp. Returns its length, or 0
 * when the bytes are not valid UTF-8 (overlong, surrogate, out of range, truncated). */
size_t textutil_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Encodes a valid code point into out (4 bytes of room). Returns the length. */
size_t textutil_utf8_encode(uint32_t cp, char *out);

/* True for a Unicode scalar value (not a surrogate, at most U+10FFFF). */
bool textutil_cp_valid(uint32_t cp);

/* Value of an ASCII digit in base 10 or 16, or -1. */
int textutil_digit_value(char c, int base);

/* ASCII-only character tests and case folding, independent of the C locale. */
bool textutil_is_alnum(unsigned char c);
unsigned char textutil_lower(unsigned char c);

#endif
