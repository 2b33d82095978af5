/* A strict JSON (RFC 8259) parser for token headers and payloads: one pass
 * over the decoded bytes, no allocation, duplicate member names refused at
 * every depth. It accepts exactly what jansson accepts with
 * JSON_REJECT_DUPLICATES (checked by fuzz/fuzz_jwt_json.c), within two caps
 * jansson does not have: nesting depth and members per object.
 *
 * Why not jansson here: it builds a tree with a hash table per object and
 * costs ~3 us for a 200-byte token, more than twice the HMAC itself; the
 * verification path needs only the top-level members. jansson remains the
 * parser for signing and for keys. */
#ifndef WSJWT_JWT_JSON_H
#define WSJWT_JWT_JSON_H

#include <stddef.h>
#include <stdint.h>

/* The parser recurses once per level: 32 levels bound its stack use, and no
 * issuer nests claims that deep. */
#define WSJWT__JSON_MAX_DEPTH 32
/* Duplicate detection compares each name with the earlier ones of its
 * object: 256 members bound that to 32640 comparisons, and an 8 KiB token
 * cannot carry many more members anyway. */
#define WSJWT__JSON_MAX_MEMBERS 256
/* Member names held at once for duplicate detection, across nesting (a stack
 * array of the parser: 16 bytes each). */
#define WSJWT__JSON_MAX_OPEN_KEYS 512

enum wsjwt__jtype {
    WSJWT__J_STRING = 1,
    WSJWT__J_INT,
    WSJWT__J_REAL,
    WSJWT__J_TRUE,
    WSJWT__J_FALSE,
    WSJWT__J_NULL,
    WSJWT__J_OBJECT,
    WSJWT__J_ARRAY
};

/* A top-level member. key and str are unescaped NUL-terminated copies in the
 * caller's arena; raw/raw_len is the value's text (for arrays and objects). */
struct wsjwt__jmember {
    const char *key;
    const char *str; /* WSJWT__J_STRING */
    const char *raw;
    uint32_t raw_len;
    uint8_t type;
    union {
        int64_t i; /* WSJWT__J_INT */
        double d;  /* WSJWT__J_REAL */
    } num;
};

/* Parses `len` bytes as one JSON object. Top-level members go to m (room for
 * cap, at most WSJWT__JSON_MAX_MEMBERS), their unescaped names and string
 * values to the arena (room for `len` bytes always suffices).
 * Returns 0, WSJWT_EJWT_JSON, WSJWT_EJWT_DUPLICATE, or WSJWT_EJWT_NOT_OBJECT
 * (valid JSON, not an object). *limit is set when the refusal is one of our
 * caps rather than invalid JSON. */
int wsjwt__json_parse_object(const char *text, size_t len, char *arena, struct wsjwt__jmember *m, size_t cap,
                             size_t *count, int *limit);

/* The member named `name`, or NULL. */
const struct wsjwt__jmember *wsjwt__json_get(const struct wsjwt__jmember *m, size_t n, const char *name);

/* Iterates the elements of a top-level array member (already validated):
 * *pos starts at 0; returns 1 with the element's type and, for strings, the
 * unescaped value in buf (room for raw_len + 1 bytes), 0 at the end. */
int wsjwt__json_array_next(const struct wsjwt__jmember *arr, size_t *pos, int *type, char *buf);

#endif
