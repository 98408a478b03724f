/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz/fuzz_http.c: libFuzzer target for the HTTP request parsing glue (http/internal.h).
 *
 * Every input is parsed twice as a stream of pipelined requests: once in one piece and once
 * cut into small pieces whose sizes come from the input. Invariants:
 *   - no crash, leak or sanitizer report;
 *   - every request found is well formed: a method, a path that starts with '/' (or is "*")
 *     and holds no NUL, lower-case header names, a NUL-terminated body within the limit;
 *   - an error is one of the statuses the server sends (400, 413, 431, 505);
 *   - both runs find exactly the same requests and end the same way (error or not): a field
 *     split across callbacks must not change the result.
 * A broken invariant calls abort() so that libFuzzer records the input. */
#include "http/internal.h"
#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz_http: invariant broken: %s (%s:%d): ", #cond, __FILE__, \
                    __LINE__);                                                            \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static const struct zl_http_limits limits = {
    .max_header_bytes = 1024,
    .max_body_bytes = 2048,
};

/* Check one request and append a description of it to out. */
static void record(const struct zl_http_req *r, struct zl_buf *out)
{
    CHECK(r->method && r->path && r->query && r->body, "missing field");
    CHECK(strcmp(r->path, "*") == 0 || r->path[0] == '/', "path %s", r->path);
    CHECK(r->body[r->body_len] == '\0', "body not terminated");
    CHECK(r->body_len <= limits.max_body_bytes, "body of %zu bytes", r->body_len);
    zl_buf_printf(out, "%s %s ? %s\n", r->method, r->path, r->query);
    for (size_t i = 0; i < r->nheaders; i++) {
        for (const char *c = r->hnames[i]; *c; c++)
            CHECK(!(*c >= 'A' && *c <= 'Z'), "header name %s", r->hnames[i]);
        CHECK(zl_http_req_header(r, r->hnames[i]) != NULL, "header %s not found", r->hnames[i]);
        zl_buf_printf(out, "%s: %s\n", r->hnames[i], r->hvalues[i]);
    }
    char v[64];
    for (const char *k = "a\0id\0name\0"; *k; k += strlen(k) + 1)
        if (zl_http_req_query(r, k, v, sizeof(v)))
            zl_buf_printf(out, "q %s=%s\n", k, v);
    zl_buf_printf(out, "body %zu\n", r->body_len);
    zl_buf_append(out, r->body, r->body_len);
    zl_buf_putc(out, '\n');
}

/* Parse the whole input; piece sizes come from seed (0: one piece). Returns the end state:
 * 0 for "needs more", 1 for a closed connection, or the error status. */
static int run(const uint8_t *data, size_t size, unsigned seed, struct zl_buf *out)
{
    struct zl_http__parse ps;
    zl_http__parse_init(&ps, &limits);
    size_t off = 0;
    int end = 0;
    while (off < size) {
        size_t n = size - off;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            size_t piece = 1 + (seed >> 16) % 17;
            n = piece < n ? piece : n;
        }
        size_t used = 0;
        int rc = zl_http__parse_feed(&ps, (const char *)data + off, n, &used);
        CHECK(used <= n, "used %zu of %zu", used, n);
        off += used;
        if (rc == ZL_HTTP__MORE) {
            CHECK(used == n, "more, with %zu of %zu used", used, n);
            continue;
        }
        if (rc == ZL_HTTP__DONE) {
            record(&ps.req, out);
            if (!ps.keep_alive) {
                end = 1;
                break;
            }
            zl_http__parse_next(&ps);
            continue;
        }
        CHECK(rc == 400 || rc == 413 || rc == 431 || rc == 505, "status %d", rc);
        end = rc;
        break;
    }
    zl_http__parse_fini(&ps);
    return end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct zl_buf whole, pieces;
    zl_buf_init(&whole);
    zl_buf_init(&pieces);
    unsigned seed = 1;
    for (size_t i = 0; i < size && i < 8; i++)
        seed = seed * 31 + data[i];
    int a = run(data, size, 0, &whole);
    int b = run(data, size, seed | 1, &pieces);
    bool same = whole.len == pieces.len &&
                (whole.len == 0 || memcmp(whole.data, pieces.data, whole.len) == 0);
    if (!same)
        fprintf(stderr, "---- whole ----\n%s\n---- pieces ----\n%s\n", whole.data ? whole.data : "",
                pieces.data ? pieces.data : "");
    CHECK(same, "the requests found depend on how the input was cut");
    CHECK((a >= 400) == (b >= 400), "end states %d and %d", a, b);
    zl_buf_fini(&whole);
    zl_buf_fini(&pieces);
    return 0;
}
