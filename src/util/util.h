/* SPDX-License-Identifier: Apache-2.0 */
/* util: small shared pieces: the error type, allocation, growable buffers, arenas. */
#ifndef ZL_UTIL_H
#define ZL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ZL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ZL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bugs, not errors: stays on in release builds. Never use on input. */
#define ZL_ASSERT(cond)                                \
    do {                                               \
        if (!(cond))                                   \
            zl_assert_fail(#cond, __FILE__, __LINE__); \
    } while (0)
_Noreturn void zl_assert_fail(const char *what, const char *file, int line);

/* ---- errors: a caller-owned stack value, written only on failure ---- */

enum {
    ZL_EINVAL = 1000, /* bad input (spec, flags, request) */
    ZL_ENOTFOUND,     /* a named thing does not exist */
    ZL_EAMBIGUOUS,    /* more than one candidate */
    ZL_EFULL,         /* no room left (addresses, slots) */
};

struct zl_err {
    int code; /* negative: -errno or -ZL_E* */
    char msg[1024];
};

/* Fill err and return -code (code given positive). */
int zl_err_set(struct zl_err *err, int code, const char *fmt, ...) ZL_PRINTF(3, 4);
/* Like zl_err_set, appending ": strerror(errnum)"; returns -errnum. */
int zl_err_sys(struct zl_err *err, int errnum, const char *fmt, ...) ZL_PRINTF(3, 4);
/* Prepend "context: " to err's message; returns err->code. */
int zl_err_wrap(struct zl_err *err, const char *fmt, ...) ZL_PRINTF(2, 3);

/* ---- allocation: out of memory aborts ---- */

void *zl_xmalloc(size_t n);
void *zl_xcalloc(size_t n, size_t size);
void *zl_xrealloc(void *p, size_t n);
char *zl_xstrdup(const char *s);
char *zl_xstrndup(const char *s, size_t n);
char *zl_xasprintf(const char *fmt, ...) ZL_PRINTF(1, 2);

/* cleanup helpers (function-local resources only) */
void zl_freep(void *p);
void zl_closep(int *fd);
#define zl_autofree  __attribute__((cleanup(zl_freep)))
#define zl_autoclose __attribute__((cleanup(zl_closep)))
#define ZL_STEAL(p)                        \
    ({                                     \
        __typeof__(p) zl_steal_tmp_ = (p); \
        (p) = NULL;                        \
        zl_steal_tmp_;                     \
    })

/* ---- growable byte buffer, always NUL-terminated ---- */

struct zl_buf {
    char *data;
    size_t len;
    size_t cap;
};

void zl_buf_init(struct zl_buf *b);
void zl_buf_fini(struct zl_buf *b);
void zl_buf_reserve(struct zl_buf *b, size_t extra);
/* Appending is on hot paths (parsers, the proxy's heads): inline when the room is there. */
static inline void zl_buf_append(struct zl_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap)
        zl_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}
void zl_buf_puts(struct zl_buf *b, const char *s);
void zl_buf_putc(struct zl_buf *b, char c);
void zl_buf_printf(struct zl_buf *b, const char *fmt, ...) ZL_PRINTF(2, 3);
void zl_buf_vprintf(struct zl_buf *b, const char *fmt, va_list ap) ZL_PRINTF(2, 0);
/* Take the bytes out; the buffer is left empty. Caller frees. */
char *zl_buf_steal(struct zl_buf *b, size_t *len);

/* ---- arena: many small allocations freed in one call ---- */

struct zl_arena_chunk;
struct zl_arena {
    struct zl_arena_chunk *head;
    size_t used; /* bytes handed out, for budgets */
};

void zl_arena_init(struct zl_arena *a);
void zl_arena_fini(struct zl_arena *a);
void *zl_arena_alloc(struct zl_arena *a, size_t n); /* zeroed, 16-byte aligned */
char *zl_arena_strndup(struct zl_arena *a, const char *s, size_t n);
char *zl_arena_strdup(struct zl_arena *a, const char *s);
char *zl_arena_printf(struct zl_arena *a, const char *fmt, ...) ZL_PRINTF(2, 3);

/* ---- string index: key -> size_t, open addressing; keys are borrowed ---- */

struct zl_index {
    size_t cap, n;
    const char **keys;
    size_t *vals;
};

void zl_index_init(struct zl_index *x, size_t expect);
void zl_index_fini(struct zl_index *x);
/* Insert key -> val. If key is already there, leaves it, stores its value in *old (when old
 * is not NULL) and returns true. key must outlive the index. */
bool zl_index_put(struct zl_index *x, const char *key, size_t val, size_t *old);
bool zl_index_get(const struct zl_index *x, const char *key, size_t *val);

/* ---- files ---- */

/* The first executable regular file named prog in the ':'-separated search path (an empty
 * entry is the current folder; NULL path: the usual system folders). Caller frees; NULL when
 * there is none. */
char *zl_path_lookup(const char *prog, const char *path);

/* Write text to path in one write: an existing file (/proc, /sys), or with create a new or
 * truncated one (mode 0644). */
int zl_write_text(const char *path, const char *text, bool create, struct zl_err *err);
/* Read a whole file ("-" = stdin) into a NUL-terminated heap buffer, at most max bytes. */
int zl_read_file(const char *path, size_t max, char **out, size_t *len, struct zl_err *err);

/* ---------------- the daemon's log (log.c) ---------------- */

/* Now in UTC as RFC 3339 with milliseconds, or nanoseconds (one fixed width each, so that
 * times compare as text): "2026-01-02T03:04:05.123Z". cap: 48 is always enough. */
void zl_time_rfc3339(char *buf, size_t cap, bool nanos);
/* Milliseconds: since the Unix epoch (wall clock), or on the monotonic clock. */
int64_t zl_wall_ms(void);
int64_t zl_mono_ms(void);
/* The same for a given time (Unix seconds and nanoseconds). */
void zl_time_rfc3339_at(char *buf, size_t cap, int64_t secs, long nsec, bool nanos);

/* One JSON object per line on stderr: {"ts","level","room","msg"}; level "info", "warn" or
 * "error", room the part of zlayer speaking ("agent", "serve", ...). */
void zl_log(const char *level, const char *room, const char *fmt, ...) ZL_PRINTF(3, 4);

#endif
