/* libFuzzer: permessage-deflate negotiation and inflation under a cap.
 *
 * Input: byte 0 picks the server mode and window, byte 1 the inflate cap
 * (0..64 KiB), then a Sec-WebSocket-Extensions value up to the first NUL,
 * then compressed messages separated by the 4-byte marker "MSG|". Checks:
 * negotiation never accepts what the parser refuses and its answer always
 * parses back on the client side; inflated output never passes the cap; and
 * whatever inflates re-deflates and inflates back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws/deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_negotiation(unsigned sel, const char *v, size_t n)
{
    struct wsjwt__pmd_server_config cfg;
    cfg.mode = (enum wsjwt__pmd_mode)(sel % 3);
    cfg.window_bits = 9 + (sel / 3) % 7;
    struct wsjwt__pmd_params p;
    if (wsjwt__pmd_negotiate(&cfg, v, n, &p) != 1)
        return;
    if (cfg.mode == WSJWT__PMD_OFF)
        abort();
    char ans[WSJWT__PMD_RESPONSE_MAX];
    size_t len = wsjwt__pmd_write_response(ans, sizeof(ans), &p);
    if (len == 0)
        abort();
    struct wsjwt__pmd_params q;
    /* The answer is one our own client accepts (it offered room for any
     * client window: the offer carried client_max_window_bits). */
    if (wsjwt__pmd_client_check(ans, len, 0, &q) != 1)
        abort();
    if (q.server_no_context_takeover != p.server_no_context_takeover ||
        q.server_max_window_bits != p.server_max_window_bits ||
        q.client_max_window_bits != p.client_max_window_bits)
        abort();
    if (cfg.mode == WSJWT__PMD_SHARED && !(p.server_no_context_takeover && p.client_no_context_takeover))
        abort();
    struct wsjwt__pmd_params r;
    wsjwt__pmd_unpack(wsjwt__pmd_pack(&p), &r);
    if (memcmp(&r, &q, sizeof(r)) != 0)
        abort();
    /* And the client check on the raw input never crashes. */
    (void)wsjwt__pmd_client_check(v, n, (int)(sel & 1), &q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned sel = data[0];
    size_t max = (size_t)data[1] * 256u;
    data += 2;
    size -= 2;
    const uint8_t *nul = memchr(data, 0, size);
    size_t vlen = nul ? (size_t)(nul - data) : size;
    check_negotiation(sel, (const char *)data, vlen);
    if (!nul)
        return 0;
    data += vlen + 1;
    size -= vlen + 1;

    unsigned bits = 8 + sel % 8;
    int nct = (sel >> 3) & 1;
    z_stream inf, re_d, re_i;
    if (wsjwt__pmd_inflate_init(&inf, bits) != 0)
        return 0;
    if (wsjwt__pmd_deflate_init(&re_d, bits) != 0 || wsjwt__pmd_inflate_init(&re_i, bits) != 0)
        abort();
    struct wsjwt__pmd_buf out = {0}, c = {0}, back = {0};
    while (size > 0) {
        const uint8_t *m = data;
        size_t mlen = size;
        for (size_t i = 0; i + 4 <= size; i++)
            if (memcmp(data + i, "MSG|", 4) == 0) {
                mlen = i;
                break;
            }
        out.len = 0;
        int rc = wsjwt__pmd_inflate(&inf, m, mlen, nct, max, &out);
        /* The buffer holds at most one byte past the cap: the byte that
         * proved the message too big. */
        if (out.cap > max + 1 || (rc == 0 && out.len > max))
            abort();
        if (rc == 0) {
            c.len = back.len = 0;
            if (wsjwt__pmd_deflate(&re_d, out.data, out.len, nct, &c) != 0)
                abort();
            if (wsjwt__pmd_inflate(&re_i, c.data, c.len, nct, out.len, &back) != 0)
                abort();
            if (back.len != out.len || (out.len && memcmp(back.data, out.data, out.len) != 0))
                abort();
        } else if (rc != WSJWT_EWS_INFLATE && rc != WSJWT_EWS_MESSAGE_TOO_BIG) {
            abort();
        }
        size_t skip = mlen + 4 <= size ? mlen + 4 : size;
        data += skip;
        size -= skip;
    }
    wsjwt__pmd_buf_free(&out);
    wsjwt__pmd_buf_free(&c);
    wsjwt__pmd_buf_free(&back);
    inflateEnd(&inf);
    deflateEnd(&re_d);
    inflateEnd(&re_i);
    return 0;
}
