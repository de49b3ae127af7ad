/* `intake run --config FILE`: the gateway daemon. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "daemon.h"
#include "intake/config.h"
#include "intake/log.h"

static const char usage[] =
    "usage: intake run --config FILE [--until-idle]\n"
    "\n"
    "Runs the gateway: the configured sources feed the spool, every new item is\n"
    "classified into a record, and each record is delivered to every sink, with retries\n"
    "and dead letters. Logs are JSON lines on stderr. SIGTERM or SIGINT stops it\n"
    "gracefully; SIGHUP reloads the rules (a rule set that does not load is refused and\n"
    "the old one stays).\n"
    "\n"
    "options:\n"
    "  --config FILE   the configuration file (see `intake config keys`)\n"
    "  --until-idle    stop once every source has polled once and every item is\n"
    "                  processed and delivered (or dead-lettered), then print a summary\n"
    "                  table on stdout; deliveries for sinks no longer in the config\n"
    "                  stay in the spool (logged once as deliveries_left)\n";

/* Blocks the signals the main thread waits for, in this and every later thread. */
static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Applies [log] level and [policy] timezone (deadlines count in the landlord's days). */
static void apply_process_settings(const intake_config *cfg)
{
    enum intake_log_level level;
    const char *lv = intake_config_get(intake_config_section(cfg, "log", NULL), "level");
    if (lv && intake_log_level_parse(lv, &level) == 0)
        intake_log_set_level(level);
    const char *tz = intake_config_get(intake_config_section(cfg, "policy", NULL), "timezone");
    setenv("TZ", tz ? tz : "Europe/London", 1);
    tzset();
}

int cmd_run(int argc, char **argv)
{
    const char *config = NULL;
    struct intake_run_options opt = {false, NULL};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--until-idle")) {
            opt.until_idle = true;
            opt.summary = stdout;
        } else {
            fprintf(stderr, "intake run: unexpected argument '%s'\n\n%s", argv[i], usage);
            return EXIT_USAGE;
        }
    }
    if (!config) {
        fprintf(stderr, "intake run: --config is required\n\n%s", usage);
        return EXIT_USAGE;
    }
    intake_config *cfg = NULL;
    intake_diag diag = {0};
    if (intake_config_load(config, &cfg, &diag) < 0) {
        print_diag(&diag);
        return 1;
    }
    apply_process_settings(cfg);
    block_signals();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = intake_daemon_run(cfg, &opt);
    curl_global_cleanup();
    intake_config_free(cfg);
    return rc;
}
