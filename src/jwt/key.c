/* Keys: HMAC secrets (keyed once here), key sets, the rotation keyring, and
 * the dispatch from an algorithm to the HMAC or public-key code. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "base/b64.h"
#include "jwt/jwt_internal.h"

static int looks_like_pem(const uint8_t *s, size_t n)
{
    static const char tag[] = "-----BEGIN ";
    for (size_t i = 0; n >= sizeof(tag) - 1 && i <= n - (sizeof(tag) - 1); i++)
        if (s[i] == '-' && memcmp(s + i, tag, sizeof(tag) - 1) == 0)
            return 1;
    return 0;
}

struct wsjwt_key *wsjwt__key_alloc(void)
{
    struct wsjwt_key *k = calloc(1, sizeof(*k));
    if (k)
        k->uses = WSJWT__USE_SIGN | WSJWT__USE_VERIFY;
    return k;
}

int wsjwt_key_from_secret(const void *secret, size_t len, struct wsjwt_key **out)
{
    int rc;
    struct wsjwt_key *k;
    if (!out)
        return WSJWT_EINVAL;
    *out = NULL;
    if (!secret || len == 0)
        return WSJWT_EJWT_EMPTY_KEY; /* an empty HMAC key would let anyone sign */
    /* A PEM key or certificate is public: used as an HMAC secret it lets
     * anyone who has it sign (CVE-2015-9235 made by configuration). */
    if (looks_like_pem(secret, len))
        return WSJWT_EJWT_KEY_TYPE;
    if (!(k = wsjwt__key_alloc()))
        return WSJWT_ENOMEM;
    k->type = WSJWT_KEY_SECRET;
    k->has_private = 1;
    if (!(k->secret = malloc(len))) {
        rc = WSJWT_ENOMEM;
        goto fail;
    }
    memcpy(k->secret, secret, len);
    k->secret_len = len;
    /* The ipad/opad states of every hash are computed now, so that a
     * verification only copies them (hmac.c). */
    if ((rc = wsjwt__hmac_new(k->secret, len, &k->hmac)) != 0)
        goto fail;
    *out = k;
    return 0;
fail:
    wsjwt_key_free(k);
    return rc;
}

void wsjwt_key_free(struct wsjwt_key *key)
{
    if (!key)
        return;
    wsjwt__hmac_free(key->hmac);
    if (key->secret) {
        OPENSSL_cleanse(key->secret, key->secret_len);
        free(key->secret);
    }
    wsjwt__pkey_free(key);
    free(key->kid);
    free(key);
}

int wsjwt_key_set_kid(struct wsjwt_key *key, const char *kid)
{
    char *copy = NULL;
    if (!key)
        return WSJWT_EINVAL;
    if (kid && !(copy = strdup(kid)))
        return WSJWT_ENOMEM;
    free(key->kid);
    key->kid = copy;
    return 0;
}

const char *wsjwt_key_kid(const struct wsjwt_key *key)
{
    return key ? key->kid : NULL;
}

enum wsjwt_key_type wsjwt_key_type(const struct wsjwt_key *key)
{
    return key ? key->type : WSJWT_KEY_NONE;
}

int wsjwt_key_has_private(const struct wsjwt_key *key)
{
    return key ? key->has_private : 0;
}

int wsjwt__key_type_fits(const struct wsjwt_key *key, enum wsjwt_alg alg)
{
    switch (wsjwt__alg_family(alg)) {
    case FAM_HS:
        return key->type == WSJWT_KEY_SECRET;
    case FAM_RS:
    case FAM_PS:
        return key->type == WSJWT_KEY_RSA;
    case FAM_ES:
        return key->type == WSJWT_KEY_EC && key->ec_alg == alg;
    case FAM_ED:
        return key->type == WSJWT_KEY_OKP;
    default:
        return 0;
    }
}

int wsjwt_key_fits(const struct wsjwt_key *key, enum wsjwt_alg alg)
{
    if (!key || !wsjwt__key_type_fits(key, alg))
        return 0;
    return key->alg == WSJWT_ALG_UNKNOWN || key->alg == alg;
}

int wsjwt_key_is_weak(const struct wsjwt_key *key, enum wsjwt_alg alg)
{
    return key && key->type == WSJWT_KEY_SECRET && wsjwt__alg_family(alg) == FAM_HS &&
           key->secret_len < wsjwt__alg_hash_len(alg);
}

int wsjwt_key_set_alg(struct wsjwt_key *key, enum wsjwt_alg alg)
{
    if (!key || (alg != WSJWT_ALG_UNKNOWN && !wsjwt__key_type_fits(key, alg)))
        return key ? WSJWT_EJWT_KEY_TYPE : WSJWT_EINVAL;
    key->alg = alg;
    return 0;
}

enum wsjwt_alg wsjwt_key_alg(const struct wsjwt_key *key)
{
    return key ? key->alg : WSJWT_ALG_UNKNOWN;
}

int wsjwt_key_secret_b64url(const struct wsjwt_key *key, char **out, size_t *out_len)
{
    if (!key || !out)
        return WSJWT_EINVAL;
    if (key->type != WSJWT_KEY_SECRET)
        return WSJWT_EJWT_KEY_TYPE;
    return wsjwt_b64url_encode(key->secret, key->secret_len, out, out_len);
}

/* ---- HMAC ------------------------------------------------------------------ */

static int hmac(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                uint8_t *mac, size_t *mac_len)
{
    if (!key->hmac)
        return WSJWT_EJWT_KEY_TYPE;
    return wsjwt__hmac(key->hmac, alg, input, len, mac, mac_len);
}

int wsjwt__verify_sig(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                      const uint8_t *sig, size_t sig_len)
{
    if (wsjwt__alg_family(alg) == FAM_HS) {
        uint8_t mac[64];
        size_t mac_len = 0;
        int rc;
        /* A truncated MAC is refused before any comparison (RFC 7518 3.2:
         * the full output is used). */
        if (sig_len != wsjwt__alg_hash_len(alg))
            return WSJWT_EJWT_SIGNATURE;
        if ((rc = hmac(key, alg, input, len, mac, &mac_len)) != 0)
            return rc;
        rc = (mac_len == sig_len && CRYPTO_memcmp(mac, sig, sig_len) == 0) ? 0 : WSJWT_EJWT_SIGNATURE;
        OPENSSL_cleanse(mac, sizeof(mac));
        return rc;
    }
    return wsjwt__pkey_verify(key, alg, input, len, sig, sig_len);
}

int wsjwt__sign_sig(const struct wsjwt_key *key, enum wsjwt_alg alg, const uint8_t *input, size_t len,
                    uint8_t *sig, size_t *sig_len)
{
    if (wsjwt__alg_family(alg) == FAM_HS)
        return hmac(key, alg, input, len, sig, sig_len);
    return wsjwt__pkey_sign(key, alg, input, len, sig, sig_len);
}

/* ---- key sets ----------------------------------------------------------------- */

int wsjwt_keyset_new(struct wsjwt_keyset **out)
{
    struct wsjwt_keyset *set;
    if (!out)
        return WSJWT_EINVAL;
    if (!(set = calloc(1, sizeof(*set))))
        return WSJWT_ENOMEM;
    atomic_init(&set->refs, 1);
    *out = set;
    return 0;
}

int wsjwt_keyset_add(struct wsjwt_keyset *set, struct wsjwt_key *key)
{
    if (!set || !key) {
        wsjwt_key_free(key);
        return WSJWT_EINVAL;
    }
    if (set->n >= WSJWT_KEYSET_MAX_KEYS) {
        wsjwt_key_free(key);
        return WSJWT_ETOOBIG;
    }
    set->keys[set->n++] = key;
    return 0;
}

size_t wsjwt_keyset_count(const struct wsjwt_keyset *set)
{
    return set ? set->n : 0;
}

const struct wsjwt_key *wsjwt_keyset_get(const struct wsjwt_keyset *set, size_t i)
{
    return (set && i < set->n) ? set->keys[i] : NULL;
}

struct wsjwt_keyset *wsjwt_keyset_ref(struct wsjwt_keyset *set)
{
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void wsjwt_keyset_unref(struct wsjwt_keyset *set)
{
    if (!set)
        return;
    /* acq_rel: the thread that frees sees every other thread's last use. */
    if (atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < set->n; i++)
        wsjwt_key_free(set->keys[i]);
    free(set);
}

/* ---- keyring ------------------------------------------------------------------- */

/* A mutex rather than a bare atomic pointer: loading the pointer and taking a
 * reference must be one step, or a concurrent swap could free the set in
 * between. The critical sections are a few instructions long. */
struct wsjwt_keyring {
    pthread_mutex_t lock;
    struct wsjwt_keyset *current;
};

int wsjwt_keyring_new(struct wsjwt_keyset *initial, struct wsjwt_keyring **out)
{
    struct wsjwt_keyring *ring;
    int rc;
    if (!out) {
        wsjwt_keyset_unref(initial);
        return WSJWT_EINVAL;
    }
    *out = NULL;
    if (!initial && (rc = wsjwt_keyset_new(&initial)) != 0)
        return rc;
    if (!(ring = calloc(1, sizeof(*ring))) || pthread_mutex_init(&ring->lock, NULL) != 0) {
        free(ring);
        wsjwt_keyset_unref(initial);
        return WSJWT_ENOMEM;
    }
    ring->current = initial;
    *out = ring;
    return 0;
}

void wsjwt_keyring_free(struct wsjwt_keyring *ring)
{
    if (!ring)
        return;
    wsjwt_keyset_unref(ring->current);
    pthread_mutex_destroy(&ring->lock);
    free(ring);
}

struct wsjwt_keyset *wsjwt_keyring_current(struct wsjwt_keyring *ring)
{
    struct wsjwt_keyset *set;
    if (!ring)
        return NULL;
    pthread_mutex_lock(&ring->lock);
    set = wsjwt_keyset_ref(ring->current);
    pthread_mutex_unlock(&ring->lock);
    return set;
}

int wsjwt_keyring_swap(struct wsjwt_keyring *ring, struct wsjwt_keyset *set)
{
    struct wsjwt_keyset *old;
    if (!ring || !set) {
        wsjwt_keyset_unref(set);
        return WSJWT_EINVAL;
    }
    pthread_mutex_lock(&ring->lock);
    old = ring->current;
    ring->current = set;
    pthread_mutex_unlock(&ring->lock);
    wsjwt_keyset_unref(old);
    return 0;
}
