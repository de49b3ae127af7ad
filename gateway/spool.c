/*
 * The spool: SQLite in WAL mode, synchronous=FULL, one handle per thread. The only file
 * that holds SQL. Every write is one transaction: BEGIN IMMEDIATE, the steps, COMMIT, and
 * a single cleanup path that rolls back on failure.
 */
#include "intake/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "intake/timefmt.h"

#define SCHEMA_VERSION 3
#define BUSY_TIMEOUT_MS 5000
#define PROBE_TIMEOUT_MS 1000
#define MAX_ITEM_JSON (8u * 1024 * 1024) /* larger items are refused at submit */
#define MAX_SOURCE_ID 512

struct intake_spool {
    sqlite3 *db;
    char error[256];
};

/* ---- errors and small helpers ---- */

/* Maps an SQLite result code to OK / TEMP / FATAL. */
static int classify_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return INTAKE_SPOOL_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
        return INTAKE_SPOOL_TEMP;
    default:
        return INTAKE_SPOOL_FATAL;
    }
}

/* Records why `what` failed with SQLite code rc and returns the INTAKE_SPOOL_* code. The
 * reason holds SQLite's message, which names tables and constraints, never values. */
static int fail(intake_spool *sp, int rc, const char *what)
{
    snprintf(sp->error, sizeof sp->error, "%s: %s", what, sqlite3_errstr(rc));
    int code = classify_rc(rc);
    return code == INTAKE_SPOOL_OK ? INTAKE_SPOOL_FATAL : code;
}

/* Records a failure that is not SQLite's. */
static int fail_msg(intake_spool *sp, int code, const char *msg)
{
    snprintf(sp->error, sizeof sp->error, "%s", msg);
    return code;
}

const char *intake_spool_error(const intake_spool *sp)
{
    return sp->error;
}

static int exec(intake_spool *sp, const char *sql)
{
    int rc = sqlite3_exec(sp->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? INTAKE_SPOOL_OK : fail(sp, rc, "sql");
}

static int prep(intake_spool *sp, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(sp->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? INTAKE_SPOOL_OK : fail(sp, rc, "prepare");
}

/* Steps a statement that returns no rows, then finalizes it. */
static int step_done(intake_spool *sp, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? INTAKE_SPOOL_OK : fail(sp, rc, what);
}

static int begin(intake_spool *sp)
{
    return exec(sp, "BEGIN IMMEDIATE");
}

static int commit(intake_spool *sp)
{
    int rc = sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL);
    return rc == SQLITE_OK ? INTAKE_SPOOL_OK : fail(sp, rc, "commit");
}

static void rollback(intake_spool *sp)
{
    if (!sqlite3_get_autocommit(sp->db))
        sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Ends a transaction: commits when rc is OK, else rolls back. Returns the final code. */
static int finish(intake_spool *sp, int rc)
{
    if (rc == INTAKE_SPOOL_OK)
        rc = commit(sp);
    if (rc != INTAKE_SPOOL_OK)
        rollback(sp);
    return rc;
}

static char *dup_col(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s ? strdup((const char *)s) : NULL;
}

static const char *col_or(sqlite3_stmt *st, int col, const char *dflt)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s ? (const char *)s : dflt;
}

/* ---- schema ---- */

static const char *const migrations[SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO meta VALUES('created', strftime('%Y-%m-%dT%H:%M:%SZ','now'));"
    "CREATE TABLE items("
    " id INTEGER PRIMARY KEY,"
    " record_id TEXT NOT NULL UNIQUE,"
    " source TEXT NOT NULL,"
    " source_id TEXT NOT NULL,"
    " channel TEXT NOT NULL,"
    " received_at TEXT NOT NULL,"
    " received_unix REAL NOT NULL,"
    " item_json TEXT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'new',"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " category TEXT,"
    " flags TEXT,"
    " UNIQUE(source, source_id));"
    "CREATE INDEX items_by_state ON items(state, id);"
    "CREATE TABLE records("
    " item INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,"
    " record_json TEXT NOT NULL,"
    " created_unix REAL NOT NULL);"
    "CREATE TABLE deliveries("
    " item INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,"
    " sink TEXT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'pending',"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_try REAL NOT NULL,"
    " status INTEGER,"
    " last_error TEXT,"
    " response TEXT,"
    " case_id TEXT,"
    " updated_unix REAL,"
    " PRIMARY KEY(item, sink));"
    "CREATE INDEX deliveries_due ON deliveries(sink, state, next_try);"
    "CREATE TABLE cursors("
    " source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY(source, key));",
    /* 1 -> 2: purged items leave their key behind, so a late re-delivery stays a
     * duplicate instead of becoming a second case */
    "CREATE TABLE tombstones("
    " source TEXT NOT NULL, source_id TEXT NOT NULL, record_id TEXT NOT NULL,"
    " purged_unix REAL NOT NULL,"
    " PRIMARY KEY(source, source_id));",
    /* 2 -> 3: what a sink remembers across restarts (e.g. "acknowledged this sender in
     * this thread"), keyed by the SHA-256 of the sink's key so no address is kept */
    "CREATE TABLE sink_marks("
    " sink TEXT NOT NULL, key_sha256 TEXT NOT NULL, at_unix REAL NOT NULL,"
    " PRIMARY KEY(sink, key_sha256));",
};

static int user_version(intake_spool *sp, int *v)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "PRAGMA user_version", &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    *v = s == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return s == SQLITE_ROW ? INTAKE_SPOOL_OK : fail(sp, s, "schema version");
}

/* Brings the schema up to SCHEMA_VERSION inside one write transaction, so two processes
 * opening a new spool at once cannot both migrate it. */
static int migrate(intake_spool *sp)
{
    int v = 0;
    int rc = user_version(sp, &v); /* no lock needed when the schema is current */
    if (rc || v == SCHEMA_VERSION)
        return rc;
    rc = begin(sp);
    if (!rc)
        rc = user_version(sp, &v);
    if (!rc && v > SCHEMA_VERSION)
        rc = fail_msg(sp, INTAKE_SPOOL_FATAL,
                      "the spool was written by a newer intake (schema version too high)");
    for (; !rc && v < SCHEMA_VERSION; v++) {
        char sql[64];
        rc = exec(sp, migrations[v]);
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if (!rc)
            rc = exec(sp, sql);
    }
    return finish(sp, rc);
}

/* Switches to WAL. While another connection is creating the same new file, SQLite
 * answers SQLITE_BUSY at once without calling the busy handler (it would deadlock), so
 * wait here, for as long as the busy timeout. */
static int set_wal(intake_spool *sp)
{
    int rc = SQLITE_BUSY;
    for (int waited = 0; waited <= BUSY_TIMEOUT_MS; waited += 10) {
        rc = sqlite3_exec(sp->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY)
            break;
        sqlite3_sleep(10);
    }
    return rc == SQLITE_OK ? INTAKE_SPOOL_OK : fail(sp, rc, "set WAL mode");
}

static int configure(intake_spool *sp)
{
    sqlite3_busy_timeout(sp->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(sp->db, 1);
    int rc = set_wal(sp);
    if (!rc)
        rc = exec(sp, "PRAGMA synchronous=FULL");
    if (!rc)
        rc = exec(sp, "PRAGMA foreign_keys=ON");
    return rc;
}

int intake_spool_open(const char *path, intake_spool **out, char *err, size_t errlen)
{
    *out = NULL;
    intake_spool *sp = calloc(1, sizeof *sp);
    if (!sp) {
        if (err)
            snprintf(err, errlen, "out of memory");
        return INTAKE_SPOOL_FATAL;
    }
    int rc = sqlite3_open_v2(path, &sp->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    rc = rc == SQLITE_OK ? INTAKE_SPOOL_OK : fail(sp, rc, "open");
    if (!rc)
        rc = configure(sp);
    if (!rc)
        rc = migrate(sp);
    if (rc) {
        if (err)
            snprintf(err, errlen, "%s", sp->error);
        intake_spool_close(sp);
        return rc;
    }
    *out = sp;
    return INTAKE_SPOOL_OK;
}

void intake_spool_close(intake_spool *sp)
{
    if (!sp)
        return;
    sqlite3_close_v2(sp->db);
    free(sp);
}

/* ---- record ids ---- */

/* Writes a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, 74 random bits. */
static int uuid7(char out[INTAKE_RECORD_ID_LEN + 1])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    unsigned long long ms = (unsigned long long)(intake_time_now() * 1000.0);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
    return 0;
}

/* ---- sources ---- */

static bool nonempty_string(const json_t *item, const char *key)
{
    const json_t *v = json_object_get(item, key);
    return json_is_string(v) && json_string_length(v) > 0;
}

const char *intake_spool_item_invalid(const json_t *item)
{
    if (!json_is_object(item))
        return "the item is not a JSON object";
    if (!nonempty_string(item, "id"))
        return "\"id\" is missing, empty or not a string";
    if (json_string_length(json_object_get(item, "id")) > MAX_SOURCE_ID)
        return "\"id\" is too long";
    if (!nonempty_string(item, "channel"))
        return "\"channel\" is missing, empty or not a string";
    if (!json_is_string(json_object_get(item, "body")))
        return "\"body\" is missing or not a string";
    const json_t *subject = json_object_get(item, "subject");
    if (subject && !json_is_string(subject) && !json_is_null(subject))
        return "\"subject\" is not a string";
    const json_t *pub = json_object_get(item, "public");
    if (pub && !json_is_boolean(pub) && !json_is_null(pub))
        return "\"public\" is not true or false";
    const json_t *from = json_object_get(item, "from");
    if (from && !json_is_object(from) && !json_is_null(from))
        return "\"from\" is not an object";
    const json_t *rec = json_object_get(item, "received_at");
    double t;
    if (rec && (!json_is_string(rec) || intake_time_parse(json_string_value(rec), &t)))
        return "\"received_at\" is not an RFC 3339 time";
    if (json_dumpb(item, NULL, 0, JSON_COMPACT) > MAX_ITEM_JSON)
        return "the item is larger than 8 MiB";
    return NULL;
}

/* The item's received time: its "received_at" when given, else now. */
static double received_time(const json_t *item)
{
    double t;
    const json_t *rec = json_object_get(item, "received_at");
    if (rec && intake_time_parse(json_string_value(rec), &t) == 0)
        return t;
    return intake_time_now();
}

/* Runs `sql`, which selects a record id by (?1 source, ?2 source_id), into out; *found
 * says whether a row came. */
static int find_record_id(intake_spool *sp, const char *sql, const char *source,
                          const char *source_id, char out[INTAKE_RECORD_ID_LEN + 1],
                          bool *found)
{
    sqlite3_stmt *st;
    int rc = prep(sp, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, source_id, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    *found = s == SQLITE_ROW;
    if (*found)
        snprintf(out, INTAKE_RECORD_ID_LEN + 1, "%s", col_or(st, 0, ""));
    sqlite3_finalize(st);
    return s == SQLITE_ROW || s == SQLITE_DONE ? INTAKE_SPOOL_OK : fail(sp, s, "lookup");
}

/* An item purged earlier came again: undo the insert and report the old record id. */
static int check_tombstone(intake_spool *sp, const char *source, const char *source_id,
                           struct intake_submit_result *res)
{
    bool found = false;
    int rc = find_record_id(sp, "SELECT record_id FROM tombstones WHERE source=?1 AND"
                                " source_id=?2", source, source_id, res->record_id, &found);
    if (rc || !found)
        return rc;
    res->duplicate = true;
    sqlite3_stmt *st;
    if ((rc = prep(sp, "DELETE FROM items WHERE source=? AND source_id=?", &st)))
        return rc;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, source_id, -1, SQLITE_STATIC);
    return step_done(sp, st, "undo insert");
}

/* Inserts one item unless (source, source_id) is there already. */
static int insert_item(intake_spool *sp, const char *source, json_t *item,
                       struct intake_submit_result *res)
{
    const char *reason = intake_spool_item_invalid(item);
    if (reason)
        return fail_msg(sp, INTAKE_SPOOL_FATAL, reason);
    char *text = json_dumps(item, JSON_COMPACT);
    if (!text)
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "the item cannot be serialised");
    if (strlen(text) > MAX_ITEM_JSON) {
        free(text);
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "the item is larger than 8 MiB");
    }
    const char *source_id = json_string_value(json_object_get(item, "id"));
    char when[INTAKE_RFC3339_LEN];
    double t = received_time(item);
    int rc = uuid7(res->record_id) ? fail_msg(sp, INTAKE_SPOOL_TEMP, "no random bytes") : 0;
    sqlite3_stmt *st = NULL;
    if (!rc)
        rc = prep(sp, "INSERT OR IGNORE INTO items(record_id, source, source_id, channel,"
                      " received_at, received_unix, item_json) VALUES(?,?,?,?,?,?,?)", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, res->record_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, source_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, json_string_value(json_object_get(item, "channel")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 5, intake_time_format(t, when), -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 6, t);
        sqlite3_bind_text(st, 7, text, -1, SQLITE_STATIC);
        rc = step_done(sp, st, "insert item");
    }
    res->duplicate = !rc && sqlite3_changes(sp->db) == 0;
    bool found;
    if (res->duplicate)
        rc = find_record_id(sp, "SELECT record_id FROM items WHERE source=?1 AND"
                                " source_id=?2", source, source_id, res->record_id, &found);
    else if (!rc)
        rc = check_tombstone(sp, source, source_id, res);
    free(text);
    return rc;
}

static int put_cursor(intake_spool *sp, const char *source, const char *key, const char *value)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "INSERT INTO cursors(source, key, value) VALUES(?,?,?)"
                      " ON CONFLICT(source, key) DO UPDATE SET value=excluded.value", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, value, -1, SQLITE_STATIC);
    return step_done(sp, st, "set cursor");
}

int intake_spool_submit(intake_spool *sp, const char *source, json_t *const *items, size_t n,
                        const char *cursor_key, const char *cursor_value,
                        struct intake_submit_result *results)
{
    struct intake_submit_result scratch;
    int rc = begin(sp);
    for (size_t i = 0; !rc && i < n; i++)
        rc = insert_item(sp, source, items[i], results ? &results[i] : &scratch);
    if (!rc && cursor_key)
        rc = put_cursor(sp, source, cursor_key, cursor_value ? cursor_value : "");
    return finish(sp, rc);
}

int intake_spool_cursor_get(intake_spool *sp, const char *source, const char *key,
                            char **value)
{
    *value = NULL;
    sqlite3_stmt *st;
    int rc = prep(sp, "SELECT value FROM cursors WHERE source=? AND key=?", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *value = dup_col(st, 0);
        rc = *value ? INTAKE_SPOOL_OK : fail_msg(sp, INTAKE_SPOOL_FATAL, "out of memory");
    } else if (s != SQLITE_DONE) {
        rc = fail(sp, s, "get cursor");
    }
    sqlite3_finalize(st);
    return rc;
}

int intake_spool_cursor_set(intake_spool *sp, const char *source, const char *key,
                            const char *value)
{
    int rc = begin(sp);
    if (!rc)
        rc = put_cursor(sp, source, key, value);
    return finish(sp, rc);
}

/* ---- the processor ---- */

void intake_spool_claim_free(struct intake_claim *c)
{
    free(c->record_id);
    free(c->source);
    free(c->received_at);
    json_decref(c->item_json);
    memset(c, 0, sizeof *c);
}

static int set_item_state(intake_spool *sp, int64_t item, const char *state,
                          const char *error)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "UPDATE items SET state=?, last_error=? WHERE id=?", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, item);
    return step_done(sp, st, "set item state");
}

/* Finds the oldest new item: *item = 0 when there is none. */
static int oldest_new(intake_spool *sp, int64_t *item, int *attempts)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "SELECT id, attempts FROM items WHERE state='new' ORDER BY id LIMIT 1",
                  &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    *item = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    *attempts = s == SQLITE_ROW ? sqlite3_column_int(st, 1) : 0;
    sqlite3_finalize(st);
    return s == SQLITE_ROW || s == SQLITE_DONE ? INTAKE_SPOOL_OK : fail(sp, s, "find new");
}

/* Counts one attempt on the item and reads it into *c. */
static int take_item(intake_spool *sp, int64_t item, struct intake_claim *c)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "UPDATE items SET attempts=attempts+1 WHERE id=?"
                      " RETURNING record_id, source, received_at, item_json, attempts", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, item);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        c->item = item;
        c->record_id = dup_col(st, 0);
        c->source = dup_col(st, 1);
        c->received_at = dup_col(st, 2);
        c->item_json = json_loads(col_or(st, 3, ""), 0, NULL); /* NULL: caller quarantines */
        c->attempt = sqlite3_column_int(st, 4);
        s = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return fail(sp, s, "claim");
    if (!c->record_id || !c->source || !c->received_at)
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "out of memory");
    return INTAKE_SPOOL_OK;
}

int intake_spool_claim(intake_spool *sp, struct intake_claim *c, bool *found,
                       unsigned *quarantined)
{
    memset(c, 0, sizeof *c);
    *found = false;
    unsigned q = 0;
    int64_t item = 0;
    int attempts = 0;
    int rc = begin(sp);
    while (!rc) {
        rc = oldest_new(sp, &item, &attempts);
        if (rc || item == 0 || attempts < INTAKE_SPOOL_MAX_PROCESS)
            break;
        rc = set_item_state(sp, item, "quarantined", "processing failed 3 times");
        q++;
    }
    if (!rc && item != 0)
        rc = take_item(sp, item, c);
    rc = finish(sp, rc);
    if (rc)
        intake_spool_claim_free(c);
    *found = !rc && item != 0;
    if (quarantined)
        *quarantined = rc ? 0 : q;
    return rc;
}

static int put_record(intake_spool *sp, int64_t item, const char *json)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "INSERT OR REPLACE INTO records(item, record_json, created_unix)"
                      " VALUES(?,?,?)", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, item);
    sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, intake_time_now());
    return step_done(sp, st, "store record");
}

static int mark_processed(intake_spool *sp, int64_t item, const char *category,
                          const char *flags)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "UPDATE items SET state='processed', last_error=NULL, category=?,"
                      " flags=? WHERE id=?", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, flags, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, item);
    return step_done(sp, st, "mark processed");
}

static int add_delivery(intake_spool *sp, int64_t item, const char *sink)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "INSERT OR IGNORE INTO deliveries(item, sink, next_try, updated_unix)"
                      " VALUES(?,?,?,?)", &st);
    if (rc)
        return rc;
    double now = intake_time_now();
    sqlite3_bind_int64(st, 1, item);
    sqlite3_bind_text(st, 2, sink, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, now);
    sqlite3_bind_double(st, 4, now);
    return step_done(sp, st, "add delivery");
}

int intake_spool_store_record(intake_spool *sp, const struct intake_claim *c,
                              const char *record_json, const char *category,
                              const char *flags, const char *const *sinks, size_t nsinks)
{
    int rc = begin(sp);
    if (!rc)
        rc = put_record(sp, c->item, record_json);
    if (!rc)
        rc = mark_processed(sp, c->item, category, flags);
    for (size_t i = 0; !rc && i < nsinks; i++)
        rc = add_delivery(sp, c->item, sinks[i]);
    return finish(sp, rc);
}

int intake_spool_quarantine(intake_spool *sp, int64_t item, const char *reason)
{
    int rc = begin(sp);
    if (!rc)
        rc = set_item_state(sp, item, "quarantined", reason);
    return finish(sp, rc);
}

/* ---- sinks ---- */

void intake_spool_delivery_free(struct intake_delivery *d)
{
    free(d->record_id);
    free(d->record_json);
    memset(d, 0, sizeof *d);
}

static int earliest_due(intake_spool *sp, const char *sink, double *next_due)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "SELECT MIN(next_try) FROM deliveries WHERE sink=? AND state='pending'",
                  &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    *next_due = s == SQLITE_ROW ? sqlite3_column_double(st, 0) : 0;
    sqlite3_finalize(st);
    return s == SQLITE_ROW ? INTAKE_SPOOL_OK : fail(sp, s, "next due");
}

int intake_spool_next_delivery(intake_spool *sp, const char *sink, double now,
                               struct intake_delivery *d, bool *found, double *next_due)
{
    memset(d, 0, sizeof *d);
    *found = false;
    sqlite3_stmt *st;
    int rc = prep(sp, "SELECT d.item, i.record_id, r.record_json, d.attempts"
                      " FROM deliveries d JOIN items i ON i.id = d.item"
                      " JOIN records r ON r.item = d.item"
                      " WHERE d.sink=? AND d.state='pending' AND d.next_try <= ?"
                      " ORDER BY d.next_try, d.item LIMIT 1", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, now);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        d->item = sqlite3_column_int64(st, 0);
        d->record_id = dup_col(st, 1);
        d->record_json = dup_col(st, 2);
        d->attempts = sqlite3_column_int(st, 3);
        *found = d->record_id && d->record_json;
        rc = *found ? INTAKE_SPOOL_OK : fail_msg(sp, INTAKE_SPOOL_FATAL, "out of memory");
    } else if (s != SQLITE_DONE) {
        rc = fail(sp, s, "next delivery");
    }
    sqlite3_finalize(st);
    if (rc)
        intake_spool_delivery_free(d);
    if (!rc && !*found && next_due)
        rc = earliest_due(sp, sink, next_due);
    return rc;
}

/* Updates one delivery row: state, status, next try, error, response and case id. */
static int update_delivery(intake_spool *sp, int64_t item, const char *sink,
                           const char *state, int status, double next_try, const char *error,
                           const char *response, const char *case_id)
{
    sqlite3_stmt *st;
    int rc = begin(sp);
    if (!rc)
        rc = prep(sp, "UPDATE deliveries SET state=?, attempts=attempts+1, status=?,"
                      " next_try=?, last_error=?, response=?, case_id=COALESCE(?, case_id),"
                      " updated_unix=? WHERE item=? AND sink=?", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
        if (status)
            sqlite3_bind_int(st, 2, status);
        sqlite3_bind_double(st, 3, next_try);
        sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, response, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, case_id && *case_id ? case_id : NULL, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 7, intake_time_now());
        sqlite3_bind_int64(st, 8, item);
        sqlite3_bind_text(st, 9, sink, -1, SQLITE_STATIC);
        rc = step_done(sp, st, "update delivery");
    }
    return finish(sp, rc);
}

int intake_spool_delivery_done(intake_spool *sp, int64_t item, const char *sink, int status,
                               const char *case_id)
{
    return update_delivery(sp, item, sink, "done", status, 0, NULL, NULL, case_id);
}

int intake_spool_delivery_begin(intake_spool *sp, int64_t item, const char *sink)
{
    sqlite3_stmt *st;
    int rc = begin(sp);
    if (!rc)
        rc = prep(sp, "UPDATE deliveries SET state='sending', updated_unix=?"
                      " WHERE item=? AND sink=? AND state='pending'", &st);
    if (!rc) {
        sqlite3_bind_double(st, 1, intake_time_now());
        sqlite3_bind_int64(st, 2, item);
        sqlite3_bind_text(st, 3, sink, -1, SQLITE_STATIC);
        rc = step_done(sp, st, "begin delivery");
    }
    return finish(sp, rc);
}

int intake_spool_delivery_recover(intake_spool *sp, const char *sink, long *n)
{
    sqlite3_stmt *st;
    int rc = begin(sp);
    if (!rc)
        rc = prep(sp, "UPDATE deliveries SET state='dead', attempts=attempts+1,"
                      " last_error='outcome unknown: the daemon stopped during this attempt;"
                      " check whether it went out before retrying', updated_unix=?"
                      " WHERE sink=? AND state='sending'", &st);
    if (!rc) {
        sqlite3_bind_double(st, 1, intake_time_now());
        sqlite3_bind_text(st, 2, sink, -1, SQLITE_STATIC);
        rc = step_done(sp, st, "recover deliveries");
    }
    if (!rc && n)
        *n = (long)sqlite3_changes(sp->db);
    return finish(sp, rc);
}

int intake_spool_delivery_skipped(intake_spool *sp, int64_t item, const char *sink,
                                  const char *note)
{
    return update_delivery(sp, item, sink, "done", 0, 0, note, NULL, NULL);
}

int intake_spool_delivery_retry(intake_spool *sp, int64_t item, const char *sink, int status,
                                double next_try, const char *error)
{
    return update_delivery(sp, item, sink, "pending", status, next_try, error, NULL, NULL);
}

int intake_spool_delivery_dead(intake_spool *sp, int64_t item, const char *sink, int status,
                               const char *error, const char *response)
{
    return update_delivery(sp, item, sink, "dead", status, 0, error, response, NULL);
}

/* ---- sink marks ---- */

/* The hex SHA-256 of key into out[65]; -1 when OpenSSL fails. */
static int key_hash(const char *key, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(key, strlen(key), md, &n, EVP_sha256(), NULL) || n != 32)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

int intake_spool_mark_get(intake_spool *sp, const char *sink, const char *key, double *at)
{
    char h[65];
    sqlite3_stmt *st;
    *at = 0;
    if (key_hash(key, h) < 0)
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "SHA-256 failed");
    int rc = prep(sp, "SELECT at_unix FROM sink_marks WHERE sink=? AND key_sha256=?", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, h, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *at = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return s == SQLITE_ROW || s == SQLITE_DONE ? INTAKE_SPOOL_OK : fail(sp, s, "mark get");
}

int intake_spool_mark_set(intake_spool *sp, const char *sink, const char *key, double at)
{
    char h[65];
    sqlite3_stmt *st;
    if (key_hash(key, h) < 0)
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "SHA-256 failed");
    int rc = begin(sp);
    if (!rc)
        rc = prep(sp, "INSERT OR REPLACE INTO sink_marks(sink, key_sha256, at_unix)"
                      " VALUES(?,?,?)", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, h, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, at);
        rc = step_done(sp, st, "mark set");
    }
    return finish(sp, rc);
}

/* ---- operators, metrics, retention ---- */

/* Runs a query returning one number. */
static int scalar(intake_spool *sp, const char *sql, double *out)
{
    sqlite3_stmt *st;
    int rc = prep(sp, sql, &st);
    if (rc)
        return rc;
    int s = sqlite3_step(st);
    *out = s == SQLITE_ROW ? sqlite3_column_double(st, 0) : 0;
    sqlite3_finalize(st);
    return s == SQLITE_ROW ? INTAKE_SPOOL_OK : fail(sp, s, "query");
}

static const char oldest_undelivered_sql[] =
    "SELECT COALESCE(MIN(received_unix), 0) FROM items i WHERE i.state='new' OR EXISTS"
    " (SELECT 1 FROM deliveries d WHERE d.item=i.id AND d.state='pending')";

int intake_spool_stats(intake_spool *sp, struct intake_spool_stats *st)
{
    memset(st, 0, sizeof *st);
    const struct {
        const char *sql;
        long *dst;
    } q[] = {
        {"SELECT COUNT(*) FROM items WHERE state='new'", &st->items_new},
        {"SELECT COUNT(*) FROM items WHERE state='processed'", &st->items_processed},
        {"SELECT COUNT(*) FROM items WHERE state='quarantined'", &st->items_quarantined},
        {"SELECT COUNT(*) FROM deliveries WHERE state='pending'", &st->deliveries_pending},
        {"SELECT COUNT(*) FROM deliveries WHERE state='done'", &st->deliveries_done},
        {"SELECT COUNT(*) FROM deliveries WHERE state='dead'", &st->deliveries_dead},
    };
    int rc = exec(sp, "BEGIN"); /* one snapshot for every count */
    for (size_t i = 0; !rc && i < sizeof q / sizeof q[0]; i++) {
        double v = 0;
        rc = scalar(sp, q[i].sql, &v);
        *q[i].dst = (long)v;
    }
    if (!rc)
        rc = scalar(sp, oldest_undelivered_sql, &st->oldest_undelivered);
    rollback(sp);
    return rc;
}

int intake_spool_count(intake_spool *sp, enum intake_spool_grouping g,
                       intake_spool_count_fn fn, void *ud)
{
    static const char *const sql[] = {
        [INTAKE_COUNT_ITEMS_BY_SOURCE_CHANNEL] =
            "SELECT source, channel, COUNT(*) FROM items GROUP BY 1, 2",
        [INTAKE_COUNT_ITEMS_BY_STATE] = "SELECT state, '', COUNT(*) FROM items GROUP BY 1",
        [INTAKE_COUNT_RECORDS_BY_CATEGORY] =
            "SELECT category, '', COUNT(*) FROM items WHERE category IS NOT NULL GROUP BY 1",
        [INTAKE_COUNT_DELIVERIES_BY_SINK_STATE] =
            "SELECT sink, state, COUNT(*) FROM deliveries GROUP BY 1, 2",
    };
    if ((unsigned)g >= sizeof sql / sizeof sql[0])
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "unknown grouping");
    sqlite3_stmt *st;
    int rc = prep(sp, sql[g], &st);
    if (rc)
        return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        fn(ud, col_or(st, 0, ""), col_or(st, 1, ""), (long)sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? INTAKE_SPOOL_OK : fail(sp, s, "count");
}

static const char list_columns[] =
    "SELECT i.record_id, i.source, i.source_id, i.channel, i.received_at, i.state,"
    " i.category, i.attempts,"
    " (SELECT group_concat(sink || ':' || state, ',') FROM deliveries d WHERE d.item=i.id),"
    " i.flags FROM items i";

/* The WHERE clause for a listing filter, or NULL for an unknown one. */
static const char *list_filter(const char *state)
{
    if (!state || !*state)
        return "";
    if (!strcmp(state, "new") || !strcmp(state, "processed") || !strcmp(state, "quarantined"))
        return " WHERE i.state = ?1";
    if (!strcmp(state, "dead") || !strcmp(state, "pending") || !strcmp(state, "done") ||
        !strcmp(state, "sending"))
        return " WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.item=i.id AND d.state=?1)";
    return NULL;
}

int intake_spool_list(intake_spool *sp, const char *state, long limit,
                      intake_spool_row_fn fn, void *ud)
{
    const char *where = list_filter(state);
    if (!where)
        return fail_msg(sp, INTAKE_SPOOL_FATAL,
                        "unknown state (new, processed, quarantined, pending, sending, done,"
                        " dead)");
    char sql[1024];
    snprintf(sql, sizeof sql, "%s%s ORDER BY i.id DESC LIMIT ?2", list_columns, where);
    sqlite3_stmt *st;
    int rc = prep(sp, sql, &st);
    if (rc)
        return rc;
    if (*where)
        sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        struct intake_spool_row row = {
            col_or(st, 0, ""), col_or(st, 1, ""), col_or(st, 2, ""), col_or(st, 3, ""),
            col_or(st, 4, ""), col_or(st, 5, ""), col_or(st, 6, NULL), col_or(st, 8, ""),
            sqlite3_column_int(st, 7), col_or(st, 9, "")};
        if (fn(ud, &row)) {
            s = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? INTAKE_SPOOL_OK : fail(sp, s, "list");
}

/* Finds the one item whose record id starts with `id`. *item = 0 when none; ambiguous
 * prefixes are an error. */
static int find_item(intake_spool *sp, const char *id, int64_t *item)
{
    *item = 0;
    if (!id || strlen(id) < 4 || strlen(id) > INTAKE_RECORD_ID_LEN)
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "give a record id or at least 4 of its first "
                                                "characters");
    sqlite3_stmt *st;
    int rc = prep(sp, "SELECT id FROM items WHERE record_id >= ?1 AND record_id < ?1 || '~'"
                      " LIMIT 2", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int n = 0, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW && ++n == 1)
        *item = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        return fail(sp, s, "find item");
    if (n > 1) {
        *item = 0;
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "more than one record id starts like that");
    }
    return INTAKE_SPOOL_OK;
}

/* Sets key to the column's value (text, number or null). */
static void put_col(json_t *obj, const char *key, sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        json_object_set_new(obj, key, json_integer(sqlite3_column_int64(st, col)));
        break;
    case SQLITE_FLOAT:
        json_object_set_new(obj, key, json_real(sqlite3_column_double(st, col)));
        break;
    case SQLITE_NULL:
        json_object_set_new(obj, key, json_null());
        break;
    default:
        json_object_set_new(obj, key, json_string(col_or(st, col, "")));
    }
}

/* Appends the row's columns (named by the statement) to obj; json text columns parsed. */
static void put_row(json_t *obj, sqlite3_stmt *st)
{
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        const char *name = sqlite3_column_name(st, i);
        size_t n = strlen(name);
        if (n > 5 && !strcmp(name + n - 5, "_json")) {
            json_t *v = json_loads(col_or(st, i, "null"), 0, NULL);
            json_object_set_new(obj, name, v ? v : json_null());
        } else {
            put_col(obj, name, st, i);
        }
    }
}

static int show_item(intake_spool *sp, int64_t item, bool with_text, json_t *out)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT record_id, source, source_id, channel, received_at,"
             " state, attempts, last_error, category, flags%s FROM items i WHERE id=?",
             with_text ? ", item_json, (SELECT record_json FROM records WHERE item=i.id)"
                         " AS record_json" : "");
    sqlite3_stmt *st;
    int rc = prep(sp, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, item);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        put_row(out, st);
    sqlite3_finalize(st);
    return s == SQLITE_ROW ? INTAKE_SPOOL_OK : fail(sp, s, "show");
}

static int show_deliveries(intake_spool *sp, int64_t item, json_t *out)
{
    sqlite3_stmt *st;
    int rc = prep(sp, "SELECT sink, state, attempts, status, next_try, last_error, response,"
                      " case_id FROM deliveries WHERE item=? ORDER BY sink", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, item);
    json_t *arr = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *d = json_object();
        put_row(d, st);
        json_array_append_new(arr, d);
    }
    sqlite3_finalize(st);
    json_object_set_new(out, "deliveries", arr);
    return s == SQLITE_DONE ? INTAKE_SPOOL_OK : fail(sp, s, "show deliveries");
}

int intake_spool_show(intake_spool *sp, const char *id, bool with_text, json_t **out)
{
    *out = NULL;
    int64_t item;
    int rc = find_item(sp, id, &item);
    if (rc || item == 0)
        return rc;
    json_t *obj = json_object();
    if (!obj)
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "out of memory");
    rc = show_item(sp, item, with_text, obj);
    if (!rc)
        rc = show_deliveries(sp, item, obj);
    if (rc)
        json_decref(obj);
    else
        *out = obj;
    return rc;
}

/* Runs an UPDATE whose ?1 is the item id (unbound, so NULL, for "every item") and whose
 * ?2, when present, is now; adds the rows changed to *changed. */
static int update_count(intake_spool *sp, const char *sql, int64_t item, long *changed)
{
    sqlite3_stmt *st;
    int rc = prep(sp, sql, &st);
    if (rc)
        return rc;
    if (item)
        sqlite3_bind_int64(st, 1, item);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_double(st, 2, intake_time_now());
    rc = step_done(sp, st, "retry");
    if (!rc)
        *changed += sqlite3_changes(sp->db);
    return rc;
}

int intake_spool_retry(intake_spool *sp, const char *id, long *changed)
{
    *changed = 0;
    int64_t item = 0;
    int rc = id ? find_item(sp, id, &item) : INTAKE_SPOOL_OK;
    if (rc)
        return rc;
    if (id && item == 0)
        return fail_msg(sp, INTAKE_SPOOL_FATAL, "no item has that record id");
    rc = begin(sp);
    if (!rc)
        rc = update_count(sp, "UPDATE deliveries SET state='pending', attempts=0, next_try=?2"
                              " WHERE state='dead' AND (?1 IS NULL OR item=?1)", item, changed);
    if (!rc && item)
        rc = update_count(sp, "UPDATE items SET state='new', attempts=0, last_error=NULL"
                              " WHERE state='quarantined' AND id=?1", item, changed);
    return finish(sp, rc);
}

/* Items whose deliveries all finished before ?1 (Unix seconds). */
#define PURGEABLE \
    "SELECT i.id FROM items i WHERE i.state='processed' AND NOT EXISTS" \
    " (SELECT 1 FROM deliveries d WHERE d.item=i.id AND d.state != 'done') AND COALESCE(" \
    " (SELECT MAX(updated_unix) FROM deliveries d WHERE d.item=i.id)," \
    " (SELECT created_unix FROM records r WHERE r.item=i.id), i.received_unix) < ?1"

/* Runs one purge step bound to the cutoff (?1) and now (?2). */
static int purge_step(intake_spool *sp, const char *sql, double cutoff, long *changed)
{
    sqlite3_stmt *st;
    int rc = prep(sp, sql, &st);
    if (rc)
        return rc;
    sqlite3_bind_double(st, 1, cutoff);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_double(st, 2, intake_time_now());
    rc = step_done(sp, st, "purge");
    if (!rc && changed)
        *changed = sqlite3_changes(sp->db);
    return rc;
}

/* Sink marks stay at least this long, whatever the retention: the longest window a sink
 * remembers with them (smtp's repeat_window is at most 30 days). */
#define MARK_KEEP_DAYS 30.0

int intake_spool_purge(intake_spool *sp, double now, double days, long *purged)
{
    *purged = 0;
    double cutoff = now - days * 86400.0;
    int rc = begin(sp);
    if (!rc)
        rc = purge_step(sp, "INSERT OR REPLACE INTO tombstones(source, source_id, record_id,"
                            " purged_unix) SELECT source, source_id, record_id, ?2 FROM items"
                            " WHERE id IN (" PURGEABLE ")", cutoff, NULL);
    if (!rc)
        rc = purge_step(sp, "DELETE FROM items WHERE id IN (" PURGEABLE ")", cutoff, purged);
    if (!rc)
        rc = purge_step(sp, "DELETE FROM sink_marks WHERE at_unix < ?1",
                        now - (days > MARK_KEEP_DAYS ? days : MARK_KEEP_DAYS) * 86400.0, NULL);
    return finish(sp, rc);
}

int intake_spool_unclaim(intake_spool *sp, int64_t item)
{
    sqlite3_stmt *st;
    int rc = begin(sp);
    if (!rc)
        rc = prep(sp, "UPDATE items SET attempts = MAX(attempts - 1, 0)"
                      " WHERE id=? AND state='new'", &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, item);
        rc = step_done(sp, st, "unclaim");
    }
    return finish(sp, rc);
}

int intake_spool_writable(intake_spool *sp)
{
    sqlite3_busy_timeout(sp->db, PROBE_TIMEOUT_MS); /* a probe must answer quickly */
    int rc = begin(sp);
    if (!rc)
        rc = exec(sp, "UPDATE meta SET value=value WHERE key='created'");
    rollback(sp);
    sqlite3_busy_timeout(sp->db, BUSY_TIMEOUT_MS);
    return rc;
}
