/* SPDX-License-Identifier: Apache-2.0 */
/* agent/health.h: health checks of replicas and of externals' backends (health.c), run on
 * the daemon's loop. The reconciler says what to check (any thread); the loop probes without
 * blocking; anyone reads the results. Private to the agent room. */
#ifndef ZL_AGENT_HEALTH_H
#define ZL_AGENT_HEALTH_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "agent/agent.h"
#include "api/api.h"

enum zl_check_type { ZL_CHECK_TCP, ZL_CHECK_HTTP, ZL_CHECK_COMMAND };

/* One replica to check: what, where, and how often. */
struct zl_health_target {
    char *id, *deployment, *service;
    char *created; /* the container's creation time: a recreated container starts over */
    int pid;       /* its process, whose network namespace the probes use */
    enum zl_check_type type;
    unsigned port;     /* tcp, http */
    char *host, *path; /* http: an IPv4 address ("127.0.0.1" for localhost) and path */
    char *vhost;       /* http: the name sent as Host (an external's, as written); NULL: host */
    unsigned expect;   /* http status */
    char *command;     /* command: run through `sh -c` inside the container */
    char *error;       /* a check that cannot run (bad url): reported as its result */
    uint64_t grace_ms, interval_ms, timeout_ms;
    unsigned retries;
    bool keep; /* an old revision's replica: keep the check it has (this one is a fallback) */
    /* an external's backend as written ("host:port"), NULL for a replica: probed from the
     * daemon's own network (pid 0); a command runs on the node with ZLAYER_BACKEND* set; no
     * back-off (passing again is the only way back into the routes) */
    char *backend;
};

/* The check a service's replicas get, from its spec (SPEC-v1 5.13). Returns false when the
 * service has no check: `health` left out and no endpoint to connect to. Fills t's check
 * fields (caller frees them with zl_health_target_fini). */
bool zl_health_target_from_spec(const struct zl_sval *svc, struct zl_health_target *t);
/* The check of one backend of an external (SPEC-v1 6 and 5.13): ext is the external, backend
 * one of its backends as written, ip and port where it was found. False when the external has
 * no `health`. Fills t's check fields and backend (docs/proxy.md says how a check applies to a
 * backend); the caller sets id, deployment and service. */
bool zl_health_target_external(const struct zl_sval *ext, const char *backend, uint32_t ip,
                               uint16_t port, struct zl_health_target *t);
void zl_health_target_fini(struct zl_health_target *t);

struct zl_health_status {
    enum zl_health_state state;
    unsigned failures; /* in a row */
    int64_t since_ms;  /* wall clock of the last change of state */
    int64_t checked;   /* monotonic ms of the first probe's start, 0 before */
};

struct zl_health;
/* changed(arg) is called on the loop thread when a replica's state changes. */
struct zl_health *zl_health_new(uv_loop_t *loop, struct zl_api_events *events, const char *rt_root,
                                void (*changed)(void *), void *arg);
/* Replace the set of replicas to check (any thread; ts are copied). */
void zl_health_set_targets(struct zl_health *h, const struct zl_health_target *ts, size_t n);
/* The state of one replica (any thread); ZL_HEALTH_NONE when it is not checked. */
struct zl_health_status zl_health_get(struct zl_health *h, const char *id);
/* {"status", "failures", "since", "output"} or NULL (any thread; caller owns). */
json_t *zl_health_json(struct zl_health *h, const char *id);
/* Stop every probe and free (loop thread; run the loop afterwards to finish the closes). */
void zl_health_close(struct zl_health *h);

#endif
