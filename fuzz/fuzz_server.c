/* libFuzzer: the whole server over fake I/O. One connection per input goes
 * through the real accept path (wsjwt__conn_accept: the first read, the
 * request head, token extraction and verification, the 101 or the refusal),
 * then frames, reassembly, UTF-8, pings, the close handshake, corked and
 * queued output, POLLOUT, teardown, all driven by the real libuv loop of a
 * real server. The network is a socketpair: the server holds one end as if
 * accept() had returned it, the fuzzer holds the other.
 *
 * The seam: the server is created (its loop, buffers and listener) but not
 * started; this target runs its loop one turn at a time with
 * uv_run(UV_RUN_NOWAIT) and calls the loop's flush, sweep and accept entry
 * points (server/internal.h) itself. No thread, no timer, no network.
 *
 * Input: byte 0 picks the set-up, the rest is records.
 *   byte 0  bits 0-1 the server: 0 insecure_no_auth, deflate off (RSV1 is
 *                   1002); 1 HS256 (secret below), deflate by default
 *                   (shared); 2 insecure_no_auth, deflate shared with a
 *                   16-byte threshold; 3 the same with dedicated streams,
 *                   window 9
 *           bits 2-4 the server end's SO_SNDBUF (small: short writes)
 *   record  one byte b, then:
 *           b & 0xc0 == 0x00  write the next (b & 63) + 1 bytes to the server
 *           b & 0xc0 == 0x40  read up to ((b & 63) + 1) * 64 bytes (the peer
 *                             reads slowly: the server's queue fills, POLLOUT)
 *           b & 0xc0 == 0x80  run the sweep; with b & 1 the clock jumps past
 *                             the token's exp (close 1008)
 *           b & 0xc0 == 0xc0  half-close our end for writing (EOF to the server)
 *   after each record the loop runs one turn and flushes.
 * At the end our end closes and the loop runs until the connection is gone:
 * a connection still alive after that, a leak or a crash is a finding.
 *
 * Seeds (fuzz/corpus/server/) carry a token signed with SECRET:
 * {"sub":"fuzz","exp":4000000000}. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wsjwt/wsjwt.h>

#include "server/internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SECRET[] = "fuzz-server-secret-0123456789abcdef";
#define EXP 4000000000LL

#define N_SERVERS 4
static struct wsjwt_server *servers[N_SERVERS];
static uv_check_t checks[N_SERVERS];
static int64_t fuzz_now;

static int64_t fuzz_clock(void *user)
{
    (void)user;
    return fuzz_now;
}

/* The application: echo, as `wsjwt serve --mode echo`; a refused send under
 * backpressure closes with 1013, as serve does. */
static void on_message(struct wsjwt_conn *c, const void *data, size_t len, int binary, void *user)
{
    (void)user;
    if (wsjwt_conn_send(c, data, len, binary) == WSJWT_EBACKPRESSURE)
        wsjwt_conn_close(c, 1013, "backpressure");
}

static struct wsjwt_server *make_server(int kind)
{
    int auth = kind == 1;
    static struct wsjwt_keyset *keys;
    static struct wsjwt_policy *policy;
    struct wsjwt_server_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    if (auth) {
        struct wsjwt_key *k = NULL;
        enum wsjwt_alg algs[] = {WSJWT_ALG_HS256};
        struct wsjwt_policy_opts po;
        memset(&po, 0, sizeof(po));
        po.algs = algs;
        po.n_algs = 1;
        if (wsjwt_key_from_secret(SECRET, strlen(SECRET), &k) != 0 || wsjwt_keyset_new(&keys) != 0 ||
            wsjwt_keyset_add(keys, k) != 0 || wsjwt_policy_new(&po, &policy) != 0)
            abort();
        cfg.keys = keys;
        cfg.policy = policy;
    } else {
        cfg.insecure_no_auth = 1;
    }
    cfg.host = "127.0.0.1";
    cfg.threads = 1;
    cfg.log_level = WSJWT_LOG_OFF;
    /* Small caps, so that inputs of a few hundred bytes reach them. */
    cfg.max_head = 2048;
    cfg.max_headers = 16;
    cfg.max_message = 4096;
    cfg.max_fragments = 16;
    cfg.max_backpressure = 8192;
    /* Timeouts never pass in wall time during one input: the sweep runs
     * only when a record asks, for the token's expiry. */
    cfg.handshake_timeout_ms = 3600000;
    cfg.idle_timeout_ms = 3600000;
    cfg.ping_interval_ms = 3600000;
    cfg.close_timeout_ms = 3600000;
    cfg.clock = fuzz_clock;
    if (kind == 0)
        cfg.deflate = WSJWT_DEFLATE_OFF;
    if (kind >= 2) {
        cfg.deflate = kind == 2 ? WSJWT_DEFLATE_SHARED : WSJWT_DEFLATE_DEDICATED;
        cfg.deflate_window_bits = 9;
        cfg.deflate_threshold = 16; /* echoes over 16 bytes go out compressed */
    }
    cfg.on_message = on_message;
    struct wsjwt_server *srv = NULL;
    if (wsjwt_server_new(&cfg, &srv) != 0)
        abort();
    return srv;
}

/* The loop's check phase, as the started server has it: queued output is
 * flushed after the I/O callbacks and before libuv runs close callbacks
 * (a torn-down connection may still be on the flush list until then). */
static void on_check(uv_check_t *h)
{
    wsjwt__loop_flush(h->data);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (int i = 0; i < N_SERVERS; i++) {
        servers[i] = make_server(i);
        uv_check_init(&servers[i]->loops[0].uv, &checks[i]);
        checks[i].data = &servers[i]->loops[0];
        uv_check_start(&checks[i], on_check);
    }
    return 0;
}

/* One loop turn. Every entry point of the server's own (accept, sweep) is
 * followed by a flush, as on_listen and on_tick do. */
static void turn(struct wsjwt__loop *l)
{
    wsjwt__loop_flush(l);
    uv_run(&l->uv, UV_RUN_NOWAIT);
}

/* Reads and drops up to n bytes of what the server sent. */
static void peer_read(int fd, size_t n)
{
    uint8_t buf[4096];
    while (n > 0) {
        ssize_t r = read(fd, buf, n < sizeof(buf) ? n : sizeof(buf));
        if (r <= 0)
            return;
        n -= (size_t)r;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct wsjwt_server *srv = servers[data[0] & 3];
    struct wsjwt__loop *l = &srv->loops[0];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    int sndbuf = 1024 << ((data[0] >> 2) & 7); /* 1 KiB .. 128 KiB */
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    fuzz_now = 1700000000;
    size_t before = l->n_conns;
    wsjwt__conn_accept(l, sv[0]); /* the server owns sv[0] now */
    turn(l);

    size_t i = 1;
    while (i < size) {
        uint8_t b = data[i++];
        size_t n = (size_t)(b & 63) + 1;
        switch (b & 0xc0) {
        case 0x00:
            if (n > size - i)
                n = size - i;
            if (n)
                (void)send(sv[1], data + i, n, MSG_NOSIGNAL);
            i += n;
            break;
        case 0x40:
            peer_read(sv[1], n * 64);
            break;
        case 0x80:
            if (b & 1)
                fuzz_now = EXP + 1;
            wsjwt__conn_sweep(l);
            break;
        default:
            shutdown(sv[1], SHUT_WR);
            break;
        }
        turn(l);
    }

    /* The peer goes away: the connection must be torn down. */
    close(sv[1]);
    for (int k = 0; k < 1000 && l->n_conns > before; k++)
        turn(l);
    if (l->n_conns != before) {
        fprintf(stderr, "connection still alive after its peer closed\n");
        abort();
    }
    /* Run the handle close callbacks (the connection's memory). */
    turn(l);
    return 0;
}
