/* wsjwt keygen: not written yet (see the open issues). */
#include <stdio.h>

#include "cmd.h"

int cmd_keygen(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wsjwt keygen: not implemented yet\n");
    return 2;
}
