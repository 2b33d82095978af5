/* wsjwt TLS (wss://): the public configuration types shared by the server
 * and the client. OpenSSL 3 does the cryptography over memory (it never
 * touches a socket); see docs/tls.md for defaults and what was measured.
 *
 * Versions: TLS 1.2 and 1.3 only. TLS 1.2 cipher suites: ECDHE with AES-GCM
 * or ChaCha20-Poly1305 (forward secrecy and AEAD only); TLS 1.3: OpenSSL's
 * defaults (all AEAD). ALPN: "http/1.1". */
#ifndef WSJWT_TLS_H
#define WSJWT_TLS_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A certificate chain and its private key, both PEM files. The chain file
 * holds the leaf first, then intermediates (what Let's Encrypt calls
 * fullchain.pem). */
struct wsjwt_tls_cert {
    const char *cert_file;
    const char *key_file;
};

/* Options for a client TLS context. Zero-initialise: the default verifies
 * the server's certificate against the system's trust store and checks that
 * it names the host of the URL. */
struct wsjwt_tls_client_opts {
    const char *ca_file;   /* trusted CAs (PEM) instead of the system store, or NULL */
    int insecure;          /* skip certificate and hostname verification (testing only) */
    const char *cert_file; /* client certificate chain (PEM), or NULL */
    const char *key_file;  /* its private key (PEM); required with cert_file */
};

/* A client TLS context: trust store, verification mode, client certificate.
 * Loading a trust store costs milliseconds: create one and share it between
 * clients (it is reference-counted; each client takes a reference). */
struct wsjwt_tls_client;

/* Creates a client context. On failure, a message naming the file and the
 * reason goes to err (when errlen > 0). Returns 0, WSJWT_EINVAL (key without
 * certificate or the reverse), WSJWT_ETLS (a file could not be loaded),
 * WSJWT_ENOMEM. */
WSJWT_API int wsjwt_tls_client_new(const struct wsjwt_tls_client_opts *opts, struct wsjwt_tls_client **out,
                                   char *err, size_t errlen);

/* Drops the caller's reference (NULL is fine); clients keep theirs. */
WSJWT_API void wsjwt_tls_client_free(struct wsjwt_tls_client *tls);

#ifdef __cplusplus
}
#endif

#endif
