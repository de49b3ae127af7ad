/*
 * The IMAP source's network link: TCP with timeouts, TLS by OpenSSL with the peer's chain
 * and host name verified (libetpan's own TLS does not verify, ../shared/libraries.md), and
 * a libetpan mailstream driver on top, so that mailimap speaks through it. Every wait is
 * bounded by the link's timeout and cut short when the daemon stops.
 */
#ifndef INTAKE_IMAP_STREAM_H
#define INTAKE_IMAP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <libetpan/libetpan.h>

enum imap_tls { IMAP_TLS_IMPLICIT, IMAP_TLS_STARTTLS, IMAP_TLS_NONE };

struct imap_link_opts {
    const char *host;    /* borrowed */
    unsigned port;
    enum imap_tls tls;
    const char *ca_file; /* PEM bundle, or NULL for the system's CAs; borrowed */
    bool verify;         /* false only when an operator turned checks off */
    int timeout;         /* seconds any one network wait may take */
    bool (*stopping)(void *ud); /* polled during waits; may be NULL */
    void *ud;
};

/* Connects `imap` (a new session, DISCONNECTED) to the server: TCP, TLS as configured
 * (STARTTLS included: refused when the server lacks it or sends data after its OK), then
 * the greeting. Returns 0; -1 with a reason in err (errlen bytes; no secrets, no message
 * text). On failure the caller still frees imap with mailimap_free. */
int imap_link_connect(mailimap *imap, const struct imap_link_opts *o, char *err,
                      size_t errlen);

/* Asks the server for its capabilities again (after STARTTLS, after login), which
 * mailimap_has_* then read. Returns a MAILIMAP code. */
int imap_link_capabilities(mailimap *imap);

/* Waits until the server has something to say (buffered data counts), `seconds` pass, or
 * the daemon stops. Returns 1 (data), 0 (time out), -1 (error, closed, or stopping). */
int imap_link_wait(mailimap *imap, double seconds);

#endif
