/* One rule set shared by several threads, each with its own scanner, gives exactly the
 * decisions one thread gives (the rule set is read-only after loading). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/classifier.h"

#define THREADS 4
#define MAX_ITEMS 1024

struct expect {
    int category;
    uint32_t flags;
    size_t nfired;
};

static const intake_ruleset *rs;
static char *bodies[MAX_ITEMS];
static size_t nbodies;
static struct expect want[MAX_ITEMS];

static void classify_all(struct expect *out)
{
    intake_scanner *sc = intake_scanner_new(rs);
    assert_non_null(sc);
    for (size_t i = 0; i < nbodies; i++) {
        intake_message m = {.body = bodies[i], .body_len = strlen(bodies[i]),
                            .channel = "email", .channel_len = 5};
        intake_verdict v;
        assert_int_equal(intake_classify(sc, &m, &v), 0);
        out[i] = (struct expect){v.category, v.flags, v.nfired};
    }
    intake_scanner_free(sc);
}

static void *worker(void *arg)
{
    struct expect *got = calloc(nbodies, sizeof *got);
    for (int round = 0; round < 5; round++) {
        classify_all(got);
        for (size_t i = 0; i < nbodies; i++)
            if (memcmp(&got[i], &want[i], sizeof got[i]) != 0)
                *(int *)arg = 1;
    }
    free(got);
    return NULL;
}

static void threads_agree_with_one_thread(void **state)
{
    (void)state;
    intake_ruleset *loaded;
    intake_diag d = {0};
    assert_int_equal(intake_ruleset_load_dir(INTAKE_RULES_DIR, &loaded, &d), 0);
    rs = loaded;
    FILE *f = fopen(INTAKE_FIXTURES "/regression.jsonl", "r");
    assert_non_null(f);
    char line[65536];
    while (nbodies < MAX_ITEMS && fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        const char *b = json_string_value(json_object_get(o, "body"));
        if (b)
            bodies[nbodies++] = strdup(b);
        json_decref(o);
    }
    fclose(f);
    classify_all(want);
    pthread_t t[THREADS];
    int bad[THREADS] = {0};
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, &bad[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(bad[i], 0);
    }
    for (size_t i = 0; i < nbodies; i++)
        free(bodies[i]);
    intake_ruleset_free(loaded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threads_agree_with_one_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
