/* Key and verification-policy options shared by the CLI's commands (sign,
 * verify, later serve and connect).
 *
 * Each command keeps its own argv loop and offers every argument to
 * keyopts_parse() and policyopts_parse() in turn; they answer OPT_CONSUMED
 * (the option, and its value when it has one, were taken and *i advanced
 * past them), OPT_UNKNOWN (not theirs: *i untouched) or OPT_ERROR (theirs but
 * wrong: the message, naming the option, is already on stderr). Values are
 * accepted as "--opt VALUE" and "--opt=VALUE". Strings point into argv.
 *
 * Once the arguments are parsed, keyopts_keyset()/keyopts_sign_key() load the
 * key material and policyopts_build() makes the immutable library policy.
 */
#ifndef WSJWT_CLI_KEYOPTS_H
#define WSJWT_CLI_KEYOPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <wsjwt/jwt.h>

enum { OPT_ERROR = -1, OPT_UNKNOWN = 0, OPT_CONSUMED = 1 };

/* Exit codes shared by every command (see cmd.h). */
enum { EXIT_REFUSED = 1, EXIT_USAGE = 2 };

/* Generic helpers for commands' own options. `cmd` names the command in
 * messages ("wsjwt sign").
 * opt_value: argv[*i] is `name` followed by a value ("--x V" or "--x=V"):
 *   OPT_CONSUMED with *val set, OPT_UNKNOWN when argv[*i] is another option,
 *   OPT_ERROR when the value is missing.
 * opt_flag: argv[*i] is exactly `name`: OPT_CONSUMED; "--flag=..." is an
 *   OPT_ERROR (a flag takes no value). */
int opt_value(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val);
int opt_flag(const char *cmd, char **argv, int *i, const char *name);

/* Parses a non-negative duration ("90", "90s", "15m", "12h", "15d", "2w",
 * "1y"); on failure prints "<cmd>: <option>: ..." and returns -1. */
int opt_duration(const char *cmd, const char *option, const char *s, int64_t *out);

/* Parses a decimal Unix time (may be negative); -1 and a message on error. */
int opt_unix_time(const char *cmd, const char *option, const char *s, int64_t *out);

/* Appends `v` to arr[*n] (capacity `cap`): OPT_CONSUMED, or OPT_ERROR with
 * a message naming `option` when full. For repeatable options. */
int opt_append(const char *cmd, const char *option, const char **arr, size_t *n, size_t cap, const char *v);

/* Reads a whole file (at most `cap` bytes) into a new NUL-terminated buffer;
 * -1 and a message naming `option` and the path on failure. Free with free()
 * (callers holding secrets wipe first). */
int read_file_capped(const char *cmd, const char *option, const char *path, size_t cap, char **out,
                     size_t *out_len);

/* ---- key options ---------------------------------------------------------- */

#define KEYOPTS_MAX_FILES 16

struct keyopts {
    const char *cmd;
    const char *secret_env; /* --secret-env NAME; NULL: JWT_SECRET, only when nothing else is given */
    const char *secret_file;
    const char *secret; /* --secret S (shows in ps: warned about) */
    int secret_base64;  /* the secret is base64 or base64url of the key bytes */
    const char *key_files[KEYOPTS_MAX_FILES];
    size_t n_key_files;
    const char *jwks_files[KEYOPTS_MAX_FILES];
    size_t n_jwks_files;
};

/* What was loaded, for defaults and notes. */
struct keyinfo {
    int has_secret;     /* an HMAC secret came from env, file or --secret */
    size_t secret_len;  /* its length in bytes */
    int has_key_files;  /* --key or --jwks were given */
    const char *source; /* "JWT_SECRET", "--secret-file PATH", ... for messages */
};

void keyopts_init(struct keyopts *o, const char *cmd);
int keyopts_parse(struct keyopts *o, int argc, char **argv, int *i);

/* Prints the key options' help lines. */
void keyopts_help(FILE *out);

/* Every configured key in a new key set. 0, or EXIT_USAGE when no key is
 * configured or a file cannot be read, EXIT_REFUSED when a key is refused by
 * the library; the message is on stderr. */
int keyopts_keyset(const struct keyopts *o, struct wsjwt_keyset **out, struct keyinfo *info);

/* The one signing key: a secret, or the single key of --key. Same returns. */
int keyopts_sign_key(const struct keyopts *o, struct wsjwt_key **out, struct keyinfo *info);

/* ---- policy options ------------------------------------------------------- */

#define POLICYOPTS_MAX 32

struct policyopts {
    const char *cmd;
    enum wsjwt_alg algs[WSJWT_ALG_COUNT];
    size_t n_algs;
    const char *issuers[POLICYOPTS_MAX];
    size_t n_issuers;
    const char *audiences[POLICYOPTS_MAX];
    size_t n_audiences;
    const char *subject;
    const char *required[POLICYOPTS_MAX];
    size_t n_required;
    const char *typ;
    int64_t leeway;
    int64_t max_age;
};

void policyopts_init(struct policyopts *p, const char *cmd);
int policyopts_parse(struct policyopts *p, int argc, char **argv, int *i);
void policyopts_help(FILE *out);

/* Builds the policy. Without --alg the allowed algorithms are those that
 * some key of `keys` fits (wsjwt_key_fits: HS256/384/512 for a secret, RS*
 * and PS* for an RSA key, ...). 0, or EXIT_REFUSED/EXIT_USAGE with a
 * message. */
int policyopts_build(const struct policyopts *p, const struct wsjwt_keyset *keys, struct wsjwt_policy **out);

/* The size of an HS algorithm's hash (32, 48, 64), 0 for the others: a secret
 * shorter than this is weak (RFC 7518 3.2). */
size_t alg_hmac_size(enum wsjwt_alg alg);

#endif
