/* SPDX-License-Identifier: Apache-2.0 */
/* The lifecycle's pure parts: the rolling update plan, health states and probe intervals,
 * the check a service gets from its spec; what a timed-out command check leaves behind. */
#include "../helpers.h"

#include "agent/agent.h"
#include "agent/health.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct plan_buf {
    unsigned create[16];
    size_t remove[16];
    struct zl_rollout_plan p;
};

static struct zl_rollout_plan *plan(struct plan_buf *b, const struct zl_rollout_replica *v,
                                    size_t n, unsigned want, unsigned surge, unsigned unavail)
{
    memset(b, 0, sizeof(*b));
    b->p.create = b->create;
    b->p.remove = b->remove;
    zl_agent_rollout(v, n, want, surge, unavail, &b->p);
    return &b->p;
}

#define R(i, cur, rdy)                                 \
    {                                                  \
        .index = (i), .current = (cur), .ready = (rdy) \
    }

static void test_rollout_scaling(void **state)
{
    (void)state;
    struct plan_buf b;
    /* fresh: every index from 0 */
    struct zl_rollout_plan *p = plan(&b, NULL, 0, 3, 1, 0);
    assert_int_equal(p->ncreate, 3);
    assert_int_equal(b.create[0], 0);
    assert_int_equal(b.create[2], 2);
    assert_int_equal(p->failed, -1);
    /* a hole is filled first */
    struct zl_rollout_replica v1[] = {R(0, true, true), R(2, true, true)};
    p = plan(&b, v1, 2, 3, 1, 0);
    assert_int_equal(p->ncreate, 1);
    assert_int_equal(b.create[0], 1);
    /* scale down: the highest indices go */
    struct zl_rollout_replica v2[] = {R(3, true, true), R(0, true, true), R(1, true, false)};
    p = plan(&b, v2, 3, 1, 1, 0);
    assert_int_equal(p->ncreate, 0);
    assert_int_equal(p->nremove, 2);
    assert_int_equal(v2[b.remove[0]].index, 3);
    assert_int_equal(v2[b.remove[1]].index, 1);
    /* nothing to do */
    p = plan(&b, v1, 2, 2, 1, 0);
    assert_int_equal(p->ncreate + p->nremove, 0);
}

/* Start-first: walk a 3-replica update to its end; at no step fewer than 3 ready. */
static void test_rollout_start_first(void **state)
{
    (void)state;
    struct zl_rollout_replica v[8] = {R(0, false, true), R(1, false, true), R(2, false, true)};
    size_t n = 3;
    struct plan_buf b;
    for (int step = 0; step < 20; step++) {
        struct zl_rollout_plan *p = plan(&b, v, n, 3, 1, 0);
        assert_int_equal(p->failed, -1);
        /* apply: removals, then creations (not ready yet), then everything current is ready */
        struct zl_rollout_replica next[8];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            bool gone = false;
            for (size_t k = 0; k < p->nremove; k++)
                gone |= b.remove[k] == i;
            if (!gone)
                next[m++] = v[i];
        }
        size_t ready = 0, live = m + p->ncreate;
        for (size_t i = 0; i < m; i++)
            ready += next[i].ready;
        assert_true(ready >= 3);
        assert_true(live <= 4);
        for (size_t k = 0; k < p->ncreate; k++)
            next[m++] = (struct zl_rollout_replica)R(b.create[k], true, false);
        bool waiting = false;
        for (size_t i = 0; i < m; i++)
            waiting |= next[i].current && !next[i].ready;
        if (!p->ncreate && !p->nremove && !waiting) {
            /* settled: three current replicas */
            size_t cur = 0;
            for (size_t i = 0; i < m; i++)
                cur += next[i].current;
            assert_int_equal(cur, 3);
            assert_int_equal(m, 3);
            return;
        }
        memcpy(v, next, m * sizeof(*v));
        n = m;
        for (size_t i = 0; i < n; i++) /* the new ones pass their checks */
            if (v[i].current && step % 2)
                v[i].ready = true;
    }
    fail_msg("the update did not settle in 20 steps");
}

static void test_rollout_stop_first_and_failure(void **state)
{
    (void)state;
    struct plan_buf b;
    /* stop-first: the old replica goes and the new one takes its index in the same step */
    struct zl_rollout_replica v[] = {R(0, false, true)};
    struct zl_rollout_plan *p = plan(&b, v, 1, 1, 0, 1);
    assert_int_equal(p->nremove, 1);
    assert_int_equal(p->ncreate, 1);
    assert_int_equal(b.create[0], 0);
    /* a failed new replica stops the update: nothing removed, nothing created */
    struct zl_rollout_replica f[] = {R(0, false, true), R(1, false, true), R(2, true, false)};
    f[2].failed = true;
    p = plan(&b, f, 3, 2, 1, 0);
    assert_int_equal(p->failed, 2);
    assert_int_equal(p->nremove + p->ncreate, 0);
    /* an old replica that serves nothing goes at once */
    struct zl_rollout_replica o[] = {R(0, false, false), R(1, false, true)};
    p = plan(&b, o, 2, 2, 1, 0);
    assert_int_equal(p->nremove, 1);
    assert_int_equal(b.remove[0], 0);
    assert_int_equal(p->ncreate, 2); /* 1 old + 2 new = want + surge */
    /* neither surge nor unavailability: start-first rather than never moving */
    p = plan(&b, v, 1, 1, 0, 0);
    assert_int_equal(p->ncreate, 1);
    assert_int_equal(p->nremove, 0);
}

static void test_health_step(void **state)
{
    (void)state;
    unsigned f = 0;
    enum zl_health_state s = ZL_HEALTH_STARTING;
    s = zl_agent_health_step(s, false, &f, 3);
    assert_int_equal(s, ZL_HEALTH_STARTING);
    s = zl_agent_health_step(s, false, &f, 3);
    assert_int_equal(s, ZL_HEALTH_STARTING);
    s = zl_agent_health_step(s, false, &f, 3);
    assert_int_equal(s, ZL_HEALTH_UNHEALTHY);
    assert_int_equal(f, 3);
    s = zl_agent_health_step(s, true, &f, 3);
    assert_int_equal(s, ZL_HEALTH_HEALTHY);
    assert_int_equal(f, 0);
    /* healthy stays healthy until `retries` failures in a row */
    s = zl_agent_health_step(s, false, &f, 2);
    assert_int_equal(s, ZL_HEALTH_HEALTHY);
    s = zl_agent_health_step(s, false, &f, 2);
    assert_int_equal(s, ZL_HEALTH_UNHEALTHY);
    /* retries 0 counts as 1 */
    f = 0;
    assert_int_equal(zl_agent_health_step(ZL_HEALTH_HEALTHY, false, &f, 0), ZL_HEALTH_UNHEALTHY);
    assert_string_equal(zl_health_state_name(ZL_HEALTH_UNHEALTHY), "unhealthy");
    assert_string_equal(zl_health_state_name(ZL_HEALTH_NONE), "none");
    /* the interval doubles past `retries`, up to 60 s */
    assert_int_equal(zl_agent_health_delay_ms(1000, 0, 3), 1000);
    assert_int_equal(zl_agent_health_delay_ms(1000, 3, 3), 1000);
    assert_int_equal(zl_agent_health_delay_ms(1000, 4, 3), 2000);
    assert_int_equal(zl_agent_health_delay_ms(1000, 100, 3), 60000);
    assert_int_equal(zl_agent_health_delay_ms(90000, 100, 3), 90000);
}

static const struct zl_sval *service(struct zl_spec **s, const char *yaml)
{
    struct zl_diags *d = NULL;
    *s = load_text(yaml, false, &d);
    if (!*s)
        print_diags(d);
    zl_diags_free(d);
    assert_non_null(*s);
    return zl_sval_get(zl_sval_get(zl_spec_root(*s), "services"), "a");
}

static void test_health_target(void **state)
{
    (void)state;
    struct zl_spec *s;
    struct zl_health_target t = {0};
    /* no health and no endpoint: no check */
    assert_false(zl_health_target_from_spec(
        service(&s, "version: v1\ndeployment: dep\nservices:\n  a:\n    image: {name: x}\n"), &t));
    zl_spec_free(s);
    /* no health, an endpoint: tcp to its target port, defaults */
    assert_true(zl_health_target_from_spec(
        service(&s, "version: v1\ndeployment: dep\nservices:\n  a:\n    image: {name: x}\n"
                    "    endpoints: [{name: e, protocol: tcp, port: 80, target_port: 8081}]\n"),
        &t));
    assert_int_equal(t.type, ZL_CHECK_TCP);
    assert_int_equal(t.port, 8081);
    assert_int_equal(t.grace_ms, 5000);
    assert_int_equal(t.interval_ms, 10000);
    assert_int_equal(t.retries, 3);
    zl_health_target_fini(&t);
    zl_spec_free(s);
    /* http: the URL taken apart, localhost the replica's own */
    assert_true(zl_health_target_from_spec(
        service(&s, "version: v1\ndeployment: dep\nservices:\n  a:\n    image: {name: x}\n"
                    "    health: {interval: 2s, start_grace: 1s, check: {type: http, url: "
                    "'http://localhost:9000/healthz?x=1', expect_status: 204}}\n"),
        &t));
    assert_int_equal(t.type, ZL_CHECK_HTTP);
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_equal(t.port, 9000);
    assert_string_equal(t.path, "/healthz?x=1");
    assert_null(t.vhost);
    assert_int_equal(t.expect, 204);
    assert_int_equal(t.interval_ms, 2000);
    assert_null(t.error);
    zl_health_target_fini(&t);
    zl_spec_free(s);
    /* a URL the check cannot use is reported, not guessed */
    assert_true(zl_health_target_from_spec(
        service(&s, "version: v1\ndeployment: dep\nservices:\n  a:\n    image: {name: x}\n"
                    "    health: {check: {type: http, url: 'http://db.example:80/'}}\n"),
        &t));
    assert_non_null(t.error);
    assert_non_null(strstr(t.error, "health.check.url"));
    zl_health_target_fini(&t);
    zl_spec_free(s);
    /* tcp port 0 without endpoints: 8080; command */
    assert_true(zl_health_target_from_spec(
        service(&s, "version: v1\ndeployment: dep\nservices:\n  a:\n    image: {name: x}\n"
                    "    health: {check: {type: tcp, port: 0}}\n"),
        &t));
    assert_int_equal(t.port, 8080);
    zl_health_target_fini(&t);
    zl_spec_free(s);
    assert_true(zl_health_target_from_spec(
        service(&s, "version: v1\ndeployment: dep\nservices:\n  a:\n    image: {name: x}\n"
                    "    health: {check: {type: command, command: 'test -f /ready'}}\n"),
        &t));
    assert_int_equal(t.type, ZL_CHECK_COMMAND);
    assert_string_equal(t.command, "test -f /ready");
    zl_health_target_fini(&t);
    zl_spec_free(s);
}

/* An external's check for one of its backends: the url's host means each backend. */
static void ext_target(const char *health, const char *backend, uint32_t ip, uint16_t port,
                       struct zl_health_target *t)
{
    char *yaml = zl_xasprintf("version: v1\ndeployment: dep\nexternals:\n  nas:\n"
                              "    backends: ['10.0.0.1:8080', 'nas.lan:9090']\n    health: %s\n",
                              health);
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text(yaml, false, &d);
    if (!s)
        print_diags(d);
    zl_diags_free(d);
    assert_non_null(s);
    memset(t, 0, sizeof(*t));
    assert_true(zl_health_target_external(
        zl_sval_get(zl_sval_get(zl_spec_root(s), "externals"), "nas"), backend, ip, port, t));
    assert_string_equal(t->backend, backend);
    zl_spec_free(s);
    free(yaml);
}

static void test_health_target_external(void **state)
{
    (void)state;
    struct zl_health_target t;
    const uint32_t b2 = 0x0a000002; /* 10.0.0.2, where nas.lan was found */
    /* tcp port 0: the backend's own port; another port: that port on its address */
    ext_target("{interval: 1s, retries: 1, check: {type: tcp, port: 0}}", "nas.lan:9090", b2, 9090,
               &t);
    assert_int_equal(t.type, ZL_CHECK_TCP);
    assert_string_equal(t.host, "10.0.0.2");
    assert_int_equal(t.port, 9090);
    assert_int_equal(t.interval_ms, 1000);
    assert_int_equal(t.retries, 1);
    zl_health_target_fini(&t);
    ext_target("{check: {type: tcp, port: 22}}", "nas.lan:9090", b2, 9090, &t);
    assert_int_equal(t.port, 22);
    zl_health_target_fini(&t);
    /* http: localhost without a port is each backend at its own port; connected to at the
     * address found, its Host the backend's host as written (name-based virtual hosts) */
    ext_target("{check: {type: http, url: 'http://localhost/health'}}", "nas.lan:9090", b2, 9090,
               &t);
    assert_string_equal(t.host, "10.0.0.2");
    assert_string_equal(t.vhost, "nas.lan");
    assert_int_equal(t.port, 9090);
    assert_string_equal(t.path, "/health");
    assert_null(t.error);
    zl_health_target_fini(&t);
    /* with a port: that port of each backend */
    ext_target("{check: {type: http, url: 'http://127.0.0.1:8081/'}}", "nas.lan:9090", b2, 9090,
               &t);
    assert_string_equal(t.host, "10.0.0.2");
    assert_string_equal(t.vhost, "nas.lan");
    assert_int_equal(t.port, 8081);
    zl_health_target_fini(&t);
    /* a url naming one backend (host and port) checks each backend the same way, each by its
     * own name */
    ext_target("{check: {type: http, url: 'http://10.0.0.1:8080/ok'}}", "nas.lan:9090", b2, 9090,
               &t);
    assert_string_equal(t.host, "10.0.0.2");
    assert_string_equal(t.vhost, "nas.lan");
    assert_int_equal(t.port, 9090);
    assert_string_equal(t.path, "/ok");
    zl_health_target_fini(&t);
    ext_target("{check: {type: http, url: 'http://nas.lan:9090/ok'}}", "10.0.0.1:8080", 0x0a000001,
               8080, &t);
    assert_string_equal(t.host, "10.0.0.1");
    assert_string_equal(t.vhost, "10.0.0.1");
    assert_int_equal(t.port, 8080);
    zl_health_target_fini(&t);
    /* a backend's host with another port: that port of each backend */
    ext_target("{check: {type: http, url: 'http://NAS.lan:81/'}}", "10.0.0.1:8080", 0x0a000001,
               8080, &t);
    assert_string_equal(t.host, "10.0.0.1");
    assert_int_equal(t.port, 81);
    zl_health_target_fini(&t);
    ext_target("{check: {type: http, url: 'http://nas.lan:81/'}}", "nas.lan:9090", b2, 9090, &t);
    assert_string_equal(t.host, "10.0.0.2");
    assert_string_equal(t.vhost, "nas.lan");
    assert_int_equal(t.port, 81);
    zl_health_target_fini(&t);
    /* another address: as written, one verdict for all, and its Host as written */
    ext_target("{check: {type: http, url: 'http://192.168.1.9/status'}}", "10.0.0.1:8080",
               0x0a000001, 8080, &t);
    assert_string_equal(t.host, "192.168.1.9");
    assert_string_equal(t.vhost, "192.168.1.9");
    assert_int_equal(t.port, 80);
    zl_health_target_fini(&t);
    /* a query with no path: the path is "/"; a fragment is not sent */
    ext_target("{check: {type: http, url: 'http://localhost:8081?ready=1#top'}}", "nas.lan:9090",
               b2, 9090, &t);
    assert_string_equal(t.path, "/?ready=1");
    assert_int_equal(t.port, 8081);
    assert_null(t.error);
    zl_health_target_fini(&t);
    /* command: on the node, the backend's address kept for ZLAYER_BACKEND_IP */
    ext_target("{check: {type: command, command: 'nc -z $ZLAYER_BACKEND_IP 1'}}", "nas.lan:9090",
               b2, 9090, &t);
    assert_int_equal(t.type, ZL_CHECK_COMMAND);
    assert_string_equal(t.host, "10.0.0.2");
    zl_health_target_fini(&t);
}

/* Processes whose command line holds marker, zombies aside; killed when kill_them. */
static int count_marked(const char *marker, bool kill_them)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[300], buf[512], stat[512];
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
        FILE *f = fopen(path, "r");
        size_t len = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        for (size_t i = 0; i < len; i++)
            if (!buf[i])
                buf[i] = ' ';
        buf[len] = '\0';
        if (!strstr(buf, marker))
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        f = fopen(path, "r");
        size_t sl = f ? fread(stat, 1, sizeof(stat) - 1, f) : 0;
        if (f)
            fclose(f);
        stat[sl] = '\0';
        const char *paren = strrchr(stat, ')');
        if (!paren || paren[1] != ' ' || paren[2] != 'Z') {
            n++;
            if (kill_them)
                kill(atoi(de->d_name), SIGKILL);
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* Wait (5 s at most) until the count of marker's processes is want. */
static int wait_marked(const char *marker, int want)
{
    int n = count_marked(marker, false);
    for (int i = 0; i < 100 && n != want; i++) {
        nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
        n = count_marked(marker, false);
    }
    return n;
}

/* Run the loop until the output of id holds what (5 s at most). */
static bool run_until(uv_loop_t *loop, struct zl_health *h, const char *id, const char *what)
{
    for (int i = 0; i < 100; i++) {
        json_t *j = zl_health_json(h, id);
        const char *out = j ? json_string_value(json_object_get(j, "output")) : NULL;
        bool yes = out && strstr(out, what);
        json_decref(j);
        if (yes)
            return true;
        uv_run(loop, UV_RUN_ONCE);
    }
    return false;
}

static char late[32], closing[32];

/* Whatever a failed run left behind. */
static int kill_leftovers(void **state)
{
    (void)state;
    if (late[0])
        count_marked(late, true);
    if (closing[0])
        count_marked(closing, true);
    return 0;
}

/* An external's command check that ends early leaves nothing behind, also when its shell has
 * exited and what it started in the background holds the output pipe: on a timeout and at the
 * close. The sleeps are told apart by a duration no other process uses. */
static void test_health_command_leftovers(void **state)
{
    (void)state;
    char cmd1[96], cmd2[96];
    snprintf(late, sizeof(late), "sleep 7%07d", (int)getpid() % 10000000);
    snprintf(closing, sizeof(closing), "sleep 8%07d", (int)getpid() % 10000000);
    snprintf(cmd1, sizeof(cmd1), "%s & exit 0", late);
    snprintf(cmd2, sizeof(cmd2), "%s & exit 0", closing);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct zl_health *h = zl_health_new(&loop, NULL, "/nonexistent", NULL, NULL);
    struct zl_health_target ts[2] = {
        {.id = "d/x/a:1",
         .deployment = "d",
         .service = "x",
         .created = "",
         .backend = "a:1",
         .type = ZL_CHECK_COMMAND,
         .host = "127.0.0.1",
         .port = 1,
         .command = cmd1,
         .interval_ms = 60000,
         .timeout_ms = 300,
         .retries = 1},
        {.id = "d/x/b:1",
         .deployment = "d",
         .service = "x",
         .created = "",
         .backend = "b:1",
         .type = ZL_CHECK_COMMAND,
         .host = "127.0.0.1",
         .port = 1,
         .command = cmd2,
         .interval_ms = 60000,
         .timeout_ms = 60000,
         .retries = 1},
    };
    zl_health_set_targets(h, ts, 2);
    /* the first times out: its group is killed although the shell has exited */
    assert_true(run_until(&loop, h, "d/x/a:1", "timed out"));
    assert_int_equal(wait_marked(late, 0), 0);
    /* the second is still waiting for its pipe when the daemon stops */
    assert_int_equal(wait_marked(closing, 1), 1);
    zl_health_close(h);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(wait_marked(closing, 0), 0);
}

/* An external's http check asks the address found for the backend by its name as written. */
static void test_health_http_host(void **state)
{
    (void)state;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 4), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    unsigned port = ntohs(sa.sin_port);
    char backend[64], want[96], req[1024] = "";
    snprintf(backend, sizeof(backend), "legacy.internal:%u", port);
    snprintf(want, sizeof(want), "GET /health?x HTTP/1.1\r\nHost: legacy.internal:%u\r\n", port);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct zl_health *h = zl_health_new(&loop, NULL, "/nonexistent", NULL, NULL);
    struct zl_health_target t = {.id = "d/x/l",
                                 .deployment = "d",
                                 .service = "x",
                                 .created = "",
                                 .backend = backend,
                                 .type = ZL_CHECK_HTTP,
                                 .host = "127.0.0.1",
                                 .vhost = "legacy.internal",
                                 .port = port,
                                 .path = "/health?x",
                                 .expect = 204,
                                 .interval_ms = 60000,
                                 .timeout_ms = 5000,
                                 .retries = 1};
    zl_health_set_targets(h, &t, 1);
    /* the server: one request read, answered 204 */
    int c = -1;
    size_t len = 0;
    for (int i = 0; i < 100 && !strstr(req, "\r\n\r\n"); i++) {
        uv_run(&loop, UV_RUN_ONCE);
        if (c < 0)
            c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        ssize_t n = c < 0 ? -1 : read(c, req + len, sizeof(req) - 1 - len);
        if (n > 0)
            req[len += (size_t)n] = '\0';
    }
    assert_true(c >= 0);
    assert_non_null(strstr(req, want));
    const char *ok = "HTTP/1.1 204 No Content\r\n\r\n";
    assert_int_equal(write(c, ok, strlen(ok)), (ssize_t)strlen(ok));
    close(c);
    assert_true(run_until(&loop, h, "d/x/l", "HTTP/1.1 204"));
    assert_int_equal(zl_health_get(h, "d/x/l").state, ZL_HEALTH_HEALTHY);
    zl_health_close(h);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(ls);
}

static void test_service_order(void **state)
{
    (void)state;
    struct zl_diags *d = NULL;
    struct zl_spec *s = load_text("version: v1\ndeployment: dep\nservices:\n"
                                  "  client:\n    image: {name: x}\n"
                                  "    depends: [{service: api}, {service: cache}]\n"
                                  "  worker:\n    image: {name: x}\n"
                                  "  api:\n    image: {name: x}\n"
                                  "    depends: [{service: db, condition: started}]\n"
                                  "  db:\n    image: {name: x}\n"
                                  "  cache:\n    image: {name: x}\n",
                                  false, &d);
    if (!s)
        print_diags(d);
    zl_diags_free(d);
    assert_non_null(s);
    const struct zl_sval *svcs = zl_sval_get(zl_spec_root(s), "services");
    size_t order[8];
    assert_int_equal(zl_agent_service_order(svcs, order), 5);
    char got[128] = "";
    for (size_t i = 0; i < 5; i++) {
        strcat(got, svcs->keys[order[i]]);
        strcat(got, " ");
    }
    /* dependencies first, depth first; otherwise the file's order */
    assert_string_equal(got, "db api cache client worker ");
    zl_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollout_scaling),
        cmocka_unit_test(test_rollout_start_first),
        cmocka_unit_test(test_rollout_stop_first_and_failure),
        cmocka_unit_test(test_health_step),
        cmocka_unit_test(test_health_target),
        cmocka_unit_test(test_health_target_external),
        cmocka_unit_test_teardown(test_health_command_leftovers, kill_leftovers),
        cmocka_unit_test(test_health_http_host),
        cmocka_unit_test(test_service_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
