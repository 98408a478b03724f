/* SPDX-License-Identifier: Apache-2.0 */
/* image/archive.c: export an image as an OCI image layout tar, and import OCI layout tars and
 * `docker save` / `podman save` archives. */
#include "image/image.h"
#include "image/images_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define DOCKER_LIST  "application/vnd.docker.distribution.manifest.list.v2+json"

/* ---------------- export ---------------- */

static int add_bytes(struct archive *a, const char *name, const void *p, size_t n,
                     struct zl_err *err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    int rc = archive_write_header(a, e) == ARCHIVE_OK &&
                     (n == 0 || archive_write_data(a, p, n) == (la_ssize_t)n)
                 ? 0
                 : zl_err_set(err, ZL_EINVAL, "write %s: %s", name, archive_error_string(a));
    archive_entry_free(e);
    return rc;
}

static int add_blob(struct zl_images *im, struct archive *a, const char *digest, struct zl_err *err)
{
    char *path = zl_image_blob_path(im->store, digest);
    if (!path)
        return zl_err_set(err, ZL_ENOTFOUND, "blob %s is missing from the store", digest);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        free(path);
        return zl_err_sys(err, e, "open blob %s", digest);
    }
    free(path);
    char name[ZL_DIGEST_MAX + 16];
    snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, st.st_size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    int rc = archive_write_header(a, e) == ARCHIVE_OK ? 0 : -1;
    char buf[1 << 16];
    ssize_t n;
    while (rc == 0 && (n = read(fd, buf, sizeof(buf))) > 0)
        if (archive_write_data(a, buf, (size_t)n) != n)
            rc = -1;
    if (rc < 0)
        zl_err_set(err, ZL_EINVAL, "write %s: %s", name, archive_error_string(a));
    archive_entry_free(e);
    close(fd);
    return rc;
}

int zl_images_export(struct zl_images *im, const char *ref, const char *path, bool gzip,
                     struct zl_err *err)
{
    struct zl_image_info info;
    struct zl_store_image row;
    if (zl_images_get(im, ref, &info, err) < 0)
        return -1;
    int rc = zl_store_image_get(im->db, info.ref, &row, err);
    zl_image_info_fini(&info);
    if (rc < 0)
        return rc;
    char *tmp = zl_xasprintf("%s.tmp-%d", path, (int)getpid());
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip)
        archive_write_add_filter_gzip(a);
    if (archive_write_open_filename(a, tmp) != ARCHIVE_OK)
        rc = zl_err_set(err, ZL_EINVAL, "create %s: %s", path, archive_error_string(a));
    const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
    struct stat st;
    char *mpath = zl_image_blob_path(im->store, row.digest);
    json_t *index =
        json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2, "mediaType",
                  OCI_INDEX, "manifests", "mediaType", row.media_type, "digest", row.digest, "size",
                  (json_int_t)(mpath && stat(mpath, &st) == 0 ? st.st_size : 0), "annotations",
                  "org.opencontainers.image.ref.name", row.ref);
    free(mpath);
    char *itext = json_dumps(index, JSON_COMPACT);
    if (rc == 0)
        rc = add_bytes(a, "oci-layout", layout, strlen(layout), err);
    if (rc == 0)
        rc = add_bytes(a, "index.json", itext, strlen(itext), err);
    if (rc == 0)
        rc = add_blob(im, a, row.digest, err);
    if (rc == 0)
        rc = add_blob(im, a, row.config_digest, err);
    for (size_t i = 0; rc == 0 && i < row.nlayers; i++)
        rc = add_blob(im, a, row.layers[i].digest, err);
    if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
        rc = zl_err_set(err, ZL_EINVAL, "finish %s: %s", path, archive_error_string(a));
    archive_write_free(a);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = zl_err_sys(err, errno, "rename to %s", path);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    free(itext);
    json_decref(index);
    zl_store_image_fini(&row);
    return rc;
}

/* ---------------- import ---------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static bool safe_name(const char *p)
{
    if (p[0] == '/' || !*p)
        return false;
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return false;
        s += n + (s[n] == '/');
    }
    return true;
}

/* Unpack the regular files and folders of the archive under dir; nothing else is needed. */
static int unpack_archive(const char *path, const char *dir, struct zl_err *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        int rc = zl_err_set(err, ZL_EINVAL, "open %s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return rc;
    }
    struct archive_entry *e;
    int rc = 0, r;
    while (rc == 0 && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!strncmp(name, "./", 2))
            name += 2;
        if (!*name)
            continue;
        if (!safe_name(name)) {
            rc = zl_err_set(err, ZL_EINVAL, "%s: unsafe entry '%s'", path, name);
            break;
        }
        char *out = zl_xasprintf("%s/%s", dir, name);
        if (archive_entry_filetype(e) == AE_IFDIR) {
            mkdir(out, 0700);
        } else if (archive_entry_filetype(e) == AE_IFREG) {
            for (char *s = strchr(out + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                mkdir(out, 0700);
                *s = '/';
            }
            int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd < 0 || archive_read_data_into_fd(a, fd) != ARCHIVE_OK)
                rc = zl_err_set(err, ZL_EINVAL, "%s: extract %s: %s", path, name,
                                fd < 0 ? strerror(errno) : archive_error_string(a));
            if (fd >= 0)
                close(fd);
        }
        free(out);
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = zl_err_set(err, ZL_EINVAL, "read %s: %s", path, archive_error_string(a));
    archive_read_free(a);
    return rc;
}

static json_t *load_json(const char *dir, const char *name, struct zl_err *err)
{
    char *p = zl_xasprintf("%s/%s", dir, name);
    json_error_t jerr;
    json_t *j = json_load_file(p, 0, &jerr);
    if (!j)
        zl_err_set(err, ZL_EINVAL, "%s: %s", name, jerr.text);
    free(p);
    return j;
}

/* Store a file as a blob; expected (may be NULL) must match. digest receives the result. */
static int put_file(struct zl_images *im, const char *path, const char *expected, char *digest,
                    struct zl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return zl_err_sys(err, errno, "open %s", path);
    struct zl_blob_writer *w;
    int rc = zl_image_blob_begin(im->store, expected, 0, false, &w, err);
    char buf[1 << 16];
    ssize_t n;
    while (rc == 0 && (n = read(fd, buf, sizeof(buf))) > 0)
        rc = zl_image_blob_write(w, buf, (size_t)n, err);
    close(fd);
    if (rc == 0)
        rc = zl_image_blob_commit(w, digest, err);
    else
        zl_image_blob_abort(w);
    return rc;
}

/* OCI layout: index.json (maybe a nested index), blobs/sha256/. */
static int import_oci(struct zl_images *im, const char *dir, const char *tag, char **ref,
                      struct zl_manifest *m, struct zl_err *err)
{
    json_t *index = load_json(dir, "index.json", err);
    if (!index)
        return -ZL_EINVAL;
    int rc = 0;
    /* every blob, each checked against its name */
    char *bdir = zl_xasprintf("%s/blobs/sha256", dir);
    DIR *d = opendir(bdir);
    struct dirent *e;
    while (rc == 0 && d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (strlen(e->d_name) != 64) {
            rc = zl_err_set(err, ZL_EINVAL, "blobs/sha256/%s is not a sha256 digest", e->d_name);
            break;
        }
        char expected[ZL_DIGEST_MAX], got[ZL_DIGEST_MAX],
            *p = zl_xasprintf("%s/%s", bdir, e->d_name);
        snprintf(expected, sizeof(expected), "sha256:%.64s", e->d_name);
        rc = put_file(im, p, expected, got, err);
        free(p);
    }
    if (d)
        closedir(d);
    free(bdir);
    json_t *desc = json_array_get(json_object_get(index, "manifests"), 0);
    const char *digest = json_string_value(json_object_get(desc, "digest"));
    const char *mt = json_string_value(json_object_get(desc, "mediaType"));
    const char *name = json_string_value(
        json_object_get(json_object_get(desc, "annotations"), "org.opencontainers.image.ref.name"));
    if (rc == 0 && (!digest || (mt && (!strcmp(mt, OCI_INDEX) || !strcmp(mt, DOCKER_LIST)))))
        rc = zl_err_set(err, ZL_EINVAL, "index.json: the first entry must be an image manifest");
    char *raw = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = zl_image_blob_read(im->store, digest, 4u << 20, &raw, &len, err);
    if (rc == 0)
        rc = zl_manifest_parse(raw, len, m, err);
    if (rc == 0) {
        snprintf(m->digest, sizeof(m->digest), "%s", digest);
        /* a bare tag ("latest") names nothing by itself */
        const char *want = tag ? tag : name && strchr(name, '/') ? name : NULL;
        *ref = want ? zl_image_normalize(want, err)
                    : zl_xasprintf("localhost/imported:%.12s", digest + 7);
        if (!*ref)
            rc = -ZL_EINVAL;
    }
    free(raw);
    json_decref(index);
    return rc;
}

/* `docker save`: manifest.json [{Config, RepoTags, Layers}], layers as uncompressed tars. An
 * OCI manifest is written for it. */
static int import_docker(struct zl_images *im, const char *dir, const char *tag, char **ref,
                         struct zl_manifest *m, struct zl_err *err)
{
    json_t *list = load_json(dir, "manifest.json", err);
    if (!list)
        return -ZL_EINVAL;
    json_t *first = json_array_get(list, 0);
    const char *cfg = json_string_value(json_object_get(first, "Config"));
    const char *repotag = json_string_value(json_array_get(json_object_get(first, "RepoTags"), 0));
    json_t *layers = json_object_get(first, "Layers");
    int rc = cfg && json_is_array(layers) && safe_name(cfg)
                 ? 0
                 : zl_err_set(err, ZL_EINVAL, "manifest.json: needs Config and Layers");
    char digest[ZL_DIGEST_MAX];
    struct stat st;
    char *p = cfg ? zl_xasprintf("%s/%s", dir, cfg) : NULL;
    if (rc == 0)
        rc = put_file(im, p, NULL, digest, err);
    json_t *oci = NULL;
    if (rc == 0 && stat(p, &st) == 0)
        oci = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[]}", "schemaVersion", 2, "mediaType",
                        OCI_MANIFEST, "config", "mediaType",
                        "application/vnd.oci.image.config.v1+json", "digest", digest, "size",
                        (json_int_t)st.st_size, "layers");
    free(p);
    for (size_t i = 0; rc == 0 && i < json_array_size(layers); i++) {
        const char *l = json_string_value(json_array_get(layers, i));
        if (!l || !safe_name(l)) {
            rc = zl_err_set(err, ZL_EINVAL, "manifest.json: Layers[%zu] is not a safe path", i);
            break;
        }
        p = zl_xasprintf("%s/%s", dir, l);
        rc = put_file(im, p, NULL, digest, err);
        if (rc == 0 && stat(p, &st) == 0)
            json_array_append_new(json_object_get(oci, "layers"),
                                  json_pack("{s:s, s:s, s:I}", "mediaType",
                                            "application/vnd.oci.image.layer.v1.tar", "digest",
                                            digest, "size", (json_int_t)st.st_size));
        free(p);
    }
    char *text = oci ? json_dumps(oci, JSON_COMPACT) : NULL;
    if (rc == 0)
        rc = zl_image_blob_put(im->store, text, strlen(text), digest, err);
    if (rc == 0)
        rc = zl_manifest_parse(text, strlen(text), m, err);
    if (rc == 0) {
        snprintf(m->digest, sizeof(m->digest), "%s", digest);
        const char *want = tag ? tag : repotag;
        *ref = want ? zl_image_normalize(want, err)
                    : zl_xasprintf("localhost/imported:%.12s", digest + 7);
        if (!*ref)
            rc = -ZL_EINVAL;
    }
    free(text);
    json_decref(oci);
    json_decref(list);
    return rc;
}

int zl_images_import(struct zl_images *im, const char *path, const char *tag,
                     struct zl_image_info *out, struct zl_err *err)
{
    char *dir = zl_xasprintf("%s/tmp/import-XXXXXX", zl_image_store_dir(im->store));
    if (!mkdtemp(dir)) {
        int rc = zl_err_sys(err, errno, "temporary folder %s", dir);
        free(dir);
        return rc;
    }
    int lock = zl_images__gc_lock(im, false, err);
    int rc = lock < 0 ? lock : unpack_archive(path, dir, err);
    char *ref = NULL;
    struct zl_manifest m = {0};
    if (rc == 0) {
        char *probe = zl_xasprintf("%s/oci-layout", dir);
        bool oci = access(probe, F_OK) == 0;
        free(probe);
        rc = oci ? import_oci(im, dir, tag, &ref, &m, err)
                 : import_docker(im, dir, tag, &ref, &m, err);
    }
    if (rc == 0)
        rc = zl_images__record(im, ref, &m, NULL, NULL, out, err);
    if (lock >= 0)
        close(lock);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    zl_manifest_fini(&m);
    free(ref);
    free(dir);
    if (rc < 0)
        zl_err_wrap(err, "import %s", path);
    return rc;
}
