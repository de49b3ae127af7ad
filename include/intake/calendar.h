/*
 * Working days and statutory deadlines.
 *
 * A day is a civil date held as the number of days since 1970-01-01 (negative before).
 * A working day is Monday to Friday and neither a bank holiday from the loaded calendar
 * file nor an extra closure day. Counting: an item received on a day that is not a working
 * day counts as received on the next working day; "n working days" after day D is the n-th
 * working day after D (so a Monday item with 5 days is due the next Monday).
 *
 * Part of the classifier library: no global state, no I/O beyond reading the file given.
 */
#ifndef INTAKE_CALENDAR_H
#define INTAKE_CALENDAR_H

#include <stdbool.h>
#include <stdint.h>

#include "intake/diag.h"

typedef int32_t intake_day;

typedef struct intake_calendar intake_calendar;

/* Days since 1970-01-01 for a proleptic Gregorian date. No range check. */
intake_day intake_day_from_civil(int year, int month, int mday);

/* The civil date of a day number. */
void intake_day_to_civil(intake_day d, int *year, int *month, int *mday);

/* 0 = Monday ... 6 = Sunday. */
int intake_day_weekday(intake_day d);

/* Parses "YYYY-MM-DD" (exactly). Returns 0 and sets *out, or -1. */
int intake_day_parse(const char *s, intake_day *out);

/* Writes "YYYY-MM-DD" and a NUL into buf (at least 11 bytes). Returns buf. A day whose year
 * lies outside 0..9999 cannot be written so and gives "????-??-??". */
char *intake_day_format(intake_day d, char buf[11]);

/* Makes an empty calendar (weekends only). Returns NULL when memory runs out. The caller
 * owns it; free with intake_calendar_free. */
intake_calendar *intake_calendar_new(void);

/* Adds the days listed in a calendar file: one "YYYY-MM-DD  name" per line, '#' comments
 * and blank lines ignored. The file's first and last years are remembered as its range.
 * Returns 0, or -1 with one "file:line: message" per problem appended to diag.
 * Problems: a line not starting with a valid date followed by blanks and a name, an
 * impossible date (2025-02-30), a date listed twice in the file, a line over 255 bytes or
 * holding a NUL byte. A file that cannot be opened or read, or is over 1 MiB, gives one
 * "file: message". Whenever -1 is returned nothing of the file has been added. Loading
 * several files adds them all; the range then runs from the earliest first year to the
 * latest last year. */
int intake_calendar_load_file(intake_calendar *cal, const char *path, intake_diag *diag);

/* Adds one closure day (a bank holiday or a landlord's own shutdown day). Returns 0, or
 * -1 when memory runs out. */
int intake_calendar_add_day(intake_calendar *cal, intake_day d);

/* True when d is a working day. Here and in the two functions below, cal may be NULL:
 * weekends only. */
bool intake_calendar_is_working_day(const intake_calendar *cal, intake_day d);

/* The day n working days after `received` (n >= 0), counted as described above: with
 * n = 0, `received` itself when it is a working day, else the next working day. */
intake_day intake_calendar_add_working_days(const intake_calendar *cal, intake_day received,
                                            int n);

/* True when d lies inside the years the loaded files cover (deadlines beyond them ignore
 * bank holidays nobody shipped: callers may warn). */
bool intake_calendar_covers(const intake_calendar *cal, intake_day d);

/* Frees a calendar. NULL is allowed. */
void intake_calendar_free(intake_calendar *cal);

/*
 * A policy profile: the numbers of working days a landlord's complaints policy allows.
 * The defaults are the Housing Ombudsman's Complaint Handling Code.
 */
struct intake_policy {
    const char *name;          /* borrowed, e.g. "housing-ombudsman" */
    int acknowledge_days;      /* complaint acknowledged within (5) */
    int stage1_days;           /* stage 1 answered within (10) ... */
    int stage2_days;           /* stage 2 answered within (20) ... */
    bool respond_from_receipt; /* ... counted from receipt instead of from the ack (false) */
    int mp_acknowledge_days;   /* MP/councillor enquiry acknowledged within (5) */
    int mp_respond_days;       /* ... and answered within (10) */
    int ombudsman_days;        /* Housing Ombudsman correspondence answered within (10),
                                * counted from receipt */
    int damp_mould_days;       /* damp and mould investigated within (10, Awaab's Law) */
    int emergency_hours;       /* emergency hazards dealt with within (24 hours) */
};

/* Fills *p with the Housing Ombudsman Code's numbers. */
void intake_policy_default(struct intake_policy *p);

/* Deadlines for one record; a day is INT32_MIN (INTAKE_NO_DAY) when the category has no
 * clock. */
#define INTAKE_NO_DAY INT32_MIN
struct intake_deadlines {
    intake_day acknowledge_by;
    intake_day respond_by;
    intake_day investigate_by;       /* damp_mould flag: damp_mould_days from receipt */
    intake_day ombudsman_respond_by; /* ombudsman flag: ombudsman_days from receipt */
    int emergency_hours;             /* urgent flag: the policy's emergency_hours (the
                                      * caller adds them to the received time); 0: none */
};

/* Computes the deadlines of an item received on (local) day `received` with the given
 * category and flags (enum intake_category / flag bits from classifier.h). Complaints get
 * acknowledge_by and respond_by (stage 2 when the stage2 flag is set); MP enquiries get
 * the MP numbers; other categories get INTAKE_NO_DAY for both. Whatever the category, the
 * damp_mould flag sets investigate_by, the ombudsman flag ombudsman_respond_by (both
 * counted from receipt) and the urgent flag emergency_hours; otherwise they are
 * INTAKE_NO_DAY and 0. */
void intake_deadlines_compute(const intake_calendar *cal, const struct intake_policy *p,
                              intake_day received, int category, uint32_t flags,
                              struct intake_deadlines *out);

#endif
