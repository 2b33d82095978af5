/* Small public helpers: memory release, base64 wrappers, error filling. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/b64.h"
#include "jwt/jwt_internal.h"

void wsjwt_free(void *p)
{
    free(p);
}

int wsjwt__fail(struct wsjwt_jwt_error *err, int code, const char *member, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        snprintf(err->member, sizeof(err->member), "%s", member ? member : "");
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

int wsjwt_b64url_encode(const void *data, size_t len, char **out, size_t *out_len)
{
    size_t n;
    if (!out || (!data && len))
        return WSJWT_EINVAL;
    if (len > SIZE_MAX / 2)
        return WSJWT_ETOOBIG;
    if (!(*out = malloc(wsjwt__b64url_encoded_len(len) + 1)))
        return WSJWT_ENOMEM;
    n = wsjwt__b64url_encode(data, len, *out);
    if (out_len)
        *out_len = n;
    return 0;
}

int wsjwt_base64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len)
{
    size_t cap = len / 4 * 3 + 3, n = 0;
    uint8_t *buf;
    int rc;
    if (!s || !out || !out_len)
        return WSJWT_EINVAL;
    if (!(buf = malloc(cap)))
        return WSJWT_ENOMEM;
    if ((rc = wsjwt__b64_decode_any(s, len, buf, cap, &n)) != 0) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = n;
    return 0;
}
