/* Incremental HTTP/1.1 head parsing (RFC 7230 sections 3.1 and 3.2), zero
 * copy, for requests (server) and responses (client).
 *
 * Two passes by design: while the head is incomplete, each call only scans
 * the new bytes for the end of the head (CRLF CRLF), so a head trickling in
 * byte by byte costs O(n) in total; once complete, the head is parsed once.
 * A bare LF is refused as soon as it is seen (RFC 7230 3.5 lets a recipient
 * accept it, but a strict parser refusing it early never waits for a CRLF
 * CRLF that a bare-LF client will not send). */
#include "http/http.h"

#include <string.h>

void wsjwt__http_parser_init(struct wsjwt__http_parser *p, size_t max_head, size_t max_headers)
{
    p->max_head = max_head ? max_head : WSJWT_HTTP_DEFAULT_MAX_HEAD;
    p->max_headers = max_headers ? max_headers : WSJWT_HTTP_DEFAULT_MAX_HEADERS;
    p->scanned = 0;
}

/* Find the end of the head in buf[0..len). Returns 0 with *head_len,
 * WSJWT_EAGAIN, WSJWT_EHTTP_HEAD_TOO_LARGE or `malformed` (a bare LF). */
static int find_end(struct wsjwt__http_parser *p, const char *buf, size_t len, size_t *head_len,
                    int malformed)
{
    size_t limit = len < p->max_head ? len : p->max_head;
    size_t i = p->scanned;
    while (i < limit) {
        const char *q = memchr(buf + i, '\n', limit - i);
        if (!q)
            break;
        size_t pos = (size_t)(q - buf);
        if (pos == 0 || buf[pos - 1] != '\r')
            return malformed;
        if (pos >= 3 && buf[pos - 2] == '\n' && buf[pos - 3] == '\r') {
            *head_len = pos + 1;
            p->scanned = pos + 1;
            return 0;
        }
        i = pos + 1;
    }
    p->scanned = limit;
    /* The head's end would lie past max_head bytes. */
    if (len >= p->max_head)
        return WSJWT_EHTTP_HEAD_TOO_LARGE;
    return WSJWT_EAGAIN;
}

/* Byte classes as tables: one load per byte instead of a chain of range
 * tests (the upgrade's head is the largest input a connection parses). */
/* RFC 7230 3.2.6 tchar: method and header-name bytes. */
static const uint8_t tchar_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* RFC 7230 3.2 field-value bytes: HTAB, SP, VCHAR, obs-text. CR, LF, the
 * other controls and DEL end the scan (CR ends a value; the rest are refused). */
static const uint8_t value_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Request-target bytes we accept: visible ASCII (RFC 3986 is ASCII; raw
 * spaces and non-ASCII bytes are refused rather than guessed at). */
static const uint8_t target_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Parse "HTTP/1.x" at *pp; returns x, -1 for bad syntax, -2 for a version
 * that is well formed but not HTTP/1.1 or a later 1.x. */
static int parse_version(const char **pp, const char *end)
{
    const char *p = *pp;
    if (end - p < 8 || memcmp(p, "HTTP/", 5) != 0)
        return -1;
    char maj = p[5], dot = p[6], min = p[7];
    if (maj < '0' || maj > '9' || dot != '.' || min < '0' || min > '9')
        return -1;
    *pp = p + 8;
    if (maj != '1' || min == '0')
        return -2;
    return min - '0';
}

/* Length of "http://" or "https://" (scheme case-insensitive, RFC 3986
 * 3.1) at p, else 0. The head ends in CRLF CRLF, so end bounds the look. */
static size_t absolute_scheme_len(const char *p, const char *end)
{
    static const char http[] = "http";
    size_t n = 0;
    while (n < 4 && end - p > (ptrdiff_t)n && (p[n] | 0x20) == http[n])
        n++;
    if (n < 4 || end - p < 8)
        return 0;
    if ((p[4] | 0x20) == 's')
        n++;
    return memcmp(p + n, "://", 3) == 0 ? n + 3 : 0;
}

/* 1 when none of the 8 bytes at p is a control (< 0x20, HTAB included:
 * the byte loop handles it) or DEL, i.e. all 8 are value_tab bytes. The
 * tests are exact for "some byte is": (x - 0x20 per byte) & ~x & 0x80 per
 * byte is nonzero iff some byte is below 0x20 (borrows only run above a
 * byte that is), and the same after XOR 0x7f finds a DEL. */
static int word_is_plain(const char *p)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t x, y;
    memcpy(&x, p, 8);
    y = x ^ (ones * 0x7f);
    return ((((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & high) == 0;
}

/* Header lines from *pp up to and including the empty line that ends the
 * head (the head is known complete: it ends in CRLF CRLF). */
static int parse_headers(const struct wsjwt__http_parser *ps, const char *p, const char *end,
                         struct wsjwt__http_header *headers, size_t *num, int malformed)
{
    size_t n = 0;
    for (;;) {
        if (end - p < 2)
            return malformed;
        if (p[0] == '\r') {
            if (p[1] != '\n')
                return malformed;
            p += 2;
            break;
        }
        /* RFC 7230 3.2.4: obs-fold (a line starting with SP or HTAB) is
         * refused; no whitespace between the name and the colon. */
        /* The head ends in CRLF CRLF and neither byte is in these tables,
         * so the scans below stop inside the head without bounds checks. */
        const char *name = p;
        while (tchar_tab[(unsigned char)*p])
            p++;
        if (p == name || *p != ':')
            return malformed;
        size_t name_len = (size_t)(p - name);
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *value = p;
        /* Eight bytes at a time while none can end the value (the token's
         * ~200 bytes are most of an upgrade head); the byte loop then stops
         * exactly at the first one that does. */
        while (end - p >= 8 && word_is_plain(p))
            p += 8;
        while (value_tab[(unsigned char)*p])
            p++;
        /* Only CR LF may end a value: other controls (NUL, DEL, a bare CR)
         * are refused, so nothing can be smuggled past a later reader. */
        if (*p != '\r' || end - p < 2 || p[1] != '\n')
            return malformed;
        const char *vend = p;
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        p += 2;
        if (n == ps->max_headers)
            return WSJWT_EHTTP_TOO_MANY_HEADERS;
        headers[n].name = name;
        headers[n].name_len = name_len;
        headers[n].value = value;
        headers[n].value_len = (size_t)(vend - value);
        n++;
    }
    if (p != end)
        return malformed; /* cannot happen: the head ends at its first CRLF CRLF */
    *num = n;
    return 0;
}

int wsjwt__http_request_parse(struct wsjwt__http_parser *ps, const char *buf, size_t len,
                              struct wsjwt__http_header *headers, size_t headers_cap,
                              struct wsjwt__http_request *req, size_t *head_len)
{
    const int bad = WSJWT_EHTTP_MALFORMED;
    size_t hl = 0;
    *head_len = 0;
    int rc = headers_cap < ps->max_headers ? WSJWT_EINVAL : find_end(ps, buf, len, &hl, bad);
    if (rc)
        return rc;

    const char *p = buf, *end = buf + hl;
    /* request-line = method SP request-target SP HTTP-version CRLF */
    req->method = p;
    while (tchar_tab[(unsigned char)*p])
        p++;
    if (p == req->method || *p != ' ')
        return bad;
    req->method_len = (size_t)(p - req->method);
    p++;
    /* request-target: origin-form ("/path?query", RFC 9112 3.2.1), what
     * WebSocket clients send, or absolute-form with an http or https URI
     * (3.2.2), which RFC 6455 4.2.1 allows and RFC 9112 says a server MUST
     * accept. Of an absolute URI the path and query are used; the authority
     * (no userinfo) is skipped, and Host is required all the same (4.2.1).
     * Visible ASCII only. */
    req->target = p;
    if (*p != '/') {
        size_t sl = absolute_scheme_len(p, end);
        if (!sl)
            return bad;
        p += sl;
        const char *auth = p;
        while (target_tab[(unsigned char)*p] && *p != '/' && *p != '?' && *p != '#' && *p != '@')
            p++;
        if (p == auth || *p == '@')
            return bad;
    }
    const char *path = p;
    while (target_tab[(unsigned char)*p])
        p++;
    if (*p != ' ')
        return bad;
    req->target_len = (size_t)(p - req->target);
    const char *q = memchr(path, '?', (size_t)(p - path));
    req->query = q ? q + 1 : NULL;
    req->query_len = q ? (size_t)(p - req->query) : 0;
    req->path = path;
    req->path_len = (size_t)((q ? q : p) - path);
    if (req->path_len == 0 || *path != '/') { /* "http://host" or "http://host?q": path "/" */
        req->path = "/";
        req->path_len = 1;
    }
    p++;
    int minor = parse_version(&p, end);
    if (minor == -1)
        return bad;
    if (minor == -2)
        return WSJWT_EHTTP_VERSION;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
        return bad;
    p += 2;
    req->minor_version = minor;
    req->headers = headers;
    req->num_headers = 0;
    rc = parse_headers(ps, p, end, headers, &req->num_headers, bad);
    if (rc)
        return rc;
    *head_len = hl;
    return 0;
}

int wsjwt__http_response_parse(struct wsjwt__http_parser *ps, const char *buf, size_t len,
                               struct wsjwt__http_header *headers, size_t headers_cap,
                               struct wsjwt__http_response *res, size_t *head_len)
{
    const int bad = WSJWT_EHTTP_RESPONSE;
    size_t hl = 0;
    *head_len = 0;
    int rc = headers_cap < ps->max_headers ? WSJWT_EINVAL : find_end(ps, buf, len, &hl, bad);
    if (rc)
        return rc;

    const char *p = buf, *end = buf + hl;
    /* status-line = HTTP-version SP status-code SP reason-phrase CRLF */
    int minor = parse_version(&p, end);
    if (minor < 0)
        return bad;
    if (end - p < 4 || p[0] != ' ')
        return bad;
    int status = 0;
    for (int i = 1; i <= 3; i++) {
        if (p[i] < '0' || p[i] > '9')
            return bad;
        status = status * 10 + (p[i] - '0');
    }
    if (status < 100)
        return bad;
    p += 4;
    /* The reason may be empty; some servers even omit the SP before it. */
    if (*p == ' ')
        p++;
    /* RFC 7230 3.1.2: reason-phrase = *( HTAB / SP / VCHAR / obs-text ),
     * value_tab's bytes: one load per byte (a refusal's reason is the
     * longest part of its status line; a loop of range tests was 17
     * instructions per byte under callgrind). The head ends in CRLF CRLF
     * and CR is not in the table: the scan stops inside the head, and only
     * at CR LF may the line end. */
    res->reason = p;
    while (value_tab[(unsigned char)*p])
        p++;
    if (*p != '\r' || end - p < 2 || p[1] != '\n')
        return bad;
    res->reason_len = (size_t)(p - res->reason);
    p += 2;
    res->minor_version = minor;
    res->status = status;
    res->headers = headers;
    res->num_headers = 0;
    rc = parse_headers(ps, p, end, headers, &res->num_headers, bad);
    if (rc)
        return rc;
    *head_len = hl;
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

int wsjwt__http_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0;
    if (alen != blen)
        return 0;
    /* Whole words first: peers send the canonical spelling ("Sec-WebSocket-
     * Key"), so most names match byte for byte; the folding loop resumes at
     * the first word that differs. */
    for (; alen - i >= 8; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            break;
    }
    for (; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        /* Equal bytes are the common case; otherwise fold only letters. */
        if (x != y && (x ^ y) != 0x20u)
            return 0;
        if (x != y && ((x | 0x20u) < 'a' || (x | 0x20u) > 'z'))
            return 0;
    }
    return 1;
}

int wsjwt__http_name_eq(const char *a, size_t alen, const char *b)
{
    return wsjwt__http_ieq(a, alen, b, strlen(b));
}

const struct wsjwt__http_header *wsjwt__http_find(const struct wsjwt__http_header *headers, size_t n,
                                                  const char *name, size_t *pos)
{
    size_t nlen = strlen(name);
    for (size_t i = *pos; i < n; i++) {
        /* The length test first, here: most headers differ in it. */
        if (headers[i].name_len == nlen && wsjwt__http_ieq(headers[i].name, nlen, name, nlen)) {
            *pos = i + 1;
            return &headers[i];
        }
    }
    *pos = n;
    return NULL;
}

int wsjwt__http_list_next(const char **cur, const char *end, const char **elem, size_t *elem_len)
{
    const char *p = *cur;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p >= end) {
            *cur = end;
            return 0;
        }
        const char *s = p;
        while (p < end && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *cur = p;
        *elem = s;
        *elem_len = (size_t)(e - s);
        return 1;
    }
}

int wsjwt__http_list_has(const char *value, size_t len, const char *token, size_t token_len)
{
    const char *cur = value, *e;
    size_t elen;
    while (wsjwt__http_list_next(&cur, value + len, &e, &elen))
        if (wsjwt__http_ieq(e, elen, token, token_len))
            return 1;
    return 0;
}

int wsjwt__http_has_token(const struct wsjwt__http_header *headers, size_t n, const char *name,
                          const char *token)
{
    size_t pos = 0, tlen = strlen(token);
    const struct wsjwt__http_header *h;
    while ((h = wsjwt__http_find(headers, n, name, &pos)))
        if (wsjwt__http_list_has(h->value, h->value_len, token, tlen))
            return 1;
    return 0;
}
