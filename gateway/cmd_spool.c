/*
 * `intake spool stats|list|show|retry|purge`: look into the spool and repair it, in the
 * manner of Postfix's postqueue and postsuper. Listings carry ids and labels only; message
 * text (and the source_id, which may hold an address) appears only in `show`, and the
 * text only with `show --text`.
 *
 * Exit status: 0 done; 1 the spool (or the configuration) failed, or no item has the id;
 * 2 usage error; 75 (EX_TEMPFAIL) the spool failed for a reason that may pass (busy).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "daemon.h"
#include "intake/config.h"
#include "intake/spool.h"
#include "intake/timefmt.h"

#define EX_TEMPFAIL 75

enum {
    OPT_JSON = 1 << 0,
    OPT_STATE = 1 << 1,
    OPT_LIMIT = 1 << 2,
    OPT_TEXT = 1 << 3,
    OPT_ALL_DEAD = 1 << 4,
    OPT_OLDER = 1 << 5,
    OPT_ID = 1 << 6,
};

struct spool_args {
    const char *config, *spool;
    const char *id, *state;
    long limit;
    double days;
    unsigned seen; /* OPT_* given */
};

struct subcommand {
    const char *name;
    unsigned allowed; /* OPT_* it takes */
    const char *usage;
    int (*run)(intake_spool *sp, const struct spool_args *a);
};

#define WHERE                                                                              \
    "\n"                                                                                   \
    "The spool is the one named by --config FILE ([spool] path), or --spool PATH.\n"     \
    "Exit status: 0 done; 1 spool or configuration error, or no such item; 2 usage\n"      \
    "error; 75 temporary spool failure (busy): try again.\n"

static const char usage_all[] =
    "usage: intake spool COMMAND (--config FILE | --spool PATH) [OPTIONS]\n"
    "\n"
    "Looks into the spool and repairs it. Listings show ids and labels, never message\n"
    "text; only 'show --text' prints what people wrote.\n"
    "\n"
    "commands:\n"
    "  stats [--json]                          items and deliveries by state, oldest\n"
    "                                          undelivered item\n"
    "  list [--state S] [--limit N] [--json]   items, newest first\n"
    "  show ID [--text]                        one item, its deliveries and errors (JSON)\n"
    "  retry ID | --all-dead                   make dead deliveries (and a quarantined\n"
    "                                          item) pending again, due now\n"
    "  purge --older-than DAYS                 delete fully delivered items older than\n"
    "                                          DAYS days\n"
    "\n"
    "Run 'intake spool COMMAND --help' for a command's options.\n" WHERE;

static const char usage_stats[] =
    "usage: intake spool stats (--config FILE | --spool PATH) [--json]\n"
    "\n"
    "Counts items by state (new, processed, quarantined) and deliveries by state\n"
    "(pending, done, dead), in all and per sink, and gives the received time and age of\n"
    "the oldest item not yet delivered. --json prints one JSON object instead.\n" WHERE;

static const char usage_list[] =
    "usage: intake spool list (--config FILE | --spool PATH) [--state S] [--limit N]\n"
    "                         [--json]\n"
    "\n"
    "Lists items, newest first: record id, received time, source, channel, state,\n"
    "category and each sink's delivery state. Never message text, subject, author or\n"
    "source id (see 'show').\n"
    "\n"
    "options:\n"
    "  --state S   only items in state S: new, processed or quarantined; or items with\n"
    "              a delivery in state pending, sending (an attempt under way, or one a\n"
    "              stopped daemon left), done or dead\n"
    "  --limit N   at most N items (default: all)\n"
    "  --json      one JSON object per line instead of a table\n" WHERE;

static const char usage_show[] =
    "usage: intake spool show ID (--config FILE | --spool PATH) [--text]\n"
    "\n"
    "Prints one item as JSON: ids (source_id included), state, attempts, last error, and\n"
    "each delivery with its state, attempts, remote status, error, response and case id.\n"
    "ID is a record id or a unique prefix of one (at least 4 characters).\n"
    "\n"
    "options:\n"
    "  --text   also print the item as received and the record: this shows personal\n"
    "           data, so use it only when you need it\n" WHERE;

static const char usage_retry[] =
    "usage: intake spool retry (ID | --all-dead) (--config FILE | --spool PATH)\n"
    "\n"
    "ID: makes the item's dead deliveries pending again, due now, and a quarantined item\n"
    "new again (the processor tries it afresh). --all-dead: every dead delivery in the\n"
    "spool. Prints how many deliveries and items were re-queued.\n" WHERE;

static const char usage_purge[] =
    "usage: intake spool purge --older-than DAYS (--config FILE | --spool PATH)\n"
    "\n"
    "Deletes items received more than DAYS days ago (a decimal number) whose deliveries\n"
    "are all done, with their records and deliveries. Dead letters, quarantined items\n"
    "and anything still pending stay. Prints how many items were deleted.\n" WHERE;

/* ---- output helpers ---- */

static int spool_failed(intake_spool *sp, const char *cmd, int rc)
{
    fprintf(stderr, "intake spool %s: %s\n", cmd, intake_spool_error(sp));
    return rc == INTAKE_SPOOL_TEMP ? EX_TEMPFAIL : 1;
}

/* Prints s padded to width, control characters as '?', so that a label cannot move the
 * terminal's cursor. */
static void cell(const char *s, int width)
{
    int n = 0;
    for (; s && *s; s++, n++)
        putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
    for (; n < width; n++)
        putchar(' ');
}

/* "3d 4h", "2h 05m", "7m 12s", "40s". */
static void format_age(double secs, char *buf, size_t len)
{
    long s = secs > 0 ? (long)secs : 0;
    if (s >= 86400)
        snprintf(buf, len, "%ldd %ldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(buf, len, "%ldh %02ldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(buf, len, "%ldm %02lds", s / 60, s % 60);
    else
        snprintf(buf, len, "%lds", s);
}

static int print_json(json_t *j, size_t flags)
{
    int rc = j ? json_dumpf(j, stdout, flags) : -1;
    putchar('\n');
    json_decref(j);
    return rc;
}

/* ---- stats ---- */

/* intake_spool_count callback: sinks[a][b] = count. */
static void add_sink_count(void *ud, const char *sink, const char *state, long count)
{
    json_t *sinks = ud;
    json_t *s = json_object_get(sinks, sink);
    if (!s) {
        s = json_pack("{s:i, s:i, s:i}", "pending", 0, "done", 0, "dead", 0);
        json_object_set_new(sinks, sink, s);
    }
    json_object_set_new(s, state, json_integer(count));
}

static json_t *stats_json(const struct intake_spool_stats *st, json_t *sinks)
{
    char when[INTAKE_RFC3339_LEN];
    bool any = st->oldest_undelivered > 0;
    double age = intake_time_now() - st->oldest_undelivered;
    return json_pack("{s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:O, s:s?, s:o}",
                     "items", "new", (json_int_t)st->items_new, "processed",
                     (json_int_t)st->items_processed, "quarantined",
                     (json_int_t)st->items_quarantined, "deliveries", "pending",
                     (json_int_t)st->deliveries_pending, "done",
                     (json_int_t)st->deliveries_done, "dead", (json_int_t)st->deliveries_dead,
                     "sinks", sinks, "oldest_undelivered",
                     any ? intake_time_format(st->oldest_undelivered, when) : NULL,
                     "oldest_undelivered_age_s",
                     any ? json_integer((json_int_t)(age > 0 ? age : 0)) : json_null());
}

static long count_of(json_t *o, const char *key)
{
    return (long)json_integer_value(json_object_get(o, key));
}

static void print_stats_text(const struct intake_spool_stats *st, json_t *sinks)
{
    printf("items:       %ld new, %ld processed, %ld quarantined\n", st->items_new,
           st->items_processed, st->items_quarantined);
    printf("deliveries:  %ld pending, %ld done, %ld dead\n", st->deliveries_pending,
           st->deliveries_done, st->deliveries_dead);
    const char *sink;
    json_t *s;
    json_object_foreach(sinks, sink, s) {
        printf("  sink ");
        cell(sink, 16);
        printf(" %ld pending, %ld done, %ld dead\n", count_of(s, "pending"),
               count_of(s, "done"), count_of(s, "dead"));
    }
    if (st->oldest_undelivered <= 0) {
        printf("oldest undelivered: none\n");
        return;
    }
    char when[INTAKE_RFC3339_LEN], age[32];
    format_age(intake_time_now() - st->oldest_undelivered, age, sizeof age);
    printf("oldest undelivered: %s (%s ago)\n", intake_time_format(st->oldest_undelivered, when),
           age);
}

static int run_stats(intake_spool *sp, const struct spool_args *a)
{
    struct intake_spool_stats st;
    int rc = intake_spool_stats(sp, &st);
    json_t *sinks = json_object();
    if (!rc)
        rc = intake_spool_count(sp, INTAKE_COUNT_DELIVERIES_BY_SINK_STATE, add_sink_count,
                                sinks);
    if (rc) {
        json_decref(sinks);
        return spool_failed(sp, "stats", rc);
    }
    if (a->seen & OPT_JSON)
        rc = print_json(stats_json(&st, sinks), JSON_COMPACT);
    else
        print_stats_text(&st, sinks);
    json_decref(sinks);
    return rc ? 1 : 0;
}

/* ---- list ---- */

/* "case:pending,ack:done" as {"case": "pending", "ack": "done"}. */
static json_t *deliveries_json(const char *list)
{
    json_t *o = json_object();
    char *copy = strdup(list ? list : ""), *save = NULL;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(tok, ':');
        if (colon) {
            *colon = '\0';
            json_object_set_new(o, tok, json_string(colon + 1));
        }
    }
    free(copy);
    return o;
}

static int list_json_row(void *ud, const struct intake_spool_row *r)
{
    (void)ud;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:i, s:o}", "record_id",
                          r->record_id, "received_at", r->received_at, "source", r->source,
                          "channel", r->channel, "state", r->state, "category", r->category,
                          "attempts", r->attempts, "deliveries",
                          deliveries_json(r->deliveries));
    return print_json(o, JSON_COMPACT) ? -1 : 0;
}

static void list_header(void)
{
    printf("%-36s  %-24s  %-16s  %-10s  %-11s  %-15s  %s\n", "RECORD ID", "RECEIVED",
           "SOURCE", "CHANNEL", "STATE", "CATEGORY", "DELIVERIES");
}

static int list_table_row(void *ud, const struct intake_spool_row *r)
{
    ++*(long *)ud;
    cell(r->record_id, 36);
    printf("  ");
    cell(r->received_at, 24);
    printf("  ");
    cell(r->source, 16);
    printf("  ");
    cell(r->channel, 10);
    printf("  ");
    cell(r->state, 11);
    printf("  ");
    cell(r->category ? r->category : "-", 15);
    printf("  ");
    cell(r->deliveries && *r->deliveries ? r->deliveries : "-", 0);
    putchar('\n');
    return 0;
}

static int run_list(intake_spool *sp, const struct spool_args *a)
{
    long n = 0;
    bool json = a->seen & OPT_JSON;
    if (!json)
        list_header();
    int rc = intake_spool_list(sp, a->state, a->limit, json ? list_json_row : list_table_row,
                               &n);
    if (rc)
        return spool_failed(sp, "list", rc);
    if (!json)
        printf("-- %ld item%s\n", n, n == 1 ? "" : "s");
    return 0;
}

/* ---- show and retry ---- */

/* Looks the item up; prints why when there is none. Returns 0 with *out set, else the
 * exit status. */
static int find(intake_spool *sp, const char *cmd, const char *id, bool text, json_t **out)
{
    char low[INTAKE_RECORD_ID_LEN + 1];
    size_t n = strlen(id);
    if (n <= INTAKE_RECORD_ID_LEN) { /* record ids are lower case; longer ids are refused */
        for (size_t i = 0; i <= n; i++)
            low[i] = (char)tolower((unsigned char)id[i]);
        id = low;
    }
    int rc = intake_spool_show(sp, id, text, out);
    if (rc)
        return spool_failed(sp, cmd, rc);
    if (!*out) {
        fprintf(stderr, "intake spool %s: no item has a record id starting with '%.40s'\n",
                cmd, id);
        return 1;
    }
    return 0;
}

static int run_show(intake_spool *sp, const struct spool_args *a)
{
    json_t *o;
    int rc = find(sp, "show", a->id, a->seen & OPT_TEXT, &o);
    if (rc)
        return rc;
    return print_json(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ? 1 : 0;
}

static int retry_one(intake_spool *sp, const char *id)
{
    json_t *o;
    int rc = find(sp, "retry", id, false, &o);
    if (rc)
        return rc;
    char full[INTAKE_RECORD_ID_LEN + 1];
    snprintf(full, sizeof full, "%s", json_string_value(json_object_get(o, "record_id")));
    json_decref(o);
    long changed = 0;
    rc = intake_spool_retry(sp, full, &changed);
    if (rc)
        return spool_failed(sp, "retry", rc);
    if (changed)
        printf("%s: %ld re-queued (dead deliveries; the item, when quarantined)\n", full,
               changed);
    else
        printf("%s: nothing to retry (no dead delivery, not quarantined)\n", full);
    return 0;
}

static int run_retry(intake_spool *sp, const struct spool_args *a)
{
    if (a->id)
        return retry_one(sp, a->id);
    long changed = 0;
    int rc = intake_spool_retry(sp, NULL, &changed);
    if (rc)
        return spool_failed(sp, "retry", rc);
    printf("%ld dead deliver%s re-queued\n", changed, changed == 1 ? "y" : "ies");
    return 0;
}

/* ---- purge ---- */

static int run_purge(intake_spool *sp, const struct spool_args *a)
{
    long purged = 0;
    int rc = intake_spool_purge(sp, intake_time_now(), a->days, &purged);
    if (rc)
        return spool_failed(sp, "purge", rc);
    printf("%ld item%s deleted\n", purged, purged == 1 ? "" : "s");
    return 0;
}

/* ---- arguments ---- */

static const struct subcommand subcommands[] = {
    {"stats", OPT_JSON, usage_stats, run_stats},
    {"list", OPT_JSON | OPT_STATE | OPT_LIMIT, usage_list, run_list},
    {"show", OPT_ID | OPT_TEXT, usage_show, run_show},
    {"retry", OPT_ID | OPT_ALL_DEAD, usage_retry, run_retry},
    {"purge", OPT_OLDER, usage_purge, run_purge},
};

static const struct subcommand *find_subcommand(const char *name)
{
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (!strcmp(subcommands[i].name, name))
            return &subcommands[i];
    return NULL;
}

/* Options that take a value, and their OPT_* bit (0: allowed everywhere). */
static const struct {
    const char *name;
    unsigned bit;
} value_opts[] = {
    {"--config", 0}, {"--spool", 0}, {"--state", OPT_STATE}, {"--limit", OPT_LIMIT},
    {"--older-than", OPT_OLDER},
};

static const struct {
    const char *name;
    unsigned bit;
} flag_opts[] = {{"--json", OPT_JSON}, {"--text", OPT_TEXT}, {"--all-dead", OPT_ALL_DEAD}};

/* The index of value_opts that argv[i] names ("--name" or "--name=..."), or -1. */
static int value_opt(const char *arg)
{
    for (size_t k = 0; k < sizeof value_opts / sizeof value_opts[0]; k++) {
        size_t n = strlen(value_opts[k].name);
        if (!strncmp(arg, value_opts[k].name, n) && (arg[n] == '\0' || arg[n] == '='))
            return (int)k;
    }
    return -1;
}

static int flag_opt(const char *arg)
{
    for (size_t k = 0; k < sizeof flag_opts / sizeof flag_opts[0]; k++)
        if (!strcmp(arg, flag_opts[k].name))
            return (int)k;
    return -1;
}

static bool is_help(const char *arg)
{
    return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

/* The index of the first argument that is neither an option nor an option's value, or 0
 * when there is none. */
static int subcommand_index(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int k = value_opt(argv[i]);
        if (k >= 0 && !strchr(argv[i], '='))
            i++;
        else if (argv[i][0] != '-')
            return i;
    }
    return 0;
}

static int parse_number(const char *s, double min, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Stores the value of value option k. Returns 0, or -1 (message printed). */
static int set_value(const struct subcommand *c, int k, const char *v, struct spool_args *a)
{
    const char *name = value_opts[k].name;
    double n = 0;
    if (!strcmp(name, "--config"))
        a->config = v;
    else if (!strcmp(name, "--spool"))
        a->spool = v;
    else if (!strcmp(name, "--state"))
        a->state = v;
    else if (!strcmp(name, "--limit") && !parse_number(v, 1, 1e9, &n) && n == floor(n))
        a->limit = (long)n;
    else if (!strcmp(name, "--older-than") && !parse_number(v, 0, 1e6, &n))
        a->days = n;
    else {
        fprintf(stderr, "intake spool %s: %s wants %s, not '%s'\n", c->name, name,
                !strcmp(name, "--limit") ? "a whole number of at least 1"
                                         : "a number of days, 0 or more",
                v);
        return -1;
    }
    return 0;
}

/* Handles argv[*i], an option. Returns 0, or -1 (message printed). */
static int take_option(const struct subcommand *c, int argc, char **argv, int *i,
                       struct spool_args *a)
{
    const char *arg = argv[*i];
    int k = value_opt(arg), f = flag_opt(arg);
    unsigned bit = k >= 0 ? value_opts[k].bit : f >= 0 ? flag_opts[f].bit : 0;
    if (k < 0 && f < 0) {
        fprintf(stderr, "intake spool %s: unknown option '%s'\n", c->name, arg);
        return -1;
    }
    if (bit && !(c->allowed & bit)) {
        fprintf(stderr, "intake spool %s: %.*s does not apply here\n", c->name,
                (int)strcspn(arg, "="), arg);
        return -1;
    }
    a->seen |= bit;
    if (f >= 0)
        return 0;
    const char *eq = strchr(arg, '=');
    if (!eq && *i + 1 >= argc) {
        fprintf(stderr, "intake spool %s: %s needs a value\n", c->name, arg);
        return -1;
    }
    return set_value(c, k, eq ? eq + 1 : argv[++*i], a);
}

/* Checks what the command needs. Returns 0, or -1 (message printed). */
static int check_args(const struct subcommand *c, const struct spool_args *a)
{
    const char *why = NULL;
    if (!a->config == !a->spool)
        why = a->config ? "give --config or --spool, not both" : "give --config FILE or "
                                                                 "--spool PATH";
    else if (!strcmp(c->name, "show") && !a->id)
        why = "give the record id of the item to show";
    else if (!strcmp(c->name, "retry") && !a->id == !(a->seen & OPT_ALL_DEAD))
        why = a->id ? "give a record id or --all-dead, not both"
                    : "give a record id or --all-dead";
    else if (!strcmp(c->name, "purge") && !(a->seen & OPT_OLDER))
        why = "give --older-than DAYS";
    if (why)
        fprintf(stderr, "intake spool %s: %s\n", c->name, why);
    return why ? -1 : 0;
}

/* Parses everything but argv[sub]. Returns 0, 1 when help was printed, -1 on a usage
 * error (message printed). */
static int parse_args(const struct subcommand *c, int argc, char **argv, int sub,
                      struct spool_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        if (i == sub)
            continue;
        if (is_help(argv[i])) {
            fputs(c->usage, stdout);
            return 1;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            if (take_option(c, argc, argv, &i, a) < 0)
                return -1;
        } else if ((c->allowed & OPT_ID) && !a->id) {
            a->id = argv[i];
        } else {
            fprintf(stderr, "intake spool %s: unexpected argument '%s'\n", c->name, argv[i]);
            return -1;
        }
    }
    return check_args(c, a);
}

/* ---- the spool ---- */

/* Opens the spool the arguments name. Returns 0, or the exit status (message printed). */
static int open_spool(const struct spool_args *a, intake_spool **sp)
{
    char *path = NULL;
    if (a->config) {
        intake_config *cfg = NULL;
        intake_diag diag = {0};
        if (intake_config_load(a->config, &cfg, &diag) < 0) {
            print_diag(&diag);
            return 1;
        }
        path = intake_daemon_spool_path(cfg);
        intake_config_free(cfg);
    } else {
        path = strdup(a->spool);
    }
    if (!path) {
        fprintf(stderr, "intake spool: no spool path (or out of memory)\n");
        return 1;
    }
    int rc = 1;
    char err[256] = "";
    if (access(path, F_OK) != 0)
        fprintf(stderr, "intake spool: there is no spool at %s\n", path);
    else if ((rc = intake_spool_open(path, sp, err, sizeof err)) != INTAKE_SPOOL_OK)
        fprintf(stderr, "intake spool: cannot open %s: %s\n", path, err);
    free(path);
    return rc == INTAKE_SPOOL_OK ? 0 : rc == INTAKE_SPOOL_TEMP ? EX_TEMPFAIL : 1;
}

static int run(const struct subcommand *c, const struct spool_args *a)
{
    intake_spool *sp = NULL;
    int rc = open_spool(a, &sp);
    if (rc)
        return rc;
    rc = c->run(sp, a);
    intake_spool_close(sp);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "intake spool %s: cannot write the output\n", c->name);
        return rc ? rc : 1;
    }
    return rc;
}

int cmd_spool(int argc, char **argv)
{
    int sub = subcommand_index(argc, argv);
    if (!sub || !strcmp(argv[sub], "help")) {
        bool help = sub != 0;
        for (int i = 1; i < argc; i++)
            help = help || is_help(argv[i]);
        fputs(usage_all, help ? stdout : stderr);
        return help ? 0 : EXIT_USAGE;
    }
    const struct subcommand *c = find_subcommand(argv[sub]);
    if (!c) {
        fprintf(stderr, "intake spool: unknown command '%s'\n\n%s", argv[sub], usage_all);
        return EXIT_USAGE;
    }
    struct spool_args a;
    int p = parse_args(c, argc, argv, sub, &a);
    if (p)
        return p > 0 ? 0 : EXIT_USAGE;
    return run(c, &a);
}
