/* base64 (RFC 4648 4, padded) and base64url (RFC 4648 5, unpadded as JWS
 * uses it). Pure functions over caller buffers: no allocation.
 *
 *   wsjwt__b64_encode     standard alphabet, padded ("Sec-WebSocket-Accept")
 *   wsjwt__b64url_encode  URL alphabet, no padding (JWS segments)
 *   wsjwt__b64url_decode  strict JWS decoding: URL alphabet only, no padding,
 *                         no whitespace, no length = 1 mod 4, unused trailing
 *                         bits must be zero (one token, one encoding)
 *   wsjwt__b64_decode_any lenient: either alphabet, optional correct padding
 */
#ifndef WSJWT_BASE_B64_H
#define WSJWT_BASE_B64_H

#include <stddef.h>
#include <stdint.h>

/* Characters wsjwt__b64_encode writes for n bytes (without the NUL). */
static inline size_t wsjwt__b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Characters wsjwt__b64url_encode writes for n bytes (without the NUL). */
static inline size_t wsjwt__b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Bytes that decoding a strict base64url string of n characters yields; for
 * n % 4 == 1 (never a valid length) the result is meaningless. */
static inline size_t wsjwt__b64url_decoded_len(size_t n)
{
    return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

/* Encode `len` bytes into `out`, which has room for the encoded length plus
 * a NUL (written). Returns the encoded length. */
size_t wsjwt__b64_encode(const uint8_t *in, size_t len, char *out);
size_t wsjwt__b64url_encode(const uint8_t *in, size_t len, char *out);

/* Strict base64url decoding into `out` (room for `cap` bytes). Returns 0 and
 * *out_len, WSJWT_EJWT_ENCODING for anything that is not the one canonical
 * unpadded encoding, WSJWT_ETOOBIG when `cap` is too small (nothing useful is
 * written then). */
int wsjwt__b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* Lenient decoding (see above) into `out` (room for `cap` bytes; len / 4 * 3
 * + 2 always suffices). Returns 0, WSJWT_EJWT_ENCODING, WSJWT_ETOOBIG. */
int wsjwt__b64_decode_any(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#endif
