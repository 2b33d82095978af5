/* wsjwt sign: makes a compact JWS from claims given as options. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cmd.h"
#include "keyopts.h"

#define CMD "wsjwt sign"

/* 365.25 days, as jsonwebtoken's "1y" (via the ms package). */
#define ONE_YEAR ((int64_t)31557600)

/* Bounds on repeated options: far beyond any real token. */
#define MAX_CLAIMS 256
#define MAX_AUDS   64

static void help(FILE *out)
{
    fputs("usage: wsjwt sign [OPTIONS]\n"
          "Signs a JWT and prints it on stdout.\n\n"
          "claims:\n"
          "  --payload JSON      start from this JSON object (default {})\n"
          "  --claim K=V         set claim K; V is taken as JSON when it parses (42, true,\n"
          "                      [\"a\"], {\"x\":1}, \"quoted\"), else as a string; repeatable\n"
          "  --sub S, --iss I    set sub, iss\n"
          "  --aud A             set aud; repeat for an array\n"
          "  --expires DUR       exp = iat + DUR (90, 90s, 15m, 12h, 15d, 2w, 1y; a bare number\n"
          "                      is seconds, as jsonwebtoken's expiresIn)\n"
          "  --not-before DUR    nbf = iat + DUR\n"
          "  --no-iat            do not add iat\n"
          "  --now UNIX          sign as if the time were UNIX (seconds; default: the clock)\n\n"
          "header:\n"
          "  --alg ALG           HS256 (default for a secret), HS384, HS512; with --key:\n"
          "                      RS256..512, PS256..512, ES256, ES384, ES512, EdDSA (default:\n"
          "                      the key's JWK alg, else RS256, the curve's ES*, or EdDSA)\n"
          "  --kid K             header kid\n"
          "  --allow-weak-key    sign even with a secret shorter than the hash (RFC 7518 3.2)\n\n",
          out);
    keyopts_help(out);
    fputs("\nexit status: 0 signed, 1 failed, 2 usage error\n", out);
}

/* Prints "a b" for a duration in seconds, with the largest fitting unit. */
static void human(char *buf, size_t cap, int64_t s)
{
    if (s >= ONE_YEAR)
        snprintf(buf, cap, "%.1f years", (double)s / (double)ONE_YEAR);
    else if (s >= 86400)
        snprintf(buf, cap, "%.1f days", (double)s / 86400.0);
    else if (s >= 3600)
        snprintf(buf, cap, "%.1f hours", (double)s / 3600.0);
    else if (s >= 60)
        snprintf(buf, cap, "%.1f minutes", (double)s / 60.0);
    else
        snprintf(buf, cap, "%lld seconds", (long long)s);
}

/* A lifetime over a year is almost always a units slip: the tutorial this
 * pattern comes from writes expiresIn: 15*24*60*60*1000 for "15 days", which
 * jsonwebtoken reads as seconds: 41 years. Sign anyway, but say so. */
static void warn_long(const char *option, const char *given, int64_t s)
{
    char life[48];
    char meant[48];
    human(life, sizeof(life), s);
    human(meant, sizeof(meant), s / 1000);
    fprintf(stderr,
            CMD ": warning: %s %s is %s. Durations are in seconds (as jsonwebtoken's expiresIn); "
                "if this was milliseconds (15*24*60*60*1000 for 15 days), you meant %s: write %lld or "
                "use units (15d)\n",
            option, given, life, meant, (long long)(s / 1000));
}

/* Without --alg: HS256 for a secret; for a key pair, the key's own alg (JWK
 * "alg") or the first algorithm its type fits (RS256 for RSA, the curve's
 * ES* for EC, EdDSA for Ed25519). */
static enum wsjwt_alg default_alg(const struct wsjwt_key *key)
{
    static const enum wsjwt_alg order[] = {WSJWT_ALG_HS256, WSJWT_ALG_RS256, WSJWT_ALG_ES256,
                                           WSJWT_ALG_ES384, WSJWT_ALG_ES512, WSJWT_ALG_EDDSA};
    enum wsjwt_alg own = wsjwt_key_alg(key);
    if (own != WSJWT_ALG_UNKNOWN)
        return own;
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++)
        if (wsjwt_key_fits(key, order[k]))
            return order[k];
    return WSJWT_ALG_HS256;
}

/* V is JSON when it parses as any JSON value, else a string. */
static json_t *claim_value(const char *v)
{
    json_error_t e;
    json_t *j = json_loads(v, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    return j ? j : json_string(v);
}

/* Sets one claim; jansson refuses names and strings that are not UTF-8
 * (json_string gives NULL, json_object_set_new fails): a usage error that
 * names the option, never a claim silently dropped. Takes `v`. */
static int set_claim(json_t *p, const char *option, const char *name, json_t *v)
{
    if (!v || json_object_set_new(p, name, v) != 0) {
        fprintf(stderr, CMD ": %s: the claim name and value must be valid UTF-8\n", option);
        return EXIT_USAGE;
    }
    return 0;
}

struct sign_args {
    const char *payload;
    const char *claims[MAX_CLAIMS];
    size_t n_claims;
    const char *sub, *iss;
    const char *auds[MAX_AUDS];
    size_t n_auds;
    const char *expires, *not_before, *kid, *alg;
    int no_iat, allow_weak, has_now;
    int64_t now;
};

static int parse_args(int argc, char **argv, struct sign_args *a, struct keyopts *ko)
{
    int i = 1;
    while (i < argc) {
        const char *v = NULL;
        int r;
        if ((r = keyopts_parse(ko, argc, argv, &i)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return -1;
        }
#define VALUE(name, field)                                                                                   \
    if ((r = opt_value(CMD, argc, argv, &i, name, &v)) != OPT_UNKNOWN) {                                     \
        if (r == OPT_ERROR)                                                                                  \
            return EXIT_USAGE;                                                                               \
        field = v;                                                                                           \
        continue;                                                                                            \
    }
        VALUE("--payload", a->payload)
        VALUE("--sub", a->sub)
        VALUE("--iss", a->iss)
        VALUE("--expires", a->expires)
        VALUE("--not-before", a->not_before)
        VALUE("--kid", a->kid)
        VALUE("--alg", a->alg)
#undef VALUE
        if ((r = opt_value(CMD, argc, argv, &i, "--claim", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR ||
                opt_append(CMD, "--claim", a->claims, &a->n_claims, MAX_CLAIMS, v) != OPT_CONSUMED)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--aud", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR || opt_append(CMD, "--aud", a->auds, &a->n_auds, MAX_AUDS, v) != OPT_CONSUMED)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--now", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR || opt_unix_time(CMD, "--now", v, &a->now) != 0)
                return EXIT_USAGE;
            a->has_now = 1;
            continue;
        }
        if ((r = opt_flag(CMD, argv, &i, "--no-iat")) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            a->no_iat = 1;
            continue;
        }
        if ((r = opt_flag(CMD, argv, &i, "--allow-weak-key")) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            a->allow_weak = 1;
            continue;
        }
        if (argv[i][0] == '-')
            fprintf(stderr, CMD ": unknown option '%s' (see wsjwt sign --help)\n", argv[i]);
        else
            fprintf(stderr, CMD ": unexpected argument '%s' (claims go in --claim K=V)\n", argv[i]);
        return EXIT_USAGE;
    }
    return 0;
}

/* Builds the payload JSON text from --payload, --claim, --sub, --iss, --aud.
 * 0, or EXIT_USAGE with a message. */
static int build_payload(const struct sign_args *a, char **out)
{
    json_t *p;
    if (a->payload) {
        json_error_t e;
        p = json_loads(a->payload, JSON_REJECT_DUPLICATES, &e);
        if (!p) {
            fprintf(stderr, CMD ": --payload: not valid JSON: %s (column %d)\n", e.text, e.column);
            return EXIT_USAGE;
        }
        if (!json_is_object(p)) {
            fprintf(stderr, CMD ": --payload: must be a JSON object\n");
            json_decref(p);
            return EXIT_USAGE;
        }
    } else {
        p = json_object();
    }
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < a->n_claims; k++) {
        const char *c = a->claims[k];
        const char *eq = strchr(c, '=');
        if (!eq || eq == c) {
            fprintf(stderr, CMD ": --claim '%s': expected NAME=VALUE\n", c);
            rc = EXIT_USAGE;
            break;
        }
        char name[256];
        size_t n = (size_t)(eq - c);
        if (n >= sizeof(name)) {
            fprintf(stderr, CMD ": --claim: name too long\n");
            rc = EXIT_USAGE;
            break;
        }
        memcpy(name, c, n);
        name[n] = '\0';
        rc = set_claim(p, "--claim", name, claim_value(eq + 1));
    }
    if (rc == 0 && a->sub)
        rc = set_claim(p, "--sub", "sub", json_string(a->sub));
    if (rc == 0 && a->iss)
        rc = set_claim(p, "--iss", "iss", json_string(a->iss));
    if (rc == 0 && a->n_auds == 1)
        rc = set_claim(p, "--aud", "aud", json_string(a->auds[0]));
    if (rc == 0 && a->n_auds > 1) {
        json_t *arr = json_array();
        for (size_t k = 0; arr && k < a->n_auds; k++)
            if (json_array_append_new(arr, json_string(a->auds[k])) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        rc = set_claim(p, "--aud", "aud", arr);
    }
    if (rc == 0) {
        *out = json_dumps(p, JSON_COMPACT);
        if (!*out) {
            fprintf(stderr, CMD ": cannot encode the payload (invalid UTF-8 in a value?)\n");
            rc = EXIT_USAGE;
        }
    }
    json_decref(p);
    return rc;
}

int cmd_sign(int argc, char **argv)
{
    struct sign_args a;
    struct keyopts ko;
    memset(&a, 0, sizeof(a));
    keyopts_init(&ko, CMD);
    int rc = parse_args(argc, argv, &a, &ko);
    if (rc != 0)
        return rc < 0 ? 0 : rc;

    struct wsjwt_sign_opts so;
    memset(&so, 0, sizeof(so));
    so.alg = WSJWT_ALG_HS256;
    if (a.alg && wsjwt_alg_from_name(a.alg, strlen(a.alg), &so.alg) != 0) {
        fprintf(stderr, CMD ": --alg: unknown algorithm '%s'%s\n", a.alg,
                strcmp(a.alg, "none") == 0 ? " (unsigned tokens are not made here)" : "");
        return EXIT_USAGE;
    }
    if (a.expires) {
        if (opt_duration(CMD, "--expires", a.expires, &so.expires_in) != 0)
            return EXIT_USAGE;
        so.has_expires_in = 1;
    }
    if (a.not_before) {
        if (opt_duration(CMD, "--not-before", a.not_before, &so.not_before) != 0)
            return EXIT_USAGE;
        so.has_not_before = 1;
    }
    so.now = a.has_now ? a.now : (int64_t)time(NULL);
    so.no_iat = a.no_iat;
    so.kid = a.kid;
    so.allow_weak_key = a.allow_weak;

    char *payload = NULL;
    if ((rc = build_payload(&a, &payload)) != 0)
        return rc;
    so.payload_json = payload;

    struct wsjwt_key *key = NULL;
    struct keyinfo info;
    if ((rc = keyopts_sign_key(&ko, &key, &info)) != 0) {
        free(payload);
        return rc;
    }
    if (!a.alg)
        so.alg = default_alg(key);
    if (so.has_expires_in && so.expires_in > ONE_YEAR)
        warn_long("--expires", a.expires, so.expires_in);
    if (so.has_not_before && so.not_before > ONE_YEAR)
        warn_long("--not-before", a.not_before, so.not_before);

    char *token = NULL;
    size_t len = 0;
    int err = wsjwt_jwt_sign(key, &so, &token, &len);
    wsjwt_key_free(key);
    free(payload);
    if (err == WSJWT_EJWT_WEAK_KEY && info.has_secret) {
        fprintf(stderr,
                CMD ": refused: the secret from %s is %zu bytes; %s needs at least %zu (its hash size, "
                    "RFC 7518 3.2). Make one with `wsjwt keygen --alg %s`, or pass --allow-weak-key to "
                    "sign anyway\n",
                info.source, info.secret_len, wsjwt_alg_name(so.alg), alg_hmac_size(so.alg),
                wsjwt_alg_name(so.alg));
        return EXIT_REFUSED;
    }
    if (err != 0) {
        fprintf(stderr, CMD ": %s (%s, key from %s)\n", wsjwt_strerror(err), wsjwt_alg_name(so.alg),
                info.source ? info.source : "?");
        return EXIT_REFUSED;
    }
    fwrite(token, 1, len, stdout);
    fputc('\n', stdout);
    wsjwt_free(token);
    return fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
}
