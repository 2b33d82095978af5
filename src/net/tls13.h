/* TLS 1.3 record protection for application traffic (RFC 8446 5.2-5.5, 7.1-7.3).
 *
 * OpenSSL does the handshake; once it is over, the engine (tls.c) protects
 * and opens application records itself with these functions, from the two
 * application traffic secrets: one cipher context per direction keyed once,
 * then per record only the nonce changes. OpenSSL 3.0's record layer spends
 * about as much again as the cipher on each small record (buffer
 * management, copies through the BIO, the provider parameter machinery),
 * which is what this file saves (docs/tls.md has the measurements).
 *
 * Pure: bytes in, bytes out, no I/O. The AEAD is OpenSSL's (EVP); nothing
 * cryptographic is reimplemented here, only the record format and the key
 * schedule's last step (HKDF-Expand-Label). */
#ifndef WSJWT_NET_TLS13_H
#define WSJWT_NET_TLS13_H

#include <stddef.h>
#include <stdint.h>

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

/* RFC 8446 5.1/5.2 limits. */
#define WSJWT__TLS13_HEADER     5u              /* type, legacy version, length */
#define WSJWT__TLS13_TAG        16u             /* every TLS 1.3 AEAD's tag */
#define WSJWT__TLS13_MAX_PLAIN  16384u          /* 2^14 bytes of content per record */
#define WSJWT__TLS13_MAX_CIPHER (16384u + 256u) /* the length field's cap */
/* The longest secret: SHA-384's output (TLS_AES_256_GCM_SHA384). */
#define WSJWT__TLS13_MAX_SECRET 48u

/* Alert descriptions this layer sends or reads (RFC 8446 6). */
enum {
    WSJWT__TLS13_CLOSE_NOTIFY = 0,
    WSJWT__TLS13_UNEXPECTED_MESSAGE = 10,
    WSJWT__TLS13_BAD_RECORD_MAC = 20,
    WSJWT__TLS13_RECORD_OVERFLOW = 22,
    WSJWT__TLS13_ILLEGAL_PARAMETER = 47,
    WSJWT__TLS13_DECODE_ERROR = 50,
    WSJWT__TLS13_INTERNAL_ERROR = 80,
    WSJWT__TLS13_USER_CANCELED = 90,
};

/* Record content types (RFC 8446 5.1, B.1). */
enum {
    WSJWT__TLS13_ALERT = 21,
    WSJWT__TLS13_HANDSHAKE = 22,
    WSJWT__TLS13_APPDATA = 23,
};

/* One direction: the current traffic secret, the key and static IV derived
 * from it, the cipher context keyed with them (NULL while resting: see
 * wsjwt__tls13_rest) and the record sequence number. */
struct wsjwt__tls13_dir {
    EVP_CIPHER_CTX *ctx;
    uint64_t seq;
    uint8_t iv[12];
    uint8_t key[32];
    uint8_t secret[WSJWT__TLS13_MAX_SECRET];
};

/* Both directions of one connection. */
struct wsjwt__tls13 {
    uint16_t suite;   /* 0x1301, 0x1302 or 0x1303 */
    uint8_t hash_len; /* 32 or 48 */
    struct wsjwt__tls13_dir rd, wr;
};

/* 1 if suite (SSL_CIPHER_get_protocol_id) is one this file protects:
 * TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
 * TLS_CHACHA20_POLY1305_SHA256. */
int wsjwt__tls13_supported(uint16_t suite);

/* The suite's hash length, which is also its traffic secrets' length
 * (RFC 8446 7.1): 48 for TLS_AES_256_GCM_SHA384, else 32. */
static inline size_t wsjwt__tls13_hash_len(uint16_t suite)
{
    return suite == 0x1302 ? 48u : 32u;
}

/* HKDF-Expand-Label(secret, label, "", out_len) with the suite's hash
 * (RFC 8446 7.1, empty context). 0 or WSJWT_ETLS. */
int wsjwt__tls13_expand_label(uint16_t suite, const uint8_t *secret, const char *label, uint8_t *out,
                              size_t out_len);

/* Keys one direction from a traffic secret (secret_len = the suite's hash
 * length): key and IV by HKDF-Expand-Label "key"/"iv" (RFC 8446 7.3),
 * sequence number 0. d->ctx is created if NULL, re-keyed otherwise.
 * 0, WSJWT_ENOMEM, WSJWT_ETLS. */
int wsjwt__tls13_key(uint16_t suite, struct wsjwt__tls13_dir *d, const uint8_t *secret, int encrypt);

/* Starts r for suite with the two application traffic secrets (read: the
 * peer's, write: ours). 0, WSJWT_EINVAL (suite not supported), WSJWT_ENOMEM,
 * WSJWT_ETLS. wsjwt__tls13_free releases it either way. */
int wsjwt__tls13_init(struct wsjwt__tls13 *r, uint16_t suite, const uint8_t *read_secret,
                      const uint8_t *write_secret);

/* Releases the cipher contexts and wipes the secrets (safe on a zeroed r). */
void wsjwt__tls13_free(struct wsjwt__tls13 *r);

/* Releases the two cipher contexts (about 1.1 KB each) of a connection that
 * is not sending or receiving, keeping keys, IVs and sequence numbers: the
 * next seal or open of each direction makes its context again (one key
 * schedule, about a microsecond). */
void wsjwt__tls13_rest(struct wsjwt__tls13 *r);

/* The next key of one direction (RFC 8446 7.2, KeyUpdate):
 * secret <- HKDF-Expand-Label(secret, "traffic upd", "", Hash.length),
 * then key, IV, sequence number 0. 0 or an error of wsjwt__tls13_key. */
int wsjwt__tls13_update(const struct wsjwt__tls13 *r, struct wsjwt__tls13_dir *d, int encrypt);

/* Bytes one record of len content bytes takes on the wire. */
static inline size_t wsjwt__tls13_record_size(size_t len)
{
    return WSJWT__TLS13_HEADER + len + 1 + WSJWT__TLS13_TAG;
}

/* Protects one record of content type `type` with len <= 2^14 bytes of p
 * into out (wsjwt__tls13_record_size(len) bytes; out may not overlap p):
 * header, ciphertext of p and the type byte, tag (no padding). Uses and
 * advances r->wr.seq. 0, WSJWT_ETLS (the sequence number is exhausted or
 * the cipher failed). */
int wsjwt__tls13_seal(struct wsjwt__tls13 *r, uint8_t type, const uint8_t *p, size_t len, uint8_t *out);

/* Whether p starts with a whole record: 1 and its size in *size, 0 when
 * more bytes are needed, or WSJWT_ETLS as soon as the header cannot be a TLS 1.3 protected record (outer
 * type not application_data, version not 0x0303, length above 2^14 + 256
 * or below a tag and a type byte); *alert gets the alert to send. */
int wsjwt__tls13_record_ready(const uint8_t *p, size_t len, size_t *size, uint8_t *alert);

/* Opens one whole record (size from wsjwt__tls13_record_ready) into out,
 * which holds size - 5 - 16 bytes: *type gets the inner content type, *n
 * the content length (padding removed). Uses and advances r->rd.seq.
 * 0, or WSJWT_ETLS with *alert set: bad_record_mac (the tag did not
 * verify), unexpected_message (no content type: all zeros),
 * record_overflow (more than 2^14 bytes of content). */
int wsjwt__tls13_open(struct wsjwt__tls13 *r, const uint8_t *rec, size_t size, uint8_t *out, size_t *n,
                      uint8_t *type, uint8_t *alert);

#endif
