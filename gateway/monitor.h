/*
 * The daemon's HTTP server: /healthz, /readyz and /metrics (and, later, the webhook
 * sources' endpoints), configured by the [http] section.
 */
#ifndef INTAKE_GATEWAY_MONITOR_H
#define INTAKE_GATEWAY_MONITOR_H

#include <stddef.h>
#include <stdio.h>

#include "intake/config.h"
#include "intake/status.h"

typedef struct intake_monitor intake_monitor;

/* Starts the server. `spool_path` and `status` are borrowed and must outlive it. Returns
 * the running server (the caller owns it; stop with intake_monitor_stop), or NULL with a
 * reason in err. */
intake_monitor *intake_monitor_start(const intake_config *cfg, const char *spool_path,
                                     intake_status *status, char *err, size_t errlen);

/* Stops and frees the server. NULL is allowed. */
void intake_monitor_stop(intake_monitor *m);

/* Prints a table of the spool's items (ids, sources, channels, categories, deliveries;
 * never text) and totals by category to `out`. */
void intake_daemon_summary(const char *spool_path, FILE *out);

#endif
