/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/image/test_store.c: the local image store: blobs, chain IDs, layer unpacking
 * (formats, whiteouts, hostile archives), snapshots and overlay root filesystems. */
#include "image/internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define HELLO_HEX    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define HELLO_DIGEST "sha256:" HELLO_HEX
#define MTIME        1600000000

/* What a test made, so that teardown removes it whatever failed. */
static struct {
    char root[64];    /* the store's ROOT */
    char ctr[96];     /* a container folder with a mounted rootfs, or "" */
    char outside[64]; /* a folder outside the store hostile layers aim at, or "" */
    struct zl_image_store *s;
} T;

/* ---------------- fixtures and helpers ---------------- */

static int setup(void **state)
{
    (void)state;
    struct zl_err err = {0};
    memset(&T, 0, sizeof(T));
    strcpy(T.root, "/tmp/zl-store-XXXXXX");
    if (!mkdtemp(T.root))
        return -1;
    if (zl_image_store_open(T.root, &T.s, &err) < 0) {
        print_error("%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (*T.ctr)
        zl_image_rootfs_unmount(T.ctr, NULL);
    if (*T.outside)
        zl_image__rm_rf(AT_FDCWD, T.outside);
    zl_image_store_close(T.s);
    return zl_image__rm_rf(AT_FDCWD, T.root) == 0 ? 0 : -1;
}

static bool need_root(void)
{
    return geteuid() == 0;
}

static char *store_path(const char *rel)
{
    return zl_xasprintf("%s/%s", zl_image_store_dir(T.s), rel);
}

/* Entries in store_dir/rel, "." and ".." left out. */
static int count_dir(const char *rel)
{
    char *p = store_path(rel);
    DIR *d = opendir(p);
    free(p);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void sha256(const void *p, size_t n, char *out)
{
    unsigned char md[32];
    assert_int_equal(EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL), 1);
    zl_image__digest_format(md, out);
}

/* Does the formatted path exist (without following a last symlink)? */
static bool ZL_PRINTF(1, 2) existsf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    assert_true(vasprintf(&p, fmt, ap) > 0);
    va_end(ap);
    struct stat st;
    bool r = lstat(p, &st) == 0;
    free(p);
    return r;
}

/* ---------------- building layers ---------------- */

struct ent {
    char type; /* f file, d dir, l symlink, h hard link, c char device, p fifo */
    const char *path;
    const char *data; /* file contents, or the link target */
    int mode, uid, gid;
    const char *xname, *xval; /* one xattr, or NULL */
    dev_t rdev;
};

static la_ssize_t on_write(struct archive *a, void *ctx, const void *p, size_t n)
{
    (void)a;
    zl_buf_append(ctx, p, n);
    return (la_ssize_t)n;
}

static void add_entry(struct archive *a, const struct ent *e)
{
    static const struct {
        char t;
        unsigned ft;
    } types[] = {{'f', AE_IFREG}, {'d', AE_IFDIR}, {'l', AE_IFLNK},
                 {'h', AE_IFREG}, {'c', AE_IFCHR}, {'p', AE_IFIFO}};
    struct archive_entry *x = archive_entry_new();
    archive_entry_set_pathname(x, e->path);
    for (size_t i = 0; i < ZL_ARRAY_LEN(types); i++)
        if (types[i].t == e->type)
            archive_entry_set_filetype(x, types[i].ft);
    archive_entry_set_perm(x, (mode_t)(e->mode ? e->mode : e->type == 'd' ? 0755 : 0644));
    archive_entry_set_uid(x, e->uid);
    archive_entry_set_gid(x, e->gid);
    archive_entry_set_mtime(x, MTIME, 0);
    size_t size = e->type == 'f' && e->data ? strlen(e->data) : 0;
    archive_entry_set_size(x, (la_int64_t)size);
    if (e->type == 'l')
        archive_entry_set_symlink(x, e->data);
    if (e->type == 'h')
        archive_entry_set_hardlink(x, e->data);
    if (e->type == 'c')
        archive_entry_set_rdev(x, e->rdev);
    if (e->xname)
        archive_entry_xattr_add_entry(x, e->xname, e->xval, strlen(e->xval));
    assert_int_equal(archive_write_header(a, x), ARCHIVE_OK);
    if (size)
        assert_int_equal(archive_write_data(a, e->data, size), (la_ssize_t)size);
    archive_entry_free(x);
}

/* Compress tar (filter "none", "gzip" or "zstd") into out. */
static void compress(const struct zl_buf *tar, const char *filter, struct zl_buf *out)
{
    if (strcmp(filter, "none") == 0) {
        zl_buf_append(out, tar->data, tar->len);
        return;
    }
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_add_filter_by_name(a, filter), ARCHIVE_OK);
    assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
    /* No padding after the compressed stream: zstd readers refuse trailing zeros. */
    assert_int_equal(archive_write_set_bytes_per_block(a, 0), ARCHIVE_OK);
    assert_int_equal(archive_write_open(a, out, NULL, on_write, NULL), ARCHIVE_OK);
    struct archive_entry *x = archive_entry_new();
    archive_entry_set_pathname(x, "layer.tar");
    archive_entry_set_filetype(x, AE_IFREG);
    archive_entry_set_size(x, (la_int64_t)tar->len);
    assert_int_equal(archive_write_header(a, x), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, tar->data, tar->len), (la_ssize_t)tar->len);
    archive_entry_free(x);
    assert_int_equal(archive_write_free(a), ARCHIVE_OK);
}

/* Build a layer, store its blob; its digest in layer, its diff ID in diff. */
static void put_layer(const struct ent *ents, size_t n, const char *filter, char *layer, char *diff)
{
    struct zl_buf tar, blob;
    zl_buf_init(&tar);
    zl_buf_init(&blob);
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open(a, &tar, NULL, on_write, NULL), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++)
        add_entry(a, &ents[i]);
    assert_int_equal(archive_write_free(a), ARCHIVE_OK);
    sha256(tar.data, tar.len, diff);
    compress(&tar, filter, &blob);
    struct zl_err err = {0};
    assert_int_equal(zl_image_blob_put(T.s, blob.data, blob.len, layer, &err), 0);
    zl_buf_fini(&tar);
    zl_buf_fini(&blob);
}

/* A single-layer snapshot (its chain ID is its diff ID, written to chain). */
static int ensure_layer(const struct ent *ents, size_t n, const char *filter, char *chain,
                        struct zl_err *err)
{
    char layer[ZL_DIGEST_MAX];
    put_layer(ents, n, filter, layer, chain);
    return zl_image_snapshot_ensure(T.s, chain, layer, chain, err);
}

/* A path inside a snapshot (caller frees). */
static char *in_snap(const char *chain, const char *rel)
{
    char *fs = zl_image_snapshot_path(T.s, chain);
    assert_non_null(fs);
    char *p = zl_xasprintf("%s/%s", fs, rel);
    free(fs);
    return p;
}

/* ---------------- blobs ---------------- */

static void test_blob_commit(void **state)
{
    (void)state;
    struct zl_err err = {0};
    struct zl_blob_writer *w = NULL;
    char d[ZL_DIGEST_MAX];
    assert_int_equal(zl_image_blob_begin(T.s, HELLO_DIGEST, 5, false, &w, &err), 0);
    assert_int_equal(zl_image_blob_offset(w), 0);
    assert_int_equal(zl_image_blob_write(w, "hel", 3, &err), 0);
    assert_int_equal(zl_image_blob_write(w, "lo", 2, &err), 0);
    assert_int_equal(zl_image_blob_commit(w, d, &err), 0);
    assert_string_equal(d, HELLO_DIGEST);
    assert_true(zl_image_blob_has(T.s, HELLO_DIGEST));
    char *p = zl_image_blob_path(T.s, HELLO_DIGEST);
    assert_non_null(p);
    assert_string_equal(strrchr(p, '/') + 1, HELLO_HEX);
    free(p);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(zl_image_blob_read(T.s, HELLO_DIGEST, 100, &data, &len, &err), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    assert_int_equal(count_dir("tmp"), 0);
    /* Without a known digest, commit names what it got. */
    assert_int_equal(zl_image_blob_begin(T.s, NULL, 0, false, &w, &err), 0);
    assert_int_equal(zl_image_blob_write(w, "hello", 5, &err), 0);
    assert_int_equal(zl_image_blob_commit(w, d, &err), 0);
    assert_string_equal(d, HELLO_DIGEST);
    assert_int_equal(count_dir("blobs/sha256"), 1);
    assert_int_equal(count_dir("tmp"), 0);
}

static void test_blob_mismatch(void **state)
{
    (void)state;
    struct zl_err err = {0};
    struct zl_blob_writer *w = NULL;
    assert_int_equal(zl_image_blob_begin(T.s, HELLO_DIGEST, 0, false, &w, &err), 0);
    assert_int_equal(zl_image_blob_write(w, "hellx", 5, &err), 0);
    assert_int_equal(zl_image_blob_commit(w, NULL, &err), -ZL_EINVAL);
    assert_non_null(strstr(err.msg, "mismatch"));
    assert_false(zl_image_blob_has(T.s, HELLO_DIGEST));
    /* Size: too short at commit, too long at write. */
    assert_int_equal(zl_image_blob_begin(T.s, HELLO_DIGEST, 6, false, &w, &err), 0);
    assert_int_equal(zl_image_blob_write(w, "hello", 5, &err), 0);
    assert_int_equal(zl_image_blob_commit(w, NULL, &err), -ZL_EINVAL);
    assert_non_null(strstr(err.msg, "size"));
    assert_int_equal(zl_image_blob_begin(T.s, HELLO_DIGEST, 4, false, &w, &err), 0);
    assert_int_equal(zl_image_blob_write(w, "hello", 5, &err), -ZL_EINVAL);
    zl_image_blob_abort(w);
    /* Aborted resumable writers leave nothing either. */
    assert_int_equal(zl_image_blob_begin(T.s, HELLO_DIGEST, 5, true, &w, &err), 0);
    assert_int_equal(zl_image_blob_write(w, "he", 2, &err), 0);
    zl_image_blob_abort(w);
    assert_int_equal(count_dir("blobs/sha256"), 0);
    assert_int_equal(count_dir("tmp"), 0);
}

static void test_blob_resume(void **state)
{
    (void)state;
    struct zl_err err = {0};
    struct zl_blob_writer *w = NULL, *w2 = NULL;
    /* A download that dies half-way. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (zl_image_blob_begin(T.s, HELLO_DIGEST, 5, true, &w, &err) < 0 ||
            zl_image_blob_write(w, "hel", 3, &err) < 0)
            _exit(1);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(count_dir("tmp"), 1);
    assert_int_equal(zl_image_blob_begin(T.s, HELLO_DIGEST, 5, true, &w, &err), 0);
    assert_int_equal(zl_image_blob_offset(w), 3);
    /* While it is held, a second writer starts afresh. */
    assert_int_equal(zl_image_blob_begin(T.s, HELLO_DIGEST, 5, true, &w2, &err), 0);
    assert_int_equal(zl_image_blob_offset(w2), 0);
    zl_image_blob_abort(w2);
    assert_int_equal(zl_image_blob_write(w, "lo", 2, &err), 0);
    assert_int_equal(zl_image_blob_commit(w, NULL, &err), 0);
    assert_true(zl_image_blob_has(T.s, HELLO_DIGEST));
    assert_int_equal(count_dir("tmp"), 0);

    /* A corrupt partial file is re-hashed, fails the check, and is gone. */
    char *partial = zl_xasprintf("%s/tmp/%s.partial", zl_image_store_dir(T.s), HELLO_HEX);
    FILE *f = fopen(partial, "w");
    assert_non_null(f);
    fputs("XYZ", f);
    fclose(f);
    assert_int_equal(zl_image_blob_begin(T.s, HELLO_DIGEST, 0, true, &w, &err), 0);
    assert_int_equal(zl_image_blob_offset(w), 3);
    assert_int_equal(zl_image_blob_write(w, "lo", 2, &err), 0);
    assert_int_equal(zl_image_blob_commit(w, NULL, &err), -ZL_EINVAL);
    assert_int_equal(access(partial, F_OK), -1);
    free(partial);
    assert_int_equal(count_dir("tmp"), 0);
}

static void test_blob_put(void **state)
{
    (void)state;
    struct zl_err err = {0};
    char d1[ZL_DIGEST_MAX], d2[ZL_DIGEST_MAX];
    assert_int_equal(zl_image_blob_put(T.s, "hello", 5, d1, &err), 0);
    assert_int_equal(zl_image_blob_put(T.s, "hello", 5, d2, &err), 0);
    assert_string_equal(d1, HELLO_DIGEST);
    assert_string_equal(d2, HELLO_DIGEST);
    assert_int_equal(count_dir("blobs/sha256"), 1);
    assert_int_equal(count_dir("tmp"), 0);
    /* A writer for a blob already there just drops its copy. */
    struct zl_blob_writer *w = NULL;
    assert_int_equal(zl_image_blob_begin(T.s, HELLO_DIGEST, 5, false, &w, &err), 0);
    assert_int_equal(zl_image_blob_write(w, "hello", 5, &err), 0);
    assert_int_equal(zl_image_blob_commit(w, NULL, &err), 0);
    assert_int_equal(count_dir("blobs/sha256"), 1);
    assert_int_equal(count_dir("tmp"), 0);
    char *data = NULL;
    size_t len;
    assert_int_equal(zl_image_blob_read(T.s, HELLO_DIGEST, 2, &data, &len, &err), -ZL_EINVAL);
    assert_int_equal(zl_image_blob_read(T.s, "sha256:" HELLO_DIGEST "x", 9, &data, &len, &err),
                     -ZL_EINVAL);
    char absent[ZL_DIGEST_MAX];
    sha256("absent", 6, absent);
    assert_int_equal(zl_image_blob_read(T.s, absent, 9, &data, &len, &err), -ZL_ENOTFOUND);
}

static void test_invalid_digests(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "sha256:abc",
        "sha512:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98240",
        "sha256:../../../../../../../../../../../../../../../../../../tmp/zl-x",
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982/",
        "md5:5d41402abc4b2a76b9719d911017c592",
    };
    for (size_t i = 0; i < ZL_ARRAY_LEN(bad); i++) {
        struct zl_err err = {0};
        struct zl_blob_writer *w = NULL;
        char out[ZL_DIGEST_MAX];
        assert_int_equal(zl_image_blob_begin(T.s, bad[i], 0, true, &w, &err), -ZL_EINVAL);
        assert_null(w);
        if (*bad[i])
            assert_non_null(strstr(err.msg, bad[i]));
        assert_false(zl_image_blob_has(T.s, bad[i]));
        assert_null(zl_image_blob_path(T.s, bad[i]));
        assert_false(zl_image_snapshot_has(T.s, bad[i]));
        assert_null(zl_image_snapshot_path(T.s, bad[i]));
        assert_int_equal(zl_image_snapshot_ensure(T.s, bad[i], HELLO_DIGEST, HELLO_DIGEST, &err),
                         -ZL_EINVAL);
        assert_int_equal(zl_image_snapshot_ensure(T.s, HELLO_DIGEST, bad[i], HELLO_DIGEST, &err),
                         -ZL_EINVAL);
        assert_int_equal(zl_image_chain_id(NULL, bad[i], out, &err), -ZL_EINVAL);
        if (*bad[i]) /* "" is no parent */
            assert_int_equal(zl_image_chain_id(bad[i], HELLO_DIGEST, out, &err), -ZL_EINVAL);
        assert_int_equal(zl_image_snapshot_remove(T.s, bad[i], &err), -ZL_EINVAL);
    }
    struct zl_err err = {0};
    assert_int_equal(zl_image_blob_begin(T.s, NULL, 0, true, NULL, &err), -ZL_EINVAL);
    assert_int_equal(count_dir("tmp"), 0);
    assert_int_equal(count_dir("locks"), 0);
    assert_int_equal(access("/tmp/zl-x", F_OK), -1);
}

/* ---------------- chain IDs ---------------- */

static void test_chain_id(void **state)
{
    (void)state;
    /* printf '%s' "$A $B" | sha256sum, A = sha256:a{64}, B = sha256:b{64}, C = sha256:c{64} */
    const char *a = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *b = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const char *c = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    struct zl_err err = {0};
    char c1[ZL_DIGEST_MAX], c2[ZL_DIGEST_MAX], c3[ZL_DIGEST_MAX];
    assert_int_equal(zl_image_chain_id(NULL, a, c1, &err), 0);
    assert_string_equal(c1, a);
    assert_int_equal(zl_image_chain_id("", a, c1, &err), 0);
    assert_string_equal(c1, a);
    assert_int_equal(zl_image_chain_id(c1, b, c2, &err), 0);
    assert_string_equal(c2,
                        "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c");
    assert_int_equal(zl_image_chain_id(c2, c, c3, &err), 0);
    assert_string_equal(c3,
                        "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588");
}

/* ---------------- unpacking ---------------- */

static const struct ent rich[] = {
    {.type = 'd', .path = "./", .mode = 0755},
    {.type = 'd', .path = "./etc/", .mode = 0750, .uid = 0, .gid = 42},
    {.type = 'f',
     .path = "./etc/hello",
     .data = "hello world\n",
     .mode = 0640,
     .uid = 1000,
     .gid = 1001,
     .xname = "user.zl.test",
     .xval = "yes"},
    {.type = 'h', .path = "./etc/hello.link", .data = "./etc/hello"},
    {.type = 'f', .path = "./etc/suid", .data = "#!/bin/sh\n", .mode = 04755},
    {.type = 'f', .path = "./etc/empty", .mode = 0600, .uid = 65534, .gid = 65534},
    {.type = 'd',
     .path = "./var/spooky",
     .mode = 01777,
     .xname = "trusted.overlay.opaque",
     .xval = "y"},
    {.type = 'l', .path = "./bin/sh", .data = "/bin/busybox"},
    {.type = 'l', .path = "./bin/dangling", .data = "../nowhere/at/all"},
    {.type = 'c', .path = "./dev/null", .mode = 0666, .rdev = 0},
    {.type = 'p', .path = "./run/fifo", .mode = 0620, .uid = 7, .gid = 8},
    {.type = 'f', .path = "deep/a/b/c/d/file", .data = "x"},
};

static void check_rich(const char *chain)
{
    struct stat st, st2;
    char *p = in_snap(chain, "etc/hello"), *q = in_snap(chain, "etc/hello.link");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(st.st_gid, 1001);
    assert_int_equal(st.st_size, 12);
    assert_int_equal(st.st_mtime, MTIME);
    assert_int_equal(st.st_nlink, 2);
    assert_int_equal(lstat(q, &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    char val[16] = {0};
    assert_int_equal(getxattr(p, "user.zl.test", val, sizeof(val)), 3);
    assert_string_equal(val, "yes");
    free(p);
    free(q);
    static const struct {
        const char *path;
        mode_t mode; /* type and permission bits */
        uid_t uid;
        gid_t gid;
    } want[] = {
        {"etc", S_IFDIR | 0750, 0, 42},
        {"etc/suid", S_IFREG | 04755, 0, 0},
        {"etc/empty", S_IFREG | 0600, 65534, 65534},
        {"var/spooky", S_IFDIR | 01777, 0, 0},
        {"bin/sh", S_IFLNK | 0777, 0, 0},
        {"dev/null", S_IFCHR | 0666, 0, 0},
        {"run/fifo", S_IFIFO | 0620, 7, 8},
        {"deep/a/b/c/d/file", S_IFREG | 0644, 0, 0},
    };
    for (size_t i = 0; i < ZL_ARRAY_LEN(want); i++) {
        p = in_snap(chain, want[i].path);
        assert_int_equal(lstat(p, &st), 0);
        if (st.st_mode != want[i].mode)
            print_error("%s: mode %o\n", want[i].path, st.st_mode);
        assert_int_equal(st.st_mode, want[i].mode);
        assert_int_equal(st.st_uid, want[i].uid);
        assert_int_equal(st.st_gid, want[i].gid);
        if (!S_ISLNK(st.st_mode))
            assert_int_equal(st.st_mtime, MTIME);
        /* An image does not get to set overlay's own xattrs. */
        assert_true(lgetxattr(p, "trusted.overlay.opaque", val, sizeof(val)) == -1);
        free(p);
    }
    assert_true(existsf("%s/snapshots/%s/meta", zl_image_store_dir(T.s), chain + 7));
    char target[64] = {0};
    p = in_snap(chain, "bin/sh");
    assert_int_equal(readlink(p, target, sizeof(target) - 1), 12);
    assert_string_equal(target, "/bin/busybox");
    free(p);
}

static void test_unpack_formats(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    static const char *const filters[] = {"none", "gzip", "zstd"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(filters); i++) {
        struct zl_err err = {0};
        char chain[ZL_DIGEST_MAX];
        int rc = ensure_layer(rich, ZL_ARRAY_LEN(rich), filters[i], chain, &err);
        if (rc < 0)
            print_error("%s: %s\n", filters[i], err.msg);
        assert_int_equal(rc, 0);
        assert_true(zl_image_snapshot_has(T.s, chain));
        check_rich(chain);
        /* Again: already there. */
        char layer[ZL_DIGEST_MAX];
        put_layer(rich, ZL_ARRAY_LEN(rich), filters[i], layer, chain);
        assert_int_equal(zl_image_snapshot_ensure(T.s, chain, layer, chain, &err), 0);
        assert_int_equal(zl_image_snapshot_remove(T.s, chain, &err), 0);
        assert_false(zl_image_snapshot_has(T.s, chain));
        assert_int_equal(zl_image_snapshot_remove(T.s, chain, &err), -ZL_ENOTFOUND);
    }
    assert_int_equal(count_dir("snapshots"), 0);
    assert_int_equal(count_dir("tmp"), 0);
}

static void test_unpack_missing_blob(void **state)
{
    (void)state;
    struct zl_err err = {0};
    char absent[ZL_DIGEST_MAX];
    sha256("absent", 6, absent);
    assert_int_equal(zl_image_snapshot_ensure(T.s, absent, absent, absent, &err), -ZL_ENOTFOUND);
    assert_non_null(strstr(err.msg, absent));
    assert_int_equal(count_dir("snapshots"), 0);
    assert_int_equal(count_dir("tmp"), 0);
}

static void test_wrong_diff_id(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    struct zl_err err = {0};
    char layer[ZL_DIGEST_MAX], diff[ZL_DIGEST_MAX];
    put_layer(rich, ZL_ARRAY_LEN(rich), "gzip", layer, diff);
    assert_int_equal(zl_image_snapshot_ensure(T.s, HELLO_DIGEST, layer, HELLO_DIGEST, &err),
                     -ZL_EINVAL);
    assert_non_null(strstr(err.msg, "diff ID mismatch"));
    assert_non_null(strstr(err.msg, diff));
    assert_false(zl_image_snapshot_has(T.s, HELLO_DIGEST));
    assert_int_equal(count_dir("snapshots"), 0);
    assert_int_equal(count_dir("tmp"), 0);
    /* The compressed blob is not a diff ID either. */
    assert_int_equal(zl_image_snapshot_ensure(T.s, layer, layer, layer, &err), -ZL_EINVAL);
    /* A blob that is not a tar at all. */
    char junk[ZL_DIGEST_MAX];
    assert_int_equal(zl_image_blob_put(T.s, "not a tar", 9, junk, &err), 0);
    assert_true(zl_image_snapshot_ensure(T.s, junk, junk, junk, &err) < 0);
    assert_int_equal(count_dir("snapshots"), 0);
    assert_int_equal(count_dir("tmp"), 0);
}

/* ---------------- whiteouts and overlay ---------------- */

static const struct ent lower[] = {
    {.type = 'd', .path = "a/"},
    {.type = 'f', .path = "a/keep", .data = "keep"},
    {.type = 'f', .path = "a/gone", .data = "gone"},
    {.type = 'd', .path = "o/"},
    {.type = 'f', .path = "o/old", .data = "old"},
    {.type = 'f', .path = "o/sub/older", .data = "older"},
    {.type = 'f', .path = "m/x", .data = "x"},
};

/* The opaque marker comes after a sibling of the same layer, which must survive it. */
static const struct ent upper[] = {
    {.type = 'f', .path = "a/.wh.gone"},     {.type = 'f', .path = "o/new", .data = "new"},
    {.type = 'f', .path = "o/.wh..wh..opq"}, {.type = 'f', .path = "m/y", .data = "y"},
    {.type = 'f', .path = "n/.wh..wh..opq"},
};

/* Mount the overlay of ids at T.ctr/rootfs; returns that path (caller frees). */
static char *mount_ctr(const char *const *ids, size_t n)
{
    snprintf(T.ctr, sizeof(T.ctr), "%s/ctr", T.root);
    struct zl_err err = {0};
    int rc = zl_image_rootfs_mount(T.s, ids, n, T.ctr, &err);
    if (rc < 0)
        print_error("%zu layers: %s\n", n, err.msg);
    assert_int_equal(rc, 0);
    return zl_xasprintf("%s/rootfs", T.ctr);
}

static void umount_ctr(void)
{
    struct zl_err err = {0};
    assert_int_equal(zl_image_rootfs_unmount(T.ctr, &err), 0);
    assert_int_equal(zl_image_rootfs_unmount(T.ctr, &err), 0); /* not mounted: fine */
    *T.ctr = '\0';
}

static void make_two_layers(char *c1, char *c2)
{
    struct zl_err err = {0};
    char l1[ZL_DIGEST_MAX], d1[ZL_DIGEST_MAX], l2[ZL_DIGEST_MAX], d2[ZL_DIGEST_MAX];
    put_layer(lower, ZL_ARRAY_LEN(lower), "gzip", l1, d1);
    put_layer(upper, ZL_ARRAY_LEN(upper), "zstd", l2, d2);
    assert_int_equal(zl_image_chain_id(NULL, d1, c1, &err), 0);
    assert_int_equal(zl_image_chain_id(c1, d2, c2, &err), 0);
    assert_int_equal(zl_image_snapshot_ensure(T.s, c1, l1, d1, &err), 0);
    int rc = zl_image_snapshot_ensure(T.s, c2, l2, d2, &err);
    if (rc < 0)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void test_whiteouts(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    char c1[ZL_DIGEST_MAX], c2[ZL_DIGEST_MAX];
    make_two_layers(c1, c2);
    char *fs1 = zl_image_snapshot_path(T.s, c1), *fs2 = zl_image_snapshot_path(T.s, c2);
    struct stat st;
    char *p = in_snap(c2, "a/gone");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    free(p);
    static const char *const opaque[] = {"o", "n"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(opaque); i++) {
        char v[4] = {0};
        p = in_snap(c2, opaque[i]);
        assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
        assert_string_equal(v, "y");
        free(p);
    }
    assert_true(existsf("%s/o/new", fs2));
    assert_false(existsf("%s/o/.wh..wh..opq", fs2));
    assert_false(existsf("%s/a/.wh.gone", fs2));

    /* Now as one root filesystem. */
    char *root = mount_ctr((const char *[]){c1, c2}, 2);
    assert_true(existsf("%s/a/keep", root));
    assert_false(existsf("%s/a/gone", root));
    assert_true(existsf("%s/o/new", root));
    assert_false(existsf("%s/o/old", root));
    assert_false(existsf("%s/o/sub", root));
    assert_true(existsf("%s/m/x", root) && existsf("%s/m/y", root) && existsf("%s/n", root));
    p = zl_xasprintf("%s/m/written", root);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    free(p);
    assert_true(existsf("%s/upper/m/written", T.ctr));
    assert_false(existsf("%s/m/written", fs1) || existsf("%s/m/written", fs2));
    umount_ctr();
    assert_false(existsf("%s/m/written", root));
    free(root);
    free(fs1);
    free(fs2);
}

static void test_rootfs_errors(void **state)
{
    (void)state;
    struct zl_err err = {0};
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/ctr", T.root);
    const char *ids[] = {HELLO_DIGEST};
    assert_int_equal(zl_image_rootfs_mount(T.s, ids, 0, dir, &err), -ZL_EINVAL);
    assert_int_equal(zl_image_rootfs_mount(T.s, ids, 1, dir, &err), -ZL_ENOTFOUND);
    assert_non_null(strstr(err.msg, HELLO_DIGEST));
    const char *bad[] = {"sha256:nope"};
    assert_int_equal(zl_image_rootfs_mount(T.s, bad, 1, dir, &err), -ZL_EINVAL);
    assert_int_equal(access(dir, F_OK), -1);
}

/* Mount the bottom n layers of the stack; each layer i holds "l<i>" and its own "top". */
static void check_stack(char (*chains)[ZL_DIGEST_MAX], size_t n)
{
    const char **ids = zl_xcalloc(n, sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        ids[i] = chains[i];
    char *root = mount_ctr(ids, n);
    free(ids);
    assert_true(existsf("%s/l0", root) && existsf("%s/l%zu", root, n - 1));
    assert_false(existsf("%s/l%zu", root, n));
    char *p = zl_xasprintf("%s/top", root), want[16], got[16] = {0};
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof(got), f));
    fclose(f);
    snprintf(want, sizeof(want), "%zu", n - 1);
    assert_string_equal(got, want);
    umount_ctr();
    free(p);
    free(root);
}

/* Past one page of mount options: relative paths, then one layer at a time. */
static void test_many_layers(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    enum { N = 70 };
    char(*chains)[ZL_DIGEST_MAX] = zl_xcalloc(N, ZL_DIGEST_MAX);
    for (size_t i = 0; i < N; i++) {
        char path[16], data[16], layer[ZL_DIGEST_MAX], diff[ZL_DIGEST_MAX];
        snprintf(path, sizeof(path), "l%zu", i);
        snprintf(data, sizeof(data), "%zu", i);
        struct ent e[] = {{.type = 'f', .path = path, .data = data},
                          {.type = 'f', .path = "top", .data = data}};
        struct zl_err err = {0};
        put_layer(e, 2, "gzip", layer, diff);
        assert_int_equal(zl_image_chain_id(i ? chains[i - 1] : NULL, diff, chains[i], &err), 0);
        assert_int_equal(zl_image_snapshot_ensure(T.s, chains[i], layer, diff, &err), 0);
    }
    check_stack(chains, 1);
    check_stack(chains, 45);
    check_stack(chains, N);
    free(chains);
}

/* A layer with no entries (Docker's empty layers), plain and compressed. */
static void test_empty_layer(void **state)
{
    (void)state;
    static const char *const filters[] = {"none", "gzip", "zstd"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(filters); i++) {
        struct zl_err err = {0};
        char chain[ZL_DIGEST_MAX];
        int rc = ensure_layer(NULL, 0, filters[i], chain, &err);
        if (rc < 0)
            print_error("%s: %s\n", filters[i], err.msg);
        assert_int_equal(rc, 0);
        assert_true(zl_image_snapshot_has(T.s, chain));
    }
    /* The bare end-of-archive marker. */
    static const char zeros[1024];
    char d[ZL_DIGEST_MAX], diff[ZL_DIGEST_MAX];
    struct zl_err err = {0};
    assert_int_equal(zl_image_blob_put(T.s, zeros, sizeof(zeros), d, &err), 0);
    sha256(zeros, sizeof(zeros), diff);
    assert_int_equal(zl_image_snapshot_ensure(T.s, diff, d, diff, &err), 0);
    assert_int_equal(count_dir("tmp"), 0);
}

/* ---------------- hostile layers ---------------- */

static void refused(const struct ent *ents, size_t n, const char *needle)
{
    struct zl_err err = {0};
    char chain[ZL_DIGEST_MAX];
    assert_true(ensure_layer(ents, n, "gzip", chain, &err) < 0);
    if (!strstr(err.msg, needle))
        print_error("message \"%s\" lacks \"%s\"\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
    if (getenv("ZL_TEST_VERBOSE"))
        fprintf(stderr, "refused: %s\n", err.msg);
    assert_false(zl_image_snapshot_has(T.s, chain));
    assert_int_equal(count_dir("snapshots"), 0);
    assert_int_equal(count_dir("tmp"), 0);
}

static void test_hostile(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    const char *out = T.outside;
    snprintf(T.outside, sizeof(T.outside), "/tmp/zl-outside-%d", (int)getpid());
    assert_int_equal(mkdir(out, 0755), 0);
    char *victim = zl_xasprintf("%s/victim", out);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fclose(f);
    struct stat passwd0, st;
    assert_int_equal(stat("/etc/passwd", &passwd0), 0);

    char *esc = zl_xasprintf("../../../../../../../../../../..%s/escaped", out);
    refused((struct ent[]){{.type = 'f', .path = esc, .data = "x"}}, 1, esc);
    char *abs = zl_xasprintf("%s/absolute", out);
    refused((struct ent[]){{.type = 'f', .path = abs, .data = "x"}}, 1, abs);
    refused((struct ent[]){{.type = 'h', .path = "passwd", .data = "../../etc/passwd"}}, 1,
            "../../etc/passwd");
    refused((struct ent[]){{.type = 'l', .path = "l", .data = "/etc"},
                           {.type = 'h', .path = "passwd", .data = "l/passwd"}},
            2, "passwd");
    refused((struct ent[]){{.type = 'l', .path = "a", .data = out},
                           {.type = 'f', .path = "a/file", .data = "x"}},
            2, "a/file");
    refused((struct ent[]){{.type = 'l', .path = "a", .data = out},
                           {.type = 'f', .path = "a/.wh.victim"}},
            2, "a/victim");
    refused((struct ent[]){{.type = 'l', .path = "a", .data = out},
                           {.type = 'f', .path = "a/.wh..wh..opq"}},
            2, "a/.wh..wh..opq");
    refused((struct ent[]){{.type = 'f', .path = "x/.wh.."}}, 1, "x/.wh..");
    free(esc);
    free(abs);

    assert_false(existsf("%s/escaped", out) || existsf("%s/absolute", out) ||
                 existsf("%s/file", out) || existsf("/tmp/escaped"));
    assert_int_equal(lstat(victim, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    free(victim);
    char v[4];
    assert_int_equal(getxattr(out, "trusted.overlay.opaque", v, sizeof(v)), -1);
    assert_int_equal(stat("/etc/passwd", &st), 0);
    assert_int_equal(st.st_nlink, passwd0.st_nlink);
}

/* ---------------- concurrency ---------------- */

/* Count IN_CREATE events of folders named prefix* in the watched tmp/. */
static int count_creates(int ifd, const char *prefix)
{
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    int n = 0;
    ssize_t len;
    while ((len = read(ifd, buf, sizeof(buf))) > 0)
        for (char *p = buf; p < buf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if ((ev->mask & IN_CREATE) && ev->len && strncmp(ev->name, prefix, strlen(prefix)) == 0)
                n++;
            p += sizeof(*ev) + ev->len;
        }
    return n;
}

static void test_concurrent_ensure(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    /* Large enough that the second caller comes while the first one is unpacking. */
    enum { N = 400 };
    struct ent *ents = zl_xcalloc(N, sizeof(*ents));
    char *blob = zl_xmalloc(32 * 1024 + 1);
    for (size_t i = 0; i < 32 * 1024; i++)
        blob[i] = (char)('a' + (i * 7919 % 26));
    blob[32 * 1024] = '\0';
    char *names = zl_xcalloc(N, 32);
    for (size_t i = 0; i < N; i++) {
        snprintf(names + 32 * i, 32, "d%zu/f%zu", i % 20, i);
        ents[i] = (struct ent){.type = 'f', .path = names + 32 * i, .data = blob};
    }
    char layer[ZL_DIGEST_MAX], diff[ZL_DIGEST_MAX];
    put_layer(ents, N, "gzip", layer, diff);
    free(ents);
    free(names);
    free(blob);

    char *tmp = store_path("tmp");
    int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(ifd >= 0);
    assert_true(inotify_add_watch(ifd, tmp, IN_CREATE) >= 0);
    free(tmp);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            struct zl_err err = {0};
            struct zl_image_store *s = NULL;
            int rc = zl_image_store_open(T.root, &s, &err);
            if (rc == 0)
                rc = zl_image_snapshot_ensure(s, diff, layer, diff, &err);
            if (rc < 0)
                fprintf(stderr, "child: %s\n", err.msg);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(count_creates(ifd, "snap-"), 1);
    close(ifd);
    assert_true(zl_image_snapshot_has(T.s, diff));
    assert_int_equal(count_dir("snapshots"), 1);
    assert_int_equal(count_dir("tmp"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blob_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_digests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_missing_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_diff_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rootfs_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_ensure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
