/* base64 and base64url: see b64.h. */
#include "base/b64.h"

#include <wsjwt/error.h>

static const char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of each byte in the URL alphabet, -1 for every other byte (so '=',
 * '+', '/', whitespace and NUL all refuse). */
static const int8_t url_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63, -1, 26, 27, 28, 29, 30, 31, 32,
    33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* The same for either alphabet. */
static const int8_t any_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, 62, -1, 63, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63, -1, 26, 27, 28, 29, 30, 31, 32,
    33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static size_t encode(const uint8_t *in, size_t len, char *out, const char *alphabet, int pad)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t wsjwt__b64_encode(const uint8_t *in, size_t len, char *out)
{
    return encode(in, len, out, std_alphabet, 1);
}

size_t wsjwt__b64url_encode(const uint8_t *in, size_t len, char *out)
{
    return encode(in, len, out, url_alphabet, 0);
}

/* Decodes unpadded text with the given table. `strict`: the unused low bits
 * of the last character must be zero (RFC 4648 3.5: otherwise several texts
 * decode to the same bytes, and a signature could be re-encoded). */
static int decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len, const int8_t *values,
                  int strict)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t rem = len % 4, o = 0, i = 0;
    if (rem == 1)
        return WSJWT_EJWT_ENCODING;
    if (wsjwt__b64url_decoded_len(len) > cap)
        return WSJWT_ETOOBIG;
    for (; i + 4 <= len; i += 4) {
        int a = values[s[i]], b = values[s[i + 1]], c = values[s[i + 2]], d = values[s[i + 3]];
        if ((a | b | c | d) < 0)
            return WSJWT_EJWT_ENCODING;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if (rem == 2) {
        int a = values[s[i]], b = values[s[i + 1]];
        if ((a | b) < 0 || (strict && (b & 15)))
            return WSJWT_EJWT_ENCODING;
        out[o++] = (uint8_t)((uint32_t)a << 2 | (uint32_t)b >> 4);
    } else if (rem == 3) {
        int a = values[s[i]], b = values[s[i + 1]], c = values[s[i + 2]];
        if ((a | b | c) < 0 || (strict && (c & 3)))
            return WSJWT_EJWT_ENCODING;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
    }
    *out_len = o;
    return 0;
}

int wsjwt__b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    return decode(in, len, out, cap, out_len, url_values, 1);
}

int wsjwt__b64_decode_any(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    /* Padding, when present, must complete the last quantum exactly. */
    if (len > 0 && in[len - 1] == '=') {
        size_t pad = (len >= 2 && in[len - 2] == '=') ? 2 : 1;
        if (len % 4 != 0)
            return WSJWT_EJWT_ENCODING;
        len -= pad;
        if (len % 4 + pad != 4)
            return WSJWT_EJWT_ENCODING;
    }
    return decode(in, len, out, cap, out_len, any_values, 0);
}
