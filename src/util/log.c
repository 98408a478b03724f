/* SPDX-License-Identifier: Apache-2.0 */
/* util/log.c: the daemon's structured log: one JSON object per line on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

static void put_json_string(struct zl_buf *b, const char *s)
{
    zl_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            zl_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            zl_buf_puts(b, "\\n");
        else if (c == '\t')
            zl_buf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            zl_buf_printf(b, "\\u%04x", c);
        else
            zl_buf_putc(b, (char)c);
    }
    zl_buf_putc(b, '"');
}

static int64_t clock_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t zl_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t zl_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

void zl_time_rfc3339(char *buf, size_t cap, bool nanos)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    zl_time_rfc3339_at(buf, cap, ts.tv_sec, ts.tv_nsec, nanos);
}

void zl_time_rfc3339_at(char *buf, size_t cap, int64_t secs, long nsec, bool nanos)
{
    struct timespec ts = {(time_t)secs, nsec};
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    if (nanos)
        snprintf(buf + n, cap - n, ".%09ldZ", ts.tv_nsec);
    else
        snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void zl_log(const char *level, const char *room, const char *fmt, ...)
{
    char when[48];
    zl_time_rfc3339(when, sizeof(when), false);
    struct zl_buf msg, line;
    zl_buf_init(&msg);
    zl_buf_init(&line);
    va_list ap;
    va_start(ap, fmt);
    zl_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    zl_buf_printf(&line, "{\"ts\":\"%s\",\"level\":", when);
    put_json_string(&line, level);
    zl_buf_puts(&line, ",\"room\":");
    put_json_string(&line, room);
    zl_buf_puts(&line, ",\"msg\":");
    put_json_string(&line, msg.data ? msg.data : "");
    zl_buf_puts(&line, "}\n");
    /* one write per line: lines from several threads do not interleave */
    ssize_t w = write(STDERR_FILENO, line.data, line.len);
    (void)w;
    zl_buf_fini(&msg);
    zl_buf_fini(&line);
}
