/* Hex digits: one helper for the parsers that decode them (percent-encoded
 * query and cookie values in src/http, \uXXXX escapes in src/jwt). */
#ifndef WSJWT_BASE_HEX_H
#define WSJWT_BASE_HEX_H

/* The value of hex digit c (either case), or -1 for any other byte. */
static inline int wsjwt__hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
