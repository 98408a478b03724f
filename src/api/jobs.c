/* SPDX-License-Identifier: Apache-2.0 */
/* api/jobs.c: /api/v1/jobs and /api/v1/cron: trigger and cancel runs (the daemon's runner
 * does them), their status, history and output; crons with their next time, enabled or not.
 * Jobs and crons are named by service; ?deployment= picks one when several deployments
 * have a job of that name. */
#include "api/internal.h"
#include "runtime/runtime.h"
#include "spec/spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void reply(struct zl_http_req *r, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2));
    zl_http_respond(r, status, "application/json", text, strlen(text));
    free(text);
    json_decref(j);
}

/* unix ms -> RFC 3339 UTC with milliseconds, or null for 0. */
static json_t *time_json(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[64];
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
    return json_string(buf);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* JobExecutionResponse */
static json_t *run_json(const struct zl_store_job_run *r)
{
    int64_t from = r->started_at ? r->started_at : r->created_at;
    int64_t to = r->finished_at ? r->finished_at : (!strcmp(r->status, "running") ? now_ms() : 0);
    json_t *j =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)r->id, "job_name",
                  r->job, "deployment", r->deployment, "status", r->status, "trigger", r->trigger,
                  "created_at", time_json(r->created_at), "started_at", time_json(r->started_at),
                  "completed_at", time_json(r->finished_at));
    bool timed = to && strcmp(r->status, "skipped") != 0; /* a skipped time never ran */
    json_object_set_new(j, "duration_ms",
                        timed ? json_integer((json_int_t)(to - from)) : json_null());
    json_object_set_new(j, "exit_code",
                        r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
    json_object_set_new(j, "error", r->error[0] ? json_string(r->error) : json_null());
    return j;
}

/* A run id from the path: a positive decimal number, digits only (at most 18). */
static bool parse_id(const char *s, int64_t *id)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 18 || s[n] != '\0')
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    if (v <= 0)
        return false;
    *id = v;
    return true;
}

/* ---------------- naming jobs ---------------- */

struct target {
    char *deployment;
    bool is_cron;
    char *schedule; /* crons */
};

static void target_fini(struct target *t)
{
    free(t->deployment);
    free(t->schedule);
}

/* Every job or cron (want: "job", "cron", or NULL for both) named name, in dep (NULL: any). */
static json_t *find(struct zl_api *a, const char *name, const char *dep, const char *want)
{
    json_t *out = json_array();
    struct zl_store_deployment *deps = NULL;
    size_t n = 0;
    struct zl_err err;
    if (zl_store_deployment_list(a->db, &deps, &n, &err) < 0)
        return out;
    for (size_t i = 0; i < n; i++) {
        struct zl_spec *spec = NULL;
        struct zl_diags *diags = NULL;
        if ((!dep || !strcmp(dep, deps[i].name)) &&
            zl_spec_load(deps[i].name, deps[i].spec, strlen(deps[i].spec), NULL, &spec, &diags) ==
                0) {
            const struct zl_sval *svcs = zl_sval_get(zl_spec_root(spec), "services");
            for (size_t k = 0; svcs && k < svcs->n; k++) {
                const char *rtype = zl_sval_str(svcs->items[k], "rtype", "service");
                if ((name && strcmp(svcs->keys[k], name) != 0) || !strcmp(rtype, "service") ||
                    (want && strcmp(rtype, want) != 0))
                    continue;
                json_array_append_new(out,
                                      json_pack("{s:s, s:s, s:s, s:s}", "deployment", deps[i].name,
                                                "name", svcs->keys[k], "rtype", rtype, "schedule",
                                                zl_sval_str(svcs->items[k], "schedule", "")));
            }
        }
        zl_diags_free(diags);
        zl_spec_free(spec);
        zl_store_deployment_fini(&deps[i]);
    }
    free(deps);
    return out;
}

/* The one job (or cron) that name (and ?deployment=) designate; false after replying 404 or
 * 400. */
static bool resolve(struct zl_api *a, struct zl_http_req *r, const char *name, const char *want,
                    struct target *t)
{
    char dep[256];
    bool has_dep = zl_http_req_query(r, "deployment", dep, sizeof(dep));
    json_t *all = find(a, name, has_dep ? dep : NULL, want);
    bool ok = json_array_size(all) == 1;
    if (json_array_size(all) == 0) {
        zl_http_respond_error(r, 404, "not_found", NULL, "name: there is no %s named '%s'%s%s",
                              want ? want : "job", name, has_dep ? " in deployment " : "",
                              has_dep ? dep : "");
    } else if (!ok) {
        struct zl_buf b;
        zl_buf_init(&b);
        for (size_t i = 0; i < json_array_size(all); i++)
            zl_buf_printf(&b, "%s%s", i ? ", " : "",
                          json_string_value(json_object_get(json_array_get(all, i), "deployment")));
        zl_http_respond_error(
            r, 400, "bad_request", NULL,
            "name: '%s' is a job of several deployments (%s): add ?deployment=", name, b.data);
        zl_buf_fini(&b);
    } else {
        json_t *e = json_array_get(all, 0);
        t->deployment = zl_xstrdup(json_string_value(json_object_get(e, "deployment")));
        t->is_cron = !strcmp(json_string_value(json_object_get(e, "rtype")), "cron");
        t->schedule = zl_xstrdup(json_string_value(json_object_get(e, "schedule")));
    }
    json_decref(all);
    return ok;
}

/* ---------------- runs ---------------- */

/* POST .../{name}/trigger, body {} or {"trigger": "cli"|"api"}. */
static void trigger(struct zl_api *a, struct zl_http_req *r, const char *name, const char *want)
{
    json_t *b = r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : json_object();
    json_t *tv = json_object_get(b, "trigger");
    const char *how = tv ? json_string_value(tv) : "api";
    if (!json_is_object(b) || !how || (strcmp(how, "api") != 0 && strcmp(how, "cli") != 0)) {
        json_decref(b);
        return zl_http_respond_error(r, 400, "bad_request", NULL,
                                     "trigger: the body must be {} or {\"trigger\": \"api\" or "
                                     "\"cli\"}");
    }
    struct target t = {0};
    int64_t id = 0;
    struct zl_err err;
    if (!a->job_trigger || !a->jobs_arg) {
        zl_http_respond_error(r, 503, "service_unavailable", NULL, "this daemon runs no jobs");
    } else if (resolve(a, r, name, want, &t)) {
        int rc = a->job_trigger(a->jobs_arg, t.deployment, name, t.is_cron, how, &id, &err);
        if (rc == -EBUSY)
            zl_http_respond_error(r, 409, "conflict", NULL, "%s", err.msg);
        else if (rc < 0)
            zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
        else {
            char *msg =
                zl_xasprintf("run %lld of %s/%s started", (long long)id, t.deployment, name);
            reply(r, 202,
                  json_pack("{s:I, s:s, s:s, s:s}", "execution_id", (json_int_t)id, "deployment",
                            t.deployment, "job_name", name, "message", msg));
            free(msg);
        }
    }
    target_fini(&t);
    json_decref(b);
}

/* GET /jobs/{name}/executions?limit=N&status=S&deployment=D */
static void executions(struct zl_api *a, struct zl_http_req *r, const char *name)
{
    static const char *const statuses[] = {"pending", "running",   "completed",
                                           "failed",  "cancelled", "skipped"};
    char lbuf[32], status[32], dep[256];
    char *end = NULL;
    long limit = zl_http_req_query(r, "limit", lbuf, sizeof(lbuf)) ? strtol(lbuf, &end, 10) : 50;
    if ((end && (*end || end == lbuf)) || limit <= 0 || limit > 1000)
        return zl_http_respond_error(r, 400, "bad_request", NULL, "limit: must be 1-1000");
    bool has_status = zl_http_req_query(r, "status", status, sizeof(status));
    bool known = !has_status;
    for (size_t i = 0; i < ZL_ARRAY_LEN(statuses) && !known; i++)
        known = !strcmp(status, statuses[i]);
    if (!known)
        return zl_http_respond_error(r, 400, "bad_request", NULL,
                                     "status: must be pending, running, completed, failed, "
                                     "cancelled or skipped");
    bool has_dep = zl_http_req_query(r, "deployment", dep, sizeof(dep));
    struct zl_store_job_run *runs = NULL;
    size_t n = 0;
    struct zl_err err;
    if (zl_store_job_run_list(a->db, has_dep ? dep : NULL, name, has_status ? status : NULL,
                              (size_t)limit, &runs, &n, &err) < 0)
        return zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, run_json(&runs[i]));
        zl_store_job_run_fini(&runs[i]);
    }
    free(runs);
    json_t *jobs = n ? NULL : find(a, name, has_dep ? dep : NULL, NULL);
    if (!n && !json_array_size(jobs)) {
        json_decref(arr);
        zl_http_respond_error(r, 404, "not_found", NULL, "name: there is no job named '%s'", name);
    } else {
        reply(r, 200, arr);
    }
    json_decref(jobs);
}

/* The run that {id} names; false after replying 400 or 404. */
static bool run_of(struct zl_api *a, struct zl_http_req *r, const char *idtext,
                   struct zl_store_job_run *out)
{
    int64_t id;
    struct zl_err err;
    if (!parse_id(idtext, &id)) {
        zl_http_respond_error(r, 400, "bad_request", NULL,
                              "id: '%s' is not a run id (a positive number)", idtext);
        return false;
    }
    int rc = zl_store_job_run_get(a->db, id, out, &err);
    if (rc == -ZL_ENOTFOUND)
        zl_http_respond_error(r, 404, "not_found", NULL, "id: %s", err.msg);
    else if (rc < 0)
        zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
    return rc == 0;
}

static void cancel(struct zl_api *a, struct zl_http_req *r, struct zl_store_job_run *run)
{
    struct zl_err err;
    if (zl_store_job_status_is_final(run->status))
        return zl_http_respond_error(r, 409, "conflict", NULL, "run %lld is already %s",
                                     (long long)run->id, run->status);
    int rc =
        a->job_cancel && a->jobs_arg ? a->job_cancel(a->jobs_arg, run->id, &err) : -ZL_ENOTFOUND;
    /* not in progress here although recorded so: nothing runs it, so it ends now */
    if (rc == -ZL_ENOTFOUND &&
        zl_store_job_run_finish(a->db, run->id, "cancelled", -1, "cancelled", &err) < 0) {
        /* unless it has just ended on its own */
        struct zl_store_job_run now;
        struct zl_err err2;
        if (zl_store_job_run_get(a->db, run->id, &now, &err2) < 0)
            return zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
        if (zl_store_job_status_is_final(now.status))
            zl_http_respond_error(r, 409, "conflict", NULL,
                                  "run %lld is not running: it is already %s", (long long)run->id,
                                  now.status);
        else
            zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
        zl_store_job_run_fini(&now);
        return;
    }
    json_t *j = run_json(run);
    json_object_set_new(j, "message", json_string("cancelling: the container is being stopped"));
    reply(r, 200, j);
}

/* GET /jobs/{id}/logs: the run's output as text (kept after it ended; live while it runs). */
static void logs(struct zl_api *a, struct zl_http_req *r, const struct zl_store_job_run *run)
{
    char *path = zl_xasprintf("%s/jobs/%lld.log", a->root_dir, (long long)run->id);
    if (!zl_store_job_status_is_final(run->status)) {
        free(path);
        path = zl_xasprintf("%s/%s-%s-r%lld/output.log", a->containers_dir, run->deployment,
                            run->job, (long long)run->id);
    }
    char *text = zl_runtime_log_tail(path, 1000000, NULL, NULL, NULL);
    zl_http_respond(r, 200, "text/plain; charset=utf-8", text, strlen(text));
    free(text);
    free(path);
}

void zl_api__jobs(struct zl_api *a, struct zl_http_req *r, char seg[4][256], size_t n)
{
    bool get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
    if (n == 0 && get) { /* every job and cron: {deployment, name, rtype, schedule} */
        char dep[256];
        bool has_dep = zl_http_req_query(r, "deployment", dep, sizeof(dep));
        return reply(r, 200, find(a, NULL, has_dep ? dep : NULL, NULL));
    }
    if (n == 2 && post && !strcmp(seg[1], "trigger"))
        return trigger(a, r, seg[0], NULL);
    if (n == 2 && get && !strcmp(seg[1], "executions"))
        return executions(a, r, seg[0]);
    bool by_id = n == 2 && ((get && (!strcmp(seg[1], "status") || !strcmp(seg[1], "logs"))) ||
                            (post && !strcmp(seg[1], "cancel")));
    if (!by_id)
        return zl_http_respond_error(r, 404, "not_found", NULL, "no route for %s %s", r->method,
                                     r->path);
    struct zl_store_job_run run;
    if (!run_of(a, r, seg[0], &run))
        return;
    if (!strcmp(seg[1], "status"))
        reply(r, 200, run_json(&run));
    else if (!strcmp(seg[1], "logs"))
        logs(a, r, &run);
    else
        cancel(a, r, &run);
    zl_store_job_run_fini(&run);
}

/* ---------------- crons ---------------- */

/* CronJobResponse: {name, deployment, schedule, enabled, last_run, last_status, next_run} */
static json_t *cron_json(struct zl_api *a, const char *dep, const char *name, const char *sched)
{
    struct zl_store_cron c = {0};
    struct zl_err err;
    bool have = zl_store_cron_get(a->db, dep, name, &c, &err) == 0;
    int64_t next = have && !strcmp(c.schedule, sched) ? c.next_fire : 0;
    if (next == 0) { /* not scheduled yet: when it will be */
        struct zl_cron cr;
        const char *why = NULL;
        int64_t secs = 0;
        if (zl_cron_parse(sched, strlen(sched), &cr, &why) == 0 &&
            zl_cron_next(&cr, time(NULL), &secs) == 0)
            next = secs * 1000;
    }
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", name, "deployment", dep, "schedule", sched,
                  "enabled", have ? c.enabled : true, "next_run", time_json(next > 0 ? next : 0));
    /* the last run that ran (skipped times are not runs) */
    struct zl_store_job_run *runs = NULL;
    size_t n = 0;
    json_t *last = json_null(), *last_status = json_null();
    if (zl_store_job_run_list(a->db, dep, name, NULL, 60, &runs, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (json_is_null(last) && strcmp(runs[i].status, "skipped") != 0) {
                last = time_json(runs[i].created_at);
                last_status = json_string(runs[i].status);
            }
            zl_store_job_run_fini(&runs[i]);
        }
        free(runs);
    }
    json_object_set_new(j, "last_run", last);
    json_object_set_new(j, "last_status", last_status);
    if (have)
        zl_store_cron_fini(&c);
    return j;
}

static void cron_enable(struct zl_api *a, struct zl_http_req *r, const char *name, bool on)
{
    struct target t = {0};
    struct zl_err err;
    if (resolve(a, r, name, "cron", &t)) {
        if (zl_store_cron_set_enabled(a->db, t.deployment, name, on, &err) < 0)
            zl_http_respond_error(r, 500, "internal_error", NULL, "%s", err.msg);
        else {
            zl_api_events_publish(a->events, json_pack("{s:s, s:s, s:s, s:s}", "resource", "job",
                                                       "kind", on ? "enable" : "disable",
                                                       "deployment", t.deployment, "job", name));
            char *msg =
                zl_xasprintf("cron %s/%s %s", t.deployment, name, on ? "enabled" : "disabled");
            reply(r, 200,
                  json_pack("{s:s, s:s, s:b, s:s}", "name", name, "deployment", t.deployment,
                            "enabled", on, "message", msg));
            free(msg);
        }
    }
    target_fini(&t);
}

void zl_api__cron(struct zl_api *a, struct zl_http_req *r, char seg[4][256], size_t n)
{
    bool get = !strcmp(r->method, "GET");
    if (n == 0 && get) {
        json_t *all = find(a, NULL, NULL, "cron"), *out = json_array();
        for (size_t i = 0; i < json_array_size(all); i++) {
            json_t *e = json_array_get(all, i);
            json_array_append_new(out,
                                  cron_json(a, json_string_value(json_object_get(e, "deployment")),
                                            json_string_value(json_object_get(e, "name")),
                                            json_string_value(json_object_get(e, "schedule"))));
        }
        json_decref(all);
        return reply(r, 200, out);
    }
    if (n == 1 && get) {
        struct target t = {0};
        if (resolve(a, r, seg[0], "cron", &t))
            reply(r, 200, cron_json(a, t.deployment, seg[0], t.schedule));
        return target_fini(&t);
    }
    if (n == 2 && !strcmp(r->method, "POST") && !strcmp(seg[1], "trigger"))
        return trigger(a, r, seg[0], "cron");
    if (n == 2 && !strcmp(r->method, "PUT") &&
        (!strcmp(seg[1], "enable") || !strcmp(seg[1], "disable")))
        return cron_enable(a, r, seg[0], !strcmp(seg[1], "enable"));
    zl_http_respond_error(r, 404, "not_found", NULL, "no route for %s %s", r->method, r->path);
}
