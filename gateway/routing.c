/* Routing: picks a record's team queue from [routing]; see include/intake/routing.h. */
#include "intake/routing.h"

#include <stddef.h>
#include <string.h>

/* Flags in the order they win. */
static const int flag_order[] = {
    INTAKE_FLAG_SAFEGUARDING, INTAKE_FLAG_URGENT,  INTAKE_FLAG_OMBUDSMAN,
    INTAKE_FLAG_LEGAL,        INTAKE_FLAG_DAMP_MOULD, INTAKE_FLAG_STAGE2,
    INTAKE_FLAG_ASB,          INTAKE_FLAG_ABUSIVE, INTAKE_FLAG_COMPENSATION,
};
#define NFLAGS (sizeof flag_order / sizeof flag_order[0])

const char *const intake_routing_keys[] = {
    "safeguarding", "urgent", "ombudsman", "legal", "damp_mould", "stage2", "asb", "abusive",
    "compensation", "mp_enquiry", "complaint", "service_request", "compliment", "comment",
    "other", "default", NULL,
};

/* A key's value, NULL when unset or empty. */
static const char *route_of(const struct intake_section *sec, const char *key)
{
    const char *v = sec ? intake_config_get(sec, key) : NULL;
    return v && *v ? v : NULL;
}

void intake_routing_read(const struct intake_section *sec, struct intake_routing *r)
{
    memset(r, 0, sizeof *r);
    for (int f = 0; f < INTAKE_FLAG_COUNT; f++)
        r->by_flag[f] = route_of(sec, intake_flag_name(f));
    for (int c = 0; c < INTAKE_CAT_COUNT; c++)
        r->by_category[c] = route_of(sec, intake_category_name(c));
    r->fallback = route_of(sec, "default");
}

const char *intake_route_pick(const struct intake_routing *r, int category, uint32_t flags)
{
    if (!r)
        return NULL;
    for (size_t i = 0; i < NFLAGS; i++)
        if ((flags & (1u << flag_order[i])) && r->by_flag[flag_order[i]])
            return r->by_flag[flag_order[i]];
    if (category >= 0 && category < INTAKE_CAT_COUNT && r->by_category[category])
        return r->by_category[category];
    return r->fallback;
}
