/* SPDX-License-Identifier: Apache-2.0 */
/* agent/metrics.c: the node's metrics for GET /metrics in the Prometheus text format (obs/):
 * the proxy's routes and backends, and each service's request rate. The format wants each
 * family's samples together, so the routes are copied once and walked once per family.
 * Later families (containers, the autoscaler's view) go beside these. Loop thread. */
#include "agent/internal.h"
#include "obs/obs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mroute {
    char *name; /* DEPLOYMENT/SERVICE/ENDPOINT */
    bool http;
    struct zl_proxy_counters c;
    char (*b)[24]; /* each backend, "IP:PORT" */
    struct zl_proxy_backend_status *bs;
    size_t nb;
};

struct snap {
    struct mroute *r;
    size_t n, cap;
};

static void take(void *arg, const struct zl_proxy_status *st)
{
    struct snap *s = arg;
    if (s->n == s->cap)
        s->r = zl_xrealloc(s->r, (s->cap = s->cap ? s->cap * 2 : 8) * sizeof(*s->r));
    struct mroute *r = &s->r[s->n++];
    *r = (struct mroute){.name = zl_xstrdup(st->name), .http = st->http, .c = st->c};
    r->nb = st->backends;
    r->b = zl_xcalloc(r->nb + 1, sizeof(*r->b));
    r->bs = zl_xcalloc(r->nb + 1, sizeof(*r->bs));
    for (size_t i = 0; i < r->nb; i++) {
        char ip[16];
        snprintf(r->b[i], sizeof(r->b[i]), "%s:%u", zl_net_ip_text(st->b[i].b.ip, ip),
                 (unsigned)st->b[i].b.port);
        r->bs[i] = st->b[i];
    }
}

/* The routes' counters. */
static void routes(struct zl_buf *o, const struct snap *s)
{
    zl_prom_family(o, "zlayer_proxy_connections_total", "counter",
                   "Connections accepted by the proxy (udp: client sessions; http: requests "
                   "routed).");
    for (size_t i = 0; i < s->n; i++)
        zl_prom_u64(o, "zlayer_proxy_connections_total", s->r[i].c.accepted, "route", s->r[i].name,
                    NULL);
    zl_prom_family(o, "zlayer_proxy_active", "gauge",
                   "Connections open now (udp: sessions; http: requests in flight).");
    for (size_t i = 0; i < s->n; i++)
        zl_prom_u64(o, "zlayer_proxy_active", s->r[i].c.active, "route", s->r[i].name, NULL);
    zl_prom_family(o, "zlayer_proxy_failed_total", "counter",
                   "Connections or requests for which no backend could be reached.");
    for (size_t i = 0; i < s->n; i++)
        zl_prom_u64(o, "zlayer_proxy_failed_total", s->r[i].c.failed, "route", s->r[i].name, NULL);
    zl_prom_family(o, "zlayer_proxy_bytes_total", "counter",
                   "Bytes from clients (in) and to them (out); http: of the bodies.");
    for (size_t i = 0; i < s->n; i++) {
        zl_prom_u64(o, "zlayer_proxy_bytes_total", s->r[i].c.bytes_in, "route", s->r[i].name,
                    "direction", "in", NULL);
        zl_prom_u64(o, "zlayer_proxy_bytes_total", s->r[i].c.bytes_out, "route", s->r[i].name,
                    "direction", "out", NULL);
    }
}

/* HTTP routes: responses by status class, and the latency histogram (cumulative buckets in
 * seconds, as the format wants; the proxy counts per bucket in ms). */
static void http(struct zl_buf *o, const struct snap *s)
{
    zl_prom_family(o, "zlayer_proxy_requests_total", "counter",
                   "HTTP responses by status class (1xx..5xx; 499: the client went away).");
    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; s->r[i].http && k < 5; k++) {
            char code[4] = {(char)('1' + k), 'x', 'x', 0};
            zl_prom_u64(o, "zlayer_proxy_requests_total", s->r[i].c.status[k], "route",
                        s->r[i].name, "code", code, NULL);
        }
    const char *h = "zlayer_proxy_request_duration_seconds";
    zl_prom_family(o, h, "histogram",
                   "HTTP requests from their first byte to the end of the response.");
    for (size_t i = 0; i < s->n; i++) {
        if (!s->r[i].http)
            continue;
        uint64_t n = 0;
        for (int k = 0; k < ZL_PROXY_LAT_BUCKETS; k++) {
            struct zl_buf le;
            zl_buf_init(&le);
            zl_prom_float(&le, k < ZL_PROXY_LAT_BUCKETS - 1 ? zl_proxy_lat_ms[k] / 1000.0
                                                            : (double)INFINITY);
            n += s->r[i].c.latency[k];
            zl_prom_u64(o, "zlayer_proxy_request_duration_seconds_bucket", n, "route", s->r[i].name,
                        "le", le.data, NULL);
            zl_buf_fini(&le);
        }
        zl_prom_f64(o, "zlayer_proxy_request_duration_seconds_sum",
                    (double)s->r[i].c.latency_us / 1e6, "route", s->r[i].name, NULL);
        zl_prom_u64(o, "zlayer_proxy_request_duration_seconds_count", n, "route", s->r[i].name,
                    NULL);
    }
}

static void backends(struct zl_buf *o, const struct snap *s)
{
    zl_prom_family(o, "zlayer_proxy_backend_active", "gauge",
                   "HTTP requests in flight to a backend (a ready replica).");
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->r[i].nb; k++)
            zl_prom_u64(o, "zlayer_proxy_backend_active", s->r[i].bs[k].active, "route",
                        s->r[i].name, "backend", s->r[i].b[k], NULL);
    zl_prom_family(o, "zlayer_proxy_backend_up", "gauge",
                   "1 when a backend is chosen for new requests, 0 while it is ejected "
                   "(refusing) or failing the route's health check.");
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->r[i].nb; k++)
            zl_prom_u64(o, "zlayer_proxy_backend_up", !s->r[i].bs[k].ejected && !s->r[i].bs[k].down,
                        "route", s->r[i].name, "backend", s->r[i].b[k], NULL);
}

/* Each service with a route: its requests per second (zl_proxy_service_rate). */
static void services(struct zl_buf *o, struct zl_proxy *p, const struct snap *s)
{
    zl_prom_family(o, "zlayer_service_rps", "gauge",
                   "Requests per second over the last 10 s, summed over the service's "
                   "endpoints (tcp: connections; udp: sessions).");
    for (size_t i = 0; i < s->n; i++) {
        /* DEPLOYMENT/SERVICE/ENDPOINT; once per service: at its first route */
        const char *a = strchr(s->r[i].name, '/'), *b = a ? strchr(a + 1, '/') : NULL;
        if (!b)
            continue;
        size_t len = (size_t)(b - s->r[i].name) + 1;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strncmp(s->r[k].name, s->r[i].name, len);
        if (seen)
            continue;
        char *dep = zl_xstrndup(s->r[i].name, (size_t)(a - s->r[i].name)),
             *svc = zl_xstrndup(a + 1, (size_t)(b - a - 1));
        struct zl_proxy_rate r;
        if (zl_proxy_service_rate(p, dep, svc, &r) == 0)
            zl_prom_f64(o, "zlayer_service_rps", r.rps, "deployment", dep, "service", svc, NULL);
        free(dep);
        free(svc);
    }
}

char *zl_agent__metrics(struct zl_proxy *p, size_t *len)
{
    struct snap s = {0};
    if (p)
        zl_proxy_each(p, take, &s);
    struct zl_buf o;
    zl_buf_init(&o);
    routes(&o, &s);
    http(&o, &s);
    backends(&o, &s);
    services(&o, p, &s); /* (no routes without a proxy) */
    for (size_t i = 0; i < s.n; i++) {
        free(s.r[i].name);
        free(s.r[i].b);
        free(s.r[i].bs);
    }
    free(s.r);
    return zl_buf_steal(&o, len);
}
