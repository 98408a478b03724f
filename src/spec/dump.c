/* SPDX-License-Identifier: Apache-2.0 */
/* spec/dump.c: the typed tree as YAML (re-parses to itself) or JSON. */
#include "spec/internal.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------- YAML ---------------- */

static bool plain_safe(const char *s)
{
    if (!*s || strchr("-?:,[]{}#&*!|>'\"%@`~ ", s[0]))
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!isalnum(ch) && !strchr("_./+=-:", ch))
            return false;
        if (ch == ':' && (p[1] == '\0' || p[1] == ' '))
            return false;
    }
    /* words YAML 1.1 tools read as booleans stay quoted, for their sake */
    static const char *const yaml11[] = {"y", "n", "yes", "no", "on", "off"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(yaml11); i++)
        if (!strcasecmp(s, yaml11[i]))
            return false;
    struct zl_ynode n = {.kind = ZL_Y_SCALAR, .style = ZL_Y_PLAIN, .text = s, .len = strlen(s)};
    return zl_spec__core_of(&n) == CORE_STR;
}

static void put_quoted(struct zl_buf *b, const char *s)
{
    zl_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            zl_buf_puts(b, "\\\"");
            break;
        case '\\':
            zl_buf_puts(b, "\\\\");
            break;
        case '\n':
            zl_buf_puts(b, "\\n");
            break;
        case '\t':
            zl_buf_puts(b, "\\t");
            break;
        case '\r':
            zl_buf_puts(b, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                zl_buf_printf(b, "\\x%02x", *p);
            else
                zl_buf_putc(b, (char)*p);
        }
    }
    zl_buf_putc(b, '"');
}

static void put_str(struct zl_buf *b, const char *s)
{
    if (plain_safe(s))
        zl_buf_puts(b, s);
    else
        put_quoted(b, s);
}

static void put_float(struct zl_buf *b, double f)
{
    if (isnan(f)) {
        zl_buf_puts(b, ".nan");
        return;
    }
    if (isinf(f)) {
        zl_buf_puts(b, f < 0 ? "-.inf" : ".inf");
        return;
    }
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    zl_buf_puts(b, tmp);
}

/* An untyped value (init step `with`) keeps its YAML reading: flow style. */
static void put_any(struct zl_buf *b, const struct zl_ynode *n)
{
    if (n->kind == ZL_Y_SCALAR) {
        if (n->style == ZL_Y_PLAIN && zl_spec__core_of(n) != CORE_STR)
            zl_buf_puts(b, n->len ? n->text : "null");
        else
            put_str(b, n->text);
        return;
    }
    bool map = n->kind == ZL_Y_MAP;
    zl_buf_putc(b, map ? '{' : '[');
    for (size_t i = 0; i < n->n; i++) {
        if (i)
            zl_buf_puts(b, ", ");
        if (map) {
            put_str(b, n->keys[i]->text);
            zl_buf_puts(b, ": ");
        }
        put_any(b, n->vals[i]);
    }
    zl_buf_putc(b, map ? '}' : ']');
}

static bool nulldef(const struct zl_sval *v, size_t i)
{
    return v->kind == ZL_SV_OBJ &&
           (((const struct zl_type *)v->type)->fields[i].flags & ZF_NULLDEF);
}

static size_t present(const struct zl_sval *v)
{
    size_t n = 0;
    for (size_t i = 0; i < v->n; i++)
        n += v->items[i] != NULL || nulldef(v, i);
    return n;
}

static void put_value(struct zl_buf *b, const struct zl_sval *v, int indent, bool oct);

static void put_scalar(struct zl_buf *b, const struct zl_sval *v, bool oct)
{
    char tmp[64];
    switch (v->kind) {
    case ZL_SV_BOOL:
        zl_buf_puts(b, v->b ? "true" : "false");
        break;
    case ZL_SV_INT:
        zl_buf_printf(b, "%lld", (long long)v->i);
        break;
    case ZL_SV_UINT:
        if (oct)
            zl_buf_printf(b, "0o%llo", (unsigned long long)v->u);
        else
            zl_buf_printf(b, "%llu", (unsigned long long)v->u);
        break;
    case ZL_SV_FLOAT:
        put_float(b, v->f);
        break;
    case ZL_SV_DURATION:
        zl_duration_format(v->u, tmp, sizeof(tmp));
        zl_buf_puts(b, tmp);
        break;
    case ZL_SV_MEMSIZE:
        zl_memsize_format(v->u, tmp, sizeof(tmp));
        zl_buf_puts(b, tmp);
        break;
    case ZL_SV_TAGGED:
        zl_buf_printf(b, "!%s ", v->tag);
        put_quoted(b, v->s);
        break;
    case ZL_SV_ANY:
        put_any(b, v->yaml);
        break;
    default:
        put_str(b, v->s ? v->s : "");
    }
}

static void indent_to(struct zl_buf *b, int n)
{
    for (int i = 0; i < n; i++)
        zl_buf_putc(b, ' ');
}

/* Emit the entries of an object or map at `indent`; the first line's indent is already out
 * when `first_done`. */
static void put_entries(struct zl_buf *b, const struct zl_sval *v, int indent, bool first_done)
{
    bool first = true;
    for (size_t i = 0; i < v->n; i++) {
        const struct zl_sval *item = v->items[i];
        bool explicit_null = !item && nulldef(v, i);
        if (!item && !explicit_null)
            continue;
        if (!(first && first_done))
            indent_to(b, indent);
        first = false;
        put_str(b, v->keys[i]);
        zl_buf_putc(b, ':');
        if (explicit_null) {
            /* absent here means "no limit", which a left-out key would turn into the default */
            zl_buf_puts(b, " null\n");
            continue;
        }
        bool oct = false;
        if (v->kind == ZL_SV_OBJ) {
            const struct zl_type *t = v->type;
            oct = (t->fields[i].flags & ZF_OCTAL) != 0;
        }
        put_value(b, item, indent, oct);
    }
}

/* Writes " value\n" or "\n" + a nested block. */
static void put_value(struct zl_buf *b, const struct zl_sval *v, int indent, bool oct)
{
    switch (v->kind) {
    case ZL_SV_OBJ:
    case ZL_SV_MAP:
        if (present(v) == 0) {
            zl_buf_puts(b, " {}\n");
            return;
        }
        zl_buf_putc(b, '\n');
        put_entries(b, v, indent + 2, false);
        return;
    case ZL_SV_LIST:
        if (v->n == 0) {
            zl_buf_puts(b, " []\n");
            return;
        }
        zl_buf_putc(b, '\n');
        for (size_t i = 0; i < v->n; i++) {
            const struct zl_sval *it = v->items[i];
            indent_to(b, indent + 2);
            zl_buf_puts(b, "-");
            if ((it->kind == ZL_SV_OBJ || it->kind == ZL_SV_MAP) && present(it) > 0) {
                zl_buf_putc(b, ' ');
                put_entries(b, it, indent + 4, true);
            } else {
                put_value(b, it, indent + 2, false);
            }
        }
        return;
    default:
        zl_buf_putc(b, ' ');
        put_scalar(b, v, oct);
        zl_buf_putc(b, '\n');
    }
}

/* ---------------- JSON ---------------- */

static json_t *any_json(const struct zl_ynode *n)
{
    if (n->kind == ZL_Y_SCALAR) {
        if (n->style != ZL_Y_PLAIN)
            return json_string(n->text);
        switch (zl_spec__core_of(n)) {
        case CORE_NULL:
            return json_null();
        case CORE_BOOL:
            return json_boolean(n->text[0] == 't' || n->text[0] == 'T');
        case CORE_INT: {
            bool neg;
            uint64_t mag;
            if (zl_spec__parse_int(n->text, &neg, &mag) == 0 && mag <= INT64_MAX)
                return json_integer(neg ? -(json_int_t)mag : (json_int_t)mag);
            return json_string(n->text); /* beyond 64 bits: keep the digits */
        }
        case CORE_FLOAT: {
            double f = strtod(n->text, NULL);
            return isfinite(f) ? json_real(f) : json_string(n->text);
        }
        default:
            return json_string(n->text);
        }
    }
    json_t *out = n->kind == ZL_Y_MAP ? json_object() : json_array();
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == ZL_Y_MAP)
            json_object_set_new(out, n->keys[i]->text, any_json(n->vals[i]));
        else
            json_array_append_new(out, any_json(n->vals[i]));
    }
    return out;
}

static json_t *to_json(const struct zl_sval *v)
{
    char tmp[64];
    switch (v->kind) {
    case ZL_SV_BOOL:
        return json_boolean(v->b);
    case ZL_SV_INT:
        return json_integer(v->i);
    case ZL_SV_UINT:
        return v->u <= INT64_MAX ? json_integer((json_int_t)v->u) : json_real((double)v->u);
    case ZL_SV_FLOAT:
        return isfinite(v->f) ? json_real(v->f) : json_null();
    case ZL_SV_DURATION:
        zl_duration_format(v->u, tmp, sizeof(tmp));
        return json_string(tmp);
    case ZL_SV_MEMSIZE:
        zl_memsize_format(v->u, tmp, sizeof(tmp));
        return json_string(tmp);
    case ZL_SV_TAGGED:
        return json_pack("{s:s}", v->tag, v->s);
    case ZL_SV_ANY:
        return any_json(v->yaml);
    case ZL_SV_LIST: {
        json_t *a = json_array();
        for (size_t i = 0; i < v->n; i++)
            json_array_append_new(a, to_json(v->items[i]));
        return a;
    }
    case ZL_SV_OBJ:
    case ZL_SV_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; i < v->n; i++)
            if (v->items[i])
                json_object_set_new(o, v->keys[i], to_json(v->items[i]));
            else if (nulldef(v, i))
                json_object_set_new(o, v->keys[i], json_null());
        return o;
    }
    default:
        return json_stringn(v->s ? v->s : "", v->s ? strlen(v->s) : 0);
    }
}

void zl_spec_dump(const struct zl_spec *s, enum zl_spec_format fmt, struct zl_buf *out)
{
    if (fmt == ZL_SPEC_JSON) {
        json_t *j = to_json(s->root);
        char *text = json_dumps(j, JSON_INDENT(2));
        ZL_ASSERT(text);
        zl_buf_puts(out, text);
        zl_buf_putc(out, '\n');
        free(text);
        json_decref(j);
        return;
    }
    put_entries(out, s->root, 0, false);
}
