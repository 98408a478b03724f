/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/backend_oci.c: the backend that drives an external OCI runtime binary (crun, runc)
 * through its command line, on the same bundles and state root. */
#include "runtime/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *zl_runtime__backend_find_binary(const char *name, struct zl_err *err)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) < 0) {
            zl_err_sys(err, errno, "OCI runtime %s", name);
            return NULL;
        }
        return zl_xstrdup(name);
    }
    const char *path = getenv("PATH");
    char *found = zl_path_lookup(name, path && *path ? path : NULL);
    if (!found)
        zl_err_set(err, ZL_ENOTFOUND, "OCI runtime '%s' not found in $PATH", name);
    return found;
}

struct argv {
    char *v[64];
    int n;
};

static void add(struct argv *a, const char *s)
{
    if (a->n < 63)
        a->v[a->n++] = (char *)s;
    a->v[a->n] = NULL;
}

/* The last line the runtime logged, with runc's `msg="..."` taken out when present. */
static void last_log_line(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    char line[1024];
    while (f && fgets(line, sizeof(line), f))
        if (line[0] != '\n') {
            size_t n = strnlen(line, cap - 1);
            memcpy(out, line, n);
            out[n] = '\0';
        }
    if (f)
        fclose(f);
    char *m = strstr(out, "msg=\"");
    if (m) {
        memmove(out, m + 5, strlen(m + 5) + 1);
        char *q = strrchr(out, '"');
        if (q)
            *q = '\0';
    }
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
}

/* Run the runtime. Its own errors go to a --log file we read afterwards: its stdio may be
 * inherited by a container that outlives the call, so no pipe of ours may be given to it
 * except stdout for commands that start no process (state). stdio_fd >= 0: the container's
 * stdout and stderr. status: when given, the exit status is returned instead of judged. */
static int call(struct zl_runtime_backend *b, struct argv *a, char **out, int stdio_fd, int *status,
                struct zl_err *err)
{
    char logpath[] = "/tmp/zlayer-oci-log-XXXXXX";
    int logfd = mkstemp(logpath);
    if (logfd < 0)
        return zl_err_sys(err, errno, "temporary log file");
    close(logfd);
    int o[2] = {-1, -1};
    if (out && pipe2(o, O_CLOEXEC) < 0) {
        unlink(logpath);
        return zl_err_sys(err, errno, "pipe");
    }
    /* argv: binary --log FILE <the rest> */
    struct argv full = {.n = 0};
    add(&full, a->v[0]);
    add(&full, "--log");
    add(&full, logpath);
    for (int i = 1; i < a->n; i++)
        add(&full, a->v[i]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        int sink = stdio_fd >= 0 ? stdio_fd : nul;
        dup2(nul, 0);
        dup2(out ? o[1] : sink, 1);
        dup2(sink, 2);
        execv(b->binary, full.v);
        _exit(127);
    }
    if (out)
        close(o[1]);
    struct zl_buf ob;
    zl_buf_init(&ob);
    char buf[4096];
    ssize_t n;
    while (out && (n = read(o[0], buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        zl_buf_append(&ob, buf, (size_t)n);
    }
    if (out)
        close(o[0]);
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    int rc = 0;
    if (pid < 0) {
        rc = zl_err_sys(err, errno, "fork %s", b->binary);
    } else if (status) {
        *status = st;
    } else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        char msg[sizeof(err->msg) - 64];
        last_log_line(logpath, msg, sizeof(msg));
        rc = zl_err_set(err, ZL_EINVAL, "%s %s: %s", b->name, a->v[3] ? a->v[3] : "",
                        msg[0] ? msg : "failed");
    }
    unlink(logpath);
    if (out && rc == 0)
        *out = zl_buf_steal(&ob, NULL);
    zl_buf_fini(&ob);
    return rc;
}

/* The binary with our stdio (a terminal stays the caller's); waits, its status in *status. */
static int run_attached(struct zl_runtime_backend *b, struct argv *a, int *status,
                        struct zl_err *err)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execv(b->binary, a->v);
        _exit(127);
    }
    if (pid < 0)
        return zl_err_sys(err, errno, "fork %s", b->binary);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

static void base(struct zl_runtime_backend *b, struct argv *a, const char *cmd)
{
    a->n = 0;
    add(a, b->binary);
    add(a, "--root");
    add(a, b->root);
    add(a, cmd);
}

static void bundle_args(struct argv *a, const struct zl_runtime_create_opts *o)
{
    add(a, "--bundle");
    add(a, o->bundle);
    if (o->pid_file) {
        add(a, "--pid-file");
        add(a, o->pid_file);
    }
    if (o->console_socket) {
        add(a, "--console-socket");
        add(a, o->console_socket);
    }
    if (o->no_pivot)
        add(a, "--no-pivot");
}

static int create(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o,
                  struct zl_err *err)
{
    struct argv a;
    base(b, &a, "create");
    bundle_args(&a, o);
    add(&a, o->id);
    return call(b, &a, NULL, -1, NULL, err);
}

static int start(struct zl_runtime_backend *b, const char *id, struct zl_err *err)
{
    struct argv a;
    base(b, &a, "start");
    add(&a, id);
    return call(b, &a, NULL, -1, NULL, err);
}

static int run(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o, bool detach,
               int *status, struct zl_err *err)
{
    struct argv a;
    base(b, &a, detach && o->hold ? "create" : "run");
    bundle_args(&a, o);
    if (detach && !o->hold)
        add(&a, "--detach");
    add(&a, o->id);
    if (!detach) {
        /* the container's output is the caller's, as with the native runtime */
        return run_attached(b, &a, status, err);
    }
    int fd = o->log_file ? open(o->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)
                         : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return zl_err_sys(err, errno, "open %s", o->log_file ? o->log_file : "/dev/null");
    *status = 0;
    int st = 0, rc = call(b, &a, NULL, fd, &st, err);
    close(fd);
    if (rc == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        rc = zl_err_set(err, ZL_EINVAL, "%s run -d %s failed (status %d)", b->name, o->id,
                        WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return rc;
}

static int state(struct zl_runtime_backend *b, const char *id, char **json, struct zl_err *err)
{
    struct argv a;
    base(b, &a, "state");
    add(&a, id);
    return call(b, &a, json, -1, NULL, err);
}

static int kill_(struct zl_runtime_backend *b, const char *id, int sig, bool all,
                 struct zl_err *err)
{
    struct argv a;
    char num[16];
    snprintf(num, sizeof(num), "%d", sig);
    base(b, &a, "kill");
    if (all)
        add(&a, "--all");
    add(&a, id);
    add(&a, num);
    return call(b, &a, NULL, -1, NULL, err);
}

static int del(struct zl_runtime_backend *b, const char *id, bool force, struct zl_err *err)
{
    struct argv a;
    base(b, &a, "delete");
    if (force)
        add(&a, "--force");
    add(&a, id);
    return call(b, &a, NULL, -1, NULL, err);
}

static int exec_(struct zl_runtime_backend *b, const struct zl_runtime_exec_opts *o, int *status,
                 struct zl_err *err)
{
    struct argv a;
    base(b, &a, "exec");
    if (o->tty)
        add(&a, "--tty");
    if (o->detach)
        add(&a, "--detach");
    if (o->pid_file) {
        add(&a, "--pid-file");
        add(&a, o->pid_file);
    }
    if (o->console_socket) {
        add(&a, "--console-socket");
        add(&a, o->console_socket);
    }
    if (o->process_file) {
        add(&a, "--process");
        add(&a, o->process_file);
    }
    if (o->cwd) {
        add(&a, "--cwd");
        add(&a, o->cwd);
    }
    if (o->user) {
        add(&a, "--user");
        add(&a, o->user);
    }
    for (size_t i = 0; o->env && o->env[i]; i++) {
        add(&a, "--env");
        add(&a, o->env[i]);
    }
    add(&a, o->id);
    for (size_t i = 0; !o->process_file && o->args && o->args[i]; i++)
        add(&a, o->args[i]);
    return run_attached(b, &a, status, err);
}

const struct zl_backend_ops zl_runtime__backend_oci = {
    .create = create,
    .start = start,
    .run = run,
    .state = state,
    .kill = kill_,
    .del = del,
    .exec = exec_,
};
