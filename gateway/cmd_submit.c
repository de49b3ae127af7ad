/*
 * `intake submit --config FILE --source NAME [--format json|eml]`: stores one item read
 * from stdin in the spool: a JSON item, or with --format eml an RFC 5322 message made an
 * item by the MIME parser (include/intake/mime.h). Exit 0 only once the item is committed
 * (or was already there), 75 (EX_TEMPFAIL) when a retry later may work, 65 (EX_DATAERR)
 * for input that can never be accepted.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "daemon.h"
#include "intake/config.h"
#include "intake/mime.h"
#include "intake/source.h"
#include "intake/spool.h"

#define EX_DATAERR 65
#define EX_TEMPFAIL 75
#define READ_TIMEOUT 300 /* seconds a writer may take to give us the whole item */

static const char usage[] =
    "usage: intake submit --config FILE --source NAME [--format json|eml]\n"
    "\n"
    "Reads one item (a JSON object: id, channel, subject, body, from, public) from stdin\n"
    "and stores it in the spool for the daemon to classify and deliver. The item's id is\n"
    "its source_id: submitting it again changes nothing.\n"
    "\n"
    "--format eml reads an RFC 5322 e-mail message instead (from an MTA pipe) and makes\n"
    "it an item with the MIME parser; its id is the Message-ID. A message larger than\n"
    "max_size is stored from its header only, marked oversize.\n"
    "\n"
    "Exit status: 0 stored (or already stored); 65 the input can never be accepted;\n"
    "75 temporary failure (spool busy, disk full, bad configuration): try again later.\n";

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "intake submit: timed out reading stdin\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(EX_TEMPFAIL);
}

struct submit_args {
    const char *config, *source;
    bool eml; /* --format eml */
};

static int parse_args(int argc, char **argv, struct submit_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            a->config = argv[++i];
        } else if (!strcmp(argv[i], "--source") && i + 1 < argc) {
            a->source = argv[++i];
        } else if (!strcmp(argv[i], "--format") && i + 1 < argc &&
                   (!strcmp(argv[i + 1], "json") || !strcmp(argv[i + 1], "eml"))) {
            a->eml = !strcmp(argv[++i], "eml");
        } else {
            fprintf(stderr, "intake submit: unexpected argument '%s'\n\n%s", argv[i], usage);
            return -1;
        }
    }
    if (!a->config || !a->source) {
        fprintf(stderr, "intake submit: --config and --source are required\n\n%s", usage);
        return -1;
    }
    return 0;
}

/* Stores the item; prints the record id. Returns the exit status. */
static int store(const intake_config *cfg, const char *source, json_t *item)
{
    char *path = intake_daemon_spool_path(cfg);
    intake_spool *sp = NULL;
    char err[256] = "out of memory";
    int rc = path ? intake_spool_open(path, &sp, err, sizeof err) : INTAKE_SPOOL_TEMP;
    free(path);
    struct intake_submit_result res;
    if (rc == INTAKE_SPOOL_OK) {
        rc = intake_spool_submit(sp, source, &item, 1, NULL, NULL, &res);
        snprintf(err, sizeof err, "%s", intake_spool_error(sp));
    }
    intake_spool_close(sp);
    if (rc == INTAKE_SPOOL_OK) {
        printf("%s %s\n", res.record_id, res.duplicate ? "duplicate" : "stored");
        return 0;
    }
    fprintf(stderr, "intake submit: %s spool failure: %s\n",
            rc == INTAKE_SPOOL_TEMP ? "temporary" : "permanent", err);
    return EX_TEMPFAIL; /* even a broken spool is the operator's to fix: keep the mail */
}

/* The pipe source named `name`, or NULL with a message printed. */
static const struct intake_section *pipe_section(const intake_config *cfg, const char *name)
{
    const struct intake_section *sec = intake_config_section(cfg, "source", name);
    const char *type = sec ? intake_config_get(sec, "type") : NULL;
    if (!sec)
        fprintf(stderr, "intake submit: the config has no [source \"%s\"]\n", name);
    else if (!type || strcmp(type, "pipe"))
        fprintf(stderr, "intake submit: source \"%s\" is not of type pipe\n", name);
    else
        return sec;
    return NULL;
}

/* Reads an e-mail message from stdin: its first max bytes into a new buffer (*len of
 * them), the rest only counted (*total is the full size). Returns 0, or -1 on a read
 * error or out of memory. */
static int read_message_bounded(size_t max, char **out, size_t *len, size_t *total)
{
    size_t cap = max < 65536 ? max : 65536, n = 0, extra = 0;
    char *buf = malloc(cap + 1), scratch[16384];
    while (buf) {
        if (n == cap && cap < max) {
            size_t grown = cap * 2 < max ? cap * 2 : max;
            char *nb = realloc(buf, grown + 1);
            if (!nb)
                break;
            buf = nb;
            cap = grown;
        }
        size_t got = n < cap ? fread(buf + n, 1, cap - n, stdin)
                             : fread(scratch, 1, sizeof scratch, stdin);
        *(n < cap ? &n : &extra) += got;
        if (got == 0) {
            if (ferror(stdin))
                break;
            *out = buf;
            *len = n;
            *total = n + extra;
            return 0;
        }
    }
    free(buf);
    return -1;
}

/* Reads stdin up to max bytes into a new buffer. Returns 0, 1 when the input is larger
 * (nothing kept), -1 on a read error or out of memory. */
static int read_stdin(size_t max, char **out, size_t *len)
{
    size_t total;
    if (read_message_bounded(max, out, len, &total) < 0)
        return -1;
    if (total <= max)
        return 0;
    free(*out);
    *out = NULL;
    return 1;
}

/* The length of the header block at the start of a message (up to its blank line). */
static size_t header_length(const char *raw, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (raw[i] == '\n' && (raw[i + 1] == '\n' || (raw[i + 1] == '\r' && i + 2 < len &&
                                                      raw[i + 2] == '\n')))
            return i + 1;
    return len;
}

/* The item of an e-mail message on stdin (the MIME parser's); NULL with the exit status
 * in *rc. */
static json_t *eml_item(size_t max, int *rc)
{
    struct intake_mime_opts o = INTAKE_MIME_OPTS_DEFAULT;
    char *raw = NULL, err[128] = "out of memory";
    size_t len = 0, total = 0;
    int r = read_message_bounded(max, &raw, &len, &total);
    alarm(0);
    if (r != 0) {
        fprintf(stderr, "intake submit: cannot read stdin\n");
        *rc = EX_TEMPFAIL;
        return NULL;
    }
    json_t *item = total > len ? intake_mime_parse_oversize(raw, header_length(raw, len), total,
                                                            &o, err, sizeof err)
                               : intake_mime_parse(raw, len, &o, err, sizeof err);
    free(raw);
    const char *why = item ? intake_spool_item_invalid(item) : err;
    if (!item || why) {
        fprintf(stderr, "intake submit: the message cannot be accepted: %s\n", why);
        *rc = strcmp(why, "out of memory") == 0 ? EX_TEMPFAIL : EX_DATAERR;
        json_decref(item);
        return NULL;
    }
    return item;
}

/* The item of a JSON object on stdin; NULL with the exit status in *rc. */
static json_t *json_item(const struct intake_section *sec, size_t max, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    int r = read_stdin(max, &text, &len);
    alarm(0); /* the read is done; the spool's own busy timeout bounds the commit */
    if (r != 0) {
        fprintf(stderr, "intake submit: %s\n",
                r > 0 ? "the item is larger than max_size" : "cannot read stdin");
        *rc = r > 0 ? EX_DATAERR : EX_TEMPFAIL;
        return NULL;
    }
    const char *why = NULL;
    json_t *item = intake_item_parse(text, len, sec, &why);
    free(text);
    if (!item) {
        fprintf(stderr, "intake submit: the item cannot be accepted: %s\n", why);
        *rc = EX_DATAERR;
    }
    return item;
}

static int submit(const intake_config *cfg, const char *name, bool eml)
{
    const struct intake_section *sec = pipe_section(cfg, name);
    if (!sec)
        return EX_TEMPFAIL;
    size_t max = (size_t)intake_config_get_int(sec, "max_size", 8388608);
    int rc = 0;
    json_t *item = eml ? eml_item(max, &rc) : json_item(sec, max, &rc);
    if (!item)
        return rc;
    rc = store(cfg, name, item);
    json_decref(item);
    return rc;
}

int cmd_submit(int argc, char **argv)
{
    struct submit_args a;
    if (parse_args(argc, argv, &a) < 0)
        return EXIT_USAGE;
    signal(SIGALRM, on_alarm);
    alarm(READ_TIMEOUT);
    intake_config *cfg = NULL;
    intake_diag diag = {0};
    if (intake_config_load(a.config, &cfg, &diag) < 0) {
        print_diag(&diag);
        return EX_TEMPFAIL;
    }
    int rc = submit(cfg, a.source, a.eml);
    intake_config_free(cfg);
    return rc;
}
