/* SPDX-License-Identifier: Apache-2.0 */
/* net/dns_server.c: the DNS server on a libuv loop: UDP and TCP, answers from the zone, the
 * rest forwarded through c-ares (driven by the loop) with a cache of what comes back. */
#include "net/internal.h"

#include <arpa/inet.h>
#include <ares.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONNS       256         /* TCP connections at once */
#define CONN_PENDING    32          /* forwarded queries in flight per connection */
#define CONN_WRITE_MAX  (256 << 10) /* bytes queued for a client before we stop reading it */
#define IDLE_MS         10000
#define MAX_INFLIGHT    4096 /* forwarded queries in flight */
#define UDP_QUEUE_MAX   1024 /* UDP answers waiting for the socket */
#define UPSTREAM_MS     2000
#define UPSTREAM_TRIES  2
#define CACHE_MAX       4096
#define CACHE_BYTES     (8u << 20)
#define CACHE_ENTRY_MAX 16384 /* larger answers are not kept */
#define CACHE_TTL_MAX   300
#define CACHE_BUCKETS   8192
#define KEY_MAX         (255 + 5)

struct ares_poll {
    uv_poll_t h;
    ares_socket_t fd;
    struct zl_dns_server *s;
    struct ares_poll *next;
};

struct cache_entry {
    struct cache_entry *chain;         /* same bucket */
    struct cache_entry *older, *newer; /* in order of storing */
    uint32_t hash;
    size_t klen, len;
    uint64_t stored_ms, expires_ms;
    uint8_t *msg; /* the response without its OPT record; points into key[] */
    uint8_t key[];
};

struct tcp_conn {
    uv_tcp_t h;
    uv_timer_t idle;
    struct zl_dns_server *s;
    struct tcp_conn *prev, *next;
    uint32_t ip;
    uint8_t *buf;
    size_t len, cap;
    unsigned pending; /* forwarded queries in flight */
    unsigned open;    /* handles not yet closed */
    bool closing, reading;
    bool processing; /* in conn_process: an answer given at once must not re-enter it */
};

struct zl_dns_server {
    uv_loop_t *loop;
    struct zl_dns_zone *zone;
    uv_udp_t udp;
    uv_tcp_t tcp;
    uv_timer_t ares_timer;
    ares_channel channel;
    bool have_channel, stopping;
    unsigned open; /* handles not yet closed */
    struct ares_poll *polls;
    struct tcp_conn *conns;
    size_t nconns, inflight;
    struct cache_entry *buckets[CACHE_BUCKETS];
    struct cache_entry *oldest, *newest;
    size_t ncache, cache_bytes;
    uint8_t udp_buf[ZL_DNS__MAX_MSG];
};

/* A query sent upstream. */
struct forward {
    struct zl_dns_server *s;
    struct tcp_conn *conn; /* NULL: over UDP, to addr */
    struct sockaddr_storage addr;
    struct zl_dns__query q;
    size_t klen;
    uint8_t key[KEY_MAX];
    size_t qsec_len;
    uint8_t qsec[255 + 4]; /* the question as the client wrote it */
};

struct udp_send {
    uv_udp_send_t req;
    uint8_t *msg;
};

struct tcp_write {
    uv_write_t req;
    struct tcp_conn *conn;
    uint8_t msg[];
};

static void maybe_free(struct zl_dns_server *s);
static void conn_close(struct tcp_conn *c);
static void conn_flow(struct tcp_conn *c);

/* ---------------- replying ---------------- */

static void on_udp_sent(uv_udp_send_t *req, int status)
{
    (void)status;
    struct udp_send *u = (struct udp_send *)req;
    free(u->msg);
    free(u);
}

static void on_tcp_written(uv_write_t *req, int status)
{
    struct tcp_write *w = (struct tcp_write *)req;
    struct tcp_conn *c = w->conn;
    free(w);
    if (status < 0)
        conn_close(c);
    else
        conn_flow(c);
}

/* Send response r (rlen bytes, malloc'd: taken) to a client; over UDP cut down to what the
 * client takes. */
static void reply(struct zl_dns_server *s, struct tcp_conn *c, const struct sockaddr *addr,
                  const struct zl_dns__query *q, uint8_t *r, size_t rlen)
{
    if (c) {
        if (c->closing || s->stopping) {
            free(r);
            return;
        }
        struct tcp_write *w = zl_xmalloc(sizeof(*w) + 2 + rlen);
        w->conn = c;
        w->msg[0] = (uint8_t)(rlen >> 8);
        w->msg[1] = (uint8_t)rlen;
        memcpy(w->msg + 2, r, rlen);
        free(r);
        uv_buf_t b = uv_buf_init((char *)w->msg, (unsigned)(2 + rlen));
        if (uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, on_tcp_written) < 0) {
            free(w);
            conn_close(c);
            return;
        }
        uv_timer_again(&c->idle);
        return;
    }
    if (s->stopping) {
        free(r);
        return;
    }
    if (rlen > ZL_DNS__UDP_MIN && rlen > zl_dns__udp_limit(q)) {
        size_t cut = zl_dns__truncate(r, rlen, q->edns);
        if (!cut) {
            free(r);
            return;
        }
        rlen = cut;
    }
    uv_buf_t b = uv_buf_init((char *)r, (unsigned)rlen);
    int rc = uv_udp_try_send(&s->udp, &b, 1, addr);
    if (rc >= 0) {
        free(r);
        return;
    }
    if ((rc != UV_EAGAIN && rc != UV_ENOSYS) || s->udp.send_queue_count >= UDP_QUEUE_MAX) {
        free(r); /* as lost on the way: the client asks again */
        return;
    }
    struct udp_send *u = zl_xmalloc(sizeof(*u));
    u->msg = r;
    if (uv_udp_send(&u->req, &s->udp, &b, 1, addr, on_udp_sent) < 0) {
        free(r);
        free(u);
    }
}

/* A SERVFAIL for query q whose question section is qsec. */
static uint8_t *servfail(const struct zl_dns__query *q, const uint8_t *qsec, size_t qsec_len,
                         size_t *len)
{
    uint8_t *r = zl_xmalloc(ZL_DNS__HEADER + qsec_len + 11);
    zl_dns__error(q, ZL_DNS__SERVFAIL, r);
    r[5] = 1; /* one question */
    memcpy(r + ZL_DNS__HEADER, qsec, qsec_len);
    size_t n = ZL_DNS__HEADER + qsec_len;
    if (q->edns) {
        static const uint8_t opt[11] = {0, 0, ZL_DNS__T_OPT, ZL_DNS__OUR_EDNS >> 8,
                                        ZL_DNS__OUR_EDNS & 0xFF};
        memcpy(r + n, opt, sizeof(opt));
        n += sizeof(opt);
        r[11] = 1;
    }
    *len = n;
    return r;
}

/* ---------------- the cache of forwarded answers ---------------- */

/* (lowercased name, type, class, the DO and CD bits): what an answer depends on */
static size_t cache_key(const uint8_t *m, const struct zl_dns__query *q, uint8_t *key)
{
    const uint8_t *name = m + ZL_DNS__HEADER;
    for (size_t i = 0; i < q->qname_len; i++) {
        uint8_t c = name[i];
        key[i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
    }
    memcpy(key + q->qname_len, m + ZL_DNS__HEADER + q->qname_len, 4);
    key[q->qname_len + 4] = (uint8_t)((q->edns_do ? 1 : 0) | ((q->flags & 0x0010) ? 2 : 0));
    return q->qname_len + 5;
}

static uint32_t key_hash(const uint8_t *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    return h;
}

static void cache_unlink(struct zl_dns_server *s, struct cache_entry *e)
{
    struct cache_entry **pp = &s->buckets[e->hash % CACHE_BUCKETS];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        s->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        s->newest = e->older;
    s->ncache--;
    s->cache_bytes -= e->klen + e->len;
    free(e);
}

static struct cache_entry *cache_find(struct zl_dns_server *s, const uint8_t *key, size_t klen,
                                      uint32_t h)
{
    for (struct cache_entry *e = s->buckets[h % CACHE_BUCKETS]; e; e = e->chain)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

/* Keep answer r to the query keyed key for as long as its records live. */
static void cache_put(struct zl_dns_server *s, const uint8_t *key, size_t klen, const uint8_t *r,
                      size_t len)
{
    struct zl_dns__scan sc;
    if (len > CACHE_ENTRY_MAX || zl_dns__scan_response(r, len, &sc) < 0)
        return;
    int rcode = sc.flags & 0xF;
    if ((sc.flags & 0x0200) || (rcode != ZL_DNS__NOERROR && rcode != ZL_DNS__NXDOMAIN))
        return;
    if (sc.opt_off && sc.opt_end != len)
        return;
    uint32_t ttl = sc.counts[1] ? sc.min_ttl : sc.neg_ttl;
    if (ttl == 0 || ttl == UINT32_MAX)
        return;
    if (ttl > CACHE_TTL_MAX)
        ttl = CACHE_TTL_MAX;
    size_t keep = sc.opt_off ? sc.opt_off : len;

    uint32_t h = key_hash(key, klen);
    struct cache_entry *old = cache_find(s, key, klen, h);
    if (old)
        cache_unlink(s, old);
    while (s->oldest && (s->ncache >= CACHE_MAX || s->cache_bytes + klen + keep > CACHE_BYTES))
        cache_unlink(s, s->oldest);

    struct cache_entry *e = zl_xmalloc(sizeof(*e) + klen + keep);
    e->hash = h;
    e->klen = klen;
    e->len = keep;
    memcpy(e->key, key, klen);
    e->msg = e->key + klen;
    memcpy(e->msg, r, keep);
    if (sc.opt_off)
        e->msg[11] = (uint8_t)(e->msg[11] - 1); /* the OPT was the last additional record */
    e->stored_ms = uv_now(s->loop);
    e->expires_ms = e->stored_ms + (uint64_t)ttl * 1000;
    e->chain = s->buckets[h % CACHE_BUCKETS];
    s->buckets[h % CACHE_BUCKETS] = e;
    e->older = s->newest;
    e->newer = NULL;
    if (s->newest)
        s->newest->newer = e;
    else
        s->oldest = e;
    s->newest = e;
    s->ncache++;
    s->cache_bytes += klen + keep;
}

/* A reply to query m from the cache: its ID, its question as written, its RD bit, the TTLs
 * aged; NULL when nothing fresh is kept. */
static uint8_t *cache_get(struct zl_dns_server *s, const uint8_t *m, const struct zl_dns__query *q,
                          const uint8_t *key, size_t klen, size_t *len)
{
    uint32_t h = key_hash(key, klen);
    struct cache_entry *e = cache_find(s, key, klen, h);
    if (!e)
        return NULL;
    uint64_t now = uv_now(s->loop);
    if (now >= e->expires_ms) {
        cache_unlink(s, e);
        return NULL;
    }
    struct zl_dns__scan sc;
    if (zl_dns__scan_response(e->msg, e->len, &sc) < 0 ||
        sc.question_end != ZL_DNS__HEADER + q->qname_len + 4)
        return NULL;
    uint32_t age = (uint32_t)((now - e->stored_ms) / 1000);
    uint8_t *r = zl_xmalloc(e->len + 11);
    memcpy(r, e->msg, e->len);
    for (size_t i = 0; i < sc.nttl; i++) {
        uint8_t *t = r + sc.ttl_off[i];
        uint32_t ttl = (uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3];
        ttl = ttl > age ? ttl - age : 0;
        t[0] = (uint8_t)(ttl >> 24);
        t[1] = (uint8_t)(ttl >> 16);
        t[2] = (uint8_t)(ttl >> 8);
        t[3] = (uint8_t)ttl;
    }
    r[0] = (uint8_t)(q->id >> 8);
    r[1] = (uint8_t)q->id;
    r[2] = (uint8_t)((r[2] & ~0x01) | ((q->flags >> 8) & 0x01)); /* RD */
    memcpy(r + ZL_DNS__HEADER, m + ZL_DNS__HEADER, q->qname_len);
    size_t n = e->len;
    if (q->edns) {
        static const uint8_t opt[11] = {0, 0, ZL_DNS__T_OPT, ZL_DNS__OUR_EDNS >> 8,
                                        ZL_DNS__OUR_EDNS & 0xFF};
        memcpy(r + n, opt, sizeof(opt));
        n += sizeof(opt);
        uint16_t ar = (uint16_t)(r[10] << 8 | r[11]) + 1;
        r[10] = (uint8_t)(ar >> 8);
        r[11] = (uint8_t)ar;
    }
    *len = n;
    return r;
}

static void cache_clear(struct zl_dns_server *s)
{
    while (s->oldest)
        cache_unlink(s, s->oldest);
}

/* ---------------- c-ares on the loop ---------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct zl_dns_server *s = h->data;
    s->open--;
    maybe_free(s);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct ares_poll *p = (struct ares_poll *)h;
    struct zl_dns_server *s = p->s;
    free(p);
    s->open--;
    maybe_free(s);
}

static void on_ares_timer(uv_timer_t *t);

static void arm_ares_timer(struct zl_dns_server *s)
{
    struct timeval tv;
    if (!s->have_channel || s->stopping)
        return;
    if (!ares_timeout(s->channel, NULL, &tv)) {
        uv_timer_stop(&s->ares_timer);
        return;
    }
    uint64_t ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)(tv.tv_usec + 999) / 1000;
    uv_timer_start(&s->ares_timer, on_ares_timer, ms, 0);
}

static void on_ares_timer(uv_timer_t *t)
{
    struct zl_dns_server *s = t->data;
    ares_process_fd(s->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    arm_ares_timer(s);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct ares_poll *p = (struct ares_poll *)h;
    struct zl_dns_server *s = p->s;
    ares_socket_t fd = p->fd;
    /* an error on the socket: let c-ares read it and find out */
    bool rd = status < 0 || (events & UV_READABLE), wr = status >= 0 && (events & UV_WRITABLE);
    ares_process_fd(s->channel, rd ? fd : ARES_SOCKET_BAD, wr ? fd : ARES_SOCKET_BAD);
    arm_ares_timer(s);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct zl_dns_server *s = data;
    struct ares_poll **pp = &s->polls, *p;
    while ((p = *pp) && p->fd != fd)
        pp = &p->next;
    if (!readable && !writable) {
        if (p) {
            *pp = p->next;
            uv_poll_stop(&p->h);
            uv_close((uv_handle_t *)&p->h, on_poll_closed);
        }
        return;
    }
    if (!p) {
        p = zl_xcalloc(1, sizeof(*p));
        if (uv_poll_init_socket(s->loop, &p->h, fd) < 0) {
            free(p);
            return; /* c-ares times the query out */
        }
        p->fd = fd;
        p->s = s;
        p->next = s->polls;
        s->polls = p;
        s->open++;
    }
    uv_poll_start(&p->h, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

static void on_upstream(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct forward *f = arg;
    struct zl_dns_server *s = f->s;
    struct tcp_conn *c = f->conn;
    s->inflight--;
    if (c)
        c->pending--;
    if (status == ARES_EDESTRUCTION || s->stopping || (c && c->closing)) {
        if (c && c->closing && !c->open && !c->pending)
            free(c);
        free(f);
        return;
    }
    uint8_t *r;
    size_t rlen;
    if (abuf && alen >= ZL_DNS__HEADER) {
        rlen = (size_t)alen;
        r = zl_xmalloc(rlen + 11);
        memcpy(r, abuf, rlen);
        r[0] = (uint8_t)(f->q.id >> 8);
        r[1] = (uint8_t)f->q.id;
        cache_put(s, f->key, f->klen, abuf, rlen);
    } else {
        r = servfail(&f->q, f->qsec, f->qsec_len, &rlen);
    }
    reply(s, c, (const struct sockaddr *)&f->addr, &f->q, r, rlen);
    if (c)
        conn_flow(c);
    free(f);
}

/* Not ours: from the cache, else upstream. */
static void forward(struct zl_dns_server *s, struct tcp_conn *c, const struct sockaddr *addr,
                    const uint8_t *m, size_t len)
{
    struct forward *f = zl_xmalloc(sizeof(*f));
    if (zl_dns__parse_query(m, len, &f->q) != ZL_DNS__Q_OK) {
        free(f);
        return;
    }
    f->klen = cache_key(m, &f->q, f->key);
    size_t rlen;
    uint8_t *r = cache_get(s, m, &f->q, f->key, f->klen, &rlen);
    if (!r && (s->inflight >= MAX_INFLIGHT || len > ZL_DNS__MAX_MSG))
        r = servfail(&f->q, m + ZL_DNS__HEADER, f->q.qname_len + 4, &rlen);
    if (r) {
        reply(s, c, addr, &f->q, r, rlen);
        free(f);
        return;
    }
    f->s = s;
    f->conn = c;
    if (addr)
        memcpy(&f->addr, addr, sizeof(struct sockaddr_in));
    f->qsec_len = f->q.qname_len + 4;
    memcpy(f->qsec, m + ZL_DNS__HEADER, f->qsec_len);
    s->inflight++;
    if (c)
        c->pending++;
    ares_send(s->channel, m, (int)len, on_upstream, f);
    arm_ares_timer(s);
}

static void handle_query(struct zl_dns_server *s, struct tcp_conn *c, const struct sockaddr *addr,
                         uint32_t ip, const uint8_t *m, size_t len)
{
    uint8_t *r;
    size_t rlen;
    switch (zl_dns_answer(s->zone, ip, m, len, &r, &rlen)) {
    case ZL_DNS_ANSWER: {
        struct zl_dns__query q = {0};
        if (!c && rlen > ZL_DNS__UDP_MIN)
            zl_dns__parse_query(m, len, &q);
        reply(s, c, addr, &q, r, rlen);
        return;
    }
    case ZL_DNS_FORWARD:
        forward(s, c, addr, m, len);
        return;
    case ZL_DNS_DROP:
        return;
    }
}

/* ---------------- UDP ---------------- */

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct zl_dns_server *s = h->data;
    *buf = uv_buf_init((char *)s->udp_buf, sizeof(s->udp_buf));
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
    struct zl_dns_server *s = h->data;
    if (nread <= 0 || !addr || (flags & UV_UDP_PARTIAL) || addr->sa_family != AF_INET)
        return;
    uint32_t ip = ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr);
    handle_query(s, NULL, addr, ip, (const uint8_t *)buf->base, (size_t)nread);
}

/* ---------------- TCP ---------------- */

static void on_conn_closed(uv_handle_t *h)
{
    struct tcp_conn *c = h->data;
    struct zl_dns_server *s = c->s;
    if (--c->open == 0 && !c->pending)
        free(c);
    s->open--;
    maybe_free(s);
}

static void conn_close(struct tcp_conn *c)
{
    if (c->closing)
        return;
    struct zl_dns_server *s = c->s;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    free(c->buf);
    c->buf = NULL;
    uv_close((uv_handle_t *)&c->h, on_conn_closed);
    uv_close((uv_handle_t *)&c->idle, on_conn_closed);
}

static void on_idle(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct tcp_conn *c = h->data;
    size_t want = c->len + 4096;
    if (want > 2 + ZL_DNS__MAX_MSG)
        want = 2 + ZL_DNS__MAX_MSG;
    if (c->cap < want) {
        c->buf = zl_xrealloc(c->buf, want);
        c->cap = want;
    }
    *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

/* Answer every whole message buffered, as long as the client keeps up. */
static void conn_process(struct tcp_conn *c)
{
    if (c->processing)
        return; /* a forward that failed at once answers from inside handle_query */
    c->processing = true;
    size_t off = 0;
    struct sockaddr_in none = {0};
    while (!c->closing && c->len - off >= 2 && c->pending < CONN_PENDING &&
           c->h.write_queue_size < CONN_WRITE_MAX) {
        size_t n = (size_t)c->buf[off] << 8 | c->buf[off + 1];
        if (n == 0) {
            conn_close(c);
            break;
        }
        if (c->len - off - 2 < n)
            break;
        handle_query(c->s, c, (const struct sockaddr *)&none, c->ip, c->buf + off + 2, n);
        off += 2 + n;
    }
    c->processing = false;
    if (c->closing || !off)
        return;
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static void on_conn_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct tcp_conn *c = h->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    uv_timer_again(&c->idle);
    conn_process(c);
    conn_flow(c);
}

/* Read while the client keeps up with its answers. */
static void conn_flow(struct tcp_conn *c)
{
    if (c->closing)
        return;
    bool room = c->pending < CONN_PENDING && c->h.write_queue_size < CONN_WRITE_MAX;
    if (room && !c->reading) {
        conn_process(c);
        if (c->closing)
            return;
        if (uv_read_start((uv_stream_t *)&c->h, on_conn_alloc, on_conn_read) < 0) {
            conn_close(c);
            return;
        }
        c->reading = true;
    } else if (!room && c->reading) {
        uv_read_stop((uv_stream_t *)&c->h);
        c->reading = false;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct zl_dns_server *s = server->data;
    if (status < 0 || s->stopping)
        return;
    struct tcp_conn *c = zl_xcalloc(1, sizeof(*c));
    c->s = s;
    uv_tcp_init(s->loop, &c->h);
    c->h.data = c;
    uv_timer_init(s->loop, &c->idle);
    c->idle.data = c;
    c->open = 2;
    s->open += 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->h) < 0 || s->nconns > MAX_CONNS) {
        conn_close(c);
        return;
    }
    struct sockaddr_storage peer;
    int plen = sizeof(peer);
    if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&peer, &plen) == 0 &&
        peer.ss_family == AF_INET)
        c->ip = ntohl(((struct sockaddr_in *)&peer)->sin_addr.s_addr);
    uv_timer_start(&c->idle, on_idle, IDLE_MS, IDLE_MS);
    conn_flow(c);
}

/* ---------------- start and stop ---------------- */

/* The nameservers of a resolv.conf as "ip:port,...", leaving out self. */
static int upstreams_from(const char *path, const char *self_ip, uint16_t self_port, char **out,
                          struct zl_err *err)
{
    char *text = NULL;
    size_t len;
    if (zl_read_file(path, 1 << 20, &text, &len, err) < 0)
        return zl_err_wrap(err, "upstream nameservers");
    struct zl_buf csv;
    zl_buf_init(&csv);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char word[16], addr[64];
        if (sscanf(line, " %15s %63s", word, addr) != 2 || strcmp(word, "nameserver") != 0)
            continue;
        unsigned char bin[16];
        bool v6 = inet_pton(AF_INET6, addr, bin) == 1;
        if (!v6 && inet_pton(AF_INET, addr, bin) != 1)
            continue; /* a scoped IPv6 address, or junk */
        if (!v6 && self_port == 53 && strcmp(addr, self_ip) == 0)
            continue;
        zl_buf_printf(&csv, v6 ? "%s[%s]:53" : "%s%s:53", csv.len ? "," : "", addr);
    }
    free(text);
    if (!csv.len) {
        zl_buf_fini(&csv);
        return zl_err_set(err, ZL_ENOTFOUND, "no usable nameserver in %s", path);
    }
    *out = zl_buf_steal(&csv, NULL);
    return 0;
}

static int start_ares(struct zl_dns_server *s, const char *upstreams, const char *resolv_conf,
                      const char *bind_ip, uint16_t port, struct zl_err *err)
{
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS)
        return zl_err_set(err, ZL_EINVAL, "c-ares: %s", ares_strerror(rc));
    struct ares_options o = {0};
    o.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH;
    o.timeout = UPSTREAM_MS;
    o.tries = UPSTREAM_TRIES;
    o.sock_state_cb = on_sock_state;
    o.sock_state_cb_data = s;
    rc = ares_init_options(&s->channel, &o,
                           ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                               ARES_OPT_SOCK_STATE_CB);
    if (rc != ARES_SUCCESS) {
        ares_library_cleanup();
        return zl_err_set(err, ZL_EINVAL, "c-ares: %s", ares_strerror(rc));
    }
    s->have_channel = true;
    char *csv = NULL;
    if (!upstreams) {
        if (upstreams_from(resolv_conf ? resolv_conf : "/etc/resolv.conf", bind_ip, port, &csv,
                           err) < 0)
            return err->code;
        upstreams = csv;
    }
    rc = ares_set_servers_ports_csv(s->channel, upstreams);
    if (rc != ARES_SUCCESS) {
        zl_err_set(err, ZL_EINVAL, "upstream nameservers \"%s\": %s", upstreams, ares_strerror(rc));
        free(csv);
        return err->code;
    }
    free(csv);
    return 0;
}

int zl_dns_server_start(uv_loop_t *loop, const char *bind_ip, uint16_t port, struct zl_dns_zone *z,
                        const char *upstreams, const char *resolv_conf, struct zl_dns_server **out,
                        struct zl_err *err)
{
    struct sockaddr_in sa;
    if (uv_ip4_addr(bind_ip, port, &sa) < 0)
        return zl_err_set(err, ZL_EINVAL, "dns: bad address %s", bind_ip);
    struct zl_dns_server *s = zl_xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->zone = z;
    if (start_ares(s, upstreams, resolv_conf, bind_ip, port, err) < 0) {
        if (s->have_channel) {
            ares_destroy(s->channel);
            ares_library_cleanup();
        }
        free(s);
        return zl_err_wrap(err, "dns");
    }
    uv_timer_init(loop, &s->ares_timer);
    s->ares_timer.data = s;
    uv_udp_init(loop, &s->udp);
    s->udp.data = s;
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    s->open = 3;
    const char *what = "bind udp";
    int rc = uv_udp_bind(&s->udp, (const struct sockaddr *)&sa, 0);
    if (!rc)
        rc = uv_udp_recv_start(&s->udp, on_udp_alloc, on_udp_recv);
    if (!rc) {
        what = "bind tcp";
        rc = uv_tcp_bind(&s->tcp, (const struct sockaddr *)&sa, 0);
    }
    if (!rc) {
        what = "listen tcp";
        rc = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection);
    }
    if (rc < 0) {
        zl_err_set(err, ZL_EINVAL, "dns: %s %s:%u: %s", what, bind_ip, port, uv_strerror(rc));
        zl_dns_server_stop(s); /* frees itself once the loop has closed its handles */
        return err->code;
    }
    *out = s;
    return 0;
}

static void maybe_free(struct zl_dns_server *s)
{
    if (!s->stopping || s->open)
        return;
    cache_clear(s);
    free(s);
    ares_library_cleanup();
}

void zl_dns_server_stop(struct zl_dns_server *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = true;
    /* fails every query in flight (their callbacks see stopping) and closes its sockets */
    ares_destroy(s->channel);
    s->have_channel = false;
    while (s->polls) {
        struct ares_poll *p = s->polls;
        s->polls = p->next;
        uv_poll_stop(&p->h);
        uv_close((uv_handle_t *)&p->h, on_poll_closed);
    }
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->ares_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->udp, on_handle_closed);
    uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
}
