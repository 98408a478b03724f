/* SPDX-License-Identifier: Apache-2.0 */
/* image/unpack.c: a layer blob (tar, gzip or zstd) unpacked into a new snapshot, whiteouts
 * turned into overlay whiteouts, hostile entries refused, the diff ID checked on the way.
 *
 * One pass over the blob: reader `raw` (format "raw", filters gzip and zstd detected by
 * content, none otherwise) turns the blob into the uncompressed tar stream; reader `tar`
 * takes its input from our callback on_read, which pulls the next block out of `raw`, feeds
 * it to SHA-256 and hands it on. Every uncompressed byte thus passes the hash exactly once,
 * in order; what the tar reader never asks for (padding after the end-of-archive blocks) is
 * drained into the hash at the end. Entries go to disk through archive_write_disk with its
 * path guards, on a thread that has its own working directory (see zl_image__in_dir). */
#include "image/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/evp.h>

#define READ_BLOCK (256 * 1024)
#define OPQ        ".wh..wh..opq"
#define WH         ".wh."

/* No ARCHIVE_EXTRACT_UNLINK: with it libarchive removes a symlink met half-way along a path
 * instead of refusing the entry. Owners stay numeric: no name lookup (the host's passwd is
 * not the image's). */
static const int disk_flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                              ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL |
                              ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                              ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;

struct unpack {
    int fd; /* the blob */
    struct archive *raw, *tar, *disk;
    EVP_MD_CTX *md;
    uint64_t size; /* uncompressed bytes */
    char **opaque; /* directories (layer paths) marked opaque */
    size_t nopaque;
    bool raw_eof;  /* the uncompressed stream has ended */
    bool cut_tail; /* it ended right after an entry's data (no padding or trailer) */
};

static la_ssize_t on_read(struct archive *a, void *ctx, const void **buf)
{
    struct unpack *u = ctx;
    size_t n = 0;
    la_int64_t off;
    int r = archive_read_data_block(u->raw, buf, &n, &off);
    if (r == ARCHIVE_EOF) {
        u->raw_eof = true;
        return 0;
    }
    if (r != ARCHIVE_OK) {
        archive_set_error(a, archive_errno(u->raw), "%s", archive_error_string(u->raw));
        return -1;
    }
    EVP_DigestUpdate(u->md, *buf, n);
    u->size += n;
    return (la_ssize_t)n;
}

static int arc_err(struct archive *a, const char *what, struct zl_err *err)
{
    int e = archive_errno(a);
    const char *msg = archive_error_string(a);
    return zl_err_set(err, e > 0 && e < ZL_EINVAL ? e : ZL_EINVAL, "%s: %s", what,
                      msg ? msg : "failed");
}

static int entry_err(struct archive *a, const char *path, struct zl_err *err)
{
    char *what = zl_xasprintf("entry \"%s\"", path);
    int rc = arc_err(a, what, err);
    free(what);
    return rc;
}

static int open_archives(struct unpack *u, struct zl_err *err)
{
    u->raw = archive_read_new();
    u->tar = archive_read_new();
    u->disk = archive_write_disk_new();
    if (!u->raw || !u->tar || !u->disk)
        return zl_err_set(err, ENOMEM, "cannot set up libarchive");
    if (archive_read_support_filter_gzip(u->raw) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(u->raw) != ARCHIVE_OK ||
        archive_read_support_format_raw(u->raw) != ARCHIVE_OK ||
        archive_read_support_format_tar(u->tar) != ARCHIVE_OK)
        return zl_err_set(err, ENOTSUP, "libarchive lacks built-in gzip, zstd or tar support");
    struct archive_entry *e;
    if (archive_read_open_fd(u->raw, u->fd, READ_BLOCK) != ARCHIVE_OK ||
        archive_read_next_header(u->raw, &e) != ARCHIVE_OK)
        return arc_err(u->raw, "decompress", err);
    if (archive_filter_count(u->raw) > 2)
        return zl_err_set(err, ZL_EINVAL, "nested compression (%s over %s) is not supported",
                          archive_filter_name(u->raw, 0), archive_filter_name(u->raw, 1));
    if (archive_read_open(u->tar, u, NULL, on_read, NULL) != ARCHIVE_OK)
        return arc_err(u->tar, "read tar", err);
    archive_write_disk_set_options(u->disk, disk_flags);
    return 0;
}

/* Not empty, not absolute, no ".." component. */
static bool path_ok(const char *p)
{
    if (!p || !*p || *p == '/')
        return false;
    for (const char *c = p; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return false;
        c += n;
        c += *c == '/';
    }
    return true;
}

/* The last component of p: its offset and length (trailing slashes left out). */
static size_t base_of(const char *p, size_t *len)
{
    size_t end = strlen(p);
    while (end > 0 && p[end - 1] == '/')
        end--;
    size_t b = end;
    while (b > 0 && p[b - 1] != '/')
        b--;
    *len = end - b;
    return b;
}

/* Whiteouts. Returns 1 when the entry is consumed (opaque marker, other AUFS metadata),
 * 0 to write it (a `.wh.NAME` becomes the 0:0 character device NAME), or an error. */
static int whiteout(struct unpack *u, struct archive_entry *e, struct zl_err *err)
{
    const char *path = archive_entry_pathname(e);
    size_t blen, b = base_of(path, &blen);
    const char *base = path + b;
    if (blen < strlen(WH) || strncmp(base, WH, strlen(WH)) != 0)
        return 0;
    if (blen == strlen(OPQ) && strncmp(base, OPQ, blen) == 0) {
        u->opaque = zl_xrealloc(u->opaque, (u->nopaque + 1) * sizeof(*u->opaque));
        u->opaque[u->nopaque++] = zl_xstrndup(path, b);
        return 1;
    }
    if (blen >= 2 * strlen(WH) && strncmp(base + strlen(WH), WH, strlen(WH)) == 0)
        return 1;
    const char *name = base + strlen(WH);
    size_t nlen = blen - strlen(WH);
    if ((nlen == 1 && name[0] == '.') || (nlen == 2 && strncmp(name, "..", 2) == 0))
        return zl_err_set(err, ZL_EINVAL, "entry \"%s\": a whiteout of \"%.*s\"", path, (int)nlen,
                          name);
    char *target = zl_xasprintf("%.*s%.*s", (int)b, path, (int)nlen, name);
    archive_entry_set_pathname(e, target);
    free(target);
    archive_entry_set_hardlink(e, NULL);
    archive_entry_set_filetype(e, AE_IFCHR);
    archive_entry_set_perm(e, 0);
    archive_entry_set_rdev(e, 0);
    archive_entry_set_size(e, 0);
    archive_entry_xattr_clear(e);
    archive_entry_acl_clear(e);
    return 0;
}

/* Overlay's own xattrs (redirects, opaque, metacopy...) must not come from an image. */
static bool reserved_xattr(const char *name)
{
    return strncmp(name, "trusted.overlay.", 16) == 0 || strncmp(name, "user.overlay.", 13) == 0;
}

static void drop_reserved_xattrs(struct archive_entry *e)
{
    const char *name;
    const void *val;
    size_t size;
    bool any = false;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK)
        any |= reserved_xattr(name);
    if (!any)
        return;
    struct archive_entry *keep = archive_entry_new();
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK)
        if (!reserved_xattr(name))
            archive_entry_xattr_add_entry(keep, name, val, size);
    archive_entry_xattr_clear(e);
    archive_entry_xattr_reset(keep);
    while (archive_entry_xattr_next(keep, &name, &val, &size) == ARCHIVE_OK)
        archive_entry_xattr_add_entry(e, name, val, size);
    archive_entry_free(keep);
}

/* Some tools (umoci 0.4 among them) end a layer right after the last file's data, without
 * the tar padding and end-of-archive blocks. When every byte of the entry has arrived and
 * the stream is over, that is the end of the layer, as for GNU tar and Go's archive/tar. The
 * digest covers exactly the bytes received, so nothing is made up. */
static bool clean_cut(struct unpack *u, int64_t got, int64_t size)
{
    return u->raw_eof && got == size;
}

static int copy_data(struct unpack *u, const char *path, int64_t size, struct zl_err *err)
{
    const void *buf;
    size_t n;
    la_int64_t off;
    int64_t got = 0;
    for (;;) {
        int r = archive_read_data_block(u->tar, &buf, &n, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN && clean_cut(u, got, size)) {
            u->cut_tail = true;
            return 0;
        }
        if (r < ARCHIVE_WARN)
            return entry_err(u->tar, path, err);
        got = off + (int64_t)n;
        if (archive_write_data_block(u->disk, buf, n, off) < ARCHIVE_WARN)
            return entry_err(u->disk, path, err);
    }
}

static int write_entry(struct unpack *u, struct archive_entry *e, struct zl_err *err)
{
    const char *path = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    if (!path_ok(path))
        return zl_err_set(err, ZL_EINVAL, "entry \"%s\" is refused: it leads out of the layer",
                          path ? path : "");
    if (link && !path_ok(link))
        return zl_err_set(err, ZL_EINVAL, "entry \"%s\" is refused: hard link to \"%s\"", path,
                          link);
    int rc = whiteout(u, e, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    drop_reserved_xattrs(e);
    path = archive_entry_pathname(e);
    if (archive_write_header(u->disk, e) < ARCHIVE_WARN)
        return entry_err(u->disk, path, err);
    if (archive_entry_size(e) > 0 && (rc = copy_data(u, path, archive_entry_size(e), err)) < 0)
        return rc;
    if (archive_write_finish_entry(u->disk) < ARCHIVE_WARN)
        return entry_err(u->disk, path, err);
    return 0;
}

static int write_entries(struct unpack *u, struct zl_err *err)
{
    for (;;) {
        struct archive_entry *e;
        if (u->cut_tail)
            return 0;
        int r = archive_read_next_header(u->tar, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        /* padding present but no end-of-archive blocks: the stream just stops */
        if (r < ARCHIVE_WARN && u->raw_eof && archive_file_count(u->tar) > 0)
            return 0;
        if (r < ARCHIVE_WARN)
            return arc_err(u->tar, "read tar", err);
        int rc = write_entry(u, e, err);
        if (rc < 0)
            return rc;
    }
}

/* Hash what follows the tar's end-of-archive marker. */
static int drain(struct unpack *u, struct zl_err *err)
{
    const void *p;
    size_t n;
    la_int64_t off;
    for (;;) {
        int r = archive_read_data_block(u->raw, &p, &n, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK)
            return arc_err(u->raw, "decompress", err);
        EVP_DigestUpdate(u->md, p, n);
        u->size += n;
    }
}

/* One step down from fd to the directory name, never through a symlink, creating it when
 * missing. Closes fd. */
static int step(int fd, const char *name)
{
    int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next == -1 && errno == ENOENT && mkdirat(fd, name, 0755) == 0)
        next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(fd);
    errno = e;
    return next;
}

/* Open directory path (relative to cwd); an opaque marker may come without its directory. */
static int open_dir(const char *path)
{
    int fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (const char *c = path; fd != -1 && *c;) {
        size_t n = strcspn(c, "/");
        if (n > 0 && !(n == 1 && *c == '.')) {
            char *name = zl_xstrndup(c, n);
            fd = step(fd, name);
            free(name);
        }
        c += n;
        c += *c == '/';
    }
    return fd;
}

static int mark_opaque(struct unpack *u, struct zl_err *err)
{
    for (size_t i = 0; i < u->nopaque; i++) {
        const char *p = u->opaque[i];
        int fd = open_dir(p);
        if (fd == -1)
            return zl_err_sys(err, errno, "entry \"%s" OPQ "\": open its directory", p);
        int r = fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0);
        int e = errno;
        close(fd);
        if (r == -1)
            return zl_err_sys(err, e, "entry \"%s" OPQ "\": mark the directory opaque", p);
    }
    return 0;
}

/* Runs on the zl_image__in_dir thread, cwd = the new snapshot's fs. */
static int extract(void *arg, struct zl_err *err)
{
    struct unpack *u = arg;
    int rc = open_archives(u, err);
    if (rc == 0)
        rc = write_entries(u, err);
    if (rc == 0)
        rc = drain(u, err);
    /* Closing applies the deferred directory modes and times. */
    if (u->disk && archive_write_close(u->disk) < ARCHIVE_WARN && rc == 0)
        rc = arc_err(u->disk, "finish", err);
    if (rc == 0)
        rc = mark_opaque(u, err);
    archive_write_free(u->disk);
    archive_read_free(u->tar);
    archive_read_free(u->raw);
    return rc;
}

static int write_meta(struct zl_image_store *s, const char *work, const char *hex,
                      const char *layer, const char *diff_id, uint64_t size, struct zl_err *err)
{
    char *chain = zl_xasprintf("sha256:%s", hex);
    json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "chain_id", chain, "diff_id", diff_id, "layer",
                          layer, "size", (json_int_t)size);
    char *path = zl_xasprintf("%s/%s/meta", s->dir, work);
    int rc = 0;
    if (!j || json_dump_file(j, path, JSON_COMPACT) != 0)
        rc = zl_err_set(err, EIO, "cannot write %s", path);
    json_decref(j);
    free(path);
    free(chain);
    return rc;
}

/* Extract into work/fs, check the diff ID, write work/meta. */
static int fill(struct zl_image_store *s, const char *work, const char *hex, const char *layer,
                const char *diff_id, struct zl_err *err)
{
    struct unpack u = {.fd = -1};
    char *fs = zl_xasprintf("%s/%s/fs", s->dir, work);
    char *blob = zl_xasprintf("blobs/sha256/%s", layer + ZL_IMAGE_ALGO_LEN);
    int rc = 0;
    u.md = EVP_MD_CTX_new();
    if (!u.md || EVP_DigestInit_ex(u.md, EVP_sha256(), NULL) != 1)
        rc = zl_err_set(err, ENOMEM, "cannot set up SHA-256");
    else if ((u.fd = openat(s->dfd, blob, O_RDONLY | O_CLOEXEC)) == -1)
        rc = errno == ENOENT ? zl_err_set(err, ZL_ENOTFOUND, "blob %s is not in the store", layer)
                             : zl_err_sys(err, errno, "open %s/%s", s->dir, blob);
    else if (mkdir(fs, 0755) == -1)
        rc = zl_err_sys(err, errno, "create %s", fs);
    else
        rc = zl_image__in_dir(fs, extract, &u, err);
    unsigned char md[32];
    char got[ZL_DIGEST_MAX];
    if (rc == 0 && EVP_DigestFinal_ex(u.md, md, NULL) != 1)
        rc = zl_err_set(err, ENOMEM, "cannot finish SHA-256");
    if (rc == 0)
        zl_image__digest_format(md, got);
    if (rc == 0 && strcmp(got, diff_id) != 0)
        rc = zl_err_set(err, ZL_EINVAL, "diff ID mismatch: expected %s, got %s", diff_id, got);
    if (rc == 0)
        rc = write_meta(s, work, hex, layer, diff_id, u.size, err);
    for (size_t i = 0; i < u.nopaque; i++)
        free(u.opaque[i]);
    free(u.opaque);
    if (u.fd != -1)
        close(u.fd);
    EVP_MD_CTX_free(u.md);
    free(blob);
    free(fs);
    return rc;
}

/* One syncfs for the whole tree (far cheaper than an fsync per file), then the rename
 * that makes the snapshot exist. */
static int publish(struct zl_image_store *s, const char *work, const char *hex, struct zl_err *err)
{
    int fd = openat(s->dfd, work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return zl_err_sys(err, errno, "open %s/%s", s->dir, work);
    int r = syncfs(fd);
    int e = errno;
    close(fd);
    if (r == -1)
        return zl_err_sys(err, e, "sync %s/%s", s->dir, work);
    char dst[96];
    snprintf(dst, sizeof(dst), "snapshots/%s", hex);
    if (renameat(s->dfd, work, s->dfd, dst) == -1)
        return zl_err_sys(err, errno, "rename %s/%s to %s", s->dir, work, dst);
    return zl_image__fsync_dir(s->dfd, "snapshots", err);
}

int zl_image__unpack(struct zl_image_store *s, const char *hex, const char *layer_digest,
                     const char *diff_id, struct zl_err *err)
{
    char *tmpl = zl_xasprintf("%s/tmp/snap-%s.XXXXXX", s->dir, hex);
    if (!mkdtemp(tmpl)) {
        int e = errno;
        free(tmpl);
        return zl_err_sys(err, e, "create an unpack folder in %s/tmp", s->dir);
    }
    char *work = zl_xasprintf("tmp/%s", strrchr(tmpl, '/') + 1);
    free(tmpl);
    int rc = fill(s, work, hex, layer_digest, diff_id, err);
    if (rc == 0)
        rc = publish(s, work, hex, err);
    if (rc < 0) {
        zl_image__rm_rf(s->dfd, work);
        zl_err_wrap(err, "unpack layer %s", layer_digest);
    }
    free(work);
    return rc;
}
