/* libFuzzer target: the MIME parser must never crash, read out of bounds or leak; it
 * returns an item (valid JSON with a body) or NULL with a reason, for the whole message
 * and for the same bytes read as an oversize message's header block. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intake/mime.h"

static void check(json_t *item, const char *err)
{
    if (!item) {
        if (!err[0])
            abort();
        return;
    }
    if (!json_is_string(json_object_get(item, "body")) ||
        !json_is_string(json_object_get(item, "id")))
        abort();
    char *text = json_dumps(item, JSON_COMPACT);
    if (!text)
        abort();
    free(text);
    json_decref(item);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct intake_mime_opts small = {4, 20, 4096};
    char err[128] = "";
    check(intake_mime_parse((const char *)data, size, &small, err, sizeof err), err);
    err[0] = '\0';
    check(intake_mime_parse_oversize((const char *)data, size, size + 1, &small, err,
                                     sizeof err), err);
    return 0;
}
