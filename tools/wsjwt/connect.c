/* wsjwt connect: not written yet (see the open issues). */
#include <stdio.h>

#include "cmd.h"

int cmd_connect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wsjwt connect: not implemented yet\n");
    return 2;
}
