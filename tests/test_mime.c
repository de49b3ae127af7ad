/*
 * The MIME parser (include/intake/mime.h) on the fixtures of tests/fixtures/mime (see its
 * README) and on messages built here: charsets, encoded words, transfer encodings,
 * attachments, nesting, caps, automated reasons, threading, hostile input.
 * INTAKE_TEST_QUICK=1 (set for the valgrind run) skips the 30 MB attachment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>

#include "intake/mime.h"

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/mime/%s", INTAKE_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static json_t *parse_with(const char *raw, size_t len, const struct intake_mime_opts *o)
{
    char err[128] = "";
    json_t *item = intake_mime_parse(raw, len, o, err, sizeof err);
    if (!item)
        fail_msg("parse failed: %s", err);
    return item;
}

static json_t *fixture(const char *name)
{
    size_t len;
    char *raw = slurp(name, &len);
    json_t *item = parse_with(raw, len, NULL);
    free(raw);
    return item;
}

static const char *str(const json_t *item, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = item;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    return json_string_value(v);
}

static bool has_problem(const json_t *item, const char *code)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(item, "email"), "problems"), i, v)
        if (strcmp(json_string_value(v), code) == 0)
            return true;
    return false;
}

static size_t problem_count(const json_t *item)
{
    return json_array_size(json_object_get(json_object_get(item, "email"), "problems"));
}

static void sha256_hex(const void *s, size_t n, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(s, n, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
}

/* ---- ordinary mail ---- */

static void test_normal_not_flagged(void **state)
{
    (void)state;
    json_t *it = fixture("normal-lf.eml");
    assert_string_equal(str(it, "id"), "normal-1@mail.example.org");
    assert_string_equal(str(it, "channel"), "email");
    assert_true(json_is_false(json_object_get(it, "public")));
    assert_null(json_object_get(it, "automated"));
    assert_string_equal(str(it, "subject"), "Complaint CMP-20481: still no heating");
    assert_string_equal(str(it, "from.name"), "Jo Bloggs");
    assert_string_equal(str(it, "from.address"), "jo.bloggs@example.org");
    assert_string_equal(str(it, "email.to.0.address"), "complaints@example-housing.org.uk");
    assert_string_equal(str(it, "email.date"), "2025-11-04T09:15:00.000Z");
    assert_string_equal(str(it, "thread.message_id"), "<normal-1@mail.example.org>");
    assert_true(json_is_null(json_object_get(json_object_get(it, "thread"), "in_reply_to")));
    assert_non_null(strstr(str(it, "body"), "Rent is \xc2\xa3" "650 a month.\n\nJo Bloggs"));
    assert_int_equal(problem_count(it), 0);
    assert_true(json_is_false(json_object_get(json_object_get(it, "email"), "oversize")));
    json_decref(it);
}

static void test_crlf_and_lf_agree(void **state)
{
    (void)state;
    json_t *lf = fixture("normal-lf.eml"), *crlf = fixture("normal-crlf.eml");
    assert_null(strchr(str(crlf, "body"), '\r'));
    json_object_del(json_object_get(lf, "email"), "size");
    json_object_del(json_object_get(crlf, "email"), "size");
    assert_true(json_equal(lf, crlf));
    json_decref(lf);
    json_decref(crlf);
}

static void test_outlook_reply(void **state)
{
    (void)state;
    json_t *it = fixture("outlook-reply.eml");
    assert_string_equal(str(it, "subject"), "RE: Your complaint CAS-0042 [ref:00D1]");
    assert_string_equal(str(it, "from.name"), "Bloggs, Jo");
    assert_string_equal(str(it, "thread.in_reply_to"), "<ack-2@example-housing.org.uk>");
    assert_string_equal(str(it, "thread.references.0"), "<ack-1@example-housing.org.uk>");
    assert_string_equal(str(it, "thread.references.1"), "<ack-2@example-housing.org.uk>");
    const char *body = str(it, "body");
    assert_true(strncmp(body, "Thank you. The leak is still there and now", 42) == 0);
    assert_null(strstr(body, "(HTML)")); /* the plain alternative, not the HTML one */
    assert_null(strchr(body, '\r'));
    assert_null(json_object_get(it, "automated"));
    assert_int_equal(json_array_size(json_object_get(it, "attachments")), 0);
    json_decref(it);
}

/* ---- charsets and encodings ---- */

static void test_windows_1252_and_qp_soft_breaks(void **state)
{
    (void)state;
    json_t *it = fixture("windows-1252-qp.eml");
    const char *body = str(it, "body");
    assert_non_null(strstr(body, "The \xe2\x80\x9c" "black mould\xe2\x80\x9d is back"));
    assert_non_null(strstr(body, "\xe2\x82\xac" "120"));
    assert_non_null(strstr(body, "\xc2\xa3" "100 of it from my own pocket")); /* "=\n " */
    assert_non_null(strstr(body, "a softbreak."));                           /* "=\n" */
    assert_int_equal(problem_count(it), 0);
    json_decref(it);
}

static void test_format_flowed(void **state)
{
    (void)state;
    json_t *it = fixture("flowed.eml");
    assert_string_equal(str(it, "body"),
                        "The leak in the bathroom ceiling has come back and water is now running "
                        "down the light fitting, which worries me a great deal.\n\n"
                        "From the tenant at flat 2.\n\n"
                        "On 13/11/2025 a person wrote:\n> We will send someone \n> next week.\n\n"
                        "-- \nJo");
    json_decref(it);
    it = fixture("flowed-delsp.eml");
    assert_string_equal(str(it, "body"), "unbreakable word here");
    json_decref(it);
}

static void test_iso_8859_15(void **state)
{
    (void)state;
    json_t *it = fixture("iso-8859-15.eml");
    assert_string_equal(str(it, "body"),
                        "The contractor charged \xe2\x82\xac" "80 and left. Caf\xc3\xa9 closed.");
    json_decref(it);
}

static void test_utf16(void **state)
{
    (void)state;
    json_t *it = fixture("utf-16.eml");
    assert_string_equal(str(it, "body"), "Leak from the flat above \xe2\x80\x93 water through "
                                         "the ceiling \xe2\x82\xac.");
    json_decref(it);
}

static void test_rfc2047(void **state)
{
    (void)state;
    json_t *it = fixture("rfc2047.eml");
    assert_string_equal(str(it, "subject"), "\xc2\xa3" "50 charge for a r\xc3\xa9pair not done");
    assert_string_equal(str(it, "from.name"), "J\xc3\xb6rg M\xc3\xbcller");      /* B */
    assert_string_equal(str(it, "email.to.0.name"), "Ren\xc3\xa9" "e Dupont"); /* Q */
    assert_string_equal(str(it, "email.to.1.address"), "plain@example.org");
    assert_null(str(it, "email.to.1.name"));
    assert_string_equal(str(it, "email.cc.0.address"), "a@example.org"); /* group flattened */
    assert_string_equal(str(it, "email.cc.1.name"), "B Person");
    assert_string_equal(str(it, "email.date"), "2025-11-05T17:30:00.000Z"); /* +0100 */
    json_decref(it);
}

static void test_8bit_headers(void **state)
{
    (void)state;
    json_t *it = fixture("8bit-headers.eml");
    assert_string_equal(str(it, "from.name"), "Ren\xc3\xa9" "e Dupont");
    assert_true(strncmp(str(it, "subject"), "Caf\xc3\xa9 noise complaint", 19) == 0);
    assert_true(has_problem(it, "8bit_header"));
    assert_string_equal(str(it, "body"), "The caf\xc3\xa9 downstairs is loud.");
    json_decref(it);
}

static void test_unknown_charset(void **state)
{
    (void)state;
    json_t *it = fixture("unknown-charset.eml");
    assert_true(has_problem(it, "unknown_charset"));
    assert_string_equal(str(it, "body"),
                        "Rent statement is wrong \xef\xbf\xbd\xef\xbf\xbd plain ascii ok.");
    assert_non_null(strstr(str(it, "subject"), "subject"));
    json_decref(it);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    json_t *it = fixture("invalid-utf8.eml");
    assert_true(has_problem(it, "invalid_utf8"));
    const char *want = "Good \xc2\xa3 then bad \xef\xbf\xbd\xef\xbf\xbd and";
    assert_true(strncmp(str(it, "body"), want, strlen(want)) == 0);
    json_decref(it);
}

static void test_bad_base64(void **state)
{
    (void)state;
    json_t *it = fixture("bad-base64.eml");
    assert_true(has_problem(it, "bad_base64"));
    assert_true(strncmp(str(it, "body"), "Hello world", 11) == 0);
    json_decref(it);
}

/* ---- structure ---- */

static void test_attachment_sha256(void **state)
{
    (void)state;
    unsigned char blob[3000];
    char want[65];
    for (size_t i = 0; i < sizeof blob; i++) /* the bytes the fixture's script encoded */
        blob[i] = (unsigned char)((i * 37 + 11) % 256);
    sha256_hex(blob, sizeof blob, want);
    json_t *it = fixture("attachment.eml");
    json_t *atts = json_object_get(it, "attachments");
    assert_int_equal(json_array_size(atts), 1);
    assert_string_equal(str(it, "attachments.0.name"), "bathroom.jpg");
    assert_string_equal(str(it, "attachments.0.type"), "image/jpeg");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(atts, 0), "size")), 3000);
    assert_string_equal(str(it, "attachments.0.sha256"), want);
    assert_string_equal(str(it, "body"), "Photo attached.");
    json_decref(it);
}

static void test_rfc2231_filenames(void **state)
{
    (void)state;
    json_t *it = fixture("rfc2231-filenames.eml");
    assert_string_equal(str(it, "attachments.0.name"), "caf\xc3\xa9 bill.pdf");   /* name*= */
    assert_string_equal(str(it, "attachments.1.name"), "r\xc3\xa9sum\xc3\xa9.pdf"); /* 2047 */
    assert_string_equal(str(it, "attachments.2.name"), "long name.pdf"); /* continuations */
    assert_int_equal(json_array_size(json_object_get(it, "attachments")), 3);
    json_decref(it);
}

static void test_odd_structure(void **state)
{
    (void)state;
    json_t *it = fixture("headers-only.eml"); /* no final line end, no body */
    assert_string_equal(str(it, "subject"), "nobody");
    assert_string_equal(str(it, "body"), "");
    json_decref(it);
    it = fixture("multipart-no-boundary.eml");
    assert_true(has_problem(it, "bad_multipart"));
    assert_string_equal(str(it, "body"), "no boundary here");
    json_decref(it);
    it = fixture("nul-bytes.eml");
    assert_string_equal(str(it, "body"), "body\xef\xbf\xbdwith nul");
    assert_true(has_problem(it, "invalid_utf8"));
    json_decref(it);
}

static void test_html_only(void **state)
{
    (void)state;
    json_t *it = fixture("html-only.eml");
    assert_string_equal(str(it, "body"),
                        "The window in the kitchen is broken & won't close.\n\nPlease help.");
    json_decref(it);
}

static void test_nested_message(void **state)
{
    (void)state;
    json_t *it = fixture("nested-rfc822.eml");
    assert_string_equal(str(it, "body"),
                        "Please see the resident's message below.\n\n"
                        "---------- Forwarded message ----------\nSubject: Mould in flat 3\n\n"
                        "There is black mould in every room.");
    assert_string_equal(str(it, "attachments.0.type"), "message/rfc822");
    assert_string_equal(str(it, "from.name"), "Councillor Smith"); /* the outer sender */
    json_decref(it);
}

static void test_deep_nesting_capped(void **state)
{
    (void)state;
    json_t *it = fixture("deep-nesting.eml");
    assert_true(has_problem(it, "depth_capped"));
    assert_string_equal(str(it, "body"), "Top text.");
    json_decref(it);
    struct intake_mime_opts deep = {20, 100, 1 << 20};
    size_t len;
    char *raw = slurp("deep-nesting.eml", &len);
    it = parse_with(raw, len, &deep);
    assert_false(has_problem(it, "depth_capped"));
    assert_string_equal(str(it, "body"), "Top text.\n\nBottom text.");
    json_decref(it);
    free(raw);
}

static void test_truncated(void **state)
{
    (void)state;
    json_t *it = fixture("truncated.eml");
    assert_true(has_problem(it, "truncated"));
    assert_string_equal(str(it, "body"), "Start of text.");
    assert_string_equal(str(it, "attachments.0.name"), "letter.pdf");
    json_decref(it);
}

static void test_no_message_id(void **state)
{
    (void)state;
    size_t len;
    char *raw = slurp("no-message-id.eml", &len);
    char want[7 + 65] = "sha256:";
    sha256_hex(raw, len, want + 7);
    json_t *it = parse_with(raw, len, NULL);
    assert_string_equal(str(it, "id"), want);
    assert_true(has_problem(it, "no_message_id"));
    assert_true(json_is_null(json_object_get(json_object_get(it, "thread"), "message_id")));
    json_decref(it);
    free(raw);
}

static void test_not_a_message(void **state)
{
    (void)state;
    size_t len;
    char *raw = slurp("not-a-message.eml", &len);
    char err[128] = "";
    assert_null(intake_mime_parse(raw, len, NULL, err, sizeof err));
    assert_true(err[0] != '\0');
    assert_null(strstr(err, "bytes")); /* never quotes the input */
    err[0] = '\0';
    assert_null(intake_mime_parse("", 0, NULL, err, sizeof err));
    assert_true(err[0] != '\0');
    free(raw);
}

/* ---- automated messages ---- */

static void test_automated_reasons(void **state)
{
    (void)state;
    static const struct {
        const char *file, *reason;
    } cases[] = {
        {"auto-reply.eml", "auto_submitted"},   {"x-autoreply.eml", "x_autoreply"},
        {"precedence-bulk.eml", "precedence"}, {"list-mail.eml", "list"},
        {"null-return-path.eml", "null_return_path"}, {"mailer-daemon.eml", "mailer_daemon"},
        {"dsn-bounce.eml", "delivery_report"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *it = fixture(cases[i].file);
        const char *got = str(it, "automated");
        if (!got || strcmp(got, cases[i].reason) != 0)
            fail_msg("%s: automated %s, want %s", cases[i].file, got ? got : "(none)",
                     cases[i].reason);
        json_decref(it);
    }
    json_t *it = fixture("auto-submitted-no.eml");
    assert_null(json_object_get(it, "automated"));
    json_decref(it);
    const char *no = "From: jo@example.org\nX-Autoreply: no\nSubject: x\n\nhello\n";
    it = parse_with(no, strlen(no), NULL);
    assert_null(json_object_get(it, "automated"));
    json_decref(it);
    const char *odd = "From: jo@example.org\nX-Autorespond: vacation\nSubject: x\n\nhello\n";
    it = parse_with(odd, strlen(odd), NULL);
    assert_string_equal(str(it, "automated"), "x_autoreply");
    json_decref(it);
}

/* ---- caps ---- */

static char *many_parts(unsigned n, size_t *len)
{
    size_t cap = 200 + (size_t)n * 100, k = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    k += (size_t)snprintf(b + k, cap - k, "From: a@example.org\nSubject: many\n"
                                           "Content-Type: multipart/mixed; boundary=B\n\n");
    for (unsigned i = 0; i < n; i++)
        k += (size_t)snprintf(b + k, cap - k, "--B\nContent-Type: application/x-part\n\n%u\n", i);
    k += (size_t)snprintf(b + k, cap - k, "--B--\n");
    *len = k;
    return b;
}

static void test_part_cap(void **state)
{
    (void)state;
    size_t len;
    char *raw = many_parts(150, &len);
    json_t *it = parse_with(raw, len, NULL);
    assert_true(has_problem(it, "parts_capped"));
    assert_int_equal(json_array_size(json_object_get(it, "attachments")), 99); /* + the root */
    json_decref(it);
    free(raw);
    raw = many_parts(50, &len);
    it = parse_with(raw, len, NULL);
    assert_false(has_problem(it, "parts_capped"));
    assert_int_equal(json_array_size(json_object_get(it, "attachments")), 50);
    json_decref(it);
    free(raw);
}

static void test_text_cap(void **state)
{
    (void)state;
    struct intake_mime_opts small = {8, 100, 20};
    const char *raw = "From: a@example.org\nSubject: long\n"
                      "Content-Type: text/plain; charset=utf-8\n\n"
                      "0123456789abcdef\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac tail\n";
    json_t *it = parse_with(raw, strlen(raw), &small);
    assert_true(has_problem(it, "text_capped"));
    assert_string_equal(str(it, "body"), "0123456789abcdef\xe2\x82\xac"); /* cut at a character */
    json_decref(it);
}

/* Thousands of nested multiparts: libetpan recurses per level, so the parser must cut
 * the input before it runs out of stack. */
static void test_nesting_bomb(void **state)
{
    (void)state;
    unsigned levels = 100000;
    size_t cap = (size_t)levels * 64 + 100, k = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    k += (size_t)snprintf(b, cap, "From: a@example.org\nSubject: bomb\n");
    for (unsigned i = 0; i < levels; i++)
        k += (size_t)snprintf(b + k, cap - k,
                              "Content-Type: multipart/mixed; boundary=b%u\n\n--b%u\n", i, i);
    json_t *it = parse_with(b, k, NULL);
    assert_true(has_problem(it, "parts_capped"));
    assert_true(has_problem(it, "depth_capped"));
    assert_string_equal(str(it, "subject"), "bomb");
    json_decref(it);
    free(b);
}

/* Parts that are not nested need no "multipart/" marker, so the marker cut does not bound
 * how many there are; libetpan builds the whole list before max_parts applies (25 MB of
 * empty parts took 630 MB). The parser must see the message only up to its 4096th line
 * starting with "--", whatever max_parts says: a walk with no part cap of its own still
 * ends with "parts_capped" and fewer than 4096 parts. */
static void test_boundary_flood(void **state)
{
    (void)state;
    struct intake_mime_opts uncapped = {8, UINT32_MAX, (size_t)1 << 20};
    unsigned empty = 200000; /* 1 MB of empty parts */
    size_t cap = 100 + (size_t)empty * 5, k = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    k += (size_t)snprintf(b, cap, "From: a@example.org\nSubject: flood\n"
                                  "Content-Type: multipart/mixed; boundary=B\n\n");
    for (unsigned i = 0; i < empty; i++, k += 5)
        memcpy(b + k, "--B\n\n", 5);
    json_t *it = parse_with(b, k, &uncapped);
    assert_true(has_problem(it, "parts_capped"));
    assert_string_equal(str(it, "subject"), "flood");
    json_decref(it);
    free(b);

    size_t len;
    char *raw = many_parts(5000, &len); /* one "--B" line per part: the count is visible */
    it = parse_with(raw, len, &uncapped);
    assert_true(has_problem(it, "parts_capped"));
    size_t n = json_array_size(json_object_get(it, "attachments"));
    assert_true(n >= 4000 && n < 4096);
    json_decref(it);
    free(raw);

    raw = many_parts(4000, &len); /* under the cut: every part, nothing capped */
    it = parse_with(raw, len, &uncapped);
    assert_false(has_problem(it, "parts_capped"));
    assert_int_equal(json_array_size(json_object_get(it, "attachments")), 4000);
    json_decref(it);
    free(raw);
}

/* A 30 MB attachment, made here: listed with its size and hash, never kept. */
static void test_big_attachment(void **state)
{
    (void)state;
    const char *quick = getenv("INTAKE_TEST_QUICK");
    if (quick && *quick) {
        skip();
        return;
    }
    size_t n = (size_t)30 << 20;
    unsigned char *blob = malloc(n);
    assert_non_null(blob);
    uint32_t x = 7;
    for (size_t i = 0; i < n; i++)
        blob[i] = (unsigned char)((x = x * 1664525u + 1013904223u) >> 24);
    char want[65];
    sha256_hex(blob, n, want);
    const char *head = "From: a@example.org\nSubject: big\nMessage-ID: <big@example.org>\n"
                       "Content-Type: multipart/mixed; boundary=Z\n\n"
                       "--Z\nContent-Type: text/plain\n\n"
                       "See the video.\n--Z\nContent-Type: video/mp4; name=leak.mp4\n"
                       "Content-Transfer-Encoding: base64\n\n";
    size_t b64 = 4 * ((n + 2) / 3), lines = b64 / 76 + 1, hl = strlen(head);
    char *raw = malloc(hl + b64 + lines + 16);
    assert_non_null(raw);
    memcpy(raw, head, hl);
    size_t k = hl;
    for (size_t i = 0; i < n; i += 57) { /* 57 bytes -> one 76-character line */
        size_t chunk = n - i < 57 ? n - i : 57;
        k += (size_t)EVP_EncodeBlock((unsigned char *)raw + k, blob + i, (int)chunk);
        raw[k++] = '\n';
    }
    memcpy(raw + k, "--Z--\n", 6);
    k += 6;
    free(blob);
    json_t *it = parse_with(raw, k, NULL);
    free(raw);
    json_t *att = json_array_get(json_object_get(it, "attachments"), 0);
    assert_int_equal(json_integer_value(json_object_get(att, "size")), (json_int_t)n);
    assert_string_equal(json_string_value(json_object_get(att, "sha256")), want);
    assert_string_equal(str(it, "body"), "See the video.");
    assert_int_equal(problem_count(it), 0);
    json_decref(it);
}

/* ---- threads: the IMAP source parses on one thread per mailbox ---- */

struct parse_job {
    const char *raw;
    size_t len;
    const json_t *want;
    int mismatches;
};

static void *parse_many(void *arg)
{
    struct parse_job *job = arg;
    for (int i = 0; i < 40; i++) {
        json_t *it = intake_mime_parse(job->raw, job->len, NULL, NULL, 0);
        job->mismatches += !it || !json_equal(it, job->want);
        json_decref(it);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    static const char *const files[] = {"attachment.eml", "windows-1252-qp.eml",
                                        "rfc2231-filenames.eml", "dsn-bounce.eml"};
    enum { N = sizeof files / sizeof files[0] };
    char *raw[N];
    json_t *want[N];
    struct parse_job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        size_t len;
        raw[i] = slurp(files[i], &len);
        want[i] = parse_with(raw[i], len, NULL);
        jobs[i] = (struct parse_job){raw[i], len, want[i], 0};
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, parse_many, &jobs[i]), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].mismatches, 0);
        json_decref(want[i]);
        free(raw[i]);
    }
}

/* ---- oversize ---- */

static void test_oversize(void **state)
{
    (void)state;
    const char *h = "From: Jo <jo@example.org>\r\nSubject: =?utf-8?q?big_caf=C3=A9?=\r\n"
                    "Message-ID: <over@example.org>\r\n"
                    "Content-Type: multipart/mixed; boundary=x\r\n\r\n";
    char err[64];
    json_t *it = intake_mime_parse_oversize(h, strlen(h), 40000000, NULL, err, sizeof err);
    assert_non_null(it);
    json_t *email = json_object_get(it, "email");
    assert_true(json_is_true(json_object_get(email, "oversize")));
    assert_int_equal(json_integer_value(json_object_get(email, "size")), 40000000);
    assert_string_equal(str(it, "body"), "");
    assert_string_equal(str(it, "subject"), "big caf\xc3\xa9");
    assert_string_equal(str(it, "id"), "over@example.org");
    assert_null(json_object_get(it, "automated"));
    json_decref(it);
    const char *bounce = "From: MAILER-DAEMON@example.org\nContent-Type: multipart/report; "
                         "report-type=delivery-status; boundary=r\n\n";
    it = intake_mime_parse_oversize(bounce, strlen(bounce), 1, NULL, err, sizeof err);
    assert_string_equal(str(it, "automated"), "delivery_report");
    json_decref(it);
    const char *vacation = "From: jo@example.org\nAuto-Submitted: auto-replied\n\n";
    it = intake_mime_parse_oversize(vacation, strlen(vacation), 1, NULL, err, sizeof err);
    assert_string_equal(str(it, "automated"), "auto_submitted");
    json_decref(it);
    const char *rp = "From: jo@example.org\nReturn-Path: <jo@example.org\n\n"; /* no '>' */
    it = intake_mime_parse_oversize(rp, strlen(rp), 1, NULL, err, sizeof err);
    assert_non_null(it); /* libetpan's header-only parser leaked here (valgrind run) */
    json_decref(it);
    const char *cut = "From: jo@example.org\r\nPrecedence: bulk"; /* no final line end */
    it = intake_mime_parse_oversize(cut, strlen(cut), 1, NULL, err, sizeof err);
    assert_string_equal(str(it, "automated"), "precedence");
    json_decref(it);
    assert_null(intake_mime_parse_oversize("", 0, 1, NULL, err, sizeof err));
}

/* ---- every fixture, and mangled copies of them ---- */

static void test_every_fixture(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/mime", INTAKE_FIXTURES);
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned items = 0, errors = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name), len;
        if (n < 5 || strcmp(e->d_name + n - 4, ".eml") != 0)
            continue;
        char *raw = slurp(e->d_name, &len), err[128] = "";
        json_t *it = intake_mime_parse(raw, len, NULL, err, sizeof err);
        if (it) {
            items++;
            assert_non_null(str(it, "id"));
            assert_non_null(str(it, "body"));
            assert_true(json_is_array(json_object_get(json_object_get(it, "email"), "problems")));
        } else {
            errors++;
            assert_string_equal(e->d_name, "not-a-message.eml");
        }
        json_decref(it);
        free(raw);
    }
    closedir(d);
    assert_int_equal(errors, 1);
    assert_true(items >= 25);
}

static void test_mangled(void **state)
{
    (void)state;
    static const char *const files[] = {"attachment.eml", "outlook-reply.eml", "dsn-bounce.eml",
                                        "nested-rfc822.eml", "rfc2047.eml", "html-only.eml"};
    uint32_t x = 99;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len;
        char *raw = slurp(files[f], &len);
        for (int round = 0; round < 150; round++) {
            char *copy = malloc(len);
            assert_non_null(copy);
            memcpy(copy, raw, len);
            for (int k = 0; k < 8; k++) {
                x = x * 1103515245u + 12345u;
                copy[(x >> 8) % len] = (char)(x >> 24);
            }
            x = x * 1103515245u + 12345u;
            size_t cut = round % 3 == 0 ? (x >> 8) % len + 1 : len;
            char err[128];
            json_t *it = intake_mime_parse(copy, cut, NULL, err, sizeof err);
            if (it)
                assert_non_null(str(it, "body"));
            json_decref(it);
            free(copy);
        }
        free(raw);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_not_flagged),
        cmocka_unit_test(test_crlf_and_lf_agree),
        cmocka_unit_test(test_outlook_reply),
        cmocka_unit_test(test_windows_1252_and_qp_soft_breaks),
        cmocka_unit_test(test_format_flowed),
        cmocka_unit_test(test_iso_8859_15),
        cmocka_unit_test(test_utf16),
        cmocka_unit_test(test_rfc2047),
        cmocka_unit_test(test_8bit_headers),
        cmocka_unit_test(test_unknown_charset),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_attachment_sha256),
        cmocka_unit_test(test_rfc2231_filenames),
        cmocka_unit_test(test_odd_structure),
        cmocka_unit_test(test_html_only),
        cmocka_unit_test(test_nested_message),
        cmocka_unit_test(test_deep_nesting_capped),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_no_message_id),
        cmocka_unit_test(test_not_a_message),
        cmocka_unit_test(test_automated_reasons),
        cmocka_unit_test(test_part_cap),
        cmocka_unit_test(test_text_cap),
        cmocka_unit_test(test_nesting_bomb),
        cmocka_unit_test(test_boundary_flood),
        cmocka_unit_test(test_big_attachment),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_every_fixture),
        cmocka_unit_test(test_mangled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
