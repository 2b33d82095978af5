/* Sec-WebSocket-Accept computed in the server shell with OpenSSL's SHA-1. */
#ifndef WSJWT_SERVER_ACCEPT_H
#define WSJWT_SERVER_ACCEPT_H

#include <stddef.h>

#include "http/http.h"

/* Same result as wsjwt__ws_accept (src/http/handshake.c): base64(SHA-1(key +
 * the RFC 6455 GUID)), exactly WSJWT_WS_ACCEPT_LEN chars to out, no NUL. */
void wsjwt__server_ws_accept(const char *key, size_t key_len, char out[WSJWT_WS_ACCEPT_LEN]);

#endif
