/* The client library against a scripted raw server on 127.0.0.1 (same loop):
 * the server reads the upgrade request, answers with canned bytes (the real
 * Sec-WebSocket-Accept substituted for "{ACCEPT}"), sends canned frames, and
 * records what the client sends, which the test decodes with the server-side
 * frame decoder. Covers: open and messages (also byte-by-byte delivery),
 * masking of every client frame, the close handshake both ways, refused
 * upgrades with status and headers, bad Accept, token echoed as subprotocol,
 * and the strict frame rules (masked server frame, bad UTF-8, message cap)
 * with the close code the client sends. Plus the URL parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <wsjwt/client.h>

#include <sys/wait.h>
#include <unistd.h>

#include "client/internal.h"
#include "http/http.h"
#include "ws/ws.h"

/* ---- scripted server ------------------------------------------------------ */

struct script {
    const char *response;  /* head, "{ACCEPT}" replaced; NULL: never answer */
    const uint8_t *frames; /* sent after the head */
    size_t frames_len;
    int byte_by_byte;  /* send the frames one byte per loop turn */
    int server_closes; /* the frames end with a close frame */
};

struct world {
    uv_loop_t loop;
    uv_tcp_t listener, peer;
    uv_timer_t guard, drip;
    int port;
    struct script sc;
    char req[8192];
    size_t req_len;
    int head_done;
    uint8_t got[65536]; /* what the client sent after its head */
    size_t got_len;
    size_t drip_pos;
    char request_copy[8192];
    /* client events */
    struct wsjwt_client *c;
    int opened, errors, closed, messages;
    int last_err, status, close_code;
    char close_reason[128];
    char www_auth[128];
    char protocol[64];
    uint8_t msg[4096], first[64];
    size_t first_len;
    size_t msg_len;
    int msg_binary;
    /* what the test does on open */
    const char *send_on_open;
    int close_on_open;
    int free_on_error;
    int flood; /* on open: send 64 KiB messages until refused, then free */
    int flood_rc;
    size_t flood_sent, flood_queued;
    int cork_later; /* on open: a turn later, send corked (1), or free while corked (2) */
    size_t cork_q[3];
    int wire; /* on open and a turn later: wsjwt_client_bench_send_wire (test_send_wire) */
    uint8_t wire_keys[4][4];
    size_t wire_q;
};

static void on_peer_closed(uv_handle_t *h)
{
    (void)h;
}

static int peer_write(struct world *w, const void *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    return uv_try_write((uv_stream_t *)&w->peer, &b, 1);
}

static void on_drip(uv_timer_t *t)
{
    struct world *w = t->data;
    if (w->drip_pos < w->sc.frames_len) {
        peer_write(w, w->sc.frames + w->drip_pos, 1);
        w->drip_pos++;
    } else {
        uv_timer_stop(t);
    }
}

static void answer(struct world *w)
{
    const char *key_hdr = strstr(w->req, "Sec-WebSocket-Key: ");
    assert_non_null(key_hdr);
    char accept[WSJWT_WS_ACCEPT_LEN + 1];
    wsjwt__ws_accept(key_hdr + 19, WSJWT_WS_KEY_LEN, accept);
    accept[WSJWT_WS_ACCEPT_LEN] = 0;
    char out[2048];
    const char *at = strstr(w->sc.response, "{ACCEPT}");
    if (at)
        snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - w->sc.response), w->sc.response, accept, at + 8);
    else
        snprintf(out, sizeof(out), "%s", w->sc.response);
    assert_int_equal(peer_write(w, out, strlen(out)), (int)strlen(out));
    if (!w->sc.frames_len)
        return;
    if (w->sc.byte_by_byte)
        uv_timer_start(&w->drip, on_drip, 1, 1);
    else
        assert_int_equal(peer_write(w, w->sc.frames, w->sc.frames_len), (int)w->sc.frames_len);
}

/* Decodes what the client sent as a server would (masks required). Returns
 * the number of frames; fills the first data payload and the close code. */
static int client_frames(struct world *w, uint8_t *text, size_t *text_len, unsigned *close_code)
{
    struct wsjwt__ws_config cfg;
    struct wsjwt__ws_decoder d;
    wsjwt__ws_config_init(&cfg, 1);
    wsjwt__ws_decoder_init(&d, &cfg);
    size_t off = 0;
    int frames = 0;
    *close_code = 0;
    static uint8_t copy[sizeof(w->got)]; /* the decoder unmasks in place */
    memcpy(copy, w->got, w->got_len);
    while (off < w->got_len) {
        struct wsjwt__ws_event ev;
        size_t used = 0;
        int rc = wsjwt__ws_decode(&d, copy + off, w->got_len - off, &used, &ev);
        assert_true(rc == 0 || rc == WSJWT_EAGAIN); /* WSJWT_EWS_UNMASKED would fail here */
        off += used;
        if (rc)
            break;
        frames++;
        if (ev.opcode == WSJWT__WS_CLOSE)
            *close_code = ev.close_code ? ev.close_code : 1005; /* 1005: a close without a code */
        else if (text && ev.opcode == WSJWT__WS_TEXT) {
            memcpy(text, ev.data, ev.len);
            *text_len = ev.len;
        }
    }
    return frames;
}

static void peer_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[65536];
    (void)h;
    (void)hint;
    *b = uv_buf_init(buf, sizeof(buf));
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct world *w = s->data;
    if (n < 0) {
        uv_read_stop(s);
        uv_close((uv_handle_t *)s, on_peer_closed);
        return;
    }
    size_t off = 0;
    if (!w->head_done) {
        size_t take =
            (size_t)n < sizeof(w->req) - 1 - w->req_len ? (size_t)n : sizeof(w->req) - 1 - w->req_len;
        memcpy(w->req + w->req_len, b->base, take);
        w->req_len += take;
        w->req[w->req_len] = 0;
        char *end = strstr(w->req, "\r\n\r\n");
        if (!end)
            return;
        size_t head = (size_t)(end + 4 - w->req);
        off = (size_t)n - (w->req_len - head);
        w->head_done = 1;
        memcpy(w->request_copy, w->req, head);
        if (w->sc.response)
            answer(w);
    }
    size_t rest = (size_t)n - off;
    if (w->got_len + rest <= sizeof(w->got)) {
        memcpy(w->got + w->got_len, b->base + off, rest);
        w->got_len += rest;
    }
    /* Once the client sent a close: answer it (unless the script closed
     * first) and end the TCP connection, as a server does (RFC 6455 7.1.1). */
    unsigned cc = 0;
    if (client_frames(w, NULL, NULL, &cc) && cc) {
        static const uint8_t close_1000[] = {0x88, 0x02, 0x03, 0xe8};
        if (!w->sc.server_closes)
            (void)peer_write(w, close_1000, sizeof(close_1000)); /* the client may be gone */
        uv_read_stop(s);
        uv_close((uv_handle_t *)s, on_peer_closed);
    }
}

static void on_conn(uv_stream_t *l, int status)
{
    struct world *w = l->data;
    assert_int_equal(status, 0);
    uv_tcp_init(&w->loop, &w->peer);
    w->peer.data = w;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&w->peer), 0);
    uv_read_start((uv_stream_t *)&w->peer, peer_alloc, peer_read);
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
    fail_msg("test took too long");
}

/* The tests run their loop with uv_run, or (use_client_run) with
 * wsjwt_client_run, counting its turns: the scripted server, timers and
 * clients must behave the same either way. */
static int use_client_run;
static unsigned long turns;

static void count_turn(void *arg)
{
    (void)arg;
    turns++;
}

static void loop_run(uv_loop_t *loop)
{
    if (use_client_run == 2) /* a turn at least every 200 us */
        assert_int_equal(wsjwt_client_run_every(loop, 200, count_turn, NULL), 0);
    else if (use_client_run)
        assert_int_equal(wsjwt_client_run(loop, count_turn, NULL), 0);
    else
        uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- client callbacks ------------------------------------------------------ */

static void world_end(struct world *w);

static void on_cork_turn(uv_timer_t *t);
static void on_wire_turn(uv_timer_t *t);
static const uint8_t *wire_bytes(void);
#define WIRE_BIG 20000u

static void cb_open(struct wsjwt_client *c, const char *protocol, void *user)
{
    struct world *w = user;
    w->opened++;
    if (w->cork_later)
        uv_timer_start(&w->drip, on_cork_turn, 0, 0);
    if (w->wire) {
        /* From a callback: all held until it returns, the large ones as
         * segments of the caller's bytes around the cork's. */
        const uint8_t *b = wire_bytes();
        assert_int_equal(wsjwt_client_bench_send_wire(c, b, 5, w->wire_keys[0]), 0);
        assert_int_equal(wsjwt_client_bench_send_wire(c, b, WIRE_BIG, w->wire_keys[1]), 0);
        assert_int_equal(wsjwt_client_send(c, 0, "mid", 3), 0);
        assert_int_equal(wsjwt_client_bench_send_wire(c, b + 1, WIRE_BIG, w->wire_keys[2]), 0);
        assert_int_equal(wsjwt_client_bench_send_wire(c, b, 1, NULL), WSJWT_EINVAL);
        w->wire_q = wsjwt_client_queued(c);
        /* max_send_queue (40 100) counts the segments too: 100 more bytes
         * do not fit, by either way of sending, and nothing is queued */
        uint8_t k[4];
        assert_int_equal(wsjwt_client_bench_send_wire(c, b, 100, k), WSJWT_EBACKPRESSURE);
        assert_int_equal(wsjwt_client_send(c, 1, b, 100), WSJWT_EBACKPRESSURE);
        assert_int_equal(wsjwt_client_queued(c), w->wire_q);
        uv_timer_start(&w->drip, on_wire_turn, 0, 0);
    }
    if (protocol)
        snprintf(w->protocol, sizeof(w->protocol), "%s", protocol);
    if (w->send_on_open)
        assert_int_equal(wsjwt_client_send(c, 0, w->send_on_open, strlen(w->send_on_open)), 0);
    if (w->close_on_open)
        assert_int_equal(wsjwt_client_close(c, 4000, "done here"), 0);
    if (w->flood) {
        static uint8_t big[65536];
        int rc = 0;
        while (w->flood_sent < 1000 && (rc = wsjwt_client_send(c, 1, big, sizeof(big))) == 0)
            w->flood_sent++;
        w->flood_rc = rc;
        w->flood_queued = wsjwt_client_queued(c);
        wsjwt_client_free(c);
        w->c = NULL;
        world_end(w);
    }
}

static void cb_message(struct wsjwt_client *c, int binary, const uint8_t *data, size_t len, void *user)
{
    struct world *w = user;
    (void)c;
    if (w->messages++ == 0) {
        w->first_len = len < sizeof(w->first) ? len : sizeof(w->first);
        memcpy(w->first, data, w->first_len);
    }
    w->msg_binary = binary;
    w->msg_len = len < sizeof(w->msg) ? len : sizeof(w->msg);
    memcpy(w->msg, data, w->msg_len);
}

static void cb_error(struct wsjwt_client *c, int err, const struct wsjwt_client_response *r, void *user)
{
    struct world *w = user;
    w->errors++;
    w->last_err = err;
    if (r) {
        w->status = r->status;
        const struct wsjwt_client_header *h = wsjwt_client_response_header(r, "www-authenticate");
        if (h)
            snprintf(w->www_auth, sizeof(w->www_auth), "%.*s", (int)h->value_len, h->value);
    }
    if (w->free_on_error) {
        wsjwt_client_free(c); /* from inside a callback: must be safe */
        w->c = NULL;
        world_end(w);
    }
}

/* The end of a run: the listener and timers go; the peer connection goes
 * when it reads the client's FIN (so it still reads what came before). */
static void world_end(struct world *w)
{
    uv_close((uv_handle_t *)&w->listener, NULL);
    uv_close((uv_handle_t *)&w->guard, NULL);
    uv_close((uv_handle_t *)&w->drip, NULL);
}

static void cb_close(struct wsjwt_client *c, int code, const char *reason, size_t len, void *user)
{
    struct world *w = user;
    (void)c;
    w->closed++;
    w->close_code = code;
    snprintf(w->close_reason, sizeof(w->close_reason), "%.*s", (int)len, reason);
    world_end(w);
}

/* Runs one scripted exchange to on_close. */
static struct world *run(const struct script *sc, struct wsjwt_client_opts *o, struct world *w)
{
    (void)o;
    memset(w, 0, sizeof(*w));
    w->sc = *sc;
    return w;
}

static void go(struct world *w, struct wsjwt_client_opts *o)
{
    assert_int_equal(uv_loop_init(&w->loop), 0);
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&w->listener, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&w->listener, 8, on_conn), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&w->listener, (struct sockaddr *)&ss, &len);
    w->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_timer_init(&w->loop, &w->guard);
    uv_timer_start(&w->guard, on_guard, 5000, 0);
    uv_timer_init(&w->loop, &w->drip);
    w->drip.data = w;
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/chat?room=1", w->port);
    o->url = url;
    o->user = w;
    o->cb = (struct wsjwt_client_callbacks){cb_open, cb_message, NULL, cb_error, cb_close};
    assert_int_equal(wsjwt_client_new(&w->loop, o, &w->c), 0);
    assert_int_equal(wsjwt_client_connect(w->c), 0);
    loop_run(&w->loop);
    wsjwt_client_free(w->c);
    loop_run(&w->loop);
    assert_int_equal(uv_loop_close(&w->loop), 0);
}

#define OK_101 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
#define ACCEPT "Sec-WebSocket-Accept: {ACCEPT}\r\n"

/* Outside the client's callbacks (a timer): two messages under two nested
 * corks; what is queued after each step. Or (cork_later 2) freed while
 * corked, then uncorked. */
static void on_cork_turn(uv_timer_t *t)
{
    struct world *w = t->data;
    struct wsjwt_client *c = w->c;
    wsjwt_client_cork(c);
    if (w->cork_later == 2) {
        assert_int_equal(wsjwt_client_send(c, 0, "one", 3), 0);
        wsjwt_client_free(c);
        w->c = NULL;
        wsjwt_client_uncork(c); /* the memory goes now, not at free */
        world_end(w);
        return;
    }
    wsjwt_client_cork(c);
    assert_int_equal(wsjwt_client_send(c, 0, "one", 3), 0);
    assert_int_equal(wsjwt_client_send(c, 0, "two", 3), 0);
    w->cork_q[0] = wsjwt_client_queued(c);
    wsjwt_client_uncork(c);
    w->cork_q[1] = wsjwt_client_queued(c);
    wsjwt_client_uncork(c);
    w->cork_q[2] = wsjwt_client_queued(c);
    wsjwt_client_uncork(c); /* one too many: ignored */
    wsjwt_client_cork(NULL);
    wsjwt_client_uncork(NULL);
    assert_int_equal(wsjwt_client_close(c, 4000, "done here"), 0);
}

/* The caller's wire bytes: any pattern but a constant one. */
static const uint8_t *wire_bytes(void)
{
    static uint8_t b[WIRE_BIG + 1];
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (uint8_t)(i * 7u + (i >> 8));
    return b;
}

/* Outside the callbacks: a large wire frame goes at once. */
static void on_wire_turn(uv_timer_t *t)
{
    struct world *w = t->data;
    assert_int_equal(wsjwt_client_bench_send_wire(w->c, wire_bytes(), WIRE_BIG, w->wire_keys[3]), 0);
    assert_int_equal(wsjwt_client_queued(w->c), 0);
    assert_int_equal(wsjwt_client_close(w->c, 4000, "done here"), 0);
}

/* wsjwt_client_bench_send_wire: the bytes on the wire are the caller's, under
 * a fresh key the call reports (so the payload is wire XOR key), in the
 * order sent, mixed with ordinary frames; small ones copied into the cork,
 * large ones sent from the caller's memory (segments), all in one write. */
static void test_send_wire(void **state)
{
    (void)state;
    struct script sc = {OK_101 ACCEPT "\r\n", NULL, 0, 0, 0};
    struct world *w = malloc(sizeof(*w));
    struct wsjwt_client_opts o = {.max_send_queue = 40100};
    run(&sc, &o, w);
    w->wire = 1;
    go(w, &o);
    assert_int_equal(w->opened, 1);
    assert_int_equal(w->errors, 0);
    /* held in the callback: 5 + 6, 20000 + 8, 3 + 6, 20000 + 8 bytes */
    assert_int_equal(w->wire_q, 11 + 20008 + 9 + 20008);
    const uint8_t *b = wire_bytes();
    struct {
        const uint8_t *wire;
        size_t len;
        int key; /* index in wire_keys, -1: the text frame */
    } want[] = {
        {b, 5, 0}, {b, WIRE_BIG, 1}, {(const uint8_t *)"mid", 3, -1}, {b + 1, WIRE_BIG, 2}, {b, WIRE_BIG, 3}};
    size_t off = 0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const uint8_t *f = w->got + off;
        assert_true(off + 8 <= w->got_len);
        size_t len = f[1] & 0x7fu, hs = 6;
        if (len == 126) {
            len = (size_t)f[2] << 8 | f[3];
            hs = 8;
        }
        assert_int_equal(f[1] & 0x80u, 0x80u); /* masked */
        assert_int_equal(len, want[i].len);
        assert_true(off + hs + len <= w->got_len);
        const uint8_t *key = f + hs - 4, *pl = f + hs;
        if (want[i].key < 0) {
            assert_int_equal(f[0], 0x81);
            for (size_t k = 0; k < len; k++)
                assert_int_equal(pl[k] ^ key[k & 3u], want[i].wire[k]);
        } else {
            assert_int_equal(f[0], 0x82); /* FIN, binary, no RSV bit */
            assert_memory_equal(key, w->wire_keys[want[i].key], 4);
            assert_memory_equal(pl, want[i].wire, len); /* the caller's bytes as they are */
        }
        off += hs + len;
    }
    /* a fresh key each (the odds of two equal among four are 6 in 2^32) */
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            assert_memory_not_equal(w->wire_keys[i], w->wire_keys[j], 4);
    unsigned cc;
    assert_int_equal(client_frames(w, NULL, NULL, &cc), 6);
    assert_int_equal(cc, 4000);
    free(w);
}

/* wsjwt_client_cork: frames sent outside the client's callbacks wait until
 * the last uncork, then all go (in one write); a client freed while corked
 * is released at the uncork (ASan: no leak, no use after free). */
static void test_cork(void **state)
{
    (void)state;
    struct script sc = {OK_101 ACCEPT "\r\n", NULL, 0, 0, 0};
    struct world *w = malloc(sizeof(*w));
    struct wsjwt_client_opts o = {0};
    run(&sc, &o, w);
    w->cork_later = 1;
    go(w, &o);
    assert_int_equal(w->opened, 1);
    assert_int_equal(w->cork_q[0], 2 * (6 + 3)); /* two masked frames of 3 bytes held */
    assert_int_equal(w->cork_q[1], 2 * (6 + 3)); /* still corked once */
    assert_int_equal(w->cork_q[2], 0);           /* written at the last uncork */
    uint8_t text[64];
    size_t tl = 0;
    unsigned cc;
    assert_int_equal(client_frames(w, text, &tl, &cc), 3);
    assert_int_equal(tl, 3);
    assert_memory_equal(text, "two", 3);
    assert_int_equal(cc, 4000);
    run(&sc, &o, w);
    w->cork_later = 2;
    go(w, &o);
    assert_int_equal(w->opened, 1);
    assert_int_equal(w->closed, 0); /* freed: no callback after */
    free(w);
}

static void test_echo_and_server_close(void **state)
{
    (void)state;
    static const uint8_t frames[] = {0x81, 0x02, 'h', 'i', 0x88, 0x06, 0x03, 0xe8, 'b', 'y', 'e', '!'};
    struct script sc = {OK_101 ACCEPT "\r\n", frames, sizeof(frames), 0, 1};
    struct world *w = malloc(sizeof(*w));
    struct wsjwt_client_opts o = {.token = "tok.en.x"};
    run(&sc, &o, w);
    w->send_on_open = "hello server";
    go(w, &o);
    assert_int_equal(w->opened, 1);
    assert_int_equal(w->errors, 0);
    assert_int_equal(w->messages, 1);
    assert_int_equal(w->msg_len, 2);
    assert_memory_equal(w->msg, "hi", 2);
    assert_int_equal(w->close_code, 1000);
    assert_string_equal(w->close_reason, "bye!");
    /* the request: target, token header, version */
    assert_non_null(strstr(w->request_copy, "GET /chat?room=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(w->request_copy, "\r\ntoken: tok.en.x\r\n"));
    assert_non_null(strstr(w->request_copy, "Sec-WebSocket-Version: 13\r\n"));
    /* what the client sent: its text (masked) then the echoed close 1000 */
    uint8_t text[64];
    size_t tl = 0;
    unsigned cc;
    assert_int_equal(client_frames(w, text, &tl, &cc), 2);
    assert_int_equal(tl, 12);
    assert_memory_equal(text, "hello server", 12);
    assert_int_equal(cc, 1000);
    /* each frame its own mask key (CSPRNG): the text's at 2..5, the close's
     * at 18 + 2 (a 2-byte header, 4-byte key and 12 bytes of text before) */
    assert_int_equal(w->got[1], 0x80 | 12);
    assert_memory_not_equal(w->got + 2, w->got + 20, 4);
    free(w);
}

static void test_byte_by_byte_and_fragments(void **state)
{
    (void)state;
    /* "h\xc3\xa9llo" fragmented inside the 2-byte character, a ping in
     * between, a binary message, then the server's close; delivered one byte
     * per write. */
    static const uint8_t frames[] = {0x01, 0x02, 'h', 0xc3, 0x89, 0x02, 'p', 'p', 0x80, 0x04, 0xa9,
                                     'l',  'l',  'o', 0x82, 0x03, 1,    2,   3,   0x88, 0x00};
    struct script sc = {OK_101 ACCEPT "\r\n", frames, sizeof(frames), 1, 1};
    struct world *w = malloc(sizeof(*w));
    struct wsjwt_client_opts o = {0};
    run(&sc, &o, w);
    go(w, &o);
    assert_int_equal(w->errors, 0);
    assert_int_equal(w->messages, 2);
    assert_int_equal(w->first_len, 6);
    assert_memory_equal(w->first, "h\xc3\xa9llo", 6);
    assert_int_equal(w->msg_binary, 1);
    assert_int_equal(w->msg_len, 3);
    assert_memory_equal(w->msg, "\x01\x02\x03", 3);
    assert_int_equal(w->close_code, 1005); /* a close without a code */
    /* the client answered the ping with "pp" and echoed the empty close */
    unsigned cc;
    assert_int_equal(client_frames(w, NULL, NULL, &cc), 2);
    assert_int_equal(w->got[0], 0x8a);
    assert_int_equal(cc, 1005);
    free(w);
}

static void test_refused_401(void **state)
{
    (void)state;
    struct script sc = {"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"x\", "
                        "error=\"invalid_token\"\r\nContent-Length: 0\r\n\r\n",
                        NULL, 0, 0, 0};
    struct world *w = malloc(sizeof(*w));
    struct wsjwt_client_opts o = {.token = "t", .token_place = WSJWT_TOKEN_IN_BEARER};
    run(&sc, &o, w);
    go(w, &o);
    assert_int_equal(w->opened, 0);
    assert_int_equal(w->last_err, WSJWT_EHTTP_STATUS);
    assert_int_equal(w->status, 401);
    assert_string_equal(w->www_auth, "Bearer realm=\"x\", error=\"invalid_token\"");
    assert_int_equal(w->closed, 1);
    assert_int_equal(w->close_code, 1006);
    assert_non_null(strstr(w->request_copy, "\r\nAuthorization: Bearer t\r\n"));
    free(w);
}

static void test_bad_accept(void **state)
{
    (void)state;
    struct script sc = {OK_101 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", NULL, 0, 0, 0};
    struct world *w = malloc(sizeof(*w));
    struct wsjwt_client_opts o = {0};
    run(&sc, &o, w);
    w->free_on_error = 1;
    go(w, &o);
    assert_int_equal(w->opened, 0);
    assert_int_equal(w->last_err, WSJWT_EHTTP_ACCEPT);
    assert_int_equal(w->status, 101);
    assert_int_equal(w->closed, 0); /* freed inside on_error: no callback after */
    free(w);
}

static void test_token_subprotocol(void **state)
{
    (void)state;
    struct world *w = malloc(sizeof(*w));
    /* A server that selects access_token: accepted. */
    struct script ok = {OK_101 ACCEPT "Sec-WebSocket-Protocol: access_token\r\n\r\n", NULL, 0, 0, 0};
    struct wsjwt_client_opts o = {.token = "abc.def.ghi", .token_place = WSJWT_TOKEN_IN_SUBPROTOCOL};
    run(&ok, &o, w);
    w->close_on_open = 1;
    go(w, &o);
    assert_int_equal(w->opened, 1);
    assert_string_equal(w->protocol, "access_token");
    assert_non_null(strstr(w->request_copy, "\r\nSec-WebSocket-Protocol: access_token, abc.def.ghi\r\n"));
    unsigned cc;
    client_frames(w, NULL, NULL, &cc);
    assert_int_equal(cc, 4000);
    /* A server that echoes the token as the protocol: refused. */
    struct script bad = {OK_101 ACCEPT "Sec-WebSocket-Protocol: abc.def.ghi\r\n\r\n", NULL, 0, 0, 0};
    run(&bad, &o, w);
    go(w, &o);
    assert_int_equal(w->opened, 0);
    assert_int_equal(w->last_err, WSJWT_EHTTP_PROTOCOL);
    /* A server that selects nothing although we offered: refused. */
    struct script none = {OK_101 ACCEPT "\r\n", NULL, 0, 0, 0};
    run(&none, &o, w);
    go(w, &o);
    assert_int_equal(w->last_err, WSJWT_EHTTP_PROTOCOL);
    free(w);
}

/* A server frame breaking a rule: the error, and the close code sent. */
static void violation(const uint8_t *frames, size_t n, size_t max_message, int want_err, unsigned want_code)
{
    struct script sc = {OK_101 ACCEPT "\r\n", frames, n, 0, 0};
    struct world *w = malloc(sizeof(*w));
    struct wsjwt_client_opts o = {.max_message = max_message};
    run(&sc, &o, w);
    go(w, &o);
    assert_int_equal(w->opened, 1);
    assert_int_equal(w->last_err, want_err);
    assert_int_equal(w->messages, 0);
    unsigned cc;
    client_frames(w, NULL, NULL, &cc);
    assert_int_equal(cc, want_code);
    assert_int_equal(w->close_code, 1006);
    free(w);
}

static void test_violations(void **state)
{
    (void)state;
    static const uint8_t masked[] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2};
    violation(masked, sizeof(masked), 0, WSJWT_EWS_MASKED, 1002);
    static const uint8_t bad_utf8[] = {0x81, 0x02, 0xc0, 0x80};
    violation(bad_utf8, sizeof(bad_utf8), 0, WSJWT_EWS_UTF8, 1007);
    static const uint8_t too_big[] = {0x82, 0x05, 1, 2, 3, 4, 5};
    violation(too_big, sizeof(too_big), 4, WSJWT_EWS_MESSAGE_TOO_BIG, 1009);
    static const uint8_t rsv[] = {0xc1, 0x00};
    violation(rsv, sizeof(rsv), 0, WSJWT_EWS_RSV, 1002);
    static const uint8_t bad_close[] = {0x88, 0x02, 0x03, 0xed}; /* 1005 may not be sent */
    violation(bad_close, sizeof(bad_close), 0, WSJWT_EWS_CLOSE_CODE, 1002);
}

/* Sends from inside a callback are corked, so the queue only grows there:
 * the cap must refuse the message that would cross it, and nothing else. */
static void test_backpressure(void **state)
{
    (void)state;
    struct script sc = {OK_101 ACCEPT "\r\n", NULL, 0, 0, 0};
    struct world *w = malloc(sizeof(*w));
    struct wsjwt_client_opts o = {.max_send_queue = 300000};
    run(&sc, &o, w);
    w->flood = 1;
    go(w, &o);
    assert_int_equal(w->opened, 1);
    assert_int_equal(w->flood_rc, WSJWT_EBACKPRESSURE);
    assert_int_equal(w->flood_sent, 4); /* 4 frames of 65536 + 14 bytes fit in 300000, a 5th does not */
    assert_int_equal(w->flood_queued, 4 * (65536 + 14));
    free(w);
}

/* The per-thread random cache: bytes never repeat, and a forked child does
 * not hand out the bytes its parent will (its cache is refilled). */
static void test_random_cache(void **state)
{
    (void)state;
    uint8_t a[16], b[16], child[16], parent[16];
    assert_int_equal(wsjwt__client_random(a, sizeof(a)), 0);
    assert_int_equal(wsjwt__client_random(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ok = wsjwt__client_random(child, sizeof(child)) == 0 &&
                 write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child);
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(wsjwt__client_random(parent, sizeof(parent)), 0);
    assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fds[0]);
    close(fds[1]);
    assert_memory_not_equal(child, parent, sizeof(child));
    /* larger than the batch's quarter: straight from RAND_bytes */
    static uint8_t big[4096];
    assert_int_equal(wsjwt__client_random(big, sizeof(big)), 0);
}

/* ---- receive path without a socket (wsjwt__client_feed) --------------------- */

struct fed {
    int opened, messages, errors, last_err;
    size_t len[8];
    uint32_t sum[8]; /* a position-weighted checksum of each message */
};

static uint32_t weigh(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 31u + p[i];
    return s;
}

static void fed_open(struct wsjwt_client *c, const char *protocol, void *user)
{
    (void)c;
    (void)protocol;
    ((struct fed *)user)->opened++;
}

static void fed_message(struct wsjwt_client *c, int binary, const uint8_t *data, size_t len, void *user)
{
    struct fed *f = user;
    (void)c;
    (void)binary;
    if (f->messages < 8) {
        f->len[f->messages] = len;
        f->sum[f->messages] = weigh(data, len);
    }
    f->messages++;
}

/* bench_on_masked: unmask a copy, then as fed_message. */
static void fed_masked(struct wsjwt_client *c, int binary, const uint8_t *data, size_t len,
                       const uint8_t mask[4], void *user)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    for (size_t i = 0; i < len; i++)
        copy[i] = data[i] ^ mask[i & 3];
    fed_message(c, binary, copy, len, user);
    free(copy);
}

static void fed_error(struct wsjwt_client *c, int err, const struct wsjwt_client_response *r, void *user)
{
    struct fed *f = user;
    (void)c;
    (void)r;
    f->errors++;
    f->last_err = err;
}

/* Feeds `len` bytes in pieces of pseudo-random sizes (1 to `max`). */
static void feed_split(struct wsjwt_client *c, const uint8_t *p, size_t len, size_t max, uint32_t seed)
{
    size_t off = 0;
    while (off < len) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 8) % max;
        if (n > len - off)
            n = len - off;
        assert_int_equal(wsjwt__client_feed(c, p + off, n), 0);
        off += n;
    }
}

/* Messages of 70 000, 5 and 600 000 bytes (the last larger than the 512 KiB
 * read buffer: delivered through the chunk path), fed whole, in pieces of 1
 * to 3 bytes and in random splits: the same messages every time. Then, as bench --raw-echo:
 * our own masked frames come back and are unmasked (strip_mask); an
 * unmasked frame is refused. The same with bench_on_masked: the messages
 * come still masked with their keys. */
static void test_whole_frames_and_raw_echo(void **state)
{
    (void)state;
    static const size_t sizes[3] = {70000, 5, 600000};
    size_t total = 0;
    for (int k = 0; k < 3; k++)
        total += sizes[k] + WSJWT__WS_MAX_HEADER;
    uint8_t *payload = malloc(600000), *wire = malloc(total);
    assert_non_null(payload);
    assert_non_null(wire);
    for (size_t i = 0; i < 600000; i++)
        payload[i] = (uint8_t)(i * 7u + i / 251u);
    for (int raw = 0; raw < 3; raw++) { /* 2: raw echo with bench_on_masked */
        for (int split = 0; split < 3; split++) {
            uv_loop_t loop;
            assert_int_equal(uv_loop_init(&loop), 0);
            struct fed f = {0};
            struct wsjwt_client_opts o = {
                .url = "ws://127.0.0.1:9/",
                .bench_raw_echo = raw != 0,
                .bench_on_masked = raw == 2 ? fed_masked : NULL,
                .cb = {fed_open, fed_message, NULL, fed_error, NULL},
                .user = &f,
            };
            struct wsjwt_client *c = NULL;
            assert_int_equal(wsjwt_client_new(&loop, &o, &c), 0);
            assert_int_equal(wsjwt__client_attach_fake(c), 0);
            char accept[WSJWT_WS_ACCEPT_LEN + 1], head[256];
            wsjwt__ws_accept(wsjwt__client_key(c), WSJWT_WS_KEY_LEN, accept);
            accept[WSJWT_WS_ACCEPT_LEN] = 0;
            int hn = snprintf(head, sizeof(head), OK_101 "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
            assert_int_equal(wsjwt__client_feed(c, (const uint8_t *)head, (size_t)hn), 0);
            assert_int_equal(f.opened, 1);
            size_t len = 0, n = 0;
            int frames =
                3; /* raw echo: the read buffer holds a frame up to the 1 MiB cap: 600 000 comes whole */
            for (int k = 0; k < frames; k++) {
                uint8_t mask[4] = {(uint8_t)(0x11 * k + 1), 0xa5, 0x3c, (uint8_t)k};
                assert_int_equal(wsjwt__ws_write_frame(wire + len, total - len,
                                                       WSJWT__WS_FIN | WSJWT__WS_BINARY, payload, sizes[k],
                                                       raw ? mask : NULL, &n),
                                 0);
                len += n;
            }
            if (split == 0)
                assert_int_equal(wsjwt__client_feed(c, wire, len), 0);
            else
                feed_split(c, wire, len, split == 1 ? 3 : 90000, 7u + (uint32_t)split);
            assert_int_equal(f.errors, 0);
            assert_int_equal(f.messages, frames);
            for (int k = 0; k < frames; k++) {
                assert_int_equal(f.len[k], sizes[k]);
                assert_int_equal(f.sum[k], weigh(payload, sizes[k]));
            }
            if (raw) { /* a frame a byte echo cannot have sent back: unmasked */
                static const uint8_t unmasked[] = {0x82, 0x02, 'n', 'o'};
                wsjwt__client_feed(c, unmasked, sizeof(unmasked));
                assert_int_equal(f.errors, 1);
                assert_int_equal(f.last_err, WSJWT_EWS_UNMASKED);
                assert_int_equal(f.messages, frames);
            }
            wsjwt_client_free(c);
            uv_run(&loop, UV_RUN_DEFAULT);
            assert_int_equal(uv_loop_close(&loop), 0);
        }
    }
    free(payload);
    free(wire);
}

static void test_api_states(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct wsjwt_client *c = NULL;
    struct wsjwt_client_opts o = {.url = "ws://127.0.0.1:9/"};
    assert_int_equal(wsjwt_client_new(&loop, &o, &c), 0);
    assert_int_equal(wsjwt_client_send(c, 0, "x", 1), WSJWT_ESTATE);
    assert_int_equal(wsjwt_client_close(c, 1000, NULL), WSJWT_ESTATE);
    wsjwt_client_free(c);
    o.url = "wss://example.com/"; /* TLS with the system trust store (docs/tls.md) */
    assert_int_equal(wsjwt_client_new(&loop, &o, &c), 0);
    wsjwt_client_free(c);
    o.url = "http://example.com/";
    assert_int_equal(wsjwt_client_new(&loop, &o, &c), WSJWT_EINVAL);
    struct wsjwt_client_header bad = {"Bad Name", 8, "v", 1};
    o.url = "ws://h/";
    o.headers = &bad;
    o.n_headers = 1;
    assert_int_equal(wsjwt_client_new(&loop, &o, &c), WSJWT_EINVAL);
    struct wsjwt_client_header crlf = {"X", 1, "a\r\nInjected: 1", 14};
    o.headers = &crlf;
    assert_int_equal(wsjwt_client_new(&loop, &o, &c), WSJWT_EINVAL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_url(void **state)
{
    (void)state;
    struct wsjwt_url u;
#define URL_OK(s, H, P, T, V6, TLS)                                                                          \
    do {                                                                                                     \
        assert_int_equal(wsjwt_url_parse(s, strlen(s), &u), 0);                                              \
        assert_int_equal(u.host_len, strlen(H));                                                             \
        assert_memory_equal(u.host, H, u.host_len);                                                          \
        assert_int_equal(u.port, P);                                                                         \
        assert_int_equal(u.target_len, strlen(T));                                                           \
        assert_memory_equal(u.target, T, u.target_len);                                                      \
        assert_int_equal(u.host_is_ipv6, V6);                                                                \
        assert_int_equal(u.tls, TLS);                                                                        \
    } while (0)
    URL_OK("ws://localhost", "localhost", 80, "/", 0, 0);
    URL_OK("ws://localhost:8080/", "localhost", 8080, "/", 0, 0);
    URL_OK("WS://Example.COM:1/a/b?x=1&y=2", "Example.COM", 1, "/a/b?x=1&y=2", 0, 0);
    URL_OK("ws://[::1]:9000/p", "::1", 9000, "/p", 1, 0);
    URL_OK("ws://[::ffff:127.0.0.1]", "::ffff:127.0.0.1", 80, "/", 1, 0);
    URL_OK("wss://h", "h", 443, "/", 0, 1);
    URL_OK("ws://h?q", "h", 80, "?q", 0, 0);
    URL_OK("ws://h:65535", "h", 65535, "/", 0, 0);
#undef URL_OK
    static const char *const bad[] = {
        "",           "ws:/h",       "http://h/",    "ws://",         "ws://:80/",
        "ws://h:/",   "ws://h:0",    "ws://h:65536", "ws://h:123456", "ws://u@h/",
        "ws://h/#f",  "ws://h/a b",  "ws://[::1",    "ws://[]/",      "ws://[::1]x/",
        "ws://[zz]/", "ws://h\r\n/", "ws://h:8a/",   "ws://h%2f/",    "ws://h\x7f/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsjwt_url_parse(bad[i], strlen(bad[i]), &u), WSJWT_EINVAL);
}

/* ---- wsjwt_client_restart ------------------------------------------------ */

/* A server that answers every upgrade on every connection with a valid 101
 * (the accept of the key it got) and records the keys. */
#define RESTARTS 5
struct multi {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_tcp_t peers[RESTARTS + 1];
    char req[RESTARTS + 1][1024];
    size_t req_len[RESTARTS + 1];
    char keys[RESTARTS + 1][WSJWT_WS_KEY_LEN + 1];
    int answered[RESTARTS + 1];
    int reset[RESTARTS + 1];     /* the connection ended with a TCP reset */
    char peer[RESTARTS + 1][16]; /* the client's address as the server saw it */
    int accepted, opened, closed, close_code, restart_rc;
    struct wsjwt_client *c;
};

static void multi_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct multi *m = s->data;
    int k = (int)((uv_tcp_t *)s - m->peers);
    if (n < 0 || m->answered[k]) { /* after the 101: the client's close frame, or its reset */
        m->reset[k] = n == UV_ECONNRESET;
        uv_close((uv_handle_t *)s, NULL);
        return;
    }
    size_t take = (size_t)n < sizeof(m->req[k]) - 1 - m->req_len[k] ? (size_t)n : 0;
    memcpy(m->req[k] + m->req_len[k], b->base, take);
    m->req_len[k] += take;
    m->req[k][m->req_len[k]] = 0;
    const char *key = strstr(m->req[k], "Sec-WebSocket-Key: ");
    if (!strstr(m->req[k], "\r\n\r\n") || !key)
        return;
    memcpy(m->keys[k], key + 19, WSJWT_WS_KEY_LEN);
    char accept[WSJWT_WS_ACCEPT_LEN + 1], out[256];
    wsjwt__ws_accept(m->keys[k], WSJWT_WS_KEY_LEN, accept);
    accept[WSJWT_WS_ACCEPT_LEN] = 0;
    int len = snprintf(out, sizeof(out), OK_101 "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    uv_buf_t wb = uv_buf_init(out, (unsigned)len);
    assert_int_equal(uv_try_write(s, &wb, 1), len);
    m->answered[k] = 1;
}

static void multi_conn(uv_stream_t *l, int status)
{
    struct multi *m = l->data;
    assert_int_equal(status, 0);
    assert_true(m->accepted <= RESTARTS);
    int k = m->accepted++;
    uv_tcp_t *p = &m->peers[k];
    uv_tcp_init(&m->loop, p);
    p->data = m;
    assert_int_equal(uv_accept(l, (uv_stream_t *)p), 0);
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    assert_int_equal(uv_tcp_getpeername(p, (struct sockaddr *)&ss, &sl), 0);
    uv_ip4_name((const struct sockaddr_in *)&ss, m->peer[k], sizeof(m->peer[k]));
    uv_read_start((uv_stream_t *)p, peer_alloc, multi_read);
}

static void multi_open(struct wsjwt_client *c, const char *protocol, void *user)
{
    struct multi *m = user;
    (void)protocol;
    if (++m->opened <= RESTARTS) {
        m->restart_rc = wsjwt_client_restart(c); /* from inside on_open */
        assert_int_equal(m->restart_rc, 0);
    } else {
        assert_int_equal(wsjwt_client_close(c, 1000, NULL), 0);
    }
}

static void multi_close(struct wsjwt_client *c, int code, const char *reason, size_t len, void *user)
{
    struct multi *m = user;
    (void)reason;
    (void)len;
    m->closed++;
    m->close_code = code;
    assert_int_equal(wsjwt_client_restart(c), WSJWT_ESTATE); /* after the end: not allowed */
    uv_close((uv_handle_t *)&m->listener, NULL);
}

/* Restarted from on_open: every connection is a new one with a fresh key,
 * every 101 is checked against its own key, every connection but the last
 * ends with a TCP reset as the server sees it (the restart keeps its
 * socket and disconnects it: on the wire as close() with SO_LINGER 0), one
 * on_close at the very end, and the loop closes cleanly (the sockets'
 * epoll set goes with the last client). */
static void run_restart(const char *bind_address)
{
    struct multi *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    assert_int_equal(uv_loop_init(&m->loop), 0);
    uv_tcp_init(&m->loop, &m->listener);
    m->listener.data = m;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&m->listener, 8, multi_conn), 0);
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    uv_tcp_getsockname(&m->listener, (struct sockaddr *)&ss, &sl);
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/r", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    struct wsjwt_client_opts o = {.url = url, .token = "t.o.k", .user = m, .bind_address = bind_address};
    o.cb = (struct wsjwt_client_callbacks){multi_open, NULL, NULL, NULL, multi_close};
    assert_int_equal(wsjwt_client_new(&m->loop, &o, &m->c), 0);
    assert_int_equal(wsjwt_client_restart(m->c), WSJWT_ESTATE); /* never connected */
    assert_int_equal(wsjwt_client_connect(m->c), 0);
    loop_run(&m->loop);
    assert_int_equal(m->accepted, RESTARTS + 1);
    assert_int_equal(m->opened, RESTARTS + 1);
    assert_int_equal(m->closed, 1);
    assert_int_equal(m->close_code, 1006); /* this server answers our close by closing TCP */
    for (int i = 0; i <= RESTARTS; i++) {
        assert_non_null(strstr(m->req[i], "\r\ntoken: t.o.k\r\n"));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(m->keys[i], m->keys[j]);
        assert_int_equal(m->reset[i], i < RESTARTS); /* the last: our close frame, then the server's FIN */
        assert_string_equal(m->peer[i], bind_address ? bind_address : "127.0.0.1");
    }
    wsjwt_client_free(m->c);
    loop_run(&m->loop);
    assert_int_equal(uv_loop_close(&m->loop), 0);
    free(m);
}

static void test_restart(void **state)
{
    (void)state;
    run_restart(NULL);
}

/* The same with a source address (bind_address, as bench --sources): the
 * kept socket stays bound to it, every connection comes from it. */
static void test_restart_bound(void **state)
{
    (void)state;
    run_restart("127.0.0.2");
}

/* The connect timeout after a restart counts from the restart, although
 * the timer armed by the first connect is left running (arm_connect): a
 * listener that never accepts (the kernel completes the TCP handshake, no
 * upgrade answer ever comes), a 300 ms timeout, a restart at 100 ms: one
 * WSJWT_ETIMEDOUT, at 400 ms, not at 300. */
struct lazy {
    uv_loop_t loop;
    uv_timer_t later;
    struct wsjwt_client *c;
    int errors, err, closed;
    uint64_t t_err;
};

static void lazy_error(struct wsjwt_client *c, int err, const struct wsjwt_client_response *r, void *user)
{
    struct lazy *l = user;
    (void)c;
    (void)r;
    l->errors++;
    l->err = err;
    l->t_err = uv_hrtime();
}

static void lazy_close(struct wsjwt_client *c, int code, const char *reason, size_t len, void *user)
{
    struct lazy *l = user;
    (void)c;
    (void)code;
    (void)reason;
    (void)len;
    l->closed++;
}

static void lazy_restart(uv_timer_t *t)
{
    struct lazy *l = t->data;
    assert_int_equal(wsjwt_client_restart(l->c), 0);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_restart_timeout(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(bind(fd, (const struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", ntohs(sa.sin_port));
    struct lazy *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    assert_int_equal(uv_loop_init(&l->loop), 0);
    struct wsjwt_client_opts o = {.url = url, .connect_timeout_ms = 300, .user = l};
    o.cb = (struct wsjwt_client_callbacks){NULL, NULL, NULL, lazy_error, lazy_close};
    assert_int_equal(wsjwt_client_new(&l->loop, &o, &l->c), 0);
    uint64_t t0 = uv_hrtime();
    assert_int_equal(wsjwt_client_connect(l->c), 0);
    uv_timer_init(&l->loop, &l->later);
    l->later.data = l;
    uv_timer_start(&l->later, lazy_restart, 100, 0);
    loop_run(&l->loop);
    assert_int_equal(l->errors, 1);
    assert_int_equal(l->err, WSJWT_ETIMEDOUT);
    assert_int_equal(l->closed, 1);
    uint64_t ms = (l->t_err - t0) / 1000000u;
    assert_true(ms >= 390); /* libuv's clock is per loop turn, in whole milliseconds */
    assert_true(ms < 2000);
    wsjwt_client_free(l->c);
    loop_run(&l->loop);
    assert_int_equal(uv_loop_close(&l->loop), 0);
    free(l);
    close(fd);
}

/* wsjwt_client_run drives the same exchanges as uv_run: the scripted
 * server's libuv streams, the drip timer (one byte per turn), refusals,
 * a failed accept, restarts, and every loop closes cleanly (uv_loop_close
 * is 0: the clients' epoll set went with the loop's last client). */
static void test_client_run(void **state)
{
    use_client_run = 1;
    turns = 0;
    test_echo_and_server_close(state);
    assert_true(turns > 0);
    test_byte_by_byte_and_fragments(state);
    test_refused_401(state);
    test_bad_accept(state);
    test_restart(state);
    use_client_run = 0;
    /* A loop with no client at all: returns at once. */
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(wsjwt_client_run(&loop, NULL, NULL), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(wsjwt_client_run(NULL, NULL, NULL), WSJWT_EINVAL);
}

static unsigned fired;
static uint64_t fired_at;

static void on_fire(uv_timer_t *t)
{
    (void)t;
    fired++;
    fired_at = uv_hrtime();
}

/* Runs a loop whose only handle is a libuv timer of 50 ms, with
 * wsjwt_client_run_every(max_wait_us) (or wsjwt_client_run when 0): the
 * timer fires once and not early; returns the loop turns. */
static unsigned long turns_for_timer(uint64_t max_wait_us)
{
    uv_loop_t loop;
    uv_timer_t t;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_timer_init(&loop, &t), 0);
    assert_int_equal(uv_timer_start(&t, on_fire, 50, 0), 0);
    fired = 0;
    turns = 0;
    uint64_t t0 = uv_hrtime();
    if (max_wait_us)
        assert_int_equal(wsjwt_client_run_every(&loop, max_wait_us, count_turn, NULL), 0);
    else
        assert_int_equal(wsjwt_client_run(&loop, count_turn, NULL), 0);
    assert_int_equal(fired, 1);
    assert_true(fired_at - t0 >= 49000000u); /* libuv's clock counts whole milliseconds */
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return turns;
}

/* wsjwt_client_run_every: the same exchanges as uv_run with its waits
 * bounded; a loop turn (and on_turn) at least every max_wait_us even when
 * nothing happens, while libuv's timers still fire when due, not at every
 * short wait. */
static void test_client_run_every(void **state)
{
    use_client_run = 2;
    test_echo_and_server_close(state);
    test_byte_by_byte_and_fragments(state);
    test_refused_401(state);
    test_restart(state);
    use_client_run = 0;
    /* 50 ms with a turn at least every 500 us: about 100 turns (at least
     * 10 on a loaded machine); without a bound, one wait for the timer. */
    unsigned long bounded = turns_for_timer(500), unbounded = turns_for_timer(0);
    assert_true(bounded >= 10);
    assert_true(unbounded <= 3);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(wsjwt_client_run_every(&loop, 100, NULL, NULL), 0); /* nothing to run */
    assert_int_equal(wsjwt_client_run_every(&loop, UINT64_MAX, NULL, NULL), WSJWT_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(wsjwt_client_run_every(NULL, 100, NULL, NULL), WSJWT_EINVAL);
}

/* The canonical 101 (wsjwt__http_response_canonical): whole, with frames
 * after it, every strict prefix (wait), every byte changed (not canonical:
 * the parser decides). Through a client: the canonical head fed byte by
 * byte opens; with a wrong accept it fails as WSJWT_EHTTP_ACCEPT however
 * it is split; a valid 101 in another spelling opens through the parser;
 * a client that offered a subprotocol never takes the short way. */
static void test_canonical_101(void **state)
{
    (void)state;
    /* RFC 6455 1.3's sample key and its accept value. */
    static const char acc[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    static const char head[] = OK_101 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    const size_t hl = sizeof(head) - 1;
    char buf[256];
    size_t got = 1;
    assert_int_equal(wsjwt__http_response_canonical(head, hl, acc, &got), 1);
    assert_int_equal(got, hl);
    memcpy(buf, head, hl);
    memcpy(buf + hl, "\x81\x01x", 3);
    assert_int_equal(wsjwt__http_response_canonical(buf, hl + 3, acc, &got), 1);
    assert_int_equal(got, hl);
    for (size_t n = 0; n < hl; n++) {
        assert_int_equal(wsjwt__http_response_canonical(head, n, acc, &got), 0);
        assert_int_equal(got, 0);
    }
    for (size_t i = 0; i < hl; i++) {
        memcpy(buf, head, hl);
        buf[i] = buf[i] == 'A' ? 'B' : (char)(buf[i] ^ 0x20);
        assert_int_equal(wsjwt__http_response_canonical(buf, hl, acc, &got), -1);
        assert_int_equal(wsjwt__http_response_canonical(buf, i + 1, acc, &got), -1);
    }
    for (int variant = 0; variant < 4; variant++) {
        uv_loop_t loop;
        assert_int_equal(uv_loop_init(&loop), 0);
        struct fed f = {0};
        struct wsjwt_client_opts o = {
            .url = "ws://127.0.0.1:9/", .cb = {fed_open, fed_message, NULL, fed_error, NULL}, .user = &f};
        if (variant == 3) {
            static const char *const protos[] = {"chat"};
            o.protocols = protos;
            o.n_protocols = 1;
        }
        struct wsjwt_client *c = NULL;
        assert_int_equal(wsjwt_client_new(&loop, &o, &c), 0);
        assert_int_equal(wsjwt__client_attach_fake(c), 0);
        char accept[WSJWT_WS_ACCEPT_LEN + 1];
        wsjwt__ws_accept(wsjwt__client_key(c), WSJWT_WS_KEY_LEN, accept);
        accept[WSJWT_WS_ACCEPT_LEN] = 0;
        if (variant == 1)
            accept[5] = accept[5] == 'A' ? 'B' : 'A';
        int n = snprintf(buf, sizeof(buf),
                         variant == 2 ? "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n"
                                        "upgrade: WebSocket\r\nsec-websocket-accept: %s\r\n\r\n\x81\x02hi"
                                      : OK_101 "Sec-WebSocket-Accept: %s\r\n\r\n\x81\x02hi",
                         accept);
        for (int i = 0; i < n && !f.errors; i++)
            assert_int_equal(wsjwt__client_feed(c, (const uint8_t *)buf + i, 1), 0);
        if (variant == 1) {
            assert_int_equal(f.opened, 0);
            assert_int_equal(f.last_err, WSJWT_EHTTP_ACCEPT);
        } else if (variant == 3) { /* offered, none selected */
            assert_int_equal(f.opened, 0);
            assert_int_equal(f.last_err, WSJWT_EHTTP_PROTOCOL);
        } else {
            assert_int_equal(f.errors, 0);
            assert_int_equal(f.opened, 1);
            assert_int_equal(f.messages, 1);
            assert_int_equal(f.len[0], 2);
        }
        wsjwt_client_free(c);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_api_states),
        cmocka_unit_test(test_echo_and_server_close),
        cmocka_unit_test(test_byte_by_byte_and_fragments),
        cmocka_unit_test(test_refused_401),
        cmocka_unit_test(test_bad_accept),
        cmocka_unit_test(test_token_subprotocol),
        cmocka_unit_test(test_violations),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_random_cache),
        cmocka_unit_test(test_whole_frames_and_raw_echo),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_restart_bound),
        cmocka_unit_test(test_client_run),
        cmocka_unit_test(test_client_run_every),
        cmocka_unit_test(test_cork),
        cmocka_unit_test(test_send_wire),
        cmocka_unit_test(test_restart_timeout),
        cmocka_unit_test(test_canonical_101),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
