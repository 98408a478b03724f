/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_exec.c: zlayer exec: a command in a service's replica. Without -i/-t it runs
 * through the API and its output comes back at the end; with them it is attached to this
 * terminal (a pty in the container with -t): on the node through the container runtime, over
 * TCP through an upgraded connection to the daemon. */
#include "cli/client.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
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

struct frames {
    int code;
    bool ended;
};

static bool on_frame(void *ctx, int type, const char *d, size_t len)
{
    struct frames *f = ctx;
    if (type == ZL_FRAME_EXIT) {
        const unsigned char *c = (const unsigned char *)d;
        f->code =
            (int)(((unsigned)c[0] << 24) | ((unsigned)c[1] << 16) | ((unsigned)c[2] << 8) | c[3]);
        f->ended = true;
        return false;
    }
    ssize_t w = write(type == ZL_FRAME_STDOUT ? STDOUT_FILENO : STDERR_FILENO, d, len);
    (void)w;
    return true;
}

/* Frames from the daemon: output, then the exit; -1 when the bytes make no sense. */
static int take_frames(struct zl_buf *in, struct frames *f)
{
    long used = zl_http_frames_take(in->data ? in->data : "", in->len, on_frame, f);
    if (used < 0)
        return -1;
    if (used) {
        memmove(in->data, in->data + used, in->len - (size_t)used);
        in->len -= (size_t)used;
    }
    return 0;
}

/* -i / -t over TCP: the daemon attaches the command to an upgraded connection. */
static int exec_remote(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *dep,
                       const char *svc, long replica, bool tty, char **args)
{
    if (tty && !isatty(STDIN_FILENO))
        return zl_cli_fail(cli, "exec -t needs a terminal on stdin (use -i, or neither)");
    json_t *cmd = json_array();
    for (char **a = args; *a; a++)
        json_array_append_new(cmd, json_string(*a));
    json_t *body = json_pack("{s:o, s:b}", "command", cmd, "tty", tty);
    if (replica >= 0)
        json_object_set_new(body, "replica", json_integer(replica));
    struct winsize ws;
    if (tty && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
        json_object_set_new(body, "rows", json_integer(ws.ws_row));
        json_object_set_new(body, "cols", json_integer(ws.ws_col));
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char *path = zl_xasprintf("/api/v1/deployments/%s/services/%s/exec", dep, svc);
    struct zl_http_target t;
    char host[256];
    zl_cli_target(d, &t, host, sizeof(host));
    struct zl_buf in;
    zl_buf_init(&in);
    struct zl_err err;
    int status = 0;
    struct frames fr = {.code = -1};
    int fd = zl_http_upgrade_dial(&t, "POST", path, "application/json", text, strlen(text),
                                  "zlayer-exec", &status, &in, &err);
    free(text);
    free(path);
    int rc = ZL_EXIT_FAIL;
    if (fd < 0) {
        zl_cli_fail(cli, "%s", err.msg);
    } else if (fd == 0) {
        zl_buf_putc(&in, '\0');
        struct zl_http_response r = {.status = status, .body = in.data, .len = in.len - 1};
        zl_cli_api_fail(cli, &r);
    } else {
        struct termios saved;
        bool raw = tty && tcgetattr(STDIN_FILENO, &saved) == 0;
        if (raw) {
            struct termios tr = saved;
            cfmakeraw(&tr);
            tcsetattr(STDIN_FILENO, TCSANOW, &tr);
        }
        struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        char buf[16384];
        bool broken = take_frames(&in, &fr) < 0;
        while (!fr.ended && !broken) {
            if (poll(p, 2, -1) < 0 && errno != EINTR)
                break;
            if (p[0].fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
                if (n <= 0) {
                    p[0].fd = -1; /* our stdin ended: so does the command's */
                    shutdown(fd, SHUT_WR);
                } else if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0) {
                    break;
                }
            }
            if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n <= 0)
                    break;
                zl_buf_append(&in, buf, (size_t)n);
                broken = take_frames(&in, &fr) < 0;
            }
        }
        if (raw)
            tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        close(fd);
        rc = fr.ended ? fr.code
             : broken ? zl_cli_fail(cli, "the daemon's answer is not an exec stream")
                      : zl_cli_fail(cli, "the connection to the daemon ended early");
    }
    zl_buf_fini(&in);
    return rc;
}

/* -i / -t: through the runtime here; the daemon only says which container. */
static int exec_local(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *dep,
                      const char *svc, long replica, bool tty, char **args)
{
    const char *host = getenv("ZLAYER_HOST");
    if (host && !strncmp(host, "tcp://", 6))
        return exec_remote(cli, d, dep, svc, replica, tty, args);
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
