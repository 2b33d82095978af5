/* Known attacks on JWT verifiers, one test each (issue 3's list): alg
 * "none"; HS256 signed with the verifier's public key as the secret (the
 * alg-confusion attack, CVE-2015-9235) in every encoding of that key; empty
 * HMAC keys; algorithm substitution within a family; ECDSA signatures in DER,
 * of wrong lengths, with r or s zero (CVE-2022-21449) or out of range; a key
 * of the wrong curve; keys embedded or pointed at by the header (jwk, jku,
 * x5u, x5c); hostile kid values; RSA keys under 2048 bits. */
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

/* A permissive (misconfigured) policy: every algorithm allowed. The key type
 * binding alone must stop the attacks. */
static struct wsjwt_policy *all_algs(void)
{
    enum wsjwt_alg all[WSJWT_ALG_COUNT - 1];
    for (int b = 1; b < WSJWT_ALG_COUNT; b++)
        all[b - 1] = (enum wsjwt_alg)b;
    return tu_policy(all, WSJWT_ALG_COUNT - 1);
}

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

struct fixture {
    EVP_PKEY *rsa, *ec;
    char *rsa_spki_pem, *rsa_pkcs1_pem, *rsa_der, *rsa_jwk, *ec_spki_pem;
    size_t rsa_spki_len, rsa_pkcs1_len, rsa_der_len, ec_spki_len;
};

static struct fixture fx;

static int setup(void **state)
{
    struct wsjwt_key *k = NULL;
    (void)state;
    fx.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    fx.rsa_spki_pem =
        encode_key(fx.rsa, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", &fx.rsa_spki_len);
    fx.rsa_pkcs1_pem = encode_key(fx.rsa, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", &fx.rsa_pkcs1_len);
    fx.rsa_der = encode_key(fx.rsa, EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo", &fx.rsa_der_len);
    fx.ec_spki_pem = encode_key(fx.ec, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", &fx.ec_spki_len);
    if (wsjwt_key_parse(fx.rsa_spki_pem, fx.rsa_spki_len, &k) != 0 ||
        wsjwt_key_public_jwk(k, &fx.rsa_jwk, NULL))
        return -1;
    wsjwt_key_free(k);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(fx.rsa);
    EVP_PKEY_free(fx.ec);
    free(fx.rsa_spki_pem);
    free(fx.rsa_pkcs1_pem);
    free(fx.rsa_der);
    free(fx.ec_spki_pem);
    wsjwt_free(fx.rsa_jwk);
    return 0;
}

/* The verifier holds `key_text` (as it would from a file); the attacker signs
 * an HS256 token using `secret` (some encoding of that public key). */
static void confusion(const char *key_text, size_t key_len, const void *secret, size_t secret_len)
{
    struct wsjwt_keyset *set = NULL;
    struct wsjwt_policy *p = all_algs();
    struct wsjwt_jwt_error err;
    static const char *const hs[][2] = {{"HS256", "SHA256"}, {"HS384", "SHA384"}, {"HS512", "SHA512"}};
    assert_int_equal(wsjwt_keyset_parse(key_text, key_len, &set), 0);
    assert_int_not_equal(wsjwt_key_type(wsjwt_keyset_get(set, 0)), WSJWT_KEY_SECRET);
    for (int i = 0; i < 3; i++) {
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", hs[i][0]);
        char *t = tu_hs(hs[i][1], secret, secret_len, hdr, "{\"admin\":true}");
        assert_int_equal(tu_verify(p, set, t, 0, &err), WSJWT_EJWT_KEY_TYPE);
        assert_string_equal(wsjwt_strerror(err.code), "key type mismatch");
        free(t);
    }
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

static void test_none_and_case_variants(void **state)
{
    struct wsjwt_keyset *set = NULL;
    struct wsjwt_policy *p = all_algs();
    static const char *const names[] = {"none", "None", "NONE", "nOnE", "none ", ""};
    (void)state;
    assert_int_equal(wsjwt_keyset_parse(fx.rsa_spki_pem, fx.rsa_spki_len, &set), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char hdr[64], tok[256];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", names[i]);
        char *h = tu_b64url(hdr, strlen(hdr));
        /* empty signature, and a junk one */
        snprintf(tok, sizeof(tok), "%s.e30.", h);
        assert_int_not_equal(tu_verify(p, set, tok, 0, NULL), 0);
        snprintf(tok, sizeof(tok), "%s.e30.c2ln", h);
        assert_int_equal(tu_verify(p, set, tok, 0, NULL), WSJWT_EJWT_ALG);
        free(h);
    }
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

static void test_confusion_rsa_spki_pem(void **state)
{
    (void)state;
    confusion(fx.rsa_spki_pem, fx.rsa_spki_len, fx.rsa_spki_pem, fx.rsa_spki_len);
}

static void test_confusion_rsa_spki_pem_no_trailing_newline(void **state)
{
    (void)state;
    confusion(fx.rsa_spki_pem, fx.rsa_spki_len - 1, fx.rsa_spki_pem, fx.rsa_spki_len - 1);
}

static void test_confusion_rsa_pem_leading_whitespace(void **state)
{
    char *ws = malloc(fx.rsa_spki_len + 3);
    (void)state;
    sprintf(ws, " \n%s", fx.rsa_spki_pem);
    confusion(ws, strlen(ws), ws, strlen(ws));
    free(ws);
}

static void test_confusion_rsa_pkcs1_pem(void **state)
{
    (void)state;
    assert_non_null(strstr(fx.rsa_pkcs1_pem, "RSA PUBLIC KEY"));
    confusion(fx.rsa_pkcs1_pem, fx.rsa_pkcs1_len, fx.rsa_pkcs1_pem, fx.rsa_pkcs1_len);
    /* and the verifier holds SPKI while the attacker uses PKCS#1 */
    confusion(fx.rsa_spki_pem, fx.rsa_spki_len, fx.rsa_pkcs1_pem, fx.rsa_pkcs1_len);
}

static void test_confusion_rsa_der(void **state)
{
    (void)state;
    confusion(fx.rsa_der, fx.rsa_der_len, fx.rsa_der, fx.rsa_der_len);
}

static void test_confusion_rsa_jwk(void **state)
{
    (void)state;
    confusion(fx.rsa_jwk, strlen(fx.rsa_jwk), fx.rsa_jwk, strlen(fx.rsa_jwk));
}

static void test_confusion_ec_pem(void **state)
{
    (void)state;
    confusion(fx.ec_spki_pem, fx.ec_spki_len, fx.ec_spki_pem, fx.ec_spki_len);
}

/* A public key given as an HMAC secret is refused outright. */
static void test_pem_as_secret_refused(void **state)
{
    struct wsjwt_key *k = NULL;
    char *ws = malloc(fx.rsa_spki_len + 8);
    (void)state;
    assert_int_equal(wsjwt_key_from_secret(fx.rsa_spki_pem, fx.rsa_spki_len, &k), WSJWT_EJWT_KEY_TYPE);
    assert_int_equal(wsjwt_key_from_secret(fx.rsa_pkcs1_pem, fx.rsa_pkcs1_len, &k), WSJWT_EJWT_KEY_TYPE);
    sprintf(ws, "\r\n  %s", fx.ec_spki_pem);
    assert_int_equal(wsjwt_key_from_secret(ws, strlen(ws), &k), WSJWT_EJWT_KEY_TYPE);
    assert_null(k);
    /* the dashes alone are not a PEM block */
    assert_int_equal(wsjwt_key_from_secret("-----BEGIN-----xxxxxxxxxxxxxxxxxx", 33, &k), 0);
    wsjwt_key_free(k);
    free(ws);
}

/* An empty HMAC key can neither be built nor loaded; a token MACed with the
 * empty key does not verify under a real one. */
static void test_empty_hmac_key(void **state)
{
    struct wsjwt_key *k = NULL;
    struct wsjwt_keyset *set = NULL;
    static const char empty_jwk[] = "{\"kty\":\"oct\",\"k\":\"\"}";
    (void)state;
    assert_int_equal(wsjwt_key_from_secret("", 0, &k), WSJWT_EJWT_EMPTY_KEY);
    assert_int_equal(wsjwt_keyset_parse(empty_jwk, strlen(empty_jwk), &set), WSJWT_EJWT_KEY_FORMAT);
    set = tu_secret_set("a real secret of thirty-two bytes", NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    char *t = tu_hs("SHA256", "", 0, "{\"alg\":\"HS256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, 0, NULL), WSJWT_EJWT_SIGNATURE);
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

static void test_rs512_under_rs256_policy(void **state)
{
    struct wsjwt_keyset *set = NULL;
    enum wsjwt_alg rs256 = WSJWT_ALG_RS256;
    struct wsjwt_policy *p = tu_policy(&rs256, 1);
    struct wsjwt_jwt_error err;
    (void)state;
    assert_int_equal(wsjwt_keyset_parse(fx.rsa_spki_pem, fx.rsa_spki_len, &set), 0);
    char *t = tu_pk(fx.rsa, "SHA512", 0, 0, "{\"alg\":\"RS512\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, 0, &err), WSJWT_EJWT_ALG);
    free(t);
    /* and an RS512 signature relabelled RS256 */
    t = tu_pk(fx.rsa, "SHA512", 0, 0, "{\"alg\":\"RS256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, 0, &err), WSJWT_EJWT_SIGNATURE);
    free(t);
    /* and a PS256 signature relabelled RS256 */
    t = tu_pk(fx.rsa, "SHA256", 1, 0, "{\"alg\":\"RS256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, 0, &err), WSJWT_EJWT_SIGNATURE);
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* ---- ECDSA signature forms -------------------------------------------------- */

/* An ES256 token whose signature segment is replaced by `sig`. */
static int es256_with_sig(const uint8_t *sig, size_t len)
{
    struct wsjwt_keyset *set = NULL;
    enum wsjwt_alg es = WSJWT_ALG_ES256;
    struct wsjwt_policy *p = tu_policy(&es, 1);
    char *t = tu_pk(fx.ec, "SHA256", 0, 32, "{\"alg\":\"ES256\"}", "{}");
    char buf[1024];
    int rc;
    assert_int_equal(wsjwt_keyset_parse(fx.ec_spki_pem, fx.ec_spki_len, &set), 0);
    assert_int_equal(tu_verify(p, set, t, 0, NULL), 0);
    size_t base = (size_t)(strrchr(t, '.') - t) + 1;
    memcpy(buf, t, base);
    wsjwt__b64url_encode(sig, len, buf + base);
    rc = tu_verify(p, set, buf, 0, NULL);
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
    return rc;
}

/* The valid r || s of a fresh ES256 token over "{}". */
static void valid_rs(uint8_t rs[64])
{
    char *t = tu_pk(fx.ec, "SHA256", 0, 32, "{\"alg\":\"ES256\"}", "{}");
    size_t n = 0;
    const char *s = strrchr(t, '.') + 1;
    assert_int_equal(wsjwt__b64url_decode(s, strlen(s), rs, 64, &n), 0);
    assert_int_equal(n, 64);
    free(t);
}

static void test_ecdsa_der_signature(void **state)
{
    uint8_t rs[64], der[80];
    unsigned char *p = der;
    (void)state;
    valid_rs(rs);
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
    int n = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    assert_true(n > 0);
    /* the same (valid) signature, DER-encoded: refused */
    assert_int_equal(es256_with_sig(der, (size_t)n), WSJWT_EJWT_SIGNATURE);
}

static void test_ecdsa_wrong_lengths(void **state)
{
    uint8_t rs[66] = {0};
    (void)state;
    valid_rs(rs);
    assert_int_equal(es256_with_sig(rs, 63), WSJWT_EJWT_SIGNATURE);
    assert_int_equal(es256_with_sig(rs, 65), WSJWT_EJWT_SIGNATURE);
    assert_int_equal(es256_with_sig(rs, 32), WSJWT_EJWT_SIGNATURE);
    assert_int_equal(es256_with_sig(rs, 1), WSJWT_EJWT_SIGNATURE);
    /* and a 0x00-prefixed r (65 bytes, as a careless encoder might) */
    uint8_t pre[65] = {0};
    memcpy(pre + 1, rs, 64);
    assert_int_equal(es256_with_sig(pre, 65), WSJWT_EJWT_SIGNATURE);
}

static void test_ecdsa_r_zero(void **state)
{
    uint8_t rs[64];
    (void)state;
    valid_rs(rs);
    memset(rs, 0, 32);
    assert_int_equal(es256_with_sig(rs, 64), WSJWT_EJWT_SIGNATURE);
}

static void test_ecdsa_s_zero(void **state)
{
    uint8_t rs[64];
    (void)state;
    valid_rs(rs);
    memset(rs + 32, 0, 32);
    assert_int_equal(es256_with_sig(rs, 64), WSJWT_EJWT_SIGNATURE);
}

/* CVE-2022-21449 ("psychic signatures"): r = s = 0 verified anything. */
static void test_ecdsa_r_s_zero(void **state)
{
    uint8_t rs[64] = {0};
    (void)state;
    assert_int_equal(es256_with_sig(rs, 64), WSJWT_EJWT_SIGNATURE);
}

/* r or s equal to the group order n (or above): refused before verification;
 * r = n is the other spelling of r = 0. */
static void test_ecdsa_r_s_at_order(void **state)
{
    /* P-256 group order (SEC 2 2.4.2) */
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                  0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    uint8_t rs[64];
    (void)state;
    valid_rs(rs);
    memcpy(rs, n, 32);
    assert_int_equal(es256_with_sig(rs, 64), WSJWT_EJWT_SIGNATURE);
    valid_rs(rs);
    memcpy(rs + 32, n, 32);
    assert_int_equal(es256_with_sig(rs, 64), WSJWT_EJWT_SIGNATURE);
    memcpy(rs, n, 32);
    assert_int_equal(es256_with_sig(rs, 64), WSJWT_EJWT_SIGNATURE);
    memset(rs, 0xff, 64);
    assert_int_equal(es256_with_sig(rs, 64), WSJWT_EJWT_SIGNATURE);
}

/* A P-384 key is never an ES256 key: for verifying or for signing. */
static void test_p384_key_for_es256(void **state)
{
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    size_t n;
    char *pem = encode_key(p384, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", &n);
    char *priv = encode_key(p384, EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", &n);
    struct wsjwt_keyset *set = NULL;
    struct wsjwt_key *k = NULL;
    struct wsjwt_policy *p = all_algs();
    char *out = NULL;
    (void)state;
    assert_int_equal(wsjwt_keyset_parse(pem, strlen(pem), &set), 0);
    /* signed with SHA-256 by the P-384 key itself, labelled ES256 */
    char *t = tu_pk(p384, "SHA256", 0, 48, "{\"alg\":\"ES256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, 0, NULL), WSJWT_EJWT_KEY_TYPE);
    free(t);
    /* a real ES256 token from another key */
    t = tu_pk(fx.ec, "SHA256", 0, 32, "{\"alg\":\"ES256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, 0, NULL), WSJWT_EJWT_KEY_TYPE);
    free(t);
    assert_int_equal(wsjwt_key_parse(priv, strlen(priv), &k), 0);
    struct wsjwt_sign_opts so = {.alg = WSJWT_ALG_ES256};
    assert_int_equal(wsjwt_jwt_sign(k, &so, &out, NULL), WSJWT_EJWT_KEY_TYPE);
    so.alg = WSJWT_ALG_ES384;
    assert_int_equal(wsjwt_jwt_sign(k, &so, &out, NULL), 0);
    assert_int_equal(tu_verify(p, set, out, 0, NULL), 0);
    wsjwt_free(out);
    wsjwt_key_free(k);
    free(pem);
    free(priv);
    EVP_PKEY_free(p384);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* ---- header members that point at keys --------------------------------------- */

/* The attacker embeds their own public key as "jwk" and signs with it. */
static void test_embedded_jwk_header(void **state)
{
    EVP_PKEY *evil = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    size_t n;
    char *evil_pem = encode_key(evil, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", &n);
    struct wsjwt_key *ek = NULL;
    char *evil_jwk = NULL, hdr[1024];
    struct wsjwt_keyset *set = NULL;
    struct wsjwt_policy *p = all_algs();
    (void)state;
    assert_int_equal(wsjwt_key_parse(evil_pem, n, &ek), 0);
    assert_int_equal(wsjwt_key_public_jwk(ek, &evil_jwk, NULL), 0);
    assert_int_equal(wsjwt_keyset_parse(fx.ec_spki_pem, fx.ec_spki_len, &set), 0);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"jwk\":%s}", evil_jwk);
    char *t = tu_pk(evil, "SHA256", 0, 32, hdr, "{\"admin\":true}");
    assert_int_equal(tu_verify(p, set, t, 0, NULL), WSJWT_EJWT_SIGNATURE);
    free(t);
    /* with a kid of the attacker's choosing, when our keys have kids */
    wsjwt_keyset_unref(set);
    struct wsjwt_key *ours = NULL;
    assert_int_equal(wsjwt_key_parse(fx.ec_spki_pem, fx.ec_spki_len, &ours), 0);
    wsjwt_key_set_kid(ours, "ours");
    wsjwt_keyset_new(&set);
    wsjwt_keyset_add(set, ours);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"evil\",\"jwk\":%s}", evil_jwk);
    t = tu_pk(evil, "SHA256", 0, 32, hdr, "{\"admin\":true}");
    assert_int_equal(tu_verify(p, set, t, 0, NULL), WSJWT_EJWT_KID_UNKNOWN);
    free(t);
    wsjwt_free(evil_jwk);
    wsjwt_key_free(ek);
    free(evil_pem);
    EVP_PKEY_free(evil);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* jku and x5u point elsewhere: never fetched, never trusted. A token signed by
 * the attacker fails; a genuine token carrying them still verifies with our
 * key (the members are ignored). */
static void test_jku_x5u_header(void **state)
{
    EVP_PKEY *evil = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    struct wsjwt_keyset *set = NULL;
    struct wsjwt_policy *p = all_algs();
    static const char *const hdrs[] = {
        "{\"alg\":\"ES256\",\"jku\":\"https://attacker.invalid/jwks.json\"}",
        "{\"alg\":\"ES256\",\"x5u\":\"https://attacker.invalid/cert.pem\"}",
        "{\"alg\":\"ES256\",\"jku\":\"file:///etc/passwd\",\"kid\":\"../../etc/passwd\"}",
    };
    (void)state;
    assert_int_equal(wsjwt_keyset_parse(fx.ec_spki_pem, fx.ec_spki_len, &set), 0);
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        char *t = tu_pk(evil, "SHA256", 0, 32, hdrs[i], "{}");
        assert_int_equal(tu_verify(p, set, t, 0, NULL), WSJWT_EJWT_SIGNATURE);
        free(t);
        t = tu_pk(fx.ec, "SHA256", 0, 32, hdrs[i], "{}");
        assert_int_equal(tu_verify(p, set, t, 0, NULL), 0);
        free(t);
    }
    EVP_PKEY_free(evil);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* x5c carries the attacker's certificate: ignored. */
static void test_x5c_header(void **state)
{
    EVP_PKEY *evil = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    unsigned char *der = NULL;
    struct wsjwt_keyset *set = NULL;
    struct wsjwt_policy *p = all_algs();
    char hdr[2048];
    (void)state;
    X509_set_version(x, 2);
    X509_set_pubkey(x, evil);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_sign(x, evil, EVP_sha256());
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    /* x5c is standard base64 (RFC 7515 4.1.6) */
    char *b64 = malloc(wsjwt__b64_encoded_len((size_t)n) + 1);
    wsjwt__b64_encode(der, (size_t)n, b64);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"x5c\":[\"%s\"]}", b64);
    assert_int_equal(wsjwt_keyset_parse(fx.ec_spki_pem, fx.ec_spki_len, &set), 0);
    char *t = tu_pk(evil, "SHA256", 0, 32, hdr, "{}");
    assert_int_equal(tu_verify(p, set, t, 0, NULL), WSJWT_EJWT_SIGNATURE);
    free(t);
    free(b64);
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(evil);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* ---- kid ------------------------------------------------------------------------ */

static int kid_case(const char *kid_json)
{
    struct wsjwt_key *k = NULL;
    struct wsjwt_keyset *set = NULL;
    char *hdr = malloc(strlen(kid_json) + 64);
    int rc;
    assert_int_equal(wsjwt_key_parse(fx.rsa_spki_pem, fx.rsa_spki_len, &k), 0);
    wsjwt_key_set_kid(k, "key-1");
    wsjwt_keyset_new(&set);
    wsjwt_keyset_add(set, k);
    sprintf(hdr, "{\"alg\":\"RS256\",\"kid\":%s}", kid_json);
    char *t = tu_pk(fx.rsa, "SHA256", 0, 0, hdr, "{}");
    enum wsjwt_alg rs = WSJWT_ALG_RS256;
    struct wsjwt_policy *big = NULL;
    struct wsjwt_policy_opts bo = {.algs = &rs, .n_algs = 1, .max_token_len = 65536};
    assert_int_equal(wsjwt_policy_new(&bo, &big), 0);
    struct wsjwt_jwt_error err;
    rc = tu_verify(big, set, t, 0, &err);
    assert_true(strlen(err.member) < sizeof(err.member));
    free(t);
    free(hdr);
    wsjwt_policy_free(big);
    wsjwt_keyset_unref(set);
    return rc;
}

static void test_kid_path_traversal(void **state)
{
    (void)state;
    assert_int_equal(kid_case("\"key-1\""), 0);
    assert_int_equal(kid_case("\"../key-1\""), WSJWT_EJWT_KID_UNKNOWN);
    assert_int_equal(kid_case("\"../../../../dev/null\""), WSJWT_EJWT_KID_UNKNOWN);
    assert_int_equal(kid_case("\"key-1/../key-1\""), WSJWT_EJWT_KID_UNKNOWN);
    assert_int_equal(kid_case("\"/etc/passwd\""), WSJWT_EJWT_KID_UNKNOWN);
}

static void test_kid_quotes_and_injection(void **state)
{
    (void)state;
    assert_int_equal(kid_case("\"\\\"key-1\\\"\""), WSJWT_EJWT_KID_UNKNOWN);
    assert_int_equal(kid_case("\"key-1' OR '1'='1\""), WSJWT_EJWT_KID_UNKNOWN);
    assert_int_equal(kid_case("\"key-1\\u0000\""), WSJWT_EJWT_JSON); /* NUL refused by the JSON parser */
    assert_int_equal(kid_case("\"KEY-1\""), WSJWT_EJWT_KID_UNKNOWN);
    assert_int_equal(kid_case("[\"key-1\"]"), WSJWT_EJWT_MALFORMED);
    assert_int_equal(kid_case("null"), WSJWT_EJWT_MALFORMED);
}

static void test_kid_10kb(void **state)
{
    char *kid = malloc(10 * 1024 + 3);
    (void)state;
    kid[0] = '"';
    memset(kid + 1, 'k', 10 * 1024);
    strcpy(kid + 1 + 10 * 1024, "\"");
    assert_int_equal(kid_case(kid), WSJWT_EJWT_KID_UNKNOWN);
    free(kid);
}

/* ---- weak RSA ------------------------------------------------------------------ */

static void test_rsa_1024_refused(void **state)
{
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    size_t n;
    char *pem = encode_key(small, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", &n);
    char *priv = encode_key(small, EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", &n);
    char *der = encode_key(small, EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo", &n);
    size_t der_len = n;
    struct wsjwt_key *k = NULL;
    struct wsjwt_keyset *set = NULL;
    (void)state;
    assert_int_equal(wsjwt_key_parse(pem, strlen(pem), &k), WSJWT_EJWT_WEAK_KEY);
    assert_int_equal(wsjwt_key_parse(priv, strlen(priv), &k), WSJWT_EJWT_WEAK_KEY);
    assert_int_equal(wsjwt_key_parse(der, der_len, &k), WSJWT_EJWT_WEAK_KEY);
    assert_int_equal(wsjwt_keyset_parse(pem, strlen(pem), &set), WSJWT_EJWT_WEAK_KEY);
    assert_null(k);
    assert_null(set);
    /* 2047 bits: still refused; 2048 accepted (in the other tests) */
    EVP_PKEY *b2047 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2047);
    char *p2047 = encode_key(b2047, EVP_PKEY_PUBLIC_KEY, "PEM", "SubjectPublicKeyInfo", &n);
    assert_int_equal(wsjwt_key_parse(p2047, strlen(p2047), &k), WSJWT_EJWT_WEAK_KEY);
    free(p2047);
    EVP_PKEY_free(b2047);
    free(pem);
    free(priv);
    free(der);
    EVP_PKEY_free(small);
}

/* An RSA public exponent of 1 (no encryption at all) is refused. */
static void test_rsa_exponent_one(void **state)
{
    struct wsjwt_key *k = NULL;
    char *jwk = strdup(fx.rsa_jwk);
    char *e = strstr(jwk, "\"e\":\"AQAB\"");
    (void)state;
    assert_non_null(e);
    memcpy(e, "\"e\":\"AQ==\"", 10); /* "AQ==" is not base64url: KEY_FORMAT too */
    assert_int_equal(wsjwt_key_parse(jwk, strlen(jwk), &k), WSJWT_EJWT_KEY_FORMAT);
    memcpy(e, "\"e\":\"AAAB\"", 10); /* e = 1 with a leading zero byte */
    assert_int_equal(wsjwt_key_parse(jwk, strlen(jwk), &k), WSJWT_EJWT_KEY_FORMAT);
    free(jwk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none_and_case_variants),
        cmocka_unit_test(test_confusion_rsa_spki_pem),
        cmocka_unit_test(test_confusion_rsa_spki_pem_no_trailing_newline),
        cmocka_unit_test(test_confusion_rsa_pem_leading_whitespace),
        cmocka_unit_test(test_confusion_rsa_pkcs1_pem),
        cmocka_unit_test(test_confusion_rsa_der),
        cmocka_unit_test(test_confusion_rsa_jwk),
        cmocka_unit_test(test_confusion_ec_pem),
        cmocka_unit_test(test_pem_as_secret_refused),
        cmocka_unit_test(test_empty_hmac_key),
        cmocka_unit_test(test_rs512_under_rs256_policy),
        cmocka_unit_test(test_ecdsa_der_signature),
        cmocka_unit_test(test_ecdsa_wrong_lengths),
        cmocka_unit_test(test_ecdsa_r_zero),
        cmocka_unit_test(test_ecdsa_s_zero),
        cmocka_unit_test(test_ecdsa_r_s_zero),
        cmocka_unit_test(test_ecdsa_r_s_at_order),
        cmocka_unit_test(test_p384_key_for_es256),
        cmocka_unit_test(test_embedded_jwk_header),
        cmocka_unit_test(test_jku_x5u_header),
        cmocka_unit_test(test_x5c_header),
        cmocka_unit_test(test_kid_path_traversal),
        cmocka_unit_test(test_kid_quotes_and_injection),
        cmocka_unit_test(test_kid_10kb),
        cmocka_unit_test(test_rsa_1024_refused),
        cmocka_unit_test(test_rsa_exponent_one),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
