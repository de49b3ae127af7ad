/*
 * Text for the MIME parser (gateway/sources/mime_internal.h): charsets to UTF-8 with
 * libetpan's charconv, UTF-8 repair, RFC 2047 header values, checks of transfer
 * encodings, SHA-256.
 */
#include "mime_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "intake/utf8.h"

#define REPLACEMENT "\xef\xbf\xbd"
#define CHARSET_MAX 48 /* longer charset names are unknown */

void mime_problem(json_t *problems, const char *code)
{
    size_t i;
    json_t *v;
    json_array_foreach(problems, i, v)
        if (strcmp(json_string_value(v), code) == 0)
            return;
    json_array_append_new(problems, json_string(code));
}

/* ---- UTF-8 ---- */

char *mime_utf8_repair(const char *s, size_t n, size_t max, size_t *out_len, bool *bad)
{
    size_t cap = n < max ? n : max, len = 0;
    char *out = malloc(cap + 1);
    bool replaced = false;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = s[i] == '\0' ? 0 : intake_utf8_decode(s + i, n - i, &cp);
        const char *from = k ? s + i : REPLACEMENT;
        size_t w = k ? k : 3;
        replaced |= k == 0;
        if (len + w > cap) {
            char *grown = len + w <= max ? realloc(out, (cap = cap * 2 + w) + 1) : NULL;
            if (len + w > max)
                break;
            if (!grown) {
                free(out);
                return NULL;
            }
            out = grown;
        }
        memcpy(out + len, from, w);
        len += w;
        i += k ? k : 1;
    }
    out[len] = '\0';
    if (out_len)
        *out_len = len;
    if (bad)
        *bad = replaced;
    return out;
}

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = intake_utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* ---- charsets ---- */

/* The charset name lower-cased, without quotes or spaces, into buf; false when it has
 * characters no charset name has (so it never reaches iconv as "x//TRANSLIT"). */
static bool charset_name(const char *cs, char buf[CHARSET_MAX])
{
    size_t k = 0;
    for (; *cs == ' ' || *cs == '"' || *cs == '\''; cs++)
        ;
    for (; *cs && *cs != '"' && *cs != '\'' && *cs != ' '; cs++) {
        char c = (char)(*cs >= 'A' && *cs <= 'Z' ? *cs | 0x20 : *cs);
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.' || c == ':' || c == '+';
        if (!ok || k + 1 >= CHARSET_MAX)
            return false;
        buf[k++] = c;
    }
    buf[k] = '\0';
    return true;
}

static bool is_one_of(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(name, *list) == 0)
            return true;
    return false;
}

static const char *const utf8_names[] = {"", "utf-8", "utf8", "us-ascii", "ascii",
                                         "ansi_x3.4-1968", "646", "unicode-1-1-utf-8", NULL};
/* Latin-1 labels read as windows-1252, as browsers do (0x80-0x9F are its printable
 * characters in practice, C1 controls never). */
static const char *const latin1_names[] = {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
                                           "l1", "cp819", "ibm819", NULL};

/* Converts with charconv; NULL *out with MAIL_CHARCONV_ERROR_* returned on failure. */
static int convert(const char *name, const char *s, size_t n, char **out, size_t *out_len)
{
    *out = NULL;
    int rc = charconv_buffer("utf-8", name, s, n, out, out_len);
    if (rc != MAIL_CHARCONV_NO_ERROR && *out) {
        charconv_buffer_free(*out);
        *out = NULL;
    }
    return rc;
}

char *mime_to_utf8(const char *charset, const char *s, size_t n, size_t max,
                   json_t *problems, size_t *out_len)
{
    char name[CHARSET_MAX];
    bool known = charset_name(charset ? charset : "", name);
    if (n > max * 4 + 4)
        n = max * 4 + 4; /* no charset takes more than 4 bytes for one output byte */
    if (known && is_one_of(name, utf8_names)) {
        bool bad;
        char *r = mime_utf8_repair(s, n, max, out_len, &bad);
        if (r && bad)
            mime_problem(problems, "invalid_utf8");
        return r;
    }
    char *conv = NULL;
    size_t conv_len = 0;
    int rc = known ? convert(is_one_of(name, latin1_names) ? "windows-1252" : name, s, n,
                             &conv, &conv_len)
                   : MAIL_CHARCONV_ERROR_UNKNOWN_CHARSET;
    if (rc == MAIL_CHARCONV_ERROR_MEMORY)
        return NULL;
    if (rc != MAIL_CHARCONV_NO_ERROR)
        mime_problem(problems, rc == MAIL_CHARCONV_ERROR_UNKNOWN_CHARSET ? "unknown_charset"
                                                                         : "bad_charset_data");
    char *r = conv ? mime_utf8_repair(conv, conv_len, max, out_len, NULL)
                   : mime_utf8_repair(s, n, max, out_len, NULL);
    if (conv)
        charconv_buffer_free(conv);
    return r;
}

/* ---- header values ---- */

/* Whether iconv knows the charset of an encoded word (name: n bytes at s). */
static bool word_charset_known(const char *s, size_t n)
{
    char raw[CHARSET_MAX], name[CHARSET_MAX];
    if (n == 0 || n >= CHARSET_MAX)
        return false;
    memcpy(raw, s, n);
    raw[n] = '\0';
    if (!charset_name(raw, name))
        return false;
    if (is_one_of(name, utf8_names) || is_one_of(name, latin1_names))
        return true;
    char *out;
    size_t len;
    int rc = convert(name, "a", 1, &out, &len);
    if (out)
        charconv_buffer_free(out);
    return rc != MAIL_CHARCONV_ERROR_UNKNOWN_CHARSET;
}

/* Names "unknown_charset" when an encoded word =?charset?...?= of s names one iconv does
 * not know (libetpan then keeps its raw bytes, which the repair replaces). */
static void check_word_charsets(const char *s, json_t *problems)
{
    int words = 0;
    for (const char *p = strstr(s, "=?"); p && words++ < 64; p = strstr(p + 2, "=?")) {
        size_t n = strcspn(p + 2, "?* \t\r\n");
        if (p[2 + n] != '?' && p[2 + n] != '*')
            continue;
        if (!word_charset_known(p + 2, n)) {
            mime_problem(problems, "unknown_charset");
            return;
        }
    }
}

/* Folds whitespace and control characters of valid UTF-8 s into single spaces, trims,
 * and cuts at max bytes between characters, in place. */
static void fold_line(char *s, size_t max)
{
    size_t w = 0, last_char_end = 0, n = strlen(s);
    bool space = false;
    for (size_t r = 0; r < n;) {
        unsigned char c = (unsigned char)s[r];
        if (c < 0x20 || c == 0x7f || c == ' ') {
            space = w > 0;
            r++;
            continue;
        }
        uint32_t cp;
        size_t k = intake_utf8_decode(s + r, n - r, &cp);
        k = k ? k : 1;
        if (w + space + k > max)
            break;
        if (space)
            s[w++] = ' ';
        space = false;
        memmove(s + w, s + r, k);
        w += k;
        r += k;
        last_char_end = w;
    }
    s[last_char_end] = '\0';
}

char *mime_header_text(const char *raw, size_t max, json_t *problems)
{
    if (!raw)
        return NULL;
    size_t n = strlen(raw), idx = 0;
    if (n > max * 4 + 64)
        n = max * 4 + 64; /* enough for max bytes of text however it is encoded */
    bool utf8 = valid_utf8(raw, n);
    if (!utf8)
        mime_problem(problems, "8bit_header");
    check_word_charsets(raw, problems);
    char *decoded = NULL;
    int rc = mailmime_encoded_phrase_parse(utf8 ? "utf-8" : "windows-1252", raw, n, &idx,
                                           "utf-8", &decoded);
    if (rc == MAILIMF_ERROR_MEMORY)
        return NULL;
    char *out = rc == MAILIMF_NO_ERROR && decoded
                    ? mime_utf8_repair(decoded, strlen(decoded), n * 4 + 16, NULL, NULL)
                    : mime_to_utf8(utf8 ? "utf-8" : "windows-1252", raw, n, n * 4 + 16,
                                   problems, NULL);
    free(decoded);
    if (out)
        fold_line(out, max);
    return out;
}

/* ---- transfer encodings ---- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

bool mime_base64_clean(const char *s, size_t n)
{
    size_t chars = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
        } else if (b64_value(c) < 0 || pad > 0) {
            return false; /* a stray character, or data after the padding */
        } else {
            chars++;
        }
    }
    return pad <= 2 && (pad == 0 ? chars % 4 != 1 : (chars + pad) % 4 == 0);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

bool mime_qp_clean(const char *s, size_t n)
{
    for (const char *p = memchr(s, '=', n); p; p = memchr(p + 1, '=', n - (size_t)(p + 1 - s))) {
        size_t left = n - (size_t)(p - s) - 1;
        const char *q = p + 1;
        while (left > 0 && (*q == ' ' || *q == '\t')) /* "= \r\n": padding before a soft break */
            q++, left--;
        if (left == 0 || *q == '\r' || *q == '\n')
            continue;
        if (q != p + 1 || left < 2 || !is_hex(q[0]) || !is_hex(q[1]))
            return false;
    }
    return true;
}

void mime_sha256_hex(const void *s, size_t n, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    static const char digits[] = "0123456789abcdef";
    SHA256(s, n, md);
    for (size_t i = 0; i < sizeof md; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}
