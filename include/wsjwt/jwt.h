/* wsjwt JWT: compact JWS sign and verify (RFC 7515, 7518, 7519, 8725).
 *
 * Objects:
 *   struct wsjwt_key     one key: an HMAC secret, or an RSA / EC / OKP key pair
 *                        or public key. Prepared once at load (HMAC contexts
 *                        fetched and keyed; public keys decoded, validated
 *                        and bound to their algorithms), reused by every
 *                        verify.
 *   struct wsjwt_keyset  keys selected by kid; reference counted so that a
 *                        running program can swap in a new set while
 *                        verifications in flight finish with the old one.
 *   struct wsjwt_policy  what a valid token must satisfy; immutable once built.
 *   struct wsjwt_jwt     a verified token: header and payload, typed getters.
 *
 * "now" is always a parameter (seconds since the epoch): the library never
 * reads the clock.
 */
#ifndef WSJWT_JWT_H
#define WSJWT_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* JOSE signature algorithms. "none" has no value here: it never verifies. */
enum wsjwt_alg {
    WSJWT_ALG_UNKNOWN = 0,
    WSJWT_ALG_HS256,
    WSJWT_ALG_HS384,
    WSJWT_ALG_HS512,
    WSJWT_ALG_RS256,
    WSJWT_ALG_RS384,
    WSJWT_ALG_RS512,
    WSJWT_ALG_PS256,
    WSJWT_ALG_PS384,
    WSJWT_ALG_PS512,
    WSJWT_ALG_ES256,
    WSJWT_ALG_ES384,
    WSJWT_ALG_ES512,
    WSJWT_ALG_EDDSA,
    WSJWT_ALG_COUNT
};

/* Default and absolute caps. */
#define WSJWT_JWT_DEFAULT_MAX_LEN 8192

/* "HS256", ...; "unknown" for anything else. Static string. */
WSJWT_API const char *wsjwt_alg_name(enum wsjwt_alg alg);

/* Exact, case-sensitive match of a JOSE name ("HS256"). "none" and every
 * other name give WSJWT_EJWT_ALG. */
WSJWT_API int wsjwt_alg_from_name(const char *name, size_t len, enum wsjwt_alg *out);

/* ---- keys ---------------------------------------------------------------- */

struct wsjwt_key;
struct wsjwt_keyset;

/* An HMAC secret (copied; the copy is wiped on free). An empty secret is
 * WSJWT_EJWT_EMPTY_KEY; text holding a PEM block ("-----BEGIN ") is
 * WSJWT_EJWT_KEY_TYPE: a public key is not a secret (load it with
 * wsjwt_key_parse). The HMAC contexts are keyed here, once. */
WSJWT_API int wsjwt_key_from_secret(const void *secret, size_t len, struct wsjwt_key **out);

/* The kinds of key (JWK "kty"). */
enum wsjwt_key_type {
    WSJWT_KEY_NONE = 0,
    WSJWT_KEY_SECRET, /* "oct": HS256/384/512 */
    WSJWT_KEY_RSA,    /* RS* and PS* */
    WSJWT_KEY_EC,     /* ES256 (P-256), ES384 (P-384), ES512 (P-521) */
    WSJWT_KEY_OKP     /* EdDSA (Ed25519, Ed448) */
};

/* One key from its text or bytes, the format detected from the content:
 * PEM (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY", PKCS#8 and traditional
 * private keys, "CERTIFICATE": its public key), DER of the same, or a JWK
 * (JSON object with "kty"; "oct" is an HMAC secret). The first PEM block is
 * used. Public keys are validated (point on the curve, RSA exponent, RSA
 * modulus >= 2048 bits: WSJWT_EJWT_WEAK_KEY below). Encrypted private keys
 * are not supported. Returns 0, WSJWT_EJWT_KEY_FORMAT (not a key we read),
 * WSJWT_EJWT_WEAK_KEY, WSJWT_EJWT_EMPTY_KEY, WSJWT_EUNSUPPORTED (a curve or
 * type we do not support), WSJWT_ETOOBIG (over WSJWT_KEY_MAX_TEXT),
 * WSJWT_EJWT_KEY_TYPE (an "oct" JWK whose k is a PEM block), WSJWT_ECRYPTO,
 * WSJWT_ENOMEM. */
WSJWT_API int wsjwt_key_parse(const void *data, size_t len, struct wsjwt_key **out);

/* A key set from text: a JWKS ({"keys":[...]}: every key, keys of unknown
 * kty or with "use" other than "sig" are skipped; at least one must load), a
 * single JWK, or PEM/DER (one key), detected from the content. Returns the
 * codes of wsjwt_key_parse; *out has one reference. */
WSJWT_API int wsjwt_keyset_parse(const void *data, size_t len, struct wsjwt_keyset **out);

/* A new random key for `alg`: HS*: a secret of the hash's size from
 * OpenSSL's RAND; RS/PS: RSA 2048; ES*: the matching curve; EdDSA: Ed25519. */
WSJWT_API int wsjwt_key_generate(enum wsjwt_alg alg, struct wsjwt_key **out);

WSJWT_API enum wsjwt_key_type wsjwt_key_type(const struct wsjwt_key *key);

/* 1 when the key holds private material (a secret, or a private key). */
WSJWT_API int wsjwt_key_has_private(const struct wsjwt_key *key);

/* 1 when `alg` may be used with this key: the key type fits (RSA for RS/PS,
 * the matching curve for ES*, Ed25519/Ed448 for EdDSA, a secret for HS*) and
 * the key's own alg (JWK "alg", or wsjwt_key_set_alg) does not say otherwise. */
WSJWT_API int wsjwt_key_fits(const struct wsjwt_key *key, enum wsjwt_alg alg);

/* 1 when the key is an HMAC secret shorter than alg's hash output (RFC 7518
 * 3.2): verification accepts it, signing refuses it unless allow_weak_key. */
WSJWT_API int wsjwt_key_is_weak(const struct wsjwt_key *key, enum wsjwt_alg alg);

/* Restricts the key to one algorithm (as a JWK "alg" does). */
WSJWT_API int wsjwt_key_set_alg(struct wsjwt_key *key, enum wsjwt_alg alg);

/* The key's own algorithm (JWK "alg"), or WSJWT_ALG_UNKNOWN. */
WSJWT_API enum wsjwt_alg wsjwt_key_alg(const struct wsjwt_key *key);

/* Exports. Each returns a new NUL-terminated string in *out (free with
 * wsjwt_free), its length in *out_len.
 *   wsjwt_key_secret_b64url: the HMAC secret, base64url without padding
 *     (WSJWT_EJWT_KEY_TYPE for other keys).
 *   wsjwt_key_public_pem: the public key as PEM SPKI (not for secrets).
 *   wsjwt_key_private_pem: the private key as PEM PKCS#8, unencrypted.
 *   wsjwt_key_public_jwk: the public key as a JWK with kid, alg and
 *     "use":"sig" when known (an "oct" JWK with k for a secret).
 *   wsjwt_keyset_public_jwks: {"keys":[...]} of every key's public JWK. */
WSJWT_API int wsjwt_key_secret_b64url(const struct wsjwt_key *key, char **out, size_t *out_len);
WSJWT_API int wsjwt_key_public_pem(const struct wsjwt_key *key, char **out, size_t *out_len);
WSJWT_API int wsjwt_key_private_pem(const struct wsjwt_key *key, char **out, size_t *out_len);
WSJWT_API int wsjwt_key_public_jwk(const struct wsjwt_key *key, char **out, size_t *out_len);
WSJWT_API int wsjwt_keyset_public_jwks(const struct wsjwt_keyset *set, char **out, size_t *out_len);

/* Releases a key (NULL is fine); secret material is wiped. */
WSJWT_API void wsjwt_key_free(struct wsjwt_key *key);

/* Sets the key's kid (copied). */
WSJWT_API int wsjwt_key_set_kid(struct wsjwt_key *key, const char *kid);

/* The key's kid, or NULL. Lives as long as the key. */
WSJWT_API const char *wsjwt_key_kid(const struct wsjwt_key *key);

/* An empty key set with one reference. */
WSJWT_API int wsjwt_keyset_new(struct wsjwt_keyset **out);

/* Adds a key; the set takes ownership of it, on failure too. */
WSJWT_API int wsjwt_keyset_add(struct wsjwt_keyset *set, struct wsjwt_key *key);

/* Number of keys in the set. */
WSJWT_API size_t wsjwt_keyset_count(const struct wsjwt_keyset *set);

/* The i-th key (borrowed), or NULL past the end. */
WSJWT_API const struct wsjwt_key *wsjwt_keyset_get(const struct wsjwt_keyset *set, size_t i);

/* Largest text wsjwt_key_parse reads (a PEM, DER or JWK), and largest text
 * wsjwt_keyset_parse reads (a JWKS): WSJWT_ETOOBIG past them. */
#define WSJWT_KEY_MAX_TEXT    (256 * 1024)
#define WSJWT_KEYSET_MAX_TEXT (1024 * 1024)

/* At most this many keys in a set (wsjwt_keyset_add: WSJWT_ETOOBIG), and at
 * most this many candidate keys tried for one token (each try of a public key
 * costs 30-150 us: 8 bound a token without kid to about a millisecond). */
#define WSJWT_KEYSET_MAX_KEYS  256
#define WSJWT_KEYSET_MAX_TRIES 8

/* Reference counting (thread-safe). The set is freed when the last
 * reference goes. */
WSJWT_API struct wsjwt_keyset *wsjwt_keyset_ref(struct wsjwt_keyset *set);
WSJWT_API void wsjwt_keyset_unref(struct wsjwt_keyset *set);

/* Rotation. A keyring holds the current key set. wsjwt_keyring_current
 * returns a new reference to it (release with wsjwt_keyset_unref); a
 * verification holds that reference while it runs, so wsjwt_keyring_swap can
 * install a new set at any time from any thread: verifications in flight
 * finish with the old set, which is freed when its last reference goes. */
struct wsjwt_keyring;

/* A keyring holding `initial` (it takes the caller's reference; NULL for an
 * empty set). */
WSJWT_API int wsjwt_keyring_new(struct wsjwt_keyset *initial, struct wsjwt_keyring **out);
WSJWT_API void wsjwt_keyring_free(struct wsjwt_keyring *ring);
WSJWT_API struct wsjwt_keyset *wsjwt_keyring_current(struct wsjwt_keyring *ring);
/* Installs `set` (takes the caller's reference) and drops the ring's
 * reference to the previous one. */
WSJWT_API int wsjwt_keyring_swap(struct wsjwt_keyring *ring, struct wsjwt_keyset *set);

/* ---- policy ---------------------------------------------------------------- */

/* Options for wsjwt_policy_new. Zero means "not checked" except where said.
 * Strings and arrays are copied into the policy. */
struct wsjwt_policy_opts {
    const enum wsjwt_alg *algs; /* required, non-empty: the allowed algorithms */
    size_t n_algs;
    int64_t leeway;             /* seconds of clock skew tolerated for exp, nbf, iat (>= 0) */
    int require_exp;            /* a token without exp is refused */
    int64_t max_age;            /* > 0: iat required; refused when now >= iat + max_age + leeway (as
                                   jsonwebtoken's maxAge) or when iat > now + leeway */
    const char *const *issuers; /* iss must equal one of these */
    size_t n_issuers;
    const char *const *audiences; /* aud (string or array) must overlap these */
    size_t n_audiences;
    const char *subject;         /* sub must equal this */
    const char *const *required; /* claims that must be present */
    size_t n_required;
    const char *typ;      /* header typ must equal this, case-insensitively */
    size_t max_token_len; /* 0: WSJWT_JWT_DEFAULT_MAX_LEN */
};

struct wsjwt_policy;

WSJWT_API int wsjwt_policy_new(const struct wsjwt_policy_opts *opts, struct wsjwt_policy **out);
WSJWT_API void wsjwt_policy_free(struct wsjwt_policy *policy);

/* ---- verify ---------------------------------------------------------------- */

/* Why a token was refused: the code, the claim or header member concerned
 * (empty when none) and a human-readable message for logs and the CLI. */
struct wsjwt_jwt_error {
    int code;
    char member[32];
    char message[160];
};

struct wsjwt_jwt;

/* Verifies a compact JWS: size, structure, strict base64url, header JSON
 * (duplicate members refused at any depth; at most 32 levels and 256 members
 * per object, 32 in the header), alg against the policy, crit, key selection
 * by kid and key type, signature, payload JSON, then the claims at time `now`
 * (docs/library-jwt.md gives the exact rules). Header members naming keys
 * (jwk, jku, x5u, x5c) are never used. On success returns 0 and *out is a new
 * token object (free it with wsjwt_jwt_free). On failure returns one of the
 * WSJWT_EJWT_* codes (or WSJWT_EINVAL, WSJWT_ENOMEM, WSJWT_ECRYPTO), fills *err
 * when non-NULL (err->code is the same code), and leaves *out NULL.
 * Thread-safe for a shared policy and key set. */
WSJWT_API int wsjwt_jwt_verify(const struct wsjwt_policy *policy, const struct wsjwt_keyset *keys,
                               const char *token, size_t len, int64_t now, struct wsjwt_jwt **out,
                               struct wsjwt_jwt_error *err);

WSJWT_API void wsjwt_jwt_free(struct wsjwt_jwt *jwt);

/* The decoded header and payload as JSON text (NUL-terminated, as received).
 * Live as long as the token object. */
WSJWT_API const char *wsjwt_jwt_header_json(const struct wsjwt_jwt *jwt);
WSJWT_API const char *wsjwt_jwt_payload_json(const struct wsjwt_jwt *jwt);

WSJWT_API enum wsjwt_alg wsjwt_jwt_alg(const struct wsjwt_jwt *jwt);

/* Typed getters for payload claims. WSJWT_ENOENT when absent,
 * WSJWT_EJWT_CLAIM_TYPE when of another type. Strings live as long as the
 * token object. */
WSJWT_API int wsjwt_jwt_claim_string(const struct wsjwt_jwt *jwt, const char *name, const char **out);
WSJWT_API int wsjwt_jwt_claim_int(const struct wsjwt_jwt *jwt, const char *name, int64_t *out);
WSJWT_API int wsjwt_jwt_claim_bool(const struct wsjwt_jwt *jwt, const char *name, int *out);

/* 1 when the claim is the string `value`, or an array holding that string
 * (as aud is matched: scopes, roles, channels); 0 when not. WSJWT_ENOENT when
 * absent, WSJWT_EJWT_CLAIM_TYPE when neither a string nor an array. */
WSJWT_API int wsjwt_jwt_claim_contains(const struct wsjwt_jwt *jwt, const char *name, const char *value);

/* The claim's value as JSON text (any type; a string with its quotes and
 * escapes), not NUL-terminated: *out points into the token object and lives
 * as long as it, *out_len is its length. WSJWT_ENOENT when absent. */
WSJWT_API int wsjwt_jwt_claim_json(const struct wsjwt_jwt *jwt, const char *name, const char **out,
                                   size_t *out_len);

/* A header member as a string (kid, typ, ...). */
WSJWT_API int wsjwt_jwt_header_string(const struct wsjwt_jwt *jwt, const char *name, const char **out);

/* ---- sign ------------------------------------------------------------------ */

struct wsjwt_sign_opts {
    enum wsjwt_alg alg;       /* required */
    const char *kid;          /* header kid, or NULL */
    const char *payload_json; /* a JSON object, or NULL for {} */
    int64_t now;              /* iat, and the base of expires_in / not_before */
    int no_iat;               /* do not add iat */
    int has_expires_in;       /* add exp = now + expires_in */
    int64_t expires_in;
    int has_not_before; /* add nbf = now + not_before */
    int64_t not_before;
    int allow_weak_key; /* allow HMAC secrets shorter than the hash (RFC 7518 3.2) */
};

/* Signs. The header is {"alg":...,"typ":"JWT"} plus kid. Claims given by the
 * options replace those of the same name in the payload. *out is a new
 * NUL-terminated string (free with wsjwt_free), *out_len its length.
 * Returns 0, WSJWT_EJWT_ALG (no such alg), WSJWT_EJWT_KEY_TYPE (the key does
 * not fit the alg, or holds no private key), WSJWT_EJWT_WEAK_KEY,
 * WSJWT_EJWT_JSON / _DUPLICATE / _NOT_OBJECT (the payload; also a payload
 * over the verifier's JSON caps), WSJWT_EINVAL (kid not UTF-8),
 * WSJWT_EOVERFLOW, WSJWT_ENOMEM, WSJWT_ECRYPTO. */
WSJWT_API int wsjwt_jwt_sign(const struct wsjwt_key *key, const struct wsjwt_sign_opts *opts, char **out,
                             size_t *out_len);

/* Frees memory returned by the library. */
WSJWT_API void wsjwt_free(void *p);

/* Decodes a token's header and payload WITHOUT verifying anything (for
 * display only: never trust the result). *header_json and *payload_json are
 * new NUL-terminated strings (wsjwt_free), either may be NULL when not
 * wanted. Returns WSJWT_EJWT_MALFORMED, WSJWT_EJWT_ENCODING,
 * WSJWT_EJWT_TOO_LARGE (over WSJWT_JWT_DEFAULT_MAX_LEN * 8). */
WSJWT_API int wsjwt_jwt_decode_unverified(const char *token, size_t len, char **header_json,
                                          char **payload_json);

/* ---- helpers ----------------------------------------------------------------- */

/* Durations as jsonwebtoken's expiresIn takes them: "90" (seconds), "90s",
 * "15m", "12h", "15d", "2w", "1y" (365.25 days). Refuses negatives, empty
 * input, unknown units and overflow. */
WSJWT_API int wsjwt_duration_parse(const char *s, size_t len, int64_t *seconds);

/* base64url without padding (RFC 4648 5), as JWS uses it. *out is a new
 * NUL-terminated string (wsjwt_free). */
WSJWT_API int wsjwt_b64url_encode(const void *data, size_t len, char **out, size_t *out_len);

/* Lenient base64 decoding for secrets given on a command line or in a file:
 * the standard or the URL-safe alphabet, padding optional (but correct when
 * present), no whitespace. *out is new memory (wsjwt_free; wipe it first:
 * it is a secret), *out_len its length. WSJWT_EJWT_ENCODING when not base64. */
WSJWT_API int wsjwt_base64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
