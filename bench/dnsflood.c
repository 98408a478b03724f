/* SPDX-License-Identifier: Apache-2.0 */
/* bench/dnsflood.c: the query loop of bench/dns.sh: A queries for NAMES, in turn, to a DNS
 * server over UDP for SECS seconds, keeping N queries outstanding (sendmmsg/recvmmsg in
 * batches, so that the loop costs less than the servers it measures). Prints
 * "QPS ANSWERED EMPTY LOST": answers per second, answers with records, answers without,
 * and queries given up after 200 ms. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXQ  300

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static size_t make_query(uint8_t *q, const char *name)
{
    static const uint8_t head[12] = {0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    memcpy(q, head, 12);
    size_t p = 12;
    while (*name && p < MAXQ - 8) {
        const char *dot = strchr(name, '.');
        size_t n = dot ? (size_t)(dot - name) : strlen(name);
        q[p++] = (uint8_t)n;
        memcpy(q + p, name, n);
        p += n;
        name += n + (dot ? 1 : 0);
    }
    memcpy(q + p, "\0\0\1\0\1", 5);
    return p + 5;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: dnsflood IP PORT SECS N NAME...\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "dnsflood: bad address %s\n", argv[1]);
        return 2;
    }
    double secs = atof(argv[3]);
    int window = atoi(argv[4]);
    if (window < 1 || window > BATCH * 16)
        window = BATCH;
    int nnames = argc - 5;
    uint8_t(*queries)[MAXQ] = calloc((size_t)nnames, MAXQ);
    size_t *qlen = calloc((size_t)nnames, sizeof(size_t));
    for (int i = 0; i < nnames; i++)
        qlen[i] = make_query(queries[i], argv[5 + i]);

    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("dnsflood: socket");
        return 1;
    }

    static uint8_t out[BATCH][MAXQ], in[BATCH][4096];
    struct mmsghdr smsg[BATCH], rmsg[BATCH];
    struct iovec siov[BATCH], riov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        riov[i] = (struct iovec){in[i], sizeof(in[i])};
        rmsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &riov[i], .msg_iovlen = 1}};
    }
    unsigned long answered = 0, empty = 0, lost = 0, next = 0;
    uint16_t id = 0;
    int outstanding = 0;
    double start = now(), last_rx = start, end = start + secs;

    while (now() < end) {
        /* fill the window */
        while (outstanding < window) {
            int n = window - outstanding < BATCH ? window - outstanding : BATCH;
            for (int i = 0; i < n; i++) {
                size_t k = next++ % (unsigned long)nnames;
                memcpy(out[i], queries[k], qlen[k]);
                id++;
                out[i][0] = (uint8_t)(id >> 8);
                out[i][1] = (uint8_t)id;
                siov[i] = (struct iovec){out[i], qlen[k]};
                smsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &siov[i], .msg_iovlen = 1}};
            }
            int sent = sendmmsg(fd, smsg, (unsigned)n, 0);
            if (sent <= 0)
                break;
            outstanding += sent;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, 20);
        if (ready <= 0) {
            if (now() - last_rx > 0.2) {
                lost += (unsigned long)outstanding;
                outstanding = 0;
                last_rx = now();
            }
            continue;
        }
        int got;
        while ((got = recvmmsg(fd, rmsg, BATCH, MSG_DONTWAIT, NULL)) > 0) {
            for (int i = 0; i < got; i++) {
                const uint8_t *r = in[i];
                if (rmsg[i].msg_len < 12)
                    continue;
                if ((r[3] & 0xF) == 0 && (r[6] | r[7]))
                    answered++;
                else
                    empty++;
            }
            outstanding -= got;
            if (outstanding < 0)
                outstanding = 0;
            last_rx = now();
        }
        if (got < 0 && errno != EAGAIN && errno != ECONNREFUSED) {
            perror("dnsflood: recvmmsg");
            return 1;
        }
    }
    double took = now() - start;
    printf("%.0f %lu %lu %lu\n", (double)(answered + empty) / took, answered, empty, lost);
    close(fd);
    free(queries);
    free(qlen);
    return 0;
}
