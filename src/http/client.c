/* SPDX-License-Identifier: Apache-2.0 */
/* http/client.c: the small blocking HTTP/1.1 client (one request per connection) for the CLI. */
#include "http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 30000
#define MAX_BODY           (512u * 1024 * 1024) /* a whole response kept in memory */

struct call {
    http_parser p;
    struct zl_buf field, value;
    bool in_value;
    bool is_head;
    bool done;
    bool stopped; /* on_data said stop */
    bool too_big; /* the response outgrew MAX_BODY */
    int status;
    char *ctype;
    struct zl_buf body;
    bool (*on_data)(void *ctx, const char *p, size_t n);
    void *ctx;
    int *status_out; /* streams: set when the head has arrived, before any data */
};

static struct call *call_of(http_parser *p)
{
    return p->data;
}

static void take_header(struct call *k)
{
    if (k->field.len && strcasecmp(k->field.data, "content-type") == 0) {
        size_t n = k->value.len;
        while (n && (k->value.data[n - 1] == ' ' || k->value.data[n - 1] == '\t'))
            n--;
        free(k->ctype);
        k->ctype = zl_xstrndup(k->value.data ? k->value.data : "", n);
    }
    k->field.len = k->value.len = 0;
    if (k->field.data)
        k->field.data[0] = '\0';
    k->in_value = false;
}

static int on_hfield(http_parser *p, const char *at, size_t n)
{
    struct call *k = call_of(p);
    if (k->in_value)
        take_header(k);
    zl_buf_append(&k->field, at, n);
    return 0;
}

static int on_hvalue(http_parser *p, const char *at, size_t n)
{
    struct call *k = call_of(p);
    k->in_value = true;
    zl_buf_append(&k->value, at, n);
    return 0;
}

static int on_headers(http_parser *p)
{
    struct call *k = call_of(p);
    if (k->in_value)
        take_header(k);
    k->status = p->status_code;
    if (k->status_out)
        *k->status_out = k->status;
    /* A HEAD response announces a length but carries no body. */
    return k->is_head ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct call *k = call_of(p);
    if (k->status < 200)
        return 0;
    if (k->on_data) {
        if (!k->on_data(k->ctx, at, n)) {
            k->stopped = true;
            return -1;
        }
        return 0;
    }
    if (k->body.len + n > MAX_BODY) {
        k->too_big = true;
        return -1;
    }
    zl_buf_append(&k->body, at, n);
    return 0;
}

static int on_complete(http_parser *p)
{
    struct call *k = call_of(p);
    if (k->status >= 100 && k->status < 200) {
        /* An interim response (100 Continue): the real one follows. */
        free(k->ctype);
        k->ctype = NULL;
        k->status = 0;
        return 0;
    }
    k->done = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_header_field = on_hfield,
    .on_header_value = on_hvalue,
    .on_headers_complete = on_headers,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* Wait for events on fd; ms < 0 waits without limit. */
static int wait_fd(int fd, short events, int ms, const char *what, struct zl_err *err)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    for (;;) {
        int rc = poll(&pfd, 1, ms);
        if (rc > 0)
            return 0;
        if (rc == 0)
            return zl_err_sys(err, ETIMEDOUT, "%s", what);
        if (errno != EINTR)
            return zl_err_sys(err, errno, "%s: poll", what);
    }
}

static int connect_fd(int fd, const struct sockaddr *sa, socklen_t len, int ms, const char *where,
                      struct zl_err *err)
{
    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return zl_err_sys(err, errno, "connect to %s", where);
    char what[300];
    snprintf(what, sizeof(what), "connect to %s", where);
    int rc = wait_fd(fd, POLLOUT, ms, what, err);
    if (rc < 0)
        return rc;
    int e = 0;
    socklen_t el = sizeof(e);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1)
        e = errno;
    return e ? zl_err_sys(err, e, "connect to %s", where) : 0;
}

static int dial_unix(const char *path, int ms, struct zl_err *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path))
        return zl_err_set(err, ENAMETOOLONG, "unix socket path too long: %s", path);
    memcpy(sun.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1)
        return zl_err_sys(err, errno, "socket");
    int rc = connect_fd(fd, (struct sockaddr *)&sun, sizeof(sun), ms, path, err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int dial_tcp(const char *host, int port, int ms, struct zl_err *err)
{
    char svc[16], where[300];
    snprintf(svc, sizeof(svc), "%d", port);
    snprintf(where, sizeof(where), "%s:%d", host, port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, svc, &hints, &res);
    if (g != 0)
        return zl_err_set(err, ZL_ENOTFOUND, "resolve %s: %s", host, gai_strerror(g));
    int rc = zl_err_set(err, ZL_ENOTFOUND, "resolve %s: no address", host);
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd =
            socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd == -1) {
            rc = zl_err_sys(err, errno, "socket");
            continue;
        }
        rc = connect_fd(fd, a->ai_addr, a->ai_addrlen, ms, where, err);
        if (rc == 0) {
            freeaddrinfo(res);
            return fd;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static int send_all(int fd, const char *p, size_t n, int ms, struct zl_err *err)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w >= 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return zl_err_sys(err, errno, "send request");
        int rc = wait_fd(fd, POLLOUT, ms, "send request", err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Only visible characters (no space) in a method or path; no control bytes in header values. */
static bool clean(const char *s, bool allow_space)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || (c == ' ' && !allow_space))
            return false;
    }
    return true;
}

static int build_request(const struct zl_http_target *t, const char *method, const char *path,
                         const char *ctype, const char *body, size_t len, const char *upgrade,
                         struct zl_buf *b, struct zl_err *err)
{
    if (!t->unix_path && !t->host)
        return zl_err_set(err, ZL_EINVAL, "no server address");
    if (!*method || !clean(method, false) || path[0] != '/' || !clean(path, false) ||
        (ctype && !clean(ctype, true)) || (t->bearer && !clean(t->bearer, false)))
        return zl_err_set(err, ZL_EINVAL, "invalid request %s %s", method, path);
    zl_buf_printf(b, "%s %s HTTP/1.1\r\n", method, path);
    if (t->unix_path)
        zl_buf_puts(b, "Host: localhost\r\n");
    else if (strchr(t->host, ':'))
        zl_buf_printf(b, "Host: [%s]:%d\r\n", t->host, t->port);
    else
        zl_buf_printf(b, "Host: %s:%d\r\n", t->host, t->port);
    zl_buf_puts(b, "User-Agent: zlayer\r\n");
    if (t->bearer)
        zl_buf_printf(b, "Authorization: Bearer %s\r\n", t->bearer);
    bool has_body = body || len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                    strcmp(method, "PATCH") == 0;
    if (has_body) {
        zl_buf_printf(b, "Content-Type: %s\r\n", ctype ? ctype : "application/json");
        zl_buf_printf(b, "Content-Length: %zu\r\n", len);
    }
    if (upgrade && clean(upgrade, false))
        zl_buf_printf(b, "Connection: Upgrade\r\nUpgrade: %s\r\n\r\n", upgrade);
    else
        zl_buf_puts(b, "Connection: close\r\n\r\n");
    return 0;
}

/* wait_fd for reading that also gives up, in 200 ms steps, once *cancel is set. */
static int wait_readable(int fd, int ms, const volatile sig_atomic_t *cancel, struct zl_err *err)
{
    if (!cancel)
        return wait_fd(fd, POLLIN, ms, "read response", err);
    for (int waited = 0;;) {
        if (*cancel)
            return zl_err_set(err, ECANCELED, "cancelled");
        int slice = ms < 0 || ms - waited > 200 ? 200 : ms - waited;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, slice);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return zl_err_sys(err, errno, "read response: poll");
        if (rc == 0 && ms >= 0 && (waited += slice) >= ms)
            return zl_err_sys(err, ETIMEDOUT, "read response");
    }
}

/* Read and parse until the response is complete (or on_data stops it). */
static int read_response(int fd, struct call *k, int ms, const volatile sig_atomic_t *cancel,
                         struct zl_err *err)
{
    char buf[16384];
    for (;;) {
        int rc = wait_readable(fd, ms, cancel, err);
        if (rc < 0)
            return rc;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return zl_err_sys(err, errno, "read response");
        /* n == 0 tells the parser about EOF: a body without length ends there. */
        http_parser_execute(&k->p, &settings, buf, (size_t)n);
        if (k->done || k->stopped)
            return 0;
        if (k->too_big)
            return zl_err_set(err, EFBIG, "response larger than %u bytes", MAX_BODY);
        enum http_errno e = HTTP_PARSER_ERRNO(&k->p);
        if (e != HPE_OK)
            return zl_err_set(err, ZL_EINVAL, "bad response: %s", http_errno_description(e));
        if (n == 0)
            return zl_err_set(err, ECONNRESET, "connection closed before the response ended");
    }
}

static int exchange(const struct zl_http_target *t, const char *method, const char *path,
                    const char *ctype, const char *body, size_t len, struct call *k, bool stream,
                    struct zl_err *err)
{
    int ms = t->timeout_ms > 0 ? t->timeout_ms : DEFAULT_TIMEOUT_MS;
    struct zl_buf req;
    zl_buf_init(&req);
    int rc = build_request(t, method, path, ctype, body, len, NULL, &req, err);
    if (rc < 0) {
        zl_buf_fini(&req);
        return rc;
    }
    int fd = t->unix_path ? dial_unix(t->unix_path, ms, err) : dial_tcp(t->host, t->port, ms, err);
    if (fd < 0) {
        zl_buf_fini(&req);
        return fd;
    }
    struct zl_err serr, rerr;
    rc = send_all(fd, req.data, req.len, ms, &serr);
    if (rc == 0 && len)
        rc = send_all(fd, body, len, ms, &serr);
    zl_buf_fini(&req);
    /* The server may answer early (413) and stop reading: its response still counts. */
    int r2 = rc;
    if (rc == 0 || rc == -EPIPE || rc == -ECONNRESET) {
        k->is_head = strcmp(method, "HEAD") == 0;
        http_parser_init(&k->p, HTTP_RESPONSE);
        k->p.data = k;
        r2 = read_response(fd, k, stream && t->timeout_ms <= 0 ? -1 : ms, t->cancel, &rerr);
    }
    close(fd);
    if (r2 == 0)
        return 0;
    if (err)
        *err = rc < 0 ? serr : rerr;
    return rc < 0 ? rc : r2;
}

static void call_fini(struct call *k)
{
    zl_buf_fini(&k->field);
    zl_buf_fini(&k->value);
    zl_buf_fini(&k->body);
    free(k->ctype);
}

void zl_http_response_fini(struct zl_http_response *r)
{
    free(r->content_type);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int zl_http_request(const struct zl_http_target *t, const char *method, const char *path,
                    const char *content_type, const char *body, size_t len,
                    struct zl_http_response *out, struct zl_err *err)
{
    memset(out, 0, sizeof(*out));
    struct call k = {0};
    int rc = exchange(t, method, path, content_type, body, len, &k, false, err);
    if (rc == 0) {
        out->status = k.status;
        out->content_type = k.ctype ? k.ctype : zl_xstrdup("");
        k.ctype = NULL;
        out->body = zl_buf_steal(&k.body, &out->len);
    }
    call_fini(&k);
    return rc;
}

int zl_http_request_stream(const struct zl_http_target *t, const char *method, const char *path,
                           const char *content_type, const char *body, size_t len,
                           bool (*on_data)(void *ctx, const char *p, size_t n), void *ctx,
                           int *status, struct zl_err *err)
{
    struct call k = {.on_data = on_data, .ctx = ctx, .status_out = status};
    int rc = exchange(t, method, path, content_type, body, len, &k, true, err);
    if (status)
        *status = k.status;
    call_fini(&k);
    return rc;
}

int zl_http_upgrade_dial(const struct zl_http_target *t, const char *method, const char *path,
                         const char *ctype, const char *body, size_t len, const char *protocol,
                         int *status, struct zl_buf *rest, struct zl_err *err)
{
    int ms = t->timeout_ms > 0 ? t->timeout_ms : DEFAULT_TIMEOUT_MS;
    *status = 0;
    struct zl_buf req;
    zl_buf_init(&req);
    int rc = build_request(t, method, path, ctype, body, len, protocol, &req, err);
    int fd = rc < 0         ? rc
             : t->unix_path ? dial_unix(t->unix_path, ms, err)
                            : dial_tcp(t->host, t->port, ms, err);
    if (fd >= 0 && (send_all(fd, req.data, req.len, ms, err) < 0 ||
                    (len && send_all(fd, body, len, ms, err) < 0))) {
        close(fd);
        fd = -1;
    }
    zl_buf_fini(&req);
    if (fd < 0)
        return -1;
    /* the head, up to its empty line (bounded); what follows is the new protocol's */
    char *end = NULL;
    while (!end) {
        if (rest->len > 65536 || wait_readable(fd, ms, t->cancel, err) < 0) {
            if (rest->len > 65536)
                zl_err_set(err, ZL_EINVAL, "response head too large");
            close(fd);
            return -1;
        }
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            close(fd);
            return zl_err_set(err, ECONNRESET, "connection closed before the response head");
        }
        zl_buf_append(rest, buf, (size_t)n);
        end = memmem(rest->data, rest->len, "\r\n\r\n", 4);
    }
    int major = 0, minor = 0;
    zl_buf_putc(rest, '\0'); /* sscanf needs the end marked */
    rest->len--;
    if (sscanf(rest->data, "HTTP/%d.%d %d", &major, &minor, status) != 3) {
        close(fd);
        return zl_err_set(err, ZL_EINVAL, "bad response head");
    }
    size_t head = (size_t)(end - rest->data) + 4;
    memmove(rest->data, rest->data + head, rest->len - head);
    rest->len -= head;
    if (*status != 101) {
        /* not switched: the body (the server closes after it) explains why */
        char buf[4096];
        ssize_t n;
        while (rest->len < 65536 && wait_readable(fd, ms, t->cancel, err) == 0 &&
               (n = recv(fd, buf, sizeof(buf), 0)) > 0)
            zl_buf_append(rest, buf, (size_t)n);
        close(fd);
        return 0;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}
