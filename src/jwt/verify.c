/* Compact JWS verification (RFC 7515 7.2, RFC 7519 7.2, RFC 8725) and the
 * claims policy. Order: size cap, structure, encoding of all three segments,
 * header JSON, alg and crit, key selection and signature, payload JSON,
 * claims. The token is decoded once into one allocation that becomes the
 * returned object (decoded text, unescaped strings, member index); the
 * signature is decoded into a stack buffer. JSON is parsed once, by json.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/b64.h"
#include "jwt/json.h"
#include "jwt/jwt_policy.h"

/* Header members beyond this many refuse the token (registered headers are
 * about a dozen). */
#define MAX_HEADER_MEMBERS 32

struct wsjwt_jwt {
    enum wsjwt_alg alg;
    char *header_json;
    char *payload_json;
    size_t header_len; /* decoded lengths: a NUL inside is refused by the JSON parser */
    size_t payload_len;
    struct wsjwt__jmember *hm, *pm; /* top-level members */
    size_t nh, np, hcap, pcap;
    char *arena; /* unescaped names and strings */
    char data[]; /* decoded header, NUL, decoded payload, NUL, arena, members */
};

void wsjwt_jwt_free(struct wsjwt_jwt *jwt)
{
    free(jwt);
}

/* ---- time arithmetic that cannot overflow ---------------------------------- */

/* Times are compared in 128-bit integers: now, leeway and max_age are int64,
 * so now - max_age - leeway is exact, and the claim (an int64 or a real of
 * any magnitude, 1e300 included) is compared with it exactly. */
typedef __int128 wide;

/* -1, 0 or 1 as the JSON number v is <, ==, > t. */
static int cmp_num(const struct wsjwt__jmember *v, wide t)
{
    if (v->type == WSJWT__J_INT) {
        wide x = v->num.i;
        return x < t ? -1 : x > t;
    }
    double d = v->num.d;
    /* |t| < 2^66: anything beyond 2^100 is decided without conversion. */
    if (d >= 0x1p100)
        return 1;
    if (d < -0x1p100)
        return -1;
    double f = floor(d);
    wide x = (wide)f;
    if (x != t)
        return x < t ? -1 : 1;
    return d > f ? 1 : 0;
}

/* ---- JSON ------------------------------------------------------------------- */

static int parse_object(const char *buf, size_t len, const char *what, char **arena, struct wsjwt__jmember *m,
                        size_t cap, size_t *n, struct wsjwt_jwt_error *err)
{
    int limit = 0;
    /* Duplicates refused (RFC 7515 5.2 step 4 allows either refusing or
     * taking the last: refusing leaves no ambiguity between us and another
     * parser). */
    int rc = wsjwt__json_parse_object(buf, len, *arena, m, cap, n, &limit);
    if (rc == WSJWT_EJWT_DUPLICATE)
        return wsjwt__fail(err, rc, what, "invalid token: duplicate member in %s", what);
    if (rc == WSJWT_EJWT_NOT_OBJECT)
        return wsjwt__fail(err, rc, what, "invalid token: %s is not a JSON object", what);
    if (rc)
        return wsjwt__fail(err, WSJWT_EJWT_JSON, what, "invalid token: %s is not valid JSON%s", what,
                           limit ? " (nesting or member count over the cap)" : "");
    /* Advance the arena past what was written: the parser writes names and
     * strings in member order, so the last member's last string ends it. */
    if (*n) {
        const char *e = m[*n - 1].str ? m[*n - 1].str : m[*n - 1].key;
        *arena = (char *)e + strlen(e) + 1;
    }
    return 0;
}

/* The most members `len` bytes of JSON can hold: each takes at least 5
 * bytes ("":0 and a comma). */
static size_t member_bound(size_t len, size_t cap)
{
    size_t b = len / 4 + 1;
    return b < cap ? b : cap;
}

/* ---- keys ----------------------------------------------------------------------- */

/* A key with a kid matches only tokens with that kid or without one; a key
 * without a kid matches any token (so a single secret verifies tokens that
 * carry a kid, as jsonwebtoken does). The kid is compared as opaque bytes:
 * never a path, never a lookup anywhere else. */
static int check_signature(const struct wsjwt_keyset *keys, enum wsjwt_alg alg, const char *kid,
                           const uint8_t *input, size_t len, const uint8_t *sig, size_t sig_len,
                           struct wsjwt_jwt_error *err)
{
    size_t tried = 0;
    int kid_seen = 0, type_seen = 0;
    if (!keys || keys->n == 0)
        return wsjwt__fail(err, WSJWT_EJWT_NO_KEY, "", "secret or public key must be provided");
    for (size_t i = 0; i < keys->n; i++) {
        const struct wsjwt_key *k = keys->keys[i];
        if (kid && k->kid && strcmp(k->kid, kid) != 0)
            continue;
        kid_seen = 1;
        if (!wsjwt__key_type_fits(k, alg))
            continue;
        type_seen = 1;
        if ((k->alg != WSJWT_ALG_UNKNOWN && k->alg != alg) || !(k->uses & WSJWT__USE_VERIFY))
            continue;
        if (tried == WSJWT_KEYSET_MAX_TRIES)
            break;
        tried++;
        int rc = wsjwt__verify_sig(k, alg, input, len, sig, sig_len);
        if (rc == 0)
            return 0;
        if (rc != WSJWT_EJWT_SIGNATURE)
            return wsjwt__fail(err, rc, "", "%s", wsjwt_strerror(rc));
    }
    if (!kid_seen)
        return wsjwt__fail(err, WSJWT_EJWT_KID_UNKNOWN, "kid", "unknown kid");
    if (!type_seen)
        return wsjwt__fail(err, WSJWT_EJWT_KEY_TYPE, "alg", "key type mismatch: no %s key for a %s token",
                           wsjwt__alg_family(alg) == FAM_HS ? "secret" : "public", wsjwt_alg_name(alg));
    if (tried == 0)
        return wsjwt__fail(err, WSJWT_EJWT_NO_KEY, "alg", "no key may be used with %s", wsjwt_alg_name(alg));
    return wsjwt__fail(err, WSJWT_EJWT_SIGNATURE, "", "invalid signature");
}

/* ---- claims ---------------------------------------------------------------------- */

static int is_num(const struct wsjwt__jmember *v)
{
    return v->type == WSJWT__J_INT || v->type == WSJWT__J_REAL;
}

static int time_claim(const struct wsjwt_jwt *j, const char *name, const struct wsjwt__jmember **out,
                      struct wsjwt_jwt_error *err)
{
    const struct wsjwt__jmember *v = wsjwt__json_get(j->pm, j->np, name);
    *out = v;
    if (v && !is_num(v))
        return wsjwt__fail(err, WSJWT_EJWT_CLAIM_TYPE, name, "invalid %s value", name);
    return 0;
}

static int str_in(const char *s, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

/* aud as a string or an array of strings; 1 on any overlap, 0 on none,
 * negative on a type error. */
static int aud_overlap(const struct wsjwt_policy *p, const struct wsjwt__jmember *v)
{
    size_t pos = 0;
    int type, ok = 0;
    char *buf;
    if (v->type == WSJWT__J_STRING)
        return str_in(v->str, p->audiences, p->n_audiences);
    if (v->type != WSJWT__J_ARRAY || !(buf = malloc((size_t)v->raw_len + 1)))
        return -1;
    while (wsjwt__json_array_next(v, &pos, &type, buf)) {
        if (type != WSJWT__J_STRING) {
            ok = -1;
            break;
        }
        ok = ok || str_in(buf, p->audiences, p->n_audiences);
    }
    free(buf);
    return ok;
}

static int check_claims(const struct wsjwt_policy *p, const struct wsjwt_jwt *j, int64_t now,
                        struct wsjwt_jwt_error *err)
{
    const struct wsjwt__jmember *exp, *nbf, *iat, *v;
    int rc;
    if ((rc = time_claim(j, "exp", &exp, err)) || (rc = time_claim(j, "nbf", &nbf, err)) ||
        (rc = time_claim(j, "iat", &iat, err)))
        return rc;
    /* RFC 7519 4.1.5: "not before" with leeway; jsonwebtoken: nbf > now + leeway. */
    if (nbf && cmp_num(nbf, (wide)now + p->leeway) > 0)
        return wsjwt__fail(err, WSJWT_EJWT_NOT_ACTIVE, "nbf", "jwt not active");
    /* RFC 7519 4.1.4: expired "on or after" exp: now >= exp + leeway, written
     * as exp <= now - leeway. */
    if (exp && cmp_num(exp, (wide)now - p->leeway) <= 0)
        return wsjwt__fail(err, WSJWT_EJWT_EXPIRED, "exp", "jwt expired");
    if (!exp && p->require_exp)
        return wsjwt__fail(err, WSJWT_EJWT_MISSING_CLAIM, "exp", "exp required");
    if (p->max_age > 0) {
        if (!iat)
            return wsjwt__fail(err, WSJWT_EJWT_MISSING_CLAIM, "iat", "iat required when maxAge is specified");
        if (cmp_num(iat, (wide)now + p->leeway) > 0)
            return wsjwt__fail(err, WSJWT_EJWT_FUTURE_IAT, "iat", "jwt issued in the future");
        if (cmp_num(iat, (wide)now - p->max_age - p->leeway) <= 0)
            return wsjwt__fail(err, WSJWT_EJWT_TOO_OLD, "iat", "maxAge exceeded");
    }
    if (p->n_audiences) {
        int ok = 0;
        v = wsjwt__json_get(j->pm, j->np, "aud");
        if (v && (ok = aud_overlap(p, v)) < 0)
            return wsjwt__fail(err, WSJWT_EJWT_CLAIM_TYPE, "aud", "invalid aud value");
        if (!ok)
            return wsjwt__fail(err, WSJWT_EJWT_AUD, "aud", "jwt audience invalid. expected: %s%s",
                               p->audiences[0], p->n_audiences > 1 ? " or others" : "");
    }
    if (p->n_issuers) {
        v = wsjwt__json_get(j->pm, j->np, "iss");
        if (v && v->type != WSJWT__J_STRING)
            return wsjwt__fail(err, WSJWT_EJWT_CLAIM_TYPE, "iss", "invalid iss value");
        if (!v || !str_in(v->str, p->issuers, p->n_issuers))
            return wsjwt__fail(err, WSJWT_EJWT_ISS, "iss", "jwt issuer invalid. expected: %s%s",
                               p->issuers[0], p->n_issuers > 1 ? " or others" : "");
    }
    if (p->subject) {
        v = wsjwt__json_get(j->pm, j->np, "sub");
        if (v && v->type != WSJWT__J_STRING)
            return wsjwt__fail(err, WSJWT_EJWT_CLAIM_TYPE, "sub", "invalid sub value");
        if (!v || strcmp(v->str, p->subject) != 0)
            return wsjwt__fail(err, WSJWT_EJWT_SUB, "sub", "jwt subject invalid. expected: %s", p->subject);
    }
    for (size_t i = 0; i < p->n_required; i++)
        if (!wsjwt__json_get(j->pm, j->np, p->required[i]))
            return wsjwt__fail(err, WSJWT_EJWT_MISSING_CLAIM, p->required[i], "%s required", p->required[i]);
    if (p->typ) {
        /* RFC 7515 4.1.9: typ is compared case-insensitively. */
        v = wsjwt__json_get(j->hm, j->nh, "typ");
        if (!v || v->type != WSJWT__J_STRING || strcasecmp(v->str, p->typ) != 0)
            return wsjwt__fail(err, WSJWT_EJWT_TYP, "typ", "jwt typ invalid. expected: %s", p->typ);
    }
    return 0;
}

/* ---- verify ------------------------------------------------------------------------ */

/* Splits a compact JWS into its three segments. */
static int split(const char *token, size_t len, size_t *hlen, size_t *plen, struct wsjwt_jwt_error *err)
{
    const char *d1 = memchr(token, '.', len), *d2;
    if (!d1 || !(d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token))) ||
        memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return wsjwt__fail(err, WSJWT_EJWT_MALFORMED, "", "jwt malformed");
    *hlen = (size_t)(d1 - token);
    *plen = (size_t)(d2 - d1 - 1);
    if (*hlen == 0 || *plen == 0)
        return wsjwt__fail(err, WSJWT_EJWT_MALFORMED, "", "jwt malformed");
    return 0;
}

static int decode_segment(const char *s, size_t len, uint8_t *out, size_t cap, size_t *n, const char *what,
                          struct wsjwt_jwt_error *err)
{
    if (len % 4 == 1 || wsjwt__b64url_decode(s, len, out, cap, n) != 0)
        return wsjwt__fail(err, WSJWT_EJWT_ENCODING, what, "invalid token: %s is not base64url", what);
    return 0;
}

/* Decodes header and payload into one new token object. */
static int decode(const char *token, size_t len, size_t hlen, size_t plen, struct wsjwt_jwt **out,
                  struct wsjwt_jwt_error *err)
{
    size_t hcap = wsjwt__b64url_decoded_len(hlen), pcap = wsjwt__b64url_decoded_len(plen), hn = 0, pn = 0;
    struct wsjwt_jwt *jwt;
    int rc;
    (void)len;
    if (hlen % 4 == 1)
        return wsjwt__fail(err, WSJWT_EJWT_ENCODING, "header", "invalid token: header is not base64url");
    if (plen % 4 == 1)
        return wsjwt__fail(err, WSJWT_EJWT_ENCODING, "payload", "invalid token: payload is not base64url");
    size_t nh = member_bound(hcap, MAX_HEADER_MEMBERS), np = member_bound(pcap, WSJWT__JSON_MAX_MEMBERS);
    size_t text = (hcap + 1 + pcap + 1) * 2, pad = (8 - text % 8) % 8;
    if (!(jwt = malloc(sizeof(*jwt) + text + pad + (nh + np) * sizeof(struct wsjwt__jmember))))
        return wsjwt__fail(err, WSJWT_ENOMEM, "", "out of memory");
    jwt->hm = (struct wsjwt__jmember *)(void *)(jwt->data + text + pad);
    jwt->pm = jwt->hm + nh;
    jwt->hcap = nh;
    jwt->pcap = np;
    jwt->nh = jwt->np = 0;
    jwt->arena = jwt->data + hcap + 1 + pcap + 1;
    jwt->header_json = jwt->data;
    if ((rc = decode_segment(token, hlen, (uint8_t *)jwt->data, hcap, &hn, "header", err)) != 0)
        goto fail;
    jwt->data[hn] = '\0';
    jwt->header_len = hn;
    jwt->payload_json = jwt->data + hn + 1;
    if ((rc = decode_segment(token + hlen + 1, plen, (uint8_t *)jwt->payload_json, pcap, &pn, "payload",
                             err)) != 0)
        goto fail;
    jwt->payload_json[pn] = '\0';
    jwt->payload_len = pn;
    *out = jwt;
    return 0;
fail:
    free(jwt);
    return rc;
}

int wsjwt_jwt_verify(const struct wsjwt_policy *policy, const struct wsjwt_keyset *keys, const char *token,
                     size_t len, int64_t now, struct wsjwt_jwt **out, struct wsjwt_jwt_error *err)
{
    size_t hlen = 0, plen = 0, slen = 0, sig_len = 0;
    uint8_t sig[WSJWT__MAX_SIG];
    struct wsjwt_jwt *jwt = NULL;
    const struct wsjwt__jmember *v;
    const char *kid = NULL;
    char *arena;
    int rc;
    if (err) {
        err->code = 0;
        err->member[0] = err->message[0] = '\0';
    }
    if (out)
        *out = NULL;
    if (!policy || !token || !out)
        return wsjwt__fail(err, WSJWT_EINVAL, "", "invalid argument");
    if (len > policy->max_token_len)
        return wsjwt__fail(err, WSJWT_EJWT_TOO_LARGE, "", "jwt too large: %zu bytes, at most %zu", len,
                           policy->max_token_len);
    if ((rc = split(token, len, &hlen, &plen, err)) != 0)
        return rc;
    slen = len - hlen - plen - 2;
    if (slen == 0)
        return wsjwt__fail(err, WSJWT_EJWT_SIGNATURE, "", "jwt signature is required");
    if ((rc = decode(token, len, hlen, plen, &jwt, err)) != 0)
        return rc;
    if (slen > wsjwt__b64url_encoded_len(WSJWT__MAX_SIG)) {
        rc = wsjwt__fail(err, WSJWT_EJWT_SIGNATURE, "", "invalid signature");
        goto fail;
    }
    if ((rc = decode_segment(token + hlen + plen + 2, slen, sig, sizeof(sig), &sig_len, "signature", err)) !=
        0)
        goto fail;

    arena = jwt->arena;
    if ((rc = parse_object(jwt->header_json, jwt->header_len, "header", &arena, jwt->hm, jwt->hcap, &jwt->nh,
                           err)) != 0)
        goto fail;
    /* RFC 8725 3.1: the algorithm comes from the token but must be one the
     * policy allows; an unknown name or any spelling of "none" never is. */
    v = wsjwt__json_get(jwt->hm, jwt->nh, "alg");
    if (!v || v->type != WSJWT__J_STRING || wsjwt_alg_from_name(v->str, strlen(v->str), &jwt->alg) != 0 ||
        !(policy->allowed & (1u << jwt->alg))) {
        rc = wsjwt__fail(err, WSJWT_EJWT_ALG, "alg", "invalid algorithm");
        goto fail;
    }
    /* RFC 7515 4.1.11: we implement no extension, so any crit is refused. */
    if (wsjwt__json_get(jwt->hm, jwt->nh, "crit")) {
        rc = wsjwt__fail(err, WSJWT_EJWT_CRIT, "crit", "unsupported critical header");
        goto fail;
    }
    v = wsjwt__json_get(jwt->hm, jwt->nh, "kid");
    if (v) {
        if (v->type != WSJWT__J_STRING) {
            rc = wsjwt__fail(err, WSJWT_EJWT_MALFORMED, "kid", "jwt malformed: kid is not a string");
            goto fail;
        }
        kid = v->str;
    }
    /* Header members that name keys (jwk, jku, x5u, x5c, x5t) are never read:
     * keys come only from the caller's key set (RFC 8725 3.10). */
    if ((rc = check_signature(keys, jwt->alg, kid, (const uint8_t *)token, hlen + 1 + plen, sig, sig_len,
                              err)) != 0)
        goto fail;

    if ((rc = parse_object(jwt->payload_json, jwt->payload_len, "payload", &arena, jwt->pm, jwt->pcap,
                           &jwt->np, err)) != 0)
        goto fail;
    if ((rc = check_claims(policy, jwt, now, err)) != 0)
        goto fail;
    *out = jwt;
    return 0;
fail:
    wsjwt_jwt_free(jwt);
    return rc;
}

/* ---- getters ------------------------------------------------------------------------ */

const char *wsjwt_jwt_header_json(const struct wsjwt_jwt *jwt)
{
    return jwt ? jwt->header_json : NULL;
}

const char *wsjwt_jwt_payload_json(const struct wsjwt_jwt *jwt)
{
    return jwt ? jwt->payload_json : NULL;
}

enum wsjwt_alg wsjwt_jwt_alg(const struct wsjwt_jwt *jwt)
{
    return jwt ? jwt->alg : WSJWT_ALG_UNKNOWN;
}

static int get(const struct wsjwt__jmember *m, size_t n, const char *name, const struct wsjwt__jmember **v)
{
    if (!m || !name)
        return WSJWT_EINVAL;
    *v = wsjwt__json_get(m, n, name);
    return *v ? 0 : WSJWT_ENOENT;
}

int wsjwt_jwt_claim_string(const struct wsjwt_jwt *jwt, const char *name, const char **out)
{
    const struct wsjwt__jmember *v;
    int rc = get(jwt ? jwt->pm : NULL, jwt ? jwt->np : 0, name, &v);
    if (rc || !out)
        return rc ? rc : WSJWT_EINVAL;
    if (v->type != WSJWT__J_STRING)
        return WSJWT_EJWT_CLAIM_TYPE;
    *out = v->str;
    return 0;
}

int wsjwt_jwt_claim_int(const struct wsjwt_jwt *jwt, const char *name, int64_t *out)
{
    const struct wsjwt__jmember *v;
    int rc = get(jwt ? jwt->pm : NULL, jwt ? jwt->np : 0, name, &v);
    if (rc || !out)
        return rc ? rc : WSJWT_EINVAL;
    if (v->type == WSJWT__J_INT) {
        *out = v->num.i;
        return 0;
    }
    /* A real with no fraction (1.7e9) is an integer too, when it fits. */
    if (v->type == WSJWT__J_REAL) {
        double d = v->num.d;
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            *out = (int64_t)d;
            return 0;
        }
    }
    return WSJWT_EJWT_CLAIM_TYPE;
}

int wsjwt_jwt_claim_bool(const struct wsjwt_jwt *jwt, const char *name, int *out)
{
    const struct wsjwt__jmember *v;
    int rc = get(jwt ? jwt->pm : NULL, jwt ? jwt->np : 0, name, &v);
    if (rc || !out)
        return rc ? rc : WSJWT_EINVAL;
    if (v->type != WSJWT__J_TRUE && v->type != WSJWT__J_FALSE)
        return WSJWT_EJWT_CLAIM_TYPE;
    *out = v->type == WSJWT__J_TRUE;
    return 0;
}

int wsjwt_jwt_claim_contains(const struct wsjwt_jwt *jwt, const char *name, const char *value)
{
    const struct wsjwt__jmember *v;
    size_t pos = 0;
    int rc = get(jwt ? jwt->pm : NULL, jwt ? jwt->np : 0, name, &v), type, found = 0;
    char *buf;
    if (rc || !value)
        return rc ? rc : WSJWT_EINVAL;
    if (v->type == WSJWT__J_STRING)
        return strcmp(v->str, value) == 0;
    if (v->type != WSJWT__J_ARRAY)
        return WSJWT_EJWT_CLAIM_TYPE;
    if (!(buf = malloc((size_t)v->raw_len + 1)))
        return WSJWT_ENOMEM;
    while (!found && wsjwt__json_array_next(v, &pos, &type, buf))
        found = type == WSJWT__J_STRING && strcmp(buf, value) == 0;
    free(buf);
    return found;
}

int wsjwt_jwt_claim_json(const struct wsjwt_jwt *jwt, const char *name, const char **out, size_t *out_len)
{
    const struct wsjwt__jmember *v;
    int rc = get(jwt ? jwt->pm : NULL, jwt ? jwt->np : 0, name, &v);
    if (rc || !out || !out_len)
        return rc ? rc : WSJWT_EINVAL;
    *out = v->raw;
    *out_len = v->raw_len;
    return 0;
}

int wsjwt_jwt_header_string(const struct wsjwt_jwt *jwt, const char *name, const char **out)
{
    const struct wsjwt__jmember *v;
    int rc = get(jwt ? jwt->hm : NULL, jwt ? jwt->nh : 0, name, &v);
    if (rc || !out)
        return rc ? rc : WSJWT_EINVAL;
    if (v->type != WSJWT__J_STRING)
        return WSJWT_EJWT_CLAIM_TYPE;
    *out = v->str;
    return 0;
}

int wsjwt_jwt_decode_unverified(const char *token, size_t len, char **header_json, char **payload_json)
{
    size_t hlen = 0, plen = 0;
    struct wsjwt_jwt *jwt = NULL;
    int rc;
    if (!token)
        return WSJWT_EINVAL;
    if (len > (size_t)WSJWT_JWT_DEFAULT_MAX_LEN * 8)
        return WSJWT_EJWT_TOO_LARGE;
    if ((rc = split(token, len, &hlen, &plen, NULL)) != 0 ||
        (rc = decode(token, len, hlen, plen, &jwt, NULL)))
        return rc;
    if (header_json)
        *header_json = NULL;
    if (payload_json)
        *payload_json = NULL;
    if ((header_json && !(*header_json = strdup(jwt->header_json))) ||
        (payload_json && !(*payload_json = strdup(jwt->payload_json)))) {
        if (header_json) {
            free(*header_json);
            *header_json = NULL;
        }
        rc = WSJWT_ENOMEM;
    }
    free(jwt);
    return rc;
}
