/* Token options shared by `wsjwt connect` and `wsjwt bench`: where the token
 * comes from (--token, --token-env, --token-file, or --sign with the key
 * options of `wsjwt sign` and a few claim options) and where it goes in the
 * upgrade (--token-header, --bearer, --subprotocol, --query).
 *
 * tokenopts_parse() follows keyopts_parse()'s contract (OPT_CONSUMED,
 * OPT_UNKNOWN, OPT_ERROR with the message on stderr). */
#ifndef WSJWT_CLI_TOKENOPTS_H
#define WSJWT_CLI_TOKENOPTS_H

#include <stdio.h>

#include <wsjwt/client.h>
#include <wsjwt/jwt.h>

#include "keyopts.h"

#define TOKENOPTS_MAX_CLAIMS 32

struct tokenopts {
    const char *cmd;
    const char *token, *token_env, *token_file;
    int sign;
    struct keyopts keys;
    const char *sub, *alg, *kid, *expires;
    const char *claims[TOKENOPTS_MAX_CLAIMS];
    size_t n_claims;
    int allow_weak;
    enum wsjwt_token_place place;
    const char *name; /* header or query name */

    /* after tokenopts_prepare */
    struct wsjwt_key *key;
    struct wsjwt_sign_opts so;
    char *payload;
    char *fixed; /* the token from --token/--token-env/--token-file */
};

void tokenopts_init(struct tokenopts *o, const char *cmd);
int tokenopts_parse(struct tokenopts *o, int argc, char **argv, int *i);
void tokenopts_help(FILE *out);

/* Checks the combination and loads the token or the signing key. 0, or an
 * exit code (EXIT_USAGE, EXIT_REFUSED) with the message on stderr. */
int tokenopts_prepare(struct tokenopts *o);

/* 1 when a token will be sent. */
int tokenopts_has_token(const struct tokenopts *o);

/* The token to send: the fixed one (a view, do not free: *owned = 0), or a
 * newly signed one (*owned = 1: free with tokenopts_free_token). NULL token
 * when none is configured. 0 or EXIT_REFUSED with a message. */
int tokenopts_token(struct tokenopts *o, char **token, int *owned);
void tokenopts_free_token(char *token, int owned);

void tokenopts_release(struct tokenopts *o);

#endif
