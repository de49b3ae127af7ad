/*
 * The subcommands of the `intake` program, one function each. Each takes the arguments
 * after its name and returns the process exit status.
 */
#ifndef INTAKE_GATEWAY_COMMANDS_H
#define INTAKE_GATEWAY_COMMANDS_H

#include "intake/diag.h"

#define EXIT_USAGE 2

int cmd_classify(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_spool(int argc, char **argv);

/* The rules folder to use when none is given: $INTAKE_RULES_DIR, else the build's rules/.
 * Static or environment storage; do not free. */
const char *default_rules_dir(void);

/* Prints every diagnostic line to stderr and clears the list. */
void print_diag(intake_diag *d);

#endif
