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
    intake_recorder *recorder;
};

intake_processor *intake_processor_new(const struct intake_processor_conf *conf,
                                       const intake_ruleset *rs)
{
    intake_processor *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->conf = *conf;
    p->recorder = intake_recorder_new();
    if (!p->recorder || intake_processor_set_rules(p, rs) < 0) {
        intake_processor_free(p);
        return NULL;
    }
    return p;
}

int intake_processor_set_rules(intake_processor *p, const intake_ruleset *rs)
{
    intake_scanner *sc = intake_scanner_new(rs);
    if (!sc)
        return -1;
    intake_scanner_free(p->scanner);
    p->scanner = sc;
    p->rs = rs;
    return 0;
}

void intake_processor_free(intake_processor *p)
{
    if (!p)
        return;
    intake_scanner_free(p->scanner);
    intake_recorder_free(p->recorder);
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

/* Classifies a claimed item and stores its record and deliveries. */
static int process(intake_processor *p, intake_spool *sp, const struct intake_claim *c)
{
    intake_message m;
    intake_verdict v;
    struct intake_deadlines dl;
    item_message(c->item_json, &m);
    if (intake_classify(p->scanner, &m, &v) < 0)
        return INTAKE_SPOOL_TEMP; /* out of memory: the next claim counts another try */
    deadlines_of(p, c->received_at, &v, &dl);
    struct intake_record_in in = {c->record_id, c->source, c->received_at, c->item_json,
                                  p->rs, &v, &dl, p->conf.policy->name, NULL, NULL};
    json_t *rec = intake_record_build(p->recorder, &in);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!text)
        return INTAKE_SPOOL_TEMP;
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
