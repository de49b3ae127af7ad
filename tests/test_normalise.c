/* Text clean-up: quoted replies, signatures, disclaimers, HTML, UTF-8 repair, folding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "intake/normalise.h"
#include "intake/utf8.h"

static char *clean(const char *in, intake_buf *b)
{
    assert_int_equal(intake_normalise_body(in, strlen(in), 1 << 20, 1 << 16, b), 0);
    return b->data;
}

static void drops_quoted_replies(void **state)
{
    (void)state;
    intake_buf b = {0};
    assert_string_equal(clean("Still broken.\n\nOn Mon, 3 Jun 2024 at 10:02, Housing Team "
                              "<team@example.org> wrote:\n> Thank you for your report.\n"
                              "> We will be in touch.\n", &b),
                        "Still broken.");
    assert_string_equal(clean("Fine.\nOn Tue, 4 Jun 2024, Jo Bloggs <jo@example.org>\n"
                              "wrote:\nold text\n", &b),
                        "Fine.");
    assert_string_equal(clean("Reply here\n> quoted line\nmore reply\n", &b),
                        "Reply here\nmore reply");
    assert_string_equal(clean("Top\n-----Original Message-----\nFrom: a\nold\n", &b), "Top");
    assert_string_equal(clean("Top\n\nFrom: Housing <h@example.org>\nSent: 02 June 2024\n"
                              "To: me\nSubject: Re: repair\nold text\n", &b),
                        "Top");
    assert_string_equal(clean("Top\n________________________________\nFrom: Housing\n"
                              "old\n", &b),
                        "Top");
    /* "From:" inside a message that is not a header block stays. */
    assert_string_equal(clean("From: the tenant at number 4\nThe fence is down.", &b),
                        "From: the tenant at number 4\nThe fence is down.");
    intake_buf_free(&b);
}

static void drops_signatures_and_disclaimers(void **state)
{
    (void)state;
    intake_buf b = {0};
    assert_string_equal(clean("The boiler is off.\n\nSent from my iPhone", &b),
                        "The boiler is off.");
    assert_string_equal(clean("Help please\n-- \nJo Bloggs\n01234 567890\n", &b), "Help please");
    assert_string_equal(clean("Please call me.\nKind regards\nSam\n\nThis email and any "
                              "attachments are confidential.\nIf you are not the intended "
                              "recipient...\n", &b),
                        "Please call me.\nKind regards\nSam");
    assert_string_equal(clean("Hi\nGet Outlook for Android\n", &b), "Hi");
    intake_buf_free(&b);
}

static void strips_html_and_entities(void **state)
{
    (void)state;
    intake_buf b = {0};
    assert_string_equal(clean("<p>The <b>lift</b> is broken</p><p>again &amp; again</p>", &b),
                        "The lift is broken\n\nagain & again");
    assert_string_equal(clean("<style>p{color:red}</style>Hello&nbsp;there&#33; &rsquo;", &b),
                        "Hello there! '");
    /* Angle brackets that are not HTML stay. */
    assert_string_equal(clean("rent < 500 and <3 and <jo@example.org>", &b),
                        "rent < 500 and <3 and <jo@example.org>");
    assert_string_equal(clean("&unknown; &#xZZ; &#99999999;", &b), "&unknown; &#xZZ; \xEF\xBF\xBD");
    intake_buf_free(&b);
}

static void repairs_utf8_and_folds(void **state)
{
    (void)state;
    intake_buf b = {0};
    /* Invalid bytes: a lone continuation, an overlong '/', a surrogate, a truncated tail. */
    const char bad[] = "a\x80" "b\xC0\xAF" "c\xED\xA0\x80" "d\xE2\x82";
    assert_int_equal(intake_normalise_body(bad, sizeof bad - 1, 1 << 20, 1 << 16, &b), 0);
    assert_string_equal(b.data, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD"
                                "c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "d\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(clean("I\xE2\x80\x99ve   waited \xE2\x80\x9C" "ages\xE2\x80\x9D \xE2\x80\x93 "
                              "\tweeks\r\n\r\n\r\n\r\nreally", &b),
                        "I've waited \"ages\" - weeks\n\nreally");
    /* NUL bytes inside the text do not end it. */
    assert_int_equal(intake_normalise_body("a\0b", 3, 100, 100, &b), 0);
    assert_int_equal(b.len, 3);
    intake_buf_free(&b);
}

static void caps_bytes(void **state)
{
    (void)state;
    intake_buf b = {0};
    /* "é" is two bytes: a cap of 4 must not split the third one. */
    assert_int_equal(intake_normalise_body("\xC3\xA9\xC3\xA9\xC3\xA9", 6, 100, 5, &b), 0);
    assert_string_equal(b.data, "\xC3\xA9\xC3\xA9");
    assert_int_equal(intake_normalise_body("abcdefgh", 8, 3, 100, &b), 0);
    assert_string_equal(b.data, "abc");
    /* A character that fits whole is kept; a cut leaves no separator last. */
    assert_int_equal(intake_normalise_body("a\xC3\xA9" "b", 4, 100, 3, &b), 0);
    assert_string_equal(b.data, "a\xC3\xA9");
    assert_int_equal(intake_normalise_body("ab\ncd", 5, 100, 3, &b), 0);
    assert_string_equal(b.data, "ab");
    intake_buf_free(&b);
}

static void line_fields(void **state)
{
    (void)state;
    intake_buf b = {0};
    assert_int_equal(intake_normalise_line("Re:  repair\n> not a quote", 25, 100, &b), 0);
    assert_string_equal(b.data, "Re: repair > not a quote");
    assert_int_equal(intake_normalise_line("@handle", 7, 100, &b), 0);
    assert_string_equal(b.data, "Re: repair > not a quote @handle");
    intake_buf_free(&b);
}

/* The engine matches with UTF checks off: whatever comes in, what comes out must be
 * valid UTF-8 within its cap. */
static void output_is_always_valid_utf8(void **state)
{
    (void)state;
    intake_buf b = {0};
    char in[300];
    unsigned seed = 7;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(round % 300);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            /* Mostly text, with multi-byte characters, markup, newlines and noise. */
            static const char *const bits[] = {"a", " ", "\n", "\xC3\xA9", "\xE2\x80\x99",
                                               "<p>", "&amp;", "\xF0\x9F\x98\x80", "> "};
            const char *bit = bits[r % 9];
            if (r % 13 == 0) {
                in[i] = (char)(r >> 4);
                continue;
            }
            size_t bl = strlen(bit);
            if (i + bl > n)
                bl = n - i;
            memcpy(in + i, bit, bl);
            i += bl - 1;
        }
        size_t cap = 1 + (size_t)(round % 50);
        assert_int_equal(intake_normalise_body(in, n, 1000, cap, &b), 0);
        assert_true(b.len <= cap);
        for (size_t i = 0; i < b.len;) {
            uint32_t cp;
            size_t used = intake_utf8_decode(b.data + i, b.len - i, &cp);
            assert_true(used > 0);
            i += used;
        }
    }
    intake_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(drops_quoted_replies),
        cmocka_unit_test(drops_signatures_and_disclaimers),
        cmocka_unit_test(strips_html_and_entities),
        cmocka_unit_test(repairs_utf8_and_folds),
        cmocka_unit_test(caps_bytes),
        cmocka_unit_test(output_is_always_valid_utf8),
        cmocka_unit_test(line_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
