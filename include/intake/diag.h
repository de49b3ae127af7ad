/*
 * Diagnostics: a growable list of owned message lines ("file:line: message"). Libraries
 * append to one instead of printing; the program decides where the lines go.
 */
#ifndef INTAKE_DIAG_H
#define INTAKE_DIAG_H

#include <stddef.h>

typedef struct intake_diag {
    char **lines; /* owned, each line owned */
    size_t n;
    size_t cap;
} intake_diag;

/* Appends a printf-formatted line. Returns 0, or -1 when memory runs out (the line is then
 * lost). `d` may be NULL, which discards the line and returns 0. */
int intake_diag_add(intake_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Frees every line and resets the list to empty. The struct itself is the caller's. */
void intake_diag_clear(intake_diag *d);

#endif
