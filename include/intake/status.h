/*
 * Live status of the running parts, for /readyz, /metrics and the logs: each source's and
 * sink's last state with a short reason (never message text), and error counters. One
 * table per daemon, shared by its threads (a mutex inside).
 */
#ifndef INTAKE_STATUS_H
#define INTAKE_STATUS_H

#include <stddef.h>

#define INTAKE_STATUS_MAX_PARTS 64
#define INTAKE_STATUS_REASON_LEN 160

enum intake_part_kind { INTAKE_PART_SOURCE, INTAKE_PART_SINK };

/* A part's state: "starting", "ok", "error", "needs_reauth", "stopped". */
struct intake_part_status {
    enum intake_part_kind kind;
    char name[64];
    char type[32];
    char state[24];
    char reason[INTAKE_STATUS_REASON_LEN];
    double since;         /* Unix time of the last state change */
    unsigned long errors; /* errors counted since start */
};

typedef struct intake_status intake_status;

/* Makes an empty table; NULL when memory runs out. The caller owns it. */
intake_status *intake_status_new(void);
void intake_status_free(intake_status *st);

/* Adds a part in state "starting". Returns its index, or -1 when the table is full. */
int intake_status_add(intake_status *st, enum intake_part_kind kind, const char *name,
                      const char *type);

/* Sets a part's state and reason (reason may be NULL). Logs a line when the state
 * changes. */
void intake_status_set(intake_status *st, int part, const char *state, const char *reason);

/* Counts one error for a part. */
void intake_status_error(intake_status *st, int part);

/* Copies up to `max` parts into `out` (a consistent snapshot). Returns the number copied. */
size_t intake_status_snapshot(intake_status *st, struct intake_part_status *out, size_t max);

#endif
