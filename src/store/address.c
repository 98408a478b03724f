/* SPDX-License-Identifier: Apache-2.0 */
/* store/address.c: containers' addresses (net/ipam.c decides the range). */
#include <string.h>
#include <time.h>

#include "store/internal.h"

static int lookup(struct zl_store *s, const char *id, uint32_t *ip, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT ip FROM addresses WHERE container = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st), rc = 0;
    if (r == SQLITE_ROW)
        *ip = (uint32_t)sqlite3_column_int64(st, 0);
    else
        rc = r == SQLITE_DONE ? 1 : zl_store__sql_err(s, err, "read address");
    sqlite3_finalize(st);
    return rc;
}

int zl_store_address_take(struct zl_store *s, const char *id, uint32_t first, uint32_t last,
                          uint32_t *ip, struct zl_err *err)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "begin");
    int rc = lookup(s, id, ip, err);
    if (rc == 1) {
        /* the lowest free one: the first gap in the taken addresses of the range */
        sqlite3_stmt *st = NULL;
        uint32_t want = first;
        if (sqlite3_prepare_v2(s->db,
                               "SELECT ip FROM addresses WHERE ip BETWEEN ?1 AND ?2 ORDER BY ip",
                               -1, &st, NULL) != SQLITE_OK)
            rc = zl_store__sql_err(s, err, "prepare");
        else {
            sqlite3_bind_int64(st, 1, first);
            sqlite3_bind_int64(st, 2, last);
            while (sqlite3_step(st) == SQLITE_ROW && (uint32_t)sqlite3_column_int64(st, 0) == want)
                want++;
            sqlite3_finalize(st);
            rc = want > last ? zl_err_set(err, ZL_EFULL, "no free address") : 0;
        }
        if (rc == 0 && sqlite3_prepare_v2(s->db,
                                          "INSERT INTO addresses (ip, container, created)"
                                          " VALUES (?, ?, ?)",
                                          -1, &st, NULL) != SQLITE_OK)
            rc = zl_store__sql_err(s, err, "prepare");
        else if (rc == 0) {
            sqlite3_bind_int64(st, 1, want);
            sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : zl_store__sql_err(s, err, "store address");
            sqlite3_finalize(st);
            *ip = want;
        }
    }
    sqlite3_exec(s->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int zl_store_address_release(struct zl_store *s, const char *id, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM addresses WHERE container = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : zl_store__sql_err(s, err, "release address");
    sqlite3_finalize(st);
    return rc;
}

int zl_store_address_holders(struct zl_store *s, char ***ids, size_t *n, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    *ids = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT container FROM addresses ORDER BY ip", -1, &st, NULL) !=
        SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        *ids = zl_xrealloc(*ids, (*n + 2) * sizeof(**ids));
        (*ids)[(*n)++] = zl_xstrdup((const char *)sqlite3_column_text(st, 0));
        (*ids)[*n] = NULL;
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? 0 : zl_store__sql_err(s, err, "list addresses");
}
