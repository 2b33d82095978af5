/* wsjwt bench URL: a load generator for any WebSocket server, on the wsjwt
 * client library (real masking from the CSPRNG, every server frame checked
 * as strictly as a real client does).
 *
 * Modes:
 *   echo     N connections, each keeping D messages of S bytes in flight
 *            (closed loop), or sending at --rate messages/s in all (open
 *            loop); every reply is checked byte for byte against what was
 *            sent (text: a sequence number and a pattern; binary: fixed
 *            wire bytes under a fresh key, see check_wire); latency from send to
 *            reply goes into a log-linear histogram.
 *   upgrade  N concurrent workers, each: connect, upgrade, check the status
 *            (101, or --expect-status), abort, repeat: upgrades/s.
 *   idle     open N authenticated connections, hold them for the duration,
 *            then send one message on each and check its echo.
 *   broadcast against a server that sends each message to every other
 *            connection: connection 0 keeps D messages in flight, every
 *            other connection must receive each of them, in order and byte
 *            for byte; a message is done when every receiver has it:
 *            deliveries/s (one thread: the count per message is shared).
 * Phases: connect (echo, idle), warm-up (not counted), measured window.
 *
 * Threads: --threads T runs T libuv loops, each with its share of the
 * connections; the main thread only steps the phases and prints progress.
 * Counters are per thread and published with relaxed atomic stores.
 */
#define _GNU_SOURCE /* unshare(CLONE_FILES) */
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <wsjwt/client.h>

#include "cmd.h"
#include "tokenopts.h"

#define CMD "wsjwt bench"

/* Bounds on what the command line may ask for. */
#define MAX_CONNS    200000u
#define MAX_INFLIGHT 1024u
#define MAX_SIZE     (16u * 1024u * 1024u)
#define MAX_THREADS  64u
#define MAX_SECONDS  3600.0
/* Connections being set up at once per thread: a burst of thousands of SYNs
 * overflows a server's accept backlog and turns into 1 s SYN retries. */
#define CONNECT_BATCH 128u
/* Ephemeral ports per source address we plan for (Linux default range
 * 32768-60999 is ~28k; leave room for everything else on the machine). */
#define PORTS_PER_SOURCE 20000u
/* Patterns: reply k is checked against pattern k % npat plus its sequence
 * number in the first bytes (seq_word). npat is a power of two, and so is
 * each connection's ring of send times (`ring` >= --in-flight): a slot is
 * a mask, not a division (four per message, 20 to 40 cycles each). */
#define NPAT 16u
/* Open loop: what is due leaves at every loop turn, and the loop turns at
 * least every --tick-us (wsjwt_client_run_every, as bench/loadgen paces with
 * its epoll_pwait2 timeout: libuv's own timers tick at best every
 * millisecond, and 200 messages a tick at 200 000/s arrive at a server as
 * bursts it batches; a timerfd per tick cost a libuv turn and a read of its
 * own); lateness up to two ticks is the generator's granularity, not the
 * server's doing. */
#define RATE_SLACK_TICKS 2.0
/* Bytes of patterns per copy (the reference set, and each thread's send
 * set): as many patterns as fit, at least one, at most NPAT (the sequence
 * number still tells replies apart). Both sets then stay in the core's
 * cache next to the read and send buffers: 16 patterns of 64 KiB were 2 MiB
 * cycled through per 16 messages, past the 1 MiB L2 of the machine the
 * benchmarks run on. */
#define NPAT_BYTES (128u * 1024u)
/* Send-time slots (connections x in-flight): 16 M slots are 128 MiB. */
#define MAX_SLOTS  (16u * 1024u * 1024u)
#define SEQ_DIGITS 8u

enum mode { M_ECHO, M_UPGRADE, M_IDLE, M_BROADCAST };
enum phase { P_SETUP, P_WARMUP, P_MEASURE, P_CHECK, P_STOP };
enum err {
    E_CONNECT,   /* resolve / TCP connect / timeout */
    E_REFUSED,   /* the upgrade got an unexpected status */
    E_HANDSHAKE, /* a 101 that failed the checks, or an unexpected 101 */
    E_PROTOCOL,  /* a frame rule broken by the server */
    E_CLOSED,    /* the connection ended before we closed it */
    E_MISMATCH,  /* a reply that is not what was sent */
    E_SEND,      /* send refused (backpressure) */
    E_NOREPLY,   /* idle check: no echo */
    E_BEHIND,    /* open loop: a message due while every window was full */
    E_ORDER,     /* broadcast: a delivery out of sequence (a later one first, or one again) */
    E_MISSING,   /* broadcast: a delivery still missing when the run ended (after --timeout) */
    E_COUNT
};
static const char *const err_names[E_COUNT] = {"connect", "refused",  "handshake", "protocol",
                                               "closed",  "mismatch", "send",      "no_reply",
                                               "behind",  "order",    "missing"};

/* Log-linear histogram of nanoseconds: values below 64 exact, then 32
 * buckets per power of two (at most 3% wide). */
#define HIST_BUCKETS 1920u
struct hist {
    uint64_t n[HIST_BUCKETS];
    uint64_t count, max;
};

static unsigned hist_index(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    return (e - 5u) * 32u + (unsigned)(v >> (e - 5u)) - 32u + 32u;
}

static double hist_mid(unsigned idx)
{
    if (idx < 64)
        return idx;
    unsigned q = idx / 32u, r = idx % 32u, e = q + 4u;
    double lo = (double)((uint64_t)(32u + r) << (e - 5u));
    double hi = (double)((uint64_t)(33u + r) << (e - 5u));
    return (lo + hi) / 2.0;
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->n[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

static double hist_pct_us(const struct hist *h, double pct)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)ceil(pct / 100.0 * (double)h->count);
    if (want == 0)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= want) {
            double v = hist_mid(i);
            return (v > (double)h->max ? (double)h->max : v) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

struct opts {
    const char *url;
    enum mode mode;
    uint32_t conns, inflight, threads, sources, expect;
    size_t size;
    int binary, json, raw_echo, deflate;
    long server_pid; /* sample this process's CPU (and RSS in idle mode) */
    uint64_t count;  /* a fixed workload instead of a duration: echo, messages per
                        connection; upgrade, upgrades in all */
    int duration_given;
    const char *label;
    double duration, warmup, rate, timeout, tick_us;
    struct wsjwt_tls_client_opts tls; /* wss:// */
};

struct bench;
struct worker;

struct bconn {
    struct worker *w;
    struct wsjwt_client *c;
    uint32_t idx;
    uint32_t sent, recv; /* sequence numbers */
    uint64_t *ts;        /* send times, ring of `inflight` */
    uint32_t *keys;      /* wire sends: each message's mask key, the same ring */
    uint8_t open, done, checked;
    uint8_t member; /* broadcast: a receiver every message must reach */
    uint8_t dirty;  /* open loop: corked in this pace() */
};

struct stats {
    uint64_t messages, bytes, upgrades, opened;
    uint64_t broadcasts; /* broadcast: messages every receiver got (messages counts deliveries) */
    uint64_t errors[E_COUNT];
    struct hist hist;
};

struct worker {
    struct bench *b;
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    int pacing; /* open loop: end_turn sends what is due */
    /* Open loop: the connections pace() sent to in this turn, corked until
     * the end of it (as bench/loadgen writes each touched connection once):
     * a generator that fell behind catches up with a write per connection,
     * not one per message. */
    struct bconn **dirty;
    uint32_t ndirty;
    /* One clock reading per batch of socket events, as bench/loadgen takes
     * one per epoll_wait: replies handled in the same loop turn share it
     * (a clock_gettime per reply was 37 instructions of about 800 per
     * echo). Cleared after each loop turn (end_turn). */
    uint64_t now;
    struct bconn *conns;
    uint32_t first, n, next_start, connecting, alive, rr;
    uint64_t started, quota; /* upgrade --count: attempts started, this thread's share */
    double due, interval;    /* open loop: next message's due time, ns between messages */
    uint8_t *pat[NPAT];      /* per-worker send buffers: pattern, sequence prefix rewritten per send */
    struct stats st;
    _Atomic uint64_t pub_done;   /* messages or upgrades so far (any phase), for progress */
    _Atomic uint64_t pub_opened; /* connections opened */
    _Atomic uint64_t pub_failed; /* connections that failed to open */
    _Atomic uint64_t pub_errors;
    _Atomic uint64_t pub_checked; /* idle: connections whose one echo came back */
    uint64_t checked;
    uint64_t done, errors;
    int seen_phase; /* the phase this loop last acted on */
    /* Broadcast: the sender is conns[0] (its `recv` counts messages every
     * receiver has); bcount[seq % inflight] receivers have message seq;
     * nrecv receivers take part. At the stop, messages still outstanding
     * get up to --timeout to arrive (drain) before the missing are counted. */
    uint32_t *bcount;
    uint32_t nrecv;
    uint32_t bcast_due; /* messages done in this loop turn: the next ones leave at its end */
    int draining;
    uv_timer_t drain;
};

struct bench {
    struct opts o;
    struct tokenopts to;
    uint8_t *pat[NPAT]; /* the reference patterns */
    unsigned npat;      /* a power of two */
    uint32_t ring;      /* send-time slots per connection: a power of two, at least --in-flight */
    int wire;           /* echo of binary messages sent as fixed wire bytes (check_wire) */
    _Atomic int phase;
    pthread_mutex_t token_lock; /* signing state is shared by the threads */
    struct worker *w;
    char source[MAX_THREADS][16];
    struct wsjwt_tls_client *tls; /* wss://: one context shared by every connection */
};

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* Another process's CPU seconds (user + system, /proc/PID/stat fields 14
 * and 15), or -1; its user ticks alone in *user_ticks when not NULL. */
static double proc_cpu_s(long pid, unsigned long long *user_ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    if (user_ticks)
        *user_ticks = ut;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* user + nice ticks of all cores together (proc(5), first line of
 * /proc/stat): with our own and the server's user ticks subtracted, what the
 * rest of the machine did during the window (the noise a figure met). */
static unsigned long long machine_user_ticks(void)
{
    unsigned long long user = 0, nice = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        if (fscanf(f, "cpu %llu %llu", &user, &nice) != 2)
            user = nice = 0;
        fclose(f);
    }
    return user + nice;
}

/* Ticks of user time of everything but this process and `server_pid` (0:
 * none), for the "others" figure: sampled at both ends of the window. */
static unsigned long long others_ticks(long server_pid)
{
    unsigned long long all = machine_user_ticks(), self = 0, srv = 0;
    proc_cpu_s((long)getpid(), &self);
    if (server_pid)
        proc_cpu_s(server_pid, &srv);
    return all - self - srv;
}

/* Another process's resident set in KiB (VmRSS), or -1. */
static long proc_rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* What was sampled around the measured window. */
struct sample {
    double secs, cpu, server_cpu; /* server_cpu < 0: not sampled */
    double others;                /* user time of all other processes, in cores */
    long rss0, rss1;              /* server RSS before connecting and after holding (idle) */
    double connect_s;
};

static int phase_of(const struct bench *b)
{
    return atomic_load_explicit(&b->phase, memory_order_relaxed);
}

static void count_errors(struct worker *w, enum err e, uint64_t n)
{
    w->st.errors[e] += n;
    w->errors += n;
    atomic_store_explicit(&w->pub_errors, w->errors, memory_order_relaxed);
}

static void count_error(struct worker *w, enum err e)
{
    count_errors(w, e, 1);
}

/* ---- payloads -------------------------------------------------------------------- */

static void fill_pattern(uint8_t *p, size_t n, unsigned k, int binary)
{
    for (size_t i = 0; i < n; i++)
        p[i] = binary ? (uint8_t)(k * 131u + i * 7u + 3u) : (uint8_t)('a' + (k * 7u + i) % 26u);
}

/* seq as 8 lowercase hex digits, most significant first, in one 64-bit
 * word laid out as they go in memory: the nibbles spread one per byte with
 * shifts and masks, then turned into ASCII without a branch. It runs twice
 * per message (send and check): 12 instructions against 45 for a table
 * lookup per byte (callgrind). */
static uint64_t hex8(uint32_t seq)
{
    uint64_t x = seq;
    x = ((x << 16) | x) & 0x0000ffff0000ffffull;
    x = ((x << 8) | x) & 0x00ff00ff00ff00ffull;
    x = ((x << 4) | x) & 0x0f0f0f0f0f0f0f0full; /* byte 7 holds the top nibble */
    uint64_t letters = ((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull; /* 1 where > 9 */
    x += 0x3030303030303030ull + letters * ('a' - '0' - 10);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    x = __builtin_bswap64(x); /* the top nibble first in memory */
#endif
    return x;
}

/* The 8 bytes that carry message seq: its hex digits in a text message (it
 * must be UTF-8), the number itself (64 bits, the host's order) in a binary
 * one, where the 27 instructions of hex8 at each send and each check buy
 * nothing: both tell every message in flight apart. */
static uint64_t seq_word(const struct bench *b, uint32_t seq)
{
    return b->o.binary ? seq : hex8(seq);
}

static void put_seq(const struct bench *b, uint8_t *p, size_t size, uint32_t seq)
{
    uint64_t v = seq_word(b, seq);
    if (size >= SEQ_DIGITS) {
        memcpy(p, &v, SEQ_DIGITS);
        return;
    }
    /* Shorter messages carry the first `size` bytes of it. */
    memcpy(p, &v, size);
}

typedef uint64_t vec16 __attribute__((vector_size(16)));

/* The OR of (p XOR key XOR want) over bytes [i, n), key phase 0 at i (an
 * all-zero key: p against want as they are): 16 bytes, then a word at a
 * time, then byte by byte. */
static inline uint64_t diff_words(const uint8_t *p, const uint8_t *want, size_t i, size_t n,
                                  const uint8_t mask[4])
{
    uint32_t m32;
    memcpy(&m32, mask, 4);
    uint64_t m = ((uint64_t)m32 << 32) | m32, d = 0; /* the key twice, in memory order */
    vec16 mv = {m, m}, acc = {0, 0};
    for (; i + 16 <= n; i += 16) { /* 16 bytes a step (SSE2, any x86-64): 32-byte replies in two */
        vec16 x, y;
        memcpy(&x, p + i, 16);
        memcpy(&y, want + i, 16);
        acc |= x ^ mv ^ y;
    }
    d = acc[0] | acc[1];
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, p + i, 8);
        memcpy(&y, want + i, 8);
        d |= x ^ m ^ y;
    }
    for (; i < n; i++)
        d |= (uint64_t)(p[i] ^ mask[i & 3u] ^ want[i]);
    return d;
}

/* Bytes a short reply's pattern is compared in line, a word at a time,
 * instead of through a call to memcmp: with 32-byte messages check_reply
 * went from 98 to 87 instructions per reply (callgrind). */
#define INLINE_CMP 128u

static int check_reply(const struct bench *b, uint32_t seq, const uint8_t *p, size_t len)
{
    if (len != b->o.size)
        return 0;
    uint64_t want = seq_word(b, seq), got = 0;
    if (len < SEQ_DIGITS) { /* compare only the digits there are (the rest of got is zero) */
        memcpy(&got, p, len);
        memset((uint8_t *)&want + len, 0, SEQ_DIGITS - len);
        return got == want;
    }
    memcpy(&got, p, SEQ_DIGITS);
    const uint8_t *pat = b->pat[seq & (b->npat - 1)];
    if (len - SEQ_DIGITS > INLINE_CMP)
        return got == want && memcmp(pat + SEQ_DIGITS, p + SEQ_DIGITS, len - SEQ_DIGITS) == 0;
    static const uint8_t none[4];
    return ((got ^ want) | diff_words(p, pat, SEQ_DIGITS, len, none)) == 0;
}

/* --raw-echo: check_reply on a reply still masked with `mask`, in one pass:
 * (reply XOR key) is compared with the pattern 64 bytes a step (vectors,
 * AVX2 where the CPU has it), the differences ORed together (no branch per
 * step), instead of unmasking the reply in place and then comparing: per
 * 64 KiB message under callgrind 12.4 k instructions, against 16.9 k for
 * the two passes. */
typedef uint64_t vec32 __attribute__((vector_size(32)));
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define CHECK_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef CHECK_CLONES
#define CHECK_CLONES
#endif

/* The OR of (p XOR key XOR want) over n bytes whose key phase is 0: zero
 * when p unmasks to want. */
CHECK_CLONES
static uint64_t masked_diff(const uint8_t *p, const uint8_t *want, size_t n, const uint8_t mask[4])
{
    uint32_t m32;
    memcpy(&m32, mask, 4);
    uint64_t m = ((uint64_t)m32 << 32) | m32;
    vec32 mv = {m, m, m, m}, acc = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        vec32 x0, y0, x1, y1;
        memcpy(&x0, p + i, 32);
        memcpy(&y0, want + i, 32);
        memcpy(&x1, p + i + 32, 32);
        memcpy(&y1, want + i + 32, 32);
        acc |= (x0 ^ mv ^ y0) | (x1 ^ mv ^ y1);
    }
    return diff_words(p, want, i, n, mask) | acc[0] | acc[1] | acc[2] | acc[3];
}

static int check_masked(const struct bench *b, uint32_t seq, const uint8_t *p, size_t len,
                        const uint8_t mask[4])
{
    if (len != b->o.size)
        return 0;
    uint8_t pre[SEQ_DIGITS];
    size_t n = len < SEQ_DIGITS ? len : SEQ_DIGITS;
    int digits_ok;
    if (n == SEQ_DIGITS) { /* one 64-bit word: the key twice over the digits */
        uint32_t m32;
        uint64_t got;
        memcpy(&m32, mask, 4);
        memcpy(&got, p, 8);
        digits_ok = (got ^ (((uint64_t)m32 << 32) | m32)) == seq_word(b, seq);
    } else {
        put_seq(b, pre, len, seq);
        digits_ok = masked_diff(p, pre, n, mask) == 0;
    }
    /* Then the pattern from byte 8: a multiple of 4, so key phase 0 again. */
    return digits_ok && masked_diff(p + n, b->pat[seq & (b->npat - 1)] + n, len - n, mask) == 0;
}

/* Binary echo, the "wire" way (wsjwt_client_bench_send_wire): every message
 * goes on the wire as the same bytes, pattern 0, under a fresh key from the
 * CSPRNG, so its payload is pattern 0 XOR that key: a different payload each
 * time, told apart by the key (kept per message in flight, `keys`). The
 * server's work is what any client's frames cost it (it unmasks every byte);
 * ours is a copy per send (none from 16 KiB) instead of a masking pass, and
 * one comparison per echo: against a byte echo (mask non-NULL, the reply is
 * our frame as sent), its key and then its bytes as they are; against a
 * WebSocket echo, the payload XOR the key. No sequence number is written or
 * read. A wrong, reordered or repeated echo fails unless two messages in
 * flight drew the same 32-bit key, when they are the same message. */
static int check_wire(const struct bench *b, uint32_t key, const uint8_t *p, size_t len, const uint8_t *mask)
{
    if (len != b->o.size)
        return 0;
    const uint8_t *want = b->pat[0];
    if (mask) {
        uint32_t k;
        memcpy(&k, mask, 4);
        return k == key && memcmp(p, want, len) == 0; /* the bytes as they are */
    }
    uint8_t m[4];
    memcpy(m, &key, 4);
    return (len > INLINE_CMP ? masked_diff(p, want, len, m) : diff_words(p, want, 0, len, m)) == 0;
}

/* ---- connections ------------------------------------------------------------------- */

static void start_conn(struct worker *w, struct bconn *bc);

static uint64_t worker_now(struct worker *w)
{
    if (!w->now)
        w->now = now_ns();
    return w->now;
}

static void pace(struct worker *w);
static void send_one(struct bconn *bc);

/* Broadcast: the messages that replace those done in this turn leave
 * together, in one write (as bench/loadgen flushes its sender once per
 * epoll_wait): the server then reads several at once and serialises them
 * into one write per receiver, as it would for a client sending a burst.
 * Sent one by one as each completes, they cost the server a read and a
 * write per receiver each. */
static void bcast_send(struct worker *w)
{
    struct bconn *snd = &w->conns[0];
    uint32_t n = w->bcast_due;
    w->bcast_due = 0;
    if (!snd->open || !snd->c)
        return;
    wsjwt_client_cork(snd->c);
    while (n--)
        send_one(snd);
    wsjwt_client_uncork(snd->c);
}

static void end_turn(void *arg)
{
    struct worker *w = arg;
    if (w->pacing)
        pace(w);
    if (w->bcast_due)
        bcast_send(w);
    w->now = 0;
}

static void stop_loop(struct worker *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->wake))
        uv_close((uv_handle_t *)&w->wake, NULL);
}

/* Sends the connection's next message; its latency counts from `t0`. */
static inline __attribute__((always_inline)) void send_at(struct bconn *bc, uint64_t t0)
{
    struct worker *w = bc->w;
    struct bench *b = w->b;
    uint32_t seq = bc->sent;
    if (b->o.count && seq >= b->o.count)
        return; /* this connection's share of a fixed workload is sent */
    int rc;
    if (b->wire) { /* the key straight into its slot */
        rc = wsjwt_client_bench_send_wire(bc->c, b->pat[0], b->o.size,
                                          (uint8_t *)&bc->keys[seq & (b->ring - 1)]);
    } else {
        uint8_t *p = w->pat[seq & (b->npat - 1)];
        put_seq(b, p, b->o.size, seq);
        rc = wsjwt_client_send(bc->c, b->o.binary, p, b->o.size);
    }
    if (rc) {
        count_error(w, E_SEND);
        return;
    }
    bc->ts[seq & (b->ring - 1)] = t0;
    bc->sent++;
}

static void send_one(struct bconn *bc)
{
    send_at(bc, worker_now(bc->w));
}

/* One connection ended or failed to open: start the next in its place when
 * the mode wants one. */
static void bcast_leave(struct worker *w, struct bconn *bc);

static void conn_gone(struct bconn *bc)
{
    struct worker *w = bc->w;
    bcast_leave(w, bc);
    if (bc->c) {
        wsjwt_client_free(bc->c);
        bc->c = NULL;
        w->alive--;
    }
    if (!bc->open) {
        w->connecting--;
    }
    bc->open = 0;
    int ph = phase_of(w->b);
    if (w->b->o.mode == M_UPGRADE && ph != P_STOP && ph != P_SETUP) {
        if (!w->b->o.count || w->started < w->quota)
            start_conn(w, bc);
    } else if (w->next_start < w->n && ph != P_STOP)
        start_conn(w, &w->conns[w->next_start++]);
    if (ph == P_STOP && w->alive == 0)
        stop_loop(w);
}

/* Upgrade mode: the worker's next upgrade on the same client
 * (wsjwt_client_restart: a fresh key, the request and memory reused, no
 * allocation) when the run wants one and the token is the same for every
 * connection. Returns 1 when it started; 0: the caller ends the client as
 * before (conn_gone, directly or from on_close). */
static int upgrade_again(struct bconn *bc)
{
    struct worker *w = bc->w;
    struct bench *b = w->b;
    int ph = phase_of(b);
    if (b->to.sign || ph == P_STOP || ph == P_SETUP || (b->o.count && w->started >= w->quota))
        return 0;
    int rc = wsjwt_client_restart(bc->c);
    if (rc == WSJWT_ESTATE)
        return 0;
    if (rc) { /* shut without a callback: ours to free */
        count_error(w, E_CONNECT);
        conn_gone(bc);
        return 1;
    }
    if (bc->open) {
        bc->open = 0;
        w->connecting++;
    }
    w->started++;
    return 1;
}

static void on_open(struct wsjwt_client *c, const char *protocol, void *user)
{
    struct bconn *bc = user;
    struct worker *w = bc->w;
    struct bench *b = w->b;
    (void)c;
    (void)protocol;
    bc->open = 1;
    w->connecting--;
    if (b->o.mode == M_UPGRADE) {
        if (b->o.expect == 101) {
            if (phase_of(b) == P_MEASURE)
                w->st.upgrades++;
            atomic_store_explicit(&w->pub_done, ++w->done, memory_order_relaxed);
        } else {
            count_error(w, E_HANDSHAKE); /* a 101 where a refusal was expected */
        }
        if (!upgrade_again(bc))
            conn_gone(bc);
        return;
    }
    w->st.opened++;
    atomic_store_explicit(&w->pub_opened, w->st.opened, memory_order_relaxed);
    if (w->next_start < w->n)
        start_conn(w, &w->conns[w->next_start++]);
    int ph = phase_of(b);
    if (b->o.mode == M_ECHO && (ph == P_WARMUP || ph == P_MEASURE) && b->o.rate <= 0)
        for (uint32_t i = 0; i < b->o.inflight; i++)
            send_one(bc);
}

/* ---- broadcast --------------------------------------------------------------------- */

static void on_drain(uv_timer_t *t);

/* The oldest outstanding messages that every receiver has are done (each
 * receiver gets them in order, so the counts never grow with the sequence
 * number): a message's latency is its slowest delivery, and the sender's
 * window moves on. */
static void bcast_complete(struct worker *w)
{
    struct bench *b = w->b;
    struct bconn *snd = &w->conns[0];
    int ph = phase_of(b);
    while (w->nrecv && snd->recv != snd->sent && w->bcount[snd->recv % b->o.inflight] >= w->nrecv) {
        uint32_t slot = snd->recv % b->o.inflight;
        uint64_t t = worker_now(w);
        w->bcount[slot] = 0;
        if (ph == P_MEASURE) {
            w->st.broadcasts++;
            hist_add(&w->st.hist, t - snd->ts[snd->recv & (b->ring - 1)]);
        }
        snd->recv++;
        if (ph == P_WARMUP || ph == P_MEASURE)
            w->bcast_due++;
    }
    if (w->draining == 1 && (snd->recv == snd->sent || !w->nrecv)) {
        w->draining = 2; /* all in: stop at the next loop turn, outside the clients' callbacks */
        uv_timer_start(&w->drain, on_drain, 0, 0);
    }
}

/* A receiver left (closed, failed): what it had counts, what it had not is
 * no longer waited for. */
static void bcast_leave(struct worker *w, struct bconn *bc)
{
    if (!bc->member)
        return;
    struct bconn *snd = &w->conns[0];
    bc->member = 0;
    for (uint32_t s = snd->recv; s != bc->recv; s++)
        w->bcount[s % w->b->o.inflight]--;
    w->nrecv--;
    bcast_complete(w);
}

/* A message at a receiver: it must be the next one the sender sent, byte
 * for byte. Otherwise, when it is a later one (those before it skipped),
 * each skipped one is an order error and counts as had, so that the run
 * goes on; an earlier one again is an order error; anything else a
 * mismatch. A message to the sender itself is a mismatch: a broadcast goes
 * to every *other* connection. */
__attribute__((noinline)) static void on_delivery(struct bconn *bc, int binary, const uint8_t *data,
                                                  size_t len)
{
    struct worker *w = bc->w;
    struct bench *b = w->b;
    struct bconn *snd = &w->conns[0];
    uint32_t d = b->o.inflight, seq = bc->recv, first = seq;
    if (!bc->member || binary != b->o.binary) {
        count_error(w, E_MISMATCH);
        return;
    }
    if (seq == snd->sent || !check_reply(b, seq, data, len)) {
        uint32_t ahead = snd->sent - seq, s = seq + 1; /* sent from seq on: at most d */
        while (s - seq < ahead && !check_reply(b, s, data, len))
            s++;
        if (s - seq >= ahead) {
            enum err e = E_MISMATCH;
            for (uint32_t k = 1; k <= d && k <= seq; k++)
                if (check_reply(b, seq - k, data, len)) {
                    e = E_ORDER;
                    break;
                }
            count_error(w, e);
            return;
        }
        count_errors(w, E_ORDER, s - seq);
        for (; seq != s; seq++)
            w->bcount[seq % d]++;
        bc->recv = s;
    }
    bc->recv++;
    w->bcount[seq % d]++;
    if (phase_of(b) == P_MEASURE) {
        w->st.messages++;
        w->st.bytes += len;
    }
    atomic_store_explicit(&w->pub_done, ++w->done, memory_order_relaxed);
    if (first == snd->recv) /* the oldest outstanding may be done now */
        bcast_complete(w);
}

/* A reply: `mask` NULL for one as it was sent, else still masked with it. */
/* Idle mode: the one echo of the check. */
__attribute__((noinline)) static void on_idle_reply(struct bconn *bc, int binary, const uint8_t *data,
                                                    size_t len, const uint8_t *mask)
{
    struct worker *w = bc->w;
    struct bench *b = w->b;
    if (!bc->checked && bc->sent && binary == b->o.binary &&
        (mask ? check_masked(b, 0, data, len, mask) : check_reply(b, 0, data, len))) {
        bc->checked = 1;
        atomic_store_explicit(&w->pub_checked, ++w->checked, memory_order_relaxed);
    } else
        count_error(w, E_MISMATCH);
}

/* The other modes out of line (noinline): the echo path, run per message,
 * then saves fewer registers. */
static inline __attribute__((always_inline)) void on_reply(struct bconn *bc, int binary, const uint8_t *data,
                                                           size_t len, const uint8_t *mask)
{
    struct worker *w = bc->w;
    struct bench *b = w->b;
    if (b->o.mode == M_BROADCAST) {
        on_delivery(bc, binary, data, len);
        return;
    }
    if (b->o.mode == M_IDLE) {
        on_idle_reply(bc, binary, data, len, mask);
        return;
    }
    if (bc->recv == bc->sent || binary != b->o.binary ||
        !(b->wire ? check_wire(b, bc->keys[bc->recv & (b->ring - 1)], data, len, mask)
          : mask  ? check_masked(b, bc->recv, data, len, mask)
                  : check_reply(b, bc->recv, data, len))) {
        count_error(w, E_MISMATCH);
        return;
    }
    uint64_t t = worker_now(w);
    uint64_t lat = t - bc->ts[bc->recv & (b->ring - 1)];
    bc->recv++;
    int ph = phase_of(b);
    if (ph == P_MEASURE) {
        w->st.messages++;
        w->st.bytes += len;
        hist_add(&w->st.hist, lat);
    }
    atomic_store_explicit(&w->pub_done, ++w->done, memory_order_relaxed);
    if ((ph == P_WARMUP || ph == P_MEASURE) && b->o.rate <= 0)
        send_at(bc, t); /* the reply's clock reading: one clock_gettime per message, not two */
}

static void on_message(struct wsjwt_client *c, int binary, const uint8_t *data, size_t len, void *user)
{
    (void)c;
    on_reply(user, binary, data, len, NULL);
}

static void on_masked(struct wsjwt_client *c, int binary, const uint8_t *data, size_t len,
                      const uint8_t mask[4], void *user)
{
    (void)c;
    on_reply(user, binary, data, len, mask);
}

static void on_error(struct wsjwt_client *c, int err, const struct wsjwt_client_response *r, void *user)
{
    struct bconn *bc = user;
    struct worker *w = bc->w;
    struct bench *b = w->b;
    (void)c;
    if (err == WSJWT_EHTTP_STATUS && r && b->o.mode == M_UPGRADE && (uint32_t)r->status == b->o.expect) {
        if (phase_of(b) == P_MEASURE)
            w->st.upgrades++;
        atomic_store_explicit(&w->pub_done, ++w->done, memory_order_relaxed);
        upgrade_again(bc); /* or on_close follows and conn_gone starts the next */
        return;
    }
    if (phase_of(b) == P_STOP && bc->open)
        return; /* ours to end */
    if (err == WSJWT_EHTTP_STATUS)
        count_error(w, E_REFUSED);
    else if (err == WSJWT_ECONNECT || err == WSJWT_ERESOLVE || err == WSJWT_ETIMEDOUT)
        count_error(w, E_CONNECT);
    else if (err <= WSJWT_EHTTP_MALFORMED && err > WSJWT_EWS_PROTOCOL)
        count_error(w, E_HANDSHAKE);
    else if (err == WSJWT_ECLOSED || err == WSJWT_EIO)
        count_error(w, E_CLOSED);
    else
        count_error(w, E_PROTOCOL);
    if (!bc->open && b->o.mode != M_UPGRADE)
        atomic_store_explicit(&w->pub_failed, atomic_load_explicit(&w->pub_failed, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

static void on_close(struct wsjwt_client *c, int code, const char *reason, size_t reason_len, void *user)
{
    struct bconn *bc = user;
    struct worker *w = bc->w;
    (void)c;
    (void)reason;
    (void)reason_len;
    /* A close the server started (not after ours) is an error unless we are
     * stopping; upgrade workers end by aborting, not here. */
    if (bc->open && phase_of(w->b) != P_STOP && code != 1006)
        count_error(w, E_CLOSED);
    bc->done = 1;
    conn_gone(bc);
}

static void start_conn(struct worker *w, struct bconn *bc)
{
    struct bench *b = w->b;
    char *token = NULL;
    int owned = 0;
    bc->w = w;
    bc->sent = bc->recv = 0;
    bc->open = bc->done = bc->checked = 0;
    pthread_mutex_lock(&b->token_lock);
    int trc = tokenopts_token(&b->to, &token, &owned);
    pthread_mutex_unlock(&b->token_lock);
    if (trc != 0) {
        count_error(w, E_CONNECT);
        return;
    }
    struct wsjwt_client_opts o = {
        .url = b->o.url,
        .token = token,
        .token_place = b->to.place,
        .token_name = b->to.name,
        .bind_address = b->o.sources > 1 ? b->source[(w->first + bc->idx) % b->o.sources] : NULL,
        .max_message = b->o.size > (1u << 20) ? b->o.size : 0,
        .connect_timeout_ms = (uint64_t)(b->o.timeout * 1000.0),
        .close_timeout_ms = 2000,
        .bench_raw_echo = b->o.raw_echo,
        .deflate = b->o.deflate,
        .cb = {on_open, on_message, NULL, on_error, on_close},
        .user = bc,
        .tls = b->tls,
        .bench_on_masked = b->o.raw_echo ? on_masked : NULL,
    };
    int rc = wsjwt_client_new(&w->loop, &o, &bc->c);
    tokenopts_free_token(token, owned);
    if (rc == 0 && (rc = wsjwt_client_connect(bc->c)) != 0) {
        wsjwt_client_free(bc->c);
        bc->c = NULL;
    }
    if (rc) {
        count_error(w, E_CONNECT);
        return;
    }
    w->alive++;
    w->connecting++;
    w->started++;
}

/* ---- the worker loop ---------------------------------------------------------------- */

/* Open loop, at the end of every loop turn: message k of this thread is due
 * at start + k / rate, and leaves at the first turn at or after that time,
 * round-robin over the connections whose window has room. When it leaves
 * more than RATE_SLACK_TICKS ticks late, its latency counts from when it was
 * due, so a stalled server or generator shows in the latency instead of
 * silently lowering the offered rate (coordinated omission); within the
 * slack (the tick's own granularity) it counts from the send. Once a whole
 * round finds every window full, what is due is not sent and counts as
 * behind, all at once (a scan per message would make a generator that fell
 * behind fall further). */
static void pace(struct worker *w)
{
    struct bench *b = w->b;
    uint64_t now = worker_now(w);
    if ((double)now < w->due)
        return;
    double slack = RATE_SLACK_TICKS * b->o.tick_us * 1e3;
    uint32_t full = 0; /* connections in a row found without room */
    for (; w->due <= (double)now; w->due += w->interval) {
        struct bconn *bc = NULL;
        while (!bc && full < w->n) {
            struct bconn *cand = &w->conns[w->rr];
            w->rr = w->rr + 1 == w->n ? 0 : w->rr + 1;
            if (cand->open && cand->sent - cand->recv < b->o.inflight)
                bc = cand;
            else
                full++;
        }
        if (!bc) {
            uint64_t late = (uint64_t)(((double)now - w->due) / w->interval) + 1;
            count_errors(w, E_BEHIND, late);
            w->due += (double)late * w->interval;
            break;
        }
        full = 0;
        if (!bc->dirty) { /* held until every due message is written: one write per connection */
            bc->dirty = 1;
            wsjwt_client_cork(bc->c);
            w->dirty[w->ndirty++] = bc;
        }
        send_at(bc, (double)now - w->due > slack ? (uint64_t)w->due : now);
    }
    for (uint32_t i = 0; i < w->ndirty; i++) {
        w->dirty[i]->dirty = 0;
        wsjwt_client_uncork(w->dirty[i]->c);
    }
    w->ndirty = 0;
}

/* The end of the run: every connection closed (or freed). */
static void stop_conns(struct worker *w)
{
    struct bench *b = w->b;
    for (uint32_t i = 0; i < w->n; i++) {
        struct bconn *bc = &w->conns[i];
        if (!bc->c)
            continue;
        if (b->o.mode == M_IDLE && bc->open && !bc->checked)
            count_error(w, E_NOREPLY);
        /* A byte echo only echoes our close: abort instead of waiting. */
        if (bc->open && !b->o.raw_echo && wsjwt_client_close(bc->c, 1000, NULL) == 0)
            continue;
        wsjwt_client_free(bc->c); /* still connecting, or closing already */
        bc->c = NULL;
        w->alive--;
    }
    if (w->alive == 0)
        stop_loop(w);
}

/* Broadcast, after the stop: all delivered, or --timeout passed; what a
 * receiver still lacks then is missing. */
static void on_drain(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct bconn *snd = &w->conns[0];
    for (uint32_t i = 1; i < w->n; i++)
        if (w->conns[i].member)
            count_errors(w, E_MISSING, snd->sent - w->conns[i].recv);
    w->draining = 0;
    uv_close((uv_handle_t *)&w->drain, NULL);
    stop_conns(w);
}

static void on_wake(uv_async_t *a)
{
    struct worker *w = a->data;
    struct bench *b = w->b;
    int ph = phase_of(b);
    if (ph == w->seen_phase)
        return;
    int was = w->seen_phase;
    w->seen_phase = ph;
    if (was == P_SETUP && (ph == P_WARMUP || ph == P_MEASURE)) {
        if (b->o.mode == M_UPGRADE) {
            for (uint32_t i = 0; i < w->n && (!b->o.count || w->started < w->quota); i++)
                start_conn(w, &w->conns[i]);
        } else if (b->o.mode == M_ECHO && b->o.rate > 0) {
            w->interval = 1e9 / (b->o.rate / b->o.threads);
            w->due = (double)now_ns();
            w->pacing = 1;
        } else if (b->o.mode == M_ECHO) {
            for (uint32_t i = 0; i < w->n; i++)
                if (w->conns[i].open)
                    for (uint32_t k = 0; k < b->o.inflight; k++)
                        send_one(&w->conns[i]);
        } else if (b->o.mode == M_BROADCAST) {
            /* The receivers open now are those every message must reach. */
            for (uint32_t i = 1; i < w->n; i++)
                if (w->conns[i].open) {
                    w->conns[i].member = 1;
                    w->nrecv++;
                }
            if (w->conns[0].open && w->nrecv)
                for (uint32_t k = 0; k < b->o.inflight; k++)
                    send_one(&w->conns[0]);
        }
    }
    if (ph == P_CHECK && b->o.mode == M_IDLE) {
        for (uint32_t i = 0; i < w->n; i++)
            if (w->conns[i].open)
                send_one(&w->conns[i]);
    }
    if (ph == P_STOP) {
        w->pacing = 0;
        struct bconn *snd = &w->conns[0];
        if (b->o.mode == M_BROADCAST && snd->recv != snd->sent && w->nrecv) {
            /* Messages sent are owed to every receiver: give them up to
             * --timeout (bcast_complete ends the wait when all are in). */
            w->draining = 1;
            uv_timer_init(&w->loop, &w->drain);
            w->drain.data = w;
            uv_timer_start(&w->drain, on_drain, (uint64_t)(b->o.timeout * 1000.0), 0);
            return;
        }
        stop_conns(w);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    /* A descriptor table of the loop's own, as a single-threaded process
     * has: while threads share one, the kernel takes and drops a reference
     * on the file at every system call on a descriptor (fdget's light way
     * is for a table nobody else uses). The table starts as a copy of the
     * process's (stdout, stderr, the loop's descriptors), and the sockets
     * this thread opens are in it only: no other thread uses them. perf,
     * 100 x 8 x 32 B echo against raw_echo: fput 0.5% -> 0.05% of the
     * generator's time. If unshare fails, the shared table does as before. */
    (void)unshare(CLONE_FILES);
    if (b->o.mode != M_UPGRADE) {
        while (w->next_start < w->n && w->connecting < CONNECT_BATCH)
            start_conn(w, &w->conns[w->next_start++]);
    }
    /* The loop from the clients' own epoll set (see wsjwt_client_run):
     * libuv runs only for the phase wake-ups and the clients' timers. Open
     * loop: a turn at least every tick, end_turn sends what is due. */
    if (wsjwt_client_run_every(&w->loop, b->o.rate > 0 ? (uint64_t)b->o.tick_us : 0, end_turn, w) != 0) {
        fprintf(stderr, CMD ": the event loop failed\n");
        count_error(w, E_CONNECT);
    }
    return NULL;
}

/* ---- the main thread ------------------------------------------------------------------ */

static void set_phase(struct bench *b, int ph)
{
    atomic_store(&b->phase, ph);
    for (uint32_t t = 0; t < b->o.threads; t++)
        uv_async_send(&b->w[t].wake);
}

static uint64_t sum(struct bench *b, size_t off)
{
    uint64_t s = 0;
    for (uint32_t t = 0; t < b->o.threads; t++)
        s += atomic_load_explicit((_Atomic uint64_t *)((char *)&b->w[t] + off), memory_order_relaxed);
    return s;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Sleeps for `secs`, printing a progress line each second on a terminal. */
static void run_window(struct bench *b, double secs, const char *label, int tty)
{
    uint64_t start = now_ns();
    uint64_t last_done = sum(b, offsetof(struct worker, pub_done));
    uint64_t last_t = start;
    for (;;) {
        double left = secs - (double)(now_ns() - start) / 1e9;
        if (left <= 0)
            break;
        sleep_s(left < 1.0 ? left : 1.0);
        if (!tty)
            continue;
        uint64_t d = sum(b, offsetof(struct worker, pub_done)), t = now_ns();
        double rate = (double)(d - last_done) / ((double)(t - last_t) / 1e9);
        fprintf(stderr, "\r%-8s %6.1fs  %12.0f %s/s  open %llu  errors %llu   ", label,
                (double)(t - start) / 1e9, rate, b->o.mode == M_UPGRADE ? "upgrades" : "msg",
                (unsigned long long)sum(b, offsetof(struct worker, pub_opened)),
                (unsigned long long)sum(b, offsetof(struct worker, pub_errors)));
        last_done = d;
        last_t = t;
    }
    if (tty)
        fprintf(stderr, "\r%*s\r", 78, "");
}

static void help(FILE *out)
{
    fputs("usage: wsjwt bench URL [OPTIONS]\n\n"
          "Load-tests a WebSocket server (ours or any other).\n\n"
          "  --mode M            echo (default), upgrade, idle or broadcast\n"
          "  --connections N     echo/idle: connections; upgrade: concurrent workers (100);\n"
          "                      broadcast: 1 sender and N-1 receivers\n"
          "  --in-flight D       echo: messages in flight per connection (1); broadcast:\n"
          "                      messages the sender keeps in flight (each done when every\n"
          "                      receiver has it, in order and byte for byte)\n"
          "  --size BYTES        payload per message (32)\n"
          "  --binary            binary messages (default text); echo sends each as the\n"
          "                      same bytes on the wire under a fresh mask key, so every\n"
          "                      payload differs (wsjwt_client_bench_send_wire)\n"
          "  --deflate           offer permessage-deflate and compress every message sent\n"
          "  --duration S        measured seconds (5)\n"
          "  --count M           a fixed workload instead (no warm-up; --duration is then\n"
          "                      the limit, default 600): echo, M messages per connection;\n"
          "                      upgrade, M upgrades in all (for instruction counts)\n"
          "  --warmup S          seconds before measuring (1)\n"
          "  --rate R            echo: R messages/s in all, open loop (default: closed loop)\n"
          "  --tick-us T         --rate: the loop turns (and sends what is due) at least\n"
          "                      every T microseconds (1000)\n"
          "  --threads T         event-loop threads (1)\n"
          "  --sources K         spread connections over 127.0.0.1..K (auto beyond 20000)\n"
          "  --expect-status S   upgrade: the status every upgrade must get (101; 401 for\n"
          "                      refused tokens)\n"
          "  --timeout S         connect + upgrade limit per connection (10)\n"
          "  --raw-echo          the server is a byte echo (bench/raw_echo, the loopback\n"
          "                      floor): our masked frames come back and are checked\n"
          "  --server-pid PID    also report that process's CPU (and, idle mode, its RSS\n"
          "                      growth per held connection)\n"
          "  --label NAME        copied into the JSON output\n"
          "  --ca FILE           wss://: trust the CAs in FILE (PEM) instead of the system's store\n"
          "  --insecure          wss://: do not verify the server's certificate (testing only)\n"
          "  --tls-cert FILE --tls-key FILE  wss://: client certificate chain and its key (PEM;\n"
          "                      --key is the JWT signing key of the token options)\n"
          "  --json              one JSON object on stdout\n\n",
          out);
    tokenopts_help(out);
    fputs("\nEvery reply is checked; errors are counted and shown. Exit: 0 no error, 1 errors, 2 usage.\n",
          out);
}

static int num(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, CMD ": %s: expected a number from %g to %g\n", opt, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, struct bench *b)
{
    struct opts *o = &b->o;
    o->mode = M_ECHO;
    o->conns = 100;
    o->inflight = 1;
    o->size = 32;
    o->duration = 5;
    o->warmup = 1;
    o->threads = 1;
    o->expect = 101;
    o->timeout = 10;
    o->tick_us = 1000;
    for (int i = 1; i < argc;) {
        const char *v = NULL;
        double d;
        int r;
        if ((r = tokenopts_parse(&b->to, argc, argv, &i)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return -1;
        }
        if ((r = opt_flag(CMD, argv, &i, "--binary")) != OPT_UNKNOWN) {
            o->binary = 1;
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--ca", &o->tls.ca_file)) != OPT_UNKNOWN ||
            (r = opt_value(CMD, argc, argv, &i, "--tls-cert", &o->tls.cert_file)) != OPT_UNKNOWN ||
            (r = opt_value(CMD, argc, argv, &i, "--tls-key", &o->tls.key_file)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_flag(CMD, argv, &i, "--insecure")) != OPT_UNKNOWN) {
            o->tls.insecure = 1;
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--label", &o->label)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_flag(CMD, argv, &i, "--raw-echo")) != OPT_UNKNOWN) {
            o->raw_echo = 1;
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_flag(CMD, argv, &i, "--deflate")) != OPT_UNKNOWN) {
            o->deflate = 1;
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_flag(CMD, argv, &i, "--json")) != OPT_UNKNOWN) {
            o->json = 1;
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--mode", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            if (strcmp(v, "echo") == 0)
                o->mode = M_ECHO;
            else if (strcmp(v, "upgrade") == 0)
                o->mode = M_UPGRADE;
            else if (strcmp(v, "idle") == 0)
                o->mode = M_IDLE;
            else if (strcmp(v, "broadcast") == 0)
                o->mode = M_BROADCAST;
            else {
                fprintf(stderr, CMD ": --mode: echo, upgrade, idle or broadcast\n");
                return EXIT_USAGE;
            }
            continue;
        }
#define NUM(name, lo, hi, dst, type)                                                                         \
    if ((r = opt_value(CMD, argc, argv, &i, name, &v)) != OPT_UNKNOWN) {                                     \
        if (r == OPT_ERROR || num(name, v, lo, hi, &d) != 0)                                                 \
            return EXIT_USAGE;                                                                               \
        dst = (type)d;                                                                                       \
        continue;                                                                                            \
    }
        NUM("--connections", 1, MAX_CONNS, o->conns, uint32_t)
        NUM("--in-flight", 1, MAX_INFLIGHT, o->inflight, uint32_t)
        NUM("--size", 0, MAX_SIZE, o->size, size_t)
        if ((r = opt_value(CMD, argc, argv, &i, "--duration", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR || num("--duration", v, 0.1, MAX_SECONDS, &d) != 0)
                return EXIT_USAGE;
            o->duration = d;
            o->duration_given = 1;
            continue;
        }
        NUM("--count", 1, 1e12, o->count, uint64_t)
        NUM("--warmup", 0, MAX_SECONDS, o->warmup, double)
        NUM("--rate", 1, 1e9, o->rate, double)
        NUM("--tick-us", 10, 100000, o->tick_us, double)
        NUM("--threads", 1, MAX_THREADS, o->threads, uint32_t)
        NUM("--sources", 1, 250, o->sources, uint32_t)
        NUM("--expect-status", 100, 599, o->expect, uint32_t)
        NUM("--timeout", 0.1, 600, o->timeout, double)
        NUM("--server-pid", 1, 4194304, o->server_pid, long)
#undef NUM
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, CMD ": unknown option '%s' (see wsjwt bench --help)\n", argv[i]);
            return EXIT_USAGE;
        }
        if (o->url) {
            fprintf(stderr, CMD ": one URL only ('%s')\n", argv[i]);
            return EXIT_USAGE;
        }
        o->url = argv[i++];
    }
    if (!o->url) {
        fprintf(stderr, CMD ": a URL is required (ws://host:port/path)\n");
        return EXIT_USAGE;
    }
    struct wsjwt_url u;
    if (wsjwt_url_parse(o->url, strlen(o->url), &u) != 0) {
        fprintf(stderr, CMD ": %s: not a ws:// or wss:// URL\n", o->url);
        return EXIT_USAGE;
    }
    if (u.tls && (o->raw_echo || !b->tls)) {
        char err[512];
        if (o->raw_echo) {
            fprintf(stderr, CMD ": --raw-echo is a plain TCP echo: use a ws:// URL\n");
            return EXIT_USAGE;
        }
        if (o->tls.insecure)
            fprintf(stderr, CMD ": warning: --insecure: the server's certificate is NOT verified\n");
        if (wsjwt_tls_client_new(&o->tls, &b->tls, err, sizeof(err)) != 0) {
            fprintf(stderr, CMD ": %s\n", err);
            return EXIT_USAGE;
        }
    }
    if (o->threads > o->conns)
        o->threads = o->conns;
    if (o->count && (o->mode == M_IDLE || o->mode == M_BROADCAST)) {
        fprintf(stderr, CMD ": --count applies to echo and upgrade\n");
        return EXIT_USAGE;
    }
    if (o->mode == M_BROADCAST && (o->conns < 2 || o->threads > 1 || o->rate > 0 || o->raw_echo)) {
        /* One thread: every delivery counts towards the same message. */
        fprintf(stderr, CMD ": --mode broadcast needs 2 connections or more, one thread, no --rate and no "
                            "--raw-echo\n");
        return EXIT_USAGE;
    }
    if (o->count && !o->duration_given)
        o->duration = MAX_SECONDS;
    for (b->ring = 1; b->ring < o->inflight;)
        b->ring *= 2;
    if ((uint64_t)o->conns * b->ring > MAX_SLOTS) {
        fprintf(stderr, CMD ": --connections x --in-flight (rounded up to a power of two) is capped at %u\n",
                MAX_SLOTS);
        return EXIT_USAGE;
    }
    b->npat = o->size <= NPAT_BYTES / NPAT ? NPAT
              : o->size >= NPAT_BYTES      ? 1
                                           : (unsigned)(NPAT_BYTES / o->size);
    while (b->npat & (b->npat - 1)) /* down to a power of two */
        b->npat &= b->npat - 1;
    if (!o->sources) {
        o->sources = 1;
        if (o->conns > PORTS_PER_SOURCE && u.host_len >= 4 && memcmp(u.host, "127.", 4) == 0)
            o->sources = (o->conns + PORTS_PER_SOURCE - 1) / PORTS_PER_SOURCE;
    }
    for (uint32_t k = 0; k < o->sources && k < MAX_THREADS; k++)
        snprintf(b->source[k], sizeof(b->source[k]), "127.0.0.%u", k + 1);
    if (o->sources > MAX_THREADS)
        o->sources = MAX_THREADS;
    return 0;
}

static void merge(struct stats *into, const struct stats *s)
{
    into->messages += s->messages;
    into->bytes += s->bytes;
    into->upgrades += s->upgrades;
    into->broadcasts += s->broadcasts;
    into->opened += s->opened;
    for (unsigned e = 0; e < E_COUNT; e++)
        into->errors[e] += s->errors[e];
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->hist.n[i] += s->hist.n[i];
    into->hist.count += s->hist.count;
    if (s->hist.max > into->hist.max)
        into->hist.max = s->hist.max;
}

/* A JSON string: quotes and backslashes escaped, control bytes as \u00XX. */
static void json_str(const char *v)
{
    putchar('"');
    for (; v && *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void report(struct bench *b, const struct stats *s, const struct sample *sm)
{
    double secs = sm->secs, cpu = sm->cpu, connect_s = sm->connect_s;
    const struct opts *o = &b->o;
    uint64_t errors = 0;
    for (unsigned e = 0; e < E_COUNT; e++)
        errors += s->errors[e];
    double mps = (double)s->messages / secs, mbs = (double)s->bytes / secs / 1e6;
    double ups = (double)s->upgrades / secs;
    double p[5] = {hist_pct_us(&s->hist, 50), hist_pct_us(&s->hist, 90), hist_pct_us(&s->hist, 99),
                   hist_pct_us(&s->hist, 99.9), (double)s->hist.max / 1000.0};
    static const char *const modes[] = {"echo", "upgrade", "idle", "broadcast"};
    const char *mode = modes[o->mode];
    int bcast = o->mode == M_BROADCAST;
    double bps = (double)s->broadcasts / secs;
    FILE *h = o->json ? stderr : stdout;
    fprintf(h, "%s %s: %u connections, %u thread%s, %.1f s measured\n", mode, o->url, o->conns, o->threads,
            o->threads == 1 ? "" : "s", secs);
    if (o->mode == M_ECHO) {
        fprintf(h, "  %u in flight x %zu B %s%s\n", o->inflight, o->size, o->binary ? "binary" : "text",
                o->rate > 0 ? " (open loop)" : "");
        fprintf(h, "  messages  %llu  (%.0f msg/s, %.2f MB/s)\n", (unsigned long long)s->messages, mps, mbs);
        fprintf(h, "  latency   p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us\n", p[0],
                p[1], p[2], p[3], p[4]);
    } else if (bcast) {
        fprintf(h, "  1 sender x %u in flight x %zu B %s, %u receivers\n", o->inflight, o->size,
                o->binary ? "binary" : "text", o->conns - 1);
        fprintf(h, "  delivered %llu  (%.0f deliveries/s, %.2f MB/s); %llu messages to all (%.1f/s)\n",
                (unsigned long long)s->messages, mps, mbs, (unsigned long long)s->broadcasts, bps);
        fprintf(h, "  latency   (send to last delivery) p50 %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us\n",
                p[0], p[1], p[2], p[4]);
    } else if (o->mode == M_UPGRADE) {
        fprintf(h, "  upgrades  %llu  (%.0f/s, expecting %u)\n", (unsigned long long)s->upgrades, ups,
                o->expect);
    } else {
        fprintf(h, "  held      %llu of %u connections (opened in %.2f s)\n", (unsigned long long)s->opened,
                o->conns, connect_s);
    }
    uint64_t ops = o->mode == M_ECHO || bcast ? s->messages : o->mode == M_UPGRADE ? s->upgrades : 0;
    const char *op = o->mode == M_ECHO ? "message" : bcast ? "delivery" : "upgrade";
    double us_op = ops ? cpu / (double)ops * 1e6 : 0, server_us_op = 0, per_conn = 0;
    fprintf(h, "  cpu       %.0f%% of a core (this process)", cpu / secs * 100.0);
    if (ops)
        fprintf(h, ", %.2f us per %s", us_op, op);
    fputc('\n', h);
    if (sm->server_cpu >= 0) {
        server_us_op = ops ? sm->server_cpu / (double)ops * 1e6 : 0;
        fprintf(h, "  server    %.0f%% of a core (pid %ld)", sm->server_cpu / secs * 100.0, o->server_pid);
        if (ops)
            fprintf(h, ", %.2f us per %s", server_us_op, op);
        fputc('\n', h);
    }
    if (o->mode == M_IDLE && sm->rss0 >= 0 && sm->rss1 >= 0 && s->opened) {
        per_conn = (double)(sm->rss1 - sm->rss0) * 1024.0 / (double)s->opened;
        fprintf(h, "  server    RSS %ld -> %ld KiB: %.0f bytes per held connection\n", sm->rss0, sm->rss1,
                per_conn);
    }
    fprintf(h, "  errors    %llu", (unsigned long long)errors);
    for (unsigned e = 0; e < E_COUNT; e++)
        if (s->errors[e])
            fprintf(h, "  %s %llu", err_names[e], (unsigned long long)s->errors[e]);
    fputc('\n', h);
    if (!o->json)
        return;
    printf("{\"label\":");
    json_str(o->label ? o->label : "");
    printf(",\"url\":");
    json_str(o->url);
    printf(",\"mode\":\"%s\",\"connections\":%u,\"threads\":%u,\"in_flight\":%u,\"size\":%zu,"
           "\"binary\":%s,\"duration_s\":%.3f,\"opened\":%llu,\"messages\":%llu,\"messages_per_s\":%.1f,"
           "\"mb_per_s\":%.3f,\"upgrades\":%llu,\"upgrades_per_s\":%.1f,\"latency_us\":{\"p50\":%.1f,"
           "\"p90\":%.1f,\"p99\":%.1f,\"p99_9\":%.1f,\"max\":%.1f},\"cpu_percent\":%.1f,\"errors\":%llu,"
           "\"errors_by_kind\":{",
           mode, o->conns, o->threads, o->inflight, o->size, o->binary ? "true" : "false", secs,
           (unsigned long long)s->opened, (unsigned long long)s->messages, mps, mbs,
           (unsigned long long)s->upgrades, ups, p[0], p[1], p[2], p[3], p[4], cpu / secs * 100.0,
           (unsigned long long)errors);
    for (unsigned e = 0; e < E_COUNT; e++)
        printf("%s\"%s\":%llu", e ? "," : "", err_names[e], (unsigned long long)s->errors[e]);
    printf("},\"cpu_us_per_op\":%.3f", us_op);
    /* Broadcast: messages_per_s counts deliveries as well (as bench/loadgen's). */
    printf(",\"receivers\":%u,\"deliveries\":%llu,\"deliveries_per_s\":%.1f,\"broadcasts\":%llu,"
           "\"broadcasts_per_s\":%.1f",
           bcast ? o->conns - 1 : 0, (unsigned long long)(bcast ? s->messages : 0), bcast ? mps : 0,
           (unsigned long long)s->broadcasts, bps);
    /* The same figures under the flat names bench/loadgen uses, so that the
     * bench/ scripts read either generator's output. */
    printf(",\"latency_p50_us\":%.1f,\"latency_p99_us\":%.1f,\"generator_cpu_util\":%.3f,"
           "\"others_user_util\":%.3f,\"server_cpu_util\":%.3f",
           p[0], p[2], secs > 0 ? cpu / secs : 0, sm->others,
           sm->server_cpu >= 0 && secs > 0 ? sm->server_cpu / secs : -1);
    if (sm->server_cpu >= 0)
        printf(",\"server_cpu_percent\":%.1f,\"server_us_per_op\":%.3f", sm->server_cpu / secs * 100.0,
               server_us_op);
    if (o->mode == M_IDLE && sm->rss0 >= 0 && sm->rss1 >= 0)
        printf(",\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"bytes_per_conn\":%.0f", sm->rss0, sm->rss1,
               per_conn);
    printf("}\n");
}

int cmd_bench(int argc, char **argv)
{
    struct bench *b = calloc(1, sizeof(*b));
    if (!b)
        return EXIT_REFUSED;
    tokenopts_init(&b->to, CMD);
    pthread_mutex_init(&b->token_lock, NULL);
    int rc = parse(argc, argv, b);
    if (rc) {
        free(b);
        return rc < 0 ? 0 : rc;
    }
    if ((rc = tokenopts_prepare(&b->to)) != 0) {
        tokenopts_release(&b->to);
        free(b);
        return rc;
    }
    struct opts *o = &b->o;
    int tty = isatty(2);
    /* One descriptor per connection plus the loops' own: raise the soft limit
     * to the hard one, and say so plainly when even that is too low. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            (rlim_t)o->conns + 16u * o->threads + 16u > rl.rlim_cur) {
            fprintf(stderr,
                    CMD ": %u connections need more file descriptors than the limit of %llu (ulimit -n)\n",
                    o->conns, (unsigned long long)rl.rlim_cur);
            tokenopts_release(&b->to);
            free(b);
            return EXIT_REFUSED;
        }
    }
    rc = 0;
    for (unsigned k = 0; k < b->npat; k++) {
        b->pat[k] = malloc(o->size ? o->size : 1);
        if (!b->pat[k])
            return EXIT_REFUSED;
        fill_pattern(b->pat[k], o->size, k, o->binary);
    }
    b->w = calloc(o->threads, sizeof(*b->w));
    struct bconn *conns = calloc(o->conns, sizeof(*conns));
    uint64_t *ts = calloc((size_t)o->conns * b->ring, sizeof(uint64_t));
    b->wire = o->mode == M_ECHO && o->binary && !o->deflate;
    uint32_t *keys = b->wire ? calloc((size_t)o->conns * b->ring, sizeof(uint32_t)) : NULL;
    if (!b->w || !conns || !ts || (b->wire && !keys)) {
        fprintf(stderr, CMD ": out of memory\n");
        return EXIT_REFUSED;
    }
    for (uint32_t i = 0; i < o->conns; i++) {
        conns[i].ts = ts + (size_t)i * b->ring;
        conns[i].keys = keys ? keys + (size_t)i * b->ring : NULL;
    }
    uint32_t per = o->conns / o->threads, extra = o->conns % o->threads, first = 0;
    for (uint32_t t = 0; t < o->threads; t++) {
        struct worker *w = &b->w[t];
        w->b = b;
        w->first = first;
        w->n = per + (t < extra);
        w->conns = conns + first;
        for (uint32_t i = 0; i < w->n; i++) {
            w->conns[i].idx = i;
            w->conns[i].w = w;
        }
        first += w->n;
        w->quota = o->count / o->threads + (t < o->count % o->threads);
        for (unsigned k = 0; k < b->npat; k++) {
            w->pat[k] = malloc(o->size ? o->size : 1);
            if (!w->pat[k])
                return EXIT_REFUSED;
            memcpy(w->pat[k], b->pat[k], o->size);
        }
        if (o->rate > 0 && !(w->dirty = calloc(w->n, sizeof(*w->dirty)))) {
            fprintf(stderr, CMD ": out of memory\n");
            return EXIT_REFUSED;
        }
        if (o->mode == M_BROADCAST && !(w->bcount = calloc(o->inflight, sizeof(*w->bcount)))) {
            fprintf(stderr, CMD ": out of memory\n");
            return EXIT_REFUSED;
        }
        uv_loop_init(&w->loop);
        uv_async_init(&w->loop, &w->wake, on_wake);
        w->wake.data = w;
    }
    struct sample sm = {.server_cpu = -1, .rss0 = -1, .rss1 = -1};
    if (o->server_pid)
        sm.rss0 = proc_rss_kb(o->server_pid); /* before a single connection */
    atomic_store(&b->phase, P_SETUP);
    uint64_t t_start = now_ns();
    for (uint32_t t = 0; t < o->threads; t++)
        pthread_create(&b->w[t].thread, NULL, worker_main, &b->w[t]);

    double connect_s = 0;
    if (o->mode != M_UPGRADE) {
        /* Wait for every connection to open or fail. */
        double limit = o->timeout + (double)o->conns / 2000.0 + 5.0;
        for (;;) {
            uint64_t opened = sum(b, offsetof(struct worker, pub_opened));
            uint64_t failed = sum(b, offsetof(struct worker, pub_failed));
            connect_s = (double)(now_ns() - t_start) / 1e9;
            if (opened + failed >= o->conns || connect_s > limit)
                break;
            if (tty)
                fprintf(stderr, "\rconnecting %llu/%u  errors %llu   ", (unsigned long long)opened, o->conns,
                        (unsigned long long)sum(b, offsetof(struct worker, pub_errors)));
            sleep_s(0.05);
        }
        if (tty)
            fprintf(stderr, "\r%*s\r", 60, "");
    }
    double cpu0 = 0, cpu1 = 0, scpu0 = -1, scpu1 = -1;
    uint64_t m0 = 0, m1 = 0;
    unsigned long long ot0 = 0, ot1 = 0;
    if (o->mode == M_IDLE) {
        set_phase(b, P_MEASURE);
        cpu0 = cpu_s();
        ot0 = others_ticks(o->server_pid);
        scpu0 = o->server_pid ? proc_cpu_s(o->server_pid, NULL) : -1;
        m0 = now_ns();
        run_window(b, o->duration, "holding", tty);
        m1 = now_ns();
        cpu1 = cpu_s();
        ot1 = others_ticks(o->server_pid);
        scpu1 = o->server_pid ? proc_cpu_s(o->server_pid, NULL) : -1;
        if (o->server_pid)
            sm.rss1 = proc_rss_kb(o->server_pid); /* every connection held, before the check */
        set_phase(b, P_CHECK);
        /* Give the one message per connection up to 5 s to come back. */
        uint64_t opened = sum(b, offsetof(struct worker, pub_opened));
        for (int k = 0; k < 500 && sum(b, offsetof(struct worker, pub_checked)) < opened; k++)
            sleep_s(0.01);
    } else if (o->count) {
        /* A fixed workload: from the first message (or upgrade) to the last
         * reply, no warm-up; errors count as done so that a failing run ends. */
        uint64_t target =
            o->mode == M_ECHO ? o->count * sum(b, offsetof(struct worker, pub_opened)) : o->count;
        set_phase(b, P_MEASURE);
        cpu0 = cpu_s();
        ot0 = others_ticks(o->server_pid);
        scpu0 = o->server_pid ? proc_cpu_s(o->server_pid, NULL) : -1;
        m0 = now_ns();
        while (sum(b, offsetof(struct worker, pub_done)) + sum(b, offsetof(struct worker, pub_errors)) <
                   target &&
               (double)(now_ns() - m0) / 1e9 < o->duration)
            sleep_s(0.001);
        m1 = now_ns();
        cpu1 = cpu_s();
        ot1 = others_ticks(o->server_pid);
        scpu1 = o->server_pid ? proc_cpu_s(o->server_pid, NULL) : -1;
    } else {
        set_phase(b, P_WARMUP);
        if (o->warmup > 0)
            run_window(b, o->warmup, "warmup", tty);
        set_phase(b, P_MEASURE);
        cpu0 = cpu_s();
        ot0 = others_ticks(o->server_pid);
        scpu0 = o->server_pid ? proc_cpu_s(o->server_pid, NULL) : -1;
        m0 = now_ns();
        run_window(b, o->duration, "measure", tty);
        m1 = now_ns();
        cpu1 = cpu_s();
        ot1 = others_ticks(o->server_pid);
        scpu1 = o->server_pid ? proc_cpu_s(o->server_pid, NULL) : -1;
    }
    sm.secs = (double)(m1 - m0) / 1e9;
    sm.cpu = cpu1 - cpu0;
    sm.others = ot1 > ot0 && sm.secs > 0 ? (double)(ot1 - ot0) / (double)sysconf(_SC_CLK_TCK) / sm.secs : 0;
    sm.connect_s = connect_s;
    if (scpu0 >= 0 && scpu1 >= 0)
        sm.server_cpu = scpu1 - scpu0;
    set_phase(b, P_STOP);
    struct stats *total = calloc(1, sizeof(*total));
    for (uint32_t t = 0; t < o->threads; t++) {
        pthread_join(b->w[t].thread, NULL);
        uv_loop_close(&b->w[t].loop);
        if (total)
            merge(total, &b->w[t].st);
        for (unsigned k = 0; k < b->npat; k++)
            free(b->w[t].pat[k]);
        free(b->w[t].bcount);
        free(b->w[t].dirty);
    }
    if (total) {
        report(b, total, &sm);
        for (unsigned e = 0; e < E_COUNT; e++)
            if (total->errors[e])
                rc = EXIT_REFUSED;
        if (o->mode != M_UPGRADE && total->opened < o->conns)
            rc = EXIT_REFUSED;
    }
    free(total);
    for (unsigned k = 0; k < b->npat; k++)
        free(b->pat[k]);
    free(ts);
    free(keys);
    free(conns);
    free(b->w);
    tokenopts_release(&b->to);
    wsjwt_tls_client_free(b->tls);
    free(b);
    return rc;
}
