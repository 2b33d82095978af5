/* Public-key algorithms and key loading: RFC 7515 A.2 (RS256) and A.3
 * (ES256), RFC 8037 A.4 (Ed25519, exact bytes), every algorithm signed and
 * verified, PEM / DER / certificate / JWK / JWKS loading detected from
 * content, exports, key generation, kid and JWK use/alg/key_ops rules, and
 * rotation with a keyring. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/encoder.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "jwt/jwt_internal.h"
#include "jwt_test_util.h"

/* RFC 7515 A.2 / A.3 share the payload of A.1 (exp 1300819380). */
#define RFC_NOW 1300819379

/* RFC 7515 A.2.1: the RSA key (private JWK). */
static const char a2_jwk[] =
    "{\"kty\":\"RSA\","
    "\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-"
    "4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-"
    "yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-"
    "KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_"
    "h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
    "\"e\":\"AQAB\","
    "\"d\":\"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-"
    "7YwVol2NXOoAJe46sui395IW_"
    "GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_"
    "0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_"
    "RQyGWSeWjnczT0QU91p1DhOVRuOopznQ\","
    "\"p\":\"4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_"
    "Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc\","
    "\"q\":\"uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_"
    "YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc\","
    "\"dp\":\"BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-"
    "FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0\","
    "\"dq\":\"h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-"
    "NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU\","
    "\"qi\":\"IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_"
    "QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U\"}";

#define RFC_PAYLOAD                                                                                          \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

/* RFC 7515 A.2.1: the RS256 JWS (deterministic: PKCS #1 v1.5). */
static const char a2_token[] =
    "eyJhbGciOiJSUzI1NiJ9." RFC_PAYLOAD ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw";

/* RFC 7515 A.3.1: the P-256 key and A.3 JWS. */
static const char a3_jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
                             "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                             "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
                             "\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}";
static const char a3_token[] =
    "eyJhbGciOiJFUzI1NiJ9." RFC_PAYLOAD ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
    "pmWQxfKTUJqPP3-Kg6NU1Q";

/* RFC 8037 A.1 (key) and A.4 (JWS over "Example of Ed25519 signing"). */
static const char ed_jwk[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                             "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
                             "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char ed_input[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
static const char ed_sig[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

static struct wsjwt_keyset *public_set_of(const char *jwk)
{
    struct wsjwt_key *k = NULL;
    struct wsjwt_keyset *set = NULL;
    char *pub = NULL;
    assert_int_equal(wsjwt_key_parse(jwk, strlen(jwk), &k), 0);
    assert_true(wsjwt_key_has_private(k));
    assert_int_equal(wsjwt_key_public_jwk(k, &pub, NULL), 0);
    assert_null(strstr(pub, "\"d\""));
    wsjwt_key_free(k);
    set = tu_set_from(pub);
    assert_non_null(set);
    assert_int_equal(wsjwt_key_has_private(wsjwt_keyset_get(set, 0)), 0);
    wsjwt_free(pub);
    return set;
}

static void test_rfc7515_a2_rs256(void **state)
{
    struct wsjwt_keyset *set = public_set_of(a2_jwk);
    enum wsjwt_alg rs = WSJWT_ALG_RS256;
    struct wsjwt_policy *p = tu_policy(&rs, 1);
    struct wsjwt_jwt_error err;
    struct wsjwt_key *priv = NULL;
    char tok[sizeof(a2_token)];
    (void)state;
    assert_int_equal(wsjwt_key_type(wsjwt_keyset_get(set, 0)), WSJWT_KEY_RSA);
    assert_int_equal(tu_verify(p, set, a2_token, RFC_NOW, &err), 0);
    assert_int_equal(tu_verify(p, set, a2_token, RFC_NOW + 1, &err), WSJWT_EJWT_EXPIRED);
    /* RS256 is deterministic: signing the same input gives the RFC's bytes. */
    assert_int_equal(wsjwt_key_parse(a2_jwk, strlen(a2_jwk), &priv), 0);
    {
        uint8_t sig[WSJWT__MAX_SIG];
        size_t n = 0;
        const char *dot = strrchr(a2_token, '.');
        char enc[WSJWT__MAX_SIG * 2];
        assert_int_equal(wsjwt__sign_sig(priv, WSJWT_ALG_RS256, (const uint8_t *)a2_token,
                                         (size_t)(dot - a2_token), sig, &n),
                         0);
        assert_int_equal(n, 256);
        wsjwt__b64url_encode(sig, n, enc);
        assert_string_equal(enc, dot + 1);
    }
    wsjwt_key_free(priv);
    /* one flipped character anywhere refuses it */
    for (size_t i = 0; i < strlen(a2_token); i += 7) {
        memcpy(tok, a2_token, sizeof(tok));
        if (tok[i] == '.')
            continue;
        tok[i] = tok[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(tu_verify(p, set, tok, RFC_NOW, NULL), 0);
    }
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

static void test_rfc7515_a3_es256(void **state)
{
    struct wsjwt_keyset *set = public_set_of(a3_jwk);
    enum wsjwt_alg es = WSJWT_ALG_ES256;
    struct wsjwt_policy *p = tu_policy(&es, 1);
    char tok[sizeof(a3_token)];
    (void)state;
    assert_int_equal(wsjwt_key_type(wsjwt_keyset_get(set, 0)), WSJWT_KEY_EC);
    assert_int_equal(tu_verify(p, set, a3_token, RFC_NOW, NULL), 0);
    for (size_t i = 0; i < strlen(a3_token); i += 3) {
        memcpy(tok, a3_token, sizeof(tok));
        if (tok[i] == '.')
            continue;
        tok[i] = tok[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(tu_verify(p, set, tok, RFC_NOW, NULL), 0);
    }
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

static void test_rfc8037_a4_ed25519(void **state)
{
    struct wsjwt_key *k = NULL;
    uint8_t sig[WSJWT__MAX_SIG], want[64];
    size_t n = 0, wn = 0;
    char enc[200];
    struct wsjwt_keyset *set = public_set_of(ed_jwk);
    enum wsjwt_alg ed = WSJWT_ALG_EDDSA;
    struct wsjwt_policy *p = tu_policy(&ed, 1);
    struct wsjwt_jwt_error err;
    (void)state;
    assert_int_equal(wsjwt_key_parse(ed_jwk, strlen(ed_jwk), &k), 0);
    assert_int_equal(wsjwt_key_type(k), WSJWT_KEY_OKP);
    /* Ed25519 is deterministic: exact bytes. */
    assert_int_equal(
        wsjwt__sign_sig(k, WSJWT_ALG_EDDSA, (const uint8_t *)ed_input, strlen(ed_input), sig, &n), 0);
    assert_int_equal(wsjwt__b64url_decode(ed_sig, strlen(ed_sig), want, sizeof(want), &wn), 0);
    assert_int_equal(n, 64);
    assert_memory_equal(sig, want, 64);
    assert_int_equal(wsjwt__verify_sig(wsjwt_keyset_get(set, 0), WSJWT_ALG_EDDSA, (const uint8_t *)ed_input,
                                       strlen(ed_input), want, 64),
                     0);
    want[10] ^= 1;
    assert_int_equal(wsjwt__verify_sig(wsjwt_keyset_get(set, 0), WSJWT_ALG_EDDSA, (const uint8_t *)ed_input,
                                       strlen(ed_input), want, 64),
                     WSJWT_EJWT_SIGNATURE);
    /* Through the full verifier the signature passes, and then the payload
     * (a plain string, not a claims object) is refused. */
    snprintf(enc, sizeof(enc), "%s.%s", ed_input, ed_sig);
    assert_int_equal(tu_verify(p, set, enc, 0, &err), WSJWT_EJWT_JSON);
    assert_string_equal(err.member, "payload");
    wsjwt_key_free(k);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* Every algorithm: generate, sign, verify with the public half only (via PEM
 * and via JWK), and the signature is refused under every other algorithm. */
static void test_every_alg_roundtrip(void **state)
{
    (void)state;
    for (int a = WSJWT_ALG_RS256; a < WSJWT_ALG_COUNT; a++) {
        struct wsjwt_key *k = NULL;
        char *pem = NULL, *jwk = NULL, *priv_pem = NULL, *tok = NULL;
        size_t tl = 0;
        enum wsjwt_alg alg = (enum wsjwt_alg)a;
        assert_int_equal(wsjwt_key_generate(alg, &k), 0);
        assert_int_equal(wsjwt_key_alg(k), alg);
        assert_true(wsjwt_key_fits(k, alg));
        assert_int_equal(wsjwt_key_set_kid(k, "gen"), 0);
        struct wsjwt_sign_opts so = {
            .alg = alg, .kid = "gen", .payload_json = "{\"sub\":\"x\"}", .now = 1000};
        assert_int_equal(wsjwt_jwt_sign(k, &so, &tok, &tl), 0);
        assert_int_equal(wsjwt_key_public_pem(k, &pem, NULL), 0);
        assert_int_equal(wsjwt_key_private_pem(k, &priv_pem, NULL), 0);
        assert_int_equal(wsjwt_key_public_jwk(k, &jwk, NULL), 0);
        assert_non_null(strstr(jwk, "\"kid\":\"gen\""));
        assert_non_null(strstr(jwk, "\"use\":\"sig\""));
        const char *texts[] = {pem, jwk, priv_pem};
        for (int t = 0; t < 3; t++) {
            struct wsjwt_keyset *set = tu_set_from(texts[t]);
            assert_non_null(set);
            for (int b = 1; b < WSJWT_ALG_COUNT; b++) {
                enum wsjwt_alg other = (enum wsjwt_alg)b;
                struct wsjwt_policy *p = tu_policy(&other, 1);
                int rc = tu_verify(p, set, tok, 1000, NULL);
                if (b == a)
                    assert_int_equal(rc, 0);
                else
                    assert_int_equal(rc, WSJWT_EJWT_ALG);
                wsjwt_policy_free(p);
            }
            /* a policy allowing everything: the header's alg decides, and
             * only the exact alg verifies */
            enum wsjwt_alg all[WSJWT_ALG_COUNT - 1];
            for (int b = 1; b < WSJWT_ALG_COUNT; b++)
                all[b - 1] = (enum wsjwt_alg)b;
            struct wsjwt_policy *p = tu_policy(all, WSJWT_ALG_COUNT - 1);
            assert_int_equal(tu_verify(p, set, tok, 1000, NULL), 0);
            wsjwt_policy_free(p);
            wsjwt_keyset_unref(set);
        }
        wsjwt_free(tok);
        wsjwt_free(pem);
        wsjwt_free(priv_pem);
        wsjwt_free(jwk);
        wsjwt_key_free(k);
    }
}

/* Tokens signed by OpenSSL directly (not by our signer) verify. */
static void test_independent_signatures(void **state)
{
    static const struct {
        const char *type, *param, *md, *name;
        int pss, coord;
        enum wsjwt_alg alg;
    } cases[] = {
        {"RSA", NULL, "SHA384", "RS384", 0, 0, WSJWT_ALG_RS384},
        {"RSA", NULL, "SHA512", "PS512", 1, 0, WSJWT_ALG_PS512},
        {"EC", "P-384", "SHA384", "ES384", 0, 48, WSJWT_ALG_ES384},
        {"EC", "P-521", "SHA512", "ES512", 0, 66, WSJWT_ALG_ES512},
        {"ED25519", NULL, NULL, "EdDSA", 0, 0, WSJWT_ALG_EDDSA},
        {"ED448", NULL, NULL, "EdDSA", 0, 0, WSJWT_ALG_EDDSA},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *pk = cases[i].param ? EVP_PKEY_Q_keygen(NULL, NULL, cases[i].type, cases[i].param)
                       : cases[i].md && !cases[i].coord ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                                        : EVP_PKEY_Q_keygen(NULL, NULL, cases[i].type);
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", cases[i].name);
        char *tok = tu_pk(pk, cases[i].md, cases[i].pss, cases[i].coord, hdr, "{\"a\":1}");
        BIO *b = BIO_new(BIO_s_mem());
        PEM_write_bio_PUBKEY(b, pk);
        char *pem;
        long n = BIO_get_mem_data(b, &pem);
        struct wsjwt_keyset *set = NULL;
        assert_int_equal(wsjwt_keyset_parse(pem, (size_t)n, &set), 0);
        struct wsjwt_policy *p = tu_policy(&cases[i].alg, 1);
        assert_int_equal(tu_verify(p, set, tok, 0, NULL), 0);
        wsjwt_policy_free(p);
        wsjwt_keyset_unref(set);
        BIO_free(b);
        free(tok);
        EVP_PKEY_free(pk);
    }
}

/* PS salt length must equal the hash length: a PS256 signature made with a
 * 20-byte salt does not verify. */
static void test_pss_salt_length(void **state)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    BIO *b = BIO_new(BIO_s_mem());
    char *pem, *h = tu_b64url("{\"alg\":\"PS256\"}", 15), *pl = tu_b64url("{}", 2), tok[1024], *sig64;
    unsigned char sig[256];
    size_t sl = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    struct wsjwt_keyset *set = NULL;
    enum wsjwt_alg ps = WSJWT_ALG_PS256;
    struct wsjwt_policy *p = tu_policy(&ps, 1);
    (void)state;
    PEM_write_bio_PUBKEY(b, pk);
    long n = BIO_get_mem_data(b, &pem);
    assert_int_equal(wsjwt_keyset_parse(pem, (size_t)n, &set), 0);
    snprintf(tok, sizeof(tok), "%s.%s", h, pl);
    EVP_DigestSignInit_ex(ctx, &pctx, "SHA256", NULL, NULL, pk, NULL);
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 20);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (unsigned char *)tok, strlen(tok)), 1);
    sig64 = tu_b64url(sig, sl);
    strcat(tok, ".");
    strcat(tok, sig64);
    assert_int_equal(tu_verify(p, set, tok, 0, NULL), WSJWT_EJWT_SIGNATURE);
    free(sig64);
    free(h);
    free(pl);
    EVP_MD_CTX_free(ctx);
    BIO_free(b);
    EVP_PKEY_free(pk);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* ---- formats ---------------------------------------------------------------- */

static char *encode_key(EVP_PKEY *pk, int selection, const char *type, const char *structure, size_t *len)
{
    OSSL_ENCODER_CTX *e = OSSL_ENCODER_CTX_new_for_pkey(pk, selection, type, structure, NULL);
    unsigned char *data = NULL;
    size_t n = 0;
    assert_non_null(e);
    assert_int_equal(OSSL_ENCODER_to_data(e, &data, &n), 1);
    OSSL_ENCODER_CTX_free(e);
    char *s = malloc(n + 1);
    memcpy(s, data, n);
    s[n] = '\0';
    OPENSSL_free(data);
    *len = n;
    return s;
}

static char *self_signed_pem(EVP_PKEY *pk)
{
    X509 *x = X509_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *s;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"t", -1,
                               -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    PEM_write_bio_X509(b, x);
    long n = BIO_get_mem_data(b, &data);
    s = malloc((size_t)n + 1);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    X509_free(x);
    return s;
}

/* Every input form of one EC key loads as the same key. */
static void test_formats(void **state)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    enum wsjwt_alg es = WSJWT_ALG_ES256;
    struct wsjwt_policy *p = tu_policy(&es, 1);
    char *tok = tu_pk(pk, "SHA256", 0, 32, "{\"alg\":\"ES256\"}", "{}");
    size_t n;
    struct {
        char *text;
        size_t len;
        int private_part;
    } forms[8];
    int nf = 0;
    (void)state;
    forms[nf].text = encode_key(pk, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", &forms[nf].len);
    forms[nf++].private_part = 0;
    forms[nf].text = encode_key(pk, EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", &forms[nf].len);
    forms[nf++].private_part = 1;
    forms[nf].text =
        encode_key(pk, EVP_PKEY_KEYPAIR, "PEM", "type-specific", &forms[nf].len); /* EC PRIVATE KEY */
    forms[nf++].private_part = 1;
    forms[nf].text = encode_key(pk, EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo", &forms[nf].len);
    forms[nf++].private_part = 0;
    forms[nf].text = encode_key(pk, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo", &forms[nf].len);
    forms[nf++].private_part = 1;
    forms[nf].text = self_signed_pem(pk);
    forms[nf].len = strlen(forms[nf].text);
    forms[nf++].private_part = 0;
    /* "EC PARAMETERS" before the key, as `openssl ecparam -genkey` writes */
    {
        char *params = encode_key(pk, EVP_PKEY_KEY_PARAMETERS, "PEM", "type-specific", &n);
        char *both = malloc(n + forms[2].len + 1);
        sprintf(both, "%s%s", params, forms[2].text);
        forms[nf].text = both;
        forms[nf].len = strlen(both);
        forms[nf++].private_part = 1;
        free(params);
    }
    /* leading whitespace and no trailing newline */
    {
        char *ws = malloc(forms[0].len + 4);
        sprintf(ws, "\n  %s", forms[0].text);
        ws[strlen(ws) - 1] = '\0';
        forms[nf].text = ws;
        forms[nf].len = strlen(ws);
        forms[nf++].private_part = 0;
    }
    for (int i = 0; i < nf; i++) {
        struct wsjwt_key *k = NULL;
        struct wsjwt_keyset *set = NULL;
        if (wsjwt_key_parse(forms[i].text, forms[i].len, &k) != 0)
            fail_msg("form %d does not load", i);
        assert_int_equal(wsjwt_key_type(k), WSJWT_KEY_EC);
        assert_int_equal(wsjwt_key_has_private(k), forms[i].private_part);
        assert_true(wsjwt_key_fits(k, WSJWT_ALG_ES256));
        assert_false(wsjwt_key_fits(k, WSJWT_ALG_ES384));
        wsjwt_key_free(k);
        assert_int_equal(wsjwt_keyset_parse(forms[i].text, forms[i].len, &set), 0);
        assert_int_equal(tu_verify(p, set, tok, 0, NULL), 0);
        wsjwt_keyset_unref(set);
        free(forms[i].text);
    }
    free(tok);
    wsjwt_policy_free(p);
    EVP_PKEY_free(pk);
}

/* PKCS#1 "RSA PUBLIC KEY" and "RSA PRIVATE KEY". */
static void test_rsa_pkcs1(void **state)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    size_t n;
    char *pub = encode_key(pk, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", &n);
    char *priv = encode_key(pk, EVP_PKEY_KEYPAIR, "PEM", "type-specific", &n);
    struct wsjwt_key *k = NULL;
    (void)state;
    assert_non_null(strstr(pub, "BEGIN RSA PUBLIC KEY"));
    assert_int_equal(wsjwt_key_parse(pub, strlen(pub), &k), 0);
    assert_int_equal(wsjwt_key_type(k), WSJWT_KEY_RSA);
    assert_false(wsjwt_key_has_private(k));
    wsjwt_key_free(k);
    assert_non_null(strstr(priv, "BEGIN RSA PRIVATE KEY"));
    assert_int_equal(wsjwt_key_parse(priv, strlen(priv), &k), 0);
    assert_true(wsjwt_key_has_private(k));
    /* a public key cannot sign */
    struct wsjwt_key *pubk = NULL;
    struct wsjwt_sign_opts so = {.alg = WSJWT_ALG_RS256};
    char *out = NULL;
    assert_int_equal(wsjwt_key_parse(pub, strlen(pub), &pubk), 0);
    assert_int_equal(wsjwt_jwt_sign(pubk, &so, &out, NULL), WSJWT_EJWT_KEY_TYPE);
    assert_int_equal(wsjwt_key_private_pem(pubk, &out, NULL), WSJWT_EJWT_KEY_TYPE);
    assert_int_equal(wsjwt_jwt_sign(k, &so, &out, NULL), 0);
    wsjwt_free(out);
    wsjwt_key_free(pubk);
    wsjwt_key_free(k);
    free(pub);
    free(priv);
    EVP_PKEY_free(pk);
}

static void test_format_refusals(void **state)
{
    struct wsjwt_key *k = NULL;
    struct wsjwt_keyset *set = NULL;
    static const char *const bad[] = {
        "",
        "not a key",
        "{}",
        "{\"kty\":\"RSA\"}",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\"}",
        "{\"kty\":\"oct\"}",
        "{\"kty\":\"oct\",\"k\":\"\"}",
        "{\"kty\":\"oct\",\"k\":\"a+b/\"}",
        "{\"kty\":5}",
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":7}",
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kty\":\"oct\"}",
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"use\":1}",
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"key_ops\":\"verify\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}",
        "{\"kty\":\"RSA\",\"e\":\"AQAB\"}",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n",
        "-----BEGIN PUBLIC KEY-----\n",
        "\x30\x82\x01\x00garbage",
        "{\"keys\":[]}",
        "{\"keys\":{}}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = wsjwt_keyset_parse(bad[i], strlen(bad[i]), &set);
        if (rc != WSJWT_EJWT_KEY_FORMAT)
            fail_msg("case %zu: %d", i, rc);
        assert_null(set);
    }
    /* Unsupported kinds: an X25519 JWK, secp256k1, an encrypted key. */
    static const char *const unsupported[] = {
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
        "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
        "{\"kty\":\"RSA-X\"}",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    };
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        assert_int_equal(wsjwt_key_parse(unsupported[i], strlen(unsupported[i]), &k), WSJWT_EUNSUPPORTED);
    /* A JWKS where one key was asked for. */
    static const char jwks[] = "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}";
    assert_int_equal(wsjwt_key_parse(jwks, strlen(jwks), &k), WSJWT_EJWT_KEY_FORMAT);
    assert_null(k);
}

/* An EC public key whose point is not on the curve is refused. */
static void test_invalid_ec_point(void **state)
{
    /* A.3's key with the last character of y changed. */
    static const char off_curve[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
                                    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                                    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4\"}";
    static const char wrong_len[] = "{\"kty\":\"EC\",\"crv\":\"P-384\","
                                    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                                    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
    struct wsjwt_key *k = NULL;
    (void)state;
    assert_int_equal(wsjwt_key_parse(off_curve, strlen(off_curve), &k), WSJWT_EJWT_KEY_FORMAT);
    assert_int_equal(wsjwt_key_parse(wrong_len, strlen(wrong_len), &k), WSJWT_EJWT_KEY_FORMAT);
    assert_null(k);
}

/* An Ed25519 private JWK whose x is not the public key of d. */
static void test_okp_mismatched_x(void **state)
{
    static const char bad[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                              "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
                              "\"x\":\"21qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    struct wsjwt_key *k = NULL;
    (void)state;
    assert_int_equal(wsjwt_key_parse(bad, strlen(bad), &k), WSJWT_EJWT_KEY_FORMAT);
}

/* Text caps at N and N+1: N bytes are read (and refused as not a key), N+1
 * are refused unread. */
static void test_text_caps(void **state)
{
    size_t n = WSJWT_KEYSET_MAX_TEXT + 1;
    char *big = malloc(n);
    struct wsjwt_key *k = NULL;
    struct wsjwt_keyset *set = NULL;
    (void)state;
    memset(big, ' ', n);
    big[0] = '{';
    assert_int_equal(wsjwt_key_parse(big, WSJWT_KEY_MAX_TEXT, &k), WSJWT_EJWT_KEY_FORMAT);
    assert_int_equal(wsjwt_key_parse(big, WSJWT_KEY_MAX_TEXT + 1, &k), WSJWT_ETOOBIG);
    assert_int_equal(wsjwt_keyset_parse(big, WSJWT_KEYSET_MAX_TEXT, &set), WSJWT_EJWT_KEY_FORMAT);
    assert_int_equal(wsjwt_keyset_parse(big, WSJWT_KEYSET_MAX_TEXT + 1, &set), WSJWT_ETOOBIG);
    free(big);
    /* a JWKS of WSJWT_KEYSET_MAX_KEYS keys loads; one more does not */
    for (int extra = 0; extra <= 1; extra++) {
        size_t cap = 64 * (WSJWT_KEYSET_MAX_KEYS + 2), o = 0;
        char *text = malloc(cap);
        o += (size_t)sprintf(text, "{\"keys\":[");
        for (int i = 0; i < WSJWT_KEYSET_MAX_KEYS + extra; i++)
            o += (size_t)sprintf(text + o, "%s{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"%d\"}",
                                 i ? "," : "", i);
        strcpy(text + o, "]}");
        int rc = wsjwt_keyset_parse(text, strlen(text), &set);
        assert_int_equal(rc, extra ? WSJWT_ETOOBIG : 0);
        if (!rc)
            assert_int_equal(wsjwt_keyset_count(set), WSJWT_KEYSET_MAX_KEYS);
        wsjwt_keyset_unref(set);
        set = NULL;
        free(text);
    }
}

/* ---- JWKS ---------------------------------------------------------------------- */

static void test_jwks(void **state)
{
    struct wsjwt_key *k1 = NULL, *k2 = NULL, *k3 = NULL;
    char *j1, *j2, *j3, *tok1, *tok2, *text;
    struct wsjwt_keyset *set = NULL;
    enum wsjwt_alg algs[] = {WSJWT_ALG_RS256, WSJWT_ALG_ES256, WSJWT_ALG_EDDSA};
    struct wsjwt_policy *p = tu_policy(algs, 3);
    struct wsjwt_jwt_error err;
    (void)state;
    assert_int_equal(wsjwt_key_generate(WSJWT_ALG_RS256, &k1), 0);
    assert_int_equal(wsjwt_key_generate(WSJWT_ALG_ES256, &k2), 0);
    assert_int_equal(wsjwt_key_generate(WSJWT_ALG_EDDSA, &k3), 0);
    wsjwt_key_set_kid(k1, "rsa-1");
    wsjwt_key_set_kid(k2, "ec-1");
    wsjwt_key_set_kid(k3, "ed-1");
    assert_int_equal(wsjwt_key_public_jwk(k1, &j1, NULL), 0);
    assert_int_equal(wsjwt_key_public_jwk(k2, &j2, NULL), 0);
    assert_int_equal(wsjwt_key_public_jwk(k3, &j3, NULL), 0);
    text = malloc(strlen(j1) + strlen(j2) + strlen(j3) + 400);
    /* plus keys we skip: an encryption key, a key_ops without verify, an
     * unknown kty, an unknown alg */
    sprintf(text,
            "{\"keys\":[%s,%s,%s,"
            "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"use\":\"enc\"},"
            "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"key_ops\":[\"encrypt\"]},"
            "{\"kty\":\"XYZ\"},"
            "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"A128KW\"}]}",
            j1, j2, j3);
    assert_int_equal(wsjwt_keyset_parse(text, strlen(text), &set), 0);
    assert_int_equal(wsjwt_keyset_count(set), 3);
    assert_string_equal(wsjwt_key_kid(wsjwt_keyset_get(set, 1)), "ec-1");
    struct wsjwt_sign_opts so = {.alg = WSJWT_ALG_ES256, .kid = "ec-1", .now = 5};
    assert_int_equal(wsjwt_jwt_sign(k2, &so, &tok1, NULL), 0);
    assert_int_equal(tu_verify(p, set, tok1, 5, &err), 0);
    /* without kid: found among the candidates */
    so.kid = NULL;
    assert_int_equal(wsjwt_jwt_sign(k2, &so, &tok2, NULL), 0);
    assert_int_equal(tu_verify(p, set, tok2, 5, &err), 0);
    wsjwt_free(tok2);
    /* kid names the RSA key but the token is ES256: key type mismatch */
    so.kid = "rsa-1";
    assert_int_equal(wsjwt_jwt_sign(k2, &so, &tok2, NULL), 0);
    assert_int_equal(tu_verify(p, set, tok2, 5, &err), WSJWT_EJWT_KEY_TYPE);
    wsjwt_free(tok2);
    so.kid = "nope";
    assert_int_equal(wsjwt_jwt_sign(k2, &so, &tok2, NULL), 0);
    assert_int_equal(tu_verify(p, set, tok2, 5, &err), WSJWT_EJWT_KID_UNKNOWN);
    wsjwt_free(tok2);
    /* the JWKS export contains the three public keys, no secrets */
    char *out = NULL;
    assert_int_equal(wsjwt_keyset_public_jwks(set, &out, NULL), 0);
    assert_non_null(strstr(out, "\"kid\":\"rsa-1\""));
    assert_null(strstr(out, "\"k\":"));
    assert_null(strstr(out, "\"d\":"));
    struct wsjwt_keyset *again = NULL;
    assert_int_equal(wsjwt_keyset_parse(out, strlen(out), &again), 0);
    assert_int_equal(wsjwt_keyset_count(again), 3);
    assert_int_equal(tu_verify(p, again, tok1, 5, &err), 0);
    wsjwt_keyset_unref(again);
    wsjwt_free(out);
    wsjwt_free(tok1);
    free(text);
    wsjwt_free(j1);
    wsjwt_free(j2);
    wsjwt_free(j3);
    wsjwt_key_free(k1);
    wsjwt_key_free(k2);
    wsjwt_key_free(k3);
    wsjwt_keyset_unref(set);
    wsjwt_policy_free(p);
}

/* A JWK's alg restricts its key; use and key_ops too. */
static void test_jwk_alg_use_keyops(void **state)
{
    struct wsjwt_key *k = NULL;
    char *pem = NULL, *jwk = NULL, *tok256 = NULL, *tok384 = NULL, text[4096];
    enum wsjwt_alg algs[] = {WSJWT_ALG_RS256, WSJWT_ALG_RS384};
    struct wsjwt_policy *p = tu_policy(algs, 2);
    struct wsjwt_keyset *set = NULL;
    (void)state;
    assert_int_equal(wsjwt_key_generate(WSJWT_ALG_RS256, &k), 0);
    assert_int_equal(wsjwt_key_set_alg(k, WSJWT_ALG_UNKNOWN), 0);
    struct wsjwt_sign_opts so = {.alg = WSJWT_ALG_RS256};
    assert_int_equal(wsjwt_jwt_sign(k, &so, &tok256, NULL), 0);
    so.alg = WSJWT_ALG_RS384;
    assert_int_equal(wsjwt_jwt_sign(k, &so, &tok384, NULL), 0);
    assert_int_equal(wsjwt_key_public_jwk(k, &jwk, NULL), 0);
    assert_null(strstr(jwk, "\"alg\""));
    jwk[strlen(jwk) - 1] = '\0'; /* drop the closing brace to add members */
    snprintf(text, sizeof(text), "%s,\"alg\":\"RS384\"}", jwk);
    assert_non_null(set = tu_set_from(text));
    assert_int_equal(tu_verify(p, set, tok384, 0, NULL), 0);
    assert_int_equal(tu_verify(p, set, tok256, 0, NULL), WSJWT_EJWT_NO_KEY);
    wsjwt_keyset_unref(set);
    /* key_ops with verify: usable */
    snprintf(text, sizeof(text), "{\"keys\":[%s,\"key_ops\":[\"verify\"]}]}", jwk);
    assert_non_null(set = tu_set_from(text));
    assert_int_equal(tu_verify(p, set, tok256, 0, NULL), 0);
    wsjwt_keyset_unref(set);
    /* a single JWK with use "enc" loads but never verifies */
    snprintf(text, sizeof(text), "%s}", jwk);
    memcpy(strstr(text, "\"use\":\"sig\""), "\"use\":\"enc\"", 11);
    assert_non_null(set = tu_set_from(text));
    assert_int_equal(tu_verify(p, set, tok256, 0, NULL), WSJWT_EJWT_NO_KEY);
    wsjwt_keyset_unref(set);
    /* a JWK alg that does not fit the key: unsupported */
    snprintf(text, sizeof(text), "%s,\"alg\":\"ES256\"}", jwk);
    assert_int_equal(wsjwt_keyset_parse(text, strlen(text), &set), WSJWT_EUNSUPPORTED);
    wsjwt_free(pem);
    wsjwt_free(jwk);
    wsjwt_free(tok256);
    wsjwt_free(tok384);
    wsjwt_key_free(k);
    wsjwt_policy_free(p);
}

/* An oct JWK is an HMAC secret (RFC 7515 A.1's key). */
static void test_oct_jwk(void **state)
{
    static const char jwk[] = "{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-"
                              "1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}";
    static const char tok[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." RFC_PAYLOAD
                              ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    struct wsjwt_keyset *set = tu_set_from(jwk);
    enum wsjwt_alg hs = WSJWT_ALG_HS256;
    struct wsjwt_policy *p = tu_policy(&hs, 1);
    char *k = NULL, *out = NULL;
    (void)state;
    assert_non_null(set);
    assert_int_equal(wsjwt_key_type(wsjwt_keyset_get(set, 0)), WSJWT_KEY_SECRET);
    assert_int_equal(tu_verify(p, set, tok, RFC_NOW, NULL), 0);
    assert_int_equal(wsjwt_key_secret_b64url(wsjwt_keyset_get(set, 0), &k, NULL), 0);
    assert_non_null(strstr(jwk, k));
    assert_int_equal(wsjwt_key_public_pem(wsjwt_keyset_get(set, 0), &out, NULL), WSJWT_EJWT_KEY_TYPE);
    wsjwt_free(k);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* ---- rotation ------------------------------------------------------------------- */

struct rot {
    struct wsjwt_keyring *ring;
    struct wsjwt_policy *p;
    char *tok_old, *tok_new;
    int ok, bad;
};

static void *verifier(void *arg)
{
    struct rot *r = arg;
    for (int i = 0; i < 2000; i++) {
        struct wsjwt_keyset *set = wsjwt_keyring_current(r->ring);
        /* each token verifies under the set that holds its key, and the set
         * stays valid while referenced even if swapped out meanwhile */
        int a = tu_verify(r->p, set, r->tok_old, 0, NULL), b = tu_verify(r->p, set, r->tok_new, 0, NULL);
        if ((a == 0) != (b != 0))
            __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
        else
            __atomic_add_fetch(&r->ok, 1, __ATOMIC_RELAXED);
        wsjwt_keyset_unref(set);
    }
    return NULL;
}

static void test_keyring_rotation(void **state)
{
    struct wsjwt_keyset *s_old = tu_secret_set("old secret, 32 bytes long.......", "old");
    struct wsjwt_keyset *s_new = tu_secret_set("new secret, 32 bytes long.......", "new");
    struct rot r = {0};
    pthread_t th[2];
    (void)state;
    r.p = tu_policy1(WSJWT_ALG_HS256);
    r.tok_old =
        tu_hs("SHA256", "old secret, 32 bytes long.......", 32, "{\"alg\":\"HS256\",\"kid\":\"old\"}", "{}");
    r.tok_new =
        tu_hs("SHA256", "new secret, 32 bytes long.......", 32, "{\"alg\":\"HS256\",\"kid\":\"new\"}", "{}");
    assert_int_equal(wsjwt_keyring_new(wsjwt_keyset_ref(s_old), &r.ring), 0);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, verifier, &r);
    for (int i = 0; i < 200; i++)
        assert_int_equal(wsjwt_keyring_swap(r.ring, wsjwt_keyset_ref(i % 2 ? s_old : s_new)), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.ok, 4000);
    /* the ring's current set after the last swap (i = 199: old) */
    struct wsjwt_keyset *cur = wsjwt_keyring_current(r.ring);
    assert_ptr_equal(cur, s_old);
    wsjwt_keyset_unref(cur);
    /* a set swapped out lives on while referenced */
    struct wsjwt_keyset *held = wsjwt_keyring_current(r.ring);
    wsjwt_keyset_unref(s_old);
    assert_int_equal(wsjwt_keyring_swap(r.ring, s_new), 0);
    assert_int_equal(tu_verify(r.p, held, r.tok_old, 0, NULL), 0);
    wsjwt_keyset_unref(held); /* frees the old set */
    assert_int_equal(wsjwt_keyring_swap(r.ring, NULL), WSJWT_EINVAL);
    wsjwt_keyring_free(r.ring);
    free(r.tok_old);
    free(r.tok_new);
    wsjwt_policy_free(r.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a2_rs256),
        cmocka_unit_test(test_rfc7515_a3_es256),
        cmocka_unit_test(test_rfc8037_a4_ed25519),
        cmocka_unit_test(test_every_alg_roundtrip),
        cmocka_unit_test(test_independent_signatures),
        cmocka_unit_test(test_pss_salt_length),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_rsa_pkcs1),
        cmocka_unit_test(test_format_refusals),
        cmocka_unit_test(test_invalid_ec_point),
        cmocka_unit_test(test_okp_mismatched_x),
        cmocka_unit_test(test_text_caps),
        cmocka_unit_test(test_jwks),
        cmocka_unit_test(test_jwk_alg_use_keyops),
        cmocka_unit_test(test_oct_jwk),
        cmocka_unit_test(test_keyring_rotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
