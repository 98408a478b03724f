/* SPDX-License-Identifier: Apache-2.0 */
/* tests/helpers/dns_serve.c: the service DNS server on its own, for the integration tests and
 * the benchmark: a zone from a text file, upstreams from the command line. SIGHUP reads the
 * file again; SIGINT or SIGTERM stops it cleanly.
 *
 * Zone file, one record a line ('#' starts a comment):
 *   DEPLOYMENT SERVICE INDEX IP HEALTHY            a replica (HEALTHY: 1 or 0)
 *   endpoint DEPLOYMENT SERVICE NAME PROTO PORT    an endpoint (PROTO: tcp or udp) */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

struct serve {
    const char *zone_path;
    struct zl_dns_zone *zone;
    struct zl_dns_server *server;
    uv_signal_t hup, intr, term;
};

_Noreturn static void usage(void)
{
    fprintf(stderr, "usage: dns_serve [--upstream IP[:PORT],...] [--resolv-conf FILE] "
                    "IP:PORT ZONE_FILE\n");
    exit(2);
}

static int load(struct serve *sv, struct zl_err *err)
{
    char *text = NULL;
    size_t len;
    if (zl_read_file(sv->zone_path, 16 << 20, &text, &len, err) < 0)
        return err->code;
    size_t cap = 16, nr = 0, ne = 0;
    struct zl_dns_replica *r = zl_xcalloc(cap, sizeof(*r));
    struct zl_dns_endpoint *e = zl_xcalloc(cap, sizeof(*e));
    char *save = NULL;
    int rc = 0, line_no = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *w[6];
        size_t n = 0;
        char *wsave = NULL;
        for (char *t = strtok_r(line, " \t", &wsave); t && n < 6; t = strtok_r(NULL, " \t", &wsave))
            w[n++] = t;
        if (n == 0)
            continue;
        if (nr == cap || ne == cap) {
            cap *= 2;
            r = zl_xrealloc(r, cap * sizeof(*r));
            e = zl_xrealloc(e, cap * sizeof(*e));
        }
        struct in_addr a;
        if (n == 6 && strcmp(w[0], "endpoint") == 0) {
            e[ne++] = (struct zl_dns_endpoint){.deployment = w[1],
                                               .service = w[2],
                                               .name = w[3],
                                               .proto = w[4],
                                               .port = (uint16_t)atoi(w[5])};
        } else if (n == 5 && inet_pton(AF_INET, w[3], &a) == 1) {
            r[nr++] = (struct zl_dns_replica){.deployment = w[0],
                                              .service = w[1],
                                              .index = (unsigned)atoi(w[2]),
                                              .ip = ntohl(a.s_addr),
                                              .healthy = strcmp(w[4], "1") == 0};
        } else {
            rc = zl_err_set(err, ZL_EINVAL, "%s:%d: not a replica or endpoint line", sv->zone_path,
                            line_no);
            break;
        }
    }
    if (!rc)
        zl_dns_zone_set(sv->zone, r, nr, e, ne);
    free(r);
    free(e);
    free(text);
    return rc;
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct serve *sv = h->data;
    if (signum == SIGHUP) {
        struct zl_err err;
        if (load(sv, &err) < 0)
            fprintf(stderr, "dns_serve: %s\n", err.msg);
        return;
    }
    zl_dns_server_stop(sv->server);
    uv_close((uv_handle_t *)&sv->hup, NULL);
    uv_close((uv_handle_t *)&sv->intr, NULL);
    uv_close((uv_handle_t *)&sv->term, NULL);
}

int main(int argc, char **argv)
{
    const char *upstreams = NULL, *resolv = NULL;
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "--upstream") == 0)
            upstreams = argv[i + 1];
        else if (strcmp(argv[i], "--resolv-conf") == 0)
            resolv = argv[i + 1];
        else
            usage();
    }
    if (argc - i != 2)
        usage();
    char ip[64];
    const char *colon = strrchr(argv[i], ':');
    if (!colon || (size_t)(colon - argv[i]) >= sizeof(ip))
        usage();
    memcpy(ip, argv[i], (size_t)(colon - argv[i]));
    ip[colon - argv[i]] = '\0';
    uint16_t port = (uint16_t)atoi(colon + 1);

    struct serve sv = {.zone_path = argv[i + 1], .zone = zl_dns_zone_new()};
    struct zl_err err;
    if (load(&sv, &err) < 0) {
        fprintf(stderr, "dns_serve: %s\n", err.msg);
        zl_dns_zone_free(sv.zone);
        return 1;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = zl_dns_server_start(&loop, ip, port, sv.zone, upstreams, resolv, &sv.server, &err);
    if (rc < 0) {
        fprintf(stderr, "dns_serve: %s\n", err.msg);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        zl_dns_zone_free(sv.zone);
        return 1;
    }
    uv_signal_t *sigs[] = {&sv.hup, &sv.intr, &sv.term};
    int nums[] = {SIGHUP, SIGINT, SIGTERM};
    for (size_t k = 0; k < 3; k++) {
        uv_signal_init(&loop, sigs[k]);
        sigs[k]->data = &sv;
        uv_signal_start(sigs[k], on_signal, nums[k]);
    }
    printf("ready %s:%u\n", ip, port);
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    zl_dns_zone_free(sv.zone);
    return rc == 0 ? 0 : 1;
}
