/* permessage-deflate (RFC 7692): see deflate.h. */
#include "ws/deflate.h"

#include <stdlib.h>
#include <string.h>

/* Compression level: 1 (fastest) keeps a server's CPU per message close to
 * the uncompressed path; on JSON-like text it gives up a few percent of
 * ratio against the default 6 for several times the speed. */
#define PMD_LEVEL 1

/* RFC 7692 7.2.1: what a sync flush ends with, stripped by the sender and put
 * back by the receiver. */
static const uint8_t pmd_tail[4] = {0x00, 0x00, 0xff, 0xff};

int wsjwt__pmd_mode_parse(const char *s, enum wsjwt__pmd_mode *mode, unsigned *bits)
{
    if (!s)
        return WSJWT_EINVAL;
    *bits = WSJWT__PMD_MAX_BITS;
    if (strcmp(s, "off") == 0) {
        *mode = WSJWT__PMD_OFF;
        return 0;
    }
    if (strcmp(s, "shared") == 0) {
        *mode = WSJWT__PMD_SHARED;
        return 0;
    }
    if (strncmp(s, "dedicated", 9) != 0)
        return WSJWT_EINVAL;
    s += 9;
    if (*s == ':') {
        /* 9..15: see deflate.h for why not 8. */
        if (s[1] == '9' && s[2] == '\0')
            *bits = 9;
        else if (s[1] == '1' && s[2] >= '0' && s[2] <= '5' && s[3] == '\0')
            *bits = 10u + (unsigned)(s[2] - '0');
        else
            return WSJWT_EINVAL;
    } else if (*s != '\0') {
        return WSJWT_EINVAL;
    }
    *mode = WSJWT__PMD_DEDICATED;
    return 0;
}

/* ---- parsing -------------------------------------------------------------------- */

/* RFC 7230 3.2.6 tchar. */
static int is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

int wsjwt__pmd_list_next(const char **cur, const char *end, const char **elem, size_t *elem_len)
{
    const char *p = *cur;
    for (;;) {
        while (p < end && (is_ows(*p) || *p == ','))
            p++;
        if (p >= end) {
            *cur = p;
            return 0;
        }
        const char *start = p;
        int quoted = 0;
        while (p < end && (quoted || *p != ',')) {
            if (*p == '"')
                quoted = !quoted;
            else if (*p == '\\' && quoted && p + 1 < end)
                p++;
            p++;
        }
        const char *e = p;
        while (e > start && is_ows(e[-1]))
            e--;
        *cur = p;
        if (e > start) {
            *elem = start;
            *elem_len = (size_t)(e - start);
            return 1;
        }
    }
}

/* RFC 7692 7.1.2.1/7.1.2.2: a window value is 8..15 in decimal, no leading
 * zero, as a token or (after unquoting) a quoted string. */
static int window_value(const char *v, size_t n)
{
    if (n == 1 && (v[0] == '8' || v[0] == '9'))
        return v[0] - '0';
    if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + (v[1] - '0');
    return -1;
}

int wsjwt__pmd_parse_element(const char *s, size_t len, struct wsjwt__pmd_params *p)
{
    const char *end = s + len, *q = s;
    while (q < end && is_ows(*q))
        q++;
    const char *name = q;
    while (q < end && is_tchar((unsigned char)*q))
        q++;
    if (!ieq(name, (size_t)(q - name), WSJWT__PMD_NAME))
        return 0;
    memset(p, 0, sizeof(*p));
    unsigned seen = 0;
    for (;;) {
        while (q < end && is_ows(*q))
            q++;
        if (q >= end)
            return 1;
        if (*q++ != ';')
            return WSJWT_EINVAL;
        while (q < end && is_ows(*q))
            q++;
        const char *pn = q;
        while (q < end && is_tchar((unsigned char)*q))
            q++;
        size_t pnl = (size_t)(q - pn);
        if (pnl == 0)
            return WSJWT_EINVAL;
        while (q < end && is_ows(*q))
            q++;
        char val[4];
        size_t vl = 0;
        int has_val = 0;
        if (q < end && *q == '=') {
            q++;
            while (q < end && is_ows(*q))
                q++;
            has_val = 1;
            if (q < end && *q == '"') {
                /* quoted-string (RFC 7230 3.2.6), unquoted into val; a value
                 * longer than any valid one is refused as it is read. */
                q++;
                for (;;) {
                    if (q >= end)
                        return WSJWT_EINVAL;
                    char ch = *q++;
                    if (ch == '"')
                        break;
                    if (ch == '\\') {
                        if (q >= end)
                            return WSJWT_EINVAL;
                        ch = *q++;
                    }
                    if (vl == sizeof(val))
                        return WSJWT_EINVAL;
                    val[vl++] = ch;
                }
            } else {
                while (q < end && is_tchar((unsigned char)*q)) {
                    if (vl == sizeof(val))
                        return WSJWT_EINVAL;
                    val[vl++] = *q++;
                }
            }
            if (vl == 0)
                return WSJWT_EINVAL;
        }
        unsigned bit;
        int bits = has_val ? window_value(val, vl) : 0;
        if (ieq(pn, pnl, "server_no_context_takeover")) {
            bit = 1;
            if (has_val)
                return WSJWT_EINVAL;
            p->server_no_context_takeover = 1;
        } else if (ieq(pn, pnl, "client_no_context_takeover")) {
            bit = 2;
            if (has_val)
                return WSJWT_EINVAL;
            p->client_no_context_takeover = 1;
        } else if (ieq(pn, pnl, "server_max_window_bits")) {
            bit = 4;
            if (bits < 0 || !has_val)
                return WSJWT_EINVAL;
            p->server_max_window_bits = (uint8_t)bits;
        } else if (ieq(pn, pnl, "client_max_window_bits")) {
            bit = 8;
            if (bits < 0) /* valueless is allowed in an offer (7.1.2.2) */
                return WSJWT_EINVAL;
            p->client_max_window_bits = (uint8_t)bits;
            p->has_client_max_window_bits = 1;
        } else {
            return WSJWT_EINVAL; /* RFC 7692 7: unknown parameter */
        }
        if (seen & bit)
            return WSJWT_EINVAL; /* RFC 7692 7: a parameter at most once */
        seen |= bit;
    }
}

/* ---- server negotiation ---------------------------------------------------------- */

static unsigned umin(unsigned a, unsigned b)
{
    return a < b ? a : b;
}

int wsjwt__pmd_negotiate(const struct wsjwt__pmd_server_config *cfg, const char *value, size_t len,
                         struct wsjwt__pmd_params *out)
{
    if (!cfg || cfg->mode == WSJWT__PMD_OFF || !value)
        return 0;
    const char *cur = value, *end = value + len, *e;
    size_t el;
    while (wsjwt__pmd_list_next(&cur, end, &e, &el)) {
        struct wsjwt__pmd_params o;
        if (wsjwt__pmd_parse_element(e, el, &o) != 1)
            continue; /* another extension, or an offer we must decline */
        /* We cannot deflate with an 8-bit window (see deflate.h). */
        if (o.server_max_window_bits == 8)
            continue;
        memset(out, 0, sizeof(*out));
        if (cfg->mode == WSJWT__PMD_SHARED) {
            /* RFC 7692 7.1.1.1/7.1.1.2: a server may answer both
             * no_context_takeover parameters unasked. The client's window
             * needs no limit: without takeover a 15-bit inflater reads any. */
            out->server_no_context_takeover = 1;
            out->client_no_context_takeover = 1;
            out->server_max_window_bits = o.server_max_window_bits;
            return 1;
        }
        unsigned w = cfg->window_bits >= 9 && cfg->window_bits <= 15 ? cfg->window_bits : 15;
        out->server_no_context_takeover = o.server_no_context_takeover;
        out->client_no_context_takeover = o.client_no_context_takeover;
        /* 7.1.2.1: an offered server_max_window_bits must be answered with
         * the same or a smaller value. Without it we still deflate with our
         * own window: a smaller window than the client's 15 needs no word. */
        if (o.server_max_window_bits)
            out->server_max_window_bits = (uint8_t)umin(o.server_max_window_bits, w);
        /* 7.1.2.2: the client said it can limit its window; limit it to ours
         * so that our inflater needs no more. */
        if (o.has_client_max_window_bits) {
            unsigned c = umin(o.client_max_window_bits ? o.client_max_window_bits : 15u, w);
            if (c < 15)
                out->client_max_window_bits = (uint8_t)c;
        }
        return 1;
    }
    return 0;
}

static size_t put(char *out, size_t cap, size_t at, const char *s)
{
    size_t n = strlen(s);
    if (at + n > cap)
        return cap + 1;
    memcpy(out + at, s, n);
    return at + n;
}

static size_t put_bits(char *out, size_t cap, size_t at, const char *name, unsigned bits)
{
    char num[4];
    at = put(out, cap, at, name);
    if (bits >= 10) {
        num[0] = '1';
        num[1] = (char)('0' + bits - 10);
        num[2] = '\0';
    } else {
        num[0] = (char)('0' + bits);
        num[1] = '\0';
    }
    return at > cap ? at : put(out, cap, at, num);
}

size_t wsjwt__pmd_write_response(char *out, size_t cap, const struct wsjwt__pmd_params *p)
{
    size_t at = put(out, cap, 0, WSJWT__PMD_NAME);
    if (p->server_no_context_takeover && at <= cap)
        at = put(out, cap, at, "; server_no_context_takeover");
    if (p->client_no_context_takeover && at <= cap)
        at = put(out, cap, at, "; client_no_context_takeover");
    if (p->server_max_window_bits && at <= cap)
        at = put_bits(out, cap, at, "; server_max_window_bits=", p->server_max_window_bits);
    if (p->client_max_window_bits && at <= cap)
        at = put_bits(out, cap, at, "; client_max_window_bits=", p->client_max_window_bits);
    return at > cap ? 0 : at;
}

uint16_t wsjwt__pmd_pack(const struct wsjwt__pmd_params *p)
{
    return (uint16_t)(0x8000u | (p->server_max_window_bits & 0xFu) |
                      ((p->client_max_window_bits & 0xFu) << 4) |
                      (p->server_no_context_takeover ? 0x100u : 0u) |
                      (p->client_no_context_takeover ? 0x200u : 0u));
}

void wsjwt__pmd_unpack(uint16_t v, struct wsjwt__pmd_params *p)
{
    memset(p, 0, sizeof(*p));
    p->server_max_window_bits = (uint8_t)(v & 0xFu);
    p->client_max_window_bits = (uint8_t)((v >> 4) & 0xFu);
    p->has_client_max_window_bits = p->client_max_window_bits != 0;
    p->server_no_context_takeover = (v & 0x100u) != 0;
    p->client_no_context_takeover = (v & 0x200u) != 0;
}

uint64_t wsjwt__pmd_wire_cap(uint64_t max)
{
    uint64_t extra = (max >> 5) + 64;
    return max > UINT64_MAX - extra ? UINT64_MAX : max + extra;
}

int wsjwt__pmd_shareable(uint16_t packed)
{
    struct wsjwt__pmd_params p;
    wsjwt__pmd_unpack(packed, &p);
    return packed != 0 && p.server_no_context_takeover && wsjwt__pmd_server_bits(&p) == 15;
}

unsigned wsjwt__pmd_server_bits(const struct wsjwt__pmd_params *p)
{
    return p->server_max_window_bits ? p->server_max_window_bits : 15u;
}

unsigned wsjwt__pmd_client_bits(const struct wsjwt__pmd_params *p)
{
    return p->client_max_window_bits ? p->client_max_window_bits : 15u;
}

/* ---- client negotiation ------------------------------------------------------------ */

const char *wsjwt__pmd_client_offer(int no_context_takeover)
{
    return no_context_takeover ? WSJWT__PMD_NAME "; server_no_context_takeover; client_no_context_takeover; "
                                                 "client_max_window_bits"
                               : WSJWT__PMD_NAME "; client_max_window_bits";
}

int wsjwt__pmd_client_check(const char *value, size_t len, int no_context_takeover,
                            struct wsjwt__pmd_params *out)
{
    const char *cur = value, *end = value + len, *e;
    size_t el;
    int n = 0;
    while (wsjwt__pmd_list_next(&cur, end, &e, &el)) {
        /* RFC 6455 9.1: only extensions the client offered, and we offered
         * one: a second element is an error whatever it is. */
        if (n++ || wsjwt__pmd_parse_element(e, el, out) != 1)
            return WSJWT_EHTTP_EXTENSION;
    }
    if (n != 1)
        return WSJWT_EHTTP_EXTENSION;
    /* 7.1.2.2: an answer's client_max_window_bits carries a value. */
    if (out->has_client_max_window_bits && out->client_max_window_bits == 0)
        return WSJWT_EHTTP_EXTENSION;
    /* 7.1.1.1: an offered server_no_context_takeover must be accepted. */
    if (no_context_takeover && !out->server_no_context_takeover)
        return WSJWT_EHTTP_EXTENSION;
    if (no_context_takeover)
        out->client_no_context_takeover = 1;
    return 1;
}

/* ---- engine ------------------------------------------------------------------------- */

void wsjwt__pmd_buf_free(struct wsjwt__pmd_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int buf_reserve(struct wsjwt__pmd_buf *b, size_t want, size_t limit)
{
    if (b->cap - b->len >= want)
        return 0;
    size_t need = b->len + want;
    if (need < b->len || need > limit)
        need = limit;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need && cap <= SIZE_MAX / 2)
        cap *= 2;
    if (cap < need)
        cap = need;
    if (cap > limit)
        cap = limit;
    if (cap <= b->cap)
        return 0;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return WSJWT_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* Points the stream's output at the free end of out; returns the room
 * given (zlib counts in uInt). */
static uInt set_out(z_stream *zs, struct wsjwt__pmd_buf *out)
{
    size_t room = out->cap - out->len;
    uInt avail = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
    zs->next_out = out->data + out->len;
    zs->avail_out = avail;
    return avail;
}

int wsjwt__pmd_mem_level(unsigned bits)
{
    /* Measured at level 1 on 1 KiB text: memLevel 6 deflates (with the
     * per-message reset of no context takeover) in 2.1 us against 2.7 us at
     * zlib's default 8, which clears a 64 KiB hash table at every reset; a
     * 15-bit deflater then takes 160 KB instead of 256 KB. A block holds
     * 2^(memLevel + 6) symbols, and zlib can store incompressible data as is
     * only while the block's bytes are still in its window: so small windows
     * take small blocks (bits - 7), at 5 bytes of overhead each (2% at 9
     * bits, 0.1% at 15: within wsjwt__pmd_wire_cap). */
    int m = (int)bits - 7;
    return m < 1 ? 1 : m > 6 ? 6 : m;
}

int wsjwt__pmd_deflate_init(z_stream *zs, unsigned bits)
{
    memset(zs, 0, sizeof(*zs));
    int level = PMD_LEVEL;
    if (bits < 9) {
        bits = 9;
        level = 0; /* stored blocks: no back-references, any window reads them */
    }
    if (bits > 15)
        bits = 15;
    int rc = deflateInit2(zs, level, Z_DEFLATED, -(int)bits, wsjwt__pmd_mem_level(bits), Z_DEFAULT_STRATEGY);
    return rc == Z_OK ? 0 : WSJWT_ENOMEM;
}

int wsjwt__pmd_inflate_init(z_stream *zs, unsigned bits)
{
    memset(zs, 0, sizeof(*zs));
    if (bits < 8 || bits > 15)
        bits = 15;
    return inflateInit2(zs, -(int)bits) == Z_OK ? 0 : WSJWT_ENOMEM;
}

int wsjwt__pmd_deflate(z_stream *zs, const uint8_t *in, size_t len, int no_takeover,
                       struct wsjwt__pmd_buf *out)
{
    size_t start = out->len;
    if (len == 0) {
        /* RFC 7692 7.2.3.6: an empty message is one byte, an empty stored
         * block's first byte (the tail completes it). Asking zlib instead
         * would fail after an earlier flush: a second sync flush with no
         * new input produces nothing. */
        if (buf_reserve(out, 1, SIZE_MAX) != 0)
            return WSJWT_ENOMEM;
        out->data[out->len++] = 0x00;
        if (no_takeover)
            deflateReset(zs);
        return 0;
    }
    zs->next_in = (Bytef *)(uintptr_t)in;
    /* zlib counts in uInt: feed a huge message in pieces. */
    size_t left = len;
    for (;;) {
        uInt piece = left > (size_t)UINT32_MAX ? UINT32_MAX : (uInt)left;
        zs->avail_in = piece;
        left -= piece;
        int flush = left ? Z_NO_FLUSH : Z_SYNC_FLUSH;
        do {
            /* deflateBound covers a whole stream; a sync flush adds at most
             * its 5-byte empty block and a partial byte. */
            size_t want = (size_t)deflateBound(zs, zs->avail_in) + 16;
            if (buf_reserve(out, want, SIZE_MAX) != 0) {
                deflateReset(zs);
                out->len = start;
                return WSJWT_ENOMEM;
            }
            uInt avail = set_out(zs, out);
            int rc = deflate(zs, flush);
            out->len += avail - zs->avail_out;
            if (rc != Z_OK && rc != Z_BUF_ERROR) {
                deflateReset(zs);
                out->len = start;
                return WSJWT_EIO;
            }
        } while (zs->avail_out == 0 || zs->avail_in != 0);
        if (!left)
            break;
    }
    if (out->len - start < 4 || memcmp(out->data + out->len - 4, pmd_tail, 4) != 0) {
        deflateReset(zs);
        out->len = start;
        return WSJWT_EIO;
    }
    out->len -= 4;
    if (no_takeover)
        deflateReset(zs);
    return 0;
}

/* Inflates in/len into out (at most max bytes). *ended: a BFINAL block ended
 * the stream (the rest of the input is ignored). */
static int inflate_part(z_stream *zs, const uint8_t *in, size_t len, size_t max, struct wsjwt__pmd_buf *out,
                        int *ended)
{
    const uint8_t *p = in;
    size_t left = len;
    /* Room for one byte past the cap: inflate writing it proves the message
     * too big, without inflating any further. */
    size_t limit = max == SIZE_MAX ? max : max + 1;
    do {
        uInt piece = left > (size_t)UINT32_MAX ? UINT32_MAX : (uInt)left;
        zs->next_in = (Bytef *)(uintptr_t)p;
        zs->avail_in = piece;
        p += piece;
        left -= piece;
        for (;;) {
            if (out->len == out->cap) {
                if (out->cap >= limit)
                    return WSJWT_EWS_MESSAGE_TOO_BIG;
                /* Guess 4x the input, the common ratio for text (a uInt
                 * times 4 fits a 64-bit size_t; buf_reserve caps at limit). */
                size_t want = (size_t)zs->avail_in * 4u + 64u;
                if (buf_reserve(out, want, limit) != 0)
                    return WSJWT_ENOMEM;
            }
            uInt avail = set_out(zs, out);
            int rc = inflate(zs, Z_SYNC_FLUSH);
            out->len += avail - zs->avail_out;
            if (out->len > max)
                return WSJWT_EWS_MESSAGE_TOO_BIG;
            if (rc == Z_STREAM_END) {
                *ended = 1;
                return 0;
            }
            if (rc == Z_MEM_ERROR)
                return WSJWT_ENOMEM;
            if (rc != Z_OK && rc != Z_BUF_ERROR)
                return WSJWT_EWS_INFLATE;
            if (zs->avail_out != 0)
                break; /* all input taken and all output written */
        }
    } while (left);
    return 0;
}

int wsjwt__pmd_inflate(z_stream *zs, const uint8_t *in, size_t len, int no_takeover, size_t max,
                       struct wsjwt__pmd_buf *out)
{
    int ended = 0;
    int rc = inflate_part(zs, in, len, max, out, &ended);
    if (rc == 0 && !ended)
        rc = inflate_part(zs, pmd_tail, sizeof(pmd_tail), max, out, &ended);
    /* A stream ended by BFINAL (RFC 7692 7.2.3.5) cannot continue: the next
     * message starts a new one. */
    if (rc != 0 || ended || no_takeover)
        inflateReset(zs);
    return rc;
}

/* ---- one endpoint's streams ---------------------------------------------------------- */

void wsjwt__pmd_ctx_init(struct wsjwt__pmd_ctx *x, unsigned def_bits, int def_reset, unsigned inf_bits,
                         int inf_reset)
{
    memset(x, 0, sizeof(*x));
    x->def_bits = (uint8_t)def_bits;
    x->inf_bits = (uint8_t)inf_bits;
    x->def_reset = def_reset != 0;
    x->inf_reset = inf_reset != 0;
}

void wsjwt__pmd_ctx_from_params(struct wsjwt__pmd_ctx *x, const struct wsjwt__pmd_params *p, int server)
{
    if (server)
        wsjwt__pmd_ctx_init(x, wsjwt__pmd_server_bits(p), p->server_no_context_takeover,
                            wsjwt__pmd_client_bits(p), p->client_no_context_takeover);
    else
        wsjwt__pmd_ctx_init(x, wsjwt__pmd_client_bits(p), p->client_no_context_takeover,
                            wsjwt__pmd_server_bits(p), p->server_no_context_takeover);
}

int wsjwt__pmd_ctx_deflate(struct wsjwt__pmd_ctx *x, const uint8_t *in, size_t len,
                           struct wsjwt__pmd_buf *out)
{
    if (!x->def_ready) {
        if (wsjwt__pmd_deflate_init(&x->def, x->def_bits) != 0)
            return WSJWT_ENOMEM;
        x->def_ready = 1;
    }
    return wsjwt__pmd_deflate(&x->def, in, len, x->def_reset, out);
}

int wsjwt__pmd_ctx_inflate(struct wsjwt__pmd_ctx *x, const uint8_t *in, size_t len, size_t max,
                           struct wsjwt__pmd_buf *out)
{
    if (!x->inf_ready) {
        if (wsjwt__pmd_inflate_init(&x->inf, x->inf_bits) != 0)
            return WSJWT_ENOMEM;
        x->inf_ready = 1;
    }
    return wsjwt__pmd_inflate(&x->inf, in, len, x->inf_reset, max, out);
}

void wsjwt__pmd_ctx_free(struct wsjwt__pmd_ctx *x)
{
    if (x->def_ready)
        deflateEnd(&x->def);
    if (x->inf_ready)
        inflateEnd(&x->inf);
    x->def_ready = x->inf_ready = 0;
}
