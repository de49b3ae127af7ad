/*
 * Rule-file reader: turns the text of one *.rules file into rule records and settings.
 * The format is documented in rules/README.md. Patterns are compiled later
 * (ruleset_compile), once every file is read, so that meta rules can refer to rules in
 * any file.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ruledir.h"
#include "ruleset.h"
#include "textutil.h"

#define MAX_WEIGHT 100.0

struct pstate {
    intake_ruleset *rs;
    const char *file;
    int line;
    struct rule *cur; /* rule being read, or NULL outside a block */
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

static const char *const field_names[] = {
    [FIELD_SUBJECT] = "subject", [FIELD_BODY] = "body",       [FIELD_TEXT] = "text",
    [FIELD_FROM] = "from",       [FIELD_FROM_NAME] = "from_name", [FIELD_CHANNEL] = "channel",
    [FIELD_PUBLIC] = "public",
};

static enum rule_field field_from_name(const char *s)
{
    for (int i = 0; i < FIELD_NONE; i++)
        if (strcmp(s, field_names[i]) == 0)
            return (enum rule_field)i;
    return FIELD_NONE;
}

/* Checks that a finished block has everything a rule needs. */
static void finish_rule(struct pstate *ps)
{
    struct rule *r = ps->cur;
    ps->cur = NULL;
    if (r == NULL)
        return;
    bool pos = false, neg = false;
    for (size_t i = 0; i < r->nexamples; i++) {
        pos = pos || r->examples[i].positive;
        neg = neg || !r->examples[i].positive;
    }
    if (r->describe == NULL)
        problem(ps, r->line, "rule has no 'describe' line", r->name);
    if (!r->has_score)
        problem(ps, r->line, "rule has no 'score' line", r->name);
    if (r->pattern == NULL && r->meta_src == NULL)
        problem(ps, r->line, "rule needs a 'match' or a 'meta' line", r->name);
    if (r->pattern != NULL && r->field == FIELD_NONE)
        problem(ps, r->line, "rule has a 'match' but no 'field' line", r->name);
    if (r->meta_src != NULL && r->field != FIELD_NONE)
        problem(ps, r->line, "a meta rule takes no 'field' line", r->name);
    if (!pos || !neg)
        problem(ps, r->line, "rule needs at least one 'example+' and one 'example-'", r->name);
}

static bool valid_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!textutil_is_alnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static void start_rule(struct pstate *ps, const char *name)
{
    finish_rule(ps);
    intake_ruleset *rs = ps->rs;
    if (!valid_name(name)) {
        problem(ps, ps->line, "a rule name is letters, digits and '_'", name);
        return;
    }
    if (ruleset_find(rs, name) >= 0) {
        problem(ps, ps->line, "duplicate rule name", name);
        return;
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        struct rule *rules = realloc(rs->rules, cap * sizeof *rules);
        if (rules == NULL) {
            ps->oom = true;
            return;
        }
        rs->rules = rules;
        rs->cap = cap;
    }
    struct rule *r = &rs->rules[rs->n];
    *r = (struct rule){.file = ps->file, .line = ps->line, .field = FIELD_NONE};
    r->name = dup_or_oom(ps, name, strlen(name));
    if (r->name == NULL)
        return;
    rs->n++;
    ps->cur = r;
}

static void apply_setting(struct pstate *ps, const char *value)
{
    finish_rule(ps);
    const char *sp = strchr(value, ' ');
    if (sp == NULL) {
        problem(ps, ps->line, "expected 'set NAME VALUE'", NULL);
        return;
    }
    size_t nlen = (size_t)(sp - value);
    const char *v = sp + 1;
    while (*v == ' ')
        v++;
    if (nlen == 16 && strncmp(value, "default_category", nlen) == 0) {
        int t = intake_target_from_name(v);
        if (t < 0 || t >= INTAKE_CAT_COUNT)
            problem(ps, ps->line, "unknown category", v);
        else
            ps->rs->default_category = t;
    } else if (nlen == 14 && strncmp(value, "flag_threshold", nlen) == 0) {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || *end != '\0' || !(d > 0) || d > MAX_WEIGHT)
            problem(ps, ps->line, "flag_threshold must be a number above 0", v);
        else
            ps->rs->flag_threshold = d;
    } else {
        problem(ps, ps->line, "unknown setting (known: default_category, flag_threshold)",
                NULL);
    }
}

/* Parses one "target weight" pair of a score line into r. */
static void parse_score_item(struct pstate *ps, struct rule *r, char *item)
{
    char *save = NULL;
    char *name = strtok_r(item, " \t", &save);
    char *num = strtok_r(NULL, " \t", &save);
    char *extra = strtok_r(NULL, " \t", &save);
    if (name == NULL || num == NULL || extra != NULL) {
        problem(ps, ps->line, "score items are 'target weight', separated by commas", NULL);
        return;
    }
    int t = intake_target_from_name(name);
    if (t < 0) {
        problem(ps, ps->line, "unknown category or flag in score", name);
        return;
    }
    char *end;
    errno = 0;
    double w = strtod(num, &end);
    if (errno || *end != '\0' || !isfinite(w) || fabs(w) > MAX_WEIGHT) {
        problem(ps, ps->line, "score weight must be a number between -100 and 100", num);
        return;
    }
    r->weight[t] += w;
}

static void parse_score(struct pstate *ps, struct rule *r, const char *value)
{
    char *copy = dup_or_oom(ps, value, strlen(value));
    if (copy == NULL)
        return;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
        parse_score_item(ps, r, item);
    r->has_score = true;
    free(copy);
}

static void parse_match(struct pstate *ps, struct rule *r, const char *value)
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
    r->match_case = *opts == 'c';
    r->pattern = dup_or_oom(ps, value + 1, (size_t)(last - value - 1));
}

static void parse_meta(struct pstate *ps, struct rule *r, const char *value)
{
    char err[128];
    r->meta = meta_parse(value, err, sizeof err);
    if (r->meta == NULL) {
        problem(ps, ps->line, "bad meta expression", err);
        return;
    }
    r->meta_src = dup_or_oom(ps, value, strlen(value));
}

static void add_example(struct pstate *ps, struct rule *r, const char *value, bool positive)
{
    struct example *ex = realloc(r->examples, (r->nexamples + 1) * sizeof *ex);
    if (ex == NULL) {
        ps->oom = true;
        return;
    }
    r->examples = ex;
    char *text = dup_or_oom(ps, value, strlen(value));
    if (text == NULL)
        return;
    ex[r->nexamples++] = (struct example){.text = text, .positive = positive, .line = ps->line};
}

static bool once(struct pstate *ps, bool already, const char *key)
{
    if (already)
        problem(ps, ps->line, "repeated key in one rule", key);
    return !already;
}

static void rule_key(struct pstate *ps, const char *key, const char *value)
{
    struct rule *r = ps->cur;
    if (r == NULL) {
        problem(ps, ps->line, "key outside a rule block (start one with 'rule NAME')", key);
        return;
    }
    if (*value == '\0') {
        problem(ps, ps->line, "key without a value", key);
    } else if (strcmp(key, "describe") == 0) {
        if (once(ps, r->describe != NULL, key))
            r->describe = dup_or_oom(ps, value, strlen(value));
    } else if (strcmp(key, "field") == 0) {
        enum rule_field f = field_from_name(value);
        if (f == FIELD_NONE)
            problem(ps, ps->line,
                    "unknown field (subject, body, text, from, from_name, channel, public)",
                    value);
        else if (once(ps, r->field != FIELD_NONE, key))
            r->field = f;
    } else if (strcmp(key, "match") == 0) {
        if (once(ps, r->pattern != NULL, key))
            parse_match(ps, r, value);
    } else if (strcmp(key, "meta") == 0) {
        if (once(ps, r->meta != NULL, key))
            parse_meta(ps, r, value);
    } else if (strcmp(key, "score") == 0) {
        parse_score(ps, r, value);
    } else if (strcmp(key, "example+") == 0 || strcmp(key, "example-") == 0) {
        add_example(ps, r, value, key[7] == '+');
    } else {
        problem(ps, ps->line,
                "unknown key (describe, field, match, meta, score, example+, example-)", key);
    }
}

/* One "key value" line (ruledir_line_fn): a new rule, a setting or a key of the rule. */
static bool parse_line(void *ud, int line, char *key, char *value)
{
    struct pstate *ps = ud;
    ps->line = line;
    if (strcmp(key, "rule") == 0)
        start_rule(ps, value);
    else if (strcmp(key, "set") == 0)
        apply_setting(ps, value);
    else
        rule_key(ps, key, value);
    return !ps->oom;
}

int ruleset_parse_text(intake_ruleset *rs, const char *file, const char *text,
                       intake_diag *diag)
{
    struct pstate ps = {.rs = rs, .file = file, .diag = diag};
    if (ruledir_each_line(text, parse_line, &ps) < 0)
        return -1;
    finish_rule(&ps);
    return ps.oom ? -1 : ps.problems;
}
