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
/* The same from another first delay (restart_policy.delay): first_ms, doubling, capped at
 * 60 s (or at first_ms when that is longer). */
uint64_t zl_agent_backoff_from_ms(uint64_t first_ms, unsigned restarts);

/* What to do with one wanted replica, from what the runtime shows: status NULL when there is
 * no such container; hashes of the service as it runs and as it should. */
enum zl_replica_action {
    ZL_REPLICA_KEEP,     /* running (or on its way) as it should */
    ZL_REPLICA_CREATE,   /* missing */
    ZL_REPLICA_REPLACE,  /* runs an older revision: stop it (grace period), start anew */
    ZL_REPLICA_RECREATE, /* created, never started: its daemon died half-way */
    ZL_REPLICA_CRASHED,  /* stopped on its own: record it; restart per policy and backoff */
};
enum zl_replica_action zl_agent_replica_action(const char *status, const char *have_hash,
                                               const char *want_hash);

/* Does the restart policy restart a replica that stopped (exit_code, -1: unknown or made
 * unhealthy)? on_panic: errors.on_panic.action (default "restart"); kind:
 * restart_policy.kind or NULL; with kind on_failure, a clean exit (0) is not restarted, nor
 * a replica that has crashed more than max_attempts times in a row (crashes counts this
 * one; max_attempts 0: no limit). */
bool zl_agent_restarts(const char *on_panic, const char *kind, int exit_code, unsigned crashes,
                       unsigned max_attempts);

/* Crashes in a row, counting this one: a replica that ran a minute or more starts a new
 * series. ran_ms: how long it ran since its last restart (or < 0: unknown). */
unsigned zl_agent_crash_count(unsigned before, int64_t ran_ms);

/* Replicas a service should have: fixed -> replicas, adaptive -> min, manual -> what
 * `zlayer scale` set (default 1); jobs and crons have none running by default. scaled is the
 * count set by hand, or -1. */
unsigned zl_agent_desired_replicas(const struct zl_sval *svc, long scaled);

/* A rolling update of one service, as a pure decision over its replicas: every replica is
 * either current (runs the wanted revision) or old. With no old replica it is plain
 * scaling: missing indices are created, the highest ones beyond `want` removed. Otherwise
 * new replicas are started (at most `surge` above `want` in all) and an old ready one is
 * stopped only while enough ready replicas remain (never fewer than `want - unavailable`);
 * old replicas that are not ready go at once. surge 1, unavailable 0: start-first (no
 * moment with fewer ready replicas); surge 0, unavailable 1: stop-first (for replicas that
 * must not run twice on the same data). A failed current replica during an update stops the plan:
 * the caller rolls back. */
struct zl_rollout_replica {
    unsigned index;
    bool current; /* runs the wanted revision */
    bool ready;   /* running and healthy (or running without a check) */
    bool failed;  /* crashed, unhealthy, or not healthy in time */
};
struct zl_rollout_plan {
    unsigned *create; /* replica indices to start (caller's array, room for want) */
    size_t ncreate;
    size_t *remove; /* positions in the input to stop (caller's array, room for n) */
    size_t nremove;
    long failed; /* position of the current replica that failed the update, or -1 */
};
void zl_agent_rollout(const struct zl_rollout_replica *v, size_t n, unsigned want, unsigned surge,
                      unsigned unavailable, struct zl_rollout_plan *p);

/* The services (svcs: the spec's `services` map) in the order they start: each after what
 * it depends on, otherwise in the file's order. order has room for svcs->n; returns how
 * many were written (all of them; a cycle, which validation refuses, is cut, not looped). */
size_t zl_agent_service_order(const struct zl_sval *svcs, size_t *order);

/* Two services taking one host port (port_mappings with a host_port, host_ip 0.0.0.0 or
 * absent overlapping every address; tcp endpoints: public on every address, internal on
 * 127.0.0.1): svcs (a spec's `services`) against other_svcs, those of
 * deployment other_dep, or against themselves when other_dep is NULL (another service only;
 * replicas of one service share their port). The first clash goes into *c. */
struct zl_port_clash {
    const char *service, *other_service, *protocol;
    const char *field; /* "port_mappings" or "endpoints" (tcp endpoints take their port too) */
    size_t index;      /* in that list */
    int line;
    unsigned port;
    char what[320]; /* "host port 8080/tcp", or "port 80 (http, host a.example, path /api)" */
};
bool zl_agent_port_clash(const struct zl_sval *svcs, const struct zl_sval *other_svcs,
                         const char *other_dep, struct zl_port_clash *c);

/* Certificates named in the spec: the service labels zlayer.proxy/tls-certificate (a PEM
 * with the chain, and the key unless zlayer.proxy/tls-key names its file), for the service's
 * https endpoints and tcp ones with stream.tls. */
#define ZL_AGENT_TLS_CERT "zlayer.proxy/tls-certificate"
#define ZL_AGENT_TLS_KEY  "zlayer.proxy/tls-key"
/* The string value of svc's label key, or NULL. */
const char *zl_agent_tls_label(const struct zl_sval *svc, const char *key);

/* A service that names a certificate and has TLS endpoints (or, listed with all, one that
 * names none and has such an endpoint with a host: cert NULL): the files, where the
 * certificate label's value is written, and the hosts of those endpoints (as written; those
 * without a host are left out), with each one's value and endpoint index. */
struct zl_tls_named {
    const char *service;
    const char *cert, *key;            /* key NULL: in cert's file; cert NULL: none named */
    const struct zl_sval *at, *key_at; /* the labels' values */
    const char **hosts;
    const struct zl_sval **host_at; /* the endpoints' `host` values */
    size_t *host_ep;                /* the endpoints' indices in `endpoints` */
    size_t nhosts;
};
/* Those of svcs (a spec's `services`), *n of them (NULL when none); with all, the services
 * that name no certificate too. */
struct zl_tls_named *zl_agent_tls_named(const struct zl_sval *svcs, bool all, size_t *n);
void zl_agent_tls_named_free(struct zl_tls_named *v, size_t n);
/* A clash: mine[im]'s hosts[hm] and theirs[it]'s hosts[ht], the same host (mine's spelling). */
struct zl_tls_clash {
    size_t im, it, hm, ht;
    const char *host;
};
/* One host (compared as written, case aside: a wildcard is a host of its own) given two
 * certificates, or a certificate and none (the folder's or the node's own, by SNI: the named
 * one would be given to the other's clients too, the choice being node-wide by name): mine (a
 * spec's) against theirs (another deployment's), or against themselves with same_spec
 * (another service only). The same files, or none on either side, agree. The first clash. */
bool zl_agent_tls_clash(const struct zl_tls_named *mine, size_t nm,
                        const struct zl_tls_named *theirs, size_t nt, bool same_spec,
                        struct zl_tls_clash *c);

/* A replica's health: NONE when its service has no check (running counts as healthy). */
enum zl_health_state {
    ZL_HEALTH_NONE,
    ZL_HEALTH_STARTING, /* no success yet and fewer than `retries` failures */
    ZL_HEALTH_HEALTHY,
    ZL_HEALTH_UNHEALTHY,
};
const char *zl_health_state_name(enum zl_health_state s);

/* One probe's result: a success makes a replica healthy and clears *failures; `retries`
 * failures in a row (at least one) make it unhealthy. */
enum zl_health_state zl_agent_health_step(enum zl_health_state s, bool ok, unsigned *failures,
                                          unsigned retries);

/* Time to the next probe: the interval, doubled for each failure past `retries`, capped at
 * 60 s (or at the interval when that is longer). */
uint64_t zl_agent_health_delay_ms(uint64_t interval_ms, unsigned failures, unsigned retries);

/* ---------------- jobs and crons (plan.c): pure functions ---------------- */

#define ZL_JOB_MAX_RUNS_PER_JOB 10 /* runs of one job at once */
#define ZL_JOB_MAX_RUNS         32 /* runs of every job at once, on this node */

enum zl_job_admit {
    ZL_JOB_ADMIT = 0, /* start the run */
    ZL_JOB_OVERLAP,   /* a cron whose previous run is still going: skip this one */
    ZL_JOB_FULL,      /* too many runs at once (of this job, or on this node) */
};
/* May one more run of a job start, with of_job runs of it and total runs in progress? Crons
 * never overlap; jobs run up to ZL_JOB_MAX_RUNS_PER_JOB at once. */
enum zl_job_admit zl_agent_job_admit(bool is_cron, unsigned of_job, unsigned total);

enum zl_cron_due {
    ZL_CRON_WAIT = 0, /* not due yet (or never again) */
    ZL_CRON_FIRE,     /* due: run it (trigger "scheduler") */
    ZL_CRON_CATCH_UP, /* was due while no daemon ran: run it once now (trigger "catch-up") */
    ZL_CRON_PASS,     /* due but disabled: move to the next time without running */
};
/* What the scheduler does with a cron at now_ms. next_fire_ms: when it is due (unix ms;
 * <= 0: not scheduled); started_ms: when this daemon started. However many times fell while
 * the daemon was down, the answer is one CATCH_UP: the caller schedules the next from now. */
enum zl_cron_due zl_agent_cron_due(bool enabled, int64_t next_fire_ms, int64_t now_ms,
                                   int64_t started_ms);
/* The first fire time of c after now_ms (unix ms, UTC, on a whole second), or -1: never. */
int64_t zl_agent_cron_next_ms(const struct zl_cron *c, int64_t now_ms);

/* ---------------- the daemon (daemon.c) ---------------- */

/* A container's network for the API: {ip, ports, rx_bytes, rx_packets, tx_bytes,
 * tx_packets} (counters seen from the container), {joined: ID} when it shares another's, NULL
 * when it has none of its own (host, none). */
struct json_t *zl_agent_net_json(const char *containers_dir, const char *id);

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
