/* Group commit: see committer.h.
 *
 * Callers put a job (their items, borrowed, and a slot for the result) on a queue under
 * the mutex and wait on `done`. The committer thread takes the queued jobs, up to
 * INTAKE_COMMITTER_MAX_BATCH items, and commits them with one intake_spool_submit per
 * source. When a group fails for good (FATAL) and holds several jobs, each job is tried
 * alone, so one caller's bad items never fail another's. Jobs live on their callers'
 * stacks: a caller does not return before its job is marked done, and the committer
 * always marks every job it took.
 */
#include "committer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
    struct job *next;
    const char *source;
    json_t *const *items;
    size_t n;
    struct intake_submit_result *results; /* NULL: the caller does not want them */
    int rc;
    bool done;
};

struct intake_committer {
    pthread_mutex_t mu;
    pthread_cond_t work; /* the committer waits for jobs or the stop */
    pthread_cond_t done; /* callers wait for their job */
    struct job *head, *tail;
    size_t queued, max_queue;
    size_t max_batch; /* items per round: INTAKE_COMMITTER_MAX_BATCH or $INTAKE_COMMIT_BATCH */
    bool stopping;
    intake_spool *sp; /* the committer thread's only */
    pthread_t thread;
};

/* Takes jobs from the head of the queue up to the batch limit (at least one). Called
 * with the mutex held. Returns the list, NULL-terminated. */
static struct job *take_jobs(intake_committer *c)
{
    struct job *first = c->head, *last = c->head;
    size_t items = last->n;
    c->queued--;
    while (last->next && items + last->next->n <= c->max_batch) {
        last = last->next;
        items += last->n;
        c->queued--;
    }
    c->head = last->next;
    if (!c->head)
        c->tail = NULL;
    last->next = NULL;
    return first;
}

/* Commits one job alone. */
static void commit_one(intake_committer *c, struct job *j)
{
    j->rc = intake_spool_submit(c->sp, j->source, j->items, j->n, NULL, NULL, j->results);
}

static size_t group_items(struct job *const *group, size_t ng)
{
    size_t n = 0;
    for (size_t i = 0; i < ng; i++)
        n += group[i]->n;
    return n;
}

/* Commits the jobs of one source in one transaction. */
static void commit_group(intake_committer *c, struct job **group, size_t ng)
{
    if (ng == 1) {
        commit_one(c, group[0]);
        return;
    }
    size_t total = group_items(group, ng), at = 0;
    json_t **items = malloc((total ? total : 1) * sizeof *items);
    struct intake_submit_result *res = malloc((total ? total : 1) * sizeof *res);
    int rc = INTAKE_SPOOL_TEMP;
    if (items && res) {
        for (size_t i = 0; i < ng; i++)
            for (size_t k = 0; k < group[i]->n; k++)
                items[at++] = group[i]->items[k];
        rc = intake_spool_submit(c->sp, group[0]->source, items, total, NULL, NULL, res);
    }
    at = 0;
    for (size_t i = 0; i < ng; i++) {
        if (rc == INTAKE_SPOOL_FATAL)
            commit_one(c, group[i]); /* find whose items are bad */
        else
            group[i]->rc = rc;
        if (rc == INTAKE_SPOOL_OK && group[i]->results)
            memcpy(group[i]->results, res + at, group[i]->n * sizeof *res);
        at += group[i]->n;
    }
    free(items);
    free(res);
}

/* Commits a taken list: one group (and transaction) per source, in queue order. */
static void commit_round(intake_committer *c, struct job *list)
{
    size_t n = 0;
    for (struct job *j = list; j; j = j->next)
        n++;
    struct job **pending = malloc(n * sizeof *pending), **group = malloc(n * sizeof *group);
    if (!pending || !group) {
        for (struct job *j = list; j; j = j->next)
            j->rc = INTAKE_SPOOL_TEMP;
        free(pending);
        free(group);
        return;
    }
    size_t left = 0;
    for (struct job *j = list; j; j = j->next)
        pending[left++] = j;
    while (left > 0) {
        size_t ng = 0, keep = 0;
        const char *source = pending[0]->source;
        for (size_t i = 0; i < left; i++) {
            if (strcmp(pending[i]->source, source) == 0)
                group[ng++] = pending[i];
            else
                pending[keep++] = pending[i];
        }
        commit_group(c, group, ng);
        left = keep;
    }
    free(pending);
    free(group);
}

static void *committer_main(void *arg)
{
    intake_committer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->head && !c->stopping)
            pthread_cond_wait(&c->work, &c->mu);
        if (!c->head)
            break;
        struct job *list = take_jobs(c);
        pthread_mutex_unlock(&c->mu);
        commit_round(c, list);
        pthread_mutex_lock(&c->mu);
        for (struct job *j = list, *next; j; j = next) {
            next = j->next; /* read before `done`: the caller may return at once */
            j->done = true;
        }
        pthread_cond_broadcast(&c->done);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

intake_committer *intake_committer_start(const char *spool_path, size_t max_queue, char *err,
                                         size_t errlen)
{
    intake_committer *c = calloc(1, sizeof *c);
    if (!c) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    c->max_queue = max_queue ? max_queue : INTAKE_COMMITTER_MAX_QUEUE;
    const char *batch = getenv("INTAKE_COMMIT_BATCH"); /* benchmarks only: see the header */
    long b = batch ? strtol(batch, NULL, 10) : 0;
    c->max_batch = b >= 1 && b < INTAKE_COMMITTER_MAX_BATCH ? (size_t)b
                                                              : INTAKE_COMMITTER_MAX_BATCH;
    if (intake_spool_open(spool_path, &c->sp, err, errlen) != INTAKE_SPOOL_OK) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->work, NULL);
    pthread_cond_init(&c->done, NULL);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        set_err(err, errlen, "cannot start the committer thread");
        pthread_cond_destroy(&c->done);
        pthread_cond_destroy(&c->work);
        pthread_mutex_destroy(&c->mu);
        intake_spool_close(c->sp);
        free(c);
        return NULL;
    }
    return c;
}

int intake_committer_submit(intake_committer *c, const char *source, json_t *const *items,
                            size_t n, struct intake_submit_result *results)
{
    if (!c || !source || (n > 0 && !items))
        return INTAKE_SPOOL_FATAL;
    struct job j = {NULL, source, items, n, results, INTAKE_SPOOL_TEMP, false};
    pthread_mutex_lock(&c->mu);
    if (c->stopping || c->queued >= c->max_queue) {
        pthread_mutex_unlock(&c->mu);
        return INTAKE_SPOOL_TEMP;
    }
    if (c->tail)
        c->tail->next = &j;
    else
        c->head = &j;
    c->tail = &j;
    c->queued++;
    pthread_cond_signal(&c->work);
    while (!j.done)
        pthread_cond_wait(&c->done, &c->mu);
    pthread_mutex_unlock(&c->mu);
    return j.rc;
}

void intake_committer_stop(intake_committer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    intake_spool_close(c->sp);
    pthread_cond_destroy(&c->done);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
