/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/container.c: the runtime's side of a container's life: create (clone, id maps,
 * cgroup, hooks, sync), start, kill, delete, state, list. A failure half-way through creation
 * undoes everything it did and names the step that failed. */
#include "runtime/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STACK_SIZE (256 * 1024)

static int write_idmap(pid_t pid, const char *file, const struct zl_oci_idmap *m, size_t n,
                       struct zl_err *err)
{
    struct zl_buf b;
    zl_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        zl_buf_printf(&b, "%u %u %u\n", m[i].container_id, m[i].host_id, m[i].size);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int rc = zl_write_text(path, b.data ? b.data : "", false, err);
    zl_buf_fini(&b);
    return rc;
}

/* Remove a state folder and what is in it (flat: state.json, exec.fifo, logs). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(dirfd(d), e->d_name, 0);
    if (d)
        closedir(d);
    rmdir(dir);
}

static char *now_rfc3339(void)
{
    char buf[64];
    zl_time_rfc3339(buf, sizeof(buf), true);
    return zl_xstrdup(buf);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char *p = zl_xstrdup(path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, mode);
            *s = '/';
        }
    int rc = mkdir(p, mode) < 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

int zl_runtime__console_connect(const char *path, struct zl_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return zl_err_set(err, ZL_EINVAL, "console socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return zl_err_sys(err, e, "connect to console socket %s", path);
    }
    return fd;
}

/* Join a pid namespace given by path: it applies to the children we clone next. */
static int join_pid_ns(const struct zl_oci_config *c, struct zl_err *err)
{
    for (size_t i = 0; i < c->nnamespaces; i++) {
        if (c->namespaces[i].type != CLONE_NEWPID || !c->namespaces[i].path)
            continue;
        int fd = open(c->namespaces[i].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWPID) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return zl_err_sys(err, e, "join pid namespace %s", c->namespaces[i].path);
        }
        close(fd);
    }
    return 0;
}

static int clone_flags(const struct zl_oci_config *c)
{
    int flags = 0;
    for (size_t i = 0; i < c->nnamespaces; i++)
        if (!c->namespaces[i].path && c->namespaces[i].type != CLONE_NEWCGROUP)
            flags |= c->namespaces[i].type;
    return flags;
}

/* Undo a failed creation: the process, the cgroup, the state folder. */
static void undo(struct creation *k)
{
    if (k->pid > 0) {
        kill(k->pid, SIGKILL);
        waitpid(k->pid, NULL, 0);
    }
    if (k->cg) {
        struct zl_err ignored;
        zl_runtime__cgroup_destroy(k->cg, &ignored);
    }
    if (k->dir)
        remove_dir(k->dir);
}

/* Wait for the init's verdict: ready, or an error it sends, or its death. */
static int await_ready(struct creation *k, struct zl_err *err)
{
    char buf[sizeof(err->msg) + 1];
    struct pollfd p = {.fd = k->sync, .events = POLLIN};
    int r = poll(&p, 1, 60000);
    if (r == 0)
        return zl_err_set(err, ZL_EINVAL, "container set-up did not finish within 60 s");
    ssize_t n = read(k->sync, buf, sizeof(buf) - 1);
    if (n == 1 && buf[0] == ZL_SYNC_READY)
        return 0;
    if (n > 1 && buf[0] == ZL_SYNC_ERROR) {
        buf[n] = '\0';
        return zl_err_set(err, ZL_EINVAL, "%s", buf + 1);
    }
    int status = 0;
    if (waitpid(k->pid, &status, 0) == k->pid)
        k->pid = 0;
    return zl_err_set(err, ZL_EINVAL, "the container process died during set-up (%s %d)",
                      WIFSIGNALED(status) ? "signal" : "status",
                      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static int do_clone(struct creation *k, const int stdio[3], bool wait_fifo, struct zl_err *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return zl_err_sys(err, errno, "socketpair");
    struct zl_init_args args = {
        .cfg = k->cfg,
        .sync_fd = sv[1],
        .fifo_fd = wait_fifo ? k->fifo : -1,
        .console_fd = k->console,
        .stdio = {stdio[0], stdio[1], stdio[2]},
        .no_pivot = k->o->no_pivot,
    };
    void *stack =
        mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) {
        close(sv[0]);
        close(sv[1]);
        return zl_err_sys(err, errno, "allocate a stack");
    }
    fflush(NULL);
    k->pid =
        clone(zl_runtime__init, (char *)stack + STACK_SIZE, clone_flags(k->cfg) | SIGCHLD, &args);
    int e = errno;
    munmap(stack, STACK_SIZE);
    close(sv[1]);
    k->sync = sv[0];
    if (k->pid < 0) {
        k->pid = 0;
        return zl_err_sys(err, e, "clone");
    }
    return 0;
}

/* Steps between clone and go: id maps, cgroup, oom score, state, hooks. */
static int configure(struct creation *k, struct zl_err *err)
{
    struct zl_oci_config *c = k->cfg;
    if (c->nuid_mappings &&
        (write_idmap(k->pid, "uid_map", c->uid_mappings, c->nuid_mappings, err) < 0 ||
         write_idmap(k->pid, "gid_map", c->gid_mappings, c->ngid_mappings, err) < 0))
        return zl_err_wrap(err, "user namespace mappings");
    char *cgpath = c->cgroups_path && *c->cgroups_path ? zl_xstrdup(c->cgroups_path)
                                                       : zl_xasprintf("/zlayer/%s", k->o->id);
    int rc = zl_runtime__cgroup_create(cgpath, c->has_resources ? &c->resources : NULL, k->pid,
                                       &k->cg, err);
    k->st.cgroup_path = cgpath;
    if (rc < 0)
        return zl_err_wrap(err, "cgroup %s", cgpath);
    if (c->has_oom_score_adj) {
        char path[64], val[16];
        snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)k->pid);
        snprintf(val, sizeof(val), "%d", c->oom_score_adj);
        if (zl_write_text(path, val, false, err) < 0)
            return zl_err_wrap(err, "oom score");
    }
    k->st.pid = k->pid;
    k->st.start_time = zl_runtime__pid_start_time(k->pid);
    if (zl_runtime__state_write(k->dir, &k->st, err) < 0)
        return -1;
    char *json = zl_runtime__state_oci_json(&k->st, ZL_STATUS_CREATING);
    rc = zl_runtime__hooks_run(&c->hooks[ZL_HOOK_PRESTART], json, "prestart", err);
    if (rc == 0)
        rc = zl_runtime__hooks_run(&c->hooks[ZL_HOOK_CREATE_RUNTIME], json, "createRuntime", err);
    free(json);
    return rc;
}

static int begin(struct creation *k, struct zl_err *err)
{
    const struct zl_runtime_create_opts *o = k->o;
    char *dir = zl_runtime__state_dir(o->root, o->id, err);
    if (!dir)
        return -1;
    if (zl_runtime__config_load(o->bundle, &k->cfg, err) < 0) {
        free(dir);
        return -1;
    }
    if (mkdir_p(o->root, 0700) < 0) {
        free(dir);
        return zl_err_sys(err, errno, "create state root %s", o->root);
    }
    if (mkdir(dir, 0700) < 0) {
        int e = errno;
        free(dir);
        if (e == EEXIST)
            return zl_err_set(err, ZL_EINVAL, "container %s already exists", o->id);
        return zl_err_sys(err, e, "create state folder");
    }
    k->dir = dir;
    char *abs = realpath(o->bundle, NULL);
    k->st.id = zl_xstrdup(o->id);
    k->st.bundle = abs ? abs : zl_xstrdup(o->bundle);
    k->st.rootfs = zl_xstrdup(k->cfg->root_path);
    k->st.created = now_rfc3339();
    k->st.annotations_json = k->cfg->annotations_json ? zl_xstrdup(k->cfg->annotations_json) : NULL;
    return zl_runtime__state_write(dir, &k->st, err);
}

/* Everything of create, up to the init waiting for start (wait_fifo) or about to exec. */
int zl_runtime__create(struct creation *k, const int stdio[3], bool wait_fifo, struct zl_err *err)
{
    k->sync = k->fifo = k->console = -1;
    if (begin(k, err) < 0)
        return -1;
    int rc = 0;
    if (wait_fifo) {
        char *fifo = zl_xasprintf("%s/exec.fifo", k->dir);
        /* writable by the container's user, whoever it is: only this folder's owner can
         * reach the path, and the init already holds it open (O_PATH) */
        if (mkfifo(fifo, 0622) < 0 || chmod(fifo, 0622) < 0 ||
            (k->fifo = open(fifo, O_PATH | O_CLOEXEC)) < 0)
            rc = zl_err_sys(err, errno, "exec fifo %s", fifo);
        free(fifo);
    }
    if (rc == 0 && k->o->console_socket && k->cfg->terminal) {
        k->console = zl_runtime__console_connect(k->o->console_socket, err);
        rc = k->console < 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = join_pid_ns(k->cfg, err);
    if (rc == 0)
        rc = do_clone(k, stdio, wait_fifo, err);
    if (rc == 0)
        rc = configure(k, err);
    if (rc == 0) {
        /* "go", with the state the init hands to createContainer/startContainer hooks */
        char *json = zl_runtime__state_oci_json(&k->st, ZL_STATUS_CREATING);
        size_t n = strlen(json);
        char *msg = zl_xmalloc(n + 1);
        msg[0] = ZL_SYNC_GO;
        memcpy(msg + 1, json, n);
        if (n + 1 > ZL_SYNC_MAX || write(k->sync, msg, n + 1) != (ssize_t)(n + 1))
            rc = zl_err_sys(err, errno ? errno : E2BIG, "signal the container process");
        free(msg);
        free(json);
    }
    if (rc == 0)
        rc = await_ready(k, err);
    if (k->fifo >= 0)
        close(k->fifo);
    if (k->console >= 0)
        close(k->console);
    if (k->sync >= 0)
        close(k->sync);
    if (rc < 0) {
        zl_err_wrap(err, "create %s", k->o->id);
        undo(k);
        return -1;
    }
    if (k->o->pid_file) {
        char *tmp = zl_xasprintf("%s.tmp", k->o->pid_file);
        FILE *f = fopen(tmp, "we");
        if (!f || fprintf(f, "%d", (int)k->pid) < 0 || fclose(f) != 0 ||
            rename(tmp, k->o->pid_file) < 0) {
            rc = zl_err_sys(err, errno, "write pid file %s", k->o->pid_file);
            undo(k);
        }
        free(tmp);
    }
    return rc;
}

void zl_runtime__creation_fini(struct creation *k)
{
    zl_runtime__config_free(k->cfg);
    zl_runtime__cgroup_free(k->cg);
    zl_runtime__state_fini(&k->st);
    free(k->dir);
}

int zl_runtime_create(const struct zl_runtime_create_opts *o, struct zl_err *err)
{
    struct creation k = {.o = o};
    int rc = zl_runtime__create(&k, (const int[]){-1, -1, -1}, true, err);
    zl_runtime__creation_fini(&k);
    return rc;
}

/* After a foreground run: cgroup, poststop hooks, state folder. */
void zl_runtime__finish(struct creation *k)
{
    struct zl_err err;
    if (k->cg && zl_runtime__cgroup_destroy(k->cg, &err) < 0)
        fprintf(stderr, "zlayer: warning: %s\n", err.msg);
    char *json = zl_runtime__state_oci_json(&k->st, ZL_STATUS_STOPPED);
    if (zl_runtime__hooks_run(&k->cfg->hooks[ZL_HOOK_POSTSTOP], json, "poststop", &err) < 0)
        fprintf(stderr, "zlayer: warning: %s\n", err.msg);
    free(json);
    remove_dir(k->dir);
}

/* ---------------- start, kill, delete, state ---------------- */

static int load(const char *root, const char *id, struct zl_cstate *st, char **dir,
                enum zl_runtime_status *status, struct zl_err *err)
{
    if (zl_runtime__state_read(root, id, st, err) < 0)
        return -1;
    *dir = zl_runtime__state_dir(root, id, err);
    *status = zl_runtime__state_status(*dir, st);
    return 0;
}

static int run_hooks_from_bundle(const struct zl_cstate *st, int kind, const char *name,
                                 enum zl_runtime_status status, struct zl_err *err)
{
    struct zl_oci_config *c = NULL;
    if (!st->bundle || zl_runtime__config_load(st->bundle, &c, err) < 0)
        return 0; /* the bundle is gone: no hooks to run */
    char *json = zl_runtime__state_oci_json(st, status);
    int rc = zl_runtime__hooks_run(&c->hooks[kind], json, name, err);
    free(json);
    zl_runtime__config_free(c);
    return rc;
}

int zl_runtime_start(const char *root, const char *id, struct zl_err *err)
{
    struct zl_cstate st;
    char *dir = NULL;
    enum zl_runtime_status status;
    if (load(root, id, &st, &dir, &status, err) < 0)
        return -1;
    int rc = 0;
    if (status != ZL_STATUS_CREATED) {
        rc = zl_err_set(err, ZL_EINVAL, "container %s is %s, not created", id,
                        zl_runtime_status_name(status));
        goto out;
    }
    char *fifo = zl_xasprintf("%s/exec.fifo", dir);
    int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        rc = zl_err_sys(err, errno, "open %s", fifo);
        free(fifo);
        goto out;
    }
    /* the init opens its end once we are here; give up if it dies meanwhile */
    char byte;
    rc = zl_err_set(err, ZL_EINVAL, "container %s exited before it could start", id);
    for (int i = 0; i < 600; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0 && read(fd, &byte, 1) == 1) {
            rc = 0;
            break;
        }
        if (zl_runtime__pid_start_time(st.pid) != st.start_time)
            break;
    }
    close(fd);
    unlink(fifo);
    free(fifo);
    if (rc == 0) {
        st.started = true;
        rc = zl_runtime__state_write(dir, &st, err);
    }
    if (rc == 0)
        rc = run_hooks_from_bundle(&st, ZL_HOOK_POSTSTART, "poststart", ZL_STATUS_RUNNING, err);
out:
    zl_runtime__state_fini(&st);
    free(dir);
    return rc;
}

int zl_runtime_kill(const char *root, const char *id, int sig, bool all, struct zl_err *err)
{
    struct zl_cstate st;
    char *dir = NULL;
    enum zl_runtime_status status;
    if (load(root, id, &st, &dir, &status, err) < 0)
        return -1;
    int rc = 0;
    if (status != ZL_STATUS_CREATED && status != ZL_STATUS_RUNNING) {
        rc = zl_err_set(err, ZL_EINVAL, "container %s is %s", id, zl_runtime_status_name(status));
    } else if (all && st.cgroup_path) {
        struct zl_cgroup *cg = NULL;
        rc = zl_runtime__cgroup_open(st.cgroup_path, &cg, err);
        if (rc == 0)
            rc = zl_runtime__cgroup_kill(cg, sig, err);
        zl_runtime__cgroup_free(cg);
    } else if (kill(st.pid, sig) < 0) {
        rc = zl_err_sys(err, errno, "kill %d", (int)st.pid);
    }
    zl_runtime__state_fini(&st);
    free(dir);
    return rc;
}

/* Wait (bounded) for the container's process to be gone. */
static bool wait_gone(const struct zl_cstate *st, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (zl_runtime__pid_start_time(st->pid) != st->start_time)
            return true;
        waitpid(st->pid, NULL, WNOHANG); /* ours when we are the parent */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return zl_runtime__pid_start_time(st->pid) != st->start_time;
}

/* Is pid alive and not a zombie? */
static bool alive(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *end = strrchr(buf, ')'); /* the state follows the (command) */
    return end && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

/* The monitor records the container's end in its state folder, then exits: wait for that
 * (a bounded while) so that the folder is not removed under its last write. */
static void wait_monitor(const struct zl_cstate *st, int ms)
{
    if (st->monitor_pid <= 0 || st->monitor_pid == getpid())
        return;
    for (int i = 0; i < ms / 10 && alive(st->monitor_pid); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int zl_runtime_delete(const char *root, const char *id, bool force, struct zl_err *err)
{
    struct zl_cstate st;
    char *dir = NULL;
    enum zl_runtime_status status;
    if (load(root, id, &st, &dir, &status, err) < 0)
        return -1;
    int rc = 0;
    struct zl_cgroup *cg = NULL;
    if (st.cgroup_path)
        zl_runtime__cgroup_open(st.cgroup_path, &cg, err);
    if (status == ZL_STATUS_RUNNING || status == ZL_STATUS_CREATED) {
        if (!force) {
            rc = zl_err_set(err, ZL_EINVAL, "container %s is %s: stop it first or use --force", id,
                            zl_runtime_status_name(status));
            goto out;
        }
        if (cg)
            zl_runtime__cgroup_kill(cg, SIGKILL, err);
        kill(st.pid, SIGKILL);
        if (!wait_gone(&st, 5000)) {
            rc = zl_err_set(err, ZL_EINVAL, "container %s did not die after SIGKILL", id);
            goto out;
        }
    }
    if (cg && zl_runtime__cgroup_destroy(cg, err) < 0) {
        rc = zl_err_wrap(err, "delete %s", id);
        goto out;
    }
    wait_monitor(&st, 2000);
    struct zl_err hook_err;
    if (run_hooks_from_bundle(&st, ZL_HOOK_POSTSTOP, "poststop", ZL_STATUS_STOPPED, &hook_err) < 0)
        fprintf(stderr, "zlayer: warning: %s\n", hook_err.msg); /* poststop failures only warn */
    remove_dir(dir);
out:
    zl_runtime__cgroup_free(cg);
    zl_runtime__state_fini(&st);
    free(dir);
    return rc;
}

int zl_runtime_state_json(const char *root, const char *id, char **json, struct zl_err *err)
{
    struct zl_cstate st;
    char *dir = NULL;
    enum zl_runtime_status status;
    if (load(root, id, &st, &dir, &status, err) < 0)
        return -1;
    *json = zl_runtime__state_oci_json(&st, status);
    zl_runtime__state_fini(&st);
    free(dir);
    return 0;
}

int zl_runtime_list_json(const char *root, char **json, struct zl_err *err)
{
    json_t *arr = json_array();
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        struct zl_cstate st;
        struct zl_err ignore;
        if (zl_runtime__state_read(root, e->d_name, &st, &ignore) < 0)
            continue;
        char *dir = zl_xasprintf("%s/%s", root, e->d_name);
        enum zl_runtime_status s = zl_runtime__state_status(dir, &st);
        /* exit code as a shell shows it: 128+N for signal N, -1 while unknown */
        int code = -1;
        if (s == ZL_STATUS_STOPPED && st.has_exit)
            code = WIFSIGNALED(st.exit_status) ? 128 + WTERMSIG(st.exit_status)
                                               : WEXITSTATUS(st.exit_status);
        json_t *ann = st.annotations_json ? json_loads(st.annotations_json, 0, NULL) : NULL;
        json_array_append_new(
            arr, json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:b, s:o}", "id", st.id, "pid",
                           s == ZL_STATUS_STOPPED ? 0 : (int)st.pid, "status",
                           zl_runtime_status_name(s), "bundle", st.bundle ? st.bundle : "",
                           "created", st.created ? st.created : "", "exit_code", code, "oom_killed",
                           st.oom_killed, "annotations", ann ? ann : json_object()));
        free(dir);
        zl_runtime__state_fini(&st);
    }
    if (d)
        closedir(d);
    else if (errno != ENOENT) {
        json_decref(arr);
        return zl_err_sys(err, errno, "read %s", root);
    }
    *json = json_dumps(arr, JSON_INDENT(2));
    json_decref(arr);
    return 0;
}

int zl_runtime_stats_json(const char *root, const char *id, char **json, struct zl_err *err)
{
    struct zl_cstate st;
    char *dir = NULL;
    enum zl_runtime_status status;
    if (load(root, id, &st, &dir, &status, err) < 0)
        return -1;
    struct zl_cgroup *cg = NULL;
    struct zl_cgroup_stats s;
    int rc = st.cgroup_path ? zl_runtime__cgroup_open(st.cgroup_path, &cg, err)
                            : zl_err_set(err, ZL_EINVAL, "container %s has no cgroup", id);
    if (rc == 0)
        rc = zl_runtime__cgroup_stats(cg, &s, err);
    if (rc == 0) {
        /* "unlimited" is UINT64_MAX, which JSON integers cannot hold: write null */
        json_t *j = json_pack(
            "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "id", id, "status",
            zl_runtime_status_name(status), "cpu_usage_ns", (json_int_t)s.cpu_usage_ns,
            "memory_usage", (json_int_t)s.memory_usage, "pids_current", (json_int_t)s.pids_current,
            "io_read_bytes", (json_int_t)s.io_read_bytes, "io_write_bytes",
            (json_int_t)s.io_write_bytes, "oom_kills", (json_int_t)s.oom_kills);
        json_object_set_new(
            j, "memory_limit",
            s.memory_limit == UINT64_MAX ? json_null() : json_integer((json_int_t)s.memory_limit));
        json_object_set_new(j, "pids_limit",
                            s.pids_limit == UINT64_MAX ? json_null()
                                                       : json_integer((json_int_t)s.pids_limit));
        *json = json_dumps(j, JSON_INDENT(2));
        json_decref(j);
    }
    zl_runtime__cgroup_free(cg);
    zl_runtime__state_fini(&st);
    free(dir);
    return rc;
}

int zl_runtime_ps(const char *root, const char *id, pid_t **pids, size_t *n, struct zl_err *err)
{
    struct zl_cstate st;
    char *dir = NULL;
    enum zl_runtime_status status;
    if (load(root, id, &st, &dir, &status, err) < 0)
        return -1;
    struct zl_cgroup *cg = NULL;
    int rc = st.cgroup_path ? zl_runtime__cgroup_open(st.cgroup_path, &cg, err)
                            : zl_err_set(err, ZL_EINVAL, "container %s has no cgroup", id);
    if (rc == 0)
        rc = zl_runtime__cgroup_pids(cg, pids, n, err);
    zl_runtime__cgroup_free(cg);
    zl_runtime__state_fini(&st);
    free(dir);
    return rc;
}
