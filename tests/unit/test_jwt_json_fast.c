/* The fast paths of src/jwt/json.c: integers of up to 18 digits are
 * accumulated without overflow checks, longer ones with them (so every
 * boundary of int64 is tested here), and wsjwt__json_get compares a first
 * byte before calling strcmp (names sharing a first byte, prefixes, the empty
 * name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jwt/json.h"
#include <wsjwt/error.h>

static int parse(const char *text, struct wsjwt__jmember *m, char *arena, size_t *n)
{
    int limit = 0;
    return wsjwt__json_parse_object(text, strlen(text), arena, m, 8, n, &limit);
}

static void test_int_boundaries(void **state)
{
    static const struct {
        const char *num;
        int ok;
        int64_t want;
    } cases[] = {
        {"0", 1, 0},
        {"-0", 1, 0},
        {"1700000000", 1, 1700000000},
        {"999999999999999999", 1, 999999999999999999},   /* 18 digits: the unchecked path */
        {"-999999999999999999", 1, -999999999999999999}, /* 18 digits, negative */
        {"1000000000000000000", 1, 1000000000000000000}, /* 19 digits: one checked step */
        {"9223372036854775807", 1, INT64_MAX},
        {"9223372036854775808", 0, 0},
        {"9999999999999999999", 0, 0},
        {"-9223372036854775808", 1, INT64_MIN},
        {"-9223372036854775809", 0, 0},
        {"00", 0, 0},
        {"99999999999999999999", 0, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[64], arena[64];
        struct wsjwt__jmember m[8];
        size_t n = 0;
        snprintf(text, sizeof(text), "{\"exp\":%s}", cases[i].num);
        int rc = parse(text, m, arena, &n);
        if (!cases[i].ok) {
            assert_int_equal(rc, WSJWT_EJWT_JSON);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(n, 1);
        assert_int_equal(m[0].type, WSJWT__J_INT);
        assert_true(m[0].num.i == cases[i].want);
    }
}

static void test_get(void **state)
{
    char arena[128];
    struct wsjwt__jmember m[8];
    size_t n = 0;
    (void)state;
    assert_int_equal(parse("{\"e\":1,\"ex\":2,\"exp\":3,\"\":4,\"exp2\":5}", m, arena, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(wsjwt__json_get(m, n, "e")->num.i, 1);
    assert_int_equal(wsjwt__json_get(m, n, "ex")->num.i, 2);
    assert_int_equal(wsjwt__json_get(m, n, "exp")->num.i, 3);
    assert_int_equal(wsjwt__json_get(m, n, "")->num.i, 4);
    assert_int_equal(wsjwt__json_get(m, n, "exp2")->num.i, 5);
    assert_null(wsjwt__json_get(m, n, "exp3"));
    assert_null(wsjwt__json_get(m, n, "Exp"));
    assert_null(wsjwt__json_get(m, n, "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_boundaries),
        cmocka_unit_test(test_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
