/*
 * Routing: which team queue a record goes to, from the config's [routing] section. Each
 * key is a flag or a category name and its value a route ("mp-casework"); the first match
 * wins, flags before categories, in this order:
 *   safeguarding, urgent, ombudsman, legal, damp_mould, stage2, asb, abusive,
 *   compensation, then the category (mp_enquiry, complaint, service_request, compliment,
 *   comment, other), then `default`. No match: no route.
 */
#ifndef INTAKE_ROUTING_H
#define INTAKE_ROUTING_H

#include <stdint.h>

#include "intake/classifier.h"
#include "intake/config.h"

/* Every string borrowed from the config the table was read from. */
struct intake_routing {
    const char *by_flag[INTAKE_FLAG_COUNT];
    const char *by_category[INTAKE_CAT_COUNT];
    const char *fallback; /* `default` */
};

/* Fills *r from a [routing] section (may be NULL: no routes). Strings stay owned by the
 * config. */
void intake_routing_read(const struct intake_section *sec, struct intake_routing *r);

/* The route of a record with this category and these flags (bit per enum intake_flag),
 * or NULL when no rule matches. r may be NULL. Borrowed. */
const char *intake_route_pick(const struct intake_routing *r, int category, uint32_t flags);

/* The [routing] keys in the order they are tried, ended by NULL ("default" last).
 * Static; config.c builds its option table from the same names. */
extern const char *const intake_routing_keys[];

#endif
