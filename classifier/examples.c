/*
 * Rule examples: every rule carries sentences it must and must not fire on. Each is put in
 * the rule's field of an otherwise empty message and classified by the full engine
 * (cleaning, prefilter, pattern, metas), so a failure means what staff would see.
 */
#include <stdlib.h>
#include <string.h>

#include "ruleset.h"

static intake_message example_message(const struct rule *r, const char *text)
{
    intake_message m = {.channel = "email", .channel_len = 5};
    size_t n = strlen(text);
    switch (r->field) {
    case FIELD_SUBJECT:
        m.subject = text, m.subject_len = n;
        break;
    case FIELD_FROM:
        m.from_address = text, m.from_address_len = n;
        break;
    case FIELD_FROM_NAME:
        m.from_name = text, m.from_name_len = n;
        break;
    case FIELD_CHANNEL:
        m.channel = text, m.channel_len = n;
        break;
    case FIELD_PUBLIC:
        m.is_public = strcmp(text, "true") == 0;
        break;
    default:
        m.body = text, m.body_len = n;
        break;
    }
    return m;
}

/* After a positive example failed: true when the pattern itself matches the cleaned
 * field, which means the prefilter wrongly skipped the rule. */
static bool prefilter_missed(intake_scanner *sc, const struct rule *r)
{
    if (r->re == NULL)
        return false;
    size_t len;
    const char *s = scanner_field(sc, r->field, &len);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    bool hit = md && pcre2_match(r->re, (PCRE2_SPTR)s, len, 0, 0, md, NULL) >= 0;
    pcre2_match_data_free(md);
    return hit;
}

static int check_one(intake_scanner *sc, uint32_t i, const struct rule *r,
                     const struct example *ex, intake_diag *diag)
{
    intake_message m = example_message(r, ex->text);
    intake_verdict v;
    if (intake_classify(sc, &m, &v) != 0)
        return -1;
    bool fired = scanner_fired(sc, i);
    if (fired == ex->positive)
        return 0;
    const char *why = ex->positive ? "does not fire on its example+"
                                   : "fires on its example-";
    if (ex->positive && prefilter_missed(sc, r))
        why = "prefilter skipped the rule on its example+ (engine bug, please report)";
    if (intake_diag_add(diag, "%s:%d: rule %s %s", r->file, ex->line, r->name, why) != 0)
        return -1;
    return 1;
}

int intake_ruleset_check_examples(const intake_ruleset *rs, intake_diag *diag,
                                  size_t *checked)
{
    intake_scanner *sc = intake_scanner_new(rs);
    if (sc == NULL)
        return -1;
    int failures = 0;
    size_t count = 0;
    for (uint32_t i = 0; i < rs->n && failures >= 0; i++) {
        const struct rule *r = &rs->rules[i];
        for (size_t k = 0; k < r->nexamples && failures >= 0; k++) {
            int rc = check_one(sc, i, r, &r->examples[k], diag);
            failures = rc < 0 ? -1 : failures + rc;
            count++;
        }
    }
    intake_scanner_free(sc);
    if (checked)
        *checked = count;
    return failures;
}
