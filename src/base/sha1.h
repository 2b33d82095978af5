/* SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept (RFC 6455 4.2.2).
 *
 * SHA-1 is broken for collision resistance; the WebSocket handshake uses it
 * only to prove the server read the key, not for security. It lives here,
 * not via OpenSSL, so the protocol core stays libc-only (STYLE.md 1).
 */
#ifndef WSJWT_SHA1_H
#define WSJWT_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define WSJWT__SHA1_LEN 20u

struct wsjwt__sha1 {
    uint32_t h[5];
    uint64_t bytes; /* message bytes so far */
    uint8_t buf[64];
    size_t buf_len;
};

void wsjwt__sha1_init(struct wsjwt__sha1 *s);
void wsjwt__sha1_update(struct wsjwt__sha1 *s, const void *data, size_t len);
/* Writes the digest; s must be re-initialised before reuse. */
void wsjwt__sha1_final(struct wsjwt__sha1 *s, uint8_t out[WSJWT__SHA1_LEN]);

/* One-shot digest. */
void wsjwt__sha1(const void *data, size_t len, uint8_t out[WSJWT__SHA1_LEN]);

#endif
