/* SPDX-License-Identifier: Apache-2.0 */
/* Defaults (SPEC-v1 section 14), normalisation, and dumps that load back to themselves. */
#include "../helpers.h"

#include <dirent.h>
#include <jansson.h>

static char *dump(const char *text, enum zl_spec_format fmt)
{
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(text, false, &d);
    if (!s) {
        print_diags(d);
        fail_msg("spec did not load");
    }
    struct zl_buf b;
    zl_buf_init(&b);
    zl_spec_dump(s, fmt, &b);
    zl_spec_free(s);
    zl_diags_free(d);
    return zl_buf_steal(&b, NULL);
}

static void assert_round_trip(const char *text)
{
    char *one = dump(text, ZL_SPEC_YAML);
    char *two = dump(one, ZL_SPEC_YAML);
    if (strcmp(one, two) != 0)
        fail_msg("dump does not load back to itself:\n%s\n---\n%s", one, two);
    free(one);
    free(two);
}

static void test_examples_round_trip(void **state)
{
    (void)state;
    const char *dir = getenv("ZL_EXAMPLES") ? getenv("ZL_EXAMPLES") : "tests/data/spec-examples";
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (!strstr(e->d_name, ".zlayer.yml"))
            continue;
        char *path = zl_xasprintf("%s/%s", dir, e->d_name), *buf;
        size_t len;
        struct zl_err err;
        assert_int_equal(zl_read_file(path, 1 << 24, &buf, &len, &err), 0);
        assert_round_trip(buf);
        /* the JSON form is well-formed and names the deployment */
        char *js = dump(buf, ZL_SPEC_JSON);
        json_error_t jerr;
        json_t *j = json_loads(js, 0, &jerr);
        assert_non_null(j);
        assert_non_null(json_string_value(json_object_get(j, "deployment")));
        json_decref(j);
        free(js);
        free(buf);
        free(path);
    }
    closedir(dh);
}

/* Look up a dotted path in the loaded minimal service. */
static const struct zl_sval *web(const struct zl_spec *s, const char *path)
{
    const struct zl_sval *svc = zl_sval_get(zl_sval_get(zl_spec_root(s), "services"), "web");
    return zl_sval_path(svc, path);
}

static void test_minimal_defaults(void **state)
{
    (void)state;
    char *text = svc_yaml("");
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(text, false, &d);
    assert_non_null(s);
    assert_string_equal(zl_sval_str(web(s, ""), "rtype", ""), "service");
    assert_string_equal(zl_sval_str(web(s, ""), "service_type", ""), "standard");
    assert_string_equal(web(s, "image.pull_policy")->s, "if_not_present");
    assert_null(web(s, "image.source_policy"));
    assert_string_equal(web(s, "scale.mode")->s, "adaptive");
    assert_int_equal(web(s, "scale.min")->u, 1);
    assert_int_equal(web(s, "scale.max")->u, 10);
    assert_int_equal(web(s, "scale.cooldown")->u, 30000000000ull);
    assert_int_equal(web(s, "health.start_grace")->u, 5000000000ull);
    assert_int_equal(web(s, "health.retries")->u, 3);
    assert_string_equal(web(s, "health.check.type")->s, "tcp");
    assert_int_equal(web(s, "health.check.port")->u, 0);
    assert_null(web(s, "health.interval"));
    assert_true(web(s, "network.overlays.service.isolated")->b);
    assert_false(web(s, "network.overlays.global.isolated")->b);
    assert_true(web(s, "network.overlays.global.enabled")->b);
    assert_string_equal(web(s, "network.join.mode")->s, "token");
    assert_string_equal(web(s, "network_mode")->s, "default");
    assert_string_equal(web(s, "errors.on_init_failure.action")->s, "fail");
    assert_string_equal(web(s, "errors.on_panic.action")->s, "restart");
    assert_false(web(s, "lifecycle.delete_on_exit")->b);
    assert_int_equal(web(s, "init.steps")->n, 0);
    assert_int_equal(web(s, "endpoints")->n, 0);
    assert_false(web(s, "privileged")->b);
    assert_null(web(s, "replica_groups"));
    assert_null(web(s, "restart_policy"));
    assert_false(web(s, "scale")->written);
    zl_spec_free(s);
    zl_diags_free(d);
    free(text);
}

/* SPEC-v1 5.9: three different overlay defaults depending on what is written. */
static void test_overlay_default_trap(void **state)
{
    (void)state;
    char *text = svc_yaml("    network:\n      overlays:\n        service: {encrypted: false}\n");
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(text, false, &d);
    assert_non_null(s);
    assert_true(web(s, "network.overlays.service.enabled")->b);
    assert_false(web(s, "network.overlays.service.encrypted")->b);
    assert_false(web(s, "network.overlays.service.isolated")->b);
    /* `global` left out of a written `overlays`: all false */
    assert_false(web(s, "network.overlays.global.enabled")->b);
    assert_false(web(s, "network.overlays.global.encrypted")->b);
    zl_spec_free(s);
    zl_diags_free(d);
    free(text);
}

static void test_normalisation(void **state)
{
    (void)state;
    char *text = svc_yaml("    host_network: true\n"
                          "    stop_grace_period: 90m\n"
                          "    ulimits: {nofile: {soft: 1024}, core: {hard: 0}, x: {}}\n"
                          "    endpoints: [{name: h, protocol: http, port: 80}]\n"
                          "    storage: [{type: tmpfs, target: /t, mode: 0o1777}]\n"
                          "    depends: [{service: w2, timeout: ~}]\n"
                          "    gpu_free: 1\n");
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(text, false, &d);
    assert_null(s); /* gpu_free is unknown */
    zl_diags_free(d);
    free(text);

    text = svc_yaml("    host_network: true\n"
                    "    stop_grace_period: 90m\n"
                    "    ulimits: {nofile: {soft: 1024}, core: {hard: 0}, x: {}}\n"
                    "    endpoints: [{name: h, protocol: http, port: 80}]\n"
                    "    storage: [{type: tmpfs, target: /t, mode: 0o1777}]\n"
                    "    depends: [{service: w2, timeout: ~}]\n"
                    "  w2:\n    image: {name: nginx}\n");
    s = load_text(text, false, &d);
    assert_non_null(s);
    assert_string_equal(web(s, "network_mode")->s, "host");
    assert_null(web(s, "host_network"));
    assert_int_equal(web(s, "ulimits.nofile.hard")->i, 1024);
    assert_int_equal(web(s, "ulimits.core.soft")->i, 0);
    assert_int_equal(web(s, "ulimits.x.soft")->i, 0);
    assert_int_equal(web(s, "endpoints")->items[0]->n > 0, 1);
    assert_int_equal(zl_sval_get(web(s, "endpoints")->items[0], "target_port")->u, 80);
    assert_int_equal(zl_sval_get(web(s, "storage")->items[0], "mode")->u, 01777);
    assert_null(zl_sval_get(web(s, "depends")->items[0], "timeout"));
    struct zl_buf b;
    zl_buf_init(&b);
    zl_spec_dump(s, ZL_SPEC_YAML, &b);
    assert_non_null(strstr(b.data, "stop_grace_period: 1h30m\n"));
    assert_non_null(strstr(b.data, "mode: 0o1777\n"));
    assert_non_null(strstr(b.data, "network_mode: host\n"));
    zl_buf_fini(&b);
    zl_spec_free(s);
    zl_diags_free(d);
    assert_round_trip(text);
    free(text);
}

/* Strings that look like other things are quoted so they load back as strings. */
static void test_quoting(void **state)
{
    (void)state;
    char *text =
        svc_yaml("    env: {A: \"8080\", B: \"true\", C: \"\", D: \"~\", E: \"a: b\", F: \"#x\","
                 " G: \"line\\nbreak\", H: \"0755\", I: \"- x\", J: \" pad \", K: \"é\"}\n"
                 "    affinity: !pin \"id=2\"\n"
                 "    init: {steps: [{id: s, uses: init.wait_tcp, with: {host: db, port: "
                 "5432, timeout: 0x10, flag: \"yes\", n: ~, l: [1, a], m: {k: v}}}]}\n");
    assert_round_trip(text);
    char *one = dump(text, ZL_SPEC_YAML);
    assert_non_null(strstr(one, "A: \"8080\"\n"));
    assert_non_null(strstr(one, "affinity: !pin \"id=2\"\n"));
    free(one);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_round_trip),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_overlay_default_trap),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
