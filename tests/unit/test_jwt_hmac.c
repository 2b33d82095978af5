/* HMAC with precomputed ipad/opad states (src/jwt/hmac.c): RFC 4231 vectors,
 * then a sweep of key lengths around each block size (64 for SHA-256, 128 for
 * SHA-384/512: shorter keys are padded, longer ones hashed first) and input
 * lengths around the padding edges (55/56/64 bytes), each compared with
 * OpenSSL's own HMAC computed independently here; end to end, tokens signed
 * by OpenSSL with every such key verify, and fail with one key bit changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jwt/jwt_internal.h"
#include "jwt_test_util.h"

#define NOW 1700000000

static const enum wsjwt_alg algs[3] = {WSJWT_ALG_HS256, WSJWT_ALG_HS384, WSJWT_ALG_HS512};
static const char *const mds[3] = {"SHA256", "SHA384", "SHA512"};

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void check_vector(const uint8_t *key, size_t klen, const char *msg, const char *const want[3])
{
    struct wsjwt__hmac *h = NULL;
    assert_int_equal(wsjwt__hmac_new(key, klen, &h), 0);
    for (int i = 0; i < 3; i++) {
        uint8_t mac[64];
        char s[129];
        size_t n = 0;
        assert_int_equal(wsjwt__hmac(h, algs[i], (const uint8_t *)msg, strlen(msg), mac, &n), 0);
        assert_int_equal(n, strlen(want[i]) / 2);
        hex(mac, n, s);
        assert_string_equal(s, want[i]);
    }
    wsjwt__hmac_free(h);
}

/* RFC 4231 4.3 (test case 2: a key shorter than the block) and 4.7 (test
 * case 6: a 131-byte key, longer than every block, hashed first). */
static void test_rfc4231(void **state)
{
    static const char *const case2[3] = {
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaea"
        "b1a3"
        "4d4a6b4b636e070a38bce737"};
    static const char *const case6[3] = {
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
        "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e6"
        "4f73f6"
        "3f0aec8b915a985d786598"};
    uint8_t big[131];
    (void)state;
    check_vector((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", case2);
    memset(big, 0xaa, sizeof(big));
    check_vector(big, sizeof(big), "Test Using Larger Than Block-Size Key - Hash Key First", case6);
}

static void test_not_hs(void **state)
{
    struct wsjwt__hmac *h = NULL;
    uint8_t mac[64];
    size_t n = 0;
    (void)state;
    assert_int_equal(wsjwt__hmac_new((const uint8_t *)"k", 1, &h), 0);
    assert_int_equal(wsjwt__hmac(h, WSJWT_ALG_RS256, (const uint8_t *)"x", 1, mac, &n), WSJWT_EJWT_KEY_TYPE);
    wsjwt__hmac_free(h);
}

/* Key bytes that include 0x00, 0x36 and 0x5c (the pad bytes themselves). */
static void fill_key(uint8_t *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        k[i] = (uint8_t)(i * 0x5du + 0x36u);
}

static void test_sweep_vs_openssl(void **state)
{
    static const size_t klens[] = {1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 300};
    static const size_t mlens[] = {0, 1, 55, 56, 63, 64, 65, 111, 112, 119, 120, 128, 200, 1000};
    uint8_t key[300], msg[1000];
    (void)state;
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7u + 1u);
    for (size_t a = 0; a < sizeof(klens) / sizeof(klens[0]); a++) {
        struct wsjwt__hmac *h = NULL;
        fill_key(key, klens[a]);
        assert_int_equal(wsjwt__hmac_new(key, klens[a], &h), 0);
        for (size_t b = 0; b < sizeof(mlens) / sizeof(mlens[0]); b++)
            for (int i = 0; i < 3; i++) {
                uint8_t got[64], want[64];
                size_t gn = 0, wn = 0;
                assert_int_equal(wsjwt__hmac(h, algs[i], msg, mlens[b], got, &gn), 0);
                assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, mds[i], NULL, key, klens[a], msg, mlens[b],
                                          want, sizeof(want), &wn));
                assert_int_equal(gn, wn);
                assert_memory_equal(got, want, wn);
            }
        wsjwt__hmac_free(h);
    }
}

/* End to end: tokens signed by OpenSSL verify with the same key and fail with
 * a key differing in its last bit (so every key byte reaches the MAC, also
 * past the block size where the key is hashed first). */
static void test_tokens(void **state)
{
    static const size_t klens[] = {32, 64, 65, 128, 129, 200};
    uint8_t key[200];
    (void)state;
    for (size_t a = 0; a < sizeof(klens) / sizeof(klens[0]); a++) {
        for (int i = 0; i < 3; i++) {
            struct wsjwt_keyset *good, *bad;
            struct wsjwt_key *k;
            struct wsjwt_policy *p = tu_policy1(algs[i]);
            char hdr[64];
            fill_key(key, klens[a]);
            snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", wsjwt_alg_name(algs[i]));
            char *tok = tu_hs(mds[i], key, klens[a], hdr, "{\"sub\":\"u1\",\"name\":\"firecamp\"}");
            assert_int_equal(wsjwt_keyset_new(&good), 0);
            assert_int_equal(wsjwt_key_from_secret(key, klens[a], &k), 0);
            assert_int_equal(wsjwt_keyset_add(good, k), 0);
            key[klens[a] - 1] ^= 1;
            assert_int_equal(wsjwt_keyset_new(&bad), 0);
            assert_int_equal(wsjwt_key_from_secret(key, klens[a], &k), 0);
            assert_int_equal(wsjwt_keyset_add(bad, k), 0);
            assert_int_equal(tu_verify(p, good, tok, NOW, NULL), 0);
            assert_int_equal(tu_verify(p, bad, tok, NOW, NULL), WSJWT_EJWT_SIGNATURE);
            free(tok);
            wsjwt_keyset_unref(good);
            wsjwt_keyset_unref(bad);
            wsjwt_policy_free(p);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),
        cmocka_unit_test(test_not_hs),
        cmocka_unit_test(test_sweep_vs_openssl),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
