/*
 * A small HTTP server on GNU libmicrohttpd (MHD) for webhooks, /healthz, /readyz and
 * /metrics. Modules register routes (method + exact path or path prefix, with a body
 * limit) before the server starts; a handler sees the whole request at once (method, path,
 * query and header lookup, raw body bytes, client address) and fills a response.
 *
 * What the server answers by itself, without calling a handler:
 *   404 no route has the path;  405 (with Allow) the path exists for other methods only;
 *   413 the Content-Length is over the route's max_body (answered before the body is read)
 *       or a body without a length (chunked) grows over it (buffering stops at max_body,
 *       the rest is read and dropped, and 413 is answered at the end; the request
 *       deadline below bounds how long a body may keep coming);
 *   400 an unreadable Content-Length;  500 a handler failed (returned -1);
 *   503 (Retry-After: 1) the body is in but max_inflight handlers are already running
 *       (intake_httpd_set_max_inflight); the handler is not called and nothing is logged.
 *       Routes added with INTAKE_HTTP_UNLIMITED (the daemon's /healthz, a constant answer,
 *       so that a liveness probe does not fail a server that is merely busy) neither take
 *       a slot nor are refused; /readyz and /metrics read the spool and do count.
 * A route for GET also answers HEAD (MHD leaves the body out).
 *
 * Threads: MHD_USE_THREAD_PER_CONNECTION with an internal listening thread. A handler may
 * block (a webhook's spool commit waits on SQLite's busy timeout): it only holds up its own
 * connection, never the others, which a thread pool (MHD_OPTION_THREAD_POOL_SIZE) would do
 * to every connection sharing the blocked worker. The cost, one thread per open connection,
 * is bounded by max_connections. Handlers therefore run on many threads at once: a handler
 * and its `ud` must be thread-safe (a spool handle, one per thread, is opened per request).
 *
 * Timeouts: connection_timeout is MHD's idle timeout (MHD_OPTION_CONNECTION_TIMEOUT) and
 * also a whole-request deadline kept by a watchdog thread: a request's headers and body must
 * all arrive within connection_timeout seconds of the connection opening or of the previous
 * response on it, or the socket is shut down. (MHD's timeout alone only counts silence, so a
 * client trickling a byte a second would hold a connection for ever.) Handlers are not under
 * that deadline.
 *
 * Privacy: the server never logs request bodies, header values, query values, paths or
 * client addresses. MHD's own error messages go to intake_log ("http_library") as their
 * fixed format text, without the arguments, which can carry request data (the one
 * exception, MHD 0.9.75's bare "%s" carrying MHD's own literal texts, is in httpd.c).
 */
#ifndef INTAKE_HTTPD_H
#define INTAKE_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "intake/normalise.h" /* intake_buf */

#define INTAKE_HTTP_MAX_ROUTES 64
#define INTAKE_HTTP_MAX_HEADERS 8          /* extra response headers per response */
#define INTAKE_HTTP_BUSY_RETRY "1"          /* Retry-After seconds of the in-flight 503 */

typedef struct intake_httpd intake_httpd;

/* One request as a handler sees it. Every pointer is borrowed and valid only during the
 * handler call. */
struct intake_http_request {
    const char *method;     /* "GET", "POST", ... */
    const char *path;       /* the URL path, without the query string */
    const char *route_path; /* the path the route was registered with (its prefix) */
    const char *body;       /* the raw body; NUL-terminated for convenience, but it may
                             * hold NUL bytes: use body_len. "" when there is none. */
    size_t body_len;
    const char *client;     /* the client's numeric address ("127.0.0.1", "::1"), "" when
                             * unknown. Personal data: never log it. */
    void *priv;             /* the server's; do not touch */
};

/* A query argument's value (percent-decoded), or NULL when absent. A key given without a
 * value ("?flag") yields NULL too. Borrowed for the handler call. */
const char *intake_http_query(const struct intake_http_request *req, const char *name);

/* A request header's value (name compared without regard to case), or NULL. Borrowed for
 * the handler call. */
const char *intake_http_header(const struct intake_http_request *req, const char *name);

/* The response a handler fills. The server sets status 200, content type
 * "text/plain; charset=utf-8", an empty body and no Retry-After before calling it. */
struct intake_http_response {
    int status;
    char content_type[96];
    intake_buf body;  /* owned by the server: append to it, do not free it */
    long retry_after; /* seconds for a Retry-After header; < 0 for none */
    size_t nheaders;
    struct {
        char *name, *value; /* owned by the server (copies) */
    } headers[INTAKE_HTTP_MAX_HEADERS];
};

/* Adds a response header (copied). Returns 0, or -1 when the header table is full, memory
 * runs out, or name or value is empty/NULL or holds a CR, LF or (name) ':' or space. */
int intake_http_response_header(struct intake_http_response *resp, const char *name,
                                const char *value);

/* Sets the status and content type and replaces the body with `n` bytes of `body`
 * (borrowed). content_type NULL keeps the current one. Returns 0, or -1 when memory runs
 * out or the content type does not fit. */
int intake_http_respond(struct intake_http_response *resp, int status,
                        const char *content_type, const char *body, size_t n);

/* A handler. Runs on an MHD connection thread once the whole body has arrived; may block
 * (only its own connection waits). Returns 0 when `resp` is the answer, -1 to have the
 * server answer 500 instead (the body the handler wrote is then dropped). */
typedef int (*intake_http_handler)(void *ud, const struct intake_http_request *req,
                                   struct intake_http_response *resp);

/* Route flags. */
#define INTAKE_HTTP_EXACT 0u
#define INTAKE_HTTP_PREFIX 1u    /* `path` matches itself and every path below "path/" */
#define INTAKE_HTTP_UNLIMITED 2u /* exempt from max_inflight (cheap handlers only) */

/* Makes a server with no routes; NULL when memory runs out. The caller owns it (free with
 * intake_httpd_free). */
intake_httpd *intake_httpd_new(void);

/* Adds a route: `method` (e.g. "POST"; a GET route also takes HEAD) and `path` (starting
 * with '/'; exact, or a prefix with INTAKE_HTTP_PREFIX) go to `fn(ud, ...)`, with bodies
 * of at most max_body bytes (0: no body allowed). The longest matching path wins; an exact
 * route beats a prefix route of the same path; flags may add INTAKE_HTTP_UNLIMITED (not
 * part of the route's identity). method and path are copied; ud is borrowed
 * and must outlive the server. Only before intake_httpd_start. Returns 0, or -1 when the
 * server is running, an argument is bad, the same method+path+flags is already routed,
 * the table is full (INTAKE_HTTP_MAX_ROUTES) or memory runs out. */
int intake_httpd_route(intake_httpd *h, const char *method, const char *path, unsigned flags,
                       size_t max_body, intake_http_handler fn, void *ud);

/* Starts listening on `listen`: "host:port" (a name or an IPv4 address), "[v6addr]:port",
 * "*:port" or ":port" (every IPv4 address) or "[::]:port" (every IPv6 and IPv4 address);
 * port 0 picks a free port (see intake_httpd_port). connection_timeout
 * (seconds, >= 1) as described above; per_ip_limit: concurrent connections from one
 * address (0 = no limit); max_connections: concurrent connections in all (>= 1).
 * Returns 0, or -1 with a reason (no request data) written to err (errlen bytes; err may
 * be NULL) when the address is bad, the server already runs, or MHD cannot start. */
int intake_httpd_start(intake_httpd *h, const char *listen, unsigned connection_timeout,
                       unsigned per_ip_limit, unsigned max_connections, char *err,
                       size_t errlen);

/* Bounds the handlers running at once across the server to max_inflight (0, the default
 * of a new server: no limit); requests over it are answered 503 as described above. A
 * slot is held only while the handler runs, not while a body arrives or a response is
 * sent. Only before intake_httpd_start. Returns 0, or -1 when h is NULL or running. */
int intake_httpd_set_max_inflight(intake_httpd *h, unsigned max_inflight);

/* The TCP port the running server is bound to (useful after listening on port 0), or 0
 * when it is not running. */
unsigned intake_httpd_port(const intake_httpd *h);

/* Stops the server: stops accepting (MHD_quiesce_daemon), waits up to connection_timeout
 * seconds for requests whose handler is running or whose response is being sent to
 * finish, then stops MHD (MHD_stop_daemon closes what is left). Safe to call when not
 * running. Routes stay; the server may be started again. */
void intake_httpd_stop(intake_httpd *h);

/* Stops the server when running and frees it. NULL is allowed. */
void intake_httpd_free(intake_httpd *h);

#endif
