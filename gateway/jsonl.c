/* The `intake classify` JSON Lines contract: see include/intake/jsonl.h. */
#include "intake/jsonl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

/* Writes one compact JSON object and a newline. Returns 0 or -1. */
static int emit(FILE *out, json_t *obj)
{
    int rc = obj ? json_dumpf(obj, out, JSON_COMPACT | JSON_REAL_PRECISION(4)) : -1;
    json_decref(obj);
    if (rc != 0 || fputc('\n', out) == EOF)
        return -1;
    return 0;
}

static int emit_error(FILE *out, json_t *id, const char *why)
{
    json_t *o = json_object();
    if (o == NULL)
        return -1;
    json_object_set_new(o, "id", id ? json_incref(id) : json_null());
    json_object_set_new(o, "error", json_string(why));
    return emit(out, o);
}

/* Optional string field: absent or null leaves *s NULL; anything but a string fails. */
static bool opt_string(json_t *obj, const char *key, const char **s, size_t *len)
{
    json_t *v = json_object_get(obj, key);
    *s = NULL;
    *len = 0;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    *s = json_string_value(v);
    *len = json_string_length(v);
    return true;
}

struct item {
    json_t *id;
    json_t *body;
    bool is_public;
    char *from_name; /* owned: name and handle joined */
    intake_message msg;
};

static char *join_name(const char *name, const char *handle)
{
    size_t a = name ? strlen(name) : 0, b = handle ? strlen(handle) : 0;
    char *s = malloc(a + b + 2);
    if (s == NULL)
        return NULL;
    snprintf(s, a + b + 2, "%s%s%s", name ? name : "", a && b ? " " : "", handle ? handle : "");
    return s;
}

static const char *read_from(json_t *obj, struct item *it)
{
    json_t *from = json_object_get(obj, "from");
    if (from == NULL || json_is_null(from))
        return NULL;
    if (!json_is_object(from))
        return "field 'from' must be an object";
    const char *name, *handle;
    size_t len;
    if (!opt_string(from, "name", &name, &len) || !opt_string(from, "handle", &handle, &len) ||
        !opt_string(from, "address", &it->msg.from_address, &it->msg.from_address_len))
        return "fields of 'from' must be strings";
    it->from_name = join_name(name, handle);
    if (it->from_name == NULL)
        return "out of memory";
    it->msg.from_name = it->from_name;
    it->msg.from_name_len = strlen(it->from_name);
    return NULL;
}

/* Fills an item from a parsed line. Returns NULL, or the reason the line is refused. */
static const char *read_item(json_t *obj, struct item *it)
{
    if (!json_is_object(obj))
        return "line is not a JSON object";
    it->id = json_object_get(obj, "id");
    if (it->id == NULL || !(json_is_string(it->id) || json_is_integer(it->id)))
        return "missing field 'id' (a string or integer)";
    it->body = json_object_get(obj, "body");
    if (!json_is_string(it->body))
        return "missing field 'body' (a string)";
    it->msg.body = json_string_value(it->body);
    it->msg.body_len = json_string_length(it->body);
    json_t *ch = json_object_get(obj, "channel");
    if (!json_is_string(ch))
        return "missing field 'channel' (a string)";
    it->msg.channel = json_string_value(ch);
    it->msg.channel_len = json_string_length(ch);
    if (!opt_string(obj, "subject", &it->msg.subject, &it->msg.subject_len))
        return "field 'subject' must be a string";
    json_t *pub = json_object_get(obj, "public");
    if (pub != NULL && !json_is_null(pub) && !json_is_boolean(pub))
        return "field 'public' must be true or false";
    it->msg.is_public = json_is_true(pub);
    return read_from(obj, it);
}

/* Appends `s` (`n` bytes of valid UTF-8, as jansson hands it over) as a JSON string. */
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

static int put_id(intake_buf *b, json_t *id)
{
    if (json_is_string(id))
        return put_json_string(b, json_string_value(id), json_string_length(id));
    char num[32];
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    return put_raw(b, num);
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

/* Builds the result line for a classified item into b (replacing its content). The field
 * order is fixed so that output is stable and diffable. */
static int result_line(intake_buf *b, const intake_ruleset *rs, const struct item *it,
                       const intake_verdict *v)
{
    char conf[32];
    snprintf(conf, sizeof conf, "%.3f", v->confidence);
    const char *mp = v->mp_underlying >= 0 ? intake_category_name(v->mp_underlying) : NULL;
    b->len = 0;
    /* Redaction is not built yet: the body is returned as it came, whatever the mode. */
    int rc = put_raw(b, "{\"id\":") || put_id(b, it->id) ||
             put_raw(b, ",\"category\":\"") || put_raw(b, intake_category_name(v->category)) ||
             put_raw(b, "\",\"mp_underlying\":") ||
             (mp ? put_raw(b, "\"") || put_raw(b, mp) || put_raw(b, "\"") : put_raw(b, "null")) ||
             put_raw(b, ",\"flags\":") || put_flags(b, v) ||
             put_raw(b, ",\"confidence\":") || put_raw(b, conf) ||
             put_raw(b, ",\"rules\":") || put_rules(b, rs, v) ||
             put_raw(b, ",\"redacted_body\":") ||
             put_json_string(b, it->msg.body, it->msg.body_len) ||
             put_raw(b, ",\"redactions\":[]}\n");
    return rc ? -1 : 0;
}

/* Answers one input line. Returns 0, 1 when the line got an error answer, or -1. */
static int answer_line(const char *line, size_t len, intake_scanner *sc,
                       const intake_ruleset *rs, intake_buf *res, FILE *out)
{
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        char why[96];
        snprintf(why, sizeof why, "invalid JSON at column %d", jerr.column);
        return emit_error(out, NULL, why) == 0 ? 1 : -1;
    }
    struct item it = {0};
    const char *why = read_item(obj, &it);
    int rc;
    if (why != NULL) {
        rc = emit_error(out, it.id, why) == 0 ? 1 : -1;
    } else {
        intake_verdict v;
        if (intake_classify(sc, &it.msg, &v) != 0 || result_line(res, rs, &it, &v) != 0)
            rc = emit_error(out, it.id, "out of memory") == 0 ? 1 : -1;
        else
            rc = fwrite(res->data, 1, res->len, out) == res->len ? 0 : -1;
    }
    free(it.from_name);
    json_decref(obj);
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

int intake_jsonl_classify(FILE *in, FILE *out, const intake_ruleset *rs,
                          enum intake_redact_mode mode, struct intake_jsonl_stats *stats)
{
    (void)mode;
    intake_scanner *sc = intake_scanner_new(rs);
    intake_buf line = {0}, res = {0};
    struct intake_jsonl_stats st = {0};
    int rc = sc ? 0 : -1;
    long n;
    while (rc == 0 && (n = read_line(in, &line)) != -1) {
        st.lines++;
        int r = n == -3   ? -1
                : n == -2 ? (emit_error(out, NULL, "line too long") == 0 ? 1 : -1)
                : n == 0  ? (emit_error(out, NULL, "empty line") == 0 ? 1 : -1)
                          : answer_line(line.data, (size_t)n, sc, rs, &res, out);
        if (r < 0)
            rc = -1;
        st.errors += r == 1;
    }
    if (ferror(in) || fflush(out) != 0)
        rc = -1;
    intake_buf_free(&line);
    intake_buf_free(&res);
    intake_scanner_free(sc);
    if (stats)
        *stats = st;
    return rc;
}
