/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz/fuzz_spec.c: libFuzzer target for the spec loader, the validator and the dump.
 *
 * For every input, in normal and in strict mode:
 *   - zl_spec_load must not crash, leak or trip a sanitizer, and its result must agree with
 *     its diagnostics (success <=> no error; failure <=> no spec and at least one error);
 *   - every diagnostic is well formed and printable;
 *   - a spec that loads dumps to YAML and JSON; the JSON parses; the YAML dump loads again
 *     and dumps to exactly the same bytes (the promise of zl_spec_dump);
 *   - strict mode never accepts what normal mode rejects;
 *   - the health check the daemon derives from each service (its URL taken apart) is
 *     either usable or says why not, and the start order lists every service once.
 * A broken invariant calls abort() so that libFuzzer records the input. */
#include "agent/agent.h"
#include "agent/health.h"
#include "spec/spec.h"
#include "util/util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    return f;
}

static void show(const char *what, const char *text, size_t len)
{
    fprintf(stderr, "---- %s (%zu bytes) ----\n", what, len);
    fwrite(text, 1, len < 8192 ? len : 8192, stderr);
    fprintf(stderr, "\n---- end of %s ----\n", what);
}

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz_spec: invariant broken: %s (%s:%d): ", #cond, __FILE__, \
                    __LINE__);                                                            \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static void check_diags(const struct zl_diags *d, int rc, const struct zl_spec *spec)
{
    size_t n = zl_diags_count(d), errors = 0;
    int last_line = 0, last_col = 0;
    for (size_t i = 0; i < n; i++) {
        const struct zl_diag *g = zl_diags_get(d, i);
        CHECK(g != NULL, "diagnostic %zu of %zu is NULL", i, n);
        CHECK(g->level == ZL_DIAG_ERROR || g->level == ZL_DIAG_WARNING, "bad level %d",
              (int)g->level);
        CHECK(g->path != NULL && g->msg != NULL, "diagnostic %zu has no path or message", i);
        CHECK(g->line >= 0 && g->col >= 0, "diagnostic %zu at %d:%d", i, g->line, g->col);
        CHECK(g->line > last_line || (g->line == last_line && g->col >= last_col) || g->line == 0,
              "diagnostics out of order: %d:%d after %d:%d", g->line, g->col, last_line, last_col);
        if (g->line) {
            last_line = g->line;
            last_col = g->col;
        }
        if (g->level == ZL_DIAG_ERROR)
            errors++;
    }
    CHECK(zl_diags_get(d, n) == NULL, "zl_diags_get past the end");
    /* The list keeps at most a bounded number of entries but counts every error. */
    CHECK(zl_diags_errors(d) >= errors, "%zu errors counted, %zu listed", zl_diags_errors(d),
          errors);
    if (rc == 0) {
        CHECK(spec != NULL, "success without a spec");
        CHECK(zl_diags_errors(d) == 0, "success with %zu errors", zl_diags_errors(d));
    } else {
        CHECK(rc == -ZL_EINVAL, "unexpected return code %d", rc);
        CHECK(spec == NULL, "failure with a spec");
        CHECK(zl_diags_errors(d) > 0, "failure without an error");
    }
    zl_diags_print(d, "fuzz.yml", devnull(), false);
    zl_diags_print(d, "fuzz.yml", devnull(), true);
}

/* Dump a loaded spec both ways and check that the YAML dump is a fixed point. */
static void check_dump(const struct zl_spec *spec, const struct zl_spec_opts *opts)
{
    const struct zl_sval *root = zl_spec_root(spec);
    CHECK(root != NULL, "a loaded spec has no root");
    CHECK(zl_spec_deployment(spec) != NULL, "a loaded spec has no deployment");

    struct zl_buf json;
    zl_buf_init(&json);
    zl_spec_dump(spec, ZL_SPEC_JSON, &json);
    CHECK(json.len > 0, "empty JSON dump");
    json_error_t jerr;
    json_t *j = json_loadb(json.data, json.len, 0, &jerr);
    if (!j)
        show("JSON dump", json.data, json.len);
    CHECK(j != NULL, "the JSON dump does not parse: %s (line %d, column %d)", jerr.text, jerr.line,
          jerr.column);
    json_decref(j);
    zl_buf_fini(&json);

    struct zl_buf y1;
    zl_buf_init(&y1);
    zl_spec_dump(spec, ZL_SPEC_YAML, &y1);
    CHECK(y1.len > 0, "empty YAML dump");

    struct zl_spec *again = NULL;
    struct zl_diags *d2 = NULL;
    int rc = zl_spec_load("dump.yml", y1.data, y1.len, opts, &again, &d2);
    if (rc != 0) {
        show("YAML dump", y1.data, y1.len);
        zl_diags_print(d2, "dump.yml", stderr, false);
    }
    CHECK(rc == 0, "the YAML dump does not load again (strict=%d)", opts->strict);
    check_diags(d2, rc, again);

    struct zl_buf y2;
    zl_buf_init(&y2);
    zl_spec_dump(again, ZL_SPEC_YAML, &y2);
    bool same = y1.len == y2.len && memcmp(y1.data, y2.data, y1.len) == 0;
    if (!same) {
        show("first YAML dump", y1.data, y1.len);
        show("dump of the dump", y2.data, y2.len);
    }
    CHECK(same, "dumping the loaded dump gives different bytes (%zu vs %zu)", y1.len, y2.len);

    zl_buf_fini(&y2);
    zl_spec_free(again);
    zl_diags_free(d2);
    zl_buf_fini(&y1);
}

static void check_lifecycle(const struct zl_spec *spec)
{
    const struct zl_sval *svcs = zl_sval_get(zl_spec_root(spec), "services");
    if (!svcs)
        return;
    for (size_t i = 0; i < svcs->n; i++) {
        struct zl_health_target t = {0};
        if (!zl_health_target_from_spec(svcs->items[i], &t))
            continue;
        if (t.type == ZL_CHECK_HTTP)
            CHECK(t.error || (t.host && t.path && t.path[0] == '/' && t.port > 0 && t.port < 65536),
                  "http check neither usable nor refused");
        if (t.type == ZL_CHECK_TCP)
            CHECK(t.port > 0 && t.port < 65536, "tcp check without a port");
        zl_health_target_fini(&t);
    }
    size_t *order = calloc(svcs->n + 1, sizeof(*order));
    unsigned char *seen = calloc(svcs->n + 1, 1);
    CHECK(zl_agent_service_order(svcs, order) == svcs->n, "start order misses services");
    for (size_t i = 0; i < svcs->n; i++) {
        CHECK(order[i] < svcs->n && !seen[order[i]], "start order repeats a service");
        seen[order[i]] = 1;
    }
    free(order);
    free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rcs[2];
    for (int strict = 0; strict <= 1; strict++) {
        struct zl_spec_opts opts = {.strict = strict != 0};
        struct zl_spec *spec = NULL;
        struct zl_diags *diags = NULL;
        int rc = zl_spec_load("fuzz.yml", (const char *)data, size, &opts, &spec, &diags);
        CHECK(diags != NULL, "no diagnostics list");
        check_diags(diags, rc, spec);
        if (rc == 0) {
            check_dump(spec, &opts);
            check_lifecycle(spec);
        }
        rcs[strict] = rc;
        zl_spec_free(spec);
        zl_diags_free(diags);
    }
    CHECK(!(rcs[1] == 0 && rcs[0] != 0), "strict mode accepts what normal mode rejects");
    return 0;
}
