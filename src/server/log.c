/* logfmt lines on stderr: `ts=... level=info event=refused key=value ...`.
 * One fprintf per line, so lines from several loop threads do not mix (stdio
 * locks the stream for the call). */
#include <stdarg.h>
#include <stdio.h>
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

int wsjwt__log_enabled(const struct wsjwt_server *srv, enum wsjwt_log_level level)
{
    enum wsjwt_log_level max = srv->cfg.log_level == WSJWT_LOG_DEFAULT ? WSJWT_LOG_INFO : srv->cfg.log_level;
    return max != WSJWT_LOG_OFF && level <= max;
}

void wsjwt__log(const struct wsjwt_server *srv, enum wsjwt_log_level level, const char *event,
                const char *fmt, ...)
{
    if (!wsjwt__log_enabled(srv, level))
        return;
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
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    fprintf(stderr, "%s\n", line);
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
