/* The server object: configuration, loops and their threads, listeners,
 * keys, stop, statistics and broadcast plumbing between loops. The
 * connection state machine lives in conn.c. */
#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/internal.h"

/* The listen backlog. Upgrade storms (issue 8, row d: 50 concurrent clients
 * connecting in a loop) must not overflow it between two loop turns. */
#define LISTEN_BACKLOG 4096
/* Accepts per readiness event, so that one loop turn also serves the
 * connections it already has. */
#define ACCEPT_BATCH 64

int64_t wsjwt__server_now(const struct wsjwt_server *srv)
{
    if (srv->cfg.clock)
        return srv->cfg.clock(srv->cfg.user);
    return (int64_t)time(NULL);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- loop callbacks ---------------------------------------------------------- */

static void on_listen(uv_poll_t *h, int status, int events)
{
    struct wsjwt__loop *loop = h->data;
    (void)events;
    if (status < 0 || loop->stopping)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd, shed;
        int rc = wsjwt__accept(&loop->acc, &fd, &shed);
        if (rc == WSJWT_EAGAIN)
            break;
        if (rc < 0) {
            int e = errno;
            STAT_INC(loop, accept_errors);
            wsjwt__log(loop->srv, WSJWT_LOG_WARN, "accept_error", "error=\"%s\" shed=%d", strerror(e), shed);
            if (!shed && (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)) {
                /* Nothing was taken off the backlog, so the listener stays
                 * readable: polling it now would spin. Pause accepting until
                 * the next sweep tick. */
                uv_poll_stop(&loop->listen_poll);
                loop->accept_paused = 1;
            }
            break;
        }
        STAT_INC(loop, accepted);
        wsjwt__conn_accept(loop, fd);
    }
    wsjwt__loop_flush(loop);
}

/* Connections a loop must have held before a drop in their number returns
 * memory: below it a trim would return next to nothing. */
#define TRIM_MIN_PEAK 16u

/* Gives freed memory back to the system once the loop's connections fell
 * to a quarter of their peak since the last trim (or to none). glibc keeps
 * what free() releases inside its heaps for reuse and gives back only what
 * sits at the top of a heap past M_TRIM_THRESHOLD: after 10 000
 * connections closed, the server's RSS stayed at its high-water mark
 * (tests/abuse/soak.test.mjs, issue 7). malloc_trim(0) walks every arena
 * and returns all their free pages. It runs from the sweep tick only, at
 * most once per rise and fall of the count (the peak restarts from the
 * count after each trim), never on the message path. Other C libraries
 * (musl's mallocng) return freed memory by themselves: nothing to do. */
static void loop_trim(struct wsjwt__loop *loop)
{
#if defined(__GLIBC__)
    size_t peak = loop->n_peak, n = loop->n_conns;
    if (peak == 0 || (n != 0 && (peak < TRIM_MIN_PEAK || n > peak / 4)))
        return;
    malloc_trim(0);
    loop->n_peak = n;
#else
    (void)loop;
#endif
}

static void on_tick(uv_timer_t *t)
{
    struct wsjwt__loop *loop = t->data;
    if (loop->accept_paused && loop->listening && !loop->stopping) {
        loop->accept_paused = 0;
        uv_poll_start(&loop->listen_poll, UV_READABLE, on_listen);
    }
    wsjwt__conn_sweep(loop);
    wsjwt__loop_flush(loop);
    loop_trim(loop);
}

static void on_check(uv_check_t *h)
{
    struct wsjwt__loop *loop = h->data;
    wsjwt__loop_flush(loop);
    /* The end of the turn's I/O: the next turn may run this many TLS
     * handshake steps (postponed ones first, from hs_idle). */
    loop->hs_budget = WSJWT__TLS_HS_PER_TURN;
}

static void stop_listening(struct wsjwt__loop *loop)
{
    if (loop->listening) {
        loop->listening = 0;
        uv_close((uv_handle_t *)&loop->listen_poll, NULL);
    }
}

static void on_async(uv_async_t *h)
{
    struct wsjwt__loop *loop = h->data;
    struct wsjwt_server *srv = loop->srv;
    struct wsjwt__bcast **items;
    size_t n;
    uv_mutex_lock(&loop->inbox_mu);
    items = loop->inbox;
    n = loop->inbox_len;
    loop->inbox = NULL;
    loop->inbox_len = loop->inbox_cap = 0;
    uv_mutex_unlock(&loop->inbox_mu);
    for (size_t i = 0; i < n; i++) {
        wsjwt__loop_deliver(loop, items[i]);
        if (atomic_fetch_sub(&items[i]->refs, 1) == 1)
            free(items[i]);
    }
    free(items);
    if (atomic_load(&srv->stop_requested) && !loop->stopping) {
        stop_listening(loop);
        wsjwt__conn_shutdown(loop);
    }
    wsjwt__loop_flush(loop);
    wsjwt__loop_maybe_finish(loop);
}

void wsjwt__loop_maybe_finish(struct wsjwt__loop *loop)
{
    if (!loop->stopping || loop->n_conns > 0 || uv_is_closing((uv_handle_t *)&loop->tick))
        return;
    stop_listening(loop);
    uv_close((uv_handle_t *)&loop->tick, NULL);
    uv_close((uv_handle_t *)&loop->check, NULL);
    if (loop->srv->cfg.n_tls_certs)
        uv_close((uv_handle_t *)&loop->hs_idle, NULL);
    uv_mutex_lock(&loop->inbox_mu);
    /* Other threads post to this loop only while the async handle is open:
     * they check `uv_is_closing` under this mutex. */
    uv_close((uv_handle_t *)&loop->async, NULL);
    for (size_t i = 0; i < loop->inbox_len; i++)
        if (atomic_fetch_sub(&loop->inbox[i]->refs, 1) == 1)
            free(loop->inbox[i]);
    free(loop->inbox);
    loop->inbox = NULL;
    loop->inbox_len = loop->inbox_cap = 0;
    uv_mutex_unlock(&loop->inbox_mu);
}

static void loop_thread(void *arg)
{
    struct wsjwt__loop *loop = arg;
    uv_run(&loop->uv, UV_RUN_DEFAULT);
}

/* ---- construction ---------------------------------------------------------------- */

static int loop_init(struct wsjwt_server *srv, struct wsjwt__loop *loop, unsigned index, int reuseport)
{
    loop->srv = srv;
    loop->index = index;
    loop->acc.fd = loop->acc.reserve = -1;
    int rc = uv_loop_init(&loop->uv);
    if (rc != 0)
        return WSJWT_EIO;
    loop->uv.data = loop;
    if (uv_mutex_init(&loop->inbox_mu) != 0)
        return WSJWT_EIO;
    size_t prefix = srv->cfg.max_head > 256 ? srv->cfg.max_head : 256;
    loop->rbuf_size = prefix + WSJWT__READ_SIZE;
    loop->rbuf = malloc(loop->rbuf_size);
    loop->cork = malloc(WSJWT__CORK_SIZE);
    loop->headers = calloc(srv->cfg.max_headers, sizeof(*loop->headers));
    loop->scratch = malloc(srv->cfg.max_head);
    if (!loop->rbuf || !loop->cork || !loop->headers || !loop->scratch)
        return WSJWT_ENOMEM;
    if (srv->pmdcfg.mode != WSJWT__PMD_OFF) {
        /* Settings only: zlib memory is taken at the first message that
         * needs each stream. */
        if (!(loop->pmd = calloc(1, sizeof(*loop->pmd))))
            return WSJWT_ENOMEM;
        for (unsigned b = 9; b <= 15; b++)
            wsjwt__pmd_ctx_init(&loop->pmd->shared[b - 9], b, 1, 15, 1);
    }
    if (srv->tls) {
        if (!(loop->tbuf = malloc(WSJWT__READ_SIZE)))
            return WSJWT_ENOMEM;
        loop->hs_budget = WSJWT__TLS_HS_PER_TURN;
        uv_idle_init(&loop->uv, &loop->hs_idle);
        loop->hs_idle.data = loop;
    }

    int fd;
    const char *host = srv->host ? srv->host : "0.0.0.0";
    if (reuseport && index == 0 && srv->port != 0) {
        /* SO_REUSEPORT would let this server share a port silently with
         * another process already listening there (a second `wsjwt serve`
         * taking half the connections). Probe without it first, so that a
         * port in use is an error as it is with one thread. */
        rc = wsjwt__listen(host, srv->port, 0, 1, &fd);
        if (rc != 0)
            return rc;
        close(fd);
    }
    rc = wsjwt__listen(host, srv->port, reuseport, LISTEN_BACKLOG, &fd);
    if (rc != 0)
        return rc;
    wsjwt__acceptor_init(&loop->acc, fd);
    if (srv->port == 0)
        srv->port = wsjwt__local_port(fd);
    if (uv_poll_init(&loop->uv, &loop->listen_poll, fd) != 0)
        return WSJWT_EIO;
    loop->listen_poll.data = loop;
    loop->listening = 1;
    uv_timer_init(&loop->uv, &loop->tick);
    loop->tick.data = loop;
    uv_check_init(&loop->uv, &loop->check);
    loop->check.data = loop;
    if (uv_async_init(&loop->uv, &loop->async, on_async) != 0)
        return WSJWT_EIO;
    loop->async.data = loop;
    return 0;
}

static int copy_config(struct wsjwt_server *srv, const struct wsjwt_server_config *cfg)
{
    srv->cfg = *cfg;
    struct wsjwt_server_config *c = &srv->cfg;
    if (!c->max_head)
        c->max_head = WSJWT_SERVER_DEFAULT_MAX_HEAD;
    if (!c->max_headers)
        c->max_headers = WSJWT_SERVER_DEFAULT_MAX_HEADERS;
    if (!c->max_message)
        c->max_message = WSJWT_SERVER_DEFAULT_MAX_MESSAGE;
    if (!c->max_fragments)
        c->max_fragments = WSJWT_SERVER_DEFAULT_MAX_FRAGMENTS;
    if (!c->max_backpressure)
        c->max_backpressure = WSJWT_SERVER_DEFAULT_MAX_BACKPRESSURE;
    if (!c->handshake_timeout_ms)
        c->handshake_timeout_ms = WSJWT_SERVER_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    if (!c->idle_timeout_ms)
        c->idle_timeout_ms = WSJWT_SERVER_DEFAULT_IDLE_TIMEOUT_MS;
    if (!c->ping_interval_ms)
        c->ping_interval_ms = WSJWT_SERVER_DEFAULT_PING_INTERVAL_MS;
    if (!c->close_timeout_ms)
        c->close_timeout_ms = WSJWT_SERVER_DEFAULT_CLOSE_TIMEOUT_MS;
    if (!c->shutdown_timeout_ms)
        c->shutdown_timeout_ms = WSJWT_SERVER_DEFAULT_SHUTDOWN_TIMEOUT_MS;
    if (!c->token_sources)
        c->token_sources = WSJWT_TOKEN_DEFAULT_SOURCES;
    if (!c->threads) {
        unsigned n = uv_available_parallelism();
        c->threads = n ? n : 1;
    }
    if (c->max_head < 64 || c->max_headers < 8 || c->max_message > UINT32_MAX)
        return WSJWT_EINVAL;
    if (c->port < 0 || c->port > 65535 || c->threads > 1024 || c->expiry_leeway < 0)
        return WSJWT_EINVAL;
    if (!c->insecure_no_auth && (!c->keys || !c->policy))
        return WSJWT_EINVAL;
    /* A cookie rides along on cross-site requests: only an Origin allow-list
     * makes it safe to authenticate with (cross-site WebSocket hijacking). */
    if ((c->token_sources & WSJWT_TOKEN_FROM_COOKIE) &&
        (!c->token_cookie || !*c->token_cookie || !c->n_origins))
        return WSJWT_EINVAL;

    srv->host = dup_or_null(c->host);
    srv->token_header = strdup(c->token_header ? c->token_header : "token");
    srv->token_query = strdup(c->token_query ? c->token_query : "access_token");
    srv->token_cookie = dup_or_null(c->token_cookie);
    if ((c->host && !srv->host) || !srv->token_header || !srv->token_query ||
        (c->token_cookie && !srv->token_cookie))
        return WSJWT_ENOMEM;
    if (c->n_origins) {
        srv->origins = calloc(c->n_origins, sizeof(char *));
        if (!srv->origins)
            return WSJWT_ENOMEM;
        for (size_t i = 0; i < c->n_origins; i++)
            if (!(srv->origins[i] = strdup(c->origins[i])))
                return WSJWT_ENOMEM;
    }
    c->host = srv->host;
    c->token_header = srv->token_header;
    c->token_query = srv->token_query;
    c->token_cookie = srv->token_cookie;
    c->origins = (const char *const *)srv->origins;
    if (c->n_tls_certs) {
        if (!c->tls_certs)
            return WSJWT_EINVAL;
        srv->tls_certs = calloc(c->n_tls_certs, sizeof(*srv->tls_certs));
        if (!srv->tls_certs)
            return WSJWT_ENOMEM;
        for (size_t i = 0; i < c->n_tls_certs; i++) {
            if (!c->tls_certs[i].cert_file || !c->tls_certs[i].key_file)
                return WSJWT_EINVAL;
            srv->tls_certs[i].cert_file = strdup(c->tls_certs[i].cert_file);
            srv->tls_certs[i].key_file = strdup(c->tls_certs[i].key_file);
            if (!srv->tls_certs[i].cert_file || !srv->tls_certs[i].key_file)
                return WSJWT_ENOMEM;
        }
    }
    c->tls_certs = srv->tls_certs;
    if (c->tls_client_ca) {
        if (!c->n_tls_certs)
            return WSJWT_EINVAL; /* client certificates without TLS */
        if (!(srv->tls_client_ca = strdup(c->tls_client_ca)))
            return WSJWT_ENOMEM;
    }
    c->tls_client_ca = srv->tls_client_ca;

    wsjwt__http_token_config_init(&srv->tokcfg);
    srv->tokcfg.header = (c->token_sources & WSJWT_TOKEN_FROM_HEADER) ? srv->token_header : NULL;
    srv->tokcfg.bearer = (c->token_sources & WSJWT_TOKEN_FROM_BEARER) != 0;
    srv->tokcfg.subprotocol = (c->token_sources & WSJWT_TOKEN_FROM_SUBPROTOCOL) != 0;
    srv->tokcfg.query = (c->token_sources & WSJWT_TOKEN_FROM_QUERY) ? srv->token_query : NULL;
    srv->tokcfg.cookie = (c->token_sources & WSJWT_TOKEN_FROM_COOKIE) ? srv->token_cookie : NULL;

    wsjwt__ws_config_init(&srv->wscfg, 1);
    srv->wscfg.max_message = c->max_message;
    srv->wscfg.max_fragments = (uint32_t)(c->max_fragments > UINT32_MAX ? UINT32_MAX : c->max_fragments);
    srv->wscfg_pmd = srv->wscfg;
    srv->wscfg_pmd.allow_rsv1 = 1;
    srv->wscfg_pmd.max_message = wsjwt__pmd_wire_cap(c->max_message);
    switch (c->deflate) {
    case WSJWT_DEFLATE_DEFAULT:
    case WSJWT_DEFLATE_SHARED:
        srv->pmdcfg.mode = WSJWT__PMD_SHARED;
        break;
    case WSJWT_DEFLATE_OFF:
        srv->pmdcfg.mode = WSJWT__PMD_OFF;
        break;
    case WSJWT_DEFLATE_DEDICATED:
        srv->pmdcfg.mode = WSJWT__PMD_DEDICATED;
        break;
    default:
        return WSJWT_EINVAL;
    }
    /* 9..15: zlib cannot deflate with an 8-bit window (deflate.h). */
    srv->pmdcfg.window_bits = c->deflate_window_bits ? c->deflate_window_bits : 15;
    if (srv->pmdcfg.window_bits < 9 || srv->pmdcfg.window_bits > 15)
        return WSJWT_EINVAL;
    srv->pmd_threshold = c->deflate_threshold ? c->deflate_threshold : WSJWT_SERVER_DEFAULT_DEFLATE_THRESHOLD;

    /* The sweep runs often enough to honour the smallest timeout within a
     * quarter of it, and at least once a second (token expiry). */
    uint32_t t = 1000;
    uint32_t ts[] = {c->handshake_timeout_ms, c->idle_timeout_ms, c->ping_interval_ms, c->close_timeout_ms};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
        if (ts[i] / 4 < t)
            t = ts[i] / 4 ? ts[i] / 4 : 1;
    srv->tick_ms = t;
    return 0;
}

int wsjwt_server_new(const struct wsjwt_server_config *cfg, struct wsjwt_server **out)
{
    *out = NULL;
    if (!cfg)
        return WSJWT_EINVAL;
    struct wsjwt_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return WSJWT_ENOMEM;
    int rc = copy_config(srv, cfg);
    if (rc != 0)
        goto fail;
    srv->port = srv->cfg.port;
    if (srv->cfg.n_tls_certs) {
        char err[512];
        if (uv_mutex_init(&srv->tls_mu) != 0) {
            rc = WSJWT_EIO;
            goto fail;
        }
        rc = wsjwt__tls_ctx_server_new_ca(srv->tls_certs, srv->cfg.n_tls_certs, srv->tls_client_ca, &srv->tls,
                                          err, sizeof(err));
        if (rc != 0) {
            uv_mutex_destroy(&srv->tls_mu);
            wsjwt__log(srv, WSJWT_LOG_ERROR, "tls_error", "msg=\"%s\"", err);
            goto fail;
        }
    }
    if (srv->cfg.keys) {
        rc = wsjwt_keyring_new(wsjwt_keyset_ref(srv->cfg.keys), &srv->keys);
        if (rc != 0)
            goto fail;
    }
    srv->loops = calloc(srv->cfg.threads, sizeof(*srv->loops));
    if (!srv->loops) {
        rc = WSJWT_ENOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < srv->cfg.threads; i++) {
        srv->n_loops = i + 1;
        rc = loop_init(srv, &srv->loops[i], i, srv->cfg.threads > 1);
        if (rc != 0)
            goto fail;
    }
    *out = srv;
    return 0;
fail:;
    int e = errno;
    wsjwt_server_free(srv);
    errno = e;
    return rc;
}

int wsjwt_server_port(const struct wsjwt_server *srv)
{
    return srv->port;
}

int wsjwt_server_start(struct wsjwt_server *srv)
{
    if (srv->started)
        return WSJWT_ESTATE;
    srv->started = 1;
    for (unsigned i = 0; i < srv->n_loops; i++) {
        struct wsjwt__loop *loop = &srv->loops[i];
        uv_poll_start(&loop->listen_poll, UV_READABLE, on_listen);
        uv_timer_start(&loop->tick, on_tick, srv->tick_ms, srv->tick_ms);
        uv_check_start(&loop->check, on_check);
        if (uv_thread_create(&loop->thread, loop_thread, loop) != 0) {
            /* The loops already running stop; the caller waits for them. */
            wsjwt_server_stop(srv);
            return WSJWT_EIO;
        }
        srv->n_started = i + 1;
    }
    return 0;
}

int wsjwt_server_wait(struct wsjwt_server *srv)
{
    if (!srv->started)
        return WSJWT_ESTATE;
    for (unsigned i = 0; i < srv->n_started; i++)
        uv_thread_join(&srv->loops[i].thread);
    srv->started = 0;
    srv->n_started = 0;
    return 0;
}

/* Wakes a loop unless its async handle is already closed. */
static void wake(struct wsjwt__loop *loop)
{
    uv_mutex_lock(&loop->inbox_mu);
    if (!uv_is_closing((uv_handle_t *)&loop->async))
        uv_async_send(&loop->async);
    uv_mutex_unlock(&loop->inbox_mu);
}

void wsjwt_server_stop(struct wsjwt_server *srv)
{
    atomic_store(&srv->stop_requested, 1);
    for (unsigned i = 0; i < srv->n_started; i++)
        wake(&srv->loops[i]);
}

void wsjwt_server_set_keyset(struct wsjwt_server *srv, struct wsjwt_keyset *keys)
{
    if (srv->keys && keys)
        wsjwt_keyring_swap(srv->keys, wsjwt_keyset_ref(keys));
}

struct wsjwt__tls_ctx *wsjwt__server_tls_ctx(struct wsjwt_server *srv)
{
    uv_mutex_lock(&srv->tls_mu);
    struct wsjwt__tls_ctx *ctx = srv->tls;
    wsjwt__tls_ctx_ref(ctx);
    uv_mutex_unlock(&srv->tls_mu);
    return ctx;
}

int wsjwt_server_reload_tls(struct wsjwt_server *srv, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (!srv->cfg.n_tls_certs)
        return WSJWT_ESTATE;
    /* Built outside the lock: reading files and keys takes milliseconds,
     * and accepts on every loop take this lock. */
    struct wsjwt__tls_ctx *ctx = NULL;
    int rc = wsjwt__tls_ctx_server_new_ca(srv->tls_certs, srv->cfg.n_tls_certs, srv->tls_client_ca, &ctx, err,
                                          errlen);
    if (rc != 0)
        return rc;
    uv_mutex_lock(&srv->tls_mu);
    struct wsjwt__tls_ctx *old = srv->tls;
    srv->tls = ctx;
    uv_mutex_unlock(&srv->tls_mu);
    wsjwt__tls_ctx_unref(old); /* open connections hold their own references */
    return 0;
}

void wsjwt_server_stats(struct wsjwt_server *srv, struct wsjwt_server_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < srv->n_loops; i++) {
        struct wsjwt__stats *s = &srv->loops[i].stats;
#define ADD(f) out->f += atomic_load_explicit(&s->f, memory_order_relaxed)
        ADD(accepted);
        ADD(upgraded);
        ADD(refused);
        ADD(open);
        ADD(messages_in);
        ADD(messages_out);
        ADD(backpressure);
        ADD(expired);
        ADD(protocol_errors);
        ADD(accept_errors);
#undef ADD
    }
}

static void close_all_handles(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void wsjwt_server_free(struct wsjwt_server *srv)
{
    if (!srv)
        return;
    for (unsigned i = 0; i < srv->n_loops; i++) {
        struct wsjwt__loop *loop = &srv->loops[i];
        if (loop->uv.data == loop) {
            /* Never started, or stopped: close what is left and let the
             * close callbacks run. */
            uv_walk(&loop->uv, close_all_handles, NULL);
            uv_run(&loop->uv, UV_RUN_DEFAULT);
            uv_loop_close(&loop->uv);
            uv_mutex_destroy(&loop->inbox_mu);
        }
        wsjwt__acceptor_close(&loop->acc);
        free(loop->rbuf);
        free(loop->cork);
        free(loop->headers);
        free(loop->scratch);
        if (loop->pmd) {
            for (size_t j = 0; j < 7; j++)
                wsjwt__pmd_ctx_free(&loop->pmd->shared[j]);
            wsjwt__pmd_buf_free(&loop->pmd->rx);
            wsjwt__pmd_buf_free(&loop->pmd->tx);
            free(loop->pmd);
        }
        free(loop->tbuf);
        for (size_t j = 0; j < loop->inbox_len; j++)
            if (atomic_fetch_sub(&loop->inbox[j]->refs, 1) == 1)
                free(loop->inbox[j]);
        free(loop->inbox);
    }
    free(srv->loops);
    if (srv->keys)
        wsjwt_keyring_free(srv->keys);
    if (srv->tls) {
        wsjwt__tls_ctx_unref(srv->tls);
        uv_mutex_destroy(&srv->tls_mu);
    }
    if (srv->tls_certs) {
        for (size_t i = 0; i < srv->cfg.n_tls_certs; i++) {
            free((char *)srv->tls_certs[i].cert_file);
            free((char *)srv->tls_certs[i].key_file);
        }
        free(srv->tls_certs);
    }
    free(srv->tls_client_ca);
    free(srv->host);
    free(srv->token_header);
    free(srv->token_query);
    free(srv->token_cookie);
    if (srv->origins)
        for (size_t i = 0; i < srv->cfg.n_origins; i++)
            free(srv->origins[i]);
    free(srv->origins);
    free(srv);
}

/* ---- broadcast ----------------------------------------------------------------- */

/* The loop whose thread is calling, or NULL (then the broadcast goes
 * uncompressed): its shared deflater is the one this thread may use. */
static struct wsjwt__loop *bcast_loop(struct wsjwt_server *srv)
{
    uv_thread_t self = uv_thread_self();
    for (unsigned i = 0; i < srv->n_started; i++)
        if (uv_thread_equal(&self, &srv->loops[i].thread))
            return &srv->loops[i];
    return NULL;
}

int wsjwt_server_broadcast(struct wsjwt_server *srv, struct wsjwt_conn *except, const void *data, size_t len,
                           int binary)
{
    if (len > srv->cfg.max_message)
        return WSJWT_ETOOBIG;
    size_t hl = wsjwt__ws_header_size(len, 0);
    unsigned opcode = binary ? WSJWT__WS_BINARY : WSJWT__WS_TEXT;
    /* Compressed once, for every receiver whose answer lets it read a
     * 15-bit-window message without context takeover (all of shared mode),
     * with the calling loop's shared deflater. */
    struct wsjwt__pmd_buf *z = NULL;
    struct wsjwt__loop *cur = bcast_loop(srv); /* never another thread's deflater */
    if (cur && cur->pmd && len >= srv->pmd_threshold) {
        z = &cur->pmd->tx;
        z->len = 0;
        if (wsjwt__pmd_ctx_deflate(&cur->pmd->shared[6], data, len, z) != 0)
            z = NULL;
    }
    size_t zhl = z ? wsjwt__ws_header_size(z->len, 0) : 0, zl = z ? zhl + z->len : 0;
    struct wsjwt__bcast *b = malloc(sizeof(*b) + hl + len + zl);
    if (!b)
        return WSJWT_ENOMEM;
    size_t w;
    wsjwt__ws_write_header(b->frame, hl, WSJWT__WS_FIN | opcode, len, NULL, &w);
    if (len)
        memcpy(b->frame + hl, data, len);
    b->len = hl + len;
    b->zframe = NULL;
    b->zlen = 0;
    if (z) {
        uint8_t *zf = b->frame + b->len;
        wsjwt__ws_write_header(zf, zhl, WSJWT__WS_FIN | WSJWT__WS_RSV1 | opcode, z->len, NULL, &w);
        memcpy(zf + zhl, z->data, z->len);
        b->zframe = zf;
        b->zlen = zl;
    }
    b->except = except;
    atomic_init(&b->refs, 1);
    struct wsjwt__loop *own = except ? except->loop : NULL;
    for (unsigned i = 0; i < srv->n_loops; i++) {
        struct wsjwt__loop *loop = &srv->loops[i];
        if (loop == own)
            continue;
        uv_mutex_lock(&loop->inbox_mu);
        if (!uv_is_closing((uv_handle_t *)&loop->async)) {
            if (loop->inbox_len == loop->inbox_cap) {
                size_t cap = loop->inbox_cap ? loop->inbox_cap * 2 : 16;
                struct wsjwt__bcast **n = realloc(loop->inbox, cap * sizeof(*n));
                if (!n) {
                    uv_mutex_unlock(&loop->inbox_mu);
                    continue;
                }
                loop->inbox = n;
                loop->inbox_cap = cap;
            }
            atomic_fetch_add(&b->refs, 1);
            loop->inbox[loop->inbox_len++] = b;
            uv_async_send(&loop->async);
        }
        uv_mutex_unlock(&loop->inbox_mu);
    }
    if (own)
        wsjwt__loop_deliver(own, b);
    if (atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
    return 0;
}
