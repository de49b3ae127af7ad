/*
 * The http and jsonl sinks, through their plugin structs, configured by real INI files
 * read with intake_config_load. The http sink talks to tests/peers/crm.py (a CRM stand-in
 * speaking Zendesk and ServiceNow shapes), started here on a free loopback port and
 * steered through its /_control endpoint; what arrived is read back from its JSON log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "intake/config.h"
#include "intake/sink.h"

extern const struct intake_sink_type intake_sink_http;
extern const struct intake_sink_type intake_sink_jsonl;

#define TOKEN "tok-3f9a1c77"
#define SINK_TIMEOUT 1 /* seconds: the timeout test waits about this long */

static struct {
    pid_t pid;
    int port;
    int stdin_fd; /* crm.py exits when this closes, even if the test dies */
    char dir[64];
    char log[128];
    int ids;
} peer = {.pid = -1, .stdin_fd = -1};

/* ---- the sample record ---- */

static const char record_fmt[] =
    "{\"schema\":\"intake.record/1\",\"id\":\"%s\",\"received_at\":\"2025-01-06T09:15:00Z\","
    "\"channel\":\"email\",\"source\":\"complaints-mailbox\",\"source_id\":\"<m1@ex.org>\","
    "\"public\":false,\"author\":{\"name\":\"Jo Bloggs\",\"email\":\"jo@example.org\","
    "\"handle\":null},\"subject\":\"Leak still not fixed\","
    "\"text\":\"Third time I have reported the leak.\\nNobody came.\",\"redactions\":[],"
    "\"category\":\"complaint\",\"mp_underlying\":null,\"flags\":[\"damp_mould\",\"urgent\"],"
    "\"confidence\":0.979,\"rules\":[\"REPORTED_BEFORE\",\"NO_SHOW\"],"
    "\"deadlines\":{\"acknowledge_by\":\"2025-01-13\",\"respond_by\":\"2025-01-27\","
    "\"policy\":\"housing-ombudsman\"},"
    "\"thread\":{\"message_ids\":[\"<m1@ex.org>\"],\"case_reference\":\"CMP-1234\"},"
    "\"attachments\":[]}";

struct rec {
    char id[64];
    char json[4096];
};

/* A record with a fresh id (the idempotency key). */
static struct rec new_record(void)
{
    struct rec r;
    snprintf(r.id, sizeof r.id, "0193f6d2-7a1b-7000-8000-%012d", ++peer.ids);
    snprintf(r.json, sizeof r.json, record_fmt, r.id);
    return r;
}

/* ---- files in the test's own folder ---- */

static void path_in_dir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", peer.dir, name);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    path_in_dir(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static const char *const scratch[] = {"crm.log", "intake.ini", "out.jsonl", "t.json",
                                      "bad.json", NULL};

/* ---- crm.py ---- */

static void exec_crm(int in, int out)
{
    dup2(in, 0);
    dup2(out, 1);
    execlp("python3", "python3", INTAKE_PEERS "/crm.py", "--port", "0", "--log", peer.log,
           "--token", TOKEN, "--sleep", "60", "--watch-stdin", (char *)NULL);
    _exit(127);
}

static int start_crm(void **state)
{
    (void)state;
    int in[2], out[2];
    strcpy(peer.dir, "/tmp/intake-sink-XXXXXX");
    if (mkdtemp(peer.dir) == NULL || pipe(in) != 0 || pipe(out) != 0)
        return -1;
    path_in_dir(peer.log, sizeof peer.log, "crm.log");
    peer.pid = fork();
    if (peer.pid == 0)
        exec_crm(in[0], out[1]);
    close(in[0]);
    close(out[1]);
    peer.stdin_fd = in[1];
    FILE *f = fdopen(out[0], "r");
    char line[64] = "";
    if (f == NULL || fgets(line, sizeof line, f) == NULL ||
        sscanf(line, "PORT %d", &peer.port) != 1)
        peer.port = 0;
    if (f)
        fclose(f);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return peer.pid > 0 && peer.port > 0 ? 0 : -1;
}

static int stop_crm(void **state)
{
    (void)state;
    if (peer.stdin_fd >= 0)
        close(peer.stdin_fd);
    if (peer.pid > 0) {
        kill(peer.pid, SIGTERM);
        waitpid(peer.pid, NULL, 0);
    }
    for (size_t i = 0; scratch[i]; i++) {
        char path[256];
        path_in_dir(path, sizeof path, scratch[i]);
        unlink(path);
    }
    rmdir(peer.dir);
    curl_global_cleanup();
    return 0;
}

static size_t discard(char *d, size_t s, size_t n, void *u)
{
    (void)d;
    (void)u;
    return s * n;
}

/* Steers crm.py: POST /_control with a JSON object. */
static void control(const char *json)
{
    char url[64];
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_control", peer.port);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    assert_int_equal(code, 200);
}

static int reset_crm(void **state)
{
    (void)state;
    control("{\"mode\": \"ok\", \"next\": [], \"retry_after\": \"1\"}");
    return 0;
}

/* Every request crm.py has logged, as a JSON array (the caller owns it). */
static json_t *crm_log(void)
{
    FILE *f = fopen(peer.log, "r");
    assert_non_null(f);
    json_t *all = json_array();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *e = json_loads(line, 0, NULL);
        assert_non_null(e);
        json_array_append_new(all, e);
    }
    free(line);
    fclose(f);
    return all;
}

/* The last logged request (the caller owns it). */
static json_t *last_request(void)
{
    json_t *all = crm_log();
    assert_true(json_array_size(all) > 0);
    json_t *e = json_incref(json_array_get(all, json_array_size(all) - 1));
    json_decref(all);
    return e;
}

/* How many requests with this idempotency key crm.py answered with `lookup`. */
static size_t count_lookups(const char *key, const char *lookup)
{
    json_t *all = crm_log(), *e;
    size_t i, n = 0;
    json_array_foreach(all, i, e) {
        const char *k = json_string_value(json_object_get(e, "idempotency_key"));
        const char *l = json_string_value(json_object_get(e, "lookup"));
        n += k && l && strcmp(k, key) == 0 && strcmp(l, lookup) == 0;
    }
    json_decref(all);
    return n;
}

/* The string at a dot path of objects ("ticket.comment.body"), or "(absent)". */
static const char *str_at(json_t *doc, const char *path)
{
    char key[64];
    while (doc && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        doc = json_object_get(doc, key);
        path += path[n] ? n + 1 : n;
    }
    return json_is_string(doc) ? json_string_value(doc) : "(absent)";
}

/* ---- sinks from config files ---- */

struct sink {
    const struct intake_sink_type *type;
    void *state;
};

/* Loads `ini` (a whole config file) with intake_config_load; NULL when it is refused, with
 * the messages in diag. */
static intake_config *load_ini(const char *ini, intake_diag *diag)
{
    char path[256];
    write_file("intake.ini", ini);
    path_in_dir(path, sizeof path, "intake.ini");
    intake_config *cfg = NULL;
    if (intake_config_load(path, &cfg, diag) != 0)
        return NULL;
    return cfg;
}

/* A config with the rules folder and one sink "s" made of `keys`. */
static void sink_ini(char *buf, size_t len, const char *type, const char *keys)
{
    snprintf(buf, len, "[rules]\npath = %s\n\n[sink \"s\"]\ntype = %s\n%s", INTAKE_RULES_DIR,
             type, keys);
}

/* Creates sink "s"; returns create's result, err holding its reason. */
static int try_create(const struct intake_sink_type *t, const char *keys, struct sink *out,
                      char *err, size_t errlen)
{
    char ini[2048];
    intake_diag diag = {0};
    sink_ini(ini, sizeof ini, t->type, keys);
    intake_config *cfg = load_ini(ini, &diag);
    for (size_t i = 0; cfg == NULL && i < diag.n; i++)
        print_error("config: %s\n", diag.lines[i]);
    intake_diag_clear(&diag);
    assert_non_null(cfg);
    const struct intake_section *sec = intake_config_section(cfg, "sink", "s");
    assert_non_null(sec);
    out->type = t;
    out->state = NULL;
    err[0] = '\0';
    int rc = t->create(cfg, sec, &out->state, err, errlen);
    intake_config_free(cfg); /* the sink must not borrow from the config */
    return rc;
}

static struct sink make_sink(const struct intake_sink_type *t, const char *keys)
{
    struct sink s;
    char err[256];
    int rc = try_create(t, keys, &s, err, sizeof err);
    if (rc != 0)
        print_error("create: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(s.state);
    return s;
}

/* An http sink posting to `path` on crm.py, with the token and the short timeout. */
static struct sink crm_sink(const char *path, const char *more)
{
    char keys[1024];
    snprintf(keys, sizeof keys, "url = http://127.0.0.1:%d%s\ntoken = %s\ntimeout = %d\n%s",
             peer.port, path, TOKEN, SINK_TIMEOUT, more);
    return make_sink(&intake_sink_http, keys);
}

static void drop_sink(struct sink *s)
{
    s->type->destroy(s->state);
}

/* One delivery; checks what every result must hold: no token, no record text. */
static struct intake_delivery_result deliver(struct sink *s, const struct rec *r)
{
    struct intake_delivery_result res;
    memset(&res, 0x5a, sizeof res);
    s->type->deliver(s->state, r->id, r->json, strlen(r->json), &res);
    assert_non_null(memchr(res.error, '\0', sizeof res.error));
    assert_non_null(memchr(res.response, '\0', sizeof res.response));
    assert_non_null(memchr(res.case_id, '\0', sizeof res.case_id));
    assert_null(strstr(res.error, TOKEN));
    assert_null(strstr(res.response, TOKEN));
    assert_null(strstr(res.error, "leak"));
    assert_null(strstr(res.error, "jo@example.org"));
    return res;
}

/* ---- http: the status table ---- */

static void created_is_delivered_with_case_id(void **state)
{
    (void)state;
    struct sink s = crm_sink("/cases", "case_id_pointer = /id\n");
    struct rec r = new_record();
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_DELIVERED);
    assert_int_equal(res.status, 201);
    assert_true(strlen(res.case_id) > 0);
    assert_true(strspn(res.case_id, "0123456789") == strlen(res.case_id));
    drop_sink(&s);
}

static void headers_and_body_arrive(void **state)
{
    (void)state;
    struct sink s = crm_sink("/cases", "header = X-Tenant: riverside\n");
    struct rec r = new_record();
    assert_int_equal(deliver(&s, &r).outcome, INTAKE_DELIVERED);
    json_t *e = last_request(), *sent = json_loads(r.json, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(e, "idempotency_key")), r.id);
    assert_string_equal(json_string_value(json_object_get(e, "authorization")), "yes");
    assert_string_equal(json_string_value(json_object_get(e, "content_type")),
                        "application/json");
    assert_string_equal(str_at(e, "x_headers.x-tenant"), "riverside");
    assert_true(json_equal(json_object_get(e, "body"), sent)); /* the record as it is */
    json_decref(sent);
    json_decref(e);
    drop_sink(&s);
}

static void replay_is_a_hit_not_a_second_case(void **state)
{
    (void)state;
    struct sink s = crm_sink("/api/v2/tickets", "case_id_pointer = /ticket/id\n");
    struct rec r = new_record();
    struct intake_delivery_result a = deliver(&s, &r), b = deliver(&s, &r);
    assert_int_equal(a.outcome, INTAKE_DELIVERED);
    assert_int_equal(b.outcome, INTAKE_DELIVERED);
    assert_string_equal(a.case_id, b.case_id);
    assert_int_equal(count_lookups(r.id, "miss"), 1);
    assert_int_equal(count_lookups(r.id, "hit"), 1);
    drop_sink(&s);
}

static void server_error_is_retried(void **state)
{
    (void)state;
    struct sink s = crm_sink("/cases", "");
    struct rec r = new_record();
    control("{\"next\": [\"503\"], \"retry_after\": \"\"}");
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_RETRY);
    assert_int_equal(res.status, 503);
    assert_string_equal(res.error, "HTTP 503");
    assert_true(res.retry_after < 0);
    assert_non_null(strstr(res.response, "injected failure"));
    control("{\"mode\": \"fail503\", \"fail_rate\": 1.0}");
    assert_int_equal(deliver(&s, &r).outcome, INTAKE_RETRY);
    control("{\"mode\": \"500\"}");
    assert_int_equal(deliver(&s, &r).status, 500);
    control("{\"mode\": \"408\"}");
    assert_int_equal(deliver(&s, &r).outcome, INTAKE_RETRY);
    control("{\"mode\": \"ok\"}");
    assert_int_equal(deliver(&s, &r).outcome, INTAKE_DELIVERED);
    drop_sink(&s);
}

static void too_many_requests_waits_as_asked(void **state)
{
    (void)state;
    struct sink s = crm_sink("/cases", "");
    struct rec r = new_record();
    control("{\"next\": [\"429\"]}");
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_RETRY);
    assert_int_equal(res.status, 429);
    assert_true(res.retry_after == 1.0);
    drop_sink(&s);
}

static void retry_after_as_an_http_date(void **state)
{
    (void)state;
    struct sink s = crm_sink("/cases", "");
    struct rec r = new_record();
    char date[64], req[128];
    time_t at = time(NULL) + 120;
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&at, &tm));
    snprintf(req, sizeof req, "{\"next\": [\"503\"], \"retry_after\": \"%s\"}", date);
    control(req);
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_RETRY);
    assert_true(res.retry_after > 100 && res.retry_after <= 121);
    drop_sink(&s);
}

static void bad_request_is_dead_with_the_body(void **state)
{
    (void)state;
    struct sink s = crm_sink("/api/v2/tickets", "");
    struct rec r = new_record();
    control("{\"next\": [\"400\"]}");
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_DEAD);
    assert_int_equal(res.status, 400);
    assert_string_equal(res.error, "HTTP 400");
    json_t *body = json_loads(res.response, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "error")), "InvalidRequest");
    json_decref(body);
    control("{\"next\": [\"422\", \"404\"]}");
    assert_int_equal(deliver(&s, &r).outcome, INTAKE_DEAD);
    assert_int_equal(deliver(&s, &r).outcome, INTAKE_DEAD);
    drop_sink(&s);
}

static void same_key_other_body_is_dead(void **state)
{
    (void)state;
    struct sink s = crm_sink("/api/v2/tickets", "");
    struct rec r = new_record(), other = r;
    assert_int_equal(deliver(&s, &r).outcome, INTAKE_DELIVERED);
    strstr(other.json, "Nobody came")[0] = 'n'; /* the same key with another body */
    struct intake_delivery_result res = deliver(&s, &other);
    assert_int_equal(res.outcome, INTAKE_DEAD);
    assert_non_null(strstr(res.response, "IdempotentRequestError"));
    drop_sink(&s);
}

static void wrong_token_is_dead(void **state)
{
    (void)state;
    char keys[256];
    snprintf(keys, sizeof keys, "url = http://127.0.0.1:%d/cases\ntoken = nope\n", peer.port);
    struct sink s = make_sink(&intake_sink_http, keys);
    struct rec r = new_record();
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_DEAD);
    assert_int_equal(res.status, 401);
    drop_sink(&s);
    snprintf(keys, sizeof keys, "url = http://127.0.0.1:%d/cases\n", peer.port);
    s = make_sink(&intake_sink_http, keys);
    assert_int_equal(deliver(&s, &r).status, 401);
    json_t *e = last_request();
    assert_string_equal(json_string_value(json_object_get(e, "authorization")), "no");
    json_decref(e);
    drop_sink(&s);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The case is made but the answer comes too late: retry within the timeout, and the
 * retry finds the case through the key instead of making a second one. */
static void timeout_is_retried_within_the_timeout(void **state)
{
    (void)state;
    struct sink s = crm_sink("/api/v2/tickets", "case_id_pointer = /ticket/id\n");
    struct rec r = new_record();
    control("{\"next\": [\"timeout\"]}");
    double t0 = now();
    struct intake_delivery_result res = deliver(&s, &r);
    double took = now() - t0;
    assert_int_equal(res.outcome, INTAKE_RETRY);
    assert_string_equal(res.error, "timeout");
    assert_int_equal(res.status, 0);
    assert_true(took >= SINK_TIMEOUT - 0.1 && took < SINK_TIMEOUT + 3);
    res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_DELIVERED);
    assert_true(strlen(res.case_id) > 0);
    assert_int_equal(count_lookups(r.id, "miss"), 1);
    assert_int_equal(count_lookups(r.id, "hit"), 1);
    drop_sink(&s);
}

static void dropped_connection_is_retried(void **state)
{
    (void)state;
    struct sink s = crm_sink("/cases", "");
    struct rec r = new_record();
    control("{\"next\": [\"drop\"]}");
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_RETRY);
    assert_int_equal(res.status, 0);
    assert_true(res.error[0] != '\0');
    assert_int_equal(deliver(&s, &r).outcome, INTAKE_DELIVERED);
    drop_sink(&s);
}

static void refused_connection_is_retried(void **state)
{
    (void)state;
    /* A bound socket that does not listen: connecting to it is refused at once. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char keys[256];
    snprintf(keys, sizeof keys, "url = http://127.0.0.1:%d/cases\ntoken = %s\n",
             ntohs(a.sin_port), TOKEN);
    struct sink s = make_sink(&intake_sink_http, keys);
    struct rec r = new_record();
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_RETRY);
    assert_int_equal(res.status, 0);
    assert_non_null(strstr(res.error, "onnect"));
    drop_sink(&s);
    close(fd);
}

/* ---- http: templates ---- */

static void zendesk_template_makes_a_ticket(void **state)
{
    (void)state;
    /* "zendesk.json" is not beside the config file: it is found in the rules' templates/. */
    struct sink s = crm_sink("/api/v2/tickets",
                             "template = zendesk.json\ncase_id_pointer = /ticket/id\n");
    struct rec r = new_record();
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_DELIVERED);
    assert_true(strlen(res.case_id) > 0);
    json_t *e = last_request(), *t = json_object_get(json_object_get(e, "body"), "ticket");
    assert_non_null(t);
    assert_string_equal(str_at(t, "subject"), "Leak still not fixed");
    const char *body = str_at(t, "comment.body");
    assert_non_null(body);
    assert_true(strncmp(body, "Third time I have reported the leak.\nNobody came.", 49) == 0);
    assert_non_null(strstr(body, "Category: complaint"));
    assert_non_null(strstr(body, "Case reference in the text: CMP-1234"));
    assert_true(json_is_false(json_object_get(json_object_get(t, "comment"), "public")));
    assert_string_equal(str_at(t, "requester.name"), "Jo Bloggs");
    assert_string_equal(str_at(t, "requester.email"), "jo@example.org");
    assert_string_equal(str_at(t, "external_id"), r.id);
    json_t *tags = json_object_get(t, "tags");
    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(json_string_value(json_array_get(tags, 0)), "damp_mould");
    json_decref(e);
    drop_sink(&s);
}

static void servicenow_template_makes_an_incident(void **state)
{
    (void)state;
    struct sink s = crm_sink("/api/now/table/incident?sysparm_fields=sys_id,number",
                             "template = servicenow.json\ncase_id_pointer = /result/number\n");
    struct rec r = new_record();
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_DELIVERED);
    assert_true(strncmp(res.case_id, "INC00", 5) == 0);
    json_t *e = last_request(), *b = json_object_get(e, "body");
    assert_string_equal(str_at(b, "short_description"),
                        "[complaint] Leak still not fixed");
    assert_true(strncmp(str_at(b, "description"), "Third time I have", 17) == 0);
    assert_string_equal(str_at(b, "contact_type"), "email");
    assert_string_equal(str_at(b, "correlation_id"), r.id);
    json_decref(e);
    drop_sink(&s);
}

static void template_keeps_types_and_interpolates_text(void **state)
{
    (void)state;
    write_file("t.json",
               "{\"whole\": \"{{flags}}\", \"email\": \"{{author.email}}\","
               " \"handle\": \"{{author.handle}}\", \"missing\": \"{{author.phone}}\","
               " \"num\": \"{{confidence}}\", \"bool\": \"{{public}}\","
               " \"second_rule\": \"{{ rules.1 }}\", \"past_end\": \"{{rules.9}}\","
               " \"text\": \"{{category}}/{{mp_underlying}}/{{flags}}/{{confidence}}/"
               "{{public}}/{{author.handle}}/{{deadlines.respond_by}}\","
               " \"nested\": [{\"k\": \"{{deadlines}}\"}, 7, true, null, \"plain\"],"
               " \"braces\": \"a }} b { c\"}");
    struct sink s = crm_sink("/cases", "template = t.json\n");
    struct rec r = new_record();
    assert_int_equal(deliver(&s, &r).outcome, INTAKE_DELIVERED);
    json_t *e = last_request();
    json_t *want = json_loads(
        "{\"whole\": [\"damp_mould\", \"urgent\"], \"email\": \"jo@example.org\","
        " \"handle\": null, \"missing\": null, \"num\": 0.979, \"bool\": false,"
        " \"second_rule\": \"NO_SHOW\", \"past_end\": null,"
        " \"text\": \"complaint//[\\\"damp_mould\\\",\\\"urgent\\\"]/0.979/false//2025-01-27\","
        " \"nested\": [{\"k\": {\"acknowledge_by\": \"2025-01-13\", \"respond_by\":"
        " \"2025-01-27\", \"policy\": \"housing-ombudsman\"}}, 7, true, null, \"plain\"],"
        " \"braces\": \"a }} b { c\"}", 0, NULL);
    assert_non_null(want);
    char *got = json_dumps(json_object_get(e, "body"), JSON_SORT_KEYS);
    if (!json_equal(json_object_get(e, "body"), want))
        print_error("sent: %s\n", got);
    assert_true(json_equal(json_object_get(e, "body"), want));
    free(got);
    json_decref(want);
    json_decref(e);
    drop_sink(&s);
}

/* case_id_pointer is an RFC 6901 pointer: "~1" is '/', digits index arrays, and a 2xx
 * without the id is still delivered (the case exists), with the reason in error. */
static void case_id_pointer_follows_rfc6901(void **state)
{
    (void)state;
    /* crm.py echoes the posted ticket in its answer, so the template shapes the answer. */
    write_file("t.json", "{\"ticket\": {\"a/b\": \"{{id}}\", \"list\": [\"x\", "
                         "\"{{source_id}}\"]}}");
    struct rec r = new_record();
    const char *ptr[] = {"/ticket/a~1b", "/ticket/list/1", "/ticket/nothing"};
    const char *want[] = {r.id, "<m1@ex.org>", ""};
    for (size_t i = 0; i < 3; i++) {
        char more[128];
        snprintf(more, sizeof more, "template = t.json\ncase_id_pointer = %s\n", ptr[i]);
        struct sink s = crm_sink("/api/v2/tickets", more);
        struct intake_delivery_result res = deliver(&s, &r);
        assert_int_equal(res.outcome, INTAKE_DELIVERED);
        assert_string_equal(res.case_id, want[i]);
        assert_true((want[i][0] == '\0') == (strstr(res.error, "case id") != NULL));
        drop_sink(&s);
    }
}

static void record_that_is_not_json_is_dead(void **state)
{
    (void)state;
    struct sink s = crm_sink("/cases", "template = servicenow.json\n");
    struct rec r = new_record();
    strcpy(r.json, "{\"id\": ");
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_DEAD);
    assert_int_equal(res.status, 0);
    drop_sink(&s);
}

/* A bad template or setting is refused before any record is sent: by the config check
 * (the sink's check callback) and by create itself. */
static void refused(const char *keys, const char *needle)
{
    char ini[2048];
    intake_diag diag = {0};
    sink_ini(ini, sizeof ini, "http", keys);
    intake_config *cfg = load_ini(ini, &diag);
    bool found = false;
    for (size_t i = 0; i < diag.n; i++)
        found = found || strstr(diag.lines[i], needle) != NULL;
    if (!found)
        for (size_t i = 0; i < diag.n; i++)
            print_error("diag: %s\n", diag.lines[i]);
    intake_diag_clear(&diag);
    assert_null(cfg);
    assert_true(found);
}

static void bad_settings_are_refused(void **state)
{
    (void)state;
    struct {
        const char *file, *needle;
    } bad[] = {
        {"{\"a\": \"{{subjcet}}\"}", "names no member"},
        {"{\"a\": [\"x {{id\"]}", "without"},
        {"{\"a\": \"{{}}\"}", "bad reference"},
        {"{\"a\": \"{{author..email}}\"}", "bad reference"},
        {"{\"a\": ", "line 1"},
        {"\"{{id}}\"", "top level"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_file("bad.json", bad[i].file);
        refused("url = http://127.0.0.1:9/x\ntemplate = bad.json\n", bad[i].needle);
    }
    refused("url = ftp://127.0.0.1/x\n", "only http");
    refused("url = http://127.0.0.1/x\nheader = no colon here\n", "header");
    refused("url = http://127.0.0.1/x\ncase_id_pointer = ticket/id\n", "JSON pointer");
    refused("url = http://127.0.0.1/x\nca_file = /nonexistent/ca.pem\n", "ca_file");
    refused("url = http://127.0.0.1/x\ntemplate = /nonexistent/t.json\n", "cannot read");
    refused("url = http://127.0.0.1/x\ntemplate = no-such.json\n", "rules' templates/");
}

/* create refuses on its own too (a caller that skipped the check). */
static void create_refuses_a_bad_template(void **state)
{
    (void)state;
    struct intake_kv kv[] = {{.key = "type", .value = "http", .line = 2},
                             {.key = "url", .value = "http://127.0.0.1:9/x", .line = 3},
                             {.key = "template", .value = "bad.json", .line = 4}};
    struct intake_section sec = {.kind = "sink", .name = "s", .line = 1, .kv = kv, .nkv = 3,
                                 .options = intake_sink_http.options};
    char path[256], dir[128];
    path_in_dir(path, sizeof path, "intake.ini");
    snprintf(dir, sizeof dir, "%s", peer.dir);
    intake_config cfg = {.path = path, .dir = dir, .sections = &sec, .nsections = 1};
    write_file("bad.json", "{\"ticket\": {\"subject\": \"{{subjcet}}\"}}");
    void *st = (void *)&cfg;
    char err[256] = "";
    assert_int_equal(intake_sink_http.create(&cfg, &sec, &st, err, sizeof err), -1);
    assert_null(st);
    assert_non_null(strstr(err, "{{subjcet}}"));
    assert_non_null(strstr(err, "bad.json"));
}

/* ---- jsonl ---- */

static void jsonl_appends_one_line_per_record(void **state)
{
    (void)state;
    struct sink s = make_sink(&intake_sink_jsonl, "path = out.jsonl\n");
    struct rec a = new_record(), b = new_record();
    char *pretty = NULL;
    json_t *doc = json_loads(b.json, 0, NULL);
    pretty = json_dumps(doc, JSON_INDENT(2)); /* line breaks between members */
    json_decref(doc);
    assert_true(strlen(pretty) < sizeof b.json);
    assert_non_null(strchr(pretty, '\n'));
    strcpy(b.json, pretty);
    free(pretty);
    assert_int_equal(deliver(&s, &a).outcome, INTAKE_DELIVERED);
    assert_int_equal(deliver(&s, &b).outcome, INTAKE_DELIVERED);
    drop_sink(&s);
    char path[256];
    path_in_dir(path, sizeof path, "out.jsonl");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0, n = 0;
    const char *ids[] = {a.id, b.id};
    for (; getline(&line, &cap, f) > 0; n++) {
        json_t *rec = json_loads(line, 0, NULL);
        assert_non_null(rec);
        assert_true(n < 2);
        assert_string_equal(json_string_value(json_object_get(rec, "id")), ids[n]);
        json_decref(rec);
    }
    free(line);
    fclose(f);
    assert_int_equal(n, 2);
}

static void jsonl_write_error_is_retried(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0)
        skip();
    struct sink s = make_sink(&intake_sink_jsonl, "path = /dev/full\n");
    struct rec r = new_record();
    struct intake_delivery_result res = deliver(&s, &r);
    assert_int_equal(res.outcome, INTAKE_RETRY);
    assert_non_null(strstr(res.error, "space"));
    drop_sink(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(created_is_delivered_with_case_id, reset_crm),
        cmocka_unit_test_setup(headers_and_body_arrive, reset_crm),
        cmocka_unit_test_setup(replay_is_a_hit_not_a_second_case, reset_crm),
        cmocka_unit_test_setup(server_error_is_retried, reset_crm),
        cmocka_unit_test_setup(too_many_requests_waits_as_asked, reset_crm),
        cmocka_unit_test_setup(retry_after_as_an_http_date, reset_crm),
        cmocka_unit_test_setup(bad_request_is_dead_with_the_body, reset_crm),
        cmocka_unit_test_setup(same_key_other_body_is_dead, reset_crm),
        cmocka_unit_test_setup(wrong_token_is_dead, reset_crm),
        cmocka_unit_test_setup(timeout_is_retried_within_the_timeout, reset_crm),
        cmocka_unit_test_setup(dropped_connection_is_retried, reset_crm),
        cmocka_unit_test(refused_connection_is_retried),
        cmocka_unit_test_setup(zendesk_template_makes_a_ticket, reset_crm),
        cmocka_unit_test_setup(servicenow_template_makes_an_incident, reset_crm),
        cmocka_unit_test_setup(template_keeps_types_and_interpolates_text, reset_crm),
        cmocka_unit_test_setup(case_id_pointer_follows_rfc6901, reset_crm),
        cmocka_unit_test(record_that_is_not_json_is_dead),
        cmocka_unit_test(bad_settings_are_refused),
        cmocka_unit_test(create_refuses_a_bad_template),
        cmocka_unit_test(jsonl_appends_one_line_per_record),
        cmocka_unit_test(jsonl_write_error_is_retried),
    };
    return cmocka_run_group_tests(tests, start_crm, stop_crm);
}
