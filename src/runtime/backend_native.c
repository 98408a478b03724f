/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/backend_native.c: the backend that is zlayer's own runtime. */
#include "runtime/backend.h"

static int create(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o,
                  struct zl_err *err)
{
    struct zl_runtime_create_opts x = *o;
    x.root = b->root;
    return zl_runtime_create(&x, err);
}

static int start(struct zl_runtime_backend *b, const char *id, struct zl_err *err)
{
    return zl_runtime_start(b->root, id, err);
}

static int run(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o, bool detach,
               int *status, struct zl_err *err)
{
    struct zl_runtime_create_opts x = *o;
    x.root = b->root;
    return zl_runtime_run(&x, detach, status, err);
}

static int state(struct zl_runtime_backend *b, const char *id, char **json, struct zl_err *err)
{
    return zl_runtime_state_json(b->root, id, json, err);
}

static int kill_(struct zl_runtime_backend *b, const char *id, int sig, bool all,
                 struct zl_err *err)
{
    return zl_runtime_kill(b->root, id, sig, all, err);
}

static int del(struct zl_runtime_backend *b, const char *id, bool force, struct zl_err *err)
{
    return zl_runtime_delete(b->root, id, force, err);
}

static int exec_(struct zl_runtime_backend *b, const struct zl_runtime_exec_opts *o, int *status,
                 struct zl_err *err)
{
    struct zl_runtime_exec_opts x = *o;
    x.root = b->root;
    return zl_runtime_exec(&x, status, err);
}

const struct zl_backend_ops zl_runtime__backend_native = {
    .create = create,
    .start = start,
    .run = run,
    .state = state,
    .kill = kill_,
    .del = del,
    .exec = exec_,
};
