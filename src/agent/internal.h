/* SPDX-License-Identifier: Apache-2.0 */
/* agent/internal.h: what the agent's files share. */
#ifndef ZL_AGENT_INTERNAL_H
#define ZL_AGENT_INTERNAL_H

#include "agent/agent.h"

#include <jansson.h>
#include "api/api.h"
#include "image/image.h"
#include "net/net.h"
#include "proxy/proxy.h"
#include "runtime/runtime.h"
#include "store/store.h"
#include <uv.h>

struct zl_agent_restart {
    char id[256];
    unsigned restarts; /* crashes in a row */
    int64_t next_ms;   /* monotonic time of the next attempt, 0: none planned */
    int64_t began_ms;  /* monotonic time of the last restart */
    char started[64];  /* creation time of the container whose crash was recorded last */
    bool gave_up;      /* the policy says no more (said once) */
};

/* A service waiting for its dependencies (key: deployment/revision/service/dependency). */
struct zl_agent_wait {
    char key[512];
    int64_t since_ms; /* monotonic */
    bool passed, told;
    bool seen; /* asked about in this pass (others are dropped at its end) */
};

struct zl_health;

/* A replica whose init steps run (init.c); the table is shared with their threads. */
enum zl_agent_init_state { ZL_INIT_NONE, ZL_INIT_RUNNING, ZL_INIT_FAILED, ZL_INIT_DONE };
struct zl_agent_init {
    char id[256];
    enum zl_agent_init_state state;
    char why[1200];    /* why it failed */
    bool cancel;       /* the replica is being removed */
    const void *owner; /* the thread's job while it runs */
};

/* The node network as this agent sees it (net.c). */
struct zl_agent_net {
    char bridge[16];
    struct zl_net_cidr subnet;
    unsigned mtu;
    char *netns_dir; /* RUNTIME/netns: each container's namespace, bind-mounted */
};

/* The reconciler's world; used from one thread at a time (the work thread). */
struct zl_agent {
    char *root_dir, *runtime_dir;
    char *containers_dir; /* ROOT/containers: bundles, upper layers, output logs */
    char *volumes_dir;    /* ROOT/volumes */
    char *rt_root;        /* RUNTIME/containers: the runtime's state */
    struct zl_images *im;
    struct zl_store *db;
    struct zl_runtime_backend *be;
    struct zl_agent_restart *restarts;
    size_t nrestarts;
    char last_error[1024];
    struct zl_api_events *events; /* lifecycle events go here (may be NULL) */
    struct zl_health *health;     /* replicas' health checks (may be NULL) */
    struct zl_agent_wait *waits;
    size_t nwaits;
    bool again; /* run another pass at once (set by a pass) */
    struct zl_agent_init *inits;
    size_t ninits;
    struct zl_agent_net net;
    struct zl_agent_names *names; /* what the service DNS serves (the daemon's agent only) */
    bool net_defer;               /* in a pass: new members' rules wait for its end (net_dirty) */
    bool net_dirty;
    void (*kick)(void *arg); /* ask for a pass soon; any thread */
    void *kick_arg;
};

int zl_agent__open(struct zl_agent *a, const char *root, const char *runtime, struct zl_err *err);
void zl_agent__close(struct zl_agent *a);
void zl_agent_reconcile(struct zl_agent *a);
/* Pull (per the service's policy), mount the rootfs, write config.json (annotated with the
 * service hash, the stop grace period and extra_ann's keys), run detached with a monitor
 * (hold: created, its process waiting for a start). On failure nothing is left behind. */
int zl_agent__create_container(struct zl_agent *a, const struct zl_sval *svc,
                               const struct zl_replica_ref *r, const char *env_json,
                               const char *hash, json_t *extra_ann, bool hold, struct zl_err *err);

/* Init steps (init.c). A replica with steps is created held (its process waits) and the
 * steps run on a thread of their own, which starts it when they pass. */
bool zl_agent__has_init(const struct zl_sval *svc);
int zl_agent__init_start(struct zl_agent *a, const struct zl_sval *svc,
                         const struct zl_replica_ref *r, int pid, struct zl_err *err);
enum zl_agent_init_state zl_agent__init_state(struct zl_agent *a, const char *id, char *why,
                                              size_t cap);
/* The replica goes: its record too (a running init is told to stop). */
void zl_agent__init_forget(struct zl_agent *a, const char *id);
/* The daemon stops: every init thread is told to stop; waits (10 s at most) until they
 * have. False when some did not (the agent must then not be freed). */
bool zl_agent__init_stop_all(struct zl_agent *a);
/* The same for a's own init threads only (a job run's agent goes). True once none of them
 * runs: nothing touches a any more. */
bool zl_agent__init_stop(struct zl_agent *a);
void zl_agent__remove_container(struct zl_agent *a, const char *id, unsigned grace_ms);
void zl_agent__remove_containers(struct zl_agent *a, char *const *ids, const unsigned *grace,
                                 size_t n);
/* ---------------- the node network (net.c) ---------------- */

/* Bridge name, subnet and MTU from ZLAYER_BRIDGE, ZLAYER_SUBNET, ZLAYER_MTU. */
int zl_agent__net_config(struct zl_agent *a, struct zl_err *err);
void zl_agent__net_fini(struct zl_agent *a);
/* The daemon starts: the bridge is made sure of and the rules rebuilt from the containers. */
int zl_agent__net_start(struct zl_agent *a, struct zl_err *err);
/* The daemon stops: with no container left on the network, the bridge and rules go. */
void zl_agent__net_stop(struct zl_agent *a);
/* Give replica r the network its service asks for, changing cfg (config.json) to match:
 * the namespace to join, and the files /etc/hosts, /etc/resolv.conf, /etc/hostname. */
int zl_agent__net_prepare(struct zl_agent *a, const struct zl_sval *svc,
                          const struct zl_replica_ref *r, json_t *cfg, struct zl_err *err);
/* The containers go: their veths, namespaces, rules and addresses too. */
void zl_agent__net_release(struct zl_agent *a, char *const *ids, size_t n);
/* fn for every container's network record (net.json), with its id. */
void zl_agent__net_each(struct zl_agent *a, void (*fn)(void *arg, const char *id, json_t *net),
                        void *arg);
/* Rebuild the node's rules when the containers' ports or addresses changed. */
int zl_agent__net_sync(struct zl_agent *a, struct zl_err *err);

/* ---------------- the service DNS's names (names.c) ---------------- */

struct zl_agent_names;
/* Publish into zone and proxy (the daemon's, either may be NULL; they outlive the agent's
 * use of them). */
void zl_agent__names_attach(struct zl_agent *a, struct zl_dns_zone *zone, struct zl_proxy *proxy);
/* metrics.c: the node's metrics in the Prometheus text format (proxy may be NULL); caller
 * frees. Loop thread. */
char *zl_agent__metrics(struct zl_proxy *proxy, size_t *len);
void zl_agent__names_close(struct zl_agent *a);
/* During a pass: a service's endpoints (SRV records), published at its end. */
void zl_agent__names_endpoints(struct zl_agent *a, const char *dep, const char *svcname,
                               const struct zl_sval *svc);
/* The end of a pass: every container with an address; the ready ones answer for their
 * service. */
void zl_agent__names_publish(struct zl_agent *a, char *const *ready, size_t nready);
/* A replica that just got its address: its queries are its deployment's from the first one
 * (it answers for its service once ready). */
void zl_agent__names_client(struct zl_agent *a, const struct zl_replica_ref *r, uint32_t ip);
/* A replica found ready during a pass answers now (known since the last pass's end). */
void zl_agent__names_ready(struct zl_agent *a, const char *id);
/* Replicas about to be stopped leave the answers now. */
void zl_agent__names_forget(struct zl_agent *a, char *const *ids, size_t n);
/* The endpoints of a deployment's externals: routes to their static backends, of which those
 * whose `health` check says unhealthy are out of the choice. The backends' checks are added
 * to *ts (*nts of them). */
struct zl_health_target;
void zl_agent__names_externals(struct zl_agent *a, const char *dep, const struct zl_sval *exts,
                               struct zl_health_target **ts, size_t *nts);
/* Wait (at most max_ms) until the proxy routes no new request to the replicas ids and those in
 * flight to them have been answered: called between names_forget and their stop signal. */
void zl_agent__names_drain(struct zl_agent *a, char *const *ids, size_t n, unsigned max_ms);

/* ---------------- job runs (jobs.c) and the cron scheduler (cron.c) ---------------- */

struct zl_agent_job_run; /* one run in progress (jobs.c) */

struct zl_agent_cron {
    char *deployment, *name, *schedule;
    struct zl_cron c;
};

/* The runner: on the loop thread but for each run's own thread. */
struct zl_jobs {
    uv_loop_t *loop;
    char *root_dir, *runtime_dir;
    char *jobs_dir;      /* ROOT/jobs: each run's output, <id>.log */
    struct zl_store *db; /* the loop thread's connection */
    struct zl_api_events *events;
    uv_async_t async; /* a run's thread is done */
    struct zl_agent_job_run *runs;
    bool stopping;
    /* the scheduler */
    uv_timer_t timer;
    int64_t started_ms; /* unix ms: crons due before this are caught up once */
    char *crons_key;    /* the deployments and revisions the crons below came from */
    struct zl_agent_cron *crons;
    size_t ncrons;
    unsigned pending_closes;
};

/* Open the runner: ROOT/jobs, the database; runs a killed daemon left unfinished are failed
 * and their containers removed (this blocks: call it before the loop serves). */
struct zl_jobs *zl_agent__jobs_new(uv_loop_t *loop, const char *root, const char *runtime,
                                   struct zl_api_events *events, struct zl_err *err);
/* Start a run of dep's job (a service with rtype job or cron) in its own thread; its id in
 * *id. -EBUSY when zl_agent_job_admit says no. Loop thread. */
int zl_agent__jobs_trigger(struct zl_jobs *j, const char *dep, const char *job, bool is_cron,
                           const char *trigger, int64_t *id, struct zl_err *err);
/* Ask a run in progress to stop (its container gets SIGTERM, then SIGKILL after its grace
 * period); -ZL_ENOTFOUND when it is not in progress. Loop thread. */
int zl_agent__jobs_cancel(struct zl_jobs *j, int64_t id, struct zl_err *err);
/* Runs whose deployment is not among deps (it was removed) are stopped. Loop thread. */
void zl_agent__jobs_orphans(struct zl_jobs *j, const struct zl_store_deployment *deps, size_t n);
/* SIGTERM: no new runs; runs in progress are stopped and recorded as failed. */
void zl_agent__jobs_stop(struct zl_jobs *j);
/* After the loop stopped: waits for every run's thread, closes the handles (the loop must run
 * once more to free the runner). */
void zl_agent__jobs_close(struct zl_jobs *j);
/* Drop a job's runs beyond the newest 50 finished ones, and their logs; any thread, with its
 * own connection. */
void zl_agent__jobs_prune(struct zl_store *db, const char *jobs_dir, const char *dep,
                          const char *job);
/* The scheduler's 1 s timer (cron.c). */
void zl_agent__cron_start(struct zl_jobs *j);
void zl_agent__cron_fini(struct zl_jobs *j);

/* A stable text of a typed value, for hashing. */
void zl_agent__sval_text(const struct zl_sval *v, struct zl_buf *b);

#endif
