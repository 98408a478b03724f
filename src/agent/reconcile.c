/* SPDX-License-Identifier: Apache-2.0 */
/* agent/reconcile.c: one pass of the reconciler: stored deployments (desired) against the
 * runtime's containers (actual): create what is missing, restart what crashed (with backoff),
 * replace what a new revision changed, remove what is no longer wanted. Runs off the loop
 * thread; every step blocks. */
#include "agent/internal.h"
#include "agent/health.h"

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The service as the spec has it, hashed: a changed hash means the replicas are replaced. */
static void service_hash(const struct zl_sval *svc, const char *env_json, int64_t generation,
                         char out[65])
{
    struct zl_buf b;
    zl_buf_init(&b);
    if (generation) /* zlayer restart: a new generation replaces every replica */
        zl_buf_printf(&b, "generation %lld\n", (long long)generation);
    /* the typed tree has no dump of its own: hash the interesting parts through a spec dump
     * of this one object is not available, so hash a stable walk */
    zl_agent__sval_text(svc, &b);
    zl_buf_puts(&b, env_json ? env_json : "");
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(b.data, b.len, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + i * 2, 3, "%02x", md[i]);
    zl_buf_fini(&b);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    remove(p);
    return 0;
}

/* ---------------- one container ---------------- */

#define log_msg(a, ...) ((void)(a), zl_log("info", "agent", __VA_ARGS__))
#define log_err(a, ...) ((void)(a), zl_log("error", "agent", __VA_ARGS__))

/* A container event for GET /api/v1/events; exit_code < 0 is left out. */
static void container_event(struct zl_agent *a, const char *kind, const char *dep, const char *svc,
                            const char *id, int exit_code, bool oom)
{
    if (!a->events)
        return;
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "resource", "container", "kind", kind,
                           "id", id, "deployment", dep, "service", svc);
    if (exit_code >= 0)
        json_object_set_new(ev, "exit_code", json_integer(exit_code));
    if (oom)
        json_object_set_new(ev, "oom_killed", json_true());
    zl_api_events_publish(a->events, ev);
}

static bool is_stopped(struct zl_agent *a, const char *id)
{
    char *json = NULL;
    struct zl_err err;
    bool gone = zl_runtime_backend_state(a->be, id, &json, &err) < 0 || strstr(json, "\"stopped\"");
    free(json);
    return gone;
}

/* Stop several containers at once: SIGTERM to each, then SIGKILL to each still running when
 * its own grace period is over; then delete, unmount and remove their folders. */
void zl_agent__remove_containers(struct zl_agent *a, char *const *ids, const unsigned *grace,
                                 size_t n)
{
    struct zl_err err;
    zl_agent__names_forget(a, ids, n);
    /* the proxy sends them nothing new and its requests in flight end first */
    unsigned drain = 0;
    for (size_t i = 0; i < n; i++)
        drain = grace[i] > drain ? grace[i] : drain;
    zl_agent__names_drain(a, ids, n, drain < 30000 ? drain : 30000);
    bool *done = zl_xcalloc(n + 1, sizeof(*done));
    for (size_t i = 0; i < n; i++)
        if (!(done[i] = is_stopped(a, ids[i])))
            zl_runtime_backend_kill(a->be, ids[i], SIGTERM, true, &err);
    for (unsigned waited = 0;; waited += 50) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++) {
            if (done[i] || (done[i] = is_stopped(a, ids[i])))
                continue;
            if (waited >= grace[i])
                zl_runtime_backend_kill(a->be, ids[i], SIGKILL, true, &err);
            left++;
        }
        if (!left || waited > 120000)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    free(done);
    zl_agent__net_release(a, ids, n);
    for (size_t i = 0; i < n; i++) {
        char *json = NULL;
        zl_agent__init_forget(a, ids[i]);
        if (zl_runtime_backend_state(a->be, ids[i], &json, &err) == 0 &&
            zl_runtime_backend_delete(a->be, ids[i], true, &err) < 0)
            log_err(a, "delete %s: %s", ids[i], err.msg);
        free(json);
        char *dir = zl_xasprintf("%s/%s", a->containers_dir, ids[i]);
        zl_image_rootfs_unmount(dir, &err);
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
    }
}

void zl_agent__remove_container(struct zl_agent *a, const char *id, unsigned grace_ms)
{
    char *ids[1] = {(char *)id};
    zl_agent__remove_containers(a, ids, &grace_ms, 1);
}

static unsigned grace_of(const struct zl_sval *svc)
{
    uint64_t ns = zl_sval_uint(svc, "stop_grace_period", 10ull * 1000000000);
    return (unsigned)(ns / 1000000);
}

static char *image_config(struct zl_agent *a, const struct zl_image_info *info, struct zl_err *err)
{
    char *text = NULL;
    size_t len;
    if (zl_image_blob_read(zl_images_store(a->im), info->config_digest, 16u << 20, &text, &len,
                           err) < 0)
        return NULL;
    return text;
}

/* Pull (per policy), mount the rootfs, write config.json, run detached with a monitor. */
int zl_agent__create_container(struct zl_agent *a, const struct zl_sval *svc,
                               const struct zl_replica_ref *r, const char *env_json,
                               const char *hash, json_t *extra_ann, bool hold, struct zl_err *err)
{
    enum zl_pull_policy pol = ZL_PULL_IF_NOT_PRESENT;
    zl_pull_policy_parse(zl_sval_str(svc, "image.pull_policy", "if_not_present"), &pol);
    struct zl_image_info info = {0};
    int rc = zl_images_pull(a->im, zl_sval_str(svc, "image.name", ""), NULL, pol, NULL, NULL, &info,
                            err);
    if (rc == 0 && info.is_wasm)
        rc = zl_err_set(err, ZL_EINVAL,
                        "%s is a WASM artifact: WASM services run in a later "
                        "version",
                        info.ref);
    char *cfgjson = rc == 0 ? image_config(a, &info, err) : NULL;
    if (rc == 0 && !cfgjson)
        rc = -ZL_EINVAL;
    if (rc == 0 && access(r->dir, F_OK) == 0) {
        /* left by a create cut short (its daemon was killed half-way): start clean */
        struct zl_err ignore;
        zl_image_rootfs_unmount(r->dir, &ignore);
        nftw(r->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    }
    if (rc == 0 && mkdir(r->dir, 0700) < 0 && errno != EEXIST)
        rc = zl_err_sys(err, errno, "create %s", r->dir);
    if (rc == 0) {
        const char **ids = zl_xcalloc(info.nlayers + 1, sizeof(*ids));
        for (size_t i = 0; i < info.nlayers; i++)
            ids[i] = info.chain_ids[i];
        rc = zl_image_rootfs_mount(zl_images_store(a->im), ids, info.nlayers, r->dir, err);
        free(ids);
    }
    char *config =
        rc == 0 ? zl_agent_oci_config(svc, r, cfgjson, env_json, a->volumes_dir, err) : NULL;
    if (rc == 0 && !config)
        rc = -ZL_EINVAL;
    if (rc == 0) {
        json_t *c = json_loads(config, 0, NULL);
        json_t *ann = json_object_get(c, "annotations");
        json_object_set_new(ann, "io.zlayer.hash", json_string(hash));
        /* kept for when the spec is gone (down) and the replica must still stop in time */
        char grace[32];
        snprintf(grace, sizeof(grace), "%u", grace_of(svc));
        json_object_set_new(ann, "io.zlayer.stop_grace_ms", json_string(grace));
        if (extra_ann)
            json_object_update(ann, extra_ann);
        rc = zl_agent__net_prepare(a, svc, r, c, err);
        char *path = zl_xasprintf("%s/config.json", r->dir);
        if (rc == 0 && json_dump_file(c, path, JSON_INDENT(2)) < 0)
            rc = zl_err_sys(err, errno, "write %s", path);
        free(path);
        json_decref(c);
    }
    if (rc == 0) {
        char *log = zl_xasprintf("%s/output.log", r->dir);
        struct zl_runtime_create_opts o = {
            .id = r->id, .bundle = r->dir, .log_file = log, .hold = hold};
        int status;
        rc = zl_runtime_backend_run(a->be, &o, true, &status, err);
        free(log);
    }
    if (rc < 0)
        zl_agent__remove_container(a, r->id, 0);
    free(config);
    free(cfgjson);
    zl_image_info_fini(&info);
    return rc < 0 ? zl_err_wrap(err, "start %s", r->id) : 0;
}

/* ---------------- the pass ---------------- */

struct actual {
    char *id;
    char *status;
    char *deployment, *service, *hash;
    char *created;
    int replica, pid;
    int exit_code; /* -1 unknown */
    bool oom_killed;
    unsigned grace_ms;
    bool wanted;  /* a deployment's service has it: not swept */
    bool removed; /* stopped and removed during this pass */
    bool ready;   /* running and healthy (or unchecked): published in the service DNS */
    int64_t revision;
};

static void actual_free(struct actual *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].status);
        free(v[i].deployment);
        free(v[i].service);
        free(v[i].hash);
        free(v[i].created);
    }
    free(v);
}

/* The runtime's containers that zlayer made (they carry io.zlayer.* annotations). */
static struct actual *list_actual(struct zl_agent *a, size_t *n)
{
    *n = 0;
    char *json = NULL;
    struct zl_err err;
    if (zl_runtime_list_json(a->rt_root, &json, &err) < 0)
        return NULL;
    json_t *arr = json_loads(json, 0, NULL);
    free(json);
    struct actual *v = zl_xcalloc(json_array_size(arr) + 1, sizeof(*v));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        /* one read of each container's state: the list carries the annotations */
        json_t *e = json_array_get(arr, i), *ann = json_object_get(e, "annotations");
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *dep = json_string_value(json_object_get(ann, "io.zlayer.deployment"));
        /* job runs are the job runner's: the reconciler neither keeps nor removes them */
        if (id && dep && !json_object_get(ann, "io.zlayer.job_run")) {
            struct actual *x = &v[(*n)++];
            x->id = zl_xstrdup(id);
            x->status = zl_xstrdup(json_string_value(json_object_get(e, "status")));
            x->deployment = zl_xstrdup(dep);
            x->service = zl_xstrdup(json_string_value(json_object_get(ann, "io.zlayer.service")));
            x->hash = zl_xstrdup(json_string_value(json_object_get(ann, "io.zlayer.hash"))
                                     ? json_string_value(json_object_get(ann, "io.zlayer.hash"))
                                     : "");
            x->replica = (int)json_integer_value(json_object_get(ann, "io.zlayer.replica"));
            x->pid = (int)json_integer_value(json_object_get(e, "pid"));
            const char *rev = json_string_value(json_object_get(ann, "io.zlayer.revision"));
            x->revision = rev ? strtoll(rev, NULL, 10) : 0;
            const char *created = json_string_value(json_object_get(e, "created"));
            x->created = zl_xstrdup(created ? created : "");
            json_t *code = json_object_get(e, "exit_code");
            x->exit_code = json_is_integer(code) ? (int)json_integer_value(code) : -1;
            x->oom_killed = json_is_true(json_object_get(e, "oom_killed"));
            const char *g = json_string_value(json_object_get(ann, "io.zlayer.stop_grace_ms"));
            x->grace_ms = g ? (unsigned)strtoul(g, NULL, 10) : 10000;
        }
    }
    json_decref(arr);
    return v;
}

static struct zl_agent_restart *restart_of(struct zl_agent *a, const char *id)
{
    for (size_t i = 0; i < a->nrestarts; i++)
        if (!strcmp(a->restarts[i].id, id))
            return &a->restarts[i];
    a->restarts = zl_xrealloc(a->restarts, (a->nrestarts + 1) * sizeof(*a->restarts));
    struct zl_agent_restart *r = &a->restarts[a->nrestarts++];
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", id);
    return r;
}

/* May this replica, stopped with exit_code (-1: unknown, or unhealthy), be started again now?
 * Per its restart policy, after its backoff. */
static bool may_restart(struct zl_agent *a, const struct zl_sval *svc, const char *id,
                        int exit_code)
{
    const char *on_panic = zl_sval_str(svc, "errors.on_panic.action", "restart");
    const char *kind = zl_sval_str(svc, "restart_policy.kind", NULL);
    unsigned max = (unsigned)zl_sval_uint(svc, "restart_policy.max_attempts", 0);
    struct zl_agent_restart *r = restart_of(a, id);
    int64_t now = zl_mono_ms();
    if (r->next_ms == 0) {
        unsigned n = zl_agent_crash_count(r->restarts, r->began_ms ? now - r->began_ms : -1);
        if (!zl_agent_restarts(on_panic, kind, exit_code, n, max)) {
            if (!r->gave_up)
                log_msg(a, "%s: not restarted (%s%s%s)", id,
                        strcmp(on_panic, "restart") ? "errors.on_panic: " : "restart_policy: ",
                        strcmp(on_panic, "restart") ? on_panic : kind,
                        kind && !strcmp(kind, "on_failure") && exit_code != 0
                            ? ", max_attempts reached"
                            : "");
            r->gave_up = true;
            return false;
        }
        r->gave_up = false;
        r->restarts = n;
        uint64_t first = zl_sval_uint(svc, "restart_policy.delay", 1000000000ull) / 1000000;
        uint64_t wait = zl_agent_backoff_from_ms(first, r->restarts);
        r->next_ms = now + (int64_t)wait;
        log_msg(a, "%s: restart %u in %llu ms", id, r->restarts, (unsigned long long)wait);
    }
    if (now < r->next_ms)
        return false;
    r->next_ms = 0;
    r->began_ms = now;
    return true;
}

/* Record a replica that stopped on its own, once per container start: its exit code, an OOM
 * kill, and the last lines of its output. The database's unique key covers daemon restarts. */
static void record_crash(struct zl_agent *a, const char *dep, const char *svc,
                         const struct actual *x)
{
    struct zl_agent_restart *r = restart_of(a, x->id);
    if (!strcmp(r->started, x->created))
        return;
    snprintf(r->started, sizeof(r->started), "%s", x->created);
    log_msg(a, "%s exited with code %d%s", x->id, x->exit_code,
            x->oom_killed ? " (killed: out of memory)" : "");
    container_event(a, "die", dep, svc, x->id, x->exit_code, x->oom_killed);
    char *log = zl_xasprintf("%s/%s/output.log", a->containers_dir, x->id);
    char *tail = zl_runtime_log_tail(log, 20, NULL, NULL, NULL);
    free(log);
    struct zl_store_crash c = {.deployment = (char *)dep,
                               .service = (char *)svc,
                               .container = x->id,
                               .started = x->created,
                               .exit_code = x->exit_code,
                               .oom_killed = x->oom_killed,
                               .log_tail = tail};
    struct zl_err err;
    if (zl_store_crash_add(a->db, &c, &err) < 0)
        log_err(a, "%s", err.msg);
    free(tail);
}

/* ---------------- one service ---------------- */

struct pass {
    struct zl_agent *a;
    const struct zl_store_deployment *d;
    struct actual *act;
    size_t nact;
    struct zl_health_target *targets; /* replicas to health-check, collected over the pass */
    size_t ntargets;
    char reason[1024]; /* why the deployment failed or rolled back */
    bool rollback;
    int64_t rollback_to; /* the revision the ready old replicas run (0: the one before) */
    bool busy;           /* an update, a wait or a start is in progress: not "running" yet */
};

static bool is_ours(const struct actual *x, const char *dep, const char *svc)
{
    return !strcmp(x->deployment, dep) && x->service && !strcmp(x->service, svc);
}

/* Ready: running and healthy, or running without a check (checked: its service has one). A
 * replica of a checked service that is not checked yet (just started, or the daemon just
 * started) is starting, not ready. */
static bool ready_of(struct zl_agent *a, const struct actual *x, bool checked,
                     struct zl_health_status *hs)
{
    *hs = zl_health_get(a->health, x->id);
    if (hs->state == ZL_HEALTH_NONE && checked && a->health) {
        hs->state = ZL_HEALTH_STARTING;
        hs->since_ms = zl_wall_ms();
    }
    return !strcmp(x->status, "running") &&
           (hs->state == ZL_HEALTH_NONE || hs->state == ZL_HEALTH_HEALTHY);
}

static bool has_check(const struct zl_sval *svc)
{
    struct zl_health_target t = {0};
    bool yes = zl_health_target_from_spec(svc, &t);
    zl_health_target_fini(&t);
    return yes;
}

static void add_target(struct pass *p, const struct zl_sval *svc, const char *svcname,
                       const char *id, const char *created, int pid, bool keep)
{
    struct zl_health_target t = {.keep = keep};
    if (pid <= 0 || !zl_health_target_from_spec(svc, &t))
        return;
    t.id = zl_xstrdup(id);
    t.deployment = zl_xstrdup(p->d->name);
    t.service = zl_xstrdup(svcname);
    t.created = zl_xstrdup(created ? created : "");
    t.pid = pid;
    p->targets = zl_xrealloc(p->targets, (p->ntargets + 1) * sizeof(*p->targets));
    p->targets[p->ntargets++] = t;
}

/* A replica removed during the pass is checked no more (its id may be reused at once). */
static void drop_target(struct pass *p, struct actual *x)
{
    x->removed = true;
    for (size_t i = 0; i < p->ntargets; i++)
        if (!strcmp(p->targets[i].id, x->id)) {
            zl_health_target_fini(&p->targets[i]);
            p->targets[i--] = p->targets[--p->ntargets];
        }
}

/* The longest a new replica may take to become healthy during an update. */
static int64_t health_deadline_ms(const struct zl_sval *svc)
{
    struct zl_health_target t = {0};
    if (!zl_health_target_from_spec(svc, &t))
        return 0;
    int64_t ms = (int64_t)(t.grace_ms + (t.retries + 1) * (t.interval_ms + t.timeout_ms)) + 30000;
    zl_health_target_fini(&t);
    return ms;
}

static void start_replica(struct pass *p, const struct zl_sval *svc, const char *name, unsigned idx,
                          const char *hash)
{
    struct zl_agent *a = p->a;
    char *id = zl_xasprintf("%s-%s-%u", p->d->name, name, idx);
    char *dir = zl_xasprintf("%s/%s", a->containers_dir, id);
    struct zl_replica_ref r = {p->d->name, name, idx, id, dir};
    struct zl_err err;
    container_event(a, "create", p->d->name, name, id, -1, false);
    json_t *ann = json_pack("{s:I}", "io.zlayer.revision", (json_int_t)p->d->revision);
    /* the annotation is a string in OCI terms */
    char rev[32];
    snprintf(rev, sizeof(rev), "%lld", (long long)p->d->revision);
    json_object_set_new(ann, "io.zlayer.revision", json_string(rev));
    bool init = zl_agent__has_init(svc);
    if (zl_agent__create_container(a, svc, &r, p->d->env_json, hash, ann, init, &err) < 0) {
        log_err(a, "%s", err.msg);
        snprintf(p->reason, sizeof(p->reason), "%s", err.msg);
    } else {
        char *json = NULL;
        json_t *st = NULL;
        if (zl_runtime_backend_state(a->be, id, &json, &err) == 0)
            st = json_loads(json, 0, NULL);
        free(json);
        int pid = (int)json_integer_value(json_object_get(st, "pid"));
        a->again = true; /* dependencies that wait for "started" see it in the next pass */
        if (!init) {
            container_event(a, "start", p->d->name, name, id, -1, false);
            add_target(p, svc, name, id, json_string_value(json_object_get(st, "created")), pid,
                       false);
        } else if (zl_agent__init_start(a, svc, &r, pid, &err) < 0) {
            log_err(a, "%s", err.msg);
            snprintf(p->reason, sizeof(p->reason), "%s", err.msg);
        }
        json_decref(st);
    }
    json_decref(ann);
    p->busy = true;
    free(id);
    free(dir);
}

/* A named volume is one set of data: two replicas of different revisions must not share it,
 * so such a service is updated stop-first. */
static bool has_named_volume(const struct zl_sval *svc)
{
    const struct zl_sval *st = zl_sval_get(svc, "storage");
    for (size_t i = 0; st && i < st->n; i++)
        if (!strcmp(zl_sval_str(st->items[i], "type", ""), "named"))
            return true;
    return false;
}

/* Bring one service to its desired replicas, rolling an update forward one safe step at a
 * time. Returns how many replicas are ready. */
static unsigned reconcile_service(struct pass *p, const struct zl_sval *svc, const char *name,
                                  unsigned want, int64_t generation, bool gated)
{
    struct zl_agent *a = p->a;
    const struct zl_store_deployment *d = p->d;
    char hash[65];
    service_hash(svc, d->env_json, generation, hash);
    struct zl_rollout_replica *v = zl_xcalloc(p->nact + 1, sizeof(*v));
    struct actual **xs = zl_xcalloc(p->nact + 1, sizeof(*xs));
    size_t n = 0;
    bool updating = false;
    for (size_t k = 0; k < p->nact; k++)
        if (is_ours(&p->act[k], d->name, name))
            updating |= strcmp(p->act[k].hash, hash) != 0;
    int64_t now = zl_wall_ms(), deadline = health_deadline_ms(svc);
    unsigned settled = 0; /* replicas that ended cleanly and stay down by their policy */
    bool checked = has_check(svc);
    for (size_t k = 0; k < p->nact; k++) {
        struct actual *x = &p->act[k];
        if (!is_ours(x, d->name, name))
            continue;
        x->wanted = true;
        bool current = !strcmp(x->hash, hash);
        struct zl_health_status hs;
        bool ready = ready_of(a, x, checked, &hs), failed = false;
        x->ready = ready;
        if (ready)
            zl_agent__names_ready(a, x->id);
        char why[1200];
        enum zl_agent_init_state init = !strcmp(x->status, "created")
                                            ? zl_agent__init_state(a, x->id, why, sizeof(why))
                                            : ZL_INIT_NONE;
        if (init == ZL_INIT_FAILED) {
            /* kept (created, never started) so that no other replica takes its place: a
             * new revision or a restart replaces it */
            snprintf(p->reason, sizeof(p->reason), "%s: %.900s", x->id, why);
            failed = current && updating;
        }
        if (init != ZL_INIT_NONE) {
            v[n] = (struct zl_rollout_replica){
                .index = (unsigned)x->replica, .current = current, .failed = failed};
            xs[n++] = x;
            continue;
        }
        switch (zl_agent_replica_action(x->status, x->hash, current ? x->hash : "")) {
        case ZL_REPLICA_RECREATE:
            log_msg(a, "%s: left half-created, removing it", x->id);
            zl_agent__remove_container(a, x->id, 0);
            x->wanted = false; /* gone: not swept again */
            drop_target(p, x);
            continue;
        case ZL_REPLICA_CRASHED:
            record_crash(a, d->name, name, x);
            if (current && updating) {
                failed = true;
                snprintf(p->reason, sizeof(p->reason), "%s exited with code %d during the update",
                         x->id, x->exit_code);
            } else if (current && may_restart(a, svc, x->id, x->exit_code)) {
                zl_agent__remove_container(a, x->id, 0);
                drop_target(p, x);
                continue;
            } else if (current && restart_of(a, x->id)->gave_up) {
                /* its policy keeps it down: done when it ended cleanly, else a failure */
                if (x->exit_code == 0)
                    settled++;
                else
                    snprintf(p->reason, sizeof(p->reason),
                             "%s exited with code %d and its policy does not restart it", x->id,
                             x->exit_code);
            }
            break;
        default:
            if (!strcmp(x->status, "running"))
                add_target(p, svc, name, x->id, x->created, x->pid, !current);
            if (hs.state == ZL_HEALTH_UNHEALTHY && current && updating) {
                failed = true;
                json_t *hj = zl_health_json(a->health, x->id);
                snprintf(p->reason, sizeof(p->reason), "%s is unhealthy: %s", x->id,
                         json_string_value(json_object_get(hj, "output")));
                json_decref(hj);
            } else if (hs.state == ZL_HEALTH_STARTING && current && updating && deadline &&
                       now - hs.since_ms > deadline) {
                failed = true;
                snprintf(p->reason, sizeof(p->reason), "%s did not become healthy within %lld s",
                         x->id, (long long)(deadline / 1000));
            } else if (hs.state == ZL_HEALTH_UNHEALTHY && current) {
                /* replaced per the service's policy, with the crash backoff */
                if (may_restart(a, svc, x->id, -1)) {
                    log_msg(a, "%s: unhealthy, replacing it", x->id);
                    container_event(a, "unhealthy", d->name, name, x->id, -1, false);
                    zl_agent__remove_container(a, x->id, x->grace_ms);
                    drop_target(p, x);
                    continue;
                }
            }
            break;
        }
        v[n] = (struct zl_rollout_replica){
            .index = (unsigned)x->replica, .current = current, .ready = ready, .failed = failed};
        xs[n++] = x;
    }
    unsigned *create = zl_xcalloc(want + 1, sizeof(*create));
    size_t *remove = zl_xcalloc(n + 1, sizeof(*remove));
    struct zl_rollout_plan plan = {.create = create, .remove = remove};
    bool stop_first = has_named_volume(svc);
    zl_agent_rollout(v, n, want, stop_first ? 0 : 1, stop_first ? 1 : 0, &plan);
    unsigned ready = 0;
    for (size_t i = 0; i < n; i++)
        ready += v[i].current && v[i].ready;
    if (plan.failed >= 0) {
        p->rollback = true;
        /* back to what the serving old replicas run */
        for (size_t i = 0; i < n; i++)
            if (!v[i].current && v[i].ready && xs[i]->revision > p->rollback_to &&
                xs[i]->revision < d->revision)
                p->rollback_to = xs[i]->revision;
        log_err(a, "%s: update of %s failed: %s", d->name, name, p->reason);
    } else {
        for (size_t i = 0; i < plan.nremove; i++) {
            struct actual *x = xs[plan.remove[i]];
            log_msg(a, "%s: %s, stopping it", x->id,
                    v[plan.remove[i]].current ? "beyond the wanted replicas" : "old revision");
            zl_agent__remove_container(a, x->id, x->grace_ms);
            container_event(a, "remove", d->name, name, x->id, -1, false);
            drop_target(p, x);
            ready -= v[plan.remove[i]].current && v[plan.remove[i]].ready;
        }
        if (plan.ncreate && gated)
            p->busy = true; /* waiting for a dependency */
        for (size_t i = 0; !gated && i < plan.ncreate; i++)
            start_replica(p, svc, name, create[i], hash);
    }
    if (updating || ready + settled < want)
        p->busy = true;
    free(create);
    free(remove);
    free(v);
    free(xs);
    return ready;
}

/* ---------------- dependencies ---------------- */

/* Is dependency dep (condition cond) met by the replicas as they are now? */
static bool dependency_met(struct pass *p, const struct zl_sval *svcs, const char *dep,
                           const char *cond)
{
    const struct zl_sval *dsvc = zl_sval_get(svcs, dep);
    bool checked = dsvc && has_check(dsvc);
    for (size_t k = 0; k < p->nact; k++) {
        struct actual *x = &p->act[k];
        if (x->removed || !is_ours(x, p->d->name, dep) || strcmp(x->status, "running") != 0)
            continue;
        struct zl_health_status hs;
        /* "ready" asks for a healthy replica too (the proxy routes only to those) */
        if (ready_of(p->a, x, checked, &hs)) {
            /* it may have turned healthy after its own service's turn in this pass: its name
             * answers now, before the dependent that is about to ask for it starts */
            x->ready = true;
            zl_agent__names_ready(p->a, x->id);
            return true;
        }
        if (!strcmp(cond, "started"))
            return true;
    }
    return false;
}

static struct zl_agent_wait *wait_of(struct zl_agent *a, const char *key)
{
    for (size_t i = 0; i < a->nwaits; i++)
        if (!strcmp(a->waits[i].key, key)) {
            a->waits[i].seen = true;
            return &a->waits[i];
        }
    a->waits = zl_xrealloc(a->waits, (a->nwaits + 1) * sizeof(*a->waits));
    struct zl_agent_wait *w = &a->waits[a->nwaits++];
    memset(w, 0, sizeof(*w));
    snprintf(w->key, sizeof(w->key), "%s", key);
    w->since_ms = zl_mono_ms();
    w->seen = true;
    return w;
}

/* May service `name` start replicas? Only once its dependencies are met, or their timeouts
 * passed with on_timeout warn/continue. A `fail` timeout fails the deployment. */
static bool gated(struct pass *p, const struct zl_sval *svcs, const struct zl_sval *svc,
                  const char *name)
{
    const struct zl_sval *deps = zl_sval_get(svc, "depends");
    bool wait = false;
    for (size_t i = 0; deps && i < deps->n; i++) {
        const char *dep = zl_sval_str(deps->items[i], "service", "");
        const char *cond = zl_sval_str(deps->items[i], "condition", "healthy");
        char key[512];
        snprintf(key, sizeof(key), "%s/%lld/%s/%s", p->d->name, (long long)p->d->revision, name,
                 dep);
        struct zl_agent_wait *w = wait_of(p->a, key);
        if (w->passed || dependency_met(p, svcs, dep, cond)) {
            w->passed = true;
            continue;
        }
        uint64_t limit = zl_sval_uint(deps->items[i], "timeout", 300000000000ull) / 1000000;
        const char *on = zl_sval_str(deps->items[i], "on_timeout", "fail");
        if (zl_mono_ms() - w->since_ms < (int64_t)limit) {
            if (!w->told) {
                log_msg(p->a, "%s: %s waits for %s to be %s", p->d->name, name, dep, cond);
                if (p->a->events)
                    zl_api_events_publish(p->a->events,
                                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "resource",
                                                    "service", "kind", "waiting", "deployment",
                                                    p->d->name, "service", name, "dependency", dep,
                                                    "condition", cond));
            }
            w->told = true;
            wait = true;
        } else if (!strcmp(on, "fail")) {
            snprintf(p->reason, sizeof(p->reason),
                     "service %s: dependency %s not %s within %llu ms (on_timeout: fail)", name,
                     dep, cond, (unsigned long long)limit);
            wait = true;
        } else {
            if (!strcmp(on, "warn"))
                zl_log("warn", "agent", "%s: %s starts although %s is not %s after %llu ms",
                       p->d->name, name, dep, cond, (unsigned long long)limit);
            w->passed = true;
        }
    }
    return wait;
}

/* ---------------- rollback ---------------- */

/* The update failed: go back to the revision the old replicas run, as a new revision.
 * Returns false when that cannot be done (the reason then says why). */
static bool roll_back(struct pass *p)
{
    struct zl_agent *a = p->a;
    const struct zl_store_deployment *d = p->d;
    int64_t to = p->rollback_to ? p->rollback_to : d->revision - 1;
    struct zl_err err;
    char note[1200];
    snprintf(note, sizeof(note), "rolled back: %s", p->reason);
    int64_t rev = 0;
    if (to < 1 || zl_store_rollback(a->db, d->name, to, d->revision, &rev, &err) < 0 ||
        zl_store_revision_note(a->db, d->name, d->revision, note, &err) < 0) {
        size_t len = strlen(p->reason);
        snprintf(p->reason + len, sizeof(p->reason) - len, "; cannot roll back: %s",
                 to < 1 ? "no earlier revision" : err.msg);
        log_err(a, "%s: %s", d->name, p->reason);
        return false;
    }
    zl_log("warn", "agent",
           "%s: revision %lld rolled back to revision %lld (now revision %lld): %s", d->name,
           (long long)d->revision, (long long)to, (long long)rev, p->reason);
    if (a->events)
        zl_api_events_publish(a->events,
                              json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "resource",
                                        "deployment", "kind", "rollback", "deployment", d->name,
                                        "revision", (json_int_t)d->revision, "to", (json_int_t)to,
                                        "new_revision", (json_int_t)rev, "reason", p->reason));
    a->again = true;
    return true;
}

/* ---------------- the pass ---------------- */

/* Every container of deployment dep stays as it is in this pass (not swept). */
static void keep_all(struct actual *act, size_t nact, const char *dep)
{
    for (size_t k = 0; k < nact; k++)
        if (!strcmp(act[k].deployment, dep))
            act[k].wanted = true;
}

static void collect_targets(struct zl_health_target **all, size_t *n, struct pass *p)
{
    *all = zl_xrealloc(*all, (*n + p->ntargets + 1) * sizeof(**all));
    if (p->ntargets)
        memcpy(*all + *n, p->targets, p->ntargets * sizeof(**all));
    *n += p->ntargets;
    free(p->targets);
    p->targets = NULL;
    p->ntargets = 0;
}

void zl_agent_reconcile(struct zl_agent *a)
{
    struct zl_err err;
    struct zl_store_deployment *deps = NULL;
    size_t ndeps = 0, nact = 0;
    if (zl_store_deployment_list(a->db, &deps, &ndeps, &err) < 0) {
        log_err(a, "%s", err.msg);
        return;
    }
    struct actual *act = list_actual(a, &nact);
    for (size_t i = 0; i < a->nwaits; i++)
        a->waits[i].seen = false;
    a->net_defer = true;
    struct zl_health_target *all = NULL;
    size_t nall = 0;
    for (size_t i = 0; i < ndeps; i++) {
        struct zl_store_deployment *d = &deps[i];
        struct zl_spec *spec = NULL;
        struct zl_diags *diags = NULL;
        if (zl_spec_load(d->name, d->spec, strlen(d->spec), NULL, &spec, &diags) < 0) {
            zl_diags_free(diags);
            keep_all(act, nact, d->name); /* a stored spec that no longer loads: hands off */
            continue;
        }
        zl_diags_free(diags);
        const struct zl_sval *svcs = zl_sval_get(zl_spec_root(spec), "services");
        struct pass p = {.a = a, .d = d, .act = act, .nact = nact};
        unsigned nstarted = 0;
        size_t *order = zl_xcalloc(svcs->n + 1, sizeof(*order));
        size_t norder = zl_agent_service_order(svcs, order);
        for (size_t o = 0; o < norder && !p.rollback; o++) {
            size_t k = order[o];
            unsigned scaled = 0;
            long sc = zl_store_scale_get(a->db, d->name, svcs->keys[k], &scaled, &err) == 0
                          ? (long)scaled
                          : -1;
            unsigned want = zl_agent_desired_replicas(svcs->items[k], sc);
            bool stopped = false;
            int64_t gen = 0;
            zl_store_control_get(a->db, d->name, svcs->keys[k], &stopped, &gen, &err);
            if (stopped)
                want = 0;
            else
                nstarted++;
            bool wait = want && gated(&p, svcs, svcs->items[k], svcs->keys[k]);
            zl_agent__names_endpoints(a, d->name, svcs->keys[k], svcs->items[k]);
            reconcile_service(&p, svcs->items[k], svcs->keys[k], want, gen, wait);
        }
        free(order);
        if (p.rollback)
            keep_all(act, nact, d->name); /* services after the failed one were not visited */
        if (p.rollback && !roll_back(&p))
            p.rollback = false; /* stays on this revision, failed */
        collect_targets(&all, &nall, &p);
        const char *status = svcs->n && !nstarted ? "stopped"
                             : p.reason[0]        ? NULL
                             : p.busy             ? "deploying"
                                                  : "running";
        char *failed = status ? NULL : zl_xasprintf("failed: %s", p.reason);
        if (strcmp(d->status, status ? status : failed) != 0 && !p.rollback) {
            zl_store_deployment_set_status(a->db, d->name, status ? status : failed, &err);
            if (a->events)
                zl_api_events_publish(a->events,
                                      json_pack("{s:s, s:s, s:s, s:I, s:s}", "resource",
                                                "deployment", "kind", "status", "deployment",
                                                d->name, "revision", (json_int_t)d->revision,
                                                "status", status ? status : failed));
        }
        free(failed);
        zl_agent__names_externals(a, d->name, zl_sval_get(zl_spec_root(spec), "externals"), &all,
                                  &nall);
        zl_spec_free(spec);
    }
    /* what no deployment wants any more: stopped together, one grace period */
    char **extra = zl_xcalloc(nact + 1, sizeof(*extra));
    unsigned *grace = zl_xcalloc(nact + 1, sizeof(*grace));
    size_t nextra = 0;
    for (size_t k = 0; k < nact; k++)
        if (!act[k].wanted && !act[k].removed) {
            grace[nextra] = act[k].grace_ms;
            extra[nextra++] = act[k].id;
        }
    if (nextra)
        zl_agent__remove_containers(a, extra, grace, nextra);
    for (size_t k = 0; k < nact; k++)
        if (!act[k].wanted && !act[k].removed)
            container_event(a, "remove", act[k].deployment, act[k].service, act[k].id, -1, false);
    free(extra);
    free(grace);
    /* waits of revisions and services no longer there */
    for (size_t i = 0; i < a->nwaits;)
        if (!a->waits[i].seen)
            a->waits[i] = a->waits[--a->nwaits];
        else
            i++;
    a->net_defer = false;
    if (a->net_dirty && zl_agent__net_sync(a, &err) < 0)
        log_err(a, "%s", err.msg);
    a->net_dirty = false;
    char **ready = zl_xcalloc(nact + 1, sizeof(*ready));
    size_t nready = 0;
    for (size_t k = 0; k < nact; k++)
        if (act[k].ready && act[k].wanted && !act[k].removed)
            ready[nready++] = act[k].id;
    zl_agent__names_publish(a, ready, nready);
    free(ready);
    zl_health_set_targets(a->health, all, nall);
    for (size_t k = 0; k < nall; k++)
        zl_health_target_fini(&all[k]);
    free(all);
    actual_free(act, nact);
    for (size_t i = 0; i < ndeps; i++)
        zl_store_deployment_fini(&deps[i]);
    free(deps);
}
