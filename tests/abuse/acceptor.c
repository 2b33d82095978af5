/* Abuse case "acceptor-reserve": out of descriptors, the listener sheds
 * pending connections with its reserve descriptor. With several loops the
 * descriptor a loop releases can be taken by another loop's accept before
 * its own accept runs; the reserve is then lost. This checks, in one
 * thread and deterministically, that a lost reserve is taken back as soon
 * as a descriptor is free, so that the next exhaustion sheds again instead
 * of leaving connections in the backlog (found by emfile-flood-threads:
 * 166 of 400 shed per flood once a loop had lost its reserve).
 *
 * Prints one summary line "abuse: acceptor-reserve: ..." and exits 0 when
 * every check held. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wsjwt/error.h>

#include "net/net.h"

#define CLIENTS  4
#define MAX_FILL 256

static int failures;
#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                         \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

static int client(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        return -1;
    return s;
}

/* Did the server close this connection (EOF or reset) without sending? */
static int was_shed(int s)
{
    char b;
    struct timeval tv = {2, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t r = recv(s, &b, 1, 0);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

int main(void)
{
    int lfd, fill[MAX_FILL], n_fill = 0, cl[CLIENTS], fd, shed;
    struct wsjwt__acceptor a;
    if (wsjwt__listen("127.0.0.1", 0, 0, 16, &lfd) != 0) {
        perror("listen");
        return 1;
    }
    wsjwt__acceptor_init(&a, lfd);
    CHECK(a.reserve >= 0);
    int port = wsjwt__local_port(lfd);
    for (int i = 0; i < CLIENTS; i++)
        CHECK((cl[i] = client(port)) >= 0); /* all pending in the backlog */

    /* Few descriptors, all taken. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 64;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    while (n_fill < MAX_FILL && (fd = open("/dev/null", O_RDONLY)) >= 0)
        fill[n_fill++] = fd;
    CHECK(errno == EMFILE);

    /* With its reserve, the acceptor sheds the first pending connection. */
    CHECK(wsjwt__accept(&a, &fd, &shed) == WSJWT_EIO && shed == 1);
    int n_shed = was_shed(cl[0]);
    CHECK(n_shed == 1);

    /* The reserve is lost (another thread took the descriptor it freed). */
    close(a.reserve);
    a.reserve = -1;
    CHECK((fill[n_fill++] = open("/dev/null", O_RDONLY)) >= 0);
    CHECK(wsjwt__accept(&a, &fd, &shed) == WSJWT_EIO && shed == 0); /* nothing to shed with */

    /* One descriptor comes free: the reserve is taken back at once, and
     * every later exhaustion sheds again. */
    close(fill[--n_fill]);
    CHECK(wsjwt__accept(&a, &fd, &shed) == WSJWT_EIO && shed == 1);
    CHECK(a.reserve >= 0);
    CHECK(wsjwt__accept(&a, &fd, &shed) == WSJWT_EIO && shed == 1);
    int later = was_shed(cl[1]) + was_shed(cl[2]);
    CHECK(later == 2);
    n_shed += later;

    /* Descriptors free again: connections are accepted. */
    for (int i = 0; i < n_fill; i++)
        close(fill[i]);
    CHECK(wsjwt__accept(&a, &fd, &shed) == 0);
    if (fd >= 0)
        close(fd);
    CHECK(wsjwt__accept(&a, &fd, &shed) == WSJWT_EAGAIN);

    for (int i = 0; i < CLIENTS; i++)
        close(cl[i]);
    wsjwt__acceptor_close(&a);
    printf(
        "abuse: acceptor-reserve: out of descriptors, %d of 3 pending connections shed (1 before the reserve "
        "was "
        "lost, 2 after it was taken back), the last accepted once descriptors were free; failed checks: %d\n",
        n_shed, failures);
    return failures == 0 ? 0 : 1;
}
