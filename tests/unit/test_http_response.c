/* Response writers (101, refusals), the client's request writer, and the
 * client's response-head parser and 101 checks. What is written is parsed
 * back with our own parsers, so the two sides are tested against each other
 * as well as against exact bytes. */
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

static void test_101(void **state)
{
    (void)state;
    char buf[512];
    size_t n;
    char acc[WSJWT_WS_ACCEPT_LEN];
    wsjwt__ws_accept(S("dGhlIHNhbXBsZSBub25jZQ=="), acc);
    struct wsjwt__http_101 r = {acc, NULL, 0, NULL, 0};
    const char want[] = "HTTP/1.1 101 Switching Protocols\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                        "\r\n";
    assert_int_equal(wsjwt__http_101_size(&r), sizeof(want) - 1);
    assert_int_equal(wsjwt__http_write_101(buf, sizeof(buf), &r, &n), 0);
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(buf, want, n);
    r.protocol = WSJWT_TOKEN_SUBPROTOCOL;
    r.protocol_len = strlen(WSJWT_TOKEN_SUBPROTOCOL);
    r.extensions = "permessage-deflate; server_no_context_takeover";
    r.extensions_len = strlen(r.extensions);
    const char want2[] = "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                         "Sec-WebSocket-Protocol: access_token\r\n"
                         "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
                         "\r\n";
    size_t sz = wsjwt__http_101_size(&r);
    assert_int_equal(sz, sizeof(want2) - 1);
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(wsjwt__http_write_101(buf, sz - 1, &r, &n), WSJWT_ETOOBIG);
    assert_int_equal(n, 0);
    assert_int_equal(buf[0], 'Z');
    assert_int_equal(wsjwt__http_write_101(buf, sz, &r, &n), 0);
    assert_memory_equal(buf, want2, sz);
}

/* Parse a written refusal back; check status, headers and that the body is
 * exactly Content-Length bytes. */
static void parse_back(const char *buf, size_t n, int status, const char *hname, const char *hvalue)
{
    struct wsjwt__http_parser p;
    struct wsjwt__http_header hs[64];
    struct wsjwt__http_response res;
    size_t hl;
    wsjwt__http_parser_init(&p, 0, 0);
    assert_int_equal(wsjwt__http_response_parse(&p, buf, n, hs, 64, &res, &hl), 0);
    assert_int_equal(res.status, status);
    size_t pos = 0;
    const struct wsjwt__http_header *h = wsjwt__http_find(hs, res.num_headers, "Content-Length", &pos);
    assert_non_null(h);
    assert_int_equal(strtoul(h->value, NULL, 10), n - hl);
    pos = 0;
    h = wsjwt__http_find(hs, res.num_headers, "Connection", &pos);
    assert_non_null(h);
    assert_memory_equal(h->value, "close", 5);
    if (hname) {
        pos = 0;
        h = wsjwt__http_find(hs, res.num_headers, hname, &pos);
        assert_non_null(h);
        assert_int_equal(h->value_len, strlen(hvalue));
        assert_memory_equal(h->value, hvalue, h->value_len);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    char buf[1024];
    size_t n;
    const char want401[] = "HTTP/1.1 401 Unauthorized\r\n"
                           "WWW-Authenticate: Bearer realm=\"wsjwt\", error=\"invalid_token\"\r\n"
                           "Content-Type: text/plain\r\n"
                           "Content-Length: 13\r\n"
                           "Connection: close\r\n"
                           "\r\n"
                           "Unauthorized\n";
    assert_int_equal(wsjwt__http_refusal_size(401, NULL), sizeof(want401) - 1);
    assert_int_equal(wsjwt__http_write_refusal(buf, sizeof(buf), 401, NULL, &n), 0);
    assert_int_equal(n, sizeof(want401) - 1);
    assert_memory_equal(buf, want401, n);
    assert_int_equal(wsjwt__http_write_refusal(buf, sizeof(buf), 401, "", &n), 0);
    assert_int_equal(n, sizeof(want401) - 1);
    /* A description is sanitised for the quoted string. */
    assert_int_equal(wsjwt__http_write_refusal(buf, sizeof(buf), 401, "jwt \"expired\"\r\n\\x\x80", &n), 0);
    parse_back(buf, n, 401, "WWW-Authenticate",
               "Bearer realm=\"wsjwt\", error=\"invalid_token\", error_description=\"jwt ?expired???\?x?\"");
    assert_int_equal(n, wsjwt__http_refusal_size(401, "jwt \"expired\"\r\n\\x\x80"));
    char longd[400];
    memset(longd, 'd', sizeof(longd) - 1);
    longd[sizeof(longd) - 1] = 0;
    assert_int_equal(wsjwt__http_write_refusal(buf, sizeof(buf), 401, longd, &n), 0);
    assert_int_equal(n, sizeof(want401) - 1 + strlen(", error_description=\"\"") + 200);
    const struct {
        int status;
        const char *line;
        const char *hname, *hvalue;
    } cases[] = {
        {400, "HTTP/1.1 400 Bad Request\r\n", NULL, NULL},
        {403, "HTTP/1.1 403 Forbidden\r\n", NULL, NULL},
        {405, "HTTP/1.1 405 Method Not Allowed\r\n", "Allow", "GET"},
        {426, "HTTP/1.1 426 Upgrade Required\r\n", "Sec-WebSocket-Version", "13"},
        {431, "HTTP/1.1 431 Request Header Fields Too Large\r\n", NULL, NULL},
        {503, "HTTP/1.1 503 Service Unavailable\r\n", NULL, NULL},
        {408, "HTTP/1.1 408 Request Timeout\r\n", NULL, NULL},
        {413, "HTTP/1.1 413 Payload Too Large\r\n", NULL, NULL},
        {500, "HTTP/1.1 500 Internal Server Error\r\n", NULL, NULL},
        {418, "HTTP/1.1 500 Internal Server Error\r\n", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t sz = wsjwt__http_refusal_size(cases[i].status, "ignored");
        assert_int_equal(wsjwt__http_write_refusal(buf, sz - 1, cases[i].status, "ignored", &n),
                         WSJWT_ETOOBIG);
        assert_true(sz < sizeof(buf));
        assert_int_equal(wsjwt__http_write_refusal(buf, sz, cases[i].status, "ignored", &n), 0);
        assert_int_equal(n, sz);
        assert_memory_equal(buf, cases[i].line, strlen(cases[i].line));
        parse_back(buf, n, cases[i].status == 418 ? 500 : cases[i].status, cases[i].hname, cases[i].hvalue);
        buf[n] = 0;
        assert_null(strstr(buf, "ignored"));
    }
}

/* ---- client request ---------------------------------------------------------- */

static void test_client_request(void **state)
{
    (void)state;
    char buf[1024], key[WSJWT_WS_KEY_LEN + 1];
    size_t n;
    wsjwt__ws_key_encode((const uint8_t *)"the sample nonce", key);
    key[WSJWT_WS_KEY_LEN] = 0;
    struct wsjwt__http_header extra[] = {{S("token"), S("abc.def.ghi")}, {S("X-Trace"), S("1")}};
    struct wsjwt__http_client_request r = {
        "server.example.com:8080", "/chat?x=1",          key,   "access_token, abc.def.ghi",
        "permessage-deflate",      "http://example.com", extra, 2};
    const char want[] = "GET /chat?x=1 HTTP/1.1\r\n"
                        "Host: server.example.com:8080\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: access_token, abc.def.ghi\r\n"
                        "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                        "Origin: http://example.com\r\n"
                        "token: abc.def.ghi\r\n"
                        "X-Trace: 1\r\n"
                        "\r\n";
    size_t sz = wsjwt__http_client_request_size(&r);
    assert_int_equal(sz, sizeof(want) - 1);
    assert_int_equal(wsjwt__http_write_client_request(buf, sz - 1, &r, &n), WSJWT_ETOOBIG);
    assert_int_equal(wsjwt__http_write_client_request(buf, sz, &r, &n), 0);
    assert_int_equal(n, sz);
    assert_memory_equal(buf, want, n);
    /* Our server side accepts it and finds the token twice (same value). */
    struct wsjwt__http_parser p;
    struct wsjwt__http_header hs[64];
    struct wsjwt__http_request req;
    struct wsjwt__ws_handshake hsk;
    struct wsjwt__http_token_config cfg;
    struct wsjwt__http_token tok;
    size_t hl;
    wsjwt__http_parser_init(&p, 0, 0);
    assert_int_equal(wsjwt__http_request_parse(&p, buf, n, hs, 64, &req, &hl), 0);
    assert_int_equal(wsjwt__http_handshake_check(&req, &hsk), 0);
    wsjwt__http_token_config_init(&cfg);
    assert_int_equal(wsjwt__http_token_extract(&req, &cfg, NULL, 0, &tok), 0);
    assert_int_equal(tok.sources, WSJWT__TOKEN_HEADER | WSJWT__TOKEN_SUBPROTOCOL);
    /* Minimal form; an empty target becomes "/". */
    struct wsjwt__http_client_request m = {"h", "", key, NULL, NULL, NULL, NULL, 0};
    assert_int_equal(wsjwt__http_write_client_request(buf, sizeof(buf), &m, &n), 0);
    assert_int_equal(n, wsjwt__http_client_request_size(&m));
    assert_memory_equal(buf, "GET / HTTP/1.1\r\nHost: h\r\n", 25);
    /* Header injection is refused. */
    struct wsjwt__http_client_request bad = m;
    bad.host = "h\r\nX: y";
    assert_int_equal(wsjwt__http_write_client_request(buf, sizeof(buf), &bad, &n), WSJWT_EINVAL);
    bad = m;
    bad.target = "/a b";
    assert_int_equal(wsjwt__http_write_client_request(buf, sizeof(buf), &bad, &n), WSJWT_EINVAL);
    bad = m;
    bad.key = "short";
    assert_int_equal(wsjwt__http_write_client_request(buf, sizeof(buf), &bad, &n), WSJWT_EINVAL);
    bad = m;
    bad.host = NULL;
    assert_int_equal(wsjwt__http_write_client_request(buf, sizeof(buf), &bad, &n), WSJWT_EINVAL);
    struct wsjwt__http_header evil[] = {{S("token"), S("a\nb")}};
    bad = m;
    bad.extra = evil;
    bad.n_extra = 1;
    assert_int_equal(wsjwt__http_write_client_request(buf, sizeof(buf), &bad, &n), WSJWT_EINVAL);
    struct wsjwt__http_header evil2[] = {{S("to:ken"), S("ab")}};
    bad.extra = evil2;
    assert_int_equal(wsjwt__http_write_client_request(buf, sizeof(buf), &bad, &n), WSJWT_EINVAL);
}

/* ---- client: response parsing and checks ----------------------------------------- */

static void test_response_parse(void **state)
{
    (void)state;
    const char ok[] = "HTTP/1.1 101 Switching Protocols\r\n"
                      "Upgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                      "\r\n"
                      "\x81\x02hi";
    struct head_result r = parse_all(1, S(ok), 0, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.head_len, sizeof(ok) - 1 - 4);
    assert_string_equal(r.dump, "1 101 [Switching Protocols]\n"
                                "[Upgrade]=[websocket]\n"
                                "[Connection]=[Upgrade]\n"
                                "[Sec-WebSocket-Accept]=[s3pPLMBiTxaQ9kYGzzhZRbK+xOo=]\n");
    r = parse_all(1, S("HTTP/1.1 401\r\nWWW-Authenticate: Bearer\r\n\r\n"), 0, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.dump, "1 401 []\n[WWW-Authenticate]=[Bearer]\n");
    r = parse_all(1, S("HTTP/1.1 401 \r\n\r\n"), 0, 0);
    assert_int_equal(r.rc, 0);
    /* RFC 7230 3.1.2: HTAB, SP, VCHAR and obs-text make a reason. */
    r = parse_all(1, S("HTTP/1.1 401 No\tWay \xc3\xa9~\r\n\r\n"), 0, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.dump, "1 401 [No\tWay \xc3\xa9~]\n");
    r = parse_all(1, S("HTTP/1.1 101 Switching"), 0, 0);
    assert_int_equal(r.rc, WSJWT_EAGAIN);
    const char *bad[] = {
        "HTTP/1.0 101 Switching Protocols\r\n\r\n",
        "HTTP/2 101\r\n\r\n",
        "HTTP/1.1 10 Short\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 1O1 Letter\r\n\r\n",
        "HTTP/1.1  101 Two spaces\r\n\r\n",
        "HTTP/1.1 101 Bad\x01reason\r\n\r\n",
        "HTTP/1.1 101 Bad\x7freason\r\n\r\n",
        "HTTP/1.1 101 Bare\rCR\r\n\r\n",
        "HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n",
        "HTTP/1.1 101 OK\r\n folded\r\n\r\n",
        "HTTP/1.1 101 OK\nUpgrade: websocket\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("bad %zu\n", i);
        r = parse_all(1, bad[i], strlen(bad[i]), 0, 0);
        assert_int_equal(r.rc, WSJWT_EHTTP_RESPONSE);
    }
    /* Caps. */
    static char big[9000];
    size_t o = (size_t)sprintf(big, "HTTP/1.1 101 OK\r\n");
    for (int i = 0; i < 3; i++)
        o += (size_t)sprintf(big + o, "H%d: v\r\n", i);
    o += (size_t)sprintf(big + o, "\r\n");
    assert_int_equal(parse_all(1, big, o, 0, 3).rc, 0);
    assert_int_equal(parse_all(1, big, o, 0, 2).rc, WSJWT_EHTTP_TOO_MANY_HEADERS);
    assert_int_equal(parse_all(1, big, o, o, 0).rc, 0);
    assert_int_equal(parse_all(1, big, o, o - 1, 0).rc, WSJWT_EHTTP_HEAD_TOO_LARGE);
}

static int check_resp(const char *s, const char *protocols, struct wsjwt__ws_client_result *out, int *status)
{
    static struct wsjwt__http_header hs[64];
    struct wsjwt__http_parser p;
    struct wsjwt__http_response res;
    size_t hl;
    wsjwt__http_parser_init(&p, 0, 0);
    assert_int_equal(wsjwt__http_response_parse(&p, s, strlen(s), hs, 64, &res, &hl), 0);
    *status = res.status;
    return wsjwt__http_response_check(&res, "dGhlIHNhbXBsZSBub25jZQ==", protocols, out);
}

#define R101 "HTTP/1.1 101 Switching Protocols\r\n"
#define UPG  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define ACC  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"

static void test_response_check(void **state)
{
    (void)state;
    struct wsjwt__ws_client_result out;
    int status;
    assert_int_equal(check_resp(R101 UPG ACC "\r\n", NULL, &out, &status), 0);
    assert_null(out.protocol);
    assert_null(out.extensions);
    assert_int_equal(check_resp(R101 "upgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n" ACC
                                     "Sec-WebSocket-Protocol: access_token\r\n"
                                     "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                                "access_token, abc.def", &out, &status),
                     0);
    assert_int_equal(out.protocol_len, 12);
    assert_memory_equal(out.protocol, "access_token", 12);
    assert_int_equal(out.extensions_len, strlen("permessage-deflate"));
    /* Offered but not selected is the server's right. */
    assert_int_equal(check_resp(R101 UPG ACC "\r\n", "chat", &out, &status), 0);
    const struct {
        const char *s;
        const char *protocols;
        int want;
    } cases[] = {
        {"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", NULL, WSJWT_EHTTP_STATUS},
        {"HTTP/1.1 200 OK\r\n" UPG ACC "\r\n", NULL, WSJWT_EHTTP_STATUS},
        {R101 "Connection: Upgrade\r\n" ACC "\r\n", NULL, WSJWT_EHTTP_RESPONSE},
        {R101 "Upgrade: websocket\r\n" ACC "\r\n", NULL, WSJWT_EHTTP_RESPONSE},
        {R101 "Upgrade: h2c\r\nConnection: Upgrade\r\n" ACC "\r\n", NULL, WSJWT_EHTTP_RESPONSE},
        {R101 UPG "\r\n", NULL, WSJWT_EHTTP_ACCEPT},
        {R101 UPG ACC ACC "\r\n", NULL, WSJWT_EHTTP_ACCEPT},
        {R101 UPG "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n\r\n", NULL, WSJWT_EHTTP_ACCEPT},
        {R101 UPG "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n\r\n", NULL, WSJWT_EHTTP_ACCEPT},
        {R101 UPG ACC "Sec-WebSocket-Protocol: chat\r\n\r\n", NULL, WSJWT_EHTTP_PROTOCOL},
        {R101 UPG ACC "Sec-WebSocket-Protocol: chat\r\n\r\n", "superchat, chatty", WSJWT_EHTTP_PROTOCOL},
        {R101 UPG ACC "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n", "chat, superchat",
         WSJWT_EHTTP_PROTOCOL},
        {R101 UPG ACC "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n\r\n", "chat",
         WSJWT_EHTTP_PROTOCOL},
        {R101 UPG ACC "Sec-WebSocket-Protocol:\r\n\r\n", "chat", WSJWT_EHTTP_PROTOCOL},
        {R101 UPG ACC "Sec-WebSocket-Extensions: a\r\nSec-WebSocket-Extensions: b\r\n\r\n", NULL,
         WSJWT_EHTTP_RESPONSE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case %zu\n", i);
        assert_int_equal(check_resp(cases[i].s, cases[i].protocols, &out, &status), cases[i].want);
    }
    assert_int_equal(check_resp(cases[0].s, NULL, &out, &status), WSJWT_EHTTP_STATUS);
    assert_int_equal(status, 401);
    /* Our own 101 and refusals pass and fail our own client. */
    char buf[512], acc[WSJWT_WS_ACCEPT_LEN];
    size_t n;
    wsjwt__ws_accept(S("dGhlIHNhbXBsZSBub25jZQ=="), acc);
    struct wsjwt__http_101 r = {acc, S("access_token"), NULL, 0};
    assert_int_equal(wsjwt__http_write_101(buf, sizeof(buf) - 1, &r, &n), 0);
    buf[n] = 0;
    assert_int_equal(check_resp(buf, "access_token, x", &out, &status), 0);
    assert_int_equal(wsjwt__http_write_refusal(buf, sizeof(buf) - 1, 401, NULL, &n), 0);
    buf[n] = 0;
    assert_int_equal(check_resp(buf, NULL, &out, &status), WSJWT_EHTTP_STATUS);
    assert_int_equal(status, 401);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_101),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_client_request),
        cmocka_unit_test(test_response_parse),
        cmocka_unit_test(test_response_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
