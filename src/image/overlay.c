/* SPDX-License-Identifier: Apache-2.0 */
/* image/overlay.c: a container's root filesystem: the image's snapshots as overlay lower
 * layers under the container's own upper and work folders. */
#include "image/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* overlayfs refuses deeper stacks. */
#define MAX_LAYERS 500

/* Characters overlay's option parser would split on. */
static bool plain(const char *p)
{
    return strpbrk(p, ",:\\") == NULL;
}

/* "lowerdir=TOP:...:BOTTOM,upperdir=D/upper,workdir=D/work"; with `rel` the lower layers
 * are given relative to snapshots/ ("<hex>/fs"), about 40% of the length. */
static char *options(struct zl_image_store *s, const char *const *ids, size_t n, const char *dir,
                     bool rel, size_t *len)
{
    struct zl_buf b;
    zl_buf_init(&b);
    zl_buf_puts(&b, "lowerdir=");
    for (size_t i = n; i-- > 0;) {
        const char *hex = ids[i] + ZL_IMAGE_ALGO_LEN;
        if (rel)
            zl_buf_printf(&b, "%s/fs", hex);
        else
            zl_buf_printf(&b, "%s/snapshots/%s/fs", s->dir, hex);
        if (i > 0)
            zl_buf_putc(&b, ':');
    }
    zl_buf_printf(&b, ",upperdir=%s/upper,workdir=%s/work", dir, dir);
    return zl_buf_steal(&b, len);
}

/* The upper folder gives the merged root its owner and mode: take the top layer's. */
static int make_dirs(const char *dir, const char *top, struct zl_err *err)
{
    struct stat st;
    if (stat(top, &st) == -1)
        return zl_err_sys(err, errno, "stat %s", top);
    if (mkdir(dir, 0700) == -1 && errno != EEXIST)
        return zl_err_sys(err, errno, "create %s", dir);
    char *upper = zl_xasprintf("%s/upper", dir);
    int rc = 0;
    if (mkdir(upper, 0700) == 0) {
        if (chown(upper, st.st_uid, st.st_gid) == -1 || chmod(upper, st.st_mode & 07777) == -1)
            rc = zl_err_sys(err, errno, "set up %s", upper);
    } else if (errno != EEXIST) {
        rc = zl_err_sys(err, errno, "create %s", upper);
    }
    free(upper);
    static const struct {
        const char *name;
        mode_t mode;
    } more[] = {{"work", 0700}, {"rootfs", 0755}};
    for (size_t i = 0; rc == 0 && i < ZL_ARRAY_LEN(more); i++) {
        char *p = zl_xasprintf("%s/%s", dir, more[i].name);
        if (mkdir(p, more[i].mode) == -1 && errno != EEXIST)
            rc = zl_err_sys(err, errno, "create %s", p);
        free(p);
    }
    return rc;
}

struct mnt {
    const char *target, *opts;
};

static int do_mount(void *arg, struct zl_err *err)
{
    struct mnt *m = arg;
    if (mount("overlay", m->target, "overlay", 0, m->opts) == -1)
        return zl_err_sys(err, errno, "mount overlay on %s", m->target);
    return 0;
}

/* Past what mount(2) options can hold: the new mount API adds the lower layers one by
 * one ("lowerdir+", Linux 6.8), top first. */
static int mount_each(struct zl_image_store *s, const char *const *ids, size_t n, const char *dir,
                      const char *target, struct zl_err *err)
{
    int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs == -1)
        return zl_err_sys(err, errno, "fsopen overlay");
    int rc = 0;
    for (size_t i = n; rc == 0 && i-- > 0;) {
        char *p = zl_xasprintf("%s/snapshots/%s/fs", s->dir, ids[i] + ZL_IMAGE_ALGO_LEN);
        int r = fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", p, 0);
        if (r == -1 && errno == EINVAL)
            rc = zl_err_set(err, ZL_EINVAL,
                            "%zu layers: more than mount options hold, and the "
                            "kernel cannot add them one by one (lowerdir+, Linux 6.8)",
                            n);
        else if (r == -1)
            rc = zl_err_sys(err, errno, "overlay layer %s", p);
        free(p);
    }
    char *upper = zl_xasprintf("%s/upper", dir), *work = zl_xasprintf("%s/work", dir);
    if (rc == 0 && (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) == -1 ||
                    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) == -1 ||
                    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == -1))
        rc = zl_err_sys(err, errno, "set up the overlay for %s", target);
    free(upper);
    free(work);
    int m = rc == 0 ? fsmount(fs, FSMOUNT_CLOEXEC, 0) : -1;
    if (rc == 0 && (m == -1 || move_mount(m, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) == -1))
        rc = zl_err_sys(err, errno, "mount overlay on %s", target);
    if (m != -1)
        close(m);
    close(fs);
    return rc;
}

/* Mount with absolute paths when the options fit in a page; otherwise from inside
 * snapshots/ with relative ones (on a thread with its own cwd), or one layer at a time. */
static int mount_layers(struct zl_image_store *s, const char *const *ids, size_t n, const char *dir,
                        struct zl_err *err)
{
    size_t max = (size_t)sysconf(_SC_PAGESIZE) - 1, len;
    char *target = zl_xasprintf("%s/rootfs", dir);
    char *opts = options(s, ids, n, dir, false, &len);
    int rc;
    if (len <= max) {
        rc = do_mount(&(struct mnt){target, opts}, err);
    } else {
        free(opts);
        opts = options(s, ids, n, dir, true, &len);
        char *snaps = zl_xasprintf("%s/snapshots", s->dir);
        if (len <= max)
            rc = zl_image__in_dir(snaps, do_mount, &(struct mnt){target, opts}, err);
        else
            rc = mount_each(s, ids, n, dir, target, err);
        free(snaps);
    }
    free(opts);
    free(target);
    return rc;
}

static int check(struct zl_image_store *s, const char *const *ids, size_t n, const char *dir,
                 struct zl_err *err)
{
    if (n == 0 || n > MAX_LAYERS)
        return zl_err_set(err, ZL_EINVAL, "%zu layers: overlay takes 1 to %d", n, MAX_LAYERS);
    if (!plain(s->dir) || !plain(dir))
        return zl_err_set(err, ZL_EINVAL, "overlay cannot take paths with ',', ':' or '\\': %s",
                          plain(dir) ? s->dir : dir);
    for (size_t i = 0; i < n; i++) {
        if (!zl_image__digest_hex(ids[i], "chain ID", err))
            return -ZL_EINVAL;
        if (!zl_image_snapshot_has(s, ids[i]))
            return zl_err_set(err, ZL_ENOTFOUND, "snapshot %s not found", ids[i]);
    }
    return 0;
}

int zl_image_rootfs_mount(struct zl_image_store *s, const char *const *chain_ids, size_t n,
                          const char *dir, struct zl_err *err)
{
    char abs[PATH_MAX];
    int rc = check(s, chain_ids, n, dir, err);
    char *top = rc == 0 ? zl_image_snapshot_path(s, chain_ids[n - 1]) : NULL;
    if (rc == 0)
        rc = make_dirs(dir, top, err);
    if (rc == 0 && !realpath(dir, abs))
        rc = zl_err_sys(err, errno, "resolve %s", dir);
    if (rc == 0 && !plain(abs))
        rc = zl_err_set(err, ZL_EINVAL, "%s cannot be an overlay folder", abs);
    if (rc == 0)
        rc = mount_layers(s, chain_ids, n, abs, err);
    free(top);
    if (rc < 0)
        zl_err_wrap(err, "root filesystem in %s", dir);
    return rc;
}

int zl_image_rootfs_unmount(const char *dir, struct zl_err *err)
{
    char *target = zl_xasprintf("%s/rootfs", dir);
    int rc = 0;
    /* EINVAL: not mounted (any more). A create cut short and retried may have stacked
     * mounts: take them all off (a bounded few). */
    for (int i = 0; i < 16; i++)
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == -1) {
            if (errno != EINVAL && errno != ENOENT)
                rc = zl_err_sys(err, errno, "unmount %s", target);
            break;
        }
    free(target);
    return rc;
}
