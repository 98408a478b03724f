/* SPDX-License-Identifier: Apache-2.0 */
/* agent/names.c: what the node serves: names in the service DNS, and the proxy's routes. At
 * the end of each pass the reconciler publishes the ready replicas that have an address of
 * their own and the services' endpoints; a replica being removed leaves both at once, before
 * it is stopped. */
#include "agent/health.h"
#include "agent/internal.h"

#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <time.h>

struct zl_agent_name {
    char *id, *deployment, *service;
    unsigned index;
    uint32_t ip;
    bool healthy;
};

/* An external's backend, and its health check's id ("DEPLOYMENT/EXTERNAL/BACKEND"; NULL: the
 * external has no `health`). */
struct zl_agent_static {
    struct zl_proxy_backend b;
    char *check;
};

struct zl_agent_srv {
    char *deployment, *service, *name;
    const char *proto;
    uint16_t port;                  /* the replicas' (target_port) */
    uint16_t listen;                /* the proxy's (port) */
    bool l4;                        /* protocol tcp or udp: the proxy passes connections through */
    bool public;                    /* expose: public (every address), else internal (127.0.0.1) */
    unsigned session_ms;            /* udp: stream.session_timeout (0: the proxy's default) */
    bool pp;                        /* stream.proxy_protocol */
    enum zl_proxy_check_kind check; /* stream.health_check */
    char *probe;                    /* udp_probe: request (\xHH decoded), expect */
    size_t probe_len;
    char *expect;
    bool http;                       /* protocol http or websocket: routed by host and path */
    char *host, *path;               /* http: the endpoint's host and path (may be NULL); tls:
                                      * the host (the name its certificate answers) */
    bool tls;                        /* https, or tcp with stream.tls */
    struct zl_agent_static *statics; /* an external's backends (not replicas), or NULL */
    size_t nstatics;
    bool least; /* label zlayer.proxy/balance: least_connections */
    /* tls: labels zlayer.proxy/tls-certificate and zlayer.proxy/tls-key (NULL: none) */
    char *tls_cert, *tls_key;
};

struct zl_agent_names {
    struct zl_agent *a;       /* whose health checks say which externals' backends are out */
    struct zl_dns_zone *zone; /* borrowed from the daemon */
    struct zl_proxy *proxy;   /* borrowed from the daemon (may be NULL) */
    struct zl_agent_name *r;  /* what was published last */
    size_t nr;
    struct zl_agent_srv *e; /* endpoints: collected over a pass, then published */
    size_t ne;
    struct zl_agent_srv *next;
    size_t nnext;
};

static void srv_free(struct zl_agent_srv *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].deployment);
        free(e[i].service);
        free(e[i].name);
        free(e[i].probe);
        free(e[i].expect);
        free(e[i].host);
        free(e[i].path);
        free(e[i].tls_cert);
        free(e[i].tls_key);
        for (size_t k = 0; k < e[i].nstatics; k++)
            free(e[i].statics[k].check);
        free(e[i].statics);
    }
    free(e);
}

static void names_free(struct zl_agent_name *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].id);
        free(r[i].deployment);
        free(r[i].service);
    }
    free(r);
}

void zl_agent__names_attach(struct zl_agent *a, struct zl_dns_zone *zone, struct zl_proxy *proxy)
{
    a->names = zl_xcalloc(1, sizeof(*a->names));
    a->names->a = a;
    a->names->zone = zone;
    a->names->proxy = proxy;
}

void zl_agent__names_close(struct zl_agent *a)
{
    struct zl_agent_names *n = a->names;
    if (!n)
        return;
    names_free(n->r, n->nr);
    srv_free(n->e, n->ne);
    srv_free(n->next, n->nnext);
    free(n);
    a->names = NULL;
}

static void push(struct zl_agent_names *n)
{
    struct zl_dns_replica *r = zl_xcalloc(n->nr + 1, sizeof(*r));
    struct zl_dns_endpoint *e = zl_xcalloc(n->ne + 1, sizeof(*e));
    for (size_t i = 0; i < n->nr; i++)
        r[i] = (struct zl_dns_replica){n->r[i].deployment, n->r[i].service, n->r[i].index,
                                       n->r[i].ip, n->r[i].healthy};
    size_t nsrv = 0;
    for (size_t i = 0; i < n->ne; i++)
        if (!n->e[i].statics) /* externals are not services: no names */
            e[nsrv++] = (struct zl_dns_endpoint){n->e[i].deployment, n->e[i].service, n->e[i].name,
                                                 n->e[i].proto, n->e[i].port};
    if (n->zone)
        zl_dns_zone_set(n->zone, r, n->nr, e, nsrv);
    free(r);
    free(e);
    if (!n->proxy)
        return;
    /* the proxy: a route per tcp, udp, http and websocket endpoint, to the service's ready
     * replicas */
    struct zl_proxy_route *routes = zl_xcalloc(n->ne + 1, sizeof(*routes));
    size_t nroutes = 0;
    for (size_t i = 0; i < n->ne; i++) {
        const struct zl_agent_srv *x = &n->e[i];
        if (!x->l4 && !x->http)
            continue;
        struct zl_proxy_backend *b = zl_xcalloc(n->nr + x->nstatics + 1, sizeof(*b));
        size_t nb = 0;
        for (size_t k = 0; k < x->nstatics; k++) {
            /* an external's backend stays listed, out of the choice while its check fails;
             * before its first verdict it is routed (it runs already: none is dropped at the
             * daemon's start) */
            b[nb] = x->statics[k].b;
            b[nb++].unhealthy =
                x->statics[k].check &&
                zl_health_get(n->a->health, x->statics[k].check).state == ZL_HEALTH_UNHEALTHY;
        }
        for (size_t k = 0; k < n->nr && !x->statics; k++)
            if (n->r[k].healthy && !strcmp(n->r[k].deployment, x->deployment) &&
                !strcmp(n->r[k].service, x->service))
                b[nb++] = (struct zl_proxy_backend){.ip = n->r[k].ip, .port = x->port};
        char *name = zl_xasprintf("%s/%s/%s", x->deployment, x->service, x->name);
        routes[nroutes++] = (struct zl_proxy_route){.name = name,
                                                    .bind_ip = x->public ? 0 : 0x7f000001u,
                                                    .port = x->listen,
                                                    .udp = x->l4 && !strcmp(x->proto, "udp"),
                                                    .http = x->http,
                                                    .tls = x->tls,
                                                    .least_conn = x->least,
                                                    .host = x->host,
                                                    .path = x->path,
                                                    .tls_cert = x->tls_cert,
                                                    .tls_key = x->tls_key,
                                                    .session_timeout_ms = x->session_ms,
                                                    .proxy_protocol = x->pp,
                                                    .check = x->check,
                                                    .probe = x->probe,
                                                    .probe_len = x->probe_len,
                                                    .probe_expect = x->expect,
                                                    .backends = b,
                                                    .nbackends = nb};
    }
    zl_proxy_set(n->proxy, routes, nroutes);
    for (size_t i = 0; i < nroutes; i++) {
        free((char *)routes[i].name);
        free((void *)routes[i].backends);
    }
    free(routes);
}

/* udp_probe's request: "\xHH" is the byte HH, everything else as written. */
static char *unescape(const char *s, size_t *len)
{
    size_t n = strlen(s), k = 0;
    char *out = zl_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (s[i] == '\\' && s[i + 1] == 'x' && sscanf(s + i + 2, "%2x", &v) == 1 &&
            strspn(s + i + 2, "0123456789abcdefABCDEF") >= 2) {
            out[k++] = (char)v;
            i += 3;
        } else
            out[k++] = s[i];
    }
    out[k] = '\0';
    *len = k;
    return out;
}

/* The service's label zlayer.proxy/balance: least_connections (else round-robin). */
static bool least_conn(const struct zl_sval *svc)
{
    const struct zl_sval *l = zl_sval_get(svc, "labels");
    for (size_t i = 0; l && l->kind == ZL_SV_MAP && i < l->n; i++)
        if (!strcmp(l->keys[i], "zlayer.proxy/balance") && l->items[i]->kind == ZL_SV_STR &&
            !strcmp(l->items[i]->s, "least_connections"))
            return true;
    return false;
}

void zl_agent__names_endpoints(struct zl_agent *a, const char *dep, const char *svcname,
                               const struct zl_sval *svc)
{
    struct zl_agent_names *n = a->names;
    const struct zl_sval *eps = zl_sval_get(svc, "endpoints");
    for (size_t i = 0; n && eps && i < eps->n; i++) {
        const struct zl_sval *ep = eps->items[i];
        uint64_t listen = zl_sval_uint(ep, "port", 0),
                 port = zl_sval_uint(ep, "target_port", listen);
        const char *proto = zl_sval_str(ep, "protocol", "tcp");
        const struct zl_sval *st = zl_sval_path(ep, "stream.session_timeout");
        uint64_t ms = st && st->kind == ZL_SV_DURATION ? st->u / 1000000 : 0;
        const char *hc = zl_sval_str(ep, "stream.health_check.type", "");
        enum zl_proxy_check_kind check = !strcmp(hc, "tcp_connect") ? ZL_PROXY_CHECK_TCP
                                         : !strcmp(hc, "udp_probe") ? ZL_PROXY_CHECK_UDP
                                                                    : ZL_PROXY_CHECK_NONE;
        size_t probe_len = 0;
        char *probe = check == ZL_PROXY_CHECK_UDP
                          ? unescape(zl_sval_str(ep, "stream.health_check.request", ""), &probe_len)
                          : NULL;
        const char *expect = zl_sval_str(ep, "stream.health_check.expect", NULL);
        const char *host = zl_sval_str(ep, "host", NULL), *path = zl_sval_str(ep, "path", NULL);
        bool http =
            !strcmp(proto, "http") || !strcmp(proto, "websocket") || !strcmp(proto, "https");
        bool tls = !strcmp(proto, "https") ||
                   (!strcmp(proto, "tcp") && zl_sval_bool(ep, "stream.tls", false));
        const char *cert = tls ? zl_agent_tls_label(svc, ZL_AGENT_TLS_CERT) : NULL,
                   *key = cert ? zl_agent_tls_label(svc, ZL_AGENT_TLS_KEY) : NULL;
        n->next = zl_xrealloc(n->next, (n->nnext + 1) * sizeof(*n->next));
        n->next[n->nnext++] =
            (struct zl_agent_srv){zl_xstrdup(dep),
                                  zl_xstrdup(svcname),
                                  zl_xstrdup(zl_sval_str(ep, "name", "")),
                                  strcmp(proto, "udp") ? "tcp" : "udp",
                                  (uint16_t)port,
                                  (uint16_t)listen,
                                  !strcmp(proto, "tcp") || !strcmp(proto, "udp"),
                                  !strcmp(zl_sval_str(ep, "expose", "internal"), "public"),
                                  ms > 86400000 ? 86400000 : (unsigned)ms,
                                  zl_sval_bool(ep, "stream.proxy_protocol", false),
                                  check,
                                  probe,
                                  probe_len,
                                  expect ? zl_xstrdup(expect) : NULL,
                                  http,
                                  (http || tls) && host ? zl_xstrdup(host) : NULL,
                                  http && path ? zl_xstrdup(path) : NULL,
                                  tls,
                                  NULL,
                                  0,
                                  least_conn(svc),
                                  cert ? zl_xstrdup(cert) : NULL,
                                  key ? zl_xstrdup(key) : NULL};
    }
}

static bool is_ready(const char *id, char *const *ready, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ready[i], id))
            return true;
    return false;
}

struct scan {
    struct zl_agent_names *nm;
    char *const *ready;
    size_t nready;
};

static void add_name(void *arg, const char *id, json_t *net)
{
    struct scan *sc = arg;
    struct zl_agent_names *nm = sc->nm;
    const char *ip = json_string_value(json_object_get(net, "ip")),
               *dep = json_string_value(json_object_get(net, "deployment")),
               *svc = json_string_value(json_object_get(net, "service"));
    uint32_t addr;
    if (!ip || !dep || !svc || zl_net_ip_parse(ip, &addr) < 0)
        return;
    nm->r = zl_xrealloc(nm->r, (nm->nr + 1) * sizeof(*nm->r));
    nm->r[nm->nr++] =
        (struct zl_agent_name){zl_xstrdup(id),
                               zl_xstrdup(dep),
                               zl_xstrdup(svc),
                               (unsigned)json_integer_value(json_object_get(net, "index")),
                               addr,
                               is_ready(id, sc->ready, sc->nready)};
}

void zl_agent__names_publish(struct zl_agent *a, char *const *ready, size_t nready)
{
    struct zl_agent_names *nm = a->names;
    if (!nm)
        return;
    names_free(nm->r, nm->nr);
    nm->r = NULL;
    nm->nr = 0;
    /* every container with an address: the ready ones answer, all of them ask (a query's
     * source address tells its deployment) */
    struct scan sc = {nm, ready, nready};
    zl_agent__net_each(a, add_name, &sc);
    srv_free(nm->e, nm->ne);
    nm->e = ZL_STEAL(nm->next);
    nm->ne = nm->nnext;
    nm->nnext = 0;
    push(nm);
}

void zl_agent__names_forget(struct zl_agent *a, char *const *ids, size_t n)
{
    struct zl_agent_names *nm = a->names;
    bool changed = false;
    /* they leave the answers, and stay clients of their deployment while they stop */
    for (size_t i = 0; nm && i < nm->nr; i++)
        for (size_t k = 0; k < n; k++)
            if (nm->r[i].healthy && !strcmp(nm->r[i].id, ids[k])) {
                nm->r[i].healthy = false;
                changed = true;
            }
    if (changed)
        push(nm);
}

void zl_agent__names_ready(struct zl_agent *a, const char *id)
{
    struct zl_agent_names *nm = a->names;
    for (size_t i = 0; nm && i < nm->nr; i++)
        if (!strcmp(nm->r[i].id, id)) {
            if (!nm->r[i].healthy) {
                /* at once: a dependent started later in this pass may ask for it */
                nm->r[i].healthy = true;
                push(nm);
            }
            return;
        }
}

void zl_agent__names_client(struct zl_agent *a, const struct zl_replica_ref *r, uint32_t ip)
{
    struct zl_agent_names *nm = a->names;
    if (!nm)
        return;
    for (size_t i = 0; i < nm->nr; i++)
        if (!strcmp(nm->r[i].id, r->id)) {
            nm->r[i].ip = ip;
            push(nm);
            return;
        }
    nm->r = zl_xrealloc(nm->r, (nm->nr + 1) * sizeof(*nm->r));
    nm->r[nm->nr++] = (struct zl_agent_name){
        zl_xstrdup(r->id), zl_xstrdup(r->deployment), zl_xstrdup(r->service), r->index, ip, false};
    push(nm);
}

void zl_agent__names_drain(struct zl_agent *a, char *const *ids, size_t n, unsigned max_ms)
{
    struct zl_agent_names *nm = a->names;
    if (!nm || !nm->proxy || !n)
        return;
    uint32_t *ips = zl_xcalloc(n + 1, sizeof(*ips));
    size_t k = 0;
    for (size_t i = 0; i < nm->nr; i++)
        for (size_t j = 0; j < n; j++)
            if (!strcmp(nm->r[i].id, ids[j]) && nm->r[i].ip)
                ips[k++] = nm->r[i].ip;
    struct timespec pause = {0, 20 * 1000000};
    for (unsigned waited = 0; k && waited < max_ms; waited += 20) {
        if (zl_proxy_drained(nm->proxy, ips, k))
            break;
        nanosleep(&pause, NULL);
    }
    free(ips);
}

/* An external's backend "host:port" (an address, or a name looked up now). */
static bool parse_backend(const char *s, struct zl_proxy_backend *out)
{
    const char *colon = strrchr(s, ':');
    char *end;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || colon == s || !port || port > 65535 || *end)
        return false;
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
    uint32_t ip;
    if (zl_net_ip_parse(host, &ip) < 0) {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
            return false;
        ip = ntohl(((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr.s_addr);
        freeaddrinfo(res);
    }
    *out = (struct zl_proxy_backend){.ip = ip, .port = (uint16_t)port};
    return true;
}

void zl_agent__names_externals(struct zl_agent *a, const char *dep, const struct zl_sval *exts,
                               struct zl_health_target **ts, size_t *nts)
{
    struct zl_agent_names *n = a->names;
    for (size_t i = 0; n && exts && i < exts->n; i++) {
        const struct zl_sval *x = exts->items[i], *bs = zl_sval_get(x, "backends");
        struct zl_agent_static *b = zl_xcalloc((bs ? bs->n : 0) + 1, sizeof(*b));
        size_t nb = 0;
        for (size_t k = 0; bs && k < bs->n; k++) {
            const char *s = bs->items[k]->kind == ZL_SV_STR ? bs->items[k]->s : "";
            if (!parse_backend(s, &b[nb].b)) {
                zl_log("warn", "agent",
                       "%s: externals.%s.backends[%zu]: '%s' is not host:port (or its name does "
                       "not resolve): left out",
                       dep, exts->keys[i], k, s);
                continue;
            }
            /* its check, once per backend as written */
            char *id = zl_xasprintf("%s/%s/%s", dep, exts->keys[i], s);
            struct zl_health_target t = {0};
            bool dup = false;
            for (size_t j = 0; j < nb && !dup; j++)
                dup = b[j].check && !strcmp(b[j].check, id);
            if (!dup && zl_health_target_external(x, s, b[nb].b.ip, b[nb].b.port, &t)) {
                t.id = zl_xstrdup(id);
                t.deployment = zl_xstrdup(dep);
                t.service = zl_xstrdup(exts->keys[i]);
                t.created = zl_xstrdup("");
                *ts = zl_xrealloc(*ts, (*nts + 1) * sizeof(**ts));
                (*ts)[(*nts)++] = t;
            }
            if (zl_sval_get(x, "health"))
                b[nb].check = id;
            else
                free(id);
            nb++;
        }
        size_t first = n->nnext;
        zl_agent__names_endpoints(a, dep, exts->keys[i], x);
        for (size_t k = first; k < n->nnext; k++) {
            n->next[k].statics = zl_xcalloc(nb + 1, sizeof(*b));
            for (size_t j = 0; j < nb; j++)
                n->next[k].statics[j] =
                    (struct zl_agent_static){b[j].b, b[j].check ? zl_xstrdup(b[j].check) : NULL};
            n->next[k].nstatics = nb;
        }
        for (size_t k = 0; k < nb; k++)
            free(b[k].check);
        free(b);
    }
}
