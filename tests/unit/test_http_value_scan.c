/* The word-at-a-time paths of src/http/parse.c. The header-value scan,
 * which skips eight bytes at a time while none can end the value: every byte value 0..255 placed at every
 * offset of a value long enough for two words and a tail, at eight
 * alignments, must be accepted exactly when RFC 7230 3.2 allows it (HTAB,
 * SP, VCHAR, obs-text) and otherwise refuse the head; each head sits at the
 * very end of its own allocation, so a word read past it is an ASan error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"

static int allowed(unsigned b)
{
    return b == '\t' || (b >= 0x20 && b != 0x7f);
}

static void test_every_byte_everywhere(void **state)
{
    (void)state;
    for (unsigned align = 0; align < 8; align++) {
        for (size_t vlen = 1; vlen <= 26; vlen += 5) {
            for (size_t k = 0; k < vlen; k++) {
                for (unsigned b = 0; b < 256; b++) {
                    char head[128];
                    size_t n = 0;
                    n +=
                        (size_t)sprintf(head, "GET / HTTP/1.1\r\nHost: x\r\nX%.*s: ", (int)align, "abcdefgh");
                    size_t voff = n;
                    for (size_t i = 0; i < vlen; i++)
                        head[n++] = 'v';
                    head[voff + k] = (char)b;
                    head[n++] = 'z'; /* a value never ends in the byte under test: no trimming */
                    memcpy(head + n, "\r\n\r\n", 4);
                    n += 4;
                    char *buf = malloc(n);
                    memcpy(buf, head, n);
                    struct wsjwt__http_parser p;
                    struct wsjwt__http_header h[128];
                    struct wsjwt__http_request req;
                    size_t hl = 0;
                    wsjwt__http_parser_init(&p, 0, 0);
                    int rc = wsjwt__http_request_parse(&p, buf, n, h, 128, &req, &hl);
                    if (allowed(b)) {
                        assert_int_equal(rc, 0);
                        assert_int_equal(hl, n);
                        assert_int_equal(req.num_headers, 2);
                        /* leading SP/HTAB is optional whitespace, not value */
                        size_t skip = k == 0 && (b == ' ' || b == '\t');
                        assert_ptr_equal(req.headers[1].value, buf + voff + skip);
                        assert_int_equal(req.headers[1].value_len, vlen + 1 - skip);
                    } else {
                        assert_int_equal(rc, WSJWT_EHTTP_MALFORMED);
                    }
                    free(buf);
                }
            }
        }
    }
}

/* wsjwt__http_ieq compares whole words first and folds case byte by byte
 * from the first word that differs: a difference at every position of names
 * of length 0..24, checked against a plain reference (ASCII letters fold,
 * nothing else does, so '-' and CR, which differ by 0x20 too, stay apart). */
static int ref_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return 0;
    }
    return 1;
}

static void test_ieq(void **state)
{
    static const char base[] = "Sec-WebSocket-Extensions";
    static const unsigned char subst[] = {0x20, 0x01, 0x80, 0x0d, 0x2d, 0x40, 0x60};
    (void)state;
    for (size_t n = 0; n <= 24; n++) {
        char a[24], b[24];
        memcpy(a, base, n);
        memcpy(b, base, n);
        assert_true(wsjwt__http_ieq(a, n, b, n));
        if (n)
            assert_false(wsjwt__http_ieq(a, n, b, n - 1));
        for (size_t k = 0; k < n; k++) {
            for (size_t j = 0; j < sizeof(subst); j++) {
                memcpy(b, base, n);
                b[k] = (char)((unsigned char)b[k] ^ subst[j]);
                assert_int_equal(wsjwt__http_ieq(a, n, b, n), ref_ieq(a, b, n));
                assert_int_equal(wsjwt__http_ieq(b, n, a, n), ref_ieq(a, b, n));
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte_everywhere),
        cmocka_unit_test(test_ieq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
