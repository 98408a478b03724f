/* SPDX-License-Identifier: Apache-2.0 */
/* agent/plan.c: the reconciler's decisions that need no system: replica counts, what to do
 * with each replica, restart policy and backoff, when crons are due and jobs may start. */
#include "agent/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t zl_agent_backoff_ms(unsigned restarts)
{
    return zl_agent_backoff_from_ms(1000, restarts);
}

uint64_t zl_agent_backoff_from_ms(uint64_t first_ms, unsigned restarts)
{
    if (restarts == 0)
        return 0;
    if (!first_ms)
        first_ms = 1;
    uint64_t cap = first_ms > 60000 ? first_ms : 60000, ms = first_ms;
    for (unsigned i = 1; i < restarts && ms < cap; i++)
        ms *= 2;
    return ms < cap ? ms : cap;
}

enum zl_replica_action zl_agent_replica_action(const char *status, const char *have_hash,
                                               const char *want_hash)
{
    if (!status)
        return ZL_REPLICA_CREATE;
    if (!have_hash || strcmp(have_hash, want_hash) != 0)
        return ZL_REPLICA_REPLACE;
    if (!strcmp(status, "created"))
        return ZL_REPLICA_RECREATE;
    if (!strcmp(status, "stopped"))
        return ZL_REPLICA_CRASHED;
    return ZL_REPLICA_KEEP;
}

bool zl_agent_restarts(const char *on_panic, const char *kind, int exit_code, unsigned crashes,
                       unsigned max_attempts)
{
    if (on_panic && strcmp(on_panic, "restart") != 0)
        return false;
    if (kind && !strcmp(kind, "no"))
        return false;
    if (kind && !strcmp(kind, "on_failure"))
        return exit_code != 0 && (!max_attempts || crashes <= max_attempts);
    return true;
}

unsigned zl_agent_crash_count(unsigned before, int64_t ran_ms)
{
    return ran_ms >= 60000 ? 1 : before + 1;
}

unsigned zl_agent_desired_replicas(const struct zl_sval *svc, long scaled)
{
    const char *rtype = zl_sval_str(svc, "rtype", "service");
    if (strcmp(rtype, "service") != 0)
        return 0; /* jobs and crons run when triggered */
    const struct zl_sval *groups = zl_sval_get(svc, "replica_groups");
    if (groups && groups->n) {
        uint64_t n = 0;
        for (size_t i = 0; i < groups->n; i++)
            n += zl_sval_uint(groups->items[i], "count", 0);
        return scaled >= 0 ? (unsigned)scaled : (unsigned)n;
    }
    if (scaled >= 0)
        return (unsigned)scaled;
    const char *mode = zl_sval_str(svc, "scale.mode", "adaptive");
    if (!strcmp(mode, "fixed"))
        return (unsigned)zl_sval_uint(svc, "scale.replicas", 1);
    if (!strcmp(mode, "adaptive"))
        return (unsigned)zl_sval_uint(svc, "scale.min", 1);
    return 1; /* manual: one until scaled by hand */
}

enum zl_job_admit zl_agent_job_admit(bool is_cron, unsigned of_job, unsigned total)
{
    if (is_cron && of_job > 0)
        return ZL_JOB_OVERLAP;
    if (of_job >= ZL_JOB_MAX_RUNS_PER_JOB || total >= ZL_JOB_MAX_RUNS)
        return ZL_JOB_FULL;
    return ZL_JOB_ADMIT;
}

enum zl_cron_due zl_agent_cron_due(bool enabled, int64_t next_fire_ms, int64_t now_ms,
                                   int64_t started_ms)
{
    if (next_fire_ms <= 0 || now_ms < next_fire_ms)
        return ZL_CRON_WAIT;
    if (!enabled)
        return ZL_CRON_PASS;
    return next_fire_ms < started_ms ? ZL_CRON_CATCH_UP : ZL_CRON_FIRE;
}

int64_t zl_agent_cron_next_ms(const struct zl_cron *c, int64_t now_ms)
{
    int64_t next = 0;
    if (now_ms < 0 || zl_cron_next(c, now_ms / 1000, &next) < 0)
        return -1;
    return next * 1000;
}

void zl_agent__sval_text(const struct zl_sval *v, struct zl_buf *b)
{
    if (!v) {
        zl_buf_puts(b, "~");
        return;
    }
    switch (v->kind) {
    case ZL_SV_BOOL:
        zl_buf_puts(b, v->b ? "T" : "F");
        break;
    case ZL_SV_INT:
        zl_buf_printf(b, "i%lld", (long long)v->i);
        break;
    case ZL_SV_UINT:
    case ZL_SV_DURATION:
    case ZL_SV_MEMSIZE:
        zl_buf_printf(b, "u%llu", (unsigned long long)v->u);
        break;
    case ZL_SV_FLOAT:
        zl_buf_printf(b, "f%.17g", v->f);
        break;
    case ZL_SV_LIST:
    case ZL_SV_MAP:
    case ZL_SV_OBJ:
        zl_buf_putc(b, '{');
        for (size_t i = 0; i < v->n; i++) {
            if (v->keys)
                zl_buf_printf(b, "%zu:%s=", strlen(v->keys[i]), v->keys[i]);
            zl_agent__sval_text(v->items[i], b);
            zl_buf_putc(b, ',');
        }
        zl_buf_putc(b, '}');
        break;
    default:
        zl_buf_printf(b, "s%zu:%s", v->s ? strlen(v->s) : 0, v->s ? v->s : "");
    }
}

const char *zl_health_state_name(enum zl_health_state s)
{
    switch (s) {
    case ZL_HEALTH_STARTING:
        return "starting";
    case ZL_HEALTH_HEALTHY:
        return "healthy";
    case ZL_HEALTH_UNHEALTHY:
        return "unhealthy";
    case ZL_HEALTH_NONE:
        break;
    }
    return "none";
}

enum zl_health_state zl_agent_health_step(enum zl_health_state s, bool ok, unsigned *failures,
                                          unsigned retries)
{
    if (ok) {
        *failures = 0;
        return ZL_HEALTH_HEALTHY;
    }
    if (*failures < UINT32_MAX)
        ++*failures;
    if (*failures >= (retries ? retries : 1))
        return ZL_HEALTH_UNHEALTHY;
    return s == ZL_HEALTH_NONE ? ZL_HEALTH_STARTING : s;
}

uint64_t zl_agent_health_delay_ms(uint64_t interval_ms, unsigned failures, unsigned retries)
{
    uint64_t cap = interval_ms > 60000 ? interval_ms : 60000, ms = interval_ms;
    for (unsigned i = retries; i < failures && ms < cap; i++)
        ms *= 2;
    return ms < cap ? ms : cap;
}

/* Is index idx taken by a replica that stays, or by one the plan creates? */
static bool index_used(const struct zl_rollout_replica *v, size_t n,
                       const struct zl_rollout_plan *p, unsigned idx)
{
    for (size_t i = 0; i < n; i++) {
        bool goes = false;
        for (size_t k = 0; k < p->nremove; k++)
            goes |= p->remove[k] == i;
        if (v[i].index == idx && !goes)
            return true;
    }
    for (size_t i = 0; i < p->ncreate; i++)
        if (p->create[i] == idx)
            return true;
    return false;
}

static void create_lowest(const struct zl_rollout_replica *v, size_t n, struct zl_rollout_plan *p)
{
    unsigned idx = 0;
    while (index_used(v, n, p, idx))
        idx++;
    p->create[p->ncreate++] = idx;
}

void zl_agent_rollout(const struct zl_rollout_replica *v, size_t n, unsigned want, unsigned surge,
                      unsigned unavailable, struct zl_rollout_plan *p)
{
    if (!surge && !unavailable)
        surge = 1; /* else nothing could ever move */
    p->ncreate = p->nremove = 0;
    p->failed = -1;
    size_t ncur = 0, nold = 0, ready_cur = 0, ready_old = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].current) {
            ncur++;
            ready_cur += v[i].ready;
        } else {
            nold++;
            ready_old += v[i].ready;
        }
    }
    if (!nold) {
        while (ncur + p->ncreate < want)
            create_lowest(v, n, p);
        /* scale down: the highest indices first */
        for (; ncur > want; ncur--) {
            long top = -1;
            for (size_t i = 0; i < n; i++) {
                bool taken = false;
                for (size_t k = 0; k < p->nremove; k++)
                    taken |= p->remove[k] == i;
                if (!taken && (top < 0 || v[i].index > v[top].index))
                    top = (long)i;
            }
            p->remove[p->nremove++] = (size_t)top;
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].current && v[i].failed) {
            p->failed = (long)i;
            return;
        }
    /* old replicas that serve nothing go at once; ready ones while enough remain */
    size_t old_left = nold;
    for (size_t i = 0; i < n; i++)
        if (!v[i].current && !v[i].ready) {
            p->remove[p->nremove++] = i;
            old_left--;
        }
    for (size_t i = n; i-- > 0;)
        if (!v[i].current && v[i].ready &&
            (ready_cur + ready_old + unavailable > want || want == 0)) {
            p->remove[p->nremove++] = i;
            ready_old--;
            old_left--;
        }
    while (ncur + p->ncreate < want && ncur + p->ncreate + old_left < (size_t)want + surge)
        create_lowest(v, n, p);
}

static void visit(const struct zl_sval *svcs, size_t i, unsigned char *mark, size_t *order,
                  size_t *n)
{
    if (mark[i]) /* done (2), or on the path (1): a cycle, which validation refuses */
        return;
    mark[i] = 1;
    const struct zl_sval *deps = zl_sval_get(svcs->items[i], "depends");
    for (size_t k = 0; deps && k < deps->n; k++) {
        const char *dep = zl_sval_str(deps->items[k], "service", "");
        for (size_t j = 0; j < svcs->n; j++)
            if (!strcmp(svcs->keys[j], dep))
                visit(svcs, j, mark, order, n);
    }
    mark[i] = 2;
    order[(*n)++] = i;
}

size_t zl_agent_service_order(const struct zl_sval *svcs, size_t *order)
{
    size_t n = 0;
    unsigned char *mark = zl_xcalloc(svcs->n + 1, 1);
    for (size_t i = 0; i < svcs->n; i++)
        visit(svcs, i, mark, order, &n);
    free(mark);
    return n;
}

/* ---------------- host ports ---------------- */

/* A port a service takes on the node: a port mapping with a host port, or an L4 endpoint
 * (the proxy listens: public on every address, internal on 127.0.0.1). */
struct taken {
    const char *field; /* "port_mappings" or "endpoints" */
    size_t index;
    int line;
    unsigned port;
    const char *proto, *ip; /* ip "" or 0.0.0.0: every address */
    bool http;              /* an http/websocket endpoint: one port, many hosts and paths */
    bool tls;               /* https (its listener cannot be shared with plain http) */
    const char *host, *path;
};

static size_t taken_of(const struct zl_sval *svc, struct taken *out, size_t cap)
{
    size_t n = 0;
    const struct zl_sval *pm = zl_sval_get(svc, "port_mappings"),
                         *eps = zl_sval_get(svc, "endpoints");
    for (size_t k = 0; pm && k < pm->n && n < cap; k++)
        if (zl_sval_uint(pm->items[k], "host_port", 0))
            out[n++] = (struct taken){"port_mappings",
                                      k,
                                      pm->items[k]->line,
                                      (unsigned)zl_sval_uint(pm->items[k], "host_port", 0),
                                      zl_sval_str(pm->items[k], "protocol", "tcp"),
                                      zl_sval_str(pm->items[k], "host_ip", ""),
                                      false,
                                      false,
                                      NULL,
                                      NULL};
    for (size_t k = 0; eps && k < eps->n && n < cap; k++) {
        const char *proto = zl_sval_str(eps->items[k], "protocol", "http");
        bool tls = !strcmp(proto, "https"),
             http = tls || !strcmp(proto, "http") || !strcmp(proto, "websocket");
        if (http || !strcmp(proto, "tcp") || !strcmp(proto, "udp"))
            out[n++] = (struct taken){
                "endpoints",
                k,
                eps->items[k]->line,
                (unsigned)zl_sval_uint(eps->items[k], "port", 0),
                !strcmp(proto, "udp") ? "udp" : "tcp",
                strcmp(zl_sval_str(eps->items[k], "expose", "internal"), "public") ? "127.0.0.1"
                                                                                   : "",
                http,
                tls,
                zl_sval_str(eps->items[k], "host", NULL),
                zl_sval_str(eps->items[k], "path", NULL)};
    }
    return n;
}

/* "/api/" and "/api" are one prefix; no path is "/". */
static size_t path_key(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    while (n && p[n - 1] == '/')
        n--;
    return n;
}

static bool same_route(const struct taken *a, const struct taken *b)
{
    size_t la = path_key(a->path), lb = path_key(b->path);
    if (la != lb || (la && memcmp(a->path, b->path, la) != 0))
        return false;
    return !a->host == !b->host && (!a->host || !strcasecmp(a->host, b->host));
}

static bool overlap(const struct taken *a, const struct taken *b)
{
    if (a->port != b->port || strcmp(a->proto, b->proto) != 0)
        return false;
    bool any_a = !*a->ip || !strcmp(a->ip, "0.0.0.0") || !strcmp(a->ip, "::"),
         any_b = !*b->ip || !strcmp(b->ip, "0.0.0.0") || !strcmp(b->ip, "::");
    if (!any_a && !any_b && strcmp(a->ip, b->ip) != 0)
        return false;
    /* HTTP endpoints share one listener (the same addresses) when they route apart */
    if (a->http && b->http && any_a == any_b && a->tls == b->tls)
        return same_route(a, b);
    return true;
}

static void describe(const struct taken *t, char *out, size_t cap)
{
    if (t->http)
        snprintf(out, cap, "port %u (%s, host %s, path %s)", t->port, t->tls ? "https" : "http",
                 t->host ? t->host : "any", t->path ? t->path : "/");
    else
        snprintf(out, cap, "host port %u/%s", t->port, t->proto);
}

#define MAX_TAKEN 256

bool zl_agent_port_clash(const struct zl_sval *svcs, const struct zl_sval *other_svcs,
                         const char *other_dep, struct zl_port_clash *c)
{
    struct taken *mine = zl_xcalloc(MAX_TAKEN, sizeof(*mine)),
                 *theirs = zl_xcalloc(MAX_TAKEN, sizeof(*theirs));
    bool found = false;
    for (size_t i = 0; svcs && i < svcs->n && !found; i++) {
        size_t nm = taken_of(svcs->items[i], mine, MAX_TAKEN);
        for (size_t j = 0; nm && other_svcs && j < other_svcs->n && !found; j++) {
            if (!other_dep && j == i)
                continue; /* one spec against itself: another service only */
            size_t nt = taken_of(other_svcs->items[j], theirs, MAX_TAKEN);
            for (size_t k = 0; k < nm && !found; k++)
                for (size_t m = 0; m < nt && !found; m++)
                    if (overlap(&mine[k], &theirs[m])) {
                        *c = (struct zl_port_clash){
                            svcs->keys[i], other_svcs->keys[j], mine[k].proto, mine[k].field,
                            mine[k].index, mine[k].line,        mine[k].port,  ""};
                        describe(&mine[k], c->what, sizeof(c->what));
                        found = true;
                    }
        }
    }
    free(mine);
    free(theirs);
    return found;
}

/* ---------------- certificates named in the spec ---------------- */

const char *zl_agent_tls_label(const struct zl_sval *svc, const char *key)
{
    const struct zl_sval *l = zl_sval_get(svc, "labels");
    const char *v = NULL;
    for (size_t i = 0; l && l->kind == ZL_SV_MAP && i < l->n; i++)
        if (!strcmp(l->keys[i], key) && l->items[i] && l->items[i]->kind == ZL_SV_STR)
            v = l->items[i]->s; /* the last one, as the map's reader keeps */
    return v && v[0] == '/' ? v : NULL;
}

static const struct zl_sval *label_value(const struct zl_sval *svc, const char *key)
{
    const struct zl_sval *l = zl_sval_get(svc, "labels"), *v = NULL;
    for (size_t i = 0; l && l->kind == ZL_SV_MAP && i < l->n; i++)
        if (!strcmp(l->keys[i], key))
            v = l->items[i];
    return v;
}

struct zl_tls_named *zl_agent_tls_named(const struct zl_sval *svcs, bool all, size_t *n)
{
    struct zl_tls_named *v = NULL;
    *n = 0;
    for (size_t i = 0; svcs && i < svcs->n; i++) {
        const struct zl_sval *svc = svcs->items[i], *eps = zl_sval_get(svc, "endpoints");
        const char *cert = zl_agent_tls_label(svc, ZL_AGENT_TLS_CERT);
        if (!cert && !all)
            continue;
        struct zl_tls_named x = {.service = svcs->keys[i],
                                 .cert = cert,
                                 .key = cert ? zl_agent_tls_label(svc, ZL_AGENT_TLS_KEY) : NULL,
                                 .at = cert ? label_value(svc, ZL_AGENT_TLS_CERT) : NULL,
                                 .key_at = cert ? label_value(svc, ZL_AGENT_TLS_KEY) : NULL};
        bool tls = false;
        size_t cap = (eps ? eps->n : 0) + 1;
        x.hosts = zl_xcalloc(cap, sizeof(*x.hosts));
        x.host_at = zl_xcalloc(cap, sizeof(*x.host_at));
        x.host_ep = zl_xcalloc(cap, sizeof(*x.host_ep));
        for (size_t k = 0; eps && k < eps->n; k++) {
            const struct zl_sval *ep = eps->items[k];
            const char *proto = zl_sval_str(ep, "protocol", "tcp"),
                       *host = zl_sval_str(ep, "host", NULL);
            if (strcmp(proto, "https") != 0 &&
                (strcmp(proto, "tcp") != 0 || !zl_sval_bool(ep, "stream.tls", false)))
                continue;
            tls = true;
            if (host && *host) {
                x.host_at[x.nhosts] = zl_sval_get(ep, "host");
                x.host_ep[x.nhosts] = k;
                x.hosts[x.nhosts++] = host;
            }
        }
        /* a certificate not used (a warning at validation); TLS without a host to clash */
        if (!tls || (!cert && !x.nhosts)) {
            free(x.hosts);
            free(x.host_at);
            free(x.host_ep);
            continue;
        }
        v = zl_xrealloc(v, (*n + 1) * sizeof(*v));
        v[(*n)++] = x;
    }
    return v;
}

void zl_agent_tls_named_free(struct zl_tls_named *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].hosts);
        free(v[i].host_at);
        free(v[i].host_ep);
    }
    free(v);
}

static bool same_file(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

bool zl_agent_tls_clash(const struct zl_tls_named *mine, size_t nm,
                        const struct zl_tls_named *theirs, size_t nt, bool same_spec,
                        struct zl_tls_clash *c)
{
    for (size_t i = 0; i < nm; i++)
        for (size_t j = 0; j < nt; j++) {
            /* the same files, or none named on either side (SNI picks for both alike) */
            if ((same_spec && !strcmp(mine[i].service, theirs[j].service)) ||
                (same_file(mine[i].cert, theirs[j].cert) && same_file(mine[i].key, theirs[j].key)))
                continue;
            for (size_t a = 0; a < mine[i].nhosts; a++)
                for (size_t b = 0; b < theirs[j].nhosts; b++)
                    if (!strcasecmp(mine[i].hosts[a], theirs[j].hosts[b])) {
                        *c = (struct zl_tls_clash){i, j, a, b, mine[i].hosts[a]};
                        return true;
                    }
        }
    return false;
}
