/* Random bytes for the client's Sec-WebSocket-Key nonces and mask keys, from
 * OpenSSL's CSPRNG, drawn in batches.
 *
 * Why a per-thread cache (the one piece of mutable state outside a client):
 * RAND_bytes costs about the same per call whatever the size (DRBG lookup,
 * parameter plumbing, a cipher re-init): measured here, 665 ns for 16 bytes
 * and 1 204 ns for 4 096, so one 4 KiB draw serves 256 nonces for about 5 ns
 * each instead of 665 ns per connection.
 * Clients belong to their loop's thread, so a thread-local cache needs no
 * lock. A child of fork() starts with an empty cache (a pthread_atfork
 * handler empties the forking thread's, the only one a child has), so it
 * never repeats its parent's bytes. That handler replaces a getpid() per
 * call: a system call per upgrade, measurable at 20 k upgrades/s. */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "client/internal.h"

/* 4 KiB: 256 nonces or 1024 mask keys per RAND_bytes call. The mask keys of
 * every client of the thread come from here directly (wsjwt__client_mask):
 * one pool that stays in the cache, where a pool per client was a cache
 * miss per message with a thousand clients taking turns (perf, bench
 * scenario b), and 256 bytes more per client. */
#define CACHE_SIZE 4096u

struct cache {
    uint8_t buf[CACHE_SIZE];
    size_t pos; /* bytes before pos are used (and wiped) */
};

static _Thread_local struct cache cache = {.pos = CACHE_SIZE};
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void empty_in_child(void)
{
    OPENSSL_cleanse(cache.buf, CACHE_SIZE);
    cache.pos = CACHE_SIZE;
}

static void register_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, empty_in_child);
}

/* Refills the cache: 0 or WSJWT_ECRYPTO. */
static int refill(void)
{
    pthread_once(&atfork_once, register_atfork);
    if (RAND_bytes(cache.buf, (int)CACHE_SIZE) != 1)
        return WSJWT_ECRYPTO;
    cache.pos = 0;
    return 0;
}

int wsjwt__client_mask(uint8_t out[4])
{
    if (cache.pos + 4 > CACHE_SIZE && refill() != 0)
        return WSJWT_ECRYPTO;
    /* A plain copy and a plain store of zeros: for 4 bytes the wipe is one
     * instruction, where OPENSSL_cleanse is a call through a volatile
     * function pointer. The store cannot be optimised away: the buffer is
     * thread-local state read again later. */
    memcpy(out, cache.buf + cache.pos, 4);
    memset(cache.buf + cache.pos, 0, 4);
    cache.pos += 4;
    return 0;
}

int wsjwt__client_random(void *out, size_t n)
{
    if (n > CACHE_SIZE / 4)
        return RAND_bytes(out, (int)n) == 1 ? 0 : WSJWT_ECRYPTO;
    if (cache.pos + n > CACHE_SIZE && refill() != 0)
        return WSJWT_ECRYPTO;
    memcpy(out, cache.buf + cache.pos, n);
    /* Bytes handed out are not kept: what is left can only be future ones. */
    OPENSSL_cleanse(cache.buf + cache.pos, n);
    cache.pos += n;
    return 0;
}
