/* SPDX-License-Identifier: Apache-2.0 */
/* store/jobs.c: runs of jobs and crons (bounded history), and each cron's schedule state. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/internal.h"

static int prepare(struct zl_store *s, const char *sql, sqlite3_stmt **st, struct zl_err *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    return 0;
}

/* Step a statement that returns no rows, then finalize it. */
static int done(struct zl_store *s, sqlite3_stmt *st, const char *what, struct zl_err *err)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : zl_store__sql_err(s, err, what);
    sqlite3_finalize(st);
    return rc;
}

/* ---------------- runs ---------------- */

void zl_store_job_run_fini(struct zl_store_job_run *r)
{
    free(r->deployment);
    free(r->job);
    free(r->trigger);
    free(r->status);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

bool zl_store_job_status_is_final(const char *status)
{
    return strcmp(status, "pending") != 0 && strcmp(status, "running") != 0;
}

int zl_store_job_run_add(struct zl_store *s, const char *deployment, const char *job,
                         const char *trigger, const char *status, const char *error, int64_t *id,
                         struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s,
                "INSERT INTO job_runs (deployment, job, trigger, status, created_at, finished_at,"
                " error) VALUES (?, ?, ?, ?, ?, ?, ?)",
                &st, err) < 0)
        return -ZL_EINVAL;
    int64_t now = zl_wall_ms();
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, trigger, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    /* a skipped run is over as soon as it is recorded */
    sqlite3_bind_int64(st, 6, zl_store_job_status_is_final(status) ? now : 0);
    sqlite3_bind_text(st, 7, error ? error : "", -1, SQLITE_STATIC);
    int rc = done(s, st, "record job run", err);
    if (rc == 0)
        *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int zl_store_job_run_start(struct zl_store *s, int64_t id, int64_t at_ms, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s,
                "UPDATE job_runs SET status = 'running', started_at = ?2"
                " WHERE id = ?1 AND status = 'pending'",
                &st, err) < 0)
        return -ZL_EINVAL;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, at_ms);
    return done(s, st, "start job run", err);
}

int zl_store_job_run_finish(struct zl_store *s, int64_t id, const char *status, int exit_code,
                            const char *error, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s,
                "UPDATE job_runs SET status = ?2, exit_code = ?3, error = ?4, finished_at = ?5"
                " WHERE id = ?1 AND status IN ('pending', 'running')",
                &st, err) < 0)
        return -ZL_EINVAL;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, exit_code);
    sqlite3_bind_text(st, 4, error ? error : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, zl_wall_ms());
    int rc = done(s, st, "finish job run", err);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        rc = zl_err_set(err, ZL_ENOTFOUND, "run %lld is not pending or running", (long long)id);
    return rc;
}

#define RUN_COLUMNS                                                                     \
    "SELECT id, deployment, job, trigger, status, created_at, started_at, finished_at," \
    " exit_code, error FROM job_runs"

static void read_run(sqlite3_stmt *st, struct zl_store_job_run *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->deployment = zl_store__col(st, 1);
    r->job = zl_store__col(st, 2);
    r->trigger = zl_store__col(st, 3);
    r->status = zl_store__col(st, 4);
    r->created_at = sqlite3_column_int64(st, 5);
    r->started_at = sqlite3_column_int64(st, 6);
    r->finished_at = sqlite3_column_int64(st, 7);
    r->exit_code = sqlite3_column_int(st, 8);
    r->error = zl_store__col(st, 9);
}

int zl_store_job_run_get(struct zl_store *s, int64_t id, struct zl_store_job_run *out,
                         struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s, RUN_COLUMNS " WHERE id = ?", &st, err) < 0)
        return -ZL_EINVAL;
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_run(st, out);
    sqlite3_finalize(st);
    if (r == SQLITE_ROW)
        return 0;
    if (r == SQLITE_DONE)
        return zl_err_set(err, ZL_ENOTFOUND, "there is no job run %lld", (long long)id);
    return zl_store__sql_err(s, err, "read job run");
}

int zl_store_job_run_list(struct zl_store *s, const char *deployment, const char *job,
                          const char *status, size_t limit, struct zl_store_job_run **out,
                          size_t *n, struct zl_err *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (prepare(s,
                RUN_COLUMNS " WHERE (?1 IS NULL OR deployment = ?1) AND (?2 IS NULL OR job = ?2)"
                            " AND (?3 IS NULL OR status = ?3 OR (?3 = 'unfinished' AND status IN"
                            " ('pending', 'running'))) ORDER BY id DESC LIMIT ?4",
                &st, err) < 0)
        return -ZL_EINVAL;
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        *out = zl_xrealloc(*out, (*n + 1) * sizeof(**out));
        read_run(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        for (size_t i = 0; i < *n; i++)
            zl_store_job_run_fini(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return zl_store__sql_err(s, err, "list job runs");
    }
    return 0;
}

int zl_store_job_run_prune(struct zl_store *s, const char *deployment, const char *job, size_t keep,
                           int64_t **ids, size_t *n, struct zl_err *err)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (prepare(s,
                "DELETE FROM job_runs WHERE deployment = ?1 AND job = ?2 AND status NOT IN"
                " ('pending', 'running') AND id <= (SELECT id FROM job_runs WHERE deployment = ?1"
                " AND job = ?2 AND status NOT IN ('pending', 'running') ORDER BY id DESC"
                " LIMIT 1 OFFSET ?3) RETURNING id",
                &st, err) < 0)
        return -ZL_EINVAL;
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)keep);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        *ids = zl_xrealloc(*ids, (*n + 1) * sizeof(**ids));
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return zl_store__sql_err(s, err, "prune job runs");
    }
    return 0;
}

/* ---------------- cron state ---------------- */

void zl_store_cron_fini(struct zl_store_cron *c)
{
    free(c->deployment);
    free(c->name);
    free(c->schedule);
    memset(c, 0, sizeof(*c));
}

int zl_store_cron_put(struct zl_store *s, const struct zl_store_cron *c, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s,
                "INSERT OR REPLACE INTO cron_state (deployment, name, schedule, enabled, last_fire,"
                " next_fire) VALUES (?, ?, ?, ?, ?, ?)",
                &st, err) < 0)
        return -ZL_EINVAL;
    sqlite3_bind_text(st, 1, c->deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->schedule ? c->schedule : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, c->enabled);
    sqlite3_bind_int64(st, 5, c->last_fire);
    sqlite3_bind_int64(st, 6, c->next_fire);
    return done(s, st, "store cron state", err);
}

int zl_store_cron_set_enabled(struct zl_store *s, const char *deployment, const char *name,
                              bool enabled, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s,
                "INSERT INTO cron_state (deployment, name, enabled) VALUES (?1, ?2, ?3)"
                " ON CONFLICT(deployment, name) DO UPDATE SET enabled = ?3",
                &st, err) < 0)
        return -ZL_EINVAL;
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, enabled);
    return done(s, st, "store cron state", err);
}

#define CRON_COLUMNS \
    "SELECT deployment, name, schedule, enabled, last_fire, next_fire FROM cron_state"

static void read_cron(sqlite3_stmt *st, struct zl_store_cron *c)
{
    c->deployment = zl_store__col(st, 0);
    c->name = zl_store__col(st, 1);
    c->schedule = zl_store__col(st, 2);
    c->enabled = sqlite3_column_int(st, 3) != 0;
    c->last_fire = sqlite3_column_int64(st, 4);
    c->next_fire = sqlite3_column_int64(st, 5);
}

int zl_store_cron_get(struct zl_store *s, const char *deployment, const char *name,
                      struct zl_store_cron *out, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s, CRON_COLUMNS " WHERE deployment = ? AND name = ?", &st, err) < 0)
        return -ZL_EINVAL;
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_cron(st, out);
    sqlite3_finalize(st);
    if (r == SQLITE_ROW)
        return 0;
    if (r == SQLITE_DONE)
        return zl_err_set(err, ZL_ENOTFOUND, "no schedule state for cron %s/%s", deployment, name);
    return zl_store__sql_err(s, err, "read cron state");
}

int zl_store_cron_list(struct zl_store *s, struct zl_store_cron **out, size_t *n,
                       struct zl_err *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (prepare(s, CRON_COLUMNS " ORDER BY deployment, name", &st, err) < 0)
        return -ZL_EINVAL;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        *out = zl_xrealloc(*out, (*n + 1) * sizeof(**out));
        read_cron(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        for (size_t i = 0; i < *n; i++)
            zl_store_cron_fini(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return zl_store__sql_err(s, err, "list cron state");
    }
    return 0;
}

int zl_store_cron_remove(struct zl_store *s, const char *deployment, const char *name,
                         struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s, "DELETE FROM cron_state WHERE deployment = ? AND name = ?", &st, err) < 0)
        return -ZL_EINVAL;
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return done(s, st, "remove cron state", err);
}
