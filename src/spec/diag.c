/* SPDX-License-Identifier: Apache-2.0 */
/* spec/diag.c: the list of diagnostics, kept in file order, and its printing. */
#include "spec/internal.h"

#include <stdlib.h>
#include <string.h>

struct zl_diags *zl_spec__diags_new(void)
{
    struct zl_diags *d = zl_xcalloc(1, sizeof(*d));
    zl_arena_init(&d->arena);
    return d;
}

void zl_diags_free(struct zl_diags *d)
{
    if (!d)
        return;
    free(d->v);
    zl_arena_fini(&d->arena);
    free(d);
}

size_t zl_diags_count(const struct zl_diags *d)
{
    return d ? d->n : 0;
}

size_t zl_diags_errors(const struct zl_diags *d)
{
    return d ? d->errors : 0;
}

const struct zl_diag *zl_diags_get(const struct zl_diags *d, size_t i)
{
    return d && i < d->n ? &d->v[i] : NULL;
}

/* Keep at most this many: a hostile file must not make us print millions of lines. */
#define MAX_DIAGS 1000

void zl_spec__diag_add(struct zl_diags *d, enum zl_diag_level lvl, int line, int col,
                       const char *path, const char *rule, const char *hint, const char *fmt, ...)
{
    if (lvl == ZL_DIAG_ERROR)
        d->errors++;
    if (d->n >= MAX_DIAGS)
        return;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = zl_xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    struct zl_buf b;
    zl_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    zl_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    struct zl_diag *g = &d->v[d->n++];
    g->level = lvl;
    g->line = line;
    g->col = col;
    g->path = zl_arena_strdup(&d->arena, path ? path : "");
    g->msg = zl_arena_strndup(&d->arena, b.data ? b.data : "", b.len);
    g->rule = rule;
    g->hint = hint ? zl_arena_strdup(&d->arena, hint) : NULL;
    zl_buf_fini(&b);
}

static bool before(const struct zl_diag *a, const struct zl_diag *b)
{
    return a->line < b->line || (a->line == b->line && a->col < b->col);
}

void zl_spec__diags_sort(struct zl_diags *d)
{
    /* Stable insertion sort by (line, col): at most MAX_DIAGS entries, and usually a few. */
    for (size_t i = 1; i < d->n; i++) {
        struct zl_diag x = d->v[i];
        size_t j = i;
        while (j > 0 && before(&x, &d->v[j - 1])) {
            d->v[j] = d->v[j - 1];
            j--;
        }
        d->v[j] = x;
    }
}

void zl_diags_print(const struct zl_diags *d, const char *file, FILE *out, bool color)
{
    const char *bold = color ? "\033[1m" : "", *red = color ? "\033[1;31m" : "",
               *yellow = color ? "\033[1;33m" : "", *dim = color ? "\033[2m" : "",
               *reset = color ? "\033[0m" : "";
    if (!file && d)
        file = d->file;
    for (size_t i = 0; d && i < d->n; i++) {
        const struct zl_diag *g = &d->v[i];
        bool warn = g->level == ZL_DIAG_WARNING;
        fprintf(out, "%s%s:%d:%d:%s ", bold, file, g->line, g->col, reset);
        if (warn)
            fprintf(out, "%swarning:%s ", yellow, reset);
        else if (color)
            fprintf(out, "%serror:%s ", red, reset);
        if (g->path[0])
            fprintf(out, "%s: ", g->path);
        fprintf(out, "%s", g->msg);
        if (g->rule)
            fprintf(out, " %s[%s]%s", dim, g->rule, reset);
        fputc('\n', out);
        if (g->hint)
            fprintf(out, "    hint: %s\n", g->hint);
    }
}
