/* SPDX-License-Identifier: Apache-2.0 */
/* util/err.c: the error type and assertions. */
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

_Noreturn void zl_assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "zlayer: internal error: assertion '%s' failed at %s:%d\n", what, file, line);
    fflush(stderr);
    abort();
}

int zl_err_set(struct zl_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = -code;
    }
    return -code;
}

int zl_err_sys(struct zl_err *err, int errnum, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        if (n < 0)
            n = 0;
        if ((size_t)n < sizeof(err->msg))
            snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(errnum));
        err->code = -errnum;
    }
    return -errnum;
}

int zl_err_wrap(struct zl_err *err, const char *fmt, ...)
{
    if (!err)
        return -ZL_EINVAL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char old[sizeof(err->msg)];
    memcpy(old, err->msg, sizeof(old));
    size_t n = strlen(prefix);
    if (n > sizeof(err->msg) - 3)
        n = sizeof(err->msg) - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof(err->msg) - n - 3;
    size_t m = strnlen(old, room);
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
    return err->code;
}
