/* Working days and statutory deadlines: see include/intake/calendar.h. */
#include "intake/calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/classifier.h"

/* Longest calendar file line read, newline excluded; longer lines are reported. */
#define LINE_MAX_BYTES 255
#define STR(x) STR_(x)
#define STR_(x) #x
/* Largest calendar file read (a year of bank holidays takes well under 1 KiB). */
#define FILE_MAX_BYTES (1024 * 1024)

struct intake_calendar {
    intake_day *days; /* closure days, sorted, no repeats */
    size_t n, cap;
    bool has_range;   /* a file with at least one date was loaded */
    int first_year, last_year;
};

/* ---- civil dates (H. Hinnant's days_from_civil / civil_from_days) ---- */

intake_day intake_day_from_civil(int year, int month, int mday)
{
    int64_t m = month, y = (int64_t)year - (m <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)mday - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (intake_day)(era * 146097 + doe - 719468);
}

void intake_day_to_civil(intake_day d, int *year, int *month, int *mday)
{
    int64_t z = (int64_t)d + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = m;
    *year = (int)(yoe + era * 400 + (m <= 2));
}

int intake_day_weekday(intake_day d)
{
    /* 1970-01-01 was a Thursday (3). d % 7 lies in -6..6. */
    return (int)((d % 7 + 10) % 7);
}

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : len[month - 1];
}

/* Reads `n` decimal digits; returns -1 if any is not a digit. */
static int read_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Checks the shape "DDDD-DD-DD" of the first 10 bytes (not the date's validity). Stops at
 * the first byte that does not fit, so a shorter string is never read past its NUL. */
static bool date_shape(const char *s, int *y, int *m, int *d)
{
    *y = read_digits(s, 4);
    if (*y < 0 || s[4] != '-')
        return false;
    *m = read_digits(s + 5, 2);
    if (*m < 0 || s[7] != '-')
        return false;
    *d = read_digits(s + 8, 2);
    return *d >= 0;
}

static bool date_valid(int y, int m, int d)
{
    return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

int intake_day_parse(const char *s, intake_day *out)
{
    int y, m, d;
    if (s == NULL || !date_shape(s, &y, &m, &d) || s[10] != '\0' || !date_valid(y, m, d))
        return -1;
    *out = intake_day_from_civil(y, m, d);
    return 0;
}

static void put_digits(char *p, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *intake_day_format(intake_day d, char buf[11])
{
    int y, m, md;
    intake_day_to_civil(d, &y, &m, &md);
    if (y < 0 || y > 9999) {
        memcpy(buf, "\?\?\?\?-\?\?-\?\?", 11);
        return buf;
    }
    put_digits(buf, y, 4);
    buf[4] = '-';
    put_digits(buf + 5, m, 2);
    buf[7] = '-';
    put_digits(buf + 8, md, 2);
    buf[10] = '\0';
    return buf;
}

/* ---- the closure-day set ---- */

intake_calendar *intake_calendar_new(void)
{
    return calloc(1, sizeof(intake_calendar));
}

void intake_calendar_free(intake_calendar *cal)
{
    if (cal == NULL)
        return;
    free(cal->days);
    free(cal);
}

/* The index of the first stored day >= d (n when there is none). */
static size_t lower_bound(const intake_calendar *cal, intake_day d)
{
    size_t lo = 0, hi = cal->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cal->days[mid] < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool has_day(const intake_calendar *cal, intake_day d)
{
    size_t i = lower_bound(cal, d);
    return i < cal->n && cal->days[i] == d;
}

/* Makes room for `extra` more days. Returns 0, or -1 when memory runs out. */
static int reserve(intake_calendar *cal, size_t extra)
{
    if (extra > ((size_t)-1 / sizeof(intake_day)) / 2 - cal->n)
        return -1;
    size_t need = cal->n + extra;
    if (need <= cal->cap)
        return 0;
    size_t cap = cal->cap ? cal->cap : 32;
    while (cap < need)
        cap *= 2;
    intake_day *days = realloc(cal->days, cap * sizeof *days);
    if (days == NULL)
        return -1;
    cal->days = days;
    cal->cap = cap;
    return 0;
}

/* Inserts d in order; room must already be reserved. */
static void insert_reserved(intake_calendar *cal, intake_day d)
{
    size_t i = lower_bound(cal, d);
    if (i < cal->n && cal->days[i] == d)
        return;
    memmove(cal->days + i + 1, cal->days + i, (cal->n - i) * sizeof *cal->days);
    cal->days[i] = d;
    cal->n++;
}

int intake_calendar_add_day(intake_calendar *cal, intake_day d)
{
    if (has_day(cal, d))
        return 0;
    if (reserve(cal, 1) != 0)
        return -1;
    insert_reserved(cal, d);
    return 0;
}

/* ---- calendar files ---- */

/* One line as read: at most LINE_MAX_BYTES bytes kept, the rest only noted. */
struct line {
    char text[LINE_MAX_BYTES + 1];
    size_t len;
    bool too_long;
    bool has_nul;
};

/* Reads one line without its newline, taking at most *left bytes off *left. Returns false
 * at end of file (or of *left) with nothing read. */
static bool read_line(FILE *f, struct line *ln, size_t *left)
{
    int c;
    bool any = false;
    ln->len = 0;
    ln->too_long = ln->has_nul = false;
    while (*left > 0 && (c = getc(f)) != EOF) {
        (*left)--;
        any = true;
        if (c == '\n')
            break;
        if (c == '\0')
            ln->has_nul = true;
        if (ln->len < LINE_MAX_BYTES)
            ln->text[ln->len++] = (char)c;
        else
            ln->too_long = true;
    }
    if (ln->len > 0 && ln->text[ln->len - 1] == '\r')
        ln->len--;
    ln->text[ln->len] = '\0';
    return any;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* True for a blank line or a '#' comment. */
static bool skippable(const char *s)
{
    while (is_blank(*s))
        s++;
    return *s == '\0' || *s == '#';
}

/* What loading one file has gathered so far. */
struct load {
    const char *path;
    intake_diag *diag;
    intake_calendar days; /* the file's own days, merged into the calendar at the end */
    int first_year, last_year;
    int problems;
    bool oom;
};

static void problem(struct load *ld, int line, const char *msg, const char *arg)
{
    ld->problems++;
    if (intake_diag_add(ld->diag, "%s:%d: %s%s", ld->path, line, msg, arg) != 0)
        ld->oom = true;
}

/* Checks the text after the date: blanks, then a name. Returns the message or NULL. */
static const char *name_problem(const char *rest)
{
    if (*rest != '\0' && !is_blank(*rest))
        return "expected blanks and a name after the date";
    while (is_blank(*rest))
        rest++;
    return *rest == '\0' ? "missing the day's name after the date" : NULL;
}

/* Records one valid date of the file. */
static void take_day(struct load *ld, int line, int y, intake_day d)
{
    if (has_day(&ld->days, d)) {
        char date[11];
        problem(ld, line, "date listed twice: ", intake_day_format(d, date));
        return;
    }
    if (intake_calendar_add_day(&ld->days, d) != 0) {
        ld->oom = true;
        return;
    }
    if (ld->days.n == 1 || y < ld->first_year)
        ld->first_year = y;
    if (ld->days.n == 1 || y > ld->last_year)
        ld->last_year = y;
}

/* Parses one line that is neither blank nor a comment. */
static void parse_line(struct load *ld, int line, const char *s)
{
    int y, m, d;
    if (!date_shape(s, &y, &m, &d)) {
        problem(ld, line, "expected a date YYYY-MM-DD at the start of the line", "");
        return;
    }
    if (!date_valid(y, m, d)) {
        char date[11];
        memcpy(date, s, 10);
        date[10] = '\0';
        problem(ld, line, "no such date: ", date);
        return;
    }
    const char *why = name_problem(s + 10);
    if (why != NULL)
        problem(ld, line, why, "");
    else
        take_day(ld, line, y, intake_day_from_civil(y, m, d));
}

static void check_line(struct load *ld, int line, const struct line *ln)
{
    if (ln->too_long)
        problem(ld, line, "line longer than " STR(LINE_MAX_BYTES) " bytes", "");
    else if (ln->has_nul)
        problem(ld, line, "line contains a NUL byte", "");
    else if (!skippable(ln->text))
        parse_line(ld, line, ln->text);
}

/* Reads the whole file into ld. Returns NULL, or why the file could not be read. */
static const char *read_file(struct load *ld, FILE *f)
{
    struct line ln;
    size_t left = FILE_MAX_BYTES;
    int line = 0;
    while (!ld->oom && read_line(f, &ln, &left))
        check_line(ld, ++line, &ln);
    if (ferror(f))
        return "read error";
    if (left == 0 && getc(f) != EOF)
        return "larger than 1 MiB";
    return NULL;
}

/* Moves the file's days and range into cal. Returns 0, or -1 when memory runs out. */
static int merge(intake_calendar *cal, const struct load *ld)
{
    if (ld->days.n == 0)
        return 0;
    if (reserve(cal, ld->days.n) != 0)
        return -1;
    for (size_t i = 0; i < ld->days.n; i++)
        insert_reserved(cal, ld->days.days[i]);
    if (!cal->has_range || ld->first_year < cal->first_year)
        cal->first_year = ld->first_year;
    if (!cal->has_range || ld->last_year > cal->last_year)
        cal->last_year = ld->last_year;
    cal->has_range = true;
    return 0;
}

/* Reads and checks the open file, then merges it when it had no problem. */
static int load_stream(intake_calendar *cal, struct load *ld, FILE *f)
{
    const char *why = read_file(ld, f);
    if (why != NULL) {
        intake_diag_add(ld->diag, "%s: %s", ld->path, why);
        return -1;
    }
    if (ld->oom || (ld->problems == 0 && merge(cal, ld) != 0)) {
        intake_diag_add(ld->diag, "%s: out of memory", ld->path);
        return -1;
    }
    return ld->problems == 0 ? 0 : -1;
}

int intake_calendar_load_file(intake_calendar *cal, const char *path, intake_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        intake_diag_add(diag, "%s: cannot open", path);
        return -1;
    }
    struct load ld = {.path = path, .diag = diag};
    int rc = load_stream(cal, &ld, f);
    fclose(f);
    free(ld.days.days);
    return rc;
}

/* ---- working days ---- */

bool intake_calendar_is_working_day(const intake_calendar *cal, intake_day d)
{
    if (intake_day_weekday(d) >= 5)
        return false;
    return cal == NULL || !has_day(cal, d);
}

/* The first working day on or after d. */
static intake_day next_working_day(const intake_calendar *cal, intake_day d)
{
    while (!intake_calendar_is_working_day(cal, d))
        d++;
    return d;
}

intake_day intake_calendar_add_working_days(const intake_calendar *cal, intake_day received,
                                            int n)
{
    intake_day d = next_working_day(cal, received);
    for (int i = 0; i < n; i++)
        d = next_working_day(cal, d + 1);
    return d;
}

bool intake_calendar_covers(const intake_calendar *cal, intake_day d)
{
    if (cal == NULL || !cal->has_range)
        return false;
    int y, m, md;
    intake_day_to_civil(d, &y, &m, &md);
    return y >= cal->first_year && y <= cal->last_year;
}

/* ---- policies and deadlines ---- */

void intake_policy_default(struct intake_policy *p)
{
    *p = (struct intake_policy){
        .name = "housing-ombudsman",
        .acknowledge_days = 5,
        .stage1_days = 10,
        .stage2_days = 20,
        .respond_from_receipt = false,
        .mp_acknowledge_days = 5,
        .mp_respond_days = 10,
        .ombudsman_days = 10,
        .damp_mould_days = 10,
        .emergency_hours = 24,
    };
}

/* Acknowledgement after ack_days, answer after respond_days from the ack or from receipt. */
static void two_clocks(const intake_calendar *cal, bool from_receipt, intake_day received,
                       int ack_days, int respond_days, struct intake_deadlines *out)
{
    out->acknowledge_by = intake_calendar_add_working_days(cal, received, ack_days);
    intake_day from = from_receipt ? received : out->acknowledge_by;
    out->respond_by = intake_calendar_add_working_days(cal, from, respond_days);
}

static bool has_flag(uint32_t flags, int f)
{
    return (flags & (1u << f)) != 0;
}

/* The clocks that follow flags whatever the category: Awaab's Law hazards and Ombudsman
 * correspondence. */
static void hazard_clocks(const intake_calendar *cal, const struct intake_policy *p,
                          intake_day received, uint32_t flags, struct intake_deadlines *out)
{
    out->investigate_by = has_flag(flags, INTAKE_FLAG_DAMP_MOULD)
                              ? intake_calendar_add_working_days(cal, received,
                                                                 p->damp_mould_days)
                              : INTAKE_NO_DAY;
    out->ombudsman_respond_by = has_flag(flags, INTAKE_FLAG_OMBUDSMAN)
                                    ? intake_calendar_add_working_days(cal, received,
                                                                       p->ombudsman_days)
                                    : INTAKE_NO_DAY;
    out->emergency_hours = has_flag(flags, INTAKE_FLAG_URGENT) ? p->emergency_hours : 0;
}

void intake_deadlines_compute(const intake_calendar *cal, const struct intake_policy *p,
                              intake_day received, int category, uint32_t flags,
                              struct intake_deadlines *out)
{
    out->acknowledge_by = out->respond_by = INTAKE_NO_DAY;
    hazard_clocks(cal, p, received, flags, out);
    if (category == INTAKE_CAT_COMPLAINT) {
        bool stage2 = (flags & (1u << INTAKE_FLAG_STAGE2)) != 0;
        two_clocks(cal, p->respond_from_receipt, received, p->acknowledge_days,
                   stage2 ? p->stage2_days : p->stage1_days, out);
    } else if (category == INTAKE_CAT_MP_ENQUIRY) {
        two_clocks(cal, p->respond_from_receipt, received, p->mp_acknowledge_days,
                   p->mp_respond_days, out);
    }
}
