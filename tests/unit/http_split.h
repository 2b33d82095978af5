/* Shared by the HTTP head tests: feed a head whole, one byte at a time and
 * in random splits, the way the shell does (all bytes so far, growing), and
 * serialise what was parsed so the runs can be compared. */
#ifndef WSJWT_TEST_HTTP_SPLIT_H
#define WSJWT_TEST_HTTP_SPLIT_H

#include <stdio.h>
#include <string.h>

#include "http/http.h"

struct head_result {
    int rc;
    size_t head_len;
    char dump[16384];
};

static void dump_headers(char *d, size_t cap, const struct wsjwt__http_header *h, size_t n)
{
    size_t o = strlen(d);
    for (size_t i = 0; i < n && o < cap; i++) {
        int k = snprintf(d + o, cap - o, "[%.*s]=[%.*s]\n", (int)h[i].name_len, h[i].name,
                         (int)h[i].value_len, h[i].value);
        if (k < 0)
            break;
        o += (size_t)k;
    }
}

static unsigned split_rng(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) % 31 + 1;
}

/* mode 0 whole, 1 per byte, else random splits seeded by mode. */
static void parse_head(int response, const char *in, size_t n, size_t max_head, size_t max_headers,
                       unsigned mode, struct head_result *r)
{
    struct wsjwt__http_parser p;
    struct wsjwt__http_header hs[256];
    unsigned seed = mode;
    wsjwt__http_parser_init(&p, max_head, max_headers);
    memset(r, 0, sizeof(*r));
    r->rc = WSJWT_EAGAIN;
    size_t have = 0;
    while (have < n && r->rc == WSJWT_EAGAIN) {
        size_t step = mode == 0 ? n : mode == 1 ? 1 : split_rng(&seed);
        have = have + step > n ? n : have + step;
        if (response) {
            struct wsjwt__http_response res;
            r->rc = wsjwt__http_response_parse(&p, in, have, hs, 256, &res, &r->head_len);
            if (r->rc == 0) {
                snprintf(r->dump, sizeof(r->dump), "%d %d [%.*s]\n", res.minor_version, res.status,
                         (int)res.reason_len, res.reason);
                dump_headers(r->dump, sizeof(r->dump), res.headers, res.num_headers);
            }
        } else {
            struct wsjwt__http_request req;
            r->rc = wsjwt__http_request_parse(&p, in, have, hs, 256, &req, &r->head_len);
            if (r->rc == 0) {
                snprintf(r->dump, sizeof(r->dump), "[%.*s] [%.*s] [%.*s] q=%d [%.*s] 1.%d\n",
                         (int)req.method_len, req.method, (int)req.target_len, req.target, (int)req.path_len,
                         req.path, req.query != NULL, (int)req.query_len, req.query ? req.query : "",
                         req.minor_version);
                dump_headers(r->dump, sizeof(r->dump), req.headers, req.num_headers);
            }
        }
    }
}

/* Whole, per byte and 13 random splits must agree; returns the whole run. */
static struct head_result parse_all(int response, const char *in, size_t n, size_t max_head,
                                    size_t max_headers)
{
    static struct head_result whole, other;
    parse_head(response, in, n, max_head, max_headers, 0, &whole);
    for (unsigned m = 1; m < 15; m++) {
        parse_head(response, in, n, max_head, max_headers, m, &other);
        assert_int_equal(other.rc, whole.rc);
        assert_int_equal(other.head_len, whole.head_len);
        assert_string_equal(other.dump, whole.dump);
    }
    return whole;
}

#endif
