/*
 * Text clean-up before classification: see include/intake/normalise.h.
 *
 * Two passes. The character pass strips HTML tags, decodes entities, repairs UTF-8 and
 * folds typographic characters. The line pass (bodies only) drops quoted replies,
 * signatures, device footers and disclaimers, and folds blanks.
 */
#include "intake/normalise.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "textutil.h"

#define REPLACEMENT_CHAR 0xFFFDu
#define TAG_MAX 256     /* a '<' further than this from its '>' is text, not a tag */
#define ENTITY_MAX 10   /* longest entity name we decode, without '&' and ';' */
#define LOOKAHEAD_LINES 4

/* ---- character pass ---------------------------------------------------------------- */

static int put_cp(intake_buf *b, uint32_t cp)
{
    char tmp[4];
    size_t n = intake_utf8_encode(cp, tmp);
    return intake_buf_append(b, tmp, n);
}

/* Maps typographic and invisible characters to plain ones. Returns the code point to
 * emit, or 0 to drop the character. */
static uint32_t fold_cp(uint32_t cp)
{
    switch (cp) {
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032: case 0x00B4:
        return '\'';
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033:
        return '"';
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015:
    case 0x2212:
        return '-';
    case 0x00A0: case 0x2002: case 0x2003: case 0x2007: case 0x2009: case 0x200A:
    case 0x202F: case 0x205F: case 0x3000:
        return ' ';
    case 0x200B: case 0x200C: case 0x200D: case 0x2060: case 0xFEFF: case 0x00AD:
        return 0;
    case 0x2028: case 0x2029:
        return '\n';
    case 0x212A: /* KELVIN SIGN: caseless-equal to 'k'; keep the prefilter exact */
        return 'K';
    case 0x017F: /* LATIN SMALL LETTER LONG S: caseless-equal to 's' */
        return 's';
    default:
        break;
    }
    if (cp == '\t' || cp == '\v' || cp == '\f')
        return ' ';
    if (cp < 0x20 && cp != '\n')
        return ' ';
    if (cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
        return ' ';
    return cp;
}

static int put_folded(intake_buf *b, uint32_t cp)
{
    uint32_t f = fold_cp(cp);
    if (f == 0)
        return 0;
    if (f == 0x2026)
        return intake_buf_append(b, "...", 3);
    return put_cp(b, f);
}

struct named_entity {
    const char *name;
    uint32_t cp;
};

static const struct named_entity entities[] = {
    {"amp", '&'},        {"lt", '<'},         {"gt", '>'},         {"quot", '"'},
    {"apos", '\''},      {"nbsp", ' '},       {"rsquo", 0x2019},   {"lsquo", 0x2018},
    {"rdquo", 0x201D},   {"ldquo", 0x201C},   {"ndash", 0x2013},   {"mdash", 0x2014},
    {"hellip", 0x2026},  {"pound", 0x00A3},   {"euro", 0x20AC},    {"copy", 0x00A9},
};

/* Decodes "&name;" or "&#n;" / "&#xh;" at s[0] == '&'. Returns the bytes consumed (0 when
 * it is not an entity) and the code point in *cp. */
static size_t decode_entity(const char *s, size_t n, uint32_t *cp)
{
    size_t end = 1;
    while (end < n && end <= ENTITY_MAX + 1 && s[end] != ';')
        end++;
    if (end >= n || s[end] != ';' || end < 2)
        return 0;
    const char *name = s + 1;
    size_t len = end - 1;
    if (name[0] == '#') {
        bool hex = len > 1 && (name[1] == 'x' || name[1] == 'X');
        size_t i = hex ? 2 : 1;
        uint32_t v = 0;
        if (i >= len)
            return 0;
        for (; i < len; i++) {
            int d = textutil_digit_value(name[i], hex ? 16 : 10);
            if (d < 0)
                return 0;
            v = v > 0x10FFFF ? v : v * (hex ? 16u : 10u) + (uint32_t)d;
        }
        *cp = textutil_cp_valid(v) && v != 0 ? v : REPLACEMENT_CHAR;
        return end + 1;
    }
    for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
        if (strlen(entities[i].name) == len && memcmp(entities[i].name, name, len) == 0) {
            *cp = entities[i].cp;
            return end + 1;
        }
    }
    return 0;
}

static const char *const html_tags[] = {
    "a", "b", "i", "u", "p", "br", "div", "span", "font", "table", "tr", "td", "th",
    "tbody", "thead", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "img", "html",
    "head", "body", "meta", "style", "script", "strong", "em", "blockquote", "hr", "center",
    "o:p", "title", "link", "sup", "sub", "section", "header", "footer", "small", "pre",
    "code", "base", "col", "colgroup", "caption", "label", "input", "form", "button",
};

/* Tags after which the text reads as a new line. */
static const char *const block_tags[] = {
    "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr",
    "table", "ul", "ol", "pre",
};

static bool word_in(const char *w, size_t n, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == n && strncasecmp(list[i], w, n) == 0)
            return true;
    return false;
}

/* Recognises an HTML tag or comment at s[0] == '<'. Returns its length (0 when the '<' is
 * text) and sets *block when it ends a line, *raw to "script"/"style" when a raw-text
 * element opens. */
static size_t html_tag_len(const char *s, size_t n, bool *block, const char **raw)
{
    *block = false;
    *raw = NULL;
    size_t lim = n < TAG_MAX ? n : TAG_MAX;
    size_t close = 1;
    while (close < lim && s[close] != '>' && s[close] != '<')
        close++;
    if (close >= lim || s[close] != '>')
        return 0;
    size_t i = 1;
    if (s[i] == '!')
        return close + 1;
    bool end_tag = s[i] == '/';
    if (end_tag)
        i++;
    size_t name_start = i;
    while (i < close && (textutil_is_alnum((unsigned char)s[i]) || s[i] == ':'))
        i++;
    size_t name_len = i - name_start;
    if (name_len == 0 || !word_in(s + name_start, name_len, html_tags,
                                  sizeof html_tags / sizeof html_tags[0]))
        return 0;
    *block = word_in(s + name_start, name_len, block_tags,
                     sizeof block_tags / sizeof block_tags[0]);
    if (!end_tag && name_len == 6 && strncasecmp(s + name_start, "script", 6) == 0)
        *raw = "</script";
    if (!end_tag && name_len == 5 && strncasecmp(s + name_start, "style", 5) == 0)
        *raw = "</style";
    return close + 1;
}

/* Skips a raw-text element's content up to and including its closing tag. */
static size_t skip_raw(const char *s, size_t n, const char *closing)
{
    size_t cl = strlen(closing);
    for (size_t i = 0; i + cl <= n; i++) {
        if (strncasecmp(s + i, closing, cl) == 0) {
            const char *gt = memchr(s + i, '>', n - i);
            return gt ? (size_t)(gt - s) + 1 : n;
        }
    }
    return n;
}

/* Handles a '<' or '&' at s[0]. Returns the bytes consumed, 0 if it is plain text, or
 * (size_t)-1 when memory runs out. */
static size_t markup_step(const char *s, size_t n, intake_buf *out)
{
    if (s[0] == '&') {
        uint32_t cp;
        size_t used = decode_entity(s, n, &cp);
        if (used && put_folded(out, cp) != 0)
            return (size_t)-1;
        return used;
    }
    bool block;
    const char *raw;
    size_t used = html_tag_len(s, n, &block, &raw);
    if (used == 0)
        return 0;
    if (raw != NULL)
        used += skip_raw(s + used, n - used, raw);
    if (intake_buf_append(out, block ? "\n" : " ", 1) != 0)
        return (size_t)-1;
    return used;
}

/* Printable ASCII that needs no work: copied in runs. */
static bool plain_byte(unsigned char c, bool markup)
{
    return c >= 0x20 && c < 0x7F && !(markup && (c == '<' || c == '&'));
}

static int char_pass(const char *in, size_t n, bool markup, intake_buf *out)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && plain_byte((unsigned char)in[j], markup))
            j++;
        if (j > i) {
            if (intake_buf_append(out, in + i, j - i) != 0)
                return -1;
            i = j;
            continue;
        }
        unsigned char c = (unsigned char)in[i];
        if (markup && (c == '<' || c == '&')) {
            size_t used = markup_step(in + i, n - i, out);
            if (used == (size_t)-1)
                return -1;
            if (used) {
                i += used;
                continue;
            }
        }
        if (c == '\r') {
            i += (i + 1 < n && in[i + 1] == '\n') ? 1 : 0;
            c = '\n';
        }
        uint32_t cp;
        size_t used = intake_utf8_decode(in + i, n - i, &cp);
        if (used == 0) {
            cp = REPLACEMENT_CHAR;
            used = 1;
        }
        if (c == '\n')
            cp = '\n';
        if (put_folded(out, cp) != 0)
            return -1;
        i += used;
    }
    return 0;
}

/* ---- line pass ----------------------------------------------------------------------- */

/* The line pass works in place: it reads the region the character pass wrote and writes
 * the kept lines back from the region's start. It only ever drops or folds bytes, and
 * every separator it writes replaces at least as many newlines it read, so the write
 * position never passes the read position. */
struct region {
    const char *data;
    size_t len;
};

struct line {
    const char *s;
    size_t n;
};

/* Returns the line starting at *pos (without its '\n'), trimmed of blanks, and moves *pos
 * past it. Returns false at the end. */
static bool next_line(const struct region *b, size_t *pos, struct line *l)
{
    if (*pos >= b->len)
        return false;
    const char *s = b->data + *pos;
    const char *nl = memchr(s, '\n', b->len - *pos);
    size_t n = nl ? (size_t)(nl - s) : b->len - *pos;
    *pos += n + (nl ? 1 : 0);
    while (n && (s[0] == ' '))
        s++, n--;
    while (n && (s[n - 1] == ' '))
        n--;
    l->s = s;
    l->n = n;
    return true;
}

static bool starts_ci(const struct line *l, const char *prefix)
{
    size_t n = strlen(prefix);
    return l->n >= n && strncasecmp(l->s, prefix, n) == 0;
}

static bool ends_ci(const struct line *l, const char *suffix)
{
    size_t n = strlen(suffix);
    return l->n >= n && strncasecmp(l->s + l->n - n, suffix, n) == 0;
}

static bool is_underscore_rule(const struct line *l)
{
    if (l->n < 10)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (l->s[i] != '_')
            return false;
    return true;
}

/* An Outlook-style header block: "From:" then "Sent:" or "Date:" within a few lines. */
static bool is_outlook_block(const struct region *b, size_t pos, const struct line *l)
{
    if (!starts_ci(l, "From:"))
        return false;
    struct line next;
    for (int i = 0; i < LOOKAHEAD_LINES && next_line(b, &pos, &next); i++)
        if (starts_ci(&next, "Sent:") || starts_ci(&next, "Date:"))
            return true;
    return false;
}

/* "On <date>, <person> wrote:", possibly wrapped over two lines. */
static bool is_on_wrote(const struct region *b, size_t pos, const struct line *l)
{
    if (!starts_ci(l, "On ") || l->n > 400)
        return false;
    if (ends_ci(l, "wrote:"))
        return true;
    struct line next;
    return next_line(b, &pos, &next) && next.n < 200 && ends_ci(&next, "wrote:");
}

/* A line from which everything below is an earlier message, not the sender's words. */
static bool is_reply_header(const struct region *b, size_t pos, const struct line *l)
{
    if (starts_ci(l, "-----Original Message") || starts_ci(l, "----- Original Message"))
        return true;
    if (is_underscore_rule(l)) {
        struct line next;
        return next_line(b, &pos, &next) && starts_ci(&next, "From:");
    }
    return is_outlook_block(b, pos, l) || is_on_wrote(b, pos, l);
}

static const char *const device_footers[] = {
    "Sent from my ", "Sent from Outlook", "Get Outlook for ", "Sent from Yahoo Mail",
    "Sent from Mail for Windows", "Sent via the Samsung", "Sent from Samsung",
};

static const char *const disclaimer_openers[] = {
    "This email and any ", "This e-mail and any ", "This message and any ",
    "The information contained in this ", "The information in this e-mail",
    "The information in this email", "This email is confidential",
    "This e-mail is confidential", "CONFIDENTIALITY NOTICE", "DISCLAIMER:",
    "This email (including any attachments)", "This e-mail (including any attachments)",
    "Privileged/Confidential Information", "This message is intended only for",
    "This email is intended only for", "This e-mail is intended only for",
};

static bool starts_with_any(const struct line *l, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (starts_ci(l, list[i]))
            return true;
    return false;
}

enum line_kind { LINE_KEEP, LINE_SKIP, LINE_STOP };

static enum line_kind classify_line(const struct region *b, size_t pos, const struct line *l)
{
    if (l->n && l->s[0] == '>')
        return LINE_SKIP;
    if ((l->n == 2 && memcmp(l->s, "--", 2) == 0) || is_reply_header(b, pos, l))
        return LINE_STOP;
    if (starts_with_any(l, device_footers, sizeof device_footers / sizeof device_footers[0]))
        return LINE_SKIP;
    if (starts_with_any(l, disclaimer_openers,
                        sizeof disclaimer_openers / sizeof disclaimer_openers[0]))
        return LINE_STOP;
    return LINE_KEEP;
}

/* Writes `l` at data[*w] with runs of spaces folded to one, never passing `limit` and
 * never splitting a UTF-8 sequence. Returns true when the limit was reached. */
static bool put_folded_line(char *data, size_t *w, const struct line *l, size_t limit)
{
    bool space = false;
    for (size_t i = 0; i < l->n; i++) {
        char c = l->s[i];
        if (c == ' ' && space)
            continue;
        space = c == ' ';
        if (*w >= limit) {
            /* The byte that does not fit continues a character: drop its start too. */
            if (((unsigned char)c & 0xC0) == 0x80) {
                while (*w && ((unsigned char)data[*w - 1] & 0xC0) == 0x80)
                    (*w)--;
                if (*w)
                    (*w)--;
            }
            return true;
        }
        data[(*w)++] = c;
    }
    return false;
}

/* Compacts out->data[start..] in place into the kept, folded lines; at most max_out
 * bytes from `start`. */
static void line_pass(intake_buf *out, size_t start, size_t max_out, bool body)
{
    struct region rd = {out->data + start, out->len - start};
    char *data = out->data + start;
    size_t pos = 0, w = 0;
    struct line l;
    bool blank_pending = false;
    while (next_line(&rd, &pos, &l)) {
        enum line_kind k = body ? classify_line(&rd, pos, &l) : LINE_KEEP;
        if (k == LINE_STOP)
            break;
        if (k == LINE_SKIP)
            continue;
        if (l.n == 0) {
            blank_pending = w > 0;
            continue;
        }
        if (w > 0) {
            const char *sep = body ? (blank_pending ? "\n\n" : "\n") : " ";
            size_t sl = strlen(sep);
            if (w + sl > max_out)
                break;
            memcpy(data + w, sep, sl);
            w += sl;
        }
        blank_pending = false;
        if (put_folded_line(data, &w, &l, max_out))
            break;
    }
    while (w > 0 && (data[w - 1] == '\n' || data[w - 1] == ' '))
        w--; /* a cut can leave a separator last */
    out->len = start + w;
    out->data[out->len] = '\0';
}

static int normalise(const char *in, size_t len, size_t max_in, size_t max_out, bool body,
                     intake_buf *out)
{
    size_t start = out->len;
    if (in == NULL)
        len = 0;
    if (len > max_in)
        len = max_in;
    if (intake_buf_reserve(out, len) != 0 || char_pass(in, len, body, out) != 0)
        return -1;
    line_pass(out, start, max_out, body);
    return 0;
}

int intake_normalise_body(const char *in, size_t len, size_t max_in, size_t max_out,
                          intake_buf *out)
{
    out->len = 0;
    return normalise(in, len, max_in, max_out, true, out);
}

int intake_normalise_line(const char *in, size_t len, size_t max_out, intake_buf *out)
{
    size_t before = out->len;
    if (before > 0 && intake_buf_append(out, " ", 1) != 0)
        return -1;
    if (normalise(in, len, max_out * 4, max_out, false, out) != 0)
        return -1;
    if (before > 0 && out->len == before + 1) { /* nothing added: drop the separator */
        out->len = before;
        out->data[before] = '\0';
    }
    return 0;
}
