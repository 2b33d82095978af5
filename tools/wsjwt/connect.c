/* wsjwt connect URL: an interactive WebSocket client (like wscat), or a pipe
 * filter when stdin is not a terminal, on the wsjwt client library. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <wsjwt/client.h>

#include "cmd.h"
#include "tokenopts.h"

#define CMD         "wsjwt connect"
#define MAX_HEADERS 32
#define MAX_EXEC    256
/* A typed or piped line is one message: the server's default cap. */
#define MAX_LINE (1024u * 1024u)

struct app {
    uv_loop_t *loop;
    struct wsjwt_client *client;
    uv_stream_t *in; /* stdin as tty or pipe, or NULL */
    uv_tty_t in_tty;
    uv_pipe_t in_pipe;
    uv_timer_t wait_timer;
    uv_signal_t sigint;
    int interactive;
    int base64;
    const char *exec[MAX_EXEC];
    size_t n_exec;
    uint64_t wait_ms;
    size_t sent, received;
    int input_done; /* -x sent, or stdin ended */
    int closing;
    int exit_code;
    int opened;
    char *line;
    size_t line_len;
    char chunk[65536]; /* stdin reads; consumed before the next read */
};

static void help(FILE *out)
{
    fputs("usage: wsjwt connect URL [OPTIONS]\n\n"
          "Opens a WebSocket to URL (ws:// or wss://host[:port][/path][?query], IPv6 as [::1]).\n"
          "On a terminal: each line typed is sent as a text message; received messages\n"
          "are printed as they arrive (< text, binary as hex or base64); commands:\n"
          "  /ping [DATA]          send a ping (the pong is printed)\n"
          "  /close [CODE [REASON]] close (default 1000); Ctrl-D closes too\n"
          "  //...                 send a line that starts with '/'\n"
          "Not a terminal: lines from stdin are sent, messages go to stdout one per\n"
          "line; when stdin ends the client waits for as many replies as it sent (at\n"
          "most --wait), then closes with 1000.\n\n"
          "options:\n"
          "  --ca FILE             wss://: trust the CAs in FILE (PEM) instead of the system's store\n"
          "  --insecure            wss://: do not verify the server's certificate (testing only)\n"
          "  --tls-cert FILE --tls-key FILE  wss://: client certificate chain and its key (PEM;\n"
          "                      --key is the JWT signing key, as in wsjwt sign)\n"
          "  -x MESSAGE            send MESSAGE (repeatable), wait for the replies, close\n"
          "  --wait SECONDS        how long to wait for replies (default 2)\n"
          "  -H 'Name: value'      extra request header (repeatable)\n"
          "  --origin ORIGIN       Origin header\n"
          "  --protocol P          offer subprotocol P (repeatable)\n"
          "  --binary-format F     hex (default) or base64\n"
          "  --deflate             offer permessage-deflate (RFC 7692), as browsers do\n"
          "  --deflate-no-context-takeover  offer it without context takeover both ways\n\n",
          out);
    tokenopts_help(out);
    fputs("\nexit: 0 normal close (1000), 1 refused upgrade (the HTTP status is printed),\n"
          "failure or any other close code (printed), 2 usage\n",
          out);
}

/* ---- output ----------------------------------------------------------------- */

static void print_binary(FILE *f, const uint8_t *p, size_t n, int base64)
{
    static const char hex[] = "0123456789abcdef";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!base64) {
        for (size_t i = 0; i < n; i++) {
            fputc(hex[p[i] >> 4], f);
            fputc(hex[p[i] & 15], f);
        }
        return;
    }
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        fputc(b64[(v >> 18) & 63], f);
        fputc(b64[(v >> 12) & 63], f);
        fputc(i + 1 < n ? b64[(v >> 6) & 63] : '=', f);
        fputc(i + 2 < n ? b64[v & 63] : '=', f);
    }
}

/* ---- the end ---------------------------------------------------------------- */

static void stop_input(struct app *a)
{
    if (a->in && !uv_is_closing((uv_handle_t *)a->in)) {
        uv_read_stop(a->in);
        uv_close((uv_handle_t *)a->in, NULL);
    }
    if (!uv_is_closing((uv_handle_t *)&a->wait_timer))
        uv_close((uv_handle_t *)&a->wait_timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&a->sigint))
        uv_close((uv_handle_t *)&a->sigint, NULL);
}

static void start_close(struct app *a, int code, const char *reason)
{
    if (a->closing)
        return;
    a->closing = 1;
    int rc = wsjwt_client_close(a->client, code, reason);
    if (rc)
        fprintf(stderr, CMD ": close: %s\n", wsjwt_strerror(rc));
}

/* Input finished: close when the replies are in, or when --wait runs out. */
static void check_done(struct app *a)
{
    if (a->input_done && !a->interactive && a->received >= a->sent)
        start_close(a, 1000, NULL);
}

static void on_wait(uv_timer_t *t)
{
    struct app *a = t->data;
    start_close(a, 1000, NULL);
}

static void input_finished(struct app *a)
{
    if (a->input_done)
        return;
    a->input_done = 1;
    if (a->interactive) {
        start_close(a, 1000, NULL);
        return;
    }
    uv_timer_start(&a->wait_timer, on_wait, a->wait_ms, 0);
    check_done(a);
}

/* ---- input lines -------------------------------------------------------------- */

static void send_text(struct app *a, const char *s, size_t n)
{
    int rc = wsjwt_client_send(a->client, 0, s, n);
    if (rc)
        fprintf(stderr, CMD ": send: %s\n", wsjwt_strerror(rc));
    else
        a->sent++;
}

static void command(struct app *a, char *line, size_t n)
{
    line[n] = '\0';
    if (strncmp(line, "/ping", 5) == 0 && (line[5] == '\0' || line[5] == ' ')) {
        const char *d = line[5] ? line + 6 : "";
        int rc = wsjwt_client_ping(a->client, d, strlen(d));
        if (rc)
            fprintf(stderr, CMD ": ping: %s\n", wsjwt_strerror(rc));
        return;
    }
    if (strncmp(line, "/close", 6) == 0 && (line[6] == '\0' || line[6] == ' ')) {
        char *p = line + 6, *end = NULL;
        long code = 1000;
        while (*p == ' ')
            p++;
        if (*p) {
            errno = 0;
            code = strtol(p, &end, 10);
            if (errno || end == p || (*end && *end != ' ') || code < 1000 || code > 4999) {
                fprintf(stderr, CMD ": /close: bad code '%s'\n", p);
                return;
            }
            p = end;
            while (*p == ' ')
                p++;
        }
        if (a->closing)
            return;
        a->closing = 1;
        int rc = wsjwt_client_close(a->client, (int)code, *p ? p : NULL);
        if (rc) {
            a->closing = 0;
            fprintf(stderr, CMD ": /close: %s\n", wsjwt_strerror(rc));
        }
        return;
    }
    fprintf(stderr, CMD ": unknown command '%s' (/ping, /close; // sends a line starting with /)\n", line);
}

static void on_line(struct app *a, char *line, size_t n)
{
    if (n && line[n - 1] == '\r')
        n--;
    if (a->closing)
        return;
    if (a->interactive && n && line[0] == '/') {
        if (n > 1 && line[1] == '/')
            send_text(a, line + 1, n - 1);
        else
            command(a, line, n);
        return;
    }
    send_text(a, line, n);
}

static void on_in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct app *a = h->data;
    (void)hint;
    *b = uv_buf_init(a->chunk, sizeof(a->chunk));
}

static void feed(struct app *a, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (a->line_len + take > MAX_LINE) {
            fprintf(stderr, CMD ": input line over %u bytes: dropped\n", MAX_LINE);
            a->line_len = 0;
        } else {
            memcpy(a->line + a->line_len, p, take);
            a->line_len += take;
        }
        if (!nl)
            return;
        on_line(a, a->line, a->line_len);
        a->line_len = 0;
        p = nl + 1;
        n -= take + 1;
    }
}

static void on_in_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct app *a = s->data;
    if (nread > 0) {
        feed(a, b->base, (size_t)nread);
        return;
    }
    if (nread < 0) {
        if (a->line_len) {
            on_line(a, a->line, a->line_len);
            a->line_len = 0;
        }
        uv_read_stop(s);
        input_finished(a);
    }
}

static void start_input(struct app *a)
{
    if (a->n_exec) {
        for (size_t i = 0; i < a->n_exec; i++)
            send_text(a, a->exec[i], strlen(a->exec[i]));
        input_finished(a);
        return;
    }
    uv_handle_type t = uv_guess_handle(0);
    if (t == UV_TTY && uv_tty_init(a->loop, &a->in_tty, 0, 1) == 0) {
        a->in = (uv_stream_t *)&a->in_tty;
    } else if ((t == UV_NAMED_PIPE || t == UV_TCP) && uv_pipe_init(a->loop, &a->in_pipe, 0) == 0) {
        if (uv_pipe_open(&a->in_pipe, 0) == 0) {
            a->in = (uv_stream_t *)&a->in_pipe;
        } else {
            uv_close((uv_handle_t *)&a->in_pipe, NULL);
        }
    }
    if (!a->in) {
        /* A regular file (or /dev/null): read it all now. */
        char buf[65536];
        ssize_t n;
        while ((n = read(0, buf, sizeof(buf))) > 0)
            feed(a, buf, (size_t)n);
        if (a->line_len) {
            on_line(a, a->line, a->line_len);
            a->line_len = 0;
        }
        input_finished(a);
        return;
    }
    a->in->data = a;
    if (uv_read_start(a->in, on_in_alloc, on_in_read) != 0)
        input_finished(a);
}

/* ---- client callbacks ------------------------------------------------------------ */

static void on_open(struct wsjwt_client *c, const char *protocol, void *user)
{
    struct app *a = user;
    (void)c;
    a->opened = 1;
    if (a->interactive) {
        if (protocol)
            fprintf(stderr, "connected (subprotocol %s); /ping, /close [code [reason]], Ctrl-D to close\n",
                    protocol);
        else
            fprintf(stderr, "connected; /ping, /close [code [reason]], Ctrl-D to close\n");
    }
    start_input(a);
}

static void on_message(struct wsjwt_client *c, int binary, const uint8_t *data, size_t len, void *user)
{
    struct app *a = user;
    (void)c;
    a->received++;
    if (a->interactive)
        fputs("< ", stdout);
    if (binary)
        print_binary(stdout, data, len, a->base64);
    else
        fwrite(data, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    check_done(a);
}

static void on_pong(struct wsjwt_client *c, const uint8_t *data, size_t len, void *user)
{
    struct app *a = user;
    (void)c;
    if (a->interactive) {
        fprintf(stderr, "pong %.*s\n", (int)len, (const char *)data);
    }
}

static void on_error(struct wsjwt_client *c, int err, const struct wsjwt_client_response *r, void *user)
{
    struct app *a = user;
    a->exit_code = 1;
    if (err == WSJWT_EHTTP_STATUS && r) {
        fprintf(stderr, CMD ": upgrade refused: HTTP %d %.*s\n", r->status, (int)r->reason_len, r->reason);
        const struct wsjwt_client_header *h = wsjwt_client_response_header(r, "WWW-Authenticate");
        if (h)
            fprintf(stderr, CMD ": WWW-Authenticate: %.*s\n", (int)h->value_len, h->value);
        return;
    }
    if (err == WSJWT_ETLS_VERIFY || err == WSJWT_ETLS) {
        char why[256];
        wsjwt_client_tls_error(c, why, sizeof(why));
        fprintf(stderr, CMD ": %s%s%s\n", wsjwt_strerror(err), why[0] ? ": " : "", why);
        return;
    }
    int os = wsjwt_client_os_error(c);
    if (os && (err == WSJWT_ECONNECT || err == WSJWT_ERESOLVE || err == WSJWT_EIO))
        fprintf(stderr, CMD ": %s: %s\n", wsjwt_strerror(err), uv_strerror(os));
    else if (r)
        fprintf(stderr, CMD ": %s (HTTP %d)\n", wsjwt_strerror(err), r->status);
    else
        fprintf(stderr, CMD ": %s\n", wsjwt_strerror(err));
}

/* RFC 6455 7.4.1 and the IANA registry: what a close code means. */
static const char *close_name(int code)
{
    static const char *const names[] = {"normal",
                                        "going away",
                                        "protocol error",
                                        "unsupported data",
                                        NULL,
                                        "no status code",
                                        "abnormal closure",
                                        "invalid payload",
                                        "policy violation",
                                        "message too big",
                                        "missing extension",
                                        "internal error",
                                        "service restart",
                                        "try again later",
                                        "bad gateway"};
    if (code >= 1000 && code <= 1014)
        return names[code - 1000];
    return NULL;
}

static void on_close(struct wsjwt_client *c, int code, const char *reason, size_t reason_len, void *user)
{
    struct app *a = user;
    (void)c;
    if (a->opened) {
        const char *name = close_name(code);
        fprintf(stderr, "closed: %d%s%s%s%s%.*s\n", code, name ? " (" : "", name ? name : "", name ? ")" : "",
                reason_len ? " " : "", (int)reason_len, reason);
        if (code != 1000 && code != 1005)
            a->exit_code = 1;
    }
    stop_input(a);
}

static void on_sigint(uv_signal_t *s, int sig)
{
    struct app *a = s->data;
    (void)sig;
    if (a->closing || !a->opened) {
        fprintf(stderr, CMD ": interrupted\n");
        exit(130);
    }
    start_close(a, 1000, NULL);
}

/* ---- main ----------------------------------------------------------------------- */

int cmd_connect(int argc, char **argv)
{
    struct tokenopts to;
    struct app a;
    struct wsjwt_client_header headers[MAX_HEADERS];
    const char *protocols[MAX_HEADERS];
    size_t n_headers = 0, n_protocols = 0;
    const char *url = NULL, *origin = NULL, *wait = NULL;
    struct wsjwt_tls_client_opts tlso;
    memset(&tlso, 0, sizeof(tlso));
    int deflate = 0;
    memset(&a, 0, sizeof(a));
    tokenopts_init(&to, CMD);
    for (int i = 1; i < argc;) {
        const char *v = NULL;
        int r;
        if ((r = tokenopts_parse(&to, argc, argv, &i)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return 0;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "-x", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR || opt_append(CMD, "-x", a.exec, &a.n_exec, MAX_EXEC, v) != OPT_CONSUMED)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "-H", &v)) != OPT_UNKNOWN) {
            const char *colon = v ? strchr(v, ':') : NULL;
            if (r == OPT_ERROR || !colon || colon == v || n_headers == MAX_HEADERS) {
                fprintf(stderr, CMD ": -H: expected 'Name: value'\n");
                return EXIT_USAGE;
            }
            const char *val = colon + 1;
            while (*val == ' ' || *val == '\t')
                val++;
            headers[n_headers++] = (struct wsjwt_client_header){v, (size_t)(colon - v), val, strlen(val)};
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--protocol", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR ||
                opt_append(CMD, "--protocol", protocols, &n_protocols, MAX_HEADERS, v) != OPT_CONSUMED)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--origin", &origin)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--ca", &tlso.ca_file)) != OPT_UNKNOWN ||
            (r = opt_value(CMD, argc, argv, &i, "--tls-cert", &tlso.cert_file)) != OPT_UNKNOWN ||
            (r = opt_value(CMD, argc, argv, &i, "--tls-key", &tlso.key_file)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if (strcmp(argv[i], "--insecure") == 0) {
            tlso.insecure = 1;
            i++;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--wait", &wait)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR)
                return EXIT_USAGE;
            continue;
        }
        if (strcmp(argv[i], "--deflate") == 0 || strcmp(argv[i], "--deflate-no-context-takeover") == 0) {
            deflate = argv[i][9] ? 2 : 1;
            i++;
            continue;
        }
        if ((r = opt_value(CMD, argc, argv, &i, "--binary-format", &v)) != OPT_UNKNOWN) {
            if (r == OPT_ERROR || (strcmp(v, "hex") != 0 && strcmp(v, "base64") != 0)) {
                fprintf(stderr, CMD ": --binary-format: hex or base64\n");
                return EXIT_USAGE;
            }
            a.base64 = strcmp(v, "base64") == 0;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, CMD ": unknown option '%s' (see wsjwt connect --help)\n", argv[i]);
            return EXIT_USAGE;
        }
        if (url) {
            fprintf(stderr, CMD ": one URL only ('%s')\n", argv[i]);
            return EXIT_USAGE;
        }
        url = argv[i++];
    }
    if (!url) {
        fprintf(stderr, CMD ": a URL is required (ws://host:port/path)\n");
        return EXIT_USAGE;
    }
    a.wait_ms = 2000;
    if (wait) {
        char *end = NULL;
        double s = strtod(wait, &end);
        if (end == wait || *end || s < 0 || s > 86400) {
            fprintf(stderr, CMD ": --wait: seconds (0 to 86400)\n");
            return EXIT_USAGE;
        }
        a.wait_ms = (uint64_t)(s * 1000.0);
    }
    struct wsjwt_tls_client *tls = NULL;
    if (strncasecmp(url, "wss://", 6) == 0) {
        char err[512];
        if (tlso.insecure)
            fprintf(stderr, CMD ": warning: --insecure: the server's certificate is NOT verified\n");
        if (wsjwt_tls_client_new(&tlso, &tls, err, sizeof(err)) != 0) {
            fprintf(stderr, CMD ": %s\n", err);
            return EXIT_USAGE;
        }
    }
    int rc = tokenopts_prepare(&to);
    if (rc) {
        wsjwt_tls_client_free(tls);
        tokenopts_release(&to);
        return rc;
    }
    char *token = NULL;
    int owned = 0;
    if ((rc = tokenopts_token(&to, &token, &owned)) != 0) {
        wsjwt_tls_client_free(tls);
        tokenopts_release(&to);
        return rc;
    }
    a.interactive = a.n_exec == 0 && isatty(0) && isatty(1);
    a.line = malloc(MAX_LINE + 1);
    a.loop = uv_default_loop();
    struct wsjwt_client_opts o = {
        .url = url,
        .token = token,
        .token_place = to.place,
        .token_name = to.name,
        .origin = origin,
        .protocols = protocols,
        .n_protocols = n_protocols,
        .headers = headers,
        .n_headers = n_headers,
        .deflate = deflate,
        .cb = {on_open, on_message, on_pong, on_error, on_close},
        .user = &a,
        .tls = tls,
    };
    rc = a.line ? wsjwt_client_new(a.loop, &o, &a.client) : WSJWT_ENOMEM;
    tokenopts_free_token(token, owned);
    tokenopts_release(&to);
    wsjwt_tls_client_free(tls); /* the client holds its own reference */
    if (rc) {
        fprintf(stderr, CMD ": %s: %s\n", url,
                rc == WSJWT_EUNSUPPORTED ? "wss:// is not supported yet" : wsjwt_strerror(rc));
        free(a.line);
        return rc == WSJWT_ENOMEM ? EXIT_REFUSED : EXIT_USAGE;
    }
    uv_timer_init(a.loop, &a.wait_timer);
    a.wait_timer.data = &a;
    uv_signal_init(a.loop, &a.sigint);
    a.sigint.data = &a;
    uv_signal_start(&a.sigint, on_sigint, SIGINT);
    rc = wsjwt_client_connect(a.client);
    if (rc) {
        fprintf(stderr, CMD ": %s\n", wsjwt_strerror(rc));
        a.exit_code = 1;
        stop_input(&a);
    }
    uv_run(a.loop, UV_RUN_DEFAULT);
    wsjwt_client_free(a.client);
    uv_run(a.loop, UV_RUN_DEFAULT);
    uv_loop_close(a.loop);
    free(a.line);
    return a.exit_code;
}
