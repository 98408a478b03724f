/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/cgroup_v2.c: the unified cgroup v2 hierarchy: one directory, controllers enabled
 * from the root down. */
#include "runtime/cgroup_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        p += strspn(p, " \n");
        size_t k = strcspn(p, " \n");
        if (k == n && memcmp(p, word, n) == 0)
            return true;
        p += k;
    }
    return false;
}

/* Turn on, in parent, the controllers we use that it has. A parent holding processes of its
 * own refuses (EBUSY, "no internal processes"); that is not fatal here: apply() then names the
 * controller it misses. */
static int prepare(const char *parent, const char *child, struct zl_err *err)
{
    static const char *const want[] = {"cpu", "cpuset", "memory", "pids", "io"};
    zl_autofree char *avail = NULL, *on = NULL;
    (void)child;
    int r = zl_runtime__cg_read(parent, "cgroup.controllers", &avail, err);
    if (r == 0)
        r = zl_runtime__cg_read(parent, "cgroup.subtree_control", &on, err);
    for (size_t i = 0; r == 0 && i < ZL_ARRAY_LEN(want); i++) {
        if (!has_word(avail, want[i]) || has_word(on, want[i]))
            continue;
        char v[16];
        snprintf(v, sizeof(v), "+%s", want[i]);
        zl_runtime__cg_write(parent, "cgroup.subtree_control", v, NULL);
    }
    return r;
}

/* OCI's swap is memory+swap; v2's memory.swap.max is the swap alone. */
static int swap_max(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    int64_t swap = res->memory_swap, limit = res->has_memory_limit ? res->memory_limit : 0;
    if (!zl_runtime__cg_has(dir, "memory.swap.max")) /* no swap accounting */
        return 0;
    if (swap < 0)
        return zl_runtime__cg_write(dir, "memory.swap.max", "max", err);
    if (limit <= 0)
        return zl_err_set(err, ZL_EINVAL, "memory swap %" PRId64 " needs a memory limit", swap);
    if (swap < limit)
        return zl_err_set(err, ZL_EINVAL,
                          "memory swap %" PRId64 " is below the memory limit %" PRId64, swap,
                          limit);
    return zl_runtime__cg_write_num(dir, "memory.swap.max", swap - limit, NULL, err);
}

/* v1's swappiness and oom_control have no v2 file: both are ignored (as crun does);
 * memory.oom.group is left at the kernel default. */
static int memory(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    int r = 0;
    if (res->has_memory_limit && res->memory_limit != 0)
        r = zl_runtime__cg_write_num(dir, "memory.max", res->memory_limit, "max", err);
    if (r == 0 && res->has_memory_swap && res->memory_swap != 0)
        r = swap_max(dir, res, err);
    if (r == 0 && res->has_memory_reservation && res->memory_reservation != 0)
        r = zl_runtime__cg_write_num(dir, "memory.low", res->memory_reservation, "max", err);
    return r;
}

static int cpu_max(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    char quota[32] = "max", line[64];
    if (res->has_cpu_quota && res->cpu_quota > 0) {
        snprintf(quota, sizeof(quota), "%" PRId64, res->cpu_quota);
    } else if (!res->has_cpu_quota) { /* a period alone keeps the quota there is */
        zl_autofree char *old = NULL;
        if (zl_runtime__cg_read(dir, "cpu.max", &old, NULL) == 0)
            sscanf(old, "%31s", quota);
    }
    uint64_t period = res->has_cpu_period && res->cpu_period ? res->cpu_period : 100000;
    snprintf(line, sizeof(line), "%s %" PRIu64, quota, period);
    return zl_runtime__cg_write(dir, "cpu.max", line, err);
}

static int cpu(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    int r = 0;
    uint64_t w = res->has_cpu_shares ? zl_runtime__cg_shares_to_weight(res->cpu_shares) : 0;
    if (w)
        r = zl_runtime__cg_write_num(dir, "cpu.weight", (int64_t)w, NULL, err);
    if (r == 0 && (res->has_cpu_quota || res->has_cpu_period))
        r = cpu_max(dir, res, err);
    return r;
}

/* io.weight (iocost) takes 1-10000; BFQ's io.bfq.weight keeps v1's 1-1000 range. */
static int io(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    if (zl_runtime__cg_has(dir, "io.weight"))
        return zl_runtime__cg_write_num(
            dir, "io.weight", (int64_t)zl_runtime__cg_blkio_to_io_weight(res->blkio_weight), NULL,
            err);
    if (zl_runtime__cg_has(dir, "io.bfq.weight"))
        return zl_runtime__cg_write_num(dir, "io.bfq.weight", res->blkio_weight, NULL, err);
    return zl_err_set(err, ENOTSUP, "blkio weight: %s has neither io.weight nor io.bfq.weight",
                      dir);
}

static int unified(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    for (size_t i = 0; i + 1 < res->nunified * 2; i += 2) {
        const char *k = res->unified[i], *v = res->unified[i + 1];
        if (!*k || strchr(k, '/') || k[0] == '.')
            return zl_err_set(err, ZL_EINVAL, "unified key '%s' is not a cgroup file name", k);
        int r = zl_runtime__cg_write(dir, k, v, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int apply(struct zl_cgroup *cg, const struct zl_oci_resources *res, struct zl_err *err)
{
    static const struct {
        int ctl;
        const char *name;
        int (*fn)(const char *dir, const struct zl_oci_resources *res, struct zl_err *err);
    } steps[] = {
        {ZL_CG_MEMORY, "memory", memory},
        {ZL_CG_CPU, "cpu", cpu},
        {ZL_CG_CPUSET, "cpuset", zl_runtime__cg_set_cpuset},
        {ZL_CG_PIDS, "pids", zl_runtime__cg_set_pids},
        {ZL_CG_BLKIO, "io", io},
    };
    const char *dir = cg->d[0].path;
    zl_autofree char *ctls = NULL;
    int r = zl_runtime__cg_read(dir, "cgroup.controllers", &ctls, err);
    for (size_t i = 0; r == 0 && i < ZL_ARRAY_LEN(steps); i++) {
        if (!zl_runtime__cg_wants(res, steps[i].ctl))
            continue;
        if (!has_word(ctls, steps[i].name))
            return zl_err_set(err, ZL_ENOTFOUND,
                              "the %s controller is not enabled for %s (the parent's "
                              "cgroup.subtree_control lacks it)",
                              steps[i].name, dir);
        r = steps[i].fn(dir, res, err);
    }
    /* Device rules need an eBPF program (BPF_CGROUP_DEVICE) on v2; we do not load one. The
     * container still sees only the device nodes the runtime creates in its /dev. */
    if (r == 0 && res->nunified)
        r = unified(dir, res, err);
    return r;
}

/* A value from a file that may be missing (controller not enabled): then v is left alone. */
static int get(const char *dir, const char *file, uint64_t *v, struct zl_err *err)
{
    int r = zl_runtime__cg_read_u64(dir, file, v, err);
    return r == -ENOENT ? 0 : r;
}

static int keyed(const char *dir, const char *file, const char *key, uint64_t *v,
                 struct zl_err *err)
{
    zl_autofree char *text = NULL;
    int r = zl_runtime__cg_read(dir, file, &text, err);
    if (r < 0)
        return r == -ENOENT ? 0 : r;
    zl_runtime__cg_keyed(text, key, v);
    return 0;
}

/* io.stat: "8:0 rbytes=1 wbytes=2 rios=3 ..." per device. */
static int io_bytes(const char *dir, struct zl_cgroup_stats *st, struct zl_err *err)
{
    zl_autofree char *text = NULL;
    int r = zl_runtime__cg_read(dir, "io.stat", &text, err);
    if (r < 0)
        return r == -ENOENT ? 0 : r;
    for (char *p = text; *p;) {
        size_t n = strcspn(p, " \n");
        uint64_t v;
        if (sscanf(p, "rbytes=%" SCNu64, &v) == 1)
            st->io_read_bytes += v;
        else if (sscanf(p, "wbytes=%" SCNu64, &v) == 1)
            st->io_write_bytes += v;
        p += n;
        p += strspn(p, " \n");
    }
    return 0;
}

static int stats(struct zl_cgroup *cg, struct zl_cgroup_stats *st, struct zl_err *err)
{
    const char *dir = cg->d[0].path;
    uint64_t usec = 0;
    int r = keyed(dir, "cpu.stat", "usage_usec", &usec, err);
    st->cpu_usage_ns = usec * 1000;
    if (r == 0)
        r = get(dir, "memory.current", &st->memory_usage, err);
    if (r == 0)
        r = get(dir, "memory.max", &st->memory_limit, err);
    if (r == 0)
        r = get(dir, "pids.current", &st->pids_current, err);
    if (r == 0)
        r = get(dir, "pids.max", &st->pids_limit, err);
    if (r == 0)
        r = io_bytes(dir, st, err);
    if (r == 0)
        r = keyed(dir, "memory.events", "oom_kill", &st->oom_kills, err);
    return r;
}

/* cgroup.kill (5.14+) kills the whole subtree atomically, but only with SIGKILL; otherwise
 * freeze, signal, thaw, so that nothing forks away meanwhile. */
static int kill_all(struct zl_cgroup *cg, int sig, struct zl_err *err)
{
    const char *dir = cg->d[0].path;
    if (sig == SIGKILL && zl_runtime__cg_has(dir, "cgroup.kill"))
        return zl_runtime__cg_write(dir, "cgroup.kill", "1", err);
    bool frozen = zl_runtime__cg_has(dir, "cgroup.freeze") &&
                  zl_runtime__cg_write(dir, "cgroup.freeze", "1", NULL) == 0;
    if (frozen)
        zl_runtime__cg_poll(dir, "cgroup.events", "frozen 1", 1000);
    int r = zl_runtime__cg_signal(dir, sig, err);
    if (frozen) {
        struct zl_err e;
        int t = zl_runtime__cg_write(dir, "cgroup.freeze", "0", &e);
        if (r == 0 && t < 0) {
            if (err)
                *err = e;
            r = t;
        }
    }
    return r;
}

const struct zl_cgroup_ops zl_runtime__cgroup_v2 = {
    .name = "cgroup v2",
    .prepare = prepare,
    .apply = apply,
    .stats = stats,
    .kill = kill_all,
};
