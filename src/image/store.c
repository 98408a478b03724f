/* SPDX-License-Identifier: Apache-2.0 */
/* image/store.c: the store's directory tree under ROOT/images, digest checks, and the
 * filesystem helpers the blob, unpack and snapshot code share. */
#include "image/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A temporary blob untouched for this long, and not locked, was left by a dead writer. */
#define STALE_SECONDS 3600

static const char *const subdirs[] = {"blobs", "blobs/sha256", "snapshots", "tmp", "locks"};

bool zl_image__digest_ok(const char *digest)
{
    if (!digest || strncmp(digest, "sha256:", ZL_IMAGE_ALGO_LEN) != 0)
        return false;
    const char *hex = digest + ZL_IMAGE_ALGO_LEN;
    for (size_t i = 0; i < ZL_IMAGE_HEX_LEN; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return false;
    return hex[ZL_IMAGE_HEX_LEN] == '\0';
}

const char *zl_image__digest_hex(const char *digest, const char *what, struct zl_err *err)
{
    if (zl_image__digest_ok(digest))
        return digest + ZL_IMAGE_ALGO_LEN;
    if (!digest || !*digest)
        zl_err_set(err, ZL_EINVAL, "missing %s digest", what);
    else
        zl_err_set(err, ZL_EINVAL,
                   "%s digest \"%.100s\" is not supported: only sha256:<64 lowercase hex> is", what,
                   digest);
    return NULL;
}

void zl_image__digest_format(const unsigned char md[32], char *out)
{
    static const char x[] = "0123456789abcdef";
    memcpy(out, "sha256:", ZL_IMAGE_ALGO_LEN);
    char *p = out + ZL_IMAGE_ALGO_LEN;
    for (size_t i = 0; i < 32; i++) {
        *p++ = x[md[i] >> 4];
        *p++ = x[md[i] & 15];
    }
    *p = '\0';
}

static int rm_children(int fd)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int r = zl_image__rm_rf(dirfd(d), de->d_name);
        if (r < 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    return rc;
}

int zl_image__rm_rf(int dfd, const char *name)
{
    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR)
        return -errno;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? 0 : -errno;
    int rc = rm_children(fd);
    if (unlinkat(dfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

int zl_image__fsync_dir(int dfd, const char *name, struct zl_err *err)
{
    int fd = name ? openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : dfd;
    if (fd == -1)
        return zl_err_sys(err, errno, "open %s", name);
    int rc = fsync(fd) == -1 ? zl_err_sys(err, errno, "fsync %s", name ? name : "store") : 0;
    if (name)
        close(fd);
    return rc;
}

int zl_image__lock(struct zl_image_store *s, const char *hex, bool try, struct zl_err *err)
{
    char path[96];
    snprintf(path, sizeof(path), "locks/%s.lock", hex);
    int fd = openat(s->dfd, path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd == -1)
        return zl_err_sys(err, errno, "open %s/%s", s->dir, path);
    int r;
    while ((r = flock(fd, LOCK_EX | (try ? LOCK_NB : 0))) == -1 && errno == EINTR)
        ;
    if (r == -1) {
        int e = errno;
        close(fd);
        return zl_err_sys(err, e, "lock %s/%s", s->dir, path);
    }
    return fd;
}

struct in_dir {
    const char *dir;
    int (*fn)(void *arg, struct zl_err *err);
    void *arg;
    struct zl_err err;
    int rc;
};

static void *in_dir_main(void *p)
{
    struct in_dir *t = p;
    /* From here on cwd and umask belong to this thread alone. */
    if (unshare(CLONE_FS) == -1) {
        t->rc = zl_err_sys(&t->err, errno, "unshare the filesystem context");
        return NULL;
    }
    if (chdir(t->dir) == -1) {
        t->rc = zl_err_sys(&t->err, errno, "chdir %s", t->dir);
        return NULL;
    }
    umask(0);
    t->rc = t->fn(t->arg, &t->err);
    return NULL;
}

int zl_image__in_dir(const char *dir, int (*fn)(void *arg, struct zl_err *err), void *arg,
                     struct zl_err *err)
{
    struct in_dir t = {.dir = dir, .fn = fn, .arg = arg};
    pthread_t th;
    int e = pthread_create(&th, NULL, in_dir_main, &t);
    if (e != 0)
        return zl_err_sys(err, e, "start a thread");
    pthread_join(th, NULL);
    if (t.rc < 0 && err)
        *err = t.err;
    return t.rc;
}

/* A temporary blob file nobody holds and nobody touched for a while. */
static bool stale_blob(int tfd, const char *name)
{
    int fd = openat(tfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1)
        return false;
    struct stat st;
    bool stale = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                 st.st_mtime + STALE_SECONDS < time(NULL) && flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);
    return stale;
}

/* Unpack and removal folders are "snap-<hex>.*" and "rm-<hex>.*": stale once nobody holds
 * the snapshot's lock. */
static void sweep_dir(struct zl_image_store *s, int tfd, const char *name)
{
    const char *dash = strchr(name, '-');
    char hex[ZL_IMAGE_HEX_LEN + 1];
    if (!dash || strlen(dash + 1) <= ZL_IMAGE_HEX_LEN || dash[1 + ZL_IMAGE_HEX_LEN] != '.')
        return;
    memcpy(hex, dash + 1, ZL_IMAGE_HEX_LEN);
    hex[ZL_IMAGE_HEX_LEN] = '\0';
    char digest[ZL_DIGEST_MAX];
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    if (!zl_image__digest_ok(digest))
        return;
    int lk = zl_image__lock(s, hex, true, NULL);
    if (lk < 0)
        return;
    zl_image__rm_rf(tfd, name);
    close(lk);
}

/* Remove what crashed writers and unpackers left in tmp/ (partial downloads stay: they
 * are there to be resumed). */
static void sweep_tmp(struct zl_image_store *s)
{
    int tfd = openat(s->dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = tfd == -1 ? NULL : fdopendir(tfd);
    if (!d) {
        if (tfd != -1)
            close(tfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        if (strncmp(n, "blob-", 5) == 0 && len > 4 && strcmp(n + len - 4, ".tmp") == 0) {
            if (stale_blob(dirfd(d), n))
                unlinkat(dirfd(d), n, 0);
        } else if (strncmp(n, "snap-", 5) == 0 || strncmp(n, "rm-", 3) == 0) {
            sweep_dir(s, dirfd(d), n);
        }
    }
    closedir(d);
}

static int mkdir_p(char *path, struct zl_err *err)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int r = mkdir(path, 0700);
        int e = errno;
        *p = c;
        if (r == -1 && e != EEXIST)
            return zl_err_sys(err, e, "create %.*s", (int)(p - path), path);
        if (c == '\0')
            return 0;
    }
}

static int open_dirs(struct zl_image_store *s, struct zl_err *err)
{
    int rc = mkdir_p(s->dir, err);
    if (rc < 0)
        return rc;
    s->dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dfd == -1)
        return zl_err_sys(err, errno, "open %s", s->dir);
    for (size_t i = 0; i < ZL_ARRAY_LEN(subdirs); i++)
        if (mkdirat(s->dfd, subdirs[i], 0700) == -1 && errno != EEXIST)
            return zl_err_sys(err, errno, "create %s/%s", s->dir, subdirs[i]);
    return 0;
}

int zl_image_store_open(const char *root, struct zl_image_store **out, struct zl_err *err)
{
    if (!root || !*root)
        return zl_err_set(err, ZL_EINVAL, "image store: no root directory given");
    struct zl_image_store *s = zl_xcalloc(1, sizeof(*s));
    s->dfd = -1;
    s->root = zl_xstrdup(root);
    size_t n = strlen(s->root);
    while (n > 1 && s->root[n - 1] == '/')
        s->root[--n] = '\0';
    s->dir = zl_xasprintf("%s/images", strcmp(s->root, "/") == 0 ? "" : s->root);
    int rc = open_dirs(s, err);
    if (rc < 0) {
        zl_err_wrap(err, "image store");
        zl_image_store_close(s);
        return rc;
    }
    sweep_tmp(s);
    *out = s;
    return 0;
}

void zl_image_store_close(struct zl_image_store *s)
{
    if (!s)
        return;
    if (s->dfd != -1)
        close(s->dfd);
    free(s->root);
    free(s->dir);
    free(s);
}

const char *zl_image_store_dir(const struct zl_image_store *s)
{
    return s->dir;
}
