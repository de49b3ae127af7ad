/* The record's deadlines object (hazard and Ombudsman clocks) and its route
 * (include/intake/record.h, include/intake/routing.h). Expected values are worked out by
 * hand in the comments, not by the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intake/record.h"
#include "intake/routing.h"

#define FLAG(f) (1u << (f))

/* Builds a record of `item_text` received at `received` with the given verdict and
 * deadlines; the caller frees it. */
static json_t *build(const char *received, int category, uint32_t flags,
                     const struct intake_deadlines *dl, const char *route)
{
    intake_recorder *r = intake_recorder_new();
    assert_non_null(r);
    json_t *item = json_pack("{s:s, s:s, s:s}", "id", "m-1", "channel", "email", "body",
                             "The ceiling is black with mould");
    intake_verdict v;
    memset(&v, 0, sizeof v);
    v.category = category;
    v.mp_underlying = -1;
    v.flags = flags;
    struct intake_record_in in = {.record_id = "019ab7e2-5c1d-7a10-9c4e-3f2b8d6e1a07",
                                  .source = "mta", .received_at = received, .item = item,
                                  .verdict = &v, .deadlines = dl,
                                  .policy = "housing-ombudsman", .route = route};
    json_t *rec = intake_record_build(r, &in);
    assert_non_null(rec);
    json_decref(item);
    intake_recorder_free(r);
    return rec;
}

static const char *deadline(const json_t *rec, const char *key)
{
    const json_t *v = json_object_get(json_object_get(rec, "deadlines"), key);
    assert_non_null(v); /* every key is present, null when it does not apply */
    return json_string_value(v);
}

static void hazard_deadlines_in_the_record(void **state)
{
    (void)state;
    struct intake_deadlines dl = {INTAKE_NO_DAY, INTAKE_NO_DAY, 0, INTAKE_NO_DAY, 24};
    assert_int_equal(intake_day_parse("2026-01-09", &dl.investigate_by), 0);
    /* 23:30 UTC on Thu 31 Dec 2026 + 24 h crosses the year: 23:30 on Fri 1 Jan 2027. */
    json_t *rec = build("2026-12-31T23:30:00.000Z", INTAKE_CAT_SERVICE_REQUEST,
                        FLAG(INTAKE_FLAG_URGENT) | FLAG(INTAKE_FLAG_DAMP_MOULD), &dl, NULL);
    assert_string_equal(deadline(rec, "emergency_by"), "2027-01-01T23:30:00.000Z");
    assert_string_equal(deadline(rec, "investigate_by"), "2026-01-09");
    assert_null(deadline(rec, "acknowledge_by"));
    assert_null(deadline(rec, "respond_by"));
    assert_null(deadline(rec, "ombudsman_respond_by"));
    assert_string_equal(deadline(rec, "policy"), "housing-ombudsman");
    assert_true(json_is_null(json_object_get(rec, "route")));
    json_decref(rec);
    /* A received time given with an offset: 10:00+01:00 is 09:00Z; + 4 h = 13:00Z. */
    dl.emergency_hours = 4;
    rec = build("2026-06-01T10:00:00+01:00", INTAKE_CAT_COMPLAINT, FLAG(INTAKE_FLAG_URGENT),
                &dl, "repairs-emergency");
    assert_string_equal(deadline(rec, "emergency_by"), "2026-06-01T13:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(rec, "route")),
                        "repairs-emergency");
    json_decref(rec);
    /* No urgent clock: null. */
    dl.emergency_hours = 0;
    rec = build("2026-06-01T10:00:00Z", INTAKE_CAT_COMPLAINT, 0, &dl, NULL);
    assert_null(deadline(rec, "emergency_by"));
    json_decref(rec);
}

static void routes_first_match_flags_before_categories(void **state)
{
    (void)state;
    struct intake_routing r;
    memset(&r, 0, sizeof r);
    r.by_flag[INTAKE_FLAG_SAFEGUARDING] = "safeguarding";
    r.by_flag[INTAKE_FLAG_URGENT] = "repairs-emergency";
    r.by_category[INTAKE_CAT_MP_ENQUIRY] = "mp-casework";
    /* an MP enquiry about a gas smell goes to the emergency team */
    assert_string_equal(intake_route_pick(&r, INTAKE_CAT_MP_ENQUIRY, FLAG(INTAKE_FLAG_URGENT)),
                        "repairs-emergency");
    /* safeguarding wins over urgent whatever the bit order */
    assert_string_equal(intake_route_pick(&r, INTAKE_CAT_COMPLAINT,
                                          FLAG(INTAKE_FLAG_URGENT) |
                                              FLAG(INTAKE_FLAG_SAFEGUARDING)),
                        "safeguarding");
    assert_string_equal(intake_route_pick(&r, INTAKE_CAT_MP_ENQUIRY, FLAG(INTAKE_FLAG_ASB)),
                        "mp-casework");
    /* nothing matches and no default: NULL; with a default: the default */
    assert_null(intake_route_pick(&r, INTAKE_CAT_COMPLAINT, FLAG(INTAKE_FLAG_ASB)));
    r.fallback = "customer-feedback";
    assert_string_equal(intake_route_pick(&r, INTAKE_CAT_COMPLAINT, 0), "customer-feedback");
    assert_string_equal(intake_route_pick(&r, -1, 0), "customer-feedback");
    assert_null(intake_route_pick(NULL, INTAKE_CAT_COMPLAINT, FLAG(INTAKE_FLAG_URGENT)));
}

static void routes_read_from_the_config(void **state)
{
    (void)state;
    char path[] = "/tmp/test_record_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char ini[] = "[routing]\nmp_enquiry = mp-casework\n"
                              "safeguarding = safeguarding\nurgent = repairs-emergency\n";
    assert_int_equal(write(fd, ini, sizeof ini - 1), (ssize_t)(sizeof ini - 1));
    close(fd);
    intake_config *cfg = NULL;
    intake_diag diag = {0};
    assert_int_equal(intake_config_load(path, &cfg, &diag), 0);
    struct intake_routing r;
    intake_routing_read(intake_config_section(cfg, "routing", NULL), &r);
    assert_string_equal(intake_route_pick(&r, INTAKE_CAT_MP_ENQUIRY, 0), "mp-casework");
    assert_string_equal(intake_route_pick(&r, INTAKE_CAT_OTHER, FLAG(INTAKE_FLAG_URGENT)),
                        "repairs-emergency");
    assert_null(intake_route_pick(&r, INTAKE_CAT_COMPLAINT, 0));
    intake_config_free(cfg);
    intake_diag_clear(&diag);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hazard_deadlines_in_the_record),
        cmocka_unit_test(routes_first_match_flags_before_categories),
        cmocka_unit_test(routes_read_from_the_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
