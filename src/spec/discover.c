/* SPDX-License-Identifier: Apache-2.0 */
/* spec/discover.c: finding the spec file in a folder (SPEC-v1 1.1). */
#include "spec/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool is_file(const char *dir, const char *name)
{
    zl_autofree char *p = zl_xasprintf("%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int zl_spec_discover(const char *dir, char **path, struct zl_err *err)
{
    static const char *const exact[] = {".zlayer.yml", ".zlayer.yaml", "zlayer.yml", "zlayer.yaml"};
    static const char *const globs[] = {"*.zlayer.yml", "*.zlayer.yaml", "zlayer.*.yml",
                                        "zlayer.*.yaml"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(exact); i++)
        if (is_file(dir, exact[i])) {
            *path =
                strcmp(dir, ".") == 0 ? zl_xstrdup(exact[i]) : zl_xasprintf("%s/%s", dir, exact[i]);
            return 0;
        }
    DIR *dh = opendir(dir);
    if (!dh)
        return zl_err_sys(err, errno, "cannot read folder %s", dir);
    char **found = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        bool match = false;
        for (size_t i = 0; i < ZL_ARRAY_LEN(globs) && !match; i++)
            match = fnmatch(globs[i], e->d_name, FNM_PERIOD) == 0;
        if (match && is_file(dir, e->d_name)) {
            found = zl_xrealloc(found, (n + 1) * sizeof(*found));
            found[n++] = zl_xstrdup(e->d_name);
        }
    }
    closedir(dh);
    if (n > 1)
        qsort(found, n, sizeof(*found), cmp_str);
    int rc = 0;
    if (n == 0) {
        rc = zl_err_set(err, ZL_ENOTFOUND,
                        "no deployment spec found in %s (looked for .zlayer.yml, .zlayer.yaml, "
                        "zlayer.yml, zlayer.yaml, *.zlayer.yml, *.zlayer.yaml, zlayer.*.yml, "
                        "zlayer.*.yaml); give the file as an argument",
                        strcmp(dir, ".") == 0 ? "the current folder" : dir);
    } else if (n > 1) {
        struct zl_buf b;
        zl_buf_init(&b);
        for (size_t i = 0; i < n; i++)
            zl_buf_printf(&b, "%s%s", i ? ", " : "", found[i]);
        rc = zl_err_set(err, ZL_EAMBIGUOUS,
                        "several deployment specs found (%s); give the one to use as an argument",
                        b.data);
        zl_buf_fini(&b);
    } else {
        *path = strcmp(dir, ".") == 0 ? zl_xstrdup(found[0]) : zl_xasprintf("%s/%s", dir, found[0]);
    }
    for (size_t i = 0; i < n; i++)
        free(found[i]);
    free(found);
    return rc;
}
