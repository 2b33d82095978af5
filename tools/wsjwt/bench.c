/* wsjwt bench: not written yet (see the open issues). */
#include <stdio.h>

#include "cmd.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wsjwt bench: not implemented yet\n");
    return 2;
}
