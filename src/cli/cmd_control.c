/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_control.c: zlayer stop / start / restart DEPLOYMENT [--service S]: by hand, kept
 * by the daemon until the next apply; each waits (bounded) until it has taken effect. */
#include "cli/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_SECS 120

/* The pids of the replicas of svc (all services when NULL) in a deployment's JSON. */
static json_t *pids_of(json_t *dep, const char *svc)
{
    json_t *out = json_array(), *svcs = json_object_get(dep, "services");
    for (size_t i = 0; i < json_array_size(svcs); i++) {
        json_t *s = json_array_get(svcs, i), *cs = json_object_get(s, "containers");
        if (svc && strcmp(json_string_value(json_object_get(s, "name")), svc) != 0)
            continue;
        for (size_t k = 0; k < json_array_size(cs); k++)
            json_array_append(out, json_object_get(json_array_get(cs, k), "pid"));
    }
    return out;
}

static bool any_common(json_t *a, json_t *b)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        for (size_t k = 0; k < json_array_size(b); k++)
            if (json_integer_value(json_array_get(a, i)) &&
                json_equal(json_array_get(a, i), json_array_get(b, k)))
                return true;
    return false;
}

/* Has the action taken effect? */
static bool done(const char *verb, json_t *dep, const char *svc, json_t *before)
{
    const char *status = json_string_value(json_object_get(dep, "status"));
    json_t *now = pids_of(dep, svc);
    bool ok;
    if (!strcmp(verb, "stop"))
        ok = json_array_size(now) == 0;
    else if (!strcmp(verb, "start"))
        ok = status && !strcmp(status, "running") && json_array_size(now) > 0;
    else
        ok = status && !strcmp(status, "running") && json_array_size(now) > 0 &&
             !any_common(before, now);
    json_decref(now);
    return ok;
}

int zl_cli_cmd_control(struct zl_cli *cli, int argc, char **argv)
{
    const char *verb = argv[0], *name = NULL, *svc = NULL;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-s") || !strcmp(argv[i], "--service")) && i + 1 < argc)
            svc = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return zl_cli_usage(cli, verb, "unexpected argument '%s'", argv[i]);
    }
    if (!name)
        return zl_cli_usage(cli, verb, "%s needs a DEPLOYMENT", verb);
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    if (!zl_cli_ready(&d)) {
        zl_cli_dirs_fini(&d);
        return zl_cli_fail(cli, "the zlayer daemon is not running (zlayer up starts it)");
    }
    char *path = zl_xasprintf("/api/v1/deployments/%s", name);
    json_t *dep = zl_cli_get_json(cli, &d, path);
    json_t *before = dep ? pids_of(dep, svc) : NULL;
    json_decref(dep);
    int rc = before ? ZL_EXIT_OK : ZL_EXIT_FAIL;
    if (rc == 0) {
        char *post = zl_xasprintf("%s/%s", path, verb);
        json_t *body = svc ? json_pack("{s:s}", "service", svc) : json_object();
        char *text = json_dumps(body, JSON_COMPACT);
        struct zl_http_response r = {0};
        struct zl_err err;
        if (zl_cli_call(&d, "POST", post, text, &r, &err) < 0)
            rc = zl_cli_fail(cli, "%s", err.msg);
        else if (r.status != 202)
            rc = zl_cli_api_fail(cli, &r);
        zl_http_response_fini(&r);
        free(text);
        json_decref(body);
        free(post);
    }
    bool ok = false;
    for (int i = 0; rc == 0 && !ok && i < WAIT_SECS * 4; i++) {
        json_t *now = zl_cli_get_json(cli, &d, path);
        if (!now) {
            rc = ZL_EXIT_FAIL;
            break;
        }
        ok = done(verb, now, svc, before);
        json_decref(now);
        if (!ok) {
            struct timespec ts = {0, 250 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (rc == 0 && !ok)
        rc = zl_cli_fail(cli, "%s %s%s%s: not done after %d s (zlayer ps shows where it is)", verb,
                         name, svc ? " --service " : "", svc ? svc : "", WAIT_SECS);
    if (rc == 0 && !cli->quiet)
        printf("%s%s%s: %s\n", name, svc ? "/" : "", svc ? svc : "",
               !strcmp(verb, "stop")    ? "stopped"
               : !strcmp(verb, "start") ? "started"
                                        : "restarted");
    json_decref(before);
    free(path);
    zl_cli_dirs_fini(&d);
    return rc;
}
