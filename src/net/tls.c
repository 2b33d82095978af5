/* The TLS engine (see tls.h): OpenSSL 3 over a custom BIO whose read side is
 * a view of the caller's ciphertext and whose write side is the engine's
 * send queue. */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <wsjwt/error.h>

#include "net/tls.h"

/* TLS 1.2 suites: ECDHE for forward secrecy, AEAD only (the "intermediate"
 * profile that every maintained client supports); TLS 1.3 suites are all
 * AEAD and OpenSSL's default order is kept. */
#define TLS12_CIPHERS                                                                                        \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"               \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* TLS 1.3: AES-128-GCM first (about a third cheaper than AES-256 with
 * AES-NI, and 128-bit security is the TLS 1.3 baseline), chosen by the
 * server; ChaCha20 still wins for clients that put it first (phones without
 * AES instructions: SSL_OP_PRIORITIZE_CHACHA). */
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"

/* RFC 7301 wire format: one length-prefixed name. */
static const unsigned char ALPN_HTTP11[] = "\x08http/1.1";
#define ALPN_HTTP11_LEN 9u

struct wsjwt__tls_ctx {
    atomic_int refs;
    int server;
    int insecure;
    int verify_client; /* server: a client certificate is required and verified */
    BIO_METHOD *bio;
    size_t n;       /* server: one SSL_CTX per certificate; client: 1 */
    SSL_CTX *ctx[]; /* ctx[0]: the default */
};

/* ---- the BIO ---------------------------------------------------------------- */

/* A record (or several): to the sink first when nothing is queued before
 * it, the rest to `out`. Either way all of it is taken: records are never
 * half-written from OpenSSL's point of view. */
static int bio_write(BIO *b, const char *data, int len)
{
    struct wsjwt__tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    size_t took = 0;
    if (t->sink && wsjwt__outq_size(&t->out) == 0)
        took = t->sink(t->sink_user, (const uint8_t *)data, (size_t)len);
    if (took < (size_t)len && wsjwt__outq_append(&t->out, data + took, (size_t)len - took, NULL, 0) != 0)
        return -1;
    return len;
}

static int bio_read(BIO *b, char *buf, int len)
{
    struct wsjwt__tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (t->in_len == 0) {
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = t->in_len < (size_t)len ? t->in_len : (size_t)len;
    memcpy(buf, t->in, n);
    t->in += n;
    t->in_len -= n;
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    /* Records are complete when written: a flush has nothing to do. */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *bio_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsjwt");
    if (!m)
        return NULL;
    if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* ---- contexts ------------------------------------------------------------------ */

/* err <- "what: OpenSSL's reason" */
static void set_err(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    if (errlen)
        snprintf(err, errlen, "%s%s%s%s%s", what, file ? " " : "", file ? file : "", e ? ": " : "", reason);
    ERR_clear_error();
}

static struct wsjwt__tls_ctx *ctx_alloc(size_t n, int server)
{
    struct wsjwt__tls_ctx *c = calloc(1, sizeof(*c) + n * sizeof(SSL_CTX *));
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->server = server;
    c->n = n;
    if (!(c->bio = bio_method())) {
        free(c);
        return NULL;
    }
    return c;
}

/* Settings both sides share. */
static int ctx_common(SSL_CTX *ctx)
{
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) || !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
        !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES))
        return 0;
    /* The record buffers (about 34 KB with both directions) are freed when
     * no record is in flight: idle connections keep only the SSL state. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* Renegotiation is a known CPU amplification (a client asks, the server
     * does the expensive side) and WebSockets never need it. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    /* Pull all the ciphertext available in one BIO call instead of a record
     * header and then its body: half the BIO round trips per record. */
    SSL_CTX_set_read_ahead(ctx, 1);
    return 1;
}

/* RFC 7301: a client that offers ALPN without http/1.1 would speak something
 * else (h2): refuse with no_application_protocol rather than guess. No ALPN
 * offered (Node's ws, curl --http1.1) is fine. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, ALPN_HTTP11, ALPN_HTTP11_LEN, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* SNI: the first certificate whose names match the requested host (by
 * X509_check_host: SAN DNS names, wildcards in the leftmost label); the
 * default otherwise, as browsers expect for an unknown name. */
static int sni_select(SSL *ssl, int *alert, void *arg)
{
    struct wsjwt__tls_ctx *c = arg;
    (void)alert;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name || c->n < 2)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < c->n; i++) {
        X509 *x = SSL_CTX_get0_certificate(c->ctx[i]);
        if (x && X509_check_host(x, name, 0, 0, NULL) == 1) {
            if (i > 0 && !SSL_set_SSL_CTX(ssl, c->ctx[i]))
                return SSL_TLSEXT_ERR_ALERT_FATAL;
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

/* Client authentication: the CertificateRequest names the CAs of client_ca
 * (so that a client holding several certificates picks the right one), and
 * the handshake fails without a certificate that chains to one of them.
 * OpenSSL checks the chain for the client purpose on a server (a
 * certificate whose extended key usage lacks clientAuth is refused). */
static int ctx_client_auth(SSL_CTX *ctx, const char *client_ca, char *err, size_t errlen)
{
    /* Resumed sessions keep the verified client identity; OpenSSL refuses
     * to resume under SSL_VERIFY_PEER without a session id context. */
    static const unsigned char SID_CTX[] = "wsjwt";
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
    if (!names || SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        set_err(err, errlen, "cannot load client CA file", client_ca);
        return 0;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if (!SSL_CTX_set_session_id_context(ctx, SID_CTX, sizeof(SID_CTX) - 1)) {
        set_err(err, errlen, "cannot set the session id context", NULL);
        return 0;
    }
    return 1;
}

int wsjwt__tls_ctx_server_new_ca(const struct wsjwt_tls_cert *certs, size_t n, const char *client_ca,
                                 struct wsjwt__tls_ctx **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (!certs || n == 0)
        return WSJWT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!certs[i].cert_file || !certs[i].key_file)
            return WSJWT_EINVAL;
    struct wsjwt__tls_ctx *c = ctx_alloc(n, 1);
    if (!c)
        return WSJWT_ENOMEM;
    c->verify_client = client_ca != NULL;
    ERR_clear_error();
    int rc = WSJWT_ETLS;
    for (size_t i = 0; i < n; i++) {
        SSL_CTX *ctx = c->ctx[i] = SSL_CTX_new(TLS_server_method());
        if (!ctx || !ctx_common(ctx)) {
            set_err(err, errlen, "cannot create a TLS context", NULL);
            goto fail;
        }
        /* Stateless TLS 1.3 tickets resume sessions without a server-side
         * cache: no memory grows with the number of clients. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        /* One ticket per handshake, not OpenSSL's two (meant for clients
         * that open parallel connections): a WebSocket client reconnects
         * one connection at a time, and each connection gets a fresh
         * ticket. Callgrind: 2 734 k -> 2 560 k instructions per TLS
         * handshake and authenticated upgrade on the server, and one
         * ticket less for the client to process. */
        SSL_CTX_set_num_tickets(ctx, 1);
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
        SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
        SSL_CTX_set_tlsext_servername_arg(ctx, c);
        if (SSL_CTX_use_certificate_chain_file(ctx, certs[i].cert_file) != 1) {
            set_err(err, errlen, "cannot load certificate", certs[i].cert_file);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, certs[i].key_file, SSL_FILETYPE_PEM) != 1) {
            set_err(err, errlen, "cannot load private key", certs[i].key_file);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            set_err(err, errlen, "private key does not match certificate", certs[i].cert_file);
            goto fail;
        }
        /* Every context: SNI may switch to any of them mid-handshake, and
         * the verification then uses the switched-to context's store. */
        if (client_ca && !ctx_client_auth(ctx, client_ca, err, errlen))
            goto fail;
    }
    *out = c;
    return 0;
fail:
    wsjwt__tls_ctx_unref(c);
    return rc;
}

int wsjwt__tls_ctx_client_new(const struct wsjwt_tls_client_opts *o, struct wsjwt__tls_ctx **out, char *err,
                              size_t errlen)
{
    static const struct wsjwt_tls_client_opts none;
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (!o)
        o = &none;
    if (!o->cert_file != !o->key_file) {
        if (errlen)
            snprintf(err, errlen, "a client certificate needs both a certificate and a key file");
        return WSJWT_EINVAL;
    }
    struct wsjwt__tls_ctx *c = ctx_alloc(1, 0);
    if (!c)
        return WSJWT_ENOMEM;
    ERR_clear_error();
    SSL_CTX *ctx = c->ctx[0] = SSL_CTX_new(TLS_client_method());
    if (!ctx || !ctx_common(ctx)) {
        set_err(err, errlen, "cannot create a TLS context", NULL);
        goto fail;
    }
    c->insecure = o->insecure != 0;
    SSL_CTX_set_verify(ctx, c->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (o->ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
            set_err(err, errlen, "cannot load CA file", o->ca_file);
            goto fail;
        }
    } else if (!c->insecure && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        set_err(err, errlen, "cannot load the system trust store", NULL);
        goto fail;
    }
    /* SSL_CTX_set_alpn_protos returns 0 on success. */
    if (SSL_CTX_set_alpn_protos(ctx, ALPN_HTTP11, ALPN_HTTP11_LEN) != 0) {
        set_err(err, errlen, "cannot set ALPN", NULL);
        goto fail;
    }
    if (o->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
            set_err(err, errlen, "cannot load client certificate", o->cert_file);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
            set_err(err, errlen, "cannot load client key", o->key_file);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            set_err(err, errlen, "client key does not match certificate", o->cert_file);
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    wsjwt__tls_ctx_unref(c);
    return WSJWT_ETLS;
}

void wsjwt__tls_ctx_ref(struct wsjwt__tls_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

void wsjwt__tls_ctx_unref(struct wsjwt__tls_ctx *ctx)
{
    if (!ctx || atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < ctx->n; i++)
        SSL_CTX_free(ctx->ctx[i]);
    BIO_meth_free(ctx->bio);
    free(ctx);
}

int wsjwt__tls_ctx_insecure(const struct wsjwt__tls_ctx *ctx)
{
    return ctx->insecure;
}

/* ---- public client context --------------------------------------------------------- */

int wsjwt_tls_client_new(const struct wsjwt_tls_client_opts *opts, struct wsjwt_tls_client **out, char *err,
                         size_t errlen)
{
    struct wsjwt__tls_ctx *c = NULL;
    int rc = wsjwt__tls_ctx_client_new(opts, &c, err, errlen);
    *out = (struct wsjwt_tls_client *)c;
    return rc;
}

void wsjwt_tls_client_free(struct wsjwt_tls_client *tls)
{
    wsjwt__tls_ctx_unref((struct wsjwt__tls_ctx *)tls);
}

/* ---- connections --------------------------------------------------------------------- */

static int is_ip_literal(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

int wsjwt__tls_init(struct wsjwt__tls *t, struct wsjwt__tls_ctx *ctx, const char *host)
{
    memset(t, 0, sizeof(*t));
    ERR_clear_error();
    BIO *bio = BIO_new(ctx->bio);
    if (!bio)
        return WSJWT_ENOMEM;
    BIO_set_data(bio, t);
    t->ssl = SSL_new(ctx->ctx[0]);
    if (!t->ssl) {
        BIO_free(bio);
        return WSJWT_ENOMEM;
    }
    /* One BIO for both directions: SSL_set_bio takes the one reference. */
    SSL_set_bio(t->ssl, bio, bio);
    wsjwt__tls_ctx_ref(ctx);
    t->ctx = ctx;
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
        return 0;
    }
    SSL_set_connect_state(t->ssl);
    if (host && *host) {
        if (is_ip_literal(host)) {
            /* RFC 6066 3: literal addresses are not sent as SNI; the
             * certificate must carry the address as an iPAddress SAN. */
            if (!ctx->insecure && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) != 1)
                goto fail;
        } else {
            if (!SSL_set_tlsext_host_name(t->ssl, host))
                goto fail;
            if (!ctx->insecure && SSL_set1_host(t->ssl, host) != 1)
                goto fail;
        }
    }
    return 0;
fail:
    t->err = ERR_peek_last_error();
    wsjwt__tls_free(t);
    return WSJWT_ETLS;
}

void wsjwt__tls_set_sink(struct wsjwt__tls *t, size_t (*sink)(void *user, const uint8_t *p, size_t len),
                         void *user)
{
    t->sink = sink;
    t->sink_user = user;
}

void wsjwt__tls_keep_buffers(struct wsjwt__tls *t, int keep)
{
    if (!t->ssl || !t->keep_buffers == !keep)
        return;
    t->keep_buffers = keep != 0;
    if (keep) {
        SSL_clear_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
    } else {
        SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
        /* Declines (0) while a record is partly read or written: the
         * mode then releases them after that record. */
        (void)SSL_free_buffers(t->ssl);
    }
}

void wsjwt__tls_free(struct wsjwt__tls *t)
{
    if (t->ssl)
        SSL_free(t->ssl); /* frees the BIO */
    t->ssl = NULL;
    wsjwt__tls_ctx_unref(t->ctx);
    t->ctx = NULL;
    free(t->keep);
    t->keep = NULL;
    t->keep_len = 0;
    t->in = NULL;
    t->in_len = 0;
    wsjwt__outq_free(&t->out);
}

int wsjwt__tls_feed(struct wsjwt__tls *t, const uint8_t *p, size_t len)
{
    if (t->keep_len == 0) {
        t->in = p;
        t->in_len = len;
        return 0;
    }
    if (len) {
        uint8_t *k = realloc(t->keep, t->keep_len + len);
        if (!k)
            return WSJWT_ENOMEM;
        memcpy(k + t->keep_len, p, len);
        t->keep = k;
        t->keep_len += len;
    }
    t->in = t->keep;
    t->in_len = t->keep_len;
    return 0;
}

int wsjwt__tls_stash(struct wsjwt__tls *t)
{
    if (t->in_len == 0) {
        free(t->keep);
        t->keep = NULL;
        t->keep_len = 0;
        t->in = NULL;
        return 0;
    }
    if (t->keep && t->in >= t->keep && t->in < t->keep + t->keep_len) {
        memmove(t->keep, t->in, t->in_len);
    } else {
        uint8_t *k = realloc(t->keep, t->in_len);
        if (!k)
            return WSJWT_ENOMEM;
        memcpy(k, t->in, t->in_len);
        t->keep = k;
    }
    t->keep_len = t->in_len;
    t->in = NULL;
    t->in_len = 0;
    return 0;
}

/* OpenSSL's SSL_get_error reads the thread's error queue, so it must be
 * empty before each call; ERR_clear_error costs ~300 instructions (it
 * clears every slot), peeking costs a few: clear only when needed. */
static void clear_errors(void)
{
    if (ERR_peek_error())
        ERR_clear_error();
}

/* 1 when this side verifies the peer's certificate: a client unless
 * insecure, a server that requires client certificates. */
static int verifies_peer(const struct wsjwt__tls *t)
{
    return t->ctx->server ? t->ctx->verify_client : !t->ctx->insecure;
}

/* A failure: remembers why and tells verification apart from the rest (a
 * refused certificate, or none from a client that had to present one). */
static int tls_fail(struct wsjwt__tls *t)
{
    t->failed = 1;
    t->err = ERR_peek_last_error();
    ERR_clear_error();
    if (verifies_peer(t) && (SSL_get_verify_result(t->ssl) != X509_V_OK ||
                             (ERR_GET_LIB(t->err) == ERR_LIB_SSL &&
                              ERR_GET_REASON(t->err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)))
        return WSJWT_ETLS_VERIFY;
    return WSJWT_ETLS;
}

int wsjwt__tls_handshake(struct wsjwt__tls *t)
{
    if (t->done)
        return 0;
    if (t->failed)
        return WSJWT_ETLS;
    clear_errors();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->done = 1;
        return 0;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return WSJWT_EAGAIN;
    return tls_fail(t);
}

int wsjwt__tls_read(struct wsjwt__tls *t, uint8_t *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (t->failed)
        return WSJWT_ETLS;
    /* Nothing lent and nothing buffered (no ciphertext left in OpenSSL's
     * read buffer, no decrypted bytes): the answer is "more input", without
     * going through SSL_read_ex, SSL_get_error and the error queue (~1 500
     * instructions under callgrind). Callers read until WSJWT_EAGAIN, so
     * this is one call per socket read. */
    if (t->done && t->in_len == 0 && !SSL_has_pending(t->ssl))
        return WSJWT_EAGAIN;
    clear_errors();
    size_t got = 0;
    if (SSL_read_ex(t->ssl, buf, cap, &got) == 1) {
        *n = got;
        return 0;
    }
    int e = SSL_get_error(t->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return WSJWT_EAGAIN;
    if (e == SSL_ERROR_ZERO_RETURN)
        return WSJWT_ECLOSED;
    return tls_fail(t);
}

int wsjwt__tls_write(struct wsjwt__tls *t, const void *p, size_t len)
{
    if (t->failed || !t->done)
        return t->failed ? WSJWT_ETLS : WSJWT_ESTATE;
    clear_errors();
    const uint8_t *s = p;
    while (len) {
        size_t w = 0;
        if (SSL_write_ex(t->ssl, s, len, &w) != 1)
            return tls_fail(t);
        s += w;
        len -= w;
    }
    return 0;
}

void wsjwt__tls_close_notify(struct wsjwt__tls *t)
{
    if (t->ssl && t->done && !t->failed) {
        ERR_clear_error();
        (void)SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
}

const char *wsjwt__tls_error(const struct wsjwt__tls *t, char *buf, size_t size)
{
    if (!size)
        return buf;
    buf[0] = '\0';
    if (t->ssl && verifies_peer(t)) {
        long v = SSL_get_verify_result(t->ssl);
        if (v != X509_V_OK) {
            snprintf(buf, size, "%s", X509_verify_cert_error_string(v));
            return buf;
        }
    }
    if (t->err) {
        const char *r = ERR_reason_error_string(t->err);
        snprintf(buf, size, "%s", r ? r : "TLS error");
    } else {
        snprintf(buf, size, "%s", t->done ? "connection closed" : "handshake failed");
    }
    return buf;
}

const char *wsjwt__tls_version(const struct wsjwt__tls *t)
{
    return t->ssl ? SSL_get_version(t->ssl) : "";
}

const char *wsjwt__tls_cipher(const struct wsjwt__tls *t)
{
    return t->ssl ? SSL_get_cipher_name(t->ssl) : "";
}

const char *wsjwt__tls_servername(const struct wsjwt__tls *t)
{
    return t->ssl ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}
