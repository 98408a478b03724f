/* SPDX-License-Identifier: Apache-2.0 */
/* util/index.c: a string -> index hash table (FNV-1a, linear probing). */
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void zl_index_init(struct zl_index *x, size_t expect)
{
    size_t cap = 16;
    while (cap < expect * 2)
        cap *= 2;
    x->cap = cap;
    x->n = 0;
    x->keys = zl_xcalloc(cap, sizeof(*x->keys));
    x->vals = zl_xcalloc(cap, sizeof(*x->vals));
}

void zl_index_fini(struct zl_index *x)
{
    free(x->keys);
    free(x->vals);
    memset(x, 0, sizeof(*x));
}

static size_t slot(const struct zl_index *x, const char *key)
{
    size_t i = hash(key) & (x->cap - 1);
    while (x->keys[i] && strcmp(x->keys[i], key) != 0)
        i = (i + 1) & (x->cap - 1);
    return i;
}

static void grow(struct zl_index *x)
{
    struct zl_index bigger;
    zl_index_init(&bigger, x->cap);
    for (size_t i = 0; i < x->cap; i++)
        if (x->keys[i]) {
            size_t j = slot(&bigger, x->keys[i]);
            bigger.keys[j] = x->keys[i];
            bigger.vals[j] = x->vals[i];
            bigger.n++;
        }
    zl_index_fini(x);
    *x = bigger;
}

bool zl_index_put(struct zl_index *x, const char *key, size_t val, size_t *old)
{
    if ((x->n + 1) * 2 > x->cap)
        grow(x);
    size_t i = slot(x, key);
    if (x->keys[i]) {
        if (old)
            *old = x->vals[i];
        return true;
    }
    x->keys[i] = key;
    x->vals[i] = val;
    x->n++;
    return false;
}

bool zl_index_get(const struct zl_index *x, const char *key, size_t *val)
{
    if (!x->cap)
        return false;
    size_t i = slot(x, key);
    if (!x->keys[i])
        return false;
    if (val)
        *val = x->vals[i];
    return true;
}
