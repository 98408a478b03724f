/* SPDX-License-Identifier: Apache-2.0 */
/* api: the REST API the CLI (and later the dashboard and remote clients) use: deployments,
 * services, containers, logs, daemon status. */
#ifndef ZL_API_H
#define ZL_API_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include <uv.h>

#include "http/http.h"
#include "store/store.h"

/* Lifecycle events for GET /api/v1/events (events.c). */
struct zl_api_events;
struct zl_api_events *zl_api_events_new(uv_loop_t *loop);
/* On the loop thread, at shutdown after the server has closed. */
void zl_api_events_close(struct zl_api_events *e);
/* Any thread; ev (consumed) is a JSON object with "resource" and "kind", and "deployment"
 * where it has one; "seq" and "at" (Unix seconds) are added. e may be NULL. */
void zl_api_events_publish(struct zl_api_events *e, json_t *ev);

struct zl_api {
    struct zl_store *db;        /* the loop thread's own connection */
    const char *rt_root;        /* the runtime's state root */
    const char *containers_dir; /* bundles and output logs */
    const char *root_dir, *runtime_dir, *socket_path;
    time_t started;
    void (*kick)(void *arg); /* ask the reconciler to run soon */
    void *kick_arg;
    uv_loop_t *loop; /* blocking work (exec) runs on its thread pool */
    unsigned char jwt_key[32];
    struct zl_api_events *events;
    /* a replica's health ({"status", "failures", "since", "output"}) or NULL */
    json_t *(*health_json)(void *arg, const char *id);
    /* The proxy's routes with their counters (may be NULL). */
    json_t *(*proxy_json)(void *arg);
    /* A service's traffic through the proxy, {rps, in_flight}, or NULL when none of its
     * endpoints is routed (may be NULL). */
    json_t *(*service_metrics)(void *arg, const char *deployment, const char *service);
    /* GET /metrics: the node's metrics in the Prometheus text format, allocated (may be
     * NULL). */
    char *(*metrics_text)(void *arg, size_t *len);
    void *proxy_arg; /* theirs */
    /* A container's network (address, ports, counters), or NULL (may be NULL). */
    json_t *(*net_json)(const char *containers_dir, const char *id);
    void *health_arg;
    /* job runs go to the daemon's runner (both may be NULL: no runner); loop thread */
    int (*job_trigger)(void *arg, const char *dep, const char *job, bool is_cron,
                       const char *trigger, int64_t *id, struct zl_err *err);
    int (*job_cancel)(void *arg, int64_t id, struct zl_err *err);
    void *jobs_arg;
};

/* HS256 tokens for the TCP API (jwt.c). The key is ROOT/jwt.secret, made on first use. */
int zl_api_jwt_key(const char *root_dir, unsigned char key[32], struct zl_err *err);
char *zl_api_jwt_sign(const unsigned char *key, size_t keylen, const char *subject,
                      const char *role, int64_t ttl_secs);
/* 0 when token is an unexpired HS256 token signed with key; its role goes to role. */
int zl_api_jwt_verify(const unsigned char *key, size_t keylen, const char *token, char *role,
                      size_t rolecap, struct zl_err *err);

/* The zl_http_handler for the daemon's server; ctx is a struct zl_api. */
void zl_api_handle(void *ctx, struct zl_http_req *req);

#endif
