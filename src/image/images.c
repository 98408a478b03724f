/* SPDX-License-Identifier: Apache-2.0 */
/* image/images.c: images as users see them: pull by policy (registry -> blobs -> snapshots
 * -> index), list, inspect, remove, prune. Export and import live in archive.c. */
#include "image/image.h"
#include "image/images_internal.h"
#include "spec/spec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int zl_pull_policy_parse(const char *s, enum zl_pull_policy *out)
{
    static const char *const names[] = {"if_not_present", "always", "newer", "never"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i]) || (i == 0 && !strcmp(s, "missing"))) {
            *out = (enum zl_pull_policy)i;
            return 0;
        }
    return -1;
}

char *zl_image_normalize(const char *ref, struct zl_err *err)
{
    struct zl_image_ref r;
    const char *why;
    if (zl_image_ref_parse(ref, strlen(ref), &r, &why) < 0) {
        zl_err_set(err, ZL_EINVAL, "invalid image reference '%s': %s", ref, why);
        return NULL;
    }
    char buf[1024];
    zl_image_ref_normalize(&r, buf, sizeof(buf));
    return zl_xstrdup(buf);
}

int zl_images_open(const char *root, const struct zl_registry_opts *ro, struct zl_images **out,
                   struct zl_err *err)
{
    struct zl_images *im = zl_xcalloc(1, sizeof(*im));
    im->root = zl_xstrdup(root);
    if (ro)
        im->ropts = *ro;
    mkdir(root, 0700);
    char *db = zl_xasprintf("%s/state.db", root);
    int rc = zl_image_store_open(root, &im->store, err);
    if (rc == 0)
        rc = zl_store_open(db, &im->db, err);
    free(db);
    if (rc < 0) {
        zl_images_close(im);
        return rc;
    }
    *out = im;
    return 0;
}

void zl_images_close(struct zl_images *im)
{
    if (!im)
        return;
    zl_registry_free(im->reg);
    zl_store_close(im->db);
    zl_image_store_close(im->store);
    free(im->root);
    free(im);
}

struct zl_image_store *zl_images_store(struct zl_images *im)
{
    return im->store;
}

/* Pulls and imports hold the GC lock shared, prune holds it exclusive: prune never removes a
 * blob a pull has stored but not yet recorded. Returns the fd (close to release). */
int zl_images__gc_lock(struct zl_images *im, bool exclusive, struct zl_err *err)
{
    char *path = zl_xasprintf("%s/gc.lock", zl_image_store_dir(im->store));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return zl_err_sys(err, errno, "open the image store lock");
    if (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
        int e = errno;
        close(fd);
        return zl_err_sys(err, e, "lock the image store");
    }
    return fd;
}

struct zl_registry *zl_images__registry(struct zl_images *im, struct zl_err *err)
{
    if (!im->reg)
        im->reg = zl_registry_new(&im->ropts, err);
    return im->reg;
}

void zl_image_info_fini(struct zl_image_info *i)
{
    free(i->ref);
    free(i->chain_ids);
    memset(i, 0, sizeof(*i));
}

void zl_images__info_from_row(const struct zl_store_image *row, struct zl_image_info *out)
{
    memset(out, 0, sizeof(*out));
    out->ref = zl_xstrdup(row->ref);
    snprintf(out->digest, sizeof(out->digest), "%s", row->digest);
    snprintf(out->config_digest, sizeof(out->config_digest), "%s", row->config_digest);
    snprintf(out->os, sizeof(out->os), "%s", row->os);
    snprintf(out->arch, sizeof(out->arch), "%s", row->arch);
    out->size = row->size;
    out->created = row->created;
    out->is_wasm = row->is_wasm;
    out->nlayers = row->nlayers;
    out->chain_ids = zl_xcalloc(row->nlayers ? row->nlayers : 1, sizeof(*out->chain_ids));
    for (size_t i = 0; i < row->nlayers; i++)
        snprintf(out->chain_ids[i], ZL_DIGEST_MAX, "%s", row->layers[i].chain_id);
}

/* A reference is looked up as given (digest prefixes work) and normalised. */
static int find(struct zl_images *im, const char *ref, struct zl_store_image *row,
                struct zl_err *err)
{
    struct zl_err e2;
    char *norm = zl_image_normalize(ref, &e2);
    int rc = norm ? zl_store_image_get(im->db, norm, row, err) : -ZL_ENOTFOUND;
    free(norm);
    if (rc == -ZL_ENOTFOUND)
        rc = zl_store_image_get(im->db, ref, row, err);
    return rc;
}

int zl_images_get(struct zl_images *im, const char *ref, struct zl_image_info *out,
                  struct zl_err *err)
{
    struct zl_store_image row;
    if (find(im, ref, &row, err) < 0)
        return -1;
    zl_images__info_from_row(&row, out);
    zl_store_image_fini(&row);
    return 0;
}

int zl_images_list(struct zl_images *im, struct zl_image_info **out, size_t *n, struct zl_err *err)
{
    struct zl_store_image *rows;
    if (zl_store_image_list(im->db, &rows, n, err) < 0)
        return -1;
    *out = zl_xcalloc(*n ? *n : 1, sizeof(**out));
    for (size_t i = 0; i < *n; i++) {
        zl_images__info_from_row(&rows[i], &(*out)[i]);
        zl_store_image_fini(&rows[i]);
    }
    free(rows);
    return 0;
}

/* ---------------- recording an image whose blobs are stored ---------------- */

/* Layers unpack independently of each other (each into its own snapshot), so several run at
 * once: the work is mostly the kernel creating files, which two cores overlap well. */
struct unpacker {
    struct zl_images *im;
    const struct zl_manifest *m;
    const struct zl_store_image *row;
    zl_pull_event_cb cb;
    void *ctx;
    pthread_mutex_t lock;
    size_t next, done;
    int rc;
    struct zl_err err;
};

static void *unpack_worker(void *arg)
{
    struct unpacker *u = arg;
    for (;;) {
        pthread_mutex_lock(&u->lock);
        size_t i = u->rc == 0 && u->next < u->m->nlayers ? u->next++ : SIZE_MAX;
        if (i != SIZE_MAX && u->cb)
            u->cb(u->ctx, ZL_PULL_UNPACKING, u->m->layers[i].digest, u->done, u->m->nlayers);
        pthread_mutex_unlock(&u->lock);
        if (i == SIZE_MAX)
            return NULL;
        struct zl_err err;
        const struct zl_store_layer *l = &u->row->layers[i];
        int rc = zl_image_snapshot_ensure(u->im->store, l->chain_id, l->digest, l->diff_id, &err);
        pthread_mutex_lock(&u->lock);
        if (rc < 0 && u->rc == 0) {
            u->rc = rc;
            u->err = err;
        } else if (rc == 0) {
            u->done++;
            if (u->cb)
                u->cb(u->ctx, ZL_PULL_LAYER_DONE, l->digest, u->done, u->m->nlayers);
        }
        pthread_mutex_unlock(&u->lock);
    }
}

static int unpack_all(struct zl_images *im, const struct zl_manifest *m,
                      const struct zl_store_image *row, zl_pull_event_cb cb, void *ctx,
                      struct zl_err *err)
{
    struct unpacker u = {.im = im, .m = m, .row = row, .cb = cb, .ctx = ctx};
    pthread_mutex_init(&u.lock, NULL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = m->nlayers < 4 ? m->nlayers : 4;
    if (cpus > 0 && (size_t)cpus < n)
        n = (size_t)cpus;
    pthread_t th[4];
    size_t started = 0;
    for (size_t i = 1; i < n; i++)
        if (pthread_create(&th[started], NULL, unpack_worker, &u) == 0)
            started++;
    unpack_worker(&u); /* this thread works too */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&u.lock);
    if (u.rc < 0)
        *err = u.err;
    return u.rc;
}

/* Read the config's diff ids, make every snapshot, and write the index rows. The manifest m
 * and its blobs are already in the blob store. */
int zl_images__record(struct zl_images *im, const char *ref, const struct zl_manifest *m,
                      zl_pull_event_cb cb, void *ctx, struct zl_image_info *out, struct zl_err *err)
{
    struct zl_store_image row = {.ref = (char *)ref,
                                 .digest = (char *)m->digest,
                                 .media_type = m->media_type,
                                 .config_digest = (char *)m->config_digest,
                                 .index_digest = (char *)m->index_digest,
                                 .is_wasm = m->is_wasm,
                                 .created = time(NULL)};
    row.layers = zl_xcalloc(m->nlayers + 1, sizeof(*row.layers));
    row.nlayers = m->nlayers;
    json_t *cfg = NULL, *diffs = NULL;
    char *cfgtext = NULL;
    size_t cfglen;
    int rc = zl_image_blob_read(im->store, m->config_digest, 16u << 20, &cfgtext, &cfglen, err);
    if (rc == 0) {
        json_error_t jerr;
        cfg = json_loadb(cfgtext, cfglen, 0, &jerr);
        if (!cfg && !m->is_wasm)
            rc = zl_err_set(err, ZL_EINVAL, "image config %s: %s", m->config_digest, jerr.text);
    }
    row.os = (char *)json_string_value(json_object_get(cfg, "os"));
    row.arch = (char *)json_string_value(json_object_get(cfg, "architecture"));
    row.variant = (char *)json_string_value(json_object_get(cfg, "variant"));
    diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (rc == 0 && !m->is_wasm && json_array_size(diffs) != m->nlayers)
        rc = zl_err_set(err, ZL_EINVAL, "image config %s lists %zu layers, the manifest %zu",
                        m->config_digest, json_array_size(diffs), m->nlayers);
    char chain[ZL_DIGEST_MAX] = "",
         (*chains)[ZL_DIGEST_MAX] = zl_xcalloc(m->nlayers + 1, ZL_DIGEST_MAX);
    row.size = m->config_size;
    for (size_t i = 0; rc == 0 && i < m->nlayers; i++) {
        const char *diff = m->is_wasm ? "" : json_string_value(json_array_get(diffs, i));
        row.layers[i].digest = (char *)m->layers[i].digest;
        row.layers[i].media_type = m->layers[i].media_type;
        row.layers[i].size = m->layers[i].size;
        row.layers[i].diff_id = (char *)(diff ? diff : "");
        row.layers[i].chain_id = chains[i];
        row.size += m->layers[i].size;
        if (m->is_wasm)
            continue;
        if (!diff) {
            rc = zl_err_set(err, ZL_EINVAL, "image config %s: diff_ids[%zu] is not a digest",
                            m->config_digest, i);
            break;
        }
        rc = zl_image_chain_id(i ? chain : NULL, diff, chain, err);
        snprintf(chains[i], ZL_DIGEST_MAX, "%s", chain);
    }
    if (rc == 0 && !m->is_wasm)
        rc = unpack_all(im, m, &row, cb, ctx, err);
    if (rc == 0)
        rc = zl_store_image_put(im->db, &row, err);
    if (rc == 0 && out)
        rc = zl_images_get(im, ref, out, err);
    free(chains);
    free(row.layers);
    free(cfgtext);
    json_decref(cfg);
    return rc;
}

/* ---------------- pull ---------------- */

struct fetch_ctx {
    zl_pull_event_cb cb;
    void *ctx;
};

static void on_bytes(void *ctx, const char *digest, uint64_t done, uint64_t total)
{
    struct fetch_ctx *f = ctx;
    if (f->cb)
        f->cb(f->ctx, ZL_PULL_DOWNLOADING, digest, done, total);
}

/* Store the manifest (and index) bytes as blobs, checking they hash to their digests. */
static int store_documents(struct zl_images *im, const struct zl_manifest *m, struct zl_err *err)
{
    char d[ZL_DIGEST_MAX];
    if (zl_image_blob_put(im->store, m->raw, m->raw_len, d, err) < 0)
        return -1;
    if (strcmp(d, m->digest) != 0)
        return zl_err_set(err, ZL_EINVAL, "manifest digest mismatch: %s, expected %s", d,
                          m->digest);
    if (m->index_raw && zl_image_blob_put(im->store, m->index_raw, m->index_len, d, err) < 0)
        return -1;
    return 0;
}

int zl_images_pull(struct zl_images *im, const char *ref, const struct zl_platform *p,
                   enum zl_pull_policy policy, zl_pull_event_cb cb, void *ctx,
                   struct zl_image_info *out, struct zl_err *err)
{
    char *norm = zl_image_normalize(ref, err);
    if (!norm)
        return -ZL_EINVAL;
    struct zl_store_image have;
    bool local = zl_store_image_get(im->db, norm, &have, err) == 0;
    int rc = 0;
    if (local && (policy == ZL_PULL_IF_NOT_PRESENT || policy == ZL_PULL_NEVER)) {
        zl_store_image_fini(&have);
        rc = out ? zl_images_get(im, norm, out, err) : 0;
        goto done_norm;
    }
    if (!local && policy == ZL_PULL_NEVER) {
        rc = zl_err_set(err, ZL_ENOTFOUND, "image %s is not here and the pull policy is never",
                        norm);
        goto done_norm;
    }
    struct zl_registry *reg = zl_images__registry(im, err);
    struct zl_manifest m = {0};
    int lock = zl_images__gc_lock(im, false, err);
    rc = lock < 0 ? lock : reg ? zl_registry_resolve(reg, norm, p, &m, err) : -ZL_EINVAL;
    if (rc == 0 && local && policy == ZL_PULL_NEWER && !strcmp(have.digest, m.digest)) {
        /* unchanged upstream: nothing to fetch */
        rc = out ? zl_images_get(im, norm, out, err) : 0;
        goto done_manifest;
    }
    if (rc == 0 && cb)
        cb(ctx, ZL_PULL_RESOLVED, m.digest, 0, m.nlayers);
    if (rc == 0)
        rc = store_documents(im, &m, err);
    if (rc == 0) {
        struct zl_blob_req *reqs = zl_xcalloc(m.nlayers + 1, sizeof(*reqs));
        reqs[0] = (struct zl_blob_req){m.config_digest, m.config_size};
        for (size_t i = 0; i < m.nlayers; i++)
            reqs[i + 1] = (struct zl_blob_req){m.layers[i].digest, m.layers[i].size};
        struct fetch_ctx f = {cb, ctx};
        rc = zl_registry_fetch_blobs(reg, norm, reqs, m.nlayers + 1, im->store, on_bytes, &f, err);
        free(reqs);
    }
    if (rc == 0)
        rc = zl_images__record(im, norm, &m, cb, ctx, out, err);
    if (rc == 0 && cb)
        cb(ctx, ZL_PULL_DONE, m.digest, m.nlayers, m.nlayers);
done_manifest:
    if (lock >= 0)
        close(lock);
    zl_manifest_fini(&m);
    if (local)
        zl_store_image_fini(&have);
done_norm:
    if (rc < 0)
        zl_err_wrap(err, "pull %s", norm);
    free(norm);
    return rc;
}

/* ---------------- inspect, remove, prune ---------------- */

int zl_images_inspect(struct zl_images *im, const char *ref, char **json, struct zl_err *err)
{
    struct zl_store_image row;
    if (find(im, ref, &row, err) < 0)
        return -1;
    char *manifest = NULL, *config = NULL;
    size_t mlen = 0, clen = 0;
    int rc = zl_image_blob_read(im->store, row.digest, 16u << 20, &manifest, &mlen, err);
    if (rc == 0)
        rc = zl_image_blob_read(im->store, row.config_digest, 16u << 20, &config, &clen, err);
    if (rc == 0) {
        json_t *layers = json_array();
        for (size_t i = 0; i < row.nlayers; i++)
            json_array_append_new(
                layers,
                json_pack("{s:s, s:s, s:s, s:s, s:I}", "digest", row.layers[i].digest, "diff_id",
                          row.layers[i].diff_id, "chain_id", row.layers[i].chain_id, "media_type",
                          row.layers[i].media_type, "size", (json_int_t)row.layers[i].size));
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:o}", "ref", row.ref,
                              "digest", row.digest, "media_type", row.media_type, "index_digest",
                              row.index_digest, "os", row.os, "architecture", row.arch, "size",
                              (json_int_t)row.size, "created", (json_int_t)row.created, "wasm",
                              row.is_wasm, "layers", layers);
        json_t *mj = json_loadb(manifest, mlen, 0, NULL), *cj = json_loadb(config, clen, 0, NULL);
        json_object_set_new(j, "manifest", mj ? mj : json_null());
        json_object_set_new(j, "config", cj ? cj : json_null());
        *json = json_dumps(j, JSON_INDENT(2));
        json_decref(j);
    }
    free(manifest);
    free(config);
    zl_store_image_fini(&row);
    return rc;
}

int zl_images_remove(struct zl_images *im, const char *ref, struct zl_err *err)
{
    struct zl_store_image row;
    if (find(im, ref, &row, err) < 0)
        return -1;
    int rc = zl_store_image_remove(im->db, row.ref, err);
    zl_store_image_fini(&row);
    return rc;
}

struct used {
    struct zl_index blobs, chains;
    struct zl_arena a;
};

static bool keep_blob(void *ctx, const char *d)
{
    struct used *u = ctx;
    zl_index_put(&u->blobs, zl_arena_strdup(&u->a, d), 0, NULL);
    return true;
}

static bool keep_chain(void *ctx, const char *d)
{
    struct used *u = ctx;
    zl_index_put(&u->chains, zl_arena_strdup(&u->a, d), 0, NULL);
    return true;
}

/* Remove every entry of dir whose "sha256:<name>" is not in keep. */
static void sweep(struct zl_image_store *s, const char *sub, struct zl_index *keep, bool chains,
                  uint64_t *freed)
{
    char *dir = zl_xasprintf("%s/%s", zl_image_store_dir(s), sub);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strlen(e->d_name) != 64)
            continue;
        char digest[ZL_DIGEST_MAX];
        snprintf(digest, sizeof(digest), "sha256:%s", e->d_name);
        if (zl_index_get(keep, digest, NULL))
            continue;
        struct zl_err ignore;
        if (chains) {
            zl_image_snapshot_remove(s, digest, &ignore);
            *freed += 1;
        } else {
            struct stat st;
            char *p = zl_xasprintf("%s/%s", dir, e->d_name);
            if (stat(p, &st) == 0 && unlink(p) == 0)
                *freed += (uint64_t)st.st_size;
            free(p);
        }
    }
    if (d)
        closedir(d);
    free(dir);
}

int zl_images_prune(struct zl_images *im, uint64_t *freed, struct zl_err *err)
{
    struct used u;
    zl_index_init(&u.blobs, 64);
    zl_index_init(&u.chains, 64);
    zl_arena_init(&u.a);
    *freed = 0;
    int lock = zl_images__gc_lock(im, true, err);
    int rc = lock < 0 ? lock : zl_store_in_use(im->db, keep_blob, keep_chain, &u, err);
    uint64_t snaps = 0;
    if (rc == 0) {
        sweep(im->store, "blobs/sha256", &u.blobs, false, freed);
        sweep(im->store, "snapshots", &u.chains, true, &snaps);
    }
    if (lock >= 0)
        close(lock);
    zl_index_fini(&u.blobs);
    zl_index_fini(&u.chains);
    zl_arena_fini(&u.a);
    return rc;
}
