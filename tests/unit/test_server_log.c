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
#include <regex.h>
#include <stdlib.h>
#include <unistd.h>

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

/* Runs fn with stderr sent to a temporary file; returns what it wrote
 * (malloc'd, NUL-terminated). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/wsjwt-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    fn();
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    char *out = calloc(1, (size_t)size + 1);
    assert_non_null(out);
    assert_int_equal(pread(fd, out, (size_t)size, 0), size);
    close(fd);
    return out;
}

static struct wsjwt_server log_srv;

static void write_lines(void)
{
    /* The library's own lines and the application's (wsjwt serve's
     * stopping, stopped, slow_consumer, keys_reloaded...). */
    wsjwt__log(&log_srv, WSJWT_LOG_INFO, "refused", "status=%d peer=%s", 401, "127.0.0.1:1");
    wsjwt_server_log(&log_srv, WSJWT_LOG_INFO, "stopping", "signal=%s", "SIGTERM");
    wsjwt_server_log(&log_srv, WSJWT_LOG_WARN, "slow_consumer", "peer=%s sub=\"%s\"", "127.0.0.1:2", "bob");
    wsjwt_server_log(&log_srv, WSJWT_LOG_ERROR, "keys_reload_failed", "%s", "");
    wsjwt_server_log(NULL, WSJWT_LOG_WARN, "insecure", "msg=\"%s\"", "no auth");
    /* Filtered: below the level. */
    wsjwt_server_log(&log_srv, WSJWT_LOG_DEBUG, "open", "peer=%s", "x");
    wsjwt_server_log(NULL, WSJWT_LOG_DEBUG, "open", "peer=%s", "x");
}

/* Every line, from the library or the application, is logfmt that starts
 * ts=<UTC ms> level= event=, with no trailing blank. */
static void test_every_line_has_ts_level_event(void **state)
{
    (void)state;
    memset(&log_srv, 0, sizeof(log_srv));
    log_srv.cfg.log_level = WSJWT_LOG_INFO;
    char *out = capture_stderr(write_lines);
    regex_t re;
    assert_int_equal(
        regcomp(&re,
                "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                "level=(error|warn|info|debug) event=[a-z_]+( [a-z_]+=(\"([^\"\\\\]|\\\\.)*\"|[^ \"]+))*$",
                REG_EXTENDED | REG_NOSUB),
        0);
    const char *want[] = {
        "level=info event=refused status=401 peer=127.0.0.1:1", "level=info event=stopping signal=SIGTERM",
        "level=warn event=slow_consumer peer=127.0.0.1:2 sub=\"bob\"", "level=error event=keys_reload_failed",
        "level=warn event=insecure msg=\"no auth\""};
    size_t n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), n++) {
        assert_true(n < sizeof(want) / sizeof(want[0]));
        assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
        const char *rest = strstr(line, " level=");
        assert_non_null(rest);
        assert_string_equal(rest + 1, want[n]);
    }
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    regfree(&re);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_escapes),
        cmocka_unit_test(test_quote_plain_and_empty),
        cmocka_unit_test(test_quote_truncates_without_overflow),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_every_line_has_ts_level_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
