/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/check.c: L4 health checks of a route's backends (stream.health_check): every 5 s
 * each backend is probed, a TCP connect or a UDP request whose answer must match; one that
 * fails within 2 s is down (left out of the choice) until a probe passes again. */
#include "proxy/internal.h"

#include <arpa/inet.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_EVERY_MS   5000
#define CHECK_TIMEOUT_MS 2000

struct probe {
    struct probe *prev, *next;
    struct listener *l;
    struct zl_proxy_backend b;
    union {
        uv_tcp_t tcp;
        uv_udp_t udp;
    } h;
    uv_connect_t creq;
    uv_timer_t timer;
    unsigned handles;
    bool finished;
};

static void set_down(struct listener *l, const struct zl_proxy_backend *b, bool down)
{
    struct backend *x = zl_proxy__find(l->g, b);
    if (x && x->down != down) {
        x->down = down;
        char ip[INET_ADDRSTRLEN];
        struct in_addr a = {htonl(b->ip)};
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        zl_log(down ? "warn" : "info", "proxy", "%s: backend %s:%u %s", l->name, ip, b->port,
               down ? "fails its health check: left out" : "passes its health check again");
    }
}

static void on_probe_closed(uv_handle_t *h)
{
    struct probe *p = h->data;
    if (--p->handles)
        return;
    struct listener *l = p->l;
    free(p);
    zl_proxy__listener_unref(l);
}

/* The verdict (once), then the probe goes. */
static void probe_end(struct probe *p, bool ok)
{
    if (p->finished)
        return;
    p->finished = true;
    struct listener *l = p->l;
    if (!l->closing)
        set_down(l, &p->b, !ok);
    if (p->prev)
        p->prev->next = p->next;
    else
        l->probes = p->next;
    if (p->next)
        p->next->prev = p->prev;
    uv_close((uv_handle_t *)&p->h, on_probe_closed);
    uv_close((uv_handle_t *)&p->timer, on_probe_closed);
}

static void on_probe_timeout(uv_timer_t *t)
{
    probe_end(t->data, false);
}

static void on_probe_connect(uv_connect_t *req, int status)
{
    struct probe *p = req->data;
    probe_end(p, status == 0);
}

static void probe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = malloc(2048);
    buf->len = buf->base ? 2048 : 0;
}

static void on_probe_reply(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                           unsigned flags)
{
    struct probe *p = h->data;
    (void)addr;
    (void)flags;
    if (n < 0)
        probe_end(p, false); /* port unreachable */
    else if (n > 0) {
        bool ok = true;
        if (p->l->check.has_expect) {
            /* the answer as text (up to its first NUL) against the expected pattern */
            char *text = zl_xstrndup(buf->base, (size_t)n);
            ok = regexec(&p->l->check.expect, text, 0, NULL, 0) == 0;
            free(text);
        }
        probe_end(p, ok);
    }
    free(buf->base);
}

static void probe_start(struct listener *l, const struct backend *b)
{
    struct probe *p = zl_xcalloc(1, sizeof(*p));
    p->l = l;
    p->b = b->b;
    p->handles = 2;
    l->refs++;
    p->next = l->probes;
    if (p->next)
        p->next->prev = p;
    l->probes = p;
    uv_timer_init(l->p->loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_probe_timeout, CHECK_TIMEOUT_MS, 0);
    struct sockaddr_in to = {
        .sin_family = AF_INET, .sin_port = htons(b->b.port), .sin_addr.s_addr = htonl(b->b.ip)};
    int rc;
    if (l->check.kind == ZL_PROXY_CHECK_TCP) {
        uv_tcp_init(l->p->loop, &p->h.tcp);
        p->h.tcp.data = p;
        p->creq.data = p;
        rc = uv_tcp_connect(&p->creq, &p->h.tcp, (const struct sockaddr *)&to, on_probe_connect);
    } else {
        uv_udp_init(l->p->loop, &p->h.udp);
        p->h.udp.data = p;
        uv_buf_t req = uv_buf_init(l->check.request, (unsigned)l->check.request_len);
        rc = uv_udp_connect(&p->h.udp, (const struct sockaddr *)&to);
        if (rc == 0)
            rc = uv_udp_recv_start(&p->h.udp, probe_alloc, on_probe_reply);
        if (rc == 0 && uv_udp_try_send(&p->h.udp, &req, 1, NULL) < 0)
            rc = -1;
    }
    if (rc < 0)
        probe_end(p, false);
}

static void on_check(uv_timer_t *t)
{
    struct listener *l = t->data;
    for (size_t i = 0; i < l->g->nb && !l->closing; i++) {
        bool busy = false;
        for (struct probe *p = l->probes; p && !busy; p = p->next)
            busy = p->b.ip == l->g->bs[i].b.ip && p->b.port == l->g->bs[i].b.port;
        if (!busy)
            probe_start(l, &l->g->bs[i]);
    }
}

void zl_proxy__check_start(struct listener *l)
{
    if (l->check.kind == ZL_PROXY_CHECK_NONE || l->check_timer)
        return;
    l->check_timer = zl_xcalloc(1, sizeof(*l->check_timer));
    uv_timer_init(l->p->loop, l->check_timer);
    l->check_timer->data = l;
    l->refs++;
    uv_timer_start(l->check_timer, on_check, 0, CHECK_EVERY_MS);
}

static void on_check_timer_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    free(h);
    zl_proxy__listener_unref(l);
}

void zl_proxy__check_stop(struct listener *l)
{
    while (l->probes)
        probe_end(l->probes, false);
    if (l->check_timer) {
        uv_close((uv_handle_t *)l->check_timer, on_check_timer_closed);
        l->check_timer = NULL;
    }
}

void zl_proxy__check_set(struct listener *l, const struct zl_proxy_route *r)
{
    zl_proxy__check_fini(&l->check);
    memset(&l->check, 0, sizeof(l->check));
    l->check.kind = r->check;
    if (r->check == ZL_PROXY_CHECK_UDP) {
        l->check.request = zl_xmalloc(r->probe_len + 1);
        memcpy(l->check.request, r->probe, r->probe_len);
        l->check.request_len = r->probe_len;
        if (r->probe_expect && *r->probe_expect) {
            if (regcomp(&l->check.expect, r->probe_expect, REG_EXTENDED | REG_NOSUB) == 0)
                l->check.has_expect = true;
            else
                zl_log("warn", "proxy", "%s: udp_probe expect '%s' is not a regular expression",
                       r->name, r->probe_expect);
        }
    }
}

void zl_proxy__check_fini(struct zl_proxy_check *c)
{
    free(c->request);
    c->request = NULL;
    if (c->has_expect)
        regfree(&c->expect);
    c->has_expect = false;
}
