/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/udp.c: L4 UDP. Each client address gets a session: a socket of its own connected to
 * the backend chosen for it, so that the backend's answers find their way back, sent from the
 * address and port the client sent to (a listener on every address learns which one each
 * datagram reached: IP_PKTINFO; the PROXY header names it too). A session ends after
 * session_timeout without a datagram either way; a backend that answers with "port
 * unreachable" is ejected and the client's next datagram starts a session with another.
 * Datagrams are sent as they come, never queued: one that cannot go out at once is dropped,
 * as the network would. */
#include "proxy/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SESSIONS 4096 /* per listener */
#define DGRAM_MAX    65536
#define RECV_BATCH   64 /* datagrams taken from the listener per wake-up */

static char dgram[DGRAM_MAX]; /* every datagram lands here and is sent on before the next */

struct session {
    struct session *prev, *next;
    struct listener *l;
    uv_udp_t s;
    uv_timer_t idle;
    struct sockaddr_in client;
    uint32_t local; /* the address the client sent to, or for a broadcast the receiving
                     * interface's: the answers' source (network byte order) */
    struct zl_proxy_backend target;
    unsigned handles;
    bool closing;
};

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(dgram, sizeof(dgram));
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

/* A datagram to the client from the listener's socket, with the source address the client
 * sent to. */
static bool send_to_client(struct session *x, const char *p, size_t n)
{
    struct iovec iov = {(void *)p, n};
    union {
        char b[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct msghdr m = {
        .msg_name = &x->client, .msg_namelen = sizeof(x->client), .msg_iov = &iov, .msg_iovlen = 1};
    if (!x->l->bind_ip && x->local) {
        m.msg_control = ctl.b;
        m.msg_controllen = sizeof(ctl.b);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo pi = {.ipi_spec_dst.s_addr = x->local};
        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    }
    return sendmsg(x->l->udp_fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n;
}

/* An answer from the backend goes back to the client. */
static void on_backend(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                       unsigned flags)
{
    struct session *x = h->data;
    (void)addr;
    (void)flags;
    if (n < 0 && !x->closing) {
        zl_proxy__eject(x->l->p, x->l->g, &x->target); /* port unreachable: nobody there */
        session_close(x);
    } else if (n > 0 && !x->closing && x->l->udp_fd >= 0) {
        if (send_to_client(x, buf->base, (size_t)n))
            x->l->g->c.bytes_out += (uint64_t)n;
        uv_timer_again(&x->idle);
    }
}

/* A client is its address and port, and the node's address it sends to (one sending to two
 * of them gets answers from each). */
static struct session *find(struct listener *l, const struct sockaddr_in *from, uint32_t local)
{
    for (struct session *x = l->sessions; x; x = x->next)
        if (x->client.sin_addr.s_addr == from->sin_addr.s_addr &&
            x->client.sin_port == from->sin_port && x->local == local)
            return x;
    return NULL;
}

static struct session *session_open(struct listener *l, const struct sockaddr_in *from,
                                    uint32_t local)
{
    struct backend *b = l->nsessions < MAX_SESSIONS ? zl_proxy__next(l->p, l->g) : NULL;
    if (!b) {
        l->g->c.failed++;
        return NULL;
    }
    struct session *x = zl_xcalloc(1, sizeof(*x));
    x->l = l;
    x->client = *from;
    x->local = local;
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

/* A datagram from a client goes to its session's backend, a session made for a new client.
 * dst: the address it was sent to; local: the one to answer from (they differ for a
 * broadcast); both network byte order. */
static void from_client(struct listener *l, const struct sockaddr_in *from, uint32_t dst,
                        uint32_t local, const char *p, size_t n)
{
    struct session *x = find(l, from, local);
    if (!x)
        x = session_open(l, from, local);
    if (!x)
        return;
    /* PROXY version 2 before each datagram: the client, and the address it sent to */
    unsigned char pp[ZL_PROXY_PP_V2_LEN];
    struct zl_proxy_pp who = {ntohl(from->sin_addr.s_addr), ntohl(dst), ntohs(from->sin_port),
                              l->port, true};
    uv_buf_t b[2] = {uv_buf_init((char *)pp, ZL_PROXY_PP_V2_LEN),
                     uv_buf_init((char *)p, (unsigned)n)};
    if (l->proxy_protocol)
        zl_proxy_pp_write(&who, 2, pp, sizeof(pp));
    if (uv_udp_try_send(&x->s, l->proxy_protocol ? b : b + 1, l->proxy_protocol ? 2 : 1, NULL) > 0)
        l->g->c.bytes_in += (uint64_t)n;
    uv_timer_again(&x->idle);
}

static void on_client(uv_poll_t *h, int status, int events)
{
    struct listener *l = h->data;
    if (status < 0) { /* libuv stopped polling: the socket is broken */
        zl_log("error", "proxy", "%s: udp listener on port %u: %s: it takes no more datagrams",
               l->name, l->port, uv_strerror(status));
        l->listening = false;
        return;
    }
    if (!(events & UV_READABLE))
        return;
    for (int i = 0; i < RECV_BATCH && !l->closing; i++) {
        struct sockaddr_in from;
        struct iovec iov = {dgram, sizeof(dgram)};
        union {
            char b[CMSG_SPACE(sizeof(struct in_pktinfo))];
            struct cmsghdr align;
        } ctl;
        struct msghdr m = {.msg_name = &from,
                           .msg_namelen = sizeof(from),
                           .msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.b,
                           .msg_controllen = sizeof(ctl.b)};
        ssize_t n = recvmsg(l->udp_fd, &m, MSG_DONTWAIT);
        if (n < 0)
            break; /* EAGAIN: all taken (an error on a UDP socket is for one datagram) */
        if (n == 0 || m.msg_namelen < sizeof(from) || from.sin_family != AF_INET ||
            (m.msg_flags & MSG_TRUNC))
            continue;
        uint32_t dst = htonl(l->bind_ip), local = dst;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo pi;
                memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                dst = pi.ipi_addr.s_addr;
                local = pi.ipi_spec_dst.s_addr; /* the kernel's choice of source for answers */
            }
        from_client(l, &from, dst, local, dgram, (size_t)n);
    }
}

int zl_proxy__udp_listen(struct listener *l, const struct sockaddr_in *sa)
{
    l->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->udp_fd < 0)
        return -errno;
    int one = 1;
    if (setsockopt(l->udp_fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
        bind(l->udp_fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        int rc = -errno;
        close(l->udp_fd);
        l->udp_fd = -1;
        return rc;
    }
    int rc = uv_poll_init(l->p->loop, &l->h.udp, l->udp_fd);
    if (rc < 0) {
        close(l->udp_fd);
        l->udp_fd = -1;
        return rc;
    }
    l->h.udp.data = l;
    return uv_poll_start(&l->h.udp, UV_READABLE, on_client);
}

static void on_udp_closed(uv_handle_t *h)
{
    zl_proxy__listener_unref(h->data);
}

void zl_proxy__udp_close(struct listener *l)
{
    if (l->udp_fd < 0) { /* never made: nothing to close */
        zl_proxy__listener_unref(l);
        return;
    }
    /* the poll stops here (out of epoll); the socket goes at once so that a listener replacing
     * this one (internal made public) can bind its port in the same turn */
    uv_close((uv_handle_t *)&l->h.udp, on_udp_closed);
    close(l->udp_fd);
    l->udp_fd = -1;
}

void zl_proxy__udp_stop(struct listener *l)
{
    while (l->sessions)
        session_close(l->sessions);
}
