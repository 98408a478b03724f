/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's pure parts: backoff, replica counts, and config.json made from a spec. */
#include "../helpers.h"

#include <jansson.h>

#include "agent/agent.h"

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(zl_agent_backoff_ms(0), 0);
    assert_int_equal(zl_agent_backoff_ms(1), 1000);
    assert_int_equal(zl_agent_backoff_ms(2), 2000);
    assert_int_equal(zl_agent_backoff_ms(6), 32000);
    assert_int_equal(zl_agent_backoff_ms(7), 60000);
    assert_int_equal(zl_agent_backoff_ms(1000), 60000);
    /* restart_policy.delay: another first delay, the same doubling and cap */
    assert_int_equal(zl_agent_backoff_from_ms(500, 0), 0);
    assert_int_equal(zl_agent_backoff_from_ms(500, 1), 500);
    assert_int_equal(zl_agent_backoff_from_ms(500, 3), 2000);
    assert_int_equal(zl_agent_backoff_from_ms(500, 40), 60000);
    assert_int_equal(zl_agent_backoff_from_ms(90000, 1), 90000);
    assert_int_equal(zl_agent_backoff_from_ms(90000, 5), 90000);
    assert_int_equal(zl_agent_backoff_from_ms(0, 2), 2);
}

static const struct zl_sval *svc_of(struct zl_spec *s, const char *name)
{
    return zl_sval_get(zl_sval_get(zl_spec_root(s), "services"), name);
}

static struct zl_spec *load_ok(const char *text)
{
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(text, false, &d);
    if (!s)
        print_diags(d);
    assert_non_null(s);
    zl_diags_free(d);
    return s;
}

/* Certificates named by services: which hosts each serves, and two for one host. */
static void test_tls_named(void **state)
{
    (void)state;
    struct zl_spec *a = load_ok(
        "version: v1\ndeployment: one\nservices:\n"
        "  web:\n    image: {name: x}\n"
        "    labels: {zlayer.proxy/tls-certificate: /t/web.pem, zlayer.proxy/tls-key: /t/web.key}\n"
        "    endpoints: [{name: a, protocol: https, port: 443, host: app.test},\n"
        "                {name: b, protocol: https, port: 443, host: '*.app.test', path: /x},\n"
        "                {name: c, protocol: http, port: 80, host: plain.test},\n"
        "                {name: d, protocol: tcp, port: 5000, host: raw.test, stream: {tls: "
        "true}},\n"
        "                {name: e, protocol: https, port: 8443}]\n"
        "  unused:\n    image: {name: x}\n"
        "    labels: {zlayer.proxy/tls-certificate: /t/unused.pem}\n"
        "    endpoints: [{name: a, protocol: http, port: 81}]\n"
        "  same:\n    image: {name: x}\n"
        "    labels: {zlayer.proxy/tls-certificate: /t/web.pem, zlayer.proxy/tls-key: /t/web.key}\n"
        "    endpoints: [{name: a, protocol: https, port: 443, host: app.test, path: /same}]\n"
        "  none:\n    image: {name: x}\n"
        "    endpoints: [{name: a, protocol: https, port: 443, host: app.test, path: /none}]\n");
    size_t n = 0;
    struct zl_tls_clash c;
    struct zl_tls_named *v =
        zl_agent_tls_named(zl_sval_get(zl_spec_root(a), "services"), false, &n);
    assert_int_equal(n, 2); /* web and same; unused has no TLS endpoint, none names nothing */
    assert_string_equal(v[0].service, "web");
    assert_string_equal(v[0].cert, "/t/web.pem");
    assert_string_equal(v[0].key, "/t/web.key");
    assert_int_equal(v[0].at->line, 6);
    assert_int_equal(v[0].nhosts, 3);
    assert_string_equal(v[0].hosts[0], "app.test");
    assert_string_equal(v[0].hosts[1], "*.app.test");
    assert_string_equal(v[0].hosts[2], "raw.test");
    assert_int_equal(v[0].host_ep[2], 3);
    assert_int_equal(v[0].host_at[2]->line, 10);
    assert_string_equal(v[1].service, "same");
    assert_null(zl_agent_tls_label(svc_of(a, "none"), ZL_AGENT_TLS_CERT));
    /* one certificate for one host in two services is no clash; within one spec, a service
     * naming none is not compared */
    assert_false(zl_agent_tls_clash(v, n, v, n, true, &c));

    /* another deployment: the same files agree, another file for App.Test clashes */
    struct zl_spec *b = load_ok(
        "version: v1\ndeployment: two\nservices:\n"
        "  api:\n    image: {name: x}\n"
        "    labels: {zlayer.proxy/tls-certificate: /t/web.pem, zlayer.proxy/tls-key: /t/web.key}\n"
        "    endpoints: [{name: a, protocol: https, port: 443, host: app.test, path: /api}]\n"
        "  other:\n    image: {name: x}\n"
        "    labels: {zlayer.proxy/tls-certificate: /t/other.pem}\n"
        "    endpoints: [{name: a, protocol: https, port: 9443, host: App.Test}]\n");
    size_t nb = 0;
    struct zl_tls_named *w =
        zl_agent_tls_named(zl_sval_get(zl_spec_root(b), "services"), false, &nb);
    assert_int_equal(nb, 2);
    assert_true(zl_agent_tls_clash(v, n, w, nb, false, &c));
    assert_int_equal(c.im, 0);
    assert_int_equal(c.it, 1);
    assert_int_equal(c.hm, 0);
    assert_int_equal(c.ht, 0);
    assert_string_equal(c.host, "app.test");
    assert_false(zl_agent_tls_clash(v, n, w, 1, false, &c));
    /* within one spec: two services, two files, one host */
    assert_true(zl_agent_tls_clash(w, nb, w, nb, true, &c));
    assert_int_equal(c.im, 0);
    assert_int_equal(c.it, 1);
    /* a wildcard is a host of its own: *.app.test does not clash with x.app.test */
    zl_agent_tls_named_free(w, nb);
    zl_spec_free(b);
    b = load_ok("version: v1\ndeployment: three\nservices:\n"
                "  x:\n    image: {name: x}\n"
                "    labels: {zlayer.proxy/tls-certificate: /t/x.pem}\n"
                "    endpoints: [{name: a, protocol: https, port: 443, host: x.app.test}]\n");
    w = zl_agent_tls_named(zl_sval_get(zl_spec_root(b), "services"), false, &nb);
    assert_false(zl_agent_tls_clash(v, n, w, nb, false, &c));
    assert_false(zl_agent_tls_clash(v, n, NULL, 0, false, &c));
    zl_agent_tls_named_free(w, nb);
    zl_spec_free(b);

    /* a deployment naming no certificate: its TLS hosts get the folder's or the node's own
     * by SNI, and a certificate pinned for one of them elsewhere would be theirs too */
    b = load_ok("version: v1\ndeployment: four\nservices:\n"
                "  site:\n    image: {name: x}\n"
                "    endpoints: [{name: a, protocol: http, port: 80, host: plain.test},\n"
                "                {name: b, protocol: tcp, port: 7000, host: raw.test},\n"
                "                {name: c, protocol: https, port: 443},\n"
                "                {name: d, protocol: https, port: 443, host: APP.test}]\n"
                "  bare:\n    image: {name: x}\n"
                "    endpoints: [{name: a, protocol: https, port: 8443}]\n");
    w = zl_agent_tls_named(zl_sval_get(zl_spec_root(b), "services"), false, &nb);
    assert_null(w);
    assert_int_equal(nb, 0);
    w = zl_agent_tls_named(zl_sval_get(zl_spec_root(b), "services"), true, &nb);
    assert_int_equal(nb, 1); /* bare: TLS without a host, nothing to clash */
    assert_string_equal(w[0].service, "site");
    assert_null(w[0].cert);
    assert_null(w[0].at);
    assert_int_equal(w[0].nhosts, 1); /* plain http, and tcp without stream.tls: not TLS */
    assert_string_equal(w[0].hosts[0], "APP.test");
    assert_int_equal(w[0].host_ep[0], 3);
    /* a certificate named for app.test here, https for it there with none: both ways */
    assert_true(zl_agent_tls_clash(v, n, w, nb, false, &c));
    assert_int_equal(c.im, 0);
    assert_int_equal(c.it, 0);
    assert_int_equal(c.ht, 0);
    assert_string_equal(c.host, "app.test");
    assert_true(zl_agent_tls_clash(w, nb, v, n, false, &c));
    assert_int_equal(c.im, 0);
    assert_int_equal(c.it, 0);
    assert_int_equal(c.hm, 0);
    assert_string_equal(c.host, "APP.test");
    /* a stream.tls endpoint pins as much as an https one (any port) */
    struct zl_spec *s4 = load_ok(
        "version: v1\ndeployment: five\nservices:\n"
        "  stream:\n    image: {name: x}\n"
        "    labels: {zlayer.proxy/tls-certificate: /t/s.pem}\n"
        "    endpoints: [{name: a, protocol: tcp, port: 5000, host: app.test, stream: {tls: "
        "true}}]\n");
    size_t n4 = 0;
    struct zl_tls_named *x4 =
        zl_agent_tls_named(zl_sval_get(zl_spec_root(s4), "services"), true, &n4);
    assert_int_equal(n4, 1);
    assert_true(zl_agent_tls_clash(x4, n4, w, nb, false, &c));
    assert_true(zl_agent_tls_clash(w, nb, x4, n4, false, &c));
    /* two deployments naming none for one host: no clash (SNI picks for both alike) */
    struct zl_tls_named *w2 =
        zl_agent_tls_named(zl_sval_get(zl_spec_root(b), "services"), true, &n4);
    assert_false(zl_agent_tls_clash(w, nb, w2, n4, false, &c));
    zl_agent_tls_named_free(w2, n4);
    zl_agent_tls_named_free(x4, 1);
    zl_spec_free(s4);
    /* the wildcard as written: *.app.test pinned does not clash with x.app.test served */
    s4 = load_ok("version: v1\ndeployment: six\nservices:\n"
                 "  w:\n    image: {name: x}\n"
                 "    labels: {zlayer.proxy/tls-certificate: /t/w.pem}\n"
                 "    endpoints: [{name: a, protocol: https, port: 443, host: '*.app.test'}]\n"
                 "  x:\n    image: {name: x}\n"
                 "    endpoints: [{name: a, protocol: https, port: 443, host: x.app.test}]\n");
    x4 = zl_agent_tls_named(zl_sval_get(zl_spec_root(s4), "services"), true, &n4);
    assert_int_equal(n4, 2);
    assert_false(zl_agent_tls_clash(x4, 1, x4 + 1, 1, false, &c));
    assert_false(zl_agent_tls_clash(x4 + 1, 1, x4, 1, false, &c));
    zl_agent_tls_named_free(x4, n4);
    zl_spec_free(s4);
    zl_agent_tls_named_free(w, nb);
    zl_agent_tls_named_free(v, n);
    zl_spec_free(a);
    zl_spec_free(b);
}

static void test_replica_action(void **state)
{
    (void)state;
    assert_int_equal(zl_agent_replica_action(NULL, NULL, "h1"), ZL_REPLICA_CREATE);
    assert_int_equal(zl_agent_replica_action("running", "h1", "h1"), ZL_REPLICA_KEEP);
    assert_int_equal(zl_agent_replica_action("creating", "h1", "h1"), ZL_REPLICA_KEEP);
    assert_int_equal(zl_agent_replica_action("running", "h0", "h1"), ZL_REPLICA_REPLACE);
    /* an older revision is replaced whatever its state */
    assert_int_equal(zl_agent_replica_action("stopped", "h0", "h1"), ZL_REPLICA_REPLACE);
    assert_int_equal(zl_agent_replica_action("running", NULL, "h1"), ZL_REPLICA_REPLACE);
    assert_int_equal(zl_agent_replica_action("created", "h1", "h1"), ZL_REPLICA_RECREATE);
    assert_int_equal(zl_agent_replica_action("stopped", "h1", "h1"), ZL_REPLICA_CRASHED);
}

static void test_restart_policy(void **state)
{
    (void)state;
    assert_true(zl_agent_restarts(NULL, NULL, 1, 1, 0));
    assert_true(zl_agent_restarts("restart", NULL, 0, 1, 0)); /* a service that ended: again */
    assert_true(zl_agent_restarts("restart", "always", 0, 50, 3));
    assert_true(zl_agent_restarts("restart", "unless_stopped", 0, 1, 0));
    assert_true(zl_agent_restarts("restart", "on_failure", 1, 1, 0));
    assert_true(zl_agent_restarts("restart", "on_failure", -1, 1, 0)); /* unhealthy */
    assert_false(zl_agent_restarts("restart", "on_failure", 0, 1, 0));
    /* on_failure with max_attempts: the third crash in a row is the last restarted */
    assert_true(zl_agent_restarts("restart", "on_failure", 2, 3, 3));
    assert_false(zl_agent_restarts("restart", "on_failure", 2, 4, 3));
    assert_false(zl_agent_restarts("restart", "no", 1, 1, 0));
    assert_false(zl_agent_restarts("fail", NULL, 1, 1, 0));
    assert_false(zl_agent_restarts("shutdown", "always", 1, 1, 0));
    assert_false(zl_agent_restarts("isolate", NULL, 1, 1, 0));
    /* crashes in a row, and a fresh series after a minute of running */
    assert_int_equal(zl_agent_crash_count(0, -1), 1);
    assert_int_equal(zl_agent_crash_count(3, 5000), 4);
    assert_int_equal(zl_agent_crash_count(3, 59999), 4);
    assert_int_equal(zl_agent_crash_count(7, 60000), 1);
    unsigned n = 0;
    for (int i = 0; i < 10; i++)
        n = zl_agent_crash_count(n, 1000);
    assert_int_equal(zl_agent_backoff_ms(n), 60000);
}

static void test_desired(void **state)
{
    (void)state;
    struct zl_spec *s = load_ok("version: v1\ndeployment: demo\nservices:\n"
                                "  a: {image: {name: x}, scale: {mode: fixed, replicas: 3}}\n"
                                "  b: {image: {name: x}}\n"
                                "  c: {image: {name: x}, scale: {mode: manual}}\n"
                                "  d: {image: {name: x}, rtype: job}\n"
                                "  e: {image: {name: x}, replica_groups: [{role: p, count: 1},"
                                " {role: r, count: 2}]}\n");
    assert_int_equal(zl_agent_desired_replicas(svc_of(s, "a"), -1), 3);
    assert_int_equal(zl_agent_desired_replicas(svc_of(s, "a"), 5), 5);
    assert_int_equal(zl_agent_desired_replicas(svc_of(s, "b"), -1), 1); /* adaptive min */
    assert_int_equal(zl_agent_desired_replicas(svc_of(s, "c"), -1), 1);
    assert_int_equal(zl_agent_desired_replicas(svc_of(s, "c"), 0), 0);
    assert_int_equal(zl_agent_desired_replicas(svc_of(s, "d"), -1), 0);
    assert_int_equal(zl_agent_desired_replicas(svc_of(s, "e"), -1), 3);
    zl_spec_free(s);
}

static void test_oci_config(void **state)
{
    (void)state;
    struct zl_spec *s =
        load_ok("version: v1\ndeployment: demo\nservices:\n"
                "  web:\n"
                "    image: {name: x}\n"
                "    command: {args: [serve, --port, \"80\"], workdir: /srv}\n"
                "    env: {A: one, TOKEN: $E:MY_TOKEN}\n"
                "    user: \"1000:1000\"\n"
                "    resources: {cpu: 0.5, memory: 64Mi, pids_limit: 50}\n"
                "    capabilities: [NET_ADMIN]\n"
                "    cap_drop: [NET_RAW]\n"
                "    read_only_root_fs: true\n"
                "    security_opt: [no-new-privileges:true]\n"
                "    ulimits: {nofile: {soft: 100, hard: 200}}\n"
                "    storage:\n"
                "      - {type: tmpfs, target: /cache, size: 1Mi, mode: 0o1777}\n"
                "      - {type: bind, source: /etc, target: /host-etc, readonly: true}\n");
    struct zl_replica_ref r = {"demo", "web", 2, "demo-web-2", "/tmp/zl-test-nonexistent"};
    const char *icfg = "{\"config\": {\"Env\": [\"PATH=/bin\", \"IMG=1\"], "
                       "\"Entrypoint\": [\"/app\"], \"Cmd\": [\"default\"]}}";
    struct zl_err err;
    char *text =
        zl_agent_oci_config(svc_of(s, "web"), &r, icfg, "{\"MY_TOKEN\": \"t0k\"}", "/tmp", &err);
    if (!text)
        fail_msg("%s", err.msg);
    json_t *c = json_loads(text, 0, NULL);
    assert_non_null(c);
    json_t *p = json_object_get(c, "process");
    /* entrypoint from the image, args from the spec */
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "args"), 0)), "/app");
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "args"), 1)), "serve");
    assert_int_equal(json_array_size(json_object_get(p, "args")), 4);
    assert_string_equal(json_string_value(json_object_get(p, "cwd")), "/srv");
    char *env = json_dumps(json_object_get(p, "env"), JSON_COMPACT);
    assert_non_null(strstr(env, "\"IMG=1\""));
    assert_non_null(strstr(env, "\"TOKEN=t0k\""));
    assert_non_null(strstr(env, "\"A=one\""));
    free(env);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "user"), "uid")), 1000);
    char *caps =
        json_dumps(json_object_get(json_object_get(p, "capabilities"), "bounding"), JSON_COMPACT);
    assert_non_null(strstr(caps, "CAP_NET_ADMIN"));
    assert_null(strstr(caps, "CAP_NET_RAW"));
    assert_non_null(strstr(caps, "CAP_CHOWN"));
    free(caps);
    assert_true(json_is_true(json_object_get(p, "noNewPrivileges")));
    assert_true(json_is_true(json_object_get(json_object_get(c, "root"), "readonly")));
    json_t *res = json_object_get(json_object_get(c, "linux"), "resources");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")),
                     50000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")),
                     64 << 20);
    assert_string_equal(json_string_value(json_object_get(c, "hostname")), "web-2");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c, "annotations"), "io.zlayer.seccomp")),
        "default");
    char *mounts = json_dumps(json_object_get(c, "mounts"), JSON_COMPACT);
    assert_non_null(strstr(mounts, "mode=1777"));
    assert_non_null(strstr(mounts, "size=1048576"));
    assert_non_null(strstr(mounts, "/host-etc"));
    free(mounts);
    json_decref(c);
    free(text);
    /* an unset $E: variable is an error naming it */
    assert_null(zl_agent_oci_config(svc_of(s, "web"), &r, icfg, "{}", "/tmp", &err));
    assert_non_null(strstr(err.msg, "MY_TOKEN"));
    zl_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),        cmocka_unit_test(test_tls_named),
        cmocka_unit_test(test_desired),        cmocka_unit_test(test_replica_action),
        cmocka_unit_test(test_restart_policy), cmocka_unit_test(test_oci_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
