/* placeholder until the HTTP server lands: the daemon runs without one */
#include "monitor.h"

#include <stdlib.h>

struct intake_monitor {
    int unused;
};

intake_monitor *intake_monitor_start(const intake_config *cfg, const char *spool_path,
                                     intake_status *status, char *err, size_t errlen)
{
    (void)cfg; (void)spool_path; (void)status; (void)err; (void)errlen;
    return calloc(1, sizeof(intake_monitor));
}

void intake_monitor_stop(intake_monitor *m)
{
    free(m);
}
