/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/l7.h: what the HTTP proxy's files share: client connections (http.c), backend
 * connections and their pool (http.c), HTTP/2 sessions and streams (h2.c). */
#ifndef ZL_PROXY_L7_H
#define ZL_PROXY_L7_H

#include "proxy/internal.h"

#include <arpa/inet.h>

#define READ_SIZE     65536
#define MAX_HEAD      (32 * 1024)
#define MAX_RESP_HEAD (64 * 1024)
#define WMAX          (64 * 1024) /* queued toward one side before the other pauses */
#define OUT_MAX       64          /* pieces gathered before a write */
#define HEAD_MS       10000       /* a whole request head, from its first byte */
#define IDLE_MS       60000       /* a kept-alive client between requests */
#define BODY_MS       30000       /* a request body between two reads */
#define CONNECT_MS    3000
#define RESPONSE_MS   60000 /* the backend: to its head, and between reads */
#define TUNNEL_MS     3600000
#define LINGER_MS     2000
#define POOL_IDLE_MS  30000
#define POOL_MAX      1024 /* idle backend connections kept, all backends together */
#define MAX_TRIES     3
#define SOON_MAX      16384 /* bytes for one socket held until the end of a loop pass */
#define OUT_KEEP      4096  /* a connection's text buffer larger than this is freed once sent */

enum timer_kind { T_NONE, T_IDLE, T_HEAD, T_BODY, T_CONNECT, T_RESPONSE, T_TUNNEL, T_LINGER };

/* Bytes for one side, gathered while parsing one read and written in one go. A piece points
 * into the read buffer (p) or into s, text we made (p NULL, at off). */
struct out {
    struct piece {
        const char *p;
        size_t off, len;
    } v[OUT_MAX];
    size_t n;
    struct zl_buf s;
};

struct up {
    struct up *next; /* in the pool */
    struct zl_proxy *p;
    struct hconn *c; /* whom it serves now (an HTTP/1.1 client)... */
    struct h2s *s;   /* ...or an HTTP/2 stream; both NULL while pooled */
    struct zl_proxy_backend b;
    uv_tcp_t h;
    uv_connect_t creq;
    struct zl_h1 *m;
    struct out out;
    size_t queued;
    uint64_t idle_since;
    struct up *soon_next; /* in the proxy's list of sockets to write after this pass */
    bool connected, reused, closing, ka, poisoned, pooled, shut, reading, soon;
};

struct hconn {
    struct hconn *prev, *next;
    struct listener *l;
    uv_tcp_t h;
    uv_timer_t timer;
    enum timer_kind tk;
    uint64_t deadline; /* loop time at which tk runs out */
    unsigned handles;
    struct zl_h1 *m;
    struct zl_tls *tls; /* https: what the client sends is decrypted first */
    struct h2conn *h2;  /* HTTP/2 (ALPN h2, or the preface in clear): its session */
    struct zl_buf pend; /* read, not parsed yet */
    size_t pend_off;
    struct out out;
    size_t queued;
    struct hconn *soon_next; /* in the proxy's list of sockets to write after this pass */
    bool soon;
    char ip[INET_ADDRSTRLEN];
    uint16_t cport;
    bool loopback;
    /* the request in progress */
    const struct zl_h1_head *rh;
    struct zl_buf head_up; /* its head as the backend gets it (kept for a retry) */
    struct group *g;
    struct zl_proxy_backend be;
    bool counted; /* be's in-flight count holds this request */
    struct up *u;
    unsigned tries;
    uint64_t t0;
    unsigned status;
    uint64_t bytes_in, bytes_out;
    char method[16];
    char *target; /* for the log */
    bool in_req, req_done, resp_head, resp_done, waiting, retryable, bodyless, head_req, upgrade;
    bool req_chunked, resp_chunked, http10, close_after, tunnel, eof_u;
    bool parsing;    /* in client_input: nested calls are left to the outer loop */
    bool client_eof; /* the client closed its side */
    bool ending;     /* our side is shut: reading only to drop what comes */
    bool shut, closing, reading;
    bool proto_known; /* HTTP/1.1 or HTTP/2 decided */
};

struct wr {
    uv_write_t w;
    struct hconn *c; /* toward the client, else toward u */
    struct up *u;
    size_t len;
    char data[];
};

struct h2s;
struct h2conn;

/* http.c, for h2.c */
void zl_proxy__out_text(struct out *o, const char *p, size_t n);
void zl_proxy__flush_client(struct hconn *c);
void zl_proxy__flush_up(struct up *u);
void zl_proxy__client_close(struct hconn *c);
/* A backend connection for an HTTP/2 stream: a kept one (its request can go at once: true
 * in *ready), else a new one, connecting. NULL when none can be made. */
struct up *zl_proxy__up_for(struct h2s *s, struct zl_proxy *p, const struct zl_proxy_backend *b,
                            bool *ready);
/* Done with u: kept for reuse when clean, else closed. */
void zl_proxy__up_release(struct up *u, bool reuse);
void zl_proxy__up_close(struct up *u);
void zl_proxy__up_reading(struct up *u, bool on);
/* An HTTP/2 connection is in use: its idle time starts again. */
void zl_proxy__touch(struct hconn *c);
/* Log and count one answered request. */
struct zl_proxy_acct {
    struct group *g;
    const char *ip, *method, *target;
    uint16_t cport;
    struct zl_proxy_backend be;
    unsigned status;
    uint64_t t0, bytes_in, bytes_out;
};
void zl_proxy__account(struct zl_proxy *p, const struct zl_proxy_acct *a);
const char *zl_proxy__reason(unsigned status);
/* Is the header name hop-by-hop (fixed ones, and those conn, a Connection value, names;
 * never Content-Length or Host)? */
bool zl_proxy__hop(const char *name, const char *conn);
/* May the request be sent again after a failure (RFC 9110 9.2.2)? */
bool zl_proxy__idempotent(const char *method);
/* The routing key of a host (first n bytes of v; NULL: none): user info and port cut, a
 * trailing dot dropped, lower-case, into out ("" for none). */
void zl_proxy__host_key(const char *v, size_t n, char *out, size_t cap);
void zl_proxy__busy(struct zl_proxy *p, struct group *g, const struct zl_proxy_backend *b,
                    int delta);

/* h2.c */
/* Start HTTP/2 on c; input then goes to zl_proxy__h2_input. -1 on failure. */
int zl_proxy__h2_start(struct hconn *c);
void zl_proxy__h2_input(struct hconn *c, const char *p, size_t n);
/* Let the session write what it has (after the client's socket drained). */
void zl_proxy__h2_flush(struct hconn *c);
void zl_proxy__h2_free(struct hconn *c);
/* From a stream's backend connection. */
void zl_proxy__h2_connected(struct h2s *s);
void zl_proxy__h2_resp_head(struct h2s *s, const struct zl_h1_head *h);
void zl_proxy__h2_resp_data(struct h2s *s, const char *p, size_t n);
void zl_proxy__h2_resp_end(struct h2s *s);
void zl_proxy__h2_failed(struct h2s *s, unsigned status, bool eject);
void zl_proxy__h2_drained(struct h2s *s); /* its backend took what was queued */
/* The connection goes: every stream with it. */
void zl_proxy__h2_up_gone(struct h2s *s, struct up *u);

#endif
