/* JOSE algorithm names (RFC 7518 3.1, RFC 8037 3.1). */
#include <string.h>

#include "jwt/jwt_internal.h"

static const char *const names[WSJWT_ALG_COUNT] = {
    [WSJWT_ALG_UNKNOWN] = "unknown", [WSJWT_ALG_HS256] = "HS256", [WSJWT_ALG_HS384] = "HS384",
    [WSJWT_ALG_HS512] = "HS512",     [WSJWT_ALG_RS256] = "RS256", [WSJWT_ALG_RS384] = "RS384",
    [WSJWT_ALG_RS512] = "RS512",     [WSJWT_ALG_PS256] = "PS256", [WSJWT_ALG_PS384] = "PS384",
    [WSJWT_ALG_PS512] = "PS512",     [WSJWT_ALG_ES256] = "ES256", [WSJWT_ALG_ES384] = "ES384",
    [WSJWT_ALG_ES512] = "ES512",     [WSJWT_ALG_EDDSA] = "EdDSA",
};

const char *wsjwt_alg_name(enum wsjwt_alg alg)
{
    if ((int)alg <= WSJWT_ALG_UNKNOWN || alg >= WSJWT_ALG_COUNT)
        return "unknown";
    return names[alg];
}

int wsjwt_alg_from_name(const char *name, size_t len, enum wsjwt_alg *out)
{
    /* RFC 7515 4.1.1: alg is case-sensitive. "none", "None", "NONE" and every
     * other spelling fall through to the error. */
    if (!name || !out)
        return WSJWT_EINVAL;
    for (int a = WSJWT_ALG_HS256; a < WSJWT_ALG_COUNT; a++) {
        if (strlen(names[a]) == len && memcmp(names[a], name, len) == 0) {
            *out = (enum wsjwt_alg)a;
            return 0;
        }
    }
    return WSJWT_EJWT_ALG;
}

enum wsjwt__family wsjwt__alg_family(enum wsjwt_alg alg)
{
    switch (alg) {
    case WSJWT_ALG_HS256:
    case WSJWT_ALG_HS384:
    case WSJWT_ALG_HS512:
        return FAM_HS;
    case WSJWT_ALG_RS256:
    case WSJWT_ALG_RS384:
    case WSJWT_ALG_RS512:
        return FAM_RS;
    case WSJWT_ALG_PS256:
    case WSJWT_ALG_PS384:
    case WSJWT_ALG_PS512:
        return FAM_PS;
    case WSJWT_ALG_ES256:
    case WSJWT_ALG_ES384:
    case WSJWT_ALG_ES512:
        return FAM_ES;
    case WSJWT_ALG_EDDSA:
        return FAM_ED;
    default:
        return FAM_NONE;
    }
}

size_t wsjwt__alg_hash_len(enum wsjwt_alg alg)
{
    switch (alg) {
    case WSJWT_ALG_HS256:
    case WSJWT_ALG_RS256:
    case WSJWT_ALG_PS256:
    case WSJWT_ALG_ES256:
        return 32;
    case WSJWT_ALG_HS384:
    case WSJWT_ALG_RS384:
    case WSJWT_ALG_PS384:
    case WSJWT_ALG_ES384:
        return 48;
    case WSJWT_ALG_HS512:
    case WSJWT_ALG_RS512:
    case WSJWT_ALG_PS512:
    case WSJWT_ALG_ES512:
        return 64;
    default:
        return 0;
    }
}

const char *wsjwt__alg_md_name(enum wsjwt_alg alg)
{
    switch (wsjwt__alg_hash_len(alg)) {
    case 32:
        return "SHA256";
    case 48:
        return "SHA384";
    case 64:
        return "SHA512";
    default:
        return NULL;
    }
}
