/* Working days and deadlines (include/intake/calendar.h). Every expected date below was
 * worked out by hand, not by the code under test; the comment next to it shows the count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intake/calendar.h"
#include "intake/classifier.h"

#define EW_FILE INTAKE_RULES_DIR "/calendars/england-and-wales.txt"

/* ---- helpers ---- */

/* The day of a "YYYY-MM-DD" that must parse. */
static intake_day day(const char *s)
{
    intake_day d = 0;
    if (intake_day_parse(s, &d) != 0)
        fail_msg("test date %s does not parse", s);
    return d;
}

/* Checks that d is written as `want`. */
static void assert_day(intake_day d, const char *want)
{
    char buf[11];
    assert_string_equal(intake_day_format(d, buf), want);
}

/* n working days after `received` ("YYYY-MM-DD"), as text compared with `want`. */
static void assert_after(const intake_calendar *cal, const char *received, int n,
                         const char *want)
{
    assert_day(intake_calendar_add_working_days(cal, day(received), n), want);
}

/* A calendar with the shipped England and Wales file loaded, with no diagnostics. */
static intake_calendar *ew_calendar(void)
{
    intake_calendar *cal = intake_calendar_new();
    intake_diag diag = {0};
    assert_non_null(cal);
    assert_int_equal(intake_calendar_load_file(cal, EW_FILE, &diag), 0);
    assert_int_equal(diag.n, 0);
    intake_diag_clear(&diag);
    return cal;
}

/* Writes len bytes to a new temporary file and copies its path into path[64]. */
static void write_temp_bytes(char path[64], const char *data, size_t len)
{
    strcpy(path, "/tmp/test_calendar_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_temp(char path[64], const char *text)
{
    write_temp_bytes(path, text, strlen(text));
}

/* Checks that diag line i reads "<path>:<rest>". */
static void assert_diag(const intake_diag *diag, size_t i, const char *path, const char *rest)
{
    char want[256];
    snprintf(want, sizeof want, "%s:%s", path, rest);
    assert_true(i < diag->n);
    assert_string_equal(diag->lines[i], want);
}

/* ---- civil dates ---- */

static void known_day_numbers(void **state)
{
    (void)state;
    assert_int_equal(intake_day_from_civil(1970, 1, 1), 0);
    assert_int_equal(intake_day_from_civil(1969, 12, 31), -1);
    /* 1970..1999: 30 years, 7 of them leap (72 76 80 84 88 92 96): 30 * 365 + 7 */
    assert_int_equal(intake_day_from_civil(2000, 1, 1), 10957);
    /* + 31 (January) + 29 (February 2000 is leap: divisible by 400) */
    assert_int_equal(intake_day_from_civil(2000, 3, 1), 11017);
    /* 1970..2023: 54 years, 13 leap (1972..2020) = 19723 for 2024-01-01; + 31 + 28 */
    assert_int_equal(intake_day_from_civil(2024, 2, 29), 19782);
    /* back over 1900..1969: 70 years, 17 leap (1904..1968; 1900 is not leap) */
    assert_int_equal(intake_day_from_civil(1900, 1, 1), -25567);
    /* 1970..2099: 130 years, 32 leap (1972..2096) = 47482; + 31 + 28 (2100 not leap) */
    assert_int_equal(intake_day_from_civil(2100, 3, 1), 47541);
    int y, m, d;
    intake_day_to_civil(-25567, &y, &m, &d);
    assert_true(y == 1900 && m == 1 && d == 1);
    intake_day_to_civil(19782, &y, &m, &d);
    assert_true(y == 2024 && m == 2 && d == 29);
}

static void known_weekdays(void **state)
{
    (void)state;
    assert_int_equal(intake_day_weekday(0), 3);                                  /* Thu */
    assert_int_equal(intake_day_weekday(-1), 2);                                 /* Wed */
    assert_int_equal(intake_day_weekday(intake_day_from_civil(1900, 1, 1)), 0);  /* Mon */
    assert_int_equal(intake_day_weekday(intake_day_from_civil(2000, 1, 1)), 5);  /* Sat */
    assert_int_equal(intake_day_weekday(intake_day_from_civil(2025, 12, 25)), 3); /* Thu */
    assert_int_equal(intake_day_weekday(intake_day_from_civil(2026, 12, 28)), 0); /* Mon */
    assert_int_equal(intake_day_weekday(intake_day_from_civil(2027, 12, 26)), 6); /* Sun */
    assert_int_equal(intake_day_weekday(intake_day_from_civil(1600, 3, 1)), 2);  /* Wed */
}

/* Walks about 5,500 years day by day: each day converts back to itself, the date moves on
 * by exactly one day, and the weekday by one. */
static void round_trip_wide_range(void **state)
{
    (void)state;
    int py, pm, pd;
    intake_day first = -1000000, last = 1000000;
    intake_day_to_civil(first - 1, &py, &pm, &pd);
    for (intake_day d = first; d <= last; d++) {
        int y, m, md;
        intake_day_to_civil(d, &y, &m, &md);
        if (intake_day_from_civil(y, m, md) != d)
            fail_msg("day %ld does not round-trip", (long)d);
        bool next_in_month = y == py && m == pm && md == pd + 1;
        bool next_month = md == 1 && ((y == py && m == pm + 1) || (y == py + 1 && m == 1 && pm == 12));
        if (!next_in_month && !next_month)
            fail_msg("day %ld (%d-%d-%d) does not follow %d-%d-%d", (long)d, y, m, md, py, pm, pd);
        if (intake_day_weekday(d) != (intake_day_weekday(d - 1) + 1) % 7)
            fail_msg("weekday of day %ld", (long)d);
        py = y, pm = m, pd = md;
    }
    /* 1000000 days after 1970-01-01 is in the year 4707: 1000000 / 365.2425 = 2737.9 */
    assert_int_equal(py, 4707);
}

/* ---- parse and format ---- */

static void parse_good_dates(void **state)
{
    (void)state;
    intake_day d;
    assert_int_equal(intake_day_parse("1970-01-01", &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(intake_day_parse("2024-02-29", &d), 0);
    assert_int_equal(d, 19782);
    assert_int_equal(intake_day_parse("2000-02-29", &d), 0);
    assert_int_equal(intake_day_parse("2025-12-31", &d), 0);
    assert_int_equal(d, intake_day_from_civil(2025, 12, 31));
}

static void parse_bad_dates(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "2025-02-29", /* 2025 is not leap */
        "1900-02-29", /* nor is 1900 */
        "2025-02-30", "2025-04-31", "2025-13-01", "2025-00-10", "2025-01-00", "2025-01-32",
        "2025-1-01",  "2025-01-1",  "25-01-01",   "2025-01-01x", "2025-01-01 ", " 2025-01-01",
        "2025/01/01", "2025-01",    "",           "+025-01-01", "2025-0a-01", "20250101",
    };
    intake_day d = 12345;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (intake_day_parse(bad[i], &d) != -1)
            fail_msg("\"%s\" parsed", bad[i]);
    assert_int_equal(d, 12345); /* *out untouched on failure */
    assert_int_equal(intake_day_parse(NULL, &d), -1);
}

static void format_dates(void **state)
{
    (void)state;
    assert_day(0, "1970-01-01");
    assert_day(-1, "1969-12-31");
    assert_day(19782, "2024-02-29");
    assert_day(-25567, "1900-01-01");
    assert_day(intake_day_from_civil(5, 7, 9), "0005-07-09");
    assert_day(intake_day_from_civil(9999, 12, 31), "9999-12-31");
    assert_day(intake_day_from_civil(10000, 1, 1), "\?\?\?\?-\?\?-\?\?");
    assert_day(intake_day_from_civil(-1, 12, 31), "\?\?\?\?-\?\?-\?\?");
    char buf[11];
    intake_day back;
    assert_int_equal(intake_day_parse(intake_day_format(11017, buf), &back), 0);
    assert_int_equal(back, 11017);
}

/* ---- calendar files ---- */

static void shipped_files_load_clean(void **state)
{
    (void)state;
    static const char *const files[] = {
        EW_FILE,
        INTAKE_RULES_DIR "/calendars/scotland.txt",
        INTAKE_RULES_DIR "/calendars/northern-ireland.txt",
    };
    for (size_t i = 0; i < 3; i++) {
        intake_calendar *cal = intake_calendar_new();
        intake_diag diag = {0};
        assert_int_equal(intake_calendar_load_file(cal, files[i], &diag), 0);
        assert_int_equal(diag.n, 0);
        /* Christmas 2025 (Thu) is a bank holiday everywhere in the UK. */
        assert_false(intake_calendar_is_working_day(cal, day("2025-12-25")));
        intake_diag_clear(&diag);
        intake_calendar_free(cal);
    }
}

/* The regional differences: Easter Monday, 2 January, August, St Andrew's, 17 March, 12 July. */
static void regional_files_differ(void **state)
{
    (void)state;
    intake_calendar *sc = intake_calendar_new(), *ni = intake_calendar_new();
    intake_calendar *ew = ew_calendar();
    assert_int_equal(intake_calendar_load_file(sc, INTAKE_RULES_DIR "/calendars/scotland.txt", NULL), 0);
    assert_int_equal(
        intake_calendar_load_file(ni, INTAKE_RULES_DIR "/calendars/northern-ireland.txt", NULL), 0);
    /* Easter Monday 2025-04-21: England and NI only */
    assert_false(intake_calendar_is_working_day(ew, day("2025-04-21")));
    assert_true(intake_calendar_is_working_day(sc, day("2025-04-21")));
    assert_false(intake_calendar_is_working_day(ni, day("2025-04-21")));
    /* 2 January 2026 (Fri): Scotland only */
    assert_true(intake_calendar_is_working_day(ew, day("2026-01-02")));
    assert_false(intake_calendar_is_working_day(sc, day("2026-01-02")));
    /* Summer: first Monday of August 2025 is the 4th (Scotland), last is the 25th (others) */
    assert_false(intake_calendar_is_working_day(sc, day("2025-08-04")));
    assert_true(intake_calendar_is_working_day(sc, day("2025-08-25")));
    assert_true(intake_calendar_is_working_day(ew, day("2025-08-04")));
    /* St Andrew's Day 2025 is a Sunday: substitute Monday 1 December, Scotland only */
    assert_false(intake_calendar_is_working_day(sc, day("2025-12-01")));
    assert_true(intake_calendar_is_working_day(ew, day("2025-12-01")));
    /* 2028-01-01 Sat and 01-02 Sun: Scotland's substitutes are Mon 3 and Tue 4 January */
    assert_false(intake_calendar_is_working_day(sc, day("2028-01-04")));
    assert_true(intake_calendar_is_working_day(ew, day("2028-01-04")));
    /* NI: St Patrick's Day 2024 is a Sunday, substitute Mon 18 March; the Boyne 2025 is a
     * Saturday, substitute Mon 14 July */
    assert_false(intake_calendar_is_working_day(ni, day("2024-03-18")));
    assert_false(intake_calendar_is_working_day(ni, day("2025-07-14")));
    assert_true(intake_calendar_is_working_day(ew, day("2025-07-14")));
    intake_calendar_free(ew);
    intake_calendar_free(sc);
    intake_calendar_free(ni);
}

static void bad_file_reports_each_line(void **state)
{
    (void)state;
    char longline[301];
    memset(longline, 'x', 300);
    longline[300] = '\0';
    char text[1024];
    snprintf(text, sizeof text,
             "# a landlord's closures\n"          /* 1 */
             "2025-01-06  Fine\n"                 /* 2 */
             "2025-02-30  Impossible\n"           /* 3 */
             "not a date\n"                       /* 4 */
             "\n"                                 /* 5 */
             "2025-12-29\n"                       /* 6: no name */
             "2025-01-06  Again\n"                /* 7: twice */
             "%s\n"                               /* 8: too long */
             "2025-12-30Shutdown\n"               /* 9: no blank before the name */
             "2025-12-31  Fine too\n",            /* 10 */
             longline);
    char path[64];
    write_temp(path, text);
    intake_calendar *cal = intake_calendar_new();
    intake_diag diag = {0};
    assert_int_equal(intake_calendar_load_file(cal, path, &diag), -1);
    assert_int_equal(diag.n, 6);
    assert_diag(&diag, 0, path, "3: no such date: 2025-02-30");
    assert_diag(&diag, 1, path, "4: expected a date YYYY-MM-DD at the start of the line");
    assert_diag(&diag, 2, path, "6: missing the day's name after the date");
    assert_diag(&diag, 3, path, "7: date listed twice: 2025-01-06");
    assert_diag(&diag, 4, path, "8: line longer than 255 bytes");
    assert_diag(&diag, 5, path, "9: expected blanks and a name after the date");
    /* Nothing of a bad file is added: Monday 2025-01-06 is still a working day. */
    assert_true(intake_calendar_is_working_day(cal, day("2025-01-06")));
    assert_false(intake_calendar_covers(cal, day("2025-06-01")));
    intake_diag_clear(&diag);
    intake_calendar_free(cal);
    unlink(path);
}

static void unreadable_files(void **state)
{
    (void)state;
    intake_calendar *cal = intake_calendar_new();
    intake_diag diag = {0};
    const char *missing = "/nonexistent/calendar.txt";
    assert_int_equal(intake_calendar_load_file(cal, missing, &diag), -1);
    assert_int_equal(diag.n, 1);
    assert_string_equal(diag.lines[0], "/nonexistent/calendar.txt: cannot open");
    intake_diag_clear(&diag);
    /* A folder opens but cannot be read. */
    assert_int_equal(intake_calendar_load_file(cal, INTAKE_RULES_DIR, &diag), -1);
    assert_int_equal(diag.n, 1);
    assert_string_equal(diag.lines[0], INTAKE_RULES_DIR ": read error");
    intake_diag_clear(&diag);
    /* A NULL diag discards the lines but the result stands. */
    assert_int_equal(intake_calendar_load_file(cal, missing, NULL), -1);
    intake_calendar_free(cal);
}

/* A NUL byte in a line is a problem; a file over 1 MiB is refused whole. */
static void nul_bytes_and_huge_files(void **state)
{
    (void)state;
    char path[64];
    static const char nul[] = "2025-01-06  Fine\n2025-01-07  Bad\0byte\n";
    write_temp_bytes(path, nul, sizeof nul - 1);
    intake_calendar *cal = intake_calendar_new();
    intake_diag diag = {0};
    assert_int_equal(intake_calendar_load_file(cal, path, &diag), -1);
    assert_int_equal(diag.n, 1);
    assert_diag(&diag, 0, path, "2: line contains a NUL byte");
    intake_diag_clear(&diag);
    unlink(path);
    /* 1 MiB of comment lines (64 bytes each) loads; one byte more does not. */
    size_t size = 1024 * 1024;
    char *big = malloc(size + 1);
    assert_non_null(big);
    for (size_t i = 0; i < size; i += 64) {
        memset(big + i, '#', 63);
        big[i + 63] = '\n';
    }
    big[size] = '#';
    write_temp_bytes(path, big, size);
    assert_int_equal(intake_calendar_load_file(cal, path, &diag), 0);
    assert_int_equal(diag.n, 0);
    unlink(path);
    write_temp_bytes(path, big, size + 1);
    assert_int_equal(intake_calendar_load_file(cal, path, &diag), -1);
    assert_int_equal(diag.n, 1);
    assert_diag(&diag, 0, path, " larger than 1 MiB");
    intake_diag_clear(&diag);
    unlink(path);
    free(big);
    intake_calendar_free(cal);
}

/* CRLF line ends, tabs, indented comments and a last line without a newline are fine. */
static void lenient_layout(void **state)
{
    (void)state;
    char path[64];
    write_temp(path, "  # closures\r\n\t\r\n2030-01-02\tClosed\r\n2030-01-03 Closed");
    intake_calendar *cal = intake_calendar_new();
    intake_diag diag = {0};
    assert_int_equal(intake_calendar_load_file(cal, path, &diag), 0);
    assert_int_equal(diag.n, 0);
    /* 2030-01-02 is a Wednesday and 01-03 a Thursday */
    assert_false(intake_calendar_is_working_day(cal, day("2030-01-02")));
    assert_false(intake_calendar_is_working_day(cal, day("2030-01-03")));
    assert_true(intake_calendar_is_working_day(cal, day("2030-01-04")));
    intake_calendar_free(cal);
    unlink(path);
}

/* ---- working days with the England and Wales file ---- */

static void easter_is_skipped(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    /* Easter Sunday 2025 is 20 April: Good Friday 18, Easter Monday 21. */
    assert_false(intake_calendar_is_working_day(cal, day("2025-04-18")));
    assert_false(intake_calendar_is_working_day(cal, day("2025-04-21")));
    assert_true(intake_calendar_is_working_day(cal, day("2025-04-17")));
    assert_true(intake_calendar_is_working_day(cal, day("2025-04-22")));
    /* Thu 17 + 1: [Fri 18 GF, Sat, Sun, Mon 21 EM] Tue 22 */
    assert_after(cal, "2025-04-17", 1, "2025-04-22");
    /* Mon 14 + 5: Tue 15 (1) Wed 16 (2) Thu 17 (3) [18..21] Tue 22 (4) Wed 23 (5) */
    assert_after(cal, "2025-04-14", 5, "2025-04-23");
    /* Easter Sunday 2026 is 5 April: Good Friday 3, Easter Monday 6.
     * Wed 1 + 5: Thu 2 (1) [Fri 3, Sat, Sun, Mon 6] Tue 7 (2) Wed 8 Thu 9 Fri 10 (5) */
    assert_false(intake_calendar_is_working_day(cal, day("2026-04-03")));
    assert_false(intake_calendar_is_working_day(cal, day("2026-04-06")));
    assert_after(cal, "2026-04-01", 5, "2026-04-10");
    intake_calendar_free(cal);
}

static void may_and_august_holidays(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    /* Early May 2025: first Monday, the 5th. Fri 2 + 1: [Sat, Sun, Mon 5] Tue 6 */
    assert_after(cal, "2025-05-02", 1, "2025-05-06");
    /* Spring 2025: last Monday of May, the 26th. Fri 23 + 1: Tue 27 */
    assert_after(cal, "2025-05-23", 1, "2025-05-27");
    /* Summer 2025: last Monday of August, the 25th. Fri 22 + 1: Tue 26 */
    assert_after(cal, "2025-08-22", 1, "2025-08-26");
    /* 2026: early May Mon 4, spring Mon 25, summer Mon 31 August. */
    assert_after(cal, "2026-05-01", 1, "2026-05-05");
    assert_after(cal, "2026-05-22", 1, "2026-05-26");
    /* Fri 28 Aug + 1: [Sat, Sun, Mon 31] Tue 1 September */
    assert_after(cal, "2026-08-28", 1, "2026-09-01");
    /* A Monday that is not a holiday stays a working day: 2026-08-24. */
    assert_true(intake_calendar_is_working_day(cal, day("2026-08-24")));
    intake_calendar_free(cal);
}

static void christmas_and_new_year_substitutes(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    /* 2026: Christmas Fri 25, Boxing Day Sat 26 -> substitute Mon 28.
     * Thu 24 + 1: [Fri 25, Sat, Sun, Mon 28] Tue 29 */
    assert_false(intake_calendar_is_working_day(cal, day("2026-12-28")));
    assert_after(cal, "2026-12-24", 1, "2026-12-29");
    /* Wed 23 + 5: Thu 24 (1) [25..28] Tue 29 (2) Wed 30 (3) Thu 31 (4) [Fri 1 Jan, Sat, Sun]
     * Mon 4 January 2027 (5) */
    assert_after(cal, "2026-12-23", 5, "2027-01-04");
    /* 2027: Christmas Sat 25 -> Mon 27, Boxing Day Sun 26 -> Tue 28.
     * Fri 24 + 1: [Sat, Sun, Mon 27, Tue 28] Wed 29 */
    assert_false(intake_calendar_is_working_day(cal, day("2027-12-27")));
    assert_false(intake_calendar_is_working_day(cal, day("2027-12-28")));
    assert_after(cal, "2027-12-24", 1, "2027-12-29");
    /* 2028: New Year's Day Sat 1 -> Mon 3. Fri 31 Dec 2027 + 1: [Sat, Sun, Mon 3] Tue 4 */
    assert_false(intake_calendar_is_working_day(cal, day("2028-01-03")));
    assert_after(cal, "2027-12-31", 1, "2028-01-04");
    intake_calendar_free(cal);
}

static void received_at_the_weekend(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    /* June 2025 has no bank holiday. Mon 9 + 5 is the next Monday, 16 (the header's example). */
    assert_after(cal, "2025-06-09", 5, "2025-06-16");
    /* Sat 7 and Sun 8 count as received on Mon 9: Tue 10 (1) .. Fri 13 (4) Mon 16 (5) */
    assert_after(cal, "2025-06-07", 5, "2025-06-16");
    assert_after(cal, "2025-06-08", 5, "2025-06-16");
    /* Fri 6 + 5: Mon 9 (1) Tue 10 Wed 11 Thu 12 Fri 13 (5) */
    assert_after(cal, "2025-06-06", 5, "2025-06-13");
    assert_false(intake_calendar_is_working_day(cal, day("2025-06-07")));
    intake_calendar_free(cal);
}

static void received_on_a_bank_holiday(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    /* Summer bank holiday Mon 25 Aug 2025 counts as received Tue 26:
     * Wed 27 (1) Thu 28 (2) Fri 29 (3) Mon 1 Sep (4) Tue 2 Sep (5) */
    assert_after(cal, "2025-08-25", 5, "2025-09-02");
    /* Good Friday 3 Apr 2026 counts as received Tue 7 (after Easter Monday): + 1 = Wed 8 */
    assert_after(cal, "2026-04-03", 1, "2026-04-08");
    intake_calendar_free(cal);
}

static void zero_days(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    assert_after(cal, "2025-06-11", 0, "2025-06-11"); /* a Wednesday: itself */
    assert_after(cal, "2025-06-14", 0, "2025-06-16"); /* Saturday: Monday */
    assert_after(cal, "2026-12-28", 0, "2026-12-29"); /* substitute day: Tuesday */
    intake_calendar_free(cal);
}

static void landlord_christmas_shutdown(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    /* Without the shutdown: Wed 24 Dec 2025 + 1: [Thu 25, Fri 26, Sat, Sun] Mon 29 */
    assert_after(cal, "2025-12-24", 1, "2025-12-29");
    /* The landlord closes Mon 29, Tue 30 and Wed 31 December 2025. */
    assert_int_equal(intake_calendar_add_day(cal, day("2025-12-29")), 0);
    assert_int_equal(intake_calendar_add_day(cal, day("2025-12-31")), 0);
    assert_int_equal(intake_calendar_add_day(cal, day("2025-12-30")), 0);
    assert_int_equal(intake_calendar_add_day(cal, day("2025-12-30")), 0); /* twice is fine */
    /* + 1: [25, 26, Sat, Sun, 29, 30, 31, Thu 1 Jan 2026 New Year] Fri 2 January 2026 */
    assert_after(cal, "2025-12-24", 1, "2026-01-02");
    /* + 2: Fri 2 Jan (1), [Sat, Sun] Mon 5 Jan (2) */
    assert_after(cal, "2025-12-24", 2, "2026-01-05");
    assert_true(intake_calendar_is_working_day(cal, day("2026-01-02")));
    intake_calendar_free(cal);
}

/* Many closure days added out of order keep the set sorted: every one is found. */
static void many_added_days(void **state)
{
    (void)state;
    intake_calendar *cal = intake_calendar_new();
    intake_day base = day("2031-01-06"); /* a Monday */
    for (int i = 0; i < 500; i++) /* every Monday for 500 weeks, back to front */
        assert_int_equal(intake_calendar_add_day(cal, base + 7 * (499 - i)), 0);
    for (int i = 0; i < 500; i++) {
        assert_false(intake_calendar_is_working_day(cal, base + 7 * i));
        assert_true(intake_calendar_is_working_day(cal, base + 7 * i + 1));
    }
    /* Fri 2031-01-10 + 1: [Sat, Sun, Mon 13] Tue 14 */
    assert_after(cal, "2031-01-10", 1, "2031-01-14");
    intake_calendar_free(cal);
}

static void covers_the_files_years(void **state)
{
    (void)state;
    intake_calendar *cal = intake_calendar_new();
    /* An empty calendar covers nothing, nor do days added one by one. */
    assert_false(intake_calendar_covers(cal, day("2025-06-01")));
    assert_int_equal(intake_calendar_add_day(cal, day("2025-06-02")), 0);
    assert_false(intake_calendar_covers(cal, day("2025-06-01")));
    assert_int_equal(intake_calendar_load_file(cal, EW_FILE, NULL), 0);
    assert_true(intake_calendar_covers(cal, day("2024-01-01")));
    assert_true(intake_calendar_covers(cal, day("2028-12-31")));
    assert_false(intake_calendar_covers(cal, day("2023-12-31")));
    assert_false(intake_calendar_covers(cal, day("2029-01-01")));
    /* A second file stretches the range to its own last year. */
    char path[64];
    write_temp(path, "2030-06-03  Closed\n");
    assert_int_equal(intake_calendar_load_file(cal, path, NULL), 0);
    assert_true(intake_calendar_covers(cal, day("2029-07-01")));
    assert_true(intake_calendar_covers(cal, day("2030-12-31")));
    assert_false(intake_calendar_covers(cal, day("2031-01-01")));
    assert_false(intake_calendar_covers(NULL, day("2025-01-01")));
    intake_calendar_free(cal);
    unlink(path);
}

static void null_calendar_is_weekends_only(void **state)
{
    (void)state;
    assert_true(intake_calendar_is_working_day(NULL, day("2025-12-25")));
    /* Tue 15 Apr 2025 + 5 without bank holidays: Wed 16 Thu 17 Fri 18 Mon 21 Tue 22 */
    assert_after(NULL, "2025-04-15", 5, "2025-04-22");
    intake_calendar_free(NULL);
}

/* ---- deadlines ---- */

static void default_policy(void **state)
{
    (void)state;
    struct intake_policy p;
    intake_policy_default(&p);
    assert_string_equal(p.name, "housing-ombudsman");
    assert_int_equal(p.acknowledge_days, 5);
    assert_int_equal(p.stage1_days, 10);
    assert_int_equal(p.stage2_days, 20);
    assert_false(p.respond_from_receipt);
    assert_int_equal(p.mp_acknowledge_days, 5);
    assert_int_equal(p.mp_respond_days, 10);
    assert_int_equal(p.ombudsman_days, 10);
    assert_int_equal(p.damp_mould_days, 10);
    assert_int_equal(p.emergency_hours, 24);
}

static void complaint_deadlines(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    struct intake_policy p;
    struct intake_deadlines dl;
    intake_policy_default(&p);
    /* Received Tue 15 Apr 2025. Ack + 5: Wed 16 (1) Thu 17 (2) [Fri 18 GF, Sat, Sun,
     * Mon 21 EM] Tue 22 (3) Wed 23 (4) Thu 24 (5) -> 2025-04-24.
     * Stage 1, 10 from the ack: Fri 25 (1) Mon 28 (2) Tue 29 (3) Wed 30 (4) Thu 1 May (5)
     * Fri 2 (6) [Sat, Sun, Mon 5 early May] Tue 6 (7) Wed 7 (8) Thu 8 (9) Fri 9 (10). */
    intake_deadlines_compute(cal, &p, day("2025-04-15"), INTAKE_CAT_COMPLAINT, 0, &dl);
    assert_day(dl.acknowledge_by, "2025-04-24");
    assert_day(dl.respond_by, "2025-05-09");
    /* Other flags do not change the clock. */
    intake_deadlines_compute(cal, &p, day("2025-04-15"), INTAKE_CAT_COMPLAINT,
                             1u << INTAKE_FLAG_DAMP_MOULD, &dl);
    assert_day(dl.respond_by, "2025-05-09");
    intake_calendar_free(cal);
}

static void stage2_complaint_deadlines(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    struct intake_policy p;
    struct intake_deadlines dl;
    intake_policy_default(&p);
    /* Same receipt; stage 2, 20 from the ack Thu 24 Apr: Fri 9 May is the 10th (above),
     * Mon 12 (11) .. Fri 16 (15), Mon 19 (16) .. Fri 23 May (20). */
    intake_deadlines_compute(cal, &p, day("2025-04-15"), INTAKE_CAT_COMPLAINT,
                             (1u << INTAKE_FLAG_STAGE2) | (1u << INTAKE_FLAG_OMBUDSMAN), &dl);
    assert_day(dl.acknowledge_by, "2025-04-24");
    assert_day(dl.respond_by, "2025-05-23");
    intake_calendar_free(cal);
}

static void mp_enquiry_deadlines(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    struct intake_policy p;
    struct intake_deadlines dl;
    intake_policy_default(&p);
    p.acknowledge_days = 1; /* the complaint numbers must not be used */
    p.stage1_days = 2;
    /* Received Fri 22 Aug 2025. Ack + 5: [Sat, Sun, Mon 25 summer] Tue 26 (1) Wed 27 (2)
     * Thu 28 (3) Fri 29 (4) Mon 1 Sep (5). Respond 10 from Mon 1 Sep: Tue 2 (1) .. Fri 5 (4)
     * Mon 8 (5) .. Fri 12 (9) Mon 15 Sep (10). */
    intake_deadlines_compute(cal, &p, day("2025-08-22"), INTAKE_CAT_MP_ENQUIRY, 0, &dl);
    assert_day(dl.acknowledge_by, "2025-09-01");
    assert_day(dl.respond_by, "2025-09-15");
    intake_calendar_free(cal);
}

/* Housing Plus Group style: acknowledge within 2 working days, respond within 10 working
 * days of receipt. */
static void respond_from_receipt(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    struct intake_policy p;
    struct intake_deadlines dl;
    intake_policy_default(&p);
    p.name = "housing-plus";
    p.acknowledge_days = 2;
    p.stage1_days = 10;
    p.respond_from_receipt = true;
    /* Received Wed 24 Dec 2025. Ack + 2: [Thu 25, Fri 26, Sat, Sun] Mon 29 (1) Tue 30 (2).
     * Respond 10 from receipt: Mon 29 (1) Tue 30 (2) Wed 31 (3) [Thu 1 Jan] Fri 2 (4)
     * Mon 5 (5) Tue 6 (6) Wed 7 (7) Thu 8 (8) Fri 9 (9) Mon 12 January 2026 (10).
     * (Counted from the ack it would be Wed 14 January.) */
    intake_deadlines_compute(cal, &p, day("2025-12-24"), INTAKE_CAT_COMPLAINT, 0, &dl);
    assert_day(dl.acknowledge_by, "2025-12-30");
    assert_day(dl.respond_by, "2026-01-12");
    /* An MP enquiry under the same policy: ack + 5: Mon 29 (1) Tue 30 (2) Wed 31 (3)
     * Fri 2 (4) Mon 5 January (5); respond 10 from receipt: Mon 12 January as above. */
    intake_deadlines_compute(cal, &p, day("2025-12-24"), INTAKE_CAT_MP_ENQUIRY, 0, &dl);
    assert_day(dl.acknowledge_by, "2026-01-05");
    assert_day(dl.respond_by, "2026-01-12");
    intake_calendar_free(cal);
}

/* Awaab's Law and Ombudsman clocks follow flags, whatever the category, from receipt. */
static void hazard_and_ombudsman_clocks(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    struct intake_policy p;
    struct intake_deadlines dl;
    intake_policy_default(&p);
    /* A service request about mould received Tue 15 Apr 2025: investigate within 10 working
     * days of receipt: Wed 16 (1) Thu 17 (2) [Fri 18 GF .. Mon 21 EM] Tue 22 (3) Wed 23 (4)
     * Thu 24 (5) Fri 25 (6) Mon 28 (7) Tue 29 (8) Wed 30 (9) Thu 1 May (10). */
    intake_deadlines_compute(cal, &p, day("2025-04-15"), INTAKE_CAT_SERVICE_REQUEST,
                             1u << INTAKE_FLAG_DAMP_MOULD, &dl);
    assert_int_equal(dl.acknowledge_by, INTAKE_NO_DAY);
    assert_day(dl.investigate_by, "2025-05-01");
    assert_int_equal(dl.ombudsman_respond_by, INTAKE_NO_DAY);
    assert_int_equal(dl.emergency_hours, 0);
    /* The landlord's own number: 5 working days -> Thu 24 April. */
    p.damp_mould_days = 5;
    intake_deadlines_compute(cal, &p, day("2025-04-15"), INTAKE_CAT_COMPLAINT,
                             1u << INTAKE_FLAG_DAMP_MOULD, &dl);
    assert_day(dl.investigate_by, "2025-04-24");
    assert_day(dl.respond_by, "2025-05-09"); /* the complaint clock is unchanged */
    /* A letter from the Ombudsman received Wed 24 Dec 2025, 10 from receipt:
     * [Thu 25, Fri 26, Sat, Sun] Mon 29 (1) Tue 30 (2) Wed 31 (3) [Thu 1 Jan] Fri 2 (4)
     * Mon 5 (5) .. Fri 9 (9) Mon 12 January 2026 (10). Urgent too: 24 hours. */
    intake_deadlines_compute(cal, &p, day("2025-12-24"), INTAKE_CAT_OTHER,
                             (1u << INTAKE_FLAG_OMBUDSMAN) | (1u << INTAKE_FLAG_URGENT), &dl);
    assert_day(dl.ombudsman_respond_by, "2026-01-12");
    assert_int_equal(dl.investigate_by, INTAKE_NO_DAY);
    assert_int_equal(dl.emergency_hours, 24);
    p.emergency_hours = 4;
    p.ombudsman_days = 1;
    intake_deadlines_compute(cal, &p, day("2025-12-24"), INTAKE_CAT_COMPLAINT,
                             (1u << INTAKE_FLAG_OMBUDSMAN) | (1u << INTAKE_FLAG_URGENT), &dl);
    assert_int_equal(dl.emergency_hours, 4);
    assert_day(dl.ombudsman_respond_by, "2025-12-29");
    /* No flags: none of the three. */
    intake_deadlines_compute(cal, &p, day("2025-12-24"), INTAKE_CAT_COMPLAINT, 0, &dl);
    assert_int_equal(dl.investigate_by, INTAKE_NO_DAY);
    assert_int_equal(dl.ombudsman_respond_by, INTAKE_NO_DAY);
    assert_int_equal(dl.emergency_hours, 0);
    intake_calendar_free(cal);
}

static void categories_without_a_clock(void **state)
{
    (void)state;
    intake_calendar *cal = ew_calendar();
    struct intake_policy p;
    intake_policy_default(&p);
    static const int none[] = {INTAKE_CAT_SERVICE_REQUEST, INTAKE_CAT_COMPLIMENT,
                               INTAKE_CAT_COMMENT, INTAKE_CAT_OTHER, -1, INTAKE_CAT_COUNT};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        struct intake_deadlines dl = {0, 0, 0, 0, 0};
        intake_deadlines_compute(cal, &p, day("2025-06-02"), none[i],
                                 1u << INTAKE_FLAG_STAGE2, &dl);
        assert_int_equal(dl.acknowledge_by, INT32_MIN);
        assert_int_equal(dl.respond_by, INT32_MIN);
        assert_int_equal(dl.respond_by, INTAKE_NO_DAY);
    }
    intake_calendar_free(cal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_day_numbers),
        cmocka_unit_test(known_weekdays),
        cmocka_unit_test(round_trip_wide_range),
        cmocka_unit_test(parse_good_dates),
        cmocka_unit_test(parse_bad_dates),
        cmocka_unit_test(format_dates),
        cmocka_unit_test(shipped_files_load_clean),
        cmocka_unit_test(regional_files_differ),
        cmocka_unit_test(bad_file_reports_each_line),
        cmocka_unit_test(unreadable_files),
        cmocka_unit_test(nul_bytes_and_huge_files),
        cmocka_unit_test(lenient_layout),
        cmocka_unit_test(easter_is_skipped),
        cmocka_unit_test(may_and_august_holidays),
        cmocka_unit_test(christmas_and_new_year_substitutes),
        cmocka_unit_test(received_at_the_weekend),
        cmocka_unit_test(received_on_a_bank_holiday),
        cmocka_unit_test(zero_days),
        cmocka_unit_test(landlord_christmas_shutdown),
        cmocka_unit_test(many_added_days),
        cmocka_unit_test(covers_the_files_years),
        cmocka_unit_test(null_calendar_is_weekends_only),
        cmocka_unit_test(default_policy),
        cmocka_unit_test(complaint_deadlines),
        cmocka_unit_test(stage2_complaint_deadlines),
        cmocka_unit_test(mp_enquiry_deadlines),
        cmocka_unit_test(respond_from_receipt),
        cmocka_unit_test(categories_without_a_clock),
        cmocka_unit_test(hazard_and_ombudsman_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
