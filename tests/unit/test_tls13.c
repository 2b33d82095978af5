/* The TLS 1.3 record layer (src/net/tls13.c, and its use by the engine in
 * src/net/tls.c after the handshake): RFC 8448's published keys and
 * records, then the engine's answers to every kind of record a peer can
 * send once the handshake is over. Handshakes themselves, and data through
 * real handshakes, are in test_tls.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include <wsjwt/error.h>

#include "net/tls.h"
#include "net/tls13.h"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*h) {
        if (*h == ' ' || *h == '\n') {
            h++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(h, "%2x", &v), 1);
        assert_true(n < cap);
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

/* RFC 8448 section 3 (Simple 1-RTT Handshake), TLS_AES_128_GCM_SHA256. */
static const char C_AP_SECRET[] = "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52"
                                  "87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5";
static const char S_AP_SECRET[] = "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32"
                                  "82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43";
static const char C_AP_KEY[] = "17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51";
static const char C_AP_IV[] = "5b 78 92 3d ee 08 57 90 33 e5 23 d9";
static const char S_AP_KEY[] = "9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56";
static const char S_AP_IV[] = "cf 78 2b 88 dd 83 54 9a ad f1 e9 84";
/* {client} send application_data record: 00 01 02 ... 31, the client's
 * first record under its application key (sequence number 0). */
static const char C_APP_REC[] = "17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea"
                                "42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b"
                                "62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4";
/* {server} send application_data record: the same 50 bytes, the server's
 * second record (its NewSessionTicket was the first). */
static const char S_APP_REC[] = "17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc"
                                "32 25 d0 5f 82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8"
                                "fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d";
/* close_notify from each side (client: its second record, server: its third). */
static const char C_ALERT_REC[] = "17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3";
static const char S_ALERT_REC[] = "17 03 03 00 13 b5 8f d6 71 66 eb f5 99 d2 47 20 cf be 7e fa 7a 88 64 a9";

static void test_rfc8448_keys(void **state)
{
    (void)state;
    uint8_t secret[32], want[16], got[16];
    unhex(S_AP_SECRET, secret, sizeof(secret));
    unhex(S_AP_KEY, want, sizeof(want));
    assert_int_equal(wsjwt__tls13_expand_label(0x1301, secret, "key", got, 16), 0);
    assert_memory_equal(got, want, 16);
    unhex(S_AP_IV, want, sizeof(want));
    assert_int_equal(wsjwt__tls13_expand_label(0x1301, secret, "iv", got, 12), 0);
    assert_memory_equal(got, want, 12);
    /* wsjwt__tls13_key derives the same IV (the key stays in the context). */
    struct wsjwt__tls13_dir d = {0};
    unhex(C_AP_SECRET, secret, sizeof(secret));
    assert_int_equal(wsjwt__tls13_key(0x1301, &d, secret, 1), 0);
    unhex(C_AP_IV, want, sizeof(want));
    assert_memory_equal(d.iv, want, 12);
    assert_int_equal(wsjwt__tls13_expand_label(0x1301, secret, "key", got, 16), 0);
    unhex(C_AP_KEY, want, sizeof(want));
    assert_memory_equal(got, want, 16);
    struct wsjwt__tls13 r = {.rd = d};
    wsjwt__tls13_free(&r);
    assert_false(wsjwt__tls13_supported(0x1304)); /* CCM: left to OpenSSL */
    assert_true(wsjwt__tls13_supported(0x1301) && wsjwt__tls13_supported(0x1302) &&
                wsjwt__tls13_supported(0x1303));
}

/* The RFC's records: opened by the receiving side, and the client's
 * reproduced byte for byte by sealing its payload. */
static void test_rfc8448_records(void **state)
{
    (void)state;
    uint8_t cs[32], ss[32], rec[128], out[128], payload[50];
    unhex(C_AP_SECRET, cs, sizeof(cs));
    unhex(S_AP_SECRET, ss, sizeof(ss));
    for (int i = 0; i < 50; i++)
        payload[i] = (uint8_t)i;
    struct wsjwt__tls13 client, server;
    assert_int_equal(wsjwt__tls13_init(&client, 0x1301, ss, cs), 0);
    assert_int_equal(wsjwt__tls13_init(&server, 0x1301, cs, ss), 0);

    size_t n = unhex(C_APP_REC, rec, sizeof(rec)), size = 0, len = 0;
    uint8_t type = 0, alert = 0;
    assert_int_equal(wsjwt__tls13_record_ready(rec, n - 1, &size, &alert), 0);
    assert_int_equal(wsjwt__tls13_record_ready(rec, n, &size, &alert), 1);
    assert_int_equal(size, n);
    assert_int_equal(wsjwt__tls13_open(&server, rec, size, out, &len, &type, &alert), 0);
    assert_int_equal(type, WSJWT__TLS13_APPDATA);
    assert_int_equal(len, 50);
    assert_memory_equal(out, payload, 50);
    uint8_t mine[128];
    assert_int_equal(wsjwt__tls13_record_size(50), n);
    assert_int_equal(wsjwt__tls13_seal(&client, WSJWT__TLS13_APPDATA, payload, 50, mine), 0);
    assert_memory_equal(mine, rec, n);

    n = unhex(S_APP_REC, rec, sizeof(rec));
    client.rd.seq = 1; /* after the server's NewSessionTicket */
    assert_int_equal(wsjwt__tls13_open(&client, rec, n, out, &len, &type, &alert), 0);
    assert_int_equal(type, WSJWT__TLS13_APPDATA);
    assert_int_equal(len, 50);
    assert_memory_equal(out, payload, 50);

    n = unhex(C_ALERT_REC, rec, sizeof(rec));
    assert_int_equal(wsjwt__tls13_open(&server, rec, n, out, &len, &type, &alert), 0);
    assert_int_equal(type, WSJWT__TLS13_ALERT);
    assert_int_equal(len, 2);
    assert_int_equal(out[1], 0); /* close_notify */
    n = unhex(S_ALERT_REC, rec, sizeof(rec));
    assert_int_equal(wsjwt__tls13_open(&client, rec, n, out, &len, &type, &alert), 0);
    assert_int_equal(type, WSJWT__TLS13_ALERT);

    /* The same record again: its sequence number has passed, so its nonce
     * is not the expected one and it does not authenticate. */
    n = unhex(C_APP_REC, rec, sizeof(rec));
    assert_int_equal(wsjwt__tls13_open(&server, rec, n, out, &len, &type, &alert), WSJWT_ETLS);
    assert_int_equal(alert, 20); /* bad_record_mac */
    wsjwt__tls13_free(&client);
    wsjwt__tls13_free(&server);
}

/* Every suite seals and opens its own records, and a key update on one side
 * is followed by the other. */
static void test_suites_and_update(void **state)
{
    (void)state;
    const uint16_t suites[] = {0x1301, 0x1302, 0x1303};
    uint8_t a[48], b[48];
    for (int i = 0; i < 48; i++) {
        a[i] = (uint8_t)(i * 7 + 1);
        b[i] = (uint8_t)(i * 13 + 5);
    }
    for (size_t s = 0; s < 3; s++) {
        struct wsjwt__tls13 x, y;
        assert_int_equal(wsjwt__tls13_init(&x, suites[s], a, b), 0);
        assert_int_equal(wsjwt__tls13_init(&y, suites[s], b, a), 0);
        static uint8_t big[WSJWT__TLS13_MAX_PLAIN], rec[WSJWT__TLS13_MAX_PLAIN + 64],
            out[WSJWT__TLS13_MAX_CIPHER];
        for (size_t i = 0; i < sizeof(big); i++)
            big[i] = (uint8_t)(i * 31);
        for (int round = 0; round < 3; round++) {
            size_t len = 0, size = 0;
            uint8_t type, alert;
            assert_int_equal(wsjwt__tls13_seal(&x, WSJWT__TLS13_APPDATA, big, sizeof(big), rec), 0);
            assert_int_equal(
                wsjwt__tls13_record_ready(rec, wsjwt__tls13_record_size(sizeof(big)), &size, &alert), 1);
            assert_int_equal(wsjwt__tls13_open(&y, rec, size, out, &len, &type, &alert), 0);
            assert_int_equal(len, sizeof(big));
            assert_memory_equal(out, big, sizeof(big));
            /* x moves to its next key; until y does, y cannot open */
            assert_int_equal(wsjwt__tls13_update(&x, &x.wr, 1), 0);
            assert_int_equal(wsjwt__tls13_seal(&x, WSJWT__TLS13_APPDATA, big, 10, rec), 0);
            uint64_t seq = y.rd.seq;
            assert_int_equal(
                wsjwt__tls13_open(&y, rec, wsjwt__tls13_record_size(10), out, &len, &type, &alert),
                WSJWT_ETLS);
            assert_int_equal(y.rd.seq, seq);
            assert_int_equal(wsjwt__tls13_update(&y, &y.rd, 0), 0);
            assert_int_equal(
                wsjwt__tls13_open(&y, rec, wsjwt__tls13_record_size(10), out, &len, &type, &alert), 0);
            assert_memory_equal(out, big, 10);
        }
        assert_int_equal(wsjwt__tls13_seal(&x, WSJWT__TLS13_APPDATA, big, sizeof(big) + 1, rec), WSJWT_ETLS);
        wsjwt__tls13_free(&x);
        wsjwt__tls13_free(&y);
    }
}

/* ---- the engine after the switch ----------------------------------------------- */

/* A client and a server engine started on the same secrets, with a
 * record-sealing view of each side's keys to craft what a peer may send. */
struct pair {
    struct wsjwt__tls c, s;
    uint8_t cs[32], ss[32];
};

static struct pair *pair_new(uint64_t rekey_after)
{
    struct pair *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    for (int i = 0; i < 32; i++) {
        p->cs[i] = (uint8_t)(0x40 + i);
        p->ss[i] = (uint8_t)(0x90 + i);
    }
    assert_int_equal(wsjwt__tls_rl_start(&p->c, 0, 0x1301, p->ss, p->cs, rekey_after), 0);
    assert_int_equal(wsjwt__tls_rl_start(&p->s, 1, 0x1301, p->cs, p->ss, rekey_after), 0);
    return p;
}

static void pair_free(struct pair *p)
{
    wsjwt__tls_free(&p->c);
    wsjwt__tls_free(&p->s);
    free(p);
}

/* A peer-side sealer: the keys the engine `to` expects next (a copy of the
 * sending engine's write direction is not available once records have been
 * crafted, so crafted records come from a sealer of their own, kept in step
 * with the engine's view by sending only crafted records). */
struct sealer {
    struct wsjwt__tls13 k;
};

static void sealer_init(struct sealer *x, const uint8_t *write_secret)
{
    uint8_t zero[32] = {0};
    assert_int_equal(wsjwt__tls13_init(&x->k, 0x1301, zero, write_secret), 0);
}

static size_t seal(struct sealer *x, uint8_t type, const void *p, size_t len, uint8_t *out)
{
    assert_int_equal(wsjwt__tls13_seal(&x->k, type, p, len, out), 0);
    return wsjwt__tls13_record_size(len);
}

/* A record around any inner plaintext (content, type, padding), sealed
 * with the direction's key and next nonce, for what the engine's sealer
 * refuses to produce. */
static size_t seal_raw(struct wsjwt__tls13_dir *d, const uint8_t *inner, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
    size_t body = len + WSJWT__TLS13_TAG;
    out[0] = 23;
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(body >> 8);
    out[4] = (uint8_t)body;
    int o = 0, f = 0;
    assert_int_equal(EVP_EncryptInit_ex(d->ctx, NULL, NULL, NULL, nonce), 1);
    assert_int_equal(EVP_EncryptUpdate(d->ctx, NULL, &o, out, 5), 1);
    assert_int_equal(EVP_EncryptUpdate(d->ctx, out + 5, &o, inner, (int)len), 1);
    assert_int_equal(EVP_EncryptFinal_ex(d->ctx, out + 5 + o, &f), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + len), 1);
    d->seq++;
    return 5 + body;
}

/* Reads everything t can give from its input into buf; returns the last
 * code (WSJWT_EAGAIN when all was read). */
static int read_all(struct wsjwt__tls *t, const uint8_t *in, size_t in_len, uint8_t *buf, size_t cap,
                    size_t *got, size_t step)
{
    int rc = WSJWT_EAGAIN;
    *got = 0;
    assert_int_equal(wsjwt__tls_feed(t, in, in_len), 0);
    for (;;) {
        size_t n = 0, room = cap - *got < step ? cap - *got : step;
        rc = wsjwt__tls_read(t, buf + *got, room, &n);
        if (rc != 0)
            break;
        *got += n;
    }
    assert_int_equal(wsjwt__tls_stash(t), 0);
    return rc;
}

/* What t has queued for its peer, moved out. */
static size_t take_out(struct wsjwt__tls *t, uint8_t *buf, size_t cap)
{
    size_t n = wsjwt__tls_out_size(t);
    assert_true(n <= cap);
    if (n == 0)
        return 0;
    memcpy(buf, t->out.data + t->out.off, n);
    wsjwt__outq_consume(&t->out, n);
    return n;
}

/* Data both ways in every split, read into buffers of every size (a
 * record larger than the room left is kept and handed out piece by
 * piece). */
static void test_engine_data(void **state)
{
    (void)state;
    struct pair *p = pair_new(0);
    static uint8_t msg[40000], wire[50000], got[50000];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 11 + 3);
    const size_t steps[] = {1, 7, 1000, 16384, 50000};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        assert_int_equal(wsjwt__tls_write(&p->c, msg, sizeof(msg)), 0);
        size_t w = take_out(&p->c, wire, sizeof(wire)), total = 0, n;
        /* three records (2^14 each at most), fed in odd pieces */
        assert_int_equal(w, sizeof(msg) + 3 * 22);
        for (size_t off = 0; off < w;) {
            size_t piece = (off * 7 + 13) % 5000 + 1;
            if (piece > w - off)
                piece = w - off;
            assert_int_equal(
                read_all(&p->s, wire + off, piece, got + total, sizeof(got) - total, &n, steps[k]),
                WSJWT_EAGAIN);
            total += n;
            off += piece;
        }
        assert_int_equal(total, sizeof(msg));
        assert_memory_equal(got, msg, sizeof(msg));
    }
    pair_free(p);
}

/* Our KeyUpdate every N records: the peer engine follows it; a peer's
 * KeyUpdate with update_requested gets ours before our next data. */
static void test_engine_key_update(void **state)
{
    (void)state;
    struct pair *p = pair_new(3);
    uint8_t wire[4096], got[256];
    size_t n;
    for (int i = 0; i < 10; i++)
        assert_int_equal(wsjwt__tls_write(&p->s, "abcdefgh", 8), 0);
    size_t w = take_out(&p->s, wire, sizeof(wire));
    /* 10 records, and a KeyUpdate after every third */
    assert_int_equal(w, 10 * (8 + 22) + 3 * (5 + 22));
    assert_int_equal(read_all(&p->c, wire, w, got, sizeof(got), &n, sizeof(got)), WSJWT_EAGAIN);
    assert_int_equal(n, 80);
    for (int i = 0; i < 10; i++)
        assert_memory_equal(got + 8 * i, "abcdefgh", 8);

    /* The client asks for an update (a crafted KeyUpdate under its current
     * key, the engine's own write key being in step: nothing sent yet). */
    struct sealer cw;
    sealer_init(&cw, p->cs);
    const uint8_t ku_req[5] = {24, 0, 0, 1, 1};
    w = seal(&cw, WSJWT__TLS13_HANDSHAKE, ku_req, sizeof(ku_req), wire);
    assert_int_equal(wsjwt__tls13_update(&cw.k, &cw.k.wr, 1), 0);
    w += seal(&cw, WSJWT__TLS13_APPDATA, "after", 5, wire + w);
    assert_int_equal(read_all(&p->s, wire, w, got, sizeof(got), &n, sizeof(got)), WSJWT_EAGAIN);
    assert_int_equal(n, 5);
    assert_memory_equal(got, "after", 5);
    assert_int_equal(wsjwt__tls_out_size(&p->s), 0); /* the answer waits for data */
    assert_int_equal(wsjwt__tls_write(&p->s, "x", 1), 0);
    w = take_out(&p->s, wire, sizeof(wire));
    assert_int_equal(w, (5 + 22) + (1 + 22)); /* KeyUpdate(update_not_requested), then the data */
    assert_int_equal(read_all(&p->c, wire, w, got, sizeof(got), &n, sizeof(got)), WSJWT_EAGAIN);
    assert_int_equal(n, 1);
    assert_int_equal(got[0], 'x');
    wsjwt__tls13_free(&cw.k);
    pair_free(p);
}

/* A connection that goes quiet gives back its cipher contexts at the
 * second wsjwt__tls_rest without a record, and carries on where it was
 * when traffic resumes (sequence numbers and keys kept, including across a
 * KeyUpdate made while resting); a busy one keeps them. */
static void test_engine_rest(void **state)
{
    (void)state;
    struct pair *p = pair_new(2);
    uint8_t wire[4096], got[256];
    size_t n, w;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(wsjwt__tls_write(&p->c, "ping", 4), 0);
        w = take_out(&p->c, wire, sizeof(wire));
        assert_int_equal(read_all(&p->s, wire, w, got, sizeof(got), &n, sizeof(got)), WSJWT_EAGAIN);
        assert_int_equal(n, 4);
        /* both contexts at first; after a rest, only the direction used again */
        assert_int_equal(wsjwt__tls_cipher_contexts(&p->s), round == 0 ? 2 : 1);
        wsjwt__tls_rest(&p->s); /* records since the last call: kept */
        assert_int_equal(wsjwt__tls_cipher_contexts(&p->s), round == 0 ? 2 : 1);
        wsjwt__tls_rest(&p->s); /* none since: released */
        assert_int_equal(wsjwt__tls_cipher_contexts(&p->s), 0);
        /* a few records each way, with our KeyUpdate every 2 records */
        for (int i = 0; i < 3; i++)
            assert_int_equal(wsjwt__tls_write(&p->s, "pong", 4), 0);
        w = take_out(&p->s, wire, sizeof(wire));
        assert_int_equal(read_all(&p->c, wire, w, got, sizeof(got), &n, sizeof(got)), WSJWT_EAGAIN);
        assert_int_equal(n, 12);
        assert_memory_equal(got, "pongpongpong", 12);
        wsjwt__tls_rest(&p->s);
        wsjwt__tls_rest(&p->s);
        assert_int_equal(wsjwt__tls_cipher_contexts(&p->s), 0);
    }
    pair_free(p);
}

/* One crafted record from the client to a fresh server engine: the code
 * and failure reason of the read, and the alert the server sent back (-1:
 * none). */
static int server_gets(const uint8_t *rec, size_t len, char *why, size_t why_len, int *alert, uint8_t *data,
                       size_t *data_len)
{
    struct pair *p = pair_new(0);
    uint8_t got[64], back[256];
    size_t n = 0;
    int rc = read_all(&p->s, rec, len, got, sizeof(got), &n, sizeof(got));
    if (data) {
        memcpy(data, got, n);
        *data_len = n;
    }
    wsjwt__tls_error(&p->s, why, why_len);
    *alert = -1;
    size_t b = take_out(&p->s, back, sizeof(back));
    if (b) {
        /* the client engine opens the alert: a fatal one fails its read too */
        size_t m = 0;
        uint8_t plain[64];
        char cwhy[128];
        assert_int_equal(read_all(&p->c, back, b, plain, sizeof(plain), &m, sizeof(plain)), WSJWT_ETLS);
        wsjwt__tls_error(&p->c, cwhy, sizeof(cwhy));
        assert_non_null(strstr(cwhy, "tlsv13 alert"));
        struct sealer sw;
        sealer_init(&sw, p->ss);
        struct wsjwt__tls13 view = {.suite = 0x1301, .rd = sw.k.wr};
        uint8_t type, al;
        assert_int_equal(wsjwt__tls13_open(&view, back, b, plain, &m, &type, &al), 0);
        assert_int_equal(type, WSJWT__TLS13_ALERT);
        assert_int_equal(m, 2);
        assert_int_equal(plain[0], 2); /* fatal */
        *alert = plain[1];
        wsjwt__tls13_free(&sw.k);
    }
    pair_free(p);
    return rc;
}

/* What a peer may not send after the handshake, each answered with the
 * right alert (RFC 8446 5 and 6) and a reason for the logs. */
static void test_engine_refusals(void **state)
{
    (void)state;
    uint8_t cs[32];
    for (int i = 0; i < 32; i++)
        cs[i] = (uint8_t)(0x40 + i);
    uint8_t rec[20000];
    char why[128];
    int alert;
    struct sealer x;

    /* a flipped bit: bad_record_mac */
    sealer_init(&x, cs);
    size_t n = seal(&x, WSJWT__TLS13_APPDATA, "hello", 5, rec);
    rec[8] ^= 1;
    assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, 20);
    assert_string_equal(why, "bad record MAC");
    wsjwt__tls13_free(&x.k);

    /* a plaintext change_cipher_spec after the handshake: unexpected_message */
    const uint8_t ccs[6] = {20, 3, 3, 0, 1, 1};
    assert_int_equal(server_gets(ccs, sizeof(ccs), why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, 10);

    /* a length above 2^14 + 256: record_overflow, before the body arrives */
    const uint8_t big[5] = {23, 3, 3, 0x41, 0x01};
    assert_int_equal(server_gets(big, sizeof(big), why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, 22);

    /* 2^14 + 1 bytes of content inside an acceptable length (sealed by
     * hand: wsjwt__tls13_seal refuses to make it): record_overflow */
    static uint8_t over[WSJWT__TLS13_MAX_PLAIN + 2];
    memset(over, 'o', sizeof(over));
    over[WSJWT__TLS13_MAX_PLAIN + 1] = WSJWT__TLS13_APPDATA;
    sealer_init(&x, cs);
    assert_int_equal(wsjwt__tls13_seal(&x.k, 23, over, WSJWT__TLS13_MAX_PLAIN + 1, rec), WSJWT_ETLS);
    n = seal_raw(&x.k.wr, over, sizeof(over), rec);
    assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, 22);
    wsjwt__tls13_free(&x.k);

    /* only padding, no content type: unexpected_message */
    sealer_init(&x, cs);
    const uint8_t zeros[4] = {0};
    n = seal(&x, 0, zeros, sizeof(zeros), rec);
    assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, 10);
    wsjwt__tls13_free(&x.k);

    /* a NewSessionTicket to a server: unexpected_message */
    sealer_init(&x, cs);
    const uint8_t nst[8] = {4, 0, 0, 4, 0, 0, 0, 0};
    n = seal(&x, WSJWT__TLS13_HANDSHAKE, nst, sizeof(nst), rec);
    assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, 10);
    wsjwt__tls13_free(&x.k);

    /* a KeyUpdate with bytes after it in its record: unexpected_message;
     * with a bad length: decode_error; with request 2: illegal_parameter */
    const struct {
        uint8_t msg[7];
        size_t len;
        int alert;
    } ku[] = {{{24, 0, 0, 1, 0, 23, 23}, 6, 10}, {{24, 0, 0, 2, 0, 0}, 6, 50}, {{24, 0, 0, 1, 2}, 5, 47}};
    for (size_t i = 0; i < 3; i++) {
        sealer_init(&x, cs);
        n = seal(&x, WSJWT__TLS13_HANDSHAKE, ku[i].msg, ku[i].len, rec);
        assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
        assert_int_equal(alert, ku[i].alert);
        wsjwt__tls13_free(&x.k);
    }

    /* half a handshake message, then application data: unexpected_message */
    sealer_init(&x, cs);
    n = seal(&x, WSJWT__TLS13_HANDSHAKE, "\x18\x00", 2, rec);
    n += seal(&x, WSJWT__TLS13_APPDATA, "data", 4, rec + n);
    assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, 10);
    wsjwt__tls13_free(&x.k);

    /* an empty handshake record: unexpected_message */
    sealer_init(&x, cs);
    n = seal(&x, WSJWT__TLS13_HANDSHAKE, "", 0, rec);
    assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, 10);
    wsjwt__tls13_free(&x.k);

    /* an unknown content type: unexpected_message */
    sealer_init(&x, cs);
    n = seal(&x, 99, "zz", 2, rec);
    assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, 10);
    wsjwt__tls13_free(&x.k);
}

/* What a peer may send: padding, empty records, a KeyUpdate split over two
 * records, user_canceled; a fatal alert is reported by name; close_notify
 * ends the stream after the data before it. */
static void test_engine_accepts(void **state)
{
    (void)state;
    uint8_t cs[32];
    for (int i = 0; i < 32; i++)
        cs[i] = (uint8_t)(0x40 + i);
    uint8_t rec[4096], data[64];
    size_t n, dn;
    char why[128];
    int alert;
    struct sealer x;

    sealer_init(&x, cs);
    n = seal(&x, 0, "pad\x17\0\0\0", 7, rec);                      /* "pad", type 23, zeros */
    n += seal(&x, WSJWT__TLS13_APPDATA, "", 0, rec + n);           /* empty application data */
    n += seal(&x, WSJWT__TLS13_HANDSHAKE, "\x18\x00", 2, rec + n); /* KeyUpdate, first half */
    n += seal(&x, WSJWT__TLS13_HANDSHAKE, "\x00\x01\x00", 3, rec + n);
    assert_int_equal(wsjwt__tls13_update(&x.k, &x.k.wr, 1), 0);
    n += seal(&x, WSJWT__TLS13_ALERT, "\x01\x5a", 2, rec + n); /* user_canceled: ignored */
    n += seal(&x, WSJWT__TLS13_APPDATA, "ded", 3, rec + n);
    n += seal(&x, WSJWT__TLS13_ALERT, "\x01\x00", 2, rec + n); /* close_notify */
    n += seal(&x, WSJWT__TLS13_APPDATA, "late", 4, rec + n);   /* never read */
    assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, data, &dn), WSJWT_ECLOSED);
    assert_int_equal(alert, -1);
    assert_int_equal(dn, 6);
    assert_memory_equal(data, "padded", 6);
    wsjwt__tls13_free(&x.k);

    sealer_init(&x, cs);
    n = seal(&x, WSJWT__TLS13_ALERT, "\x02\x30", 2, rec); /* fatal unknown_ca */
    assert_int_equal(server_gets(rec, n, why, sizeof(why), &alert, NULL, NULL), WSJWT_ETLS);
    assert_int_equal(alert, -1); /* no alert answers an alert */
    assert_string_equal(why, "tlsv13 alert unknown ca");
    wsjwt__tls13_free(&x.k);

    /* a client skips a NewSessionTicket split over records */
    struct pair *p = pair_new(0);
    struct sealer sw;
    uint8_t ss[32];
    for (int i = 0; i < 32; i++)
        ss[i] = (uint8_t)(0x90 + i);
    sealer_init(&sw, ss);
    uint8_t nst[300] = {4, 0, 1, 0x28};
    /* 4 header bytes and 0x128 = 296 body bytes, in records of 100 and 200 */
    n = seal(&sw, WSJWT__TLS13_HANDSHAKE, nst, 100, rec);
    n += seal(&sw, WSJWT__TLS13_HANDSHAKE, nst + 100, 200, rec + n);
    n += seal(&sw, WSJWT__TLS13_APPDATA, "hi", 2, rec + n);
    uint8_t got[64];
    size_t g;
    assert_int_equal(read_all(&p->c, rec, n, got, sizeof(got), &g, sizeof(got)), WSJWT_EAGAIN);
    assert_int_equal(g, 2);
    assert_memory_equal(got, "hi", 2);
    wsjwt__tls13_free(&sw.k);
    pair_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8448_keys),      cmocka_unit_test(test_rfc8448_records),
        cmocka_unit_test(test_suites_and_update), cmocka_unit_test(test_engine_data),
        cmocka_unit_test(test_engine_key_update), cmocka_unit_test(test_engine_refusals),
        cmocka_unit_test(test_engine_accepts),    cmocka_unit_test(test_engine_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
