/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/proxy.c: the proxy's listeners, kept in step with the routes the agent publishes
 * (from any thread, applied on the loop), and the choice of backend. */
#include "proxy/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static void proxy_unref(struct zl_proxy *p);

const unsigned zl_proxy_lat_ms[ZL_PROXY_LAT_BUCKETS - 1] = {1,   2,   5,   10,   25,  50,
                                                            100, 250, 500, 1000, 5000};

int zl_proxy_pick(size_t n, const int64_t *ejected_until, const unsigned *active, int64_t now_ms,
                  size_t *cursor)
{
    int best = -1;
    for (size_t k = 0; k < n; k++) {
        size_t i = (*cursor + k) % n;
        if (ejected_until[i] > now_ms)
            continue;
        if (!active) {
            best = (int)i;
            break;
        }
        if (best < 0 || active[i] < active[best])
            best = (int)i;
    }
    if (best >= 0)
        *cursor = ((size_t)best + 1) % n;
    return best;
}

unsigned zl_proxy_host_match(const char *pattern, const char *host)
{
    if (!pattern)
        return 1;
    if (!host)
        return 0;
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t pl = strlen(pattern + 1), hl = strlen(host);
        /* more specific wildcards rank higher; all below an exact name */
        return hl > pl && !strcmp(host + hl - pl, pattern + 1) ? 2 + (unsigned)pl : 0;
    }
    return !strcmp(pattern, host) ? 1u << 16 : 0;
}

bool zl_proxy_path_match(const char *prefix, const char *path, size_t n)
{
    size_t pl = strlen(prefix);
    while (pl && prefix[pl - 1] == '/')
        pl--; /* "/api/" as "/api"; "/" as "" (every path) */
    return n >= pl && !memcmp(prefix, path, pl) && (n == pl || path[pl] == '/');
}

/* ---------------- groups ---------------- */

static void group_free(struct group *g)
{
    free(g->name);
    free(g->host);
    free(g->path);
    free(g->tls_cert);
    free(g->bs);
    free(g->ejected);
    free(g);
}

void zl_proxy__group_unref(struct group *g)
{
    if (!--g->refs)
        group_free(g);
}

static void set_backends(struct group *g, const struct zl_proxy_route *r)
{
    /* an ejection, and the requests in flight, outlive the update for a backend that stays */
    struct backend *bs = zl_xcalloc(r->nbackends + 1, sizeof(*bs));
    for (size_t i = 0; i < r->nbackends; i++) {
        bs[i].b = r->backends[i];
        struct backend *old = zl_proxy__find(g, &bs[i].b);
        if (old) {
            bs[i].ejected_until = old->ejected_until;
            bs[i].down = old->down;
            bs[i].active = old->active;
        }
    }
    free(g->bs);
    free(g->ejected);
    g->bs = bs;
    g->nb = r->nbackends;
    g->ejected = zl_xcalloc(g->nb + 1, sizeof(*g->ejected));
    if (g->cursor >= g->nb)
        g->cursor = 0;
    if (strcmp(g->name, r->name) != 0) {
        free(g->name);
        g->name = zl_xstrdup(r->name);
    }
    g->least_conn = r->least_conn;
    const char *cert = r->tls ? r->tls_cert : NULL;
    if (!cert != !g->tls_cert || (cert && strcmp(cert, g->tls_cert) != 0)) {
        free(g->tls_cert);
        g->tls_cert = cert ? zl_xstrdup(cert) : NULL;
    }
}

static char *lower_dup(const char *s)
{
    if (!s)
        return NULL;
    char *d = zl_xstrdup(s);
    for (char *c = d; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return d;
}

static struct group *group_new(const struct zl_proxy_route *r)
{
    struct group *g = zl_xcalloc(1, sizeof(*g));
    g->name = zl_xstrdup(r->name);
    g->host = lower_dup(r->host);
    g->path = zl_xstrdup(r->path && *r->path ? r->path : "/");
    g->path_len = strlen(g->path);
    g->refs = 1;
    set_backends(g, r);
    return g;
}

static bool same_key(const struct group *g, const struct zl_proxy_route *r)
{
    const char *path = r->path && *r->path ? r->path : "/";
    if (strcmp(g->path, path) != 0 || !g->host != !r->host)
        return false;
    return !g->host || !strcasecmp(g->host, r->host);
}

struct group *zl_proxy__route(struct listener *l, const char *host, const char *path, size_t n)
{
    struct group *best = NULL;
    unsigned best_rank = 0;
    for (struct group *g = l->g; g; g = g->next) {
        unsigned rank = zl_proxy_host_match(g->host, host);
        if (!rank || !zl_proxy_path_match(g->path, path, n))
            continue;
        /* the most specific host first, then the longest path */
        if (!best || rank > best_rank || (rank == best_rank && g->path_len > best->path_len)) {
            best = g;
            best_rank = rank;
        }
    }
    return best;
}

struct backend *zl_proxy__find(struct group *g, const struct zl_proxy_backend *b)
{
    for (size_t i = 0; i < g->nb; i++)
        if (g->bs[i].b.ip == b->ip && g->bs[i].b.port == b->port)
            return &g->bs[i];
    return NULL;
}

void zl_proxy__eject(struct zl_proxy *p, struct group *g, const struct zl_proxy_backend *b)
{
    struct backend *x = zl_proxy__find(g, b);
    if (x)
        x->ejected_until = (int64_t)uv_now(p->loop) + ZL_PROXY_EJECT_MS;
}

struct backend *zl_proxy__next(struct zl_proxy *p, struct group *g)
{
    unsigned *active = g->least_conn ? zl_xcalloc(g->nb + 1, sizeof(*active)) : NULL;
    for (size_t i = 0; i < g->nb; i++) {
        g->ejected[i] = g->bs[i].down || g->bs[i].b.unhealthy ? INT64_MAX : g->bs[i].ejected_until;
        if (active)
            active[i] = g->bs[i].active;
    }
    int i = zl_proxy_pick(g->nb, g->ejected, active, (int64_t)uv_now(p->loop), &g->cursor);
    free(active);
    return i < 0 ? NULL : &g->bs[i];
}

/* ---------------- listeners ---------------- */

static void drop_groups(struct listener *l)
{
    while (l->g) {
        struct group *g = l->g;
        l->g = g->next;
        g->gone = true;
        zl_proxy__group_unref(g);
    }
}

void zl_proxy__listener_unref(struct listener *l)
{
    if (--l->refs)
        return;
    struct zl_proxy *p = l->p;
    zl_proxy__check_fini(&l->check);
    drop_groups(l);
    free(l->name);
    free(l);
    proxy_unref(p);
}

static void on_listener_closed(uv_handle_t *h)
{
    zl_proxy__listener_unref(h->data);
}

static void listener_close(struct listener *l)
{
    if (l->closing)
        return;
    l->closing = true;
    zl_proxy__check_stop(l);
    if (l->udp) {
        zl_proxy__udp_stop(l);
        zl_proxy__udp_close(l);
        return;
    }
    uv_close((uv_handle_t *)&l->h, on_listener_closed);
}

static bool same_listener(const struct listener *l, const struct zl_proxy_route *r)
{
    return r->bind_ip == l->bind_ip && r->port == l->port && r->udp == l->udp &&
           r->http == l->http && (r->tls && !r->udp) == l->tls;
}

/* The HTTP routes of one port: groups kept, added and dropped (a dropped one lives on while
 * its requests finish). */
static void set_groups(struct listener *l, const struct zl_proxy_route *r, size_t n, bool *used)
{
    struct group *keep = NULL, **tail = &keep;
    for (size_t i = 0; i < n; i++) {
        if (used[i] || !same_listener(l, &r[i]))
            continue;
        used[i] = true;
        struct group **pg = &l->g;
        while (*pg && !same_key(*pg, &r[i]))
            pg = &(*pg)->next;
        struct group *g = *pg;
        if (g) {
            *pg = g->next;
            set_backends(g, &r[i]);
        } else
            g = group_new(&r[i]);
        g->next = NULL;
        *tail = g;
        tail = &g->next;
        if (!l->http)
            break; /* L4: one route per port */
    }
    drop_groups(l);
    l->g = keep;
    if (keep && strcmp(l->name, keep->name) != 0) {
        free(l->name);
        l->name = zl_xstrdup(keep->name);
    }
}

static struct listener *listener_open(struct zl_proxy *p, const struct zl_proxy_route *r, size_t n,
                                      bool *used, size_t first)
{
    struct listener *l = zl_xcalloc(1, sizeof(*l));
    const struct zl_proxy_route *f = &r[first];
    l->p = p;
    l->name = zl_xstrdup(f->name);
    l->bind_ip = f->bind_ip;
    l->port = f->port;
    l->refs = 1;
    p->open++;
    l->udp = f->udp;
    l->udp_fd = -1;
    l->http = f->http && !f->udp;
    l->tls = f->tls && !f->udp;
    l->proxy_protocol = f->proxy_protocol;
    zl_proxy__check_set(l, f);
    l->session_timeout_ms = f->session_timeout_ms ? f->session_timeout_ms : 60000;
    set_groups(l, r, n, used);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(f->port), .sin_addr.s_addr = htonl(f->bind_ip)};
    int rc = l->udp    ? zl_proxy__udp_listen(l, &sa)
             : l->http ? zl_proxy__http_listen(l, &sa)
                       : zl_proxy__tcp_listen(l, &sa);
    if (rc < 0) {
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
        zl_log("error", "proxy", "%s: listen on %s:%u: %s", f->name, ip, f->port, uv_strerror(rc));
    } else {
        l->listening = true;
        zl_proxy__check_start(l);
        zl_log("info", "proxy", "%s: listening on port %u (%s)", f->name, f->port,
               l->udp    ? "udp"
               : l->tls  ? (l->http ? "https" : "tcp, tls")
               : l->http ? "http"
                         : "tcp");
    }
    return l;
}

/* ---------------- routes ---------------- */

static void routes_free(struct zl_proxy_route *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)r[i].name);
        free((void *)r[i].backends);
        free((char *)r[i].probe);
        free((char *)r[i].probe_expect);
        free((char *)r[i].host);
        free((char *)r[i].path);
        free((char *)r[i].tls_cert);
        free((char *)r[i].tls_key);
    }
    free(r);
}

static bool same_check(const struct zl_proxy_check *c, const struct zl_proxy_route *r)
{
    if (c->kind != r->check)
        return false;
    if (c->kind != ZL_PROXY_CHECK_UDP)
        return true;
    return c->request_len == r->probe_len && !memcmp(c->request, r->probe, r->probe_len) &&
           c->has_expect == (r->probe_expect && *r->probe_expect);
}

/* ---------------- certificates named by routes ---------------- */

static void named_free(struct zl_proxy__named *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].cert);
        free(v[i].key);
        for (size_t k = 0; k < v[i].nhosts; k++)
            free(v[i].hosts[k]);
        free(v[i].hosts);
    }
    free(v);
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* The certificates the routes name, each with its routes' hosts (in the routes' order); the
 * store is made again when they differ from those in force. */
static void named_set(struct zl_proxy *p, const struct zl_proxy_route *r, size_t n)
{
    struct zl_proxy__named *v = zl_xcalloc(n + 1, sizeof(*v));
    size_t nv = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r[i].tls || !r[i].tls_cert || r[i].udp)
            continue;
        size_t k = 0;
        while (k < nv && !(same_str(v[k].cert, r[i].tls_cert) && same_str(v[k].key, r[i].tls_key)))
            k++;
        if (k == nv)
            v[nv++] = (struct zl_proxy__named){zl_xstrdup(r[i].tls_cert),
                                               r[i].tls_key ? zl_xstrdup(r[i].tls_key) : NULL,
                                               zl_xcalloc(n + 1, sizeof(char *)), 0};
        bool have = !r[i].host;
        for (size_t h = 0; !have && h < v[k].nhosts; h++)
            have = !strcasecmp(v[k].hosts[h], r[i].host);
        if (!have)
            v[k].hosts[v[k].nhosts++] = zl_xstrdup(r[i].host);
    }
    bool same = nv == p->nnamed;
    for (size_t i = 0; same && i < nv; i++) {
        same = same_str(v[i].cert, p->named[i].cert) && same_str(v[i].key, p->named[i].key) &&
               v[i].nhosts == p->named[i].nhosts;
        for (size_t k = 0; same && k < v[i].nhosts; k++)
            same = !strcmp(v[i].hosts[k], p->named[i].hosts[k]);
    }
    if (same) {
        named_free(v, nv);
        return;
    }
    named_free(p->named, p->nnamed);
    p->named = v;
    p->nnamed = nv;
    zl_proxy__tls_check(p, true);
}

static void apply(struct zl_proxy *p, struct zl_proxy_route *r, size_t n)
{
    bool *used = zl_xcalloc(n + 1, sizeof(*used));
    struct listener **pp = &p->ls;
    while (*pp) {
        struct listener *l = *pp;
        size_t i = 0;
        while (i < n && (used[i] || !same_listener(l, &r[i])))
            i++;
        if (i < n && l->listening) {
            set_groups(l, r, n, used);
            l->proxy_protocol = r[i].proxy_protocol;
            if (!same_check(&l->check, &r[i])) {
                zl_proxy__check_stop(l);
                zl_proxy__check_set(l, &r[i]);
                for (size_t k = 0; k < l->g->nb; k++)
                    l->g->bs[k].down = false;
                zl_proxy__check_start(l);
            }
            if (r[i].session_timeout_ms)
                l->session_timeout_ms = r[i].session_timeout_ms;
            pp = &l->next;
            continue;
        }
        *pp = l->next; /* gone (or never listening: tried again below) */
        listener_close(l);
    }
    for (size_t i = 0; i < n; i++)
        if (!used[i]) {
            struct listener *l = listener_open(p, r, n, used, i);
            l->next = p->ls;
            p->ls = l;
        }
    free(used);
    zl_proxy__pool_sweep(p, false); /* connections kept to backends no longer routed to */
    named_set(p, r, n);
}

static void on_async(uv_async_t *a)
{
    struct zl_proxy *p = a->data;
    pthread_mutex_lock(&p->lock);
    struct zl_proxy_route *r = ZL_STEAL(p->pending);
    size_t n = p->npending;
    bool has = p->has_pending;
    uint64_t gen = p->set_gen;
    p->has_pending = false;
    p->npending = 0;
    pthread_mutex_unlock(&p->lock);
    if (has && !p->closing)
        apply(p, r, n);
    routes_free(r, n);
    pthread_mutex_lock(&p->lock);
    p->applied_gen = gen;
    pthread_mutex_unlock(&p->lock);
}

static void on_sweep(uv_timer_t *t)
{
    struct zl_proxy *p = t->data;
    zl_proxy__pool_sweep(p, false);
    zl_proxy__log_flush(p);
    zl_proxy__rates_sample(p); /* the autoscaler's request rates */
    if (p->churn >= 16) {
        /* connections came and went (TLS handshakes, their buffers): the heap's free pages go
         * back to the system rather than stay in the RSS at the burst's peak */
        p->churn = 0;
        malloc_trim(256 * 1024);
    }
    if (++p->ticks % 5 == 0)
        zl_proxy__tls_check(p, false); /* certificates changed: new connections get them */
}

struct zl_proxy *zl_proxy_new(uv_loop_t *loop)
{
    struct zl_proxy *p = zl_xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->log_fd = -1;
    zl_buf_init(&p->log);
    pthread_mutex_init(&p->lock, NULL);
    uv_async_init(loop, &p->async, on_async);
    p->async.data = p;
    uv_timer_init(loop, &p->sweep);
    p->sweep.data = p;
    uv_timer_start(&p->sweep, on_sweep, 1000, 1000);
    uv_unref((uv_handle_t *)&p->sweep);
    uv_check_init(loop, &p->soon_check);
    p->soon_check.data = p;
    uv_unref((uv_handle_t *)&p->soon_check);
    uv_idle_init(loop, &p->soon_idle);
    p->soon_idle.data = p;
    uv_unref((uv_handle_t *)&p->soon_idle);
    p->open = 4;
    return p;
}

int zl_proxy_access_log(struct zl_proxy *p, const char *path, struct zl_err *err)
{
    zl_proxy__log_flush(p);
    if (p->log_fd >= 0)
        close(p->log_fd);
    p->log_fd = -1;
    if (!path)
        return 0;
    p->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (p->log_fd < 0)
        return zl_err_sys(err, errno, "open %s", path);
    return 0;
}

void zl_proxy_set(struct zl_proxy *p, const struct zl_proxy_route *r, size_t n)
{
    struct zl_proxy_route *copy = zl_xcalloc(n + 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++) {
        copy[i] = r[i];
        copy[i].name = zl_xstrdup(r[i].name);
        struct zl_proxy_backend *b = zl_xcalloc(r[i].nbackends + 1, sizeof(*b));
        if (r[i].nbackends)
            memcpy(b, r[i].backends, r[i].nbackends * sizeof(*b));
        copy[i].backends = b;
        char *probe = zl_xmalloc(r[i].probe_len + 1);
        if (r[i].probe_len)
            memcpy(probe, r[i].probe, r[i].probe_len);
        copy[i].probe = probe;
        copy[i].probe_expect = r[i].probe_expect ? zl_xstrdup(r[i].probe_expect) : NULL;
        copy[i].host = r[i].host ? zl_xstrdup(r[i].host) : NULL;
        copy[i].path = r[i].path ? zl_xstrdup(r[i].path) : NULL;
        copy[i].tls_cert = r[i].tls_cert ? zl_xstrdup(r[i].tls_cert) : NULL;
        copy[i].tls_key = r[i].tls_key ? zl_xstrdup(r[i].tls_key) : NULL;
    }
    pthread_mutex_lock(&p->lock);
    routes_free(p->pending, p->npending);
    p->pending = copy;
    p->npending = n;
    p->has_pending = true;
    p->set_gen++;
    pthread_mutex_unlock(&p->lock);
    uv_async_send(&p->async);
}

static void proxy_unref(struct zl_proxy *p)
{
    if (--p->open)
        return;
    zl_proxy__log_flush(p);
    if (p->log_fd >= 0)
        close(p->log_fd);
    zl_buf_fini(&p->log);
    zl_tls_certs_unref(p->certs);
    named_free(p->named, p->nnamed);
    free(p->cert_dir);
    free(p->cert_default);
    for (size_t i = 0; i < p->ncert_names; i++)
        free(p->cert_names[i]);
    free(p->cert_names);
    routes_free(p->pending, p->npending);
    zl_proxy__rates_free(p);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void on_async_closed(uv_handle_t *h)
{
    proxy_unref(h->data);
}

void zl_proxy_close(struct zl_proxy *p)
{
    if (!p)
        return;
    p->closing = true;
    while (p->ls) {
        struct listener *l = p->ls;
        p->ls = l->next;
        listener_close(l);
    }
    zl_proxy__tcp_close_all(p);
    zl_proxy__http_close_all(p);
    zl_proxy__pool_sweep(p, true);
    uv_close((uv_handle_t *)&p->async, on_async_closed);
    uv_close((uv_handle_t *)&p->sweep, on_async_closed);
    uv_close((uv_handle_t *)&p->soon_check, on_async_closed);
    uv_close((uv_handle_t *)&p->soon_idle, on_async_closed);
}

void zl_proxy_each(struct zl_proxy *p, void (*fn)(void *arg, const struct zl_proxy_status *s),
                   void *arg)
{
    int64_t now = (int64_t)uv_now(p->loop);
    for (struct listener *l = p->ls; l; l = l->next)
        for (struct group *g = l->g; g; g = g->next) {
            struct zl_proxy_status st = {.name = g->name,
                                         .bind_ip = l->bind_ip,
                                         .port = l->port,
                                         .udp = l->udp,
                                         .http = l->http,
                                         .tls = l->tls,
                                         .host = g->host,
                                         .path = l->http ? g->path : NULL,
                                         .certificate = l->tls ? g->tls_cert : NULL,
                                         .listening = l->listening,
                                         .backends = g->nb,
                                         .c = g->c};
            struct zl_proxy_backend_status *bs = zl_xcalloc(g->nb + 1, sizeof(*bs));
            for (size_t i = 0; i < g->nb; i++) {
                bs[i] = (struct zl_proxy_backend_status){g->bs[i].b, g->bs[i].active,
                                                         g->bs[i].ejected_until > now,
                                                         g->bs[i].down || g->bs[i].b.unhealthy};
                st.ejected += bs[i].ejected;
                st.down += bs[i].down;
            }
            st.b = bs;
            fn(arg, &st);
            free(bs);
        }
}

/* ---------------- certificates ---------------- */

/* The newest change in dir: of the folder itself and of each file in it. */
static int64_t dir_stamp(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return 0;
    int64_t t = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    DIR *d = opendir(dir);
    struct dirent *e;
    for (unsigned i = 0; d && (e = readdir(d)) && i < 10000; i++) {
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) < 0)
            continue;
        int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        t = m > t ? m : t;
    }
    if (d)
        closedir(d);
    return t;
}

/* A file's identity and last change, folded into h (0 for one that is missing). */
static uint64_t file_stamp(uint64_t h, const char *path)
{
    struct stat st;
    uint64_t m = 0;
    if (path && stat(path, &st) == 0)
        m = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec +
            (uint64_t)st.st_ino * 7919u + (uint64_t)st.st_size;
    return h * 1000003u + m;
}

void zl_proxy__tls_check(struct zl_proxy *p, bool force)
{
    if (!p->cert_default)
        return;
    uint64_t stamp = (uint64_t)dir_stamp(p->cert_dir);
    for (size_t i = 0; i < p->nnamed; i++)
        stamp = file_stamp(file_stamp(stamp, p->named[i].cert), p->named[i].key);
    if (!force && stamp == p->cert_stamp)
        return;
    p->cert_stamp = stamp;
    struct zl_err err;
    struct zl_tls_certs *cs = zl_tls_certs_new();
    if (zl_tls_certs_load_dir(cs, p->cert_dir, &err) < 0)
        zl_log("error", "proxy", "a certificate in the folder: %s", err.msg);
    size_t loaded = zl_tls_certs_count(cs);
    for (size_t i = 0; i < p->nnamed; i++) {
        /* one that no longer loads is left out: its hosts get the others' */
        const struct zl_proxy__named *x = &p->named[i];
        if (zl_tls_certs_add_named(cs, x->cert, x->key, (const char *const *)x->hosts, x->nhosts,
                                   &err) < 0)
            zl_log("error", "proxy", "a certificate named by a deployment: %s", err.msg);
    }
    size_t named = zl_tls_certs_count(cs) - loaded;
    if (zl_tls_certs_default(cs, p->cert_default, (const char *const *)p->cert_names,
                             p->ncert_names, &err) < 0)
        zl_log("error", "proxy", "the node's own certificate: %s", err.msg);
    if (!zl_tls_certs_count(cs) && p->certs) {
        zl_tls_certs_unref(cs); /* keep serving with what worked */
        return;
    }
    zl_tls_certs_unref(p->certs);
    p->certs = cs;
    zl_log("info", "proxy",
           "TLS: %zu certificate(s) from %s, %zu named by deployments, and the node's own", loaded,
           p->cert_dir, named);
}

int zl_proxy_tls(struct zl_proxy *p, const char *dir, const char *default_path,
                 const char *const *names, size_t n, struct zl_err *err)
{
    free(p->cert_dir);
    free(p->cert_default);
    for (size_t i = 0; i < p->ncert_names; i++)
        free(p->cert_names[i]);
    free(p->cert_names);
    p->cert_dir = zl_xstrdup(dir);
    p->cert_default = zl_xstrdup(default_path);
    p->cert_names = zl_xcalloc(n + 1, sizeof(*p->cert_names));
    for (size_t i = 0; i < n; i++)
        p->cert_names[i] = zl_xstrdup(names[i]);
    p->ncert_names = n;
    zl_proxy__tls_check(p, true);
    if (!p->certs)
        return zl_err_set(err, EINVAL, "no certificate for https (see the log)");
    return 0;
}

bool zl_proxy_drained(struct zl_proxy *p, const uint32_t *ips, size_t n)
{
    pthread_mutex_lock(&p->lock);
    bool applied = p->applied_gen == p->set_gen;
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; applied && i < n; i++)
        if (atomic_load(&p->busy[zl_proxy__busy_slot(ips[i])]))
            return false;
    return applied;
}
