/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_exec.c: zlayer exec: a command in a service's replica. Without -i/-t it runs
 * through the API and its output comes back at the end; with them it runs here, on the node,
 * attached to this terminal (a pty with -t), through the container runtime. */
#include "cli/client.h"
#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The id of the running replica (the given one, or the lowest) of dep/svc, or NULL. */
static char *pick_replica(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *dep,
                          const char *svc, long replica)
{
    json_t *cs = zl_cli_get_json(cli, d, "/api/v1/containers");
    const char *best = NULL;
    long best_rep = -1;
    for (size_t i = 0; i < json_array_size(cs); i++) {
        json_t *c = json_array_get(cs, i);
        long rep = (long)json_integer_value(json_object_get(c, "replica"));
        if (strcmp(json_string_value(json_object_get(c, "deployment")), dep) ||
            strcmp(json_string_value(json_object_get(c, "service")), svc) ||
            strcmp(json_string_value(json_object_get(c, "status")), "running") ||
            (replica >= 0 && rep != replica) || (best && rep > best_rep))
            continue;
        best = json_string_value(json_object_get(c, "id"));
        best_rep = rep;
    }
    char *id = best ? zl_xstrdup(best) : NULL;
    json_decref(cs);
    return id;
}

/* -i / -t: through the runtime here; the daemon only says which container. */
static int exec_local(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *dep,
                      const char *svc, long replica, bool tty, char **args)
{
    const char *host = getenv("ZLAYER_HOST");
    if (host && !strncmp(host, "tcp://", 6))
        return zl_cli_fail(cli, "exec -i/-t runs on the node itself (its local socket); over "
                                "TCP run it without -i/-t");
    if (tty && !isatty(STDIN_FILENO))
        return zl_cli_fail(cli, "exec -t needs a terminal on stdin (use -i, or neither)");
    char *id = pick_replica(cli, d, dep, svc, replica);
    if (!id)
        return zl_cli_fail(cli, "%s has no running replica%s", svc,
                           replica >= 0 ? " so numbered" : "");
    char *root = zl_xasprintf("%s/containers", d->runtime);
    struct zl_err err;
    int rc = ZL_EXIT_FAIL, status = 0;
    struct zl_runtime_backend *be =
        zl_runtime_backend_new(getenv("ZLAYER_RUNTIME_BACKEND"), root, &err);
    struct zl_runtime_exec_opts o = {.root = root, .id = id, .args = args, .tty = tty};
    if (!be)
        zl_cli_fail(cli, "%s", err.msg);
    else if (zl_runtime_backend_exec(be, &o, &status, &err) < 0)
        zl_cli_fail(cli, "%s", err.msg);
    else
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    zl_runtime_backend_free(be);
    free(root);
    free(id);
    return rc;
}

int zl_cli_cmd_exec(struct zl_cli *cli, int argc, char **argv)
{
    const char *dep = NULL, *svc = NULL;
    long replica = -1;
    bool tty = false, interactive = false;
    int i = 1;
    for (; i < argc; i++) {
        if ((!strcmp(argv[i], "-d") || !strcmp(argv[i], "--deployment")) && i + 1 < argc)
            dep = argv[++i];
        else if ((!strcmp(argv[i], "-r") || !strcmp(argv[i], "--replica")) && i + 1 < argc)
            replica = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-it") || !strcmp(argv[i], "-ti") || !strcmp(argv[i], "-t") ||
                 !strcmp(argv[i], "--tty"))
            tty = interactive = true;
        else if (!strcmp(argv[i], "-i") || !strcmp(argv[i], "--interactive"))
            interactive = true;
        else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (argv[i][0] != '-' && !svc)
            svc = argv[i];
        else if (argv[i][0] != '-')
            break;
        else
            return zl_cli_usage(cli, "exec", "unexpected argument '%s'", argv[i]);
    }
    if (!svc || i >= argc)
        return zl_cli_usage(cli, "exec", "exec needs a SERVICE and a command");
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    char *owner = dep ? zl_xstrdup(dep) : zl_cli_ready(&d) ? zl_cli_owner_of(cli, &d, svc) : NULL;
    int rc = owner ? 0 : ZL_EXIT_FAIL;
    if (!owner && !dep && !zl_cli_ready(&d))
        rc = zl_cli_fail(cli, "the zlayer daemon is not running");
    if (rc == 0 && interactive) {
        rc = exec_local(cli, &d, owner, svc, replica, tty, argv + i);
    } else if (rc == 0) {
        json_t *cmd = json_array();
        for (; i < argc; i++)
            json_array_append_new(cmd, json_string(argv[i]));
        json_t *body = json_pack("{s:o}", "command", cmd);
        if (replica >= 0)
            json_object_set_new(body, "replica", json_integer(replica));
        char *text = json_dumps(body, JSON_COMPACT);
        char *path = zl_xasprintf("/api/v1/deployments/%s/services/%s/exec", owner, svc);
        struct zl_http_response r = {0};
        struct zl_err err;
        if (zl_cli_call(&d, "POST", path, text, &r, &err) < 0)
            rc = zl_cli_fail(cli, "%s", err.msg);
        else if (r.status != 200)
            rc = zl_cli_api_fail(cli, &r);
        else {
            json_t *j = json_loads(r.body, 0, NULL);
            fputs(json_string_value(json_object_get(j, "stdout")), stdout);
            fputs(json_string_value(json_object_get(j, "stderr")), stderr);
            rc = (int)json_integer_value(json_object_get(j, "exit_code"));
            json_decref(j);
        }
        zl_http_response_fini(&r);
        free(path);
        free(text);
        json_decref(body);
    }
    free(owner);
    zl_cli_dirs_fini(&d);
    return rc;
}

/* token create [--ttl SECS] [--role admin|viewer]: a bearer token for the TCP API. */
