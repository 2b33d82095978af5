/* The clients' sockets of one loop in an epoll set of their own, watched by
 * libuv through one poll handle (see internal.h).
 *
 * Why not a libuv handle per socket: measured with strace, a uv_tcp_t costs
 * three epoll_ctl calls per connection (added at connect, modified when
 * connected, removed at close) and a getsockopt(SO_ERROR); a uv_poll_t costs
 * six (uv_poll_init adds and removes the descriptor to check it and sets
 * FIONBIO; every uv_poll_start removes and adds it again; close removes
 * it). A load generator opening 25 000 connections a second pays each of
 * those system calls on the core it shares with the kernel's half of every
 * TCP handshake. Here a socket is added once, edge-triggered for reading
 * and writing (so nothing is ever modified), and close() takes it out of
 * the set: one epoll_ctl per connection, as bench/loadgen does. The price
 * is one more epoll_wait per loop turn in which any client socket is ready,
 * shared by every socket ready in that turn.
 *
 * One set per loop: clients belong to their loop's thread, so the sets of a
 * thread are found through a thread-local list (nearly always one entry).
 * A set lives while clients of its loop exist; its poll handle keeps the
 * loop running only while a socket is registered. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <sys/epoll.h>

#include "client/internal.h"

/* Events taken per epoll_wait; more wait for the next loop turn (the poll
 * handle is level-triggered: it fires again at once). */
#define BATCH 256

struct wsjwt__cpoll {
    uv_loop_t *loop;
    uv_poll_t poll; /* watches epfd */
    int epfd;
    unsigned clients; /* references (wsjwt__cpoll_get) */
    unsigned sockets; /* registered sockets: the handle is referenced while > 0 */
    void (*cb)(void *owner, uint32_t events);
    struct epoll_event *batch; /* events being dispatched, or NULL */
    int batch_n;
    int batch_i;   /* the one being dispatched */
    void *current; /* its owner */
    struct wsjwt__cpoll *next;
};

static _Thread_local struct wsjwt__cpoll *sets;

/* Hands a batch of events to their owners. An owner closed by an earlier
 * event of the batch was taken out of it (wsjwt__cpoll_forget). */
static void dispatch(struct wsjwt__cpoll *p, struct epoll_event *ev, int n)
{
    p->batch = ev;
    p->batch_n = n;
    for (int i = 0; i < n; i++) {
        void *owner = ev[i].data.ptr;
        if (!owner)
            continue;
        ev[i].data.ptr = NULL;
        p->batch_i = i;
        p->current = owner;
        p->cb(owner, ev[i].events);
    }
    p->batch = NULL;
    p->current = NULL;
}

static void on_ready(uv_poll_t *h, int status, int events)
{
    struct wsjwt__cpoll *p = h->data;
    struct epoll_event ev[BATCH];
    (void)status;
    (void)events;
    int n;
    do
        n = epoll_wait(p->epfd, ev, BATCH, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        dispatch(p, ev, n);
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

struct wsjwt__cpoll *wsjwt__cpoll_get(uv_loop_t *loop, void (*cb)(void *owner, uint32_t events))
{
    struct wsjwt__cpoll *p;
    for (p = sets; p; p = p->next)
        if (p->loop == loop) {
            p->clients++;
            return p;
        }
    if (!(p = calloc(1, sizeof(*p))))
        return NULL;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        free(p);
        return NULL;
    }
    if (uv_poll_init(loop, &p->poll, p->epfd) != 0) {
        close(p->epfd);
        free(p);
        return NULL;
    }
    p->poll.data = p;
    uv_poll_start(&p->poll, UV_READABLE, on_ready);
    uv_unref((uv_handle_t *)&p->poll);
    p->loop = loop;
    p->cb = cb;
    p->clients = 1;
    p->next = sets;
    sets = p;
    return p;
}

int wsjwt__cpoll_put(struct wsjwt__cpoll *p)
{
    if (!p || --p->clients)
        return 0;
    for (struct wsjwt__cpoll **pp = &sets; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    /* libuv takes the descriptor out of its own set in uv_close; only then
     * may it be closed. The memory goes in the close callback. */
    uv_close((uv_handle_t *)&p->poll, on_closed);
    close(p->epfd);
    p->epfd = -1;
    return 1;
}

int wsjwt__cpoll_add(struct wsjwt__cpoll *p, int fd, void *owner)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = owner};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -errno;
    if (p->sockets++ == 0)
        uv_ref((uv_handle_t *)&p->poll);
    return 0;
}

void wsjwt__cpoll_drop(struct wsjwt__cpoll *p, void *owner)
{
    /* An owner has at most one event in a batch (one registration), and
     * the events up to the one being dispatched are taken already: nothing
     * to look for when the owner is the one being dispatched (a client
     * ending its connection from its own event, as every upgrade ends). */
    for (int i = p->batch_i + 1; p->batch && p->current != owner && i < p->batch_n; i++)
        if (p->batch[i].data.ptr == owner) {
            p->batch[i].data.ptr = NULL;
            break;
        }
}

void wsjwt__cpoll_forget(struct wsjwt__cpoll *p, void *owner)
{
    wsjwt__cpoll_drop(p, owner);
    if (--p->sockets == 0)
        uv_unref((uv_handle_t *)&p->poll);
}

/* wsjwt_client_run: the set turned inside out. libuv's own epoll set (its
 * backend descriptor) goes into ours, level-triggered, and our set leaves
 * libuv's (uv_poll_stop takes it out at once): the client sockets' events
 * come straight from one epoll_wait, and libuv gets a turn (uv_run NOWAIT)
 * only when its set has events or a timer is due.
 * Why: nested the other way, every epoll_ctl ADD of a socket into a set that
 * is itself watched takes the kernel's loop check, and every loop turn with
 * socket events is two epoll_wait calls (libuv's, then ours). Measured
 * with bench --mode upgrade, 5 000 upgrades: epoll_wait calls halved (strace
 * -c), and perf's share of the generator's CPU in epoll_ctl 3.7% -> 2.9%.
 * Nesting libuv's set in ours costs that only for libuv's own events
 * (cross-thread wake-ups, timers). */
/* epoll_wait with a timeout in nanoseconds (-1: none): epoll_pwait2 where
 * the kernel has it (5.11), else milliseconds rounded up. */
static int wait_ns(int epfd, struct epoll_event *ev, int64_t ns, int *no_pwait2)
{
    if (ns < 0 || ns % 1000000 == 0 || *no_pwait2)
        return epoll_wait(epfd, ev, BATCH, ns < 0 ? -1 : (int)((ns + 999999) / 1000000));
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    int n = epoll_pwait2(epfd, ev, BATCH, &ts, NULL);
    if (n < 0 && errno == ENOSYS) {
        *no_pwait2 = 1;
        return wait_ns(epfd, ev, ns, no_pwait2);
    }
    return n;
}

int wsjwt__cpoll_run(struct wsjwt__cpoll *p, uint64_t max_wait_ns, void (*on_turn)(void *arg), void *arg)
{
    uv_loop_t *loop = p->loop;
    int bfd = uv_backend_fd(loop), rc = 0;
    /* The marker of libuv's events: p itself is no client. */
    struct epoll_event bev = {.events = EPOLLIN, .data.ptr = p};
    uv_poll_stop(&p->poll);
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, bfd, &bev) != 0) {
        rc = -errno;
        uv_poll_start(&p->poll, UV_READABLE, on_ready);
        return rc;
    }
    struct epoll_event ev[BATCH];
    int no_pwait2 = 0;
    for (;;) {
        if (loop->stop_flag) { /* uv_stop(), as uv_run honours it */
            loop->stop_flag = 0;
            break;
        }
        int alive = uv_loop_alive(loop), timeout = -1;
        if (!alive && p->sockets == 0)
            break;
        if (alive) {
            /* libuv's own clock (a coarse one, as its loop reads it per
             * turn): its timers are due against it. */
            uv_update_time(loop);
            timeout = uv_backend_timeout(loop);
        }
        /* max_wait_ns bounds the wait (a turn, and on_turn, at least that
         * often); libuv still gets its turn only when its own timeout is
         * reached: recomputed each turn, it is 0 then. */
        int64_t wait = timeout < 0 ? -1 : (int64_t)timeout * 1000000;
        int shortened = max_wait_ns && (wait < 0 || (uint64_t)wait > max_wait_ns);
        if (shortened)
            wait = (int64_t)max_wait_ns;
        int n = wait_ns(p->epfd, ev, wait, &no_pwait2);
        if (n < 0) {
            if (errno != EINTR) {
                rc = -errno;
                break;
            }
            n = 0;
        }
        int libuv_turn = timeout == 0 || (n == 0 && timeout > 0 && !shortened);
        for (int i = 0; i < n; i++)
            if (ev[i].data.ptr == p) {
                ev[i].data.ptr = NULL;
                libuv_turn = 1;
            }
        dispatch(p, ev, n);
        if (libuv_turn)
            uv_run(loop, UV_RUN_NOWAIT);
        if (on_turn)
            on_turn(arg);
    }
    (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, bfd, &bev);
    uv_poll_start(&p->poll, UV_READABLE, on_ready);
    return rc;
}
