/*
 * Reading rule folders (internal to the classifier library): the classifier's *.rules and
 * the redactor's *.pii files share the same file handling and line syntax ("key value"
 * lines, '#' comments, blank lines ignored).
 */
#ifndef INTAKE_RULEDIR_H
#define INTAKE_RULEDIR_H

#include <stdbool.h>
#include <stddef.h>

#include "intake/diag.h"

#define RULEDIR_FILE_MAX (4 * 1024 * 1024) /* bytes; larger rule files are refused */

/* Reads a whole text file of at most RULEDIR_FILE_MAX bytes into a new NUL-terminated
 * string, which the caller frees. Returns NULL with "path: cannot ..." in diag when the
 * file cannot be opened or read, is too large or holds a NUL byte. */
char *ruledir_read(const char *path, intake_diag *diag);

/* Lists the files of `dir` whose names end with `suffix` (names starting with '.' are
 * skipped) as "dir/name" paths in name order. Stores a new array in *paths and its length
 * in *n; the caller frees both with ruledir_free_list. Returns 0, 1 when the folder cannot
 * be opened (nothing reported: the caller says which folder it wanted), or -1 when memory
 * runs out. */
int ruledir_list(const char *dir, const char *suffix, char ***paths, size_t *n);

/* Frees what ruledir_list made. NULL is allowed. */
void ruledir_free_list(char **paths, size_t n);

/* Called once per "key value" line: `line` is its 1-based number; key and value are
 * trimmed (value may be ""), and writable until the next call. Returns false to stop. */
typedef bool (*ruledir_line_fn)(void *ud, int line, char *key, char *value);

/* Calls fn for every line of `text` that is neither blank nor a '#' comment. Returns 0,
 * or -1 when memory runs out. `text` is borrowed and not changed. */
int ruledir_each_line(const char *text, ruledir_line_fn fn, void *ud);

#endif
