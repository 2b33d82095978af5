/* The HTTP side of the WebSocket upgrade: a pure core (libc only, no I/O).
 *
 * Server side: an incremental request-head parser, RFC 6455 4.2.1 handshake
 * validation, token extraction (header, Bearer, subprotocol, query, cookie),
 * Origin checks, and writers for the 101 answer and every refusal.
 * Client side: the upgrade request writer and an incremental response-head
 * parser with the Sec-WebSocket-Accept and subprotocol checks.
 *
 * Views: every `const char *` + length in a parsed request or response points
 * into the caller's buffer and lives exactly as long as those bytes stay in
 * place and unmodified. Nothing here allocates.
 *
 * Return codes: 0 success, WSJWT_EAGAIN "need more input" (not a failure),
 * negative WSJWT_E... otherwise; wsjwt_err_http_status() maps a failure to the
 * status to answer.
 */
#ifndef WSJWT_HTTP_H
#define WSJWT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <wsjwt/error.h>

/* RFC 6455 4.2.1 needs about 300 bytes; browsers send 0.5 to 2 KiB with
 * cookies. 8 KiB is the common server default (nginx, Node's 16 KiB is more
 * generous); it bounds what a slow client can make a connection hold. */
#define WSJWT_HTTP_DEFAULT_MAX_HEAD 8192u
/* Browsers send 10 to 20 headers; 64 leaves room for proxies' additions. */
#define WSJWT_HTTP_DEFAULT_MAX_HEADERS 64u

/* Length of Sec-WebSocket-Accept: base64 of a 20-byte SHA-1, with padding. */
#define WSJWT_WS_ACCEPT_LEN 28u
/* Length of Sec-WebSocket-Key: base64 of a 16-byte nonce, with padding. */
#define WSJWT_WS_KEY_LEN 24u

/* One header line: views into the parsed buffer. The name keeps its case
 * (compare with wsjwt__http_name_eq); the value has no leading or trailing
 * spaces or tabs. */
struct wsjwt__http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* The incremental parser's state and limits, shared by requests and
 * responses. Initialise with wsjwt__http_parser_init for each new head. */
struct wsjwt__http_parser {
    size_t max_head;    /* cap on head bytes including the final CRLF CRLF */
    size_t max_headers; /* cap on header lines */
    size_t scanned;     /* internal: bytes already searched for the head's end */
};

/* A parsed request head. All views point into the buffer given to
 * wsjwt__http_request_parse. */
struct wsjwt__http_request {
    const char *method; /* "GET" */
    size_t method_len;
    const char *path; /* the target's path, up to '?' (always starts with '/') */
    size_t path_len;
    const char *query; /* after '?', without it; NULL when the target has no '?' */
    size_t query_len;
    const char *target; /* the request-target as sent (absolute-form: with scheme, host) */
    size_t target_len;
    int minor_version;                  /* 1 for HTTP/1.1 (the major version is always 1) */
    struct wsjwt__http_header *headers; /* the caller's array, filled */
    size_t num_headers;
};

/* A parsed response head (client side). Views point into the parsed buffer. */
struct wsjwt__http_response {
    int minor_version;
    int status; /* 100..599 */
    const char *reason;
    size_t reason_len;
    struct wsjwt__http_header *headers;
    size_t num_headers;
};

/* Start a new head. max_head 0 means WSJWT_HTTP_DEFAULT_MAX_HEAD, max_headers
 * 0 means WSJWT_HTTP_DEFAULT_MAX_HEADERS. */
void wsjwt__http_parser_init(struct wsjwt__http_parser *p, size_t max_head, size_t max_headers);

/* Parse a request head, push style.
 *
 * buf/len: ALL bytes received so far for this head, from its first byte (the
 * same prefix on every call, growing). The parser remembers how far it has
 * searched, so each call costs only the new bytes until the head is complete;
 * then the head is parsed once. The shell can therefore parse straight in its
 * shared receive buffer and copy bytes into a per-connection buffer only when
 * a call returns WSJWT_EAGAIN.
 *
 * headers/headers_cap: the caller's array; headers_cap must be at least
 * p->max_headers (else WSJWT_EINVAL).
 *
 * Returns:
 *   0                            head complete: *req filled (views into buf),
 *                                *head_len = bytes of the head including the
 *                                final CRLF CRLF (bytes after it are not the
 *                                head's: a client may pipeline frames).
 *   WSJWT_EAGAIN                 valid so far, need more bytes.
 *   WSJWT_EHTTP_HEAD_TOO_LARGE   no end of head within p->max_head bytes.
 *   WSJWT_EHTTP_TOO_MANY_HEADERS more than p->max_headers header lines.
 *   WSJWT_EHTTP_MALFORMED        bad request line or header syntax (bare LF,
 *                                obs-fold, control bytes, bad name, target not
 *                                in origin-form, ...).
 *   WSJWT_EHTTP_VERSION          not HTTP/1.1 or a later HTTP/1.x.
 * The result depends only on the bytes, never on how they were split.
 * Method checks are wsjwt__http_handshake_check's (405 vs 400). */
int wsjwt__http_request_parse(struct wsjwt__http_parser *p, const char *buf, size_t len,
                              struct wsjwt__http_header *headers, size_t headers_cap,
                              struct wsjwt__http_request *req, size_t *head_len);

/* Parse a response head (client side); same contract as the request parser.
 * Returns 0, WSJWT_EAGAIN, WSJWT_EHTTP_HEAD_TOO_LARGE,
 * WSJWT_EHTTP_TOO_MANY_HEADERS, or WSJWT_EHTTP_RESPONSE (any syntax error,
 * including a version other than HTTP/1.x with x >= 1). */
int wsjwt__http_response_parse(struct wsjwt__http_parser *p, const char *buf, size_t len,
                               struct wsjwt__http_header *headers, size_t headers_cap,
                               struct wsjwt__http_response *res, size_t *head_len);

/* ---- helpers over parsed heads ------------------------------------------- */

/* 1 if the header name a/alen equals the NUL-terminated name b ignoring ASCII
 * case, else 0. */
int wsjwt__http_name_eq(const char *a, size_t alen, const char *b);

/* The next header named `name` (case-insensitive) at index >= *pos, or NULL.
 * On a match *pos is set past it, so a loop visits every occurrence:
 *   size_t pos = 0; while ((h = wsjwt__http_find(hs, n, "Cookie", &pos))) ... */
const struct wsjwt__http_header *wsjwt__http_find(const struct wsjwt__http_header *headers, size_t n,
                                                  const char *name, size_t *pos);

/* Iterate a comma-separated list (RFC 7230 7: "#rule", empty elements and
 * spaces around commas skipped). *cur starts at the value, end is value + len.
 * Returns 1 with *elem and *elem_len set to the next element (trimmed), 0 at the
 * end. */
int wsjwt__http_list_next(const char **cur, const char *end, const char **elem, size_t *elem_len);

/* 1 if a/alen equals b/blen ignoring ASCII case. */
int wsjwt__http_ieq(const char *a, size_t alen, const char *b, size_t blen);

/* 1 if the comma list value/len has an element equal to token/token_len
 * ignoring ASCII case. */
int wsjwt__http_list_has(const char *value, size_t len, const char *token, size_t token_len);

/* 1 if any `name` header's comma list has an element equal to token ignoring
 * ASCII case ("keep-alive, Upgrade" contains "upgrade"). */
int wsjwt__http_has_token(const struct wsjwt__http_header *headers, size_t n, const char *name,
                          const char *token);

/* ---- server: RFC 6455 4.2.1 ---------------------------------------------- */

/* What the handshake check found. Views into the request's buffer. */
struct wsjwt__ws_handshake {
    const char *key; /* Sec-WebSocket-Key, WSJWT_WS_KEY_LEN chars */
    size_t key_len;
    const char *host;
    size_t host_len;
    const char *origin; /* NULL when the request has no Origin */
    size_t origin_len;
    int has_protocols;  /* at least one Sec-WebSocket-Protocol header */
    int has_extensions; /* at least one Sec-WebSocket-Extensions header */
};

/* Check a parsed request against RFC 6455 4.2.1, in this order:
 *   method GET (case-sensitive, RFC 7230 3.1.1)  else WSJWT_EHTTP_METHOD (405)
 *   HTTP/1.1 or later                            else WSJWT_EHTTP_VERSION (400)
 *   exactly one non-empty Host                   else WSJWT_EHTTP_HOST (400)
 *   Upgrade list contains "websocket" and
 *   Connection list contains "Upgrade" (any case) else WSJWT_EHTTP_NOT_UPGRADE (400)
 *   exactly one Sec-WebSocket-Version, "13"      else WSJWT_EHTTP_WS_VERSION (426; answer
 *                                                with Sec-WebSocket-Version: 13)
 *   exactly one Sec-WebSocket-Key, base64 of 16 bytes else WSJWT_EHTTP_WS_KEY (400)
 *   at most one Origin                           else WSJWT_EHTTP_MALFORMED (400)
 * Returns 0 and fills *hs on success. */
int wsjwt__http_handshake_check(const struct wsjwt__http_request *req, struct wsjwt__ws_handshake *hs);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + the RFC 6455 GUID)).
 * Writes exactly WSJWT_WS_ACCEPT_LEN chars to out, no NUL. */
void wsjwt__ws_accept(const char *key, size_t key_len, char out[WSJWT_WS_ACCEPT_LEN]);

/* RFC 6455 1.3: the GUID appended to the key before hashing (36 chars). */
#define WSJWT__WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* The second half of wsjwt__ws_accept, for a shell that computes the SHA-1
 * itself (src/server/accept.c, with OpenSSL): base64 of the 20-byte digest,
 * exactly WSJWT_WS_ACCEPT_LEN chars to out, no NUL. */
void wsjwt__ws_accept_encode(const uint8_t digest[20], char out[WSJWT_WS_ACCEPT_LEN]);

/* Origin policy: 0 if allowed, WSJWT_EHTTP_ORIGIN (403) if not.
 * An Origin present must equal one of allow[0..n) byte for byte (browsers
 * send the ASCII serialisation, e.g. "https://app.example.com"). With n == 0
 * every Origin is allowed. A request without Origin (a non-browser client) is
 * allowed unless require_origin is set. */
int wsjwt__http_origin_check(const char *origin, size_t origin_len, const char *const *allow, size_t n,
                             int require_origin);

/* ---- server: token extraction -------------------------------------------- */

enum wsjwt__token_source {
    WSJWT__TOKEN_NONE = 0,
    WSJWT__TOKEN_HEADER = 1,      /* a named header, "token" by default */
    WSJWT__TOKEN_BEARER = 2,      /* Authorization: Bearer <token> */
    WSJWT__TOKEN_SUBPROTOCOL = 4, /* Sec-WebSocket-Protocol: access_token, <token> */
    WSJWT__TOKEN_QUERY = 8,       /* ?name=<token>, percent-decoded */
    WSJWT__TOKEN_COOKIE = 16      /* Cookie: name=<token> */
};

/* The subprotocol a browser offers before its token, and the one the server
 * answers with (never the token itself). */
#define WSJWT_TOKEN_SUBPROTOCOL "access_token"

/* Which sources to look at. NULL names and 0 flags turn a source off.
 * wsjwt__http_token_config_init sets the defaults: header "token", Bearer and
 * subprotocol on, query and cookie off (opt-in: a cookie rides along on
 * cross-site requests, so it needs an Origin allow-list; a query string ends
 * up in access logs). Names are NUL-terminated and owned by the caller. */
struct wsjwt__http_token_config {
    const char *header; /* header name, case-insensitive */
    int bearer;
    int subprotocol;
    const char *query;  /* query parameter name, case-sensitive */
    const char *cookie; /* cookie name, case-sensitive */
};

void wsjwt__http_token_config_init(struct wsjwt__http_token_config *cfg);

/* The token found. */
struct wsjwt__http_token {
    const char *ptr; /* view into the request buffer, or into scratch (query) */
    size_t len;
    int source;  /* the first configured source that had it (enum above) */
    int sources; /* bitmask of every source that carried it (same value) */
};

/* Extract the token from every enabled source, in the order of the enum.
 * Empty values count as absent. A query parameter is percent-decoded ('+' is
 * a space, as URLSearchParams does) into scratch/scratch_cap.
 * Returns:
 *   0                          *tok set. If tok->sources has
 *                              WSJWT__TOKEN_SUBPROTOCOL the 101 must carry
 *                              Sec-WebSocket-Protocol: access_token.
 *   WSJWT_EHTTP_NO_TOKEN       no enabled source carries a token (401).
 *   WSJWT_EHTTP_TOKEN_CONFLICT two different tokens (across sources or in two
 *                              headers of one source) (400).
 *   WSJWT_EHTTP_MALFORMED      a bad percent escape in the query token (400).
 *   WSJWT_ETOOBIG              the decoded query token does not fit scratch
 *                              (a scratch of max_head bytes always fits). */
int wsjwt__http_token_extract(const struct wsjwt__http_request *req,
                              const struct wsjwt__http_token_config *cfg, char *scratch, size_t scratch_cap,
                              struct wsjwt__http_token *tok);

/* ---- server: responses ---------------------------------------------------- */

/* The 101 answer. protocol: the selected subprotocol or NULL (the server sets
 * "access_token" when the token came that way); extensions: the full
 * Sec-WebSocket-Extensions value or NULL. Lengths are the strings' lengths. */
struct wsjwt__http_101 {
    const char *accept; /* WSJWT_WS_ACCEPT_LEN chars */
    const char *protocol;
    size_t protocol_len;
    const char *extensions;
    size_t extensions_len;
};

/* Exact bytes wsjwt__http_write_101 writes. */
size_t wsjwt__http_101_size(const struct wsjwt__http_101 *r);

/* Write the 101 Switching Protocols head into buf. *written = bytes written.
 * Returns 0, or WSJWT_ETOOBIG (nothing written) if cap < the size. */
int wsjwt__http_write_101(char *buf, size_t cap, const struct wsjwt__http_101 *r, size_t *written);

/* Exact bytes wsjwt__http_write_refusal writes for this status and
 * description. */
size_t wsjwt__http_refusal_size(int status, const char *description);

/* Write a refusal: status line, headers, Content-Length, Connection: close
 * and a one-line plain-text body (the reason phrase). Statuses with extra
 * headers:
 *   401  WWW-Authenticate: Bearer realm="wsjwt", error="invalid_token"
 *        [, error_description="<description>"] (description: optional,
 *        NUL-terminated; bytes outside RFC 6750's set become '?', at most 200
 *        bytes are used; NULL or "" for none)
 *   405  Allow: GET
 *   426  Sec-WebSocket-Version: 13
 * Other known statuses: 400, 403, 404, 408, 413, 429, 431, 500, 503; any other
 * status is written as 500. description is only used with 401.
 * Returns 0, or WSJWT_ETOOBIG (nothing written) if cap is too small. */
int wsjwt__http_write_refusal(char *buf, size_t cap, int status, const char *description, size_t *written);

/* ---- client side ---------------------------------------------------------- */

/* Sec-WebSocket-Key from 16 random bytes (the caller's CSPRNG): writes exactly
 * WSJWT_WS_KEY_LEN chars, no NUL. */
void wsjwt__ws_key_encode(const uint8_t nonce[16], char key[WSJWT_WS_KEY_LEN]);

/* What the client sends. NUL-terminated strings owned by the caller.
 * host: the Host header value (with ":port" when not the default);
 * target: path and query ("/" when empty); key: WSJWT_WS_KEY_LEN chars;
 * protocols: the Sec-WebSocket-Protocol value ("access_token, <jwt>") or NULL;
 * extensions: the Sec-WebSocket-Extensions offer or NULL; origin or NULL;
 * extra/n_extra: more headers written verbatim (name: value), e.g. the token.
 * Values must not contain CR or LF (else WSJWT_EINVAL). */
struct wsjwt__http_client_request {
    const char *host;
    const char *target;
    const char *key;
    const char *protocols;
    const char *extensions;
    const char *origin;
    const struct wsjwt__http_header *extra;
    size_t n_extra;
};

/* Exact bytes wsjwt__http_write_client_request writes. */
size_t wsjwt__http_client_request_size(const struct wsjwt__http_client_request *r);

/* Write "GET target HTTP/1.1" with Host, Upgrade: websocket,
 * Connection: Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version: 13, the
 * optional headers and the extra ones. Returns 0, WSJWT_ETOOBIG (cap too
 * small, nothing written) or WSJWT_EINVAL (CR/LF in a value, NULL host, target
 * or key). */
int wsjwt__http_write_client_request(char *buf, size_t cap, const struct wsjwt__http_client_request *r,
                                     size_t *written);

/* What the client learns from a valid 101. Views into the response buffer. */
struct wsjwt__ws_client_result {
    const char *protocol; /* the selected subprotocol, NULL if none */
    size_t protocol_len;
    const char *extensions; /* the Sec-WebSocket-Extensions value, NULL if none
                               (the caller checks it against its offer) */
    size_t extensions_len;
};

/* Check a parsed response against RFC 6455 4.1 for the request sent with key
 * (WSJWT_WS_KEY_LEN chars) and protocols (the offered list as sent, or NULL).
 * Returns:
 *   0                     *out filled.
 *   WSJWT_EHTTP_STATUS    status is not 101 (the application reads
 *                         res->status and res->headers, e.g. 401).
 *   WSJWT_EHTTP_RESPONSE  Upgrade lacks "websocket", Connection lacks
 *                         "Upgrade", or Sec-WebSocket-Extensions repeated.
 *   WSJWT_EHTTP_ACCEPT    Sec-WebSocket-Accept missing, repeated or wrong.
 *   WSJWT_EHTTP_PROTOCOL  a subprotocol that was not offered, more than one,
 *                         or one when none was offered. */
int wsjwt__http_response_check(const struct wsjwt__http_response *res, const char *key, const char *protocols,
                               struct wsjwt__ws_client_result *out);

/* The same check with the expected Sec-WebSocket-Accept value given
 * (WSJWT_WS_ACCEPT_LEN chars) instead of the key: for a shell that computed
 * it already (the client, with OpenSSL's SHA-1). */
int wsjwt__http_response_check_accept(const struct wsjwt__http_response *res, const char *accept,
                                      const char *protocols, struct wsjwt__ws_client_result *out);

/* The client's short way for the usual answer when it offered no
 * subprotocol and no extension: is buf (len bytes) the canonical
 * "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
 * "Connection: Upgrade", "Sec-WebSocket-Accept: <accept>" head, byte for
 * byte? Returns 1 (*head_len set: the head's bytes, frames may follow), 0
 * (buf is a strict prefix of it: wait for more bytes) or -1 (it is not:
 * parse and check it the general way, which decides). A head that matches
 * passes wsjwt__http_response_check_accept with no protocol offered. */
int wsjwt__http_response_canonical(const char *buf, size_t len, const char *accept, size_t *head_len);

#endif
