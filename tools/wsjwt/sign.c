/* wsjwt sign: not written yet (see the open issues). */
#include <stdio.h>

#include "cmd.h"

int cmd_sign(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wsjwt sign: not implemented yet\n");
    return 2;
}
