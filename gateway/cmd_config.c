/*
 * `intake config check --config FILE` and `intake config keys [--markdown]`. The key
 * reference is generated from the option tables (config.c, and each source and sink type),
 * so it cannot drift from what the loader accepts; README.md holds its --markdown form
 * (tests/config_docs.sh keeps the two equal).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "intake/config.h"
#include "intake/sink.h"
#include "intake/source.h"

static const char config_usage[] =
    "usage: intake config check --config FILE\n"
    "       intake config keys [--markdown]\n"
    "\n"
    "  check   read FILE and check every section, key and value against the option\n"
    "          tables; prints \"FILE: ok\" and the sources and sinks it defines, or each\n"
    "          problem as file:line: message on stderr (exit status 1)\n"
    "  keys    print every section and key with its type, default and meaning;\n"
    "          --markdown prints the tables of README.md's configuration reference\n"
    "\n"
    "Run 'intake config check --help' or 'intake config keys --help' for details.\n";

static const char check_usage[] =
    "usage: intake config check --config FILE\n"
    "\n"
    "Reads FILE, expands ${NAME} from the environment and checks every section, key and\n"
    "value (unknown sections, types and keys, bad values, missing required keys,\n"
    "duplicates, unset variables). Nothing is started and no value is printed.\n"
    "On success prints \"FILE: ok\" and one line naming the sources and sinks with their\n"
    "types. Exit status: 0 when the file is good, 1 when it has problems (each printed\n"
    "as file:line: message on stderr), 2 for a usage error.\n"
    "\n"
    "options:\n"
    "  --config FILE   the configuration file to check\n"
    "  -h, --help      print this text\n";

static const char keys_usage[] =
    "usage: intake config keys [--markdown]\n"
    "\n"
    "Prints every section and key the configuration file takes, with its type, default\n"
    "and meaning: the core sections, the keys every source and every sink takes, then\n"
    "each source type and sink type with its own keys.\n"
    "\n"
    "options:\n"
    "  --markdown   print Markdown tables (the README's configuration reference)\n"
    "  -h, --help   print this text\n";

static bool is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* ---- config keys --------------------------------------------------------------------- */

/* "integer 1..3650", "yes/no", ...; markdown quotes enum choices. */
static const char *type_text(const struct intake_option *o, bool md, char *buf, size_t len)
{
    static const char *const names[] = {"string", "integer", "yes/no", "one of", "path",
                                        "host:port"};
    size_t n = (size_t)snprintf(buf, len, "%s", names[o->type]);
    if (o->type == INTAKE_OPT_INT && (o->min != 0 || o->max != 0))
        n += (size_t)snprintf(buf + n, len - n, " %ld..%ld", o->min, o->max);
    for (const char *c = o->choices; o->type == INTAKE_OPT_ENUM && c && n < len;) {
        size_t w = strcspn(c, "|");
        n += (size_t)snprintf(buf + n, len - n, "%s%s%.*s%s", c == o->choices ? " " : md ?
                              ", " : "|", md ? "`" : "", (int)w, c, md ? "`" : "");
        c = c[w] ? c + w + 1 : NULL;
    }
    if (o->secret && n < len)
        snprintf(buf + n, len - n, ", secret");
    return buf;
}

/* A table cell: '|' and '*' escaped, '<' and '>' as entities (no HTML, no emphasis). */
static void put_cell(const char *s)
{
    for (; *s; s++) {
        if (*s == '<' || *s == '>')
            fputs(*s == '<' ? "&lt;" : "&gt;", stdout);
        else {
            if (*s == '|' || *s == '*')
                putchar('\\');
            putchar(*s);
        }
    }
}

static void print_table(const struct intake_option *t, bool md)
{
    char tb[512];
    if (!t || !t->name) {
        puts(md ? "No keys besides the common ones.\n"
                : "  (no keys besides the common ones)\n");
        return;
    }
    if (md)
        puts("| key | type | default | description |\n| --- | --- | --- | --- |");
    for (; t->name; t++) {
        const char *def = t->required ? "required" : t->def ? t->def : "none";
        bool code = !t->required && t->def;
        if (md) {
            printf("| `%s` | ", t->name);
            put_cell(type_text(t, true, tb, sizeof tb));
            printf(" | %s", code ? "`" : "");
            put_cell(def);
            printf("%s | ", code ? "`" : "");
            put_cell(t->description ? t->description : "");
            puts(" |");
        } else
            printf("  %s = %s%s%s\n      %s: %s\n", t->name, code ? "" : "(", def,
                   code ? "" : ")", type_text(t, false, tb, sizeof tb),
                   t->description ? t->description : "");
    }
    putchar('\n');
}

static void print_heading(bool md, const char *title, const char *text)
{
    if (md && text && text[0] >= 'a' && text[0] <= 'z')
        printf("### %s\n\n%c%s\n\n", title, text[0] - 'a' + 'A', text + 1);
    else if (md)
        printf("### %s\n\n%s%s", title, text ? text : "", text ? "\n\n" : "");
    else
        printf("%s%s%s\n", title, text ? ": " : "", text ? text : "");
}

static void print_core(bool md)
{
    static const char *const kinds[] = {"spool", "http", "rules", "policy", "privacy",
                                        "routing", "log"};
    char title[64];
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        snprintf(title, sizeof title, md ? "`[%s]`" : "[%s]", kinds[i]);
        print_heading(md, title, NULL);
        print_table(intake_config_core_options(kinds[i]), md);
    }
}

static void print_type(bool md, const char *kind, const char *type, const char *description,
                       const struct intake_option *options)
{
    char title[160];
    snprintf(title, sizeof title, md ? "`[%s \"NAME\"]` with `type = %s`"
                                     : "[%s \"NAME\"] type = %s", kind, type);
    print_heading(md, title, description);
    print_table(options, md);
}

static int cmd_keys(int argc, char **argv)
{
    bool md = false;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(keys_usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--markdown") != 0) {
            fprintf(stderr, "intake config keys: unexpected argument '%s'\n%s", argv[i],
                    keys_usage);
            return EXIT_USAGE;
        }
        md = true;
    }
    print_core(md);
    print_heading(md, md ? "`[source \"NAME\"]`: every source" : "[source \"NAME\"]",
                  "Keys every source takes, whatever its type.");
    print_table(intake_source_common_options, md);
    print_heading(md, md ? "`[sink \"NAME\"]`: every sink" : "[sink \"NAME\"]",
                  "Keys every sink takes, whatever its type.");
    print_table(intake_sink_common_options, md);
    for (size_t i = 0; intake_source_types[i]; i++)
        print_type(md, "source", intake_source_types[i]->type,
                   intake_source_types[i]->description, intake_source_types[i]->options);
    for (size_t i = 0; intake_sink_types[i]; i++)
        print_type(md, "sink", intake_sink_types[i]->type, intake_sink_types[i]->description,
                   intake_sink_types[i]->options);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

/* ---- config check -------------------------------------------------------------------- */

/* "mta (pipe), inbox (maildir, disabled)" for every section of `kind`, or "none". */
static void print_parts(const intake_config *cfg, const char *kind)
{
    int n = 0;
    for (size_t i = 0; i < cfg->nsections; i++) {
        const struct intake_section *s = &cfg->sections[i];
        if (strcmp(s->kind, kind) != 0)
            continue;
        printf("%s%s (%s%s)", n++ ? ", " : "", s->name, intake_config_get(s, "type"),
               intake_config_get_bool(s, "enabled", true) ? "" : ", disabled");
    }
    if (n == 0)
        fputs("none", stdout);
}

static int check_file(const char *path)
{
    intake_diag diag = {0};
    intake_config *cfg = NULL;
    if (intake_config_load(path, &cfg, &diag) != 0) {
        size_t n = diag.n;
        print_diag(&diag);
        if (n == 0)
            fprintf(stderr, "%s: cannot be loaded\n", path);
        return 1;
    }
    print_diag(&diag);
    printf("%s: ok\nsources: ", path);
    print_parts(cfg, "source");
    fputs("; sinks: ", stdout);
    print_parts(cfg, "sink");
    putchar('\n');
    intake_config_free(cfg);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static int cmd_check(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(check_usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 == argc) {
            fprintf(stderr, "intake config check: --config needs a FILE\n%s", check_usage);
            return EXIT_USAGE;
        }
        if (strcmp(argv[i], "--config") == 0 && !path)
            path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0 && argv[i][9] && !path)
            path = argv[i] + 9;
        else {
            fprintf(stderr, "intake config check: unexpected argument '%s'\n%s", argv[i],
                    check_usage);
            return EXIT_USAGE;
        }
    }
    if (!path) {
        fprintf(stderr, "intake config check: --config FILE is required\n%s", check_usage);
        return EXIT_USAGE;
    }
    return check_file(path);
}

int cmd_config(int argc, char **argv)
{
    if (argc < 2) {
        fputs(config_usage, stderr);
        return EXIT_USAGE;
    }
    if (is_help(argv[1])) {
        fputs(config_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "keys") == 0)
        return cmd_keys(argc - 1, argv + 1);
    fprintf(stderr, "intake config: unknown subcommand '%s'\n%s", argv[1], config_usage);
    return EXIT_USAGE;
}
