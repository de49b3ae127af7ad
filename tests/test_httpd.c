/* The HTTP server, /healthz, /readyz, /metrics, the status table and the log writer,
 * tested with real requests (libcurl and raw sockets) against a server on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include "intake/httpd.h"
#include "intake/log.h"
#include "intake/metrics.h"
#include "intake/spool.h"
#include "intake/status.h"

/* ---- helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static atomic_int handler_calls;

/* Echoes what it saw: body length, query x, header X-Test; sets Retry-After and a header. */
static int on_echo(void *ud, const struct intake_http_request *req,
                   struct intake_http_response *resp)
{
    (void)ud;
    atomic_fetch_add(&handler_calls, 1);
    const char *x = intake_http_query(req, "x");
    const char *hd = intake_http_header(req, "x-test");
    char text[256];
    int n = snprintf(text, sizeof text, "len=%zu x=%s h=%s path=%s route=%s client=%s",
                     req->body_len, x ? x : "-", hd ? hd : "-", req->path, req->route_path,
                     req->client);
    resp->retry_after = 7;
    if (intake_http_response_header(resp, "X-Echo", "yes") != 0)
        return -1;
    return intake_http_respond(resp, 201, "text/plain", text, (size_t)n);
}

static int on_fail(void *ud, const struct intake_http_request *req,
                   struct intake_http_response *resp)
{
    (void)ud;
    (void)req;
    intake_http_respond(resp, 200, NULL, "secret", 6);
    return -1;
}

static int on_slow(void *ud, const struct intake_http_request *req,
                   struct intake_http_response *resp)
{
    (void)ud;
    (void)req;
    sleep_ms(1500);
    return intake_http_respond(resp, 200, NULL, "slow\n", 5);
}

static atomic_int busy_now, busy_peak;

/* Sleeps 800 ms and tracks how many of its calls run at once (busy_peak). */
static int on_busy(void *ud, const struct intake_http_request *req,
                   struct intake_http_response *resp)
{
    (void)ud;
    (void)req;
    int now = atomic_fetch_add(&busy_now, 1) + 1;
    int peak = atomic_load(&busy_peak);
    while (now > peak && !atomic_compare_exchange_weak(&busy_peak, &peak, now))
        ;
    sleep_ms(800);
    atomic_fetch_sub(&busy_now, 1);
    return intake_http_respond(resp, 200, NULL, "done\n", 5);
}

static int on_tag(void *ud, const struct intake_http_request *req,
                  struct intake_http_response *resp)
{
    (void)req;
    const char *tag = ud;
    return intake_http_respond(resp, 200, NULL, tag, strlen(tag));
}

struct server {
    intake_httpd *h;
    intake_ops *ops;
    intake_status *st;
    char base[64];
    char dir[64];
    char spool_path[128];
};

/* Starts a server with the ops endpoints and the test routes, at most max_inflight
 * handlers at once (0: no limit). */
static struct server *server_start_limited(unsigned timeout, unsigned per_ip,
                                           unsigned maxconn, const char *spool_path,
                                           unsigned max_inflight)
{
    struct server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    strcpy(s->dir, "/tmp/test_httpd.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->spool_path, sizeof s->spool_path, "%s/spool.db", s->dir);
    s->st = intake_status_new();
    assert_non_null(s->st);
    s->h = intake_httpd_new();
    assert_non_null(s->h);
    s->ops = intake_ops_new(spool_path != NULL ? spool_path : s->spool_path, s->st);
    assert_non_null(s->ops);
    assert_int_equal(intake_ops_register(s->ops, s->h), 0);
    assert_int_equal(intake_httpd_route(s->h, "POST", "/echo", INTAKE_HTTP_EXACT, 16, on_echo,
                                        NULL), 0);
    assert_int_equal(intake_httpd_route(s->h, "POST", "/fail", INTAKE_HTTP_EXACT, 0, on_fail,
                                        NULL), 0);
    assert_int_equal(intake_httpd_route(s->h, "GET", "/slow", INTAKE_HTTP_EXACT, 0, on_slow,
                                        NULL), 0);
    assert_int_equal(intake_httpd_route(s->h, "POST", "/hooks", INTAKE_HTTP_PREFIX, 1024,
                                        on_echo, NULL), 0);
    assert_int_equal(intake_httpd_route(s->h, "GET", "/hooks/special", INTAKE_HTTP_EXACT, 0,
                                        on_tag, "special"), 0);
    assert_int_equal(intake_httpd_route(s->h, "POST", "/busy", INTAKE_HTTP_EXACT, 64, on_busy,
                                        NULL), 0);
    assert_int_equal(intake_httpd_set_max_inflight(s->h, max_inflight), 0);
    char err[200];
    assert_int_equal(intake_httpd_start(s->h, "127.0.0.1:0", timeout, per_ip, maxconn, err,
                                        sizeof err), 0);
    unsigned port = intake_httpd_port(s->h);
    assert_true(port > 0);
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%u", port);
    return s;
}

static struct server *server_start(unsigned timeout, unsigned per_ip, unsigned maxconn,
                                   const char *spool_path)
{
    return server_start_limited(timeout, per_ip, maxconn, spool_path, 0);
}

static void server_stop(struct server *s)
{
    intake_httpd_free(s->h);
    intake_ops_free(s->ops);
    intake_status_free(s->st);
    unlink(s->spool_path);
    char side[160];
    snprintf(side, sizeof side, "%s-wal", s->spool_path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", s->spool_path);
    unlink(side);
    rmdir(s->dir);
    free(s);
}

/* One HTTP exchange's outcome. */
struct reply {
    long status;
    CURLcode rc;
    intake_buf body;
    intake_buf headers;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    intake_buf *b = ud;
    return intake_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* Chunked upload source: `left` bytes of 'a'. */
struct upload {
    size_t left;
};

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    struct upload *u = ud;
    size_t k = size * n < u->left ? size * n : u->left;
    memset(p, 'a', k);
    u->left -= k;
    return k;
}

/* Makes a request. body NULL: none; chunked > 0: a chunked upload of that many bytes. */
static struct reply request(const char *method, const char *url, const char *body,
                            size_t len, size_t chunked, const char *header)
{
    struct reply r = {0};
    CURL *c = curl_easy_init();
    assert_non_null(c);
    bool expect = header != NULL && strncmp(header, "Expect", 6) == 0;
    struct curl_slist *hl = curl_slist_append(NULL, expect ? header : "Expect:");
    if (header != NULL && !expect)
        hl = curl_slist_append(hl, header);
    struct upload up = {chunked};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (chunked > 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
    } else if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    r.rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (r.body.data == NULL)
        intake_buf_append(&r.body, "", 0);
    if (r.headers.data == NULL)
        intake_buf_append(&r.headers, "", 0);
    return r;
}

static void reply_free(struct reply *r)
{
    intake_buf_free(&r->body);
    intake_buf_free(&r->headers);
}

static struct reply get(struct server *s, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    return request("GET", url, NULL, 0, 0, NULL);
}

static struct reply post(struct server *s, const char *path, const char *body, size_t len,
                         size_t chunked, const char *header)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    return request("POST", url, body, len, chunked, header);
}

/* A raw TCP connection to the server. */
static int raw_connect(struct server *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)intake_httpd_port(s->h));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Whether the peer closed the connection within ms milliseconds. */
static int closed_within(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, ms);
    if (rc <= 0)
        return 0;
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* ---- the server ---- */

static void test_healthz(void **state)
{
    (void)state;
    struct server *s = server_start(5, 0, 16, NULL);
    struct reply r = get(s, "/healthz");
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "ok\n");
    reply_free(&r);
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", s->base);
    r = request("HEAD", url, NULL, 0, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "");
    reply_free(&r);
    server_stop(s);
}

static void test_not_found_and_method(void **state)
{
    (void)state;
    struct server *s = server_start(5, 0, 16, NULL);
    struct reply r = get(s, "/nope");
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = get(s, "/healthzz");
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = post(s, "/healthz", "x", 1, 0, NULL);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers.data, "Allow: GET, HEAD\r\n"));
    reply_free(&r);
    r = get(s, "/echo");
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers.data, "Allow: POST\r\n"));
    reply_free(&r);
    server_stop(s);
}

static void test_echo(void **state)
{
    (void)state;
    struct server *s = server_start(5, 0, 16, NULL);
    atomic_store(&handler_calls, 0);
    struct reply r = post(s, "/echo?x=a%20b", "he\0lo", 5, 0, "X-Test: abc");
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body.data,
                        "len=5 x=a b h=abc path=/echo route=/echo client=127.0.0.1");
    assert_non_null(strstr(r.headers.data, "Retry-After: 7\r\n"));
    assert_non_null(strstr(r.headers.data, "X-Echo: yes\r\n"));
    assert_non_null(strstr(r.headers.data, "Content-Type: text/plain\r\n"));
    reply_free(&r);
    /* Exactly max_body bytes is accepted; chunked within the limit too. */
    r = post(s, "/echo", "0123456789abcdef", 16, 0, NULL);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body.data, "len=16 "));
    reply_free(&r);
    r = post(s, "/echo", NULL, 0, 10, NULL);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body.data, "len=10 "));
    reply_free(&r);
    assert_int_equal(atomic_load(&handler_calls), 3);
    server_stop(s);
}

static void test_too_large(void **state)
{
    (void)state;
    struct server *s = server_start(5, 0, 16, NULL);
    atomic_store(&handler_calls, 0);
    struct reply r = post(s, "/echo", "0123456789abcdefX", 17, 0, NULL);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    /* Answered from the Content-Length alone, before the body: a client that waits for
     * 100 Continue gets 413 instead, even for a body far past what would be read. */
    size_t biglen = (size_t)3 << 20;
    char *big = malloc(biglen);
    assert_non_null(big);
    memset(big, 'b', biglen);
    r = post(s, "/echo", big, biglen, 0, "Expect: 100-continue");
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_null(strstr(r.headers.data, " 100 Continue"));
    reply_free(&r);
    free(big);
    /* No length: the body is counted as it comes, 413 at the end. */
    r = post(s, "/echo", NULL, 0, 100, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    r = post(s, "/echo", NULL, 0, 17, NULL);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    /* A chunked body far past the limit still gets its 413 (the bytes are dropped). */
    r = post(s, "/echo", NULL, 0, (size_t)3 << 20, NULL);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    /* A GET route takes no body. */
    r = post(s, "/fail", "x", 1, 0, NULL);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    assert_int_equal(atomic_load(&handler_calls), 0);
    /* The server still answers. */
    r = get(s, "/healthz");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    server_stop(s);
}

static void test_handler_failure(void **state)
{
    (void)state;
    struct server *s = server_start(5, 0, 16, NULL);
    struct reply r = post(s, "/fail", NULL, 0, 0, NULL);
    assert_int_equal(r.status, 500);
    assert_null(strstr(r.body.data, "secret"));
    reply_free(&r);
    server_stop(s);
}

static void test_prefix_routes(void **state)
{
    (void)state;
    struct server *s = server_start(5, 0, 16, NULL);
    struct reply r = post(s, "/hooks/webchat", "{}", 2, 0, NULL);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body.data, "path=/hooks/webchat route=/hooks "));
    reply_free(&r);
    r = post(s, "/hooks", "{}", 2, 0, NULL);
    assert_int_equal(r.status, 201);
    reply_free(&r);
    r = post(s, "/hooksx", "{}", 2, 0, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = get(s, "/hooks/special");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "special");
    reply_free(&r);
    r = get(s, "/hooks/other");
    assert_int_equal(r.status, 405);
    reply_free(&r);
    /* The exact GET route's path still takes POST through the prefix route. */
    r = post(s, "/hooks/special", "{}", 2, 0, NULL);
    assert_int_equal(r.status, 201);
    reply_free(&r);
    server_stop(s);
}

static void test_route_api(void **state)
{
    (void)state;
    intake_httpd *h = intake_httpd_new();
    assert_non_null(h);
    assert_int_equal(intake_httpd_route(h, "GET", "/a", 0, 0, on_tag, "a"), 0);
    assert_int_equal(intake_httpd_route(h, "GET", "/a", 0, 0, on_tag, "a"), -1);
    assert_int_equal(intake_httpd_route(h, "GET", "/a", INTAKE_HTTP_PREFIX, 0, on_tag, "a"), 0);
    assert_int_equal(intake_httpd_route(h, "get", "/b", 0, 0, on_tag, "b"), -1);
    assert_int_equal(intake_httpd_route(h, "GET", "b", 0, 0, on_tag, "b"), -1);
    assert_int_equal(intake_httpd_route(h, "GET", "/b", 0, 0, NULL, "b"), -1);
    assert_int_equal(intake_httpd_route(h, "GET", "/a", INTAKE_HTTP_UNLIMITED, 0, on_tag, "a"),
                     -1); /* the flag is not part of the route's identity */
    assert_int_equal(intake_httpd_route(h, "GET", "/b", 4u, 0, on_tag, "b"), -1);
    assert_int_equal(intake_httpd_set_max_inflight(h, 3), 0);
    char err[200];
    assert_int_equal(intake_httpd_start(h, "127.0.0.1", 5, 0, 4, err, sizeof err), -1);
    assert_int_equal(intake_httpd_start(h, "127.0.0.1:notaport", 5, 0, 4, err, sizeof err), -1);
    assert_int_equal(intake_httpd_port(h), 0);
    assert_int_equal(intake_httpd_start(h, "127.0.0.1:0", 5, 0, 4, err, sizeof err), 0);
    assert_true(intake_httpd_port(h) > 0);
    assert_int_equal(intake_httpd_route(h, "GET", "/c", 0, 0, on_tag, "c"), -1);
    assert_int_equal(intake_httpd_set_max_inflight(h, 5), -1);
    intake_httpd_stop(h);
    intake_httpd_stop(h);
    assert_int_equal(intake_httpd_port(h), 0);
    intake_httpd_free(h);

    struct intake_http_response resp = {0};
    assert_int_equal(intake_http_response_header(&resp, "X-A", "b\r\nInjected: 1"), -1);
    assert_int_equal(intake_http_response_header(&resp, "X A", "b"), -1);
    assert_int_equal(intake_http_response_header(&resp, "X-A", "b"), 0);
    free(resp.headers[0].name);
    free(resp.headers[0].value);
}

/* Listens on `listen` and fetches /t through `host` ("127.0.0.1" or "[::1]"). */
static void check_listen(const char *listen, const char *host)
{
    intake_httpd *h = intake_httpd_new();
    assert_non_null(h);
    assert_int_equal(intake_httpd_route(h, "GET", "/t", 0, 0, on_tag, "t"), 0);
    char err[200];
    if (intake_httpd_start(h, listen, 5, 0, 4, err, sizeof err) != 0)
        fail_msg("cannot listen on %s: %s", listen, err);
    char url[128];
    snprintf(url, sizeof url, "http://%s:%u/t", host, intake_httpd_port(h));
    struct reply r = request("GET", url, NULL, 0, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "t");
    reply_free(&r);
    intake_httpd_free(h);
}

static bool have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 sa = {0};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void test_listen_forms(void **state)
{
    (void)state;
    check_listen("*:0", "127.0.0.1");
    check_listen(":0", "127.0.0.1");
    check_listen("localhost:0", "127.0.0.1");
    if (!have_ipv6())
        return;
    check_listen("[::1]:0", "[::1]");
    check_listen("[::]:0", "127.0.0.1");
    check_listen("[::]:0", "[::1]");
}

struct bg_get {
    struct server *s;
    const char *path;
    long status;
};

static void *bg_get_main(void *arg)
{
    struct bg_get *b = arg;
    struct reply r = get(b->s, b->path);
    b->status = r.status;
    reply_free(&r);
    return NULL;
}

/* A slow handler holds up only its own connection. */
static void test_slow_handler_does_not_stall(void **state)
{
    (void)state;
    struct server *s = server_start(5, 0, 16, NULL);
    struct bg_get b = {s, "/slow", 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_get_main, &b), 0);
    sleep_ms(200);
    double t0 = now_s();
    struct reply r = get(s, "/healthz");
    double took = now_s() - t0;
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_true(took < 0.8);
    pthread_join(t, NULL);
    assert_int_equal(b.status, 200);
    server_stop(s);
}

/* A client trickling header lines, each within the idle timeout, is still cut off once
 * connection_timeout has passed since it connected. */
static void test_slow_client_disconnected(void **state)
{
    (void)state;
    struct server *s = server_start(1, 0, 16, NULL);
    int fd = raw_connect(s);
    double t0 = now_s();
    const char *start = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    assert_true(send(fd, start, strlen(start), MSG_NOSIGNAL) > 0);
    int closed = 0;
    while (!closed && now_s() - t0 < 6) {
        closed = closed_within(fd, 300);
        if (!closed && send(fd, "X-A: b\r\n", 8, MSG_NOSIGNAL) < 0)
            closed = 1;
    }
    double took = now_s() - t0;
    close(fd);
    assert_true(closed);
    assert_true(took >= 0.8);
    assert_true(took < 3.0);
    /* An idle connection is closed too. */
    fd = raw_connect(s);
    t0 = now_s();
    assert_true(closed_within(fd, 4000));
    assert_true(now_s() - t0 < 3.0);
    close(fd);
    server_stop(s);
}

static void test_per_ip_limit(void **state)
{
    (void)state;
    struct server *s = server_start(5, 2, 16, NULL);
    int a = raw_connect(s);
    sleep_ms(100);
    int b = raw_connect(s);
    sleep_ms(100);
    int c = raw_connect(s);
    assert_true(closed_within(c, 2000));
    assert_false(closed_within(a, 200));
    assert_false(closed_within(b, 200));
    close(c);
    close(a);
    close(b);
    sleep_ms(300);
    struct reply r = get(s, "/healthz");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    server_stop(s);
}

struct bg_busy {
    struct server *s;
    long status;
    bool retry_after_1;
};

static void *bg_busy_main(void *arg)
{
    struct bg_busy *b = arg;
    struct reply r = post(b->s, "/busy", "{}", 2, 0, NULL);
    b->status = r.status;
    b->retry_after_1 = strstr(r.headers.data, "Retry-After: 1\r\n") != NULL;
    reply_free(&r);
    return NULL;
}

/* With max_inflight 2, six concurrent slow requests: never more than two handlers run at
 * once, the others are answered 503 with Retry-After at once; /healthz (exempt) still
 * answers while the slots are taken; once they are free, requests are handled again. */
static void test_max_inflight(void **state)
{
    (void)state;
    enum { N = 6 };
    struct server *s = server_start_limited(5, 0, 32, NULL, 2);
    atomic_store(&busy_now, 0);
    atomic_store(&busy_peak, 0);
    struct bg_busy b[N];
    pthread_t t[N];
    double t0 = now_s();
    for (int i = 0; i < N; i++) {
        b[i] = (struct bg_busy){s, 0, false};
        assert_int_equal(pthread_create(&t[i], NULL, bg_busy_main, &b[i]), 0);
    }
    sleep_ms(300);
    struct reply r = get(s, "/healthz");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_true(now_s() - t0 < 0.8); /* answered while the slow handlers were running */
    int ok = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (b[i].status == 200)
            ok++;
        if (b[i].status == 503) {
            busy++;
            assert_true(b[i].retry_after_1);
        }
    }
    assert_int_equal(ok + busy, N);
    assert_true(ok >= 2);
    assert_true(busy >= 1);
    assert_true(atomic_load(&busy_peak) <= 2);
    r = post(s, "/busy", "{}", 2, 0, NULL); /* the slots were given back */
    assert_int_equal(r.status, 200);
    reply_free(&r);
    server_stop(s);
}

/* ---- metrics and readiness ---- */

static void put_item(intake_spool *sp, const char *source, const char *id, const char *channel)
{
    json_t *item = json_pack("{s:s, s:s, s:s}", "id", id, "channel", channel, "body", "b");
    assert_non_null(item);
    assert_int_equal(intake_spool_submit(sp, source, &item, 1, NULL, NULL, NULL),
                     INTAKE_SPOOL_OK);
    json_decref(item);
}

static void test_metrics_endpoint(void **state)
{
    (void)state;
    struct server *s = server_start(5, 0, 16, NULL);
    intake_spool *sp;
    char err[200];
    assert_int_equal(intake_spool_open(s->spool_path, &sp, err, sizeof err), INTAKE_SPOOL_OK);
    put_item(sp, "mta", "m1", "email");
    put_item(sp, "mta", "m2", "email");
    put_item(sp, "chat", "c1", "webchat");
    intake_spool_close(sp);
    int src = intake_status_add(s->st, INTAKE_PART_SOURCE, "mta", "pipe");
    int snk = intake_status_add(s->st, INTAKE_PART_SINK, "crm \"main\"", "http");
    intake_status_set(s->st, src, "ok", NULL);
    intake_status_set(s->st, snk, "error", "HTTP 503");
    intake_status_error(s->st, snk);
    intake_status_error(s->st, snk);

    struct reply r = get(s, "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers.data, "Content-Type: text/plain; version=0.0.4"));
    const char *want[] = {
        "# HELP intake_spool_up ",
        "# TYPE intake_spool_up gauge\nintake_spool_up 1\n",
        "# TYPE intake_spool_items gauge\n",
        "intake_spool_items{source=\"mta\",channel=\"email\"} 2\n",
        "intake_spool_items{source=\"chat\",channel=\"webchat\"} 1\n",
        "# TYPE intake_spool_records gauge\n",
        "# TYPE intake_spool_deliveries gauge\n",
        "intake_queue_depth{queue=\"processor\"} 3\n",
        "intake_queue_depth{queue=\"dead_letter\"} 0\n",
        "# TYPE intake_oldest_undelivered_age_seconds gauge\n",
        "intake_part_up{kind=\"source\",name=\"mta\",type=\"pipe\",state=\"ok\"} 1\n",
        "intake_part_up{kind=\"sink\",name=\"crm \\\"main\\\"\",type=\"http\",state=\"error\"} 0\n",
        "# TYPE intake_errors_total counter\n",
        "intake_errors_total{kind=\"sink\",name=\"crm \\\"main\\\"\"} 2\n",
        "intake_errors_total{kind=\"source\",name=\"mta\"} 0\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strstr(r.body.data, want[i]) == NULL)
            fail_msg("missing from /metrics: %s\n--- got:\n%s", want[i], r.body.data);
    }
    reply_free(&r);

    r = get(s, "/readyz");
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *doc = json_loads(r.body.data, 0, &je);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(doc, "ready")));
    assert_string_equal(json_string_value(json_object_get(doc, "spool")), "ok");
    json_t *sinks = json_object_get(doc, "sinks");
    assert_int_equal(json_array_size(sinks), 1);
    json_t *k = json_array_get(sinks, 0);
    assert_string_equal(json_string_value(json_object_get(k, "name")), "crm \"main\"");
    assert_string_equal(json_string_value(json_object_get(k, "state")), "error");
    assert_string_equal(json_string_value(json_object_get(k, "reason")), "HTTP 503");
    assert_int_equal(strlen(json_string_value(json_object_get(k, "since"))), 20);
    assert_int_equal(json_array_size(json_object_get(doc, "sources")), 1);
    json_decref(doc);
    reply_free(&r);
    server_stop(s);
}

static void test_readyz_spool_unavailable(void **state)
{
    (void)state;
    struct server *s = server_start(5, 0, 16, "/nonexistent-dir-for-intake-test/spool.db");
    struct reply r = get(s, "/readyz");
    assert_int_equal(r.status, 503);
    json_t *doc = json_loads(r.body.data, 0, NULL);
    assert_non_null(doc);
    assert_true(json_is_false(json_object_get(doc, "ready")));
    assert_true(strncmp(json_string_value(json_object_get(doc, "spool")), "error: ", 7) == 0);
    json_decref(doc);
    reply_free(&r);
    r = get(s, "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "\nintake_spool_up 0\n"));
    assert_null(strstr(r.body.data, "intake_spool_items"));
    assert_non_null(strstr(r.body.data, "# TYPE intake_part_up gauge\n"));
    reply_free(&r);
    server_stop(s);
}

static void test_label_escape(void **state)
{
    (void)state;
    intake_buf b = {0};
    assert_int_equal(intake_prom_label_escape("a\\b\"c\nd", &b), 0);
    assert_string_equal(b.data, "a\\\\b\\\"c\\nd");
    b.len = 0;
    assert_int_equal(intake_prom_label_escape("plain é", &b), 0);
    assert_string_equal(b.data, "plain é");
    b.len = 0;
    assert_int_equal(intake_prom_label_escape("", &b), 0);
    assert_int_equal(b.len, 0);
    intake_buf_free(&b);
}

static void test_metrics_render_without_spool(void **state)
{
    (void)state;
    intake_status *st = intake_status_new();
    int p = intake_status_add(st, INTAKE_PART_SOURCE, "box\nnew", "imap");
    intake_status_set(st, p, "needs_reauth", "login refused");
    intake_buf b = {0};
    assert_int_equal(intake_metrics_render(NULL, st, 1000, &b), 0);
    assert_non_null(strstr(b.data, "intake_spool_up 0\n"));
    assert_non_null(strstr(
        b.data, "intake_part_up{kind=\"source\",name=\"box\\nnew\",type=\"imap\","
                "state=\"needs_reauth\"} 0\n"));
    /* Every line is a comment or a sample: no raw newline escaped a label. */
    for (char *line = b.data; *line; line = strchr(line, '\n') + 1)
        assert_true(line[0] == '#' || strncmp(line, "intake_", 7) == 0);
    intake_buf_free(&b);
    bool ready = true;
    assert_int_equal(intake_readyz_render(NULL, "cannot open", st, &b, &ready), 0);
    assert_false(ready);
    assert_non_null(strstr(b.data, "\"spool\":\"error: cannot open\""));
    assert_non_null(strstr(b.data, "\"state\":\"needs_reauth\""));
    intake_buf_free(&b);
    intake_status_free(st);
}

/* ---- status table and logs ---- */

/* Runs fn with stderr sent to a file; returns what was written (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/test_httpd_log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    return text;
}

static void log_some(void)
{
    char big[6000];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\0';
    intake_log(INTAKE_LOG_INFO, "test_event", "quote", "a\"b\\c\nd\x01", "skip", NULL, "bad",
               "\xff\xfe ok", (const char *)NULL);
    intake_log(INTAKE_LOG_DEBUG, "hidden", (const char *)NULL);
    intake_log(INTAKE_LOG_WARN, "long", "v", big, "w", big, "x", big, "y", big, "z", big,
               (const char *)NULL);
}

static void test_log_lines(void **state)
{
    (void)state;
    char *text = capture_stderr(log_some);
    char *second = strchr(text, '\n');
    assert_non_null(second);
    *second++ = '\0';
    json_error_t je;
    json_t *a = json_loads(text, 0, &je);
    if (a == NULL)
        fail_msg("line 1 is not JSON: %s (%s)", text, je.text);
    assert_string_equal(json_string_value(json_object_get(a, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(a, "event")), "test_event");
    assert_string_equal(json_string_value(json_object_get(a, "quote")), "a\"b\\c\nd\x01");
    assert_null(json_object_get(a, "skip"));
    assert_string_equal(json_string_value(json_object_get(a, "bad")), "\xef\xbf\xbd\xef\xbf\xbd ok");
    const char *ts = json_string_value(json_object_get(a, "ts"));
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[23], 'Z');
    json_decref(a);
    char *end = strchr(second, '\n');
    assert_non_null(end);
    assert_string_equal(end + 1, ""); /* the debug line was not written */
    *end = '\0';
    assert_true(strlen(second) <= 4096);
    json_t *b = json_loads(second, 0, &je);
    if (b == NULL)
        fail_msg("line 2 is not JSON: %.200s (%s)", second, je.text);
    assert_true(json_is_true(json_object_get(b, "truncated")));
    assert_int_equal(strlen(json_string_value(json_object_get(b, "v"))), 1024);
    json_decref(b);
    free(text);
    enum intake_log_level lv;
    assert_int_equal(intake_log_level_parse("warn", &lv), 0);
    assert_int_equal(lv, INTAKE_LOG_WARN);
    assert_int_equal(intake_log_level_parse("loud", &lv), -1);
}

static intake_status *log_st;

static void status_changes(void)
{
    int p = intake_status_add(log_st, INTAKE_PART_SOURCE, "mbox", "imap");
    intake_status_set(log_st, p, "ok", NULL);
    intake_status_set(log_st, p, "ok", "again"); /* no change: no line */
    intake_status_set(log_st, p, "error", "connection refused");
    intake_status_set(log_st, 99, "error", "no such part");
}

static void test_status(void **state)
{
    (void)state;
    log_st = intake_status_new();
    assert_non_null(log_st);
    char *text = capture_stderr(status_changes);
    assert_non_null(strstr(text, "\"event\":\"part_state\",\"kind\":\"source\",\"name\":\"mbox\","
                                 "\"type\":\"imap\",\"state\":\"ok\""));
    assert_non_null(strstr(text, "\"level\":\"warn\",\"event\":\"part_state\",\"kind\":\"source\","
                                 "\"name\":\"mbox\",\"type\":\"imap\",\"state\":\"error\","
                                 "\"reason\":\"connection refused\""));
    int lines = 0;
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, 2);
    free(text);
    intake_status_error(log_st, 0);
    struct intake_part_status snap[4];
    assert_int_equal(intake_status_snapshot(log_st, snap, 4), 1);
    assert_string_equal(snap[0].state, "error");
    assert_string_equal(snap[0].reason, "connection refused");
    assert_int_equal(snap[0].errors, 1);
    assert_true(snap[0].since > 1e9);
    for (int i = 1; i < INTAKE_STATUS_MAX_PARTS; i++)
        assert_true(intake_status_add(log_st, INTAKE_PART_SINK, "s", "t") >= 0);
    assert_int_equal(intake_status_add(log_st, INTAKE_PART_SINK, "s", "t"), -1);
    /* A long reason is cut at a character boundary. */
    char reason[400];
    memset(reason, 'r', sizeof reason);
    memcpy(reason + INTAKE_STATUS_REASON_LEN - 2, "\xc3\xa9", 2);
    reason[sizeof reason - 1] = '\0';
    intake_status_set(log_st, 1, "starting", reason);
    struct intake_part_status *all = calloc(INTAKE_STATUS_MAX_PARTS, sizeof *all);
    assert_int_equal(intake_status_snapshot(log_st, all, INTAKE_STATUS_MAX_PARTS),
                     INTAKE_STATUS_MAX_PARTS);
    assert_int_equal(strlen(all[1].reason), INTAKE_STATUS_REASON_LEN - 2);
    free(all);
    intake_status_free(log_st);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_handler_failure),
        cmocka_unit_test(test_prefix_routes),
        cmocka_unit_test(test_route_api),
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_slow_handler_does_not_stall),
        cmocka_unit_test(test_slow_client_disconnected),
        cmocka_unit_test(test_per_ip_limit),
        cmocka_unit_test(test_max_inflight),
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_readyz_spool_unavailable),
        cmocka_unit_test(test_label_escape),
        cmocka_unit_test(test_metrics_render_without_spool),
        cmocka_unit_test(test_log_lines),
        cmocka_unit_test(test_status),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
