/* The processor: spool item -> classify -> deadlines -> record -> deliveries. */
#include "processor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/log.h"
#include "intake/record.h"
#include "intake/timefmt.h"

struct intake_processor {
    struct intake_processor_conf conf;
    const intake_ruleset *rs;
    intake_scanner *scanner;
    intake_redact_ctx *redact;
    intake_recorder *recorder;
    intake_buf redacted;
};

intake_processor *intake_processor_new(const struct intake_processor_conf *conf,
                                       const intake_ruleset *rs, const intake_redactor *rd)
{
    intake_processor *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->conf = *conf;
    p->recorder = intake_recorder_new_with(conf->case_reference, NULL, 0);
    if (!p->recorder || intake_processor_set_rules(p, rs, rd) < 0) {
        intake_processor_free(p);
        return NULL;
    }
    return p;
}

int intake_processor_set_rules(intake_processor *p, const intake_ruleset *rs,
                               const intake_redactor *rd)
{
    intake_scanner *sc = intake_scanner_new(rs);
    intake_redact_ctx *rc = intake_redact_ctx_new(rd);
    if (!sc || !rc) {
        intake_scanner_free(sc);
        intake_redact_ctx_free(rc);
        return -1;
    }
    intake_scanner_free(p->scanner);
    intake_redact_ctx_free(p->redact);
    p->scanner = sc;
    p->redact = rc;
    p->rs = rs;
    return 0;
}

void intake_processor_free(intake_processor *p)
{
    if (!p)
        return;
    intake_scanner_free(p->scanner);
    intake_redact_ctx_free(p->redact);
    intake_recorder_free(p->recorder);
    intake_buf_free(&p->redacted);
    free(p);
}

/* Points a message field at a string member of obj (absent: empty). */
static void field(const json_t *obj, const char *key, const char **s, size_t *len)
{
    const json_t *v = json_object_get(obj, key);
    *s = json_is_string(v) ? json_string_value(v) : NULL;
    *len = *s ? json_string_length(v) : 0;
}

/* The classifier's view of an item; every pointer borrowed from the item. */
static void item_message(const json_t *item, intake_message *m)
{
    const json_t *from = json_object_get(item, "from");
    memset(m, 0, sizeof *m);
    field(item, "subject", &m->subject, &m->subject_len);
    field(item, "body", &m->body, &m->body_len);
    field(item, "channel", &m->channel, &m->channel_len);
    field(from, "address", &m->from_address, &m->from_address_len);
    field(from, "name", &m->from_name, &m->from_name_len);
    if (!m->from_name)
        field(from, "handle", &m->from_name, &m->from_name_len);
    m->is_public = json_is_true(json_object_get(item, "public"));
}

static void deadlines_of(const intake_processor *p, const char *received_at,
                         const intake_verdict *v, struct intake_deadlines *dl)
{
    double t = 0;
    if (intake_time_parse(received_at, &t) < 0)
        t = intake_time_now();
    intake_deadlines_compute(p->conf.calendar, p->conf.policy, intake_time_local_day(t),
                             v->category, v->flags, dl);
}

static bool redacts(const intake_processor *p, const intake_message *m)
{
    return p->conf.redact == INTAKE_REDACT_ALL ||
           (p->conf.redact == INTAKE_REDACT_PUBLIC && m->is_public);
}

/* Redacts the body into p->redacted and returns the spans as a JSON array (a new
 * reference), or NULL when memory runs out. */
static json_t *redact(intake_processor *p, const json_t *item, const intake_message *m)
{
    const struct intake_span *spans;
    size_t n;
    const json_t *from = json_object_get(item, "from");
    struct intake_redact_hints h;
    memset(&h, 0, sizeof h);
    field(from, "name", &h.author_name, &h.author_name_len);
    field(from, "handle", &h.author_handle, &h.author_handle_len);
    if (intake_redact_find(p->redact, m->body, m->body_len, &h, &spans, &n) < 0 ||
        intake_redact_apply(m->body, m->body_len, spans, n, &p->redacted) < 0)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "type",
                                           intake_pii_type_name(spans[i].type), "start",
                                           (json_int_t)spans[i].start, "end",
                                           (json_int_t)spans[i].end));
    return a;
}

/* Why the item is an automated message (an auto-reply, bounce, list mail: the MIME
 * parser's "automated"), or NULL. */
static const char *automated_reason(const json_t *item)
{
    return json_string_value(json_object_get(item, "automated"));
}

/* Builds the record of a classified item: redacted text and spans when redaction applies. */
static json_t *build(intake_processor *p, const struct intake_claim *c, const intake_message *m,
                     const intake_verdict *v, const struct intake_deadlines *dl)
{
    struct intake_record_in in = {c->record_id, c->source, c->received_at, c->item_json,
                                  p->rs, v, dl, p->conf.policy->name, NULL, NULL, NULL,
                                  intake_route_pick(p->conf.routing, v->category, v->flags),
                                  automated_reason(c->item_json)};
    json_t *spans = NULL;
    if (redacts(p, m)) {
        if (!(spans = redact(p, c->item_json, m)))
            return NULL;
        in.text = p->redacted.data ? p->redacted.data : "";
        in.redactions = spans;
        in.original_text = p->conf.keep_original ? m->body : NULL;
    }
    json_t *rec = intake_record_build(p->recorder, &in);
    json_decref(spans);
    return rec;
}

/* Classifies a claimed item and stores its record and deliveries. */
static int process(intake_processor *p, intake_spool *sp, const struct intake_claim *c)
{
    intake_message m;
    intake_verdict v;
    struct intake_deadlines dl;
    item_message(c->item_json, &m);
    if (intake_classify(p->scanner, &m, &v) < 0)
        return INTAKE_SPOOL_TEMP; /* out of memory: the next claim counts another try */
    if (automated_reason(c->item_json)) { /* recorded, as "other", never acknowledged */
        v.category = INTAKE_CAT_OTHER;
        v.mp_underlying = -1;
    }
    deadlines_of(p, c->received_at, &v, &dl);
    json_t *rec = build(p, c, &m, &v, &dl);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!text) { /* keeps the attempt: an item that cannot become a record is quarantined */
        intake_log(INTAKE_LOG_WARN, "record_failed", "record", c->record_id, NULL);
        return INTAKE_SPOOL_FATAL;
    }
    char flags[256];
    const char *category = intake_category_name(v.category);
    int rc = intake_spool_store_record(sp, c, text, category,
                                       intake_flags_join(v.flags, flags, sizeof flags),
                                       p->conf.sinks, p->conf.nsinks);
    free(text);
    if (rc == INTAKE_SPOOL_OK)
        intake_log(INTAKE_LOG_INFO, "item_processed", "record", c->record_id, "source",
                   c->source, "category", category, "flags", flags, NULL);
    return rc;
}

int intake_processor_step(intake_processor *p, intake_spool *sp)
{
    struct intake_claim c;
    bool found;
    unsigned quarantined = 0;
    int rc = intake_spool_claim(sp, &c, &found, &quarantined);
    if (quarantined)
        intake_log(INTAKE_LOG_WARN, "item_quarantined", "reason",
                   "processing failed 3 times", NULL);
    if (rc || !found)
        return rc ? rc : quarantined ? 1 : 0;
    if (!c.item_json) {
        rc = intake_spool_quarantine(sp, c.item, "the stored item is not valid JSON");
        intake_log(INTAKE_LOG_WARN, "item_quarantined", "record", c.record_id, "reason",
                   "stored item is not valid JSON", NULL);
    } else {
        rc = process(p, sp, &c);
        if (rc == INTAKE_SPOOL_TEMP)
            intake_spool_unclaim(sp, c.item); /* not the item's fault: keep its tries */
    }
    intake_spool_claim_free(&c);
    return rc ? rc : 1;
}
