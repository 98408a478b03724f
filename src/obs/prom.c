/* SPDX-License-Identifier: Apache-2.0 */
/* obs/prom.c: the Prometheus text exposition format, version 0.0.4: lines of
 * `name{label="value",...} value`, each family announced once by `# HELP` and `# TYPE`. */
#include "obs/obs.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* HELP text escapes backslash and newline; label values also the double quote. */
static void escape(struct zl_buf *b, const char *v, bool quote)
{
    for (; *v; v++) {
        if (*v == '\\')
            zl_buf_puts(b, "\\\\");
        else if (*v == '\n')
            zl_buf_puts(b, "\\n");
        else if (*v == '"' && quote)
            zl_buf_puts(b, "\\\"");
        else
            zl_buf_putc(b, *v);
    }
}

void zl_prom_escape(struct zl_buf *b, const char *v)
{
    escape(b, v, true);
}

void zl_prom_float(struct zl_buf *b, double v)
{
    if (isnan(v))
        zl_buf_puts(b, "NaN");
    else if (isinf(v))
        zl_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else {
        /* the shortest of 15 or 17 digits that reads back as the same double: 0.1, not
         * 0.10000000000000001 */
        char t[32];
        snprintf(t, sizeof(t), "%.15g", v);
        if (strtod(t, NULL) != v)
            snprintf(t, sizeof(t), "%.17g", v);
        zl_buf_puts(b, t);
    }
}

void zl_prom_family(struct zl_buf *b, const char *name, const char *type, const char *help)
{
    zl_buf_printf(b, "# HELP %s ", name);
    escape(b, help, false);
    zl_buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void labels(struct zl_buf *b, const char *name, va_list ap)
{
    zl_buf_puts(b, name);
    const char *k, *sep = "{";
    while ((k = va_arg(ap, const char *))) {
        zl_buf_printf(b, "%s%s=\"", sep, k);
        zl_prom_escape(b, va_arg(ap, const char *));
        zl_buf_putc(b, '"');
        sep = ",";
    }
    if (*sep == ',')
        zl_buf_putc(b, '}');
    zl_buf_putc(b, ' ');
}

void zl_prom_u64(struct zl_buf *b, const char *name, uint64_t v, ...)
{
    va_list ap;
    va_start(ap, v);
    labels(b, name, ap);
    va_end(ap);
    zl_buf_printf(b, "%" PRIu64 "\n", v);
}

void zl_prom_f64(struct zl_buf *b, const char *name, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    labels(b, name, ap);
    va_end(ap);
    zl_prom_float(b, v);
    zl_buf_putc(b, '\n');
}
