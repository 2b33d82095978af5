/* base64 and base64url: see b64.h. */
#include "base/b64.h"

#include <string.h>

#include <wsjwt/error.h>

static const char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of each byte in either alphabet, -1 for every other byte (so '=',
 * whitespace and NUL all refuse). */
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

/* Decodes unpadded text of either alphabet, leniently: the unused low bits
 * of the last character may be set (the strict decoder is below). */
static int decode_lenient(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    const int8_t *values = any_values;
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
        if ((a | b) < 0)
            return WSJWT_EJWT_ENCODING;
        out[o++] = (uint8_t)((uint32_t)a << 2 | (uint32_t)b >> 4);
    } else if (rem == 3) {
        int a = values[s[i]], b = values[s[i + 1]], c = values[s[i + 2]];
        if ((a | b | c) < 0)
            return WSJWT_EJWT_ENCODING;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
    }
    *out_len = o;
    return 0;
}

/* Strict base64url, four characters per step (issue 8: decoding was about
 * 1.7 k instructions per token, 8 per character). Each character's value is
 * looked up already shifted to its place in the three output bytes, taken as
 * a little-endian word (byte 0 in bits 0-7): one OR of four loads gives the
 * three bytes, and bit 24, set only for bytes outside the URL alphabet, tells
 * that one was bad. The tables are built by the compiler from URL_VALUE. */
#define URL_VALUE(c)                                                                                         \
    ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                                                  \
     : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                                             \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                                             \
     : (c) == '-'               ? 62                                                                         \
     : (c) == '_'               ? 63                                                                         \
                                : -1)
#define BAD 0x01000000u
/* A quantum abcd (6 bits each) is the bytes a<<2 | b>>4, (b&15)<<4 | c>>2,
 * (c&3)<<6 | d. */
#define Q0(c) (URL_VALUE(c) < 0 ? BAD : (uint32_t)URL_VALUE(c) << 2)
#define Q1(c) (URL_VALUE(c) < 0 ? BAD : (uint32_t)URL_VALUE(c) >> 4 | ((uint32_t)URL_VALUE(c) & 15u) << 12)
#define Q2(c)                                                                                                \
    (URL_VALUE(c) < 0 ? BAD : ((uint32_t)URL_VALUE(c) >> 2) << 8 | ((uint32_t)URL_VALUE(c) & 3u) << 22)
#define Q3(c)     (URL_VALUE(c) < 0 ? BAD : (uint32_t)URL_VALUE(c) << 16)
#define T4(f, i)  f(i), f(i + 1), f(i + 2), f(i + 3)
#define T16(f, i) T4(f, i), T4(f, i + 4), T4(f, i + 8), T4(f, i + 12)
#define T64(f, i) T16(f, i), T16(f, i + 16), T16(f, i + 32), T16(f, i + 48)
#define T256(f)   T64(f, 0), T64(f, 64), T64(f, 128), T64(f, 192)
/* One array: a single base register for the four lookups. */
static const uint32_t qt[4][256] = {{T256(Q0)}, {T256(Q1)}, {T256(Q2)}, {T256(Q3)}};

/* The three bytes (and BAD) of the four characters at p. */
#define QUANTUM4(p) (qt[0][(p)[0]] | qt[1][(p)[1]] | qt[2][(p)[2]] | qt[3][(p)[3]])

/* Stores the three bytes of x (a little-endian word from the tables) and, on
 * a little-endian CPU, a fourth byte that the caller has room for. */
static inline void store3(uint8_t *out, uint32_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(out, &x, 4);
#else
    out[0] = (uint8_t)x;
    out[1] = (uint8_t)(x >> 8);
    out[2] = (uint8_t)(x >> 16);
#endif
}

int wsjwt__b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)in, *end = p + len;
    uint8_t *o = out;
    size_t rem = len % 4;
    if (rem == 1)
        return WSJWT_EJWT_ENCODING;
    if (wsjwt__b64url_decoded_len(len) > cap)
        return WSJWT_ETOOBIG;
    /* While at least two more characters (one more byte) follow a quantum,
     * its three bytes may be stored as one 4-byte word: the fourth is
     * overwritten by the next quantum and stays within the decoded length.
     * Two quanta per step, with one test for a bad character. */
    for (; end - p > 8; p += 8, o += 6) {
        uint32_t x = QUANTUM4(p), y = QUANTUM4(p + 4);
        if ((x | y) & BAD)
            return WSJWT_EJWT_ENCODING;
        store3(o, x);
        store3(o + 3, y);
    }
    for (; end - p > 4; p += 4, o += 3) {
        uint32_t x = QUANTUM4(p);
        if (x & BAD)
            return WSJWT_EJWT_ENCODING;
        store3(o, x);
    }
    if (rem == 0 && p < end) {
        uint32_t x = QUANTUM4(p);
        if (x & BAD)
            return WSJWT_EJWT_ENCODING;
        *o++ = (uint8_t)x;
        *o++ = (uint8_t)(x >> 8);
        *o++ = (uint8_t)(x >> 16);
    } else if (rem == 2) {
        /* RFC 4648 3.5: the unused low bits of the last character must be
         * zero (otherwise several texts decode to the same bytes, and a
         * signature could be re-encoded). */
        uint32_t x = qt[0][p[0]] | qt[1][p[1]];
        if ((x & BAD) || (x & 0xF000u))
            return WSJWT_EJWT_ENCODING;
        *o++ = (uint8_t)x;
    } else if (rem == 3) {
        uint32_t x = qt[0][p[0]] | qt[1][p[1]] | qt[2][p[2]];
        if ((x & BAD) || (x & 0xC00000u))
            return WSJWT_EJWT_ENCODING;
        *o++ = (uint8_t)x;
        *o++ = (uint8_t)(x >> 8);
    }
    *out_len = (size_t)(o - out);
    return 0;
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
    return decode_lenient(in, len, out, cap, out_len);
}
