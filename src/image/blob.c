/* SPDX-License-Identifier: Apache-2.0 */
/* image/blob.c: content-addressed blobs: written to tmp/, hashed on the way, verified,
 * synced and renamed into blobs/sha256/<hex>; partial downloads kept for resuming. */
#include "image/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define REHASH_CHUNK (1 << 20)

struct zl_blob_writer {
    struct zl_image_store *s;
    char want[ZL_DIGEST_MAX]; /* "" when the digest is not known in advance */
    uint64_t want_size;       /* 0: not known */
    char name[128];           /* the temporary file, relative to the store dir */
    int fd;
    EVP_MD_CTX *md;
    uint64_t off; /* bytes in the file, all hashed */
};

static void writer_free(struct zl_blob_writer *w)
{
    if (w->fd != -1)
        close(w->fd);
    EVP_MD_CTX_free(w->md);
    free(w);
}

/* Hash what an interrupted writer left, dropping it when it is already too long. */
static int rehash(struct zl_blob_writer *w, struct zl_err *err)
{
    struct stat st;
    if (fstat(w->fd, &st) == -1)
        return zl_err_sys(err, errno, "stat %s/%s", w->s->dir, w->name);
    if (w->want_size && (uint64_t)st.st_size > w->want_size && ftruncate(w->fd, 0) == -1)
        return zl_err_sys(err, errno, "truncate %s/%s", w->s->dir, w->name);
    char *buf = zl_xmalloc(REHASH_CHUNK);
    ssize_t n;
    while ((n = read(w->fd, buf, REHASH_CHUNK)) != 0) {
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            int e = errno;
            free(buf);
            return zl_err_sys(err, e, "read %s/%s", w->s->dir, w->name);
        }
        EVP_DigestUpdate(w->md, buf, (size_t)n);
        w->off += (uint64_t)n;
    }
    free(buf);
    return 0;
}

/* Open and lock tmp/<hex>.partial. Returns 1 when another writer holds it. The lock is
 * taken on an open file, so check that the name still leads to it: the holder may have
 * committed (renamed) or aborted (unlinked) it meanwhile. */
static int open_partial(struct zl_blob_writer *w, const char *hex, struct zl_err *err)
{
    snprintf(w->name, sizeof(w->name), "tmp/%s.partial", hex);
    for (int tries = 0; tries < 8; tries++) {
        int fd = openat(w->s->dfd, w->name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd == -1)
            return zl_err_sys(err, errno, "open %s/%s", w->s->dir, w->name);
        if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
            close(fd);
            return 1;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && fstatat(w->s->dfd, w->name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            w->fd = fd;
            return rehash(w, err);
        }
        close(fd);
    }
    return 1;
}

static int open_fresh(struct zl_blob_writer *w, struct zl_err *err)
{
    char *path = zl_xasprintf("%s/tmp/blob-XXXXXX.tmp", w->s->dir);
    w->fd = mkostemps(path, 4, O_CLOEXEC);
    if (w->fd == -1) {
        int e = errno;
        free(path);
        return zl_err_sys(err, e, "create a temporary file in %s/tmp", w->s->dir);
    }
    snprintf(w->name, sizeof(w->name), "tmp/%s", strrchr(path, '/') + 1);
    free(path);
    flock(w->fd, LOCK_EX | LOCK_NB); /* tells the tmp/ sweeper the file is in use */
    return 0;
}

int zl_image_blob_begin(struct zl_image_store *s, const char *expected_digest,
                        uint64_t expected_size, bool resume, struct zl_blob_writer **out,
                        struct zl_err *err)
{
    const char *hex = NULL;
    if (expected_digest && !(hex = zl_image__digest_hex(expected_digest, "blob", err)))
        return -ZL_EINVAL;
    if (!hex && resume)
        return zl_err_set(err, ZL_EINVAL, "resuming a blob download needs its digest");
    struct zl_blob_writer *w = zl_xcalloc(1, sizeof(*w));
    w->s = s;
    w->fd = -1;
    w->want_size = expected_size;
    if (hex)
        snprintf(w->want, sizeof(w->want), "%s", expected_digest);
    w->md = EVP_MD_CTX_new();
    if (!w->md || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        writer_free(w);
        return zl_err_set(err, ENOMEM, "cannot set up SHA-256");
    }
    int rc = resume ? open_partial(w, hex, err) : 1;
    if (rc == 1)
        rc = open_fresh(w, err);
    if (rc < 0) {
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

uint64_t zl_image_blob_offset(const struct zl_blob_writer *w)
{
    return w->off;
}

int zl_image_blob_write(struct zl_blob_writer *w, const void *p, size_t n, struct zl_err *err)
{
    if (w->want_size && n > w->want_size - w->off)
        return zl_err_set(err, ZL_EINVAL, "blob %s: more than the expected %" PRIu64 " bytes",
                          w->want, w->want_size);
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(w->fd, c, n);
        if (k == -1 && errno == EINTR)
            continue;
        if (k == -1)
            return zl_err_sys(err, errno, "write %s/%s", w->s->dir, w->name);
        EVP_DigestUpdate(w->md, c, (size_t)k);
        w->off += (uint64_t)k;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Verify, sync and move into place. *gone: the temporary file no longer exists. */
static int finish(struct zl_blob_writer *w, char *got, bool *gone, struct zl_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(w->md, md, &len) != 1 || len != 32)
        return zl_err_set(err, ENOMEM, "cannot finish SHA-256");
    zl_image__digest_format(md, got);
    if (w->want_size && w->off != w->want_size)
        return zl_err_set(err, ZL_EINVAL,
                          "blob %s: size mismatch: got %" PRIu64 " bytes, expected %" PRIu64,
                          *w->want ? w->want : got, w->off, w->want_size);
    if (*w->want && strcmp(got, w->want) != 0)
        return zl_err_set(err, ZL_EINVAL, "blob digest mismatch: expected %s, got %s", w->want,
                          got);
    if (fchmod(w->fd, 0444) == -1 || fsync(w->fd) == -1)
        return zl_err_sys(err, errno, "sync %s/%s", w->s->dir, w->name);
    char path[128];
    snprintf(path, sizeof(path), "blobs/sha256/%s", got + ZL_IMAGE_ALGO_LEN);
    struct stat st;
    if (fstatat(w->s->dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
        *gone = unlinkat(w->s->dfd, w->name, 0) == 0;
        return 0;
    }
    if (renameat(w->s->dfd, w->name, w->s->dfd, path) == -1)
        return zl_err_sys(err, errno, "rename %s/%s into place", w->s->dir, w->name);
    *gone = true;
    return zl_image__fsync_dir(w->s->dfd, "blobs/sha256", err);
}

int zl_image_blob_commit(struct zl_blob_writer *w, char *digest, struct zl_err *err)
{
    char got[ZL_DIGEST_MAX];
    bool gone = false;
    int rc = finish(w, got, &gone, err);
    if (!gone)
        unlinkat(w->s->dfd, w->name, 0);
    if (rc == 0 && digest)
        memcpy(digest, got, strlen(got) + 1);
    writer_free(w);
    return rc;
}

void zl_image_blob_suspend(struct zl_blob_writer *w)
{
    if (!w)
        return;
    /* only a ".partial" file can be picked up again; a fresh temp file cannot */
    if (!strstr(w->name, ".partial") || fsync(w->fd) == -1)
        unlinkat(w->s->dfd, w->name, 0);
    writer_free(w);
}

void zl_image_blob_abort(struct zl_blob_writer *w)
{
    if (!w)
        return;
    unlinkat(w->s->dfd, w->name, 0);
    writer_free(w);
}

bool zl_image_blob_has(struct zl_image_store *s, const char *digest)
{
    if (!zl_image__digest_ok(digest))
        return false;
    char path[128];
    snprintf(path, sizeof(path), "blobs/sha256/%s", digest + ZL_IMAGE_ALGO_LEN);
    struct stat st;
    return fstatat(s->dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

char *zl_image_blob_path(struct zl_image_store *s, const char *digest)
{
    if (!zl_image_blob_has(s, digest))
        return NULL;
    return zl_xasprintf("%s/blobs/sha256/%s", s->dir, digest + ZL_IMAGE_ALGO_LEN);
}

int zl_image_blob_put(struct zl_image_store *s, const void *p, size_t n, char *digest,
                      struct zl_err *err)
{
    unsigned char md[32];
    unsigned int len = 0;
    char d[ZL_DIGEST_MAX];
    if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1)
        return zl_err_set(err, ENOMEM, "cannot compute SHA-256");
    zl_image__digest_format(md, d);
    if (!zl_image_blob_has(s, d)) {
        struct zl_blob_writer *w = NULL;
        int rc = zl_image_blob_begin(s, d, n, false, &w, err);
        if (rc == 0 && (rc = zl_image_blob_write(w, p, n, err)) < 0)
            zl_image_blob_abort(w);
        else if (rc == 0)
            rc = zl_image_blob_commit(w, NULL, err);
        if (rc < 0)
            return rc;
    }
    if (digest)
        memcpy(digest, d, sizeof(d));
    return 0;
}

int zl_image_blob_read(struct zl_image_store *s, const char *digest, size_t max, char **out,
                       size_t *len, struct zl_err *err)
{
    if (!zl_image__digest_hex(digest, "blob", err))
        return -ZL_EINVAL;
    char *path = zl_image_blob_path(s, digest);
    if (!path)
        return zl_err_set(err, ZL_ENOTFOUND, "blob %s is not in the store", digest);
    int rc = zl_read_file(path, max, out, len, err);
    free(path);
    return rc;
}
