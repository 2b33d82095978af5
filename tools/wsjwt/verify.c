/* wsjwt verify: not written yet (see the open issues). */
#include <stdio.h>

#include "cmd.h"

int cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wsjwt verify: not implemented yet\n");
    return 2;
}
