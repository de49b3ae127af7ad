/*
 * The compiled rule set (internal to the classifier). Everything here is written while a
 * rule set loads and only read afterwards.
 */
#ifndef INTAKE_RULESET_H
#define INTAKE_RULESET_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "acscan.h"
#include "intake/classifier.h"
#include "literals.h"
#include "meta.h"

enum rule_field {
    FIELD_SUBJECT,
    FIELD_BODY,
    FIELD_TEXT,
    FIELD_FROM,
    FIELD_FROM_NAME,
    FIELD_CHANNEL,
    FIELD_PUBLIC,
    FIELD_NONE
};

struct example {
    char *text; /* owned */
    bool positive;
    int line;
};

struct rule {
    char *name;     /* owned */
    char *describe; /* owned */
    char *pattern;  /* owned; NULL for meta rules */
    char *meta_src; /* owned; NULL for pattern rules */
    const char *file; /* owned by the rule set's file list */
    int line;
    enum rule_field field;
    bool match_case;
    bool has_score;
    double weight[INTAKE_TARGET_COUNT];
    struct example *examples; /* owned */
    size_t nexamples;
    pcre2_code *re;  /* owned; the whole pattern, for checks (matching uses the atoms) */
    meta_expr *meta; /* owned */
    bool prefiltered; /* every atom of the rule has a prefilter */
};

/* What the scanner matches: one top-level branch of a rule's pattern (a rule "a|b" has
 * two atoms), each with its own literal prefilter. A rule fires when any atom matches. */
struct atom {
    uint32_t rule;
    pcre2_code *re; /* owned */
    bool jit;       /* re was JIT-compiled: matched through pcre2_jit_match */
    pcre2_code *re_anchored; /* owned; anchored atoms only: compiled with PCRE2_ANCHORED */
    bool jit_anchored;
    char *src;      /* owned: the branch's own pattern */
    bool prefiltered;                   /* runs only when all its literal groups were seen */
    uint32_t group[LITERALS_MAX_GROUPS]; /* literal-group ids the prefilter reports */
    size_t ngroups;
    bool anchored; /* every match starts with a known string: try only where one occurs */
};

/* A positional literal: where it occurs, its atom may start a match. */
struct poslit {
    uint32_t atom;
    uint32_t len;
};

#define RULESET_MAX_SCAN 65536 /* bytes of each field the rules look at */

struct intake_ruleset {
    struct rule *rules; /* owned, in file order */
    size_t n;
    size_t cap;
    char **files; /* owned file names */
    size_t nfiles;
    int default_category;
    double flag_threshold;
    size_t words;        /* 64-bit words in a rule bitmap */
    struct atom *atoms;  /* owned */
    size_t natoms;
    size_t ngroups;      /* literal groups over all atoms */
    uint32_t *group_atom; /* owned; the atom each literal group belongs to */
    uint32_t *always_atoms; /* owned; atoms without a prefilter, run on every message */
    size_t nalways;
    struct poslit *poslits; /* owned; indexed by positional prefilter id */
    size_t nposlits;
    size_t group_words;  /* 64-bit words in a group bitmap */
    uint32_t *meta_order; /* meta rules in dependency order */
    size_t nmeta;
    acscan *ac; /* prefilter over the text field, reporting literal-group ids */
};

/* rules_parse.c: reads one file's text into rs (appending rules, applying settings).
 * Returns the number of problems found (each added to diag), or -1 when memory runs
 * out. */
int ruleset_parse_text(intake_ruleset *rs, const char *file, const char *text,
                       intake_diag *diag);

/* ruleset.c: compiles patterns, binds meta names, orders metas, builds the prefilter.
 * Returns the number of problems found (each added to diag), or -1 on out of memory. */
int ruleset_compile(intake_ruleset *rs, intake_diag *diag);

/* ruleset.c: index of the rule named `name`, or -1. */
long ruleset_find(const intake_ruleset *rs, const char *name);

/* scan.c: the bytes of `field` of the prepared message held by a scanner. */
const char *scanner_field(const intake_scanner *sc, enum rule_field field, size_t *len);

/* scan.c: true when rule i fired in the scanner's last classification. */
bool scanner_fired(const intake_scanner *sc, uint32_t i);

#endif
