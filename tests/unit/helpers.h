/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/helpers.h: loading snippets and looking at diagnostics. */
#ifndef ZL_TEST_HELPERS_H
#define ZL_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spec/spec.h"

/* A spec whose service `web` gets `extra` appended (already indented by 4 spaces). */
static inline char *svc_yaml(const char *extra)
{
    return zl_xasprintf("version: v1\ndeployment: demo\nservices:\n  web:\n"
                        "    image: {name: nginx}\n%s",
                        extra);
}

static inline void print_diags(const struct zl_diags *d)
{
    zl_diags_print(d, "test.yml", stderr, false);
}

/* Load text; returns the spec or NULL, and the diagnostics. */
static inline struct zl_spec *load_text(const char *text, bool strict, struct zl_diags **d)
{
    struct zl_spec *s = NULL;
    struct zl_spec_opts o = {.strict = strict};
    zl_spec_load("test.yml", text, strlen(text), &o, &s, d);
    return s;
}

/* The first diagnostic with this rule (and this level), or NULL. */
static inline const struct zl_diag *find_rule(const struct zl_diags *d, const char *rule)
{
    for (size_t i = 0; i < zl_diags_count(d); i++) {
        const struct zl_diag *g = zl_diags_get(d, i);
        if (g->rule && strcmp(g->rule, rule) == 0)
            return g;
    }
    return NULL;
}

#endif
