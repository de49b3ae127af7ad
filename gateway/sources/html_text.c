/*
 * HTML to readable text (include/intake/html.h): one forgiving pass over the bytes. Text
 * goes out through put_cp(), which folds whitespace, drops control characters and owes
 * line breaks until the next visible character, so breaks and spaces never pile up at
 * the ends. Tags only add breaks; raw-text elements (script, style) and the head are
 * skipped whole.
 *
 * Linear time: every look-ahead search either moves the cursor past what it read or,
 * when it fails, is remembered (struct out's flags) and not repeated: a search from
 * further on for </head> or <body cannot succeed either, and after a quoted attribute
 * value that never closes, quotes are no longer trusted to hide a '>'. A script, style
 * or comment that never closes ends the pass.
 */
#include "intake/html.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intake/utf8.h"

#define REPLACEMENT 0xFFFD

struct out {
    char *s;
    size_t len, cap, max;
    int nl;       /* line breaks owed before the next visible character (0..2) */
    bool sp;      /* a space owed */
    bool stop;    /* the cap was reached or memory ran out: ignore the rest */
    bool oom;
    bool no_head_close; /* a search for </head ...> failed: none further on either */
    bool no_body;       /* a search for <body failed: none further on either */
    bool broken_quotes; /* quotes hid every later '>': tags end at the first '>' */
    size_t looked;      /* bytes the look-ahead searches read (the linear bound's witness) */
};

/* ---- output ---- */

static bool grow(struct out *o, size_t need)
{
    if (need <= o->cap)
        return true;
    size_t cap = o->cap ? o->cap : 256;
    while (cap < need)
        cap *= 2;
    char *s = realloc(o->s, cap);
    if (!s)
        return o->oom = o->stop = true, false;
    o->s = s;
    o->cap = cap;
    return true;
}

/* Appends n visible bytes (one character), after the breaks or space owed. */
static void put(struct out *o, const char *b, size_t n)
{
    size_t lead = o->len == 0 ? 0 : o->nl ? (size_t)o->nl : o->sp ? 1 : 0;
    if (o->stop)
        return;
    if (o->len + lead + n > o->max) {
        o->stop = true; /* cut between characters: nothing of this one is written */
        return;
    }
    if (!grow(o, o->len + lead + n + 1))
        return;
    memset(o->s + o->len, o->nl ? '\n' : ' ', lead);
    memcpy(o->s + o->len + lead, b, n);
    o->len += lead + n;
    o->nl = 0;
    o->sp = false;
}

static void owe_break(struct out *o, int n)
{
    if (n > o->nl)
        o->nl = n;
}

static bool is_space_cp(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' ||
           cp == 0xA0;
}

static bool is_control_cp(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xAD /* soft hyphen */ ||
           cp == 0x200B || cp == 0xFEFF;
}

/* Writes one code point (anything: invalid ones become U+FFFD). */
static void put_cp(struct out *o, uint32_t cp)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = REPLACEMENT;
    if (is_space_cp(cp)) {
        o->sp = true;
        return;
    }
    if (is_control_cp(cp))
        return;
    char u[4];
    put(o, u, intake_utf8_encode(cp, u));
}

/* ---- entities ---- */

static const struct {
    const char *name;
    uint32_t cp;
} entities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
    {"nbsp", 0xA0}, {"ensp", ' '}, {"emsp", ' '}, {"thinsp", ' '}, {"shy", 0xAD},
    {"zwnj", 0x200B}, {"zwj", 0x200B}, {"pound", 0xA3}, {"euro", 0x20AC}, {"cent", 0xA2},
    {"yen", 0xA5}, {"sect", 0xA7}, {"para", 0xB6}, {"copy", 0xA9}, {"reg", 0xAE},
    {"trade", 0x2122}, {"deg", 0xB0}, {"plusmn", 0xB1}, {"times", 0xD7}, {"divide", 0xF7},
    {"frac12", 0xBD}, {"frac14", 0xBC}, {"frac34", 0xBE}, {"middot", 0xB7},
    {"bull", 0x2022}, {"hellip", 0x2026}, {"ndash", 0x2013}, {"mdash", 0x2014},
    {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"sbquo", 0x201A}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"bdquo", 0x201E}, {"laquo", 0xAB}, {"raquo", 0xBB},
    {"iexcl", 0xA1}, {"iquest", 0xBF}, {"szlig", 0xDF}, {"yuml", 0xFF},
    /* Latin-1 letters: the capitalised name is the code point minus 0x20 */
    {"agrave", 0xE0}, {"aacute", 0xE1}, {"acirc", 0xE2}, {"atilde", 0xE3}, {"auml", 0xE4},
    {"aring", 0xE5}, {"aelig", 0xE6}, {"ccedil", 0xE7}, {"egrave", 0xE8}, {"eacute", 0xE9},
    {"ecirc", 0xEA}, {"euml", 0xEB}, {"igrave", 0xEC}, {"iacute", 0xED}, {"icirc", 0xEE},
    {"iuml", 0xEF}, {"eth", 0xF0}, {"ntilde", 0xF1}, {"ograve", 0xF2}, {"oacute", 0xF3},
    {"ocirc", 0xF4}, {"otilde", 0xF5}, {"ouml", 0xF6}, {"oslash", 0xF8}, {"ugrave", 0xF9},
    {"uacute", 0xFA}, {"ucirc", 0xFB}, {"uuml", 0xFC}, {"yacute", 0xFD}, {"thorn", 0xFE},
};

static int digit(char c, bool hex)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

static bool numeric_entity(const char *s, size_t end, uint32_t *cp)
{
    bool hex = end > 2 && (s[2] == 'x' || s[2] == 'X');
    size_t i = hex ? 3 : 2;
    uint32_t v = 0;
    if (i >= end)
        return false;
    for (; i < end; i++) {
        int d = digit(s[i], hex);
        if (d < 0)
            return false;
        v = v > 0x10FFFF ? v : v * (hex ? 16u : 10u) + (uint32_t)d;
    }
    *cp = v; /* out of range values are replaced by put_cp */
    return true;
}

static bool named_entity(const char *name, size_t n, uint32_t *cp)
{
    bool cap = name[0] >= 'A' && name[0] <= 'Z';
    for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
        const char *e = entities[i].name;
        if (strlen(e) != n || memcmp(e + 1, name + 1, n - 1) != 0)
            continue;
        if (name[0] == e[0])
            return *cp = entities[i].cp, true;
        if (cap && (name[0] | 0x20) == e[0] && entities[i].cp >= 0xE0 &&
            entities[i].cp != 0xF7 && entities[i].cp != 0xFF)
            return *cp = entities[i].cp - 0x20, true;
    }
    return false;
}

/* Decodes an entity at s[0] == '&'. Returns its length with the code point in *cp, or 0
 * when it is not one (the '&' is then text). */
static size_t entity_at(const char *s, size_t n, uint32_t *cp)
{
    size_t end = 1;
    while (end < n && end < 12 && s[end] != ';')
        end++;
    if (end >= n || s[end] != ';' || end < 2)
        return 0;
    bool ok = s[1] == '#' ? numeric_entity(s, end, cp) : named_entity(s + 1, end - 1, cp);
    return ok ? end + 1 : 0;
}

/* ---- tags ---- */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether s (n bytes) starts with `lower` in any case. */
static bool prefix_ci(const char *s, size_t n, const char *lower)
{
    size_t k = strlen(lower);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++)
        if ((s[i] | 0x20) != lower[i])
            return false;
    return true;
}

/* Reads a tag's lower-case name (after '<' and an optional '/'); longer names are cut,
 * which only makes them unknown. */
static void tag_name(const char *s, size_t n, char *name, size_t cap, bool *closing)
{
    size_t i = 1, k = 0;
    *closing = i < n && s[i] == '/';
    i += *closing;
    while (i < n && k + 1 < cap && (is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9')))
        name[k++] = (char)(s[i++] | 0x20);
    name[k] = '\0';
}

/* The index after the first '>' from s[i] on; n when there is none. */
static size_t first_gt(struct out *o, const char *s, size_t n, size_t i)
{
    const char *gt = memchr(s + i, '>', n - i);
    o->looked += gt ? (size_t)(gt - s) - i + 1 : n - i;
    return gt ? (size_t)(gt - s) + 1 : n;
}

/* The index after the '>' that ends the tag at s[i] == '<', skipping quoted attribute
 * values; n when there is none. When no '>' outside quotes follows (a quote that never
 * closes), the tag ends at the first '>', and so do all later tags: that scan read to
 * the end, and repeating it for every tag would cost time quadratic in the input. */
static size_t tag_end(struct out *o, const char *s, size_t n, size_t i)
{
    if (o->broken_quotes)
        return first_gt(o, s, n, i);
    char quote = 0;
    for (size_t k = i + 1; k < n; k++) {
        o->looked++;
        if (quote) {
            quote = s[k] == quote ? 0 : quote;
        } else if (s[k] == '"' || s[k] == '\'') {
            quote = s[k];
        } else if (s[k] == '>') {
            return k + 1;
        }
    }
    o->broken_quotes = true; /* no '>' outside quotes up to the end */
    return first_gt(o, s, n, i);
}

/* The index after "</name ...>" from `from` on, or n when it never closes. */
static size_t find_close(struct out *o, const char *s, size_t n, size_t from,
                         const char *name)
{
    size_t k = strlen(name);
    for (size_t i = from; i + 2 + k <= n; i++) {
        o->looked++;
        if (s[i] == '<' && s[i + 1] == '/' && prefix_ci(s + i + 2, n - i - 2, name))
            return tag_end(o, s, n, i);
    }
    return n;
}

/* The index of the first "<body" from `from` on, or n when there is none. */
static size_t find_body(struct out *o, const char *s, size_t n, size_t from)
{
    for (size_t i = from; i + 5 <= n; i++) {
        o->looked++;
        if (s[i] == '<' && prefix_ci(s + i + 1, n - i - 1, "body"))
            return i;
    }
    return n;
}

/* Where the head's content ends: after </head>, else at <body, else nowhere (a head
 * that never closes is not trusted to hide the rest). A search that failed once is not
 * made again: find_close returns n only when no </head> ends before the input does,
 * and that holds from any later position too. */
static size_t skip_head(struct out *o, const char *s, size_t n, size_t after)
{
    size_t end = o->no_head_close ? n : find_close(o, s, n, after, "head");
    if (end < n)
        return end;
    o->no_head_close = true;
    size_t body = o->no_body ? n : find_body(o, s, n, after);
    if (body < n)
        return body;
    o->no_body = true;
    return after;
}

static bool name_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(name, *list) == 0)
            return true;
    return false;
}

static const char *const line_tags[] = {"li", "tr", "dt", "dd", "div", "title", "caption",
                                        NULL};
static const char *const para_tags[] = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
                                        "dl", "table", "blockquote", "pre", "hr", "section",
                                        "article", "header", "footer", "address", "form",
                                        "fieldset", "figure", "main", "nav", "aside", NULL};

/* Handles markup at s[i] == '<' (a tag, comment, declaration or processing instruction).
 * Returns the index after it, or i when the '<' is text. */
static size_t take_tag(struct out *o, const char *s, size_t n, size_t i)
{
    if (i + 1 >= n)
        return i;
    char c = s[i + 1];
    if (c == '!' && n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
        for (size_t k = i + 4; k + 3 <= n; k++, o->looked++)
            if (memcmp(s + k, "-->", 3) == 0)
                return k + 3;
        return n;
    }
    if (!(is_alpha(c) || c == '!' || c == '?' || (c == '/' && i + 2 < n && is_alpha(s[i + 2]))))
        return i;
    char name[16];
    bool closing;
    tag_name(s + i, n - i, name, sizeof name, &closing);
    size_t after = tag_end(o, s, n, i);
    if (!closing && (strcmp(name, "script") == 0 || strcmp(name, "style") == 0))
        return find_close(o, s, n, after, name); /* n when unclosed: the pass ends */
    if (!closing && strcmp(name, "head") == 0)
        return skip_head(o, s, n, after);
    if (strcmp(name, "br") == 0)
        o->nl = o->nl < 2 ? o->nl + 1 : 2;
    else if (name_in(name, line_tags))
        owe_break(o, 1);
    else if (name_in(name, para_tags))
        owe_break(o, 2);
    else if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0)
        o->sp = true;
    return after; /* inline tags (span, a, b, ...) leave the text as it runs */
}

/* ---- the pass ---- */

/* Handles the text at s[i] (not markup). Returns the index after what it used. */
static size_t take_text(struct out *o, const char *s, size_t n, size_t i)
{
    uint32_t cp;
    size_t used;
    unsigned char c = (unsigned char)s[i];
    if (c == '&' && (used = entity_at(s + i, n - i, &cp)) > 0) {
        put_cp(o, cp);
        return i + used;
    }
    if (c < 0x80) {
        put_cp(o, c == 0 ? REPLACEMENT : c);
        return i + 1;
    }
    used = intake_utf8_decode(s + i, n - i, &cp);
    put_cp(o, used ? cp : REPLACEMENT);
    return i + (used ? used : 1);
}

char *intake_html_to_text(const char *html, size_t len, size_t max_out, size_t *out_len)
{
    size_t looked;
    return intake_html_to_text_counted(html, len, max_out, out_len, &looked);
}

char *intake_html_to_text_counted(const char *html, size_t len, size_t max_out,
                                  size_t *out_len, size_t *looked)
{
    struct out o = {.max = max_out};
    if (!html)
        len = 0;
    for (size_t i = 0; i < len && !o.stop;) {
        size_t next = html[i] == '<' ? take_tag(&o, html, len, i) : i;
        i = next != i ? next : take_text(&o, html, len, i);
    }
    *looked = o.looked;
    if (o.oom || !grow(&o, o.len + 1)) {
        free(o.s);
        return NULL;
    }
    o.s[o.len] = '\0';
    if (out_len)
        *out_len = o.len;
    return o.s;
}
