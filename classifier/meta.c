/* Meta-rule expressions: see meta.h. */
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textutil.h"

#define META_MAX_NODES 256
#define META_MAX_DEPTH 32

enum node_op { OP_NAME, OP_NOT, OP_AND, OP_OR };

struct node {
    enum node_op op;
    int a, b;       /* children (node indices) */
    size_t name;    /* OP_NAME: index into names */
};

struct meta_expr {
    struct node nodes[META_MAX_NODES];
    size_t nnodes;
    char **names;   /* owned */
    uint32_t *rule; /* bound rule index per name */
    size_t nnames;
    int root;
};

struct mparser {
    const char *p;
    meta_expr *m;
    char *err;
    size_t errlen;
    int depth;
    bool failed;
};

static void fail(struct mparser *ps, const char *why)
{
    if (!ps->failed)
        snprintf(ps->err, ps->errlen, "%s", why);
    ps->failed = true;
}

static void skip_blank(struct mparser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t')
        ps->p++;
}

static int new_node(struct mparser *ps, enum node_op op, int a, int b)
{
    if (ps->m->nnodes == META_MAX_NODES) {
        fail(ps, "expression too long");
        return -1;
    }
    ps->m->nodes[ps->m->nnodes] = (struct node){.op = op, .a = a, .b = b};
    return (int)ps->m->nnodes++;
}

static bool is_name_char(char c)
{
    return textutil_is_alnum((unsigned char)c) || c == '_';
}

static int parse_name(struct mparser *ps)
{
    const char *start = ps->p;
    while (is_name_char(*ps->p))
        ps->p++;
    if (ps->p == start) {
        fail(ps, "expected a rule name");
        return -1;
    }
    meta_expr *m = ps->m;
    char **names = realloc(m->names, (m->nnames + 1) * sizeof *names);
    uint32_t *rule = realloc(m->rule, (m->nnames + 1) * sizeof *rule);
    if (names != NULL)
        m->names = names;
    if (rule != NULL)
        m->rule = rule;
    char *name = strndup(start, (size_t)(ps->p - start));
    if (names == NULL || rule == NULL || name == NULL) {
        free(name);
        fail(ps, "out of memory");
        return -1;
    }
    m->names[m->nnames] = name;
    m->rule[m->nnames] = UINT32_MAX;
    int n = new_node(ps, OP_NAME, -1, -1);
    if (n >= 0)
        m->nodes[n].name = m->nnames;
    m->nnames++;
    return n;
}

static int parse_or(struct mparser *ps);

static int parse_unary(struct mparser *ps)
{
    skip_blank(ps);
    if (++ps->depth > META_MAX_DEPTH) {
        fail(ps, "expression nested too deeply");
        return -1;
    }
    int n;
    if (*ps->p == '!') {
        ps->p++;
        int a = parse_unary(ps);
        n = a < 0 ? -1 : new_node(ps, OP_NOT, a, -1);
    } else if (*ps->p == '(') {
        ps->p++;
        n = parse_or(ps);
        skip_blank(ps);
        if (n >= 0 && *ps->p != ')') {
            fail(ps, "missing ')'");
            n = -1;
        }
        ps->p += n >= 0;
    } else {
        n = parse_name(ps);
    }
    ps->depth--;
    return n;
}

static int parse_binary(struct mparser *ps, const char *tok, enum node_op op,
                        int (*operand)(struct mparser *))
{
    int left = operand(ps);
    for (;;) {
        skip_blank(ps);
        if (left < 0 || strncmp(ps->p, tok, 2) != 0)
            return left;
        ps->p += 2;
        int right = operand(ps);
        left = right < 0 ? -1 : new_node(ps, op, left, right);
    }
}

static int parse_and(struct mparser *ps)
{
    return parse_binary(ps, "&&", OP_AND, parse_unary);
}

static int parse_or(struct mparser *ps)
{
    return parse_binary(ps, "||", OP_OR, parse_and);
}

meta_expr *meta_parse(const char *src, char *err, size_t errlen)
{
    meta_expr *m = calloc(1, sizeof *m);
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct mparser ps = {.p = src, .m = m, .err = err, .errlen = errlen};
    m->root = parse_or(&ps);
    skip_blank(&ps);
    if (!ps.failed && *ps.p != '\0')
        fail(&ps, "unexpected text after the expression (use && || ! and parentheses)");
    if (ps.failed || m->root < 0) {
        meta_free(m);
        return NULL;
    }
    return m;
}

void meta_free(meta_expr *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nnames; i++)
        free(m->names[i]);
    free(m->names);
    free(m->rule);
    free(m);
}

size_t meta_name_count(const meta_expr *m)
{
    return m->nnames;
}

const char *meta_name(const meta_expr *m, size_t i)
{
    return m->names[i];
}

void meta_bind(meta_expr *m, size_t i, uint32_t rule)
{
    m->rule[i] = rule;
}

uint32_t meta_bound(const meta_expr *m, size_t i)
{
    return m->rule[i];
}

static bool eval_node(const meta_expr *m, int n, const uint64_t *fired)
{
    const struct node *nd = &m->nodes[n];
    switch (nd->op) {
    case OP_NAME: {
        uint32_t r = m->rule[nd->name];
        return (fired[r >> 6] >> (r & 63)) & 1;
    }
    case OP_NOT:
        return !eval_node(m, nd->a, fired);
    case OP_AND:
        return eval_node(m, nd->a, fired) && eval_node(m, nd->b, fired);
    case OP_OR:
        return eval_node(m, nd->a, fired) || eval_node(m, nd->b, fired);
    }
    return false;
}

bool meta_eval(const meta_expr *m, const uint64_t *fired)
{
    return eval_node(m, m->root, fired);
}
