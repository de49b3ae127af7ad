/* Diagnostics list: see include/intake/diag.h. */
#include "intake/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int intake_diag_add(intake_diag *d, const char *fmt, ...)
{
    if (d == NULL)
        return 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **lines = realloc(d->lines, cap * sizeof *lines);
        if (lines == NULL)
            return -1;
        d->lines = lines;
        d->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -1;
    char *line = malloc((size_t)len + 1);
    if (line == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(line, (size_t)len + 1, fmt, ap);
    va_end(ap);
    d->lines[d->n++] = line;
    return 0;
}

void intake_diag_clear(intake_diag *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    d->lines = NULL;
    d->n = d->cap = 0;
}
