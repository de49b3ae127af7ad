/* The social connectors' pure parsing (include/intake/social.h): rate-limit headers of X
 * and Mastodon, the wait they imply, Graph error bodies and codes, Meta usage headers
 * and id order. Inputs in the shapes of ../shared/apis.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "intake/social.h"

static void x_headers(void **state)
{
    (void)state;
    struct intake_rate r;
    assert_int_equal(intake_rate_parse_x("15", "3", "1700000900", &r), 0);
    assert_true(r.known);
    assert_int_equal(r.limit, 15);
    assert_int_equal(r.remaining, 3);
    assert_true(r.reset == 1700000900.0);
    assert_int_equal(intake_rate_parse_x("15", NULL, "1700000900", &r), -1);
    assert_false(r.known);
    assert_int_equal(intake_rate_parse_x("15", "-1", "1700000900", &r), -1);
    assert_int_equal(intake_rate_parse_x("15", "3", "2024-01-15T10:30:00Z", &r), -1);
    assert_int_equal(intake_rate_parse_x("15", "3x", "1700000900", &r), -1);
}

static void mastodon_headers(void **state)
{
    (void)state;
    struct intake_rate r;
    assert_int_equal(intake_rate_parse_mastodon("300", "299", "2023-11-14T22:15:00.000Z", &r),
                     0);
    assert_true(r.known);
    assert_true(r.reset == 1700000100.0);
    assert_int_equal(intake_rate_parse_mastodon("300", "299", "1700000100", &r), -1);
    assert_false(r.known);
}

static void waits(void **state)
{
    (void)state;
    struct intake_rate unknown = {0};
    struct intake_rate spent = {true, 15, 0, 1000.0};
    struct intake_rate some = {true, 15, 10, 1900.0};
    struct intake_rate ample = {true, 900, 800, 1100.0};
    assert_true(intake_rate_wait(&unknown, 1000.0, 60) == 60);
    assert_true(intake_rate_wait(&spent, 900.0, 60) == 101); /* reset + 1 s */
    assert_true(intake_rate_wait(&spent, 2000.0, 5) == 5);   /* already reset */
    assert_true(intake_rate_wait(&some, 1000.0, 60) == 90);  /* 900 s over 10 requests */
    assert_true(intake_rate_wait(&ample, 1000.0, 60) == 60);
    struct intake_rate far = {true, 1, 0, 1e12};
    assert_true(intake_rate_wait(&far, 0, 1) == 86400);
}

static void graph_errors(void **state)
{
    (void)state;
    struct intake_meta_error e;
    const char *expired = "{\"error\":{\"message\":\"Error validating access token\",\"type\":"
                          "\"OAuthException\",\"code\":190,\"error_subcode\":463,"
                          "\"fbtrace_id\":\"x\"}}";
    assert_int_equal(intake_meta_error_parse(expired, strlen(expired), &e), 0);
    assert_int_equal(e.code, 190);
    assert_int_equal(e.subcode, 463);
    assert_false(e.transient);
    assert_int_equal(intake_meta_action_of(e.code), INTAKE_META_REAUTH);
    const char *limit = "{\"error\":{\"message\":\"(#4) Application request limit reached\","
                        "\"code\":4,\"is_transient\":true}}";
    assert_int_equal(intake_meta_error_parse(limit, strlen(limit), &e), 0);
    assert_true(e.transient);
    static const int throttles[] = {4, 17, 32, 613, 80001};
    for (size_t i = 0; i < sizeof throttles / sizeof *throttles; i++)
        assert_int_equal(intake_meta_action_of(throttles[i]), INTAKE_META_THROTTLE);
    assert_int_equal(intake_meta_action_of(1), INTAKE_META_TEMP);
    assert_int_equal(intake_meta_action_of(2), INTAKE_META_TEMP);
    assert_int_equal(intake_meta_action_of(100), INTAKE_META_FAIL);
    assert_int_equal(intake_meta_error_parse("{\"data\":[]}", 11, &e), -1);
    assert_int_equal(e.code, 0);
    assert_int_equal(intake_meta_error_parse("not json", 8, &e), -1);
    assert_int_equal(intake_meta_error_parse("{\"error\":\"x\"}", 13, &e), -1);
}

static void usage(void **state)
{
    (void)state;
    double regain = -1;
    assert_true(intake_meta_usage("{\"call_count\":28,\"total_cputime\":25,\"total_time\":25}",
                                  NULL, &regain) == 28);
    assert_true(regain == 0);
    assert_true(intake_meta_usage(
                    "{\"call_count\":28}",
                    "{\"1234\":[{\"type\":\"pages\",\"call_count\":95,\"total_cputime\":10,"
                    "\"total_time\":12,\"estimated_time_to_regain_access\":5}]}",
                    &regain) == 95);
    assert_true(regain == 300);
    /* an absurd estimate is capped at a day, like every other wait */
    assert_true(intake_meta_usage(NULL, "{\"1234\":[{\"call_count\":100,"
                                  "\"estimated_time_to_regain_access\":1e12}]}",
                                  &regain) == 100);
    assert_true(regain == 86400);
    assert_true(intake_meta_usage("garbage", "[1]", &regain) == 0);
    assert_true(intake_meta_usage(NULL, NULL, &regain) == 0);
}

static void ids(void **state)
{
    (void)state;
    assert_true(intake_id_cmp("34975861", "34975535") > 0);
    assert_true(intake_id_cmp("9", "10") < 0);
    assert_true(intake_id_cmp("1301573587187331074", "1301573587187331074") == 0);
    assert_true(intake_id_cmp("007", "7") == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(x_headers),    cmocka_unit_test(mastodon_headers),
        cmocka_unit_test(waits),        cmocka_unit_test(graph_errors),
        cmocka_unit_test(usage),
        cmocka_unit_test(ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
