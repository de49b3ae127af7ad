/* The configuration file: good files load with their values and defaults, every kind of
 * bad file gives "file:line: message" with the right line, ${ENV} expands, and
 * `intake config check` / `intake config keys` behave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "intake/config.h"
#include "intake/sink.h"
#include "intake/source.h"

#define DIR INTAKE_FIXTURES "/config"

static char tmpdir[] = "/tmp/intake-test-config-XXXXXX";
static char tmpfile_path[sizeof tmpdir + 16];

/* ---- helpers -------------------------------------------------------------------------- */

static int make_tmpdir(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(tmpfile_path, sizeof tmpfile_path, "%s/t.conf", tmpdir);
    return 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    unlink(tmpfile_path);
    return rmdir(tmpdir);
}

/* Writes `text` to the scratch file and returns its path. */
static const char *write_conf(const char *text)
{
    FILE *f = fopen(tmpfile_path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return tmpfile_path;
}

static intake_config *load_ok(const char *path)
{
    intake_diag d = {0};
    intake_config *cfg = NULL;
    int rc = intake_config_load(path, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        print_error("unexpected: %s\n", d.lines[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(d.n, 0);
    assert_non_null(cfg);
    intake_diag_clear(&d);
    return cfg;
}

static intake_config *load_text_ok(const char *text)
{
    return load_ok(write_conf(text));
}

static void dump(const intake_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        print_error("got: %s\n", d->lines[i]);
}

/* True when some line of d is "path:line: ..." and contains `want`. */
static bool has_line(const intake_diag *d, const char *path, int line, const char *want)
{
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    for (size_t i = 0; i < d->n; i++)
        if (strncmp(d->lines[i], prefix, strlen(prefix)) == 0 && strstr(d->lines[i], want))
            return true;
    return false;
}

/* Loads `text` expecting failure with exactly `count` messages, one of them at `line`
 * containing `want`. Returns nothing; fails the test otherwise. */
static void expect_errors(const char *text, size_t count, int line, const char *want)
{
    intake_diag d = {0};
    intake_config *cfg = (intake_config *)1;
    const char *path = write_conf(text);
    assert_int_equal(intake_config_load(path, &cfg, &d), -1);
    assert_null(cfg);
    if (d.n != count || !has_line(&d, path, line, want)) {
        dump(&d);
        fail_msg("wanted %zu message(s), one at line %d with '%s'", count, line, want);
    }
    intake_diag_clear(&d);
}

static void expect_error(const char *text, int line, const char *want)
{
    expect_errors(text, 1, line, want);
}

/* No message of loading `text` contains `secret`. */
static void expect_not_shown(const char *text, const char *secret)
{
    intake_diag d = {0};
    intake_config *cfg = NULL;
    assert_int_equal(intake_config_load(write_conf(text), &cfg, &d), -1);
    assert_true(d.n > 0);
    for (size_t i = 0; i < d.n; i++)
        if (strstr(d.lines[i], secret)) {
            dump(&d);
            fail_msg("a message shows '%s'", secret);
        }
    intake_diag_clear(&d);
}

static void assert_get(const intake_config *cfg, const char *kind, const char *name,
                       const char *key, const char *want)
{
    const struct intake_section *s = intake_config_section(cfg, kind, name);
    assert_non_null(s);
    const char *v = intake_config_get(s, key);
    if (want == NULL)
        assert_null(v);
    else {
        assert_non_null(v);
        assert_string_equal(v, want);
    }
}

static void assert_path(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* ---- good files ----------------------------------------------------------------------- */

static void loads_the_design_example(void **state)
{
    (void)state;
    setenv("INTAKE_TEST_CRM_TOKEN", "tok-123 $not-expanded ${AGAIN}", 1);
    intake_config *cfg = load_ok(DIR "/good.conf");
    assert_string_equal(cfg->path, DIR "/good.conf");
    assert_string_equal(cfg->dir, DIR);
    assert_get(cfg, "spool", NULL, "path", "/var/lib/intake/spool.db");
    assert_get(cfg, "http", NULL, "listen", "127.0.0.1:8025");
    assert_get(cfg, "policy", NULL, "closures", "2025-12-29, 2025-12-30,2025-12-31");
    assert_get(cfg, "policy", NULL, "respond_from", "receipt");
    assert_get(cfg, "log", NULL, "level", "warn");
    assert_get(cfg, "source", "mta", "type", "pipe");
    assert_get(cfg, "source", "mta", "channel", "email");
    assert_get(cfg, "source", "drop", "type", "maildir");
    assert_get(cfg, "source", "drop", "path", "drop");
    assert_get(cfg, "sink", "case-system", "url", "https://crm.example.org/api/intake");
    /* expanded once, not again */
    assert_get(cfg, "sink", "case-system", "token", "tok-123 $not-expanded ${AGAIN}");
    assert_get(cfg, "sink", "archive", "path", "archive.jsonl");

    const struct intake_section *drop = intake_config_section(cfg, "source", "drop");
    assert_int_equal(drop->line, 27);
    assert_int_equal(drop->nkv, 4);
    assert_int_equal(drop->kv[1].line, 29); /* a tab-indented key */
    assert_int_equal(intake_config_get_int(drop, "poll_interval", -1), 30);
    assert_false(intake_config_get_bool(drop, "enabled", true));

    const struct intake_section *crm = intake_config_section(cfg, "sink", "case-system");
    assert_int_equal(intake_config_get_int(crm, "retry_min_delay", -1), 2);
    assert_int_equal(intake_config_get_int(crm, "retry_max_delay", -1), 600);
    assert_int_equal(intake_config_get_int(crm, "max_attempts", -1), 12);
    assert_int_equal(intake_config_get_int(crm, "timeout", -1), 30); /* default */
    assert_true(crm->kv[2].from_env);
    assert_false(crm->kv[1].from_env);

    /* sources and sinks in file order; the core sections are all there */
    size_t sources = 0, sinks = 0;
    for (size_t i = 0; i < cfg->nsections; i++) {
        sources += strcmp(cfg->sections[i].kind, "source") == 0;
        sinks += strcmp(cfg->sections[i].kind, "sink") == 0;
    }
    assert_int_equal(sources, 2);
    assert_int_equal(sinks, 2);
    assert_int_equal(cfg->nsections, 11); /* 4 named, 7 core (missing ones added) */
    intake_config_free(cfg);
    unsetenv("INTAKE_TEST_CRM_TOKEN");
}

static void resolves_paths(void **state)
{
    (void)state;
    setenv("INTAKE_TEST_CRM_TOKEN", "t", 1);
    intake_config *cfg = load_ok(DIR "/good.conf");
    const struct intake_section *spool = intake_config_section(cfg, "spool", NULL);
    const struct intake_section *drop = intake_config_section(cfg, "source", "drop");
    const struct intake_section *policy = intake_config_section(cfg, "policy", NULL);
    assert_path(intake_config_get_path(cfg, spool, "path"), "/var/lib/intake/spool.db");
    assert_path(intake_config_get_path(cfg, drop, "path"), DIR "/drop");
    assert_path(intake_config_rules_dir(cfg), DIR "/../../../rules");
    assert_path(intake_config_get_rules_path(cfg, policy, "calendar"),
                DIR "/../../../rules/calendars/england-and-wales.txt");
    assert_null(intake_config_get_path(cfg, drop, "no_such_key"));
    assert_null(intake_config_get_path(cfg, NULL, "path"));
    intake_config_free(cfg);

    /* a relative config path gives an absolute folder */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(INTAKE_FIXTURES), 0);
    cfg = load_ok("config/good.conf");
    assert_string_equal(cfg->dir, INTAKE_FIXTURES "/config");
    assert_path(intake_config_get_path(cfg, intake_config_section(cfg, "sink", "archive"),
                                       "path"), DIR "/archive.jsonl");
    intake_config_free(cfg);
    assert_int_equal(chdir(DIR), 0);
    cfg = load_ok("minimal.conf");
    assert_string_equal(cfg->dir, DIR);
    intake_config_free(cfg);
    assert_int_equal(chdir(cwd), 0);
    unsetenv("INTAKE_TEST_CRM_TOKEN");
}

static void gives_defaults(void **state)
{
    (void)state;
    intake_config *cfg = load_ok(DIR "/minimal.conf");
    const struct intake_section *http = intake_config_section(cfg, "http", NULL);
    const struct intake_section *spool = intake_config_section(cfg, "spool", NULL);
    const struct intake_section *mta = intake_config_section(cfg, "source", "mta");
    assert_non_null(http); /* absent from the file, added for its defaults */
    assert_int_equal(http->line, 0);
    assert_int_equal(http->nkv, 0);
    assert_get(cfg, "http", NULL, "listen", "127.0.0.1:8025");
    assert_true(intake_config_get_bool(http, "enabled", false));
    assert_int_equal(intake_config_get_int(http, "connection_timeout", -1), 10);
    assert_int_equal(intake_config_get_int(http, "per_ip_limit", -1), 16);
    assert_int_equal(intake_config_get_int(http, "max_connections", -1), 256);
    assert_int_equal(intake_config_get_int(spool, "retention_days", -1), 30);
    assert_path(intake_config_get_path(cfg, spool, "path"), DIR "/intake-spool.db");
    assert_get(cfg, "rules", NULL, "path", NULL);
    assert_get(cfg, "policy", NULL, "profile", "housing-ombudsman");
    assert_get(cfg, "policy", NULL, "respond_from", "acknowledgement");
    assert_get(cfg, "policy", NULL, "timezone", "Europe/London");
    assert_get(cfg, "policy", NULL, "closures", NULL);
    assert_get(cfg, "log", NULL, "level", "info");
    const struct intake_section *policy = intake_config_section(cfg, "policy", NULL);
    assert_int_equal(intake_config_get_int(policy, "acknowledge_days", -1), 5);
    assert_int_equal(intake_config_get_int(policy, "stage1_days", -1), 10);
    assert_int_equal(intake_config_get_int(policy, "stage2_days", -1), 20);
    assert_int_equal(intake_config_get_int(policy, "mp_acknowledge_days", -1), 5);
    assert_int_equal(intake_config_get_int(policy, "mp_respond_days", -1), 10);
    assert_get(cfg, "source", "mta", "channel", "email");
    assert_int_equal(intake_config_get_int(mta, "poll_interval", -1), 60);
    assert_true(intake_config_get_bool(mta, "enabled", false));
    /* unknown keys and NULL sections fall back */
    assert_int_equal(intake_config_get_int(mta, "nonsense", -7), -7);
    assert_true(intake_config_get_bool(NULL, "enabled", true));
    assert_null(intake_config_get(NULL, "listen"));
    assert_null(intake_config_section(cfg, "source", "nope"));
    assert_null(intake_config_section(cfg, "sink", NULL));

    /* the rules folder: $INTAKE_RULES_DIR, else the build's */
    setenv("INTAKE_RULES_DIR", "/srv/rules", 1);
    assert_path(intake_config_rules_dir(cfg), "/srv/rules");
    assert_path(intake_config_get_rules_path(cfg, policy, "calendar"),
                "/srv/rules/calendars/england-and-wales.txt");
    unsetenv("INTAKE_RULES_DIR");
    assert_path(intake_config_rules_dir(cfg), INTAKE_RULES_DIR);
    intake_config_free(cfg);

    /* sink defaults */
    cfg = load_text_ok("[sink \"a\"]\ntype = jsonl\npath = x.jsonl\n");
    const struct intake_section *a = intake_config_section(cfg, "sink", "a");
    assert_int_equal(intake_config_get_int(a, "retry_min_delay", -1), 1);
    assert_int_equal(intake_config_get_int(a, "retry_max_delay", -1), 300);
    assert_int_equal(intake_config_get_int(a, "max_attempts", -1), 20);
    assert_int_equal(intake_config_get_int(a, "timeout", -1), 30);
    assert_true(intake_config_get_bool(a, "enabled", false));
    intake_config_free(cfg);
}

static void reads_comments_and_layout(void **state)
{
    (void)state;
    intake_config *cfg = load_text_ok(
        "\xEF\xBB\xBF# a BOM, then a comment\r\n"
        "; another\r\n"
        "   # an indented comment\r\n"
        "[policy]   ; after a header\r\n"
        "profile = a;b\r\n"                     /* no space before ';': a value */
        "calendar = Europe/London # not a comment\r\n"
        "  closures=2024-02-29\t; leap day\r\n"
        "\tstage1_days: 7\r\n"
        "[log] # hash after a header\r\n"
        "level = debug ;\r\n");
    assert_get(cfg, "policy", NULL, "profile", "a;b");
    assert_get(cfg, "policy", NULL, "calendar", "Europe/London # not a comment");
    assert_get(cfg, "policy", NULL, "closures", "2024-02-29");
    assert_get(cfg, "policy", NULL, "stage1_days", "7");
    assert_get(cfg, "log", NULL, "level", "debug");
    const struct intake_section *p = intake_config_section(cfg, "policy", NULL);
    assert_int_equal(p->line, 4);
    assert_int_equal(p->kv[3].line, 8);
    intake_config_free(cfg);
}

static void accepts_each_form_of_value(void **state)
{
    (void)state;
    static const char *const good[] = {
        "[http]\nenabled = YES\n", "[http]\nenabled = off\n", "[http]\nenabled = 0\n",
        "[http]\nenabled = True\n", "[http]\nlisten = [::1]:8025\n",
        "[http]\nlisten = 0.0.0.0:1\n", "[http]\nlisten = example.org:65535\n",
        "[spool]\nretention_days = 3650\n", "[policy]\nacknowledge_days = 0\n",
        "[policy]\nclosures =\n", "[policy]\nclosures = 2000-02-29,2023-12-25\n",
        "[source \"a.b_c-D9\"]\ntype = pipe\n",
        "[source \"x\"]\ntype = pipe\n[sink \"x\"]\ntype = jsonl\npath = p\n",
        "[sink \"s\"]\ntype = jsonl\npath = p\nretry_min_delay = 5\nretry_max_delay = 5\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        intake_config_free(load_text_ok(good[i]));
}

/* ---- ${ENV} ----------------------------------------------------------------------------- */

static void expands_the_environment(void **state)
{
    (void)state;
    setenv("INTAKE_TEST_HOST", "192.0.2.7", 1);
    setenv("_INTAKE_TEST_PORT9", "9000", 1);
    setenv("INTAKE_TEST_EMPTY", "", 1);
    intake_config *cfg = load_text_ok(
        "[http]\n"
        "listen = ${INTAKE_TEST_HOST}:${_INTAKE_TEST_PORT9}\n"
        "[policy]\n"
        "profile = a$$b $5 $ end$\n"
        "calendar = x${INTAKE_TEST_EMPTY}y\n");
    assert_get(cfg, "http", NULL, "listen", "192.0.2.7:9000");
    assert_get(cfg, "policy", NULL, "profile", "a$$b $5 $ end$");
    assert_get(cfg, "policy", NULL, "calendar", "xy");
    intake_config_free(cfg);
    unsetenv("INTAKE_TEST_HOST");
    unsetenv("_INTAKE_TEST_PORT9");
    unsetenv("INTAKE_TEST_EMPTY");
}

static void reports_environment_problems(void **state)
{
    (void)state;
    unsetenv("INTAKE_TEST_UNSET");
    expect_error("[policy]\n\nprofile = ${INTAKE_TEST_UNSET}\n", 3,
                 "'profile' in [policy]: environment variable INTAKE_TEST_UNSET is not set");
    expect_error("[policy]\nprofile = ${9LIVES}\n", 2, "'${' must start ${NAME}");
    expect_error("[policy]\nprofile = ${UNCLOSED\n", 2, "'${' must start ${NAME}");
    expect_error("[policy]\nprofile = ${}\n", 2, "'${' must start ${NAME}");
    expect_error("[policy]\nprofile = ${A-B}\n", 2, "'${' must start ${NAME}");

    /* bounded after expansion */
    char *big = malloc(40001);
    assert_non_null(big);
    memset(big, 'x', 40000);
    big[40000] = '\0';
    setenv("INTAKE_TEST_BIG", big, 1);
    free(big);
    intake_config_free(load_text_ok("[policy]\nprofile = ${INTAKE_TEST_BIG}\n"));
    expect_error("[policy]\nprofile = ${INTAKE_TEST_BIG}${INTAKE_TEST_BIG}\n", 2,
                 "'profile' in [policy] is longer than 65536 bytes");
    unsetenv("INTAKE_TEST_BIG");

    /* a value from the environment is never quoted, even when it is wrong */
    setenv("INTAKE_TEST_LISTEN", "hunter2-not-an-address", 1);
    expect_error("[http]\nlisten = ${INTAKE_TEST_LISTEN}\n", 2,
                 "bad value (from the environment) for 'listen' in [http]");
    expect_not_shown("[http]\nlisten = ${INTAKE_TEST_LISTEN}\n", "hunter2");
    expect_not_shown("[source \"s\"]\ntype = ${INTAKE_TEST_LISTEN}\n", "hunter2");
    expect_not_shown("[sink \"s\"]\ntype = http\nurl = https://x.example\n"
                     "token = ${INTAKE_TEST_LISTEN}\ntoken = again\n", "hunter2");
    unsetenv("INTAKE_TEST_LISTEN");
}

/* ---- bad files -------------------------------------------------------------------------- */

static void reports_bad_values(void **state)
{
    (void)state;
    expect_error("[spool]\nretention_days = 0\n", 2,
                 "bad value '0' for 'retention_days' in [spool]: expected a whole number "
                 "from 1 to 3650");
    expect_error("[spool]\nretention_days = 3651\n", 2, "from 1 to 3650");
    expect_error("[spool]\nretention_days = 10d\n", 2, "'10d' for 'retention_days'");
    expect_error("[spool]\nretention_days = \n", 2, "'' for 'retention_days'");
    expect_error("[spool]\nretention_days = 99999999999999999999999\n", 2, "whole number");
    expect_error("[spool]\n# c\npath =\n", 3, "bad value '' for 'path' in [spool]: "
                 "expected a path");
    expect_error("[http]\nenabled = maybe\n", 2,
                 "bad value 'maybe' for 'enabled' in [http]: expected yes or no");
    expect_error("[http]\nlisten = 8025\n", 2, "expected host:port with a port from 1");
    expect_error("[http]\nlisten = localhost:0\n", 2, "'localhost:0' for 'listen'");
    expect_error("[http]\nlisten = localhost:65536\n", 2, "'localhost:65536'");
    expect_error("[http]\nlisten = :8025\n", 2, "for 'listen'");
    expect_error("[http]\nlisten = ::1:8025\n", 2, "for 'listen'");
    expect_error("[http]\nlisten = []:8025\n", 2, "for 'listen'");
    expect_error("[http]\nlisten = 127.0.0.1:80x\n", 2, "for 'listen'");
    expect_error("[log]\nlevel = verbose\n", 2,
                 "bad value 'verbose' for 'level' in [log]: expected one of "
                 "debug|info|warn|error");
    expect_error("[log]\nlevel = INFO\n", 2, "for 'level'"); /* choices are exact */
    expect_error("[policy]\nrespond_from = whenever\n", 2, "acknowledgement|receipt");
    expect_error("[policy]\nacknowledge_days = 61\n", 2, "from 0 to 60");
    expect_error("[source \"s\"]\ntype = pipe\nchannel = fax\n", 3,
                 "bad value 'fax' for 'channel' in [source \"s\"]");
    expect_error("[source \"s\"]\ntype = pipe\npoll_interval = 0\n", 3, "from 1 to 86400");
    expect_error("[sink \"s\"]\ntype = jsonl\npath = p\nmax_attempts = 1001\n", 4,
                 "from 1 to 1000");
    expect_error("[sink \"s\"]\ntype = jsonl\npath = p\ntimeout = 601\n", 4,
                 "from 1 to 600");
    /* a long value is cut when quoted */
    char text[128], want[128];
    snprintf(text, sizeof text, "[log]\nlevel = %070d\n", 0);
    snprintf(want, sizeof want, "bad value '%060d...' for 'level'", 0);
    expect_error(text, 2, want);
}

static void reports_bad_closures(void **state)
{
    (void)state;
    expect_error("[policy]\nclosures = 2025-12-25, 2025-02-29\n", 2,
                 "bad date '2025-02-29' in 'closures' of [policy]");
    expect_error("[policy]\nclosures = 2025-12-25,,2025-12-26\n", 2, "bad date ''");
    expect_error("[policy]\nclosures = 25/12/2025\n", 2, "bad date '25/12/2025'");
    expect_error("[policy]\nclosures = 2025-13-01\n", 2, "bad date '2025-13-01'");
    expect_error("[policy]\nclosures = 2025-12-25,\n", 2, "bad date ''");
    expect_error("[policy]\nclosures = ,\n", 2, "bad date ''");
    expect_error("[policy]\nclosures = 1900-02-29\n", 2, "bad date");
}

static void reports_bad_case_reference(void **state)
{
    (void)state;
    expect_error("[rules]\ncase_reference = (CMP-\\d+\n", 2,
                 "bad 'case_reference' in [rules]: the pattern does not compile");
    expect_error("[rules]\n\ncase_reference = (CMP)-(\\d+)\n", 3,
                 "more than one capturing group");
    intake_config_free(load_text_ok("[rules]\ncase_reference = \\b(?:CMP|CAS)-\\d{4,}\\b\n"));
    intake_config_free(load_text_ok("[rules]\ncase_reference = ref (\\d+)\n"));
}

static void reports_unknown_keys_and_sections(void **state)
{
    (void)state;
    expect_error("[http]\nlisten = 127.0.0.1:1\ncolour = blue\n", 3,
                 "unknown key 'colour' in [http]");
    expect_error("[source \"mta\"]\ntype = pipe\nurl = x\n", 3,
                 "unknown key 'url' in [source \"mta\"]");
    expect_error("[sink \"crm\"]\ntype = http\nurl = https://x.example\nchannel = email\n",
                 4, "unknown key 'channel' in [sink \"crm\"]");
    /* keys of a bad section are not reported again */
    expect_error("# c\n[gizmo]\nsize = 3\n", 2,
                 "unknown section [gizmo] (sections: spool, http, rules, policy, log, "
                 "source \"NAME\", sink \"NAME\")");
    expect_error("[spool \"main\"]\npath = x\n", 1, "[spool] takes no name");
    expect_error("\n[source]\ntype = pipe\n", 2, "[source] needs a name: [source \"NAME\"]");
    expect_error("[sink \"\"]\n", 1, "bad sink name \"\": use 1 to 64 of");
    expect_error("[source \"a b\"]\n", 1, "bad source name \"a b\"");
    expect_error("[source \"a/b\"]\n", 1, "bad source name");
    expect_error("[source \"a\" \"b\"]\n", 1, "bad section header");
    expect_error("[source \"a]\n", 1, "closing '\"'");
    char text[128];
    snprintf(text, sizeof text, "[source \"%065d\"]\ntype = pipe\n", 0);
    expect_error(text, 1, "bad source name"); /* 65 characters */
    snprintf(text, sizeof text, "[source \"%064d\"]\ntype = pipe\n", 0);
    intake_config_free(load_text_ok(text));
    expect_error("[]\n", 1, "bad section header");
    expect_error("[http\nlisten = x\n", 1, "section header without ']'");
    expect_error("[http] extra\n", 1, "unexpected text after ']'");
}

static void reports_types(void **state)
{
    (void)state;
    expect_error("[spool]\n[source \"mta\"]\nchannel = email\n", 2,
                 "[source \"mta\"] has no type (source types: pipe, maildir");
    expect_error("[sink \"crm\"]\n\nurl = https://x.example\n", 1,
                 "[sink \"crm\"] has no type (sink types: http, jsonl");
    expect_error("[source \"box\"]\nchannel = email\n\ntype = imap-ish\n", 4,
                 "unknown source type 'imap-ish' in [source \"box\"] (source types: pipe, "
                 "maildir");
    expect_error("[sink \"crm\"]\ntype = salesforce\n", 2,
                 "unknown sink type 'salesforce' in [sink \"crm\"] (sink types: http, jsonl");
    expect_error("[sink \"crm\"]\ntype =\n", 2, "unknown sink type ''");
    /* with the type unknown its own keys cannot be judged, but the common ones can */
    expect_errors("[source \"box\"]\ntype = pop3\nhost = x\nchannel = fax\n", 2, 4,
                  "bad value 'fax' for 'channel'");
    /* the type's check runs: the http sink refuses a URL that is not http(s) */
    intake_diag d = {0};
    intake_config *cfg = NULL;
    const char *path = write_conf("[sink \"crm\"]\ntype = http\nurl = ftp://x.example\n");
    assert_int_equal(intake_config_load(path, &cfg, &d), -1);
    assert_int_equal(d.n, 1);
    intake_diag_clear(&d);
}

/* The first required key of any type's own table (besides `type`). */
static bool find_required(const char **kind, const char **type, const char **key)
{
    const struct intake_option *o;
    for (size_t i = 0; intake_sink_types[i]; i++)
        for (o = intake_sink_types[i]->options; o && o->name; o++)
            if (o->required) {
                *kind = "sink", *type = intake_sink_types[i]->type, *key = o->name;
                return true;
            }
    for (size_t i = 0; intake_source_types[i]; i++)
        for (o = intake_source_types[i]->options; o && o->name; o++)
            if (o->required) {
                *kind = "source", *type = intake_source_types[i]->type, *key = o->name;
                return true;
            }
    return false;
}

static void reports_missing_required_keys(void **state)
{
    (void)state;
    const char *kind = NULL, *type = NULL, *key = NULL;
    if (!find_required(&kind, &type, &key))
        skip();
    char text[256], want[256];
    snprintf(text, sizeof text, "[spool]\n\n[%s \"x\"]\n# comment\ntype = %s\n", kind, type);
    snprintf(want, sizeof want, "[%s \"x\"] is missing required key '%s'", kind, key);
    expect_error(text, 3, want);
    /* empty: one message, at the key's line */
    snprintf(text, sizeof text, "[%s \"x\"]\ntype = %s\n%s =  ; nothing\n", kind, type, key);
    snprintf(want, sizeof want, "'%s' in [%s \"x\"]", key, kind);
    expect_error(text, 3, want);
    expect_error("[sink \"x\"]\ntype = http\nurl =\n", 3,
                 "required key 'url' in [sink \"x\"] is empty");
}

static void reports_duplicates(void **state)
{
    (void)state;
    expect_error("[http]\nlisten = 127.0.0.1:1\n\nlisten = 127.0.0.1:2\n", 4,
                 "duplicate key 'listen' in [http] (first at line 2)");
    expect_error("[spool]\npath = a\n[http]\n[spool]\n", 4,
                 "section [spool] appears twice (first at line 1)");
    expect_error("[source \"mta\"]\ntype = pipe\n[source \"mta\"]\ntype = pipe\n", 3,
                 "source \"mta\" is defined twice (first at line 1)");
    expect_error("[sink \"a\"]\ntype = jsonl\npath = p\n\n[sink \"a\"]\n", 5,
                 "sink \"a\" is defined twice (first at line 1)");
}

static void reports_syntax_and_layout(void **state)
{
    (void)state;
    expect_error("listen = 127.0.0.1:1\n[http]\n", 1, "key 'listen' is outside any section");
    expect_error("[http]\n\nlisten 127.0.0.1\n", 3,
                 "expected key = value, [section] or a comment");
    expect_error("[http]\n= 127.0.0.1:1\n", 2, "a value without a key in [http]");
    expect_error("[http]\nlisten ; = x\n", 2, "expected key = value");
    /* an over-long line is refused, and the lines after it keep their numbers */
    char text[600];
    char longline[INTAKE_CONFIG_LINE_MAX + 2];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    snprintf(text, sizeof text, "[policy]\nprofile = %s\nbad line\n", longline);
    expect_errors(text, 2, 2, "line longer than 198 characters");
    expect_errors(text, 2, 3, "expected key = value");
    /* exactly 198 characters is fine */
    snprintf(text, sizeof text, "[policy]\nprofile = %.*s\n", INTAKE_CONFIG_LINE_MAX - 10,
             longline);
    assert_int_equal(strlen(strchr(text, '\n') + 1), INTAKE_CONFIG_LINE_MAX + 1);
    intake_config_free(load_text_ok(text));
    /* a NUL byte */
    FILE *f = fopen(tmpfile_path, "w");
    assert_non_null(f);
    fwrite("[http]\nlisten = a\0b\n", 1, 20, f);
    fclose(f);
    intake_diag d = {0};
    intake_config *cfg = NULL;
    assert_int_equal(intake_config_load(tmpfile_path, &cfg, &d), -1);
    assert_true(has_line(&d, tmpfile_path, 2, "NUL byte"));
    intake_diag_clear(&d);
    /* a file over 1 MiB */
    f = fopen(tmpfile_path, "w");
    assert_non_null(f);
    for (int i = 0; i < INTAKE_CONFIG_FILE_MAX / 64 + 1; i++)
        fprintf(f, "; %061d\n", i);
    fclose(f);
    assert_int_equal(intake_config_load(tmpfile_path, &cfg, &d), -1);
    assert_int_equal(d.n, 1);
    assert_true(strstr(d.lines[0], ": larger than 1048576 bytes") != NULL);
    intake_diag_clear(&d);
}

static void reports_retry_delays(void **state)
{
    (void)state;
    expect_error("[sink \"s\"]\ntype = jsonl\npath = p\nretry_max_delay = 10\n"
                 "retry_min_delay = 20\n", 5,
                 "retry_min_delay (20) is greater than retry_max_delay (10) in [sink \"s\"]");
    expect_error("[sink \"s\"]\ntype = jsonl\npath = p\nretry_max_delay = 0\n", 4,
                 "'0' for 'retry_max_delay'");
    expect_error("[sink \"s\"]\ntype = jsonl\npath = p\nretry_min_delay = 301\n", 4,
                 "retry_min_delay (301) is greater than retry_max_delay (300)");
}

static void reports_every_problem(void **state)
{
    (void)state;
    intake_diag d = {0};
    intake_config *cfg = NULL;
    const char *path = DIR "/several-errors.conf";
    assert_int_equal(intake_config_load(path, &cfg, &d), -1);
    assert_null(cfg);
    static const struct {
        int line;
        const char *want;
    } wants[] = {
        {3, "'0' for 'retention_days'"},
        {6, "'localhost' for 'listen'"},
        {7, "unknown key 'colour' in [http]"},
        {9, "unknown section [gizmo]"},
        {12, "[source \"mta\"] has no type"},
        {13, "'carrier-pigeon' for 'channel'"},
        {16, "unknown sink type 'teleport'"},
    };
    if (d.n != sizeof wants / sizeof *wants)
        dump(&d);
    assert_int_equal(d.n, sizeof wants / sizeof *wants);
    for (size_t i = 0; i < sizeof wants / sizeof *wants; i++)
        if (!has_line(&d, path, wants[i].line, wants[i].want)) {
            dump(&d);
            fail_msg("no '%s' at line %d", wants[i].want, wants[i].line);
        }
    intake_diag_clear(&d);

    /* a missing file; a NULL diag is allowed */
    assert_int_equal(intake_config_load(DIR "/no-such.conf", &cfg, &d), -1);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.lines[0], DIR "/no-such.conf: cannot open"));
    intake_diag_clear(&d);
    assert_int_equal(intake_config_load(path, &cfg, NULL), -1);
    assert_null(cfg);
}

static void tables_are_well_formed(void **state)
{
    (void)state;
    static const char *const kinds[] = {"spool", "http", "rules", "policy", "log"};
    for (size_t i = 0; i < 5; i++)
        assert_non_null(intake_config_core_options(kinds[i]));
    assert_null(intake_config_core_options("source"));
    assert_null(intake_config_core_options("nope"));
    const struct intake_option *t = intake_config_core_options("http");
    assert_string_equal(t[0].name, "listen");
    assert_true(intake_source_common_options[0].required);
    assert_true(intake_sink_common_options[0].required);
    /* every default of every core and common key passes its own check: a file setting
     * each key to its default loads */
    intake_config_free(load_text_ok(
        "[spool]\npath = intake-spool.db\nretention_days = 30\n"
        "[http]\nlisten = 127.0.0.1:8025\nenabled = yes\nconnection_timeout = 10\n"
        "per_ip_limit = 16\nmax_connections = 256\n"
        "[policy]\nprofile = housing-ombudsman\nacknowledge_days = 5\nstage1_days = 10\n"
        "stage2_days = 20\nrespond_from = acknowledgement\nmp_acknowledge_days = 5\n"
        "mp_respond_days = 10\ncalendar = calendars/england-and-wales.txt\n"
        "timezone = Europe/London\n"
        "[log]\nlevel = info\n"
        "[source \"s\"]\ntype = pipe\nchannel = email\npoll_interval = 60\nenabled = yes\n"
        "[sink \"k\"]\ntype = jsonl\npath = p\nretry_min_delay = 1\nretry_max_delay = 300\n"
        "max_attempts = 20\ntimeout = 30\nenabled = yes\n"));
}

/* ---- the command line ------------------------------------------------------------------- */

/* Runs `cmd` through sh, returning its exit status and its stdout in out. */
static int run(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void config_check_command(void **state)
{
    (void)state;
    char out[8192];
    setenv("INTAKE_TEST_CRM_TOKEN", "tok", 1);
    assert_int_equal(run(INTAKE_BIN " config check --config " DIR "/good.conf", out,
                         sizeof out), 0);
    assert_string_equal(out, DIR "/good.conf: ok\n"
                        "sources: mta (pipe), drop (maildir, disabled); "
                        "sinks: case-system (http), archive (jsonl)\n");
    assert_int_equal(run(INTAKE_BIN " config check --config=" DIR "/minimal.conf", out,
                         sizeof out), 0);
    assert_string_equal(out, DIR "/minimal.conf: ok\nsources: mta (pipe); sinks: none\n");
    unsetenv("INTAKE_TEST_CRM_TOKEN");
    assert_int_equal(run(INTAKE_BIN " config check --config " DIR "/good.conf 2>&1", out,
                         sizeof out), 1);
    assert_non_null(strstr(out, "good.conf:36: 'token' in [sink \"case-system\"]: "
                                "environment variable INTAKE_TEST_CRM_TOKEN is not set"));
    assert_int_equal(run(INTAKE_BIN " config check --config " DIR "/several-errors.conf "
                         "2>&1 >/dev/null | wc -l", out, sizeof out), 0);
    assert_int_equal(atoi(out), 7);
    assert_int_equal(run(INTAKE_BIN " config check --config " DIR "/nope.conf 2>/dev/null",
                         out, sizeof out), 1);
    assert_string_equal(out, "");
    /* usage errors */
    static const char *const usage[] = {
        " config", " config frob", " config check", " config check --config",
        " config check --config a b", " config check --verbose", " config keys --html",
    };
    for (size_t i = 0; i < sizeof usage / sizeof *usage; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s%s 2>/dev/null", INTAKE_BIN, usage[i]);
        if (run(cmd, out, sizeof out) != 2)
            fail_msg("'intake%s' did not exit 2", usage[i]);
    }
    static const char *const help[] = {" config --help", " config check --help",
                                       " config keys --help", " config -h"};
    for (size_t i = 0; i < sizeof help / sizeof *help; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s%s", INTAKE_BIN, help[i]);
        assert_int_equal(run(cmd, out, sizeof out), 0);
        assert_non_null(strstr(out, "usage: intake config"));
    }
}

static void config_keys_command(void **state)
{
    (void)state;
    static char out[1 << 16];
    assert_int_equal(run(INTAKE_BIN " config keys", out, sizeof out), 0);
    assert_non_null(strstr(out, "[spool]\n  path = intake-spool.db\n      path: "));
    assert_non_null(strstr(out, "  retention_days = 30\n      integer 1..3650: "));
    assert_non_null(strstr(out, "  type = (required)\n"));
    assert_non_null(strstr(out, "[sink \"NAME\"] type = http"));
    assert_int_equal(run(INTAKE_BIN " config keys --markdown", out, sizeof out), 0);
    assert_non_null(strstr(out, "### `[spool]`\n\n| key | type | default | description |\n"));
    assert_non_null(strstr(out, "| `level` | one of `debug`, `info`, `warn`, `error` | "
                                "`info` | "));
    /* every key of every table is listed */
    for (size_t i = 0; intake_source_types[i]; i++)
        for (const struct intake_option *o = intake_source_types[i]->options; o->name; o++) {
            char cell[128];
            snprintf(cell, sizeof cell, "| `%s` |", o->name);
            assert_non_null(strstr(out, cell));
        }
    for (const struct intake_option *o = intake_config_core_options("policy"); o->name; o++) {
        char cell[128];
        snprintf(cell, sizeof cell, "| `%s` |", o->name);
        assert_non_null(strstr(out, cell));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_the_design_example),
        cmocka_unit_test(resolves_paths),
        cmocka_unit_test(gives_defaults),
        cmocka_unit_test(reads_comments_and_layout),
        cmocka_unit_test(accepts_each_form_of_value),
        cmocka_unit_test(expands_the_environment),
        cmocka_unit_test(reports_environment_problems),
        cmocka_unit_test(reports_bad_values),
        cmocka_unit_test(reports_bad_closures),
        cmocka_unit_test(reports_bad_case_reference),
        cmocka_unit_test(reports_unknown_keys_and_sections),
        cmocka_unit_test(reports_types),
        cmocka_unit_test(reports_missing_required_keys),
        cmocka_unit_test(reports_duplicates),
        cmocka_unit_test(reports_syntax_and_layout),
        cmocka_unit_test(reports_retry_delays),
        cmocka_unit_test(reports_every_problem),
        cmocka_unit_test(tables_are_well_formed),
        cmocka_unit_test(config_check_command),
        cmocka_unit_test(config_keys_command),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
