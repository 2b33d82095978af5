/* permessage-deflate (RFC 7692): negotiation against the offers real peers
 * make, declines, the client's checks of an answer, the engine against the
 * RFC 7692 7.2.3 examples, round trips, the decompression bomb and compressed
 * fragmented messages through the frame decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws/deflate.h"
#include "ws/ws.h"

static int negotiate(const char *mode, const char *offer, char *answer, size_t cap)
{
    struct wsjwt__pmd_server_config cfg;
    unsigned bits = 0;
    assert_int_equal(wsjwt__pmd_mode_parse(mode, &cfg.mode, &bits), 0);
    cfg.window_bits = bits;
    struct wsjwt__pmd_params p;
    int rc = wsjwt__pmd_negotiate(&cfg, offer, strlen(offer), &p);
    answer[0] = '\0';
    if (rc == 1) {
        size_t n = wsjwt__pmd_write_response(answer, cap - 1, &p);
        assert_true(n > 0);
        answer[n] = '\0';
        /* The packed form a connection keeps gives the same answer. */
        struct wsjwt__pmd_params q;
        wsjwt__pmd_unpack(wsjwt__pmd_pack(&p), &q);
        char again[WSJWT__PMD_RESPONSE_MAX + 1];
        size_t m = wsjwt__pmd_write_response(again, sizeof(again) - 1, &q);
        assert_int_equal(m, n);
        assert_memory_equal(again, answer, n);
    }
    return rc;
}

#define EXPECT(mode, offer, want)                                                                            \
    do {                                                                                                     \
        char a_[WSJWT__PMD_RESPONSE_MAX + 1];                                                                \
        int rc_ = negotiate(mode, offer, a_, sizeof(a_));                                                    \
        if ((want) == NULL) {                                                                                \
            assert_int_equal(rc_, 0);                                                                        \
        } else {                                                                                             \
            assert_int_equal(rc_, 1);                                                                        \
            assert_string_equal(a_, (want) ? (want) : "");                                                   \
        }                                                                                                    \
    } while (0)

static const char *const NONE = NULL;

static void test_mode_parse(void **state)
{
    (void)state;
    enum wsjwt__pmd_mode m;
    unsigned b;
    assert_int_equal(wsjwt__pmd_mode_parse("off", &m, &b), 0);
    assert_int_equal(m, WSJWT__PMD_OFF);
    assert_int_equal(wsjwt__pmd_mode_parse("shared", &m, &b), 0);
    assert_int_equal(m, WSJWT__PMD_SHARED);
    assert_int_equal(wsjwt__pmd_mode_parse("dedicated", &m, &b), 0);
    assert_int_equal(m, WSJWT__PMD_DEDICATED);
    assert_int_equal(b, 15);
    assert_int_equal(wsjwt__pmd_mode_parse("dedicated:9", &m, &b), 0);
    assert_int_equal(b, 9);
    assert_int_equal(wsjwt__pmd_mode_parse("dedicated:12", &m, &b), 0);
    assert_int_equal(b, 12);
    const char *bad[] = {
        "",           "on",          "dedicated:", "dedicated:8", "dedicated:16", "dedicated:09",
        "dedicatedx", "dedicated:1", "shared:10",  "Shared"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsjwt__pmd_mode_parse(bad[i], &m, &b), WSJWT_EINVAL);
}

static void test_parse_element(void **state)
{
    (void)state;
    struct wsjwt__pmd_params p;
    const char *s = "permessage-deflate; client_max_window_bits";
    assert_int_equal(wsjwt__pmd_parse_element(s, strlen(s), &p), 1);
    assert_int_equal(p.has_client_max_window_bits, 1);
    assert_int_equal(p.client_max_window_bits, 0);
    /* Case, spaces around ';' and '=', a quoted value. */
    s = "Permessage-Deflate ;server_max_window_bits = \"10\"; client_max_window_bits=15 ;"
        "server_no_context_takeover;client_no_context_takeover";
    assert_int_equal(wsjwt__pmd_parse_element(s, strlen(s), &p), 1);
    s = "permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits=15; "
        "server_no_context_takeover; client_no_context_takeover";
    assert_int_equal(wsjwt__pmd_parse_element(s, strlen(s), &p), 1);
    assert_int_equal(p.server_max_window_bits, 10);
    assert_int_equal(p.client_max_window_bits, 15);
    assert_int_equal(p.server_no_context_takeover, 1);
    assert_int_equal(p.client_no_context_takeover, 1);
    s = "x-webkit-deflate-frame; no_context_takeover";
    assert_int_equal(wsjwt__pmd_parse_element(s, strlen(s), &p), 0);
    s = "permessage-deflatex";
    assert_int_equal(wsjwt__pmd_parse_element(s, strlen(s), &p), 0);
    /* RFC 7692 7: unknown, repeated, valued flags, bad window values. */
    const char *bad[] = {
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; client_max_window_bits=",
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate; client_max_window_bits=\"100\"",
        "permessage-deflate; client_max_window_bits=1 0",
        "permessage-deflate client_max_window_bits",
        "permessage-deflate;",
        "permessage-deflate; =10",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = wsjwt__pmd_parse_element(bad[i], strlen(bad[i]), &p);
        if (rc != WSJWT_EINVAL)
            fail_msg("accepted: %s", bad[i]);
    }
}

/* The offers real peers make, answered per mode. */
static void test_negotiate_peers(void **state)
{
    (void)state;
    /* Chrome and Node ws (perMessageDeflate: true) both offer this. */
    const char *chrome = "permessage-deflate; client_max_window_bits";
    EXPECT("shared", chrome, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT("dedicated", chrome, "permessage-deflate");
    EXPECT("dedicated:10", chrome, "permessage-deflate; client_max_window_bits=10");
    EXPECT("off", chrome, NONE);
    /* Firefox and Safari: a bare offer. */
    EXPECT("shared", "permessage-deflate",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT("dedicated:12", "permessage-deflate", "permessage-deflate");
    /* Node ws with serverNoContextTakeover/clientNoContextTakeover. */
    const char *ws_nct =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits";
    EXPECT("shared", ws_nct, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT("dedicated", ws_nct, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    /* Our client's two offers. */
    EXPECT("shared", wsjwt__pmd_client_offer(0),
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT("shared", wsjwt__pmd_client_offer(1),
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT("dedicated:11", wsjwt__pmd_client_offer(0), "permessage-deflate; client_max_window_bits=11");
    /* A client limiting the server's window. */
    EXPECT("shared", "permessage-deflate; server_max_window_bits=10",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
           "server_max_window_bits=10");
    EXPECT("dedicated:12", "permessage-deflate; server_max_window_bits=14",
           "permessage-deflate; server_max_window_bits=12");
    EXPECT("dedicated:12", "permessage-deflate; server_max_window_bits=9",
           "permessage-deflate; server_max_window_bits=9");
    EXPECT("dedicated", "permessage-deflate; client_max_window_bits=9",
           "permessage-deflate; client_max_window_bits=9");
    EXPECT("dedicated:10", "permessage-deflate; client_max_window_bits=12",
           "permessage-deflate; client_max_window_bits=10");
}

static void test_negotiate_declines(void **state)
{
    (void)state;
    /* No offer we know, or every offer malformed: no extension. */
    EXPECT("shared", "", NONE);
    EXPECT("shared", "x-webkit-deflate-frame", NONE);
    EXPECT("shared", "permessage-deflate; foo=1", NONE);
    EXPECT("dedicated", "permessage-deflate; client_max_window_bits=16", NONE);
    EXPECT("shared", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", NONE);
    /* An 8-bit server window cannot be honoured with zlib. */
    EXPECT("shared", "permessage-deflate; server_max_window_bits=8", NONE);
    EXPECT("dedicated:9", "permessage-deflate; server_max_window_bits=8", NONE);
    /* A declined offer falls through to the next one (RFC 7692 5). */
    EXPECT("dedicated", "permessage-deflate; foo, permessage-deflate; server_max_window_bits=10",
           "permessage-deflate; server_max_window_bits=10");
    EXPECT("dedicated", "permessage-deflate; server_max_window_bits=8, permessage-deflate",
           "permessage-deflate");
    EXPECT("shared", "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits",
           "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    /* A comma inside a quoted value does not split the offer. */
    EXPECT("dedicated", "permessage-deflate; client_max_window_bits=\"1,0\", permessage-deflate",
           "permessage-deflate");
}

static int client_check(const char *answer, int nct, struct wsjwt__pmd_params *p)
{
    return wsjwt__pmd_client_check(answer, strlen(answer), nct, p);
}

static void test_client_check(void **state)
{
    (void)state;
    struct wsjwt__pmd_params p;
    assert_int_equal(client_check("permessage-deflate", 0, &p), 1);
    assert_int_equal(wsjwt__pmd_server_bits(&p), 15);
    assert_int_equal(wsjwt__pmd_client_bits(&p), 15);
    assert_int_equal(
        client_check("permessage-deflate; server_no_context_takeover; client_no_context_takeover", 0, &p), 1);
    assert_int_equal(p.server_no_context_takeover, 1);
    assert_int_equal(p.client_no_context_takeover, 1);
    assert_int_equal(
        client_check("permessage-deflate; client_max_window_bits=10; server_max_window_bits=12", 0, &p), 1);
    assert_int_equal(wsjwt__pmd_client_bits(&p), 10);
    assert_int_equal(wsjwt__pmd_server_bits(&p), 12);
    assert_int_equal(wsjwt__pmd_shareable(0), 0);
    /* Our no-context-takeover offer: the server must accept
     * server_no_context_takeover (RFC 7692 7.1.1.1). */
    assert_int_equal(client_check("permessage-deflate; server_no_context_takeover", 1, &p), 1);
    assert_int_equal(p.client_no_context_takeover, 1);
    assert_int_equal(client_check("permessage-deflate", 1, &p), WSJWT_EHTTP_EXTENSION);
    /* Things we never offered, or malformed answers. */
    const char *bad[] = {
        "",
        "x-webkit-deflate-frame",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate, x-foo",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; foo",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (client_check(bad[i], 0, &p) != WSJWT_EHTTP_EXTENSION)
            fail_msg("accepted: %s", bad[i]);
}

/* ---- engine ---------------------------------------------------------------------- */

static void inflate_expect(z_stream *zs, const char *hex_bytes, size_t n, int no_takeover, const char *want)
{
    struct wsjwt__pmd_buf out = {0};
    assert_int_equal(wsjwt__pmd_inflate(zs, (const uint8_t *)hex_bytes, n, no_takeover, 1 << 20, &out), 0);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    wsjwt__pmd_buf_free(&out);
}

/* RFC 7692 7.2.3: each example's payload inflates to "Hello". */
static void test_rfc7692_inflate(void **state)
{
    (void)state;
    z_stream zs;
    assert_int_equal(wsjwt__pmd_inflate_init(&zs, 15), 0);
    /* 7.2.3.1 */
    inflate_expect(&zs, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7, 0, "Hello");
    /* 7.2.3.2: the second message refers back into the first */
    inflate_expect(&zs, "\xf2\x00\x11\x00\x00", 5, 0, "Hello");
    inflateEnd(&zs);
    assert_int_equal(wsjwt__pmd_inflate_init(&zs, 15), 0);
    /* 7.2.3.3: an uncompressed (stored) block */
    inflate_expect(&zs, "\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00", 11, 1, "Hello");
    /* 7.2.3.4: two blocks, split by an empty stored block */
    inflate_expect(&zs, "\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00", 13, 1, "Hello");
    /* 7.2.3.5: BFINAL set; the stream restarts for the next message */
    inflate_expect(&zs, "\xf3\x48\xcd\xc9\xc9\x07\x00\x00", 8, 0, "Hello");
    inflate_expect(&zs, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7, 0, "Hello");
    /* 7.2.3.6: an empty message */
    inflate_expect(&zs, "\x00", 1, 1, "");
    /* The 7.2.3.2 payload without the first message has nothing to refer to. */
    struct wsjwt__pmd_buf out = {0};
    assert_int_equal(wsjwt__pmd_inflate(&zs, (const uint8_t *)"\xf2\x00\x11\x00\x00", 5, 1, 100, &out),
                     WSJWT_EWS_INFLATE);
    out.len = 0;
    assert_int_equal(wsjwt__pmd_inflate(&zs, (const uint8_t *)"\xff\xff\xff\xff", 4, 1, 100, &out),
                     WSJWT_EWS_INFLATE);
    /* The stream was reset: it works again. */
    out.len = 0;
    inflate_expect(&zs, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7, 1, "Hello");
    wsjwt__pmd_buf_free(&out);
    inflateEnd(&zs);
}

/* RFC 7692 7.2.3.1 and 7.2.3.2 from our compressor. */
static void test_rfc7692_deflate(void **state)
{
    (void)state;
    z_stream zs;
    struct wsjwt__pmd_buf out = {0};
    assert_int_equal(wsjwt__pmd_deflate_init(&zs, 15), 0);
    assert_int_equal(wsjwt__pmd_deflate(&zs, (const uint8_t *)"Hello", 5, 0, &out), 0);
    assert_int_equal(out.len, 7);
    assert_memory_equal(out.data, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
    out.len = 0;
    assert_int_equal(wsjwt__pmd_deflate(&zs, (const uint8_t *)"Hello", 5, 1, &out), 0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "\xf2\x00\x11\x00\x00", 5);
    /* After a reset (no context takeover) the first form again. */
    out.len = 0;
    assert_int_equal(wsjwt__pmd_deflate(&zs, (const uint8_t *)"Hello", 5, 1, &out), 0);
    assert_int_equal(out.len, 7);
    assert_memory_equal(out.data, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
    /* An empty message is one byte (7.2.3.6). */
    out.len = 0;
    assert_int_equal(wsjwt__pmd_deflate(&zs, NULL, 0, 1, &out), 0);
    assert_int_equal(out.len, 1);
    assert_int_equal(out.data[0], 0x00);
    deflateEnd(&zs);
    wsjwt__pmd_buf_free(&out);
}

static uint32_t rng = 12345;
static uint32_t next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static void fill(uint8_t *p, size_t n, int kind)
{
    static const char words[] = "{\"type\":\"message\",\"user\":\"firecamp\",\"text\":\"hello world\"} ";
    for (size_t i = 0; i < n; i++)
        p[i] = kind == 0 ? (uint8_t)words[i % (sizeof(words) - 1)] : (uint8_t)next_rand();
}

/* Round trips for every window, both takeover settings, many sizes; the
 * inflater's window is the deflater's (the negotiated limit). */
static void test_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 5, 100, 1000, 4096, 70000, 300000};
    uint8_t *msg = malloc(300000);
    assert_non_null(msg);
    for (unsigned bits = 8; bits <= 15; bits++) {
        for (int nct = 0; nct <= 1; nct++) {
            z_stream d, i;
            assert_int_equal(wsjwt__pmd_deflate_init(&d, bits), 0);
            assert_int_equal(wsjwt__pmd_inflate_init(&i, bits), 0);
            for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
                for (int kind = 0; kind <= 1; kind++) {
                    size_t n = sizes[k];
                    fill(msg, n, kind);
                    struct wsjwt__pmd_buf c = {0}, u = {0};
                    assert_int_equal(wsjwt__pmd_deflate(&d, msg, n, nct, &c), 0);
                    if (kind == 0 && n >= 1000 && bits > 8)
                        assert_true(c.len < n / 4); /* it does compress */
                    assert_int_equal(wsjwt__pmd_inflate(&i, c.data, c.len, nct, n, &u), 0);
                    assert_int_equal(u.len, n);
                    if (n)
                        assert_memory_equal(u.data, msg, n);
                    wsjwt__pmd_buf_free(&c);
                    wsjwt__pmd_buf_free(&u);
                }
            }
            deflateEnd(&d);
            inflateEnd(&i);
        }
    }
    free(msg);
}

/* A tiny payload that inflates far past the cap fails while inflating, with
 * the output buffer never past cap + 1; the cap itself is exact (N passes,
 * N - 1 fails). */
static void test_bomb(void **state)
{
    (void)state;
    const size_t big = 16u << 20; /* 16 MiB of zeros */
    uint8_t *zeros = calloc(1, big);
    assert_non_null(zeros);
    z_stream d, i;
    struct wsjwt__pmd_buf c = {0}, u = {0};
    assert_int_equal(wsjwt__pmd_deflate_init(&d, 15), 0);
    assert_int_equal(wsjwt__pmd_deflate(&d, zeros, big, 1, &c), 0);
    assert_true(c.len < 100 * 1024); /* ~16 KiB on the wire */
    assert_int_equal(wsjwt__pmd_inflate_init(&i, 15), 0);
    const size_t max = 1u << 20;
    assert_int_equal(wsjwt__pmd_inflate(&i, c.data, c.len, 0, max, &u), WSJWT_EWS_MESSAGE_TOO_BIG);
    assert_true(u.cap <= max + 1);
    wsjwt__pmd_buf_free(&u);
    wsjwt__pmd_buf_free(&c);

    /* An incompressible message of exactly the cap fits the wire cap, from
     * zlib's defaults and from every window of ours. */
    z_stream tight; /* zlib's tight bound needs its default memLevel 8 */
    memset(&tight, 0, sizeof(tight));
    assert_int_equal(deflateInit2(&tight, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    for (size_t n = 0; n <= (4u << 20); n = n * 2 + 1) {
        uLong bound = deflateBound(&tight, (uLong)n);
        assert_true(bound <= wsjwt__pmd_wire_cap(n));
    }
    deflateEnd(&tight);
    assert_int_equal(wsjwt__pmd_wire_cap(UINT64_MAX - 3), UINT64_MAX);
    uint8_t *rnd = malloc(300000);
    uint64_t x = 88172645463325252ull; /* xorshift64: no short period in any byte */
    for (size_t k = 0; k < 300000; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rnd[k] = (uint8_t)(x >> 32);
    }
    for (unsigned bits = 8; bits <= 15; bits++) {
        z_stream e;
        assert_int_equal(wsjwt__pmd_deflate_init(&e, bits), 0);
        assert_int_equal(wsjwt__pmd_deflate(&e, rnd, 300000, 1, &c), 0);
        if (!(c.len > 300000 && c.len <= wsjwt__pmd_wire_cap(300000) &&
              (bits < 13 || c.len < 300000 + 300000 / 500)))
            fail_msg("%u bits: incompressible 300000 -> %zu bytes", bits, c.len);
        c.len = 0;
        deflateEnd(&e);
    }
    free(rnd);

    /* Exactly at the cap. */
    assert_int_equal(wsjwt__pmd_deflate(&d, zeros, 5000, 1, &c), 0);
    assert_int_equal(wsjwt__pmd_inflate(&i, c.data, c.len, 1, 5000, &u), 0);
    assert_int_equal(u.len, 5000);
    u.len = 0;
    assert_int_equal(wsjwt__pmd_inflate(&i, c.data, c.len, 1, 4999, &u), WSJWT_EWS_MESSAGE_TOO_BIG);
    assert_true(u.len <= 5000);
    u.len = 0;
    /* An empty message under a zero cap. */
    assert_int_equal(wsjwt__pmd_inflate(&i, (const uint8_t *)"\x00", 1, 1, 0, &u), 0);
    assert_int_equal(u.len, 0);
    wsjwt__pmd_buf_free(&u);
    wsjwt__pmd_buf_free(&c);
    deflateEnd(&d);
    inflateEnd(&i);
    free(zeros);
}

/* Frames as the server's decoder sees them with deflate negotiated: RSV1 on
 * the first frame only, the compressed flag on every chunk of the message,
 * and the payload inflated once assembled. Whole, per byte and split. */
static void decode_fragments(const uint8_t *wire, size_t n, size_t step)
{
    struct wsjwt__ws_config cfg;
    wsjwt__ws_config_init(&cfg, 0); /* frames from a server: unmasked */
    cfg.allow_rsv1 = 1;
    struct wsjwt__ws_decoder dec;
    wsjwt__ws_decoder_init(&dec, &cfg);
    uint8_t *buf = malloc(n);
    memcpy(buf, wire, n);
    uint8_t msg[64];
    size_t mlen = 0, have = 0, off = 0;
    int done = 0;
    while (off < n && !done) {
        have = have + step > n ? n : have + step;
        struct wsjwt__ws_event ev;
        size_t used = 0;
        int rc = wsjwt__ws_decode(&dec, buf + off, have - off, &used, &ev);
        off += used;
        if (rc == WSJWT_EAGAIN)
            continue;
        assert_int_equal(rc, 0);
        assert_int_equal(ev.opcode, WSJWT__WS_TEXT);
        assert_true(ev.flags & WSJWT__WS_COMPRESSED);
        memcpy(msg + mlen, ev.data, ev.len);
        mlen += ev.len;
        done = (ev.flags & WSJWT__WS_MSG_LAST) != 0;
    }
    assert_true(done);
    z_stream zs;
    assert_int_equal(wsjwt__pmd_inflate_init(&zs, 15), 0);
    struct wsjwt__pmd_buf out = {0};
    assert_int_equal(wsjwt__pmd_inflate(&zs, msg, mlen, 1, 100, &out), 0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "Hello", 5);
    wsjwt__pmd_buf_free(&out);
    inflateEnd(&zs);
    free(buf);
}

static void test_fragmented(void **state)
{
    (void)state;
    /* RFC 7692 7.2.3.1, the fragmented form: RSV1 only on the first frame. */
    static const uint8_t wire[] = {0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00};
    for (size_t step = 1; step <= sizeof(wire); step++)
        decode_fragments(wire, sizeof(wire), step);

    struct wsjwt__ws_config cfg;
    wsjwt__ws_config_init(&cfg, 0);
    cfg.allow_rsv1 = 1;
    struct wsjwt__ws_decoder dec;
    struct wsjwt__ws_event ev;
    size_t used;
    /* RSV1 on a continuation, on a ping, on a close: protocol errors. */
    uint8_t cont[] = {0x41, 0x03, 0xf2, 0x48, 0xcd, 0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00};
    wsjwt__ws_decoder_init(&dec, &cfg);
    assert_int_equal(wsjwt__ws_decode(&dec, cont, sizeof(cont), &used, &ev), 0);
    assert_int_equal(wsjwt__ws_decode(&dec, cont + used, sizeof(cont) - used, &used, &ev), WSJWT_EWS_RSV);
    uint8_t ping[] = {0xc9, 0x00};
    wsjwt__ws_decoder_init(&dec, &cfg);
    assert_int_equal(wsjwt__ws_decode(&dec, ping, sizeof(ping), &used, &ev), WSJWT_EWS_RSV);
    uint8_t close_[] = {0xc8, 0x02, 0x03, 0xe8};
    wsjwt__ws_decoder_init(&dec, &cfg);
    assert_int_equal(wsjwt__ws_decode(&dec, close_, sizeof(close_), &used, &ev), WSJWT_EWS_RSV);
    /* Without negotiation RSV1 is refused even on data. */
    cfg.allow_rsv1 = 0;
    uint8_t data[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    wsjwt__ws_decoder_init(&dec, &cfg);
    assert_int_equal(wsjwt__ws_decode(&dec, data, sizeof(data), &used, &ev), WSJWT_EWS_RSV);
    assert_int_equal(wsjwt_err_close_code(WSJWT_EWS_RSV), 1002);
    assert_int_equal(wsjwt_err_close_code(WSJWT_EWS_INFLATE), 1007);
    assert_int_equal(wsjwt_err_close_code(WSJWT_EWS_MESSAGE_TOO_BIG), 1009);
}

/* Both ends built from one negotiated answer talk to each other, with and
 * without context takeover, in both directions. */
static void test_ctx_pair(void **state)
{
    (void)state;
    const char *modes[] = {"shared", "dedicated", "dedicated:10"};
    for (size_t m = 0; m < 3; m++) {
        struct wsjwt__pmd_server_config cfg;
        unsigned bits;
        assert_int_equal(wsjwt__pmd_mode_parse(modes[m], &cfg.mode, &bits), 0);
        cfg.window_bits = bits;
        struct wsjwt__pmd_params p, q;
        const char *offer = wsjwt__pmd_client_offer(0);
        assert_int_equal(wsjwt__pmd_negotiate(&cfg, offer, strlen(offer), &p), 1);
        char ans[WSJWT__PMD_RESPONSE_MAX];
        size_t n = wsjwt__pmd_write_response(ans, sizeof(ans), &p);
        assert_int_equal(wsjwt__pmd_client_check(ans, n, 0, &q), 1);
        struct wsjwt__pmd_ctx srv, cli;
        wsjwt__pmd_ctx_from_params(&srv, &p, 1);
        wsjwt__pmd_ctx_from_params(&cli, &q, 0);
        assert_int_equal(srv.def_reset, m == 0);
        assert_int_equal(srv.inf_bits, m == 2 ? 10 : 15);
        assert_int_equal(cli.def_bits, m == 2 ? 10 : 15);
        for (int i = 0; i < 3; i++) {
            static const char text[] = "{\"channel\":\"news\",\"text\":\"the same words again and again\"}";
            struct wsjwt__pmd_buf c = {0}, u = {0};
            assert_int_equal(wsjwt__pmd_ctx_deflate(&srv, (const uint8_t *)text, sizeof(text) - 1, &c), 0);
            assert_int_equal(wsjwt__pmd_ctx_inflate(&cli, c.data, c.len, 1000, &u), 0);
            assert_int_equal(u.len, sizeof(text) - 1);
            assert_memory_equal(u.data, text, u.len);
            c.len = u.len = 0;
            assert_int_equal(wsjwt__pmd_ctx_deflate(&cli, (const uint8_t *)text, sizeof(text) - 1, &c), 0);
            assert_int_equal(wsjwt__pmd_ctx_inflate(&srv, c.data, c.len, 1000, &u), 0);
            assert_memory_equal(u.data, text, sizeof(text) - 1);
            wsjwt__pmd_buf_free(&c);
            wsjwt__pmd_buf_free(&u);
        }
        /* Only shared mode's answer reads a once-compressed broadcast. */
        assert_int_equal(wsjwt__pmd_shareable(wsjwt__pmd_pack(&p)), m == 0);
        wsjwt__pmd_ctx_free(&srv);
        wsjwt__pmd_ctx_free(&cli);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_parse),
        cmocka_unit_test(test_parse_element),
        cmocka_unit_test(test_negotiate_peers),
        cmocka_unit_test(test_negotiate_declines),
        cmocka_unit_test(test_client_check),
        cmocka_unit_test(test_rfc7692_inflate),
        cmocka_unit_test(test_rfc7692_deflate),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bomb),
        cmocka_unit_test(test_fragmented),
        cmocka_unit_test(test_ctx_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
