/* wsjwt: one binary, one command per file. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

#ifndef WSJWT_VERSION
#define WSJWT_VERSION "0.0.0"
#endif

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"sign", cmd_sign, "sign a JWT"},
    {"verify", cmd_verify, "verify a JWT and print its header and payload"},
    {"keygen", cmd_keygen, "generate a key (HMAC secret or key pair)"},
    {"serve", cmd_serve, "run a JWT-authenticated WebSocket server"},
    {"connect", cmd_connect, "connect to a WebSocket server (interactive client)"},
    {"bench", cmd_bench, "load-test a WebSocket server"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: wsjwt COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`wsjwt COMMAND --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("wsjwt %s\n", WSJWT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "wsjwt: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
