/* libFuzzer target: clean-up and classification of arbitrary bytes with the shipped rules.
 * The cleaned body must stay valid UTF-8 within its cap (the engine matches without UTF
 * checks), and classification must never fail or crash. */
#include <stdint.h>
#include <stdlib.h>

#include "intake/classifier.h"
#include "intake/normalise.h"
#include "intake/utf8.h"

static intake_ruleset *rs;
static intake_scanner *sc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (rs == NULL) {
        intake_diag d = {0};
        if (intake_ruleset_load_dir(INTAKE_RULES_DIR, &rs, &d) != 0)
            abort();
        sc = intake_scanner_new(rs);
    }
    intake_buf b = {0};
    const char *text = (const char *)data;
    if (intake_normalise_body(text, size, 1 << 20, 4096, &b) != 0 || b.len > 4096)
        abort();
    for (size_t i = 0; i < b.len;) {
        uint32_t cp;
        size_t used = intake_utf8_decode(b.data + i, b.len - i, &cp);
        if (used == 0)
            abort();
        i += used;
    }
    intake_buf_free(&b);
    size_t half = size / 2;
    intake_message m = {.subject = text, .subject_len = half, .body = text + half,
                        .body_len = size - half, .from_name = text, .from_name_len = half,
                        .channel = "x", .channel_len = 1, .is_public = size & 1};
    intake_verdict v;
    if (intake_classify(sc, &m, &v) != 0)
        abort();
    return 0;
}
