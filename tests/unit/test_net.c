/* src/net: the send queue (append, partial consume, slide, growth, free when
 * empty) and the socket helpers (listen on port 0, accept, EAGAIN, peer
 * name, port of a bound socket). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wsjwt/error.h>

#include "net/net.h"

static void test_outq_append_consume(void **state)
{
    (void)state;
    struct wsjwt__outq q = {0};
    assert_int_equal(wsjwt__outq_size(&q), 0);
    assert_int_equal(wsjwt__outq_append(&q, "hello ", 6, "world", 5), 0);
    assert_int_equal(wsjwt__outq_size(&q), 11);
    assert_memory_equal(q.data + q.off, "hello world", 11);
    wsjwt__outq_consume(&q, 6);
    assert_int_equal(wsjwt__outq_size(&q), 5);
    assert_memory_equal(q.data + q.off, "world", 5);
    assert_int_equal(wsjwt__outq_append(&q, "!", 1, NULL, 0), 0);
    assert_memory_equal(q.data + q.off, "world!", 6);
    /* Consuming everything releases the storage. */
    wsjwt__outq_consume(&q, 6);
    assert_null(q.data);
    assert_int_equal(q.cap, 0);
    wsjwt__outq_free(&q);
}

/* Order is kept across slides (sent prefix dropped) and growth, at every
 * split of appends and consumes. */
static void test_outq_order_under_churn(void **state)
{
    (void)state;
    struct wsjwt__outq q = {0};
    size_t head = 0, tail = 0;
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 16) % 300;
        uint8_t buf[300];
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)(tail + i);
        if (tail + n - head < 20000) {
            assert_int_equal(wsjwt__outq_append(&q, buf, n / 2, buf + n / 2, n - n / 2), 0);
            tail += n;
        }
        seed = seed * 1103515245u + 12345u;
        size_t take = (seed >> 16) % 280;
        if (take > tail - head)
            take = tail - head;
        assert_int_equal(wsjwt__outq_size(&q), tail - head);
        for (size_t i = 0; i < take; i++)
            assert_int_equal(q.data[q.off + i], (uint8_t)(head + i));
        wsjwt__outq_consume(&q, take);
        head += take;
    }
    wsjwt__outq_free(&q);
    assert_null(q.data);
}

static void test_outq_grow(void **state)
{
    (void)state;
    struct wsjwt__outq q = {0};
    assert_int_equal(wsjwt__outq_append(&q, "abc", 3, NULL, 0), 0);
    wsjwt__outq_consume(&q, 1);
    /* Room already there (the append's 512 bytes): nothing changes. */
    uint8_t *data = q.data;
    assert_int_equal(wsjwt__outq_grow(&q, 10, 100000), 0);
    assert_ptr_equal(q.data, data);
    assert_int_equal(q.cap, 512);
    uint8_t big[200000];
    memset(big, 7, sizeof(big));
    assert_int_equal(wsjwt__outq_append(&q, big, 10, NULL, 0), 0);
    /* A 100 000-byte frame announced, 60 000 more bytes here: the first
     * chunk (64 KiB), not the announced length; the sent prefix is dropped. */
    assert_int_equal(wsjwt__outq_grow(&q, 60000, 99990), 0);
    assert_int_equal(q.cap, 64 * 1024);
    assert_int_equal(wsjwt__outq_size(&q), 12);
    assert_memory_equal(q.data + q.off, "bc", 2);
    assert_int_equal(wsjwt__outq_append(&q, big, 60000, NULL, 0), 0);
    /* Doubling would pass the frame's end: capped at it exactly. */
    assert_int_equal(wsjwt__outq_grow(&q, 20000, 39990), 0);
    assert_int_equal(q.cap, 100002);
    assert_int_equal(wsjwt__outq_append(&q, big, 39990, NULL, 0), 0);
    assert_int_equal(wsjwt__outq_size(&q), 100002);
    assert_memory_equal(q.data, "bc", 2);
    /* A next frame: doubles from there... */
    assert_int_equal(wsjwt__outq_grow(&q, 10, 200000), 0);
    assert_int_equal(q.cap, 2 * 100002);
    assert_memory_equal(q.data, "bc", 2);
    /* ... to at most the frame's end. */
    assert_int_equal(wsjwt__outq_grow(&q, 150000, 200000), 0);
    assert_int_equal(q.cap, 100002 + 200000);
    assert_int_equal(wsjwt__outq_grow(&q, (size_t)UINT32_MAX, (size_t)UINT32_MAX), WSJWT_ETOOBIG);
    wsjwt__outq_free(&q);
    /* A small frame takes only its length. */
    assert_int_equal(wsjwt__outq_grow(&q, 5, 100), 0);
    assert_int_equal(q.cap, 100);
    wsjwt__outq_free(&q);
}

static void test_listen_accept(void **state)
{
    (void)state;
    int lfd = -1;
    assert_int_equal(wsjwt__listen("127.0.0.1", 0, 0, 16, &lfd), 0);
    int port = wsjwt__local_port(lfd);
    assert_true(port > 0 && port < 65536);
    struct wsjwt__acceptor acc;
    wsjwt__acceptor_init(&acc, lfd);
    int cfd = -1, shed = 1;
    assert_int_equal(wsjwt__accept(&acc, &cfd, &shed), WSJWT_EAGAIN);
    assert_int_equal(shed, 0);

    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
    int rc;
    for (int i = 0; i < 100 && (rc = wsjwt__accept(&acc, &cfd, &shed)) == WSJWT_EAGAIN; i++)
        usleep(10000);
    assert_int_equal(rc, 0);
    /* TCP_NODELAY once wsjwt__sock_nodelay has run (on Linux, from the
     * listener already). */
    wsjwt__sock_nodelay(cfd);
    int nodelay = 0;
    socklen_t nl = sizeof(nodelay);
    assert_int_equal(getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &nl), 0);
    assert_int_equal(nodelay, 1);
    char name[64];
    wsjwt__peer_name(cfd, name, sizeof(name));
    assert_non_null(strstr(name, "127.0.0.1:"));
    close(cfd);
    close(c);
    /* A second listener on the same port is refused without SO_REUSEPORT. */
    int l2 = -1;
    assert_int_equal(wsjwt__listen("127.0.0.1", port, 0, 16, &l2), WSJWT_EIO);
    wsjwt__acceptor_close(&acc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outq_append_consume),
        cmocka_unit_test(test_outq_order_under_churn),
        cmocka_unit_test(test_outq_grow),
        cmocka_unit_test(test_listen_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
