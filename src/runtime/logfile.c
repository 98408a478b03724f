/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/logfile.c: reading a container's output back from its monitor's JSON-line log. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

size_t zl_runtime_log_format(const char *text, size_t len, const char *prefix, const char *since,
                             struct zl_buf *out)
{
    size_t done = 0;
    while (done < len) {
        const char *nl = memchr(text + done, '\n', len - done);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (text + done));
        json_t *j = json_loadb(text + done, n, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "log"));
        const char *t = json_string_value(json_object_get(j, "time"));
        /* the times share one fixed-width UTC format: they compare as text */
        if (msg && (!since || !t || strcmp(t, since) >= 0)) {
            size_t ml = strlen(msg);
            if (ml && msg[ml - 1] == '\n')
                ml--;
            if (prefix)
                zl_buf_printf(out, "%s | ", prefix);
            zl_buf_append(out, msg, ml);
            zl_buf_putc(out, '\n');
        }
        json_decref(j);
        done += n + 1;
    }
    return done;
}

char *zl_runtime_log_tail(const char *log_file, long lines, const char *prefix, const char *since,
                          size_t *end)
{
    struct zl_buf out;
    zl_buf_init(&out);
    char *text = NULL;
    size_t len = 0;
    struct zl_err err;
    if (end)
        *end = 0;
    if (zl_read_file(log_file, 64u << 20, &text, &len, &err) == 0) {
        /* only whole lines: a line being written is left for later */
        while (len > 0 && text[len - 1] != '\n')
            len--;
        /* count back `lines` newlines */
        size_t start = len, seen = 0;
        while (lines > 0 && start > 0 && seen <= (size_t)lines)
            if (text[--start] == '\n' && ++seen > (size_t)lines)
                start++;
        if (lines > 0)
            zl_runtime_log_format(text + start, len - start, prefix, since, &out);
        if (end)
            *end = len;
    }
    free(text);
    char *res = zl_xstrdup(out.data ? out.data : "");
    zl_buf_fini(&out);
    return res;
}
