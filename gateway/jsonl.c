/* The `intake classify` JSON Lines contract: see include/intake/jsonl.h. */
#include "intake/jsonl.h"

#include <stdlib.h>
#include <string.h>

#include "intake/item_json.h"
#include "intake/normalise.h"

int intake_redact_mode_parse(const char *s, enum intake_redact_mode *mode)
{
    if (strcmp(s, "public") == 0)
        *mode = INTAKE_REDACT_PUBLIC;
    else if (strcmp(s, "all") == 0)
        *mode = INTAKE_REDACT_ALL;
    else if (strcmp(s, "none") == 0)
        *mode = INTAKE_REDACT_NONE;
    else
        return -1;
    return 0;
}

struct item {
    const struct intake_json_field *id; /* NULL when the line has no usable id */
    const struct intake_json_field *body;
    char *from_name; /* owned: name and handle joined */
    intake_message msg;
    struct intake_redact_hints hints; /* from.name and from.handle, borrowed */
};

static const char *str_or_null(const struct intake_json_field *f)
{
    return f->type == INTAKE_JSON_STRING ? f->text : NULL;
}

/* Optional string: absent or null is fine, anything else is refused. */
static bool opt_string_ok(const struct intake_json_field *f)
{
    return f->type == INTAKE_JSON_ABSENT || f->type == INTAKE_JSON_NULL ||
           f->type == INTAKE_JSON_STRING;
}

static char *join_name(const struct intake_json_field *name,
                       const struct intake_json_field *handle)
{
    const char *a = str_or_null(name), *b = str_or_null(handle);
    size_t la = a ? name->len : 0, lb = b ? handle->len : 0;
    char *s = malloc(la + lb + 2);
    if (s == NULL)
        return NULL;
    memcpy(s, a ? a : "", la);
    size_t n = la;
    if (la && lb)
        s[n++] = ' ';
    memcpy(s + n, b ? b : "", lb);
    s[n + lb] = '\0';
    return s;
}

static const char *read_from(const struct intake_json_item *ji, struct item *it)
{
    if (ji->from.type == INTAKE_JSON_ABSENT || ji->from.type == INTAKE_JSON_NULL)
        return NULL;
    if (!ji->from_is_object)
        return "field 'from' must be an object";
    if (!opt_string_ok(&ji->from_name) || !opt_string_ok(&ji->from_handle) ||
        !opt_string_ok(&ji->from_address))
        return "fields of 'from' must be strings";
    it->msg.from_address = str_or_null(&ji->from_address);
    it->msg.from_address_len = it->msg.from_address ? ji->from_address.len : 0;
    it->from_name = join_name(&ji->from_name, &ji->from_handle);
    if (it->from_name == NULL)
        return "out of memory";
    it->msg.from_name = it->from_name;
    it->msg.from_name_len = strlen(it->from_name);
    it->hints.author_name = str_or_null(&ji->from_name);
    it->hints.author_name_len = it->hints.author_name ? ji->from_name.len : 0;
    it->hints.author_handle = str_or_null(&ji->from_handle);
    it->hints.author_handle_len = it->hints.author_handle ? ji->from_handle.len : 0;
    return NULL;
}

/* Fills an item from a parsed line. Returns NULL, or the reason the line is refused. */
static const char *read_item(const struct intake_json_item *ji, struct item *it)
{
    if (ji->id.type == INTAKE_JSON_STRING || ji->id.type == INTAKE_JSON_INTEGER)
        it->id = &ji->id;
    else
        return "missing field 'id' (a string or integer)";
    if (ji->body.type != INTAKE_JSON_STRING)
        return "missing field 'body' (a string)";
    it->body = &ji->body;
    it->msg.body = ji->body.text;
    it->msg.body_len = ji->body.len;
    if (ji->channel.type != INTAKE_JSON_STRING)
        return "missing field 'channel' (a string)";
    it->msg.channel = ji->channel.text;
    it->msg.channel_len = ji->channel.len;
    if (!opt_string_ok(&ji->subject))
        return "field 'subject' must be a string";
    it->msg.subject = str_or_null(&ji->subject);
    it->msg.subject_len = it->msg.subject ? ji->subject.len : 0;
    enum intake_json_type pub = ji->is_public.type;
    if (pub != INTAKE_JSON_ABSENT && pub != INTAKE_JSON_NULL && pub != INTAKE_JSON_TRUE &&
        pub != INTAKE_JSON_FALSE)
        return "field 'public' must be true or false";
    it->msg.is_public = pub == INTAKE_JSON_TRUE;
    return read_from(ji, it);
}

/* Appends `s` (`n` bytes of valid UTF-8, as the item reader hands it over) as a JSON
 * string. */
static int put_json_string(intake_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (intake_buf_reserve(b, n + 2) != 0)
        return -1;
    b->data[b->len++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (intake_buf_append(b, s + run, i - run) != 0)
            return -1;
        char esc[7] = {'\\', (char)c, 0};
        if (c == '\n' || c == '\r' || c == '\t')
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        else if (c < 0x20)
            snprintf(esc, sizeof esc, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        if (intake_buf_append(b, esc, strlen(esc)) != 0)
            return -1;
        run = i + 1;
    }
    if (intake_buf_append(b, s + run, n - run) != 0)
        return -1;
    return intake_buf_append(b, "\"", 1);
}

static int put_raw(intake_buf *b, const char *s)
{
    return intake_buf_append(b, s, strlen(s));
}

/* The id as it came: a string re-escaped, an integer as written; null when unusable. */
static int put_id(intake_buf *b, const struct intake_json_field *id)
{
    if (id == NULL)
        return put_raw(b, "null");
    if (id->type == INTAKE_JSON_STRING)
        return put_json_string(b, id->text, id->len);
    return intake_buf_append(b, id->text, id->len);
}

/* Builds an error line: {"id": ..., "error": "..."}. The reason never quotes input. */
static int error_line(intake_buf *b, const struct intake_json_field *id, const char *why)
{
    b->len = 0;
    int rc = put_raw(b, "{\"id\":") || put_id(b, id) || put_raw(b, ",\"error\":") ||
             put_json_string(b, why, strlen(why)) || put_raw(b, "}\n");
    return rc ? -1 : 0;
}

static int put_flags(intake_buf *b, const intake_verdict *v)
{
    int rc = put_raw(b, "[");
    bool first = true;
    for (int f = 0; rc == 0 && f < INTAKE_FLAG_COUNT; f++) {
        if (!(v->flags & (1u << f)))
            continue;
        rc = put_raw(b, first ? "\"" : ",\"") || put_raw(b, intake_flag_name(f)) ||
             put_raw(b, "\"");
        first = false;
    }
    return rc || put_raw(b, "]");
}

static int put_rules(intake_buf *b, const intake_ruleset *rs, const intake_verdict *v)
{
    int rc = put_raw(b, "[");
    for (size_t i = 0; rc == 0 && i < v->nfired; i++) {
        const char *name = intake_rule_name(rs, v->fired[i]);
        rc = put_raw(b, i ? "," : "") || put_json_string(b, name, strlen(name));
    }
    return rc || put_raw(b, "]");
}

/* What redaction made of an item: the text to write as redacted_body and its spans. */
struct redacted {
    const char *text;
    size_t len;
    const struct intake_span *spans;
    size_t n;
};

/* Appends the decimal digits of v. */
static int put_uint(intake_buf *b, uint32_t v)
{
    char num[10];
    size_t i = sizeof num;
    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return intake_buf_append(b, num + i, sizeof num - i);
}

/* Appends the literal string s (its length known at compile time). */
#define PUT_LIT(b, s) intake_buf_append(b, s, sizeof s - 1)

static int put_redactions(intake_buf *b, const struct redacted *red)
{
    int rc = PUT_LIT(b, "[");
    for (size_t i = 0; rc == 0 && i < red->n; i++) {
        const struct intake_span *s = &red->spans[i];
        rc = (i ? PUT_LIT(b, ",{\"type\":\"") : PUT_LIT(b, "{\"type\":\"")) ||
             put_raw(b, intake_pii_type_name(s->type)) || PUT_LIT(b, "\",\"start\":") ||
             put_uint(b, s->start) || PUT_LIT(b, ",\"end\":") || put_uint(b, s->end) ||
             PUT_LIT(b, "}");
    }
    return rc || PUT_LIT(b, "]");
}

/* Builds the result line for a classified item into b (replacing its content). The field
 * order is fixed so that output is stable and diffable. */
static int result_line(intake_buf *b, const intake_ruleset *rs, const struct item *it,
                       const intake_verdict *v, const struct redacted *red)
{
    char conf[32];
    snprintf(conf, sizeof conf, "%.3f", v->confidence);
    const char *mp = v->mp_underlying >= 0 ? intake_category_name(v->mp_underlying) : NULL;
    b->len = 0;
    int rc = put_raw(b, "{\"id\":") || put_id(b, it->id) ||
             put_raw(b, ",\"category\":\"") || put_raw(b, intake_category_name(v->category)) ||
             put_raw(b, "\",\"mp_underlying\":") ||
             (mp ? put_raw(b, "\"") || put_raw(b, mp) || put_raw(b, "\"") : put_raw(b, "null")) ||
             put_raw(b, ",\"flags\":") || put_flags(b, v) ||
             put_raw(b, ",\"confidence\":") || put_raw(b, conf) ||
             put_raw(b, ",\"rules\":") || put_rules(b, rs, v) ||
             put_raw(b, ",\"redacted_body\":") || put_json_string(b, red->text, red->len) ||
             put_raw(b, ",\"redactions\":") || put_redactions(b, red) || put_raw(b, "}\n");
    return rc ? -1 : 0;
}

struct jsonl_state {
    intake_scanner *sc;
    const intake_ruleset *rs;
    intake_redact_ctx *rctx; /* NULL: nothing is redacted */
    enum intake_redact_mode mode;
    struct intake_json_reader reader;
    intake_buf res;
    intake_buf redacted; /* the last redacted body */
    FILE *out;
};

/* Redacts the item when the mode says so; otherwise *red is the body as it came.
 * Returns 0, or -1 when memory runs out. */
static int redact_item(struct jsonl_state *st, const struct item *it, struct redacted *red)
{
    *red = (struct redacted){.text = it->msg.body, .len = it->msg.body_len};
    bool wanted = st->mode == INTAKE_REDACT_ALL ||
                  (st->mode == INTAKE_REDACT_PUBLIC && it->msg.is_public);
    if (st->rctx == NULL || !wanted)
        return 0;
    if (intake_redact_find(st->rctx, it->msg.body, it->msg.body_len, &it->hints, &red->spans,
                           &red->n) != 0)
        return -1;
    if (red->n == 0)
        return 0; /* nothing found: the body as it came, not a copy of it */
    if (intake_redact_apply(it->msg.body, it->msg.body_len, red->spans, red->n,
                            &st->redacted) != 0)
        return -1;
    red->text = st->redacted.data;
    red->len = st->redacted.len;
    return 0;
}

static int write_res(struct jsonl_state *st)
{
    return fwrite(st->res.data, 1, st->res.len, st->out) == st->res.len ? 0 : -1;
}

/* Answers a line that cannot be classified. Returns 1, or -1 when output fails. */
static int answer_error(struct jsonl_state *st, const struct intake_json_field *id,
                        const char *why)
{
    if (error_line(&st->res, id, why) != 0 || write_res(st) != 0)
        return -1;
    return 1;
}

/* Answers one input line. Returns 0, 1 when the line got an error answer, or -1. */
static int answer_line(struct jsonl_state *st, const char *line, size_t len)
{
    struct intake_json_item ji;
    size_t at;
    int prc = intake_json_item_parse(&st->reader, line, len, &ji, &at);
    if (prc == -2)
        return -1;
    if (prc == -3)
        return answer_error(st, NULL, "line is not a JSON object");
    if (prc == -1) {
        char why[64];
        snprintf(why, sizeof why, "invalid JSON at byte %zu", at + 1);
        return answer_error(st, NULL, why);
    }
    struct item it = {0};
    const char *why = read_item(&ji, &it);
    int rc;
    if (why != NULL) {
        rc = answer_error(st, it.id, why);
    } else {
        intake_verdict v;
        struct redacted red;
        if (intake_classify(st->sc, &it.msg, &v) != 0 || redact_item(st, &it, &red) != 0 ||
            result_line(&st->res, st->rs, &it, &v, &red) != 0)
            rc = answer_error(st, it.id, "out of memory");
        else
            rc = write_res(st);
    }
    free(it.from_name);
    return rc;
}

/* Reads one line into b, keeping at most INTAKE_JSONL_MAX_LINE bytes. Returns its length
 * without the newline, -1 at EOF, or -2 when the line was too long (the rest of it is read
 * and dropped, so memory stays bounded whatever the input). */
static long read_line(FILE *in, intake_buf *b)
{
    int c;
    bool any = false, too_long = false;
    b->len = 0;
    while ((c = getc_unlocked(in)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (b->len >= INTAKE_JSONL_MAX_LINE) {
            too_long = true;
            continue;
        }
        if (b->len + 1 >= b->cap && intake_buf_reserve(b, 4096) != 0)
            return -3;
        b->data[b->len++] = (char)c;
    }
    if (!any)
        return -1;
    if (too_long)
        return -2;
    if (b->len > 0 && b->data[b->len - 1] == '\r')
        b->len--;
    return (long)b->len;
}

int intake_jsonl_classify_redact(FILE *in, FILE *out, const intake_ruleset *rs,
                                 const intake_redactor *red, enum intake_redact_mode mode,
                                 struct intake_jsonl_stats *stats)
{
    struct jsonl_state st = {.sc = intake_scanner_new(rs), .rs = rs, .mode = mode, .out = out};
    if (red != NULL && mode != INTAKE_REDACT_NONE)
        st.rctx = intake_redact_ctx_new(red);
    intake_buf line = {0};
    struct intake_jsonl_stats count = {0};
    int rc = st.sc && (st.rctx || red == NULL || mode == INTAKE_REDACT_NONE) ? 0 : -1;
    long n;
    while (rc == 0 && (n = read_line(in, &line)) != -1) {
        count.lines++;
        int r = n == -3   ? -1
                : n == -2 ? answer_error(&st, NULL, "line too long")
                : n == 0  ? answer_error(&st, NULL, "empty line")
                          : answer_line(&st, line.data, (size_t)n);
        if (r < 0)
            rc = -1;
        count.errors += r == 1;
    }
    if (ferror(in) || fflush(out) != 0)
        rc = -1;
    intake_buf_free(&line);
    intake_buf_free(&st.res);
    intake_buf_free(&st.redacted);
    intake_json_reader_free(&st.reader);
    intake_scanner_free(st.sc);
    intake_redact_ctx_free(st.rctx);
    if (stats)
        *stats = count;
    return rc;
}

int intake_jsonl_classify(FILE *in, FILE *out, const intake_ruleset *rs,
                          enum intake_redact_mode mode, struct intake_jsonl_stats *stats)
{
    return intake_jsonl_classify_redact(in, out, rs, NULL, mode, stats);
}
