/* The CLI's shared option handling (tools/wsjwt/keyopts.c): option forms,
 * the consumed/unknown/error protocol that other commands' parsers rely on,
 * --alg lists, durations, and the policy built from them. The file is
 * compiled in here because the CLI is not part of the library. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "../../tools/wsjwt/keyopts.c"

#define ARGV(...)                                                                                            \
    char *argv[] = {__VA_ARGS__};                                                                            \
    int argc = (int)(sizeof(argv) / sizeof(argv[0]))

static void test_value_forms(void **state)
{
    (void)state;
    ARGV("--iss", "a", "--iss=b", "--issuer", "x", "--iss");
    const char *v = NULL;
    int i = 0;
    assert_int_equal(opt_value("t", argc, argv, &i, "--iss", &v), OPT_CONSUMED);
    assert_string_equal(v, "a");
    assert_int_equal(i, 2);
    assert_int_equal(opt_value("t", argc, argv, &i, "--iss", &v), OPT_CONSUMED);
    assert_string_equal(v, "b");
    assert_int_equal(i, 3);
    /* A longer option with the same prefix is not this one. */
    assert_int_equal(opt_value("t", argc, argv, &i, "--iss", &v), OPT_UNKNOWN);
    assert_int_equal(i, 3);
    i = 5;
    assert_int_equal(opt_value("t", argc, argv, &i, "--iss", &v), OPT_ERROR); /* no value */
}

static void test_flag_forms(void **state)
{
    (void)state;
    char *argv[] = {"--json", "--json=1", "--jsonx"};
    int i = 0;
    assert_int_equal(opt_flag("t", argv, &i, "--json"), OPT_CONSUMED);
    assert_int_equal(i, 1);
    assert_int_equal(opt_flag("t", argv, &i, "--json"), OPT_ERROR);
    i = 2;
    assert_int_equal(opt_flag("t", argv, &i, "--json"), OPT_UNKNOWN);
    assert_int_equal(i, 2);
}

static void test_keyopts(void **state)
{
    (void)state;
    ARGV("--secret-env", "K", "--secret-file=/f", "--secret-base64", "--key", "a.pem", "--jwks", "j.json",
         "--secret", "s", "--other", "--secret-env=");
    struct keyopts o;
    keyopts_init(&o, "t");
    int i = 0;
    for (int k = 0; k < 6; k++)
        assert_int_equal(keyopts_parse(&o, argc, argv, &i), OPT_CONSUMED);
    assert_string_equal(o.secret_env, "K");
    assert_string_equal(o.secret_file, "/f");
    assert_int_equal(o.secret_base64, 1);
    assert_int_equal(o.n_key_files, 1);
    assert_string_equal(o.key_files[0], "a.pem");
    assert_int_equal(o.n_jwks_files, 1);
    assert_string_equal(o.secret, "s");
    assert_int_equal(keyopts_parse(&o, argc, argv, &i), OPT_UNKNOWN);
    assert_string_equal(argv[i], "--other");
    i++;
    assert_int_equal(keyopts_parse(&o, argc, argv, &i), OPT_ERROR); /* empty variable name */
}

static void test_key_files_cap(void **state)
{
    (void)state;
    struct keyopts o;
    keyopts_init(&o, "t");
    char *argv[2 * (KEYOPTS_MAX_FILES + 1)];
    for (int k = 0; k <= KEYOPTS_MAX_FILES; k++) {
        argv[2 * k] = "--key";
        argv[2 * k + 1] = "f";
    }
    int argc = 2 * (KEYOPTS_MAX_FILES + 1);
    int i = 0;
    for (int k = 0; k < KEYOPTS_MAX_FILES; k++)
        assert_int_equal(keyopts_parse(&o, argc, argv, &i), OPT_CONSUMED);
    assert_int_equal(keyopts_parse(&o, argc, argv, &i), OPT_ERROR);
}

static void test_alg_lists(void **state)
{
    (void)state;
    ARGV("--alg", "HS256,RS256", "--alg=HS256", "--alg", "ES256", "--alg", "none", "--alg", "hs256", "--alg",
         "HS256,", "--alg", "HS256,,RS256");
    struct policyopts p;
    policyopts_init(&p, "t");
    int i = 0;
    for (int k = 0; k < 3; k++)
        assert_int_equal(policyopts_parse(&p, argc, argv, &i), OPT_CONSUMED);
    /* Repeats collapse; order of first appearance is kept. */
    assert_int_equal(p.n_algs, 3);
    assert_int_equal(p.algs[0], WSJWT_ALG_HS256);
    assert_int_equal(p.algs[1], WSJWT_ALG_RS256);
    assert_int_equal(p.algs[2], WSJWT_ALG_ES256);
    /* none, wrong case, empty list items. */
    for (int k = 0; k < 4; k++)
        assert_int_equal(policyopts_parse(&p, argc, argv, &i), OPT_ERROR);
}

static void test_policy_values(void **state)
{
    (void)state;
    ARGV("--iss", "a", "--iss", "b", "--aud", "ws", "--sub", "u", "--typ", "JWT", "--require", "exp",
         "--leeway", "30s", "--max-age", "15m", "--leeway", "soon", "--max-age", "0", "--require", "");
    struct policyopts p;
    policyopts_init(&p, "t");
    int i = 0;
    for (int k = 0; k < 8; k++)
        assert_int_equal(policyopts_parse(&p, argc, argv, &i), OPT_CONSUMED);
    assert_int_equal(p.n_issuers, 2);
    assert_string_equal(p.issuers[1], "b");
    assert_int_equal(p.n_audiences, 1);
    assert_string_equal(p.subject, "u");
    assert_string_equal(p.typ, "JWT");
    assert_int_equal(p.n_required, 1);
    assert_int_equal(p.leeway, 30);
    assert_int_equal(p.max_age, 900);
    for (int k = 0; k < 3; k++)
        assert_int_equal(policyopts_parse(&p, argc, argv, &i), OPT_ERROR);
}

static void test_durations_and_times(void **state)
{
    (void)state;
    int64_t v = 0;
    const struct {
        const char *s;
        int64_t want;
    } ok[] = {{"90", 90},       {"90s", 90},     {"15m", 900},    {"12h", 43200},
              {"15d", 1296000}, {"2w", 1209600}, {"1y", 31557600}};
    for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
        assert_int_equal(opt_duration("t", "--x", ok[k].s, &v), 0);
        assert_int_equal(v, ok[k].want);
    }
    assert_int_equal(opt_duration("t", "--x", "-5", &v), -1);
    assert_int_equal(opt_duration("t", "--x", "", &v), -1);
    assert_int_equal(opt_duration("t", "--x", "5 parsecs", &v), -1);
    assert_int_equal(opt_unix_time("t", "--now", "-1", &v), 0);
    assert_int_equal(v, -1);
    assert_int_equal(opt_unix_time("t", "--now", "1700000000", &v), 0);
    assert_int_equal(v, 1700000000);
    assert_int_equal(opt_unix_time("t", "--now", "17e8", &v), -1);
    assert_int_equal(opt_unix_time("t", "--now", "", &v), -1);
    assert_int_equal(opt_unix_time("t", "--now", "99999999999999999999", &v), -1);
}

/* Without --alg the policy allows what the keys fit: a secret gives HS*
 * only, so an RS256 token is refused by the policy, not by luck. */
static void test_default_algs_follow_keys(void **state)
{
    (void)state;
    static const char secret[] = "0123456789abcdef0123456789abcdef";
    struct wsjwt_keyset *set = NULL;
    struct wsjwt_key *key = NULL;
    assert_int_equal(wsjwt_keyset_new(&set), 0);
    assert_int_equal(wsjwt_key_from_secret(secret, sizeof(secret) - 1, &key), 0);
    assert_int_equal(wsjwt_keyset_add(set, key), 0);
    struct policyopts p;
    policyopts_init(&p, "t");
    struct wsjwt_policy *policy = NULL;
    assert_int_equal(policyopts_build(&p, set, &policy), 0);
    /* {"alg":"RS256","typ":"JWT"}.{} with a junk signature. */
    const char *rs = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.e30.AAAA";
    struct wsjwt_jwt *jwt = NULL;
    struct wsjwt_jwt_error err;
    assert_int_equal(wsjwt_jwt_verify(policy, set, rs, strlen(rs), 0, &jwt, &err), WSJWT_EJWT_ALG);
    wsjwt_policy_free(policy);

    struct wsjwt_keyset *empty = NULL;
    assert_int_equal(wsjwt_keyset_new(&empty), 0);
    assert_int_equal(policyopts_build(&p, empty, &policy), EXIT_USAGE);
    wsjwt_keyset_unref(empty);
    wsjwt_keyset_unref(set);
}

static void test_read_file_cap(void **state)
{
    (void)state;
    char path[] = "/tmp/wsjwt-test-cli-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abcdef", 6), 6);
    close(fd);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(read_file_capped("t", "--f", path, 6, &buf, &len), 0); /* exactly the cap */
    assert_int_equal(len, 6);
    assert_string_equal(buf, "abcdef");
    free(buf);
    assert_int_equal(read_file_capped("t", "--f", path, 5, &buf, &len), -1); /* one over */
    unlink(path);
    assert_int_equal(read_file_capped("t", "--f", path, 5, &buf, &len), -1); /* gone */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_flag_forms),
        cmocka_unit_test(test_keyopts),
        cmocka_unit_test(test_key_files_cap),
        cmocka_unit_test(test_alg_lists),
        cmocka_unit_test(test_policy_values),
        cmocka_unit_test(test_durations_and_times),
        cmocka_unit_test(test_default_algs_follow_keys),
        cmocka_unit_test(test_read_file_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
