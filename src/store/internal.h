/* SPDX-License-Identifier: Apache-2.0 */
/* store/internal.h: what the store's files share. */
#ifndef ZL_STORE_INTERNAL_H
#define ZL_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

struct zl_store {
    sqlite3 *db;
};

/* Sets err from the connection's last error, prefixed by what; returns -ZL_EINVAL. */
int zl_store__sql_err(struct zl_store *s, struct zl_err *err, const char *what);
/* Column i of the current row as a new string ("" for NULL). */
char *zl_store__col(sqlite3_stmt *st, int i);

#endif
