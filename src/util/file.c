/* SPDX-License-Identifier: Apache-2.0 */
/* util/file.c: whole-file reads with a size bound. */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int zl_write_text(const char *path, const char *text, bool create, struct zl_err *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0644);
    if (fd < 0)
        return zl_err_sys(err, errno, "%s %s", create ? "create" : "open", path);
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int e = errno;
    close(fd);
    if (n != (ssize_t)len)
        return zl_err_sys(err, n < 0 ? e : EIO, "write %s", path);
    return 0;
}

int zl_read_file(const char *path, size_t max, char **out, size_t *len, struct zl_err *err)
{
    int fd = 0;
    bool is_stdin = strcmp(path, "-") == 0;
    if (!is_stdin) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd == -1)
            return zl_err_sys(err, errno, "cannot open %s", path);
    }
    struct zl_buf b;
    zl_buf_init(&b);
    for (;;) {
        zl_buf_reserve(&b, 65536);
        ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            int e = errno;
            zl_buf_fini(&b);
            if (!is_stdin)
                close(fd);
            return zl_err_sys(err, e, "cannot read %s", is_stdin ? "standard input" : path);
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
        b.data[b.len] = '\0';
        if (b.len > max) {
            zl_buf_fini(&b);
            if (!is_stdin)
                close(fd);
            return zl_err_set(err, ZL_EINVAL, "%s is larger than %zu bytes",
                              is_stdin ? "standard input" : path, max);
        }
    }
    if (!is_stdin)
        close(fd);
    *out = zl_buf_steal(&b, len);
    return 0;
}

char *zl_path_lookup(const char *prog, const char *path)
{
    char *dirs =
        zl_xstrdup(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    char *found = NULL, *d = dirs;
    for (;;) {
        char *end = strchr(d, ':');
        if (end)
            *end = '\0';
        char *cand = zl_xasprintf("%s/%s", *d ? d : ".", prog);
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
            found = cand;
            break;
        }
        free(cand);
        if (!end)
            break;
        d = end + 1;
    }
    free(dirs);
    return found;
}
