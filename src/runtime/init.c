/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/init.c: the container's side of creation, run in the cloned child: namespaces it
 * joins, rootfs, hostname, sysctls, console, limits, user, capabilities, seccomp, exec. */
#include "runtime/internal.h"

#include <errno.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* Tell the runtime what failed, then die. */
static _Noreturn void die(int sync_fd, const struct zl_err *err)
{
    char buf[sizeof(err->msg) + 1];
    buf[0] = ZL_SYNC_ERROR;
    size_t n = strnlen(err->msg, sizeof(err->msg));
    memcpy(buf + 1, err->msg, n);
    if (write(sync_fd, buf, n + 1) < 0) {
        /* the runtime is gone: nobody to tell */
    }
    _exit(127);
}

static int join_namespaces(const struct zl_oci_config *c, struct zl_err *err)
{
    for (size_t i = 0; i < c->nnamespaces; i++) {
        const struct zl_oci_ns *ns = &c->namespaces[i];
        if (!ns->path || ns->type == CLONE_NEWPID)
            continue; /* pid: joined by the runtime before clone */
        int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return zl_err_sys(err, errno, "open namespace %s", ns->path);
        int rc = setns(fd, ns->type);
        close(fd);
        if (rc < 0)
            return zl_err_sys(err, errno, "join namespace %s", ns->path);
    }
    return 0;
}

static bool wants_new(const struct zl_oci_config *c, int type)
{
    for (size_t i = 0; i < c->nnamespaces; i++)
        if (c->namespaces[i].type == type)
            return c->namespaces[i].path == NULL;
    return false;
}

static int write_sysctls(const struct zl_oci_config *c, struct zl_err *err)
{
    for (size_t i = 0; i < c->nsysctl; i++) {
        char *path = zl_xasprintf("/proc/sys/%s", c->sysctl[i * 2]);
        for (char *p = path + 10; *p; p++)
            if (*p == '.')
                *p = '/';
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        const char *v = c->sysctl[i * 2 + 1];
        int rc = fd < 0 || write(fd, v, strlen(v)) < 0 ? -1 : 0;
        int e = errno;
        if (fd >= 0)
            close(fd);
        free(path);
        if (rc < 0)
            return zl_err_sys(err, e, "sysctl %s", c->sysctl[i * 2]);
    }
    return 0;
}

/* A pty from the container's devpts; the master goes to the console socket, the slave
 * becomes our controlling terminal and stdio (and, for the init, /dev/console). */
bool zl_runtime__tty_size(struct winsize *ws)
{
    memset(ws, 0, sizeof(*ws));
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, ws) == 0 && ws->ws_row && ws->ws_col)
        return true;
    const char *size = getenv("ZLAYER_TTY_SIZE");
    unsigned rows = 0, cols = 0;
    if (!size || sscanf(size, "%ux%u", &rows, &cols) != 2 || !rows || !cols || rows > 9999 ||
        cols > 9999)
        return false;
    ws->ws_row = (unsigned short)rows;
    ws->ws_col = (unsigned short)cols;
    return true;
}

int zl_runtime__console_setup(int console_fd, bool bind_console, struct zl_err *err)
{
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return zl_err_sys(err, errno, "open /dev/ptmx");
    char name[64];
    if (unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0) {
        close(master);
        return zl_err_sys(err, errno, "allocate a pty");
    }
    /* sized before anyone sees it: the process may ask at once */
    struct winsize ws;
    if (zl_runtime__tty_size(&ws))
        ioctl(master, TIOCSWINSZ, &ws);
    int slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0 || (bind_console && mount(name, "/dev/console", NULL, MS_BIND, NULL) < 0)) {
        close(master);
        return zl_err_sys(err, errno, "set up /dev/console");
    }
    char cmsgbuf[CMSG_SPACE(sizeof(int))] = {0};
    char byte = '\0';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = cmsgbuf,
                         .msg_controllen = sizeof(cmsgbuf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &master, sizeof(int));
    int rc = sendmsg(console_fd, &msg, 0) < 0 ? zl_err_sys(err, errno, "send the pty") : 0;
    close(master);
    close(console_fd);
    if (rc == 0 && (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0))
        rc = zl_err_sys(err, errno, "make the pty the controlling terminal");
    for (int fd = 0; rc == 0 && fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            rc = zl_err_sys(err, errno, "dup the pty");
    if (slave > 2)
        close(slave);
    return rc;
}

static int set_user(const struct zl_oci_config *c, struct zl_err *err)
{
    gid_t groups[64];
    size_t n = c->nadditional_gids < 64 ? c->nadditional_gids : 64;
    for (size_t i = 0; i < n; i++)
        groups[i] = c->additional_gids[i];
    if (setgroups(n, groups) < 0 && !(errno == EPERM && n == 0))
        return zl_err_sys(err, errno, "setgroups");
    /* keep the permitted set across setuid: caps_apply then sets exactly what is asked */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return zl_err_sys(err, errno, "keep capabilities");
    if (setresgid(c->gid, c->gid, c->gid) < 0)
        return zl_err_sys(err, errno, "setgid %u", c->gid);
    if (setresuid(c->uid, c->uid, c->uid) < 0)
        return zl_err_sys(err, errno, "setuid %u", c->uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return zl_err_sys(err, errno, "reset keep capabilities");
    return 0;
}

static const char *env_get(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], name, n) && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

/* Resolve args[0] through the container's PATH now, so a missing program fails `create`. */
char *zl_runtime__find_program(const struct zl_oci_config *c, struct zl_err *err)
{
    const char *prog = c->args[0];
    if (strchr(prog, '/')) {
        if (access(prog, X_OK) < 0) {
            zl_err_sys(err, errno, "executable %s", prog);
            return NULL;
        }
        return zl_xstrdup(prog);
    }
    char *found = zl_path_lookup(prog, env_get(c->env, "PATH"));
    if (!found)
        zl_err_set(err, ZL_ENOTFOUND, "executable file '%s' not found in $PATH", prog);
    return found;
}

static int set_limits(const struct zl_oci_config *c, struct zl_err *err)
{
    for (size_t i = 0; i < c->nrlimits; i++) {
        struct rlimit rl = {.rlim_cur = c->rlimits[i].soft, .rlim_max = c->rlimits[i].hard};
        if (setrlimit(c->rlimits[i].resource, &rl) < 0)
            return zl_err_sys(err, errno, "setrlimit %d to %llu/%llu", c->rlimits[i].resource,
                              (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    }
    return 0;
}

/* A new network namespace has its loopback down: bring it up, as other runtimes do. */
static int loopback_up(struct zl_err *err)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return zl_err_sys(err, errno, "socket for lo");
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    int rc = 0;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        rc = zl_err_sys(err, errno, "read the flags of lo");
    else if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
            rc = zl_err_sys(err, errno, "bring lo up");
    }
    close(fd);
    return rc;
}

/* Everything from the runtime's go-ahead to the point of waiting for `start`. */
static int prepare(struct zl_init_args *a, struct zl_err *err)
{
    const struct zl_oci_config *c = a->cfg;
    if (join_namespaces(c, err) < 0)
        return -1;
    if (wants_new(c, CLONE_NEWUSER) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
        return zl_err_sys(err, errno, "become root in the user namespace");
    if (wants_new(c, CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
        return zl_err_sys(err, errno, "new cgroup namespace");
    if (zl_runtime__rootfs_setup(c, a->no_pivot, a->state_json, err) < 0)
        return zl_err_wrap(err, "rootfs");
    if (c->hostname && *c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
        return zl_err_sys(err, errno, "sethostname %s", c->hostname);
    if (c->domainname && *c->domainname && setdomainname(c->domainname, strlen(c->domainname)) < 0)
        return zl_err_sys(err, errno, "setdomainname %s", c->domainname);
    if (write_sysctls(c, err) < 0)
        return -1;
    if (wants_new(c, CLONE_NEWNET) && loopback_up(err) < 0)
        return -1;
    if (c->terminal && a->console_fd >= 0 &&
        zl_runtime__console_setup(a->console_fd, true, err) < 0)
        return -1;
    if (zl_runtime__rootfs_finish(c, err) < 0)
        return -1;
    return zl_runtime__process_setup(c, err);
}

int zl_runtime__process_setup(const struct zl_oci_config *c, struct zl_err *err)
{
    if (set_limits(c, err) < 0)
        return -1;
    if (c->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return zl_err_sys(err, errno, "no_new_privs");
    /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we have it. */
    if (c->seccomp && !c->no_new_privileges && zl_runtime__seccomp_load(c->seccomp, err) < 0)
        return -1;
    if (set_user(c, err) < 0)
        return -1;
    struct zl_oci_caps def;
    zl_runtime__caps_default(&def);
    if (zl_runtime__caps_apply(c->has_caps ? &c->caps : &def, err) < 0)
        return -1;
    if (c->has_umask)
        umask((mode_t)c->umask);
    if (chdir(c->cwd) < 0)
        return zl_err_sys(err, errno, "chdir %s", c->cwd);
    return 0;
}

/* Every signal to its default: through the system call itself, since the C library refuses
 * its own real-time signals (32, 33), which a caller may have left ignored as well. */
static void reset_signals(void)
{
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long mask;
    } dfl = {0};
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
}

int zl_runtime__init(void *arg)
{
    struct zl_init_args *a = arg;
    const struct zl_oci_config *c = a->cfg;
    struct zl_err err;
    for (int fd = 0; fd < 3; fd++)
        if (a->stdio[fd] >= 0 && dup2(a->stdio[fd], fd) < 0)
            _exit(127);
    char *go = zl_xmalloc(ZL_SYNC_MAX + 1);
    ssize_t n = read(a->sync_fd, go, ZL_SYNC_MAX);
    if (n < 1 || go[0] != ZL_SYNC_GO)
        _exit(127); /* the runtime gave up */
    go[n] = '\0';
    a->state_json = go + 1;
    if (prepare(a, &err) < 0)
        die(a->sync_fd, &err);
    char *prog = zl_runtime__find_program(c, &err);
    if (!prog)
        die(a->sync_fd, &err);
    char ready = ZL_SYNC_READY;
    if (write(a->sync_fd, &ready, 1) != 1)
        _exit(127);
    close(a->sync_fd);
    if (a->fifo_fd >= 0) {
        /* block until `start` opens the other end */
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", a->fifo_fd);
        int w = open(path, O_WRONLY | O_CLOEXEC);
        if (w < 0 || write(w, "0", 1) != 1) {
            fprintf(stderr, "zlayer: wait for start: %s\n", strerror(errno));
            _exit(127);
        }
        close(w);
        close(a->fifo_fd);
    }
    /* startContainer hooks: inside the container, after start, before the program */
    if (zl_runtime__hooks_run(&c->hooks[ZL_HOOK_START_CONTAINER], a->state_json, "startContainer",
                              &err) < 0 ||
        (c->seccomp && c->no_new_privileges && zl_runtime__seccomp_load(c->seccomp, &err) < 0)) {
        fprintf(stderr, "zlayer: %s\n", err.msg);
        _exit(127);
    }
    /* the program starts with every signal at its default and none blocked, whatever its
     * ancestors (a daemon ignoring SIGPIPE) had */
    reset_signals();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(prog, c->args, c->env ? c->env : (char *[]){NULL});
    fprintf(stderr, "zlayer: exec %s: %s\n", prog, strerror(errno));
    _exit(127);
}
