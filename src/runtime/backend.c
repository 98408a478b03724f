/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/backend.c: the backend interface and its dispatch; implementations in
 * backend_native.c and backend_oci.c. */
#include "runtime/backend.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct zl_runtime_backend *zl_runtime_backend_new(const char *name, const char *root,
                                                  struct zl_err *err)
{
    const struct zl_backend_ops *ops = &zl_runtime__backend_native;
    char *bin = NULL;
    if (name && *name && strcmp(name, "native") != 0) {
        bin = zl_runtime__backend_find_binary(name, err);
        if (!bin)
            return NULL;
        ops = &zl_runtime__backend_oci;
    }
    struct zl_runtime_backend *b = zl_xcalloc(1, sizeof(*b));
    b->ops = ops;
    b->root = zl_xstrdup(root);
    b->binary = bin;
    b->name = zl_xstrdup(name && *name ? name : "native");
    return b;
}

void zl_runtime_backend_free(struct zl_runtime_backend *b)
{
    if (!b)
        return;
    free(b->root);
    free(b->binary);
    free(b->name);
    free(b);
}

const char *zl_runtime_backend_name(const struct zl_runtime_backend *b)
{
    return b->name;
}

int zl_runtime_backend_create(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o,
                              struct zl_err *err)
{
    return b->ops->create(b, o, err);
}

int zl_runtime_backend_start(struct zl_runtime_backend *b, const char *id, struct zl_err *err)
{
    return b->ops->start(b, id, err);
}

int zl_runtime_backend_run(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o,
                           bool detach, int *status, struct zl_err *err)
{
    return b->ops->run(b, o, detach, status, err);
}

int zl_runtime_backend_state(struct zl_runtime_backend *b, const char *id, char **json,
                             struct zl_err *err)
{
    return b->ops->state(b, id, json, err);
}

int zl_runtime_backend_kill(struct zl_runtime_backend *b, const char *id, int sig, bool all,
                            struct zl_err *err)
{
    return b->ops->kill(b, id, sig, all, err);
}

int zl_runtime_backend_delete(struct zl_runtime_backend *b, const char *id, bool force,
                              struct zl_err *err)
{
    return b->ops->del(b, id, force, err);
}

int zl_runtime_backend_exec(struct zl_runtime_backend *b, const struct zl_runtime_exec_opts *o,
                            int *status, struct zl_err *err)
{
    return b->ops->exec(b, o, status, err);
}
