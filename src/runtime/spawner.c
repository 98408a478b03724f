/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/spawner.c: where a threaded process (the daemon) gets its containers' monitors
 * from. A monitor is a fork that goes on to allocate, parse and log; a fork of a threaded
 * process may only make async-signal-safe calls until it execs, and an exec of zlayer costs
 * ~10 ms and ~2 MiB per monitor. So the daemon forks a spawner while it still has one
 * thread; the spawner (single-threaded for good) forks each monitor on request. Requests
 * are one datagram each on a SOCK_SEQPACKET pair: the creation options and, as SCM_RIGHTS,
 * the write end of the caller's report pipe, which the monitor answers on directly. */
#include "runtime/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG_MAX 16384

static int spawner_fd = -1;

/* fields: root, id, bundle, log_file, pid_file, console_socket (each NUL-terminated; ""
 * stands for none), then one flags byte */
static size_t encode(const struct zl_runtime_create_opts *o, char *buf, size_t cap)
{
    const char *f[] = {o->root, o->id, o->bundle, o->log_file, o->pid_file, o->console_socket};
    size_t n = 0;
    for (size_t i = 0; i < ZL_ARRAY_LEN(f); i++) {
        size_t l = f[i] ? strlen(f[i]) : 0;
        if (n + l + 2 > cap)
            return 0;
        memcpy(buf + n, f[i] ? f[i] : "", l);
        buf[n + l] = '\0';
        n += l + 1;
    }
    buf[n++] = (char)((o->no_pivot ? 1 : 0) | (o->hold ? 2 : 0));
    return n;
}

static bool decode(char *buf, size_t len, struct zl_runtime_create_opts *o)
{
    const char *f[6];
    size_t at = 0;
    for (size_t i = 0; i < 6; i++) {
        char *end = memchr(buf + at, '\0', len - at);
        if (!end)
            return false;
        f[i] = buf + at;
        at = (size_t)(end - buf) + 1;
    }
    if (at + 1 != len)
        return false;
    memset(o, 0, sizeof(*o));
    o->root = f[0];
    o->id = f[1];
    o->bundle = f[2];
    o->log_file = *f[3] ? f[3] : NULL;
    o->pid_file = *f[4] ? f[4] : NULL;
    o->console_socket = *f[5] ? f[5] : NULL;
    o->no_pivot = buf[at] & 1;
    o->hold = (buf[at] & 2) != 0;
    return true;
}

static _Noreturn void serve(int fd)
{
    /* monitors are reaped by the kernel; they outlive this process anyway */
    signal(SIGCHLD, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    static char buf[MSG_MAX];
    for (;;) {
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(sizeof(int))];
        } ctl;
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.b,
                           .msg_controllen = sizeof(ctl.b)};
        ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
        if (n == 0)
            _exit(0); /* the daemon is gone */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        int report = -1;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(&report, CMSG_DATA(c), sizeof(int));
        struct zl_runtime_create_opts o;
        if (report < 0)
            continue;
        if (!decode(buf, (size_t)n, &o)) {
            dprintf(report, "spawner: a malformed request");
            close(report);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(fd);
            signal(SIGCHLD, SIG_DFL); /* the monitor waits for its container */
            zl_runtime_monitor_main(&o, report);
        }
        if (pid < 0)
            dprintf(report, "fork the monitor: %s", strerror(errno));
        close(report);
    }
}

int zl_runtime_spawner_start(struct zl_err *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return zl_err_sys(err, errno, "socketpair for the spawner");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return zl_err_sys(err, e, "fork the spawner");
    }
    if (pid == 0) {
        close(sv[0]);
        /* nothing of the caller's but stdio and this socket: no lock or listener kept */
        for (int fd = 3; fd < 1024; fd++)
            if (fd != sv[1])
                close(fd);
        serve(sv[1]);
    }
    close(sv[1]);
    spawner_fd = sv[0];
    return 0;
}

int zl_runtime__spawn_monitor(const struct zl_runtime_create_opts *o, int report_w)
{
    if (spawner_fd < 0)
        return -ENOSYS;
    char buf[MSG_MAX];
    size_t n = encode(o, buf, sizeof(buf));
    if (!n)
        return -ENAMETOOLONG;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = {buf, n};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &report_w, sizeof(int));
    /* one datagram: callers on several threads need no lock */
    while (sendmsg(spawner_fd, &m, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}
