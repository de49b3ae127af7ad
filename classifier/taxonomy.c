/* Names of categories and flags, as in the intake classify contract. */
#include "intake/classifier.h"

#include <string.h>

static const char *const category_names[INTAKE_CAT_COUNT] = {
    "complaint", "service_request", "compliment", "comment", "mp_enquiry", "other",
};

static const char *const flag_names[INTAKE_FLAG_COUNT] = {
    "stage2", "ombudsman", "asb", "legal", "safeguarding",
    "urgent", "damp_mould", "compensation", "abusive",
};

const char *intake_category_name(int category)
{
    if (category < 0 || category >= INTAKE_CAT_COUNT)
        return NULL;
    return category_names[category];
}

const char *intake_flag_name(int flag)
{
    if (flag < 0 || flag >= INTAKE_FLAG_COUNT)
        return NULL;
    return flag_names[flag];
}

int intake_target_from_name(const char *name)
{
    for (int i = 0; i < INTAKE_CAT_COUNT; i++)
        if (strcmp(name, category_names[i]) == 0)
            return i;
    for (int i = 0; i < INTAKE_FLAG_COUNT; i++)
        if (strcmp(name, flag_names[i]) == 0)
            return INTAKE_CAT_COUNT + i;
    return -1;
}
