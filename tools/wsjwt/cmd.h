/* The CLI's commands. Each lives in its own file (sign.c, verify.c, ...) and
 * returns the process exit code: 0 success, 1 refused or failed, 2 usage. */
#ifndef WSJWT_CLI_CMD_H
#define WSJWT_CLI_CMD_H

int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
