/* The `intake classify` JSON Lines contract, through the same function the program uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/jsonl.h"

static const char rules[] =
    "rule LEAK\n describe leak\n field text\n match /\\bleak/\n score service_request 2, "
    "damp_mould 1\n example+ a leak\n example- bleak\n"
    "rule MP\n describe mp\n field from\n match /parliament\\.uk$/\n score mp_enquiry 5\n"
    " example+ a@parliament.uk\n example- a@b.c\n";

/* Runs `input` through the contract and returns the output lines as parsed JSON. */
static size_t run(const char *input, json_t **out, size_t max)
{
    intake_ruleset *rs;
    intake_diag d = {0};
    assert_int_equal(intake_ruleset_load_text("j.rules", rules, &rs, &d), 0);
    FILE *in = fmemopen((void *)input, strlen(input), "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    struct intake_jsonl_stats st;
    assert_int_equal(intake_jsonl_classify(in, o, rs, INTAKE_REDACT_PUBLIC, &st), 0);
    fclose(in);
    fclose(o);
    size_t n = 0;
    for (char *line = strtok(buf, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        out[n] = json_loads(line, 0, NULL);
        assert_non_null(out[n]);
        n++;
    }
    assert_int_equal(st.lines, n);
    free(buf);
    intake_ruleset_free(rs);
    return n;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void answers_every_line_in_order(void **state)
{
    (void)state;
    json_t *o[8];
    size_t n = run("{\"id\":\"a\",\"channel\":\"email\",\"body\":\"A leak \\u00e9\","
                   "\"from\":{\"address\":\"x@parliament.uk\"},\"extra\":[1]}\n"
                   "{\"id\":7,\"channel\":\"x\",\"public\":true,\"body\":\"hi\"}\n"
                   "{\"id\":\"c\",\"channel\":\"webchat\",\"subject\":\"leak\",\"body\":\"\"}\n",
                   o, 8);
    assert_int_equal(n, 3);
    assert_string_equal(str(o[0], "id"), "a");
    assert_string_equal(str(o[0], "category"), "mp_enquiry");
    assert_string_equal(str(o[0], "mp_underlying"), "service_request");
    assert_string_equal(str(o[0], "redacted_body"), "A leak \xc3\xa9");
    assert_int_equal(json_array_size(json_object_get(o[0], "redactions")), 0);
    json_t *flags = json_object_get(o[0], "flags");
    assert_int_equal(json_array_size(flags), 1);
    assert_string_equal(json_string_value(json_array_get(flags, 0)), "damp_mould");
    json_t *fired = json_object_get(o[0], "rules");
    assert_int_equal(json_array_size(fired), 2);
    assert_string_equal(json_string_value(json_array_get(fired, 0)), "LEAK");
    double conf = json_real_value(json_object_get(o[0], "confidence"));
    assert_true(conf > 0.0 && conf <= 1.0);
    assert_int_equal(json_integer_value(json_object_get(o[1], "id")), 7);
    assert_string_equal(str(o[1], "category"), "other");
    assert_true(json_is_null(json_object_get(o[1], "mp_underlying")));
    assert_string_equal(str(o[2], "category"), "service_request");
    for (size_t i = 0; i < n; i++)
        json_decref(o[i]);
}

static void bad_lines_get_error_lines(void **state)
{
    (void)state;
    json_t *o[16];
    size_t n = run("not json at all\n"
                   "[1,2]\n"
                   "{\"channel\":\"email\",\"body\":\"x\"}\n"
                   "{\"id\":\"b\",\"channel\":\"email\"}\n"
                   "{\"id\":\"c\",\"body\":\"x\"}\n"
                   "{\"id\":\"d\",\"channel\":\"email\",\"body\":\"x\",\"public\":\"yes\"}\n"
                   "{\"id\":\"e\",\"channel\":\"email\",\"body\":\"x\",\"from\":\"me\"}\n"
                   "\n"
                   "{\"id\":\"f\",\"channel\":\"email\",\"body\":\"secret \xff\"}\n"
                   "{\"id\":\"g\",\"channel\":\"email\",\"body\":\"leak\"}\n",
                   o, 16);
    assert_int_equal(n, 10);
    assert_true(json_is_null(json_object_get(o[0], "id")));
    assert_string_equal(str(o[0], "error"), "invalid JSON at byte 1");
    assert_string_equal(str(o[1], "error"), "line is not a JSON object");
    assert_non_null(strstr(str(o[2], "error"), "'id'"));
    assert_string_equal(str(o[3], "id"), "b");
    assert_non_null(strstr(str(o[3], "error"), "'body'"));
    assert_non_null(strstr(str(o[4], "error"), "'channel'"));
    assert_non_null(strstr(str(o[5], "error"), "'public'"));
    assert_non_null(strstr(str(o[6], "error"), "'from'"));
    assert_string_equal(str(o[7], "error"), "empty line");
    /* Invalid UTF-8 is refused without quoting the text. */
    assert_null(strstr(str(o[8], "error"), "secret"));
    assert_string_equal(str(o[9], "category"), "service_request");
    for (size_t i = 0; i < n; i++)
        json_decref(o[i]);
}

static void redact_modes_parse(void **state)
{
    (void)state;
    enum intake_redact_mode m;
    assert_int_equal(intake_redact_mode_parse("all", &m), 0);
    assert_int_equal(m, INTAKE_REDACT_ALL);
    assert_int_equal(intake_redact_mode_parse("none", &m), 0);
    assert_int_equal(m, INTAKE_REDACT_NONE);
    assert_int_equal(intake_redact_mode_parse("public", &m), 0);
    assert_int_equal(m, INTAKE_REDACT_PUBLIC);
    assert_int_equal(intake_redact_mode_parse("some", &m), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers_every_line_in_order),
        cmocka_unit_test(bad_lines_get_error_lines),
        cmocka_unit_test(redact_modes_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
