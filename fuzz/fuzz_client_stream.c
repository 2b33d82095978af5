/* libFuzzer: the client's whole receive path (response head, 101 checks,
 * frame decoding, message reassembly, pings, close handling, buffer
 * management) through the real shell, with no socket.
 *
 * Byte 0 picks the set-up:
 *   bit 0   offer the token as a subprotocol (access_token, <token>)
 *   bit 1   a small message cap (64 bytes) instead of 1 MiB
 *   bit 2   prepend a valid 101 (with the right Accept, and access_token when
 *           offered), fed in the same pieces as the rest, so the rest are
 *           frames; else the rest is the response
 *   bits 3-6 split step (1..16 bytes per read)
 *   bit 7   bench_raw_echo with bench_on_masked (the load generator's way
 *           against a byte echo: masked frames required, whole small and
 *           large ones handed over still masked), replies sent with
 *           wsjwt_client_bench_send_wire
 * Invariants: text messages are valid UTF-8 (masked ones are the caller's to
 * check); messages respect the cap; the close code reported is 1005, 1006
 * or a valid one; nothing leaks and the loop closes cleanly. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsjwt/client.h>

#include "client/internal.h"
#include "http/http.h"
#include "ws/utf8.h"
#include "ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    size_t cap;
    int opened;
};

static void on_open(struct wsjwt_client *c, const char *protocol, void *user)
{
    struct seen *s = user;
    (void)c;
    (void)protocol;
    s->opened++;
}

static void on_message(struct wsjwt_client *c, int binary, const uint8_t *p, size_t len, void *user)
{
    struct seen *s = user;
    (void)c;
    if (len > s->cap || (!binary && !wsjwt__utf8_valid(p, len)) || !s->opened)
        __builtin_trap();
    /* Reply from inside the callback: exercises the corked send path. */
    if (len && wsjwt_client_send(c, binary, p, len > 16 ? 16 : len) != 0)
        __builtin_trap();
}

/* bench_on_masked: data XOR mask is the payload. */
static void on_masked(struct wsjwt_client *c, int binary, const uint8_t *p, size_t len, const uint8_t mask[4],
                      void *user)
{
    struct seen *s = user;
    (void)binary;
    if (len > s->cap || !s->opened || !mask)
        __builtin_trap();
    uint8_t key[4];
    if (len && wsjwt_client_bench_send_wire(c, p, len > 16 ? 16 : len, key) != 0)
        __builtin_trap();
}

static void on_close(struct wsjwt_client *c, int code, const char *reason, size_t len, void *user)
{
    (void)c;
    (void)reason;
    (void)user;
    if (code != 1005 && code != 1006 && !wsjwt__ws_close_code_valid((unsigned)code))
        __builtin_trap();
    if (len > 123)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    size_t step = ((mode >> 3) & 15u) + 1u;
    data++;
    size--;
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return 0;
    struct seen s = {(mode & 2) ? 64u : WSJWT__WS_DEFAULT_MAX_MESSAGE, 0};
    struct wsjwt_client_opts o = {
        .url = "ws://127.0.0.1:9/fuzz",
        .token = "a.b.c",
        .token_place = (mode & 1) ? WSJWT_TOKEN_IN_SUBPROTOCOL : WSJWT_TOKEN_IN_HEADER,
        .max_message = (mode & 2) ? 64u : 0,
        .cb = {on_open, on_message, NULL, NULL, on_close},
        .user = &s,
        .bench_raw_echo = (mode & 128) != 0,
        .bench_on_masked = (mode & 128) ? on_masked : NULL,
    };
    struct wsjwt_client *c = NULL;
    if (wsjwt_client_new(&loop, &o, &c) != 0 || wsjwt__client_attach_fake(c) != 0)
        __builtin_trap();
    if (mode & 4) {
        char accept[WSJWT_WS_ACCEPT_LEN + 1];
        wsjwt__ws_accept(wsjwt__client_key(c), WSJWT_WS_KEY_LEN, accept);
        accept[WSJWT_WS_ACCEPT_LEN] = 0;
        char head[256];
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n%s\r\n",
                         accept, (mode & 1) ? "Sec-WebSocket-Protocol: access_token\r\n" : "");
        /* The head and the first input bytes in the same pieces of `step`
         * bytes: the canonical 101 (no subprotocol) is taken without the
         * parser, whole or waited for when a piece ends inside it, with
         * frames after it in the same read. */
        uint8_t *all = malloc((size_t)n + size + 1);
        if (!all)
            __builtin_trap();
        memcpy(all, head, (size_t)n);
        memcpy(all + n, data, size);
        size_t total = (size_t)n + size, off = 0;
        for (; off < (size_t)n; off += step)
            wsjwt__client_feed(c, all + off, total - off < step ? total - off : step);
        if (!s.opened)
            __builtin_trap(); /* a valid 101 must open */
        data = all;
        size = total;
        for (; off < size; off += step)
            wsjwt__client_feed(c, data + off, size - off < step ? size - off : step);
        free(all);
        data = NULL;
        size = 0;
    }
    for (size_t off = 0; off < size; off += step)
        wsjwt__client_feed(c, data + off, size - off < step ? size - off : step);
    wsjwt_client_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        __builtin_trap(); /* a handle left open */
    return 0;
}
