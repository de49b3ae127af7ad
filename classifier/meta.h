/*
 * Meta-rule expressions (internal to the classifier): rule names combined with &&, || and
 * !, with parentheses. Parsed once into a small tree of nodes, names resolved to rule
 * indices after every rule file is read, then evaluated against the fired-rule bitmap.
 */
#ifndef INTAKE_META_H
#define INTAKE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct meta_expr meta_expr;

/* Parses `src` (borrowed). Returns the expression (the caller owns it; meta_free), or
 * NULL with a short reason in err (errlen bytes) on a syntax error or when memory runs
 * out. */
meta_expr *meta_parse(const char *src, char *err, size_t errlen);

/* Frees an expression. NULL is allowed. */
void meta_free(meta_expr *m);

/* Number of rule names the expression refers to, and the i-th one (owned by m). */
size_t meta_name_count(const meta_expr *m);
const char *meta_name(const meta_expr *m, size_t i);

/* Binds the i-th name to rule index `rule`. */
void meta_bind(meta_expr *m, size_t i, uint32_t rule);

/* The rule index the i-th name was bound to. */
uint32_t meta_bound(const meta_expr *m, size_t i);

/* Evaluates the expression: a name is true when its rule's bit is set in `fired`. */
bool meta_eval(const meta_expr *m, const uint64_t *fired);

#endif
