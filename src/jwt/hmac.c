/* HMAC (RFC 2104) for HS256/384/512 with the key schedule done once per key.
 *
 * HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)). The two blocks
 * K0 ^ ipad and K0 ^ opad depend on the key only, so they are hashed once,
 * when the key is made, and the two intermediate hash states are kept. A
 * verification then copies the two states (plain structs, on the stack),
 * hashes the signing input and finishes: no allocation, no provider lookup,
 * no key schedule.
 *
 * Measured (bench/callgrind.sh, 200-byte HS256 token, docs/performance.md):
 * OpenSSL 3's EVP_MAC path (EVP_MAC_CTX_dup of a keyed context, update,
 * final, free) cost about 13.2 k instructions per verification, of which
 * the SHA-256 compression function is about 6.1 k; the rest was context
 * duplication (three allocations, provider dispatch) and its release. This
 * path costs the compression function plus a few hundred instructions.
 *
 * It uses OpenSSL's low-level SHA256_* / SHA512_* functions, deprecated in
 * OpenSSL 3.0 in favour of EVP but still provided (and the same assembly as
 * EVP's default provider): OPENSSL_SUPPRESS_DEPRECATED below silences their
 * deprecation attribute in this file only, so -Werror stays on everywhere
 * else. They bypass the provider layer, so a FIPS-only configuration would
 * not route HMAC through the FIPS provider; an OpenSSL built without the
 * deprecated API (OPENSSL_NO_DEPRECATED_3_0) gets the EVP_MAC fallback at
 * the end of this file instead (compiled and checked by
 * tests/unit/test_jwt_hmac_evp.c, since Debian's OpenSSL never selects it). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "jwt/jwt_internal.h"

static int hmac_index(enum wsjwt_alg alg)
{
    switch (alg) {
    case WSJWT_ALG_HS256:
        return 0;
    case WSJWT_ALG_HS384:
        return 1;
    case WSJWT_ALG_HS512:
        return 2;
    default:
        return -1;
    }
}

#ifndef OPENSSL_NO_DEPRECATED_3_0

/* The inner and outer states after one block of K0 ^ ipad and K0 ^ opad.
 * SHA-384 is SHA-512 with other initial values and a truncated output, so
 * it shares SHA512_CTX. Secret-derived: wiped before release. */
struct wsjwt__hmac {
    SHA256_CTX in256, out256;
    SHA512_CTX in384, out384, in512, out512;
};

/* RFC 2104 section 2: a key longer than the block is hashed first; K0 is
 * the key zero-padded to the block (64 bytes for SHA-256, 128 for
 * SHA-384/512). */
static void pad_key(const uint8_t *key, size_t len, int i, uint8_t k0[128], size_t block)
{
    memset(k0, 0, 128);
    if (len <= block)
        memcpy(k0, key, len);
    else if (i == 0)
        SHA256(key, len, k0);
    else if (i == 1)
        SHA384(key, len, k0);
    else
        SHA512(key, len, k0);
}

static int absorb(int i, void *ctx, const uint8_t *blk, size_t block)
{
    if (i == 0)
        return SHA256_Init(ctx) && SHA256_Update(ctx, blk, block);
    if (i == 1)
        return SHA384_Init(ctx) && SHA384_Update(ctx, blk, block);
    return SHA512_Init(ctx) && SHA512_Update(ctx, blk, block);
}

int wsjwt__hmac_new(const uint8_t *key, size_t len, struct wsjwt__hmac **out)
{
    struct wsjwt__hmac *h;
    uint8_t k0[128], pad[128];
    void *in[WSJWT__N_HMAC], *outer[WSJWT__N_HMAC];
    int ok = 1;
    *out = NULL;
    if (!(h = calloc(1, sizeof(*h))))
        return WSJWT_ENOMEM;
    in[0] = &h->in256;
    outer[0] = &h->out256;
    in[1] = &h->in384;
    outer[1] = &h->out384;
    in[2] = &h->in512;
    outer[2] = &h->out512;
    for (int i = 0; i < WSJWT__N_HMAC && ok; i++) {
        size_t block = i == 0 ? 64 : 128;
        pad_key(key, len, i, k0, block);
        for (size_t j = 0; j < block; j++)
            pad[j] = (uint8_t)(k0[j] ^ 0x36);
        ok = absorb(i, in[i], pad, block);
        for (size_t j = 0; j < block; j++)
            pad[j] = (uint8_t)(k0[j] ^ 0x5c);
        ok = ok && absorb(i, outer[i], pad, block);
    }
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(pad, sizeof(pad));
    if (!ok) {
        wsjwt__hmac_free(h);
        return WSJWT_ECRYPTO;
    }
    *out = h;
    return 0;
}

void wsjwt__hmac_free(struct wsjwt__hmac *h)
{
    if (!h)
        return;
    OPENSSL_cleanse(h, sizeof(*h));
    free(h);
}

int wsjwt__hmac(const struct wsjwt__hmac *h, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                uint8_t mac[64], size_t *mac_len)
{
    int i = hmac_index(alg), ok;
    uint8_t inner[64];
    if (i < 0 || !h)
        return WSJWT_EJWT_KEY_TYPE;
    if (i == 0) {
        SHA256_CTX c = h->in256;
        ok = SHA256_Update(&c, input, len) && SHA256_Final(inner, &c);
        c = h->out256;
        ok = ok && SHA256_Update(&c, inner, 32) && SHA256_Final(mac, &c);
        OPENSSL_cleanse(&c, sizeof(c));
        *mac_len = 32;
    } else {
        /* SHA384_Update is SHA512_Update; the finals differ in length. */
        SHA512_CTX c = i == 1 ? h->in384 : h->in512;
        size_t n = i == 1 ? 48 : 64;
        ok = SHA512_Update(&c, input, len) && (i == 1 ? SHA384_Final(inner, &c) : SHA512_Final(inner, &c));
        c = i == 1 ? h->out384 : h->out512;
        ok = ok && SHA512_Update(&c, inner, n) && (i == 1 ? SHA384_Final(mac, &c) : SHA512_Final(mac, &c));
        OPENSSL_cleanse(&c, sizeof(c));
        *mac_len = n;
    }
    OPENSSL_cleanse(inner, sizeof(inner));
    return ok ? 0 : WSJWT_ECRYPTO;
}

#else /* OPENSSL_NO_DEPRECATED_3_0: keyed EVP_MAC contexts, one per hash, duplicated per use */

#include <openssl/core_names.h>
#include <openssl/params.h>

struct wsjwt__hmac {
    EVP_MAC_CTX *ctx[WSJWT__N_HMAC];
};

int wsjwt__hmac_new(const uint8_t *key, size_t len, struct wsjwt__hmac **out)
{
    static const char *const md[WSJWT__N_HMAC] = {"SHA256", "SHA384", "SHA512"};
    struct wsjwt__hmac *h;
    EVP_MAC *mac;
    int rc = 0;
    *out = NULL;
    if (!(h = calloc(1, sizeof(*h))))
        return WSJWT_ENOMEM;
    if (!(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)))
        rc = WSJWT_ECRYPTO;
    for (int i = 0; i < WSJWT__N_HMAC && rc == 0; i++) {
        OSSL_PARAM params[2];
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md[i], 0);
        params[1] = OSSL_PARAM_construct_end();
        if (!(h->ctx[i] = EVP_MAC_CTX_new(mac)) || !EVP_MAC_init(h->ctx[i], key, len, params))
            rc = WSJWT_ECRYPTO;
    }
    EVP_MAC_free(mac);
    if (rc) {
        wsjwt__hmac_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void wsjwt__hmac_free(struct wsjwt__hmac *h)
{
    if (!h)
        return;
    for (int i = 0; i < WSJWT__N_HMAC; i++)
        EVP_MAC_CTX_free(h->ctx[i]);
    free(h);
}

int wsjwt__hmac(const struct wsjwt__hmac *h, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                uint8_t mac[64], size_t *mac_len)
{
    int i = hmac_index(alg), rc = WSJWT_ECRYPTO;
    EVP_MAC_CTX *ctx;
    if (i < 0 || !h)
        return WSJWT_EJWT_KEY_TYPE;
    if (!(ctx = EVP_MAC_CTX_dup(h->ctx[i])))
        return WSJWT_ENOMEM;
    if (EVP_MAC_update(ctx, input, len) && EVP_MAC_final(ctx, mac, mac_len, 64))
        rc = 0;
    EVP_MAC_CTX_free(ctx);
    return rc;
}

#endif
