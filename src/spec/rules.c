/* SPDX-License-Identifier: Apache-2.0 */
/* spec/rules.c: normalisation and the field (F), cross-field (X), deploy-time (D) and
 * recommended (R) rules of SPEC-v1 section 12, over the typed tree. */
#include "spec/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct rctx {
    struct zl_diags *d;
    struct zl_arena *a;
    bool strict;
    const struct zl_sval *services;
    struct zl_index by_name; /* service name -> index in services */
};

#define get zl_sval_get

ZL_PRINTF(6, 7)
static void report(struct rctx *r, const char *rule, const struct zl_sval *at,
                   const struct zl_sval *near, const char *path, const char *fmt, ...)
{
    if (!at || !at->line)
        at = near;
    struct zl_buf msg;
    zl_buf_init(&msg);
    va_list ap;
    va_start(ap, fmt);
    zl_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    zl_spec__rule(r->d, r->strict, rule, at ? at->line : 0, at ? at->col : 0, path, NULL, "%s",
                  msg.data);
    zl_buf_fini(&msg);
}

static void add_hint(struct rctx *r, const char *hint)
{
    /* attach a hint to the diagnostic just added */
    if (r->d->n)
        r->d->v[r->d->n - 1].hint = zl_arena_strdup(&r->d->arena, hint);
}

static const char *sub(struct rctx *r, const char *base, const char *key)
{
    return zl_spec__plain_key(key) ? zl_arena_printf(r->a, "%s.%s", base, key)
                                   : zl_arena_printf(r->a, "%s[\"%s\"]", base, key);
}

static const char *idx(struct rctx *r, const char *base, size_t i)
{
    return zl_arena_printf(r->a, "%s[%zu]", base, i);
}

static const char *str(const struct zl_sval *v)
{
    return v && v->s ? v->s : "";
}

static bool is_dns_label(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || !islower((unsigned char)s[0]) || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

/* ---------------- normalisation ---------------- */

static void fill_ulimits(struct rctx *r, struct zl_sval *svc)
{
    struct zl_sval *ul = (struct zl_sval *)get(svc, "ulimits");
    for (size_t i = 0; ul && i < ul->n; i++) {
        struct zl_sval *o = ul->items[i];
        if (!o)
            continue;
        struct zl_sval **soft = &o->items[0], **hard = &o->items[1];
        if (!*soft && !*hard) {
            *soft = zl_arena_alloc(r->a, sizeof(**soft));
            (*soft)->kind = ZL_SV_INT;
            *hard = zl_arena_alloc(r->a, sizeof(**hard));
            (*hard)->kind = ZL_SV_INT;
        } else if (!*soft) {
            *soft = *hard;
        } else if (!*hard) {
            *hard = *soft;
        }
    }
}

static void fill_target_ports(struct zl_sval *endpoints)
{
    for (size_t i = 0; endpoints && i < endpoints->n; i++) {
        struct zl_sval *ep = endpoints->items[i];
        size_t port = 2, target = 3; /* field order in schema.c */
        if (ep && !ep->items[target])
            ep->items[target] = ep->items[port];
    }
}

static size_t slot(const struct zl_sval *obj, const char *key)
{
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return i;
    ZL_ASSERT(!"no such field");
    return 0;
}

static void fold_host_network(struct rctx *r, struct zl_sval *svc, const char *path)
{
    size_t hn = slot(svc, "host_network"), nm = slot(svc, "network_mode");
    struct zl_sval *flag = svc->items[hn], *mode = svc->items[nm];
    if (!flag || !flag->b) {
        svc->items[hn] = NULL; /* `host_network: false` has no effect */
        return;
    }
    if (strcmp(str(mode), "default") == 0) {
        struct zl_sval *v = zl_arena_alloc(r->a, sizeof(*v));
        *v = *flag;
        v->kind = ZL_SV_STR;
        v->s = "host";
        svc->items[nm] = v;
        svc->items[hn] = NULL;
        return;
    }
    report(r, "R-20", flag, svc, sub(r, path, "host_network"),
           "host_network: true conflicts with network_mode '%s'", str(mode));
    add_hint(r, "remove host_network and keep network_mode, or write network_mode: host");
}

/* ---------------- F rules ---------------- */

static void check_top(struct rctx *r, const struct zl_sval *root)
{
    const struct zl_sval *ver = get(root, "version"), *dep = get(root, "deployment");
    if (strcmp(str(ver), "v1") != 0)
        report(r, "F-1", ver, root, "version", "version must be 'v1', found '%s'", str(ver));
    const char *name = str(dep);
    size_t n = strlen(name);
    if (n < 3 || n > 63)
        report(r, "F-2", dep, root, "deployment", "deployment name must be 3-63 characters");
    else if (!isalnum((unsigned char)name[0]) || (name[0] & 0x80))
        report(r, "F-2", dep, root, "deployment",
               "deployment name must start with alphanumeric character");
    else if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n)
        report(r, "F-2", dep, root, "deployment",
               "deployment name can only contain alphanumeric characters and hyphens");
}

static void check_resources(struct rctx *r, const struct zl_sval *res, const char *path)
{
    if (!res)
        return;
    const struct zl_sval *cpu = get(res, "cpu");
    if (cpu && cpu->f <= 0)
        report(r, "F-3", cpu, res, sub(r, path, "cpu"), "CPU limit must be > 0, found %g", cpu->f);
    else if (cpu && !isfinite(cpu->f))
        report(r, "R-10", cpu, res, sub(r, path, "cpu"), "CPU limit must be a finite number");
    const struct zl_sval *sw = get(res, "memory_swappiness"), *bw = get(res, "blkio_weight"),
                         *oom = get(res, "oom_score_adj");
    if (sw && sw->u > 100)
        report(r, "R-7", sw, res, sub(r, path, "memory_swappiness"),
               "memory_swappiness must be 0-100 (got %llu)", (unsigned long long)sw->u);
    if (bw && (bw->u < 10 || bw->u > 1000))
        report(r, "R-7", bw, res, sub(r, path, "blkio_weight"),
               "blkio_weight must be 10-1000 (got %llu)", (unsigned long long)bw->u);
    if (oom && (oom->i < -1000 || oom->i > 1000))
        report(r, "R-7", oom, res, sub(r, path, "oom_score_adj"),
               "oom_score_adj must be -1000..1000 (got %lld)", (long long)oom->i);
    const struct zl_sval *mem = get(res, "memory"), *swap = get(res, "memory_swap");
    if (mem && swap && mem->kind == ZL_SV_MEMSIZE && swap->kind == ZL_SV_MEMSIZE &&
        swap->u < mem->u)
        report(r, "R-8", swap, res, sub(r, path, "memory_swap"),
               "memory_swap (%s) must be at least memory (%s)", swap->s, mem->s);
    const struct zl_sval *gpu = get(res, "gpu");
    if (!gpu)
        return;
    const char *gp = sub(r, path, "gpu"), *sharing = str(get(gpu, "sharing"));
    if (zl_sval_uint(gpu, "count", 1) == 0)
        report(r, "R-23", get(gpu, "count"), gpu, sub(r, gp, "count"), "GPU count must be >= 1");
    if (get(gpu, "mode") && strcmp(str(get(gpu, "vendor")), "apple") != 0)
        report(r, "R-23", get(gpu, "mode"), gpu, sub(r, gp, "mode"),
               "mode applies only to vendor: apple");
    if ((get(gpu, "mps_pipe_dir") || get(gpu, "mps_log_dir")) && strcmp(sharing, "mps") != 0)
        report(r, "R-23", gpu, gpu, gp, "mps_pipe_dir and mps_log_dir apply only to sharing: mps");
    if ((get(gpu, "time_slice_index") || get(gpu, "time_slicing_config_path")) &&
        strcmp(sharing, "time-slice") != 0)
        report(r, "R-23", gpu, gpu, gp,
               "time_slice_index and time_slicing_config_path apply only to sharing: time-slice");
}

static bool expose_ok(const char *s)
{
    size_t d = strspn(s, "0123456789");
    if (d == 0 || d > 5)
        return false;
    long port = strtol(s, NULL, 10);
    if (port < 1 || port > 65535)
        return false;
    return s[d] == '\0' || strcmp(s + d, "/tcp") == 0 || strcmp(s + d, "/udp") == 0;
}

/* named_cert: the service names a certificate (zlayer.proxy/tls-certificate), which answers
 * the host of a tcp endpoint with stream.tls too */
static void check_endpoints(struct rctx *r, const struct zl_sval *eps, const char *path,
                            bool unique, bool named_cert)
{
    for (size_t i = 0; eps && i < eps->n; i++) {
        const struct zl_sval *ep = eps->items[i];
        const char *p = idx(r, path, i), *proto = str(get(ep, "protocol"));
        const struct zl_sval *name = get(ep, "name"), *port = get(ep, "port"),
                             *tp = get(ep, "target_port");
        if (!*str(name))
            report(r, "F-5", name, ep, sub(r, p, "name"), "endpoint name cannot be empty");
        if (port->u == 0)
            report(r, "F-6", port, ep, sub(r, p, "port"), "port must be between 1-65535");
        if (tp && tp->u == 0)
            report(r, "R-12", tp, ep, sub(r, p, "target_port"),
                   "target_port must be between 1-65535");
        bool l7 = !strcmp(proto, "http") || !strcmp(proto, "https") || !strcmp(proto, "websocket");
        const struct zl_sval *stream = get(ep, "stream");
        if (stream && l7)
            report(r, "R-12", stream, ep, sub(r, p, "stream"),
                   "stream options apply only to tcp and udp endpoints");
        if (stream && !strcmp(proto, "udp") && zl_sval_bool(stream, "tls", false))
            report(r, "R-12", get(stream, "tls"), ep, sub(r, sub(r, p, "stream"), "tls"),
                   "stream.tls applies only to tcp endpoints");
        bool tls_host = named_cert && !strcmp(proto, "tcp") && zl_sval_bool(stream, "tls", false);
        if (!l7 && (get(ep, "path") || (get(ep, "host") && !tls_host)))
            report(r, "R-12", get(ep, "path") ? get(ep, "path") : get(ep, "host"), ep,
                   sub(r, p, get(ep, "path") ? "path" : "host"),
                   "path and host routing apply only to http, https and websocket endpoints");
        for (size_t j = 0; unique && j < i; j++)
            if (strcmp(str(get(eps->items[j], "name")), str(name)) == 0 && *str(name)) {
                report(r, "X-2", name, ep, sub(r, p, "name"), "duplicate endpoint '%s'", str(name));
                break;
            }
    }
}

/* ---------------- per service ---------------- */

static void check_scale_groups(struct rctx *r, const struct zl_sval *svc, const char *path)
{
    const struct zl_sval *scale = get(svc, "scale");
    if (scale && !strcmp(str(get(scale, "mode")), "adaptive")) {
        uint64_t mn = zl_sval_uint(scale, "min", 0), mx = zl_sval_uint(scale, "max", 0);
        if (mn > mx)
            report(r, "F-7", get(scale, "min"), scale, sub(r, path, "scale"),
                   "scale min (%llu) cannot be greater than max (%llu)", (unsigned long long)mn,
                   (unsigned long long)mx);
        const struct zl_sval *t = get(scale, "targets");
        static const char *const pct[] = {"cpu", "memory"};
        for (size_t i = 0; t && i < 2; i++) {
            const struct zl_sval *v = get(t, pct[i]);
            if (v && (v->u < 1 || v->u > 100))
                report(r, "R-6", v, t, sub(r, sub(r, sub(r, path, "scale"), "targets"), pct[i]),
                       "%s target is a percentage, 1-100 (got %llu)", pct[i],
                       (unsigned long long)v->u);
        }
    }
    const struct zl_sval *groups = get(svc, "replica_groups");
    const char *gp = sub(r, path, "replica_groups");
    for (size_t i = 0; groups && i < groups->n; i++) {
        const struct zl_sval *g = groups->items[i], *role = get(g, "role"),
                             *count = get(g, "count");
        const char *p = idx(r, gp, i);
        if (!is_dns_label(str(role), 30))
            report(r, "F-9", role, g, sub(r, p, "role"),
                   "role must be a lowercase DNS label of 1-30 characters (got '%s')", str(role));
        if (count->u == 0)
            report(r, "F-10", count, g, sub(r, p, "count"), "count must be at least 1");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(str(get(groups->items[j], "role")), str(role))) {
                report(r, "R-1", role, g, sub(r, p, "role"), "role '%s' is used twice", str(role));
                break;
            }
        check_resources(r, get(g, "resources"), sub(r, p, "resources"));
    }
    const struct zl_sval *eps = get(svc, "endpoints");
    for (size_t i = 0; eps && i < eps->n; i++) {
        const struct zl_sval *tr = get(eps->items[i], "target_role");
        if (!tr)
            continue;
        bool found = false;
        for (size_t j = 0; groups && j < groups->n && !found; j++)
            found = !strcmp(str(get(groups->items[j], "role")), tr->s);
        if (!found)
            report(r, "R-2", tr, eps->items[i],
                   sub(r, idx(r, sub(r, path, "endpoints"), i), "target_role"),
                   "target_role '%s' names no role of this service's replica_groups", tr->s);
    }
}

static void check_schedule(struct rctx *r, const struct zl_sval *svc, const char *path)
{
    const struct zl_sval *sched = get(svc, "schedule"), *rtype = get(svc, "rtype");
    bool cron = !strcmp(str(rtype), "cron");
    if (sched && !cron)
        report(r, "X-3", sched, svc, sub(r, path, "schedule"),
               "schedule field is only valid for rtype: cron");
    if (!sched && cron)
        report(r, "X-4", rtype, svc, sub(r, path, "schedule"),
               "rtype: cron requires a schedule field");
}

/* Capabilities each WASM world provides (SPEC-v1 5.22), in the order X-11 checks them. */
static const char *const caps[] = {"config",      "keyvalue", "logging",    "secrets", "metrics",
                                   "http_client", "cli",      "filesystem", "sockets"};
static const struct {
    const char *type;
    const char *provides; /* one char per cap: y/n */
} worlds[] = {
    {"wasm_http", "yyynnynnn"},          {"wasm_router", "yyynnynnn"},
    {"wasm_plugin", "yyyyyyyyn"},        {"wasm_transformer", "nnynnnynn"},
    {"wasm_authenticator", "ynyynynnn"}, {"wasm_rate_limiter", "yyynynynn"},
    {"wasm_middleware", "ynynnynnn"},
};

static void check_wasm(struct rctx *r, const struct zl_sval *svc, const char *path)
{
    const char *type = str(get(svc, "service_type"));
    const struct zl_sval *wasm = get(svc, "wasm");
    const char *wp = sub(r, path, "wasm");
    bool is_wasm = !strncmp(type, "wasm_", 5);
    if (wasm && !is_wasm) {
        report(r, "X-8", wasm, svc, wp,
               "wasm config provided but service_type is not a WASM type (it is '%s')", type);
        return;
    }
    const char *provides = NULL;
    for (size_t i = 0; i < ZL_ARRAY_LEN(worlds); i++)
        if (!strcmp(worlds[i].type, type))
            provides = worlds[i].provides;
    const struct zl_sval *eps = get(svc, "endpoints");
    if (!strcmp(type, "wasm_http") && eps && eps->n > 0) {
        bool http = false;
        for (size_t i = 0; i < eps->n; i++) {
            const char *proto = str(get(eps->items[i], "protocol"));
            http = http || !strcmp(proto, "http") || !strcmp(proto, "https");
        }
        if (!http)
            report(r, wasm ? "X-12" : "R-19", eps, svc, sub(r, path, "endpoints"),
                   "wasm_http service type should have at least one HTTP endpoint");
    }
    if (!wasm)
        return;
    uint64_t mn = zl_sval_uint(wasm, "min_instances", 0),
             mx = zl_sval_uint(wasm, "max_instances", 10);
    if (mn > mx)
        report(r, "X-10", get(wasm, "min_instances"), wasm, wp,
               "wasm min_instances (%llu) > max_instances (%llu)", (unsigned long long)mn,
               (unsigned long long)mx);
    const struct zl_sval *cs = get(wasm, "capabilities");
    for (size_t i = 0; cs && provides && i < ZL_ARRAY_LEN(caps); i++) {
        const struct zl_sval *c = get(cs, caps[i]);
        if (c && c->b && provides[i] == 'n') {
            report(r, "X-11", c->written ? c : cs, wasm,
                   sub(r, sub(r, wp, "capabilities"), caps[i]),
                   "capability '%s' is not available for WASM service type '%s'", caps[i], type);
            if (!c->written)
                add_hint(r, zl_arena_printf(r->a,
                                            "capabilities left out of the block default to "
                                            "true for config, keyvalue, logging and metrics: "
                                            "write `%s: false`",
                                            caps[i]));
        }
    }
    const struct zl_sval *secrets = get(wasm, "secrets");
    if (secrets && secrets->n && provides && provides[3] == 'n')
        report(r, "R-25", secrets, wasm, sub(r, wp, "secrets"),
               "service type '%s' cannot read secrets", type);
    const struct zl_sval *pre = get(wasm, "preopens");
    for (size_t i = 0; pre && i < pre->n; i++) {
        const char *pp = idx(r, sub(r, wp, "preopens"), i);
        if (!*str(get(pre->items[i], "source")))
            report(r, "X-13", get(pre->items[i], "source"), pre->items[i], sub(r, pp, "source"),
                   "wasm preopen[%zu].source cannot be empty", i);
        if (!*str(get(pre->items[i], "target")))
            report(r, "X-14", get(pre->items[i], "target"), pre->items[i], sub(r, pp, "target"),
                   "wasm preopen[%zu].target cannot be empty", i);
    }
}

static void check_health(struct rctx *r, const struct zl_sval *h, const char *path)
{
    const struct zl_sval *chk = h ? get(h, "check") : NULL;
    if (!chk || strcmp(str(get(chk, "type")), "http") != 0)
        return;
    const struct zl_sval *url = get(chk, "url");
    if (strncmp(str(url), "http://", 7) != 0 && strncmp(str(url), "https://", 8) != 0) {
        report(r, "R-24", url, chk, sub(r, sub(r, path, "check"), "url"),
               "url must be an absolute http:// or https:// URL (got '%s')", str(url));
        add_hint(r, "write `url: http://localhost:8080/health`; localhost means the container");
    }
}

/* The host of a backend "host:port" as written is host (case aside)? */
static bool backend_host_is(const char *backend, const char *host)
{
    const char *colon = strrchr(backend, ':');
    size_t n = colon ? (size_t)(colon - backend) : strlen(backend);
    return n && n == strlen(host) && !strncasecmp(backend, host, n);
}

/* D-8: an external's check runs from the node against each of its backends (docs/proxy.md),
 * so it must be one that can: a command with something in it; an http url the checker can
 * reach: plain HTTP, its host localhost (each backend), one of the backends' hosts or an IPv4
 * address. */
static void check_external_health(struct rctx *r, const struct zl_sval *e, const char *path)
{
    const struct zl_sval *h = get(e, "health"), *chk = h ? get(h, "check") : NULL;
    if (!chk)
        return;
    const char *type = str(get(chk, "type")), *cp = sub(r, path, "check");
    if (!strcmp(type, "command")) {
        const struct zl_sval *c = get(chk, "command");
        if (strspn(str(c), " \t\r\n") == strlen(str(c)))
            report(r, "D-8", c, chk, sub(r, cp, "command"),
                   "the command is empty: there is nothing to run");
        return;
    }
    if (strcmp(type, "http") != 0)
        return;
    const struct zl_sval *url = get(chk, "url"), *bs = get(e, "backends");
    char host[256];
    unsigned port;
    const char *why;
    zl_autofree char *rest = NULL;
    if (zl_spec_check_url_parse(str(url), host, sizeof(host), &port, &rest, &why) < 0) {
        report(r, "D-8", url, chk, sub(r, cp, "url"), "%s (got '%s')", why, str(url));
        add_hint(r, "write `url: http://localhost/health`: localhost means each backend, at its "
                    "own port");
        return;
    }
    struct in_addr a;
    if (!strcmp(host, "localhost") || inet_pton(AF_INET, host, &a) == 1)
        return;
    for (size_t i = 0; bs && i < bs->n; i++)
        if (backend_host_is(str(bs->items[i]), host))
            return;
    report(r, "D-8", url, chk, sub(r, cp, "url"),
           "the check runs from the node: host '%s' must be localhost (each backend), one of the "
           "backends' hosts or an IPv4 address",
           host);
}

static void check_storage(struct rctx *r, const struct zl_sval *svc, const char *path)
{
    const struct zl_sval *st = get(svc, "storage");
    for (size_t i = 0; st && i < st->n; i++) {
        const struct zl_sval *m = st->items[i];
        const char *p = idx(r, sub(r, path, "storage"), i), *type = str(get(m, "type"));
        const struct zl_sval *name = get(m, "name"), *mode = get(m, "mode");
        if (!strcmp(type, "named")) {
            const char *s = str(name);
            size_t n = strlen(s);
            bool ok = n > 0 && n <= 63 && s[0] != '-' && s[n - 1] != '-' &&
                      strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
            if (!ok)
                report(r, "R-4", name, m, sub(r, p, "name"),
                       "volume name must be lowercase letters, digits and '-', 1-63 characters, "
                       "not starting or ending with '-' (got '%s')",
                       s);
        }
        if (mode && mode->u > 07777)
            report(r, "R-15", mode, m, sub(r, p, "mode"), "mode %llu is above 0o7777",
                   (unsigned long long)mode->u);
        else if (mode && mode->written && mode->u > 7 && mode->s &&
                 isdigit((unsigned char)mode->s[0]) && (mode->s[0] != '0' || !mode->s[1])) {
            char dec[32];
            snprintf(dec, sizeof(dec), "%llu", (unsigned long long)mode->u);
            /* `mode: 1777` is decimal 1777 = 0o3361; the author meant 0o1777 */
            if (strspn(dec, "01234567") == strlen(dec)) {
                report(r, "R-15", mode, m, sub(r, p, "mode"),
                       "mode %s is a decimal number (octal 0o%llo)", dec,
                       (unsigned long long)mode->u);
                add_hint(r, zl_arena_printf(r->a, "write `mode: 0o%s` for octal", dec));
            }
        }
    }
    const struct zl_sval *dev = get(svc, "devices");
    for (size_t i = 0; dev && i < dev->n; i++) {
        const struct zl_sval *pth = get(dev->items[i], "path");
        if (str(pth)[0] != '/')
            report(r, "R-14", pth, dev->items[i],
                   sub(r, idx(r, sub(r, path, "devices"), i), "path"),
                   "device path must be an absolute path (got '%s')", str(pth));
    }
    const struct zl_sval *ul = get(svc, "ulimits");
    for (size_t i = 0; ul && i < ul->n; i++) {
        const struct zl_sval *o = ul->items[i], *s = o->items[0], *h = o->items[1];
        if (s && h && s->written && h->written && s->i > h->i)
            report(r, "R-16", s, o, sub(r, sub(r, path, "ulimits"), ul->keys[i]),
                   "soft limit (%lld) is above the hard limit (%lld)", (long long)s->i,
                   (long long)h->i);
    }
}

static bool ident(const char *s, bool dash)
{
    if (!isalpha((unsigned char)s[0]) && (dash || s[0] != '_'))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && !(dash && *s == '-'))
            return false;
    return true;
}

/* `$S:` forms of SPEC-v1 2.8: name, name/field, @svc/name[/field], :env/name[/field],
 * proj:env/name[/field]. */
static bool secret_ref_ok(const char *s)
{
    char buf[512];
    if (strlen(s) >= sizeof(buf) || !*s)
        return false;
    strcpy(buf, s);
    char *rest = buf;
    if (*rest == '@') {
        char *slash = strchr(rest, '/');
        if (!slash || slash == rest + 1)
            return false;
        rest = slash + 1;
    } else {
        char *colon = strchr(rest, ':');
        char *slash = strchr(rest, '/');
        if (colon && (!slash || colon < slash)) {
            if (!slash || slash == colon + 1)
                return false;
            rest = slash + 1;
        }
    }
    if (strchr(rest, ':'))
        return false;
    char *slash = strchr(rest, '/');
    if (!slash)
        return *rest != '\0';
    return slash != rest && slash[1] && !strchr(slash + 1, '/');
}

static void check_env(struct rctx *r, const struct zl_sval *env, const char *path)
{
    for (size_t i = 0; env && i < env->n; i++) {
        const char *k = env->keys[i], *v = str(env->items[i]), *p = sub(r, path, k);
        if (!ident(k, false))
            report(r, "R-3", env->items[i], env, p,
                   "'%s' is not a portable variable name ([A-Za-z_][A-Za-z0-9_]*)", k);
        if (!strncmp(v, "$E:", 3) && !ident(v + 3, false))
            report(r, "R-3", env->items[i], env, p, "'%s' does not name an environment variable",
                   v);
        else if (!strncmp(v, "$S:", 3) && !secret_ref_ok(v + 3))
            report(r, "R-3", env->items[i], env, p, "malformed secret reference '%s'", v);
        else if (strncmp(v, "$E:", 3) && strncmp(v, "$S:", 3) &&
                 (strstr(v, "$E:") || strstr(v, "$S:"))) {
            report(r, "R-3", env->items[i], env, p,
                   "$E:/$S: are replaced only when they start the value; here it stays literal");
            add_hint(r, "pass the whole value as $E:NAME or as a secret");
        }
    }
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void check_net(struct rctx *r, const struct zl_sval *svc, const char *path)
{
    const struct zl_sval *dns = get(svc, "dns"), *hosts = get(svc, "extra_hosts"),
                         *expose = get(svc, "expose"), *pm = get(svc, "port_mappings");
    for (size_t i = 0; dns && i < dns->n; i++)
        if (!is_ip(str(dns->items[i])))
            report(r, "R-5", dns->items[i], dns, idx(r, sub(r, path, "dns"), i),
                   "'%s' is not an IP address", str(dns->items[i]));
    for (size_t i = 0; hosts && i < hosts->n; i++) {
        const char *h = str(hosts->items[i]), *colon = strchr(h, ':');
        if (!colon || colon == h || (!is_ip(colon + 1) && strcmp(colon + 1, "host-gateway")))
            report(r, "R-5", hosts->items[i], hosts, idx(r, sub(r, path, "extra_hosts"), i),
                   "'%s' is not NAME:IP (IP may be host-gateway)", h);
    }
    for (size_t i = 0; expose && i < expose->n; i++)
        if (!expose_ok(str(expose->items[i])))
            report(r, "R-12", expose->items[i], expose, idx(r, sub(r, path, "expose"), i),
                   "'%s' is not PORT or PORT/tcp or PORT/udp", str(expose->items[i]));
    for (size_t i = 0; pm && i < pm->n; i++) {
        const struct zl_sval *cp = get(pm->items[i], "container_port");
        if (cp->u == 0)
            report(r, "R-12", cp, pm->items[i],
                   sub(r, idx(r, sub(r, path, "port_mappings"), i), "container_port"),
                   "container_port must be between 1-65535");
    }
    const struct zl_sval *ov = zl_sval_path(svc, "network.overlays");
    if (ov && ov->written) {
        for (size_t i = 0; i < 2; i++)
            if (ov->items[i] && !ov->items[i]->written)
                report(r, "R-17", ov, ov, sub(r, sub(r, path, "network"), "overlays"),
                       "overlays.%s is left out, so that overlay is disabled", ov->keys[i]);
    }
    const struct zl_sval *rp = get(svc, "restart_policy");
    if (rp && get(rp, "max_attempts") && strcmp(str(get(rp, "kind")), "on_failure"))
        report(r, "R-21", get(rp, "max_attempts"), rp,
               sub(r, sub(r, path, "restart_policy"), "max_attempts"),
               "max_attempts applies only to kind: on_failure");
}

/* ---------------- dependencies and init (D rules) ---------------- */

static void check_depends(struct rctx *r, const struct zl_sval *svc, const char *name,
                          const char *path)
{
    const struct zl_sval *deps = get(svc, "depends");
    for (size_t i = 0; deps && i < deps->n; i++) {
        const struct zl_sval *s = get(deps->items[i], "service");
        const char *p = sub(r, idx(r, sub(r, path, "depends"), i), "service");
        if (!zl_index_get(&r->by_name, str(s), NULL))
            report(r, "X-1", s, deps->items[i], p, "dependency references unknown service '%s'",
                   str(s));
        else if (!strcmp(str(s), name))
            report(r, "D-1", s, deps->items[i], p, "service '%s' has a self-dependency", name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(str(get(deps->items[j], "service")), str(s))) {
                report(r, "R-16", s, deps->items[i], p, "'%s' is listed twice", str(s));
                break;
            }
    }
}

/* Three-colour DFS over services in document order; each cycle is reported once. */
static void dfs(struct rctx *r, size_t u, char *colour, size_t *stack, size_t depth)
{
    if (depth >= 100000)
        return; /* deeper than any real spec; the node budget keeps us far from here */
    colour[u] = 1;
    stack[depth] = u;
    const struct zl_sval *deps = get(r->services->items[u], "depends");
    for (size_t i = 0; deps && i < deps->n; i++) {
        const char *to = str(get(deps->items[i], "service"));
        size_t v;
        if (!zl_index_get(&r->by_name, to, &v) || v == u)
            continue; /* X-1 / D-1 */
        if (colour[v] == 1) {
            struct zl_buf b;
            zl_buf_init(&b);
            size_t start = depth;
            while (stack[start] != v)
                start--;
            for (size_t k = start; k <= depth; k++)
                zl_buf_printf(&b, "%s -> ", r->services->keys[stack[k]]);
            zl_buf_puts(&b, to);
            const struct zl_sval *at = get(deps->items[i], "service");
            report(r, "D-2", at, deps->items[i], "services", "cyclic dependency detected: %s",
                   b.data);
            zl_buf_fini(&b);
        } else if (colour[v] == 0) {
            dfs(r, v, colour, stack, depth + 1);
        }
    }
    colour[u] = 2;
}

static void check_cycles(struct rctx *r)
{
    size_t n = r->services->n;
    char *colour = zl_xcalloc(n ? n : 1, 1);
    size_t *stack = zl_xcalloc(n ? n : 1, sizeof(*stack));
    for (size_t u = 0; u < n; u++)
        if (!colour[u])
            dfs(r, u, colour, stack, 0);
    free(colour);
    free(stack);
}

struct action {
    const char *name;
    const char *req[3];   /* required parameters */
    const char *req_kind; /* per required parameter: s = string, i = integer (port) */
    const char *opt[4];
};

static const struct action actions[] = {
    {"init.wait_tcp", {"host", "port"}, "si", {"timeout"}},
    {"init.wait_http", {"url"}, "s", {"expect_status", "timeout"}},
    {"init.run", {"command"}, "s", {"timeout"}},
    {"init.s3_pull", {"bucket", "key", "destination"}, "sss", {"endpoint", "region", "timeout"}},
    {"init.s3_push", {"source", "bucket", "key"}, "sss", {"endpoint", "region", "timeout"}},
};

static const struct {
    const char *old, *now;
} renamed[] = {
    {"init.exec", "init.run"},
    {"command", "init.run"},
    {"exec", "init.run"},
    {"tcp_wait", "init.wait_tcp"},
    {"http_probe", "init.wait_http"},
    {"s3_pull", "init.s3_pull"},
    {"s3_push", "init.s3_push"},
    {"wait_tcp", "init.wait_tcp"},
    {"wait_http", "init.wait_http"},
    {"run", "init.run"},
};

static const struct zl_ynode *with_param(const struct zl_sval *with, const char *key)
{
    const struct zl_sval *v = get(with, key);
    return v ? v->yaml : NULL;
}

static void check_with(struct rctx *r, const struct action *a, const struct zl_sval *step,
                       const char *p)
{
    const struct zl_sval *with = get(step, "with");
    const char *wp = sub(r, p, "with");
    for (size_t i = 0; i < 3 && a->req[i]; i++) {
        const struct zl_ynode *v = with_param(with, a->req[i]);
        bool ok = v && v->kind == ZL_Y_SCALAR;
        bool neg = false;
        uint64_t port = 0;
        if (ok && a->req_kind[i] == 'i')
            ok = zl_spec__core_of(v) == CORE_INT && zl_spec__parse_int(v->text, &neg, &port) == 0 &&
                 !neg && port >= 1 && port <= 65535;
        else if (ok)
            ok = zl_spec__core_of(v) == CORE_STR && v->len > 0; /* quote numbers: "2024" */
        if (!ok)
            report(r, "D-4", get(with, a->req[i]), step, sub(r, wp, a->req[i]),
                   "init action '%s' missing or invalid parameter '%s'%s", a->name, a->req[i],
                   a->req_kind[i] == 'i' ? " (an integer port 1-65535)" : "");
    }
    for (size_t i = 0; i < 4 && a->opt[i]; i++) {
        const struct zl_ynode *v = with_param(with, a->opt[i]);
        bool num = !strcmp(a->opt[i], "timeout") || !strcmp(a->opt[i], "expect_status");
        if (v && num && zl_spec__core_of(v) != CORE_INT) {
            report(r, "D-4", get(with, a->opt[i]), step, sub(r, wp, a->opt[i]),
                   "init action '%s' parameter '%s' must be an integer%s", a->name, a->opt[i],
                   !strcmp(a->opt[i], "timeout") ? " number of seconds" : "");
            if (!strcmp(a->opt[i], "timeout"))
                add_hint(r, "`with.timeout` is whole seconds (`timeout: 60`); the step's own "
                            "`timeout:` takes a duration such as 60s");
        }
    }
    for (size_t i = 0; with && i < with->n; i++) {
        bool known = false;
        for (size_t k = 0; k < 3 && a->req[k]; k++)
            known = known || !strcmp(with->keys[i], a->req[k]);
        for (size_t k = 0; k < 4 && a->opt[k]; k++)
            known = known || !strcmp(with->keys[i], a->opt[k]);
        if (!known)
            report(r, "R-18", with->items[i], step, sub(r, wp, with->keys[i]),
                   "init action '%s' has no parameter '%s'", a->name, with->keys[i]);
    }
}

static void check_init(struct rctx *r, const struct zl_sval *svc, const char *path)
{
    const struct zl_sval *steps = zl_sval_path(svc, "init.steps");
    for (size_t i = 0; steps && i < steps->n; i++) {
        const struct zl_sval *step = steps->items[i], *uses = get(step, "uses");
        const char *p = idx(r, sub(r, sub(r, path, "init"), "steps"), i);
        const struct action *a = NULL;
        for (size_t k = 0; k < ZL_ARRAY_LEN(actions); k++)
            if (!strcmp(actions[k].name, str(uses)))
                a = &actions[k];
        if (!a) {
            report(r, "D-3", uses, step, sub(r, p, "uses"), "unknown init action '%s'", str(uses));
            for (size_t k = 0; k < ZL_ARRAY_LEN(renamed); k++)
                if (!strcmp(renamed[k].old, str(uses)))
                    add_hint(r, zl_arena_printf(r->a, "write `uses: %s`", renamed[k].now));
        } else {
            check_with(r, a, step, p);
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(str(get(steps->items[j], "id")), str(get(step, "id")))) {
                report(r, "R-16", get(step, "id"), step, sub(r, p, "id"),
                       "step id '%s' is used twice", str(get(step, "id")));
                break;
            }
    }
}

/* D-9 and R-26: certificates named by the labels zlayer.proxy/tls-certificate and
 * zlayer.proxy/tls-key (docs/proxy.md): absolute paths to files the daemon reads at deploy;
 * no secret references (there is no secrets store yet); a key only beside a certificate; used
 * by an https endpoint or a tcp one with stream.tls (else a warning). The files themselves are
 * checked by the daemon at deploy. */
static void check_tls_labels(struct rctx *r, const struct zl_sval *svc, const char *path)
{
    static const char *const keys[] = {"zlayer.proxy/tls-certificate", "zlayer.proxy/tls-key"};
    const struct zl_sval *l = get(svc, "labels"), *at[2] = {NULL, NULL};
    const char *lp = sub(r, path, "labels");
    for (size_t i = 0; l && l->kind == ZL_SV_MAP && i < l->n; i++)
        for (int k = 0; k < 2; k++) {
            if (strcmp(l->keys[i], keys[k]) != 0)
                continue;
            const struct zl_sval *v = l->items[i];
            const char *s = str(v), *p = sub(r, lp, keys[k]);
            at[k] = v ? v : l;
            if (!strncmp(s, "$S:", 3)) {
                report(r, "D-9", v, l, p,
                       "secrets are not available yet: '%s' cannot be read from a secrets store",
                       s);
                add_hint(
                    r, "name a file on the node: an absolute path such as /etc/zlayer/tls/app.pem");
            } else if (s[0] != '/') {
                report(r, "D-9", v, l, p,
                       "must be an absolute path to a PEM file on the node (got '%s')", s);
                add_hint(r, "write an absolute path such as /etc/zlayer/tls/app.pem");
            }
        }
    if (at[1] && !at[0])
        report(r, "D-9", at[1], l, sub(r, lp, keys[1]),
               "a key without a certificate: name the certificate with %s", keys[0]);
    if (!at[0])
        return;
    const struct zl_sval *eps = get(svc, "endpoints");
    for (size_t i = 0; eps && i < eps->n; i++) {
        const char *proto = str(get(eps->items[i], "protocol"));
        const struct zl_sval *tls = zl_sval_path(eps->items[i], "stream.tls");
        if (!strcmp(proto, "https") || (!strcmp(proto, "tcp") && tls && tls->b))
            return;
    }
    report(r, "R-26", at[0], l, sub(r, lp, keys[0]),
           "the service has no https endpoint nor tcp endpoint with stream.tls: the certificate "
           "is not used");
}

/* ---------------- the document ---------------- */

static void check_service(struct rctx *r, struct zl_sval *svc, const char *name)
{
    const char *path = sub(r, "services", name);
    fill_ulimits(r, svc);
    fold_host_network(r, svc, path);
    if (!is_dns_label(name, 63))
        report(r, "R-11", svc, svc, path,
               "service name '%s' is not a DNS label (lowercase letters, digits, '-', 1-63 "
               "characters, starting with a letter)",
               name);
    check_resources(r, get(svc, "resources"), sub(r, path, "resources"));
    const struct zl_sval *labels = get(svc, "labels");
    bool named_cert = false;
    for (size_t i = 0; labels && labels->kind == ZL_SV_MAP && i < labels->n; i++)
        named_cert |= !strcmp(labels->keys[i], "zlayer.proxy/tls-certificate");
    check_endpoints(r, get(svc, "endpoints"), sub(r, path, "endpoints"), true, named_cert);
    fill_target_ports((struct zl_sval *)get(svc, "endpoints"));
    check_scale_groups(r, svc, path);
    check_schedule(r, svc, path);
    check_wasm(r, svc, path);
    check_health(r, get(svc, "health"), sub(r, path, "health"));
    check_storage(r, svc, path);
    check_env(r, get(svc, "env"), sub(r, path, "env"));
    const struct zl_sval *groups = get(svc, "replica_groups");
    for (size_t i = 0; groups && i < groups->n; i++)
        check_env(r, get(groups->items[i], "env"),
                  sub(r, idx(r, sub(r, path, "replica_groups"), i), "env"));
    check_net(r, svc, path);
    check_depends(r, svc, name, path);
    check_init(r, svc, path);
    check_tls_labels(r, svc, path);
}

static void check_externals_tunnels(struct rctx *r, const struct zl_sval *root)
{
    const struct zl_sval *ext = get(root, "externals"), *tun = get(root, "tunnels");
    for (size_t i = 0; ext && i < ext->n; i++) {
        const char *p = sub(r, "externals", ext->keys[i]);
        const struct zl_sval *e = ext->items[i], *b = get(e, "backends");
        if (b->n == 0)
            report(r, "F-11", b, e, sub(r, p, "backends"),
                   "at least one backend address is required");
        check_endpoints(r, get(e, "endpoints"), sub(r, p, "endpoints"), false, false);
        fill_target_ports((struct zl_sval *)get(e, "endpoints"));
        check_external_health(r, e, sub(r, p, "health"));
        if (!is_dns_label(ext->keys[i], 63))
            report(r, "R-11", e, e, p, "external name '%s' is not a DNS label", ext->keys[i]);
    }
    for (size_t i = 0; tun && i < tun->n; i++) {
        const char *p = sub(r, "tunnels", tun->keys[i]);
        const struct zl_sval *t = tun->items[i], *lp = get(t, "local_port"),
                             *rp = get(t, "remote_port");
        if (lp->u == 0)
            report(r, "X-5", lp, t, sub(r, p, "local_port"),
                   "invalid tunnel local_port: 0 (must be 1-65535)");
        if (rp->u == 0)
            report(r, "X-6", rp, t, sub(r, p, "remote_port"),
                   "invalid tunnel remote_port: 0 (must be 1-65535)");
        if (!is_dns_label(tun->keys[i], 63))
            report(r, "R-11", t, t, p, "tunnel name '%s' is not a DNS label", tun->keys[i]);
    }
}

void zl_spec__validate(struct zl_sval *root, struct zl_arena *a, struct zl_diags *d, bool strict)
{
    struct rctx r = {.d = d, .a = a, .strict = strict, .services = get(root, "services")};
    check_top(&r, root);
    struct zl_sval *svcs = (struct zl_sval *)r.services;
    zl_index_init(&r.by_name, svcs->n);
    for (size_t i = 0; i < svcs->n; i++)
        zl_index_put(&r.by_name, svcs->keys[i], i, NULL);
    for (size_t i = 0; i < svcs->n; i++)
        check_service(&r, svcs->items[i], svcs->keys[i]);
    check_externals_tunnels(&r, root);
    check_cycles(&r);
    zl_index_fini(&r.by_name);
}
