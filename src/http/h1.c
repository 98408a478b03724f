/* SPDX-License-Identifier: Apache-2.0 */
/* http/h1.c: HTTP/1.1 messages parsed as they stream (http_parser underneath), for the proxy.
 * The head is gathered in one buffer (offsets, so it may grow), checked strictly, then handed
 * over; body bytes go to the caller straight from its read buffer. */
#include "http/http.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS  100
#define MAX_TARGET   8192
#define HDR_OVERHEAD 4 /* ": " and CRLF */

struct span {
    size_t noff, nlen, voff, vlen;
};

struct zl_h1 {
    http_parser p;
    const struct zl_h1_cb *cb;
    void *arg;
    bool response, head_request;
    size_t max_head, head_bytes;
    struct zl_buf raw; /* target or reason, then name NUL value NUL ... */
    size_t first_off, first_len;
    struct span *hs;
    size_t nh;
    bool in_value;                              /* the last header callback was a value */
    bool fold;                                  /* a value went on over a line break (obs-fold) */
    bool stop;                                  /* paused at a head or an end */
    bool started;                               /* a message has begun */
    int result;                                 /* what stopped us: ZL_H1_HEAD or ZL_H1_END */
    int status;                                 /* error, sticky */
    const char *buf_start, *buf_end, *last_end; /* where the previous value piece ended */
    bool last_at_end;                           /* ... at the end of its buffer */
    struct zl_h1_hdr *hv;
    struct zl_h1_head head;
};

static struct zl_h1 *of(http_parser *p)
{
    return p->data;
}

static int fail(struct zl_h1 *m, int status)
{
    if (!m->status)
        m->status = m->response ? 502 : status;
    return -1;
}

static int count(struct zl_h1 *m, size_t n)
{
    m->head_bytes += n;
    return m->head_bytes > m->max_head ? fail(m, 431) : 0;
}

static int on_begin(http_parser *p)
{
    struct zl_h1 *m = of(p);
    m->started = true;
    m->raw.len = 0;
    m->nh = 0;
    m->in_value = m->fold = false;
    m->head_bytes = 0;
    m->first_off = m->first_len = 0;
    return 0;
}

static int on_first(http_parser *p, const char *at, size_t n)
{
    struct zl_h1 *m = of(p);
    if (!m->response && m->first_len + n > MAX_TARGET)
        return fail(m, 414);
    if (count(m, n) < 0)
        return -1;
    zl_buf_append(&m->raw, at, n);
    m->first_len += n;
    return 0;
}

static void end_value(struct zl_h1 *m)
{
    if (m->in_value) {
        zl_buf_putc(&m->raw, '\0');
        m->in_value = false;
    }
}

static int on_field(http_parser *p, const char *at, size_t n)
{
    struct zl_h1 *m = of(p);
    if (m->nh == 0 && m->raw.len == m->first_len)
        zl_buf_putc(&m->raw, '\0'); /* ends the target or reason */
    if (m->in_value || m->nh == 0) {
        end_value(m);
        if (m->nh == MAX_HEADERS)
            return fail(m, 431);
        m->hs[m->nh++] = (struct span){.noff = m->raw.len};
        if (count(m, HDR_OVERHEAD) < 0)
            return -1;
    }
    if (count(m, n) < 0)
        return -1;
    zl_buf_append(&m->raw, at, n);
    m->hs[m->nh - 1].nlen += n;
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
    struct zl_h1 *m = of(p);
    struct span *s = &m->hs[m->nh - 1];
    if (!m->in_value) {
        zl_buf_putc(&m->raw, '\0'); /* ends the name */
        s->voff = m->raw.len;
        m->in_value = true;
    } else if (at != m->last_end && !(m->last_at_end && at == m->buf_start)) {
        m->fold = true; /* a second piece of one value that does not follow the first */
    }
    m->last_end = at + n;
    m->last_at_end = at + n == m->buf_end;
    if (count(m, n) < 0)
        return -1;
    zl_buf_append(&m->raw, at, n);
    s->vlen += n;
    return 0;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool zl_h1_has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (v && *v) {
        v += strspn(v, " \t,");
        size_t n = strcspn(v, ",");
        size_t k = n;
        while (k && (v[k - 1] == ' ' || v[k - 1] == '\t'))
            k--;
        if (k == tl && !strncasecmp(v, token, tl))
            return true;
        v += n;
    }
    return false;
}

const char *zl_h1_get(const struct zl_h1_head *h, const char *name)
{
    for (size_t i = 0; i < h->nh; i++)
        if (!strcasecmp(h->h[i].name, name))
            return h->h[i].value;
    return NULL;
}

/* Build the head and refuse what a smuggler would send. */
static int check(struct zl_h1 *m)
{
    http_parser *p = &m->p;
    if (m->fold)
        return 400;
    if (p->http_major != 1)
        return 505;
    unsigned hosts = 0, tes = 0;
    const char *te = NULL, *host = NULL, *conn = NULL;
    for (size_t i = 0; i < m->nh; i++) {
        struct span *s = &m->hs[i];
        char *name = m->raw.data + s->noff, *v = s->voff ? m->raw.data + s->voff : name + s->nlen;
        size_t vl = s->voff ? s->vlen : 0;
        if (!s->nlen)
            return 400;
        for (size_t k = 0; k < s->nlen; k++)
            if (!is_tchar((unsigned char)name[k]))
                return 400;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        for (size_t k = 0; k < vl; k++)
            if (((unsigned char)v[k] < 0x20 && v[k] != '\t') || v[k] == 0x7f)
                return 400;
        v[vl] = '\0';
        m->hv[i] = (struct zl_h1_hdr){name, v, s->nlen, vl};
        char c0 = (char)(name[0] | 0x20);
        if (c0 == 'h' && s->nlen == 4 && !strcasecmp(name, "host"))
            hosts++, host = v;
        else if (c0 == 't' && !strcasecmp(name, "transfer-encoding"))
            tes++, te = v;
        else if (c0 == 'c' && !conn && !strcasecmp(name, "connection"))
            conn = v;
    }
    if (tes > 1 || (te && strcasecmp(te, "chunked")))
        return 501;
    if (!m->response && p->http_minor >= 1 && hosts != 1)
        return 400;
    if (!m->response && p->method == HTTP_CONNECT)
        return 405;
    struct zl_h1_head *h = &m->head;
    *h = (struct zl_h1_head){.major = p->http_major,
                             .minor = p->http_minor,
                             .h = m->hv,
                             .nh = m->nh,
                             .chunked = (p->flags & F_CHUNKED) != 0,
                             .has_length = (p->flags & F_CONTENTLENGTH) != 0,
                             .keep_alive = http_should_keep_alive(p) != 0,
                             .host = host,
                             .connection = conn};
    if (h->has_length)
        h->length = p->content_length;
    if (m->nh == 0)
        zl_buf_putc(&m->raw, '\0');
    if (m->response) {
        h->status = p->status_code;
        h->reason = m->raw.data + m->first_off;
        h->upgrade = p->status_code == 101;
    } else {
        h->method = http_method_str((enum http_method)p->method);
        h->target = m->raw.data + m->first_off;
        h->target_len = m->first_len;
        h->upgrade = p->upgrade;
        if (!m->first_len)
            return 400;
    }
    return 0;
}

static int on_headers(http_parser *p)
{
    struct zl_h1 *m = of(p);
    end_value(m);
    int st = check(m);
    if (st)
        return fail(m, st);
    m->cb->on_head(m->arg, &m->head);
    m->stop = true;
    m->result = ZL_H1_HEAD;
    http_parser_pause(p, 1);
    /* a response to HEAD, an informational one, 204 or 304: no body whatever the headers
     * say (a length there tells the size of what a GET would get) */
    unsigned code = p->status_code;
    return m->response && (m->head_request || code / 100 == 1 || code == 204 || code == 304) ? 1
                                                                                             : 0;
}

static int on_chunk(http_parser *p)
{
    struct zl_h1 *m = of(p);
    if (m->cb->on_chunk)
        m->cb->on_chunk(m->arg, p->content_length);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct zl_h1 *m = of(p);
    m->cb->on_data(m->arg, at, n);
    return 0;
}

static int on_end(http_parser *p)
{
    struct zl_h1 *m = of(p);
    m->cb->on_end(m->arg);
    m->stop = true;
    m->result = ZL_H1_END;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_begin,
    .on_url = on_first,
    .on_status = on_first,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers,
    .on_chunk_header = on_chunk,
    .on_body = on_body,
    .on_message_complete = on_end,
};

struct zl_h1 *zl_h1_new(bool response, size_t max_head, const struct zl_h1_cb *cb, void *arg)
{
    struct zl_h1 *m = zl_xcalloc(1, sizeof(*m));
    m->response = response;
    m->max_head = max_head;
    m->cb = cb;
    m->arg = arg;
    m->hs = zl_xcalloc(MAX_HEADERS, sizeof(*m->hs));
    m->hv = zl_xcalloc(MAX_HEADERS + 1, sizeof(*m->hv));
    zl_buf_init(&m->raw);
    http_parser_init(&m->p, response ? HTTP_RESPONSE : HTTP_REQUEST);
    m->p.data = m;
    return m;
}

void zl_h1_free(struct zl_h1 *m)
{
    if (!m)
        return;
    zl_buf_fini(&m->raw);
    free(m->hs);
    free(m->hv);
    free(m);
}

void zl_h1_expect_head(struct zl_h1 *m, bool head_request)
{
    m->head_request = head_request;
}

static int after(struct zl_h1 *m, size_t used, size_t n)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&m->p);
    if (m->stop) {
        m->stop = false;
        if (e == HPE_PAUSED)
            http_parser_pause(&m->p, 0);
        return m->result;
    }
    if (m->status)
        return m->status;
    if (e != HPE_OK || used != n) {
        int st = e == HPE_HEADER_OVERFLOW ? 431 : 400;
        fail(m, st);
        return m->status;
    }
    return ZL_H1_MORE;
}

int zl_h1_feed(struct zl_h1 *m, const char *p, size_t n, size_t *used)
{
    *used = 0;
    if (m->status)
        return m->status;
    if (!n)
        return ZL_H1_MORE;
    m->buf_start = p;
    m->buf_end = p + n;
    size_t k = http_parser_execute(&m->p, &settings, p, n);
    *used = k;
    return after(m, k, n);
}

int zl_h1_eof(struct zl_h1 *m)
{
    if (m->status)
        return m->status;
    size_t k = http_parser_execute(&m->p, &settings, NULL, 0);
    return after(m, k, 0);
}

bool zl_h1_started(const struct zl_h1 *m)
{
    return m->started;
}

void zl_h1_next(struct zl_h1 *m)
{
    m->started = false;
    m->raw.len = 0;
    m->nh = 0;
}
