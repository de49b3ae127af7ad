/*
 * Header fields to item members (gateway/sources/mime_internal.h): subject, from, to, cc,
 * date, thread ids; and the signs of an automated message.
 */
#include "mime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "intake/timefmt.h"

#define MAX_SUBJECT 2000   /* bytes of a decoded subject */
#define MAX_NAME 400       /* bytes of a display name */
#define MAX_ADDRESS 320    /* bytes of an address */
#define MAX_RECIPIENTS 100 /* addresses kept per list */
#define MAX_REFERENCES 100 /* message ids kept from References */
#define MAX_MSGID 500      /* bytes of a message id */

#define FOREACH_FIELD(f, it, fld)                                                           \
    for (clistiter *it = clist_begin((f)->fld_list); it; it = clist_next(it))               \
        if (((fld) = clist_content(it)) != NULL)

/* ---- addresses ---- */

/* {"name", "address"} of a mailbox (either may be null). */
static json_t *mailbox_json(const struct mailimf_mailbox *mb, json_t *problems)
{
    char *name = mb->mb_display_name ? mime_header_text(mb->mb_display_name, MAX_NAME, problems)
                                     : NULL;
    char *addr = mb->mb_addr_spec ? mime_utf8_repair(mb->mb_addr_spec, strlen(mb->mb_addr_spec),
                                                     MAX_ADDRESS, NULL, NULL)
                                  : NULL;
    json_t *o = json_pack("{s:s?, s:s?}", "name", name && *name ? name : NULL, "address",
                          addr && *addr ? addr : NULL);
    free(name);
    free(addr);
    return o;
}

static int add_mailboxes(json_t *list, const struct mailimf_mailbox_list *mbl, json_t *problems)
{
    if (!mbl)
        return 0;
    for (clistiter *it = clist_begin(mbl->mb_list); it; it = clist_next(it)) {
        if (json_array_size(list) >= MAX_RECIPIENTS)
            return 0;
        if (json_array_append_new(list, mailbox_json(clist_content(it), problems)) < 0)
            return -1;
    }
    return 0;
}

/* Appends the mailboxes of an address list (groups flattened). */
static int add_addresses(json_t *list, const struct mailimf_address_list *al, json_t *problems)
{
    int rc = 0;
    if (!al)
        return 0;
    for (clistiter *it = clist_begin(al->ad_list); it && rc == 0; it = clist_next(it)) {
        const struct mailimf_address *a = clist_content(it);
        if (a->ad_type == MAILIMF_ADDRESS_MAILBOX && a->ad_data.ad_mailbox) {
            if (json_array_size(list) < MAX_RECIPIENTS)
                rc = json_array_append_new(list, mailbox_json(a->ad_data.ad_mailbox, problems));
        } else if (a->ad_type == MAILIMF_ADDRESS_GROUP && a->ad_data.ad_group) {
            rc = add_mailboxes(list, a->ad_data.ad_group->grp_mb_list, problems);
        }
    }
    return rc;
}

/* ---- date ---- */

/* Days from 1970-01-01 to the civil date (proleptic Gregorian). */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The date as RFC 3339 UTC, or null when it is out of range. */
static json_t *date_json(const struct mailimf_date_time *dt)
{
    long y = dt->dt_year;
    if (y >= 0 && y < 50)
        y += 2000; /* obsolete two-digit years (RFC 5322 section 4.3) */
    else if (y >= 50 && y < 1000)
        y += 1900;
    int zone = dt->dt_zone, az = zone < 0 ? -zone : zone;
    if (y < 1970 || y > 9999 || dt->dt_month < 1 || dt->dt_month > 12 || dt->dt_day < 1 ||
        dt->dt_day > 31 || dt->dt_hour < 0 || dt->dt_hour > 23 || dt->dt_min < 0 ||
        dt->dt_min > 59 || dt->dt_sec < 0 || dt->dt_sec > 60 || az > 2359 || az % 100 > 59)
        return json_null();
    long offset = (zone < 0 ? -1 : 1) * ((az / 100) * 3600L + (az % 100) * 60L);
    double t = (double)days_from_civil(y, dt->dt_month, dt->dt_day) * 86400.0 +
               dt->dt_hour * 3600.0 + dt->dt_min * 60.0 + dt->dt_sec - (double)offset;
    char buf[INTAKE_RFC3339_LEN];
    return json_string(intake_time_format(t, buf));
}

/* ---- message ids ---- */

/* "<id>" as a JSON string, or null for an empty, long or non-UTF-8 id. */
static json_t *bracketed(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > MAX_MSGID)
        return json_null();
    char *fixed = mime_utf8_repair(id, n, n, NULL, NULL);
    char buf[MAX_MSGID + 3];
    snprintf(buf, sizeof buf, "<%s>", fixed ? fixed : "");
    free(fixed);
    return json_string(buf);
}

static json_t *references_json(const struct mailimf_references *r)
{
    json_t *a = json_array();
    if (!r || !a)
        return a;
    for (clistiter *it = clist_begin(r->mid_list); it; it = clist_next(it)) {
        if (json_array_size(a) >= MAX_REFERENCES)
            json_array_remove(a, 0); /* the newest ones matter most */
        json_t *id = bracketed(clist_content(it));
        if (json_is_string(id))
            json_array_append(a, id);
        json_decref(id);
    }
    return a;
}

const char *mime_message_id(const struct mailimf_fields *f)
{
    const struct mailimf_field *fld;
    FOREACH_FIELD(f, it, fld)
        if (fld->fld_type == MAILIMF_FIELD_MESSAGE_ID && fld->fld_data.fld_message_id)
            return fld->fld_data.fld_message_id->mid_value;
    return NULL;
}

/* ---- the item ---- */

struct found {
    const struct mailimf_field *from, *date, *subject, *in_reply_to, *references;
    const struct mailimf_optional_field *raw_from; /* a From libetpan could not parse */
};

static void find_fields(const struct mailimf_fields *f, struct found *w)
{
    const struct mailimf_field *fld;
    memset(w, 0, sizeof *w);
    FOREACH_FIELD(f, it, fld) {
        const struct mailimf_field **slot =
            fld->fld_type == MAILIMF_FIELD_FROM          ? &w->from
            : fld->fld_type == MAILIMF_FIELD_ORIG_DATE   ? &w->date
            : fld->fld_type == MAILIMF_FIELD_SUBJECT     ? &w->subject
            : fld->fld_type == MAILIMF_FIELD_IN_REPLY_TO ? &w->in_reply_to
            : fld->fld_type == MAILIMF_FIELD_REFERENCES  ? &w->references
                                                         : NULL;
        if (slot && !*slot)
            *slot = fld;
        if (fld->fld_type == MAILIMF_FIELD_OPTIONAL_FIELD && !w->raw_from &&
            strcasecmp(fld->fld_data.fld_optional_field->fld_name, "From") == 0)
            w->raw_from = fld->fld_data.fld_optional_field;
    }
}

/* From: the first mailbox; a From that did not parse gives its text as the name. */
static json_t *from_json(const struct found *w, json_t *problems)
{
    const struct mailimf_from *from = w->from ? w->from->fld_data.fld_from : NULL;
    clistiter *first = from && from->frm_mb_list ? clist_begin(from->frm_mb_list->mb_list) : NULL;
    if (first)
        return mailbox_json(clist_content(first), problems);
    mime_problem(problems, w->raw_from ? "bad_from" : "no_from");
    char *name = w->raw_from ? mime_header_text(w->raw_from->fld_value, MAX_NAME, problems) : NULL;
    json_t *o = json_pack("{s:s?, s:n}", "name", name && *name ? name : NULL, "address");
    free(name);
    return o;
}

static json_t *subject_json(const struct found *w, json_t *problems)
{
    if (!w->subject || !w->subject->fld_data.fld_subject)
        return json_null();
    char *s = mime_header_text(w->subject->fld_data.fld_subject->sbj_value, MAX_SUBJECT, problems);
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

static json_t *thread_json(const struct mailimf_fields *f, const struct found *w)
{
    const struct mailimf_in_reply_to *irt =
        w->in_reply_to ? w->in_reply_to->fld_data.fld_in_reply_to : NULL;
    clistiter *first = irt && irt->mid_list ? clist_begin(irt->mid_list) : NULL;
    return json_pack("{s:o, s:o, s:o}", "message_id", bracketed(mime_message_id(f)),
                     "in_reply_to", first ? bracketed(clist_content(first)) : json_null(),
                     "references", references_json(w->references
                                                       ? w->references->fld_data.fld_references
                                                       : NULL));
}

/* email.to and email.cc, every To and Cc field together. */
static int recipients(json_t *email, const struct mailimf_fields *f, json_t *problems)
{
    json_t *to = json_array(), *cc = json_array();
    const struct mailimf_field *fld;
    int rc = json_object_set_new(email, "to", to) | json_object_set_new(email, "cc", cc);
    FOREACH_FIELD(f, it, fld) {
        if (rc)
            break;
        if (fld->fld_type == MAILIMF_FIELD_TO && fld->fld_data.fld_to)
            rc = add_addresses(to, fld->fld_data.fld_to->to_addr_list, problems);
        else if (fld->fld_type == MAILIMF_FIELD_CC && fld->fld_data.fld_cc)
            rc = add_addresses(cc, fld->fld_data.fld_cc->cc_addr_list, problems);
    }
    return rc ? -1 : 0;
}

int mime_headers_to_item(json_t *item, json_t *email, const struct mailimf_fields *f,
                         json_t *problems)
{
    struct found w;
    find_fields(f, &w);
    json_t *date = w.date && w.date->fld_data.fld_orig_date
                       ? date_json(w.date->fld_data.fld_orig_date->dt_date_time)
                       : json_null();
    if (json_is_null(date) && w.date)
        mime_problem(problems, "bad_date");
    int rc = json_object_set_new(item, "subject", subject_json(&w, problems));
    rc |= json_object_set_new(item, "from", from_json(&w, problems));
    rc |= json_object_set_new(item, "thread", thread_json(f, &w));
    rc |= json_object_set_new(email, "date", date);
    rc |= recipients(email, f, problems);
    return rc ? -1 : 0;
}

/* ---- automated messages ---- */

/* The first word of a field value, lower-cased, into buf (a token before ';', '(' or
 * white space). */
static const char *first_word(const char *v, char *buf, size_t cap)
{
    size_t k = 0;
    v += strspn(v, " \t\r\n");
    for (; *v && !strchr(" \t\r\n;(", *v) && k + 1 < cap; v++)
        buf[k++] = (char)(*v >= 'A' && *v <= 'Z' ? *v | 0x20 : *v);
    buf[k] = '\0';
    return buf;
}

/* Whether the address's local part is mailer-daemon or postmaster. */
static bool daemon_address(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    size_t n = at ? (size_t)(at - addr) : addr ? strlen(addr) : 0;
    return (n == 13 && strncasecmp(addr, "mailer-daemon", n) == 0) ||
           (n == 10 && strncasecmp(addr, "postmaster", n) == 0);
}

static bool from_daemon(const struct mailimf_field *fld)
{
    const struct mailimf_from *from = fld->fld_data.fld_from;
    if (!from || !from->frm_mb_list)
        return false;
    for (clistiter *it = clist_begin(from->frm_mb_list->mb_list); it; it = clist_next(it))
        if (daemon_address(((struct mailimf_mailbox *)clist_content(it))->mb_addr_spec))
            return true;
    return false;
}

bool mime_is_report(const struct mailmime_content *ct)
{
    return ct && ct->ct_type && ct->ct_type->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE &&
           ct->ct_type->tp_data.tp_composite_type &&
           ct->ct_type->tp_data.tp_composite_type->ct_type == MAILMIME_COMPOSITE_TYPE_MULTIPART &&
           ct->ct_subtype && strcasecmp(ct->ct_subtype, "report") == 0;
}

/* Whether a Content-Type value is multipart/report. */
static bool report_type(const char *value)
{
    size_t idx = 0;
    struct mailmime_content *ct = NULL;
    if (mailmime_content_parse(value, strlen(value), &idx, &ct) != MAILIMF_NO_ERROR || !ct)
        return false;
    bool yes = mime_is_report(ct);
    mailmime_content_free(ct);
    return yes;
}

/* The reason an optional field gives, or NULL. */
static const char *optional_reason(const struct mailimf_optional_field *o)
{
    char w[32];
    const char *name = o->fld_name;
    if (strcasecmp(name, "Auto-Submitted") == 0)
        return strcmp(first_word(o->fld_value, w, sizeof w), "no") ? "auto_submitted" : NULL;
    if (strcasecmp(name, "X-Autoreply") == 0 || strcasecmp(name, "X-Autorespond") == 0 ||
        strcasecmp(name, "X-Autoresponder") == 0) {
        first_word(o->fld_value, w, sizeof w); /* present is enough, unless it says no */
        return strcmp(w, "no") && strcmp(w, "false") && strcmp(w, "0") ? "x_autoreply" : NULL;
    }
    if (strcasecmp(name, "Precedence") == 0) {
        first_word(o->fld_value, w, sizeof w);
        return !strcmp(w, "bulk") || !strcmp(w, "junk") || !strcmp(w, "list") ||
                       !strcmp(w, "auto_reply")
                   ? "precedence"
                   : NULL;
    }
    if (strcasecmp(name, "List-Id") == 0)
        return "list";
    if (strcasecmp(name, "Return-Path") == 0) /* one libetpan could not parse: "<>" */
        return strstr(o->fld_value, "<>") ? "null_return_path" : NULL;
    if (strcasecmp(name, "Content-Type") == 0)
        return report_type(o->fld_value) ? "delivery_report" : NULL;
    return NULL;
}

static const char *field_reason(const struct mailimf_field *fld)
{
    switch (fld->fld_type) {
    case MAILIMF_FIELD_OPTIONAL_FIELD:
        return optional_reason(fld->fld_data.fld_optional_field);
    case MAILIMF_FIELD_RETURN_PATH: {
        const struct mailimf_return *r = fld->fld_data.fld_return_path;
        const char *spec = r && r->ret_path ? r->ret_path->pt_addr_spec : NULL;
        return !spec || !*spec ? "null_return_path" : NULL;
    }
    case MAILIMF_FIELD_FROM:
        return from_daemon(fld) ? "mailer_daemon" : NULL;
    default:
        return NULL;
    }
}

/* The reasons in order of precedence: the most specific first. */
static const char *const reason_order[] = {"delivery_report", "auto_submitted", "x_autoreply",
                                           "precedence", "list", "null_return_path",
                                           "mailer_daemon", NULL};

const char *mime_automated_reason(const struct mailimf_fields *f)
{
    const struct mailimf_field *fld;
    size_t best = sizeof reason_order / sizeof reason_order[0] - 1;
    FOREACH_FIELD(f, it, fld) {
        const char *r = field_reason(fld);
        for (size_t i = 0; r && i < best; i++)
            if (strcmp(r, reason_order[i]) == 0)
                best = i;
    }
    return reason_order[best];
}
