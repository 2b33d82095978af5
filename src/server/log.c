/* logfmt lines on stderr: `ts=... level=info event=refused key=value ...`.
 * One fprintf per line, so lines from several loop threads do not mix (stdio
 * locks the stream for the call).
 *
 * The loop threads never wait for stderr: when it is a pipe or socket that
 * is full (a log collector that stalls or falls behind a flood of refusals),
 * the line is dropped and counted, and the count is reported in an
 * `event=log_dropped` line once stderr takes lines again. Blocking there
 * would stop every connection of the loop: an unauthenticated flood of ~400
 * refused upgrades froze the server behind a stalled reader
 * (tests/abuse/faults.test.mjs, log-stall). */
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

static const char *level_name(enum wsjwt_log_level l)
{
    switch (l) {
    case WSJWT_LOG_ERROR:
        return "error";
    case WSJWT_LOG_WARN:
        return "warn";
    case WSJWT_LOG_DEBUG:
        return "debug";
    default:
        return "info";
    }
}

static int enabled(enum wsjwt_log_level max, enum wsjwt_log_level level)
{
    if (max == WSJWT_LOG_DEFAULT)
        max = WSJWT_LOG_INFO;
    return max != WSJWT_LOG_OFF && level <= max;
}

int wsjwt__log_enabled(const struct wsjwt_server *srv, enum wsjwt_log_level level)
{
    return enabled(srv->cfg.log_level, level);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
static void
vlog(enum wsjwt_log_level level, const char *event, const char *fmt, va_list ap)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_name(level), event);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (m < 0)
        return;
    /* A line with no key=value after the event ends without a blank. */
    size_t len = strlen(line);
    if (len && line[len - 1] == ' ')
        line[--len] = '\0';
    /* stderr is one per process, and so is its count of dropped lines. */
    static atomic_ulong dropped;
    struct pollfd pfd = {.fd = 2, .events = POLLOUT};
    if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT)) {
        atomic_fetch_add(&dropped, 1);
        return;
    }
    unsigned long d = atomic_exchange(&dropped, 0);
    if (d) /* with this line's timestamp: the drops ended by now */
        fprintf(stderr, "%.*slevel=warn event=log_dropped lines=%lu\n", (int)(strstr(line, "level=") - line),
                line, d);
    fprintf(stderr, "%s\n", line);
}

void wsjwt__log(const struct wsjwt_server *srv, enum wsjwt_log_level level, const char *event,
                const char *fmt, ...)
{
    if (!wsjwt__log_enabled(srv, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, event, fmt, ap);
    va_end(ap);
}

void wsjwt_server_log(const struct wsjwt_server *srv, enum wsjwt_log_level level, const char *event,
                      const char *fmt, ...)
{
    if (!enabled(srv ? srv->cfg.log_level : WSJWT_LOG_DEFAULT, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, event, fmt, ap);
    va_end(ap);
}

const char *wsjwt__log_quote(char *dst, size_t cap, const char *src, size_t len)
{
    size_t o = 0;
    if (cap == 0)
        return dst;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == '"' || ch == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            /* A peer controls these bytes: never let it forge a log line. */
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", ch);
        } else {
            dst[o++] = (char)ch;
        }
    }
    dst[o] = '\0';
    return dst;
}
