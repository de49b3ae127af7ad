/*
 * The gateway daemon: builds the running parts from a checked configuration (spool,
 * rules, calendar, sinks, sources, HTTP server), runs one thread per polling source, one
 * processor thread and one thread per sink, and stops them on SIGTERM/SIGINT. SIGHUP
 * reloads the rules; a rule set that does not load leaves the old one in place.
 */
#ifndef INTAKE_GATEWAY_DAEMON_H
#define INTAKE_GATEWAY_DAEMON_H

#include <stdbool.h>
#include <stdio.h>

#include "intake/config.h"

struct intake_run_options {
    bool until_idle;  /* stop once every source polled once and nothing is left to do */
    FILE *summary;    /* when not NULL, a table of the spool's items is printed here at
                       * the end */
};

/* Runs the daemon until a stop signal (or idleness, see above). The caller must have
 * blocked SIGTERM, SIGINT and SIGHUP in every thread (the daemon waits for them with
 * sigtimedwait). `cfg` is borrowed. Returns a process exit status: 0 on a clean stop, 1
 * when a part failed to start (the reason is logged), 75 when the spool cannot be
 * opened for a temporary reason. */
int intake_daemon_run(const intake_config *cfg, const struct intake_run_options *opt);

/* The spool path a config names ([spool] path, relative to the config's folder). Returns
 * a string the caller owns, or NULL. */
char *intake_daemon_spool_path(const intake_config *cfg);

#endif
