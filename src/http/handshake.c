/* Server side of the opening handshake: RFC 6455 4.2.1 checks, the accept
 * value (4.2.2), the Origin policy (10.2) and token extraction. */
#include "http/http.h"

#include <string.h>

#include "base/b64.h"
#include "base/hex.h"
#include "base/sha1.h"

/* RFC 6455 1.3: the GUID appended to the key before hashing. */
static const char ws_guid[] = WSJWT__WS_GUID;

static int b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* 4.2.1 item 5: a base64 value that decodes to 16 bytes is 22 base64
 * characters and "==". The two unused bits of the 22nd character are not
 * checked, as the reference peers (Node ws) do not check them either. */
static int key_ok(const char *k, size_t n)
{
    if (n != WSJWT_WS_KEY_LEN || k[22] != '=' || k[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!b64_char(k[i]))
            return 0;
    return 1;
}

/* The headers 4.2.1 looks at, found in one pass over the request. */
enum { H_HOST, H_UPGRADE, H_CONNECTION, H_VERSION, H_KEY, H_ORIGIN, H_PROTOCOL, H_EXTENSIONS, H_COUNT };

static const struct {
    const char *name;
    size_t len;
} wanted[H_COUNT] = {
    {"Host", 4},
    {"Upgrade", 7},
    {"Connection", 10},
    {"Sec-WebSocket-Version", 21},
    {"Sec-WebSocket-Key", 17},
    {"Origin", 6},
    {"Sec-WebSocket-Protocol", 22},
    {"Sec-WebSocket-Extensions", 24},
};

/* Name length -> index in `wanted`, -1 for none. */
static const int8_t by_len[25] = {
    -1, -1, -1, -1, H_HOST, -1, H_ORIGIN, H_UPGRADE, -1,        -1,         H_CONNECTION, -1,          -1,
    -1, -1, -1, -1, H_KEY,  -1, -1,       -1,        H_VERSION, H_PROTOCOL, -1,           H_EXTENSIONS};

int wsjwt__http_handshake_check(const struct wsjwt__http_request *req, struct wsjwt__ws_handshake *hs)
{
    const struct wsjwt__http_header *first[H_COUNT] = {0};
    unsigned count[H_COUNT] = {0};
    int upgrade_ws = 0, connection_upgrade = 0;
    memset(hs, 0, sizeof(*hs));
    /* 4.2.1 item 1: "an HTTP/1.1 or higher GET request". Methods are case
     * sensitive (RFC 7230 3.1.1): "get" is another method. */
    if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0)
        return WSJWT_EHTTP_METHOD;
    if (req->minor_version < 1)
        return WSJWT_EHTTP_VERSION;
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct wsjwt__http_header *h = &req->headers[i];
        /* The eight names have eight different lengths: the length picks
         * the one candidate to compare. */
        if (h->name_len >= sizeof(by_len) || by_len[h->name_len] < 0)
            continue;
        unsigned k = (unsigned)by_len[h->name_len];
        if (!wsjwt__http_ieq(h->name, h->name_len, wanted[k].name, wanted[k].len))
            continue;
        if (!count[k]++)
            first[k] = h;
        /* Items 3 and 4: token lists, compared without case; several
         * headers combine into one list (RFC 7230 3.2.2). */
        if (k == H_UPGRADE)
            upgrade_ws |= wsjwt__http_list_has(h->value, h->value_len, "websocket", 9);
        else if (k == H_CONNECTION)
            connection_upgrade |= wsjwt__http_list_has(h->value, h->value_len, "upgrade", 7);
    }
    /* Item 2; RFC 7230 5.4: a request with no Host or with several is 400. */
    const struct wsjwt__http_header *h = first[H_HOST];
    if (count[H_HOST] != 1 || h->value_len == 0)
        return WSJWT_EHTTP_HOST;
    hs->host = h->value;
    hs->host_len = h->value_len;
    if (!upgrade_ws || !connection_upgrade)
        return WSJWT_EHTTP_NOT_UPGRADE;
    /* Item 6 and 4.4: anything but one "13" earns 426 with the version we
     * speak. */
    h = first[H_VERSION];
    if (count[H_VERSION] != 1 || h->value_len != 2 || memcmp(h->value, "13", 2) != 0)
        return WSJWT_EHTTP_WS_VERSION;
    /* Item 5: one key, base64 of 16 bytes. Two keys cannot both be answered. */
    h = first[H_KEY];
    if (count[H_KEY] != 1 || !key_ok(h->value, h->value_len))
        return WSJWT_EHTTP_WS_KEY;
    hs->key = h->value;
    hs->key_len = h->value_len;
    /* Item 7: one Origin at most; two would let a request pick the one the
     * allow-list likes. */
    if (count[H_ORIGIN] > 1)
        return WSJWT_EHTTP_MALFORMED;
    if (count[H_ORIGIN] == 1) {
        hs->origin = first[H_ORIGIN]->value;
        hs->origin_len = first[H_ORIGIN]->value_len;
    }
    hs->has_protocols = count[H_PROTOCOL] > 0;
    hs->has_extensions = count[H_EXTENSIONS] > 0;
    return 0;
}

void wsjwt__ws_accept(const char *key, size_t key_len, char out[WSJWT_WS_ACCEPT_LEN])
{
    struct wsjwt__sha1 s;
    uint8_t digest[WSJWT__SHA1_LEN];
    wsjwt__sha1_init(&s);
    wsjwt__sha1_update(&s, key, key_len);
    wsjwt__sha1_update(&s, ws_guid, sizeof(ws_guid) - 1);
    wsjwt__sha1_final(&s, digest);
    wsjwt__ws_accept_encode(digest, out);
}

void wsjwt__ws_accept_encode(const uint8_t digest[20], char out[WSJWT_WS_ACCEPT_LEN])
{
    char b64[WSJWT_WS_ACCEPT_LEN + 1];
    wsjwt__b64_encode(digest, 20, b64);
    memcpy(out, b64, WSJWT_WS_ACCEPT_LEN);
}

void wsjwt__ws_key_encode(const uint8_t nonce[16], char key[WSJWT_WS_KEY_LEN])
{
    char b64[WSJWT_WS_KEY_LEN + 1];
    wsjwt__b64_encode(nonce, 16, b64);
    memcpy(key, b64, WSJWT_WS_KEY_LEN);
}

int wsjwt__http_origin_check(const char *origin, size_t origin_len, const char *const *allow, size_t n,
                             int require_origin)
{
    if (!origin)
        return require_origin ? WSJWT_EHTTP_ORIGIN : 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(allow[i]) == origin_len && memcmp(allow[i], origin, origin_len) == 0)
            return 0;
    return WSJWT_EHTTP_ORIGIN;
}

/* ---- token extraction ------------------------------------------------------ */

void wsjwt__http_token_config_init(struct wsjwt__http_token_config *cfg)
{
    cfg->header = "token";
    cfg->bearer = 1;
    cfg->subprotocol = 1;
    cfg->query = NULL;
    cfg->cookie = NULL;
}

/* Record a candidate: the first one is the token, a different one later is a
 * conflict (a proxy may add one token and the client another: refusing is
 * the only answer that cannot authorise the wrong one). */
static int offer(struct wsjwt__http_token *tok, const char *p, size_t n, int source)
{
    if (n == 0)
        return 0;
    if (!tok->ptr) {
        tok->ptr = p;
        tok->len = n;
        tok->source = source;
    } else if (tok->len != n || memcmp(tok->ptr, p, n) != 0) {
        return WSJWT_EHTTP_TOKEN_CONFLICT;
    }
    tok->sources |= source;
    return 0;
}

static int ieq_prefix(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)prefix[i])
            return 0;
    }
    return 1;
}

static int from_bearer(const struct wsjwt__http_request *req, struct wsjwt__http_token *tok)
{
    size_t pos = 0;
    const struct wsjwt__http_header *h;
    while ((h = wsjwt__http_find(req->headers, req->num_headers, "Authorization", &pos))) {
        /* RFC 6750 2.1: "Bearer" 1*SP b64token; the scheme is
         * case-insensitive (RFC 7235 2.1). Other schemes are not ours. */
        if (!ieq_prefix(h->value, h->value_len, "bearer") || h->value_len < 7 || h->value[6] != ' ')
            continue;
        size_t i = 7;
        while (i < h->value_len && h->value[i] == ' ')
            i++;
        int rc = offer(tok, h->value + i, h->value_len - i, WSJWT__TOKEN_BEARER);
        if (rc)
            return rc;
    }
    return 0;
}

static int from_subprotocol(const struct wsjwt__http_request *req, struct wsjwt__http_token *tok)
{
    /* The browser's WebSocket(url, ["access_token", jwt]) sends
     * "Sec-WebSocket-Protocol: access_token, <jwt>": the element after
     * access_token is the token. The list may span several headers.
     * Subprotocol names compare case-sensitively (RFC 6455 4.1). */
    size_t pos = 0;
    int want = 0;
    const struct wsjwt__http_header *h;
    static const char name[] = WSJWT_TOKEN_SUBPROTOCOL;
    while ((h = wsjwt__http_find(req->headers, req->num_headers, "Sec-WebSocket-Protocol", &pos))) {
        const char *cur = h->value, *e;
        size_t elen;
        while (wsjwt__http_list_next(&cur, h->value + h->value_len, &e, &elen)) {
            if (want) {
                want = 0;
                int rc = offer(tok, e, elen, WSJWT__TOKEN_SUBPROTOCOL);
                if (rc)
                    return rc;
            } else if (elen == sizeof(name) - 1 && memcmp(e, name, elen) == 0) {
                want = 1;
            }
        }
    }
    return 0;
}

/* Percent-decode s/n into out (cap bytes), '+' as a space (WHATWG
 * application/x-www-form-urlencoded, what URLSearchParams gives Node). */
static int pct_decode(const char *s, size_t n, char *out, size_t cap, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (n - i < 3 || (hi = wsjwt__hexval((unsigned char)s[i + 1])) < 0 ||
                (lo = wsjwt__hexval((unsigned char)s[i + 2])) < 0)
                return WSJWT_EHTTP_MALFORMED;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o == cap)
            return WSJWT_ETOOBIG;
        out[o++] = c;
    }
    *out_len = o;
    return 0;
}

static int from_query(const struct wsjwt__http_request *req, const char *name, char *scratch, size_t cap,
                      struct wsjwt__http_token *tok)
{
    if (!req->query)
        return 0;
    size_t nlen = strlen(name), used = 0;
    const char *p = req->query, *end = req->query + req->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pend = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pend - p));
        if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
            size_t n = 0;
            char *dst = scratch ? scratch + used : NULL;
            int rc = pct_decode(eq + 1, (size_t)(pend - eq - 1), dst, scratch ? cap - used : 0, &n);
            if (rc)
                return rc;
            rc = offer(tok, dst, n, WSJWT__TOKEN_QUERY);
            if (rc)
                return rc;
            if (n && tok->ptr == dst)
                used += n; /* keep the first one; later equal ones reuse the space */
        }
        p = pend + 1;
    }
    return 0;
}

static int from_cookie(const struct wsjwt__http_request *req, const char *name, struct wsjwt__http_token *tok)
{
    /* RFC 6265 4.2.1: cookie-string = cookie-pair *( ";" SP cookie-pair ). */
    size_t nlen = strlen(name), pos = 0;
    const struct wsjwt__http_header *h;
    while ((h = wsjwt__http_find(req->headers, req->num_headers, "Cookie", &pos))) {
        const char *p = h->value, *end = h->value + h->value_len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *pend = semi ? semi : end;
            const char *eq = memchr(p, '=', (size_t)(pend - p));
            if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
                const char *v = eq + 1, *ve = pend;
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
                    v++;
                    ve--;
                }
                int rc = offer(tok, v, (size_t)(ve - v), WSJWT__TOKEN_COOKIE);
                if (rc)
                    return rc;
            }
            p = pend + 1;
        }
    }
    return 0;
}

int wsjwt__http_token_extract(const struct wsjwt__http_request *req,
                              const struct wsjwt__http_token_config *cfg, char *scratch, size_t scratch_cap,
                              struct wsjwt__http_token *tok)
{
    int rc = 0;
    memset(tok, 0, sizeof(*tok));
    if (cfg->header) {
        size_t pos = 0;
        const struct wsjwt__http_header *h;
        while (!rc && (h = wsjwt__http_find(req->headers, req->num_headers, cfg->header, &pos)))
            rc = offer(tok, h->value, h->value_len, WSJWT__TOKEN_HEADER);
    }
    if (!rc && cfg->bearer)
        rc = from_bearer(req, tok);
    if (!rc && cfg->subprotocol)
        rc = from_subprotocol(req, tok);
    if (!rc && cfg->query)
        rc = from_query(req, cfg->query, scratch, scratch_cap, tok);
    if (!rc && cfg->cookie)
        rc = from_cookie(req, cfg->cookie, tok);
    if (rc) {
        memset(tok, 0, sizeof(*tok));
        return rc;
    }
    return tok->ptr ? 0 : WSJWT_EHTTP_NO_TOKEN;
}
