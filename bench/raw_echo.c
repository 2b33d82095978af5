/* raw_echo: the floor of the end-to-end benchmarks, "what loopback allows".
 *
 * A minimal TCP echo server: one thread, epoll, level-triggered, one read and
 * one write per readiness. It answers any request head with one fixed
 * "101 Switching Protocols" and then echoes every byte back verbatim. It does
 * no WebSocket work at all: it does not parse frames and does not unmask them,
 * so the client's masked frames come back masked. bench/loadgen accepts that
 * only with --raw-echo, where it checks that the reply stream is byte for byte
 * the stream it sent (see bench/README.md). Any real server must parse, unmask
 * and re-frame; this one shows the cost of the system calls and the loopback
 * alone.
 *
 * The fixed 101 carries the Sec-WebSocket-Accept of RFC 6455 section 1.3's
 * example key "dGhlIHNhbXBsZSBub25jZQ==", which is the key bench/loadgen sends.
 *
 * Usage: raw_echo [--host 127.0.0.1] [--port 0]
 * Prints "raw_echo listening 127.0.0.1:PORT" on stdout once it accepts, and
 * runs until SIGINT or SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* One read of up to this many bytes per readiness: big enough that 10
 * connections with 4 x 64 KiB in flight move a whole window per call. */
#define RBUF_SIZE (256 * 1024)
/* A request head longer than this is refused (closed): the floor answers any
 * head, but never buffers without bound. */
#define MAX_HEAD   8192
#define MAX_EVENTS 256

static const char RESPONSE_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                   "Upgrade: websocket\r\n"
                                   "Connection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                   "\r\n";

struct conn {
    uint8_t open;
    uint8_t upgraded;
    uint8_t crlf;   /* how much of "\r\n\r\n" the head has matched so far */
    size_t headlen; /* bytes of request head seen */
    uint8_t *out;   /* bytes not yet written back (only after a short write) */
    size_t outlen;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void conn_close(int ep, struct conn *c, int fd)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(c->out);
    memset(c, 0, sizeof(*c));
}

/* Writes buf; keeps what the socket did not take and switches the connection
 * to wait for EPOLLOUT only, so a slow reader stops being read from (the
 * floor applies backpressure instead of buffering without bound).
 * Returns -1 when the connection must close. */
static int send_or_queue(int ep, struct conn *c, int fd, const uint8_t *buf, size_t len)
{
    ssize_t n = 0;
    if (c->outlen == 0) {
        n = write(fd, buf, len);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                return -1;
            n = 0;
        }
        if ((size_t)n == len)
            return 0;
    }
    uint8_t *grown = realloc(c->out, c->outlen + len - (size_t)n);
    if (!grown)
        return -1;
    memcpy(grown + c->outlen, buf + n, len - (size_t)n);
    c->out = grown;
    c->outlen += len - (size_t)n;
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static int flush_out(int ep, struct conn *c, int fd)
{
    ssize_t n = write(fd, c->out, c->outlen);
    if (n < 0)
        return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    memmove(c->out, c->out + n, c->outlen - (size_t)n);
    c->outlen -= (size_t)n;
    if (c->outlen > 0)
        return 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Consumes request-head bytes; returns how many belonged to the head (the
 * rest are already frames), or -1 when the head is too long. */
static ssize_t scan_head(struct conn *c, const uint8_t *p, size_t n)
{
    static const char end[] = "\r\n\r\n";
    for (size_t i = 0; i < n; i++) {
        if (p[i] == (uint8_t)end[c->crlf])
            c->crlf++;
        else
            c->crlf = p[i] == '\r' ? 1 : 0;
        if (c->crlf == 4) {
            c->upgraded = 1;
            return (ssize_t)(i + 1);
        }
    }
    c->headlen += n;
    return c->headlen > MAX_HEAD ? -1 : (ssize_t)n;
}

static int on_readable(int ep, struct conn *c, int fd, uint8_t *buf)
{
    ssize_t n = read(fd, buf, RBUF_SIZE);
    if (n == 0)
        return -1;
    if (n < 0)
        return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    const uint8_t *p = buf;
    size_t len = (size_t)n;
    if (!c->upgraded) {
        ssize_t used = scan_head(c, p, len);
        if (used < 0)
            return -1;
        if (!c->upgraded)
            return 0;
        if (send_or_queue(ep, c, fd, (const uint8_t *)RESPONSE_101, sizeof(RESPONSE_101) - 1) < 0)
            return -1;
        p += used;
        len -= (size_t)used;
    }
    return len ? send_or_queue(ep, c, fd, p, len) : 0;
}

static int parse_args(int argc, char **argv, struct sockaddr_in *sa)
{
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa->sin_port = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--host") == 0) {
            if (inet_pton(AF_INET, argv[++i], &sa->sin_addr) != 1)
                return -1;
        } else if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
            char *end;
            long port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535)
                return -1;
            sa->sin_port = htons((uint16_t)port);
        } else {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = {0};
    if (parse_args(argc, argv, &sa) < 0) {
        fprintf(stderr, "usage: raw_echo [--host 127.0.0.1] [--port 0]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
        perror("raw_echo: listen");
        return 1;
    }
    socklen_t salen = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &salen);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
    printf("raw_echo listening %s:%u\n", host, ntohs(sa.sin_port));
    fflush(stdout);

    /* Connections are indexed by fd: the process's fd limit bounds the table. */
    size_t maxfd = 65536;
    struct conn *conns = calloc(maxfd, sizeof(*conns));
    uint8_t *buf = malloc(RBUF_SIZE);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (!conns || !buf || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        perror("raw_echo: setup");
        return 1;
    }
    struct epoll_event events[MAX_EVENTS];
    while (!stop_flag) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            perror("raw_echo: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                /* Accept a bounded batch per readiness, then serve the rest. */
                for (int k = 0; k < 64; k++) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0)
                        break;
                    if ((size_t)cfd >= maxfd) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev) < 0) {
                        close(cfd);
                        continue;
                    }
                    conns[cfd].open = 1;
                }
                continue;
            }
            struct conn *c = &conns[fd];
            if (!c->open)
                continue;
            int rc = 0;
            if (events[i].events & EPOLLOUT)
                rc = flush_out(ep, c, fd);
            else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                rc = on_readable(ep, c, fd, buf);
            if (rc < 0)
                conn_close(ep, c, fd);
        }
    }
    for (size_t fd = 0; fd < maxfd; fd++)
        if (conns[fd].open)
            conn_close(ep, &conns[fd], (int)fd);
    free(conns);
    free(buf);
    close(ep);
    close(lfd);
    return 0;
}
