/*
 * UTF-8 decoding and encoding, strict (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF.
 */
#ifndef INTAKE_UTF8_H
#define INTAKE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one sequence at s (n bytes available) into *cp. Returns its length, or 0 when
 * the bytes are not valid UTF-8 (overlong, surrogate, out of range, truncated). */
size_t intake_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Encodes a Unicode scalar value into out (4 bytes of room). Returns the length. */
size_t intake_utf8_encode(uint32_t cp, char *out);

#endif
