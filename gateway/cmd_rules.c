/* `intake rules check [DIR]`: parse and compile every rule file, run every example. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "intake/classifier.h"
#include "intake/redact.h"

static const char rules_usage[] =
    "usage: intake rules check [-v] [DIR]\n"
    "\n"
    "Reads every *.rules file in DIR (default: $INTAKE_RULES_DIR or %s), compiles\n"
    "every pattern, checks every meta rule, and runs every example+ and example-\n"
    "sentence. Then does the same for the redactor: the detectors in DIR/redact/*.pii\n"
    "and their examples, and the name lists in DIR/names. Problems are printed as\n"
    "file:line: message. Exit status 0 when all is well, 1 when anything is wrong.\n"
    "\n"
    "options:\n"
    "  -v, --verbose   also list the rules the literal prefilter cannot speed up\n"
    "  -h, --help      print this text\n";

static void list_unfiltered(const intake_ruleset *rs)
{
    for (size_t i = 0; i < intake_ruleset_count(rs); i++)
        if (!intake_rule_is_meta(rs, i) && !intake_rule_has_prefilter(rs, i))
            printf("note: rule %s runs on every message (no prefilter)\n",
                   intake_rule_name(rs, i));
}

/* Loads the rules and runs their examples. Returns 0 when all is well, else 1; *nrules
 * and *checked receive the counts. */
static int check_rules(const char *dir, int verbose, size_t *nrules, size_t *checked)
{
    intake_diag diag = {0};
    intake_ruleset *rs;
    if (intake_ruleset_load_dir(dir, &rs, &diag) != 0) {
        size_t n = diag.n;
        print_diag(&diag);
        fprintf(stderr, "rules check: %zu problem%s in %s\n", n, n == 1 ? "" : "s", dir);
        return 1;
    }
    int failed = intake_ruleset_check_examples(rs, &diag, checked);
    print_diag(&diag);
    if (verbose)
        list_unfiltered(rs);
    *nrules = intake_ruleset_count(rs);
    intake_ruleset_free(rs);
    if (failed != 0) {
        fprintf(stderr, "rules check: %d of %zu examples failed in %s\n",
                failed < 0 ? 0 : failed, *checked, dir);
        return 1;
    }
    return 0;
}

/* Loads the redactor (DIR/redact and DIR/names) and runs its detectors' examples. Returns
 * 0 when all is well, else 1; *checked receives the number of examples run. */
static int check_redactor(const char *dir, size_t *checked)
{
    intake_diag diag = {0};
    intake_redactor *r;
    if (intake_redactor_load_dir(dir, &r, &diag) != 0) {
        size_t n = diag.n;
        print_diag(&diag);
        fprintf(stderr, "rules check: %zu redaction problem%s in %s\n", n,
                n == 1 ? "" : "s", dir);
        return 1;
    }
    int failed = intake_redactor_check_examples(r, &diag, checked);
    print_diag(&diag);
    intake_redactor_free(r);
    if (failed != 0) {
        fprintf(stderr, "rules check: %d of %zu redaction examples failed in %s\n",
                failed < 0 ? 0 : failed, *checked, dir);
        return 1;
    }
    return 0;
}

static int check(const char *dir, int verbose)
{
    size_t nrules = 0, checked = 0, redact_checked = 0;
    int rc = check_rules(dir, verbose, &nrules, &checked);
    rc |= check_redactor(dir, &redact_checked);
    if (rc != 0)
        return 1;
    printf("rules check: %zu rules, %zu examples, %zu redaction examples, all passed (%s)\n",
           nrules, checked, redact_checked, dir);
    return 0;
}

int cmd_rules(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf(rules_usage, default_rules_dir());
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "intake rules: unknown subcommand '%s'\n", argv[1]);
        fprintf(stderr, rules_usage, default_rules_dir());
        return EXIT_USAGE;
    }
    int verbose = 0, i = 2;
    const char *dir = NULL;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf(rules_usage, default_rules_dir());
            return 0;
        } else if (dir == NULL)
            dir = argv[i];
        else {
            fprintf(stderr, "intake rules check: unexpected argument '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    return check(dir ? dir : default_rules_dir(), verbose);
}
