/*
 * Reader of the redactor's pattern files (the .pii files of rules/redact): one detector per block.
 * The format is documented in rules/redact/README.md. Patterns are compiled later, in
 * redact.c, once every file is read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/normalise.h"
#include "redact_check.h"
#include "redact_rules.h"
#include "ruledir.h"
#include "textutil.h"

#define MAX_DIGITS_NEED 1000
#define MAX_GROUP 99
#define MAX_EXPANDED (64 * 1024) /* longest pattern after {{NAME}} expansion */

/* A 'define NAME TEXT' line: {{NAME}} in later patterns of the same file becomes TEXT. */
struct define {
    char *name;  /* owned */
    char *value; /* owned, already expanded */
};

struct pstate {
    intake_redactor *r;
    const char *file;
    int line;
    struct pii_detector *cur; /* detector being read, or NULL outside a block */
    struct define *defs;      /* owned */
    size_t ndefs;
    int problems;
    bool oom;
    intake_diag *diag;
};

static void problem(struct pstate *ps, int line, const char *what, const char *detail)
{
    ps->problems++;
    if (intake_diag_add(ps->diag, "%s:%d: %s%s%s", ps->file, line, what,
                        detail ? ": " : "", detail ? detail : "") != 0)
        ps->oom = true;
}

static char *dup_or_oom(struct pstate *ps, const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (d == NULL)
        ps->oom = true;
    return d;
}

/* Checks that a finished block has everything a detector needs. */
static void finish_detector(struct pstate *ps)
{
    struct pii_detector *d = ps->cur;
    ps->cur = NULL;
    if (d == NULL)
        return;
    bool pos = false, neg = false;
    for (size_t i = 0; i < d->nex; i++) {
        pos = pos || d->ex[i].positive;
        neg = neg || !d->ex[i].positive;
    }
    if (d->describe == NULL)
        problem(ps, d->line, "detector has no 'describe' line", d->name);
    if (d->type < 0)
        problem(ps, d->line, "detector has no 'type' line", d->name);
    if (d->npats == 0)
        problem(ps, d->line, "detector has no 'pattern' line", d->name);
    if (!pos || !neg)
        problem(ps, d->line, "detector needs at least one 'example+' and one 'example-'",
                d->name);
}

static bool valid_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static bool name_taken(const intake_redactor *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->det[i].name, name) == 0)
            return true;
    return false;
}

static void start_detector(struct pstate *ps, const char *name)
{
    finish_detector(ps);
    intake_redactor *r = ps->r;
    if (!valid_name(name)) {
        problem(ps, ps->line, "a detector name is letters, digits and '_'", name);
        return;
    }
    if (name_taken(r, name)) {
        problem(ps, ps->line, "duplicate detector name", name);
        return;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct pii_detector *det = realloc(r->det, cap * sizeof *det);
        if (det == NULL) {
            ps->oom = true;
            return;
        }
        r->det = det;
        r->cap = cap;
    }
    struct pii_detector *d = &r->det[r->n];
    *d = (struct pii_detector){.file = ps->file, .line = ps->line, .type = -1, .check = -1};
    d->name = dup_or_oom(ps, name, strlen(name));
    if (d->name == NULL)
        return;
    r->n++;
    ps->cur = d;
}

static const struct define *find_define(const struct pstate *ps, const char *name, size_t n)
{
    for (size_t i = 0; i < ps->ndefs; i++)
        if (strlen(ps->defs[i].name) == n && memcmp(ps->defs[i].name, name, n) == 0)
            return &ps->defs[i];
    return NULL;
}

/* Expands every {{NAME}} in n bytes at s. Returns a new string, or NULL after reporting
 * an unknown name or an over-long result (or when memory runs out). */
static char *expand(struct pstate *ps, const char *s, size_t n)
{
    intake_buf b = {0};
    int rc = intake_buf_reserve(&b, n);
    for (size_t i = 0; i < n && rc == 0;) {
        const char *open = i + 1 < n ? strstr(s + i, "{{") : NULL;
        const char *close = open && open < s + n ? strstr(open + 2, "}}") : NULL;
        if (close == NULL || close + 2 > s + n) {
            rc = intake_buf_append(&b, s + i, n - i);
            break;
        }
        const struct define *def = find_define(ps, open + 2, (size_t)(close - open - 2));
        if (def == NULL) {
            problem(ps, ps->line, "unknown {{NAME}} (define it above, in the same file)",
                    NULL);
            rc = 1;
        } else {
            rc = intake_buf_append(&b, s + i, (size_t)(open - s) - i) ||
                 intake_buf_append(&b, def->value, strlen(def->value));
            i = (size_t)(close + 2 - s);
        }
        if (rc == 0 && b.len > MAX_EXPANDED) {
            problem(ps, ps->line, "pattern too long after {{NAME}} expansion", NULL);
            rc = 1;
        }
    }
    if (rc < 0)
        ps->oom = true;
    if (rc != 0)
        intake_buf_free(&b);
    return rc == 0 ? b.data : NULL;
}

static void parse_define(struct pstate *ps, const char *value)
{
    finish_detector(ps);
    size_t nlen = strcspn(value, " \t");
    const char *text = value + nlen + strspn(value + nlen, " \t");
    char *name = dup_or_oom(ps, value, nlen);
    if (name == NULL)
        return;
    if (!valid_name(name) || *text == '\0' || find_define(ps, name, nlen) != NULL) {
        problem(ps, ps->line, "expected 'define NAME TEXT' with a new NAME", name);
        free(name);
        return;
    }
    char *expanded = expand(ps, text, strlen(text));
    struct define *defs = expanded ? realloc(ps->defs, (ps->ndefs + 1) * sizeof *defs) : NULL;
    if (defs == NULL) {
        ps->oom = ps->oom || expanded != NULL;
        free(name);
        free(expanded);
        return;
    }
    ps->defs = defs;
    defs[ps->ndefs++] = (struct define){name, expanded};
}

static void parse_pattern(struct pstate *ps, struct pii_detector *d, const char *value)
{
    const char *last = strrchr(value, '/');
    if (value[0] != '/' || last == value) {
        problem(ps, ps->line, "a pattern is written between slashes: /.../", NULL);
        return;
    }
    const char *opts = last + 1;
    if (strcmp(opts, "") != 0 && strcmp(opts, "c") != 0) {
        problem(ps, ps->line, "the only pattern option is 'c' (match case)", opts);
        return;
    }
    if (last == value + 1) {
        problem(ps, ps->line, "empty pattern", NULL);
        return;
    }
    struct pii_pattern *p = realloc(d->pats, (d->npats + 1) * sizeof *p);
    if (p == NULL) {
        ps->oom = true;
        return;
    }
    d->pats = p;
    char *src = expand(ps, value + 1, (size_t)(last - value - 1));
    if (src != NULL)
        p[d->npats++] = (struct pii_pattern){.src = src, .match_case = *opts == 'c',
                                             .line = ps->line};
}

/* Parses a whole decimal number in [lo, hi]. Returns true and sets *out when it is one. */
static bool parse_uint(const char *s, unsigned long lo, unsigned long hi, uint32_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (uint32_t)v;
    return true;
}

static void add_any_word(struct pstate *ps, const char *w, size_t n)
{
    intake_redactor *r = ps->r;
    struct anyword *words = realloc(r->words, (r->nwords + 1) * sizeof *words);
    if (words == NULL) {
        ps->oom = true;
        return;
    }
    r->words = words;
    char *text = dup_or_oom(ps, w, n);
    if (text == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        text[i] = (char)textutil_lower((unsigned char)text[i]);
    words[r->nwords++] = (struct anyword){.text = text, .len = n};
    r->groups[r->ngroups - 1].n++;
}

/* 'needs any WORD...': the text must hold one of the words (ASCII case ignored). */
static void parse_needs_any(struct pstate *ps, struct pii_detector *d, const char *words)
{
    intake_redactor *r = ps->r;
    uint32_t *any = realloc(d->any, (d->nany + 1) * sizeof *any);
    if (any != NULL)
        d->any = any;
    struct pii_group *groups = any ? realloc(r->groups, (r->ngroups + 1) * sizeof *groups)
                                   : NULL;
    if (groups == NULL) {
        ps->oom = true;
        return;
    }
    r->groups = groups;
    groups[r->ngroups] = (struct pii_group){.first = (uint32_t)r->nwords, .n = 0};
    any[d->nany++] = r->ngroups++;
    for (const char *p = words; *p && !ps->oom;) {
        size_t n = strcspn(p, " \t");
        if (n > 0)
            add_any_word(ps, p, n);
        p += n;
        p += strspn(p, " \t");
    }
    if (groups[r->ngroups - 1].n == 0)
        problem(ps, ps->line, "'needs any' takes one or more words", NULL);
}

static void parse_needs(struct pstate *ps, struct pii_detector *d, const char *value)
{
    size_t klen = strcspn(value, " \t");
    const char *arg = value + klen + strspn(value + klen, " \t");
    if (klen == 6 && strncmp(value, "digits", 6) == 0) {
        if (!parse_uint(arg, 1, MAX_DIGITS_NEED, &d->min_digits))
            problem(ps, ps->line, "'needs digits N' takes a number from 1 to 1000", arg);
    } else if (klen == 3 && strncmp(value, "run", 3) == 0) {
        if (!parse_uint(arg, 1, MAX_DIGITS_NEED, &d->min_run))
            problem(ps, ps->line, "'needs run N' takes a number from 1 to 1000", arg);
    } else if (klen == 5 && strncmp(value, "block", 5) == 0) {
        if (!parse_uint(arg, 1, MAX_DIGITS_NEED, &d->min_block))
            problem(ps, ps->line, "'needs block N' takes a number from 1 to 1000", arg);
    } else if (klen == 12 && strncmp(value, "letter-digit", 12) == 0 && *arg == '\0') {
        d->letter_digit = true;
    } else if (klen == 3 && strncmp(value, "any", 3) == 0) {
        parse_needs_any(ps, d, arg);
    } else {
        problem(ps, ps->line,
                "unknown need (digits N, run N, block N, letter-digit, any WORD...)", value);
    }
}

/* Decodes \n, \t and \\ in an example's text. Returns a new string, or NULL (oom). */
static char *unescape(struct pstate *ps, const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL) {
        ps->oom = true;
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && strchr("nt\\", s[i + 1])) {
            i++;
            c = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : '\\';
        }
        out[k++] = c;
    }
    out[k] = '\0';
    return out;
}

/* Finds the last " => " of an example+ line. */
static const char *find_arrow(const char *s)
{
    const char *hit = NULL;
    for (const char *p = strstr(s, " => "); p; p = strstr(p + 1, " => "))
        hit = p;
    return hit;
}

static void add_example(struct pstate *ps, struct pii_detector *d, const char *value,
                        bool positive)
{
    const char *arrow = positive ? find_arrow(value) : NULL;
    if (positive && (arrow == NULL || arrow[4] == '\0')) {
        problem(ps, ps->line, "an example+ is 'TEXT => SPAN'", NULL);
        return;
    }
    struct pii_example *ex = realloc(d->ex, (d->nex + 1) * sizeof *ex);
    if (ex == NULL) {
        ps->oom = true;
        return;
    }
    d->ex = ex;
    size_t tlen = arrow ? (size_t)(arrow - value) : strlen(value);
    char *text = unescape(ps, value, tlen);
    char *span = arrow ? unescape(ps, arrow + 4, strlen(arrow + 4)) : NULL;
    if (text == NULL || (arrow && span == NULL)) {
        free(text);
        free(span);
        return;
    }
    if (span && strstr(text, span) == NULL)
        problem(ps, ps->line, "the span after '=>' is not part of the example's text", NULL);
    ex[d->nex++] = (struct pii_example){text, span, positive, ps->line};
}

static bool once(struct pstate *ps, bool already, const char *key)
{
    if (already)
        problem(ps, ps->line, "repeated key in one detector", key);
    return !already;
}

static void parse_type(struct pstate *ps, struct pii_detector *d, const char *value)
{
    int t = intake_pii_type_from_name(value);
    if (t < 0)
        problem(ps, ps->line,
                "unknown type (person, phone, email, postcode, address, nino, bank, card, "
                "dob)", value);
    else if (once(ps, d->type >= 0, "type"))
        d->type = t;
}

static void parse_check(struct pstate *ps, struct pii_detector *d, const char *value)
{
    int c = pii_check_find(value);
    if (c < 0) {
        char known[96];
        snprintf(known, sizeof known, "unknown check (known: %s)", pii_check_list());
        problem(ps, ps->line, known, value);
    } else if (once(ps, d->check >= 0, "check")) {
        d->check = c;
    }
}

/* 'group N [N...]': the capture groups the span is made of. */
static void parse_group(struct pstate *ps, struct pii_detector *d, const char *value)
{
    if (!once(ps, d->ngroup > 0, "group"))
        return;
    char *copy = dup_or_oom(ps, value, strlen(value));
    char *save = NULL;
    for (char *g = copy ? strtok_r(copy, " \t", &save) : NULL; g;
         g = strtok_r(NULL, " \t", &save)) {
        if (d->ngroup == PII_MAX_SPAN_GROUPS ||
            !parse_uint(g, 0, MAX_GROUP, &d->group[d->ngroup])) {
            problem(ps, ps->line, "'group' takes one to 8 capture group numbers (0 to 99)", g);
            break;
        }
        d->ngroup++;
    }
    free(copy);
}

/* Parses a class of ASCII bytes, "[A-Za-z0-9._-]": single bytes and ranges, a '-' first
 * or last stands for itself. Sets the bits of the bytes in set. Returns false when s is
 * not such a class (nothing else may follow it). */
static bool parse_byte_class(const char *s, uint8_t set[32])
{
    size_t n = strlen(s);
    if (n < 3 || s[0] != '[' || s[n - 1] != ']')
        return false;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char a = (unsigned char)s[i], b = a;
        if (i + 3 < n && s[i + 1] == '-') {
            b = (unsigned char)s[i + 2];
            i += 2;
        }
        if (a <= ' ' || b >= 0x7f || b < a)
            return false;
        for (unsigned c = a; c <= b; c++)
            set[c >> 3] |= (uint8_t)(1u << (c & 7));
    }
    return true;
}

/* 'anchor C N [CLASS]': every match starts at most N bytes before the character C, and
 * with CLASS exactly where the run of CLASS bytes that ends at that C starts. */
static void parse_anchor(struct pstate *ps, struct pii_detector *d, const char *value)
{
    if (!once(ps, d->anchor != '\0', "anchor"))
        return;
    unsigned char c = (unsigned char)value[0];
    char num[16] = "";
    const char *rest = value + 1 + strspn(value + 1, " \t");
    size_t len = strcspn(rest, " \t");
    const char *cls = rest + len + strspn(rest + len, " \t");
    if (len < sizeof num)
        memcpy(num, rest, len), num[len] = '\0';
    if (c <= ' ' || c >= 0x7f || (value[1] != ' ' && value[1] != '\t') || len >= sizeof num ||
        !parse_uint(num, 1, MAX_DIGITS_NEED, &d->anchor_back) ||
        (*cls != '\0' && !parse_byte_class(cls, d->run_class))) {
        problem(ps, ps->line,
                "expected 'anchor C N [CLASS]': one ASCII character, a number of bytes, and "
                "optionally a class of ASCII bytes such as [A-Za-z0-9._-]",
                value);
        return;
    }
    d->anchor = (char)c;
    d->anchor_run = *cls != '\0';
}

static void detector_key(struct pstate *ps, const char *key, const char *value)
{
    struct pii_detector *d = ps->cur;
    if (d == NULL) {
        problem(ps, ps->line, "key outside a detector block (start one with 'detector NAME')",
                key);
    } else if (*value == '\0') {
        problem(ps, ps->line, "key without a value", key);
    } else if (strcmp(key, "describe") == 0) {
        if (once(ps, d->describe != NULL, key))
            d->describe = dup_or_oom(ps, value, strlen(value));
    } else if (strcmp(key, "type") == 0) {
        parse_type(ps, d, value);
    } else if (strcmp(key, "pattern") == 0) {
        parse_pattern(ps, d, value);
    } else if (strcmp(key, "needs") == 0) {
        parse_needs(ps, d, value);
    } else if (strcmp(key, "check") == 0) {
        parse_check(ps, d, value);
    } else if (strcmp(key, "group") == 0) {
        parse_group(ps, d, value);
    } else if (strcmp(key, "anchor") == 0) {
        parse_anchor(ps, d, value);
    } else if (strcmp(key, "example+") == 0 || strcmp(key, "example-") == 0) {
        add_example(ps, d, value, key[7] == '+');
    } else {
        problem(ps, ps->line,
                "unknown key (describe, type, pattern, needs, check, group, anchor, "
                "example+, example-)", key);
    }
}

/* One "key value" line (ruledir_line_fn): a new detector, a define or a detector key. */
static bool parse_line(void *ud, int line, char *key, char *value)
{
    struct pstate *ps = ud;
    ps->line = line;
    if (strcmp(key, "detector") == 0)
        start_detector(ps, value);
    else if (strcmp(key, "define") == 0)
        parse_define(ps, value);
    else
        detector_key(ps, key, value);
    return !ps->oom;
}

int redact_parse_text(intake_redactor *r, const char *file, const char *text,
                      intake_diag *diag)
{
    struct pstate ps = {.r = r, .file = file, .diag = diag};
    if (ruledir_each_line(text, parse_line, &ps) < 0)
        return -1;
    finish_detector(&ps);
    for (size_t i = 0; i < ps.ndefs; i++) {
        free(ps.defs[i].name);
        free(ps.defs[i].value);
    }
    free(ps.defs);
    return ps.oom ? -1 : ps.problems;
}
