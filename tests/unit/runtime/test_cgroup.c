/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/runtime/test_cgroup.c: cgroups: layout and paths, then real cgroups as root. */
#include "runtime/cgroup_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (UINT64_C(1) << 20)

/* What the root tests made, so that the group teardown can remove it whatever failed. */
static struct {
    char top[64];      /* "/zlayer-test-<pid>" */
    pid_t children[4]; /* 0: free slot */
} T;

/* ---------------- pure parts ---------------- */

static void test_join(void **state)
{
    static const struct {
        const char *mnt, *root, *own, *path, *want;
    } ok[] = {
        {"/sys/fs/cgroup/memory", "/", "/process_api/abc", "/zlayer/c1",
         "/sys/fs/cgroup/memory/zlayer/c1"},
        {"/sys/fs/cgroup/memory", "/", "/process_api/abc", "c1",
         "/sys/fs/cgroup/memory/process_api/abc/c1"},
        {"/sys/fs/cgroup/memory", "/", "/", "c1", "/sys/fs/cgroup/memory/c1"},
        {"/sys/fs/cgroup", "/", "/user.slice", "a//b/./c/", "/sys/fs/cgroup/user.slice/a/b/c"},
        {"/sys/fs/cgroup/", "/docker/x", "/docker/x/sub", "c", "/sys/fs/cgroup/sub/c"},
        {"/sys/fs/cgroup", "/docker/x", "/docker/x", "/abs", "/sys/fs/cgroup/abs"},
        {"/sys/fs/cgroup", "/", "/", "/a:b:c", "/sys/fs/cgroup/a:b:c"},
    };
    static const struct {
        const char *root, *own, *path;
    } bad[] = {
        {"/", "/", ""},  {"/", "/", NULL},         {"/", "/", "/"},    {"/", "/", "//./"},
        {"/", "/", "."}, {"/", "/", "/a/../../x"}, {"/", "/", "../x"}, {"/docker/x", "/other", "c"},
    };
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(ok); i++) {
        struct zl_err err = {0};
        char *out = NULL;
        int r = zl_runtime__cg_join(ok[i].mnt, ok[i].root, ok[i].own, ok[i].path, &out, &err);
        if (r < 0)
            print_error("case %zu: %s\n", i, err.msg);
        assert_int_equal(r, 0);
        assert_string_equal(out, ok[i].want);
        free(out);
    }
    for (size_t i = 0; i < ZL_ARRAY_LEN(bad); i++) {
        struct zl_err err = {0};
        char *out = NULL;
        int r =
            zl_runtime__cg_join("/sys/fs/cgroup", bad[i].root, bad[i].own, bad[i].path, &out, &err);
        assert_int_equal(r, -ZL_EINVAL);
        assert_null(out);
        assert_true(strlen(err.msg) > 0);
    }
}

static void test_own_path(void **state)
{
    static const char text[] = "9:name=systemd:/\n"
                               "4:memory:/process_api/3f\n"
                               "2:cpu,cpuacct:/x:y\n"
                               "0::/unified/path\n";
    struct zl_err err = {0};
    char *p = NULL;
    (void)state;
    assert_int_equal(zl_runtime__cg_own_path(text, "memory", &p, &err), 0);
    assert_string_equal(p, "/process_api/3f");
    free(p);
    assert_int_equal(zl_runtime__cg_own_path(text, "cpuacct", &p, &err), 0);
    assert_string_equal(p, "/x:y");
    free(p);
    assert_int_equal(zl_runtime__cg_own_path(text, NULL, &p, &err), 0);
    assert_string_equal(p, "/unified/path");
    free(p);
    assert_int_equal(zl_runtime__cg_own_path(text, "pids", &p, &err), -ZL_ENOTFOUND);
    assert_int_equal(zl_runtime__cg_own_path("0::/\n", "memory", &p, &err), -ZL_ENOTFOUND);
}

/* This machine's hybrid layout, with cpu and cpuacct co-mounted as many distributions do. */
static const char hybrid[] =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 /pa /sys/fs/cgroup/mem\\040ory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    "42 31 0:36 / /mnt/pids-again rw,relatime - cgroup cgroup rw,pids\n";

static void test_mountinfo(void **state)
{
    struct zl_cg_layout lay;
    struct zl_err err = {0};
    (void)state;
    assert_int_equal(zl_runtime__cg_parse_mountinfo(hybrid, &lay, &err), 0);
    assert_int_equal(lay.version, ZL_CG_V1);
    assert_int_equal(lay.n, 7); /* systemd, unified and the second pids mount are left out */
    assert_string_equal(lay.m[0].dir, "/sys/fs/cgroup/cpu,cpuacct");
    assert_int_equal(lay.m[0].ctls, ZL_CG_BIT(ZL_CG_CPU) | ZL_CG_BIT(ZL_CG_CPUACCT));
    assert_string_equal(lay.m[2].dir, "/sys/fs/cgroup/mem ory");
    assert_string_equal(lay.m[2].root, "/pa");
    assert_string_equal(lay.m[6].dir, "/sys/fs/cgroup/pids");
    zl_runtime__cg_layout_fini(&lay);

    static const char v2[] = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
                             "50 23 0:40 / /opt/v1 rw - cgroup cgroup rw,name=compat\n";
    assert_int_equal(zl_runtime__cg_parse_mountinfo(v2, &lay, &err), 0);
    assert_int_equal(lay.version, ZL_CG_V2);
    assert_int_equal(lay.n, 1);
    assert_string_equal(lay.m[0].dir, "/sys/fs/cgroup");
    zl_runtime__cg_layout_fini(&lay);

    assert_int_equal(
        zl_runtime__cg_parse_mountinfo("22 27 0:21 / /proc rw - proc proc rw\n", &lay, &err),
        -ZL_ENOTFOUND);
}

static void test_weights(void **state)
{
    (void)state;
    assert_int_equal(zl_runtime__cg_shares_to_weight(0), 0);
    assert_int_equal(zl_runtime__cg_shares_to_weight(2), 1);
    assert_int_equal(zl_runtime__cg_shares_to_weight(1024), 39);
    assert_int_equal(zl_runtime__cg_shares_to_weight(512), 20);
    assert_int_equal(zl_runtime__cg_shares_to_weight(262144), 10000);
    assert_int_equal(zl_runtime__cg_shares_to_weight(1u << 30), 10000);
    assert_int_equal(zl_runtime__cg_blkio_to_io_weight(0), 0);
    assert_int_equal(zl_runtime__cg_blkio_to_io_weight(10), 1);
    assert_int_equal(zl_runtime__cg_blkio_to_io_weight(500), 4950);
    assert_int_equal(zl_runtime__cg_blkio_to_io_weight(1000), 10000);
}

static void test_keyed(void **state)
{
    uint64_t v = 7;
    (void)state;
    assert_true(
        zl_runtime__cg_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill", &v));
    assert_int_equal(v, 3);
    assert_false(zl_runtime__cg_keyed("usage_usec 5\n", "oom_kill", &v));
}

static void test_empty_path(void **state)
{
    struct zl_err err = {0};
    struct zl_cgroup *cg = NULL;
    (void)state;
    assert_int_equal(zl_runtime__cgroup_create("", NULL, 0, &cg, &err), -ZL_EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(zl_runtime__cgroup_open(NULL, &cg, &err), -ZL_EINVAL);
    assert_null(cg);
}

/* ---------------- helpers for the root tests ---------------- */

static bool skip_unless_root(void)
{
    if (geteuid() == 0)
        return false;
    print_message("cgroup tests need root: skipped\n");
    return true;
}

/* A file's first line, or NULL. */
static char *slurp(const char *dir, const char *file)
{
    char *text = NULL;
    if (!dir || zl_runtime__cg_read(dir, file, &text, NULL) < 0)
        return NULL;
    text[strcspn(text, "\n")] = '\0';
    return text;
}

static void assert_file(const char *dir, const char *file, const char *want)
{
    char *got = slurp(dir, file);
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s/%s: '%s', want '%s'", dir, file, got ? got : "(unreadable)", want);
    free(got);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A child that waits for "go", touches 4 MiB (charged to its new cgroup), says "ready" and
 * pauses until killed. It dies with us should the test crash. */
static pid_t spawn(int *go, int *ready)
{
    int a[2], b[2];
    assert_int_equal(pipe2(a, O_CLOEXEC), 0);
    assert_int_equal(pipe2(b, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (read(a[0], &c, 1) != 1)
            _exit(1);
        char *m = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED)
            memset(m, 1, 4 * MiB);
        if (write(b[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(a[0]);
    close(b[1]);
    for (size_t i = 0; i < ZL_ARRAY_LEN(T.children); i++)
        if (T.children[i] == 0) {
            T.children[i] = pid;
            break;
        }
    *go = a[1];
    *ready = b[0];
    return pid;
}

/* Let the child run and wait (boundedly) until it has touched its memory. */
static void release(int go, int ready)
{
    char c = 'g';
    struct pollfd p = {.fd = ready, .events = POLLIN};
    assert_int_equal(write(go, &c, 1), 1);
    close(go);
    bool ok = poll(&p, 1, 5000) == 1 && read(ready, &c, 1) == 1;
    close(ready);
    if (!ok)
        fail_msg("the child did not start in its cgroup");
}

static void forget(pid_t pid)
{
    for (size_t i = 0; i < ZL_ARRAY_LEN(T.children); i++)
        if (T.children[i] == pid)
            T.children[i] = 0;
}

/* waitpid with a bound: returns the status. */
static int reap(pid_t pid)
{
    int status = 0;
    for (int i = 0; i < 500; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            forget(pid);
            return status;
        }
        assert_int_equal(r, 0);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("process %d did not die", (int)pid);
    return 0;
}

static bool has_pid(const pid_t *v, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == pid)
            return true;
    return false;
}

static struct zl_cgroup *must_create(const char *path, const struct zl_oci_resources *res,
                                     pid_t pid)
{
    struct zl_err err = {0};
    struct zl_cgroup *cg = NULL;
    int r = zl_runtime__cgroup_create(path, res, pid, &cg, &err);
    if (r < 0)
        fail_msg("create %s: %s", path, err.msg);
    return cg;
}

static struct zl_cgroup *must_open(const char *path)
{
    struct zl_err err = {0};
    struct zl_cgroup *cg = NULL;
    if (zl_runtime__cgroup_open(path, &cg, &err) < 0)
        fail_msg("open %s: %s", path, err.msg);
    return cg;
}

static bool is_v2(const struct zl_cgroup *cg)
{
    return cg->ops == &zl_runtime__cgroup_v2;
}

/* ---------------- the life of a cgroup (root) ---------------- */

static char cpus0[] = "0";
static struct zl_oci_dev_rule rules[] = {
    {.allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm"},
    {.allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm"},
};

static void fill_res(struct zl_oci_resources *res)
{
    *res = (struct zl_oci_resources){
        .has_memory_limit = true,
        .memory_limit = 64 * MiB,
        .has_memory_swap = true,
        .memory_swap = 64 * MiB,
        .has_cpu_shares = true,
        .cpu_shares = 512,
        .has_cpu_quota = true,
        .cpu_quota = 50000,
        .has_cpu_period = true,
        .cpu_period = 100000,
        .cpuset_cpus = cpus0,
        .has_pids_limit = true,
        .pids_limit = 50,
        .devices = rules,
        .ndevices = ZL_ARRAY_LEN(rules),
    };
}

/* The weight only where this kernel has a weight file (BFQ or CFQ on v1, io on v2): create
 * again, which reuses the cgroup. Returns whether it was set. */
static bool set_blkio_weight(struct zl_cgroup *cg)
{
    const char *d = zl_runtime__cg_dir(cg, ZL_CG_BLKIO);
    bool ok =
        d && (zl_runtime__cg_has(d, "blkio.weight") || zl_runtime__cg_has(d, "io.weight") ||
              zl_runtime__cg_has(d, "blkio.bfq.weight") || zl_runtime__cg_has(d, "io.bfq.weight"));
    if (!ok) {
        print_message("no blkio/io weight file on this kernel: weight not tested\n");
        return false;
    }
    struct zl_oci_resources res = {.has_blkio_weight = true, .blkio_weight = 500};
    zl_runtime__cgroup_free(must_create(T.top, &res, 0));
    return true;
}

static void check_limits_v1(const struct zl_cgroup *cg, bool weight)
{
    const char *mem = zl_runtime__cg_dir(cg, ZL_CG_MEMORY);
    assert_file(mem, "memory.limit_in_bytes", "67108864");
    if (zl_runtime__cg_has(mem, "memory.memsw.limit_in_bytes"))
        assert_file(mem, "memory.memsw.limit_in_bytes", "67108864");
    assert_file(zl_runtime__cg_dir(cg, ZL_CG_PIDS), "pids.max", "50");
    assert_file(zl_runtime__cg_dir(cg, ZL_CG_CPU), "cpu.cfs_quota_us", "50000");
    assert_file(zl_runtime__cg_dir(cg, ZL_CG_CPU), "cpu.cfs_period_us", "100000");
    assert_file(zl_runtime__cg_dir(cg, ZL_CG_CPU), "cpu.shares", "512");
    assert_file(zl_runtime__cg_dir(cg, ZL_CG_CPUSET), "cpuset.cpus", "0");
    assert_file(zl_runtime__cg_dir(cg, ZL_CG_DEVICES), "devices.list", "c 1:3 rwm");
    const char *blk = zl_runtime__cg_dir(cg, ZL_CG_BLKIO);
    if (weight)
        assert_file(blk,
                    zl_runtime__cg_has(blk, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight",
                    "500");
}

static void check_limits_v2(const struct zl_cgroup *cg, bool weight)
{
    const char *d = cg->d[0].path;
    assert_file(d, "memory.max", "67108864");
    if (zl_runtime__cg_has(d, "memory.swap.max"))
        assert_file(d, "memory.swap.max", "0");
    assert_file(d, "pids.max", "50");
    assert_file(d, "cpu.max", "50000 100000");
    assert_file(d, "cpu.weight", "20");
    assert_file(d, "cpuset.cpus", "0");
    if (weight && zl_runtime__cg_has(d, "io.weight"))
        assert_file(d, "io.weight", "default 4950");
    else if (weight)
        assert_file(d, "io.bfq.weight", "default 500");
}

/* /proc/<pid>/cgroup puts it in our cgroup for memory and pids (or the unified one). */
static void check_membership(const struct zl_cgroup *cg, pid_t pid)
{
    char proc[64], *text = NULL, *p = NULL;
    snprintf(proc, sizeof(proc), "/proc/%d/cgroup", (int)pid);
    assert_int_equal(zl_read_file(proc, 1 << 20, &text, NULL, NULL), 0);
    static const char *const ctls[] = {"memory", "pids"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(ctls); i++) {
        assert_int_equal(zl_runtime__cg_own_path(text, is_v2(cg) ? NULL : ctls[i], &p, NULL), 0);
        if (strcmp(p, T.top) != 0)
            fail_msg("%s: %s is in %s, want %s", proc, ctls[i], p, T.top);
        free(p);
    }
    free(text);
}

static void check_stats(struct zl_cgroup *cg)
{
    struct zl_cgroup_stats st;
    struct zl_err err = {0};
    if (zl_runtime__cgroup_stats(cg, &st, &err) < 0)
        fail_msg("stats: %s", err.msg);
    assert_true(st.pids_current >= 1);
    assert_int_equal(st.pids_limit, 50);
    assert_int_equal(st.memory_limit, 64 * MiB);
    assert_true(st.memory_usage > 0 && st.memory_usage <= 64 * MiB);
    assert_true(st.cpu_usage_ns > 0);
    assert_int_equal(st.oom_kills, 0);
}

static void check_pids(struct zl_cgroup *cg, pid_t child)
{
    pid_t *pids = NULL;
    size_t n = 0;
    struct zl_err err = {0};
    if (zl_runtime__cgroup_pids(cg, &pids, &n, &err) < 0)
        fail_msg("pids: %s", err.msg);
    assert_true(has_pid(pids, n, child));
    assert_false(has_pid(pids, n, getpid()));
    free(pids);
}

/* open() recomputes the same directories from the path alone. */
static struct zl_cgroup *check_reopen(const struct zl_cgroup *cg)
{
    struct zl_cgroup *again = must_open(T.top);
    assert_int_equal(again->n, cg->n);
    assert_ptr_equal(again->ops, cg->ops);
    for (size_t i = 0; i < cg->n; i++)
        assert_string_equal(again->d[i].path, cg->d[i].path);
    return again;
}

static void check_kill_destroy(struct zl_cgroup *cg, pid_t child)
{
    struct zl_err err = {0};
    if (zl_runtime__cgroup_kill(cg, SIGTERM, &err) < 0)
        fail_msg("kill: %s", err.msg);
    int status = reap(child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
    const char *fz = zl_runtime__cg_dir(cg, ZL_CG_FREEZER);
    if (!is_v2(cg) && fz)
        assert_file(fz, "freezer.state", "THAWED");
    if (zl_runtime__cgroup_destroy(cg, &err) < 0)
        fail_msg("destroy: %s", err.msg);
    for (size_t i = 0; i < cg->n; i++)
        if (exists(cg->d[i].path))
            fail_msg("%s is still there", cg->d[i].path);
    struct zl_cgroup *gone = NULL;
    assert_int_equal(zl_runtime__cgroup_open(T.top, &gone, &err), -ENOENT);
}

static void test_lifecycle(void **state)
{
    struct zl_oci_resources res;
    int go, ready;
    (void)state;
    if (skip_unless_root())
        skip();
    fill_res(&res);
    pid_t child = spawn(&go, &ready);
    struct zl_cgroup *cg = must_create(T.top, &res, child);
    release(go, ready);
    bool weight = set_blkio_weight(cg);
    if (is_v2(cg))
        check_limits_v2(cg, weight);
    else
        check_limits_v1(cg, weight);
    check_membership(cg, child);
    check_stats(cg);
    check_pids(cg, child);
    struct zl_cgroup *again = check_reopen(cg);
    check_pids(again, child);
    check_stats(again);
    zl_runtime__cgroup_free(cg);
    check_kill_destroy(again, child);
    zl_runtime__cgroup_free(again);
}

/* Nested levels get their cpuset from above; destroy removes only the leaf. */
static void test_nested(void **state)
{
    struct zl_oci_resources res = {.cpuset_cpus = cpus0, .has_pids_limit = true};
    struct zl_err err = {0};
    (void)state;
    if (skip_unless_root())
        skip();
    char *leaf = zl_xasprintf("%s/n1/n2", T.top);
    struct zl_cgroup *cg = must_create(leaf, &res, 0);
    const char *pids = zl_runtime__cg_dir(cg, ZL_CG_PIDS);
    const char *cs = zl_runtime__cg_dir(cg, ZL_CG_CPUSET);
    assert_file(pids, "pids.max", "max");
    assert_file(cs, "cpuset.cpus", "0");
    char *mid = zl_xstrndup(cs, (size_t)(strrchr(cs, '/') - cs));
    char *mems = slurp(mid, "cpuset.mems"), *cpus = slurp(mid, "cpuset.cpus");
    assert_true(mems && *mems && cpus && *cpus);
    struct zl_cgroup *again = must_open(leaf);
    if (zl_runtime__cgroup_destroy(again, &err) < 0)
        fail_msg("destroy: %s", err.msg);
    for (size_t i = 0; i < cg->n; i++)
        assert_false(exists(cg->d[i].path));
    assert_true(exists(mid));
    free(mems);
    free(cpus);
    free(mid);
    zl_runtime__cgroup_free(again);
    zl_runtime__cgroup_free(cg);
    free(leaf);
}

/* Destroy with a process still inside fails, naming the directory; SIGKILL clears it. */
static void test_destroy_busy(void **state)
{
    struct zl_err err = {0};
    int go, ready;
    (void)state;
    if (skip_unless_root())
        skip();
    char *path = zl_xasprintf("%s/busy", T.top);
    pid_t child = spawn(&go, &ready);
    struct zl_cgroup *cg = must_create(path, NULL, child);
    release(go, ready);
    assert_true(zl_runtime__cgroup_destroy(cg, &err) < 0);
    assert_int_equal(err.code, -EBUSY);
    assert_non_null(strstr(err.msg, path));
    if (zl_runtime__cgroup_kill(cg, SIGKILL, &err) < 0)
        fail_msg("kill: %s", err.msg);
    int status = reap(child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    if (zl_runtime__cgroup_destroy(cg, &err) < 0)
        fail_msg("destroy: %s", err.msg);
    zl_runtime__cgroup_free(cg);
    free(path);
}

/* ---------------- teardown: whatever happened, leave nothing behind ---------------- */

static void thaw_tree(const char *dir)
{
    zl_runtime__cg_write(dir, "freezer.state", "THAWED", NULL);
    zl_runtime__cg_write(dir, "cgroup.freeze", "0", NULL);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_type == DT_DIR && de->d_name[0] != '.') {
            char *sub = zl_xasprintf("%s/%s", dir, de->d_name);
            thaw_tree(sub);
            free(sub);
        }
    if (d)
        closedir(d);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_type == DT_DIR && de->d_name[0] != '.') {
            char *sub = zl_xasprintf("%s/%s", dir, de->d_name);
            remove_tree(sub);
            free(sub);
        }
    if (d)
        closedir(d);
    for (int i = 0; i < 100 && rmdir(dir) == -1 && errno == EBUSY; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (exists(dir))
        fprintf(stderr, "teardown: could not remove %s: %s\n", dir, strerror(errno));
}

static void for_each_top(void (*fn)(const char *dir))
{
    static const char *const pats[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/*"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(pats); i++) {
        char pat[128];
        glob_t g;
        snprintf(pat, sizeof(pat), "%s%s", pats[i], T.top);
        if (glob(pat, GLOB_ONLYDIR, NULL, &g) == 0)
            for (size_t k = 0; k < g.gl_pathc; k++)
                fn(g.gl_pathv[k]);
        globfree(&g);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(T.top, sizeof(T.top), "/zlayer-test-%d", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0;
    for_each_top(thaw_tree);
    for (size_t i = 0; i < ZL_ARRAY_LEN(T.children); i++)
        if (T.children[i] > 0) {
            kill(T.children[i], SIGKILL);
            waitpid(T.children[i], NULL, 0);
            T.children[i] = 0;
        }
    for_each_top(remove_tree);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join),         cmocka_unit_test(test_own_path),
        cmocka_unit_test(test_mountinfo),    cmocka_unit_test(test_weights),
        cmocka_unit_test(test_keyed),        cmocka_unit_test(test_empty_path),
        cmocka_unit_test(test_lifecycle),    cmocka_unit_test(test_nested),
        cmocka_unit_test(test_destroy_busy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
