/* Listening sockets and accept (see net.h). Plain POSIX sockets: libuv only
 * polls them. */
/* accept4 and SOCK_NONBLOCK are Linux (GNU) extensions. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wsjwt/error.h>

#include "net/net.h"

int wsjwt__listen(const char *host, int port, int reuseport, int backlog, int *fd)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL)
        return WSJWT_EINVAL;
    int s = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        freeaddrinfo(res);
        return WSJWT_EIO;
    }
    int one = 1;
    (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Linux copies TCP_NODELAY to the sockets accepted from it: one call
     * here instead of one per connection (wsjwt__sock_nodelay). */
    (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (reuseport && setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        goto fail;
    if (bind(s, res->ai_addr, res->ai_addrlen) != 0 || listen(s, backlog) != 0)
        goto fail;
    freeaddrinfo(res);
    *fd = s;
    return 0;
fail:;
    int e = errno;
    close(s);
    freeaddrinfo(res);
    errno = e;
    return WSJWT_EIO;
}

int wsjwt__local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* WSJWT_FAULT_ACCEPT=ERRNO:N (see net.h): read once per listener. */
static void fault_init(struct wsjwt__acceptor *a)
{
    static const struct {
        const char *name;
        int e;
    } names[] = {{"EMFILE", EMFILE},
                 {"ENFILE", ENFILE},
                 {"ENOBUFS", ENOBUFS},
                 {"ENOMEM", ENOMEM},
                 {"ECONNABORTED", ECONNABORTED},
                 {"EPERM", EPERM}};
    const char *v = getenv("WSJWT_FAULT_ACCEPT"), *colon;
    a->fault_errno = 0;
    a->fault_every = a->fault_count = 0;
    if (!v || !(colon = strchr(v, ':')))
        return;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == (size_t)(colon - v) &&
            memcmp(names[i].name, v, (size_t)(colon - v)) == 0) {
            long n = strtol(colon + 1, NULL, 10);
            if (n > 0 && n < 1000000) {
                a->fault_errno = names[i].e;
                a->fault_every = (unsigned)n;
            }
        }
    }
}

void wsjwt__acceptor_init(struct wsjwt__acceptor *a, int fd)
{
    a->fd = fd;
    a->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fault_init(a);
}

/* An injected accept() failure (see net.h): -1 with errno set. */
static int fault_hit(struct wsjwt__acceptor *a)
{
    if (!a->fault_every || ++a->fault_count % a->fault_every != 0)
        return 0;
    errno = a->fault_errno;
    return 1;
}

void wsjwt__acceptor_close(struct wsjwt__acceptor *a)
{
    if (a->reserve >= 0)
        close(a->reserve);
    a->reserve = -1;
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
}

int wsjwt__accept(struct wsjwt__acceptor *a, int *cfd, int *shed)
{
    *shed = 0;
    /* The reserve is lost when the descriptor it released is taken by
     * another thread before the shed connection is accepted (another loop's
     * accept, a key reload). Take one back as soon as descriptors are free
     * again: without it the next EMFILE leaves connections waiting in the
     * backlog instead of shedding them (tests/abuse/flood.test.mjs,
     * emfile-flood-threads). */
    if (a->reserve < 0)
        a->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (;;) {
        int c = fault_hit(a) ? -1 : accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            *cfd = c;
            return 0;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return WSJWT_EAGAIN;
        if ((errno == EMFILE || errno == ENFILE) && a->reserve >= 0) {
            /* Out of descriptors: the pending connection would stay in the
             * backlog and keep the listener readable, so the loop would spin.
             * Spend the reserve descriptor to take it and close it at once:
             * the peer sees a clean close, and the listener drains. */
            close(a->reserve);
            a->reserve = -1;
            c = accept(a->fd, NULL, NULL);
            if (c >= 0)
                close(c);
            a->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
            *shed = 1;
            errno = EMFILE;
        }
        return WSJWT_EIO;
    }
}

void wsjwt__sock_nodelay(int fd)
{
#if defined(__linux__)
    (void)fd; /* inherited from the listener (wsjwt__listen) */
#else
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#endif
}

void wsjwt__peer_name(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (size == 0)
        return;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
            port = ntohs(in6->sin6_port);
            snprintf(buf, size, "[%s]:%d", host, port);
            return;
        }
    }
    snprintf(buf, size, "%s:%d", host, port);
}
