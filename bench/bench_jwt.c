/* JWT verification throughput: wsjwt_jwt_verify against bare OpenSSL on the
 * same signing input, in one process.
 *
 *   bench_jwt [--seconds S] [--emit DIR] [--only wsjwt] [ALG...]   (default: HS256)
 *
 * For each algorithm it makes one typical token (~200 bytes for HS256:
 * header {"alg","typ"}, sub, name, role, iat, exp), then measures:
 *   wsjwt          wsjwt_jwt_verify: parse, base64url, JSON (duplicates
 *                  rejected), alg/key checks, signature, exp/nbf/iat
 *   openssl        the floor: HS*: one-shot HMAC() over the signing input
 *                  plus CRYPTO_memcmp; RS/PS/ES/EdDSA: EVP_DigestVerifyInit +
 *                  EVP_DigestVerify with the key already loaded (ECDSA's
 *                  JOSE r||s converted to DER once, outside the loop)
 *   openssl-keyed  HS* only: a pre-keyed EVP_MAC context duplicated per
 *                  verification: the cheapest HMAC OpenSSL 3 can do
 * Output, one line per figure: "ALG IMPL RATE" (verifications per second,
 * best of five rounds, interleaved across the implementations). --emit writes ALG.token and ALG.key (the
 * secret, or the public key as PEM SPKI) into DIR for the Node peers (bench/peers/jwt_verify.mjs) to verify
 * the very same token. --only wsjwt skips the OpenSSL figures (for profiling: perf record bench_jwt --only
 * wsjwt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <wsjwt/jwt.h>

#include "base/b64.h"

/* 256 bits of a fixed secret: the benchmark needs no randomness. */
static const char SECRET[] = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMN";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_jwt: %s: %s\n", what, rc ? wsjwt_strerror(rc) : "failed");
    exit(1);
}

struct target {
    enum wsjwt_alg alg;
    char *token;
    size_t token_len;
    size_t signing_len; /* header.payload */
    unsigned char sig[512];
    size_t sig_len;
    struct wsjwt_keyset *keys;
    struct wsjwt_policy *policy;
    int64_t now;
    /* bare OpenSSL */
    EVP_PKEY *pkey;
    const EVP_MD *md;
    EVP_MD_CTX *mdctx;
    EVP_MAC_CTX *mac;
};

typedef int (*verify_fn)(struct target *t);

static int run_wsjwt(struct target *t)
{
    struct wsjwt_jwt *jwt = NULL;
    int rc = wsjwt_jwt_verify(t->policy, t->keys, t->token, t->token_len, t->now, &jwt, NULL);
    wsjwt_jwt_free(jwt);
    return rc;
}

static int run_hmac_oneshot(struct target *t)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!HMAC(t->md, SECRET, (int)strlen(SECRET), (const unsigned char *)t->token, t->signing_len, md,
              &md_len))
        return -1;
    return md_len == t->sig_len && CRYPTO_memcmp(md, t->sig, md_len) == 0 ? 0 : -1;
}

static int run_hmac_keyed(struct target *t)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t md_len = 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(t->mac);
    int ok = c && EVP_MAC_update(c, (const unsigned char *)t->token, t->signing_len) &&
             EVP_MAC_final(c, md, &md_len, sizeof(md));
    EVP_MAC_CTX_free(c);
    return ok && md_len == t->sig_len && CRYPTO_memcmp(md, t->sig, md_len) == 0 ? 0 : -1;
}

static int run_pkey(struct target *t)
{
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX_reset(t->mdctx);
    if (EVP_DigestVerifyInit(t->mdctx, &pctx, t->md, NULL, t->pkey) != 1)
        return -1;
    if (t->alg == WSJWT_ALG_PS256 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        return -1;
    return EVP_DigestVerify(t->mdctx, t->sig, t->sig_len, (const unsigned char *)t->token, t->signing_len) ==
                   1
               ? 0
               : -1;
}

/* The machine is shared and noisy: the implementations are measured in
 * interleaved rounds (wsjwt, then each floor, ROUNDS times) so that they see
 * the same background load, and each keeps its best round. */
#define ROUNDS 5

/* One round of at least `seconds`: verifications per second. */
static double round_rate(verify_fn fn, struct target *t, double seconds)
{
    double start = now_s();
    long n = 0;
    double el;
    do {
        for (int k = 0; k < 64; k++)
            if (fn(t) != 0)
                die("a verification failed", 0);
        n += 64;
    } while ((el = now_s() - start) < seconds);
    return (double)n / el;
}

/* Best rate of each of the n functions over ROUNDS interleaved rounds;
 * `seconds` is each function's total budget. */
static void measure(const verify_fn *fns, size_t n, struct target *t, double seconds, double *best)
{
    for (size_t k = 0; k < n; k++) {
        if (fns[k](t) != 0)
            die("a verification failed before timing", 0);
        best[k] = 0;
    }
    for (int round = 0; round < ROUNDS; round++)
        for (size_t k = 0; k < n; k++) {
            double r = round_rate(fns[k], t, seconds / ROUNDS);
            if (r > best[k])
                best[k] = r;
        }
}

/* Decodes the signature segment for the bare verifiers (setup, not timed). */
static void decode_sig(struct target *t)
{
    const char *s = t->token + t->signing_len + 1;
    if (wsjwt__b64url_decode(s, strlen(s), t->sig, sizeof(t->sig), &t->sig_len) != 0)
        die("signature base64url", 0);
}

/* JOSE ECDSA r||s to DER for OpenSSL (setup, not timed). */
static void sig_to_der(struct target *t)
{
    size_t half = t->sig_len / 2;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(t->sig, (int)half, NULL), *s = BN_bin2bn(t->sig + half, (int)half, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1)
        die("ECDSA_SIG", 0);
    unsigned char *der = NULL;
    int n = i2d_ECDSA_SIG(es, &der);
    if (n <= 0 || (size_t)n > sizeof(t->sig))
        die("i2d_ECDSA_SIG", 0);
    memcpy(t->sig, der, (size_t)n);
    t->sig_len = (size_t)n;
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
}

static void write_file(const char *dir, const char *name, const char *ext, const char *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die(path, WSJWT_EIO);
}

static void setup(struct target *t, enum wsjwt_alg alg, const char *emit)
{
    memset(t, 0, sizeof(*t));
    t->alg = alg;
    int64_t iat = (int64_t)time(NULL);
    t->now = iat + 1;
    struct wsjwt_key *key = NULL;
    int rc;
    int hs = alg == WSJWT_ALG_HS256 || alg == WSJWT_ALG_HS384 || alg == WSJWT_ALG_HS512;
    if (hs)
        rc = wsjwt_key_from_secret(SECRET, strlen(SECRET), &key);
    else
        rc = wsjwt_key_generate(alg, &key);
    if (rc != 0)
        die("key", rc);
    char payload[256];
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"user-1234567\",\"name\":\"firecamp\",\"role\":\"member\"}");
    struct wsjwt_sign_opts so = {
        .alg = alg, .payload_json = payload, .now = iat, .has_expires_in = 1, .expires_in = 15 * 86400};
    if ((rc = wsjwt_jwt_sign(key, &so, &t->token, &t->token_len)) != 0)
        die("sign", rc);
    t->signing_len = (size_t)(strrchr(t->token, '.') - t->token);
    decode_sig(t);

    char *pub = NULL;
    size_t pub_len = 0;
    if (!hs && (rc = wsjwt_key_public_pem(key, &pub, &pub_len)) != 0)
        die("public pem", rc);
    if (emit) {
        write_file(emit, wsjwt_alg_name(alg), "token", t->token, t->token_len);
        write_file(emit, wsjwt_alg_name(alg), "key", hs ? SECRET : pub, hs ? strlen(SECRET) : pub_len);
    }
    /* Verify with the public key only, as a verifier holds it. */
    if (hs) {
        if ((rc = wsjwt_keyset_new(&t->keys)) != 0 || (rc = wsjwt_keyset_add(t->keys, key)) != 0)
            die("keyset", rc);
    } else {
        wsjwt_key_free(key);
        if ((rc = wsjwt_keyset_parse(pub, pub_len, &t->keys)) != 0)
            die("keyset from public pem", rc);
    }
    struct wsjwt_policy_opts po = {.algs = &t->alg, .n_algs = 1};
    if ((rc = wsjwt_policy_new(&po, &t->policy)) != 0)
        die("policy", rc);

    switch (alg) {
    case WSJWT_ALG_HS384:
    case WSJWT_ALG_ES384:
        t->md = EVP_sha384();
        break;
    case WSJWT_ALG_HS512:
    case WSJWT_ALG_ES512:
        t->md = EVP_sha512();
        break;
    case WSJWT_ALG_EDDSA:
        t->md = NULL;
        break;
    default:
        t->md = EVP_sha256();
    }
    if (hs) {
        EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)EVP_MD_get0_name(t->md), 0),
            OSSL_PARAM_construct_end()};
        t->mac = m ? EVP_MAC_CTX_new(m) : NULL;
        EVP_MAC_free(m);
        if (!t->mac || EVP_MAC_init(t->mac, (const unsigned char *)SECRET, strlen(SECRET), params) != 1)
            die("EVP_MAC", 0);
    } else {
        BIO *bio = BIO_new_mem_buf(pub, (int)pub_len);
        t->pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        t->mdctx = EVP_MD_CTX_new();
        if (!t->pkey || !t->mdctx)
            die("PEM_read_bio_PUBKEY", 0);
        if (alg == WSJWT_ALG_ES256 || alg == WSJWT_ALG_ES384 || alg == WSJWT_ALG_ES512)
            sig_to_der(t);
    }
    wsjwt_free(pub);
}

static void teardown(struct target *t)
{
    wsjwt_free(t->token);
    wsjwt_keyset_unref(t->keys);
    wsjwt_policy_free(t->policy);
    EVP_PKEY_free(t->pkey);
    EVP_MD_CTX_free(t->mdctx);
    EVP_MAC_CTX_free(t->mac);
}

int main(int argc, char **argv)
{
    double seconds = 1.5;
    const char *emit = NULL;
    int only_wsjwt = 0;
    enum wsjwt_alg algs[WSJWT_ALG_COUNT];
    size_t n_algs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
            if (seconds <= 0 || seconds > 60) {
                fprintf(stderr, "bench_jwt: --seconds: between 0 and 60\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc && strcmp(argv[i + 1], "wsjwt") == 0) {
            only_wsjwt = 1;
            i++;
        } else if (strcmp(argv[i], "--emit") == 0 && i + 1 < argc) {
            emit = argv[++i];
        } else if (n_algs < WSJWT_ALG_COUNT &&
                   wsjwt_alg_from_name(argv[i], strlen(argv[i]), &algs[n_algs]) == 0) {
            n_algs++;
        } else {
            fprintf(stderr, "usage: bench_jwt [--seconds S] [--emit DIR] [--only wsjwt] [ALG...]\n");
            return 2;
        }
    }
    if (n_algs == 0)
        algs[n_algs++] = WSJWT_ALG_HS256;
    for (size_t k = 0; k < n_algs; k++) {
        struct target t;
        setup(&t, algs[k], emit);
        const char *name = wsjwt_alg_name(algs[k]);
        printf("%s token-bytes %zu\n", name, t.token_len);
        static const char *const names[] = {"wsjwt", "openssl", "openssl-keyed"};
        verify_fn fns[3] = {run_wsjwt, t.mac ? run_hmac_oneshot : run_pkey, run_hmac_keyed};
        size_t n = only_wsjwt ? 1 : t.mac ? 3 : 2;
        double best[3];
        measure(fns, n, &t, seconds, best);
        for (size_t f = 0; f < n; f++)
            printf("%s %s %.0f\n", name, names[f], best[f]);
        fflush(stdout);
        teardown(&t);
    }
    return 0;
}
