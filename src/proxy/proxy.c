/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/proxy.c: the proxy's listeners, kept in step with the routes the agent publishes
 * (from any thread, applied on the loop), and the choice of backend. */
#include "proxy/internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static void proxy_unref(struct zl_proxy *p);

int zl_proxy_pick(size_t n, const int64_t *ejected_until, int64_t now_ms, size_t *cursor)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = (*cursor + k) % n;
        if (ejected_until[i] <= now_ms) {
            *cursor = (i + 1) % n;
            return (int)i;
        }
    }
    return -1;
}

/* ---------------- listeners ---------------- */

void zl_proxy__listener_unref(struct listener *l)
{
    if (--l->refs)
        return;
    struct zl_proxy *p = l->p;
    zl_proxy__check_fini(&l->check);
    free(l->name);
    free(l->bs);
    free(l->ejected);
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
    if (l->udp)
        zl_proxy__udp_stop(l);
    uv_close((uv_handle_t *)&l->h, on_listener_closed);
}

static void set_backends(struct listener *l, const struct zl_proxy_route *r)
{
    /* an ejection outlives the update for a backend that stays */
    struct backend *bs = zl_xcalloc(r->nbackends + 1, sizeof(*bs));
    for (size_t i = 0; i < r->nbackends; i++) {
        bs[i].b = r->backends[i];
        for (size_t k = 0; k < l->nb; k++)
            if (l->bs[k].b.ip == bs[i].b.ip && l->bs[k].b.port == bs[i].b.port) {
                bs[i].ejected_until = l->bs[k].ejected_until;
                bs[i].down = l->bs[k].down;
            }
    }
    free(l->bs);
    free(l->ejected);
    l->bs = bs;
    l->nb = r->nbackends;
    l->ejected = zl_xcalloc(l->nb + 1, sizeof(*l->ejected));
    if (l->cursor >= l->nb)
        l->cursor = 0;
}

struct backend *zl_proxy__find(struct listener *l, const struct zl_proxy_backend *b)
{
    for (size_t i = 0; i < l->nb; i++)
        if (l->bs[i].b.ip == b->ip && l->bs[i].b.port == b->port)
            return &l->bs[i];
    return NULL;
}

void zl_proxy__eject(struct listener *l, const struct zl_proxy_backend *b)
{
    struct backend *x = zl_proxy__find(l, b);
    if (x)
        x->ejected_until = (int64_t)uv_now(l->p->loop) + ZL_PROXY_EJECT_MS;
}

struct backend *zl_proxy__next(struct listener *l)
{
    for (size_t i = 0; i < l->nb; i++)
        l->ejected[i] = l->bs[i].down ? INT64_MAX : l->bs[i].ejected_until;
    int i = zl_proxy_pick(l->nb, l->ejected, (int64_t)uv_now(l->p->loop), &l->cursor);
    return i < 0 ? NULL : &l->bs[i];
}

static struct listener *listener_open(struct zl_proxy *p, const struct zl_proxy_route *r)
{
    struct listener *l = zl_xcalloc(1, sizeof(*l));
    l->p = p;
    l->name = zl_xstrdup(r->name);
    l->bind_ip = r->bind_ip;
    l->port = r->port;
    l->refs = 1;
    p->open++;
    l->udp = r->udp;
    l->proxy_protocol = r->proxy_protocol;
    zl_proxy__check_set(l, r);
    l->session_timeout_ms = r->session_timeout_ms ? r->session_timeout_ms : 60000;
    set_backends(l, r);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(r->port), .sin_addr.s_addr = htonl(r->bind_ip)};
    int rc = l->udp ? zl_proxy__udp_listen(l, &sa) : zl_proxy__tcp_listen(l, &sa);
    if (rc < 0) {
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
        zl_log("error", "proxy", "%s: listen on %s:%u: %s", r->name, ip, r->port, uv_strerror(rc));
    } else {
        l->listening = true;
        zl_proxy__check_start(l);
        zl_log("info", "proxy", "%s: listening on port %u (%s)", r->name, r->port,
               l->udp ? "udp" : "tcp");
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

static void apply(struct zl_proxy *p, struct zl_proxy_route *r, size_t n)
{
    bool *used = zl_xcalloc(n + 1, sizeof(*used));
    struct listener **pp = &p->ls;
    while (*pp) {
        struct listener *l = *pp;
        size_t i = 0;
        while (i < n && (used[i] || r[i].bind_ip != l->bind_ip || r[i].port != l->port ||
                         r[i].udp != l->udp))
            i++;
        if (i < n && l->listening) {
            used[i] = true;
            if (strcmp(l->name, r[i].name) != 0) {
                free(l->name);
                l->name = zl_xstrdup(r[i].name);
            }
            set_backends(l, &r[i]);
            l->proxy_protocol = r[i].proxy_protocol;
            if (!same_check(&l->check, &r[i])) {
                zl_proxy__check_stop(l);
                zl_proxy__check_set(l, &r[i]);
                for (size_t k = 0; k < l->nb; k++)
                    l->bs[k].down = false;
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
            struct listener *l = listener_open(p, &r[i]);
            l->next = p->ls;
            p->ls = l;
        }
    free(used);
}

static void on_async(uv_async_t *a)
{
    struct zl_proxy *p = a->data;
    pthread_mutex_lock(&p->lock);
    struct zl_proxy_route *r = ZL_STEAL(p->pending);
    size_t n = p->npending;
    bool has = p->has_pending;
    p->has_pending = false;
    p->npending = 0;
    pthread_mutex_unlock(&p->lock);
    if (has && !p->closing)
        apply(p, r, n);
    routes_free(r, n);
}

struct zl_proxy *zl_proxy_new(uv_loop_t *loop)
{
    struct zl_proxy *p = zl_xcalloc(1, sizeof(*p));
    p->loop = loop;
    pthread_mutex_init(&p->lock, NULL);
    uv_async_init(loop, &p->async, on_async);
    p->async.data = p;
    p->open = 1;
    return p;
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
    }
    pthread_mutex_lock(&p->lock);
    routes_free(p->pending, p->npending);
    p->pending = copy;
    p->npending = n;
    p->has_pending = true;
    pthread_mutex_unlock(&p->lock);
    uv_async_send(&p->async);
}

static void proxy_unref(struct zl_proxy *p)
{
    if (--p->open)
        return;
    routes_free(p->pending, p->npending);
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
    uv_close((uv_handle_t *)&p->async, on_async_closed);
}

void zl_proxy_each(struct zl_proxy *p, void (*fn)(void *arg, const struct zl_proxy_status *s),
                   void *arg)
{
    int64_t now = (int64_t)uv_now(p->loop);
    for (struct listener *l = p->ls; l; l = l->next) {
        struct zl_proxy_status st = {.name = l->name,
                                     .bind_ip = l->bind_ip,
                                     .port = l->port,
                                     .udp = l->udp,
                                     .listening = l->listening,
                                     .backends = l->nb,
                                     .c = l->c};
        for (size_t i = 0; i < l->nb; i++) {
            st.ejected += l->bs[i].ejected_until > now;
            st.down += l->bs[i].down;
        }
        fn(arg, &st);
    }
}
