/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/backend.h: the backend operations table, private to the runtime room. */
#ifndef ZL_RUNTIME_BACKEND_H
#define ZL_RUNTIME_BACKEND_H

#include "runtime/runtime.h"

struct zl_backend_ops {
    int (*create)(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o,
                  struct zl_err *err);
    int (*start)(struct zl_runtime_backend *b, const char *id, struct zl_err *err);
    int (*run)(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o, bool detach,
               int *status, struct zl_err *err);
    int (*state)(struct zl_runtime_backend *b, const char *id, char **json, struct zl_err *err);
    int (*kill)(struct zl_runtime_backend *b, const char *id, int sig, bool all,
                struct zl_err *err);
    int (*del)(struct zl_runtime_backend *b, const char *id, bool force, struct zl_err *err);
    int (*exec)(struct zl_runtime_backend *b, const struct zl_runtime_exec_opts *o, int *status,
                struct zl_err *err);
};

struct zl_runtime_backend {
    const struct zl_backend_ops *ops;
    char *root;
    char *binary; /* external runtimes: the program */
    char *name;
};

extern const struct zl_backend_ops zl_runtime__backend_native;
extern const struct zl_backend_ops zl_runtime__backend_oci;
/* "crun" -> "/usr/bin/crun" through PATH; a path must be executable. Caller frees. */
char *zl_runtime__backend_find_binary(const char *name, struct zl_err *err);

#endif
