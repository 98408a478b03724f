/* SPDX-License-Identifier: Apache-2.0 */
/* image/internal.h: what the image room's own .c files share: the store handle, digest
 * checks, and small filesystem helpers. */
#ifndef ZL_IMAGE_INTERNAL_H
#define ZL_IMAGE_INTERNAL_H

#include "image/image.h"

#include <stdbool.h>
#include <stdint.h>

/* Lengths of "sha256:" and of the hex part. */
#define ZL_IMAGE_ALGO_LEN 7
#define ZL_IMAGE_HEX_LEN  64

struct zl_image_store {
    char *root; /* as given to zl_image_store_open */
    char *dir;  /* ROOT/images, what every path below is relative to */
    int dfd;    /* an open directory fd of dir */
};

/* Is digest "sha256:" followed by 64 lowercase hex digits? */
bool zl_image__digest_ok(const char *digest);
/* Check digest (what names it in the message: "layer", "chain ID"...) and return its hex
 * part, which points into digest. NULL and err filled when it is not a sha256 digest. */
const char *zl_image__digest_hex(const char *digest, const char *what, struct zl_err *err);
/* "sha256:" + hex of a 32-byte SHA-256 into out (ZL_DIGEST_MAX bytes). */
void zl_image__digest_format(const unsigned char md[32], char *out);

/* Remove name under dfd and everything below it, never following symlinks. Returns 0 or
 * -errno of the first failure (it carries on with the rest); a missing name is success. */
int zl_image__rm_rf(int dfd, const char *name);
/* fsync the directory name under dfd (NULL: dfd itself). */
int zl_image__fsync_dir(int dfd, const char *name, struct zl_err *err);
/* Take an exclusive flock on locks/<hex>.lock, waiting for other holders; returns the fd
 * (closing it releases the lock) or a negative code. With `try`, -EWOULDBLOCK when busy. */
int zl_image__lock(struct zl_image_store *s, const char *hex, bool try, struct zl_err *err);

/* Run fn(arg) on a short-lived thread whose working directory is dir (and umask 0): the
 * thread unshares its filesystem context (CLONE_FS), so the chdir never touches the rest of
 * the process. Returns what fn returns, or a negative code (err filled) when the thread could
 * not get there. fn must fill err itself when it fails. */
int zl_image__in_dir(const char *dir, int (*fn)(void *arg, struct zl_err *err), void *arg,
                     struct zl_err *err);

/* Unpack the layer blob into a new snapshots/<hex> (hex: the chain ID's): extracted in a
 * temporary folder under tmp/, checked against diff_id, synced and renamed into place. The
 * caller holds the snapshot's lock. */
int zl_image__unpack(struct zl_image_store *s, const char *hex, const char *layer_digest,
                     const char *diff_id, struct zl_err *err);

#endif
