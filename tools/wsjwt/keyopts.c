/* Key and policy options shared by the CLI's commands: see keyopts.h. */
#include "keyopts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* A secret or key file larger than this is a mistake (a JWKS of a few dozen
 * RSA keys is tens of kilobytes). */
#define KEY_FILE_CAP (1024 * 1024)

int opt_value(const char *cmd, int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return OPT_UNKNOWN;
    if (a[n] == '=') {
        *val = a + n + 1;
        *i += 1;
        return OPT_CONSUMED;
    }
    if (a[n] != '\0')
        return OPT_UNKNOWN;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: option %s needs a value\n", cmd, name);
        return OPT_ERROR;
    }
    *val = argv[*i + 1];
    *i += 2;
    return OPT_CONSUMED;
}

int opt_flag(const char *cmd, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return OPT_UNKNOWN;
    if (a[n] == '=') {
        fprintf(stderr, "%s: option %s takes no value\n", cmd, name);
        return OPT_ERROR;
    }
    if (a[n] != '\0')
        return OPT_UNKNOWN;
    *i += 1;
    return OPT_CONSUMED;
}

int opt_duration(const char *cmd, const char *option, const char *s, int64_t *out)
{
    if (wsjwt_duration_parse(s, strlen(s), out) != 0) {
        fprintf(stderr,
                "%s: %s: '%s' is not a duration (use seconds, or a number with s, m, h, d, w or y: "
                "90, 15m, 12h, 15d)\n",
                cmd, option, s);
        return -1;
    }
    return 0;
}

int opt_unix_time(const char *cmd, const char *option, const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        fprintf(stderr, "%s: %s: '%s' is not a Unix time in seconds\n", cmd, option, s);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

int opt_append(const char *cmd, const char *option, const char **arr, size_t *n, size_t cap, const char *v)
{
    if (*n == cap) {
        fprintf(stderr, "%s: %s: at most %zu values\n", cmd, option, cap);
        return OPT_ERROR;
    }
    arr[(*n)++] = v;
    return OPT_CONSUMED;
}

int read_file_capped(const char *cmd, const char *option, const char *path, size_t cap, char **out,
                     size_t *out_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s %s: %s\n", cmd, option, path, strerror(errno));
        return -1;
    }
    char *buf = malloc(cap + 1);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        if (f != stdin)
            fclose(f);
        return -1;
    }
    /* Read one byte past the cap to tell "exactly cap" from "more". */
    size_t len = 0;
    size_t got;
    while (len <= cap && (got = fread(buf + len, 1, cap + 1 - len, f)) > 0)
        len += got;
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad || len > cap) {
        fprintf(stderr, "%s: %s %s: %s\n", cmd, option, path, bad ? "read error" : "file too large");
        OPENSSL_cleanse(buf, len > cap ? cap + 1 : len);
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

/* ---- key options ---------------------------------------------------------- */

void keyopts_init(struct keyopts *o, const char *cmd)
{
    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
}

int keyopts_parse(struct keyopts *o, int argc, char **argv, int *i)
{
    const char *v = NULL;
    int r;
    if ((r = opt_value(o->cmd, argc, argv, i, "--secret-env", &v)) != OPT_UNKNOWN) {
        if (r == OPT_CONSUMED && *v == '\0') {
            fprintf(stderr, "%s: --secret-env needs a variable name\n", o->cmd);
            return OPT_ERROR;
        }
        o->secret_env = v;
        return r;
    }
    if ((r = opt_value(o->cmd, argc, argv, i, "--secret-file", &v)) != OPT_UNKNOWN) {
        o->secret_file = v;
        return r;
    }
    if ((r = opt_flag(o->cmd, argv, i, "--secret-base64")) != OPT_UNKNOWN) {
        o->secret_base64 = 1;
        return r;
    }
    if ((r = opt_value(o->cmd, argc, argv, i, "--secret", &v)) != OPT_UNKNOWN) {
        o->secret = v;
        return r;
    }
    if ((r = opt_value(o->cmd, argc, argv, i, "--key", &v)) != OPT_UNKNOWN)
        return r == OPT_CONSUMED
                   ? opt_append(o->cmd, "--key", o->key_files, &o->n_key_files, KEYOPTS_MAX_FILES, v)
                   : r;
    if ((r = opt_value(o->cmd, argc, argv, i, "--jwks", &v)) != OPT_UNKNOWN)
        return r == OPT_CONSUMED
                   ? opt_append(o->cmd, "--jwks", o->jwks_files, &o->n_jwks_files, KEYOPTS_MAX_FILES, v)
                   : r;
    return OPT_UNKNOWN;
}

void keyopts_help(FILE *out)
{
    fputs("key options (default: the secret in $JWT_SECRET):\n"
          "  --secret-env NAME   the HMAC secret is in environment variable NAME\n"
          "  --secret-file PATH  the HMAC secret is the content of PATH (one trailing newline is\n"
          "                      dropped; - reads stdin)\n"
          "  --secret S          the HMAC secret itself (visible to other users in ps: avoid)\n"
          "  --secret-base64     the secret is base64 or base64url-encoded bytes\n"
          "  --key FILE          a key: PEM (public, private, certificate), JWK (oct = HMAC secret)\n"
          "                      or JWKS, detected from the content; may repeat\n"
          "  --jwks FILE         a JWKS key set; may repeat\n",
          out);
}

/* Where the secret comes from: at most one of --secret-file, --secret, and
 * the environment (named, or JWT_SECRET when no other key is given). */
static int secret_source(const struct keyopts *o, const char **env)
{
    *env = NULL;
    int n = (o->secret_file != NULL) + (o->secret != NULL);
    if (n > 1 || (n == 1 && o->secret_env)) {
        fprintf(stderr, "%s: give the secret one way only (--secret-env, --secret-file or --secret)\n",
                o->cmd);
        return -1;
    }
    if (n == 0) {
        if (o->secret_env)
            *env = o->secret_env;
        else if (o->n_key_files == 0 && o->n_jwks_files == 0)
            *env = "JWT_SECRET";
    }
    return 0;
}

/* Loads the secret when one is configured: 1 with *buf (free after
 * OPENSSL_cleanse), 0 when none is configured, -1 with a message. */
static int load_secret(const struct keyopts *o, unsigned char **buf, size_t *len, struct keyinfo *info)
{
    const char *env;
    if (secret_source(o, &env) != 0)
        return -1;
    char *raw = NULL;
    size_t raw_len = 0;
    if (o->secret_file) {
        if (read_file_capped(o->cmd, "--secret-file", o->secret_file, KEY_FILE_CAP, &raw, &raw_len) != 0)
            return -1;
        /* `echo secret > file` adds a newline nobody means as key material. */
        if (raw_len > 0 && raw[raw_len - 1] == '\n') {
            raw[--raw_len] = '\0';
            if (raw_len > 0 && raw[raw_len - 1] == '\r')
                raw[--raw_len] = '\0';
        }
        info->source = "--secret-file";
    } else if (o->secret || env) {
        const char *s = o->secret;
        if (o->secret) {
            fprintf(stderr,
                    "%s: warning: --secret puts the secret on the command line, where other users see "
                    "it (ps, shell history); prefer --secret-env or --secret-file\n",
                    o->cmd);
            info->source = "--secret";
        } else {
            s = getenv(env);
            if (!s) {
                if (o->secret_env)
                    fprintf(stderr, "%s: --secret-env %s: the variable is not set\n", o->cmd, env);
                else
                    fprintf(stderr,
                            "%s: no key: set JWT_SECRET, or use --secret-env NAME, --secret-file PATH, "
                            "--key FILE or --jwks FILE\n",
                            o->cmd);
                return -1;
            }
            info->source = env;
        }
        raw_len = strlen(s);
        raw = malloc(raw_len + 1);
        if (!raw) {
            fprintf(stderr, "%s: out of memory\n", o->cmd);
            return -1;
        }
        memcpy(raw, s, raw_len + 1);
    } else {
        if (o->secret_base64) {
            fprintf(stderr, "%s: --secret-base64 given but no secret\n", o->cmd);
            return -1;
        }
        return 0;
    }
    if (raw_len == 0) {
        fprintf(stderr, "%s: the secret from %s is empty\n", o->cmd, info->source);
        free(raw);
        return -1;
    }
    if (o->secret_base64) {
        unsigned char *dec = NULL;
        size_t dec_len = 0;
        int rc = wsjwt_base64_decode(raw, raw_len, &dec, &dec_len);
        OPENSSL_cleanse(raw, raw_len);
        free(raw);
        if (rc != 0) {
            fprintf(stderr, "%s: --secret-base64: the secret from %s is not base64 or base64url (%s)\n",
                    o->cmd, info->source, wsjwt_strerror(rc));
            return -1;
        }
        /* Move into malloc'd memory so that one free path serves both. */
        raw = malloc(dec_len + 1);
        if (raw)
            memcpy(raw, dec, dec_len);
        OPENSSL_cleanse(dec, dec_len);
        wsjwt_free(dec);
        if (!raw) {
            fprintf(stderr, "%s: out of memory\n", o->cmd);
            return -1;
        }
        raw_len = dec_len;
        if (raw_len == 0) {
            fprintf(stderr, "%s: the secret from %s decodes to nothing\n", o->cmd, info->source);
            free(raw);
            return -1;
        }
    }
    *buf = (unsigned char *)raw;
    *len = raw_len;
    info->has_secret = 1;
    info->secret_len = raw_len;
    return 1;
}

static int secret_key(const struct keyopts *o, struct keyinfo *info, struct wsjwt_key **out, int *have)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int r = load_secret(o, &buf, &len, info);
    if (r < 0)
        return EXIT_USAGE;
    *have = r;
    if (r == 0)
        return 0;
    int rc = wsjwt_key_from_secret(buf, len, out);
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (rc != 0) {
        fprintf(stderr, "%s: the secret from %s: %s\n", o->cmd, info->source, wsjwt_strerror(rc));
        return EXIT_REFUSED;
    }
    return 0;
}

/* Reads a key file and parses it: into a new key set (PEM, JWK or JWKS)
 * when `set` is non-NULL, else as exactly one key (PEM or JWK) into *key. */
static int parse_file(const char *cmd, const char *option, const char *path, struct wsjwt_keyset **set,
                      struct wsjwt_key **key)
{
    char *data = NULL;
    size_t len = 0;
    if (read_file_capped(cmd, option, path, KEY_FILE_CAP, &data, &len) != 0)
        return EXIT_USAGE;
    int rc = set ? wsjwt_keyset_parse(data, len, set) : wsjwt_key_parse(data, len, key);
    OPENSSL_cleanse(data, len);
    free(data);
    if (rc != 0) {
        fprintf(stderr, "%s: %s %s: %s%s\n", cmd, option, path, wsjwt_strerror(rc),
                !set && rc == WSJWT_EJWT_KEY_FORMAT ? " (sign takes one key: a PEM or a JWK, not a JWKS)"
                                                    : "");
        return EXIT_REFUSED;
    }
    return 0;
}

int keyopts_keyset(const struct keyopts *o, struct wsjwt_keyset **out, struct keyinfo *info)
{
    memset(info, 0, sizeof(*info));
    *out = NULL;
    const char *env;
    if (secret_source(o, &env) != 0)
        return EXIT_USAGE;
    size_t n_files = o->n_key_files + o->n_jwks_files;
    int secret_too = o->secret_file || o->secret || env;
    info->has_key_files = n_files > 0;
    /* One file and nothing else: the library reads any of PEM, JWK, JWKS. */
    if (n_files == 1 && !secret_too) {
        int jwks = o->n_jwks_files == 1;
        const char *path = jwks ? o->jwks_files[0] : o->key_files[0];
        info->source = path;
        return parse_file(o->cmd, jwks ? "--jwks" : "--key", path, out, NULL);
    }
    /* Several sources: each file is parsed as a set of its own, and its keys
     * are copied into one set through their JWK form (the library has no
     * call that merges sets, and keys are owned by their set). The JWK keeps
     * kid, alg and, for an oct key, the secret; private halves are dropped,
     * which verification does not need. */
    struct wsjwt_keyset *set = NULL;
    if (wsjwt_keyset_new(&set) != 0) {
        fprintf(stderr, "%s: out of memory\n", o->cmd);
        return EXIT_REFUSED;
    }
    struct wsjwt_key *key = NULL;
    int have = 0;
    int rc = secret_key(o, info, &key, &have);
    if (rc == 0 && have && (rc = wsjwt_keyset_add(set, key)) != 0) {
        fprintf(stderr, "%s: %s\n", o->cmd, wsjwt_strerror(rc));
        rc = EXIT_REFUSED;
    }
    for (size_t k = 0; rc == 0 && k < n_files; k++) {
        int jwks = k >= o->n_key_files;
        const char *path = jwks ? o->jwks_files[k - o->n_key_files] : o->key_files[k];
        struct wsjwt_keyset *one = NULL;
        if ((rc = parse_file(o->cmd, jwks ? "--jwks" : "--key", path, &one, NULL)) != 0)
            break;
        for (size_t j = 0; rc == 0 && j < wsjwt_keyset_count(one); j++) {
            char *jwk = NULL;
            size_t len = 0;
            int err = wsjwt_key_public_jwk(wsjwt_keyset_get(one, j), &jwk, &len);
            if (err == 0 && (err = wsjwt_key_parse(jwk, len, &key)) == 0)
                err = wsjwt_keyset_add(set, key);
            if (jwk)
                OPENSSL_cleanse(jwk, len);
            wsjwt_free(jwk);
            if (err != 0) {
                fprintf(stderr, "%s: %s: key %zu: %s\n", o->cmd, path, j + 1, wsjwt_strerror(err));
                rc = EXIT_REFUSED;
            }
        }
        wsjwt_keyset_unref(one);
    }
    if (rc != 0) {
        wsjwt_keyset_unref(set);
        return rc;
    }
    *out = set;
    return 0;
}

int keyopts_sign_key(const struct keyopts *o, struct wsjwt_key **out, struct keyinfo *info)
{
    memset(info, 0, sizeof(*info));
    *out = NULL;
    if (o->n_jwks_files > 0) {
        fprintf(stderr, "%s: --jwks is for verification; sign with --key FILE (one private key)\n", o->cmd);
        return EXIT_USAGE;
    }
    if (o->n_key_files > 1) {
        fprintf(stderr, "%s: --key: sign takes one key\n", o->cmd);
        return EXIT_USAGE;
    }
    int have = 0;
    int rc = secret_key(o, info, out, &have);
    if (rc != 0)
        return rc;
    if (have && o->n_key_files == 1) {
        wsjwt_key_free(*out);
        *out = NULL;
        fprintf(stderr, "%s: give either a secret or --key, not both\n", o->cmd);
        return EXIT_USAGE;
    }
    if (have)
        return 0;
    if ((rc = parse_file(o->cmd, "--key", o->key_files[0], NULL, out)) != 0)
        return rc;
    if (!wsjwt_key_has_private(*out)) {
        fprintf(stderr, "%s: --key %s: a public key cannot sign; give the private key\n", o->cmd,
                o->key_files[0]);
        wsjwt_key_free(*out);
        *out = NULL;
        return EXIT_USAGE;
    }
    info->has_key_files = 1;
    info->source = o->key_files[0];
    return 0;
}

/* ---- policy options ------------------------------------------------------- */

void policyopts_init(struct policyopts *p, const char *cmd)
{
    memset(p, 0, sizeof(*p));
    p->cmd = cmd;
}

/* --alg takes a comma-separated list and may repeat; duplicates collapse. */
static int add_algs(struct policyopts *p, const char *list)
{
    const char *s = list;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        enum wsjwt_alg alg;
        if (n == 0 || wsjwt_alg_from_name(s, n, &alg) != 0) {
            if (n == 4 && strncmp(s, "none", 4) == 0)
                fprintf(stderr, "%s: --alg: 'none' is never accepted (unsigned tokens prove nothing)\n",
                        p->cmd);
            else
                fprintf(stderr,
                        "%s: --alg: unknown algorithm '%.*s' (HS256, HS384, HS512, RS256, RS384, RS512, "
                        "PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; names are case-sensitive)\n",
                        p->cmd, (int)n, s);
            return OPT_ERROR;
        }
        size_t k = 0;
        while (k < p->n_algs && p->algs[k] != alg)
            k++;
        if (k == p->n_algs)
            p->algs[p->n_algs++] = alg;
        if (!comma)
            return OPT_CONSUMED;
        s = comma + 1;
    }
}

int policyopts_parse(struct policyopts *p, int argc, char **argv, int *i)
{
    const char *v = NULL;
    int r;
    if ((r = opt_value(p->cmd, argc, argv, i, "--alg", &v)) != OPT_UNKNOWN)
        return r == OPT_CONSUMED ? add_algs(p, v) : r;
    if ((r = opt_value(p->cmd, argc, argv, i, "--iss", &v)) != OPT_UNKNOWN)
        return r == OPT_CONSUMED ? opt_append(p->cmd, "--iss", p->issuers, &p->n_issuers, POLICYOPTS_MAX, v)
                                 : r;
    if ((r = opt_value(p->cmd, argc, argv, i, "--aud", &v)) != OPT_UNKNOWN)
        return r == OPT_CONSUMED
                   ? opt_append(p->cmd, "--aud", p->audiences, &p->n_audiences, POLICYOPTS_MAX, v)
                   : r;
    if ((r = opt_value(p->cmd, argc, argv, i, "--require", &v)) != OPT_UNKNOWN) {
        if (r == OPT_CONSUMED && *v == '\0') {
            fprintf(stderr, "%s: --require needs a claim name\n", p->cmd);
            return OPT_ERROR;
        }
        return r == OPT_CONSUMED
                   ? opt_append(p->cmd, "--require", p->required, &p->n_required, POLICYOPTS_MAX, v)
                   : r;
    }
    if ((r = opt_value(p->cmd, argc, argv, i, "--sub", &v)) != OPT_UNKNOWN) {
        p->subject = v;
        return r;
    }
    if ((r = opt_value(p->cmd, argc, argv, i, "--typ", &v)) != OPT_UNKNOWN) {
        p->typ = v;
        return r;
    }
    if ((r = opt_value(p->cmd, argc, argv, i, "--leeway", &v)) != OPT_UNKNOWN) {
        if (r == OPT_CONSUMED && opt_duration(p->cmd, "--leeway", v, &p->leeway) != 0)
            return OPT_ERROR;
        return r;
    }
    if ((r = opt_value(p->cmd, argc, argv, i, "--max-age", &v)) != OPT_UNKNOWN) {
        if (r == OPT_CONSUMED && opt_duration(p->cmd, "--max-age", v, &p->max_age) != 0)
            return OPT_ERROR;
        if (r == OPT_CONSUMED && p->max_age == 0) {
            fprintf(stderr, "%s: --max-age must be more than 0\n", p->cmd);
            return OPT_ERROR;
        }
        return r;
    }
    return OPT_UNKNOWN;
}

void policyopts_help(FILE *out)
{
    fputs("policy options:\n"
          "  --alg LIST          allowed algorithms, comma-separated, may repeat (default: those of\n"
          "                      the keys: HS256,HS384,HS512 for a secret)\n"
          "  --iss ISS           iss must equal ISS (repeat to allow several)\n"
          "  --aud AUD           aud (string or array) must contain AUD (repeat: any of them)\n"
          "  --sub SUB           sub must equal SUB\n"
          "  --typ TYP           header typ must equal TYP (case-insensitive)\n"
          "  --require CLAIM     CLAIM must be present (repeatable; --require exp refuses tokens\n"
          "                      that never expire)\n"
          "  --leeway DUR        clock skew tolerated for exp, nbf and iat (default 0)\n"
          "  --max-age DUR       iat is required and the token must be younger than DUR\n",
          out);
}

size_t alg_hmac_size(enum wsjwt_alg alg)
{
    switch (alg) {
    case WSJWT_ALG_HS256:
        return 32;
    case WSJWT_ALG_HS384:
        return 48;
    case WSJWT_ALG_HS512:
        return 64;
    default:
        return 0;
    }
}

int policyopts_build(const struct policyopts *p, const struct wsjwt_keyset *keys, struct wsjwt_policy **out)
{
    enum wsjwt_alg algs[WSJWT_ALG_COUNT];
    size_t n = 0;
    if (p->n_algs > 0) {
        memcpy(algs, p->algs, p->n_algs * sizeof(algs[0]));
        n = p->n_algs;
    } else {
        /* Every algorithm some key fits; the library still binds each key to
         * its own type, so a public key never serves an HS token. */
        for (int a = WSJWT_ALG_UNKNOWN + 1; a < WSJWT_ALG_COUNT; a++) {
            int fits = 0;
            for (size_t k = 0; !fits && k < wsjwt_keyset_count(keys); k++)
                fits = wsjwt_key_fits(wsjwt_keyset_get(keys, k), (enum wsjwt_alg)a);
            if (fits)
                algs[n++] = (enum wsjwt_alg)a;
        }
        if (n == 0) {
            fprintf(stderr, "%s: no algorithm fits the given keys\n", p->cmd);
            return EXIT_USAGE;
        }
    }
    int require_exp = 0;
    for (size_t k = 0; k < p->n_required; k++)
        if (strcmp(p->required[k], "exp") == 0)
            require_exp = 1;
    struct wsjwt_policy_opts po = {
        .algs = algs,
        .n_algs = n,
        .leeway = p->leeway,
        .require_exp = require_exp,
        .max_age = p->max_age,
        .issuers = p->issuers,
        .n_issuers = p->n_issuers,
        .audiences = p->audiences,
        .n_audiences = p->n_audiences,
        .subject = p->subject,
        .required = p->required,
        .n_required = p->n_required,
        .typ = p->typ,
    };
    int rc = wsjwt_policy_new(&po, out);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot build the verification policy: %s\n", p->cmd, wsjwt_strerror(rc));
        return rc == WSJWT_ENOMEM ? EXIT_REFUSED : EXIT_USAGE;
    }
    return 0;
}
