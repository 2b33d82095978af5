/* One connection, from accept to close: the shell that moves bytes between
 * the socket and the pure cores (http/, ws/, jwt/).
 *
 * I/O: a uv_poll_t drives our own non-blocking read()/writev(). Input is read
 * into the loop's shared buffer and decoded in place; a connection keeps
 * bytes only for an incomplete request head, an incomplete frame header or
 * control frame (at most 139 bytes), or a message split across reads.
 *
 * Output is corked: frames of the connection being served go to the loop's
 * cork buffer and leave in one write when its event has been handled; frames
 * for other connections (broadcast, timers) go to their own queue and leave
 * in the loop's check phase, once per connection per loop turn. A frame
 * larger than the cork leaves at once with writev(cork, header, payload).
 * Bytes the socket does not take stay in the connection's queue until
 * POLLOUT.
 *
 * Safety with user callbacks: a callback may close any connection or send to
 * any connection. Nothing inside a callback frees a connection: a socket
 * error only marks it (CF_BROKEN); teardown happens at the top of an event
 * handler (after the callback returned), and memory is freed in the handle's
 * close callback. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <jansson.h>

#include "net/sys.h"
#include "server/accept.h"
#include "server/internal.h"
#include "ws/utf8.h"

static void on_poll(uv_poll_t *h, int status, int events);
static int conn_close(struct wsjwt_conn *c, unsigned code, const char *reason);
static void cork_flush(struct wsjwt__loop *l);

/* Kept out of line and off the hot path (permessage-deflate, large
 * messages): inlined into the frame loop and the send call they cost plain
 * connections 15 instructions per 32-byte echo (callgrind: 566 -> 581) in
 * register pressure, though never called there. */
#if defined(__GNUC__)
#define PMD_COLD __attribute__((noinline, cold))
#else
#define PMD_COLD
#endif

static uint32_t loop_ms(struct wsjwt__loop *l)
{
    return (uint32_t)uv_now(&l->uv);
}

/* The socket. libuv's uv_fileno() costs a call and a state check on every
 * read and write (17 instructions per echo under callgrind); the descriptor
 * sits in the poll handle's watcher, part of libuv's public Unix layout. */
static int conn_fd(const struct wsjwt_conn *c)
{
    return c->poll.io_watcher.fd;
}

/* Registers the events the connection waits for, only when they change:
 * libuv's uv_poll_start removes the descriptor from epoll and adds it again
 * (two epoll_ctl calls) even for the same events, and uv_poll_stop removes
 * it even when it was never added. */
static void poll_update(struct wsjwt_conn *c)
{
    unsigned want = 0;
    /* Not registered with libuv yet (wsjwt__conn_accept): synced after. */
    if (c->state == CONN_DEAD || !c->poll.loop)
        return;
    if (!(c->flags & CF_READ_OFF))
        want |= CF_POLL_R;
    if (c->flags & CF_POLLOUT)
        want |= CF_POLL_W;
    if (want == (c->flags & (CF_POLL_R | CF_POLL_W)))
        return;
    c->flags = (uint16_t)((c->flags & ~(CF_POLL_R | CF_POLL_W)) | want);
    if (want)
        uv_poll_start(&c->poll,
                      ((want & CF_POLL_R) ? UV_READABLE : 0) | ((want & CF_POLL_W) ? UV_WRITABLE : 0),
                      on_poll);
    else
        uv_poll_stop(&c->poll);
}

static void flushq_push(struct wsjwt_conn *c)
{
    if (c->flags & CF_FLUSHQ)
        return;
    c->flags |= CF_FLUSHQ;
    c->flush_next = c->loop->flush_head;
    c->loop->flush_head = c;
}

static void mark_broken(struct wsjwt_conn *c)
{
    c->flags |= CF_BROKEN;
    flushq_push(c);
}

/* The connection's buffers, allocated on first use (NULL: out of memory,
 * and the connection is marked broken). */
static struct wsjwt__conn_io *io_get(struct wsjwt_conn *c)
{
    if (!c->io && !(c->io = calloc(1, sizeof(*c->io))))
        mark_broken(c);
    return c->io;
}

/* Frees the buffers once all are empty. */
static void io_trim(struct wsjwt_conn *c)
{
    struct wsjwt__conn_io *io = c->io;
    if (io && io->in_len == 0 && wsjwt__outq_size(&io->out) == 0 && wsjwt__outq_size(&io->msg) == 0 &&
        !io->pmd) {
        wsjwt__outq_free(&io->out);
        wsjwt__outq_free(&io->msg);
        free(io->in);
        free(io);
        c->io = NULL;
    }
}

static void io_free(struct wsjwt_conn *c)
{
    if (c->io) {
        if (c->io->pmd) {
            wsjwt__pmd_ctx_free(c->io->pmd);
            free(c->io->pmd);
        }
        wsjwt__outq_free(&c->io->out);
        wsjwt__outq_free(&c->io->msg);
        free(c->io->in);
        free(c->io);
        c->io = NULL;
    }
}

static size_t out_size(const struct wsjwt_conn *c)
{
    return c->io ? wsjwt__outq_size(&c->io->out) : 0;
}

static struct wsjwt__tls *conn_tls(const struct wsjwt_conn *c)
{
    return &((struct wsjwt__tls_conn *)(uintptr_t)c)->t;
}

/* Bytes not yet on the socket: the queue, and for TLS the records the
 * engine holds. */
static size_t out_pending(const struct wsjwt_conn *c)
{
    return out_size(c) + ((c->flags & CF_TLS) ? wsjwt__tls_out_size(conn_tls(c)) : 0);
}

/* Appends to the connection's send queue; marks it broken on failure. */
static int out_append(struct wsjwt_conn *c, const void *a, size_t na, const void *b, size_t nb)
{
    struct wsjwt__conn_io *io = io_get(c);
    if (!io)
        return -1;
    if (wsjwt__outq_append(&io->out, a, na, b, nb) != 0) {
        mark_broken(c);
        return -1;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------------ */

/* Sends the pieces; returns the bytes the socket took (0 when it is full),
 * or -1 after marking the connection broken. sendmsg rather than writev:
 * MSG_NOSIGNAL, so that a peer gone away is an EPIPE here and not a SIGPIPE
 * for the whole process. */
static ssize_t tls_send(struct wsjwt_conn *c, const struct iovec *iov, int n);
static int tls_push(struct wsjwt_conn *c);

static ssize_t sock_send(struct wsjwt_conn *c, struct iovec *iov, int n)
{
    if (c->flags & CF_TLS)
        return tls_send(c, iov, n);
    struct msghdr mh;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t)n;
    ssize_t w;
    do
        w = wsjwt__sys_sendmsg(conn_fd(c), &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w >= 0)
        return w;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
    mark_broken(c);
    return -1;
}

/* Queues bytes the socket did not take and waits for POLLOUT. */
static void queue_rest(struct wsjwt_conn *c, const uint8_t *p, size_t n)
{
    if (out_append(c, p, n, NULL, 0) != 0)
        return;
    if (!(c->flags & CF_POLLOUT)) {
        c->flags |= CF_POLLOUT;
        poll_update(c);
    }
}

/* Writes the pieces now; what the socket does not take is queued and POLLOUT
 * armed. Only called when the connection's queue is empty (order). */
static void conn_writev(struct wsjwt_conn *c, struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    ssize_t w = sock_send(c, iov, n);
    if (w < 0)
        return;
    size_t done = (size_t)w;
    if (done == total)
        return;
    for (int i = 0; i < n; i++) {
        if (done >= iov[i].iov_len) {
            done -= iov[i].iov_len;
            continue;
        }
        queue_rest(c, (uint8_t *)iov[i].iov_base + done, iov[i].iov_len - done);
        done = 0;
    }
}

/* Queues bytes for c (see the top of this file for where they go). */
static void conn_queue(struct wsjwt_conn *c, const void *a, size_t na, const void *b, size_t nb)
{
    struct wsjwt__loop *l = c->loop;
    if (c->flags & CF_BROKEN)
        return;
    if (out_size(c) > 0 || (l->cork_owner && l->cork_owner != c)) {
        if (out_append(c, a, na, b, nb) != 0)
            return;
        if (!(c->flags & CF_POLLOUT))
            flushq_push(c);
        return;
    }
    if (l->cork_len + na + nb <= WSJWT__CORK_SIZE) {
        if (na)
            memcpy(l->cork + l->cork_len, a, na);
        l->cork_len += na;
        if (nb)
            memcpy(l->cork + l->cork_len, b, nb);
        l->cork_len += nb;
        l->cork_owner = c;
        return;
    }
    if (l->cork_niov) {
        /* Payloads corked by reference go first: flush, then queue again. */
        cork_flush(l);
        conn_queue(c, a, na, b, nb);
        return;
    }
    struct iovec iov[3];
    int n = 0;
    if (l->cork_len)
        iov[n++] = (struct iovec){l->cork, l->cork_len};
    if (na)
        iov[n++] = (struct iovec){(void *)a, na};
    if (nb)
        iov[n++] = (struct iovec){(void *)b, nb};
    l->cork_len = 0;
    l->cork_owner = NULL;
    conn_writev(c, iov, n);
}

/* Payloads from this size on are corked by reference when they can be
 * (cork_ref); smaller ones are cheaper to copy than to add a piece to the
 * write. */
#define CORK_REF_MIN 4096u

/* Corks a frame whose payload lies in the loop's receive buffer, read for c
 * in the event being handled: the header goes to the cork and the payload is
 * referenced, not copied. rbuf is not read into again before the cork is
 * flushed at the end of the event (reading is only set on the plain read
 * path: TLS decrypts into rbuf chunk after chunk). So the echoes of one read
 * leave in one sendmsg (issue 8, scenario c: one sendmsg per 64 KiB message
 * where the raw echo wrote once per read). Returns 0 when it does not apply
 * (then the frame takes the usual path). */
PMD_COLD static int cork_ref(struct wsjwt_conn *c, unsigned opcode, const void *payload, size_t len)
{
    struct wsjwt__loop *l = c->loop;
    uintptr_t p = (uintptr_t)payload, r = (uintptr_t)l->rbuf;
    if (l->reading != c || p < r || p + len > r + l->rbuf_size || (c->flags & (CF_BROKEN | CF_TLS)) ||
        (l->cork_owner != c && (l->cork_owner || out_size(c))))
        return 0;
    if (l->cork_niov + 2 > WSJWT__CORK_IOV || l->cork_len + WSJWT__WS_MAX_HEADER > WSJWT__CORK_SIZE) {
        cork_flush(l);
        if (out_size(c) || (c->flags & CF_BROKEN))
            return 0;
    }
    size_t hl;
    wsjwt__ws_write_header(l->cork + l->cork_len, WSJWT__WS_MAX_HEADER, WSJWT__WS_FIN | opcode, len, NULL,
                           &hl);
    l->cork_len += hl;
    l->cork_iov[l->cork_niov++] = (struct iovec){l->cork + l->cork_mark, l->cork_len - l->cork_mark};
    l->cork_iov[l->cork_niov++] = (struct iovec){(void *)p, len};
    l->cork_mark = l->cork_len;
    l->cork_owner = c;
    return 1;
}

static void conn_send_frame(struct wsjwt_conn *c, unsigned opcode, const void *payload, size_t len)
{
    struct wsjwt__loop *l = c->loop;
    size_t hl;
    if (len >= CORK_REF_MIN && cork_ref(c, opcode, payload, len))
        return;
    /* Fast path, the common case of a connection being served with room in
     * the cork: the header is written in place, then the payload. */
    if (l->cork_owner == c || (l->cork_owner == NULL && !c->io && !(c->flags & CF_BROKEN))) {
        /* Written so that nothing wraps: cork_len may be within a header's
         * size of the end. */
        if (l->cork_len + WSJWT__WS_MAX_HEADER <= WSJWT__CORK_SIZE &&
            len <= WSJWT__CORK_SIZE - WSJWT__WS_MAX_HEADER - l->cork_len) {
            wsjwt__ws_write_header(l->cork + l->cork_len, WSJWT__WS_MAX_HEADER, WSJWT__WS_FIN | opcode, len,
                                   NULL, &hl);
            if (len)
                memcpy(l->cork + l->cork_len + hl, payload, len);
            l->cork_len += hl + len;
            l->cork_owner = c;
            return;
        }
    }
    uint8_t hdr[WSJWT__WS_MAX_HEADER];
    wsjwt__ws_write_header(hdr, sizeof(hdr), WSJWT__WS_FIN | opcode, len, NULL, &hl);
    conn_queue(c, hdr, hl, payload, len);
}

/* Writes the corked bytes of the loop. */
static void cork_flush(struct wsjwt__loop *l)
{
    struct wsjwt_conn *c = l->cork_owner;
    if (!c)
        return;
    size_t n = l->cork_len;
    l->cork_owner = NULL;
    l->cork_len = 0;
    if (l->cork_niov) {
        /* Payloads corked by reference (cork_ref), then the cork's rest. */
        unsigned k = l->cork_niov;
        if (n > l->cork_mark)
            l->cork_iov[k++] = (struct iovec){l->cork + l->cork_mark, n - l->cork_mark};
        l->cork_niov = 0;
        l->cork_mark = 0;
        conn_writev(c, l->cork_iov, (int)k);
    } else if (n) {
        if (c->flags & CF_TLS) {
            struct iovec iov = {l->cork, n};
            ssize_t w = tls_send(c, &iov, 1);
            if (w >= 0 && (size_t)w != n)
                queue_rest(c, l->cork + w, n - (size_t)w);
        } else {
            /* Usually the socket takes it all: one send, no bookkeeping. */
            ssize_t w = wsjwt__sys_send(conn_fd(c), l->cork, n, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                mark_broken(c);
            else if (w < 0 || (size_t)w != n)
                queue_rest(c, l->cork + (w > 0 ? (size_t)w : 0), n - (w > 0 ? (size_t)w : 0));
        }
    }
    if (c->state == CONN_DRAINING)
        flushq_push(c);
}

/* Writes the connection's queue (POLLOUT or the check phase). May call
 * on_drain: only from the top of an event handler. */
static void conn_write_out(struct wsjwt_conn *c)
{
    size_t n = out_size(c);
    if (n > 0) {
        struct iovec iov = {c->io->out.data + c->io->out.off, n};
        ssize_t w = sock_send(c, &iov, 1);
        if (w < 0)
            return;
        wsjwt__outq_consume(&c->io->out, (size_t)w);
    } else if ((c->flags & CF_TLS) && tls_push(c) < 0) {
        return;
    }
    if (out_pending(c) > 0) {
        if (!(c->flags & CF_POLLOUT)) {
            c->flags |= CF_POLLOUT;
            poll_update(c);
        }
        return;
    }
    if (c->flags & CF_POLLOUT) {
        c->flags &= (uint16_t)~CF_POLLOUT;
        poll_update(c);
    }
    if ((c->flags & CF_DRAIN_CB) && c->state == CONN_OPEN) {
        c->flags &= (uint16_t)~CF_DRAIN_CB;
        struct wsjwt_server *srv = c->loop->srv;
        if (srv->cfg.on_drain)
            srv->cfg.on_drain(c, srv->cfg.user);
    }
}

/* At the top of an event handler: tear down what is finished. */
static void conn_settle(struct wsjwt_conn *c)
{
    if (c->state == CONN_DEAD || (!c->io && !(c->flags & CF_BROKEN) && c->state != CONN_DRAINING))
        return;
    if ((c->flags & CF_BROKEN) ||
        (c->state == CONN_DRAINING && out_pending(c) == 0 && c->loop->cork_owner != c))
        wsjwt__conn_teardown(c);
    else
        io_trim(c);
}

void wsjwt__loop_flush(struct wsjwt__loop *l)
{
    do {
        cork_flush(l);
        struct wsjwt_conn *c;
        while ((c = l->flush_head) != NULL) {
            l->flush_head = c->flush_next;
            c->flags &= (uint16_t)~CF_FLUSHQ;
            if (c->state == CONN_DEAD)
                continue;
            if (!(c->flags & (CF_BROKEN | CF_POLLOUT)))
                conn_write_out(c);
            conn_settle(c);
        }
    } while (l->cork_owner || l->flush_head);
}

/* ---- teardown ------------------------------------------------------------------ */

static void on_closed(uv_handle_t *h)
{
    struct wsjwt_conn *c = (struct wsjwt_conn *)h;
    struct wsjwt__loop *l = c->loop;
    free(c);
    wsjwt__loop_maybe_finish(l);
}

static void tls_teardown(struct wsjwt_conn *c);

void wsjwt__conn_teardown(struct wsjwt_conn *c)
{
    struct wsjwt__loop *l = c->loop;
    struct wsjwt_server *srv = l->srv;
    if (c->state == CONN_DEAD)
        return;
    c->state = CONN_DEAD;
    if (l->cork_owner == c) {
        l->cork_owner = NULL;
        l->cork_len = 0;
        l->cork_niov = 0;
        l->cork_mark = 0;
    }
    l->n_conns--;
    if (c->flags & CF_OPENED)
        STAT_DEC(l, open);
    if ((c->flags & CF_APP) && srv->cfg.on_close) {
        const char *reason = (c->flags & CF_REASON) ? (const char *)c->io->msg.data : "";
        srv->cfg.on_close(c, c->close_code, reason, srv->cfg.user);
    }
    if (c->jwt)
        wsjwt_jwt_free(c->jwt);
    free(c->sub);
    io_free(c);
    if (c->flags & CF_TLS)
        tls_teardown(c);
    int fd = conn_fd(c);
    if (!c->poll.loop) {
        /* Answered and done before it was ever registered with libuv
         * (wsjwt__conn_accept): nothing to close but the socket. The loop's
         * flush list is the only other place that may name it. */
        struct wsjwt_conn **p = &l->flush_head;
        while (*p && *p != c)
            p = &(*p)->flush_next;
        if (*p)
            *p = c->flush_next;
        close(fd);
        free(c);
        wsjwt__loop_maybe_finish(l);
        return;
    }
    uv_close((uv_handle_t *)&c->poll, on_closed);
    /* uv_close stopped the watcher (removed from epoll): the descriptor can
     * go now, so the FIN leaves without waiting for the close callback. */
    if (fd >= 0)
        close(fd);
}

/* ---- input helpers ---------------------------------------------------------------- */

/* Keeps p/n (unconsumed input) for the next read. */
static void conn_keep(struct wsjwt_conn *c, const uint8_t *p, size_t n)
{
    struct wsjwt__conn_io *io = c->io;
    if (n == 0) {
        if (io) {
            free(io->in);
            io->in = NULL;
            io->in_len = 0;
        }
        return;
    }
    if (!(io = io_get(c)))
        return;
    if (io->in && p >= io->in && p < io->in + io->in_len) {
        memmove(io->in, p, n);
        uint8_t *s = realloc(io->in, n);
        if (s)
            io->in = s;
    } else {
        uint8_t *s = realloc(io->in, n);
        if (!s) {
            mark_broken(c);
            return;
        }
        io->in = s;
        memcpy(io->in, p, n);
    }
    io->in_len = (uint32_t)n;
}

/* Keeps the close reason for on_close (drops a partial message). */
static void keep_reason(struct wsjwt_conn *c, const void *reason, size_t len)
{
    static const char nul = '\0';
    struct wsjwt__conn_io *io = io_get(c);
    c->flags &= (uint16_t)~CF_REASON;
    if (!io)
        return;
    wsjwt__outq_free(&io->msg);
    if (wsjwt__outq_append(&io->msg, reason, len, &nul, 1) == 0)
        c->flags |= CF_REASON;
}

static void log_peer(const struct wsjwt_conn *c, char *buf, size_t size)
{
    wsjwt__peer_name(conn_fd(c), buf, size);
}

/* ---- the upgrade ---------------------------------------------------------------------- */

/* kid and sub of a refused token, decoded without trust, for the log only. */
static void token_ids(const char *tok, size_t len, char *kid, size_t kcap, char *sub, size_t scap)
{
    char *h = NULL, *p = NULL;
    kid[0] = sub[0] = '\0';
    if (wsjwt_jwt_decode_unverified(tok, len, &h, &p) != 0)
        return;
    json_t *j;
    const char *s;
    if (h && (j = json_loads(h, 0, NULL)) != NULL) {
        if ((s = json_string_value(json_object_get(j, "kid"))) != NULL)
            wsjwt__log_quote(kid, kcap, s, strlen(s));
        json_decref(j);
    }
    if (p && (j = json_loads(p, 0, NULL)) != NULL) {
        if ((s = json_string_value(json_object_get(j, "sub"))) != NULL)
            wsjwt__log_quote(sub, scap, s, strlen(s));
        json_decref(j);
    }
    wsjwt_free(h);
    wsjwt_free(p);
}

/* Answers a refusal and closes after it. err picks the status unless status
 * is given; description goes to the peer (401 only, when exposed). */
static void refuse(struct wsjwt_conn *c, int err, int status, const char *description, const char *detail,
                   const char *tok, size_t tok_len)
{
    struct wsjwt__loop *l = c->loop;
    struct wsjwt_server *srv = l->srv;
    if (!status)
        status = wsjwt_err_http_status(err);
    char buf[1024];
    size_t w = 0;
    if (wsjwt__http_write_refusal(buf, sizeof(buf), status, description, &w) != 0)
        wsjwt__http_write_refusal(buf, sizeof(buf), status, NULL, &w);
    conn_queue(c, buf, w, NULL, 0);
    c->state = CONN_DRAINING;
    c->stamp = loop_ms(l);
    c->flags |= CF_READ_OFF;
    poll_update(c);
    STAT_INC(l, refused);
    if (wsjwt__log_enabled(srv, WSJWT_LOG_INFO)) {
        char peer[64], kid[80] = "", sub[80] = "", det[200] = "";
        log_peer(c, peer, sizeof(peer));
        if (tok)
            token_ids(tok, tok_len, kid, sizeof(kid), sub, sizeof(sub));
        if (detail)
            wsjwt__log_quote(det, sizeof(det), detail, strlen(detail));
        wsjwt__log(srv, WSJWT_LOG_INFO, "refused",
                   "status=%d reason=%s peer=%s tls=%d sub=\"%s\" kid=\"%s\" detail=\"%s\"", status,
                   wsjwt_err_name(err), peer, (c->flags & CF_TLS) != 0, sub, kid, det);
    }
}

/* Opens the connection: the 101 (with the application's subprotocol
 * proto/proto_len when it selected one), then on_open. */
static void conn_open(struct wsjwt_conn *c, const char accept[WSJWT_WS_ACCEPT_LEN], const char *proto,
                      size_t proto_len)
{
    struct wsjwt__loop *l = c->loop;
    struct wsjwt_server *srv = l->srv;
    struct wsjwt__http_101 r = {accept, proto, proto_len, NULL, 0};
    if (!proto && (c->flags & CF_SUBPROTOCOL)) {
        /* Browsers offer "access_token, <jwt>": select the marker, never
         * echo the token (it would land in logs and caches). */
        r.protocol = WSJWT_TOKEN_SUBPROTOCOL;
        r.protocol_len = strlen(WSJWT_TOKEN_SUBPROTOCOL);
    }
    char ext[WSJWT__PMD_RESPONSE_MAX];
    if (c->pmd) {
        struct wsjwt__pmd_params p;
        wsjwt__pmd_unpack(c->pmd, &p);
        r.extensions = ext;
        r.extensions_len = wsjwt__pmd_write_response(ext, sizeof(ext), &p);
    }
    char head[256 + WSJWT__MAX_PROTOCOL + 32 + WSJWT__PMD_RESPONSE_MAX];
    size_t w = 0;
    wsjwt__http_write_101(head, sizeof(head), &r, &w);
    if (!(c->flags & CF_TLS))
        wsjwt__sock_nodelay(conn_fd(c));        /* TLS ones have it from accept */
    int resume = (c->flags & CF_READ_OFF) != 0; /* deferred: input was off */
    c->state = CONN_OPEN;
    c->flags |= CF_APP | CF_OPENED;
    c->flags &= (uint16_t)~CF_READ_OFF;
    c->stamp = loop_ms(l);
    wsjwt__ws_decoder_init(&c->u.ws, c->pmd ? &srv->wscfg_pmd : &srv->wscfg);
    conn_queue(c, head, w, NULL, 0);
    if (resume)
        poll_update(c);
    STAT_INC(l, upgraded);
    STAT_INC(l, open);
    if (wsjwt__log_enabled(srv, WSJWT_LOG_DEBUG)) {
        char peer[64], sub[80] = "";
        log_peer(c, peer, sizeof(peer));
        if (c->sub)
            wsjwt__log_quote(sub, sizeof(sub), c->sub, strlen(c->sub));
        wsjwt__log(srv, WSJWT_LOG_DEBUG, "open", "peer=%s tls=%d sub=\"%s\" exp=%lld", peer,
                   (c->flags & CF_TLS) != 0, sub, (long long)c->exp);
    }
    if (srv->cfg.on_open)
        srv->cfg.on_open(c, srv->cfg.user);
    if (!srv->cfg.keep_jwt && c->jwt) {
        wsjwt_jwt_free(c->jwt);
        c->jwt = NULL;
    }
}

/* ---- permessage-deflate (RFC 7692) ---------------------------------------------------- */

/* The first acceptable offer across the request's Sec-WebSocket-Extensions
 * headers, packed; 0 when none. */
PMD_COLD static uint16_t pmd_negotiate(const struct wsjwt_server *srv, const struct wsjwt__http_request *req)
{
    size_t pos = 0;
    const struct wsjwt__http_header *h;
    struct wsjwt__pmd_params p;
    while ((h = wsjwt__http_find(req->headers, req->num_headers, "Sec-WebSocket-Extensions", &pos)))
        if (wsjwt__pmd_negotiate(&srv->pmdcfg, h->value, h->value_len, &p) == 1)
            return wsjwt__pmd_pack(&p);
    return 0;
}

/* Handles the request head in buf/len. Returns the bytes consumed: 0 while
 * the head is incomplete (the whole prefix is kept), the head's length once
 * upgraded or deferred, len when refused (the rest is discarded). */
static size_t conn_handshake(struct wsjwt_conn *c, uint8_t *buf, size_t len)
{
    struct wsjwt__loop *l = c->loop;
    struct wsjwt_server *srv = l->srv;
    const struct wsjwt_server_config *cfg = &srv->cfg;
    struct wsjwt__http_request req;
    size_t head_len = 0;
    int rc = wsjwt__http_request_parse(&c->u.http, (const char *)buf, len, l->headers, cfg->max_headers, &req,
                                       &head_len);
    if (rc == WSJWT_EAGAIN)
        return 0;
    if (rc < 0) {
        refuse(c, rc, 0, NULL, NULL, NULL, 0);
        return len;
    }
    struct wsjwt__ws_handshake hs;
    rc = wsjwt__http_handshake_check(&req, &hs);
    if (rc == 0)
        rc = wsjwt__http_origin_check(hs.origin, hs.origin_len, cfg->origins, cfg->n_origins, 0);
    if (rc < 0) {
        refuse(c, rc, 0, NULL, NULL, NULL, 0);
        return len;
    }

    struct wsjwt__http_token tok = {0};
    int have_tok = wsjwt__http_token_extract(&req, &srv->tokcfg, l->scratch, cfg->max_head, &tok);
    if (!cfg->insecure_no_auth) {
        if (have_tok != 0) {
            refuse(c, have_tok, 0, NULL, NULL, NULL, 0);
            return len;
        }
        struct wsjwt_keyset *ks = wsjwt_keyring_current(srv->keys);
        struct wsjwt_jwt_error err;
        memset(&err, 0, sizeof(err));
        rc = wsjwt_jwt_verify(cfg->policy, ks, tok.ptr, tok.len, wsjwt__server_now(srv), &c->jwt, &err);
        wsjwt_keyset_unref(ks);
        if (rc != 0) {
            refuse(c, rc, 401, cfg->expose_auth_errors ? err.message : NULL, err.message, tok.ptr, tok.len);
            return len;
        }
        const char *sub;
        int64_t exp;
        if (wsjwt_jwt_claim_string(c->jwt, "sub", &sub) == 0)
            c->sub = strdup(sub);
        if (wsjwt_jwt_claim_int(c->jwt, "exp", &exp) == 0)
            c->exp = exp;
    }
    if (have_tok == 0 && (tok.sources & WSJWT__TOKEN_SUBPROTOCOL))
        c->flags |= CF_SUBPROTOCOL;

    if (srv->pmdcfg.mode != WSJWT__PMD_OFF && hs.has_extensions)
        c->pmd = pmd_negotiate(srv, &req);

    char accept[WSJWT_WS_ACCEPT_LEN];
    wsjwt__server_ws_accept(hs.key, hs.key_len, accept);
    int verdict = WSJWT_UPGRADE_ACCEPT;
    l->proto = NULL;
    l->proto_len = 0;
    if (cfg->on_upgrade) {
        l->req = &req;
        verdict = cfg->on_upgrade(c, c->jwt, cfg->user);
        l->req = NULL;
    }
    if (verdict == WSJWT_UPGRADE_DEFER) {
        c->state = CONN_DEFERRED;
        c->flags |= CF_APP | CF_READ_OFF;
        /* Kept until the answer: the accept value, then the selected
         * subprotocol (the request buffer will be gone). */
        struct wsjwt__conn_io *io = io_get(c);
        if (io && wsjwt__outq_append(&io->msg, accept, sizeof(accept), l->proto, l->proto_len) != 0)
            mark_broken(c);
        poll_update(c);
        return head_len;
    }
    if (verdict != WSJWT_UPGRADE_ACCEPT) {
        int status = verdict >= 400 && verdict <= 599 ? verdict : 500;
        refuse(c, WSJWT_EHTTP_REFUSED, status, NULL, "on_upgrade", NULL, 0);
        return len;
    }
    conn_open(c, accept, l->proto, l->proto_len);
    return head_len;
}

/* ---- frames -------------------------------------------------------------------------- */

static void deliver(struct wsjwt_conn *c, const void *data, size_t len, int binary)
{
    struct wsjwt_server *srv = c->loop->srv;
    STAT_INC(c->loop, messages_in);
    if (srv->cfg.on_message)
        srv->cfg.on_message(c, data, len, binary, srv->cfg.user);
}

/* Fails the connection (RFC 6455 7.1.7): a close frame with the code the
 * error maps to, then TCP close without waiting for the peer. */
static void conn_fail(struct wsjwt_conn *c, int err)
{
    struct wsjwt__loop *l = c->loop;
    unsigned code = (unsigned)wsjwt_err_close_code(err);
    const char *reason = wsjwt_strerror(err);
    uint8_t payload[WSJWT__WS_MAX_CONTROL];
    size_t n = 0;
    STAT_INC(l, protocol_errors);
    if (wsjwt__log_enabled(l->srv, WSJWT_LOG_INFO)) {
        char peer[64];
        log_peer(c, peer, sizeof(peer));
        wsjwt__log(l->srv, WSJWT_LOG_INFO, "protocol_error", "code=%u reason=%s peer=%s", code,
                   wsjwt_err_name(err), peer);
    }
    if (c->state == CONN_OPEN && wsjwt__ws_close_build(payload, code, reason, strlen(reason), &n) == 0)
        conn_send_frame(c, WSJWT__WS_CLOSE, payload, n);
    if (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
        c->close_code = (uint16_t)code;
        keep_reason(c, reason, strlen(reason));
    }
    c->state = CONN_DRAINING;
    c->stamp = loop_ms(l);
    c->flags |= CF_READ_OFF;
    poll_update(c);
}

/* The streams for c: the loop's (shared mode: by the window the client
 * allows us when deflating, the 15-bit inflater otherwise) or its own
 * (dedicated), created at the first use. NULL: out of memory. */
PMD_COLD static struct wsjwt__pmd_ctx *pmd_ctx(struct wsjwt_conn *c, int deflating)
{
    struct wsjwt__loop *l = c->loop;
    const struct wsjwt_server *srv = l->srv;
    struct wsjwt__pmd_params p;
    wsjwt__pmd_unpack(c->pmd, &p);
    if (srv->pmdcfg.mode == WSJWT__PMD_SHARED)
        return &l->pmd->shared[(deflating ? wsjwt__pmd_server_bits(&p) : 15u) - 9u];
    struct wsjwt__conn_io *io = io_get(c);
    if (io && !io->pmd && (io->pmd = malloc(sizeof(*io->pmd))) != NULL) {
        wsjwt__pmd_ctx_from_params(io->pmd, &p, 1);
        if (io->pmd->def_bits > srv->pmdcfg.window_bits)
            io->pmd->def_bits = (uint8_t)srv->pmdcfg.window_bits;
    }
    return io ? io->pmd : NULL;
}

/* A compressed message: inflated into the loop's buffer under max_message
 * (checked while inflating: 1009), text checked as UTF-8 after inflating
 * (1007), then delivered. Returns 0, or -1 when the connection failed. */
PMD_COLD static int pmd_deliver(struct wsjwt_conn *c, const uint8_t *data, size_t len, int binary)
{
    struct wsjwt__loop *l = c->loop;
    struct wsjwt__pmd_ctx *x = pmd_ctx(c, 0);
    struct wsjwt__pmd_buf *out = &l->pmd->rx;
    out->len = 0;
    int rc = x ? wsjwt__pmd_ctx_inflate(x, data, len, l->srv->cfg.max_message, out) : WSJWT_ENOMEM;
    if (rc == 0 && !binary && !wsjwt__utf8_valid(out->data, out->len))
        rc = WSJWT_EWS_UTF8;
    if (rc != 0) {
        conn_fail(c, rc);
        return -1;
    }
    deliver(c, out->data, out->len, binary);
    /* Keep a read's worth between messages; a rare large one gives its memory back. */
    if (out->cap > WSJWT__READ_SIZE)
        wsjwt__pmd_buf_free(out);
    return 0;
}

/* RFC 7692 7.2.1: the whole message compressed into the loop's buffer, sent
 * as one frame with RSV1 through the usual (corked) path. */
PMD_COLD static int pmd_send(struct wsjwt_conn *c, unsigned opcode, const void *data, size_t len)
{
    struct wsjwt__loop *l = c->loop;
    struct wsjwt__pmd_ctx *x = pmd_ctx(c, 1);
    struct wsjwt__pmd_buf *b = &l->pmd->tx;
    b->len = 0;
    int rc = x ? wsjwt__pmd_ctx_deflate(x, data, len, b) : WSJWT_ENOMEM;
    if (rc == 0)
        conn_send_frame(c, opcode | WSJWT__WS_RSV1, b->data, b->len);
    if (b->cap > WSJWT__READ_SIZE)
        wsjwt__pmd_buf_free(b);
    return rc;
}

static void on_close_frame(struct wsjwt_conn *c, const struct wsjwt__ws_event *ev)
{
    const uint8_t *reason = ev->len >= 2 ? ev->data + 2 : ev->data;
    size_t rlen = ev->len >= 2 ? ev->len - 2 : 0;
    if (c->state == CONN_OPEN) {
        /* RFC 6455 5.5.1: echo the status code, then close TCP (7.1.1: the
         * server closes first). */
        uint8_t payload[2];
        size_t n = 0;
        if (ev->close_code) {
            payload[0] = (uint8_t)(ev->close_code >> 8);
            payload[1] = (uint8_t)(ev->close_code & 0xff);
            n = 2;
        }
        conn_send_frame(c, WSJWT__WS_CLOSE, payload, n);
        c->close_code = ev->close_code ? ev->close_code : 1005;
        keep_reason(c, reason, rlen);
    }
    c->state = CONN_DRAINING;
    c->stamp = loop_ms(c->loop);
    c->flags |= CF_READ_OFF;
    poll_update(c);
}

/* Reads at most room bytes of input into at. Returns the bytes read, 0 when
 * none have arrived, -1 when the peer closed TCP or the socket failed (the
 * connection is then marked broken: on_close gets 1006 unless a close was
 * exchanged; we do not serve half-open WebSockets). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline ssize_t
sock_read(struct wsjwt_conn *c, uint8_t *at, size_t room)
{
    ssize_t n;
    do
        n = wsjwt__sys_recv(conn_fd(c), at, room);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        return n;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        mark_broken(c);
        return -1;
    }
    return 0;
}

/* What conn_frames did: the bytes it consumed, and the input's length, which
 * grows when it read more in place (returned in two registers). */
struct frames_done {
    size_t used, len;
};

/* A single-frame message whose first chunk *ev ends the input (buf, *len
 * bytes), when that input came straight from the socket into the loop's
 * receive buffer and the message's remainder fits after it: the remainder is
 * read straight after it, so that the message is delivered in place like one
 * that arrived whole, where it used to be copied into the connection's
 * message buffer (issue 8, scenario c: 4 messages of 64 KiB in flight are 56
 * bytes more than a 256 KiB read, and every fourth was copied whole). The
 * decoder sees ordinary chunks, so every check (caps, UTF-8 of text, the
 * fail-fast point) is the same. Returns 1 when delivered, -1 when the
 * connection failed or broke, 0 when nothing more has arrived or it does not
 * fit: *ev then covers the whole prefix, for the caller to copy as before.
 * Out of line (PMD_COLD) so that the per-message path keeps its registers. */
PMD_COLD static int frame_in_place(struct wsjwt_conn *c, uint8_t *buf, size_t *len, size_t *off,
                                   struct wsjwt__ws_event *ev)
{
    struct wsjwt__loop *l = c->loop;
    uint8_t *start = ev->data, flags = ev->flags, *end = l->rbuf + l->rbuf_size;
    size_t have = ev->len;
    int binary = ev->opcode == WSJWT__WS_BINARY;
    /* TLS input is decrypted into the same buffer: not from the socket. A
     * deferred connection's kept input is in its own buffer. */
    uintptr_t at = (uintptr_t)(buf + *len);
    if ((c->flags & CF_TLS) || (uintptr_t)buf < (uintptr_t)l->rbuf || at > (uintptr_t)end ||
        c->u.ws.remaining > (uintptr_t)end - at)
        return 0;
    for (;;) {
        ssize_t n = sock_read(c, buf + *len, (size_t)(end - (buf + *len)));
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        *len += (size_t)n;
        size_t used = 0;
        int rc = wsjwt__ws_decode(&c->u.ws, buf + *off, *len - *off, &used, ev);
        *off += used;
        if (rc == WSJWT_EAGAIN)
            break; /* not reached: the decoder is inside the payload and has bytes */
        if (rc < 0) {
            conn_fail(c, rc);
            return -1;
        }
        have += ev->len;
        if (ev->flags & WSJWT__WS_MSG_LAST) {
            deliver(c, start, have, binary);
            return 1;
        }
    }
    ev->data = start;
    ev->len = have;
    ev->flags = flags;
    return 0;
}

/* Decodes frames from buf/len (see frames_done). */
static struct frames_done conn_frames(struct wsjwt_conn *c, uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
            return (struct frames_done){len, len};
        struct wsjwt__ws_event ev;
        size_t used = 0;
        int rc = wsjwt__ws_decode(&c->u.ws, buf + off, len - off, &used, &ev);
        off += used;
        if (rc == WSJWT_EAGAIN)
            break;
        if (rc < 0) {
            conn_fail(c, rc);
            return (struct frames_done){len, len};
        }
        switch (ev.opcode) {
        case WSJWT__WS_TEXT:
        case WSJWT__WS_BINARY: {
            if (c->state != CONN_OPEN)
                break; /* RFC 6455 1.4: data after our close is discarded */
            int binary = ev.opcode == WSJWT__WS_BINARY;
            if ((ev.flags & (WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST | WSJWT__WS_COMPRESSED)) ==
                (WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST)) {
                deliver(c, ev.data, ev.len, binary);
                break;
            }
            if ((ev.flags & (WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST)) ==
                (WSJWT__WS_MSG_FIRST | WSJWT__WS_MSG_LAST)) {
                /* Compressed, whole in the buffer: inflated from in place. */
                if (pmd_deliver(c, ev.data, ev.len, binary) != 0)
                    return (struct frames_done){len, len};
                break;
            }
            if ((ev.flags & (WSJWT__WS_MSG_FIRST | WSJWT__WS_COMPRESSED)) == WSJWT__WS_MSG_FIRST &&
                c->u.ws.frame_fin && ev.data + ev.len == buf + len) {
                /* Copies: len and off stay in registers on the per-message path. */
                size_t nlen = len, noff = off;
                int r = frame_in_place(c, buf, &nlen, &noff, &ev);
                len = nlen;
                off = noff;
                if (r < 0)
                    return (struct frames_done){len, len};
                if (r > 0)
                    break;
            }
            struct wsjwt__conn_io *io = io_get(c);
            /* The frame's whole length is known (the decoder checked it
             * against max_message), but only what arrived is allocated:
             * from 64 KiB, doubling, never past the frame's end. Reserving
             * the announced length at the first byte let 200 peers that
             * announce 1 MiB and send 10 bytes take 200 MiB of address
             * space (refused outright without overcommit). */
            if (io && wsjwt__outq_grow(&io->msg, ev.len, ev.len + (size_t)c->u.ws.remaining) != 0)
                io = NULL;
            if (!io || wsjwt__outq_append(&io->msg, ev.data, ev.len, NULL, 0) != 0) {
                conn_fail(c, WSJWT_ENOMEM);
                return (struct frames_done){len, len};
            }
            if (ev.flags & WSJWT__WS_MSG_LAST) {
                /* Detach first: the callback may close the connection,
                 * which reuses io->msg for the close reason. */
                struct wsjwt__outq m = io->msg;
                memset(&io->msg, 0, sizeof(io->msg));
                int failed = 0;
                if (ev.flags & WSJWT__WS_COMPRESSED)
                    failed = pmd_deliver(c, m.data + m.off, wsjwt__outq_size(&m), binary);
                else
                    deliver(c, m.data + m.off, wsjwt__outq_size(&m), binary);
                wsjwt__outq_free(&m);
                if (failed)
                    return (struct frames_done){len, len};
            }
            break;
        }
        case WSJWT__WS_PING:
            if (c->state != CONN_OPEN)
                break;
            if (c->io && out_size(c) >= c->loop->srv->cfg.max_backpressure) {
                /* A peer that pings without reading its pongs would grow the
                 * queue without bound: a slow consumer like any other. */
                STAT_INC(c->loop, backpressure);
                conn_close(c, 1013, "backpressure");
                break;
            }
            conn_send_frame(c, WSJWT__WS_PONG, ev.data, ev.len);
            break;
        case WSJWT__WS_PONG:
            break;
        case WSJWT__WS_CLOSE:
            on_close_frame(c, &ev);
            break;
        default:
            break;
        }
    }
    return (struct frames_done){off, len};
}

/* ---- the readable event ----------------------------------------------------------------- */

static void tls_read(struct wsjwt_conn *c);

/* Handles len bytes of input at buf (a kept prefix, then what was read or
 * decrypted): the request head, then frames; keeps what is incomplete. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void
conn_input(struct wsjwt_conn *c, uint8_t *buf, size_t len)
{
    struct wsjwt__loop *l = c->loop;
    size_t used = 0;
    if (c->state == CONN_OPEN) {
        c->stamp = loop_ms(l);
        c->flags &= (uint16_t)~CF_PINGED;
    }
    if (c->state == CONN_HANDSHAKE)
        used = conn_handshake(c, buf, len);
    if (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
        struct frames_done r = conn_frames(c, buf + used, len - used);
        len = used + r.len; /* more may have been read in place */
        used += r.used;
    } else if (c->state != CONN_DEFERRED && c->state != CONN_HANDSHAKE)
        used = len;
    if (c->state != CONN_DEAD && (used < len || (c->io && c->io->in)))
        conn_keep(c, buf + used, len - used);
}

static void conn_read(struct wsjwt_conn *c)
{
    if (c->flags & CF_TLS) {
        tls_read(c);
        return;
    }
    struct wsjwt__loop *l = c->loop;
    uint8_t *buf = l->rbuf;
    size_t pre = c->io ? c->io->in_len : 0;
    if (pre > l->rbuf_size - WSJWT__READ_SIZE) {
        /* Cannot happen: a kept head is at most max_head bytes and a kept
         * frame prefix at most 139. */
        mark_broken(c);
        return;
    }
    if (pre)
        memcpy(buf, c->io->in, pre);
    ssize_t n = sock_read(c, buf + pre, WSJWT__READ_SIZE);
    if (n > 0) {
        l->reading = c; /* cork_ref */
        conn_input(c, buf, pre + (size_t)n);
        l->reading = NULL;
    }
}

/* ---- TLS (the engine is in src/net/tls.c) ------------------------------------------ */

/* OpenSSL's record buffers (~34 KB) are kept by a busy connection, one whose
 * records arrive within TLS_BUSY_MS of each other TLS_BUSY_RECORDS times in
 * a row (an allocation and a free per record each way are ~4% of the TLS
 * cost of a 1 KiB echo), and released again by the sweep once it has been
 * quiet for TLS_QUIET_MS: idle connections hold none (issue 8's memory),
 * and neither do chatty ones (a message every 10 ms or more apart). */
#define TLS_BUSY_MS      10u
#define TLS_BUSY_RECORDS 8u
#define TLS_QUIET_MS     1000u

/* The engine's sink: records go from OpenSSL's buffer straight to the
 * socket, with no copy into the engine's queue. What the socket does not
 * take stays queued in the engine (tls_push arms POLLOUT for it). After a
 * hard error the bytes are dropped: the connection is broken and closes. */
static size_t tls_sink(void *user, const uint8_t *p, size_t len)
{
    struct wsjwt_conn *c = user;
    if (c->flags & CF_BROKEN)
        return len;
    ssize_t w;
    do
        w = wsjwt__sys_send(conn_fd(c), p, len, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w >= 0)
        return (size_t)w;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
        mark_broken(c);
        return len;
    }
    return 0;
}

/* Counts records that follow the previous input closely (c->stamp is the
 * time of that input: conn_input updates it after this). */
static void tls_note_busy(struct wsjwt_conn *c, struct wsjwt__tls *t)
{
    if ((uint32_t)(loop_ms(c->loop) - c->stamp) >= TLS_BUSY_MS)
        t->busy = 0;
    else if (++t->busy >= TLS_BUSY_RECORDS)
        wsjwt__tls_keep_buffers(t, 1);
}

/* Sends the records the engine holds; arms POLLOUT for the rest. -1 when
 * the connection broke. */
static int tls_push(struct wsjwt_conn *c)
{
    struct wsjwt__tls *t = conn_tls(c);
    size_t n = wsjwt__tls_out_size(t);
    if (n == 0)
        return 0;
    ssize_t w;
    do
        w = wsjwt__sys_send(conn_fd(c), t->out.data + t->out.off, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            mark_broken(c);
            return -1;
        }
        w = 0;
    }
    wsjwt__outq_consume(&t->out, (size_t)w);
    if (wsjwt__tls_out_size(t) && !(c->flags & CF_POLLOUT)) {
        c->flags |= CF_POLLOUT;
        poll_update(c);
    }
    return 0;
}

/* sock_send for TLS: returns the plaintext bytes taken, all of them once
 * encrypted, or 0 while records from before still wait for the socket: the
 * plaintext then waits in the connection's queue, where the backpressure
 * cap sees it (records in the engine are at most one flush's worth). */
static ssize_t tls_send(struct wsjwt_conn *c, const struct iovec *iov, int n)
{
    struct wsjwt__tls *t = conn_tls(c);
    if (tls_push(c) < 0)
        return -1;
    if (wsjwt__tls_out_size(t))
        return 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (wsjwt__tls_write(t, iov[i].iov_base, iov[i].iov_len) != 0) {
            mark_broken(c);
            return -1;
        }
        total += iov[i].iov_len;
    }
    if (tls_push(c) < 0)
        return -1;
    return (ssize_t)total;
}

static void conn_tls_resume(struct wsjwt__loop *l);

static void on_hs_idle(uv_idle_t *h)
{
    conn_tls_resume(h->data);
}

static void tls_fail(struct wsjwt_conn *c, int rc)
{
    struct wsjwt_server *srv = c->loop->srv;
    if (wsjwt__log_enabled(srv, WSJWT_LOG_INFO)) {
        char peer[64], why[160], q[200];
        log_peer(c, peer, sizeof(peer));
        wsjwt__tls_error(conn_tls(c), why, sizeof(why));
        wsjwt__log(srv, WSJWT_LOG_INFO, "tls_error", "peer=%s error=%s reason=\"%s\"", peer,
                   wsjwt_err_name(rc), wsjwt__log_quote(q, sizeof(q), why, strlen(why)));
    }
    (void)tls_push(c); /* the alert, if OpenSSL wrote one */
    mark_broken(c);
}

/* Runs the engine over the input fed: the handshake (within the loop turn's
 * budget, else postponed to the next turn), then decryption into the
 * shared receive buffer, each chunk handled as a plain read would be. */
static void tls_process(struct wsjwt_conn *c)
{
    struct wsjwt__loop *l = c->loop;
    struct wsjwt__tls *t = conn_tls(c);
    if (!t->done) {
        if (l->hs_budget == 0) {
            if (!(c->flags & CF_TLS_WAIT)) {
                c->flags |= CF_TLS_WAIT;
                ((struct wsjwt__tls_conn *)c)->hs_next = l->hs_wait;
                l->hs_wait = c;
                uv_idle_start(&l->hs_idle, on_hs_idle);
            }
            if (wsjwt__tls_stash(t) != 0)
                mark_broken(c);
            return;
        }
        l->hs_budget--;
        int rc = wsjwt__tls_handshake(t);
        if (rc != 0 && rc != WSJWT_EAGAIN) {
            tls_fail(c, rc);
            return;
        }
        if (rc == 0 && wsjwt__log_enabled(l->srv, WSJWT_LOG_DEBUG)) {
            char peer[64], sni[80] = "";
            const char *name = wsjwt__tls_servername(t);
            log_peer(c, peer, sizeof(peer));
            if (name)
                wsjwt__log_quote(sni, sizeof(sni), name, strlen(name));
            wsjwt__log(l->srv, WSJWT_LOG_DEBUG, "tls_handshake", "peer=%s version=%s cipher=%s sni=\"%s\"",
                       peer, wsjwt__tls_version(t), wsjwt__tls_cipher(t), sni);
        }
    }
    while (t->done) {
        uint8_t *buf = l->rbuf;
        size_t pre = c->io ? c->io->in_len : 0, got = 0;
        if (pre > l->rbuf_size - WSJWT__READ_SIZE) {
            mark_broken(c);
            break;
        }
        if (pre)
            memcpy(buf, c->io->in, pre);
        int rc = wsjwt__tls_read(t, buf + pre, WSJWT__READ_SIZE, &got);
        if (rc == WSJWT_EAGAIN)
            break;
        if (rc == WSJWT_ECLOSED) {
            mark_broken(c); /* close_notify: the peer is gone, as with a FIN */
            break;
        }
        if (rc < 0) {
            tls_fail(c, rc);
            break;
        }
        if (!t->keep_buffers && c->state == CONN_OPEN)
            tls_note_busy(c, t);
        conn_input(c, buf, pre + got);
        if (c->state == CONN_DEAD || c->state == CONN_DRAINING || (c->flags & CF_BROKEN))
            break;
    }
    if (c->state == CONN_DEAD)
        return;
    if (wsjwt__tls_stash(t) != 0)
        mark_broken(c);
    (void)tls_push(c);
}

static void tls_read(struct wsjwt_conn *c)
{
    struct wsjwt__loop *l = c->loop;
    ssize_t n = sock_read(c, l->tbuf, WSJWT__READ_SIZE);
    if (n <= 0)
        return; /* nothing yet, or broken (sock_read marked it) */
    if (wsjwt__tls_feed(conn_tls(c), l->tbuf, (size_t)n) != 0) {
        mark_broken(c);
        return;
    }
    tls_process(c);
}

static void tls_teardown(struct wsjwt_conn *c)
{
    struct wsjwt__loop *l = c->loop;
    struct wsjwt__tls *t = conn_tls(c);
    if (c->flags & CF_TLS_WAIT) {
        struct wsjwt_conn **p = &l->hs_wait;
        while (*p && *p != c)
            p = &((struct wsjwt__tls_conn *)*p)->hs_next;
        if (*p)
            *p = ((struct wsjwt__tls_conn *)c)->hs_next;
        c->flags &= (uint16_t)~CF_TLS_WAIT;
    }
    if (!(c->flags & CF_BROKEN) && t->done && !t->failed) {
        /* RFC 8446 6.1: close_notify before closing, best effort (one
         * non-blocking send: the sink's, or this one behind queued
         * records). */
        wsjwt__tls_close_notify(t);
        if (wsjwt__tls_out_size(t))
            (void)wsjwt__sys_send(conn_fd(c), t->out.data + t->out.off, wsjwt__tls_out_size(t),
                                  MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    wsjwt__tls_free(t);
}

/* Runs postponed handshakes, as many as the turn's budget allows. */
static void conn_tls_resume(struct wsjwt__loop *l)
{
    while (l->hs_wait && l->hs_budget) {
        struct wsjwt_conn *c = l->hs_wait;
        l->hs_wait = ((struct wsjwt__tls_conn *)c)->hs_next;
        c->flags &= (uint16_t)~CF_TLS_WAIT;
        if (wsjwt__tls_feed(conn_tls(c), NULL, 0) != 0)
            mark_broken(c);
        else
            tls_process(c);
        cork_flush(l);
        conn_settle(c);
    }
    if (!l->hs_wait)
        uv_idle_stop(&l->hs_idle);
    wsjwt__loop_flush(l);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct wsjwt_conn *c = (struct wsjwt_conn *)h;
    if (status < 0) {
        wsjwt__conn_teardown(c);
        return;
    }
    if ((events & UV_WRITABLE) && !(c->flags & CF_BROKEN))
        conn_write_out(c);
    if ((events & UV_READABLE) && !(c->flags & (CF_BROKEN | CF_READ_OFF)) && c->state != CONN_DEAD)
        conn_read(c);
    cork_flush(c->loop);
    conn_settle(c);
}

/* ---- loop-level entry points ------------------------------------------------------------ */

void wsjwt__conn_accept(struct wsjwt__loop *l, int fd)
{
    /* Not srv->tls: a reload swaps it under tls_mu on another thread. */
    int tls = l->srv->cfg.n_tls_certs != 0;
    struct wsjwt_conn *c = calloc(1, tls ? sizeof(struct wsjwt__tls_conn) : sizeof(*c));
    if (c && tls) {
        struct wsjwt__tls_ctx *ctx = wsjwt__server_tls_ctx(l->srv);
        int rc = wsjwt__tls_init(conn_tls(c), ctx, NULL);
        wsjwt__tls_ctx_unref(ctx);
        if (rc != 0) {
            free(c);
            c = NULL;
        } else {
            c->flags |= CF_TLS;
            wsjwt__tls_set_sink(conn_tls(c), tls_sink, c);
        }
    }
    /* TLS connections are registered with libuv first, as before; plain ones
     * only once the first read shows they need it (below). */
    if (!c || (tls && uv_poll_init(&l->uv, &c->poll, fd) != 0)) {
        if (c && tls)
            wsjwt__tls_free(conn_tls(c));
        free(c);
        close(fd);
        return;
    }
    if (tls)
        wsjwt__sock_nodelay(fd);
    else
        c->poll.io_watcher.fd = fd; /* conn_fd before uv_poll_init */
    c->loop = l;
    c->close_code = 1006;
    c->stamp = loop_ms(l);
    wsjwt__http_parser_init(&c->u.http, l->srv->cfg.max_head, l->srv->cfg.max_headers);
    c->poll.data = c;
    if (++l->n_conns > l->n_peak)
        l->n_peak = l->n_conns;
    /* On loopback and on fast links the request head is usually there by
     * the time the connection is accepted: read it now. A refused upgrade
     * is then answered and closed without ever being registered with libuv:
     * uv_poll_init costs an epoll_ctl ADD and DEL (libuv checks that epoll
     * takes the descriptor) and an ioctl(FIONBIO), its close another DEL, so
     * a refusal is accept4, read, sendto, close (issue 8, scenario e: 9
     * system calls -> 4). An accepted one is registered once, open. When
     * nothing has arrived yet this costs one read that returns EAGAIN. */
    conn_read(c);
    cork_flush(l);
    if (!c->poll.loop && c->state != CONN_DEAD) {
        if ((c->flags & CF_BROKEN) ||
            (c->state == CONN_DRAINING && out_pending(c) == 0 && l->cork_owner != c)) {
            wsjwt__conn_teardown(c); /* frees c */
            return;
        }
        if (uv_poll_init(&l->uv, &c->poll, fd) != 0) {
            mark_broken(c);
            wsjwt__conn_teardown(c);
            return;
        }
        c->poll.data = c;
    }
    conn_settle(c);
    if (c->state != CONN_DEAD)
        poll_update(c);
}

static int elapsed(uint32_t now, uint32_t since, uint32_t ms)
{
    return (uint32_t)(now - since) >= ms;
}

/* Calls fn for every live connection of the loop. The connections are the
 * loop's poll handles whose data points at themselves (the listener's points
 * at the loop). Closing handles stay in libuv's queue until their close
 * callback, so fn may tear connections down. */
struct walk {
    void (*fn)(struct wsjwt_conn *c, void *arg);
    void *arg;
};

static void walk_cb(uv_handle_t *h, void *arg)
{
    struct walk *w = arg;
    if (h->type != UV_POLL || h->data != (void *)h || uv_is_closing(h))
        return;
    struct wsjwt_conn *c = (struct wsjwt_conn *)h;
    if (c->state != CONN_DEAD)
        w->fn(c, w->arg);
}

static void for_each_conn(struct wsjwt__loop *l, void (*fn)(struct wsjwt_conn *c, void *arg), void *arg)
{
    struct walk w = {fn, arg};
    uv_walk(&l->uv, walk_cb, &w);
}

struct sweep {
    uint32_t now;
    int64_t wall;
    int force;
    int tls_rest; /* this sweep offers TLS connections their rest (once per TLS_QUIET_MS) */
};

static void sweep_one(struct wsjwt_conn *c, void *arg)
{
    const struct sweep *sw = arg;
    struct wsjwt__loop *l = c->loop;
    struct wsjwt_server *srv = l->srv;
    const struct wsjwt_server_config *cfg = &srv->cfg;
    if (sw->force) {
        wsjwt__conn_teardown(c);
        return;
    }
    if ((c->flags & CF_TLS) && conn_tls(c)->keep_buffers && elapsed(sw->now, c->stamp, TLS_QUIET_MS)) {
        conn_tls(c)->busy = 0;
        wsjwt__tls_keep_buffers(conn_tls(c), 0); /* quiet again: see TLS_BUSY_MS */
    }
    if ((c->flags & CF_TLS) && sw->tls_rest)
        wsjwt__tls_rest(conn_tls(c)); /* no record for a period: no cipher contexts */
    switch (c->state) {
    case CONN_HANDSHAKE:
    case CONN_DEFERRED:
        if (elapsed(sw->now, c->stamp, cfg->handshake_timeout_ms)) {
            if (wsjwt__log_enabled(srv, WSJWT_LOG_INFO)) {
                char peer[64];
                log_peer(c, peer, sizeof(peer));
                wsjwt__log(srv, WSJWT_LOG_INFO,
                           (c->flags & CF_TLS) && !conn_tls(c)->done ? "tls_handshake_timeout"
                                                                     : "handshake_timeout",
                           "peer=%s", peer);
            }
            wsjwt__conn_teardown(c);
        }
        break;
    case CONN_OPEN:
        if (!cfg->keep_expired_open && c->exp && sw->wall >= c->exp + cfg->expiry_leeway) {
            /* A token authorises a connection only while it is valid. */
            STAT_INC(l, expired);
            if (wsjwt__log_enabled(srv, WSJWT_LOG_INFO)) {
                char peer[64], sub[80] = "";
                log_peer(c, peer, sizeof(peer));
                if (c->sub)
                    wsjwt__log_quote(sub, sizeof(sub), c->sub, strlen(c->sub));
                wsjwt__log(srv, WSJWT_LOG_INFO, "token_expired", "peer=%s sub=\"%s\" exp=%lld", peer, sub,
                           (long long)c->exp);
            }
            conn_close(c, 1008, "token expired");
        } else if (elapsed(sw->now, c->stamp, cfg->idle_timeout_ms)) {
            conn_close(c, 1001, "idle timeout");
        } else if (elapsed(sw->now, c->stamp, cfg->ping_interval_ms) && !(c->flags & CF_PINGED)) {
            c->flags |= CF_PINGED;
            conn_send_frame(c, WSJWT__WS_PING, NULL, 0);
        }
        break;
    case CONN_CLOSING:
    case CONN_DRAINING:
        if (elapsed(sw->now, c->stamp, cfg->close_timeout_ms))
            wsjwt__conn_teardown(c);
        break;
    default:
        break;
    }
}

void wsjwt__conn_sweep(struct wsjwt__loop *l)
{
    struct sweep sw;
    sw.now = loop_ms(l);
    sw.wall = wsjwt__server_now(l->srv);
    sw.force = l->stopping && uv_now(&l->uv) >= l->stop_deadline;
    sw.tls_rest = l->tbuf && elapsed(sw.now, l->tls_rest_at, TLS_QUIET_MS);
    if (sw.tls_rest)
        l->tls_rest_at = sw.now;
    for_each_conn(l, sweep_one, &sw);
}

static void shutdown_one(struct wsjwt_conn *c, void *arg)
{
    (void)arg;
    if (c->state == CONN_OPEN)
        conn_close(c, 1001, "server shutting down");
    else if (c->state == CONN_HANDSHAKE || c->state == CONN_DEFERRED)
        wsjwt__conn_teardown(c);
}

void wsjwt__conn_shutdown(struct wsjwt__loop *l)
{
    l->stopping = 1;
    l->stop_deadline = uv_now(&l->uv) + l->srv->cfg.shutdown_timeout_ms;
    for_each_conn(l, shutdown_one, NULL);
}

static void deliver_one(struct wsjwt_conn *c, void *arg)
{
    const struct wsjwt__bcast *b = arg;
    struct wsjwt__loop *l = c->loop;
    if (c->state != CONN_OPEN || c == b->except)
        return;
    if (out_size(c) >= l->srv->cfg.max_backpressure) {
        /* A receiver that does not read: close it rather than grow its
         * queue or drop the message silently. */
        STAT_INC(l, backpressure);
        conn_close(c, 1013, "backpressure");
        return;
    }
    if (b->zframe && wsjwt__pmd_shareable(c->pmd))
        conn_queue(c, b->zframe, b->zlen, NULL, 0);
    else
        conn_queue(c, b->frame, b->len, NULL, 0);
    STAT_INC(l, messages_out);
}

void wsjwt__loop_deliver(struct wsjwt__loop *l, const struct wsjwt__bcast *b)
{
    for_each_conn(l, deliver_one, (void *)b);
}

/* ---- public connection API ------------------------------------------------------------------ */

static int conn_close(struct wsjwt_conn *c, unsigned code, const char *reason)
{
    uint8_t payload[WSJWT__WS_MAX_CONTROL];
    size_t n = 0;
    size_t rlen = reason ? strlen(reason) : 0;
    if (c->state != CONN_OPEN)
        return WSJWT_ESTATE;
    if (wsjwt__ws_close_build(payload, code, reason, rlen, &n) != 0)
        return WSJWT_EINVAL;
    conn_send_frame(c, WSJWT__WS_CLOSE, payload, n);
    c->state = CONN_CLOSING;
    c->stamp = loop_ms(c->loop);
    c->close_code = (uint16_t)code;
    keep_reason(c, payload + 2, n >= 2 ? n - 2 : 0);
    return 0;
}

int wsjwt_conn_close(struct wsjwt_conn *c, int code, const char *reason)
{
    if (code < 1000 || code > 4999)
        return WSJWT_EINVAL;
    return conn_close(c, (unsigned)code, reason);
}

int wsjwt_conn_send(struct wsjwt_conn *c, const void *data, size_t len, int binary)
{
    struct wsjwt__loop *l = c->loop;
    if (c->state != CONN_OPEN)
        return WSJWT_ESTATE;
    if (out_size(c) >= l->srv->cfg.max_backpressure) {
        c->flags |= CF_DRAIN_CB;
        STAT_INC(l, backpressure);
        return WSJWT_EBACKPRESSURE;
    }
    if (c->pmd && len >= l->srv->pmd_threshold) {
        int rc = pmd_send(c, binary ? WSJWT__WS_BINARY : WSJWT__WS_TEXT, data, len);
        if (rc != 0)
            return rc;
    } else {
        conn_send_frame(c, binary ? WSJWT__WS_BINARY : WSJWT__WS_TEXT, data, len);
    }
    STAT_INC(l, messages_out);
    return 0;
}

int wsjwt_conn_ping(struct wsjwt_conn *c, const void *data, size_t len)
{
    if (c->state != CONN_OPEN)
        return WSJWT_ESTATE;
    if (len > WSJWT__WS_MAX_CONTROL)
        return WSJWT_ETOOBIG;
    conn_send_frame(c, WSJWT__WS_PING, data, len);
    return 0;
}

int wsjwt_conn_answer(struct wsjwt_conn *c, int status)
{
    if (c->state != CONN_DEFERRED || !c->io || wsjwt__outq_size(&c->io->msg) < WSJWT_WS_ACCEPT_LEN)
        return WSJWT_ESTATE;
    struct wsjwt__conn_io *io = c->io;
    if (status != WSJWT_UPGRADE_ACCEPT) {
        wsjwt__outq_free(&io->msg);
        refuse(c, WSJWT_EHTTP_REFUSED, status >= 400 && status <= 599 ? status : 500, NULL, "deferred", NULL,
               0);
        flushq_push(c);
        return 0;
    }
    char accept[WSJWT_WS_ACCEPT_LEN], proto[WSJWT__MAX_PROTOCOL];
    size_t proto_len = wsjwt__outq_size(&io->msg) - WSJWT_WS_ACCEPT_LEN;
    memcpy(accept, io->msg.data + io->msg.off, sizeof(accept));
    memcpy(proto, io->msg.data + io->msg.off + sizeof(accept), proto_len);
    wsjwt__outq_free(&io->msg);
    conn_open(c, accept, proto_len ? proto : NULL, proto_len);
    /* Frames the client sent right after its request head (kept while
     * deferred) are decoded in place in the connection's own buffer: the
     * loop's shared buffer may be in use by the caller's callback. */
    if (c->io && c->io->in_len && c->state == CONN_OPEN) {
        size_t used = conn_frames(c, c->io->in, c->io->in_len).used;
        if (c->state != CONN_DEAD && c->io)
            conn_keep(c, c->io->in + used, c->io->in_len - used);
    }
    flushq_push(c);
    return 0;
}

int wsjwt_conn_is_tls(const struct wsjwt_conn *c)
{
    return (c->flags & CF_TLS) != 0;
}

const char *wsjwt_conn_tls_servername(const struct wsjwt_conn *c)
{
    return (c->flags & CF_TLS) ? wsjwt__tls_servername(conn_tls(c)) : NULL;
}

void wsjwt_conn_set_user(struct wsjwt_conn *c, void *user)
{
    c->user = user;
}

void *wsjwt_conn_user(const struct wsjwt_conn *c)
{
    return c->user;
}

const struct wsjwt_jwt *wsjwt_conn_jwt(const struct wsjwt_conn *c)
{
    return c->jwt;
}

const char *wsjwt_conn_sub(const struct wsjwt_conn *c)
{
    return c->sub ? c->sub : "";
}

int64_t wsjwt_conn_exp(const struct wsjwt_conn *c)
{
    return c->exp;
}

const char *wsjwt_conn_peer(const struct wsjwt_conn *c, char *buf, size_t size)
{
    wsjwt__peer_name(conn_fd(c), buf, size);
    return buf;
}

int wsjwt_conn_header(const struct wsjwt_conn *c, const char *name, const char **value, size_t *len)
{
    const struct wsjwt__http_request *req = c->loop->req;
    size_t pos = 0;
    if (!req)
        return WSJWT_ESTATE;
    const struct wsjwt__http_header *h = wsjwt__http_find(req->headers, req->num_headers, name, &pos);
    if (!h)
        return WSJWT_ENOENT;
    *value = h->value;
    *len = h->value_len;
    return 0;
}

int wsjwt_conn_path(const struct wsjwt_conn *c, const char **path, size_t *len)
{
    const struct wsjwt__http_request *req = c->loop->req;
    if (!req)
        return WSJWT_ESTATE;
    *path = req->path;
    *len = req->path_len;
    return 0;
}

int wsjwt_conn_select_protocol(struct wsjwt_conn *c, const char *name)
{
    struct wsjwt__loop *l = c->loop;
    const struct wsjwt__http_request *req = l->req;
    const struct wsjwt__http_header *h;
    size_t pos = 0, n = name ? strlen(name) : 0;
    if (!req)
        return WSJWT_ESTATE;
    if (n == 0 || n > WSJWT__MAX_PROTOCOL)
        return WSJWT_EINVAL;
    /* RFC 6455 4.2.2: the server selects one of the values the client
     * offered, compared exactly. */
    while ((h = wsjwt__http_find(req->headers, req->num_headers, "Sec-WebSocket-Protocol", &pos)) != NULL) {
        const char *cur = h->value, *e;
        size_t elen;
        while (wsjwt__http_list_next(&cur, h->value + h->value_len, &e, &elen)) {
            if (elen == n && memcmp(e, name, n) == 0) {
                l->proto = e;
                l->proto_len = n;
                return 0;
            }
        }
    }
    return WSJWT_ENOENT;
}

int wsjwt_conn_query(const struct wsjwt_conn *c, const char **query, size_t *len)
{
    const struct wsjwt__http_request *req = c->loop->req;
    if (!req)
        return WSJWT_ESTATE;
    if (!req->query)
        return WSJWT_ENOENT;
    *query = req->query;
    *len = req->query_len;
    return 0;
}

struct wsjwt_server *wsjwt_conn_server(const struct wsjwt_conn *c)
{
    return c->loop->srv;
}
