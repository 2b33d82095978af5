/* WebSocket framing (RFC 6455 section 5 and 7): a pure core (libc only).
 *
 * Decoder: push style, zero copy. The shell hands over the bytes it has; the
 * decoder unmasks payloads IN PLACE and reports one event per call:
 *   - a data chunk: part or all of a frame's payload, as a view into the
 *     input, tagged with the message's opcode and first/last flags. When a
 *     whole single-frame message is in the input, it arrives as one chunk with
 *     both WSJWT__WS_MSG_FIRST and WSJWT__WS_MSG_LAST: deliver it in place.
 *     Otherwise the shell appends chunks to its message buffer.
 *   - a control frame (ping, pong, close), always whole, as a view.
 * The decoder never consumes a partial frame header nor a partial control
 * frame: on WSJWT_EAGAIN the shell keeps the unconsumed bytes (at most
 * 14 for a data frame header, 6 + 125 for a control frame) and hands them
 * over again, followed by new ones.
 * The decoder also enforces the message rules: fragmentation, interleaving,
 * the message and fragment caps, UTF-8 of text messages across fragments
 * (failing at the chunk that holds the first bad byte) and close payloads.
 * It never allocates; its state is a few dozen bytes per connection.
 *
 * Encoder: frames into the caller's buffer; _size() helpers give the space;
 * a header-only writer lets the shell writev(header, payload).
 */
#ifndef WSJWT_WS_H
#define WSJWT_WS_H

#include <stddef.h>
#include <stdint.h>

#include <wsjwt/error.h>

/* Opcodes (RFC 6455 5.2). */
#define WSJWT__WS_CONT   0x0
#define WSJWT__WS_TEXT   0x1
#define WSJWT__WS_BINARY 0x2
#define WSJWT__WS_CLOSE  0x8
#define WSJWT__WS_PING   0x9
#define WSJWT__WS_PONG   0xA

/* First header byte bits. */
#define WSJWT__WS_FIN  0x80
#define WSJWT__WS_RSV1 0x40 /* permessage-deflate (RFC 7692) */
#define WSJWT__WS_RSV2 0x20
#define WSJWT__WS_RSV3 0x10

/* RFC 6455 5.5: control frame payloads are at most 125 bytes. */
#define WSJWT__WS_MAX_CONTROL 125u
/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask). */
#define WSJWT__WS_MAX_HEADER 14u

/* Defaults for the caps. 1 MiB matches `ws`'s maxPayload spirit at a size a
 * C server can afford per connection; 1024 fragments bound per-fragment
 * overhead (a peer sending 1-byte fragments costs a header each). */
#define WSJWT__WS_DEFAULT_MAX_MESSAGE   (1024u * 1024u)
#define WSJWT__WS_DEFAULT_MAX_FRAGMENTS 1024u

/* Decoder configuration, usually shared by all connections of a server or a
 * client (the decoder keeps a pointer to it: it must outlive the decoder). */
struct wsjwt__ws_config {
    uint64_t max_message;   /* cap on a message's payload bytes (sum of its frames) */
    uint32_t max_fragments; /* cap on frames per data message */
    uint8_t server;         /* 1: peer is a client, frames must be masked (else
                               WSJWT_EWS_UNMASKED); 0: peer is a server, frames
                               must not be masked (else WSJWT_EWS_MASKED) */
    uint8_t allow_rsv1;     /* 1 once permessage-deflate is negotiated: RSV1 is
                               allowed on the first frame of a data message */
};

/* Sets the defaults above with the given role. */
void wsjwt__ws_config_init(struct wsjwt__ws_config *cfg, int server);

/* Decoder state. Opaque to the shell; initialise with wsjwt__ws_decoder_init.
 * Fields are here so it can be embedded in a connection struct. */
struct wsjwt__ws_decoder {
    const struct wsjwt__ws_config *cfg;
    uint64_t remaining; /* payload bytes left in the current data frame */
    uint64_t msg_bytes; /* payload bytes so far in the current message */
    uint32_t fragments; /* frames so far in the current message */
    uint32_t utf8;      /* UTF-8 validator state (utf8.h) */
    uint8_t mask[4];    /* current frame's mask key */
    uint8_t phase;      /* mask phase (0..3) of the next payload byte */
    uint8_t in_frame;   /* 1 while inside a data frame's payload; 0xFF once failed */
    uint8_t frame_fin;  /* FIN of the current data frame */
    uint8_t frame_new;  /* 1 until the current frame's first chunk is reported */
    uint8_t msg_opcode; /* TEXT or BINARY while a message is open, else 0 */
    uint8_t msg_flags;  /* WSJWT__WS_COMPRESSED for a compressed message */
    uint8_t masked;     /* current frame is masked */
    uint8_t msg_new;    /* 1 until the current message's first chunk is reported */
};

/* Event flags. */
#define WSJWT__WS_MSG_FIRST   0x01 /* first chunk of a message */
#define WSJWT__WS_MSG_LAST    0x02 /* last chunk of a message (FIN frame, end) */
#define WSJWT__WS_FRAME_FIRST 0x04 /* first chunk of a frame */
#define WSJWT__WS_FRAME_LAST  0x08 /* last chunk of a frame */
#define WSJWT__WS_COMPRESSED                                                                                 \
    0x10 /* the message had RSV1: inflate it; its                                                            \
            UTF-8 was NOT checked (check after                                                               \
            inflating, utf8.h) */

/* One decoder event. */
struct wsjwt__ws_event {
    uint8_t *data;       /* payload view into the input, unmasked in place */
    size_t len;          /* may be 0 (an empty frame still ends or starts a message) */
    uint8_t opcode;      /* data: TEXT or BINARY (the message's, never CONT);
                            control: CLOSE, PING or PONG */
    uint8_t flags;       /* WSJWT__WS_* above; control frames have all of FIRST and
                            LAST set */
    uint16_t close_code; /* CLOSE only: the code, or 0 for an empty payload
                            (then the reason is empty). The reason is
                            data + 2, len - 2 (validated UTF-8). */
};

void wsjwt__ws_decoder_init(struct wsjwt__ws_decoder *d, const struct wsjwt__ws_config *cfg);

/* Decode one event from in/len (the input is modified: payloads are unmasked
 * in place). *used = bytes consumed (set on every return; may be > 0 with
 * WSJWT_EAGAIN when a data frame header was consumed). Returns:
 *   0                             *ev filled. Call again with in + *used.
 *   WSJWT_EAGAIN                  need more bytes; keep in[*used..len).
 *   WSJWT_EWS_RSV                 RSV2/RSV3, or RSV1 not negotiated, on a
 *                                 control frame or on a continuation.
 *   WSJWT_EWS_OPCODE              reserved opcode (3-7, B-F).
 *   WSJWT_EWS_CONTROL_FRAGMENTED  control frame without FIN.
 *   WSJWT_EWS_CONTROL_TOO_BIG     control frame over 125 bytes.
 *   WSJWT_EWS_CONTINUATION        continuation with no message open.
 *   WSJWT_EWS_INTERLEAVED         TEXT/BINARY while a message is open.
 *   WSJWT_EWS_UNMASKED            server: a client frame without mask.
 *   WSJWT_EWS_MASKED              client: a server frame with a mask.
 *   WSJWT_EWS_FRAME_LENGTH        non-minimal length encoding, or a 64-bit
 *                                 length with its top bit set.
 *   WSJWT_EWS_MESSAGE_TOO_BIG     the message would exceed cfg->max_message
 *                                 (detected at the frame header).
 *   WSJWT_EWS_TOO_MANY_FRAGMENTS  more than cfg->max_fragments frames.
 *   WSJWT_EWS_UTF8                invalid UTF-8 in an uncompressed text
 *                                 message or a close reason.
 *   WSJWT_EWS_CLOSE_PAYLOAD       close payload of 1 byte.
 *   WSJWT_EWS_CLOSE_CODE          close code not allowed on the wire.
 *   WSJWT_ESTATE                  called again after a failure.
 * After a failure the decoder is dead (later calls return WSJWT_ESTATE):
 * close the connection with wsjwt_err_close_code(err). Errors are detected at the earliest byte that
 * decides them, so the result never depends on how input was split (chunk
 * boundaries of data events do follow the input). */
int wsjwt__ws_decode(struct wsjwt__ws_decoder *d, uint8_t *in, size_t len, size_t *used,
                     struct wsjwt__ws_event *ev);

/* XOR data with the 4-byte mask starting at mask phase (0..3), a machine word
 * at a time; returns the phase after the last byte. Used in place by the
 * decoder and by the client to mask a copy of its payload. */
unsigned wsjwt__ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], unsigned phase);

/* ---- close payloads (RFC 6455 5.5.1, 7.4) ---------------------------------- */

/* 1 if code may appear in a received close frame: 1000-1003, 1007-1014,
 * 3000-4999. */
int wsjwt__ws_close_code_valid(unsigned code);

/* Parse and validate a close payload. Empty: *code = 0, empty reason.
 * Returns 0, WSJWT_EWS_CLOSE_PAYLOAD (1 byte, or over 125),
 * WSJWT_EWS_CLOSE_CODE, WSJWT_EWS_UTF8 (reason). The reason view is
 * payload + 2. */
int wsjwt__ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const uint8_t **reason,
                          size_t *reason_len);

/* Build a close payload into out (at least 125 bytes): code (0 for an empty
 * payload, then reason must be empty) and a reason, cut at a UTF-8 character
 * boundary to fit 123 bytes. *len = payload bytes. Returns 0 or WSJWT_EINVAL
 * (a code that may not be sent: 1005, 1006, 1015, or outside the valid set;
 * or a reason with code 0). */
int wsjwt__ws_close_build(uint8_t *out, unsigned code, const char *reason, size_t reason_len, size_t *len);

/* ---- encoder ---------------------------------------------------------------- */

/* Header bytes for a payload of len (2, 4 or 10), plus 4 when masked. */
size_t wsjwt__ws_header_size(uint64_t len, int masked);

/* Header plus payload; WSJWT_EOVERFLOW cases are the caller's (len is a
 * size_t already in memory, so this cannot overflow in practice: it saturates
 * at SIZE_MAX). */
size_t wsjwt__ws_frame_size(size_t len, int masked);

/* Write a frame header. first: FIN/RSV bits | opcode (e.g.
 * WSJWT__WS_FIN | WSJWT__WS_TEXT). mask: 4 bytes, or NULL for an unmasked
 * (server) frame. *written = header bytes. Returns 0, WSJWT_ETOOBIG (cap too
 * small, nothing written) or WSJWT_EINVAL (len >= 2^63). The payload that
 * follows must be masked by the caller (wsjwt__ws_mask, phase 0) when mask is
 * set. */
int wsjwt__ws_write_header(uint8_t *out, size_t cap, unsigned first, uint64_t len, const uint8_t *mask,
                           size_t *written);

/* Write a whole frame: header then payload (masked with mask when given;
 * payload and out must not overlap). Returns as wsjwt__ws_write_header;
 * *written = wsjwt__ws_frame_size(len, mask != NULL). */
int wsjwt__ws_write_frame(uint8_t *out, size_t cap, unsigned first, const uint8_t *payload, size_t len,
                          const uint8_t *mask, size_t *written);

#endif
