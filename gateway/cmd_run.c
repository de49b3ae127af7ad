/* placeholder: being written */
#include <stdio.h>
#include "commands.h"
int cmd_run(int argc, char **argv)
{
    (void)argc; (void)argv;
    fputs("intake: not built yet\n", stderr);
    return 1;
}
