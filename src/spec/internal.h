/* SPDX-License-Identifier: Apache-2.0 */
/* spec/internal.h: types shared by the spec room's own files. */
#ifndef ZL_SPEC_INTERNAL_H
#define ZL_SPEC_INTERNAL_H

#include "spec/spec.h"

/* ---------------- YAML tree (yaml_load.c) ---------------- */

enum zl_ykind {
    ZL_Y_SCALAR = 0,
    ZL_Y_MAP,
    ZL_Y_SEQ,
};

enum zl_ystyle {
    ZL_Y_PLAIN = 0,
    ZL_Y_QUOTED,
    ZL_Y_BLOCK,
};

struct zl_ynode {
    enum zl_ykind kind;
    enum zl_ystyle style;
    int line, col;    /* 1-based */
    const char *tag;  /* as written ("!pin"), or NULL */
    const char *text; /* scalars: NUL-terminated text */
    size_t len;
    size_t n;               /* map pairs or sequence items */
    struct zl_ynode **keys; /* maps */
    struct zl_ynode **vals; /* map values, sequence items */
};

#define ZL_SPEC_MAX_DEPTH 128
#define ZL_SPEC_MAX_NODES 4000000

/* Parse exactly one YAML document whose root is a mapping. Nodes live in `a`. On failure
 * returns NULL after adding a P-1 diagnostic. Aliases share the anchored node. */
struct zl_ynode *zl_spec__yaml_load(const char *buf, size_t len, struct zl_arena *a,
                                    struct zl_diags *d, size_t *nodes);
bool zl_spec__is_plain_null(const struct zl_ynode *n);
const char *zl_spec__ykind_name(const struct zl_ynode *n);

/* ---------------- diagnostics (diag.c) ---------------- */

struct zl_diags {
    const char *file; /* the source, as given to zl_spec_load */
    struct zl_diag *v;
    size_t n, cap;
    size_t errors;
    struct zl_arena arena; /* strings of the diagnostics */
};

struct zl_diags *zl_spec__diags_new(void);
void zl_spec__diag_add(struct zl_diags *d, enum zl_diag_level lvl, int line, int col,
                       const char *path, const char *rule, const char *hint, const char *fmt, ...)
    ZL_PRINTF(8, 9);
void zl_spec__diags_sort(struct zl_diags *d);

/* ---------------- schema (schema.c) ---------------- */

enum zl_tkind {
    TK_STR = 0,
    TK_BOOL,
    TK_INT,
    TK_FLOAT,
    TK_DURATION,
    TK_MEMSIZE,
    TK_ENUM,
    TK_IMAGE,
    TK_CRON,
    TK_LIST,
    TK_MAP,
    TK_OBJ,
    TK_UNION,
    TK_AFFINITY,
    TK_NETMODE,
    TK_ANY,
};

/* field flags */
#define ZF_REQ      0x1u /* must be written */
#define ZF_NULLDEF  0x2u /* an explicit null means absent even though there is a default */
#define ZF_OCTAL    0x4u /* dump as 0o... */
#define ZF_INTERNAL 0x8u /* not a key of the format (never read from a file) */

struct zl_type;
struct zl_field {
    const char *key;
    const struct zl_type *type;
    unsigned flags;
    const char *def;   /* YAML text of the default, or NULL (absent / required) */
    const char *alias; /* alternate key, or NULL */
    const char *rule;  /* rule id for format failures of this field ("F-4", "R-8"), or NULL */
};

struct zl_variant {
    const char *word;
    const struct zl_type *obj; /* an object type whose first field is the tag key */
    const char *hint;
};

struct zl_type {
    enum zl_tkind kind;
    const char *name; /* for messages: "u16", "duration", "mapping" */
    /* TK_INT */
    bool is_signed;
    int64_t min;
    uint64_t max;
    /* TK_ENUM */
    const char *const *words;
    /* TK_LIST, TK_MAP */
    const struct zl_type *item;
    /* TK_OBJ */
    const struct zl_field *fields;
    size_t nfields;
    bool lenient;
    /* TK_UNION */
    const char *tag_key;
    const struct zl_variant *variants;
    size_t nvariants;
    /* hint when a value of the wrong kind is given (section 13 forms) */
    const char *shape_hint;
};

extern const struct zl_type zl_spec__root_type;
const struct zl_field *zl_spec__field(const struct zl_type *t, const char *key, size_t *idx);

/* ---------------- typing (typing.c) ---------------- */

struct zl_spec {
    struct zl_arena arena;
    struct zl_sval *root;
};

enum zl_spec__core {
    CORE_NULL = 0,
    CORE_BOOL,
    CORE_INT,
    CORE_FLOAT,
    CORE_STR,
};

/* A location in the document, linked upward: rendered only when a diagnostic needs it. */
struct zl_spec__path {
    const struct zl_spec__path *up;
    const char *key; /* NULL: the index idx */
    size_t idx;
    const struct zl_ynode *keynode; /* the key as written, when there is one */
};

#define ZL_SPEC_DEFCACHE 512

struct zl_spec__ctx {
    struct zl_arena *a;
    struct zl_diags *d;
    bool strict;
    bool in_default; /* typing a default: values are not "written" */
    bool over;       /* node budget exhausted */
    size_t count;
    size_t budget; /* typed values allowed: a multiple of the YAML nodes (alias bombs) */
    int depth;     /* nesting while typing, aliases expanded */
    struct {
        const struct zl_field *f;
        struct zl_sval *v;
    } cache[ZL_SPEC_DEFCACHE];
};

void zl_spec__err(struct zl_spec__ctx *c, const struct zl_ynode *n, const struct zl_spec__path *p,
                  const char *rule, bool warning, const char *hint, const char *fmt, ...)
    ZL_PRINTF(7, 8);
struct zl_sval *zl_spec__new_val(struct zl_spec__ctx *c, enum zl_sv_kind kind,
                                 const struct zl_ynode *n, const struct zl_type *t);
bool zl_spec__budget(struct zl_spec__ctx *c, const struct zl_ynode *n);
enum zl_spec__core zl_spec__core_of(const struct zl_ynode *n);
/* YAML 1.2 integer text ([+-]digits without leading zeros, 0x, 0o, 0b). Returns 0, -1 when not
 * an integer, -2 when it does not fit 64 bits. */
int zl_spec__parse_int(const char *s, bool *neg, uint64_t *mag);
bool zl_spec__null_ok(const struct zl_field *f, const struct zl_ynode *n, bool in_union);
struct zl_sval *zl_spec__type_node(struct zl_spec__ctx *c, const struct zl_type *t,
                                   const struct zl_field *f, const struct zl_ynode *n,
                                   const struct zl_spec__path *p, bool in_union);
struct zl_sval *zl_spec__type_scalar(struct zl_spec__ctx *c, const struct zl_type *t,
                                     const struct zl_field *f, const struct zl_ynode *n,
                                     const struct zl_spec__path *p, bool in_union);
/* A map key that needs no ["..."] quoting in a path. */
bool zl_spec__plain_key(const char *k);
/* Render a path as "services.web.endpoints[1].port". */
void zl_spec__path_render(const struct zl_spec__path *p, struct zl_buf *b);

struct zl_sval *zl_spec__type_doc(const struct zl_ynode *root, size_t nodes, struct zl_arena *a,
                                  struct zl_diags *d, bool strict);
/* A rule diagnostic: R-* rules are warnings unless strict. */
void zl_spec__rule(struct zl_diags *d, bool strict, const char *rule, int line, int col,
                   const char *path, const char *hint, const char *fmt, ...) ZL_PRINTF(8, 9);

/* ---------------- rules (rules.c) ---------------- */

/* Normalise (ulimit fill, legacy host_network) and run the F, X, D and R rules. */
void zl_spec__validate(struct zl_sval *root, struct zl_arena *a, struct zl_diags *d, bool strict);

#endif
