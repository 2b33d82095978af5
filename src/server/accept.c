/* The accept value of every upgrade, hashed with OpenSSL's SHA-1.
 *
 * The protocol core keeps its own libc-only SHA-1 (src/base/sha1.c,
 * STYLE.md 1); the shell, which links OpenSSL anyway, uses OpenSSL's because
 * it is measurably cheaper (docs/performance.md): under callgrind 2.1 k
 * instructions for the 60-byte key + GUID against 3.1 k for ours (OpenSSL's
 * SSSE3/AVX code computes the message schedule four words at a time), and on
 * this machine's CPU, which has the SHA extensions (valgrind hides them),
 * about 150 ns against 290 ns.
 *
 * SHA1_Init/Update/Final are deprecated in OpenSSL 3.0 in favour of EVP, but
 * EVP_Digest costs 5.4 k instructions here (a provider fetch and a context
 * allocation per call) and the one-shot SHA1() 10.7 k; the low-level calls
 * are kept with their deprecation attribute silenced in this file only
 * (OPENSSL_SUPPRESS_DEPRECATED), so -Werror stays on everywhere else. An
 * OpenSSL built without the deprecated API gets the core's SHA-1. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "server/accept.h"

#include <openssl/sha.h>

void wsjwt__server_ws_accept(const char *key, size_t key_len, char out[WSJWT_WS_ACCEPT_LEN])
{
#ifndef OPENSSL_NO_DEPRECATED_3_0
    static const char guid[] = WSJWT__WS_GUID;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA_CTX c;
    if (SHA1_Init(&c) && SHA1_Update(&c, key, key_len) && SHA1_Update(&c, guid, sizeof(guid) - 1) &&
        SHA1_Final(digest, &c)) {
        wsjwt__ws_accept_encode(digest, out);
        return;
    }
#endif
    wsjwt__ws_accept(key, key_len, out);
}
