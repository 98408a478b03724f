/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/http.c: L7 HTTP/1.1. A client connection carries one request at a time (pipelined
 * ones wait, unparsed, until the one before is answered). Each request is routed by host and
 * path to a group, handed to a backend connection taken from the pool (or made), with its
 * head rewritten (hop-by-hop headers out, X-Forwarded-*, Via in) and its body streamed
 * through as it arrives; the response comes back the same way. Bodies are re-framed by us
 * (Content-Length kept, chunked re-chunked), so nothing ambiguous reaches a backend. Memory
 * per connection is bounded: reading one side pauses while the other has too much queued. */
#include "proxy/l7.h"

#include "http/http.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static char rbuf[READ_SIZE]; /* every read lands here and is used before the next one */

static void client_input(struct hconn *c, const char *d, size_t n);
static void client_close(struct hconn *c);
static void client_end(struct hconn *c);
static void client_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void up_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void dispatch(struct hconn *c);
static void up_close(struct up *u);
static void finish(struct hconn *c);
static void fail_request(struct hconn *c, unsigned status);
static void update_reading(struct hconn *c);
static const char *reason(unsigned status);
static void up_write_failed(struct up *u);

/* ---------------- output ---------------- */

static void out_ref(struct out *o, const char *p, size_t n)
{
    if (n)
        o->v[o->n++] = (struct piece){p, 0, n};
}

static void out_text(struct out *o, const char *p, size_t n)
{
    if (!n)
        return;
    if (o->n && !o->v[o->n - 1].p && o->v[o->n - 1].off + o->v[o->n - 1].len == o->s.len)
        o->v[o->n - 1].len += n; /* grows the text piece before */
    else
        o->v[o->n++] = (struct piece){NULL, o->s.len, n};
    zl_buf_append(&o->s, p, n);
}

/* Sent: emptied, and its text buffer freed when a body made it large (a kept-alive
 * connection holds only what heads need). */
static void out_reset(struct out *o)
{
    o->n = 0;
    o->s.len = 0;
    if (o->s.cap > OUT_KEEP)
        zl_buf_fini(&o->s);
}

static bool out_full(const struct out *o)
{
    return o->n + 3 >= OUT_MAX;
}

static void on_written(uv_write_t *w, int status)
{
    struct wr *r = (struct wr *)w;
    if (r->c) {
        r->c->queued -= r->len;
        if (status < 0)
            client_close(r->c);
        else if (r->c->ending && r->c->client_eof && !r->c->queued)
            client_close(r->c); /* all gone to a client that closed its side */
        else if (r->c->h2)
            zl_proxy__h2_flush(r->c);
        else
            update_reading(r->c);
    } else {
        struct up *u = r->u;
        u->queued -= r->len;
        if (status < 0) {
            if (!u->closing) /* else cancelled by our own close */
                up_write_failed(u);
        } else if (u->c)
            update_reading(u->c);
        else if (u->s)
            zl_proxy__h2_drained(u->s);
    }
    free(r);
}

/* Write what o holds to st: at once if the socket takes it, else the rest is copied and
 * queued. -1 when the socket is gone. */
/* Write bufs to st: at once as far as the socket takes them, the rest copied and queued. -1
 * when the socket is gone. */
static int send_bufs(uv_stream_t *st, uv_buf_t *bufs, size_t n, size_t total, size_t *queued,
                     struct hconn *c, struct up *u)
{
    int k = uv_try_write(st, bufs, (unsigned)n);
    if (k < 0 && k != UV_EAGAIN && k != UV_ENOSYS)
        return -1;
    size_t done = k > 0 ? (size_t)k : 0, rest = total - done;
    if (!rest)
        return 0;
    struct wr *r = zl_xmalloc(sizeof(*r) + rest);
    r->c = c;
    r->u = u;
    r->len = rest;
    size_t skip = done, at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = bufs[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(r->data + at, bufs[i].base + skip, len - skip);
        at += len - skip;
        skip = 0;
    }
    uv_buf_t b = uv_buf_init(r->data, (unsigned)rest);
    if (uv_write(&r->w, st, &b, 1, on_written) < 0) {
        free(r);
        return -1;
    }
    *queued += rest;
    return 0;
}

/* What TLS has made ready for the client's socket: sent from where TLS wrote it (what the
 * socket does not take is copied into the write queue). */
static int tls_flush(struct hconn *c)
{
    size_t n;
    const char *p = zl_tls_out(c->tls, &n);
    if (!n)
        return 0;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int rc = send_bufs((uv_stream_t *)&c->h, &b, 1, n, &c->queued, c, NULL);
    zl_tls_out_taken(c->tls, n);
    return rc;
}

/* o's pieces into TLS records for the client (small pieces, a head and its body, as one
 * record, not one each); what they become waits in c->tls. */
static int out_encrypt(struct out *o, struct hconn *c)
{
    int rc = 0;
    size_t total = 0;
    for (size_t i = 0; i < o->n; i++)
        total += o->v[i].len;
    char one[16384];
    if (o->n > 1 && total <= sizeof(one)) {
        size_t at = 0;
        for (size_t i = 0; i < o->n; i++) {
            memcpy(one + at, o->v[i].p ? o->v[i].p : o->s.data + o->v[i].off, o->v[i].len);
            at += o->v[i].len;
        }
        rc = zl_tls_write(c->tls, one, total);
    } else
        for (size_t i = 0; i < o->n && rc == 0; i++)
            rc = zl_tls_write(c->tls, o->v[i].p ? o->v[i].p : o->s.data + o->v[i].off, o->v[i].len);
    out_reset(o);
    return rc;
}

static int out_send(struct out *o, uv_stream_t *st, size_t *queued, struct hconn *c, struct up *u)
{
    if (c && c->tls) {
        int rc = o->n ? out_encrypt(o, c) : 0;
        return rc < 0 ? rc : tls_flush(c); /* records made earlier may wait too */
    }
    if (!o->n)
        return 0;
    uv_buf_t bufs[OUT_MAX];
    size_t total = 0;
    for (size_t i = 0; i < o->n; i++) {
        const char *p = o->v[i].p ? o->v[i].p : o->s.data + o->v[i].off;
        bufs[i] = uv_buf_init((char *)p, (unsigned)o->v[i].len);
        total += o->v[i].len;
    }
    int rc = send_bufs(st, bufs, o->n, total, queued, c, u);
    out_reset(o);
    return rc;
}

static void flush_client(struct hconn *c)
{
    if (!c->closing && out_send(&c->out, (uv_stream_t *)&c->h, &c->queued, c, NULL) < 0)
        client_close(c);
}

static void up_failed(struct hconn *c, bool eject, unsigned status);

/* Writing to the backend failed: its owner learns it (a retry, an error answer, or the end). */
static void up_write_failed(struct up *u)
{
    struct hconn *c = u->c;
    if (c && !c->resp_head)
        up_failed(c, false, 502);
    else if (c) {
        up_close(u);
        client_close(c);
    } else if (u->s)
        zl_proxy__h2_failed(u->s, 502, false);
    else
        up_close(u);
}

static void flush_up(struct up *u)
{
    if (!u->closing && out_send(&u->out, (uv_stream_t *)&u->h, &u->queued, NULL, u) < 0)
        up_write_failed(u);
}

/* ---------------- writes after the pass ----------------
 * What one pass over the loop's events makes for a socket is written when the pass is done:
 * the requests read from many clients reach a backend together (it wakes once for them, not
 * once each), and the responses their clients. Pieces pointing into the read buffer are
 * copied first; more than SOON_MAX bytes go at once. */

static void soon_arm(struct zl_proxy *p)
{
    if (uv_is_active((uv_handle_t *)&p->soon_check))
        return;
    uv_check_start(&p->soon_check, zl_proxy__soon_run);
    uv_idle_start(&p->soon_idle, zl_proxy__soon_idle);
}

/* The pieces o holds become its own text (the read buffer is about to be reused); false when
 * they are too many bytes to wait. */
static bool out_own(struct out *o)
{
    size_t total = 0;
    for (size_t i = 0; i < o->n; i++)
        total += o->v[i].len;
    if (total > SOON_MAX)
        return false;
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].p) {
            size_t off = o->s.len;
            zl_buf_append(&o->s, o->v[i].p, o->v[i].len);
            o->v[i] = (struct piece){NULL, off, o->v[i].len};
        }
    return true;
}

static void client_soon(struct hconn *c)
{
    if (c->closing || (!c->out.n && !(c->tls && zl_tls_pending(c->tls))))
        return;
    if (c->tls && !c->h2) {
        /* encrypted now (the pieces are copied once, into records), sent after the pass */
        if (out_encrypt(&c->out, c) < 0) {
            client_close(c);
            return;
        }
        if (zl_tls_pending(c->tls) > SOON_MAX) {
            flush_client(c);
            return;
        }
    } else if (c->h2 || !out_own(&c->out)) {
        flush_client(c);
        return;
    }
    if (!c->soon) {
        struct zl_proxy *p = c->l->p;
        c->soon = true;
        c->soon_next = p->soon_c;
        p->soon_c = c;
        soon_arm(p);
    }
}

static void up_soon(struct up *u)
{
    if (u->closing || !u->out.n)
        return;
    if (!out_own(&u->out)) {
        flush_up(u);
        return;
    }
    if (!u->soon) {
        u->soon = true;
        u->soon_next = u->p->soon_u;
        u->p->soon_u = u;
        soon_arm(u->p);
    }
}

/* The check handle's callback, after the loop's pass over events. A connection in the lists
 * may be closing, never freed: that happens in the loop's next phase. */
void zl_proxy__soon_run(uv_check_t *h)
{
    struct zl_proxy *p = h->data;
    uv_check_stop(&p->soon_check);
    uv_idle_stop(&p->soon_idle);
    struct up *u;
    struct hconn *c;
    while ((u = p->soon_u)) {
        p->soon_u = u->soon_next;
        u->soon = false;
        flush_up(u);
        if (u->c && !u->closing)
            update_reading(u->c);
    }
    while ((c = p->soon_c)) {
        p->soon_c = c->soon_next;
        c->soon = false;
        flush_client(c);
        update_reading(c);
    }
}

/* Bytes wait: the loop polls without sleeping so that the check handle comes at once. */
void zl_proxy__soon_idle(uv_idle_t *h)
{
    (void)h;
}

/* A piece of body for a side, re-chunked when it travels chunked. */
static void body_piece(struct out *o, bool chunked, const char *p, size_t n)
{
    if (chunked) {
        char line[24], *e = line + sizeof(line), *q = e - 2;
        size_t v = n;
        e[-2] = '\r';
        e[-1] = '\n';
        do {
            *--q = "0123456789abcdef"[v & 15];
            v >>= 4;
        } while (v);
        out_text(o, q, (size_t)(e - q));
    }
    out_ref(o, p, n);
    if (chunked)
        out_text(o, "\r\n", 2);
}

/* ---------------- timers ---------------- */

static void on_timer(uv_timer_t *t);

/* The timer runs to the earliest deadline set; a later one only moves the deadline (no heap
 * work per request), and the timer, when it fires early, waits on. */
static void arm(struct hconn *c, enum timer_kind k, unsigned ms)
{
    uint64_t now = uv_now(c->l->p->loop), at = now + ms;
    c->tk = k;
    bool later = c->deadline && at >= c->deadline && uv_is_active((uv_handle_t *)&c->timer);
    c->deadline = at;
    if (!later || uv_timer_get_due_in(&c->timer) > ms)
        uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* ---------------- the access log and counters ---------------- */

static void put(struct zl_buf *b, const char *s)
{
    zl_buf_append(b, s, strlen(s));
}

void zl_proxy__log_flush(struct zl_proxy *p)
{
    size_t off = 0;
    while (p->log_fd >= 0 && off < p->log.len) {
        ssize_t k = write(p->log_fd, p->log.data + off, p->log.len - off);
        if (k <= 0)
            break; /* a full disk loses lines, never requests */
        off += (size_t)k;
    }
    p->log.len = 0;
}

/* Quotes and control bytes of what a client sent stay out of the log's format. */
static void log_escaped(struct zl_buf *b, const char *s, size_t max)
{
    for (size_t i = 0; s && s[i] && i < max; i++) {
        size_t run = 0;
        while (s[i + run] && i + run < max && (unsigned char)s[i + run] >= 0x20 &&
               (unsigned char)s[i + run] < 0x7f && s[i + run] != '"' && s[i + run] != '\\')
            run++;
        zl_buf_append(b, s + i, run);
        i += run;
        if (!s[i] || i >= max)
            break;
        zl_buf_printf(b, "\\x%02x", (unsigned char)s[i]);
    }
}

static void put_num(struct zl_buf *b, uint64_t v, int min_digits)
{
    char d[24], *q = d + sizeof(d);
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
        min_digits--;
    } while (v || min_digits > 0);
    zl_buf_append(b, q, (size_t)(d + sizeof(d) - q));
}

void zl_proxy__account(struct zl_proxy *p, const struct zl_proxy_acct *c)
{
    uint64_t us = (uv_hrtime() - c->t0) / 1000;
    if (c->g) {
        struct zl_proxy_counters *k = &c->g->c;
        if (c->status >= 100 && c->status < 600)
            k->status[c->status / 100 - 1]++;
        size_t i = 0;
        while (i < ZL_PROXY_LAT_BUCKETS - 1 && us > zl_proxy_lat_ms[i] * 1000ull)
            i++;
        k->latency[i]++;
        k->latency_us += us;
        k->bytes_in += c->bytes_in;
        k->bytes_out += c->bytes_out;
    }
    if (p->log_fd < 0)
        return;
    /* TIME CLIENT "METHOD TARGET" STATUS BYTES SECONDS ROUTE BACKEND */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != p->log_sec) { /* the date part once a second */
        struct tm tm;
        p->log_sec = ts.tv_sec;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(p->log_when, sizeof(p->log_when), "%Y-%m-%dT%H:%M:%S.", &tm);
    }
    struct zl_buf *b = &p->log;
    put(b, p->log_when);
    put_num(b, (uint64_t)ts.tv_nsec / 1000000, 3);
    put(b, "Z ");
    put(b, c->ip);
    zl_buf_putc(b, ':');
    put_num(b, c->cport, 1);
    put(b, " \"");
    put(b, c->method);
    zl_buf_putc(b, ' ');
    log_escaped(b, c->target, 1024);
    put(b, "\" ");
    put_num(b, c->status, 1);
    zl_buf_putc(b, ' ');
    put_num(b, c->bytes_out, 1);
    zl_buf_putc(b, ' ');
    put_num(b, us / 1000000, 1);
    zl_buf_putc(b, '.');
    put_num(b, us % 1000000, 6);
    zl_buf_putc(b, ' ');
    put(b, c->g ? c->g->name : "-");
    zl_buf_putc(b, ' ');
    if (c->be.port) {
        char be[INET_ADDRSTRLEN];
        struct in_addr a = {htonl(c->be.ip)};
        inet_ntop(AF_INET, &a, be, sizeof(be));
        put(b, be);
        zl_buf_putc(b, ':');
        put_num(b, c->be.port, 1);
    } else
        zl_buf_putc(b, '-');
    zl_buf_putc(b, '\n');
    if (b->len >= 64 * 1024)
        zl_proxy__log_flush(p);
}

static void account(struct hconn *c)
{
    struct zl_proxy_acct a = {c->g,  c->ip,     c->method, c->target,   c->cport,
                              c->be, c->status, c->t0,     c->bytes_in, c->bytes_out};
    zl_proxy__account(c->l->p, &a);
}

/* ---------------- the pool of backend connections ---------------- */

static bool routed(struct zl_proxy *p, const struct zl_proxy_backend *b)
{
    for (struct listener *l = p->ls; l; l = l->next)
        for (struct group *g = l->g; l->http && g; g = g->next)
            if (zl_proxy__find(g, b))
                return true;
    return false;
}

static void pool_remove(struct up *u)
{
    struct zl_proxy *p = u->p;
    u->pooled = false;
    for (struct up **pp = &p->idle; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            p->nidle--;
            return;
        }
}

void zl_proxy__pool_sweep(struct zl_proxy *p, bool all)
{
    uint64_t now = uv_now(p->loop);
    struct up **pp = &p->idle;
    while (*pp) {
        struct up *u = *pp;
        if (all || now - u->idle_since >= POOL_IDLE_MS || !routed(p, &u->b)) {
            *pp = u->next;
            p->nidle--;
            u->next = NULL;
            u->pooled = false;
            up_close(u);
        } else
            pp = &u->next;
    }
}

static struct up *pool_take(struct zl_proxy *p, const struct zl_proxy_backend *b)
{
    for (struct up **pp = &p->idle; *pp; pp = &(*pp)->next) {
        struct up *u = *pp;
        if (u->b.ip == b->ip && u->b.port == b->port && !u->poisoned) {
            *pp = u->next;
            u->next = NULL;
            u->pooled = false;
            p->nidle--;
            return u;
        }
    }
    return NULL;
}

static void pool_put(struct up *u)
{
    struct zl_proxy *p = u->p;
    if (p->nidle >= POOL_MAX || p->closing) {
        up_close(u);
        return;
    }
    u->c = NULL;
    u->reused = true;
    u->pooled = true;
    u->idle_since = uv_now(p->loop);
    zl_h1_next(u->m);
    u->next = p->idle;
    p->idle = u;
    p->nidle++;
    if (!u->reading) { /* to see it closed */
        u->reading = true;
        uv_read_start((uv_stream_t *)&u->h, alloc_cb, up_on_read);
    }
}

/* ---------------- backend connections ---------------- */

static void on_up_closed(uv_handle_t *h)
{
    struct up *u = h->data;
    zl_h1_free(u->m);
    zl_buf_fini(&u->out.s);
    free(u);
}

static void up_close(struct up *u)
{
    if (u->closing)
        return;
    u->closing = true;
    if (u->pooled)
        pool_remove(u);
    if (u->c && u->c->u == u)
        u->c->u = NULL;
    if (u->s)
        zl_proxy__h2_up_gone(u->s, u);
    u->c = NULL;
    u->s = NULL;
    uv_close((uv_handle_t *)&u->h, on_up_closed);
}

static const char *const hop_by_hop[] = {"connection", "keep-alive", "proxy-connection",
                                         "te",         "trailer",    "transfer-encoding",
                                         "upgrade",    NULL};

/* Hop-by-hop: the fixed ones and those the Connection header names. */
bool zl_proxy__hop(const char *name, const char *conn)
{
    switch (name[0] | 0x20) {
    case 'c':
    case 'k':
    case 'p':
    case 't':
    case 'u':
        for (size_t i = 0; hop_by_hop[i]; i++)
            if (!strcasecmp(name, hop_by_hop[i]))
                return true;
        break;
    default:
        break;
    }
    /* Connection may name hop-by-hop headers, never the message's length or its host */
    return conn && strcasecmp(name, "content-length") && strcasecmp(name, "host") &&
           zl_h1_has_token(conn, name);
}

/* The Connection header's value when it names more than the usual options (whose headers
 * are hop-by-hop anyway), else NULL. */
static const char *conn_tokens(const struct zl_h1_head *h)
{
    const char *v = h->connection;
    if (!v || !strcasecmp(v, "keep-alive") || !strcasecmp(v, "close") || !strcasecmp(v, "upgrade"))
        return NULL;
    return v;
}

static void put_status(struct zl_buf *b, unsigned status, const char *reason)
{
    char line[16] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + status / 100 % 10);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    zl_buf_append(b, line, 13);
    zl_buf_append(b, reason, strlen(reason));
    zl_buf_append(b, "\r\n", 2);
}

static void up_on_head(void *arg, const struct zl_h1_head *h)
{
    struct up *u = arg;
    struct hconn *c = u->c;
    if (u->s) {
        u->ka = h->keep_alive;
        zl_proxy__h2_resp_head(u->s, h);
        return;
    }
    if (!c)
        return;
    struct zl_buf b;
    zl_buf_init(&b);
    if (h->status < 200 && h->status != 101) {
        /* interim (100 Continue): passed on to an HTTP/1.1 client, the final one follows */
        if (!c->http10) {
            put_status(&b, h->status, h->reason);
            zl_buf_append(&b, "\r\n", 2);
        }
        out_text(&c->out, b.data, b.len);
        zl_buf_fini(&b);
        return;
    }
    bool tunnel = h->status == 101 && c->upgrade;
    c->status = h->status;
    c->resp_head = true;
    u->ka = h->keep_alive;
    bool bodyless = c->head_req || h->status == 204 || h->status == 304 || h->status == 101;
    c->resp_chunked = false;
    if (!bodyless && !h->has_length) {
        if (c->http10)
            c->close_after = true; /* the end of the body is the end of the connection */
        else
            c->resp_chunked = true;
    }
    /* a body not read to its end, bytes after a refused upgrade, a client gone or a
     * listener going: this connection ends with this response */
    if (!c->req_done || c->upgrade || c->client_eof || c->l->closing)
        c->close_after = true;
    put_status(&b, h->status, h->reason);
    const char *conn = conn_tokens(h);
    for (size_t i = 0; i < h->nh; i++) {
        const struct zl_h1_hdr *x = &h->h[i];
        if (zl_proxy__hop(x->name, conn) && !(tunnel && !strcasecmp(x->name, "upgrade")))
            continue;
        zl_buf_append(&b, x->name, x->nlen);
        zl_buf_append(&b, ": ", 2);
        zl_buf_append(&b, x->value, x->vlen);
        zl_buf_append(&b, "\r\n", 2);
    }
    if (tunnel) {
        zl_buf_puts(&b, "Connection: upgrade\r\n");
        c->tunnel = true;
    } else {
        if (c->resp_chunked)
            zl_buf_puts(&b, "Transfer-Encoding: chunked\r\n");
        if (c->close_after)
            zl_buf_puts(&b, "Connection: close\r\n");
        else if (c->http10)
            zl_buf_puts(&b, "Connection: keep-alive\r\n");
    }
    zl_buf_puts(&b, "\r\n");
    out_text(&c->out, b.data, b.len);
    zl_buf_fini(&b);
}

static void up_on_data(void *arg, const char *p, size_t n)
{
    struct up *u = arg;
    struct hconn *c = u->c;
    if (u->s) {
        zl_proxy__h2_resp_data(u->s, p, n);
        return;
    }
    if (!c)
        return;
    if (out_full(&c->out))
        flush_client(c);
    body_piece(&c->out, c->resp_chunked, p, n);
    c->bytes_out += n;
}

static void up_on_end(void *arg)
{
    struct up *u = arg;
    struct hconn *c = u->c;
    if (u->s) {
        zl_proxy__h2_resp_end(u->s);
        return;
    }
    if (!c || !c->resp_head || c->tunnel)
        return; /* interim: the final response follows; 101: the tunnel */
    if (c->resp_chunked)
        out_text(&c->out, "0\r\n\r\n", 5);
    c->resp_done = true;
}

static const struct zl_h1_cb up_cb = {
    .on_head = up_on_head, .on_data = up_on_data, .on_end = up_on_end};

/* The request no longer counts as in flight to its backend. */
static void uncount(struct hconn *c)
{
    zl_proxy__busy(c->l->p, c->g, &c->be, -1);
    c->counted = false;
}

/* The backend failed c's request before answering: another backend if the request can be
 * sent again, else an error. */
static void up_failed(struct hconn *c, bool eject, unsigned status)
{
    struct up *u = c->u;
    bool sent = u && u->connected; /* nothing was sent before the connection was made */
    if (eject && c->g)
        zl_proxy__eject(c->l->p, c->g, &c->be);
    if (u)
        up_close(u);
    c->u = NULL;
    if (c->counted)
        uncount(c);
    if ((!sent || c->retryable) && ++c->tries < MAX_TRIES && !c->resp_head && !c->closing) {
        dispatch(c);
        return;
    }
    if (c->g)
        c->g->c.failed++;
    fail_request(c, status);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_shut(uv_shutdown_t *r, int status)
{
    (void)status;
    free(r);
}

/* No more bytes toward s once those queued are written. */
static void shut(uv_stream_t *s)
{
    uv_shutdown_t *r = zl_xcalloc(1, sizeof(*r));
    if (uv_shutdown(r, s, on_shut) < 0)
        free(r);
}

/* One side of a tunnel closed: its peer is told once it has everything; when both have
 * closed, the exchange is over. */
static void tunnel_eof(struct hconn *c, bool from_backend)
{
    if (from_backend) {
        c->eof_u = true;
        flush_client(c);
        if (!c->closing && !c->shut) {
            c->shut = true;
            if (c->tls) {
                zl_tls_close_notify(c->tls);
                tls_flush(c);
            }
            shut((uv_stream_t *)&c->h);
        }
    } else {
        c->client_eof = true;
        if (c->u && !c->u->shut) {
            flush_up(c->u);
            c->u->shut = true;
            shut((uv_stream_t *)&c->u->h);
        }
    }
    if (c->eof_u && c->client_eof) {
        c->resp_done = true;
        c->close_after = true;
        finish(c);
    }
}

/* The response of an HTTP/2 stream's request, parsed; what it says goes to the stream. */
static void up_read_h2(struct up *u, ssize_t nread)
{
    struct h2s *st = u->s;
    if (nread < 0) {
        int rc = nread == UV_EOF ? zl_h1_eof(u->m) : 502;
        u->ka = false;
        if (rc != ZL_H1_END)
            zl_proxy__h2_failed(st, 502, !u->reused);
        return;
    }
    const char *d = rbuf;
    size_t n = (size_t)nread;
    while (n && u->s == st && !u->closing) {
        size_t used;
        int rc = zl_h1_feed(u->m, d, n, &used);
        d += used;
        n -= used;
        if (rc == ZL_H1_END) {
            if (n && u->s != st) { /* more than it was asked for: not kept */
                u->poisoned = true;
                if (u->pooled)
                    up_close(u);
                return;
            }
            zl_h1_next(u->m); /* an interim one: the final follows; else the stream let go */
            continue;
        }
        if (rc >= 400) {
            zl_proxy__h2_failed(st, 502, false);
            return;
        }
    }
}

static void up_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct up *u = s->data;
    struct hconn *c = u->c;
    (void)buf;
    if (nread == 0 || u->closing)
        return;
    if (u->s) {
        up_read_h2(u, nread);
        return;
    }
    if (!c) { /* pooled: the backend closed it, or said something unasked */
        up_close(u);
        return;
    }
    if (nread < 0) {
        if (c->tunnel && nread == UV_EOF) {
            uv_read_stop(s);
            u->reading = false;
            tunnel_eof(c, true);
            return;
        }
        int rc = nread == UV_EOF ? zl_h1_eof(u->m) : 502;
        if (rc == ZL_H1_END && c->resp_done) {
            flush_client(c);
            u->ka = false;
            finish(c);
        } else if (!c->resp_head) {
            /* a kept connection the backend had just closed is no fault of the backend's */
            up_failed(c, !u->reused, 502);
        } else {
            up_close(u);
            client_close(c);
        }
        return;
    }
    const char *d = rbuf;
    size_t n = (size_t)nread;
    if (c->tunnel) {
        arm(c, T_TUNNEL, TUNNEL_MS);
        out_ref(&c->out, d, n);
        c->bytes_out += n;
        flush_client(c);
        update_reading(c);
        return;
    }
    if (c->tk == T_RESPONSE)
        arm(c, T_RESPONSE, RESPONSE_MS);
    while (n && !c->closing) {
        size_t used;
        int rc = zl_h1_feed(u->m, d, n, &used);
        d += used;
        n -= used;
        if (rc == ZL_H1_END && c->tunnel) {
            out_ref(&c->out, d, n); /* the other protocol's first bytes */
            c->bytes_out += n;
            arm(c, T_TUNNEL, TUNNEL_MS);
            flush_client(c);
            client_input(c, NULL, 0); /* what the client sent after its request */
            return;
        }
        if (rc == ZL_H1_END && !c->resp_done) {
            zl_h1_next(u->m); /* interim */
            continue;
        }
        if (rc == ZL_H1_END) {
            if (n)
                u->poisoned = true; /* more than it was asked for */
            break;
        }
        if (rc >= 400) {
            if (!c->resp_head) {
                up_failed(c, false, 502);
                return;
            }
            up_close(u);
            flush_client(c);
            client_close(c);
            return;
        }
    }
    client_soon(c);
    if (c->resp_done)
        finish(c);
    else
        update_reading(c);
}

static void up_send_head(struct hconn *c)
{
    struct up *u = c->u;
    c->waiting = false;
    zl_h1_expect_head(u->m, c->head_req);
    out_text(&u->out, c->head_up.data, c->head_up.len);
    up_soon(u);
    if (!c->u)
        return;
    if (!u->reading) {
        u->reading = true;
        uv_read_start((uv_stream_t *)&u->h, alloc_cb, up_on_read);
    }
    if (c->req_done)
        arm(c, T_RESPONSE, RESPONSE_MS);
    else
        arm(c, T_BODY, BODY_MS);
    client_input(c, NULL, 0); /* the body that came with the head */
}

static void on_up_connect(uv_connect_t *req, int status)
{
    struct up *u = req->data;
    struct hconn *c = u->c;
    if (!u->closing && u->s) {
        if (status < 0) {
            zl_proxy__h2_failed(u->s, 502, true);
            return;
        }
        u->connected = true;
        uv_tcp_nodelay(&u->h, 1);
        u->reading = true;
        uv_read_start((uv_stream_t *)&u->h, alloc_cb, up_on_read);
        zl_proxy__h2_connected(u->s);
        return;
    }
    if (u->closing || !c)
        return;
    if (status < 0) {
        up_failed(c, true, 502);
        return;
    }
    u->connected = true;
    uv_tcp_nodelay(&u->h, 1);
    up_send_head(c);
}

static struct up *up_open(struct zl_proxy *p, const struct zl_proxy_backend *b)
{
    struct up *u = zl_xcalloc(1, sizeof(*u));
    u->p = p;
    u->b = *b;
    u->m = zl_h1_new(true, MAX_RESP_HEAD, &up_cb, u);
    zl_buf_init(&u->out.s);
    uv_tcp_init(p->loop, &u->h);
    u->h.data = u;
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(u->b.port), .sin_addr.s_addr = htonl(u->b.ip)};
    u->creq.data = u;
    if (uv_tcp_connect(&u->creq, &u->h, (struct sockaddr *)&sa, on_up_connect) < 0) {
        up_close(u);
        return NULL;
    }
    return u;
}

static struct up *up_new(struct hconn *c)
{
    struct up *u = up_open(c->l->p, &c->be);
    if (u)
        u->c = c;
    return u;
}

struct up *zl_proxy__up_for(struct h2s *s, struct zl_proxy *p, const struct zl_proxy_backend *b,
                            bool *ready)
{
    struct up *u = pool_take(p, b);
    *ready = u != NULL;
    if (!u)
        u = up_open(p, b);
    if (u)
        u->s = s;
    return u;
}

void zl_proxy__up_release(struct up *u, bool reuse)
{
    u->s = NULL;
    if (reuse && u->ka && !u->poisoned && !u->closing)
        pool_put(u);
    else
        up_close(u);
}

void zl_proxy__up_close(struct up *u)
{
    up_close(u);
}

void zl_proxy__touch(struct hconn *c)
{
    arm(c, T_TUNNEL, IDLE_MS);
}

void zl_proxy__up_reading(struct up *u, bool on)
{
    if (u->closing || !u->connected || u->reading == on)
        return;
    u->reading = on;
    if (on)
        uv_read_start((uv_stream_t *)&u->h, alloc_cb, up_on_read);
    else
        uv_read_stop((uv_stream_t *)&u->h);
}

void zl_proxy__busy(struct zl_proxy *p, struct group *g, const struct zl_proxy_backend *b,
                    int delta)
{
    struct backend *x = g ? zl_proxy__find(g, b) : NULL;
    if (x && (delta > 0 || x->active))
        x->active = (unsigned)((int)x->active + delta);
    if (delta > 0)
        atomic_fetch_add(&p->busy[zl_proxy__busy_slot(b->ip)], 1);
    else
        atomic_fetch_sub(&p->busy[zl_proxy__busy_slot(b->ip)], 1);
}

void zl_proxy__out_text(struct out *o, const char *p, size_t n)
{
    out_text(o, p, n);
}

void zl_proxy__flush_client(struct hconn *c)
{
    flush_client(c);
}

void zl_proxy__flush_up(struct up *u)
{
    flush_up(u);
}

void zl_proxy__client_close(struct hconn *c)
{
    client_close(c);
}

const char *zl_proxy__reason(unsigned status)
{
    return reason(status);
}

/* ---------------- requests ---------------- */

static const char *reason(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* Our own answer to the request in progress (or to bytes that were not one). After it the
 * connection closes unless the request is known to have ended with its head. */
static void fail_request(struct hconn *c, unsigned status)
{
    if (c->resp_head) {
        client_close(c);
        return;
    }
    if (!c->in_req) { /* a broken head: no request to count, but a line to log */
        c->in_req = true;
        c->t0 = uv_hrtime();
        c->rh = NULL;
    }
    if (c->u)
        up_close(c->u);
    c->waiting = false;
    c->status = status;
    c->resp_head = c->resp_done = true;
    if (!c->req_done && !(c->rh && c->bodyless))
        c->close_after = true; /* the rest of the request is not read */
    if (c->upgrade || status == 408)
        c->close_after = true;
    const char *r = reason(status);
    char msg[200];
    int k = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n"
                     "%u %s\n",
                     status, r, strlen(r) + 5, c->close_after ? "Connection: close\r\n" : "",
                     status, r);
    size_t body = strlen(r) + 5;
    if (c->head_req) /* the head only, as for any response to HEAD */
        k -= (int)body;
    else
        c->bytes_out += body;
    out_text(&c->out, msg, (size_t)k);
    flush_client(c);
    finish(c);
    /* a request still to be read to its end (its last byte, say): read on, not connect */
    if (c->in_req && !c->closing && !c->ending) {
        arm(c, T_BODY, BODY_MS);
        if (!c->parsing)
            client_input(c, NULL, 0);
    }
}

bool zl_proxy__idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS") || !strcmp(m, "PUT") ||
           !strcmp(m, "DELETE") || !strcmp(m, "TRACE");
}

void zl_proxy__host_key(const char *v, size_t n, char *out, size_t cap)
{
    out[0] = '\0';
    if (!v)
        return;
    const char *at = memchr(v, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - v);
        v = at + 1;
    }
    if (n && v[0] == '[') { /* an IPv6 literal keeps its colons */
        const char *e = memchr(v, ']', n);
        n = e ? (size_t)(e - v + 1) : n;
    } else {
        const char *colon = memchr(v, ':', n);
        if (colon)
            n = (size_t)(colon - v);
    }
    while (n && v[n - 1] == '.')
        n--;
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] - 'A' + 'a' : v[i]);
    out[n] = '\0';
}

/* The host a request names: its Host header, or the authority of an absolute target. */
static void request_host(const struct zl_h1_head *h, char *out, size_t cap)
{
    const char *v = h->host;
    size_t n = v ? strlen(v) : 0;
    if (h->target[0] != '/' && strstr(h->target, "://")) {
        v = strstr(h->target, "://") + 3;
        n = strcspn(v, "/?#");
    }
    zl_proxy__host_key(v, n, out, cap);
}

/* Where the origin-form target starts: the target itself, or past an absolute target's
 * authority. */
static const char *origin_form(const struct zl_h1_head *h)
{
    if (h->target[0] == '/' || !strstr(h->target, "://"))
        return h->target;
    const char *s = strstr(h->target, "://") + 3;
    s += strcspn(s, "/?#");
    return *s == '/' ? s : NULL;
}

static void build_head(struct hconn *c, const struct zl_h1_head *h, const char *target)
{
    struct zl_buf *b = &c->head_up;
    b->len = 0;
    put(b, h->method);
    zl_buf_putc(b, ' ');
    put(b, *target == '/' ? target : "/");
    put(b, " HTTP/1.1\r\n");
    const char *xff = NULL, *via = NULL, *host = h->host, *conn = conn_tokens(h);
    char authority[256] = "";
    if (h->target[0] != '/' && strstr(h->target, "://")) {
        /* absolute form: its authority is the host (RFC 9112 3.2.2), whatever Host says */
        const char *a = strstr(h->target, "://") + 3;
        size_t an = strcspn(a, "/?#");
        const char *at = memchr(a, '@', an);
        if (at) {
            an -= (size_t)(at + 1 - a);
            a = at + 1;
        }
        snprintf(authority, sizeof(authority), "%.*s", (int)an, a);
        host = authority;
    }
    for (size_t i = 0; i < h->nh; i++) {
        const struct zl_h1_hdr *x = &h->h[i];
        char c0 = (char)(x->name[0] | 0x20);
        if (c0 == 'x' && !strcasecmp(x->name, "x-forwarded-for")) {
            if (!xff)
                xff = x->value;
            continue;
        }
        if (c0 == 'v' && !strcasecmp(x->name, "via")) {
            if (!via)
                via = x->value;
            continue;
        }
        if (zl_proxy__hop(x->name, conn) ||
            (c0 == 'x' && (!strcasecmp(x->name, "x-forwarded-proto") ||
                           !strcasecmp(x->name, "x-forwarded-host"))) ||
            (authority[0] && c0 == 'h' && !strcasecmp(x->name, "host")))
            continue;
        zl_buf_append(b, x->name, x->nlen);
        zl_buf_append(b, ": ", 2);
        zl_buf_append(b, x->value, x->vlen);
        zl_buf_append(b, "\r\n", 2);
    }
    if (authority[0])
        zl_buf_printf(b, "Host: %s\r\n", authority);
    else if (!host) {
        struct sockaddr_in me = {0};
        int ml = sizeof(me);
        char ip[INET_ADDRSTRLEN] = "localhost";
        if (!uv_tcp_getsockname(&c->h, (struct sockaddr *)&me, &ml))
            inet_ntop(AF_INET, &me.sin_addr, ip, sizeof(ip));
        zl_buf_printf(b, "Host: %s:%u\r\n", ip, c->l->port);
    }
    /* a client's own X-Forwarded-For is believed only from this node */
    put(b, "X-Forwarded-For: ");
    if (xff && c->loopback) {
        put(b, xff);
        put(b, ", ");
    }
    put(b, c->ip);
    put(b, c->tls ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n");
    if (host) {
        put(b, "X-Forwarded-Host: ");
        put(b, host);
        put(b, "\r\n");
    }
    put(b, "Via: ");
    if (via) {
        put(b, via);
        put(b, ", ");
    }
    put(b, h->minor ? "1.1 zlayer\r\n" : "1.0 zlayer\r\n");
    if (c->req_chunked)
        put(b, "Transfer-Encoding: chunked\r\n");
    if (c->upgrade) {
        const char *up = zl_h1_get(h, "upgrade");
        put(b, "Connection: upgrade\r\nUpgrade: ");
        put(b, up ? up : "websocket");
        put(b, "\r\n");
    }
    put(b, "\r\n");
}

static void start_request(struct hconn *c)
{
    const struct zl_h1_head *h = c->rh;
    c->in_req = true;
    c->t0 = uv_hrtime();
    size_t ml = strlen(h->method);
    ml = ml < sizeof(c->method) ? ml : sizeof(c->method) - 1;
    memcpy(c->method, h->method, ml);
    c->method[ml] = '\0';
    if (c->target && strlen(c->target) >= h->target_len && h->target_len <= 1024) {
        memcpy(c->target, h->target, h->target_len); /* the usual case: no allocation */
        c->target[h->target_len] = '\0';
    } else {
        free(c->target);
        c->target = zl_xstrndup(h->target, h->target_len > 1024 ? 1024 : h->target_len);
    }
    c->http10 = h->minor == 0;
    c->head_req = !strcmp(h->method, "HEAD");
    c->upgrade = h->upgrade;
    c->req_chunked = h->chunked;
    c->bodyless = !h->chunked && (!h->has_length || h->length == 0);
    c->retryable = zl_proxy__idempotent(h->method) && c->bodyless && !c->upgrade;
    if (!h->keep_alive)
        c->close_after = true;
    if (c->upgrade && !zl_h1_get(h, "upgrade")) {
        fail_request(c, 400);
        return;
    }
    char host[256];
    request_host(h, host, sizeof(host));
    const char *target = origin_form(h);
    if (!target) {
        fail_request(c, 400);
        return;
    }
    size_t plen = strcspn(target, "?#");
    struct group *g = zl_proxy__route(c->l, host[0] ? host : NULL, target, plen);
    if (!g) {
        fail_request(c, 404);
        return;
    }
    c->g = g;
    g->refs++;
    g->c.accepted++;
    g->c.active++;
    build_head(c, h, target);
    dispatch(c);
}

static void dispatch(struct hconn *c)
{
    struct zl_proxy *p = c->l->p;
    struct backend *b = c->g->gone ? NULL : zl_proxy__next(p, c->g);
    if (!b) { /* none at all, or none left after failures: 503, or the failure's 502 */
        c->g->c.failed++;
        fail_request(c, c->tries ? 502 : 503);
        return;
    }
    c->be = b->b;
    zl_proxy__busy(p, c->g, &c->be, 1);
    c->counted = true;
    struct up *u = c->upgrade ? NULL : pool_take(p, &b->b);
    if (u) {
        u->c = c;
        c->u = u;
        up_send_head(c);
        return;
    }
    c->waiting = true;
    update_reading(c);
    u = up_new(c);
    if (!u) {
        up_failed(c, true, 502);
        return;
    }
    c->u = u;
    arm(c, T_CONNECT, CONNECT_MS);
}

/* The request and its answer are done: count, log, give the backend connection back, and
 * go on with the next request or close. */
static void finish(struct hconn *c)
{
    if (!c->in_req || !c->resp_done || (!c->req_done && !c->close_after))
        return;
    account(c);
    struct up *u = c->u;
    c->u = NULL;
    if (u) {
        bool keep = c->req_done && u->ka && !u->poisoned && !c->upgrade && !u->closing;
        u->c = NULL;
        if (keep)
            pool_put(u);
        else
            up_close(u);
    }
    if (c->counted)
        uncount(c);
    if (c->g) {
        c->g->c.active--;
        zl_proxy__group_unref(c->g);
    }
    c->g = NULL;
    c->counted = false;
    c->be = (struct zl_proxy_backend){0};
    c->in_req = c->req_done = c->resp_head = c->resp_done = c->waiting = false;
    c->head_req = false;
    c->tries = 0;
    c->status = 0;
    c->bytes_in = c->bytes_out = 0;
    c->rh = NULL;
    if (c->close_after || c->tunnel) {
        client_end(c);
        return;
    }
    zl_h1_next(c->m);
    arm(c, T_IDLE, IDLE_MS);
    client_input(c, NULL, 0); /* a pipelined request (when not already parsing) */
}

/* ---------------- client connections ---------------- */

static void req_on_head(void *arg, const struct zl_h1_head *h)
{
    struct hconn *c = arg;
    c->rh = h;
}

static void req_on_data(void *arg, const char *p, size_t n)
{
    struct hconn *c = arg;
    struct up *u = c->u;
    c->bytes_in += n;
    if (!u)
        return;
    if (out_full(&u->out))
        flush_up(u);
    body_piece(&u->out, c->req_chunked, p, n);
}

static void req_on_end(void *arg)
{
    struct hconn *c = arg;
    c->req_done = true;
    if (c->u && c->req_chunked)
        out_text(&c->u->out, "0\r\n\r\n", 5);
}

static const struct zl_h1_cb req_cb = {
    .on_head = req_on_head, .on_data = req_on_data, .on_end = req_on_end};

static void on_client_closed(uv_handle_t *h)
{
    struct hconn *c = h->data;
    if (--c->handles)
        return;
    struct zl_proxy *p = c->l->p;
    p->churn++;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->hconns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    zl_proxy__listener_unref(c->l);
    zl_h1_free(c->m);
    zl_tls_free(c->tls);
    zl_buf_fini(&c->pend);
    zl_buf_fini(&c->out.s);
    zl_buf_fini(&c->head_up);
    free(c->target);
    free(c);
}

static void client_close(struct hconn *c)
{
    if (c->closing)
        return;
    if (c->u)
        up_close(c->u);
    if (c->in_req) { /* cut short: counted and logged as such */
        if (!c->resp_done && !c->status)
            c->status = 499;
        c->resp_done = true;
        c->close_after = true;
        c->ending = true; /* no graceful end: finish comes back here */
        finish(c);
        if (c->closing)
            return;
    }
    c->closing = true;
    zl_proxy__h2_free(c);
    uv_close((uv_handle_t *)&c->h, on_client_closed);
    uv_close((uv_handle_t *)&c->timer, on_client_closed);
}

/* Close once what is queued has gone, reading (and dropping) what the client still sends
 * for a moment so that our last response is not lost to a reset. */
static void client_end(struct hconn *c)
{
    if (c->closing)
        return;
    if (c->ending) {
        client_close(c);
        return;
    }
    c->ending = true;
    flush_client(c); /* what waits for the end of the pass goes before the shutdown */
    if (c->closing)
        return;
    if (c->client_eof && !c->queued) {
        client_close(c);
        return;
    }
    if (!c->shut) {
        c->shut = true;
        if (c->tls) {
            zl_tls_close_notify(c->tls);
            tls_flush(c);
        }
        shut((uv_stream_t *)&c->h);
    }
    arm(c, T_LINGER, c->queued ? BODY_MS : LINGER_MS);
    if (!c->reading) {
        c->reading = true;
        uv_read_start((uv_stream_t *)&c->h, alloc_cb, client_on_read);
    }
}

/* Read from the client only when its bytes can go somewhere. */
static void read_on(uv_stream_t *s, bool *flag, bool want, uv_read_cb cb)
{
    if (want == *flag)
        return; /* no epoll change for nothing */
    *flag = want;
    if (want)
        uv_read_start(s, alloc_cb, cb);
    else
        uv_read_stop(s);
}

static void update_reading(struct hconn *c)
{
    if (c->closing || c->ending)
        return;
    /* the client: while its bytes have somewhere to go (a body toward a backend that keeps
     * up), or may wait unparsed (the next request, bounded) */
    bool room = c->pend.len - c->pend_off < READ_SIZE, want;
    if (c->client_eof)
        want = false;
    else if (c->h2)
        want = true; /* HTTP/2 has its own flow control */
    else if (c->tunnel)
        want = !c->u || c->u->queued < WMAX;
    else if (c->in_req && !c->waiting && !c->req_done && !c->resp_done)
        want = c->u && c->u->queued < WMAX && room;
    else
        want = room;
    read_on((uv_stream_t *)&c->h, &c->reading, want, client_on_read);
    struct up *u = c->u;
    if (u && !u->closing && u->connected && !c->eof_u)
        read_on((uv_stream_t *)&u->h, &u->reading, c->queued < WMAX, up_on_read);
}

/* Parse what the client sent, as far as the request in progress allows. */
static size_t client_parse(struct hconn *c, const char *d, size_t n)
{
    size_t total = 0;
    while (n && !c->closing && !c->ending) {
        if (c->tunnel) {
            if (c->u) {
                out_ref(&c->u->out, d, n);
                c->bytes_in += n;
            }
            return total + n;
        }
        if (c->in_req && (c->waiting || c->req_done))
            break;
        if (!c->in_req && c->tk == T_IDLE)
            arm(c, T_HEAD, HEAD_MS); /* the whole head within HEAD_MS: slow clients go */
        size_t used;
        int rc = zl_h1_feed(c->m, d, n, &used);
        d += used;
        n -= used;
        total += used;
        if (rc == ZL_H1_HEAD) {
            start_request(c);
            continue;
        }
        if (rc == ZL_H1_END) {
            if (c->u && !c->waiting && !c->resp_done)
                arm(c, T_RESPONSE, RESPONSE_MS);
            finish(c); /* our own answer was waiting for the request's end */
            if (c->upgrade)
                break; /* what follows is not HTTP: it waits for the switch */
            continue;
        }
        if (rc != ZL_H1_MORE) {
            fail_request(c, (unsigned)rc);
            return total + n;
        }
    }
    return total;
}

static void client_input(struct hconn *c, const char *d, size_t n)
{
    if (c->closing || c->parsing)
        return;
    c->parsing = true;
    if (c->ending) {
        /* dropped */
    } else if (c->pend.len > c->pend_off || !d) {
        if (d && n) {
            if (c->pend_off) {
                memmove(c->pend.data, c->pend.data + c->pend_off, c->pend.len - c->pend_off);
                c->pend.len -= c->pend_off;
                c->pend_off = 0;
            }
            zl_buf_append(&c->pend, d, n);
        }
        size_t k = c->pend.len > c->pend_off
                       ? client_parse(c, c->pend.data + c->pend_off, c->pend.len - c->pend_off)
                       : 0;
        if (c->u && !c->closing)
            up_soon(c->u); /* before pend changes: pieces may point into it */
        c->pend_off += k;
        if (c->pend_off >= c->pend.len)
            c->pend.len = c->pend_off = 0;
    } else {
        size_t k = client_parse(c, d, n);
        if (c->u && !c->closing)
            up_soon(c->u);
        if (k < n && !c->closing)
            zl_buf_append(&c->pend, d + k, n - k);
    }
    c->parsing = false;
    update_reading(c);
}

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* Bytes from the client, in clear: to the HTTP/2 session, or the HTTP/1.1 parser. The first
 * ones decide: ALPN h2, or HTTP/2's preface on a connection in clear. */
static void client_bytes(struct hconn *c, const char *p, size_t n)
{
    if (!c->h2 && !c->in_req && !c->proto_known) {
        c->proto_known = true;
        bool h2 =
            c->tls ? (zl_tls_alpn(c->tls) && !strcmp(zl_tls_alpn(c->tls), "h2"))
                   : n >= sizeof(h2_preface) - 1 && !memcmp(p, h2_preface, sizeof(h2_preface) - 1);
        if (h2 && zl_proxy__h2_start(c) < 0) {
            client_close(c);
            return;
        }
    }
    if (c->h2) {
        arm(c, T_TUNNEL, IDLE_MS);
        zl_proxy__h2_input(c, p, n);
        return;
    }
    client_input(c, p, n);
}

static void tls_plain(void *arg, const char *p, size_t n)
{
    client_bytes(arg, p, n);
}

static void client_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct hconn *c = s->data;
    (void)buf;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        uv_read_stop(s);
        c->reading = false;
        if (c->tunnel && nread == UV_EOF) {
            tunnel_eof(c, false);
            return;
        }
        c->client_eof = true;
        if (nread == UV_EOF && c->in_req && (c->req_done || c->bodyless) && !c->ending &&
            !c->upgrade) {
            c->close_after = true; /* half-closed after its request: the answer still goes */
            return;
        }
        if (nread == UV_EOF &&
            (c->soon || c->out.n || c->queued || (c->tls && zl_tls_pending(c->tls)))) {
            client_end(c); /* a finished answer still on its way goes first */
            return;
        }
        client_close(c);
        return;
    }
    if (c->ending)
        return; /* lingering: dropped */
    if (c->tk == T_BODY || c->tk == T_TUNNEL)
        arm(c, c->tk, c->tk == T_BODY ? BODY_MS : TUNNEL_MS);
    if (!c->tls) {
        client_bytes(c, rbuf, (size_t)nread);
        return;
    }
    int rc = zl_tls_read(c->tls, rbuf, (size_t)nread, tls_plain, c);
    if (!c->closing && tls_flush(c) < 0)
        rc = -1;
    if (rc < 0)
        client_close(c); /* a failed handshake or a broken record: nothing to answer */
    else if (rc > 0 && !c->closing)
        client_on_read(s, UV_EOF, buf);
}

static void on_timer(uv_timer_t *t)
{
    struct hconn *c = t->data;
    if (c->closing)
        return;
    uint64_t now = uv_now(c->l->p->loop);
    if (c->deadline > now) {
        uv_timer_start(&c->timer, on_timer, c->deadline - now, 0);
        return;
    }
    switch (c->tk) {
    case T_HEAD:
        if (c->pend.len > c->pend_off || c->in_req || zl_h1_started(c->m))
            fail_request(c, 408);
        else
            client_close(c); /* said nothing: nothing to answer */
        break;
    case T_BODY:
        fail_request(c, 408);
        break;
    case T_CONNECT:
        up_failed(c, true, 502);
        break;
    case T_RESPONSE:
        c->retryable = false; /* slow, not gone: not worth two more waits */
        if (c->resp_head)
            client_close(c);
        else
            up_failed(c, false, 504);
        break;
    default:
        client_close(c);
    }
}

static void on_accept(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    if (status < 0 || l->closing)
        return;
    struct zl_proxy *p = l->p;
    struct hconn *c = zl_xcalloc(1, sizeof(*c));
    c->l = l;
    l->refs++;
    uv_tcp_init(p->loop, &c->h);
    c->h.data = c;
    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    c->handles = 2;
    c->m = zl_h1_new(false, MAX_HEAD, &req_cb, c);
    zl_buf_init(&c->pend);
    zl_buf_init(&c->out.s);
    zl_buf_init(&c->head_up);
    c->next = p->hconns;
    if (c->next)
        c->next->prev = c;
    p->hconns = c;
    p->churn++;
    if (uv_accept(server, (uv_stream_t *)&c->h) < 0) {
        client_close(c);
        return;
    }
    struct sockaddr_in peer = {0};
    int pl = sizeof(peer);
    strcpy(c->ip, "?");
    if (!uv_tcp_getpeername(&c->h, (struct sockaddr *)&peer, &pl) && peer.sin_family == AF_INET) {
        inet_ntop(AF_INET, &peer.sin_addr, c->ip, sizeof(c->ip));
        c->cport = ntohs(peer.sin_port);
        c->loopback = (ntohl(peer.sin_addr.s_addr) >> 24) == 127;
    }
    if (l->tls && !(c->tls = zl_tls_new(p->certs, true))) {
        client_close(c); /* no certificate at all */
        return;
    }
    uv_tcp_nodelay(&c->h, 1);
    arm(c, T_HEAD, HEAD_MS);
    c->reading = true;
    uv_read_start((uv_stream_t *)&c->h, alloc_cb, client_on_read);
}

int zl_proxy__http_listen(struct listener *l, const struct sockaddr_in *sa)
{
    uv_tcp_init(l->p->loop, &l->h.tcp);
    l->h.tcp.data = l;
    int rc = uv_tcp_bind(&l->h.tcp, (const struct sockaddr *)sa, 0);
    return rc == 0 ? uv_listen((uv_stream_t *)&l->h.tcp, 511, on_accept) : rc;
}

void zl_proxy__http_close_all(struct zl_proxy *p)
{
    for (struct hconn *c = p->hconns; c; c = c->next) {
        c->close_after = true;
        client_close(c);
    }
}
