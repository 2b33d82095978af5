/* HTTP heads written into caller buffers: the server's 101 and refusals, the
 * client's upgrade request, and the client's check of the 101 (RFC 6455 4.1).
 *
 * Each writer runs twice over the same code: once counting (out.buf NULL) for
 * the _size() helper, once writing, so the two can never disagree. */
#include "http/http.h"

#include <string.h>

struct out {
    char *buf; /* NULL: count only */
    size_t n;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->buf && n)
        memcpy(o->buf + o->n, s, n);
    o->n += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_uint(struct out *o, size_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, tmp + i, sizeof(tmp) - i);
}

static void header(struct out *o, const char *name, const char *value, size_t value_len)
{
    puts_(o, name);
    put(o, ": ", 2);
    put(o, value, value_len);
    put(o, "\r\n", 2);
}

/* ---- 101 ---------------------------------------------------------------- */

/* The 101 that wsjwt serve, Node's ws and most servers send when no
 * subprotocol and no extension was asked for: these bytes exactly, the
 * accept value and CRLF CRLF after them. emit_101 writes them; the client's
 * short way (wsjwt__http_response_canonical) recognises them. Matching it
 * proves what the parser and the check would: status 101, Upgrade:
 * websocket, Connection: Upgrade, exactly one Sec-WebSocket-Accept with the
 * expected value, no subprotocol, no extension, and the head's end. */
static const char canon_head[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: ";
#define CANON_HEAD (sizeof(canon_head) - 1)

static void emit_101(struct out *o, const struct wsjwt__http_101 *r)
{
    put(o, canon_head, CANON_HEAD);
    put(o, r->accept, WSJWT_WS_ACCEPT_LEN);
    put(o, "\r\n", 2);
    if (r->protocol)
        header(o, "Sec-WebSocket-Protocol", r->protocol, r->protocol_len);
    if (r->extensions)
        header(o, "Sec-WebSocket-Extensions", r->extensions, r->extensions_len);
    put(o, "\r\n", 2);
}

size_t wsjwt__http_101_size(const struct wsjwt__http_101 *r)
{
    struct out o = {NULL, 0};
    emit_101(&o, r);
    return o.n;
}

int wsjwt__http_write_101(char *buf, size_t cap, const struct wsjwt__http_101 *r, size_t *written)
{
    *written = 0;
    if (wsjwt__http_101_size(r) > cap)
        return WSJWT_ETOOBIG;
    struct out o = {buf, 0};
    emit_101(&o, r);
    *written = o.n;
    return 0;
}

/* ---- refusals ------------------------------------------------------------ */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return NULL;
    }
}

/* RFC 6750 3: error_description is %x20-21 / %x23-5B / %x5D-7E (no quote,
 * no backslash, no controls). Anything else is replaced, one byte for one,
 * so a log-only detail can never break the header. Capped so a long
 * description cannot bloat a refusal. */
#define MAX_DESCRIPTION 200u

static void emit_refusal(struct out *o, int status, const char *description)
{
    const char *phrase = reason_phrase(status);
    if (!phrase) {
        status = 500;
        phrase = "Internal Server Error";
    }
    put(o, "HTTP/1.1 ", 9);
    put_uint(o, (size_t)status);
    put(o, " ", 1);
    puts_(o, phrase);
    put(o, "\r\n", 2);
    if (status == 401) {
        puts_(o, "WWW-Authenticate: Bearer realm=\"wsjwt\", error=\"invalid_token\"");
        if (description && *description) {
            size_t n = strlen(description);
            if (n > MAX_DESCRIPTION)
                n = MAX_DESCRIPTION;
            puts_(o, ", error_description=\"");
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)description[i];
                char ch = (c < 0x20 || c > 0x7E || c == '"' || c == '\\') ? '?' : (char)c;
                put(o, &ch, 1);
            }
            put(o, "\"", 1);
        }
        put(o, "\r\n", 2);
    } else if (status == 405) {
        puts_(o, "Allow: GET\r\n");
    } else if (status == 426) {
        /* RFC 6455 4.4: name the versions we speak. */
        puts_(o, "Sec-WebSocket-Version: 13\r\n");
    }
    size_t body = strlen(phrase) + 1;
    puts_(o, "Content-Type: text/plain\r\nContent-Length: ");
    put_uint(o, body);
    puts_(o, "\r\nConnection: close\r\n\r\n");
    puts_(o, phrase);
    put(o, "\n", 1);
}

size_t wsjwt__http_refusal_size(int status, const char *description)
{
    struct out o = {NULL, 0};
    emit_refusal(&o, status, description);
    return o.n;
}

int wsjwt__http_write_refusal(char *buf, size_t cap, int status, const char *description, size_t *written)
{
    *written = 0;
    if (wsjwt__http_refusal_size(status, description) > cap)
        return WSJWT_ETOOBIG;
    struct out o = {buf, 0};
    emit_refusal(&o, status, description);
    *written = o.n;
    return 0;
}

/* ---- client request -------------------------------------------------------- */

static int has_crlf(const char *s, size_t n)
{
    return memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL;
}

static int client_valid(const struct wsjwt__http_client_request *r)
{
    if (!r->host || !r->target || !r->key || strlen(r->key) != WSJWT_WS_KEY_LEN)
        return 0;
    const char *s[] = {r->host, r->target, r->key, r->protocols, r->extensions, r->origin};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        if (s[i] && has_crlf(s[i], strlen(s[i])))
            return 0;
    if (strchr(r->target, ' '))
        return 0;
    for (size_t i = 0; i < r->n_extra; i++) {
        const struct wsjwt__http_header *h = &r->extra[i];
        if (!h->name_len || has_crlf(h->name, h->name_len) || memchr(h->name, ':', h->name_len) ||
            has_crlf(h->value, h->value_len))
            return 0;
    }
    return 1;
}

static void emit_client(struct out *o, const struct wsjwt__http_client_request *r)
{
    put(o, "GET ", 4);
    puts_(o, *r->target ? r->target : "/");
    puts_(o, " HTTP/1.1\r\n");
    header(o, "Host", r->host, strlen(r->host));
    puts_(o, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
    header(o, "Sec-WebSocket-Key", r->key, WSJWT_WS_KEY_LEN);
    puts_(o, "Sec-WebSocket-Version: 13\r\n");
    if (r->protocols)
        header(o, "Sec-WebSocket-Protocol", r->protocols, strlen(r->protocols));
    if (r->extensions)
        header(o, "Sec-WebSocket-Extensions", r->extensions, strlen(r->extensions));
    if (r->origin)
        header(o, "Origin", r->origin, strlen(r->origin));
    for (size_t i = 0; i < r->n_extra; i++) {
        put(o, r->extra[i].name, r->extra[i].name_len);
        put(o, ": ", 2);
        put(o, r->extra[i].value, r->extra[i].value_len);
        put(o, "\r\n", 2);
    }
    put(o, "\r\n", 2);
}

size_t wsjwt__http_client_request_size(const struct wsjwt__http_client_request *r)
{
    struct out o = {NULL, 0};
    emit_client(&o, r);
    return o.n;
}

int wsjwt__http_write_client_request(char *buf, size_t cap, const struct wsjwt__http_client_request *r,
                                     size_t *written)
{
    *written = 0;
    if (!client_valid(r))
        return WSJWT_EINVAL;
    if (wsjwt__http_client_request_size(r) > cap)
        return WSJWT_ETOOBIG;
    struct out o = {buf, 0};
    emit_client(&o, r);
    *written = o.n;
    return 0;
}

/* ---- client: checking the 101 ---------------------------------------------- */

/* How many `name` headers; *first = the first (NULL if none). */
static size_t count(const struct wsjwt__http_header *hs, size_t n, const char *name,
                    const struct wsjwt__http_header **first)
{
    size_t pos = 0, cnt = 0;
    const struct wsjwt__http_header *h;
    *first = NULL;
    while ((h = wsjwt__http_find(hs, n, name, &pos)))
        if (!cnt++)
            *first = h;
    return cnt;
}

int wsjwt__http_response_check(const struct wsjwt__http_response *res, const char *key, const char *protocols,
                               struct wsjwt__ws_client_result *out)
{
    char want[WSJWT_WS_ACCEPT_LEN];
    wsjwt__ws_accept(key, strlen(key), want);
    return wsjwt__http_response_check_accept(res, want, protocols, out);
}

int wsjwt__http_response_check_accept(const struct wsjwt__http_response *res, const char *want,
                                      const char *protocols, struct wsjwt__ws_client_result *out)
{
    const struct wsjwt__http_header *hs = res->headers, *first;
    size_t n = res->num_headers;
    memset(out, 0, sizeof(*out));
    if (res->status != 101)
        return WSJWT_EHTTP_STATUS;
    /* RFC 6455 4.1, the client's checks of the server's handshake, 1 to 3. */
    if (!wsjwt__http_has_token(hs, n, "Upgrade", "websocket") ||
        !wsjwt__http_has_token(hs, n, "Connection", "Upgrade"))
        return WSJWT_EHTTP_RESPONSE;
    if (count(hs, n, "Sec-WebSocket-Accept", &first) != 1 || first->value_len != WSJWT_WS_ACCEPT_LEN ||
        memcmp(first->value, want, WSJWT_WS_ACCEPT_LEN) != 0)
        return WSJWT_EHTTP_ACCEPT;
    /* 4.1 item 6: a subprotocol must be one that was offered, and only one. */
    size_t cnt = count(hs, n, "Sec-WebSocket-Protocol", &first);
    if (cnt > 1)
        return WSJWT_EHTTP_PROTOCOL;
    if (cnt == 1) {
        if (!protocols || first->value_len == 0 || memchr(first->value, ',', first->value_len))
            return WSJWT_EHTTP_PROTOCOL;
        const char *cur = protocols, *end = protocols + strlen(protocols), *e;
        size_t elen;
        int found = 0;
        while (!found && wsjwt__http_list_next(&cur, end, &e, &elen))
            found = elen == first->value_len && memcmp(e, first->value, elen) == 0;
        if (!found)
            return WSJWT_EHTTP_PROTOCOL;
        out->protocol = first->value;
        out->protocol_len = first->value_len;
    }
    /* 4.1 item 5: extensions are checked by the caller against its offer;
     * one header keeps the view simple (several are refused with
     * WSJWT_EHTTP_RESPONSE). */
    cnt = count(hs, n, "Sec-WebSocket-Extensions", &first);
    if (cnt > 1)
        return WSJWT_EHTTP_RESPONSE;
    if (cnt == 1) {
        out->extensions = first->value;
        out->extensions_len = first->value_len;
    }
    return 0;
}

#define CANON_LEN (CANON_HEAD + WSJWT_WS_ACCEPT_LEN + 4)

int wsjwt__http_response_canonical(const char *buf, size_t len, const char *accept, size_t *head_len)
{
    *head_len = 0;
    size_t n = len < CANON_HEAD ? len : CANON_HEAD;
    if (memcmp(buf, canon_head, n) != 0)
        return -1;
    if (len > CANON_HEAD) {
        size_t m = len - CANON_HEAD < WSJWT_WS_ACCEPT_LEN ? len - CANON_HEAD : WSJWT_WS_ACCEPT_LEN;
        if (memcmp(buf + CANON_HEAD, accept, m) != 0)
            return -1;
    }
    if (len > CANON_HEAD + WSJWT_WS_ACCEPT_LEN) {
        size_t m = len - CANON_HEAD - WSJWT_WS_ACCEPT_LEN;
        if (memcmp(buf + CANON_HEAD + WSJWT_WS_ACCEPT_LEN, "\r\n\r\n", m < 4 ? m : 4) != 0)
            return -1;
    }
    if (len < CANON_LEN)
        return 0;
    *head_len = CANON_LEN;
    return 1;
}
