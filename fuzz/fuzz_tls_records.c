/* libFuzzer: the TLS 1.3 record layer (src/net/tls13.c and the engine's
 * use of it in src/net/tls.c) after the handshake, with records a peer
 * holding the keys could send: random ciphertext alone would stop at the
 * first tag check, so the input describes records that the harness seals
 * with the peer's key, mixed with raw bytes.
 *
 * Input: byte 0 picks the side (bit 0: server or client), the feeding step
 * (bits 1-3) and the read buffer size (bits 4-7). Then operations, each one
 * byte and its operands:
 *   0 T L data   a record of content type T with L bytes of data (L < 256),
 *                sealed with the peer's current key (the type and padding
 *                are whatever the data says when T is 0)
 *   1 L data     L raw bytes onto the wire (junk, torn records)
 *   2            the peer moves to its next write key (as after a KeyUpdate)
 *   3            the engine writes a record of its own (it answers a
 *                requested KeyUpdate first)
 * Whatever the input, every call ends in a defined state (data, waiting,
 * closed, or failed with WSJWT_ETLS), never a crash or a sanitizer report.
 * Seeds: fuzz/corpus/tls_records/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wsjwt/error.h>

#include "net/tls.h"
#include "net/tls13.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void feed_all(struct wsjwt__tls *t, const uint8_t *wire, size_t len, size_t step, size_t cap,
                     int *dead)
{
    static uint8_t plain[WSJWT__TLS13_MAX_CIPHER + 64];
    for (size_t off = 0; off < len && !*dead;) {
        size_t k = step && step < len - off ? step : len - off;
        /* a buffer of exactly this piece, overwritten after use: lent bytes
         * must not be read after stash() */
        uint8_t *piece = malloc(k);
        if (!piece)
            abort();
        memcpy(piece, wire + off, k);
        if (wsjwt__tls_feed(t, piece, k) != 0)
            abort();
        for (;;) {
            size_t n = 0;
            int rc = wsjwt__tls_read(t, plain, cap, &n);
            if (rc == WSJWT_EAGAIN)
                break;
            if (rc == WSJWT_ETLS || rc == WSJWT_ECLOSED || rc == WSJWT_ENOMEM) {
                *dead = 1;
                break;
            }
            if (rc != 0 || n == 0 || n > cap)
                abort();
        }
        if (wsjwt__tls_stash(t) != 0)
            abort();
        memset(piece, 0xa5, k);
        free(piece);
        off += k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t steps[8] = {0, 1, 2, 5, 17, 64, 700, 4096};
    static const size_t caps[16] = {1,    2,     3,     7,     16,    64,    100,   1000,
                                    4096, 16383, 16384, 16385, 17000, 30000, 65536, 65536};
    int server = data[0] & 1;
    size_t step = steps[(data[0] >> 1) & 7], cap = caps[data[0] >> 4];
    uint8_t cs[32], ss[32];
    for (int i = 0; i < 32; i++) {
        cs[i] = (uint8_t)(0x40 + i);
        ss[i] = (uint8_t)(0x90 + i);
    }
    const uint8_t *peer_secret = server ? cs : ss;
    struct wsjwt__tls t;
    struct wsjwt__tls13 peer;
    uint8_t zero[32] = {0};
    if (wsjwt__tls_rl_start(&t, server, 0x1301, server ? cs : ss, server ? ss : cs, 4) != 0 ||
        wsjwt__tls13_init(&peer, 0x1301, zero, peer_secret) != 0)
        abort();
    static uint8_t wire[1 << 16];
    size_t w = 0;
    int dead = 0;
    for (size_t i = 1; i < size && !dead;) {
        uint8_t op = data[i++] & 3;
        if (op == 0 && i + 2 <= size) {
            uint8_t type = data[i], len = data[i + 1];
            i += 2;
            size_t l = len < size - i ? len : size - i;
            if (w + wsjwt__tls13_record_size(l) > sizeof(wire))
                break;
            if (wsjwt__tls13_seal(&peer, type, data + i, l, wire + w) != 0)
                abort();
            w += wsjwt__tls13_record_size(l);
            i += l;
        } else if (op == 1 && i + 1 <= size) {
            size_t l = data[i++];
            if (l > size - i)
                l = size - i;
            if (w + l > sizeof(wire))
                break;
            memcpy(wire + w, data + i, l);
            w += l;
            i += l;
        } else if (op == 2) {
            if (wsjwt__tls13_update(&peer, &peer.wr, 1) != 0)
                abort();
        } else if (op == 3) {
            feed_all(&t, wire, w, step, cap, &dead);
            w = 0;
            int rc = dead ? 0 : wsjwt__tls_write(&t, "reply", 5);
            if (rc != 0 && rc != WSJWT_ETLS)
                abort();
        } else {
            break;
        }
    }
    if (!dead)
        feed_all(&t, wire, w, step, cap, &dead);
    if (!dead)
        wsjwt__tls_close_notify(&t);
    wsjwt__tls13_free(&peer);
    wsjwt__tls_free(&t);
    return 0;
}
