/* SPDX-License-Identifier: Apache-2.0 */
/* store/store.c: the SQLite database: opening, pragmas, schema migrations, image rows. */
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Each entry moves the schema one version up; never edit a shipped entry, append. */
static const char *const migrations[] = {
    "CREATE TABLE manifests ("
    " digest TEXT PRIMARY KEY, media_type TEXT NOT NULL, config_digest TEXT NOT NULL,"
    " index_digest TEXT NOT NULL DEFAULT '', os TEXT NOT NULL DEFAULT '',"
    " arch TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '',"
    " size INTEGER NOT NULL, is_wasm INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE layers ("
    " manifest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, digest TEXT NOT NULL, diff_id TEXT NOT NULL, chain_id TEXT NOT NULL,"
    " media_type TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (manifest, idx));"
    "CREATE TABLE images ("
    " ref TEXT PRIMARY KEY, manifest TEXT NOT NULL REFERENCES manifests(digest),"
    " created INTEGER NOT NULL);"
    "CREATE INDEX images_manifest ON images(manifest);",
    /* 2: deployments, their revisions, and scale set by hand */
    "CREATE TABLE deployments ("
    " name TEXT PRIMARY KEY, revision INTEGER NOT NULL, spec TEXT NOT NULL,"
    " env TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'deploying',"
    " created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE revisions ("
    " deployment TEXT NOT NULL, revision INTEGER NOT NULL, spec TEXT NOT NULL,"
    " env TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL,"
    " PRIMARY KEY (deployment, revision));"
    "CREATE TABLE scales ("
    " deployment TEXT NOT NULL, service TEXT NOT NULL, replicas INTEGER NOT NULL,"
    " PRIMARY KEY (deployment, service));",
    /* 3: crashes of replicas, once per container start */
    "CREATE TABLE crashes ("
    " id INTEGER PRIMARY KEY, deployment TEXT NOT NULL, service TEXT NOT NULL,"
    " container TEXT NOT NULL, started TEXT NOT NULL, at INTEGER NOT NULL,"
    " exit_code INTEGER NOT NULL, oom_killed INTEGER NOT NULL, log_tail TEXT NOT NULL,"
    " UNIQUE (container, started));"
    "CREATE INDEX crashes_deployment ON crashes(deployment, id);",
    /* 4: stop / start / restart by hand; service '' stands for the whole deployment */
    "CREATE TABLE controls ("
    " deployment TEXT NOT NULL, service TEXT NOT NULL, stopped INTEGER NOT NULL DEFAULT 0,"
    " generation INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (deployment, service));",
    /* 5: job runs (times in unix ms, 0: not yet; exit_code -1: none) and cron schedules */
    "CREATE TABLE job_runs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, deployment TEXT NOT NULL, job TEXT NOT NULL,"
    " trigger TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " started_at INTEGER NOT NULL DEFAULT 0, finished_at INTEGER NOT NULL DEFAULT 0,"
    " exit_code INTEGER NOT NULL DEFAULT -1, error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX job_runs_job ON job_runs(job, deployment, id);"
    "CREATE INDEX job_runs_status ON job_runs(status);"
    "CREATE TABLE cron_state ("
    " deployment TEXT NOT NULL, name TEXT NOT NULL, schedule TEXT NOT NULL DEFAULT '',"
    " enabled INTEGER NOT NULL DEFAULT 1, last_fire INTEGER NOT NULL DEFAULT 0,"
    " next_fire INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (deployment, name));",
    /* 6: what became of a revision (rolled back, a rollback of another) */
    "ALTER TABLE revisions ADD COLUMN note TEXT NOT NULL DEFAULT '';",
    /* 7: containers' addresses on the node network (IPv4, host byte order) */
    ("CREATE TABLE addresses ("
     " ip INTEGER PRIMARY KEY, container TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);"),
};

static int store_open(const char *path, struct zl_store **out, struct zl_err *err);

#define sql_err zl_store__sql_err

int zl_store__sql_err(struct zl_store *s, struct zl_err *err, const char *what)
{
    return zl_err_set(err, ZL_EINVAL, "state database: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec(struct zl_store *s, const char *sql, struct zl_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = zl_err_set(err, ZL_EINVAL, "state database: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int migrate(struct zl_store *s, struct zl_err *err)
{
    if (exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    int n = (int)ZL_ARRAY_LEN(migrations);
    if (version > n) {
        exec(s, "ROLLBACK", err);
        return zl_err_set(err, ZL_EINVAL,
                          "state database is from a newer zlayer (schema %d, this one knows %d)",
                          version, n);
    }
    for (int v = version; v < n; v++)
        if (exec(s, migrations[v], err) < 0) {
            exec(s, "ROLLBACK", NULL);
            return zl_err_wrap(err, "migrate to schema %d", v + 1);
        }
    char set[64];
    snprintf(set, sizeof(set), "PRAGMA user_version = %d", n);
    if (exec(s, set, err) < 0 || exec(s, "COMMIT", err) < 0) {
        exec(s, "ROLLBACK", NULL);
        return -1;
    }
    return 0;
}

/* Creating the file, switching it to WAL and migrating are serialised between processes with
 * a lock file: SQLite answers "busy" at once, not after the timeout, to two processes doing
 * that at the same moment. */
static int open_lock(const char *path, struct zl_err *err)
{
    char *lp = zl_xasprintf("%s.lock", path);
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lp);
    if (fd < 0)
        return zl_err_sys(err, errno, "open %s.lock", path);
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR) {
            close(fd);
            return zl_err_sys(err, errno, "lock %s", path);
        }
    return fd;
}

int zl_store_open(const char *path, struct zl_store **out, struct zl_err *err)
{
    int lock = open_lock(path, err);
    if (lock < 0)
        return lock;
    int rc = store_open(path, out, err);
    close(lock);
    return rc;
}

static int store_open(const char *path, struct zl_store **out, struct zl_err *err)
{
    struct zl_store *s = zl_xcalloc(1, sizeof(*s));
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        int rc = zl_err_set(err, ZL_EINVAL, "open state database %s: %s", path,
                            s->db ? sqlite3_errmsg(s->db) : "out of memory");
        zl_store_close(s);
        return rc;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", err) <
            0 ||
        migrate(s, err) < 0) {
        zl_err_wrap(err, "%s", path);
        zl_store_close(s);
        return -ZL_EINVAL;
    }
    *out = s;
    return 0;
}

void zl_store_close(struct zl_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

void zl_store_image_fini(struct zl_store_image *i)
{
    free(i->ref);
    free(i->digest);
    free(i->media_type);
    free(i->config_digest);
    free(i->index_digest);
    free(i->os);
    free(i->arch);
    free(i->variant);
    for (size_t k = 0; k < i->nlayers; k++) {
        free(i->layers[k].digest);
        free(i->layers[k].diff_id);
        free(i->layers[k].chain_id);
        free(i->layers[k].media_type);
    }
    free(i->layers);
    memset(i, 0, sizeof(*i));
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int put_manifest(struct zl_store *s, const struct zl_store_image *img, struct zl_err *err)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT OR REPLACE INTO manifests (digest, media_type, config_digest,"
                      " index_digest, os, arch, variant, size, is_wasm)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, img->digest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, nz(img->media_type), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, nz(img->config_digest), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, nz(img->index_digest), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, nz(img->os), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, nz(img->arch), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, nz(img->variant), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)img->size);
    sqlite3_bind_int(st, 9, img->is_wasm);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_err(s, err, "store manifest");
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO layers (manifest, idx, digest, diff_id,"
                           " chain_id, media_type, size) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    for (size_t i = 0; i < img->nlayers && rc == 0; i++) {
        const struct zl_store_layer *l = &img->layers[i];
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, img->digest, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)i);
        sqlite3_bind_text(st, 3, l->digest, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, nz(l->diff_id), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, nz(l->chain_id), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, nz(l->media_type), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)l->size);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_err(s, err, "store layer");
    }
    sqlite3_finalize(st);
    return rc;
}

int zl_store_image_put(struct zl_store *s, const struct zl_store_image *img, struct zl_err *err)
{
    if (exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    int rc = put_manifest(s, img, err);
    sqlite3_stmt *st = NULL;
    if (rc == 0 && sqlite3_prepare_v2(s->db,
                                      "INSERT OR REPLACE INTO images (ref, manifest, created)"
                                      " VALUES (?, ?, ?)",
                                      -1, &st, NULL) != SQLITE_OK)
        rc = sql_err(s, err, "prepare");
    if (rc == 0) {
        sqlite3_bind_text(st, 1, img->ref, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, img->digest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, img->created ? img->created : (sqlite3_int64)time(NULL));
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_err(s, err, "store image");
    }
    sqlite3_finalize(st);
    /* a ref moved to a new manifest may leave the old one unused */
    if (rc == 0)
        rc =
            exec(s, "DELETE FROM manifests WHERE digest NOT IN (SELECT manifest FROM images)", err);
    if (exec(s, rc == 0 ? "COMMIT" : "ROLLBACK", rc == 0 ? err : NULL) < 0 && rc == 0)
        rc = -ZL_EINVAL;
    return rc;
}

char *zl_store__col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return zl_xstrdup(t ? (const char *)t : "");
}

static int read_layers(struct zl_store *s, struct zl_store_image *img, struct zl_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT digest, diff_id, chain_id, media_type, size FROM layers"
                           " WHERE manifest = ? ORDER BY idx",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, img->digest, -1, SQLITE_STATIC);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (img->nlayers == cap) {
            cap = cap ? cap * 2 : 8;
            img->layers = zl_xrealloc(img->layers, cap * sizeof(*img->layers));
        }
        struct zl_store_layer *l = &img->layers[img->nlayers++];
        l->digest = zl_store__col(st, 0);
        l->diff_id = zl_store__col(st, 1);
        l->chain_id = zl_store__col(st, 2);
        l->media_type = zl_store__col(st, 3);
        l->size = (uint64_t)sqlite3_column_int64(st, 4);
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? 0 : sql_err(s, err, "read layers");
}

#define IMAGE_COLUMNS                                                                      \
    "SELECT i.ref, m.digest, m.media_type, m.config_digest, m.index_digest, m.os, m.arch," \
    " m.variant, m.size, i.created, m.is_wasm FROM images i JOIN manifests m"              \
    " ON m.digest = i.manifest "

static void read_image(sqlite3_stmt *st, struct zl_store_image *img)
{
    img->ref = zl_store__col(st, 0);
    img->digest = zl_store__col(st, 1);
    img->media_type = zl_store__col(st, 2);
    img->config_digest = zl_store__col(st, 3);
    img->index_digest = zl_store__col(st, 4);
    img->os = zl_store__col(st, 5);
    img->arch = zl_store__col(st, 6);
    img->variant = zl_store__col(st, 7);
    img->size = (uint64_t)sqlite3_column_int64(st, 8);
    img->created = sqlite3_column_int64(st, 9);
    img->is_wasm = sqlite3_column_int(st, 10) != 0;
}

int zl_store_image_get(struct zl_store *s, const char *key, struct zl_store_image *out,
                       struct zl_err *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    /* by reference, else by digest or a prefix of its hex that names one manifest */
    if (sqlite3_prepare_v2(s->db,
                           IMAGE_COLUMNS "WHERE i.ref = ?1 OR m.digest = ?1 OR"
                                         " (length(?1) >= 6 AND m.digest LIKE 'sha256:' ||"
                                         " replace(replace(?1, '%', ''), '_', '') || '%')"
                                         " ORDER BY i.ref = ?1 DESC LIMIT 2",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(st), rc = 0;
    if (r == SQLITE_ROW) {
        read_image(st, out);
        bool exact = !strcmp(out->ref, key) || !strcmp(out->digest, key);
        if (!exact && sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *other = sqlite3_column_text(st, 1);
            if (other && strcmp((const char *)other, out->digest) != 0)
                rc = zl_err_set(err, ZL_EAMBIGUOUS, "%s names more than one image", key);
        }
    } else {
        rc = r == SQLITE_DONE ? zl_err_set(err, ZL_ENOTFOUND, "image %s is not here", key)
                              : sql_err(s, err, "read image");
    }
    sqlite3_finalize(st);
    if (rc == 0)
        rc = read_layers(s, out, err);
    if (rc < 0)
        zl_store_image_fini(out);
    return rc;
}

int zl_store_image_list(struct zl_store *s, struct zl_store_image **out, size_t *n,
                        struct zl_err *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(s->db, IMAGE_COLUMNS "ORDER BY i.ref", -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    size_t cap = 0;
    int r, rc = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = zl_xrealloc(*out, cap * sizeof(**out));
        }
        memset(&(*out)[*n], 0, sizeof(**out));
        read_image(st, &(*out)[(*n)++]);
    }
    if (r != SQLITE_DONE)
        rc = sql_err(s, err, "list images");
    sqlite3_finalize(st);
    for (size_t i = 0; rc == 0 && i < *n; i++)
        rc = read_layers(s, &(*out)[i], err);
    return rc;
}

int zl_store_image_remove(struct zl_store *s, const char *ref, struct zl_err *err)
{
    if (exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    sqlite3_stmt *st;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM images WHERE ref = ?", -1, &st, NULL) != SQLITE_OK)
        rc = sql_err(s, err, "prepare");
    if (rc == 0) {
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_err(s, err, "remove image");
        else if (sqlite3_changes(s->db) == 0)
            rc = zl_err_set(err, ZL_ENOTFOUND, "image %s is not here", ref);
        sqlite3_finalize(st);
    }
    if (rc == 0)
        rc =
            exec(s, "DELETE FROM manifests WHERE digest NOT IN (SELECT manifest FROM images)", err);
    exec(s, rc == 0 ? "COMMIT" : "ROLLBACK", NULL);
    return rc;
}

int zl_store_in_use(struct zl_store *s, bool (*blob_cb)(void *ctx, const char *digest),
                    bool (*chain_cb)(void *ctx, const char *chain_id), void *ctx,
                    struct zl_err *err)
{
    static const char *const blobs_sql =
        "SELECT digest FROM manifests UNION SELECT config_digest FROM manifests"
        " UNION SELECT index_digest FROM manifests WHERE index_digest != ''"
        " UNION SELECT digest FROM layers";
    static const char *const chains_sql =
        "SELECT DISTINCT chain_id FROM layers WHERE chain_id != ''";
    const char *sqls[] = {blobs_sql, chains_sql};
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, sqls[k], -1, &st, NULL) != SQLITE_OK)
            return sql_err(s, err, "prepare");
        int r;
        bool go = true;
        while (go && (r = sqlite3_step(st)) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 0);
            go = k == 0 ? blob_cb(ctx, d) : chain_cb(ctx, d);
        }
        sqlite3_finalize(st);
    }
    return 0;
}

/* ---------------- deployments ---------------- */

void zl_store_deployment_fini(struct zl_store_deployment *d)
{
    free(d->name);
    free(d->spec);
    free(d->env_json);
    free(d->status);
    memset(d, 0, sizeof(*d));
}

int zl_store_deployment_put(struct zl_store *s, const char *name, const char *spec,
                            const char *env_json, int64_t *revision, struct zl_err *err)
{
    if (exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    sqlite3_stmt *st = NULL;
    int64_t rev = 1, now = (int64_t)time(NULL);
    int rc = 0;
    /* from the history: a deployment removed and applied again goes on counting */
    if (sqlite3_prepare_v2(s->db, "SELECT MAX(revision) FROM revisions WHERE deployment = ?", -1,
                           &st, NULL) != SQLITE_OK)
        rc = sql_err(s, err, "prepare");
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            rev = sqlite3_column_int64(st, 0) + 1;
        sqlite3_finalize(st);
        st = NULL;
    }
    const char *sqls[] = {
        ("INSERT INTO deployments (name, revision, spec, env, status, created, updated)"
         " VALUES (?1, ?2, ?3, ?4, 'deploying', ?5, ?5) ON CONFLICT(name) DO UPDATE SET"
         " revision = ?2, spec = ?3, env = ?4, status = 'deploying', updated = ?5"),
        ("INSERT INTO revisions (deployment, revision, spec, env, created)"
         " VALUES (?1, ?2, ?3, ?4, ?5)"),
        /* applying starts what was stopped by hand */
        "UPDATE controls SET stopped = 0 WHERE deployment = ?1",
    };
    for (size_t k = 0; rc == 0 && k < ZL_ARRAY_LEN(sqls); k++) {
        if (sqlite3_prepare_v2(s->db, sqls[k], -1, &st, NULL) != SQLITE_OK) {
            rc = sql_err(s, err, "prepare");
            break;
        }
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rev);
        sqlite3_bind_text(st, 3, spec, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, env_json ? env_json : "{}", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_err(s, err, "store deployment");
        sqlite3_finalize(st);
    }
    if (exec(s, rc == 0 ? "COMMIT" : "ROLLBACK", rc == 0 ? err : NULL) < 0 && rc == 0)
        rc = -ZL_EINVAL;
    if (rc == 0 && revision)
        *revision = rev;
    return rc;
}

static void read_deployment(sqlite3_stmt *st, struct zl_store_deployment *d)
{
    d->name = zl_store__col(st, 0);
    d->revision = sqlite3_column_int64(st, 1);
    d->spec = zl_store__col(st, 2);
    d->env_json = zl_store__col(st, 3);
    d->status = zl_store__col(st, 4);
    d->created = sqlite3_column_int64(st, 5);
    d->updated = sqlite3_column_int64(st, 6);
}

#define DEPLOYMENT_COLUMNS \
    "SELECT name, revision, spec, env, status, created, updated FROM deployments "

int zl_store_deployment_get(struct zl_store *s, const char *name, struct zl_store_deployment *out,
                            struct zl_err *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, DEPLOYMENT_COLUMNS "WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(st), rc = 0;
    if (r == SQLITE_ROW)
        read_deployment(st, out);
    else
        rc = r == SQLITE_DONE ? zl_err_set(err, ZL_ENOTFOUND, "deployment %s does not exist", name)
                              : sql_err(s, err, "read deployment");
    sqlite3_finalize(st);
    return rc;
}

int zl_store_deployment_list(struct zl_store *s, struct zl_store_deployment **out, size_t *n,
                             struct zl_err *err)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(s->db, DEPLOYMENT_COLUMNS "ORDER BY name", -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = zl_xrealloc(*out, cap * sizeof(**out));
        }
        read_deployment(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? 0 : sql_err(s, err, "list deployments");
}

/* Run one statement with (text, text-or-int) parameters; changes in *changed. */
static int run2(struct zl_store *s, const char *sql, const char *a, const char *b, int64_t n,
                bool use_n, int *changed, struct zl_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    if (use_n)
        sqlite3_bind_int64(st, b ? 3 : 2, n);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_err(s, err, "write");
    if (changed)
        *changed = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return rc;
}

int zl_store_deployment_set_status(struct zl_store *s, const char *name, const char *status,
                                   struct zl_err *err)
{
    return run2(s, "UPDATE deployments SET status = ?2 WHERE name = ?1", name, status, 0, false,
                NULL, err);
}

int zl_store_deployment_remove(struct zl_store *s, const char *name, struct zl_err *err)
{
    int changed = 0;
    if (exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    int rc =
        run2(s, "DELETE FROM deployments WHERE name = ?1", name, NULL, 0, false, &changed, err);
    if (rc == 0 && changed == 0)
        rc = zl_err_set(err, ZL_ENOTFOUND, "deployment %s does not exist", name);
    if (rc == 0)
        rc = run2(s, "DELETE FROM scales WHERE deployment = ?1", name, NULL, 0, false, NULL, err);
    if (rc == 0)
        rc = run2(s, "DELETE FROM crashes WHERE deployment = ?1", name, NULL, 0, false, NULL, err);
    if (rc == 0)
        rc = run2(s, "DELETE FROM controls WHERE deployment = ?1", name, NULL, 0, false, NULL, err);
    exec(s, rc == 0 ? "COMMIT" : "ROLLBACK", NULL);
    return rc;
}

int zl_store_scale_set(struct zl_store *s, const char *deployment, const char *service,
                       unsigned replicas, struct zl_err *err)
{
    return run2(s,
                "INSERT INTO scales (deployment, service, replicas) VALUES (?1, ?2, ?3)"
                " ON CONFLICT(deployment, service) DO UPDATE SET replicas = ?3",
                deployment, service, replicas, true, NULL, err);
}

int zl_store_scale_get(struct zl_store *s, const char *deployment, const char *service,
                       unsigned *replicas, struct zl_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT replicas FROM scales WHERE deployment = ? AND service = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_text(st, 1, deployment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, service, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *replicas = (unsigned)sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return r == SQLITE_ROW ? 0 : -ZL_ENOTFOUND;
}
