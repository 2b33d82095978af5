/* wsjwt serve: not written yet (see the open issues). */
#include <stdio.h>

#include "cmd.h"

int cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wsjwt serve: not implemented yet\n");
    return 2;
}
