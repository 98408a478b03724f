/* SPDX-License-Identifier: Apache-2.0 */
/* agent/internal.h: what the agent's files share. */
#ifndef ZL_AGENT_INTERNAL_H
#define ZL_AGENT_INTERNAL_H

#include "agent/agent.h"

#include <jansson.h>
#include "api/api.h"
#include "image/image.h"
#include "runtime/runtime.h"
#include "store/store.h"

struct zl_agent_restart {
    char id[256];
    unsigned restarts; /* crashes in a row */
    int64_t next_ms;   /* monotonic time of the next attempt, 0: none planned */
    int64_t began_ms;  /* monotonic time of the last restart */
    char started[64];  /* creation time of the container whose crash was recorded last */
};

/* A service waiting for its dependencies (key: deployment/revision/service/dependency). */
struct zl_agent_wait {
    char key[512];
    int64_t since_ms; /* monotonic */
    bool passed, told;
};

struct zl_health;

/* A replica whose init steps run (init.c); the table is shared with their threads. */
enum zl_agent_init_state { ZL_INIT_NONE, ZL_INIT_RUNNING, ZL_INIT_FAILED, ZL_INIT_DONE };
struct zl_agent_init {
    char id[256];
    enum zl_agent_init_state state;
    char why[1200]; /* why it failed */
    bool cancel;    /* the replica is being removed */
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
void zl_agent__remove_container(struct zl_agent *a, const char *id, unsigned grace_ms);
void zl_agent__remove_containers(struct zl_agent *a, char *const *ids, const unsigned *grace,
                                 size_t n);
/* A stable text of a typed value, for hashing. */
void zl_agent__sval_text(const struct zl_sval *v, struct zl_buf *b);

#endif
