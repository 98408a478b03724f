/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/logfile.c: reading a container's output back from its monitor's JSON-line log. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

char *zl_runtime_log_tail(const char *log_file, long lines, const char *prefix)
{
    struct zl_buf out;
    zl_buf_init(&out);
    char *text = NULL;
    size_t len = 0;
    struct zl_err err;
    if (lines > 0 && zl_read_file(log_file, 64u << 20, &text, &len, &err) == 0) {
        /* count back `lines` newlines */
        size_t start = len, seen = 0;
        while (start > 0 && seen <= (size_t)lines)
            if (text[--start] == '\n' && ++seen > (size_t)lines)
                start++;
        char *save = NULL;
        for (char *l = strtok_r(text + start, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            json_t *j = json_loads(l, 0, NULL);
            const char *msg = json_string_value(json_object_get(j, "log"));
            if (msg) {
                size_t ml = strlen(msg);
                if (ml && msg[ml - 1] == '\n')
                    ml--;
                if (prefix)
                    zl_buf_printf(&out, "%s | ", prefix);
                zl_buf_printf(&out, "%.*s\n", (int)ml, msg);
            }
            json_decref(j);
        }
    }
    free(text);
    char *res = zl_xstrdup(out.data ? out.data : "");
    zl_buf_fini(&out);
    return res;
}
