/*
 * The loaded redactor (internal to the classifier library): detectors read from the
 * pattern files in rules/redact, each with its compiled patterns, its prefilter needs, an optional
 * validator and its examples. Everything here is written while the redactor loads and
 * only read afterwards, so threads may share it.
 */
#ifndef INTAKE_REDACT_RULES_H
#define INTAKE_REDACT_RULES_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stdint.h>

#include "anyword.h"
#include "intake/redact.h"
#include "pii_names.h"

struct pii_example {
    char *text; /* owned, escapes (\n, \t, \\) already decoded */
    char *span; /* owned; example+ only: the text that must be found */
    bool positive;
    int line;
};

struct pii_pattern {
    char *src;      /* owned */
    bool match_case;
    int line;
    pcre2_code *re; /* owned */
    bool jit;       /* re was JIT-compiled */
    bool digit_start; /* every match starts at an ASCII digit (re has PCRE2_USE_OFFSET_LIMIT) */
};

#define PII_MAX_SPAN_GROUPS 8

struct pii_detector {
    char *name;       /* owned */
    char *describe;   /* owned */
    const char *file; /* owned by the redactor's file list */
    int line;
    int type;         /* enum intake_pii_type, -1 until a 'type' line */
    struct pii_pattern *pats; /* owned */
    size_t npats;
    int check;        /* validator index (redact_check.h), -1 for none */
    uint32_t group[PII_MAX_SPAN_GROUPS]; /* the span runs from the first start to the
                                          * last end of these groups (those that are set) */
    size_t ngroup;    /* 0: the whole match */
    uint32_t min_digits;  /* 'needs digits N' */
    uint32_t min_run;     /* 'needs run N' */
    uint32_t min_block;   /* 'needs block N' */
    bool letter_digit;    /* 'needs letter-digit' */
    char anchor;          /* 'anchor C N': every match starts at most anchor_back bytes */
    uint32_t anchor_back; /* before a C; '\0' for none */
    bool anchor_run;      /* 'anchor C N [CLASS]': a match starts exactly where the run of */
    uint8_t run_class[32]; /* CLASS bytes (a bit set) that ends at the C starts */
    uint32_t *any;        /* owned: 'needs any' group ids, each must be seen */
    size_t nany;
    struct pii_example *ex; /* owned */
    size_t nex;
};

/* The words of one 'needs any' line: r->words[first .. first + n). */
struct pii_group {
    uint32_t first, n;
};

struct intake_redactor {
    struct pii_detector *det; /* owned, in file order */
    size_t n, cap;
    char **files; /* owned file names */
    size_t nfiles;
    struct anyword *words; /* owned, each word's text too: the words of the 'needs any'
                            * lines, ASCII letters in lower case */
    size_t nwords;
    struct pii_group *groups; /* owned; one per 'needs any' line over all detectors */
    uint32_t ngroups;
    uint32_t max_groups; /* most capture groups of any pattern */
    pii_names *names;   /* owned */
};

/* redact_parse.c: reads one *.pii file's text into r (appending detectors). `file` must
 * stay valid as long as r (it is stored in each detector). Returns the number of problems
 * found (each added to diag as "file:line: message"), or -1 when memory runs out. */
int redact_parse_text(intake_redactor *r, const char *file, const char *text,
                      intake_diag *diag);

/* redact.c: frees what a detector owns (not the struct itself). */
void redact_detector_free(struct pii_detector *d);

/* redact.c: runs only detector `d` of the context's redactor over `len` bytes at `text`,
 * prefilter included, appending what it finds to `out` (not resolved for overlaps).
 * Returns 0, or -1 when memory runs out. */
int redact_run_detector(intake_redact_ctx *c, size_t d, const char *text, size_t len,
                        struct pii_spanlist *out);

#endif
