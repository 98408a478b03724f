/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/tcp.c: L4 TCP. Each accepted connection goes to the next ready backend of its
 * route; a backend that refuses or does not answer within the connect timeout is ejected for
 * a while (passive health) and the next one is tried, so a dead replica costs no client
 * more than one attempt. Bytes are copied both ways with bounded buffering (a side that
 * cannot keep up pauses the other), half-closes are passed on. */
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 3000
#define EJECT_MS           10000
#define MAX_TRIES          3
#define READ_SIZE          65536
#define WRITE_HIGH         (256 * 1024) /* pause the reading side above this much unsent */
#define WRITE_LOW          (64 * 1024)

struct backend {
    struct zl_proxy_backend b;
    int64_t ejected_until; /* monotonic ms */
};

struct listener {
    struct listener *next;
    struct zl_proxy *p;
    uv_tcp_t h;
    bool listening, closing;
    char *name;
    uint32_t bind_ip;
    uint16_t port;
    struct backend *bs;
    size_t nb;
    int64_t *ejected; /* scratch for zl_proxy_pick */
    size_t cursor;
    struct zl_proxy_counters c;
    unsigned refs; /* its handle and its connections */
};

struct zl_proxy {
    uv_loop_t *loop;
    uv_async_t async;
    pthread_mutex_t lock;
    struct zl_proxy_route *pending; /* set by zl_proxy_set, applied on the loop */
    size_t npending;
    bool has_pending, closing;
    struct listener *ls;
    struct conn *conns; /* every connection, to close them all at the end */
    unsigned open;      /* listeners not yet freed, and the async handle */
};

struct side {
    uv_tcp_t h;
    bool init, eof, shut, paused;
};

struct conn {
    struct conn *prev, *next;
    struct listener *l;
    struct side client, server;
    uv_connect_t creq;
    uv_timer_t timer;
    struct zl_proxy_backend target;
    unsigned tries;
    bool connected, closing, retrying;
    unsigned handles; /* open handles */
};

struct wreq {
    uv_write_t w;
    struct conn *c;
    struct side *to, *from;
    char *data;
};

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

static void listener_unref(struct listener *l)
{
    if (--l->refs)
        return;
    struct zl_proxy *p = l->p;
    free(l->name);
    free(l->bs);
    free(l->ejected);
    free(l);
    proxy_unref(p);
}

static void on_listener_closed(uv_handle_t *h)
{
    listener_unref(h->data);
}

static void listener_close(struct listener *l)
{
    if (l->closing)
        return;
    l->closing = true;
    uv_close((uv_handle_t *)&l->h, on_listener_closed);
}

static void set_backends(struct listener *l, const struct zl_proxy_route *r)
{
    /* an ejection outlives the update for a backend that stays */
    struct backend *bs = zl_xcalloc(r->nbackends + 1, sizeof(*bs));
    for (size_t i = 0; i < r->nbackends; i++) {
        bs[i].b = r->backends[i];
        for (size_t k = 0; k < l->nb; k++)
            if (l->bs[k].b.ip == bs[i].b.ip && l->bs[k].b.port == bs[i].b.port)
                bs[i].ejected_until = l->bs[k].ejected_until;
    }
    free(l->bs);
    free(l->ejected);
    l->bs = bs;
    l->nb = r->nbackends;
    l->ejected = zl_xcalloc(l->nb + 1, sizeof(*l->ejected));
    if (l->cursor >= l->nb)
        l->cursor = 0;
}

/* ---------------- connections ---------------- */

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles)
        return;
    struct zl_proxy *p = c->l->p;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->l->c.active--;
    listener_unref(c->l);
    free(c);
}

static void close_side(struct side *s)
{
    if (s->init && !uv_is_closing((uv_handle_t *)&s->h))
        uv_close((uv_handle_t *)&s->h, on_conn_handle_closed);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    close_side(&c->client);
    close_side(&c->server);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static struct side *peer(struct conn *c, struct side *s)
{
    return s == &c->client ? &c->server : &c->client;
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = malloc(READ_SIZE);
    buf->len = buf->base ? READ_SIZE : 0;
}

static void on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    free(req);
    (void)status;
    if (c->client.shut && c->server.shut)
        conn_close(c);
}

/* from reached its end: the other side is told (once what is queued is written). */
static void pass_eof(struct conn *c, struct side *from)
{
    from->eof = true;
    uv_read_stop((uv_stream_t *)&from->h);
    struct side *to = peer(c, from);
    if (to->shut)
        return;
    to->shut = true;
    uv_shutdown_t *req = zl_xcalloc(1, sizeof(*req));
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&to->h, on_shutdown) < 0) {
        free(req);
        conn_close(c);
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct wreq *r = (struct wreq *)w;
    struct conn *c = r->c;
    free(r->data);
    if (status < 0)
        conn_close(c);
    else if (!c->closing && r->from->paused && !r->from->eof &&
             r->to->h.write_queue_size < WRITE_LOW) {
        r->from->paused = false;
        uv_read_start((uv_stream_t *)&r->from->h, alloc_cb, on_read);
    }
    free(r);
}

static void on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = h->data;
    struct side *from = (struct side *)h, *to = peer(c, from);
    if (n <= 0) {
        free(buf->base);
        if (n == UV_EOF)
            pass_eof(c, from);
        else if (n < 0)
            conn_close(c);
        return;
    }
    if (from == &c->client)
        c->l->c.bytes_in += (uint64_t)n;
    else
        c->l->c.bytes_out += (uint64_t)n;
    struct wreq *r = zl_xcalloc(1, sizeof(*r));
    r->c = c;
    r->to = to;
    r->from = from;
    r->data = buf->base;
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    if (uv_write(&r->w, (uv_stream_t *)&to->h, &b, 1, on_written) < 0) {
        free(r->data);
        free(r);
        conn_close(c);
        return;
    }
    if (to->h.write_queue_size > WRITE_HIGH) {
        from->paused = true;
        uv_read_stop(h);
    }
}

static void try_connect(struct conn *c);

static struct backend *find_backend(struct listener *l, const struct zl_proxy_backend *b)
{
    for (size_t i = 0; i < l->nb; i++)
        if (l->bs[i].b.ip == b->ip && l->bs[i].b.port == b->port)
            return &l->bs[i];
    return NULL;
}

static void on_server_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->server.init = false;
    if (c->closing) {
        on_conn_handle_closed(h);
        return;
    }
    c->handles--;
    c->retrying = false;
    if (++c->tries < MAX_TRIES)
        try_connect(c);
    else {
        c->l->c.failed++;
        conn_close(c);
    }
}

/* The backend did not take the connection: eject it, try another. */
static void connect_failed(struct conn *c)
{
    struct backend *b = find_backend(c->l, &c->target);
    if (b)
        b->ejected_until = (int64_t)uv_now(c->l->p->loop) + EJECT_MS;
    c->retrying = true;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->server.h, on_server_closed);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->closing || c->retrying)
        return;
    if (status < 0) {
        connect_failed(c);
        return;
    }
    uv_timer_stop(&c->timer);
    c->connected = true;
    uv_tcp_nodelay(&c->server.h, 1);
    uv_read_start((uv_stream_t *)&c->client.h, alloc_cb, on_read);
    uv_read_start((uv_stream_t *)&c->server.h, alloc_cb, on_read);
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (!c->closing && !c->connected && !c->retrying)
        connect_failed(c);
}

static void try_connect(struct conn *c)
{
    struct listener *l = c->l;
    int64_t now = (int64_t)uv_now(l->p->loop);
    for (size_t i = 0; i < l->nb; i++)
        l->ejected[i] = l->bs[i].ejected_until;
    int i = zl_proxy_pick(l->nb, l->ejected, now, &l->cursor);
    if (i < 0) {
        l->c.failed++;
        conn_close(c);
        return;
    }
    c->target = l->bs[i].b;
    uv_tcp_init(l->p->loop, &c->server.h);
    c->server.h.data = c;
    c->server.init = true;
    c->handles++;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(c->target.port),
                             .sin_addr.s_addr = htonl(c->target.ip)};
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->server.h, (struct sockaddr *)&sa, on_connect) < 0) {
        connect_failed(c);
        return;
    }
    uv_timer_start(&c->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
}

static void on_accept(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    if (status < 0 || l->closing)
        return;
    struct conn *c = zl_xcalloc(1, sizeof(*c));
    c->l = l;
    uv_tcp_init(l->p->loop, &c->client.h);
    c->client.h.data = c;
    c->client.init = true;
    uv_timer_init(l->p->loop, &c->timer);
    c->timer.data = c;
    c->handles = 2;
    c->next = l->p->conns;
    if (c->next)
        c->next->prev = c;
    l->p->conns = c;
    l->refs++;
    l->c.active++;
    if (uv_accept(server, (uv_stream_t *)&c->client.h) < 0) {
        conn_close(c);
        return;
    }
    l->c.accepted++;
    uv_tcp_nodelay(&c->client.h, 1);
    try_connect(c);
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
    set_backends(l, r);
    uv_tcp_init(p->loop, &l->h);
    l->h.data = l;
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(r->port), .sin_addr.s_addr = htonl(r->bind_ip)};
    int rc = uv_tcp_bind(&l->h, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->h, 511, on_accept);
    if (rc < 0) {
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
        zl_log("error", "proxy", "%s: listen on %s:%u: %s", r->name, ip, r->port, uv_strerror(rc));
    } else {
        l->listening = true;
        zl_log("info", "proxy", "%s: listening on port %u (tcp)", r->name, r->port);
    }
    return l;
}

/* ---------------- routes ---------------- */

static void routes_free(struct zl_proxy_route *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)r[i].name);
        free((void *)r[i].backends);
    }
    free(r);
}

static void apply(struct zl_proxy *p, struct zl_proxy_route *r, size_t n)
{
    bool *used = zl_xcalloc(n + 1, sizeof(*used));
    struct listener **pp = &p->ls;
    while (*pp) {
        struct listener *l = *pp;
        size_t i = 0;
        while (i < n && (used[i] || r[i].bind_ip != l->bind_ip || r[i].port != l->port))
            i++;
        if (i < n && l->listening) {
            used[i] = true;
            if (strcmp(l->name, r[i].name) != 0) {
                free(l->name);
                l->name = zl_xstrdup(r[i].name);
            }
            set_backends(l, &r[i]);
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
    for (struct conn *c = p->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&p->async, on_async_closed);
}

bool zl_proxy_counters_get(struct zl_proxy *p, const char *name, struct zl_proxy_counters *c)
{
    for (struct listener *l = p->ls; l; l = l->next)
        if (!strcmp(l->name, name)) {
            *c = l->c;
            return true;
        }
    return false;
}
