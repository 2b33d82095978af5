/* wsjwt_duration_parse: jsonwebtoken's expiresIn grammar, in seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <wsjwt/jwt.h>

static int64_t parse_ok(const char *s)
{
    int64_t v = -1;
    assert_int_equal(wsjwt_duration_parse(s, strlen(s), &v), 0);
    return v;
}

static int parse_rc(const char *s)
{
    int64_t v = 0;
    return wsjwt_duration_parse(s, strlen(s), &v);
}

static void test_units(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("90"), 90);
    assert_int_equal(parse_ok("0"), 0);
    assert_int_equal(parse_ok("90s"), 90);
    assert_int_equal(parse_ok("15m"), 900);
    assert_int_equal(parse_ok("12h"), 43200);
    assert_int_equal(parse_ok("15d"), 1296000);
    assert_int_equal(parse_ok("2w"), 1209600);
    assert_int_equal(parse_ok("1y"), 31557600); /* 365.25 days */
    assert_int_equal(parse_ok("15 days"), 1296000);
    assert_int_equal(parse_ok("2 Hours"), 7200);
    assert_int_equal(parse_ok("1D"), 86400);
    assert_int_equal(parse_ok("3 mins"), 180);
    assert_int_equal(parse_ok("1.5h"), 5400);
    assert_int_equal(parse_ok(".5m"), 30);
    assert_int_equal(parse_ok("2.5"), 2); /* floor, as jsonwebtoken */
    assert_int_equal(parse_ok("10 "), 10);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_int_equal(parse_rc(""), WSJWT_EINVAL);
    assert_int_equal(parse_rc("-5"), WSJWT_EINVAL);
    assert_int_equal(parse_rc("-5s"), WSJWT_EINVAL);
    assert_int_equal(parse_rc("s"), WSJWT_EINVAL);
    assert_int_equal(parse_rc("15x"), WSJWT_EINVAL);
    assert_int_equal(parse_rc("15ms"), WSJWT_EINVAL);
    assert_int_equal(parse_rc("15 d s"), WSJWT_EINVAL);
    assert_int_equal(parse_rc("1."), WSJWT_EINVAL);
    assert_int_equal(parse_rc("."), WSJWT_EINVAL);
    assert_int_equal(parse_rc(" 5"), WSJWT_EINVAL);
    assert_int_equal(parse_rc("5\n"), WSJWT_EINVAL);
    assert_int_equal(parse_rc("0x10"), WSJWT_EINVAL);
    assert_int_equal(wsjwt_duration_parse(NULL, 0, NULL), WSJWT_EINVAL);
}

/* The int64 limit at N and N+1, for numbers and after the unit multiply. */
static void test_overflow(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("9223372036854775807"), INT64_MAX);
    assert_int_equal(parse_rc("9223372036854775808"), WSJWT_EOVERFLOW);
    assert_int_equal(parse_rc("99999999999999999999999"), WSJWT_EOVERFLOW);
    /* 292271023045 y * 31557600 fits; one more year does not. */
    assert_int_equal(parse_ok("292271023045y"), (int64_t)292271023045 * 31557600);
    assert_int_equal(parse_rc("292271023046y"), WSJWT_EOVERFLOW);
}

/* Only the given length is read. */
static void test_length_bound(void **state)
{
    int64_t v = 0;
    (void)state;
    assert_int_equal(wsjwt_duration_parse("15dXYZ", 3, &v), 0);
    assert_int_equal(v, 1296000);
    assert_int_equal(wsjwt_duration_parse("15dXYZ", 2, &v), 0);
    assert_int_equal(v, 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_length_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
