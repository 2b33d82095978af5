/* Compact JWS signing (RFC 7515 5.1). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "base/b64.h"
#include "jwt/json.h"
#include "jwt/jwt_internal.h"

/* What we sign, we must be able to verify: the payload text goes through the
 * verifier's parser, whose depth and member caps jansson does not have. */
static int verifiable(const char *json, size_t len)
{
    struct wsjwt__jmember *m = malloc(WSJWT__JSON_MAX_MEMBERS * sizeof(*m));
    char *arena = malloc(len + 1);
    size_t n;
    int limit, rc = WSJWT_ENOMEM;
    if (m && arena)
        rc = wsjwt__json_parse_object(json, len, arena, m, WSJWT__JSON_MAX_MEMBERS, &n, &limit);
    free(m);
    free(arena);
    return rc;
}

static int build_payload(const struct wsjwt_sign_opts *o, json_t **out)
{
    json_t *p;
    int64_t t;
    if (o->payload_json) {
        json_error_t je;
        p = json_loads(o->payload_json, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!p)
            return json_error_code(&je) == json_error_duplicate_key ? WSJWT_EJWT_DUPLICATE : WSJWT_EJWT_JSON;
        if (!json_is_object(p)) {
            json_decref(p);
            return WSJWT_EJWT_NOT_OBJECT;
        }
    } else if (!(p = json_object())) {
        return WSJWT_ENOMEM;
    }
    /* Claims from the options replace the payload's own (jsonwebtoken refuses
     * the conflict; replacing keeps the options authoritative). */
    if (!o->no_iat && json_object_set_new(p, "iat", json_integer(o->now)) != 0)
        goto nomem;
    if (o->has_expires_in) {
        if (__builtin_add_overflow(o->now, o->expires_in, &t)) {
            json_decref(p);
            return WSJWT_EOVERFLOW;
        }
        if (json_object_set_new(p, "exp", json_integer(t)) != 0)
            goto nomem;
    }
    if (o->has_not_before) {
        if (__builtin_add_overflow(o->now, o->not_before, &t)) {
            json_decref(p);
            return WSJWT_EOVERFLOW;
        }
        if (json_object_set_new(p, "nbf", json_integer(t)) != 0)
            goto nomem;
    }
    *out = p;
    return 0;
nomem:
    json_decref(p);
    return WSJWT_ENOMEM;
}

int wsjwt_jwt_sign(const struct wsjwt_key *key, const struct wsjwt_sign_opts *opts, char **out,
                   size_t *out_len)
{
    json_t *header = NULL, *payload = NULL;
    char *hj = NULL, *pj = NULL, *buf = NULL;
    uint8_t sig[WSJWT__MAX_SIG];
    size_t sig_len = 0, hl, pl, n;
    int rc;
    if (!key || !opts || !out)
        return WSJWT_EINVAL;
    *out = NULL;
    if (wsjwt__alg_family(opts->alg) == FAM_NONE)
        return WSJWT_EJWT_ALG;
    if (!wsjwt_key_fits(key, opts->alg) || !key->has_private || !(key->uses & WSJWT__USE_SIGN))
        return WSJWT_EJWT_KEY_TYPE;
    /* RFC 7518 3.2: an HMAC key as long as the hash output at least. */
    if (wsjwt_key_is_weak(key, opts->alg) && !opts->allow_weak_key)
        return WSJWT_EJWT_WEAK_KEY;
    if ((rc = build_payload(opts, &payload)) != 0)
        return rc;
    rc = WSJWT_ENOMEM;
    if (!(header = json_object()) ||
        json_object_set_new(header, "alg", json_string(wsjwt_alg_name(opts->alg))) != 0 ||
        json_object_set_new(header, "typ", json_string("JWT")) != 0)
        goto out;
    if (opts->kid) {
        json_t *kid = json_string(opts->kid);
        if (!kid) {
            rc = WSJWT_EINVAL; /* not UTF-8: JSON cannot carry it */
            goto out;
        }
        if (json_object_set_new(header, "kid", kid) != 0)
            goto out;
    }
    if (!(hj = json_dumps(header, JSON_COMPACT)) || !(pj = json_dumps(payload, JSON_COMPACT)))
        goto out;
    hl = strlen(hj);
    pl = strlen(pj);
    if ((rc = verifiable(pj, pl)) != 0)
        goto out;
    n = wsjwt__b64url_encoded_len(hl) + 1 + wsjwt__b64url_encoded_len(pl);
    if (!(buf = malloc(n + 1 + wsjwt__b64url_encoded_len(WSJWT__MAX_SIG) + 1)))
        goto out;
    {
        size_t h = wsjwt__b64url_encode((const uint8_t *)hj, hl, buf);
        buf[h] = '.';
        wsjwt__b64url_encode((const uint8_t *)pj, pl, buf + h + 1);
    }
    if ((rc = wsjwt__sign_sig(key, opts->alg, (const uint8_t *)buf, n, sig, &sig_len)) != 0)
        goto out;
    buf[n] = '.';
    n += 1 + wsjwt__b64url_encode(sig, sig_len, buf + n + 1);
    *out = buf;
    buf = NULL;
    if (out_len)
        *out_len = n;
    rc = 0;
out:
    free(buf);
    free(hj);
    free(pj);
    json_decref(header);
    json_decref(payload);
    return rc;
}
