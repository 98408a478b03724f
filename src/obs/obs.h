/* SPDX-License-Identifier: Apache-2.0 */
/* obs: observability. For now the Prometheus text exposition format (version 0.0.4), which
 * any room with numbers to show writes into a buffer: a family's `# HELP` and `# TYPE` once,
 * then its samples. A registry, logging and tracing come later. */
#ifndef ZL_OBS_H
#define ZL_OBS_H

#include <stdint.h>

#include "util/util.h"

/* The content type of GET /metrics. */
#define ZL_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A family's header: `# HELP name help` (help escaped) and `# TYPE name type` (counter,
 * gauge, histogram, summary or untyped). Once per family, before all of its samples. */
void zl_prom_family(struct zl_buf *b, const char *name, const char *type, const char *help);

/* One sample: name{k1="v1",...} value, the labels given as key, value pairs ended by NULL
 * (values escaped: backslash, double quote, newline). Counters as exact integers; gauges
 * may be fractional (+Inf, -Inf and NaN spelled as the format wants). */
void zl_prom_u64(struct zl_buf *b, const char *name, uint64_t v, ...) __attribute__((sentinel));
void zl_prom_f64(struct zl_buf *b, const char *name, double v, ...) __attribute__((sentinel));

/* A label value as the format wants it, into b. */
void zl_prom_escape(struct zl_buf *b, const char *v);
/* A double as the format wants it ("+Inf", "0.25", "1e-06"), into b. */
void zl_prom_float(struct zl_buf *b, double v);

#endif
