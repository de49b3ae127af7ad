/* Reader for one `intake classify` input item: see include/intake/item_json.h. */
#include "intake/item_json.h"

#include <string.h>

#include "intake/utf8.h"

/* A value as found: where its decoded text sits in the reader's buffer. */
struct slot {
    enum intake_json_type type;
    size_t off;
    size_t len;
};

struct jp {
    const char *s;
    size_t n;
    size_t i;
    intake_buf *out;
    bool oom;
};

static void skip_ws(struct jp *p)
{
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        p->i++;
    }
}

static bool next_is(struct jp *p, char c)
{
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == c) {
        p->i++;
        return true;
    }
    return false;
}

static bool word(struct jp *p, const char *w)
{
    size_t n = strlen(w);
    if (p->n - p->i < n || memcmp(p->s + p->i, w, n) != 0)
        return false;
    p->i += n;
    return true;
}

static bool emit(struct jp *p, const char *s, size_t n, bool keep)
{
    if (!keep)
        return true;
    if (intake_buf_append(p->out, s, n) != 0) {
        p->oom = true;
        return false;
    }
    return true;
}

static bool hex4(struct jp *p, uint32_t *v)
{
    if (p->n - p->i < 4)
        return false;
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        int d = (c >= '0' && c <= '9') ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0)
            return false;
        *v = *v * 16 + (uint32_t)d;
    }
    return true;
}

/* \uXXXX, with a following low surrogate when the first is a high one. */
static bool unicode_escape(struct jp *p, bool keep)
{
    uint32_t cp, lo;
    if (!hex4(p, &cp))
        return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return false;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (!word(p, "\\u") || !hex4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    char buf[4];
    return emit(p, buf, intake_utf8_encode(cp, buf), keep);
}

static bool escape(struct jp *p, bool keep)
{
    if (p->i >= p->n)
        return false;
    char c = p->s[p->i++];
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *at = c ? strchr(from, c) : NULL;
    if (at != NULL)
        return emit(p, &to[at - from], 1, keep);
    return c == 'u' && unicode_escape(p, keep);
}

/* Reads a string at p->s[p->i] == '"'. When `sl` is set, decodes it into the buffer
 * (NUL-terminated) and records where. */
static bool string(struct jp *p, struct slot *sl)
{
    bool keep = sl != NULL;
    size_t start = p->out->len;
    p->i++;
    while (p->i < p->n) {
        size_t run = p->i;
        while (p->i < p->n && (unsigned char)p->s[p->i] >= 0x20 &&
               (unsigned char)p->s[p->i] < 0x80 && p->s[p->i] != '"' && p->s[p->i] != '\\')
            p->i++;
        if (!emit(p, p->s + run, p->i - run, keep) || p->i >= p->n)
            return false;
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            if (keep && !emit(p, "", 1, true))
                return false;
            if (keep)
                *sl = (struct slot){INTAKE_JSON_STRING, start, p->out->len - 1 - start};
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            p->i++;
            if (!escape(p, keep))
                return false;
            continue;
        }
        uint32_t cp;
        size_t used = intake_utf8_decode(p->s + p->i, p->n - p->i, &cp);
        if (used == 0 || !emit(p, p->s + p->i, used, keep))
            return false;
        p->i += used;
    }
    return false;
}

static size_t digits(struct jp *p)
{
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
        p->i++;
    return p->i - start;
}

/* Reads a number; an integer (no fraction, no exponent) is kept as written when `sl`. */
static bool number(struct jp *p, struct slot *sl)
{
    size_t start = p->i;
    if (p->s[p->i] == '-')
        p->i++;
    size_t d = digits(p);
    if (d == 0 || (d > 1 && p->s[p->i - d] == '0'))
        return false;
    bool integer = true;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        integer = false;
        if (digits(p) == 0)
            return false;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        integer = false;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (digits(p) == 0)
            return false;
    }
    if (sl == NULL)
        return true;
    if (!integer) {
        sl->type = INTAKE_JSON_OTHER;
        return true;
    }
    size_t off = p->out->len;
    if (!emit(p, p->s + start, p->i - start, true) || !emit(p, "", 1, true))
        return false;
    *sl = (struct slot){INTAKE_JSON_INTEGER, off, p->i - start};
    return true;
}

static bool value(struct jp *p, struct slot *sl, int depth);

/* Reads an array or object at p->s[p->i] ('[' or '{') without keeping anything. */
static bool container(struct jp *p, int depth)
{
    bool object = p->s[p->i++] == '{';
    char close = object ? '}' : ']';
    if (depth >= INTAKE_JSON_MAX_DEPTH)
        return false;
    if (next_is(p, close))
        return true;
    do {
        skip_ws(p);
        if (object && (p->i >= p->n || p->s[p->i] != '"' || !string(p, NULL) ||
                       !next_is(p, ':')))
            return false;
        if (!value(p, NULL, depth + 1))
            return false;
    } while (next_is(p, ','));
    return next_is(p, close);
}

/* Reads any value. When `sl` is set, strings and integers are kept and the type noted. */
static bool value(struct jp *p, struct slot *sl, int depth)
{
    struct slot dummy;
    struct slot *s = sl ? sl : &dummy;
    skip_ws(p);
    if (p->i >= p->n)
        return false;
    char c = p->s[p->i];
    s->type = INTAKE_JSON_OTHER;
    if (c == '"')
        return string(p, sl);
    if (c == '{' || c == '[')
        return container(p, depth);
    if (c == '-' || (c >= '0' && c <= '9'))
        return number(p, sl);
    if (word(p, "true"))
        s->type = INTAKE_JSON_TRUE;
    else if (word(p, "false"))
        s->type = INTAKE_JSON_FALSE;
    else if (word(p, "null"))
        s->type = INTAKE_JSON_NULL;
    else
        return false;
    return true;
}

struct slots {
    struct slot id, channel, body, subject, is_public, from, name, address, handle;
    bool from_is_object;
};

/* Reads a member name and returns the slot it fills (NULL for an unknown one). */
static bool key(struct jp *p, struct slot *const *names, const char *const *keys, size_t nkeys,
                struct slot **target)
{
    struct slot k;
    size_t mark = p->out->len;
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != '"' || !string(p, &k) || !next_is(p, ':'))
        return false;
    *target = NULL;
    for (size_t i = 0; i < nkeys; i++)
        if (k.len == strlen(keys[i]) && memcmp(p->out->data + k.off, keys[i], k.len) == 0)
            *target = names[i];
    p->out->len = mark;
    return true;
}

/* Reads the "from" value: an object's members are kept, anything else only typed. A
 * repeated "from" replaces the earlier one. */
static bool from_value(struct jp *p, struct slots *sl)
{
    static const char *const keys[] = {"name", "address", "handle"};
    struct slot *const names[] = {&sl->name, &sl->address, &sl->handle};
    sl->name = sl->address = sl->handle = (struct slot){0};
    sl->from = (struct slot){0};
    sl->from_is_object = false;
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != '{')
        return value(p, &sl->from, 1);
    sl->from = (struct slot){.type = INTAKE_JSON_OTHER};
    sl->from_is_object = true;
    p->i++;
    if (next_is(p, '}'))
        return true;
    do {
        struct slot *target;
        if (!key(p, names, keys, 3, &target) || !value(p, target, 2))
            return false;
    } while (next_is(p, ','));
    return next_is(p, '}');
}

static bool top_object(struct jp *p, struct slots *sl)
{
    static const char *const keys[] = {"id", "channel", "body", "subject", "public", "from"};
    struct slot *const names[] = {&sl->id,      &sl->channel,   &sl->body,
                                  &sl->subject, &sl->is_public, &sl->from};
    if (!next_is(p, '{'))
        return false;
    if (next_is(p, '}'))
        return true;
    do {
        struct slot *target;
        if (!key(p, names, keys, 6, &target))
            return false;
        bool ok = target == &sl->from ? from_value(p, sl) : value(p, target, 1);
        if (!ok)
            return false;
    } while (next_is(p, ','));
    return next_is(p, '}');
}

static struct intake_json_field field(const intake_buf *b, const struct slot *s)
{
    struct intake_json_field f = {.type = s->type};
    if (s->type == INTAKE_JSON_STRING || s->type == INTAKE_JSON_INTEGER) {
        f.text = b->data + s->off;
        f.len = s->len;
    }
    return f;
}

int intake_json_item_parse(struct intake_json_reader *rd, const char *line, size_t len,
                           struct intake_json_item *item, size_t *error_at)
{
    struct jp p = {.s = line, .n = len, .out = &rd->strings};
    struct slots sl;
    memset(&sl, 0, sizeof sl);
    rd->strings.len = 0;
    if (intake_buf_reserve(&rd->strings, len + 1) != 0)
        return -2;
    skip_ws(&p);
    if (p.i < p.n && p.s[p.i] != '{') { /* valid JSON, perhaps, but not an object */
        bool ok = value(&p, NULL, 0);
        skip_ws(&p);
        *error_at = p.i;
        return p.oom ? -2 : ok && p.i == p.n ? -3 : -1;
    }
    bool ok = top_object(&p, &sl);
    skip_ws(&p);
    if (p.oom)
        return -2;
    if (!ok || p.i != p.n) {
        *error_at = p.i;
        return -1;
    }
    const intake_buf *b = &rd->strings;
    *item = (struct intake_json_item){
        .id = field(b, &sl.id), .channel = field(b, &sl.channel), .body = field(b, &sl.body),
        .subject = field(b, &sl.subject), .is_public = field(b, &sl.is_public),
        .from = field(b, &sl.from),
        .from_is_object = sl.from_is_object,
        .from_name = field(b, &sl.name), .from_address = field(b, &sl.address),
        .from_handle = field(b, &sl.handle),
    };
    return 0;
}

void intake_json_reader_free(struct intake_json_reader *rd)
{
    intake_buf_free(&rd->strings);
}
