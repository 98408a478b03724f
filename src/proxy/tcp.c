/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/tcp.c: L4 TCP. Each accepted connection goes to the next ready backend of its
 * route; a backend that refuses or does not answer within the connect timeout is ejected for
 * a while (passive health) and the next one is tried, so a dead replica costs no client
 * more than one attempt. Bytes are copied both ways with bounded buffering (a side that
 * cannot keep up pauses the other), half-closes are passed on. */
#include "proxy/internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 3000
#define MAX_TRIES          3
#define READ_SIZE          16384 /* per side: what is read is written on at once */

struct side {
    uv_tcp_t h;
    char *buf; /* READ_SIZE: reads land here, and go straight out to the peer */
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
    unsigned handles;    /* open handles */
    struct zl_tls *tls;  /* stream.tls: the client's side is TLS, ended here */
    struct zl_buf early; /* what the backend said before the handshake was done */
};

struct wreq {
    uv_write_t w;
    struct conn *c;
    struct side *to, *from;
    char *data;
};

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
    c->l->g->c.active--;
    zl_proxy__listener_unref(c->l);
    free(c->client.buf);
    free(c->server.buf);
    zl_tls_free(c->tls);
    zl_buf_fini(&c->early);
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
    struct side *s = (struct side *)h;
    (void)hint;
    if (!s->buf)
        s->buf = malloc(READ_SIZE);
    buf->base = s->buf;
    buf->len = s->buf ? READ_SIZE : 0;
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
    else if (!c->closing && r->from->paused && !r->from->eof) {
        r->from->paused = false;
        uv_read_start((uv_stream_t *)&r->from->h, alloc_cb, on_read);
    }
    free(r);
}

/* Bytes from from (NULL: made here) to to: straight out when to takes them all (the usual
 * case: no copy, no request), else the rest is queued and from waits until it is written, so
 * that at most READ_SIZE bytes wait per direction. */
static void forward(struct conn *c, struct side *from, struct side *to, const char *p, size_t n)
{
    if (c->closing || !n)
        return;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int k = uv_try_write((uv_stream_t *)&to->h, &b, 1);
    if (k == (int)n)
        return;
    if (k < 0 && k != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    size_t done = k > 0 ? (size_t)k : 0, rest = n - done;
    struct wreq *r = zl_xcalloc(1, sizeof(*r));
    r->c = c;
    r->to = to;
    r->from = from ? from : to; /* nothing to pause */
    r->data = zl_xmalloc(rest);
    memcpy(r->data, p + done, rest);
    b = uv_buf_init(r->data, (unsigned)rest);
    if (uv_write(&r->w, (uv_stream_t *)&to->h, &b, 1, on_written) < 0) {
        free(r->data);
        free(r);
        conn_close(c);
        return;
    }
    if (from) {
        from->paused = true;
        uv_read_stop((uv_stream_t *)&from->h);
    }
}

/* What TLS made for the client (handshake records, encrypted data). */
static void tls_out(struct conn *c, struct side *from)
{
    size_t n;
    const char *p = zl_tls_out(c->tls, &n);
    if (n && !c->closing)
        forward(c, from, &c->client, p, n); /* what the socket does not take is copied */
    zl_tls_out_taken(c->tls, n);
}

static void tls_plain(void *arg, const char *p, size_t n)
{
    struct conn *c = arg;
    forward(c, &c->client, &c->server, p, n);
}

static void on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = h->data;
    struct side *from = (struct side *)h, *to = peer(c, from);
    if (n <= 0) {
        if (n == UV_EOF) {
            if (c->tls && from == &c->server && !c->client.shut) {
                zl_tls_close_notify(c->tls);
                tls_out(c, NULL);
            }
            pass_eof(c, from);
        } else if (n < 0)
            conn_close(c);
        return;
    }
    if (from == &c->client)
        c->l->g->c.bytes_in += (uint64_t)n;
    else
        c->l->g->c.bytes_out += (uint64_t)n;
    if (!c->tls) {
        forward(c, from, to, buf->base, (size_t)n);
        return;
    }
    if (from == &c->client) {
        int rc = zl_tls_read(c->tls, buf->base, (size_t)n, tls_plain, c);
        tls_out(c, NULL); /* handshake replies */
        if (rc < 0) {
            conn_close(c);
            return;
        }
        if (c->early.len && zl_tls_ready(c->tls) && !c->closing) {
            /* a backend that spoke first (a greeting): now it can be sent */
            if (zl_tls_write(c->tls, c->early.data, c->early.len) < 0) {
                conn_close(c);
                return;
            }
            c->early.len = 0;
            tls_out(c, NULL);
            c->server.paused = false;
            uv_read_start((uv_stream_t *)&c->server.h, alloc_cb, on_read);
        }
        if (rc > 0 && !c->closing)
            pass_eof(c, from);
        return;
    }
    if (!zl_tls_ready(c->tls)) { /* kept until the handshake is done; the backend waits */
        zl_buf_append(&c->early, buf->base, (size_t)n);
        c->server.paused = true;
        uv_read_stop(h);
        return;
    }
    if (zl_tls_write(c->tls, buf->base, (size_t)n) < 0) {
        conn_close(c);
        return;
    }
    tls_out(c, from);
}

static void try_connect(struct conn *c);

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
        c->l->g->c.failed++;
        conn_close(c);
    }
}

/* The backend did not take the connection: eject it, try another. */
static void connect_failed(struct conn *c)
{
    zl_proxy__eject(c->l->p, c->l->g, &c->target);
    c->retrying = true;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->server.h, on_server_closed);
}

/* The PROXY header (version 1) goes first: the client's address and the one it reached. */
static int send_pp(struct conn *c)
{
    struct sockaddr_in peer = {0}, me = {0};
    int lp = sizeof(peer), lm = sizeof(me);
    if (uv_tcp_getpeername(&c->client.h, (struct sockaddr *)&peer, &lp) < 0 ||
        uv_tcp_getsockname(&c->client.h, (struct sockaddr *)&me, &lm) < 0 ||
        peer.sin_family != AF_INET)
        return -1;
    struct zl_proxy_pp h = {ntohl(peer.sin_addr.s_addr), ntohl(me.sin_addr.s_addr),
                            ntohs(peer.sin_port), ntohs(me.sin_port), false};
    struct wreq *r = zl_xcalloc(1, sizeof(*r));
    r->c = c;
    r->to = &c->server;
    r->from = &c->client;
    r->data = zl_xcalloc(1, ZL_PROXY_PP_V1_MAX);
    size_t n = zl_proxy_pp_write(&h, 1, (unsigned char *)r->data, ZL_PROXY_PP_V1_MAX);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)n);
    if (!n || uv_write(&r->w, (uv_stream_t *)&c->server.h, &b, 1, on_written) < 0) {
        free(r->data);
        free(r);
        return -1;
    }
    return 0;
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
    if (c->l->proxy_protocol && send_pp(c) < 0) {
        conn_close(c);
        return;
    }
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
    struct backend *b = zl_proxy__next(l->p, l->g);
    if (!b) {
        l->g->c.failed++;
        conn_close(c);
        return;
    }
    c->target = b->b;
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
    l->g->c.active++;
    if (uv_accept(server, (uv_stream_t *)&c->client.h) < 0) {
        conn_close(c);
        return;
    }
    l->g->c.accepted++;
    if (l->tls && !(c->tls = zl_tls_new(l->p->certs, false))) {
        conn_close(c); /* no certificate at all */
        return;
    }
    uv_tcp_nodelay(&c->client.h, 1);
    try_connect(c);
}

int zl_proxy__tcp_listen(struct listener *l, const struct sockaddr_in *sa)
{
    uv_tcp_init(l->p->loop, &l->h.tcp);
    l->h.tcp.data = l;
    int rc = uv_tcp_bind(&l->h.tcp, (const struct sockaddr *)sa, 0);
    return rc == 0 ? uv_listen((uv_stream_t *)&l->h.tcp, 511, on_accept) : rc;
}

void zl_proxy__tcp_close_all(struct zl_proxy *p)
{
    for (struct conn *c = p->conns; c; c = c->next)
        conn_close(c);
}
