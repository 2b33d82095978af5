/* Incremental UTF-8 validation (RFC 3629 section 4), one explicit state per
 * "what the next byte must be", so a character cut between two fragments of
 * a message is carried over in the state.
 *
 * States other than ACCEPT and REJECT name the range the next continuation
 * byte must fall in and how many continuation bytes remain after it:
 *   2  80..BF, then done        (after C2..DF, or mid 3/4-byte sequence)
 *   3  80..BF, then one more     (after E1..EC, EE..EF, or mid 4-byte)
 *   4  80..BF, then two more     (after F1..F3)
 *   5  A0..BF, then one more     (after E0: anything lower is overlong)
 *   6  80..9F, then one more     (after ED: A0..BF would be a surrogate)
 *   7  90..BF, then two more     (after F0: anything lower is overlong)
 *   8  80..8F, then two more     (after F4: anything higher is > U+10FFFF)
 * C0, C1 (overlong 2-byte forms) and F5..FF (beyond U+10FFFF) never start a
 * character. */
#include "ws/utf8.h"

#include <string.h>

static const uint8_t lo[9] = {0, 0, 0x80, 0x80, 0x80, 0xA0, 0x80, 0x90, 0x80};
static const uint8_t hi[9] = {0, 0, 0xBF, 0xBF, 0xBF, 0xBF, 0x9F, 0xBF, 0x8F};
static const uint8_t next[9] = {0, 0, 0, 2, 3, 2, 2, 3, 3};

/* The state after a lead byte 0x80 + i (the rules in the comment above as a
 * table: one load instead of a chain of comparisons). */
static const uint8_t lead_tab[128] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    5, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 6, 3, 3, 7, 4, 4, 4, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

uint32_t wsjwt__utf8_feed(uint32_t state, const uint8_t *p, size_t n)
{
    if (state == WSJWT__UTF8_REJECT || state > 8)
        return WSJWT__UTF8_REJECT;
    if (n == 0)
        return state; /* p may be NULL then */
    const uint8_t *end = p + n;
    while (p < end) {
        if (state == WSJWT__UTF8_ACCEPT) {
            if (*p < 0x80) {
                /* ASCII fast path: 16, then 8 bytes per test of their high
                 * bits; entered only on an ASCII byte so non-ASCII text
                 * does not pay for failed word tests at every character. */
                while ((size_t)(end - p) >= 16) {
                    uint64_t w0, w1;
                    memcpy(&w0, p, 8);
                    memcpy(&w1, p + 8, 8);
                    if ((w0 | w1) & 0x8080808080808080ull)
                        break;
                    p += 16;
                }
                while ((size_t)(end - p) >= 8) {
                    uint64_t w;
                    memcpy(&w, p, 8);
                    if (w & 0x8080808080808080ull)
                        break;
                    p += 8;
                }
                while (p < end && *p < 0x80)
                    p++;
                if (p == end)
                    break;
            }
            state = lead_tab[*p++ - 0x80];
            if (state == WSJWT__UTF8_REJECT)
                return state;
            continue;
        }
        uint8_t c = *p++;
        if (c < lo[state] || c > hi[state])
            return WSJWT__UTF8_REJECT;
        state = next[state];
    }
    return state;
}

int wsjwt__utf8_valid(const uint8_t *p, size_t n)
{
    return wsjwt__utf8_feed(WSJWT__UTF8_ACCEPT, p, n) == WSJWT__UTF8_ACCEPT;
}
