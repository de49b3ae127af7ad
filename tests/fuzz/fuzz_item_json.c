/* libFuzzer target: the JSON item reader must never crash, read out of bounds or leak,
 * and must answer with one of its documented codes. */
#include <stdint.h>
#include <stdlib.h>

#include "intake/item_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct intake_json_reader rd = {0};
    struct intake_json_item item;
    size_t at;
    int rc = intake_json_item_parse(&rd, (const char *)data, size, &item, &at);
    if (rc != 0 && rc != -1 && rc != -3)
        abort();
    if (rc == -1 && at > size)
        abort();
    intake_json_reader_free(&rd);
    return 0;
}
