/* wsjwt verify: checks a token against keys and a policy, prints its header
 * and payload, or the exact reason it was refused. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "keyopts.h"

#define CMD "wsjwt verify"

/* Read at most this much from stdin: well above any token the library
 * accepts, so that the library's own cap is what reports "too large". */
#define STDIN_CAP (1024 * 1024)

static void help(FILE *out)
{
    fputs("usage: wsjwt verify [OPTIONS] [TOKEN | -]\n"
          "Verifies a JWT (from the argument, or stdin when it is - or absent). Prints\n"
          "{\"header\":...,\"payload\":...} on stdout when valid; the reason on stderr when not.\n\n"
          "  --now UNIX          verify as if the time were UNIX (seconds; default: the clock)\n"
          "  --json              on refusal, also print {\"error\":...} on stdout\n\n",
          out);
    keyopts_help(out);
    fputc('\n', out);
    policyopts_help(out);
    fputs("\nexit status: 0 valid, 1 refused, 2 usage error (bad option, no key, unreadable file)\n", out);
}

/* JSON string escaping for the --json error object. */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_json_error(const char *name, int code, const char *member, const char *message)
{
    fputs("{\"error\":", stdout);
    json_str(stdout, name);
    fprintf(stdout, ",\"code\":%d,\"member\":", code);
    json_str(stdout, member);
    fputs(",\"message\":", stdout);
    json_str(stdout, message);
    fputs("}\n", stdout);
}

/* A secret shorter than the hash is accepted (Node users sign with short
 * secrets) but worth knowing about. */
static void note_weak(const struct wsjwt_keyset *keys, enum wsjwt_alg alg)
{
    for (size_t k = 0; k < wsjwt_keyset_count(keys); k++) {
        const struct wsjwt_key *key = wsjwt_keyset_get(keys, k);
        if (!wsjwt_key_is_weak(key, alg))
            continue;
        const char *kid = wsjwt_key_kid(key);
        fprintf(stderr,
                CMD ": note: the secret%s%s is shorter than %s's %zu-byte hash (RFC 7518 3.2): accepted, "
                    "but whoever holds a token can try to guess it offline\n",
                kid ? " with kid " : "", kid ? kid : "", wsjwt_alg_name(alg), alg_hmac_size(alg));
    }
}

int cmd_verify(int argc, char **argv)
{
    struct keyopts ko;
    struct policyopts po;
    keyopts_init(&ko, CMD);
    policyopts_init(&po, CMD);
    const char *token_arg = NULL;
    int json = 0;
    int has_now = 0;
    int64_t now = 0;
    int i = 1;
    while (i < argc) {
        int r;
        const char *v = NULL;
        if ((r = keyopts_parse(&ko, argc, argv, &i)) != OPT_UNKNOWN ||
            (r = policyopts_parse(&po, argc, argv, &i)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return 0;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--now", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR || opt_unix_time(CMD, "--now", v, &now) != 0)
                return EXIT_USAGE;
            has_now = 1;
            continue;
        }
        if ((r = opt_flag(CMD, argv, &i, "--json")) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            json = 1;
            continue;
        }
        if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0) {
            fprintf(stderr, CMD ": unknown option '%s' (see wsjwt verify --help)\n", argv[i]);
            return EXIT_USAGE;
        }
        if (token_arg) {
            fprintf(stderr, CMD ": one token at a time ('%s' is a second argument)\n", argv[i]);
            return EXIT_USAGE;
        }
        token_arg = argv[i++];
    }

    char *buf = NULL;
    size_t len = 0;
    const char *token;
    if (!token_arg && isatty(STDIN_FILENO)) {
        fprintf(stderr, CMD ": no token (give it as the argument, or pipe it in)\n");
        return EXIT_USAGE;
    }
    if (!token_arg || strcmp(token_arg, "-") == 0) {
        if (ko.secret_file && strcmp(ko.secret_file, "-") == 0) {
            fprintf(stderr, CMD ": --secret-file - and the token cannot both come from stdin\n");
            return EXIT_USAGE;
        }
        if (read_file_capped(CMD, "stdin", "-", STDIN_CAP, &buf, &len) != 0)
            return EXIT_USAGE;
        token = buf;
    } else {
        token = token_arg;
        len = strlen(token);
    }
    /* Surrounding whitespace (the newline of `wsjwt sign | wsjwt verify`) is
     * not part of the token. */
    while (len > 0 && isspace((unsigned char)*token)) {
        token++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)token[len - 1]))
        len--;
    if (len == 0) {
        fprintf(stderr, CMD ": no token (give it as the argument, or on stdin)\n");
        free(buf);
        return EXIT_USAGE;
    }

    struct wsjwt_keyset *keys = NULL;
    struct wsjwt_policy *policy = NULL;
    struct keyinfo info;
    int rc = keyopts_keyset(&ko, &keys, &info);
    if (rc == 0)
        rc = policyopts_build(&po, keys, &policy);
    if (rc != 0) {
        wsjwt_keyset_unref(keys);
        free(buf);
        return rc;
    }

    struct wsjwt_jwt *jwt = NULL;
    struct wsjwt_jwt_error err;
    memset(&err, 0, sizeof(err));
    int v = wsjwt_jwt_verify(policy, keys, token, len, has_now ? now : (int64_t)time(NULL), &jwt, &err);
    if (v == 0) {
        note_weak(keys, wsjwt_jwt_alg(jwt));
        printf("{\"header\":%s,\"payload\":%s}\n", wsjwt_jwt_header_json(jwt), wsjwt_jwt_payload_json(jwt));
        wsjwt_jwt_free(jwt);
        rc = fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
    } else {
        const char *msg = err.message[0] ? err.message : wsjwt_strerror(v);
        if (err.member[0])
            fprintf(stderr, CMD ": refused: %s (%s) [%s]\n", msg, err.member, wsjwt_err_name(v));
        else
            fprintf(stderr, CMD ": refused: %s [%s]\n", msg, wsjwt_err_name(v));
        /* No trusted header after a refusal: note against the smallest
         * requirement (HS256's 32 bytes). */
        if (v == WSJWT_EJWT_SIGNATURE)
            note_weak(keys, WSJWT_ALG_HS256);
        if (json)
            print_json_error(wsjwt_err_name(v), v, err.member, msg);
        rc = EXIT_REFUSED;
    }
    wsjwt_policy_free(policy);
    wsjwt_keyset_unref(keys);
    free(buf);
    return rc;
}
