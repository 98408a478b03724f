/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/rootfs.c: the container's root filesystem: mounts, devices, pivot_root, masked and
 * read-only paths. Every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT), so a
 * symlink in an image can never make a mount land on the host. */
#include "runtime/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int openat2_in(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    for (;;) {
        int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            return fd;
    }
}

/* Append one component to a symlink-free path inside the root. */
static void push(struct zl_buf *resolved, const char *comp, size_t n)
{
    zl_buf_putc(resolved, '/');
    zl_buf_append(resolved, comp, n);
}

static void pop(struct zl_buf *resolved)
{
    char *slash = resolved->len ? strrchr(resolved->data, '/') : NULL;
    resolved->len = slash ? (size_t)(slash - resolved->data) : 0;
    if (resolved->data)
        resolved->data[resolved->len] = '\0';
}

/* Walk `path` inside the root like the kernel would with the root as "/", creating what is
 * missing: directories, and with `file` an empty file as the last component. Symlinks are
 * read and followed by hand, so they resolve inside the root (at most 40 of them). Returns
 * an O_PATH fd of the result. */
static int create_in_root(int rootfd, const char *path, bool file, struct zl_err *err)
{
    struct zl_buf resolved, todo;
    zl_buf_init(&resolved);
    zl_buf_init(&todo);
    zl_buf_puts(&todo, path);
    int links = 0, fd = -1;
    size_t at = 0;
    while (at < todo.len) {
        const char *comp = todo.data + at;
        size_t n = strcspn(comp, "/");
        at += n + (comp[n] == '/');
        if (n == 0 || (n == 1 && comp[0] == '.'))
            continue;
        if (n == 2 && comp[0] == '.' && comp[1] == '.') {
            pop(&resolved);
            continue;
        }
        bool last = at >= todo.len;
        int dirfd = openat2_in(rootfd, resolved.len ? resolved.data : "/", O_PATH | O_DIRECTORY);
        if (dirfd < 0) {
            zl_err_sys(err, errno, "open %s in the rootfs", resolved.len ? resolved.data : "/");
            goto out;
        }
        char name[256], target[4096];
        snprintf(name, sizeof(name), "%.*s", (int)n, comp);
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            int r = last && file
                        ? openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                                 0644)
                        : mkdirat(dirfd, name, 0755);
            if (r < 0 && errno != EEXIST) {
                zl_err_sys(err, errno, "create %s/%s in the rootfs",
                           resolved.data ? resolved.data : "", name);
                close(dirfd);
                goto out;
            }
            if (last && file)
                close(r);
            push(&resolved, comp, n);
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t len = readlinkat(dirfd, name, target, sizeof(target) - 1);
            if (len < 0 || ++links > 40) {
                zl_err_set(err, ZL_EINVAL, "too many symlinks resolving %s in the rootfs", path);
                close(dirfd);
                goto out;
            }
            target[len] = '\0';
            /* continue with the link's text, then the rest of the path */
            struct zl_buf next;
            zl_buf_init(&next);
            zl_buf_printf(&next, "%s/%s", target, todo.data + at);
            zl_buf_fini(&todo);
            todo = next;
            at = 0;
            if (target[0] == '/')
                resolved.len = 0;
        } else {
            push(&resolved, comp, n);
        }
        close(dirfd);
    }
    fd = openat2_in(rootfd, resolved.len ? resolved.data : "/", O_PATH);
    if (fd < 0)
        zl_err_sys(err, errno, "open %s in the rootfs", path);
out:
    zl_buf_fini(&resolved);
    zl_buf_fini(&todo);
    return fd;
}

/* Open `path` inside the tree at rootfd as O_PATH; with `create`, make what is missing. */
static int open_in_root(int rootfd, const char *path, bool create, bool file, struct zl_err *err)
{
    int fd = openat2_in(rootfd, path, O_PATH);
    if (fd >= 0)
        return fd;
    if (errno != ENOENT || !create) {
        zl_err_sys(err, errno, "open %s in the rootfs", path);
        return -1;
    }
    return create_in_root(rootfd, path, file, err);
}

static void fd_path(int fd, char *buf, size_t cap)
{
    snprintf(buf, cap, "/proc/self/fd/%d", fd);
}

/* Flags of the mount at path that a bind remount must keep (else EPERM in a user ns). */
static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_RDONLY)
        f |= MS_RDONLY;
    return f;
}

static int remount_bind(const char *target, unsigned long flags, struct zl_err *err)
{
    flags |= locked_flags(target) & ~(flags & MS_RDONLY ? 0ul : MS_RDONLY);
    if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
        return zl_err_sys(err, errno, "remount %s", target);
    return 0;
}

/* Re-open a mount point after mounting on it (an fd taken before refers to what is under). */
static int reopen(int rootfd, const char *dest, char *buf, size_t cap, struct zl_err *err)
{
    int fd = open_in_root(rootfd, dest, false, false, err);
    if (fd >= 0)
        fd_path(fd, buf, cap);
    return fd;
}

/* cgroup v1 inside the container: a tmpfs with one cgroup mount per hierarchy. */
static int mount_cgroup_v1(int rootfd, const struct zl_oci_mount *m, const char *target,
                           struct zl_err *err)
{
    if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
        return zl_err_sys(err, errno, "mount tmpfs on %s", m->destination);
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        char *ctl = strchr(line, ':'), *end = ctl ? strchr(ctl + 1, ':') : NULL;
        if (!ctl || !end || end == ctl + 1)
            continue; /* the v2 line "0::/..." */
        *end = '\0';
        ctl++;
        const char *name = !strncmp(ctl, "name=", 5) ? ctl + 5 : ctl;
        char *dest = zl_xasprintf("%s/%s", m->destination, name);
        char *data = !strncmp(ctl, "name=", 5) ? zl_xasprintf("none,%s", ctl) : zl_xstrdup(ctl);
        int fd = open_in_root(rootfd, dest, true, false, err);
        char t[64];
        fd_path(fd, t, sizeof(t));
        int rc = fd < 0 ? -1 : mount("cgroup", t, "cgroup", m->flags & ~MS_RDONLY, data);
        if (fd >= 0 && rc < 0)
            zl_err_sys(err, errno, "mount cgroup %s", ctl);
        if (fd >= 0)
            close(fd);
        free(dest);
        free(data);
        if (rc < 0) {
            fclose(f);
            return -1;
        }
    }
    if (f)
        fclose(f);
    if (!(m->flags & MS_RDONLY))
        return 0;
    char t[64];
    int fd = reopen(rootfd, m->destination, t, sizeof(t), err);
    if (fd < 0)
        return -1;
    int rc =
        mount(NULL, t, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755");
    if (rc < 0)
        zl_err_sys(err, errno, "remount %s read-only", m->destination);
    close(fd);
    return rc;
}

static bool host_is_cgroup2(void)
{
    struct stat st;
    /* pure v2: /sys/fs/cgroup/cgroup.controllers exists at the top */
    return stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
}

static bool has_ns(const struct zl_oci_config *c, int flag)
{
    for (size_t i = 0; i < c->nnamespaces; i++)
        if (c->namespaces[i].type == flag)
            return true;
    return false;
}

static int mount_one(int rootfd, const struct zl_oci_config *c, const struct zl_oci_mount *m,
                     struct zl_err *err)
{
    bool dir = true;
    struct stat st;
    if (m->bind && m->source) {
        if (stat(m->source, &st) < 0)
            return zl_err_sys(err, errno, "bind mount source %s", m->source);
        dir = S_ISDIR(st.st_mode);
    }
    int fd = open_in_root(rootfd, m->destination, true, !dir, err);
    if (fd < 0)
        return -1;
    char t[64];
    fd_path(fd, t, sizeof(t));
    int rc = 0;
    const char *type = m->type ? m->type : "none";
    unsigned long flags = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (m->bind) {
        rc = mount(m->source, t, NULL, MS_BIND | (m->flags & MS_REC), NULL);
        if (rc < 0)
            zl_err_sys(err, errno, "bind mount %s on %s", m->source, m->destination);
    } else if (!strcmp(type, "cgroup") && !host_is_cgroup2()) {
        rc = mount_cgroup_v1(rootfd, m, t, err);
    } else {
        const char *fstype = !strcmp(type, "cgroup") ? "cgroup2" : type;
        rc = mount(m->source ? m->source : fstype, t, fstype, flags, m->data);
        if (rc < 0 && errno == EPERM && !strcmp(type, "sysfs") && !has_ns(c, CLONE_NEWNET)) {
            /* the host's network namespace: sysfs cannot be mounted anew, bind it */
            rc = mount("/sys", t, NULL, MS_BIND | MS_REC, NULL);
            flags |= MS_RDONLY;
            if (rc == 0) {
                close(fd);
                fd = reopen(rootfd, m->destination, t, sizeof(t), err);
                rc = fd < 0 ? -1 : remount_bind(t, flags, err);
            }
        } else if (rc < 0) {
            zl_err_sys(err, errno, "mount %s on %s", type, m->destination);
        }
    }
    close(fd);
    if (rc < 0)
        return -1;
    if (m->bind && (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME))) {
        fd = reopen(rootfd, m->destination, t, sizeof(t), err);
        rc = fd < 0 ? -1 : remount_bind(t, flags, err);
        if (fd >= 0)
            close(fd);
        if (rc < 0)
            return -1;
    }
    if (m->propagation) {
        fd = reopen(rootfd, m->destination, t, sizeof(t), err);
        rc = fd < 0 ? -1 : mount(NULL, t, NULL, m->propagation, NULL);
        if (fd >= 0 && rc < 0)
            zl_err_sys(err, errno, "set propagation of %s", m->destination);
        if (fd >= 0)
            close(fd);
    }
    return rc < 0 ? -1 : 0;
}

/* ---------------- devices ---------------- */

static const struct {
    const char *path;
    unsigned major, minor;
} default_devices[] = {
    {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

/* Create a device node (or, in a user namespace, bind the host's). */
static int make_device(int rootfd, const char *path, mode_t type, dev_t dev, mode_t mode, uid_t uid,
                       gid_t gid, bool userns, struct zl_err *err)
{
    char *slash = strrchr(path, '/');
    char *parent = slash == path ? zl_xstrdup("/") : zl_xstrndup(path, (size_t)(slash - path));
    int pfd = open_in_root(rootfd, parent, true, false, err);
    free(parent);
    if (pfd < 0)
        return -1;
    const char *name = slash + 1;
    int rc = 0;
    if (!userns) {
        unlinkat(pfd, name, 0);
        /* the mode exactly as asked, whatever our umask */
        if (mknodat(pfd, name, type | (mode & 07777), dev) < 0 ||
            fchmodat(pfd, name, mode & 07777, 0) < 0 ||
            fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            rc = zl_err_sys(err, errno, "create device %s", path);
    } else {
        int f = openat(pfd, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f >= 0)
            close(f);
        char t[64];
        int fd = open_in_root(rootfd, path, false, false, err);
        fd_path(fd, t, sizeof(t));
        if (fd < 0 || mount(path, t, NULL, MS_BIND, NULL) < 0)
            rc = zl_err_sys(err, errno, "bind device %s", path);
        if (fd >= 0)
            close(fd);
    }
    close(pfd);
    return rc;
}

static int setup_devices(int rootfd, const struct zl_oci_config *c, struct zl_err *err)
{
    bool userns = has_ns(c, CLONE_NEWUSER);
    for (size_t i = 0; i < ZL_ARRAY_LEN(default_devices); i++)
        if (make_device(rootfd, default_devices[i].path, S_IFCHR,
                        makedev(default_devices[i].major, default_devices[i].minor), 0666, 0, 0,
                        userns, err) < 0)
            return -1;
    for (size_t i = 0; i < c->ndevices; i++) {
        const struct zl_oci_device *d = &c->devices[i];
        mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
        if (make_device(rootfd, d->path, type, makedev(d->major, d->minor),
                        d->has_mode ? d->mode : 0666, d->has_uid ? d->uid : 0,
                        d->has_gid ? d->gid : 0, userns, err) < 0)
            return -1;
    }
    static const struct {
        const char *target, *path;
    } links[] = {
        {"/proc/self/fd", "dev/fd"},       {"/proc/self/fd/0", "dev/stdin"},
        {"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"},
        {"pts/ptmx", "dev/ptmx"},
    };
    for (size_t i = 0; i < ZL_ARRAY_LEN(links); i++) {
        int dfd = open_in_root(rootfd, "/dev", true, false, err);
        if (dfd < 0)
            return -1;
        const char *name = links[i].path + 4;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode) &&
            !strcmp(name, "ptmx"))
            unlinkat(dfd, name, 0);
        if (symlinkat(links[i].target, dfd, name) < 0 && errno != EEXIST) {
            close(dfd);
            return zl_err_sys(err, errno, "symlink /%s", links[i].path);
        }
        close(dfd);
    }
    return 0;
}

/* ---------------- the switch ---------------- */

static int switch_root(const char *root, bool no_pivot, struct zl_err *err)
{
    if (chdir(root) < 0)
        return zl_err_sys(err, errno, "chdir %s", root);
    if (no_pivot) {
        if (mount(root, "/", NULL, MS_MOVE, NULL) < 0)
            return zl_err_sys(err, errno, "move %s to /", root);
        if (chroot(".") < 0)
            return zl_err_sys(err, errno, "chroot %s", root);
    } else {
        /* pivot onto itself, then detach the old root stacked underneath */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
            return zl_err_sys(err, errno, "pivot_root %s", root);
        if (umount2(".", MNT_DETACH) < 0)
            return zl_err_sys(err, errno, "detach the old root");
    }
    if (chdir("/") < 0)
        return zl_err_sys(err, errno, "chdir /");
    return 0;
}

int zl_runtime__rootfs_setup(const struct zl_oci_config *c, bool no_pivot, const char *state_json,
                             struct zl_err *err)
{
    /* nothing we mount may propagate back to the host */
    unsigned long prop = c->rootfs_propagation ? c->rootfs_propagation : MS_SLAVE | MS_REC;
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        return zl_err_sys(err, errno, "make / a slave mount");
    if (mount(c->root_path, c->root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return zl_err_sys(err, errno, "bind the rootfs %s", c->root_path);
    if ((prop & ~MS_REC) != MS_SLAVE && mount(NULL, c->root_path, NULL, prop, NULL) < 0)
        return zl_err_sys(err, errno, "set rootfs propagation");
    int rootfd = open(c->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return zl_err_sys(err, errno, "open the rootfs %s", c->root_path);
    int rc = 0;
    for (size_t i = 0; i < c->nmounts && rc == 0; i++)
        rc = mount_one(rootfd, c, &c->mounts[i], err);
    if (rc == 0)
        rc = setup_devices(rootfd, c, err);
    if (rc == 0 && c->terminal) {
        int fd = open_in_root(rootfd, "/dev/console", true, true, err);
        rc = fd < 0 ? -1 : 0;
        if (fd >= 0)
            close(fd);
    }
    close(rootfd);
    if (rc < 0)
        return rc;
    /* createContainer hooks: in the container's namespaces, before the root changes */
    if (zl_runtime__hooks_run(&c->hooks[ZL_HOOK_CREATE_CONTAINER], state_json, "createContainer",
                              err) < 0)
        return -1;
    return switch_root(c->root_path, no_pivot, err);
}

static int mask(const char *path, struct zl_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0; /* nothing to hide */
    int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0")
                                 : mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (rc < 0 && errno != ENOENT)
        return zl_err_sys(err, errno, "mask %s", path);
    return 0;
}

int zl_runtime__rootfs_finish(const struct zl_oci_config *c, struct zl_err *err)
{
    /* read-only paths first, then masked ones, the order other runtimes use */
    for (size_t i = 0; i < c->nreadonly_paths; i++) {
        const char *p = c->readonly_paths[i];
        if (access(p, F_OK) < 0)
            continue;
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
            return zl_err_sys(err, errno, "bind %s", p);
        if (remount_bind(p, MS_RDONLY, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < c->nmasked_paths; i++)
        if (mask(c->masked_paths[i], err) < 0)
            return -1;
    if (c->root_readonly && remount_bind("/", MS_RDONLY, err) < 0)
        return zl_err_wrap(err, "read-only root");
    return 0;
}
