/* WebSocket frame decoder, masking, close payloads and encoder
 * (RFC 6455 sections 5 and 7). See ws.h for the contract. */
#include "ws/ws.h"

#include <string.h>

#include "ws/utf8.h"

void wsjwt__ws_config_init(struct wsjwt__ws_config *cfg, int server)
{
    cfg->max_message = WSJWT__WS_DEFAULT_MAX_MESSAGE;
    cfg->max_fragments = WSJWT__WS_DEFAULT_MAX_FRAGMENTS;
    cfg->server = server ? 1 : 0;
    cfg->allow_rsv1 = 0;
}

void wsjwt__ws_decoder_init(struct wsjwt__ws_decoder *d, const struct wsjwt__ws_config *cfg)
{
    memset(d, 0, sizeof(*d));
    d->cfg = cfg;
}

/* Vector unmasking (issue 8, scenario c: unmasking was three quarters of the
 * server's instructions per 64 KiB echo, 0.5 per byte with 8-byte words).
 * GCC and clang vector types compile to SSE2 on x86-64 (always present: a
 * 32-byte vector is two 16-byte operations), NEON on arm64, and plain words
 * elsewhere; on x86-64 the same loop is also compiled for AVX2 and used when
 * the CPU has it (checked per call: one load and a test). */
#if defined(__GNUC__)
#define MASK_VECTORS 1
typedef uint8_t v32u8 __attribute__((vector_size(32)));
/* Below this length the word loop is cheaper than reaching alignment
 * (a 32-byte echo must not pay for it). */
#define VEC_MIN   128u
#define VEC_ALIGN 32u

/* XORs the 32-byte blocks of data (aligned) with m32 repeated; returns the
 * bytes done (len rounded down to 32). Unrolled eight times: 20 instructions
 * per 256 bytes with AVX2 (four times: 11 per 128; callgrind per 64 KiB echo
 * 7 269 -> 6 285). */
__attribute__((always_inline)) static inline size_t xor_blocks(uint8_t *data, size_t len, uint32_t m32)
{
    v32u8 m;
    uint32_t m8[8] = {m32, m32, m32, m32, m32, m32, m32, m32};
    memcpy(&m, m8, sizeof(m));
    size_t done = 0;
#pragma GCC unroll 8
    for (; len - done >= 32; done += 32) {
        v32u8 a;
        memcpy(&a, data + done, 32);
        a ^= m;
        memcpy(data + done, &a, 32);
    }
    return done;
}

static size_t xor_default(uint8_t *data, size_t len, uint32_t m32)
{
    return xor_blocks(data, len, m32);
}

#if defined(__x86_64__)
#define MASK_AVX2 1
__attribute__((target("avx2"))) static size_t xor_avx2(uint8_t *data, size_t len, uint32_t m32)
{
    return xor_blocks(data, len, m32);
}
#endif
#endif

unsigned wsjwt__ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], unsigned phase)
{
    phase &= 3u;
#if defined(MASK_VECTORS)
    if (len >= VEC_MIN) {
        /* Byte by byte up to the vector alignment (the phase advances with
         * each byte); from there whole 32-byte blocks, multiples of 4, so
         * the rotated mask below holds for every block. */
        while ((uintptr_t)data & (VEC_ALIGN - 1u)) {
            *data++ ^= mask[phase];
            phase = (phase + 1) & 3u;
            len--;
        }
        uint32_t m32;
        uint8_t m4[4] = {mask[phase], mask[(phase + 1) & 3u], mask[(phase + 2) & 3u], mask[(phase + 3) & 3u]};
        memcpy(&m32, m4, 4);
        size_t done;
#if defined(MASK_AVX2)
        if (__builtin_cpu_supports("avx2"))
            done = xor_avx2(data, len, m32);
        else
#endif
            done = xor_default(data, len, m32);
        data += done;
        len -= done;
    }
#else
    if (len >= 64) {
        /* Long payloads: reach 8-byte alignment first so the word loop does
         * aligned loads and stores. */
        while ((uintptr_t)data & 7u) {
            *data++ ^= mask[phase];
            phase = (phase + 1) & 3u;
            len--;
        }
    }
#endif
    if (len >= 8) {
        /* The mask rotated to the current phase, twice over: the same 8-byte
         * pattern whatever the byte order. 8 is a multiple of 4, so the phase
         * is the same after every word. */
        uint32_t m32;
        if (phase == 0) {
            memcpy(&m32, mask, 4); /* every whole frame starts here */
        } else {
            uint8_t m4[4] = {mask[phase], mask[(phase + 1) & 3u], mask[(phase + 2) & 3u],
                             mask[(phase + 3) & 3u]};
            memcpy(&m32, m4, 4);
        }
        uint64_t m = ((uint64_t)m32 << 32) | m32;
        for (; len >= 8; len -= 8, data += 8) {
            uint64_t w;
            memcpy(&w, data, 8);
            w ^= m;
            memcpy(data, &w, 8);
        }
    }
    for (; len; len--) {
        *data++ ^= mask[phase];
        phase = (phase + 1) & 3u;
    }
    return phase;
}

int wsjwt__ws_close_code_valid(unsigned code)
{
    /* RFC 6455 7.4.1 defines 1000-1003 and 1007-1011; IANA registered
     * 1012-1014. 1004 is reserved, 1005, 1006 and 1015 must never be sent,
     * 0-999 are unused, 1016-2999 are reserved for future RFCs, 3000-3999
     * are registered by libraries and 4000-4999 are private. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

int wsjwt__ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const uint8_t **reason,
                          size_t *reason_len)
{
    *code = 0;
    *reason = payload;
    *reason_len = 0;
    if (len == 0)
        return 0;
    /* RFC 6455 5.5.1: a body starts with a 2-byte code; 1 byte cannot be one.
     * Control payloads are at most 125 bytes (5.5). */
    if (len == 1 || len > WSJWT__WS_MAX_CONTROL)
        return WSJWT_EWS_CLOSE_PAYLOAD;
    unsigned c = ((unsigned)payload[0] << 8) | payload[1];
    if (!wsjwt__ws_close_code_valid(c))
        return WSJWT_EWS_CLOSE_CODE;
    /* 5.5.1: the reason is UTF-8 (7.1.6); invalid text fails with 1007. */
    if (!wsjwt__utf8_valid(payload + 2, len - 2))
        return WSJWT_EWS_UTF8;
    *code = (uint16_t)c;
    *reason = payload + 2;
    *reason_len = len - 2;
    return 0;
}

int wsjwt__ws_close_build(uint8_t *out, unsigned code, const char *reason, size_t reason_len, size_t *len)
{
    *len = 0;
    if (code == 0)
        return reason_len ? WSJWT_EINVAL : 0;
    if (!wsjwt__ws_close_code_valid(code))
        return WSJWT_EINVAL;
    /* 125 - 2 bytes of code. Cut before a continuation byte so a reason that
     * was valid UTF-8 stays valid. */
    size_t max = WSJWT__WS_MAX_CONTROL - 2;
    if (reason_len > max) {
        reason_len = max;
        while (reason_len && ((uint8_t)reason[reason_len] & 0xC0u) == 0x80u)
            reason_len--;
    }
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (reason_len)
        memcpy(out + 2, reason, reason_len);
    *len = 2 + reason_len;
    return 0;
}

/* ---- decoder ----------------------------------------------------------- */

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* in_frame value of a decoder that failed: every later call goes to
 * payload(), which refuses it, so the fast path needs no extra test. */
#define DEAD 0xFFu

static int dead_on_error(struct wsjwt__ws_decoder *d, int rc)
{
    if (rc < 0 && rc != WSJWT_EAGAIN)
        d->in_frame = DEAD;
    return rc;
}

/* Continue the current data frame's payload with the bytes at in/len. */
static int payload(struct wsjwt__ws_decoder *d, uint8_t *in, size_t len, size_t *used,
                   struct wsjwt__ws_event *ev)
{
    if (d->in_frame == DEAD)
        return WSJWT_ESTATE;
    size_t n = len;
    if ((uint64_t)n > d->remaining)
        n = (size_t)d->remaining;
    if (n == 0 && d->remaining)
        return WSJWT_EAGAIN;
    if (d->masked)
        d->phase = (uint8_t)wsjwt__ws_mask(in, n, d->mask, d->phase);
    d->remaining -= n;
    int last = d->remaining == 0;
    if (d->msg_opcode == WSJWT__WS_TEXT && !(d->msg_flags & WSJWT__WS_COMPRESSED)) {
        d->utf8 = wsjwt__utf8_feed(d->utf8, in, n);
        /* 5.6/8.1: fail fast at the first bad byte, and a message must not
         * end inside a character. */
        if (d->utf8 == WSJWT__UTF8_REJECT || (last && d->frame_fin && d->utf8 != WSJWT__UTF8_ACCEPT))
            return WSJWT_EWS_UTF8;
    }
    uint8_t flags = d->msg_flags;
    if (d->msg_new)
        flags |= WSJWT__WS_MSG_FIRST;
    if (d->frame_new)
        flags |= WSJWT__WS_FRAME_FIRST;
    ev->data = in;
    ev->len = n;
    ev->opcode = d->msg_opcode;
    ev->close_code = 0;
    d->msg_new = 0;
    d->frame_new = 0;
    if (last) {
        flags |= WSJWT__WS_FRAME_LAST;
        d->in_frame = 0;
        if (d->frame_fin) {
            flags |= WSJWT__WS_MSG_LAST;
            d->msg_opcode = 0;
        }
    }
    ev->flags = flags;
    *used += n;
    return 0;
}

/* The general path: any header, any state. */
static int decode_header(struct wsjwt__ws_decoder *d, uint8_t *in, size_t len, size_t *used,
                         struct wsjwt__ws_event *ev)
{
    if (len < 2)
        return WSJWT_EAGAIN;

    const struct wsjwt__ws_config *cfg = d->cfg;
    unsigned b0 = in[0], b1 = in[1];
    unsigned opcode = b0 & 0x0Fu;
    unsigned rsv = b0 & 0x70u;
    unsigned fin = b0 & WSJWT__WS_FIN;
    unsigned masked = b1 & 0x80u;
    unsigned len7 = b1 & 0x7Fu;

    /* Everything the first two bytes decide, checked before waiting for
     * more, in a fixed order so the error never depends on the split. */
    if (opcode & 0x8u) {
        /* 5.5: control frames. 5.2: opcodes 0xB-0xF are reserved. */
        if (opcode > WSJWT__WS_PONG)
            return WSJWT_EWS_OPCODE;
        if (!fin)
            return WSJWT_EWS_CONTROL_FRAGMENTED;
        if (len7 > WSJWT__WS_MAX_CONTROL)
            return WSJWT_EWS_CONTROL_TOO_BIG;
        /* RFC 7692 6: RSV1 marks a compressed data message, never a control
         * frame; RSV2 and RSV3 have no extension here. */
        if (rsv)
            return WSJWT_EWS_RSV;
    } else {
        if (opcode > WSJWT__WS_BINARY)
            return WSJWT_EWS_OPCODE; /* 0x3-0x7 reserved */
        /* 5.4: a continuation needs an open message; a new message may not
         * start inside one. */
        if (opcode == WSJWT__WS_CONT) {
            if (!d->msg_opcode)
                return WSJWT_EWS_CONTINUATION;
        } else if (d->msg_opcode) {
            return WSJWT_EWS_INTERLEAVED;
        }
        /* 5.2: RSV bits only with an extension that defines them. RFC 7692
         * 6.1: RSV1 only on a message's first frame. */
        if (rsv && (rsv != WSJWT__WS_RSV1 || !cfg->allow_rsv1 || opcode == WSJWT__WS_CONT))
            return WSJWT_EWS_RSV;
    }
    /* 5.1: a client masks every frame, a server none. */
    if (cfg->server) {
        if (!masked)
            return WSJWT_EWS_UNMASKED;
    } else if (masked) {
        return WSJWT_EWS_MASKED;
    }

    size_t hlen = 2;
    uint64_t plen = len7;
    if (len7 == 126) {
        if (len < 4)
            return WSJWT_EAGAIN;
        plen = ((uint64_t)in[2] << 8) | in[3];
        /* 5.2: "the minimal number of bytes MUST be used". */
        if (plen < 126)
            return WSJWT_EWS_FRAME_LENGTH;
        hlen = 4;
    } else if (len7 == 127) {
        if (len < 10)
            return WSJWT_EAGAIN;
        plen = 0;
        for (unsigned i = 2; i < 10; i++)
            plen = (plen << 8) | in[i];
        /* 5.2: the most significant bit MUST be 0. */
        if ((plen >> 63) || plen <= 0xFFFFu)
            return WSJWT_EWS_FRAME_LENGTH;
        hlen = 10;
    }

    if (!(opcode & 0x8u)) {
        /* Caps, decided at the header so an oversized message costs nothing.
         * msg_bytes <= max_message always holds, so no overflow. */
        uint64_t have = opcode == WSJWT__WS_CONT ? d->msg_bytes : 0;
        uint32_t frags = opcode == WSJWT__WS_CONT ? d->fragments : 0;
        if (frags >= cfg->max_fragments)
            return WSJWT_EWS_TOO_MANY_FRAGMENTS;
        if (plen > cfg->max_message - have)
            return WSJWT_EWS_MESSAGE_TOO_BIG;
    }

    if (masked) {
        if (len < hlen + 4)
            return WSJWT_EAGAIN;
        memcpy(d->mask, in + hlen, 4);
        hlen += 4;
    }

    if (opcode & 0x8u) {
        /* Control frames are delivered whole (at most 125 bytes): the shell
         * keeps a partial one, the decoder keeps nothing. */
        if (len - hlen < plen)
            return WSJWT_EAGAIN;
        uint8_t *p = in + hlen;
        size_t n = (size_t)plen;
        if (masked)
            wsjwt__ws_mask(p, n, d->mask, 0);
        ev->close_code = 0;
        if (opcode == WSJWT__WS_CLOSE) {
            const uint8_t *reason;
            size_t reason_len;
            int rc = wsjwt__ws_close_parse(p, n, &ev->close_code, &reason, &reason_len);
            if (rc)
                return rc;
        }
        ev->data = p;
        ev->len = n;
        ev->opcode = (uint8_t)opcode;
        ev->flags = WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST | WSJWT__WS_FRAME_FIRST | WSJWT__WS_FRAME_LAST;
        *used = hlen + n;
        return 0;
    }

    /* A data frame: consume its header, then as much payload as is here. */
    if (opcode != WSJWT__WS_CONT) {
        d->msg_opcode = (uint8_t)opcode;
        d->msg_flags = (rsv & WSJWT__WS_RSV1) ? WSJWT__WS_COMPRESSED : 0;
        d->msg_new = 1;
        d->msg_bytes = 0;
        d->fragments = 0;
        d->utf8 = WSJWT__UTF8_ACCEPT;
    }
    d->fragments++;
    d->msg_bytes += plen;
    d->remaining = plen;
    d->masked = masked ? 1 : 0;
    d->phase = 0;
    d->in_frame = 1;
    d->frame_fin = fin ? 1 : 0;
    d->frame_new = 1;
    *used = hlen;
    return payload(d, in + hlen, len - hlen, used, ev);
}

/* The general path and the payload continuation, marking the decoder dead
 * on failure; out of line, so the fast path below tail-calls them. */
NOINLINE static int decode_general(struct wsjwt__ws_decoder *d, uint8_t *in, size_t len, size_t *used,
                                   struct wsjwt__ws_event *ev)
{
    return dead_on_error(d, decode_header(d, in, len, used, ev));
}

NOINLINE static int decode_payload(struct wsjwt__ws_decoder *d, uint8_t *in, size_t len, size_t *used,
                                   struct wsjwt__ws_event *ev)
{
    return dead_on_error(d, payload(d, in, len, used, ev));
}

/* Unmask (when mask is set) at most 125 bytes at phase 0, in one pass that
 * also ORs the bytes together; returns nonzero if any byte is >= 0x80. */
static inline int unmask_small(uint8_t *p, size_t n, const uint8_t *mask)
{
    uint64_t m = 0, acc = 0;
    if (mask) {
        uint32_t m32;
        memcpy(&m32, mask, 4);
        m = ((uint64_t)m32 << 32) | m32;
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= m;
        memcpy(p + i, &w, 8);
        acc |= w;
    }
    uint8_t tail = 0;
    for (; i < n; i++) {
        /* i is a multiple of 8 plus the tail index: phase i & 3. */
        uint8_t b = (uint8_t)(p[i] ^ (mask ? mask[i & 3] : 0));
        p[i] = b;
        tail |= b;
    }
    return ((acc & 0x8080808080808080ull) | (tail & 0x80u)) != 0;
}

int wsjwt__ws_decode(struct wsjwt__ws_decoder *d, uint8_t *in, size_t len, size_t *used,
                     struct wsjwt__ws_event *ev)
{
    *used = 0;
    if (d->in_frame)
        return decode_payload(d, in, len, used, ev);
    if (len < 2)
        return WSJWT_EAGAIN;
    const struct wsjwt__ws_config *cfg = d->cfg;
    unsigned b0 = in[0], b1 = in[1], len7 = b1 & 0x7Fu;
    /* Fast path: a whole, final TEXT or BINARY frame with no RSV bits, a
     * 7-bit length and the right masking, outside a fragmented message: the
     * shape of nearly every small message. It is delivered in place with no
     * state change (the message begins and ends here). Anything else takes
     * the general path below, which reaches the same result. */
    unsigned want_mask = cfg->server ? 0x80u : 0u;
    if ((b0 == (WSJWT__WS_FIN | WSJWT__WS_TEXT) || b0 == (WSJWT__WS_FIN | WSJWT__WS_BINARY)) &&
        (b1 & 0x80u) == want_mask && len7 < 126 && !d->msg_opcode && len7 <= cfg->max_message &&
        cfg->max_fragments) {
        size_t hlen = want_mask ? 6 : 2;
        if (len >= hlen + len7) {
            uint8_t *p = in + hlen;
            int high = unmask_small(p, len7, want_mask ? in + 2 : NULL);
            /* All-ASCII text is valid UTF-8 without a second pass. */
            if (high && b0 == (WSJWT__WS_FIN | WSJWT__WS_TEXT) && !wsjwt__utf8_valid(p, len7))
                return dead_on_error(d, WSJWT_EWS_UTF8);
            ev->data = p;
            ev->len = len7;
            ev->opcode = (uint8_t)(b0 & 0x0Fu);
            ev->flags =
                WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST | WSJWT__WS_FRAME_FIRST | WSJWT__WS_FRAME_LAST;
            ev->close_code = 0;
            *used = hlen + len7;
            return 0;
        }
    }

    return decode_general(d, in, len, used, ev);
}

/* ---- encoder ------------------------------------------------------------ */

size_t wsjwt__ws_header_size(uint64_t len, int masked)
{
    size_t n = len < 126 ? 2 : len <= 0xFFFFu ? 4 : 10;
    return n + (masked ? 4 : 0);
}

size_t wsjwt__ws_frame_size(size_t len, int masked)
{
    size_t h = wsjwt__ws_header_size(len, masked);
    return len > SIZE_MAX - h ? SIZE_MAX : h + len;
}

int wsjwt__ws_write_header(uint8_t *out, size_t cap, unsigned first, uint64_t len, const uint8_t *mask,
                           size_t *written)
{
    *written = 0;
    if (len >> 63)
        return WSJWT_EINVAL;
    size_t h = wsjwt__ws_header_size(len, mask != NULL);
    if (cap < h)
        return WSJWT_ETOOBIG;
    uint8_t mbit = mask ? 0x80 : 0;
    out[0] = (uint8_t)first;
    size_t i;
    if (len < 126) {
        out[1] = (uint8_t)(mbit | len);
        i = 2;
    } else if (len <= 0xFFFFu) {
        out[1] = (uint8_t)(mbit | 126);
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        i = 4;
    } else {
        out[1] = (uint8_t)(mbit | 127);
        for (unsigned k = 0; k < 8; k++)
            out[2 + k] = (uint8_t)(len >> (56 - 8 * k));
        i = 10;
    }
    if (mask)
        memcpy(out + i, mask, 4);
    *written = h;
    return 0;
}

int wsjwt__ws_write_frame(uint8_t *out, size_t cap, unsigned first, const uint8_t *payload_, size_t len,
                          const uint8_t *mask, size_t *written)
{
    size_t h;
    *written = 0;
    if (wsjwt__ws_frame_size(len, mask != NULL) > cap)
        return WSJWT_ETOOBIG;
    int rc = wsjwt__ws_write_header(out, cap, first, len, mask, &h);
    if (rc)
        return rc;
    if (len)
        memcpy(out + h, payload_, len);
    if (mask)
        wsjwt__ws_mask(out + h, len, mask, 0);
    *written = h + len;
    return 0;
}
