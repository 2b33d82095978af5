/* libFuzzer target: the key loaders (PEM, DER, certificates, JWK, JWKS,
 * detected from content). A key set that loads exports as a JWKS that loads
 * again with the same number of public keys. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wsjwt/jwt.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The codes the loaders document. */
static void check_code(int rc)
{
    switch (rc) {
    case 0:
    case WSJWT_EJWT_KEY_FORMAT:
    case WSJWT_EJWT_WEAK_KEY:
    case WSJWT_EJWT_EMPTY_KEY:
    case WSJWT_EJWT_KEY_TYPE: /* an oct JWK whose k is a PEM block */
    case WSJWT_EUNSUPPORTED:
    case WSJWT_ETOOBIG:
    case WSJWT_ENOMEM:
    case WSJWT_ECRYPTO:
        return;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsjwt_key *k = NULL;
    struct wsjwt_keyset *set = NULL;
    int rc = wsjwt_key_parse(data, size, &k);
    check_code(rc);
    if (rc == 0) {
        char *s = NULL;
        if (wsjwt_key_public_jwk(k, &s, NULL) == 0) {
            struct wsjwt_key *again = NULL;
            if (wsjwt_key_parse(s, strlen(s), &again) != 0)
                abort();
            wsjwt_key_free(again);
            wsjwt_free(s);
        }
        wsjwt_key_free(k);
    }
    check_code(rc = wsjwt_keyset_parse(data, size, &set));
    if (rc == 0) {
        char *jwks = NULL;
        size_t pub = 0;
        for (size_t i = 0; i < wsjwt_keyset_count(set); i++)
            pub += wsjwt_key_type(wsjwt_keyset_get(set, i)) != WSJWT_KEY_SECRET;
        if (wsjwt_keyset_public_jwks(set, &jwks, NULL) != 0)
            abort();
        if (pub > 0) {
            struct wsjwt_keyset *again = NULL;
            if (wsjwt_keyset_parse(jwks, strlen(jwks), &again) != 0 || wsjwt_keyset_count(again) != pub)
                abort();
            wsjwt_keyset_unref(again);
        }
        wsjwt_free(jwks);
        wsjwt_keyset_unref(set);
    }
    return 0;
}
