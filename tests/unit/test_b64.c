/* base64 / base64url: RFC 4648 section 10 vectors, and strictness of the JWS
 * decoder (one text per byte string). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/b64.h"
#include <wsjwt/jwt.h>

/* RFC 4648 10. */
static const char *const vec_in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const vec_std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
static const char *const vec_url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < 7; i++) {
        char out[32];
        uint8_t dec[32];
        size_t n = strlen(vec_in[i]), m = 0;
        assert_int_equal(wsjwt__b64_encode((const uint8_t *)vec_in[i], n, out), strlen(vec_std[i]));
        assert_string_equal(out, vec_std[i]);
        assert_int_equal(wsjwt__b64_encoded_len(n), strlen(vec_std[i]));
        assert_int_equal(wsjwt__b64url_encode((const uint8_t *)vec_in[i], n, out), strlen(vec_url[i]));
        assert_string_equal(out, vec_url[i]);
        assert_int_equal(wsjwt__b64url_encoded_len(n), strlen(vec_url[i]));
        assert_int_equal(wsjwt__b64url_decode(vec_url[i], strlen(vec_url[i]), dec, sizeof(dec), &m), 0);
        assert_int_equal(m, n);
        assert_memory_equal(dec, vec_in[i], n);
        assert_int_equal(wsjwt__b64url_decoded_len(strlen(vec_url[i])), n);
        assert_int_equal(wsjwt__b64_decode_any(vec_std[i], strlen(vec_std[i]), dec, sizeof(dec), &m), 0);
        assert_int_equal(m, n);
        assert_memory_equal(dec, vec_in[i], n);
        assert_int_equal(wsjwt__b64_decode_any(vec_url[i], strlen(vec_url[i]), dec, sizeof(dec), &m), 0);
        assert_int_equal(m, n);
    }
}

/* Every byte value through both alphabets and back. */
static void test_roundtrip_all_bytes(void **state)
{
    uint8_t in[256], dec[256];
    char enc[400];
    size_t m;
    (void)state;
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)(255 - i);
    for (size_t n = 0; n <= 256; n += 1) {
        size_t e = wsjwt__b64url_encode(in, n, enc);
        assert_null(strpbrk(enc, "+/="));
        assert_int_equal(wsjwt__b64url_decode(enc, e, dec, sizeof(dec), &m), 0);
        assert_int_equal(m, n);
        assert_memory_equal(dec, in, n);
        e = wsjwt__b64_encode(in, n, enc);
        assert_int_equal(wsjwt__b64_decode_any(enc, e, dec, sizeof(dec), &m), 0);
        assert_int_equal(m, n);
        assert_memory_equal(dec, in, n);
    }
}

static void test_strict_refusals(void **state)
{
    uint8_t out[64];
    size_t m;
    static const char *const bad[] = {
        "Zg==",    /* padding */
        "Zm8=",    /* padding */
        "Zm9v+A",  /* standard alphabet */
        "Zm9v/A",  /* standard alphabet */
        "Zm9 v",   /* whitespace */
        "Zm9v\n",  /* newline */
        "Z",       /* length 1 mod 4 */
        "Zm9vY",   /* length 1 mod 4 */
        "Zh",      /* non-zero trailing bits (Zg is canonical) */
        "Zm9",     /* non-zero trailing bits (Zm8 is canonical) */
        "Zm\x80v", /* high byte */
        "Zm.v",    /* dot */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsjwt__b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out), &m),
                         WSJWT_EJWT_ENCODING);
    /* An embedded NUL is not part of the alphabet. */
    assert_int_equal(wsjwt__b64url_decode("Zm\0v", 4, out, sizeof(out), &m), WSJWT_EJWT_ENCODING);
}

/* The output cap at N (fits) and N-1 (refused). */
static void test_decode_cap(void **state)
{
    uint8_t out[6];
    size_t m;
    (void)state;
    assert_int_equal(wsjwt__b64url_decode("Zm9vYmFy", 8, out, 6, &m), 0);
    assert_int_equal(m, 6);
    assert_int_equal(wsjwt__b64url_decode("Zm9vYmFy", 8, out, 5, &m), WSJWT_ETOOBIG);
    assert_int_equal(wsjwt__b64_decode_any("Zm9vYmFy", 8, out, 5, &m), WSJWT_ETOOBIG);
}

/* The decoder takes four characters per step (two quanta at a time), stores
 * each quantum as a 4-byte word while more output follows, and treats the
 * last quantum apart: every length from 0 to 70 characters, a bad character
 * (every byte outside the alphabet, at every position), the output exactly
 * as long as the decoded bytes at the end of its allocation (a write past it
 * is an ASan error) and the bytes after the decoded ones untouched. */
static void test_quantum_edges(void **state)
{
    (void)state;
    uint8_t in[60], *exact;
    char enc[96], bad[96];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= 52; n++) {
        size_t e = wsjwt__b64url_encode(in, n, enc), m = 0;
        /* Exact room, at the end of the allocation. */
        exact = malloc(n ? n : 1);
        assert_int_equal(wsjwt__b64url_decode(enc, e, exact, n, &m), 0);
        assert_int_equal(m, n);
        assert_memory_equal(exact, in, n);
        free(exact);
        /* More room: nothing after the decoded bytes is written. */
        uint8_t out[80];
        memset(out, 0xAA, sizeof(out));
        assert_int_equal(wsjwt__b64url_decode(enc, e, out, sizeof(out), &m), 0);
        for (size_t k = n; k < sizeof(out); k++)
            assert_int_equal(out[k], 0xAA);
        /* A byte outside the URL alphabet anywhere refuses the text. */
        for (size_t pos = 0; pos < e; pos++) {
            for (unsigned c = 0; c < 256; c++) {
                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_')
                    continue;
                memcpy(bad, enc, e);
                bad[pos] = (char)c;
                assert_int_equal(wsjwt__b64url_decode(bad, e, out, sizeof(out), &m), WSJWT_EJWT_ENCODING);
            }
        }
    }
}

/* The last character of a 2- or 3-character quantum: only values whose
 * unused low bits are zero are canonical (4 and 2 low bits), after any
 * number of whole quanta. */
static void test_trailing_bits(void **state)
{
    (void)state;
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char text[16];
    uint8_t out[16];
    size_t m;
    for (size_t whole = 0; whole <= 3; whole++) {
        memset(text, 'Q', sizeof(text));
        for (unsigned v = 0; v < 64; v++) {
            text[4 * whole] = 'g';
            text[4 * whole + 1] = alpha[v];
            assert_int_equal(wsjwt__b64url_decode(text, 4 * whole + 2, out, sizeof(out), &m),
                             (v & 15) ? WSJWT_EJWT_ENCODING : 0);
            text[4 * whole + 1] = 'g';
            text[4 * whole + 2] = alpha[v];
            assert_int_equal(wsjwt__b64url_decode(text, 4 * whole + 3, out, sizeof(out), &m),
                             (v & 3) ? WSJWT_EJWT_ENCODING : 0);
            if (!(v & 3))
                assert_int_equal(out[3 * whole + 1], (uint8_t)((('g' - 'a' + 26) & 15) << 4 | v >> 2));
        }
    }
}

static void test_lenient(void **state)
{
    uint8_t out[64];
    size_t m;
    (void)state;
    /* Mixed alphabets and non-canonical trailing bits are accepted here. */
    assert_int_equal(wsjwt__b64_decode_any("+/-_", 4, out, sizeof(out), &m), 0);
    assert_int_equal(m, 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    assert_int_equal(wsjwt__b64_decode_any("Zh", 2, out, sizeof(out), &m), 0);
    /* Wrong padding is refused. */
    assert_int_equal(wsjwt__b64_decode_any("Zg=", 3, out, sizeof(out), &m), WSJWT_EJWT_ENCODING);
    assert_int_equal(wsjwt__b64_decode_any("Zm9v=", 5, out, sizeof(out), &m), WSJWT_EJWT_ENCODING);
    assert_int_equal(wsjwt__b64_decode_any("Zm8==", 5, out, sizeof(out), &m), WSJWT_EJWT_ENCODING);
    assert_int_equal(wsjwt__b64_decode_any("Z===", 4, out, sizeof(out), &m), WSJWT_EJWT_ENCODING);
    assert_int_equal(wsjwt__b64_decode_any("====", 4, out, sizeof(out), &m), WSJWT_EJWT_ENCODING);
    assert_int_equal(wsjwt__b64_decode_any("Zm 9v", 5, out, sizeof(out), &m), WSJWT_EJWT_ENCODING);
}

static void test_public_wrappers(void **state)
{
    char *s = NULL;
    unsigned char *d = NULL;
    size_t n = 0;
    (void)state;
    assert_int_equal(wsjwt_b64url_encode("\xfb\xff", 2, &s, &n), 0);
    assert_string_equal(s, "-_8");
    assert_int_equal(n, 3);
    wsjwt_free(s);
    assert_int_equal(wsjwt_base64_decode("+/8=", 4, &d, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(d, "\xfb\xff", 2);
    wsjwt_free(d);
    assert_int_equal(wsjwt_base64_decode("a", 1, &d, &n), WSJWT_EJWT_ENCODING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors), cmocka_unit_test(test_roundtrip_all_bytes),
        cmocka_unit_test(test_strict_refusals), cmocka_unit_test(test_decode_cap),
        cmocka_unit_test(test_lenient),         cmocka_unit_test(test_public_wrappers),
        cmocka_unit_test(test_quantum_edges),   cmocka_unit_test(test_trailing_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
