/* The SQLite spool (include/intake/spool.h): schema and migration, submit and its
 * duplicate and validation rules, cursors, claims and quarantine, records and deliveries,
 * operator functions (list, show, retry, purge, stats, count), and several handles at
 * once. Every test works in a fresh temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "intake/spool.h"
#include "intake/timefmt.h"

#define BODY "SECRET-BODY the kitchen ceiling still leaks"
#define SUBJECT "SECRET-SUBJECT leak"
#define AUTHOR "Jo SECRET-NAME"
#define ADDRESS "jo.secret@example.org"
#define RECORD_TEXT "SECRET-RECORD-TEXT"
#define OLD(day) "2020-01-0" #day "T00:00:00Z"
#define OLD_UNIX(day) (1577836800.0 + 86400.0 * ((day) - 1))

struct fx {
    char dir[256];
    char path[300];
    intake_spool *sp;
};

/* ---- helpers ---- */

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static intake_spool *open_ok(const char *path)
{
    intake_spool *sp = NULL;
    char err[256] = "";
    int rc = intake_spool_open(path, &sp, err, sizeof err);
    if (rc != INTAKE_SPOOL_OK)
        print_error("open %s: %s\n", path, err);
    assert_int_equal(rc, INTAKE_SPOOL_OK);
    assert_non_null(sp);
    return sp;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/test_spool.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/s.db", f->dir);
    char err[256];
    if (intake_spool_open(f->path, &f->sp, err, sizeof err) != INTAKE_SPOOL_OK) {
        fprintf(stderr, "setup: %s\n", err);
        rm_tree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    intake_spool_close(f->sp);
    rm_tree(f->dir);
    free(f);
    return 0;
}

/* An item as a source would give it; received_at may be NULL (then "now"). No cmocka
 * assertion here: threads call it. */
static json_t *mk_item_raw(const char *id, const char *channel, const char *received_at)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "id", id, "channel", channel,
                          "subject", SUBJECT, "body", BODY, "from", "name", AUTHOR,
                          "address", ADDRESS);
    if (o && received_at)
        json_object_set_new(o, "received_at", json_string(received_at));
    return o;
}

static json_t *mk_item(const char *id, const char *channel, const char *received_at)
{
    json_t *o = mk_item_raw(id, channel, received_at);
    assert_non_null(o);
    return o;
}

static int submit_one(intake_spool *sp, const char *source, const char *id,
                      const char *received_at, struct intake_submit_result *res)
{
    json_t *item = mk_item(id, "email", received_at);
    int rc = intake_spool_submit(sp, source, &item, 1, NULL, NULL, res);
    json_decref(item);
    return rc;
}

/* Submits one item and expects it stored as new; its record id goes to rid. */
static void submit_new(intake_spool *sp, const char *source, const char *id,
                       const char *received_at, char *rid)
{
    struct intake_submit_result res;
    assert_int_equal(submit_one(sp, source, id, received_at, &res), INTAKE_SPOOL_OK);
    assert_false(res.duplicate);
    if (rid)
        strcpy(rid, res.record_id);
}

static double sql_number(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    double v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Runs one statement that returns no rows. */
static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static struct intake_spool_stats stats(intake_spool *sp)
{
    struct intake_spool_stats st;
    assert_int_equal(intake_spool_stats(sp, &st), INTAKE_SPOOL_OK);
    return st;
}

/* Claims the next item and checks it is the one with source_id `want`. */
static void claim_expect(intake_spool *sp, const char *want, int attempt,
                         struct intake_claim *c)
{
    bool found = false;
    assert_int_equal(intake_spool_claim(sp, c, &found, NULL), INTAKE_SPOOL_OK);
    assert_true(found);
    assert_non_null(c->item_json);
    assert_string_equal(json_string_value(json_object_get(c->item_json, "id")), want);
    assert_int_equal(c->attempt, attempt);
}

static char *record_json_for(const char *rid)
{
    json_t *r = json_pack("{s:s, s:s, s:s}", "schema", "intake.record/1", "id", rid, "text",
                          RECORD_TEXT);
    char *s = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return s;
}

/* Claims the next item (source_id `want`), stores its record with deliveries to sinks
 * and returns its row id. */
static int64_t process(intake_spool *sp, const char *want, const char *category,
                       const char *const *sinks, size_t nsinks)
{
    struct intake_claim c;
    claim_expect(sp, want, 1, &c);
    char *rec = record_json_for(c.record_id);
    assert_int_equal(intake_spool_store_record(sp, &c, rec, category, "urgent", sinks, nsinks),
                     INTAKE_SPOOL_OK);
    free(rec);
    int64_t item = c.item;
    intake_spool_claim_free(&c);
    return item;
}

static json_t *show(intake_spool *sp, const char *id, bool text)
{
    json_t *o = NULL;
    assert_int_equal(intake_spool_show(sp, id, text, &o), INTAKE_SPOOL_OK);
    assert_non_null(o);
    return o;
}

/* The delivery of `sink` in a show object (borrowed). */
static json_t *delivery_of(json_t *shown, const char *sink)
{
    json_t *arr = json_object_get(shown, "deliveries");
    assert_true(json_is_array(arr));
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d)
        if (!strcmp(json_string_value(json_object_get(d, "sink")), sink))
            return d;
    fail_msg("no delivery for sink %s", sink);
    return NULL;
}

static const char *str_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static long long int_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- opening ---- */

static void open_creates_schema_and_reopens(void **state)
{
    struct fx *f = *state;
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE type='table'"
                                         " AND name IN ('meta','items','records','deliveries',"
                                         "'cursors')"),
                     5);
    assert_true(sql_number(f->path, "PRAGMA user_version") >= 1);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);

    char rid[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "m1", NULL, rid);
    intake_spool_close(f->sp);
    f->sp = open_ok(f->path);
    struct intake_submit_result res;
    assert_int_equal(submit_one(f->sp, "mta", "m1", NULL, &res), INTAKE_SPOOL_OK);
    assert_true(res.duplicate);
    assert_string_equal(res.record_id, rid);
    assert_int_equal(stats(f->sp).items_new, 1);
}

static void newer_schema_is_refused(void **state)
{
    struct fx *f = *state;
    char path[400];
    snprintf(path, sizeof path, "%s/newer.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1000", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    intake_spool *sp = (intake_spool *)1;
    char err[256] = "";
    assert_int_equal(intake_spool_open(path, &sp, err, sizeof err), INTAKE_SPOOL_FATAL);
    assert_null(sp);
    assert_non_null(strstr(err, "newer"));
    assert_int_equal(sql_number(path, "PRAGMA user_version"), 1000);
    assert_int_equal(sql_number(path, "SELECT COUNT(*) FROM sqlite_master"), 0);
}

static void garbage_file_is_fatal(void **state)
{
    struct fx *f = *state;
    char path[400];
    snprintf(path, sizeof path, "%s/garbage.db", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database\n", fp);
    fclose(fp);
    intake_spool *sp = NULL;
    char err[256] = "";
    assert_int_equal(intake_spool_open(path, &sp, err, sizeof err), INTAKE_SPOOL_FATAL);
    assert_null(sp);
    assert_true(err[0] != '\0');
}

/* ---- submit ---- */

static unsigned long long uuid_ms(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    return strtoull(hex, NULL, 16);
}

static void assert_uuid7(const char *id)
{
    assert_int_equal(strlen(id), INTAKE_RECORD_ID_LEN);
    for (int i = 0; i < INTAKE_RECORD_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", id[i]));
    }
    assert_int_equal(id[14], '7');                  /* version */
    assert_non_null(strchr("89ab", id[19]));        /* variant 10xx */
}

static void record_id_is_time_ordered_uuid7(void **state)
{
    struct fx *f = *state;
    double before = intake_time_now();
    char a[INTAKE_RECORD_ID_LEN + 1], b[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "first", NULL, a);
    sleep_ms(3);
    submit_new(f->sp, "mta", "second", NULL, b);
    double after = intake_time_now();
    assert_uuid7(a);
    assert_uuid7(b);
    assert_true(strcmp(a, b) < 0);
    assert_true(uuid_ms(a) >= (unsigned long long)(before * 1000) - 1);
    assert_true(uuid_ms(b) <= (unsigned long long)(after * 1000) + 1);
    assert_true(uuid_ms(a) < uuid_ms(b));
}

static void duplicate_keeps_the_first(void **state)
{
    struct fx *f = *state;
    char rid[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "<abc@example.org>", NULL, rid);
    struct intake_submit_result res;
    assert_int_equal(submit_one(f->sp, "mta", "<abc@example.org>", OLD(1), &res),
                     INTAKE_SPOOL_OK);
    assert_true(res.duplicate);
    assert_string_equal(res.record_id, rid);
    assert_int_equal(stats(f->sp).items_new, 1);

    /* Twice in one batch: the second is a duplicate of the first. */
    json_t *items[2] = {mk_item("batch", "email", NULL), mk_item("batch", "email", NULL)};
    struct intake_submit_result r2[2];
    assert_int_equal(intake_spool_submit(f->sp, "mta", items, 2, NULL, NULL, r2),
                     INTAKE_SPOOL_OK);
    json_decref(items[0]);
    json_decref(items[1]);
    assert_false(r2[0].duplicate);
    assert_true(r2[1].duplicate);
    assert_string_equal(r2[0].record_id, r2[1].record_id);
    assert_int_equal(stats(f->sp).items_new, 2);
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM items"), 2);
}

static void same_id_from_another_source_is_new(void **state)
{
    struct fx *f = *state;
    char a[INTAKE_RECORD_ID_LEN + 1], b[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "42", NULL, a);
    submit_new(f->sp, "webchat", "42", NULL, b);
    assert_string_not_equal(a, b);
    assert_int_equal(stats(f->sp).items_new, 2);
}

static json_t *bad_item(int i)
{
    json_t *o = mk_item("bad", "email", NULL);
    char long_id[600];
    switch (i) {
    case 0: json_object_del(o, "id"); break;
    case 1: json_object_set_new(o, "id", json_string("")); break;
    case 2: json_object_set_new(o, "id", json_integer(7)); break;
    case 3: json_object_del(o, "channel"); break;
    case 4: json_object_set_new(o, "channel", json_string("")); break;
    case 5: json_object_del(o, "body"); break;
    case 6: json_object_set_new(o, "body", json_integer(1)); break;
    case 7: json_object_set_new(o, "received_at", json_string("yesterday at noon")); break;
    case 8: json_object_set_new(o, "received_at", json_string("2026-02-30T10:00:00Z")); break;
    case 9: json_object_set_new(o, "received_at", json_real(1700000000.0)); break;
    case 10: json_object_set_new(o, "from", json_string(ADDRESS)); break;
    case 11: json_object_set_new(o, "subject", json_integer(3)); break;
    case 12: json_object_set_new(o, "public", json_string("yes")); break;
    case 13:
        memset(long_id, 'x', sizeof long_id - 1);
        long_id[sizeof long_id - 1] = '\0';
        json_object_set_new(o, "id", json_string(long_id));
        break;
    case 14: json_decref(o); return json_pack("[s]", BODY);
    case 15: json_decref(o); return json_string(BODY);
    default: json_decref(o); return NULL;
    }
    return o;
}

static void invalid_items_are_fatal_and_store_nothing(void **state)
{
    struct fx *f = *state;
    json_t *bad;
    for (int i = 0; (bad = bad_item(i)) != NULL; i++) {
        assert_non_null(intake_spool_item_invalid(bad));
        json_t *good = mk_item("good", "email", NULL);
        json_t *alone[1] = {bad}, *mixed[2] = {good, bad};
        int rc1 = intake_spool_submit(f->sp, "mta", alone, 1, NULL, NULL, NULL);
        int rc2 = intake_spool_submit(f->sp, "mta", mixed, 2, "uid", "99", NULL);
        json_decref(good);
        json_decref(bad);
        if (rc1 != INTAKE_SPOOL_FATAL || rc2 != INTAKE_SPOOL_FATAL)
            fail_msg("bad item %d: submit gave %d alone, %d mixed", i, rc1, rc2);
        const char *why = intake_spool_error(f->sp);
        assert_true(why[0] != '\0');
        assert_null(strstr(why, "SECRET"));
        assert_null(strstr(why, ADDRESS));
    }
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM items"), 0);
    char *v = (char *)1;
    assert_int_equal(intake_spool_cursor_get(f->sp, "mta", "uid", &v), INTAKE_SPOOL_OK);
    assert_null(v);
}

static void valid_variants_are_accepted(void **state)
{
    struct fx *f = *state;
    json_t *items[3] = {mk_item("a", "email", "2026-03-01T10:00:00+01:00"),
                        mk_item("b", "x", NULL), mk_item("c", "webchat", NULL)};
    json_object_set_new(items[1], "from", json_null());
    json_object_set_new(items[1], "public", json_true());
    json_object_set_new(items[1], "body", json_string(""));
    json_object_set_new(items[2], "thread", json_pack("[s]", "<x@y>"));
    for (int i = 0; i < 3; i++)
        assert_null(intake_spool_item_invalid(items[i]));
    struct intake_submit_result r[3];
    assert_int_equal(intake_spool_submit(f->sp, "mta", items, 3, NULL, NULL, r),
                     INTAKE_SPOOL_OK);
    for (int i = 0; i < 3; i++)
        json_decref(items[i]);
    json_t *o = show(f->sp, r[0].record_id, true);
    assert_string_equal(str_of(o, "received_at"), "2026-03-01T09:00:00.000Z");
    json_decref(o);
    o = show(f->sp, r[2].record_id, true);
    json_t *thread = json_object_get(json_object_get(o, "item_json"), "thread");
    assert_string_equal(json_string_value(json_array_get(thread, 0)), "<x@y>");
    json_decref(o);
}

/* ---- cursors ---- */

static void cursors(void **state)
{
    struct fx *f = *state;
    char *v = (char *)1;
    assert_int_equal(intake_spool_cursor_get(f->sp, "x", "since_id", &v), INTAKE_SPOOL_OK);
    assert_null(v);
    json_t *item = mk_item("t1", "x", NULL);
    assert_int_equal(intake_spool_submit(f->sp, "x", &item, 1, "since_id", "1001", NULL),
                     INTAKE_SPOOL_OK);
    json_decref(item);
    assert_int_equal(intake_spool_cursor_get(f->sp, "x", "since_id", &v), INTAKE_SPOOL_OK);
    assert_string_equal(v, "1001");
    free(v);
    /* A submit with no items still moves the cursor. */
    assert_int_equal(intake_spool_submit(f->sp, "x", NULL, 0, "since_id", "1002", NULL),
                     INTAKE_SPOOL_OK);
    assert_int_equal(intake_spool_cursor_set(f->sp, "x", "other", "a"), INTAKE_SPOOL_OK);
    assert_int_equal(intake_spool_cursor_set(f->sp, "x", "other", "b"), INTAKE_SPOOL_OK);
    assert_int_equal(intake_spool_cursor_set(f->sp, "facebook", "since_id", "fb"),
                     INTAKE_SPOOL_OK);
    assert_int_equal(intake_spool_cursor_get(f->sp, "x", "since_id", &v), INTAKE_SPOOL_OK);
    assert_string_equal(v, "1002");
    free(v);
    assert_int_equal(intake_spool_cursor_get(f->sp, "x", "other", &v), INTAKE_SPOOL_OK);
    assert_string_equal(v, "b");
    free(v);
    assert_int_equal(intake_spool_cursor_get(f->sp, "facebook", "since_id", &v),
                     INTAKE_SPOOL_OK);
    assert_string_equal(v, "fb");
    free(v);
    /* A failed submit leaves the cursor where it was. */
    json_t *bad = bad_item(0);
    assert_int_equal(intake_spool_submit(f->sp, "x", &bad, 1, "since_id", "2000", NULL),
                     INTAKE_SPOOL_FATAL);
    json_decref(bad);
    assert_int_equal(intake_spool_cursor_get(f->sp, "x", "since_id", &v), INTAKE_SPOOL_OK);
    assert_string_equal(v, "1002");
    free(v);
}

/* ---- the processor ---- */

static void claims_in_order(void **state)
{
    struct fx *f = *state;
    char ra[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "a", OLD(3), ra);
    submit_new(f->sp, "mta", "b", OLD(1), NULL);
    submit_new(f->sp, "mta", "c", NULL, NULL);
    struct intake_claim c;
    claim_expect(f->sp, "a", 1, &c);
    assert_string_equal(c.record_id, ra);
    assert_string_equal(c.source, "mta");
    assert_string_equal(c.received_at, "2020-01-03T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(c.item_json, "body")), BODY);
    assert_int_equal(intake_spool_store_record(f->sp, &c, "{}", "comment", "", NULL, 0),
                     INTAKE_SPOOL_OK);
    intake_spool_claim_free(&c);
    assert_null(c.item_json);
    process(f->sp, "b", "complaint", NULL, 0);
    process(f->sp, "c", "complaint", NULL, 0);
    bool found = true;
    assert_int_equal(intake_spool_claim(f->sp, &c, &found, NULL), INTAKE_SPOOL_OK);
    assert_false(found);
    assert_int_equal(stats(f->sp).items_processed, 3);
}

static void attempts_are_counted_before_processing(void **state)
{
    struct fx *f = *state;
    submit_new(f->sp, "mta", "poison", NULL, NULL);
    submit_new(f->sp, "mta", "next", NULL, NULL);
    struct intake_claim c;
    for (int attempt = 1; attempt <= INTAKE_SPOOL_MAX_PROCESS; attempt++) {
        claim_expect(f->sp, "poison", attempt, &c);
        intake_spool_claim_free(&c);
        /* the processor "crashes": the handle goes away without storing anything */
        intake_spool_close(f->sp);
        f->sp = open_ok(f->path);
    }
    bool found = false;
    unsigned q = 0;
    assert_int_equal(intake_spool_claim(f->sp, &c, &found, &q), INTAKE_SPOOL_OK);
    assert_true(found);
    assert_int_equal(q, 1);
    assert_string_equal(json_string_value(json_object_get(c.item_json, "id")), "next");
    assert_int_equal(c.attempt, 1);
    intake_spool_claim_free(&c);
    struct intake_spool_stats st = stats(f->sp);
    assert_int_equal(st.items_quarantined, 1);
    assert_int_equal(st.items_new, 1);
}

static void poison_item_does_not_block_the_rest(void **state)
{
    struct fx *f = *state;
    char poison[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "poison", NULL, poison);
    submit_new(f->sp, "mta", "b", NULL, NULL);
    submit_new(f->sp, "mta", "c", NULL, NULL);
    int claims = 0, stored = 0;
    unsigned quarantined = 0;
    for (;;) {
        struct intake_claim c;
        bool found;
        unsigned q = 0;
        assert_int_equal(intake_spool_claim(f->sp, &c, &found, &q), INTAKE_SPOOL_OK);
        quarantined += q;
        if (!found)
            break;
        assert_true(++claims <= 10);
        if (strcmp(json_string_value(json_object_get(c.item_json, "id")), "poison") != 0) {
            assert_int_equal(intake_spool_store_record(f->sp, &c, "{}", "complaint", "",
                                                       NULL, 0),
                             INTAKE_SPOOL_OK);
            stored++;
        }
        intake_spool_claim_free(&c);
    }
    assert_int_equal(claims, INTAKE_SPOOL_MAX_PROCESS + 2);
    assert_int_equal(stored, 2);
    assert_int_equal(quarantined, 1);
    json_t *o = show(f->sp, poison, false);
    assert_string_equal(str_of(o, "state"), "quarantined");
    assert_int_equal(int_of(o, "attempts"), INTAKE_SPOOL_MAX_PROCESS);
    assert_non_null(str_of(o, "last_error"));
    json_decref(o);
}

static void explicit_quarantine(void **state)
{
    struct fx *f = *state;
    char rid[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "q", NULL, rid);
    struct intake_claim c;
    claim_expect(f->sp, "q", 1, &c);
    assert_int_equal(intake_spool_quarantine(f->sp, c.item, "record too large"),
                     INTAKE_SPOOL_OK);
    intake_spool_claim_free(&c);
    json_t *o = show(f->sp, rid, false);
    assert_string_equal(str_of(o, "state"), "quarantined");
    assert_string_equal(str_of(o, "last_error"), "record too large");
    json_decref(o);
    bool found = true;
    assert_int_equal(intake_spool_claim(f->sp, &c, &found, NULL), INTAKE_SPOOL_OK);
    assert_false(found);
}

/* ---- records and deliveries ---- */

static const char *const two_sinks[] = {"case", "ack"};

static void store_record_creates_deliveries(void **state)
{
    struct fx *f = *state;
    char rid[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "m1", NULL, rid);
    int64_t item = process(f->sp, "m1", "complaint", two_sinks, 2);
    struct intake_spool_stats st = stats(f->sp);
    assert_int_equal(st.items_processed, 1);
    assert_int_equal(st.items_new, 0);
    assert_int_equal(st.deliveries_pending, 2);
    json_t *o = show(f->sp, rid, false);
    assert_string_equal(str_of(o, "state"), "processed");
    assert_string_equal(str_of(o, "category"), "complaint");
    assert_string_equal(str_of(o, "flags"), "urgent");
    assert_int_equal(json_array_size(json_object_get(o, "deliveries")), 2);
    assert_string_equal(str_of(delivery_of(o, "case"), "state"), "pending");
    assert_string_equal(str_of(delivery_of(o, "ack"), "state"), "pending");
    assert_int_equal(int_of(delivery_of(o, "ack"), "attempts"), 0);
    json_decref(o);

    struct intake_delivery d;
    bool found = false;
    assert_int_equal(intake_spool_next_delivery(f->sp, "case", intake_time_now() + 1, &d,
                                                &found, NULL),
                     INTAKE_SPOOL_OK);
    assert_true(found);
    assert_int_equal(d.item, item);
    assert_string_equal(d.record_id, rid);
    assert_int_equal(d.attempts, 0);
    char *want = record_json_for(rid);
    assert_string_equal(d.record_json, want);
    free(want);
    intake_spool_delivery_free(&d);
    assert_null(d.record_json);
}

static void next_delivery_due_and_not_due(void **state)
{
    struct fx *f = *state;
    submit_new(f->sp, "mta", "a", NULL, NULL);
    submit_new(f->sp, "mta", "b", NULL, NULL);
    const char *const one[] = {"case"};
    int64_t a = process(f->sp, "a", "complaint", one, 1);
    int64_t b = process(f->sp, "b", "complaint", one, 1);
    double now = intake_time_now() + 1;
    assert_int_equal(intake_spool_delivery_retry(f->sp, a, "case", 503, now + 50, "HTTP 503"),
                     INTAKE_SPOOL_OK);
    struct intake_delivery d;
    bool found = false;
    double next = -1;
    assert_int_equal(intake_spool_next_delivery(f->sp, "case", now, &d, &found, &next),
                     INTAKE_SPOOL_OK);
    assert_true(found);
    assert_int_equal(d.item, b);
    intake_spool_delivery_free(&d);
    assert_int_equal(intake_spool_delivery_done(f->sp, b, "case", 201, "C-1"), INTAKE_SPOOL_OK);

    assert_int_equal(intake_spool_next_delivery(f->sp, "case", now, &d, &found, &next),
                     INTAKE_SPOOL_OK);
    assert_false(found);
    assert_true(next > now + 49.9 && next < now + 50.1);
    assert_int_equal(intake_spool_next_delivery(f->sp, "case", now + 51, &d, &found, &next),
                     INTAKE_SPOOL_OK);
    assert_true(found);
    assert_int_equal(d.item, a);
    assert_int_equal(d.attempts, 1);
    intake_spool_delivery_free(&d);

    /* Another sink has nothing pending: next_due is 0. */
    next = -1;
    assert_int_equal(intake_spool_next_delivery(f->sp, "ack", now + 1000, &d, &found, &next),
                     INTAKE_SPOOL_OK);
    assert_false(found);
    assert_true(next == 0);
}

static void delivery_outcomes_are_visible(void **state)
{
    struct fx *f = *state;
    char rid[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "m1", NULL, rid);
    int64_t item = process(f->sp, "m1", "complaint", two_sinks, 2);
    double later = intake_time_now() + 30;
    assert_int_equal(intake_spool_delivery_retry(f->sp, item, "case", 503, later,
                                                 "HTTP 503 from the case system"),
                     INTAKE_SPOOL_OK);
    json_t *o = show(f->sp, rid, false);
    json_t *d = delivery_of(o, "case");
    assert_string_equal(str_of(d, "state"), "pending");
    assert_int_equal(int_of(d, "attempts"), 1);
    assert_int_equal(int_of(d, "status"), 503);
    assert_string_equal(str_of(d, "last_error"), "HTTP 503 from the case system");
    json_decref(o);

    assert_int_equal(intake_spool_delivery_done(f->sp, item, "case", 201, "CASE-77"),
                     INTAKE_SPOOL_OK);
    assert_int_equal(intake_spool_delivery_dead(f->sp, item, "ack", 0, "mailbox unknown",
                                                "550 5.1.1 no such user"),
                     INTAKE_SPOOL_OK);
    o = show(f->sp, rid, false);
    d = delivery_of(o, "case");
    assert_string_equal(str_of(d, "state"), "done");
    assert_int_equal(int_of(d, "attempts"), 2);
    assert_int_equal(int_of(d, "status"), 201);
    assert_string_equal(str_of(d, "case_id"), "CASE-77");
    assert_true(json_is_null(json_object_get(d, "last_error")));
    d = delivery_of(o, "ack");
    assert_string_equal(str_of(d, "state"), "dead");
    assert_int_equal(int_of(d, "attempts"), 1);
    assert_true(json_is_null(json_object_get(d, "status")));
    assert_string_equal(str_of(d, "last_error"), "mailbox unknown");
    assert_string_equal(str_of(d, "response"), "550 5.1.1 no such user");
    json_decref(o);
    struct intake_spool_stats st = stats(f->sp);
    assert_int_equal(st.deliveries_done, 1);
    assert_int_equal(st.deliveries_dead, 1);
    assert_int_equal(st.deliveries_pending, 0);
    assert_true(st.oldest_undelivered == 0);
}

/* "sending" rows are not handed out again; recover makes them dead letters, only for the
 * sink asked, and leaves pending rows alone. */
static void test_delivery_sending_and_recover(void **state)
{
    struct fx *f = *state;
    char rid[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "u1", NULL, rid);
    int64_t item = process(f->sp, "u1", "complaint", two_sinks, 2);
    assert_int_equal(intake_spool_delivery_begin(f->sp, item, "ack"), INTAKE_SPOOL_OK);
    struct intake_delivery dv;
    bool found = true;
    double next_due = 0;
    assert_int_equal(intake_spool_next_delivery(f->sp, "ack", intake_time_now() + 60, &dv,
                                                &found, &next_due), INTAKE_SPOOL_OK);
    assert_false(found);
    long n = -1;
    assert_int_equal(intake_spool_delivery_recover(f->sp, "case", &n), INTAKE_SPOOL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(intake_spool_delivery_recover(f->sp, "ack", &n), INTAKE_SPOOL_OK);
    assert_int_equal(n, 1);
    json_t *o = show(f->sp, rid, false);
    json_t *d = delivery_of(o, "ack");
    assert_string_equal(str_of(d, "state"), "dead");
    assert_non_null(strstr(str_of(d, "last_error"), "outcome unknown"));
    assert_string_equal(str_of(delivery_of(o, "case"), "state"), "pending");
    json_decref(o);
    assert_int_equal(intake_spool_delivery_recover(f->sp, "ack", &n), INTAKE_SPOOL_OK);
    assert_int_equal(n, 0);
}

/* A skipped delivery is done and keeps its reason. */
static void test_delivery_skipped(void **state)
{
    struct fx *f = *state;
    char rid[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "s1", NULL, rid);
    int64_t item = process(f->sp, "s1", "complaint", two_sinks, 2);
    assert_int_equal(intake_spool_delivery_skipped(f->sp, item, "ack", "skipped: auto-reply"),
                     INTAKE_SPOOL_OK);
    json_t *o = show(f->sp, rid, false);
    json_t *d = delivery_of(o, "ack");
    assert_string_equal(str_of(d, "state"), "done");
    assert_string_equal(str_of(d, "last_error"), "skipped: auto-reply");
    assert_string_equal(str_of(delivery_of(o, "case"), "state"), "pending");
    json_decref(o);
    assert_int_equal(stats(f->sp).deliveries_done, 1);
}

/* ---- operators ---- */

static void retry_dead_by_prefix_and_all(void **state)
{
    struct fx *f = *state;
    char r1[INTAKE_RECORD_ID_LEN + 1], r2[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "a", NULL, r1);
    submit_new(f->sp, "mta", "b", NULL, r2);
    int64_t a = process(f->sp, "a", "complaint", two_sinks, 2);
    int64_t b = process(f->sp, "b", "complaint", two_sinks, 2);
    assert_int_equal(intake_spool_delivery_dead(f->sp, a, "case", 422, "HTTP 422", "{}"), 0);
    assert_int_equal(intake_spool_delivery_dead(f->sp, b, "case", 422, "HTTP 422", "{}"), 0);
    assert_int_equal(intake_spool_delivery_done(f->sp, a, "ack", 250, NULL), 0);

    char prefix[32];
    snprintf(prefix, sizeof prefix, "%.30s", r1);
    long changed = -1;
    assert_int_equal(intake_spool_retry(f->sp, prefix, &changed), INTAKE_SPOOL_OK);
    assert_int_equal(changed, 1);
    json_t *o = show(f->sp, r1, false);
    assert_string_equal(str_of(delivery_of(o, "case"), "state"), "pending");
    assert_int_equal(int_of(delivery_of(o, "case"), "attempts"), 0);
    assert_string_equal(str_of(delivery_of(o, "ack"), "state"), "done");
    json_decref(o);
    o = show(f->sp, r2, false);
    assert_string_equal(str_of(delivery_of(o, "case"), "state"), "dead");
    json_decref(o);
    /* Re-queued deliveries are due now. */
    struct intake_delivery d;
    bool found = false;
    assert_int_equal(intake_spool_next_delivery(f->sp, "case", intake_time_now() + 1, &d,
                                                &found, NULL),
                     INTAKE_SPOOL_OK);
    assert_true(found);
    assert_int_equal(d.item, a);
    intake_spool_delivery_free(&d);

    assert_int_equal(intake_spool_retry(f->sp, NULL, &changed), INTAKE_SPOOL_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(stats(f->sp).deliveries_dead, 0);
    assert_int_equal(intake_spool_retry(f->sp, NULL, &changed), INTAKE_SPOOL_OK);
    assert_int_equal(changed, 0);

    assert_int_equal(intake_spool_retry(f->sp, "ffffffff-ffff", &changed), INTAKE_SPOOL_FATAL);
    assert_true(intake_spool_error(f->sp)[0] != '\0');
    assert_int_equal(intake_spool_retry(f->sp, "01", &changed), INTAKE_SPOOL_FATAL);
}

static void retry_quarantined_item(void **state)
{
    struct fx *f = *state;
    char rid[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "q", NULL, rid);
    struct intake_claim c;
    claim_expect(f->sp, "q", 1, &c);
    assert_int_equal(intake_spool_quarantine(f->sp, c.item, "classifier failed"), 0);
    intake_spool_claim_free(&c);
    long changed = 0;
    assert_int_equal(intake_spool_retry(f->sp, rid, &changed), INTAKE_SPOOL_OK);
    assert_int_equal(changed, 1);
    json_t *o = show(f->sp, rid, false);
    assert_string_equal(str_of(o, "state"), "new");
    assert_int_equal(int_of(o, "attempts"), 0);
    assert_true(json_is_null(json_object_get(o, "last_error")));
    json_decref(o);
    claim_expect(f->sp, "q", 1, &c);
    intake_spool_claim_free(&c);
}

/* Items in every state, received on 1..5 January 2020:
 * q1 quarantined (1st), p1 processed + case pending (2nd), d1 processed + case and ack done
 * (3rd), x1 processed + case dead (4th), n1 new, from another source and channel (5th). */
struct population {
    char q1[INTAKE_RECORD_ID_LEN + 1], p1[INTAKE_RECORD_ID_LEN + 1];
    char d1[INTAKE_RECORD_ID_LEN + 1], x1[INTAKE_RECORD_ID_LEN + 1];
    char n1[INTAKE_RECORD_ID_LEN + 1];
};

static void populate(intake_spool *sp, struct population *p)
{
    const char *const one[] = {"case"};
    submit_new(sp, "mta", "q1", OLD(1), p->q1);
    submit_new(sp, "mta", "p1", OLD(2), p->p1);
    submit_new(sp, "mta", "d1", OLD(3), p->d1);
    submit_new(sp, "mta", "x1", OLD(4), p->x1);
    json_t *item = mk_item("n1", "webchat", OLD(5));
    struct intake_submit_result r;
    assert_int_equal(intake_spool_submit(sp, "chat", &item, 1, NULL, NULL, &r), 0);
    json_decref(item);
    strcpy(p->n1, r.record_id);
    struct intake_claim c;
    claim_expect(sp, "q1", 1, &c);
    assert_int_equal(intake_spool_quarantine(sp, c.item, "bad"), 0);
    intake_spool_claim_free(&c);
    process(sp, "p1", "complaint", one, 1);
    int64_t d1 = process(sp, "d1", "complaint", two_sinks, 2);
    int64_t x1 = process(sp, "x1", "compliment", one, 1);
    assert_int_equal(intake_spool_delivery_done(sp, d1, "case", 201, "C-9"), 0);
    assert_int_equal(intake_spool_delivery_done(sp, d1, "ack", 250, NULL), 0);
    assert_int_equal(intake_spool_delivery_dead(sp, x1, "case", 400, "HTTP 400", NULL), 0);
}

struct rows {
    int n;
    char ids[16][INTAKE_RECORD_ID_LEN + 1];
    char deliveries[16][64];
    bool has_category[16];
    int stop_after;
};

static int collect_row(void *ud, const struct intake_spool_row *row)
{
    struct rows *r = ud;
    if (r->n < 16) {
        snprintf(r->ids[r->n], sizeof r->ids[0], "%s", row->record_id);
        snprintf(r->deliveries[r->n], sizeof r->deliveries[0], "%s", row->deliveries);
        r->has_category[r->n] = row->category != NULL;
    }
    r->n++;
    return r->stop_after && r->n >= r->stop_after;
}

static struct rows list(intake_spool *sp, const char *state, long limit)
{
    struct rows r = {0};
    assert_int_equal(intake_spool_list(sp, state, limit, collect_row, &r), INTAKE_SPOOL_OK);
    return r;
}

static void list_filters_and_limit(void **state)
{
    struct fx *f = *state;
    struct population p;
    populate(f->sp, &p);
    struct rows r = list(f->sp, NULL, 0);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.ids[0], p.n1); /* newest first */
    assert_string_equal(r.ids[4], p.q1);
    assert_false(r.has_category[0]);
    assert_false(r.has_category[4]);
    assert_true(r.has_category[2]);
    assert_non_null(strstr(r.deliveries[2], "case:done"));
    assert_non_null(strstr(r.deliveries[2], "ack:done"));
    assert_string_equal(r.deliveries[1], "case:dead");

    r = list(f->sp, "new", 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ids[0], p.n1);
    r = list(f->sp, "processed", 0);
    assert_int_equal(r.n, 3);
    r = list(f->sp, "quarantined", 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ids[0], p.q1);
    r = list(f->sp, "pending", 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ids[0], p.p1);
    r = list(f->sp, "dead", 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ids[0], p.x1);

    r = list(f->sp, NULL, 2);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ids[0], p.n1);
    assert_string_equal(r.ids[1], p.x1);
    r = list(f->sp, "processed", 1);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ids[0], p.x1);

    struct rows stop = {.stop_after = 3};
    assert_int_equal(intake_spool_list(f->sp, NULL, 0, collect_row, &stop), INTAKE_SPOOL_OK);
    assert_int_equal(stop.n, 3);

    struct rows none = {0};
    assert_int_equal(intake_spool_list(f->sp, "unknown", 0, collect_row, &none),
                     INTAKE_SPOOL_FATAL);
    assert_int_equal(none.n, 0);
}

static bool mentions_text(const char *s)
{
    return strstr(s, "SECRET") || strstr(s, ADDRESS);
}

static void show_with_and_without_text(void **state)
{
    struct fx *f = *state;
    struct population p;
    populate(f->sp, &p);
    json_t *o = show(f->sp, p.d1, false);
    char *s = json_dumps(o, 0);
    assert_false(mentions_text(s));
    free(s);
    assert_null(json_object_get(o, "item_json"));
    assert_null(json_object_get(o, "record_json"));
    assert_string_equal(str_of(o, "record_id"), p.d1);
    assert_string_equal(str_of(o, "source"), "mta");
    assert_string_equal(str_of(o, "source_id"), "d1");
    assert_string_equal(str_of(o, "channel"), "email");
    assert_string_equal(str_of(o, "received_at"), "2020-01-03T00:00:00.000Z");
    assert_string_equal(str_of(delivery_of(o, "case"), "case_id"), "C-9");
    json_decref(o);

    o = show(f->sp, p.d1, true);
    json_t *item = json_object_get(o, "item_json");
    assert_string_equal(str_of(item, "body"), BODY);
    assert_string_equal(str_of(item, "subject"), SUBJECT);
    assert_string_equal(str_of(json_object_get(o, "record_json"), "text"), RECORD_TEXT);
    json_decref(o);

    /* Before processing there is no record yet. */
    o = show(f->sp, p.n1, true);
    assert_true(json_is_null(json_object_get(o, "record_json")));
    assert_int_equal(json_array_size(json_object_get(o, "deliveries")), 0);
    json_decref(o);

    /* A unique prefix finds the item; an unknown id finds nothing; a too short or shared
     * prefix is refused. */
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%.30s", p.x1);
    o = show(f->sp, prefix, false);
    assert_string_equal(str_of(o, "record_id"), p.x1);
    json_decref(o);
    o = (json_t *)1;
    assert_int_equal(intake_spool_show(f->sp, "ffffffff-ffff-7fff-bfff-ffffffffffff", false,
                                       &o),
                     INTAKE_SPOOL_OK);
    assert_null(o);
    assert_int_equal(intake_spool_show(f->sp, "01", false, &o), INTAKE_SPOOL_FATAL);
    assert_null(o);
    snprintf(prefix, sizeof prefix, "%.4s", p.q1); /* same millisecond range for all five */
    if (!strncmp(p.q1, p.n1, 4)) {
        assert_int_equal(intake_spool_show(f->sp, prefix, false, &o), INTAKE_SPOOL_FATAL);
        assert_null(o);
    }
}

static void purge_keeps_what_is_not_delivered(void **state)
{
    struct fx *f = *state;
    struct population p;
    populate(f->sp, &p);
    /* n1 gets a pending delivery; r1, received just now, is fully delivered; n2 stays
     * new. Everything but r1 was received in January 2020. */
    const char *const one[] = {"case"};
    char recent[INTAKE_RECORD_ID_LEN + 1], n2[INTAKE_RECORD_ID_LEN + 1];
    submit_new(f->sp, "mta", "r1", NULL, recent);
    process(f->sp, "n1", "comment", one, 1);
    int64_t r1 = process(f->sp, "r1", "comment", one, 1);
    assert_int_equal(intake_spool_delivery_done(f->sp, r1, "case", 200, NULL), 0);
    submit_new(f->sp, "mta", "n2", OLD(1), n2);

    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM records"), 5);
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM deliveries"), 6);
    /* Retention counts from when the last delivery finished: make the old items' work
     * finish in January 2020 too. */
    sql_exec(f->path, "UPDATE deliveries SET updated_unix = 1578000000 WHERE item IN"
                      " (SELECT id FROM items WHERE received_unix < 1600000000);"
                      "UPDATE records SET created_unix = 1578000000 WHERE item IN"
                      " (SELECT id FROM items WHERE received_unix < 1600000000)");
    long purged = -1;
    assert_int_equal(intake_spool_purge(f->sp, intake_time_now(), 30, &purged), 0);
    assert_int_equal(purged, 1);
    json_t *o = (json_t *)1;
    assert_int_equal(intake_spool_show(f->sp, p.d1, false, &o), 0);
    assert_null(o);
    const char *kept[] = {p.q1, p.p1, p.x1, p.n1, recent, n2};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        o = show(f->sp, kept[i], false);
        json_decref(o);
    }
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM items"), 6);
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM records"), 4);
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM deliveries"), 4);
    assert_int_equal(intake_spool_purge(f->sp, intake_time_now(), 30, &purged), 0);
    assert_int_equal(purged, 0);
    /* With 0 days the recent, fully delivered one goes too. */
    assert_int_equal(intake_spool_purge(f->sp, intake_time_now() + 1, 0, &purged), 0);
    assert_int_equal(purged, 1);
}

struct counts {
    int n;
    char key[16][64];
    long value[16];
};

static void collect_count(void *ud, const char *a, const char *b, long count)
{
    struct counts *c = ud;
    if (c->n < 16) {
        snprintf(c->key[c->n], sizeof c->key[0], "%s|%s", a, b);
        c->value[c->n++] = count;
    }
}

static long count_of(const struct counts *c, const char *key)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->key[i], key))
            return c->value[i];
    return 0;
}

static struct counts count(intake_spool *sp, enum intake_spool_grouping g)
{
    struct counts c = {0};
    assert_int_equal(intake_spool_count(sp, g, collect_count, &c), INTAKE_SPOOL_OK);
    return c;
}

static void stats_and_counts(void **state)
{
    struct fx *f = *state;
    struct intake_spool_stats st = stats(f->sp);
    assert_int_equal(st.items_new + st.items_processed + st.items_quarantined, 0);
    assert_true(st.oldest_undelivered == 0);
    struct population p;
    populate(f->sp, &p);
    st = stats(f->sp);
    assert_int_equal(st.items_new, 1);
    assert_int_equal(st.items_processed, 3);
    assert_int_equal(st.items_quarantined, 1);
    assert_int_equal(st.deliveries_pending, 1);
    assert_int_equal(st.deliveries_done, 2);
    assert_int_equal(st.deliveries_dead, 1);
    assert_true(st.oldest_undelivered == OLD_UNIX(2)); /* p1: the oldest pending */

    struct counts c = count(f->sp, INTAKE_COUNT_ITEMS_BY_SOURCE_CHANNEL);
    assert_int_equal(c.n, 2);
    assert_int_equal(count_of(&c, "mta|email"), 4);
    assert_int_equal(count_of(&c, "chat|webchat"), 1);
    c = count(f->sp, INTAKE_COUNT_ITEMS_BY_STATE);
    assert_int_equal(c.n, 3);
    assert_int_equal(count_of(&c, "new|"), 1);
    assert_int_equal(count_of(&c, "processed|"), 3);
    assert_int_equal(count_of(&c, "quarantined|"), 1);
    c = count(f->sp, INTAKE_COUNT_RECORDS_BY_CATEGORY);
    assert_int_equal(c.n, 2);
    assert_int_equal(count_of(&c, "complaint|"), 2);
    assert_int_equal(count_of(&c, "compliment|"), 1);
    c = count(f->sp, INTAKE_COUNT_DELIVERIES_BY_SINK_STATE);
    assert_int_equal(c.n, 4);
    assert_int_equal(count_of(&c, "case|pending"), 1);
    assert_int_equal(count_of(&c, "case|done"), 1);
    assert_int_equal(count_of(&c, "case|dead"), 1);
    assert_int_equal(count_of(&c, "ack|done"), 1);
    struct counts none = {0};
    assert_int_equal(intake_spool_count(f->sp, (enum intake_spool_grouping)99, collect_count,
                                        &none),
                     INTAKE_SPOOL_FATAL);
    assert_int_equal(none.n, 0);
}

static void writable(void **state)
{
    struct fx *f = *state;
    assert_int_equal(intake_spool_writable(f->sp), INTAKE_SPOOL_OK);
    assert_int_equal(intake_spool_writable(f->sp), INTAKE_SPOOL_OK); /* nothing left open */
    submit_new(f->sp, "mta", "after", NULL, NULL);
}

/* ---- several handles ---- */

#define PER_THREAD 200

struct worker {
    const char *path;
    int n;
    int failures;
    char shared[PER_THREAD][INTAKE_RECORD_ID_LEN + 1];
    bool dup[PER_THREAD];
};

/* Submits PER_THREAD items of its own and PER_THREAD items that the other thread submits
 * too, each in its own transaction, through its own handle. */
static void *submitter(void *arg)
{
    struct worker *w = arg;
    intake_spool *sp = NULL;
    if (intake_spool_open(w->path, &sp, NULL, 0) != INTAKE_SPOOL_OK) {
        w->failures = PER_THREAD;
        return NULL;
    }
    for (int i = 0; i < PER_THREAD; i++) {
        char own[32], shared[32];
        snprintf(own, sizeof own, "t%d-%d", w->n, i);
        snprintf(shared, sizeof shared, "shared-%d", i);
        json_t *items[2] = {mk_item_raw(own, "email", NULL),
                            mk_item_raw(shared, "email", NULL)};
        struct intake_submit_result r[2];
        memset(r, 0, sizeof r);
        if (intake_spool_submit(sp, "mta", items, 2, NULL, NULL, r) != INTAKE_SPOOL_OK ||
            r[0].duplicate)
            w->failures++;
        strcpy(w->shared[i], r[1].record_id);
        w->dup[i] = r[1].duplicate;
        json_decref(items[0]);
        json_decref(items[1]);
    }
    intake_spool_close(sp);
    return NULL;
}

static void two_threads_submit_concurrently(void **state)
{
    struct fx *f = *state;
    char path[400];
    snprintf(path, sizeof path, "%s/concurrent.db", f->dir); /* both threads create it */
    static struct worker w[2];
    memset(w, 0, sizeof w);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        w[i].path = path;
        w[i].n = i;
        assert_int_equal(pthread_create(&t[i], NULL, submitter, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(w[0].failures, 0);
    assert_int_equal(w[1].failures, 0);
    for (int i = 0; i < PER_THREAD; i++) {
        assert_string_equal(w[0].shared[i], w[1].shared[i]);
        assert_true(w[0].dup[i] != w[1].dup[i]); /* exactly one stored it */
    }
    assert_int_equal(sql_number(path, "SELECT COUNT(*) FROM items"), 3 * PER_THREAD);
    assert_int_equal(sql_number(path, "SELECT COUNT(DISTINCT record_id) FROM items"),
                     3 * PER_THREAD);
}

struct locked_submit {
    intake_spool *sp;
    int rc;
};

static void *submit_while_locked(void *arg)
{
    struct locked_submit *ls = arg;
    json_t *item = mk_item_raw("blocked", "email", NULL);
    ls->rc = item ? intake_spool_submit(ls->sp, "mta", &item, 1, NULL, NULL, NULL) : -99;
    json_decref(item);
    return NULL;
}

static void locked_database_is_temporary(void **state)
{
    struct fx *f = *state;
    /* submit on one handle, writable on another, both waiting out the busy timeout */
    struct locked_submit ls = {open_ok(f->path), 0};
    sqlite3 *holder;
    assert_int_equal(sqlite3_open(f->path, &holder), SQLITE_OK);
    assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    double start = intake_time_now();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, submit_while_locked, &ls), 0);
    int wr = intake_spool_writable(f->sp);
    pthread_join(t, NULL);
    double waited = intake_time_now() - start;
    sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(holder);
    assert_int_equal(ls.rc, INTAKE_SPOOL_TEMP);
    assert_int_equal(wr, INTAKE_SPOOL_TEMP);
    assert_true(intake_spool_error(ls.sp)[0] != '\0');
    assert_true(waited > 1.0); /* it waited for the lock instead of failing at once */
    /* Once the lock is gone the same call succeeds, and nothing was half-stored. */
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM items"), 0);
    assert_int_equal(submit_one(ls.sp, "mta", "blocked", NULL, NULL), INTAKE_SPOOL_OK);
    assert_int_equal(intake_spool_writable(f->sp), INTAKE_SPOOL_OK);
    intake_spool_close(ls.sp);
    assert_int_equal(stats(f->sp).items_new, 1);
}

/* ---- sink marks ---- */

/* True when the file at path holds `needle` anywhere (WAL included). */
static bool file_holds(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(buf + i, needle, k) == 0)
            return true;
    return false;
}

static void sink_marks_remember_hashed_keys(void **state)
{
    struct fx *f = *state;
    const char *key = "ack\nresident.marks@example.org\n<root-1@example.org>";
    double at = -1;
    assert_int_equal(intake_spool_mark_get(f->sp, "ack", key, &at), INTAKE_SPOOL_OK);
    assert_true(at == 0);
    assert_int_equal(intake_spool_mark_set(f->sp, "ack", key, 1700000000.5), INTAKE_SPOOL_OK);
    assert_int_equal(intake_spool_mark_get(f->sp, "ack", key, &at), INTAKE_SPOOL_OK);
    assert_true(at == 1700000000.5);
    /* another sink, another key: separate */
    assert_int_equal(intake_spool_mark_get(f->sp, "other", key, &at), INTAKE_SPOOL_OK);
    assert_true(at == 0);
    assert_int_equal(intake_spool_mark_get(f->sp, "ack", "ack\nsomeone", &at), 0);
    assert_true(at == 0);
    /* a later mark replaces the earlier one */
    assert_int_equal(intake_spool_mark_set(f->sp, "ack", key, 1700000100.0), INTAKE_SPOOL_OK);
    assert_int_equal(intake_spool_mark_get(f->sp, "ack", key, &at), INTAKE_SPOOL_OK);
    assert_true(at == 1700000100.0);
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM sink_marks"), 1);
    /* the key survives a reopen, and is nowhere in the files in clear */
    intake_spool_close(f->sp);
    f->sp = open_ok(f->path);
    assert_int_equal(intake_spool_mark_get(f->sp, "ack", key, &at), INTAKE_SPOOL_OK);
    assert_true(at == 1700000100.0);
    char wal[sizeof f->path + 8];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_false(file_holds(f->path, "resident.marks@"));
    assert_false(file_holds(wal, "resident.marks@"));
    assert_int_equal(sql_number(f->path, "SELECT length(key_sha256) FROM sink_marks"), 64);
}

static void sink_marks_are_purged_with_retention(void **state)
{
    struct fx *f = *state;
    double now = intake_time_now(), at = 0;
    assert_int_equal(intake_spool_mark_set(f->sp, "ack", "old", now - 40 * 86400.0), 0);
    assert_int_equal(intake_spool_mark_set(f->sp, "ack", "new", now - 3600.0), 0);
    long purged = -1;
    assert_int_equal(intake_spool_purge(f->sp, now, 30, &purged), 0);
    assert_int_equal(intake_spool_mark_get(f->sp, "ack", "old", &at), 0);
    assert_true(at == 0);
    assert_int_equal(intake_spool_mark_get(f->sp, "ack", "new", &at), 0);
    assert_true(at > 0);
    /* a retention shorter than a sink's window (smtp's repeat_window, up to 30 days) keeps
     * the marks 30 days */
    assert_int_equal(intake_spool_mark_set(f->sp, "ack", "week", now - 7 * 86400.0), 0);
    assert_int_equal(intake_spool_mark_set(f->sp, "ack", "month", now - 31 * 86400.0), 0);
    assert_int_equal(intake_spool_purge(f->sp, now, 1, &purged), 0);
    assert_int_equal(intake_spool_mark_get(f->sp, "ack", "week", &at), 0);
    assert_true(at > 0);
    assert_int_equal(intake_spool_mark_get(f->sp, "ack", "month", &at), 0);
    assert_true(at == 0);
}

/* A spool written at schema version 2 (before sink marks) is migrated to 3 on open, and
 * keeps its items. */
static void version_2_spool_is_migrated(void **state)
{
    struct fx *f = *state;
    submit_new(f->sp, "mta", "kept", NULL, NULL);
    intake_spool_close(f->sp);
    f->sp = NULL;
    sql_exec(f->path, "DROP TABLE sink_marks; PRAGMA user_version = 2");
    assert_int_equal(sql_number(f->path, "PRAGMA user_version"), 2);
    f->sp = open_ok(f->path);
    assert_int_equal(sql_number(f->path, "PRAGMA user_version"), 3);
    assert_int_equal(intake_spool_mark_set(f->sp, "ack", "k", 1.0), INTAKE_SPOOL_OK);
    assert_int_equal(sql_number(f->path, "SELECT COUNT(*) FROM items"), 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(open_creates_schema_and_reopens),
        T(newer_schema_is_refused),
        T(garbage_file_is_fatal),
        T(record_id_is_time_ordered_uuid7),
        T(duplicate_keeps_the_first),
        T(same_id_from_another_source_is_new),
        T(invalid_items_are_fatal_and_store_nothing),
        T(valid_variants_are_accepted),
        T(cursors),
        T(claims_in_order),
        T(attempts_are_counted_before_processing),
        T(poison_item_does_not_block_the_rest),
        T(explicit_quarantine),
        T(store_record_creates_deliveries),
        T(next_delivery_due_and_not_due),
        T(delivery_outcomes_are_visible),
        T(test_delivery_skipped),
        T(test_delivery_sending_and_recover),
        T(retry_dead_by_prefix_and_all),
        T(retry_quarantined_item),
        T(list_filters_and_limit),
        T(show_with_and_without_text),
        T(purge_keeps_what_is_not_delivered),
        T(stats_and_counts),
        T(writable),
        T(two_threads_submit_concurrently),
        T(locked_database_is_temporary),
        T(sink_marks_remember_hashed_keys),
        T(sink_marks_are_purged_with_retention),
        T(version_2_spool_is_migrated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
