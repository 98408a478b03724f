/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_daemon.c: serve, and the commands that talk to the daemon over its socket: up,
 * deploy, down, ps, scale, status, exec, token. The daemon is started when its socket is absent. */
#include "agent/agent.h"
#include "cli/client.h"
#include "spec/spec.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int zl_cli_cmd_serve(struct zl_cli *cli, int argc, char **argv)
{
    struct zl_daemon_opts o = {0};
    char host[256] = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--daemon")) {
            o.detach = true;
        } else if (!strcmp(argv[i], "--bind") && i + 1 < argc) {
            const char *v = argv[++i], *colon = strrchr(v, ':');
            char *end = NULL;
            long port = colon ? strtol(colon + 1, &end, 10) : 3669;
            if ((colon && (*end || port < 1 || port > 65535)) ||
                (size_t)(colon ? colon - v : (long)strlen(v)) >= sizeof(host))
                return zl_cli_usage(cli, "serve",
                                    "--bind takes ADDRESS[:PORT], e.g. 127.0.0.1:3669");
            snprintf(host, sizeof(host), "%.*s", (int)(colon ? colon - v : (long)strlen(v)), v);
            o.bind_host = host;
            o.bind_port = (int)port;
        } else {
            return zl_cli_usage(cli, "serve", "unexpected argument '%s'", argv[i]);
        }
    }
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    o.root_dir = d.root;
    o.runtime_dir = d.runtime;
    struct zl_err err;
    int rc = zl_daemon_run(&o, &err);
    zl_cli_dirs_fini(&d);
    return rc < 0 ? zl_cli_fail(cli, "%s", err.msg) : ZL_EXIT_OK;
}

/* ---------------- up / deploy ---------------- */

/* Values of the $E: references of every service's env, from our environment. */
static json_t *env_values(struct zl_cli *cli, const struct zl_spec *s, bool *ok)
{
    json_t *vals = json_object();
    const struct zl_sval *svcs = zl_sval_get(zl_spec_root(s), "services");
    *ok = true;
    for (size_t i = 0; i < svcs->n; i++) {
        const struct zl_sval *env = zl_sval_get(svcs->items[i], "env");
        for (size_t k = 0; env && k < env->n; k++) {
            const char *v = env->items[k]->s;
            if (!v || strncmp(v, "$E:", 3))
                continue;
            const char *val = getenv(v + 3);
            if (!val) {
                zl_cli_fail(cli, "services.%s.env.%s: environment variable '%s' is not set",
                            svcs->keys[i], env->keys[k], v + 3);
                *ok = false;
            } else {
                json_object_set_new(vals, v + 3, json_string(val));
            }
        }
    }
    return vals;
}

static char *find_spec(struct zl_cli *cli, const char *file)
{
    if (file)
        return zl_xstrdup(file);
    char *path = NULL;
    struct zl_err err;
    if (zl_spec_discover(".", &path, &err) < 0) {
        zl_cli_fail(cli, "%s", err.msg);
        return NULL;
    }
    return path;
}

/* Wait (bounded) until the deployment runs every replica, or fails. */
/* The newest event's seq (0 when there is none): progress is what comes after it. */
long long zl_cli_events_mark(const struct zl_cli_dirs *d)
{
    struct zl_http_response r = {0};
    struct zl_err err;
    long long seq = 0;
    if (zl_cli_call(d, "GET", "/api/v1/events?follow=false", NULL, &r, &err) == 0 &&
        r.status == 200) {
        const char *last = r.body;
        for (const char *p = r.body; *p; p++)
            if (*p == '\n' && p[1])
                last = p + 1;
        json_t *ev = json_loads(last, JSON_DISABLE_EOF_CHECK, NULL);
        seq = (long long)json_integer_value(json_object_get(ev, "seq"));
        json_decref(ev);
    }
    zl_http_response_fini(&r);
    return seq;
}

/* Print the containers' events of deployment name after *seq, as progress. */
static void print_progress(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *name,
                           long long *seq)
{
    char *path = zl_xasprintf("/api/v1/events?follow=false&deployment=%s&since=%lld", name, *seq);
    struct zl_http_response r = {0};
    struct zl_err err;
    if (zl_cli_call(d, "GET", path, NULL, &r, &err) == 0 && r.status == 200) {
        char *save = NULL;
        for (char *l = strtok_r(r.body, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            json_t *ev = json_loads(l, 0, NULL);
            const char *res = json_string_value(json_object_get(ev, "resource"));
            const char *kind = json_string_value(json_object_get(ev, "kind"));
            const char *id = json_string_value(json_object_get(ev, "id"));
            json_t *code = json_object_get(ev, "exit_code");
            if (json_integer_value(json_object_get(ev, "seq")) > *seq)
                *seq = json_integer_value(json_object_get(ev, "seq"));
            const char *hs = json_string_value(json_object_get(ev, "status"));
            if (res && !strcmp(res, "container") && kind && id && !cli->quiet &&
                !strcmp(kind, "health")) {
                fprintf(stderr, "  %s: %s (%s)\n", id, hs ? hs : "?",
                        json_string_value(json_object_get(ev, "output")));
            } else if (res && !strcmp(res, "service") && kind && !strcmp(kind, "waiting") &&
                       !cli->quiet) {
                fprintf(stderr, "  %s: waiting for %s to be %s\n",
                        json_string_value(json_object_get(ev, "service")),
                        json_string_value(json_object_get(ev, "dependency")),
                        json_string_value(json_object_get(ev, "condition")));
            } else if (res && !strcmp(res, "deployment") && kind && !strcmp(kind, "rollback") &&
                       !cli->quiet) {
                fprintf(stderr, "  rolling back to revision %lld: %s\n",
                        json_integer_value(json_object_get(ev, "to")),
                        json_string_value(json_object_get(ev, "reason")));
            } else if (res && !strcmp(res, "container") && kind && id && !cli->quiet) {
                fprintf(stderr, "  %s: %s", id,
                        !strcmp(kind, "create")      ? "creating (image, rootfs, config)"
                        : !strcmp(kind, "start")     ? "started"
                        : !strcmp(kind, "die")       ? "exited"
                        : !strcmp(kind, "unhealthy") ? "unhealthy, replacing it"
                                                     : "removed");
                if (code)
                    fprintf(stderr, " with code %lld", json_integer_value(code));
                fputc('\n', stderr);
            }
            json_decref(ev);
        }
    }
    zl_http_response_fini(&r);
    free(path);
}

/* The note of revision rev ("rolled back: ..."), or NULL (caller frees). */
static char *revision_note(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *name,
                           long long rev)
{
    char *path = zl_xasprintf("/api/v1/deployments/%s/revisions", name);
    json_t *j = zl_cli_get_json(cli, d, path);
    free(path);
    char *note = NULL;
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *e = json_array_get(j, i);
        const char *n = json_string_value(json_object_get(e, "note"));
        if (json_integer_value(json_object_get(e, "revision")) == rev && n && *n)
            note = zl_xstrdup(n);
    }
    json_decref(j);
    return note;
}

/* Wait until revision rev of deployment name runs (every replica ready), fails, or is rolled
 * back (rev 0: whatever revision is current). */
int zl_cli_wait_ready(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *name, int secs,
                      long long seq, long long rev)
{
    char *path = zl_xasprintf("/api/v1/deployments/%s", name);
    char last[256] = "";
    int rc = ZL_EXIT_FAIL;
    for (int i = 0; i < secs * 4; i++) {
        print_progress(cli, d, name, &seq);
        json_t *j = zl_cli_get_json(cli, d, path);
        if (!j)
            break;
        const char *st = json_string_value(json_object_get(j, "status"));
        unsigned run = 0, want = 0;
        json_t *svcs = json_object_get(j, "services");
        for (size_t k = 0; k < json_array_size(svcs); k++) {
            run += (unsigned)json_integer_value(
                json_object_get(json_array_get(svcs, k), "replicas_running"));
            want +=
                (unsigned)json_integer_value(json_object_get(json_array_get(svcs, k), "replicas"));
        }
        char now[256];
        snprintf(now, sizeof(now), "%s: %s (%u/%u replicas running)", name, st ? st : "?", run,
                 want);
        if (strcmp(now, last) && !cli->quiet)
            fprintf(stderr, "%s\n", now);
        snprintf(last, sizeof(last), "%s", now);
        bool done = st && !strcmp(st, "running"), failed = st && !strncmp(st, "failed", 6);
        long long now_rev = json_integer_value(json_object_get(j, "revision"));
        json_decref(j);
        if (rev && now_rev != rev) { /* rolled back by the daemon, or replaced meanwhile */
            char *note = revision_note(cli, d, name, rev);
            rc = zl_cli_fail(cli, "%s: revision %lld %s (now revision %lld)", name, rev,
                             note ? note : "was replaced", now_rev);
            snprintf(last, sizeof(last), "failed");
            free(note);
            break;
        }
        if (done) {
            rc = ZL_EXIT_OK;
            break;
        }
        if (failed) {
            rc = zl_cli_fail(cli, "%s", last);
            break;
        }
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rc != ZL_EXIT_OK && !strstr(last, "failed"))
        zl_cli_fail(cli, "%s: not ready after %d s", name, secs);
    free(path);
    return rc;
}

static volatile sig_atomic_t interrupted;

static void on_int(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Foreground `up`: the output of every replica as the daemon streams it, prefixes coloured
 * per service on a terminal, until Ctrl-C; then the deployment is brought down. */
struct fg {
    struct zl_cli *cli;
    struct zl_buf line; /* a line not yet complete */
};

static void fg_print(struct fg *f, const char *line, size_t n)
{
    static const char *const colors[] = {"36", "33", "32", "35", "34", "31"};
    const char *bar = memmem(line, n, " | ", 3);
    if (!f->cli->color_out || !bar) {
        fwrite(line, 1, n, stdout);
        return;
    }
    /* one colour per service: a hash of the name without the replica number */
    const char *dash = bar;
    while (dash > line && dash[-1] != '-')
        dash--;
    unsigned h = 5381;
    for (const char *p = line; p < (dash > line ? dash - 1 : bar); p++)
        h = h * 33 + (unsigned char)*p;
    printf("\033[%sm%.*s\033[0m", colors[h % ZL_ARRAY_LEN(colors)], (int)(bar - line), line);
    fwrite(bar, 1, n - (size_t)(bar - line), stdout);
}

static bool fg_chunk(void *ctx, const char *p, size_t n)
{
    struct fg *f = ctx;
    zl_buf_append(&f->line, p, n);
    size_t done = 0;
    for (;;) {
        const char *nl = memchr(f->line.data + done, '\n', f->line.len - done);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (f->line.data + done)) + 1;
        fg_print(f, f->line.data + done, len);
        done += len;
    }
    memmove(f->line.data, f->line.data + done, f->line.len - done);
    f->line.len -= done;
    fflush(stdout);
    return !interrupted;
}

static int follow(struct zl_cli *cli, const struct zl_cli_dirs *d, const struct zl_spec *s)
{
    const char *name = zl_spec_deployment(s);
    struct sigaction sa = {.sa_handler = on_int};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct zl_http_target t;
    char host[256];
    zl_cli_target(d, &t, host, sizeof(host));
    t.timeout_ms = 0;
    t.cancel = &interrupted;
    char *path = zl_xasprintf("/api/v1/deployments/%s/logs?lines=1000&follow=true", name);
    struct fg f = {.cli = cli};
    zl_buf_init(&f.line);
    /* the stream ends on Ctrl-C, or when the deployment is removed elsewhere */
    int status = 0;
    struct zl_err err;
    bool ended = false;
    for (int tries = 0; !interrupted && !ended && tries < 3; tries++) {
        ended = zl_http_request_stream(&t, "GET", path, NULL, NULL, 0, fg_chunk, &f, &status,
                                       &err) == 0 &&
                status == 200;
        if (ended)
            break;
        if (!interrupted) {
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
        }
    }
    zl_buf_fini(&f.line);
    free(path);
    if (!interrupted && ended)
        return ZL_EXIT_OK; /* removed by someone else: nothing to bring down */
    if (!interrupted)
        return zl_cli_fail(cli, "lost the daemon's log stream: %s (the deployment keeps running)",
                           status ? "bad answer" : err.msg);
    fprintf(stderr, "\nstopping %s\n", name);
    path = zl_xasprintf("/api/v1/deployments/%s", name);
    struct zl_http_response r = {0};
    int rc =
        zl_cli_call(d, "DELETE", path, NULL, &r, &err) < 0 ? zl_cli_fail(cli, "%s", err.msg) : 0;
    zl_http_response_fini(&r);
    free(path);
    return rc;
}

int zl_cli_cmd_up(struct zl_cli *cli, int argc, char **argv)
{
    bool up = !strcmp(argv[0], "up"), background = !up, when_ready = false;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b") || !strcmp(argv[i], "--background"))
            background = true;
        else if (!strcmp(argv[i], "-d") || !strcmp(argv[i], "--detach-when-ready") ||
                 !strcmp(argv[i], "--wait"))
            when_ready = true;
        else if (argv[i][0] != '-' || !strcmp(argv[i], "-"))
            file = argv[i];
        else
            return zl_cli_usage(cli, argv[0], "unexpected argument '%s'", argv[i]);
    }
    char *path = find_spec(cli, file);
    if (!path)
        return ZL_EXIT_FAIL;
    char *buf = NULL;
    size_t len = 0;
    struct zl_err err;
    struct zl_spec *s = NULL;
    struct zl_diags *diags = NULL;
    int rc =
        zl_read_file(path, 16u << 20, &buf, &len, &err) < 0 ? zl_cli_fail(cli, "%s", err.msg) : 0;
    if (rc == 0 && zl_spec_load(path, buf, len, NULL, &s, &diags) < 0) {
        zl_diags_print(diags, path, stderr, cli->color_err);
        rc = zl_cli_fail(cli, "%s: invalid; nothing was deployed", path);
    }
    zl_diags_free(diags);
    bool ok = true;
    json_t *env = rc == 0 ? env_values(cli, s, &ok) : NULL;
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    if (rc == 0 && !ok)
        rc = ZL_EXIT_FAIL;
    if (rc == 0)
        rc = zl_cli_ensure_daemon(cli, &d);
    long long seq = rc == 0 ? zl_cli_events_mark(&d) : 0, rev = 0;
    if (rc == 0) {
        json_t *body = json_pack("{s:s#, s:O}", "spec", buf, len, "env", env);
        char *text = json_dumps(body, JSON_COMPACT);
        struct zl_http_response r = {0};
        if (zl_cli_call(&d, "POST", "/api/v1/deployments", text, &r, &err) < 0)
            rc = zl_cli_fail(cli, "%s", err.msg);
        else if (r.status != 201)
            rc = zl_cli_api_fail_in(cli, &r, path);
        else {
            json_t *j = json_loads(r.body, 0, NULL);
            rev = json_integer_value(json_object_get(j, "revision"));
            json_decref(j);
            if (!cli->quiet)
                fprintf(stderr, "deploying %s (revision %lld)\n", zl_spec_deployment(s), rev);
        }
        zl_http_response_fini(&r);
        free(text);
        json_decref(body);
    }
    if (rc == 0 && (when_ready || !background))
        rc = zl_cli_wait_ready(cli, &d, zl_spec_deployment(s), 300, seq, rev);
    if (rc == 0 && up && !background && !when_ready)
        rc = follow(cli, &d, s);
    json_decref(env);
    zl_spec_free(s);
    zl_cli_dirs_fini(&d);
    free(buf);
    free(path);
    return rc;
}

/* ---------------- down, ps, logs, scale, status ---------------- */

/* The deployment named on the command line, else the one of the spec found here. */
static char *deployment_name(struct zl_cli *cli, const char *given)
{
    if (given)
        return zl_xstrdup(given);
    char *path = find_spec(cli, NULL), *buf = NULL, *name = NULL;
    size_t len;
    struct zl_err err;
    struct zl_spec *s = NULL;
    struct zl_diags *diags = NULL;
    if (path && zl_read_file(path, 16u << 20, &buf, &len, &err) == 0 &&
        zl_spec_load(path, buf, len, NULL, &s, &diags) == 0)
        name = zl_xstrdup(zl_spec_deployment(s));
    else if (path)
        zl_cli_fail(cli, "%s: cannot read the deployment name (give it as an argument)", path);
    zl_diags_free(diags);
    zl_spec_free(s);
    free(buf);
    free(path);
    return name;
}

int zl_cli_cmd_down(struct zl_cli *cli, int argc, char **argv)
{
    if (argc > 2)
        return zl_cli_usage(cli, "down", "give at most one deployment");
    char *name = deployment_name(cli, argc > 1 ? argv[1] : NULL);
    if (!name)
        return ZL_EXIT_FAIL;
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    struct zl_http_response r = {0};
    struct zl_err err;
    char *path = zl_xasprintf("/api/v1/deployments/%s", name);
    int rc = zl_cli_ready(&d) ? 0 : zl_cli_fail(cli, "the zlayer daemon is not running");
    if (rc == 0 && zl_cli_call(&d, "DELETE", path, NULL, &r, &err) < 0)
        rc = zl_cli_fail(cli, "%s", err.msg);
    else if (rc == 0 && r.status != 204)
        rc = zl_cli_api_fail(cli, &r);
    zl_http_response_fini(&r);
    /* wait (bounded) until its containers are gone */
    for (int i = 0; rc == 0 && i < 240; i++) {
        json_t *cs = zl_cli_get_json(cli, &d, "/api/v1/containers");
        size_t left = 0;
        for (size_t k = 0; k < json_array_size(cs); k++)
            left += !strcmp(json_string_value(json_object_get(json_array_get(cs, k), "deployment")),
                            name);
        json_decref(cs);
        if (left == 0)
            break;
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rc == 0 && !cli->quiet)
        printf("removed %s\n", name);
    free(path);
    free(name);
    zl_cli_dirs_fini(&d);
    return rc;
}

/* The crash records of each deployment in deps (consumed), newest first. */
static json_t *crashes_of(struct zl_cli *cli, const struct zl_cli_dirs *d, json_t *deps)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(deps); i++) {
        char *path =
            zl_xasprintf("/api/v1/deployments/%s/crashes",
                         json_string_value(json_object_get(json_array_get(deps, i), "name")));
        json_t *c = zl_cli_get_json(cli, d, path);
        free(path);
        if (!c) {
            json_decref(out);
            out = NULL;
            break;
        }
        json_array_extend(out, c);
        json_decref(c);
    }
    json_decref(deps);
    return out;
}

int zl_cli_cmd_ps(struct zl_cli *cli, int argc, char **argv)
{
    bool show_containers = false, show_crashes = false, show_stats = false;
    enum zl_cli_format fmt = ZL_FMT_TABLE;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--containers"))
            show_containers = true;
        else if (!strcmp(argv[i], "--stats"))
            show_stats = show_containers = true;
        else if (!strcmp(argv[i], "--crashes"))
            show_crashes = true;
        else if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--format")) && i + 1 < argc) {
            if (zl_cli_parse_format(argv[++i], 7, &fmt) < 0)
                return zl_cli_usage(cli, "ps", "unknown format '%s'", argv[i]);
        } else
            return zl_cli_usage(cli, "ps", "unexpected argument '%s'", argv[i]);
    }
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    if (!zl_cli_ready(&d)) {
        zl_cli_dirs_fini(&d);
        return zl_cli_fail(cli, "the zlayer daemon is not running (zlayer up starts it)");
    }
    json_t *j =
        zl_cli_get_json(cli, &d, show_containers ? "/api/v1/containers" : "/api/v1/deployments");
    if (j && show_crashes) /* every deployment's crash records, newest first */
        j = crashes_of(cli, &d, j);
    zl_cli_dirs_fini(&d);
    if (!j)
        return ZL_EXIT_FAIL;
    if (fmt != ZL_FMT_TABLE) {
        char *text = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    } else if (show_crashes) {
        printf("%-20s %-40s %-5s %s\n", "WHEN", "CONTAINER", "EXIT", "LAST OUTPUT");
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *c = json_array_get(j, i);
            time_t at = (time_t)json_integer_value(json_object_get(c, "at"));
            char when[32];
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&at));
            const char *tail = json_string_value(json_object_get(c, "log_tail")), *last = tail;
            for (const char *p = tail; p && *p; p++)
                if (*p == '\n' && p[1])
                    last = p + 1;
            printf("%-20s %-40s %-5lld %.*s%s\n", when,
                   json_string_value(json_object_get(c, "container")),
                   json_integer_value(json_object_get(c, "exit_code")),
                   last ? (int)strcspn(last, "\n") : 0, last ? last : "",
                   json_is_true(json_object_get(c, "oom_killed")) ? " (out of memory)" : "");
        }
    } else if (show_stats) {
        printf("%-32s %-15s %12s %10s %12s %10s\n", "CONTAINER", "ADDRESS", "RX BYTES", "RX PKTS",
               "TX BYTES", "TX PKTS");
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *c = json_array_get(j, i), *n = json_object_get(c, "network");
            const char *ip = json_string_value(json_object_get(n, "ip"));
            const char *joined = json_string_value(json_object_get(n, "joined"));
            char addr[64];
            snprintf(addr, sizeof(addr), "%s%s", joined ? "with " : "",
                     ip       ? ip
                     : joined ? joined
                              : "-");
            printf("%-32s %-15s %12lld %10lld %12lld %10lld\n",
                   json_string_value(json_object_get(c, "id")), addr,
                   json_integer_value(json_object_get(n, "rx_bytes")),
                   json_integer_value(json_object_get(n, "rx_packets")),
                   json_integer_value(json_object_get(n, "tx_bytes")),
                   json_integer_value(json_object_get(n, "tx_packets")));
        }
    } else if (show_containers) {
        printf("%-32s %-16s %-16s %-4s %-8s %-9s %s\n", "CONTAINER", "DEPLOYMENT", "SERVICE", "REV",
               "PID", "STATUS", "HEALTH");
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *c = json_array_get(j, i), *h = json_object_get(c, "health");
            const char *hs = json_string_value(json_object_get(h, "status"));
            const char *out = json_string_value(json_object_get(h, "output"));
            printf("%-32s %-16s %-16s %-4lld %-8lld %-9s %s%s%.*s%s\n",
                   json_string_value(json_object_get(c, "id")),
                   json_string_value(json_object_get(c, "deployment")),
                   json_string_value(json_object_get(c, "service")),
                   json_integer_value(json_object_get(c, "revision")),
                   json_integer_value(json_object_get(c, "pid")),
                   json_string_value(json_object_get(c, "status")), hs ? hs : "-",
                   out && *out ? " (" : "", out ? (int)strcspn(out, "\n") : 0, out ? out : "",
                   out && *out ? ")" : "");
        }
    } else {
        printf("%-24s %-20s %-12s %-10s %s\n", "DEPLOYMENT", "SERVICE", "REPLICAS", "STATUS",
               "HEALTH");
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *dep = json_array_get(j, i), *svcs = json_object_get(dep, "services");
            for (size_t k = 0; k < json_array_size(svcs); k++) {
                json_t *s = json_array_get(svcs, k);
                char reps[32];
                snprintf(reps, sizeof(reps), "%lld/%lld",
                         json_integer_value(json_object_get(s, "replicas_running")),
                         json_integer_value(json_object_get(s, "replicas")));
                const char *rt = json_string_value(json_object_get(s, "rtype"));
                const char *h = json_string_value(json_object_get(s, "health"));
                bool job = rt && strcmp(rt, "service") != 0;
                printf("%-24s %-20s %-12s %-10s %.*s\n",
                       json_string_value(json_object_get(dep, "name")),
                       json_string_value(json_object_get(s, "name")), job ? rt : reps,
                       json_string_value(json_object_get(dep, "status")),
                       job ? 1 : (h ? (int)strcspn(h, "\n") : 1), job || !h ? "-" : h);
            }
        }
    }
    json_decref(j);
    return ZL_EXIT_OK;
}

int zl_cli_cmd_scale(struct zl_cli *cli, int argc, char **argv)
{
    const char *dep = NULL, *svc = NULL, *num = NULL;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-d") || !strcmp(argv[i], "--deployment")) && i + 1 < argc)
            dep = argv[++i];
        else if (!svc)
            svc = argv[i];
        else if (!num)
            num = argv[i];
        else
            return zl_cli_usage(cli, "scale", "unexpected argument '%s'", argv[i]);
    }
    char *end = NULL;
    long n = num ? strtol(num, &end, 10) : -1;
    if (!svc || !num || *end || n < 0 || n > 100)
        return zl_cli_usage(cli, "scale", "scale needs SERVICE and a count 0-100");
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    char *owner = dep ? zl_xstrdup(dep) : zl_cli_ready(&d) ? zl_cli_owner_of(cli, &d, svc) : NULL;
    int rc = owner ? 0 : zl_cli_fail(cli, "cannot find the deployment of %s", svc);
    if (rc == 0) {
        char *path = zl_xasprintf("/api/v1/deployments/%s/services/%s/scale", owner, svc);
        char body[64];
        snprintf(body, sizeof(body), "{\"replicas\": %ld}", n);
        struct zl_http_response r = {0};
        struct zl_err err;
        if (zl_cli_call(&d, "POST", path, body, &r, &err) < 0)
            rc = zl_cli_fail(cli, "%s", err.msg);
        else if (r.status != 200)
            rc = zl_cli_api_fail(cli, &r);
        else if (!cli->quiet)
            printf("%s/%s scaled to %ld\n", owner, svc, n);
        zl_http_response_fini(&r);
        free(path);
    }
    free(owner);
    zl_cli_dirs_fini(&d);
    return rc;
}

int zl_cli_cmd_status(struct zl_cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return zl_cli_usage(cli, "status", "status takes no arguments");
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    int rc = ZL_EXIT_OK;
    if (!zl_cli_ready(&d)) {
        printf("zlayer daemon: not running (socket %s)\n", d.sock);
        rc = ZL_EXIT_FAIL;
    } else {
        json_t *j = zl_cli_get_json(cli, &d, "/api/v1/daemon/status");
        json_t *deps = zl_cli_get_json(cli, &d, "/api/v1/deployments");
        printf("zlayer daemon: running, pid %lld, version %s\nsocket: %s\ndata: %s\n"
               "deployments: %zu\n",
               json_integer_value(json_object_get(j, "pid")),
               json_string_value(json_object_get(j, "version")), d.sock, d.root,
               json_array_size(deps));
        json_decref(j);
        json_decref(deps);
    }
    zl_cli_dirs_fini(&d);
    return rc;
}

/* exec [-d DEP] SERVICE [-r N] [--] CMD...: the command's output and exit code. */
int zl_cli_cmd_token(struct zl_cli *cli, int argc, char **argv)
{
    long ttl = 3600;
    const char *role = "admin";
    if (argc < 2 || strcmp(argv[1], "create") != 0)
        return zl_cli_usage(cli, "token",
                            "use: token create [--ttl SECS] [--role admin|operator|viewer]");
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--ttl") && i + 1 < argc)
            ttl = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--role") && i + 1 < argc) {
            role = argv[++i];
            if (strcmp(role, "admin") && strcmp(role, "operator") && strcmp(role, "viewer"))
                return zl_cli_usage(cli, "token", "--role is admin, operator or viewer");
        } else
            return zl_cli_usage(cli, "token", "unexpected argument '%s'", argv[i]);
    }
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    int rc = zl_cli_ensure_daemon(cli, &d);
    if (rc == 0) {
        char body[128];
        snprintf(body, sizeof(body), "{\"ttl_secs\": %ld, \"role\": \"%s\"}", ttl, role);
        struct zl_http_response r = {0};
        struct zl_err err;
        /* always over the local socket: only root there may mint tokens */
        struct zl_http_target t = {.unix_path = d.sock, .timeout_ms = 10000};
        if (zl_http_request(&t, "POST", "/api/v1/tokens", "application/json", body, strlen(body),
                            &r, &err) < 0)
            rc = zl_cli_fail(cli, "%s", err.msg);
        else if (r.status != 201)
            rc = zl_cli_api_fail(cli, &r);
        else {
            json_t *j = json_loads(r.body, 0, NULL);
            printf("%s\n", json_string_value(json_object_get(j, "access_token")));
            json_decref(j);
        }
        zl_http_response_fini(&r);
    }
    zl_cli_dirs_fini(&d);
    return rc;
}
