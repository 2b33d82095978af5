/* JWT core: RFC 7515 A.1, every verification error code, caps at N and N+1,
 * time rules and their edges, signing. Tokens under test are built from raw
 * JSON and signed with OpenSSL directly (jwt_test_util.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sys/mman.h>
#include <unistd.h>

#include "jwt/json.h"
#include "jwt_test_util.h"

#define SECRET "0123456789abcdef0123456789abcdef" /* 32 bytes: HS256 strength */
#define NOW    1700000000

/* RFC 7515 A.1: the HS256 example, its key given as a JWK "k". */
static const char a1_token[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char a1_k[] =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

static struct wsjwt_keyset *a1_set(void)
{
    uint8_t k[64];
    size_t n = 0;
    struct wsjwt_keyset *set;
    struct wsjwt_key *key;
    assert_int_equal(wsjwt__b64url_decode(a1_k, strlen(a1_k), k, sizeof(k), &n), 0);
    assert_int_equal(n, 64);
    assert_int_equal(wsjwt_key_from_secret(k, n, &key), 0);
    assert_int_equal(wsjwt_keyset_new(&set), 0);
    assert_int_equal(wsjwt_keyset_add(set, key), 0);
    return set;
}

static void test_rfc7515_a1(void **state)
{
    struct wsjwt_keyset *set = a1_set();
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt *j = NULL;
    struct wsjwt_jwt_error err;
    const char *s;
    int64_t i;
    int b;
    (void)state;
    /* exp is 1300819380: one second before it verifies, at it expires. */
    assert_int_equal(wsjwt_jwt_verify(p, set, a1_token, strlen(a1_token), 1300819379, &j, &err), 0);
    assert_int_equal(wsjwt_jwt_alg(j), WSJWT_ALG_HS256);
    assert_string_equal(wsjwt_jwt_header_json(j), "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}");
    assert_int_equal(wsjwt_jwt_claim_string(j, "iss", &s), 0);
    assert_string_equal(s, "joe");
    assert_int_equal(wsjwt_jwt_claim_int(j, "exp", &i), 0);
    assert_int_equal(i, 1300819380);
    assert_int_equal(wsjwt_jwt_claim_bool(j, "http://example.com/is_root", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(wsjwt_jwt_header_string(j, "typ", &s), 0);
    assert_string_equal(s, "JWT");
    assert_int_equal(wsjwt_jwt_claim_string(j, "exp", &s), WSJWT_EJWT_CLAIM_TYPE);
    assert_int_equal(wsjwt_jwt_claim_int(j, "iss", &i), WSJWT_EJWT_CLAIM_TYPE);
    assert_int_equal(wsjwt_jwt_claim_bool(j, "iss", &b), WSJWT_EJWT_CLAIM_TYPE);
    assert_int_equal(wsjwt_jwt_claim_string(j, "nope", &s), WSJWT_ENOENT);
    assert_int_equal(wsjwt_jwt_header_string(j, "kid", &s), WSJWT_ENOENT);
    wsjwt_jwt_free(j);
    assert_int_equal(tu_verify(p, set, a1_token, 1300819380, &err), WSJWT_EJWT_EXPIRED);
    assert_string_equal(err.message, "jwt expired");
    assert_string_equal(err.member, "exp");
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* Any single changed character, in any segment, refuses the token. */
static void test_rfc7515_a1_flipped(void **state)
{
    struct wsjwt_keyset *set = a1_set();
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    char tok[sizeof(a1_token)];
    (void)state;
    for (size_t i = 0; i < strlen(a1_token); i++) {
        memcpy(tok, a1_token, sizeof(tok));
        if (tok[i] == '.')
            continue;
        tok[i] = tok[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(tu_verify(p, set, tok, 1300819379, NULL), 0);
    }
    /* Also the last signature character changed only in its unused bits:
     * the strict decoder refuses the second spelling of the same bytes. */
    memcpy(tok, a1_token, sizeof(tok));
    tok[strlen(tok) - 1] = 'l'; /* 'k' = 36, 'l' = 37: differs in the low 2 bits */
    assert_int_equal(tu_verify(p, set, tok, 1300819379, NULL), WSJWT_EJWT_ENCODING);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* ---- structure and encoding ---------------------------------------------- */

static void test_malformed(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt_error err;
    static const char *const bad[] = {"", "abc", "a.b", "a.b.c.d", "..", ".eyJ9.c", "eyJ9..c", "a.b.c."};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tu_verify(p, set, bad[i], NOW, &err), WSJWT_EJWT_MALFORMED);
        assert_string_equal(err.message, "jwt malformed");
    }
    /* A kid that is not a string. */
    char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\",\"kid\":5}", "{}");
    assert_int_equal(tu_verify(p, set, t, NOW, &err), WSJWT_EJWT_MALFORMED);
    assert_string_equal(err.member, "kid");
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

static void test_encoding(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt_error err;
    char *good = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\"}", "{\"a\":1}");
    char buf[512];
    (void)state;
    assert_int_equal(tu_verify(p, set, good, NOW, &err), 0);
    /* header "eyJhbGciOiJIUzI1NiJ9" is 20 chars: padding it is refused. */
    snprintf(buf, sizeof(buf), "eyJhbGciOiJIUzI1NiJ9==%s", strchr(good, '.'));
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_ENCODING);
    assert_string_equal(err.member, "header");
    /* '+' and '/' in the payload. */
    snprintf(buf, sizeof(buf), "eyJhbGciOiJIUzI1NiJ9.eyJhIjox+Q.sig");
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_ENCODING);
    assert_string_equal(err.member, "payload");
    snprintf(buf, sizeof(buf), "eyJhbGciOiJIUzI1NiJ9.eyJhIjox/Q.sig");
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_ENCODING);
    /* whitespace and a length of 1 mod 4 */
    snprintf(buf, sizeof(buf), "eyJhbGciOiJIUzI1NiJ9 .eyJhIjoxfQ.sig");
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_ENCODING);
    snprintf(buf, sizeof(buf), "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.abcde");
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_ENCODING);
    assert_string_equal(err.member, "signature");
    /* padding on the signature */
    snprintf(buf, sizeof(buf), "%s=", good);
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_ENCODING);
    free(good);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* ---- JSON -------------------------------------------------------------------- */

static void test_json(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt_error err;
    struct {
        const char *hdr, *pay;
        int code;
        const char *member;
    } cases[] = {
        {"{\"alg\":\"HS256\"", "{}", WSJWT_EJWT_JSON, "header"},
        {"{\"alg\":\"HS256\"}", "{\"a\":", WSJWT_EJWT_JSON, "payload"},
        {"{\"alg\":\"HS256\"}", "{\"a\":1} x", WSJWT_EJWT_JSON, "payload"},
        {"{\"alg\":\"HS256\"}", "{\"a\":\"\\u0000\"}", WSJWT_EJWT_JSON, "payload"},
        {"{\"alg\":\"HS256\"}", "{\"a\":\"\xff\"}", WSJWT_EJWT_JSON, "payload"},
        /* integers beyond int64 are refused by the parser, not wrapped */
        {"{\"alg\":\"HS256\"}", "{\"exp\":99999999999999999999}", WSJWT_EJWT_JSON, "payload"},
        {"{\"alg\":\"HS256\",\"alg\":\"HS256\"}", "{}", WSJWT_EJWT_DUPLICATE, "header"},
        {"{\"alg\":\"HS256\"}", "{\"exp\":1,\"exp\":9999999999}", WSJWT_EJWT_DUPLICATE, "payload"},
        {"[\"alg\",\"HS256\"]", "{}", WSJWT_EJWT_NOT_OBJECT, "header"},
        {"{\"alg\":\"HS256\"}", "\"hello\"", WSJWT_EJWT_NOT_OBJECT, "payload"},
        {"{\"alg\":\"HS256\"}", "3", WSJWT_EJWT_NOT_OBJECT, "payload"},
        {"{\"alg\":\"HS256\"}", "[]", WSJWT_EJWT_NOT_OBJECT, "payload"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = tu_hs("SHA256", SECRET, 32, cases[i].hdr, cases[i].pay);
        assert_int_equal(tu_verify(p, set, t, NOW, &err), cases[i].code);
        assert_string_equal(err.member, cases[i].member);
        free(t);
    }
    /* A NUL byte inside the decoded header: the parser sees all bytes. */
    {
        static const char hdr[] = "{\"alg\":\"HS256\"}\0{";
        char *h = tu_b64url(hdr, sizeof(hdr) - 1), buf[256];
        char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\"}", "{}");
        snprintf(buf, sizeof(buf), "%s%s", h, strchr(t, '.'));
        assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_JSON);
        free(h);
        free(t);
    }
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* ---- caps ---------------------------------------------------------------------- */

/* A valid token of exactly `len` characters (payload padded with a claim). */
static char *token_of_len(size_t len)
{
    static const char hdr[] = "{\"alg\":\"HS256\"}";
    for (size_t pad = 0; pad < len; pad++) {
        char *pay = malloc(pad + 16);
        memset(pay, 'x', pad + 16);
        memcpy(pay, "{\"p\":\"", 6);
        memcpy(pay + 6 + pad, "\"}", 3);
        char *t = tu_hs("SHA256", SECRET, 32, hdr, pay);
        free(pay);
        if (strlen(t) == len)
            return t;
        if (strlen(t) > len) {
            /* Lengths step by 1 or 2 characters; a 1 mod 4 length is
             * impossible for base64url: pad to the next one instead. */
            free(t);
            return NULL;
        }
        free(t);
    }
    return NULL;
}

static void test_size_cap(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256), *small = NULL;
    struct wsjwt_jwt_error err;
    char *t = NULL;
    size_t n = WSJWT_JWT_DEFAULT_MAX_LEN;
    (void)state;
    /* Find a constructible length at the default cap, then check N and N+1. */
    while (!(t = token_of_len(n)))
        n--;
    assert_true(n >= WSJWT_JWT_DEFAULT_MAX_LEN - 2);
    if (n == WSJWT_JWT_DEFAULT_MAX_LEN) {
        assert_int_equal(tu_verify(p, set, t, NOW, &err), 0);
    }
    free(t);
    t = token_of_len(WSJWT_JWT_DEFAULT_MAX_LEN + 1);
    if (!t)
        t = token_of_len(WSJWT_JWT_DEFAULT_MAX_LEN + 2);
    assert_non_null(t);
    assert_int_equal(tu_verify(p, set, t, NOW, &err), WSJWT_EJWT_TOO_LARGE);
    free(t);
    /* A configured cap: exactly N passes, N+1 is refused. */
    t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\"}", "{}");
    {
        enum wsjwt_alg a = WSJWT_ALG_HS256;
        struct wsjwt_policy_opts o = {.algs = &a, .n_algs = 1, .max_token_len = strlen(t)};
        assert_int_equal(wsjwt_policy_new(&o, &small), 0);
        assert_int_equal(tu_verify(small, set, t, NOW, &err), 0);
        wsjwt_policy_free(small);
        o.max_token_len = strlen(t) - 1;
        assert_int_equal(wsjwt_policy_new(&o, &small), 0);
        assert_int_equal(tu_verify(small, set, t, NOW, &err), WSJWT_EJWT_TOO_LARGE);
        wsjwt_policy_free(small);
    }
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* The signature segment cap: WSJWT__MAX_SIG bytes decode, more are refused
 * before decoding; neither verifies for HS256. */
static void test_signature_lengths(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt_error err;
    char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\"}", "{}");
    char buf[2048];
    size_t base = (size_t)(strrchr(t, '.') - t) + 1;
    unsigned char mac[64];
    size_t ml = 0;
    (void)state;
    EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, SECRET, 32, (const unsigned char *)t, base - 1, mac, 64,
              &ml);
    memcpy(buf, t, base);
    /* 31 bytes of the right MAC (truncated), and 33 (one extra byte). */
    wsjwt__b64url_encode(mac, 31, buf + base);
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_SIGNATURE);
    mac[32] = 0;
    wsjwt__b64url_encode(mac, 33, buf + base);
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_SIGNATURE);
    /* No signature at all. */
    buf[base] = '\0';
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_SIGNATURE);
    assert_string_equal(err.message, "jwt signature is required");
    /* Over the cap. */
    memset(buf + base, 'A', 1400);
    buf[base + 1400] = '\0';
    assert_int_equal(tu_verify(p, set, buf, NOW, &err), WSJWT_EJWT_SIGNATURE);
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* ---- algorithms and headers ---------------------------------------------------------- */

static void test_alg_refusals(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt_error err;
    static const char *const hdrs[] = {
        "{\"alg\":\"none\"}",
        "{\"alg\":\"None\"}",
        "{\"alg\":\"NONE\"}",
        "{\"alg\":\"nOnE\"}",
        "{\"alg\":\"hs256\"}",
        "{\"alg\":\"HS256 \"}",
        "{\"alg\":\"HS257\"}",
        "{\"alg\":\"\"}",
        "{\"alg\":256}",
        "{\"alg\":null}",
        "{}",
        "{\"alg\":[\"HS256\"]}",
        "{\"alg\":\"HS384\"}",
        "{\"alg\":\"HS256\\u0000\"}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        char *t = tu_hs("SHA256", SECRET, 32, hdrs[i], "{}");
        int rc = tu_verify(p, set, t, NOW, &err);
        /* \u0000 is refused by the JSON parser itself */
        assert_true(rc == WSJWT_EJWT_ALG || (i == 13 && rc == WSJWT_EJWT_JSON));
        if (rc == WSJWT_EJWT_ALG) {
            assert_string_equal(err.message, "invalid algorithm");
            assert_string_equal(err.member, "alg");
        }
        free(t);
        /* unsigned variants ("none" with an empty signature) too */
        t = tu_hs(NULL, NULL, 0, hdrs[i], "{}");
        assert_int_not_equal(tu_verify(p, set, t, NOW, &err), 0);
        free(t);
    }
    /* "none" cannot even be named */
    enum wsjwt_alg a = WSJWT_ALG_HS256;
    assert_int_equal(wsjwt_alg_from_name("none", 4, &a), WSJWT_EJWT_ALG);
    assert_int_equal(wsjwt_alg_from_name("HS256", 5, &a), 0);
    assert_int_equal(a, WSJWT_ALG_HS256);
    assert_int_equal(wsjwt_alg_from_name("HS2567", 5, &a), 0); /* only len bytes are read */
    assert_int_equal(wsjwt_alg_from_name("EdDSA", 5, &a), 0);
    assert_int_equal(a, WSJWT_ALG_EDDSA);
    assert_int_equal(wsjwt_alg_from_name("EDDSA", 5, &a), WSJWT_EJWT_ALG);
    assert_string_equal(wsjwt_alg_name(WSJWT_ALG_PS384), "PS384");
    assert_string_equal(wsjwt_alg_name(WSJWT_ALG_UNKNOWN), "unknown");
    assert_string_equal(wsjwt_alg_name((enum wsjwt_alg)99), "unknown");
    for (int i = 1; i < WSJWT_ALG_COUNT; i++) {
        const char *n = wsjwt_alg_name((enum wsjwt_alg)i);
        assert_int_equal(wsjwt_alg_from_name(n, strlen(n), &a), 0);
        assert_int_equal(a, i);
    }
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

static void test_hs_family_exact(void **state)
{
    static const struct {
        enum wsjwt_alg alg;
        const char *md, *name;
    } algs[] = {{WSJWT_ALG_HS256, "SHA256", "HS256"},
                {WSJWT_ALG_HS384, "SHA384", "HS384"},
                {WSJWT_ALG_HS512, "SHA512", "HS512"}};
    static const char secret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    struct wsjwt_keyset *set = tu_secret_set(secret, NULL);
    (void)state;
    for (int i = 0; i < 3; i++) {
        struct wsjwt_policy *p = tu_policy1(algs[i].alg);
        for (int j = 0; j < 3; j++) {
            char hdr[64];
            snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", algs[j].name);
            char *t = tu_hs(algs[j].md, secret, 64, hdr, "{}");
            assert_int_equal(tu_verify(p, set, t, NOW, NULL), i == j ? 0 : WSJWT_EJWT_ALG);
            free(t);
            /* The header names one alg, the MAC is of another. */
            snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", algs[i].name);
            t = tu_hs(algs[j].md, secret, 64, hdr, "{}");
            assert_int_equal(tu_verify(p, set, t, NOW, NULL), i == j ? 0 : WSJWT_EJWT_SIGNATURE);
            free(t);
        }
        wsjwt_policy_free(p);
    }
    wsjwt_keyset_unref(set);
}

static void test_crit(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt_error err;
    static const char *const hdrs[] = {
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
        "{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
        "{\"alg\":\"HS256\",\"crit\":[]}",
        "{\"alg\":\"HS256\",\"crit\":\"x\"}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        char *t = tu_hs("SHA256", SECRET, 32, hdrs[i], "{}");
        assert_int_equal(tu_verify(p, set, t, NOW, &err), WSJWT_EJWT_CRIT);
        assert_string_equal(err.member, "crit");
        free(t);
    }
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* An HS token against a set with no secret: a key type mismatch. */
static void test_key_type_mismatch_no_secret(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    enum wsjwt_alg algs[] = {WSJWT_ALG_HS256, WSJWT_ALG_RS256};
    struct wsjwt_policy_opts o = {.algs = algs, .n_algs = 2};
    struct wsjwt_policy *p = NULL;
    struct wsjwt_jwt_error err;
    (void)state;
    assert_int_equal(wsjwt_policy_new(&o, &p), 0);
    char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"RS256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, NOW, &err), WSJWT_EJWT_KEY_TYPE);
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

static void test_signature_and_keys(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL), *empty = NULL;
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt_error err;
    struct wsjwt_key *k = NULL;
    (void)state;
    char *t = tu_hs("SHA256", "another secret of 32 bytes......", 32, "{\"alg\":\"HS256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, NOW, &err), WSJWT_EJWT_SIGNATURE);
    assert_string_equal(err.message, "invalid signature");
    /* No keys at all. */
    assert_int_equal(wsjwt_keyset_new(&empty), 0);
    assert_int_equal(tu_verify(p, empty, t, NOW, &err), WSJWT_EJWT_NO_KEY);
    assert_int_equal(tu_verify(p, NULL, t, NOW, &err), WSJWT_EJWT_NO_KEY);
    free(t);
    /* A key restricted to HS512 is not a candidate for HS256. */
    t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\"}", "{}");
    assert_int_equal(wsjwt_key_from_secret(SECRET, 32, &k), 0);
    assert_int_equal(wsjwt_key_set_alg(k, WSJWT_ALG_HS512), 0);
    assert_int_equal(wsjwt_key_alg(k), WSJWT_ALG_HS512);
    assert_int_equal(wsjwt_key_fits(k, WSJWT_ALG_HS256), 0);
    assert_int_equal(wsjwt_key_fits(k, WSJWT_ALG_HS512), 1);
    assert_int_equal(wsjwt_key_set_alg(k, WSJWT_ALG_RS256), WSJWT_EJWT_KEY_TYPE);
    assert_int_equal(wsjwt_keyset_add(empty, k), 0);
    assert_int_equal(tu_verify(p, empty, t, NOW, &err), WSJWT_EJWT_NO_KEY);
    free(t);
    /* An empty secret is refused at construction. */
    assert_int_equal(wsjwt_key_from_secret("", 0, &k), WSJWT_EJWT_EMPTY_KEY);
    assert_null(k);
    assert_int_equal(wsjwt_key_from_secret(NULL, 0, &k), WSJWT_EJWT_EMPTY_KEY);
    /* Invalid arguments. */
    assert_int_equal(wsjwt_jwt_verify(NULL, set, "a.b.c", 5, NOW, NULL, &err), WSJWT_EINVAL);
    wsjwt_keyset_unref(empty);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* Short secrets verify (Node users sign with them) but do not sign. */
static void test_weak_secret(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set("shhh", NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    const struct wsjwt_key *k = wsjwt_keyset_get(set, 0);
    struct wsjwt_sign_opts so = {.alg = WSJWT_ALG_HS256, .now = NOW};
    char *out = NULL;
    size_t n;
    (void)state;
    char *t = tu_hs("SHA256", "shhh", 4, "{\"alg\":\"HS256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, NOW, NULL), 0);
    assert_true(wsjwt_key_is_weak(k, WSJWT_ALG_HS256));
    assert_int_equal(wsjwt_jwt_sign(k, &so, &out, &n), WSJWT_EJWT_WEAK_KEY);
    assert_null(out);
    so.allow_weak_key = 1;
    assert_int_equal(wsjwt_jwt_sign(k, &so, &out, &n), 0);
    assert_int_equal(tu_verify(p, set, out, NOW, NULL), 0);
    wsjwt_free(out);
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
    /* The boundary: 31 bytes is weak for HS256, 32 is not; 32 is weak for HS384. */
    struct wsjwt_key *a, *b;
    assert_int_equal(wsjwt_key_from_secret(SECRET, 31, &a), 0);
    assert_int_equal(wsjwt_key_from_secret(SECRET, 32, &b), 0);
    assert_true(wsjwt_key_is_weak(a, WSJWT_ALG_HS256));
    assert_false(wsjwt_key_is_weak(b, WSJWT_ALG_HS256));
    assert_true(wsjwt_key_is_weak(b, WSJWT_ALG_HS384));
    wsjwt_key_free(a);
    wsjwt_key_free(b);
}

/* ---- kid selection ---------------------------------------------------------------- */

static void test_kid_selection(void **state)
{
    struct wsjwt_keyset *set = NULL;
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt_error err;
    struct wsjwt_key *a, *b;
    static const char sa[] = "secret A secret A secret A secre", sb[] = "secret B secret B secret B secre";
    (void)state;
    assert_int_equal(wsjwt_keyset_new(&set), 0);
    assert_int_equal(wsjwt_key_from_secret(sa, 32, &a), 0);
    assert_int_equal(wsjwt_key_from_secret(sb, 32, &b), 0);
    assert_int_equal(wsjwt_key_set_kid(a, "a"), 0);
    assert_int_equal(wsjwt_key_set_kid(b, "b"), 0);
    assert_string_equal(wsjwt_key_kid(b), "b");
    assert_int_equal(wsjwt_keyset_add(set, a), 0);
    assert_int_equal(wsjwt_keyset_add(set, b), 0);
    assert_int_equal(wsjwt_keyset_count(set), 2);
    char *t = tu_hs("SHA256", sb, 32, "{\"alg\":\"HS256\",\"kid\":\"b\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, NOW, &err), 0);
    free(t);
    /* kid says a, signed with b */
    t = tu_hs("SHA256", sb, 32, "{\"alg\":\"HS256\",\"kid\":\"a\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, NOW, &err), WSJWT_EJWT_SIGNATURE);
    free(t);
    /* unknown kids, including path-like, quoted and 10 kB ones */
    const char *kids[] = {"c", "../b", "b/../b", "\\\"b\\\"", "b' OR '1'='1", "B", "b "};
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
        char hdr[128];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\"}", kids[i]);
        t = tu_hs("SHA256", sb, 32, hdr, "{}");
        assert_int_equal(tu_verify(p, set, t, NOW, &err), WSJWT_EJWT_KID_UNKNOWN);
        assert_string_equal(err.member, "kid");
        free(t);
    }
    {
        char *hdr = malloc(10300);
        strcpy(hdr, "{\"alg\":\"HS256\",\"kid\":\"");
        memset(hdr + strlen(hdr), 'k', 10240);
        strcpy(hdr + 22 + 10240, "\"}");
        t = tu_hs("SHA256", sb, 32, hdr, "{}");
        struct wsjwt_policy_opts o = {
            .algs = (enum wsjwt_alg[]){WSJWT_ALG_HS256}, .n_algs = 1, .max_token_len = 65536};
        struct wsjwt_policy *big = NULL;
        assert_int_equal(wsjwt_policy_new(&o, &big), 0);
        assert_int_equal(tu_verify(big, set, t, NOW, &err), WSJWT_EJWT_KID_UNKNOWN);
        assert_true(strlen(err.message) < sizeof(err.message));
        assert_int_equal(tu_verify(p, set, t, NOW, &err), WSJWT_EJWT_TOO_LARGE);
        wsjwt_policy_free(big);
        free(hdr);
        free(t);
    }
    /* Without a kid, every fitting key is tried. */
    t = tu_hs("SHA256", sb, 32, "{\"alg\":\"HS256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, NOW, &err), 0);
    free(t);
    wsjwt_keyset_unref(set);
    /* A key without kid matches a token with any kid. */
    set = tu_secret_set(sb, NULL);
    t = tu_hs("SHA256", sb, 32, "{\"alg\":\"HS256\",\"kid\":\"zzz\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, NOW, &err), 0);
    free(t);
    wsjwt_keyset_unref(set);
    wsjwt_policy_free(p);
}

/* At most WSJWT_KEYSET_MAX_TRIES candidates for a token without kid; at most
 * WSJWT_KEYSET_MAX_KEYS keys in a set. */
static void test_keyset_bounds(void **state)
{
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    static const char good[] = "the right secret, 32 bytes long.";
    (void)state;
    for (int n = WSJWT_KEYSET_MAX_TRIES; n <= WSJWT_KEYSET_MAX_TRIES + 1; n++) {
        struct wsjwt_keyset *set = NULL;
        assert_int_equal(wsjwt_keyset_new(&set), 0);
        for (int i = 0; i < n; i++) {
            struct wsjwt_key *k;
            char s[33];
            snprintf(s, sizeof(s), "wrong secret number %02d.........", i);
            assert_int_equal(wsjwt_key_from_secret(i == n - 1 ? good : s, 32, &k), 0);
            assert_int_equal(wsjwt_keyset_add(set, k), 0);
        }
        char *t = tu_hs("SHA256", good, 32, "{\"alg\":\"HS256\"}", "{}");
        assert_int_equal(tu_verify(p, set, t, NOW, NULL),
                         n == WSJWT_KEYSET_MAX_TRIES ? 0 : WSJWT_EJWT_SIGNATURE);
        free(t);
        wsjwt_keyset_unref(set);
    }
    struct wsjwt_keyset *set = NULL;
    assert_int_equal(wsjwt_keyset_new(&set), 0);
    for (int i = 0; i < WSJWT_KEYSET_MAX_KEYS; i++) {
        struct wsjwt_key *k;
        assert_int_equal(wsjwt_key_from_secret("x", 1, &k), 0);
        assert_int_equal(wsjwt_keyset_add(set, k), 0);
    }
    struct wsjwt_key *k;
    assert_int_equal(wsjwt_key_from_secret("x", 1, &k), 0);
    assert_int_equal(wsjwt_keyset_add(set, k), WSJWT_ETOOBIG);
    assert_int_equal(wsjwt_keyset_count(set), WSJWT_KEYSET_MAX_KEYS);
    assert_null(wsjwt_keyset_get(set, WSJWT_KEYSET_MAX_KEYS));
    wsjwt_keyset_unref(set);
    wsjwt_policy_free(p);
}

/* ---- claims ---------------------------------------------------------------------- */

struct claim_case {
    const char *pay;
    int64_t now;
    int code;
    const char *member;
};

static void run_claims(const struct wsjwt_policy_opts *base, const struct claim_case *c, size_t n)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = NULL;
    struct wsjwt_jwt_error err;
    assert_int_equal(wsjwt_policy_new(base, &p), 0);
    for (size_t i = 0; i < n; i++) {
        char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", c[i].pay);
        int rc = tu_verify(p, set, t, c[i].now, &err);
        if (rc != c[i].code)
            fail_msg("case %zu (%s at %lld): got %d (%s), want %d", i, c[i].pay, (long long)c[i].now, rc,
                     err.message, c[i].code);
        if (rc)
            assert_string_equal(err.member, c[i].member);
        free(t);
    }
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

static enum wsjwt_alg hs256[] = {WSJWT_ALG_HS256};

static void test_time_claims(void **state)
{
    struct wsjwt_policy_opts o = {.algs = hs256, .n_algs = 1};
    static const struct claim_case cases[] = {
        /* exp: expired when now >= exp */
        {"{\"exp\":1000}", 999, 0, ""},
        {"{\"exp\":1000}", 1000, WSJWT_EJWT_EXPIRED, "exp"},
        {"{\"exp\":1000.5}", 1000, 0, ""},
        {"{\"exp\":999.5}", 999, 0, ""},
        {"{\"exp\":999.5}", 1000, WSJWT_EJWT_EXPIRED, "exp"},
        {"{\"exp\":1e300}", 1000, 0, ""},
        {"{\"exp\":-1e300}", 1000, WSJWT_EJWT_EXPIRED, "exp"},
        {"{\"exp\":9223372036854775807}", INT64_MAX - 1, 0, ""},
        {"{\"exp\":9223372036854775807}", INT64_MAX, WSJWT_EJWT_EXPIRED, "exp"},
        {"{\"exp\":-9223372036854775808}", INT64_MIN, WSJWT_EJWT_EXPIRED, "exp"},
        {"{\"exp\":1e19}", INT64_MAX, 0, ""},
        {"{\"exp\":\"2000\"}", 1000, WSJWT_EJWT_CLAIM_TYPE, "exp"},
        {"{\"exp\":null}", 1000, WSJWT_EJWT_CLAIM_TYPE, "exp"},
        {"{\"exp\":true}", 1000, WSJWT_EJWT_CLAIM_TYPE, "exp"},
        /* nbf: not active when nbf > now */
        {"{\"nbf\":1000}", 1000, 0, ""},
        {"{\"nbf\":1000}", 999, WSJWT_EJWT_NOT_ACTIVE, "nbf"},
        {"{\"nbf\":1000.5}", 1000, WSJWT_EJWT_NOT_ACTIVE, "nbf"},
        {"{\"nbf\":1e300}", INT64_MAX, WSJWT_EJWT_NOT_ACTIVE, "nbf"},
        {"{\"nbf\":-1e300}", INT64_MIN, 0, ""},
        {"{\"nbf\":[1]}", 1000, WSJWT_EJWT_CLAIM_TYPE, "nbf"},
        /* iat is only type-checked without max_age; a future iat is fine */
        {"{\"iat\":5000}", 1000, 0, ""},
        {"{\"iat\":{}}", 1000, WSJWT_EJWT_CLAIM_TYPE, "iat"},
        /* both */
        {"{\"nbf\":900,\"exp\":1100}", 1000, 0, ""},
    };
    (void)state;
    run_claims(&o, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_leeway(void **state)
{
    struct wsjwt_policy_opts o = {.algs = hs256, .n_algs = 1, .leeway = 30};
    static const struct claim_case cases[] = {
        {"{\"exp\":1000}", 1029, 0, ""},
        {"{\"exp\":1000}", 1030, WSJWT_EJWT_EXPIRED, "exp"},
        {"{\"nbf\":1000}", 970, 0, ""},
        {"{\"nbf\":1000}", 969, WSJWT_EJWT_NOT_ACTIVE, "nbf"},
        /* no overflow near the ends of int64 */
        {"{\"exp\":9223372036854775807}", INT64_MAX, 0, ""},
        {"{\"nbf\":-9223372036854775808}", INT64_MIN, 0, ""},
        {"{\"nbf\":9223372036854775807}", INT64_MAX, 0, ""},
    };
    (void)state;
    run_claims(&o, cases, sizeof(cases) / sizeof(cases[0]));
    o.leeway = INT64_MAX;
    static const struct claim_case huge[] = {
        /* exact: -2^63 + (2^63 - 1) = -1, so at 0 the token has expired */
        {"{\"exp\":-9223372036854775808}", -2, 0, ""},
        {"{\"exp\":-9223372036854775808}", -1, WSJWT_EJWT_EXPIRED, "exp"},
        {"{\"exp\":-9223372036854775808}", INT64_MIN, 0, ""},
        {"{\"nbf\":9223372036854775807}", 0, 0, ""},
        {"{\"nbf\":9223372036854775807}", -1, WSJWT_EJWT_NOT_ACTIVE, "nbf"},
    };
    run_claims(&o, huge, sizeof(huge) / sizeof(huge[0]));
}

static void test_max_age(void **state)
{
    struct wsjwt_policy_opts o = {.algs = hs256, .n_algs = 1, .max_age = 100, .leeway = 5};
    static const struct claim_case cases[] = {
        {"{\"iat\":1000}", 1000, 0, ""},
        {"{\"iat\":1000}", 1104, 0, ""},
        {"{\"iat\":1000}", 1105, WSJWT_EJWT_TOO_OLD, "iat"}, /* now >= iat + max_age + leeway */
        {"{\"iat\":1005}", 1000, 0, ""},
        {"{\"iat\":1006}", 1000, WSJWT_EJWT_FUTURE_IAT, "iat"},
        {"{\"iat\":1e300}", 1000, WSJWT_EJWT_FUTURE_IAT, "iat"},
        {"{\"iat\":-1e300}", 1000, WSJWT_EJWT_TOO_OLD, "iat"},
        {"{\"iat\":-9223372036854775808}", INT64_MIN, 0, ""},
        {"{}", 1000, WSJWT_EJWT_MISSING_CLAIM, "iat"},
        {"{\"iat\":\"1000\"}", 1000, WSJWT_EJWT_CLAIM_TYPE, "iat"},
    };
    (void)state;
    run_claims(&o, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_require_exp(void **state)
{
    struct wsjwt_policy_opts o = {.algs = hs256, .n_algs = 1, .require_exp = 1};
    static const struct claim_case cases[] = {
        {"{\"exp\":2000}", 1000, 0, ""},
        {"{}", 1000, WSJWT_EJWT_MISSING_CLAIM, "exp"},
    };
    (void)state;
    run_claims(&o, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_iss_aud_sub(void **state)
{
    const char *iss[] = {"https://a.example", "https://b.example"};
    const char *aud[] = {"api", "ws"};
    struct wsjwt_policy_opts o = {.algs = hs256,
                                  .n_algs = 1,
                                  .issuers = iss,
                                  .n_issuers = 2,
                                  .audiences = aud,
                                  .n_audiences = 2,
                                  .subject = "alice"};
    static const struct claim_case cases[] = {
        {"{\"iss\":\"https://a.example\",\"aud\":\"api\",\"sub\":\"alice\"}", 0, 0, ""},
        {"{\"iss\":\"https://b.example\",\"aud\":[\"x\",\"ws\"],\"sub\":\"alice\"}", 0, 0, ""},
        {"{\"iss\":\"https://c.example\",\"aud\":\"api\",\"sub\":\"alice\"}", 0, WSJWT_EJWT_ISS, "iss"},
        {"{\"iss\":\"https://A.example\",\"aud\":\"api\",\"sub\":\"alice\"}", 0, WSJWT_EJWT_ISS, "iss"},
        {"{\"aud\":\"api\",\"sub\":\"alice\"}", 0, WSJWT_EJWT_ISS, "iss"},
        {"{\"iss\":5,\"aud\":\"api\",\"sub\":\"alice\"}", 0, WSJWT_EJWT_CLAIM_TYPE, "iss"},
        {"{\"iss\":\"https://a.example\",\"aud\":\"API\",\"sub\":\"alice\"}", 0, WSJWT_EJWT_AUD, "aud"},
        {"{\"iss\":\"https://a.example\",\"aud\":[],\"sub\":\"alice\"}", 0, WSJWT_EJWT_AUD, "aud"},
        {"{\"iss\":\"https://a.example\",\"sub\":\"alice\"}", 0, WSJWT_EJWT_AUD, "aud"},
        {"{\"iss\":\"https://a.example\",\"aud\":7,\"sub\":\"alice\"}", 0, WSJWT_EJWT_CLAIM_TYPE, "aud"},
        {"{\"iss\":\"https://a.example\",\"aud\":[\"api\",7],\"sub\":\"alice\"}", 0, WSJWT_EJWT_CLAIM_TYPE,
         "aud"},
        {"{\"iss\":\"https://a.example\",\"aud\":\"api\",\"sub\":\"bob\"}", 0, WSJWT_EJWT_SUB, "sub"},
        {"{\"iss\":\"https://a.example\",\"aud\":\"api\"}", 0, WSJWT_EJWT_SUB, "sub"},
        {"{\"iss\":\"https://a.example\",\"aud\":\"api\",\"sub\":[\"alice\"]}", 0, WSJWT_EJWT_CLAIM_TYPE,
         "sub"},
    };
    (void)state;
    run_claims(&o, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_required_and_typ(void **state)
{
    const char *req[] = {"scope", "name"};
    struct wsjwt_policy_opts o = {.algs = hs256, .n_algs = 1, .required = req, .n_required = 2, .typ = "JWT"};
    static const struct claim_case cases[] = {
        {"{\"scope\":\"x\",\"name\":null}", 0, 0, ""}, /* typ "jwt" matches "JWT" */
        {"{\"scope\":\"x\"}", 0, WSJWT_EJWT_MISSING_CLAIM, "name"},
    };
    (void)state;
    run_claims(&o, cases, sizeof(cases) / sizeof(cases[0]));
    o.n_required = 0;
    o.typ = "at+jwt";
    static const struct claim_case typ[] = {{"{}", 0, WSJWT_EJWT_TYP, "typ"}};
    run_claims(&o, typ, 1);
    /* A header without typ. */
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = NULL;
    struct wsjwt_jwt_error err;
    o.typ = "JWT";
    assert_int_equal(wsjwt_policy_new(&o, &p), 0);
    char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, 0, &err), WSJWT_EJWT_TYP);
    free(t);
    t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\",\"typ\":\"Jwt\"}", "{}");
    assert_int_equal(tu_verify(p, set, t, 0, &err), 0);
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* The verification path's JSON: escapes compared after unescaping, depth and
 * member caps at N and N+1. */
static void test_json_escapes_and_caps(void **state)
{
    const char *iss[] = {"joe"}, *aud[] = {"w\"s"};
    struct wsjwt_policy_opts o = {
        .algs = hs256, .n_algs = 1, .issuers = iss, .n_issuers = 1, .audiences = aud, .n_audiences = 1};
    static const struct claim_case cases[] = {
        {"{\"iss\":\"jo\\u0065\",\"aud\":[\"x\",\"w\\\"s\"]}", 0, 0, ""},
        {"{\"\\u0069ss\":\"joe\",\"aud\":\"w\\u0022s\"}", 0, 0, ""},
        {"{\"iss\":\"joe\",\"aud\":\"w\\\"s\",\"a\":1,\"\\u0061\":2}", 0, WSJWT_EJWT_DUPLICATE, "payload"},
        {"{\"iss\":\"joe\",\"aud\":\"w\\\"s\",\"x\":{\"a\":1,\"b\":{\"c\":[{\"d\":1,\"d\":1}]}}}", 0,
         WSJWT_EJWT_DUPLICATE, "payload"},
        {"{\"iss\":\"joe\",\"aud\":\"w\\\"s\",\"s\":\"\\ud83d\\ude00\"}", 0, 0, ""},
        {"{\"iss\":\"joe\",\"aud\":\"w\\\"s\",\"s\":\"\\ud83d\"}", 0, WSJWT_EJWT_JSON, "payload"},
        {"{\"iss\":\"joe\",\"aud\":\"w\\\"s\",\"s\":\"\\ude00\"}", 0, WSJWT_EJWT_JSON, "payload"},
        {"{\"iss\":\"joe\",\"aud\":\"w\\\"s\",\"n\":01}", 0, WSJWT_EJWT_JSON, "payload"},
        {"{\"iss\":\"joe\",\"aud\":\"w\\\"s\",\"n\":1e999}", 0, WSJWT_EJWT_JSON, "payload"},
        {"{\"iss\":\"joe\",\"aud\":\"w\\\"s\",\"n\":1e-999}", 0, 0, ""},
        {"{\"iss\":\"joe\",\"aud\":\"w\\\"s\",\"t\":\"tab\there\"}", 0, WSJWT_EJWT_JSON, "payload"},
    };
    (void)state;
    run_claims(&o, cases, sizeof(cases) / sizeof(cases[0]));

    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_jwt_error err;
    struct wsjwt_jwt *j = NULL;
    char pay[4096];
    const char *str;
    /* depth: the payload object is level 1; 32 levels pass, 33 do not */
    for (int depth = 32; depth <= 33; depth++) {
        size_t n = 0;
        n += (size_t)sprintf(pay + n, "{\"a\":");
        for (int d = 1; d < depth; d++)
            pay[n++] = '[';
        pay[n++] = '1';
        for (int d = 1; d < depth; d++)
            pay[n++] = ']';
        strcpy(pay + n, "}");
        char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\"}", pay);
        assert_int_equal(tu_verify(p, set, t, 0, &err), depth == 32 ? 0 : WSJWT_EJWT_JSON);
        free(t);
    }
    /* members: 256 pass, 257 do not */
    for (int members = 256; members <= 257; members++) {
        size_t n = 1;
        pay[0] = '{';
        for (int i = 0; i < members; i++)
            n += (size_t)sprintf(pay + n, "%s\"%x\":1", i ? "," : "", i);
        strcpy(pay + n, "}");
        char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\"}", pay);
        assert_int_equal(tu_verify(p, set, t, 0, &err), members == 256 ? 0 : WSJWT_EJWT_JSON);
        free(t);
    }
    /* header members: 32 pass, 33 do not */
    for (int members = 32; members <= 33; members++) {
        char hdr[1024];
        size_t n = (size_t)sprintf(hdr, "{\"alg\":\"HS256\"");
        for (int i = 1; i < members; i++)
            n += (size_t)sprintf(hdr + n, ",\"h%d\":%d", i, i);
        strcpy(hdr + n, "}");
        char *t = tu_hs("SHA256", SECRET, 32, hdr, "{}");
        assert_int_equal(tu_verify(p, set, t, 0, &err), members == 32 ? 0 : WSJWT_EJWT_JSON);
        free(t);
    }
    /* getters see unescaped strings */
    char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\",\"kid\":\"k\\/1\"}",
                    "{\"name\":\"fire\\ncamp\\u00e9\",\"r\":1.5,\"i\":1.7e9}");
    assert_int_equal(wsjwt_jwt_verify(p, set, t, strlen(t), 0, &j, &err), 0);
    assert_int_equal(wsjwt_jwt_claim_string(j, "name", &str), 0);
    assert_string_equal(str, "fire\ncamp\xc3\xa9");
    assert_int_equal(wsjwt_jwt_header_string(j, "kid", &str), 0);
    assert_string_equal(str, "k/1");
    int64_t v;
    assert_int_equal(wsjwt_jwt_claim_int(j, "r", &v), WSJWT_EJWT_CLAIM_TYPE);
    assert_int_equal(wsjwt_jwt_claim_int(j, "i", &v), 0);
    assert_int_equal(v, 1700000000);
    wsjwt_jwt_free(j);
    free(t);
    /* contains and raw JSON */
    t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\"}",
              "{\"ch\":[\"lobby\",7,\"r\\u00e9d\"],\"one\":\"lobby\",\"n\":5,\"o\":{\"a\" : [1]}}");
    assert_int_equal(wsjwt_jwt_verify(p, set, t, strlen(t), 0, &j, &err), 0);
    assert_int_equal(wsjwt_jwt_claim_contains(j, "ch", "lobby"), 1);
    assert_int_equal(wsjwt_jwt_claim_contains(j, "ch",
                                              "r\xc3\xa9"
                                              "d"),
                     1);
    assert_int_equal(wsjwt_jwt_claim_contains(j, "ch", "7"), 0);
    assert_int_equal(wsjwt_jwt_claim_contains(j, "ch", "lob"), 0);
    assert_int_equal(wsjwt_jwt_claim_contains(j, "one", "lobby"), 1);
    assert_int_equal(wsjwt_jwt_claim_contains(j, "one", "x"), 0);
    assert_int_equal(wsjwt_jwt_claim_contains(j, "n", "5"), WSJWT_EJWT_CLAIM_TYPE);
    assert_int_equal(wsjwt_jwt_claim_contains(j, "none", "x"), WSJWT_ENOENT);
    size_t rl;
    assert_int_equal(wsjwt_jwt_claim_json(j, "o", &str, &rl), 0);
    assert_int_equal(rl, 11);
    assert_memory_equal(str, "{\"a\" : [1]}", 11);
    assert_int_equal(wsjwt_jwt_claim_json(j, "one", &str, &rl), 0);
    assert_memory_equal(str, "\"lobby\"", rl);
    assert_int_equal(wsjwt_jwt_claim_json(j, "n", &str, &rl), 0);
    assert_memory_equal(str, "5", rl);
    assert_int_equal(wsjwt_jwt_claim_json(j, "zz", &str, &rl), WSJWT_ENOENT);
    wsjwt_jwt_free(j);
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* Every prefix of a token, and of JSON texts, placed so that its last byte is
 * the last readable byte before a PROT_NONE page: any over-read faults. */
static void test_no_overread(void **state)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    const char *iss[] = {"joe"}, *aud[] = {"api"};
    struct wsjwt_policy_opts o = {.algs = hs256,
                                  .n_algs = 1,
                                  .issuers = iss,
                                  .n_issuers = 1,
                                  .audiences = aud,
                                  .n_audiences = 1,
                                  .typ = "JWT",
                                  .max_age = 100};
    struct wsjwt_policy *p = NULL;
    static const char *const json[] = {
        "{\"iss\":\"joe\",\"aud\":[\"x\",\"api\"],\"iat\":1.5e3,\"n\":-12,\"s\":\"\\ud83d\\ude00\\n\",\"o\":{"
        "\"a\":[true,false,null]}}",
        "{\"k\":\"\xf0\x9f\x98\x80\xc3\xa9\"}",
    };
    (void)state;
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + page, page, PROT_NONE), 0);
    assert_int_equal(wsjwt_policy_new(&o, &p), 0);
    char *t = tu_hs("SHA256", SECRET, 32, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k\"}", json[0]);
    size_t n = strlen(t);
    for (size_t len = 0; len <= n; len++) {
        char *at = map + page - len;
        memcpy(at, t, len);
        struct wsjwt_jwt *j = NULL;
        int rc = wsjwt_jwt_verify(p, set, at, len, 1500, &j, NULL);
        assert_int_equal(rc == 0, len == n);
        wsjwt_jwt_free(j);
    }
    for (size_t k = 0; k < sizeof(json) / sizeof(json[0]); k++) {
        size_t jl = strlen(json[k]);
        for (size_t len = 0; len <= jl; len++) {
            struct wsjwt__jmember m[16];
            char arena[256];
            size_t cnt;
            int limit;
            char *at = map + page - len;
            memcpy(at, json[k], len);
            int rc = wsjwt__json_parse_object(at, len, arena, m, 16, &cnt, &limit);
            assert_int_equal(rc == 0, len == jl);
            if (rc == 0) {
                const struct wsjwt__jmember *a = wsjwt__json_get(m, cnt, "aud");
                size_t pos = 0;
                int type, seen = 0;
                char buf[64];
                while (a && wsjwt__json_array_next(a, &pos, &type, buf))
                    seen++;
                assert_int_equal(seen, a ? 2 : 0);
            }
        }
    }
    free(t);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
    munmap(map, 2 * page);
}

static void test_policy_refusals(void **state)
{
    struct wsjwt_policy *p = NULL;
    enum wsjwt_alg bad[] = {WSJWT_ALG_UNKNOWN}, big[] = {WSJWT_ALG_COUNT};
    struct wsjwt_policy_opts o = {.algs = hs256, .n_algs = 0};
    (void)state;
    assert_int_equal(wsjwt_policy_new(&o, &p), WSJWT_EINVAL); /* no algorithm */
    o.algs = NULL;
    o.n_algs = 1;
    assert_int_equal(wsjwt_policy_new(&o, &p), WSJWT_EINVAL);
    o.algs = bad;
    assert_int_equal(wsjwt_policy_new(&o, &p), WSJWT_EINVAL); /* "none"/unknown cannot be listed */
    o.algs = big;
    assert_int_equal(wsjwt_policy_new(&o, &p), WSJWT_EINVAL);
    o.algs = hs256;
    o.leeway = -1;
    assert_int_equal(wsjwt_policy_new(&o, &p), WSJWT_EINVAL);
    o.leeway = 0;
    o.max_age = -1;
    assert_int_equal(wsjwt_policy_new(&o, &p), WSJWT_EINVAL);
    o.max_age = 0;
    o.n_issuers = 1; /* count without array */
    assert_int_equal(wsjwt_policy_new(&o, &p), WSJWT_EINVAL);
    assert_null(p);
    assert_int_equal(wsjwt_policy_new(NULL, &p), WSJWT_EINVAL);
    wsjwt_policy_free(NULL);
}

/* Every JWT failure maps to 401 / 1008 for the peer. */
static void test_error_mapping(void **state)
{
    (void)state;
    for (int c = WSJWT_EJWT_MALFORMED; c >= WSJWT_EJWT_NOT_OBJECT; c--) {
        if (c == WSJWT_EJWT_KEY_FORMAT)
            continue; /* a configuration error, not the peer's */
        assert_int_equal(wsjwt_err_http_status(c), 401);
        assert_int_equal(wsjwt_err_close_code(c), 1008);
    }
    assert_string_equal(wsjwt_strerror(WSJWT_EJWT_EXPIRED), "jwt expired");
    assert_string_equal(wsjwt_strerror(WSJWT_EJWT_NOT_ACTIVE), "jwt not active");
    assert_string_equal(wsjwt_strerror(WSJWT_EJWT_SIGNATURE), "invalid signature");
    assert_string_equal(wsjwt_strerror(WSJWT_EJWT_MALFORMED), "jwt malformed");
}

/* ---- signing ------------------------------------------------------------------------ */

static void test_sign(void **state)
{
    struct wsjwt_keyset *set = tu_secret_set(SECRET, NULL);
    const struct wsjwt_key *k = wsjwt_keyset_get(set, 0);
    struct wsjwt_policy *p = tu_policy1(WSJWT_ALG_HS256);
    struct wsjwt_sign_opts so = {.alg = WSJWT_ALG_HS256,
                                 .kid = "k1",
                                 .payload_json = "{\"name\":\"firecamp\",\"iat\":1,\"exp\":2}",
                                 .now = NOW,
                                 .has_expires_in = 1,
                                 .expires_in = 15 * 86400,
                                 .has_not_before = 1,
                                 .not_before = 60};
    struct wsjwt_jwt *j = NULL;
    char *out = NULL;
    size_t n = 0;
    int64_t v;
    (void)state;
    assert_int_equal(wsjwt_jwt_sign(k, &so, &out, &n), 0);
    assert_int_equal(n, strlen(out));
    /* Exact header bytes: {"alg":"HS256","typ":"JWT","kid":"k1"} */
    assert_memory_equal(out, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.", 52);
    assert_int_equal(wsjwt_jwt_verify(p, set, out, n, NOW + 60, &j, NULL), 0);
    assert_int_equal(wsjwt_jwt_claim_int(j, "iat", &v), 0);
    assert_int_equal(v, NOW);
    assert_int_equal(wsjwt_jwt_claim_int(j, "exp", &v), 0);
    assert_int_equal(v, NOW + 15 * 86400);
    assert_int_equal(wsjwt_jwt_claim_int(j, "nbf", &v), 0);
    assert_int_equal(v, NOW + 60);
    assert_string_equal(wsjwt_jwt_payload_json(j),
                        "{\"name\":\"firecamp\",\"iat\":1700000000,\"exp\":1701296000,\"nbf\":1700000060}");
    wsjwt_jwt_free(j);
    assert_int_equal(tu_verify(p, set, out, NOW + 59, NULL), WSJWT_EJWT_NOT_ACTIVE);
    assert_int_equal(tu_verify(p, set, out, NOW + 15 * 86400, NULL), WSJWT_EJWT_EXPIRED);
    wsjwt_free(out);

    /* no_iat, no payload */
    struct wsjwt_sign_opts bare = {.alg = WSJWT_ALG_HS256, .now = NOW, .no_iat = 1};
    assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), 0);
    assert_int_equal(wsjwt_jwt_verify(p, set, out, n, NOW, &j, NULL), 0);
    assert_string_equal(wsjwt_jwt_payload_json(j), "{}");
    assert_string_equal(wsjwt_jwt_header_json(j), "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    wsjwt_jwt_free(j);
    wsjwt_free(out);

    /* refusals */
    out = NULL;
    bare.payload_json = "[1]";
    assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), WSJWT_EJWT_NOT_OBJECT);
    bare.payload_json = "{\"a\":1,\"a\":2}";
    assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), WSJWT_EJWT_DUPLICATE);
    bare.payload_json = "{";
    assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), WSJWT_EJWT_JSON);
    /* deeper than the verifier accepts: not signed */
    {
        char deep[128];
        memset(deep, '[', 40);
        strcpy(deep + 40, "1");
        memset(deep + 41, ']', 40);
        deep[81] = '\0';
        char pay[160];
        snprintf(pay, sizeof(pay), "{\"d\":%s}", deep);
        bare.payload_json = pay;
        assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), WSJWT_EJWT_JSON);
        assert_null(out);
    }
    bare.payload_json = NULL;
    bare.has_expires_in = 1;
    bare.expires_in = INT64_MAX;
    assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), WSJWT_EOVERFLOW);
    bare.has_expires_in = 0;
    bare.alg = WSJWT_ALG_RS256;
    assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), WSJWT_EJWT_KEY_TYPE);
    bare.alg = WSJWT_ALG_UNKNOWN;
    assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), WSJWT_EJWT_ALG);
    bare.alg = WSJWT_ALG_HS384; /* 32-byte secret is weak for HS384 */
    assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), WSJWT_EJWT_WEAK_KEY);
    bare.alg = WSJWT_ALG_HS256;
    bare.kid = "\xff"; /* not UTF-8 */
    assert_int_equal(wsjwt_jwt_sign(k, &bare, &out, &n), WSJWT_EINVAL);
    assert_null(out);
    wsjwt_policy_free(p);
    wsjwt_keyset_unref(set);
}

/* jsonwebtoken's example, with a fixed clock: sign, then verify. */
static void test_sign_hs_all(void **state)
{
    static const char secret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    struct wsjwt_keyset *set = tu_secret_set(secret, NULL);
    const struct wsjwt_key *k = wsjwt_keyset_get(set, 0);
    enum wsjwt_alg algs[] = {WSJWT_ALG_HS256, WSJWT_ALG_HS384, WSJWT_ALG_HS512};
    (void)state;
    for (int i = 0; i < 3; i++) {
        struct wsjwt_policy *p = tu_policy1(algs[i]);
        struct wsjwt_sign_opts so = {.alg = algs[i], .payload_json = "{\"name\":\"firecamp\"}", .now = NOW};
        char *out;
        size_t n;
        assert_int_equal(wsjwt_jwt_sign(k, &so, &out, &n), 0);
        assert_int_equal(tu_verify(p, set, out, NOW, NULL), 0);
        /* and the MAC is exactly what OpenSSL computes independently */
        char *dot = strrchr(out, '.');
        *dot = '\0';
        char *hdr = NULL, *pay = NULL;
        assert_int_equal(wsjwt_jwt_decode_unverified(out, strlen(out), &hdr, &pay), WSJWT_EJWT_MALFORMED);
        *dot = '.';
        assert_int_equal(wsjwt_jwt_decode_unverified(out, n, &hdr, &pay), 0);
        char *t = tu_hs(i == 0 ? "SHA256" : i == 1 ? "SHA384" : "SHA512", secret, 64, hdr, pay);
        assert_string_equal(t, out);
        free(t);
        wsjwt_free(hdr);
        wsjwt_free(pay);
        wsjwt_free(out);
        wsjwt_policy_free(p);
    }
    wsjwt_keyset_unref(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a1),
        cmocka_unit_test(test_rfc7515_a1_flipped),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_signature_lengths),
        cmocka_unit_test(test_alg_refusals),
        cmocka_unit_test(test_hs_family_exact),
        cmocka_unit_test(test_crit),
        cmocka_unit_test(test_key_type_mismatch_no_secret),
        cmocka_unit_test(test_signature_and_keys),
        cmocka_unit_test(test_weak_secret),
        cmocka_unit_test(test_kid_selection),
        cmocka_unit_test(test_keyset_bounds),
        cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_leeway),
        cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_require_exp),
        cmocka_unit_test(test_iss_aud_sub),
        cmocka_unit_test(test_required_and_typ),
        cmocka_unit_test(test_json_escapes_and_caps),
        cmocka_unit_test(test_no_overread),
        cmocka_unit_test(test_policy_refusals),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_sign_hs_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
