/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz/fuzz_h1.c: libFuzzer target for the proxy's streaming HTTP/1.1 parser (http/h1.c).
 * The first byte picks request or response and where the input is cut in two reads; every
 * message is parsed to its end or to an error. Invariants: no crash, bytes taken within what
 * was given, body bytes never more than the input, a head's fields inside their limits. */
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    size_t body, heads;
};

static void on_head(void *arg, const struct zl_h1_head *h)
{
    struct seen *s = arg;
    s->heads++;
    if (h->nh > 100 || (h->target && strlen(h->target) != h->target_len)) {
        fprintf(stderr, "fuzz_h1: head out of its limits\n");
        abort();
    }
    for (size_t i = 0; i < h->nh; i++)
        if (strlen(h->h[i].name) != h->h[i].nlen || strlen(h->h[i].value) != h->h[i].vlen)
            abort();
}

static void on_data(void *arg, const char *p, size_t n)
{
    (void)p;
    ((struct seen *)arg)->body += n;
}

static void on_end(void *arg)
{
    (void)arg;
}

static const struct zl_h1_cb cb = {.on_head = on_head, .on_data = on_data, .on_end = on_end};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool response = data[0] & 1;
    size_t cut = data[1] % (size - 1);
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    struct seen s = {0};
    struct zl_h1 *m = zl_h1_new(response, 4096, &cb, &s);
    size_t parts[2] = {cut < n ? cut : n, n - (cut < n ? cut : n)}, off = 0;
    for (int k = 0; k < 2; k++) {
        size_t left = parts[k];
        for (int guard = 0; left && guard < 10000; guard++) {
            size_t used = 0;
            int rc = zl_h1_feed(m, p + off, left, &used);
            if (used > left)
                abort();
            off += used;
            left -= used;
            if (rc == ZL_H1_END)
                zl_h1_next(m);
            else if (rc >= 400 || (rc == ZL_H1_MORE && left))
                left = 0, k = 2; /* an error, or an upgrade's raw bytes: done */
        }
    }
    (void)zl_h1_eof(m);
    if (s.body > n)
        abort();
    zl_h1_free(m);
    return 0;
}
