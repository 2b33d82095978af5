/* wsjwt client: a WebSocket client on a libuv loop (RFC 6455), with the
 * token-placement conventions of wsjwt servers and of Node's `ws`.
 *
 * Lifecycle:
 *   wsjwt_client_new()      allocate from options (URL parsed, headers copied)
 *   wsjwt_client_connect()  resolve, connect, send the upgrade
 *   on_open                 the 101 was valid: send and receive from now on
 *   on_message / on_pong    data
 *   on_error                something failed (network, refused upgrade, a
 *                           protocol violation by the server); the client
 *                           is then torn down and on_close follows
 *   on_close                always the last callback, exactly once after a
 *                           successful wsjwt_client_connect(): the close code
 *                           and reason the server sent, or 1006 (abnormal,
 *                           no close frame) with an empty reason
 *   wsjwt_client_free()     release; allowed at any time, also from inside a
 *                           callback (the memory goes after libuv has closed
 *                           the socket). No callback runs after it.
 *
 * What the server sends is checked as strictly as the server checks its
 * clients: frames must be unmasked, no RSV bits, valid opcodes, control frames
 * at most 125 bytes and unfragmented, text valid UTF-8, close codes valid,
 * messages at most max_message bytes. A violation is reported through
 * on_error with the WSJWT_EWS_... code and the connection is closed with the
 * matching close code (wsjwt_err_close_code()).
 *
 * Outgoing frames are masked with keys from OpenSSL's CSPRNG (drawn in
 * batches). Frames sent from inside a callback of this client are corked: they
 * go out in one write when the callback returns. Frames sent from elsewhere go
 * out at once.
 *
 * Sockets get TCP_NODELAY: writes are already corked, so Nagle would only add
 * latency. A client belongs to its loop's thread.
 */
#ifndef WSJWT_CLIENT_H
#define WSJWT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "error.h"
#include "tls.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wsjwt_client;

/* Where the token goes in the upgrade request. */
enum wsjwt_token_place {
    WSJWT_TOKEN_IN_NONE = 0,    /* no token */
    WSJWT_TOKEN_IN_HEADER,      /* "<token_name>: <token>" (default name "token": the tutorial's) */
    WSJWT_TOKEN_IN_BEARER,      /* "Authorization: Bearer <token>" */
    WSJWT_TOKEN_IN_SUBPROTOCOL, /* "Sec-WebSocket-Protocol: access_token, <token>": what browsers can do;
                                the server must select "access_token" (never the token) */
    WSJWT_TOKEN_IN_QUERY        /* "?<token_name>=<token>" appended to the request target */
};

/* A header: a view (name and value not NUL-terminated in responses). */
struct wsjwt_client_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* The server's answer to the upgrade, as given to on_error when it refused
 * (err WSJWT_EHTTP_STATUS) or answered a 101 that fails the checks
 * (WSJWT_EHTTP_ACCEPT, WSJWT_EHTTP_PROTOCOL, WSJWT_EHTTP_RESPONSE). Every
 * pointer is a view that lives only during the callback. */
struct wsjwt_client_response {
    int status; /* 401, 403, 426, ...; 0 when no status line was parsed */
    const char *reason;
    size_t reason_len;
    const struct wsjwt_client_header *headers;
    size_t n_headers;
};

struct wsjwt_client_callbacks {
    /* The upgrade succeeded. `protocol` is the selected subprotocol (a
     * NUL-terminated view living as long as the client) or NULL. */
    void (*on_open)(struct wsjwt_client *c, const char *protocol, void *user);
    /* A complete message; `data` lives only during the callback. A text
     * message has been checked as UTF-8. */
    void (*on_message)(struct wsjwt_client *c, int binary, const uint8_t *data, size_t len, void *user);
    /* A pong (the client answers pings by itself). Optional. */
    void (*on_pong)(struct wsjwt_client *c, const uint8_t *data, size_t len, void *user);
    /* A failure: `err` is the code; `resp` is non-NULL only for the upgrade
     * errors described above. Optional. on_close follows. */
    void (*on_error)(struct wsjwt_client *c, int err, const struct wsjwt_client_response *resp, void *user);
    /* The end: the code and reason of the server's close frame (1005 when it
     * carried no code), or 1006 when the connection ended without one. The
     * reason is a view valid during the call. Optional. */
    void (*on_close)(struct wsjwt_client *c, int code, const char *reason, size_t reason_len, void *user);
};

/* Options for wsjwt_client_new. Strings and arrays are copied. */
struct wsjwt_client_opts {
    const char *url;                    /* required: ws://host[:port][/path][?query]; hosts may be
                                           names, IPv4 or [IPv6]; wss:// for TLS */
    const char *token;                  /* NULL: none */
    enum wsjwt_token_place token_place; /* WSJWT_TOKEN_IN_NONE with a token means HEADER */
    const char *token_name;             /* header or query name; NULL: "token" */
    const char *origin;                 /* Origin header, or NULL */
    const char *const *protocols;       /* subprotocols offered (after access_token, <token>) */
    size_t n_protocols;
    const struct wsjwt_client_header *headers; /* extra request headers (any lengths) */
    size_t n_headers;
    const char *bind_address;    /* local source address (numeric), or NULL */
    size_t max_message;          /* 0: 1 MiB (as the server) */
    size_t max_response_head;    /* 0: 8 KiB */
    size_t max_send_queue;       /* 0: 4 MiB; past it send returns WSJWT_EBACKPRESSURE */
    uint64_t connect_timeout_ms; /* resolve + connect + upgrade; 0: 10 s */
    uint64_t close_timeout_ms;   /* wait for the server's close after ours; 0: 5 s */
    int bench_raw_echo;          /* BENCHMARKS ONLY, never for a real server: the peer is a
                                    byte echo (bench/raw_echo, the loopback floor). The
                                    request carries RFC 6455's sample key (the echo's fixed
                                    Accept matches) and frames that come back masked are
                                    required, not refused. */
    int deflate;                 /* offer permessage-deflate (RFC 7692): 1 as browsers do
                                    ("permessage-deflate; client_max_window_bits"), 2 also
                                    asking for no context takeover both ways; 0: no offer.
                                    An answer we did not offer room for fails the upgrade
                                    with WSJWT_EHTTP_EXTENSION. */
    size_t deflate_threshold;    /* messages shorter than this go uncompressed; 0: all */
    struct wsjwt_client_callbacks cb;
    void *user;
    /* wss:// only: the TLS context (trust store, --insecure, client
     * certificate), shared; the client takes a reference. NULL: verify the
     * server against the system's trust store. Verification failures are
     * reported through on_error as WSJWT_ETLS_VERIFY (wsjwt_client_tls_error
     * says why), other TLS failures as WSJWT_ETLS. */
    struct wsjwt_tls_client *tls;
    /* BENCHMARKS ONLY, with bench_raw_echo: a whole data message that comes
     * back in one frame (FIN, no RSV bit, text or binary, masked, minimal
     * length) is handed over still masked, with its key, instead of through
     * on_message: `data` XOR `mask` (mask[i % 4] for byte i) is the payload.
     * The caller must compare it with what it sent, in one pass where
     * unmasking then comparing would be two. Other frames go the usual way.
     * NULL: on_message for everything. */
    void (*bench_on_masked)(struct wsjwt_client *c, int binary, const uint8_t *data, size_t len,
                            const uint8_t mask[4], void *user);
};

/* Parsed parts of a ws:// URL. Views into `url`: host without brackets. */
struct wsjwt_url {
    int tls; /* wss:// */
    const char *host;
    size_t host_len;
    uint16_t port;
    const char *target; /* path and query ("/" when the URL has none) */
    size_t target_len;
    int host_is_ipv6;
};

/* Parses ws:// and wss:// URLs (scheme case-insensitive). Refuses userinfo,
 * fragments, empty hosts, bad ports and control or space characters:
 * WSJWT_EINVAL. */
WSJWT_API int wsjwt_url_parse(const char *url, size_t len, struct wsjwt_url *out);

/* Allocates a client on `loop` (nothing happens on the network yet).
 * Returns 0, WSJWT_EINVAL (bad URL or options), WSJWT_ETLS (wss:// without
 * opts.tls and the system trust store cannot be loaded), WSJWT_ENOMEM. */
WSJWT_API int wsjwt_client_new(uv_loop_t *loop, const struct wsjwt_client_opts *opts,
                               struct wsjwt_client **out);

/* Starts: name resolution (IPv4 and IPv6; every address tried in turn), TCP
 * connect, upgrade. Failures later are reported through on_error with
 * WSJWT_ERESOLVE, WSJWT_ECONNECT, WSJWT_ETIMEDOUT, WSJWT_EIO, the upgrade
 * errors above, or WSJWT_ECLOSED (the connection ended without a close frame).
 * Returns 0, or WSJWT_ESTATE (already started), WSJWT_ECRYPTO, WSJWT_EIO: then
 * no callback runs. */
WSJWT_API int wsjwt_client_connect(struct wsjwt_client *c);

/* Ends the current connection at once, as wsjwt_client_free() would (a TCP
 * reset, no callback for it), and starts a new one with the same options as
 * wsjwt_client_connect() does, with a fresh Sec-WebSocket-Key: for clients
 * that connect again and again (load generators), the memory of the first
 * connection is reused and the request is not built again. Name resolution
 * is not repeated: the addresses the first connect found are tried again.
 * Allowed once the client has connected (or is connecting) and before
 * on_close, also from inside its callbacks (on_open, on_error, ...): the
 * callbacks that follow are the new connection's. Returns 0, WSJWT_ESTATE
 * (never connected, still resolving, freed, or shut: after on_error's
 * return or on_close), or the errors of wsjwt_client_connect(); on an error
 * other than WSJWT_ESTATE no callback runs any more: free the client. */
WSJWT_API int wsjwt_client_restart(struct wsjwt_client *c);

/* Runs `loop` as uv_run(loop, UV_RUN_DEFAULT) does, for loops that are
 * mostly client sockets (load generators): it waits on the clients' sockets
 * directly and gives libuv a turn (uv_run with UV_RUN_NOWAIT) only when
 * libuv's own handles have events or a timer is due. Every libuv handle and
 * request on the loop works as under uv_run. Returns when no client socket
 * is open and the loop has nothing left (uv_loop_alive() is 0), or after
 * uv_stop(). `on_turn` (may be NULL) is called once per loop turn, after
 * that turn's callbacks. Not reentrant: never from a callback of the same
 * loop, nor while uv_run runs it. Returns 0, WSJWT_EINVAL (no loop),
 * WSJWT_ENOMEM, WSJWT_EIO (epoll failed). */
WSJWT_API int wsjwt_client_run(uv_loop_t *loop, void (*on_turn)(void *arg), void *arg);

/* wsjwt_client_run, with a loop turn (and `on_turn`) at least every
 * `max_wait_us` microseconds even when nothing happened (0: no bound): for
 * open-loop load generators that send what is due from `on_turn`, where a
 * timer per tick would cost a turn of libuv's of its own. The wait is
 * bounded with epoll_pwait2 (Linux 5.11; earlier kernels wait whole
 * milliseconds). Returns as wsjwt_client_run; WSJWT_EINVAL also for a
 * bound of 2^63 nanoseconds or more. */
WSJWT_API int wsjwt_client_run_every(uv_loop_t *loop, uint64_t max_wait_us, void (*on_turn)(void *arg),
                                     void *arg);

/* Sends one message (binary != 0: binary, else text; text is not checked
 * here, the server will). The data is copied. Returns 0, WSJWT_ESTATE (not
 * open, or closing), WSJWT_EBACKPRESSURE (queue over max_send_queue: nothing
 * was queued), WSJWT_ENOMEM. */
WSJWT_API int wsjwt_client_send(struct wsjwt_client *c, int binary, const void *data, size_t len);

/* BENCHMARKS ONLY (wsjwt bench): sends one binary message whose bytes on
 * the wire are `wire` as given. The frame is masked with a fresh key from
 * the CSPRNG like every other (RFC 6455 5.3), so the payload the server
 * unmasks is wire XOR key (key[i % 4] for byte i); the key is written to
 * `key`, for checking the echo. A load generator that sends the same bytes
 * again and again saves the masking pass over every payload (and, from
 * 16 KiB, the copy: the kernel takes the bytes from `wire`), while the
 * server still sees a fresh key and a different payload each time. Never
 * for application data: the point of masking is that the caller does NOT
 * choose the bytes on the wire. Not compressed, even with
 * permessage-deflate. `wire` must stay valid and unchanged until the frame
 * is written or queued: when the call returns, or, when sent from one of
 * c's callbacks or between wsjwt_client_cork() and uncork, when that
 * callback returns or at the uncork. Returns as wsjwt_client_send, and
 * WSJWT_EINVAL for a NULL key. */
WSJWT_API int wsjwt_client_bench_send_wire(struct wsjwt_client *c, const void *wire, size_t len,
                                           uint8_t key[4]);

/* Holds what is sent on `c` until the matching wsjwt_client_uncork(), which
 * writes it all in one write, as frames sent from inside c's own callbacks
 * go: for an application that sends several messages on one client from
 * elsewhere (another client's callback, a timer) in one loop turn. Pairs
 * nest. A client freed while corked is released at its last uncork (until
 * then its memory stays, and only wsjwt_client_uncork may be called on
 * it). NULL is ignored. */
WSJWT_API void wsjwt_client_cork(struct wsjwt_client *c);
WSJWT_API void wsjwt_client_uncork(struct wsjwt_client *c);

/* Sends a ping (at most 125 bytes: WSJWT_EINVAL beyond). */
WSJWT_API int wsjwt_client_ping(struct wsjwt_client *c, const void *data, size_t len);

/* Starts the close handshake: sends a close frame with `code` (0: none; else
 * 1000-1003, 1007-1014 or 3000-4999) and `reason` (at most 123 bytes, UTF-8),
 * then waits for the server's close; on_close follows. WSJWT_EINVAL for a bad
 * code or reason, WSJWT_ESTATE when not open. */
WSJWT_API int wsjwt_client_close(struct wsjwt_client *c, int code, const char *reason);

/* Releases the client (NULL is fine). Aborts an open connection without a
 * close handshake (with a TCP reset); no callback runs afterwards. */
WSJWT_API void wsjwt_client_free(struct wsjwt_client *c);

/* The selected subprotocol (NULL if none), the number of bytes queued for
 * sending, and the user pointer. */
WSJWT_API const char *wsjwt_client_protocol(const struct wsjwt_client *c);
WSJWT_API size_t wsjwt_client_queued(const struct wsjwt_client *c);
WSJWT_API void *wsjwt_client_user(const struct wsjwt_client *c);

/* The operating system's error behind the last WSJWT_ECONNECT, WSJWT_ERESOLVE
 * or WSJWT_EIO (a negative libuv code, for uv_strerror()), or 0. */
WSJWT_API int wsjwt_client_os_error(const struct wsjwt_client *c);

/* Why TLS failed (after on_error with WSJWT_ETLS or WSJWT_ETLS_VERIFY):
 * "certificate has expired", "hostname mismatch", "unable to get local
 * issuer certificate", ... written into buf (empty when TLS did not fail);
 * returns buf. */
WSJWT_API const char *wsjwt_client_tls_error(const struct wsjwt_client *c, char *buf, size_t size);

/* A response header by name (case-insensitive), or NULL. */
WSJWT_API const struct wsjwt_client_header *
wsjwt_client_response_header(const struct wsjwt_client_response *r, const char *name);

#ifdef __cplusplus
}
#endif

#endif
