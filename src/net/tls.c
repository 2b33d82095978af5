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

#include "base/hex.h"
#include "net/tls.h"
#include "net/tls13.h"

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
    int verify_client;    /* server: a client certificate is required and verified */
    uint64_t rekey_after; /* records under one write key (RL_REKEY_AFTER; see ctx_alloc) */
    BIO_METHOD *bio;
    size_t n;       /* server: one SSL_CTX per certificate; client: 1 */
    SSL_CTX *ctx[]; /* ctx[0]: the default */
};

/* ---- the BIO ---------------------------------------------------------------- */

/* Bytes for the peer: to the sink first when nothing is queued before
 * them, the rest to `out`. Either way all of them are taken: records are
 * never half-written from OpenSSL's (or the record layer's) point of view.
 * 0 or WSJWT_ENOMEM. */
static int emit(struct wsjwt__tls *t, const uint8_t *data, size_t len)
{
    size_t took = 0;
    if (t->sink && wsjwt__outq_size(&t->out) == 0)
        took = t->sink(t->sink_user, data, len);
    if (took < len && wsjwt__outq_append(&t->out, data + took, len - took, NULL, 0) != 0)
        return WSJWT_ENOMEM;
    return 0;
}

static void rl_watch_written(struct wsjwt__tls *t, const uint8_t *p, size_t len);

static int bio_write(BIO *b, const char *data, int len)
{
    struct wsjwt__tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (emit(t, (const uint8_t *)data, (size_t)len) != 0)
        return -1;
    if (t->rl)
        rl_watch_written(t, (const uint8_t *)data, (size_t)len);
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

/* ---- the record layer ------------------------------------------------------------- */

/* After a TLS 1.3 handshake the engine protects and opens application
 * records itself (tls13.c) instead of going through SSL_read/SSL_write:
 * OpenSSL 3.0's record layer costs about as much again as the cipher per
 * small record (docs/tls.md). OpenSSL keeps the handshake, the certificate
 * checks, tickets and everything before the switch; TLS 1.2 and any case
 * below that is not met stay with OpenSSL entirely.
 *
 * What the switch needs, and where it comes from:
 * - The two application traffic secrets: OpenSSL hands every secret it
 *   derives to the context's key-log callback (the SSLKEYLOGFILE
 *   interface, SSL_CTX_set_keylog_callback) as it installs the key; we keep
 *   CLIENT_TRAFFIC_SECRET_0 and SERVER_TRAFFIC_SECRET_0 (and nothing else).
 * - The sequence number of each direction at the switch (RFC 8446 5.3:
 *   the nonce; reusing one would break AES-GCM). Read: without read-ahead,
 *   OpenSSL stops pulling at the record that completes the handshake, so it
 *   has opened no application record of the peer's: 0, and the switch is
 *   refused if it holds any buffered byte (SSL_has_pending). Write: the
 *   records OpenSSL writes after our write secret is known (a server's
 *   session ticket) are each opened here with that key as they pass through
 *   the BIO; those that authenticate are counted. A record under another
 *   key cannot authenticate, so the count is exact whatever the order in
 *   which OpenSSL logs secrets and writes records.
 * After the switch the SSL object is never used for data again (only for
 * its version, cipher and SNI name, and freed with the connection). */
#define RL_HAVE_READ  1u
#define RL_HAVE_WRITE 2u
/* RFC 8446 5.5: at most 2^24.5 full records under one AES-GCM key; we move
 * to the next write key (KeyUpdate) after 2^24 records, for every suite. */
#define RL_REKEY_AFTER (UINT64_C(1) << 24)

/* RFC 8446 4: the post-handshake messages this layer reads or sends. */
#define HS_NEW_SESSION_TICKET 4
#define HS_KEY_UPDATE         24

struct wsjwt__tls_rl {
    struct wsjwt__tls13 p;       /* keys and sequence numbers, once active */
    struct wsjwt__tls13_dir chk; /* before the switch: our write key, to open what OpenSSL writes */
    uint8_t rsec[WSJWT__TLS13_MAX_SECRET], wsec[WSJWT__TLS13_MAX_SECRET];
    size_t sec_len;
    uint8_t *acc; /* before the switch: written bytes not yet a whole record */
    size_t acc_len;
    uint8_t *pend; /* opened content a read had no room for */
    size_t pend_off, pend_len;
    uint64_t rekey_after;
    const char *why; /* the reason of our own failure, for wsjwt__tls_error */
    uint8_t server;  /* which side we are (post-handshake messages differ) */
    uint8_t have;    /* RL_HAVE_* */
    uint8_t active;  /* application records are ours */
    uint8_t closed;  /* the peer's close_notify arrived */
    uint8_t ku_due;  /* the peer asked for our KeyUpdate: send it before more data */
    uint8_t used;    /* a record was sealed or opened since the last wsjwt__tls_rest */
    /* A post-handshake handshake message being read (RFC 8446 4.6), which
     * may span records: its 4-byte header, then body bytes left. */
    uint8_t hs_hdr[4];
    uint8_t hs_have;
    uint32_t hs_left;
};

/* RFC 8446 6 (and B.2): an alert's name, as OpenSSL's reason strings
 * spell it ("tlsv13 alert certificate required"), so that a failure reads
 * the same whether it came before the switch or after. */
static const char *alert_name(uint8_t a)
{
    switch (a) {
    case 10:
        return "tlsv13 alert unexpected message";
    case 20:
        return "tlsv13 alert bad record mac";
    case 22:
        return "tlsv13 alert record overflow";
    case 40:
        return "tlsv13 alert handshake failure";
    case 42:
        return "tlsv13 alert bad certificate";
    case 43:
        return "tlsv13 alert unsupported certificate";
    case 44:
        return "tlsv13 alert certificate revoked";
    case 45:
        return "tlsv13 alert certificate expired";
    case 46:
        return "tlsv13 alert certificate unknown";
    case 47:
        return "tlsv13 alert illegal parameter";
    case 48:
        return "tlsv13 alert unknown ca";
    case 49:
        return "tlsv13 alert access denied";
    case 50:
        return "tlsv13 alert decode error";
    case 51:
        return "tlsv13 alert decrypt error";
    case 70:
        return "tlsv13 alert protocol version";
    case 71:
        return "tlsv13 alert insufficient security";
    case 80:
        return "tlsv13 alert internal error";
    case 86:
        return "tlsv13 alert inappropriate fallback";
    case 109:
        return "tlsv13 alert missing extension";
    case 110:
        return "tlsv13 alert unsupported extension";
    case 112:
        return "tlsv13 alert unrecognized name";
    case 113:
        return "tlsv13 alert bad certificate status response";
    case 115:
        return "tlsv13 alert unknown psk identity";
    case 116:
        return "tlsv13 alert certificate required";
    case 120:
        return "tlsv13 alert no application protocol";
    default:
        return "tlsv13 alert (unknown)";
    }
}

/* The negotiated suite's TLS code point (0x1301...), or 0 before one is chosen. */
static uint16_t suite_of(const SSL *ssl)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    return c ? (uint16_t)(SSL_CIPHER_get_protocol_id(c) & 0xffff) : 0;
}

static int rl_on(const struct wsjwt__tls *t)
{
    return t->rl && t->rl->active;
}

static struct wsjwt__tls *engine_of(const SSL *ssl)
{
    BIO *b = SSL_get_rbio(ssl);
    return b ? BIO_get_data(b) : NULL;
}

/* "LABEL <client random, 64 hex> <secret, hex>" (NSS key log format). */
static void rl_keylog(const SSL *ssl, const char *line)
{
    static const char client[] = "CLIENT_TRAFFIC_SECRET_0 ", server[] = "SERVER_TRAFFIC_SECRET_0 ";
    struct wsjwt__tls *t = engine_of(ssl);
    int is_client = strncmp(line, client, sizeof(client) - 1) == 0;
    if (!t || (!is_client && strncmp(line, server, sizeof(server) - 1) != 0))
        return;
    const char *hex = strchr(line + sizeof(client) - 1, ' ');
    size_t hl = hex ? strlen(++hex) : 0;
    if (hl != 64 && hl != 96)
        return;
    if (!t->rl && !(t->rl = calloc(1, sizeof(*t->rl))))
        return; /* no switch: OpenSSL carries on */
    struct wsjwt__tls_rl *rl = t->rl;
    rl->server = (uint8_t)t->ctx->server;
    /* Ours is the server's secret on a server, the client's on a client. */
    int mine = is_client == !t->ctx->server;
    uint8_t *dst = mine ? rl->wsec : rl->rsec;
    for (size_t i = 0; i < hl / 2; i++) {
        int hi = wsjwt__hexval((unsigned char)hex[2 * i]), lo = wsjwt__hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return;
        dst[i] = (uint8_t)(hi << 4 | lo);
    }
    rl->sec_len = hl / 2;
    rl->have |= mine ? RL_HAVE_WRITE : RL_HAVE_READ;
}

/* Before the switch: counts the records OpenSSL writes under our
 * application key (see above). Whole records are opened where they lie; a
 * record split across writes is collected in acc first. */
static void rl_watch_written(struct wsjwt__tls *t, const uint8_t *p, size_t len)
{
    struct wsjwt__tls_rl *rl = t->rl;
    if (rl->active || !(rl->have & RL_HAVE_WRITE))
        return;
    uint16_t suite = suite_of(t->ssl);
    if (!wsjwt__tls13_supported(suite))
        return;
    if (!rl->chk.ctx && wsjwt__tls13_key(suite, &rl->chk, rl->wsec, 0) != 0) {
        rl->have = 0; /* no switch */
        return;
    }
    if (rl->acc_len) {
        uint8_t *a = realloc(rl->acc, rl->acc_len + len);
        if (!a) {
            rl->have = 0;
            return;
        }
        memcpy(a + rl->acc_len, p, len);
        rl->acc = a;
        rl->acc_len += len;
        p = a;
        len = rl->acc_len;
    }
    struct wsjwt__tls13 view = {.suite = suite, .rd = rl->chk};
    uint8_t scratch[WSJWT__TLS13_MAX_CIPHER];
    size_t used = 0;
    for (;;) {
        size_t size = 0, n;
        uint8_t alert, type;
        int r = wsjwt__tls13_record_ready(p + used, len - used, &size, &alert);
        if (r == 0)
            break;
        if (r < 0) {
            /* Once our application key exists OpenSSL writes only
             * protected records, each in one BIO write: anything else
             * means this count cannot be trusted, so no switch. */
            rl->have = 0;
            break;
        }
        (void)wsjwt__tls13_open(&view, p + used, size, scratch, &n, &type, &alert);
        used += size;
    }
    rl->chk.seq = view.rd.seq;
    OPENSSL_cleanse(scratch, sizeof(scratch));
    size_t rest = len - used;
    if (rest == 0) {
        free(rl->acc);
        rl->acc = NULL;
        rl->acc_len = 0;
    } else if (p == rl->acc) {
        memmove(rl->acc, rl->acc + used, rest);
        rl->acc_len = rest;
    } else if ((rl->acc = malloc(rest)) != NULL) {
        memcpy(rl->acc, p + used, rest);
        rl->acc_len = rest;
    } else {
        rl->have = 0;
    }
}

static void rl_free(struct wsjwt__tls *t)
{
    struct wsjwt__tls_rl *rl = t->rl;
    if (!rl)
        return;
    wsjwt__tls13_free(&rl->p);
    EVP_CIPHER_CTX_free(rl->chk.ctx);
    free(rl->acc);
    free(rl->pend);
    OPENSSL_cleanse(rl, sizeof(*rl));
    free(rl);
    t->rl = NULL;
}

/* At the end of the handshake: the switch, or OpenSSL for good. */
static void rl_switch(struct wsjwt__tls *t)
{
    struct wsjwt__tls_rl *rl = t->rl;
    uint16_t suite = suite_of(t->ssl);
    if (!rl || rl->have != (RL_HAVE_READ | RL_HAVE_WRITE) || SSL_version(t->ssl) != TLS1_3_VERSION ||
        !wsjwt__tls13_supported(suite) || rl->sec_len != wsjwt__tls13_hash_len(suite) || rl->acc_len ||
        SSL_has_pending(t->ssl) || wsjwt__tls13_init(&rl->p, suite, rl->rsec, rl->wsec) != 0) {
        rl_free(t);
        SSL_set_read_ahead(t->ssl, 1);
        return;
    }
    rl->p.wr.seq = rl->chk.seq; /* OpenSSL's records under our key (tickets) */
    EVP_CIPHER_CTX_free(rl->chk.ctx);
    rl->chk.ctx = NULL;
    OPENSSL_cleanse(rl->rsec, sizeof(rl->rsec));
    OPENSSL_cleanse(rl->wsec, sizeof(rl->wsec));
    rl->rekey_after = t->ctx->rekey_after;
    rl->active = 1;
    /* OpenSSL's record buffers are never used again. */
    SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
    (void)SSL_free_buffers(t->ssl);
}

int wsjwt__tls_rl_start(struct wsjwt__tls *t, int server, uint16_t suite, const uint8_t *read_secret,
                        const uint8_t *write_secret, uint64_t rekey_after)
{
    memset(t, 0, sizeof(*t));
    if (!(t->rl = calloc(1, sizeof(*t->rl))))
        return WSJWT_ENOMEM;
    int rc = wsjwt__tls13_init(&t->rl->p, suite, read_secret, write_secret);
    if (rc) {
        rl_free(t);
        return rc;
    }
    t->rl->server = server != 0;
    t->rl->rekey_after = rekey_after ? rekey_after : RL_REKEY_AFTER;
    t->rl->active = 1;
    t->done = 1;
    return 0;
}

void wsjwt__tls_rest(struct wsjwt__tls *t)
{
    struct wsjwt__tls_rl *rl = t->rl;
    if (!rl_on(t))
        return;
    if (rl->used) {
        rl->used = 0;
        return;
    }
    wsjwt__tls13_rest(&rl->p);
    if (rl->pend && rl->pend_len == 0) {
        free(rl->pend);
        rl->pend = NULL;
    }
}

int wsjwt__tls_cipher_contexts(const struct wsjwt__tls *t)
{
    return rl_on(t) ? (t->rl->p.rd.ctx != NULL) + (t->rl->p.wr.ctx != NULL) : 0;
}

/* Protects and emits one record. 0, WSJWT_ETLS, WSJWT_ENOMEM. */
static int rl_send(struct wsjwt__tls *t, uint8_t type, const uint8_t *p, size_t len)
{
    uint8_t rec[WSJWT__TLS13_HEADER + WSJWT__TLS13_MAX_PLAIN + 1 + WSJWT__TLS13_TAG];
    t->rl->used = 1;
    if (wsjwt__tls13_seal(&t->rl->p, type, p, len, rec) != 0)
        return WSJWT_ETLS;
    return emit(t, rec, wsjwt__tls13_record_size(len));
}

/* Our KeyUpdate (RFC 8446 4.6.3), then the next write key. */
static int rl_key_update(struct wsjwt__tls *t)
{
    static const uint8_t msg[5] = {HS_KEY_UPDATE, 0, 0, 1, 0 /* update_not_requested */};
    struct wsjwt__tls_rl *rl = t->rl;
    int rc = rl_send(t, WSJWT__TLS13_HANDSHAKE, msg, sizeof(msg));
    if (rc == 0)
        rc = wsjwt__tls13_update(&rl->p, &rl->p.wr, 1) != 0 ? WSJWT_ETLS : 0;
    rl->ku_due = 0;
    return rc;
}

/* A fatal error of ours: the alert for the peer (best effort), then failed. */
static int rl_fail(struct wsjwt__tls *t, uint8_t alert, const char *why)
{
    const uint8_t a[2] = {2 /* fatal */, alert};
    if (!t->failed)
        (void)rl_send(t, WSJWT__TLS13_ALERT, a, sizeof(a));
    t->failed = 1;
    t->rl->why = why;
    return WSJWT_ETLS;
}

/* The content of a handshake record after the switch: post-handshake
 * messages (RFC 8446 4.6), possibly spanning records. A client skips
 * NewSessionTicket (it keeps no sessions); KeyUpdate moves to the peer's
 * next key and, when asked, schedules ours; anything else (a server's
 * post-handshake CertificateRequest, which we never allowed) is
 * unexpected. 0 or WSJWT_ETLS. */
static int rl_handshake(struct wsjwt__tls *t, const uint8_t *p, size_t len)
{
    struct wsjwt__tls_rl *rl = t->rl;
    /* RFC 8446 5.1: no zero-length handshake fragments. */
    if (len == 0)
        return rl_fail(t, WSJWT__TLS13_UNEXPECTED_MESSAGE, "empty handshake record");
    while (len) {
        if (rl->hs_have < 4) {
            rl->hs_hdr[rl->hs_have++] = *p++;
            len--;
            if (rl->hs_have < 4)
                continue;
            rl->hs_left = (uint32_t)rl->hs_hdr[1] << 16 | (uint32_t)rl->hs_hdr[2] << 8 | rl->hs_hdr[3];
            if (rl->hs_hdr[0] == HS_KEY_UPDATE) {
                if (rl->hs_left != 1)
                    return rl_fail(t, WSJWT__TLS13_DECODE_ERROR, "malformed KeyUpdate");
            } else if (rl->hs_hdr[0] != HS_NEW_SESSION_TICKET || rl->server) {
                return rl_fail(t, WSJWT__TLS13_UNEXPECTED_MESSAGE, "unexpected post-handshake message");
            }
            if (rl->hs_left)
                continue;
        }
        if (rl->hs_hdr[0] == HS_KEY_UPDATE) {
            uint8_t req = *p++;
            len--;
            if (req > 1)
                return rl_fail(t, WSJWT__TLS13_ILLEGAL_PARAMETER, "bad KeyUpdate request");
            /* RFC 8446 5.1: a key change must end its record. */
            if (len)
                return rl_fail(t, WSJWT__TLS13_UNEXPECTED_MESSAGE, "KeyUpdate not at a record boundary");
            if (wsjwt__tls13_update(&rl->p, &rl->p.rd, 0) != 0)
                return rl_fail(t, WSJWT__TLS13_INTERNAL_ERROR, "key update failed");
            rl->ku_due |= req;
            rl->hs_have = 0;
            rl->hs_left = 0;
            return 0;
        }
        size_t skip = len < rl->hs_left ? len : rl->hs_left;
        p += skip;
        len -= skip;
        rl->hs_left -= (uint32_t)skip;
        if (rl->hs_left == 0)
            rl->hs_have = 0;
    }
    return 0;
}

/* Moves up to cap bytes of pend into buf. */
static size_t rl_take_pend(struct wsjwt__tls_rl *rl, uint8_t *buf, size_t cap)
{
    size_t k = rl->pend_len < cap ? rl->pend_len : cap;
    memcpy(buf, rl->pend + rl->pend_off, k);
    rl->pend_off += k;
    rl->pend_len -= k;
    return k;
}

/* wsjwt__tls_read after the switch: opens the whole records in `in` straight
 * into buf (the ciphertext is read once and the content written once), as
 * long as buf has room for each; what a record holds beyond the room goes to
 * pend. */
static int rl_read(struct wsjwt__tls *t, uint8_t *buf, size_t cap, size_t *n)
{
    struct wsjwt__tls_rl *rl = t->rl;
    size_t out = 0;
    if (rl->pend_len)
        out = rl_take_pend(rl, buf, cap);
    while (!rl->closed && out < cap && !rl->pend_len) {
        size_t size = 0, len = 0;
        uint8_t alert = 0, type = 0;
        int r = wsjwt__tls13_record_ready(t->in, t->in_len, &size, &alert);
        if (r < 0)
            return rl_fail(t, alert, "malformed record");
        if (r == 0)
            break;
        size_t room = size - WSJWT__TLS13_HEADER - WSJWT__TLS13_TAG;
        uint8_t *dst = buf + out;
        if (room > cap - out) {
            if (!rl->pend && !(rl->pend = malloc(WSJWT__TLS13_MAX_CIPHER)))
                return WSJWT_ENOMEM;
            dst = rl->pend;
        }
        rl->used = 1;
        if (wsjwt__tls13_open(&rl->p, t->in, size, dst, &len, &type, &alert) != 0)
            return rl_fail(t, alert,
                           alert == WSJWT__TLS13_BAD_RECORD_MAC ? "bad record MAC" : "malformed record");
        t->in += size;
        t->in_len -= size;
        /* RFC 8446 5.1: a handshake message in progress is not interleaved
         * with other content types. */
        if ((rl->hs_have || rl->hs_left) && type != WSJWT__TLS13_HANDSHAKE)
            return rl_fail(t, WSJWT__TLS13_UNEXPECTED_MESSAGE, "interleaved handshake message");
        switch (type) {
        case WSJWT__TLS13_APPDATA:
            if (dst == rl->pend) {
                rl->pend_off = 0;
                rl->pend_len = len;
                out += rl_take_pend(rl, buf + out, cap - out);
            } else {
                out += len;
            }
            break;
        case WSJWT__TLS13_ALERT:
            if (len != 2)
                return rl_fail(t, WSJWT__TLS13_DECODE_ERROR, "malformed alert");
            if (dst[1] == WSJWT__TLS13_CLOSE_NOTIFY) {
                rl->closed = 1;
            } else if (dst[1] != WSJWT__TLS13_USER_CANCELED) {
                /* RFC 8446 6.2: every other alert is fatal. */
                t->failed = 1;
                rl->why = alert_name(dst[1]);
                return WSJWT_ETLS;
            }
            break;
        case WSJWT__TLS13_HANDSHAKE:
            if (rl_handshake(t, dst, len) != 0)
                return WSJWT_ETLS;
            break;
        default:
            return rl_fail(t, WSJWT__TLS13_UNEXPECTED_MESSAGE, "unexpected record type");
        }
    }
    *n = out;
    if (out)
        return 0;
    return rl->closed ? WSJWT_ECLOSED : WSJWT_EAGAIN;
}

/* wsjwt__tls_write after the switch: records of at most 2^14 bytes. */
static int rl_write(struct wsjwt__tls *t, const uint8_t *p, size_t len)
{
    struct wsjwt__tls_rl *rl = t->rl;
    int rc;
    if (rl->ku_due && (rc = rl_key_update(t)) != 0)
        return rl_fail(t, WSJWT__TLS13_INTERNAL_ERROR, "key update failed");
    while (len) {
        size_t k = len < WSJWT__TLS13_MAX_PLAIN ? len : WSJWT__TLS13_MAX_PLAIN;
        if ((rc = rl_send(t, WSJWT__TLS13_APPDATA, p, k)) != 0)
            return rc == WSJWT_ENOMEM ? rc
                                      : rl_fail(t, WSJWT__TLS13_INTERNAL_ERROR, "record protection failed");
        p += k;
        len -= k;
        if (rl->p.wr.seq >= rl->rekey_after && (rc = rl_key_update(t)) != 0)
            return rl_fail(t, WSJWT__TLS13_INTERNAL_ERROR, "key update failed");
    }
    return 0;
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
    /* Test hook (tests/integration/tls.test.mjs): WSJWT_TLS_REKEY_RECORDS=N
     * moves to the next write key every N records instead of 2^24, so that
     * real peers are seen to follow our KeyUpdates. */
    const char *rk = getenv("WSJWT_TLS_REKEY_RECORDS");
    unsigned long long n_rk = rk ? strtoull(rk, NULL, 10) : 0;
    c->rekey_after = n_rk ? (uint64_t)n_rk : RL_REKEY_AFTER;
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
    /* No read-ahead: OpenSSL pulls one record at a time, so when the
     * handshake completes it holds no application record and every byte
     * after the peer's Finished is still ours for the record layer (see
     * "The record layer" below). A TLS 1.2 connection, which stays with
     * OpenSSL, turns read-ahead on then (half the BIO calls per record). */
    SSL_CTX_set_keylog_callback(ctx, rl_keylog);
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
    if (!t->ssl || !t->keep_buffers == !keep || (t->rl && t->rl->active))
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
    rl_free(t);
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
        rl_switch(t);
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
    if (rl_on(t))
        return rl_read(t, buf, cap, n);
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
    if (rl_on(t))
        return rl_write(t, p, len);
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
    if (rl_on(t)) {
        static const uint8_t a[2] = {1 /* warning */, WSJWT__TLS13_CLOSE_NOTIFY};
        if (!t->failed)
            (void)rl_send(t, WSJWT__TLS13_ALERT, a, sizeof(a));
        return;
    }
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
    if (t->rl && t->rl->why) {
        snprintf(buf, size, "%s", t->rl->why);
    } else if (t->err) {
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
