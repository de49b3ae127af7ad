/* The daemon's HTTP server: libmicrohttpd (httpd.c) with /healthz, /readyz and /metrics
 * (metrics.c), configured by [http]; sources add their routes between
 * intake_monitor_new and intake_monitor_listen. */
#include "monitor.h"

#include <stdio.h>
#include <stdlib.h>

#include "intake/httpd.h"
#include "intake/log.h"
#include "intake/metrics.h"

struct intake_monitor {
    intake_httpd *httpd;
    intake_ops *ops;
};

static unsigned get_uint(const struct intake_section *s, const char *key, long fallback)
{
    long v = intake_config_get_int(s, key, fallback);
    return v > 0 ? (unsigned)v : (unsigned)fallback;
}

intake_monitor *intake_monitor_new(const char *spool_path, intake_status *status, char *err,
                                   size_t errlen)
{
    intake_monitor *m = calloc(1, sizeof *m);
    if (m) {
        m->httpd = intake_httpd_new();
        m->ops = intake_ops_new(spool_path, status);
    }
    if (!m || !m->httpd || !m->ops || intake_ops_register(m->ops, m->httpd) < 0) {
        snprintf(err, errlen, "out of memory");
        intake_monitor_stop(m);
        return NULL;
    }
    return m;
}

intake_httpd *intake_monitor_httpd(intake_monitor *m)
{
    return m->httpd;
}

int intake_monitor_listen(intake_monitor *m, const intake_config *cfg, char *err,
                          size_t errlen)
{
    const struct intake_section *h = intake_config_section(cfg, "http", NULL);
    const char *listen = intake_config_get(h, "listen");
    if (intake_httpd_set_max_inflight(m->httpd, get_uint(h, "max_inflight", 64)) < 0 ||
        intake_httpd_start(m->httpd, listen ? listen : "127.0.0.1:8025",
                           get_uint(h, "connection_timeout", 10), get_uint(h, "per_ip_limit", 16),
                           get_uint(h, "max_connections", 256), err, errlen) < 0)
        return -1;
    char port[16];
    snprintf(port, sizeof port, "%u", intake_httpd_port(m->httpd));
    intake_log(INTAKE_LOG_INFO, "http_started", "port", port, NULL);
    return 0;
}

void intake_monitor_stop(intake_monitor *m)
{
    if (!m)
        return;
    intake_httpd_free(m->httpd); /* stops it first when running */
    intake_ops_free(m->ops);
    free(m);
}
