/* SPDX-License-Identifier: Apache-2.0 */
/* spec/scalar.c: typing of scalar fields (YAML 1.2 rules), textual formats, diagnostics. */
#include "spec/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- paths and diagnostics ---------------- */

bool zl_spec__plain_key(const char *k)
{
    if (!*k)
        return false;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '_' && *k != '-')
            return false;
    return true;
}

void zl_spec__path_render(const struct zl_spec__path *p, struct zl_buf *b)
{
    if (!p)
        return;
    zl_spec__path_render(p->up, b);
    if (!p->key) {
        zl_buf_printf(b, "[%zu]", p->idx);
    } else if (zl_spec__plain_key(p->key)) {
        if (b->len)
            zl_buf_putc(b, '.');
        zl_buf_puts(b, p->key);
    } else {
        zl_buf_printf(b, "[\"%s\"]", p->key);
    }
}

void zl_spec__err(struct zl_spec__ctx *c, const struct zl_ynode *n, const struct zl_spec__path *p,
                  const char *rule, bool warning, const char *hint, const char *fmt, ...)
{
    struct zl_buf path, msg;
    zl_buf_init(&path);
    zl_buf_init(&msg);
    zl_spec__path_render(p, &path);
    va_list ap;
    va_start(ap, fmt);
    zl_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    /* A block mapping or sequence starts on the line after its key: point at the key. */
    if (n && n->kind != ZL_Y_SCALAR && p && p->keynode && p->keynode->line < n->line)
        n = p->keynode;
    zl_spec__diag_add(c->d, warning ? ZL_DIAG_WARNING : ZL_DIAG_ERROR, n ? n->line : 0,
                      n ? n->col : 0, path.data ? path.data : "", rule, hint, "%s", msg.data);
    zl_buf_fini(&path);
    zl_buf_fini(&msg);
}

#define ERR(c, n, p, rule, hint, ...) zl_spec__err(c, n, p, rule, false, hint, __VA_ARGS__)

void zl_spec__rule(struct zl_diags *d, bool strict, const char *rule, int line, int col,
                   const char *path, const char *hint, const char *fmt, ...)
{
    bool warn = rule[0] == 'R' && !strict;
    struct zl_buf msg;
    zl_buf_init(&msg);
    va_list ap;
    va_start(ap, fmt);
    zl_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    zl_spec__diag_add(d, warn ? ZL_DIAG_WARNING : ZL_DIAG_ERROR, line, col, path, rule, hint, "%s",
                      msg.data);
    zl_buf_fini(&msg);
}

/* A rule whose id starts with R is a warning unless strict. */
static bool soft(struct zl_spec__ctx *c, const char *rule)
{
    return rule && rule[0] == 'R' && !c->strict;
}

/* ---------------- scalars ---------------- */

static bool is_bool_word(const char *s)
{
    static const char *const w[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(w); i++)
        if (strcmp(s, w[i]) == 0)
            return true;
    return false;
}

/* Integer text per YAML 1.2 plus ZLayer's rules: [+-]digits without leading zeros, 0x, 0o, 0b.
 * Returns 0 ok, -1 not an integer, -2 overflow of 64 bits. */
int zl_spec__parse_int(const char *s, bool *neg, uint64_t *mag)
{
    *neg = false;
    if (*s == '+' || *s == '-')
        *neg = *s++ == '-';
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
        base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
        s += 2;
    } else if (s[0] == '0' && s[1] != '\0') {
        return -1; /* leading zero: a string in YAML 1.2 */
    }
    if (!*s)
        return -1;
    uint64_t v = 0;
    bool over = false;
    for (; *s; s++) {
        int dgt;
        if (isdigit((unsigned char)*s))
            dgt = *s - '0';
        else if (base == 16 && isxdigit((unsigned char)*s))
            dgt = tolower((unsigned char)*s) - 'a' + 10;
        else
            return -1;
        if (dgt >= base)
            return -1;
        if (v > (UINT64_MAX - (uint64_t)dgt) / (uint64_t)base)
            over = true;
        v = v * (uint64_t)base + (uint64_t)dgt;
    }
    *mag = v;
    return over ? -2 : 0;
}

static bool parse_float(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (p == s && (strcmp(p, ".nan") == 0 || strcmp(p, ".NaN") == 0 || strcmp(p, ".NAN") == 0)) {
        *out = NAN;
        return true;
    }
    /* [0-9]* (. [0-9]*)? ([eE][+-]?[0-9]+)? with at least one digit in the mantissa */
    size_t digits = 0;
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, digits++;
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return false;
    errno = 0;
    *out = strtod(s, NULL);
    return true;
}

/* How YAML 1.2's core schema reads a plain scalar (leading-zero decimals stay strings). */
enum zl_spec__core zl_spec__core_of(const struct zl_ynode *n)
{
    if (n->style != ZL_Y_PLAIN)
        return CORE_STR;
    if (zl_spec__is_plain_null(n))
        return CORE_NULL;
    if (is_bool_word(n->text))
        return CORE_BOOL;
    bool neg;
    uint64_t mag;
    if (zl_spec__parse_int(n->text, &neg, &mag) != -1)
        return CORE_INT;
    double f;
    if (parse_float(n->text, &f))
        return CORE_FLOAT;
    return CORE_STR;
}

static const char *core_name(enum zl_spec__core k)
{
    static const char *const names[] = {"null", "boolean", "integer", "number", "string"};
    return names[k];
}

/* ---------------- values ---------------- */

struct zl_sval *zl_spec__new_val(struct zl_spec__ctx *c, enum zl_sv_kind kind,
                                 const struct zl_ynode *n, const struct zl_type *t)
{
    struct zl_sval *v = zl_arena_alloc(c->a, sizeof(*v));
    v->kind = kind;
    v->type = t;
    v->written = !c->in_default;
    if (n && !c->in_default) {
        v->line = n->line;
        v->col = n->col;
    }
    c->count++;
    return v;
}

bool zl_spec__budget(struct zl_spec__ctx *c, const struct zl_ynode *n)
{
    /* defaults are small and typed once: they never count against the document */
    if (c->in_default || c->count < (c->budget ? c->budget : ZL_SPEC_MAX_NODES))
        return true;
    if (!c->over)
        ERR(c, n, NULL, "P-1", "use fewer nested aliases, or write the values out",
            "the document grows too large once its aliases are expanded (more than %zu values)",
            c->budget);
    c->over = true;
    return false;
}

static bool need_scalar(struct zl_spec__ctx *c, const struct zl_type *t, const struct zl_field *f,
                        const struct zl_ynode *n, const struct zl_spec__path *p)
{
    if (n->kind == ZL_Y_SCALAR)
        return true;
    const char *hint = t->shape_hint;
    if (f && strcmp(f->key, "command") == 0 && t->kind == TK_STR)
        hint =
            "a health check command is one string run by `sh -c`: `command: \"pg_isready -U app\"`";
    ERR(c, n, p, "P-5", hint, "invalid type: expected a %s, found a %s", t->name,
        zl_spec__ykind_name(n));
    return false;
}

/* Union members read plain scalars by their looks first (SPEC-v1 1.3). */
static bool union_plain_ok(struct zl_spec__ctx *c, const struct zl_type *t,
                           const struct zl_ynode *n, const struct zl_spec__path *p)
{
    enum zl_spec__core k = zl_spec__core_of(n);
    if (k == CORE_STR)
        return true;
    const char *hint = zl_arena_printf(c->a, "quote it: \"%s\"%s", n->text,
                                       t->kind == TK_DURATION ? " or give a unit such as 0s" : "");
    if (t->kind == TK_DURATION && k == CORE_INT)
        hint = zl_arena_printf(c->a, "give it a unit: %ss", n->text);
    ERR(c, n, p, "P-5", hint, "invalid type: expected a %s, found %s %s", t->name,
        k == CORE_INT ? "an" : "a", core_name(k));
    return false;
}

static struct zl_sval *type_bool(struct zl_spec__ctx *c, const struct zl_type *t,
                                 const struct zl_ynode *n, const struct zl_spec__path *p)
{
    if (n->style == ZL_Y_PLAIN && is_bool_word(n->text)) {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_BOOL, n, t);
        v->b = n->text[0] == 't' || n->text[0] == 'T';
        return v;
    }
    if (n->style != ZL_Y_PLAIN && is_bool_word(n->text))
        ERR(c, n, p, "P-5", zl_arena_printf(c->a, "remove the quotes: %s", n->text),
            "invalid type: expected a boolean, found the string \"%s\"", n->text);
    else
        ERR(c, n, p, "P-5",
            "YAML 1.2 booleans are only true and false (yes, no, on and off are strings)",
            "invalid type: expected a boolean, found '%s'", n->text);
    return NULL;
}

static struct zl_sval *type_int(struct zl_spec__ctx *c, const struct zl_type *t,
                                const struct zl_ynode *n, const struct zl_spec__path *p)
{
    bool neg;
    uint64_t mag;
    int rc = zl_spec__parse_int(n->text, &neg, &mag);
    if (n->style != ZL_Y_PLAIN) {
        const char *hint = rc == 0 ? zl_arena_printf(c->a, "remove the quotes: %s", n->text) : NULL;
        ERR(c, n, p, "P-5", hint, "invalid type: expected an integer (%s), found the string \"%s\"",
            t->name, n->text);
        return NULL;
    }
    if (rc == -1) {
        size_t i = n->text[0] == '+' || n->text[0] == '-';
        double f;
        if (n->text[i] == '0' && isdigit((unsigned char)n->text[i + 1]) &&
            strspn(n->text + i, "0123456789") == strlen(n->text + i))
            ERR(c, n, p, "P-5",
                zl_arena_printf(c->a, "write 0o%s for octal, or the number without zeros in front",
                                n->text + i + strspn(n->text + i, "0")),
                "invalid type: expected an integer (%s), found the string '%s' (a leading zero "
                "makes it a string in YAML 1.2)",
                t->name, n->text);
        else if (parse_float(n->text, &f))
            ERR(c, n, p, "P-5", NULL, "invalid type: expected an integer (%s), found the number %s",
                t->name, n->text);
        else
            ERR(c, n, p, "P-5", NULL, "invalid type: expected an integer (%s), found '%s'", t->name,
                n->text);
        return NULL;
    }
    bool fits = rc == 0;
    if (fits && t->is_signed)
        fits = neg ? mag <= (uint64_t)(-(t->min + 1)) + 1 : mag <= t->max;
    else if (fits)
        fits = (!neg || mag == 0) && mag <= t->max;
    if (!fits) {
        if (t->is_signed)
            ERR(c, n, p, "P-6", NULL, "%s is out of range for %s (%lld to %llu)", n->text, t->name,
                (long long)t->min, (unsigned long long)t->max);
        else
            ERR(c, n, p, "P-6", NULL, "%s is out of range for %s (0-%llu)", n->text, t->name,
                (unsigned long long)t->max);
        return NULL;
    }
    struct zl_sval *v = zl_spec__new_val(c, t->is_signed ? ZL_SV_INT : ZL_SV_UINT, n, t);
    v->s = n->text;
    if (t->is_signed)
        v->i = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    else
        v->u = mag;
    return v;
}

static struct zl_sval *type_float(struct zl_spec__ctx *c, const struct zl_type *t,
                                  const struct zl_ynode *n, const struct zl_spec__path *p)
{
    double f;
    if (n->style == ZL_Y_PLAIN && parse_float(n->text, &f)) {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_FLOAT, n, t);
        v->f = f;
        return v;
    }
    const char *hint = NULL;
    size_t len = strlen(n->text);
    if (len > 1 && n->text[len - 1] == 'm')
        hint = "CPU is a number of cores: write 0.5 for half a core (there is no millicore form)";
    else if (n->style != ZL_Y_PLAIN && parse_float(n->text, &f))
        hint = zl_arena_printf(c->a, "remove the quotes: %s", n->text);
    ERR(c, n, p, "P-5", hint, "invalid type: expected a number, found the string \"%s\"", n->text);
    return NULL;
}

static bool is_enum_word(const struct zl_type *t, const char *s)
{
    for (const char *const *w = t->words; *w; w++)
        if (strcmp(*w, s) == 0)
            return true;
    return false;
}

/* Case- and separator-insensitive match, for "did you mean". */
static const char *enum_near(const struct zl_type *t, const char *s)
{
    for (const char *const *w = t->words; *w; w++) {
        const char *a = *w, *b = s;
        while (*a || *b) {
            while (*a == '_' || *a == '-')
                a++;
            while (*b == '_' || *b == '-')
                b++;
            if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
                break;
            if (*a)
                a++, b++;
        }
        if (!*a && !*b)
            return *w;
    }
    return NULL;
}

static struct zl_sval *type_enum(struct zl_spec__ctx *c, const struct zl_type *t,
                                 const struct zl_ynode *n, const struct zl_spec__path *p)
{
    if (is_enum_word(t, n->text)) {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_STR, n, t);
        v->s = n->text;
        return v;
    }
    struct zl_buf list;
    zl_buf_init(&list);
    for (const char *const *w = t->words; *w; w++)
        zl_buf_printf(&list, "%s%s", w == t->words ? "" : ", ", *w);
    const char *near = enum_near(t, n->text);
    ERR(c, n, p, "P-7", near ? zl_arena_printf(c->a, "did you mean '%s'?", near) : NULL,
        "unknown value '%s', expected one of: %s", n->text, list.data);
    zl_buf_fini(&list);
    return NULL;
}

/* ---------------- textual formats ---------------- */

static const char *rule_of(const struct zl_field *f, const char *def)
{
    return f && f->rule ? f->rule : def;
}

/* A format failure on a field whose rule is a recommendation keeps the text as a string. */
static struct zl_sval *keep_text(struct zl_spec__ctx *c, const struct zl_type *t,
                                 const struct zl_ynode *n)
{
    struct zl_sval *v = zl_spec__new_val(c, ZL_SV_STR, n, t);
    v->s = n->text;
    return v;
}

static struct zl_sval *type_duration(struct zl_spec__ctx *c, const struct zl_type *t,
                                     const struct zl_field *f, const struct zl_ynode *n,
                                     const struct zl_spec__path *p)
{
    uint64_t ns;
    const char *why;
    if (zl_duration_parse(n->text, n->len, &ns, &why) == 0) {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_DURATION, n, t);
        v->u = ns;
        v->s = n->text;
        return v;
    }
    const char *rule = rule_of(f, "P-9");
    bool warn = soft(c, rule);
    const char *hint = NULL;
    bool neg;
    uint64_t mag;
    if (zl_spec__parse_int(n->text, &neg, &mag) == 0 && !neg)
        hint =
            zl_arena_printf(c->a, "give it a unit: %ss (or %sm, %sms)", n->text, n->text, n->text);
    if (strcmp(rule, "X-7") == 0)
        zl_spec__err(c, n, p, rule, warn, hint, "invalid tunnel max_ttl '%s': %s", n->text, why);
    else
        zl_spec__err(c, n, p, rule, warn, hint, "invalid duration '%s': %s", n->text, why);
    return warn ? keep_text(c, t, n) : NULL;
}

static const char *memsize_hint(struct zl_spec__ctx *c, const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return NULL;
    static const char *const from[] = {"KB",  "MB",  "GB",  "TB",  "K",  "M",  "G",  "T",
                                       "kb",  "mb",  "gb",  "tb",  "k",  "m",  "g",  "t",
                                       "KiB", "MiB", "GiB", "TiB", "Mb", "Gb", "Kb", "Tb"};
    static const char *const to[] = {"Ki", "Mi", "Gi", "Ti"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(from); i++)
        if (strcmp(end, from[i]) == 0) {
            char u = (char)toupper((unsigned char)from[i][0]);
            size_t k = u == 'K' ? 0 : u == 'M' ? 1 : u == 'G' ? 2 : 3;
            return zl_arena_printf(c->a, "write %llu%s (binary units Ki, Mi, Gi, Ti)", v, to[k]);
        }
    if (!*end)
        return zl_arena_printf(c->a, "give it a unit, e.g. %lluMi", v);
    return NULL;
}

static struct zl_sval *type_memsize(struct zl_spec__ctx *c, const struct zl_type *t,
                                    const struct zl_field *f, const struct zl_ynode *n,
                                    const struct zl_spec__path *p)
{
    uint64_t bytes;
    const char *why;
    if (zl_memsize_parse(n->text, n->len, &bytes, &why) == 0) {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_MEMSIZE, n, t);
        v->u = bytes;
        v->s = n->text;
        return v;
    }
    const char *rule = rule_of(f, "F-4");
    bool warn = soft(c, rule);
    const char *hint = memsize_hint(c, n->text);
    if (strcmp(rule, "X-9") == 0)
        zl_spec__err(c, n, p, rule, warn, hint, "memory format '%s' is invalid: %s", n->text, why);
    else
        zl_spec__err(c, n, p, rule, warn, hint,
                     "invalid memory format: '%s' (use Ki, Mi, Gi, or Ti suffix): %s", n->text,
                     why);
    return warn ? keep_text(c, t, n) : NULL;
}

static struct zl_sval *type_image(struct zl_spec__ctx *c, const struct zl_type *t,
                                  const struct zl_ynode *n, const struct zl_spec__path *p)
{
    struct zl_image_ref ref;
    const char *why;
    if (zl_image_ref_parse(n->text, n->len, &ref, &why) == 0) {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_STR, n, t);
        v->s = n->text;
        return v;
    }
    ERR(c, n, p, "P-10", NULL, "invalid image reference '%s': %s", n->text, why);
    return NULL;
}

static struct zl_sval *type_cron(struct zl_spec__ctx *c, const struct zl_type *t,
                                 const struct zl_ynode *n, const struct zl_spec__path *p)
{
    struct zl_cron cron;
    const char *why;
    if (zl_cron_parse(n->text, n->len, &cron, &why) == 0) {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_STR, n, t);
        v->s = n->text;
        return v;
    }
    size_t fields = 0;
    for (const char *s = n->text; *s;) {
        while (isspace((unsigned char)*s))
            s++;
        if (*s)
            fields++;
        while (*s && !isspace((unsigned char)*s))
            s++;
    }
    const char *hint =
        fields == 5
            ? zl_arena_printf(c->a, "schedules start with a seconds field: write \"0 %s\"", n->text)
            : NULL;
    ERR(c, n, p, "F-8", hint, "invalid cron schedule '%s': %s", n->text, why);
    return NULL;
}

static struct zl_sval *type_affinity(struct zl_spec__ctx *c, const struct zl_type *t,
                                     const struct zl_ynode *n, const struct zl_spec__path *p)
{
    static const char hint[] = "write `affinity: spread`, `affinity: pack` or "
                               "`affinity: !pin \"id=2\"`";
    if (n->kind == ZL_Y_SCALAR && n->tag && strcmp(n->tag, "!pin") == 0 && n->len > 0) {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_TAGGED, n, t);
        v->tag = "pin";
        v->s = n->text;
        return v;
    }
    if (n->kind == ZL_Y_SCALAR && !n->tag &&
        (strcmp(n->text, "spread") == 0 || strcmp(n->text, "pack") == 0)) {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_STR, n, t);
        v->s = n->text;
        return v;
    }
    ERR(c, n, p, "P-12", hint,
        "invalid affinity: expected spread, pack or !pin \"<selector>\", found %s%s%s",
        n->kind == ZL_Y_SCALAR ? "'" : "a ",
        n->kind == ZL_Y_SCALAR ? n->text : zl_spec__ykind_name(n),
        n->kind == ZL_Y_SCALAR ? "'" : "");
    return NULL;
}

static const char *netmode_text(struct zl_spec__ctx *c, const struct zl_ynode *n, const char **err)
{
    const char *s = n->text;
    if (!strcmp(s, "default") || !strcmp(s, "host") || !strcmp(s, "none") || !strcmp(s, "bridge"))
        return s;
    if (!strcmp(s, "bridge:"))
        return "bridge";
    if (!strncmp(s, "bridge:", 7))
        return s;
    if (!strncmp(s, "container:", 10)) {
        if (s[10])
            return s;
        *err = zl_arena_printf(c->a, "network mode \"%s\" requires a non-empty id", s);
        return NULL;
    }
    *err = zl_arena_printf(c->a, "unknown network mode: %s", s);
    return NULL;
}

/* `!bridge {name: n}` and `!container {id: x}`. */
static const char *netmode_tagged(struct zl_spec__ctx *c, const struct zl_ynode *n,
                                  const char **err)
{
    bool bridge = strcmp(n->tag, "!bridge") == 0;
    if (!bridge && strcmp(n->tag, "!container") != 0) {
        *err = zl_arena_printf(c->a, "unknown network mode tag '%s' (use !bridge or !container)",
                               n->tag);
        return NULL;
    }
    if (n->kind != ZL_Y_MAP) {
        *err = zl_arena_printf(c->a, "%s takes a mapping: %s", n->tag,
                               bridge ? "!bridge {name: my-net}" : "!container {id: abc123}");
        return NULL;
    }
    const char *want = bridge ? "name" : "id", *val = NULL;
    for (size_t i = 0; i < n->n; i++) {
        const struct zl_ynode *k = n->keys[i], *v = n->vals[i];
        if (k->kind != ZL_Y_SCALAR || strcmp(k->text, want) != 0) {
            *err = zl_arena_printf(c->a, "unknown field '%s' in %s; expected: %s",
                                   k->kind == ZL_Y_SCALAR ? k->text : "?", n->tag, want);
            return NULL;
        }
        if (v->kind != ZL_Y_SCALAR || val) {
            *err = zl_arena_printf(c->a, "invalid %s in %s", want, n->tag);
            return NULL;
        }
        val = v->text;
    }
    if (bridge)
        return val && *val ? zl_arena_printf(c->a, "bridge:%s", val) : "bridge";
    if (!val || !*val) {
        *err = "network mode \"container:\" requires a non-empty id";
        return NULL;
    }
    return zl_arena_printf(c->a, "container:%s", val);
}

static struct zl_sval *type_netmode(struct zl_spec__ctx *c, const struct zl_type *t,
                                    const struct zl_ynode *n, const struct zl_spec__path *p)
{
    static const char hint[] = "write `network_mode: bridge:my-net`, `network_mode: !bridge "
                               "{name: my-net}` or `network_mode: container:ID`";
    const char *err = NULL, *s = NULL;
    if (n->tag)
        s = netmode_tagged(c, n, &err);
    else if (n->kind != ZL_Y_SCALAR)
        err = zl_arena_printf(c->a, "unknown network mode: an untagged %s", zl_spec__ykind_name(n));
    else if (zl_spec__core_of(n) != CORE_STR)
        err = zl_arena_printf(c->a, "network_mode must be a string, found %s '%s'",
                              core_name(zl_spec__core_of(n)), n->text);
    else
        s = netmode_text(c, n, &err);
    if (!s) {
        ERR(c, n, p, "P-11", hint, "%s", err);
        return NULL;
    }
    struct zl_sval *v = zl_spec__new_val(c, ZL_SV_STR, n, t);
    v->s = s;
    return v;
}

struct zl_sval *zl_spec__type_scalar(struct zl_spec__ctx *c, const struct zl_type *t,
                                     const struct zl_field *f, const struct zl_ynode *n,
                                     const struct zl_spec__path *p, bool in_union)
{
    if (t->kind == TK_AFFINITY)
        return type_affinity(c, t, n, p);
    if (t->kind == TK_NETMODE)
        return type_netmode(c, t, n, p);
    if (!need_scalar(c, t, f, n, p))
        return NULL;
    if (in_union &&
        (t->kind == TK_STR || t->kind == TK_DURATION || t->kind == TK_MEMSIZE ||
         t->kind == TK_ENUM) &&
        !union_plain_ok(c, t, n, p))
        return NULL;
    switch (t->kind) {
    case TK_STR: {
        struct zl_sval *v = zl_spec__new_val(c, ZL_SV_STR, n, t);
        v->s = n->text;
        return v;
    }
    case TK_BOOL:
        return type_bool(c, t, n, p);
    case TK_INT:
        return type_int(c, t, n, p);
    case TK_FLOAT:
        return type_float(c, t, n, p);
    case TK_DURATION:
        return type_duration(c, t, f, n, p);
    case TK_MEMSIZE:
        return type_memsize(c, t, f, n, p);
    case TK_ENUM:
        return type_enum(c, t, n, p);
    case TK_IMAGE:
        return type_image(c, t, n, p);
    case TK_CRON:
        return type_cron(c, t, n, p);
    default:
        ZL_ASSERT(!"not a scalar type");
        return NULL;
    }
}
