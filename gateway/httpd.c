/* A small HTTP server on GNU libmicrohttpd: see include/intake/httpd.h.
 *
 * One request goes through the access handler three ways (libraries.md): the first call
 * (headers parsed, *req_cls NULL) picks the route and checks the method and
 * Content-Length, answering 404/405/413/400 at once; body calls append to a buffer capped
 * at the route's max_body, counting every byte (chunked bodies have no length); the final
 * call (*upload_data_size 0) runs the handler and queues a copy of its response. The
 * per-request state lives in *req_cls and is freed in the completed callback, which MHD
 * also runs for timeouts and aborts.
 *
 * Per connection (socket context, MHD_OPTION_NOTIFY_CONNECTION) the server keeps the
 * socket and a deadline; a watchdog thread shuts down the sockets of connections whose
 * request has not fully arrived in time. The socket context is unlinked under the same
 * mutex before MHD closes the socket, so the watchdog never touches a reused descriptor.
 */
#include "intake/httpd.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "intake/log.h"

#define WATCHDOG_TICK_MS 100

struct route {
    char *method;
    char *path;
    size_t path_len;
    unsigned flags;
    size_t max_body;
    intake_http_handler fn;
    void *ud;
};

/* One open connection (MHD's socket context). Guarded by intake_httpd.lock. */
struct conn {
    struct conn *prev, *next;
    MHD_socket fd;
    bool busy;       /* a handler runs or a response is queued: no deadline */
    bool killed;     /* the watchdog shut the socket down */
    double deadline; /* monotonic seconds by which the current request must have arrived */
};

/* One request (*req_cls). */
struct req {
    const struct route *route;
    struct conn *conn; /* NULL when the connection could not be tracked */
    intake_buf body;
    size_t received; /* body bytes seen, kept or not */
    bool too_big;
};

struct intake_httpd {
    struct route routes[INTAKE_HTTP_MAX_ROUTES];
    size_t nroutes;
    struct MHD_Daemon *daemon;
    unsigned timeout;
    unsigned port;
    unsigned max_inflight; /* handlers running at once (0: no limit) */
    atomic_uint inflight;  /* handlers of limited routes running now */

    pthread_mutex_t lock; /* conns, busy flags, watchdog_stop */
    pthread_cond_t cond;  /* watchdog wake-up; busy requests finishing */
    struct conn *conns;
    pthread_t watchdog;
    bool watchdog_running;
    bool watchdog_stop;
};

/* ---- small helpers ---- */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

/* A monotonic-clock absolute time `ms` milliseconds from now, for pthread_cond_timedwait
 * on a condition variable made with CLOCK_MONOTONIC. */
static struct timespec mono_after_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* ---- routes ---- */

static bool method_matches(const struct route *r, const char *method)
{
    return strcmp(r->method, method) == 0 ||
           (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* How well a route's path fits url: 0 no match, else higher is better (longer paths win,
 * and an exact route beats a prefix route of the same path). */
static size_t path_score(const struct route *r, const char *url)
{
    if (!(r->flags & INTAKE_HTTP_PREFIX))
        return strcmp(r->path, url) == 0 ? 2 * r->path_len + 1 : 0;
    if (strncmp(r->path, url, r->path_len) != 0)
        return 0;
    char next = url[r->path_len];
    if (next == '\0' || next == '/' || r->path[r->path_len - 1] == '/')
        return 2 * r->path_len;
    return 0;
}

/* The best route for url and method, or NULL. *path_known tells whether any route (of any
 * method) matches the path. */
static const struct route *find_route(const intake_httpd *h, const char *url,
                                      const char *method, bool *path_known)
{
    const struct route *best = NULL;
    size_t best_score = 0;
    *path_known = false;
    for (size_t i = 0; i < h->nroutes; i++) {
        size_t s = path_score(&h->routes[i], url);
        if (s == 0)
            continue;
        *path_known = true;
        if (method_matches(&h->routes[i], method) && s > best_score) {
            best = &h->routes[i];
            best_score = s;
        }
    }
    return best;
}

/* Builds "GET, HEAD, POST" from the routes that match url. */
static void allow_header(const intake_httpd *h, const char *url, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < h->nroutes; i++) {
        const struct route *r = &h->routes[i];
        if (path_score(r, url) == 0 || strstr(out, r->method) != NULL)
            continue;
        bool get = strcmp(r->method, "GET") == 0;
        int n = snprintf(out + len, outlen - len, "%s%s%s", len ? ", " : "", r->method,
                         get ? ", HEAD" : "");
        if (n < 0 || (size_t)n >= outlen - len)
            break;
        len += (size_t)n;
    }
}

static bool token_ok(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 32)
        return false;
    for (; *s; s++) {
        if (*s < 'A' || *s > 'Z')
            return false;
    }
    return true;
}

intake_httpd *intake_httpd_new(void)
{
    intake_httpd *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        free(h);
        return NULL;
    }
    atomic_init(&h->inflight, 0u);
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        pthread_cond_destroy(&h->cond);
        free(h);
        return NULL;
    }
    return h;
}

static bool route_exists(const intake_httpd *h, const char *method, const char *path,
                         unsigned flags)
{
    for (size_t i = 0; i < h->nroutes; i++) {
        const struct route *r = &h->routes[i];
        if (strcmp(r->method, method) == 0 && strcmp(r->path, path) == 0 &&
            (r->flags & INTAKE_HTTP_PREFIX) == (flags & INTAKE_HTTP_PREFIX))
            return true;
    }
    return false;
}

int intake_httpd_route(intake_httpd *h, const char *method, const char *path, unsigned flags,
                       size_t max_body, intake_http_handler fn, void *ud)
{
    if (h == NULL || h->daemon != NULL || fn == NULL || !token_ok(method) || path == NULL ||
        path[0] != '/' || (flags & ~(INTAKE_HTTP_PREFIX | INTAKE_HTTP_UNLIMITED)) != 0 ||
        h->nroutes >= INTAKE_HTTP_MAX_ROUTES || route_exists(h, method, path, flags))
        return -1;
    struct route *r = &h->routes[h->nroutes];
    r->method = strdup(method);
    r->path = strdup(path);
    if (r->method == NULL || r->path == NULL) {
        free(r->method);
        free(r->path);
        return -1;
    }
    r->path_len = strlen(path);
    r->flags = flags;
    r->max_body = max_body;
    r->fn = fn;
    r->ud = ud;
    h->nroutes++;
    return 0;
}

/* ---- requests and responses ---- */

const char *intake_http_query(const struct intake_http_request *req, const char *name)
{
    if (req == NULL || req->priv == NULL || name == NULL)
        return NULL;
    return MHD_lookup_connection_value(req->priv, MHD_GET_ARGUMENT_KIND, name);
}

const char *intake_http_header(const struct intake_http_request *req, const char *name)
{
    if (req == NULL || req->priv == NULL || name == NULL)
        return NULL;
    return MHD_lookup_connection_value(req->priv, MHD_HEADER_KIND, name);
}

static bool header_text_ok(const char *s, bool is_name)
{
    if (s == NULL || (is_name && *s == '\0'))
        return false;
    for (; *s; s++) {
        if (*s == '\r' || *s == '\n' || (is_name && (*s == ':' || *s == ' ')))
            return false;
    }
    return true;
}

int intake_http_response_header(struct intake_http_response *resp, const char *name,
                                const char *value)
{
    if (resp == NULL || resp->nheaders >= INTAKE_HTTP_MAX_HEADERS ||
        !header_text_ok(name, true) || !header_text_ok(value, false) || *value == '\0')
        return -1;
    char *n = strdup(name);
    char *v = strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return -1;
    }
    resp->headers[resp->nheaders].name = n;
    resp->headers[resp->nheaders].value = v;
    resp->nheaders++;
    return 0;
}

int intake_http_respond(struct intake_http_response *resp, int status,
                        const char *content_type, const char *body, size_t n)
{
    if (resp == NULL)
        return -1;
    if (content_type != NULL) {
        if (strlen(content_type) >= sizeof resp->content_type ||
            !header_text_ok(content_type, false))
            return -1;
        strcpy(resp->content_type, content_type);
    }
    resp->status = status;
    resp->body.len = 0;
    return intake_buf_append(&resp->body, body != NULL ? body : "", body != NULL ? n : 0);
}

static void response_init(struct intake_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->status = 200;
    strcpy(resp->content_type, "text/plain; charset=utf-8");
    resp->retry_after = -1;
}

static void response_clear(struct intake_http_response *resp)
{
    intake_buf_free(&resp->body);
    for (size_t i = 0; i < resp->nheaders; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    resp->nheaders = 0;
}

/* Marks the request's connection busy (no deadline) while a response is on its way. */
static void conn_set_busy(intake_httpd *h, struct conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    c->busy = true;
    pthread_mutex_unlock(&h->lock);
}

/* Queues a short text answer made by the server itself. */
static enum MHD_Result queue_plain(struct MHD_Connection *c, unsigned status, const char *text,
                                   const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    enum MHD_Result ok =
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (ok == MHD_YES && allow != NULL)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Queues the answer for a request over the in-flight limit: 503 with Retry-After. */
static enum MHD_Result queue_busy(struct MHD_Connection *c)
{
    static const char text[] = "server busy, retry later\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof text - 1, (void *)text,
                                                             MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    enum MHD_Result ok =
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (ok == MHD_YES)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, INTAKE_HTTP_BUSY_RETRY);
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    return ok;
}

/* Takes an in-flight slot for a handler of `r`. Returns false when the server is at
 * max_inflight (nothing taken). Routes with INTAKE_HTTP_UNLIMITED take no slot. */
static bool inflight_enter(intake_httpd *h, const struct route *r)
{
    if (h->max_inflight == 0 || (r->flags & INTAKE_HTTP_UNLIMITED))
        return true;
    unsigned now = atomic_load(&h->inflight);
    do {
        if (now >= h->max_inflight)
            return false;
    } while (!atomic_compare_exchange_weak(&h->inflight, &now, now + 1));
    return true;
}

static void inflight_leave(intake_httpd *h, const struct route *r)
{
    if (h->max_inflight != 0 && !(r->flags & INTAKE_HTTP_UNLIMITED))
        atomic_fetch_sub(&h->inflight, 1);
}

/* Parses a Content-Length value. Returns 0 with *out, or -1 when it is not a plain
 * decimal number that fits. */
static int parse_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* Checks the declared length against the route. Returns 0 to go on, else the status to
 * answer with. */
static unsigned check_length(struct MHD_Connection *c, struct req *rq)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t len;
    if (cl == NULL)
        return 0;
    if (parse_length(cl, &len) != 0)
        return MHD_HTTP_BAD_REQUEST;
    if (len > rq->route->max_body)
        return MHD_HTTP_CONTENT_TOO_LARGE;
    if (len > 0 && intake_buf_reserve(&rq->body, (size_t)len) != 0)
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    return 0;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* The first call: headers are in. Answers at once when the request cannot be taken. */
static enum MHD_Result first_call(intake_httpd *h, struct MHD_Connection *c, const char *url,
                                  const char *method, void **req_cls)
{
    struct req *rq = calloc(1, sizeof *rq);
    if (rq == NULL)
        return MHD_NO;
    *req_cls = rq;
    rq->conn = conn_of(c);
    bool path_known;
    rq->route = find_route(h, url, method, &path_known);
    unsigned status = 0;
    const char *text = NULL;
    char allow[128] = "";
    if (rq->route == NULL && !path_known) {
        status = MHD_HTTP_NOT_FOUND, text = "not found\n";
    } else if (rq->route == NULL) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED, text = "method not allowed\n";
        allow_header(h, url, allow, sizeof allow);
    } else if ((status = check_length(c, rq)) != 0) {
        text = status == MHD_HTTP_CONTENT_TOO_LARGE ? "payload too large\n"
             : status == MHD_HTTP_BAD_REQUEST      ? "bad content-length\n"
                                                   : "out of memory\n";
    }
    if (status == 0)
        return MHD_YES;
    rq->route = NULL; /* no body and no handler for this request */
    conn_set_busy(h, rq->conn);
    return queue_plain(c, status, text, allow[0] ? allow : NULL);
}

/* A body chunk: keep it while within max_body, count it always. Past the limit the bytes
 * are read and dropped, so that the client gets its 413 at the end (libmicrohttpd 0.9.75
 * cannot answer in the middle of an upload); the request deadline bounds how long. */
static enum MHD_Result body_call(struct req *rq, const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    rq->received = n > SIZE_MAX - rq->received ? SIZE_MAX : rq->received + n;
    if (rq->route == NULL)
        return MHD_YES;
    size_t max = rq->route->max_body;
    if (!rq->too_big && rq->received > max) {
        rq->too_big = true;
        intake_buf_free(&rq->body);
    }
    if (!rq->too_big)
        return intake_buf_append(&rq->body, data, n) == 0 ? MHD_YES : MHD_NO;
    return MHD_YES;
}

static void client_text(struct MHD_Connection *c, char *out, size_t outlen)
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, out, (socklen_t)outlen, NULL, 0, NI_NUMERICHOST) != 0)
        out[0] = '\0';
}

/* Builds the MHD response from what the handler filled. NULL when a header is refused
 * or memory runs out. */
static struct MHD_Response *build_response(const struct intake_http_response *resp)
{
    const char *data = resp->body.data != NULL ? resp->body.data : "";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(resp->body.len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return NULL;
    bool ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type) ==
              MHD_YES;
    if (ok && resp->retry_after >= 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", resp->retry_after);
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra) == MHD_YES;
    }
    for (size_t i = 0; ok && i < resp->nheaders; i++)
        ok = MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value) ==
             MHD_YES;
    if (!ok) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

/* The final call: the whole body is in. Runs the handler and queues its answer. */
static enum MHD_Result final_call(intake_httpd *h, struct MHD_Connection *c, struct req *rq,
                                  const char *url, const char *method)
{
    conn_set_busy(h, rq->conn);
    if (rq->route == NULL)
        return queue_plain(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", NULL);
    if (rq->too_big)
        return queue_plain(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload too large\n", NULL);
    if (!inflight_enter(h, rq->route))
        return queue_busy(c); /* nothing logged: a flood would fill the log */
    char client[64];
    client_text(c, client, sizeof client);
    struct intake_http_request in = {
        .method = method,
        .path = url,
        .route_path = rq->route->path,
        .body = rq->body.data != NULL ? rq->body.data : "",
        .body_len = rq->body.len,
        .client = client,
        .priv = c,
    };
    struct intake_http_response out;
    response_init(&out);
    int rc = rq->route->fn(rq->route->ud, &in, &out);
    inflight_leave(h, rq->route);
    struct MHD_Response *r = rc == 0 ? build_response(&out) : NULL;
    unsigned status = out.status >= 100 && out.status <= 999 ? (unsigned)out.status : 500;
    response_clear(&out);
    if (r == NULL) {
        intake_log(INTAKE_LOG_WARN, "http_handler_failed", "route", rq->route->path,
                   (const char *)NULL);
        return queue_plain(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", NULL);
    }
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    intake_httpd *h = cls;
    struct req *rq = *req_cls;
    if (rq == NULL)
        return first_call(h, c, url, method, req_cls);
    if (*upload_data_size > 0)
        return body_call(rq, upload_data, upload_data_size);
    return final_call(h, c, rq, url, method);
}

/* The request is over (answered, timed out or aborted): free it and start the
 * connection's next deadline. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    intake_httpd *h = cls;
    struct req *rq = *req_cls;
    if (rq == NULL)
        return;
    *req_cls = NULL;
    if (rq->conn != NULL) {
        pthread_mutex_lock(&h->lock);
        rq->conn->busy = false;
        rq->conn->deadline = mono_now() + h->timeout;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
    }
    intake_buf_free(&rq->body);
    free(rq);
}

/* ---- connections and the watchdog ---- */

static void conn_opened(intake_httpd *h, struct MHD_Connection *c, void **socket_context)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct conn *k = ci != NULL ? calloc(1, sizeof *k) : NULL;
    *socket_context = k;
    if (k == NULL)
        return; /* untracked: MHD's idle timeout still applies */
    k->fd = ci->connect_fd;
    pthread_mutex_lock(&h->lock);
    k->deadline = mono_now() + h->timeout;
    k->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = k;
    h->conns = k;
    pthread_mutex_unlock(&h->lock);
}

static void conn_closed(intake_httpd *h, void **socket_context)
{
    struct conn *k = *socket_context;
    if (k == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        h->conns = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    *socket_context = NULL;
    free(k);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        conn_opened(cls, c, socket_context);
    else
        conn_closed(cls, socket_context);
}

/* Shuts down the sockets of connections past their deadline. Called with the lock held. */
static void expire_connections(intake_httpd *h)
{
    double now = mono_now();
    for (struct conn *k = h->conns; k != NULL; k = k->next) {
        if (k->busy || k->killed || now < k->deadline)
            continue;
        k->killed = true;
        shutdown(k->fd, SHUT_RDWR); /* MHD sees end of stream and closes it */
        intake_log(INTAKE_LOG_INFO, "http_request_timeout", (const char *)NULL);
    }
}

static void *watchdog_main(void *arg)
{
    intake_httpd *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->watchdog_stop) {
        expire_connections(h);
        struct timespec until = mono_after_ms(WATCHDOG_TICK_MS);
        pthread_cond_timedwait(&h->cond, &h->lock, &until);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void watchdog_stop(intake_httpd *h)
{
    if (!h->watchdog_running)
        return;
    pthread_mutex_lock(&h->lock);
    h->watchdog_stop = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->watchdog, NULL);
    h->watchdog_running = false;
}

/* MHD's messages: only the fixed format text is kept; its arguments can hold request
 * data (header names, addresses), so they are never formatted. One exception: in MHD
 * 0.9.75 (checked in its connection.c) a bare "%s\n" only ever carries one of MHD's own
 * literal messages ("Closing connection (out of memory)." and the like), so for that
 * version the text is taken; other versions keep the bare template. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    const char *text = fmt;
#if MHD_VERSION == 0x00097500
    if (strcmp(fmt, "%s\n") == 0) {
        text = va_arg(ap, const char *);
        if (text == NULL)
            text = fmt;
    }
#else
    (void)ap;
#endif
    char msg[200];
    int n = (int)strcspn(text, "\n");
    snprintf(msg, sizeof msg, "%.*s", n, text);
    intake_log(INTAKE_LOG_WARN, "http_library", "message", msg, (const char *)NULL);
}

/* ---- start and stop ---- */

/* Splits "host:port" / "[v6]:port" and resolves it. Returns 0 with *out (freeaddrinfo). */
static int resolve_listen(const char *listen, struct addrinfo **out, char *err, size_t errlen)
{
    char host[256];
    const char *colon = listen != NULL ? strrchr(listen, ':') : NULL;
    if (colon == NULL || colon[1] == '\0' || (size_t)(colon - listen) >= sizeof host) {
        set_err(err, errlen, "listen address must be host:port");
        return -1;
    }
    size_t hl = (size_t)(colon - listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *h = host;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        h = host + 1;
    }
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    if (*h == '\0' || strcmp(h, "*") == 0) {
        h = NULL; /* every IPv4 address; "[::]:port" asks for IPv6 and IPv4 */
        hints.ai_family = AF_INET;
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(h, colon + 1, &hints, out);
    if (rc != 0) {
        set_err(err, errlen, "listen address cannot be resolved");
        return -1;
    }
    return 0;
}

static struct MHD_Daemon *start_daemon(intake_httpd *h, const struct addrinfo *ai,
                                       unsigned per_ip_limit, unsigned max_connections)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) {
        const struct sockaddr_in6 *sa6 = (const struct sockaddr_in6 *)ai->ai_addr;
        bool any = memcmp(&sa6->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0;
        flags |= any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    }
    return MHD_start_daemon(
        flags, (uint16_t)0, NULL, NULL, &on_request, (void *)h,
        MHD_OPTION_EXTERNAL_LOGGER, (MHD_LogCallback)&on_mhd_log, (void *)h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)ai->ai_addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)h->timeout,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)per_ip_limit,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)max_connections,
        MHD_OPTION_NOTIFY_COMPLETED, (MHD_RequestCompletedCallback)&on_completed, (void *)h,
        MHD_OPTION_NOTIFY_CONNECTION, (MHD_NotifyConnectionCallback)&on_connection, (void *)h,
        MHD_OPTION_END);
}

static int watchdog_start(intake_httpd *h)
{
    h->watchdog_stop = false;
    if (pthread_create(&h->watchdog, NULL, watchdog_main, h) != 0)
        return -1;
    h->watchdog_running = true;
    return 0;
}

int intake_httpd_start(intake_httpd *h, const char *listen, unsigned connection_timeout,
                       unsigned per_ip_limit, unsigned max_connections, char *err,
                       size_t errlen)
{
    if (h == NULL || h->daemon != NULL || connection_timeout == 0 || max_connections == 0) {
        set_err(err, errlen, "bad http server settings");
        return -1;
    }
    struct addrinfo *ai;
    if (resolve_listen(listen, &ai, err, errlen) != 0)
        return -1;
    h->timeout = connection_timeout;
    if (watchdog_start(h) != 0) {
        freeaddrinfo(ai);
        set_err(err, errlen, "cannot start the http watchdog thread");
        return -1;
    }
    h->daemon = start_daemon(h, ai, per_ip_limit, max_connections);
    freeaddrinfo(ai);
    if (h->daemon == NULL) {
        watchdog_stop(h);
        set_err(err, errlen, "cannot start the http server (address in use or not local?)");
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di != NULL ? di->port : 0;
    return 0;
}

int intake_httpd_set_max_inflight(intake_httpd *h, unsigned max_inflight)
{
    if (h == NULL || h->daemon != NULL)
        return -1;
    h->max_inflight = max_inflight;
    return 0;
}

unsigned intake_httpd_port(const intake_httpd *h)
{
    return h != NULL && h->daemon != NULL ? h->port : 0;
}

static bool any_busy(const intake_httpd *h)
{
    for (const struct conn *k = h->conns; k != NULL; k = k->next) {
        if (k->busy)
            return true;
    }
    return false;
}

/* Waits up to the connection timeout for running handlers and responses to finish. */
static void drain(intake_httpd *h)
{
    double until = mono_now() + h->timeout;
    pthread_mutex_lock(&h->lock);
    while (any_busy(h) && mono_now() < until) {
        struct timespec ts = mono_after_ms(50);
        pthread_cond_timedwait(&h->cond, &h->lock, &ts);
    }
    pthread_mutex_unlock(&h->lock);
}

void intake_httpd_stop(intake_httpd *h)
{
    if (h == NULL || h->daemon == NULL)
        return;
    MHD_socket lfd = MHD_quiesce_daemon(h->daemon);
    drain(h);
    MHD_stop_daemon(h->daemon);
    h->daemon = NULL;
    h->port = 0;
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    watchdog_stop(h);
}

void intake_httpd_free(intake_httpd *h)
{
    if (h == NULL)
        return;
    intake_httpd_stop(h);
    for (size_t i = 0; i < h->nroutes; i++) {
        free(h->routes[i].method);
        free(h->routes[i].path);
    }
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
