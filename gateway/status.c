/* Live status of the running parts: see include/intake/status.h. */
#include "intake/status.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake/log.h"

struct intake_status {
    pthread_mutex_t lock;
    struct intake_part_status parts[INTAKE_STATUS_MAX_PARTS];
    size_t n;
};

static double now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Copies s into dst (size n), cut to fit at a UTF-8 character boundary; NULL becomes "". */
static void copy_text(char *dst, size_t n, const char *s)
{
    size_t len = s != NULL ? strlen(s) : 0;
    if (len >= n) {
        len = n - 1;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--; /* s[len] would start the cut character: drop all of it */
    }
    if (len > 0)
        memcpy(dst, s, len);
    dst[len] = '\0';
}

intake_status *intake_status_new(void)
{
    intake_status *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st);
        return NULL;
    }
    return st;
}

void intake_status_free(intake_status *st)
{
    if (st == NULL)
        return;
    pthread_mutex_destroy(&st->lock);
    free(st);
}

int intake_status_add(intake_status *st, enum intake_part_kind kind, const char *name,
                      const char *type)
{
    pthread_mutex_lock(&st->lock);
    int idx = -1;
    if (st->n < INTAKE_STATUS_MAX_PARTS) {
        idx = (int)st->n++;
        struct intake_part_status *p = &st->parts[idx];
        memset(p, 0, sizeof *p);
        p->kind = kind;
        copy_text(p->name, sizeof p->name, name);
        copy_text(p->type, sizeof p->type, type);
        copy_text(p->state, sizeof p->state, "starting");
        p->since = now_unix();
    }
    pthread_mutex_unlock(&st->lock);
    return idx;
}

static struct intake_part_status *part_at(intake_status *st, int part)
{
    if (part < 0 || (size_t)part >= st->n)
        return NULL;
    return &st->parts[part];
}

static enum intake_log_level state_level(const char *state)
{
    if (strcmp(state, "error") == 0 || strcmp(state, "needs_reauth") == 0)
        return INTAKE_LOG_WARN;
    return INTAKE_LOG_INFO;
}

void intake_status_set(intake_status *st, int part, const char *state, const char *reason)
{
    if (st == NULL || state == NULL)
        return;
    struct intake_part_status copy = {0};
    int changed = 0;
    pthread_mutex_lock(&st->lock);
    struct intake_part_status *p = part_at(st, part);
    if (p != NULL) {
        changed = strncmp(p->state, state, sizeof p->state - 1) != 0;
        if (changed) {
            copy_text(p->state, sizeof p->state, state);
            p->since = now_unix();
        }
        copy_text(p->reason, sizeof p->reason, reason);
        copy = *p;
    }
    pthread_mutex_unlock(&st->lock);
    /* Logged outside the lock; the reason is the caller's personal-data-free text. */
    if (changed)
        intake_log(state_level(copy.state), "part_state", "kind",
                   copy.kind == INTAKE_PART_SOURCE ? "source" : "sink", "name", copy.name,
                   "type", copy.type, "state", copy.state, "reason",
                   copy.reason[0] ? copy.reason : NULL, (const char *)NULL);
}

void intake_status_error(intake_status *st, int part)
{
    if (st == NULL)
        return;
    pthread_mutex_lock(&st->lock);
    struct intake_part_status *p = part_at(st, part);
    if (p != NULL)
        p->errors++;
    pthread_mutex_unlock(&st->lock);
}

size_t intake_status_snapshot(intake_status *st, struct intake_part_status *out, size_t max)
{
    if (st == NULL)
        return 0;
    pthread_mutex_lock(&st->lock);
    size_t n = st->n < max ? st->n : max;
    if (n > 0)
        memcpy(out, st->parts, n * sizeof *out);
    pthread_mutex_unlock(&st->lock);
    return n;
}
