/*
 * The case-system sink (type "http"): POSTs each record, or a JSON template's expansion of
 * it, to one URL with libcurl and turns the answer into delivered / retry / dead (see
 * README.md beside this file for the status table, ../../rules/templates/README.md for
 * the template syntax). One HTTP client (include/intake/httpc.h: a libcurl easy handle)
 * per sink, reused so connections are kept; deliver is called from one thread per sink,
 * so the state needs no lock. No global state:
 * the program calls curl_global_init once at start. Nothing here prints; errors never
 * carry record content or the token.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "intake/httpc.h"
#include "intake/sink.h"

#define BODY_CAP (64 * 1024)     /* response bytes buffered; the rest is read and dropped */
#define IDEMPOTENCY_KEY_MAX 255  /* Zendesk's limit */
#define JSON_OUT_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

static const struct intake_option http_options[] = {
    {.name = "url", .type = INTAKE_OPT_STRING, .required = true,
     .description = "where records are POSTed (http:// or https://)"},
    {.name = "token", .type = INTAKE_OPT_STRING, .secret = true,
     .description = "sent as Authorization: Bearer <token>"},
    {.name = "template", .type = INTAKE_OPT_PATH,
     .description = "JSON template the record is poured into (default: post the record); "
                    "relative: the config file's folder, then the rules' templates/"},
    {.name = "case_id_pointer", .type = INTAKE_OPT_STRING,
     .description = "JSON pointer to the case id in a 2xx response, e.g. /ticket/id"},
    {.name = "ca_file", .type = INTAKE_OPT_PATH,
     .description = "PEM file of CA certificates to trust instead of the system's"},
    {.name = "tls_verify", .type = INTAKE_OPT_BOOL, .def = "yes",
     .description = "check the server's certificate and name (turn off only for a test)"},
    {.name = "header", .type = INTAKE_OPT_STRING,
     .description = "one extra request header, \"Name: value\""},
    {.name = NULL},
};

struct http_sink {
    intake_httpc *client;
    char *url;
    char *auth_header;   /* "Authorization: Bearer ...", NULL without a token */
    char *extra_header;  /* NULL when none */
    char *case_id_pointer;
    char *ca_file;
    json_t *tmpl;        /* NULL: the record is posted as it is */
    long timeout;
    bool verify;
};

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, arg ? arg : "");
}

static bool has_line_break(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- templates: "{{path}}" keeps the value's JSON type, "..{{a}}.." interpolates ---- */

/* The record's top-level members (the record contract); a template naming anything else
 * is refused, so that a typo fails at start instead of sending nulls for ever. */
static const char *const record_members[] = {
    "schema", "id", "received_at", "channel", "source", "source_id", "public", "author",
    "subject", "text", "redactions", "category", "mp_underlying", "flags", "confidence",
    "rules", "deadlines", "thread", "attachments", "permalink", NULL,
};

/* Trims spaces around [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)(*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* One "{{ path }}" reference in a template string. */
struct ref {
    size_t open;      /* index of "{{" */
    size_t end;       /* index just after "}}" */
    const char *path; /* trimmed */
    size_t n;
};

/* Finds the next reference at or after `from`. Returns 1 when found, 0 when there is
 * none, -1 for "{{" without "}}". */
static int next_ref(const char *s, size_t from, struct ref *r)
{
    const char *a = strstr(s + from, "{{");
    if (a == NULL)
        return 0;
    const char *b = strstr(a + 2, "}}");
    if (b == NULL)
        return -1;
    r->open = (size_t)(a - s);
    r->end = (size_t)(b + 2 - s);
    r->path = a + 2;
    r->n = (size_t)(b - (a + 2));
    trim(&r->path, &r->n);
    return 1;
}

/* The whole string is one reference: "{{ path }}". */
static bool whole_ref(const char *s, struct ref *r)
{
    return next_ref(s, 0, r) == 1 && r->open == 0 && s[r->end] == '\0';
}

/* Checks a path: dot-separated non-empty names, the first a record member. */
static int check_path(const char *p, size_t n, char *err, size_t errlen)
{
    size_t first = 0;
    while (first < n && p[first] != '.')
        first++;
    bool ok = n > 0 && p[0] != '.' && p[n - 1] != '.' && memchr(p, '{', n) == NULL &&
              memchr(p, '}', n) == NULL;
    for (size_t i = 0; ok && i + 1 < n; i++)
        ok = !(p[i] == '.' && p[i + 1] == '.');
    bool known = false;
    for (size_t i = 0; ok && record_members[i]; i++)
        known = known || (strlen(record_members[i]) == first &&
                          memcmp(record_members[i], p, first) == 0);
    char shown[96];
    snprintf(shown, sizeof shown, "%.*s", (int)(n < 80 ? n : 80), p);
    if (!ok)
        set_err(err, errlen, "bad reference \"{{%s}}\"", shown);
    else if (!known)
        set_err(err, errlen, "\"{{%s}}\" names no member of the record", shown);
    return ok && known ? 0 : -1;
}

static int check_string(const char *s, char *err, size_t errlen)
{
    struct ref r = {.end = 0};
    int found;
    while ((found = next_ref(s, r.end, &r)) == 1)
        if (check_path(r.path, r.n, err, errlen) != 0)
            return -1;
    if (found < 0)
        set_err(err, errlen, "\"{{\" without \"}}\" in \"%.60s\"", s);
    return found < 0 ? -1 : 0;
}

/* Checks every string of a template (keys are taken literally). */
static int check_template(json_t *t, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_string(t))
        return check_string(json_string_value(t), err, errlen);
    if (json_is_object(t)) {
        json_object_foreach(t, key, v)
            if (check_template(v, err, errlen) != 0)
                return -1;
    } else if (json_is_array(t)) {
        json_array_foreach(t, i, v)
            if (check_template(v, err, errlen) != 0)
                return -1;
    }
    return 0;
}

/* Reads and checks a template file; NULL with a reason in err. */
static json_t *template_load(const char *path, char *err, size_t errlen)
{
    json_error_t e;
    json_t *t = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    char why[200];
    if (t == NULL) {
        snprintf(why, sizeof why, "line %d: %s", e.line, e.text);
    } else if (!json_is_object(t) && !json_is_array(t)) {
        snprintf(why, sizeof why, "the top level must be an object or an array");
    } else if (check_template(t, why, sizeof why) == 0) {
        return t;
    }
    json_decref(t);
    char msg[300];
    snprintf(msg, sizeof msg, "template %.80s: %s", path, why);
    set_err(err, errlen, "%s", msg);
    return NULL;
}

/* The record's value at a dot path (a digit segment indexes an array), or NULL. */
static json_t *lookup(json_t *rec, const char *p, size_t n)
{
    json_t *v = rec;
    while (v && n) {
        size_t k = 0;
        while (k < n && p[k] != '.')
            k++;
        bool digits = k > 0 && k < 10 && strspn(p, "0123456789") >= k;
        if (json_is_array(v) && digits)
            v = json_array_get(v, strtoul(p, NULL, 10));
        else
            v = json_is_object(v) ? json_object_getn(v, p, k) : NULL;
        p += k < n ? k + 1 : k;
        n -= k < n ? k + 1 : k;
    }
    return v;
}

/* Writes a value as text: a string as it is, null or missing as nothing, else JSON. */
static int put_text(FILE *f, json_t *v)
{
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return fwrite(json_string_value(v), 1, json_string_length(v), f) ==
                       json_string_length(v) ? 0 : -1;
    return json_dumpf(v, f, JSON_OUT_FLAGS);
}

static json_t *interpolate(const char *s, json_t *rec)
{
    char *buf = NULL;
    size_t len = 0, at = 0;
    struct ref r;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    int rc = 0;
    while (rc == 0 && next_ref(s, at, &r) == 1) {
        if (fwrite(s + at, 1, r.open - at, f) != r.open - at)
            rc = -1;
        if (rc == 0)
            rc = put_text(f, lookup(rec, r.path, r.n));
        at = r.end;
    }
    if (rc == 0 && fputs(s + at, f) == EOF)
        rc = -1;
    rc = fclose(f) == 0 && rc == 0 ? 0 : -1;
    json_t *out = rc == 0 ? json_stringn_nocheck(buf, len) : NULL;
    free(buf);
    return out;
}

static json_t *expand(json_t *t, json_t *rec);

static json_t *expand_string(json_t *t, json_t *rec)
{
    const char *s = json_string_value(t);
    struct ref r;
    if (whole_ref(s, &r)) {
        json_t *v = lookup(rec, r.path, r.n);
        return v ? json_incref(v) : json_null();
    }
    return strstr(s, "{{") ? interpolate(s, rec) : json_incref(t);
}

static json_t *expand_object(json_t *t, json_t *rec)
{
    json_t *out = json_object(), *v;
    const char *key;
    json_object_foreach(t, key, v)
        if (out == NULL || json_object_set_new_nocheck(out, key, expand(v, rec)) != 0) {
            json_decref(out);
            return NULL;
        }
    return out;
}

static json_t *expand_array(json_t *t, json_t *rec)
{
    json_t *out = json_array(), *v;
    size_t i;
    json_array_foreach(t, i, v)
        if (out == NULL || json_array_append_new(out, expand(v, rec)) != 0) {
            json_decref(out);
            return NULL;
        }
    return out;
}

/* The template with the record poured in: a new value, or NULL when memory runs out. */
static json_t *expand(json_t *t, json_t *rec)
{
    if (json_is_string(t))
        return expand_string(t, rec);
    if (json_is_object(t))
        return expand_object(t, rec);
    if (json_is_array(t))
        return expand_array(t, rec);
    return json_incref(t);
}

/* ---- settings ---- */

static int check_url(const char *url, char *err, size_t errlen)
{
    char why[96];
    if (intake_http_check_url(url, why, sizeof why) == 0)
        return 0;
    set_err(err, errlen, "url: %s", why);
    return -1;
}

static int check_header(const char *h, char *err, size_t errlen)
{
    const char *colon = strchr(h, ':');
    size_t name = colon ? strcspn(h, " \t:") : 0;
    if (colon == NULL || name == 0 || h + name != colon || has_line_break(h)) {
        set_err(err, errlen, "header: expected one \"Name: value\"", NULL);
        return -1;
    }
    return 0;
}

static int check_pointer(const char *p, char *err, size_t errlen)
{
    if (p[0] != '\0' && p[0] != '/') {
        set_err(err, errlen, "case_id_pointer: a JSON pointer starts with '/' (e.g. "
                             "/ticket/id)", NULL);
        return -1;
    }
    return 0;
}

static int load_template(struct http_sink *s, const intake_config *cfg,
                         const struct intake_section *sec, char *err, size_t errlen)
{
    if (intake_config_get(sec, "template") == NULL)
        return 0;
    char *path = intake_config_get_template_path(cfg, sec, "template");
    if (path == NULL) {
        set_err(err, errlen, "template: out of memory", NULL);
        return -1;
    }
    if (access(path, R_OK) != 0)
        set_err(err, errlen, "template: cannot read %.200s (a relative name is looked for "
                             "beside the config file, then in the rules' templates/)", path);
    else
        s->tmpl = template_load(path, err, errlen);
    free(path);
    return s->tmpl ? 0 : -1;
}

static int load_ca_file(struct http_sink *s, const intake_config *cfg,
                        const struct intake_section *sec, char *err, size_t errlen)
{
    if (intake_config_get(sec, "ca_file") == NULL)
        return 0;
    s->ca_file = intake_config_get_path(cfg, sec, "ca_file");
    if (s->ca_file == NULL)
        set_err(err, errlen, "ca_file: out of memory", NULL);
    else if (access(s->ca_file, R_OK) != 0)
        set_err(err, errlen, "ca_file: cannot read %.200s", s->ca_file);
    return s->ca_file && access(s->ca_file, R_OK) == 0 ? 0 : -1;
}

/* Reads and checks the section's own keys into s. */
static int load_settings(struct http_sink *s, const intake_config *cfg,
                         const struct intake_section *sec, char *err, size_t errlen)
{
    const char *url = intake_config_get(sec, "url"), *token = intake_config_get(sec, "token");
    const char *header = intake_config_get(sec, "header");
    const char *ptr = intake_config_get(sec, "case_id_pointer");
    if (url == NULL || url[0] == '\0') {
        set_err(err, errlen, "url is required", NULL);
        return -1;
    }
    if (check_url(url, err, errlen) || (header && check_header(header, err, errlen)) ||
        (ptr && check_pointer(ptr, err, errlen)))
        return -1;
    if (token && (token[0] == '\0' || has_line_break(token))) {
        set_err(err, errlen, "token: empty or holds a line break", NULL);
        return -1;
    }
    s->timeout = intake_config_get_int(sec, "timeout", 30);
    if (s->timeout < 1)
        s->timeout = 30; /* 0 would mean "no limit" to libcurl */
    s->verify = intake_config_get_bool(sec, "tls_verify", true);
    s->url = strdup(url);
    s->auth_header = token ? intake_http_bearer(token) : NULL;
    s->extra_header = dup_or_null(header);
    s->case_id_pointer = dup_or_null(ptr);
    if (!s->url || (token && !s->auth_header) || (header && !s->extra_header) ||
        (ptr && !s->case_id_pointer)) {
        set_err(err, errlen, "out of memory", NULL);
        return -1;
    }
    return load_ca_file(s, cfg, sec, err, errlen) || load_template(s, cfg, sec, err, errlen)
               ? -1 : 0;
}

/* ---- the transfer ---- */

static int setup_client(struct http_sink *s, char *err, size_t errlen)
{
    struct intake_httpc_conf conf = {s->timeout, s->verify, s->ca_file, BODY_CAP};
    s->client = intake_httpc_new(&conf, err, errlen);
    return s->client ? 0 : -1;
}

/* The request headers for one record, into lines (6 entries; key: room for the
 * Idempotency-Key line). Returns how many. */
static size_t request_headers(const struct http_sink *s, const char *id, const char **lines,
                              char *key, size_t keycap)
{
    const char *fixed[] = {"Content-Type: application/json", "Accept: application/json", key,
                           s->auth_header, s->extra_header};
    size_t n = 0;
    snprintf(key, keycap, "Idempotency-Key: %s", id ? id : "");
    if (id == NULL || id[0] == '\0')
        fixed[2] = NULL;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (fixed[i] != NULL)
            lines[n++] = fixed[i];
    return n;
}

/* ---- results ---- */

static void result_set(struct intake_delivery_result *res, enum intake_outcome o,
                       const char *fmt, const char *arg)
{
    res->outcome = o;
    snprintf(res->error, sizeof res->error, fmt, arg ? arg : "");
}

/* Keeps the start of the body for the operator, cut on a UTF-8 character boundary and at
 * the first NUL. */
static void keep_body(const struct intake_httpc_resp *r, struct intake_delivery_result *res)
{
    size_t n = r->body_len < INTAKE_SINK_BODY_KEEP ? r->body_len : INTAKE_SINK_BODY_KEEP;
    if (n < r->body_len)
        while (n > 0 && ((unsigned char)r->body[n] & 0xC0) == 0x80)
            n--;
    memcpy(res->response, r->body, n);
    res->response[n] = '\0';
}

/* RFC 6901: one reference token of `p` (up to the next '/'), unescaped into tok. */
static const char *pointer_token(const char *p, char *tok, size_t cap)
{
    size_t n = 0;
    for (; *p && *p != '/'; p++) {
        char c = *p;
        if (c == '~' && (p[1] == '0' || p[1] == '1'))
            c = *++p == '0' ? '~' : '/';
        if (n + 1 < cap)
            tok[n++] = c;
    }
    tok[n] = '\0';
    return p;
}

static json_t *pointer_get(json_t *doc, const char *p)
{
    char tok[256];
    while (doc && *p == '/') {
        p = pointer_token(p + 1, tok, sizeof tok);
        if (json_is_object(doc))
            doc = json_object_get(doc, tok);
        else if (json_is_array(doc) && tok[0] && strspn(tok, "0123456789") == strlen(tok))
            doc = json_array_get(doc, strtoul(tok, NULL, 10));
        else
            doc = NULL;
    }
    return *p == '\0' ? doc : NULL;
}

/* Fills res->case_id from the 2xx body when a pointer is configured. */
static void take_case_id(const struct http_sink *s, const struct intake_httpc_resp *r,
                         struct intake_delivery_result *res)
{
    if (s->case_id_pointer == NULL)
        return;
    json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *v = doc ? pointer_get(doc, s->case_id_pointer) : NULL;
    int n = -1;
    if (json_is_string(v))
        n = snprintf(res->case_id, sizeof res->case_id, "%s", json_string_value(v));
    else if (json_is_integer(v))
        n = snprintf(res->case_id, sizeof res->case_id, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
    if (n < 0 || (size_t)n >= sizeof res->case_id || res->case_id[0] == '\0') {
        res->case_id[0] = '\0';
        snprintf(res->error, sizeof res->error, "HTTP %d without a usable case id at %.80s",
                 res->status, s->case_id_pointer);
    }
    json_decref(doc);
}

/* The status table: 2xx delivered; 408, 429, 5xx retry; other 3xx and 4xx dead. */
static void judge_status(const struct http_sink *s, const struct intake_httpc_resp *r,
                         struct intake_delivery_result *res)
{
    long code = r->status;
    char retry_after[64];
    char what[32];
    res->status = (int)code;
    snprintf(what, sizeof what, "HTTP %ld", code);
    if (code >= 200 && code < 300) {
        res->outcome = INTAKE_DELIVERED;
        take_case_id(s, r, res);
        return;
    }
    bool dead = code >= 300 && code < 500 && code != 408 && code != 429;
    result_set(res, dead ? INTAKE_DEAD : INTAKE_RETRY, "%s", what);
    if (!dead)
        res->retry_after = intake_http_retry_after(
            intake_httpc_header(s->client, "Retry-After", retry_after, sizeof retry_after));
    keep_body(r, res);
}

/* ---- the plugin's entry points ---- */

static void http_destroy(void *state)
{
    struct http_sink *s = state;
    if (s == NULL)
        return;
    intake_httpc_free(s->client);
    free(s->url);
    free(s->auth_header);
    free(s->extra_header);
    free(s->case_id_pointer);
    free(s->ca_file);
    json_decref(s->tmpl);
    free(s);
}

static int http_create(const intake_config *cfg, const struct intake_section *sec,
                       void **state, char *err, size_t errlen)
{
    struct http_sink *s = calloc(1, sizeof *s);
    *state = NULL;
    if (s == NULL) {
        set_err(err, errlen, "out of memory", NULL);
        return -1;
    }
    if (load_settings(s, cfg, sec, err, errlen) != 0 || setup_client(s, err, errlen) != 0) {
        http_destroy(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int http_check(const intake_config *cfg, const struct intake_section *sec,
                      intake_diag *diag)
{
    char err[320];
    struct http_sink *s = calloc(1, sizeof *s);
    int rc = s ? load_settings(s, cfg, sec, err, sizeof err) : -1;
    if (s == NULL)
        snprintf(err, sizeof err, "out of memory");
    if (rc != 0)
        intake_diag_add(diag, "%s:%d: sink \"%s\": %s", cfg->path, sec->line,
                        sec->name ? sec->name : "", err);
    http_destroy(s);
    return rc;
}

/* The body to send: the record itself, or the template's expansion (owned in *owned). */
static int render(const struct http_sink *s, const char *json, size_t len, char **owned,
                  struct intake_delivery_result *res)
{
    *owned = NULL;
    if (s->tmpl == NULL)
        return 0;
    json_t *rec = json_loadb(json, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(rec)) {
        json_decref(rec);
        result_set(res, INTAKE_DEAD, "the record is not a JSON object", NULL);
        return -1;
    }
    json_t *out = expand(s->tmpl, rec);
    *owned = out ? json_dumps(out, JSON_OUT_FLAGS) : NULL;
    json_decref(out);
    json_decref(rec);
    if (*owned == NULL)
        result_set(res, INTAKE_RETRY, "out of memory", NULL);
    return *owned ? 0 : -1;
}

static bool key_usable(const char *id)
{
    if (id == NULL)
        return true;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return strlen(id) <= IDEMPOTENCY_KEY_MAX;
}

static void http_deliver(void *state, const char *record_id, const char *record_json,
                         size_t len, struct intake_delivery_result *res)
{
    struct http_sink *s = state;
    memset(res, 0, sizeof *res);
    res->retry_after = -1;
    char *owned;
    if (!key_usable(record_id)) {
        result_set(res, INTAKE_DEAD, "the record id cannot be an Idempotency-Key", NULL);
        return;
    }
    if (render(s, record_json, len, &owned, res) != 0)
        return;
    const char *lines[6];
    char key[sizeof "Idempotency-Key: " + IDEMPOTENCY_KEY_MAX];
    struct intake_httpc_req req = {"POST", s->url, lines, 0, owned ? owned : record_json,
                                   owned ? strlen(owned) : len};
    req.nheaders = request_headers(s, record_id, lines, key, sizeof key);
    struct intake_httpc_resp r;
    if (intake_httpc_do(s->client, &req, &r) == 0)
        judge_status(s, &r, res);
    else
        result_set(res, INTAKE_RETRY, "%s", r.error);
    free(owned);
}

/* The "http" sink type: POSTs records to a case system (registered in registry.c). */
const struct intake_sink_type intake_sink_http = {
    .type = "http",
    .description = "POSTs each record (or a JSON template of it) to a case system",
    .options = http_options,
    .check = http_check,
    .create = http_create,
    .deliver = http_deliver,
    .destroy = http_destroy,
};
