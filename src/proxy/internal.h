/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/internal.h: what the proxy's files share: listeners (proxy.c), TCP connections
 * (tcp.c), UDP sessions (udp.c). All of it lives on the daemon's loop. */
#ifndef ZL_PROXY_INTERNAL_H
#define ZL_PROXY_INTERNAL_H

#include "proxy/proxy.h"

#include <netinet/in.h>
#include <pthread.h>
#include <regex.h>

#define ZL_PROXY_EJECT_MS 10000

struct backend {
    struct zl_proxy_backend b;
    int64_t ejected_until; /* loop time, ms */
    bool down;             /* failing the route's health check */
};

struct conn;
struct session;
struct probe;

struct zl_proxy_check {
    enum zl_proxy_check_kind kind;
    char *request; /* udp_probe */
    size_t request_len;
    regex_t expect;
    bool has_expect;
};

struct listener {
    struct listener *next;
    struct zl_proxy *p;
    union {
        uv_tcp_t tcp;
        uv_udp_t udp;
    } h;
    bool udp;
    bool proxy_protocol; /* a PROXY header toward the backend */
    bool listening, closing;
    char *name;
    uint32_t bind_ip;
    uint16_t port;
    unsigned session_timeout_ms; /* UDP */
    struct backend *bs;
    size_t nb;
    int64_t *ejected; /* scratch for zl_proxy_pick */
    size_t cursor;
    struct zl_proxy_counters c;
    struct session *sessions; /* UDP: one per client address */
    size_t nsessions;
    struct zl_proxy_check check; /* stream.health_check (check.c) */
    uv_timer_t *check_timer;     /* its own allocation: a restart need not wait for the close */
    struct probe *probes;        /* in flight */
    unsigned refs;               /* its handle, its connections and sessions */
};

struct zl_proxy {
    uv_loop_t *loop;
    uv_async_t async;
    pthread_mutex_t lock;
    struct zl_proxy_route *pending; /* set by zl_proxy_set, applied on the loop */
    size_t npending;
    bool has_pending, closing;
    struct listener *ls;
    struct conn *conns; /* every TCP connection, to close them all at the end */
    unsigned open;      /* listeners not yet freed, and the async handle */
};

void zl_proxy__listener_unref(struct listener *l);
/* The next backend to try, or NULL when every one is ejected (or there is none). */
struct backend *zl_proxy__next(struct listener *l);
struct backend *zl_proxy__find(struct listener *l, const struct zl_proxy_backend *b);
void zl_proxy__eject(struct listener *l, const struct zl_proxy_backend *b);

/* tcp.c */
int zl_proxy__tcp_listen(struct listener *l, const struct sockaddr_in *sa);
void zl_proxy__tcp_close_all(struct zl_proxy *p);
/* check.c */
void zl_proxy__check_set(struct listener *l, const struct zl_proxy_route *r);
void zl_proxy__check_start(struct listener *l);
void zl_proxy__check_stop(struct listener *l);
void zl_proxy__check_fini(struct zl_proxy_check *c);
/* udp.c */
int zl_proxy__udp_listen(struct listener *l, const struct sockaddr_in *sa);
/* Stop: every session closed (the listener's handle is closed by the caller). */
void zl_proxy__udp_stop(struct listener *l);

#endif
