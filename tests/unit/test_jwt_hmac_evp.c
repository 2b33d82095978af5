/* The EVP_MAC fallback of src/jwt/hmac.c. The library uses it only where
 * OpenSSL is built without its deprecated API (OPENSSL_NO_DEPRECATED_3_0),
 * which Debian's OpenSSL is not, so the library build never compiles it.
 * Here hmac.c is compiled once more under that API level, with its three
 * functions renamed so that they do not clash with the library's, and the
 * fallback is checked like the default path in test_jwt_hmac.c: RFC 4231
 * vectors, then a sweep of key and input lengths around the block and
 * padding edges against OpenSSL's one-shot HMAC (EVP_Q_mac). */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED
/* Also renames the struct tag; consistent within this file. */
#define wsjwt__hmac_new  evp_hmac_new
#define wsjwt__hmac_free evp_hmac_free
#define wsjwt__hmac      evp_hmac

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jwt/hmac.c"

#ifndef OPENSSL_NO_DEPRECATED_3_0
#error "this test must compile the EVP_MAC fallback of hmac.c"
#endif

static const enum wsjwt_alg algs[3] = {WSJWT_ALG_HS256, WSJWT_ALG_HS384, WSJWT_ALG_HS512};
static const char *const mds[3] = {"SHA256", "SHA384", "SHA512"};

static void one_mac(const uint8_t *key, size_t klen, const uint8_t *msg, size_t mlen)
{
    struct evp_hmac *h = NULL;
    assert_int_equal(evp_hmac_new(key, klen, &h), 0);
    for (int i = 0; i < 3; i++) {
        uint8_t got[64], want[64];
        size_t gn = 0, wn = 0;
        assert_int_equal(evp_hmac(h, algs[i], msg, mlen, got, &gn), 0);
        assert_non_null(
            EVP_Q_mac(NULL, "HMAC", NULL, mds[i], NULL, key, klen, msg, mlen, want, sizeof(want), &wn));
        assert_int_equal(gn, wn);
        assert_memory_equal(got, want, wn);
    }
    evp_hmac_free(h);
}

/* RFC 4231 4.3 (test case 2), HMAC-SHA-256 only: the vector itself, so that
 * the check does not rest on EVP_Q_mac alone. */
static void test_rfc4231(void **state)
{
    static const uint8_t want[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                     0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                     0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    const char *msg = "what do ya want for nothing?";
    struct evp_hmac *h = NULL;
    uint8_t mac[64];
    size_t n = 0;
    (void)state;
    assert_int_equal(evp_hmac_new((const uint8_t *)"Jefe", 4, &h), 0);
    assert_int_equal(evp_hmac(h, WSJWT_ALG_HS256, (const uint8_t *)msg, strlen(msg), mac, &n), 0);
    assert_int_equal(n, 32);
    assert_memory_equal(mac, want, 32);
    assert_int_equal(evp_hmac(h, WSJWT_ALG_ES256, (const uint8_t *)msg, strlen(msg), mac, &n),
                     WSJWT_EJWT_KEY_TYPE);
    evp_hmac_free(h);
}

static void test_sweep_vs_openssl(void **state)
{
    static const size_t klens[] = {1, 32, 63, 64, 65, 127, 128, 129, 300};
    static const size_t mlens[] = {0, 1, 55, 56, 64, 111, 112, 128, 1000};
    uint8_t key[300], msg[1000];
    (void)state;
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7u + 1u);
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 0x5du + 0x36u);
    for (size_t a = 0; a < sizeof(klens) / sizeof(klens[0]); a++)
        for (size_t b = 0; b < sizeof(mlens) / sizeof(mlens[0]); b++)
            one_mac(key, klens[a], msg, mlens[b]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),
        cmocka_unit_test(test_sweep_vs_openssl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
