/* Server internals shared by the files of src/server: the per-thread loop and the
 * connection. See include/wsjwt/server.h for the public contract. */
#ifndef WSJWT_SERVER_INTERNAL_H
#define WSJWT_SERVER_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#include <uv.h>

#include <wsjwt/server.h>

#include "http/http.h"
#include "net/net.h"
#include "net/tls.h"
#include "ws/deflate.h"
#include "ws/ws.h"

/* One read() takes at most this much (one buffer per loop, not per
 * connection). A message that arrives whole in one read is delivered in
 * place without a copy (one cut by the read is finished in place when its
 * remainder fits, conn.c frame_in_place), and its echo leaves with the
 * others of the same read in one sendmsg: 512 KiB takes the 4 x (64 KiB +
 * 14) of issue 8's scenario c in one read, where 256 KiB cut the fourth and
 * needed a second read. */
#define WSJWT__READ_SIZE (512u * 1024u)
/* Bytes corked per loop turn before a write is forced; a frame larger than
 * what is left goes out with writev (header, payload) without a copy. */
#define WSJWT__CORK_SIZE (64u * 1024u)
/* Pieces of one corked write when large payloads are referenced (16 frames:
 * header, payload); more are flushed first. */
#define WSJWT__CORK_IOV 32u
/* Longest subprotocol name the application may select: registered names are
 * short ("graphql-transport-ws" is 20); this bounds the 101's size. */
#define WSJWT__MAX_PROTOCOL 128u

enum wsjwt__conn_state {
    CONN_HANDSHAKE = 0, /* reading the request head */
    CONN_DEFERRED,      /* on_upgrade deferred: waiting for wsjwt_conn_answer */
    CONN_OPEN,          /* WebSocket open */
    CONN_CLOSING,       /* we sent a close frame, waiting for the peer's */
    CONN_DRAINING,      /* sending the last bytes (a refusal, a close), then TCP close */
    CONN_DEAD           /* torn down, handle closing */
};

/* Connection flags. */
#define CF_FLUSHQ      0x0001u /* on the loop's flush list */
#define CF_POLLOUT     0x0002u /* waiting for POLLOUT */
#define CF_DRAIN_CB    0x0004u /* a send was refused: call on_drain when empty */
#define CF_BROKEN      0x0008u /* a socket error: tear down at the next safe point */
#define CF_PINGED      0x0010u /* a server ping is outstanding */
#define CF_SUBPROTOCOL 0x0020u /* the token came as a subprotocol */
#define CF_APP         0x0040u /* the application knows the conn: on_close is due */
#define CF_READ_OFF    0x0080u /* not polling for input */
#define CF_OPENED      0x0100u /* counted in stats.open */
#define CF_REASON      0x0200u /* msg holds the NUL-terminated close reason */
#define CF_POLL_R      0x1000u /* registered with the poll handle: readable */
#define CF_POLL_W      0x2000u /* registered with the poll handle: writable */
#define CF_TLS         0x0400u /* a struct wsjwt__tls_conn: bytes go through the TLS engine */
#define CF_TLS_WAIT    0x0800u /* TLS handshake postponed to the next loop turn (budget spent) */

/* TLS handshake steps per loop turn: a full handshake costs the server
 * about 0.1-1 ms of signing (P-256 to RSA-2048), so a burst of new clients
 * cannot hold established connections back by more than a few ms per turn;
 * the rest wait for the next turn (issue 6). */
#define WSJWT__TLS_HS_PER_TURN 16u

struct wsjwt__loop;

/* Buffers a connection holds only while it needs them: unsent bytes, an
 * incomplete request head or frame header, a message split across reads or
 * fragments. Allocated on first use, freed when all are empty, so that an
 * idle connection costs only struct wsjwt_conn (issue 8: 400 bytes). */
struct wsjwt__conn_io {
    struct wsjwt__outq out; /* bytes the socket did not take yet */
    struct wsjwt__outq msg; /* a message being assembled; while deferred: the
                               Sec-WebSocket-Accept value; once closing: the
                               NUL-terminated close reason for on_close */
    uint8_t *in;            /* unconsumed input (partial head or frame header) */
    uint32_t in_len;
    struct wsjwt__pmd_ctx *pmd; /* --deflate dedicated: this connection's zlib streams
                                   (created at its first compressed message) */
};

struct wsjwt_conn {
    uv_poll_t poll; /* first: the handle's address is the connection's. The
                       loop's connections are found with uv_walk: no list. */
    struct wsjwt__loop *loop;
    struct wsjwt_conn *flush_next; /* the loop's flush list */
    struct wsjwt__conn_io *io;     /* NULL while idle */
    union {
        struct wsjwt__http_parser http; /* CONN_HANDSHAKE */
        struct wsjwt__ws_decoder ws;    /* from CONN_OPEN */
    } u;
    void *user;
    struct wsjwt_jwt *jwt; /* while on_upgrade/on_open run, or for good with keep_jwt */
    char *sub;             /* the token's subject, or NULL */
    int64_t exp;           /* the token's exp, 0 when none */
    uint32_t stamp;        /* loop ms of the last input (handshake/open) or of the close start */
    uint16_t close_code;   /* for on_close: 1006 until a close is sent or received */
    uint16_t flags;
    uint8_t state;
    uint16_t pmd; /* the permessage-deflate answer (wsjwt__pmd_pack), 0: not negotiated.
                     It sits in the struct's tail padding: no bytes added. */
};

/* A TLS connection: the engine follows the connection in the same
 * allocation, so that plain connections pay nothing for TLS (CF_TLS tells
 * them apart). */
struct wsjwt__tls_conn {
    struct wsjwt_conn c;
    struct wsjwt__tls t;
    struct wsjwt_conn *hs_next; /* the loop's list of postponed handshakes */
};

/* Counters. Each loop writes only its own; readers on other threads see
 * relaxed values (the increment is a plain load and store, no lock prefix). */
struct wsjwt__stats {
    _Atomic uint64_t accepted, upgraded, refused, open, messages_in, messages_out, backpressure, expired,
        protocol_errors, accept_errors;
};

#define STAT_INC(l, f)                                                                                       \
    atomic_store_explicit(&(l)->stats.f, atomic_load_explicit(&(l)->stats.f, memory_order_relaxed) + 1,      \
                          memory_order_relaxed)
#define STAT_DEC(l, f)                                                                                       \
    atomic_store_explicit(&(l)->stats.f, atomic_load_explicit(&(l)->stats.f, memory_order_relaxed) - 1,      \
                          memory_order_relaxed)

/* A broadcast frame shared by every receiver on every loop. */
struct wsjwt__bcast {
    atomic_size_t refs;
    const struct wsjwt_conn *except;
    const uint8_t *zframe; /* the message compressed once (no context takeover, 15-bit
                              window) for receivers that can all read it, or NULL */
    size_t zlen;
    size_t len;
    uint8_t frame[];
};

/* A loop's permessage-deflate state: the shared streams, by the window the
 * client allows us (shared[bits - 9]; shared[6].inf inflates every
 * shared-mode message), and the buffers messages are inflated into (rx,
 * delivered from) and deflated into (tx, copied into the send path). */
struct wsjwt__pmd_loop {
    struct wsjwt__pmd_ctx shared[7];
    struct wsjwt__pmd_buf rx, tx;
};

struct wsjwt__loop {
    uv_loop_t uv;
    struct wsjwt_server *srv;
    unsigned index;
    uv_thread_t thread;
    struct wsjwt__acceptor acc;
    uv_poll_t listen_poll;
    uv_timer_t tick;
    uv_check_t check;
    uv_async_t async;
    int listening;
    int accept_paused; /* out of descriptors without a reserve: resume at the next tick */
    int stopping;
    uint64_t stop_deadline;

    size_t n_conns;                /* connections of this loop (handles in uv_walk) */
    size_t n_peak;                 /* most connections since the last malloc_trim (server.c) */
    struct wsjwt_conn *flush_head; /* connections with queued bytes to write */

    /* Corked output of the connection being served (see conn.c). */
    struct wsjwt_conn *cork_owner;
    size_t cork_len;
    uint8_t *cork;

    /* The shared receive buffer: room for a kept prefix (a partial head up to
     * max_head) followed by one read. */
    uint8_t *rbuf;
    size_t rbuf_size;
    struct wsjwt__http_header *headers; /* max_headers entries, for the parser */
    char *scratch;                      /* max_head bytes, for a query token */

    /* During on_upgrade: the request the getters read, and the subprotocol
     * the application selected (a view into the request). */
    const struct wsjwt__http_request *req;
    const char *proto;
    size_t proto_len;

    /* TLS: ciphertext is read here, decrypted into rbuf. Handshakes over the
     * turn's budget wait in hs_wait; hs_idle runs them on the next turn. */
    uint8_t *tbuf;
    uint32_t tls_rest_at; /* loop ms of the last wsjwt__tls_rest pass (conn.c sweep) */
    struct wsjwt_conn *hs_wait;
    unsigned hs_budget;
    uv_idle_t hs_idle;

    /* Broadcasts posted by other loops. */
    uv_mutex_t inbox_mu;
    struct wsjwt__bcast **inbox;
    size_t inbox_len, inbox_cap;

    struct wsjwt__stats stats;

    struct wsjwt__pmd_loop *pmd; /* permessage-deflate; NULL with --deflate off */

    /* Large payloads corked by reference (conn.c, cork_ref): the pieces to
     * write, cork bytes and payloads in rbuf alternating, up to cork_mark
     * bytes of the cork; reading: the connection whose plain input is being
     * handled (rbuf holds it until the cork is flushed). */
    struct iovec cork_iov[WSJWT__CORK_IOV + 1]; /* + the cork's last bytes */
    unsigned cork_niov;
    size_t cork_mark;
    struct wsjwt_conn *reading;
};

struct wsjwt_server {
    struct wsjwt_server_config cfg; /* strings re-pointed at owned copies */
    char *host, *token_header, *token_query, *token_cookie;
    char **origins;
    struct wsjwt__http_token_config tokcfg;
    struct wsjwt__ws_config wscfg;
    struct wsjwt__ws_config wscfg_pmd; /* wscfg with RSV1 allowed: deflate negotiated */
    struct wsjwt__pmd_server_config pmdcfg;
    size_t pmd_threshold;
    struct wsjwt_keyring *keys;
    /* TLS: the context for new connections (swapped by a reload under
     * tls_mu; connections hold their own reference), and the files. */
    struct wsjwt__tls_ctx *tls;
    uv_mutex_t tls_mu;
    struct wsjwt_tls_cert *tls_certs;
    char *tls_client_ca;
    uint32_t tick_ms;
    int port;
    int started;
    atomic_int stop_requested;
    unsigned n_loops;   /* initialised */
    unsigned n_started; /* running a thread */
    struct wsjwt__loop *loops;
};

/* conn.c */
void wsjwt__conn_accept(struct wsjwt__loop *loop, int fd);
void wsjwt__conn_sweep(struct wsjwt__loop *loop);
void wsjwt__conn_shutdown(struct wsjwt__loop *loop);
void wsjwt__loop_flush(struct wsjwt__loop *loop);
void wsjwt__loop_deliver(struct wsjwt__loop *loop, const struct wsjwt__bcast *b);
void wsjwt__conn_teardown(struct wsjwt_conn *c);

/* server.c */
void wsjwt__loop_maybe_finish(struct wsjwt__loop *loop);
int64_t wsjwt__server_now(const struct wsjwt_server *srv);
/* The TLS context for a new connection, with a reference for the caller. */
struct wsjwt__tls_ctx *wsjwt__server_tls_ctx(struct wsjwt_server *srv);

/* log.c: one logfmt line on stderr when `level` passes the server's. */
void wsjwt__log(const struct wsjwt_server *srv, enum wsjwt_log_level level, const char *event,
                const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
int wsjwt__log_enabled(const struct wsjwt_server *srv, enum wsjwt_log_level level);
/* src/len escaped for a quoted logfmt value (", \ and control bytes) into
 * dst; returns dst. Output is cut to fit cap. */
const char *wsjwt__log_quote(char *dst, size_t cap, const char *src, size_t len);

#endif
