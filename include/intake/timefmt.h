/*
 * Wall-clock time for records, the spool and logs: Unix seconds as a double, RFC 3339
 * text in UTC with milliseconds ("2026-11-24T23:20:37.123Z").
 */
#ifndef INTAKE_TIMEFMT_H
#define INTAKE_TIMEFMT_H

#include <stddef.h>

#define INTAKE_RFC3339_LEN 25 /* "YYYY-MM-DDTHH:MM:SS.mmmZ" plus the NUL */

/* The current time in Unix seconds (CLOCK_REALTIME). */
double intake_time_now(void);

/* Writes `t` as RFC 3339 UTC with milliseconds into buf. Returns buf. */
char *intake_time_format(double t, char buf[INTAKE_RFC3339_LEN]);

/* Parses RFC 3339 ("2026-11-24T23:20:37Z", "...37.5+01:00", "... 37+0000"): a date,
 * 'T' or ' ', a time with optional fraction, and 'Z' or a numeric offset with or without a
 * colon. Returns 0 and sets *t, or -1 for anything else (the string is not quoted in any
 * message). */
int intake_time_parse(const char *s, double *t);

/* The civil date (local to the process's TZ, e.g. Europe/London) of `t`, as days since
 * 1970-01-01 (see calendar.h). */
int intake_time_local_day(double t);

#endif
