/* intake: the command-line entry point. Dispatches to one function per subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#ifndef INTAKE_VERSION
#define INTAKE_VERSION "0.0.0-dev"
#endif

static const char usage[] =
    "usage: intake COMMAND [OPTIONS]\n"
    "\n"
    "Gets complaints, service requests, compliments, comments and MP/councillor\n"
    "enquiries into a landlord's case system, classified.\n"
    "\n"
    "commands:\n"
    "  run           run the gateway: sources, spool, classifier, sinks, HTTP server\n"
    "  submit        store one item from stdin in the spool (for an MTA pipe or a script)\n"
    "  classify      classify JSON Lines from stdin, one result line per input line\n"
    "  config check  check a configuration file without starting anything\n"
    "  config keys   print every configuration key with its default and meaning\n"
    "  spool         inspect and repair the spool: stats, list, show, retry, purge\n"
    "  rules check   check rule files: syntax, patterns and every example sentence\n"
    "  version       print the version\n"
    "  help          print this text\n"
    "\n"
    "Run 'intake COMMAND --help' for a command's options.\n";

const char *default_rules_dir(void)
{
    const char *env = getenv("INTAKE_RULES_DIR");
    return env && *env ? env : INTAKE_RULES_DIR;
}

void print_diag(intake_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->lines[i]);
    intake_diag_clear(d);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "classify") == 0)
        return cmd_classify(argc - 1, argv + 1);
    if (strcmp(cmd, "rules") == 0)
        return cmd_rules(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "submit") == 0)
        return cmd_submit(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc - 1, argv + 1);
    if (strcmp(cmd, "spool") == 0)
        return cmd_spool(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("intake %s\n", INTAKE_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "intake: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_USAGE;
}
