/* SPDX-License-Identifier: Apache-2.0 */
/* agent: the node's reconciler (deployments -> containers), the daemon that runs it and
 * serves the API, and the container configs it derives from specs and images. */
#ifndef ZL_AGENT_H
#define ZL_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "spec/spec.h"
#include "util/util.h"

/* ---------------- OCI configs from specs (oci.c) ---------------- */

struct zl_replica_ref {
    const char *deployment, *service;
    unsigned index;  /* 0, 1, ... */
    const char *id;  /* container id: DEPLOYMENT-SERVICE-INDEX */
    const char *dir; /* the container's folder: rootfs/, volumes of its own */
};

/* config.json text for one replica of svc (a typed service object of a loaded spec), over
 * the image config JSON (OCI image config: Env, Entrypoint, Cmd, WorkingDir, User). env_json
 * holds the values of $E: references. volumes_dir is where named volumes live. Caller frees.
 * Errors name the spec field (an unset $E: variable, a $S: reference, an unknown user). */
char *zl_agent_oci_config(const struct zl_sval *svc, const struct zl_replica_ref *r,
                          const char *image_config_json, const char *env_json,
                          const char *volumes_dir, struct zl_err *err);

/* ---------------- decisions (plan.c): pure functions ---------------- */

/* Delay before restarting a replica that has crashed `restarts` times in a row: 1 s, 2 s,
 * 4 s, ... capped at 60 s. */
uint64_t zl_agent_backoff_ms(unsigned restarts);

/* Replicas a service should have: fixed -> replicas, adaptive -> min, manual -> what
 * `zlayer scale` set (default 1); jobs and crons have none running by default. scaled is the
 * count set by hand, or -1. */
unsigned zl_agent_desired_replicas(const struct zl_sval *svc, long scaled);

/* ---------------- the daemon (daemon.c) ---------------- */

struct zl_daemon_opts {
    const char *root_dir;    /* $ZLAYER_ROOT_DIR or /var/lib/zlayer */
    const char *runtime_dir; /* $ZLAYER_RUNTIME_DIR or /run/zlayer */
    bool detach;             /* fork into the background (after the socket is up) */
    const char *bind_host;   /* also serve TCP (bearer tokens required), or NULL */
    int bind_port;
};

/* Run `zlayer serve` until SIGTERM/SIGINT; containers keep running when it stops. */
int zl_daemon_run(const struct zl_daemon_opts *o, struct zl_err *err);

#endif
