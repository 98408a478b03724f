/* SPDX-License-Identifier: Apache-2.0 */
/* proxy: the node's proxy, which puts services' endpoints on the network: HTTP/1.1 routed by
 * host and path (with WebSocket), TCP connections and UDP sessions, balanced over a service's
 * ready replicas with passive health. Lives on the daemon's loop; its routes are replaced
 * from any thread. */
#ifndef ZL_PROXY_H
#define ZL_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util/util.h"

struct zl_proxy;

struct zl_proxy_backend {
    uint32_t ip; /* host byte order */
    uint16_t port;
    /* failing a check of the agent's (an external's `health`): listed, shown down, never
     * chosen; a route whose backends all are gets no backend (503, refused) */
    bool unhealthy;
};

enum zl_proxy_check_kind { ZL_PROXY_CHECK_NONE, ZL_PROXY_CHECK_TCP, ZL_PROXY_CHECK_UDP };

/* One listener and where its connections go. */
struct zl_proxy_route {
    const char *name; /* DEPLOYMENT/SERVICE/ENDPOINT, for the log and counters */
    uint32_t bind_ip; /* host byte order; 0: every address */
    uint16_t port;
    bool udp;  /* else TCP */
    bool http; /* HTTP/1.1 (and WebSocket): several routes may share one port */
    bool tls;  /* https, or TCP with stream.tls: TLS ends here (zl_proxy_tls) */
    /* HTTP: an exact name or "*.example.com"; NULL: any host. With tls_cert (HTTP or TCP) the
     * name that certificate answers too */
    const char *host;
    /* tls: a certificate named in the spec (a PEM chain, with the key unless tls_key names its
     * file), served for host and its own names beside the folder's (zl_proxy_tls); NULL:
     * none */
    const char *tls_cert, *tls_key;
    const char *path;    /* HTTP: a path prefix, matched segment-wise; NULL: "/" */
    bool least_conn;     /* HTTP: the backend with the fewest requests in flight, else in turn */
    bool proxy_protocol; /* tell the backend the client: PROXY v1 (TCP), v2 (UDP) */
    /* stream.health_check: tcp_connect, or udp_probe sending probe (probe_len bytes) and
     * wanting an answer that matches the extended regular expression probe_expect (NULL:
     * any answer) */
    enum zl_proxy_check_kind check;
    const char *probe;
    size_t probe_len;
    const char *probe_expect;
    unsigned session_timeout_ms; /* UDP: a client's session ends after this long idle (0: 60 s) */
    const struct zl_proxy_backend *backends; /* the ready replicas (may be none) */
    size_t nbackends;
};

struct zl_proxy *zl_proxy_new(uv_loop_t *loop);
/* https certificates: every NAME.pem (chain and key) or NAME.crt + NAME.key in dir, and those
 * the routes name (tls_cert), chosen by SNI, and for any other name a self-signed certificate
 * for names kept at default_path (made on first use). dir and the named files are watched: a
 * change applies to new connections, none is dropped. Loop thread. */
int zl_proxy_tls(struct zl_proxy *p, const char *dir, const char *default_path,
                 const char *const *names, size_t n, struct zl_err *err);
/* Write a line per HTTP request to the file at path (appended; NULL: no log). Loop thread. */
int zl_proxy_access_log(struct zl_proxy *p, const char *path, struct zl_err *err);
/* Replace every route at once (copied). A listener whose address and port stay keeps its
 * socket and connections; one no longer named stops accepting, its connections finish.
 * Any thread. */
void zl_proxy_set(struct zl_proxy *p, const struct zl_proxy_route *r, size_t n);
/* Draining: true once the routes last given to zl_proxy_set are in force and no HTTP request
 * is in flight to any of the backends at ips (host byte order). Any thread; the agent asks
 * before a replica's stop signal. */
bool zl_proxy_drained(struct zl_proxy *p, const uint32_t *ips, size_t n);
/* Close every listener and connection; the proxy frees itself once the loop has closed
 * them. Loop thread. */
void zl_proxy_close(struct zl_proxy *p);

/* Latency buckets of HTTP requests (first byte of the request to the end of the response):
 * upper bounds in ms, the last bucket has none. */
#define ZL_PROXY_LAT_BUCKETS 12
extern const unsigned zl_proxy_lat_ms[ZL_PROXY_LAT_BUCKETS - 1];

/* Counters of one route: connections (UDP: sessions; HTTP: requests) accepted, now open,
 * failed (no backend could be reached), bytes each way; HTTP: responses by status class
 * (1xx..5xx) and latency: requests per bucket (not cumulative) and the sum of their
 * latencies in µs. */
struct zl_proxy_counters {
    uint64_t accepted, active, failed, bytes_in, bytes_out;
    uint64_t status[5];
    uint64_t latency[ZL_PROXY_LAT_BUCKETS];
    uint64_t latency_us;
};

/* One backend of a route: HTTP requests in flight to it, ejected now, failing the route's
 * check or its own (b.unhealthy). */
struct zl_proxy_backend_status {
    struct zl_proxy_backend b;
    unsigned active;
    bool ejected, down;
};

/* What one route is doing, for the API. */
struct zl_proxy_status {
    const char *name;
    uint32_t bind_ip;
    uint16_t port;
    bool udp, http, tls, listening;
    const char *host, *path;  /* HTTP */
    const char *certificate;  /* tls: the file named in the spec (tls_cert), or NULL */
    size_t backends, ejected; /* ready replicas; of those, ejected now (refusals) */
    size_t down;              /* of those, failing the route's health check or their own */
    struct zl_proxy_counters c;
    const struct zl_proxy_backend_status *b; /* each backend (backends of them) */
};
/* fn for every route. Loop thread. */
void zl_proxy_each(struct zl_proxy *p, void (*fn)(void *arg, const struct zl_proxy_status *s),
                   void *arg);

/* Backend choice, pure: the next backend after *cursor that is not ejected at now_ms
 * (ejected_until[i] > now_ms), round-robin; with active (may be NULL) the one with the fewest
 * in flight among those, ties in turn; -1 when all are ejected. */
int zl_proxy_pick(size_t n, const int64_t *ejected_until, const unsigned *active, int64_t now_ms,
                  size_t *cursor);

/* Does the route host pattern (NULL: any) take the request's host (lower-case, no port)?
 * 0: no; else a rank, higher for a more specific pattern. */
unsigned zl_proxy_host_match(const char *pattern, const char *host);
/* Does the path prefix take path (its first n bytes; the query is not part of it)? Matches
 * whole segments: "/api" takes "/api" and "/api/x", not "/apix". */
bool zl_proxy_path_match(const char *prefix, const char *path, size_t n);

/* ---------------- request rates, for the autoscaler (rate.c) ---------------- */

/* A service's requests per second over the last ZL_PROXY_RATE_WINDOW_MS: every second the
 * loop samples each route's count of requests (`accepted`: HTTP requests and HTTP/2
 * streams; for tcp routes connections, for udp routes client sessions), and the rate of a
 * route is its count's growth from its oldest sample to its newest over the time between
 * them (a route younger than the window: over its life so far; one sampled once: 0). A
 * service's rate is the sum over its routes (DEPLOYMENT/SERVICE/ENDPOINT), so per replica it
 * is rps / replicas. */
#define ZL_PROXY_RATE_WINDOW_MS 10000
#define ZL_PROXY_RATE_SAMPLES   (ZL_PROXY_RATE_WINDOW_MS / 1000 + 1)

struct zl_proxy_rate {
    double rps;         /* requests per second over the window, summed over the routes */
    double window_s;    /* the longest span a route's rate covers (0: not sampled twice yet) */
    uint64_t requests;  /* requests counted in those spans */
    uint64_t in_flight; /* HTTP requests in flight, tcp connections and udp sessions open */
    unsigned routes;    /* the service's routes (its endpoints that have a listener) */
};

/* The rate of deployment's service as of the last sample (at most a second old). 0, or -1
 * when no route of the service is known (no endpoint, or not sampled yet; *out zeroed).
 * Any thread: the loop publishes the samples under the proxy's lock. */
int zl_proxy_service_rate(struct zl_proxy *p, const char *deployment, const char *service,
                          struct zl_proxy_rate *out);

/* The samples of one count: a ring of the last ZL_PROXY_RATE_SAMPLES (time, total). Pure;
 * the loop keeps one per route. */
struct zl_proxy_ring {
    int64_t at[ZL_PROXY_RATE_SAMPLES]; /* ms, monotonic */
    uint64_t total[ZL_PROXY_RATE_SAMPLES];
    unsigned n, next; /* samples held; where the next one goes */
};
/* Add a sample (the oldest goes once the ring is full). One no later than the newest is
 * ignored; a total below the newest's (the count was reset) starts the ring again. */
void zl_proxy_ring_push(struct zl_proxy_ring *r, int64_t at_ms, uint64_t total);
/* Growth of the total from the oldest sample to the newest (*count) and the time between
 * them (*span_ms); both 0 with fewer than two samples. */
void zl_proxy_ring_span(const struct zl_proxy_ring *r, uint64_t *count, int64_t *span_ms);
/* count / span in per second; 0 for an empty span. */
double zl_proxy_ring_rate(const struct zl_proxy_ring *r);

/* ---------------- the PROXY protocol (pp.c) ---------------- */

struct zl_proxy_pp {
    uint32_t src_ip, dst_ip; /* host byte order: the client, and the address it reached */
    uint16_t src_port, dst_port;
    bool udp;
};
#define ZL_PROXY_PP_V2_LEN 28 /* an IPv4 version 2 header */
#define ZL_PROXY_PP_V1_MAX 108
/* The header for h in version 1 (text; TCP only) or 2 (binary) into out; its length, or 0
 * when it does not fit (or v1 for UDP). */
size_t zl_proxy_pp_write(const struct zl_proxy_pp *h, int version, unsigned char *out, size_t cap);
/* A header at the start of in: its length (*h filled; a LOCAL or UNKNOWN one leaves h zero),
 * 0 when more bytes are needed, -1 when it is not one. */
long zl_proxy_pp_read(const unsigned char *in, size_t len, struct zl_proxy_pp *h);

#endif
