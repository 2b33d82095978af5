/* The TLS engine: OpenSSL over memory, never over a socket.
 *
 * The shell reads ciphertext from the socket itself and lends it to the
 * engine (wsjwt__tls_feed); OpenSSL pulls from that view through a custom
 * BIO, and writes its records into the engine's send queue (`out`), which
 * the shell writes to the socket. So OpenSSL needs no per-connection BIO
 * buffers, and the loop's shared receive buffer is used as in plain ws://.
 *
 *   feed(ciphertext) -> handshake() / read(plaintext) -> stash()
 *   write(plaintext) -> out holds records -> the shell sends and consumes
 *
 * Memory per connection: the SSL object (measured in tests/unit/test_tls.c
 * and docs/tls.md) plus this struct; OpenSSL's record buffers are released
 * between records (SSL_MODE_RELEASE_BUFFERS) unless the shell keeps them for
 * a busy connection (wsjwt__tls_keep_buffers), `out` is allocated only while
 * it holds bytes the socket did not take, `keep` only while a record is split
 * across reads and the shell stopped early. */
#ifndef WSJWT_NET_TLS_H
#define WSJWT_NET_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <wsjwt/tls.h>

#include "net/net.h"

typedef struct ssl_st SSL;

/* A context: one SSL_CTX per certificate (the first is the default; SNI picks
 * another whose certificate names the requested host), or a client's trust
 * settings. Reference-counted: every engine holds one, so a context swapped
 * out by a reload lives until its last connection ends. */
struct wsjwt__tls_ctx;

/* A server context from cert/key pairs (n >= 1). With client_ca (a PEM file
 * of CAs), every client must present a certificate for client
 * authentication that chains to one of them, or the handshake fails; NULL:
 * no client certificate is asked for. err gets a message naming the file on
 * failure. WSJWT_EINVAL (n == 0 or a NULL name), WSJWT_ETLS, WSJWT_ENOMEM. */
int wsjwt__tls_ctx_server_new_ca(const struct wsjwt_tls_cert *certs, size_t n, const char *client_ca,
                                 struct wsjwt__tls_ctx **out, char *err, size_t errlen);

static inline int wsjwt__tls_ctx_server_new(const struct wsjwt_tls_cert *certs, size_t n,
                                            struct wsjwt__tls_ctx **out, char *err, size_t errlen)
{
    return wsjwt__tls_ctx_server_new_ca(certs, n, NULL, out, err, errlen);
}

/* A client context (see struct wsjwt_tls_client_opts). */
int wsjwt__tls_ctx_client_new(const struct wsjwt_tls_client_opts *o, struct wsjwt__tls_ctx **out, char *err,
                              size_t errlen);

void wsjwt__tls_ctx_ref(struct wsjwt__tls_ctx *ctx);
void wsjwt__tls_ctx_unref(struct wsjwt__tls_ctx *ctx); /* NULL is fine */
int wsjwt__tls_ctx_insecure(const struct wsjwt__tls_ctx *ctx);

/* One connection's TLS state (caller memory; it must not move while
 * initialised: the BIO points at it). */
struct wsjwt__tls {
    SSL *ssl;
    struct wsjwt__tls_ctx *ctx;
    const uint8_t *in; /* ciphertext lent by feed, not yet pulled by OpenSSL */
    size_t in_len;
    uint8_t *keep; /* stashed ciphertext (see stash) */
    size_t keep_len;
    struct wsjwt__outq out; /* records to send */
    unsigned long err;      /* OpenSSL's error code of the failure, for wsjwt__tls_error */
    size_t (*sink)(void *user, const uint8_t *p, size_t len); /* see wsjwt__tls_set_sink */
    void *sink_user;
    struct wsjwt__tls_rl *rl; /* the record layer after a TLS 1.3 handshake (tls.c), or NULL */
    uint8_t done;             /* handshake complete */
    uint8_t failed;           /* WSJWT_ETLS or WSJWT_ETLS_VERIFY was returned */
    uint8_t keep_buffers;     /* see wsjwt__tls_keep_buffers */
    uint8_t busy;             /* the shell's count for its keep_buffers policy */
};

/* Starts a connection on ctx (takes a reference). For a client, host is
 * the name to send as SNI and to verify the certificate against (an IP
 * literal is verified as an address and not sent as SNI); NULL for a server.
 * WSJWT_ENOMEM, WSJWT_ETLS. */
int wsjwt__tls_init(struct wsjwt__tls *t, struct wsjwt__tls_ctx *ctx, const char *host);

/* Records go to sink as OpenSSL makes them (the shell writes them to its
 * socket at once: no copy into `out`, no allocation); sink returns the
 * bytes it took (0..len), and what it did not take is queued in `out`, as
 * is every record while `out` holds bytes (order). Without a sink (the
 * default) every record is queued. sink may not call into the engine. */
void wsjwt__tls_set_sink(struct wsjwt__tls *t, size_t (*sink)(void *user, const uint8_t *p, size_t len),
                         void *user);

/* OpenSSL's record buffers (about 17 KB each way) are released after every
 * record by default, so that an idle connection holds none, at the price
 * of an allocation and a free per record each way. keep = 1 keeps them (a
 * busy connection); keep = 0 releases them now (or after the record in
 * progress) and per record again. */
void wsjwt__tls_keep_buffers(struct wsjwt__tls *t, int keep);

/* Called by the shell about once a second for every connection: after a
 * TLS 1.3 handshake, a connection that sealed and opened no record since
 * the previous call gives back its two cipher contexts (about 2.3 KB; see
 * wsjwt__tls13_rest), remade at its next record. So an idle connection
 * holds no cipher state, and a busy one is never touched. */
void wsjwt__tls_rest(struct wsjwt__tls *t);

/* For tests: how many of the record layer's two cipher contexts t holds. */
int wsjwt__tls_cipher_contexts(const struct wsjwt__tls *t);

/* Releases everything (safe on a zeroed or failed struct). */
void wsjwt__tls_free(struct wsjwt__tls *t);

/* Lends len bytes of ciphertext until the next stash(). Bytes kept by an
 * earlier stash() come first (they are appended to: WSJWT_ENOMEM). */
int wsjwt__tls_feed(struct wsjwt__tls *t, const uint8_t *p, size_t len);

/* Copies whatever the engine has not pulled from the lent bytes, so that the
 * caller's buffer can be reused. WSJWT_ENOMEM. */
int wsjwt__tls_stash(struct wsjwt__tls *t);

/* Drives the handshake with the input so far; handshake records to send
 * land in `out`. 0 once complete, WSJWT_EAGAIN for more input,
 * WSJWT_ETLS_VERIFY (the peer's certificate was refused), WSJWT_ETLS (any
 * other failure; an alert for the peer may be in `out`). */
int wsjwt__tls_handshake(struct wsjwt__tls *t);

/* Decrypts into buf (up to cap bytes): 0 and *n > 0, WSJWT_EAGAIN (needs more
 * input), WSJWT_ECLOSED (the peer sent close_notify), WSJWT_ETLS. May
 * queue records (a TLS 1.3 key update answer): send `out` afterwards. */
int wsjwt__tls_read(struct wsjwt__tls *t, uint8_t *buf, size_t cap, size_t *n);

/* Encrypts len bytes into `out` (all of them): 0, WSJWT_ETLS, WSJWT_ENOMEM. */
int wsjwt__tls_write(struct wsjwt__tls *t, const void *p, size_t len);

/* Queues a close_notify alert (best effort). */
void wsjwt__tls_close_notify(struct wsjwt__tls *t);

/* For tests and fuzzing: starts t (zeroed memory, no SSL object, no
 * context) with the record layer already on, as after a TLS 1.3 handshake
 * with suite (0x1301, 0x1302, 0x1303) and these application traffic
 * secrets; our write key moves on every rekey_after records (0: the
 * default, 2^24). Free with wsjwt__tls_free. 0, WSJWT_EINVAL, WSJWT_ENOMEM,
 * WSJWT_ETLS. */
int wsjwt__tls_rl_start(struct wsjwt__tls *t, int server, uint16_t suite, const uint8_t *read_secret,
                        const uint8_t *write_secret, uint64_t rekey_after);

/* Bytes in `out`. */
static inline size_t wsjwt__tls_out_size(const struct wsjwt__tls *t)
{
    return wsjwt__outq_size(&t->out);
}

/* Why the last failure happened, for logs and the CLI ("certificate has
 * expired", "hostname mismatch", "wrong version number", ...): written into
 * buf, which is returned. */
const char *wsjwt__tls_error(const struct wsjwt__tls *t, char *buf, size_t size);

/* After the handshake: "TLSv1.3", the cipher name, the SNI name the client
 * sent (NULL if none). Views owned by OpenSSL, valid while t is. */
const char *wsjwt__tls_version(const struct wsjwt__tls *t);
const char *wsjwt__tls_cipher(const struct wsjwt__tls *t);
const char *wsjwt__tls_servername(const struct wsjwt__tls *t);

#endif
