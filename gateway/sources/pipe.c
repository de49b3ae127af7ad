/*
 * The pipe source: passive. Items arrive through `intake submit --config FILE --source
 * NAME`, one per call, from an MTA's pipe transport or a script; the daemon only lists it
 * in /readyz. The submit command reads the `max_size` key below.
 */
#include "intake/source.h"

static const struct intake_option options[] = {
    {"max_size", INTAKE_OPT_INT, "8388608",
     "largest item accepted on stdin, in bytes (at most 8 MiB); larger input exits 65", NULL, 1,
     8L * 1024 * 1024, false, false},
    {0},
};

const struct intake_source_type intake_source_pipe = {
    "pipe", "items pushed by `intake submit` (an MTA pipe or a script)", options, NULL, NULL,
    NULL,
};
