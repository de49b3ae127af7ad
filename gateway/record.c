/* Builds the record JSON from an item, its verdict and its deadlines. */
#include "intake/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "intake/timefmt.h"

#define CASE_REF_SCAN_MAX (64u * 1024) /* only the start of a long text is searched */

struct intake_recorder {
    pcre2_code *case_ref;
    pcre2_match_data *md;
};

intake_recorder *intake_recorder_new(void)
{
    return intake_recorder_new_with(NULL, NULL, 0);
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

intake_recorder *intake_recorder_new_with(const char *pattern, char *err, size_t errlen)
{
    intake_recorder *r = calloc(1, sizeof *r);
    int code;
    uint32_t groups = 0;
    PCRE2_SIZE off;
    if (!r)
        return set_err(err, errlen, "out of memory"), NULL;
    r->case_ref = pcre2_compile((PCRE2_SPTR)(pattern ? pattern : INTAKE_CASE_REFERENCE_DEFAULT),
                                PCRE2_ZERO_TERMINATED,
                                PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code,
                                &off, NULL);
    if (!r->case_ref) {
        char msg[160];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
        if (err && errlen)
            snprintf(err, errlen, "the pattern does not compile at offset %zu: %s", (size_t)off,
                     msg);
    } else if (pcre2_pattern_info(r->case_ref, PCRE2_INFO_CAPTURECOUNT, &groups) == 0 &&
               groups > 1) {
        set_err(err, errlen, "the pattern has more than one capturing group: use (?:...) "
                             "for the others");
    } else if (!(r->md = pcre2_match_data_create_from_pattern(r->case_ref, NULL))) {
        set_err(err, errlen, "out of memory");
    }
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

/* The rules that fired, and "automated" when that decided the category. */
static json_t *rule_array(const intake_ruleset *rs, const intake_verdict *v,
                          const char *automated)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < v->nfired; i++)
        json_array_append_new(a, json_string(intake_rule_name(rs, v->fired[i])));
    if (a && automated)
        json_array_append_new(a, json_string("automated"));
    return a;
}

static json_t *day_or_null(intake_day d)
{
    char buf[11];
    return d == INTAKE_NO_DAY ? json_null() : json_string(intake_day_format(d, buf));
}

/* received_at + hours as RFC 3339 UTC, or null (no clock, or received_at unreadable). */
static json_t *hours_after(const char *received_at, int hours)
{
    double t;
    char buf[INTAKE_RFC3339_LEN];
    if (hours <= 0 || !received_at || intake_time_parse(received_at, &t) < 0)
        return json_null();
    return json_string(intake_time_format(t + 3600.0 * hours, buf));
}

static json_t *deadlines(const struct intake_record_in *in)
{
    const struct intake_deadlines *dl = in->deadlines;
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:s?}",
                     "acknowledge_by", day_or_null(dl->acknowledge_by),
                     "respond_by", day_or_null(dl->respond_by),
                     "investigate_by", day_or_null(dl->investigate_by),
                     "ombudsman_respond_by", day_or_null(dl->ombudsman_respond_by),
                     "emergency_by", hours_after(in->received_at, dl->emergency_hours),
                     "policy", in->policy);
}

/* The first case reference in the text (its capturing group, else the whole match), or
 * NULL. */
static json_t *case_reference(intake_recorder *r, const char *text)
{
    size_t len = text ? strlen(text) : 0;
    if (len > CASE_REF_SCAN_MAX)
        len = CASE_REF_SCAN_MAX;
    int rc = text ? pcre2_match(r->case_ref, (PCRE2_SPTR)text, len, 0, 0, r->md, NULL) : -1;
    if (rc < 1)
        return NULL;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
    int g = rc >= 2 && ov[2] != PCRE2_UNSET ? 1 : 0;
    return json_stringn(text + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
}

/* Thread: the item's own "thread" object (message ids from e-mail, a conversation id
 * from chat) plus the case reference found in the subject, else in the text. */
static json_t *thread(intake_recorder *r, const json_t *item, const char *text)
{
    const json_t *given = json_object_get(item, "thread");
    json_t *t = json_is_object(given) ? json_deep_copy(given) : json_object();
    json_t *ref = case_reference(r, json_string_value(json_object_get(item, "subject")));
    if (!ref)
        ref = case_reference(r, text);
    if (t)
        json_object_set_new(t, "case_reference", ref ? ref : json_null());
    else
        json_decref(ref);
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
    if (rec)
        json_object_set_new(rec, "route", in->route ? json_string(in->route) : json_null());
    if (rec && json_object_set_new(rec, "automated", in->automated ? json_string(in->automated)
                                                                   : json_null()) < 0) {
        json_decref(rec);
        return NULL;
    }
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
        "rules", rule_array(in->rs, v, in->automated), "deadlines", deadlines(in),
        "thread", thread(r, item, text), "attachments", attachments(item),
        "permalink", str_or_null(item, "permalink"));
}
