/* Abuse case "callbacks": an application that closes connections, its own
 * and others, from inside every callback (on_upgrade, on_open, on_message,
 * on_drain, on_close, and on_close during shutdown), and sends to
 * connections that are closing. The server must give every opened
 * connection exactly one on_close, answer each misuse with WSJWT_ESTATE, and
 * (under the ASan build) never touch freed memory.
 *
 * The server runs on its own thread (one loop); this thread is a blocking
 * raw client on 127.0.0.1. Application state is touched only on the loop
 * thread, except the counters, which are read under a mutex. Prints one
 * summary line "abuse: callbacks: ..." and exits 0 when every check held. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <wsjwt/wsjwt.h>

#define MAX_CONNS 64
#define PEERS     20

static int failures;
#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                         \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

enum action { ACT_PEER = 0, ACT_OPEN_CLOSE, ACT_KILLER, ACT_DRAIN_CLOSE, ACT_CASCADE, ACT_SHUTDOWN_SEND };

struct app {
    pthread_mutex_t mu;
    /* loop thread only */
    struct wsjwt_conn *open[MAX_CONNS];
    int n_open;
    /* under mu */
    int opens, closes, estate, bad, drains;
};

static struct app app = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void count(int *field)
{
    pthread_mutex_lock(&app.mu);
    (*field)++;
    pthread_mutex_unlock(&app.mu);
}

/* rc must be WSJWT_ESTATE (a call on a connection that is not open). */
static void want_estate(int rc)
{
    count(rc == WSJWT_ESTATE ? &app.estate : &app.bad);
}

static int read_count(const int *field)
{
    pthread_mutex_lock(&app.mu);
    int v = *field;
    pthread_mutex_unlock(&app.mu);
    return v;
}

static enum action conn_action(struct wsjwt_conn *c)
{
    return (enum action)(intptr_t)wsjwt_conn_user(c);
}

/* Closes every other open connection with code, then sends to each: they
 * are closing now, so every send is WSJWT_ESTATE. */
static void close_others(struct wsjwt_conn *self, int code)
{
    for (int i = 0; i < app.n_open; i++) {
        struct wsjwt_conn *o = app.open[i];
        if (o == self)
            continue;
        if (wsjwt_conn_close(o, code, "closed by another connection's callback") == 0) {
            want_estate(wsjwt_conn_send(o, "late", 4, 0));
            want_estate(wsjwt_conn_close(o, code, NULL));
        }
    }
}

static int on_upgrade(struct wsjwt_conn *c, const struct wsjwt_jwt *jwt, void *user)
{
    const char *path;
    size_t n;
    (void)jwt;
    (void)user;
    /* Not open yet: close, send and ping are refused. */
    want_estate(wsjwt_conn_close(c, 4000, "too early"));
    want_estate(wsjwt_conn_send(c, "early", 5, 0));
    want_estate(wsjwt_conn_ping(c, NULL, 0));
    if (wsjwt_conn_path(c, &path, &n) != 0)
        return 500;
    static const struct {
        const char *path;
        enum action a;
    } routes[] = {{"/peer", ACT_PEER},       {"/open-close", ACT_OPEN_CLOSE},
                  {"/killer", ACT_KILLER},   {"/drain-close", ACT_DRAIN_CLOSE},
                  {"/cascade", ACT_CASCADE}, {"/shutdown-send", ACT_SHUTDOWN_SEND}};
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strlen(routes[i].path) == n && memcmp(routes[i].path, path, n) == 0) {
            wsjwt_conn_set_user(c, (void *)(intptr_t)routes[i].a);
            return WSJWT_UPGRADE_ACCEPT;
        }
    }
    return 404;
}

static void on_open(struct wsjwt_conn *c, void *user)
{
    (void)user;
    count(&app.opens);
    if (app.n_open < MAX_CONNS)
        app.open[app.n_open++] = c;
    else
        count(&app.bad);
    if (conn_action(c) == ACT_OPEN_CLOSE) {
        if (wsjwt_conn_close(c, 4001, "closed in on_open") != 0)
            count(&app.bad);
        want_estate(wsjwt_conn_send(c, "late", 4, 0));
        want_estate(wsjwt_conn_close(c, 4001, NULL));
    }
}

static void on_message(struct wsjwt_conn *c, const void *data, size_t len, int binary, void *user)
{
    (void)user;
    switch (conn_action(c)) {
    case ACT_KILLER:
        close_others(c, 4002);
        if (wsjwt_conn_close(c, 4003, "closed in on_message") != 0)
            count(&app.bad);
        want_estate(wsjwt_conn_send(c, data, len, binary));
        break;
    case ACT_DRAIN_CLOSE: {
        /* Fill the queue past its cap; on_drain closes. */
        static const uint8_t big[16384];
        int n = 0;
        while (n < 1000 && wsjwt_conn_send(c, big, sizeof(big), 1) == 0)
            n++;
        if (n == 1000)
            count(&app.bad);
        break;
    }
    default:
        if (wsjwt_conn_send(c, data, len, binary) != 0)
            count(&app.bad);
        break;
    }
}

static void on_drain(struct wsjwt_conn *c, void *user)
{
    (void)user;
    count(&app.drains);
    if (wsjwt_conn_close(c, 4004, "closed in on_drain") != 0)
        count(&app.bad);
    want_estate(wsjwt_conn_send(c, "late", 4, 0));
}

static void on_close(struct wsjwt_conn *c, int code, const char *reason, void *user)
{
    (void)user;
    (void)reason;
    (void)code;
    count(&app.closes);
    for (int i = 0; i < app.n_open; i++) {
        if (app.open[i] == c) {
            app.open[i] = app.open[--app.n_open];
            break;
        }
    }
    /* Gone: every call on it is refused. */
    want_estate(wsjwt_conn_close(c, 4000, NULL));
    want_estate(wsjwt_conn_send(c, "gone", 4, 0));
    if (conn_action(c) == ACT_CASCADE)
        close_others(c, 4005);
    if (conn_action(c) == ACT_SHUTDOWN_SEND) {
        /* During shutdown every other connection is closing (1001): sends
         * to them are refused, never queued on a dying connection. */
        for (int i = 0; i < app.n_open; i++)
            want_estate(wsjwt_conn_send(app.open[i], "bye", 3, 0));
    }
}

/* ---- a blocking raw client --------------------------------------------------------------- */

static int cli_connect(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        perror("connect");
        exit(1);
    }
    return s;
}

/* Sends an upgrade request for path; returns the response status (0: the
 * connection closed first). */
static int cli_upgrade(int s, const char *path)
{
    char req[512], head[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path);
    if (send(s, req, (size_t)n, MSG_NOSIGNAL) != n)
        return 0;
    size_t len = 0;
    while (len < sizeof(head) - 1) {
        if (recv(s, head + len, 1, 0) != 1)
            return 0;
        len++;
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[len] = '\0';
    return strncmp(head, "HTTP/1.1 ", 9) == 0 ? atoi(head + 9) : -1;
}

static void cli_send(int s, unsigned opcode, const void *data, size_t len)
{
    uint8_t f[140];
    const uint8_t mask[4] = {9, 8, 7, 6};
    f[0] = (uint8_t)(0x80 | opcode);
    f[1] = (uint8_t)(0x80 | len);
    memcpy(f + 2, mask, 4);
    for (size_t i = 0; i < len && i < 125; i++)
        f[6 + i] = ((const uint8_t *)data)[i] ^ mask[i & 3];
    CHECK(send(s, f, 6 + len, MSG_NOSIGNAL) == (ssize_t)(6 + len));
}

static int recv_all(int s, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(s, (char *)buf + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Reads frames until a close; returns its code (1005 when empty), -1 on EOF
 * or timeout. Data frames of any size are skipped; *data_frames counts them. */
static int cli_close_code(int s, int *data_frames)
{
    for (;;) {
        uint8_t h[10], p[65536];
        if (recv_all(s, h, 2) != 0)
            return -1;
        uint64_t n = h[1] & 0x7f;
        if (n == 126) {
            if (recv_all(s, h + 2, 2) != 0)
                return -1;
            n = (uint64_t)h[2] << 8 | h[3];
        } else if (n == 127) {
            return -1; /* never sent by this test's server */
        }
        if (n && recv_all(s, p, (size_t)n) != 0)
            return -1;
        if ((h[0] & 0x0f) == 8)
            return n >= 2 ? (p[0] << 8 | p[1]) : 1005;
        if (data_frames)
            (*data_frames)++;
    }
}

/* Answers the server's close and waits for TCP to end. */
static void cli_finish(int s)
{
    char b;
    cli_send(s, 8, "\x03\xe8", 2);
    while (recv(s, &b, 1, 0) > 0) {
    }
    close(s);
}

static void wait_closes(int want)
{
    for (int i = 0; i < 500 && read_count(&app.closes) < want; i++)
        usleep(10000);
}

int main(void)
{
    struct wsjwt_server_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.threads = 1;
    cfg.insecure_no_auth = 1;
    cfg.log_level = WSJWT_LOG_OFF;
    cfg.max_backpressure = 64 * 1024;
    cfg.shutdown_timeout_ms = 2000;
    cfg.on_upgrade = on_upgrade;
    cfg.on_open = on_open;
    cfg.on_message = on_message;
    cfg.on_drain = on_drain;
    cfg.on_close = on_close;
    struct wsjwt_server *srv = NULL;
    if (wsjwt_server_new(&cfg, &srv) != 0 || wsjwt_server_start(srv) != 0) {
        fprintf(stderr, "server did not start\n");
        return 1;
    }
    int port = wsjwt_server_port(srv);
    int peers[PEERS], s, frames = 0, closes_seen = 0, expected_closes = 0;

    /* on_upgrade: close/send/ping refused; an unknown path refused with 404. */
    s = cli_connect(port);
    CHECK(cli_upgrade(s, "/nowhere") == 404);
    close(s);

    /* on_open closes its own connection. */
    s = cli_connect(port);
    CHECK(cli_upgrade(s, "/open-close") == 101);
    CHECK(cli_close_code(s, NULL) == 4001);
    cli_finish(s);
    expected_closes++;
    closes_seen++;

    /* on_message closes every other connection, then its own. */
    for (int i = 0; i < PEERS; i++) {
        peers[i] = cli_connect(port);
        CHECK(cli_upgrade(peers[i], "/peer") == 101);
    }
    s = cli_connect(port);
    CHECK(cli_upgrade(s, "/killer") == 101);
    cli_send(s, 1, "kill", 4);
    CHECK(cli_close_code(s, NULL) == 4003);
    cli_finish(s);
    for (int i = 0; i < PEERS; i++) {
        int code = cli_close_code(peers[i], NULL);
        CHECK(code == 4002);
        closes_seen += code == 4002;
        cli_finish(peers[i]);
    }
    expected_closes += PEERS + 1;
    closes_seen++;

    /* on_drain closes: the data queued before the close arrives first. */
    s = cli_connect(port);
    CHECK(cli_upgrade(s, "/drain-close") == 101);
    cli_send(s, 2, "fill", 4);
    usleep(100000); /* let the queue pass its cap before we read */
    int code = cli_close_code(s, &frames);
    CHECK(code == 4004);
    CHECK(frames > 4);
    closes_seen += code == 4004;
    cli_finish(s);
    expected_closes++;

    /* on_close (TCP dropped without a close) closes every other connection. */
    for (int i = 0; i < PEERS; i++) {
        peers[i] = cli_connect(port);
        CHECK(cli_upgrade(peers[i], "/peer") == 101);
    }
    s = cli_connect(port);
    CHECK(cli_upgrade(s, "/cascade") == 101);
    close(s);
    for (int i = 0; i < PEERS; i++) {
        code = cli_close_code(peers[i], NULL);
        CHECK(code == 4005);
        closes_seen += code == 4005;
        cli_finish(peers[i]);
    }
    expected_closes += PEERS + 1;
    wait_closes(expected_closes);

    /* Shutdown: on_close of one connection sends to the others, which are
     * closing with 1001. */
    for (int i = 0; i < PEERS; i++) {
        peers[i] = cli_connect(port);
        CHECK(cli_upgrade(peers[i], i == 0 ? "/shutdown-send" : "/peer") == 101);
    }
    wsjwt_server_stop(srv);
    for (int i = 0; i < PEERS; i++) {
        code = cli_close_code(peers[i], NULL);
        CHECK(code == 1001);
        closes_seen += code == 1001;
        cli_finish(peers[i]);
    }
    expected_closes += PEERS;
    CHECK(wsjwt_server_wait(srv) == 0);
    wsjwt_server_free(srv);

    int opens = read_count(&app.opens), closes = read_count(&app.closes);
    int estate = read_count(&app.estate), bad = read_count(&app.bad);
    CHECK(opens == expected_closes);
    CHECK(closes == opens);
    CHECK(bad == 0);
    printf(
        "abuse: callbacks: %d connections closed from inside on_upgrade/on_open/on_message/on_drain/on_close "
        "and during shutdown, %d closes seen by clients, on_close %d/%d, %d calls on closing "
        "connections refused with WSJWT_ESTATE, wrong results: %d, failed checks: %d\n",
        opens, closes_seen, closes, opens, estate, bad, failures);
    return failures == 0 ? 0 : 1;
}
