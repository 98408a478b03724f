/* SPDX-License-Identifier: Apache-2.0 */
/* api/attach.c: interactive exec over an upgraded connection (Upgrade: zlayer-exec). The
 * command runs through `zlayer runtime exec` (with -t: a pty in the container, relayed by
 * the runtime) as a child of the daemon's loop. The client's bytes go to its stdin (the
 * client's half-close closes it); its output comes back in frames: one byte type (1 stdout,
 * 2 stderr, 3 exit), four bytes big-endian length, the data; the exit frame carries the exit
 * code (128+N for signal N) as four big-endian bytes and ends the connection. */
#include "api/internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define STDIN_QUEUE_MAX (4u << 20)

struct attach {
    struct zl_http_req *req; /* NULL once the client is gone */
    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_shutdown_t shut;
    int handles; /* open uv handles; freed at 0 */
    bool exited, out_eof, err_eof, in_closed, done;
    int code;
};

static void on_handle_closed(uv_handle_t *h)
{
    struct attach *at = h->data;
    if (--at->handles == 0)
        free(at);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

/* The process handle and the three pipes; at is freed once all four have closed. */
static void close_all(struct attach *at)
{
    close_handle((uv_handle_t *)&at->proc);
    close_handle((uv_handle_t *)&at->in);
    close_handle((uv_handle_t *)&at->out);
    close_handle((uv_handle_t *)&at->err);
}

static void send_frame(struct attach *at, int type, const char *data, size_t len)
{
    if (!at->req)
        return;
    struct zl_buf f;
    zl_buf_init(&f);
    zl_http_frame_put(&f, type, data, len);
    if (zl_http_raw_write(at->req, f.data, f.len) < 0)
        at->req = NULL;
    zl_buf_fini(&f);
}

/* Once the process has exited and its output is all sent: the exit frame, then the end. */
static void maybe_finish(struct attach *at)
{
    if (at->done || !at->exited || !at->out_eof || !at->err_eof)
        return;
    at->done = true;
    unsigned char c[4] = {(unsigned char)(at->code >> 24), (unsigned char)(at->code >> 16),
                          (unsigned char)(at->code >> 8), (unsigned char)at->code};
    send_frame(at, ZL_FRAME_EXIT, (const char *)c, 4);
    if (at->req) {
        zl_http_raw_end(at->req);
        at->req = NULL;
    }
    close_all(at);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct attach *at = p->data;
    at->exited = true;
    at->code = sig ? 128 + sig : (int)status;
    maybe_finish(at);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = zl_xmalloc(65536);
    buf->len = 65536;
}

static void on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct attach *at = s->data;
    bool is_err = s == (uv_stream_t *)&at->err;
    if (n > 0)
        send_frame(at, is_err ? ZL_FRAME_STDERR : ZL_FRAME_STDOUT, buf->base, (size_t)n);
    free(buf->base);
    if (n < 0) {
        uv_read_stop(s);
        if (is_err)
            at->err_eof = true;
        else
            at->out_eof = true;
        maybe_finish(at);
    }
}

struct wr {
    uv_write_t w;
    char *data;
};

static void on_written(uv_write_t *w, int status)
{
    struct wr *q = (struct wr *)w;
    (void)status;
    free(q->data);
    free(q);
}

static void on_shut(uv_shutdown_t *s, int status)
{
    (void)status;
    struct attach *at = s->data;
    close_handle((uv_handle_t *)&at->in);
}

/* The client's bytes: to the process's stdin; len 0 (its half-close) closes stdin. */
static void on_client_data(void *arg, const char *data, size_t len)
{
    struct attach *at = arg;
    if (at->in_closed || at->done)
        return;
    if (len == 0) {
        at->in_closed = true;
        at->shut.data = at;
        if (uv_shutdown(&at->shut, (uv_stream_t *)&at->in, on_shut) < 0)
            close_handle((uv_handle_t *)&at->in);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&at->in) > STDIN_QUEUE_MAX)
        return; /* the process does not read: drop rather than grow */
    struct wr *q = zl_xmalloc(sizeof(*q));
    q->data = zl_xmalloc(len);
    memcpy(q->data, data, len);
    uv_buf_t b = uv_buf_init(q->data, (unsigned)len);
    if (uv_write(&q->w, (uv_stream_t *)&at->in, &b, 1, on_written) < 0) {
        free(q->data);
        free(q);
    }
}

/* The client went away: hang up on the process, as a closed terminal would. */
static void on_client_gone(void *arg)
{
    struct attach *at = arg;
    at->req = NULL;
    if (!at->exited)
        uv_process_kill(&at->proc, SIGHUP);
}

extern char **environ;

/* Our environment and ZLAYER_TTY_SIZE=ROWSxCOLS (the client's terminal) for the runtime. */
static char **env_with_size(const char *size, char **extra)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = zl_xcalloc(n + 2, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "ZLAYER_TTY_SIZE=", 16) != 0)
            env[k++] = environ[i];
    if (size) {
        *extra = zl_xasprintf("ZLAYER_TTY_SIZE=%s", size);
        env[k++] = *extra;
    }
    return env;
}

void zl_api__exec_attach(struct zl_api *a, struct zl_http_req *r, char **argv, const char *tty_size)
{
    struct attach *at = zl_xcalloc(1, sizeof(*at));
    at->req = r;
    uv_pipe_init(a->loop, &at->in, 0);
    uv_pipe_init(a->loop, &at->out, 0);
    uv_pipe_init(a->loop, &at->err, 0);
    at->in.data = at->out.data = at->err.data = at->proc.data = at;
    at->handles = 4;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&at->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&at->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&at->err},
    };
    char *extra = NULL;
    char **env = env_with_size(tty_size, &extra);
    uv_process_options_t o = {.exit_cb = on_exit_cb,
                              .file = "/proc/self/exe",
                              .args = argv,
                              .env = env,
                              .stdio_count = 3,
                              .stdio = stdio};
    int rc = uv_spawn(a->loop, &at->proc, &o);
    free(env);
    free(extra);
    if (rc < 0) {
        zl_http_respond_error(r, 500, "internal_error", NULL, "start the exec: %s",
                              uv_strerror(rc));
        at->req = NULL;
        at->done = true;
        /* a failed spawn still initialised the process handle: close all four */
        close_all(at);
        return;
    }
    uv_read_start((uv_stream_t *)&at->out, on_alloc, on_output);
    uv_read_start((uv_stream_t *)&at->err, on_alloc, on_output);
    if (zl_http_upgrade(r, "zlayer-exec", on_client_data, on_client_gone, at) < 0)
        on_client_gone(at);
}
