/* Frame decoder, message rules, close payloads, masking and encoder
 * (RFC 6455 5 and 7). Every vector runs whole, one byte at a time and in
 * random splits through a small model of the shell (keep unconsumed bytes,
 * append message chunks); the messages, control frames and final result
 * must be identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws/utf8.h"
#include "ws/ws.h"

/* ---- the shell model --------------------------------------------------- */

struct rec {
    int rc;       /* first error, or 0 when all input was used, or EAGAIN */
    uint8_t *log; /* completed messages and control frames, serialised */
    size_t log_len;
    size_t events; /* data events (chunks) */
    int one_chunk; /* every message arrived as one FIRST|LAST chunk */
};

static void log_put(struct rec *r, const void *p, size_t n)
{
    r->log = realloc(r->log, r->log_len + n + 1);
    assert_non_null(r->log);
    if (n)
        memcpy(r->log + r->log_len, p, n);
    r->log_len += n;
}

static void log_item(struct rec *r, uint8_t opcode, uint16_t code, const uint8_t *p, size_t n)
{
    uint32_t len = (uint32_t)n;
    log_put(r, &opcode, 1);
    log_put(r, &code, 2);
    log_put(r, &len, 4);
    log_put(r, p, n);
}

static uint32_t rng(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

enum { WHOLE = 0, BYTES = 1, RANDOM = 2 };

static void run(const struct wsjwt__ws_config *cfg, const uint8_t *in, size_t n, int mode, uint32_t seed,
                struct rec *r)
{
    struct wsjwt__ws_decoder d;
    wsjwt__ws_decoder_init(&d, cfg);
    memset(r, 0, sizeof(*r));
    r->one_chunk = 1;
    uint8_t *buf = malloc(n + 1), *msg = NULL;
    size_t have = 0, pos = 0, msg_len = 0, msg_cap = 0;
    int in_msg = 0;
    assert_non_null(buf);
    while (pos < n) {
        size_t chunk = mode == WHOLE ? n : mode == BYTES ? 1 : 1 + rng(&seed) % 23;
        if (chunk > n - pos)
            chunk = n - pos;
        memcpy(buf + have, in + pos, chunk);
        have += chunk;
        pos += chunk;
        size_t off = 0;
        for (;;) {
            struct wsjwt__ws_event ev;
            size_t used = 99;
            int rc = wsjwt__ws_decode(&d, buf + off, have - off, &used, &ev);
            assert_true(used <= have - off);
            off += used;
            if (rc == WSJWT_EAGAIN)
                break;
            if (rc < 0) {
                r->rc = rc;
                goto out;
            }
            assert_int_equal(rc, 0);
            if (ev.opcode & 0x8) {
                assert_int_equal(ev.flags, 0x0F);
                assert_true(ev.len <= 125);
                log_item(r, ev.opcode, ev.close_code, ev.data, ev.len);
                continue;
            }
            r->events++;
            assert_true(ev.opcode == WSJWT__WS_TEXT || ev.opcode == WSJWT__WS_BINARY);
            assert_true(ev.data >= buf && ev.data + ev.len <= buf + have);
            /* MSG_FIRST exactly on a message's first chunk. */
            assert_int_equal(!!(ev.flags & WSJWT__WS_MSG_FIRST), !in_msg);
            if ((ev.flags & (WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST)) !=
                (WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST))
                r->one_chunk = 0;
            in_msg = 1;
            if (msg_len + ev.len + 1 > msg_cap) {
                msg_cap = 2 * (msg_len + ev.len + 1); /* geometric: ASan's realloc always copies */
                msg = realloc(msg, msg_cap);
                assert_non_null(msg);
            }
            if (ev.len)
                memcpy(msg + msg_len, ev.data, ev.len);
            msg_len += ev.len;
            if (ev.flags & WSJWT__WS_MSG_LAST) {
                assert_true(ev.flags & WSJWT__WS_FRAME_LAST);
                log_item(r, ev.opcode, (uint16_t)(ev.flags & WSJWT__WS_COMPRESSED), msg, msg_len);
                msg_len = 0;
                in_msg = 0;
            }
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    r->rc = (have || d.in_frame || in_msg) ? WSJWT_EAGAIN : 0;
out:
    free(buf);
    free(msg);
}

/* Run whole, per byte and in 16 random splits; all must agree. Returns the
 * whole run's record (caller frees log). */
static struct rec run_all(const struct wsjwt__ws_config *cfg, const uint8_t *in, size_t n)
{
    struct rec whole, other;
    run(cfg, in, n, WHOLE, 0, &whole);
    for (int i = 0; i < 18; i++) {
        run(cfg, in, n, i == 0 ? BYTES : RANDOM, (uint32_t)i * 7919u, &other);
        assert_int_equal(other.rc, whole.rc);
        assert_int_equal(other.log_len, whole.log_len);
        if (whole.log_len)
            assert_memory_equal(other.log, whole.log, whole.log_len);
        free(other.log);
    }
    return whole;
}

static int expect(const struct wsjwt__ws_config *cfg, const uint8_t *in, size_t n)
{
    struct rec r = run_all(cfg, in, n);
    free(r.log);
    return r.rc;
}

/* A growing byte string of frames. */
struct wire {
    uint8_t b[300000];
    size_t n;
};

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

static void add(struct wire *w, unsigned first, const void *p, size_t len, int masked)
{
    size_t k;
    assert_int_equal(
        wsjwt__ws_write_frame(w->b + w->n, sizeof(w->b) - w->n, first, p, len, masked ? mask_key : NULL, &k),
        0);
    w->n += k;
}

static void raw(struct wire *w, const char *bytes, size_t n)
{
    memcpy(w->b + w->n, bytes, n);
    w->n += n;
}

static struct wsjwt__ws_config server_cfg, client_cfg;

static int setup(void **state)
{
    (void)state;
    wsjwt__ws_config_init(&server_cfg, 1);
    wsjwt__ws_config_init(&client_cfg, 0);
    return 0;
}

/* ---- RFC 6455 5.7 examples ------------------------------------------------ */

static void test_rfc_examples(void **state)
{
    (void)state;
    static struct wire w;
    struct rec r;
    /* A single-frame masked text message "Hello". */
    w.n = 0;
    raw(&w, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
    r = run_all(&server_cfg, w.b, w.n);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.log_len, 7 + 5);
    assert_int_equal(r.log[0], WSJWT__WS_TEXT);
    assert_memory_equal(r.log + 7, "Hello", 5);
    assert_true(r.one_chunk); /* whole: zero-copy view */
    free(r.log);
    /* The same unmasked, to a client; then a fragmented one; then a ping. */
    w.n = 0;
    raw(&w, "\x81\x05\x48\x65\x6c\x6c\x6f", 7);
    raw(&w, "\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f", 9);
    raw(&w, "\x89\x05\x48\x65\x6c\x6c\x6f", 7);
    r = run_all(&client_cfg, w.b, w.n);
    assert_int_equal(r.rc, 0);
    static const uint8_t want[] = {1, 0, 0, 5, 0, 0, 0, 'H', 'e', 'l', 'l', 'o',
                                   1, 0, 0, 5, 0, 0, 0, 'H', 'e', 'l', 'l', 'o',
                                   9, 0, 0, 5, 0, 0, 0, 'H', 'e', 'l', 'l', 'o'};
    assert_int_equal(r.log_len, sizeof(want));
    assert_memory_equal(r.log, want, sizeof(want));
    free(r.log);
    /* 256 bytes (16-bit length) and 65536 bytes (64-bit length), binary. */
    w.n = 0;
    raw(&w, "\x82\x7e\x01\x00", 4);
    memset(w.b + w.n, 0xAB, 256);
    w.n += 256;
    raw(&w, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    memset(w.b + w.n, 0xCD, 65536);
    w.n += 65536;
    r = run_all(&client_cfg, w.b, w.n);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.log_len, 7 + 256 + 7 + 65536);
    free(r.log);
}

/* Whole frames in the input come out as one chunk pointing into the input,
 * unmasked in place. */
static void test_zero_copy(void **state)
{
    (void)state;
    uint8_t in[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    struct wsjwt__ws_decoder d;
    struct wsjwt__ws_event ev;
    size_t used;
    wsjwt__ws_decoder_init(&d, &server_cfg);
    assert_int_equal(wsjwt__ws_decode(&d, in, 11, &used, &ev), 0);
    assert_int_equal(used, 11);
    assert_ptr_equal(ev.data, in + 6);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(in + 6, "Hello", 5);
    assert_int_equal(ev.flags, 0x0F);
    assert_int_equal(wsjwt__ws_decode(&d, in + 11, 0, &used, &ev), WSJWT_EAGAIN);
    assert_int_equal(used, 0);
    /* Header alone: consumed, then the payload arrives as chunks. */
    uint8_t part[] = "\x82\x84\x01\x02\x03\x04";
    wsjwt__ws_decoder_init(&d, &server_cfg);
    assert_int_equal(wsjwt__ws_decode(&d, part, 6, &used, &ev), WSJWT_EAGAIN);
    assert_int_equal(used, 6);
    uint8_t p1[] = {0x01 ^ 'a', 0x02 ^ 'b', 0x03 ^ 'c'};
    assert_int_equal(wsjwt__ws_decode(&d, p1, 3, &used, &ev), 0);
    assert_int_equal(used, 3);
    assert_memory_equal(ev.data, "abc", 3);
    assert_int_equal(ev.flags, WSJWT__WS_MSG_FIRST | WSJWT__WS_FRAME_FIRST);
    uint8_t p2[] = {0x04 ^ 'd', 0x81};
    assert_int_equal(wsjwt__ws_decode(&d, p2, 2, &used, &ev), 0);
    assert_int_equal(used, 1);
    assert_memory_equal(ev.data, "d", 1);
    assert_int_equal(ev.flags, WSJWT__WS_MSG_LAST | WSJWT__WS_FRAME_LAST);
    /* A partial control frame is not consumed. */
    uint8_t ping[] = "\x89\x83\0\0\0\0ab";
    assert_int_equal(wsjwt__ws_decode(&d, ping, 8, &used, &ev), WSJWT_EAGAIN);
    assert_int_equal(used, 0);
    assert_int_equal(wsjwt__ws_decode(&d, ping, 5, &used, &ev), WSJWT_EAGAIN);
    assert_int_equal(used, 0);
}

/* Fragments with control frames between them, empty frames, several
 * messages, both roles. */
static void test_fragments_and_control(void **state)
{
    (void)state;
    static struct wire w;
    for (int masked = 0; masked <= 1; masked++) {
        const struct wsjwt__ws_config *cfg = masked ? &server_cfg : &client_cfg;
        w.n = 0;
        add(&w, WSJWT__WS_TEXT, "frag", 4, masked);
        add(&w, WSJWT__WS_FIN | WSJWT__WS_PING, "p1", 2, masked);
        add(&w, WSJWT__WS_CONT, "", 0, masked);
        add(&w, WSJWT__WS_FIN | WSJWT__WS_PONG, "", 0, masked);
        add(&w, WSJWT__WS_CONT, "mented \xce", 8, masked); /* a character cut across frames */
        add(&w, WSJWT__WS_FIN | WSJWT__WS_CONT, "\xba!", 2, masked);
        add(&w, WSJWT__WS_FIN | WSJWT__WS_TEXT, "", 0, masked);
        add(&w, WSJWT__WS_FIN | WSJWT__WS_BINARY, "\xff\x00", 2, masked);
        add(&w, WSJWT__WS_FIN | WSJWT__WS_CLOSE,
            "\x03\xe8"
            "bye",
            5, masked);
        struct rec r = run_all(cfg, w.b, w.n);
        assert_int_equal(r.rc, 0);
        static struct rec want;
        memset(&want, 0, sizeof(want));
        log_item(&want, 9, 0, (const uint8_t *)"p1", 2);
        log_item(&want, 10, 0, NULL, 0);
        log_item(&want, 1, 0, (const uint8_t *)"fragmented \xce\xba!", 14);
        log_item(&want, 1, 0, NULL, 0);
        log_item(&want, 2, 0, (const uint8_t *)"\xff\x00", 2);
        log_item(&want, 8, 1000,
                 (const uint8_t *)"\x03\xe8"
                                  "bye",
                 5);
        assert_int_equal(r.log_len, want.log_len);
        assert_memory_equal(r.log, want.log, want.log_len);
        free(r.log);
        free(want.log);
    }
}

/* ---- every error ------------------------------------------------------------ */

static void test_header_errors(void **state)
{
    (void)state;
    struct {
        const char *bytes;
        size_t n;
        int server;
        int rsv1;
        int want;
    } cases[] = {
        {"\x83\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_OPCODE},
        {"\x87\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_OPCODE},
        {"\x8b\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_OPCODE},
        {"\x8f\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_OPCODE},
        {"\xa1\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_RSV},                  /* RSV2 */
        {"\x91\x80\0\0\0\0", 6, 1, 1, WSJWT_EWS_RSV},                  /* RSV3 even with deflate */
        {"\xc1\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_RSV},                  /* RSV1 not negotiated */
        {"\xc9\x80\0\0\0\0", 6, 1, 1, WSJWT_EWS_RSV},                  /* RSV1 on a ping */
        {"\x01\x80\0\0\0\0\xc0\x80\0\0\0\0", 12, 1, 1, WSJWT_EWS_RSV}, /* RSV1 on a continuation */
        {"\x09\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_CONTROL_FRAGMENTED},
        {"\x08\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_CONTROL_FRAGMENTED},
        {"\x89\xfe\x00\x7e", 4, 1, 0, WSJWT_EWS_CONTROL_TOO_BIG},
        {"\x88\xff", 2, 1, 0, WSJWT_EWS_CONTROL_TOO_BIG},
        {"\x80\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_CONTINUATION},
        {"\x00\x80\0\0\0\0", 6, 1, 0, WSJWT_EWS_CONTINUATION},
        {"\x81\x80\0\0\0\0\x80\x80\0\0\0\0", 12, 1, 0, WSJWT_EWS_CONTINUATION}, /* after the end */
        {"\x01\x80\0\0\0\0\x81\x80\0\0\0\0", 12, 1, 0, WSJWT_EWS_INTERLEAVED},
        {"\x01\x80\0\0\0\0\x02\x80\0\0\0\0", 12, 1, 0, WSJWT_EWS_INTERLEAVED},
        {"\x81\x00", 2, 1, 0, WSJWT_EWS_UNMASKED},
        {"\x89\x00", 2, 1, 0, WSJWT_EWS_UNMASKED},
        {"\x81\x80\0\0\0\0", 6, 0, 0, WSJWT_EWS_MASKED},
        {"\x82\x7e\x00\x7d", 4, 0, 0, WSJWT_EWS_FRAME_LENGTH}, /* 125 in 16 bits */
        {"\x82\x7e\x00\x00", 4, 0, 0, WSJWT_EWS_FRAME_LENGTH},
        {"\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", 10, 0, 0, WSJWT_EWS_FRAME_LENGTH}, /* 65535 in 64 */
        {"\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05", 10, 0, 0, WSJWT_EWS_FRAME_LENGTH},
        {"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, 0, 0, WSJWT_EWS_FRAME_LENGTH}, /* MSB */
        {"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", 10, 0, 0, WSJWT_EWS_FRAME_LENGTH},
        {"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", 10, 0, 0, WSJWT_EWS_MESSAGE_TOO_BIG}, /* 2^63-1 */
        {"\x88\x01\x03", 3, 0, 0, WSJWT_EWS_CLOSE_PAYLOAD},
        {"\x88\x02\x03\xed", 4, 0, 0, WSJWT_EWS_CLOSE_CODE},   /* 1005 */
        {"\x88\x04\x03\xe8\xc0\x80", 6, 0, 0, WSJWT_EWS_UTF8}, /* bad reason */
        {"\x81\x02\xc0\x80", 4, 0, 0, WSJWT_EWS_UTF8},
        {"\x81\x01\xce", 3, 0, 0, WSJWT_EWS_UTF8}, /* a message ending inside a character */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wsjwt__ws_config cfg;
        wsjwt__ws_config_init(&cfg, cases[i].server);
        cfg.allow_rsv1 = (uint8_t)cases[i].rsv1;
        print_message("case %zu\n", i);
        assert_int_equal(expect(&cfg, (const uint8_t *)cases[i].bytes, cases[i].n), cases[i].want);
        /* The error holds with trailing bytes too (decided at the header). */
        uint8_t more[64];
        memcpy(more, cases[i].bytes, cases[i].n);
        memset(more + cases[i].n, 0x41, 20);
        assert_int_equal(expect(&cfg, more, cases[i].n + 20), cases[i].want);
    }
}

/* Lengths up to 2^63 - 1 pass the header with no overflow when the cap
 * allows, and the payload then flows in chunks. */
static void test_huge_length(void **state)
{
    (void)state;
    struct wsjwt__ws_config cfg;
    wsjwt__ws_config_init(&cfg, 0);
    cfg.max_message = UINT64_MAX;
    struct wsjwt__ws_decoder d;
    struct wsjwt__ws_event ev;
    size_t used;
    uint8_t in[20] = {0x02, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    wsjwt__ws_decoder_init(&d, &cfg);
    assert_int_equal(wsjwt__ws_decode(&d, in, 13, &used, &ev), 0);
    assert_int_equal(used, 13);
    assert_int_equal(ev.len, 3);
    assert_int_equal(d.remaining, INT64_MAX - 3);
    /* A continuation that would pass 2^64 total is refused, not wrapped. */
    d.remaining = 0;
    d.in_frame = 0;
    uint8_t cont[10] = {0x80, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    /* Fits (2^64 - 2 in all); header consumed, payload awaited. */
    assert_int_equal(wsjwt__ws_decode(&d, cont, 10, &used, &ev), WSJWT_EAGAIN);
    assert_int_equal(used, 10);
    d.remaining = 0;
    d.in_frame = 0;
    assert_int_equal(wsjwt__ws_decode(&d, cont, 10, &used, &ev), WSJWT_EWS_MESSAGE_TOO_BIG);
}

static void test_close_codes(void **state)
{
    (void)state;
    for (unsigned code = 0; code < 70000; code++) {
        int valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                    (code >= 3000 && code <= 4999);
        assert_int_equal(wsjwt__ws_close_code_valid(code), valid);
        if (code > 65535)
            continue;
        if (code % 97 != 0 && !(code >= 990 && code <= 1020) && !(code >= 2990 && code <= 3010) &&
            !(code >= 4990 && code <= 5010))
            continue;
        uint8_t f[4] = {0x88, 0x02, (uint8_t)(code >> 8), (uint8_t)code};
        assert_int_equal(expect(&client_cfg, f, 4), valid ? 0 : WSJWT_EWS_CLOSE_CODE);
    }
    const uint8_t *reason;
    size_t rl;
    uint16_t c;
    assert_int_equal(wsjwt__ws_close_parse((const uint8_t *)"", 0, &c, &reason, &rl), 0);
    assert_int_equal(c, 0);
    assert_int_equal(rl, 0);
    assert_int_equal(wsjwt__ws_close_parse((const uint8_t *)"\x0f\xa0ok", 4, &c, &reason, &rl), 0);
    assert_int_equal(c, 4000);
    assert_int_equal(rl, 2);
    assert_memory_equal(reason, "ok", 2);
    static uint8_t big[126];
    big[0] = 0x03;
    big[1] = 0xe8;
    memset(big + 2, 'a', 124);
    assert_int_equal(wsjwt__ws_close_parse(big, 126, &c, &reason, &rl), WSJWT_EWS_CLOSE_PAYLOAD);
    assert_int_equal(wsjwt__ws_close_parse(big, 125, &c, &reason, &rl), 0);
    assert_int_equal(wsjwt__ws_close_parse(big, 1, &c, &reason, &rl), WSJWT_EWS_CLOSE_PAYLOAD);
}

static void test_close_build(void **state)
{
    (void)state;
    uint8_t out[125];
    size_t n;
    assert_int_equal(wsjwt__ws_close_build(out, 0, NULL, 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(wsjwt__ws_close_build(out, 0, "x", 1, &n), WSJWT_EINVAL);
    assert_int_equal(wsjwt__ws_close_build(out, 1005, NULL, 0, &n), WSJWT_EINVAL);
    assert_int_equal(wsjwt__ws_close_build(out, 1006, NULL, 0, &n), WSJWT_EINVAL);
    assert_int_equal(wsjwt__ws_close_build(out, 1015, NULL, 0, &n), WSJWT_EINVAL);
    assert_int_equal(wsjwt__ws_close_build(out, 5000, NULL, 0, &n), WSJWT_EINVAL);
    assert_int_equal(wsjwt__ws_close_build(out, 1008, "token expired", 13, &n), 0);
    assert_int_equal(n, 15);
    assert_memory_equal(out, "\x03\xf0token expired", 15);
    /* 122 ASCII bytes then a 2-byte character: the cut keeps it out whole. */
    char reason[200];
    memset(reason, 'r', 122);
    memcpy(reason + 122, "\xce\xba\xce\xba", 4);
    assert_int_equal(wsjwt__ws_close_build(out, 1001, reason, 126, &n), 0);
    assert_int_equal(n, 2 + 122);
    uint16_t c;
    const uint8_t *rp;
    size_t rl;
    assert_int_equal(wsjwt__ws_close_parse(out, n, &c, &rp, &rl), 0);
    assert_int_equal(c, 1001);
    memset(reason, 'r', 200);
    assert_int_equal(wsjwt__ws_close_build(out, 1000, reason, 200, &n), 0);
    assert_int_equal(n, 125);
}

/* Caps at N and N + 1: message bytes (single frame and across fragments) and
 * fragments per message. */
static void test_caps(void **state)
{
    (void)state;
    static struct wire w;
    static uint8_t payload[1000];
    memset(payload, 'x', sizeof(payload));
    struct wsjwt__ws_config cfg;
    wsjwt__ws_config_init(&cfg, 1);
    cfg.max_message = 300;
    cfg.max_fragments = 4;
    for (size_t n = 299; n <= 301; n++) {
        w.n = 0;
        add(&w, WSJWT__WS_FIN | WSJWT__WS_BINARY, payload, n, 1);
        assert_int_equal(expect(&cfg, w.b, w.n), n <= 300 ? 0 : WSJWT_EWS_MESSAGE_TOO_BIG);
        w.n = 0;
        add(&w, WSJWT__WS_TEXT, payload, 100, 1);
        add(&w, WSJWT__WS_FIN | WSJWT__WS_PING, "", 0, 1); /* control bytes do not count */
        add(&w, WSJWT__WS_CONT, payload, 100, 1);
        add(&w, WSJWT__WS_FIN | WSJWT__WS_CONT, payload, n - 200, 1);
        assert_int_equal(expect(&cfg, w.b, w.n), n <= 300 ? 0 : WSJWT_EWS_MESSAGE_TOO_BIG);
    }
    /* The cap is per message: two messages of 300 are fine. */
    w.n = 0;
    add(&w, WSJWT__WS_FIN | WSJWT__WS_TEXT, payload, 300, 1);
    add(&w, WSJWT__WS_TEXT, payload, 150, 1);
    add(&w, WSJWT__WS_FIN | WSJWT__WS_CONT, payload, 150, 1);
    assert_int_equal(expect(&cfg, w.b, w.n), 0);
    for (unsigned frags = 3; frags <= 5; frags++) {
        w.n = 0;
        for (unsigned i = 0; i < frags; i++)
            add(&w, (i ? WSJWT__WS_CONT : WSJWT__WS_BINARY) | (i + 1 == frags ? WSJWT__WS_FIN : 0), "ab", 2,
                1);
        assert_int_equal(expect(&cfg, w.b, w.n), frags <= 4 ? 0 : WSJWT_EWS_TOO_MANY_FRAGMENTS);
    }
    /* Control frames at 125 and 126 bytes. */
    for (size_t n = 124; n <= 126; n++) {
        w.n = 0;
        add(&w, WSJWT__WS_FIN | WSJWT__WS_PING, payload, n, 1);
        assert_int_equal(expect(&cfg, w.b, w.n), n <= 125 ? 0 : WSJWT_EWS_CONTROL_TOO_BIG);
    }
}

/* Autobahn 6.x style: a text message split in frames of every size from 1
 * to 5, with one invalid sequence placed at every position. Valid
 * messages pass, every invalid one fails with EWS_UTF8 in every split. */
static void test_utf8_fragmented(void **state)
{
    (void)state;
    static struct wire w;
    const char *valid = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x98\x80 ok";
    const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe0\x80\xaf", "\xff"};
    size_t vlen = strlen(valid);
    for (size_t fs = 1; fs <= 5; fs++) {
        uint8_t msg[64];
        w.n = 0;
        for (size_t off = 0; off < vlen; off += fs) {
            size_t k = vlen - off < fs ? vlen - off : fs;
            add(&w, (off ? WSJWT__WS_CONT : WSJWT__WS_TEXT) | (off + k == vlen ? WSJWT__WS_FIN : 0),
                valid + off, k, 1);
        }
        assert_int_equal(expect(&server_cfg, w.b, w.n), 0);
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            for (size_t at = 0; at <= vlen; at++) {
                size_t bl = strlen(bad[b]), n = vlen + bl;
                memcpy(msg, valid, at);
                memcpy(msg + at, bad[b], bl);
                memcpy(msg + at + bl, valid + at, vlen - at);
                w.n = 0;
                for (size_t off = 0; off < n; off += fs) {
                    size_t k = n - off < fs ? n - off : fs;
                    add(&w, (off ? WSJWT__WS_CONT : WSJWT__WS_TEXT) | (off + k == n ? WSJWT__WS_FIN : 0),
                        msg + off, k, 1);
                }
                assert_int_equal(expect(&server_cfg, w.b, w.n), WSJWT_EWS_UTF8);
            }
        }
    }
    /* Binary messages are not UTF-8 checked; compressed text is left to the
     * shell (after inflating) and flagged. */
    w.n = 0;
    add(&w, WSJWT__WS_FIN | WSJWT__WS_BINARY, "\xff\xfe", 2, 1);
    assert_int_equal(expect(&server_cfg, w.b, w.n), 0);
    struct wsjwt__ws_config cfg = server_cfg;
    cfg.allow_rsv1 = 1;
    w.n = 0;
    add(&w, WSJWT__WS_FIN | WSJWT__WS_RSV1 | WSJWT__WS_TEXT, "\xff\xfe", 2, 1);
    struct rec r = run_all(&cfg, w.b, w.n);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.log[1], WSJWT__WS_COMPRESSED); /* logged flag */
    free(r.log);
}

/* A failed decoder stays failed, whichever path failed; its state is small
 * (it lives in every connection). */
static void test_dead_after_error(void **state)
{
    (void)state;
    struct wsjwt__ws_decoder d;
    struct wsjwt__ws_event ev;
    size_t used;
    uint8_t ok[] = "\x81\x02hi";
    uint8_t bad_fast[] = "\x81\x01\xff";
    uint8_t bad_general[] = "\x83\x00";
    uint8_t bad_payload[] = "\x01\x02h\xff";
    uint8_t *bad[] = {bad_fast, bad_general, bad_payload};
    size_t bad_len[] = {3, 2, 4};
    for (size_t i = 0; i < 3; i++) {
        wsjwt__ws_decoder_init(&d, &client_cfg);
        size_t off = 0;
        int rc;
        while ((rc = wsjwt__ws_decode(&d, bad[i] + off, bad_len[i] - off, &used, &ev)) == 0)
            off += used;
        assert_true(rc < 0 && rc != WSJWT_EAGAIN);
        assert_int_equal(wsjwt__ws_decode(&d, ok, 4, &used, &ev), WSJWT_ESTATE);
        assert_int_equal(used, 0);
    }
    assert_true(sizeof(struct wsjwt__ws_decoder) <= 48);
}

/* Fail fast: the bad byte's chunk fails, earlier chunks were delivered. */
static void test_utf8_fail_fast(void **state)
{
    (void)state;
    uint8_t in[] = "\x81\x0a"
                   "abcde\xff"
                   "ghij";
    struct wsjwt__ws_decoder d;
    struct wsjwt__ws_event ev;
    size_t used;
    wsjwt__ws_decoder_init(&d, &client_cfg);
    assert_int_equal(wsjwt__ws_decode(&d, in, 7, &used, &ev), 0);
    assert_int_equal(ev.len, 5);
    assert_int_equal(wsjwt__ws_decode(&d, in + 7, 1, &used, &ev), WSJWT_EWS_UTF8);
}

/* ---- masking ------------------------------------------------------------------ */

/* Masks buf[off, off + len) at the given phase, whole and in two pieces cut
 * at `cut`, and compares all of buf (the bytes around must stay as they
 * were) with a byte-at-a-time reference. */
static void check_mask(uint8_t *buf, uint8_t *ref, size_t size, size_t off, size_t len, unsigned phase,
                       size_t cut)
{
    const uint8_t key[4] = {0xde, 0x80, 0x5a, 0xff};
    for (size_t i = 0; i < size; i++)
        buf[i] = ref[i] = (uint8_t)(i * 131 + 7);
    for (size_t i = 0; i < len; i++)
        ref[off + i] ^= key[(phase + i) % 4];
    unsigned np = wsjwt__ws_mask(buf + off, len, key, phase);
    assert_int_equal(np, (phase + len) % 4);
    assert_memory_equal(buf, ref, size);
    /* Two pieces continue the phase. */
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    np = wsjwt__ws_mask(buf + off, cut, key, phase);
    assert_int_equal(np, (phase + cut) % 4);
    wsjwt__ws_mask(buf + off + cut, len - cut, key, np);
    assert_memory_equal(buf, ref, size);
}

static void test_mask(void **state)
{
    (void)state;
    static uint8_t buf[300], ref[300];
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len < 200; len += (len < 40 ? 1 : 13))
            for (unsigned phase = 0; phase < 4; phase++)
                check_mask(buf, ref, sizeof(buf), off, len, phase, len / 3);
}

/* Long payloads take the vector loops (16 and, on x86-64 with AVX2, 32 bytes
 * at a time, after reaching 32-byte alignment): every alignment, every phase,
 * lengths around the vector threshold (128) and the block sizes; the second
 * piece of the split starts unaligned with another phase. */
static void test_mask_long(void **state)
{
    (void)state;
    static uint8_t buf[1300], ref[1300];
    static const size_t lens[] = {127, 128, 129, 131, 143, 144, 159, 160,  161,  191,  192, 255,
                                  256, 257, 300, 383, 384, 385, 511, 1000, 1023, 1024, 1200};
    for (size_t off = 0; off < 40; off++)
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
            for (unsigned phase = 0; phase < 4; phase++)
                check_mask(buf, ref, sizeof(buf), off, lens[k], phase, lens[k] / 2 + 1);
}

/* ---- encoder ---------------------------------------------------------------- */

static void test_encoder(void **state)
{
    (void)state;
    assert_int_equal(wsjwt__ws_header_size(0, 0), 2);
    assert_int_equal(wsjwt__ws_header_size(125, 0), 2);
    assert_int_equal(wsjwt__ws_header_size(126, 0), 4);
    assert_int_equal(wsjwt__ws_header_size(65535, 0), 4);
    assert_int_equal(wsjwt__ws_header_size(65536, 0), 10);
    assert_int_equal(wsjwt__ws_header_size(65536, 1), 14);
    assert_int_equal(wsjwt__ws_frame_size(32, 1), 38);
    assert_int_equal(wsjwt__ws_frame_size(SIZE_MAX - 1, 0), SIZE_MAX);
    uint8_t out[16];
    size_t n;
    assert_int_equal(wsjwt__ws_write_header(out, sizeof(out), 0x82, 65536, mask_key, &n), 0);
    assert_int_equal(n, 14);
    assert_memory_equal(out, "\x82\xff\0\0\0\0\0\x01\0\0\x37\xfa\x21\x3d", 14);
    assert_int_equal(wsjwt__ws_write_header(out, sizeof(out), 0x81, 300, NULL, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\x81\x7e\x01\x2c", 4);
    assert_int_equal(wsjwt__ws_write_header(out, 3, 0x81, 300, NULL, &n), WSJWT_ETOOBIG);
    assert_int_equal(n, 0);
    assert_int_equal(wsjwt__ws_write_header(out, sizeof(out), 0x82, (uint64_t)1 << 63, NULL, &n),
                     WSJWT_EINVAL);
    assert_int_equal(wsjwt__ws_write_frame(out, 6, 0x81, (const uint8_t *)"Hello", 5, NULL, &n),
                     WSJWT_ETOOBIG);
    assert_int_equal(wsjwt__ws_write_frame(out, 7, 0x81, (const uint8_t *)"Hello", 5, NULL, &n), 0);
    assert_memory_equal(out, "\x81\x05Hello", 7);
    assert_int_equal(wsjwt__ws_write_frame(out, 11, 0x81, (const uint8_t *)"Hello", 5, mask_key, &n), 0);
    assert_memory_equal(out, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11); /* RFC 6455 5.7 */
    /* Round trip through the decoder at the length boundaries. */
    static struct wire w;
    static uint8_t payload[70000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 69999};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        struct wsjwt__ws_config cfg;
        wsjwt__ws_config_init(&cfg, 1);
        w.n = 0;
        add(&w, WSJWT__WS_FIN | WSJWT__WS_BINARY, payload, lens[i], 1);
        assert_int_equal(w.n, wsjwt__ws_frame_size(lens[i], 1));
        struct rec r;
        run(&cfg, w.b, w.n, RANDOM, 3, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.log_len, 7 + lens[i]);
        if (lens[i])
            assert_memory_equal(r.log + 7, payload, lens[i]);
        free(r.log);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_fragments_and_control),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_huge_length),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_close_build),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_utf8_fragmented),
        cmocka_unit_test(test_utf8_fail_fast),
        cmocka_unit_test(test_dead_after_error),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_mask_long),
        cmocka_unit_test(test_encoder),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
