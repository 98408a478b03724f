/* SPDX-License-Identifier: Apache-2.0 */
/* store/control.c: what the user asked by hand: services stopped, restarts. */
#include <string.h>

#include "store/internal.h"

int zl_store_control_set(struct zl_store *s, const char *deployment, const char *service,
                         enum zl_store_control what, struct zl_err *err)
{
    if (what == ZL_CONTROL_RESTART &&
        zl_store_control_set(s, deployment, service, ZL_CONTROL_START, err) < 0)
        return -ZL_EINVAL;
    const char *sql =
        what == ZL_CONTROL_STOP
            ? "INSERT INTO controls (deployment, service, stopped) VALUES (?1, ?2, 1)"
              " ON CONFLICT(deployment, service) DO UPDATE SET stopped = 1"
        : what == ZL_CONTROL_START
            /* starting the deployment starts each of its services too */
            ? "UPDATE controls SET stopped = 0 WHERE deployment = ?1 AND (?2 = '' OR service = ?2)"
            : "INSERT INTO controls (deployment, service, stopped, generation)"
              " VALUES (?1, ?2, 0, 1) ON CONFLICT(deployment, service) DO UPDATE SET"
              " stopped = 0, generation = generation + 1";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, service ? service : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : zl_store__sql_err(s, err, "store control");
    sqlite3_finalize(st);
    return rc;
}

int zl_store_control_get(struct zl_store *s, const char *deployment, const char *service,
                         bool *stopped, int64_t *generation, struct zl_err *err)
{
    *stopped = false;
    *generation = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT MAX(stopped), SUM(generation) FROM controls"
                           " WHERE deployment = ?1 AND (service = '' OR service = ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, service, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *stopped = sqlite3_column_int(st, 0) != 0;
        *generation = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return r == SQLITE_ROW ? 0 : zl_store__sql_err(s, err, "read control");
}
