/* TLS 1.3 record protection (see tls13.h). */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <wsjwt/error.h>

#include "net/tls13.h"

int wsjwt__tls13_supported(uint16_t suite)
{
    return suite == 0x1301 || suite == 0x1302 || suite == 0x1303;
}

static const char *suite_digest(uint16_t suite)
{
    return suite == 0x1302 ? "SHA384" : "SHA256";
}

static size_t suite_key_len(uint16_t suite)
{
    return suite == 0x1301 ? 16 : 32;
}

static const EVP_CIPHER *suite_cipher(uint16_t suite)
{
    switch (suite) {
    case 0x1301:
        return EVP_aes_128_gcm();
    case 0x1302:
        return EVP_aes_256_gcm();
    default:
        return EVP_chacha20_poly1305();
    }
}

int wsjwt__tls13_expand_label(uint16_t suite, const uint8_t *secret, const char *label, uint8_t *out,
                              size_t out_len)
{
    /* struct { uint16 length; opaque label<7..255> = "tls13 " + Label;
     *          opaque context<0..255>; } HkdfLabel;  (RFC 8446 7.1) */
    uint8_t info[2 + 1 + 6 + 32 + 1];
    size_t ll = strlen(label), hl = wsjwt__tls13_hash_len(suite);
    if (ll > 32 || out_len > 255)
        return WSJWT_ETLS;
    size_t n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = 0; /* empty context */

    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *k = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!k)
        return WSJWT_ETLS;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)suite_digest(suite), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, hl),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(k, out, out_len, params) == 1;
    EVP_KDF_CTX_free(k);
    return ok ? 0 : WSJWT_ETLS;
}

/* (Re)keys d's cipher context from d->key, creating it if needed. The IV
 * given here is replaced per record (nonce_for); the key schedule (AES
 * round keys, GHASH key) is computed once per context. */
static int dir_ctx(uint16_t suite, struct wsjwt__tls13_dir *d, int encrypt)
{
    if (!d->ctx && !(d->ctx = EVP_CIPHER_CTX_new()))
        return WSJWT_ENOMEM;
    return EVP_CipherInit_ex(d->ctx, suite_cipher(suite), NULL, d->key, d->iv, encrypt) == 1 ? 0 : WSJWT_ETLS;
}

int wsjwt__tls13_key(uint16_t suite, struct wsjwt__tls13_dir *d, const uint8_t *secret, int encrypt)
{
    size_t hl = wsjwt__tls13_hash_len(suite), kl = suite_key_len(suite);
    if (secret != d->secret)
        memcpy(d->secret, secret, hl);
    if (wsjwt__tls13_expand_label(suite, d->secret, "key", d->key, kl) != 0 ||
        wsjwt__tls13_expand_label(suite, d->secret, "iv", d->iv, sizeof(d->iv)) != 0)
        return WSJWT_ETLS;
    d->seq = 0;
    return dir_ctx(suite, d, encrypt);
}

int wsjwt__tls13_init(struct wsjwt__tls13 *r, uint16_t suite, const uint8_t *read_secret,
                      const uint8_t *write_secret)
{
    memset(r, 0, sizeof(*r));
    if (!wsjwt__tls13_supported(suite))
        return WSJWT_EINVAL;
    r->suite = suite;
    r->hash_len = (uint8_t)wsjwt__tls13_hash_len(suite);
    int rc = wsjwt__tls13_key(suite, &r->rd, read_secret, 0);
    if (rc == 0)
        rc = wsjwt__tls13_key(suite, &r->wr, write_secret, 1);
    return rc;
}

static void dir_free(struct wsjwt__tls13_dir *d)
{
    EVP_CIPHER_CTX_free(d->ctx); /* wipes the key schedule */
    d->ctx = NULL;
    OPENSSL_cleanse(d->secret, sizeof(d->secret));
    OPENSSL_cleanse(d->key, sizeof(d->key));
    OPENSSL_cleanse(d->iv, sizeof(d->iv));
}

void wsjwt__tls13_rest(struct wsjwt__tls13 *r)
{
    EVP_CIPHER_CTX_free(r->rd.ctx);
    EVP_CIPHER_CTX_free(r->wr.ctx);
    r->rd.ctx = r->wr.ctx = NULL;
}

void wsjwt__tls13_free(struct wsjwt__tls13 *r)
{
    dir_free(&r->rd);
    dir_free(&r->wr);
}

int wsjwt__tls13_update(const struct wsjwt__tls13 *r, struct wsjwt__tls13_dir *d, int encrypt)
{
    uint8_t next[WSJWT__TLS13_MAX_SECRET];
    int rc = wsjwt__tls13_expand_label(r->suite, d->secret, "traffic upd", next, r->hash_len);
    if (rc == 0)
        rc = wsjwt__tls13_key(r->suite, d, next, encrypt);
    OPENSSL_cleanse(next, sizeof(next));
    return rc;
}

/* RFC 8446 5.3: the 64-bit sequence number, big-endian, left-padded to the
 * IV's length and XORed with it. */
static void nonce_for(const struct wsjwt__tls13_dir *d, uint8_t nonce[12])
{
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

static void header(uint8_t *h, size_t len)
{
    h[0] = WSJWT__TLS13_APPDATA; /* RFC 8446 5.2: the outer type is always application_data */
    h[1] = 3;
    h[2] = 3;
    h[3] = (uint8_t)(len >> 8);
    h[4] = (uint8_t)len;
}

int wsjwt__tls13_seal(struct wsjwt__tls13 *r, uint8_t type, const uint8_t *p, size_t len, uint8_t *out)
{
    struct wsjwt__tls13_dir *d = &r->wr;
    /* RFC 8446 5.3: the sequence number must not wrap (the engine re-keys
     * long before this). */
    if (len > WSJWT__TLS13_MAX_PLAIN || d->seq == UINT64_MAX || (!d->ctx && dir_ctx(r->suite, d, 1) != 0))
        return WSJWT_ETLS;
    uint8_t nonce[12];
    nonce_for(d, nonce);
    header(out, len + 1 + WSJWT__TLS13_TAG);
    uint8_t *c = out + WSJWT__TLS13_HEADER;
    int o = 0, o2 = 0, o3 = 0;
    /* The header is the additional data (RFC 8446 5.2); the content type
     * is encrypted after the content (TLSInnerPlaintext). */
    if (EVP_EncryptInit_ex(d->ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(d->ctx, NULL, &o, out, WSJWT__TLS13_HEADER) != 1 ||
        EVP_EncryptUpdate(d->ctx, c, &o, p, (int)len) != 1 ||
        EVP_EncryptUpdate(d->ctx, c + o, &o2, &type, 1) != 1 ||
        EVP_EncryptFinal_ex(d->ctx, c + o + o2, &o3) != 1 || (size_t)(o + o2 + o3) != len + 1 ||
        EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_GET_TAG, WSJWT__TLS13_TAG, c + len + 1) != 1)
        return WSJWT_ETLS;
    d->seq++;
    return 0;
}

int wsjwt__tls13_record_ready(const uint8_t *p, size_t len, size_t *size, uint8_t *alert)
{
    if (len < WSJWT__TLS13_HEADER)
        return 0;
    size_t body = (size_t)p[3] << 8 | p[4];
    if (p[0] != WSJWT__TLS13_APPDATA || p[1] != 3 || p[2] != 3) {
        /* RFC 8446 5: after the handshake every record is protected (a
         * change_cipher_spec is no longer allowed either). */
        *alert = WSJWT__TLS13_UNEXPECTED_MESSAGE;
        return WSJWT_ETLS;
    }
    if (body > WSJWT__TLS13_MAX_CIPHER || body < 1 + WSJWT__TLS13_TAG) {
        *alert = body > WSJWT__TLS13_MAX_CIPHER ? WSJWT__TLS13_RECORD_OVERFLOW : WSJWT__TLS13_BAD_RECORD_MAC;
        return WSJWT_ETLS;
    }
    if (len < WSJWT__TLS13_HEADER + body)
        return 0;
    *size = WSJWT__TLS13_HEADER + body;
    return 1;
}

int wsjwt__tls13_open(struct wsjwt__tls13 *r, const uint8_t *rec, size_t size, uint8_t *out, size_t *n,
                      uint8_t *type, uint8_t *alert)
{
    struct wsjwt__tls13_dir *d = &r->rd;
    size_t clen = size - WSJWT__TLS13_HEADER - WSJWT__TLS13_TAG;
    if (d->seq == UINT64_MAX) {
        *alert = WSJWT__TLS13_BAD_RECORD_MAC;
        return WSJWT_ETLS;
    }
    if (!d->ctx && dir_ctx(r->suite, d, 0) != 0) {
        *alert = WSJWT__TLS13_INTERNAL_ERROR;
        return WSJWT_ETLS;
    }
    uint8_t nonce[12];
    nonce_for(d, nonce);
    int o = 0, o2 = 0;
    if (EVP_DecryptInit_ex(d->ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_DecryptUpdate(d->ctx, NULL, &o, rec, WSJWT__TLS13_HEADER) != 1 ||
        EVP_DecryptUpdate(d->ctx, out, &o, rec + WSJWT__TLS13_HEADER, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_SET_TAG, WSJWT__TLS13_TAG,
                            (void *)(uintptr_t)(rec + WSJWT__TLS13_HEADER + clen)) != 1 ||
        EVP_DecryptFinal_ex(d->ctx, out + o, &o2) != 1 || (size_t)(o + o2) != clen) {
        *alert = WSJWT__TLS13_BAD_RECORD_MAC;
        return WSJWT_ETLS;
    }
    d->seq++;
    /* RFC 8446 5.4: the content type is the last non-zero byte; zeros
     * after it are padding; none at all is unexpected_message. */
    size_t i = clen;
    while (i > 0 && out[i - 1] == 0)
        i--;
    if (i == 0) {
        *alert = WSJWT__TLS13_UNEXPECTED_MESSAGE;
        return WSJWT_ETLS;
    }
    if (i - 1 > WSJWT__TLS13_MAX_PLAIN) {
        *alert = WSJWT__TLS13_RECORD_OVERFLOW;
        return WSJWT_ETLS;
    }
    *type = out[i - 1];
    *n = i - 1;
    return 0;
}
