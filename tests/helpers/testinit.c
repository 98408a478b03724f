/* SPDX-License-Identifier: Apache-2.0 */
/* tests/helpers/testinit.c: a static multi-call program for test rootfs images: each
 * subcommand does one thing the runtime tests observe from inside a container. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* memhog MiB: touch that much memory, then report (an OOM kill stops it before). */
static int memhog(long mib)
{
    for (long i = 0; i < mib; i++) {
        char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 2;
        memset(p, 1, 1 << 20);
    }
    printf("allocated %ld MiB\n", mib);
    return 0;
}

/* forkbomb N: try to have N processes at once; print how many forks succeeded. */
static int forkbomb(long n)
{
    long ok = 0;
    pid_t *kids = calloc((size_t)n, sizeof(*kids));
    for (long i = 0; i < n && kids; i++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0)
            break;
        kids[ok++] = p;
    }
    printf("forked %ld\n", ok);
    fflush(stdout);
    for (long i = 0; i < ok; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    free(kids);
    return 0;
}

/* try NAME: make a syscall the runtime should forbid; print "NAME: OK" or the errno name. */
static int try(const char *what)
{
    long r = -1;
    if (!strcmp(what, "mount"))
        r = mount("none", "/tmp", "tmpfs", 0, NULL);
    else if (!strcmp(what, "remount-proc"))
        r = mount(NULL, "/proc", NULL, MS_REMOUNT, NULL);
    else if (!strcmp(what, "unshare"))
        r = unshare(CLONE_NEWNS);
    else if (!strcmp(what, "init_module"))
        r = syscall(SYS_init_module, NULL, 0, "");
    else if (!strcmp(what, "kexec_load"))
        r = syscall(SYS_kexec_load, 0, 0, NULL, 0);
    else if (!strcmp(what, "sethostname"))
        r = sethostname("x", 1);
    else if (!strcmp(what, "chown"))
        r = chown("/", 1, 1);
    else {
        fprintf(stderr, "unknown: %s\n", what);
        return 2;
    }
    if (r == 0)
        printf("%s: OK\n", what);
    else
        printf("%s: %s\n", what, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    return 0;
}

static void on_term(int sig)
{
    _exit(128 + sig);
}

/* udpecho PORT: send every datagram back to its sender, prefixed with "HOSTNAME " (a bounded
 * number: the tests send a few). */
static int udpecho(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("udpecho");
        return 1;
    }
    signal(SIGTERM, on_term);
    char host[64] = "?";
    gethostname(host, sizeof(host) - 1);
    size_t hl = strlen(host);
    host[hl++] = ' ';
    for (int i = 0; i < 100000; i++) {
        char buf[1500];
        memcpy(buf, host, hl);
        struct sockaddr_in from;
        socklen_t len = sizeof(from);
        ssize_t n = recvfrom(fd, buf + hl, sizeof(buf) - hl, 0, (struct sockaddr *)&from, &len);
        if (n > 0)
            sendto(fd, buf, (size_t)n + hl, 0, (struct sockaddr *)&from, len);
    }
    return 0;
}

#include "httpecho.inc.c"

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "true";
    if (!strcmp(cmd, "true"))
        return 0;
    if (!strcmp(cmd, "exit") && argc > 2)
        return atoi(argv[2]);
    if (!strcmp(cmd, "pause")) {
        /* an init ignores signals it has no handler for: handle TERM and INT */
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        for (;;)
            pause();
    }
    if (!strcmp(cmd, "udpecho") && argc > 2)
        return udpecho(atoi(argv[2]));
    if (!strcmp(cmd, "httpecho") && argc > 2)
        return httpecho(atoi(argv[2]));
    if (!strcmp(cmd, "memhog") && argc > 2)
        return memhog(atol(argv[2]));
    if (!strcmp(cmd, "forkbomb") && argc > 2)
        return forkbomb(atol(argv[2]));
    if (!strcmp(cmd, "try") && argc > 2)
        return try(argv[2]);
    if (!strcmp(cmd, "echo")) {
        for (int i = 2; i < argc; i++)
            printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
        return 0;
    }
    fprintf(stderr, "testinit: unknown command %s\n", cmd);
    return 2;
}
