/* SPDX-License-Identifier: Apache-2.0 */
/* tests/helpers/httpecho.inc.c: `testinit httpecho PORT`, an HTTP/1.1 origin for the reverse
 * proxy tests. Included by testinit.c (the test image builds testinit from one file).
 *
 * One forked child per connection, keep-alive and pipelining, bounded heads (431 past
 * 64 KiB), Content-Length or chunked request bodies streamed (never held), and routes that
 * show what the proxy did to a request:
 *   /headers*        the request head as received
 *   POST|PUT /upload "<nbytes> <sum of bytes mod 2^32>\n"
 *   /big?n=N         N 'x' with Content-Length; /chunked?n=N the same, chunked
 *   /close           "bye\n" framed by the close
 *   /slow?ms=M       the default answer after M ms
 *   /status?code=C   status C, body "C\n"
 *   GET /ws          a WebSocket echo (text frames prefixed "HOSTNAME: ")
 *   anything else    "<hostname> <METHOD> <target> conn=<C> req=<R>\n"
 * C counts the connections the server accepted, R the requests on this connection. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>

#define HE_HEAD_MAX   (64 * 1024) /* a request head, with its blank line */
#define HE_IO         (64 * 1024) /* pieces of streamed bodies */
#define HE_TIMEOUT_S  120         /* idle and I/O timeout on a connection */
#define HE_MAX_CONNS  10000000L   /* bounds for the loops: far above any test */
#define HE_MAX_REQS   1000000L
#define HE_MAX_CHUNKS 100000000L
#define HE_MAX_FRAMES 1000000L
#define HE_MAX_SLOWMS 600000ULL
#define HE_WS_GUID    "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* One connection, in its child: input buffer and scratch, all bounded. */
struct he_conn {
    int fd;
    const char *host;
    unsigned long conn_no, nreq;
    size_t off, len;            /* unread input is in[off, len) */
    char in[HE_HEAD_MAX];       /* a head must fit whole */
    char head[HE_HEAD_MAX + 1]; /* the current request head, NUL-terminated */
    char out[HE_HEAD_MAX + 256];
    char xs[HE_IO]; /* 'x' filler for /big and /chunked */
};

struct he_span {
    const char *p;
    size_t n;
};

/* One parsed request head; spans point into he_conn.head. */
struct he_req {
    struct he_span method, target, path, query, wskey;
    size_t headlen;
    int minor;       /* HTTP/1.minor */
    long long clen;  /* -1: no Content-Length */
    bool chunked;    /* Transfer-Encoding ends in chunked */
    bool te;         /* any Transfer-Encoding */
    bool expect;     /* Expect: 100-continue */
    bool keep;       /* keep the connection after the response */
    bool conn_close; /* Connection tokens */
    bool conn_keepalive;
    bool conn_upgrade;
    bool upgrade_ws; /* Upgrade: websocket */
    bool is_head;    /* HEAD: no body in the response */
};

/* --- I/O --- */

/* Sends all n bytes; more: more of the response follows (corks small pieces). */
static int he_send(struct he_conn *c, const void *p, size_t n, bool more)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more input after the unread part (moved to the front): bytes read, 0 at EOF or when
 * full, -1 on error or timeout. */
static ssize_t he_fill(struct he_conn *c)
{
    if (c->off > 0) {
        memmove(c->in, c->in + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == sizeof(c->in))
        return 0;
    for (int i = 0; i < 100; i++) {
        ssize_t r = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0)
            c->len += (size_t)r;
        return r;
    }
    return -1;
}

/* Takes up to want bytes of input (buffered first) at *p: the count, 0 at EOF, -1 on error. */
static ssize_t he_take(struct he_conn *c, unsigned long long want, char **p)
{
    if (c->off == c->len) {
        c->off = c->len = 0;
        ssize_t r = he_fill(c);
        if (r <= 0)
            return r;
    }
    size_t n = c->len - c->off;
    if (want < n)
        n = (size_t)want;
    *p = c->in + c->off;
    c->off += n;
    return (ssize_t)n;
}

/* Reads exactly n bytes into dst. */
static int he_read_exact(struct he_conn *c, void *dst, size_t n)
{
    char *d = dst, *p;
    while (n > 0) {
        ssize_t r = he_take(c, n, &p);
        if (r <= 0)
            return -1;
        memcpy(d, p, (size_t)r);
        d += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Takes one line of input, without its LF or CRLF: 0, or -1 (EOF, error, longer than the
 * buffer). */
static int he_line(struct he_conn *c, struct he_span *line)
{
    for (int i = 0; i < HE_HEAD_MAX; i++) {
        char *s = c->in + c->off, *lf = memchr(s, '\n', c->len - c->off);
        if (lf) {
            line->p = s;
            line->n = (size_t)(lf - s) - (lf > s && lf[-1] == '\r');
            c->off += (size_t)(lf - s) + 1;
            return 0;
        }
        if (he_fill(c) <= 0)
            return -1;
    }
    return -1;
}

/* Length of the head at p (through its blank line), or 0 if it is not all there. */
static size_t he_head_end(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\n')
            continue;
        if (p[i + 1] == '\n')
            return i + 2;
        if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Reads the next request head into c->head: its length, 0 at EOF or on error, -1 if it is
 * longer than HE_HEAD_MAX. Blank lines before it are skipped (RFC 9112 2.2). */
static long he_read_head(struct he_conn *c)
{
    for (int i = 0; i < HE_HEAD_MAX + 2; i++) {
        while (c->off < c->len && (c->in[c->off] == '\r' || c->in[c->off] == '\n'))
            c->off++;
        size_t n = he_head_end(c->in + c->off, c->len - c->off);
        if (n > 0) {
            memcpy(c->head, c->in + c->off, n);
            c->head[n] = '\0';
            c->off += n;
            return (long)n;
        }
        if (c->len - c->off == sizeof(c->in))
            return -1;
        if (he_fill(c) <= 0)
            return 0;
    }
    return 0;
}

/* --- parsing --- */

static bool he_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool he_ieq(struct he_span s, const char *lit)
{
    return s.n == strlen(lit) && !strncasecmp(s.p, lit, s.n);
}

static struct he_span he_trim(struct he_span s)
{
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t'))
        s.p++, s.n--;
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

/* Whether the comma-separated list v has the token lit (case-insensitive); *last: its last
 * token. */
static bool he_has_token(struct he_span v, const char *lit, struct he_span *last)
{
    bool found = false;
    while (v.n > 0) {
        const char *comma = memchr(v.p, ',', v.n);
        size_t n = comma ? (size_t)(comma - v.p) : v.n;
        struct he_span t = he_trim((struct he_span){v.p, n});
        if (t.n > 0 && last)
            *last = t;
        found = found || he_ieq(t, lit);
        v.p += comma ? n + 1 : n;
        v.n -= comma ? n + 1 : n;
    }
    return found;
}

/* Decimal digits only, at most 18 of them (no overflow): 0, or -1. */
static int he_dec(struct he_span s, unsigned long long *out)
{
    if (s.n == 0 || s.n > 18)
        return -1;
    *out = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        *out = *out * 10 + (unsigned long long)(s.p[i] - '0');
    }
    return 0;
}

/* "METHOD SP target SP HTTP/1.x" */
static int he_parse_request_line(struct he_req *r, struct he_span l)
{
    const char *sp1 = memchr(l.p, ' ', l.n);
    if (!sp1 || sp1 == l.p)
        return -1;
    r->method = (struct he_span){l.p, (size_t)(sp1 - l.p)};
    for (size_t i = 0; i < r->method.n; i++)
        if (!he_tchar((unsigned char)r->method.p[i]))
            return -1;
    const char *t = sp1 + 1, *end = l.p + l.n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t || end - sp2 != 9 || strncmp(sp2 + 1, "HTTP/1.", 7))
        return -1;
    if (sp2[8] != '0' && sp2[8] != '1')
        return -1;
    r->minor = sp2[8] - '0';
    r->target = (struct he_span){t, (size_t)(sp2 - t)};
    for (size_t i = 0; i < r->target.n; i++)
        if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f)
            return -1;
    const char *q = memchr(t, '?', r->target.n);
    r->path = (struct he_span){t, q ? (size_t)(q - t) : r->target.n};
    r->query = q ? (struct he_span){q + 1, (size_t)(sp2 - q - 1)} : (struct he_span){sp2, 0};
    r->is_head = he_ieq(r->method, "HEAD");
    return 0;
}

/* One "name: value" header line: remembers what framing and routing need. */
static int he_parse_header(struct he_req *r, struct he_span l)
{
    const char *colon = memchr(l.p, ':', l.n);
    if (!colon || colon == l.p)
        return -1;
    struct he_span name = {l.p, (size_t)(colon - l.p)};
    for (size_t i = 0; i < name.n; i++)
        if (!he_tchar((unsigned char)name.p[i]))
            return -1; /* also whitespace before the colon, and folded lines */
    struct he_span v = he_trim((struct he_span){colon + 1, (size_t)(l.p + l.n - colon - 1)});
    if (he_ieq(name, "Content-Length")) {
        unsigned long long n;
        if (he_dec(v, &n) < 0 || (r->clen >= 0 && (unsigned long long)r->clen != n))
            return -1;
        r->clen = (long long)n;
    } else if (he_ieq(name, "Transfer-Encoding")) {
        struct he_span last = {0};
        he_has_token(v, "chunked", &last);
        r->te = true;
        r->chunked = he_ieq(last, "chunked");
    } else if (he_ieq(name, "Connection")) {
        r->conn_close |= he_has_token(v, "close", NULL);
        r->conn_keepalive |= he_has_token(v, "keep-alive", NULL);
        r->conn_upgrade |= he_has_token(v, "upgrade", NULL);
    } else if (he_ieq(name, "Expect")) {
        r->expect = he_ieq(v, "100-continue");
    } else if (he_ieq(name, "Upgrade")) {
        r->upgrade_ws |= he_has_token(v, "websocket", NULL);
    } else if (he_ieq(name, "Sec-WebSocket-Key")) {
        r->wskey = v;
    }
    return 0;
}

/* Parses c->head (headlen bytes) into r: 0, or -1 if malformed. */
static int he_parse(const struct he_conn *c, size_t headlen, struct he_req *r)
{
    *r = (struct he_req){.headlen = headlen, .clen = -1};
    const char *p = c->head, *end = c->head + headlen;
    if (memchr(p, '\0', headlen))
        return -1;
    for (int i = 0; p < end && i < HE_HEAD_MAX; i++) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        struct he_span l = {p, (size_t)(lf - p) - (lf > p && lf[-1] == '\r')};
        if (memchr(l.p, '\r', l.n))
            return -1; /* a bare CR */
        p = lf + 1;
        if (l.n == 0)
            break;
        if (i == 0 ? he_parse_request_line(r, l) : he_parse_header(r, l))
            return -1;
    }
    if (r->te && (!r->chunked || r->clen >= 0))
        return -1; /* no framing, or two (RFC 9112 6.1, 6.3) */
    r->expect = r->expect && r->minor == 1;
    r->keep = r->minor == 1 ? !r->conn_close : r->conn_keepalive && !r->conn_close;
    return 0;
}

/* The number after "key=" in the query: 0 (absent: def), or -1 if not a number. */
static int he_query_num(struct he_span q, const char *key, unsigned long long def,
                        unsigned long long *out)
{
    size_t kl = strlen(key);
    *out = def;
    for (size_t i = 0; i < q.n; i++) {
        if ((i == 0 || q.p[i - 1] == '&') && q.n - i > kl && !strncmp(q.p + i, key, kl) &&
            q.p[i + kl] == '=') {
            const char *v = q.p + i + kl + 1, *amp = memchr(v, '&', (size_t)(q.p + q.n - v));
            return he_dec((struct he_span){v, amp ? (size_t)(amp - v) : (size_t)(q.p + q.n - v)},
                          out);
        }
    }
    return 0;
}

/* --- responses --- */

static const char *he_reason(int code)
{
    static const struct {
        int code;
        const char *text;
    } t[] = {{101, "Switching Protocols"},
             {200, "OK"},
             {201, "Created"},
             {204, "No Content"},
             {301, "Moved Permanently"},
             {302, "Found"},
             {304, "Not Modified"},
             {400, "Bad Request"},
             {401, "Unauthorized"},
             {403, "Forbidden"},
             {404, "Not Found"},
             {405, "Method Not Allowed"},
             {408, "Request Timeout"},
             {413, "Content Too Large"},
             {429, "Too Many Requests"},
             {431, "Request Header Fields Too Large"},
             {500, "Internal Server Error"},
             {502, "Bad Gateway"},
             {503, "Service Unavailable"},
             {504, "Gateway Timeout"}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].code == code)
            return t[i].text;
    return "Status";
}

/* Sends the status line and headers: clen < 0 for no Content-Length, extra: more header
 * lines (each ending in CRLF), more: a body follows. */
static int he_status(struct he_conn *c, const struct he_req *r, int code, long long clen,
                     const char *extra, bool more)
{
    char h[512], cl[48] = "";
    if (clen >= 0)
        snprintf(cl, sizeof(cl), "Content-Length: %lld\r\n", clen);
    const char *conn = !r->keep        ? "Connection: close\r\n"
                       : r->minor == 0 ? "Connection: keep-alive\r\n"
                                       : "";
    const char *type = code == 101 ? "" : "Content-Type: text/plain\r\n";
    int n = snprintf(h, sizeof(h), "HTTP/1.1 %d %s\r\nServer: testinit\r\n%s%s%s%s\r\n", code,
                     he_reason(code), type, cl, extra ? extra : "", conn);
    if (n < 0 || (size_t)n >= sizeof(h))
        return -1;
    return he_send(c, h, (size_t)n, more && !r->is_head);
}

/* A whole response with a body of n bytes (none on HEAD). */
static int he_reply(struct he_conn *c, const struct he_req *r, int code, const char *body, size_t n)
{
    if (he_status(c, r, code, (long long)n, NULL, n > 0) < 0)
        return -1;
    return r->is_head || n == 0 ? 0 : he_send(c, body, n, false);
}

/* An error answer, and the connection closes after it. */
static int he_error(struct he_conn *c, struct he_req *r, int code)
{
    struct he_req fallback = {.minor = 1};
    r = r ? r : &fallback;
    r->keep = false;
    char body[64];
    int n = snprintf(body, sizeof(body), "%d %s\n", code, he_reason(code));
    he_reply(c, r, code, body, (size_t)n);
    return -1;
}

/* Sends n 'x' bytes in pieces of HE_IO; more: more of the response follows. */
static int he_send_x(struct he_conn *c, unsigned long long n, bool more)
{
    while (n > 0) {
        size_t k = n < sizeof(c->xs) ? (size_t)n : sizeof(c->xs);
        n -= k;
        if (he_send(c, c->xs, k, more || n > 0) < 0)
            return -1;
    }
    return 0;
}

/* --- request bodies --- */

/* Consumes n bytes of body, counting and summing them. */
static int he_sum_body(struct he_conn *c, unsigned long long n, unsigned long long *count,
                       uint32_t *sum)
{
    while (n > 0) {
        char *p;
        ssize_t r = he_take(c, n, &p);
        if (r <= 0)
            return -1;
        for (ssize_t i = 0; i < r; i++)
            *sum += (unsigned char)p[i];
        *count += (unsigned long long)r;
        n -= (unsigned long long)r;
    }
    return 0;
}

/* A chunk-size line: hex digits (at most 15), then optional BWS and extensions. */
static int he_chunk_size(struct he_span l, unsigned long long *out)
{
    size_t i = 0;
    *out = 0;
    for (; i < l.n && i < 16 && isxdigit((unsigned char)l.p[i]); i++) {
        char ch = l.p[i];
        unsigned d = ch <= '9' ? (unsigned)(ch - '0') : (unsigned)((ch | 0x20) - 'a' + 10);
        *out = *out << 4 | d;
    }
    if (i == 0 || i > 15)
        return -1;
    while (i < l.n && (l.p[i] == ' ' || l.p[i] == '\t'))
        i++;
    return i == l.n || l.p[i] == ';' ? 0 : -1;
}

/* A chunked body (RFC 9112 7.1): chunks, the last chunk, trailers (skipped). */
static int he_chunked(struct he_conn *c, unsigned long long *count, uint32_t *sum)
{
    struct he_span l;
    unsigned long long n = 1;
    for (long i = 0; i < HE_MAX_CHUNKS; i++) {
        if (he_line(c, &l) < 0 || he_chunk_size(l, &n) < 0)
            return -1;
        if (n == 0)
            break;
        if (he_sum_body(c, n, count, sum) < 0 || he_line(c, &l) < 0 || l.n != 0)
            return -1;
    }
    if (n != 0)
        return -1;
    for (int i = 0; i < 1024; i++) {
        if (he_line(c, &l) < 0)
            return -1;
        if (l.n == 0)
            return 0;
    }
    return -1;
}

/* Reads the request body if it has one (after a 100 Continue if asked), counting and summing
 * it: 0, or -1 if it is malformed or cut. */
static int he_body(struct he_conn *c, const struct he_req *r, unsigned long long *count,
                   uint32_t *sum)
{
    *count = 0;
    *sum = 0;
    if (!r->chunked && r->clen <= 0)
        return 0;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (r->expect && he_send(c, cont, sizeof(cont) - 1, false) < 0)
        return -1;
    if (r->chunked)
        return he_chunked(c, count, sum);
    return he_sum_body(c, (unsigned long long)r->clen, count, sum);
}

/* --- WebSocket (RFC 6455) --- */

static uint32_t he_rol(uint32_t x, int n)
{
    return x << n | x >> (32 - n);
}

static void he_sha1_block(uint32_t h[5], const unsigned char *b)
{
    uint32_t w[80], v[5];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = he_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    memcpy(v, h, sizeof(v));
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (v[1] & v[2]) | (~v[1] & v[3]), k = 0x5A827999;
        else if (i < 40)
            f = v[1] ^ v[2] ^ v[3], k = 0x6ED9EBA1;
        else if (i < 60)
            f = (v[1] & v[2]) | (v[1] & v[3]) | (v[2] & v[3]), k = 0x8F1BBCDC;
        else
            f = v[1] ^ v[2] ^ v[3], k = 0xCA62C1D6;
        uint32_t t = he_rol(v[0], 5) + f + v[4] + k + w[i];
        v[4] = v[3];
        v[3] = v[2];
        v[2] = he_rol(v[1], 30);
        v[1] = v[0];
        v[0] = t;
    }
    for (int i = 0; i < 5; i++)
        h[i] += v[i];
}

/* SHA-1 (RFC 3174) of n bytes, padding block by block. */
static void he_sha1(const unsigned char *p, size_t n, unsigned char out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    uint64_t bits = (uint64_t)n * 8;
    size_t total = (n + 8) / 64 * 64 + 64;
    unsigned char b[64];
    for (size_t off = 0; off < total; off += 64) {
        for (size_t i = 0; i < 64; i++)
            b[i] = off + i < n ? p[off + i] : off + i == n ? 0x80 : 0;
        if (off + 64 == total)
            for (int i = 0; i < 8; i++)
                b[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
        he_sha1_block(h, b);
    }
    for (int i = 0; i < 20; i++)
        out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Base64 of n bytes into out (4 * ceil(n / 3) + 1 bytes). */
static void he_base64(const unsigned char *p, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *out++ = a[v >> 18 & 63];
        *out++ = a[v >> 12 & 63];
        *out++ = i + 1 < n ? a[v >> 6 & 63] : '=';
        *out++ = i + 2 < n ? a[v & 63] : '=';
    }
    *out = '\0';
}

struct he_frame {
    bool fin;
    int op;
    unsigned long long len;
    unsigned char mask[4];
};

/* Reads a client frame's header: 0, or -1 (EOF, or a frame a client may not send). */
static int he_ws_read_head(struct he_conn *c, struct he_frame *f)
{
    unsigned char b[8];
    if (he_read_exact(c, b, 2) < 0)
        return -1;
    f->fin = b[0] & 0x80;
    f->op = b[0] & 0x0f;
    f->len = b[1] & 0x7f;
    if ((b[0] & 0x70) || !(b[1] & 0x80) || (f->op > 2 && f->op < 8) || f->op > 10)
        return -1; /* RSV bits, unmasked, unknown opcode */
    size_t ext = f->len == 126 ? 2 : f->len == 127 ? 8 : 0;
    if (ext) {
        if (he_read_exact(c, b, ext) < 0)
            return -1;
        f->len = 0;
        for (size_t i = 0; i < ext; i++)
            f->len = f->len << 8 | b[i];
        if (f->len >> 63)
            return -1;
    }
    if (f->op >= 8 && (!f->fin || f->len > 125))
        return -1; /* control frames are short and whole */
    return he_read_exact(c, f->mask, 4);
}

/* Sends a server frame's header (unmasked) for a payload of len bytes; more: if any. */
static int he_ws_send_head(struct he_conn *c, bool fin, int op, unsigned long long len)
{
    unsigned char b[10];
    size_t n = 2;
    b[0] = (unsigned char)((fin ? 0x80 : 0) | op);
    if (len < 126) {
        b[1] = (unsigned char)len;
    } else if (len <= 0xffff) {
        b[1] = 126;
        b[2] = (unsigned char)(len >> 8);
        b[3] = (unsigned char)len;
        n = 4;
    } else {
        b[1] = 127;
        for (int i = 0; i < 8; i++)
            b[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        n = 10;
    }
    return he_send(c, b, n, len > 0);
}

/* Echoes a data frame: same FIN and opcode, the payload streamed and unmasked, a text frame's
 * prefixed with "HOSTNAME: " (a continuation frame's is not). */
static int he_ws_echo(struct he_conn *c, const struct he_frame *f)
{
    char prefix[80];
    int pn = f->op == 1 ? snprintf(prefix, sizeof(prefix), "%s: ", c->host) : 0;
    if (he_ws_send_head(c, f->fin, f->op, f->len + (unsigned long long)pn) < 0 ||
        (pn > 0 && he_send(c, prefix, (size_t)pn, f->len > 0) < 0))
        return -1;
    unsigned long long left = f->len, pos = 0;
    while (left > 0) {
        char *p;
        ssize_t r = he_take(c, left, &p);
        if (r <= 0)
            return -1;
        for (ssize_t i = 0; i < r; i++)
            p[i] ^= (char)f->mask[pos++ & 3];
        left -= (unsigned long long)r;
        if (he_send(c, p, (size_t)r, left > 0) < 0)
            return -1;
    }
    return 0;
}

/* Reads a control frame's payload (<= 125 bytes), unmasked, and answers it with op (or not,
 * op 0). */
static int he_ws_control(struct he_conn *c, const struct he_frame *f, int op)
{
    unsigned char p[125];
    if (he_read_exact(c, p, (size_t)f->len) < 0)
        return -1;
    for (size_t i = 0; i < f->len; i++)
        p[i] ^= f->mask[i & 3];
    if (op == 0)
        return 0;
    if (he_ws_send_head(c, true, op, f->len) < 0)
        return -1;
    return he_send(c, p, (size_t)f->len, false);
}

/* The 101 answer, then the echo until a close frame or the end of the connection. */
static int he_websocket(struct he_conn *c, struct he_req *r)
{
    char key[160], accept[32], extra[128];
    unsigned char sha[20];
    if (r->wskey.n == 0 || r->wskey.n > 100)
        return he_error(c, r, 400);
    int kn = snprintf(key, sizeof(key), "%.*s%s", (int)r->wskey.n, r->wskey.p, HE_WS_GUID);
    he_sha1((const unsigned char *)key, (size_t)kn, sha);
    he_base64(sha, sizeof(sha), accept);
    snprintf(extra, sizeof(extra),
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept);
    r->keep = true; /* no Connection: close on a 101 */
    r->minor = 1;
    if (he_status(c, r, 101, -1, extra, false) < 0)
        return -1;
    for (long i = 0; i < HE_MAX_FRAMES; i++) {
        struct he_frame f;
        if (he_ws_read_head(c, &f) < 0)
            return -1;
        int rc = f.op == 8    ? he_ws_control(c, &f, 8)
                 : f.op == 9  ? he_ws_control(c, &f, 10)
                 : f.op == 10 ? he_ws_control(c, &f, 0)
                              : he_ws_echo(c, &f);
        if (rc < 0 || f.op == 8)
            return -1;
    }
    return -1;
}

/* --- routes --- */

/* The default answer: who answered what, on which connection. */
static int he_default(struct he_conn *c, const struct he_req *r)
{
    int n =
        snprintf(c->out, sizeof(c->out), "%s %.*s %.*s conn=%lu req=%lu\n", c->host,
                 (int)r->method.n, r->method.p, (int)r->target.n, r->target.p, c->conn_no, c->nreq);
    if (n < 0)
        return -1;
    return he_reply(c, r, 200, c->out, (size_t)n < sizeof(c->out) ? (size_t)n : sizeof(c->out));
}

static int he_upload(struct he_conn *c, struct he_req *r)
{
    unsigned long long count;
    uint32_t sum;
    if (he_body(c, r, &count, &sum) < 0)
        return he_error(c, r, 400);
    int n = snprintf(c->out, sizeof(c->out), "%llu %u\n", count, (unsigned)sum);
    return he_reply(c, r, 200, c->out, (size_t)n);
}

static int he_big(struct he_conn *c, struct he_req *r, bool chunked)
{
    unsigned long long n;
    if (he_query_num(r->query, "n", 0, &n) < 0)
        return he_error(c, r, 400);
    if (!chunked) {
        if (he_status(c, r, 200, (long long)n, NULL, n > 0) < 0)
            return -1;
        return r->is_head ? 0 : he_send_x(c, n, false);
    }
    if (he_status(c, r, 200, -1, "Transfer-Encoding: chunked\r\n", true) < 0)
        return -1;
    if (r->is_head)
        return 0;
    while (n > 0) {
        char line[24];
        size_t k = n < HE_IO ? (size_t)n : HE_IO;
        int ln = snprintf(line, sizeof(line), "%zx\r\n", k);
        n -= k;
        if (he_send(c, line, (size_t)ln, true) < 0 || he_send_x(c, k, true) < 0 ||
            he_send(c, "\r\n", 2, true) < 0)
            return -1;
    }
    return he_send(c, "0\r\n\r\n", 5, false);
}

static int he_close_route(struct he_conn *c, struct he_req *r)
{
    r->keep = false;
    if (he_status(c, r, 200, -1, NULL, true) < 0)
        return -1;
    return r->is_head ? 0 : he_send(c, "bye\n", 4, false);
}

static int he_slow(struct he_conn *c, struct he_req *r)
{
    unsigned long long ms;
    if (he_query_num(r->query, "ms", 0, &ms) < 0 || ms > HE_MAX_SLOWMS)
        return he_error(c, r, 400);
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    for (int i = 0; i < 1000 && nanosleep(&ts, &ts) < 0 && errno == EINTR; i++)
        ;
    return he_default(c, r);
}

static int he_status_route(struct he_conn *c, struct he_req *r)
{
    unsigned long long code;
    if (he_query_num(r->query, "code", 200, &code) < 0 || code < 200 || code > 599)
        return he_error(c, r, 400);
    if (code == 204 || code == 304)
        return he_status(c, r, (int)code, -1, NULL, false); /* never a body */
    int n = snprintf(c->out, sizeof(c->out), "%llu\n", code);
    return he_reply(c, r, (int)code, c->out, (size_t)n);
}

static bool he_path_is(const struct he_req *r, const char *path)
{
    return r->path.n == strlen(path) && !memcmp(r->path.p, path, r->path.n);
}

/* Answers one request: 0 to read the next, -1 to close the connection. */
static int he_request(struct he_conn *c, size_t headlen)
{
    struct he_req r;
    if (he_parse(c, headlen, &r) < 0)
        return he_error(c, NULL, 400);
    if (he_path_is(&r, "/upload") && (he_ieq(r.method, "POST") || he_ieq(r.method, "PUT")))
        return he_upload(c, &r) < 0 || !r.keep ? -1 : 0;
    unsigned long long n;
    uint32_t sum;
    if (he_body(c, &r, &n, &sum) < 0) /* read and dropped: the next request follows it */
        return he_error(c, &r, 400);
    int rc;
    if (r.path.n >= 8 && !memcmp(r.path.p, "/headers", 8))
        rc = he_reply(c, &r, 200, c->head, r.headlen);
    else if (he_path_is(&r, "/big") || he_path_is(&r, "/chunked"))
        rc = he_big(c, &r, he_path_is(&r, "/chunked"));
    else if (he_path_is(&r, "/close"))
        rc = he_close_route(c, &r);
    else if (he_path_is(&r, "/slow"))
        rc = he_slow(c, &r);
    else if (he_path_is(&r, "/status"))
        rc = he_status_route(c, &r);
    else if (he_path_is(&r, "/ws") && he_ieq(r.method, "GET") && r.upgrade_ws && r.conn_upgrade)
        rc = he_websocket(c, &r);
    else
        rc = he_default(c, &r);
    return rc < 0 || !r.keep ? -1 : 0;
}

/* --- connections --- */

/* Closes gracefully: our FIN first, then input dropped until the peer's (briefly), so unread
 * input does not turn the close into a reset that could lose the last response. */
static void he_close(struct he_conn *c)
{
    struct timeval tv = {.tv_sec = 1};
    shutdown(c->fd, SHUT_WR);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (int i = 0; i < 64; i++)
        if (recv(c->fd, c->in, sizeof(c->in), 0) <= 0)
            break;
    close(c->fd);
}

/* A child's life: requests on one connection until it closes. */
static int he_serve(int fd, const char *host, unsigned long conn_no)
{
    struct he_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return 1;
    *c = (struct he_conn){.fd = fd, .host = host, .conn_no = conn_no};
    memset(c->xs, 'x', sizeof(c->xs));
    struct timeval tv = {.tv_sec = HE_TIMEOUT_S};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (long i = 0; i < HE_MAX_REQS; i++) {
        long n = he_read_head(c);
        if (n < 0)
            he_error(c, NULL, 431);
        if (n <= 0)
            break;
        c->nreq = (unsigned long)i + 1;
        if (he_request(c, (size_t)n) < 0)
            break;
    }
    he_close(c);
    free(c);
    return 0;
}

static void he_on_term(int sig)
{
    (void)sig;
    _exit(0);
}

static int he_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
        perror("httpecho");
        return -1;
    }
    return fd;
}

/* httpecho PORT: accept, count, fork; children are reaped by the kernel (SA_NOCLDWAIT) and
 * die with the server (PR_SET_PDEATHSIG). */
static int httpecho(int port)
{
    struct sigaction chld = {.sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT};
    sigaction(SIGCHLD, &chld, NULL);
    signal(SIGTERM, he_on_term);
    signal(SIGPIPE, SIG_IGN);
    int lfd = he_listen(port);
    if (lfd < 0)
        return 1;
    char host[65] = "?";
    gethostname(host, sizeof(host) - 1);
    pid_t self = getpid();
    unsigned long conns = 0;
    for (long i = 0; i < HE_MAX_CONNS; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                usleep(10000); /* EMFILE and the like: do not spin */
            continue;
        }
        conns++;
        pid_t p = fork();
        if (p == 0) {
            close(lfd);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != self)
                _exit(0);
            _exit(he_serve(fd, host, conns));
        }
        close(fd);
    }
    return 0;
}
