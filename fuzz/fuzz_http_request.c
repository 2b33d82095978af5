/* libFuzzer: the request-head parser, handshake validation, token
 * extraction, the Origin policy and the 101 writer.
 *
 * The first input byte picks the split step; the head is parsed whole and in
 * those steps, and the two results must be identical (the parser's "split
 * does not matter" promise). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse(const char *in, size_t n, size_t step, struct wsjwt__http_header *hs,
                 struct wsjwt__http_request *req, size_t *hl)
{
    struct wsjwt__http_parser p;
    wsjwt__http_parser_init(&p, 1024, 16);
    int rc = WSJWT_EAGAIN;
    for (size_t have = 0; have < n && rc == WSJWT_EAGAIN;) {
        have = have + step > n ? n : have + step;
        rc = wsjwt__http_request_parse(&p, in, have, hs, 16, req, hl);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    /* A copy of exactly the input size so ASan sees any over-read. */
    char *in = malloc(size - 1 ? size - 1 : 1);
    if (!in)
        return 0;
    memcpy(in, data + 1, size - 1);
    size_t n = size - 1;

    struct wsjwt__http_header hs[16], hs2[16];
    struct wsjwt__http_request req, req2;
    size_t hl = 0, hl2 = 0;
    int rc = parse(in, n, n ? n : 1, hs, &req, &hl);
    int rc2 = parse(in, n, step, hs2, &req2, &hl2);
    if (rc != rc2 || hl != hl2)
        __builtin_trap();
    if (rc == 0) {
        if (hl > n || hl > 1024 || req.num_headers != req2.num_headers || req.num_headers > 16)
            __builtin_trap();
        for (size_t i = 0; i < req.num_headers; i++)
            if (hs[i].name != hs2[i].name || hs[i].value_len != hs2[i].value_len)
                __builtin_trap();

        struct wsjwt__ws_handshake h;
        int hrc = wsjwt__http_handshake_check(&req, &h);
        struct wsjwt__http_token_config cfg = {"token", 1, 1, "access_token", "jwt"};
        struct wsjwt__http_token tok;
        char scratch[1024];
        int trc = wsjwt__http_token_extract(&req, &cfg, scratch, sizeof(scratch), &tok);
        if (trc == 0 && (tok.len == 0 || !tok.ptr))
            __builtin_trap();
        if (hrc == 0) {
            const char *allow[] = {"https://a.example"};
            (void)wsjwt__http_origin_check(h.origin, h.origin_len, allow, 1, 0);
            char acc[WSJWT_WS_ACCEPT_LEN], out[512];
            size_t w;
            wsjwt__ws_accept(h.key, h.key_len, acc);
            struct wsjwt__http_101 r = {acc, NULL, 0, NULL, 0};
            if (trc == 0 && (tok.sources & WSJWT__TOKEN_SUBPROTOCOL)) {
                r.protocol = WSJWT_TOKEN_SUBPROTOCOL;
                r.protocol_len = strlen(WSJWT_TOKEN_SUBPROTOCOL);
            }
            if (wsjwt__http_write_101(out, sizeof(out), &r, &w) != 0 || w != wsjwt__http_101_size(&r))
                __builtin_trap();
        } else {
            char out[512];
            size_t w;
            int st = wsjwt_err_http_status(hrc);
            if (wsjwt__http_write_refusal(out, sizeof(out), st, NULL, &w) != 0)
                __builtin_trap();
        }
    }
    free(in);
    return 0;
}
