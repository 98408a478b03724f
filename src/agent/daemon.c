/* SPDX-License-Identifier: Apache-2.0 */
/* agent/daemon.c: `zlayer serve`: one libuv loop serving the API on a unix socket, and the
 * reconciler running on the libuv thread pool, one pass at a time, every few seconds and
 * whenever the API changes what is wanted. SIGTERM and SIGINT stop it; containers keep
 * running and are adopted by the next daemon. */
#include "agent/health.h"
#include "agent/internal.h"
#include "api/api.h"
#include "http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define PERIOD_MS 2000

struct daemon {
    uv_loop_t loop;
    uv_timer_t timer;
    uv_signal_t sigterm, sigint;
    uv_async_t wake; /* a pass asked for from another thread */
    uv_work_t work;
    bool busy, again, stopping;
    struct zl_agent agent;
    struct zl_api api;
    struct zl_http_server *http;
    struct zl_jobs *jobs;      /* job runs and the cron scheduler */
    struct zl_dns_zone *zone;  /* the service DNS's names, published by the reconciler */
    struct zl_dns_server *dns; /* on the bridge's address, port 53 */
    struct zl_proxy *proxy;    /* the services' endpoints */
};

static void route_json(void *arg, const struct zl_proxy_status *st)
{
    char ip[16];
    json_t *r = json_pack(
        "{s:s, s:s, s:i, s:s, s:b, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I}", "name", st->name,
        "address", zl_net_ip_text(st->bind_ip, ip), "port", (int)st->port, "protocol",
        st->udp    ? "udp"
        : st->http ? "http"
                   : "tcp",
        "listening", st->listening, "backends", (int)st->backends, "ejected", (int)st->ejected,
        "down", (int)st->down, "accepted", (json_int_t)st->c.accepted, "active",
        (json_int_t)st->c.active, "failed", (json_int_t)st->c.failed, "bytes_in",
        (json_int_t)st->c.bytes_in, "bytes_out", (json_int_t)st->c.bytes_out);
    json_object_set_new(r, "tls", json_boolean(st->tls));
    if (st->tls) /* the file named in the spec; null: the folder's or the node's, by SNI */
        json_object_set_new(r, "certificate",
                            st->certificate ? json_string(st->certificate) : json_null());
    json_t *bl = json_array();
    for (size_t i = 0; i < st->backends; i++) {
        char a[16];
        json_array_append_new(bl, json_pack("{s:s, s:i, s:i, s:b, s:b}", "address",
                                            zl_net_ip_text(st->b[i].b.ip, a), "port",
                                            (int)st->b[i].b.port, "active", (int)st->b[i].active,
                                            "ejected", st->b[i].ejected, "down", st->b[i].down));
    }
    json_object_set_new(r, "backend_list", bl);
    if (st->http) {
        /* requests by status class, and a latency histogram (upper bounds in ms) */
        json_t *cls = json_object(), *lat = json_array();
        for (int i = 0; i < 5; i++) {
            char k[4] = {(char)('1' + i), 'x', 'x', 0};
            json_object_set_new(cls, k, json_integer((json_int_t)st->c.status[i]));
        }
        for (int i = 0; i < ZL_PROXY_LAT_BUCKETS; i++)
            json_array_append_new(
                lat, i < ZL_PROXY_LAT_BUCKETS - 1
                         ? json_pack("{s:i, s:I}", "le_ms", (int)zl_proxy_lat_ms[i], "count",
                                     (json_int_t)st->c.latency[i])
                         : json_pack("{s:n, s:I}", "le_ms", "count", (json_int_t)st->c.latency[i]));
        json_object_set_new(r, "host", st->host ? json_string(st->host) : json_null());
        json_object_set_new(r, "path", json_string(st->path ? st->path : "/"));
        json_object_set_new(r, "status", cls);
        json_object_set_new(r, "latency", lat);
    }
    json_array_append_new(arg, r);
}

static json_t *proxy_json(void *arg)
{
    json_t *out = json_array();
    if (arg)
        zl_proxy_each(arg, route_json, out);
    return out;
}

/* The service details' metrics from the proxy: requests per second over the last 10 s
 * (three decimals are plenty) and requests in flight. */
static json_t *service_metrics(void *arg, const char *dep, const char *svc)
{
    struct zl_proxy_rate r;
    if (!arg || zl_proxy_service_rate(arg, dep, svc, &r) < 0)
        return NULL;
    return json_pack("{s:f, s:I}", "rps", (double)(uint64_t)(r.rps * 1000 + 0.5) / 1000,
                     "in_flight", (json_int_t)r.in_flight);
}

static char *metrics_text(void *arg, size_t *len)
{
    return zl_agent__metrics(arg, len);
}

/* The node's proxy, and the service DNS on the bridge's address. Without the DNS (port 53
 * taken there, say) replicas still run; names do not resolve, and the log says why. */
static void dns_start(struct daemon *d)
{
    struct zl_err err;
    char gw[16];
    zl_net_ip_text(zl_net_cidr_gateway(&d->agent.net.subnet), gw);
    const char *up = getenv("ZLAYER_DNS_UPSTREAM");
    d->zone = zl_dns_zone_new();
    d->proxy = zl_proxy_new(&d->loop);
    /* the access log: ZLAYER_PROXY_ACCESS_LOG (a path, or "off"), by default in the data
     * folder */
    const char *alog = getenv("ZLAYER_PROXY_ACCESS_LOG");
    char *apath =
        alog && *alog ? zl_xstrdup(alog) : zl_xasprintf("%s/proxy-access.log", d->agent.root_dir);
    if (strcmp(apath, "off") != 0 && zl_proxy_access_log(d->proxy, apath, &err) < 0)
        zl_log("error", "serve", "proxy access log: %s", err.msg);
    free(apath);
    /* https: certificates in $ZLAYER_ROOT_DIR/certs, else the node's own, self-signed */
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    const char *names[] = {host};
    char *cdir = zl_xasprintf("%s/certs", d->agent.root_dir),
         *cdef = zl_xasprintf("%s/proxy-tls.pem", d->agent.root_dir);
    if (zl_proxy_tls(d->proxy, cdir, cdef, names, 1, &err) < 0)
        zl_log("error", "serve", "proxy TLS: %s", err.msg);
    free(cdir);
    free(cdef);
    d->api.proxy_json = proxy_json;
    d->api.service_metrics = service_metrics;
    d->api.metrics_text = metrics_text;
    d->api.proxy_arg = d->proxy;
    zl_agent__names_attach(&d->agent, d->zone, d->proxy);
    if (zl_dns_server_start(&d->loop, gw, 53, d->zone, up && *up ? up : NULL, NULL, &d->dns, &err) <
        0) {
        d->dns = NULL;
        zl_log("error", "serve", "service DNS on %s:53: %s", gw, err.msg);
    } else
        zl_log("info", "serve", "service DNS on %s:53", gw);
}

static void start_pass(struct daemon *d);

static void pass_work(uv_work_t *w)
{
    struct daemon *d = w->data;
    zl_agent_reconcile(&d->agent);
}

static void pass_done(uv_work_t *w, int status)
{
    struct daemon *d = w->data;
    (void)status;
    d->busy = false;
    if (d->stopping) {
        uv_stop(&d->loop);
        return;
    }
    if (d->again || d->agent.again) {
        d->again = d->agent.again = false;
        start_pass(d);
    }
}

static void start_pass(struct daemon *d)
{
    if (d->stopping)
        return;
    if (d->busy) {
        d->again = true;
        return;
    }
    d->busy = true;
    d->work.data = d;
    uv_queue_work(&d->loop, &d->work, pass_work, pass_done);
}

static void on_timer(uv_timer_t *t)
{
    start_pass(t->data);
}

static void kick(void *arg)
{
    start_pass(arg);
}

static void on_wake(uv_async_t *w)
{
    start_pass(w->data);
}

static void kick_any_thread(void *arg)
{
    struct daemon *d = arg;
    uv_async_send(&d->wake);
}

static json_t *health_json(void *arg, const char *id)
{
    return zl_health_json(arg, id);
}

static void on_signal(uv_signal_t *s, int sig)
{
    struct daemon *d = s->data;
    (void)sig;
    zl_log("info", "serve", "stopping (containers keep running)");
    d->stopping = true;
    uv_timer_stop(&d->timer);
    zl_agent__jobs_stop(d->jobs);
    if (!d->busy)
        uv_stop(&d->loop);
}

int zl_agent__open(struct zl_agent *a, const char *root, const char *runtime, struct zl_err *err)
{
    memset(a, 0, sizeof(*a));
    a->root_dir = zl_xstrdup(root);
    a->runtime_dir = zl_xstrdup(runtime);
    a->containers_dir = zl_xasprintf("%s/containers", root);
    a->volumes_dir = zl_xasprintf("%s/volumes", root);
    a->rt_root = zl_xasprintf("%s/containers", runtime);
    mkdir(root, 0700);
    mkdir(runtime, 0700);
    mkdir(a->containers_dir, 0700);
    mkdir(a->volumes_dir, 0755);
    int rc = zl_images_open(root, NULL, &a->im, err);
    if (rc == 0) {
        char *db = zl_xasprintf("%s/state.db", root);
        rc = zl_store_open(db, &a->db, err);
        free(db);
    }
    if (rc == 0) {
        a->be = zl_runtime_backend_new(getenv("ZLAYER_RUNTIME_BACKEND"), a->rt_root, err);
        rc = a->be ? 0 : -ZL_EINVAL;
    }
    if (rc == 0)
        rc = zl_agent__net_config(a, err);
    return rc;
}

void zl_agent__close(struct zl_agent *a)
{
    zl_runtime_backend_free(a->be);
    zl_store_close(a->db);
    zl_images_close(a->im);
    free(a->root_dir);
    free(a->runtime_dir);
    free(a->containers_dir);
    free(a->volumes_dir);
    free(a->rt_root);
    free(a->restarts);
    free(a->waits);
    free(a->inits);
    zl_agent__net_fini(a);
}

/* One daemon per runtime folder: a locked pid file. */
static int pid_lock(const char *runtime, struct zl_err *err)
{
    char *path = zl_xasprintf("%s/zlayer.pid", runtime);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = fd;
    if (fd < 0)
        rc = zl_err_sys(err, errno, "open %s", path);
    else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        rc = zl_err_set(err, ZL_EINVAL, "another zlayer daemon is running (%s is locked)", path);
    } else {
        char pid[32];
        int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        if (ftruncate(fd, 0) < 0 || write(fd, pid, (size_t)n) != n)
            rc = zl_err_sys(err, errno, "write %s", path);
    }
    free(path);
    return rc;
}

static int job_trigger(void *arg, const char *dep, const char *job, bool is_cron,
                       const char *trigger, int64_t *id, struct zl_err *err)
{
    return zl_agent__jobs_trigger(arg, dep, job, is_cron, trigger, id, err);
}

static int job_cancel(void *arg, int64_t id, struct zl_err *err)
{
    return zl_agent__jobs_cancel(arg, id, err);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static int serve(struct daemon *d, const struct zl_daemon_opts *o, int ready_fd, struct zl_err *err)
{
    char *sock = zl_xasprintf("%s/zlayer.sock", o->runtime_dir);
    char *db = zl_xasprintf("%s/state.db", o->root_dir);
    int rc = zl_store_open(db, &d->api.db, err);
    free(db);
    d->api.rt_root = d->agent.rt_root;
    d->api.containers_dir = d->agent.containers_dir;
    d->api.root_dir = o->root_dir;
    d->api.runtime_dir = o->runtime_dir;
    d->api.socket_path = sock;
    d->api.started = time(NULL);
    d->api.kick = kick;
    d->api.kick_arg = d;
    d->api.loop = &d->loop;
    d->api.events = d->agent.events = zl_api_events_new(&d->loop);
    d->agent.health = zl_health_new(&d->loop, d->api.events, d->agent.rt_root, kick, d);
    uv_async_init(&d->loop, &d->wake, on_wake);
    d->wake.data = d;
    d->agent.kick = kick_any_thread;
    d->agent.kick_arg = d;
    d->api.health_json = health_json;
    d->api.health_arg = d->agent.health;
    d->api.net_json = zl_agent_net_json;
    if (rc == 0)
        rc = zl_api_jwt_key(o->root_dir, d->api.jwt_key, err);
    if (rc == 0)
        rc = zl_agent__net_start(&d->agent, err);
    if (rc == 0)
        dns_start(d);
    if (rc == 0 &&
        !(d->jobs = zl_agent__jobs_new(&d->loop, o->root_dir, o->runtime_dir, d->api.events, err)))
        rc = -ZL_EINVAL;
    d->api.job_trigger = job_trigger;
    d->api.job_cancel = job_cancel;
    d->api.jobs_arg = d->jobs;
    if (rc == 0) {
        d->http = zl_http_server_new(&d->loop, NULL, zl_api_handle, &d->api);
        rc = zl_http_server_listen_unix(d->http, sock, 0600, err);
    }
    if (rc == 0 && o->bind_host) {
        rc = zl_http_server_listen_tcp(d->http, o->bind_host, o->bind_port, err);
        if (rc == 0)
            zl_log("info", "serve", "listening on %s:%d (bearer tokens required)", o->bind_host,
                   o->bind_port);
    }
    if (ready_fd >= 0) {
        /* tell the parent of --daemon how it went, then detach from it */
        dprintf(ready_fd, "%s", rc == 0 ? "ok" : err->msg);
        close(ready_fd);
    }
    if (rc == 0) {
        zl_log("info", "serve", "listening on %s", sock);
        uv_timer_init(&d->loop, &d->timer);
        d->timer.data = d;
        uv_timer_start(&d->timer, on_timer, 0, PERIOD_MS);
        uv_signal_init(&d->loop, &d->sigterm);
        uv_signal_init(&d->loop, &d->sigint);
        d->sigterm.data = d->sigint.data = d;
        uv_signal_start(&d->sigterm, on_signal, SIGTERM);
        uv_signal_start(&d->sigint, on_signal, SIGINT);
        uv_run(&d->loop, UV_RUN_DEFAULT);
        uv_close((uv_handle_t *)&d->timer, close_cb);
        uv_close((uv_handle_t *)&d->sigterm, close_cb);
        uv_close((uv_handle_t *)&d->sigint, close_cb);
    }
    zl_agent__jobs_close(d->jobs); /* waits for the runs' threads */
    zl_dns_server_stop(d->dns);
    zl_proxy_close(d->proxy);
    if (d->http)
        zl_http_server_close(d->http, NULL, NULL);
    zl_health_close(d->agent.health);
    /* init threads publish events and kick: they end before those go */
    if (zl_agent__init_stop_all(&d->agent)) {
        d->agent.kick = NULL;
        uv_close((uv_handle_t *)&d->wake, close_cb);
    } else { /* they may still kick: the handle stays, not holding the loop (exit is near) */
        uv_unref((uv_handle_t *)&d->wake);
        zl_log("warn", "serve", "init steps still running at exit");
    }
    uv_run(&d->loop, UV_RUN_DEFAULT); /* let the closes finish */
    d->agent.events = NULL;
    d->agent.health = NULL;
    zl_api_events_close(d->api.events);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    zl_agent__net_stop(&d->agent);
    zl_agent__names_close(&d->agent);
    zl_dns_zone_free(d->zone);
    unlink(sock);
    zl_store_close(d->api.db);
    free(sock);
    return rc;
}

/* --daemon: the child serves; the parent returns once the socket is up (or failed). */
static int detach(int *ready_fd, struct zl_err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return zl_err_sys(err, errno, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return zl_err_sys(err, errno, "fork");
    if (pid > 0) {
        close(p[1]);
        char msg[1024];
        ssize_t n = read(p[0], msg, sizeof(msg) - 1);
        close(p[0]);
        if (n > 0 && (n != 2 || strncmp(msg, "ok", 2) != 0)) {
            msg[n] = '\0';
            return zl_err_set(err, ZL_EINVAL, "%s", msg);
        }
        return n > 0 ? 1 : zl_err_set(err, ZL_EINVAL, "the daemon died while starting");
    }
    close(p[0]);
    setsid();
    *ready_fd = p[1];
    return 0;
}

int zl_daemon_run(const struct zl_daemon_opts *o, struct zl_err *err)
{
    signal(SIGPIPE, SIG_IGN);
    mkdir(o->root_dir, 0700);
    mkdir(o->runtime_dir, 0700);
    int ready = -1;
    if (o->detach) {
        int rc = detach(&ready, err);
        if (rc != 0)
            return rc > 0 ? 0 : rc;
        /* the daemon's own output goes to a log file from here on */
        char *log = zl_xasprintf("%s/daemon.log", o->runtime_dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && nul >= 0) {
            dup2(nul, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        free(log);
    }
    /* monitors come from a spawner forked now, while this process has one thread (before
     * the lock: the spawner must not hold it) */
    struct zl_err serr;
    if (zl_runtime_spawner_start(&serr) < 0)
        zl_log("warn", "serve", "%s: monitors will be exec'd", serr.msg);
    int lock = pid_lock(o->runtime_dir, err);
    if (lock < 0) {
        if (ready >= 0) {
            dprintf(ready, "%s", err->msg);
            close(ready);
        }
        return lock;
    }
    struct daemon *d = zl_xcalloc(1, sizeof(*d));
    uv_loop_init(&d->loop);
    int rc = zl_agent__open(&d->agent, o->root_dir, o->runtime_dir, err);
    if (rc < 0 && ready >= 0) {
        dprintf(ready, "%s", err->msg);
        close(ready);
        ready = -1;
    }
    if (rc == 0)
        rc = serve(d, o, ready, err);
    zl_agent__close(&d->agent);
    uv_loop_close(&d->loop);
    free(d);
    close(lock);
    return rc;
}
