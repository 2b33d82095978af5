/* The WebSocket client: the libuv shell around the pure cores (http/http.h for
 * the upgrade, ws/ws.h for frames).
 *
 * Bytes go through two functions only, tx_flush() (flush of the send buffer)
 * and rx_got() (what was read): for wss:// the TLS engine (src/net/tls.c)
 * sits between them and the socket (tls_tx, tls_rx), without touching the
 * protocol code.
 *
 * Teardown: anything that ends the connection calls shut(); it closes the
 * handles and cancels requests. When the last handle and request are gone,
 * on_close runs once, and the memory goes when the application has called
 * wsjwt_client_free() and no callback of ours is on the stack.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include <wsjwt/client.h>

#include "client/internal.h"
#include "http/http.h"
#include "net/sys.h"
#include "net/tls.h"
#include "server/accept.h"
#include "ws/deflate.h"
#include "ws/utf8.h"
#include "ws/ws.h"

#if defined(__linux__) && !defined(IP_BIND_ADDRESS_NO_PORT)
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h, Linux 4.2 */
#endif

/* A read buffer: 512 KiB takes large messages whole, in few system calls
 * (delivered in place, not copied). It is released when a small read left no
 * bytes behind, so idle clients hold none. Why 512 and not 256: a server
 * echoing four 64 KiB messages at once (bench scenario c, 4 in flight) sends
 * 4 x 65 546 bytes, 40 more than 256 KiB, so the fourth frame always spanned
 * two reads and was copied to a buffer of the client's own (58 k
 * instructions per copy under callgrind, 34 k per echo in all); the server
 * reads 512 KiB for the same reason. */
#define RBUF_SIZE (512u * 1024u)
/* A read at least this large means bulk traffic: keep the read buffer. */
#define RBUF_KEEP_READ (16u * 1024u)
/* wss://: ciphertext is read into the thread's shared buffer (after the
 * cork in shared_rbuf's allocation), decrypted from there and whatever
 * ends in a partial record is stashed by the engine: no buffer per client
 * and no allocation per read. 64 KiB: four full records per read. */
#define TBUF_SIZE (64u * 1024u)
/* An open connection without a read for this long gives its read buffer
 * back: idle clients hold none, busy ones never allocate per read. */
#define RBUF_IDLE_MS 1000u
/* Send buffers up to this size stay allocated between writes. */
#define KEEP_OUT (1024u * 1024u)

enum state {
    ST_NEW,
    ST_RESOLVING,
    ST_CONNECTING,
    ST_HANDSHAKE,
    ST_OPEN,
    ST_CLOSING,     /* we sent a close frame, waiting for the server's */
    ST_CLOSED_WAIT, /* both close frames exchanged: waiting for the server's FIN */
    ST_FAILING,     /* flushing our last close frame, then shut */
    ST_SHUT         /* handles closing or closed */
};

struct buf {
    uint8_t *p;
    size_t len, cap;
};

/* permessage-deflate, once the server accepted it: the streams and the
 * buffer messages are (de)compressed into. */
struct client_pmd {
    struct wsjwt__pmd_ctx ctx;
    struct wsjwt__pmd_buf buf;
};

/* The fields every read and every send touch come first, together: with a
 * thousand connections each taking turns (bench scenario b) a client's
 * memory is out of the cache by its next message, and perf showed the
 * misses on fields spread over a dozen cache lines (the timer's flags among
 * them) as the largest user-space cost per message. */
struct wsjwt_client {
    int fd;         /* the socket (non-blocking, our own read/send), or -1 */
    uint32_t epoch; /* sockets opened so far: tells an I/O path that a callback restarted us */
    enum state state;
    int freed;                      /* the application called wsjwt_client_free */
    int depth;                      /* our frames on the stack (callbacks running) */
    int writing;                    /* bytes wait for the socket to take them (it will say so: EPOLLOUT) */
    int close_sent;                 /* our close frame is queued */
    int busy;                       /* two reads within RBUF_IDLE_MS: keep the read buffer */
    int sweeping;                   /* the timer runs the read-buffer sweep (see rx_got) */
    int mid_frame;                  /* the decoder is inside a frame's payload (delivered in chunks) */
    int rshared;                    /* rbuf is the thread's shared read buffer (during one read only) */
    int raw_echo;                   /* opts.bench_raw_echo */
    int msg_open;                   /* a fragmented data message is open in the decoder */
    int nodelay;                    /* TCP_NODELAY set (at the first frame) */
    uint64_t reads, reads_at_sweep; /* for the read-buffer sweep */
    /* receive: unhandled bytes are rbuf.p[rstart, rbuf.len); rbuf.len == 0
     * whenever none are left (then rstart is 0 too) */
    struct buf rbuf;
    size_t rstart;
    size_t rbuf_cap; /* the read buffer's size: RBUF_SIZE, or more (raw echo) */
    void (*on_masked)(struct wsjwt_client *, int, const uint8_t *, size_t, const uint8_t *, void *);
    struct wsjwt_client_callbacks cb;
    void *user;
    struct wsjwt__tls *tls; /* wss:// only: the engine */
    struct client_pmd *pmd; /* NULL unless negotiated */
    /* send: `out` collects frames; bytes before out_off are sent already */
    struct buf out;
    size_t out_off;
    size_t max_message, max_send_queue, deflate_threshold;
    struct wsjwt__ws_decoder dec;
    struct wsjwt__ws_config wcfg;
    struct wsjwt__cpoll *cp; /* the loop's set of client sockets (poll.c), from the first connect */

    uv_loop_t *loop;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    int handles;   /* libuv handles not yet closed (the timer) */
    int pending;   /* requests whose callback has not run yet (name resolution) */
    int resolving; /* gai in flight */
    int close_reported;
    int os_error;
    struct addrinfo *ai, *ai_next;
    struct addrinfo nai; /* a numeric host: no resolver round trip through the thread pool */
    struct sockaddr_storage nsa;
    int fd_family; /* the socket's address family (a restart connects it again) */

    /* options, copied */
    char *url;
    struct wsjwt_url u;
    char *request; /* the upgrade request, built in new(); holds the token: wiped */
    size_t request_len;
    size_t key_off; /* where its Sec-WebSocket-Key value is (patched per restart) */
    char key[WSJWT_WS_KEY_LEN + 1];
    char accept[WSJWT_WS_ACCEPT_LEN]; /* the Sec-WebSocket-Accept the key asks for */
    int accept_ok;                    /* accept is computed (at the first 101 for this key) */
    int canon;                        /* nothing offered but the key: the canonical 101 is the usual answer */
    char *protocols;                  /* the Sec-WebSocket-Protocol value offered, or NULL */
    char *token;                      /* for the "server must not select the token" check */
    char *bind_address;
    size_t max_head;
    uint64_t connect_timeout_ms, close_timeout_ms;
    uint64_t deadline; /* connecting: uv_now() when it times out (see arm_connect) */
    char *protocol;    /* selected */
    int deflate;       /* what we offer (opts.deflate) */

    struct buf msg; /* a message that spans reads or frames */
    struct wsjwt__http_parser hp;

    /* the end */
    int close_code;
    char close_reason[WSJWT__WS_MAX_CONTROL];
    size_t close_reason_len;
};

/* The thread's send buffer (the cork), lent to one client at a time: the
 * frames a client queues while nothing of its own waits are written here
 * and sent from here, so that a thousand clients taking turns write into the
 * same warm memory instead of each into its own cold buffer (perf, bench
 * scenario b: the store misses into per-client buffers cost more than the
 * masking itself). What the socket does not take is copied to the client's
 * own `out`, and the cork is free again after every flush. It shares one
 * allocation with the shared read buffer (shared_rbuf). Clients belong to
 * their loop's thread: no lock. */
#define CORK_SIZE (320u * 1024u) /* four 64 KiB frames with their headers */
/* wsjwt_client_bench_send_wire: the payload of a frame from this size is
 * not copied into the cork; the cork keeps a pointer to the caller's bytes
 * (a segment), and the flush is one sendmsg of the cork's bytes and those,
 * in order: the kernel then copies each payload from where it is (64 KiB
 * messages: a 64 KiB copy per message saved, the way bench/loadgen writes
 * its frames). At most CORK_SEGS segments (of either kind) per flush. */
#define WIRE_SEGMENT (16u * 1024u)
#define CORK_SEGS    32u
struct cork {
    uint8_t *p;
    size_t len;
    struct wsjwt_client *owner; /* whose frames it holds, or NULL */
    /* Segments: what goes before cork.p + seg_end, in order (ranges of the
     * cork and callers' payloads); the cork's bytes from seg_end follow.
     * ext: the callers' bytes among them. */
    struct iovec seg[CORK_SEGS];
    unsigned nseg;
    size_t seg_end, ext;
};
static _Thread_local struct cork cork;
static uint8_t *shared_rbuf(void);

/* Empties the cork (its frames are sent or no longer wanted). */
static void cork_drop(void)
{
    cork.owner = NULL;
    cork.len = cork.seg_end = cork.ext = 0;
    cork.nseg = 0;
}

static void shut(struct wsjwt_client *c);
static void tx_flush(struct wsjwt_client *c);
static int queue_frame(struct wsjwt_client *c, unsigned first, const void *data, size_t len);
static void rx_bytes(struct wsjwt_client *c);
static void rbuf_release(struct wsjwt_client *c);

/* ---- small helpers --------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static int buf_reserve(struct buf *b, size_t more, size_t cap)
{
    if (more > cap || b->len > cap - more)
        return WSJWT_ETOOBIG;
    size_t need = b->len + more;
    if (need <= b->cap)
        return 0;
    size_t n = b->cap ? b->cap : 256; /* grows by doubling: small messages, small buffers */
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    uint8_t *p = realloc(b->p, n);
    if (!p)
        return WSJWT_ENOMEM;
    b->p = p;
    b->cap = n;
    return 0;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Release the memory once nothing can reach it any more. */
static void maybe_release(struct wsjwt_client *c)
{
    if (!c->freed || c->depth || c->handles || c->pending)
        return;
    if (c->ai)
        uv_freeaddrinfo(c->ai);
    if (c->request) {
        OPENSSL_cleanse(c->request, c->request_len);
        free(c->request);
    }
    free(c->url);
    free(c->protocols);
    free_secret(c->token);
    free(c->bind_address);
    free(c->protocol);
    if (c->pmd) {
        wsjwt__pmd_ctx_free(&c->pmd->ctx);
        wsjwt__pmd_buf_free(&c->pmd->buf);
        free(c->pmd);
    }
    rbuf_release(c);
    buf_free(&c->msg);
    buf_free(&c->out);
    wsjwt__cpoll_put(c->cp);
    if (c->tls) {
        wsjwt__tls_free(c->tls);
        free(c->tls);
    }
    free(c);
}

static void report_error(struct wsjwt_client *c, int err, const struct wsjwt_client_response *resp)
{
    if (c->freed || !c->cb.on_error)
        return;
    c->depth++;
    c->cb.on_error(c, err, resp, c->user);
    c->depth--;
}

/* Called when every handle and request is gone: the one on_close. */
static void finish(struct wsjwt_client *c)
{
    if (c->handles || c->pending || c->state != ST_SHUT)
        return;
    if (!c->close_reported) {
        c->close_reported = 1;
        if (!c->freed && c->cb.on_close) {
            c->depth++;
            c->cb.on_close(c, c->close_code, c->close_reason, c->close_reason_len, c->user);
            c->depth--;
        }
    }
    maybe_release(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct wsjwt_client *c = h->data;
    c->handles--;
    finish(c);
}

/* The connection on the socket is gone: nothing of it waits to be written. */
static void sock_ended(struct wsjwt_client *c)
{
    c->writing = 0;
    if (cork.owner == c)
        cork_drop();
}

/* Closes the socket (with a reset: no FIN, no TIME_WAIT here). close()
 * also takes it out of the loop's epoll set. */
static void sock_close(struct wsjwt_client *c, int reset)
{
    if (c->fd < 0)
        return;
    if (reset) {
        struct linger lin = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    }
    wsjwt__cpoll_forget(c->cp, c);
    close(c->fd);
    c->fd = -1;
    sock_ended(c);
}

/* wsjwt_client_restart: ends the connection with a reset and keeps the
 * socket for the next one. connect(AF_UNSPEC) on a TCP socket runs
 * tcp_disconnect(), the very function close() runs for a socket with
 * SO_LINGER 0 (tcp_close): the server gets the same RST, the queues are
 * purged, the local port is released, and the socket is CLOSED, ready to
 * connect again, still in the loop's epoll set (and with its options:
 * TCP_NODELAY stays set). On the wire nothing changes; what it saves is a
 * new socket per connection: the socket(), epoll_ctl(ADD), setsockopt
 * (SO_LINGER) and close() calls, and the kernel allocating and freeing a
 * socket and a file each time. `wsjwt bench --mode upgrade`, 50 workers
 * against wsjwt serve: about a quarter less CPU per upgrade in the load
 * generator, most of it kernel time (see sock_reconnect). The pending error
 * that the disconnect leaves (ECONNRESET) is cleared by the next connect().
 * Returns 0, or -1 when the socket was closed instead (the next connection
 * then opens a new one). */
static int sock_disconnect(struct wsjwt_client *c)
{
    static const struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    if (c->fd < 0)
        return -1;
    if (connect(c->fd, &unspec, sizeof(unspec)) != 0) {
        sock_close(c, 1);
        return -1;
    }
    /* An event of the old connection may wait in the batch being
     * dispatched (a restart from another client's callback): not ours any
     * more. What the kernel reports next is the new connection's state. */
    wsjwt__cpoll_drop(c->cp, c);
    sock_ended(c);
    return 0;
}

static void shut(struct wsjwt_client *c)
{
    if (c->state == ST_SHUT)
        return;
    c->state = ST_SHUT;
    if (c->resolving)
        uv_cancel((uv_req_t *)&c->gai); /* its callback sees UV_EAI_CANCELED */
    sock_close(c, 0);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timer(uv_timer_t *t);

/* Fail: report, then end. For a protocol violation on an open connection the
 * server is told why (RFC 6455 7.1.7) before the socket closes. */
static void fail(struct wsjwt_client *c, int err, const struct wsjwt_client_response *resp, int os_err)
{
    if (c->state == ST_SHUT || c->state == ST_FAILING)
        return;
    if (os_err)
        c->os_error = os_err;
    enum state was = c->state;
    c->state = ST_FAILING;
    report_error(c, err, resp);
    if (c->state != ST_FAILING)
        return; /* freed from the callback */
    if ((was == ST_OPEN || was == ST_CLOSING) && !c->close_sent && err != WSJWT_EIO && err != WSJWT_ECLOSED) {
        int code = wsjwt_err_close_code(err);
        uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        if (queue_frame(c, WSJWT__WS_FIN | WSJWT__WS_CLOSE, payload, sizeof(payload)) == 0) {
            c->close_sent = 1;
            tx_flush(c);
            if (c->state == ST_FAILING && c->writing) {
                /* on_write shuts once it is out; a server that stopped
                 * reading gets the close timeout, not forever. */
                uv_timer_start(&c->timer, on_timer, c->close_timeout_ms, 0);
                return;
            }
        }
    }
    shut(c);
}

/* ---- timers ------------------------------------------------------------------ */

/* The connect timeout, from now. A restart does not move the timer when it
 * is armed already and due no later than the new deadline (the timer the
 * last connect armed, still running after its open): only the deadline
 * moves, and on_timer arms again for what is left when it fires early.
 * uv_timer_start on an armed timer is a remove and an insert in libuv's
 * heap, and stopping it at the open one more: 575 instructions per restart
 * under callgrind (bench --mode upgrade, 50 concurrent), at every upgrade. */
static void arm_connect(struct wsjwt_client *c)
{
    c->deadline = uv_now(c->loop) + c->connect_timeout_ms;
    if (uv_is_active((uv_handle_t *)&c->timer) && uv_timer_get_due_in(&c->timer) <= c->connect_timeout_ms)
        return;
    uv_timer_start(&c->timer, on_timer, c->connect_timeout_ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct wsjwt_client *c = t->data;
    if (c->state < ST_OPEN) {
        uint64_t now = uv_now(c->loop);
        if (now < c->deadline) { /* armed for an earlier connect (arm_connect) */
            uv_timer_start(&c->timer, on_timer, c->deadline - now, 0);
            return;
        }
        fail(c, WSJWT_ETIMEDOUT, NULL, 0);
    } else if (c->state == ST_OPEN) {
        if (!c->sweeping)
            return; /* the connect timeout, left armed at the open (arm_connect) */
        /* The read-buffer sweep (see rx_got): a busy connection that had
         * no read for a whole period goes back to allocating per read. */
        if (c->reads == c->reads_at_sweep) {
            c->busy = 0;
            c->sweeping = 0;
            if (c->rbuf.len == 0)
                rbuf_release(c);
        } else {
            if (c->reads - c->reads_at_sweep >= 2)
                c->busy = 1;
            c->reads_at_sweep = c->reads;
            c->sweeping = 1;
            uv_timer_start(&c->timer, on_timer, RBUF_IDLE_MS, 0);
        }
    } else {
        shut(c); /* the close handshake took too long: on_close tells what we know */
    }
}

/* ---- send path --------------------------------------------------------------- */

/* Sends n bytes: how many the socket took (0 when it is full), or a
 * negative errno. MSG_NOSIGNAL: a server gone away is an EPIPE here, not a
 * SIGPIPE for the whole process. */
static ssize_t sock_send(struct wsjwt_client *c, const void *p, size_t n)
{
    ssize_t w;
    do
        w = wsjwt__sys_send(c->fd, p, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w >= 0)
        return w;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
}

static void tls_tx(struct wsjwt_client *c);

/* Copies the bytes of iov[0..k) from offset `skip` on to dst. */
static void iov_copy(uint8_t *dst, const struct iovec *iov, unsigned k, size_t skip)
{
    for (unsigned i = 0; i < k; i++) {
        size_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(dst, (const uint8_t *)iov[i].iov_base + skip, l - skip);
        dst += l - skip;
        skip = 0;
    }
}

/* Sends what the cork holds for c and frees it: 0 when all went, else the
 * rest is moved in front of what `out` holds (frames that did not fit in the
 * cork came after) and c waits for the socket (or failed). With segments
 * (WIRE_SEGMENT) it is one sendmsg of them all. */
static int cork_flush(struct wsjwt_client *c)
{
    struct iovec iov[CORK_SEGS + 1];
    unsigned k = 0;
    size_t total = cork.len + cork.ext;
    ssize_t w;
    if (!cork.nseg) {
        w = sock_send(c, cork.p, cork.len);
        if (w == (ssize_t)total) { /* the usual end: all taken */
            cork.owner = NULL;
            cork.len = 0;
            return 0;
        }
        iov[k++] = (struct iovec){cork.p, cork.len};
    } else {
        memcpy(iov, cork.seg, cork.nseg * sizeof(*iov));
        k = cork.nseg;
        if (cork.len > cork.seg_end)
            iov[k++] = (struct iovec){cork.p + cork.seg_end, cork.len - cork.seg_end};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = k};
        do
            w = wsjwt__sys_sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0)
            w = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
    cork_drop();
    if (w < 0) {
        c->out.len = c->out_off = 0;
        c->writing = 0;
        fail(c, WSJWT_EIO, NULL, (int)w);
        return -1;
    }
    size_t rest = total - (size_t)w, queued = c->out.len - c->out_off;
    if (rest == 0)
        return 0;
    if (buf_reserve(&c->out, rest, SIZE_MAX) != 0) {
        fail(c, WSJWT_ENOMEM, NULL, 0);
        return -1;
    }
    memmove(c->out.p + c->out_off + rest, c->out.p + c->out_off, queued);
    iov_copy(c->out.p + c->out_off, iov, k, (size_t)w);
    c->out.len += rest;
    c->writing = 1;
    return 1;
}

/* Sends what `out` holds; what the socket does not take stays there and goes
 * when the socket reports room (sock_event). Frames keep collecting in `out`
 * meanwhile. */
static void tx_flush(struct wsjwt_client *c)
{
    if (c->tls) {
        tls_tx(c);
        return;
    }
    if (c->fd < 0 || c->state <= ST_CONNECTING)
        return;
    if (cork.owner == c && cork_flush(c) != 0)
        return;
    if (c->out.len == c->out_off)
        return;
    ssize_t w = sock_send(c, c->out.p + c->out_off, c->out.len - c->out_off);
    if (w < 0) {
        c->out.len = c->out_off = 0;
        c->writing = 0;
        fail(c, WSJWT_EIO, NULL, (int)w);
        return;
    }
    c->out_off += (size_t)w;
    if (c->out_off == c->out.len) {
        c->out.len = c->out_off = 0;
        c->writing = 0;
        if (c->out.cap > KEEP_OUT)
            buf_free(&c->out);
        return;
    }
    if (c->out_off >= c->out.len / 2) { /* what is sent goes, before the buffer grows */
        memmove(c->out.p, c->out.p + c->out_off, c->out.len - c->out_off);
        c->out.len -= c->out_off;
        c->out_off = 0;
    }
    c->writing = 1;
}

/* dst = src XOR mask (dst == src: in place), in one pass: a copy then an
 * in-place mask would be two passes over the payload, measurable at 64 KiB
 * messages. 32 bytes per step as a vector (two SSE2 registers on any x86-64,
 * one AVX2 register where the CPU has it: target_clones picks at load
 * time). */
typedef uint64_t mask_vec __attribute__((vector_size(32)));
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define MASK_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef MASK_CLONES
#define MASK_CLONES
#endif
/* The word-at-a-time part: bytes [i, n) of dst = src XOR the key (phase 0
 * at i, a multiple of 4), 8 bytes a step, then byte by byte. */
static inline void xor_words(uint8_t *dst, const uint8_t *src, size_t i, size_t n, const uint8_t mask[4])
{
    uint32_t m32;
    memcpy(&m32, mask, 4);
    uint64_t m = ((uint64_t)m32 << 32) | m32; /* the key twice, in memory order */
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= m;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ mask[i & 3];
}

MASK_CLONES
static void xor_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4])
{
    uint32_t m32;
    memcpy(&m32, mask, 4);
    uint64_t m = ((uint64_t)m32 << 32) | m32; /* the key twice, in memory order */
    mask_vec mv = {m, m, m, m};
    size_t i = 0;
    for (; i + 64 <= n; i += 64) { /* two independent vectors per turn */
        mask_vec a, b;
        memcpy(&a, src + i, 32);
        memcpy(&b, src + i + 32, 32);
        a ^= mv;
        b ^= mv;
        memcpy(dst + i, &a, 32);
        memcpy(dst + i + 32, &b, 32);
    }
    xor_words(dst, src, i, n, mask);
}

/* Frames go out as soon as they are written. Set at the first frame, not at
 * connect: the request is one write that Nagle never holds, and a client
 * that only upgrades (bench --mode upgrade) saves a system call per
 * connection. */
static inline void set_nodelay(struct wsjwt_client *c)
{
    if (!c->nodelay && c->fd >= 0) {
        int one = 1;
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->nodelay = 1;
    }
}

/* Append one masked frame to `out`; flush unless we are inside a callback of
 * this client (then the caller's frames go out together when it returns).
 * queue_frame's body, in line in wsjwt_client_send (one call and its
 * register saves less per message). `wire_key` NULL: `data` is the payload,
 * masked here. Else `data` are the bytes that go on the wire as they are
 * (wsjwt_client_bench_send_wire): the payload is data XOR the fresh key,
 * which is also copied to wire_key. Call sites pass a constant, so each
 * in-lined copy keeps one of the two. */
static inline __attribute__((always_inline)) int frame_out(struct wsjwt_client *c, unsigned first,
                                                           const void *data, size_t len, uint8_t *wire_key)
{
    /* A small frame's header is 2 bytes and the key (no call per message). */
    size_t hs = len < 126 ? 6 : wsjwt__ws_header_size(len, 1), n = hs;
    if (len > SIZE_MAX - hs)
        return WSJWT_ETOOBIG;
    /* A large wire frame's payload stays where it is (a segment, see
     * WIRE_SEGMENT): only its header goes into the cork. */
    int seg = wire_key && len >= WIRE_SEGMENT;
    /* The cork when c owns it or it is free, nothing of c's waits (order),
     * the frame fits, and the frame will be flushed from a socket of ours
     * (not wss://: TLS encrypts from `out`). */
    int corked = !c->tls && c->fd >= 0 && c->state > ST_CONNECTING && c->out.len == c->out_off &&
                 (!cork.owner || cork.owner == c) && hs + (seg ? 0 : len) <= CORK_SIZE - cork.len &&
                 (!seg || cork.nseg + 2 <= CORK_SEGS) && (cork.p || shared_rbuf());
    seg = seg && corked;
    int rc;
    uint8_t *p;
    if (corked) {
        p = cork.p + cork.len;
    } else {
        if ((rc = buf_reserve(&c->out, hs + len, SIZE_MAX)) != 0)
            return rc;
        p = c->out.p + c->out.len;
    }
    /* The key straight into the header (the frame is not queued until
     * out.len moves, so a failure leaves nothing behind). */
    if ((rc = wsjwt__client_mask(p + hs - 4)) != 0)
        return rc;
    if (len < 126) { /* the usual small frame, without the general writer nor a vector call */
        p[0] = (uint8_t)first;
        p[1] = (uint8_t)(0x80u | len);
        if (wire_key)
            memcpy(p + hs, data, len);
        else
            xor_words(p + hs, data, 0, len, p + hs - 4);
    } else {
        uint8_t mask[4];
        memcpy(mask, p + hs - 4, 4);
        if ((rc = wsjwt__ws_write_header(p, hs, first, len, mask, &n)) != 0)
            return rc;
        if (wire_key && !seg)
            memcpy(p + hs, data, len);
        else if (!wire_key)
            xor_mask(p + hs, data, len, p + hs - 4);
    }
    if (wire_key)
        memcpy(wire_key, p + hs - 4, 4);
    set_nodelay(c);
    if (seg) {
        cork.len += hs;
        if (cork.len > cork.seg_end)
            cork.seg[cork.nseg++] = (struct iovec){cork.p + cork.seg_end, cork.len - cork.seg_end};
        cork.seg[cork.nseg++] = (struct iovec){(void *)(uintptr_t)data, len};
        cork.seg_end = cork.len;
        cork.ext += len;
        cork.owner = c;
    } else if (corked) {
        cork.len += hs + len;
        cork.owner = c;
    } else {
        c->out.len += hs + len;
    }
    if (!c->depth)
        tx_flush(c);
    return 0;
}

/* frame_out out of line: the send functions' short way (small_corked) then
 * saves fewer registers. */
static __attribute__((noinline)) int queue_frame(struct wsjwt_client *c, unsigned first, const void *data,
                                                 size_t len)
{
    return frame_out(c, first, data, len, NULL);
}

static __attribute__((noinline)) int queue_wire(struct wsjwt_client *c, const void *wire, size_t len,
                                                uint8_t key[4])
{
    return frame_out(c, WSJWT__WS_FIN | WSJWT__WS_BINARY, wire, len, key);
}

/* The usual send of a load generator in one short pass: a small frame
 * (under 126 bytes) of an open client, sent from inside its callbacks or a
 * cork (so nothing is flushed now), into the thread's cork, which c holds
 * (within max_send_queue) or may take, with nothing of c's waiting in `out`,
 * on a plain socket that has TCP_NODELAY already: send_allowed's checks in
 * the form they take then, and no header writer. Returns 1 when the frame
 * is queued (its key copied to wire_key when that is set, as frame_out
 * does), 0 for the general way (send_allowed, frame_out). The whole
 * generator per echoed 32-byte binary message under callgrind (bench, 100 x
 * 8 in flight against raw_echo): 480 -> 366 instructions, together with the
 * receive side's short way (rx_frames) and bench's in-lined echo path. */
static inline __attribute__((always_inline)) int small_corked(struct wsjwt_client *c, unsigned first,
                                                              const void *data, size_t len, uint8_t *wire_key)
{
    if (!c || !data || c->state != ST_OPEN || len >= 126 || !c->depth || !c->nodelay || c->fd < 0 || c->tls ||
        c->out.len != c->out_off ||
        (cork.owner == c ? cork.len + cork.ext + len > c->max_send_queue : cork.owner || !cork.p) ||
        len + 6 > CORK_SIZE - cork.len)
        return 0;
    uint8_t *p = cork.p + cork.len;
    /* The key first: nothing is queued until cork.len moves, so a failed
     * refill leaves nothing behind and the general way reports it. */
    if (wsjwt__client_mask(p + 2) != 0)
        return 0;
    p[0] = (uint8_t)first;
    p[1] = (uint8_t)(0x80u | len);
    if (wire_key) {
        memcpy(wire_key, p + 2, 4);
        memcpy(p + 6, data, len);
    } else {
        xor_words(p + 6, data, 0, len, p + 2);
    }
    cork.len += 6 + len;
    cork.owner = c;
    return 1;
}

/* ---- connect ----------------------------------------------------------------- */

static void rx_got(struct wsjwt_client *c, size_t n);

static void rbuf_ensure(struct wsjwt_client *c)
{
    if (!c->rbuf.p) {
        c->rbuf.p = malloc(c->rbuf_cap);
        c->rbuf.cap = c->rbuf.p ? c->rbuf_cap : 0;
        c->rbuf.len = 0;
        c->rstart = 0;
    }
}

/* One read buffer per thread, lent to a client for one read when it has no
 * bytes waiting: a read that ends on a whole frame (small messages, the
 * upgrade's response) then needs no buffer of the client's own, so
 * thousands of clients read into the same memory (cache- and TLB-friendly:
 * uSockets' shared receive buffer) and an upgrade allocates none. Clients
 * belong to their loop's thread, so no lock; reads never nest. Freed at
 * thread exit (pthread key destructor). */
static pthread_key_t shared_key;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static int shared_ok;
static _Thread_local uint8_t *shared_buf;

static void shared_init(void)
{
    shared_ok = pthread_key_create(&shared_key, free) == 0;
}

static uint8_t *shared_rbuf(void)
{
    if (!shared_buf) {
        pthread_once(&shared_once, shared_init);
        if (!shared_ok || !(shared_buf = malloc(RBUF_SIZE + CORK_SIZE + TBUF_SIZE)))
            return NULL;
        if (pthread_setspecific(shared_key, shared_buf) != 0) {
            free(shared_buf);
            shared_buf = NULL;
            return NULL;
        }
        cork.p = shared_buf + RBUF_SIZE;
    }
    return shared_buf;
}

/* Gives the read buffer back (the shared one is only detached). */
static void rbuf_release(struct wsjwt_client *c)
{
    if (c->rshared) {
        c->rbuf.p = NULL;
        c->rbuf.len = c->rbuf.cap = 0;
        c->rshared = 0;
    } else {
        buf_free(&c->rbuf);
    }
    c->rstart = 0;
}

/* After a read into the shared buffer: bytes left over (a partial frame or
 * head) move to a buffer of the client's own, the shared one goes back.
 * Returns 0 or WSJWT_ENOMEM. */
static int rbuf_unshare(struct wsjwt_client *c)
{
    if (!c->rshared)
        return 0;
    size_t keep = c->rbuf.len - c->rstart;
    const uint8_t *from = c->rbuf.p + c->rstart;
    rbuf_release(c);
    if (keep == 0)
        return 0;
    rbuf_ensure(c);
    if (!c->rbuf.p)
        return WSJWT_ENOMEM;
    memcpy(c->rbuf.p, from, keep);
    c->rbuf.len = keep;
    return 0;
}

/* The read buffer for the next read: the thread's shared one when this
 * client holds no bytes of its own (see shared_rbuf), else its own. */
static void rbuf_lend(struct wsjwt_client *c)
{
    if (!c->rbuf.p && c->rbuf_cap == RBUF_SIZE && (c->rbuf.p = shared_rbuf()) != NULL) {
        c->rbuf.cap = RBUF_SIZE;
        c->rbuf.len = 0;
        c->rstart = 0;
        c->rshared = 1;
    }
    rbuf_ensure(c);
}

static void sock_event(void *owner, uint32_t events);

/* A non-blocking socket connecting to `ai`, in the loop's epoll set before
 * connect() (so that the connect's completion is an event we see): 0, or
 * WSJWT_EIO / WSJWT_ECONNECT with c->os_error set. */
static int sock_open(struct wsjwt_client *c, const struct addrinfo *ai)
{
    if (!c->cp && !(c->cp = wsjwt__cpoll_get(c->loop, sock_event))) {
        c->os_error = UV_ENOMEM;
        return WSJWT_EIO;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        c->os_error = -errno;
        return WSJWT_EIO;
    }
    if (c->bind_address) {
#ifdef IP_BIND_ADDRESS_NO_PORT
        /* Let connect() pick the source port per destination, not bind():
         * many source addresses then share the ephemeral range freely. */
        int one = 1;
        if (ai->ai_family == AF_INET)
            (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
        struct sockaddr_storage sa;
        socklen_t sl = ai->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        int brc = ai->ai_family == AF_INET6 ? uv_ip6_addr(c->bind_address, 0, (struct sockaddr_in6 *)&sa)
                                            : uv_ip4_addr(c->bind_address, 0, (struct sockaddr_in *)&sa);
        if (brc == 0 && bind(fd, (const struct sockaddr *)&sa, sl) != 0)
            brc = -errno;
        if (brc < 0) {
            close(fd);
            c->os_error = brc;
            return WSJWT_ECONNECT;
        }
    }
    int rc = wsjwt__cpoll_add(c->cp, fd, c);
    if (rc < 0) {
        close(fd);
        c->os_error = rc;
        return WSJWT_EIO;
    }
    c->fd = fd;
    c->fd_family = ai->ai_family;
    c->epoch++;
    c->nodelay = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        c->os_error = -errno;
        sock_close(c, 0);
        return WSJWT_ECONNECT;
    }
    c->state = ST_CONNECTING;
    return 0;
}

/* Connects the socket sock_disconnect kept to `ai`, as sock_open connects a
 * new one: 0, or -1 when it cannot (no socket kept, another address family,
 * or connect() failed at once: the caller closes it and opens another). */
static int sock_reconnect(struct wsjwt_client *c, const struct addrinfo *ai)
{
    if (c->fd < 0 || ai->ai_family != c->fd_family)
        return -1;
    c->epoch++;
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
        return -1;
    c->state = ST_CONNECTING;
    return 0;
}

/* Connect to c->ai_next, advancing it, and to the next address while one
 * fails at once. `sync`: called from wsjwt_client_connect() or restart,
 * where a failure is returned, not reported. */
static int try_connect(struct wsjwt_client *c, int sync)
{
    int rc = WSJWT_ECONNECT;
    while (c->ai_next) {
        struct addrinfo *ai = c->ai_next;
        c->ai_next = ai->ai_next;
        if ((rc = sock_open(c, ai)) == 0)
            return 0;
    }
    if (!sync)
        fail(c, rc, NULL, 0);
    return rc;
}

/* TCP is connected: the upgrade request (wss://: the ClientHello first; the
 * request follows the handshake, tls_rx). */
static void on_connected(struct wsjwt_client *c)
{
    c->state = ST_HANDSHAKE;
    if (c->tls) {
        int rc = wsjwt__tls_handshake(c->tls);
        if (rc != WSJWT_EAGAIN && rc != 0) {
            fail(c, rc, NULL, 0);
            return;
        }
        tls_tx(c);
        return;
    }
    /* Straight from the request buffer: an idle client then never holds a
     * send buffer. Only what the kernel did not take is copied. */
    ssize_t w = sock_send(c, c->request, c->request_len);
    if (w < 0) {
        fail(c, WSJWT_EIO, NULL, (int)w);
        return;
    }
    size_t done = (size_t)w;
    if (done == c->request_len)
        return;
    if (buf_reserve(&c->out, c->request_len - done, SIZE_MAX)) {
        fail(c, WSJWT_ENOMEM, NULL, 0);
        return;
    }
    memcpy(c->out.p, c->request + done, c->request_len - done);
    c->out.len = c->request_len - done;
    c->writing = 1;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct wsjwt_client *c = req->data;
    c->pending--;
    c->resolving = 0;
    c->ai = res;
    c->ai_next = res;
    if (c->state == ST_SHUT) {
        finish(c);
        return;
    }
    if (status < 0 || !res) {
        fail(c, WSJWT_ERESOLVE, NULL, status);
        return;
    }
    try_connect(c, 0);
}

/* ---- receive path ------------------------------------------------------------ */

/* `n` new bytes are at the end of rbuf: handle them, then write what the
 * callbacks sent, in one write. May release the client. */
static void rx_got(struct wsjwt_client *c, size_t n)
{
    c->rbuf.len += n;
    c->depth++;
    rx_bytes(c);
    c->depth--;
    if (rbuf_unshare(c) != 0 && c->state != ST_SHUT && c->state != ST_FAILING)
        fail(c, WSJWT_ENOMEM, NULL, 0);
    if (c->state != ST_SHUT && c->state != ST_FAILING)
        tx_flush(c);
    c->reads++;
    if (c->state == ST_OPEN) {
        /* A connection that reads often keeps its read buffer (no allocation
         * per message); one that reads rarely frees it after each read, so
         * thousands of idle clients hold none. The timer, idle while open,
         * tells them apart: armed at a read, it looks at how many reads came
         * in its period. Checking it is cheaper than re-arming it. */
        if (!c->sweeping) {
            c->reads_at_sweep = c->reads - 1;
            c->sweeping = 1;
            uv_timer_start(&c->timer, on_timer, RBUF_IDLE_MS, 0);
        } else if (!c->busy && c->reads - c->reads_at_sweep >= 2) {
            c->busy = 1;
        }
        if (!c->busy && c->rbuf.len == 0 && n < RBUF_KEEP_READ)
            rbuf_release(c);
    } else if (c->rbuf.len == 0 && (n < RBUF_KEEP_READ || c->state == ST_SHUT)) {
        rbuf_release(c);
    }
    if (c->freed)
        maybe_release(c);
}

/* ---- TLS (wss://) ------------------------------------------------------------ */

/* The engine's records go straight to the socket (no copy into its queue,
 * no allocation per flush); what the socket does not take, or any error,
 * leaves the rest in the engine's queue, which tls_tx sends (and where it
 * meets the error). */
static size_t tls_sink(void *user, const uint8_t *p, size_t len)
{
    struct wsjwt_client *c = user;
    if (c->fd < 0 || c->state <= ST_CONNECTING)
        return 0;
    ssize_t w = sock_send(c, p, len);
    return w > 0 ? (size_t)w : 0;
}

/* Encrypts what `out` holds (once the handshake is done) and sends the
 * records; what the socket does not take stays in the engine's queue until
 * the socket has room. Meanwhile frames wait in `out` as plaintext (so
 * wsjwt_client_queued and the send-queue cap see them). */
static void tls_tx(struct wsjwt_client *c)
{
    struct wsjwt__tls *t = c->tls;
    if (c->fd < 0 || c->state <= ST_CONNECTING)
        return;
    for (;;) {
        if (c->out.len > c->out_off && t->done && wsjwt__tls_out_size(t) == 0) {
            int rc = wsjwt__tls_write(t, c->out.p + c->out_off, c->out.len - c->out_off);
            c->out.len = c->out_off = 0;
            if (c->out.cap > KEEP_OUT)
                buf_free(&c->out);
            if (rc) {
                fail(c, rc, NULL, 0);
                return;
            }
        }
        size_t n = wsjwt__tls_out_size(t);
        if (n == 0) {
            c->writing = 0;
            return;
        }
        ssize_t w = sock_send(c, t->out.data + t->out.off, n);
        if (w < 0) {
            wsjwt__outq_free(&t->out);
            c->writing = 0;
            fail(c, WSJWT_EIO, NULL, (int)w);
            return;
        }
        wsjwt__outq_consume(&t->out, (size_t)w);
        if ((size_t)w < n) { /* the rest when the socket has room */
            c->writing = 1;
            return;
        }
    }
}

/* n bytes of ciphertext at p (the shared buffer): the handshake (then the
 * upgrade request), then plaintext into rbuf (lent, as for ws://), handed to
 * rx_got piece by piece. */
static void tls_rx(struct wsjwt_client *c, const uint8_t *p, size_t n)
{
    struct wsjwt__tls *t = c->tls;
    if (wsjwt__tls_feed(t, p, n) != 0) {
        fail(c, WSJWT_ENOMEM, NULL, 0);
        return;
    }
    c->depth++; /* rx_got must not release c under us */
    if (!t->done) {
        int rc = wsjwt__tls_handshake(t);
        if (rc == 0 && c->request)
            rc = wsjwt__tls_write(t, c->request, c->request_len);
        if (rc != 0 && rc != WSJWT_EAGAIN)
            fail(c, rc, NULL, 0);
    }
    while (t->done && !c->freed && c->state != ST_SHUT && c->state != ST_FAILING) {
        rbuf_lend(c);
        size_t got = 0;
        int rc = c->rbuf.p && c->rbuf.len < c->rbuf.cap
                     ? wsjwt__tls_read(t, c->rbuf.p + c->rbuf.len, c->rbuf.cap - c->rbuf.len, &got)
                     : WSJWT_ENOMEM;
        if (rc == WSJWT_EAGAIN)
            break;
        if (rc == WSJWT_ECLOSED) {
            /* close_notify: as a FIN would be */
            if (c->state == ST_CLOSED_WAIT)
                shut(c);
            else
                fail(c, c->state == ST_HANDSHAKE ? WSJWT_EHTTP_RESPONSE : WSJWT_ECLOSED, NULL, 0);
            break;
        }
        if (rc) {
            fail(c, rc, NULL, 0);
            break;
        }
        rx_got(c, got);
    }
    c->depth--;
    if (c->state != ST_SHUT && !c->freed) {
        if (wsjwt__tls_stash(t) != 0)
            fail(c, WSJWT_ENOMEM, NULL, 0);
        else if (c->state != ST_SHUT)
            tls_tx(c);
    }
    if (c->freed)
        maybe_release(c);
}

/* Reads until the socket is empty (edge-triggered: a read shorter than the
 * buffer took everything there was), handing each piece to the receive path.
 * `hup`: the server's FIN (or an error) came with this event: read on to the
 * end of the stream, which no later event would report. Stops when a
 * callback freed, shut or restarted the client. */
static void sock_read(struct wsjwt_client *c, uint32_t epoch, int hup)
{
    for (;;) {
        uint8_t *p;
        size_t room;
        if (c->tls) {
            p = shared_rbuf();
            if (p)
                p += RBUF_SIZE + CORK_SIZE;
            room = p ? TBUF_SIZE : 0;
        } else {
            rbuf_lend(c);
            p = c->rbuf.p + c->rbuf.len;
            room = c->rbuf.p ? c->rbuf.cap - c->rbuf.len : 0;
        }
        if (room == 0) { /* the receive path always leaves room: only a failed allocation */
            fail(c, WSJWT_ENOMEM, NULL, 0);
            return;
        }
        ssize_t n;
        do
            n = wsjwt__sys_recv(c->fd, p, room);
        while (n < 0 && errno == EINTR);
        if (n > 0) {
            if (c->tls)
                tls_rx(c, p, (size_t)n);
            else
                rx_got(c, (size_t)n);
            if (c->freed || c->epoch != epoch || c->fd < 0 || ((size_t)n < room && !hup))
                return;
            continue;
        }
        int err = n < 0 ? -errno : UV_EOF;
        if (c->rshared && c->rbuf.len == 0)
            rbuf_release(c);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (c->rbuf.len == 0)
            rbuf_release(c);
        if (c->state == ST_CLOSED_WAIT || c->state == ST_FAILING) {
            shut(c); /* RFC 6455 7.1.1: the server closes TCP first; done */
        } else if (n == 0) {
            fail(c, c->state == ST_HANDSHAKE ? WSJWT_EHTTP_RESPONSE : WSJWT_ECLOSED, NULL, 0);
        } else {
            fail(c, WSJWT_EIO, NULL, err);
        }
        return;
    }
}

/* Readiness of the socket (poll.c). The client stays allocated until this
 * returns, whatever its callbacks do. */
static void sock_event(void *owner, uint32_t events)
{
    struct wsjwt_client *c = owner;
    uint32_t epoch = c->epoch;
    c->depth++;
    if (c->state == ST_CONNECTING && (events & (EPOLLERR | EPOLLHUP))) {
        /* The connect failed: why (only now, a system call on the failure
         * path only), then the next address, on a fresh socket. */
        int e = 0;
        socklen_t el = sizeof(e);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e == 0)
            e = ECONNREFUSED;
        c->os_error = -e;
        sock_close(c, 0);
        if (c->ai_next)
            try_connect(c, 0);
        else
            fail(c, WSJWT_ECONNECT, NULL, -e);
        goto out;
    }
    if (c->state == ST_CONNECTING) {
        if (!(events & EPOLLOUT))
            goto out;
        on_connected(c);
    } else if ((events & EPOLLOUT) && c->writing) {
        tx_flush(c);
        if (c->state == ST_FAILING && !c->writing && c->epoch == epoch) {
            shut(c);
            goto out;
        }
    }
    if (c->epoch == epoch && c->fd >= 0 && !c->freed &&
        (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        sock_read(c, epoch, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
out:
    c->depth--;
    if (c->freed)
        maybe_release(c);
}

static void copy_headers(const struct wsjwt__http_header *in, size_t n, struct wsjwt_client_header *out)
{
    for (size_t i = 0; i < n; i++) {
        out[i].name = in[i].name;
        out[i].name_len = in[i].name_len;
        out[i].value = in[i].value;
        out[i].value_len = in[i].value_len;
    }
}

/* The accept value the key asks for, computed at the first 101 (a refusal
 * needs none) with OpenSSL's SHA-1, as the server computes its own
 * (src/server/accept.c: 2.1 k instructions under callgrind against 3.1 k for
 * the core's). */
static const char *expected_accept(struct wsjwt_client *c)
{
    if (!c->accept_ok) {
        wsjwt__server_ws_accept(c->key, WSJWT_WS_KEY_LEN, c->accept);
        c->accept_ok = 1;
    }
    return c->accept;
}

/* The response head parsed and checked the general way: 1 (*wr and
 * *head_len filled), 0 while incomplete, -1 when the client failed. */
static int rx_head_checked(struct wsjwt_client *c, struct wsjwt__ws_client_result *wr, size_t *head_len)
{
    struct wsjwt__http_header hs[WSJWT_HTTP_DEFAULT_MAX_HEADERS];
    struct wsjwt__http_response res;
    int rc = wsjwt__http_response_parse(&c->hp, (const char *)c->rbuf.p, c->rbuf.len, hs,
                                        WSJWT_HTTP_DEFAULT_MAX_HEADERS, &res, head_len);
    if (rc == WSJWT_EAGAIN)
        return 0;
    if (rc < 0) {
        fail(c, rc == WSJWT_EHTTP_MALFORMED ? WSJWT_EHTTP_RESPONSE : rc, NULL, 0);
        return -1;
    }
    rc = wsjwt__http_response_check_accept(&res, res.status == 101 ? expected_accept(c) : "", c->protocols,
                                           wr);
    if (rc == 0 && c->protocols && !wr->protocol)
        rc = WSJWT_EHTTP_PROTOCOL; /* offered, none selected: as Node's ws refuses it */
    if (rc == 0 && wr->protocol && c->token && wr->protocol_len == strlen(c->token) &&
        memcmp(wr->protocol, c->token, wr->protocol_len) == 0)
        rc = WSJWT_EHTTP_PROTOCOL; /* a server must never echo the token */
    if (rc) {
        struct wsjwt_client_header pub[WSJWT_HTTP_DEFAULT_MAX_HEADERS];
        copy_headers(res.headers, res.num_headers, pub);
        struct wsjwt_client_response r = {res.status, res.reason, res.reason_len, pub, res.num_headers};
        fail(c, rc, &r, 0);
        return -1;
    }
    return 1;
}

/* The response head: returns bytes consumed (0 while incomplete) or -1 when
 * the client failed. The usual 101, byte for byte the canonical one, is
 * taken without the parser (about 2 k instructions per upgrade under
 * callgrind); anything else goes the general way, which decides. */
static long rx_handshake(struct wsjwt_client *c)
{
    struct wsjwt__ws_client_result wr = {0};
    size_t head_len = 0;
    static const char ok[] = "HTTP/1.1 101 ";
    int m = -1;
    if (c->canon && c->rbuf.len >= sizeof(ok) - 1 && memcmp(c->rbuf.p, ok, sizeof(ok) - 1) == 0)
        m = wsjwt__http_response_canonical((const char *)c->rbuf.p, c->rbuf.len, expected_accept(c),
                                           &head_len);
    if (m == 0)
        return 0;
    if (m < 0) {
        int rc = rx_head_checked(c, &wr, &head_len);
        if (rc <= 0)
            return rc;
    }
    if (wr.extensions && !c->deflate) { /* nothing offered: an extension answer is a violation */
        fail(c, WSJWT_EHTTP_RESPONSE, NULL, 0);
        return -1;
    }
    if (wr.extensions) {
        struct wsjwt__pmd_params pp;
        int rc = wsjwt__pmd_client_check(wr.extensions, wr.extensions_len, c->deflate == 2, &pp);
        if (rc < 0) {
            fail(c, rc, NULL, 0);
            return -1;
        }
        if (!(c->pmd = calloc(1, sizeof(*c->pmd)))) {
            fail(c, WSJWT_ENOMEM, NULL, 0);
            return -1;
        }
        wsjwt__pmd_ctx_from_params(&c->pmd->ctx, &pp, 0);
        c->wcfg.allow_rsv1 = 1; /* RFC 7692 6: RSV1 marks compressed messages now */
        /* An incompressible message of max_message bytes is a little longer
         * compressed; the inflated size stays capped at max_message. */
        c->wcfg.max_message = wsjwt__pmd_wire_cap(c->max_message);
    }
    if (wr.protocol) {
        c->protocol = dup_n(wr.protocol, wr.protocol_len);
        if (!c->protocol) {
            fail(c, WSJWT_ENOMEM, NULL, 0);
            return -1;
        }
    }
    /* The request (it holds the token) stays for wsjwt_client_restart; it is
     * wiped when the client is released. */
    c->state = ST_OPEN;
    c->sweeping = 0; /* the connect timer is left to run out: see arm_connect */
    uint32_t epoch = c->epoch;
    if (!c->freed && c->cb.on_open)
        c->cb.on_open(c, c->protocol, c->user);
    if (c->epoch != epoch)
        return -1; /* restarted from on_open: these bytes were the old connection's */
    return (long)head_len;
}

static void deliver(struct wsjwt_client *c, int binary, const uint8_t *p, size_t n)
{
    if (!c->freed && c->cb.on_message && (c->state == ST_OPEN || c->state == ST_CLOSING))
        c->cb.on_message(c, binary, p, n, c->user);
}

static int on_control(struct wsjwt_client *c, const struct wsjwt__ws_event *ev)
{
    if (ev->opcode == WSJWT__WS_PING) {
        if (c->state == ST_OPEN)
            return queue_frame(c, WSJWT__WS_FIN | WSJWT__WS_PONG, ev->data, ev->len);
        return 0;
    }
    if (ev->opcode == WSJWT__WS_PONG) {
        if (!c->freed && c->cb.on_pong)
            c->cb.on_pong(c, ev->data, ev->len, c->user);
        return 0;
    }
    /* CLOSE: the decoder validated code and reason. */
    c->close_code = ev->close_code ? ev->close_code : 1005;
    c->close_reason_len = ev->len > 2 ? ev->len - 2 : 0;
    memcpy(c->close_reason, ev->data + 2, c->close_reason_len);
    if (!c->close_sent) {
        /* RFC 6455 5.5.1: echo the status code. */
        uint8_t payload[2];
        size_t plen = 0;
        if (ev->close_code) {
            payload[0] = (uint8_t)(ev->close_code >> 8);
            payload[1] = (uint8_t)ev->close_code;
            plen = 2;
        }
        c->close_sent = 1;
        int rc = queue_frame(c, WSJWT__WS_FIN | WSJWT__WS_CLOSE, payload, plen);
        if (rc)
            return rc;
    }
    c->state = ST_CLOSED_WAIT;
    uv_timer_start(&c->timer, on_timer, c->close_timeout_ms, 0);
    return 0;
}

/* A compressed message assembled in c->msg: inflated under the message cap
 * (RFC 7692 7.2.2), text checked as UTF-8 after inflating, delivered. */
static int inflate_message(struct wsjwt_client *c, int binary)
{
    struct wsjwt__pmd_buf *out = &c->pmd->buf;
    out->len = 0;
    int rc = wsjwt__pmd_ctx_inflate(&c->pmd->ctx, c->msg.p, c->msg.len, c->max_message, out);
    if (rc == 0 && !binary && !wsjwt__utf8_valid(out->data, out->len))
        rc = WSJWT_EWS_UTF8;
    if (rc == 0)
        deliver(c, binary, out->data, out->len);
    if (out->cap > KEEP_OUT)
        wsjwt__pmd_buf_free(out);
    return rc;
}

/* Bytes the frame at p needs in all (header and payload), from its header;
 * 0 while the header itself is incomplete (n bytes available). */
static size_t frame_need(const uint8_t *p, size_t n)
{
    if (n < 2)
        return 0;
    uint64_t len = p[1] & 0x7fu;
    size_t hs = 2u + ((p[1] & 0x80u) ? 4u : 0u) + (len == 126 ? 2u : len == 127 ? 8u : 0u);
    if (n < hs)
        return 0;
    if (len == 126) {
        len = (uint64_t)p[2] << 8 | p[3];
    } else if (len == 127) {
        len = 0;
        for (unsigned i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
    }
    return len > SIZE_MAX - hs ? SIZE_MAX : hs + (size_t)len;
}

/* bench_on_masked: the whole frame p, whose header before the key is hs
 * bytes (2, 4 or 10) and whose payload is plen bytes, is handed over masked
 * when it is a complete data message as we send them. Returns 1 when it
 * was, 0 when it must go the usual way (strip_mask, the decoder), or an
 * error for a message over the cap. The header is checked as the decoder
 * would (RFC 6455 5.2: minimal length encoding); the payload's bytes, UTF-8
 * included, are the caller's to compare with what it sent. In line, with
 * hs a constant 2 from rx_frames' short way: the length checks fold away. */
static inline __attribute__((always_inline)) int masked_message(struct wsjwt_client *c, const uint8_t *p,
                                                                size_t hs, size_t plen)
{
    unsigned b0 = p[0]; /* FIN, no RSV bit, text or binary */
    if ((b0 != (WSJWT__WS_FIN | WSJWT__WS_TEXT) && b0 != (WSJWT__WS_FIN | WSJWT__WS_BINARY)) ||
        !(p[1] & 0x80u))
        return 0;
    if ((hs == 4 && plen < 126) || (hs == 10 && plen <= 0xffffu))
        return 0; /* not minimal: the decoder refuses it */
    if (plen > c->max_message)
        return WSJWT_EWS_MESSAGE_TOO_BIG;
    /* rx_frames, the only caller, runs while the state is OPEN or CLOSING */
    if (!c->freed)
        c->on_masked(c, b0 == (WSJWT__WS_FIN | WSJWT__WS_BINARY), p + hs + 4, plen, p + hs, c->user);
    return 1;
}

/* bench_raw_echo: our own masked frame came back, whole, at in + *off.
 * Unmask its payload here (one vector pass, xor_mask) and rewrite its header
 * without the mask key, 4 bytes later, so that the decoder takes it as the
 * unmasked server frame it stands for: the decoder's own unmask would be a
 * second pass, 8 bytes a step (32.8 k instructions per 64 KiB message under
 * callgrind). A frame that came back unmasked is not ours: refused, as a
 * server refuses it. */
static int strip_mask(uint8_t *in, size_t *off)
{
    uint8_t *p = in + *off;
    if (!(p[1] & 0x80u))
        return WSJWT_EWS_UNMASKED;
    unsigned l7 = p[1] & 0x7fu;
    size_t hs = 2u + (l7 == 126 ? 2u : l7 == 127 ? 8u : 0u);
    size_t plen = frame_need(p, SIZE_MAX) - hs - 4u;
    uint8_t mask[4];
    memcpy(mask, p + hs, 4);
    xor_mask(p + hs + 4, p + hs + 4, plen, mask);
    p[1] &= 0x7fu;
    memmove(p + 4, p, hs);
    *off += 4;
    return 0;
}

/* A whole small message in one server frame, as echoes come (FIN, no RSV
 * bit, text or binary, unmasked, under 126 bytes: a one-byte length, minimal
 * by construction), at p with its frame complete in the buffer and no
 * message open: checked as the decoder would (the message cap, UTF-8 for
 * text) and delivered from here, without the decoder's general state
 * machine (115 instructions per 32-byte echo under callgrind); the decoder,
 * between frames with no message open, stays as it was. Returns 1 when
 * delivered, 0 for the usual way, or the decoder's error. */
static inline __attribute__((always_inline)) int small_message(struct wsjwt_client *c, const uint8_t *p)
{
    unsigned b0 = p[0], len = p[1];
    if ((b0 != (WSJWT__WS_FIN | WSJWT__WS_TEXT) && b0 != (WSJWT__WS_FIN | WSJWT__WS_BINARY)) || len >= 126)
        return 0; /* len >= 126 also when the mask bit is set: the decoder refuses that */
    if (len > c->wcfg.max_message)
        return WSJWT_EWS_MESSAGE_TOO_BIG;
    int binary = (b0 & 0x0fu) == WSJWT__WS_BINARY;
    if (!binary && !wsjwt__utf8_valid(p + 2, len))
        return WSJWT_EWS_UTF8;
    deliver(c, binary, p + 2, len);
    return 1;
}

static void rx_frames(struct wsjwt_client *c, size_t off)
{
    uint8_t *in = c->rbuf.p;
    size_t len = c->rbuf.len, need = 0;
    uint32_t epoch = c->epoch;
    while (off < len && (c->state == ST_OPEN || c->state == ST_CLOSING)) {
        if (!c->mid_frame && !c->msg_open && len - off >= 2) {
            /* The usual frame first, whole and small (length under 126):
             * without frame_need and the checks for frames that span reads
             * (callgrind, bench's 32-byte echo: about 25 instructions less
             * per message; see small_corked for the whole). */
            unsigned b1 = in[off + 1], l7 = b1 & 0x7fu;
            size_t small = 2u + l7 + ((b1 & 0x80u) ? 4u : 0u);
            if (l7 < 126 && small <= len - off) {
                int rc = (b1 & 0x80u)  ? (c->on_masked ? masked_message(c, in + off, 2, l7) : 0)
                         : c->raw_echo ? 0
                                       : small_message(c, in + off);
                if (rc < 0) {
                    fail(c, rc, NULL, 0);
                    return;
                }
                if (rc == 1) {
                    off += small;
                    continue;
                }
            }
        }
        if (!c->mid_frame) {
            /* A frame that fits in the read buffer is waited for whole and
             * then delivered in place: handed over in chunks it would be
             * copied into `msg` (64 KiB messages: 10 k instructions each). */
            need = frame_need(in + off, len - off);
            if (need == 0 || (need > len - off && need <= c->rbuf.cap))
                break;
            if (!c->msg_open && need <= len - off && c->on_masked) {
                /* A whole larger message in one frame, handed over masked
                 * (small ones took the way above). */
                unsigned l7 = in[off + 1] & 0x7fu;
                size_t hs = 2u + (l7 == 126 ? 2u : l7 == 127 ? 8u : 0u);
                int rc = masked_message(c, in + off, hs, need - hs - 4u);
                if (rc < 0) {
                    fail(c, rc, NULL, 0);
                    return;
                }
                if (rc == 1) {
                    off += need;
                    continue;
                }
            }
            if (c->raw_echo) {
                int rc = need > len - off ? WSJWT_EWS_MESSAGE_TOO_BIG : strip_mask(in, &off);
                if (rc) {
                    fail(c, rc, NULL, 0);
                    return;
                }
            }
        }
        struct wsjwt__ws_event ev;
        size_t used = 0;
        int rc = wsjwt__ws_decode(&c->dec, in + off, len - off, &used, &ev);
        off += used;
        if (rc == WSJWT_EAGAIN)
            break;
        if (rc < 0) {
            fail(c, rc, NULL, 0);
            return;
        }
        c->mid_frame = !(ev.flags & WSJWT__WS_FRAME_LAST);
        if (ev.opcode < WSJWT__WS_CLOSE)
            c->msg_open = !(ev.flags & WSJWT__WS_MSG_LAST);
        need = 0;
        if (ev.opcode >= WSJWT__WS_CLOSE) {
            rc = on_control(c, &ev);
            if (rc) {
                fail(c, rc, NULL, 0);
                return;
            }
            continue;
        }
        int binary = ev.opcode == WSJWT__WS_BINARY;
        if ((ev.flags & (WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST | WSJWT__WS_COMPRESSED)) ==
            (WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST)) {
            deliver(c, binary, ev.data, ev.len); /* whole in the buffer: in place */
            continue;
        }
        if (ev.flags & WSJWT__WS_MSG_FIRST)
            c->msg.len = 0;
        if (ev.len) {
            rc = buf_reserve(&c->msg, ev.len, (size_t)c->wcfg.max_message);
            if (rc) {
                fail(c, rc == WSJWT_ETOOBIG ? WSJWT_EWS_MESSAGE_TOO_BIG : rc, NULL, 0);
                return;
            }
            memcpy(c->msg.p + c->msg.len, ev.data, ev.len);
            c->msg.len += ev.len;
        }
        if ((ev.flags & WSJWT__WS_MSG_LAST) && (ev.flags & WSJWT__WS_COMPRESSED)) {
            rc = inflate_message(c, binary);
            c->msg.len = 0;
            if (rc) {
                fail(c, rc, NULL, 0);
                return;
            }
        } else if (ev.flags & WSJWT__WS_MSG_LAST) {
            deliver(c, binary, c->msg.p, c->msg.len);
            c->msg.len = 0;
            if (c->msg.cap > KEEP_OUT)
                buf_free(&c->msg);
        }
    }
    if (c->epoch != epoch)
        return; /* a callback restarted the client: its buffers are the new connection's */
    if (c->state == ST_SHUT || c->state == ST_FAILING || c->freed || off >= len) {
        c->rbuf.len = c->rstart = 0;
        return;
    }
    /* Keep the bytes not handled yet (a partial frame): where they are when
     * the rest of the frame fits after them, else moved to the start (in the
     * shared buffer they stay: rbuf_unshare copies them to the start of the
     * client's own). */
    if (!c->rshared && (need == 0 || need > c->rbuf.cap - off)) {
        memmove(in, in + off, len - off);
        len -= off;
        off = 0;
    }
    c->rstart = off;
    c->rbuf.len = len;
}

static void rx_bytes(struct wsjwt_client *c)
{
    size_t off = c->rstart;
    if (c->state == ST_HANDSHAKE) {
        long n = rx_handshake(c);
        if (n < 0) {
            c->rbuf.len = c->rstart = 0;
            return;
        }
        if (n == 0) {
            if (c->rbuf.len == c->rbuf.cap) /* the parser's cap is below ours: cannot happen */
                fail(c, WSJWT_EHTTP_HEAD_TOO_LARGE, NULL, 0);
            return;
        }
        off = (size_t)n;
    }
    if (c->state == ST_CLOSED_WAIT) {
        c->rbuf.len = c->rstart = 0; /* RFC 6455 5.5.1: nothing counts after the close */
        return;
    }
    rx_frames(c, off);
}

/* ---- the upgrade request ------------------------------------------------------- */

static int pct_encode(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (buf_reserve(b, 3, SIZE_MAX))
            return WSJWT_ENOMEM;
        if (plain) {
            b->p[b->len++] = ch;
        } else {
            b->p[b->len++] = '%';
            b->p[b->len++] = (uint8_t)hex[ch >> 4];
            b->p[b->len++] = (uint8_t)hex[ch & 15];
        }
    }
    return 0;
}

static int buf_add(struct buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n + 1, SIZE_MAX))
        return WSJWT_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

#define MAX_EXTRA 64
/* DNS names are at most 253 characters (RFC 1035); longer hosts still work,
 * through a heap buffer. */
#define HOST_ON_STACK 255u

/* RFC 7230 3.2.6: a header name is a token. */
static int is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
            return 0;
    }
    return 1;
}

/* A new key from a 16-byte nonce. */
static void set_key(struct wsjwt_client *c, const uint8_t nonce[16])
{
    wsjwt__ws_key_encode(nonce, c->key);
    c->key[WSJWT_WS_KEY_LEN] = 0;
    c->accept_ok = 0;
}

static int build_request(struct wsjwt_client *c, const struct wsjwt_client_opts *o)
{
    struct buf host = {0}, target = {0}, protos = {0}, auth = {0};
    struct wsjwt__http_header extra[MAX_EXTRA + 1];
    size_t n_extra = 0;
    int rc = WSJWT_ENOMEM;
    const char *tname = o->token_name ? o->token_name : "token";
    enum wsjwt_token_place place = o->token_place;
    if (o->token && place == WSJWT_TOKEN_IN_NONE)
        place = WSJWT_TOKEN_IN_HEADER;
    if (!o->token)
        place = WSJWT_TOKEN_IN_NONE;
    if (o->n_headers > MAX_EXTRA)
        return WSJWT_EINVAL;

    /* ":PORT" by hand: snprintf's format machinery was 2% of an upgrade's
     * user time in `wsjwt bench --mode upgrade` (perf). */
    char port[8];
    size_t plen = sizeof(port);
    for (unsigned v = c->u.port; v || plen == sizeof(port); v /= 10)
        port[--plen] = (char)('0' + v % 10);
    port[--plen] = ':';
    int def = c->u.port == (c->u.tls ? 443 : 80);
    /* The Host value on the stack and the target as a view into our copy of
     * the URL (it runs to the URL's end: NUL-terminated) when they can be:
     * two allocations fewer per connection (bench --mode upgrade). */
    char hostbuf[HOST_ON_STACK + 10];
    const char *host_s = hostbuf, *target_s = c->u.target;
    if (c->u.host_len <= HOST_ON_STACK) {
        size_t h = 0;
        if (c->u.host_is_ipv6)
            hostbuf[h++] = '[';
        memcpy(hostbuf + h, c->u.host, c->u.host_len);
        h += c->u.host_len;
        if (c->u.host_is_ipv6)
            hostbuf[h++] = ']';
        if (!def) {
            memcpy(hostbuf + h, port + plen, sizeof(port) - plen);
            h += sizeof(port) - plen;
        }
        hostbuf[h] = '\0';
    } else {
        if ((c->u.host_is_ipv6 && buf_add(&host, "[", 1)) || buf_add(&host, c->u.host, c->u.host_len) ||
            (c->u.host_is_ipv6 && buf_add(&host, "]", 1)) ||
            (!def && buf_add(&host, port + plen, sizeof(port) - plen)))
            goto out;
        host_s = (const char *)host.p;
    }
    if (c->u.target[0] == '?' || place == WSJWT_TOKEN_IN_QUERY) {
        if (c->u.target[0] == '?' && buf_add(&target, "/", 1))
            goto out;
        if (buf_add(&target, c->u.target, c->u.target_len))
            goto out;
        target_s = (const char *)target.p;
    }
    if (place == WSJWT_TOKEN_IN_QUERY) {
        const char *sep = memchr(c->u.target, '?', c->u.target_len) ? "&" : "?";
        if (buf_add(&target, sep, 1) || pct_encode(&target, tname) || buf_add(&target, "=", 1) ||
            pct_encode(&target, o->token) || buf_add(&target, "", 0))
            goto out;
        target_s = (const char *)target.p;
    }
    if (place == WSJWT_TOKEN_IN_SUBPROTOCOL) {
        if (buf_add(&protos, WSJWT_TOKEN_SUBPROTOCOL ", ", strlen(WSJWT_TOKEN_SUBPROTOCOL ", ")) ||
            buf_add(&protos, o->token, strlen(o->token)))
            goto out;
    }
    for (size_t i = 0; i < o->n_protocols; i++) {
        if ((protos.len && buf_add(&protos, ", ", 2)) ||
            buf_add(&protos, o->protocols[i], strlen(o->protocols[i])))
            goto out;
    }
    if (place == WSJWT_TOKEN_IN_HEADER) {
        extra[n_extra++] = (struct wsjwt__http_header){tname, strlen(tname), o->token, strlen(o->token)};
    } else if (place == WSJWT_TOKEN_IN_BEARER) {
        if (buf_add(&auth, "Bearer ", 7) || buf_add(&auth, o->token, strlen(o->token)))
            goto out;
        extra[n_extra++] = (struct wsjwt__http_header){"Authorization", 13, (const char *)auth.p, auth.len};
    }
    for (size_t i = 0; i < o->n_headers; i++) {
        const struct wsjwt_client_header *h = &o->headers[i];
        if (!h->name || !h->name_len || !h->value || !is_token(h->name, h->name_len))
            goto inval;
        extra[n_extra++] = (struct wsjwt__http_header){h->name, h->name_len, h->value, h->value_len};
    }

    uint8_t nonce[16];
    if (o->bench_raw_echo) {
        /* RFC 6455 1.3's sample nonce "the sample nonce": a byte-echo server
         * answers with its fixed Accept. */
        memcpy(nonce, "the sample nonce", 16);
    } else if (wsjwt__client_random(nonce, sizeof(nonce)) != 0) {
        rc = WSJWT_ECRYPTO;
        goto out;
    }
    set_key(c, nonce);
    c->canon = !protos.len && !o->deflate;
    struct wsjwt__http_client_request r = {
        .host = host_s,
        .target = target_s,
        .key = c->key,
        .protocols = protos.len ? (const char *)protos.p : NULL,
        .extensions = o->deflate ? wsjwt__pmd_client_offer(o->deflate == 2) : NULL,
        .origin = o->origin,
        .extra = extra,
        .n_extra = n_extra,
    };
    size_t need = wsjwt__http_client_request_size(&r), written = 0;
    c->request = malloc(need);
    if (!c->request)
        goto out;
    rc = wsjwt__http_write_client_request(c->request, need, &r, &written);
    if (rc)
        goto out;
    c->request_len = written;
    /* The key's place, for wsjwt_client_restart to patch a fresh one in. */
    static const char kh[] = "\r\nSec-WebSocket-Key: ";
    for (size_t i = 0; i + sizeof(kh) - 1 + WSJWT_WS_KEY_LEN <= written; i++)
        if (memcmp(c->request + i, kh, sizeof(kh) - 1) == 0) {
            c->key_off = i + sizeof(kh) - 1;
            break;
        }
    if (!c->key_off || memcmp(c->request + c->key_off, c->key, WSJWT_WS_KEY_LEN) != 0) {
        rc = WSJWT_EINVAL; /* cannot happen: the request writer puts the key there */
        goto out;
    }
    if (protos.len && !(c->protocols = dup_n((const char *)protos.p, protos.len))) {
        rc = WSJWT_ENOMEM;
        goto out;
    }
    rc = 0;
    goto out;
inval:
    rc = WSJWT_EINVAL;
out:
    if (protos.p)
        OPENSSL_cleanse(protos.p, protos.len);
    if (target.p)
        OPENSSL_cleanse(target.p, target.len);
    if (auth.p)
        OPENSSL_cleanse(auth.p, auth.len);
    buf_free(&host);
    buf_free(&target);
    buf_free(&protos);
    buf_free(&auth);
    return rc;
}

/* ---- public API ------------------------------------------------------------------- */

int wsjwt_client_new(uv_loop_t *loop, const struct wsjwt_client_opts *o, struct wsjwt_client **out)
{
    if (!loop || !o || !o->url || !out)
        return WSJWT_EINVAL;
    *out = NULL;
    struct wsjwt_client *c = calloc(1, sizeof(*c));
    if (!c)
        return WSJWT_ENOMEM;
    c->loop = loop;
    c->cb = o->cb;
    c->user = o->user;
    c->freed = 1; /* so that maybe_release() frees on the error paths below */
    c->max_message = o->max_message ? o->max_message : WSJWT__WS_DEFAULT_MAX_MESSAGE;
    c->max_head = o->max_response_head ? o->max_response_head : WSJWT_HTTP_DEFAULT_MAX_HEAD;
    c->max_send_queue = o->max_send_queue ? o->max_send_queue : 4u * 1024u * 1024u;
    c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    c->close_timeout_ms = o->close_timeout_ms ? o->close_timeout_ms : 5000;
    c->deflate = o->deflate == 1 || o->deflate == 2 ? o->deflate : 0;
    c->deflate_threshold = o->deflate_threshold;
    c->close_code = 1006;
    c->fd = -1;
    int rc = WSJWT_ENOMEM;
    size_t url_len = strlen(o->url);
    if (!(c->url = dup_n(o->url, url_len)))
        goto fail;
    rc = wsjwt_url_parse(c->url, url_len, &c->u);
    if (rc)
        goto fail;
    if (c->u.tls) {
        struct wsjwt__tls_ctx *ctx = (struct wsjwt__tls_ctx *)o->tls;
        char host[256];
        if (c->u.host_len >= sizeof(host)) {
            rc = WSJWT_EINVAL;
            goto fail;
        }
        memcpy(host, c->u.host, c->u.host_len);
        host[c->u.host_len] = '\0';
        if (ctx)
            wsjwt__tls_ctx_ref(ctx);
        else if ((rc = wsjwt__tls_ctx_client_new(NULL, &ctx, NULL, 0)) != 0)
            goto fail;
        rc = WSJWT_ENOMEM;
        if ((c->tls = calloc(1, sizeof(*c->tls))) != NULL && (rc = wsjwt__tls_init(c->tls, ctx, host)) == 0)
            wsjwt__tls_set_sink(c->tls, tls_sink, c);
        wsjwt__tls_ctx_unref(ctx);
        if (rc) {
            free(c->tls);
            c->tls = NULL;
            goto fail;
        }
    }
    rc = WSJWT_ENOMEM;
    if (o->token && !(c->token = dup_n(o->token, strlen(o->token))))
        goto fail;
    if (o->bind_address && !(c->bind_address = dup_n(o->bind_address, strlen(o->bind_address))))
        goto fail;
    rc = build_request(c, o);
    if (rc)
        goto fail;
    /* A byte-echo peer returns our masked frames: rx_frames takes them
     * whole (the read buffer holds the largest allowed), checks the mask bit
     * and unmasks them (strip_mask); the decoder then sees server frames. */
    c->raw_echo = o->bench_raw_echo ? 1 : 0;
    c->on_masked = c->raw_echo ? o->bench_on_masked : NULL;
    c->rbuf_cap = c->max_head > RBUF_SIZE ? c->max_head : RBUF_SIZE;
    if (c->raw_echo && c->max_message < SIZE_MAX - WSJWT__WS_MAX_HEADER &&
        c->max_message + WSJWT__WS_MAX_HEADER > c->rbuf_cap)
        c->rbuf_cap = c->max_message + WSJWT__WS_MAX_HEADER;
    wsjwt__ws_config_init(&c->wcfg, 0);
    c->wcfg.max_message = c->max_message;
    wsjwt__ws_decoder_init(&c->dec, &c->wcfg);
    c->freed = 0;
    *out = c;
    return 0;
fail:
    maybe_release(c);
    return rc;
}

int wsjwt_client_connect(struct wsjwt_client *c)
{
    if (!c || c->state != ST_NEW)
        return WSJWT_ESTATE;
    int rc = uv_timer_init(c->loop, &c->timer);
    if (rc < 0) {
        c->os_error = rc;
        return WSJWT_EIO;
    }
    c->timer.data = c;
    c->handles++;
    wsjwt__http_parser_init(&c->hp, c->max_head, WSJWT_HTTP_DEFAULT_MAX_HEADERS);
    arm_connect(c);
    c->state = ST_RESOLVING;
    char host[256];
    char port[8];
    if (c->u.host_len >= sizeof(host)) {
        c->state = ST_SHUT;
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        c->close_reported = 1; /* no callback for a synchronous failure */
        return WSJWT_EINVAL;
    }
    memcpy(host, c->u.host, c->u.host_len);
    host[c->u.host_len] = 0;
    if (uv_ip4_addr(host, c->u.port, (struct sockaddr_in *)&c->nsa) == 0 ||
        uv_ip6_addr(host, c->u.port, (struct sockaddr_in6 *)&c->nsa) == 0) {
        c->nai.ai_family = c->nsa.ss_family;
        c->nai.ai_socktype = SOCK_STREAM;
        c->nai.ai_addr = (struct sockaddr *)&c->nsa;
        c->nai.ai_addrlen =
            c->nsa.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        c->ai_next = &c->nai;
        rc = try_connect(c, 1);
        if (rc) {
            c->close_reported = 1; /* no callback for a synchronous failure */
            shut(c);
        }
        return rc;
    }
    snprintf(port, sizeof(port), "%u", (unsigned)c->u.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_ADDRCONFIG;
    c->gai.data = c;
    rc = uv_getaddrinfo(c->loop, &c->gai, on_resolved, host, port, &hints);
    if (rc < 0) {
        c->os_error = rc;
        c->state = ST_SHUT;
        c->close_reported = 1;
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        return WSJWT_EIO;
    }
    c->pending++;
    c->resolving = 1;
    return 0;
}

static size_t queued_bytes(const struct wsjwt_client *c)
{
    return c->out.len - c->out_off + (cork.owner == c ? cork.len + cork.ext : 0) +
           (c->tls ? wsjwt__tls_out_size(c->tls) : 0);
}

int wsjwt_client_restart(struct wsjwt_client *c)
{
    if (!c || c->freed || c->state <= ST_RESOLVING || c->state == ST_SHUT || c->resolving)
        return WSJWT_ESTATE;
    (void)sock_disconnect(c);
    /* Everything a connection left behind, back to wsjwt_client_new's state. */
    c->close_sent = 0;
    c->close_code = 1006;
    c->close_reason_len = 0;
    c->out.len = c->out_off = 0;
    c->msg.len = 0;
    c->mid_frame = c->msg_open = 0;
    rbuf_release(c);
    free(c->protocol);
    c->protocol = NULL;
    if (c->pmd) {
        wsjwt__pmd_ctx_free(&c->pmd->ctx);
        wsjwt__pmd_buf_free(&c->pmd->buf);
        free(c->pmd);
        c->pmd = NULL;
    }
    wsjwt__ws_config_init(&c->wcfg, 0);
    c->wcfg.max_message = c->max_message;
    wsjwt__ws_decoder_init(&c->dec, &c->wcfg);
    wsjwt__http_parser_init(&c->hp, c->max_head, WSJWT_HTTP_DEFAULT_MAX_HEADERS);
    int rc = 0;
    if (c->tls) { /* a new TLS session on the same context and name */
        struct wsjwt__tls_ctx *ctx = c->tls->ctx;
        char host[256];
        memcpy(host, c->u.host, c->u.host_len); /* under 256: checked in new() */
        host[c->u.host_len] = '\0';
        wsjwt__tls_ctx_ref(ctx);
        wsjwt__tls_free(c->tls);
        memset(c->tls, 0, sizeof(*c->tls));
        if ((rc = wsjwt__tls_init(c->tls, ctx, host)) == 0)
            wsjwt__tls_set_sink(c->tls, tls_sink, c);
        wsjwt__tls_ctx_unref(ctx);
    }
    /* A fresh nonce (RFC 6455 4.1: random for each connection), patched into
     * the request built once by new(). */
    uint8_t nonce[16];
    if (rc == 0 && !c->raw_echo) {
        rc = wsjwt__client_random(nonce, sizeof(nonce)) == 0 ? 0 : WSJWT_ECRYPTO;
        if (rc == 0) {
            set_key(c, nonce);
            memcpy(c->request + c->key_off, c->key, WSJWT_WS_KEY_LEN);
        }
    }
    if (rc == 0) {
        struct addrinfo *first = c->ai ? c->ai : &c->nai;
        c->sweeping = 0;
        arm_connect(c);
        if (sock_reconnect(c, first) == 0) {
            c->ai_next = first->ai_next;
        } else {
            sock_close(c, 1);
            c->ai_next = first;
            rc = try_connect(c, 1);
        }
    }
    if (rc) {
        c->close_reported = 1; /* no callback for a synchronous failure */
        shut(c);
    }
    return rc;
}

int wsjwt_client_run_every(uv_loop_t *loop, uint64_t max_wait_us, void (*on_turn)(void *arg), void *arg)
{
    if (!loop || max_wait_us > INT64_MAX / 1000)
        return WSJWT_EINVAL;
    struct wsjwt__cpoll *p = wsjwt__cpoll_get(loop, sock_event);
    if (!p)
        return WSJWT_ENOMEM;
    int rc = wsjwt__cpoll_run(p, max_wait_us * 1000, on_turn, arg);
    if (wsjwt__cpoll_put(p))
        uv_run(loop, UV_RUN_NOWAIT); /* the set's poll handle closes */
    return rc ? WSJWT_EIO : 0;
}

int wsjwt_client_run(uv_loop_t *loop, void (*on_turn)(void *arg), void *arg)
{
    return wsjwt_client_run_every(loop, 0, on_turn, arg);
}

/* What wsjwt_client_send and wsjwt_client_bench_send_wire check first: 0
 * when a message of len bytes may be queued now. */
static inline int send_allowed(const struct wsjwt_client *c, const void *data, size_t len)
{
    if (!c || c->state != ST_OPEN)
        return WSJWT_ESTATE;
    if (len && !data)
        return WSJWT_EINVAL;
    /* One message larger than the cap still goes when nothing is queued. */
    size_t queued = queued_bytes(c);
    if (queued && (len > c->max_send_queue || queued > c->max_send_queue - len))
        return WSJWT_EBACKPRESSURE;
    return 0;
}

int wsjwt_client_send(struct wsjwt_client *c, int binary, const void *data, size_t len)
{
    unsigned first = WSJWT__WS_FIN | (binary ? WSJWT__WS_BINARY : WSJWT__WS_TEXT);
    if (c && (!c->pmd || len < c->deflate_threshold) && small_corked(c, first, data, len, NULL))
        return 0;
    int rc = send_allowed(c, data, len);
    if (rc)
        return rc;
    if (c->pmd && len >= c->deflate_threshold) {
        /* RFC 7692 7.2.1: the whole message compressed, RSV1 on its frame. */
        struct wsjwt__pmd_buf *b = &c->pmd->buf;
        b->len = 0;
        rc = wsjwt__pmd_ctx_deflate(&c->pmd->ctx, data, len, b);
        if (rc == 0)
            rc = queue_frame(c, first | WSJWT__WS_RSV1, b->data, b->len);
        if (b->cap > KEEP_OUT)
            wsjwt__pmd_buf_free(b);
        return rc;
    }
    return queue_frame(c, first, data, len);
}

int wsjwt_client_bench_send_wire(struct wsjwt_client *c, const void *wire, size_t len, uint8_t key[4])
{
    if (key && small_corked(c, WSJWT__WS_FIN | WSJWT__WS_BINARY, wire, len, key))
        return 0;
    int rc = send_allowed(c, wire, len);
    if (rc || !key)
        return rc ? rc : WSJWT_EINVAL;
    return queue_wire(c, wire, len, key);
}

void wsjwt_client_cork(struct wsjwt_client *c)
{
    if (c)
        c->depth++; /* as while a callback of c runs: queue_frame holds what is sent */
}

void wsjwt_client_uncork(struct wsjwt_client *c)
{
    if (!c || !c->depth)
        return;
    if (--c->depth)
        return;
    if (c->state != ST_SHUT && c->state != ST_FAILING)
        tx_flush(c);
    if (c->freed)
        maybe_release(c);
}

int wsjwt_client_ping(struct wsjwt_client *c, const void *data, size_t len)
{
    if (!c || c->state != ST_OPEN)
        return WSJWT_ESTATE;
    if (len > WSJWT__WS_MAX_CONTROL || (len && !data))
        return WSJWT_EINVAL;
    return queue_frame(c, WSJWT__WS_FIN | WSJWT__WS_PING, data, len);
}

int wsjwt_client_close(struct wsjwt_client *c, int code, const char *reason)
{
    if (!c || c->state != ST_OPEN)
        return WSJWT_ESTATE;
    uint8_t payload[WSJWT__WS_MAX_CONTROL];
    size_t plen = 0;
    size_t rlen = reason ? strlen(reason) : 0;
    if (code < 0 || rlen > 123)
        return WSJWT_EINVAL;
    int rc = wsjwt__ws_close_build(payload, (unsigned)code, reason, rlen, &plen);
    if (rc)
        return rc;
    rc = queue_frame(c, WSJWT__WS_FIN | WSJWT__WS_CLOSE, payload, plen);
    if (rc)
        return rc;
    c->close_sent = 1;
    c->state = ST_CLOSING;
    uv_timer_start(&c->timer, on_timer, c->close_timeout_ms, 0);
    return 0;
}

void wsjwt_client_free(struct wsjwt_client *c)
{
    if (!c)
        return;
    c->freed = 1;
    if (c->state == ST_NEW) {
        c->state = ST_SHUT;
        maybe_release(c);
        return;
    }
    if ((c->state == ST_HANDSHAKE || c->state == ST_OPEN) && !c->writing) {
        /* An abort: a reset tells the server at once and leaves no TIME_WAIT
         * behind on this side (load generators abort thousands a second). */
        sock_close(c, 1);
    }
    shut(c);
    maybe_release(c);
}

const char *wsjwt_client_protocol(const struct wsjwt_client *c)
{
    return c ? c->protocol : NULL;
}

size_t wsjwt_client_queued(const struct wsjwt_client *c)
{
    return c ? queued_bytes(c) : 0;
}

void *wsjwt_client_user(const struct wsjwt_client *c)
{
    return c ? c->user : NULL;
}

const char *wsjwt_client_tls_error(const struct wsjwt_client *c, char *buf, size_t size)
{
    if (size)
        buf[0] = '\0';
    if (c && c->tls && c->tls->failed)
        wsjwt__tls_error(c->tls, buf, size);
    return buf;
}

int wsjwt_client_os_error(const struct wsjwt_client *c)
{
    return c ? c->os_error : 0;
}

const struct wsjwt_client_header *wsjwt_client_response_header(const struct wsjwt_client_response *r,
                                                               const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n_headers; i++)
        if (wsjwt__http_name_eq(r->headers[i].name, r->headers[i].name_len, name))
            return &r->headers[i];
    return NULL;
}

/* ---- test and fuzz entry points (src/client/internal.h) ------------------- */

int wsjwt__client_attach_fake(struct wsjwt_client *c)
{
    if (!c || c->state != ST_NEW)
        return WSJWT_ESTATE;
    int rc = uv_timer_init(c->loop, &c->timer);
    if (rc < 0)
        return WSJWT_EIO;
    c->timer.data = c;
    c->handles++;
    wsjwt__http_parser_init(&c->hp, c->max_head, WSJWT_HTTP_DEFAULT_MAX_HEADERS);
    c->state = ST_HANDSHAKE;
    return 0;
}

const char *wsjwt__client_key(const struct wsjwt_client *c)
{
    return c->key;
}

int wsjwt__client_feed(struct wsjwt_client *c, const uint8_t *data, size_t len)
{
    while (len && !c->freed && c->state != ST_SHUT && c->state != ST_FAILING) {
        rbuf_ensure(c);
        if (!c->rbuf.p)
            return WSJWT_ENOMEM;
        size_t room = c->rbuf.cap - c->rbuf.len, n = len < room ? len : room;
        if (n == 0)
            return WSJWT_ETOOBIG;
        memcpy(c->rbuf.p + c->rbuf.len, data, n);
        data += n;
        len -= n;
        rx_got(c, n);
    }
    return 0;
}
