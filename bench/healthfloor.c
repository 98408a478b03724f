/* SPDX-License-Identifier: Apache-2.0 */
/* bench/healthfloor.c: the floor for bench/health.sh: N plain HTTP checks a second
 * (connect, GET, read the status line, close) against HOST:PORT for SECS seconds, from one
 * thread of blocking sockets, printing the CPU time it used. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int check(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    static const char req[] = "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[256];
    int ok = write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1) &&
             read(fd, buf, sizeof(buf)) > 12 && !memcmp(buf + 9, "200", 3);
    close(fd);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: healthfloor HOST PORT N SECS\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &sa.sin_addr);
    int n = atoi(argv[3]), secs = atoi(argv[4]), failed = 0;
    for (int s = 0; s < secs; s++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < n; i++)
            failed += check(&sa) < 0;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long used = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
        if (used < 1000000000L) {
            struct timespec rest = {0, 1000000000L - used};
            nanosleep(&rest, NULL);
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("%.3f %d\n", cpu, failed);
    return 0;
}
