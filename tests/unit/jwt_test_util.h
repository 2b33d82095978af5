/* Helpers for the JWT unit tests: tokens built from raw JSON text and signed
 * with OpenSSL directly (not with the code under test), and short policies. */
#ifndef WSJWT_TEST_JWT_UTIL_H
#define WSJWT_TEST_JWT_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/b64.h"
#include <wsjwt/jwt.h>

static inline char *tu_b64url(const void *data, size_t len)
{
    char *s = malloc(wsjwt__b64url_encoded_len(len) + 1);
    wsjwt__b64url_encode(data, len, s);
    return s;
}

/* header.payload.HMAC(md) with the given secret; md NULL: empty signature. */
static inline char *tu_hs(const char *md, const void *secret, size_t slen, const char *hdr, const char *pay)
{
    char *h = tu_b64url(hdr, strlen(hdr)), *p = tu_b64url(pay, strlen(pay));
    size_t n = strlen(h) + 1 + strlen(p);
    char *tok = malloc(n + 1 + 200);
    unsigned char mac[64];
    size_t ml = 0;
    strcpy(tok, h);
    strcat(tok, ".");
    strcat(tok, p);
    strcat(tok, ".");
    if (md) {
        EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, secret, slen, (const unsigned char *)tok, n, mac, sizeof(mac),
                  &ml);
        wsjwt__b64url_encode(mac, ml, tok + n + 1);
    }
    free(h);
    free(p);
    return tok;
}

static inline struct wsjwt_keyset *tu_secret_set(const char *secret, const char *kid)
{
    struct wsjwt_keyset *set;
    struct wsjwt_key *k;
    wsjwt_keyset_new(&set);
    if (wsjwt_key_from_secret(secret, strlen(secret), &k) != 0)
        return set;
    if (kid)
        wsjwt_key_set_kid(k, kid);
    wsjwt_keyset_add(set, k);
    return set;
}

static inline struct wsjwt_policy *tu_policy1(enum wsjwt_alg alg)
{
    struct wsjwt_policy *p = NULL;
    struct wsjwt_policy_opts o = {.algs = &alg, .n_algs = 1};
    wsjwt_policy_new(&o, &p);
    return p;
}

/* Verifies and returns the code; frees the token object. */
static inline int tu_verify(const struct wsjwt_policy *p, const struct wsjwt_keyset *ks, const char *tok,
                            int64_t now, struct wsjwt_jwt_error *err)
{
    struct wsjwt_jwt *j = NULL;
    int rc = wsjwt_jwt_verify(p, ks, tok, strlen(tok), now, &j, err);
    if ((rc == 0) != (j != NULL))
        return -9999; /* the contract: *out set exactly on success */
    wsjwt_jwt_free(j);
    return rc;
}

#endif

#ifndef WSJWT_TEST_JWT_UTIL_PKEY
#define WSJWT_TEST_JWT_UTIL_PKEY
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>

/* header.payload signed with an OpenSSL key directly: md "SHA256"...,
 * pss: PS padding; coord > 0: ECDSA, converted to the JOSE r||s form;
 * md NULL: EdDSA. */
static inline char *tu_pk(EVP_PKEY *pkey, const char *md, int pss, int coord, const char *hdr,
                          const char *pay)
{
    char *h = tu_b64url(hdr, strlen(hdr)), *p = tu_b64url(pay, strlen(pay));
    size_t n = strlen(h) + 1 + strlen(p), sl = 1200;
    char *tok = malloc(n + 1 + 1700);
    unsigned char sig[1200];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    sprintf(tok, "%s.%s.", h, p);
    EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, pkey, NULL);
    if (pss) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)tok, n);
    if (coord) {
        const unsigned char *d = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &d, (long)sl);
        unsigned char raw[132];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, coord);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + coord, coord);
        ECDSA_SIG_free(es);
        memcpy(sig, raw, 2 * (size_t)coord);
        sl = 2 * (size_t)coord;
    }
    wsjwt__b64url_encode(sig, sl, tok + n + 1);
    EVP_MD_CTX_free(ctx);
    free(h);
    free(p);
    return tok;
}

/* A one-key set from text (PEM, JWK, ...); fails the test on error. */
static inline struct wsjwt_keyset *tu_set_from(const char *text)
{
    struct wsjwt_keyset *set = NULL;
    int rc = wsjwt_keyset_parse(text, strlen(text), &set);
    if (rc != 0)
        fprintf(stderr, "keyset_parse: %s\n", wsjwt_strerror(rc));
    return set;
}

static inline struct wsjwt_policy *tu_policy(const enum wsjwt_alg *algs, size_t n)
{
    struct wsjwt_policy *p = NULL;
    struct wsjwt_policy_opts o = {.algs = algs, .n_algs = n};
    wsjwt_policy_new(&o, &p);
    return p;
}
#endif
