/*
 * HTML to text (include/intake/html.h): breaks, entities, skipped elements, whitespace,
 * UTF-8 repair, the output cap, and hostile markup that must not crash or hide text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "intake/html.h"
#include "intake/utf8.h"

struct html_case {
    const char *in, *want;
};

static void check(const struct html_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = 12345;
        char *got = intake_html_to_text(cases[i].in, strlen(cases[i].in), 1 << 20, &len);
        assert_non_null(got);
        assert_string_equal(got, cases[i].want);
        assert_int_equal(len, strlen(got));
        free(got);
    }
}

static void test_breaks(void **state)
{
    (void)state;
    static const struct html_case cases[] = {
        {"<p>Hello</p><p>The <b>boiler</b> is broken &amp; leaking</p>",
         "Hello\n\nThe boiler is broken & leaking"},
        {"line one<br>line two<br/>  line three", "line one\nline two\nline three"},
        {"one<br><br>two<br><br><br><br>three", "one\n\ntwo\n\nthree"},
        {"<ul><li>one</li><li>two</li></ul>after", "one\ntwo\n\nafter"},
        {"<h1>Title</h1>text", "Title\n\ntext"},
        {"<div>Hi</div><div><br></div><div>Mould in the bathroom</div>",
         "Hi\n\nMould in the bathroom"},
        {"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"},
        {"<br><p><br>lead and trail<br></p><br>", "lead and trail"},
    };
    check(cases, sizeof cases / sizeof cases[0]);
}

static void test_entities(void **state)
{
    (void)state;
    static const struct html_case cases[] = {
        {"&lt;tag&gt; &quot;q&quot; &#163;5 &#x20AC;3 &pound;2 caf&eacute; &Eacute;cole",
         "<tag> \"q\" \xc2\xa3" "5 \xe2\x82\xac" "3 \xc2\xa3" "2 caf\xc3\xa9 \xc3\x89" "cole"},
        {"no&nbsp;break &hellip;&rsquo;", "no break \xe2\x80\xa6\xe2\x80\x99"},
        {"&bogus; &amp &#xZZ; &#; & alone", "&bogus; &amp &#xZZ; &#; & alone"},
        {"&#0;&#xD800;&#x110000;", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"a&shy;b", "ab"},
    };
    check(cases, sizeof cases / sizeof cases[0]);
}

static void test_skipped(void **state)
{
    (void)state;
    static const struct html_case cases[] = {
        {"a<script>alert('<p>x')</script>b<style>p{}</style>c<!-- note -->d", "abcd"},
        {"<html><head><title>T</title><style>x</style></head><body>Body</body></html>",
         "Body"},
        {"<head><meta charset=utf-8><body>Still here", "Still here"},
        {"<head>never closed and no body", "never closed and no body"},
        {"<!DOCTYPE html><?xml version=\"1.0\"?>text", "text"},
        {"<a href=\"x>y\" title='p>q'>link</a> text", "link text"},
        {"x<script>never closed", "x"},
        {"x<!-- never closed", "x"},
        {"tail <a href=\"trunc", "tail"},
    };
    check(cases, sizeof cases / sizeof cases[0]);
}

static void test_text(void **state)
{
    (void)state;
    static const struct html_case cases[] = {
        {"<div>  spaced   out\n text </div>", "spaced out text"},
        {"3 < 4 and 5 > 2 <", "3 < 4 and 5 > 2 <"},
        {"", ""},
        {"<p></p>", ""},
        {"tab\there\x01\x7f end", "tab here end"},
        {"bad \xff\xfe utf8 \xc3", "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd"},
        {"ok \xc2\xa3 \xe2\x82\xac", "ok \xc2\xa3 \xe2\x82\xac"},
        {"overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd"},
    };
    check(cases, sizeof cases / sizeof cases[0]);
}

static void test_nul_bytes(void **state)
{
    (void)state;
    const char in[] = "a\0b<p>\0</p>c";
    size_t len;
    char *got = intake_html_to_text(in, sizeof in - 1, 100, &len);
    assert_non_null(got);
    assert_string_equal(got, "a\xef\xbf\xbd" "b\n\n\xef\xbf\xbd\n\nc");
    assert_int_equal(len, strlen(got));
    free(got);
}

static void test_cap(void **state)
{
    (void)state;
    const char *in = "<p>abc</p><p>\xe2\x82\xac\xe2\x82\xac</p>";
    size_t len;
    char *got = intake_html_to_text(in, strlen(in), 3, &len);
    assert_string_equal(got, "abc");
    free(got);
    got = intake_html_to_text(in, strlen(in), 7, &len); /* "abc\n\n" + 2 of 3 euro bytes */
    assert_string_equal(got, "abc");
    assert_int_equal(len, 3);
    free(got);
    got = intake_html_to_text(in, strlen(in), 8, &len);
    assert_string_equal(got, "abc\n\n\xe2\x82\xac");
    free(got);
    got = intake_html_to_text(in, strlen(in), 0, NULL);
    assert_string_equal(got, "");
    free(got);
    got = intake_html_to_text(NULL, 0, 10, &len);
    assert_string_equal(got, "");
    assert_int_equal(len, 0);
    free(got);
}

static int valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = intake_utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* Every byte value in every position: no crash, valid UTF-8 out, within the cap. */
static void test_noise(void **state)
{
    (void)state;
    unsigned char buf[4096];
    uint32_t x = 12345;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            x = x * 1103515245u + 12345u;
            unsigned r = (x >> 16) & 0xff;
            buf[i] = r < 40 ? (unsigned char)"<>&;/!-#x\"'p"[r % 12] : (unsigned char)r;
        }
        size_t len;
        char *got = intake_html_to_text((const char *)buf, sizeof buf, 1000, &len);
        assert_non_null(got);
        assert_true(len <= 1000);
        assert_int_equal(strlen(got), len);
        assert_true(valid_utf8(got, len));
        free(got);
    }
}

/* Fills a buffer of n bytes with copies of pattern. */
static char *repeat(const char *pattern, size_t n)
{
    size_t k = strlen(pattern);
    char *s = malloc(n);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = pattern[i % k];
    return s;
}

/* Markup whose look-ahead searches fail (a head that never closes, quotes that hide every
 * '>') costs a bounded number of bytes read per input byte: each failed search is made
 * once, not once per tag (<head> repeated over 1 MiB took ~50 s before). */
static void test_linear(void **state)
{
    (void)state;
    static const char *const patterns[] = {
        "<head>", "<head x='>'", "<head>a<body", "</head x='>'", "<a '>'\"", "<a '>'",
        "<a x='>' \"", "<script>", "<!--", "<p>x</p>",
    };
    const size_t n = (size_t)1 << 20;
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        char *in = repeat(patterns[p], n);
        size_t len, looked = 0;
        char *got = intake_html_to_text_counted(in, n, n, &len, &looked);
        assert_non_null(got);
        assert_true(looked <= 4 * n);
        free(got);
        free(in);
    }
}

/* What the remembered failures do to the text: a head that never closes hides nothing,
 * however often it opens; after a quote that never closes, tags end at the first '>'
 * (more text shown, never less). */
static void test_failed_searches(void **state)
{
    (void)state;
    static const struct html_case cases[] = {
        {"<head><title>t</title><head>visible<head>too", "t\nvisibletoo"},
        {"<head>hidden</head>shown<head>also hidden</head>end", "shownend"},
        {"<head>x<head>y<body>z<head>w</head>v", "v"},
        {"<head>x<head>y<body>z<head>w", "zw"},
        {"<a title=\"oops>one<i y='>'>two", "one'>two"},
        {"<a title='>'>one<b>two</b>", "onetwo"},
    };
    check(cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaks),  cmocka_unit_test(test_entities),
        cmocka_unit_test(test_skipped), cmocka_unit_test(test_text),
        cmocka_unit_test(test_nul_bytes), cmocka_unit_test(test_cap),
        cmocka_unit_test(test_noise), cmocka_unit_test(test_linear),
        cmocka_unit_test(test_failed_searches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
