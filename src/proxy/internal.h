/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/internal.h: what the proxy's files share: listeners (proxy.c), TCP connections
 * (tcp.c), UDP sessions (udp.c). All of it lives on the daemon's loop. */
#ifndef ZL_PROXY_INTERNAL_H
#define ZL_PROXY_INTERNAL_H

#include "proxy/proxy.h"

#include "http/http.h"

#include <netinet/in.h>
#include <pthread.h>
#include <regex.h>
#include <time.h>

#define ZL_PROXY_EJECT_MS   10000
#define ZL_PROXY_BUSY_SLOTS 1024

/* The slot of a backend address in zl_proxy.busy (others may share it: a drain then waits
 * for them too, never less). */
static inline unsigned zl_proxy__busy_slot(uint32_t ip)
{
    return (ip * 2654435761u) >> 22;
}

struct backend {
    struct zl_proxy_backend b;
    int64_t ejected_until; /* loop time, ms */
    bool down;             /* failing the route's health check */
    unsigned active;       /* HTTP requests in flight (least-connections) */
};

/* One route's backends and counters. An L4 listener has exactly one; an HTTP listener one
 * per host and path it routes, and a request keeps its group alive while it runs. */
struct group {
    struct group *next;
    char *name;
    char *host; /* lower-case; NULL: any; "*.example.com": any name under example.com */
    char *path; /* prefix, "/" for every path */
    size_t path_len;
    bool least_conn;
    bool gone;      /* the listener no longer routes to it */
    char *tls_cert; /* the certificate its route names, or NULL */
    struct backend *bs;
    size_t nb;
    int64_t *ejected; /* scratch for zl_proxy_pick */
    size_t cursor;
    struct zl_proxy_counters c;
    struct zl_proxy_ring ring; /* c.accepted, sampled every second (rate.c) */
    unsigned refs;             /* the listener while it routes to it, and requests in flight */
};

/* A certificate named by routes (zl_proxy_route.tls_cert) and the hosts of those routes. */
struct zl_proxy__named {
    char *cert, *key;
    char **hosts;
    size_t nhosts;
};

/* One route's rate as last sampled, published for other threads (rate.c). */
struct zl_proxy__rate {
    char *name; /* DEPLOYMENT/SERVICE/ENDPOINT */
    uint64_t count, in_flight;
    int64_t span_ms;
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
        uv_poll_t udp; /* on udp_fd: received with the address each datagram was sent to */
    } h;
    int udp_fd; /* UDP: the listening socket, -1 when it could not be made */
    bool udp, http, tls;
    bool proxy_protocol; /* a PROXY header toward the backend */
    bool listening, closing;
    char *name; /* the first group's */
    uint32_t bind_ip;
    uint16_t port;
    unsigned session_timeout_ms; /* UDP */
    struct group *g;             /* L4: the one group; HTTP: every route on this port */
    struct session *sessions;    /* UDP: one per client address */
    size_t nsessions;
    struct zl_proxy_check check; /* stream.health_check (check.c) */
    uv_timer_t *check_timer;     /* its own allocation: a restart need not wait for the close */
    struct probe *probes;        /* in flight */
    unsigned refs;               /* its handle, its connections and sessions */
};

struct up;
struct hconn;

struct zl_proxy {
    uv_loop_t *loop;
    uv_async_t async;
    pthread_mutex_t lock;
    struct zl_proxy_route *pending; /* set by zl_proxy_set, applied on the loop */
    size_t npending;
    bool has_pending, closing;
    struct listener *ls;
    struct conn *conns;   /* every TCP connection, to close them all at the end */
    struct hconn *hconns; /* every HTTP client connection */
    struct up *idle;      /* HTTP: backend connections kept for reuse */
    /* HTTP: sockets with bytes to write once this pass over the loop's events ends */
    struct hconn *soon_c;
    struct up *soon_u;
    uv_check_t soon_check; /* writes them, after the pass */
    uv_idle_t soon_idle;   /* while some wait, the loop does not sleep before that */
    unsigned nidle;
    uv_timer_t sweep; /* each second: closes idle backend connections kept too long, flushes the
                       * log, samples the request rates */
    int log_fd;       /* the access log, or -1 */
    struct zl_tls_certs *certs;    /* https: those of new connections */
    char *cert_dir, *cert_default; /* where they come from (see zl_proxy_tls) */
    char **cert_names;
    size_t ncert_names;
    struct zl_proxy__named *named; /* certificates the routes name */
    size_t nnamed;
    uint64_t cert_stamp; /* the changes seen in cert_dir and the named files */
    unsigned ticks;
    unsigned churn;    /* HTTP connections opened or closed since memory was last trimmed */
    struct zl_buf log; /* lines not yet written */
    time_t log_sec;    /* the second log_when holds */
    char log_when[32];
    unsigned open;                 /* listeners not yet freed, the async, sweep and soon handles */
    uint64_t set_gen, applied_gen; /* routes given, and in force (under lock) */
    _Atomic unsigned busy[ZL_PROXY_BUSY_SLOTS]; /* HTTP requests in flight, by backend address */
    struct zl_proxy__rate *rates;               /* every route's, as last sampled (under lock) */
    size_t nrates;
};

void zl_proxy__listener_unref(struct listener *l);
void zl_proxy__group_unref(struct group *g);
/* The next backend to try, or NULL when every one is ejected (or there is none). */
struct backend *zl_proxy__next(struct zl_proxy *p, struct group *g);
struct backend *zl_proxy__find(struct group *g, const struct zl_proxy_backend *b);
void zl_proxy__eject(struct zl_proxy *p, struct group *g, const struct zl_proxy_backend *b);

/* tcp.c */
int zl_proxy__tcp_listen(struct listener *l, const struct sockaddr_in *sa);
void zl_proxy__tcp_close_all(struct zl_proxy *p);
/* check.c */
void zl_proxy__check_set(struct listener *l, const struct zl_proxy_route *r);
void zl_proxy__check_start(struct listener *l);
void zl_proxy__check_stop(struct listener *l);
void zl_proxy__check_fini(struct zl_proxy_check *c);
/* http.c */
int zl_proxy__http_listen(struct listener *l, const struct sockaddr_in *sa);
void zl_proxy__http_close_all(struct zl_proxy *p);
/* The soon handles' callbacks: bytes that waited for the end of the loop's pass are written. */
void zl_proxy__soon_run(uv_check_t *h);
void zl_proxy__soon_idle(uv_idle_t *h);
/* Close idle backend connections older than the pool's limit, or to a backend no route
 * names any more (all of them when all is true). */
void zl_proxy__pool_sweep(struct zl_proxy *p, bool all);
/* The group of l that routes host (lower-case, without port; NULL when absent) and path. */
struct group *zl_proxy__route(struct listener *l, const char *host, const char *path, size_t n);
/* Load the certificates again when cert_dir changed (or always with force). */
void zl_proxy__tls_check(struct zl_proxy *p, bool force);
/* Write out the access log's lines (kept up to a second, or 64 KiB). */
void zl_proxy__log_flush(struct zl_proxy *p);
/* rate.c: sample every route's count (each second, on the loop) and publish the rates. */
void zl_proxy__rates_sample(struct zl_proxy *p);
void zl_proxy__rates_free(struct zl_proxy *p);
/* udp.c */
int zl_proxy__udp_listen(struct listener *l, const struct sockaddr_in *sa);
/* Stop: every session closed (the listener's handle is closed by the caller). */
void zl_proxy__udp_stop(struct listener *l);
/* Close the UDP listener's socket (after its sessions); the listener's reference goes with it. */
void zl_proxy__udp_close(struct listener *l);

#endif
