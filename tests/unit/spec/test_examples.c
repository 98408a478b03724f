/* SPDX-License-Identifier: Apache-2.0 */
/* Every example in tests/data/spec-examples validates; every invalid one fails with its rule at its
 * line. */
#include "../helpers.h"

#include <dirent.h>

static const struct {
    const char *file, *rule;
    int line;
} invalid[] = {
    {"d01-self-dependency.zlayer.yml", "D-1", 9},
    {"d02-dependency-cycle.zlayer.yml", "D-2", 14},
    {"d03-unknown-init-action.zlayer.yml", "D-3", 11},
    {"f01-version.zlayer.yml", "F-1", 2},
    {"f02-deployment-name.zlayer.yml", "F-2", 3},
    {"f03-cpu-zero.zlayer.yml", "F-3", 9},
    {"f04-memory-units.zlayer.yml", "F-4", 9},
    {"f06-port-zero.zlayer.yml", "F-6", 11},
    {"f07-scale-min-gt-max.zlayer.yml", "F-7", 10},
    {"f08-five-field-cron.zlayer.yml", "F-8", 7},
    {"f09-replica-role.zlayer.yml", "F-9", 9},
    {"f11-external-no-backends.zlayer.yml", "F-11", 6},
    {"p03-unknown-field-volumes.zlayer.yml", "P-3", 8},
    {"p05-init-as-list.zlayer.yml", "P-5", 8},
    {"p05-quoted-port.zlayer.yml", "P-5", 11},
    {"p06-port-out-of-range.zlayer.yml", "P-6", 11},
    {"p07-bad-enum.zlayer.yml", "P-7", 8},
    {"p08-health-exec.zlayer.yml", "P-8", 10},
    {"p09-duration-without-unit.zlayer.yml", "P-9", 9},
    {"p10-uppercase-image.zlayer.yml", "P-10", 7},
    {"p12-pin-as-mapping.zlayer.yml", "P-12", 8},
    {"x01-unknown-dependency.zlayer.yml", "X-1", 9},
    {"x02-duplicate-endpoint.zlayer.yml", "X-2", 12},
    {"x03-schedule-on-service.zlayer.yml", "X-3", 7},
    {"x04-cron-without-schedule.zlayer.yml", "X-4", 6},
    {"x05-tunnel-port-zero.zlayer.yml", "X-5", 8},
    {"x07-bad-max-ttl.zlayer.yml", "X-7", 16},
    {"x08-wasm-on-standard.zlayer.yml", "X-8", 8},
    {"x10-wasm-instances.zlayer.yml", "X-10", 10},
    {"x11-wasm-capability-default-trap.zlayer.yml", "X-11", 14},
    {"x12-wasm-http-no-http-endpoint.zlayer.yml", "X-12", 9},
    {"x13-wasm-preopen-empty.zlayer.yml", "X-13", 11},
};

static char *read_all(const char *path, size_t *len)
{
    char *buf;
    struct zl_err err;
    if (zl_read_file(path, 1 << 24, &buf, len, &err) < 0)
        fail_msg("%s", err.msg);
    return buf;
}

static const char *examples(void)
{
    const char *dir = getenv("ZL_EXAMPLES");
    return dir ? dir : "tests/data/spec-examples";
}

static void test_valid_examples(void **state)
{
    (void)state;
    DIR *dh = opendir(examples());
    assert_non_null(dh);
    struct dirent *e;
    int seen = 0;
    while ((e = readdir(dh))) {
        if (!strstr(e->d_name, ".zlayer.yml"))
            continue;
        char *path = zl_xasprintf("%s/%s", examples(), e->d_name);
        size_t len;
        char *buf = read_all(path, &len);
        struct zl_spec *s = NULL;
        struct zl_diags *d = NULL;
        int rc = zl_spec_load(path, buf, len, NULL, &s, &d);
        if (rc != 0)
            zl_diags_print(d, path, stderr, false);
        assert_int_equal(rc, 0);
        assert_int_equal(zl_diags_errors(d), 0);
        assert_non_null(s);
        zl_spec_free(s);
        zl_diags_free(d);
        free(buf);
        free(path);
        seen++;
    }
    closedir(dh);
    assert_int_equal(seen, 8);
}

static void test_invalid_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(invalid); i++) {
        char *path = zl_xasprintf("%s/invalid/%s", examples(), invalid[i].file);
        size_t len;
        char *buf = read_all(path, &len);
        /* the rule is named on the file's first line */
        char *want = zl_xasprintf("# INVALID %s:", invalid[i].rule);
        assert_true(strncmp(buf, want, strlen(want)) == 0);
        struct zl_spec *s = NULL;
        struct zl_diags *d = NULL;
        int rc = zl_spec_load(path, buf, len, NULL, &s, &d);
        const struct zl_diag *g = find_rule(d, invalid[i].rule);
        if (!g || g->line != invalid[i].line || rc == 0) {
            zl_diags_print(d, path, stderr, false);
            fail_msg("%s: expected %s at line %d", invalid[i].file, invalid[i].rule,
                     invalid[i].line);
        }
        assert_null(s);
        assert_int_equal(g->level, ZL_DIAG_ERROR);
        /* the broken rule is the first error reported */
        assert_string_equal(zl_diags_get(d, 0)->rule, invalid[i].rule);
        zl_diags_free(d);
        free(want);
        free(buf);
        free(path);
    }
}

/* A new file in invalid/ must get an entry above. */
static void test_invalid_table_complete(void **state)
{
    (void)state;
    char *dir = zl_xasprintf("%s/invalid", examples());
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (!strstr(e->d_name, ".zlayer.yml"))
            continue;
        bool listed = false;
        for (size_t i = 0; i < ZL_ARRAY_LEN(invalid); i++)
            listed = listed || strcmp(invalid[i].file, e->d_name) == 0;
        if (!listed)
            fail_msg("%s is not in the table of invalid examples", e->d_name);
    }
    closedir(dh);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_examples),
        cmocka_unit_test(test_invalid_examples),
        cmocka_unit_test(test_invalid_table_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
