/*
 * A small HTTP client over libcurl, shared by the connectors that call vendors' APIs (the
 * social sources and the social actions sink) and by the http sink's helpers: one reused
 * easy handle, bounded time (connect and total timeouts), bounded memory (the body kept up
 * to a cap, the rest read and dropped; response headers kept up to a cap), TLS verified
 * (peer and host name) unless turned off, http and https only, no redirects. Nothing here
 * prints; error texts never carry a request body, a header value or a token.
 *
 * Threads: one client per thread. The program calls curl_global_init once at start.
 */
#ifndef INTAKE_HTTPC_H
#define INTAKE_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#define INTAKE_HTTPC_HEADERS_CAP (16 * 1024) /* response header bytes kept */

typedef struct intake_httpc intake_httpc;

struct intake_httpc_conf {
    long timeout;        /* seconds for a whole request (< 1: 30) */
    bool verify;         /* check the certificate and the host name */
    const char *ca_file; /* PEM bundle instead of the system's, or NULL; copied */
    size_t body_cap;     /* response bytes kept (0: 1 MiB) */
};

/* One request. Every pointer is borrowed for the call. */
struct intake_httpc_req {
    const char *method;          /* "GET" or "POST" */
    const char *url;
    const char *const *headers;  /* "Name: value" lines, nheaders of them */
    size_t nheaders;
    const char *body;            /* POST only; NULL sends an empty body */
    size_t body_len;
};

/* What came back. `body` points into the client (valid until its next request or free),
 * NUL-terminated; `truncated` says the body was longer than the cap. */
struct intake_httpc_resp {
    long status;         /* HTTP status, 0 when no response arrived */
    const char *body;
    size_t body_len;
    bool truncated;
    bool maybe_sent;     /* on a transfer failure: the server may have acted on it (a
                          * timeout or a reset after the request was written) */
    char error[160];     /* on a transfer failure: "timeout", libcurl's reason */
};

/* Makes a client. Returns it (the caller owns it: intake_httpc_free), or NULL with a
 * reason in err (errlen bytes). */
intake_httpc *intake_httpc_new(const struct intake_httpc_conf *conf, char *err,
                               size_t errlen);

/* Frees a client. NULL is allowed. */
void intake_httpc_free(intake_httpc *c);

/* Performs one request. Returns 0 when a response arrived (whatever its status), -1 on a
 * transfer failure (resp->error says why, resp->maybe_sent whether it may have reached
 * the server). resp is filled either way. */
int intake_httpc_do(intake_httpc *c, const struct intake_httpc_req *req,
                    struct intake_httpc_resp *resp);

/* The value of the last response's header `name` (case-insensitive; the first of several),
 * trimmed, copied into out (cap bytes, cut when longer). Returns out, or NULL when absent. */
const char *intake_httpc_header(const intake_httpc *c, const char *name, char *out,
                                size_t cap);

/* "Authorization: Bearer <token>": a new string the caller frees, NULL when out of memory
 * or when the token is empty or holds a line break. */
char *intake_http_bearer(const char *token);

/* Checks that url is an http:// or https:// URL. Returns 0, or -1 with a reason in err
 * (never quoting the URL, which may hold a token). */
int intake_http_check_url(const char *url, char *err, size_t errlen);

/* Seconds from a Retry-After value (delta seconds or an HTTP date), capped at a day; < 0
 * when empty or unusable. */
double intake_http_retry_after(const char *v);

/* Percent-encodes s into a new string the caller frees (NULL when out of memory). */
char *intake_http_escape(const char *s);

#endif
