/*
 * The configuration file: see include/intake/config.h.
 *
 * inih splits `key = value` lines and strips comments; everything else is ours. inih's
 * handler is not told the line number, so inih reads through our reader callback, which
 * it calls exactly once per line: the reader counts lines, so when the handler runs,
 * loader.line is the line of the key. The reader also
 * - rejects lines longer than inih's buffer (inih would split them and miscount lines);
 * - strips leading whitespace, which turns off inih's continuation lines: Debian builds
 *   inih with INI_ALLOW_MULTILINE, so an indented `key = value` after another key would
 *   otherwise be glued to that key's value;
 * - parses section headers itself and hands inih a blank line instead, because the handler
 *   is never called for a section without keys (a missing `type` must still be found)
 *   and errors about a section need its line;
 * - reports a line without `=` or `:` itself, so that every such line is reported (inih
 *   only returns the first bad line).
 * Debian's inih takes `;` as an inline comment when whitespace precedes it, and `;` or `#`
 * at the start of a line. A `#` after a value is part of the value.
 */
#include "intake/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "intake/record.h"
#include "intake/sink.h"
#include "intake/source.h"

#ifndef INTAKE_RULES_DIR
#define INTAKE_RULES_DIR "rules"
#endif

#define NAME_LEN_MAX 64     /* a source's or sink's name */
#define SECTIONS_MAX 1024
#define KEYS_MAX 256        /* per section */
#define ECHO_MAX 60         /* characters of a key or value quoted in a message */

/* ---- option tables ---------------------------------------------------------------- */

static const struct intake_option spool_options[] = {
    {.name = "path", .type = INTAKE_OPT_PATH, .def = "intake-spool.db",
     .description = "the spool database (SQLite); relative: the config file's folder"},
    {.name = "retention_days", .type = INTAKE_OPT_INT, .def = "30", .min = 1, .max = 3650,
     .description = "delivered items older than this many days are purged"},
    {.name = NULL},
};

static const struct intake_option http_options[] = {
    {.name = "listen", .type = INTAKE_OPT_LISTEN, .def = "127.0.0.1:8025",
     .description = "address of the HTTP server: webhooks, /healthz, /readyz, /metrics"},
    {.name = "enabled", .type = INTAKE_OPT_BOOL, .def = "yes",
     .description = "run the HTTP server"},
    {.name = "connection_timeout", .type = INTAKE_OPT_INT, .def = "10", .min = 1,
     .max = 3600, .description = "seconds a connection may stay idle before it is closed"},
    {.name = "per_ip_limit", .type = INTAKE_OPT_INT, .def = "16", .min = 1, .max = 10000,
     .description = "most connections at once from one client address"},
    {.name = "max_connections", .type = INTAKE_OPT_INT, .def = "256", .min = 1,
     .max = 100000, .description = "most connections at once in all"},
    {.name = "max_inflight", .type = INTAKE_OPT_INT, .def = "64", .min = 1, .max = 100000,
     .description = "most requests being handled at once; more get 503 with Retry-After"},
    {.name = NULL},
};

static const struct intake_option rules_options[] = {
    {.name = "path", .type = INTAKE_OPT_PATH,
     .description = "the rules folder; default: $INTAKE_RULES_DIR, else the rules/ folder "
                    "intake was built with"},
    {.name = "case_reference", .type = INTAKE_OPT_STRING, .def = INTAKE_CASE_REFERENCE_DEFAULT,
     .description = "PCRE2 pattern (caseless) finding a case reference in the subject, else "
                    "the text; the reference is its one capturing group, or the whole match"},
    {.name = NULL},
};

static const struct intake_option policy_options[] = {
    {.name = "profile", .type = INTAKE_OPT_STRING, .def = "housing-ombudsman",
     .description = "complaint-handling policy profile the deadlines follow"},
    {.name = "acknowledge_days", .type = INTAKE_OPT_INT, .def = "5", .min = 0, .max = 60,
     .description = "working days to acknowledge a complaint"},
    {.name = "stage1_days", .type = INTAKE_OPT_INT, .def = "10", .min = 1, .max = 365,
     .description = "working days to respond to a stage 1 complaint"},
    {.name = "stage2_days", .type = INTAKE_OPT_INT, .def = "20", .min = 1, .max = 365,
     .description = "working days to respond to a stage 2 complaint"},
    {.name = "respond_from", .type = INTAKE_OPT_ENUM, .def = "acknowledgement",
     .choices = "acknowledgement|receipt",
     .description = "whether response deadlines count from the acknowledgement or receipt"},
    {.name = "mp_acknowledge_days", .type = INTAKE_OPT_INT, .def = "5", .min = 0,
     .max = 60, .description = "working days to acknowledge an MP or councillor enquiry"},
    {.name = "mp_respond_days", .type = INTAKE_OPT_INT, .def = "10", .min = 1, .max = 365,
     .description = "working days to respond to an MP or councillor enquiry"},
    {.name = "ombudsman_days", .type = INTAKE_OPT_INT, .def = "10", .min = 1, .max = 365,
     .description = "working days from receipt to answer Housing Ombudsman correspondence "
                    "(ombudsman flag)"},
    {.name = "damp_mould_days", .type = INTAKE_OPT_INT, .def = "10", .min = 1, .max = 365,
     .description = "working days from receipt to investigate damp and mould (damp_mould "
                    "flag, Awaab's Law)"},
    {.name = "emergency_hours", .type = INTAKE_OPT_INT, .def = "24", .min = 1, .max = 168,
     .description = "hours from receipt to deal with an emergency hazard (urgent flag)"},
    {.name = "calendar", .type = INTAKE_OPT_PATH, .def = "calendars/england-and-wales.txt",
     .description = "bank-holiday calendar file; relative: the rules folder"},
    {.name = "closures", .type = INTAKE_OPT_STRING,
     .description = "extra closure days, comma-separated YYYY-MM-DD (e.g. a Christmas "
                    "shutdown)"},
    {.name = "timezone", .type = INTAKE_OPT_STRING, .def = "Europe/London",
     .description = "time zone that decides which day an item arrived on"},
    {.name = NULL},
};

static const struct intake_option privacy_options[] = {
    {.name = "redact", .type = INTAKE_OPT_ENUM, .def = "public", .choices = "public|all|none",
     .description = "whose text the record carries redacted: public posts only, every item, "
                    "or none"},
    {.name = "keep_original", .type = INTAKE_OPT_BOOL, .def = "no",
     .description = "also put the unredacted text in the record as original_text, for a "
                    "case system that restricts that field"},
    {.name = NULL},
};

static const struct intake_option routing_options[] = {
    {.name = "safeguarding", .type = INTAKE_OPT_STRING,
     .description = "route of records flagged safeguarding (first match wins: flags in "
                    "this order, then the category, then default)"},
    {.name = "urgent", .type = INTAKE_OPT_STRING,
     .description = "route of records flagged urgent"},
    {.name = "ombudsman", .type = INTAKE_OPT_STRING,
     .description = "route of records flagged ombudsman"},
    {.name = "legal", .type = INTAKE_OPT_STRING,
     .description = "route of records flagged legal"},
    {.name = "damp_mould", .type = INTAKE_OPT_STRING,
     .description = "route of records flagged damp_mould"},
    {.name = "stage2", .type = INTAKE_OPT_STRING,
     .description = "route of records flagged stage2"},
    {.name = "asb", .type = INTAKE_OPT_STRING,
     .description = "route of records flagged asb"},
    {.name = "abusive", .type = INTAKE_OPT_STRING,
     .description = "route of records flagged abusive"},
    {.name = "compensation", .type = INTAKE_OPT_STRING,
     .description = "route of records flagged compensation"},
    {.name = "mp_enquiry", .type = INTAKE_OPT_STRING,
     .description = "route of mp_enquiry records that no flag routed"},
    {.name = "complaint", .type = INTAKE_OPT_STRING,
     .description = "route of complaint records that no flag routed"},
    {.name = "service_request", .type = INTAKE_OPT_STRING,
     .description = "route of service_request records that no flag routed"},
    {.name = "compliment", .type = INTAKE_OPT_STRING,
     .description = "route of compliment records that no flag routed"},
    {.name = "comment", .type = INTAKE_OPT_STRING,
     .description = "route of comment records that no flag routed"},
    {.name = "other", .type = INTAKE_OPT_STRING,
     .description = "route of other records that no flag routed"},
    {.name = "default", .type = INTAKE_OPT_STRING,
     .description = "route of records nothing else routed (unset: route null)"},
    {.name = NULL},
};

static const struct intake_option log_options[] = {
    {.name = "level", .type = INTAKE_OPT_ENUM, .def = "info",
     .choices = "debug|info|warn|error", .description = "least severe level logged"},
    {.name = NULL},
};

const struct intake_option intake_source_common_options[] = {
    {.name = "type", .type = INTAKE_OPT_STRING, .required = true,
     .description = "the source type: one of the source types below"},
    {.name = "channel", .type = INTAKE_OPT_ENUM, .def = "email",
     .choices = "email|webchat|facebook|x|mastodon|web_form|other",
     .description = "channel given to the items this source brings in"},
    {.name = "poll_interval", .type = INTAKE_OPT_INT, .def = "60", .min = 1, .max = 86400,
     .description = "seconds between polls (polling sources)"},
    {.name = "enabled", .type = INTAKE_OPT_BOOL, .def = "yes",
     .description = "run this source"},
    {.name = NULL},
};

const struct intake_option intake_sink_common_options[] = {
    {.name = "type", .type = INTAKE_OPT_STRING, .required = true,
     .description = "the sink type: one of the sink types below"},
    {.name = "retry_min_delay", .type = INTAKE_OPT_INT, .def = "1", .min = 1, .max = 86400,
     .description = "seconds before the first retry; doubles per attempt, with jitter"},
    {.name = "retry_max_delay", .type = INTAKE_OPT_INT, .def = "300", .min = 1,
     .max = 86400, .description = "longest wait between two attempts, in seconds"},
    {.name = "max_attempts", .type = INTAKE_OPT_INT, .def = "20", .min = 1, .max = 1000,
     .description = "attempts before a delivery is dead-lettered"},
    {.name = "timeout", .type = INTAKE_OPT_INT, .def = "30", .min = 1, .max = 600,
     .description = "seconds one delivery attempt may take"},
    {.name = "enabled", .type = INTAKE_OPT_BOOL, .def = "yes",
     .description = "deliver to this sink"},
    {.name = NULL},
};

/* ---- the loader's state and messages ------------------------------------------------ */

enum { NO_SECTION = -1, SKIPPED_SECTION = -2 };

struct loader {
    intake_config *cfg;
    intake_diag *diag;
    FILE *f;
    int line;          /* lines read so far: the line inih is working on */
    size_t bytes;      /* bytes read so far */
    long cur;          /* index of the section keys go to, or NO_/SKIPPED_SECTION */
    size_t cap;        /* allocated cfg->sections */
    int errors;
    bool oom;
};

static void report(struct loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends "file:line: message" (or "file: message" for line 0) and counts an error. */
static void report(struct loader *ld, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ld->errors++;
    int rc = line > 0 ? intake_diag_add(ld->diag, "%s:%d: %s", ld->cfg->path, line, msg)
                      : intake_diag_add(ld->diag, "%s: %s", ld->cfg->path, msg);
    if (rc != 0)
        ld->oom = true;
}

/* A copy of s fit to quote in a message: printable ASCII only, at most ECHO_MAX. */
static const char *echo(const char *s, char buf[ECHO_MAX + 4])
{
    size_t n = 0;
    for (; s[n] && n < ECHO_MAX; n++)
        buf[n] = s[n] >= 0x20 && s[n] < 0x7f ? s[n] : '?';
    strcpy(buf + n, s[n] ? "..." : "");
    return buf;
}

/* "[spool]" or "[source "mta"]". */
static const char *label(const struct intake_section *s, char buf[NAME_LEN_MAX + 16])
{
    if (s->name)
        snprintf(buf, NAME_LEN_MAX + 16, "[%s \"%s\"]", s->kind, s->name);
    else
        snprintf(buf, NAME_LEN_MAX + 16, "[%s]", s->kind);
    return buf;
}

/* ---- small parsers (ASCII only, whatever the locale) -------------------------------- */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_LEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alpha(s[i]) && !is_digit(s[i]) && !strchr("._-", s[i]))
            return false;
    return true;
}

/* Strict decimal: an optional '-', digits, nothing else. */
static bool parse_long(const char *s, long *out)
{
    if (!is_digit(*s == '-' ? s[1] : s[0]))
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool same_word(const char *a, const char *b)
{
    for (;; a++, b++) {
        char ca = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        if (ca != *b)
            return false;
        if (ca == '\0')
            return true;
    }
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const words[] = {"yes", "no", "true", "false", "on", "off", "1", "0"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (same_word(s, words[i])) {
            *out = i % 2 == 0;
            return true;
        }
    return false;
}

/* True when v is one of the '|'-separated choices. */
static bool in_choices(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; n > 0 && p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* host:port or [v6-address]:port, port 1..65535, no whitespace. */
static bool valid_listen(const char *v)
{
    const char *colon;
    if (*v == '[') {
        const char *close = strchr(v, ']');
        if (!close || close == v + 1 || close[1] != ':')
            return false;
        colon = close + 1;
    } else {
        colon = strchr(v, ':');
        if (!colon || colon == v || strchr(colon + 1, ':'))
            return false;
    }
    for (const char *p = v; p < colon; p++)
        if (is_space(*p))
            return false;
    long port;
    return parse_long(colon + 1, &port) && port >= 1 && port <= 65535;
}

/* Exactly YYYY-MM-DD, a real date. */
static bool valid_date(const char *s, size_t n)
{
    if (n != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (i != 4 && i != 7 && !is_digit(s[i]))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

/* ---- tables ------------------------------------------------------------------------- */

typedef void (*core_check)(struct loader *ld, const struct intake_section *s);
typedef int (*plugin_check)(const intake_config *cfg, const struct intake_section *sec,
                            intake_diag *diag);

static void check_policy(struct loader *ld, const struct intake_section *s);
static void check_rules(struct loader *ld, const struct intake_section *s);

static const struct core_kind {
    const char *kind;
    const struct intake_option *options;
    core_check check;
} core_kinds[] = {
    {"spool", spool_options, NULL},
    {"http", http_options, NULL},
    {"rules", rules_options, check_rules},
    {"policy", policy_options, check_policy},
    {"privacy", privacy_options, NULL},
    {"routing", routing_options, NULL},
    {"log", log_options, NULL},
    {NULL, NULL, NULL},
};

static const struct core_kind *find_core(const char *kind)
{
    for (const struct core_kind *k = core_kinds; k->kind; k++)
        if (strcmp(k->kind, kind) == 0)
            return k;
    return NULL;
}

const struct intake_option *intake_config_core_options(const char *kind)
{
    const struct core_kind *k = kind ? find_core(kind) : NULL;
    return k ? k->options : NULL;
}

static bool is_plugin_kind(const char *kind)
{
    return strcmp(kind, "source") == 0 || strcmp(kind, "sink") == 0;
}

static const struct intake_option *find_option(const struct intake_option *t, const char *key)
{
    for (; t && t->name; t++)
        if (strcmp(t->name, key) == 0)
            return t;
    return NULL;
}

/* The option `key` of a section of `kind` checked against `own`: for sources and sinks
 * the common keys first, then the type's own. */
static const struct intake_option *lookup_option(const char *kind,
                                                 const struct intake_option *own,
                                                 const char *key)
{
    const struct intake_option *o = NULL;
    if (strcmp(kind, "source") == 0)
        o = find_option(intake_source_common_options, key);
    else if (strcmp(kind, "sink") == 0)
        o = find_option(intake_sink_common_options, key);
    else if (own == NULL)
        own = intake_config_core_options(kind);
    return o ? o : find_option(own, key);
}

/* The type's own options and check, or false when there is no such type. */
static bool find_plugin(const char *kind, const char *type,
                        const struct intake_option **options, plugin_check *check)
{
    if (strcmp(kind, "source") == 0) {
        const struct intake_source_type *t = intake_source_type_find(type);
        if (t)
            *options = t->options, *check = t->check;
        return t != NULL;
    }
    const struct intake_sink_type *t = intake_sink_type_find(type);
    if (t)
        *options = t->options, *check = t->check;
    return t != NULL;
}

/* "pipe, maildir" into buf. */
static const char *list_types(const char *kind, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    bool src = strcmp(kind, "source") == 0;
    for (size_t i = 0; n < len; i++) {
        const char *t = src ? (intake_source_types[i] ? intake_source_types[i]->type : NULL)
                            : (intake_sink_types[i] ? intake_sink_types[i]->type : NULL);
        if (!t)
            break;
        int w = snprintf(buf + n, len - n, "%s%s", i ? ", " : "", t);
        n += w > 0 ? (size_t)w : 0;
    }
    return buf;
}

/* ---- building the config ------------------------------------------------------------ */

static const struct intake_kv *find_kv(const struct intake_section *s, const char *key)
{
    for (size_t i = 0; s && i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    return NULL;
}

static void add_section(struct loader *ld, const char *kind, const char *name, int line)
{
    intake_config *cfg = ld->cfg;
    if (cfg->nsections == ld->cap) {
        size_t cap = ld->cap ? ld->cap * 2 : 8;
        struct intake_section *p = realloc(cfg->sections, cap * sizeof *p);
        if (!p) {
            ld->oom = true;
            return;
        }
        cfg->sections = p;
        ld->cap = cap;
    }
    struct intake_section *s = &cfg->sections[cfg->nsections];
    *s = (struct intake_section){.kind = strdup(kind), .name = name ? strdup(name) : NULL,
                                 .line = line};
    if (!s->kind || (name && !s->name)) {
        free(s->kind);
        free(s->name);
        ld->oom = true;
        return;
    }
    ld->cur = (long)cfg->nsections++;
}

/* Adds key = value (taking `value`) to the current section. */
static void add_kv(struct loader *ld, const char *key, char *value, bool from_env)
{
    struct intake_section *s = &ld->cfg->sections[ld->cur];
    struct intake_kv *kv = realloc(s->kv, (s->nkv + 1) * sizeof *kv);
    char *k = strdup(key);
    if (kv)
        s->kv = kv;
    if (!kv || !k) {
        free(k);
        free(value);
        ld->oom = true;
        return;
    }
    s->kv[s->nkv++] = (struct intake_kv){.key = k, .value = value, .line = ld->line,
                                         .from_env = from_env};
}

/* ---- ${ENV} expansion --------------------------------------------------------------- */

struct buf {
    char *p;
    size_t n, cap;
};

enum { EXPAND_OK = 0, EXPAND_OOM = -1, EXPAND_LONG = 1, EXPAND_REPORTED = 2 };

static int buf_add(struct buf *b, const char *s, size_t len)
{
    if (len > INTAKE_CONFIG_VALUE_MAX - b->n)
        return EXPAND_LONG;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return EXPAND_OOM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
    return EXPAND_OK;
}

/* The length of NAME when s holds "NAME}", else 0. */
static size_t env_name_len(const char *s)
{
    if (!is_alpha(*s) && *s != '_')
        return 0;
    size_t n = 1;
    while (is_alpha(s[n]) || is_digit(s[n]) || s[n] == '_')
        n++;
    return s[n] == '}' ? n : 0;
}

/* Appends the variable named at `name` (just after "${"); *next goes past its '}'. */
static int expand_var(struct loader *ld, const char *what, const char *name, struct buf *b,
                      const char **next)
{
    size_t n = env_name_len(name);
    if (n == 0 || n > INTAKE_CONFIG_LINE_MAX) {
        report(ld, ld->line, "%s: '${' must start ${NAME}, NAME made of letters, digits "
               "and _", what);
        return EXPAND_REPORTED;
    }
    char var[INTAKE_CONFIG_LINE_MAX + 1];
    memcpy(var, name, n);
    var[n] = '\0';
    const char *v = getenv(var);
    if (!v) {
        report(ld, ld->line, "%s: environment variable %s is not set", what, var);
        return EXPAND_REPORTED;
    }
    *next = name + n + 1;
    return buf_add(b, v, strlen(v));
}

/* The value with every ${NAME} replaced, owned by the caller; NULL after reporting why
 * (or when memory runs out). `what` names the key for messages. */
static char *expand(struct loader *ld, const char *what, const char *value, bool *from_env)
{
    struct buf b = {0};
    int rc = buf_add(&b, "", 0);
    for (const char *p = value; rc == EXPAND_OK;) {
        const char *d = strstr(p, "${");
        rc = buf_add(&b, p, d ? (size_t)(d - p) : strlen(p));
        if (!d)
            break;
        if (rc == EXPAND_OK)
            rc = expand_var(ld, what, d + 2, &b, &p);
        *from_env = true;
    }
    if (rc == EXPAND_OK)
        return b.p;
    free(b.p);
    if (rc == EXPAND_OOM)
        ld->oom = true;
    else if (rc == EXPAND_LONG)
        report(ld, ld->line, "%s is longer than %d bytes after ${...} expansion", what,
               INTAKE_CONFIG_VALUE_MAX);
    return NULL;
}

/* ---- inih's handler: one call per key = value --------------------------------------- */

static int on_value(void *user, const char *section, const char *name, const char *value)
{
    (void)section; /* inih never sees a header: the reader keeps the current section */
    struct loader *ld = user;
    char kb[ECHO_MAX + 4], lb[NAME_LEN_MAX + 16], what[ECHO_MAX + NAME_LEN_MAX + 32];
    if (ld->oom || ld->cur == SKIPPED_SECTION)
        return 1;
    if (ld->cur == NO_SECTION) {
        report(ld, ld->line, "key '%s' is outside any section", echo(name, kb));
        return 1;
    }
    const struct intake_section *s = &ld->cfg->sections[ld->cur];
    const struct intake_kv *dup = find_kv(s, name);
    snprintf(what, sizeof what, "'%s' in %s", echo(name, kb), label(s, lb));
    if (*name == '\0')
        report(ld, ld->line, "a value without a key in %s", lb);
    else if (dup)
        report(ld, ld->line, "duplicate key %s (first at line %d)", what, dup->line);
    else if (s->nkv >= KEYS_MAX)
        report(ld, ld->line, "more than %d keys in %s", KEYS_MAX, lb);
    else {
        bool from_env = false;
        char *v = expand(ld, what, value, &from_env);
        if (v)
            add_kv(ld, name, v, from_env);
    }
    return 1;
}

/* ---- section headers ---------------------------------------------------------------- */

static void open_core(struct loader *ld, const char *kind, const char *name)
{
    const struct intake_section *prev = intake_config_section(ld->cfg, kind, NULL);
    if (name)
        report(ld, ld->line, "[%s] takes no name", kind);
    else if (prev)
        report(ld, ld->line, "section [%s] appears twice (first at line %d)", kind,
               prev->line);
    else
        add_section(ld, kind, NULL, ld->line);
}

static void open_plugin(struct loader *ld, const char *kind, const char *name)
{
    char nb[ECHO_MAX + 4];
    const struct intake_section *prev = name ? intake_config_section(ld->cfg, kind, name)
                                             : NULL;
    if (!name)
        report(ld, ld->line, "[%s] needs a name: [%s \"NAME\"]", kind, kind);
    else if (!valid_name(name))
        report(ld, ld->line, "bad %s name \"%s\": use 1 to %d of A-Z a-z 0-9 . _ -", kind,
               echo(name, nb), NAME_LEN_MAX);
    else if (prev)
        report(ld, ld->line, "%s \"%s\" is defined twice (first at line %d)", kind, name,
               prev->line);
    else
        add_section(ld, kind, name, ld->line);
}

/* Parses `kind` or `kind "name"` (the text between the brackets) and opens the section. */
static void open_section(struct loader *ld, char *inner)
{
    char kb[ECHO_MAX + 4];
    char *kind = inner + strspn(inner, " \t");
    char *kind_end = kind + strcspn(kind, " \t\"");
    char *p = kind_end + strspn(kind_end, " \t"), *name = NULL;
    if (*p == '"') {
        name = p + 1;
        p = strchr(name, '"');
        if (!p) {
            report(ld, ld->line, "section name without its closing '\"'");
            return;
        }
        *p++ = '\0';
        p += strspn(p, " \t");
    }
    if (*p != '\0' || kind == kind_end) {
        report(ld, ld->line, "bad section header: write [kind] or [kind \"NAME\"]");
        return;
    }
    *kind_end = '\0';
    if (find_core(kind))
        open_core(ld, kind, name);
    else if (is_plugin_kind(kind))
        open_plugin(ld, kind, name);
    else
        report(ld, ld->line, "unknown section [%s] (sections: spool, http, rules, policy, "
               "log, source \"NAME\", sink \"NAME\")", echo(kind, kb));
}

/* A line starting with '['. Keys that follow a bad header are skipped. */
static void section_line(struct loader *ld, char *line)
{
    int before = ld->errors;
    char *close = strchr(line, ']');
    const char *rest = close ? close + 1 + strspn(close + 1, " \t\r\v\f") : NULL;
    if (!close)
        report(ld, ld->line, "section header without ']'");
    else if (*rest && *rest != ';' && *rest != '#')
        report(ld, ld->line, "unexpected text after ']'");
    else {
        *close = '\0';
        open_section(ld, line + 1);
    }
    if (ld->errors != before || ld->oom)
        ld->cur = SKIPPED_SECTION;
}

/* ---- inih's reader: one call per line ----------------------------------------------- */

/* True when a key line has its '=' or ':' before any inline comment (as inih sees it). */
static bool has_separator(const char *s)
{
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '=' || s[i] == ':')
            return true;
        if (s[i] == ';' && i > 0 && is_space(s[i - 1]))
            return false;
    }
    return false;
}

/* Reads one line into str (at most max characters kept) and returns its length without
 * '\n': -1 at the end of the file, -2 once the file is too big. */
static long get_line(struct loader *ld, char *str, size_t max, bool *nul)
{
    size_t n = 0;
    int c;
    *nul = false;
    while ((c = getc(ld->f)) != EOF && c != '\n') {
        if (ld->bytes + n >= INTAKE_CONFIG_FILE_MAX)
            return -2;
        *nul = *nul || c == '\0';
        if (n < max)
            str[n] = (char)c;
        n++;
    }
    if (c == EOF && n == 0)
        return -1;
    str[n < max ? n : max] = '\0';
    ld->bytes += n + 1;
    return (long)n;
}

/* Strips a BOM and leading whitespace; takes over section headers; blanks bad lines. */
static void prepare_line(struct loader *ld, char *str)
{
    size_t skip = ld->line == 1 && strncmp(str, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (is_space(str[skip]))
        skip++;
    memmove(str, str + skip, strlen(str + skip) + 1);
    if (str[0] == '[') {
        section_line(ld, str);
        str[0] = '\0';
    } else if (str[0] && !strchr(";#", str[0]) && !has_separator(str)) {
        report(ld, ld->line, "expected key = value, [section] or a comment");
        str[0] = '\0';
    }
}

static char *read_line(char *str, int num, void *stream)
{
    struct loader *ld = stream;
    if (ld->oom || num < 2)
        return NULL;
    size_t max = (size_t)num - 1 < INTAKE_CONFIG_LINE_MAX ? (size_t)num - 1
                                                           : INTAKE_CONFIG_LINE_MAX;
    bool nul;
    long n = get_line(ld, str, max, &nul);
    if (n == -2)
        report(ld, 0, "larger than %d bytes", INTAKE_CONFIG_FILE_MAX);
    if (n < 0)
        return NULL;
    ld->line++;
    if (nul)
        report(ld, ld->line, "line holds a NUL byte");
    else if ((size_t)n > max)
        report(ld, ld->line, "line longer than %d characters", (int)max);
    else
        prepare_line(ld, str);
    if (nul || (size_t)n > max)
        str[0] = '\0';
    return str;
}

/* ---- checking the sections against their tables ------------------------------------- */

/* " 'value'" to quote a value in a message; nothing for a secret, and no value for one
 * that came from the environment. */
static const char *quoted(const struct intake_kv *kv, const struct intake_option *o,
                          char buf[ECHO_MAX + 8])
{
    char vb[ECHO_MAX + 4];
    if (o && o->secret)
        buf[0] = '\0';
    else if (kv->from_env)
        snprintf(buf, ECHO_MAX + 8, " (from the environment)");
    else
        snprintf(buf, ECHO_MAX + 8, " '%s'", echo(kv->value, vb));
    return buf;
}

/* NULL when v suits o, else what was expected. */
static const char *expected(const struct intake_option *o, const char *v, char *buf,
                            size_t len)
{
    long n;
    bool b;
    bool bounded = o->min != 0 || o->max != 0;
    switch (o->type) {
    case INTAKE_OPT_STRING:
        return NULL;
    case INTAKE_OPT_PATH:
        return *v ? NULL : "a path";
    case INTAKE_OPT_BOOL:
        return parse_bool(v, &b) ? NULL : "yes or no (or true/false, on/off, 1/0)";
    case INTAKE_OPT_LISTEN:
        return valid_listen(v) ? NULL : "host:port with a port from 1 to 65535";
    case INTAKE_OPT_ENUM:
        if (o->choices && in_choices(o->choices, v))
            return NULL;
        snprintf(buf, len, "one of %s", o->choices ? o->choices : "(none declared)");
        return buf;
    case INTAKE_OPT_INT:
        if (parse_long(v, &n) && (!bounded || (n >= o->min && n <= o->max)))
            return NULL;
        if (!bounded)
            return "a whole number";
        snprintf(buf, len, "a whole number from %ld to %ld", o->min, o->max);
        return buf;
    }
    return NULL;
}

/* Every key must be in `own` (or the common table of a source or sink), with a value of
 * its type. Without `strict` (a source or sink whose type is unknown), keys that are not
 * in the tables are let be. */
static void check_keys(struct loader *ld, const struct intake_section *s,
                       const struct intake_option *own, bool strict)
{
    char kb[ECHO_MAX + 4], lb[NAME_LEN_MAX + 16], vb[ECHO_MAX + 8], eb[512];
    label(s, lb);
    for (size_t i = 0; i < s->nkv; i++) {
        const struct intake_kv *kv = &s->kv[i];
        const struct intake_option *o = lookup_option(s->kind, own, kv->key);
        const char *want = o ? expected(o, kv->value, eb, sizeof eb) : NULL;
        if (!o && strict)
            report(ld, kv->line, "unknown key '%s' in %s", echo(kv->key, kb), lb);
        else if (want)
            report(ld, kv->line, "bad value%s for '%s' in %s: expected %s",
                   quoted(kv, o, vb), kv->key, lb, want);
    }
}

/* Required keys must be there; an empty one is refused here when its type allows "". */
static void check_required(struct loader *ld, const struct intake_section *s,
                           const struct intake_option *t)
{
    char lb[NAME_LEN_MAX + 16];
    for (; t && t->name; t++) {
        const struct intake_kv *kv = t->required ? find_kv(s, t->name) : NULL;
        if (t->required && !kv)
            report(ld, s->line, "%s is missing required key '%s'", label(s, lb), t->name);
        else if (kv && kv->value[0] == '\0' && t->type == INTAKE_OPT_STRING)
            report(ld, kv->line, "required key '%s' in %s is empty", t->name, label(s, lb));
    }
}

/* One item of [policy] closures (n bytes at p, spaces around allowed) must be a date. */
static bool closure_ok(struct loader *ld, const struct intake_kv *kv, const char *p,
                       size_t n)
{
    char db[ECHO_MAX + 1], eb[ECHO_MAX + 4];
    while (n > 0 && is_space(*p))
        p++, n--;
    while (n > 0 && is_space(p[n - 1]))
        n--;
    if (valid_date(p, n))
        return true;
    n = n < ECHO_MAX ? n : ECHO_MAX;
    memcpy(db, p, n);
    db[n] = '\0';
    report(ld, kv->line, "bad date '%s' in 'closures' of [policy]: expected comma-separated "
           "YYYY-MM-DD dates", kv->from_env ? "(from the environment)" : echo(db, eb));
    return false;
}

/* [policy] closures: comma-separated YYYY-MM-DD, or nothing. */
/* The time zone must be one the system's tz database knows: glibc silently takes UTC for
 * an unknown name, which would date items a day early around midnight. */
static void check_timezone(struct loader *ld, const struct intake_section *s)
{
    const struct intake_kv *kv = find_kv(s, "timezone");
    if (!kv)
        return;
    const char *tz = kv->value;
    char path[512];
    bool shape = *tz && strlen(tz) < 200 && tz[0] != '/' && !strstr(tz, "..");
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", shape ? tz : "");
    struct stat st;
    if (shape && stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return;
    report(ld, kv->line, "unknown time zone in 'timezone' of [policy]: expected a tz database "
           "name such as Europe/London (is the tzdata package installed?)");
}

static void check_policy(struct loader *ld, const struct intake_section *s)
{
    check_timezone(ld, s);
    const struct intake_kv *kv = find_kv(s, "closures");
    const char *p = kv ? kv->value + strspn(kv->value, " \t") : "";
    for (bool more = *p != '\0'; more;) {
        size_t n = strcspn(p, ",");
        if (!closure_ok(ld, kv, p, n))
            return;
        more = p[n] == ',';
        p += n + more;
    }
}

/* [rules] case_reference compiles and has at most one capturing group. */
static void check_rules(struct loader *ld, const struct intake_section *s)
{
    const struct intake_kv *kv = find_kv(s, "case_reference");
    char err[256];
    intake_recorder *r = kv ? intake_recorder_new_with(kv->value, err, sizeof err) : NULL;
    if (kv && !r)
        report(ld, kv->line, "bad 'case_reference' in [rules]: %s", err);
    intake_recorder_free(r);
}

/* [sink] retry_min_delay <= retry_max_delay. */
static void check_retry_delays(struct loader *ld, const struct intake_section *s)
{
    char lb[NAME_LEN_MAX + 16];
    long lo = intake_config_get_int(s, "retry_min_delay", 1);
    long hi = intake_config_get_int(s, "retry_max_delay", 1);
    const struct intake_kv *kv = find_kv(s, "retry_min_delay");
    if (!kv)
        kv = find_kv(s, "retry_max_delay");
    if (lo > hi)
        report(ld, kv ? kv->line : s->line, "retry_min_delay (%ld) is greater than "
               "retry_max_delay (%ld) in %s", lo, hi, label(s, lb));
}

static void check_plugin(struct loader *ld, struct intake_section *s)
{
    char types[256], lb[NAME_LEN_MAX + 16], vb[ECHO_MAX + 8];
    const struct intake_option *own = NULL;
    plugin_check check = NULL;
    const struct intake_kv *t = find_kv(s, "type");
    list_types(s->kind, types, sizeof types);
    label(s, lb);
    if (!t)
        report(ld, s->line, "%s has no type (%s types: %s)", lb, s->kind, types);
    else if (!find_plugin(s->kind, t->value, &own, &check))
        report(ld, t->line, "unknown %s type%s in %s (%s types: %s)", s->kind,
               quoted(t, NULL, vb), lb, s->kind, types);
    if (!own) {
        check_keys(ld, s, NULL, false);
        return;
    }
    s->options = own;
    int before = ld->errors;
    check_keys(ld, s, own, true);
    check_required(ld, s, strcmp(s->kind, "source") == 0 ? intake_source_common_options
                                                          : intake_sink_common_options);
    check_required(ld, s, own);
    if (ld->errors == before && strcmp(s->kind, "sink") == 0)
        check_retry_delays(ld, s);
    if (ld->errors == before && check && check(ld->cfg, s, ld->diag) != 0)
        ld->errors++;
}

static void check_section(struct loader *ld, struct intake_section *s)
{
    if (is_plugin_kind(s->kind)) {
        check_plugin(ld, s);
        return;
    }
    const struct core_kind *k = find_core(s->kind);
    int before = ld->errors;
    s->options = k->options;
    check_keys(ld, s, k->options, true);
    check_required(ld, s, k->options);
    if (ld->errors == before && k->check)
        k->check(ld, s);
}

/* Core sections the file does not have are added empty, for their defaults. */
static void add_missing_core(struct loader *ld)
{
    for (const struct core_kind *k = core_kinds; k->kind && !ld->oom; k++)
        if (!intake_config_section(ld->cfg, k->kind, NULL))
            add_section(ld, k->kind, NULL, 0);
}

static char *join_path(const char *dir, const char *rel);

/* ---- loading ------------------------------------------------------------------------ */

/* The working directory, owned by the caller; NULL on failure. */
static char *current_dir(void)
{
    for (size_t len = 256; len <= 65536; len *= 2) {
        char *buf = malloc(len);
        if (!buf || getcwd(buf, len))
            return buf;
        free(buf);
        if (errno != ERANGE)
            return NULL;
    }
    return NULL;
}

/* cfg->dir: the folder of cfg->path, made absolute (symbolic links are kept). */
static int set_dir(intake_config *cfg)
{
    char *copy = strdup(cfg->path);
    char *slash = copy ? strrchr(copy, '/') : NULL;
    if (slash)
        slash[slash == copy] = '\0';
    if (slash && copy[0] == '/')
        cfg->dir = strdup(copy);
    else if (copy) {
        char *cwd = current_dir();
        cfg->dir = cwd && slash ? join_path(cwd, copy) : cwd;
        if (cfg->dir != cwd)
            free(cwd);
    }
    free(copy);
    return cfg->dir ? 0 : -1;
}

static void parse(struct loader *ld)
{
    int rc = ini_parse_stream(read_line, ld, on_value, ld);
    if (rc > 0)
        report(ld, rc, "expected key = value, [section] or a comment");
    else if (rc == -2)
        ld->oom = true;
    if (ferror(ld->f))
        report(ld, 0, "read error");
}

int intake_config_load(const char *path, intake_config **out, intake_diag *diag)
{
    *out = NULL;
    struct loader ld = {.diag = diag, .cur = NO_SECTION};
    ld.cfg = calloc(1, sizeof *ld.cfg);
    if (!ld.cfg || !(ld.cfg->path = strdup(path))) {
        free(ld.cfg);
        intake_diag_add(diag, "%s: out of memory", path);
        return -1;
    }
    ld.f = fopen(path, "r");
    if (!ld.f || set_dir(ld.cfg) != 0) {
        intake_diag_add(diag, "%s: %s: %s", path, ld.f ? "cannot resolve its folder"
                        : "cannot open", strerror(errno));
        if (ld.f)
            fclose(ld.f);
        intake_config_free(ld.cfg);
        return -1;
    }
    parse(&ld);
    fclose(ld.f);
    if (!ld.oom)
        add_missing_core(&ld);
    for (size_t i = 0; i < ld.cfg->nsections && !ld.oom; i++)
        check_section(&ld, &ld.cfg->sections[i]);
    if (ld.oom)
        intake_diag_add(diag, "%s: out of memory", path);
    if (ld.oom || ld.errors > 0) {
        intake_config_free(ld.cfg);
        return -1;
    }
    *out = ld.cfg;
    return 0;
}

void intake_config_free(intake_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nsections; i++) {
        struct intake_section *s = &cfg->sections[i];
        for (size_t j = 0; j < s->nkv; j++) {
            free(s->kv[j].key);
            free(s->kv[j].value);
        }
        free(s->kv);
        free(s->kind);
        free(s->name);
    }
    free(cfg->sections);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

/* ---- reading values ----------------------------------------------------------------- */

const struct intake_section *intake_config_section(const intake_config *cfg,
                                                    const char *kind, const char *name)
{
    for (size_t i = 0; cfg && kind && i < cfg->nsections; i++) {
        const struct intake_section *s = &cfg->sections[i];
        if (strcmp(s->kind, kind) == 0 && (!name || (s->name && strcmp(s->name, name) == 0)))
            return s;
    }
    return NULL;
}

const char *intake_config_get(const struct intake_section *s, const char *key)
{
    if (!s || !key)
        return NULL;
    const struct intake_kv *kv = find_kv(s, key);
    if (kv)
        return kv->value;
    const struct intake_option *o = lookup_option(s->kind, s->options, key);
    return o ? o->def : NULL;
}

long intake_config_get_int(const struct intake_section *s, const char *key, long fallback)
{
    const char *v = intake_config_get(s, key);
    long n;
    return v && parse_long(v, &n) ? n : fallback;
}

bool intake_config_get_bool(const struct intake_section *s, const char *key, bool fallback)
{
    const char *v = intake_config_get(s, key);
    bool b;
    return v && parse_bool(v, &b) ? b : fallback;
}

/* rel when absolute, else dir/rel. Owned by the caller. */
static char *join_path(const char *dir, const char *rel)
{
    if (rel[0] == '/')
        return strdup(rel);
    size_t dl = strlen(dir), len = dl + strlen(rel) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", rel);
    return p;
}

char *intake_config_get_path(const intake_config *cfg, const struct intake_section *s,
                             const char *key)
{
    const char *v = intake_config_get(s, key);
    return cfg && v && *v ? join_path(cfg->dir, v) : NULL;
}

char *intake_config_rules_dir(const intake_config *cfg)
{
    const char *v = intake_config_get(intake_config_section(cfg, "rules", NULL), "path");
    if (cfg && v && *v)
        return join_path(cfg->dir, v);
    const char *env = getenv("INTAKE_RULES_DIR");
    return strdup(env && *env ? env : INTAKE_RULES_DIR);
}

char *intake_config_get_rules_path(const intake_config *cfg, const struct intake_section *s,
                                   const char *key)
{
    const char *v = intake_config_get(s, key);
    if (!v || !*v)
        return NULL;
    if (v[0] == '/')
        return strdup(v);
    char *dir = intake_config_rules_dir(cfg);
    char *p = dir ? join_path(dir, v) : NULL;
    free(dir);
    return p;
}

/* "<rules folder>/templates/<name>"; NULL when out of memory. */
static char *rules_template(const intake_config *cfg, const char *name)
{
    char *dir = intake_config_rules_dir(cfg), *out = NULL;
    size_t n = dir ? strlen(dir) + strlen(name) + sizeof "/templates/" : 0;
    if (n && (out = malloc(n)) != NULL)
        snprintf(out, n, "%s/templates/%s", dir, name);
    free(dir);
    return out;
}

char *intake_config_find_template(const intake_config *cfg, const char *name)
{
    if (name[0] == '/')
        return strdup(name);
    char *p = join_path(cfg->dir, name);
    if (p && access(p, F_OK) == 0)
        return p;
    char *alt = rules_template(cfg, name);
    if (alt && access(alt, F_OK) == 0) {
        free(p);
        return alt;
    }
    free(alt);
    return p;
}

char *intake_config_get_template_path(const intake_config *cfg, const struct intake_section *s,
                                      const char *key)
{
    const char *raw = intake_config_get(s, key);
    return raw && raw[0] ? intake_config_find_template(cfg, raw) : NULL;
}
