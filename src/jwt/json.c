/* Strict JSON for token headers and payloads: see json.h. */
#include "jwt/json.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <wsjwt/error.h>

#include "base/hex.h"

#define ERR WSJWT_EJWT_JSON
#define DUP WSJWT_EJWT_DUPLICATE

/* An object member name held for duplicate detection: its raw text and a
 * hash of its unescaped bytes, compared first so that the quadratic pairwise
 * check costs an integer comparison per pair (a header is parsed before its
 * signature is checked: hostile names must stay cheap). */
struct key {
    uint32_t off, len;
    uint32_t hash;
    uint8_t esc;
};

/* A scanned value. */
struct vinfo {
    int type;
    uint32_t off, len; /* raw text; strings: inside the quotes */
    uint8_t esc;
    int64_t i;
    double d;
};

struct parser {
    const uint8_t *s;
    size_t n, i;
    int depth;
    int limit;
    size_t nkeys;
    struct key keys[WSJWT__JSON_MAX_OPEN_KEYS];
};

static inline void ws(struct parser *p)
{
    /* Tokens carry no whitespace (every JOSE library emits compact JSON):
     * the first byte usually decides. */
    if (p->i < p->n && p->s[p->i] > ' ')
        return;
    while (p->i < p->n) {
        uint8_t c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->i++;
    }
}

static int hex4(const uint8_t *s, unsigned *v)
{
    unsigned r = 0;
    for (int k = 0; k < 4; k++) {
        int h = wsjwt__hexval(s[k]);
        if (h < 0)
            return 0;
        r = r << 4 | (unsigned)h;
    }
    *v = r;
    return 1;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 when invalid. */
static size_t utf8_len(const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07u;
    } else {
        return 0;
    }
    if (avail < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[k] & 0x3Fu);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
        return 0;
    return len;
}

/* String bytes that need no test beyond "not the end": printable ASCII
 * (0x20-0x7f) except '"' and '\\'. Controls, escapes and UTF-8 take the
 * slow path of scan_string. */
static const uint8_t str_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* At the opening quote. RFC 8259 7, with jansson's refusals: \u0000 and
 * unpaired surrogates. */
static int scan_string(struct parser *p, uint32_t *off, uint32_t *len, uint8_t *esc)
{
    const uint8_t *s = p->s;
    size_t i = p->i + 1, n = p->n;
    *esc = 0;
    *off = (uint32_t)i;
    for (;;) {
        uint8_t c;
        /* Printable ASCII other than '"' and '\\': one table load a byte. */
        while (i < n && str_plain[s[i]])
            i++;
        if (i >= n)
            return ERR;
        c = s[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return ERR;
        if (c == '\\') {
            *esc = 1;
            if (i + 1 >= n)
                return ERR;
            c = s[i + 1];
            if (c == 'u') {
                unsigned v, w;
                if (n - i < 6 || !hex4(s + i + 2, &v) || v == 0 || (v >= 0xDC00 && v <= 0xDFFF))
                    return ERR;
                i += 6;
                if (v >= 0xD800 && v <= 0xDBFF) {
                    if (n - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || !hex4(s + i + 2, &w) || w < 0xDC00 ||
                        w > 0xDFFF)
                        return ERR;
                    i += 6;
                }
                continue;
            }
            if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' && c != 't')
                return ERR;
            i += 2;
            continue;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_len(s + i, n - i);
        if (!k)
            return ERR;
        i += k;
    }
    *len = (uint32_t)(i - *off);
    p->i = i + 1;
    return 0;
}

static int is_digit(const struct parser *p, size_t i)
{
    return i < p->n && p->s[i] >= '0' && p->s[i] <= '9';
}

/* RFC 8259 6. Integers must fit int64 and reals must not overflow a double,
 * as jansson requires. */
static int scan_number(struct parser *p, struct vinfo *v)
{
    size_t i = p->i, start = i;
    int real = 0, neg = 0;
    if (p->s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i < p->n && p->s[i] == '0')
        i++;
    else if (is_digit(p, i) && p->s[i] != '0')
        while (is_digit(p, i))
            i++;
    else
        return ERR;
    if (i < p->n && p->s[i] == '.') {
        i++;
        if (!is_digit(p, i))
            return ERR;
        while (is_digit(p, i))
            i++;
        real = 1;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (!is_digit(p, i))
            return ERR;
        while (is_digit(p, i))
            i++;
        real = 1;
    }
    v->off = (uint32_t)start;
    v->len = (uint32_t)(i - start);
    p->i = i;
    if (!real) {
        int64_t acc = 0; /* accumulated negative, so that INT64_MIN fits */
        size_t k = start + (size_t)neg;
        /* 18 digits cannot overflow (10^18 - 1 < 2^63): no checks for them,
         * which covers every timestamp. */
        for (size_t safe = i - k > 18 ? k + 18 : i; k < safe; k++)
            acc = acc * 10 - (p->s[k] - '0');
        for (; k < i; k++)
            if (__builtin_mul_overflow(acc, 10, &acc) || __builtin_sub_overflow(acc, p->s[k] - '0', &acc))
                return ERR;
        if (!neg && acc == INT64_MIN)
            return ERR;
        v->type = WSJWT__J_INT;
        v->i = neg ? acc : -acc;
        return 0;
    }
    /* strtod on a NUL-terminated copy, with the locale's decimal point (as
     * jansson does, so that a program that set LC_NUMERIC still parses). */
    char small[64], *buf = small, *end;
    size_t n = i - start;
    char point = localeconv()->decimal_point[0];
    if (n >= sizeof(small) && !(buf = malloc(n + 1)))
        return WSJWT_ENOMEM;
    memcpy(buf, p->s + start, n);
    buf[n] = '\0';
    if (point != '.') {
        char *dot = memchr(buf, '.', n);
        if (dot)
            *dot = point;
    }
    errno = 0;
    v->d = strtod(buf, &end);
    int overflow = (v->d == HUGE_VAL || v->d == -HUGE_VAL) && errno == ERANGE;
    if (buf != small)
        free(buf);
    if (overflow)
        return ERR;
    v->type = WSJWT__J_REAL;
    return 0;
}

/* Unescaped bytes of a raw string, one at a time. */
struct ustream {
    const uint8_t *s;
    size_t i, end;
    uint8_t buf[4];
    int nbuf, ibuf;
};

static int uget(struct ustream *u)
{
    unsigned cp = 0, lo = 0; /* set by hex4: escapes were validated when parsed */
    uint8_t c;
    if (u->ibuf < u->nbuf)
        return u->buf[u->ibuf++];
    if (u->i >= u->end)
        return -1;
    c = u->s[u->i];
    if (c != '\\') {
        u->i++;
        return c;
    }
    c = u->s[u->i + 1];
    u->i += 2;
    switch (c) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default:
        return c; /* " \ / */
    }
    hex4(u->s + u->i, &cp);
    u->i += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        hex4(u->s + u->i + 2, &lo);
        u->i += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp < 0x80) {
        return (int)cp;
    } else if (cp < 0x800) {
        u->buf[0] = (uint8_t)(0xC0 | cp >> 6);
        u->buf[1] = (uint8_t)(0x80 | (cp & 0x3F));
        u->nbuf = 2;
    } else if (cp < 0x10000) {
        u->buf[0] = (uint8_t)(0xE0 | cp >> 12);
        u->buf[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        u->buf[2] = (uint8_t)(0x80 | (cp & 0x3F));
        u->nbuf = 3;
    } else {
        u->buf[0] = (uint8_t)(0xF0 | cp >> 18);
        u->buf[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        u->buf[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        u->buf[3] = (uint8_t)(0x80 | (cp & 0x3F));
        u->nbuf = 4;
    }
    u->ibuf = 1;
    return u->buf[0];
}

static void ustream_init(struct ustream *u, const uint8_t *s, uint32_t off, uint32_t len)
{
    u->s = s;
    u->i = off;
    u->end = (size_t)off + len;
    u->nbuf = u->ibuf = 0;
}

/* FNV-1a over the unescaped bytes of a name. */
static uint32_t key_hash(const struct parser *p, const struct key *k)
{
    uint32_t h = 2166136261u;
    if (!k->esc) {
        for (uint32_t i = 0; i < k->len; i++)
            h = (h ^ p->s[k->off + i]) * 16777619u;
    } else {
        struct ustream u;
        int c;
        ustream_init(&u, p->s, k->off, k->len);
        while ((c = uget(&u)) >= 0)
            h = (h ^ (uint32_t)c) * 16777619u;
    }
    return h;
}

/* Names are compared after unescaping: "a" and "\u0061" are the same name. */
static int key_eq(const struct parser *p, const struct key *a, const struct key *b)
{
    struct ustream ua, ub;
    int x, y;
    if (a->hash != b->hash)
        return 0;
    if (!a->esc && !b->esc)
        return a->len == b->len && memcmp(p->s + a->off, p->s + b->off, a->len) == 0;
    ustream_init(&ua, p->s, a->off, a->len);
    ustream_init(&ub, p->s, b->off, b->len);
    do {
        x = uget(&ua);
        y = uget(&ub);
        if (x != y)
            return 0;
    } while (x >= 0);
    return 1;
}

/* Writes the unescaped string and a NUL at *arena; returns its start. */
static char *unescape(const uint8_t *s, uint32_t off, uint32_t len, uint8_t esc, char **arena)
{
    char *start = *arena, *o = start;
    if (!esc) {
        memcpy(o, s + off, len);
        o += len;
    } else {
        struct ustream u;
        int c;
        ustream_init(&u, s, off, len);
        while ((c = uget(&u)) >= 0)
            *o++ = (char)c;
    }
    *o++ = '\0';
    *arena = o;
    return start;
}

static int value(struct parser *p, struct vinfo *v);

struct top {
    struct wsjwt__jmember *m;
    size_t n, cap;
    char *arena;
};

/* At '{' or '[': enters the container. 1 when it is empty (and consumed),
 * 0 when members follow, ERR past the depth cap. */
static int open_container(struct parser *p, uint8_t close)
{
    if (++p->depth > WSJWT__JSON_MAX_DEPTH) {
        p->limit = 1;
        return ERR;
    }
    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        p->depth--;
        return 1;
    }
    return 0;
}

/* After a member or element: 1 when a comma says another follows, 0 when
 * the closing bracket ends the container, ERR otherwise. */
static int next_or_close(struct parser *p, uint8_t close)
{
    ws(p);
    if (p->i >= p->n)
        return ERR;
    if (p->s[p->i] == ',') {
        p->i++;
        ws(p);
        return 1;
    }
    if (p->s[p->i] != close)
        return ERR;
    p->i++;
    p->depth--;
    return 0;
}

static int object(struct parser *p, struct top *top)
{
    size_t base = p->nkeys, count = 0;
    int rc = open_container(p, '}');
    if (rc)
        return rc < 0 ? rc : 0;
    for (;;) {
        struct key k;
        struct vinfo v;
        if (p->i >= p->n || p->s[p->i] != '"')
            return ERR;
        if ((rc = scan_string(p, &k.off, &k.len, &k.esc)) != 0)
            return rc;
        k.hash = key_hash(p, &k);
        /* jansson's order: the duplicate is reported as soon as the name is
         * read, before the value. */
        for (size_t j = base; j < p->nkeys; j++)
            if (key_eq(p, &p->keys[j], &k))
                return DUP;
        if (++count > WSJWT__JSON_MAX_MEMBERS || p->nkeys >= WSJWT__JSON_MAX_OPEN_KEYS ||
            (top && top->n >= top->cap)) {
            p->limit = 1;
            return ERR;
        }
        p->keys[p->nkeys++] = k;
        ws(p);
        if (p->i >= p->n || p->s[p->i] != ':')
            return ERR;
        p->i++;
        ws(p);
        if ((rc = value(p, &v)) != 0)
            return rc;
        if (top) {
            struct wsjwt__jmember *m = &top->m[top->n++];
            m->key = unescape(p->s, k.off, k.len, k.esc, &top->arena);
            m->type = (uint8_t)v.type;
            m->str = NULL;
            if (v.type == WSJWT__J_STRING) {
                m->str = unescape(p->s, v.off, v.len, v.esc, &top->arena);
                m->raw = (const char *)p->s + v.off - 1;
                m->raw_len = v.len + 2;
            } else {
                m->raw = (const char *)p->s + v.off;
                m->raw_len = v.len;
            }
            if (v.type == WSJWT__J_INT)
                m->num.i = v.i;
            else if (v.type == WSJWT__J_REAL)
                m->num.d = v.d;
        }
        if ((rc = next_or_close(p, '}')) <= 0)
            break;
    }
    p->nkeys = base;
    return rc;
}

static int array(struct parser *p)
{
    int rc = open_container(p, ']');
    if (rc)
        return rc < 0 ? rc : 0;
    for (;;) {
        struct vinfo v;
        if ((rc = value(p, &v)) != 0)
            return rc;
        if ((rc = next_or_close(p, ']')) <= 0)
            return rc;
    }
}

static int literal(struct parser *p, const char *word, int type, struct vinfo *v)
{
    size_t n = strlen(word);
    if (p->n - p->i < n || memcmp(p->s + p->i, word, n) != 0)
        return ERR;
    v->type = type;
    v->off = (uint32_t)p->i;
    v->len = (uint32_t)n;
    p->i += n;
    return 0;
}

static int value(struct parser *p, struct vinfo *v)
{
    size_t start = p->i;
    int rc;
    if (p->i >= p->n)
        return ERR;
    switch (p->s[p->i]) {
    case '{':
        v->type = WSJWT__J_OBJECT;
        rc = object(p, NULL);
        break;
    case '[':
        v->type = WSJWT__J_ARRAY;
        rc = array(p);
        break;
    case '"':
        v->type = WSJWT__J_STRING;
        return scan_string(p, &v->off, &v->len, &v->esc);
    case 't':
        return literal(p, "true", WSJWT__J_TRUE, v);
    case 'f':
        return literal(p, "false", WSJWT__J_FALSE, v);
    case 'n':
        return literal(p, "null", WSJWT__J_NULL, v);
    default:
        if (p->s[p->i] == '-' || (p->s[p->i] >= '0' && p->s[p->i] <= '9'))
            return scan_number(p, v);
        return ERR;
    }
    v->off = (uint32_t)start;
    v->len = (uint32_t)(p->i - start);
    return rc;
}

int wsjwt__json_parse_object(const char *text, size_t len, char *arena, struct wsjwt__jmember *m, size_t cap,
                             size_t *count, int *limit)
{
    struct parser p;
    struct top top = {m, 0, cap, arena};
    struct vinfo v;
    int rc;
    *count = 0;
    *limit = 0;
    if (len > UINT32_MAX)
        return ERR;
    p.s = (const uint8_t *)text;
    p.n = len;
    p.i = 0;
    p.depth = 0;
    p.limit = 0;
    p.nkeys = 0;
    ws(&p);
    if (p.i < p.n && p.s[p.i] == '{')
        rc = object(&p, &top);
    else
        rc = (rc = value(&p, &v)) == 0 ? WSJWT_EJWT_NOT_OBJECT : rc;
    if (rc == 0 || rc == WSJWT_EJWT_NOT_OBJECT) {
        ws(&p);
        if (p.i != p.n)
            rc = ERR; /* trailing bytes */
    }
    *limit = p.limit;
    *count = top.n;
    return rc;
}

const struct wsjwt__jmember *wsjwt__json_get(const struct wsjwt__jmember *m, size_t n, const char *name)
{
    /* The first byte decides most comparisons without a call: a verification
     * looks up about ten names (alg, crit, kid, exp, nbf, iat, sub...) among
     * a handful of members, and strcmp was 19 calls per token. */
    for (size_t i = 0; i < n; i++)
        if (m[i].key[0] == name[0] && strcmp(m[i].key, name) == 0)
            return &m[i];
    return NULL;
}

int wsjwt__json_array_next(const struct wsjwt__jmember *arr, size_t *pos, int *type, char *buf)
{
    /* Only the array's own text is read, and it has been validated: the
     * parser is used to find element boundaries. */
    struct parser p;
    struct vinfo v;
    p.s = (const uint8_t *)arr->raw;
    p.n = arr->raw_len;
    p.i = *pos ? *pos : 1;
    p.depth = 1;
    p.limit = 0;
    p.nkeys = 0;
    ws(&p);
    if (p.i < p.n && p.s[p.i] == ',') {
        p.i++;
        ws(&p);
    }
    if (p.i >= p.n || p.s[p.i] == ']' || value(&p, &v) != 0)
        return 0;
    *type = v.type;
    if (v.type == WSJWT__J_STRING) {
        char *a = buf;
        unescape(p.s, v.off, v.len, v.esc, &a);
    }
    *pos = p.i;
    return 1;
}
