/* SHA-1: FIPS 180 example vectors (FIPS 180-2 appendix A, also in RFC 3174
 * section 7.3), every split of the input, and RFC 6455's accept example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/sha1.h"
#include "http/http.h"

static void hex(const uint8_t d[20], char out[41])
{
    for (int i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check(const char *msg, size_t len, const char *want)
{
    uint8_t d[20];
    char h[41];
    wsjwt__sha1(msg, len, d);
    hex(d, h);
    assert_string_equal(h, want);
}

static void test_fips_vectors(void **state)
{
    (void)state;
    check("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    check("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_million_a(void **state)
{
    (void)state;
    static char a[1000000];
    memset(a, 'a', sizeof(a));
    check(a, sizeof(a), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    /* The same through many odd-sized updates. */
    struct wsjwt__sha1 s;
    uint8_t d[20];
    char h[41];
    wsjwt__sha1_init(&s);
    for (size_t off = 0, step = 1; off < sizeof(a); off += step, step = step % 97 + 1)
        wsjwt__sha1_update(&s, a + off, off + step > sizeof(a) ? sizeof(a) - off : step);
    wsjwt__sha1_final(&s, d);
    hex(d, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* Lengths around the padding boundary (55, 56, 63, 64, 65 bytes), every
 * split point: the incremental digest equals the one-shot digest. */
static void test_splits(void **state)
{
    (void)state;
    uint8_t msg[130];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(msg); len++) {
        uint8_t want[20], got[20];
        wsjwt__sha1(msg, len, want);
        for (size_t cut = 0; cut <= len; cut++) {
            struct wsjwt__sha1 s;
            wsjwt__sha1_init(&s);
            wsjwt__sha1_update(&s, msg, cut);
            wsjwt__sha1_update(&s, msg + cut, len - cut);
            wsjwt__sha1_final(&s, got);
            assert_memory_equal(got, want, 20);
        }
    }
    /* 56 bytes of 'a': the padding spills into a second block (value from
     * coreutils sha1sum). */
    char a56[56];
    memset(a56, 'a', sizeof(a56));
    check(a56, 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699");
}

static void test_rfc6455_accept(void **state)
{
    (void)state;
    /* RFC 6455 1.3 and 4.2.2. */
    char acc[WSJWT_WS_ACCEPT_LEN];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    wsjwt__ws_accept(key, strlen(key), acc);
    assert_memory_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WSJWT_WS_ACCEPT_LEN);
    /* The key from RFC 6455 1.3 is base64 of "the sample nonce". */
    char k[WSJWT_WS_KEY_LEN];
    wsjwt__ws_key_encode((const uint8_t *)"the sample nonce", k);
    assert_memory_equal(k, key, WSJWT_WS_KEY_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_splits),
        cmocka_unit_test(test_rfc6455_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
