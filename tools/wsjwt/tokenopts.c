/* Token options for connect and bench (see tokenopts.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "tokenopts.h"

/* A JWT in a header or a file: 64 KiB is far past any token a server takes. */
#define TOKEN_FILE_CAP (64u * 1024u)
/* A token minted by --sign lives this long unless --expires says otherwise:
 * long enough for a session or a benchmark, short enough not to matter if it
 * leaks from a terminal's scrollback. */
#define SIGN_DEFAULT_EXPIRES 3600

void tokenopts_init(struct tokenopts *o, const char *cmd)
{
    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
    keyopts_init(&o->keys, cmd);
    o->place = WSJWT_TOKEN_IN_HEADER;
}

void tokenopts_help(FILE *out)
{
    fputs("token (at most one source):\n"
          "  --token T           the token (shows in ps: prefer the next two)\n"
          "  --token-env NAME    read it from the environment variable NAME\n"
          "  --token-file PATH   read it from a file (surrounding whitespace ignored)\n"
          "  --sign              sign one now with the key options below (HS256 from\n"
          "                      $JWT_SECRET by default); claims: --sub S, --claim K=V\n"
          "                      (V as JSON when it parses), --expires DUR (default 1h),\n"
          "                      --alg ALG, --kid K, --allow-weak-key\n"
          "where it goes:\n"
          "  --token-header NAME header NAME: token (default: a `token` header)\n"
          "  --bearer            Authorization: Bearer <token>\n"
          "  --subprotocol       Sec-WebSocket-Protocol: access_token, <token> (as browsers)\n"
          "  --query NAME        ?NAME=<token> in the URL\n",
          out);
    keyopts_help(out);
}

int tokenopts_parse(struct tokenopts *o, int argc, char **argv, int *i)
{
    const char *v = NULL;
    int r;
    if ((r = keyopts_parse(&o->keys, argc, argv, i)) != OPT_UNKNOWN) {
        if (r == OPT_CONSUMED)
            o->sign = o->sign ? o->sign : 2; /* key options imply --sign unless a token is given */
        return r;
    }
#define VALUE(name, field)                                                                                   \
    if ((r = opt_value(o->cmd, argc, argv, i, name, &v)) != OPT_UNKNOWN) {                                   \
        if (r == OPT_CONSUMED)                                                                               \
            o->field = v;                                                                                    \
        return r;                                                                                            \
    }
    VALUE("--token", token)
    VALUE("--token-env", token_env)
    VALUE("--token-file", token_file)
    VALUE("--sub", sub)
    VALUE("--alg", alg)
    VALUE("--kid", kid)
    VALUE("--expires", expires)
#undef VALUE
    if ((r = opt_value(o->cmd, argc, argv, i, "--claim", &v)) != OPT_UNKNOWN) {
        if (r == OPT_ERROR)
            return r;
        return opt_append(o->cmd, "--claim", o->claims, &o->n_claims, TOKENOPTS_MAX_CLAIMS, v) == OPT_CONSUMED
                   ? OPT_CONSUMED
                   : OPT_ERROR;
    }
    if ((r = opt_value(o->cmd, argc, argv, i, "--token-header", &v)) != OPT_UNKNOWN) {
        o->place = WSJWT_TOKEN_IN_HEADER;
        o->name = v;
        return r;
    }
    if ((r = opt_value(o->cmd, argc, argv, i, "--query", &v)) != OPT_UNKNOWN) {
        o->place = WSJWT_TOKEN_IN_QUERY;
        o->name = v;
        return r;
    }
    if ((r = opt_flag(o->cmd, argv, i, "--bearer")) != OPT_UNKNOWN) {
        o->place = WSJWT_TOKEN_IN_BEARER;
        return r;
    }
    if ((r = opt_flag(o->cmd, argv, i, "--subprotocol")) != OPT_UNKNOWN) {
        o->place = WSJWT_TOKEN_IN_SUBPROTOCOL;
        return r;
    }
    if ((r = opt_flag(o->cmd, argv, i, "--sign")) != OPT_UNKNOWN) {
        o->sign = 1;
        return r;
    }
    if ((r = opt_flag(o->cmd, argv, i, "--allow-weak-key")) != OPT_UNKNOWN) {
        o->allow_weak = 1;
        return r;
    }
    return OPT_UNKNOWN;
}

/* Trims ASCII whitespace at both ends, in place (a file usually ends in \n). */
static char *trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    size_t lead = strspn(s, " \t\r\n");
    memmove(s, s + lead, n - lead + 1);
    return s;
}

static int build_payload(struct tokenopts *o)
{
    json_t *obj = json_object();
    if (!obj)
        return EXIT_REFUSED;
    for (size_t k = 0; k < o->n_claims; k++) {
        const char *eq = strchr(o->claims[k], '=');
        if (!eq || eq == o->claims[k]) {
            fprintf(stderr, "%s: --claim '%s': expected NAME=VALUE\n", o->cmd, o->claims[k]);
            json_decref(obj);
            return EXIT_USAGE;
        }
        char name[128];
        size_t nl = (size_t)(eq - o->claims[k]);
        if (nl >= sizeof(name)) {
            fprintf(stderr, "%s: --claim: name too long\n", o->cmd);
            json_decref(obj);
            return EXIT_USAGE;
        }
        memcpy(name, o->claims[k], nl);
        name[nl] = '\0';
        json_error_t e;
        json_t *val = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
        if (!val)
            val = json_string(eq + 1);
        json_object_set_new(obj, name, val);
    }
    if (o->sub)
        json_object_set_new(obj, "sub", json_string(o->sub));
    o->payload = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return o->payload ? 0 : EXIT_REFUSED;
}

int tokenopts_prepare(struct tokenopts *o)
{
    int sources = !!o->token + !!o->token_env + !!o->token_file;
    if (sources > 1 || (sources && o->sign == 1)) {
        fprintf(stderr, "%s: give one token source (--token, --token-env, --token-file or --sign)\n", o->cmd);
        return EXIT_USAGE;
    }
    if (sources) {
        o->sign = 0;
        if (o->token) {
            o->fixed = strdup(o->token);
        } else if (o->token_env) {
            const char *e = getenv(o->token_env);
            if (!e || !*e) {
                fprintf(stderr, "%s: --token-env: $%s is not set\n", o->cmd, o->token_env);
                return EXIT_USAGE;
            }
            o->fixed = strdup(e);
        } else {
            size_t len = 0;
            if (read_file_capped(o->cmd, "--token-file", o->token_file, TOKEN_FILE_CAP, &o->fixed, &len) != 0)
                return EXIT_USAGE;
        }
        if (!o->fixed)
            return EXIT_REFUSED;
        trim(o->fixed);
        if (!*o->fixed) {
            fprintf(stderr, "%s: the token is empty\n", o->cmd);
            return EXIT_USAGE;
        }
        return 0;
    }
    if (!o->sign)
        return 0;
    memset(&o->so, 0, sizeof(o->so));
    o->so.alg = WSJWT_ALG_HS256;
    if (o->alg && wsjwt_alg_from_name(o->alg, strlen(o->alg), &o->so.alg) != 0) {
        fprintf(stderr, "%s: --alg: unknown algorithm '%s'\n", o->cmd, o->alg);
        return EXIT_USAGE;
    }
    o->so.has_expires_in = 1;
    o->so.expires_in = SIGN_DEFAULT_EXPIRES;
    if (o->expires && opt_duration(o->cmd, "--expires", o->expires, &o->so.expires_in) != 0)
        return EXIT_USAGE;
    o->so.kid = o->kid;
    o->so.allow_weak_key = o->allow_weak;
    int rc = build_payload(o);
    if (rc)
        return rc;
    o->so.payload_json = o->payload;
    struct keyinfo info;
    rc = keyopts_sign_key(&o->keys, &o->key, &info);
    if (rc)
        return rc;
    /* Sign one now so that a bad key is reported before connecting. */
    char *t = NULL;
    int owned = 0;
    rc = tokenopts_token(o, &t, &owned);
    tokenopts_free_token(t, owned);
    return rc;
}

int tokenopts_has_token(const struct tokenopts *o)
{
    return o->fixed != NULL || o->key != NULL;
}

int tokenopts_token(struct tokenopts *o, char **token, int *owned)
{
    *token = NULL;
    *owned = 0;
    if (o->fixed) {
        *token = o->fixed;
        return 0;
    }
    if (!o->key)
        return 0;
    o->so.now = (int64_t)time(NULL);
    size_t len = 0;
    int err = wsjwt_jwt_sign(o->key, &o->so, token, &len);
    if (err) {
        fprintf(stderr, "%s: --sign: %s (%s)\n", o->cmd, wsjwt_strerror(err), wsjwt_alg_name(o->so.alg));
        return EXIT_REFUSED;
    }
    *owned = 1;
    return 0;
}

void tokenopts_free_token(char *token, int owned)
{
    if (token && owned) {
        OPENSSL_cleanse(token, strlen(token));
        wsjwt_free(token);
    }
}

void tokenopts_release(struct tokenopts *o)
{
    if (o->fixed) {
        OPENSSL_cleanse(o->fixed, strlen(o->fixed));
        free(o->fixed);
    }
    free(o->payload);
    wsjwt_key_free(o->key);
    o->fixed = NULL;
    o->payload = NULL;
    o->key = NULL;
}
