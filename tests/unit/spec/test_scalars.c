/* SPDX-License-Identifier: Apache-2.0 */
/* YAML 1.2 scalar typing, shapes, strictness and every P/F/X/D/R rule, one snippet each.
 * Snippets are service keys appended to a minimal spec whose service `web` starts at line 4
 * (its image is line 5, so the first appended line is line 6). A snippet that does not start
 * with four spaces is a whole document. */
#include "../helpers.h"

struct snippet {
    const char *yaml; /* appended to the service, or a whole document */
    const char *rule; /* NULL: valid with no error */
    int line;         /* line of the diagnostic (0: do not check) */
    bool strict;
};

static const struct snippet cases[] = {
    /* strings take any scalar as text */
    {"    env: {PORT: 8080, DEBUG: true, NOTHING: ~}\n", NULL, 0, false},
    {"    hostname: 1.50\n", NULL, 0, false},
    /* booleans: only true/false; yes/no are strings in YAML 1.2 */
    {"    tty: True\n", NULL, 0, false},
    {"    tty: yes\n", "P-5", 6, false},
    {"    tty: \"true\"\n", "P-5", 6, false},
    {"    tty: ~\n", "P-5", 6, false},
    /* integers: plain only, no leading zeros, ranges */
    {"    endpoints: [{name: a, protocol: tcp, port: 0x1F90}]\n", NULL, 0, false},
    {"    endpoints: [{name: a, protocol: tcp, port: \"80\"}]\n", "P-5", 6, false},
    {"    endpoints: [{name: a, protocol: tcp, port: 080}]\n", "P-5", 6, false},
    {"    endpoints: [{name: a, protocol: tcp, port: 80.0}]\n", "P-5", 6, false},
    {"    endpoints: [{name: a, protocol: tcp, port: -1}]\n", "P-6", 6, false},
    {"    endpoints: [{name: a, protocol: tcp, port: 65536}]\n", "P-6", 6, false},
    {"    resources: {oom_score_adj: -500, pids_limit: -1}\n", NULL, 0, false},
    {"    resources: {memory_swappiness: 256}\n", "P-6", 6, false},
    {"    resources: {cpu_shares: 99999999999999999999999}\n", "P-6", 6, false},
    /* floats */
    {"    resources: {cpu: 2}\n", NULL, 0, false},
    {"    resources: {cpu: .5}\n", NULL, 0, false},
    {"    resources: {cpu: 500m}\n", "P-5", 6, false},
    {"    resources: {cpu: \"0.5\"}\n", "P-5", 6, false},
    {"    resources: {cpu: -1}\n", "F-3", 6, false},
    {"    resources: {cpu: .inf}\n", "R-10", 6, true},
    /* enums are exact words; `no` is a word, not a boolean */
    {"    restart_policy: {kind: no}\n", NULL, 0, false},
    {"    restart_policy: {kind: unless-stopped}\n", "P-7", 6, false},
    {"    image: {name: nginx, pull_policy: Always}\n", "P-4", 6, false},
    /* shapes */
    {"    command: [a, b]\n", "P-5", 6, false},
    {"    command: {entrypoint: \"python app.py\"}\n", "P-5", 6, false},
    {"    env: [{name: A, value: b}]\n", "P-5", 6, false},
    {"    errors: {on_panic: restart}\n", "P-5", 6, false},
    {"    init:\n      - action: init.s3_pull\n", "P-5", 6, false},
    {"version: v1\ndeployment: demo\nservices:\n  web:\n    image: nginx\n", "P-5", 5, false},
    /* strictness, duplicates and aliases */
    {"    ports: [80]\n", "P-3", 6, false},
    {"    tty: false\n    tty: true\n", "P-4", 7, false},
    {"    cap_add: [NET_ADMIN]\n    capabilities: [NET_RAW]\n", "P-4", 7, false},
    {"    env: {A: 1, A: 2}\n", NULL, 0, false},
    {"    env: {A: 1, A: 2}\n", "R-22", 6, true},
    {"    platform: {os: linux, arch: amd64, os_version: x}\n", NULL, 0, false},
    {"    platform: {os: linux, arch: amd64, os_version: x}\n", "R-18", 6, true},
    {"    platform: {os: linux, arch: x86_64}\n", "P-7", 6, false},
    {"    platform: {os: linux}\n", "P-2", 6, false},
    /* required fields */
    {"    endpoints: [{name: a, port: 80}]\n", "P-2", 6, false},
    {"    health: {interval: 5s}\n", "P-2", 6, false},
    /* tagged unions: tag required and known, plain scalars typed by their looks */
    {"    scale: {min: 1, max: 2}\n", "P-8", 6, false},
    {"    scale: {mode: elastic}\n", "P-8", 6, false},
    {"    scale: {mode: adaptive, min: 1, max: 2, cooldown: 0}\n", "P-5", 6, false},
    {"    scale: {mode: adaptive, min: 1, max: 2, cooldown: 0s}\n", NULL, 0, false},
    {"    health: {timeout: 0, check: {type: tcp, port: 80}}\n", NULL, 0, false},
    {"    storage: [{type: s3, bucket: 2024, target: /d}]\n", "P-5", 6, false},
    {"    storage: [{type: s3, bucket: \"2024\", target: /d}]\n", NULL, 0, false},
    {"    scale:\n      mode: adaptive\n      min: 1\n      max: 2\n      targets:\n", "P-5", 10,
     false},
    {"    scale: {mode: fixed, replicas: 3, min: 1}\n", "P-3", 6, false},
    {"    scale: {mode: manual, replicas: 3}\n", "R-18", 6, true},
    /* durations */
    {"    stop_grace_period: 1h30m\n", NULL, 0, false},
    {"    stop_grace_period: 30\n", "P-9", 6, false},
    {"    stop_grace_period: 5S\n", "P-9", 6, false},
    {"    restart_policy: {kind: always, delay: soon}\n", NULL, 0, false},
    {"    restart_policy: {kind: always, delay: soon}\n", "R-9", 6, true},
    /* memory */
    {"    resources: {memory: 1.5Gi}\n", "F-4", 6, false},
    {"    resources: {memory: 512}\n", "F-4", 6, false},
    {"    resources: {memory: 1Gi, memory_swap: 512Mi}\n", "R-8", 6, true},
    /* network_mode and affinity forms */
    {"    network_mode: \"bridge:\"\n", NULL, 0, false},
    {"    network_mode: !bridge {name: n1}\n", NULL, 0, false},
    {"    network_mode: !container {id: abc}\n", NULL, 0, false},
    {"    network_mode: \"container:\"\n", "P-11", 6, false},
    {"    network_mode: {bridge: {name: n}}\n", "P-11", 6, false},
    {"    network_mode: overlay\n", "P-11", 6, false},
    {"    network_mode: 1\n", "P-11", 6, false},
    {"    affinity: !pin zone=a\n", NULL, 0, false},
    {"    affinity: pin\n", "P-12", 6, false},
    {"    affinity: !pin {id: 2}\n", "P-12", 6, false},
    {"    pull: !always x\n", "P-3", 6, false},
    {"    hostname: !custom x\n", "P-5", 6, false},
    {"    host_network: true\n    network_mode: none\n", "R-20", 6, true},
    /* empty values and nulls */
    {"    labels:\n    devices:\n    gpu:\n", "P-3", 8, false},
    {"    labels:\n    devices:\n    resources: {gpu: }\n", NULL, 0, false},
    {"    depends: [{service: web2, timeout: null}]\n  web2:\n    image: {name: nginx}\n", NULL, 0,
     false},
    {"    labels: ~\n", "P-5", 6, false},
    /* F, X, D and R rules */
    {"version: v1.0\ndeployment: demo\n", "F-1", 1, false},
    {"version: v1\ndeployment: ab\n", "F-2", 2, false},
    {"version: v1\ndeployment: -abc\n", "F-2", 2, false},
    {"version: v1\ndeployment: Ok-Name-\n", NULL, 0, false},
    {"    endpoints: [{name: \"\", protocol: tcp, port: 1}]\n", "F-5", 6, false},
    {"    scale: {mode: adaptive, min: 0, max: 0}\n", NULL, 0, false},
    {"    replica_groups: [{role: a-, count: 1}]\n", "F-9", 6, false},
    {"    replica_groups: [{role: a, count: 0}]\n", "F-10", 6, false},
    {"    replica_groups: [{role: a, count: 1}, {role: a, count: 1}]\n", "R-1", 6, true},
    {"    endpoints: [{name: a, protocol: http, port: 80, target_role: x}]\n", "R-2", 6, true},
    {"    depends: [{service: web}]\n", "D-1", 6, false},
    {"    depends: [{service: nope}]\n", "X-1", 6, false},
    {"    init: {steps: [{id: a, uses: init.wait_tcp, with: {host: db}}]}\n", "D-4", 6, false},
    {"    init: {steps: [{id: a, uses: init.wait_tcp, with: {host: db, port: \"5432\"}}]}\n", "D-4",
     6, false},
    {"    init: {steps: [{id: a, uses: init.wait_tcp, with: {host: db, port: 70000}}]}\n", "D-4", 6,
     false},
    {"    init: {steps: [{id: a, uses: init.run, with: {command: x, timeout: 60s}}]}\n", "D-4", 6,
     false},
    {"    init: {steps: [{id: a, uses: init.run, with: {command: x}}, {id: a, uses: init.run, "
     "with: "
     "{command: y}}]}\n",
     "R-16", 6, true},
    {"    init: {steps: [{id: a, uses: init.wait_tcp, with: {host: db, port: 0o17}}]}\n", NULL, 0,
     true},
    {"    init: {steps: [{id: a, uses: init.s3_pull, with: {bucket: 2024, key: k, destination: "
     "/d}}]}\n",
     "D-4", 6, false},
    {"version: v1\ndeployment: demo\napi:\n  <<: {enabled: true}\n", "P-3", 4, false},
    {"    storage: [{type: tmpfs, target: /t, mode: 7}]\n", NULL, 0, true},
    {"    rtype: job\n    schedule: \"@daily\"\n", "X-3", 7, false},
    {"    rtype: cron\n    schedule: \"0 0 3 * * *\"\n", NULL, 0, false},
    {"    rtype: cron\n    schedule: \"0 3 * * *\"\n", "F-8", 7, false},
    {"    service_type: job\n    wasm_http: {}\n", "X-8", 7, false},
    {"    service_type: wasm_plugin\n    wasm: {}\n    wasm_http: {}\n", "P-4", 8, false},
    {"    service_type: wasm_transformer\n    wasm: {capabilities: {config: false, keyvalue: "
     "false, "
     "metrics: false}}\n",
     NULL, 0, false},
    {"    service_type: wasm_plugin\n    wasm: {max_memory: 64MB}\n", "X-9", 7, false},
    {"    service_type: wasm_plugin\n    wasm: {preopens: [{source: /a, target: \"\"}]}\n", "X-14",
     7, false},
    {"    storage: [{type: tmpfs, target: /t, mode: 1777}]\n", "R-15", 6, true},
    {"    storage: [{type: tmpfs, target: /t, mode: 0o1777}]\n", NULL, 0, true},
    {"    storage: [{type: named, name: Data_1, target: /d}]\n", "R-4", 6, true},
    {"    devices: [{path: dev/kvm}]\n", "R-14", 6, true},
    {"    ulimits: {nofile: {soft: 10, hard: 5}}\n", "R-16", 6, true},
    {"    dns: [1.1.1.1, \"::1\", dns.example]\n", "R-5", 6, true},
    {"    extra_hosts: [\"db:10.0.0.2\", \"gw:host-gateway\", bad]\n", "R-5", 6, true},
    {"    expose: [\"3000\", 8080/tcp, 99999]\n", "R-12", 6, true},
    {"    env: {URL: \"postgres://u:$E:PW@db\"}\n", "R-3", 6, true},
    {"    env: {A: \"$S:a/b/c\"}\n", "R-3", 6, true},
    {"    env: {A: \"$S:@svc/name/field\", B: \"$S:proj:env/n\", C: \"$S::env/n/f\", D: $E:HOME}\n",
     NULL, 0, true},
    {"    health: {check: {type: http, url: /health}}\n", "R-24", 6, true},
    {"    network: {overlays: {global: {}}}\n", "R-17", 6, true},
    {"    restart_policy: {kind: always, max_attempts: 3}\n", "R-21", 6, true},
    {"    resources: {gpu: {mode: vm}}\n", "R-23", 6, true},
    {"version: v1\ndeployment: demo\nservices:\n  Web_1:\n    image: {name: nginx}\n", "R-11", 4,
     true},
    {"version: v1\ndeployment: demo\ntunnels:\n  t:\n    from: a\n    to: b\n    local_port: 1\n"
     "    remote_port: 0\n",
     "X-6", 8, false},
    {"version: v1\ndeployment: demo\nexternals:\n  nas:\n    backends: [\"10.0.0.1:80\"]\n"
     "    endpoints: [{name: a, protocol: http, port: 0}]\n",
     "F-6", 6, false},
    /* D-8: an external's check must be one the node can run against each backend */
    {"version: v1\ndeployment: demo\nexternals:\n  nas:\n    backends: [\"nas.lan:80\"]\n"
     "    health: {check: {type: http, url: 'http://nas.lan/health'}}\n",
     NULL, 0, false},
    {"version: v1\ndeployment: demo\nexternals:\n  nas:\n    backends: [\"nas.lan:80\"]\n"
     "    health: {check: {type: http, url: 'https://localhost/health'}}\n",
     "D-8", 6, false},
    {"version: v1\ndeployment: demo\nexternals:\n  nas:\n    backends: [\"nas.lan:80\"]\n"
     "    health: {check: {type: http, url: 'http://other.lan/health'}}\n",
     "D-8", 6, false},
    {"version: v1\ndeployment: demo\nexternals:\n  nas:\n    backends: [\"nas.lan:80\"]\n"
     "    health: {check: {type: http, url: 'http://localhost:0/'}}\n",
     "D-8", 6, false},
    {"version: v1\ndeployment: demo\nexternals:\n  nas:\n    backends: [\"nas.lan:80\"]\n"
     "    health: {check: {type: command, command: ' '}}\n",
     "D-8", 6, false},
    /* a query with no path is path "/" with the query (as curl reads it) */
    {"version: v1\ndeployment: demo\nexternals:\n  nas:\n    backends: [\"nas.lan:80\"]\n"
     "    health: {check: {type: http, url: 'http://nas.lan:80?ready=1'}}\n",
     NULL, 0, false},
    {"version: v1\ndeployment: demo\nexternals:\n  nas:\n    backends: [\"nas.lan:80\"]\n"
     "    health: {check: {type: http, url: 'http://localhost:80x/'}}\n",
     "D-8", 6, false},
    /* D-9, R-26: certificates named by labels (the files are checked at deploy) */
    {"    labels: {zlayer.proxy/tls-certificate: /etc/tls/app.pem, zlayer.proxy/tls-key: "
     "/etc/tls/app.key}\n    endpoints: [{name: a, protocol: https, port: 443, host: app.test}]\n",
     NULL, 0, true},
    {"    labels: {zlayer.proxy/tls-certificate: /etc/tls/app.pem}\n"
     "    endpoints: [{name: a, protocol: tcp, port: 5000, host: raw.test, stream: {tls: true}}]\n",
     NULL, 0, true},
    {"    endpoints: [{name: a, protocol: tcp, port: 5000, host: raw.test, stream: {tls: true}}]\n",
     "R-12", 6, true},
    {"    labels: {zlayer.proxy/tls-certificate: tls/app.pem}\n"
     "    endpoints: [{name: a, protocol: https, port: 443}]\n",
     "D-9", 6, false},
    {"    labels: {zlayer.proxy/tls-certificate: /etc/tls/app.pem, zlayer.proxy/tls-key: \"\"}\n"
     "    endpoints: [{name: a, protocol: https, port: 443}]\n",
     "D-9", 6, false},
    {"    labels: {zlayer.proxy/tls-certificate: \"$S:tls/app\"}\n"
     "    endpoints: [{name: a, protocol: https, port: 443}]\n",
     "D-9", 6, false},
    {"    labels: {zlayer.proxy/tls-key: /etc/tls/app.key}\n"
     "    endpoints: [{name: a, protocol: https, port: 443}]\n",
     "D-9", 6, false},
    {"    labels: {zlayer.proxy/tls-certificate: /etc/tls/app.pem}\n"
     "    endpoints: [{name: a, protocol: http, port: 80}, {name: b, protocol: tcp, port: 81}]\n",
     "R-26", 6, true},
    /* file-level problems */
    {"version: v1\ndeployment: demo\nfoo: [1, 2\n", "P-1", 0, false},
    {"version: v1\ndeployment: demo\n---\nversion: v1\n", "P-1", 3, false},
    {"- a\n- b\n", "P-1", 1, false},
    {"# only a comment\n", "P-1", 1, false},
    {"version: v1\ndeployment: demo\nsecrets: {}\n", "P-3", 3, false},
    {"version: v1\ndeployment: demo\nbase: &b {image: {name: nginx}}\n", "P-3", 3, false},
    {"version: v1\ndeployment: demo\nservices:\n  web:\n    <<: {image: {name: x}}\n", "P-3", 5,
     false},
    {"version: v1\ndeployment: demo\nservices:\n  a: &s\n    image: {name: nginx}\n  b: *s\n", NULL,
     0, false},
    {"version: v1\ndeployment: demo\nservices:\n  a:\n    image: {name: nginx}\n    env: *nope\n",
     "P-1", 6, false},
    /* found by the fuzzer: an alias inside the node it names (a cycle) */
    {"    init: {steps: [{id: a, uses: init.run, with: {command: x, l: &a [1, *a]}}]}\n", "P-1", 6,
     false},
};

static void test_snippets(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++) {
        const struct snippet *c = &cases[i];
        char *text = strncmp(c->yaml, "    ", 4) != 0 ? zl_xstrdup(c->yaml) : svc_yaml(c->yaml);
        struct zl_diags *d = NULL;
        struct zl_spec *s = load_text(text, c->strict, &d);
        bool ok;
        if (!c->rule) {
            ok = s && zl_diags_errors(d) == 0;
        } else {
            const struct zl_diag *g = find_rule(d, c->rule);
            ok = !s && g && g->level == ZL_DIAG_ERROR && (!c->line || g->line == c->line);
        }
        if (!ok) {
            fprintf(stderr, "case %zu: expected %s at line %d for:\n%s\n--- got:\n", i,
                    c->rule ? c->rule : "valid", c->line, text);
            print_diags(d);
            failures++;
        }
        zl_spec_free(s);
        zl_diags_free(d);
        free(text);
    }
    assert_int_equal(failures, 0);
}

/* Warnings by default, errors with --strict: a service name that is not a DNS label. */
/* A health check's url as the checker reads it (D-8's reasons). */
static void test_check_url(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host, *path, *why; /* why: NULL when read */
        unsigned port;
    } urls[] = {
        {"http://Nas.lan/health", "nas.lan", "/health", NULL, 0},
        {"http://h:8080", "h", "/", NULL, 8080},
        {"http://h:80?x=1", "h", "/?x=1", NULL, 80},
        {"http://h?x", "h", "/?x", NULL, 0},
        {"http://h/a?b#frag", "h", "/a?b", NULL, 0},
        {"http://h:81#frag", "h", "/", NULL, 81},
        {"http://h:80x", NULL, NULL, "the URL's port is not 1-65535", 0},
        {"http://h:0/", NULL, NULL, "the URL's port is not 1-65535", 0},
        {"http://h:/", NULL, NULL, "the URL's port is not 1-65535", 0},
        {"http://:80/", NULL, NULL, "the URL has no host", 0},
        {"https://h/", NULL, NULL, "https:// cannot be checked: health checks speak plain HTTP", 0},
        {"/health", NULL, NULL, "not an absolute http:// URL", 0},
    };
    for (size_t i = 0; i < ZL_ARRAY_LEN(urls); i++) {
        char host[64];
        unsigned port = 99;
        char *path = (char *)"unset";
        const char *why = NULL;
        int rc = zl_spec_check_url_parse(urls[i].url, host, sizeof(host), &port, &path, &why);
        if (urls[i].why) {
            assert_int_equal(rc, -1);
            assert_null(path);
            assert_string_equal(why, urls[i].why);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(host, urls[i].host);
        assert_string_equal(path, urls[i].path);
        assert_int_equal(port, urls[i].port);
        free(path);
    }
}

static void test_recommendations_warn(void **state)
{
    (void)state;
    const char *text = "version: v1\ndeployment: demo\nservices:\n  Web_1:\n    image: {name: x}\n";
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(text, false, &d);
    assert_non_null(s);
    const struct zl_diag *g = find_rule(d, "R-11");
    assert_non_null(g);
    assert_int_equal(g->level, ZL_DIAG_WARNING);
    zl_spec_free(s);
    zl_diags_free(d);
}

/* The labels naming a certificate: where and why, and a warning for one not used. */
static void test_tls_labels(void **state)
{
    (void)state;
    char *text = svc_yaml("    labels: {zlayer.proxy/tls-certificate: \"$S:tls/app\"}\n"
                          "    endpoints: [{name: a, protocol: https, port: 443}]\n");
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(text, false, &d);
    assert_null(s);
    const struct zl_diag *g = find_rule(d, "D-9");
    assert_non_null(g);
    assert_string_equal(g->path, "services.web.labels[\"zlayer.proxy/tls-certificate\"]");
    assert_non_null(strstr(g->msg, "secrets are not available yet"));
    assert_int_equal(g->line, 6);
    zl_diags_free(d);
    free(text);
    text = svc_yaml("    labels: {zlayer.proxy/tls-certificate: /etc/tls/app.pem}\n");
    s = load_text(text, false, &d);
    assert_non_null(s);
    g = find_rule(d, "R-26");
    assert_non_null(g);
    assert_int_equal(g->level, ZL_DIAG_WARNING);
    assert_non_null(strstr(g->msg, "not used"));
    zl_spec_free(s);
    zl_diags_free(d);
    free(text);
}

/* Every problem is reported, in file order, not just the first. */
static void test_all_errors_in_order(void **state)
{
    (void)state;
    const char *text = "version: v2\n"
                       "deployment: x\n"
                       "services:\n"
                       "  web:\n"
                       "    image: {name: Nginx}\n"
                       "    tty: yes\n"
                       "    endpoints: [{name: a, protocol: tcp, port: 70000}]\n";
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(text, false, &d);
    assert_null(s);
    /* type errors stop before the field rules (F-1, F-2), so three P errors */
    assert_int_equal(zl_diags_errors(d), 3);
    assert_string_equal(zl_diags_get(d, 0)->rule, "P-10");
    assert_int_equal(zl_diags_get(d, 0)->line, 5);
    assert_string_equal(zl_diags_get(d, 1)->rule, "P-5");
    assert_int_equal(zl_diags_get(d, 1)->line, 6);
    assert_string_equal(zl_diags_get(d, 2)->rule, "P-6");
    assert_string_equal(zl_diags_get(d, 2)->path, "services.web.endpoints[0].port");
    zl_diags_free(d);
    /* and the field rules all together once the types are right */
    d = NULL;
    s = load_text("version: v2\ndeployment: x\n", false, &d);
    assert_null(s);
    assert_int_equal(zl_diags_errors(d), 2);
    zl_diags_free(d);
}

static void test_syntax_error_position(void **state)
{
    (void)state;
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text("version: v1\ndeployment: demo\nlist: [a, b\nx: 1\n", false, &d);
    assert_null(s);
    const struct zl_diag *g = find_rule(d, "P-1");
    assert_non_null(g);
    assert_non_null(strstr(g->msg, "YAML syntax error"));
    assert_true(g->line >= 3);
    zl_diags_free(d);
}

/* An alias bomb stops at the node budget instead of eating the machine. */
static void test_alias_bomb(void **state)
{
    (void)state;
    struct zl_buf b;
    zl_buf_init(&b);
    zl_buf_puts(&b, "version: v1\ndeployment: demo\nservices:\n  web:\n    image: {name: x}\n"
                    "    env: &a0 {k: v}\n");
    for (int i = 1; i < 12; i++) {
        zl_buf_printf(&b, "    labels%d: &a%d [", i, i);
        for (int j = 0; j < 10; j++)
            zl_buf_printf(&b, "%s*a%d", j ? ", " : "", i - 1);
        zl_buf_puts(&b, "]\n");
    }
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(b.data, false, &d);
    assert_null(s);
    assert_true(zl_diags_errors(d) > 0);
    zl_diags_free(d);
    zl_buf_fini(&b);
}

/* Aliases stacking nested lists far deeper than the text itself is written. */
static void test_deep_alias_chain(void **state)
{
    (void)state;
    struct zl_buf b;
    zl_buf_init(&b);
    zl_buf_puts(&b, "version: v1\ndeployment: demo\nservices:\n  web:\n    image: {name: x}\n"
                    "    init: {steps: [{id: s, uses: init.run, with: {command: x,\n");
    zl_buf_puts(&b, "      a0: &a0 [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],\n");
    for (int i = 1; i < 40; i++)
        zl_buf_printf(&b, "      a%d: &a%d [[[[[[[[[[[[[[[[[[[[*a%d]]]]]]]]]]]]]]]]]]]],\n", i, i,
                      i - 1);
    zl_buf_puts(&b, "      end: 1}}]}\n");
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(b.data, false, &d);
    assert_null(s);
    assert_non_null(find_rule(d, "P-1"));
    zl_diags_free(d);
    zl_buf_fini(&b);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    struct zl_buf b;
    zl_buf_init(&b);
    zl_buf_puts(&b, "version: v1\ndeployment: demo\nx: ");
    for (int i = 0; i < 100000; i++)
        zl_buf_putc(&b, '[');
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(b.data, false, &d);
    assert_null(s);
    assert_non_null(find_rule(d, "P-1"));
    zl_diags_free(d);
    zl_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snippets),
        cmocka_unit_test(test_check_url),
        cmocka_unit_test(test_recommendations_warn),
        cmocka_unit_test(test_tls_labels),
        cmocka_unit_test(test_all_errors_in_order),
        cmocka_unit_test(test_syntax_error_position),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_deep_alias_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
