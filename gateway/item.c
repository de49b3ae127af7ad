/* Items as sources receive them: parse, check, fill the source's defaults. */
#include <string.h>

#include "intake/source.h"
#include "intake/spool.h"

json_t *intake_item_parse(const char *text, size_t len, const struct intake_section *sec,
                          const char **why)
{
    json_error_t jerr;
    json_t *item = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!item) {
        *why = "not valid JSON";
        return NULL;
    }
    const char *channel = intake_config_get(sec, "channel");
    if (json_is_object(item) && !json_object_get(item, "channel") && channel)
        json_object_set_new(item, "channel", json_string(channel));
    *why = intake_spool_item_invalid(item);
    if (*why) {
        json_decref(item);
        return NULL;
    }
    return item;
}
