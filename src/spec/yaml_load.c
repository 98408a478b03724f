/* SPDX-License-Identifier: Apache-2.0 */
/* spec/yaml_load.c: libyaml events -> a tree of nodes with positions, tags and styles. */
#include "spec/internal.h"

#include <string.h>
#include <yaml.h>

struct anchor {
    const char *name;
    struct zl_ynode *node;
};

struct frame {
    struct zl_ynode *node;
    struct zl_ynode *pending_key; /* maps: a key waiting for its value */
    size_t cap;
};

struct loader {
    struct zl_arena *a;
    struct zl_diags *d;
    struct frame stack[ZL_SPEC_MAX_DEPTH + 1];
    int depth;
    struct zl_ynode *root;
    struct anchor *anchors;
    size_t nanchors, capanchors;
    size_t nodes;
};

static void fail(struct loader *l, int line, int col, const char *msg)
{
    zl_spec__diag_add(l->d, ZL_DIAG_ERROR, line, col, "", "P-1", NULL, "%s", msg);
}

static void push_child(struct zl_arena *a, struct frame *f, struct zl_ynode *n, bool as_key)
{
    struct zl_ynode *p = f->node;
    if (p->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct zl_ynode **vals = zl_arena_alloc(a, cap * sizeof(*vals));
        if (p->n)
            memcpy(vals, p->vals, p->n * sizeof(*vals));
        p->vals = vals;
        if (p->kind == ZL_Y_MAP) {
            struct zl_ynode **keys = zl_arena_alloc(a, cap * sizeof(*keys));
            if (p->n)
                memcpy(keys, p->keys, p->n * sizeof(*keys));
            p->keys = keys;
        }
        f->cap = cap;
    }
    if (p->kind == ZL_Y_SEQ) {
        p->vals[p->n++] = n;
    } else if (as_key) {
        f->pending_key = n;
    } else {
        p->keys[p->n] = f->pending_key;
        p->vals[p->n] = n;
        p->n++;
        f->pending_key = NULL;
    }
}

/* Attach a finished node to its parent (or make it the root). */
static void attach(struct loader *l, struct zl_ynode *n)
{
    if (l->depth == 0) {
        l->root = n;
        return;
    }
    struct frame *f = &l->stack[l->depth - 1];
    bool as_key = f->node->kind == ZL_Y_MAP && f->pending_key == NULL;
    push_child(l->a, f, n, as_key);
}

static void remember_anchor(struct loader *l, const yaml_char_t *name, struct zl_ynode *n)
{
    if (!name)
        return;
    if (l->nanchors == l->capanchors) {
        l->capanchors = l->capanchors ? l->capanchors * 2 : 16;
        l->anchors = zl_xrealloc(l->anchors, l->capanchors * sizeof(*l->anchors));
    }
    l->anchors[l->nanchors].name = zl_arena_strdup(l->a, (const char *)name);
    l->anchors[l->nanchors].node = n;
    l->nanchors++;
}

static struct zl_ynode *find_anchor(struct loader *l, const char *name)
{
    for (size_t i = l->nanchors; i-- > 0;)
        if (strcmp(l->anchors[i].name, name) == 0)
            return l->anchors[i].node;
    return NULL;
}

static struct zl_ynode *new_node(struct loader *l, enum zl_ykind kind, const yaml_event_t *ev)
{
    struct zl_ynode *n = zl_arena_alloc(l->a, sizeof(*n));
    n->kind = kind;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    l->nodes++;
    return n;
}

static const char *tag_of(struct loader *l, const yaml_char_t *tag)
{
    return tag ? zl_arena_strdup(l->a, (const char *)tag) : NULL;
}

/* Handle one node event. Returns false on a structural error (already reported). */
static bool on_event(struct loader *l, yaml_event_t *ev)
{
    struct zl_ynode *n;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;

    if (l->nodes >= ZL_SPEC_MAX_NODES) {
        fail(l, line, col, "the document has too many nodes");
        return false;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = new_node(l, ZL_Y_SCALAR, ev);
        n->text =
            zl_arena_strndup(l->a, (const char *)ev->data.scalar.value, ev->data.scalar.length);
        n->len = ev->data.scalar.length;
        n->tag = tag_of(l, ev->data.scalar.tag);
        switch (ev->data.scalar.style) {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
            n->style = ZL_Y_QUOTED;
            break;
        case YAML_LITERAL_SCALAR_STYLE:
        case YAML_FOLDED_SCALAR_STYLE:
            n->style = ZL_Y_BLOCK;
            break;
        default:
            n->style = ZL_Y_PLAIN;
        }
        remember_anchor(l, ev->data.scalar.anchor, n);
        attach(l, n);
        return true;
    case YAML_ALIAS_EVENT:
        n = find_anchor(l, (const char *)ev->data.alias.anchor);
        if (!n) {
            zl_spec__diag_add(l->d, ZL_DIAG_ERROR, line, col, "", "P-1", NULL,
                              "unknown alias '*%s'", (const char *)ev->data.alias.anchor);
            return false;
        }
        for (int i = 0; i < l->depth; i++)
            if (l->stack[i].node == n) {
                zl_spec__diag_add(l->d, ZL_DIAG_ERROR, line, col, "", "P-1", NULL,
                                  "alias '*%s' refers to a node that contains it",
                                  (const char *)ev->data.alias.anchor);
                return false;
            }
        attach(l, n);
        return true;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (l->depth >= ZL_SPEC_MAX_DEPTH) {
            fail(l, line, col, "the document is nested too deeply");
            return false;
        }
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        n = new_node(l, seq ? ZL_Y_SEQ : ZL_Y_MAP, ev);
        n->tag = tag_of(l, seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag);
        remember_anchor(l, seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor, n);
        l->stack[l->depth++] = (struct frame){.node = n};
        return true;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        n = l->stack[--l->depth].node;
        attach(l, n);
        return true;
    default:
        return true;
    }
}

static void syntax_error(struct loader *l, yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    if (p->context)
        zl_spec__diag_add(l->d, ZL_DIAG_ERROR, line, col, "", "P-1", NULL,
                          "YAML syntax error: %s (%s at line %d)", problem, p->context,
                          (int)p->context_mark.line + 1);
    else
        zl_spec__diag_add(l->d, ZL_DIAG_ERROR, line, col, "", "P-1", NULL, "YAML syntax error: %s",
                          problem);
}

struct zl_ynode *zl_spec__yaml_load(const char *buf, size_t len, struct zl_arena *a,
                                    struct zl_diags *d, size_t *nodes)
{
    struct loader *l = zl_xcalloc(1, sizeof(*l));
    l->a = a;
    l->d = d;
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);

    int docs = 0;
    bool ok = true, done = false;
    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(l, &p);
            ok = false;
            break;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            fail(l, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                 "expected a single YAML document, found a second one (remove the '---' line)");
            ok = false;
        } else if (ev.type == YAML_STREAM_END_EVENT) {
            done = true;
        } else {
            ok = on_event(l, &ev);
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    free(l->anchors);
    if (nodes)
        *nodes = l->nodes;

    struct zl_ynode *root = ok ? l->root : NULL;
    if (ok && !root)
        fail(l, 1, 1, "expected a single YAML mapping document, found an empty file");
    else if (root && root->kind != ZL_Y_MAP) {
        if (root->kind == ZL_Y_SCALAR && root->style == ZL_Y_PLAIN && root->len == 0)
            fail(l, 1, 1, "expected a single YAML mapping document, found an empty file");
        else
            zl_spec__diag_add(d, ZL_DIAG_ERROR, root->line, root->col, "", "P-1", NULL,
                              "expected a single YAML mapping document, found a %s",
                              zl_spec__ykind_name(root));
        root = NULL;
    }
    free(l);
    return root;
}

bool zl_spec__is_plain_null(const struct zl_ynode *n)
{
    if (n->kind != ZL_Y_SCALAR || n->style != ZL_Y_PLAIN || n->tag)
        return false;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

const char *zl_spec__ykind_name(const struct zl_ynode *n)
{
    switch (n->kind) {
    case ZL_Y_MAP:
        return "mapping";
    case ZL_Y_SEQ:
        return "sequence";
    default:
        break;
    }
    if (n->style != ZL_Y_PLAIN)
        return "string";
    if (zl_spec__is_plain_null(n))
        return n->len == 0 ? "empty value" : "null";
    return "scalar";
}
