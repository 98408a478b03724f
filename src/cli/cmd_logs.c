/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_logs.c: the streams: zlayer logs (a service's output, merged over its replicas,
 * optionally followed) and zlayer events (lifecycle events as JSON lines). */
#include "cli/client.h"
#include "spec/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct out {
    int status;           /* known before the first chunk */
    struct zl_buf errbuf; /* the body of an error answer */
};

static bool print_chunk(void *ctx, const char *p, size_t n)
{
    struct out *o = ctx;
    if (o->status != 200) {
        if (o->errbuf.len < 65536)
            zl_buf_append(&o->errbuf, p, n);
        return true;
    }
    return fwrite(p, 1, n, stdout) == n && fflush(stdout) == 0;
}

/* GET path and copy the answer to stdout as it arrives; follow: no time limit. */
static int stream(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *path, bool follow)
{
    struct zl_http_target t;
    char host[256];
    zl_cli_target(d, &t, host, sizeof(host));
    if (follow)
        t.timeout_ms = 0; /* a quiet service may print nothing for long */
    int rc = ZL_EXIT_OK;
    struct zl_err err;
    struct out o = {0};
    zl_buf_init(&o.errbuf);
    if (zl_http_request_stream(&t, "GET", path, NULL, NULL, 0, print_chunk, &o, &o.status, &err) <
        0) {
        rc = zl_cli_fail(cli, "%s", err.msg);
    } else if (o.status != 200) {
        struct zl_http_response r = {
            .status = o.status, .body = o.errbuf.data, .len = o.errbuf.len};
        rc = zl_cli_api_fail(cli, &r);
    }
    zl_buf_fini(&o.errbuf);
    return rc;
}

/* --since: a duration back from now ("10m") or a time as the logs write it. */
static int since_arg(struct zl_cli *cli, const char *v, char *out, size_t cap)
{
    uint64_t ns;
    const char *why = NULL;
    if (zl_duration_parse(v, strlen(v), &ns, &why) == 0) {
        snprintf(out, cap, "%lld", (long long)(time(NULL) - (time_t)(ns / 1000000000ull)));
        return 0;
    }
    if (strlen(v) >= 19 && v[4] == '-' && v[10] == 'T' && !strpbrk(v, "&?# ")) {
        snprintf(out, cap, "%s", v);
        return 0;
    }
    return zl_cli_usage(cli, "logs", "--since takes a duration (10m) or a UTC time (%s)",
                        "2026-01-02T03:04:05Z");
}

int zl_cli_cmd_logs(struct zl_cli *cli, int argc, char **argv)
{
    const char *dep = NULL, *svc = NULL;
    long tail = 100, replica = -1;
    bool fol = false;
    char since[64] = "";
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if ((!strcmp(argv[i], "-d") || !strcmp(argv[i], "--deployment")) && i + 1 < argc)
            dep = argv[++i];
        else if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "--tail")) && i + 1 < argc) {
            tail = strtol(argv[++i], &end, 10);
            if (*end || tail < 0 || tail > 100000)
                return zl_cli_usage(cli, "logs", "--tail takes 0-100000 lines");
        } else if ((!strcmp(argv[i], "-r") || !strcmp(argv[i], "--replica")) && i + 1 < argc) {
            replica = strtol(argv[++i], &end, 10);
            if (*end || replica < 0)
                return zl_cli_usage(cli, "logs", "--replica takes a replica number");
        } else if (!strcmp(argv[i], "--since") && i + 1 < argc) {
            if (since_arg(cli, argv[++i], since, sizeof(since)) != 0)
                return ZL_EXIT_USAGE;
        } else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
            fol = true;
        else if (argv[i][0] != '-' && !svc)
            svc = argv[i];
        else
            return zl_cli_usage(cli, "logs", "unexpected argument '%s'", argv[i]);
    }
    if (!svc)
        return zl_cli_usage(cli, "logs", "logs needs a SERVICE");
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    if (!dep && !zl_cli_ready(&d)) {
        zl_cli_dirs_fini(&d);
        return zl_cli_fail(cli, "the zlayer daemon is not running (zlayer up starts it)");
    }
    char *owner = dep ? zl_xstrdup(dep) : zl_cli_owner_of(cli, &d, svc);
    if (!owner) {
        zl_cli_dirs_fini(&d);
        return ZL_EXIT_FAIL;
    }
    struct zl_buf path;
    zl_buf_init(&path);
    zl_buf_printf(&path, "/api/v1/deployments/%s/services/%s/logs?lines=%ld", owner, svc, tail);
    if (replica >= 0)
        zl_buf_printf(&path, "&replica=%ld", replica);
    if (since[0])
        zl_buf_printf(&path, "&since=%s", since);
    if (fol)
        zl_buf_puts(&path, "&follow=true");
    int rc = stream(cli, &d, path.data, fol);
    zl_buf_fini(&path);
    free(owner);
    zl_cli_dirs_fini(&d);
    return rc;
}

int zl_cli_cmd_events(struct zl_cli *cli, int argc, char **argv)
{
    const char *dep = NULL;
    bool fol = true;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-d") || !strcmp(argv[i], "--deployment")) && i + 1 < argc)
            dep = argv[++i];
        else if (!strcmp(argv[i], "--no-follow"))
            fol = false;
        else
            return zl_cli_usage(cli, "events", "unexpected argument '%s'", argv[i]);
    }
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    int rc;
    if (!zl_cli_ready(&d)) {
        rc = zl_cli_fail(cli, "the zlayer daemon is not running (zlayer up starts it)");
    } else {
        char *path = zl_xasprintf("/api/v1/events?follow=%s%s%s", fol ? "true" : "false",
                                  dep ? "&deployment=" : "", dep ? dep : "");
        rc = stream(cli, &d, path, fol);
        free(path);
    }
    zl_cli_dirs_fini(&d);
    return rc;
}
