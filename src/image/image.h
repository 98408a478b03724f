/* SPDX-License-Identifier: Apache-2.0 */
/* image: OCI and Docker images: the registry client, the content-addressed blob store, layers
 * unpacked once into shared snapshots, container root filesystems as overlay mounts, export
 * and import. */
#ifndef ZL_IMAGE_H
#define ZL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* "sha256:" + 64 hex + NUL */
#define ZL_DIGEST_MAX 80

/* ======================= the local store (blob.c, unpack.c, snapshot.c) ======================= */

/* The store under ROOT/images: blobs/sha256/<hex>, snapshots/<chain-hex>/fs, tmp/. */
struct zl_image_store;

int zl_image_store_open(const char *root, struct zl_image_store **out, struct zl_err *err);
void zl_image_store_close(struct zl_image_store *s);
const char *zl_image_store_dir(const struct zl_image_store *s); /* ROOT/images */

/* Blobs: each stored once by digest, verified before it becomes visible. */
bool zl_image_blob_has(struct zl_image_store *s, const char *digest);
/* Path of a stored blob (caller frees), NULL when absent. */
char *zl_image_blob_path(struct zl_image_store *s, const char *digest);

/* A blob being written: bytes go to a temporary file under tmp/ and are hashed on the way;
 * commit checks the digest (and size, when expected_size > 0), fsyncs and renames into place
 * atomically, so a crash never leaves a corrupt blob. Abort (or a failed commit) removes the
 * temporary file. A writer opened with `resume` on the same digest reuses a partial file left
 * by an interrupted download: zl_image_blob_offset says how many bytes it already holds. */
struct zl_blob_writer;
int zl_image_blob_begin(struct zl_image_store *s, const char *expected_digest,
                        uint64_t expected_size, bool resume, struct zl_blob_writer **out,
                        struct zl_err *err);
uint64_t zl_image_blob_offset(const struct zl_blob_writer *w);
int zl_image_blob_write(struct zl_blob_writer *w, const void *p, size_t n, struct zl_err *err);
/* On success writes the digest ("sha256:...") into digest (ZL_DIGEST_MAX bytes) when given. */
int zl_image_blob_commit(struct zl_blob_writer *w, char *digest, struct zl_err *err);
void zl_image_blob_abort(struct zl_blob_writer *w);
/* Close a resumable writer but keep what it wrote, for the next writer of the same digest
 * (after a network failure). Other writers are aborted. */
void zl_image_blob_suspend(struct zl_blob_writer *w);
/* Store a whole file or buffer as a blob (import, manifests, configs). */
int zl_image_blob_put(struct zl_image_store *s, const void *p, size_t n, char *digest,
                      struct zl_err *err);
int zl_image_blob_read(struct zl_image_store *s, const char *digest, size_t max, char **out,
                       size_t *len, struct zl_err *err);

/* Layers and snapshots. A layer's diff ID is the digest of its uncompressed tar; the chain ID
 * of layer n is sha256(chain(n-1) + " " + diff(n)), chain(0) = diff(0). */
int zl_image_chain_id(const char *parent_chain, const char *diff_id, char *out, struct zl_err *err);

/* Make sure the snapshot for chain_id exists: unpack the stored layer blob (gzip, zstd or
 * uncompressed tar) into snapshots/<hex>/fs with whiteouts turned into overlay whiteouts, and
 * check that the uncompressed stream's digest equals diff_id. Unpacking refuses hostile
 * archives ("..", absolute paths, links out of the tree, writes through symlinks). Concurrent
 * callers for the same snapshot wait for one another (a lock file), and a crash half-way
 * leaves no snapshot behind (unpacked into a temporary folder, renamed at the end). */
int zl_image_snapshot_ensure(struct zl_image_store *s, const char *chain_id,
                             const char *layer_digest, const char *diff_id, struct zl_err *err);
bool zl_image_snapshot_has(struct zl_image_store *s, const char *chain_id);
/* snapshots/<hex>/fs (caller frees). */
char *zl_image_snapshot_path(struct zl_image_store *s, const char *chain_id);
int zl_image_snapshot_remove(struct zl_image_store *s, const char *chain_id, struct zl_err *err);

/* A container's root filesystem: one overlay mount of the snapshots (chain_ids[0] is the
 * bottom layer) with dir/upper and dir/work, mounted at dir/rootfs. Writes land only in upper.
 * A single-layer image is still an overlay (the snapshot stays read-only). */
int zl_image_rootfs_mount(struct zl_image_store *s, const char *const *chain_ids, size_t n,
                          const char *dir, struct zl_err *err);
int zl_image_rootfs_unmount(const char *dir, struct zl_err *err);

/* ======================= the registry client (registry.c, auth.c, manifest.c)
 * ======================= */

struct zl_platform {
    char os[32];      /* "linux" */
    char arch[32];    /* "amd64" */
    char variant[32]; /* "" or "v8" */
};
/* This host's platform; "os/arch[/variant]" parses into one. */
void zl_platform_host(struct zl_platform *p);
int zl_platform_parse(const char *s, struct zl_platform *p, struct zl_err *err);

struct zl_registry_opts {
    const char *auth_file; /* docker config.json style credentials, or NULL: the defaults
                            * ($REGISTRY_AUTH_FILE, ~/.docker/config.json, zlayer's own) */
    const char **insecure; /* registries spoken to over plain HTTP (NULL-terminated);
                            * localhost and 127.0.0.1 always are */
    const char **mirrors;  /* "docker.io=mirror.example:5000" (NULL-terminated) */
    int max_parallel;      /* concurrent blob downloads (default 4) */
    int retries;           /* per request on 5xx / broken connections (default 4) */
};

struct zl_registry;
struct zl_registry *zl_registry_new(const struct zl_registry_opts *o, struct zl_err *err);
void zl_registry_free(struct zl_registry *r);

/* A resolved manifest for one platform. */
struct zl_manifest {
    char digest[ZL_DIGEST_MAX]; /* of the manifest below (not of the index it came from) */
    char *media_type;
    char *artifact_type; /* OCI artifactType, or NULL */
    char *raw;           /* the manifest bytes, exactly as served */
    size_t raw_len;
    char *index_raw; /* the index / manifest list it was picked from, or NULL */
    size_t index_len;
    char index_digest[ZL_DIGEST_MAX];
    char config_digest[ZL_DIGEST_MAX];
    char *config_media_type;
    uint64_t config_size;
    struct zl_layer {
        char digest[ZL_DIGEST_MAX];
        char *media_type;
        uint64_t size;
    } * layers;
    size_t nlayers;
    bool is_wasm; /* a WASM artifact: stored, never unpacked */
};
void zl_manifest_fini(struct zl_manifest *m);
/* Parse manifest bytes (OCI manifest or Docker schema 2); indexes are refused here. */
int zl_manifest_parse(const char *raw, size_t len, struct zl_manifest *m, struct zl_err *err);

/* Resolve ref ("busybox", "host:5000/a/b:tag", "...@sha256:...") to the manifest for platform
 * (NULL: this host), following an OCI index / Docker manifest list. Every document is
 * verified against its digest. */
int zl_registry_resolve(struct zl_registry *r, const char *ref, const struct zl_platform *p,
                        struct zl_manifest *out, struct zl_err *err);

/* Download blobs of ref's repository into the store, several at once, each verified; blobs
 * already stored are skipped; interrupted downloads resume where the store kept them.
 * progress (may be NULL) is called on the caller's thread as bytes arrive. */
struct zl_blob_req {
    const char *digest;
    uint64_t size;
};
typedef void (*zl_pull_progress_cb)(void *ctx, const char *digest, uint64_t done, uint64_t total);
int zl_registry_fetch_blobs(struct zl_registry *r, const char *ref, const struct zl_blob_req *blobs,
                            size_t n, struct zl_image_store *store, zl_pull_progress_cb progress,
                            void *ctx, struct zl_err *err);

/* Credentials for a registry (zlayer login): stored in the auth file, mode 0600. */
int zl_registry_login(const char *auth_file, const char *registry, const char *user,
                      const char *password, struct zl_err *err);
int zl_registry_logout(const char *auth_file, const char *registry, struct zl_err *err);
/* zlayer's own auth file: $ZLAYER_ROOT_DIR/auth.json (caller frees). */
char *zl_registry_default_auth_file(void);

/* ======================= images: pull, list, remove, prune, export, import (images.c)
 * ======================= */

/* When to contact the registry (SPEC-v1 image.pull_policy). */
enum zl_pull_policy {
    ZL_PULL_IF_NOT_PRESENT = 0, /* use a local copy when there is one */
    ZL_PULL_ALWAYS,             /* pull every time */
    ZL_PULL_NEWER,              /* ask the registry; pull when its digest differs */
    ZL_PULL_NEVER,              /* local only: a missing image is an error */
};
int zl_pull_policy_parse(const char *s, enum zl_pull_policy *out);

/* The image store, its index and the registry settings, under ROOT (images/ and state.db). */
struct zl_images;
int zl_images_open(const char *root, const struct zl_registry_opts *ro, struct zl_images **out,
                   struct zl_err *err);
void zl_images_close(struct zl_images *im);
struct zl_image_store *zl_images_store(struct zl_images *im);

struct zl_image_info {
    char *ref; /* normalised */
    char digest[ZL_DIGEST_MAX];
    char config_digest[ZL_DIGEST_MAX];
    char os[32], arch[32];
    uint64_t size;
    int64_t created;
    bool is_wasm;
    size_t nlayers;
    char (*chain_ids)[ZL_DIGEST_MAX]; /* bottom first; none for wasm */
};
void zl_image_info_fini(struct zl_image_info *i);

/* Progress events of a pull, on the caller's thread. */
enum zl_pull_phase {
    ZL_PULL_RESOLVED = 0, /* the manifest is known: `total` layers */
    ZL_PULL_DOWNLOADING,  /* digest: done of total bytes */
    ZL_PULL_UNPACKING,    /* digest */
    ZL_PULL_LAYER_DONE,   /* digest */
    ZL_PULL_DONE,
};
typedef void (*zl_pull_event_cb)(void *ctx, enum zl_pull_phase phase, const char *digest,
                                 uint64_t done, uint64_t total);

/* Pull ref per policy (platform NULL: this host). Fills *out when given. */
int zl_images_pull(struct zl_images *im, const char *ref, const struct zl_platform *p,
                   enum zl_pull_policy policy, zl_pull_event_cb cb, void *ctx,
                   struct zl_image_info *out, struct zl_err *err);
int zl_images_get(struct zl_images *im, const char *ref, struct zl_image_info *out,
                  struct zl_err *err);
int zl_images_list(struct zl_images *im, struct zl_image_info **out, size_t *n, struct zl_err *err);
/* The stored manifest, config and layers of ref as one JSON document (caller frees). */
int zl_images_inspect(struct zl_images *im, const char *ref, char **json, struct zl_err *err);
int zl_images_remove(struct zl_images *im, const char *ref, struct zl_err *err);
/* Remove blobs and snapshots no image uses; *freed gets the bytes given back. */
int zl_images_prune(struct zl_images *im, uint64_t *freed, struct zl_err *err);
/* An OCI image layout tar (optionally gzip-compressed) that podman and skopeo load. */
int zl_images_export(struct zl_images *im, const char *ref, const char *path, bool gzip,
                     struct zl_err *err);
/* An OCI layout tar or a `docker save` / `podman save` archive; tag (may be NULL) names it. */
int zl_images_import(struct zl_images *im, const char *path, const char *tag,
                     struct zl_image_info *out, struct zl_err *err);

/* "docker.io/library/busybox:latest" for "busybox" (caller frees), NULL on a bad reference. */
char *zl_image_normalize(const char *ref, struct zl_err *err);

#endif
