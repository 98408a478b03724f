/* SPDX-License-Identifier: Apache-2.0 */
/* cli/client.c: reaching the daemon from the command line. */
#include "cli/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void zl_cli_dirs_init(struct zl_cli_dirs *d)
{
    const char *r = getenv("ZLAYER_ROOT_DIR"), *t = getenv("ZLAYER_RUNTIME_DIR");
    d->root = zl_xstrdup(r && *r ? r : "/var/lib/zlayer");
    d->runtime = zl_xstrdup(t && *t ? t : "/run/zlayer");
    d->sock = zl_xasprintf("%s/zlayer.sock", d->runtime);
}

void zl_cli_dirs_fini(struct zl_cli_dirs *d)
{
    free(d->root);
    free(d->runtime);
    free(d->sock);
}

/* ---------------- talking to the daemon ---------------- */

/* The daemon is reached over its unix socket, or over TCP when ZLAYER_HOST=tcp://HOST:PORT
 * (with ZLAYER_TOKEN as the bearer token). */
void zl_cli_target(const struct zl_cli_dirs *d, struct zl_http_target *t, char *host, size_t cap)
{
    const char *h = getenv("ZLAYER_HOST");
    *t = (struct zl_http_target){.unix_path = d->sock, .timeout_ms = 60000};
    if (h && !strncmp(h, "tcp://", 6)) {
        const char *colon = strrchr(h + 6, ':');
        snprintf(host, cap, "%.*s", (int)(colon ? colon - (h + 6) : (long)strlen(h + 6)), h + 6);
        t->unix_path = NULL;
        t->host = host;
        t->port = colon ? atoi(colon + 1) : 3669;
        t->bearer = getenv("ZLAYER_TOKEN");
    }
}

int zl_cli_call(const struct zl_cli_dirs *d, const char *method, const char *path, const char *body,
                struct zl_http_response *out, struct zl_err *err)
{
    struct zl_http_target t;
    char host[256];
    zl_cli_target(d, &t, host, sizeof(host));
    return zl_http_request(&t, method, path, body ? "application/json" : NULL, body,
                           body ? strlen(body) : 0, out, err);
}

bool zl_cli_ready(const struct zl_cli_dirs *d)
{
    struct zl_http_response r = {0};
    struct zl_err err;
    struct zl_http_target t;
    char host[256];
    zl_cli_target(d, &t, host, sizeof(host));
    t.timeout_ms = 2000;
    bool ok = zl_http_request(&t, "GET", "/health/ready", NULL, NULL, 0, &r, &err) == 0 &&
              r.status == 200;
    zl_http_response_fini(&r);
    return ok;
}

/* Start `zlayer serve --daemon` when nothing answers on the socket. */
int zl_cli_ensure_daemon(struct zl_cli *cli, const struct zl_cli_dirs *d)
{
    if (zl_cli_ready(d))
        return 0;
    if (getenv("ZLAYER_HOST") && !strncmp(getenv("ZLAYER_HOST"), "tcp://", 6))
        return zl_cli_fail(cli, "the zlayer daemon at %s does not answer", getenv("ZLAYER_HOST"));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "zlayer", "serve", "--daemon", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        return zl_cli_fail(cli, "could not start the zlayer daemon (see %s/daemon.log)",
                           d->runtime);
    for (int i = 0; i < 100 && !zl_cli_ready(d); i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return zl_cli_ready(d) ? 0
                           : zl_cli_fail(cli, "the zlayer daemon does not answer on %s", d->sock);
}

/* Print an API error body ({"error","message","details"}) as one line (+ diagnostics). */
int zl_cli_api_fail(struct zl_cli *cli, const struct zl_http_response *r)
{
    return zl_cli_api_fail_in(cli, r, NULL);
}

int zl_cli_api_fail_in(struct zl_cli *cli, const struct zl_http_response *r, const char *file)
{
    json_t *j = json_loads(r->body ? r->body : "", 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    json_t *det = json_object_get(j, "details");
    for (size_t i = 0; json_is_array(det) && i < json_array_size(det); i++) {
        json_t *g = json_array_get(det, i);
        const char *rule = json_string_value(json_object_get(g, "rule"));
        fprintf(stderr, "%s%s%lld:%lld: %s: %s%s%s%s\n", file ? file : "", file ? ":" : "",
                json_integer_value(json_object_get(g, "line")),
                json_integer_value(json_object_get(g, "column")),
                json_string_value(json_object_get(g, "path")),
                json_string_value(json_object_get(g, "message")), rule && file ? " [" : "",
                rule && file ? rule : "", rule && file ? "]" : "");
    }
    int rc = zl_cli_fail(cli, "the daemon answered %d: %s", r->status, msg ? msg : r->body);
    json_decref(j);
    return rc;
}

/* GET path and parse JSON; NULL after printing the error. */
json_t *zl_cli_get_json(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *path)
{
    struct zl_http_response r = {0};
    struct zl_err err;
    json_t *j = NULL;
    if (zl_cli_call(d, "GET", path, NULL, &r, &err) < 0)
        zl_cli_fail(cli, "%s", err.msg);
    else if (r.status != 200)
        zl_cli_api_fail(cli, &r);
    else
        j = json_loads(r.body, 0, NULL);
    zl_http_response_fini(&r);
    return j;
}

/* The deployment holding service (when -d is not given): the only one that has it. */
char *zl_cli_owner_of(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *service)
{
    json_t *j = zl_cli_get_json(cli, d, "/api/v1/deployments");
    char *found = NULL;
    int n = 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *dep = json_array_get(j, i), *svcs = json_object_get(dep, "services");
        for (size_t k = 0; k < json_array_size(svcs); k++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(svcs, k), "name")),
                        service)) {
                if (!found)
                    found = zl_xstrdup(json_string_value(json_object_get(dep, "name")));
                n++;
            }
    }
    json_decref(j);
    if (n != 1) {
        zl_cli_fail(cli,
                    n ? "service %s is in several deployments: give -d DEPLOYMENT"
                      : "no deployment has a service %s",
                    service);
        free(found);
        return NULL;
    }
    return found;
}
