/* The server's logfmt helpers: values a peer controls (a token's sub or kid,
 * a close reason) are escaped so that they cannot end a line, open a new
 * key, or break the quoting; output is cut to fit; levels filter lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/internal.h"

static void test_quote_escapes(void **state)
{
    (void)state;
    char out[128];
    const char in[] = "ali\"ce\\ \n level=error\x7f\x01";
    wsjwt__log_quote(out, sizeof(out), in, sizeof(in) - 1);
    assert_string_equal(out, "ali\\\"ce\\\\ \\x0a level=error\\x7f\\x01");
    /* No raw control byte survives. */
    for (const char *p = out; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f);
}

static void test_quote_plain_and_empty(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(wsjwt__log_quote(out, sizeof(out), "user-42", 7), "user-42");
    assert_string_equal(wsjwt__log_quote(out, sizeof(out), "", 0), "");
    /* UTF-8 passes through unchanged. */
    assert_string_equal(wsjwt__log_quote(out, sizeof(out), "J\xc3\xb6rg", 5), "J\xc3\xb6rg");
}

static void test_quote_truncates_without_overflow(void **state)
{
    (void)state;
    char out[16];
    char in[100];
    memset(in, '\n', sizeof(in));
    memset(out, 'Z', sizeof(out));
    wsjwt__log_quote(out, sizeof(out), in, sizeof(in));
    assert_true(strlen(out) < sizeof(out));
    /* Only whole escapes are written. */
    assert_int_equal(strlen(out) % 4, 0);
    memset(in, 'a', sizeof(in));
    wsjwt__log_quote(out, sizeof(out), in, sizeof(in));
    assert_true(strlen(out) < sizeof(out));
    /* A zero-size buffer is left alone. */
    assert_ptr_equal(wsjwt__log_quote(out, 0, in, 3), out);
}

static void test_levels(void **state)
{
    (void)state;
    struct wsjwt_server srv;
    memset(&srv, 0, sizeof(srv));
    srv.cfg.log_level = WSJWT_LOG_DEFAULT; /* info */
    assert_true(wsjwt__log_enabled(&srv, WSJWT_LOG_ERROR));
    assert_true(wsjwt__log_enabled(&srv, WSJWT_LOG_INFO));
    assert_false(wsjwt__log_enabled(&srv, WSJWT_LOG_DEBUG));
    srv.cfg.log_level = WSJWT_LOG_WARN;
    assert_true(wsjwt__log_enabled(&srv, WSJWT_LOG_WARN));
    assert_false(wsjwt__log_enabled(&srv, WSJWT_LOG_INFO));
    srv.cfg.log_level = WSJWT_LOG_OFF;
    assert_false(wsjwt__log_enabled(&srv, WSJWT_LOG_ERROR));
    srv.cfg.log_level = WSJWT_LOG_DEBUG;
    assert_true(wsjwt__log_enabled(&srv, WSJWT_LOG_DEBUG));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_escapes),
        cmocka_unit_test(test_quote_plain_and_empty),
        cmocka_unit_test(test_quote_truncates_without_overflow),
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
