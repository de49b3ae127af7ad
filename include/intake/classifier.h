/*
 * intake classifier: rule-based classification of feedback messages.
 *
 * The rule set is compiled once (intake_ruleset_load*) and is then read-only: any number of
 * threads may share it. Each thread classifies through its own intake_scanner, which holds
 * the per-thread match data and scratch buffers. The library keeps no global mutable state
 * and never prints; errors come back as return codes and intake_diag lines.
 */
#ifndef INTAKE_CLASSIFIER_H
#define INTAKE_CLASSIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "intake/diag.h"

enum intake_category {
    INTAKE_CAT_COMPLAINT,
    INTAKE_CAT_SERVICE_REQUEST,
    INTAKE_CAT_COMPLIMENT,
    INTAKE_CAT_COMMENT,
    INTAKE_CAT_MP_ENQUIRY,
    INTAKE_CAT_OTHER,
    INTAKE_CAT_COUNT
};

enum intake_flag {
    INTAKE_FLAG_STAGE2,
    INTAKE_FLAG_OMBUDSMAN,
    INTAKE_FLAG_ASB,
    INTAKE_FLAG_LEGAL,
    INTAKE_FLAG_SAFEGUARDING,
    INTAKE_FLAG_URGENT,
    INTAKE_FLAG_DAMP_MOULD,
    INTAKE_FLAG_COMPENSATION,
    INTAKE_FLAG_ABUSIVE,
    INTAKE_FLAG_COUNT
};

/* Scoring targets: the categories first, then the flags. */
#define INTAKE_TARGET_COUNT (INTAKE_CAT_COUNT + INTAKE_FLAG_COUNT)

/* Returns the contract name of a category ("service_request"), or NULL when out of range.
 * The string is static. */
const char *intake_category_name(int category);

/* Returns the contract name of a flag ("damp_mould"), or NULL when out of range. Static. */
const char *intake_flag_name(int flag);

/* Looks a scoring target up by name: a category gives 0..INTAKE_CAT_COUNT-1, a flag gives
 * INTAKE_CAT_COUNT + flag. Returns -1 for an unknown name. */
int intake_target_from_name(const char *name);

/* One message to classify. Every pointer is borrowed (the caller owns it) and may be NULL,
 * which counts as empty. Strings need not be valid UTF-8 and need not be NUL-terminated:
 * the *_len fields give their lengths in bytes. */
typedef struct intake_message {
    const char *subject;
    size_t subject_len;
    const char *body;
    size_t body_len;
    const char *from_address;
    size_t from_address_len;
    const char *from_name; /* display name and/or social handle */
    size_t from_name_len;
    const char *channel;
    size_t channel_len;
    bool is_public;
} intake_message;

/* The decision for one message. `fired` points into the scanner that produced it and stays
 * valid until that scanner's next intake_classify call or its free. */
typedef struct intake_verdict {
    int category;      /* enum intake_category */
    int mp_underlying; /* INTAKE_CAT_COMPLAINT or _SERVICE_REQUEST for mp_enquiry, else -1 */
    uint32_t flags;    /* bit (1u << enum intake_flag) per flag set */
    double confidence; /* 0..1 */
    double score[INTAKE_TARGET_COUNT];
    const uint32_t *fired; /* rule indices, in rule-file order */
    size_t nfired;
    unsigned limit_hits; /* matches abandoned at the PCRE2 match limit */
} intake_verdict;

typedef struct intake_ruleset intake_ruleset;
typedef struct intake_scanner intake_scanner;

/* Loads and compiles every "*.rules" file in `dir`, in name order. On success stores a new
 * rule set in *out (the caller owns it; free with intake_ruleset_free) and returns 0. On
 * failure returns -1, leaves *out NULL and appends one "file:line: message" per problem to
 * `diag` (may be NULL). */
int intake_ruleset_load_dir(const char *dir, intake_ruleset **out, intake_diag *diag);

/* Like intake_ruleset_load_dir, from rule text held in memory; `filename` is only used in
 * messages. `text` is borrowed. */
int intake_ruleset_load_text(const char *filename, const char *text, intake_ruleset **out,
                             intake_diag *diag);

/* Frees a rule set. NULL is allowed. No scanner made from it may be used afterwards. */
void intake_ruleset_free(intake_ruleset *rs);

/* Number of rules (pattern and meta) in the set. */
size_t intake_ruleset_count(const intake_ruleset *rs);

/* Name and one-line description of rule `i`; strings owned by the rule set. NULL if out of
 * range. */
const char *intake_rule_name(const intake_ruleset *rs, size_t i);
const char *intake_rule_describe(const intake_ruleset *rs, size_t i);

/* True when rule `i` is a combination (meta) rule. */
bool intake_rule_is_meta(const intake_ruleset *rs, size_t i);

/* True when every branch of pattern rule `i` runs only on messages holding its required
 * literals (the prefilter); false when some branch gave none, and for meta rules. */
bool intake_rule_has_prefilter(const intake_ruleset *rs, size_t i);

/* Runs every rule's example sentences. Returns the number of examples that failed (0 when
 * all pass) and appends a "file:line: message" to `diag` per failure; -1 if memory ran
 * out. *checked, if not NULL, receives the number of examples run. */
int intake_ruleset_check_examples(const intake_ruleset *rs, intake_diag *diag,
                                  size_t *checked);

/* Makes a scanner for one thread. The rule set is borrowed and must outlive the scanner.
 * Returns NULL when memory runs out. */
intake_scanner *intake_scanner_new(const intake_ruleset *rs);

/* Frees a scanner. NULL is allowed. */
void intake_scanner_free(intake_scanner *sc);

/* Classifies one message into *out. Returns 0, or -1 when memory runs out (then *out is
 * unspecified). The message is only read during the call. */
int intake_classify(intake_scanner *sc, const intake_message *msg, intake_verdict *out);

#endif
