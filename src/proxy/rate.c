/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/rate.c: requests per second, for the autoscaler. Every second the loop samples each
 * route's count of requests into a small ring and publishes what the rings say under the
 * proxy's lock, so a reader on another thread (the reconciler) never touches the loop's
 * counters. */
#include "proxy/internal.h"

#include <stdlib.h>
#include <string.h>

/* ---------------- the ring (pure) ---------------- */

void zl_proxy_ring_push(struct zl_proxy_ring *r, int64_t at_ms, uint64_t total)
{
    if (r->n) {
        unsigned newest = (r->next + ZL_PROXY_RATE_SAMPLES - 1) % ZL_PROXY_RATE_SAMPLES;
        if (at_ms <= r->at[newest])
            return; /* time did not move: nothing to learn */
        if (total < r->total[newest])
            r->n = r->next = 0; /* a count that went back is a new count */
    }
    r->at[r->next] = at_ms;
    r->total[r->next] = total;
    r->next = (r->next + 1) % ZL_PROXY_RATE_SAMPLES;
    if (r->n < ZL_PROXY_RATE_SAMPLES)
        r->n++;
}

void zl_proxy_ring_span(const struct zl_proxy_ring *r, uint64_t *count, int64_t *span_ms)
{
    *count = 0;
    *span_ms = 0;
    if (r->n < 2)
        return;
    unsigned newest = (r->next + ZL_PROXY_RATE_SAMPLES - 1) % ZL_PROXY_RATE_SAMPLES;
    unsigned oldest = (r->next + ZL_PROXY_RATE_SAMPLES - r->n) % ZL_PROXY_RATE_SAMPLES;
    *count = r->total[newest] - r->total[oldest];
    *span_ms = r->at[newest] - r->at[oldest];
}

double zl_proxy_ring_rate(const struct zl_proxy_ring *r)
{
    uint64_t count;
    int64_t span;
    zl_proxy_ring_span(r, &count, &span);
    return span > 0 ? (double)count * 1000.0 / (double)span : 0.0;
}

/* ---------------- sampling, on the loop ---------------- */

static void rates_free(struct zl_proxy__rate *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].name);
    free(r);
}

void zl_proxy__rates_sample(struct zl_proxy *p)
{
    int64_t now = (int64_t)uv_now(p->loop);
    size_t n = 0, cap = 8;
    struct zl_proxy__rate *r = zl_xcalloc(cap, sizeof(*r));
    for (struct listener *l = p->ls; l; l = l->next)
        for (struct group *g = l->g; g; g = g->next) {
            zl_proxy_ring_push(&g->ring, now, g->c.accepted);
            if (n == cap)
                r = zl_xrealloc(r, (cap *= 2) * sizeof(*r));
            r[n] = (struct zl_proxy__rate){.name = zl_xstrdup(g->name), .in_flight = g->c.active};
            zl_proxy_ring_span(&g->ring, &r[n].count, &r[n].span_ms);
            n++;
        }
    pthread_mutex_lock(&p->lock);
    struct zl_proxy__rate *old = p->rates;
    size_t nold = p->nrates;
    p->rates = r;
    p->nrates = n;
    pthread_mutex_unlock(&p->lock);
    rates_free(old, nold); /* outside the lock: readers wait as little as can be */
}

void zl_proxy__rates_free(struct zl_proxy *p)
{
    rates_free(p->rates, p->nrates);
    p->rates = NULL;
    p->nrates = 0;
}

/* Is name DEPLOYMENT/SERVICE/ENDPOINT of dep's svc? */
static bool of_service(const char *name, const char *dep, size_t dl, const char *svc, size_t sl)
{
    return !strncmp(name, dep, dl) && name[dl] == '/' && !strncmp(name + dl + 1, svc, sl) &&
           name[dl + 1 + sl] == '/' && !strchr(name + dl + sl + 2, '/');
}

int zl_proxy_service_rate(struct zl_proxy *p, const char *deployment, const char *service,
                          struct zl_proxy_rate *out)
{
    memset(out, 0, sizeof(*out));
    size_t dl = strlen(deployment), sl = strlen(service);
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->nrates; i++) {
        const struct zl_proxy__rate *r = &p->rates[i];
        if (!of_service(r->name, deployment, dl, service, sl))
            continue;
        out->routes++;
        out->in_flight += r->in_flight;
        out->requests += r->count;
        /* each route over its own span: one made a moment ago is not diluted by the window */
        if (r->span_ms > 0)
            out->rps += (double)r->count * 1000.0 / (double)r->span_ms;
        if (r->span_ms / 1000.0 > out->window_s)
            out->window_s = (double)r->span_ms / 1000.0;
    }
    pthread_mutex_unlock(&p->lock);
    return out->routes ? 0 : -1;
}
