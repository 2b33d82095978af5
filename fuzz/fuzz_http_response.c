/* libFuzzer: the client's response-head parser and its 101 checks (the
 * Sec-WebSocket-Accept for RFC 6455's sample key, an offered subprotocol
 * list). The first byte picks the split step; whole and split parses must
 * agree. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse(const char *in, size_t n, size_t step, struct wsjwt__http_header *hs,
                 struct wsjwt__http_response *res, size_t *hl)
{
    struct wsjwt__http_parser p;
    wsjwt__http_parser_init(&p, 1024, 16);
    int rc = WSJWT_EAGAIN;
    for (size_t have = 0; have < n && rc == WSJWT_EAGAIN;) {
        have = have + step > n ? n : have + step;
        rc = wsjwt__http_response_parse(&p, in, have, hs, 16, res, hl);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1, n = size - 1;
    char *in = malloc(n ? n : 1);
    if (!in)
        return 0;
    memcpy(in, data + 1, n);
    struct wsjwt__http_header hs[16], hs2[16];
    struct wsjwt__http_response res, res2;
    size_t hl = 0, hl2 = 0;
    int rc = parse(in, n, n ? n : 1, hs, &res, &hl);
    int rc2 = parse(in, n, step, hs2, &res2, &hl2);
    if (rc != rc2 || hl != hl2)
        __builtin_trap();
    if (rc == 0) {
        if (res.status != res2.status || res.num_headers != res2.num_headers || res.status < 100 ||
            res.status > 999)
            __builtin_trap();
        struct wsjwt__ws_client_result out;
        int crc =
            wsjwt__http_response_check(&res, "dGhlIHNhbXBsZSBub25jZQ==", "access_token, abc, chat", &out);
        if (crc == 0 && res.status != 101)
            __builtin_trap();
        if (crc == 0 && out.protocol &&
            !(out.protocol_len == 4 || out.protocol_len == 3 || out.protocol_len == 12))
            __builtin_trap();
    }
    free(in);
    return 0;
}
