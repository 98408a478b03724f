/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/monitor.c: `run`: in the foreground (wait, forward signals, clean up) or detached,
 * where a monitor process stays the container's parent, writes its output to a log file as
 * JSON lines and records how it ended. */
#include "runtime/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_MAX_BYTES (10u << 20)

static volatile sig_atomic_t forward_to;

static void forward(int sig)
{
    if (forward_to > 0)
        kill(forward_to, sig);
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static int run_foreground(const struct zl_runtime_create_opts *o, int *status, struct zl_err *err)
{
    struct creation k = {.o = o};
    if (zl_runtime__create(&k, (const int[]){-1, -1, -1}, false, err) < 0) {
        zl_runtime__creation_fini(&k);
        return -1;
    }
    forward_to = k.pid;
    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < ZL_ARRAY_LEN(forwarded); i++)
        sigaction(forwarded[i], &sa, NULL);
    k.st.started = true;
    zl_runtime__state_write(k.dir, &k.st, err);
    while (waitpid(k.pid, status, 0) < 0 && errno == EINTR)
        ;
    forward_to = 0;
    k.pid = 0;
    zl_runtime__finish(&k);
    zl_runtime__creation_fini(&k);
    return 0;
}

/* ---------------- detached: the monitor ---------------- */

static void log_line(int fd, const char *stream, const char *s, size_t n)
{
    char when[48], head[128];
    zl_time_rfc3339(when, sizeof(when), true);
    size_t h = (size_t)snprintf(head, sizeof(head), "{\"time\":\"%s\",\"stream\":\"%s\",\"log\":\"",
                                when, stream);
    struct zl_buf b;
    zl_buf_init(&b);
    zl_buf_append(&b, head, h);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            zl_buf_printf(&b, "\\%c", c);
        else if (c == '\n')
            zl_buf_puts(&b, "\\n");
        else if (c < 0x20)
            zl_buf_printf(&b, "\\u%04x", c);
        else
            zl_buf_putc(&b, (char)c);
    }
    zl_buf_puts(&b, "\"}\n");
    if (write(fd, b.data, b.len) < 0) {
        /* a full disk loses log lines, never the container */
    }
    zl_buf_fini(&b);
}

struct logger {
    const char *path;
    int fd;
    char pending[2][8192]; /* a partial line per stream */
    size_t plen[2];
};

static void log_rotate(struct logger *l)
{
    struct stat st;
    if (l->fd < 0 || fstat(l->fd, &st) < 0 || (size_t)st.st_size < LOG_MAX_BYTES)
        return;
    char *old = zl_xasprintf("%s.1", l->path);
    rename(l->path, old);
    free(old);
    close(l->fd);
    l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* Split what arrived into lines; a line longer than the buffer is written in pieces. */
static void log_data(struct logger *l, int s, const char *buf, size_t n)
{
    static const char *const names[] = {"stdout", "stderr"};
    for (size_t i = 0; i < n; i++) {
        l->pending[s][l->plen[s]++] = buf[i];
        if (buf[i] == '\n' || l->plen[s] == sizeof(l->pending[s])) {
            if (l->fd >= 0)
                log_line(l->fd, names[s], l->pending[s], l->plen[s]);
            l->plen[s] = 0;
        }
    }
    log_rotate(l);
}

/* Poll the output pipes and a signalfd until the container's init has ended. */
static int watch(struct creation *k, int out, int errfd, struct logger *l)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (size_t i = 0; i < ZL_ARRAY_LEN(forwarded); i++)
        sigaddset(&set, forwarded[i]);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    struct pollfd p[3] = {{.fd = out, .events = POLLIN},
                          {.fd = errfd, .events = POLLIN},
                          {.fd = sfd, .events = POLLIN}};
    int status = 0;
    /* SIGCHLD was not blocked while the container was made (its process must not inherit
     * the mask): an init that ended that early left no signal behind, only a zombie */
    bool ended = waitpid(k->pid, &status, WNOHANG) == k->pid;
    char buf[16384];
    while (!ended || p[0].fd >= 0 || p[1].fd >= 0) {
        /* once the init is gone, drain what is left without waiting for grandchildren */
        if (poll(p, 3, ended ? 0 : -1) <= 0) {
            if (ended)
                break;
            continue;
        }
        for (int s = 0; s < 2; s++) {
            if (!(p[s].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t n = read(p[s].fd, buf, sizeof(buf));
            if (n > 0)
                log_data(l, s, buf, (size_t)n);
            else if (n == 0 || errno != EINTR)
                p[s].fd = -1;
        }
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGCHLD)
                kill(k->pid, (int)si.ssi_signo);
            if (waitpid(k->pid, &status, WNOHANG) == k->pid)
                ended = true;
        }
    }
    close(sfd);
    return status;
}

/* The monitor's body after fork: create, report to the caller, watch, record the end. */
/* A monitor outlives whoever started it: it must not keep that process's files open (a
 * daemon's listening socket or lock file would stay held by every monitor). */
static void close_inherited(int keep)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd > 2 && fd != keep && fd != self)
            close(fd);
    }
    closedir(d);
}

const char *zl_runtime_self_exe;

static _Noreturn void monitor(const struct zl_runtime_create_opts *o, int report)
{
    /* the container's process must not keep the report pipe past its exec */
    fcntl(report, F_SETFD, FD_CLOEXEC);
    close_inherited(report);
    setsid();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (size_t i = 0; i < ZL_ARRAY_LEN(forwarded); i++)
        sigaddset(&set, forwarded[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int out[2], errp[2];
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    struct zl_err err;
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || devnull < 0) {
        zl_err_sys(&err, errno, "pipes for the container's output");
        dprintf(report, "%s", err.msg);
        _exit(1);
    }
    struct creation k = {.o = o};
    /* the child must not inherit our blocked signal mask */
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    int rc = zl_runtime__create(&k, (const int[]){devnull, out[1], errp[1]}, o->hold, &err);
    sigprocmask(SIG_BLOCK, &set, NULL);
    close(out[1]);
    close(errp[1]);
    if (rc < 0) {
        dprintf(report, "%s", err.msg);
        _exit(1);
    }
    k.st.started = !o->hold;
    k.st.monitor_pid = getpid();
    zl_runtime__state_write(k.dir, &k.st, &err);
    /* one NUL byte says it worked: a held container's process keeps a copy of this pipe
     * until it execs, so the end of the pipe cannot be the signal */
    if (write(report, "", 1) != 1) {
        /* the caller is gone; the container is watched all the same */
    }
    close(report);
    for (int fd = 0; fd < 3; fd++)
        dup2(devnull, fd);
    struct logger l = {.path = o->log_file, .fd = -1};
    if (o->log_file)
        l.fd = open(o->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    int status = watch(&k, out[0], errp[0], &l);
    k.st.has_exit = true;
    k.st.exit_status = status;
    struct zl_cgroup_stats cs;
    if (k.cg && zl_runtime__cgroup_stats(k.cg, &cs, &err) == 0)
        k.st.oom_killed = cs.oom_kills > 0;
    k.st.pid = k.pid;
    zl_runtime__state_write(k.dir, &k.st, &err);
    _exit(0);
}

void zl_runtime_monitor_main(const struct zl_runtime_create_opts *o, int report)
{
    monitor(o, report);
}

/* Is this process single-threaded (a fork of it may do anything)? */
static bool one_thread(void)
{
    char buf[4096];
    FILE *f = fopen("/proc/self/status", "re");
    bool one = false;
    while (f && fgets(buf, sizeof(buf), f))
        if (!strncmp(buf, "Threads:", 8))
            one = strtol(buf + 8, NULL, 10) == 1;
    if (f)
        fclose(f);
    return one;
}

/* A fresh process (this program again, `runtime _monitor`, the report pipe its fd 3): what
 * a threaded caller without a spawner falls back to. */
static pid_t exec_monitor(const struct zl_runtime_create_opts *o, int report_w)
{
    char *argv[20];
    size_t n = 0;
    argv[n++] = "zlayer";
    argv[n++] = "runtime";
    argv[n++] = "--root";
    argv[n++] = (char *)o->root;
    argv[n++] = "_monitor";
    argv[n++] = "--bundle";
    argv[n++] = (char *)o->bundle;
    if (o->log_file) {
        argv[n++] = "--log-file";
        argv[n++] = (char *)o->log_file;
    }
    if (o->pid_file) {
        argv[n++] = "--pid-file";
        argv[n++] = (char *)o->pid_file;
    }
    if (o->console_socket) {
        argv[n++] = "--console-socket";
        argv[n++] = (char *)o->console_socket;
    }
    if (o->no_pivot)
        argv[n++] = "--no-pivot";
    if (o->hold)
        argv[n++] = "--hold";
    argv[n++] = (char *)o->id;
    argv[n] = NULL;
    fflush(NULL);
    pid_t m = fork();
    if (m == 0) {
        /* only async-signal-safe calls from here to exec; fd 3 must survive it */
        if (report_w == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(report_w, 3) < 0)
            _exit(126);
        execv(zl_runtime_self_exe ? zl_runtime_self_exe : "/proc/self/exe", argv);
        _exit(127);
    }
    return m;
}

/* The monitor comes from the spawner (the daemon), a plain fork (a single-threaded caller:
 * the CLI), or an exec of this program (any other threaded caller). Then it reports: one
 * NUL byte when the container is created, else the error. */
static int run_detached(const struct zl_runtime_create_opts *o, struct zl_err *err)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0)
        return zl_err_sys(err, errno, "pipe");
    pid_t m = 0; /* our own child, or 0: the spawner's */
    int rc = zl_runtime__spawn_monitor(o, report[1]);
    if (rc < 0 && rc != -ENOSYS)
        zl_log("warn", "runtime", "the monitor spawner failed (%s); exec'ing the monitor",
               strerror(-rc));
    if (rc < 0 && one_thread()) {
        fflush(NULL);
        m = fork();
        if (m == 0) {
            close(report[0]);
            monitor(o, report[1]);
        }
    } else if (rc < 0)
        m = exec_monitor(o, report[1]);
    close(report[1]);
    if (m < 0) {
        int e = errno;
        close(report[0]);
        return zl_err_sys(err, e, "fork the monitor");
    }
    char msg[sizeof(err->msg)];
    ssize_t got = read(report[0], msg, sizeof(msg) - 1);
    close(report[0]);
    if (got > 0 && msg[0] != '\0') {
        msg[got] = '\0';
        if (m > 0)
            waitpid(m, NULL, 0);
        return zl_err_set(err, ZL_EINVAL, "%s", msg);
    }
    if (got <= 0) {
        int st = 0;
        if (m > 0)
            waitpid(m, &st, 0);
        return zl_err_set(err, ZL_EINVAL, "the monitor of %s died while starting", o->id);
    }
    return 0;
}

int zl_runtime_run(const struct zl_runtime_create_opts *o, bool detach, int *status,
                   struct zl_err *err)
{
    *status = 0;
    return detach ? run_detached(o, err) : run_foreground(o, status, err);
}
