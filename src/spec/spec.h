/* SPDX-License-Identifier: Apache-2.0 */
/* spec: the v1 deployment format: loading with diagnostics, validation, defaults, dump,
 * and the primitive textual formats (durations, memory sizes, image references, cron). */
#ifndef ZL_SPEC_H
#define ZL_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/util.h"

/* ======================= primitive formats (SPEC-v1 section 2) ======================= */

/* Durations (2.1), e.g. "1h30m", "500ms", "0". On success stores nanoseconds. Values above
 * UINT64_MAX ns (about 584 years) are rejected as too large. Whitespace inside a number
 * ("1 0s") is rejected. Returns 0, or -1 with *why set to a static reason. */
int zl_duration_parse(const char *s, size_t len, uint64_t *ns, const char **why);
/* Canonical text of a duration: "0s", "500ms", "1h30m", "1d2h", "1.5s" is written "1s500ms".
 * Re-parses to the same value. Returns the length written (buf always NUL-terminated). */
size_t zl_duration_format(uint64_t ns, char *buf, size_t cap);

/* Memory sizes (2.2): digits followed by Ki, Mi, Gi or Ti, value > 0, no overflow. */
int zl_memsize_parse(const char *s, size_t len, uint64_t *bytes, const char **why);
/* Canonical text: the largest suffix that divides exactly ("1536Mi", "2Gi"). bytes must be a
 * multiple of 1024. */
size_t zl_memsize_format(uint64_t bytes, char *buf, size_t cap);

/* Image references (2.5). Fields are NUL-terminated; domain/tag/digest are "" when absent. */
struct zl_image_ref {
    char domain[256]; /* "ghcr.io", "localhost:5000", or "" */
    char path[256];   /* "acme/api", "nginx" (as written, no "library/") */
    char tag[130];    /* "1.27-alpine" or "" */
    char digest[140]; /* "sha256:<hex>" or "" */
};
int zl_image_ref_parse(const char *s, size_t len, struct zl_image_ref *out, const char **why);
/* Fully qualified form used for resolution: "docker.io/library/nginx:latest",
 * "docker.io/library/redis@sha256:...", "ghcr.io/acme/api:v2" ("name:tag@digest" keeps both). */
size_t zl_image_ref_normalize(const struct zl_image_ref *r, char *buf, size_t cap);

/* Cron schedules (2.6): 6 or 7 fields (seconds first, optional year) or a shorthand,
 * evaluated in UTC. Day of week is 1-7 with Sunday = 1. A day matches when it is in both
 * the day-of-month and the day-of-week sets. */
struct zl_cron {
    uint64_t sec;     /* bit n: second n (0-59) */
    uint64_t min;     /* bit n: minute n (0-59) */
    uint32_t hour;    /* bit n: hour n (0-23) */
    uint32_t mday;    /* bit n: day n (1-31) */
    uint16_t month;   /* bit n: month n (1-12) */
    uint8_t wday;     /* bit n: weekday n (1-7, 1 = Sunday) */
    uint8_t year[17]; /* bit (y - 1970): years 1970-2100 */
};
int zl_cron_parse(const char *s, size_t len, struct zl_cron *out, const char **why);
/* The first fire time strictly after `after` (Unix seconds, UTC). Returns 0 and sets *next,
 * or -1 when there is none before the end of 2100. */
int zl_cron_next(const struct zl_cron *c, int64_t after, int64_t *next);

/* An http health check's url (5.13) as zlayer reads it: "http://HOST[:PORT][/PATH][?QUERY]".
 * host gets HOST (lower-case), *port PORT (0 when not written), *path the request's target
 * (allocated, caller frees): the path with its query, "/" when the path is empty
 * ("http://h:8080?x" is "/?x"), without a #fragment. Returns 0, or -1 with *path NULL and *why
 * set to a static reason (https://, no host, bad port). */
int zl_spec_check_url_parse(const char *url, char *host, size_t cap, unsigned *port, char **path,
                            const char **why);

/* ======================= diagnostics ======================= */

enum zl_diag_level {
    ZL_DIAG_ERROR = 0,
    ZL_DIAG_WARNING,
};

struct zl_diag {
    enum zl_diag_level level;
    int line, col;    /* 1-based; 0 when not tied to a position */
    const char *path; /* "services.web.endpoints[1].port", or "" for the file */
    const char *msg;
    const char *rule; /* "P-5", "F-6", "X-1", "D-2", "R-11", or NULL */
    const char *hint; /* the accepted form, or NULL */
};

/* A list of diagnostics, kept in file order (line, column, then order found). */
struct zl_diags;
void zl_diags_free(struct zl_diags *d);
size_t zl_diags_count(const struct zl_diags *d);
size_t zl_diags_errors(const struct zl_diags *d);
const struct zl_diag *zl_diags_get(const struct zl_diags *d, size_t i);
/* Print every diagnostic as "FILE:LINE:COL: [warning: ]PATH: MESSAGE [RULE]" plus an indented
 * "hint:" line where there is one. file NULL: the name given to zl_spec_load. */
void zl_diags_print(const struct zl_diags *d, const char *file, FILE *out, bool color);

/* ======================= typed value tree ======================= */

enum zl_sv_kind {
    ZL_SV_BOOL = 0,
    ZL_SV_INT,      /* signed integer fields: .i */
    ZL_SV_UINT,     /* unsigned integer fields: .u */
    ZL_SV_FLOAT,    /* .f */
    ZL_SV_STR,      /* strings and enum words: .s */
    ZL_SV_DURATION, /* .u nanoseconds; .s the original text */
    ZL_SV_MEMSIZE,  /* .u bytes; .s the original text */
    ZL_SV_LIST,     /* .n items */
    ZL_SV_MAP,      /* free-form map: .n keys/items in document order */
    ZL_SV_OBJ,      /* schema object: one slot per field in schema order, NULL = absent */
    ZL_SV_TAGGED,   /* `!pin "sel"` (affinity): .tag and .s */
    ZL_SV_ANY,      /* untyped YAML value (init step `with`): .yaml */
};

struct zl_ynode;
struct zl_sval {
    enum zl_sv_kind kind;
    int line, col;
    bool written;    /* false when the value comes from a default */
    const char *tag; /* "pin" for ZL_SV_TAGGED */
    const char *s;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
    };
    size_t n;
    const char **keys;           /* MAP and OBJ */
    struct zl_sval **items;      /* LIST, MAP, OBJ (NULL slots = absent) */
    const struct zl_ynode *yaml; /* ANY */
    const void *type;            /* the schema type (private) */
};

/* Look up a field of an object or a key of a map; NULL when absent. */
const struct zl_sval *zl_sval_get(const struct zl_sval *v, const char *key);
/* Follow a dotted path from v: "image.name", "health.check.type". NULL when absent. */
const struct zl_sval *zl_sval_path(const struct zl_sval *v, const char *path);
/* Convenience: the string at path, or def when absent. */
const char *zl_sval_str(const struct zl_sval *v, const char *path, const char *def);
uint64_t zl_sval_uint(const struct zl_sval *v, const char *path, uint64_t def);
/* The text of a scalar at path, untyped values (init steps' `with`) included; NULL when
 * absent or not a scalar. */
const char *zl_sval_text(const struct zl_sval *v, const char *path);
bool zl_sval_bool(const struct zl_sval *v, const char *path, bool def);

/* ======================= the spec ======================= */

struct zl_spec;

struct zl_spec_opts {
    bool strict; /* recommended rules (R-*) become errors instead of warnings */
};

/* Parse, type, default and validate a spec held in buf (len bytes; need not be
 * NUL-terminated). `file` names the source in diagnostics. Always sets *diags (caller frees
 * with zl_diags_free). Returns 0 and sets *out (caller frees with zl_spec_free) when there is
 * no error; returns -ZL_EINVAL and sets *out to NULL otherwise. */
int zl_spec_load(const char *file, const char *buf, size_t len, const struct zl_spec_opts *opts,
                 struct zl_spec **out, struct zl_diags **diags);
void zl_spec_free(struct zl_spec *s);

/* The root object (version, deployment, services, externals, tunnels, api). */
const struct zl_sval *zl_spec_root(const struct zl_spec *s);
const char *zl_spec_deployment(const struct zl_spec *s);

enum zl_spec_format {
    ZL_SPEC_YAML = 0,
    ZL_SPEC_JSON,
};
/* The fully defaulted, normalised spec. Dumping the YAML form and loading it again gives
 * the same dump. Appends to out. */
void zl_spec_dump(const struct zl_spec *s, enum zl_spec_format fmt, struct zl_buf *out);

/* Find the spec file in dir (SPEC-v1 1.1): .zlayer.yml, .zlayer.yaml, zlayer.yml, zlayer.yaml,
 * else exactly one match of *.zlayer.yml, *.zlayer.yaml, zlayer.*.yml, zlayer.*.yaml.
 * Sets *path (caller frees). */
int zl_spec_discover(const char *dir, char **path, struct zl_err *err);

#endif
