/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/exec.c: `exec`: a new process in a running container's namespaces and cgroup, with
 * its user, capabilities and seccomp filter, with or without a terminal. */
#include "runtime/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* The order matters: the user namespace first (it grants the rest), the mount one last. */
static const struct {
    const char *name;
    int type;
} ns_order[] = {
    {"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET},   {"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP},
    {"mnt", CLONE_NEWNS},
};

struct exec_ctx {
    struct zl_oci_config *cfg;
    struct zl_cgroup *cg;
    int nsfd[ZL_ARRAY_LEN(ns_order)];
    int report;   /* write end, CLOEXEC */
    int console;  /* the console socket (ours or the caller's), -1 without a tty */
    bool with_us; /* not detached: the process dies with the exec that waits for it */
};

/* Open the container's namespaces that differ from ours. */
static int open_namespaces(pid_t pid, struct exec_ctx *x, struct zl_err *err)
{
    for (size_t i = 0; i < ZL_ARRAY_LEN(ns_order); i++) {
        char theirs[64], ours[64];
        snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", (int)pid, ns_order[i].name);
        snprintf(ours, sizeof(ours), "/proc/self/ns/%s", ns_order[i].name);
        struct stat a, b;
        x->nsfd[i] = -1;
        if (stat(theirs, &a) < 0)
            return zl_err_sys(err, errno, "namespace %s of %d", ns_order[i].name, (int)pid);
        if (stat(ours, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            continue;
        x->nsfd[i] = open(theirs, O_RDONLY | O_CLOEXEC);
        if (x->nsfd[i] < 0)
            return zl_err_sys(err, errno, "open %s", theirs);
    }
    return 0;
}

static _Noreturn void fail_child(int report, const struct zl_err *err)
{
    dprintf(report, "E%s", err->msg);
    _exit(127);
}

/* The process that ends up in the container: its parent is the caller (CLONE_PARENT). */
static _Noreturn void exec_child(struct exec_ctx *x)
{
    struct zl_err err;
    const struct zl_oci_config *c = x->cfg;
    if (x->console >= 0) {
        if (zl_runtime__console_setup(x->console, false, &err) < 0)
            fail_child(x->report, &err);
    }
    if (zl_runtime__process_setup(c, &err) < 0)
        fail_child(x->report, &err);
    char *prog = zl_runtime__find_program(c, &err);
    if (!prog)
        fail_child(x->report, &err);
    /* after the credentials changed (a change clears it): a caller that gives up on the
     * command (a health check's timeout kills its exec) takes the command with it */
    if (x->with_us)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (c->seccomp && c->no_new_privileges && zl_runtime__seccomp_load(c->seccomp, &err) < 0)
        fail_child(x->report, &err);
    execve(prog, c->args, c->env ? c->env : (char *[]){NULL});
    zl_err_sys(&err, errno, "exec %s", prog);
    fail_child(x->report, &err);
}

/* The first child: enter the cgroup and namespaces, then start the real process as a
 * sibling (a pid namespace applies to children only), report its pid and leave. */
static _Noreturn void joiner(struct exec_ctx *x)
{
    struct zl_err err;
    if (x->cg && zl_runtime__cgroup_enter(x->cg, getpid(), &err) < 0)
        fail_child(x->report, &err);
    for (size_t i = 0; i < ZL_ARRAY_LEN(ns_order); i++)
        if (x->nsfd[i] >= 0 && setns(x->nsfd[i], ns_order[i].type) < 0) {
            zl_err_sys(&err, errno, "join the %s namespace", ns_order[i].name);
            fail_child(x->report, &err);
        }
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        exec_child(x);
    if (pid < 0) {
        zl_err_sys(&err, errno, "clone");
        fail_child(x->report, &err);
    }
    dprintf(x->report, "P%d\n", (int)pid);
    _exit(0);
}

/* Apply the command-line overrides to the container's process (args, env, cwd, user). */
static int override(struct zl_oci_config *c, const struct zl_runtime_exec_opts *o,
                    struct zl_err *err)
{
    if (o->process_file) {
        char *buf;
        size_t len;
        if (zl_read_file(o->process_file, 1u << 20, &buf, &len, err) < 0)
            return -1;
        int rc = zl_runtime__config_set_process(c, buf, len, err);
        free(buf);
        return rc;
    }
    if (!o->args || !o->args[0])
        return zl_err_set(err, ZL_EINVAL, "exec needs a command or --process");
    size_t n = 0, ne = 0, nadd = 0;
    while (o->args[n])
        n++;
    while (c->env && c->env[ne])
        ne++;
    while (o->env && o->env[nadd])
        nadd++;
    for (size_t i = 0; c->args && c->args[i]; i++)
        free(c->args[i]);
    free(c->args);
    c->args = zl_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c->args[i] = zl_xstrdup(o->args[i]);
    c->env = zl_xrealloc(c->env, (ne + nadd + 1) * sizeof(char *));
    for (size_t i = 0; i < nadd; i++)
        c->env[ne + i] = zl_xstrdup(o->env[i]);
    c->env[ne + nadd] = NULL;
    if (o->cwd) {
        free(c->cwd);
        c->cwd = zl_xstrdup(o->cwd);
    }
    if (o->user) {
        char *end;
        unsigned long uid = strtoul(o->user, &end, 10), gid = uid;
        if (*end == ':')
            gid = strtoul(end + 1, &end, 10);
        if (*end || end == o->user)
            return zl_err_set(err, ZL_EINVAL, "--user must be UID[:GID] (got %s)", o->user);
        c->uid = (uint32_t)uid;
        c->gid = (uint32_t)gid;
        c->nadditional_gids = 0;
    }
    c->terminal = o->tty;
    return 0;
}

/* Read the joiner's report: "P<pid>\n", then nothing (exec'd) or "E<message>". */
static int read_report(int fd, pid_t *pid, struct zl_err *err)
{
    char buf[sizeof(err->msg) + 32];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return zl_err_sys(err, errno, "read from the exec helper");
        len += (size_t)n;
    }
    buf[len] = '\0';
    char *e = buf;
    if (buf[0] == 'P') {
        *pid = (pid_t)strtol(buf + 1, &e, 10);
        if (*e == '\n')
            e++;
    }
    if (*e == 'E')
        return zl_err_set(err, ZL_EINVAL, "%s", e + 1);
    if (*pid <= 0)
        return zl_err_set(err, ZL_EINVAL, "the exec helper died");
    return 0;
}

static volatile sig_atomic_t exec_pid;

static void forward(int sig)
{
    if (exec_pid > 0)
        kill(exec_pid, sig);
}

/* Copy between our stdio and the pty master until the process ends. */
static int relay(int master, pid_t pid)
{
    struct termios saved;
    bool raw = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = master, .events = POLLIN}};
    char buf[8192];
    int status = 0;
    for (;;) {
        if (poll(p, 2, 200) < 0 && errno != EINTR)
            break;
        if (p[0].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n <= 0)
                p[0].fd = -1; /* stdin closed: keep reading output */
            else if (write(master, buf, (size_t)n) < 0)
                break;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(master, buf, sizeof(buf));
            if (n <= 0)
                break; /* every holder of the slave is gone */
            if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
                break;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            pid = 0;
            /* drain what is left */
            ssize_t n;
            while ((n = read(master, buf, sizeof(buf))) > 0)
                if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
                    break;
            break;
        }
    }
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    if (pid > 0)
        waitpid(pid, &status, 0);
    return status;
}

/* Receive the pty master the process sent from inside the container. */
static int recv_master(int sock, struct zl_err *err)
{
    char byte, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0)
        return zl_err_sys(err, errno ? errno : EIO, "receive the pty");
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_type != SCM_RIGHTS)
        return zl_err_set(err, ZL_EINVAL, "no pty received");
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
    struct winsize ws;
    if (zl_runtime__tty_size(&ws))
        ioctl(fd, TIOCSWINSZ, &ws);
    return fd;
}

static int spawn(struct exec_ctx *x, const struct zl_runtime_exec_opts *o, pid_t cpid, pid_t *pid,
                 struct zl_err *err)
{
    if (open_namespaces(cpid, x, err) < 0)
        return -1;
    int rep[2];
    if (pipe2(rep, O_CLOEXEC) < 0)
        return zl_err_sys(err, errno, "pipe");
    x->report = rep[1];
    fflush(NULL);
    pid_t j = fork();
    if (j == 0) {
        close(rep[0]);
        joiner(x);
    }
    close(rep[1]);
    if (j < 0) {
        close(rep[0]);
        return zl_err_sys(err, errno, "fork");
    }
    int rc = read_report(rep[0], pid, err);
    close(rep[0]);
    waitpid(j, NULL, 0);
    if (rc < 0 && *pid > 0)
        waitpid(*pid, NULL, 0);
    if (rc == 0 && o->pid_file) {
        FILE *f = fopen(o->pid_file, "we");
        if (!f || fprintf(f, "%d", (int)*pid) < 0 || fclose(f) != 0)
            return zl_err_sys(err, errno, "write pid file %s", o->pid_file);
    }
    return rc;
}

int zl_runtime_exec(const struct zl_runtime_exec_opts *o, int *status, struct zl_err *err)
{
    *status = 0;
    struct zl_cstate st;
    if (zl_runtime__state_read(o->root, o->id, &st, err) < 0)
        return -1;
    char *dir = zl_runtime__state_dir(o->root, o->id, err);
    struct exec_ctx x = {.report = -1, .console = -1, .with_us = !o->detach};
    for (size_t i = 0; i < ZL_ARRAY_LEN(ns_order); i++)
        x.nsfd[i] = -1;
    int master = -1, here = -1, rc = 0;
    pid_t pid = 0;
    /* a created container is set up and waits for `start`: init steps run in it */
    enum zl_runtime_status now = zl_runtime__state_status(dir, &st);
    if (now != ZL_STATUS_RUNNING && now != ZL_STATUS_CREATED)
        rc = zl_err_set(err, ZL_EINVAL, "container %s is not running", o->id);
    if (rc == 0 && zl_runtime__config_load(st.bundle, &x.cfg, err) < 0)
        rc = zl_err_wrap(err, "container %s", o->id);
    if (rc == 0)
        rc = override(x.cfg, o, err);
    if (rc == 0 && st.cgroup_path)
        rc = zl_runtime__cgroup_open(st.cgroup_path, &x.cg, err);
    if (rc == 0 && o->tty && o->console_socket)
        rc = (x.console = zl_runtime__console_connect(o->console_socket, err)) < 0 ? -1 : 0;
    else if (rc == 0 && o->tty) {
        /* the pty comes from the container's devpts; its master is sent back to us */
        int sv[2];
        rc = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0
                 ? zl_err_sys(err, errno, "socketpair")
                 : 0;
        if (rc == 0) {
            here = sv[0];
            x.console = sv[1];
        }
    }
    if (rc == 0)
        rc = spawn(&x, o, st.pid, &pid, err);
    if (rc == 0 && here >= 0)
        rc = (master = recv_master(here, err)) < 0 ? -1 : 0;
    if (here >= 0)
        close(here);
    if (rc == 0 && !o->detach) {
        exec_pid = pid;
        struct sigaction sa = {.sa_handler = forward};
        sigemptyset(&sa.sa_mask);
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
        for (size_t i = 0; i < ZL_ARRAY_LEN(sigs); i++)
            sigaction(sigs[i], &sa, NULL);
        if (master >= 0)
            *status = relay(master, pid);
        else
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
        exec_pid = 0;
    }
    if (master >= 0)
        close(master);
    if (x.console >= 0)
        close(x.console);
    for (size_t i = 0; i < ZL_ARRAY_LEN(ns_order); i++)
        if (x.nsfd[i] >= 0)
            close(x.nsfd[i]);
    zl_runtime__cgroup_free(x.cg);
    zl_runtime__config_free(x.cfg);
    zl_runtime__state_fini(&st);
    free(dir);
    return rc;
}
