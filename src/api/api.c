/* SPDX-License-Identifier: Apache-2.0 */
/* api/api.c: routes and handlers of the REST API. Handlers run on the loop thread and only
 * read files, the state database and the runtime's state: the reconciler does the work. */
#include "api/internal.h"
#include "agent/agent.h"
#include "http/http.h"
#include "obs/obs.h"
#include "runtime/runtime.h"
#include "spec/spec.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define API "/api/v1"

static void reply_json(struct zl_http_req *r, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2));
    zl_http_respond(r, status, "application/json", text, strlen(text));
    free(text);
    json_decref(j);
}

/* Path segments after a prefix: "/api/v1/deployments/x/services" -> ["x", "services"]. */
static size_t segments(const char *path, const char *prefix, char seg[4][256])
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0 || (path[n] && path[n] != '/'))
        return (size_t)-1;
    size_t k = 0;
    for (const char *p = path + n; *p && k < 4;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        snprintf(seg[k++], 256, "%.*s", (int)(len < 255 ? len : 255), p);
        p += len;
    }
    return k;
}

/* ---------------- containers as the runtime sees them ---------------- */

json_t *zl_api__containers(struct zl_api *a, const char *dep, const char *svc)
{
    json_t *out = json_array();
    char *list = NULL;
    struct zl_err err;
    if (zl_runtime_list_json(a->rt_root, &list, &err) < 0)
        return out;
    json_t *arr = json_loads(list, 0, NULL);
    free(list);
    /* one read of each container's state: the list carries status, pid and annotations */
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *c = json_array_get(arr, i), *ann = json_object_get(c, "annotations");
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *d = json_string_value(json_object_get(ann, "io.zlayer.deployment"));
        const char *s = json_string_value(json_object_get(ann, "io.zlayer.service"));
        if (!id || !d || !s || (dep && strcmp(dep, d) != 0) || (svc && strcmp(svc, s) != 0))
            continue;
        json_t *h = a->health_json ? a->health_json(a->health_arg, id) : NULL;
        const char *rev = json_string_value(json_object_get(ann, "io.zlayer.revision"));
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:o, s:I}", "id", id, "deployment",
                           d, "service", s, "replica", json_object_get(ann, "io.zlayer.replica"),
                           "status", json_object_get(c, "status"), "pid", json_object_get(c, "pid"),
                           "exit_code", json_object_get(c, "exit_code"), "health",
                           h ? h : json_pack("{s:s}", "status", "none"), "revision",
                           (json_int_t)(rev ? strtoll(rev, NULL, 10) : 0)));
        json_t *net = a->net_json ? a->net_json(a->containers_dir, id) : NULL;
        if (net)
            json_object_set_new(json_array_get(out, json_array_size(out) - 1), "network", net);
    }
    json_decref(arr);
    return out;
}

static unsigned count_running(json_t *cs)
{
    unsigned n = 0;
    for (size_t i = 0; i < json_array_size(cs); i++)
        n +=
            !strcmp(json_string_value(json_object_get(json_array_get(cs, i), "status")), "running");
    return n;
}

/* A service's health from its replicas': "unhealthy: ID: OUTPUT" when one is unhealthy,
 * "healthy" when every one runs and is healthy (or unchecked), else "unknown"; *ready gets
 * how many are ready. Caller frees. */
static char *service_health(json_t *cs, unsigned *ready)
{
    char *bad = NULL;
    *ready = 0;
    for (size_t i = 0; i < json_array_size(cs); i++) {
        json_t *c = json_array_get(cs, i), *h = json_object_get(c, "health");
        const char *hs = json_string_value(json_object_get(h, "status"));
        bool running = !strcmp(json_string_value(json_object_get(c, "status")), "running");
        if (running && hs && (!strcmp(hs, "healthy") || !strcmp(hs, "none")))
            ++*ready;
        if (!bad && hs && !strcmp(hs, "unhealthy"))
            bad = zl_xasprintf("unhealthy: %s: %s", json_string_value(json_object_get(c, "id")),
                               json_string_value(json_object_get(h, "output")));
    }
    if (bad)
        return bad;
    return zl_xstrdup(*ready && *ready == json_array_size(cs) ? "healthy" : "unknown");
}

/* ---------------- deployments ---------------- */

/* One service of deployment dep: its spec (svc) and its replicas. */
static json_t *service_json(struct zl_api *a, const char *dep, const char *name,
                            const struct zl_sval *svc)
{
    json_t *cs = zl_api__containers(a, dep, name);
    unsigned ready = 0;
    char *health = service_health(cs, &ready);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:o}", "name", name, "image",
                  zl_sval_str(svc, "image.name", ""), "rtype", zl_sval_str(svc, "rtype", "service"),
                  "replicas_running", (int)count_running(cs), "replicas_ready", (int)ready,
                  "replicas", (int)json_array_size(cs), "health", health, "containers", cs);
    free(health);
    return j;
}

/* Every service of d, or (svc not NULL) that one alone as an object, with its metrics: NULL
 * when d has no such service. */
static json_t *services_of(struct zl_api *a, const struct zl_store_deployment *d, const char *svc)
{
    json_t *out = svc ? NULL : json_array();
    struct zl_spec *spec = NULL;
    struct zl_diags *diags = NULL;
    if (zl_spec_load(d->name, d->spec, strlen(d->spec), NULL, &spec, &diags) == 0) {
        const struct zl_sval *svcs = zl_sval_get(zl_spec_root(spec), "services");
        for (size_t i = 0; svcs && i < svcs->n; i++) {
            if (!svc) {
                json_array_append_new(out, service_json(a, d->name, svcs->keys[i], svcs->items[i]));
            } else if (!strcmp(svcs->keys[i], svc)) {
                /* what the proxy sees of it (the autoscaler's rps); empty without endpoints */
                json_t *m =
                    a->service_metrics ? a->service_metrics(a->proxy_arg, d->name, svc) : NULL;
                out = service_json(a, d->name, svcs->keys[i], svcs->items[i]);
                json_object_set_new(out, "metrics", m ? m : json_object());
                break;
            }
        }
    }
    zl_diags_free(diags);
    zl_spec_free(spec);
    return out;
}

static json_t *deployment_json(struct zl_api *a, const struct zl_store_deployment *d, bool full)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I}", "name", d->name, "status", d->status,
                          "revision", (json_int_t)d->revision, "created_at", (json_int_t)d->created,
                          "updated_at", (json_int_t)d->updated);
    if (full)
        json_object_set_new(j, "services", services_of(a, d, NULL));
    return j;
}

/* POST /api/v1/deployments: {"spec": YAML, "env": {...}} or the YAML itself. */
/* A host port that another service already publishes: 409 (or 400 within the spec itself),
 * naming the field and its line. True when the request was answered. */
static bool port_conflict(struct zl_api *a, struct zl_http_req *r, const struct zl_spec *spec)
{
    static const char *const kinds[] = {"services", "externals"};
    const struct zl_sval *root = zl_spec_root(spec);
    const char *name = zl_spec_deployment(spec);
    struct zl_port_clash c;
    struct zl_err err;
    /* within the spec: services and externals, each against each */
    for (int m = 0; m < 2; m++)
        for (int t = 0; t < 2; t++) {
            const struct zl_sval *mine = zl_sval_get(root, kinds[m]),
                                 *theirs = zl_sval_get(root, kinds[t]);
            if (mine && theirs && zl_agent_port_clash(mine, theirs, m == t ? NULL : "", &c)) {
                zl_http_respond_error(r, 400, "validation_error", NULL,
                                      "spec:%d: %s.%s.%s[%zu]: %s is also published by %s %s",
                                      c.line, kinds[m], c.service, c.field, c.index, c.what,
                                      t ? "external" : "service", c.other_service);
                return true;
            }
        }
    struct zl_store_deployment *deps = NULL;
    size_t n = 0;
    bool answered = false;
    if (zl_store_deployment_list(a->db, &deps, &n, &err) < 0)
        n = 0;
    for (size_t i = 0; i < n && !answered; i++) {
        struct zl_spec *other = NULL;
        struct zl_diags *d = NULL;
        if (strcmp(deps[i].name, name) != 0 &&
            zl_spec_load(deps[i].name, deps[i].spec, strlen(deps[i].spec), NULL, &other, &d) == 0)
            for (int m = 0; m < 2 && !answered; m++)
                for (int t = 0; t < 2 && !answered; t++) {
                    const struct zl_sval *mine = zl_sval_get(root, kinds[m]),
                                         *theirs = zl_sval_get(zl_spec_root(other), kinds[t]);
                    if (!mine || !theirs || !zl_agent_port_clash(mine, theirs, deps[i].name, &c))
                        continue;
                    zl_http_respond_error(r, 409, "conflict", NULL,
                                          "spec:%d: %s.%s.%s[%zu]: %s is already published by "
                                          "deployment %s, %s %s",
                                          c.line, kinds[m], c.service, c.field, c.index, c.what,
                                          deps[i].name, t ? "external" : "service",
                                          c.other_service);
                    answered = true;
                }
        zl_diags_free(d);
        zl_spec_free(other);
    }
    for (size_t i = 0; i < n; i++)
        zl_store_deployment_fini(&deps[i]);
    free(deps);
    return answered;
}

/* The path of a service's label in diagnostics, as the spec's rules write it. */
static char *label_path(const char *svc, const char *key)
{
    return zl_xasprintf("services.%s.labels[\"%s\"]", svc, key);
}

/* Refuse the deploy (status, kind, summary) over one field of the spec: the details as the
 * spec's own diagnostics (rule D-9). */
static void refuse_field(struct zl_http_req *r, int status, const char *kind, const char *summary,
                         const struct zl_sval *at, const char *path, const char *msg)
{
    int line = at ? at->line : 0, col = at ? at->col : 0;
    json_t *det = json_pack("[{s:i, s:i, s:s, s:s, s:s, s:s}]", "line", line, "column", col, "path",
                            path, "message", msg, "rule", "D-9", "level", "error");
    char *dj = json_dumps(det, JSON_COMPACT);
    zl_http_respond_error(r, status, kind, dj, "%s", summary);
    free(dj);
    json_decref(det);
}

/* A host of the spec clashes with another deployment's (zl_agent_tls_clash): refuse it,
 * pointing at this spec's certificate label, or at its endpoint's host when it names none. */
static void refuse_tls_clash(struct zl_http_req *r, const struct zl_tls_named *mine,
                             const struct zl_tls_named *theirs, const struct zl_tls_clash *c,
                             const char *other)
{
    const struct zl_tls_named *m = &mine[c->im], *t = &theirs[c->it];
    char *p, *msg;
    const struct zl_sval *at;
    const char *summary = "Another deployment's certificate serves a host";
    if (m->cert && t->cert) {
        p = label_path(m->service, ZL_AGENT_TLS_CERT);
        at = m->at;
        msg = zl_xasprintf("host %s already has the certificate %s from deployment %s, service %s",
                           c->host, t->cert, other, t->service);
    } else if (m->cert) {
        p = label_path(m->service, ZL_AGENT_TLS_CERT);
        at = m->at;
        summary = "Another deployment serves the host over TLS";
        msg = zl_xasprintf("host %s is served over TLS by deployment %s, service %s, with the "
                           "certificate the node picks by name (the certs folder's or its own): "
                           "the certificate named here would be given to its clients too (the "
                           "choice is by name, for the whole node)",
                           c->host, other, t->service);
    } else {
        p = zl_xasprintf("services.%s.endpoints[%zu].host", m->service, m->host_ep[c->hm]);
        at = m->host_at[c->hm];
        msg = zl_xasprintf("host %s has the certificate %s from deployment %s, service %s: this "
                           "endpoint's clients would get it too (the choice is by name, for the "
                           "whole node); name the same files with %s, or use another host",
                           c->host, t->cert, other, t->service, ZL_AGENT_TLS_CERT);
    }
    refuse_field(r, 409, "conflict", summary, at, p, msg);
    free(p);
    free(msg);
}

/* Certificates named in the spec (labels zlayer.proxy/tls-certificate and -key): each one
 * the proxy can serve, checked here where it will be read (D-9: 400), and no host given two
 * certificates (400 within the spec, 409 against another deployment: there, a host with a
 * named certificate on one side and TLS without one on the other clashes too). True when the
 * request was answered. */
static bool tls_refused(struct zl_api *a, struct zl_http_req *r, const struct zl_spec *spec)
{
    const char *name = zl_spec_deployment(spec);
    size_t n = 0, na = 0;
    struct zl_tls_clash c;
    const struct zl_sval *svcs = zl_sval_get(zl_spec_root(spec), "services");
    struct zl_tls_named *v = zl_agent_tls_named(svcs, false, &n);
    bool answered = false;
    for (size_t i = 0; i < n && !answered; i++) {
        struct zl_tls_cert_info info;
        struct zl_err err;
        if (zl_tls_cert_check(v[i].cert, v[i].key, &info, &err) == 0)
            continue;
        char *p =
            label_path(v[i].service, info.key_at_fault ? ZL_AGENT_TLS_KEY : ZL_AGENT_TLS_CERT);
        refuse_field(r, 400, "validation_error", "Invalid spec: 1 error(s)",
                     info.key_at_fault ? v[i].key_at : v[i].at, p, err.msg);
        free(p);
        answered = true;
    }
    if (!answered && zl_agent_tls_clash(v, n, v, n, true, &c)) {
        char *p = label_path(v[c.im].service, ZL_AGENT_TLS_CERT),
             *m = zl_xasprintf("host %s is also given the certificate %s by service %s", c.host,
                               v[c.it].cert, v[c.it].service);
        refuse_field(r, 400, "validation_error", "Invalid spec: 1 error(s)", v[c.im].at, p, m);
        free(p);
        free(m);
        answered = true;
    }
    /* against the other deployments: every TLS host, named certificate or not */
    struct zl_tls_named *va = answered ? NULL : zl_agent_tls_named(svcs, true, &na);
    struct zl_store_deployment *deps = NULL;
    size_t nd = 0;
    struct zl_err err;
    if (answered || !na || zl_store_deployment_list(a->db, &deps, &nd, &err) < 0)
        nd = 0;
    for (size_t i = 0; i < nd && !answered; i++) {
        struct zl_spec *other = NULL;
        struct zl_diags *d = NULL;
        size_t no = 0;
        struct zl_tls_named *o = NULL;
        if (strcmp(deps[i].name, name) != 0 &&
            zl_spec_load(deps[i].name, deps[i].spec, strlen(deps[i].spec), NULL, &other, &d) == 0)
            o = zl_agent_tls_named(zl_sval_get(zl_spec_root(other), "services"), true, &no);
        if (zl_agent_tls_clash(va, na, o, no, false, &c)) {
            refuse_tls_clash(r, va, o, &c, deps[i].name);
            answered = true;
        }
        zl_agent_tls_named_free(o, no);
        zl_diags_free(d);
        zl_spec_free(other);
    }
    for (size_t i = 0; i < nd; i++)
        zl_store_deployment_fini(&deps[i]);
    free(deps);
    zl_agent_tls_named_free(va, na);
    zl_agent_tls_named_free(v, n);
    return answered;
}

static void deploy(struct zl_api *a, struct zl_http_req *r)
{
    const char *ct = zl_http_req_header(r, "content-type");
    json_t *body = NULL, *env = NULL;
    const char *yaml = r->body;
    size_t len = r->body_len;
    if (ct && strstr(ct, "json")) {
        body = json_loadb(r->body, r->body_len, 0, NULL);
        yaml = json_string_value(json_object_get(body, "spec"));
        env = json_object_get(body, "env");
        if (!yaml) {
            json_decref(body);
            zl_http_respond_error(r, 400, "bad_request", NULL,
                                  "the body must be {\"spec\": \"<YAML>\", \"env\": {...}}");
            return;
        }
        len = strlen(yaml);
    }
    struct zl_spec *spec = NULL;
    struct zl_diags *d = NULL;
    if (zl_spec_load("spec", yaml, len, NULL, &spec, &d) < 0) {
        json_t *det = json_array();
        for (size_t i = 0; i < zl_diags_count(d); i++) {
            const struct zl_diag *g = zl_diags_get(d, i);
            json_array_append_new(det, json_pack("{s:i, s:i, s:s, s:s, s:s?, s:s}", "line", g->line,
                                                 "column", g->col, "path", g->path, "message",
                                                 g->msg, "rule", g->rule, "level",
                                                 g->level == ZL_DIAG_ERROR ? "error" : "warning"));
        }
        char *dj = json_dumps(det, JSON_COMPACT);
        zl_http_respond_error(r, 400, "validation_error", dj, "Invalid spec: %zu error(s)",
                              zl_diags_errors(d));
        free(dj);
        json_decref(det);
    } else if (!port_conflict(a, r, spec) && !tls_refused(a, r, spec)) {
        char *envtext = env ? json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        char *ytext = zl_xstrndup(yaml, len);
        struct zl_err err;
        int64_t rev = 0;
        const char *name = zl_spec_deployment(spec);
        if (zl_store_deployment_put(a->db, name, ytext, envtext, &rev, &err) < 0) {
            zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
        } else {
            zl_api_events_publish(a->events, json_pack("{s:s, s:s, s:s, s:I}", "resource",
                                                       "deployment", "kind", "apply", "deployment",
                                                       name, "revision", (json_int_t)rev));
            a->kick(a->kick_arg);
            reply_json(r, 201,
                       json_pack("{s:s, s:s, s:I}", "name", name, "status", "deploying", "revision",
                                 (json_int_t)rev));
        }
        free(ytext);
        free(envtext);
    }
    zl_diags_free(d);
    zl_spec_free(spec);
    json_decref(body);
}

/* POST .../{stop,start,restart} with {"service": NAME} (optional: the whole deployment). */
static void control(struct zl_api *a, struct zl_http_req *r, const struct zl_store_deployment *d,
                    const char *verb)
{
    json_t *b = r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : json_object();
    json_t *sv = json_object_get(b, "service");
    const char *svc = json_string_value(sv);
    if (!json_is_object(b) || (sv && !svc)) {
        json_decref(b);
        return zl_http_respond_error(r, 400, "bad_request", NULL,
                                     "the body must be {} or {\"service\": NAME}");
    }
    struct zl_spec *spec = NULL;
    struct zl_diags *diags = NULL;
    bool known = !svc;
    if (svc && zl_spec_load(d->name, d->spec, strlen(d->spec), NULL, &spec, &diags) == 0)
        known = zl_sval_get(zl_sval_get(zl_spec_root(spec), "services"), svc) != NULL;
    zl_diags_free(diags);
    zl_spec_free(spec);
    struct zl_err err;
    enum zl_store_control what = !strcmp(verb, "stop")    ? ZL_CONTROL_STOP
                                 : !strcmp(verb, "start") ? ZL_CONTROL_START
                                                          : ZL_CONTROL_RESTART;
    if (!known) {
        zl_http_respond_error(r, 404, "not_found", NULL, "deployment %s has no service %s", d->name,
                              svc);
    } else if (zl_store_control_set(a->db, d->name, svc, what, &err) < 0) {
        zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
    } else {
        zl_api_events_publish(a->events, json_pack("{s:s, s:s, s:s, s:s?}", "resource",
                                                   svc ? "service" : "deployment", "kind", verb,
                                                   "deployment", d->name, "service", svc));
        a->kick(a->kick_arg);
        reply_json(
            r, 202,
            json_pack("{s:s, s:s?, s:s}", "deployment", d->name, "service", svc, "action", verb));
    }
    json_decref(b);
}

/* A deployment's crash records, newest first (?limit=N, default 50). */
static void crashes(struct zl_api *a, struct zl_http_req *r, const char *dep)
{
    char buf[32];
    long limit = zl_http_req_query(r, "limit", buf, sizeof(buf)) ? strtol(buf, NULL, 10) : 50;
    if (limit <= 0 || limit > 1000)
        return zl_http_respond_error(r, 400, "bad_request", NULL, "limit must be 1-1000");
    struct zl_store_crash *list = NULL;
    size_t n = 0;
    struct zl_err err;
    if (zl_store_crash_list(a->db, dep, (size_t)limit, &list, &n, &err) < 0)
        return zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(
            arr,
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:b, s:s}", "deployment", list[i].deployment,
                      "service", list[i].service, "container", list[i].container, "started",
                      list[i].started, "at", (json_int_t)list[i].at, "exit_code", list[i].exit_code,
                      "oom_killed", list[i].oom_killed, "log_tail", list[i].log_tail));
        zl_store_crash_fini(&list[i]);
    }
    free(list);
    reply_json(r, 200, arr);
}

/* ---------------- routing ---------------- */

static void deployments(struct zl_api *a, struct zl_http_req *r, char seg[4][256], size_t n)
{
    struct zl_err err;
    struct zl_store_deployment d;
    bool get = !strcmp(r->method, "GET");
    if (n == 0 && get) {
        struct zl_store_deployment *list = NULL;
        size_t cnt = 0;
        if (zl_store_deployment_list(a->db, &list, &cnt, &err) < 0)
            return zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
        json_t *arr = json_array();
        for (size_t i = 0; i < cnt; i++) {
            json_array_append_new(arr, deployment_json(a, &list[i], true));
            zl_store_deployment_fini(&list[i]);
        }
        free(list);
        return reply_json(r, 200, arr);
    }
    if (n == 0 && !strcmp(r->method, "POST"))
        return deploy(a, r);
    if (n == 0)
        return zl_http_respond_error(r, 405, "bad_request", NULL, "use GET or POST");
    if (zl_store_deployment_get(a->db, seg[0], &d, &err) < 0)
        return zl_http_respond_error(r, 404, "not_found", NULL, "Deployment '%s' not found",
                                     seg[0]);
    if (n == 1 && get) {
        reply_json(r, 200, deployment_json(a, &d, true));
    } else if (n == 1 && !strcmp(r->method, "DELETE")) {
        if (zl_store_deployment_remove(a->db, seg[0], &err) < 0) {
            zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
        } else {
            zl_api_events_publish(a->events, json_pack("{s:s, s:s, s:s}", "resource", "deployment",
                                                       "kind", "remove", "deployment", seg[0]));
            a->kick(a->kick_arg);
            zl_http_respond(r, 204, NULL, "", 0);
        }
    } else if (n == 2 && get && !strcmp(seg[1], "spec")) {
        reply_json(r, 200,
                   json_pack("{s:s, s:I, s:s}", "name", d.name, "revision", (json_int_t)d.revision,
                             "spec", d.spec));
    } else if (n == 2 && !strcmp(r->method, "POST") &&
               (!strcmp(seg[1], "stop") || !strcmp(seg[1], "start") ||
                !strcmp(seg[1], "restart"))) {
        control(a, r, &d, seg[1]);
    } else if (n == 2 && get && !strcmp(seg[1], "logs")) {
        zl_api__logs(a, r, d.name, NULL);
    } else if (n == 2 && get && !strcmp(seg[1], "revisions")) {
        zl_api__revisions(a, r, &d);
    } else if (n == 2 && !strcmp(r->method, "POST") && !strcmp(seg[1], "rollback")) {
        zl_api__rollback(a, r, &d);
    } else if (n == 2 && get && !strcmp(seg[1], "crashes")) {
        crashes(a, r, d.name);
    } else if (n == 2 && get && !strcmp(seg[1], "services")) {
        reply_json(r, 200, services_of(a, &d, NULL));
    } else if (n == 3 && get && !strcmp(seg[1], "services")) {
        json_t *s = services_of(a, &d, seg[2]);
        if (s)
            reply_json(r, 200, s);
        else
            zl_http_respond_error(r, 404, "not_found", NULL, "deployment %s has no service %s",
                                  d.name, seg[2]);
    } else if (n == 4 && !strcmp(seg[1], "services") && !strcmp(r->method, "POST") &&
               !strcmp(seg[3], "exec")) {
        zl_api__exec(a, r, d.name, seg[2]);
    } else if (n == 4 && !strcmp(seg[1], "services") && get && !strcmp(seg[3], "logs")) {
        zl_api__logs(a, r, d.name, seg[2]);
    } else if (n == 4 && !strcmp(seg[1], "services") && !strcmp(r->method, "POST") &&
               !strcmp(seg[3], "scale")) {
        json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
        json_t *rep = json_object_get(b, "replicas");
        if (!json_is_integer(rep) || json_integer_value(rep) < 0 || json_integer_value(rep) > 100)
            zl_http_respond_error(r, 400, "bad_request", NULL, "replicas must be 0-100");
        else if (zl_store_scale_set(a->db, d.name, seg[2], (unsigned)json_integer_value(rep),
                                    &err) < 0)
            zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
        else {
            zl_api_events_publish(a->events, json_pack("{s:s, s:s, s:s, s:s, s:O}", "resource",
                                                       "service", "kind", "scale", "deployment",
                                                       d.name, "service", seg[2], "replicas", rep));
            a->kick(a->kick_arg);
            reply_json(r, 200,
                       json_pack("{s:s, s:s, s:O}", "deployment", d.name, "service", seg[2],
                                 "replicas", rep));
        }
        json_decref(b);
    } else {
        zl_http_respond_error(r, 404, "not_found", NULL, "no route for %s %s", r->method, r->path);
    }
    zl_store_deployment_fini(&d);
}

/* Over TCP every route but the health checks needs a valid bearer token; the unix socket is
 * root-only and needs none. */
static bool authorized(struct zl_api *a, struct zl_http_req *r)
{
    if (r->from_unix || !strncmp(r->path, "/health/", 8))
        return true;
    const char *h = zl_http_req_header(r, "authorization");
    struct zl_err err;
    char role[32];
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        zl_http_respond_error(r, 401, "unauthorized", NULL, "a bearer token is required");
        return false;
    }
    if (zl_api_jwt_verify(a->jwt_key, sizeof(a->jwt_key), h + 7, role, sizeof(role), &err) < 0) {
        zl_http_respond_error(r, 401, "unauthorized", NULL, "%s", err.msg);
        return false;
    }
    /* viewer: reads only; operator: also changes deployments; admin: also runs commands */
    bool read = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    size_t pl = strlen(r->path);
    bool runs = pl >= 5 && !strcmp(r->path + pl - 5, "/exec");
    bool ok = !strcmp(role, "admin") || (!strcmp(role, "operator") && !runs) ||
              (!strcmp(role, "viewer") && read);
    if (!ok)
        zl_http_respond_error(r, 403, "forbidden", NULL, "the token's role (%s) may not %s %s",
                              role, r->method, r->path);
    return ok;
}

/* POST /api/v1/tokens {"ttl_secs": N, "role": R}: only over the unix socket (root). */
static void token(struct zl_api *a, struct zl_http_req *r)
{
    if (!r->from_unix)
        return zl_http_respond_error(r, 403, "forbidden", NULL,
                                     "tokens are made over the local socket only");
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *ttl = json_object_get(b, "ttl_secs");
    const char *role = json_string_value(json_object_get(b, "role"));
    int64_t secs = json_is_integer(ttl) ? json_integer_value(ttl) : 3600;
    if (secs <= 0 || secs > 366 * 86400 ||
        (role && strcmp(role, "admin") && strcmp(role, "operator") && strcmp(role, "viewer"))) {
        json_decref(b);
        return zl_http_respond_error(r, 400, "bad_request", NULL,
                                     "ttl_secs must be 1 s to 366 days; role admin, operator or "
                                     "viewer");
    }
    char *t = zl_api_jwt_sign(a->jwt_key, sizeof(a->jwt_key), "cli", role ? role : "admin", secs);
    reply_json(r, 201,
               json_pack("{s:s, s:s, s:I}", "access_token", t, "token_type", "Bearer", "expires_in",
                         (json_int_t)secs));
    free(t);
    json_decref(b);
}

/* GET /metrics: Prometheus' text format, with the bearer token like the rest over TCP
 * (what runs where is no business of the network). */
static void metrics(struct zl_api *a, struct zl_http_req *r)
{
    size_t len = 0;
    char *text = a->metrics_text ? a->metrics_text(a->proxy_arg, &len) : NULL;
    zl_http_respond(r, 200, ZL_PROM_CONTENT_TYPE, text ? text : "", len);
    free(text);
}

void zl_api_handle(void *ctx, struct zl_http_req *r)
{
    struct zl_api *a = ctx;
    char seg[4][256];
    size_t n;
    if (!authorized(a, r))
        return;
    if (!strcmp(r->path, API "/tokens") && !strcmp(r->method, "POST"))
        return token(a, r);
    if (!strcmp(r->path, "/health/live") || !strcmp(r->path, "/health/ready"))
        return reply_json(r, 200,
                          json_pack("{s:s, s:s, s:I, s:s}", "status", "ok", "version", ZL_VERSION,
                                    "uptime_secs", (json_int_t)(time(NULL) - a->started),
                                    "runtime_name", "zlayer"));
    if (!strcmp(r->path, API "/daemon/status"))
        return reply_json(r, 200,
                          json_pack("{s:i, s:s, s:s, s:s, s:s}", "pid", (int)getpid(), "version",
                                    ZL_VERSION, "socket", a->socket_path, "root_dir", a->root_dir,
                                    "runtime_dir", a->runtime_dir));
    if (!strcmp(r->path, API "/events") && !strcmp(r->method, "GET"))
        return zl_api__events(a, r);
    if (!strcmp(r->path, API "/containers") && !strcmp(r->method, "GET"))
        return reply_json(r, 200, zl_api__containers(a, NULL, NULL));
    if (!strcmp(r->path, API "/proxy") && !strcmp(r->method, "GET"))
        return reply_json(r, 200, a->proxy_json ? a->proxy_json(a->proxy_arg) : json_array());
    if (!strcmp(r->path, "/metrics") && !strcmp(r->method, "GET"))
        return metrics(a, r);
    if ((n = segments(r->path, API "/deployments", seg)) != (size_t)-1)
        return deployments(a, r, seg, n);
    if ((n = segments(r->path, API "/jobs", seg)) != (size_t)-1)
        return zl_api__jobs(a, r, seg, n);
    if ((n = segments(r->path, API "/cron", seg)) != (size_t)-1)
        return zl_api__cron(a, r, seg, n);
    zl_http_respond_error(r, 404, "not_found", NULL, "no route for %s %s", r->method, r->path);
}
