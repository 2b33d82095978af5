/* libFuzzer: the frame decoder with message assembly, UTF-8 and close
 * validation, driven like the shell drives it (unconsumed bytes kept,
 * chunks appended to a message buffer).
 *
 * Input: byte 0 picks the role, RSV1 and the message cap; byte 1 the
 * fragment cap; byte 2 the split pattern; the rest is the wire. The wire is
 * decoded whole and split; both runs must give the same messages, control
 * frames and result, and every message delivered must respect the caps and,
 * for uncompressed text, be valid UTF-8. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws/utf8.h"
#include "ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FNV-1a over everything delivered, in order. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int run(const struct wsjwt__ws_config *cfg, const uint8_t *wire, size_t n, const uint8_t *splits,
               size_t nsplits, uint64_t *hash)
{
    struct wsjwt__ws_decoder d;
    wsjwt__ws_decoder_init(&d, cfg);
    uint8_t *buf = malloc(n + 1);
    uint8_t *msg = NULL;
    size_t have = 0, pos = 0, msg_len = 0, msg_cap = 0, k = 0;
    int rc = 0, in_msg = 0;
    uint64_t h = 0xcbf29ce484222325ull;
    if (!buf)
        abort();
    while (pos < n) {
        size_t step = nsplits ? (size_t)splits[k++ % nsplits] % 40 + 1 : n;
        if (step > n - pos)
            step = n - pos;
        memcpy(buf + have, wire + pos, step);
        have += step;
        pos += step;
        size_t off = 0;
        for (;;) {
            struct wsjwt__ws_event ev;
            size_t used;
            rc = wsjwt__ws_decode(&d, buf + off, have - off, &used, &ev);
            if (used > have - off)
                __builtin_trap();
            off += used;
            if (rc == WSJWT_EAGAIN)
                break;
            if (rc < 0)
                goto out;
            if (ev.opcode & 8) {
                if (ev.len > 125 ||
                    (ev.opcode == WSJWT__WS_CLOSE && ev.len && !wsjwt__ws_close_code_valid(ev.close_code)))
                    __builtin_trap();
                h = mix(h, &ev.opcode, 1);
                h = mix(h, &ev.close_code, 2);
                h = mix(h, ev.data, ev.len);
                continue;
            }
            if (!!(ev.flags & WSJWT__WS_MSG_FIRST) == in_msg)
                __builtin_trap();
            in_msg = 1;
            if (msg_len + ev.len > cfg->max_message)
                __builtin_trap();
            if (msg_len + ev.len > msg_cap) {
                msg_cap = (msg_len + ev.len) * 2;
                uint8_t *m = realloc(msg, msg_cap);
                if (!m)
                    abort();
                msg = m;
            }
            if (ev.len)
                memcpy(msg + msg_len, ev.data, ev.len);
            msg_len += ev.len;
            if (ev.flags & WSJWT__WS_MSG_LAST) {
                if (ev.opcode == WSJWT__WS_TEXT && !(ev.flags & WSJWT__WS_COMPRESSED) &&
                    !wsjwt__utf8_valid(msg, msg_len))
                    __builtin_trap();
                h = mix(h, &ev.opcode, 1);
                h = mix(h, msg, msg_len);
                msg_len = 0;
                in_msg = 0;
            }
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    rc = (have || d.in_frame || in_msg) ? WSJWT_EAGAIN : 0;
out:
    free(buf);
    free(msg);
    *hash = h;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    static const uint64_t caps[4] = {64, 300, 70000, WSJWT__WS_DEFAULT_MAX_MESSAGE};
    struct wsjwt__ws_config cfg;
    wsjwt__ws_config_init(&cfg, data[0] & 1);
    cfg.allow_rsv1 = (data[0] >> 1) & 1;
    cfg.max_message = caps[(data[0] >> 2) & 3];
    cfg.max_fragments = data[1] % 16 + 1;
    const uint8_t *wire = data + 3;
    size_t n = size - 3;
    /* The split pattern: the bytes from data[2] onward (reused cyclically). */
    uint64_t h1, h2;
    int rc1 = run(&cfg, wire, n, NULL, 0, &h1);
    int rc2 = run(&cfg, wire, n, data + 2, size - 2 < 8 ? size - 2 : 8, &h2);
    if (rc1 != rc2 || h1 != h2)
        __builtin_trap();
    return 0;
}
