/* wsjwt serve: the tutorial's server (a WebSocket endpoint that verifies a
 * JWT in the upgrade and answers 401 otherwise) as a libwsjwt server.
 * --mode echo sends each message back to its sender; --mode broadcast sends
 * it to every other connection. SIGINT/SIGTERM stop gracefully (1001 to
 * every client), SIGHUP reloads the keys. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wsjwt/wsjwt.h>

#include "cmd.h"
#include "keyopts.h"

#define CMD         "wsjwt serve"
#define MAX_ORIGINS 64
/* Certificates for SNI: a handful of names per process is the use. */
#define MAX_TLS_CERTS 16

static void help(FILE *out)
{
    fputs("usage: wsjwt serve [OPTIONS]\n"
          "Serves JWT-authenticated WebSockets: the upgrade must carry a valid token, else 401.\n"
          "Prints \"listening on HOST:PORT\" on stdout once ready. Logs are logfmt on stderr.\n\n"
          "  --host ADDR             listen address (default 0.0.0.0)\n"
          "  --port N                listen port (default 8080; 0: any free port)\n"
          "  --threads N             event loops, one per thread (default: number of cores)\n"
          "  --mode echo|broadcast   echo: each message back to its sender (default);\n"
          "                          broadcast: each message to every other connection\n"
          "token sources (tried in this order):\n"
          "  --token-header NAME     header carrying the token (default: token)\n"
          "  --no-token-header       do not read a token header\n"
          "  --no-bearer             do not read Authorization: Bearer\n"
          "  --no-subprotocol        do not read Sec-WebSocket-Protocol: access_token, TOKEN\n"
          "  --token-query NAME      also read ?NAME=TOKEN (ends up in access logs: opt-in)\n"
          "  --token-cookie NAME     also read the cookie NAME (needs --origin)\n"
          "  --origin ORIGIN         allow this Origin (repeatable, exact match); others get 403\n"
          "  --expose-auth-errors    tell refused peers why (error_description); default: log only\n"
          "  --keep-expired-open     do not close connections when their token's exp passes\n"
          "  --insecure-no-auth      accept connections without a token (development only)\n"
          "limits (sizes in bytes, with optional k or m; durations as 90, 15m, or 500ms):\n"
          "  --max-message SIZE      largest message (default 1m; over it: close 1009)\n"
          "  --max-fragments N       frames per message (default 1024)\n"
          "  --max-head SIZE         request head (default 8k; over it: 431)\n"
          "  --max-headers N         request header lines (default 64)\n"
          "  --max-backpressure SIZE send queue per connection (default 4m; over it: close 1013)\n"
          "  --handshake-timeout D   (default 10s)   --idle-timeout D    (default 120s)\n"
          "  --ping-interval D       (default 30s)   --close-timeout D   (default 5s)\n"
          "  --shutdown-timeout D    wait for clients after SIGTERM (default 10s)\n"
          "  --log-level LEVEL       error, warn, info (default), debug or off\n"
          "permessage-deflate (RFC 7692; docs/deflate.md):\n"
          "  --deflate MODE          off, shared (default: one compressor per loop, no memory per\n"
          "                          connection) or dedicated[:BITS] (per connection, window 9..15)\n"
          "  --deflate-threshold SIZE  send shorter messages uncompressed (default 1k)\n"
          "TLS (wss://; see docs/tls.md):\n"
          "  --tls-cert FILE         certificate chain (PEM, leaf first); with --tls-key, serves TLS only\n"
          "  --tls-key FILE          its private key (PEM). Repeat the pair for more names: the first\n"
          "                          is the default, SNI picks another whose certificate names the host\n"
          "  --tls-client-ca FILE    require a client certificate issued by a CA in FILE (PEM): the\n"
          "                          handshake fails without one (mutual TLS)\n\n",
          out);
    keyopts_help(out);
    fputc('\n', out);
    policyopts_help(out);
    fputs("\nsignals: SIGINT/SIGTERM close every connection with 1001 and exit 0; SIGHUP reloads keys\n"
          "(and TLS certificates: new connections get them, open ones keep theirs).\n",
          out);
}

/* --deflate off|shared|dedicated[:BITS], BITS 9..15. */
static int parse_deflate(const char *v, struct wsjwt_server_config *cfg)
{
    char *end = NULL;
    if (strcmp(v, "off") == 0) {
        cfg->deflate = WSJWT_DEFLATE_OFF;
        return 0;
    }
    if (strcmp(v, "shared") == 0) {
        cfg->deflate = WSJWT_DEFLATE_SHARED;
        return 0;
    }
    if (strncmp(v, "dedicated", 9) == 0 && (v[9] == '\0' || v[9] == ':')) {
        unsigned long bits = 15;
        if (v[9] == ':') {
            bits = strtoul(v + 10, &end, 10);
            if (end == v + 10 || *end || bits < 9 || bits > 15)
                goto bad;
        }
        cfg->deflate = WSJWT_DEFLATE_DEDICATED;
        cfg->deflate_window_bits = (unsigned)bits;
        return 0;
    }
bad:
    fprintf(stderr, "wsjwt serve: --deflate: off, shared or dedicated[:9..15]\n");
    return -1;
}

/* "1048576", "64k", "1m" (binary multiples). */
static int parse_size(const char *option, const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mul = 1;
    if (end == s || errno || s[0] == '-')
        goto bad;
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024, end++;
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    if (*end != '\0' || v > (1ull << 40) / mul)
        goto bad;
    *out = (size_t)(v * mul);
    return 0;
bad:
    fprintf(stderr, CMD ": %s: '%s' is not a size (bytes, or a number with k or m)\n", option, s);
    return -1;
}

/* A duration in milliseconds: "500ms", or anything opt_duration takes. */
static int parse_ms(const char *option, const char *s, uint32_t *out)
{
    size_t n = strlen(s);
    int64_t sec;
    if (n > 2 && strcmp(s + n - 2, "ms") == 0) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (end != s + n - 2 || errno || v == 0 || v > UINT32_MAX || s[0] == '-') {
            fprintf(stderr, CMD ": %s: '%s' is not a duration\n", option, s);
            return -1;
        }
        *out = (uint32_t)v;
        return 0;
    }
    if (opt_duration(CMD, option, s, &sec) != 0)
        return -1;
    if (sec <= 0 || sec > UINT32_MAX / 1000) {
        fprintf(stderr, CMD ": %s: '%s' is out of range\n", option, s);
        return -1;
    }
    *out = (uint32_t)(sec * 1000);
    return 0;
}

static int parse_uint(const char *option, const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end || errno || v > max || s[0] == '-') {
        fprintf(stderr, CMD ": %s: '%s' is not a number up to %lu\n", option, s, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- the application --------------------------------------------------------- */

enum mode { MODE_ECHO, MODE_BROADCAST };

struct app {
    enum mode mode;
    struct wsjwt_server *srv;
    struct keyopts ko;
};

/* A sender that does not read its echoes is a slow consumer: close it with
 * 1013 (try again later) rather than queue without bound. Out of line: with
 * the log call inside on_message, `app` stayed live across the send and
 * the echo cost 3 instructions more (bench/callgrind.sh: 566 -> 569). */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static void
slow_consumer(struct wsjwt_conn *c)
{
    char peer[64], sub[64];
    /* sub comes from the token: keep it from breaking the logfmt line. */
    snprintf(sub, sizeof(sub), "%s", wsjwt_conn_sub(c));
    for (char *p = sub; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)
            *p = '?';
    /* Through the server's logger: a loop thread never waits for stderr. */
    wsjwt_server_log(wsjwt_conn_server(c), WSJWT_LOG_WARN, "slow_consumer",
                     "peer=%s sub=\"%s\" msg=\"send queue over --max-backpressure: closing with 1013\"",
                     wsjwt_conn_peer(c, peer, sizeof(peer)), sub);
    wsjwt_conn_close(c, 1013, "backpressure");
}

static void on_message(struct wsjwt_conn *c, const void *data, size_t len, int binary, void *user)
{
    struct app *app = user;
    if (app->mode == MODE_BROADCAST) {
        wsjwt_server_broadcast(app->srv, c, data, len, binary);
        return;
    }
    if (wsjwt_conn_send(c, data, len, binary) == WSJWT_EBACKPRESSURE)
        slow_consumer(c);
}

/* Signals are taken synchronously by one thread (sigwait), so the handlers'
 * work (stopping, reloading keys) runs as ordinary code. A second SIGINT or
 * SIGTERM during the graceful stop exits at once. The context is static: the
 * thread outlives cmd_serve's frame until the process exits, and `done`
 * (under the mutex) tells it the server is gone. */
struct sigctx {
    pthread_mutex_t mu;
    struct app *app;
    sigset_t set;
    size_t tls; /* certificates to reload on SIGHUP */
    int stopping;
    int done;
};

static struct sigctx sigctx = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *signal_thread(void *arg)
{
    struct sigctx *s = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&s->set, &sig) != 0)
            continue;
        pthread_mutex_lock(&s->mu);
        if (s->done) {
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        if (sig == SIGHUP && s->tls) {
            char err[512];
            if (wsjwt_server_reload_tls(s->app->srv, err, sizeof(err)) == 0) {
                wsjwt_server_log(s->app->srv, WSJWT_LOG_INFO, "tls_reloaded", "certs=%zu", s->tls);
            } else {
                for (char *p = err; *p; p++)
                    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
                        *p = '?';
                wsjwt_server_log(s->app->srv, WSJWT_LOG_ERROR, "tls_reload_failed",
                                 "msg=\"kept the previous certificates: %s\"", err);
            }
        }
        if (sig == SIGHUP) {
            struct wsjwt_keyset *keys = NULL;
            struct keyinfo info;
            if (keyopts_keyset(&s->app->ko, &keys, &info) == 0) {
                wsjwt_server_set_keyset(s->app->srv, keys);
                wsjwt_server_log(s->app->srv, WSJWT_LOG_INFO, "keys_reloaded", "keys=%zu",
                                 wsjwt_keyset_count(keys));
                wsjwt_keyset_unref(keys);
            } else {
                wsjwt_server_log(s->app->srv, WSJWT_LOG_ERROR, "keys_reload_failed",
                                 "msg=\"kept the previous keys\"");
            }
        } else if (!s->stopping) {
            s->stopping = 1;
            wsjwt_server_log(s->app->srv, WSJWT_LOG_INFO, "stopping", "signal=%s",
                             sig == SIGINT ? "SIGINT" : "SIGTERM");
            wsjwt_server_stop(s->app->srv);
        } else {
            wsjwt_server_log(s->app->srv, WSJWT_LOG_WARN, "forced_exit",
                             "signal=%s msg=\"second signal during the graceful stop\"",
                             sig == SIGINT ? "SIGINT" : "SIGTERM");
            _exit(1);
        }
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

int cmd_serve(int argc, char **argv)
{
    struct app app;
    struct policyopts po;
    struct wsjwt_server_config cfg;
    const char *origins[MAX_ORIGINS];
    struct wsjwt_tls_cert certs[MAX_TLS_CERTS];
    size_t n_certs = 0, n_keys = 0;
    memset(&app, 0, sizeof(app));
    memset(certs, 0, sizeof(certs));
    memset(&cfg, 0, sizeof(cfg));
    keyopts_init(&app.ko, CMD);
    policyopts_init(&po, CMD);
    cfg.port = WSJWT_SERVER_DEFAULT_PORT;
    cfg.token_sources = WSJWT_TOKEN_DEFAULT_SOURCES;

    for (int i = 1; i < argc;) {
        int r;
        const char *v = NULL;
        unsigned long u;
        if ((r = keyopts_parse(&app.ko, argc, argv, &i)) != OPT_UNKNOWN ||
            (r = policyopts_parse(&po, argc, argv, &i)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return 0;
        }
#define VALUE(name)                                                                                          \
    (r = opt_value(CMD, argc, argv, &i, name, &v)) != OPT_UNKNOWN && (r != OPT_ERROR || (exit(EXIT_USAGE), 0))
#define FLAG(name)                                                                                           \
    (r = opt_flag(CMD, argv, &i, name)) != OPT_UNKNOWN && (r != OPT_ERROR || (exit(EXIT_USAGE), 0))
        if (VALUE("--host")) {
            cfg.host = v;
        } else if (VALUE("--port")) {
            if (parse_uint("--port", v, 65535, &u) != 0)
                return EXIT_USAGE;
            cfg.port = (int)u;
        } else if (VALUE("--threads")) {
            if (parse_uint("--threads", v, 1024, &u) != 0)
                return EXIT_USAGE;
            cfg.threads = (unsigned)u;
        } else if (VALUE("--mode")) {
            if (strcmp(v, "echo") == 0)
                app.mode = MODE_ECHO;
            else if (strcmp(v, "broadcast") == 0)
                app.mode = MODE_BROADCAST;
            else {
                fprintf(stderr, CMD ": --mode: '%s' is not echo or broadcast\n", v);
                return EXIT_USAGE;
            }
        } else if (VALUE("--token-header")) {
            cfg.token_header = v;
            cfg.token_sources |= WSJWT_TOKEN_FROM_HEADER;
        } else if (FLAG("--no-token-header")) {
            cfg.token_sources &= ~(unsigned)WSJWT_TOKEN_FROM_HEADER;
        } else if (FLAG("--no-bearer")) {
            cfg.token_sources &= ~(unsigned)WSJWT_TOKEN_FROM_BEARER;
        } else if (FLAG("--no-subprotocol")) {
            cfg.token_sources &= ~(unsigned)WSJWT_TOKEN_FROM_SUBPROTOCOL;
        } else if (VALUE("--token-query")) {
            cfg.token_query = v;
            cfg.token_sources |= WSJWT_TOKEN_FROM_QUERY;
        } else if (VALUE("--token-cookie")) {
            cfg.token_cookie = v;
            cfg.token_sources |= WSJWT_TOKEN_FROM_COOKIE;
        } else if (VALUE("--origin")) {
            if (cfg.n_origins == MAX_ORIGINS) {
                fprintf(stderr, CMD ": at most %d --origin\n", MAX_ORIGINS);
                return EXIT_USAGE;
            }
            origins[cfg.n_origins++] = v;
        } else if (FLAG("--expose-auth-errors")) {
            cfg.expose_auth_errors = 1;
        } else if (FLAG("--keep-expired-open")) {
            cfg.keep_expired_open = 1;
        } else if (FLAG("--insecure-no-auth")) {
            cfg.insecure_no_auth = 1;
        } else if (VALUE("--max-message")) {
            if (parse_size("--max-message", v, &cfg.max_message) != 0)
                return EXIT_USAGE;
        } else if (VALUE("--deflate")) {
            if (parse_deflate(v, &cfg) != 0)
                return EXIT_USAGE;
        } else if (VALUE("--deflate-threshold")) {
            if (parse_size("--deflate-threshold", v, &cfg.deflate_threshold) != 0)
                return EXIT_USAGE;
            if (cfg.deflate_threshold == 0)
                cfg.deflate_threshold = 1; /* 0 means the default in the config: compress all */
        } else if (VALUE("--max-fragments")) {
            if (parse_uint("--max-fragments", v, UINT32_MAX, &u) != 0)
                return EXIT_USAGE;
            cfg.max_fragments = u;
        } else if (VALUE("--max-head")) {
            if (parse_size("--max-head", v, &cfg.max_head) != 0)
                return EXIT_USAGE;
        } else if (VALUE("--max-headers")) {
            if (parse_uint("--max-headers", v, 10000, &u) != 0)
                return EXIT_USAGE;
            cfg.max_headers = u;
        } else if (VALUE("--max-backpressure")) {
            if (parse_size("--max-backpressure", v, &cfg.max_backpressure) != 0)
                return EXIT_USAGE;
        } else if (VALUE("--handshake-timeout")) {
            if (parse_ms("--handshake-timeout", v, &cfg.handshake_timeout_ms) != 0)
                return EXIT_USAGE;
        } else if (VALUE("--idle-timeout")) {
            if (parse_ms("--idle-timeout", v, &cfg.idle_timeout_ms) != 0)
                return EXIT_USAGE;
        } else if (VALUE("--ping-interval")) {
            if (parse_ms("--ping-interval", v, &cfg.ping_interval_ms) != 0)
                return EXIT_USAGE;
        } else if (VALUE("--close-timeout")) {
            if (parse_ms("--close-timeout", v, &cfg.close_timeout_ms) != 0)
                return EXIT_USAGE;
        } else if (VALUE("--shutdown-timeout")) {
            if (parse_ms("--shutdown-timeout", v, &cfg.shutdown_timeout_ms) != 0)
                return EXIT_USAGE;
        } else if (VALUE("--tls-cert")) {
            if (n_certs == MAX_TLS_CERTS) {
                fprintf(stderr, CMD ": at most %d --tls-cert\n", MAX_TLS_CERTS);
                return EXIT_USAGE;
            }
            certs[n_certs++].cert_file = v;
        } else if (VALUE("--tls-key")) {
            if (n_keys == MAX_TLS_CERTS) {
                fprintf(stderr, CMD ": at most %d --tls-key\n", MAX_TLS_CERTS);
                return EXIT_USAGE;
            }
            certs[n_keys++].key_file = v;
        } else if (VALUE("--tls-client-ca")) {
            cfg.tls_client_ca = v;
        } else if (VALUE("--log-level")) {
            static const char *names[] = {"error", "warn", "info", "debug", "off"};
            static const enum wsjwt_log_level levels[] = {WSJWT_LOG_ERROR, WSJWT_LOG_WARN, WSJWT_LOG_INFO,
                                                          WSJWT_LOG_DEBUG, WSJWT_LOG_OFF};
            size_t k;
            for (k = 0; k < 5 && strcmp(v, names[k]) != 0; k++)
                ;
            if (k == 5) {
                fprintf(stderr, CMD ": --log-level: '%s' is not error, warn, info, debug or off\n", v);
                return EXIT_USAGE;
            }
            cfg.log_level = levels[k];
        } else {
            fprintf(stderr, CMD ": unknown option '%s' (see wsjwt serve --help)\n", argv[i]);
            return EXIT_USAGE;
        }
#undef VALUE
#undef FLAG
    }
    if ((cfg.token_sources & WSJWT_TOKEN_FROM_COOKIE) && cfg.n_origins == 0) {
        fprintf(stderr, CMD ": --token-cookie needs --origin: a cookie rides along on cross-site requests, "
                            "so only an Origin allow-list makes it safe\n");
        return EXIT_USAGE;
    }
    cfg.origins = origins;
    if (n_certs != n_keys) {
        fprintf(stderr, CMD ": --tls-cert and --tls-key come in pairs (%zu certificates, %zu keys)\n",
                n_certs, n_keys);
        return EXIT_USAGE;
    }
    if (cfg.tls_client_ca && n_certs == 0) {
        fprintf(stderr, CMD ": --tls-client-ca needs --tls-cert and --tls-key\n");
        return EXIT_USAGE;
    }
    cfg.tls_certs = certs;
    cfg.n_tls_certs = n_certs;

    struct wsjwt_keyset *keys = NULL;
    struct wsjwt_policy *policy = NULL;
    if (!cfg.insecure_no_auth) {
        struct keyinfo info;
        int rc = keyopts_keyset(&app.ko, &keys, &info);
        if (rc == 0)
            rc = policyopts_build(&po, keys, &policy);
        if (rc != 0) {
            fprintf(stderr, CMD ": refusing to start without a key (set JWT_SECRET, or give --secret-file, "
                                "--key or --jwks; --insecure-no-auth for development only)\n");
            wsjwt_keyset_unref(keys);
            return rc;
        }
    }
    cfg.keys = keys;
    cfg.policy = policy;
    cfg.expiry_leeway = po.leeway;
    cfg.on_message = on_message;
    cfg.user = &app;

    /* Signals go to the signal thread only: block them before any loop
     * thread starts (threads inherit the mask). SIGPIPE is not needed (the
     * library writes with MSG_NOSIGNAL) but a closed stdout must not kill us. */
    struct sigctx *sig = &sigctx;
    sig->app = &app;
    sig->tls = n_certs;
    sigemptyset(&sig->set);
    sigaddset(&sig->set, SIGINT);
    sigaddset(&sig->set, SIGTERM);
    sigaddset(&sig->set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sig->set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = wsjwt_server_new(&cfg, &app.srv);
    if (rc != 0) {
        if (rc == WSJWT_ETLS)
            fprintf(stderr, CMD ": cannot load the TLS certificates (see the tls_error line above)\n");
        else
            fprintf(stderr, CMD ": cannot listen on %s:%d: %s (%s)\n", cfg.host ? cfg.host : "0.0.0.0",
                    cfg.port, rc == WSJWT_EIO ? strerror(errno) : wsjwt_strerror(rc), wsjwt_err_name(rc));
        wsjwt_policy_free(policy);
        wsjwt_keyset_unref(keys);
        return EXIT_REFUSED;
    }
    if (cfg.insecure_no_auth)
        wsjwt_server_log(app.srv, WSJWT_LOG_WARN, "insecure",
                         "msg=\"--insecure-no-auth: connections are NOT authenticated\"");
    rc = wsjwt_server_start(app.srv);
    if (rc != 0) {
        fprintf(stderr, CMD ": cannot start: %s\n", wsjwt_strerror(rc));
        wsjwt_server_free(app.srv);
        wsjwt_policy_free(policy);
        wsjwt_keyset_unref(keys);
        return EXIT_REFUSED;
    }
    pthread_t st;
    pthread_create(&st, NULL, signal_thread, sig);
    pthread_detach(st);
    printf("listening on %s:%d\n", cfg.host ? cfg.host : "0.0.0.0", wsjwt_server_port(app.srv));
    fflush(stdout);

    wsjwt_server_wait(app.srv);
    pthread_mutex_lock(&sig->mu);
    sig->done = 1;
    pthread_mutex_unlock(&sig->mu);

    struct wsjwt_server_stats s;
    wsjwt_server_stats(app.srv, &s);
    /* The run's counters: written at every level but off (a NULL server
     * filters at info), since --log-level warn is the advice for floods and
     * the counters must still be there (docs/security.md, bench/). */
    wsjwt_server_log(
        cfg.log_level == WSJWT_LOG_OFF ? app.srv : NULL, WSJWT_LOG_INFO, "stopped",
        "accepted=%llu upgraded=%llu refused=%llu messages_in=%llu "
        "messages_out=%llu slow_consumers=%llu expired=%llu protocol_errors=%llu accept_errors=%llu",
        (unsigned long long)s.accepted, (unsigned long long)s.upgraded, (unsigned long long)s.refused,
        (unsigned long long)s.messages_in, (unsigned long long)s.messages_out,
        (unsigned long long)s.backpressure, (unsigned long long)s.expired,
        (unsigned long long)s.protocol_errors, (unsigned long long)s.accept_errors);
    wsjwt_server_free(app.srv);
    wsjwt_policy_free(policy);
    wsjwt_keyset_unref(keys);
    return 0;
}
