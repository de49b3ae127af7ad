/* Builds the record JSON from an item, its verdict and its deadlines. */
#include "intake/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* A case reference written in the text: "case ref: HC-123456", "complaint no. 20481". */
static const char case_ref_pattern[] =
    "\\b(?:case|complaint|ticket|incident|enquiry|ref|reference)"
    "(?:\\s+(?:no\\.?|number|ref(?:erence)?|id))?\\s*[:#]?\\s*"
    "((?:[A-Z]{1,5}[-/]?)?[0-9]{4,12})\\b";

#define CASE_REF_SCAN_MAX (64u * 1024) /* only the start of a long text is searched */

struct intake_recorder {
    pcre2_code *case_ref;
    pcre2_match_data *md;
};

intake_recorder *intake_recorder_new(void)
{
    intake_recorder *r = calloc(1, sizeof *r);
    int err;
    PCRE2_SIZE off;
    if (!r)
        return NULL;
    r->case_ref = pcre2_compile((PCRE2_SPTR)case_ref_pattern, PCRE2_ZERO_TERMINATED,
                                PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err,
                                &off, NULL);
    r->md = r->case_ref ? pcre2_match_data_create_from_pattern(r->case_ref, NULL) : NULL;
    if (!r->md) {
        intake_recorder_free(r);
        return NULL;
    }
    return r;
}

void intake_recorder_free(intake_recorder *r)
{
    if (!r)
        return;
    pcre2_match_data_free(r->md);
    pcre2_code_free(r->case_ref);
    free(r);
}

char *intake_flags_join(uint32_t flags, char *buf, size_t buflen)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int f = 0; f < INTAKE_FLAG_COUNT; f++) {
        if (!(flags & (1u << f)))
            continue;
        int n = snprintf(buf + used, buflen - used, "%s%s", used ? "," : "",
                         intake_flag_name(f));
        if (n < 0 || (size_t)n >= buflen - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* The string member `key` of obj as a new JSON string, or null. */
static json_t *str_or_null(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_incref((json_t *)v) : json_null();
}

static json_t *author(const json_t *item)
{
    const json_t *from = json_object_get(item, "from");
    return json_pack("{s:o, s:o, s:o}", "name", str_or_null(from, "name"),
                     "email", str_or_null(from, "address"),
                     "handle", str_or_null(from, "handle"));
}

static json_t *flag_array(uint32_t flags)
{
    json_t *a = json_array();
    for (int f = 0; a && f < INTAKE_FLAG_COUNT; f++)
        if (flags & (1u << f))
            json_array_append_new(a, json_string(intake_flag_name(f)));
    return a;
}

static json_t *rule_array(const intake_ruleset *rs, const intake_verdict *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < v->nfired; i++)
        json_array_append_new(a, json_string(intake_rule_name(rs, v->fired[i])));
    return a;
}

static json_t *day_or_null(intake_day d)
{
    char buf[11];
    return d == INTAKE_NO_DAY ? json_null() : json_string(intake_day_format(d, buf));
}

static json_t *deadlines(const struct intake_record_in *in)
{
    return json_pack("{s:o, s:o, s:s?}", "acknowledge_by",
                     day_or_null(in->deadlines->acknowledge_by), "respond_by",
                     day_or_null(in->deadlines->respond_by), "policy", in->policy);
}

/* The first case reference in the text, or null. */
static json_t *case_reference(intake_recorder *r, const char *text)
{
    size_t len = strlen(text);
    if (len > CASE_REF_SCAN_MAX)
        len = CASE_REF_SCAN_MAX;
    int rc = pcre2_match(r->case_ref, (PCRE2_SPTR)text, len, 0, 0, r->md, NULL);
    if (rc < 2)
        return json_null();
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
    return json_stringn(text + ov[2], ov[3] - ov[2]);
}

/* Thread: the item's own "thread" object (message ids from e-mail, a conversation id
 * from chat) plus the case reference found in the text. */
static json_t *thread(intake_recorder *r, const json_t *item, const char *text)
{
    const json_t *given = json_object_get(item, "thread");
    json_t *t = json_is_object(given) ? json_deep_copy(given) : json_object();
    if (t)
        json_object_set_new(t, "case_reference", case_reference(r, text));
    return t;
}

static json_t *attachments(const json_t *item)
{
    const json_t *a = json_object_get(item, "attachments");
    return json_is_array(a) ? json_deep_copy(a) : json_array();
}

static const char *category_name(int c)
{
    const char *s = intake_category_name(c);
    return s ? s : "other";
}

static json_t *record_core(intake_recorder *r, const struct intake_record_in *in);

json_t *intake_record_build(intake_recorder *r, const struct intake_record_in *in)
{
    json_t *rec = record_core(r, in);
    if (rec && in->original_text)
        json_object_set_new(rec, "original_text", json_string(in->original_text));
    return rec;
}

static json_t *record_core(intake_recorder *r, const struct intake_record_in *in)
{
    const json_t *item = in->item;
    const intake_verdict *v = in->verdict;
    const char *body = json_string_value(json_object_get(item, "body"));
    const char *text = in->text ? in->text : body ? body : "";
    json_t *redactions = in->redactions ? json_deep_copy(in->redactions) : json_array();
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:s, s:o, s:b, s:o, s:o, s:s, s:o, s:s, s:o, s:o, s:f, s:o,"
        " s:o, s:o, s:o, s:o}",
        "schema", INTAKE_RECORD_SCHEMA, "id", in->record_id, "received_at", in->received_at,
        "channel", str_or_null(item, "channel"), "source", in->source,
        "source_id", str_or_null(item, "id"),
        "public", json_is_true(json_object_get(item, "public")),
        "author", author(item), "subject", str_or_null(item, "subject"),
        "text", text, "redactions", redactions,
        "category", category_name(v->category),
        "mp_underlying", v->mp_underlying >= 0 ? json_string(category_name(v->mp_underlying))
                                               : json_null(),
        "flags", flag_array(v->flags), "confidence", v->confidence,
        "rules", rule_array(in->rs, v), "deadlines", deadlines(in),
        "thread", thread(r, item, text), "attachments", attachments(item),
        "permalink", str_or_null(item, "permalink"));
}
