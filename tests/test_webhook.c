/* The webhook source's pure parts: signature vectors from ../shared/apis.md, constant-time
 * compare, HTML to text, JSON pointers, and events to items (generic with mapping
 * pointers, Meta feed and Messenger, Intercom); and the group committer under threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "committer.h"
#include "intake/spool.h"
#include "intake/webhook.h"

static const char meta_body[] = "{\"object\":\"page\",\"entry\":[]}";

static void test_meta_vector(void **state)
{
    (void)state;
    const char *sig = "sha256=0e9e0080a310f376450c46d999aa4d49ed772bfe43c13205f38a3a6e6611ed2b";
    assert_true(intake_webhook_check_hub(sig, "sha256", "appsecret", meta_body,
                                         strlen(meta_body)));
    /* upper-case hex is the same bytes */
    assert_true(intake_webhook_check_hub(
        "sha256=0E9E0080A310F376450C46D999AA4D49ED772BFE43C13205F38A3A6E6611ED2B", "sha256",
        "appsecret", meta_body, strlen(meta_body)));
    /* one byte of the body, the secret or the signature changed */
    assert_false(intake_webhook_check_hub(sig, "sha256", "appsecreT", meta_body,
                                          strlen(meta_body)));
    assert_false(intake_webhook_check_hub(sig, "sha256", "appsecret", meta_body,
                                          strlen(meta_body) - 1));
    assert_false(intake_webhook_check_hub(
        "sha256=0e9e0080a310f376450c46d999aa4d49ed772bfe43c13205f38a3a6e6611ed2c", "sha256",
        "appsecret", meta_body, strlen(meta_body)));
    /* malformed: short, long, no prefix, other algorithm, missing */
    assert_false(intake_webhook_check_hub("sha256=0e9e", "sha256", "appsecret", meta_body,
                                          strlen(meta_body)));
    assert_false(intake_webhook_check_hub(sig + 7, "sha256", "appsecret", meta_body,
                                          strlen(meta_body)));
    assert_false(intake_webhook_check_hub(sig, "sha1", "appsecret", meta_body,
                                          strlen(meta_body)));
    assert_false(intake_webhook_check_hub(NULL, "sha256", "appsecret", meta_body,
                                          strlen(meta_body)));
}

static void test_sha1_intercom(void **state)
{
    (void)state;
    /* HMAC-SHA1("appsecret", meta_body), from `openssl dgst -sha1 -hmac appsecret` */
    const char *sig = "sha1=15f6049a7f47c239a8364b9bacf7b4e0f8484bb6";
    assert_true(intake_webhook_check_hub(sig, "sha1", "appsecret", meta_body,
                                         strlen(meta_body)));
    assert_false(intake_webhook_check_hub(sig, "sha256", "appsecret", meta_body,
                                          strlen(meta_body)));
    assert_false(intake_webhook_check_hub("sha1=zz", "sha1", "appsecret", meta_body,
                                          strlen(meta_body)));
}

static void test_standard_vector(void **state)
{
    (void)state;
    const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const char *id = "msg_p5jXN8AQM9LWM0D4loKWxJek", *ts = "1614265330";
    const char *body = "{\"test\": 2432232314}";
    const char *sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    size_t n = strlen(body);
    assert_int_equal(intake_webhook_check_standard(secret, id, ts, sig, body, n, 1614265330.0,
                                                   300), INTAKE_WEBHOOK_SIG_OK);
    /* several signatures, the good one last; the secret without its prefix */
    assert_int_equal(intake_webhook_check_standard(secret + 6, id, ts,
                                                   "v1,AAAA v2,xyz= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                                                   body, n, 1614265330.0, 300),
                     INTAKE_WEBHOOK_SIG_OK);
    /* 5 minutes off either way is still fine; 301 s is not */
    assert_int_equal(intake_webhook_check_standard(secret, id, ts, sig, body, n,
                                                   1614265330.0 + 300, 300),
                     INTAKE_WEBHOOK_SIG_OK);
    assert_int_equal(intake_webhook_check_standard(secret, id, ts, sig, body, n,
                                                   1614265330.0 + 301, 300),
                     INTAKE_WEBHOOK_SIG_STALE);
    assert_int_equal(intake_webhook_check_standard(secret, id, ts, sig, body, n,
                                                   1614265330.0 - 301, 300),
                     INTAKE_WEBHOOK_SIG_STALE);
    /* another id, timestamp or body breaks it */
    assert_int_equal(intake_webhook_check_standard(secret, "msg_x", ts, sig, body, n,
                                                   1614265330.0, 300), INTAKE_WEBHOOK_SIG_BAD);
    assert_int_equal(intake_webhook_check_standard(secret, id, "1614265331", sig, body, n,
                                                   1614265331.0, 300), INTAKE_WEBHOOK_SIG_BAD);
    assert_int_equal(intake_webhook_check_standard(secret, id, ts, sig, body, n - 1,
                                                   1614265330.0, 300), INTAKE_WEBHOOK_SIG_BAD);
    assert_int_equal(intake_webhook_check_standard(secret, id, "16x", sig, body, n,
                                                   1614265330.0, 300), INTAKE_WEBHOOK_SIG_BAD);
    assert_int_equal(intake_webhook_check_standard(secret, id, ts, NULL, body, n, 1614265330.0,
                                                   300), INTAKE_WEBHOOK_SIG_BAD);
    assert_true(intake_webhook_standard_secret_ok(secret));
    assert_false(intake_webhook_standard_secret_ok("whsec_not base64!"));
}

static void test_equal(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(intake_webhook_equal(a, b, sizeof a));
    b[0] ^= 1;
    assert_false(intake_webhook_equal(a, b, sizeof a));
    b[0] ^= 1;
    b[31] ^= 0x80;
    assert_false(intake_webhook_equal(a, b, sizeof a));
    assert_true(intake_webhook_equal(a, b, 31));
}

static void test_pointer(void **state)
{
    (void)state;
    json_t *doc = json_loads("{\"a\":{\"b/c\":1,\"m~n\":[10,20]},\"\":5}", 0, NULL);
    assert_ptr_equal(intake_json_pointer(doc, ""), doc);
    assert_int_equal(json_integer_value(intake_json_pointer(doc, "/a/b~1c")), 1);
    assert_int_equal(json_integer_value(intake_json_pointer(doc, "/a/m~0n/1")), 20);
    assert_int_equal(json_integer_value(intake_json_pointer(doc, "/")), 5);
    assert_null(intake_json_pointer(doc, "/a/m~0n/01"));
    assert_null(intake_json_pointer(doc, "/a/m~0n/2"));
    assert_null(intake_json_pointer(doc, "/a/x"));
    assert_null(intake_json_pointer(doc, "a"));
    assert_null(intake_json_pointer(doc, "/a/b~2c"));
    json_decref(doc);
}

static struct intake_webhook_conf generic_conf(void)
{
    struct intake_webhook_conf c = {INTAKE_WEBHOOK_GENERIC, "webchat",
        {"/id", "/text", "/author/name", "/author/email", "/author/handle",
         "/conversation_id", "/created_at", "/public"}, NULL};
    return c;
}

/* Parses text with conf; asserts the outcome; returns the items (the caller's) or NULL. */
static json_t *items_of(const struct intake_webhook_conf *c, const char *text, int want_rc,
                        const char **why)
{
    json_t *body = json_loads(text, 0, NULL), *items = NULL;
    const char *reason = NULL;
    assert_non_null(body);
    assert_int_equal(intake_webhook_items(c, body, &items, &reason), want_rc);
    json_decref(body);
    if (why)
        *why = reason;
    return items;
}

static const char *member(json_t *items, size_t i, const char *pointer)
{
    return json_string_value(intake_json_pointer(json_array_get(items, i), pointer));
}

static void test_generic(void **state)
{
    (void)state;
    struct intake_webhook_conf c = generic_conf();
    json_t *it = items_of(&c, "{\"id\":\"w-1\",\"text\":\"Mould again\",\"author\":{\"name\":"
                          "\"Jo\",\"email\":\"jo@example.org\"},\"conversation_id\":77,"
                          "\"created_at\":\"2026-11-20T10:00:00Z\",\"public\":false}", 0, NULL);
    assert_int_equal(json_array_size(it), 1);
    assert_string_equal(member(it, 0, "/id"), "w-1");
    assert_string_equal(member(it, 0, "/channel"), "webchat");
    assert_string_equal(member(it, 0, "/body"), "Mould again");
    assert_string_equal(member(it, 0, "/from/name"), "Jo");
    assert_string_equal(member(it, 0, "/from/address"), "jo@example.org");
    assert_string_equal(member(it, 0, "/thread/conversation_id"), "77");
    assert_string_equal(member(it, 0, "/received_at"), "2026-11-20T10:00:00.000Z");
    assert_true(json_is_false(intake_json_pointer(json_array_get(it, 0), "/public")));
    assert_null(intake_spool_item_invalid(json_array_get(it, 0)));
    json_decref(it);
    const char *why;
    assert_null(items_of(&c, "{\"text\":\"x\"}", -1, &why));
    assert_string_equal(why, "missing id");
    assert_null(items_of(&c, "{\"id\":\"a\"}", -1, &why));
    assert_string_equal(why, "missing text");
    assert_null(items_of(&c, "{\"id\":\"a\",\"text\":\"x\",\"created_at\":\"soon\"}", -1, &why));
    assert_null(items_of(&c, "[1]", -1, &why));
    /* the Standard Webhooks id stands in for a missing body id */
    c.fallback_id = "msg_1";
    it = items_of(&c, "{\"text\":\"x\",\"created_at\":1700000000}", 0, NULL);
    assert_string_equal(member(it, 0, "/id"), "msg_1");
    assert_string_equal(member(it, 0, "/received_at"), "2023-11-14T22:13:20.000Z");
    json_decref(it);
}

static void test_generic_pointers(void **state)
{
    (void)state;
    struct intake_webhook_conf c = {INTAKE_WEBHOOK_GENERIC, "webchat",
        {"/event/uuid", "/event/message/plain", "/event/visitor/display_name",
         "/event/visitor/email", "", "/event/chat_id", "/event/ts_ms", "/event/is_public"},
        NULL};
    json_t *it = items_of(&c, "{\"event\":{\"uuid\":\"e9\",\"message\":{\"plain\":\"No heating\"},"
                          "\"visitor\":{\"display_name\":\"Sam\",\"email\":\"s@example.org\"},"
                          "\"chat_id\":\"ch-4\",\"ts_ms\":1700000000123,\"is_public\":true}}",
                          0, NULL);
    assert_string_equal(member(it, 0, "/id"), "e9");
    assert_string_equal(member(it, 0, "/body"), "No heating");
    assert_string_equal(member(it, 0, "/from/name"), "Sam");
    assert_string_equal(member(it, 0, "/thread/conversation_id"), "ch-4");
    assert_string_equal(member(it, 0, "/received_at"), "2023-11-14T22:13:20.123Z");
    assert_true(json_is_true(intake_json_pointer(json_array_get(it, 0), "/public")));
    json_decref(it);
}

static struct intake_webhook_conf meta_conf(void)
{
    struct intake_webhook_conf c = generic_conf();
    c.format = INTAKE_WEBHOOK_META;
    c.channel = "facebook";
    return c;
}

#define FEED(verb, cid, from, msg)                                                        \
    "{\"field\":\"feed\",\"value\":{\"item\":\"comment\",\"verb\":\"" verb "\","          \
    "\"comment_id\":\"" cid "\",\"post_id\":\"P_1\",\"parent_id\":\"P_1\",\"from\":{\"id\":\"" \
    from "\",\"name\":\"Jane\"},\"message\":\"" msg "\",\"created_time\":1511951015}}"

static void test_meta_feed(void **state)
{
    (void)state;
    struct intake_webhook_conf c = meta_conf();
    json_t *it = items_of(&c, "{\"object\":\"page\",\"entry\":[{\"id\":\"PAGE\",\"time\":1,"
                          "\"changes\":[" FEED("add", "P_1_c1", "123", "Where is the plumber?")
                          "," FEED("add", "P_1_c2", "PAGE", "Thanks, we will look")
                          "," FEED("remove", "P_1_c3", "123", "")
                          "," FEED("edited", "P_1_c1", "123", "Where is the plumber??")
                          "]}]}", 0, NULL);
    assert_int_equal(json_array_size(it), 2); /* own comment and removal skipped */
    assert_string_equal(member(it, 0, "/id"), "P_1_c1");
    assert_string_equal(member(it, 0, "/channel"), "facebook");
    assert_string_equal(member(it, 0, "/body"), "Where is the plumber?");
    assert_string_equal(member(it, 0, "/from/name"), "Jane");
    assert_string_equal(member(it, 0, "/from/handle"), "123");
    assert_string_equal(member(it, 0, "/thread/conversation_id"), "P_1");
    assert_string_equal(member(it, 0, "/received_at"), "2017-11-29T10:23:35.000Z");
    assert_true(json_is_true(intake_json_pointer(json_array_get(it, 0), "/public")));
    /* the edit: a new item naming the comment it edits */
    assert_int_equal(strncmp(member(it, 1, "/id"), "P_1_c1#edit-", 12), 0);
    assert_int_equal(strlen(member(it, 1, "/id")), 12 + 16);
    assert_string_equal(member(it, 1, "/thread/edit_of"), "P_1_c1");
    json_decref(it);
    const char *why;
    assert_null(items_of(&c, "{\"object\":\"page\"}", -1, &why));
    assert_string_equal(why, "missing entry");
    it = items_of(&c, "{\"object\":\"instagram\",\"entry\":[]}", 0, NULL);
    assert_int_equal(json_array_size(it), 0);
    json_decref(it);
}

static void test_meta_messages(void **state)
{
    (void)state;
    struct intake_webhook_conf c = meta_conf();
    json_t *it = items_of(&c,
        "{\"object\":\"page\",\"entry\":["
        "{\"id\":\"PAGE\",\"time\":1458692752478,\"messaging\":["
        "{\"sender\":{\"id\":\"PSID1\"},\"recipient\":{\"id\":\"PAGE\"},\"timestamp\":1458692752478,"
        "\"message\":{\"mid\":\"m_1\",\"text\":\"hello, world!\"}},"
        "{\"sender\":{\"id\":\"PAGE\"},\"recipient\":{\"id\":\"PSID1\"},\"timestamp\":1458692752479,"
        "\"message\":{\"mid\":\"m_2\",\"text\":\"our reply\",\"is_echo\":true}},"
        "{\"sender\":{\"id\":\"PSID1\"},\"delivery\":{\"mids\":[\"m_2\"]}}]},"
        "{\"id\":\"PAGE2\",\"time\":1,\"messaging\":["
        "{\"sender\":{\"id\":\"PSID2\"},\"timestamp\":1458692752000,"
        "\"message\":{\"mid\":\"m_3\",\"text\":\"second page\",\"reply_to\":{\"mid\":\"m_0\"}}}]}]}",
        0, NULL);
    assert_int_equal(json_array_size(it), 2); /* echo and delivery receipt skipped */
    assert_string_equal(member(it, 0, "/id"), "m_1");
    assert_string_equal(member(it, 0, "/body"), "hello, world!");
    assert_string_equal(member(it, 0, "/from/handle"), "PSID1");
    assert_string_equal(member(it, 0, "/thread/conversation_id"), "PSID1");
    assert_string_equal(member(it, 0, "/received_at"), "2016-03-23T00:25:52.478Z");
    assert_true(json_is_false(intake_json_pointer(json_array_get(it, 0), "/public")));
    assert_string_equal(member(it, 1, "/id"), "m_3");
    assert_string_equal(member(it, 1, "/thread/reply_to"), "m_0");
    json_decref(it);
}

static void test_intercom(void **state)
{
    (void)state;
    struct intake_webhook_conf c = generic_conf();
    c.format = INTAKE_WEBHOOK_INTERCOM;
    json_t *it = items_of(&c, "{\"type\":\"notification_event\",\"topic\":\"ping\",\"id\":\"n0\","
                          "\"data\":{\"item\":{\"message\":\"ping\"}}}", 0, NULL);
    assert_int_equal(json_array_size(it), 0);
    json_decref(it);
    it = items_of(&c, "{\"type\":\"notification_event\",\"topic\":\"conversation.user.created\","
                  "\"id\":\"notif_1\",\"created_at\":1700000000,\"data\":{\"item\":{\"type\":"
                  "\"conversation\",\"id\":\"555\",\"source\":{\"body\":\"<p>Hi,</p><p>the lift "
                  "is <b>broken</b> &amp; stuck</p>\",\"author\":{\"id\":\"u1\",\"name\":\"Ali\","
                  "\"email\":\"ali@example.org\"}}}}}", 0, NULL);
    assert_int_equal(json_array_size(it), 1);
    assert_string_equal(member(it, 0, "/id"), "notif_1");
    assert_string_equal(member(it, 0, "/body"), "Hi,\n\nthe lift is broken & stuck");
    assert_string_equal(member(it, 0, "/from/address"), "ali@example.org");
    assert_string_equal(member(it, 0, "/thread/conversation_id"), "555");
    json_decref(it);
    it = items_of(&c, "{\"topic\":\"conversation.user.replied\",\"id\":\"notif_2\",\"data\":{"
                  "\"item\":{\"id\":\"555\",\"conversation_parts\":{\"conversation_parts\":["
                  "{\"part_type\":\"comment\",\"body\":\"<p>first</p>\"},"
                  "{\"part_type\":\"comment\",\"body\":\"<p>still broken</p>\",\"created_at\":"
                  "1700000100,\"author\":{\"id\":\"u1\"}},{\"part_type\":\"assignment\"}]}}}}",
                  0, NULL);
    assert_string_equal(member(it, 0, "/body"), "still broken");
    assert_string_equal(member(it, 0, "/received_at"), "2023-11-14T22:15:00.000Z");
    json_decref(it);
    const char *why;
    assert_null(items_of(&c, "{\"id\":\"n\"}", -1, &why));
    assert_string_equal(why, "missing topic");
}

/* ---- the group committer ---- */

struct worker {
    intake_committer *c;
    int index, rc;
};

static void *submit_one(void *arg)
{
    struct worker *w = arg;
    char id[32];
    snprintf(id, sizeof id, "t-%d", w->index);
    json_t *item = json_pack("{s:s, s:s, s:s}", "id", id, "channel", "webchat", "body", "x");
    struct intake_submit_result r;
    w->rc = intake_committer_submit(w->c, "hook", &item, 1, &r);
    json_decref(item);
    return NULL;
}

static void test_committer(void **state)
{
    (void)state;
    char dir[] = "/tmp/intake-committer-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/spool.db", dir);
    char err[256];
    intake_committer *c = intake_committer_start(path, 0, err, sizeof err);
    assert_non_null(c);
    enum { N = 40 };
    struct worker w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){c, i % 30, -9}; /* ten ids twice: duplicates */
        assert_int_equal(pthread_create(&t[i], NULL, submit_one, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, INTAKE_SPOOL_OK);
    }
    /* a bad item fails its own caller only */
    json_t *bad = json_pack("{s:s}", "id", "no-body");
    assert_int_equal(intake_committer_submit(c, "hook", &bad, 1, NULL), INTAKE_SPOOL_FATAL);
    json_decref(bad);
    intake_committer_stop(c);
    intake_spool *sp;
    assert_int_equal(intake_spool_open(path, &sp, err, sizeof err), INTAKE_SPOOL_OK);
    struct intake_spool_stats st;
    assert_int_equal(intake_spool_stats(sp, &st), INTAKE_SPOOL_OK);
    assert_int_equal(st.items_new, 30);
    intake_spool_close(sp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_vector),
        cmocka_unit_test(test_sha1_intercom),
        cmocka_unit_test(test_standard_vector),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_pointer),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_generic_pointers),
        cmocka_unit_test(test_meta_feed),
        cmocka_unit_test(test_meta_messages),
        cmocka_unit_test(test_intercom),
        cmocka_unit_test(test_committer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
