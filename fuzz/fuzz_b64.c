/* libFuzzer: strict base64url decoding (src/base/b64.c, four characters per
 * step through pre-shifted tables) against a reference that takes one
 * character at a time into a bit accumulator, written from RFC 4648 5 and
 * 3.5: the same result code, the same bytes. The output buffer is exactly
 * the room given (a write past it is an ASan error).
 *
 * Input: byte 0 bit 0 gives one byte less room than the text decodes to
 * (WSJWT_ETOOBIG expected); the rest is the text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wsjwt/error.h>

#include "base/b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int url_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

static int reference(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    if (len % 4 == 1)
        return WSJWT_EJWT_ENCODING;
    if (len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > cap)
        return WSJWT_ETOOBIG;
    for (size_t i = 0; i < len; i++) {
        int v = url_value(in[i]);
        if (v < 0)
            return WSJWT_EJWT_ENCODING;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1u;
        }
    }
    if (acc != 0) /* the unused trailing bits must be zero */
        return WSJWT_EJWT_ENCODING;
    *out_len = o;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1, need = wsjwt__b64url_decoded_len(len);
    size_t cap = (data[0] & 1) && need > 0 ? need - 1 : need;
    uint8_t *got = malloc(cap ? cap : 1), *want = malloc(cap ? cap : 1);
    size_t got_len = 0, want_len = 0;
    if (!got || !want)
        abort();
    int rc = wsjwt__b64url_decode(text, len, got, cap, &got_len);
    int ref = reference((const uint8_t *)text, len, want, cap, &want_len);
    if (rc != ref)
        abort();
    if (rc == 0 && (got_len != want_len || memcmp(got, want, got_len) != 0))
        abort();
    free(got);
    free(want);
    return 0;
}
