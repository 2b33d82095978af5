/* The server library API in-process (what `wsjwt serve` does not exercise):
 * on_upgrade accepting, refusing and deferring; wsjwt_conn_answer; callbacks
 * that close their connection from inside; send after close; on_close once
 * per connection with the right code; claims getters with and without
 * keep_jwt; configuration checks; statistics. The peer is a blocking socket
 * on 127.0.0.1 in the test thread; the server runs its loop thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <wsjwt/wsjwt.h>

static const char SECRET[] = "unit-test-secret-0123456789abcdef0123";

/* ---- the application under test ------------------------------------------------ */

struct app {
    pthread_mutex_t mu;
    int opens, closes, last_close_code;
    char last_sub[64];
    int jwt_in_message;                   /* wsjwt_conn_jwt != NULL seen in on_message */
    char path[64], custom[64], query[64]; /* from the request getters in on_upgrade */
    struct wsjwt_conn *deferred[4];       /* connections waiting for an answer */
    int n_deferred;
    int send_after_close; /* what wsjwt_conn_send returned after close */
    int select_rc;        /* what wsjwt_conn_select_protocol returned */
    int floods, drains;   /* messages queued by "flood", on_drain calls */
    int bad;              /* unexpected results seen on the loop thread (cmocka's
                             asserts must stay on the test thread) */
    struct wsjwt_server *srv;
};

static int on_upgrade(struct wsjwt_conn *c, const struct wsjwt_jwt *jwt, void *user)
{
    struct app *a = user;
    const char *v;
    size_t n;
    (void)jwt;
    pthread_mutex_lock(&a->mu);
    if (wsjwt_conn_path(c, &v, &n) == 0 && n < sizeof(a->path)) {
        memcpy(a->path, v, n);
        a->path[n] = '\0';
    }
    if (wsjwt_conn_query(c, &v, &n) == 0 && n < sizeof(a->query)) {
        memcpy(a->query, v, n);
        a->query[n] = '\0';
    } else {
        snprintf(a->query, sizeof(a->query), "(none)");
    }
    if (wsjwt_conn_header(c, "X-Custom", &v, &n) == 0 && n < sizeof(a->custom)) {
        memcpy(a->custom, v, n);
        a->custom[n] = '\0';
    }
    if (wsjwt_conn_header(c, "X-Select", &v, &n) == 0) {
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)n, v);
        a->select_rc = wsjwt_conn_select_protocol(c, name);
    }
    pthread_mutex_unlock(&a->mu);
    if (wsjwt_conn_path(c, &v, &n) == 0) {
        if (n == 7 && memcmp(v, "/refuse", 7) == 0)
            return 403;
        if (n == 6 && memcmp(v, "/defer", 6) == 0) {
            pthread_mutex_lock(&a->mu);
            a->deferred[a->n_deferred++] = c;
            pthread_mutex_unlock(&a->mu);
            return WSJWT_UPGRADE_DEFER;
        }
    }
    return WSJWT_UPGRADE_ACCEPT;
}

static void on_open(struct wsjwt_conn *c, void *user)
{
    struct app *a = user;
    const char *v;
    size_t n;
    pthread_mutex_lock(&a->mu);
    a->opens++;
    snprintf(a->last_sub, sizeof(a->last_sub), "%s", wsjwt_conn_sub(c));
    pthread_mutex_unlock(&a->mu);
    /* The request getters work only during on_upgrade. */
    if (wsjwt_conn_header(c, "Host", &v, &n) != WSJWT_ESTATE)
        a->bad++;
    if (strcmp(wsjwt_conn_sub(c), "close-in-open") == 0)
        wsjwt_conn_close(c, 4000, "closed in on_open");
}

static void on_message(struct wsjwt_conn *c, const void *data, size_t len, int binary, void *user)
{
    struct app *a = user;
    pthread_mutex_lock(&a->mu);
    a->jwt_in_message = wsjwt_conn_jwt(c) != NULL;
    pthread_mutex_unlock(&a->mu);
    if (len == 6 && memcmp(data, "accept", 6) == 0) {
        for (int i = 0; i < a->n_deferred; i++)
            if (wsjwt_conn_answer(a->deferred[i], WSJWT_UPGRADE_ACCEPT) != 0)
                a->bad++;
        a->n_deferred = 0;
    } else if (len == 6 && memcmp(data, "refuse", 6) == 0) {
        for (int i = 0; i < a->n_deferred; i++)
            if (wsjwt_conn_answer(a->deferred[i], 429) != 0)
                a->bad++;
        a->n_deferred = 0;
    } else if (len == 5 && memcmp(data, "flood", 5) == 0) {
        /* Send 16 KiB messages until the queue is over its cap. */
        static uint8_t big[16384];
        int n = 0, rc = 0;
        while (n < 4096 && (rc = wsjwt_conn_send(c, big, sizeof(big), 1)) == 0)
            n++;
        pthread_mutex_lock(&a->mu);
        a->floods = n;
        if (rc != WSJWT_EBACKPRESSURE)
            a->bad++;
        pthread_mutex_unlock(&a->mu);
        return;
    } else if (len == 5 && memcmp(data, "burst", 5) == 0) {
        /* 20 000 frames of 4 bytes (2 of payload) from one callback: the
         * cork fills to within a header's size of its end (16 380 frames
         * leave 16 bytes), the case where a careless bound wraps. */
        uint8_t m[2];
        for (int i = 0; i < 20000; i++) {
            memset(m, (uint8_t)i, sizeof(m));
            if (wsjwt_conn_send(c, m, sizeof(m), 1) != 0) {
                a->bad++;
                break;
            }
        }
        return;
    } else if (len == 5 && memcmp(data, "close", 5) == 0) {
        if (wsjwt_conn_close(c, 4001, "closed in on_message") != 0)
            a->bad++;
        int rc = wsjwt_conn_send(c, "late", 4, 0);
        pthread_mutex_lock(&a->mu);
        a->send_after_close = rc;
        pthread_mutex_unlock(&a->mu);
        if (wsjwt_conn_close(c, 4002, NULL) != WSJWT_ESTATE)
            a->bad++;
        return;
    }
    wsjwt_conn_send(c, data, len, binary);
}

static void on_drain(struct wsjwt_conn *c, void *user)
{
    struct app *a = user;
    (void)c;
    pthread_mutex_lock(&a->mu);
    a->drains++;
    pthread_mutex_unlock(&a->mu);
}

static void on_close(struct wsjwt_conn *c, int code, const char *reason, void *user)
{
    struct app *a = user;
    (void)c;
    (void)reason;
    pthread_mutex_lock(&a->mu);
    a->closes++;
    a->last_close_code = code;
    pthread_mutex_unlock(&a->mu);
}

/* ---- fixture --------------------------------------------------------------------- */

struct fix {
    struct app app;
    struct wsjwt_keyset *keys;
    struct wsjwt_policy *policy;
    struct wsjwt_key *sign_key;
    struct wsjwt_server *srv;
    int port;
};

static struct fix *fix_start(int keep_jwt, size_t max_backpressure)
{
    struct fix *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->app.mu, NULL);
    struct wsjwt_key *k = NULL;
    assert_int_equal(wsjwt_key_from_secret(SECRET, strlen(SECRET), &k), 0);
    assert_int_equal(wsjwt_keyset_new(&f->keys), 0);
    assert_int_equal(wsjwt_keyset_add(f->keys, k), 0);
    assert_int_equal(wsjwt_key_from_secret(SECRET, strlen(SECRET), &f->sign_key), 0);
    enum wsjwt_alg algs[] = {WSJWT_ALG_HS256};
    struct wsjwt_policy_opts po;
    memset(&po, 0, sizeof(po));
    po.algs = algs;
    po.n_algs = 1;
    assert_int_equal(wsjwt_policy_new(&po, &f->policy), 0);

    struct wsjwt_server_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.threads = 1;
    cfg.keys = f->keys;
    cfg.policy = f->policy;
    cfg.keep_jwt = keep_jwt;
    cfg.max_backpressure = max_backpressure;
    cfg.on_drain = on_drain;
    cfg.log_level = WSJWT_LOG_OFF;
    cfg.on_upgrade = on_upgrade;
    cfg.on_open = on_open;
    cfg.on_message = on_message;
    cfg.on_close = on_close;
    cfg.user = &f->app;
    assert_int_equal(wsjwt_server_new(&cfg, &f->srv), 0);
    f->app.srv = f->srv;
    f->port = wsjwt_server_port(f->srv);
    assert_true(f->port > 0);
    assert_int_equal(wsjwt_server_start(f->srv), 0);
    assert_int_equal(wsjwt_server_start(f->srv), WSJWT_ESTATE);
    return f;
}

static void fix_stop(struct fix *f)
{
    wsjwt_server_stop(f->srv);
    assert_int_equal(wsjwt_server_wait(f->srv), 0);
    assert_int_equal(f->app.bad, 0);
    wsjwt_server_free(f->srv);
    wsjwt_policy_free(f->policy);
    wsjwt_keyset_unref(f->keys);
    wsjwt_key_free(f->sign_key);
    pthread_mutex_destroy(&f->app.mu);
    free(f);
}

static char *make_token(struct fix *f, const char *sub)
{
    char payload[128];
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\"}", sub);
    struct wsjwt_sign_opts o;
    memset(&o, 0, sizeof(o));
    o.alg = WSJWT_ALG_HS256;
    o.payload_json = payload;
    o.now = (int64_t)time(NULL);
    o.has_expires_in = 1;
    o.expires_in = 3600;
    char *tok = NULL;
    size_t len = 0;
    assert_int_equal(wsjwt_jwt_sign(f->sign_key, &o, &tok, &len), 0);
    return tok;
}

/* ---- a blocking raw client ----------------------------------------------------------- */

static int cli_connect(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return s;
}

/* Sends an upgrade request; returns the response status (0: connection closed). */
/* Reads a response head into head (NUL-terminated); returns the status, 0
 * when the connection closed first. */
static int cli_read_head(int s, char *head, size_t cap)
{
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t r = recv(s, head + len, 1, 0);
        if (r <= 0)
            return 0;
        len++;
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[len] = '\0';
    if (strncmp(head, "HTTP/1.1 ", 9) != 0)
        return -1;
    return atoi(head + 9);
}

/* Sends an upgrade request with extra header lines (each ending in CRLF);
 * returns the response status, the head in head. */
static int cli_upgrade_ex(int s, const char *path, const char *tok, const char *extra, char *head, size_t cap)
{
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "X-Custom: hello\r\n%s%s%s%s\r\n",
                     path, tok ? "token: " : "", tok ? tok : "", tok ? "\r\n" : "", extra ? extra : "");
    assert_int_equal(send(s, req, (size_t)n, 0), n);
    return cli_read_head(s, head, cap);
}

static int cli_upgrade(int s, const char *path, const char *tok)
{
    char head[2048];
    return cli_upgrade_ex(s, path, tok, NULL, head, sizeof(head));
}

static void cli_send(int s, unsigned opcode, const void *data, size_t len)
{
    uint8_t f[200];
    const uint8_t mask[4] = {1, 2, 3, 4};
    assert_true(len <= 125);
    f[0] = (uint8_t)(0x80 | opcode);
    f[1] = (uint8_t)(0x80 | len);
    memcpy(f + 2, mask, 4);
    for (size_t i = 0; i < len; i++)
        f[6 + i] = ((const uint8_t *)data)[i] ^ mask[i & 3];
    assert_int_equal(send(s, f, 6 + len, 0), (ssize_t)(6 + len));
}

static int recv_all(int s, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(s, (char *)buf + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Reads one small unmasked server frame: returns the opcode, -1 on EOF. */
static int cli_recv(int s, uint8_t *payload, size_t *len)
{
    uint8_t h[2];
    if (recv_all(s, h, 2) != 0)
        return -1;
    size_t n = h[1] & 0x7f;
    assert_true(n <= 125);
    assert_int_equal(h[1] & 0x80, 0);
    if (n && recv_all(s, payload, n) != 0)
        return -1;
    *len = n;
    return h[0] & 0x0f;
}

static int cli_close_code(int s)
{
    uint8_t p[128];
    size_t n;
    int op;
    while ((op = cli_recv(s, p, &n)) >= 0)
        if (op == 8)
            return n >= 2 ? (p[0] << 8 | p[1]) : 1005;
    return -1;
}

/* Waits (bounded) until the app counter reaches want. */
static int wait_count(struct app *a, const int *counter, int want)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&a->mu);
        int v = *counter;
        pthread_mutex_unlock(&a->mu);
        if (v >= want)
            return v;
        usleep(10000);
    }
    return *counter;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_upgrade_hook_accepts_and_refuses(void **state)
{
    (void)state;
    struct fix *f = fix_start(0, 0);
    char *tok = make_token(f, "alice");
    int s = cli_connect(f->port);
    assert_int_equal(cli_upgrade(s, "/room/1?x=1&y", tok), 101);
    assert_string_equal(f->app.path, "/room/1");
    assert_string_equal(f->app.query, "x=1&y");
    assert_string_equal(f->app.custom, "hello");
    wait_count(&f->app, &f->app.opens, 1);
    assert_string_equal(f->app.last_sub, "alice");
    cli_send(s, 1, "hi", 2);
    uint8_t p[128];
    size_t n;
    assert_int_equal(cli_recv(s, p, &n), 1);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "hi", 2);
    /* Without keep_jwt the token object is gone after on_open. */
    assert_int_equal(f->app.jwt_in_message, 0);
    cli_send(s, 8, "\x03\xe8", 2);
    assert_int_equal(cli_close_code(s), 1000);
    close(s);
    assert_int_equal(wait_count(&f->app, &f->app.closes, 1), 1);
    assert_int_equal(f->app.last_close_code, 1000);

    s = cli_connect(f->port);
    assert_int_equal(cli_upgrade(s, "/refuse", tok), 403);
    assert_string_equal(f->app.query, "(none)");
    close(s);
    /* A refused connection was never opened: no on_close for it. */
    usleep(100000);
    assert_int_equal(f->app.closes, 1);

    s = cli_connect(f->port);
    assert_int_equal(cli_upgrade(s, "/", NULL), 401);
    close(s);

    struct wsjwt_server_stats st;
    wsjwt_server_stats(f->srv, &st);
    assert_int_equal(st.upgraded, 1);
    assert_int_equal(st.refused, 2);
    assert_int_equal(st.messages_in, 1);
    wsjwt_free(tok);
    fix_stop(f);
}

static void test_deferred_upgrade(void **state)
{
    (void)state;
    struct fix *f = fix_start(1, 0);
    char *tok = make_token(f, "bob");
    int ctl = cli_connect(f->port);
    assert_int_equal(cli_upgrade(ctl, "/", tok), 101);
    /* Two deferred upgrades: the answer comes from the control connection's
     * on_message, on the loop thread. */
    int d1 = cli_connect(f->port);
    int d2 = cli_connect(f->port);
    char req[1024];
    snprintf(req, sizeof(req),
             "GET /defer HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\ntoken: %s\r\n\r\n",
             tok);
    send(d1, req, strlen(req), 0);
    send(d2, req, strlen(req), 0);
    wait_count(&f->app, &f->app.n_deferred, 2);
    cli_send(ctl, 1, "accept", 6);
    uint8_t p[128];
    size_t n;
    assert_int_equal(cli_recv(ctl, p, &n), 1); /* "accept" echoed after answering */
    char head[512];
    ssize_t r = recv(d1, head, sizeof(head) - 1, 0);
    assert_true(r > 12);
    head[r] = '\0';
    assert_non_null(strstr(head, "HTTP/1.1 101"));
    r = recv(d2, head, sizeof(head) - 1, 0);
    assert_true(r > 12);
    head[r] = '\0';
    assert_non_null(strstr(head, "HTTP/1.1 101"));
    /* A deferred-then-accepted connection echoes; keep_jwt keeps the token. */
    cli_send(d1, 1, "x", 1);
    assert_int_equal(cli_recv(d1, p, &n), 1);
    assert_int_equal(f->app.jwt_in_message, 1);

    int d3 = cli_connect(f->port);
    send(d3, req, strlen(req), 0);
    wait_count(&f->app, &f->app.n_deferred, 1);
    cli_send(ctl, 1, "refuse", 6);
    r = recv(d3, head, sizeof(head) - 1, 0);
    assert_true(r > 12);
    head[r] = '\0';
    assert_non_null(strstr(head, "HTTP/1.1 429"));
    close(d1);
    close(d2);
    close(d3);
    close(ctl);
    /* ctl, d1, d2 opened; d3 deferred then refused: four on_close calls. */
    assert_int_equal(wait_count(&f->app, &f->app.closes, 4), 4);
    wsjwt_free(tok);
    fix_stop(f);
}

static void test_close_from_inside_callbacks(void **state)
{
    (void)state;
    struct fix *f = fix_start(0, 0);
    char *tok = make_token(f, "close-in-open");
    int s = cli_connect(f->port);
    assert_int_equal(cli_upgrade(s, "/", tok), 101);
    assert_int_equal(cli_close_code(s), 4000);
    close(s);
    wsjwt_free(tok);

    tok = make_token(f, "carol");
    s = cli_connect(f->port);
    assert_int_equal(cli_upgrade(s, "/", tok), 101);
    cli_send(s, 1, "close", 5);
    assert_int_equal(cli_close_code(s), 4001);
    assert_int_equal(f->app.send_after_close, WSJWT_ESTATE);
    /* Answer the close: the server then ends TCP. */
    cli_send(s, 8, "\x0f\xa1", 2);
    char b;
    assert_true(recv(s, &b, 1, 0) <= 0);
    close(s);
    assert_int_equal(wait_count(&f->app, &f->app.closes, 2), 2);
    assert_int_equal(f->app.last_close_code, 4001);
    wsjwt_free(tok);
    fix_stop(f);
}

static void test_backpressure_and_drain(void **state)
{
    (void)state;
    struct fix *f = fix_start(0, 65536);
    char *tok = make_token(f, "dave");
    int s = cli_connect(f->port);
    assert_int_equal(cli_upgrade(s, "/", tok), 101);
    cli_send(s, 1, "flood", 5);
    /* The server queued messages until its queue passed the cap, got
     * WSJWT_EBACKPRESSURE, and is waiting for us to read. */
    int n = wait_count(&f->app, &f->app.floods, 1);
    assert_true(n > 4 && n < 4096);
    assert_int_equal(f->app.drains, 0);
    static uint8_t buf[16384];
    for (int i = 0; i < n; i++) {
        uint8_t h[4];
        assert_int_equal(recv_all(s, h, 4), 0);
        assert_int_equal(h[0], 0x82);
        assert_int_equal(h[1], 126);
        assert_int_equal(h[2] << 8 | h[3], 16384);
        assert_int_equal(recv_all(s, buf, sizeof(buf)), 0);
    }
    /* Once the queue is empty, on_drain. */
    assert_int_equal(wait_count(&f->app, &f->app.drains, 1), 1);
    struct wsjwt_server_stats st;
    wsjwt_server_stats(f->srv, &st);
    assert_int_equal(st.backpressure, 1);
    close(s);
    wsjwt_free(tok);
    fix_stop(f);
}

static void test_burst_of_small_frames(void **state)
{
    (void)state;
    struct fix *f = fix_start(0, 8 * 1024 * 1024);
    char *tok = make_token(f, "erin");
    int s = cli_connect(f->port);
    assert_int_equal(cli_upgrade(s, "/", tok), 101);
    cli_send(s, 1, "burst", 5);
    uint8_t p[128];
    for (int i = 0; i < 20000; i++) {
        size_t n = 0;
        assert_int_equal(cli_recv(s, p, &n), 2);
        assert_int_equal(n, 2);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(p[k], (uint8_t)i);
    }
    close(s);
    wsjwt_free(tok);
    fix_stop(f);
}

/* Writes a masked client frame with any payload length into out; returns
 * its size. */
static size_t cli_frame(uint8_t *out, unsigned opcode, const uint8_t *data, size_t len)
{
    const uint8_t mask[4] = {0x5a, 0x01, 0xc3, 0x7e};
    size_t h = 2;
    out[0] = (uint8_t)(0x80 | opcode);
    if (len <= 125) {
        out[1] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    memcpy(out + h, mask, 4);
    for (size_t i = 0; i < len; i++)
        out[h + 4 + i] = data[i] ^ mask[i & 3];
    return h + 4 + len;
}

/* Reads one unmasked server frame of any length into payload (cap bytes):
 * returns the opcode, -1 on EOF. */
static int cli_recv_big(int s, uint8_t *payload, size_t cap, size_t *len)
{
    uint8_t h[8];
    if (recv_all(s, h, 2) != 0)
        return -1;
    size_t n = h[1] & 0x7f;
    int op = h[0] & 0x0f;
    assert_int_equal(h[1] & 0x80, 0);
    if (n == 126) {
        if (recv_all(s, h, 2) != 0)
            return -1;
        n = (size_t)h[0] << 8 | h[1];
    } else if (n == 127) {
        if (recv_all(s, h, 8) != 0)
            return -1;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | h[i];
    }
    assert_true(n <= cap);
    if (n && recv_all(s, payload, n) != 0)
        return -1;
    *len = n;
    return op;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 9));
}

/* Receives one binary frame and checks that it is fill(len, seed). */
static void expect_filled(int s, uint8_t *msg, uint8_t *back, size_t cap, size_t len, unsigned seed)
{
    size_t got = 0;
    fill(msg, len, seed);
    assert_int_equal(cli_recv_big(s, back, cap, &got), 2);
    assert_int_equal(got, len);
    assert_memory_equal(back, msg, len);
}

/* Large messages that a read cuts: the server reads a message's remainder
 * straight after its first part when it has arrived (delivered in place),
 * and copies it into the connection's buffer when it has not, or when it
 * would not fit in the receive buffer. Whatever the path, every byte comes
 * back, in order, and a bad UTF-8 byte at the end of a cut text message
 * still fails the connection with 1007. */
static void large_cut_by_reads(const struct fix *f, const char *tok, uint8_t *wire, uint8_t *msg,
                               uint8_t *back, size_t cap)
{
    int s = cli_connect(f->port);
    assert_int_equal(cli_upgrade(s, "/", tok), 101);

    /* Four 64 KiB messages in one send: the decoder finds the first three
     * whole when the first read took 256 KiB. */
    size_t n = 0;
    for (unsigned i = 0; i < 4; i++) {
        fill(msg, 65536, i);
        n += cli_frame(wire + n, 2, msg, 65536);
    }
    assert_int_equal(send(s, wire, n, 0), (ssize_t)n);
    for (unsigned i = 0; i < 4; i++)
        expect_filled(s, msg, back, cap, 65536, i);

    /* 100 KiB whose second part is sent 50 ms after the first. */
    fill(msg, 100 * 1024, 7);
    n = cli_frame(wire, 2, msg, 100 * 1024);
    assert_int_equal(send(s, wire, 10000, 0), 10000);
    usleep(50000);
    assert_int_equal(send(s, wire + 10000, n - 10000, 0), (ssize_t)(n - 10000));
    expect_filled(s, msg, back, cap, 100 * 1024, 7);

    /* 600 KiB: more than the receive buffer holds. */
    fill(msg, 600 * 1024, 9);
    n = cli_frame(wire, 2, msg, 600 * 1024);
    assert_int_equal(send(s, wire, n, 0), (ssize_t)n);
    expect_filled(s, msg, back, cap, 600 * 1024, 9);

    /* 500 KiB of binary, then 70 KiB of ASCII text whose last byte is not
     * UTF-8, in one send: the text is cut by a 512 KiB read. */
    fill(msg, 500 * 1024, 3);
    n = cli_frame(wire, 2, msg, 500 * 1024);
    memset(msg, 'a', 70 * 1024);
    msg[70 * 1024 - 1] = 0xff;
    n += cli_frame(wire + n, 1, msg, 70 * 1024);
    assert_int_equal(send(s, wire, n, 0), (ssize_t)n);
    expect_filled(s, msg, back, cap, 500 * 1024, 3);
    assert_int_equal(cli_close_code(s), 1007);
    close(s);
}

/* Echoes of large payloads leave by reference to the receive buffer, the
 * echoes of one read in one write: order with small frames and a close sent
 * from the same read is kept, and so are the bytes when the socket takes only
 * part of the write (the peer reads nothing until it has sent 40 messages). */
static void large_echoes_in_order(const struct fix *f, const char *tok, uint8_t *wire, uint8_t *msg,
                                  uint8_t *back, size_t cap)
{
    size_t n = 0, len = 0;
    int s = cli_connect(f->port);
    assert_int_equal(cli_upgrade(s, "/", tok), 101);

    for (unsigned i = 0; i < 40; i++) {
        fill(msg, 65536 + i, i);
        n += cli_frame(wire + n, 2, msg, 65536 + i);
    }
    assert_int_equal(send(s, wire, n, 0), (ssize_t)n);
    for (unsigned i = 0; i < 40; i++) {
        expect_filled(s, msg, back, cap, 65536 + i, i);
    }

    fill(msg, 20000, 1);
    n = cli_frame(wire, 2, msg, 20000);
    n += cli_frame(wire + n, 1, (const uint8_t *)"hello", 5);
    fill(msg, 30000, 2);
    n += cli_frame(wire + n, 2, msg, 30000);
    n += cli_frame(wire + n, 1, (const uint8_t *)"close", 5);
    assert_int_equal(send(s, wire, n, 0), (ssize_t)n);
    expect_filled(s, msg, back, cap, 20000, 1);
    assert_int_equal(cli_recv_big(s, back, cap, &len), 1);
    assert_int_equal(len, 5);
    assert_memory_equal(back, "hello", 5);
    expect_filled(s, msg, back, cap, 30000, 2);
    assert_int_equal(cli_close_code(s), 4001);
    close(s);
}

static void test_large_messages(void **state)
{
    (void)state;
    struct fix *f = fix_start(0, 8 * 1024 * 1024);
    char *tok = make_token(f, "frank");
    size_t cap = 700 * 1024;
    uint8_t *wire = malloc(40 * 65600), *msg = malloc(cap), *back = malloc(cap);
    large_cut_by_reads(f, tok, wire, msg, back, cap);
    large_echoes_in_order(f, tok, wire, msg, back, cap);
    free(wire);
    free(msg);
    free(back);
    wsjwt_free(tok);
    fix_stop(f);
}

static void test_select_protocol(void **state)
{
    (void)state;
    struct fix *f = fix_start(0, 0);
    char *tok = make_token(f, "frank");
    char head[2048];
    int s = cli_connect(f->port);
    assert_int_equal(cli_upgrade_ex(s, "/", tok,
                                    "Sec-WebSocket-Protocol: chat, superchat\r\nX-Select: superchat\r\n",
                                    head, sizeof(head)),
                     101);
    assert_int_equal(f->app.select_rc, 0);
    assert_non_null(strstr(head, "Sec-WebSocket-Protocol: superchat\r\n"));
    close(s);

    /* Not offered: refused, and the 101 carries no subprotocol. */
    s = cli_connect(f->port);
    assert_int_equal(cli_upgrade_ex(s, "/", tok, "Sec-WebSocket-Protocol: chat\r\nX-Select: superchat\r\n",
                                    head, sizeof(head)),
                     101);
    assert_int_equal(f->app.select_rc, WSJWT_ENOENT);
    assert_null(strstr(head, "Sec-WebSocket-Protocol"));
    close(s);

    /* Kept across a deferred answer. */
    int ctl = cli_connect(f->port);
    assert_int_equal(cli_upgrade(ctl, "/", tok), 101);
    s = cli_connect(f->port);
    char req[1024];
    snprintf(req, sizeof(req),
             "GET /defer HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\ntoken: %s\r\n"
             "Sec-WebSocket-Protocol: v1.chat\r\nX-Select: v1.chat\r\n\r\n",
             tok);
    send(s, req, strlen(req), 0);
    wait_count(&f->app, &f->app.n_deferred, 1);
    cli_send(ctl, 1, "accept", 6);
    assert_int_equal(cli_read_head(s, head, sizeof(head)), 101);
    assert_non_null(strstr(head, "Sec-WebSocket-Protocol: v1.chat\r\n"));
    close(s);
    close(ctl);
    wsjwt_free(tok);
    fix_stop(f);
}

static void test_config_checks(void **state)
{
    (void)state;
    struct wsjwt_server_config cfg;
    struct wsjwt_server *srv = NULL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.threads = 1;
    /* No keys and no insecure_no_auth: refused. */
    assert_int_equal(wsjwt_server_new(&cfg, &srv), WSJWT_EINVAL);
    assert_null(srv);
    /* A cookie token without an Origin allow-list: refused. */
    cfg.insecure_no_auth = 1;
    cfg.token_sources = WSJWT_TOKEN_FROM_COOKIE;
    cfg.token_cookie = "jwt";
    assert_int_equal(wsjwt_server_new(&cfg, &srv), WSJWT_EINVAL);
    const char *origins[] = {"https://app.example.com"};
    cfg.origins = origins;
    cfg.n_origins = 1;
    assert_int_equal(wsjwt_server_new(&cfg, &srv), 0);
    wsjwt_server_free(srv);
    /* Port out of range. */
    cfg.port = 70000;
    assert_int_equal(wsjwt_server_new(&cfg, &srv), WSJWT_EINVAL);
}

static void test_insecure_no_auth_and_threads(void **state)
{
    (void)state;
    struct wsjwt_server_config cfg;
    struct wsjwt_server *srv = NULL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.threads = 2;
    cfg.insecure_no_auth = 1;
    cfg.log_level = WSJWT_LOG_OFF;
    assert_int_equal(wsjwt_server_new(&cfg, &srv), 0);
    assert_int_equal(wsjwt_server_start(srv), 0);
    for (int i = 0; i < 8; i++) {
        int s = cli_connect(wsjwt_server_port(srv));
        assert_int_equal(cli_upgrade(s, "/", NULL), 101);
        close(s);
    }
    wsjwt_server_stop(srv);
    wsjwt_server_stop(srv); /* idempotent */
    assert_int_equal(wsjwt_server_wait(srv), 0);
    struct wsjwt_server_stats st;
    wsjwt_server_stats(srv, &st);
    assert_int_equal(st.upgraded, 8);
    wsjwt_server_free(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* clang-format off */
        cmocka_unit_test(test_upgrade_hook_accepts_and_refuses),
        cmocka_unit_test(test_deferred_upgrade),
        cmocka_unit_test(test_close_from_inside_callbacks),
        cmocka_unit_test(test_backpressure_and_drain),
        cmocka_unit_test(test_burst_of_small_frames),
        cmocka_unit_test(test_large_messages),
        cmocka_unit_test(test_select_protocol),
        cmocka_unit_test(test_config_checks),
        cmocka_unit_test(test_insecure_no_auth_and_threads),
        /* clang-format on */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
