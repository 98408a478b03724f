/* SPDX-License-Identifier: Apache-2.0 */
/* agent/health.c: health checks on the daemon's loop. tcp and http probes are non-blocking
 * connects made from a socket opened in the replica's network namespace; command probes run
 * `zlayer runtime exec ID -- sh -c CMD` (the replica's namespaces, cgroup, user and security
 * settings). An external's backends are checked alike from the daemon's own network, their
 * commands run on the node. One timer serves every replica. The reconciler hands over the set of
 * replicas to check from its own thread; results are read from any thread, under one mutex. */
#include "agent/health.h"
#include "agent/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TICK_MS    100
#define OUTPUT_MAX 2048

struct probe;

struct entry {
    struct zl_health_target t;
    struct zl_health_status st;
    char output[OUTPUT_MAX]; /* the last probe's result */
    uint64_t due;            /* loop time of the next probe */
    struct probe *probe;     /* in flight, or NULL */
    bool gone;               /* no longer wanted: freed when its probe ends */
};

struct zl_health {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_async_t async;
    pthread_mutex_t mu;
    struct entry **v;
    size_t n;
    struct zl_health_target *pending; /* a new set from the reconciler, applied on the loop */
    size_t npending;
    bool has_pending, closing;
    int self_ns; /* the daemon's own network namespace */
    char *rt_root;
    struct zl_api_events *events;
    void (*changed)(void *);
    void *arg;
    struct probe *probes; /* in flight, entries that are gone included */
    int closed;           /* of the timer and the async handle, at the end */
};

static void maybe_free(struct zl_health *h);

struct probe {
    struct probe *next, *prev; /* every probe in flight, for the close */
    struct zl_health *h;
    struct entry *e;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t timer;
    int handles; /* open libuv handles; the probe is freed when the last one closes */
    bool done, has_proc, has_tcp;
    int open_pipes, exit_sig; /* exit_sig -1: the command still runs */
    int64_t exit_status;
    char *req;
    char buf[OUTPUT_MAX];
    size_t len;
};

/* ---------------- targets from the spec ---------------- */

/* The port of the first http/https/websocket endpoint (its target port), else 0. */
static unsigned endpoint_port(const struct zl_sval *svc, bool any)
{
    const struct zl_sval *eps = zl_sval_get(svc, "endpoints");
    for (size_t i = 0; eps && i < eps->n; i++) {
        const char *proto = zl_sval_str(eps->items[i], "protocol", "");
        if (any || !strcmp(proto, "http") || !strcmp(proto, "https") || !strcmp(proto, "websocket"))
            return (unsigned)zl_sval_uint(eps->items[i], "target_port",
                                          zl_sval_uint(eps->items[i], "port", 0));
    }
    return 0;
}

/* http://HOST[:PORT][/PATH][?QUERY] with HOST localhost or an IPv4 address (read as an
 * external's url is: zl_spec_check_url_parse). */
static void parse_url(const char *url, struct zl_health_target *t)
{
    char host[64];
    unsigned port;
    const char *why;
    char *path;
    struct in_addr a;
    if (zl_spec_check_url_parse(url, host, sizeof(host), &port, &path, &why) < 0) {
        t->error = zl_xasprintf("health.check.url: %s: %s", url, why);
        return;
    }
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof(host), "127.0.0.1");
    else if (inet_pton(AF_INET, host, &a) != 1) {
        free(path);
        t->error = zl_xasprintf("health.check.url: the host of %s must be localhost or an IPv4 "
                                "address (the check runs in the replica's network)",
                                url);
        return;
    }
    t->host = zl_xstrdup(host);
    t->port = port ? port : 80;
    t->path = path;
}

/* start_grace, interval, timeout and retries (5.13 defaults), within sane bounds. */
static void timing(const struct zl_sval *hs, struct zl_health_target *t)
{
    t->grace_ms = zl_sval_uint(hs, "start_grace", 5000000000ull) / 1000000;
    t->interval_ms = zl_sval_uint(hs, "interval", 10000000000ull) / 1000000;
    t->timeout_ms = zl_sval_uint(hs, "timeout", 5000000000ull) / 1000000;
    t->retries = (unsigned)zl_sval_uint(hs, "retries", 3);
    if (t->interval_ms < 100)
        t->interval_ms = 100;
    if (t->timeout_ms < 10)
        t->timeout_ms = 10;
}

bool zl_health_target_from_spec(const struct zl_sval *svc, struct zl_health_target *t)
{
    const struct zl_sval *hs = zl_sval_get(svc, "health");
    /* left out: the default tcp check, but only when there is an endpoint to connect to */
    if (!hs || (!hs->written && !endpoint_port(svc, true)))
        return false;
    const char *type = zl_sval_str(hs, "check.type", "tcp");
    timing(hs, t);
    if (!strcmp(type, "http")) {
        t->type = ZL_CHECK_HTTP;
        t->expect = (unsigned)zl_sval_uint(hs, "check.expect_status", 200);
        parse_url(zl_sval_str(hs, "check.url", ""), t);
    } else if (!strcmp(type, "command")) {
        t->type = ZL_CHECK_COMMAND;
        t->command = zl_xstrdup(zl_sval_str(hs, "check.command", "true"));
    } else {
        t->type = ZL_CHECK_TCP;
        t->host = zl_xstrdup("127.0.0.1");
        t->port = (unsigned)zl_sval_uint(hs, "check.port", 0);
        if (!t->port)
            t->port = endpoint_port(svc, false);
        if (!t->port)
            t->port = endpoint_port(svc, true);
        if (!t->port)
            t->port = 8080;
    }
    return true;
}

/* Is backend ("host:port" as written) on host, and on port unless that is 0? */
static bool backend_is(const char *backend, const char *host, unsigned port)
{
    const char *colon = strrchr(backend, ':');
    size_t n = colon ? (size_t)(colon - backend) : strlen(backend);
    return n && n == strlen(host) && !strncasecmp(backend, host, n) &&
           (!port || (colon && strtoul(colon + 1, NULL, 10) == port));
}

/* An external's http check for one backend. localhost (or 127.0.0.1) is each backend: at its
 * own port when the url has none, else at that port; so is a url naming one of the backends
 * (host and port as written: a backend's own url copied into the check checks each backend the
 * same way), and a backend's host with another port is that port on each backend. Any other
 * IPv4 address is checked as written, one verdict for every backend. The check connects to the
 * address found, but its Host is the name as the user wrote it: the backend's host when the
 * check goes to each backend (a name-based virtual host answers only to its name), else the
 * url's. Rule D-8 refused at deploy what cannot apply; a stored spec from before gets the
 * reason as its result. */
static void external_url(const struct zl_sval *ext, const char *backend, const char *url,
                         uint32_t ip, uint16_t port, struct zl_health_target *t)
{
    char host[256], addr[16];
    unsigned uport;
    const char *why;
    char *path;
    if (zl_spec_check_url_parse(url, host, sizeof(host), &uport, &path, &why) < 0) {
        t->error = zl_xasprintf("health.check.url: %s: %s", url, why);
        return;
    }
    const struct zl_sval *bs = zl_sval_get(ext, "backends");
    bool names_one = false, on_a_host = false;
    for (size_t i = 0; bs && i < bs->n; i++) {
        const char *b = bs->items[i]->kind == ZL_SV_STR ? bs->items[i]->s : "";
        names_one |= backend_is(b, host, uport);
        on_a_host |= backend_is(b, host, 0);
    }
    struct in_addr a;
    const char *colon = strrchr(backend, ':');
    int bhl = colon ? (int)(colon - backend) : (int)strlen(backend);
    t->path = path;
    if (names_one || ((!strcmp(host, "localhost") || !strcmp(host, "127.0.0.1")) && !uport)) {
        t->host = zl_xstrdup(zl_net_ip_text(ip, addr));
        t->vhost = zl_xasprintf("%.*s", bhl, backend);
        t->port = port;
    } else if (on_a_host || !strcmp(host, "localhost") || !strcmp(host, "127.0.0.1")) {
        t->host = zl_xstrdup(zl_net_ip_text(ip, addr));
        t->vhost = zl_xasprintf("%.*s", bhl, backend);
        t->port = uport;
    } else if (inet_pton(AF_INET, host, &a) == 1) {
        t->host = zl_xstrdup(host);
        t->vhost = zl_xstrdup(host);
        t->port = uport ? uport : 80;
    } else {
        t->error = zl_xasprintf("health.check.url: the host of %s must be localhost, one of the "
                                "backends' hosts or an IPv4 address",
                                url);
    }
}

bool zl_health_target_external(const struct zl_sval *ext, const char *backend, uint32_t ip,
                               uint16_t port, struct zl_health_target *t)
{
    const struct zl_sval *hs = zl_sval_get(ext, "health");
    if (!hs || !zl_sval_get(hs, "check"))
        return false;
    const char *type = zl_sval_str(hs, "check.type", "tcp");
    char addr[16];
    timing(hs, t);
    t->backend = zl_xstrdup(backend);
    if (!strcmp(type, "http")) {
        t->type = ZL_CHECK_HTTP;
        t->expect = (unsigned)zl_sval_uint(hs, "check.expect_status", 200);
        external_url(ext, backend, zl_sval_str(hs, "check.url", ""), ip, port, t);
        return true;
    }
    /* tcp and command: the backend's address (command: in ZLAYER_BACKEND_IP) */
    t->host = zl_xstrdup(zl_net_ip_text(ip, addr));
    t->port = port;
    if (!strcmp(type, "command")) {
        t->type = ZL_CHECK_COMMAND;
        t->command = zl_xstrdup(zl_sval_str(hs, "check.command", "true"));
    } else {
        t->type = ZL_CHECK_TCP;
        unsigned p = (unsigned)zl_sval_uint(hs, "check.port", 0);
        if (p)
            t->port = p;
    }
    return true;
}

void zl_health_target_fini(struct zl_health_target *t)
{
    free(t->id);
    free(t->deployment);
    free(t->service);
    free(t->created);
    free(t->host);
    free(t->vhost);
    free(t->path);
    free(t->command);
    free(t->error);
    free(t->backend);
    memset(t, 0, sizeof(*t));
}

static void target_copy(struct zl_health_target *d, const struct zl_health_target *s)
{
    *d = *s;
#define DUP(f) d->f = s->f ? zl_xstrdup(s->f) : NULL
    DUP(id);
    DUP(deployment);
    DUP(service);
    DUP(created);
    DUP(host);
    DUP(vhost);
    DUP(path);
    DUP(command);
    DUP(error);
    DUP(backend);
#undef DUP
}

/* ---------------- results ---------------- */

static void publish(struct zl_health *h, struct entry *e)
{
    if (!h->events)
        return;
    if (e->t.backend) {
        zl_api_events_publish(h->events,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "resource",
                                        "external", "kind", "health", "deployment", e->t.deployment,
                                        "external", e->t.service, "backend", e->t.backend, "status",
                                        zl_health_state_name(e->st.state), "output", e->output));
        return;
    }
    zl_api_events_publish(h->events,
                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "resource", "container",
                                    "kind", "health", "id", e->t.id, "deployment", e->t.deployment,
                                    "service", e->t.service, "status",
                                    zl_health_state_name(e->st.state), "output", e->output));
}

/* A probe's verdict, on the loop thread. */
static void record(struct zl_health *h, struct entry *e, bool ok, const char *out, size_t len)
{
    pthread_mutex_lock(&h->mu);
    enum zl_health_state before = e->st.state;
    e->st.state = zl_agent_health_step(e->st.state, ok, &e->st.failures, e->t.retries);
    snprintf(e->output, sizeof(e->output), "%.*s", (int)len, out);
    bool changed = e->st.state != before;
    if (changed)
        e->st.since_ms = zl_wall_ms();
    e->due =
        uv_now(h->loop) +
        (e->t.backend ? e->t.interval_ms
                      : zl_agent_health_delay_ms(e->t.interval_ms, e->st.failures, e->t.retries));
    pthread_mutex_unlock(&h->mu);
    if (changed && e->t.backend)
        zl_log(e->st.state == ZL_HEALTH_UNHEALTHY ? "warn" : "info", "health",
               "external %s/%s: backend %s %s (%s)", e->t.deployment, e->t.service, e->t.backend,
               e->st.state == ZL_HEALTH_UNHEALTHY ? "is unhealthy: left out of its routes"
               : before == ZL_HEALTH_UNHEALTHY    ? "is healthy again: routed"
                                                  : "is healthy",
               e->output);
    else if (changed)
        zl_log(e->st.state == ZL_HEALTH_UNHEALTHY ? "warn" : "info", "health", "%s: %s (%s)",
               e->t.id, zl_health_state_name(e->st.state), e->output);
    if (changed) {
        publish(h, e);
        if (h->changed)
            h->changed(h->arg);
    }
}

static void entry_free(struct entry *e)
{
    zl_health_target_fini(&e->t);
    free(e);
}

static void probe_closed(uv_handle_t *hd)
{
    struct probe *p = hd->data;
    if (--p->handles > 0)
        return;
    struct entry *e = p->e;
    e->probe = NULL;
    if (e->gone)
        entry_free(e);
    if (p->prev)
        p->prev->next = p->next;
    else
        p->h->probes = p->next;
    if (p->next)
        p->next->prev = p->prev;
    struct zl_health *h = p->h;
    free(p->req);
    free(p);
    maybe_free(h);
}

static void probe_close(uv_handle_t *hd)
{
    if (!uv_is_closing(hd))
        uv_close(hd, probe_closed);
}

/* The verdict is given once; then every handle of the probe closes. */
static void probe_end(struct probe *p, bool ok, const char *fmt, ...) ZL_PRINTF(3, 4);
static void probe_end(struct probe *p, bool ok, const char *fmt, ...)
{
    if (p->done)
        return;
    p->done = true;
    char msg[OUTPUT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!p->e->gone)
        record(p->h, p->e, ok, msg, strlen(msg));
    uv_timer_stop(&p->timer);
    probe_close((uv_handle_t *)&p->timer);
    if (p->has_proc) {
        probe_close((uv_handle_t *)&p->out);
        probe_close((uv_handle_t *)&p->err);
        /* ended early (a timeout, the close): a node command's session, itself included, and
         * what it started, also once the shell has exited while what it left behind holds a
         * pipe (`sleep 100 & exit 0`). The group's id is not reused while it has members. */
        if (p->e->t.backend && p->proc.pid > 0 && (p->exit_sig < 0 || p->open_pipes > 0))
            kill(-p->proc.pid, SIGKILL);
        if (p->exit_sig < 0) /* timed out: killed; its handle closes once it is reaped */
            uv_process_kill(&p->proc, SIGKILL);
        else
            probe_close((uv_handle_t *)&p->proc);
    } else if (p->has_tcp) {
        probe_close((uv_handle_t *)&p->tcp);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct probe *p = t->data;
    probe_end(p, false, "timed out after %llu ms", (unsigned long long)p->e->t.timeout_ms);
}

/* ---------------- tcp and http ---------------- */

/* A TCP socket in the network namespace of process pid (0: the daemon's own). */
static int netns_socket(struct zl_health *h, int pid)
{
    if (pid <= 0) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        return fd < 0 ? -errno : fd;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0)
        return -errno;
    struct stat a, b;
    bool same = fstat(ns, &a) == 0 && fstat(h->self_ns, &b) == 0 && a.st_ino == b.st_ino &&
                a.st_dev == b.st_dev;
    if (!same && setns(ns, CLONE_NEWNET) < 0) {
        int e = errno;
        close(ns);
        return -e;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int e = errno;
    if (!same && setns(h->self_ns, CLONE_NEWNET) < 0) {
        /* the loop thread must not stay in a container's network */
        zl_log("error", "health", "cannot return to the daemon's network namespace: %s",
               strerror(errno));
        abort();
    }
    close(ns);
    return fd < 0 ? -e : fd;
}

static void on_alloc(uv_handle_t *hd, size_t sug, uv_buf_t *buf)
{
    struct probe *p = hd->data;
    (void)sug;
    size_t room = sizeof(p->buf) - 1 - p->len;
    if (!room) { /* keep the last output: drop the older half */
        memmove(p->buf, p->buf + sizeof(p->buf) / 2, p->len - sizeof(p->buf) / 2);
        p->len -= sizeof(p->buf) / 2;
        room = sizeof(p->buf) - 1 - p->len;
    }
    *buf = uv_buf_init(p->buf + p->len, (unsigned)room);
}

static void on_http_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct probe *p = s->data;
    (void)buf;
    if (n > 0)
        p->len += (size_t)n;
    p->buf[p->len] = '\0';
    char *eol = strstr(p->buf, "\r\n");
    if (!eol && n >= 0 && p->len < sizeof(p->buf) - 1)
        return;
    unsigned status = 0;
    if (sscanf(p->buf, "HTTP/1.%*d %u", &status) != 1) {
        probe_end(p, false, "%s", n < 0 ? uv_strerror((int)n) : "not an HTTP response");
        return;
    }
    if (eol)
        *eol = '\0';
    probe_end(p, status == p->e->t.expect, "%s", p->buf);
}

static void on_written(uv_write_t *w, int status)
{
    struct probe *p = w->data;
    if (status < 0)
        probe_end(p, false, "send: %s", uv_strerror(status));
}

static void on_connect(uv_connect_t *c, int status)
{
    struct probe *p = c->data;
    if (p->done)
        return;
    if (status < 0) {
        probe_end(p, false, "connect %s:%u: %s", p->e->t.host, p->e->t.port, uv_strerror(status));
        return;
    }
    if (p->e->t.type == ZL_CHECK_TCP) {
        probe_end(p, true, "connected to %s:%u", p->e->t.host, p->e->t.port);
        return;
    }
    /* Host: the name as written when there is one (the address connected to is the one found
     * for it), with the port unless it is 80 */
    char port[8] = "";
    if (p->e->t.port != 80)
        snprintf(port, sizeof(port), ":%u", p->e->t.port);
    p->req = zl_xasprintf("GET %s HTTP/1.1\r\nHost: %s%s\r\nUser-Agent: zlayer-health\r\n"
                          "Connection: close\r\n\r\n",
                          p->e->t.path, p->e->t.vhost ? p->e->t.vhost : p->e->t.host, port);
    uv_buf_t b = uv_buf_init(p->req, (unsigned)strlen(p->req));
    p->wr.data = p;
    uv_write(&p->wr, (uv_stream_t *)&p->tcp, &b, 1, on_written);
    uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_http_read);
}

static void start_net(struct probe *p)
{
    struct zl_health *h = p->h;
    uv_tcp_init(h->loop, &p->tcp);
    p->tcp.data = p;
    p->handles++;
    p->has_tcp = true;
    int fd = netns_socket(h, p->e->t.pid);
    if (fd < 0) {
        probe_end(p, false, "socket%s: %s", p->e->t.pid > 0 ? " in the replica's network" : "",
                  strerror(-fd));
        return;
    }
    int rc = uv_tcp_open(&p->tcp, fd);
    if (rc < 0) {
        close(fd);
        probe_end(p, false, "socket: %s", uv_strerror(rc));
        return;
    }
    struct sockaddr_in sa;
    uv_ip4_addr(p->e->t.host, (int)p->e->t.port, &sa);
    p->conn.data = p;
    rc = uv_tcp_connect(&p->conn, &p->tcp, (const struct sockaddr *)&sa, on_connect);
    if (rc < 0)
        probe_end(p, false, "connect: %s", uv_strerror(rc));
}

/* ---------------- command ---------------- */

/* The verdict once the process has exited and both pipes are drained. */
static void cmd_maybe_done(struct probe *p)
{
    if (p->open_pipes || p->exit_sig < 0)
        return;
    while (p->len && (p->buf[p->len - 1] == '\n' || p->buf[p->len - 1] == '\r'))
        p->len--;
    p->buf[p->len] = '\0';
    if (p->exit_sig)
        probe_end(p, false, "killed by signal %d%s%s", p->exit_sig, p->len ? ": " : "", p->buf);
    else
        probe_end(p, p->exit_status == 0, "exit %lld%s%s", (long long)p->exit_status,
                  p->len ? ": " : "", p->buf);
}

static void on_cmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct probe *p = s->data;
    (void)buf;
    if (n > 0)
        p->len += (size_t)n;
    else if (n < 0) {
        uv_read_stop(s);
        p->open_pipes--;
        cmd_maybe_done(p);
    }
}

static void on_cmd_exit(uv_process_t *proc, int64_t status, int sig)
{
    struct probe *p = proc->data;
    p->exit_status = status;
    p->exit_sig = sig;
    if (p->done) /* after a timeout */
        probe_close((uv_handle_t *)proc);
    else
        cmd_maybe_done(p);
}

/* The daemon's environment without ZLAYER_BACKEND*, then the backend's: ZLAYER_BACKEND (as
 * written), ZLAYER_BACKEND_HOST, ZLAYER_BACKEND_PORT and ZLAYER_BACKEND_IP (where it was
 * found). Freed with free_env. */
static char **backend_env(const struct zl_health_target *t)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = zl_xcalloc(n + 5, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "ZLAYER_BACKEND", 14) != 0)
            env[k++] = zl_xstrdup(environ[i]);
    const char *colon = strrchr(t->backend, ':');
    int hl = colon ? (int)(colon - t->backend) : (int)strlen(t->backend);
    env[k++] = zl_xasprintf("ZLAYER_BACKEND=%s", t->backend);
    env[k++] = zl_xasprintf("ZLAYER_BACKEND_HOST=%.*s", hl, t->backend);
    env[k++] = zl_xasprintf("ZLAYER_BACKEND_PORT=%s", colon ? colon + 1 : "");
    env[k++] = zl_xasprintf("ZLAYER_BACKEND_IP=%s", t->host ? t->host : "");
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

/* Run the check's program (file, args; env NULL: the daemon's), its output read from two
 * pipes; detached: a session of its own, so that a timeout kills what it started too. */
static void spawn_check(struct probe *p, const char *file, char **args, char **env, bool detached)
{
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->err},
    };
    uv_process_options_t o = {.exit_cb = on_cmd_exit,
                              .file = file,
                              .args = args,
                              .env = env,
                              .flags = detached ? UV_PROCESS_DETACHED : 0,
                              .stdio_count = 3,
                              .stdio = stdio};
    int rc = uv_spawn(p->h->loop, &p->proc, &o);
    if (rc < 0) {
        probe_end(p, false, "start the check: %s", uv_strerror(rc));
        return;
    }
    p->exit_sig = -1; /* running */
    p->open_pipes = 2;
    uv_read_start((uv_stream_t *)&p->out, on_alloc, on_cmd_read);
    uv_read_start((uv_stream_t *)&p->err, on_alloc, on_cmd_read);
}

static void start_command(struct probe *p)
{
    struct zl_health *h = p->h;
    uv_pipe_init(h->loop, &p->out, 0);
    uv_pipe_init(h->loop, &p->err, 0);
    p->out.data = p->err.data = p->proc.data = p;
    p->handles += 3; /* the pipes, and the process handle (initialised even by a failed spawn) */
    p->has_proc = true;
    if (p->e->t.backend) { /* an external's command: `sh -c` on the node */
        char *argv[] = {"sh", "-c", p->e->t.command, NULL};
        char **env = backend_env(&p->e->t);
        spawn_check(p, "/bin/sh", argv, env, true);
        free_env(env);
        return;
    }
    char *root = zl_xasprintf("--root=%s", h->rt_root);
    char *argv[] = {"zlayer", "runtime", root, "exec",          p->e->t.id,
                    "--",     "sh",      "-c", p->e->t.command, NULL};
    spawn_check(p, "/proc/self/exe", argv, NULL, false);
    free(root);
}

/* ---------------- the timer ---------------- */

static void start_probe(struct zl_health *h, struct entry *e)
{
    struct probe *p = zl_xcalloc(1, sizeof(*p));
    p->h = h;
    p->e = e;
    e->probe = p;
    p->next = h->probes;
    if (h->probes)
        h->probes->prev = p;
    h->probes = p;
    uv_timer_init(h->loop, &p->timer);
    p->timer.data = p;
    p->handles = 1;
    uv_timer_start(&p->timer, on_timeout, e->t.timeout_ms, 0);
    if (!e->st.checked) {
        pthread_mutex_lock(&h->mu);
        e->st.checked = (int64_t)uv_now(h->loop);
        pthread_mutex_unlock(&h->mu);
    }
    if (e->t.error)
        probe_end(p, false, "%s", e->t.error);
    else if (e->t.type != ZL_CHECK_COMMAND && e->t.pid > 0 && h->self_ns < 0)
        probe_end(p, false, "the daemon cannot open its own network namespace");
    else if (e->t.type == ZL_CHECK_COMMAND)
        start_command(p);
    else
        start_net(p);
}

/* Is the running check a the one wanted (b)? The same container (creation time and pid),
 * and the same check unless b keeps whatever check there is. */
static bool same_target(const struct zl_health_target *a, const struct zl_health_target *b)
{
#define EQ(f) ((!a->f && !b->f) || (a->f && b->f && !strcmp(a->f, b->f)))
    if (!EQ(created) || a->pid != b->pid || !EQ(backend))
        return false;
    if (b->keep)
        return true;
    return a->type == b->type && a->port == b->port && EQ(host) && EQ(vhost) && EQ(path) &&
           EQ(command) && a->expect == b->expect && a->interval_ms == b->interval_ms &&
           a->timeout_ms == b->timeout_ms && a->retries == b->retries && a->grace_ms == b->grace_ms;
#undef EQ
}

/* The reconciler's new set: keep entries whose container and check are unchanged. */
static void apply_pending(struct zl_health *h)
{
    pthread_mutex_lock(&h->mu);
    struct entry **v = zl_xcalloc(h->npending + 1, sizeof(*v));
    for (size_t i = 0; i < h->npending; i++) {
        struct zl_health_target *t = &h->pending[i];
        for (size_t k = 0; k < h->n && !v[i]; k++)
            if (h->v[k] && !strcmp(h->v[k]->t.id, t->id) && same_target(&h->v[k]->t, t)) {
                v[i] = h->v[k];
                h->v[k] = NULL;
            }
        if (!v[i]) {
            v[i] = zl_xcalloc(1, sizeof(**v));
            v[i]->t = *t;
            memset(t, 0, sizeof(*t));
            v[i]->st.state = ZL_HEALTH_STARTING;
            v[i]->st.since_ms = zl_wall_ms();
            snprintf(v[i]->output, sizeof(v[i]->output), "waiting %llu ms before the first check",
                     (unsigned long long)v[i]->t.grace_ms);
            v[i]->due = uv_now(h->loop) + v[i]->t.grace_ms;
        }
    }
    for (size_t k = 0; k < h->n; k++)
        if (h->v[k]) {
            if (h->v[k]->probe)
                h->v[k]->gone = true; /* freed when its probe ends */
            else
                entry_free(h->v[k]);
        }
    for (size_t i = 0; i < h->npending; i++)
        zl_health_target_fini(&h->pending[i]);
    free(h->pending);
    h->pending = NULL;
    free(h->v);
    h->v = v;
    h->n = h->npending;
    h->npending = 0;
    h->has_pending = false;
    pthread_mutex_unlock(&h->mu);
}

static void on_tick(uv_timer_t *t)
{
    struct zl_health *h = t->data;
    uint64_t now = uv_now(h->loop);
    for (size_t i = 0; i < h->n; i++) {
        struct entry *e = h->v[i];
        if (!e->probe && e->due <= now)
            start_probe(h, e);
    }
    if (!h->n)
        uv_timer_stop(&h->timer);
}

static void on_async(uv_async_t *a)
{
    struct zl_health *h = a->data;
    if (h->closing)
        return;
    if (h->has_pending)
        apply_pending(h);
    if (h->n && !uv_is_active((uv_handle_t *)&h->timer))
        uv_timer_start(&h->timer, on_tick, 0, TICK_MS);
}

struct zl_health *zl_health_new(uv_loop_t *loop, struct zl_api_events *events, const char *rt_root,
                                void (*changed)(void *), void *arg)
{
    struct zl_health *h = zl_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->events = events;
    h->rt_root = zl_xstrdup(rt_root);
    h->changed = changed;
    h->arg = arg;
    h->self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    pthread_mutex_init(&h->mu, NULL);
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    uv_async_init(loop, &h->async, on_async);
    h->async.data = h;
    return h;
}

void zl_health_set_targets(struct zl_health *h, const struct zl_health_target *ts, size_t n)
{
    if (!h)
        return;
    struct zl_health_target *copy = zl_xcalloc(n + 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        target_copy(&copy[i], &ts[i]);
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->npending; i++)
        zl_health_target_fini(&h->pending[i]);
    free(h->pending);
    h->pending = copy;
    h->npending = n;
    h->has_pending = true;
    pthread_mutex_unlock(&h->mu);
    uv_async_send(&h->async);
}

static struct entry *find(struct zl_health *h, const char *id)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->v[i]->t.id, id))
            return h->v[i];
    return NULL;
}

/* The entry of id as it is after the pending set is applied (NULL: none, or a new one). */
static struct entry *find_current(struct zl_health *h, const char *id, bool *fresh)
{
    struct entry *e = find(h, id);
    *fresh = false;
    if (!h->has_pending)
        return e;
    for (size_t i = 0; i < h->npending; i++)
        if (!strcmp(h->pending[i].id, id)) {
            if (e && same_target(&e->t, &h->pending[i]))
                return e;
            *fresh = true;
            return NULL;
        }
    return NULL;
}

struct zl_health_status zl_health_get(struct zl_health *h, const char *id)
{
    struct zl_health_status st = {0};
    if (!h)
        return st;
    pthread_mutex_lock(&h->mu);
    bool fresh;
    struct entry *e = find_current(h, id, &fresh);
    if (fresh) {
        st.state = ZL_HEALTH_STARTING;
        st.since_ms = zl_wall_ms();
    }
    if (e)
        st = e->st;
    pthread_mutex_unlock(&h->mu);
    return st;
}

json_t *zl_health_json(struct zl_health *h, const char *id)
{
    if (!h)
        return NULL;
    json_t *j = NULL;
    pthread_mutex_lock(&h->mu);
    bool fresh;
    struct entry *e = find_current(h, id, &fresh);
    if (fresh)
        j = json_pack("{s:s, s:i, s:s}", "status", "starting", "failures", 0, "output", "");
    if (e) {
        char since[64];
        zl_time_rfc3339_at(since, sizeof(since), e->st.since_ms / 1000,
                           (long)(e->st.since_ms % 1000) * 1000000, false);
        j = json_pack("{s:s, s:i, s:s, s:s}", "status", zl_health_state_name(e->st.state),
                      "failures", (int)e->st.failures, "since", since, "output", e->output);
    }
    pthread_mutex_unlock(&h->mu);
    return j;
}

/* At the close: freed once the timer, the async handle and every probe have closed. */
static void maybe_free(struct zl_health *h)
{
    if (!h->closing || h->closed < 2 || h->probes)
        return;
    for (size_t i = 0; i < h->npending; i++)
        zl_health_target_fini(&h->pending[i]);
    free(h->pending);
    pthread_mutex_destroy(&h->mu);
    free(h->rt_root);
    free(h);
}

static void closed_free(uv_handle_t *hd)
{
    struct zl_health *h = hd->data;
    h->closed++;
    maybe_free(h);
}

void zl_health_close(struct zl_health *h)
{
    if (!h)
        return;
    h->closing = true;
    for (size_t i = 0; i < h->n; i++) {
        struct entry *e = h->v[i];
        if (e->probe)
            e->gone = true; /* freed when its probe has closed */
        else
            entry_free(e);
    }
    for (struct probe *p = h->probes; p; p = p->next) /* those of gone entries too */
        probe_end(p, false, "the daemon is stopping");
    free(h->v);
    h->v = NULL;
    h->n = 0;
    if (h->self_ns >= 0)
        close(h->self_ns);
    uv_close((uv_handle_t *)&h->timer, closed_free);
    uv_close((uv_handle_t *)&h->async, closed_free);
}
