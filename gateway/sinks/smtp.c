/*
 * The mail sink (type "smtp", libESMTP). Two modes:
 *  - acknowledge: a plain-text acknowledgement from a template to the resident who
 *    e-mailed, for the categories configured, unless a suppression rule says no (see
 *    README.md beside this file); In-Reply-To/References thread it under their message,
 *    Auto-Submitted: auto-replied marks it as automatic.
 *  - notify: a short note to a team address for records carrying given flags (urgent,
 *    safeguarding), holding the record id, category, flags and route only.
 * One SMTP session per delivery. STARTTLS is required unless `tls = none` (loopback
 * only); the certificate chain and host name are checked with the sink's own SSL_CTX
 * (OpenSSL verifies during the handshake; libESMTP's own certificate events are accepted
 * only when our check passed). Success is judged from the MAIL, RCPT and DATA status
 * codes, never from the session alone: 2xx delivered, 4xx retry, 5xx dead.
 * No printing; errors carry codes and reasons, never addresses or message text.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h> /* before libesmtp.h, which declares smtp_starttls_set_ctx only then */
#include <openssl/x509v3.h>
#include <auth-client.h>
#include <jansson.h>
#include <libesmtp.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "intake/calendar.h"
#include "intake/classifier.h"
#include "intake/sink.h"
#include "intake/timefmt.h"
#include "smtp_compose.h"

#define DEFAULT_SUPPRESS \
    "^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?)([+._-][^@]*)?@"
#define MARK_PREFIX "ack\n"
#define SENDER_PREFIX "acks\n"
#define SENDER_PERIOD 86400.0

static const struct intake_option smtp_options[] = {
    {.name = "server", .type = INTAKE_OPT_STRING, .required = true,
     .description = "the submission server, host:port (port 587 when omitted)"},
    {.name = "tls", .type = INTAKE_OPT_ENUM, .def = "starttls", .choices = "starttls|none",
     .description = "starttls (required: no mail without it) or none (only for a loopback "
                    "server)"},
    {.name = "from", .type = INTAKE_OPT_STRING, .required = true,
     .description = "the sender address (envelope and From:)"},
    {.name = "from_name", .type = INTAKE_OPT_STRING,
     .description = "display name in From:, e.g. Riverside Homes Customer Feedback"},
    {.name = "reply_to", .type = INTAKE_OPT_STRING,
     .description = "Reply-To: address (default none: replies go to from)"},
    {.name = "username", .type = INTAKE_OPT_STRING,
     .description = "AUTH (PLAIN or LOGIN) user name; unset: no AUTH"},
    {.name = "password", .type = INTAKE_OPT_STRING, .secret = true,
     .description = "AUTH password; write ${ENV_NAME}"},
    {.name = "ca_file", .type = INTAKE_OPT_PATH,
     .description = "PEM file of CA certificates to trust instead of the system's"},
    {.name = "tls_verify", .type = INTAKE_OPT_BOOL, .def = "yes",
     .description = "check the server's certificate and name (turn off only for a test)"},
    {.name = "mode", .type = INTAKE_OPT_ENUM, .def = "acknowledge",
     .choices = "acknowledge|notify",
     .description = "acknowledge: the resident who e-mailed; notify: a team address "
                    "(notify_to) for flagged records"},
    {.name = "categories", .type = INTAKE_OPT_STRING, .def = "complaint,mp_enquiry,stage2",
     .description = "acknowledge: categories acknowledged, comma-separated (stage2: "
                    "records with the stage2 flag)"},
    {.name = "template", .type = INTAKE_OPT_PATH,
     .description = "plain-text template (default acknowledgement.txt or notify.txt); "
                    "relative: the config file's folder, then the rules' templates/"},
    {.name = "ombudsman_file", .type = INTAKE_OPT_PATH, .def = "ombudsman.txt",
     .description = "text put in place of {{ombudsman}}: how to reach the Housing "
                    "Ombudsman; looked for like template"},
    {.name = "organisation", .type = INTAKE_OPT_STRING, .def = "Customer Feedback Team",
     .description = "who signs the acknowledgement ({{organisation}})"},
    {.name = "suppress", .type = INTAKE_OPT_STRING, .def = DEFAULT_SUPPRESS,
     .description = "PCRE2 pattern (caseless) of sender addresses never acknowledged"},
    {.name = "own_addresses", .type = INTAKE_OPT_STRING,
     .description = "PCRE2 pattern (caseless) of our own addresses, never acknowledged "
                    "(from and reply_to always are not)"},
    {.name = "suppress_abusive", .type = INTAKE_OPT_BOOL, .def = "yes",
     .description = "do not acknowledge records flagged abusive"},
    {.name = "repeat_window", .type = INTAKE_OPT_INT, .def = "86400", .min = 0,
     .max = 2592000,
     .description = "seconds in which a sender is acknowledged once per thread (0: always)"},
    {.name = "sender_daily_max", .type = INTAKE_OPT_INT, .def = "3", .min = 0, .max = 1000,
     .description = "acknowledge: at most this many acknowledgements to one sender in 24 "
                    "hours, whatever the thread (0: no limit)"},
    {.name = "notify_to", .type = INTAKE_OPT_STRING,
     .description = "notify: the team address"},
    {.name = "notify_flags", .type = INTAKE_OPT_STRING, .def = "urgent,safeguarding",
     .description = "notify: flags that make a record worth a note, comma-separated"},
    {.name = NULL},
};

static const char *const ack_names[] = {"reference", "category_words", "respond_by_words",
                                        "received_words", "ombudsman", "organisation",
                                        NULL};
static const char *const notify_names[] = {"reference", "category", "flags", "route",
                                           "emergency_by", "received_at", NULL};

struct smtp_sink {
    bool notify;                     /* mode */
    char *server, *host;             /* host:port, and the host alone (for the name check) */
    char *from, *from_name, *reply_to, *domain;
    char *username, *password;       /* NULL: no AUTH */
    bool starttls, verify, suppress_abusive;
    unsigned categories;             /* bit per enum intake_category */
    bool ack_stage2;
    uint32_t notify_flags;
    char *notify_to;
    char *tmpl, *ombudsman, *organisation;
    pcre2_code *suppress, *own;      /* own may be NULL */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    long timeout, repeat_window, sender_daily_max;
    SSL_CTX *ssl;
    const struct intake_sink_marks *marks; /* NULL until attached */
    /* per attempt */
    char tls_error[160];
    bool starttls_missing;
    bool auth_pending; /* AUTH written, its final answer not read yet */
    int auth_failed;   /* the server's refusal of AUTH (454, 535, ...), 0 when none */
};

/* ---- once per process ---- */

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void process_init(void)
{
    auth_client_init();
    signal(SIGPIPE, SIG_IGN); /* a server closing mid-write must not kill the daemon */
}

/* ---- settings ---- */

static char *dup_opt(const struct intake_section *sec, const char *key)
{
    const char *v = intake_config_get(sec, key);
    return v && *v ? strdup(v) : NULL;
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
    snprintf(err, errlen, fmt, arg ? arg : "");
}

/* Looks up a comma-separated list of names: categories into *cats (bit per category),
 * flags into *flags. Returns NULL, or the first unknown name (copied into bad[64]). */
static const char *parse_names(const char *list, unsigned *cats, uint32_t *flags,
                               char bad[64])
{
    *cats = 0;
    *flags = 0;
    for (const char *p = list ? list : ""; *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, " ,");
        if (n == 0)
            break;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p);
        int t = intake_target_from_name(name);
        if (t < 0) {
            snprintf(bad, 64, "%s", name);
            return bad;
        }
        if (t < INTAKE_CAT_COUNT)
            *cats |= 1u << t;
        else
            *flags |= 1u << (t - INTAKE_CAT_COUNT);
        p += n;
    }
    return NULL;
}

static pcre2_code *compile(const char *pattern, char *err, size_t errlen, const char *key)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                                   &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errlen, "%s: bad pattern at offset %zu: %s", key, (size_t)off,
                 (const char *)msg);
    }
    return re;
}

/* A template-like file: `key` (or `dflt` when unset), found as the config's templates are
 * (beside the config file, else in the rules' templates/). NULL when out of memory. */
static char *find_file(const intake_config *cfg, const struct intake_section *sec,
                       const char *key, const char *dflt)
{
    const char *raw = intake_config_get(sec, key);
    return intake_config_find_template(cfg, raw && *raw ? raw : dflt);
}

static int load_texts(struct smtp_sink *s, const intake_config *cfg,
                      const struct intake_section *sec, char *err, size_t errlen)
{
    static const char *const none[] = {NULL};
    char *path = find_file(cfg, sec, "template",
                           s->notify ? "notify.txt" : "acknowledgement.txt");
    s->tmpl = path ? smtp_template_load(path, s->notify ? notify_names : ack_names, err,
                                        errlen)
                   : NULL;
    free(path);
    if (!s->tmpl)
        return -1;
    if (s->notify)
        return 0;
    path = find_file(cfg, sec, "ombudsman_file", "ombudsman.txt");
    s->ombudsman = path ? smtp_template_load(path, none, err, errlen) : NULL;
    free(path);
    return s->ombudsman ? 0 : -1;
}

static bool loopback(const char *host)
{
    return !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "::1");
}

/* server "host[:port]": the host alone into s->host. */
static int read_server(struct smtp_sink *s, char *err, size_t errlen)
{
    s->host = strdup(s->server);
    if (!s->host)
        return set_err(err, errlen, "out of memory", NULL), -1;
    char *colon = strchr(s->host, ':');
    if (colon)
        *colon = '\0';
    if (!*s->host || (colon && strspn(colon + 1, "0123456789") != strlen(colon + 1))) {
        set_err(err, errlen, "server: expected host:port", NULL);
        return -1;
    }
    if (!s->starttls && !loopback(s->host)) {
        set_err(err, errlen, "tls = none is only allowed for a loopback server", NULL);
        return -1;
    }
    return 0;
}

static int read_addresses(struct smtp_sink *s, const struct intake_section *sec, char *err,
                          size_t errlen)
{
    s->from = dup_opt(sec, "from");
    s->from_name = dup_opt(sec, "from_name");
    s->reply_to = dup_opt(sec, "reply_to");
    s->notify_to = dup_opt(sec, "notify_to");
    if (!smtp_address_ok(s->from))
        return set_err(err, errlen, "from: not a plain address (local@domain)", NULL), -1;
    if (s->reply_to && !smtp_address_ok(s->reply_to))
        return set_err(err, errlen, "reply_to: not a plain address", NULL), -1;
    if (s->notify && !smtp_address_ok(s->notify_to))
        return set_err(err, errlen, "notify_to: mode = notify needs a plain address", NULL),
               -1;
    s->domain = strdup(strchr(s->from, '@') + 1);
    return s->domain ? 0 : (set_err(err, errlen, "out of memory", NULL), -1);
}

static int read_lists(struct smtp_sink *s, const struct intake_section *sec, char *err,
                      size_t errlen)
{
    unsigned cats;
    uint32_t flags;
    char buf[64];
    const char *bad = parse_names(intake_config_get(sec, "categories"), &cats, &flags, buf);
    if (bad)
        return set_err(err, errlen, "categories: unknown name '%s'", bad), -1;
    s->categories = cats;
    s->ack_stage2 = (flags & (1u << INTAKE_FLAG_STAGE2)) != 0;
    bad = parse_names(intake_config_get(sec, "notify_flags"), &cats, &flags, buf);
    if (bad || cats)
        return set_err(err, errlen, "notify_flags: '%s' is not a flag", bad ? bad : "?"), -1;
    s->notify_flags = flags;
    return 0;
}

static int read_patterns(struct smtp_sink *s, const struct intake_section *sec, char *err,
                         size_t errlen)
{
    const char *own = intake_config_get(sec, "own_addresses");
    s->suppress = compile(intake_config_get(sec, "suppress"), err, errlen, "suppress");
    if (!s->suppress)
        return -1;
    if (own && *own && !(s->own = compile(own, err, errlen, "own_addresses")))
        return -1;
    s->md = pcre2_match_data_create(4, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->md || !s->mctx)
        return set_err(err, errlen, "out of memory", NULL), -1;
    pcre2_set_match_limit(s->mctx, 100000);
    pcre2_set_depth_limit(s->mctx, 1000);
    return 0;
}

static int load_settings(struct smtp_sink *s, const intake_config *cfg,
                         const struct intake_section *sec, char *err, size_t errlen)
{
    s->notify = strcmp(intake_config_get(sec, "mode"), "notify") == 0;
    s->server = dup_opt(sec, "server");
    s->starttls = strcmp(intake_config_get(sec, "tls"), "none") != 0;
    s->verify = intake_config_get_bool(sec, "tls_verify", true);
    s->suppress_abusive = intake_config_get_bool(sec, "suppress_abusive", true);
    s->timeout = intake_config_get_int(sec, "timeout", 30);
    s->repeat_window = intake_config_get_int(sec, "repeat_window", 86400);
    s->sender_daily_max = intake_config_get_int(sec, "sender_daily_max", 3);
    s->username = dup_opt(sec, "username");
    s->password = dup_opt(sec, "password");
    s->organisation = dup_opt(sec, "organisation");
    if (!s->server)
        return set_err(err, errlen, "server is required", NULL), -1;
    if (s->username && !s->password)
        return set_err(err, errlen, "username needs a password", NULL), -1;
    if (read_server(s, err, errlen) || read_addresses(s, sec, err, errlen) ||
        read_lists(s, sec, err, errlen) || read_patterns(s, sec, err, errlen))
        return -1;
    return load_texts(s, cfg, sec, err, errlen);
}

/* ---- TLS: our own SSL_CTX, verifying chain and host name during the handshake ---- */

/* Keeps the first verification failure of this attempt for the error message. */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct smtp_sink *s = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    if (!ok && s && !s->tls_error[0])
        snprintf(s->tls_error, sizeof s->tls_error, "TLS: the server's certificate does not "
                 "verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
    return ok;
}

/* The expected name: an IP literal is checked as an address, anything else as a DNS name. */
static int set_expected_name(X509_VERIFY_PARAM *param, const char *host)
{
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1)
        return 0;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 ? 0 : -1;
}

static int setup_tls(struct smtp_sink *s, const intake_config *cfg,
                     const struct intake_section *sec, char *err, size_t errlen)
{
    if (!s->starttls)
        return 0;
    s->ssl = SSL_CTX_new(TLS_client_method());
    if (!s->ssl)
        return set_err(err, errlen, "TLS: cannot make an SSL_CTX", NULL), -1;
    SSL_CTX_set_min_proto_version(s->ssl, TLS1_2_VERSION);
    /* libESMTP 1.1's TLS reader loses the race with TLS 1.3's post-handshake messages
     * (session tickets): the EHLO answer after STARTTLS is then read as a dropped
     * connection, often under load (reproduced with aiosmtpd under valgrind, 23 of 35
     * sessions). TLS 1.2 has no such messages. */
    SSL_CTX_set_max_proto_version(s->ssl, TLS1_2_VERSION);
    SSL_CTX_set_app_data(s->ssl, s);
    if (!s->verify) {
        SSL_CTX_set_verify(s->ssl, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    char *ca = intake_config_get(sec, "ca_file") ? intake_config_get_path(cfg, sec, "ca_file")
                                                  : NULL;
    int ok = ca ? SSL_CTX_load_verify_locations(s->ssl, ca, NULL)
                : SSL_CTX_set_default_verify_paths(s->ssl);
    if (ok != 1)
        set_err(err, errlen, "ca_file: cannot load %.200s", ca ? ca : "the system's CAs");
    free(ca);
    if (ok != 1)
        return -1;
    SSL_CTX_set_verify(s->ssl, SSL_VERIFY_PEER, verify_cb);
    if (set_expected_name(SSL_CTX_get0_param(s->ssl), s->host) < 0)
        return set_err(err, errlen, "server: cannot check the name %s", "of this host"), -1;
    return 0;
}

/* Our own check of the peer's certificate against the configured host (the chain was
 * verified in the handshake). */
static bool peer_matches(const struct smtp_sink *s, SSL *ssl)
{
    if (!s->verify)
        return true;
    X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    bool ok = cert && SSL_get_verify_result(ssl) == X509_V_OK &&
              (X509_check_ip_asc(cert, s->host, 0) == 1 ||
               X509_check_host(cert, s->host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                               NULL) == 1);
    X509_free(cert);
    return ok;
}

/* libESMTP's events. Certificate problems are accepted only when verification is off or
 * our own check passes (libESMTP's name match knows no IP addresses); every other "ok"
 * stays 0. */
static void event_cb(smtp_session_t session, int event, void *arg, ...)
{
    struct smtp_sink *s = arg;
    va_list ap;
    int *ok = NULL;
    SSL *ssl = NULL;
    (void)session;
    va_start(ap, arg);
    switch (event) {
    case SMTP_EV_INVALID_PEER_CERTIFICATE: {
        long res = va_arg(ap, long);
        ok = va_arg(ap, int *);
        *ok = !s->verify;
        if (!*ok && !s->tls_error[0])
            snprintf(s->tls_error, sizeof s->tls_error, "TLS: the server's certificate does "
                     "not verify: %s", X509_verify_cert_error_string(res));
        break;
    }
    case SMTP_EV_NO_PEER_CERTIFICATE:
        ok = va_arg(ap, int *);
        *ok = !s->verify;
        if (!*ok && !s->tls_error[0])
            snprintf(s->tls_error, sizeof s->tls_error, "TLS: no server certificate");
        break;
    case SMTP_EV_WRONG_PEER_CERTIFICATE:
        ok = va_arg(ap, int *);
        (void)va_arg(ap, char *);
        ssl = va_arg(ap, SSL *);
        *ok = peer_matches(s, ssl);
        if (!*ok && !s->tls_error[0])
            snprintf(s->tls_error, sizeof s->tls_error, "TLS: the server's certificate is "
                     "not for the configured host");
        break;
    case SMTP_EV_WEAK_CIPHER:
        (void)va_arg(ap, int);
        ok = va_arg(ap, int *);
        *ok = 0;
        snprintf(s->tls_error, sizeof s->tls_error, "TLS: weak cipher");
        break;
    case SMTP_EV_EXTNA_STARTTLS:
        s->starttls_missing = true;
        break;
    default:
        break;
    }
    va_end(ap);
}

/* ---- AUTH ---- */

static int interact(auth_client_request_t req, char **result, int fields, void *arg)
{
    struct smtp_sink *s = arg;
    for (int i = 0; i < fields; i++) {
        if (req[i].flags & AUTH_USER)
            result[i] = s->username;
        else if (req[i].flags & AUTH_PASS)
            result[i] = s->password;
        else
            return 0;
    }
    return 1;
}

/* ---- create, attach, destroy ---- */

static void smtp_destroy(void *state)
{
    struct smtp_sink *s = state;
    if (!s)
        return;
    SSL_CTX_free(s->ssl);
    pcre2_code_free(s->suppress);
    pcre2_code_free(s->own);
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    char *owned[] = {s->server, s->host, s->from, s->from_name, s->reply_to, s->domain,
                     s->username, s->password, s->notify_to, s->tmpl, s->ombudsman,
                     s->organisation};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        free(owned[i]);
    free(s);
}

static int smtp_create(const intake_config *cfg, const struct intake_section *sec,
                       void **state, char *err, size_t errlen)
{
    pthread_once(&once, process_init);
    struct smtp_sink *s = calloc(1, sizeof *s);
    *state = NULL;
    if (!s)
        return set_err(err, errlen, "out of memory", NULL), -1;
    if (load_settings(s, cfg, sec, err, errlen) || setup_tls(s, cfg, sec, err, errlen)) {
        smtp_destroy(s);
        return -1;
    }
    *state = s;
    return 0;
}

/* `intake config check`: the same checks as at start. */
static int smtp_check(const intake_config *cfg, const struct intake_section *sec,
                      intake_diag *diag)
{
    void *state = NULL;
    char err[300] = "";
    if (smtp_create(cfg, sec, &state, err, sizeof err) == 0) {
        smtp_destroy(state);
        return 0;
    }
    intake_diag_add(diag, "%s:%d: sink \"%s\": %s", cfg->path, sec->line, sec->name, err);
    return -1;
}

static void smtp_attach(void *state, const struct intake_sink_marks *marks)
{
    ((struct smtp_sink *)state)->marks = marks;
}

/* ---- one session ---- */

static void result_set(struct intake_delivery_result *res, enum intake_outcome o, int status,
                       const char *error)
{
    res->outcome = o;
    res->status = status;
    snprintf(res->error, sizeof res->error, "%s", error ? error : "");
}

/* Keeps a refusal's text for the operator, without addresses. */
static void keep_response(struct intake_delivery_result *res, const smtp_status_t *st)
{
    char line[INTAKE_SINK_BODY_KEEP + 1];
    snprintf(line, sizeof line, "%d %s", st->code, st->text ? st->text : "");
    smtp_mask_addresses(line, res->response, sizeof res->response);
}

/* One SMTP reply code: 2xx fine (returns 0), 3xx (no final answer) and 4xx retry, 5xx
 * dead (returns 1 after filling res). `what` names the step. */
static int judge_code(const smtp_status_t *st, const char *what,
                      struct intake_delivery_result *res)
{
    char why[96];
    if (st->code >= 200 && st->code < 300)
        return 0;
    if (st->code >= 300 && st->code < 400) {
        /* Still the 354 of DATA: the final answer never came. The server may have
         * taken the message; a later try may send it twice, which is better than an
         * acknowledgement never sent, and no "refused" is claimed. */
        snprintf(why, sizeof why, "%s: no final answer (outcome unknown), SMTP %d", what,
                 st->code);
        result_set(res, INTAKE_RETRY, st->code, why);
    } else if (st->code >= 400 && st->code < 500) {
        snprintf(why, sizeof why, "%s deferred: SMTP %d", what, st->code);
        result_set(res, INTAKE_RETRY, st->code, why);
    } else {
        snprintf(why, sizeof why, "%s refused: SMTP %d", what, st->code);
        result_set(res, INTAKE_DEAD, st->code, why);
    }
    keep_response(res, st);
    return 1;
}

/* What the session did: TLS and protocol failures first, then MAIL, RCPT, DATA codes. */
static void judge(struct smtp_sink *s, int started, smtp_message_t m, smtp_recipient_t r,
                  struct intake_delivery_result *res)
{
    char why[200];
    const smtp_status_t *mail = smtp_reverse_path_status(m);
    const smtp_status_t *rcpt = smtp_recipient_status(r);
    const smtp_status_t *data = smtp_message_transfer_status(m);
    if (s->tls_error[0])
        return result_set(res, INTAKE_RETRY, 0, s->tls_error);
    if (s->starttls_missing)
        return result_set(res, INTAKE_RETRY, 0, "the server does not offer STARTTLS "
                                                "(tls = starttls requires it)");
    if (s->auth_failed) {
        snprintf(why, sizeof why, "AUTH failed (SMTP %d): check username and password",
                 s->auth_failed);
        return result_set(res, INTAKE_RETRY, s->auth_failed, why);
    }
    if (mail && mail->code && judge_code(mail, "sender (MAIL FROM)", res))
        return;
    if (rcpt && rcpt->code && judge_code(rcpt, "recipient (RCPT TO)", res))
        return;
    if (data && data->code && judge_code(data, "message (DATA)", res))
        return;
    if (started && rcpt && rcpt->code && data && data->code)
        return result_set(res, INTAKE_DELIVERED, data->code, NULL);
    char e[120];
    snprintf(why, sizeof why, "SMTP session failed: %s",
             smtp_strerror(smtp_errno(), e, sizeof e) ? e : "unknown error");
    result_set(res, INTAKE_RETRY, 0, why);
}

/* libESMTP carries on without AUTH when the server refuses it, and the server then
 * refuses MAIL (530, 550): a refused password (being rotated) would dead-letter every
 * acknowledgement. The protocol monitor sees the AUTH command and its answer (the code
 * alone is kept; nothing written is stored). */
static void monitor_cb(const char *buf, int len, int writing, void *arg)
{
    struct smtp_sink *s = arg;
    if (writing == SMTP_CB_WRITING && len >= 5 && strncasecmp(buf, "AUTH ", 5) == 0)
        s->auth_pending = true;
    if (writing != SMTP_CB_READING || !s->auth_pending || len < 4 || buf[3] == '-')
        return;
    int code = (buf[0] - '0') * 100 + (buf[1] - '0') * 10 + (buf[2] - '0');
    if (code == 334) /* the server asks for the next part */
        return;
    s->auth_pending = false;
    if (code < 200 || code > 299)
        s->auth_failed = code >= 100 && code <= 599 ? code : 1;
}

static int configure_session(struct smtp_sink *s, smtp_session_t ss, auth_context_t *auth)
{
    static const int phases[] = {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
                                 Timeout_TRANSFER, Timeout_DATA2};
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++)
        smtp_set_timeout(ss, phases[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
                         s->timeout * 1000L); /* libESMTP counts milliseconds */
    if (!smtp_set_server(ss, s->server) || !smtp_set_eventcb(ss, event_cb, s))
        return -1;
    if (s->starttls && (!smtp_starttls_enable(ss, Starttls_REQUIRED) ||
                        !smtp_starttls_set_ctx(ss, s->ssl)))
        return -1;
    if (!s->starttls)
        smtp_starttls_enable(ss, Starttls_DISABLED);
    if (!s->username)
        return 0;
    *auth = auth_create_context();
    if (!*auth)
        return -1;
    auth_set_mechanism_flags(*auth, AUTH_PLUGIN_PLAIN, 0);
    auth_set_interact_cb(*auth, interact, s);
    return smtp_auth_set_context(ss, *auth) && smtp_set_monitorcb(ss, monitor_cb, s, 0)
               ? 0 : -1;
}

/* Sends `msg` (a whole RFC 5322 message, borrowed) to one recipient in one session. */
static void send_mail(struct smtp_sink *s, const char *to, char *msg,
                      struct intake_delivery_result *res)
{
    auth_context_t auth = NULL;
    smtp_session_t ss = smtp_create_session();
    smtp_message_t m = ss ? smtp_add_message(ss) : NULL;
    smtp_recipient_t r = NULL;
    s->tls_error[0] = '\0';
    s->starttls_missing = false;
    s->auth_pending = false;
    s->auth_failed = 0;
    if (m && configure_session(s, ss, &auth) == 0 && smtp_set_reverse_path(m, s->from) &&
        (r = smtp_add_recipient(m, to)) != NULL && smtp_set_message_str(m, msg)) {
        int started = smtp_start_session(ss);
        judge(s, started, m, r, res);
    } else {
        result_set(res, INTAKE_RETRY, 0, "cannot set up the SMTP session");
    }
    if (ss)
        smtp_destroy_session(ss);
    if (auth)
        auth_destroy_context(auth);
}

/* ---- what to send ---- */

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static bool has_flag(const json_t *rec, const char *flag)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(rec, "flags"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), flag) == 0)
            return true;
    return false;
}

static uint32_t record_flags(const json_t *rec)
{
    uint32_t flags = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(rec, "flags"), i, v) {
        int t = json_is_string(v) ? intake_target_from_name(json_string_value(v)) : -1;
        if (t >= INTAKE_CAT_COUNT)
            flags |= 1u << (t - INTAKE_CAT_COUNT);
    }
    return flags;
}

static bool matches(const struct smtp_sink *s, const pcre2_code *re, const char *addr)
{
    return re && pcre2_match(re, (PCRE2_SPTR)addr, strlen(addr), 0, 0, s->md, s->mctx) >= 0;
}

static bool same_address(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* Whether `id` is one of our acknowledgements' Message-IDs: "<record-id.ack@domain>" with
 * the domain of `from` (see message_id()). */
static bool our_ack_id(const struct smtp_sink *s, const char *id)
{
    static const char tag[] = ".ack@";
    size_t n = id ? strlen(id) : 0, d = strlen(s->domain);
    if (n < d + sizeof tag + 1 || id[0] != '<' || id[n - 1] != '>')
        return false;
    const char *at = id + n - 1 - d - (sizeof tag - 1);
    return strncmp(at, tag, sizeof tag - 1) == 0 &&
           strncasecmp(at + sizeof tag - 1, s->domain, d) == 0;
}

/* Whether the record answers one of our acknowledgements (In-Reply-To or References):
 * an autoresponder that marks nothing must not get one back, or the two loop. */
static bool replies_to_our_ack(const struct smtp_sink *s, const json_t *rec)
{
    const json_t *t = json_object_get(rec, "thread");
    size_t i;
    const json_t *v;
    if (our_ack_id(s, str_at(t, "in_reply_to")))
        return true;
    json_array_foreach(json_object_get(t, "references"), i, v)
        if (our_ack_id(s, json_string_value(v)))
            return true;
    return false;
}

/* Why this record gets no acknowledgement, or NULL when it does (the repeat rule aside). */
static const char *ack_skip_reason(const struct smtp_sink *s, const json_t *rec)
{
    const char *channel = str_at(rec, "channel");
    const char *addr = str_at(json_object_get(rec, "author"), "email");
    const json_t *automated = json_object_get(rec, "automated");
    int cat = intake_target_from_name(str_at(rec, "category") ? str_at(rec, "category") : "");
    bool stage2 = s->ack_stage2 && has_flag(rec, "stage2");
    if (!channel || strcmp(channel, "email") != 0)
        return "not an e-mail item";
    if (automated && !json_is_null(automated))
        return "automated message (auto-reply, bounce or list)";
    if (!smtp_address_ok(addr))
        return "no usable sender address";
    if (matches(s, s->suppress, addr))
        return "no-reply or system sender address";
    if (same_address(addr, s->from) || same_address(addr, s->reply_to) ||
        matches(s, s->own, addr))
        return "our own address";
    if (replies_to_our_ack(s, rec))
        return "a reply to our acknowledgement";
    if (!stage2 && (cat < 0 || cat >= INTAKE_CAT_COUNT || !(s->categories & (1u << cat))))
        return "category not acknowledged";
    if (s->suppress_abusive && has_flag(rec, "abusive"))
        return "abusive flag";
    return NULL;
}

/* The thread a message belongs to: its first reference, else what it replies to, else its
 * own id; "" when it carries none. Borrowed. */
static const char *thread_root(const json_t *rec)
{
    const json_t *t = json_object_get(rec, "thread");
    const char *first = json_string_value(json_array_get(json_object_get(t, "references"), 0));
    const char *irt = str_at(t, "in_reply_to");
    const char *own = str_at(t, "message_id");
    return first && *first ? first : irt && *irt ? irt : own ? own : "";
}

/* "ack\n<lower-case sender>\n<thread root>" into a new string; NULL when out of memory. */
static char *mark_key(const json_t *rec)
{
    const char *addr = str_at(json_object_get(rec, "author"), "email");
    const char *root = thread_root(rec);
    size_t n = strlen(MARK_PREFIX) + strlen(addr) + strlen(root) + 2;
    char *k = malloc(n);
    if (!k)
        return NULL;
    int w = snprintf(k, n, "%s%s\n%s", MARK_PREFIX, addr, root);
    for (int i = (int)strlen(MARK_PREFIX); i < w && k[i] != '\n'; i++)
        k[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] - 'A' + 'a' : k[i]);
    return k;
}

/* Whether this sender was acknowledged in this thread within repeat_window. -1: the spool
 * failed. */
static int recently_acknowledged(const struct smtp_sink *s, const char *key)
{
    double at = 0;
    if (s->repeat_window == 0 || !s->marks)
        return 0;
    if (s->marks->get(s->marks->ctx, key, &at) < 0)
        return -1;
    return at > 0 && intake_time_now() - at < (double)s->repeat_window;
}

/* "acks\n<lower-case sender>\n<slot>" into key[len]: one of the sender_daily_max slots
 * that remember when this sender was last acknowledged, whatever the thread. */
static void sender_slot_key(const json_t *rec, long slot, char *key, size_t len)
{
    const char *addr = str_at(json_object_get(rec, "author"), "email");
    int w = snprintf(key, len, "%s%s\n%ld", SENDER_PREFIX, addr, slot);
    for (int i = (int)strlen(SENDER_PREFIX); i < w && (size_t)i < len && key[i] != '\n'; i++)
        key[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] - 'A' + 'a' : key[i]);
}

/* How many of the sender's slots were used within 24 hours (into *recent), and which slot
 * is the oldest (into *oldest, the one to reuse). Returns 0, or -1 when the spool failed. */
static int sender_slots(const struct smtp_sink *s, const json_t *rec, long *recent,
                        long *oldest)
{
    double now = intake_time_now(), oldest_at = 0;
    *recent = 0;
    *oldest = 0;
    for (long i = 0; i < s->sender_daily_max; i++) {
        char key[400];
        double at = 0;
        sender_slot_key(rec, i, key, sizeof key);
        if (s->marks->get(s->marks->ctx, key, &at) < 0)
            return -1;
        if (at > 0 && now - at < SENDER_PERIOD)
            (*recent)++;
        if (i == 0 || at < oldest_at) {
            oldest_at = at;
            *oldest = i;
        }
    }
    return 0;
}

/* Whether the sender already had sender_daily_max acknowledgements in 24 hours; *slot
 * receives the slot to mark after sending. -1: the spool failed. */
static int sender_capped(const struct smtp_sink *s, const json_t *rec, long *slot)
{
    long recent = 0;
    *slot = -1;
    if (s->sender_daily_max == 0 || !s->marks)
        return 0;
    if (sender_slots(s, rec, &recent, slot) < 0)
        return -1;
    return recent >= s->sender_daily_max;
}

/* A date of the record's deadlines in words, or `fallback`. */
static const char *deadline_words(const json_t *rec, const char *key, char *buf, size_t len,
                                  const char *fallback)
{
    const char *d = str_at(json_object_get(rec, "deadlines"), key);
    return d && smtp_date_words(d, buf, len) == 0 ? buf : fallback;
}

static char *received_words(const json_t *rec, char *buf, size_t len)
{
    double t;
    char ymd[11];
    buf[0] = '\0';
    if (intake_time_parse(str_at(rec, "received_at"), &t) == 0)
        smtp_date_words(intake_day_format(intake_time_local_day(t), ymd), buf, len);
    return buf;
}

static char *ack_body(const struct smtp_sink *s, const json_t *rec, const char *record_id)
{
    char respond[64], received[64];
    struct smtp_var vars[] = {
        {"reference", record_id},
        {"category_words", smtp_category_words(str_at(rec, "category"),
                                               has_flag(rec, "stage2"))},
        {"respond_by_words", deadline_words(rec, "respond_by", respond, sizeof respond,
                                            "as soon as we can")},
        {"received_words", received_words(rec, received, sizeof received)},
        {"ombudsman", s->ombudsman},
        {"organisation", s->organisation},
    };
    return smtp_render(s->tmpl, vars, sizeof vars / sizeof vars[0]);
}

/* "Re: <their subject>" (kept as it is when it already starts with "Re:"). */
static char *reply_subject(const json_t *rec)
{
    const char *subj = str_at(rec, "subject");
    if (!subj || !*subj)
        subj = "your message";
    bool re = strncasecmp(subj, "re:", 3) == 0;
    size_t n = strlen(subj) + 5;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s", re ? "" : "Re: ", subj);
    return out;
}

/* The valid message ids of the thread's references plus its own id, oldest first; *n
 * receives the count. The array is the caller's (free()); the strings are borrowed. */
static const char **references(const json_t *rec, size_t *n)
{
    const json_t *t = json_object_get(rec, "thread");
    const json_t *refs = json_object_get(t, "references");
    const char *own = str_at(t, "message_id");
    const char **out = calloc(json_array_size(refs) + 1, sizeof *out);
    size_t i;
    const json_t *v;
    *n = 0;
    if (!out)
        return NULL;
    json_array_foreach(refs, i, v)
        if (smtp_msgid_ok(json_string_value(v)))
            out[(*n)++] = json_string_value(v);
    if (smtp_msgid_ok(own))
        out[(*n)++] = own;
    return out;
}

/* <record-id.mode@domain of from>: the same on every retry, so a receiver can drop a
 * second copy. */
static void message_id(const struct smtp_sink *s, const char *record_id, char *out,
                       size_t len)
{
    snprintf(out, len, "<%.64s.%s@%.180s>", record_id, s->notify ? "notify" : "ack",
             s->domain);
}

static char *ack_message(const struct smtp_sink *s, const json_t *rec, const char *record_id)
{
    const json_t *t = json_object_get(rec, "thread");
    const char *irt = str_at(t, "message_id");
    char mid[300];
    size_t nrefs = 0;
    message_id(s, record_id, mid, sizeof mid);
    char *body = ack_body(s, rec, record_id);
    char *subject = reply_subject(rec);
    const char **refs = references(rec, &nrefs);
    char *msg = NULL;
    if (body && subject && refs) {
        struct smtp_mail m = {
            .from = s->from, .from_name = s->from_name,
            .to = str_at(json_object_get(rec, "author"), "email"), .reply_to = s->reply_to,
            .subject = subject, .message_id = mid,
            .in_reply_to = smtp_msgid_ok(irt) ? irt : NULL, .references = refs,
            .nreferences = nrefs, .auto_submitted = "auto-replied",
            .date = intake_time_now(), .body = body};
        msg = smtp_mail_build(&m);
    }
    free(body);
    free(subject);
    free(refs);
    return msg;
}

static char *notify_message(const struct smtp_sink *s, const json_t *rec,
                            const char *record_id)
{
    char flags[256] = "", mid[300], subject[400];
    size_t i, used = 0;
    const json_t *v;
    json_array_foreach(json_object_get(rec, "flags"), i, v) {
        int w = snprintf(flags + used, sizeof flags - used, "%s%s", used ? ", " : "",
                         json_string_value(v) ? json_string_value(v) : "?");
        used = w > 0 && (size_t)w < sizeof flags - used ? used + (size_t)w : used;
    }
    const char *route = str_at(rec, "route");
    const char *emergency = str_at(json_object_get(rec, "deadlines"), "emergency_by");
    struct smtp_var vars[] = {
        {"reference", record_id}, {"category", str_at(rec, "category")},
        {"flags", flags}, {"route", route ? route : "none"},
        {"emergency_by", emergency ? emergency : "none"},
        {"received_at", str_at(rec, "received_at")},
    };
    char *body = smtp_render(s->tmpl, vars, sizeof vars / sizeof vars[0]);
    message_id(s, record_id, mid, sizeof mid);
    snprintf(subject, sizeof subject, "[intake] %s: record %.64s", flags, record_id);
    struct smtp_mail m = {.from = s->from, .from_name = s->from_name, .to = s->notify_to,
                          .subject = subject, .message_id = mid,
                          .auto_submitted = "auto-generated", .date = intake_time_now(),
                          .body = body};
    char *msg = body ? smtp_mail_build(&m) : NULL;
    free(body);
    return msg;
}

/* ---- deliver ---- */

/* Remembers a sent acknowledgement: the thread's mark and the sender's slot. Best effort:
 * a failed mark only risks a second acknowledgement. */
static void mark_sent(const struct smtp_sink *s, const json_t *rec, const char *key,
                      long slot)
{
    double now = intake_time_now();
    (void)s->marks->set(s->marks->ctx, key, now);
    if (slot >= 0) {
        char skey[400];
        sender_slot_key(rec, slot, skey, sizeof skey);
        (void)s->marks->set(s->marks->ctx, skey, now);
    }
}

static void deliver_ack(struct smtp_sink *s, const char *record_id, const json_t *rec,
                        struct intake_delivery_result *res)
{
    const char *why = ack_skip_reason(s, rec);
    if (why)
        return result_set(res, INTAKE_SKIPPED, 0, why);
    char *key = mark_key(rec);
    long slot = -1;
    int recent = key ? recently_acknowledged(s, key) : -1;
    int capped = recent == 0 ? sender_capped(s, rec, &slot) : 0;
    char *msg = recent == 0 && capped == 0 ? ack_message(s, rec, record_id) : NULL;
    if (recent > 0)
        result_set(res, INTAKE_SKIPPED, 0, "sender already acknowledged in this thread "
                                           "within repeat_window");
    else if (capped > 0)
        result_set(res, INTAKE_SKIPPED, 0, "sender already had sender_daily_max "
                                           "acknowledgements in 24 hours");
    else if (recent < 0 || capped < 0)
        result_set(res, INTAKE_RETRY, 0, key ? "spool error (sink marks)" : "out of memory");
    else if (!msg)
        result_set(res, INTAKE_RETRY, 0, "out of memory");
    else
        send_mail(s, str_at(json_object_get(rec, "author"), "email"), msg, res);
    if (res->outcome == INTAKE_DELIVERED && s->marks)
        mark_sent(s, rec, key, slot);
    free(msg);
    free(key);
}

static void deliver_notify(struct smtp_sink *s, const char *record_id, const json_t *rec,
                           struct intake_delivery_result *res)
{
    if (!(record_flags(rec) & s->notify_flags))
        return result_set(res, INTAKE_SKIPPED, 0, "no flag that needs a note");
    char *msg = notify_message(s, rec, record_id);
    if (!msg)
        return result_set(res, INTAKE_RETRY, 0, "out of memory");
    send_mail(s, s->notify_to, msg, res);
    free(msg);
}

static void smtp_deliver(void *state, const char *record_id, const char *record_json,
                         size_t len, struct intake_delivery_result *res)
{
    struct smtp_sink *s = state;
    memset(res, 0, sizeof *res);
    res->retry_after = -1;
    json_t *rec = json_loadb(record_json, len, 0, NULL);
    if (!json_is_object(rec))
        result_set(res, INTAKE_DEAD, 0, "the record is not a JSON object");
    else if (s->notify)
        deliver_notify(s, record_id, rec, res);
    else
        deliver_ack(s, record_id, rec, res);
    json_decref(rec);
}

/* The "smtp" sink type (registered in registry.c). */
const struct intake_sink_type intake_sink_smtp = {
    .type = "smtp",
    .description = "acknowledgement mail to residents who e-mailed, or a note to a team "
                   "address (libESMTP)",
    .options = smtp_options,
    .check = smtp_check,
    .create = smtp_create,
    .deliver = smtp_deliver,
    .destroy = smtp_destroy,
    .attach = smtp_attach,
    .at_most_once = true, /* a mail or a reply sent twice is seen twice */
};
