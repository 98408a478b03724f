/* SPDX-License-Identifier: Apache-2.0 */
/* image/snapshot.c: chain IDs and the snapshots/<hex> folders: made once under a lock,
 * looked up, removed. */
#include "image/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

int zl_image_chain_id(const char *parent_chain, const char *diff_id, char *out, struct zl_err *err)
{
    if (!zl_image__digest_hex(diff_id, "diff ID", err))
        return -ZL_EINVAL;
    if (!parent_chain || !*parent_chain) {
        memcpy(out, diff_id, strlen(diff_id) + 1);
        return 0;
    }
    if (!zl_image__digest_hex(parent_chain, "parent chain ID", err))
        return -ZL_EINVAL;
    char buf[2 * ZL_DIGEST_MAX];
    int n = snprintf(buf, sizeof(buf), "%s %s", parent_chain, diff_id);
    unsigned char md[32];
    if (EVP_Digest(buf, (size_t)n, md, NULL, EVP_sha256(), NULL) != 1)
        return zl_err_set(err, ENOMEM, "cannot compute SHA-256");
    zl_image__digest_format(md, out);
    return 0;
}

bool zl_image_snapshot_has(struct zl_image_store *s, const char *chain_id)
{
    if (!zl_image__digest_ok(chain_id))
        return false;
    char path[128];
    snprintf(path, sizeof(path), "snapshots/%s/fs", chain_id + ZL_IMAGE_ALGO_LEN);
    struct stat st;
    return fstatat(s->dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

char *zl_image_snapshot_path(struct zl_image_store *s, const char *chain_id)
{
    if (!zl_image_snapshot_has(s, chain_id))
        return NULL;
    return zl_xasprintf("%s/snapshots/%s/fs", s->dir, chain_id + ZL_IMAGE_ALGO_LEN);
}

int zl_image_snapshot_ensure(struct zl_image_store *s, const char *chain_id,
                             const char *layer_digest, const char *diff_id, struct zl_err *err)
{
    const char *hex = zl_image__digest_hex(chain_id, "chain ID", err);
    if (!hex || !zl_image__digest_hex(layer_digest, "layer", err) ||
        !zl_image__digest_hex(diff_id, "diff ID", err))
        return -ZL_EINVAL;
    if (zl_image_snapshot_has(s, chain_id))
        return 0;
    /* A second caller waits here, then finds the first one's snapshot. */
    int lk = zl_image__lock(s, hex, false, err);
    if (lk < 0)
        return zl_err_wrap(err, "snapshot %s", chain_id);
    int rc = 0;
    if (!zl_image_snapshot_has(s, chain_id))
        rc = zl_image__unpack(s, hex, layer_digest, diff_id, err);
    close(lk);
    return rc;
}

/* Move snapshots/<hex> out of sight at once (onto an empty folder in tmp/), then delete. */
static int drop(struct zl_image_store *s, const char *hex, struct zl_err *err)
{
    char src[96];
    snprintf(src, sizeof(src), "snapshots/%s", hex);
    struct stat st;
    if (fstatat(s->dfd, src, &st, AT_SYMLINK_NOFOLLOW) == -1)
        return errno == ENOENT ? zl_err_set(err, ZL_ENOTFOUND, "snapshot sha256:%s not found", hex)
                               : zl_err_sys(err, errno, "stat %s/%s", s->dir, src);
    char *tmpl = zl_xasprintf("%s/tmp/rm-%s.XXXXXX", s->dir, hex);
    int rc = 0;
    if (!mkdtemp(tmpl)) {
        rc = zl_err_sys(err, errno, "create a folder in %s/tmp", s->dir);
    } else if (renameat(s->dfd, src, AT_FDCWD, tmpl) == -1) {
        rc = zl_err_sys(err, errno, "move %s/%s away", s->dir, src);
        rmdir(tmpl);
    } else {
        int r = zl_image__rm_rf(AT_FDCWD, tmpl);
        if (r < 0)
            rc = zl_err_sys(err, -r, "remove %s", tmpl);
    }
    free(tmpl);
    return rc;
}

int zl_image_snapshot_remove(struct zl_image_store *s, const char *chain_id, struct zl_err *err)
{
    const char *hex = zl_image__digest_hex(chain_id, "chain ID", err);
    if (!hex)
        return -ZL_EINVAL;
    int lk = zl_image__lock(s, hex, false, err);
    if (lk < 0)
        return zl_err_wrap(err, "snapshot %s", chain_id);
    int rc = drop(s, hex, err);
    close(lk);
    return rc;
}
