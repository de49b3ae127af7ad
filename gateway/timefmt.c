/* Wall-clock time: now, RFC 3339 text both ways, and the local civil day. */
#include "intake/timefmt.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "intake/calendar.h"

double intake_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *intake_time_format(double t, char buf[INTAKE_RFC3339_LEN])
{
    long long total_ms = llround(t * 1000.0);
    long long whole = total_ms / 1000 - (total_ms % 1000 < 0);
    time_t secs = (time_t)whole;
    int ms = (int)(total_ms - whole * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char tmp[96]; /* room for any int, so the compiler can see nothing is cut */
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, ms);
    memcpy(buf, tmp, INTAKE_RFC3339_LEN - 1);
    buf[INTAKE_RFC3339_LEN - 1] = '\0';
    return buf;
}

/* Reads exactly `n` digits at *s into *out and advances. Returns 0, or -1. */
static int digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

/* Reads an optional fraction ".ddd" into *frac. */
static int fraction(const char **s, double *frac)
{
    *frac = 0;
    if (**s != '.')
        return 0;
    (*s)++;
    double scale = 0.1;
    int n = 0;
    while (**s >= '0' && **s <= '9') {
        *frac += scale * (**s - '0');
        scale /= 10;
        (*s)++;
        n++;
    }
    return n > 0 ? 0 : -1;
}

/* Reads "Z", "+hh:mm", "+hhmm" or "+hh" into *offset seconds; the string must end there. */
static int offset(const char *s, int *off)
{
    int h = 0, m = 0, sign = 1;
    if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
        *off = 0;
        return 0;
    }
    if (s[0] != '+' && s[0] != '-')
        return -1;
    sign = s[0] == '-' ? -1 : 1;
    s++;
    if (digits(&s, 2, &h) < 0)
        return -1;
    bool colon = *s == ':';
    if (colon)
        s++;
    if ((*s || colon) && digits(&s, 2, &m) < 0)
        return -1;
    if (*s || h > 23 || m > 59)
        return -1;
    *off = sign * (h * 3600 + m * 60);
    return 0;
}

int intake_time_parse(const char *s, double *t)
{
    int y, mo, d, h, mi, se, off;
    double frac;
    if (!s || digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d))
        return -1;
    if ((*s != 'T' && *s != 't' && *s != ' ') || (s++, digits(&s, 2, &h)) ||
        *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' || digits(&s, 2, &se))
        return -1;
    if (fraction(&s, &frac) || offset(s, &off))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || (se == 60 && mi != 59))
        return -1;
    intake_day day = intake_day_from_civil(y, mo, d);
    int cy, cm, cd;
    intake_day_to_civil(day, &cy, &cm, &cd);
    if (cy != y || cm != mo || cd != d)
        return -1; /* 30 February and the like */
    *t = (double)day * 86400.0 + h * 3600 + mi * 60 + se + frac - off;
    return 0;
}

int intake_time_local_day(double t)
{
    time_t secs = (time_t)floor(t);
    struct tm tm;
    localtime_r(&secs, &tm);
    return intake_day_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}
