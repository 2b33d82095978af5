/* Internals shared by the files of src/jwt. */
#ifndef WSJWT_JWT_INTERNAL_H
#define WSJWT_JWT_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <wsjwt/jwt.h>

/* The largest signature any algorithm produces that we accept: RSA up to
 * 8192-bit moduli (1024 bytes). ES512 is 132 bytes, HS512 64. A longer third
 * segment is refused before it is decoded. */
#define WSJWT__MAX_SIG 1024

/* Algorithm families. */
enum wsjwt__family { FAM_NONE = 0, FAM_HS, FAM_RS, FAM_PS, FAM_ES, FAM_ED };

/* Usage bits from a JWK's "use" and "key_ops". */
#define WSJWT__USE_VERIFY 1u
#define WSJWT__USE_SIGN   2u

/* HMAC hashes by index: SHA-256, SHA-384, SHA-512. */
#define WSJWT__N_HMAC 3

struct wsjwt_key {
    enum wsjwt_key_type type;
    enum wsjwt_alg alg;    /* restriction (JWK "alg"), or UNKNOWN */
    enum wsjwt_alg ec_alg; /* EC: the ES alg of the key's curve; OKP: EDDSA */
    unsigned uses;         /* WSJWT__USE_* allowed */
    int has_private;
    char *kid;
    /* secrets */
    uint8_t *secret;
    size_t secret_len;
    struct wsjwt__hmac *hmac; /* inner and outer states, keyed once (hmac.c) */
    /* asymmetric */
    EVP_PKEY *pkey;
    size_t ec_coord_len;  /* 32, 48, 66 */
    uint8_t ec_order[66]; /* the group order, big-endian, ec_coord_len bytes */
};

struct wsjwt_keyset {
    atomic_size_t refs;
    size_t n;
    struct wsjwt_key *keys[WSJWT_KEYSET_MAX_KEYS];
};

enum wsjwt__family wsjwt__alg_family(enum wsjwt_alg alg);
/* Digest output length for the alg's hash (32, 48, 64; 0 for EdDSA). */
size_t wsjwt__alg_hash_len(enum wsjwt_alg alg);
/* "SHA256", ... for the alg's hash, NULL for EdDSA. */
const char *wsjwt__alg_md_name(enum wsjwt_alg alg);

/* 1 when the key's type (and curve) fits alg, ignoring its alg restriction. */
int wsjwt__key_type_fits(const struct wsjwt_key *key, enum wsjwt_alg alg);

/* Key allocation (zeroed, uses = sign|verify). */
struct wsjwt_key *wsjwt__key_alloc(void);

/* Signature check of `input` under `key` with `alg` (the key already known
 * to fit). 0, WSJWT_EJWT_SIGNATURE, WSJWT_ECRYPTO, WSJWT_ENOMEM. */
int wsjwt__verify_sig(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                      const uint8_t *sig, size_t sig_len);

/* Signs `input`: the JOSE form of the signature into sig (room for
 * WSJWT__MAX_SIG bytes). */
int wsjwt__sign_sig(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                    uint8_t *sig, size_t *sig_len);

/* Asymmetric halves (pkey.c). */
int wsjwt__pkey_verify(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                       const uint8_t *sig, size_t sig_len);
int wsjwt__pkey_sign(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                     uint8_t *sig, size_t *sig_len);
void wsjwt__pkey_free(struct wsjwt_key *key);

/* HMAC with the key schedule done once (hmac.c). _new precomputes the
 * states of every HS hash for the secret; wsjwt__hmac writes the MAC of
 * input for an HS alg into mac (32, 48 or 64 bytes: *mac_len). Returns 0,
 * WSJWT_EJWT_KEY_TYPE (not an HS alg), WSJWT_ENOMEM, WSJWT_ECRYPTO. The
 * states are read-only after _new: one key may verify on many threads. */
struct wsjwt__hmac;
int wsjwt__hmac_new(const uint8_t *key, size_t len, struct wsjwt__hmac **out);
void wsjwt__hmac_free(struct wsjwt__hmac *h);
int wsjwt__hmac(const struct wsjwt__hmac *h, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                uint8_t mac[64], size_t *mac_len);

/* Fills err (when non-NULL) and returns code. */
int wsjwt__fail(struct wsjwt_jwt_error *err, int code, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
