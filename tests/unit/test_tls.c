/* src/net/tls: two engines (a server and a client) handshaking over memory,
 * whole and one byte at a time; data both ways; certificate verification
 * failures (unknown CA, wrong name, expired) reported as WSJWT_ETLS_VERIFY
 * with their reason; --insecure; SNI choosing among certificates; TLS 1.1
 * and plaintext refused; ALPN; close_notify; stashing input across reuse of
 * the caller's buffer; the memory one idle connection keeps (counted with
 * OpenSSL's allocator hooks) and the record buffers kept on request; client
 * certificates required by the server (tls_client_ca); the sink's order.
 *
 * Certificates are made here with OpenSSL's API (a CA, leaves signed by it)
 * and written as PEM files under a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <wsjwt/error.h>
#include <wsjwt/server.h>

#include "net/tls.h"

/* ---- allocation accounting (installed before OpenSSL allocates) ------------- */

static long long live_bytes;

struct hdr {
    size_t n;
    size_t pad; /* keeps 16-byte alignment */
};

static void *cnt_malloc(size_t n, const char *f, int l)
{
    (void)f;
    (void)l;
    struct hdr *h = malloc(sizeof(*h) + n);
    if (!h)
        return NULL;
    h->n = n;
    live_bytes += (long long)n;
    return h + 1;
}

static void cnt_free(void *p, const char *f, int l)
{
    (void)f;
    (void)l;
    if (!p)
        return;
    struct hdr *h = (struct hdr *)p - 1;
    live_bytes -= (long long)h->n;
    free(h);
}

static void *cnt_realloc(void *p, size_t n, const char *f, int l)
{
    if (!p)
        return cnt_malloc(n, f, l);
    struct hdr *h = (struct hdr *)p - 1;
    size_t old = h->n;
    struct hdr *nh = realloc(h, sizeof(*nh) + n);
    if (!nh)
        return NULL;
    nh->n = n;
    live_bytes += (long long)n - (long long)old;
    return nh + 1;
}

/* ---- certificates -------------------------------------------------------------- */

static char dir[64];
static char ca_pem[128], ca2_pem[128];
static char good_crt[128], good_key[128], wrong_crt[128], wrong_key[128], exp_crt[128], exp_key[128];
static char b_crt[128], b_key[128], other_crt[128], other_key[128];

struct ca {
    EVP_PKEY *key;
    X509 *crt;
};

static void write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (x)
        assert_int_equal(PEM_write_X509(f, x), 1);
    if (k)
        assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A certificate for cn with the given SAN, signed by ca (self-signed CA
 * when ca is NULL), valid from now+from_s to now+to_s. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, const struct ca *ca, long from_s,
                       long to_s)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), to_s);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, ca ? X509_get_subject_name(ca->crt) : name);
    if (!ca) {
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, ca->crt, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, ca->crt, NID_ext_key_usage, "serverAuth,clientAuth");
        if (san)
            add_ext(x, ca->crt, NID_subject_alt_name, san);
    }
    assert_true(X509_sign(x, ca ? ca->key : key, EVP_sha256()) > 0);
    return x;
}

static void make_leaf(const struct ca *ca, const char *cn, const char *san, long from_s, long to_s,
                      const char *crt_path, const char *key_path)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    X509 *x = make_cert(k, cn, san, ca, from_s, to_s);
    write_pem(crt_path, x, NULL);
    write_pem(key_path, NULL, k);
    X509_free(x);
    EVP_PKEY_free(k);
}

static int setup_certs(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/wsjwt-tls-XXXXXX");
    assert_non_null(mkdtemp(dir));
#define P(var, name) snprintf(var, sizeof(var), "%s/%s", dir, name)
    P(ca_pem, "ca.pem");
    P(ca2_pem, "ca2.pem");
    P(good_crt, "good.crt");
    P(good_key, "good.key");
    P(wrong_crt, "wrong.crt");
    P(wrong_key, "wrong.key");
    P(exp_crt, "exp.crt");
    P(exp_key, "exp.key");
    P(b_crt, "b.crt");
    P(b_key, "b.key");
    P(other_crt, "other.crt");
    P(other_key, "other.key");
#undef P
    struct ca ca = {EVP_EC_gen("P-256"), NULL}, ca2 = {EVP_EC_gen("P-256"), NULL};
    ca.crt = make_cert(ca.key, "wsjwt test CA", NULL, NULL, -60, 86400);
    ca2.crt = make_cert(ca2.key, "another CA", NULL, NULL, -60, 86400);
    write_pem(ca_pem, ca.crt, NULL);
    write_pem(ca2_pem, ca2.crt, NULL);
    make_leaf(&ca, "localhost", "DNS:localhost,IP:127.0.0.1", -60, 86400, good_crt, good_key);
    make_leaf(&ca, "elsewhere", "DNS:elsewhere.example", -60, 86400, wrong_crt, wrong_key);
    make_leaf(&ca, "localhost", "DNS:localhost,IP:127.0.0.1", -86400 * 2, -86400, exp_crt, exp_key);
    make_leaf(&ca, "b.test", "DNS:b.test,DNS:*.b.test", -60, 86400, b_crt, b_key);
    make_leaf(&ca2, "stranger", "DNS:stranger", -60, 86400, other_crt, other_key);
    X509_free(ca.crt);
    X509_free(ca2.crt);
    EVP_PKEY_free(ca.key);
    EVP_PKEY_free(ca2.key);
    return 0;
}

static int teardown_certs(void **state)
{
    (void)state;
    const char *files[] = {ca_pem,  ca2_pem, good_crt, good_key, wrong_crt, wrong_key,
                           exp_crt, exp_key, b_crt,    b_key,    other_crt, other_key};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(files[i]);
    rmdir(dir);
    return 0;
}

/* ---- driving two engines ----------------------------------------------------------- */

struct side {
    struct wsjwt__tls t;
    uint8_t plain[1 << 17];
    size_t plain_len;
    int rc; /* the first failure, or 0 */
};

/* Handshake, then decrypt everything available. */
static void advance(struct side *s)
{
    if (s->rc)
        return;
    if (!s->t.done) {
        int rc = wsjwt__tls_handshake(&s->t);
        if (rc == WSJWT_EAGAIN)
            return;
        if (rc) {
            s->rc = rc;
            return;
        }
    }
    for (;;) {
        size_t n = 0;
        int rc = wsjwt__tls_read(&s->t, s->plain + s->plain_len, sizeof(s->plain) - s->plain_len, &n);
        if (rc == WSJWT_EAGAIN)
            return;
        if (rc) {
            s->rc = rc;
            return;
        }
        s->plain_len += n;
    }
}

/* Moves from's records to `to`, `step` bytes per feed (0: all at once). The
 * bytes are copied into a scratch buffer that is overwritten after each
 * feed, as the server's shared receive buffer is. */
static void transfer(struct side *from, struct side *to, size_t step)
{
    static uint8_t scratch[1 << 17];
    while (wsjwt__tls_out_size(&from->t) && !to->rc) {
        size_t avail = wsjwt__tls_out_size(&from->t);
        size_t n = step && step < avail ? step : avail;
        if (n > sizeof(scratch))
            n = sizeof(scratch);
        memcpy(scratch, from->t.out.data + from->t.out.off, n);
        wsjwt__outq_consume(&from->t.out, n);
        assert_int_equal(wsjwt__tls_feed(&to->t, scratch, n), 0);
        advance(to);
        assert_int_equal(wsjwt__tls_stash(&to->t), 0);
        memset(scratch, 0xee, n);
    }
}

/* Runs the handshake to completion or failure. */
static void handshake(struct side *c, struct side *s, size_t step)
{
    advance(c); /* ClientHello */
    for (int i = 0; i < 20 && !(c->t.done && s->t.done) && !c->rc && !s->rc; i++) {
        transfer(c, s, step);
        transfer(s, c, step);
    }
    /* TLS 1.3: the server's tickets follow its Finished; deliver them. */
    transfer(s, c, step);
}

static struct wsjwt__tls_ctx *server_ctx(const char *crt, const char *key)
{
    struct wsjwt_tls_cert pair = {crt, key};
    struct wsjwt__tls_ctx *ctx = NULL;
    char err[256];
    assert_int_equal(wsjwt__tls_ctx_server_new(&pair, 1, &ctx, err, sizeof(err)), 0);
    return ctx;
}

static struct wsjwt__tls_ctx *client_ctx(const char *ca, int insecure)
{
    struct wsjwt_tls_client_opts o = {ca, insecure, NULL, NULL};
    struct wsjwt__tls_ctx *ctx = NULL;
    char err[256];
    assert_int_equal(wsjwt__tls_ctx_client_new(&o, &ctx, err, sizeof(err)), 0);
    return ctx;
}

static struct side *side_new(struct wsjwt__tls_ctx *ctx, const char *host)
{
    struct side *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    assert_int_equal(wsjwt__tls_init(&s->t, ctx, host), 0);
    /* The engine holds its own reference. */
    wsjwt__tls_ctx_unref(ctx);
    return s;
}

static void side_free(struct side *s)
{
    wsjwt__tls_free(&s->t);
    free(s);
}

/* A full exchange at a given feeding step: handshake, a message each way
 * (one larger than a TLS record), close_notify. */
static void exchange(size_t step)
{
    struct side *s = side_new(server_ctx(good_crt, good_key), NULL);
    struct side *c = side_new(client_ctx(ca_pem, 0), "localhost");
    handshake(c, s, step);
    assert_int_equal(c->rc, 0);
    assert_int_equal(s->rc, 0);
    assert_true(c->t.done && s->t.done);
    assert_string_equal(wsjwt__tls_version(&s->t), "TLSv1.3");
    assert_string_equal(wsjwt__tls_servername(&s->t), "localhost");
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c->t.ssl, &alpn, &alpn_len);
    assert_int_equal(alpn_len, 8);
    assert_memory_equal(alpn, "http/1.1", 8);

    static uint8_t big[40000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(wsjwt__tls_write(&c->t, "GET / HTTP/1.1\r\n\r\n", 18), 0);
    assert_int_equal(wsjwt__tls_write(&c->t, big, sizeof(big)), 0);
    transfer(c, s, step);
    assert_int_equal(s->rc, 0);
    assert_int_equal(s->plain_len, 18 + sizeof(big));
    assert_memory_equal(s->plain, "GET / HTTP/1.1\r\n\r\n", 18);
    assert_memory_equal(s->plain + 18, big, sizeof(big));

    assert_int_equal(wsjwt__tls_write(&s->t, "HTTP/1.1 101\r\n\r\n", 16), 0);
    transfer(s, c, step);
    assert_int_equal(c->rc, 0);
    assert_int_equal(c->plain_len, 16);
    assert_memory_equal(c->plain, "HTTP/1.1 101\r\n\r\n", 16);

    /* Nothing is kept once everything was consumed. */
    assert_null(s->t.keep);
    assert_null(c->t.keep);

    wsjwt__tls_close_notify(&c->t);
    transfer(c, s, step);
    assert_int_equal(s->rc, WSJWT_ECLOSED);
    side_free(c);
    side_free(s);
}

static void test_exchange_whole(void **state)
{
    (void)state;
    exchange(0);
}

static void test_exchange_byte_at_a_time(void **state)
{
    (void)state;
    exchange(1);
}

static void test_exchange_odd_splits(void **state)
{
    (void)state;
    exchange(7);
    exchange(1000);
}

/* The client refuses; the reason is the certificate's fault. */
static void verify_fails(const char *crt, const char *key, const char *ca, const char *host, const char *why)
{
    struct side *s = side_new(server_ctx(crt, key), NULL);
    struct side *c = side_new(client_ctx(ca, 0), host);
    handshake(c, s, 0);
    assert_int_equal(c->rc, WSJWT_ETLS_VERIFY);
    assert_false(c->t.done);
    char buf[256];
    assert_string_equal(wsjwt__tls_error(&c->t, buf, sizeof(buf)), why);
    /* The server learns of it from the client's alert. */
    transfer(c, s, 0);
    assert_int_equal(s->rc, WSJWT_ETLS);
    assert_false(s->t.done);
    side_free(c);
    side_free(s);
}

static void test_verify_unknown_ca(void **state)
{
    (void)state;
    verify_fails(good_crt, good_key, ca2_pem, "localhost", "unable to get local issuer certificate");
}

static void test_verify_wrong_name(void **state)
{
    (void)state;
    verify_fails(wrong_crt, wrong_key, ca_pem, "localhost", "hostname mismatch");
}

static void test_verify_expired(void **state)
{
    (void)state;
    verify_fails(exp_crt, exp_key, ca_pem, "localhost", "certificate has expired");
}

static void test_verify_ip_address(void **state)
{
    (void)state;
    /* An IP literal is checked against the iPAddress SAN and not sent as
     * SNI (RFC 6066 3). */
    struct side *s = side_new(server_ctx(good_crt, good_key), NULL);
    struct side *c = side_new(client_ctx(ca_pem, 0), "127.0.0.1");
    handshake(c, s, 0);
    assert_int_equal(c->rc, 0);
    assert_true(c->t.done);
    assert_null(wsjwt__tls_servername(&s->t));
    side_free(c);
    side_free(s);
    verify_fails(good_crt, good_key, ca_pem, "127.0.0.2", "IP address mismatch");
}

static void test_insecure_accepts_anything(void **state)
{
    (void)state;
    const char *crts[] = {wrong_crt, exp_crt};
    const char *keys[] = {wrong_key, exp_key};
    for (int i = 0; i < 2; i++) {
        struct side *s = side_new(server_ctx(crts[i], keys[i]), NULL);
        struct side *c = side_new(client_ctx(ca2_pem, 1), "localhost");
        handshake(c, s, 0);
        assert_int_equal(c->rc, 0);
        assert_true(c->t.done && s->t.done);
        side_free(c);
        side_free(s);
    }
}

static void test_sni_picks_certificate(void **state)
{
    (void)state;
    struct wsjwt_tls_cert pairs[] = {{good_crt, good_key}, {b_crt, b_key}};
    const char *hosts[] = {"b.test", "x.b.test", "localhost", "unknown.example"};
    const char *cns[] = {"b.test", "b.test", "localhost", "localhost"};
    for (int i = 0; i < 4; i++) {
        struct wsjwt__tls_ctx *sctx = NULL;
        char err[256];
        assert_int_equal(wsjwt__tls_ctx_server_new(pairs, 2, &sctx, err, sizeof(err)), 0);
        struct side *s = side_new(sctx, NULL);
        struct side *c = side_new(client_ctx(ca_pem, 1), hosts[i]);
        handshake(c, s, 0);
        assert_int_equal(c->rc, 0);
        X509 *peer = SSL_get0_peer_certificate(c->t.ssl);
        assert_non_null(peer);
        char cn[64] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
        assert_string_equal(cn, cns[i]);
        side_free(c);
        side_free(s);
    }
}

static void test_old_versions_refused(void **state)
{
    (void)state;
    struct side *s = side_new(server_ctx(good_crt, good_key), NULL);
    struct wsjwt__tls_ctx *cctx = client_ctx(ca_pem, 1);
    struct side *c = side_new(cctx, "localhost");
    /* This client speaks TLS 1.1 at most (SSL-level override). */
    SSL_set_security_level(c->t.ssl, 0);
    assert_int_equal(SSL_set_cipher_list(c->t.ssl, "DEFAULT:@SECLEVEL=0"), 1);
    assert_int_equal(SSL_set_min_proto_version(c->t.ssl, TLS1_VERSION), 1);
    assert_int_equal(SSL_set_max_proto_version(c->t.ssl, TLS1_1_VERSION), 1);
    handshake(c, s, 0);
    assert_int_equal(s->rc, WSJWT_ETLS);
    char buf[256];
    assert_string_equal(wsjwt__tls_error(&s->t, buf, sizeof(buf)), "unsupported protocol");
    side_free(c);
    side_free(s);
}

static void test_plaintext_refused(void **state)
{
    (void)state;
    struct side *s = side_new(server_ctx(good_crt, good_key), NULL);
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(wsjwt__tls_feed(&s->t, (const uint8_t *)req, strlen(req)), 0);
    advance(s);
    assert_int_equal(s->rc, WSJWT_ETLS);
    char buf[256];
    assert_string_equal(wsjwt__tls_error(&s->t, buf, sizeof(buf)), "http request");
    /* Further calls keep failing, without touching OpenSSL. */
    assert_int_equal(wsjwt__tls_handshake(&s->t), WSJWT_ETLS);
    side_free(s);
}

static void test_alpn_h2_only_refused(void **state)
{
    (void)state;
    struct side *s = side_new(server_ctx(good_crt, good_key), NULL);
    struct side *c = side_new(client_ctx(ca_pem, 0), "localhost");
    static const unsigned char h2[] = "\x02h2";
    assert_int_equal(SSL_set_alpn_protos(c->t.ssl, h2, 3), 0);
    handshake(c, s, 0);
    assert_int_equal(s->rc, WSJWT_ETLS);
    assert_true(c->rc == WSJWT_ETLS || c->rc == WSJWT_ETLS_VERIFY);
    side_free(c);
    side_free(s);
}

static void test_bad_files(void **state)
{
    (void)state;
    struct wsjwt_tls_cert pair = {"/nonexistent/cert.pem", good_key};
    struct wsjwt__tls_ctx *ctx = NULL;
    char err[256];
    assert_int_equal(wsjwt__tls_ctx_server_new(&pair, 1, &ctx, err, sizeof(err)), WSJWT_ETLS);
    assert_null(ctx);
    assert_non_null(strstr(err, "/nonexistent/cert.pem"));
    /* A key that does not belong to the certificate. */
    struct wsjwt_tls_cert mismatch = {good_crt, b_key};
    assert_int_equal(wsjwt__tls_ctx_server_new(&mismatch, 1, &ctx, err, sizeof(err)), WSJWT_ETLS);
    assert_non_null(strstr(err, "key"));
    assert_non_null(strstr(err, "mismatch"));
    assert_int_equal(wsjwt__tls_ctx_server_new(&pair, 0, &ctx, err, sizeof(err)), WSJWT_EINVAL);
    struct wsjwt_tls_client_opts o = {"/nonexistent/ca.pem", 0, NULL, NULL};
    assert_int_equal(wsjwt__tls_ctx_client_new(&o, &ctx, err, sizeof(err)), WSJWT_ETLS);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
    struct wsjwt_tls_client_opts half = {NULL, 0, good_crt, NULL};
    assert_int_equal(wsjwt__tls_ctx_client_new(&half, &ctx, err, sizeof(err)), WSJWT_EINVAL);
}

/* Input lent and not pulled is stashed; later input is appended to it. */
static void test_stash(void **state)
{
    (void)state;
    struct wsjwt__tls t;
    memset(&t, 0, sizeof(t));
    uint8_t a[4] = {1, 2, 3, 4}, b[2] = {5, 6};
    assert_int_equal(wsjwt__tls_feed(&t, a, 4), 0);
    t.in += 1; /* as if OpenSSL pulled one byte */
    t.in_len -= 1;
    assert_int_equal(wsjwt__tls_stash(&t), 0);
    memset(a, 0, sizeof(a));
    assert_int_equal(t.keep_len, 3);
    assert_int_equal(wsjwt__tls_feed(&t, b, 2), 0);
    assert_int_equal(t.in_len, 5);
    assert_memory_equal(t.in, "\x02\x03\x04\x05\x06", 5);
    t.in += 5;
    t.in_len = 0;
    assert_int_equal(wsjwt__tls_stash(&t), 0);
    assert_null(t.keep);
    wsjwt__tls_free(&t);
}

/* What one idle connection keeps after its handshake, server side: the SSL
 * object, its session, the peer's key share state... but not the record
 * buffers (SSL_MODE_RELEASE_BUFFERS). Printed for docs/tls.md. */
static void test_idle_memory(void **state)
{
    (void)state;
    struct wsjwt__tls_ctx *sctx = server_ctx(good_crt, good_key);
    struct wsjwt__tls_ctx *cctx = client_ctx(ca_pem, 0);
    enum { N = 8 };
    struct side *s[N], *c[N];
    long long before = live_bytes;
    for (int i = 0; i < N; i++) {
        wsjwt__tls_ctx_ref(sctx);
        s[i] = side_new(sctx, NULL);
    }
    long long fresh = live_bytes;
    for (int i = 0; i < N; i++) {
        wsjwt__tls_ctx_ref(cctx);
        c[i] = side_new(cctx, "localhost");
        handshake(c[i], s[i], 0);
        assert_true(s[i]->t.done);
    }
    /* Free the clients: what remains above `before` is the servers'. */
    for (int i = 0; i < N; i++)
        side_free(c[i]);
    long long server_total = live_bytes - before;
    long long per_conn = server_total / N;
    print_message("TLS server: %lld bytes of OpenSSL memory per connection before the handshake, "
                  "%lld per idle connection after it (TLS 1.3, P-256)\n",
                  (fresh - before) / N, per_conn);
    /* The record buffers alone are ~34 KB: their absence shows the release
     * works. */
    assert_true(per_conn > 0);
    assert_true(per_conn < 16 * 1024);
    /* Two rests without a record: the record layer's cipher contexts go. */
    for (int i = 0; i < N; i++) {
        wsjwt__tls_rest(&s[i]->t);
        wsjwt__tls_rest(&s[i]->t);
    }
    long long rested = (live_bytes - before) / N;
    print_message("... and %lld after a rest (the record layer's cipher contexts released)\n", rested);
    assert_true(rested < per_conn - 2000);
    for (int i = 0; i < N; i++)
        side_free(s[i]);
    wsjwt__tls_ctx_unref(sctx);
    wsjwt__tls_ctx_unref(cctx);
}

/* A server that requires client certificates from ca.pem: one from that CA
 * is accepted, none and one from another CA are verification failures on
 * the server with their reason. */
static void test_client_certificates(void **state)
{
    (void)state;
    struct wsjwt_tls_cert pair = {good_crt, good_key};
    struct wsjwt__tls_ctx *sctx = NULL;
    char err[256];
    assert_int_equal(wsjwt__tls_ctx_server_new_ca(&pair, 1, ca_pem, &sctx, err, sizeof(err)), 0);
    const struct {
        const char *crt, *key;
        int rc;
        const char *why;
    } cases[] = {
        {good_crt, good_key, 0, NULL},
        {NULL, NULL, WSJWT_ETLS_VERIFY, "peer did not return a certificate"},
        {other_crt, other_key, WSJWT_ETLS_VERIFY, "unable to get local issuer certificate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wsjwt_tls_client_opts o = {ca_pem, 0, cases[i].crt, cases[i].key};
        struct wsjwt__tls_ctx *cctx = NULL;
        assert_int_equal(wsjwt__tls_ctx_client_new(&o, &cctx, err, sizeof(err)), 0);
        wsjwt__tls_ctx_ref(sctx);
        struct side *s = side_new(sctx, NULL);
        struct side *c = side_new(cctx, "localhost");
        handshake(c, s, 0);
        assert_int_equal(s->rc, cases[i].rc);
        if (cases[i].why) {
            assert_string_equal(wsjwt__tls_error(&s->t, err, sizeof(err)), cases[i].why);
        } else {
            assert_true(s->t.done);
            X509 *peer = SSL_get0_peer_certificate(s->t.ssl);
            assert_non_null(peer);
        }
        side_free(c);
        side_free(s);
    }
    wsjwt__tls_ctx_unref(sctx);
    assert_int_equal(wsjwt__tls_ctx_server_new_ca(&pair, 1, b_key, &sctx, err, sizeof(err)), WSJWT_ETLS);
    assert_null(sctx);
    assert_non_null(strstr(err, "cannot load client CA file"));
}

/* Counts the NewSessionTicket messages a server sends. */
static void count_tickets(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                          void *arg)
{
    (void)version;
    (void)ssl;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const uint8_t *)buf)[0] == SSL3_MT_NEWSESSION_TICKET)
        ++*(int *)arg;
}

/* One session ticket per handshake (resumption with it is checked with
 * Node's tls in tests/integration/tls.test.mjs). */
static void test_one_ticket(void **state)
{
    (void)state;
    /* n < 0: the context as configured, one ticket. The client's record
     * layer skips the ticket (it keeps no sessions) and reads the data
     * after it. However many tickets OpenSSL writes under the server's
     * application key before the switch (n = 0..3), the record layer
     * counts them: its first record takes the next sequence number (a
     * wrong count would reuse a nonce, and the client could not open the
     * record). */
    for (int n = -1; n <= 3; n++) {
        struct side *s = side_new(server_ctx(good_crt, good_key), NULL);
        struct side *c = side_new(client_ctx(ca_pem, 0), "localhost");
        if (n >= 0)
            assert_int_equal(SSL_set_num_tickets(s->t.ssl, (size_t)n), 1);
        int tickets = 0;
        SSL_set_msg_callback(s->t.ssl, count_tickets);
        SSL_set_msg_callback_arg(s->t.ssl, &tickets);
        handshake(c, s, 0);
        assert_true(c->t.done && s->t.done);
        assert_int_equal(tickets, n < 0 ? 1 : n);
        assert_non_null(s->t.rl);
        assert_int_equal(wsjwt__tls_write(&s->t, "yz", 2), 0);
        transfer(s, c, 0);
        assert_int_equal(c->rc, 0);
        assert_int_equal(c->plain_len, 2);
        side_free(c);
        side_free(s);
    }
}

/* The server configuration: tls_client_ca needs certificates; a CA file
 * that does not load stops wsjwt_server_new; a good one starts it. */
static void test_server_config_client_ca(void **state)
{
    (void)state;
    struct wsjwt_server_config cfg;
    struct wsjwt_server *srv = NULL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.threads = 1;
    cfg.insecure_no_auth = 1;
    cfg.log_level = WSJWT_LOG_OFF;
    cfg.tls_client_ca = ca_pem;
    assert_int_equal(wsjwt_server_new(&cfg, &srv), WSJWT_EINVAL);
    assert_null(srv);
    struct wsjwt_tls_cert pair = {good_crt, good_key};
    cfg.tls_certs = &pair;
    cfg.n_tls_certs = 1;
    cfg.tls_client_ca = b_key;
    assert_int_equal(wsjwt_server_new(&cfg, &srv), WSJWT_ETLS);
    assert_null(srv);
    cfg.tls_client_ca = ca_pem;
    assert_int_equal(wsjwt_server_new(&cfg, &srv), 0);
    char err[256];
    assert_int_equal(wsjwt_server_reload_tls(srv, err, sizeof(err)), 0);
    wsjwt_server_free(srv);
}

/* The sink takes what its budget allows; the rest is queued, and every
 * later record is queued behind it (order) until the queue is empty. */
static uint8_t sunk[1 << 16];
static size_t sunk_len, sink_budget, sink_calls;

static size_t test_sink(void *user, const uint8_t *p, size_t len)
{
    (void)user;
    sink_calls++;
    size_t n = len < sink_budget ? len : sink_budget;
    assert_true(sunk_len + n <= sizeof(sunk));
    memcpy(sunk + sunk_len, p, n);
    sunk_len += n;
    sink_budget -= n;
    return n;
}

static void test_sink_order(void **state)
{
    (void)state;
    struct side *s = side_new(server_ctx(good_crt, good_key), NULL);
    struct side *c = side_new(client_ctx(ca_pem, 0), "localhost");
    handshake(c, s, 0);
    assert_true(s->t.done && c->t.done);
    wsjwt__tls_set_sink(&s->t, test_sink, NULL);
    sunk_len = sink_calls = 0;
    sink_budget = 100;
    assert_int_equal(wsjwt__tls_write(&s->t, "first message ", 14), 0);
    assert_int_equal(sink_calls, 1);
    assert_int_equal(sunk_len, 14 + 22); /* one record: 5 header, 1 type, 16 tag */
    assert_int_equal(wsjwt__tls_out_size(&s->t), 0);
    static uint8_t big[3000];
    memset(big, 'x', sizeof(big));
    assert_int_equal(wsjwt__tls_write(&s->t, big, sizeof(big)), 0); /* over the budget left */
    assert_int_equal(sink_calls, 2);
    assert_int_equal(sunk_len, 100);
    size_t queued = wsjwt__tls_out_size(&s->t);
    assert_int_equal(queued, 3000 + 22 - 64);
    sink_budget = sizeof(sunk);
    assert_int_equal(wsjwt__tls_write(&s->t, "last", 4), 0);
    assert_int_equal(sink_calls, 2); /* not offered: bytes before it wait */
    assert_int_equal(wsjwt__tls_out_size(&s->t), queued + 4 + 22);
    /* What the peer receives: the sink's bytes, then the queue's. */
    assert_int_equal(wsjwt__tls_feed(&c->t, sunk, sunk_len), 0);
    advance(c);
    assert_int_equal(wsjwt__tls_stash(&c->t), 0);
    transfer(s, c, 0);
    assert_int_equal(c->rc, 0);
    assert_int_equal(c->plain_len, 14 + sizeof(big) + 4);
    assert_memory_equal(c->plain, "first message ", 14);
    assert_memory_equal(c->plain + 14, big, sizeof(big));
    assert_memory_equal(c->plain + 14 + sizeof(big), "last", 4);
    /* The queue is empty again: the next record goes to the sink whole. */
    sunk_len = 0;
    assert_int_equal(wsjwt__tls_write(&s->t, "again", 5), 0);
    assert_int_equal(sink_calls, 3);
    assert_int_equal(sunk_len, 5 + 22);
    assert_int_equal(wsjwt__tls_out_size(&s->t), 0);
    side_free(c);
    side_free(s);
}

/* Record buffers, TLS 1.2 (OpenSSL's record layer): released after each
 * record by default; kept on request (about 34 KB more while kept),
 * released again on request. TLS 1.3 (ours): none, whatever is asked. */
static void keep_buffers(int tls13)
{
    struct side *s = side_new(server_ctx(good_crt, good_key), NULL);
    struct side *c = side_new(client_ctx(ca_pem, 0), "localhost");
    if (!tls13)
        assert_int_equal(SSL_set_max_proto_version(c->t.ssl, TLS1_2_VERSION), 1);
    handshake(c, s, 0);
    assert_true(s->t.done && c->t.done);
    assert_string_equal(wsjwt__tls_version(&s->t), tls13 ? "TLSv1.3" : "TLSv1.2");
    assert_true((s->t.rl != NULL) == tls13 && (c->t.rl != NULL) == tls13);
    /* One echo each way, then count what the server holds. */
    const struct {
        int keep;
        long long min, max;
    } steps[] = {
        {0, -1024, 1024}, {1, tls13 ? -1024 : 30 * 1024, tls13 ? 1024 : 40 * 1024}, {0, -1024, 1024}};
    long long base = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        wsjwt__tls_keep_buffers(&s->t, steps[i].keep);
        assert_int_equal(wsjwt__tls_write(&c->t, "ping", 4), 0);
        transfer(c, s, 0);
        assert_int_equal(wsjwt__tls_write(&s->t, "pong", 4), 0);
        transfer(s, c, 0);
        assert_int_equal(s->rc, 0);
        assert_int_equal(c->rc, 0);
        long long held = live_bytes;
        if (i == 0)
            base = held;
        print_message("keep_buffers(%d): %+lld bytes\n", steps[i].keep, held - base);
        assert_true(held - base >= steps[i].min && held - base <= steps[i].max);
    }
    assert_int_equal(s->plain_len, 12);
    assert_int_equal(c->plain_len, 12);
    side_free(c);
    side_free(s);
}

static void test_keep_buffers(void **state)
{
    (void)state;
    keep_buffers(0);
    keep_buffers(1);
}

int main(void)
{
    /* Before OpenSSL allocates anything. */
    if (!CRYPTO_set_mem_functions(cnt_malloc, cnt_realloc, cnt_free))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stash),
        cmocka_unit_test(test_exchange_whole),
        cmocka_unit_test(test_exchange_byte_at_a_time),
        cmocka_unit_test(test_exchange_odd_splits),
        cmocka_unit_test(test_verify_unknown_ca),
        cmocka_unit_test(test_verify_wrong_name),
        cmocka_unit_test(test_verify_expired),
        cmocka_unit_test(test_verify_ip_address),
        cmocka_unit_test(test_insecure_accepts_anything),
        cmocka_unit_test(test_sni_picks_certificate),
        cmocka_unit_test(test_old_versions_refused),
        cmocka_unit_test(test_plaintext_refused),
        cmocka_unit_test(test_alpn_h2_only_refused),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_idle_memory),
        cmocka_unit_test(test_client_certificates),
        cmocka_unit_test(test_server_config_client_ca),
        cmocka_unit_test(test_one_ticket),
        cmocka_unit_test(test_sink_order),
        cmocka_unit_test(test_keep_buffers),
    };
    return cmocka_run_group_tests(tests, setup_certs, teardown_certs);
}
