/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/udp.c: L4 UDP. Each client address gets a session: a socket of its own connected to
 * the backend chosen for it, so that the backend's answers find their way back (sent from the
 * listener's port, as the client expects). A session ends after session_timeout without a
 * datagram either way; a backend that answers with "port unreachable" is ejected and the
 * client's next datagram starts a session with another. Datagrams are sent as they come,
 * never queued: one that cannot go out at once is dropped, as the network would. */
#include "proxy/internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SESSIONS 4096 /* per listener */
#define DGRAM_MAX    65536

struct session {
    struct session *prev, *next;
    struct listener *l;
    uv_udp_t s;
    uv_timer_t idle;
    struct sockaddr_in client;
    struct zl_proxy_backend target;
    unsigned handles;
    bool closing;
};

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = malloc(DGRAM_MAX);
    buf->len = buf->base ? DGRAM_MAX : 0;
}

static void on_session_closed(uv_handle_t *h)
{
    struct session *x = h->data;
    if (--x->handles)
        return;
    struct listener *l = x->l;
    l->g->c.active--;
    free(x);
    zl_proxy__listener_unref(l);
}

static void session_close(struct session *x)
{
    if (x->closing)
        return;
    x->closing = true;
    struct listener *l = x->l;
    if (x->prev)
        x->prev->next = x->next;
    else
        l->sessions = x->next;
    if (x->next)
        x->next->prev = x->prev;
    l->nsessions--;
    uv_close((uv_handle_t *)&x->s, on_session_closed);
    uv_close((uv_handle_t *)&x->idle, on_session_closed);
}

static void on_idle(uv_timer_t *t)
{
    session_close(t->data);
}

/* An answer from the backend goes back to the client, from the listener's port. */
static void on_backend(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                       unsigned flags)
{
    struct session *x = h->data;
    (void)addr;
    (void)flags;
    if (n < 0 && !x->closing) {
        zl_proxy__eject(x->l->p, x->l->g, &x->target); /* port unreachable: nobody there */
        session_close(x);
    } else if (n > 0 && !x->closing) {
        uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
        if (uv_udp_try_send(&x->l->h.udp, &b, 1, (const struct sockaddr *)&x->client) > 0)
            x->l->g->c.bytes_out += (uint64_t)n;
        uv_timer_again(&x->idle);
    }
    free(buf->base);
}

static struct session *find(struct listener *l, const struct sockaddr_in *from)
{
    for (struct session *x = l->sessions; x; x = x->next)
        if (x->client.sin_addr.s_addr == from->sin_addr.s_addr &&
            x->client.sin_port == from->sin_port)
            return x;
    return NULL;
}

static struct session *session_open(struct listener *l, const struct sockaddr_in *from)
{
    struct backend *b = l->nsessions < MAX_SESSIONS ? zl_proxy__next(l->p, l->g) : NULL;
    if (!b) {
        l->g->c.failed++;
        return NULL;
    }
    struct session *x = zl_xcalloc(1, sizeof(*x));
    x->l = l;
    x->client = *from;
    x->target = b->b;
    uv_udp_init(l->p->loop, &x->s);
    uv_timer_init(l->p->loop, &x->idle);
    x->s.data = x->idle.data = x;
    x->handles = 2;
    l->refs++;
    l->g->c.accepted++;
    l->g->c.active++;
    x->next = l->sessions;
    if (x->next)
        x->next->prev = x;
    l->sessions = x;
    l->nsessions++;
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons(x->target.port),
                             .sin_addr.s_addr = htonl(x->target.ip)};
    if (uv_udp_connect(&x->s, (const struct sockaddr *)&to) < 0 ||
        uv_udp_recv_start(&x->s, alloc_cb, on_backend) < 0) {
        zl_proxy__eject(l->p, l->g, &x->target);
        session_close(x);
        return NULL;
    }
    uv_timer_start(&x->idle, on_idle, l->session_timeout_ms, l->session_timeout_ms);
    return x;
}

static void on_client(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                      unsigned flags)
{
    struct listener *l = h->data;
    (void)flags;
    if (n > 0 && addr && addr->sa_family == AF_INET && !l->closing) {
        const struct sockaddr_in *from = (const struct sockaddr_in *)addr;
        struct session *x = find(l, from);
        if (!x)
            x = session_open(l, from);
        if (x) {
            /* PROXY version 2 before each datagram: the client, and the listener's address
             * (0.0.0.0 when it listens on all of them) */
            unsigned char pp[ZL_PROXY_PP_V2_LEN];
            struct zl_proxy_pp who = {ntohl(from->sin_addr.s_addr), l->bind_ip,
                                      ntohs(from->sin_port), l->port, true};
            uv_buf_t b[2] = {uv_buf_init((char *)pp, ZL_PROXY_PP_V2_LEN),
                             uv_buf_init(buf->base, (unsigned)n)};
            if (l->proxy_protocol)
                zl_proxy_pp_write(&who, 2, pp, sizeof(pp));
            if (uv_udp_try_send(&x->s, l->proxy_protocol ? b : b + 1, l->proxy_protocol ? 2 : 1,
                                NULL) > 0)
                l->g->c.bytes_in += (uint64_t)n;
            uv_timer_again(&x->idle);
        }
    }
    free(buf->base);
}

int zl_proxy__udp_listen(struct listener *l, const struct sockaddr_in *sa)
{
    uv_udp_init(l->p->loop, &l->h.udp);
    l->h.udp.data = l;
    int rc = uv_udp_bind(&l->h.udp, (const struct sockaddr *)sa, 0);
    return rc == 0 ? uv_udp_recv_start(&l->h.udp, alloc_cb, on_client) : rc;
}

void zl_proxy__udp_stop(struct listener *l)
{
    while (l->sessions)
        session_close(l->sessions);
}
