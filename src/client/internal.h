/* Entry points into the client shell for tests and fuzzing (not public API,
 * not exported from the shared library).
 *
 * wsjwt__client_attach_fake  puts a new client (wsjwt_client_new, not yet
 *                            connected) in the state "request sent, waiting
 *                            for the response" without any socket: what it
 *                            would send is queued and never written.
 * wsjwt__client_key          the Sec-WebSocket-Key of its request
 *                            (WSJWT_WS_KEY_LEN chars), to build a valid 101.
 * wsjwt__client_feed         hands bytes to the receive path exactly as a
 *                            read would (callbacks run from inside). Stops
 *                            once the client failed or was freed. */
#ifndef WSJWT_CLIENT_INTERNAL_H
#define WSJWT_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <wsjwt/client.h>

int wsjwt__client_attach_fake(struct wsjwt_client *c);
const char *wsjwt__client_key(const struct wsjwt_client *c);
int wsjwt__client_feed(struct wsjwt_client *c, const uint8_t *data, size_t len);

/* n bytes from OpenSSL's CSPRNG through a per-thread batch (random.c).
 * Returns 0 or WSJWT_ECRYPTO. */
int wsjwt__client_random(void *out, size_t n);
/* The per-thread cache behind both. 4 KiB: 256 nonces or 1024 mask keys
 * per RAND_bytes call. The mask keys of every client of the thread come
 * from here directly: one pool that stays in the CPU cache, where a pool
 * per client was a cache miss per message with a thousand clients taking
 * turns (perf, bench scenario b), and 256 bytes more per client. */
#define WSJWT__RAND_CACHE 4096u
struct wsjwt__rand_cache {
    uint8_t buf[WSJWT__RAND_CACHE];
    size_t pos; /* bytes before pos are used (and wiped) */
};
extern _Thread_local struct wsjwt__rand_cache wsjwt__rand_cache;
/* Refills it: 0 or WSJWT_ECRYPTO. */
int wsjwt__client_refill(void);

/* One frame's mask key from the same cache (4 bytes, never handed out
 * twice): 0 or WSJWT_ECRYPTO. In line: it runs for every frame sent, and
 * the call was a third of its cost (callgrind). A plain copy and a plain
 * store of zeros: for 4 bytes the wipe is one instruction, where
 * OPENSSL_cleanse is a call through a volatile function pointer; the store
 * cannot be optimised away, the buffer is thread-local state read again
 * later. */
static inline int wsjwt__client_mask(uint8_t out[4])
{
    struct wsjwt__rand_cache *rc = &wsjwt__rand_cache;
    if (rc->pos + 4 > WSJWT__RAND_CACHE && wsjwt__client_refill() != 0)
        return WSJWT_ECRYPTO;
    memcpy(out, rc->buf + rc->pos, 4);
    memset(rc->buf + rc->pos, 0, 4);
    rc->pos += 4;
    return 0;
}

/* The clients' sockets of a loop in one epoll set (poll.c): one
 * registration per socket, edge-triggered for reading and writing, and
 * close() is the only way out of it.
 *   get     a reference to the loop's set (created at the first); cb gets
 *           every readiness event: the owner given to add, epoll's events.
 *           NULL when the set cannot be created.
 *   put     drops the reference; the last one closes the set (returns 1:
 *           its poll handle is closing, a loop turn frees it).
 *   add     registers a socket: 0 or a negative errno (-EEXIST, -ENOMEM...).
 *   forget  before the owner closes its socket: no event of it is delivered
 *           any more (not even one already taken from the kernel).
 *   drop    the owner's event taken from the kernel and not yet delivered,
 *           if any, is not delivered; the socket stays registered (its
 *           connection ended and the socket connects again: the events
 *           to come are the new connection's).
 *   run     wsjwt_client_run on the set (see poll.c). */
struct wsjwt__cpoll;
struct wsjwt__cpoll *wsjwt__cpoll_get(uv_loop_t *loop, void (*cb)(void *owner, uint32_t events));
int wsjwt__cpoll_put(struct wsjwt__cpoll *p);
int wsjwt__cpoll_add(struct wsjwt__cpoll *p, int fd, void *owner);
void wsjwt__cpoll_forget(struct wsjwt__cpoll *p, void *owner);
void wsjwt__cpoll_drop(struct wsjwt__cpoll *p, void *owner);
/* Runs the loop from the set (wsjwt_client_run, wsjwt_client_run_every:
 * max_wait_ns 0 is no bound): 0, or a negative errno when epoll failed. */
int wsjwt__cpoll_run(struct wsjwt__cpoll *p, uint64_t max_wait_ns, void (*on_turn)(void *arg), void *arg);

#endif
