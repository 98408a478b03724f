/* SPDX-License-Identifier: Apache-2.0 */
/* agent/reconcile.c: one pass of the reconciler: stored deployments (desired) against the
 * runtime's containers (actual): create what is missing, restart what crashed (with backoff),
 * replace what a new revision changed, remove what is no longer wanted. Runs off the loop
 * thread; every step blocks. */
#include "agent/internal.h"

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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    for (size_t i = 0; i < n; i++) {
        char *json = NULL;
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
                               const char *hash, json_t *extra_ann, struct zl_err *err)
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
        char *path = zl_xasprintf("%s/config.json", r->dir);
        if (json_dump_file(c, path, JSON_INDENT(2)) < 0)
            rc = zl_err_sys(err, errno, "write %s", path);
        free(path);
        json_decref(c);
    }
    if (rc == 0) {
        char *log = zl_xasprintf("%s/output.log", r->dir);
        struct zl_runtime_create_opts o = {.id = r->id, .bundle = r->dir, .log_file = log};
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
    int replica;
    int exit_code; /* -1 unknown */
    bool oom_killed;
    unsigned grace_ms;
    bool wanted;
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

/* May this crashed replica be started again now? */
static bool may_restart(struct zl_agent *a, const struct zl_sval *svc, const char *id)
{
    if (!zl_agent_restarts(zl_sval_str(svc, "errors.on_panic.action", "restart"),
                           zl_sval_str(svc, "restart_policy.kind", NULL)))
        return false;
    struct zl_agent_restart *r = restart_of(a, id);
    int64_t now = now_ms();
    if (r->next_ms == 0) {
        r->restarts = zl_agent_crash_count(r->restarts, r->began_ms ? now - r->began_ms : -1);
        r->next_ms = now + (int64_t)zl_agent_backoff_ms(r->restarts);
        log_msg(a, "%s: restart %u in %llu ms", id, r->restarts,
                (unsigned long long)zl_agent_backoff_ms(r->restarts));
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

/* Bring one service to its desired replicas. Returns how many run. */
static unsigned reconcile_service(struct zl_agent *a, const struct zl_store_deployment *d,
                                  const struct zl_sval *svc, const char *name, struct actual *act,
                                  size_t nact, unsigned want, int64_t generation)
{
    char hash[65];
    service_hash(svc, d->env_json, generation, hash);
    unsigned running = 0;
    for (unsigned i = 0; i < want; i++) {
        char *id = zl_xasprintf("%s-%s-%u", d->name, name, i);
        char *dir = zl_xasprintf("%s/%s", a->containers_dir, id);
        struct zl_replica_ref r = {d->name, name, i, id, dir};
        struct actual *x = NULL;
        for (size_t k = 0; k < nact; k++)
            if (!strcmp(act[k].id, id))
                x = &act[k];
        if (x)
            x->wanted = true;
        bool start = false;
        switch (zl_agent_replica_action(x ? x->status : NULL, x ? x->hash : NULL, hash)) {
        case ZL_REPLICA_CREATE:
            start = true;
            break;
        case ZL_REPLICA_REPLACE:
            log_msg(a, "%s: changed (revision %lld, or a restart), replacing", id,
                    (long long)d->revision);
            zl_agent__remove_container(a, id, grace_of(svc));
            container_event(a, "remove", d->name, name, id, -1, false);
            start = true;
            break;
        case ZL_REPLICA_RECREATE:
            log_msg(a, "%s: left half-created, starting it again", id);
            zl_agent__remove_container(a, id, 0);
            start = true;
            break;
        case ZL_REPLICA_CRASHED:
            record_crash(a, d->name, name, x);
            if (may_restart(a, svc, id)) {
                zl_agent__remove_container(a, id, 0);
                start = true;
            }
            break;
        case ZL_REPLICA_KEEP:
            running += !strcmp(x->status, "running");
            break;
        }
        struct zl_err err;
        if (start)
            container_event(a, "create", d->name, name, id, -1, false);
        if (start && zl_agent__create_container(a, svc, &r, d->env_json, hash, NULL, &err) < 0) {
            log_err(a, "%s", err.msg);
            snprintf(a->last_error, sizeof(a->last_error), "%s", err.msg);
        } else if (start) {
            container_event(a, "start", d->name, name, id, -1, false);
            running++;
        }
        free(id);
        free(dir);
    }
    return running;
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
    for (size_t i = 0; i < ndeps; i++) {
        struct zl_store_deployment *d = &deps[i];
        struct zl_spec *spec = NULL;
        struct zl_diags *diags = NULL;
        if (zl_spec_load(d->name, d->spec, strlen(d->spec), NULL, &spec, &diags) < 0) {
            zl_diags_free(diags);
            continue;
        }
        zl_diags_free(diags);
        const struct zl_sval *svcs = zl_sval_get(zl_spec_root(spec), "services");
        unsigned total_want = 0, total_run = 0, nstarted = 0;
        a->last_error[0] = '\0';
        for (size_t k = 0; k < svcs->n; k++) {
            unsigned scaled = 0;
            long s = zl_store_scale_get(a->db, d->name, svcs->keys[k], &scaled, &err) == 0
                         ? (long)scaled
                         : -1;
            unsigned want = zl_agent_desired_replicas(svcs->items[k], s);
            bool stopped = false;
            int64_t gen = 0;
            zl_store_control_get(a->db, d->name, svcs->keys[k], &stopped, &gen, &err);
            if (stopped)
                want = 0;
            else
                nstarted++;
            total_want += want;
            total_run +=
                reconcile_service(a, d, svcs->items[k], svcs->keys[k], act, nact, want, gen);
        }
        const char *status = svcs->n && !nstarted      ? "stopped"
                             : total_run == total_want ? "running"
                             : a->last_error[0]        ? NULL
                                                       : "deploying";
        char *failed = status ? NULL : zl_xasprintf("failed: %s", a->last_error);
        if (strcmp(d->status, status ? status : failed) != 0) {
            zl_store_deployment_set_status(a->db, d->name, status ? status : failed, &err);
            if (a->events)
                zl_api_events_publish(a->events,
                                      json_pack("{s:s, s:s, s:s, s:I, s:s}", "resource",
                                                "deployment", "kind", "status", "deployment",
                                                d->name, "revision", (json_int_t)d->revision,
                                                "status", status ? status : failed));
        }
        free(failed);
        zl_spec_free(spec);
    }
    /* what no deployment wants any more: stopped together, one grace period */
    char **extra = zl_xcalloc(nact + 1, sizeof(*extra));
    unsigned *grace = zl_xcalloc(nact + 1, sizeof(*grace));
    size_t nextra = 0;
    for (size_t k = 0; k < nact; k++)
        if (!act[k].wanted) {
            grace[nextra] = act[k].grace_ms;
            extra[nextra++] = act[k].id;
        }
    if (nextra)
        zl_agent__remove_containers(a, extra, grace, nextra);
    for (size_t k = 0; k < nact; k++)
        if (!act[k].wanted)
            container_event(a, "remove", act[k].deployment, act[k].service, act[k].id, -1, false);
    free(extra);
    free(grace);
    actual_free(act, nact);
    for (size_t i = 0; i < ndeps; i++)
        zl_store_deployment_fini(&deps[i]);
    free(deps);
}
