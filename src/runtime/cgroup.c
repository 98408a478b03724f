/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/cgroup.c: cgroup layout detection, path resolution, the handle and the v1/v2 dispatch. */
#include "runtime/cgroup_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 32 /* sub-cgroups we follow below a container's cgroup */

static const char *const names[ZL_CG_NCTL] = {
    [ZL_CG_CPU] = "cpu",         [ZL_CG_CPUACCT] = "cpuacct", [ZL_CG_CPUSET] = "cpuset",
    [ZL_CG_MEMORY] = "memory",   [ZL_CG_PIDS] = "pids",       [ZL_CG_BLKIO] = "blkio",
    [ZL_CG_DEVICES] = "devices", [ZL_CG_FREEZER] = "freezer",
};

const char *zl_runtime__cg_name(int ctl)
{
    ZL_ASSERT(ctl >= 0 && ctl < ZL_CG_NCTL);
    return names[ctl];
}

/* ---------------- pure parts: layout, own cgroup, paths, conversions ---------------- */

struct field {
    const char *p;
    size_t n;
};

static size_t split(const char *s, size_t n, char sep, struct field *f, size_t max)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n && k < max; i++) {
        if (i == n || s[i] == sep) {
            f[k].p = s + start;
            f[k].n = i - start;
            k++;
            start = i + 1;
        }
    }
    return k;
}

static bool field_is(struct field f, const char *s)
{
    return f.n == strlen(s) && memcmp(f.p, s, f.n) == 0;
}

static bool is_octal(char c)
{
    return c >= '0' && c <= '7';
}

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static char *unescape(struct field f)
{
    char *out = zl_xmalloc(f.n + 1);
    size_t j = 0;
    for (size_t i = 0; i < f.n; i++) {
        const char *s = f.p + i;
        if (s[0] == '\\' && i + 3 < f.n && is_octal(s[1]) && is_octal(s[2]) && is_octal(s[3])) {
            out[j++] = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
            i += 3;
        } else {
            out[j++] = s[0];
        }
    }
    out[j] = '\0';
    return out;
}

static unsigned ctl_mask(struct field opts)
{
    struct field o[64];
    size_t n = split(opts.p, opts.n, ',', o, ZL_ARRAY_LEN(o));
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < ZL_CG_NCTL; c++)
            if (field_is(o[i], names[c]))
                mask |= ZL_CG_BIT(c);
    return mask;
}

static void set_mount(struct zl_cg_mount *m, struct field root, struct field dir, unsigned ctls)
{
    free(m->dir);
    free(m->root);
    m->dir = unescape(dir);
    m->root = unescape(root);
    m->ctls = ctls;
}

/* One mountinfo line: "id parent maj:min root mountpoint opts [optional...] - type src super". */
static void mount_line(const char *s, size_t n, struct zl_cg_layout *v1, struct zl_cg_mount *v2,
                       unsigned *taken)
{
    struct field f[64];
    size_t nf = split(s, n, ' ', f, ZL_ARRAY_LEN(f));
    size_t k = 6;
    while (k < nf && !field_is(f[k], "-"))
        k++;
    if (k + 3 >= nf)
        return;
    if (field_is(f[k + 1], "cgroup2")) {
        /* /sys/fs/cgroup itself wins over a hybrid host's .../unified */
        if (!v2->dir || field_is(f[4], "/sys/fs/cgroup"))
            set_mount(v2, f[3], f[4], ZL_CG_ALL);
        return;
    }
    if (!field_is(f[k + 1], "cgroup"))
        return;
    unsigned mask = ctl_mask(f[k + 3]) & ~*taken; /* a hierarchy mounted twice counts once */
    if (!mask || v1->n == ZL_CG_NCTL)
        return;
    set_mount(&v1->m[v1->n++], f[3], f[4], mask);
    *taken |= mask;
}

int zl_runtime__cg_parse_mountinfo(const char *text, struct zl_cg_layout *lay, struct zl_err *err)
{
    struct zl_cg_layout v1 = {.version = ZL_CG_V1};
    struct zl_cg_mount v2 = {0};
    unsigned taken = 0;
    for (const char *p = text; *p;) {
        const char *e = strchrnul(p, '\n');
        mount_line(p, (size_t)(e - p), &v1, &v2, &taken);
        p = *e ? e + 1 : e;
    }
    bool pure_v2 = v2.dir && strcmp(v2.dir, "/sys/fs/cgroup") == 0;
    if (!pure_v2 && v1.n > 0) {
        *lay = v1;
        free(v2.dir);
        free(v2.root);
        return 0;
    }
    zl_runtime__cg_layout_fini(&v1);
    if (!v2.dir)
        return zl_err_set(err, ZL_ENOTFOUND, "no cgroup filesystem is mounted");
    *lay = (struct zl_cg_layout){.version = ZL_CG_V2, .n = 1};
    lay->m[0] = v2;
    return 0;
}

void zl_runtime__cg_layout_fini(struct zl_cg_layout *lay)
{
    for (size_t i = 0; i < lay->n; i++) {
        free(lay->m[i].dir);
        free(lay->m[i].root);
    }
    lay->n = 0;
}

static bool list_has(struct field list, const char *name)
{
    struct field o[64];
    size_t n = split(list.p, list.n, ',', o, ZL_ARRAY_LEN(o));
    for (size_t i = 0; i < n; i++)
        if (field_is(o[i], name))
            return true;
    return false;
}

int zl_runtime__cg_own_path(const char *text, const char *ctl, char **out, struct zl_err *err)
{
    for (const char *p = text; *p;) {
        const char *e = strchrnul(p, '\n');
        const char *c1 = memchr(p, ':', (size_t)(e - p));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(e - c1 - 1)) : NULL;
        if (c2) {
            struct field id = {p, (size_t)(c1 - p)}, ctls = {c1 + 1, (size_t)(c2 - c1 - 1)};
            bool match = ctl ? list_has(ctls, ctl) : field_is(id, "0") && ctls.n == 0;
            if (match) {
                *out = zl_xstrndup(c2 + 1, (size_t)(e - c2 - 1));
                return 0;
            }
        }
        p = *e ? e + 1 : e;
    }
    return zl_err_set(err, ZL_ENOTFOUND, "/proc/self/cgroup has no line for %s",
                      ctl ? ctl : "the unified hierarchy");
}

/* Append p's components as "/a/b", dropping empty ones and ".", refusing "..". */
static int clean(const char *p, struct zl_buf *b, struct zl_err *err)
{
    for (;;) {
        p += strspn(p, "/");
        size_t n = strcspn(p, "/");
        if (n == 0)
            return 0;
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return zl_err_set(err, ZL_EINVAL, "'..' is not allowed");
        if (!(n == 1 && p[0] == '.')) {
            zl_buf_putc(b, '/');
            zl_buf_append(b, p, n);
        }
        p += n;
    }
}

static size_t mnt_len(const char *mnt)
{
    size_t n = strlen(mnt);
    while (n > 0 && mnt[n - 1] == '/')
        n--;
    return n;
}

/* own (a path in the hierarchy) as seen below a mount whose root is `root`. */
static const char *below_root(const char *own, const char *root)
{
    size_t n = mnt_len(root);
    if (strncmp(own, root, n) != 0 || (own[n] != '/' && own[n] != '\0'))
        return NULL;
    return own + n;
}

static int join(const char *mnt, const char *mnt_root, const char *own, const char *path,
                struct zl_buf *b, struct zl_err *err)
{
    zl_buf_append(b, mnt, mnt_len(mnt));
    if (path[0] != '/') {
        const char *rest = below_root(own, mnt_root);
        if (!rest)
            return zl_err_set(err, ZL_EINVAL, "our cgroup %s is outside the mounted part %s", own,
                              mnt_root);
        int r = clean(rest, b, err);
        if (r < 0)
            return r;
    }
    size_t before = b->len;
    int r = clean(path, b, err);
    if (r < 0)
        return r;
    if (b->len == before)
        return zl_err_set(err, ZL_EINVAL, "names no cgroup below %s", b->data);
    if (b->len >= PATH_MAX)
        return zl_err_set(err, ENAMETOOLONG, "%s/...: path too long", mnt);
    return 0;
}

int zl_runtime__cg_join(const char *mnt, const char *mnt_root, const char *own, const char *path,
                        char **out, struct zl_err *err)
{
    if (!path || !*path)
        return zl_err_set(err, ZL_EINVAL, "cgroupsPath is empty: the caller must name a cgroup");
    struct zl_buf b;
    zl_buf_init(&b);
    int r = join(mnt, mnt_root, own, path, &b, err);
    if (r < 0) {
        zl_buf_fini(&b);
        return zl_err_wrap(err, "cgroupsPath '%s'", path);
    }
    *out = zl_buf_steal(&b, NULL);
    return 0;
}

bool zl_runtime__cg_wants(const struct zl_oci_resources *res, int ctl)
{
    switch (ctl) {
    case ZL_CG_MEMORY:
        return res->has_memory_limit || res->has_memory_reservation || res->has_memory_swap ||
               res->has_swappiness || res->disable_oom_killer;
    case ZL_CG_CPU:
        return res->has_cpu_shares || res->has_cpu_quota || res->has_cpu_period;
    case ZL_CG_CPUSET:
        return (res->cpuset_cpus && *res->cpuset_cpus) || (res->cpuset_mems && *res->cpuset_mems);
    case ZL_CG_PIDS:
        return res->has_pids_limit;
    case ZL_CG_BLKIO:
        return res->has_blkio_weight;
    case ZL_CG_DEVICES:
        return res->ndevices > 0;
    default:
        return false;
    }
}

uint64_t zl_runtime__cg_shares_to_weight(uint64_t shares)
{
    if (shares == 0)
        return 0; /* unset */
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t zl_runtime__cg_blkio_to_io_weight(uint64_t weight)
{
    if (weight == 0)
        return 0; /* unset */
    if (weight < 10)
        weight = 10;
    if (weight > 1000)
        weight = 1000;
    return 1 + (weight - 10) * 9999 / 990;
}

/* ---------------- cgroupfs files ---------------- */

bool zl_runtime__cg_has(const char *dir, const char *file)
{
    zl_autofree char *p = zl_xasprintf("%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

int zl_runtime__cg_write(const char *dir, const char *file, const char *val, struct zl_err *err)
{
    zl_autofree char *p = zl_xasprintf("%s/%s", dir, file);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd == -1)
        return zl_err_sys(err, errno, "open %s", p);
    size_t n = strlen(val);
    ssize_t w;
    do
        w = write(fd, val, n);
    while (w == -1 && errno == EINTR);
    int e = errno;
    close(fd);
    if (w == -1)
        return zl_err_sys(err, e, "write '%s' to %s", val, p);
    if ((size_t)w != n)
        return zl_err_set(err, EIO, "short write of '%s' to %s", val, p);
    return 0;
}

int zl_runtime__cg_write_num(const char *dir, const char *file, int64_t v, const char *max,
                             struct zl_err *err)
{
    char s[32];
    if (v < 0 && max)
        return zl_runtime__cg_write(dir, file, max, err);
    snprintf(s, sizeof(s), "%" PRId64, v);
    return zl_runtime__cg_write(dir, file, s, err);
}

int zl_runtime__cg_read(const char *dir, const char *file, char **out, struct zl_err *err)
{
    zl_autofree char *p = zl_xasprintf("%s/%s", dir, file);
    return zl_read_file(p, (size_t)16 << 20, out, NULL, err);
}

static bool parse_u64(const char *s, uint64_t *v)
{
    s += strspn(s, " \t");
    if (strncmp(s, "max", 3) == 0 && (s[3] == '\0' || s[3] == '\n')) {
        *v = UINT64_MAX;
        return true;
    }
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || (*end != '\0' && *end != '\n' && *end != ' '))
        return false;
    *v = x;
    return true;
}

int zl_runtime__cg_read_u64(const char *dir, const char *file, uint64_t *v, struct zl_err *err)
{
    zl_autofree char *text = NULL;
    int r = zl_runtime__cg_read(dir, file, &text, err);
    if (r < 0)
        return r;
    if (!parse_u64(text, v))
        return zl_err_set(err, ZL_EINVAL, "%s/%s: not a number: '%.32s'", dir, file, text);
    return 0;
}

bool zl_runtime__cg_keyed(const char *text, const char *key, uint64_t *v)
{
    size_t k = strlen(key);
    for (const char *p = text; *p;) {
        const char *e = strchrnul(p, '\n');
        if (strncmp(p, key, k) == 0 && p[k] == ' ')
            return parse_u64(p + k + 1, v);
        p = *e ? e + 1 : e;
    }
    return false;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

bool zl_runtime__cg_poll(const char *dir, const char *file, const char *want, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        zl_autofree char *text = NULL;
        if (zl_runtime__cg_read(dir, file, &text, NULL) == 0 && strstr(text, want))
            return true;
        if (now_ms() >= end)
            return false;
        nap_ms(5);
    }
}

/* ---------------- process lists ---------------- */

struct pidv {
    pid_t *v;
    size_t n, cap;
};

static int read_procs(const char *dir, struct pidv *pv, struct zl_err *err)
{
    zl_autofree char *text = NULL;
    int r = zl_runtime__cg_read(dir, "cgroup.procs", &text, err);
    if (r < 0)
        return r;
    for (char *p = text, *end; *p; p = end) {
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid <= 0 || pid > INT_MAX)
            continue;
        if (pv->n == pv->cap) {
            pv->cap = pv->cap ? pv->cap * 2 : 16;
            pv->v = zl_xrealloc(pv->v, pv->cap * sizeof(*pv->v));
        }
        pv->v[pv->n++] = (pid_t)pid;
    }
    return 0;
}

static bool is_subdir(const struct dirent *de)
{
    return de->d_type == DT_DIR && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
}

static int collect(const char *dir, int depth, struct pidv *pv, struct zl_err *err)
{
    int r = read_procs(dir, pv, err);
    if (r < 0 || depth >= MAX_DEPTH)
        return r;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : zl_err_sys(err, errno, "open %s", dir);
    struct dirent *de;
    while (r == 0 && (de = readdir(d))) {
        if (!is_subdir(de))
            continue;
        zl_autofree char *sub = zl_xasprintf("%s/%s", dir, de->d_name);
        r = collect(sub, depth + 1, pv, err);
        if (r == -ENOENT) /* removed meanwhile */
            r = 0;
    }
    closedir(d);
    return r;
}

int zl_runtime__cg_pids_tree(const char *dir, pid_t **pids, size_t *n, struct zl_err *err)
{
    struct pidv pv = {0};
    int r = collect(dir, 0, &pv, err);
    if (r < 0) {
        free(pv.v);
        return r;
    }
    *pids = pv.v ? pv.v : zl_xcalloc(1, sizeof(pid_t));
    *n = pv.n;
    return 0;
}

int zl_runtime__cg_signal(const char *dir, int sig, struct zl_err *err)
{
    pid_t *pids = NULL;
    size_t n = 0;
    int r = zl_runtime__cg_pids_tree(dir, &pids, &n, err);
    for (size_t i = 0; r == 0 && i < n; i++)
        if (kill(pids[i], sig) == -1 && errno != ESRCH)
            r = zl_err_sys(err, errno, "kill %d (in %s)", (int)pids[i], dir);
    free(pids);
    return r;
}

/* ---------------- the handle ---------------- */

const char *zl_runtime__cg_dir(const struct zl_cgroup *cg, int ctl)
{
    for (size_t i = 0; i < cg->n; i++)
        if (cg->d[i].ctls & ZL_CG_BIT(ctl))
            return cg->d[i].path;
    return NULL;
}

static int add_dir(struct zl_cgroup *cg, const struct zl_cg_mount *m, const char *own_text,
                   struct zl_err *err)
{
    zl_autofree char *own = NULL;
    if (cg->path[0] != '/') {
        const char *ctl = cg->ops == &zl_runtime__cgroup_v2 ? NULL : names[__builtin_ctz(m->ctls)];
        int r = zl_runtime__cg_own_path(own_text, ctl, &own, err);
        if (r < 0)
            return r;
    }
    char *path = NULL;
    int r = zl_runtime__cg_join(m->dir, m->root, own ? own : "/", cg->path, &path, err);
    if (r < 0)
        return r;
    cg->d[cg->n++] = (struct zl_cg_dir){.path = path, .mnt_len = mnt_len(m->dir), .ctls = m->ctls};
    return 0;
}

/* Everything about a cgroup follows from its path and the mounts: nothing is saved. */
static int build(const char *path, struct zl_cgroup **out, struct zl_err *err)
{
    if (!path || !*path)
        return zl_err_set(err, ZL_EINVAL, "cgroupsPath is empty: the caller must name a cgroup");
    zl_autofree char *mi = NULL, *own = NULL;
    int r = zl_read_file("/proc/self/mountinfo", (size_t)16 << 20, &mi, NULL, err);
    if (r == 0)
        r = zl_read_file("/proc/self/cgroup", (size_t)1 << 20, &own, NULL, err);
    struct zl_cg_layout lay = {0};
    if (r == 0)
        r = zl_runtime__cg_parse_mountinfo(mi, &lay, err);
    if (r < 0)
        return r;
    struct zl_cgroup *cg = zl_xcalloc(1, sizeof(*cg));
    cg->ops = lay.version == ZL_CG_V2 ? &zl_runtime__cgroup_v2 : &zl_runtime__cgroup_v1;
    cg->path = zl_xstrdup(path);
    for (size_t i = 0; r == 0 && i < lay.n; i++)
        r = add_dir(cg, &lay.m[i], own, err);
    zl_runtime__cg_layout_fini(&lay);
    if (r < 0) {
        zl_runtime__cgroup_free(cg);
        return r;
    }
    *out = cg;
    return 0;
}

/* mkdir -p below the mount point, letting the implementation prepare every level. */
static int make_dir(struct zl_cgroup *cg, struct zl_cg_dir *d, struct zl_err *err)
{
    const char *p = d->path;
    for (size_t i = d->mnt_len; p[i];) {
        size_t j = i + 1 + strcspn(p + i + 1, "/");
        zl_autofree char *parent = zl_xstrndup(p, i ? i : 1);
        zl_autofree char *child = zl_xstrndup(p, j);
        if (mkdir(child, 0755) == 0) {
            d->made = p[j] == '\0';
        } else if (errno != EEXIST) {
            return zl_err_sys(err, errno, "mkdir %s", child);
        }
        int r = cg->ops->prepare(parent, child, err);
        if (r < 0)
            return r;
        i = j;
    }
    return 0;
}

/* Undo a failed create: only the directories this handle made, and only if empty. */
static void unmake(struct zl_cgroup *cg)
{
    for (size_t i = 0; i < cg->n; i++)
        if (cg->d[i].made)
            rmdir(cg->d[i].path);
}

int zl_runtime__cgroup_create(const char *path, const struct zl_oci_resources *res, pid_t pid,
                              struct zl_cgroup **out, struct zl_err *err)
{
    struct zl_cgroup *cg = NULL;
    int r = build(path, &cg, err);
    if (r < 0)
        return r;
    for (size_t i = 0; r == 0 && i < cg->n; i++)
        r = make_dir(cg, &cg->d[i], err);
    if (r == 0 && res)
        r = cg->ops->apply(cg, res, err);
    if (r == 0 && pid > 0)
        r = zl_runtime__cgroup_enter(cg, pid, err);
    if (r < 0) {
        unmake(cg);
        zl_runtime__cgroup_free(cg);
        return zl_err_wrap(err, "create cgroup %s", path);
    }
    *out = cg;
    return 0;
}

int zl_runtime__cgroup_open(const char *path, struct zl_cgroup **out, struct zl_err *err)
{
    struct zl_cgroup *cg = NULL;
    int r = build(path, &cg, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < cg->n; i++) {
        struct stat st;
        if (stat(cg->d[i].path, &st) == -1) {
            r = zl_err_sys(err, errno, "open cgroup %s: %s", path, cg->d[i].path);
            zl_runtime__cgroup_free(cg);
            return r;
        }
    }
    *out = cg;
    return 0;
}

int zl_runtime__cgroup_enter(struct zl_cgroup *cg, pid_t pid, struct zl_err *err)
{
    for (size_t i = 0; i < cg->n; i++) {
        int r = zl_runtime__cg_write_num(cg->d[i].path, "cgroup.procs", pid, NULL, err);
        if (r < 0)
            return zl_err_wrap(err, "move process %d into cgroup %s", (int)pid, cg->path);
    }
    return 0;
}

int zl_runtime__cgroup_stats(struct zl_cgroup *cg, struct zl_cgroup_stats *st, struct zl_err *err)
{
    *st = (struct zl_cgroup_stats){.memory_limit = UINT64_MAX, .pids_limit = UINT64_MAX};
    int r = cg->ops->stats(cg, st, err);
    return r < 0 ? zl_err_wrap(err, "stats of cgroup %s", cg->path) : 0;
}

/* The freezer's directory is the one kill() works on; on v2 there is only one. */
static const char *procs_dir(const struct zl_cgroup *cg)
{
    ZL_ASSERT(cg->n > 0);
    const char *d = zl_runtime__cg_dir(cg, ZL_CG_FREEZER);
    return d ? d : cg->d[0].path;
}

int zl_runtime__cgroup_pids(struct zl_cgroup *cg, pid_t **pids, size_t *n, struct zl_err *err)
{
    int r = zl_runtime__cg_pids_tree(procs_dir(cg), pids, n, err);
    return r < 0 ? zl_err_wrap(err, "processes of cgroup %s", cg->path) : 0;
}

int zl_runtime__cgroup_kill(struct zl_cgroup *cg, int sig, struct zl_err *err)
{
    int r = cg->ops->kill(cg, sig, err);
    return r < 0 ? zl_err_wrap(err, "signal cgroup %s", cg->path) : 0;
}

/* rmdir dir after its sub-cgroups, retrying while exiting processes still hold it. */
static int rmtree(const char *dir, int64_t deadline, int depth, struct zl_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : zl_err_sys(err, errno, "open %s", dir);
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        if (!is_subdir(de))
            continue;
        zl_autofree char *sub = zl_xasprintf("%s/%s", dir, de->d_name);
        r = depth < MAX_DEPTH ? rmtree(sub, deadline, depth + 1, err)
                              : zl_err_set(err, ZL_EINVAL, "%s: cgroups nested too deep", sub);
    }
    closedir(d);
    while (r == 0 && rmdir(dir) == -1 && errno != ENOENT) {
        int e = errno;
        if (e != EBUSY || now_ms() >= deadline)
            return zl_err_sys(err, e, "rmdir %s%s", dir,
                              e == EBUSY ? " (processes still in it)" : "");
        nap_ms(10);
    }
    return r;
}

int zl_runtime__cgroup_destroy(struct zl_cgroup *cg, struct zl_err *err)
{
    int64_t deadline = now_ms() + 1000;
    int first = 0;
    for (size_t i = cg->n; i-- > 0;) {
        struct zl_err e;
        int r = rmtree(cg->d[i].path, deadline, 0, &e);
        if (r < 0 && first == 0) {
            first = r;
            if (err)
                *err = e;
        }
    }
    return first < 0 ? zl_err_wrap(err, "destroy cgroup %s", cg->path) : 0;
}

void zl_runtime__cgroup_free(struct zl_cgroup *cg)
{
    if (!cg)
        return;
    for (size_t i = 0; i < cg->n; i++)
        free(cg->d[i].path);
    free(cg->path);
    free(cg);
}

/* The files v1 and v2 share: cpuset.cpus / cpuset.mems and pids.max. */
int zl_runtime__cg_set_cpuset(const char *dir, const struct zl_oci_resources *res,
                              struct zl_err *err)
{
    int r = 0;
    if (res->cpuset_cpus && *res->cpuset_cpus)
        r = zl_runtime__cg_write(dir, "cpuset.cpus", res->cpuset_cpus, err);
    if (r == 0 && res->cpuset_mems && *res->cpuset_mems)
        r = zl_runtime__cg_write(dir, "cpuset.mems", res->cpuset_mems, err);
    return r;
}

int zl_runtime__cg_set_pids(const char *dir, const struct zl_oci_resources *res, struct zl_err *err)
{
    int64_t v = res->pids_limit > 0 ? res->pids_limit : -1;
    return zl_runtime__cg_write_num(dir, "pids.max", v, "max", err);
}
