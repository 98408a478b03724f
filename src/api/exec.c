/* SPDX-License-Identifier: Apache-2.0 */
/* api/exec.c: POST .../services/{service}/exec: run a command in a replica (its namespaces,
 * cgroup, user and security settings, through the runtime's exec) and answer its exit code
 * and output. The command runs on the loop's thread pool, never on the loop. */
#include "api/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_OUTPUT (16u << 20)

struct job {
    uv_work_t work;
    struct zl_http_req *req;
    bool gone; /* the client left: nobody to answer */
    char **argv;
    struct zl_buf out, err;
    int status;
    char error[256];
};

static void on_gone(void *arg)
{
    struct job *j = arg;
    j->gone = true;
}

/* Read both pipes to their end (bounded), then reap the child. */
static void collect(struct job *j, int o, int e, pid_t pid)
{
    struct pollfd p[2] = {{.fd = o, .events = POLLIN}, {.fd = e, .events = POLLIN}};
    char buf[65536];
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            struct zl_buf *b = i ? &j->err : &j->out;
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
            } else if (b->len + (size_t)n <= MAX_OUTPUT) {
                zl_buf_append(b, buf, (size_t)n);
            }
        }
    }
    while (waitpid(pid, &j->status, 0) < 0 && errno == EINTR)
        ;
}

static void run(uv_work_t *w)
{
    struct job *j = w->data;
    int o[2], e[2];
    if (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
        snprintf(j->error, sizeof(j->error), "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        dup2(nul, 0);
        dup2(o[1], 1);
        dup2(e[1], 2);
        execv("/proc/self/exe", j->argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    if (pid < 0) {
        snprintf(j->error, sizeof(j->error), "fork: %s", strerror(errno));
        close(o[0]);
        close(e[0]);
        return;
    }
    collect(j, o[0], e[0], pid);
}

static void done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    (void)status;
    if (!j->gone) {
        zl_http_req_on_close(j->req, NULL, NULL);
        if (j->error[0]) {
            zl_http_respond_error(j->req, 500, "internal_error", NULL, "%s", j->error);
        } else {
            int code = WIFEXITED(j->status) ? WEXITSTATUS(j->status) : 128 + WTERMSIG(j->status);
            json_t *r = json_pack("{s:i, s:s#, s:s#}", "exit_code", code, "stdout",
                                  j->out.data ? j->out.data : "", j->out.len, "stderr",
                                  j->err.data ? j->err.data : "", j->err.len);
            char *text = json_dumps(r, JSON_COMPACT);
            zl_http_respond(j->req, 200, "application/json", text, strlen(text));
            free(text);
            json_decref(r);
        }
    }
    for (char **a = j->argv; *a; a++)
        free(*a);
    free(j->argv);
    zl_buf_fini(&j->out);
    zl_buf_fini(&j->err);
    free(j);
}

void zl_api__exec(struct zl_api *a, struct zl_http_req *r, const char *dep, const char *svc)
{
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *cmd = json_object_get(b, "command"), *rep = json_object_get(b, "replica");
    json_t *tty = json_object_get(b, "tty");
    size_t n = json_array_size(cmd);
    if (!n || (rep && !json_is_integer(rep)) || (tty && !json_is_boolean(tty))) {
        json_decref(b);
        return zl_http_respond_error(r, 400, "bad_request", NULL,
                                     "the body must be {\"command\": [...], \"replica\": N, "
                                     "\"tty\": BOOL}");
    }
    const char *up = zl_http_req_header(r, "upgrade");
    bool attach = up && !strcasecmp(up, "zlayer-exec");
    if (json_is_true(tty) && !attach) {
        json_decref(b);
        return zl_http_respond_error(r, 400, "bad_request", NULL,
                                     "tty needs an upgraded connection (Upgrade: zlayer-exec)");
    }
    /* the replica asked for, else the first that runs */
    char id[512] = "";
    json_t *cs = zl_api__containers(a, dep, svc);
    for (size_t i = 0; i < json_array_size(cs) && !id[0]; i++) {
        json_t *c = json_array_get(cs, i);
        bool run = !strcmp(json_string_value(json_object_get(c, "status")), "running");
        if (run &&
            (!rep || json_integer_value(json_object_get(c, "replica")) == json_integer_value(rep)))
            snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(c, "id")));
    }
    json_decref(cs);
    if (!id[0]) {
        json_decref(b);
        return zl_http_respond_error(r, 404, "not_found", NULL, "no running replica of %s/%s", dep,
                                     svc);
    }
    struct job *j = zl_xcalloc(1, sizeof(*j));
    j->req = r;
    j->argv = zl_xcalloc(n + 8, sizeof(char *));
    size_t k = 0;
    j->argv[k++] = zl_xstrdup("zlayer");
    j->argv[k++] = zl_xstrdup("runtime");
    j->argv[k++] = zl_xasprintf("--root=%s", a->rt_root);
    j->argv[k++] = zl_xstrdup("exec");
    if (json_is_true(tty))
        j->argv[k++] = zl_xstrdup("-t");
    j->argv[k++] = zl_xstrdup(id);
    j->argv[k++] = zl_xstrdup("--");
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(cmd, i));
        j->argv[k++] = zl_xstrdup(s ? s : "");
    }
    /* the client's terminal size, for a pty */
    json_t *rows = json_object_get(b, "rows"), *cols = json_object_get(b, "cols");
    char size[64] = "";
    if (json_is_integer(rows) && json_is_integer(cols))
        snprintf(size, sizeof(size), "%lldx%lld", (long long)json_integer_value(rows),
                 (long long)json_integer_value(cols));
    json_decref(b);
    if (attach) {
        zl_api__exec_attach(a, r, j->argv, size[0] ? size : NULL);
        for (size_t i = 0; j->argv[i]; i++)
            free(j->argv[i]);
        free(j->argv);
        free(j);
        return;
    }
    zl_buf_init(&j->out);
    zl_buf_init(&j->err);
    j->work.data = j;
    zl_http_req_on_close(r, on_gone, j);
    uv_queue_work(a->loop, &j->work, run, done);
}
