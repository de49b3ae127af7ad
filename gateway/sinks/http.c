/* placeholder: being written */
#include "intake/sink.h"
static const struct intake_option opts[] = {{0}};
const struct intake_sink_type intake_sink_http = {"http", "placeholder", opts, 0, 0, 0, 0};
