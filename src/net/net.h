/* The socket shell under the server: listening sockets, accept with
 * descriptor-exhaustion handling, and a send queue.
 *
 * The server drives its own non-blocking read()/writev() from a uv_poll_t
 * (160 bytes) instead of a uv_tcp_t (248 bytes plus libuv's write requests):
 * the per-connection footprint target is 400 bytes (issue 8). */
#ifndef WSJWT_NET_H
#define WSJWT_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A bound, listening, non-blocking socket on host:port. With reuseport the
 * socket sets SO_REUSEPORT so that several loops can listen on one port.
 * Returns 0 and *fd, or WSJWT_EIO (errno kept) / WSJWT_EINVAL (bad host). */
int wsjwt__listen(const char *host, int port, int reuseport, int backlog, int *fd);

/* The port a socket is bound to, or -1. */
int wsjwt__local_port(int fd);

/* Accept state of one listener: a reserve descriptor that is given up when
 * accept() fails with EMFILE/ENFILE so that the pending connection can be
 * accepted and closed at once instead of making the listener spin. */
struct wsjwt__acceptor {
    int fd;      /* the listening socket */
    int reserve; /* /dev/null, or -1 */
    /* Fault injection for tests (tests/abuse/faults.test.mjs): with
     * WSJWT_FAULT_ACCEPT=ERRNO:N in the environment (ERRNO one of EMFILE,
     * ENFILE, ENOBUFS, ENOMEM, ECONNABORTED, EPERM), every Nth accept() fails
     * with that errno instead of being called. 0: off. */
    int fault_errno;
    unsigned fault_every, fault_count;
};

void wsjwt__acceptor_init(struct wsjwt__acceptor *a, int fd);
void wsjwt__acceptor_close(struct wsjwt__acceptor *a);

/* Accepts one connection: 0 and *cfd (non-blocking, close-on-exec),
 * WSJWT_EAGAIN when none is pending, WSJWT_EIO on any other failure (*shed is
 * set when a connection was accepted and closed for lack of descriptors). */
int wsjwt__accept(struct wsjwt__acceptor *a, int *cfd, int *shed);

/* Makes sure an accepted socket has TCP_NODELAY: the server corks its frames
 * already, Nagle would only add latency to the one write per loop turn. On
 * Linux it has it already: accepted sockets inherit it from the listener,
 * where wsjwt__listen sets it (no system call per connection). Elsewhere a
 * setsockopt, done when a connection opens, so that one answered and closed
 * at once (a refused upgrade) costs none. */
void wsjwt__sock_nodelay(int fd);

/* "1.2.3.4:5678" / "[::1]:5678" for a connected socket's peer. */
void wsjwt__peer_name(int fd, char *buf, size_t size);

/* A send queue: bytes waiting for the socket, appended at the end, consumed
 * from the front. Allocated only while it holds bytes. */
struct wsjwt__outq {
    uint8_t *data;
    uint32_t off; /* first unsent byte */
    uint32_t len; /* end of the queued bytes */
    uint32_t cap;
};

/* Number of queued bytes. */
static inline size_t wsjwt__outq_size(const struct wsjwt__outq *q)
{
    return (size_t)(q->len - q->off);
}

/* Appends n bytes from up to three pieces (any may be NULL with length 0).
 * WSJWT_ENOMEM, WSJWT_ETOOBIG when the queue would pass 4 GiB. */
int wsjwt__outq_append(struct wsjwt__outq *q, const void *a, size_t na, const void *b, size_t nb);

/* Makes room for n more bytes, of which up to `most` may come in all (a
 * frame whose length its header announced; most >= n). Storage grows
 * geometrically from a first chunk of 64 KiB, capped at the queued bytes
 * plus `most`: the memory follows the bytes that actually arrived, not what
 * a peer announced, and a message whose length is known takes no more than
 * it needs. WSJWT_ENOMEM, WSJWT_ETOOBIG past 4 GiB. */
int wsjwt__outq_grow(struct wsjwt__outq *q, size_t n, size_t most);

/* Drops n sent bytes from the front; frees the storage when empty. */
void wsjwt__outq_consume(struct wsjwt__outq *q, size_t n);

/* Frees the storage. */
void wsjwt__outq_free(struct wsjwt__outq *q);

#endif
