/* SPDX-License-Identifier: Apache-2.0 */
/* http/internal.h: the request parser glue (socket-free, for the server and the fuzzer). */
#ifndef ZL_HTTP_INTERNAL_H
#define ZL_HTTP_INTERNAL_H

#include <http_parser.h>

#include "http/http.h"

/* zl_http__parse_feed results; any other value is an HTTP error status (400, 413, 431, 505). */
enum {
    ZL_HTTP__MORE = 0, /* everything was consumed; the request is not complete yet */
    ZL_HTTP__DONE = 1, /* a request is complete in ps->req; call zl_http__parse_next */
};

/* One request being parsed on a connection. The http_parser keeps connection state (it
 * is paused at the end of each message) and the rest is reset for every request. */
struct zl_http__parse {
    http_parser p;
    struct zl_http_limits lim;
    struct zl_http_req req; /* filled once the head is complete */
    struct zl_arena arena;  /* method, path, query and headers of req */
    struct zl_buf url, field, value, body;
    struct zl_buf hdrs; /* pairs of char * (name, value) in arena */
    size_t head_bytes;
    int status;      /* error status once the request failed, else 0 */
    unsigned ncl;    /* Content-Length headers seen */
    bool in_value;   /* the last header callback was a value */
    bool started;    /* the first byte of this request arrived */
    bool head_done;  /* headers complete */
    bool done;       /* message complete (the parser is paused) */
    bool keep_alive; /* valid once done */
    bool is_head;    /* a HEAD request: the response has no body */
    bool has_te;
    bool expect_continue;
};

/* lim NULL or zero fields: defaults. */
void zl_http__limits_fill(struct zl_http_limits *out, const struct zl_http_limits *lim);

void zl_http__parse_init(struct zl_http__parse *ps, const struct zl_http_limits *lim);
void zl_http__parse_fini(struct zl_http__parse *ps);
/* Run the parser over data; *used receives the bytes consumed (all of them unless a request
 * completed or failed). Returns ZL_HTTP__MORE, ZL_HTTP__DONE or an error status; after an
 * error every further call returns it again. */
int zl_http__parse_feed(struct zl_http__parse *ps, const char *data, size_t len, size_t *used);
/* Forget the completed request (ps->req becomes invalid) and get ready for the next one. */
void zl_http__parse_next(struct zl_http__parse *ps);

/* Percent-decode src[0..n) into dst (room for n + 1 bytes). plus_space turns '+' into ' '.
 * Returns the decoded length, or -1 for an invalid escape or an encoded NUL. */
long zl_http__pct_decode(char *dst, const char *src, size_t n, bool plus_space);

/* The port of the server's first TCP listener (after listening on port 0), or -1. */
int zl_http__server_tcp_port(struct zl_http_server *s);

#endif
