/* wsjwt error codes.
 *
 * Every function in libwsjwt returns an int: 0 on success, a negative
 * WSJWT_E... code on failure (counts go in out-parameters). The table below is
 * the only place codes are defined; it generates the enum, wsjwt_strerror(),
 * wsjwt_err_name(), and the two mappings to what a network peer is told: the
 * HTTP status of a refused upgrade and the close code of an open connection.
 *
 * Rules: codes are never renumbered or reused. New codes are appended to their
 * section with the next free number. WSJWT_EAGAIN ("need more input") is not a
 * failure: parsers return it when the input so far is a valid prefix.
 *
 * Columns: X(NAME, value, http_status, close_code, message)
 *   http_status: what a refused upgrade answers (0: not an upgrade error, 500)
 *   close_code:  what an open connection is closed with (0: not a frame error,
 *                1011)
 * JWT messages use jsonwebtoken's wording where it has one.
 */
#ifndef WSJWT_ERROR_H
#define WSJWT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define WSJWT_API
#elif defined(__GNUC__)
#define WSJWT_API __attribute__((visibility("default")))
#else
#define WSJWT_API
#endif

#define WSJWT_ERRORS(X)                                                                                      \
    /* general */                                                                                            \
    X(OK, 0, 0, 0, "success")                                                                                \
    X(EAGAIN, -1, 0, 0, "need more input")                                                                   \
    X(ENOMEM, -2, 503, 1011, "out of memory")                                                                \
    X(EINVAL, -3, 500, 1011, "invalid argument")                                                             \
    X(ETOOBIG, -4, 413, 1009, "size limit reached")                                                          \
    X(EIO, -5, 500, 1011, "I/O error")                                                                       \
    X(ECLOSED, -6, 0, 0, "connection closed")                                                                \
    X(ETIMEDOUT, -7, 408, 1001, "timed out")                                                                 \
    X(EUNSUPPORTED, -8, 500, 1011, "not supported")                                                          \
    X(ECRYPTO, -9, 500, 1011, "crypto library error")                                                        \
    X(ENOENT, -10, 500, 1011, "not found")                                                                   \
    X(ESTATE, -11, 500, 1011, "operation not valid in this state")                                           \
    X(ESHUTDOWN, -12, 503, 1001, "shutting down")                                                            \
    X(EOVERFLOW, -13, 500, 1011, "arithmetic overflow")                                                      \
    X(EBACKPRESSURE, -14, 0, 1013, "send queue over its cap")                                                \
    X(ECONNECT, -15, 0, 0, "connection failed")                                                              \
    X(ERESOLVE, -16, 0, 0, "name resolution failed")                                                         \
    /* JWT (RFC 7515, 7519, 8725) */                                                                         \
    X(EJWT_MALFORMED, -100, 401, 1008, "jwt malformed")                                                      \
    X(EJWT_ENCODING, -101, 401, 1008, "invalid base64url encoding")                                          \
    X(EJWT_JSON, -102, 401, 1008, "invalid JSON in token")                                                   \
    X(EJWT_DUPLICATE, -103, 401, 1008, "duplicate JSON member in token")                                     \
    X(EJWT_TOO_LARGE, -104, 401, 1008, "jwt too large")                                                      \
    X(EJWT_CRIT, -105, 401, 1008, "unsupported critical header")                                             \
    X(EJWT_ALG, -106, 401, 1008, "invalid algorithm")                                                        \
    X(EJWT_KEY_TYPE, -107, 401, 1008, "key type mismatch")                                                   \
    X(EJWT_SIGNATURE, -108, 401, 1008, "invalid signature")                                                  \
    X(EJWT_EXPIRED, -109, 401, 1008, "jwt expired")                                                          \
    X(EJWT_NOT_ACTIVE, -110, 401, 1008, "jwt not active")                                                    \
    X(EJWT_TOO_OLD, -111, 401, 1008, "maxAge exceeded")                                                      \
    X(EJWT_ISS, -112, 401, 1008, "jwt issuer invalid")                                                       \
    X(EJWT_AUD, -113, 401, 1008, "jwt audience invalid")                                                     \
    X(EJWT_SUB, -114, 401, 1008, "jwt subject invalid")                                                      \
    X(EJWT_TYP, -115, 401, 1008, "jwt typ invalid")                                                          \
    X(EJWT_MISSING_CLAIM, -116, 401, 1008, "required claim missing")                                         \
    X(EJWT_CLAIM_TYPE, -117, 401, 1008, "claim has the wrong type")                                          \
    X(EJWT_FUTURE_IAT, -118, 401, 1008, "jwt issued in the future")                                          \
    X(EJWT_KID_UNKNOWN, -119, 401, 1008, "unknown kid")                                                      \
    X(EJWT_NO_KEY, -120, 401, 1008, "no key fits the token")                                                 \
    X(EJWT_WEAK_KEY, -121, 401, 1008, "key too weak")                                                        \
    X(EJWT_KEY_FORMAT, -122, 500, 1011, "unrecognised key format")                                           \
    X(EJWT_EMPTY_KEY, -123, 401, 1008, "empty key")                                                          \
    X(EJWT_NOT_OBJECT, -124, 401, 1008, "token header or payload is not a JSON object")                      \
    /* HTTP upgrade (RFC 7230, RFC 6455 4) */                                                                \
    X(EHTTP_MALFORMED, -200, 400, 0, "malformed HTTP request")                                               \
    X(EHTTP_METHOD, -201, 405, 0, "method not allowed")                                                      \
    X(EHTTP_VERSION, -202, 400, 0, "HTTP version not supported")                                             \
    X(EHTTP_HEAD_TOO_LARGE, -203, 431, 0, "request head too large")                                          \
    X(EHTTP_TOO_MANY_HEADERS, -204, 431, 0, "too many request headers")                                      \
    X(EHTTP_NOT_UPGRADE, -205, 400, 0, "not a WebSocket upgrade")                                            \
    X(EHTTP_WS_VERSION, -206, 426, 0, "unsupported WebSocket version")                                       \
    X(EHTTP_WS_KEY, -207, 400, 0, "invalid Sec-WebSocket-Key")                                               \
    X(EHTTP_HOST, -208, 400, 0, "missing or invalid Host")                                                   \
    X(EHTTP_ORIGIN, -209, 403, 0, "origin not allowed")                                                      \
    X(EHTTP_NO_TOKEN, -210, 401, 0, "no token")                                                              \
    X(EHTTP_TOKEN_CONFLICT, -211, 400, 0, "more than one token")                                             \
    X(EHTTP_STATUS, -212, 0, 0, "upgrade refused by server")                                                 \
    X(EHTTP_ACCEPT, -213, 0, 0, "invalid Sec-WebSocket-Accept")                                              \
    X(EHTTP_RESPONSE, -214, 0, 0, "malformed HTTP response")                                                 \
    X(EHTTP_REFUSED, -215, 403, 0, "refused by the application")                                             \
    X(EHTTP_PROTOCOL, -216, 0, 0, "invalid subprotocol in response")                                         \
    X(EHTTP_EXTENSION, -217, 0, 0, "invalid extension in response")                                          \
    /* WebSocket frames (RFC 6455 5, 7) */                                                                   \
    X(EWS_PROTOCOL, -300, 0, 1002, "protocol error")                                                         \
    X(EWS_UNMASKED, -301, 0, 1002, "client frame not masked")                                                \
    X(EWS_RSV, -302, 0, 1002, "reserved bits set")                                                           \
    X(EWS_OPCODE, -303, 0, 1002, "reserved opcode")                                                          \
    X(EWS_CONTROL_TOO_BIG, -304, 0, 1002, "control frame over 125 bytes")                                    \
    X(EWS_CONTROL_FRAGMENTED, -305, 0, 1002, "fragmented control frame")                                     \
    X(EWS_CONTINUATION, -306, 0, 1002, "continuation with nothing to continue")                              \
    X(EWS_INTERLEAVED, -307, 0, 1002, "new message inside a fragmented one")                                 \
    X(EWS_UTF8, -308, 0, 1007, "invalid UTF-8")                                                              \
    X(EWS_MESSAGE_TOO_BIG, -309, 0, 1009, "message too big")                                                 \
    X(EWS_CLOSE_CODE, -310, 0, 1002, "invalid close code")                                                   \
    X(EWS_CLOSE_PAYLOAD, -311, 0, 1002, "invalid close payload")                                             \
    X(EWS_FRAME_LENGTH, -312, 0, 1002, "invalid frame length")                                               \
    X(EWS_INFLATE, -313, 0, 1007, "invalid compressed data")                                                 \
    X(EWS_TOO_MANY_FRAGMENTS, -314, 0, 1009, "too many fragments")                                           \
    X(EWS_MASKED, -315, 0, 1002, "server frame masked")                                                      \
    X(EWS_TOKEN_EXPIRED, -316, 0, 1008, "token expired")                                                     \
    X(EWS_IDLE, -317, 0, 1001, "idle timeout")                                                               \
    /* TLS */                                                                                                \
    X(ETLS, -400, 0, 1015, "TLS error")                                                                      \
    X(ETLS_VERIFY, -401, 0, 1015, "TLS certificate verification failed")

enum wsjwt_err {
#define WSJWT_X_ENUM(name, value, http, close, msg) WSJWT_##name = (value),
    WSJWT_ERRORS(WSJWT_X_ENUM)
#undef WSJWT_X_ENUM
};

/* The message for a code ("jwt expired"). Never NULL; unknown codes give
 * "unknown error". The string is static. */
WSJWT_API const char *wsjwt_strerror(int err);

/* The code's name without the prefix ("EJWT_EXPIRED"). Never NULL; static. */
WSJWT_API const char *wsjwt_err_name(int err);

/* The HTTP status a refused upgrade answers for this code (401 for every JWT
 * failure, 431 for a head too large, ...); 500 for codes with no status. */
WSJWT_API int wsjwt_err_http_status(int err);

/* The close code an open connection is closed with for this code (1002 for
 * protocol errors, 1007, 1008, 1009, ...); 1011 for codes with none. */
WSJWT_API int wsjwt_err_close_code(int err);

#ifdef __cplusplus
}
#endif

#endif
