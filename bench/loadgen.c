/* loadgen: the WebSocket load generator of the end-to-end benchmarks.
 *
 * One thread, epoll edge-triggered, loopback only. Three modes:
 *   echo     N connections, each keeping D messages of S bytes in flight;
 *            counts echoed messages per second, checks every reply byte for
 *            byte, records round-trip latency.
 *   upgrade  C concurrent workers, each: connect, send the upgrade request
 *            (with the token header), read the response head, check the status
 *            is the expected one (101, or 401 for refused tokens), close,
 *            repeat. Counts upgrades per second.
 *   idle     open N upgraded connections, let them settle, hold them, then
 *            send one message on each and check its echo. With --server-pid it
 *            reports the server's resident memory before and after: bytes per
 *            idle connection.
 * The measured window follows a warm-up; the generator's own CPU time (and,
 * with --server-pid, the server's) is sampled at both ends of the window so
 * that every rate can be read next to the CPU that produced it.
 *
 * Output: a human summary on stderr, one flat JSON object on stdout.
 * Exit status: 0 when the run completed without a single error, 1 when any
 * error was counted (they are all in the JSON), 2 on usage errors.
 *
 * Shortcuts a benchmark may take and a real client may not, all deliberate:
 * every connection sends the same Sec-WebSocket-Key (RFC 6455 section 1.3's
 * example, so the expected Sec-WebSocket-Accept is a constant); client frames
 * are masked once, at start-up, with fixed keys and then replayed (the server
 * still unmasks every byte). Server pings are skipped, not answered (runs are
 * shorter than any server's ping interval).
 *
 * Client frames are built once by our encoder (src/ws/ws.h); the decoder of
 * server frames here is independent of src/ws on purpose: the load generator
 * must not share a decoding bug with the server it checks.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ws/ws.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h, Linux 4.2 */
#endif

/* RFC 6455 section 1.3's example key and the accept value it must produce. */
#define WS_KEY    "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Bounds: every count and size the command line can ask for is capped. */
#define MAX_CONNS     60000u
#define MAX_INFLIGHT  1024u
#define MAX_SIZE      (16u * 1024u * 1024u)
#define MAX_SECONDS   600.0
#define MAX_SOURCES   250u
#define MAX_TOKEN     16384u
#define HEAD_CAP      4096u /* a response head longer than this is an error */
#define RBUF_SIZE     (256u * 1024u)
#define MAX_EVENTS    512
#define MAX_IOV       16
#define FRAMES_BUDGET (8u * 1024u * 1024u) /* bytes of precomputed frames */

enum mode { MODE_ECHO, MODE_UPGRADE, MODE_IDLE };
enum cstate { C_FREE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DEAD };
enum phase { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_COUNT, PH_SETTLE, PH_HOLD, PH_CHECK, PH_DONE };

/* Results of the per-connection steps: go on, done, or an error class. */
#define RC_AGAIN (-1)
#define RC_DONE  (-2)

/* Error classes, each counted and reported; none is ever dropped. */
enum err {
    E_CONNECT,   /* connect() failed or was refused */
    E_HANDSHAKE, /* response head malformed, too long, or wrong accept */
    E_STATUS,    /* a status other than the expected one */
    E_PROTOCOL,  /* a frame a server must not send */
    E_MISMATCH,  /* an echoed payload differing from what was sent */
    E_CLOSED,    /* the server closed or reset an established connection */
    E_TIMEOUT,   /* connect or handshake over --timeout, or the final check */
    E_COUNT
};
static const char *const err_names[E_COUNT] = {"connect",  "handshake", "status", "protocol",
                                               "mismatch", "closed",    "timeout"};

struct opts {
    enum mode mode;
    struct sockaddr_in target;
    char host[INET_ADDRSTRLEN];
    const char *path;
    const char *token;
    const char *token_header;
    uint32_t conns;
    uint32_t inflight;
    size_t size;
    int text;
    int raw;
    int expect;
    uint32_t sources;
    uint32_t batch;
    double duration, warmup, settle, timeout;
    int counted;      /* --count given: a fixed amount of work instead of a duration */
    double rate;      /* echo: messages/s offered in all (0: as fast as echoes return) */
    int broadcast;    /* echo: connection 0 sends, every other one must receive it all */
    uint32_t tick_us; /* pacing granularity with --rate */
    uint32_t count;   /* echo: messages per connection; upgrade: upgrades in all */
    long server_pid;
    const char *ready_file;
    const char *label;
};

struct conn {
    int fd;
    uint32_t gen;
    uint8_t state;
    /* frame parser (server mode) */
    uint8_t hdr[14];
    uint8_t hlen;
    uint8_t opcode; /* of the current frame */
    uint8_t fin;
    uint8_t in_msg;
    uint64_t plen; /* payload bytes left in the current frame */
    size_t moff;   /* payload bytes so far in the current message, or (raw
                      mode) bytes so far of the current echoed frame */
    /* handshake */
    char *head;
    uint32_t headlen;
    uint32_t reqoff;
    uint64_t t_start;
    /* messages: queued (qseq), written (wseq, woff bytes into it), received */
    uint64_t qseq, wseq, rseq, rseq0, budget;
    size_t woff;
    uint64_t *ts; /* send times, a ring of `inflight` */
};

/* Log-linear latency histogram: 32 sub-buckets per power of two, about 3%. */
#define H_SUB     32u
#define H_BUCKETS (60u * H_SUB)
struct hist {
    uint64_t n, max, sum;
    uint64_t b[H_BUCKETS];
};

/* CPU counters sampled at both ends of the measured window. */
struct sample {
    double self_cpu;   /* this process, CLOCK_PROCESS_CPUTIME_ID, seconds */
    double server_cpu; /* the server's utime + stime, seconds; -1 unknown */
    /* clock ticks: user time of this process, of the server, and of the
     * whole machine (user + nice of every core, /proc/stat) */
    unsigned long long self_user, server_user, all_user;
};

struct lg {
    struct opts o;
    int ep;
    enum phase phase;
    uint64_t now, t_phase, t_window0, t_window1;
    struct conn *c;
    uint32_t nconn;    /* slots in use (echo/idle: N; upgrade: C) */
    uint32_t started;  /* echo/idle: connections started so far */
    uint32_t pending;  /* connecting or handshaking */
    uint32_t open;     /* established */
    uint64_t done;     /* messages or upgrades completed (all time) */
    uint64_t done0;    /* ... at the window start */
    uint64_t done1;    /* ... at the window end */
    uint64_t attempts; /* upgrade: connections started during the run */
    uint64_t errors[E_COUNT];
    uint64_t pings;
    struct hist h;
    uint8_t *rbuf;
    char *req;
    size_t reqlen;
    /* frames: V precomputed masked frames of fsize bytes; pattern P */
    uint8_t *frames;
    size_t fsize;
    uint32_t variants;
    uint8_t *pattern;
    uint64_t *ts_all;
    struct sample s0, s1; /* at the window's start and end */
    long rss0, rss1;
    uint32_t check_open; /* idle: connections taking part in the final check */
    /* --rate pacing: messages issued since t_rate0, the round-robin cursor,
     * credit dropped because every window was full (the server fell behind),
     * and the connections with frames queued in this loop turn */
    uint64_t t_rate0, issued, behind, behind0;
    uint32_t rr, ndirty;
    uint32_t *dirty;
    /* --broadcast: receivers that got each in-flight message (a ring of
     * `inflight`), broadcasts complete, and whether the sender may send */
    uint32_t *bcount;
    uint64_t bdone, bdone0, bdone1;
    int sender_ready;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double self_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of a process (all its threads), in seconds; -1 if unreadable. */
static FILE *proc_open(long pid, const char *name)
{
    char path[64];
    if (pid <= 0)
        return NULL;
    snprintf(path, sizeof(path), "/proc/%ld/%s", pid, name);
    return fopen(path, "r");
}

/* utime and stime of a process (all its threads), in clock ticks. */
static int proc_times(long pid, unsigned long long *ut, unsigned long long *st)
{
    char buf[1024];
    FILE *f = proc_open(pid, "stat");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name may hold spaces and parentheses: fields count from the
     * last ')'. utime and stime are fields 14 and 15 (proc(5)). */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    return sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", ut, st) == 2 ? 0 : -1;
}

/* user + nice ticks of all cores together (proc(5), first line of /proc/stat). */
static unsigned long long machine_user(void)
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

static void take_sample(const struct lg *g, struct sample *s)
{
    unsigned long long ut = 0, st = 0;
    s->self_cpu = self_cpu();
    s->server_cpu = -1;
    s->server_user = 0;
    if (proc_times(g->o.server_pid, &ut, &st) == 0) {
        s->server_cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        s->server_user = ut;
    }
    s->self_user = proc_times((long)getpid(), &ut, &st) == 0 ? ut : 0;
    s->all_user = machine_user();
}

/* VmRSS of a process in KiB; -1 if unreadable. */
static long proc_rss_kb(long pid)
{
    char line[256];
    long kb = -1;
    FILE *f = proc_open(pid, "status");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ---- histogram ------------------------------------------------------------- */

static unsigned hist_index(uint64_t v)
{
    if (v < H_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned idx = (msb - 4u) * H_SUB + (unsigned)((v >> (msb - 5u)) & (H_SUB - 1u));
    return idx < H_BUCKETS ? idx : H_BUCKETS - 1u;
}

static uint64_t hist_value(unsigned idx)
{
    if (idx < H_SUB)
        return idx;
    unsigned msb = idx / H_SUB + 4u;
    uint64_t low = (uint64_t)(H_SUB + idx % H_SUB) << (msb - 5u);
    return low + ((1ull << (msb - 5u)) >> 1); /* the bucket's middle */
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

static double hist_pct_us(const struct hist *h, double pct)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)ceil((double)h->n * pct / 100.0), acc = 0;
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        acc += h->b[i];
        if (acc >= want) {
            uint64_t v = hist_value(i);
            return (double)(v < h->max ? v : h->max) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

/* ---- set-up ------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out, "usage: loadgen [OPTIONS]\n"
                 "  --mode echo|upgrade|idle   (echo)\n"
                 "  --host 127.0.0.1 --port P --path /\n"
                 "  --token-env NAME | --token-file PATH   token to send (none by default)\n"
                 "  --token-header NAME        header carrying it (token)\n"
                 "  --connections N            echo/idle: connections; upgrade: concurrent workers (100)\n"
                 "  --in-flight D              echo: messages in flight per connection (1)\n"
                 "  --size S                   payload bytes per message (32)\n"
                 "  --text                     send text frames (default binary)\n"
                 "  --raw-echo                 the server echoes bytes verbatim (bench/raw_echo):\n"
                 "                             accept our masked frames back, compared byte for byte\n"
                 "  --expect STATUS            upgrade: the status every upgrade must get (101)\n"
                 "  --duration T --warmup W    measured seconds and warm-up seconds (3, 1)\n"
                 "  --rate R                   echo: offer R messages/s in all, spread round-robin over the\n"
                 "                             connections (at most --in-flight each), instead of sending\n"
                 "                             as fast as echoes return; for server CPU per message at a\n"
                 "                             fixed load\n"
                 "  --tick-us T                pacing granularity with --rate (50)\n"
                 "  --broadcast                echo against a broadcasting server: connection 1 sends\n"
                 "                             (--in-flight messages at most), every other connection\n"
                 "                             must receive each message; counts deliveries/s\n"
                 "  --count M                  instead of a duration, a fixed workload, no warm-up: echo:\n"
                 "                             M messages per connection; upgrade: M upgrades in all\n"
                 "                             (for instruction counts: bench/callgrind.sh)\n"
                 "  --settle T                 idle: seconds between the last open and the RSS sample (1)\n"
                 "  --timeout T                connect + handshake limit per connection (10)\n"
                 "  --sources K                spread connections over 127.0.0.1..K (auto)\n"
                 "  --batch B                  connections being set up at once (128)\n"
                 "  --server-pid PID           also sample the server's CPU (and RSS in idle mode)\n"
                 "  --ready-file PATH          idle: created once all connections are open\n"
                 "  --label NAME               copied into the JSON output\n"
                 "  loadgen --free-port        print a free loopback TCP port and exit\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == 0 || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == 0 || *end || errno || v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Reads the token from a file (first line, trailing whitespace removed). */
static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = malloc(MAX_TOKEN + 1);
    size_t n = buf ? fread(buf, 1, MAX_TOKEN, f) : 0;
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    return buf;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = MODE_ECHO;
    o->target.sin_family = AF_INET;
    o->target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    o->path = "/";
    o->token_header = "token";
    o->conns = 100;
    o->inflight = 1;
    o->size = 32;
    o->expect = 101;
    o->batch = 128;
    o->duration = 3;
    o->warmup = 1;
    o->settle = 1;
    o->timeout = 10;
    o->tick_us = 50;
    o->label = "";
    int have_port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t u;
        int bad = 0, flag = 1;
        if (strcmp(a, "--text") == 0) {
            o->text = 1;
        } else if (strcmp(a, "--raw-echo") == 0) {
            o->raw = 1;
        } else if (strcmp(a, "--broadcast") == 0) {
            o->broadcast = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            flag = 0;
        }
        if (flag)
            continue;
        if (!v) {
            fprintf(stderr, "loadgen: %s needs a value (or is unknown)\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "echo") == 0)
                o->mode = MODE_ECHO;
            else if (strcmp(v, "upgrade") == 0)
                o->mode = MODE_UPGRADE;
            else if (strcmp(v, "idle") == 0)
                o->mode = MODE_IDLE;
            else
                bad = 1;
        } else if (strcmp(a, "--host") == 0) {
            /* Loopback only: these runs must never load another machine. */
            bad = inet_pton(AF_INET, v, &o->target.sin_addr) != 1 ||
                  (ntohl(o->target.sin_addr.s_addr) >> 24) != 127;
        } else if (strcmp(a, "--port") == 0) {
            bad = parse_u32(v, 1, 65535, &u) < 0;
            o->target.sin_port = htons((uint16_t)u);
            have_port = 1;
        } else if (strcmp(a, "--path") == 0) {
            bad = v[0] != '/' || strlen(v) > 1024 || strpbrk(v, " \r\n") != NULL;
            o->path = v;
        } else if (strcmp(a, "--token-env") == 0) {
            o->token = getenv(v);
            bad = o->token == NULL;
        } else if (strcmp(a, "--token-file") == 0) {
            o->token = read_token_file(v);
            bad = o->token == NULL;
        } else if (strcmp(a, "--token-header") == 0) {
            bad = strlen(v) > 64 || strpbrk(v, " :\r\n") != NULL;
            o->token_header = v;
        } else if (strcmp(a, "--connections") == 0 || strcmp(a, "--concurrency") == 0) {
            bad = parse_u32(v, 1, MAX_CONNS, &o->conns) < 0;
        } else if (strcmp(a, "--in-flight") == 0) {
            bad = parse_u32(v, 1, MAX_INFLIGHT, &o->inflight) < 0;
        } else if (strcmp(a, "--size") == 0) {
            bad = parse_u32(v, 0, MAX_SIZE, &u) < 0;
            o->size = u;
        } else if (strcmp(a, "--expect") == 0) {
            bad = parse_u32(v, 100, 599, &u) < 0;
            o->expect = (int)u;
        } else if (strcmp(a, "--duration") == 0) {
            bad = parse_double(v, 0.1, MAX_SECONDS, &o->duration) < 0;
        } else if (strcmp(a, "--warmup") == 0) {
            bad = parse_double(v, 0, MAX_SECONDS, &o->warmup) < 0;
        } else if (strcmp(a, "--rate") == 0) {
            bad = parse_double(v, 1, 1e8, &o->rate) < 0;
        } else if (strcmp(a, "--tick-us") == 0) {
            bad = parse_u32(v, 1, 100000, &o->tick_us) < 0;
        } else if (strcmp(a, "--count") == 0) {
            bad = parse_u32(v, 0, 100000000u, &o->count) < 0;
            o->counted = 1;
        } else if (strcmp(a, "--settle") == 0) {
            bad = parse_double(v, 0, MAX_SECONDS, &o->settle) < 0;
        } else if (strcmp(a, "--timeout") == 0) {
            bad = parse_double(v, 0.1, MAX_SECONDS, &o->timeout) < 0;
        } else if (strcmp(a, "--sources") == 0) {
            bad = parse_u32(v, 1, MAX_SOURCES, &o->sources) < 0;
        } else if (strcmp(a, "--batch") == 0) {
            bad = parse_u32(v, 1, 10000, &o->batch) < 0;
        } else if (strcmp(a, "--server-pid") == 0) {
            bad = parse_u32(v, 1, 1u << 30, &u) < 0;
            o->server_pid = (long)u;
        } else if (strcmp(a, "--ready-file") == 0) {
            o->ready_file = v;
        } else if (strcmp(a, "--label") == 0) {
            bad = strpbrk(v, "\"\\") != NULL || strlen(v) > 64;
            o->label = v;
        } else {
            fprintf(stderr, "loadgen: unknown option %s\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "loadgen: bad value for %s: %s\n", a, v);
            return -1;
        }
    }
    if (!have_port) {
        fprintf(stderr, "loadgen: --port is required\n");
        return -1;
    }
    if (o->token && (strlen(o->token) > MAX_TOKEN || strpbrk(o->token, "\r\n") != NULL)) {
        fprintf(stderr, "loadgen: the token is too long or holds a line break\n");
        return -1;
    }
    if (o->broadcast && (o->mode != MODE_ECHO || o->raw || o->rate > 0 || o->counted || o->conns < 2)) {
        fprintf(stderr,
                "loadgen: --broadcast needs echo mode, 2 connections or more, no --raw-echo, --rate or "
                "--count\n");
        return -1;
    }
    if (o->rate > 0 && (o->mode != MODE_ECHO || o->counted)) {
        fprintf(stderr, "loadgen: --rate applies to timed echo runs only\n");
        return -1;
    }
    if (o->mode != MODE_UPGRADE && o->expect != 101) {
        fprintf(stderr, "loadgen: --expect applies to --mode upgrade only\n");
        return -1;
    }
    if (o->sources == 0)
        o->sources = o->conns > 1000 ? 16 : 1;
    inet_ntop(AF_INET, &o->target.sin_addr, o->host, sizeof(o->host));
    return 0;
}

static int build_request(struct lg *g)
{
    const struct opts *o = &g->o;
    size_t cap = 512 + strlen(o->path) + (o->token ? strlen(o->token) + strlen(o->token_header) : 0);
    g->req = malloc(cap);
    if (!g->req)
        return -1;
    int n = snprintf(g->req, cap,
                     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n%s%s%s%s\r\n",
                     o->path, o->host, ntohs(o->target.sin_port), o->token ? o->token_header : "",
                     o->token ? ": " : "", o->token ? o->token : "", o->token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return -1;
    g->reqlen = (size_t)n;
    return 0;
}

/* Message k carries pattern[k % V .. k % V + S): printable ASCII (valid UTF-8
 * for --text), different for consecutive messages so that a reordered or
 * repeated echo is caught. Its frame is precomputed, masked with key k % V. */
static int build_frames(struct lg *g)
{
    size_t s = g->o.size;
    g->fsize = wsjwt__ws_frame_size(s, 1);
    size_t v = FRAMES_BUDGET / g->fsize;
    g->variants = (uint32_t)(v < 1 ? 1 : v > 256 ? 256 : v);
    g->pattern = malloc(s + g->variants);
    g->frames = malloc(g->fsize * g->variants);
    if (!g->pattern || !g->frames)
        return -1;
    uint32_t x = 2463534242u; /* xorshift32: deterministic, not secret */
    for (size_t i = 0; i < s + g->variants; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        g->pattern[i] = (uint8_t)(' ' + x % 95u);
    }
    for (uint32_t k = 0; k < g->variants; k++) {
        uint8_t *f = g->frames + (size_t)k * g->fsize;
        uint8_t key[4];
        for (int j = 0; j < 4; j++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            key[j] = (uint8_t)x;
        }
        /* The frames come from our own encoder (src/ws); what the servers
         * send back is checked by this file's own decoder. */
        size_t written = 0;
        unsigned first = WSJWT__WS_FIN | (g->o.text ? WSJWT__WS_TEXT : WSJWT__WS_BINARY);
        if (wsjwt__ws_write_frame(f, g->fsize, first, g->pattern + k, s, key, &written) != 0 ||
            written != g->fsize)
            return -1;
    }
    return 0;
}

/* ---- connections ------------------------------------------------------------- */

static void fail(struct lg *g, enum err e)
{
    g->errors[e]++;
}

static void conn_close(struct lg *g, struct conn *c, int dead)
{
    if (c->fd >= 0) {
        close(c->fd); /* also removes it from the epoll set */
        c->fd = -1;
    }
    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE)
        g->pending--;
    else if (c->state == C_OPEN)
        g->open--;
    free(c->head);
    c->head = NULL;
    c->gen++;
    c->state = dead ? C_DEAD : C_FREE;
}

static int conn_start(struct lg *g, struct conn *c, uint32_t idx)
{
    /* An upgrade worker that cannot even get a socket is retried by the
     * sweep (C_FREE); an echo or idle connection is lost (C_DEAD). */
    uint8_t lost = g->o.mode == MODE_UPGRADE ? C_FREE : C_DEAD;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(g, E_CONNECT);
        c->state = lost;
        return -1;
    }
    int one = 1;
    if (g->o.mode == MODE_UPGRADE) {
        /* Close with a reset: no TIME_WAIT left behind per upgrade, so that
         * tens of thousands of upgrades do not exhaust the ephemeral ports
         * (nor need more than one source address). No TCP_NODELAY: the
         * request is a single write. Every system call saved here matters:
         * on loopback the load generator's core also runs most of the kernel's
         * TCP handshake, so upgrades/s are bounded by this process first. */
        struct linger lin = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    } else {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (g->o.sources > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + idx % g->o.sources);
        /* The port is chosen at connect() time, per destination. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            close(fd);
            fail(g, E_CONNECT);
            c->state = lost;
            return -1;
        }
    }
    c->fd = fd;
    c->state = C_CONNECTING;
    g->attempts++;
    c->t_start = g->now;
    c->reqoff = 0;
    c->headlen = 0;
    c->hlen = 0;
    c->plen = 0;
    c->moff = 0;
    c->in_msg = 0;
    g->pending++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)idx | ((uint64_t)c->gen << 32)};
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) < 0 ||
        (connect(fd, (struct sockaddr *)&g->o.target, sizeof(g->o.target)) < 0 && errno != EINPROGRESS)) {
        fail(g, E_CONNECT);
        conn_close(g, c, g->o.mode != MODE_UPGRADE);
        return -1;
    }
    return 0;
}

/* Queues messages up to the in-flight window (and the budget), stamping
 * their send time. */
static void queue_more(struct lg *g, struct conn *c)
{
    while (c->qseq - c->rseq < g->o.inflight && c->qseq < c->budget) {
        c->ts[c->qseq % g->o.inflight] = g->now;
        c->qseq++;
    }
}

/* Writes queued frames: consecutive messages use consecutive precomputed
 * frames, so a batch is one or two contiguous runs of the frame table. */
static int flush(struct lg *g, struct conn *c)
{
    while (c->wseq < c->qseq) {
        struct iovec iov[MAX_IOV];
        int n = 0;
        uint64_t seq = c->wseq;
        size_t off = c->woff, total = 0;
        while (seq < c->qseq && n < MAX_IOV) {
            uint32_t v = (uint32_t)(seq % g->variants);
            uint64_t run = c->qseq - seq;
            if (run > g->variants - v)
                run = g->variants - v;
            iov[n].iov_base = g->frames + (size_t)v * g->fsize + off;
            iov[n].iov_len = (size_t)run * g->fsize - off;
            total += iov[n].iov_len;
            n++;
            seq += run;
            off = 0;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0; /* EPOLLOUT will come (edge-triggered) */
            return -1;
        }
        size_t done = c->woff + (size_t)w;
        c->wseq += done / g->fsize;
        c->woff = done % g->fsize;
        if ((size_t)w < total)
            return 0;
    }
    return 0;
}

/* The connection whose frames c's replies must match: itself, or with
 * --broadcast the sender. */
static struct conn *source_of(struct lg *g, struct conn *c)
{
    return g->o.broadcast ? &g->c[0] : c;
}

/* 1 when message number seq cannot have been written yet by src. */
static int not_sent_yet(const struct conn *src, uint64_t seq)
{
    return seq >= src->wseq + (src->woff ? 1 : 0);
}

static void message_done(struct lg *g, struct conn *c)
{
    uint64_t k = c->rseq++;
    g->done++;
    if (g->o.broadcast) {
        /* A broadcast is complete when every receiver has it: then the
         * sender's window moves and its latency is the slowest delivery. */
        struct conn *snd = &g->c[0];
        if (++g->bcount[k % g->o.inflight] < g->nconn - 1)
            return;
        g->bcount[k % g->o.inflight] = 0;
        c = snd;
        k = snd->rseq++;
        g->bdone++;
        g->sender_ready = 1;
    }
    if (g->phase == PH_MEASURE || g->phase == PH_COUNT)
        hist_add(&g->h, g->now - c->ts[k % g->o.inflight]);
}

/* Raw mode: the reply stream must be exactly the stream of frames sent. */
static int feed_raw(struct lg *g, struct conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (not_sent_yet(c, c->rseq))
            return E_PROTOCOL; /* bytes we have not sent yet */
        const uint8_t *want = g->frames + (size_t)(c->rseq % g->variants) * g->fsize + c->moff;
        size_t take = g->fsize - c->moff;
        if (take > n)
            take = n;
        if (memcmp(p, want, take) != 0)
            return E_MISMATCH;
        c->moff += take;
        p += take;
        n -= take;
        if (c->moff == g->fsize) {
            c->moff = 0;
            message_done(g, c);
        }
    }
    return -1;
}

/* Size of a server frame header once its first two bytes are known. */
static unsigned header_need(const uint8_t *h)
{
    unsigned l7 = h[1] & 0x7fu;
    return 2u + (l7 == 126 ? 2u : l7 == 127 ? 8u : 0u) + ((h[1] & 0x80u) ? 4u : 0u);
}

/* Checks a complete server frame header (RFC 6455 5.2); returns an error
 * class, or -1 when the frame is acceptable. */
static int on_header(struct lg *g, struct conn *c)
{
    const uint8_t *h = c->hdr;
    unsigned op = h[0] & 0x0fu, l7 = h[1] & 0x7fu;
    uint64_t len = l7;
    if (h[0] & 0x70u)
        return E_PROTOCOL; /* RSV bits: no extension was negotiated */
    if (h[1] & 0x80u)
        return E_PROTOCOL; /* 5.1: a server must not mask */
    if (l7 == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        if (len < 126)
            return E_PROTOCOL; /* 5.2: the minimal length encoding is a MUST */
    } else if (l7 == 127) {
        len = 0;
        for (int i = 2; i < 10; i++)
            len = len << 8 | h[i];
        if (len < 65536 || (len >> 63))
            return E_PROTOCOL;
    }
    c->opcode = (uint8_t)op;
    c->fin = (uint8_t)(h[0] >> 7);
    c->plen = len;
    if (op >= 8) {
        if (!c->fin || len > 125 || (op != 8 && op != 9 && op != 10))
            return E_PROTOCOL;
        if (op == 8)
            return E_CLOSED; /* the server closed an established connection */
        if (op == 9)
            g->pings++;
        return -1;
    }
    if (op == 0) {
        if (!c->in_msg)
            return E_PROTOCOL;
    } else if (op == (g->o.text ? 1u : 2u)) {
        if (c->in_msg)
            return E_PROTOCOL;
        if (g->o.broadcast && c == &g->c[0])
            return E_PROTOCOL; /* a broadcast goes to every *other* connection */
        if (not_sent_yet(source_of(g, c), c->rseq))
            return E_PROTOCOL; /* an echo of nothing we sent */
        c->in_msg = 1;
        c->moff = 0;
    } else {
        return E_PROTOCOL; /* reserved opcode, or the other data type */
    }
    if (len > g->o.size - c->moff)
        return E_MISMATCH; /* longer than what was sent */
    return -1;
}

static int frame_end(struct lg *g, struct conn *c)
{
    if (c->opcode >= 8 || !c->fin)
        return -1;
    if (c->moff != g->o.size)
        return E_MISMATCH; /* shorter than what was sent */
    c->in_msg = 0;
    message_done(g, c);
    return -1;
}

/* Server mode: decodes frames and compares each payload, chunk by chunk as
 * it arrives, with the pattern of the message it echoes. */
static int feed_frames(struct lg *g, struct conn *c, const uint8_t *p, size_t n)
{
    if (g->o.raw)
        return feed_raw(g, c, p, n);
    int rc;
    while (n > 0) {
        if (c->plen == 0) {
            /* Header bytes: gather them (2 first, then the rest). */
            unsigned need = c->hlen < 2 ? 2u : header_need(c->hdr);
            size_t take = need - c->hlen;
            if (take > n)
                take = n;
            memcpy(c->hdr + c->hlen, p, take);
            c->hlen = (uint8_t)(c->hlen + take);
            p += take;
            n -= take;
            if (c->hlen < 2 || c->hlen < header_need(c->hdr))
                continue;
            if ((rc = on_header(g, c)) >= 0)
                return rc;
            if (c->plen == 0) {
                c->hlen = 0;
                if ((rc = frame_end(g, c)) >= 0)
                    return rc;
            }
            continue;
        }
        size_t take = c->plen < n ? (size_t)c->plen : n;
        if (c->opcode < 8) {
            const uint8_t *want = g->pattern + (c->rseq % g->variants) + c->moff;
            if (memcmp(p, want, take) != 0)
                return E_MISMATCH;
            c->moff += take;
        }
        c->plen -= take;
        p += take;
        n -= take;
        if (c->plen == 0) {
            c->hlen = 0;
            if ((rc = frame_end(g, c)) >= 0)
                return rc;
        }
    }
    return -1;
}

/* 1 if the comma-separated list v (vlen bytes) holds token (case-insensitive). */
static int has_token(const char *v, size_t vlen, const char *token)
{
    size_t tlen = strlen(token), i = 0;
    while (i < vlen) {
        while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < vlen && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0)
            return 1;
    }
    return 0;
}

/* Parses a complete response head: status line, then the headers an accepted
 * upgrade must carry (RFC 6455 4.1: Upgrade, Connection, the accept value; no
 * extension or subprotocol, since none was offered). Returns -1 when
 * acceptable, else an error class. */
static int check_head(struct lg *g, const char *head, size_t len)
{
    if (len < 13 || memcmp(head, "HTTP/1.1 ", 9) != 0)
        return E_HANDSHAKE;
    int status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
    if (status != g->o.expect)
        return E_STATUS;
    if (status != 101)
        return -1;
    int upgrade = 0, accept = 0, connection = 0, unasked = 0;
    const char *p = memchr(head, '\n', len);
    const char *end = head + len;
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon) {
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(eol - v);
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            size_t nlen = (size_t)(colon - line);
            if (nlen == 7 && strncasecmp(line, "upgrade", 7) == 0)
                upgrade = vlen == 9 && strncasecmp(v, "websocket", 9) == 0;
            else if (nlen == 20 && strncasecmp(line, "sec-websocket-accept", 20) == 0)
                accept = vlen == sizeof(WS_ACCEPT) - 1 && memcmp(v, WS_ACCEPT, vlen) == 0;
            else if (nlen == 10 && strncasecmp(line, "connection", 10) == 0)
                connection = has_token(v, vlen, "upgrade");
            else if ((nlen == 24 && strncasecmp(line, "sec-websocket-extensions", 24) == 0) ||
                     (nlen == 22 && strncasecmp(line, "sec-websocket-protocol", 22) == 0))
                unasked = 1;
        }
        p = eol;
    }
    return upgrade && accept && connection && !unasked ? -1 : E_HANDSHAKE;
}

static void on_established(struct lg *g, struct conn *c)
{
    g->pending--;
    g->open++;
    c->state = C_OPEN;
    free(c->head);
    c->head = NULL;
}

/* Handshake: read into the connection's head buffer until the blank line.
 * Returns RC_AGAIN, RC_DONE when the head was complete and as expected
 * (leftover bytes fed to the frame decoder), or an error class. */
static int read_head(struct lg *g, struct conn *c)
{
    if (!c->head && !(c->head = malloc(HEAD_CAP)))
        return E_HANDSHAKE;
    for (;;) {
        ssize_t r = read(c->fd, c->head + c->headlen, HEAD_CAP - c->headlen);
        if (r == 0)
            return E_HANDSHAKE; /* closed before a complete head */
        if (r < 0)
            return errno == EAGAIN ? -1 : errno == EINTR ? -1 : E_HANDSHAKE;
        size_t from = c->headlen >= 3 ? c->headlen - 3 : 0;
        c->headlen += (uint32_t)r;
        char *h = c->head;
        for (size_t i = from; i + 4 <= c->headlen; i++) {
            if (memcmp(h + i, "\r\n\r\n", 4) != 0)
                continue;
            size_t hl = i + 4;
            int rc = check_head(g, h, hl);
            if (rc >= 0)
                return rc;
            g->now = now_ns();
            if (g->o.mode == MODE_UPGRADE) {
                if (g->phase == PH_MEASURE || g->phase == PH_COUNT)
                    hist_add(&g->h, g->now - c->t_start);
                g->done++;
                return RC_DONE;
            }
            size_t extra = c->headlen - hl;
            uint8_t tmp[HEAD_CAP];
            memcpy(tmp, h + hl, extra);
            on_established(g, c);
            if (extra && (rc = feed_frames(g, c, tmp, extra)) >= 0)
                return rc;
            return RC_DONE;
        }
        if (c->headlen >= HEAD_CAP)
            return E_HANDSHAKE;
    }
}

/* Reads everything available (edge-triggered: until a short read) and
 * feeds it to the decoder. */
static int read_frames(struct lg *g, struct conn *c)
{
    for (;;) {
        ssize_t r = read(c->fd, g->rbuf, RBUF_SIZE);
        if (r == 0)
            return E_CLOSED;
        if (r < 0) {
            if (errno == EAGAIN)
                return -1;
            if (errno == EINTR)
                continue;
            return E_CLOSED;
        }
        int rc = feed_frames(g, c, g->rbuf, (size_t)r);
        if (rc >= 0)
            return rc;
        if ((size_t)r < RBUF_SIZE)
            return -1;
    }
}

static int write_request(struct lg *g, struct conn *c)
{
    while (c->reqoff < g->reqlen) {
        ssize_t w = write(c->fd, g->req + c->reqoff, g->reqlen - c->reqoff);
        if (w < 0)
            return (errno == EAGAIN || errno == EINTR) ? -1 : E_HANDSHAKE;
        c->reqoff += (uint32_t)w;
    }
    return -1;
}

/* An upgrade worker is done with its connection: close it and start the next
 * one, unless the run is over. */
static int may_start_upgrade(const struct lg *g)
{
    if (g->phase == PH_COUNT)
        return g->attempts < g->o.count;
    return g->phase == PH_WARMUP || g->phase == PH_MEASURE;
}

static void upgrade_next(struct lg *g, struct conn *c, uint32_t idx)
{
    conn_close(g, c, 0);
    if (may_start_upgrade(g))
        conn_start(g, c, idx);
}

static void on_event(struct lg *g, uint32_t idx, uint32_t events)
{
    struct conn *c = &g->c[idx];
    int rc = -1;
    if (c->state == C_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        /* A failed non-blocking connect reports EPOLLERR: no SO_ERROR query. */
        if (events & (EPOLLERR | EPOLLHUP)) {
            fail(g, E_CONNECT);
            if (g->o.mode == MODE_UPGRADE)
                upgrade_next(g, c, idx);
            else
                conn_close(g, c, 1);
            return;
        }
        c->state = C_HANDSHAKE;
        rc = write_request(g, c);
        if (rc < 0 && (events & EPOLLIN))
            rc = read_head(g, c);
    } else if (c->state == C_HANDSHAKE) {
        if (events & EPOLLOUT)
            rc = write_request(g, c);
        if (rc < 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            rc = read_head(g, c);
    } else if (c->state == C_OPEN) {
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            rc = read_frames(g, c);
            if (rc < 0 && g->o.rate == 0)
                queue_more(g, c); /* the budget decides whether to send */
        }
        if (rc < 0 && c->wseq < c->qseq && flush(g, c) < 0)
            rc = E_CLOSED;
        if (rc >= 0) {
            fail(g, (enum err)rc);
            conn_close(g, c, 1);
        }
        return;
    } else {
        return;
    }
    /* Handshake outcome. */
    if (rc == RC_AGAIN)
        return;
    if (g->o.mode == MODE_UPGRADE) {
        if (rc >= 0)
            fail(g, (enum err)rc);
        upgrade_next(g, c, idx);
        return;
    }
    if (rc >= 0) {
        fail(g, (enum err)rc);
        conn_close(g, c, 1);
        return;
    }
    if (g->o.rate == 0) {
        queue_more(g, c);
        if (flush(g, c) < 0) {
            fail(g, E_CLOSED);
            conn_close(g, c, 1);
        }
    }
}

/* --rate: issues the messages due by now, one at a time round-robin over the
 * connections whose window has room, then writes each touched connection
 * once. Credit beyond what all windows can hold is dropped and counted: the
 * server is behind the offered rate. */
static void pace(struct lg *g)
{
    uint64_t due = (uint64_t)((double)(g->now - g->t_rate0) * g->o.rate / 1e9);
    uint64_t credit = due > g->issued ? due - g->issued : 0;
    uint64_t cap = (uint64_t)g->open * g->o.inflight;
    if (credit > cap) {
        g->behind += credit - cap;
        g->issued += credit - cap;
        credit = cap;
    }
    uint32_t idle = 0;
    while (credit > 0 && idle < g->nconn) {
        struct conn *c = &g->c[g->rr];
        g->rr = g->rr + 1 == g->nconn ? 0 : g->rr + 1;
        if (c->state != C_OPEN || c->qseq - c->rseq >= g->o.inflight || c->qseq >= c->budget) {
            idle++;
            continue;
        }
        idle = 0;
        if (c->qseq == c->wseq)
            g->dirty[g->ndirty++] = (uint32_t)(c - g->c);
        c->ts[c->qseq % g->o.inflight] = g->now;
        c->qseq++;
        g->issued++;
        credit--;
    }
    if (credit > 0) { /* every window is full */
        g->behind += credit;
        g->issued += credit;
    }
    for (uint32_t i = 0; i < g->ndirty; i++) {
        struct conn *c = &g->c[g->dirty[i]];
        if (c->state == C_OPEN && flush(g, c) < 0) {
            fail(g, E_CLOSED);
            conn_close(g, c, 1);
        }
    }
    g->ndirty = 0;
}

/* Echo and idle set-up: keeps up to --batch connections being set up. */
static void start_more(struct lg *g)
{
    while (g->started < g->nconn && g->pending < g->o.batch) {
        uint32_t idx = g->started++;
        conn_start(g, &g->c[idx], idx);
    }
}

/* Connections stuck in connect or handshake past --timeout fail; upgrade
 * workers whose socket could not even be created start again. */
static void sweep_timeouts(struct lg *g)
{
    uint64_t limit = (uint64_t)(g->o.timeout * 1e9);
    for (uint32_t i = 0; i < g->nconn; i++) {
        struct conn *c = &g->c[i];
        if (c->state == C_FREE && g->o.mode == MODE_UPGRADE && may_start_upgrade(g))
            conn_start(g, c, i);
        if ((c->state == C_CONNECTING || c->state == C_HANDSHAKE) && g->now - c->t_start > limit) {
            fail(g, E_TIMEOUT);
            if (g->o.mode == MODE_UPGRADE)
                upgrade_next(g, c, i);
            else
                conn_close(g, c, 1);
        }
    }
}

static void start_traffic(struct lg *g, uint64_t budget)
{
    for (uint32_t i = 0; i < g->nconn; i++) {
        struct conn *c = &g->c[i];
        if (c->state != C_OPEN)
            continue;
        c->budget = budget == UINT64_MAX ? UINT64_MAX : c->qseq + budget;
        if (g->o.broadcast && i > 0)
            c->budget = 0; /* receivers never send */
        if (g->o.rate > 0 && budget == UINT64_MAX)
            continue; /* pace() sends */
        queue_more(g, c);
        if (flush(g, c) < 0) {
            fail(g, E_CLOSED);
            conn_close(g, c, 1);
        }
    }
}

static void window_start(struct lg *g)
{
    g->phase = PH_MEASURE;
    g->t_phase = g->t_window0 = g->now;
    g->done0 = g->done;
    g->behind0 = g->behind;
    g->bdone0 = g->bdone;
    memset(&g->h, 0, sizeof(g->h));
    take_sample(g, &g->s0);
    for (uint32_t i = 0; i < g->nconn; i++)
        g->c[i].rseq0 = g->c[i].rseq;
}

static void window_end(struct lg *g)
{
    g->t_window1 = g->now;
    g->done1 = g->done;
    g->bdone1 = g->bdone;
    take_sample(g, &g->s1);
}

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* Phase changes, checked after every batch of events. */
static void advance(struct lg *g)
{
    double in_phase = secs(g->now - g->t_phase);
    switch (g->phase) {
    case PH_SETUP:
        if (g->o.mode != MODE_UPGRADE && (g->started < g->nconn || g->pending > 0))
            return;
        g->t_phase = g->now;
        if (g->o.mode == MODE_IDLE) {
            g->phase = PH_SETTLE;
        } else if (g->o.counted) {
            /* A fixed workload: the window is the whole of it. */
            window_start(g);
            g->phase = PH_COUNT;
            g->attempts = 0;
            if (g->o.mode == MODE_UPGRADE)
                for (uint32_t i = 0; i < g->nconn && may_start_upgrade(g); i++)
                    conn_start(g, &g->c[i], i);
            else
                start_traffic(g, g->o.count);
        } else {
            g->phase = PH_WARMUP;
            if (g->o.mode == MODE_UPGRADE)
                for (uint32_t i = 0; i < g->nconn; i++)
                    conn_start(g, &g->c[i], i);
            else
                start_traffic(g, UINT64_MAX);
            g->t_rate0 = g->now;
            g->issued = 0;
        }
        return;
    case PH_WARMUP:
        if (in_phase >= g->o.warmup)
            window_start(g);
        return;
    case PH_MEASURE:
        if (in_phase >= g->o.duration) {
            window_end(g);
            g->phase = PH_DONE;
        }
        return;
    case PH_SETTLE:
        if (in_phase < g->o.settle)
            return;
        g->rss1 = proc_rss_kb(g->o.server_pid);
        if (g->o.ready_file) {
            FILE *f = fopen(g->o.ready_file, "w");
            if (f) {
                fprintf(f, "%u\n", g->open);
                fclose(f);
            }
        }
        fprintf(stderr, "loadgen: %u connections open, holding %.1f s\n", g->open, g->o.duration);
        g->phase = PH_HOLD;
        g->t_phase = g->t_window0 = g->now;
        take_sample(g, &g->s0);
        return;
    case PH_HOLD:
        if (in_phase < g->o.duration)
            return;
        window_end(g);
        g->check_open = g->open;
        g->done0 = g->done;
        g->phase = PH_CHECK;
        g->t_phase = g->now;
        start_traffic(g, 1);
        return;
    case PH_COUNT:
    case PH_CHECK: {
        uint32_t waiting = 0;
        if (g->o.mode == MODE_UPGRADE)
            waiting = g->pending + (g->attempts < g->o.count);
        else
            for (uint32_t i = 0; i < g->nconn; i++)
                waiting += g->c[i].state == C_OPEN && g->c[i].rseq < g->c[i].budget;
        if (waiting > 0 && in_phase >= g->o.timeout)
            g->errors[E_TIMEOUT] += waiting;
        else if (waiting > 0)
            return;
        if (g->phase == PH_COUNT)
            window_end(g);
        g->phase = PH_DONE;
        return;
    }
    case PH_DONE:
        return;
    }
}

static int next_timeout_ms(const struct lg *g)
{
    double left;
    switch (g->phase) {
    case PH_WARMUP:
        left = g->o.warmup;
        break;
    case PH_MEASURE:
    case PH_HOLD:
        left = g->o.duration;
        break;
    case PH_SETTLE:
        left = g->o.settle;
        break;
    default:
        return 100;
    }
    left -= secs(g->now - g->t_phase);
    int ms = (int)(left * 1000.0) + 1;
    return ms < 1 ? 1 : ms > 100 ? 100 : ms;
}

static void report(struct lg *g)
{
    const struct opts *o = &g->o;
    static const char *const modes[] = {"echo", "upgrade", "idle"};
    double win = secs(g->t_window1 - g->t_window0);
    double rate = win > 0 ? (double)(g->done1 - g->done0) / win : 0;
    double cpu = g->s1.self_cpu - g->s0.self_cpu;
    double scpu = (g->s0.server_cpu >= 0 && g->s1.server_cpu >= 0) ? g->s1.server_cpu - g->s0.server_cpu : -1;
    /* User time of everything else on the machine during the window, in
     * cores: other people's builds and tests on a shared machine. It is
     * the noise indicator of a figure (system time is left out: the kernel's
     * loopback work for our own sockets lands partly outside our processes). */
    long long other_ticks = (long long)(g->s1.all_user - g->s0.all_user) -
                            (long long)(g->s1.self_user - g->s0.self_user) -
                            (long long)(g->s1.server_user - g->s0.server_user);
    double others =
        win > 0 ? (double)(other_ticks < 0 ? 0 : other_ticks) / (double)sysconf(_SC_CLK_TCK) / win : 0;
    uint64_t errs = 0;
    for (int e = 0; e < E_COUNT; e++)
        errs += g->errors[e];
    uint64_t pmin = UINT64_MAX, pmax = 0;
    if (o->mode == MODE_ECHO)
        for (uint32_t i = 0; i < g->nconn; i++) {
            uint64_t d = g->c[i].rseq - g->c[i].rseq0;
            pmin = d < pmin ? d : pmin;
            pmax = d > pmax ? d : pmax;
        }
    if (pmin == UINT64_MAX)
        pmin = 0;
    double per_conn = -1;
    if (o->mode == MODE_IDLE && g->rss0 >= 0 && g->rss1 >= 0 && g->check_open > 0)
        per_conn = (double)(g->rss1 - g->rss0) * 1024.0 / (double)g->check_open;

    fprintf(stderr, "loadgen %s %s: %u connections", o->label, modes[o->mode], g->nconn);
    if (o->mode == MODE_ECHO)
        fprintf(stderr, " x %u in flight x %zu B", o->inflight, o->size);
    fprintf(stderr, ", window %.2f s\n", win);
    if (o->mode == MODE_ECHO)
        fprintf(stderr, "  %.0f messages/s (%.1f MB/s each way), per connection %" PRIu64 "..%" PRIu64 "\n",
                rate, rate * (double)o->size / 1e6, pmin, pmax);
    if (o->broadcast)
        fprintf(stderr,
                "  broadcast: %.0f messages/s from 1 sender, each to %u receivers: %.0f deliveries/s\n",
                win > 0 ? (double)(g->bdone1 - g->bdone0) / win : 0, g->nconn - 1, rate);
    if (o->mode == MODE_ECHO && o->rate > 0)
        fprintf(stderr, "  offered %.0f messages/s; %" PRIu64 " not sent because every window was full%s\n",
                o->rate, g->behind - g->behind0, g->behind > g->behind0 ? " (the server fell behind)" : "");
    if (o->mode == MODE_UPGRADE)
        fprintf(stderr, "  %.0f upgrades/s answered %d\n", rate, o->expect);
    else if (o->mode == MODE_IDLE)
        fprintf(stderr,
                "  %u open; server RSS %ld -> %ld KiB: %.0f bytes per connection; check %" PRIu64
                "/%u echoed\n",
                g->check_open, g->rss0, g->rss1, per_conn, g->done - g->done0, g->check_open);
    if (o->mode != MODE_IDLE)
        fprintf(stderr, "  latency us: p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n",
                hist_pct_us(&g->h, 50), hist_pct_us(&g->h, 90), hist_pct_us(&g->h, 99),
                hist_pct_us(&g->h, 99.9), (double)g->h.max / 1000.0);
    fprintf(
        stderr, "  cpu: loadgen %.2f s (%.0f%%), server %.2f s (%.0f%%), other processes' user time %.0f%%\n",
        cpu, win > 0 ? 100 * cpu / win : 0, scpu, win > 0 && scpu >= 0 ? 100 * scpu / win : -1, 100 * others);
    fprintf(stderr, "  errors: %" PRIu64, errs);
    for (int e = 0; e < E_COUNT; e++)
        if (g->errors[e])
            fprintf(stderr, " %s=%" PRIu64, err_names[e], g->errors[e]);
    fprintf(stderr, "%s\n", g->pings ? " (server pings skipped)" : "");

    printf("{\"label\":\"%s\",\"mode\":\"%s\",\"connections\":%u,\"in_flight\":%u,\"size\":%zu,"
           "\"window_s\":%.3f,",
           o->label, modes[o->mode], g->nconn, o->inflight, o->size, win);
    if (o->mode == MODE_ECHO)
        printf("\"offered_per_s\":%.0f,\"behind\":%" PRIu64 ",", o->rate, g->behind - g->behind0);
    if (o->broadcast) /* messages_per_s below counts deliveries */
        printf("\"broadcasts_per_s\":%.0f,\"receivers\":%u,",
               win > 0 ? (double)(g->bdone1 - g->bdone0) / win : 0, g->nconn - 1);
    if (o->mode == MODE_ECHO)
        printf("\"messages\":%" PRIu64 ",\"messages_per_s\":%.0f,\"per_conn_min\":%" PRIu64
               ",\"per_conn_max\":%" PRIu64 ",",
               g->done1 - g->done0, rate, pmin, pmax);
    else if (o->mode == MODE_UPGRADE)
        printf("\"expect\":%d,\"upgrades\":%" PRIu64 ",\"upgrades_per_s\":%.0f,", o->expect,
               g->done1 - g->done0, rate);
    else
        printf("\"open\":%u,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"bytes_per_conn\":%.0f,"
               "\"checked\":%" PRIu64 ",",
               g->check_open, g->rss0, g->rss1, per_conn, g->done - g->done0);
    if (o->mode != MODE_IDLE)
        printf("\"latency_p50_us\":%.1f,\"latency_p90_us\":%.1f,\"latency_p99_us\":%.1f,"
               "\"latency_p999_us\":%.1f,\"latency_max_us\":%.1f,",
               hist_pct_us(&g->h, 50), hist_pct_us(&g->h, 90), hist_pct_us(&g->h, 99),
               hist_pct_us(&g->h, 99.9), (double)g->h.max / 1000.0);
    printf("\"loadgen_cpu_s\":%.3f,\"loadgen_cpu_util\":%.3f,\"server_cpu_s\":%.3f,\"server_cpu_util\":%.3f,"
           "\"others_user_util\":%.3f,",
           cpu, win > 0 ? cpu / win : 0, scpu, win > 0 && scpu >= 0 ? scpu / win : -1, others);
    /* CPU per operation: where the load generator is the limit, the server's
     * microseconds per message or upgrade still compare servers. */
    uint64_t ops = g->done1 - g->done0;
    if (o->mode != MODE_IDLE && ops > 0)
        printf("\"server_us_per_op\":%.3f,\"loadgen_us_per_op\":%.3f,",
               scpu >= 0 ? scpu * 1e6 / (double)ops : -1, cpu * 1e6 / (double)ops);
    printf("\"errors\":%" PRIu64, errs);
    for (int e = 0; e < E_COUNT; e++)
        printf(",\"errors_%s\":%" PRIu64, err_names[e], g->errors[e]);
    printf("}\n");
    fflush(stdout);
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("loadgen: free port");
        return 1;
    }
    printf("%u\n", ntohs(sa.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--free-port") == 0)
        return free_port();
    static struct lg lg;
    struct lg *g = &lg;
    if (parse_args(argc, argv, &g->o) < 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);

    g->nconn = g->o.conns;
    g->c = calloc(g->nconn, sizeof(*g->c));
    g->ts_all = calloc((size_t)g->nconn * g->o.inflight, sizeof(uint64_t));
    g->rbuf = malloc(RBUF_SIZE);
    g->dirty = calloc(g->nconn, sizeof(*g->dirty));
    g->bcount = calloc(g->o.inflight, sizeof(*g->bcount));
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!g->c || !g->ts_all || !g->rbuf || !g->dirty || !g->bcount || g->ep < 0 || build_request(g) < 0 ||
        build_frames(g) < 0) {
        fprintf(stderr, "loadgen: out of memory (or a frame the encoder refused)\n");
        return 1;
    }
    for (uint32_t i = 0; i < g->nconn; i++) {
        g->c[i].fd = -1;
        g->c[i].ts = g->ts_all + (size_t)i * g->o.inflight;
    }
    g->rss0 = g->rss1 = -1;
    g->s0.server_cpu = g->s1.server_cpu = -1;
    if (g->o.mode == MODE_IDLE)
        g->rss0 = proc_rss_kb(g->o.server_pid);

    g->now = g->t_phase = now_ns();
    g->phase = PH_SETUP;
    uint64_t deadline = g->now + (uint64_t)((g->o.timeout + g->o.warmup + g->o.duration + g->o.settle +
                                             g->o.timeout + 5.0 + (double)g->nconn / 500.0) *
                                            1e9);
    uint64_t last_sweep = g->now;
    struct epoll_event ev[MAX_EVENTS];
    while (g->phase != PH_DONE && !interrupted) {
        if (g->phase == PH_SETUP && g->o.mode != MODE_UPGRADE)
            start_more(g);
        int pacing = g->o.rate > 0 && (g->phase == PH_WARMUP || g->phase == PH_MEASURE);
        int n;
        if (pacing) {
            /* Wake every tick at least: messages fall due between replies. */
            struct timespec tick = {.tv_sec = 0, .tv_nsec = (long)g->o.tick_us * 1000};
            n = epoll_pwait2(g->ep, ev, MAX_EVENTS, &tick, NULL);
        } else {
            n = epoll_wait(g->ep, ev, MAX_EVENTS, next_timeout_ms(g));
        }
        g->now = now_ns();
        for (int i = 0; i < n; i++) {
            uint32_t idx = (uint32_t)ev[i].data.u64;
            uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
            if (idx < g->nconn && g->c[idx].gen == gen && g->c[idx].fd >= 0)
                on_event(g, idx, ev[i].events);
        }
        if (pacing)
            pace(g);
        if (g->sender_ready) {
            g->sender_ready = 0;
            struct conn *snd = &g->c[0];
            if (snd->state == C_OPEN) {
                queue_more(g, snd);
                if (flush(g, snd) < 0) {
                    fail(g, E_CLOSED);
                    conn_close(g, snd, 1);
                }
            }
        }
        if (g->now - last_sweep > 100000000u) {
            sweep_timeouts(g);
            last_sweep = g->now;
        }
        advance(g);
        if (g->o.mode != MODE_UPGRADE && g->phase != PH_SETUP && g->open == 0 && g->phase != PH_DONE) {
            if (g->phase == PH_MEASURE || g->phase == PH_HOLD || g->phase == PH_COUNT)
                window_end(g);
            fprintf(stderr, "loadgen: no connection left open\n");
            break;
        }
        if (g->now > deadline) {
            fprintf(stderr, "loadgen: run deadline passed in phase %d\n", (int)g->phase);
            fail(g, E_TIMEOUT);
            break;
        }
    }
    if (g->t_window1 == 0 && g->t_window0 != 0)
        window_end(g);
    if (interrupted)
        fprintf(stderr, "loadgen: interrupted\n");
    report(g);
    uint64_t errs = 0;
    for (int e = 0; e < E_COUNT; e++)
        errs += g->errors[e];
    for (uint32_t i = 0; i < g->nconn; i++)
        if (g->c[i].fd >= 0)
            close(g->c[i].fd);
    uint64_t want = g->o.mode == MODE_UPGRADE ? g->o.count : (uint64_t)g->open * g->o.count;
    int ok = g->o.mode == MODE_IDLE ? g->check_open > 0 && g->done - g->done0 == g->check_open
             : g->o.counted         ? g->done1 - g->done0 == want
                                    : g->done1 > g->done0;
    return errs || !ok || interrupted ? 1 : 0;
}
