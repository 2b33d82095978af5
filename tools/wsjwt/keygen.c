/* wsjwt keygen: a random HMAC secret, or a key pair written as PEM files with
 * its public JWK (or JWKS) on stdout. The randomness and key generation are
 * the library's (OpenSSL RAND and EVP); this file only writes files. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cmd.h"
#include "keyopts.h"

#define CMD "wsjwt keygen"

static void help(FILE *out)
{
    fputs("usage: wsjwt keygen --alg ALG [--out PREFIX] [--kid K] [--jwks]\n"
          "  --alg HS256|HS384|HS512   print a random secret of the hash's size (32, 48, 64 bytes\n"
          "                            from OpenSSL's RAND), base64url; use the printed text as the\n"
          "                            secret (JWT_SECRET, --secret-file)\n"
          "  --alg RS256|PS256|ES256|ES384|ES512|EdDSA (also RS384, RS512, PS384, PS512)\n"
          "                            write PREFIX.key (private PEM, PKCS#8, mode 0600) and\n"
          "                            PREFIX.pub (public PEM), print the public JWK\n"
          "  --out PREFIX              file name prefix (default: the algorithm, lower-case);\n"
          "                            for HS*, write the secret to PREFIX.secret (0600) instead\n"
          "                            of printing it. Existing files are never overwritten\n"
          "  --kid K                   the kid in the JWK\n"
          "  --jwks                    print {\"keys\":[JWK]}, ready to publish\n"
          "exit status: 0 done, 1 failed, 2 usage error\n",
          out);
}

/* Creates `path` exclusively with `mode` and writes `data`. */
static int write_new(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        fprintf(stderr, CMD ": %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (not overwritten; choose another --out)" : "");
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, CMD ": %s: %s\n", path, strerror(errno));
            close(fd);
            unlink(path);
            return -1;
        }
        off += (size_t)n;
    }
    if (close(fd) != 0) {
        fprintf(stderr, CMD ": %s: %s\n", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

static int keygen_secret(enum wsjwt_alg alg, const char *prefix)
{
    struct wsjwt_key *key = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = wsjwt_key_generate(alg, &key);
    if (rc == 0)
        rc = wsjwt_key_secret_b64url(key, &text, &len);
    wsjwt_key_free(key);
    if (rc != 0) {
        fprintf(stderr, CMD ": %s: %s\n", wsjwt_alg_name(alg), wsjwt_strerror(rc));
        return EXIT_REFUSED;
    }
    if (prefix) {
        char path[4096];
        snprintf(path, sizeof(path), "%s.secret", prefix);
        /* The file holds the text plus a newline, which --secret-file drops. */
        text[len] = '\n';
        rc = write_new(path, text, len + 1, 0600) == 0 ? 0 : EXIT_REFUSED;
        text[len] = '\0';
        if (rc == 0)
            fprintf(stderr, CMD ": wrote %s (mode 0600); use it with --secret-file %s\n", path, path);
    } else {
        rc = printf("%s\n", text) > 0 && fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
    }
    OPENSSL_cleanse(text, len);
    wsjwt_free(text);
    return rc;
}

static int keygen_pair(enum wsjwt_alg alg, const char *prefix, const char *kid, int jwks)
{
    char def[16];
    if (!prefix) {
        const char *name = wsjwt_alg_name(alg);
        size_t k = 0;
        for (; name[k] && k + 1 < sizeof(def); k++)
            def[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] - 'A' + 'a' : name[k]);
        def[k] = '\0';
        prefix = def;
    }
    char priv_path[4096];
    char pub_path[4096];
    snprintf(priv_path, sizeof(priv_path), "%s.key", prefix);
    snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix);

    struct wsjwt_key *key = NULL;
    char *priv = NULL, *pub = NULL, *jwk = NULL;
    size_t priv_len = 0, pub_len = 0, jwk_len = 0;
    int rc = wsjwt_key_generate(alg, &key);
    if (rc == 0 && kid)
        rc = wsjwt_key_set_kid(key, kid);
    if (rc == 0)
        rc = wsjwt_key_set_alg(key, alg);
    if (rc == 0)
        rc = wsjwt_key_private_pem(key, &priv, &priv_len);
    if (rc == 0)
        rc = wsjwt_key_public_pem(key, &pub, &pub_len);
    if (rc == 0)
        rc = wsjwt_key_public_jwk(key, &jwk, &jwk_len);
    int out = 0;
    if (rc != 0) {
        fprintf(stderr, CMD ": %s: %s\n", wsjwt_alg_name(alg), wsjwt_strerror(rc));
        out = EXIT_REFUSED;
    } else if (write_new(priv_path, priv, priv_len, 0600) != 0) {
        out = EXIT_REFUSED;
    } else if (write_new(pub_path, pub, pub_len, 0644) != 0) {
        unlink(priv_path);
        out = EXIT_REFUSED;
    } else {
        if (jwks)
            printf("{\"keys\":[%s]}\n", jwk);
        else
            printf("%s\n", jwk);
        fprintf(stderr, CMD ": wrote %s (private, mode 0600) and %s (public)\n", priv_path, pub_path);
        out = fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
    }
    if (priv)
        OPENSSL_cleanse(priv, priv_len);
    wsjwt_free(priv);
    wsjwt_free(pub);
    wsjwt_free(jwk);
    wsjwt_key_free(key);
    return out;
}

int cmd_keygen(int argc, char **argv)
{
    const char *alg_name = NULL, *prefix = NULL, *kid = NULL;
    int jwks = 0;
    int i = 1;
    while (i < argc) {
        const char *v = NULL;
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return 0;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--alg", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            alg_name = v;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--out", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            if (*v == '\0') {
                fprintf(stderr, CMD ": --out needs a file name prefix\n");
                return EXIT_USAGE;
            }
            prefix = v;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--kid", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            kid = v;
            continue;
        }
        if ((r = opt_flag(CMD, argv, &i, "--jwks")) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            jwks = 1;
            continue;
        }
        fprintf(stderr, CMD ": unknown %s '%s' (see wsjwt keygen --help)\n",
                argv[i][0] == '-' ? "option" : "argument", argv[i]);
        return EXIT_USAGE;
    }
    if (!alg_name) {
        fprintf(stderr, CMD ": --alg is required (HS256, HS384, HS512, RS256, PS256, ES256, ES384, ES512, "
                            "EdDSA)\n");
        return EXIT_USAGE;
    }
    enum wsjwt_alg alg;
    if (wsjwt_alg_from_name(alg_name, strlen(alg_name), &alg) != 0) {
        fprintf(stderr, CMD ": --alg: unknown algorithm '%s'\n", alg_name);
        return EXIT_USAGE;
    }
    if (alg_hmac_size(alg) > 0) {
        if (kid || jwks) {
            fprintf(stderr, CMD ": --kid and --jwks are for key pairs; an HMAC secret is never published\n");
            return EXIT_USAGE;
        }
        return keygen_secret(alg, prefix);
    }
    return keygen_pair(alg, prefix, kid, jwks);
}
