/* Small text helpers shared inside the classifier library (not a public header). */
#ifndef INTAKE_TEXTUTIL_H
#define INTAKE_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "intake/utf8.h"

/* True for a Unicode scalar value (not a surrogate, at most U+10FFFF). */
bool textutil_cp_valid(uint32_t cp);

/* Value of an ASCII digit in base 10 or 16, or -1. */
int textutil_digit_value(char c, int base);

/* ASCII-only character tests and case folding, independent of the C locale; inline, as
 * they are called once a byte in hot loops. */
static inline bool textutil_is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline unsigned char textutil_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

#endif
