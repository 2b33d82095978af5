/* SHA-1 per FIPS 180-4 section 6.1. It runs once per upgrade on 60 bytes
 * (two blocks), so the 80 rounds are unrolled (about 1 k instructions per block
 * instead of 2.8 k with a branch per round). */
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

/* FIPS 180-4 4.1.1: Ch, Parity, Maj. */
#define F1(b, c, d) (((b) & (c)) | (~(b) & (d)))
#define F2(b, c, d) ((b) ^ (c) ^ (d))
#define F3(b, c, d) (((b) & (c)) | ((b) & (d)) | ((c) & (d)))

/* The message schedule in a 16-word ring (6.1.2 step 1 computed as the
 * rounds need it), with constant indices once the rounds are unrolled. */
#define X(t) (w[(t)&15] = rol(w[((t) + 13) & 15] ^ w[((t) + 8) & 15] ^ w[((t) + 2) & 15] ^ w[(t)&15], 1))

/* One round (6.1.2 step 3): e takes the new value and b rotates; the other
 * renamings are done by the caller's argument order, so no moves. */
#define R(a, b, c, d, e, f, k, x)                                                                            \
    do {                                                                                                     \
        e += rol(a, 5) + (f) + (k) + (x);                                                                    \
        b = rol(b, 30);                                                                                      \
    } while (0)

static void block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[16];
    for (unsigned t = 0; t < 16; t++)
        w[t] = load_be32(p + 4 * t);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    R(a, b, c, d, e, F1(b, c, d), 0x5a827999u, w[0]);
    R(e, a, b, c, d, F1(a, b, c), 0x5a827999u, w[1]);
    R(d, e, a, b, c, F1(e, a, b), 0x5a827999u, w[2]);
    R(c, d, e, a, b, F1(d, e, a), 0x5a827999u, w[3]);
    R(b, c, d, e, a, F1(c, d, e), 0x5a827999u, w[4]);
    R(a, b, c, d, e, F1(b, c, d), 0x5a827999u, w[5]);
    R(e, a, b, c, d, F1(a, b, c), 0x5a827999u, w[6]);
    R(d, e, a, b, c, F1(e, a, b), 0x5a827999u, w[7]);
    R(c, d, e, a, b, F1(d, e, a), 0x5a827999u, w[8]);
    R(b, c, d, e, a, F1(c, d, e), 0x5a827999u, w[9]);
    R(a, b, c, d, e, F1(b, c, d), 0x5a827999u, w[10]);
    R(e, a, b, c, d, F1(a, b, c), 0x5a827999u, w[11]);
    R(d, e, a, b, c, F1(e, a, b), 0x5a827999u, w[12]);
    R(c, d, e, a, b, F1(d, e, a), 0x5a827999u, w[13]);
    R(b, c, d, e, a, F1(c, d, e), 0x5a827999u, w[14]);
    R(a, b, c, d, e, F1(b, c, d), 0x5a827999u, w[15]);
    R(e, a, b, c, d, F1(a, b, c), 0x5a827999u, X(16));
    R(d, e, a, b, c, F1(e, a, b), 0x5a827999u, X(17));
    R(c, d, e, a, b, F1(d, e, a), 0x5a827999u, X(18));
    R(b, c, d, e, a, F1(c, d, e), 0x5a827999u, X(19));
    R(a, b, c, d, e, F2(b, c, d), 0x6ed9eba1u, X(20));
    R(e, a, b, c, d, F2(a, b, c), 0x6ed9eba1u, X(21));
    R(d, e, a, b, c, F2(e, a, b), 0x6ed9eba1u, X(22));
    R(c, d, e, a, b, F2(d, e, a), 0x6ed9eba1u, X(23));
    R(b, c, d, e, a, F2(c, d, e), 0x6ed9eba1u, X(24));
    R(a, b, c, d, e, F2(b, c, d), 0x6ed9eba1u, X(25));
    R(e, a, b, c, d, F2(a, b, c), 0x6ed9eba1u, X(26));
    R(d, e, a, b, c, F2(e, a, b), 0x6ed9eba1u, X(27));
    R(c, d, e, a, b, F2(d, e, a), 0x6ed9eba1u, X(28));
    R(b, c, d, e, a, F2(c, d, e), 0x6ed9eba1u, X(29));
    R(a, b, c, d, e, F2(b, c, d), 0x6ed9eba1u, X(30));
    R(e, a, b, c, d, F2(a, b, c), 0x6ed9eba1u, X(31));
    R(d, e, a, b, c, F2(e, a, b), 0x6ed9eba1u, X(32));
    R(c, d, e, a, b, F2(d, e, a), 0x6ed9eba1u, X(33));
    R(b, c, d, e, a, F2(c, d, e), 0x6ed9eba1u, X(34));
    R(a, b, c, d, e, F2(b, c, d), 0x6ed9eba1u, X(35));
    R(e, a, b, c, d, F2(a, b, c), 0x6ed9eba1u, X(36));
    R(d, e, a, b, c, F2(e, a, b), 0x6ed9eba1u, X(37));
    R(c, d, e, a, b, F2(d, e, a), 0x6ed9eba1u, X(38));
    R(b, c, d, e, a, F2(c, d, e), 0x6ed9eba1u, X(39));
    R(a, b, c, d, e, F3(b, c, d), 0x8f1bbcdcu, X(40));
    R(e, a, b, c, d, F3(a, b, c), 0x8f1bbcdcu, X(41));
    R(d, e, a, b, c, F3(e, a, b), 0x8f1bbcdcu, X(42));
    R(c, d, e, a, b, F3(d, e, a), 0x8f1bbcdcu, X(43));
    R(b, c, d, e, a, F3(c, d, e), 0x8f1bbcdcu, X(44));
    R(a, b, c, d, e, F3(b, c, d), 0x8f1bbcdcu, X(45));
    R(e, a, b, c, d, F3(a, b, c), 0x8f1bbcdcu, X(46));
    R(d, e, a, b, c, F3(e, a, b), 0x8f1bbcdcu, X(47));
    R(c, d, e, a, b, F3(d, e, a), 0x8f1bbcdcu, X(48));
    R(b, c, d, e, a, F3(c, d, e), 0x8f1bbcdcu, X(49));
    R(a, b, c, d, e, F3(b, c, d), 0x8f1bbcdcu, X(50));
    R(e, a, b, c, d, F3(a, b, c), 0x8f1bbcdcu, X(51));
    R(d, e, a, b, c, F3(e, a, b), 0x8f1bbcdcu, X(52));
    R(c, d, e, a, b, F3(d, e, a), 0x8f1bbcdcu, X(53));
    R(b, c, d, e, a, F3(c, d, e), 0x8f1bbcdcu, X(54));
    R(a, b, c, d, e, F3(b, c, d), 0x8f1bbcdcu, X(55));
    R(e, a, b, c, d, F3(a, b, c), 0x8f1bbcdcu, X(56));
    R(d, e, a, b, c, F3(e, a, b), 0x8f1bbcdcu, X(57));
    R(c, d, e, a, b, F3(d, e, a), 0x8f1bbcdcu, X(58));
    R(b, c, d, e, a, F3(c, d, e), 0x8f1bbcdcu, X(59));
    R(a, b, c, d, e, F2(b, c, d), 0xca62c1d6u, X(60));
    R(e, a, b, c, d, F2(a, b, c), 0xca62c1d6u, X(61));
    R(d, e, a, b, c, F2(e, a, b), 0xca62c1d6u, X(62));
    R(c, d, e, a, b, F2(d, e, a), 0xca62c1d6u, X(63));
    R(b, c, d, e, a, F2(c, d, e), 0xca62c1d6u, X(64));
    R(a, b, c, d, e, F2(b, c, d), 0xca62c1d6u, X(65));
    R(e, a, b, c, d, F2(a, b, c), 0xca62c1d6u, X(66));
    R(d, e, a, b, c, F2(e, a, b), 0xca62c1d6u, X(67));
    R(c, d, e, a, b, F2(d, e, a), 0xca62c1d6u, X(68));
    R(b, c, d, e, a, F2(c, d, e), 0xca62c1d6u, X(69));
    R(a, b, c, d, e, F2(b, c, d), 0xca62c1d6u, X(70));
    R(e, a, b, c, d, F2(a, b, c), 0xca62c1d6u, X(71));
    R(d, e, a, b, c, F2(e, a, b), 0xca62c1d6u, X(72));
    R(c, d, e, a, b, F2(d, e, a), 0xca62c1d6u, X(73));
    R(b, c, d, e, a, F2(c, d, e), 0xca62c1d6u, X(74));
    R(a, b, c, d, e, F2(b, c, d), 0xca62c1d6u, X(75));
    R(e, a, b, c, d, F2(a, b, c), 0xca62c1d6u, X(76));
    R(d, e, a, b, c, F2(e, a, b), 0xca62c1d6u, X(77));
    R(c, d, e, a, b, F2(d, e, a), 0xca62c1d6u, X(78));
    R(b, c, d, e, a, F2(c, d, e), 0xca62c1d6u, X(79));
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
