/* Small text helpers: see textutil.h. */
#include "textutil.h"

bool textutil_cp_valid(uint32_t cp)
{
    return cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
}

static size_t seq_len(unsigned char c, uint32_t *init)
{
    if (c < 0x80) {
        *init = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        *init = c & 0x1F;
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        *init = c & 0x0F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        *init = c & 0x07;
        return 4;
    }
    return 0;
}

size_t intake_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (n == 0)
        return 0;
    uint32_t v;
    size_t len = seq_len((unsigned char)s[0], &v);
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (c & 0x3F);
    }
    if (v < min_for_len[len] || !textutil_cp_valid(v))
        return 0;
    *cp = v;
    return len;
}

size_t intake_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int textutil_digit_value(char c, int base)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (base == 16 && c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (base == 16 && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
