/* SPDX-License-Identifier: Apache-2.0 */
/* http: one HTTP/1.1 engine on libuv (http_parser) for the API and, later, the proxy; and a
 * small blocking client for the CLI. */
#ifndef ZL_HTTP_H
#define ZL_HTTP_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "util/util.h"

/* ======================= server (server.c) ======================= */

struct zl_http_server;
struct zl_http_conn;

struct zl_http_limits {
    size_t max_header_bytes; /* all request headers together (default 64 KiB) */
    size_t max_body_bytes;   /* a request body (default 16 MiB); larger gets 413 */
    unsigned idle_ms;        /* keep-alive connection idle time before closing (default 60 s) */
    unsigned header_ms;      /* time to receive a full request head (default 10 s) */
    unsigned max_conns;      /* concurrent connections (default 1024); more are refused */
};

/* One request. Valid from the handler call until the response is complete (zl_http_respond*
 * or zl_http_stream_end) or the connection closes (see zl_http_req_on_close). */
struct zl_http_req {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* the URL path, percent-decoded, without the query */
    const char *query;  /* the raw query string without '?', or "" */
    size_t nheaders;
    const char **hnames; /* lower-case */
    const char **hvalues;
    const char *body; /* NUL-terminated for convenience */
    size_t body_len;
    bool from_unix; /* arrived over a unix socket */
    void *user;     /* free for the handler */
    struct zl_http_conn *conn;
};

/* The handler runs on the loop thread and must not block. It responds now or later. */
typedef void (*zl_http_handler)(void *ctx, struct zl_http_req *req);

/* limits may be NULL (defaults). The server lives on loop; caller frees with
 * zl_http_server_close. */
struct zl_http_server *zl_http_server_new(uv_loop_t *loop, const struct zl_http_limits *limits,
                                          zl_http_handler handler, void *ctx);
/* Listen on a unix socket (an existing stale socket file is replaced) with mode. */
int zl_http_server_listen_unix(struct zl_http_server *s, const char *path, mode_t mode,
                               struct zl_err *err);
/* Listen on TCP, e.g. ("127.0.0.1", 3669). */
int zl_http_server_listen_tcp(struct zl_http_server *s, const char *addr, int port,
                              struct zl_err *err);
/* Stop listening, close every connection (open streams are told through their close
 * callbacks), then call done (may be NULL) and free the server. */
void zl_http_server_close(struct zl_http_server *s, void (*done)(void *arg), void *arg);

const char *zl_http_req_header(const struct zl_http_req *r, const char *lower_name);
/* The percent-decoded value of key in the query; false when absent. */
bool zl_http_req_query(const struct zl_http_req *r, const char *key, char *buf, size_t cap);

/* Respond in one go (Content-Length). content_type NULL = "application/json". */
void zl_http_respond(struct zl_http_req *r, int status, const char *content_type, const char *body,
                     size_t len);
/* {"error": kind, "message": ..., "details": details_json or omitted} with status. */
void zl_http_respond_error(struct zl_http_req *r, int status, const char *kind,
                           const char *details_json, const char *fmt, ...) ZL_PRINTF(5, 6);

/* Streaming responses (Transfer-Encoding: chunked): begin once, write any number of times,
 * end once. write returns -1 once the peer is gone. Output is buffered with a bound (a slow
 * reader makes writes fail rather than grow memory without limit). */
void zl_http_stream_begin(struct zl_http_req *r, int status, const char *content_type);
int zl_http_stream_write(struct zl_http_req *r, const char *data, size_t len);
void zl_http_stream_end(struct zl_http_req *r);
/* Called once when the connection of a request still being answered closes (peer went away
 * or the server closes); the request must not be used afterwards. */
void zl_http_req_on_close(struct zl_http_req *r, void (*cb)(void *arg), void *arg);

/* Upgraded connections (101 Switching Protocols): after zl_http_upgrade the connection carries
 * raw bytes both ways. on_data gets what the peer sends (len 0: it closed its side); on_close
 * (once) when the connection is gone; raw_write sends (-1 once gone or the peer reads too
 * slowly); raw_end flushes and closes. Returns -1 when the request is no longer answerable. */
int zl_http_upgrade(struct zl_http_req *r, const char *protocol,
                    void (*on_data)(void *arg, const char *data, size_t len),
                    void (*on_close)(void *arg), void *arg);
int zl_http_raw_write(struct zl_http_req *r, const char *data, size_t len);
void zl_http_raw_end(struct zl_http_req *r);

/* The frames an attached exec sends (frames.c): one byte type, four bytes big-endian length,
 * the data. The exit frame holds the exit code as four big-endian bytes. */
enum { ZL_FRAME_STDOUT = 1, ZL_FRAME_STDERR = 2, ZL_FRAME_EXIT = 3 };
#define ZL_FRAME_MAX (1u << 24)
void zl_http_frame_put(struct zl_buf *b, int type, const void *data, size_t len);
/* cb for each whole frame at the start of p[0..n) until it returns false; returns the bytes
 * used (a partial frame is left for later), or -1 when the bytes are not such a stream. */
long zl_http_frames_take(const char *p, size_t n,
                         bool (*cb)(void *ctx, int type, const char *data, size_t len), void *ctx);

/* ======================= streaming HTTP/1.1 messages (h1.c) ======================= */

/* A request or response parsed as it arrives, for the proxy: the head in one piece, the body
 * handed on as it comes (never buffered). Strict where requests are smuggled: a message with
 * both Content-Length and Transfer-Encoding, two lengths, a transfer coding other than
 * chunked, folded header lines, whitespace before a colon, control bytes in a value, a
 * missing or repeated Host (HTTP/1.1) or bad chunk sizes is refused. */
struct zl_h1;

struct zl_h1_hdr {
    const char *name, *value; /* as sent, NUL-terminated (the value without surrounding space) */
    size_t nlen, vlen;
};

struct zl_h1_head {
    const char *method; /* requests: "GET", ... */
    const char *target; /* requests: the request-target as sent, NUL-terminated */
    size_t target_len;
    unsigned status;    /* responses */
    const char *reason; /* responses, NUL-terminated */
    unsigned major, minor;
    const struct zl_h1_hdr *h;
    size_t nh;
    bool chunked;    /* Transfer-Encoding: chunked */
    bool has_length; /* Content-Length */
    uint64_t length;
    bool keep_alive;        /* the sender keeps the connection open after this message */
    bool upgrade;           /* requests: Connection: upgrade with Upgrade; responses: 101 */
    const char *host;       /* the Host header's value, or NULL */
    const char *connection; /* the (first) Connection header's value, or NULL */
};

struct zl_h1_cb {
    void (*on_head)(void *arg, const struct zl_h1_head *h); /* valid until zl_h1_next */
    void (*on_chunk)(void *arg, uint64_t size); /* chunked: a chunk starts (0: the last one) */
    void (*on_data)(void *arg, const char *p, size_t n);
    void (*on_end)(void *arg);
};

enum { ZL_H1_MORE = 0, ZL_H1_HEAD = 1, ZL_H1_END = 2 };

/* max_head: the head's size limit (request line or status line and headers). */
struct zl_h1 *zl_h1_new(bool response, size_t max_head, const struct zl_h1_cb *cb, void *arg);
void zl_h1_free(struct zl_h1 *m);
/* A response to HEAD comes next: it has no body whatever its headers say. */
void zl_h1_expect_head(struct zl_h1 *m, bool head_request);
/* Parse p[0..n). Stops right after a head (ZL_H1_HEAD) and after a message's end
 * (ZL_H1_END; then zl_h1_next), else uses everything (ZL_H1_MORE). *used: the bytes taken.
 * A broken message gives an HTTP status instead: 400, 414, 431, 501 or 505 for requests,
 * 502 for responses; every later call gives it again. After the end of a request that
 * upgraded, the rest is not HTTP and is not taken. */
int zl_h1_feed(struct zl_h1 *m, const char *p, size_t n, size_t *used);
/* The peer closed: ends a response read until close (ZL_H1_END), else an error status
 * for a message cut short, or ZL_H1_MORE between messages. */
int zl_h1_eof(struct zl_h1 *m);
/* Has a message begun since the last zl_h1_next (some of it arrived)? */
bool zl_h1_started(const struct zl_h1 *m);
/* Get ready for the next message on the same connection. */
void zl_h1_next(struct zl_h1 *m);
/* Case-insensitive lookup in a parsed head: the value of the first such header, or NULL. */
const char *zl_h1_get(const struct zl_h1_head *h, const char *name);
/* Does the comma-separated value list v (e.g. Connection) name token? */
bool zl_h1_has_token(const char *v, const char *token);

/* ======================= server-side TLS (tls.c) ======================= */

/* Certificates, chosen by the name a client asks for (SNI): exact names, then wildcards
 * (one label), then the fallback (the default one, or else the first loaded). Shared by the
 * connections made with them (reference counted), so a reload never drops a connection. */
struct zl_tls_certs;
struct zl_tls_certs *zl_tls_certs_new(void);
struct zl_tls_certs *zl_tls_certs_ref(struct zl_tls_certs *cs);
void zl_tls_certs_unref(struct zl_tls_certs *cs);
/* A PEM certificate chain and its unencrypted key (key NULL: in the same file), each file
 * read with zl_tls_file_read. */
int zl_tls_certs_add_file(struct zl_tls_certs *cs, const char *cert, const char *key,
                          struct zl_err *err);
/* Every NAME.pem (chain and key) and NAME.crt + NAME.key in dir (absent: none). A file that
 * does not load is skipped: -1 at the end, with the first such error. */
int zl_tls_certs_load_dir(struct zl_tls_certs *cs, const char *dir, struct zl_err *err);
/* The fallback: a self-signed certificate for names (and localhost, 127.0.0.1), made once
 * (an EC P-256 key, a year) and kept at path. */
int zl_tls_certs_default(struct zl_tls_certs *cs, const char *path, const char *const *names,
                         size_t n, struct zl_err *err);
size_t zl_tls_certs_count(const struct zl_tls_certs *cs);
/* A certificate named in a spec (zl_tls_certs_add_file's arguments) that also answers hosts
 * (an endpoint's host: an exact name, or "*.example.com" for any name below it): such a
 * host before any certificate's own names when both are exact, and so on (see
 * zl_tls_certs_choose). */
int zl_tls_certs_add_named(struct zl_tls_certs *cs, const char *cert, const char *key,
                           const char *const *hosts, size_t nhosts, struct zl_err *err);
/* The certificate SNI host gets, in the order added (0 the first), or -1: the fallback.
 * Exact names first (a named certificate's hosts, then certificates' own DNS names), then
 * wildcards (hosts' any depth, a longer suffix first; certificates' one label); the first
 * added on a tie. */
int zl_tls_certs_choose(const struct zl_tls_certs *cs, const char *host);

/* A certificate's or key's file, read whole into memory (*data NUL-terminated, *len bytes;
 * free with zl_tls_file_free, which wipes it): only a regular file is ever opened (not a
 * FIFO, a device or a directory: O_PATH first, then the same inode), none in /proc, /sys or
 * the like, at most ZL_TLS_FILE_MAX bytes whatever its size says. < 0 with the reason. */
#define ZL_TLS_FILE_MAX (1024u * 1024u)
int zl_tls_file_read(const char *path, char **data, size_t *len, struct zl_err *err);
void zl_tls_file_free(char *data, size_t len);

/* What zl_tls_cert_check saw of a certificate. */
struct zl_tls_cert_info {
    char subject[256];   /* "/CN=app.example.com" */
    char not_before[32]; /* "2026-01-01 00:00:00 UTC" */
    char not_after[32];
    bool key_at_fault; /* the error is the key's file's (key given) */
};
/* Can the proxy serve cert (a PEM chain) with key (NULL: in cert's file)? Each file a
 * regular file zl_tls_file_read takes, a certificate in cert, an unencrypted private key that
 * matches it, valid now (neither expired nor not yet valid, both dates readable), loaded as
 * the proxy loads it; each file read once. < 0 with the reason. */
int zl_tls_cert_check(const char *cert, const char *key, struct zl_tls_cert_info *info,
                      struct zl_err *err);

/* One server-side TLS connection over memory: ciphertext in through zl_tls_read, out
 * through zl_tls_out/zl_tls_out_taken; TLS 1.2 and 1.3. */
struct zl_tls;
/* http: ALPN may agree on h2 or http/1.1 (else none is). NULL without any certificate. */
struct zl_tls *zl_tls_new(struct zl_tls_certs *cs, bool http);
void zl_tls_free(struct zl_tls *t);
/* Ciphertext that arrived: on_plain gets what it decrypts to. 0: go on; 1: the peer closed
 * (close_notify); -1: the connection failed (handshake, bad record). Handshake replies wait
 * in zl_tls_out. */
int zl_tls_read(struct zl_tls *t, const char *p, size_t n,
                void (*on_plain)(void *arg, const char *p, size_t n), void *arg);
/* Encrypt all of p (output in zl_tls_out); -1 once the connection failed. */
int zl_tls_write(struct zl_tls *t, const char *p, size_t n);
size_t zl_tls_pending(const struct zl_tls *t); /* ciphertext waiting */
/* The ciphertext waiting, in place (valid until the next call on t), and n bytes of it sent. */
const char *zl_tls_out(const struct zl_tls *t, size_t *n);
void zl_tls_out_taken(struct zl_tls *t, size_t n);
void zl_tls_close_notify(struct zl_tls *t);
bool zl_tls_ready(const struct zl_tls *t); /* the handshake is done */
/* The protocol agreed through ALPN once the handshake is done: "h2", "http/1.1" or NULL. */
const char *zl_tls_alpn(const struct zl_tls *t);

/* ======================= blocking client (client.c) ======================= */

struct zl_http_response {
    int status;
    char *content_type;
    char *body; /* NUL-terminated */
    size_t len;
};
void zl_http_response_fini(struct zl_http_response *r);

/* Where to reach a server: a unix socket path, or host + port. */
struct zl_http_target {
    const char *unix_path; /* or NULL */
    const char *host;
    int port;
    const char *bearer;                  /* Authorization: Bearer ..., or NULL */
    int timeout_ms;                      /* 0: 30 s; applies to connecting and to each read */
    const volatile sig_atomic_t *cancel; /* or NULL: set (by a signal handler) to give up */
};

/* One request; reads the whole response (chunked or Content-Length). */
int zl_http_request(const struct zl_http_target *t, const char *method, const char *path,
                    const char *content_type, const char *body, size_t len,
                    struct zl_http_response *out, struct zl_err *err);
/* The same, handing the body to on_data as it arrives (chunked streams: logs, events);
 * on_data returns false to stop. status receives the HTTP status as soon as the head has
 * arrived (before on_data is first called). With timeout_ms 0 a stream waits for data
 * without limit. */
int zl_http_request_stream(const struct zl_http_target *t, const char *method, const char *path,
                           const char *content_type, const char *body, size_t len,
                           bool (*on_data)(void *ctx, const char *p, size_t n), void *ctx,
                           int *status, struct zl_err *err);

/* Ask for a protocol switch (Connection: Upgrade, Upgrade: protocol). On 101 returns the
 * connected socket (blocking; caller closes) with the bytes that came after the head in rest.
 * Otherwise returns 0 with *status and the response body in rest, or -1 on a failure. */
int zl_http_upgrade_dial(const struct zl_http_target *t, const char *method, const char *path,
                         const char *ctype, const char *body, size_t len, const char *protocol,
                         int *status, struct zl_buf *rest, struct zl_err *err);

#endif
