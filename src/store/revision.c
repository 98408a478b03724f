/* SPDX-License-Identifier: Apache-2.0 */
/* store/revision.c: a deployment's history, and going back to an earlier revision. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

void zl_store_revisions_free(struct zl_store_revision *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].note);
    free(v);
}

int zl_store_revision_list(struct zl_store *s, const char *deployment,
                           struct zl_store_revision **out, size_t *n, struct zl_err *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT revision, created, note FROM revisions WHERE deployment = ?"
                           " ORDER BY revision",
                           -1, &st, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = zl_xrealloc(*out, cap * sizeof(**out));
        }
        struct zl_store_revision *v = &(*out)[(*n)++];
        v->revision = sqlite3_column_int64(st, 0);
        v->created = sqlite3_column_int64(st, 1);
        v->note = zl_store__col(st, 2);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        zl_store_revisions_free(*out, *n);
        *out = NULL;
        *n = 0;
        return zl_store__sql_err(s, err, "read revisions");
    }
    return 0;
}

int zl_store_revision_note(struct zl_store *s, const char *deployment, int64_t revision,
                           const char *note, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE revisions SET note = ?3 WHERE deployment = ?1 AND revision = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, revision);
    sqlite3_bind_text(st, 3, note, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : zl_store__sql_err(s, err, "store note");
    sqlite3_finalize(st);
    return rc;
}

int zl_store_rollback(struct zl_store *s, const char *deployment, int64_t to, int64_t expect,
                      int64_t *revision, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    if (expect) {
        /* decided on revision `expect`: a newer apply or a removal meanwhile wins */
        struct zl_store_deployment d;
        if (zl_store_deployment_get(s, deployment, &d, err) < 0)
            return -ZL_ENOTFOUND;
        int64_t now = d.revision;
        zl_store_deployment_fini(&d);
        if (now != expect)
            return zl_err_set(err, ZL_EINVAL,
                              "deployment %s is at revision %lld now, not %lld: not rolled back",
                              deployment, (long long)now, (long long)expect);
    }
    if (sqlite3_prepare_v2(s->db,
                           "SELECT spec, env FROM revisions WHERE deployment = ? AND revision = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return zl_store__sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, to);
    int r = sqlite3_step(st);
    char *spec = r == SQLITE_ROW ? zl_store__col(st, 0) : NULL,
         *env = r == SQLITE_ROW ? zl_store__col(st, 1) : NULL;
    sqlite3_finalize(st);
    if (!spec)
        return r == SQLITE_DONE
                   ? zl_err_set(err, ZL_ENOTFOUND, "deployment %s has no revision %lld", deployment,
                                (long long)to)
                   : zl_store__sql_err(s, err, "read revision");
    int64_t rev = 0;
    int rc = zl_store_deployment_put(s, deployment, spec, env, &rev, err);
    free(spec);
    free(env);
    if (rc == 0) {
        char note[64];
        snprintf(note, sizeof(note), "rollback to revision %lld", (long long)to);
        rc = zl_store_revision_note(s, deployment, rev, note, err);
    }
    if (rc == 0 && revision)
        *revision = rev;
    return rc;
}
