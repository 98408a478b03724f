/* SPDX-License-Identifier: Apache-2.0 */
/* agent/jobs.c: job runs. A run is one container DEPLOYMENT-JOB-r<ID> made from the job's
 * service spec, like a replica, annotated io.zlayer.job_run (so the reconciler leaves it
 * alone), run to completion in a thread of its own (the loop and the reconciler never wait
 * for it), its output kept under ROOT/jobs/<ID>.log (the last 1 MiB), then removed. */
#include "agent/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS    100
#define MAX_RUN_MS (24LL * 3600 * 1000) /* a run still going after a day is stopped */
#define LOG_MAX    (1u << 20)
#define KEEP_RUNS  50

enum { CANCEL_NONE = 0, CANCEL_USER, CANCEL_STOP, CANCEL_GONE };

struct zl_agent_job_run {
    struct zl_jobs *j;
    int64_t id;
    char *deployment, *job;
    atomic_int cancel;
    atomic_bool finished; /* the thread is done with everything but being joined */
    int64_t deadline_ms;  /* monotonic: a run still going then is stopped */
    uv_thread_t thread;
    struct zl_agent_job_run *next;
};

/* How a run ended. */
struct outcome {
    const char *status;
    int exit_code;
    char error[1100];
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void job_event(struct zl_api_events *ev, const char *kind, int64_t id, const char *dep,
                      const char *job, const char *status, int exit_code)
{
    json_t *e = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s?}", "resource", "job", "kind", kind, "id",
                          (json_int_t)id, "deployment", dep, "job", job, "status", status);
    if (exit_code >= 0)
        json_object_set_new(e, "exit_code", json_integer(exit_code));
    zl_api_events_publish(ev, e);
}

static char *container_id(const char *dep, const char *job, int64_t id)
{
    return zl_xasprintf("%s-%s-r%lld", dep, job, (long long)id);
}

/* ---------------- one container ---------------- */

static bool is_stopped(struct zl_agent *a, const char *cid)
{
    char *json = NULL;
    struct zl_err err;
    bool gone =
        zl_runtime_backend_state(a->be, cid, &json, &err) < 0 || strstr(json, "\"stopped\"");
    free(json);
    return gone;
}

/* SIGTERM, SIGKILL once grace_ms are over; returns once it stopped (bounded). */
static void stop_container(struct zl_agent *a, const char *cid, unsigned grace_ms)
{
    struct zl_err err;
    if (is_stopped(a, cid))
        return;
    zl_runtime_backend_kill(a->be, cid, grace_ms ? SIGTERM : SIGKILL, true, &err);
    for (unsigned waited = 0; waited < grace_ms + 10000; waited += 50) {
        if (is_stopped(a, cid))
            return;
        if (waited >= grace_ms)
            zl_runtime_backend_kill(a->be, cid, SIGKILL, true, &err);
        sleep_ms(50);
    }
}

/* The exit code of a stopped container (128+N for signal N), or -1. */
static int exit_code_once(struct zl_agent *a, const char *cid)
{
    char *text = NULL;
    struct zl_err err;
    if (zl_runtime_list_json(a->rt_root, &text, &err) < 0)
        return -1;
    json_t *arr = json_loads(text, 0, NULL);
    free(text);
    int code = -1;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *c = json_array_get(arr, i);
        const char *id = json_string_value(json_object_get(c, "id"));
        if (id && !strcmp(id, cid))
            code = (int)json_integer_value(json_object_get(c, "exit_code"));
    }
    json_decref(arr);
    return code;
}

/* The same, given the monitor a moment (up to 10 s, on a loaded machine) to record it: the
 * process is seen gone before the monitor has written how it ended. */
static int exit_code_of(struct zl_agent *a, const char *cid)
{
    int code = exit_code_once(a, cid);
    for (int i = 0; code < 0 && i < 200; i++) {
        sleep_ms(50);
        code = exit_code_once(a, cid);
    }
    return code;
}

/* Copy the last LOG_MAX bytes (whole lines) of the container's output to ROOT/jobs/ID.log. */
static void keep_log(const char *jobs_dir, struct zl_agent *a, const char *cid, int64_t id)
{
    char *src = zl_xasprintf("%s/%s/output.log", a->containers_dir, cid);
    char *dst = zl_xasprintf("%s/%lld.log", jobs_dir, (long long)id);
    char *tmp = zl_xasprintf("%s.tmp", dst);
    FILE *in = fopen(src, "re");
    FILE *out = in ? fopen(tmp, "we") : NULL;
    struct stat st;
    if (out && fstat(fileno(in), &st) == 0) {
        if (st.st_size > (off_t)LOG_MAX) {
            fseeko(in, st.st_size - (off_t)LOG_MAX, SEEK_SET);
            int ch;
            while ((ch = fgetc(in)) != EOF && ch != '\n')
                ; /* a cut line is not kept */
        }
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
            fwrite(buf, 1, n, out);
    }
    if (out && fclose(out) == 0)
        rename(tmp, dst);
    else
        unlink(tmp);
    if (in)
        fclose(in);
    free(src);
    free(dst);
    free(tmp);
}

/* The job's init steps, in its held container (the same as a replica's, agent/init.c); the
 * container runs when they pass. False (o says why) when they failed or the run ended. */
static bool init_steps(struct zl_agent *a, const struct zl_sval *svc,
                       const struct zl_replica_ref *ref, struct zl_agent_job_run *r,
                       struct outcome *o)
{
    char *json = NULL;
    struct zl_err err;
    int pid = 0;
    if (zl_runtime_backend_state(a->be, ref->id, &json, &err) == 0) {
        json_t *st = json_loads(json, 0, NULL);
        pid = (int)json_integer_value(json_object_get(st, "pid"));
        json_decref(st);
    }
    free(json);
    if (pid <= 0 || zl_agent__init_start(a, svc, ref, pid, &err) < 0) {
        o->status = "failed";
        snprintf(o->error, sizeof(o->error), "init steps: %s",
                 pid <= 0 ? "the held container has no process" : err.msg);
        return false;
    }
    char why[1200] = "";
    enum zl_agent_init_state st;
    while ((st = zl_agent__init_state(a, ref->id, why, sizeof(why))) == ZL_INIT_RUNNING &&
           !atomic_load(&r->cancel) && zl_mono_ms() < r->deadline_ms)
        sleep_ms(POLL_MS);
    if (st == ZL_INIT_DONE)
        return true;
    o->status = atomic_load(&r->cancel) == CANCEL_USER ? "cancelled" : "failed";
    snprintf(o->error, sizeof(o->error), "%s",
             st == ZL_INIT_FAILED ? why : "ended during its init steps");
    /* the steps' thread uses the container and a: it ends first */
    zl_agent__init_stop(a);
    return false;
}

/* Run the job's container to its end (or a cancel, or the time limit). */
static void run_container(struct zl_agent_job_run *r, struct zl_agent *a,
                          const struct zl_store_deployment *d, const struct zl_sval *svc,
                          struct outcome *o)
{
    char *cid = container_id(r->deployment, r->job, r->id);
    char *dir = zl_xasprintf("%s/%s", a->containers_dir, cid);
    char idtext[32];
    snprintf(idtext, sizeof(idtext), "%lld", (long long)r->id);
    struct zl_replica_ref ref = {r->deployment, r->job, 0, cid, dir};
    json_t *ann = json_pack("{s:s}", "io.zlayer.job_run", idtext);
    unsigned grace =
        (unsigned)(zl_sval_uint(svc, "stop_grace_period", 10ull * 1000000000) / 1000000);
    struct zl_err err;
    bool init = zl_agent__has_init(svc);
    if (zl_agent__create_container(a, svc, &ref, d->env_json, "job", ann, init, &err) < 0) {
        o->status = "failed";
        snprintf(o->error, sizeof(o->error), "%s", err.msg);
    } else if (init && !init_steps(a, svc, &ref, r, o)) {
        keep_log(r->j->jobs_dir, a, cid, r->id);
        zl_agent__remove_container(a, cid, 0);
    } else {
        if (zl_store_job_run_start(a->db, r->id, zl_wall_ms(), &err) < 0)
            zl_log("error", "jobs", "%s", err.msg);
        job_event(a->events, "start", r->id, r->deployment, r->job, "running", -1);
        zl_log("info", "jobs", "%s/%s: run %lld started (%s)", r->deployment, r->job,
               (long long)r->id, cid);
        bool late = false;
        while (!atomic_load(&r->cancel) && !is_stopped(a, cid) && !late) {
            sleep_ms(POLL_MS);
            late = zl_mono_ms() >= r->deadline_ms;
        }
        int why = atomic_load(&r->cancel);
        stop_container(a, cid, grace);
        o->exit_code = exit_code_of(a, cid);
        keep_log(r->j->jobs_dir, a, cid, r->id);
        if (why == CANCEL_USER || why == CANCEL_GONE) {
            o->status = "cancelled";
            snprintf(o->error, sizeof(o->error), "%s",
                     why == CANCEL_USER ? "cancelled while running"
                                        : "its deployment was removed while it ran");
        } else if (why == CANCEL_STOP) {
            o->status = "failed";
            snprintf(o->error, sizeof(o->error), "the daemon stopped during the run");
        } else if (late) {
            o->status = "failed";
            snprintf(o->error, sizeof(o->error), "stopped after running for %lld hours",
                     MAX_RUN_MS / 3600000);
        } else {
            o->status = o->exit_code == 0 ? "completed" : "failed";
            if (o->exit_code > 0)
                snprintf(o->error, sizeof(o->error), "exited with code %d", o->exit_code);
            else if (o->exit_code < 0)
                snprintf(o->error, sizeof(o->error), "its container ended without an exit code");
        }
        zl_agent__remove_container(a, cid, 0);
    }
    json_decref(ann);
    free(dir);
    free(cid);
}

/* Everything a run does, in its thread. */
static void execute(struct zl_agent_job_run *r, struct zl_agent *a, struct outcome *o)
{
    struct zl_store_deployment d = {0};
    struct zl_spec *spec = NULL;
    struct zl_diags *diags = NULL;
    const struct zl_sval *svc = NULL;
    struct zl_err err;
    if (zl_store_deployment_get(a->db, r->deployment, &d, &err) == 0 &&
        zl_spec_load(d.name, d.spec, strlen(d.spec), NULL, &spec, &diags) == 0)
        svc = zl_sval_get(zl_sval_get(zl_spec_root(spec), "services"), r->job);
    zl_diags_free(diags);
    if (!svc) {
        o->status = "failed";
        snprintf(o->error, sizeof(o->error), "deployment %s has no job %s any more", r->deployment,
                 r->job);
    } else if (atomic_load(&r->cancel)) {
        bool stop = atomic_load(&r->cancel) == CANCEL_STOP;
        o->status = stop ? "failed" : "cancelled";
        snprintf(o->error, sizeof(o->error), "%s before it started",
                 stop ? "the daemon stopped" : "cancelled");
    } else {
        run_container(r, a, &d, svc, o);
    }
    zl_spec_free(spec);
    if (d.name)
        zl_store_deployment_fini(&d);
}

void zl_agent__jobs_prune(struct zl_store *db, const char *jobs_dir, const char *dep,
                          const char *job)
{
    int64_t *ids = NULL;
    size_t n = 0;
    struct zl_err err;
    if (zl_store_job_run_prune(db, dep, job, KEEP_RUNS, &ids, &n, &err) < 0)
        zl_log("error", "jobs", "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        char *log = zl_xasprintf("%s/%lld.log", jobs_dir, (long long)ids[i]);
        unlink(log);
        free(log);
    }
    free(ids);
}

static void run_thread(void *arg)
{
    struct zl_agent_job_run *r = arg;
    struct zl_jobs *j = r->j;
    /* on the heap: init steps that do not stop in time keep using it */
    struct zl_agent *a = zl_xcalloc(1, sizeof(*a));
    struct outcome o = {.status = "failed", .exit_code = -1};
    struct zl_err err;
    r->deadline_ms = zl_mono_ms() + MAX_RUN_MS;
    if (zl_agent__open(a, j->root_dir, j->runtime_dir, &err) < 0)
        snprintf(o.error, sizeof(o.error), "%s", err.msg);
    else {
        a->events = j->events;
        execute(r, a, &o);
    }
    /* the record needs a connection of this thread's own, even when the rest failed */
    struct zl_store *db = a->db;
    char *path = db ? NULL : zl_xasprintf("%s/state.db", j->root_dir);
    if (path && zl_store_open(path, &db, &err) < 0)
        zl_log("error", "jobs", "%s", err.msg);
    if (db && zl_store_job_run_finish(db, r->id, o.status, o.exit_code, o.error, &err) < 0)
        zl_log("error", "jobs", "%s", err.msg);
    if (db)
        zl_agent__jobs_prune(db, j->jobs_dir, r->deployment, r->job);
    if (path)
        zl_store_close(db);
    free(path);
    zl_log(strcmp(o.status, "completed") ? "warn" : "info", "jobs", "%s/%s: run %lld %s%s%s",
           r->deployment, r->job, (long long)r->id, o.status, o.error[0] ? ": " : "", o.error);
    job_event(j->events, "finish", r->id, r->deployment, r->job, o.status, o.exit_code);
    if (zl_agent__init_stop(a)) {
        zl_agent__close(a);
        free(a);
    } else {
        zl_log("warn", "jobs", "%s/%s: run %lld: its init steps did not stop: their agent is kept",
               r->deployment, r->job, (long long)r->id);
    }
    atomic_store(&r->finished, true);
    uv_async_send(&j->async);
}

/* ---------------- the runner (loop thread) ---------------- */

static void run_free(struct zl_agent_job_run *r)
{
    free(r->deployment);
    free(r->job);
    free(r);
}

/* Join the threads that are done and forget their runs. */
static void reap(struct zl_jobs *j, bool all)
{
    for (struct zl_agent_job_run **p = &j->runs; *p;) {
        struct zl_agent_job_run *r = *p;
        if (all || atomic_load(&r->finished)) {
            uv_thread_join(&r->thread);
            *p = r->next;
            run_free(r);
        } else {
            p = &r->next;
        }
    }
}

static void on_async(uv_async_t *h)
{
    reap(h->data, false);
}

int zl_agent__jobs_trigger(struct zl_jobs *j, const char *dep, const char *job, bool is_cron,
                           const char *trigger, int64_t *id, struct zl_err *err)
{
    if (j->stopping)
        return zl_err_set(err, EBUSY, "the daemon is stopping");
    unsigned of_job = 0, total = 0;
    int64_t running = 0;
    for (struct zl_agent_job_run *r = j->runs; r; r = r->next) {
        if (atomic_load(&r->finished))
            continue;
        total++;
        if (!strcmp(r->deployment, dep) && !strcmp(r->job, job)) {
            of_job++;
            running = r->id;
        }
    }
    switch (zl_agent_job_admit(is_cron, of_job, total)) {
    case ZL_JOB_OVERLAP:
        return zl_err_set(err, EBUSY, "cron %s is still running (run %lld): crons never overlap",
                          job, (long long)running);
    case ZL_JOB_FULL:
        return zl_err_set(err, EBUSY,
                          "too many runs at once (%u of job %s, %u on this node; at most %d and "
                          "%d)",
                          of_job, job, total, ZL_JOB_MAX_RUNS_PER_JOB, ZL_JOB_MAX_RUNS);
    case ZL_JOB_ADMIT:
        break;
    }
    if (zl_store_job_run_add(j->db, dep, job, trigger, "pending", NULL, id, err) < 0)
        return -ZL_EINVAL;
    struct zl_agent_job_run *r = zl_xcalloc(1, sizeof(*r));
    r->j = j;
    r->id = *id;
    r->deployment = zl_xstrdup(dep);
    r->job = zl_xstrdup(job);
    atomic_init(&r->cancel, CANCEL_NONE);
    atomic_init(&r->finished, false);
    int rc = uv_thread_create(&r->thread, run_thread, r);
    if (rc < 0) {
        struct zl_err ignore;
        zl_store_job_run_finish(j->db, *id, "failed", -1, "could not start a thread", &ignore);
        run_free(r);
        return zl_err_set(err, -rc, "start run %lld: %s", (long long)*id, uv_strerror(rc));
    }
    r->next = j->runs;
    j->runs = r;
    zl_log("info", "jobs", "%s/%s: run %lld triggered (%s)", dep, job, (long long)*id, trigger);
    return 0;
}

int zl_agent__jobs_cancel(struct zl_jobs *j, int64_t id, struct zl_err *err)
{
    for (struct zl_agent_job_run *r = j->runs; r; r = r->next)
        if (r->id == id && !atomic_load(&r->finished)) {
            atomic_store(&r->cancel, CANCEL_USER);
            return 0;
        }
    return zl_err_set(err, ZL_ENOTFOUND, "run %lld is not in progress", (long long)id);
}

void zl_agent__jobs_orphans(struct zl_jobs *j, const struct zl_store_deployment *deps, size_t n)
{
    for (struct zl_agent_job_run *r = j->runs; r; r = r->next) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = !strcmp(deps[i].name, r->deployment);
        if (!known && !atomic_load(&r->finished) && !atomic_load(&r->cancel)) {
            zl_log("info", "jobs", "%s/%s: run %lld: its deployment was removed, stopping it",
                   r->deployment, r->job, (long long)r->id);
            atomic_store(&r->cancel, CANCEL_GONE);
        }
    }
}

void zl_agent__jobs_stop(struct zl_jobs *j)
{
    if (!j)
        return;
    j->stopping = true;
    uv_timer_stop(&j->timer);
    for (struct zl_agent_job_run *r = j->runs; r; r = r->next) {
        int none = CANCEL_NONE; /* a run already cancelled keeps its reason */
        atomic_compare_exchange_strong(&r->cancel, &none, CANCEL_STOP);
    }
}

static void on_closed(uv_handle_t *h)
{
    struct zl_jobs *j = h->data;
    if (--j->pending_closes)
        return;
    zl_agent__cron_fini(j);
    zl_store_close(j->db);
    free(j->root_dir);
    free(j->runtime_dir);
    free(j->jobs_dir);
    free(j);
}

void zl_agent__jobs_close(struct zl_jobs *j)
{
    if (!j)
        return;
    zl_agent__jobs_stop(j);
    reap(j, true); /* each thread ends within its job's grace period */
    j->pending_closes = 2;
    uv_close((uv_handle_t *)&j->async, on_closed);
    uv_close((uv_handle_t *)&j->timer, on_closed);
}

/* Runs a killed daemon left: their containers are stopped, their output kept, and they are
 * recorded as failed. Job-run containers nobody records are removed too. */
static void recover(struct zl_jobs *j)
{
    struct zl_agent a;
    struct zl_err err;
    if (zl_agent__open(&a, j->root_dir, j->runtime_dir, &err) < 0) {
        zl_log("error", "jobs", "%s", err.msg);
        zl_agent__close(&a);
        return;
    }
    struct zl_store_job_run *runs = NULL;
    size_t n = 0;
    if (zl_store_job_run_list(j->db, NULL, NULL, "unfinished", 100000, &runs, &n, &err) < 0)
        zl_log("error", "jobs", "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        char *cid = container_id(runs[i].deployment, runs[i].job, runs[i].id);
        /* an exit code only when it ended on its own */
        int code = is_stopped(&a, cid) ? exit_code_once(&a, cid) : -1;
        stop_container(&a, cid, 0);
        keep_log(j->jobs_dir, &a, cid, runs[i].id);
        zl_agent__remove_container(&a, cid, 0);
        /* one that ended on its own while no daemon ran keeps its result */
        char why[64] = "the daemon stopped during the run";
        if (code > 0)
            snprintf(why, sizeof(why), "exited with code %d", code);
        const char *status = code == 0 ? "completed" : "failed";
        zl_store_job_run_finish(j->db, runs[i].id, status, code, code == 0 ? NULL : why, &err);
        zl_log("warn", "jobs", "%s/%s: run %lld %s while no daemon ran%s%s", runs[i].deployment,
               runs[i].job, (long long)runs[i].id, status, code ? ": " : "", code ? why : "");
        free(cid);
        zl_store_job_run_fini(&runs[i]);
    }
    free(runs);
    /* containers of runs already recorded (the daemon died between the record and the
     * removal) */
    char *text = NULL;
    json_t *arr = NULL;
    if (zl_runtime_list_json(a.rt_root, &text, &err) == 0)
        arr = json_loads(text, 0, NULL);
    free(text);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *c = json_array_get(arr, i);
        const char *id = json_string_value(json_object_get(c, "id"));
        if (id && json_object_get(json_object_get(c, "annotations"), "io.zlayer.job_run"))
            zl_agent__remove_container(&a, id, 0);
    }
    json_decref(arr);
    zl_agent__close(&a);
}

struct zl_jobs *zl_agent__jobs_new(uv_loop_t *loop, const char *root, const char *runtime,
                                   struct zl_api_events *events, struct zl_err *err)
{
    struct zl_jobs *j = zl_xcalloc(1, sizeof(*j));
    j->loop = loop;
    j->root_dir = zl_xstrdup(root);
    j->runtime_dir = zl_xstrdup(runtime);
    j->jobs_dir = zl_xasprintf("%s/jobs", root);
    j->events = events;
    j->started_ms = zl_wall_ms();
    char *db = zl_xasprintf("%s/state.db", root);
    int rc = zl_store_open(db, &j->db, err);
    free(db);
    if (rc == 0 && mkdir(j->jobs_dir, 0700) < 0 && errno != EEXIST)
        rc = zl_err_sys(err, errno, "create %s", j->jobs_dir);
    if (rc < 0) {
        zl_store_close(j->db);
        free(j->root_dir);
        free(j->runtime_dir);
        free(j->jobs_dir);
        free(j);
        return NULL;
    }
    recover(j);
    uv_async_init(loop, &j->async, on_async);
    j->async.data = j;
    zl_agent__cron_start(j);
    return j;
}
