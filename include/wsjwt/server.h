/* wsjwt server: a JWT-authenticated WebSocket server on libuv.
 *
 * The flow of one connection (see DESIGN.md "How a connection flows"):
 *   accept -> request head (400/405/426/431) -> Origin allow-list (403)
 *   -> token from the configured sources (401 when missing) -> wsjwt_jwt_verify
 *   (401) -> the application's on_upgrade (accept, refuse, or defer) -> 101
 *   -> on_open -> on_message ... -> on_close.
 *
 * Threads: the server runs `threads` event loops, one per thread, each with
 * its own SO_REUSEPORT listener; a connection belongs to the loop that
 * accepted it for its whole life. Every callback for a connection runs on its
 * loop's thread, and every wsjwt_conn_* function must be called on that
 * thread (normally from inside a callback). The only functions callable from
 * any thread are wsjwt_server_stop(), wsjwt_server_set_keyset() and
 * wsjwt_server_stats().
 *
 * Objects:
 *   struct wsjwt_server   the server: listeners, loops, keys, statistics.
 *   struct wsjwt_conn     one connection, from accept to close. Valid from
 *                         on_upgrade until on_close returns (or, for a
 *                         connection never opened and never deferred, until
 *                         on_upgrade returns).
 */
#ifndef WSJWT_SERVER_H
#define WSJWT_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "jwt.h"
#include "tls.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wsjwt_server;
struct wsjwt_conn;

/* Where the server looks for the token, tried in this order. */
enum wsjwt_token_source {
    WSJWT_TOKEN_FROM_HEADER = 1 << 0,      /* a header, "token" by default (the tutorial's) */
    WSJWT_TOKEN_FROM_BEARER = 1 << 1,      /* Authorization: Bearer <token> */
    WSJWT_TOKEN_FROM_SUBPROTOCOL = 1 << 2, /* Sec-WebSocket-Protocol: access_token, <token> (browsers) */
    WSJWT_TOKEN_FROM_QUERY = 1 << 3,       /* ?<token_query>=<token>; opt-in */
    WSJWT_TOKEN_FROM_COOKIE = 1 << 4       /* Cookie <token_cookie>=<token>; opt-in, needs origins */
};
#define WSJWT_TOKEN_DEFAULT_SOURCES                                                                          \
    (WSJWT_TOKEN_FROM_HEADER | WSJWT_TOKEN_FROM_BEARER | WSJWT_TOKEN_FROM_SUBPROTOCOL)

/* What on_upgrade returns besides an HTTP status (400..599) to refuse. */
#define WSJWT_UPGRADE_ACCEPT 0
#define WSJWT_UPGRADE_DEFER  1

/* Defaults for the limits of struct wsjwt_server_config (0 selects these). */
#define WSJWT_SERVER_DEFAULT_PORT                 8080
#define WSJWT_SERVER_DEFAULT_MAX_HEAD             8192
#define WSJWT_SERVER_DEFAULT_MAX_HEADERS          64
#define WSJWT_SERVER_DEFAULT_MAX_MESSAGE          (1024 * 1024)
#define WSJWT_SERVER_DEFAULT_MAX_FRAGMENTS        1024
#define WSJWT_SERVER_DEFAULT_MAX_BACKPRESSURE     (4 * 1024 * 1024)
#define WSJWT_SERVER_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define WSJWT_SERVER_DEFAULT_IDLE_TIMEOUT_MS      120000
#define WSJWT_SERVER_DEFAULT_PING_INTERVAL_MS     30000
#define WSJWT_SERVER_DEFAULT_CLOSE_TIMEOUT_MS     5000
#define WSJWT_SERVER_DEFAULT_SHUTDOWN_TIMEOUT_MS  10000

/* permessage-deflate (RFC 7692; docs/deflate.md has the memory each costs). */
enum wsjwt_deflate_mode {
    WSJWT_DEFLATE_DEFAULT = 0, /* WSJWT_DEFLATE_SHARED: compression for every browser, at no
                                  per-connection memory */
    WSJWT_DEFLATE_OFF,         /* never negotiated; RSV1 is a protocol error (1002) */
    WSJWT_DEFLATE_SHARED,      /* one compressor and one decompressor per loop, shared by every
                                  connection: no context takeover either way */
    WSJWT_DEFLATE_DEDICATED    /* zlib streams per connection with deflate_window_bits, context
                                  takeover allowed: better ratios, ~100-300 KB per connection */
};
/* Messages shorter than this are sent uncompressed (Node ws's default too):
 * below it the frame saves little and costs a deflate call. */
#define WSJWT_SERVER_DEFAULT_DEFLATE_THRESHOLD 1024

/* Log levels for wsjwt_server_config.log_level. Lines are logfmt on stderr. */
enum wsjwt_log_level {
    WSJWT_LOG_DEFAULT = 0, /* info */
    WSJWT_LOG_ERROR,
    WSJWT_LOG_WARN,
    WSJWT_LOG_INFO,
    WSJWT_LOG_DEBUG,
    WSJWT_LOG_OFF
};

/* ---- callbacks -------------------------------------------------------------- */

/* A verified upgrade request. `jwt` is the verified token (NULL with
 * insecure_no_auth); it belongs to the connection (see wsjwt_conn_jwt).
 * Return WSJWT_UPGRADE_ACCEPT, an HTTP status 400..599 to refuse (the peer
 * gets that status and the connection closes), or WSJWT_UPGRADE_DEFER and
 * call wsjwt_conn_answer() later on the loop thread. The request getters
 * (wsjwt_conn_header, wsjwt_conn_path, ...) are valid only during this
 * callback. */
typedef int (*wsjwt_upgrade_cb)(struct wsjwt_conn *conn, const struct wsjwt_jwt *jwt, void *user);

/* The connection is open (the 101 is queued). */
typedef void (*wsjwt_open_cb)(struct wsjwt_conn *conn, void *user);

/* A complete message. `data` lives until the callback returns (it points into
 * the loop's receive buffer); text messages are valid UTF-8. */
typedef void (*wsjwt_message_cb)(struct wsjwt_conn *conn, const void *data, size_t len, int binary,
                                 void *user);

/* The send queue drained after a send returned WSJWT_EBACKPRESSURE. */
typedef void (*wsjwt_drain_cb)(struct wsjwt_conn *conn, void *user);

/* The connection is gone. `code` is the close code the peer sent or that the
 * server sent (1006 when the TCP connection ended without a close handshake);
 * `reason` is NUL-terminated. The connection handle is invalid once this
 * returns. Called for every connection that was opened or deferred. */
typedef void (*wsjwt_close_cb)(struct wsjwt_conn *conn, int code, const char *reason, void *user);

/* Wall clock in seconds since the epoch (injected for tests). */
typedef int64_t (*wsjwt_clock_cb)(void *user);

/* ---- configuration -------------------------------------------------------- */

/* Zero-initialise, then set what you need. Strings and arrays are copied by
 * wsjwt_server_new. */
struct wsjwt_server_config {
    const char *host; /* listen address; NULL: "0.0.0.0" */
    int port;         /* 0: an ephemeral port (see wsjwt_server_port) */
    unsigned threads; /* event loops; 0: the number of cores */

    /* Authentication. The server takes a reference on `keys`; `policy` must
     * outlive the server. Both NULL only when insecure_no_auth is set. */
    const struct wsjwt_policy *policy;
    struct wsjwt_keyset *keys;
    int insecure_no_auth;   /* accept connections without a token */
    int expose_auth_errors; /* tell the peer why its token was refused */
    int keep_expired_open;  /* do not close connections whose token's exp passes */
    int64_t expiry_leeway;  /* seconds past exp before an open connection is closed with
                               1008: give the policy's leeway, so that a token accepted
                               with that leeway is not closed at once */

    unsigned token_sources;     /* WSJWT_TOKEN_* bits; 0: WSJWT_TOKEN_DEFAULT_SOURCES */
    const char *token_header;   /* NULL: "token" */
    const char *token_query;    /* parameter name for WSJWT_TOKEN_FROM_QUERY; NULL: "access_token" */
    const char *token_cookie;   /* cookie name for WSJWT_TOKEN_FROM_COOKIE; required with it */
    const char *const *origins; /* exact Origin values allowed; none: any Origin */
    size_t n_origins;

    /* Limits; 0 selects the WSJWT_SERVER_DEFAULT_* value. */
    size_t max_head;
    size_t max_headers;
    size_t max_message;
    size_t max_fragments;
    size_t max_backpressure;
    uint32_t handshake_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t ping_interval_ms;
    uint32_t close_timeout_ms;
    uint32_t shutdown_timeout_ms;

    /* Keep the verified token object for the connection's whole life, for
     * wsjwt_conn_jwt after on_open. Off: it is freed after on_open returns and
     * the connection keeps only its subject and expiry (a few bytes). */
    int keep_jwt;

    enum wsjwt_log_level log_level;

    /* permessage-deflate: the mode, the window of DEDICATED (9..15; 0: 15) and
     * the size below which messages go uncompressed (0: the default). Inflated
     * messages are capped by max_message (1009 past it, checked while
     * inflating). */
    enum wsjwt_deflate_mode deflate;
    unsigned deflate_window_bits;
    size_t deflate_threshold;

    /* TLS (wss://, see docs/tls.md): with at least one certificate every
     * connection of this server is TLS. The first pair is the default; SNI
     * selects another whose certificate names the host the client asked for.
     * File names are copied (wsjwt_server_reload_tls reads them again). */
    const struct wsjwt_tls_cert *tls_certs;
    size_t n_tls_certs;
    /* Client certificates (mutual TLS): a PEM file of CAs. When set, every
     * client must present a certificate for client authentication that
     * chains to one of them, or the TLS handshake fails (nothing reaches the
     * upgrade). NULL: none is asked for. Copied; reloaded with the
     * certificates. */
    const char *tls_client_ca;

    wsjwt_upgrade_cb on_upgrade; /* NULL: accept every verified token */
    wsjwt_open_cb on_open;
    wsjwt_message_cb on_message;
    wsjwt_drain_cb on_drain;
    wsjwt_close_cb on_close;
    wsjwt_clock_cb clock; /* NULL: time() */
    void *user;           /* passed to every callback */
};

/* Counters, summed over the loops. */
struct wsjwt_server_stats {
    uint64_t accepted;        /* TCP connections accepted */
    uint64_t upgraded;        /* 101 sent */
    uint64_t refused;         /* upgrade refused (any status) */
    uint64_t open;            /* connections currently open (upgraded, not yet closed) */
    uint64_t messages_in;     /* messages received */
    uint64_t messages_out;    /* messages queued for sending */
    uint64_t backpressure;    /* sends refused with WSJWT_EBACKPRESSURE */
    uint64_t expired;         /* closed with 1008 because the token expired */
    uint64_t protocol_errors; /* closed for a protocol error */
    uint64_t accept_errors;   /* accept() failures (EMFILE, ...) */
};

/* ---- server lifecycle --------------------------------------------------------- */

/* Validates the configuration, binds and listens (every loop's listener), but
 * runs nothing yet. Errors: WSJWT_EINVAL (bad configuration: no keys without
 * insecure_no_auth, cookie source without origins, ...), WSJWT_EIO (bind or
 * listen failed; errno is kept), WSJWT_ENOMEM. */
WSJWT_API int wsjwt_server_new(const struct wsjwt_server_config *cfg, struct wsjwt_server **out);

/* The bound port (useful with port 0). */
WSJWT_API int wsjwt_server_port(const struct wsjwt_server *srv);

/* Starts the loop threads and returns. WSJWT_ESTATE when already started. */
WSJWT_API int wsjwt_server_start(struct wsjwt_server *srv);

/* Blocks until every loop has stopped (after wsjwt_server_stop). */
WSJWT_API int wsjwt_server_wait(struct wsjwt_server *srv);

/* Graceful stop, from any thread (not from a signal handler): stop accepting,
 * close every open connection with 1001, and end the loops when they are all
 * gone or after shutdown_timeout_ms. Idempotent. */
WSJWT_API void wsjwt_server_stop(struct wsjwt_server *srv);

/* Swaps the key set, from any thread: new upgrades verify with `keys`;
 * verifications in flight finish with the old set. Takes a reference. */
WSJWT_API void wsjwt_server_set_keyset(struct wsjwt_server *srv, struct wsjwt_keyset *keys);

/* Reloads the TLS certificates, keys and client CAs from their files, from any thread:
 * new connections use the new ones, open connections keep theirs. On
 * failure the old ones stay and err (when errlen > 0) says why. Returns 0,
 * WSJWT_ESTATE (the server has no TLS), WSJWT_ETLS, WSJWT_ENOMEM. */
WSJWT_API int wsjwt_server_reload_tls(struct wsjwt_server *srv, char *err, size_t errlen);

/* Current counters (from any thread; approximate while loops run). */
WSJWT_API void wsjwt_server_stats(struct wsjwt_server *srv, struct wsjwt_server_stats *out);

/* Frees a server that is stopped (or never started). NULL is fine. */
WSJWT_API void wsjwt_server_free(struct wsjwt_server *srv);

/* Writes one logfmt line on stderr the way the server writes its own:
 * `ts=<UTC, ms> level=<level> event=<event> ` followed by fmt's output
 * (key=value pairs; escape values a peer controls). Skipped below the
 * server's log_level (srv NULL: the default, info). Never blocks: when
 * stderr cannot take the line it is dropped, counted and reported in an
 * `event=log_dropped` line later. Any thread. Lines are cut at 1 KiB. */
WSJWT_API void wsjwt_server_log(const struct wsjwt_server *srv, enum wsjwt_log_level level, const char *event,
                                const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ---- connections ------------------------------------------------------------- */

/* Queues a message (corked: written once per connection per loop turn).
 * Returns 0, WSJWT_ESTATE when the connection is not open (closing or
 * closed), or WSJWT_EBACKPRESSURE when the
 * send queue already holds max_backpressure bytes: the message is NOT queued,
 * and on_drain is called once the queue empties. */
WSJWT_API int wsjwt_conn_send(struct wsjwt_conn *conn, const void *data, size_t len, int binary);

/* Sends a ping (payload at most 125 bytes). */
WSJWT_API int wsjwt_conn_ping(struct wsjwt_conn *conn, const void *data, size_t len);

/* Starts the close handshake: sends a close frame with `code` (1000..4999 as
 * RFC 6455 7.4 allows) and `reason` (at most 123 bytes, may be NULL). The TCP
 * connection ends when the peer answers or after close_timeout_ms. on_close
 * follows. Safe to call from inside any callback; repeated calls are no-ops. */
WSJWT_API int wsjwt_conn_close(struct wsjwt_conn *conn, int code, const char *reason);

/* Answers a deferred upgrade: status WSJWT_UPGRADE_ACCEPT opens the
 * connection (on_open follows), 400..599 refuses it. WSJWT_ESTATE when the
 * connection is not waiting for an answer. */
WSJWT_API int wsjwt_conn_answer(struct wsjwt_conn *conn, int status);

/* 1 when the connection is TLS (wss://), else 0. */
WSJWT_API int wsjwt_conn_is_tls(const struct wsjwt_conn *conn);

/* The host name the TLS client asked for (SNI), or NULL (plain, or none
 * sent). Valid while the connection is. */
WSJWT_API const char *wsjwt_conn_tls_servername(const struct wsjwt_conn *conn);

/* Per-connection application data. */
WSJWT_API void wsjwt_conn_set_user(struct wsjwt_conn *conn, void *user);
WSJWT_API void *wsjwt_conn_user(const struct wsjwt_conn *conn);

/* The verified token: during on_upgrade and on_open always, afterwards only
 * with keep_jwt. NULL otherwise and with insecure_no_auth. */
WSJWT_API const struct wsjwt_jwt *wsjwt_conn_jwt(const struct wsjwt_conn *conn);

/* The token's subject ("" when it has none) and expiry (0 when none). Kept
 * for the connection's whole life. */
WSJWT_API const char *wsjwt_conn_sub(const struct wsjwt_conn *conn);
WSJWT_API int64_t wsjwt_conn_exp(const struct wsjwt_conn *conn);

/* The peer's address as text ("127.0.0.1:52314") written into buf; returns
 * buf. */
WSJWT_API const char *wsjwt_conn_peer(const struct wsjwt_conn *conn, char *buf, size_t size);

/* Request getters, valid during on_upgrade only. A header's value (first
 * occurrence, name case-insensitive): 0 or WSJWT_ENOENT. */
WSJWT_API int wsjwt_conn_header(const struct wsjwt_conn *conn, const char *name, const char **value,
                                size_t *len);
WSJWT_API int wsjwt_conn_path(const struct wsjwt_conn *conn, const char **path, size_t *len);
/* Selects the subprotocol the 101 answers with (during on_upgrade; it is
 * kept for a deferred answer). `name` must be one the client offered in
 * Sec-WebSocket-Protocol, compared exactly, at most 128 bytes. Without a
 * selection the 101 carries "access_token" when the token came as a
 * subprotocol, and no subprotocol otherwise. Returns 0, WSJWT_ENOENT (not
 * offered), WSJWT_EINVAL, or WSJWT_ESTATE outside on_upgrade. */
WSJWT_API int wsjwt_conn_select_protocol(struct wsjwt_conn *conn, const char *name);

/* The query string after '?' (without it), raw (not percent-decoded); 0, or
 * WSJWT_ENOENT when the target has none. */
WSJWT_API int wsjwt_conn_query(const struct wsjwt_conn *conn, const char **query, size_t *len);

/* ---- broadcast ------------------------------------------------------------------ */

/* Sends one message to every open connection of the server except `except`
 * (may be NULL), on every loop: the frame is serialised once and shared by
 * all receivers. A receiver whose send queue is over its cap is closed with
 * 1013 (counted in stats.backpressure): nothing is dropped silently. Other
 * loops receive the frame on their next turn. Call on a loop thread.
 * Returns 0, WSJWT_ETOOBIG over max_message, WSJWT_ENOMEM. */
WSJWT_API int wsjwt_server_broadcast(struct wsjwt_server *srv, struct wsjwt_conn *except, const void *data,
                                     size_t len, int binary);

/* The server a connection belongs to. */
WSJWT_API struct wsjwt_server *wsjwt_conn_server(const struct wsjwt_conn *conn);

#ifdef __cplusplus
}
#endif

#endif
