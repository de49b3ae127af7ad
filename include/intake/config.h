/*
 * The configuration file (contract in ../shared/DESIGN.md): INI, ';' or '#' comments, one
 * section per part, `[source "NAME"]` and `[sink "NAME"]` for the named parts, and
 * ${ENV_NAME} expanded from the environment in values. Parsed with inih.
 *
 * Every key of every section is declared in an option table (name, type, default,
 * description), Fluent Bit style: the table drives validation, defaults and the generated
 * reference (`intake config keys`). Core sections' tables live in config.c; each source
 * and sink type declares its own table in its plugin struct (source.h, sink.h).
 */
#ifndef INTAKE_CONFIG_H
#define INTAKE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "intake/diag.h"

enum intake_opt_type {
    INTAKE_OPT_STRING,
    INTAKE_OPT_INT,      /* decimal, checked against min..max */
    INTAKE_OPT_BOOL,     /* yes/no, true/false, on/off, 1/0 */
    INTAKE_OPT_ENUM,     /* one of `choices`, a '|'-separated list */
    INTAKE_OPT_PATH,     /* a file or folder; relative paths are taken from the config
                          * file's folder */
    INTAKE_OPT_LISTEN    /* host:port */
};

/* One key. A NULL name ends a table. Static data. */
struct intake_option {
    const char *name;
    enum intake_opt_type type;
    const char *def;         /* default as written in the file; NULL = no default */
    const char *description; /* one line, for the reference */
    const char *choices;     /* INTAKE_OPT_ENUM only */
    long min, max;           /* INTAKE_OPT_INT only; min == max == 0 means no bounds */
    bool required;
    bool secret;             /* never printed: `config check` shows "(set)" */
};

/* One key = value as read, after ${ENV} expansion. */
struct intake_kv {
    char *key;   /* owned by the config */
    char *value; /* owned by the config */
    int line;
    bool from_env; /* ${ENV} expansion took part: the value is never quoted in messages */
};

/* One section. `kind` is "spool", "http", "source", "sink", ...; `name` is the quoted
 * name of a source or sink, else NULL. */
struct intake_section {
    char *kind;  /* owned */
    char *name;  /* owned, may be NULL */
    int line;
    struct intake_kv *kv; /* owned */
    size_t nkv;
    const struct intake_option *options; /* the table it was checked against (static) */
};

typedef struct intake_config {
    char *path;  /* owned: the file as given */
    char *dir;   /* owned: its folder, for relative paths */
    struct intake_section *sections; /* owned, in file order */
    size_t nsections;
} intake_config;

/* Reads and checks `path`. On success returns 0 and stores a config the caller owns (free
 * with intake_config_free) in *out. On failure returns -1, leaves *out NULL and appends one
 * "file:line: message" per problem to diag: unknown sections, types and keys, bad values,
 * missing required keys, duplicate names, unset ${ENV} variables. Messages never print a
 * secret's value. */
int intake_config_load(const char *path, intake_config **out, intake_diag *diag);

/* Details of intake_config_load, beyond the contract above:
 * - A core section missing from the file is added empty (line 0) after the file's
 *   sections, so intake_config_section(cfg, "http", NULL) always finds one and its
 *   defaults can be read.
 * - A line holds at most INTAKE_CONFIG_LINE_MAX characters (inih's line buffer as Debian
 *   builds it); a value is at most INTAKE_CONFIG_VALUE_MAX bytes after ${ENV} expansion;
 *   the file is at most INTAKE_CONFIG_FILE_MAX bytes.
 * - `${NAME}` (NAME: [A-Za-z_][A-Za-z0-9_]*) is replaced by the variable's value, once
 *   (not recursively); any other `$` is kept as written; `${` not followed by NAME and
 *   `}` is an error. Leading whitespace is ignored: there are no continuation lines. */
#define INTAKE_CONFIG_LINE_MAX 198
#define INTAKE_CONFIG_VALUE_MAX 65536
#define INTAKE_CONFIG_FILE_MAX (1024 * 1024)

/* Frees a config. NULL is allowed. */
void intake_config_free(intake_config *cfg);

/* The first section of `kind` (and `name`, when not NULL), or NULL. Borrowed. */
const struct intake_section *intake_config_section(const intake_config *cfg,
                                                    const char *kind, const char *name);

/* A key's value: the file's, else the option's default, else NULL. `s` may be NULL (then
 * the default of `kind`'s table is looked up is not possible: returns NULL). Borrowed. */
const char *intake_config_get(const struct intake_section *s, const char *key);

/* Typed getters for keys already checked by intake_config_load; they return `fallback`
 * when the key is unset and has no default. */
long intake_config_get_int(const struct intake_section *s, const char *key, long fallback);
bool intake_config_get_bool(const struct intake_section *s, const char *key, bool fallback);

/* A path value made absolute against the config file's folder. Returns a string the
 * caller owns (free()), or NULL when unset or out of memory. */
char *intake_config_get_path(const intake_config *cfg, const struct intake_section *s,
                             const char *key);

/* The rules folder: [rules] path (against the config file's folder), else
 * $INTAKE_RULES_DIR, else the rules/ folder the program was built with. Owned by the caller
 * (free()), NULL when out of memory. */
char *intake_config_rules_dir(const intake_config *cfg);

/* Like intake_config_get_path, but a relative value is taken from the rules folder (for
 * [policy] calendar). */
char *intake_config_get_rules_path(const intake_config *cfg, const struct intake_section *s,
                                   const char *key);

/* A template file named by `key` (the http sink's template, the social_actions sink's
 * reply texts): an absolute path as it is; a relative one beside the config file when it
 * is there, else in the rules folder's templates/. Returns a string the caller owns
 * (free()), or NULL when unset or out of memory. */
char *intake_config_get_template_path(const intake_config *cfg, const struct intake_section *s,
                                      const char *key);

/* The same look-up for a file name given by the caller (a default when the key is unset):
 * absolute as it is; relative beside the config file when there, else in the rules
 * folder's templates/ when there, else the config-relative path (for the error). Returns
 * a string the caller owns (free()), or NULL when out of memory. */
char *intake_config_find_template(const intake_config *cfg, const char *name);

/* The option table of a core section kind ("spool", "http", "rules", "policy", "log"),
 * or NULL when there is no such kind. Static. */
const struct intake_option *intake_config_core_options(const char *kind);

/* The keys every source / every sink takes besides its type's own (type, channel,
 * poll_interval / retry_min_delay, retry_max_delay, max_attempts, timeout). Static. */
extern const struct intake_option intake_source_common_options[];
extern const struct intake_option intake_sink_common_options[];

#endif
