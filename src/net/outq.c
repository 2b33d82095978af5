/* The send queue (see net.h). */
#include <stdlib.h>
#include <string.h>

#include <wsjwt/error.h>

#include "net/net.h"

/* Storage grows in steps of at least this much, so a queue that takes many
 * small frames in one loop turn does not reallocate for each. */
#define OUTQ_MIN_CAP 512u
/* The first allocation of wsjwt__outq_grow: a 64 KiB message split across
 * reads still takes one allocation (bench/callgrind.sh, the 64 KiB echo),
 * while a peer that announces a 1 MiB frame and sends a few bytes holds
 * 64 KiB, not 1 MiB (tests/abuse/slow.test.mjs, big-announce). */
#define OUTQ_FIRST_CHUNK (64u * 1024u)

int wsjwt__outq_append(struct wsjwt__outq *q, const void *a, size_t na, const void *b, size_t nb)
{
    size_t used = q->len - q->off;
    size_t need = used + na + nb;
    if (need < used || need > UINT32_MAX)
        return WSJWT_ETOOBIG;
    if ((size_t)q->len + na + nb > q->cap) {
        if (need <= q->cap) {
            /* Room once the sent prefix is dropped: slide the rest down. */
            memmove(q->data, q->data + q->off, used);
        } else {
            size_t cap = q->cap ? q->cap : OUTQ_MIN_CAP;
            while (cap < need)
                cap = cap * 2 > UINT32_MAX ? UINT32_MAX : cap * 2;
            uint8_t *n = malloc(cap);
            if (n == NULL)
                return WSJWT_ENOMEM;
            if (used)
                memcpy(n, q->data + q->off, used);
            free(q->data);
            q->data = n;
            q->cap = (uint32_t)cap;
        }
        q->off = 0;
        q->len = (uint32_t)used;
    }
    if (na)
        memcpy(q->data + q->len, a, na);
    q->len += (uint32_t)na;
    if (nb)
        memcpy(q->data + q->len, b, nb);
    q->len += (uint32_t)nb;
    return 0;
}

int wsjwt__outq_grow(struct wsjwt__outq *q, size_t n, size_t most)
{
    size_t used = q->len - q->off;
    size_t need = used + n;
    if (need < used || need > UINT32_MAX)
        return WSJWT_ETOOBIG;
    if ((size_t)q->len + n <= q->cap)
        return 0;
    /* Double (from a first chunk of OUTQ_FIRST_CHUNK), as bytes arrive, but
     * never past what may still come: a peer's announced length costs
     * memory only once its bytes are here. */
    size_t limit = most > n ? used + most : need;
    if (limit < used || limit > UINT32_MAX)
        limit = UINT32_MAX;
    size_t cap = q->cap * (size_t)2 > OUTQ_FIRST_CHUNK ? q->cap * (size_t)2 : OUTQ_FIRST_CHUNK;
    if (cap > limit)
        cap = limit;
    if (cap < need)
        cap = need;
    uint8_t *d;
    if (q->off == 0) {
        /* realloc may grow in place (or, for an mmapped block, remap
         * without copying). */
        d = realloc(q->data, cap);
        if (d == NULL)
            return WSJWT_ENOMEM;
    } else {
        d = malloc(cap);
        if (d == NULL)
            return WSJWT_ENOMEM;
        if (used)
            memcpy(d, q->data + q->off, used);
        free(q->data);
    }
    q->data = d;
    q->cap = (uint32_t)cap;
    q->off = 0;
    q->len = (uint32_t)used;
    return 0;
}

void wsjwt__outq_consume(struct wsjwt__outq *q, size_t n)
{
    size_t used = q->len - q->off;
    if (n >= used) {
        wsjwt__outq_free(q);
        return;
    }
    q->off += (uint32_t)n;
}

void wsjwt__outq_free(struct wsjwt__outq *q)
{
    free(q->data);
    q->data = NULL;
    q->off = q->len = q->cap = 0;
}
