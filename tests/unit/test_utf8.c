/* UTF-8 validation: boundary cases in the manner of Markus Kuhn's
 * UTF-8-test.txt and the Autobahn testsuite's section 6 (hand-written here),
 * each checked whole, at every split, byte by byte (the first rejected byte is
 * exactly the first bad one) and behind ASCII runs of every length so the
 * 8-byte fast path meets it at every alignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ws/utf8.h"

struct vec {
    const char *s;
    size_t len;
    int bad_at; /* index of the first bad byte; -1 valid; -2 truncated (valid prefix, incomplete end) */
};

#define V(lit, bad)                                                                                          \
    {                                                                                                        \
        lit, sizeof(lit) - 1, bad                                                                            \
    }

static const struct vec vecs[] = {
    V("", -1),
    V("Hello, world", -1),
    V("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", -1), /* kosme */
    V("\x00", -1),
    V("\x7f", -1),
    V("\xc2\x80", -1),                /* U+0080 */
    V("\xdf\xbf", -1),                /* U+07FF */
    V("\xe0\xa0\x80", -1),            /* U+0800 */
    V("\xed\x9f\xbf", -1),            /* U+D7FF */
    V("\xee\x80\x80", -1),            /* U+E000 */
    V("\xef\xbf\xbd", -1),            /* U+FFFD */
    V("\xef\xbf\xbf", -1),            /* U+FFFF (a noncharacter, still valid) */
    V("\xf0\x90\x80\x80", -1),        /* U+10000 */
    V("\xf4\x8f\xbf\xbf", -1),        /* U+10FFFF */
    V("\xf3\xbf\xbf\xbf", -1),        /* U+FFFFF */
    V("\x80", 0),                     /* stray continuation */
    V("\xbf", 0),                     /* stray continuation */
    V("a\x80\x80", 1),                /* two continuations */
    V("\xc0\x80", 0),                 /* overlong U+0000 */
    V("\xc1\xbf", 0),                 /* overlong U+007F */
    V("\xe0\x80\x80", 1),             /* overlong 3-byte */
    V("\xe0\x9f\xbf", 1),             /* overlong U+07FF */
    V("\xf0\x80\x80\x80", 1),         /* overlong 4-byte */
    V("\xf0\x8f\xbf\xbf", 1),         /* overlong U+FFFF */
    V("\xed\xa0\x80", 1),             /* U+D800 surrogate */
    V("\xed\xbf\xbf", 1),             /* U+DFFF surrogate */
    V("\xed\xa0\x80\xed\xb0\x80", 1), /* surrogate pair */
    V("\xf4\x90\x80\x80", 1),         /* U+110000 */
    V("\xf5\x80\x80\x80", 0),         /* beyond U+10FFFF */
    V("\xf8\x88\x80\x80\x80", 0),     /* 5-byte form */
    V("\xfc\x84\x80\x80\x80\x80", 0), /* 6-byte form */
    V("\xfe", 0),
    V("\xff", 0),
    V("\xc2\x41", 1), /* lead then ASCII */
    V("\xe1\x80\x41", 2),
    V("\xf1\x80\x80\x41", 3),
    V("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
      "edited",
      12),
    V("\xc2", -2), /* truncated */
    V("\xe0\xa0", -2),
    V("\xf0\x90\x80", -2),
    V("\xf4\x8f\xbf", -2),
    V("ok\xe2\x82", -2),
};

static void check_vec(const uint8_t *p, size_t n, int bad_at)
{
    /* Whole. */
    uint32_t st = wsjwt__utf8_feed(WSJWT__UTF8_ACCEPT, p, n);
    if (bad_at >= 0)
        assert_int_equal(st, WSJWT__UTF8_REJECT);
    else if (bad_at == -1)
        assert_int_equal(st, WSJWT__UTF8_ACCEPT);
    else
        assert_true(st != WSJWT__UTF8_ACCEPT && st != WSJWT__UTF8_REJECT);
    assert_int_equal(wsjwt__utf8_valid(p, n), bad_at == -1);
    /* Every split in two. */
    for (size_t cut = 0; cut <= n; cut++) {
        uint32_t s2 = wsjwt__utf8_feed(WSJWT__UTF8_ACCEPT, p, cut);
        s2 = wsjwt__utf8_feed(s2, p + cut, n - cut);
        assert_int_equal(s2, st);
    }
    /* Byte by byte: REJECT appears exactly at the first bad byte (fail fast). */
    uint32_t s1 = WSJWT__UTF8_ACCEPT;
    for (size_t i = 0; i < n; i++) {
        s1 = wsjwt__utf8_feed(s1, p + i, 1);
        if (bad_at >= 0 && (size_t)bad_at == i) {
            assert_int_equal(s1, WSJWT__UTF8_REJECT);
            break;
        }
        assert_int_not_equal(s1, WSJWT__UTF8_REJECT);
    }
}

static void test_vectors(void **state)
{
    (void)state;
    for (size_t v = 0; v < sizeof(vecs) / sizeof(vecs[0]); v++)
        check_vec((const uint8_t *)vecs[v].s, vecs[v].len, vecs[v].bad_at);
}

/* Every vector behind 0..19 ASCII bytes and before 0..19 more: the fast
 * path sees the bad byte at every offset within its 8-byte words. */
static void test_alignment(void **state)
{
    (void)state;
    uint8_t buf[64];
    for (size_t v = 0; v < sizeof(vecs) / sizeof(vecs[0]); v++) {
        for (size_t pre = 0; pre < 20; pre++) {
            for (size_t post = 0; post < 20; post++) {
                memset(buf, 'x', sizeof(buf));
                memcpy(buf + pre, vecs[v].s, vecs[v].len);
                size_t n = pre + vecs[v].len + post;
                int bad = vecs[v].bad_at;
                if (bad >= 0)
                    bad += (int)pre;
                else if (bad == -2 && post > 0)
                    bad = (int)(pre + vecs[v].len); /* the ASCII after a cut character is bad */
                check_vec(buf, n, bad);
            }
        }
    }
}

/* Every 1-, 2-, 3-byte sequence classified against a reference decoder
 * written from RFC 3629's definition (decode, then check ranges). */
static int reference_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07u;
        } else {
            return 0;
        }
        if (k >= n - i)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + j] & 0x3Fu);
        }
        static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static void test_exhaustive_short(void **state)
{
    (void)state;
    uint8_t b[3];
    for (unsigned a = 0; a < 256; a++) {
        b[0] = (uint8_t)a;
        assert_int_equal(wsjwt__utf8_valid(b, 1), reference_valid(b, 1));
        for (unsigned c = 0; c < 256; c++) {
            b[1] = (uint8_t)c;
            assert_int_equal(wsjwt__utf8_valid(b, 2), reference_valid(b, 2));
            if (a < 0xE0 || a > 0xF4)
                continue;
            for (unsigned d = 0x70; d < 0xD0; d++) {
                b[2] = (uint8_t)d;
                assert_int_equal(wsjwt__utf8_valid(b, 3), reference_valid(b, 3));
            }
        }
    }
    /* Every 4-byte sequence with a lead F0..F4 and continuation-range tails. */
    uint8_t q[4];
    for (unsigned a = 0xF0; a <= 0xF7; a++)
        for (unsigned c = 0x70; c < 0xD0; c++)
            for (unsigned d = 0x7F; d < 0xC1; d++) {
                q[0] = (uint8_t)a;
                q[1] = (uint8_t)c;
                q[2] = (uint8_t)d;
                q[3] = 0x80;
                assert_int_equal(wsjwt__utf8_valid(q, 4), reference_valid(q, 4));
            }
}

static void test_reject_is_sticky(void **state)
{
    (void)state;
    assert_int_equal(wsjwt__utf8_feed(WSJWT__UTF8_REJECT, (const uint8_t *)"abc", 3), WSJWT__UTF8_REJECT);
    assert_int_equal(wsjwt__utf8_feed(WSJWT__UTF8_REJECT, NULL, 0), WSJWT__UTF8_REJECT);
    assert_int_equal(wsjwt__utf8_feed(99, (const uint8_t *)"a", 1), WSJWT__UTF8_REJECT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_exhaustive_short),
        cmocka_unit_test(test_reject_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
