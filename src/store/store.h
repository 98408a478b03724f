/* SPDX-License-Identifier: Apache-2.0 */
/* store: zlayer's SQLite state (WAL): schema, migrations and typed accessors. */
#ifndef ZL_STORE_H
#define ZL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

struct zl_store;

/* Open (creating) the database at path: WAL journal, foreign keys, a busy timeout so
 * concurrent zlayer processes wait for each other, and the schema migrated to the current
 * version inside one transaction. Caller closes with zl_store_close. */
int zl_store_open(const char *path, struct zl_store **out, struct zl_err *err);
void zl_store_close(struct zl_store *s);

/* ---------------- images ---------------- */

struct zl_store_layer {
    char *digest;   /* the stored (compressed) blob */
    char *diff_id;  /* digest of the uncompressed tar ("" for wasm layers) */
    char *chain_id; /* snapshot key ("" for wasm layers) */
    char *media_type;
    uint64_t size;
};

struct zl_store_image {
    char *ref;    /* normalised reference: "docker.io/library/busybox:latest" */
    char *digest; /* the platform manifest */
    char *media_type;
    char *config_digest;
    char *index_digest; /* the index it came from, or "" */
    char *os, *arch, *variant;
    uint64_t size;   /* config + layers, compressed */
    int64_t created; /* when pulled or imported (Unix seconds) */
    bool is_wasm;
    struct zl_store_layer *layers;
    size_t nlayers;
};
void zl_store_image_fini(struct zl_store_image *i);

/* Record an image under img->ref (replacing what the ref pointed to), in one transaction. */
int zl_store_image_put(struct zl_store *s, const struct zl_store_image *img, struct zl_err *err);
/* Look up by reference (normalised) or by manifest digest (a unique prefix of its hex is
 * enough). Returns -ZL_ENOTFOUND when there is none. */
int zl_store_image_get(struct zl_store *s, const char *ref_or_digest, struct zl_store_image *out,
                       struct zl_err *err);
/* Every image reference, sorted by reference. Caller frees each with zl_store_image_fini and
 * the array with free(). */
int zl_store_image_list(struct zl_store *s, struct zl_store_image **out, size_t *n,
                        struct zl_err *err);
/* Drop a reference; the manifest's rows go when no reference uses them. */
int zl_store_image_remove(struct zl_store *s, const char *ref, struct zl_err *err);

/* Digests of every blob (manifests, indexes, configs, layers) and every chain id that some
 * image still uses: for garbage collection. cb returns false to stop. */
int zl_store_in_use(struct zl_store *s, bool (*blob_cb)(void *ctx, const char *digest),
                    bool (*chain_cb)(void *ctx, const char *chain_id), void *ctx,
                    struct zl_err *err);

/* ---------------- deployments ---------------- */

struct zl_store_deployment {
    char *name;
    int64_t revision; /* 1, 2, ... one per apply */
    char *spec;       /* the YAML as applied */
    char *env_json;   /* values of $E: references, from the deploying client */
    char *status;     /* "deploying", "running", "failed: ...", "stopped" */
    int64_t created, updated;
};
void zl_store_deployment_fini(struct zl_store_deployment *d);

/* Apply: a new revision of name (kept in the history) in one transaction. */
int zl_store_deployment_put(struct zl_store *s, const char *name, const char *spec,
                            const char *env_json, int64_t *revision, struct zl_err *err);
int zl_store_deployment_get(struct zl_store *s, const char *name, struct zl_store_deployment *out,
                            struct zl_err *err);
int zl_store_deployment_list(struct zl_store *s, struct zl_store_deployment **out, size_t *n,
                             struct zl_err *err);
int zl_store_deployment_set_status(struct zl_store *s, const char *name, const char *status,
                                   struct zl_err *err);
/* Remove a deployment (its revision history stays). -ZL_ENOTFOUND when there is none. */
int zl_store_deployment_remove(struct zl_store *s, const char *name, struct zl_err *err);
/* The history of a deployment: every revision applied, oldest first, with what became of
 * it ("rolled back: ...", "rollback to revision 3"). Caller frees with
 * zl_store_revisions_free. */
struct zl_store_revision {
    int64_t revision, created;
    char *note;
};
int zl_store_revision_list(struct zl_store *s, const char *deployment,
                           struct zl_store_revision **out, size_t *n, struct zl_err *err);
void zl_store_revisions_free(struct zl_store_revision *v, size_t n);
int zl_store_revision_note(struct zl_store *s, const char *deployment, int64_t revision,
                           const char *note, struct zl_err *err);
/* Apply revision `to` again as a new revision (noted as a rollback); *revision gets the new
 * number. -ZL_ENOTFOUND when there is no such revision (or deployment). expect (0: any): the
 * revision the decision was made on; when the deployment is at another one, nothing changes
 * and -ZL_EINVAL is returned. */
int zl_store_rollback(struct zl_store *s, const char *deployment, int64_t to, int64_t expect,
                      int64_t *revision, struct zl_err *err);

/* Containers' addresses (net/ipam.c): the address of id, or the lowest free one in
 * [first, last] taken for it (one transaction); -ZL_EFULL when none is free. */
int zl_store_address_take(struct zl_store *s, const char *id, uint32_t first, uint32_t last,
                          uint32_t *ip, struct zl_err *err);
int zl_store_address_release(struct zl_store *s, const char *id, struct zl_err *err);
/* The containers that hold an address (a NULL-terminated array; caller frees each and it). */
int zl_store_address_holders(struct zl_store *s, char ***ids, size_t *n, struct zl_err *err);

/* Replica counts set by hand (zlayer scale); -ZL_ENOTFOUND when none was set. */
int zl_store_scale_set(struct zl_store *s, const char *deployment, const char *service,
                       unsigned replicas, struct zl_err *err);
int zl_store_scale_get(struct zl_store *s, const char *deployment, const char *service,
                       unsigned *replicas, struct zl_err *err);

/* ---------------- crashes (crash.c) ---------------- */

/* A replica that stopped on its own: its exit code (128+N for signal N), whether the cgroup
 * saw an OOM kill, and the last lines of its output. */
struct zl_store_crash {
    char *deployment, *service, *container;
    char *started; /* when the container was created: one record per container start */
    int64_t at;    /* unix seconds of the record */
    int exit_code;
    bool oom_killed;
    char *log_tail;
};
void zl_store_crash_fini(struct zl_store_crash *c);

/* Record a crash; a second record of the same container start is ignored. Only the newest
 * 200 crashes of a deployment are kept. */
int zl_store_crash_add(struct zl_store *s, const struct zl_store_crash *c, struct zl_err *err);
/* A deployment's crashes, newest first, at most limit of them. */
int zl_store_crash_list(struct zl_store *s, const char *deployment, size_t limit,
                        struct zl_store_crash **out, size_t *n, struct zl_err *err);

/* ---------------- by hand (control.c) ---------------- */

enum zl_store_control {
    ZL_CONTROL_STOP,    /* keep the deployment, run no replica */
    ZL_CONTROL_START,   /* undo a stop (the deployment's: its services' too) */
    ZL_CONTROL_RESTART, /* replace every replica once; starts a stopped one */
};
/* service NULL or "" stands for the whole deployment. Applying a deployment again clears
 * its stops. */
int zl_store_control_set(struct zl_store *s, const char *deployment, const char *service,
                         enum zl_store_control what, struct zl_err *err);
/* Is service stopped (by itself or with its deployment), and how often was it restarted? */
int zl_store_control_get(struct zl_store *s, const char *deployment, const char *service,
                         bool *stopped, int64_t *generation, struct zl_err *err);

/* ---------------- job runs and cron state (jobs.c) ---------------- */

/* One run of a job (or cron). Times are unix milliseconds, 0 while not reached. status is
 * "pending", "running", "completed", "failed", "cancelled" or "skipped"; trigger "cli",
 * "api", "scheduler" or "catch-up". */
struct zl_store_job_run {
    int64_t id;
    char *deployment, *job, *trigger, *status;
    int64_t created_at, started_at, finished_at;
    int exit_code; /* -1: none (not finished, or never started) */
    char *error;   /* why it failed, was cancelled or skipped; "" otherwise */
};
void zl_store_job_run_fini(struct zl_store_job_run *r);
/* Is status one a run ends in? */
bool zl_store_job_status_is_final(const char *status);

/* A new run in status ("pending", or "skipped" with error saying why), created now; its id
 * (never reused) in *id. */
int zl_store_job_run_add(struct zl_store *s, const char *deployment, const char *job,
                         const char *trigger, const char *status, const char *error, int64_t *id,
                         struct zl_err *err);
/* pending -> running, started at at_ms. */
int zl_store_job_run_start(struct zl_store *s, int64_t id, int64_t at_ms, struct zl_err *err);
/* The end of a run: a final status, its exit code (-1: none) and error (NULL: none). Only an
 * unfinished run changes; -ZL_ENOTFOUND otherwise. */
int zl_store_job_run_finish(struct zl_store *s, int64_t id, const char *status, int exit_code,
                            const char *error, struct zl_err *err);
/* -ZL_ENOTFOUND when there is no such run. */
int zl_store_job_run_get(struct zl_store *s, int64_t id, struct zl_store_job_run *out,
                         struct zl_err *err);
/* Runs newest first, at most limit: of job (NULL: any) in deployment (NULL: any), in status
 * (NULL: any; "unfinished": pending or running). Caller frees each with
 * zl_store_job_run_fini and the array with free(). */
int zl_store_job_run_list(struct zl_store *s, const char *deployment, const char *job,
                          const char *status, size_t limit, struct zl_store_job_run **out,
                          size_t *n, struct zl_err *err);
/* Keep the newest `keep` finished runs of one job: the ids of the runs dropped go to *ids
 * (caller frees; their logs are the caller's to remove). */
int zl_store_job_run_prune(struct zl_store *s, const char *deployment, const char *job, size_t keep,
                           int64_t **ids, size_t *n, struct zl_err *err);

/* A cron's schedule state. next_fire: 0 not yet computed, -1 never again. */
struct zl_store_cron {
    char *deployment, *name;
    char *schedule; /* the schedule next_fire was computed from */
    bool enabled;
    int64_t last_fire, next_fire; /* unix ms */
};
void zl_store_cron_fini(struct zl_store_cron *c);
/* Insert or replace every field of c's row. */
int zl_store_cron_put(struct zl_store *s, const struct zl_store_cron *c, struct zl_err *err);
/* Enable or disable, creating the row (to be scheduled) when there is none. */
int zl_store_cron_set_enabled(struct zl_store *s, const char *deployment, const char *name,
                              bool enabled, struct zl_err *err);
/* -ZL_ENOTFOUND when there is no row. */
int zl_store_cron_get(struct zl_store *s, const char *deployment, const char *name,
                      struct zl_store_cron *out, struct zl_err *err);
/* Every row, by deployment and name. Caller frees each with zl_store_cron_fini and the array
 * with free(). */
int zl_store_cron_list(struct zl_store *s, struct zl_store_cron **out, size_t *n,
                       struct zl_err *err);
int zl_store_cron_remove(struct zl_store *s, const char *deployment, const char *name,
                         struct zl_err *err);

#endif
