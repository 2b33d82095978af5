/* libFuzzer target: compact JWS parse + verify under a permissive policy with
 * an HMAC secret and EC, Ed25519 public keys; and sign -> verify round trips
 * of fuzzed payloads (what we sign, we must verify). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wsjwt/jwt.h>

static struct wsjwt_policy *policy;
static struct wsjwt_keyset *keys;
static struct wsjwt_key *secret;

static const char ec_jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec\","
                             "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                             "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
static const char ed_jwk[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\","
                             "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";

static void init(void)
{
    static const char *const iss[] = {"joe", "https://issuer.example"};
    static const char *const aud[] = {"api"};
    enum wsjwt_alg all[WSJWT_ALG_COUNT - 1];
    struct wsjwt_key *k;
    for (int i = 1; i < WSJWT_ALG_COUNT; i++)
        all[i - 1] = (enum wsjwt_alg)i;
    struct wsjwt_policy_opts o = {.algs = all,
                                  .n_algs = WSJWT_ALG_COUNT - 1,
                                  .leeway = 60,
                                  .max_age = 1000000000,
                                  .issuers = iss,
                                  .n_issuers = 2,
                                  .audiences = aud,
                                  .n_audiences = 1,
                                  .typ = "JWT"};
    if (wsjwt_policy_new(&o, &policy) || wsjwt_keyset_new(&keys) ||
        wsjwt_key_from_secret("0123456789abcdef0123456789abcdef", 32, &secret))
        abort();
    if (wsjwt_key_parse(ec_jwk, strlen(ec_jwk), &k) || wsjwt_keyset_add(keys, k))
        abort();
    if (wsjwt_key_parse(ed_jwk, strlen(ed_jwk), &k) || wsjwt_keyset_add(keys, k))
        abort();
    if (wsjwt_key_from_secret("0123456789abcdef0123456789abcdef", 32, &k) || wsjwt_keyset_add(keys, k))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsjwt_jwt *jwt = NULL;
    struct wsjwt_jwt_error err;
    const char *s;
    int64_t v;
    int b;
    if (!policy)
        init();
    int rc = wsjwt_jwt_verify(policy, keys, (const char *)data, size, 1300819379, &jwt, &err);
    if ((rc == 0) != (jwt != NULL) || (rc != 0 && err.code != rc))
        abort();
    /* only JWT refusals (or resource failures) come back for any input */
    if (rc != 0 && !(rc <= WSJWT_EJWT_MALFORMED && rc >= WSJWT_EJWT_NOT_OBJECT) && rc != WSJWT_ENOMEM &&
        rc != WSJWT_ECRYPTO)
        abort();
    if (rc == WSJWT_EJWT_KEY_FORMAT || rc == WSJWT_EJWT_EMPTY_KEY)
        abort();
    if (jwt) {
        (void)wsjwt_jwt_claim_string(jwt, "sub", &s);
        (void)wsjwt_jwt_claim_int(jwt, "exp", &v);
        (void)wsjwt_jwt_claim_bool(jwt, "admin", &b);
        (void)wsjwt_jwt_header_string(jwt, "kid", &s);
        (void)wsjwt_jwt_claim_contains(jwt, "aud", "api");
        (void)wsjwt_jwt_claim_contains(jwt, "scope", "x");
        size_t n;
        if (wsjwt_jwt_claim_json(jwt, "iss", &s, &n) == 0 && n == 0)
            abort();
        if (strlen(wsjwt_jwt_payload_json(jwt)) == 0)
            abort();
        wsjwt_jwt_free(jwt);
    }
    /* What we sign from a payload we accept, we verify. */
    if (size > 0 && data[0] == '{' && size < 4096) {
        char *payload = malloc(size + 1), *tok = NULL;
        size_t n;
        memcpy(payload, data, size);
        payload[size] = '\0';
        struct wsjwt_sign_opts so = {
            .alg = WSJWT_ALG_HS256, .payload_json = payload, .now = 1300819379, .no_iat = 1};
        if (wsjwt_jwt_sign(secret, &so, &tok, &n) == 0) {
            rc = wsjwt_jwt_verify(policy, keys, tok, n, 1300819379, &jwt, &err);
            if (rc == WSJWT_EJWT_SIGNATURE || rc == WSJWT_EJWT_JSON || rc == WSJWT_EJWT_ENCODING ||
                rc == WSJWT_EJWT_MALFORMED || rc == WSJWT_EJWT_DUPLICATE || rc == WSJWT_EJWT_NOT_OBJECT)
                abort();
            wsjwt_jwt_free(jwt);
            wsjwt_free(tok);
        }
        free(payload);
    }
    return 0;
}
