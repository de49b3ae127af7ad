/* `intake classify`: the JSON Lines classification contract on stdin/stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "intake/classifier.h"
#include "intake/jsonl.h"
#include "intake/redact.h"

static const char classify_usage[] =
    "usage: intake classify [--rules DIR] [--redact all|public|none]\n"
    "\n"
    "Reads JSON Lines on stdin; each line is an object with at least \"id\", \"channel\"\n"
    "and \"body\", and optionally \"subject\", \"public\" and \"from\" {name, address,\n"
    "handle}. Writes one JSON object per input line, in order: id, category,\n"
    "mp_underlying, flags, confidence, rules, redacted_body, redactions. A bad line\n"
    "gets {\"id\": ..., \"error\": \"...\"} and the run goes on.\n"
    "\n"
    "options:\n"
    "  --rules DIR     rule files to use (default: $INTAKE_RULES_DIR or %s); the\n"
    "                  redactor's detectors are in DIR/redact, its name lists in\n"
    "                  DIR/names\n"
    "  --redact MODE   all, public (only items with \"public\": true; default) or none:\n"
    "                  which items get personal data replaced by placeholders in\n"
    "                  redacted_body, with the spans in redactions\n"
    "  -h, --help      print this text\n";

/* Loads the rules (and, unless the mode is none, the redactor) from dir and runs the
 * contract over stdin. Returns the exit status. */
static int classify_with(const char *dir, enum intake_redact_mode mode)
{
    intake_diag diag = {0};
    intake_ruleset *rs;
    if (intake_ruleset_load_dir(dir, &rs, &diag) != 0) {
        print_diag(&diag);
        fprintf(stderr, "intake classify: cannot load the rules in %s\n", dir);
        return 1;
    }
    intake_redactor *red = NULL;
    if (mode != INTAKE_REDACT_NONE && intake_redactor_load_dir(dir, &red, &diag) != 0) {
        print_diag(&diag);
        fprintf(stderr, "intake classify: cannot load the redactor in %s\n", dir);
        intake_ruleset_free(rs);
        return 1;
    }
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    struct intake_jsonl_stats st;
    int rc = intake_jsonl_classify_redact(stdin, stdout, rs, red, mode, &st);
    intake_redactor_free(red);
    intake_ruleset_free(rs);
    if (rc != 0) {
        fprintf(stderr, "intake classify: stopped after %lu lines: read, write or memory "
                        "failure\n", st.lines);
        return 1;
    }
    if (st.errors)
        fprintf(stderr, "intake classify: %lu of %lu lines had errors (see their error "
                        "field)\n", st.errors, st.lines);
    return 0;
}

int cmd_classify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rules", required_argument, NULL, 'r'},
        {"redact", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = default_rules_dir();
    enum intake_redact_mode mode = INTAKE_REDACT_PUBLIC;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'r') {
            dir = optarg;
        } else if (c == 'x' && intake_redact_mode_parse(optarg, &mode) == 0) {
            continue;
        } else if (c == 'h') {
            printf(classify_usage, default_rules_dir());
            return 0;
        } else {
            if (c == 'x')
                fprintf(stderr, "intake classify: --redact takes all, public or none\n");
            fprintf(stderr, classify_usage, default_rules_dir());
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "intake classify: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    return classify_with(dir, mode);
}
