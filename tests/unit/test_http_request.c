/* Request-head parsing, RFC 6455 4.2.1 checks, token extraction and the
 * Origin policy. Heads run whole, per byte and in random splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"
#include "http_split.h"

#define S(lit) lit, sizeof(lit) - 1

/* RFC 6455 1.2's example handshake. */
static const char rfc_req[] = "GET /chat HTTP/1.1\r\n"
                              "Host: server.example.com\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Origin: http://example.com\r\n"
                              "Sec-WebSocket-Protocol: chat, superchat\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "\r\n";

static void test_parse_rfc_example(void **state)
{
    (void)state;
    struct head_result r = parse_all(0, S(rfc_req), 0, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.head_len, sizeof(rfc_req) - 1);
    assert_string_equal(r.dump, "[GET] [/chat] [/chat] q=0 [] 1.1\n"
                                "[Host]=[server.example.com]\n"
                                "[Upgrade]=[websocket]\n"
                                "[Connection]=[Upgrade]\n"
                                "[Sec-WebSocket-Key]=[dGhlIHNhbXBsZSBub25jZQ==]\n"
                                "[Origin]=[http://example.com]\n"
                                "[Sec-WebSocket-Protocol]=[chat, superchat]\n"
                                "[Sec-WebSocket-Version]=[13]\n");
}

static void test_parse_details(void **state)
{
    (void)state;
    /* Query split from the path; values trimmed; empty values; obs-text;
     * bytes after the head are not the head's (a pipelined frame). */
    const char req[] = "GET /ws/a?token=a%2Eb&x=1?y HTTP/1.1\r\n"
                       "Host:h\r\n"
                       "X-Empty:   \r\n"
                       "X-Tab:\t v \t\r\n"
                       "X-Obs: caf\xc3\xa9\r\n"
                       "\r\n"
                       "\x81\x85";
    struct head_result r = parse_all(0, S(req), 0, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.head_len, sizeof(req) - 3);
    assert_string_equal(r.dump, "[GET] [/ws/a?token=a%2Eb&x=1?y] [/ws/a] q=1 [token=a%2Eb&x=1?y] 1.1\n"
                                "[Host]=[h]\n"
                                "[X-Empty]=[]\n"
                                "[X-Tab]=[v]\n"
                                "[X-Obs]=[caf\xc3\xa9]\n");
    /* A later minor version is HTTP/1.1 "or higher"; an empty query. */
    r = parse_all(0, S("POST /? HTTP/1.2\r\n\r\n"), 0, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.dump, "[POST] [/?] [/] q=1 [] 1.2\n");
    /* Absolute-form (RFC 9112 3.2.2, RFC 6455 4.2.1): the path and query of
     * an http or https URI, "/" when it has no path. */
    r = parse_all(0, S("GET http://example.com:8080/chat?token=a HTTP/1.1\r\nHost: h\r\n\r\n"), 0, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.dump, "[GET] [http://example.com:8080/chat?token=a] [/chat] q=1 [token=a] 1.1\n"
                                "[Host]=[h]\n");
    r = parse_all(0, S("GET HTTPS://[::1]?token=a HTTP/1.1\r\n\r\n"), 0, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.dump, "[GET] [HTTPS://[::1]?token=a] [/] q=1 [token=a] 1.1\n");
    r = parse_all(0, S("GET http://x HTTP/1.1\r\n\r\n"), 0, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.dump, "[GET] [http://x] [/] q=0 [] 1.1\n");
    /* Incomplete heads wait. */
    r = parse_all(0, S("GET / HTTP/1.1\r\nHost: x\r\n"), 0, 0);
    assert_int_equal(r.rc, WSJWT_EAGAIN);
    r = parse_all(0, S("GET / HTTP/1.1\r\nHost: x\r\n\r"), 0, 0);
    assert_int_equal(r.rc, WSJWT_EAGAIN);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int want;
    } cases[] = {
        {"GET / HTTP/1.1\nHost: x\r\n\r\n", WSJWT_EHTTP_MALFORMED}, /* bare LF */
        {"GET / HTTP/1.1\r\nHost: x\n", WSJWT_EHTTP_MALFORMED},     /* bare LF, head incomplete */
        {"\n", WSJWT_EHTTP_MALFORMED},
        {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", WSJWT_EHTTP_MALFORMED}, /* obs-fold */
        {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", WSJWT_EHTTP_MALFORMED},           /* space before colon */
        {"GET / HTTP/1.1\r\n: x\r\n\r\n", WSJWT_EHTTP_MALFORMED},                /* empty name */
        {"GET / HTTP/1.1\r\nHo(st: x\r\n\r\n", WSJWT_EHTTP_MALFORMED},           /* not a tchar */
        {"GET / HTTP/1.1\r\nHost x\r\n\r\n", WSJWT_EHTTP_MALFORMED},             /* no colon */
        {"GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n", WSJWT_EHTTP_MALFORMED},       /* control byte */
        {"GET / HTTP/1.1\r\nHost: a\x7fz\r\n\r\n", WSJWT_EHTTP_MALFORMED},       /* DEL */
        {"GET / HTTP/1.1\r\nHost: a\rz\r\n\r\n", WSJWT_EHTTP_MALFORMED},         /* bare CR */
        {"GET ftp://x/ HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},                /* not http(s) */
        {"GET ws://x/ HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},                 /* not http(s) */
        {"GET http:/x/ HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET httpx://x/ HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET http:///a HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},         /* no host */
        {"GET http:// HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},           /* no host */
        {"GET http://u@x/ HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},       /* userinfo */
        {"GET http://x/\xc3\xa9 HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED}, /* raw non-ASCII */
        {"GET h HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET * HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET /a b HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET  / HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED}, /* raw non-ASCII target */
        {"GET / http/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET / HTTP/1.1 \r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET / HTTP/1.x\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET /\r\n\r\n", WSJWT_EHTTP_MALFORMED}, /* HTTP/0.9 */
        {"\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {" GET / HTTP/1.1\r\n\r\n", WSJWT_EHTTP_MALFORMED},
        {"GET / HTTP/1.0\r\nHost: x\r\n\r\n", WSJWT_EHTTP_VERSION},
        {"GET / HTTP/2.0\r\n\r\n", WSJWT_EHTTP_VERSION},
        {"GET / HTTP/0.9\r\n\r\n", WSJWT_EHTTP_VERSION},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case %zu\n", i);
        struct head_result r = parse_all(0, cases[i].s, strlen(cases[i].s), 0, 0);
        assert_int_equal(r.rc, cases[i].want);
        assert_int_equal(r.head_len, 0);
    }
    /* headers_cap below max_headers is the caller's bug. */
    struct wsjwt__http_parser p;
    struct wsjwt__http_header hs[4];
    struct wsjwt__http_request req;
    size_t hl;
    wsjwt__http_parser_init(&p, 0, 5);
    assert_int_equal(wsjwt__http_request_parse(&p, S(rfc_req), hs, 4, &req, &hl), WSJWT_EINVAL);
}

/* The head cap at N and N + 1 bytes, and the header count at N and N + 1. */
static void test_parse_caps(void **state)
{
    (void)state;
    static char buf[9000];
    for (size_t target = 100; target <= 8192; target += 8092) {
        for (size_t cap = target - 1; cap <= target + 1; cap++) {
            /* A head of exactly `target` bytes: pad a header value. */
            const char *pre = "GET / HTTP/1.1\r\nX: ";
            size_t pad = target - strlen(pre) - 4;
            strcpy(buf, pre);
            memset(buf + strlen(pre), 'a', pad);
            memcpy(buf + strlen(pre) + pad, "\r\n\r\n", 4);
            size_t n = target;
            struct head_result r = parse_all(0, buf, n, cap, 0);
            assert_int_equal(r.rc, target <= cap ? 0 : WSJWT_EHTTP_HEAD_TOO_LARGE);
            /* Without the end of head, the cap still ends the wait. */
            r = parse_all(0, buf, n - 4, cap, 0);
            assert_int_equal(r.rc, n - 4 >= cap ? WSJWT_EHTTP_HEAD_TOO_LARGE : WSJWT_EAGAIN);
        }
    }
    /* The default is 8 KiB. */
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET / HTTP/1.1\r\nX: ", 19);
    struct head_result r = parse_all(0, buf, 8192, 0, 0);
    assert_int_equal(r.rc, WSJWT_EHTTP_HEAD_TOO_LARGE);
    r = parse_all(0, buf, 8191, 0, 0);
    assert_int_equal(r.rc, WSJWT_EAGAIN);
    for (size_t count = 63; count <= 65; count++) {
        size_t o = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
        for (size_t i = 0; i < count; i++)
            o += (size_t)sprintf(buf + o, "H%zu: v\r\n", i);
        o += (size_t)sprintf(buf + o, "\r\n");
        r = parse_all(0, buf, o, 0, 0);
        assert_int_equal(r.rc, count <= 64 ? 0 : WSJWT_EHTTP_TOO_MANY_HEADERS);
        r = parse_all(0, buf, o, 0, count);
        assert_int_equal(r.rc, 0);
        r = parse_all(0, buf, o, 0, count - 1);
        assert_int_equal(r.rc, WSJWT_EHTTP_TOO_MANY_HEADERS);
    }
}

/* ---- handshake ---------------------------------------------------------------- */

static struct wsjwt__http_header hdrs[256];

static int parse_req(const char *s, struct wsjwt__http_request *req)
{
    struct wsjwt__http_parser p;
    size_t hl;
    wsjwt__http_parser_init(&p, 0, 0);
    return wsjwt__http_request_parse(&p, s, strlen(s), hdrs, 256, req, &hl);
}

static int check(const char *s)
{
    struct wsjwt__http_request req;
    struct wsjwt__ws_handshake hs;
    int rc = parse_req(s, &req);
    if (rc)
        return rc;
    return wsjwt__http_handshake_check(&req, &hs);
}

#define KEY  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define VER  "Sec-WebSocket-Version: 13\r\n"
#define UPG  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define HOST "Host: x\r\n"

static void test_handshake_ok(void **state)
{
    (void)state;
    struct wsjwt__http_request req;
    struct wsjwt__ws_handshake hs;
    assert_int_equal(parse_req(rfc_req, &req), 0);
    assert_int_equal(wsjwt__http_handshake_check(&req, &hs), 0);
    assert_int_equal(hs.key_len, 24);
    assert_memory_equal(hs.key, "dGhlIHNhbXBsZSBub25jZQ==", 24);
    assert_int_equal(hs.host_len, strlen("server.example.com"));
    assert_int_equal(hs.origin_len, strlen("http://example.com"));
    assert_true(hs.has_protocols);
    assert_false(hs.has_extensions);
    /* Names and list tokens in any case; "keep-alive, Upgrade"; Upgrade in
     * a list; lists split over several headers; no Origin. */
    const char *ok[] = {
        "GET / HTTP/1.1\r\nhost: x\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n",
        "GET / HTTP/1.1\r\n" HOST
        "Upgrade: h2c, websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n" KEY VER "\r\n",
        "GET / HTTP/1.1\r\n" HOST UPG KEY "Sec-WebSocket-Version:   13  \r\nSec-WebSocket-Extensions: "
        "permessage-deflate\r\n\r\n",
        "GET / HTTP/1.1\r\n" HOST UPG "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n" VER "\r\n",
        "GET / HTTP/1.1\r\n" HOST UPG "Sec-WebSocket-Key: ++++//////++++++++9999==\r\n" VER "\r\n",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        print_message("ok %zu\n", i);
        assert_int_equal(parse_req(ok[i], &req), 0);
        assert_int_equal(wsjwt__http_handshake_check(&req, &hs), 0);
        assert_null(hs.origin);
        assert_int_equal(hs.has_extensions, i == 2);
    }
}

static void test_handshake_errors(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int want;
    } cases[] = {
        {"POST / HTTP/1.1\r\n" HOST UPG KEY VER "\r\n", WSJWT_EHTTP_METHOD},
        {"get / HTTP/1.1\r\n" HOST UPG KEY VER "\r\n", WSJWT_EHTTP_METHOD},
        {"HEAD / HTTP/1.1\r\n" HOST UPG KEY VER "\r\n", WSJWT_EHTTP_METHOD},
        {"POST / HTTP/1.1\r\n\r\n", WSJWT_EHTTP_METHOD}, /* method first: 405 even when all else is wrong */
        {"GET / HTTP/1.1\r\n" UPG KEY VER "\r\n", WSJWT_EHTTP_HOST},
        {"GET / HTTP/1.1\r\nHost:\r\n" UPG KEY VER "\r\n", WSJWT_EHTTP_HOST},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n" UPG KEY VER "\r\n", WSJWT_EHTTP_HOST},
        {"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n" UPG KEY VER "\r\n", WSJWT_EHTTP_HOST},
        {"GET / HTTP/1.1\r\n" HOST "Connection: Upgrade\r\n" KEY VER "\r\n", WSJWT_EHTTP_NOT_UPGRADE},
        {"GET / HTTP/1.1\r\n" HOST "Upgrade: h2c\r\nConnection: Upgrade\r\n" KEY VER "\r\n",
         WSJWT_EHTTP_NOT_UPGRADE},
        {"GET / HTTP/1.1\r\n" HOST "Upgrade: websockets\r\nConnection: Upgrade\r\n" KEY VER "\r\n",
         WSJWT_EHTTP_NOT_UPGRADE},
        {"GET / HTTP/1.1\r\n" HOST "Upgrade: websocket\r\n" KEY VER "\r\n", WSJWT_EHTTP_NOT_UPGRADE},
        {"GET / HTTP/1.1\r\n" HOST "Upgrade: websocket\r\nConnection: keep-alive\r\n" KEY VER "\r\n",
         WSJWT_EHTTP_NOT_UPGRADE},
        {"GET / HTTP/1.1\r\n" HOST "Upgrade: websocket\r\nConnection: Upgraded\r\n" KEY VER "\r\n",
         WSJWT_EHTTP_NOT_UPGRADE},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY "\r\n", WSJWT_EHTTP_WS_VERSION},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY "Sec-WebSocket-Version: 8\r\n\r\n", WSJWT_EHTTP_WS_VERSION},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY "Sec-WebSocket-Version: 13, 8\r\n\r\n", WSJWT_EHTTP_WS_VERSION},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY VER VER "\r\n", WSJWT_EHTTP_WS_VERSION},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY "Sec-WebSocket-Version: 130\r\n\r\n", WSJWT_EHTTP_WS_VERSION},
        {"GET / HTTP/1.1\r\n" HOST UPG VER "\r\n", WSJWT_EHTTP_WS_KEY},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY KEY VER "\r\n", WSJWT_EHTTP_WS_KEY},
        {"GET / HTTP/1.1\r\n" HOST UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n" VER "\r\n",
         WSJWT_EHTTP_WS_KEY},
        {"GET / HTTP/1.1\r\n" HOST UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n" VER "\r\n",
         WSJWT_EHTTP_WS_KEY},
        {"GET / HTTP/1.1\r\n" HOST UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ===\r\n" VER "\r\n",
         WSJWT_EHTTP_WS_KEY}, /* 15 bytes */
        {"GET / HTTP/1.1\r\n" HOST UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ-_\r\n" VER "\r\n",
         WSJWT_EHTTP_WS_KEY},
        {"GET / HTTP/1.1\r\n" HOST UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZS-ub25jZQ==\r\n" VER "\r\n",
         WSJWT_EHTTP_WS_KEY}, /* base64url alphabet */
        {"GET / HTTP/1.1\r\n" HOST UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSBub25jZQ==\r\n" VER "\r\n",
         WSJWT_EHTTP_WS_KEY},
        {"GET / HTTP/1.1\r\n" HOST UPG "Sec-WebSocket-Key:\r\n" VER "\r\n", WSJWT_EHTTP_WS_KEY},
        {"GET / HTTP/1.1\r\n" HOST UPG KEY VER "Origin: a\r\nOrigin: b\r\n\r\n", WSJWT_EHTTP_MALFORMED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case %zu\n", i);
        assert_int_equal(check(cases[i].s), cases[i].want);
    }
    /* The parser never yields HTTP/1.0, but a hand-built request is still
     * checked. */
    struct wsjwt__http_request req;
    struct wsjwt__ws_handshake hs;
    assert_int_equal(parse_req(rfc_req, &req), 0);
    req.minor_version = 0;
    assert_int_equal(wsjwt__http_handshake_check(&req, &hs), WSJWT_EHTTP_VERSION);
    /* What the peer is told. */
    assert_int_equal(wsjwt_err_http_status(WSJWT_EHTTP_METHOD), 405);
    assert_int_equal(wsjwt_err_http_status(WSJWT_EHTTP_WS_VERSION), 426);
    assert_int_equal(wsjwt_err_http_status(WSJWT_EHTTP_HEAD_TOO_LARGE), 431);
    assert_int_equal(wsjwt_err_http_status(WSJWT_EHTTP_ORIGIN), 403);
}

/* ---- tokens --------------------------------------------------------------------- */

static int extract(const char *s, const struct wsjwt__http_token_config *cfg, char *out, size_t cap,
                   int *source, int *sources)
{
    struct wsjwt__http_request req;
    struct wsjwt__http_token tok;
    static char scratch[256];
    assert_int_equal(parse_req(s, &req), 0);
    int rc = wsjwt__http_token_extract(&req, cfg, scratch, sizeof(scratch), &tok);
    if (rc == 0) {
        assert_true(tok.len < cap);
        memcpy(out, tok.ptr, tok.len);
        out[tok.len] = 0;
        *source = tok.source;
        *sources = tok.sources;
    } else {
        assert_null(tok.ptr);
    }
    return rc;
}

static void test_tokens(void **state)
{
    (void)state;
    struct wsjwt__http_token_config all, def;
    wsjwt__http_token_config_init(&def);
    all = def;
    all.query = "access_token";
    all.cookie = "jwt";
    char out[256];
    int src, srcs;
    static const struct {
        const char *s;
        int all_only; /* found only with query/cookie on */
        int rc;
        const char *tok;
        int source, sources;
    } cases[] = {
        {"GET / HTTP/1.1\r\ntoken: abc.def.ghi\r\n\r\n", 0, 0, "abc.def.ghi", 1, 1},
        {"GET / HTTP/1.1\r\nTOKEN:  abc \r\n\r\n", 0, 0, "abc", 1, 1},
        {"GET / HTTP/1.1\r\nAuthorization: Bearer abc\r\n\r\n", 0, 0, "abc", 2, 2},
        {"GET / HTTP/1.1\r\nauthorization: bEaReR    abc\r\n\r\n", 0, 0, "abc", 2, 2},
        {"GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n", 0, WSJWT_EHTTP_NO_TOKEN, NULL, 0, 0},
        {"GET / HTTP/1.1\r\nAuthorization: Bearerabc\r\n\r\n", 0, WSJWT_EHTTP_NO_TOKEN, NULL, 0, 0},
        {"GET / HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n", 0, WSJWT_EHTTP_NO_TOKEN, NULL, 0, 0},
        {"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: access_token, abc\r\n\r\n", 0, 0, "abc", 4, 4},
        {"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: chat, access_token,abc, other\r\n\r\n", 0, 0, "abc", 4,
         4},
        {"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: access_token\r\nSec-WebSocket-Protocol: abc\r\n\r\n", 0,
         0, "abc", 4, 4},
        {"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: access_token\r\n\r\n", 0, WSJWT_EHTTP_NO_TOKEN, NULL, 0,
         0},
        {"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: Access_Token, abc\r\n\r\n", 0, WSJWT_EHTTP_NO_TOKEN, NULL,
         0, 0},
        {"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: chat, abc\r\n\r\n", 0, WSJWT_EHTTP_NO_TOKEN, NULL, 0, 0},
        {"GET /?access_token=abc HTTP/1.1\r\n\r\n", 1, 0, "abc", 8, 8},
        {"GET /p?x=1&access_token=a%2eb%2Bc+d&y HTTP/1.1\r\n\r\n", 1, 0, "a.b+c d", 8, 8},
        {"GET /?access_token=a%2 HTTP/1.1\r\n\r\n", 1, WSJWT_EHTTP_MALFORMED, NULL, 0, 0},
        {"GET /?access_token=a%zz HTTP/1.1\r\n\r\n", 1, WSJWT_EHTTP_MALFORMED, NULL, 0, 0},
        {"GET /?access_token=&access_token= HTTP/1.1\r\n\r\n", 1, WSJWT_EHTTP_NO_TOKEN, NULL, 0, 0},
        {"GET /?access_tokens=abc HTTP/1.1\r\n\r\n", 1, WSJWT_EHTTP_NO_TOKEN, NULL, 0, 0},
        {"GET /?access_token=abc&access_token=abd HTTP/1.1\r\n\r\n", 1, WSJWT_EHTTP_TOKEN_CONFLICT, NULL, 0,
         0},
        {"GET / HTTP/1.1\r\nCookie: a=1; jwt=abc; b=2\r\n\r\n", 1, 0, "abc", 16, 16},
        {"GET / HTTP/1.1\r\nCookie: jwt=\"abc\"\r\n\r\n", 1, 0, "abc", 16, 16},
        {"GET / HTTP/1.1\r\nCookie: xjwt=abc;jwtx=abc\r\n\r\n", 1, WSJWT_EHTTP_NO_TOKEN, NULL, 0, 0},
        {"GET / HTTP/1.1\r\nCookie: a=1\r\nCookie: jwt=abc\r\n\r\n", 1, 0, "abc", 16, 16},
        /* The same token in several places is one token. */
        {"GET /?access_token=abc HTTP/1.1\r\ntoken: abc\r\nAuthorization: Bearer abc\r\n"
         "Sec-WebSocket-Protocol: access_token, abc\r\nCookie: jwt=abc\r\n\r\n",
         0, 0, "abc", 1, 31},
        {"GET / HTTP/1.1\r\ntoken: abc\r\ntoken: abc\r\n\r\n", 0, 0, "abc", 1, 1},
        /* Two different ones are refused. */
        {"GET / HTTP/1.1\r\ntoken: abc\r\ntoken: abd\r\n\r\n", 0, WSJWT_EHTTP_TOKEN_CONFLICT, NULL, 0, 0},
        {"GET / HTTP/1.1\r\ntoken: abc\r\nAuthorization: Bearer abd\r\n\r\n", 0, WSJWT_EHTTP_TOKEN_CONFLICT,
         NULL, 0, 0},
        {"GET / HTTP/1.1\r\nAuthorization: Bearer abc\r\nSec-WebSocket-Protocol: access_token, x\r\n\r\n", 0,
         WSJWT_EHTTP_TOKEN_CONFLICT, NULL, 0, 0},
        {"GET /?access_token=x HTTP/1.1\r\ntoken: abc\r\n\r\n", 0, WSJWT_EHTTP_TOKEN_CONFLICT, NULL, 0, 0},
        {"GET / HTTP/1.1\r\ntoken: abc\r\nCookie: jwt=x\r\n\r\n", 0, WSJWT_EHTTP_TOKEN_CONFLICT, NULL, 0, 0},
        {"GET / HTTP/1.1\r\ntoken:\r\n\r\n", 0, WSJWT_EHTTP_NO_TOKEN, NULL, 0, 0},
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, WSJWT_EHTTP_NO_TOKEN, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case %zu\n", i);
        int rc = extract(cases[i].s, &all, out, sizeof(out), &src, &srcs);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_string_equal(out, cases[i].tok);
            assert_int_equal(src, cases[i].source);
            assert_int_equal(srcs, cases[i].sources);
        }
        /* With the defaults, query and cookie are not looked at. */
        rc = extract(cases[i].s, &def, out, sizeof(out), &src, &srcs);
        if (cases[i].all_only)
            assert_int_equal(rc, WSJWT_EHTTP_NO_TOKEN);
        else if (cases[i].rc == 0)
            assert_int_equal(rc, 0);
    }
    /* Sources can be turned off and renamed. */
    struct wsjwt__http_token_config none = {NULL, 0, 0, NULL, NULL};
    assert_int_equal(extract("GET /?access_token=a HTTP/1.1\r\ntoken: a\r\nAuthorization: Bearer a\r\n"
                             "Sec-WebSocket-Protocol: access_token, a\r\nCookie: jwt=a\r\n\r\n",
                             &none, out, sizeof(out), &src, &srcs),
                     WSJWT_EHTTP_NO_TOKEN);
    struct wsjwt__http_token_config named = {"X-Auth", 0, 0, "t", "c"};
    assert_int_equal(
        extract("GET / HTTP/1.1\r\nx-auth: q\r\ntoken: z\r\n\r\n", &named, out, sizeof(out), &src, &srcs), 0);
    assert_string_equal(out, "q");
    /* The decoded query token must fit the scratch. */
    struct wsjwt__http_request req;
    struct wsjwt__http_token tok;
    char small[4];
    assert_int_equal(parse_req("GET /?t=abcd HTTP/1.1\r\n\r\n", &req), 0);
    assert_int_equal(wsjwt__http_token_extract(&req, &named, small, 4, &tok), 0);
    assert_int_equal(parse_req("GET /?t=abcde HTTP/1.1\r\n\r\n", &req), 0);
    assert_int_equal(wsjwt__http_token_extract(&req, &named, small, 4, &tok), WSJWT_ETOOBIG);
    assert_int_equal(wsjwt__http_token_extract(&req, &named, NULL, 0, &tok), WSJWT_ETOOBIG);
    assert_int_equal(wsjwt_err_http_status(WSJWT_EHTTP_NO_TOKEN), 401);
    assert_int_equal(wsjwt_err_http_status(WSJWT_EHTTP_TOKEN_CONFLICT), 400);
}

static void test_origin(void **state)
{
    (void)state;
    const char *allow[] = {"https://app.example.com", "http://localhost:3000"};
    assert_int_equal(wsjwt__http_origin_check(S("https://app.example.com"), allow, 2, 0), 0);
    assert_int_equal(wsjwt__http_origin_check(S("http://localhost:3000"), allow, 2, 1), 0);
    assert_int_equal(wsjwt__http_origin_check(S("https://app.example.com.evil"), allow, 2, 0),
                     WSJWT_EHTTP_ORIGIN);
    assert_int_equal(wsjwt__http_origin_check(S("https://app.example.co"), allow, 2, 0), WSJWT_EHTTP_ORIGIN);
    assert_int_equal(wsjwt__http_origin_check(S("HTTPS://APP.EXAMPLE.COM"), allow, 2, 0), WSJWT_EHTTP_ORIGIN);
    assert_int_equal(wsjwt__http_origin_check(S("null"), allow, 2, 0), WSJWT_EHTTP_ORIGIN);
    assert_int_equal(wsjwt__http_origin_check(NULL, 0, allow, 2, 0), 0);
    assert_int_equal(wsjwt__http_origin_check(NULL, 0, allow, 2, 1), WSJWT_EHTTP_ORIGIN);
    assert_int_equal(wsjwt__http_origin_check(S("https://any"), NULL, 0, 0), 0);
}

static void test_helpers(void **state)
{
    (void)state;
    assert_true(wsjwt__http_name_eq(S("sec-websocket-KEY"), "Sec-WebSocket-Key"));
    assert_false(wsjwt__http_name_eq(S("Sec-WebSocket-Ke"), "Sec-WebSocket-Key"));
    const char *v = " , a ,, b\t,c d ,";
    const char *cur = v, *e;
    size_t n;
    const char *want[] = {"a", "b", "c d"};
    for (int i = 0; i < 3; i++) {
        assert_true(wsjwt__http_list_next(&cur, v + strlen(v), &e, &n));
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(e, want[i], n);
    }
    assert_false(wsjwt__http_list_next(&cur, v + strlen(v), &e, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rfc_example),
        cmocka_unit_test(test_parse_details),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_caps),
        cmocka_unit_test(test_handshake_ok),
        cmocka_unit_test(test_handshake_errors),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
