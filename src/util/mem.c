/* SPDX-License-Identifier: Apache-2.0 */
/* util/mem.c: allocation that aborts on exhaustion, buffers and arenas. */
#include "util/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Noreturn void oom(size_t n)
{
    fprintf(stderr, "zlayer: out of memory allocating %zu bytes\n", n);
    abort();
}

void *zl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *zl_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *zl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *zl_xstrdup(const char *s)
{
    return zl_xstrndup(s, strlen(s));
}

char *zl_xstrndup(const char *s, size_t n)
{
    char *p = zl_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *zl_xasprintf(const char *fmt, ...)
{
    struct zl_buf b;
    zl_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    zl_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return zl_buf_steal(&b, NULL);
}

void zl_freep(void *p)
{
    free(*(void **)p);
}

void zl_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

/* ---- buffers ---- */

void zl_buf_init(struct zl_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void zl_buf_fini(struct zl_buf *b)
{
    free(b->data);
    zl_buf_init(b);
}

void zl_buf_reserve(struct zl_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = zl_xrealloc(b->data, cap);
    b->cap = cap;
}

void zl_buf_puts(struct zl_buf *b, const char *s)
{
    zl_buf_append(b, s, strlen(s));
}

void zl_buf_putc(struct zl_buf *b, char c)
{
    zl_buf_append(b, &c, 1);
}

void zl_buf_vprintf(struct zl_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    ZL_ASSERT(n >= 0);
    zl_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void zl_buf_printf(struct zl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    zl_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *zl_buf_steal(struct zl_buf *b, size_t *len)
{
    if (!b->data) {
        zl_buf_reserve(b, 0);
        b->data[0] = '\0';
    }
    char *p = b->data;
    if (len)
        *len = b->len;
    zl_buf_init(b);
    return p;
}

/* ---- arenas ---- */

struct zl_arena_chunk {
    struct zl_arena_chunk *next;
    size_t size, off;
    _Alignas(16) unsigned char mem[];
};

void zl_arena_init(struct zl_arena *a)
{
    a->head = NULL;
    a->used = 0;
}

void zl_arena_fini(struct zl_arena *a)
{
    struct zl_arena_chunk *c = a->head;
    while (c) {
        struct zl_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    zl_arena_init(a);
}

void *zl_arena_alloc(struct zl_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct zl_arena_chunk *c = a->head;
    if (!c || c->size - c->off < n) {
        size_t size = n > 16384 ? n : 16384;
        c = zl_xmalloc(sizeof(*c) + size);
        c->size = size;
        c->off = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->mem + c->off;
    c->off += n;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *zl_arena_strndup(struct zl_arena *a, const char *s, size_t n)
{
    char *p = zl_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *zl_arena_strdup(struct zl_arena *a, const char *s)
{
    return zl_arena_strndup(a, s, strlen(s));
}

char *zl_arena_printf(struct zl_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ZL_ASSERT(n >= 0);
    char *p = zl_arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}
