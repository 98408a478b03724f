/* SPDX-License-Identifier: Apache-2.0 */
/* tests/helpers/proxy_serve.c: the node's proxy on its own, for the benchmark: one route
 * (TCP, UDP or HTTP) from a port on 127.0.0.1 to the backends given. SIGINT or SIGTERM stops
 * it cleanly, after printing its counters. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "proxy/proxy.h"

static struct zl_proxy *proxy;
static uv_signal_t sig_int, sig_term;

static void report(void *arg, const struct zl_proxy_status *st)
{
    (void)arg;
    fprintf(stderr,
            "proxy_serve: %s: %llu accepted, %llu failed, %llu bytes in, %llu out, "
            "%llu 2xx, %llu 5xx\n",
            st->name, (unsigned long long)st->c.accepted, (unsigned long long)st->c.failed,
            (unsigned long long)st->c.bytes_in, (unsigned long long)st->c.bytes_out,
            (unsigned long long)st->c.status[1], (unsigned long long)st->c.status[4]);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    zl_proxy_each(proxy, report, NULL);
    zl_proxy_close(proxy);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    (void)s;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: proxy_serve [--udp|--tls|--http|--https] PORT BACKEND_IP:PORT...\n"
                        "  --https: certificates from $PROXY_SERVE_CERTS (a folder), else a\n"
                        "  self-signed one made in /tmp\n");
        return 2;
    }
    bool udp = !strcmp(argv[1], "--udp"), http = !strcmp(argv[1], "--https"),
         tls = http || !strcmp(argv[1], "--tls");
    http = http || !strcmp(argv[1], "--http");
    int first = udp || http || tls ? 2 : 1;
    uint16_t port = (uint16_t)atoi(argv[first]);
    size_t n = (size_t)(argc - first - 1);
    struct zl_proxy_backend *b = zl_xcalloc(n + 1, sizeof(*b));
    for (size_t i = 0; i < n; i++) {
        char *a = argv[first + 1 + (int)i], *colon = strrchr(a, ':');
        if (!colon)
            return 2;
        *colon = '\0';
        if (zl_net_ip_parse(a, &b[i].ip) < 0)
            return 2;
        b[i].port = (uint16_t)atoi(colon + 1);
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    signal(SIGPIPE, SIG_IGN);
    proxy = zl_proxy_new(&loop);
    const char *log = getenv("PROXY_SERVE_LOG");
    struct zl_err err;
    if (log && zl_proxy_access_log(proxy, log, &err) < 0) {
        fprintf(stderr, "proxy_serve: %s\n", err.msg);
        return 1;
    }
    const char *certs = getenv("PROXY_SERVE_CERTS"), *names[] = {"localhost"};
    if (tls && zl_proxy_tls(proxy, certs ? certs : "/nonexistent", "/tmp/proxy_serve-tls.pem",
                            names, 1, &err) < 0) {
        fprintf(stderr, "proxy_serve: %s\n", err.msg);
        return 1;
    }
    struct zl_proxy_route r = {.name = http ? "bench/proxy/http" : "bench/proxy/l4",
                               .bind_ip = 0x7f000001u,
                               .port = port,
                               .udp = udp,
                               .http = http,
                               .tls = tls,
                               .backends = b,
                               .nbackends = n};
    zl_proxy_set(proxy, &r, 1);
    uv_signal_init(&loop, &sig_int);
    uv_signal_init(&loop, &sig_term);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(b);
    return 0;
}
