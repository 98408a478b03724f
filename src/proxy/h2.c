/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/h2.c: HTTP/2 toward clients (nghttp2: ALPN h2 on https, or the preface in clear),
 * HTTP/1.1 toward backends. Each stream is one request: routed like any other, sent on a
 * backend connection of its own (from the pool), its body passed on as it arrives within the
 * stream's flow-control window (which opens again only as the backend takes the bytes), its
 * answer buffered up to a bound and handed to the session as the client's window allows. */
#include "proxy/l7.h"

#include <nghttp2/nghttp2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_STREAMS  128
#define MAX_HEADERS  (64 * 1024) /* a request's header block, as HTTP/1.1 lines */
#define STREAM_BUF   (64 * 1024) /* a response's bytes waiting for the client's window */
#define H2_IDLE_MS   60000
#define H2_MAX_TRIES 3

struct h2conn {
    nghttp2_session *ses;
    struct hconn *c;
    struct h2s *streams;
    bool in_recv;     /* inside nghttp2_session_mem_recv: writing waits for its end */
    bool deleting;    /* the session goes with the connection */
    uv_timer_t *tick; /* each second: streams whose backend is too slow (own allocation) */
};

struct h2s {
    struct h2s *prev, *next;
    struct h2conn *h;
    int32_t id;
    char *method, *path, *authority, *scheme;
    struct zl_buf hdrs, cookie; /* request headers as HTTP/1.1 lines; cookies joined */
    bool has_length, req_end, started, chunked, retryable, head_req;
    struct group *g;
    struct zl_proxy_backend be;
    bool counted;
    struct up *u;
    bool sent; /* the head went to the backend */
    unsigned tries;
    struct zl_buf head_up, pending; /* the request's head; body bytes before the head went */
    size_t unconsumed;              /* body bytes not yet given back to the client's window */
    bool resp_head, resp_eof, paused;
    struct zl_buf resp;
    size_t resp_off;
    unsigned status;
    uint64_t t0, bytes_in, bytes_out;
    uint64_t since; /* loop time of the backend's last step (connect, head sent, bytes) */
};

static void flush(struct h2conn *h);

/* ---------------- streams ---------------- */

static void uncount(struct h2s *s)
{
    if (s->counted)
        zl_proxy__busy(s->h->c->l->p, s->g, &s->be, -1);
    s->counted = false;
}

static void stream_free(struct h2s *s)
{
    struct h2conn *h = s->h;
    if (s->unconsumed && !h->deleting) /* the connection's window gets them back */
        nghttp2_session_consume_connection(h->ses, s->unconsumed);
    if (s->u) {
        struct up *u = s->u; /* mid-exchange: not reusable */
        s->u = NULL;
        u->s = NULL;
        zl_proxy__up_close(u);
    }
    uncount(s);
    if (s->started) {
        struct hconn *c = h->c;
        struct zl_proxy_acct a = {s->g,        c->ip,       s->method ? s->method : "-", s->path,
                                  c->cport,    s->be,       s->status ? s->status : 499, s->t0,
                                  s->bytes_in, s->bytes_out};
        zl_proxy__account(c->l->p, &a);
    }
    if (s->g) {
        s->g->c.active--;
        zl_proxy__group_unref(s->g);
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s->method);
    free(s->path);
    free(s->authority);
    free(s->scheme);
    zl_buf_fini(&s->hdrs);
    zl_buf_fini(&s->cookie);
    zl_buf_fini(&s->head_up);
    zl_buf_fini(&s->pending);
    zl_buf_fini(&s->resp);
    free(s);
}

static ssize_t read_body(nghttp2_session *ses, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2s *s = src->ptr;
    (void)ses;
    (void)id;
    (void)ud;
    size_t avail = s->resp.len - s->resp_off, n = avail < length ? avail : length;
    if (n) {
        memcpy(buf, s->resp.data + s->resp_off, n);
        s->resp_off += n;
        if (s->resp_off == s->resp.len)
            s->resp.len = s->resp_off = 0;
    }
    if (s->paused && s->u && s->resp.len - s->resp_off < STREAM_BUF / 2) {
        s->paused = false; /* room again: the backend may send more */
        zl_proxy__up_reading(s->u, true);
    }
    if (s->resp_eof && s->resp.len == s->resp_off) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    return n ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
}

/* Our own answer (404, 502, ...), with a short text body. */
static void answer(struct h2s *s, unsigned status)
{
    if (s->resp_head) {
        nghttp2_submit_rst_stream(s->h->ses, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    s->resp_head = s->resp_eof = true;
    s->status = status;
    s->resp.len = s->resp_off = 0;
    zl_buf_printf(&s->resp, "%u %s\n", status, zl_proxy__reason(status));
    s->bytes_out = s->resp.len;
    char st[4], len[24];
    snprintf(st, sizeof(st), "%u", status);
    snprintf(len, sizeof(len), "%zu", s->resp.len);
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)st, 7, strlen(st), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)len, 14, strlen(len), NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
    nghttp2_submit_response(s->h->ses, s->id, nv, 3, s->head_req ? NULL : &prd);
}

static void send_head(struct h2s *s)
{
    struct up *u = s->u;
    s->sent = true;
    s->since = uv_now(s->h->c->l->p->loop);
    zl_h1_expect_head(u->m, s->head_req);
    zl_proxy__out_text(&u->out, s->head_up.data, s->head_up.len);
    if (s->pending.len)
        zl_proxy__out_text(&u->out, s->pending.data, s->pending.len);
    s->pending.len = 0;
    zl_proxy__flush_up(u);
    if (s->u == u && s->unconsumed && u->queued < WMAX) {
        /* what waited for the connection went: the window opens again */
        nghttp2_session_consume(s->h->ses, s->id, s->unconsumed);
        s->unconsumed = 0;
    }
}

static void dispatch(struct h2s *s)
{
    struct zl_proxy *p = s->h->c->l->p;
    struct backend *b = s->g->gone ? NULL : zl_proxy__next(p, s->g);
    if (!b) {
        s->g->c.failed++;
        answer(s, s->tries ? 502 : 503);
        return;
    }
    s->be = b->b;
    s->since = uv_now(p->loop);
    zl_proxy__busy(p, s->g, &s->be, 1);
    s->counted = true;
    bool ready = false;
    s->u = zl_proxy__up_for(s, p, &b->b, &ready);
    if (!s->u) {
        zl_proxy__h2_failed(s, 502, true);
        return;
    }
    if (ready)
        send_head(s);
}

/* The request's head is complete: route it and send it on. */
static void start(struct h2s *s)
{
    struct hconn *c = s->h->c;
    s->started = true;
    s->t0 = uv_hrtime();
    if (!s->method || !s->path || !s->authority) {
        answer(s, 400);
        return;
    }
    if (!strcmp(s->method, "CONNECT")) {
        answer(s, 405);
        return;
    }
    s->head_req = !strcmp(s->method, "HEAD");
    s->chunked = !s->req_end && !s->has_length;
    s->retryable = zl_proxy__idempotent(s->method) && s->req_end;
    char host[256];
    zl_proxy__host_key(s->authority, strlen(s->authority), host, sizeof(host));
    struct group *g = zl_proxy__route(c->l, host, s->path, strcspn(s->path, "?#"));
    if (!g || s->path[0] != '/') {
        answer(s, s->path[0] != '/' ? 400 : 404);
        return;
    }
    s->g = g;
    g->refs++;
    g->c.accepted++;
    g->c.active++;
    struct zl_buf *b = &s->head_up;
    zl_buf_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\n", s->method, s->path, s->authority);
    zl_buf_append(b, s->hdrs.data, s->hdrs.len);
    if (s->cookie.len)
        zl_buf_printf(b, "Cookie: %.*s\r\n", (int)s->cookie.len, s->cookie.data);
    zl_buf_printf(b, "X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\n",
                  c->ip, c->tls ? "https" : "http", s->authority);
    zl_buf_puts(b, "Via: 2 zlayer\r\n");
    if (s->chunked)
        zl_buf_puts(b, "Transfer-Encoding: chunked\r\n");
    zl_buf_puts(b, "\r\n");
    dispatch(s);
}

/* ---------------- from the backend ---------------- */

void zl_proxy__h2_connected(struct h2s *s)
{
    send_head(s);
    flush(s->h);
}

void zl_proxy__h2_resp_head(struct h2s *s, const struct zl_h1_head *h)
{
    if (h->status < 200) {
        if (h->status == 101)
            zl_proxy__h2_failed(s, 502, false);
        return; /* interim: the final one follows */
    }
    s->resp_head = true;
    s->status = h->status;
    const char *conn = h->connection;
    nghttp2_nv *nv = zl_xcalloc(h->nh + 2, sizeof(*nv));
    char st[4], *names = zl_xmalloc(MAX_HEADERS);
    snprintf(st, sizeof(st), "%u", h->status);
    nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, strlen(st), NGHTTP2_NV_FLAG_NONE};
    size_t n = 1, at = 0;
    for (size_t i = 0; i < h->nh; i++) {
        const struct zl_h1_hdr *x = &h->h[i];
        if (zl_proxy__hop(x->name, conn) || at + x->nlen > MAX_HEADERS)
            continue;
        for (size_t k = 0; k < x->nlen; k++) /* HTTP/2 names are lower-case */
            names[at + k] =
                (char)(x->name[k] >= 'A' && x->name[k] <= 'Z' ? x->name[k] + 32 : x->name[k]);
        nv[n++] = (nghttp2_nv){(uint8_t *)names + at, (uint8_t *)x->value, x->nlen, x->vlen,
                               NGHTTP2_NV_FLAG_NONE};
        at += x->nlen;
    }
    bool bodyless = s->head_req || h->status == 204 || h->status == 304;
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
    nghttp2_submit_response(s->h->ses, s->id, nv, n, bodyless ? NULL : &prd);
    free(nv);
    free(names);
    flush(s->h);
}

void zl_proxy__h2_resp_data(struct h2s *s, const char *p, size_t n)
{
    s->since = uv_now(s->h->c->l->p->loop);
    zl_buf_append(&s->resp, p, n);
    s->bytes_out += n;
    nghttp2_session_resume_data(s->h->ses, s->id);
    if (s->resp.len - s->resp_off >= STREAM_BUF && s->u && !s->paused) {
        s->paused = true; /* the client's window decides: the backend waits */
        zl_proxy__up_reading(s->u, false);
    }
    flush(s->h);
}

void zl_proxy__h2_resp_end(struct h2s *s)
{
    if (!s->resp_head)
        return; /* an interim response ended */
    s->resp_eof = true;
    uncount(s);
    struct up *u = s->u;
    s->u = NULL;
    if (u) /* done with it: kept when the whole request went too */
        zl_proxy__up_release(u, s->req_end && !s->paused);
    nghttp2_session_resume_data(s->h->ses, s->id);
    flush(s->h);
}

void zl_proxy__h2_failed(struct h2s *s, unsigned status, bool eject)
{
    struct hconn *c = s->h->c;
    struct zl_proxy *p = c->l->p;
    bool sent = s->u && s->u->connected;
    if (eject && s->g)
        zl_proxy__eject(p, s->g, &s->be);
    if (s->u) {
        struct up *u = s->u;
        s->u = NULL;
        u->s = NULL;
        zl_proxy__up_close(u);
    }
    uncount(s);
    if (!s->resp_head && s->g && (!sent || s->retryable) && ++s->tries < H2_MAX_TRIES) {
        s->sent = false;
        dispatch(s); /* may answer, and the stream may be gone after: s is not used again */
    } else {
        if (s->g)
            s->g->c.failed++;
        answer(s, status);
    }
    zl_proxy__h2_flush(c);
}

void zl_proxy__h2_drained(struct h2s *s)
{
    if (s->unconsumed && s->u && s->u->queued < WMAX) {
        nghttp2_session_consume(s->h->ses, s->id, s->unconsumed);
        s->unconsumed = 0;
        flush(s->h);
    }
}

void zl_proxy__h2_up_gone(struct h2s *s, struct up *u)
{
    if (s->u == u)
        s->u = NULL;
}

/* ---------------- from the client ---------------- */

static int on_begin_headers(nghttp2_session *ses, const nghttp2_frame *f, void *ud)
{
    struct h2conn *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2s *s = zl_xcalloc(1, sizeof(*s));
    s->h = h;
    s->id = f->hd.stream_id;
    zl_buf_init(&s->hdrs);
    zl_buf_init(&s->cookie);
    zl_buf_init(&s->head_up);
    zl_buf_init(&s->pending);
    zl_buf_init(&s->resp);
    s->next = h->streams;
    if (s->next)
        s->next->prev = s;
    h->streams = s;
    nghttp2_session_set_stream_user_data(ses, s->id, s);
    return 0;
}

static int on_header(nghttp2_session *ses, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    struct h2s *s = nghttp2_session_get_stream_user_data(ses, f->hd.stream_id);
    if (!s || s->started) /* trailers are not passed on */
        return 0;
    const char *n = (const char *)name, *v = (const char *)value;
    if (s->hdrs.len + nlen + vlen + 4 > MAX_HEADERS)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    char **pseudo = nlen == 7 && !memcmp(n, ":method", 7)        ? &s->method
                    : nlen == 5 && !memcmp(n, ":path", 5)        ? &s->path
                    : nlen == 10 && !memcmp(n, ":authority", 10) ? &s->authority
                    : nlen == 7 && !memcmp(n, ":scheme", 7)      ? &s->scheme
                                                                 : NULL;
    if (pseudo) {
        free(*pseudo);
        *pseudo = zl_xstrndup(v, vlen);
        return 0;
    }
    if (n[0] == ':')
        return 0;
    if (nlen == 4 && !memcmp(n, "host", 4)) {
        if (!s->authority)
            s->authority = zl_xstrndup(v, vlen);
        return 0;
    }
    if (nlen == 6 && !memcmp(n, "cookie", 6)) { /* split by HTTP/2, joined for HTTP/1.1 */
        if (s->cookie.len)
            zl_buf_append(&s->cookie, "; ", 2);
        zl_buf_append(&s->cookie, v, vlen);
        return 0;
    }
    if ((nlen == 2 && !memcmp(n, "te", 2)) || (nlen == 15 && !memcmp(n, "x-forwarded-for", 15)) ||
        (nlen == 17 && !memcmp(n, "x-forwarded-proto", 17)) ||
        (nlen == 16 && !memcmp(n, "x-forwarded-host", 16)))
        return 0;
    if (nlen == 14 && !memcmp(n, "content-length", 14))
        s->has_length = true;
    zl_buf_append(&s->hdrs, n, nlen);
    zl_buf_append(&s->hdrs, ": ", 2);
    zl_buf_append(&s->hdrs, v, vlen);
    zl_buf_append(&s->hdrs, "\r\n", 2);
    return 0;
}

static int on_frame(nghttp2_session *ses, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    struct h2s *s = nghttp2_session_get_stream_user_data(ses, f->hd.stream_id);
    if (!s)
        return 0;
    bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS && !s->started) {
        s->req_end = end;
        start(s);
        return 0;
    }
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && end && !s->req_end) {
        s->req_end = true;
        if (s->chunked && s->u && s->sent) {
            zl_proxy__out_text(&s->u->out, "0\r\n\r\n", 5);
            zl_proxy__flush_up(s->u);
        } else if (s->chunked)
            zl_buf_append(&s->pending, "0\r\n\r\n", 5);
        if (s->u && s->u->s == s)
            s->retryable = false;
    }
    return 0;
}

static int on_data(nghttp2_session *ses, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)flags;
    (void)ud;
    struct h2s *s = nghttp2_session_get_stream_user_data(ses, id);
    if (!s)
        return 0;
    s->bytes_in += len;
    if (!s->g || (s->resp_head && !s->u)) { /* answered already: dropped, window reopened */
        nghttp2_session_consume(ses, id, len);
        return 0;
    }
    char line[24];
    int k = s->chunked ? snprintf(line, sizeof(line), "%zx\r\n", len) : 0;
    if (s->u && s->sent) {
        zl_proxy__out_text(&s->u->out, line, (size_t)k);
        zl_proxy__out_text(&s->u->out, (const char *)data, len);
        if (s->chunked)
            zl_proxy__out_text(&s->u->out, "\r\n", 2);
        zl_proxy__flush_up(s->u);
    } else {
        zl_buf_append(&s->pending, line, (size_t)k);
        zl_buf_append(&s->pending, data, len);
        if (s->chunked)
            zl_buf_append(&s->pending, "\r\n", 2);
    }
    /* the window opens as the backend takes the bytes: at most WMAX wait for it */
    if (s->u && s->sent && s->u->queued < WMAX)
        nghttp2_session_consume(ses, id, len);
    else
        s->unconsumed += len;
    return 0;
}

static int on_close(nghttp2_session *ses, int32_t id, uint32_t code, void *ud)
{
    (void)code;
    (void)ud;
    struct h2s *s = nghttp2_session_get_stream_user_data(ses, id);
    if (s) {
        nghttp2_session_set_stream_user_data(ses, id, NULL);
        stream_free(s);
    }
    return 0;
}

static void flush(struct h2conn *h)
{
    struct hconn *c = h->c;
    if (h->in_recv || c->closing)
        return;
    for (int guard = 0; guard < 1024 && c->queued < WMAX; guard++) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->ses, &data);
        if (n <= 0)
            break;
        zl_proxy__out_text(&c->out, (const char *)data, (size_t)n);
        zl_proxy__touch(c);
        zl_proxy__flush_client(c);
        if (c->closing)
            return;
    }
    if (!nghttp2_session_want_read(h->ses) && !nghttp2_session_want_write(h->ses))
        zl_proxy__client_close(c);
}

/* A stream's backend that does not connect within CONNECT_MS (502, ejected), or does not go
 * on with its answer within RESPONSE_MS (504 before the head, a reset after), fails the
 * stream. One at a time: failing may end streams, or the connection. */
static void on_tick(uv_timer_t *t)
{
    struct hconn *c = t->data;
    for (int guard = 0; guard < MAX_STREAMS && c->h2 && !c->closing; guard++) {
        uint64_t now = uv_now(c->l->p->loop);
        struct h2s *late = NULL;
        for (struct h2s *s = c->h2->streams; s && !late; s = s->next)
            if (s->u && !s->paused && now - s->since > (s->u->connected ? RESPONSE_MS : CONNECT_MS))
                late = s;
        if (!late)
            return;
        bool connected = late->u->connected;
        if (connected)
            late->retryable = false; /* slow, not gone: not worth two more waits */
        zl_proxy__h2_failed(late, connected ? 504 : 502, !connected);
    }
}

static void on_tick_closed(uv_handle_t *h)
{
    free(h);
}

int zl_proxy__h2_start(struct hconn *c)
{
    struct h2conn *h = zl_xcalloc(1, sizeof(*h));
    h->c = c;
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        free(h);
        return -1;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    int rc = nghttp2_session_server_new2(&h->ses, cb, h, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        free(h);
        return -1;
    }
    nghttp2_settings_entry set[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
                                    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADERS}};
    nghttp2_submit_settings(h->ses, NGHTTP2_FLAG_NONE, set, 2);
    h->tick = zl_xcalloc(1, sizeof(*h->tick));
    uv_timer_init(c->l->p->loop, h->tick);
    h->tick->data = c;
    uv_timer_start(h->tick, on_tick, 1000, 1000);
    c->h2 = h;
    return 0;
}

void zl_proxy__h2_input(struct hconn *c, const char *p, size_t n)
{
    struct h2conn *h = c->h2;
    h->in_recv = true;
    ssize_t rc = nghttp2_session_mem_recv(h->ses, (const uint8_t *)p, n);
    h->in_recv = false;
    if (rc < 0) {
        zl_proxy__client_close(c);
        return;
    }
    flush(h);
}

void zl_proxy__h2_flush(struct hconn *c)
{
    if (c->h2)
        flush(c->h2);
}

void zl_proxy__h2_free(struct hconn *c)
{
    struct h2conn *h = c->h2;
    if (!h)
        return;
    h->deleting = true;
    while (h->streams)
        stream_free(h->streams);
    nghttp2_session_del(h->ses);
    uv_close((uv_handle_t *)h->tick, on_tick_closed);
    free(h);
    c->h2 = NULL;
}
