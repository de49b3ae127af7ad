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

/* ASCII-only character tests and case folding, independent of the C locale. */
bool textutil_is_alnum(unsigned char c);
unsigned char textutil_lower(unsigned char c);

#endif
