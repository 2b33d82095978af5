/* permessage-deflate (RFC 7692): negotiation and the compression engine.
 * A pure core: zlib and libc only, no I/O, no clock.
 *
 * Negotiation (RFC 7692 5, 7.1). The server parses the client's
 * Sec-WebSocket-Extensions offers in order and accepts the first
 * permessage-deflate offer it can honour under its mode; an offer with an
 * unknown, malformed or repeated parameter is declined (RFC 7692 5.1, 7.1:
 * "the server MUST decline the offer") and the next one is tried. The
 * outcome is a struct wsjwt__pmd_params, which packs into 16 bits so that a
 * connection can keep it without growing (wsjwt__pmd_pack).
 *
 * Modes (the server's --deflate):
 *   off        never negotiated; RSV1 stays a protocol error.
 *   shared     one deflate and one inflate stream per event loop, shared by
 *              every connection: the answer always carries
 *              server_no_context_takeover and client_no_context_takeover, so
 *              no message depends on an earlier one and a connection owns no
 *              zlib memory at all.
 *   dedicated  per-connection streams with a window of WINDOW_BITS (9..15),
 *              context takeover allowed when the client did not refuse it:
 *              better ratios for chatty connections, at (1 << (bits + 2)) +
 *              (1 << (memlevel + 9)) + (1 << bits) bytes of zlib memory each
 *              (memlevel from wsjwt__pmd_mem_level: about 165 KB to deflate and 40 KB to
 *              inflate at 15 bits).
 *
 * Window bits of 8: zlib refuses an 8-bit window for raw deflate (it would
 * silently use 9, and a peer with a 256-byte window could not inflate what
 * we send). The server declines offers that demand server_max_window_bits=8;
 * the client, when a server limits it to 8, compresses with stored blocks
 * (level 0), which never refer back into the window.
 *
 * Engine: messages are deflated with Z_SYNC_FLUSH and the final 00 00 ff ff
 * removed (RFC 7692 7.2.1); inflating appends it back (7.2.2). Inflated
 * output is capped while inflating: a small frame that would inflate past
 * the cap fails with WSJWT_EWS_MESSAGE_TOO_BIG before the memory is spent.
 */
#ifndef WSJWT_WS_DEFLATE_H
#define WSJWT_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include <wsjwt/error.h>

#define WSJWT__PMD_NAME     "permessage-deflate"
#define WSJWT__PMD_MIN_BITS 8
#define WSJWT__PMD_MAX_BITS 15

enum wsjwt__pmd_mode { WSJWT__PMD_OFF = 0, WSJWT__PMD_SHARED = 1, WSJWT__PMD_DEDICATED = 2 };

/* Parse "off", "shared", "dedicated" or "dedicated:BITS" (BITS 9..15; plain
 * "dedicated" is 15). Returns 0 or WSJWT_EINVAL. */
int wsjwt__pmd_mode_parse(const char *s, enum wsjwt__pmd_mode *mode, unsigned *bits);

/* One offer, or one answer, as parsed. Window bits are 0 when the parameter
 * is absent; client_max_window_bits may be valueless in an offer
 * (has_client_max_window_bits with client_max_window_bits 0). */
struct wsjwt__pmd_params {
    uint8_t server_no_context_takeover;
    uint8_t client_no_context_takeover;
    uint8_t server_max_window_bits;
    uint8_t client_max_window_bits;
    uint8_t has_client_max_window_bits;
};

/* Parse the parameters of one extension element: `s` is one comma-list
 * element ("permessage-deflate; client_max_window_bits=10"). Returns
 *   1              it is permessage-deflate and *p is filled;
 *   0              another extension (ignored);
 *   WSJWT_EINVAL   permessage-deflate with a malformed, unknown, out of range
 *                  or repeated parameter (the offer must be declined). */
int wsjwt__pmd_parse_element(const char *s, size_t len, struct wsjwt__pmd_params *p);

/* Iterate the elements of a Sec-WebSocket-Extensions value: commas inside
 * quoted strings do not split. Same contract as wsjwt__http_list_next. */
int wsjwt__pmd_list_next(const char **cur, const char *end, const char **elem, size_t *elem_len);

/* The server's settings. */
struct wsjwt__pmd_server_config {
    enum wsjwt__pmd_mode mode;
    unsigned window_bits; /* dedicated: 9..15 */
};

/* Choose the answer to the offers in value/len (one header's value; call once
 * per header, or join them). Returns 1 with *out set (the first acceptable
 * offer), 0 when nothing is accepted (mode off, no permessage-deflate offer,
 * or every offer declined). *out is the answer as written by
 * wsjwt__pmd_write_response: in it, window bits 0 mean "not in the answer". */
int wsjwt__pmd_negotiate(const struct wsjwt__pmd_server_config *cfg, const char *value, size_t len,
                         struct wsjwt__pmd_params *out);

/* Longest answer wsjwt__pmd_write_response writes. */
#define WSJWT__PMD_RESPONSE_MAX 128u

/* Write the Sec-WebSocket-Extensions value for an answer (no CRLF, no NUL):
 * "permessage-deflate; server_no_context_takeover; ...". Returns the length
 * (at most WSJWT__PMD_RESPONSE_MAX), or 0 when cap is too small. */
size_t wsjwt__pmd_write_response(char *out, size_t cap, const struct wsjwt__pmd_params *p);

/* An answer packed into 16 bits (bit 15 set: never 0) for a connection to
 * keep, and back. */
uint16_t wsjwt__pmd_pack(const struct wsjwt__pmd_params *p);
void wsjwt__pmd_unpack(uint16_t v, struct wsjwt__pmd_params *p);

/* 1 if a connection with this packed answer can read a message compressed
 * once for many receivers: without server context takeover and with a
 * 15-bit window (no server_max_window_bits, or 15). */
int wsjwt__pmd_shareable(uint16_t packed);

/* Window bits each side compresses with under an answer: 15 when the
 * parameter is absent. */
unsigned wsjwt__pmd_server_bits(const struct wsjwt__pmd_params *p);
unsigned wsjwt__pmd_client_bits(const struct wsjwt__pmd_params *p);

/* The frame decoder's message cap once deflate is negotiated: max plus the
 * worst-case expansion of incompressible data (3% + 64 bytes: our 9-bit
 * window adds 2%, zlib's defaults 0.03%), so that a message of exactly max
 * bytes still fits on the wire whatever compressed it. Inflated output stays
 * capped at max. The decoder has one cap, so on such a connection an
 * uncompressed message may also be that much over max. Saturates. */
uint64_t wsjwt__pmd_wire_cap(uint64_t max);

/* ---- client side --------------------------------------------------------------- */

/* What our client offers: "permessage-deflate; client_max_window_bits" (the
 * same offer as browsers and Node ws: any server window, and the server may
 * limit ours). With no_context_takeover, also server_no_context_takeover and
 * client_no_context_takeover. Returns a static string. */
const char *wsjwt__pmd_client_offer(int no_context_takeover);

/* Check the server's answer (the Sec-WebSocket-Extensions value) to the offer
 * made with wsjwt__pmd_client_offer(no_context_takeover). Returns
 *   1                      accepted, *out is the answer;
 *   WSJWT_EHTTP_EXTENSION  not exactly one permessage-deflate element, a
 *                          malformed or repeated parameter, a parameter we did
 *                          not offer room for (client_max_window_bits without
 *                          a value), or no_context_takeover offered but not
 *                          in the answer (RFC 7692 7.1.1.1). */
int wsjwt__pmd_client_check(const char *value, size_t len, int no_context_takeover,
                            struct wsjwt__pmd_params *out);

/* ---- engine ---------------------------------------------------------------------- */

/* A growable output buffer with a hard cap. */
struct wsjwt__pmd_buf {
    uint8_t *data;
    size_t len, cap;
};
void wsjwt__pmd_buf_free(struct wsjwt__pmd_buf *b);

/* zlib memLevel for a window: bits - 7, at most 6 (cheaper resets and less
 * memory than zlib's 8; blocks that fit small windows; see deflate.c). */
int wsjwt__pmd_mem_level(unsigned bits);

/* Initialise raw deflate/inflate streams for a window (9..15; 8 is raised to
 * 9 with level 0 for deflate, see the top). Return 0 or WSJWT_ENOMEM. */
int wsjwt__pmd_deflate_init(z_stream *zs, unsigned bits);
int wsjwt__pmd_inflate_init(z_stream *zs, unsigned bits);

/* Compress one whole message in/len, appending the payload (tail removed) to
 * out. no_takeover: reset the stream afterwards (RFC 7692 7.1.1). Returns 0,
 * WSJWT_ENOMEM or WSJWT_EIO (zlib failure; the stream is reset). */
int wsjwt__pmd_deflate(z_stream *zs, const uint8_t *in, size_t len, int no_takeover,
                       struct wsjwt__pmd_buf *out);

/* Inflate one whole compressed message in/len (the 00 00 ff ff tail is fed
 * after it), appending to out, which never grows past max bytes: the cap is
 * checked while inflating. no_takeover: reset the stream afterwards. A
 * fragmented message is inflated once assembled (the shell keeps compressed
 * fragments, capped by max_message, as it keeps plain ones). Returns 0,
 * WSJWT_EWS_MESSAGE_TOO_BIG (output would pass max), WSJWT_EWS_INFLATE
 * (invalid data) or WSJWT_ENOMEM; after a failure the stream is reset. */
int wsjwt__pmd_inflate(z_stream *zs, const uint8_t *in, size_t len, int no_takeover, size_t max,
                       struct wsjwt__pmd_buf *out);

/* ---- one endpoint's streams ------------------------------------------------------ */

/* A deflate and an inflate stream with their settings, each created on first
 * use (a connection that only receives never pays for a deflater). */
struct wsjwt__pmd_ctx {
    z_stream def, inf;
    uint8_t def_ready, inf_ready;
    uint8_t def_bits, inf_bits;   /* windows: what we may use, what the peer may use */
    uint8_t def_reset, inf_reset; /* no context takeover in that direction */
};

/* Settings only; no memory is taken until the first message. */
void wsjwt__pmd_ctx_init(struct wsjwt__pmd_ctx *x, unsigned def_bits, int def_reset, unsigned inf_bits,
                         int inf_reset);
/* The settings of one side of a negotiated answer: server 1 for the server's
 * end (deflate with the server window, inflate with the client's). */
void wsjwt__pmd_ctx_from_params(struct wsjwt__pmd_ctx *x, const struct wsjwt__pmd_params *p, int server);
/* As wsjwt__pmd_deflate / wsjwt__pmd_inflate with the context's streams
 * (WSJWT_ENOMEM also when a stream cannot be created). */
int wsjwt__pmd_ctx_deflate(struct wsjwt__pmd_ctx *x, const uint8_t *in, size_t len,
                           struct wsjwt__pmd_buf *out);
int wsjwt__pmd_ctx_inflate(struct wsjwt__pmd_ctx *x, const uint8_t *in, size_t len, size_t max,
                           struct wsjwt__pmd_buf *out);
/* Releases the streams (the settings stay). */
void wsjwt__pmd_ctx_free(struct wsjwt__pmd_ctx *x);

#endif
