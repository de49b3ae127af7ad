/* Structured logs, one JSON object per line on stderr: see include/intake/log.h.
 *
 * A line is built in a fixed buffer and written with one fwrite (stdio locks the stream
 * for the call), so lines from different threads never interleave. A line is at most
 * LINE_MAX_BYTES long: a value is cut after VALUE_MAX_BYTES (at a character boundary,
 * never inside an escape), and pairs that no longer fit are dropped; either way the line
 * ends with "truncated":true and stays valid JSON. */
#include "intake/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 4096
#define VALUE_MAX_BYTES 1024
#define TAIL_RESERVE 24 /* room for ,"truncated":true}\n */

/* Set once before threads start (see the header); read-only afterwards. */
static enum intake_log_level min_level = INTAKE_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void intake_log_set_level(enum intake_log_level level)
{
    if (level >= INTAKE_LOG_DEBUG && level <= INTAKE_LOG_ERROR)
        min_level = level;
}

int intake_log_level_parse(const char *s, enum intake_log_level *level)
{
    for (int i = INTAKE_LOG_DEBUG; s != NULL && i <= INTAKE_LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *level = (enum intake_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* The line being built. `limit` is where content must stop so the tail still fits. */
struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
    size_t limit;
    bool truncated;
};

static bool put_raw(struct line *l, const char *s, size_t n)
{
    if (n > l->limit - l->len)
        return false;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, min = 0x80, cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, min = 0x800, cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Escapes the character at s into out (at least 7 bytes). Returns the bytes written and
 * stores the input bytes consumed in *used. Invalid UTF-8 becomes \ufffd. */
static size_t escape_char(const char *s, size_t n, char *out, size_t *used)
{
    unsigned char c = (unsigned char)s[0];
    *used = 1;
    if (c == '"' || c == '\\') {
        out[0] = '\\', out[1] = (char)c;
        return 2;
    }
    if (c == '\n' || c == '\t' || c == '\r') {
        out[0] = '\\', out[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        return 2;
    }
    if (c < 0x20 || c == 0x7F)
        return (size_t)snprintf(out, 7, "\\u%04x", c);
    size_t len = utf8_len((const unsigned char *)s, n);
    if (len == 0) {
        memcpy(out, "\\ufffd", 6);
        return 6;
    }
    memcpy(out, s, len);
    *used = len;
    return len;
}

/* Appends a quoted, escaped JSON string of at most max_bytes escaped bytes. Returns false
 * when not even the quotes fit. Cutting the value marks the line truncated. */
static bool put_string(struct line *l, const char *s, size_t max_bytes)
{
    size_t start = l->len;
    if (!put_raw(l, "\"", 1))
        return false;
    size_t n = strlen(s);
    size_t written = 0;
    while (n > 0) {
        char tmp[8];
        size_t used;
        size_t k = escape_char(s, n, tmp, &used);
        if (written + k > max_bytes || k + 1 > l->limit - l->len) {
            l->truncated = true;
            break;
        }
        put_raw(l, tmp, k);
        written += k;
        s += used;
        n -= used;
    }
    if (!put_raw(l, "\"", 1)) {
        l->len = start;
        return false;
    }
    return true;
}

/* Appends ,"key":"value"; when the pair does not fit, leaves the line as it was. */
static void put_pair(struct line *l, const char *key, const char *value)
{
    size_t start = l->len;
    if (put_raw(l, ",", 1) && put_string(l, key, 128) && put_raw(l, ":", 1) &&
        put_string(l, value, VALUE_MAX_BYTES))
        return;
    l->len = start;
    l->truncated = true;
}

static void put_time(struct line *l)
{
    struct timespec ts;
    struct tm tm;
    char tbuf[48];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(tbuf, sizeof tbuf, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(tbuf + n, sizeof tbuf - n, ".%03ldZ\"", ts.tv_nsec / 1000000L);
    put_raw(l, tbuf, n);
}

void intake_log(enum intake_log_level level, const char *event, ...)
{
    if (level < min_level || level > INTAKE_LOG_ERROR)
        return;
    struct line l;
    l.len = 0;
    l.limit = sizeof l.buf - TAIL_RESERVE;
    l.truncated = false;
    put_time(&l);
    put_pair(&l, "level", level_names[level]);
    put_pair(&l, "event", event != NULL ? event : "");
    va_list ap;
    va_start(ap, event);
    for (const char *key = va_arg(ap, const char *); key != NULL;
         key = va_arg(ap, const char *)) {
        const char *value = va_arg(ap, const char *);
        if (value != NULL)
            put_pair(&l, key, value);
    }
    va_end(ap);
    l.limit = sizeof l.buf;
    if (l.truncated)
        put_raw(&l, ",\"truncated\":true", 17);
    put_raw(&l, "}\n", 2);
    fwrite(l.buf, 1, l.len, stderr);
}
