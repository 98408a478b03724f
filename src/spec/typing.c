/* SPDX-License-Identifier: Apache-2.0 */
/* spec/typing.c: walks the YAML tree along the schema: objects, unions, lists, maps, defaults. */
#include "spec/internal.h"

#include <stdlib.h>
#include <string.h>

/* Keys people carry over from other tools, with the v1 way to say the same thing. */
static const struct {
    const char *key, *hint;
} legacy[] = {
    {"volumes", "use `storage:` with items of `type: bind|named|anonymous|tmpfs|s3` (there is no "
                "`volumes:` key)"},
    {"node", "use `node_mode: dedicated` and `node_selector: {labels: {...}}`"},
    {"runtime", "use `service_type: wasm_http` and a `wasm:` block"},
    {"ports", "use `endpoints:` (through the proxy) or `port_mappings:` (host ports)"},
    {"environment", "use `env:` (a mapping)"},
    {"healthcheck", "use `health:`"},
    {"depends_on", "use `depends:` with items `{service: NAME}`"},
    {"secrets", "reference secrets from env values: `KEY: $S:name`"},
    {"networks", "use `network:` (overlays) or `network_mode:`"},
    {"replicas", "use `scale: {mode: fixed, replicas: N}`"},
    {"restart", "use `restart_policy: {kind: always}` or `errors.on_panic`"},
    {"action", "init steps are written `{id: NAME, uses: init.ACTION, with: {...}}`"},
};

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

static void unknown_key(struct zl_spec__ctx *c, const struct zl_type *t, const struct zl_ynode *k,
                        const struct zl_spec__path *p)
{
    const char *hint = NULL;
    for (size_t i = 0; i < ZL_ARRAY_LEN(legacy); i++)
        if (strcmp(k->text, legacy[i].key) == 0)
            hint = legacy[i].hint;
    if (strcmp(k->text, "<<") == 0) {
        zl_spec__err(c, k, p, "P-3", false,
                     "write the keys out; YAML merge keys are not part of the format",
                     "merge keys (<<) are not supported");
        return;
    }
    const char *best = NULL;
    size_t bestd = 3;
    struct zl_buf list;
    zl_buf_init(&list);
    for (size_t i = 0; i < t->nfields; i++) {
        size_t dist = edit_distance(k->text, t->fields[i].key);
        if (dist < bestd)
            bestd = dist, best = t->fields[i].key;
        zl_buf_printf(&list, "%s%s", i ? ", " : "", t->fields[i].key);
    }
    if (!hint && best)
        hint = zl_arena_printf(c->a, "did you mean '%s'?", best);
    if (t->nfields > 12)
        zl_spec__err(c, k, p, t->lenient ? "R-18" : "P-3", t->lenient && !c->strict, hint,
                     "unknown field '%s' in %s", k->text, t->name);
    else
        zl_spec__err(c, k, p, t->lenient ? "R-18" : "P-3", t->lenient && !c->strict, hint,
                     "unknown field '%s'; expected one of: %s", k->text, list.data);
    zl_buf_fini(&list);
}

/* ---------------- defaults ---------------- */

static struct zl_sval *type_field(struct zl_spec__ctx *c, const struct zl_field *f,
                                  const struct zl_ynode *n, const struct zl_spec__path *p,
                                  bool in_union);

static struct zl_sval *default_of(struct zl_spec__ctx *c, const struct zl_field *f)
{
    size_t h = ((uintptr_t)f >> 4) % ZL_SPEC_DEFCACHE;
    for (size_t i = 0; i < ZL_SPEC_DEFCACHE; i++, h = (h + 1) % ZL_SPEC_DEFCACHE) {
        if (c->cache[h].f == f)
            return c->cache[h].v;
        if (!c->cache[h].f)
            break;
    }
    /* Parse the default's YAML text once per load; the typed value is shared read-only. */
    char *text = zl_arena_printf(c->a, "v: %s", f->def);
    struct zl_diags *scratch = zl_spec__diags_new();
    struct zl_ynode *root = zl_spec__yaml_load(text, strlen(text), c->a, scratch, NULL);
    ZL_ASSERT(root && root->n == 1);
    bool was = c->in_default;
    c->in_default = true;
    struct zl_diags *real = c->d;
    c->d = scratch;
    struct zl_sval *v = type_field(c, f, root->vals[0], NULL, false);
    c->d = real;
    c->in_default = was;
    ZL_ASSERT(v && zl_diags_count(scratch) == 0);
    zl_diags_free(scratch);
    c->cache[h].f = f;
    c->cache[h].v = v;
    return v;
}

/* ---------------- containers ---------------- */

/* A block mapping or sequence starts on the line after its key; rules point at the key. */
static struct zl_sval *at_key(struct zl_sval *v, const struct zl_ynode *k)
{
    if (v && v->written &&
        (v->kind == ZL_SV_OBJ || v->kind == ZL_SV_MAP || v->kind == ZL_SV_LIST) &&
        k->line < v->line) {
        v->line = k->line;
        v->col = k->col;
    }
    return v;
}

static struct zl_sval *type_obj(struct zl_spec__ctx *c, const struct zl_type *t,
                                const struct zl_field *f, const struct zl_ynode *n,
                                const struct zl_spec__path *p, bool in_union)
{
    if (n->kind != ZL_Y_MAP) {
        const char *hint = t->shape_hint;
        zl_spec__err(c, n, p, "P-5", false, hint,
                     "invalid type: expected a mapping (%s), found a %s", f ? f->key : t->name,
                     zl_spec__ykind_name(n));
        return NULL;
    }
    struct zl_sval *v = zl_spec__new_val(c, ZL_SV_OBJ, n, t);
    v->n = t->nfields;
    v->items = zl_arena_alloc(c->a, t->nfields * sizeof(*v->items));
    v->keys = zl_arena_alloc(c->a, t->nfields * sizeof(*v->keys));
    const struct zl_ynode **seen = zl_arena_alloc(c->a, t->nfields * sizeof(*seen));
    bool ok = true;
    for (size_t i = 0; i < t->nfields; i++)
        v->keys[i] = t->fields[i].key;
    for (size_t i = 0; i < n->n; i++) {
        const struct zl_ynode *k = n->keys[i], *val = n->vals[i];
        if (k->kind != ZL_Y_SCALAR) {
            zl_spec__err(c, k, p, "P-5", false, NULL, "mapping keys must be strings, found a %s",
                         zl_spec__ykind_name(k));
            ok = false;
            continue;
        }
        size_t idx;
        const struct zl_field *fld = zl_spec__field(t, k->text, &idx);
        if (!fld || (fld->flags & ZF_INTERNAL)) {
            unknown_key(c, t, k, p);
            ok = ok && t->lenient && !c->strict && strcmp(k->text, "<<") != 0;
            continue;
        }
        struct zl_spec__path sub = {p, fld->key, 0, k};
        if (seen[idx]) {
            if (strcmp(seen[idx]->text, k->text) != 0)
                zl_spec__err(c, k, &sub, "P-4", false, NULL,
                             "duplicate field '%s' (also given as '%s' at line %d)", k->text,
                             seen[idx]->text, seen[idx]->line);
            else
                zl_spec__err(c, k, &sub, "P-4", false, NULL,
                             "duplicate field '%s' (first given at line %d)", k->text,
                             seen[idx]->line);
            ok = false;
            continue;
        }
        seen[idx] = k;
        v->items[idx] = at_key(type_field(c, fld, val, &sub, in_union), k);
        if (!v->items[idx] && !zl_spec__null_ok(fld, val, in_union))
            ok = false;
    }
    for (size_t i = 0; i < t->nfields; i++) {
        const struct zl_field *fld = &t->fields[i];
        if (seen[i])
            continue;
        if (fld->flags & ZF_REQ) {
            zl_spec__err(c, n, p, "P-2", false, NULL, "missing required field '%s'", fld->key);
            ok = false;
        } else if (fld->def) {
            v->items[i] = default_of(c, fld);
        }
    }
    return ok ? v : NULL;
}

static struct zl_sval *type_union(struct zl_spec__ctx *c, const struct zl_type *t,
                                  const struct zl_field *f, const struct zl_ynode *n,
                                  const struct zl_spec__path *p)
{
    if (n->kind != ZL_Y_MAP) {
        zl_spec__err(c, n, p, "P-5", false, NULL,
                     "invalid type: expected a mapping with '%s' (%s), found a %s", t->tag_key,
                     f ? f->key : t->name, zl_spec__ykind_name(n));
        return NULL;
    }
    const struct zl_ynode *tag = NULL;
    for (size_t i = 0; i < n->n; i++)
        if (n->keys[i]->kind == ZL_Y_SCALAR && strcmp(n->keys[i]->text, t->tag_key) == 0)
            tag = n->vals[i];
    if (!tag) {
        zl_spec__err(c, n, p, "P-8", false, NULL, "missing field '%s'", t->tag_key);
        return NULL;
    }
    struct zl_buf list;
    zl_buf_init(&list);
    const struct zl_variant *var = NULL;
    for (size_t i = 0; i < t->nvariants; i++) {
        if (tag->kind == ZL_Y_SCALAR && strcmp(tag->text, t->variants[i].word) == 0)
            var = &t->variants[i];
        if (t->variants[i].obj)
            zl_buf_printf(&list, "%s%s", list.len ? ", " : "", t->variants[i].word);
    }
    if (!var || !var->obj) {
        struct zl_spec__path sub = {p, t->tag_key, 0, NULL};
        zl_spec__err(c, tag, &sub, "P-8", false, var ? var->hint : NULL,
                     "unknown variant '%s', expected one of: %s",
                     tag->kind == ZL_Y_SCALAR ? tag->text : zl_spec__ykind_name(tag), list.data);
        zl_buf_fini(&list);
        return NULL;
    }
    zl_buf_fini(&list);
    return type_obj(c, var->obj, f, n, p, true);
}

static struct zl_sval *type_list(struct zl_spec__ctx *c, const struct zl_type *t,
                                 const struct zl_field *f, const struct zl_ynode *n,
                                 const struct zl_spec__path *p, bool in_union)
{
    if (n->kind != ZL_Y_SEQ) {
        zl_spec__err(c, n, p, "P-5", false, NULL,
                     "invalid type: expected a sequence (%s), found a %s", f ? f->key : t->name,
                     zl_spec__ykind_name(n));
        return NULL;
    }
    struct zl_sval *v = zl_spec__new_val(c, ZL_SV_LIST, n, t);
    v->n = n->n;
    v->items = zl_arena_alloc(c->a, n->n * sizeof(*v->items));
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        struct zl_spec__path sub = {p, NULL, i, NULL};
        v->items[i] = zl_spec__type_node(c, t->item, NULL, n->vals[i], &sub, in_union);
        ok = ok && v->items[i];
    }
    return ok ? v : NULL;
}

static const char *map_hint(const struct zl_field *f)
{
    if (f && strcmp(f->key, "env") == 0)
        return "env is a mapping: `env: {LOG_LEVEL: info}` (not a list of name/value pairs)";
    return NULL;
}

static struct zl_sval *type_map(struct zl_spec__ctx *c, const struct zl_type *t,
                                const struct zl_field *f, const struct zl_ynode *n,
                                const struct zl_spec__path *p, bool in_union)
{
    if (n->kind != ZL_Y_MAP) {
        zl_spec__err(c, n, p, "P-5", false, map_hint(f),
                     "invalid type: expected a mapping (%s), found a %s", f ? f->key : t->name,
                     zl_spec__ykind_name(n));
        return NULL;
    }
    struct zl_sval *v = zl_spec__new_val(c, ZL_SV_MAP, n, t);
    v->items = zl_arena_alloc(c->a, n->n * sizeof(*v->items));
    v->keys = zl_arena_alloc(c->a, n->n * sizeof(*v->keys));
    struct zl_index seen;
    zl_index_init(&seen, n->n);
    bool ok = true;
    for (size_t i = 0; i < n->n; i++) {
        const struct zl_ynode *k = n->keys[i];
        if (k->kind != ZL_Y_SCALAR) {
            zl_spec__err(c, k, p, "P-5", false, NULL, "mapping keys must be strings, found a %s",
                         zl_spec__ykind_name(k));
            ok = false;
            continue;
        }
        struct zl_spec__path sub = {p, k->text, 0, k};
        size_t at = v->n;
        if (zl_index_put(&seen, k->text, at, &at)) {
            zl_spec__err(c, k, &sub, "R-22", !c->strict, NULL,
                         "duplicate key '%s' (first given at line %d); the last one wins", k->text,
                         v->items[at] ? v->items[at]->line : 0);
            ok = ok && !c->strict;
        }
        struct zl_sval *item =
            at_key(zl_spec__type_node(c, t->item, NULL, n->vals[i], &sub, in_union), k);
        ok = ok && item;
        v->keys[at] = k->text;
        v->items[at] = item;
        if (at == v->n)
            v->n++;
    }
    zl_index_fini(&seen);
    return ok ? v : NULL;
}

/* Aliases can stack nested nodes deeper than the document itself is written. */
static bool too_deep(struct zl_spec__ctx *c, const struct zl_ynode *n)
{
    if (c->depth <= 2 * ZL_SPEC_MAX_DEPTH)
        return false;
    if (!c->over)
        zl_spec__err(c, n, NULL, "P-1", false, "use fewer nested aliases",
                     "the document is nested too deeply once its aliases are expanded");
    c->over = true;
    return true;
}

static bool count_any(struct zl_spec__ctx *c, const struct zl_ynode *n)
{
    if (!zl_spec__budget(c, n) || too_deep(c, n))
        return false;
    c->count++;
    bool ok = true;
    c->depth++;
    for (size_t i = 0; i < n->n && ok; i++)
        ok = count_any(c, n->vals[i]);
    c->depth--;
    return ok;
}

struct zl_sval *zl_spec__type_node(struct zl_spec__ctx *c, const struct zl_type *t,
                                   const struct zl_field *f, const struct zl_ynode *n,
                                   const struct zl_spec__path *p, bool in_union)
{
    if (!zl_spec__budget(c, n) || too_deep(c, n))
        return NULL;
    if (n->tag && t->kind != TK_AFFINITY && t->kind != TK_NETMODE) {
        zl_spec__err(c, n, p, "P-5", false, NULL,
                     "YAML tags are only used by affinity (!pin) and network_mode (!bridge, "
                     "!container); found '%s'",
                     n->tag);
        return NULL;
    }
    struct zl_sval *v = NULL;
    c->depth++;
    switch (t->kind) {
    case TK_OBJ:
        v = type_obj(c, t, f, n, p, in_union);
        break;
    case TK_UNION:
        v = type_union(c, t, f, n, p);
        break;
    case TK_LIST:
        v = type_list(c, t, f, n, p, in_union);
        break;
    case TK_MAP:
        v = type_map(c, t, f, n, p, in_union);
        break;
    case TK_ANY:
        /* kept as YAML, but its aliases count against the budget as if expanded, since a
         * dump writes them out */
        if (count_any(c, n)) {
            v = zl_spec__new_val(c, ZL_SV_ANY, n, t);
            v->yaml = n;
        }
        break;
    default:
        v = zl_spec__type_scalar(c, t, f, n, p, in_union);
    }
    c->depth--;
    return v;
}

/* True when a NULL result for this value means "absent", not "error". */
bool zl_spec__null_ok(const struct zl_field *f, const struct zl_ynode *n, bool in_union)
{
    if (!zl_spec__is_plain_null(n))
        return false;
    if (f->flags & ZF_NULLDEF)
        return true;
    bool optional = !(f->flags & ZF_REQ) && !f->def;
    if (optional)
        return true;
    (void)in_union;
    return false;
}

static bool is_container(const struct zl_type *t)
{
    return t->kind == TK_OBJ || t->kind == TK_UNION || t->kind == TK_LIST || t->kind == TK_MAP;
}

static struct zl_sval *type_field(struct zl_spec__ctx *c, const struct zl_field *f,
                                  const struct zl_ynode *n, const struct zl_spec__path *p,
                                  bool in_union)
{
    if (zl_spec__is_plain_null(n)) {
        if (zl_spec__null_ok(f, n, in_union))
            return NULL;
        /* `key:` with nothing after it: an empty list / map / all-default object. */
        if (n->len == 0 && is_container(f->type) && !in_union) {
            static const struct zl_ynode empty_map = {.kind = ZL_Y_MAP};
            static const struct zl_ynode empty_seq = {.kind = ZL_Y_SEQ};
            struct zl_ynode *e = zl_arena_alloc(c->a, sizeof(*e));
            *e = f->type->kind == TK_LIST ? empty_seq : empty_map;
            e->line = n->line;
            e->col = n->col;
            return zl_spec__type_node(c, f->type, f, e, p, in_union);
        }
        if (is_container(f->type) || f->type->kind == TK_BOOL || f->type->kind == TK_INT ||
            f->type->kind == TK_FLOAT) {
            zl_spec__err(c, n, p, "P-5", false, NULL, "invalid type: expected a %s, found %s",
                         is_container(f->type) ? "mapping or sequence" : f->type->name,
                         n->len ? "null" : "an empty value");
            return NULL;
        }
    }
    return zl_spec__type_node(c, f->type, f, n, p, in_union);
}

struct zl_sval *zl_spec__type_doc(const struct zl_ynode *root, size_t nodes, struct zl_arena *a,
                                  struct zl_diags *d, bool strict)
{
    struct zl_spec__ctx *c = zl_xcalloc(1, sizeof(*c));
    /* Without aliases a document types to about as many values as it has nodes (defaults are
     * typed once per load); aliases may multiply that, but not without bound. */
    c->budget = nodes < (ZL_SPEC_MAX_NODES - 50000) / 8 ? nodes * 8 + 50000 : ZL_SPEC_MAX_NODES;
    c->a = a;
    c->d = d;
    c->strict = strict;
    struct zl_sval *v = zl_spec__type_node(c, &zl_spec__root_type, NULL, root, NULL, false);
    free(c);
    return v;
}
