/*
 * The imap source: one IMAP account, one or more mailboxes, with libetpan.
 *
 * - Catch-up by UID: each mailbox's cursor is "UIDVALIDITY:LAST-UID", stored in the spool
 *   in the same transaction as the items it covers. A poll fetches UID > LAST (sizes
 *   first, then the bodies with BODY.PEEK[] in batches), so nothing is skipped after
 *   downtime and nothing depends on \Seen. A new UIDVALIDITY means a full re-scan; the
 *   items' source_id is the Message-ID (or the message's SHA-256), so the re-scan adds no
 *   duplicates.
 * - A message over max_message_size is fetched as its header only and recorded as
 *   oversize, never dropped.
 * - Only after the commit: \Seen, or a move (MOVE, else COPY + \Deleted + UID EXPUNGE of
 *   those UIDs with UIDPLUS; never a bare EXPUNGE).
 * - IDLE when offered (re-entered every idle_restart seconds), else polling; reconnects
 *   with capped, jittered backoff. A mailbox that fails shows as part "SOURCE/MAILBOX"
 *   in /readyz and /metrics, and the others go on.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libetpan/libetpan.h>
#include <openssl/sha.h>

#include "imap_stream.h"
#include "intake/log.h"
#include "intake/mime.h"
#include "intake/source.h"
#include "intake/timefmt.h"
#include "oauth2.h"

#define BATCH_BYTES (32L * 1024 * 1024) /* bodies fetched in one round trip, at most */
#define HEADER_MAX (256 * 1024)         /* header bytes fetched of an oversize message */
#define FETCH_INCOMPLETE 10000          /* not a MAILIMAP code: a message came without body */

static const struct intake_option options[] = {
    {"host", INTAKE_OPT_STRING, NULL, "the IMAP server's host name", NULL, 0, 0, true, false},
    {"port", INTAKE_OPT_INT, "0", "its port; 0: 993 with tls = implicit, else 143", NULL, 0,
     65535, false, false},
    {"tls", INTAKE_OPT_ENUM, "implicit",
     "implicit (IMAPS), starttls, or none (allowed only for a loopback host)",
     "implicit|starttls|none", 0, 0, false, false},
    {"tls_verify", INTAKE_OPT_BOOL, "yes",
     "verify the server's certificate and host name (turn off only for a test server)", NULL,
     0, 0, false, false},
    {"ca_file", INTAKE_OPT_PATH, NULL, "PEM file of CAs to trust instead of the system's",
     NULL, 0, 0, false, false},
    {"auth", INTAKE_OPT_ENUM, "password",
     "password (LOGIN) or xoauth2 (a token from token_url, e.g. Microsoft 365)",
     "password|xoauth2", 0, 0, false, false},
    {"username", INTAKE_OPT_STRING, NULL, "the mailbox account", NULL, 0, 0, true, false},
    {"password", INTAKE_OPT_STRING, NULL, "its password (auth = password); use ${ENV}", NULL,
     0, 0, false, true},
    {"token_url", INTAKE_OPT_STRING, NULL,
     "OAuth2 token endpoint (auth = xoauth2), e.g. "
     "https://login.microsoftonline.com/TENANT/oauth2/v2.0/token",
     NULL, 0, 0, false, false},
    {"client_id", INTAKE_OPT_STRING, NULL, "OAuth2 application (client) id", NULL, 0, 0,
     false, false},
    {"client_secret", INTAKE_OPT_STRING, NULL, "OAuth2 client secret; use ${ENV}", NULL, 0, 0,
     false, true},
    {"scope", INTAKE_OPT_STRING, "https://outlook.office365.com/.default", "OAuth2 scope",
     NULL, 0, 0, false, false},
    {"mailbox", INTAKE_OPT_STRING, "INBOX",
     "mailboxes to take in, comma-separated (IDLE watches the first)", NULL, 0, 0, false,
     false},
    {"after", INTAKE_OPT_STRING, "seen",
     "after the commit: seen (set \\Seen), move:FOLDER (created when missing), or keep", NULL,
     0, 0, false, false},
    {"idle", INTAKE_OPT_BOOL, "yes", "use IDLE when the server offers it, else poll", NULL, 0,
     0, false, false},
    {"idle_restart", INTAKE_OPT_INT, "1740",
     "seconds before IDLE is re-entered (servers drop it after 30 minutes)", NULL, 10, 1740,
     false, false},
    {"max_message_size", INTAKE_OPT_INT, "26214400",
     "larger messages are recorded from their header only, marked oversize", NULL, 1024,
     268435456L, false, false},
    {"batch_size", INTAKE_OPT_INT, "50", "messages fetched and committed together", NULL, 1,
     1000, false, false},
    {"timeout", INTAKE_OPT_INT, "60",
     "seconds any one network wait (connect, TLS, a command's answer) may take", NULL, 1,
     3600, false, false},
    {"reconnect_max_delay", INTAKE_OPT_INT, "300",
     "seconds, the cap of the backoff between reconnections", NULL, 1, 3600, false, false},
    {0},
};

struct mbox {
    char *name;       /* owned */
    int part;         /* status part "SOURCE/NAME" */
    uint32_t uidnext; /* UIDNEXT seen by the last sync (0: unknown) */
};

/* One message to fetch. */
struct msgref {
    uint32_t uid;
    uint32_t size;
};

struct imap_src {
    intake_source_ctx *ctx;
    const struct intake_section *sec;
    struct imap_link_opts link;
    char *ca_file; /* owned */
    const char *user, *password;
    oauth2_client *oauth; /* owned, NULL for password */
    struct oauth2_opts oauth_opts;
    struct mbox *mb; /* owned */
    size_t nmb;
    const char *after; /* "seen", "keep", or the folder after "move:" */
    bool move;
    bool idle;
    double poll, idle_restart;
    long max_size, batch;
    struct intake_mime_opts mime;
    mailimap *imap; /* owned; NULL when disconnected */
    bool folder_made;
    char run[32]; /* this process's run id, for the try marks */
    bool retry_soon; /* a mailbox failed in the last round: wait no longer than a poll */
};

/* ---- configuration ---- */

static bool is_loopback(const char *host)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1)
        return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a);
    return strcmp(host, "localhost") == 0;
}

/* The first problem of the section beyond the option table, or NULL. */
static const char *section_problem(const struct intake_section *sec)
{
    const char *host = intake_config_get(sec, "host");
    const char *after = intake_config_get(sec, "after");
    bool xo = !strcmp(intake_config_get(sec, "auth"), "xoauth2");
    if (!strcmp(intake_config_get(sec, "tls"), "none") && host && !is_loopback(host))
        return "tls = none is allowed only for a loopback host";
    if (strcmp(after, "seen") && strcmp(after, "keep") && (strncmp(after, "move:", 5) || !after[5]))
        return "after must be seen, keep or move:FOLDER";
    if (xo && (!intake_config_get(sec, "token_url") || !intake_config_get(sec, "client_id") ||
               !intake_config_get(sec, "client_secret")))
        return "auth = xoauth2 needs token_url, client_id and client_secret";
    if (!xo && !intake_config_get(sec, "password"))
        return "auth = password needs password";
    return NULL;
}

static int imap_check(const intake_config *cfg, const struct intake_section *sec,
                      intake_diag *diag)
{
    const char *problem = section_problem(sec);
    if (!problem)
        return 0;
    intake_diag_add(diag, "%s:%d: source \"%s\": %s", cfg->path, sec->line, sec->name,
                    problem);
    return -1;
}

/* Splits the mailbox list. Returns 0, or -1 when out of memory. */
static int mailboxes(struct imap_src *s, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t n = strlen(t);
        while (n && t[n - 1] == ' ')
            t[--n] = '\0';
        struct mbox *m = n ? realloc(s->mb, (s->nmb + 1) * sizeof *m) : s->mb;
        if (n && !m)
            break;
        s->mb = m;
        if (n) {
            s->mb[s->nmb] = (struct mbox){strdup(t), -1, 0};
            if (s->mb[s->nmb].name)
                s->nmb++;
        }
    }
    free(copy);
    return s->nmb ? 0 : -1;
}

static bool src_stopping(void *ud)
{
    return intake_source_stopping(ud);
}

static void src_free(struct imap_src *s)
{
    if (s->imap)
        mailimap_free(s->imap);
    for (size_t i = 0; i < s->nmb; i++)
        free(s->mb[i].name);
    free(s->mb);
    free(s->ca_file);
    oauth2_client_free(s->oauth);
}

static int src_init(struct imap_src *s, intake_source_ctx *ctx)
{
    const struct intake_section *sec = intake_source_section(ctx);
    const char *tls = intake_config_get(sec, "tls");
    s->ctx = ctx;
    s->sec = sec;
    snprintf(s->run, sizeof s->run, "%lx.%x", (unsigned long)(intake_time_now() * 1000),
             (unsigned)getpid());
    s->ca_file = intake_config_get_path(intake_source_config(ctx), sec, "ca_file");
    s->link = (struct imap_link_opts){
        intake_config_get(sec, "host"), (unsigned)intake_config_get_int(sec, "port", 0),
        !strcmp(tls, "implicit") ? IMAP_TLS_IMPLICIT
        : !strcmp(tls, "starttls") ? IMAP_TLS_STARTTLS : IMAP_TLS_NONE,
        s->ca_file, intake_config_get_bool(sec, "tls_verify", true),
        (int)intake_config_get_int(sec, "timeout", 60), src_stopping, ctx};
    if (!s->link.port)
        s->link.port = s->link.tls == IMAP_TLS_IMPLICIT ? 993 : 143;
    s->user = intake_config_get(sec, "username");
    s->password = intake_config_get(sec, "password");
    const char *after = intake_config_get(sec, "after");
    s->move = !strncmp(after, "move:", 5);
    s->after = s->move ? after + 5 : after;
    s->idle = intake_config_get_bool(sec, "idle", true);
    s->poll = (double)intake_config_get_int(sec, "poll_interval", 60);
    s->idle_restart = (double)intake_config_get_int(sec, "idle_restart", 1740);
    s->max_size = intake_config_get_int(sec, "max_message_size", 26214400);
    s->batch = intake_config_get_int(sec, "batch_size", 50);
    s->mime = (struct intake_mime_opts)INTAKE_MIME_OPTS_DEFAULT;
    if (!strcmp(intake_config_get(sec, "auth"), "xoauth2")) {
        s->oauth_opts = (struct oauth2_opts){
            intake_config_get(sec, "token_url"), intake_config_get(sec, "client_id"),
            intake_config_get(sec, "client_secret"), intake_config_get(sec, "scope"),
            s->ca_file, s->link.verify, s->link.timeout};
        s->oauth = oauth2_client_new(&s->oauth_opts);
        if (!s->oauth)
            return -1;
    }
    if (mailboxes(s, intake_config_get(sec, "mailbox")) < 0)
        return -1;
    for (size_t i = 0; i < s->nmb; i++)
        s->mb[i].part = intake_source_part_add(ctx, s->mb[i].name);
    return 0;
}

/* ---- session ---- */

static void disconnect(struct imap_src *s)
{
    if (!s->imap)
        return;
    if (s->imap->imap_stream && !intake_source_stopping(s->ctx))
        mailimap_logout(s->imap);
    mailimap_free(s->imap);
    s->imap = NULL;
}

/* Logs in. Returns 0; 1 when the server or the token endpoint refused the credentials
 * (state needs_reauth); -1 on other failures. */
static int login(struct imap_src *s, char *err, size_t errlen)
{
    int r;
    if (s->oauth) {
        bool refused;
        const char *tok = oauth2_token(s->oauth, intake_time_now(), &refused, err, errlen);
        if (!tok)
            return refused ? 1 : -1;
        imap_link_capabilities(s->imap);
        if (!mailimap_has_xoauth2(s->imap)) {
            snprintf(err, errlen, "the server does not offer AUTH=XOAUTH2");
            return -1;
        }
        r = mailimap_oauth2_authenticate(s->imap, s->user, tok);
        if (r != MAILIMAP_NO_ERROR)
            oauth2_forget(s->oauth);
    } else {
        r = mailimap_login(s->imap, s->user, s->password);
    }
    if (r == MAILIMAP_NO_ERROR) {
        imap_link_capabilities(s->imap);
        return 0;
    }
    bool refused = r == MAILIMAP_ERROR_LOGIN || r == MAILIMAP_ERROR_EXTENSION;
    snprintf(err, errlen, refused ? "the server refused the login"
                                  : "the connection failed during login");
    return refused ? 1 : -1;
}

/* Connects and logs in. Returns 0, 1 (credentials refused) or -1. */
static int connect_session(struct imap_src *s, char *err, size_t errlen)
{
    s->imap = mailimap_new(0, NULL);
    if (!s->imap) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = imap_link_connect(s->imap, &s->link, err, errlen);
    if (rc == 0 && s->imap->imap_state == MAILIMAP_STATE_NON_AUTHENTICATED)
        rc = login(s, err, errlen);
    if (rc != 0) {
        mailimap_free(s->imap);
        s->imap = NULL;
    }
    return rc;
}

/* ---- fetching ---- */

/* The msg_att's UID, size and body section (any may be absent). */
static void att_values(struct mailimap_msg_att *m, uint32_t *uid, uint32_t *size,
                       const char **body, size_t *len)
{
    for (clistiter *it = clist_begin(m->att_list); it; it = clist_next(it)) {
        struct mailimap_msg_att_item *i = clist_content(it);
        if (i->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
            continue;
        struct mailimap_msg_att_static *st = i->att_data.att_static;
        if (st->att_type == MAILIMAP_MSG_ATT_UID)
            *uid = st->att_data.att_uid;
        else if (st->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE)
            *size = st->att_data.att_rfc822_size;
        else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION && body) {
            *body = st->att_data.att_body_section->sec_body_part;
            *len = st->att_data.att_body_section->sec_length;
        }
    }
}

static int cmp_uid(const void *a, const void *b)
{
    uint32_t x = ((const struct msgref *)a)->uid, y = ((const struct msgref *)b)->uid;
    return x < y ? -1 : x > y;
}

/* Lists the messages with UID > last, ascending, with their sizes. Returns a MAILIMAP
 * code; *out (owned by the caller) may be NULL when there are none. */
static int list_new(mailimap *imap, uint32_t last, struct msgref **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (last == UINT32_MAX) /* the highest UID there can be: nothing can follow it */
        return MAILIMAP_NO_ERROR;
    struct mailimap_set *set = mailimap_set_new_interval(last + 1, 0);
    struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
    clist *res = NULL;
    int r = MAILIMAP_ERROR_MEMORY;
    if (set && ft && !mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid()) &&
        !mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_rfc822_size()))
        r = mailimap_uid_fetch(imap, set, ft, &res);
    if (r == MAILIMAP_NO_ERROR && res && clist_count(res) > 0) {
        *out = calloc((size_t)clist_count(res), sizeof **out);
        r = *out ? r : MAILIMAP_ERROR_MEMORY;
        for (clistiter *it = clist_begin(res); *out && it; it = clist_next(it)) {
            struct msgref m = {0, 0};
            att_values(clist_content(it), &m.uid, &m.size, NULL, NULL);
            if (m.uid > last) /* "last+1:*" also answers the highest UID, even if <= last */
                (*out)[(*n)++] = m;
        }
        if (*n > 1)
            qsort(*out, *n, sizeof **out, cmp_uid);
    }
    if (res)
        mailimap_fetch_list_free(res);
    if (ft)
        mailimap_fetch_type_free(ft);
    if (set)
        mailimap_set_free(set);
    return r;
}

/* An item that carries what is known of a message the parser could not read at all. */
static json_t *unreadable_item(const char *raw, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char id[8 + 2 * SHA256_DIGEST_LENGTH + 1] = "sha256:";
    SHA256((const unsigned char *)raw, len, md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(id + 7 + 2 * i, 3, "%02x", md[i]);
    return json_pack("{s:s, s:s, s:s, s:b, s:{s:I, s:b, s:[s]}}", "id", id, "channel", "email",
                     "body", "", "public", 0, "email", "size", (json_int_t)len, "oversize", 0,
                     "problems", "unparseable");
}

/* Makes the item of one fetched message (or header, when oversize). NULL only when out
 * of memory. */
static json_t *make_item(struct imap_src *s, const struct mbox *mb, uint32_t uidvalidity,
                         const struct msgref *m, const char *raw, size_t len)
{
    char err[128];
    bool oversize = (long)m->size > s->max_size;
    json_t *it = oversize ? intake_mime_parse_oversize(raw, len, m->size, &s->mime, err,
                                                       sizeof err)
                          : intake_mime_parse(raw, len, &s->mime, err, sizeof err);
    if (!it)
        it = unreadable_item(raw, len);
    if (it) {
        json_object_set_new(it, "channel", json_string("email"));
        json_object_set_new(it, "imap", json_pack("{s:s, s:I, s:I}", "mailbox", mb->name,
                                                  "uidvalidity", (json_int_t)uidvalidity,
                                                  "uid", (json_int_t)m->uid));
        if (!json_is_string(json_object_get(it, "body")))
            json_object_set_new(it, "body", json_string(""));
    }
    return it;
}

/* Fetches the bodies (or, for oversize messages, the first HEADER_MAX bytes of the
 * header) of msgs[0..n) in one UID FETCH and makes their items into items[] (in msgs
 * order). A message the server answered for without a body counts in *nobody (one it
 * did not answer for is gone: expunged meanwhile). Returns a MAILIMAP code. */
static int fetch_items(struct imap_src *s, const struct mbox *mb, uint32_t uidvalidity,
                       const struct msgref *msgs, size_t n, bool headers, json_t **items,
                       size_t *nobody)
{
    struct mailimap_set *set = mailimap_set_new_empty();
    struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
    struct mailimap_section *sec = headers ? mailimap_section_new_header()
                                           : mailimap_section_new(NULL);
    struct mailimap_fetch_att *body =
        !sec ? NULL
        : headers ? mailimap_fetch_att_new_body_peek_section_partial(sec, 0, HEADER_MAX)
                  : mailimap_fetch_att_new_body_peek_section(sec);
    if (sec && !body)
        mailimap_section_free(sec); /* else the fetch att owns it */
    clist *res = NULL;
    int r = MAILIMAP_ERROR_MEMORY;
    bool ok = set && ft && body;
    for (size_t i = 0; ok && i < n; i++)
        ok = mailimap_set_add_single(set, msgs[i].uid) == MAILIMAP_NO_ERROR;
    if (ok && !mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid()) &&
        !mailimap_fetch_type_new_fetch_att_list_add(ft, body)) {
        body = NULL; /* the fetch type owns it now */
        r = mailimap_uid_fetch(s->imap, set, ft, &res);
    }
    for (clistiter *it = res && r == MAILIMAP_NO_ERROR ? clist_begin(res) : NULL; it;
         it = clist_next(it)) {
        uint32_t uid = 0, size = 0;
        const char *raw = NULL;
        size_t len = 0;
        att_values(clist_content(it), &uid, &size, &raw, &len);
        for (size_t i = 0; i < n; i++) {
            if (msgs[i].uid != uid || items[i])
                continue;
            if (!raw)
                (*nobody)++;
            else if (!(items[i] = make_item(s, mb, uidvalidity, &msgs[i], raw, len)))
                r = MAILIMAP_ERROR_MEMORY;
        }
    }
    if (res)
        mailimap_fetch_list_free(res);
    if (body)
        mailimap_fetch_att_free(body);
    if (ft)
        mailimap_fetch_type_free(ft);
    if (set)
        mailimap_set_free(set);
    return r;
}

/* ---- after the commit ---- */

static struct mailimap_set *uid_set(const struct msgref *m, size_t n)
{
    struct mailimap_set *set = mailimap_set_new_empty();
    for (size_t i = 0; set && i < n; i++)
        if (mailimap_set_add_single(set, m[i].uid) != MAILIMAP_NO_ERROR) {
            mailimap_set_free(set);
            return NULL;
        }
    return set;
}

/* Adds one flag (silently) to the set. Returns a MAILIMAP code. */
static int add_flag(mailimap *imap, struct mailimap_set *set, struct mailimap_flag *flag)
{
    struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
    if (!fl || !flag || mailimap_flag_list_add(fl, flag) != MAILIMAP_NO_ERROR) {
        if (fl)
            mailimap_flag_list_free(fl);
        return MAILIMAP_ERROR_MEMORY;
    }
    struct mailimap_store_att_flags *sf = mailimap_store_att_flags_new_add_flags_silent(fl);
    if (!sf) {
        mailimap_flag_list_free(fl);
        return MAILIMAP_ERROR_MEMORY;
    }
    int r = mailimap_uid_store(imap, set, sf);
    mailimap_store_att_flags_free(sf);
    return r;
}

/* Moves the set to the `after` folder: MOVE, else COPY + \Deleted + UID EXPUNGE of just
 * these UIDs (UIDPLUS). Without either, the messages are only marked \Seen: a bare
 * EXPUNGE would also remove what other clients flagged. */
static int move_set(struct imap_src *s, struct mailimap_set *set)
{
    if (!s->folder_made) {
        mailimap_create(s->imap, s->after); /* "already exists" is fine */
        s->folder_made = true;
    }
    if (mailimap_has_extension(s->imap, "MOVE"))
        return mailimap_uid_move(s->imap, set, s->after);
    if (!mailimap_has_uidplus(s->imap)) {
        intake_log(INTAKE_LOG_WARN, "imap_move_unsupported", "source", s->sec->name, "reason",
                   "the server has neither MOVE nor UIDPLUS: marked seen instead", NULL);
        return add_flag(s->imap, set, mailimap_flag_new_seen());
    }
    int r = mailimap_uid_copy(s->imap, set, s->after);
    if (r == MAILIMAP_NO_ERROR)
        r = add_flag(s->imap, set, mailimap_flag_new_deleted());
    if (r == MAILIMAP_NO_ERROR)
        r = mailimap_uid_expunge(s->imap, set);
    return r;
}

/* Does `after` for committed messages. A failure is logged: the cursor already covers
 * them, so they are not taken in again. Returns a MAILIMAP code. */
static int after_commit(struct imap_src *s, const struct mbox *mb, const struct msgref *m,
                        size_t n)
{
    if (!strcmp(s->after, "keep") || n == 0)
        return MAILIMAP_NO_ERROR;
    struct mailimap_set *set = uid_set(m, n);
    if (!set)
        return MAILIMAP_ERROR_MEMORY;
    int r = s->move ? move_set(s, set) : add_flag(s->imap, set, mailimap_flag_new_seen());
    mailimap_set_free(set);
    if (r != MAILIMAP_NO_ERROR)
        intake_log(INTAKE_LOG_WARN, "imap_after_failed", "source", s->sec->name, "mailbox",
                   mb->name, "reason", s->move ? "move failed" : "setting \\Seen failed", NULL);
    return r;
}

/* ---- one mailbox ---- */

enum sync_rc { SYNC_OK, SYNC_MAILBOX, SYNC_TEMP, SYNC_LINK };

static bool link_lost(int r)
{
    return r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_CONNECTION_REFUSED ||
           r == MAILIMAP_ERROR_FATAL || r == MAILIMAP_ERROR_MEMORY ||
           r == MAILIMAP_ERROR_PARSE;
}

/* Reads the mailbox's cursor "UIDVALIDITY:LAST" into *last (0 when unset or when the
 * UIDVALIDITY differs: a full re-scan). Returns 0 or -1 (spool). */
static int read_cursor(struct imap_src *s, const struct mbox *mb, const char *key,
                       uint32_t uidvalidity, uint32_t *last)
{
    char *v = NULL;
    *last = 0;
    if (intake_source_cursor_get(s->ctx, key, &v) != 0)
        return -1;
    unsigned long long uv = 0, uid = 0;
    if (v && sscanf(v, "%llu:%llu", &uv, &uid) == 2) {
        if (uv == uidvalidity)
            *last = (uint32_t)uid;
        else
            intake_log(INTAKE_LOG_WARN, "imap_uidvalidity_changed", "source", s->sec->name,
                       "mailbox", mb->name, "reason", "full re-scan, duplicates skipped by "
                       "Message-ID", NULL);
    }
    free(v);
    return 0;
}

/* Fetches msgs[0..n) (bodies, or headers for the oversize ones) into items. Returns a
 * MAILIMAP code, or FETCH_INCOMPLETE when the server answered for a message without
 * its body. */
static int fetch_batch(struct imap_src *s, const struct mbox *mb, uint32_t uidvalidity,
                       const struct msgref *msgs, size_t n, json_t **items)
{
    struct msgref *part = malloc(n * sizeof *part);
    size_t *at = malloc(n * sizeof *at), nobody = 0;
    json_t **got = calloc(n, sizeof *got);
    int r = part && at && got ? MAILIMAP_NO_ERROR : MAILIMAP_ERROR_MEMORY;
    for (int big = 0; big < 2 && r == MAILIMAP_NO_ERROR; big++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (((long)msgs[i].size > s->max_size) == big) {
                part[k] = msgs[i];
                at[k++] = i;
            }
        memset(got, 0, n * sizeof *got);
        if (k)
            r = fetch_items(s, mb, uidvalidity, part, k, big, got, &nobody);
        for (size_t j = 0; j < k; j++)
            items[at[j]] = got[j];
    }
    free(part);
    free(at);
    free(got);
    return r == MAILIMAP_NO_ERROR && nobody ? FETCH_INCOMPLETE : r;
}

/* Commits one batch's items with the cursor, then does `after` for exactly the messages
 * committed (a message gone from the server meanwhile has no item). */
static enum sync_rc commit_batch(struct imap_src *s, const struct mbox *mb, const char *key,
                                 uint32_t uidvalidity, const struct msgref *msgs, size_t n,
                                 json_t **items)
{
    json_t **list = malloc(n * sizeof *list);
    struct msgref *done = malloc(n * sizeof *done);
    size_t k = 0;
    for (size_t i = 0; list && done && i < n; i++)
        if (items[i]) {
            done[k] = msgs[i];
            list[k++] = items[i];
        }
    char value[48];
    snprintf(value, sizeof value, "%" PRIu32 ":%" PRIu32, uidvalidity, msgs[n - 1].uid);
    int rc = list && done ? intake_source_submit(s->ctx, list, k, key, value, NULL) : -1;
    free(list);
    if (rc != INTAKE_SPOOL_OK) {
        free(done);
        intake_log(INTAKE_LOG_WARN, "imap_commit_failed", "source", s->sec->name, "mailbox",
                   mb->name, "reason", "the spool did not take the batch; retried later", NULL);
        return SYNC_TEMP;
    }
    int r = after_commit(s, mb, done, k);
    free(done);
    return link_lost(r) ? SYNC_LINK : SYNC_OK;
}

/* Takes in one batch: at most batch_size messages and BATCH_BYTES of bodies (an oversize
 * message counts as the header bytes fetched of it). */
static size_t batch_len(const struct imap_src *s, const struct msgref *m, size_t n)
{
    size_t k = 0;
    long bytes = 0;
    while (k < n && k < (size_t)s->batch) {
        long sz = (long)m[k].size > s->max_size ? HEADER_MAX : (long)m[k].size;
        if (k && bytes + sz > BATCH_BYTES)
            break;
        bytes += sz;
        k++;
    }
    return k;
}

/* ---- messages that fail ----
 * A message that crashes the fetch or the parser would crash the daemon again after
 * every restart, and one the server will not hand over would stop its mailbox. So before
 * each batch a "try" mark records, durably: the UIDs it spans, how many processes died
 * in a batch starting at its first UID, how many times the server refused or garbled it,
 * whether the span is to go one message at a time, and which process wrote it ("-" once
 * the attempt ended in an orderly way). After a restart inside an unfinished span the
 * messages go one at a time; a message that two processes died on, or that failed
 * FETCH_FAILS times, is recorded without its content (problem "poison" or
 * "fetch_failed", with its mailbox and UID), and the messages behind it flow again. */

#define POISON_CRASHES 2
#define FETCH_FAILS 3

struct try_mark {
    uint32_t first, last; /* the span of the last batch begun */
    int crashes, fails;   /* at `first` */
    int solo;             /* go one message at a time up to `last` */
    char run[32];         /* the writer's run id, "-" when ended in order */
};

static void try_key(char *key, size_t len, const struct mbox *mb)
{
    snprintf(key, len, "try:%s", mb->name);
}

/* Reads the mark of the mailbox for this UIDVALIDITY (zero when none). */
static int try_read(struct imap_src *s, const struct mbox *mb, uint32_t uidvalidity,
                    struct try_mark *t)
{
    char key[300], *v = NULL;
    unsigned long long uv = 0, first = 0, last = 0;
    try_key(key, sizeof key, mb);
    memset(t, 0, sizeof *t);
    strcpy(t->run, "-");
    if (intake_source_cursor_get(s->ctx, key, &v) != 0)
        return -1;
    if (v && sscanf(v, "%llu:%llu:%llu:%d:%d:%d:%31s", &uv, &first, &last, &t->crashes,
                    &t->fails, &t->solo, t->run) == 7 && uv == uidvalidity) {
        t->first = (uint32_t)first;
        t->last = (uint32_t)last;
    } else {
        memset(t, 0, sizeof *t);
        strcpy(t->run, "-");
    }
    free(v);
    return 0;
}

static int try_write(struct imap_src *s, const struct mbox *mb, uint32_t uidvalidity,
                     const struct try_mark *t)
{
    char key[300], value[160];
    try_key(key, sizeof key, mb);
    snprintf(value, sizeof value, "%" PRIu32 ":%" PRIu32 ":%" PRIu32 ":%d:%d:%d:%s",
             uidvalidity, t->first, t->last, t->crashes, t->fails, t->solo, t->run);
    return intake_source_cursor_set(s->ctx, key, value) == 0 ? 0 : -1;
}

/* Plans the next batch from msgs[0..n): how many to take (*k), and *bad: NULL, or the
 * problem under which the first is recorded without being fetched. Records the try
 * durably before anything is fetched. Returns 0 or -1 (spool). */
static int try_plan(struct imap_src *s, const struct mbox *mb, uint32_t uidvalidity,
                    const struct msgref *msgs, size_t n, size_t *k, const char **bad)
{
    struct try_mark t;
    if (try_read(s, mb, uidvalidity, &t) < 0)
        return -1;
    uint32_t uid = msgs[0].uid;
    bool same = t.first == uid;
    bool died = strcmp(t.run, "-") != 0 && strcmp(t.run, s->run) != 0;
    bool suspect = t.first && uid <= t.last && (died || t.solo);
    struct try_mark next = {uid, 0, same ? t.crashes + died : 0, same ? t.fails : 0, suspect,
                            ""};
    *k = suspect || next.crashes || next.fails ? 1 : batch_len(s, msgs, n);
    *bad = next.crashes >= POISON_CRASHES ? "poison"
           : next.fails >= FETCH_FAILS    ? "fetch_failed" : NULL;
    next.last = suspect && t.last > msgs[*k - 1].uid ? t.last : msgs[*k - 1].uid;
    snprintf(next.run, sizeof next.run, "%s", s->run);
    return try_write(s, mb, uidvalidity, &next);
}

/* Ends the attempt at the batch starting at `uid` in order (a broken connection, a busy
 * spool, a stop): it is not a crash; `failed` counts a refusal of the message itself. */
static void try_end(struct imap_src *s, const struct mbox *mb, uint32_t uidvalidity,
                    uint32_t uid, bool failed)
{
    struct try_mark t;
    if (try_read(s, mb, uidvalidity, &t) < 0 || t.first != uid)
        return;
    t.fails += failed;
    strcpy(t.run, "-");
    try_write(s, mb, uidvalidity, &t);
}

/* The item of a message recorded without its content: where it is, never what it says. */
static json_t *placeholder_item(const struct imap_src *s, const struct mbox *mb,
                                uint32_t uidvalidity, const struct msgref *m,
                                const char *problem)
{
    char id[400], uid[16];
    snprintf(id, sizeof id, "imap:%s:%" PRIu32 ":%" PRIu32, mb->name, uidvalidity, m->uid);
    snprintf(uid, sizeof uid, "%" PRIu32, m->uid);
    intake_log(INTAKE_LOG_ERROR, "imap_poison_message", "source", s->sec->name, "mailbox",
               mb->name, "uid", uid, "problem", problem, "reason",
               "recorded without its content after repeated failures", NULL);
    return json_pack("{s:s, s:s, s:s, s:b, s:{s:I, s:b, s:[s]}, s:{s:s, s:I, s:I}}", "id", id,
                     "channel", "email", "body", "", "public", 0, "email", "size",
                     (json_int_t)m->size, "oversize", 0, "problems", problem, "imap",
                     "mailbox", mb->name, "uidvalidity", (json_int_t)uidvalidity, "uid",
                     (json_int_t)m->uid);
}

/* A refusal or garbling of the messages themselves (not of the connection's state). */
static bool message_failed(int r)
{
    return r == MAILIMAP_ERROR_UID_FETCH || r == MAILIMAP_ERROR_FETCH ||
           r == MAILIMAP_ERROR_PARSE || r == FETCH_INCOMPLETE;
}

/* What one fetch result means for the sync. */
static enum sync_rc fetch_outcome(int r)
{
    return link_lost(r) ? SYNC_LINK : SYNC_MAILBOX;
}

/* Fetches (or records as a placeholder) and commits one planned batch. */
static enum sync_rc take_batch(struct imap_src *s, const struct mbox *mb, const char *key,
                               uint32_t uidvalidity, const struct msgref *msgs, size_t k,
                               const char *bad)
{
    json_t **items = calloc(k, sizeof *items);
    int r = !items ? MAILIMAP_ERROR_MEMORY
            : bad ? ((items[0] = placeholder_item(s, mb, uidvalidity, &msgs[0], bad))
                         ? MAILIMAP_NO_ERROR : MAILIMAP_ERROR_MEMORY)
                  : fetch_batch(s, mb, uidvalidity, msgs, k, items);
    enum sync_rc rc = r == MAILIMAP_NO_ERROR
                          ? commit_batch(s, mb, key, uidvalidity, msgs, k, items)
                          : fetch_outcome(r);
    for (size_t i = 0; items && i < k; i++)
        json_decref(items[i]);
    free(items);
    if (rc != SYNC_OK)
        try_end(s, mb, uidvalidity, msgs[0].uid, message_failed(r));
    return rc;
}

static enum sync_rc take_new(struct imap_src *s, const struct mbox *mb, const char *key,
                             uint32_t uidvalidity, const struct msgref *msgs, size_t n)
{
    for (size_t done = 0; done < n;) {
        if (intake_source_stopping(s->ctx))
            return SYNC_OK;
        size_t k;
        const char *bad;
        if (try_plan(s, mb, uidvalidity, msgs + done, n - done, &k, &bad) < 0)
            return SYNC_TEMP;
        enum sync_rc rc = take_batch(s, mb, key, uidvalidity, msgs + done, k, bad);
        if (rc != SYNC_OK)
            return rc;
        done += k;
    }
    return SYNC_OK;
}

/* Selects the mailbox and takes in what is new. */
static enum sync_rc sync_mailbox(struct imap_src *s, struct mbox *mb)
{
    int r = mailimap_select(s->imap, mb->name);
    if (r != MAILIMAP_NO_ERROR)
        return link_lost(r) ? SYNC_LINK : SYNC_MAILBOX;
    mb->uidnext = s->imap->imap_selection_info->sel_uidnext;
    uint32_t uidvalidity = s->imap->imap_selection_info->sel_uidvalidity, last;
    char key[300];
    snprintf(key, sizeof key, "mailbox:%s", mb->name);
    if (read_cursor(s, mb, key, uidvalidity, &last) < 0)
        return SYNC_TEMP;
    if (s->imap->imap_selection_info->sel_exists == 0)
        return SYNC_OK;
    struct msgref *msgs;
    size_t n;
    r = list_new(s->imap, last, &msgs, &n);
    enum sync_rc rc = r != MAILIMAP_NO_ERROR ? (link_lost(r) ? SYNC_LINK : SYNC_MAILBOX)
                                             : take_new(s, mb, key, uidvalidity, msgs, n);
    free(msgs);
    return rc;
}

/* Syncs every mailbox; each one's state goes to its part. Returns SYNC_LINK when the
 * connection broke (the caller reconnects), SYNC_TEMP when the spool was busy. */
static enum sync_rc sync_all(struct imap_src *s)
{
    enum sync_rc worst = SYNC_OK;
    s->retry_soon = false;
    for (size_t i = 0; i < s->nmb && !intake_source_stopping(s->ctx); i++) {
        enum sync_rc rc = sync_mailbox(s, &s->mb[i]);
        if (rc == SYNC_LINK)
            return rc;
        if (rc == SYNC_MAILBOX)
            s->retry_soon = true;
        intake_source_part_state(s->ctx, s->mb[i].part, rc == SYNC_OK ? "ok" : "error",
                                 rc == SYNC_MAILBOX ? "the server refused a command on "
                                                      "this mailbox"
                                 : rc == SYNC_TEMP ? "the spool is busy; retried" : NULL);
        if (rc == SYNC_TEMP)
            worst = rc;
    }
    return worst;
}

/* ---- waiting ---- */

/* IDLE on the first mailbox until the server speaks or `seconds` pass. Mail that came
 * after the last sync (UIDNEXT moved) skips the wait; a mailbox or an IDLE the server
 * refuses falls back to a plain sleep. Returns 0, or -1 when the connection broke. */
static int idle_wait(struct imap_src *s, double seconds)
{
    struct mbox *mb = &s->mb[0];
    int r = mailimap_select(s->imap, mb->name);
    if (r == MAILIMAP_NO_ERROR) {
        uint32_t next = s->imap->imap_selection_info->sel_uidnext;
        if (next && mb->uidnext && next != mb->uidnext)
            return 0;
        r = mailimap_idle(s->imap);
    }
    if (r != MAILIMAP_NO_ERROR) {
        if (link_lost(r))
            return -1;
        intake_source_sleep(s->ctx, s->poll);
        return 0;
    }
    if (imap_link_wait(s->imap, seconds) < 0)
        return -1;
    return mailimap_idle_done(s->imap) == MAILIMAP_NO_ERROR ? 0 : -1;
}

/* Waits for the next round: IDLE when possible (capped at poll_interval when several
 * mailboxes are watched or one failed), else sleep. Returns -1 when the connection broke. */
static int wait_round(struct imap_src *s)
{
    if (s->idle && mailimap_has_idle(s->imap)) {
        bool short_wait = (s->nmb > 1 || s->retry_soon) && s->poll < s->idle_restart;
        double t = short_wait ? s->poll : s->idle_restart;
        return idle_wait(s, t);
    }
    intake_source_sleep(s->ctx, s->poll);
    return 0;
}

/* ---- the source's thread ---- */

static double backoff(int failures, double cap, unsigned *seed)
{
    double d = 1.0;
    for (int i = 0; i < failures && d < cap; i++)
        d *= 2;
    d = d < cap ? d : cap;
    return d / 2 + d / 2 * ((double)rand_r(seed) / RAND_MAX);
}

/* Connects; after a failure waits (capped, jittered backoff) and returns false. Returns
 * true when a session is up. */
static bool ensure_session(struct imap_src *s, int *failures, unsigned *seed)
{
    if (s->imap)
        return true;
    char err[256] = "";
    int rc = connect_session(s, err, sizeof err);
    if (rc == 0) {
        intake_source_state(s->ctx, "ok", NULL);
        return true;
    }
    intake_source_state(s->ctx, rc == 1 ? "needs_reauth" : "error", err);
    intake_log(rc == 1 ? INTAKE_LOG_ERROR : INTAKE_LOG_WARN,
               rc == 1 ? "imap_needs_reauth" : "imap_connect_failed", "source", s->sec->name,
               "reason", err, NULL);
    double cap = (double)intake_config_get_int(s->sec, "reconnect_max_delay", 300);
    intake_source_sleep(s->ctx, backoff((*failures)++, cap, seed));
    return false;
}

static int imap_run(intake_source_ctx *ctx)
{
    struct imap_src s;
    memset(&s, 0, sizeof s);
    if (src_init(&s, ctx) < 0) {
        src_free(&s);
        intake_source_state(ctx, "error", "out of memory");
        return -1;
    }
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&s;
    double cap = (double)intake_config_get_int(s.sec, "reconnect_max_delay", 300);
    int failures = 0; /* rounds in a row that did not complete; reset by one that did */
    while (!intake_source_stopping(ctx)) {
        if (!ensure_session(&s, &failures, &seed))
            continue;
        enum sync_rc rc = sync_all(&s);
        if (rc != SYNC_LINK)
            intake_source_polled(ctx);
        if (rc == SYNC_OK)
            failures = 0;
        if (rc == SYNC_TEMP)
            intake_source_sleep(ctx, backoff(failures++, s.poll, &seed));
        if (rc == SYNC_LINK || (rc == SYNC_OK && wait_round(&s) < 0)) {
            if (!intake_source_stopping(ctx))
                intake_source_state(ctx, "error", "the connection to the server broke");
            disconnect(&s);
            intake_source_sleep(ctx, backoff(failures++, cap, &seed));
        }
    }
    disconnect(&s);
    src_free(&s);
    return 0;
}

const struct intake_source_type intake_source_imap = {
    "imap", "an IMAP mailbox (libetpan): UID catch-up, IDLE, seen or move after commit",
    options, imap_check, imap_run, NULL,
};
