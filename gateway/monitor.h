/*
 * The daemon's HTTP server: /healthz, /readyz and /metrics and the webhook
 * sources' endpoints, configured by the [http] section.
 */
#ifndef INTAKE_GATEWAY_MONITOR_H
#define INTAKE_GATEWAY_MONITOR_H

#include <stddef.h>
#include <stdio.h>

#include "intake/config.h"
#include "intake/httpd.h"
#include "intake/status.h"

typedef struct intake_monitor intake_monitor;

/* Makes the server with /healthz, /readyz and /metrics routed, not yet listening.
 * `spool_path` and `status` are borrowed and must outlive it. Returns the server (the
 * caller owns it; free with intake_monitor_stop), or NULL with a reason in err. */
intake_monitor *intake_monitor_new(const char *spool_path, intake_status *status, char *err,
                                   size_t errlen);

/* The HTTP server, for sources to add routes to before intake_monitor_listen. Borrowed. */
intake_httpd *intake_monitor_httpd(intake_monitor *m);

/* Starts listening as [http] in `cfg` (borrowed) says. Returns 0, or -1 with a reason in
 * err (address in use, bad settings). */
int intake_monitor_listen(intake_monitor *m, const intake_config *cfg, char *err,
                          size_t errlen);

/* Stops and frees the server. NULL is allowed. */
void intake_monitor_stop(intake_monitor *m);

/* Prints a table of the spool's items (ids, sources, channels, categories, deliveries;
 * never text) and totals by category to `out`. */
void intake_daemon_summary(const char *spool_path, FILE *out);

#endif
