/* placeholder: being written */
#include "intake/source.h"
static const struct intake_option opts[] = {{0}};
const struct intake_source_type intake_source_maildir = {"maildir", "placeholder", opts, 0, 0};
