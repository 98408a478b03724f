/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/cgroup_v1.c: cgroup v1 (and hybrid hosts): one directory per controller hierarchy. */
#include "runtime/cgroup_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* v1 memory limits above this are the kernel's "unlimited" (PAGE_COUNTER_MAX pages). */
#define V1_UNLIMITED (UINT64_C(1) << 62)

/* A new cpuset starts with no cpus and no mems, and no process can join it then. */
static int prepare(const char *parent, const char *child, struct zl_err *err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    if (!zl_runtime__cg_has(child, "cpuset.cpus"))
        return 0;
    for (size_t i = 0; i < ZL_ARRAY_LEN(files); i++) {
        zl_autofree char *mine = NULL, *theirs = NULL;
        int r = zl_runtime__cg_read(child, files[i], &mine, err);
        if (r < 0)
            return r;
        if (mine[strspn(mine, " \n")] != '\0')
            continue;
        r = zl_runtime__cg_read(parent, files[i], &theirs, err);
        if (r < 0)
            return r;
        theirs[strcspn(theirs, "\n")] = '\0';
        r = zl_runtime__cg_write(child, files[i], theirs, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int set_swap(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    return zl_runtime__cg_write_num(dir, "memory.memsw.limit_in_bytes", res->memory_swap, "-1",
                                    err);
}

static int memory(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    /* swap 0 means "not set" (as in runc); memsw exists only with swap accounting */
    bool swap = res->has_memory_swap && res->memory_swap != 0 &&
                zl_runtime__cg_has(dir, "memory.memsw.limit_in_bytes");
    int r = 0;
    if (res->has_memory_limit && res->memory_limit != 0) {
        struct zl_err e;
        r = zl_runtime__cg_write_num(dir, "memory.limit_in_bytes", res->memory_limit, "-1", &e);
        if (r == -EINVAL && swap) { /* above the old memsw limit: raise that first */
            r = set_swap(dir, res, err);
            if (r == 0)
                r = zl_runtime__cg_write_num(dir, "memory.limit_in_bytes", res->memory_limit, "-1",
                                             err);
            swap = false;
        } else if (r < 0 && err) {
            *err = e;
        }
    }
    if (r == 0 && swap)
        r = set_swap(dir, res, err);
    if (r == 0 && res->has_memory_reservation && res->memory_reservation != 0)
        r = zl_runtime__cg_write_num(dir, "memory.soft_limit_in_bytes", res->memory_reservation,
                                     "-1", err);
    if (r == 0 && res->has_swappiness) {
        if (res->swappiness > 100)
            return zl_err_set(err, ZL_EINVAL, "memory.swappiness %" PRIu64 " is not in 0-100",
                              res->swappiness);
        r = zl_runtime__cg_write_num(dir, "memory.swappiness", (int64_t)res->swappiness, NULL, err);
    }
    if (r == 0 && res->disable_oom_killer)
        r = zl_runtime__cg_write(dir, "memory.oom_control", "1", err);
    return r;
}

static int cpu(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    int r = 0;
    if (res->has_cpu_shares && res->cpu_shares != 0)
        r = zl_runtime__cg_write_num(dir, "cpu.shares", (int64_t)res->cpu_shares, NULL, err);
    if (r == 0 && res->has_cpu_period && res->cpu_period != 0)
        r = zl_runtime__cg_write_num(dir, "cpu.cfs_period_us", (int64_t)res->cpu_period, NULL, err);
    if (r == 0 && res->has_cpu_quota && res->cpu_quota != 0)
        r = zl_runtime__cg_write_num(dir, "cpu.cfs_quota_us", res->cpu_quota, "-1", err);
    return r;
}

/* CFQ's blkio.weight is gone from current kernels; BFQ's blkio.bfq.weight takes its place. */
static int blkio(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    const char *file = zl_runtime__cg_has(dir, "blkio.weight")       ? "blkio.weight"
                       : zl_runtime__cg_has(dir, "blkio.bfq.weight") ? "blkio.bfq.weight"
                                                                     : NULL;
    if (!file)
        return zl_err_set(err, ENOTSUP,
                          "blkio weight: %s has neither blkio.weight nor "
                          "blkio.bfq.weight (no CFQ or BFQ scheduler)",
                          dir);
    return zl_runtime__cg_write_num(dir, file, res->blkio_weight, NULL, err);
}

static void dev_num(char *s, size_t n, int64_t v)
{
    if (v < 0)
        snprintf(s, n, "*");
    else
        snprintf(s, n, "%" PRId64, v);
}

/* Rules go in order; the kernel keeps the last word for each device. */
static int devices(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    for (size_t i = 0; i < res->ndevices; i++) {
        const struct zl_oci_dev_rule *d = &res->devices[i];
        const char *access = d->access[0] ? d->access : "rwm";
        char rule[96], maj[24], min[24];
        if (d->type == 'a') {
            snprintf(rule, sizeof(rule), "a");
        } else if (d->type == 'c' || d->type == 'b') {
            dev_num(maj, sizeof(maj), d->major);
            dev_num(min, sizeof(min), d->minor);
            snprintf(rule, sizeof(rule), "%c %s:%s %.3s", d->type, maj, min, access);
        } else {
            return zl_err_set(err, ZL_EINVAL, "device rule %zu: unknown type '%c'", i, d->type);
        }
        int r = zl_runtime__cg_write(dir, d->allow ? "devices.allow" : "devices.deny", rule, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int apply(struct zl_cgroup *cg, const struct zl_oci_resources *res, struct zl_err *err)
{
    static const struct {
        int ctl;
        int (*fn)(const char *dir, const struct zl_oci_resources *res, struct zl_err *err);
    } steps[] = {
        {ZL_CG_MEMORY, memory},
        {ZL_CG_CPU, cpu},
        {ZL_CG_CPUSET, zl_runtime__cg_set_cpuset},
        {ZL_CG_PIDS, zl_runtime__cg_set_pids},
        {ZL_CG_BLKIO, blkio},
        {ZL_CG_DEVICES, devices},
    };
    for (size_t i = 0; i < ZL_ARRAY_LEN(steps); i++) {
        if (!zl_runtime__cg_wants(res, steps[i].ctl))
            continue;
        const char *dir = zl_runtime__cg_dir(cg, steps[i].ctl);
        if (!dir)
            return zl_err_set(err, ZL_ENOTFOUND, "the %s controller is not mounted",
                              zl_runtime__cg_name(steps[i].ctl));
        int r = steps[i].fn(dir, res, err);
        if (r < 0)
            return r;
    }
    /* res->unified is for cgroup v2 only; crun refuses it on v1, we ignore it as runc does */
    return 0;
}

/* A value from a file that may be missing (controller not mounted): then v is left alone. */
static int get(const char *dir, const char *file, uint64_t *v, struct zl_err *err)
{
    if (!dir)
        return 0;
    int r = zl_runtime__cg_read_u64(dir, file, v, err);
    return r == -ENOENT ? 0 : r;
}

/* "8:0 Read 4096" lines, one set per device; the "Total" line is skipped. */
static int io_bytes(const char *dir, struct zl_cgroup_stats *st, struct zl_err *err)
{
    static const char *const files[] = {"blkio.throttle.io_service_bytes",
                                        "blkio.bfq.io_service_bytes"};
    for (size_t i = 0; dir && i < ZL_ARRAY_LEN(files); i++) {
        zl_autofree char *text = NULL;
        int r = zl_runtime__cg_read(dir, files[i], &text, err);
        if (r == -ENOENT)
            continue;
        if (r < 0)
            return r;
        for (char *p = text; *p;) {
            char *e = strchrnul(p, '\n');
            char op[16];
            uint64_t v;
            if (sscanf(p, "%*s %15s %" SCNu64, op, &v) == 2) {
                if (strcmp(op, "Read") == 0)
                    st->io_read_bytes += v;
                else if (strcmp(op, "Write") == 0)
                    st->io_write_bytes += v;
            }
            p = *e ? e + 1 : e;
        }
        return 0;
    }
    return 0;
}

static int oom_kills(const char *dir, struct zl_cgroup_stats *st, struct zl_err *err)
{
    zl_autofree char *text = NULL;
    if (!dir)
        return 0;
    int r = zl_runtime__cg_read(dir, "memory.oom_control", &text, err);
    if (r < 0)
        return r == -ENOENT ? 0 : r;
    zl_runtime__cg_keyed(text, "oom_kill", &st->oom_kills);
    return 0;
}

static int stats(struct zl_cgroup *cg, struct zl_cgroup_stats *st, struct zl_err *err)
{
    const char *mem = zl_runtime__cg_dir(cg, ZL_CG_MEMORY);
    const char *pid = zl_runtime__cg_dir(cg, ZL_CG_PIDS);
    int r = get(zl_runtime__cg_dir(cg, ZL_CG_CPUACCT), "cpuacct.usage", &st->cpu_usage_ns, err);
    if (r == 0)
        r = get(mem, "memory.usage_in_bytes", &st->memory_usage, err);
    if (r == 0)
        r = get(mem, "memory.limit_in_bytes", &st->memory_limit, err);
    if (st->memory_limit >= V1_UNLIMITED)
        st->memory_limit = UINT64_MAX;
    if (r == 0)
        r = get(pid, "pids.current", &st->pids_current, err);
    if (r == 0)
        r = get(pid, "pids.max", &st->pids_limit, err);
    if (r == 0)
        r = io_bytes(zl_runtime__cg_dir(cg, ZL_CG_BLKIO), st, err);
    if (r == 0)
        r = oom_kills(mem, st, err);
    return r;
}

/* Freeze, signal, thaw: nothing can fork away between reading the list and signalling it.
 * Fatal signals to frozen tasks are delivered at the thaw. */
static int kill_all(struct zl_cgroup *cg, int sig, struct zl_err *err)
{
    const char *fz = zl_runtime__cg_dir(cg, ZL_CG_FREEZER);
    if (!fz || !zl_runtime__cg_has(fz, "freezer.state"))
        return zl_runtime__cg_signal(cg->d[0].path, sig, err);
    int r = zl_runtime__cg_write(fz, "freezer.state", "FROZEN", err);
    if (r < 0)
        return r;
    /* signal even if a task is still FREEZING after a second */
    zl_runtime__cg_poll(fz, "freezer.state", "FROZEN", 1000);
    r = zl_runtime__cg_signal(fz, sig, err);
    struct zl_err e;
    int t = zl_runtime__cg_write(fz, "freezer.state", "THAWED", &e);
    if (r == 0 && t < 0) {
        if (err)
            *err = e;
        r = t;
    }
    return r;
}

const struct zl_cgroup_ops zl_runtime__cgroup_v1 = {
    .name = "cgroup v1",
    .prepare = prepare,
    .apply = apply,
    .stats = stats,
    .kill = kill_all,
};
