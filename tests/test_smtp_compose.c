/* The smtp sink's message composition (gateway/sinks/smtp_compose.h): templates, dates in
 * words, address and message-id checks, headers with encoded words, quoted-printable
 * bodies and address masking. The session itself is tested against a real SMTP server by
 * tests/daemon/test_smtp.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sinks/smtp_compose.h"

static const char *const names[] = {"reference", "respond_by_words", NULL};

static void templates_are_checked_and_rendered(void **state)
{
    (void)state;
    char err[200] = "";
    assert_int_equal(smtp_template_check("Ref {{reference}} by {{ respond_by_words }}.",
                                         names, err, sizeof err), 0);
    assert_int_equal(smtp_template_check("Dear {{name}}", names, err, sizeof err), -1);
    assert_string_equal(err, "unknown placeholder {{name}}");
    assert_int_equal(smtp_template_check("Ref {{reference", names, err, sizeof err), -1);
    assert_non_null(strstr(err, "without"));
    struct smtp_var vars[] = {{"reference", "019a-1"}, {"respond_by_words", NULL}};
    char *out = smtp_render("Ref {{reference}}, {{reference}}; by {{ respond_by_words }}!",
                            vars, 2);
    assert_string_equal(out, "Ref 019a-1, 019a-1; by !");
    free(out);
    /* a value holding "{{" is not expanded again */
    struct smtp_var tricky[] = {{"reference", "{{respond_by_words}}"},
                                {"respond_by_words", "x"}};
    out = smtp_render("{{reference}}", tricky, 2);
    assert_string_equal(out, "{{respond_by_words}}");
    free(out);
}

static void template_files(void **state)
{
    (void)state;
    char err[300] = "", path[] = "/tmp/test_smtp_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "A\0B", 3), 3);
    close(fd);
    assert_null(smtp_template_load(path, names, err, sizeof err));
    assert_non_null(strstr(err, "NUL"));
    unlink(path);
    assert_null(smtp_template_load("/nonexistent/t.txt", names, err, sizeof err));
    /* the shipped acknowledgement holds only known placeholders */
    static const char *const ack[] = {"reference", "category_words", "respond_by_words",
                                      "received_words", "ombudsman", "organisation", NULL};
    char *t = smtp_template_load(INTAKE_RULES_DIR "/templates/acknowledgement.txt", ack, err,
                                 sizeof err);
    assert_non_null(t);
    assert_non_null(strstr(t, "{{ombudsman}}"));
    free(t);
}

static void dates_in_words(void **state)
{
    (void)state;
    char w[64];
    assert_int_equal(smtp_date_words("2026-01-09", w, sizeof w), 0);
    assert_string_equal(w, "Friday 9 January 2026");
    assert_int_equal(smtp_date_words("2028-02-29", w, sizeof w), 0);
    assert_string_equal(w, "Tuesday 29 February 2028");
    assert_int_equal(smtp_date_words("2025-12-31", w, sizeof w), 0);
    assert_string_equal(w, "Wednesday 31 December 2025");
    assert_int_equal(smtp_date_words("2026-02-30", w, sizeof w), -1);
    assert_string_equal(w, "");
    assert_int_equal(smtp_date_words(NULL, w, sizeof w), -1);
    assert_string_equal(smtp_category_words("complaint", false), "a complaint");
    assert_string_equal(smtp_category_words("complaint", true),
                        "a request to take your complaint to stage 2");
    assert_string_equal(smtp_category_words("mp_enquiry", false),
                        "an enquiry from an MP or councillor");
    assert_string_equal(smtp_category_words(NULL, false), "a message");
}

static void addresses_and_ids(void **state)
{
    (void)state;
    assert_true(smtp_address_ok("ann.resident+x@example.org"));
    assert_true(smtp_address_ok("jos\xc3\xa9@example.org"));
    const char *bad[] = {NULL, "", "plain", "@example.org", "ann@", "a@b@c",
                         "Ann <ann@example.org>", "ann@example.org\r\nBcc: x@y.z",
                         "ann @example.org", "\"ann\"@example.org"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(smtp_address_ok(bad[i]));
    assert_true(smtp_msgid_ok("<abc.123@mail.example.org>"));
    assert_false(smtp_msgid_ok("abc@example.org"));
    assert_false(smtp_msgid_ok("<abc@example.org>\r\nBcc: x@y"));
    assert_false(smtp_msgid_ok("<a b@example.org>"));
    assert_false(smtp_msgid_ok("<noat>"));
}

/* The header block of a message (up to the blank line). */
static char *header_block(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    return strndup(msg, (size_t)(end - msg + 2));
}

static void every_line_is_short_and_crlf(const char *msg)
{
    for (const char *p = msg; *p;) {
        const char *nl = strstr(p, "\r\n");
        assert_non_null(nl); /* every line ends CRLF */
        assert_true(nl - p <= 78);
        assert_null(memchr(p, '\n', (size_t)(nl - p)));
        p = nl + 2;
    }
}

static void message_headers(void **state)
{
    (void)state;
    const char *refs[] = {"<a@x.example>", "<b@x.example>"};
    struct smtp_mail m = {
        .from = "complaints@riverside.example",
        .from_name = "Riverside \"Homes\"", .to = "ann@example.org",
        .reply_to = "feedback@riverside.example",
        .subject = "Re: Leak \xe2\x80\x93 still not fixed after three visits, and the "
                   "ceiling is now stained \xe2\x80\x93 please help\r\nBcc: evil@x.example",
        .message_id = "<id.ack@riverside.example>", .in_reply_to = "<b@x.example>",
        .references = refs, .nreferences = 2, .auto_submitted = "auto-replied",
        .date = 1767952800.0, /* 2026-01-09 10:00:00 UTC */
        .body = "Hello"};
    char *msg = smtp_mail_build(&m);
    assert_non_null(msg);
    every_line_is_short_and_crlf(msg);
    char *h = header_block(msg);
    assert_non_null(strstr(h, "Date: Fri, 09 Jan 2026 10:00:00 +0000\r\n"));
    assert_non_null(strstr(h, "From: \"Riverside \\\"Homes\\\"\"\r\n <complaints@riverside"
                              ".example>\r\n"));
    assert_non_null(strstr(h, "To: ann@example.org\r\n"));
    assert_non_null(strstr(h, "Reply-To: feedback@riverside.example\r\n"));
    /* encoded words, folded; the injected line break became a space inside them */
    assert_non_null(strstr(h, "Subject: =?UTF-8?B?"));
    assert_null(strstr(h, "\r\nBcc:"));
    assert_non_null(strstr(h, "?=\r\n =?UTF-8?B?"));
    assert_non_null(strstr(h, "In-Reply-To: <b@x.example>\r\n"));
    assert_non_null(strstr(h, "References: <a@x.example>\r\n <b@x.example>\r\n"));
    assert_non_null(strstr(h, "Auto-Submitted: auto-replied\r\n"));
    assert_non_null(strstr(h, "Content-Type: text/plain; charset=utf-8\r\n"));
    assert_non_null(strstr(h, "Content-Transfer-Encoding: quoted-printable\r\n"));
    free(h);
    free(msg);
}

/* The body after the blank line. */
static const char *body_of(const char *msg)
{
    const char *b = strstr(msg, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

static void quoted_printable_body(void **state)
{
    (void)state;
    char long_line[200];
    memset(long_line, 'a', 150);
    long_line[150] = '\0';
    char body[400];
    snprintf(body, sizeof body, "Caf\xc3\xa9 = 5 \nend \n.\n%s\n\ttab", long_line);
    struct smtp_mail m = {.from = "a@b.example", .to = "c@d.example", .subject = "s",
                          .body = body};
    char *msg = smtp_mail_build(&m);
    assert_non_null(msg);
    every_line_is_short_and_crlf(msg);
    const char *b = body_of(msg);
    /* UTF-8 and '=' encoded; a trailing space encoded; a lone dot never starts a line */
    assert_true(strncmp(b, "Caf=C3=A9 =3D 5=20\r\nend=20\r\n=2E\r\n", 32) == 0);
    /* the long line is soft-broken and comes back whole */
    const char *a = strstr(b, "aaaa");
    size_t count = 0;
    for (const char *p = a; *p && *p != '\t' && strncmp(p, "=09", 3); p++)
        count += *p == 'a';
    assert_int_equal(count, 150);
    assert_non_null(strstr(a, "=\r\n"));
    assert_non_null(strstr(b, "\r\n\ttab\r\n"));
    free(msg);
}

static void masks_addresses(void **state)
{
    (void)state;
    char out[128];
    smtp_mask_addresses("550 5.1.1 <ann@example.org>: Recipient address rejected", out,
                        sizeof out);
    assert_string_equal(out, "550 5.1.1 [address] Recipient address rejected");
    smtp_mask_addresses("451 try ann@example.org later", out, sizeof out);
    assert_string_equal(out, "451 try [address] later");
    smtp_mask_addresses("550 <ann@example.org>", out, 8);
    assert_string_equal(out, "550 [ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(templates_are_checked_and_rendered),
        cmocka_unit_test(template_files),
        cmocka_unit_test(dates_in_words),
        cmocka_unit_test(addresses_and_ids),
        cmocka_unit_test(message_headers),
        cmocka_unit_test(quoted_printable_body),
        cmocka_unit_test(masks_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
