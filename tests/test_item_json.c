/* The strict JSON item reader: valid items, every kind of malformed JSON, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/item_json.h"

static struct intake_json_reader rd;

static int parse(const char *s, struct intake_json_item *it)
{
    size_t at = 0;
    return intake_json_item_parse(&rd, s, strlen(s), it, &at);
}

static void reads_known_members(void **state)
{
    (void)state;
    struct intake_json_item it;
    assert_int_equal(parse(" {\"id\":\"a\\\"b\",\"channel\":\"email\",\"body\":\"x\\ny \\u00e9"
                           "\\ud83d\\ude00\",\"subject\":null,\"public\":true,\"extra\":"
                           "{\"deep\":[1,2.5e3,-0,{\"k\":null}]},\"from\":{\"name\":\"Jo\","
                           "\"handle\":\"@jo\",\"other\":false}} ", &it),
                     0);
    assert_int_equal(it.id.type, INTAKE_JSON_STRING);
    assert_string_equal(it.id.text, "a\"b");
    assert_string_equal(it.body.text, "x\ny \xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(it.body.len, 10);
    assert_int_equal(it.subject.type, INTAKE_JSON_NULL);
    assert_int_equal(it.is_public.type, INTAKE_JSON_TRUE);
    assert_true(it.from_is_object);
    assert_string_equal(it.from_name.text, "Jo");
    assert_string_equal(it.from_handle.text, "@jo");
    assert_int_equal(it.from_address.type, INTAKE_JSON_ABSENT);
}

static void keeps_integers_as_written_and_last_duplicate(void **state)
{
    (void)state;
    struct intake_json_item it;
    assert_int_equal(parse("{\"id\":-42,\"id\":17,\"body\":\"a\\u0000b\"}", &it), 0);
    assert_int_equal(it.id.type, INTAKE_JSON_INTEGER);
    assert_string_equal(it.id.text, "17");
    assert_int_equal(it.body.len, 3); /* an escaped NUL is kept */
    assert_int_equal(parse("{\"id\":1.5,\"from\":\"me\",\"public\":\"yes\"}", &it), 0);
    assert_int_equal(it.id.type, INTAKE_JSON_OTHER);
    assert_false(it.from_is_object);
    assert_int_equal(it.from.type, INTAKE_JSON_STRING);
    assert_int_equal(it.is_public.type, INTAKE_JSON_STRING);
}

static void refuses_malformed_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "{", "}", "{\"id\":}", "{\"id\" 1}", "{\"id\":1,}", "{,}", "{\"a\":1 \"b\":2}",
        "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":tru}",
        "{\"a\":nul}", "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"tab\there\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":[1,2}", "{\"a\":[1 2]}", "{} x", "{}{}",
        "{'a':1}", "{a:1}",
    };
    struct intake_json_item it;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i], &it);
        if (rc != -1)
            fail_msg("accepted or misjudged bad JSON #%zu: rc %d", i, rc);
    }
    assert_int_equal(parse("[1,2]", &it), -3);
    assert_int_equal(parse("\"text\"", &it), -3);
    assert_int_equal(parse("{}", &it), 0);
    assert_int_equal(it.id.type, INTAKE_JSON_ABSENT);
}

static void bounds_nesting(void **state)
{
    (void)state;
    char deep[4096];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof deep, "{\"x\":");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 1000; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    struct intake_json_item it;
    assert_int_equal(parse(deep, &it), -1); /* too deep: refused, no stack overflow */
    n = (size_t)snprintf(deep, sizeof deep, "{\"x\":");
    for (int i = 0; i < 60; i++)
        deep[n++] = '[';
    for (int i = 0; i < 60; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    assert_int_equal(parse(deep, &it), 0);
}

static void survives_random_bytes(void **state)
{
    (void)state;
    /* Every prefix of a valid line and random corruptions of it: never a crash, and
     * the only accepted prefix is the whole line. */
    const char *good = "{\"id\":\"x\",\"channel\":\"x\",\"body\":\"\\u00e9 caf\xc3\xa9\","
                       "\"from\":{\"name\":\"n\"},\"n\":[1,{\"a\":-1.5e-3}]}";
    size_t len = strlen(good);
    struct intake_json_item it;
    size_t at;
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(intake_json_item_parse(&rd, good, cut, &it, &at), -1);
    assert_int_equal(intake_json_item_parse(&rd, good, len, &it, &at), 0);
    char *buf = malloc(len);
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, good, len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % len] = (char)(seed >> 20);
        }
        int rc = intake_json_item_parse(&rd, buf, len, &it, &at);
        assert_true(rc == 0 || rc == -1 || rc == -3);
    }
    free(buf);
}

static int teardown(void **state)
{
    (void)state;
    intake_json_reader_free(&rd);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_known_members),
        cmocka_unit_test(keeps_integers_as_written_and_last_duplicate),
        cmocka_unit_test(refuses_malformed_json),
        cmocka_unit_test(bounds_nesting),
        cmocka_unit_test(survives_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
