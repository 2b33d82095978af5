/* libFuzzer: the server side of the TLS engine (src/net/tls.c) fed untrusted
 * ciphertext, as a TLS port is by anyone who connects: the custom BIO, the
 * stash of input across reads, the handshake and the record layer.
 *
 * The first input byte picks the feeding step (1 to 64 bytes, or all at
 * once); each piece is copied into a buffer of exactly its size that is
 * overwritten after the call (as the server's shared receive buffer is), so
 * that ASan catches any use of lent bytes after stash(). Whatever the input,
 * the engine must end in a defined state: handshake done, waiting for more,
 * or failed with WSJWT_ETLS. Seeds: ClientHellos of OpenSSL and Node
 * (fuzz/corpus/tls/). The server's key and certificate are made once, in
 * memory, and written to a temporary directory for the PEM loaders. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "net/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wsjwt__tls_ctx *ctx;

static int make_ctx(void)
{
    char dir[] = "/tmp/wsjwt-fuzz-tls-XXXXXX", crt[64], key[64];
    if (!mkdtemp(dir))
        return -1;
    snprintf(crt, sizeof(crt), "%s/c.pem", dir);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int ok = k && x;
    if (ok) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, k);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"localhost", -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        ok = X509_sign(x, k, EVP_sha256()) > 0;
    }
    FILE *fc = ok ? fopen(crt, "w") : NULL, *fk = ok ? fopen(key, "w") : NULL;
    if (fc && fk)
        ok = PEM_write_X509(fc, x) == 1 && PEM_write_PrivateKey(fk, k, NULL, NULL, 0, NULL, NULL) == 1;
    if (fc)
        fclose(fc);
    if (fk)
        fclose(fk);
    X509_free(x);
    EVP_PKEY_free(k);
    struct wsjwt_tls_cert pair = {crt, key};
    if (ok && wsjwt__tls_ctx_server_new(&pair, 1, &ctx, NULL, 0) != 0)
        ok = 0;
    unlink(crt);
    unlink(key);
    rmdir(dir);
    return ok ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx && make_ctx() != 0)
        abort();
    if (size < 1)
        return 0;
    size_t step = data[0] % 65 ? data[0] % 65 : size;
    data++;
    size--;
    struct wsjwt__tls t;
    if (wsjwt__tls_init(&t, ctx, NULL) != 0)
        return 0;
    static uint8_t plain[1 << 16];
    int rc = WSJWT_EAGAIN;
    for (size_t off = 0; off < size && (rc == WSJWT_EAGAIN || rc == 0);) {
        size_t n = size - off < step ? size - off : step;
        uint8_t *piece = malloc(n);
        if (!piece)
            break;
        memcpy(piece, data + off, n);
        off += n;
        if (wsjwt__tls_feed(&t, piece, n) != 0) {
            free(piece);
            break;
        }
        rc = wsjwt__tls_handshake(&t);
        while (rc == 0) {
            size_t got = 0;
            int r = wsjwt__tls_read(&t, plain, sizeof(plain), &got);
            if (r != 0) {
                if (r != WSJWT_EAGAIN && r != WSJWT_ECLOSED && r != WSJWT_ETLS)
                    abort();
                if (r != WSJWT_EAGAIN)
                    rc = r;
                break;
            }
            if (got == 0 || got > sizeof(plain))
                abort();
        }
        if (rc != 0 && rc != WSJWT_EAGAIN && rc != WSJWT_ETLS && rc != WSJWT_ECLOSED)
            abort();
        /* After stash the engine must not look at the lent bytes again. */
        if (wsjwt__tls_stash(&t) != 0) {
            free(piece);
            break;
        }
        memset(piece, 0xa5, n);
        free(piece);
        /* What the server would send: an alert, handshake records. */
        wsjwt__outq_consume(&t.out, wsjwt__tls_out_size(&t));
    }
    if (t.done && rc == 0 && wsjwt__tls_write(&t, "x", 1) != 0)
        abort();
    wsjwt__tls_free(&t);
    return 0;
}
