/* Incremental UTF-8 validation (RFC 3629), a pure core.
 *
 * A message can be checked piece by piece: the state carries a character cut
 * between two pieces. Rejects overlong forms, surrogates (U+D800..U+DFFF),
 * code points above U+10FFFF, stray continuation bytes and C0, C1, F5..FF.
 * ASCII runs go 8 bytes at a time.
 */
#ifndef WSJWT_UTF8_H
#define WSJWT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* States. ACCEPT: between characters (the only valid end state). REJECT is
 * sticky. Other values mean "inside a character". */
#define WSJWT__UTF8_ACCEPT 0u
#define WSJWT__UTF8_REJECT 1u

/* Feed p/n from state; returns the new state. Stops at the first bad byte
 * (returns WSJWT__UTF8_REJECT). */
uint32_t wsjwt__utf8_feed(uint32_t state, const uint8_t *p, size_t n);

/* 1 if p/n is complete, valid UTF-8, else 0. */
int wsjwt__utf8_valid(const uint8_t *p, size_t n);

#endif
