/* ws:// and wss:// URL parsing (RFC 6455 3; RFC 3986 for the authority).
 * Pure: views into the caller's string, no allocation. */
#include <string.h>

#include <wsjwt/client.h>

static int lower(int ch)
{
    return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

static int prefix_ci(const char *s, size_t len, const char *p)
{
    size_t n = strlen(p);
    if (len < n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != p[i])
            return 0;
    return 1;
}

int wsjwt_url_parse(const char *url, size_t len, struct wsjwt_url *out)
{
    if (!url || !out)
        return WSJWT_EINVAL;
    memset(out, 0, sizeof(*out));
    /* No control characters or spaces anywhere: they would end up in the
     * request line or the Host header (request splitting). */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch == 0x7f)
            return WSJWT_EINVAL;
    }
    size_t pos;
    uint16_t port;
    if (prefix_ci(url, len, "ws://")) {
        pos = 5;
        port = 80;
    } else if (prefix_ci(url, len, "wss://")) {
        pos = 6;
        port = 443;
        out->tls = 1;
    } else {
        return WSJWT_EINVAL;
    }
    size_t auth_end = pos;
    while (auth_end < len && url[auth_end] != '/' && url[auth_end] != '?' && url[auth_end] != '#')
        auth_end++;
    /* RFC 6455 3: fragment identifiers are not allowed in WebSocket URIs. */
    if (memchr(url, '#', len))
        return WSJWT_EINVAL;
    const char *a = url + pos;
    size_t alen = auth_end - pos;
    if (alen == 0 || memchr(a, '@', alen))
        return WSJWT_EINVAL;
    size_t host_end;
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb || rb == a + 1)
            return WSJWT_EINVAL;
        out->host = a + 1;
        out->host_len = (size_t)(rb - a) - 1;
        out->host_is_ipv6 = 1;
        for (size_t i = 0; i < out->host_len; i++) {
            char ch = out->host[i];
            if (!((ch >= '0' && ch <= '9') || (lower(ch) >= 'a' && lower(ch) <= 'f') || ch == ':' ||
                  ch == '.'))
                return WSJWT_EINVAL;
        }
        host_end = (size_t)(rb - a) + 1;
        if (host_end < alen && a[host_end] != ':')
            return WSJWT_EINVAL;
    } else {
        const char *colon = memchr(a, ':', alen);
        host_end = colon ? (size_t)(colon - a) : alen;
        if (host_end == 0)
            return WSJWT_EINVAL;
        out->host = a;
        out->host_len = host_end;
        for (size_t i = 0; i < host_end; i++) {
            char ch = a[i];
            if (!((ch >= '0' && ch <= '9') || (lower(ch) >= 'a' && lower(ch) <= 'z') || ch == '-' ||
                  ch == '.' || ch == '_'))
                return WSJWT_EINVAL;
        }
    }
    if (host_end < alen) { /* ":port" */
        size_t p = host_end + 1;
        if (p == alen || alen - p > 5)
            return WSJWT_EINVAL;
        unsigned v = 0;
        for (; p < alen; p++) {
            if (a[p] < '0' || a[p] > '9')
                return WSJWT_EINVAL;
            v = v * 10 + (unsigned)(a[p] - '0');
        }
        if (v == 0 || v > 65535)
            return WSJWT_EINVAL;
        port = (uint16_t)v;
    }
    out->port = port;
    if (auth_end == len) {
        out->target = "/";
        out->target_len = 1;
    } else if (url[auth_end] == '?') {
        /* "ws://h?q" means path "/" with query "q": the caller builds "/?q"
         * from a target that starts with '?'. */
        out->target = url + auth_end;
        out->target_len = len - auth_end;
    } else {
        out->target = url + auth_end;
        out->target_len = len - auth_end;
    }
    return 0;
}
