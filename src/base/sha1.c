/* SHA-1 per FIPS 180-4 section 6.1. It runs once per upgrade on 60 bytes
 * (two blocks), so the rounds are unrolled by five (about 1 k instructions
 * per block instead of 2.8 k with a branch per round). */
#include "base/sha1.h"

#include <string.h>

static uint32_t rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32u - n));
}

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One round: e gets the new value, the others rotate (by renaming at the
 * call site, so no register shuffling). */
#define R(a, b, c, d, e, f, k, w)                                                                            \
    do {                                                                                                     \
        e += rol(a, 5) + (f) + (k) + (w);                                                                    \
        b = rol(b, 30);                                                                                      \
    } while (0)

static void block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (unsigned t = 0; t < 16; t++)
        w[t] = load_be32(p + 4 * t);
    for (unsigned t = 16; t < 80; t++)
        w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    /* FIPS 180-4 4.1.1 and 6.1.2: four stages of 20 rounds with Ch, Parity,
     * Maj, Parity; five rounds per iteration so the variables come back to
     * their places without moves. */
    for (unsigned t = 0; t < 20; t += 5) {
        R(a, b, c, d, e, (b & c) | (~b & d), 0x5a827999u, w[t]);
        R(e, a, b, c, d, (a & b) | (~a & c), 0x5a827999u, w[t + 1]);
        R(d, e, a, b, c, (e & a) | (~e & b), 0x5a827999u, w[t + 2]);
        R(c, d, e, a, b, (d & e) | (~d & a), 0x5a827999u, w[t + 3]);
        R(b, c, d, e, a, (c & d) | (~c & e), 0x5a827999u, w[t + 4]);
    }
    for (unsigned t = 20; t < 40; t += 5) {
        R(a, b, c, d, e, b ^ c ^ d, 0x6ed9eba1u, w[t]);
        R(e, a, b, c, d, a ^ b ^ c, 0x6ed9eba1u, w[t + 1]);
        R(d, e, a, b, c, e ^ a ^ b, 0x6ed9eba1u, w[t + 2]);
        R(c, d, e, a, b, d ^ e ^ a, 0x6ed9eba1u, w[t + 3]);
        R(b, c, d, e, a, c ^ d ^ e, 0x6ed9eba1u, w[t + 4]);
    }
    for (unsigned t = 40; t < 60; t += 5) {
        R(a, b, c, d, e, (b & c) | (b & d) | (c & d), 0x8f1bbcdcu, w[t]);
        R(e, a, b, c, d, (a & b) | (a & c) | (b & c), 0x8f1bbcdcu, w[t + 1]);
        R(d, e, a, b, c, (e & a) | (e & b) | (a & b), 0x8f1bbcdcu, w[t + 2]);
        R(c, d, e, a, b, (d & e) | (d & a) | (e & a), 0x8f1bbcdcu, w[t + 3]);
        R(b, c, d, e, a, (c & d) | (c & e) | (d & e), 0x8f1bbcdcu, w[t + 4]);
    }
    for (unsigned t = 60; t < 80; t += 5) {
        R(a, b, c, d, e, b ^ c ^ d, 0xca62c1d6u, w[t]);
        R(e, a, b, c, d, a ^ b ^ c, 0xca62c1d6u, w[t + 1]);
        R(d, e, a, b, c, e ^ a ^ b, 0xca62c1d6u, w[t + 2]);
        R(c, d, e, a, b, d ^ e ^ a, 0xca62c1d6u, w[t + 3]);
        R(b, c, d, e, a, c ^ d ^ e, 0xca62c1d6u, w[t + 4]);
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void wsjwt__sha1_init(struct wsjwt__sha1 *s)
{
    /* FIPS 180-4 5.3.1 initial hash value. */
    s->h[0] = 0x67452301u;
    s->h[1] = 0xefcdab89u;
    s->h[2] = 0x98badcfeu;
    s->h[3] = 0x10325476u;
    s->h[4] = 0xc3d2e1f0u;
    s->bytes = 0;
    s->buf_len = 0;
}

void wsjwt__sha1_update(struct wsjwt__sha1 *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    s->bytes += len;
    if (s->buf_len) {
        size_t take = 64 - s->buf_len;
        if (take > len)
            take = len;
        memcpy(s->buf + s->buf_len, p, take);
        s->buf_len += take;
        p += take;
        len -= take;
        if (s->buf_len < 64)
            return;
        block(s->h, s->buf);
        s->buf_len = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        block(s->h, p);
    if (len) {
        memcpy(s->buf, p, len);
        s->buf_len = len;
    }
}

void wsjwt__sha1_final(struct wsjwt__sha1 *s, uint8_t out[WSJWT__SHA1_LEN])
{
    /* FIPS 180-4 5.1.1 padding: 0x80, zeros, then the bit length big-endian
     * in the last 8 bytes of a block. */
    uint64_t bits = s->bytes * 8u;
    s->buf[s->buf_len++] = 0x80;
    if (s->buf_len > 56) {
        memset(s->buf + s->buf_len, 0, 64 - s->buf_len);
        block(s->h, s->buf);
        s->buf_len = 0;
    }
    memset(s->buf + s->buf_len, 0, 56 - s->buf_len);
    store_be32(s->buf + 56, (uint32_t)(bits >> 32));
    store_be32(s->buf + 60, (uint32_t)bits);
    block(s->h, s->buf);
    for (unsigned i = 0; i < 5; i++)
        store_be32(out + 4 * i, s->h[i]);
}

void wsjwt__sha1(const void *data, size_t len, uint8_t out[WSJWT__SHA1_LEN])
{
    struct wsjwt__sha1 s;
    wsjwt__sha1_init(&s);
    wsjwt__sha1_update(&s, data, len);
    wsjwt__sha1_final(&s, out);
}
