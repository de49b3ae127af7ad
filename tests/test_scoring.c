/* Scoring, decision, confidence, flags, mp_underlying and meta rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "intake/classifier.h"

static const char rules[] =
    "set default_category comment\n"
    "rule BROKEN\n describe broken\n field body\n match /\\bbroken\\b/\n"
    " score service_request 2, urgent 0.6\n example+ it is broken\n example- fine\n"
    "rule AGAIN\n describe again\n field text\n match /\\bagain\\b/\n"
    " score complaint 1.5\n example+ again\n example- once\n"
    "rule NO_HEAT\n describe no heat\n field body\n match /\\bno heat(?:ing)?\\b/\n"
    " score urgent 0.6\n example+ no heating\n example- heating fine\n"
    "rule THANKS\n describe thanks\n field body\n match /\\bthanks?\\b/\n"
    " score compliment 1\n example+ thanks\n example- think\n"
    "rule SARCASTIC_THANKS\n describe thanks but still broken\n meta THANKS && (BROKEN || AGAIN)\n"
    " score complaint 2, compliment -1\n example+ thanks, broken again\n example- thanks\n"
    "rule MP_SENDER\n describe mp\n field from\n match /@parliament\\.uk$/\n"
    " score mp_enquiry 10\n example+ a@parliament.uk\n example- a@example.org\n"
    "rule CLLR\n describe cllr\n field from_name\n match /^Cllr\\b/c\n"
    " score mp_enquiry 10\n example+ Cllr Jones\n example- cllr jones\n"
    "rule PUBLIC_POST\n describe public\n field public\n match /^true$/\n"
    " score comment 0.1\n example+ true\n example- false\n"
    "rule SUBJECT_ONLY\n describe subject\n field subject\n match /\\burgent\\b/\n"
    " score urgent 0.5\n example+ URGENT\n example- soon\n";

struct fixture {
    intake_ruleset *rs;
    intake_scanner *sc;
};

static int setup(void **state)
{
    static struct fixture f;
    intake_diag d = {0};
    if (intake_ruleset_load_text("t.rules", rules, &f.rs, &d) != 0)
        return -1;
    f.sc = intake_scanner_new(f.rs);
    *state = &f;
    return f.sc ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    intake_scanner_free(f->sc);
    intake_ruleset_free(f->rs);
    return 0;
}

static intake_verdict run(void **state, const char *subject, const char *body,
                          const char *from, const char *name, bool pub)
{
    struct fixture *f = *state;
    intake_message m = {
        .subject = subject, .subject_len = subject ? strlen(subject) : 0,
        .body = body, .body_len = strlen(body),
        .from_address = from, .from_address_len = from ? strlen(from) : 0,
        .from_name = name, .from_name_len = name ? strlen(name) : 0,
        .channel = "email", .channel_len = 5, .is_public = pub,
    };
    intake_verdict v;
    assert_int_equal(intake_classify(f->sc, &m, &v), 0);
    return v;
}

static bool fired(void **state, const intake_verdict *v, const char *name)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < v->nfired; i++)
        if (strcmp(intake_rule_name(f->rs, v->fired[i]), name) == 0)
            return true;
    return false;
}

static void sums_weights_and_picks_the_top(void **state)
{
    intake_verdict v = run(state, NULL, "The gate is broken.", NULL, NULL, false);
    assert_int_equal(v.category, INTAKE_CAT_SERVICE_REQUEST);
    assert_int_equal(v.nfired, 1);
    assert_true(v.score[INTAKE_CAT_SERVICE_REQUEST] == 2.0);
    /* softmax: e^2 / (e^2 + 5) */
    assert_true(v.confidence > 0.596 && v.confidence < 0.597);
    assert_int_equal(v.flags, 0); /* urgent 0.6 is under the threshold of 1 */
}

static void flags_need_the_threshold(void **state)
{
    intake_verdict v = run(state, NULL, "Broken boiler, no heating", NULL, NULL, false);
    assert_true(v.flags & (1u << INTAKE_FLAG_URGENT)); /* 0.6 + 0.6 */
    v = run(state, "URGENT", "no heating", NULL, NULL, false);
    assert_true(v.flags & (1u << INTAKE_FLAG_URGENT)); /* subject 0.5 + body 0.6 */
    v = run(state, NULL, "no heating", NULL, NULL, false);
    assert_false(v.flags & (1u << INTAKE_FLAG_URGENT));
}

static void default_category_when_nothing_scores(void **state)
{
    intake_verdict v = run(state, NULL, "Hello there", NULL, NULL, false);
    assert_int_equal(v.category, INTAKE_CAT_COMMENT);
    assert_int_equal(v.nfired, 0);
    assert_int_equal(v.mp_underlying, -1);
}

static void meta_rules_combine(void **state)
{
    intake_verdict v = run(state, NULL, "Thanks. Broken again!", NULL, NULL, false);
    assert_true(fired(state, &v, "SARCASTIC_THANKS"));
    assert_int_equal(v.category, INTAKE_CAT_COMPLAINT); /* 1.5 + 2 > 2 */
    v = run(state, NULL, "Thanks!", NULL, NULL, false);
    assert_false(fired(state, &v, "SARCASTIC_THANKS"));
    assert_int_equal(v.category, INTAKE_CAT_COMPLIMENT);
}

static void fields_are_separate(void **state)
{
    /* "again" in the subject counts for the text field; "broken" in the subject does not
     * count for the body field. */
    intake_verdict v = run(state, "broken again", "nothing", NULL, NULL, false);
    assert_true(fired(state, &v, "AGAIN"));
    assert_false(fired(state, &v, "BROKEN"));
    v = run(state, NULL, "x", NULL, NULL, true);
    assert_true(fired(state, &v, "PUBLIC_POST"));
}

static void mp_underlying_follows_scores(void **state)
{
    intake_verdict v = run(state, NULL, "The lift is broken", "a@parliament.uk", NULL, false);
    assert_int_equal(v.category, INTAKE_CAT_MP_ENQUIRY);
    assert_int_equal(v.mp_underlying, INTAKE_CAT_SERVICE_REQUEST);
    v = run(state, NULL, "Failed again", NULL, "Cllr Ann Smith", false);
    assert_int_equal(v.category, INTAKE_CAT_MP_ENQUIRY);
    assert_int_equal(v.mp_underlying, INTAKE_CAT_COMPLAINT);
    /* Case-sensitive pattern: "cllr" in lower case is not the title. */
    v = run(state, NULL, "Failed again", NULL, "cllr fan", false);
    assert_int_equal(v.category, INTAKE_CAT_COMPLAINT);
}

static void quoted_text_does_not_count(void **state)
{
    intake_verdict v = run(state, NULL,
                           "Sounds good.\n\nOn 1 May 2024, Team wrote:\n> broken again\n", NULL,
                           NULL, false);
    assert_int_equal(v.nfired, 0);
}

static void hostile_text_is_safe(void **state)
{
    char big[200000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big + sizeof big - 20, " broken", 7); /* past the scan cap: not seen */
    intake_verdict v = run(state, NULL, big, NULL, NULL, false);
    assert_false(fired(state, &v, "BROKEN"));
    /* More prefix occurrences than a scanner starts with: it grows and still anchors. */
    static char many[7 * 3000 + 32];
    size_t n = 0;
    for (int i = 0; i < 3000; i++) {
        memcpy(many + n, "thanks ", 7);
        n += 7;
    }
    memcpy(many + n, "broken again", 13);
    v = run(state, NULL, many, NULL, NULL, false);
    assert_true(fired(state, &v, "THANKS"));
    assert_true(fired(state, &v, "SARCASTIC_THANKS"));
    assert_int_equal(v.category, INTAKE_CAT_COMPLAINT);
    /* Hundreds of near misses before the real one: past the anchored tries, one plain
     * search still finds it. */
    n = 0;
    for (int i = 0; i < 300; i++) {
        memcpy(many + n, "brokenly ", 9);
        n += 9;
    }
    memcpy(many + n, "broken", 7);
    v = run(state, NULL, many, NULL, NULL, false);
    assert_true(fired(state, &v, "BROKEN"));
    many[n] = '\0';
    v = run(state, NULL, many, NULL, NULL, false);
    assert_false(fired(state, &v, "BROKEN"));
    const char bad[] = "\xff\xfe broken \xc3";
    v = run(state, NULL, bad, NULL, NULL, false);
    assert_true(fired(state, &v, "BROKEN"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sums_weights_and_picks_the_top),
        cmocka_unit_test(flags_need_the_threshold),
        cmocka_unit_test(default_category_when_nothing_scores),
        cmocka_unit_test(meta_rules_combine),
        cmocka_unit_test(fields_are_separate),
        cmocka_unit_test(mp_underlying_follows_scores),
        cmocka_unit_test(quoted_text_does_not_count),
        cmocka_unit_test(hostile_text_is_safe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
