/*
 * The IMAP source's network link (see imap_stream.h). The socket is non-blocking; every
 * read, write, connect and handshake waits with poll() in short slices, so that a stop is
 * seen within half a second and no wait outlasts the configured timeout.
 */
#include "imap_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SLICE_MS 500
#define STREAM_BUFFER 8192

/* One connection: owned by the mailstream_low that carries it. */
struct link {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl; /* NULL until TLS starts */
    int timeout_ms;
    bool (*stopping)(void *ud);
    void *ud;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Polls fd for `events` for up to `ms` (in slices, checking for a stop). Returns 1 ready,
 * 0 timed out, -1 on error or stop. */
static int wait_fd(const struct link *l, short events, double ms)
{
    double end = now_ms() + ms;
    for (;;) {
        if (l->stopping && l->stopping(l->ud))
            return -1;
        double left = end - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {l->fd, events, 0};
        int r = poll(&p, 1, left < SLICE_MS ? (int)left + 1 : SLICE_MS);
        if (r > 0)
            return (p.revents & (events | POLLHUP | POLLERR)) ? 1 : 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* What one non-blocking I/O call asked for: 0 done (n set), or the events to wait for. */
static short io_wants(const struct link *l, ssize_t r, bool *failed)
{
    *failed = false;
    if (l->ssl) {
        int e = SSL_get_error(l->ssl, (int)r);
        if (e == SSL_ERROR_WANT_READ)
            return POLLIN;
        if (e == SSL_ERROR_WANT_WRITE)
            return POLLOUT;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        return POLLIN | POLLOUT;
    }
    *failed = true;
    return 0;
}

static ssize_t link_read(mailstream_low *s, void *buf, size_t count)
{
    struct link *l = s->data;
    int n = count > 65536 ? 65536 : (int)count;
    for (;;) {
        ssize_t r = l->ssl ? SSL_read(l->ssl, buf, n) : recv(l->fd, buf, (size_t)n, 0);
        if (r > 0)
            return r;
        if (r == 0 && !l->ssl)
            return 0;
        if (l->ssl && SSL_get_error(l->ssl, (int)r) == SSL_ERROR_ZERO_RETURN)
            return 0;
        bool failed;
        short ev = io_wants(l, r, &failed);
        if (failed)
            return -1;
        if (!l->ssl)
            ev = POLLIN;
        if (wait_fd(l, ev, l->timeout_ms) <= 0)
            return -1;
    }
}

static ssize_t link_write(mailstream_low *s, const void *buf, size_t count)
{
    struct link *l = s->data;
    int n = count > 65536 ? 65536 : (int)count;
    for (;;) {
        ssize_t r = l->ssl ? SSL_write(l->ssl, buf, n)
                           : send(l->fd, buf, (size_t)n, MSG_NOSIGNAL);
        if (r > 0)
            return r;
        bool failed;
        short ev = io_wants(l, r, &failed);
        if (failed)
            return -1;
        if (!l->ssl)
            ev = POLLOUT;
        if (wait_fd(l, ev, l->timeout_ms) <= 0)
            return -1;
    }
}

static int link_close(mailstream_low *s)
{
    struct link *l = s->data;
    if (l->ssl)
        SSL_shutdown(l->ssl); /* best effort: non-blocking, the answer is not awaited */
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    return 0;
}

static int link_get_fd(mailstream_low *s)
{
    return ((struct link *)s->data)->fd;
}

static void link_destroy(struct link *l)
{
    if (l->fd >= 0)
        close(l->fd);
    SSL_free(l->ssl);
    SSL_CTX_free(l->ctx);
    free(l);
}

/* libetpan's contract: the driver frees its data and the mailstream_low itself. */
static void link_free(mailstream_low *s)
{
    link_destroy(s->data);
    free(s);
}

static void link_cancel(mailstream_low *s)
{
    struct link *l = s->data;
    if (l->fd >= 0)
        shutdown(l->fd, SHUT_RDWR);
}

static struct mailstream_cancel *link_get_cancel(mailstream_low *s)
{
    (void)s;
    return NULL;
}

static carray *link_chain(mailstream_low *s)
{
    (void)s;
    return NULL;
}

static int link_idle_unsupported(mailstream_low *s)
{
    (void)s;
    return -1;
}

static mailstream_low_driver link_driver = {
    link_read,  link_write,       link_close, link_get_fd,          link_free,
    link_cancel, link_get_cancel, link_chain, link_idle_unsupported, link_idle_unsupported,
    link_idle_unsupported,
};

/* Opens a non-blocking TCP connection to host:port within the timeout. Returns the fd, or
 * -1 with a reason. */
static int tcp_connect(struct link *l, const char *host, unsigned port, char *err,
                       size_t errlen)
{
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve the server: %s", gai_strerror(gai));
        return -1;
    }
    snprintf(err, errlen, "cannot connect to the server");
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        l->fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       a->ai_protocol);
        if (l->fd < 0)
            continue;
        int r = connect(l->fd, a->ai_addr, a->ai_addrlen);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (r < 0 && errno == EINPROGRESS && wait_fd(l, POLLOUT, l->timeout_ms) == 1 &&
            getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
            r = 0;
        if (r == 0)
            break;
        snprintf(err, errlen, "cannot connect to the server: %s",
                 soerr ? strerror(soerr) : "timed out or refused");
        close(l->fd);
        l->fd = -1;
    }
    freeaddrinfo(res);
    return l->fd;
}

/* The context: TLS 1.2 or later, peer verification against ca_file or the system CAs. */
static int tls_context(struct link *l, const struct imap_link_opts *o, char *err,
                       size_t errlen)
{
    l->ctx = SSL_CTX_new(TLS_client_method());
    if (!l->ctx || !SSL_CTX_set_min_proto_version(l->ctx, TLS1_2_VERSION)) {
        snprintf(err, errlen, "cannot make a TLS context");
        return -1;
    }
    SSL_CTX_set_mode(l->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!o->verify)
        return 0;
    SSL_CTX_set_verify(l->ctx, SSL_VERIFY_PEER, NULL);
    int ok = o->ca_file ? SSL_CTX_load_verify_locations(l->ctx, o->ca_file, NULL)
                        : SSL_CTX_set_default_verify_paths(l->ctx);
    if (!ok) {
        snprintf(err, errlen, "cannot load the CA certificates%s",
                 o->ca_file ? " of ca_file" : "");
        return -1;
    }
    return 0;
}

/* Binds the expected name (DNS name or IP address) and SNI to the connection. */
static int tls_expect_host(SSL *ssl, const char *host, bool verify)
{
    unsigned char ip[16];
    bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (!literal && !SSL_set_tlsext_host_name(ssl, host))
        return -1;
    if (!verify)
        return 0;
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return literal ? (X509_VERIFY_PARAM_set1_ip_asc(vp, host) ? 0 : -1)
                   : (X509_VERIFY_PARAM_set1_host(vp, host, 0) ? 0 : -1);
}

/* Runs the TLS handshake on the link's socket. Returns 0, or -1 with a reason. */
static int tls_start(struct link *l, const struct imap_link_opts *o, char *err,
                     size_t errlen)
{
    if (tls_context(l, o, err, errlen) < 0)
        return -1;
    l->ssl = SSL_new(l->ctx);
    if (!l->ssl || !SSL_set_fd(l->ssl, l->fd) || tls_expect_host(l->ssl, o->host, o->verify)) {
        snprintf(err, errlen, "cannot set up TLS");
        return -1;
    }
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(l->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(l->ssl, r);
        short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (ev && wait_fd(l, ev, l->timeout_ms) == 1)
            continue;
        long vr = SSL_get_verify_result(l->ssl);
        if (vr != X509_V_OK)
            snprintf(err, errlen, "TLS certificate not trusted: %s",
                     X509_verify_cert_error_string(vr));
        else
            snprintf(err, errlen, "TLS handshake failed%s", ev ? " (timed out)" : "");
        return -1;
    }
}

int imap_link_capabilities(mailimap *imap)
{
    struct mailimap_capability_data *caps = NULL;
    int r = mailimap_capability(imap, &caps);
    if (caps)
        mailimap_capability_data_free(caps);
    return r;
}

/* STARTTLS on a connected session: the command, then the handshake on the same socket. */
static int starttls(mailimap *imap, struct link *l, const struct imap_link_opts *o,
                    char *err, size_t errlen)
{
    if (imap_link_capabilities(imap) != MAILIMAP_NO_ERROR ||
        !mailimap_has_extension(imap, "STARTTLS")) {
        snprintf(err, errlen, "the server does not offer STARTTLS");
        return -1;
    }
    if (mailimap_starttls(imap) != MAILIMAP_NO_ERROR) {
        snprintf(err, errlen, "the server refused STARTTLS");
        return -1;
    }
    if (imap->imap_stream->read_buffer_len > 0) {
        snprintf(err, errlen, "the server sent data after STARTTLS (refused: possible "
                              "injection)");
        return -1;
    }
    return tls_start(l, o, err, errlen);
}

int imap_link_connect(mailimap *imap, const struct imap_link_opts *o, char *err,
                      size_t errlen)
{
    struct link *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *l = (struct link){-1, NULL, NULL, o->timeout * 1000, o->stopping, o->ud};
    mailstream_low *low = NULL;
    mailstream *s = NULL;
    if (tcp_connect(l, o->host, o->port, err, errlen) < 0)
        goto fail;
    if (o->tls == IMAP_TLS_IMPLICIT && tls_start(l, o, err, errlen) < 0)
        goto fail;
    low = mailstream_low_new(l, &link_driver);
    s = low ? mailstream_new(low, STREAM_BUFFER) : NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    low = NULL;
    l = NULL; /* owned by the stream now, which the session owns from here */
    int r = mailimap_connect(imap, s);
    if (r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
        snprintf(err, errlen, "no IMAP greeting from the server");
        return -1;
    }
    if (o->tls == IMAP_TLS_STARTTLS)
        return starttls(imap, mailstream_get_low(imap->imap_stream)->data, o, err, errlen);
    return 0;
fail:
    if (low)
        mailstream_low_free(low);
    else if (l)
        link_destroy(l);
    return -1;
}

int imap_link_wait(mailimap *imap, double seconds)
{
    if (!imap->imap_stream)
        return -1;
    if (imap->imap_stream->read_buffer_len > 0)
        return 1;
    struct link *l = mailstream_get_low(imap->imap_stream)->data;
    if (l->ssl && SSL_pending(l->ssl) > 0)
        return 1;
    return wait_fd(l, POLLIN, seconds * 1000.0);
}
