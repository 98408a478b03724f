/* SPDX-License-Identifier: Apache-2.0 */
/* spec/spec.c: the room's entry points: load, free, and accessors over the typed tree. */
#include "spec/internal.h"

#include <stdlib.h>
#include <string.h>

int zl_spec_load(const char *file, const char *buf, size_t len, const struct zl_spec_opts *opts,
                 struct zl_spec **out, struct zl_diags **diags)
{
    bool strict = opts && opts->strict;
    struct zl_diags *d = zl_spec__diags_new();
    struct zl_spec *s = zl_xcalloc(1, sizeof(*s));
    zl_arena_init(&s->arena);
    *out = NULL;
    *diags = d;
    d->file = zl_arena_strdup(&d->arena, file ? file : "<input>");

    size_t nodes = 0;
    struct zl_ynode *root = zl_spec__yaml_load(buf, len, &s->arena, d, &nodes);
    if (root)
        s->root = zl_spec__type_doc(root, nodes, &s->arena, d, strict);
    /* Cross-field rules need a fully typed document; with type errors they would only add
     * noise about values that were already reported. */
    if (s->root && zl_diags_errors(d) == 0)
        zl_spec__validate(s->root, &s->arena, d, strict);
    zl_spec__diags_sort(d);
    if (!s->root || zl_diags_errors(d) > 0) {
        zl_spec_free(s);
        return -ZL_EINVAL;
    }
    *out = s;
    return 0;
}

void zl_spec_free(struct zl_spec *s)
{
    if (!s)
        return;
    zl_arena_fini(&s->arena);
    free(s);
}

const struct zl_sval *zl_spec_root(const struct zl_spec *s)
{
    return s->root;
}

const char *zl_spec_deployment(const struct zl_spec *s)
{
    return zl_sval_str(s->root, "deployment", "");
}

const struct zl_sval *zl_sval_get(const struct zl_sval *v, const char *key)
{
    if (!v || (v->kind != ZL_SV_OBJ && v->kind != ZL_SV_MAP))
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

const struct zl_sval *zl_sval_path(const struct zl_sval *v, const char *path)
{
    char key[128];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        v = zl_sval_get(v, key);
        path += n;
        if (*path == '.')
            path++;
    }
    return v;
}

const char *zl_sval_str(const struct zl_sval *v, const char *path, const char *def)
{
    const struct zl_sval *x = zl_sval_path(v, path);
    return x && x->s ? x->s : def;
}

const char *zl_sval_text(const struct zl_sval *v, const char *path)
{
    const struct zl_sval *x = zl_sval_path(v, path);
    if (!x)
        return NULL;
    if (x->kind == ZL_SV_ANY)
        return x->yaml && x->yaml->kind == ZL_Y_SCALAR ? x->yaml->text : NULL;
    return x->s;
}

uint64_t zl_sval_uint(const struct zl_sval *v, const char *path, uint64_t def)
{
    const struct zl_sval *x = zl_sval_path(v, path);
    if (!x)
        return def;
    if (x->kind == ZL_SV_INT)
        return x->i < 0 ? def : (uint64_t)x->i;
    return x->kind == ZL_SV_UINT || x->kind == ZL_SV_DURATION || x->kind == ZL_SV_MEMSIZE ? x->u
                                                                                          : def;
}

bool zl_sval_bool(const struct zl_sval *v, const char *path, bool def)
{
    const struct zl_sval *x = zl_sval_path(v, path);
    return x && x->kind == ZL_SV_BOOL ? x->b : def;
}
