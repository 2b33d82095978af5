/* The server's OpenSSL-hashed Sec-WebSocket-Accept (src/server/accept.c):
 * RFC 6455 1.3's example, then keys of every length 0..200 compared with the
 * core's own computation (src/http/handshake.c, its own SHA-1), so that the two
 * can never disagree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/accept.h"

static void test_rfc6455_example(void **state)
{
    char out[WSJWT_WS_ACCEPT_LEN];
    (void)state;
    wsjwt__server_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    assert_memory_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WSJWT_WS_ACCEPT_LEN);
}

static void test_same_as_core(void **state)
{
    char key[200];
    (void)state;
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (char)('!' + (i * 37u) % 90u);
    for (size_t n = 0; n <= sizeof(key); n++) {
        char a[WSJWT_WS_ACCEPT_LEN], b[WSJWT_WS_ACCEPT_LEN];
        wsjwt__server_ws_accept(key, n, a);
        wsjwt__ws_accept(key, n, b);
        assert_memory_equal(a, b, WSJWT_WS_ACCEPT_LEN);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6455_example),
        cmocka_unit_test(test_same_as_core),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
