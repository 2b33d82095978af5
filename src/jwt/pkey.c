/* Public-key algorithms (RFC 7518 3.3-3.5, RFC 8037) and key loading: PEM,
 * DER, X.509 certificates, JWK and JWKS (RFC 7517), detected from content.
 *
 * The key type is bound at load time from the key object (never from the
 * token, never guessed from bytes at verification), and every imported
 * public key is validated before it can be used. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base/b64.h"
#include "jwt/jwt_internal.h"

/* RFC 7518 3.3 and 3.5: "a key of size 2048 bits or larger MUST be used". */
#define MIN_RSA_BITS 2048
/* Moduli above 8192 bits would make signatures longer than WSJWT__MAX_SIG. */
#define MAX_RSA_BITS 8192

/* ---- sign and verify ----------------------------------------------------- */

/* Sets up a DigestSign/DigestVerify context for alg. */
static int init_ctx(EVP_MD_CTX *ctx, const struct wsjwt_key *key, enum wsjwt_alg alg, int sign)
{
    EVP_PKEY_CTX *pctx = NULL;
    const char *md = wsjwt__alg_md_name(alg);
    int ok = sign ? EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, key->pkey, NULL)
                  : EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, key->pkey, NULL);
    if (ok != 1)
        return WSJWT_ECRYPTO;
    if (wsjwt__alg_family(alg) == FAM_PS) {
        /* RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash.
         * RSA_PSS_SALTLEN_DIGEST on verification requires exactly that. */
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, md, NULL) != 1)
            return WSJWT_ECRYPTO;
    } else if (wsjwt__alg_family(alg) == FAM_RS) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
            return WSJWT_ECRYPTO;
    }
    return 0;
}

/* RFC 7518 3.4: the JOSE ECDSA signature is r || s, each exactly the size of
 * the curve's coordinates. Checked here, before any conversion: a DER
 * signature, any other length, and r or s outside [1, n-1] are refused
 * without reaching the library (CVE-2022-21449 accepted r = s = 0). */
static int ecdsa_jose_to_der(const struct wsjwt_key *key, const uint8_t *sig, size_t sig_len, uint8_t *der,
                             size_t *der_len)
{
    size_t c = key->ec_coord_len;
    static const uint8_t zero[66];
    ECDSA_SIG *es;
    BIGNUM *r, *s;
    unsigned char *p = der;
    int n;
    if (sig_len != 2 * c)
        return WSJWT_EJWT_SIGNATURE;
    for (int i = 0; i < 2; i++) {
        const uint8_t *v = sig + (size_t)i * c;
        if (memcmp(v, zero, c) == 0 || memcmp(v, key->ec_order, c) >= 0)
            return WSJWT_EJWT_SIGNATURE;
    }
    if (!(es = ECDSA_SIG_new()))
        return WSJWT_ENOMEM;
    r = BN_bin2bn(sig, (int)c, NULL);
    s = BN_bin2bn(sig + c, (int)c, NULL);
    if (!r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return WSJWT_ENOMEM;
    }
    n = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    if (n <= 0)
        return WSJWT_ECRYPTO;
    *der_len = (size_t)n;
    return 0;
}

int wsjwt__pkey_verify(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                       const uint8_t *sig, size_t sig_len)
{
    uint8_t der[160]; /* a DER ECDSA-Sig-Value for P-521 is at most 139 bytes */
    EVP_MD_CTX *ctx;
    int rc;
    if (!key->pkey)
        return WSJWT_EJWT_KEY_TYPE;
    switch (wsjwt__alg_family(alg)) {
    case FAM_ES:
        if ((rc = ecdsa_jose_to_der(key, sig, sig_len, der, &sig_len)) != 0)
            return rc;
        sig = der;
        break;
    case FAM_RS:
    case FAM_PS:
        /* RFC 8017 8.2.2 / 8.1.2: the signature is exactly the modulus size. */
        if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey))
            return WSJWT_EJWT_SIGNATURE;
        break;
    case FAM_ED:
        if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey))
            return WSJWT_EJWT_SIGNATURE;
        break;
    default:
        return WSJWT_EJWT_KEY_TYPE;
    }
    if (!(ctx = EVP_MD_CTX_new()))
        return WSJWT_ENOMEM;
    if ((rc = init_ctx(ctx, key, alg, 0)) == 0)
        rc = EVP_DigestVerify(ctx, sig, sig_len, input, len) == 1 ? 0 : WSJWT_EJWT_SIGNATURE;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

int wsjwt__pkey_sign(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                     uint8_t *sig, size_t *sig_len)
{
    uint8_t der[160];
    size_t n = sizeof(der);
    EVP_MD_CTX *ctx;
    int rc;
    if (!key->pkey || !key->has_private)
        return WSJWT_EJWT_KEY_TYPE;
    if (!(ctx = EVP_MD_CTX_new()))
        return WSJWT_ENOMEM;
    if ((rc = init_ctx(ctx, key, alg, 1)) != 0)
        goto out;
    if (wsjwt__alg_family(alg) == FAM_ES) {
        /* DER from OpenSSL, converted to the fixed-width JOSE form. */
        const unsigned char *p = der;
        ECDSA_SIG *es = NULL;
        const BIGNUM *r, *s;
        int c = (int)key->ec_coord_len;
        rc = WSJWT_ECRYPTO;
        if (EVP_DigestSign(ctx, der, &n, input, len) != 1 || !(es = d2i_ECDSA_SIG(NULL, &p, (long)n)))
            goto out;
        ECDSA_SIG_get0(es, &r, &s);
        if (BN_bn2binpad(r, sig, c) == c && BN_bn2binpad(s, sig + c, c) == c) {
            *sig_len = 2 * (size_t)c;
            rc = 0;
        }
        ECDSA_SIG_free(es);
    } else {
        n = WSJWT__MAX_SIG;
        rc = EVP_DigestSign(ctx, sig, &n, input, len) == 1 ? 0 : WSJWT_ECRYPTO;
        *sig_len = n;
    }
out:
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

void wsjwt__pkey_free(struct wsjwt_key *key)
{
    EVP_PKEY_free(key->pkey);
    key->pkey = NULL;
}

/* ---- adopting an EVP_PKEY --------------------------------------------------- */

static int pkey_has_private(EVP_PKEY *pkey)
{
    BIGNUM *bn = NULL;
    size_t n = 0;
    int r = 0;
    if (EVP_PKEY_is_a(pkey, "RSA"))
        r = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &bn) == 1;
    else if (EVP_PKEY_is_a(pkey, "EC"))
        r = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1;
    else
        r = EVP_PKEY_get_raw_private_key(pkey, NULL, &n) == 1 && n > 0;
    BN_clear_free(bn);
    ERR_clear_error();
    return r;
}

/* RSA public key sanity (RFC 8017 3.1, SP 800-56B 6.4.2.2 in its
 * deterministic parts): n odd; e odd, 3 <= e < 2^256 and e < n. */
static int rsa_sane(EVP_PKEY *pkey)
{
    BIGNUM *n = NULL, *e = NULL;
    int ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
             EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(n) && BN_is_odd(e) &&
             !BN_is_one(e) && BN_num_bits(e) <= 256 && BN_cmp(e, n) < 0;
    BN_free(n);
    BN_free(e);
    return ok;
}

/* Validates the key and binds its type; takes ownership of pkey. */
static int adopt(EVP_PKEY *pkey, struct wsjwt_key **out)
{
    struct wsjwt_key *k = NULL;
    EVP_PKEY_CTX *check = NULL;
    int rc = WSJWT_EUNSUPPORTED;
    *out = NULL;
    if (!(k = wsjwt__key_alloc())) {
        EVP_PKEY_free(pkey);
        return WSJWT_ENOMEM;
    }
    k->pkey = pkey;
    k->has_private = pkey_has_private(pkey);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        k->type = WSJWT_KEY_RSA;
        if (bits < MIN_RSA_BITS) {
            rc = WSJWT_EJWT_WEAK_KEY;
            goto fail;
        }
        if (bits > MAX_RSA_BITS)
            goto fail;
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        size_t glen = 0;
        int nid;
        EC_GROUP *g;
        BIGNUM *order;
        k->type = WSJWT_KEY_EC;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) !=
            1)
            goto fail; /* explicit curve parameters: refused */
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            k->ec_alg = WSJWT_ALG_ES256;
            k->ec_coord_len = 32;
        } else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            k->ec_alg = WSJWT_ALG_ES384;
            k->ec_coord_len = 48;
        } else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0) {
            k->ec_alg = WSJWT_ALG_ES512;
            k->ec_coord_len = 66;
        } else {
            goto fail;
        }
        nid = OBJ_txt2nid(group);
        if (nid == NID_undef || !(g = EC_GROUP_new_by_curve_name(nid))) {
            rc = WSJWT_ECRYPTO;
            goto fail;
        }
        order = BN_dup(EC_GROUP_get0_order(g));
        EC_GROUP_free(g);
        if (!order || BN_bn2binpad(order, k->ec_order, (int)k->ec_coord_len) != (int)k->ec_coord_len) {
            BN_free(order);
            rc = WSJWT_ECRYPTO;
            goto fail;
        }
        BN_free(order);
    } else if (EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_is_a(pkey, "ED448")) {
        k->type = WSJWT_KEY_OKP;
        k->ec_alg = WSJWT_ALG_EDDSA;
    } else {
        goto fail; /* DSA, X25519, RSA-PSS-restricted keys, ... */
    }
    rc = WSJWT_EJWT_KEY_FORMAT;
    if (k->type == WSJWT_KEY_RSA) {
        /* Deterministic checks only: OpenSSL's RSA public check runs a
         * randomised primality test on n, so the same key could load on one
         * run and not on the next. */
        if (!rsa_sane(pkey))
            goto fail;
    } else if (k->type == WSJWT_KEY_EC) {
        /* The point is on the curve and not at infinity. */
        if (!(check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) || EVP_PKEY_public_check(check) != 1)
            goto fail;
    }
    EVP_PKEY_CTX_free(check);
    ERR_clear_error();
    *out = k;
    return 0;
fail:
    EVP_PKEY_CTX_free(check);
    ERR_clear_error();
    wsjwt_key_free(k);
    return rc;
}

/* ---- PEM and DER ---------------------------------------------------------------- */

static const char *find_mem(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

static int decode_pkey(const unsigned char *data, size_t len, const char *input_type, EVP_PKEY **out)
{
    OSSL_DECODER_CTX *dctx;
    EVP_PKEY *pkey = NULL;
    const unsigned char *p = data;
    size_t l = len;
    int ok;
    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, input_type, NULL, NULL, 0, NULL, NULL);
    if (!dctx)
        return WSJWT_ECRYPTO;
    ok = OSSL_DECODER_from_data(dctx, &p, &l) == 1 && pkey != NULL;
    OSSL_DECODER_CTX_free(dctx);
    ERR_clear_error();
    if (!ok) {
        EVP_PKEY_free(pkey);
        return WSJWT_EJWT_KEY_FORMAT;
    }
    *out = pkey;
    return 0;
}

static int from_cert(const unsigned char *data, size_t len, int pem, EVP_PKEY **out)
{
    X509 *x = NULL;
    if (pem) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        if (!b)
            return WSJWT_ENOMEM;
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const unsigned char *p = data;
        x = d2i_X509(NULL, &p, (long)len);
    }
    ERR_clear_error();
    if (!x)
        return WSJWT_EJWT_KEY_FORMAT;
    *out = X509_get_pubkey(x);
    X509_free(x);
    return *out ? 0 : WSJWT_EJWT_KEY_FORMAT;
}

/* The first PEM block that holds a key or a certificate. Encrypted private
 * keys are refused (there is no passphrase to give). */
static int from_pem(const char *text, size_t len, EVP_PKEY **out)
{
    const char *p = text, *end = text + len;
    while ((p = find_mem(p, (size_t)(end - p), "-----BEGIN ")) != NULL) {
        const char *label = p + 11, *eol = memchr(label, '-', (size_t)(end - label));
        const char *stop;
        size_t llen;
        if (!eol)
            break;
        llen = (size_t)(eol - label);
        stop = find_mem(eol, (size_t)(end - eol), "-----END ");
        if (!stop)
            break;
        stop = memchr(stop + 9, '\n', (size_t)(end - stop - 9));
        stop = stop ? stop + 1 : end;
#define IS(l) (llen == sizeof(l) - 1 && memcmp(label, l, llen) == 0)
        if (IS("CERTIFICATE"))
            return from_cert((const unsigned char *)p, (size_t)(stop - p), 1, out);
        if (IS("ENCRYPTED PRIVATE KEY"))
            return WSJWT_EUNSUPPORTED;
        if (IS("PUBLIC KEY") || IS("RSA PUBLIC KEY") || IS("PRIVATE KEY") || IS("RSA PRIVATE KEY") ||
            IS("EC PRIVATE KEY"))
            return decode_pkey((const unsigned char *)p, (size_t)(stop - p), "PEM", out);
#undef IS
        p = stop; /* "EC PARAMETERS" and others: skip */
    }
    return WSJWT_EJWT_KEY_FORMAT;
}

/* ---- JWK ------------------------------------------------------------------------- */

/* A base64url member decoded into new memory. */
static int jwk_bytes(const json_t *jwk, const char *name, uint8_t **out, size_t *len)
{
    const json_t *v = json_object_get(jwk, name);
    const char *s;
    size_t n;
    *out = NULL;
    *len = 0;
    if (!v)
        return WSJWT_ENOENT;
    if (!json_is_string(v))
        return WSJWT_EJWT_KEY_FORMAT;
    s = json_string_value(v);
    n = json_string_length(v);
    if (n == 0 || !(*out = malloc(wsjwt__b64url_decoded_len(n) + 1)))
        return n == 0 ? WSJWT_EJWT_KEY_FORMAT : WSJWT_ENOMEM;
    if (wsjwt__b64url_decode(s, n, *out, wsjwt__b64url_decoded_len(n) + 1, len) != 0) {
        free(*out);
        *out = NULL;
        return WSJWT_EJWT_KEY_FORMAT;
    }
    return 0;
}

static void wipe_free(uint8_t *p, size_t n)
{
    if (p) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

static int fromdata(const char *type, OSSL_PARAM_BLD *bld, int selection, EVP_PKEY **out)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    int rc = WSJWT_EJWT_KEY_FORMAT;
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, out, selection, params) == 1)
        rc = 0;
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

static int push_bn(OSSL_PARAM_BLD *bld, const json_t *jwk, const char *member, const char *param,
                   int required, BIGNUM **keep)
{
    uint8_t *b;
    size_t n;
    int rc = jwk_bytes(jwk, member, &b, &n);
    if (rc == WSJWT_ENOENT)
        return required ? WSJWT_EJWT_KEY_FORMAT : WSJWT_ENOENT;
    if (rc)
        return rc;
    *keep = BN_bin2bn(b, (int)n, NULL);
    wipe_free(b, n);
    if (!*keep || !OSSL_PARAM_BLD_push_BN(bld, param, *keep))
        return WSJWT_ENOMEM;
    return 0;
}

static int jwk_rsa(const json_t *jwk, EVP_PKEY **out)
{
    static const char *const priv[][2] = {
        {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
        {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
        {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
    };
    BIGNUM *bn[8] = {0};
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    int rc, selection = EVP_PKEY_PUBLIC_KEY;
    if (!bld)
        return WSJWT_ENOMEM;
    if ((rc = push_bn(bld, jwk, "n", OSSL_PKEY_PARAM_RSA_N, 1, &bn[0])) ||
        (rc = push_bn(bld, jwk, "e", OSSL_PKEY_PARAM_RSA_E, 1, &bn[1])))
        goto out;
    if (json_object_get(jwk, "d")) {
        /* A private JWK: all CRT members are required (RFC 7518 6.3.2 allows
         * omitting them; OpenSSL signs with the CRT form). */
        for (int i = 0; i < 6; i++)
            if ((rc = push_bn(bld, jwk, priv[i][0], priv[i][1], 1, &bn[2 + i])) != 0)
                goto out;
        selection = EVP_PKEY_KEYPAIR;
    }
    rc = fromdata("RSA", bld, selection, out);
out:
    for (int i = 0; i < 8; i++)
        BN_clear_free(bn[i]);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

static int jwk_ec(const json_t *jwk, EVP_PKEY **out)
{
    static const struct {
        const char *crv, *group;
        size_t len;
    } curves[] = {{"P-256", "prime256v1", 32}, {"P-384", "secp384r1", 48}, {"P-521", "secp521r1", 66}};
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    uint8_t *x = NULL, *y = NULL, *d = NULL, pub[1 + 2 * 66];
    size_t xn, yn, dn = 0, c = 0;
    const char *group = NULL;
    BIGNUM *priv = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    int rc;
    for (size_t i = 0; crv && i < 3; i++)
        if (strcmp(crv, curves[i].crv) == 0) {
            group = curves[i].group;
            c = curves[i].len;
        }
    if (!group)
        return WSJWT_EUNSUPPORTED; /* secp256k1, or no crv */
    if ((rc = jwk_bytes(jwk, "x", &x, &xn)) || (rc = jwk_bytes(jwk, "y", &y, &yn)))
        goto out;
    /* RFC 7518 6.2.1.2: x and y are exactly the coordinate size. */
    rc = WSJWT_EJWT_KEY_FORMAT;
    if (xn != c || yn != c)
        goto out;
    pub[0] = 0x04;
    memcpy(pub + 1, x, c);
    memcpy(pub + 1 + c, y, c);
    rc = jwk_bytes(jwk, "d", &d, &dn);
    if (rc && rc != WSJWT_ENOENT)
        goto out;
    if (d && dn != c) {
        rc = WSJWT_EJWT_KEY_FORMAT;
        goto out;
    }
    rc = WSJWT_ENOMEM;
    if (!(bld = OSSL_PARAM_BLD_new()) ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * c))
        goto out;
    if (d && (!(priv = BN_bin2bn(d, (int)dn, NULL)) ||
              !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)))
        goto out;
    rc = fromdata("EC", bld, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, out);
out:
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    free(x);
    free(y);
    wipe_free(d, dn);
    return rc;
}

static int jwk_okp(const json_t *jwk, EVP_PKEY **out)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    uint8_t *x = NULL, *d = NULL;
    size_t xn, dn = 0, want;
    const char *type;
    int rc;
    if (crv && strcmp(crv, "Ed25519") == 0) {
        type = "ED25519";
        want = 32;
    } else if (crv && strcmp(crv, "Ed448") == 0) {
        type = "ED448";
        want = 57;
    } else {
        return WSJWT_EUNSUPPORTED; /* X25519 and X448 are not signature keys */
    }
    if ((rc = jwk_bytes(jwk, "x", &x, &xn)) != 0)
        goto out;
    rc = jwk_bytes(jwk, "d", &d, &dn);
    if (rc && rc != WSJWT_ENOENT)
        goto out;
    rc = WSJWT_EJWT_KEY_FORMAT;
    if (xn != want || (d && dn != want))
        goto out;
    if (d) {
        *out = EVP_PKEY_new_raw_private_key_ex(NULL, type, NULL, d, dn);
        /* The public half must be the one derived from d. */
        if (*out) {
            uint8_t derived[57];
            size_t n = sizeof(derived);
            if (EVP_PKEY_get_raw_public_key(*out, derived, &n) != 1 || n != xn ||
                memcmp(derived, x, xn) != 0) {
                EVP_PKEY_free(*out);
                *out = NULL;
            }
        }
    } else {
        *out = EVP_PKEY_new_raw_public_key_ex(NULL, type, NULL, x, xn);
    }
    rc = *out ? 0 : WSJWT_EJWT_KEY_FORMAT;
out:
    ERR_clear_error();
    free(x);
    wipe_free(d, dn);
    return rc;
}

/* RFC 7517 4.2 and 4.3: "use" other than "sig", or "key_ops" without
 * "verify"/"sign", remove those uses. */
static int jwk_uses(const json_t *jwk, unsigned *uses)
{
    const json_t *use = json_object_get(jwk, "use"), *ops = json_object_get(jwk, "key_ops");
    *uses = WSJWT__USE_SIGN | WSJWT__USE_VERIFY;
    if (use) {
        if (!json_is_string(use))
            return WSJWT_EJWT_KEY_FORMAT;
        if (strcmp(json_string_value(use), "sig") != 0)
            *uses = 0;
    }
    if (ops) {
        size_t i;
        const json_t *op;
        unsigned allowed = 0;
        if (!json_is_array(ops))
            return WSJWT_EJWT_KEY_FORMAT;
        json_array_foreach(ops, i, op)
        {
            if (!json_is_string(op))
                return WSJWT_EJWT_KEY_FORMAT;
            if (strcmp(json_string_value(op), "verify") == 0)
                allowed |= WSJWT__USE_VERIFY;
            else if (strcmp(json_string_value(op), "sign") == 0)
                allowed |= WSJWT__USE_SIGN;
        }
        *uses &= allowed;
    }
    return 0;
}

static int key_from_jwk(const json_t *jwk, struct wsjwt_key **out)
{
    const json_t *kty = json_object_get(jwk, "kty"), *kid = json_object_get(jwk, "kid"),
                 *alg = json_object_get(jwk, "alg");
    const char *t;
    EVP_PKEY *pkey = NULL;
    struct wsjwt_key *k = NULL;
    unsigned uses;
    int rc;
    *out = NULL;
    if (!json_is_object(jwk) || !json_is_string(kty) || (kid && !json_is_string(kid)) ||
        (alg && !json_is_string(alg)))
        return WSJWT_EJWT_KEY_FORMAT;
    if ((rc = jwk_uses(jwk, &uses)) != 0)
        return rc;
    t = json_string_value(kty);
    if (strcmp(t, "oct") == 0) {
        uint8_t *s;
        size_t n;
        if ((rc = jwk_bytes(jwk, "k", &s, &n)) != 0)
            return rc == WSJWT_ENOENT ? WSJWT_EJWT_KEY_FORMAT : rc;
        rc = wsjwt_key_from_secret(s, n, &k);
        wipe_free(s, n);
    } else {
        if (strcmp(t, "RSA") == 0)
            rc = jwk_rsa(jwk, &pkey);
        else if (strcmp(t, "EC") == 0)
            rc = jwk_ec(jwk, &pkey);
        else if (strcmp(t, "OKP") == 0)
            rc = jwk_okp(jwk, &pkey);
        else
            rc = WSJWT_EUNSUPPORTED;
        if (rc == 0)
            rc = adopt(pkey, &k);
    }
    if (rc)
        return rc == WSJWT_ENOENT ? WSJWT_EJWT_KEY_FORMAT : rc; /* a required member is missing */
    k->uses = uses;
    if (alg) {
        /* An alg we do not know (RSA-OAEP, ES256K...) or one that does not fit
         * the key makes the key unusable for us. */
        enum wsjwt_alg a;
        if (wsjwt_alg_from_name(json_string_value(alg), json_string_length(alg), &a) != 0 ||
            wsjwt_key_set_alg(k, a) != 0) {
            wsjwt_key_free(k);
            return WSJWT_EUNSUPPORTED;
        }
    }
    if (kid && (rc = wsjwt_key_set_kid(k, json_string_value(kid))) != 0) {
        wsjwt_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

static int load_json(const char *text, size_t len, json_t **out)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return WSJWT_EJWT_KEY_FORMAT;
    }
    *out = j;
    return 0;
}

/* ---- detection -------------------------------------------------------------------- */

enum format { FMT_UNKNOWN, FMT_JSON, FMT_PEM, FMT_DER };

static enum format detect(const char *data, size_t len, size_t *skip)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)data[i]))
        i++;
    *skip = i;
    if (i < len && data[i] == '{')
        return FMT_JSON;
    if (find_mem(data + i, len - i, "-----BEGIN "))
        return FMT_PEM;
    /* DER: one SEQUENCE whose encoded length spans the whole input. */
    if (i == 0 && len > 2 && (uint8_t)data[0] == 0x30) {
        const uint8_t *d = (const uint8_t *)data;
        size_t total = 0, nlen = d[1] & 0x7f;
        if (!(d[1] & 0x80)) {
            total = 2 + (size_t)d[1];
        } else if (nlen >= 1 && nlen <= 3 && len > 2 + nlen) {
            for (size_t k = 0; k < nlen; k++)
                total = total << 8 | d[2 + k];
            total += 2 + nlen;
        }
        if (total == len)
            return FMT_DER;
    }
    return FMT_UNKNOWN;
}

static int parse_one(const char *data, size_t len, json_t **jwks, struct wsjwt_key **out)
{
    size_t skip;
    EVP_PKEY *pkey = NULL;
    int rc;
    *out = NULL;
    if (!data || len == 0)
        return WSJWT_EJWT_KEY_FORMAT;
    if (len > (jwks ? (size_t)WSJWT_KEYSET_MAX_TEXT : (size_t)WSJWT_KEY_MAX_TEXT))
        return WSJWT_ETOOBIG;
    switch (detect(data, len, &skip)) {
    case FMT_JSON: {
        json_t *j;
        if ((rc = load_json(data + skip, len - skip, &j)) != 0)
            return rc;
        if (json_object_get(j, "keys")) {
            if (jwks) {
                *jwks = j;
                return 0;
            }
            json_decref(j);
            return WSJWT_EJWT_KEY_FORMAT; /* a key set where one key was expected */
        }
        rc = key_from_jwk(j, out);
        json_decref(j);
        return rc;
    }
    case FMT_PEM:
        rc = from_pem(data, len, &pkey);
        break;
    case FMT_DER:
        rc = decode_pkey((const unsigned char *)data, len, "DER", &pkey);
        if (rc == WSJWT_EJWT_KEY_FORMAT)
            rc = from_cert((const unsigned char *)data, len, 0, &pkey);
        break;
    default:
        return WSJWT_EJWT_KEY_FORMAT;
    }
    return rc ? rc : adopt(pkey, out);
}

int wsjwt_key_parse(const void *data, size_t len, struct wsjwt_key **out)
{
    if (!out)
        return WSJWT_EINVAL;
    return parse_one(data, len, NULL, out);
}

int wsjwt_keyset_parse(const void *data, size_t len, struct wsjwt_keyset **out)
{
    json_t *jwks = NULL, *keys;
    struct wsjwt_key *k = NULL;
    struct wsjwt_keyset *set = NULL;
    int rc;
    if (!out)
        return WSJWT_EINVAL;
    *out = NULL;
    if ((rc = parse_one(data, len, &jwks, &k)) != 0)
        return rc;
    if ((rc = wsjwt_keyset_new(&set)) != 0) {
        wsjwt_key_free(k);
        json_decref(jwks);
        return rc;
    }
    if (k) {
        if ((rc = wsjwt_keyset_add(set, k)) != 0)
            goto fail;
        *out = set;
        return 0;
    }
    keys = json_object_get(jwks, "keys");
    rc = WSJWT_EJWT_KEY_FORMAT;
    if (!json_is_array(keys))
        goto fail;
    if (json_array_size(keys) > WSJWT_KEYSET_MAX_KEYS) {
        rc = WSJWT_ETOOBIG;
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(keys); i++) {
        /* RFC 7517 5: keys of a kty or curve we do not implement, and keys not
         * meant for signatures, are skipped; a malformed key fails the set. */
        rc = key_from_jwk(json_array_get(keys, i), &k);
        if (rc == WSJWT_EUNSUPPORTED)
            continue;
        if (rc)
            goto fail;
        if (!(k->uses & WSJWT__USE_VERIFY)) {
            wsjwt_key_free(k);
            continue;
        }
        if ((rc = wsjwt_keyset_add(set, k)) != 0)
            goto fail;
    }
    json_decref(jwks);
    if (set->n == 0) {
        wsjwt_keyset_unref(set);
        return WSJWT_EJWT_KEY_FORMAT;
    }
    *out = set;
    return 0;
fail:
    json_decref(jwks);
    wsjwt_keyset_unref(set);
    return rc;
}

/* ---- generation ---------------------------------------------------------------------- */

int wsjwt_key_generate(enum wsjwt_alg alg, struct wsjwt_key **out)
{
    EVP_PKEY *pkey = NULL;
    int rc;
    if (!out)
        return WSJWT_EINVAL;
    *out = NULL;
    switch (wsjwt__alg_family(alg)) {
    case FAM_HS: {
        uint8_t secret[64];
        size_t n = wsjwt__alg_hash_len(alg);
        if (RAND_bytes(secret, (int)n) != 1)
            return WSJWT_ECRYPTO;
        rc = wsjwt_key_from_secret(secret, n, out);
        OPENSSL_cleanse(secret, sizeof(secret));
        return rc;
    }
    case FAM_RS:
    case FAM_PS:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)MIN_RSA_BITS);
        break;
    case FAM_ES:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
                                 alg == WSJWT_ALG_ES256   ? "P-256"
                                 : alg == WSJWT_ALG_ES384 ? "P-384"
                                                          : "P-521");
        break;
    case FAM_ED:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        return WSJWT_EJWT_ALG;
    }
    if (!pkey)
        return WSJWT_ECRYPTO;
    if ((rc = adopt(pkey, out)) != 0)
        return rc;
    (*out)->alg = alg;
    return 0;
}

/* ---- export ---------------------------------------------------------------------------- */

static int bio_to_string(BIO *b, char **out, size_t *out_len)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0 || !(*out = malloc((size_t)n + 1)))
        return WSJWT_ENOMEM;
    memcpy(*out, data, (size_t)n);
    (*out)[n] = '\0';
    if (out_len)
        *out_len = (size_t)n;
    return 0;
}

static int write_pem(const struct wsjwt_key *key, int private_part, char **out, size_t *out_len)
{
    BIO *b;
    int ok, rc;
    if (!key || !out)
        return WSJWT_EINVAL;
    *out = NULL;
    if (!key->pkey || (private_part && !key->has_private))
        return WSJWT_EJWT_KEY_TYPE;
    if (!(b = BIO_new(BIO_s_mem())))
        return WSJWT_ENOMEM;
    ok = private_part ? PEM_write_bio_PrivateKey(b, key->pkey, NULL, NULL, 0, NULL, NULL)
                      : PEM_write_bio_PUBKEY(b, key->pkey);
    rc = ok == 1 ? bio_to_string(b, out, out_len) : WSJWT_ECRYPTO;
    BIO_free(b);
    ERR_clear_error();
    return rc;
}

int wsjwt_key_public_pem(const struct wsjwt_key *key, char **out, size_t *out_len)
{
    return write_pem(key, 0, out, out_len);
}

int wsjwt_key_private_pem(const struct wsjwt_key *key, char **out, size_t *out_len)
{
    return write_pem(key, 1, out, out_len);
}

static int set_b64(json_t *o, const char *name, const uint8_t *data, size_t len)
{
    char *s = malloc(wsjwt__b64url_encoded_len(len) + 1);
    int rc;
    if (!s)
        return WSJWT_ENOMEM;
    wsjwt__b64url_encode(data, len, s);
    rc = json_object_set_new(o, name, json_string(s)) == 0 ? 0 : WSJWT_ENOMEM;
    free(s);
    return rc;
}

static int set_bn(json_t *o, const char *name, EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    uint8_t buf[MAX_RSA_BITS / 8];
    int n, rc;
    if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
        return WSJWT_ECRYPTO;
    n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    if (n < 0)
        return WSJWT_ECRYPTO;
    rc = set_b64(o, name, buf, (size_t)n);
    return rc;
}

static int jwk_object(const struct wsjwt_key *key, json_t **out)
{
    json_t *o = json_object();
    int rc = WSJWT_ENOMEM;
    if (!o)
        return rc;
    switch (key->type) {
    case WSJWT_KEY_SECRET:
        if (json_object_set_new(o, "kty", json_string("oct")) != 0 ||
            (rc = set_b64(o, "k", key->secret, key->secret_len)) != 0)
            goto fail;
        break;
    case WSJWT_KEY_RSA:
        if (json_object_set_new(o, "kty", json_string("RSA")) != 0 ||
            (rc = set_bn(o, "n", key->pkey, OSSL_PKEY_PARAM_RSA_N, 0)) != 0 ||
            (rc = set_bn(o, "e", key->pkey, OSSL_PKEY_PARAM_RSA_E, 0)) != 0)
            goto fail;
        break;
    case WSJWT_KEY_EC: {
        const char *crv = key->ec_alg == WSJWT_ALG_ES256   ? "P-256"
                          : key->ec_alg == WSJWT_ALG_ES384 ? "P-384"
                                                           : "P-521";
        int c = (int)key->ec_coord_len;
        if (json_object_set_new(o, "kty", json_string("EC")) != 0 ||
            json_object_set_new(o, "crv", json_string(crv)) != 0 ||
            (rc = set_bn(o, "x", key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, c)) != 0 ||
            (rc = set_bn(o, "y", key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, c)) != 0)
            goto fail;
        break;
    }
    case WSJWT_KEY_OKP: {
        uint8_t x[57];
        size_t n = sizeof(x);
        if (EVP_PKEY_get_raw_public_key(key->pkey, x, &n) != 1) {
            rc = WSJWT_ECRYPTO;
            goto fail;
        }
        if (json_object_set_new(o, "kty", json_string("OKP")) != 0 ||
            json_object_set_new(o, "crv", json_string(n == 32 ? "Ed25519" : "Ed448")) != 0 ||
            (rc = set_b64(o, "x", x, n)) != 0)
            goto fail;
        break;
    }
    default:
        rc = WSJWT_EINVAL;
        goto fail;
    }
    rc = WSJWT_ENOMEM;
    if ((key->kid && json_object_set_new(o, "kid", json_string(key->kid)) != 0) ||
        (key->alg && json_object_set_new(o, "alg", json_string(wsjwt_alg_name(key->alg))) != 0) ||
        json_object_set_new(o, "use", json_string("sig")) != 0)
        goto fail;
    *out = o;
    return 0;
fail:
    json_decref(o);
    ERR_clear_error();
    return rc;
}

static int dump(json_t *j, char **out, size_t *out_len)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return WSJWT_ENOMEM;
    *out = s;
    if (out_len)
        *out_len = strlen(s);
    return 0;
}

int wsjwt_key_public_jwk(const struct wsjwt_key *key, char **out, size_t *out_len)
{
    json_t *o;
    int rc;
    if (!key || !out)
        return WSJWT_EINVAL;
    *out = NULL;
    if ((rc = jwk_object(key, &o)) != 0)
        return rc;
    return dump(o, out, out_len);
}

int wsjwt_keyset_public_jwks(const struct wsjwt_keyset *set, char **out, size_t *out_len)
{
    json_t *root, *arr;
    int rc;
    if (!set || !out)
        return WSJWT_EINVAL;
    *out = NULL;
    if (!(root = json_object()) || !(arr = json_array()) || json_object_set_new(root, "keys", arr) != 0) {
        json_decref(root);
        return WSJWT_ENOMEM;
    }
    for (size_t i = 0; i < set->n; i++) {
        json_t *o;
        /* A JWKS is published: secrets never go into it. */
        if (set->keys[i]->type == WSJWT_KEY_SECRET)
            continue;
        if ((rc = jwk_object(set->keys[i], &o)) != 0 || json_array_append_new(arr, o) != 0) {
            json_decref(root);
            return rc ? rc : WSJWT_ENOMEM;
        }
    }
    return dump(root, out, out_len);
}
