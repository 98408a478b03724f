/* SPDX-License-Identifier: Apache-2.0 */
/* http/server.c: the HTTP/1.1 server on libuv: request parsing, connections, responses. */
#include "http/http.h"
#include "http/internal.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK   (64 * 1024)
#define IN_MAX       (64 * 1024)   /* unparsed input kept while a request is being answered */
#define WQ_MAX       (1024 * 1024) /* unsent bytes past which a stream write fails */
#define LINGER_MS    2000          /* reading and dropping input after our last response */
#define BACKLOG      511
#define HDR_OVERHEAD 4 /* ": " and CRLF of each header line */
#define NO_LENGTH    (-1)
#define CHUNKED      (-2)

/* ======================= request parsing (no sockets) ======================= */

void zl_http__limits_fill(struct zl_http_limits *out, const struct zl_http_limits *lim)
{
    static const struct zl_http_limits def = {
        .max_header_bytes = 64 * 1024,
        .max_body_bytes = 16 * 1024 * 1024,
        .idle_ms = 60000,
        .header_ms = 10000,
        .max_conns = 1024,
    };
    *out = lim ? *lim : def;
    if (!out->max_header_bytes)
        out->max_header_bytes = def.max_header_bytes;
    if (!out->max_body_bytes)
        out->max_body_bytes = def.max_body_bytes;
    if (!out->idle_ms)
        out->idle_ms = def.idle_ms;
    if (!out->header_ms)
        out->header_ms = def.header_ms;
    if (!out->max_conns)
        out->max_conns = def.max_conns;
}

static const char *bdata(const struct zl_buf *b)
{
    return b->data ? b->data : "";
}

static void bclear(struct zl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long zl_http__pct_decode(char *dst, const char *src, size_t n, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(src[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(src[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) /* invalid, cut, or a NUL */
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == '\0') {
            return -1;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return (long)o;
}

static struct zl_http__parse *ps_of(http_parser *p)
{
    return p->data;
}

static int fail_with(struct zl_http__parse *ps, int status)
{
    if (!ps->status)
        ps->status = status;
    return -1;
}

static int add_head(struct zl_http__parse *ps, size_t n)
{
    ps->head_bytes += n;
    return ps->head_bytes > ps->lim.max_header_bytes ? fail_with(ps, 431) : 0;
}

static void push_header(struct zl_http__parse *ps)
{
    char *name = zl_arena_strndup(&ps->arena, bdata(&ps->field), ps->field.len);
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    size_t vl = ps->value.len;
    while (vl && (ps->value.data[vl - 1] == ' ' || ps->value.data[vl - 1] == '\t'))
        vl--;
    char *value = zl_arena_strndup(&ps->arena, bdata(&ps->value), vl);
    zl_buf_append(&ps->hdrs, &name, sizeof(name));
    zl_buf_append(&ps->hdrs, &value, sizeof(value));
    if (strcmp(name, "content-length") == 0)
        ps->ncl++;
    else if (strcmp(name, "transfer-encoding") == 0)
        ps->has_te = true;
    else if (strcmp(name, "expect") == 0 && strcasecmp(value, "100-continue") == 0)
        ps->expect_continue = true;
    bclear(&ps->field);
    bclear(&ps->value);
    ps->in_value = false;
}

static int on_begin(http_parser *p)
{
    ps_of(p)->started = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct zl_http__parse *ps = ps_of(p);
    if (add_head(ps, n) < 0)
        return -1;
    zl_buf_append(&ps->url, at, n);
    return 0;
}

static int on_hfield(http_parser *p, const char *at, size_t n)
{
    struct zl_http__parse *ps = ps_of(p);
    if (ps->in_value)
        push_header(ps);
    if ((ps->field.len == 0 && add_head(ps, HDR_OVERHEAD) < 0) || add_head(ps, n) < 0)
        return -1;
    zl_buf_append(&ps->field, at, n);
    return 0;
}

static int on_hvalue(http_parser *p, const char *at, size_t n)
{
    struct zl_http__parse *ps = ps_of(p);
    ps->in_value = true;
    if (add_head(ps, n) < 0)
        return -1;
    zl_buf_append(&ps->value, at, n);
    return 0;
}

/* Split the request target into the decoded path and the raw query. Origin form
 * ("/a?b"), absolute form ("http://host/a?b") and "*" are accepted. */
static int split_url(struct zl_http__parse *ps)
{
    const char *u = bdata(&ps->url);
    size_t n = ps->url.len, start = 0;
    if (n == 1 && u[0] == '*') {
        ps->req.path = "*";
        ps->req.query = "";
        return 0;
    }
    if (n == 0)
        return -1;
    if (u[0] != '/') {
        const char *s = memmem(u, n, "://", 3);
        if (!s)
            return -1;
        start = (size_t)(s - u) + 3;
        while (start < n && u[start] != '/' && u[start] != '?' && u[start] != '#')
            start++;
    }
    size_t q = start;
    while (q < n && u[q] != '?' && u[q] != '#')
        q++;
    size_t f = q;
    if (f < n && u[f] == '?')
        while (f < n && u[f] != '#')
            f++;
    char *path = zl_arena_alloc(&ps->arena, q - start + 2);
    if (q == start)
        strcpy(path, "/");
    else if (u[start] != '/' || zl_http__pct_decode(path, u + start, q - start, false) < 0)
        return -1;
    ps->req.path = path;
    ps->req.query = q < f ? zl_arena_strndup(&ps->arena, u + q + 1, f - q - 1) : "";
    return 0;
}

static int check_head(struct zl_http__parse *ps)
{
    http_parser *p = &ps->p;
    if (p->http_major != 1)
        return 505;
    /* http_parser rejects most of these itself; stay strict even where it is lax. */
    if (ps->ncl > 1 || (ps->ncl && ps->has_te) || (ps->has_te && !(p->flags & F_CHUNKED)))
        return 400;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > ps->lim.max_body_bytes)
        return 413;
    if (split_url(ps) < 0)
        return 400;
    struct zl_http_req *r = &ps->req;
    size_t nh = ps->hdrs.len / (2 * sizeof(char *));
    r->method = http_method_str((enum http_method)p->method);
    r->nheaders = nh;
    r->hnames = zl_arena_alloc(&ps->arena, (nh + 1) * sizeof(char *));
    r->hvalues = zl_arena_alloc(&ps->arena, (nh + 1) * sizeof(char *));
    char **pairs = (char **)(void *)ps->hdrs.data; /* malloc'd: aligned for pointers */
    for (size_t i = 0; i < nh; i++) {
        r->hnames[i] = pairs[2 * i];
        r->hvalues[i] = pairs[2 * i + 1];
    }
    r->body = "";
    ps->is_head = p->method == HTTP_HEAD;
    return 0;
}

static int on_headers(http_parser *p)
{
    struct zl_http__parse *ps = ps_of(p);
    if (ps->in_value)
        push_header(ps);
    int status = check_head(ps);
    if (status)
        return fail_with(ps, status);
    ps->head_done = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct zl_http__parse *ps = ps_of(p);
    if (ps->body.len + n > ps->lim.max_body_bytes)
        return fail_with(ps, 413);
    zl_buf_append(&ps->body, at, n);
    return 0;
}

static int on_complete(http_parser *p)
{
    struct zl_http__parse *ps = ps_of(p);
    ps->done = true;
    ps->keep_alive = http_should_keep_alive(p) != 0;
    ps->req.body = bdata(&ps->body);
    ps->req.body_len = ps->body.len;
    /* Stop here: the next pipelined request waits until this one is answered. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_hfield,
    .on_header_value = on_hvalue,
    .on_headers_complete = on_headers,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

void zl_http__parse_init(struct zl_http__parse *ps, const struct zl_http_limits *lim)
{
    memset(ps, 0, sizeof(*ps));
    zl_http__limits_fill(&ps->lim, lim);
    http_parser_init(&ps->p, HTTP_REQUEST);
    ps->p.data = ps;
    zl_arena_init(&ps->arena);
    zl_buf_init(&ps->url);
    zl_buf_init(&ps->field);
    zl_buf_init(&ps->value);
    zl_buf_init(&ps->body);
    zl_buf_init(&ps->hdrs);
}

void zl_http__parse_fini(struct zl_http__parse *ps)
{
    zl_arena_fini(&ps->arena);
    zl_buf_fini(&ps->url);
    zl_buf_fini(&ps->field);
    zl_buf_fini(&ps->value);
    zl_buf_fini(&ps->body);
    zl_buf_fini(&ps->hdrs);
}

void zl_http__parse_next(struct zl_http__parse *ps)
{
    /* The parser stopped exactly at the end of a message, so a fresh one continues. */
    struct zl_http_limits lim = ps->lim;
    zl_http__parse_fini(ps);
    zl_http__parse_init(ps, &lim);
}

int zl_http__parse_feed(struct zl_http__parse *ps, const char *data, size_t len, size_t *used)
{
    *used = 0;
    if (ps->status)
        return ps->status;
    if (ps->done)
        return ZL_HTTP__DONE;
    if (len == 0)
        return ZL_HTTP__MORE;
    size_t n = http_parser_execute(&ps->p, &settings, data, len);
    *used = n;
    if (ps->done) {
        if (ps->p.upgrade) /* no protocol switch: answer, then close */
            ps->keep_alive = false;
        return ZL_HTTP__DONE;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&ps->p);
    if ((e != HPE_OK || n != len) && !ps->status)
        ps->status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
    return ps->status;
}

/* ======================= server and connections ======================= */

struct listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    struct zl_http_server *srv;
    struct listener *next;
    char *path; /* our unix socket, unlinked at close */
};

struct zl_http_server {
    uv_loop_t *loop;
    struct zl_http_limits lim;
    zl_http_handler handler;
    void *ctx;
    struct listener *listeners;
    struct zl_http_conn *conns;
    unsigned nconns;
    unsigned closing_listeners;
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
    time_t date_at;
    char date[64];
};

enum timer_mode { T_NONE = 0, T_HEAD, T_BODY, T_IDLE, T_DRAIN };

struct zl_http_conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t timer;
    uv_shutdown_t shut;
    struct zl_http_server *srv;
    struct zl_http_conn *prev, *next;
    struct zl_http__parse ps;
    struct zl_buf in; /* input from in_off on is not parsed yet */
    size_t in_off;
    int handles; /* open uv handles; the connection is freed when none is left */
    enum timer_mode tmode;
    bool is_unix, reading, in_drive;
    bool busy;        /* a request is with the handler */
    bool streaming;   /* zl_http_stream_begin was called */
    bool chunked;     /* the stream is chunked (else raw until close, or no body) */
    bool no_body;     /* HEAD, 204, 304 */
    bool close_after; /* close once the response is out */
    bool draining;    /* last response queued: shut down writing, then linger */
    bool lingering;   /* reading and dropping input before closing */
    bool eof;         /* the peer closed or reset */
    bool closing;     /* uv_close called */
    void (*on_close)(void *arg);
    void *on_close_arg;
    /* after zl_http_upgrade: raw bytes both ways */
    bool raw;
    void (*on_raw)(void *arg, const char *data, size_t len); /* len 0: the peer's EOF */
};

static void drive(struct zl_http_conn *c);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void maybe_finish(struct zl_http_server *s)
{
    if (!s->closing || s->conns || s->closing_listeners)
        return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s);
    if (done)
        done(arg);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct zl_http_conn *c = h->data;
    if (--c->handles > 0)
        return;
    if (c->busy && c->on_close) {
        void (*cb)(void *) = c->on_close;
        c->on_close = NULL;
        cb(c->on_close_arg);
    }
    struct zl_http_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    zl_http__parse_fini(&c->ps);
    zl_buf_fini(&c->in);
    free(c);
    maybe_finish(s);
}

/* Close now; pending writes are dropped. An unanswered request hears of it in on_close. */
static void abort_conn(struct zl_http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close(&c->h.handle, on_conn_closed);
}

static void on_timeout(uv_timer_t *t);

/* Arm the connection timer for mode; the same mode keeps running unless restart. */
static void set_timer(struct zl_http_conn *c, enum timer_mode m, unsigned ms, bool restart)
{
    if (c->closing || (m == c->tmode && !restart))
        return;
    c->tmode = m;
    if (m == T_NONE)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void update_reading(struct zl_http_conn *c)
{
    if (c->closing)
        return;
    bool want = !c->eof && (c->lingering || (c->raw && !c->draining) ||
                            (!c->draining && (!c->busy || c->in.len - c->in_off < IN_MAX)));
    if (want == c->reading)
        return;
    if (want && uv_read_start(&c->h.stream, on_alloc, on_read) < 0) {
        abort_conn(c);
        return;
    }
    if (!want)
        uv_read_stop(&c->h.stream);
    c->reading = want;
}

struct wreq {
    uv_write_t w;
    char *data;
};

static void on_written(uv_write_t *w, int status)
{
    struct wreq *q = (struct wreq *)w;
    struct zl_http_conn *c = w->data;
    free(q->data);
    free(q);
    if (status < 0 && status != UV_ECANCELED)
        abort_conn(c);
}

/* Queue b's bytes (b is left empty). On failure the connection is aborted. */
static int send_buf(struct zl_http_conn *c, struct zl_buf *b)
{
    struct wreq *q = zl_xmalloc(sizeof(*q));
    size_t len;
    q->data = zl_buf_steal(b, &len);
    q->w.data = c;
    uv_buf_t ub = uv_buf_init(q->data, (unsigned)len);
    if (uv_write(&q->w, &c->h.stream, &ub, 1, on_written) < 0) {
        free(q->data);
        free(q);
        abort_conn(c);
        return -1;
    }
    return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct zl_http_conn *c = req->data;
    if (c->closing)
        return;
    if (status < 0 || c->eof) {
        abort_conn(c);
        return;
    }
    /* Closing with unread input would reset the connection and could destroy our response
     * before the peer reads it: read and drop for a while first. */
    c->lingering = true;
    c->in.len = c->in_off = 0;
    set_timer(c, T_DRAIN, LINGER_MS, true);
    update_reading(c);
}

/* The last response is queued: shut down writing once it is out, then linger. */
static void drain(struct zl_http_conn *c)
{
    if (c->closing || c->draining)
        return;
    c->draining = true;
    update_reading(c);
    set_timer(c, T_DRAIN, c->srv->lim.idle_ms, true);
    c->shut.data = c;
    if (uv_shutdown(&c->shut, &c->h.stream, on_shutdown) < 0)
        abort_conn(c);
}

static const char *date_now(struct zl_http_server *s)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    if (now != s->date_at && gmtime_r(&now, &tm)) {
        snprintf(s->date, sizeof(s->date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        s->date_at = now;
    }
    return s->date;
}

/* clen: the Content-Length, NO_LENGTH or CHUNKED. */
static void put_head(struct zl_http_conn *c, struct zl_buf *b, int status, const char *ctype,
                     long long clen, bool close)
{
    const char *reason = http_status_str((enum http_status)status);
    zl_buf_printf(b, "HTTP/1.1 %d %s\r\nServer: zlayer\r\nDate: %s\r\n", status,
                  reason[0] == '<' ? "Unknown" : reason, date_now(c->srv));
    if (ctype)
        zl_buf_printf(b, "Content-Type: %s\r\n", ctype);
    if (clen >= 0)
        zl_buf_printf(b, "Content-Length: %lld\r\n", clen);
    else if (clen == CHUNKED)
        zl_buf_puts(b, "Transfer-Encoding: chunked\r\n");
    if (close)
        zl_buf_puts(b, "Connection: close\r\n");
    else if (c->ps.p.http_minor == 0)
        zl_buf_puts(b, "Connection: keep-alive\r\n");
    zl_buf_puts(b, "\r\n");
}

/* A JSON string for s; bytes that are not valid UTF-8 become '?'. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *t = zl_xstrdup(s);
    for (char *p = t; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(t);
    free(t);
    return j;
}

/* {"error": kind, "message": msg, "details": details}; caller frees. */
static char *error_json(const char *kind, const char *details, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", jstr(kind));
    json_object_set_new(o, "message", jstr(msg));
    if (details) {
        json_t *d = json_loads(details, JSON_DECODE_ANY, NULL);
        json_object_set_new(o, "details", d ? d : jstr(details));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ZL_ASSERT(s != NULL);
    return s;
}

/* Answer a request that could not be parsed (or timed out), then close. */
static void fail(struct zl_http_conn *c, int status)
{
    const char *kind = "bad_request", *msg = "malformed request";
    if (status == 408)
        kind = "timeout", msg = "request not received in time";
    else if (status == 413)
        kind = "too_large", msg = "request body too large";
    else if (status == 431)
        kind = "headers_too_large", msg = "request headers too large";
    else if (status == 505)
        kind = "http_version", msg = "HTTP version not supported";
    char *json = error_json(kind, NULL, msg);
    struct zl_buf b;
    zl_buf_init(&b);
    put_head(c, &b, status, "application/json", (long long)strlen(json), true);
    zl_buf_puts(&b, json);
    free(json);
    if (send_buf(c, &b) == 0)
        drain(c);
}

static void on_timeout(uv_timer_t *t)
{
    struct zl_http_conn *c = t->data;
    enum timer_mode m = c->tmode;
    c->tmode = T_NONE;
    if ((m == T_HEAD || m == T_BODY) && c->ps.started && !c->busy && !c->draining)
        fail(c, 408);
    else
        abort_conn(c);
}

static void on_peer_gone(struct zl_http_conn *c)
{
    c->eof = true;
    c->reading = false;           /* libuv stops reading after EOF and errors */
    if (c->raw && !c->draining) { /* a half-close: the other way stays open */
        c->on_raw(c->on_close_arg, NULL, 0);
        return;
    }
    if (c->busy || c->ps.started || c->lingering || c->draining)
        abort_conn(c);
    else
        drain(c); /* let responses already queued go out */
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct zl_http_conn *c = h->data;
    (void)hint;
    zl_buf_reserve(&c->in, READ_CHUNK);
    *buf = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len - 1));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct zl_http_conn *c = st->data;
    (void)buf;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        on_peer_gone(c);
        return;
    }
    if (c->lingering) {
        c->in.len = c->in_off = 0;
        return;
    }
    c->in.len += (size_t)nread;
    c->in.data[c->in.len] = '\0';
    if (c->raw) {
        size_t n = c->in.len;
        c->in.len = 0;
        c->on_raw(c->on_close_arg, c->in.data, n);
        return;
    }
    if (c->tmode == T_BODY)
        set_timer(c, T_BODY, c->srv->lim.idle_ms, true);
    drive(c);
}

static void dispatch(struct zl_http_conn *c)
{
    struct zl_http_req *r = &c->ps.req;
    c->busy = true;
    c->streaming = false;
    c->close_after = !c->ps.keep_alive;
    r->conn = c;
    r->from_unix = c->is_unix;
    set_timer(c, T_NONE, 0, false);
    c->srv->handler(c->srv->ctx, r);
}

/* The response is complete: forget the request, then close or go on with the next one. */
static void finish(struct zl_http_conn *c)
{
    c->busy = false;
    c->streaming = false;
    c->on_close = NULL;
    zl_http__parse_next(&c->ps);
    if (c->close_after || c->eof || c->srv->closing) {
        drain(c);
        return;
    }
    set_timer(c, T_IDLE, c->srv->lim.idle_ms, true);
    drive(c);
}

/* Timers and "100 Continue" for a request still arriving. */
static void after_parse(struct zl_http_conn *c)
{
    struct zl_http__parse *ps = &c->ps;
    if (ps->head_done) {
        set_timer(c, T_BODY, c->srv->lim.idle_ms, false);
        if (ps->expect_continue && ps->p.http_minor >= 1) {
            struct zl_buf b;
            zl_buf_init(&b);
            zl_buf_puts(&b, "HTTP/1.1 100 Continue\r\n\r\n");
            send_buf(c, &b);
        }
        ps->expect_continue = false;
    } else if (ps->started) {
        set_timer(c, T_HEAD, c->srv->lim.header_ms, false);
    }
}

/* Parse buffered input and hand complete requests to the handler, one at a time. */
static void drive(struct zl_http_conn *c)
{
    if (c->in_drive)
        return;
    c->in_drive = true;
    while (!c->closing && !c->draining && !c->busy && c->in_off < c->in.len) {
        size_t used = 0;
        int rc = zl_http__parse_feed(&c->ps, c->in.data + c->in_off, c->in.len - c->in_off, &used);
        c->in_off += used;
        if (rc == ZL_HTTP__DONE)
            dispatch(c);
        else if (rc != ZL_HTTP__MORE)
            fail(c, rc);
    }
    if (!c->closing && !c->draining && !c->busy)
        after_parse(c);
    if (c->in_off) {
        size_t rest = c->in.len - c->in_off;
        memmove(c->in.data, c->in.data + c->in_off, rest);
        c->in.len = rest;
        c->in.data[rest] = '\0';
        c->in_off = 0;
    }
    update_reading(c);
    c->in_drive = false;
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct listener *l = ls->data;
    struct zl_http_server *s = l->srv;
    if (status < 0 || s->closing)
        return;
    struct zl_http_conn *c = zl_xcalloc(1, sizeof(*c));
    c->srv = s;
    c->is_unix = ls->type == UV_NAMED_PIPE;
    int rc = c->is_unix ? uv_pipe_init(s->loop, &c->h.pipe, 0) : uv_tcp_init(s->loop, &c->h.tcp);
    if (rc < 0) {
        free(c);
        return;
    }
    uv_timer_init(s->loop, &c->timer);
    c->h.handle.data = c;
    c->timer.data = c;
    c->handles = 2;
    zl_http__parse_init(&c->ps, &s->lim);
    zl_buf_init(&c->in);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(ls, &c->h.stream) < 0 || s->nconns > s->lim.max_conns) {
        abort_conn(c);
        return;
    }
    if (!c->is_unix)
        uv_tcp_nodelay(&c->h.tcp, 1);
    set_timer(c, T_HEAD, s->lim.header_ms, true);
    update_reading(c);
}

/* ======================= public API ======================= */

struct zl_http_server *zl_http_server_new(uv_loop_t *loop, const struct zl_http_limits *limits,
                                          zl_http_handler handler, void *ctx)
{
    /* A peer that goes away must cost a write error, not the process. */
    signal(SIGPIPE, SIG_IGN);
    struct zl_http_server *s = zl_xcalloc(1, sizeof(*s));
    s->loop = loop;
    zl_http__limits_fill(&s->lim, limits);
    s->handler = handler;
    s->ctx = ctx;
    return s;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    struct zl_http_server *s = l->srv;
    free(l->path);
    free(l);
    s->closing_listeners--;
    maybe_finish(s);
}

static void listener_close(struct listener *l)
{
    if (l->path)
        unlink(l->path);
    l->srv->closing_listeners++;
    uv_close(&l->h.handle, on_listener_closed);
}

static struct listener *listener_new(struct zl_http_server *s)
{
    struct listener *l = zl_xcalloc(1, sizeof(*l));
    l->srv = s;
    l->h.handle.data = l;
    return l;
}

/* A socket file nobody listens on is left over from a crash: remove it. */
static int clear_stale(const char *path, struct zl_err *err)
{
    struct stat st;
    if (lstat(path, &st) == -1)
        return errno == ENOENT ? 0 : zl_err_sys(err, errno, "stat %s", path);
    if (!S_ISSOCK(st.st_mode))
        return zl_err_set(err, EEXIST, "%s exists and is not a socket", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1)
        return zl_err_sys(err, errno, "socket");
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, path, strlen(path));
    int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return zl_err_set(err, EADDRINUSE, "%s: a server is listening there", path);
    if (e != ECONNREFUSED && e != ENOENT)
        return zl_err_sys(err, e, "probe %s", path);
    if (unlink(path) == -1 && errno != ENOENT)
        return zl_err_sys(err, errno, "remove stale socket %s", path);
    return 0;
}

static void listener_add(struct zl_http_server *s, struct listener *l)
{
    l->next = s->listeners;
    s->listeners = l;
}

int zl_http_server_listen_unix(struct zl_http_server *s, const char *path, mode_t mode,
                               struct zl_err *err)
{
    struct sockaddr_un sun;
    if (strlen(path) >= sizeof(sun.sun_path))
        return zl_err_set(err, ENAMETOOLONG, "unix socket path too long: %s", path);
    int rc = clear_stale(path, err);
    if (rc < 0)
        return rc;
    struct listener *l = listener_new(s);
    rc = uv_pipe_init(s->loop, &l->h.pipe, 0);
    if (rc < 0) {
        free(l);
        return zl_err_sys(err, -rc, "listen on %s", path);
    }
    rc = uv_pipe_bind(&l->h.pipe, path);
    if (rc == 0) {
        l->path = zl_xstrdup(path);
        if (chmod(path, mode) == -1)
            rc = -errno;
    }
    if (rc == 0)
        rc = uv_listen(&l->h.stream, BACKLOG, on_connection);
    if (rc < 0) {
        listener_close(l);
        return zl_err_sys(err, -rc, "listen on %s", path);
    }
    listener_add(s, l);
    return 0;
}

int zl_http_server_listen_tcp(struct zl_http_server *s, const char *addr, int port,
                              struct zl_err *err)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } sa;
    if (port < 0 || port > 65535 ||
        (uv_ip4_addr(addr, port, &sa.in4) != 0 && uv_ip6_addr(addr, port, &sa.in6) != 0))
        return zl_err_set(err, ZL_EINVAL, "bad listen address %s port %d", addr, port);
    struct listener *l = listener_new(s);
    int rc = uv_tcp_init(s->loop, &l->h.tcp);
    if (rc < 0) {
        free(l);
        return zl_err_sys(err, -rc, "listen on %s:%d", addr, port);
    }
    rc = uv_tcp_bind(&l->h.tcp, &sa.sa, 0);
    if (rc == 0)
        rc = uv_listen(&l->h.stream, BACKLOG, on_connection);
    if (rc < 0) {
        listener_close(l);
        return zl_err_sys(err, -rc, "listen on %s:%d", addr, port);
    }
    listener_add(s, l);
    return 0;
}

int zl_http__server_tcp_port(struct zl_http_server *s)
{
    for (struct listener *l = s->listeners; l; l = l->next) {
        struct sockaddr_storage ss;
        int n = sizeof(ss);
        if (l->h.handle.type != UV_TCP ||
            uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &n) != 0)
            continue;
        if (ss.ss_family == AF_INET)
            return ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (ss.ss_family == AF_INET6)
            return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return -1;
}

void zl_http_server_close(struct zl_http_server *s, void (*done)(void *arg), void *arg)
{
    ZL_ASSERT(s != NULL && !s->closing);
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    while (s->listeners) {
        struct listener *l = s->listeners;
        s->listeners = l->next;
        listener_close(l);
    }
    for (struct zl_http_conn *c = s->conns; c; c = c->next)
        abort_conn(c);
    maybe_finish(s);
}

const char *zl_http_req_header(const struct zl_http_req *r, const char *lower_name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcmp(r->hnames[i], lower_name) == 0)
            return r->hvalues[i];
    return NULL;
}

/* Decode s[0..n) with '+' as space into a heap string; NULL when invalid. */
static char *form_decode(const char *s, size_t n)
{
    char *d = zl_xmalloc(n + 1);
    if (zl_http__pct_decode(d, s, n, true) < 0) {
        free(d);
        return NULL;
    }
    return d;
}

bool zl_http_req_query(const struct zl_http_req *r, const char *key, char *buf, size_t cap)
{
    for (const char *q = r->query; *q;) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t kn = eq ? (size_t)(eq - q) : n;
        char *k = form_decode(q, kn);
        bool match = k && strcmp(k, key) == 0;
        free(k);
        if (match) {
            /* Invalid escapes and values that do not fit count as absent, not truncated. */
            char *v = eq ? form_decode(eq + 1, n - kn - 1) : zl_xstrdup("");
            bool ok = v && strlen(v) < cap;
            if (ok)
                memcpy(buf, v, strlen(v) + 1);
            free(v);
            return ok;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return false;
}

/* The request is being answered on a connection still open. */
static struct zl_http_conn *answering(struct zl_http_req *r)
{
    struct zl_http_conn *c = r->conn;
    return c && !c->closing && c->busy && &c->ps.req == r ? c : NULL;
}

void zl_http_respond(struct zl_http_req *r, int status, const char *content_type, const char *body,
                     size_t len)
{
    struct zl_http_conn *c = answering(r);
    if (!c)
        return;
    ZL_ASSERT(!c->streaming && status >= 200 && status <= 999);
    bool no_len = status == 204;
    bool no_body = no_len || status == 304 || c->ps.is_head;
    struct zl_buf b;
    zl_buf_init(&b);
    put_head(c, &b, status, content_type ? content_type : "application/json",
             no_len ? NO_LENGTH : (long long)len, c->close_after);
    if (!no_body && len)
        zl_buf_append(&b, body, len);
    if (send_buf(c, &b) == 0)
        finish(c);
}

void zl_http_respond_error(struct zl_http_req *r, int status, const char *kind,
                           const char *details_json, const char *fmt, ...)
{
    struct zl_buf msg;
    zl_buf_init(&msg);
    va_list ap;
    va_start(ap, fmt);
    zl_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    char *json = error_json(kind, details_json, bdata(&msg));
    zl_buf_fini(&msg);
    zl_http_respond(r, status, "application/json", json, strlen(json));
    free(json);
}

void zl_http_stream_begin(struct zl_http_req *r, int status, const char *content_type)
{
    struct zl_http_conn *c = answering(r);
    if (!c)
        return;
    ZL_ASSERT(!c->streaming && status >= 200 && status <= 999);
    c->streaming = true;
    c->no_body = c->ps.is_head || status == 204 || status == 304;
    c->chunked = !c->no_body && c->ps.p.http_minor >= 1;
    if (!c->chunked && !c->no_body) /* HTTP/1.0: the body ends with the connection */
        c->close_after = true;
    struct zl_buf b;
    zl_buf_init(&b);
    put_head(c, &b, status, content_type ? content_type : "application/json",
             c->chunked ? CHUNKED : NO_LENGTH, c->close_after);
    send_buf(c, &b);
}

int zl_http_stream_write(struct zl_http_req *r, const char *data, size_t len)
{
    struct zl_http_conn *c = answering(r);
    if (!c)
        return -1;
    ZL_ASSERT(c->streaming);
    if (len == 0 || c->no_body)
        return 0;
    size_t queued = uv_stream_get_write_queue_size(&c->h.stream);
    if (queued > 0 && queued + len > WQ_MAX) {
        abort_conn(c); /* the reader is too slow: give up rather than grow */
        return -1;
    }
    struct zl_buf b;
    zl_buf_init(&b);
    if (c->chunked)
        zl_buf_printf(&b, "%zx\r\n", len);
    zl_buf_append(&b, data, len);
    if (c->chunked)
        zl_buf_puts(&b, "\r\n");
    return send_buf(c, &b);
}

void zl_http_stream_end(struct zl_http_req *r)
{
    struct zl_http_conn *c = answering(r);
    if (!c)
        return;
    ZL_ASSERT(c->streaming);
    if (c->chunked) {
        struct zl_buf b;
        zl_buf_init(&b);
        zl_buf_puts(&b, "0\r\n\r\n");
        if (send_buf(c, &b) < 0)
            return;
    }
    finish(c);
}

void zl_http_req_on_close(struct zl_http_req *r, void (*cb)(void *arg), void *arg)
{
    struct zl_http_conn *c = r->conn;
    if (!c || &c->ps.req != r)
        return;
    c->on_close = cb;
    c->on_close_arg = arg;
}

/* ======================= upgraded connections ======================= */

int zl_http_upgrade(struct zl_http_req *r, const char *protocol,
                    void (*on_data)(void *arg, const char *data, size_t len),
                    void (*on_close)(void *arg), void *arg)
{
    struct zl_http_conn *c = answering(r);
    if (!c)
        return -1;
    ZL_ASSERT(!c->streaming && on_data && on_close);
    struct zl_buf b;
    zl_buf_init(&b);
    zl_buf_printf(&b,
                  "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n",
                  protocol);
    if (send_buf(c, &b) < 0)
        return -1;
    c->raw = true;
    c->streaming = true;
    c->on_raw = on_data;
    c->on_close = on_close;
    c->on_close_arg = arg;
    set_timer(c, T_NONE, 0, false);
    /* what the peer sent after the request already belongs to the new protocol */
    size_t rest = c->in.len - c->in_off;
    if (rest) {
        char *copy = zl_xmalloc(rest);
        memcpy(copy, c->in.data + c->in_off, rest);
        c->in_off = c->in.len;
        on_data(arg, copy, rest);
        free(copy);
    }
    update_reading(c);
    return 0;
}

int zl_http_raw_write(struct zl_http_req *r, const char *data, size_t len)
{
    struct zl_http_conn *c = answering(r);
    if (!c || !c->raw)
        return -1;
    size_t queued = uv_stream_get_write_queue_size(&c->h.stream);
    if (queued > 0 && queued + len > WQ_MAX) {
        abort_conn(c);
        return -1;
    }
    struct zl_buf b;
    zl_buf_init(&b);
    zl_buf_append(&b, data, len);
    return send_buf(c, &b);
}

void zl_http_raw_end(struct zl_http_req *r)
{
    struct zl_http_conn *c = answering(r);
    if (!c || !c->raw)
        return;
    c->on_close = NULL;
    c->busy = false;
    drain(c); /* the queued writes go out first, even when the peer has closed its side */
}
