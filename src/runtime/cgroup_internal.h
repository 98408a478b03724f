/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/cgroup_internal.h: what cgroup.c, cgroup_v1.c, cgroup_v2.c and their tests share. */
#ifndef ZL_RUNTIME_CGROUP_INTERNAL_H
#define ZL_RUNTIME_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/internal.h"

/* The v1 controllers zlayer manages (v2 has cpu, cpuset, memory, pids and io in one tree). */
enum {
    ZL_CG_CPU = 0,
    ZL_CG_CPUACCT,
    ZL_CG_CPUSET,
    ZL_CG_MEMORY,
    ZL_CG_PIDS,
    ZL_CG_BLKIO,
    ZL_CG_DEVICES,
    ZL_CG_FREEZER,
    ZL_CG_NCTL,
};
#define ZL_CG_BIT(c) (1u << (c))
#define ZL_CG_ALL    ((1u << ZL_CG_NCTL) - 1)

/* Controller number -> v1 name ("cpu", "cpuacct", ...). */
const char *zl_runtime__cg_name(int ctl);

enum {
    ZL_CG_NONE = 0,
    ZL_CG_V1,
    ZL_CG_V2,
};

/* One mounted hierarchy: v2 has one, v1 one per mount of our controllers. */
struct zl_cg_mount {
    char *dir;     /* mount point */
    char *root;    /* the mount's root inside the hierarchy, "/" unless in a container */
    unsigned ctls; /* ZL_CG_BIT()s it carries; ZL_CG_ALL on v2 */
};

struct zl_cg_layout {
    int version; /* ZL_CG_V1 or ZL_CG_V2 */
    struct zl_cg_mount m[ZL_CG_NCTL];
    size_t n;
};

/* Pure v2 when cgroup2 is mounted on /sys/fs/cgroup; otherwise the v1 mounts of our
 * controllers (a hybrid host's unified hierarchy is left alone); otherwise any cgroup2 mount.
 * `text` is /proc/self/mountinfo. Fill *lay (fini it with zl_runtime__cg_layout_fini). */
int zl_runtime__cg_parse_mountinfo(const char *text, struct zl_cg_layout *lay, struct zl_err *err);
void zl_runtime__cg_layout_fini(struct zl_cg_layout *lay);

/* The path of our own cgroup from /proc/self/cgroup text: the v1 line naming `ctl`, or the
 * v2 "0::" line when ctl is NULL. Caller frees *out. */
int zl_runtime__cg_own_path(const char *text, const char *ctl, char **out, struct zl_err *err);

/* The directory of OCI cgroupsPath `path` in the hierarchy mounted at `mnt` whose root is
 * `mnt_root`: absolute paths hang from the mount, relative ones from `own` (our cgroup, a path
 * in the hierarchy). Refuses empty paths, ".." and the hierarchy root. Caller frees *out. */
int zl_runtime__cg_join(const char *mnt, const char *mnt_root, const char *own, const char *path,
                        char **out, struct zl_err *err);

/* Whether `res` asks anything of controller `ctl` (ZL_CG_BLKIO stands for io on v2). */
bool zl_runtime__cg_wants(const struct zl_oci_resources *res, int ctl);

/* v1 -> v2 value conversions (the ones runc and crun use). */
uint64_t zl_runtime__cg_shares_to_weight(uint64_t shares);
uint64_t zl_runtime__cg_blkio_to_io_weight(uint64_t weight);

/* ---- the handle ---- */

/* One directory of the cgroup: v2 has one, v1 one per hierarchy. */
struct zl_cg_dir {
    char *path;
    size_t mnt_len; /* path[0..mnt_len) is the hierarchy's mount point */
    unsigned ctls;
    bool made; /* created by this handle: removed again if creation fails */
};

struct zl_cgroup_ops;

struct zl_cgroup {
    const struct zl_cgroup_ops *ops;
    char *path; /* the OCI cgroupsPath given */
    struct zl_cg_dir d[ZL_CG_NCTL];
    size_t n;
};

/* What differs between v1 and v2; cgroup.c does the rest (attach, pids, rmdir). */
struct zl_cgroup_ops {
    const char *name;
    /* Called for every level of a new cgroup, from the top, after mkdir(child). */
    int (*prepare)(const char *parent, const char *child, struct zl_err *err);
    int (*apply)(struct zl_cgroup *cg, const struct zl_oci_resources *res, struct zl_err *err);
    int (*stats)(struct zl_cgroup *cg, struct zl_cgroup_stats *st, struct zl_err *err);
    int (*kill)(struct zl_cgroup *cg, int sig, struct zl_err *err);
};

extern const struct zl_cgroup_ops zl_runtime__cgroup_v1;
extern const struct zl_cgroup_ops zl_runtime__cgroup_v2;

/* The directory holding controller `ctl` (v1), the only directory (v2), or NULL. */
const char *zl_runtime__cg_dir(const struct zl_cgroup *cg, int ctl);

/* ---- cgroupfs file helpers; errors name the file ---- */

bool zl_runtime__cg_has(const char *dir, const char *file);
int zl_runtime__cg_write(const char *dir, const char *file, const char *val, struct zl_err *err);
/* Write a number; "max" when v is negative and `max` is not NULL. */
int zl_runtime__cg_write_num(const char *dir, const char *file, int64_t v, const char *max,
                             struct zl_err *err);
/* Whole file, NUL-terminated; caller frees. */
int zl_runtime__cg_read(const char *dir, const char *file, char **out, struct zl_err *err);
/* A file holding one number or "max" (-> UINT64_MAX). */
int zl_runtime__cg_read_u64(const char *dir, const char *file, uint64_t *v, struct zl_err *err);
/* The value of the "key value" line in `text` (flat keyed files); false when absent. */
bool zl_runtime__cg_keyed(const char *text, const char *key, uint64_t *v);
/* Poll `file` until it contains `want` (at most ms milliseconds). */
bool zl_runtime__cg_poll(const char *dir, const char *file, const char *want, int ms);
/* Pids in dir and its sub-cgroups. Caller frees *pids. */
int zl_runtime__cg_pids_tree(const char *dir, pid_t **pids, size_t *n, struct zl_err *err);
/* Send sig to every process in dir and its sub-cgroups (gone ones are skipped). */
int zl_runtime__cg_signal(const char *dir, int sig, struct zl_err *err);

/* Limits written the same way in v1 and v2: cpuset.cpus/mems, pids.max. */
int zl_runtime__cg_set_cpuset(const char *dir, const struct zl_oci_resources *res,
                              struct zl_err *err);
int zl_runtime__cg_set_pids(const char *dir, const struct zl_oci_resources *res,
                            struct zl_err *err);

#endif
