/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_job.c: zlayer job (run, runs, status, logs, cancel) and zlayer cron (list,
 * trigger, enable, disable): the daemon's job runs and cron schedules. */
#include "cli/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_POLL_MS 250
#define WAIT_MAX_S   (24 * 3600 + 120) /* a run is stopped by the daemon after 24 h */

struct args {
    const char *name, *deployment;
    bool wait;
    long limit;
    enum zl_cli_format fmt;
};

/* Names go into URL paths as they are: refuse what would change the path. */
static bool plain(const char *s)
{
    return *s && !strpbrk(s, "/?#%& \t\n");
}

static int parse(struct zl_cli *cli, const char *cmd, int argc, char **argv, int first,
                 struct args *a)
{
    memset(a, 0, sizeof(*a));
    a->limit = 50;
    for (int i = first; i < argc; i++) {
        const char *s = argv[i];
        char *end = NULL;
        if ((!strcmp(s, "-d") || !strcmp(s, "--deployment")) && i + 1 < argc)
            a->deployment = argv[++i];
        else if (!strcmp(s, "--wait") || !strcmp(s, "-w"))
            a->wait = true;
        else if ((!strcmp(s, "-n") || !strcmp(s, "--limit")) && i + 1 < argc) {
            a->limit = strtol(argv[++i], &end, 10);
            if (*end || a->limit < 1 || a->limit > 1000)
                return zl_cli_usage(cli, cmd, "--limit takes 1-1000, not '%s'", argv[i]);
        } else if ((!strcmp(s, "-f") || !strcmp(s, "--format")) && i + 1 < argc) {
            if (zl_cli_parse_format(argv[++i], 1u << ZL_FMT_TABLE | 1u << ZL_FMT_JSON, &a->fmt) < 0)
                return zl_cli_usage(cli, cmd, "unknown format '%s' (table or json)", argv[i]);
        } else if (s[0] != '-' && !a->name)
            a->name = s;
        else
            return zl_cli_usage(cli, cmd, "unexpected argument '%s'", s);
    }
    if (a->name && !plain(a->name))
        return zl_cli_usage(cli, cmd, "'%s' is not a job name or run id", a->name);
    if (a->deployment && !plain(a->deployment))
        return zl_cli_usage(cli, cmd, "'%s' is not a deployment name", a->deployment);
    return 0;
}

static void print_json(json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2));
    puts(text);
    free(text);
}

/* One request with a JSON answer in *out (may be NULL); non-2xx is printed as an error. */
static int call(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *method,
                const char *path, const char *body, json_t **out)
{
    struct zl_http_response r = {0};
    struct zl_err err;
    int rc = ZL_EXIT_OK;
    if (zl_cli_call(d, method, path, body, &r, &err) < 0)
        rc = zl_cli_fail(cli, "%s", err.msg);
    else if (r.status < 200 || r.status > 299)
        rc = zl_cli_api_fail(cli, &r);
    else if (out)
        *out = json_loads(r.body ? r.body : "", 0, NULL);
    zl_http_response_fini(&r);
    return rc;
}

/* "2026-01-02T03:04:05.678Z" -> "2026-01-02 03:04:05", or "-". */
static const char *when(json_t *v, char buf[32])
{
    const char *s = json_string_value(v);
    if (!s || strlen(s) < 19)
        return "-";
    snprintf(buf, 32, "%.10s %.8s", s, s + 11);
    return buf;
}

static void print_runs(json_t *runs)
{
    printf("%-8s %-10s %-10s %-20s %-10s %s\n", "ID", "STATUS", "TRIGGER", "STARTED", "DURATION",
           "EXIT");
    for (size_t i = 0; i < json_array_size(runs); i++) {
        json_t *r = json_array_get(runs, i), *dur = json_object_get(r, "duration_ms"),
               *code = json_object_get(r, "exit_code");
        char t[32], d[32] = "-", c[16] = "-";
        if (json_is_integer(dur))
            snprintf(d, sizeof(d), "%.1fs", (double)json_integer_value(dur) / 1000);
        if (json_is_integer(code))
            snprintf(c, sizeof(c), "%lld", (long long)json_integer_value(code));
        printf("%-8lld %-10s %-10s %-20s %-10s %s\n",
               (long long)json_integer_value(json_object_get(r, "id")),
               json_string_value(json_object_get(r, "status")),
               json_string_value(json_object_get(r, "trigger")),
               when(json_object_get(r, "started_at"), t), d, c);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* --wait: until the run ends; its output to stdout; its exit code becomes ours. */
static int follow(struct zl_cli *cli, const struct zl_cli_dirs *d, long long id)
{
    char *path = zl_xasprintf("/api/v1/jobs/%lld/status", id);
    json_t *st = NULL;
    int rc = ZL_EXIT_OK;
    const char *status = "pending";
    for (long i = 0; i < WAIT_MAX_S * (1000 / WAIT_POLL_MS); i++) {
        json_decref(st);
        st = NULL;
        if ((rc = call(cli, d, "GET", path, NULL, &st)) != 0)
            break;
        status = json_string_value(json_object_get(st, "status"));
        if (status && strcmp(status, "pending") != 0 && strcmp(status, "running") != 0)
            break;
        sleep_ms(WAIT_POLL_MS);
    }
    free(path);
    if (rc == 0 && (!strcmp(status, "pending") || !strcmp(status, "running")))
        rc = zl_cli_fail(cli, "run %lld: still %s after %d s", id, status, WAIT_MAX_S);
    if (rc == 0) {
        path = zl_xasprintf("/api/v1/jobs/%lld/logs", id);
        struct zl_http_response r = {0};
        struct zl_err err;
        if (zl_cli_call(d, "GET", path, NULL, &r, &err) == 0 && r.status == 200 && r.body)
            fwrite(r.body, 1, r.len, stdout);
        zl_http_response_fini(&r);
        free(path);
        fflush(stdout);
        json_t *code = json_object_get(st, "exit_code");
        const char *error = json_string_value(json_object_get(st, "error"));
        if (strcmp(status, "completed") != 0 && !cli->quiet)
            fprintf(stderr, "run %lld %s%s%s\n", id, status, error ? ": " : "", error ? error : "");
        rc = json_is_integer(code)          ? (int)json_integer_value(code)
             : !strcmp(status, "completed") ? ZL_EXIT_OK
                                            : ZL_EXIT_FAIL;
    }
    json_decref(st);
    return rc;
}

/* job run / cron trigger */
static int trigger(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *kind,
                   const struct args *a)
{
    char *path =
        zl_xasprintf("/api/v1/%s/%s/trigger%s%s", kind, a->name,
                     a->deployment ? "?deployment=" : "", a->deployment ? a->deployment : "");
    json_t *res = NULL;
    int rc = call(cli, d, "POST", path, "{\"trigger\": \"cli\"}", &res);
    free(path);
    long long id = (long long)json_integer_value(json_object_get(res, "execution_id"));
    json_decref(res);
    if (rc != 0)
        return rc;
    if (!a->wait) {
        printf("%lld\n", id);
        return ZL_EXIT_OK;
    }
    if (!cli->quiet)
        fprintf(stderr, "run %lld started\n", id);
    return follow(cli, d, id);
}

static int job_runs(struct zl_cli *cli, const struct zl_cli_dirs *d, const struct args *a)
{
    char *path =
        zl_xasprintf("/api/v1/jobs/%s/executions?limit=%ld%s%s", a->name, a->limit,
                     a->deployment ? "&deployment=" : "", a->deployment ? a->deployment : "");
    json_t *runs = NULL;
    int rc = call(cli, d, "GET", path, NULL, &runs);
    free(path);
    if (rc == 0 && a->fmt == ZL_FMT_JSON)
        print_json(runs);
    else if (rc == 0)
        print_runs(runs);
    json_decref(runs);
    return rc;
}

/* After a cancel: until the run has ended (its container is stopped within its grace
 * period), at most CANCEL_WAIT_S; *st becomes its last status. */
#define CANCEL_WAIT_S 120
static int settle(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *id, json_t **st)
{
    char *path = zl_xasprintf("/api/v1/jobs/%s/status", id);
    int rc = ZL_EXIT_OK;
    for (long i = 0; rc == 0 && i < CANCEL_WAIT_S * (1000 / WAIT_POLL_MS); i++) {
        const char *s = json_string_value(json_object_get(*st, "status"));
        if (s && strcmp(s, "pending") != 0 && strcmp(s, "running") != 0)
            break;
        sleep_ms(WAIT_POLL_MS);
        json_decref(*st);
        *st = NULL;
        rc = call(cli, d, "GET", path, NULL, st);
    }
    free(path);
    return rc;
}

/* job status / logs / cancel RUN */
static int by_id(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *verb,
                 const struct args *a)
{
    char *path = zl_xasprintf("/api/v1/jobs/%s/%s", a->name, verb);
    int rc = ZL_EXIT_OK;
    if (!strcmp(verb, "logs")) {
        struct zl_http_response r = {0};
        struct zl_err err;
        if (zl_cli_call(d, "GET", path, NULL, &r, &err) < 0)
            rc = zl_cli_fail(cli, "%s", err.msg);
        else if (r.status != 200)
            rc = zl_cli_api_fail(cli, &r);
        else if (r.body)
            fwrite(r.body, 1, r.len, stdout);
        zl_http_response_fini(&r);
    } else {
        json_t *res = NULL;
        rc = call(cli, d, !strcmp(verb, "cancel") ? "POST" : "GET", path, NULL, &res);
        if (rc == 0 && !strcmp(verb, "cancel"))
            rc = settle(cli, d, a->name, &res);
        if (rc == 0 && (a->fmt == ZL_FMT_JSON || !strcmp(verb, "status")))
            print_json(res);
        else if (rc == 0 && !cli->quiet)
            printf("%s: %s\n", a->name, json_string_value(json_object_get(res, "status")));
        json_decref(res);
    }
    free(path);
    return rc;
}

static int job_list(struct zl_cli *cli, const struct zl_cli_dirs *d, const struct args *a)
{
    json_t *list = NULL;
    int rc = call(cli, d, "GET", "/api/v1/jobs", NULL, &list);
    if (rc == 0 && a->fmt == ZL_FMT_JSON) {
        print_json(list);
    } else if (rc == 0) {
        printf("%-20s %-20s %-6s %s\n", "NAME", "DEPLOYMENT", "TYPE", "SCHEDULE");
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *j = json_array_get(list, i);
            const char *sched = json_string_value(json_object_get(j, "schedule"));
            printf("%-20s %-20s %-6s %s\n", json_string_value(json_object_get(j, "name")),
                   json_string_value(json_object_get(j, "deployment")),
                   json_string_value(json_object_get(j, "rtype")), sched && *sched ? sched : "-");
        }
    }
    json_decref(list);
    return rc;
}

static int cron_list(struct zl_cli *cli, const struct zl_cli_dirs *d, const struct args *a)
{
    json_t *list = NULL;
    int rc = call(cli, d, "GET", "/api/v1/cron", NULL, &list);
    if (rc == 0 && a->fmt == ZL_FMT_JSON) {
        print_json(list);
    } else if (rc == 0) {
        printf("%-20s %-20s %-20s %-8s %-20s %s\n", "NAME", "DEPLOYMENT", "SCHEDULE", "ENABLED",
               "LAST RUN", "NEXT");
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *c = json_array_get(list, i);
            char t1[32], t2[32];
            printf(
                "%-20s %-20s %-20s %-8s %-20s %s\n", json_string_value(json_object_get(c, "name")),
                json_string_value(json_object_get(c, "deployment")),
                json_string_value(json_object_get(c, "schedule")),
                json_is_true(json_object_get(c, "enabled")) ? "yes" : "no",
                when(json_object_get(c, "last_run"), t1), when(json_object_get(c, "next_run"), t2));
        }
    }
    json_decref(list);
    return rc;
}

static int cron_enable(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *verb,
                       const struct args *a)
{
    char *path =
        zl_xasprintf("/api/v1/cron/%s/%s%s%s", a->name, verb, a->deployment ? "?deployment=" : "",
                     a->deployment ? a->deployment : "");
    json_t *res = NULL;
    int rc = call(cli, d, "PUT", path, NULL, &res);
    if (rc == 0 && !cli->quiet)
        printf("%s\n", json_string_value(json_object_get(res, "message")));
    json_decref(res);
    free(path);
    return rc;
}

/* zlayer job SUBCOMMAND ... and zlayer cron SUBCOMMAND ... */
int zl_cli_cmd_job(struct zl_cli *cli, int argc, char **argv)
{
    const char *cmd = argv[0];
    bool cron = !strcmp(cmd, "cron");
    if (argc < 2)
        return zl_cli_usage(cli, cmd, "%s needs a subcommand", cmd);
    const char *sub = argv[1];
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            zl_cli_print_help(zl_cli_find(cmd));
            return ZL_EXIT_OK;
        }
    /* `job trigger` is `job run` (the name other tools use) */
    if (!cron && !strcmp(sub, "trigger"))
        sub = "run";
    static const char *const job_subs[] = {"list", "ls", "run", "runs", "status", "logs", "cancel"};
    static const char *const cron_subs[] = {"list", "ls", "trigger", "enable", "disable"};
    bool known = false;
    for (size_t i = 0; i < (cron ? ZL_ARRAY_LEN(cron_subs) : ZL_ARRAY_LEN(job_subs)); i++)
        known = known || !strcmp(sub, cron ? cron_subs[i] : job_subs[i]);
    if (!known)
        return zl_cli_usage(cli, cmd, "unknown subcommand '%s'", sub);
    struct args a;
    int rc = parse(cli, cmd, argc, argv, 2, &a);
    if (rc != 0)
        return rc;
    bool list = !strcmp(sub, "list") || !strcmp(sub, "ls");
    if (!list && !a.name)
        return zl_cli_usage(cli, cmd, "%s %s needs a %s", cmd, sub,
                            !cron && strcmp(sub, "run") && strcmp(sub, "runs") ? "RUN id" : "NAME");
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    if (!zl_cli_ready(&d))
        rc = zl_cli_fail(cli, "the zlayer daemon is not running (zlayer serve --daemon starts it)");
    else if (list)
        rc = cron ? cron_list(cli, &d, &a) : job_list(cli, &d, &a);
    else if (!strcmp(sub, "run"))
        rc = trigger(cli, &d, "jobs", &a);
    else if (!strcmp(sub, "trigger"))
        rc = trigger(cli, &d, "cron", &a);
    else if (!strcmp(sub, "runs"))
        rc = job_runs(cli, &d, &a);
    else if (cron)
        rc = cron_enable(cli, &d, sub, &a);
    else
        rc = by_id(cli, &d, sub, &a);
    zl_cli_dirs_fini(&d);
    return rc;
}
