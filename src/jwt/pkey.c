/* Public-key algorithms and key loading (filled in with issue 3). */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "jwt/jwt_internal.h"

int wsjwt__pkey_verify(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                       const uint8_t *sig, size_t sig_len)
{
    (void)key, (void)alg, (void)input, (void)len, (void)sig, (void)sig_len;
    return WSJWT_EJWT_KEY_TYPE;
}

int wsjwt__pkey_sign(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                     uint8_t *sig, size_t *sig_len)
{
    (void)key, (void)alg, (void)input, (void)len, (void)sig, (void)sig_len;
    return WSJWT_EJWT_KEY_TYPE;
}

void wsjwt__pkey_free(struct wsjwt_key *key)
{
    EVP_PKEY_free(key->pkey);
    key->pkey = NULL;
}

int wsjwt_key_generate(enum wsjwt_alg alg, struct wsjwt_key **out)
{
    uint8_t secret[64];
    int rc;
    if (!out)
        return WSJWT_EINVAL;
    *out = NULL;
    if (wsjwt__alg_family(alg) != FAM_HS)
        return WSJWT_EUNSUPPORTED;
    if (RAND_bytes(secret, (int)wsjwt__alg_hash_len(alg)) != 1)
        return WSJWT_ECRYPTO;
    rc = wsjwt_key_from_secret(secret, wsjwt__alg_hash_len(alg), out);
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

int wsjwt_key_parse(const void *data, size_t len, struct wsjwt_key **out)
{
    (void)data, (void)len;
    if (out)
        *out = NULL;
    return WSJWT_EUNSUPPORTED;
}

int wsjwt_keyset_parse(const void *data, size_t len, struct wsjwt_keyset **out)
{
    (void)data, (void)len;
    if (out)
        *out = NULL;
    return WSJWT_EUNSUPPORTED;
}

int wsjwt_key_public_pem(const struct wsjwt_key *key, char **out, size_t *out_len)
{
    (void)key, (void)out, (void)out_len;
    return WSJWT_EUNSUPPORTED;
}

int wsjwt_key_private_pem(const struct wsjwt_key *key, char **out, size_t *out_len)
{
    (void)key, (void)out, (void)out_len;
    return WSJWT_EUNSUPPORTED;
}

int wsjwt_key_public_jwk(const struct wsjwt_key *key, char **out, size_t *out_len)
{
    (void)key, (void)out, (void)out_len;
    return WSJWT_EUNSUPPORTED;
}

int wsjwt_keyset_public_jwks(const struct wsjwt_keyset *set, char **out, size_t *out_len)
{
    (void)set, (void)out, (void)out_len;
    return WSJWT_EUNSUPPORTED;
}
