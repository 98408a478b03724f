/* SPDX-License-Identifier: Apache-2.0 */
/* store/crash.c: records of replicas that stopped on their own. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/internal.h"

#define KEEP_PER_DEPLOYMENT 200

void zl_store_crash_fini(struct zl_store_crash *c)
{
    free(c->deployment);
    free(c->service);
    free(c->container);
    free(c->started);
    free(c->log_tail);
    memset(c, 0, sizeof(*c));
}

int zl_store_crash_add(struct zl_store *s, const struct zl_store_crash *c, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR IGNORE INTO crashes (deployment, service, container, started,"
                           " at, exit_code, oom_killed, log_tail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, c->deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->service, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->container, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->started ? c->started : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, c->at ? c->at : (sqlite3_int64)time(NULL));
    sqlite3_bind_int(st, 6, c->exit_code);
    sqlite3_bind_int(st, 7, c->oom_killed);
    sqlite3_bind_text(st, 8, c->log_tail ? c->log_tail : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : zl_store__sql_err(s, err, "record crash");
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    /* keep the newest few per deployment: a crash loop must not grow the database forever */
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM crashes WHERE deployment = ?1 AND id <= (SELECT id FROM"
                           " crashes WHERE deployment = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, c->deployment, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, KEEP_PER_DEPLOYMENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : zl_store__sql_err(s, err, "trim crashes");
    sqlite3_finalize(st);
    return rc;
}

int zl_store_crash_list(struct zl_store *s, const char *deployment, size_t limit,
                        struct zl_store_crash **out, size_t *n, struct zl_err *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT deployment, service, container, started, at, exit_code,"
                           " oom_killed, log_tail FROM crashes WHERE deployment = ?"
                           " ORDER BY id DESC LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        *out = zl_xrealloc(*out, (*n + 1) * sizeof(**out));
        struct zl_store_crash *c = &(*out)[(*n)++];
        c->deployment = zl_store__col(st, 0);
        c->service = zl_store__col(st, 1);
        c->container = zl_store__col(st, 2);
        c->started = zl_store__col(st, 3);
        c->at = sqlite3_column_int64(st, 4);
        c->exit_code = sqlite3_column_int(st, 5);
        c->oom_killed = sqlite3_column_int(st, 6) != 0;
        c->log_tail = zl_store__col(st, 7);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        for (size_t i = 0; i < *n; i++)
            zl_store_crash_fini(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return zl_store__sql_err(s, err, "list crashes");
    }
    return 0;
}
