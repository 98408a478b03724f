/* SPDX-License-Identifier: Apache-2.0 */
/* agent/cron.c: the cron scheduler: a 1 s timer on the loop that runs every enabled cron
 * whose time has come (UTC). Each cron's next fire time is kept in the state database, so a
 * time missed while no daemon ran is run once at start-up (trigger "catch-up"); scheduling
 * then goes on from now. A cron whose previous run is still going skips the tick (recorded
 * as a skipped run). Crons of a stopped deployment or service pass their times. Each tick
 * also stops the runs of deployments that were removed. */
#include "agent/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS 1000

void zl_agent__cron_fini(struct zl_jobs *j)
{
    for (size_t i = 0; i < j->ncrons; i++) {
        free(j->crons[i].deployment);
        free(j->crons[i].name);
        free(j->crons[i].schedule);
    }
    free(j->crons);
    free(j->crons_key);
    j->crons = NULL;
    j->crons_key = NULL;
    j->ncrons = 0;
}

static void add_crons(struct zl_jobs *j, const struct zl_store_deployment *d)
{
    struct zl_spec *spec = NULL;
    struct zl_diags *diags = NULL;
    if (zl_spec_load(d->name, d->spec, strlen(d->spec), NULL, &spec, &diags) == 0) {
        const struct zl_sval *svcs = zl_sval_get(zl_spec_root(spec), "services");
        for (size_t i = 0; svcs && i < svcs->n; i++) {
            const char *sched = zl_sval_str(svcs->items[i], "schedule", NULL);
            struct zl_cron c;
            const char *why = NULL;
            if (strcmp(zl_sval_str(svcs->items[i], "rtype", "service"), "cron") != 0 || !sched ||
                zl_cron_parse(sched, strlen(sched), &c, &why) < 0)
                continue;
            j->crons = zl_xrealloc(j->crons, (j->ncrons + 1) * sizeof(*j->crons));
            j->crons[j->ncrons++] = (struct zl_agent_cron){
                zl_xstrdup(d->name), zl_xstrdup(svcs->keys[i]), zl_xstrdup(sched), c};
        }
    }
    zl_diags_free(diags);
    zl_spec_free(spec);
}

/* The crons of every deployment, parsed again only when a deployment changed. */
static int refresh(struct zl_jobs *j, struct zl_err *err)
{
    struct zl_store_deployment *deps = NULL;
    size_t n = 0;
    if (zl_store_deployment_list(j->db, &deps, &n, err) < 0)
        return -ZL_EINVAL;
    struct zl_buf key;
    zl_buf_init(&key);
    zl_buf_puts(&key, "crons:\n"); /* never empty */
    for (size_t i = 0; i < n; i++)
        zl_buf_printf(&key, "%s %lld\n", deps[i].name, (long long)deps[i].revision);
    if (!j->crons_key || strcmp(j->crons_key, key.data) != 0) {
        zl_agent__cron_fini(j);
        for (size_t i = 0; i < n; i++)
            add_crons(j, &deps[i]);
        j->crons_key = zl_buf_steal(&key, NULL);
    }
    zl_buf_fini(&key);
    zl_agent__jobs_orphans(j, deps, n);
    for (size_t i = 0; i < n; i++)
        zl_store_deployment_fini(&deps[i]);
    free(deps);
    return 0;
}

/* Run the cron now, or record why this time is skipped. */
static void fire(struct zl_jobs *j, const struct zl_agent_cron *e, const char *trigger)
{
    int64_t id = 0;
    struct zl_err err, err2;
    int rc = zl_agent__jobs_trigger(j, e->deployment, e->name, true, trigger, &id, &err);
    if (rc == -EBUSY) {
        if (zl_store_job_run_add(j->db, e->deployment, e->name, trigger, "skipped", err.msg, &id,
                                 &err2) < 0) {
            zl_log("error", "jobs", "%s", err2.msg);
            return;
        }
        zl_log("info", "jobs", "%s/%s: time skipped (run %lld): %s", e->deployment, e->name,
               (long long)id, err.msg);
        zl_api_events_publish(
            j->events, json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "resource", "job", "kind",
                                 "skip", "id", (json_int_t)id, "deployment", e->deployment, "job",
                                 e->name, "status", "skipped", "error", err.msg));
        zl_agent__jobs_prune(j->db, j->jobs_dir, e->deployment, e->name);
    } else if (rc < 0) {
        zl_log("error", "jobs", "%s/%s: %s", e->deployment, e->name, err.msg);
    }
}

static struct zl_store_cron *row_of(struct zl_store_cron *rows, size_t n, const char *dep,
                                    const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].deployment, dep) && !strcmp(rows[i].name, name))
            return &rows[i];
    return NULL;
}

/* One cron at now: fire it if due; returns whether its row changed. */
static bool schedule_one(struct zl_jobs *j, const struct zl_agent_cron *e, struct zl_store_cron *w,
                         int64_t now)
{
    struct zl_err err;
    bool stopped = false;
    int64_t gen = 0;
    switch (zl_agent_cron_due(w->enabled, w->next_fire, now, j->started_ms)) {
    case ZL_CRON_WAIT:
        return false;
    case ZL_CRON_PASS:
        break;
    case ZL_CRON_FIRE:
    case ZL_CRON_CATCH_UP:
        if (zl_store_control_get(j->db, e->deployment, e->name, &stopped, &gen, &err) < 0) {
            /* whether it is stopped is not known: the next tick decides */
            zl_log("error", "jobs", "cron %s/%s: %s", e->deployment, e->name, err.msg);
            return false;
        }
        if (!stopped) {
            fire(j, e, w->next_fire < j->started_ms ? "catch-up" : "scheduler");
            w->last_fire = now;
        }
        break;
    }
    w->next_fire = zl_agent_cron_next_ms(&e->c, now);
    return true;
}

static void on_tick(uv_timer_t *t)
{
    struct zl_jobs *j = t->data;
    struct zl_err err;
    struct zl_store_cron *rows = NULL;
    size_t n = 0;
    if (j->stopping)
        return;
    if (refresh(j, &err) < 0 || zl_store_cron_list(j->db, &rows, &n, &err) < 0) {
        zl_log("error", "jobs", "cron: %s", err.msg);
        return;
    }
    int64_t now = zl_wall_ms();
    for (size_t i = 0; i < j->ncrons; i++) {
        const struct zl_agent_cron *e = &j->crons[i];
        struct zl_store_cron *row = row_of(rows, n, e->deployment, e->name);
        struct zl_store_cron w = {.deployment = e->deployment,
                                  .name = e->name,
                                  .schedule = e->schedule,
                                  .enabled = row ? row->enabled : true,
                                  .last_fire = row ? row->last_fire : 0,
                                  .next_fire = row ? row->next_fire : 0};
        bool changed = true;
        if (!row || strcmp(row->schedule, e->schedule) != 0 || w.next_fire == 0)
            w.next_fire = zl_agent_cron_next_ms(&e->c, now); /* new or changed: from now */
        else
            changed = schedule_one(j, e, &w, now);
        if (changed && zl_store_cron_put(j->db, &w, &err) < 0)
            zl_log("error", "jobs", "cron: %s", err.msg);
    }
    /* the state of crons no deployment has any more */
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t k = 0; k < j->ncrons && !known; k++)
            known = !strcmp(j->crons[k].deployment, rows[i].deployment) &&
                    !strcmp(j->crons[k].name, rows[i].name);
        if (!known)
            zl_store_cron_remove(j->db, rows[i].deployment, rows[i].name, &err);
        zl_store_cron_fini(&rows[i]);
    }
    free(rows);
}

void zl_agent__cron_start(struct zl_jobs *j)
{
    uv_timer_init(j->loop, &j->timer);
    j->timer.data = j;
    /* the first tick at once: what was missed while down is caught up at start-up */
    uv_timer_start(&j->timer, on_tick, 0, TICK_MS);
}
