/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz/fuzz_frames.c: libFuzzer target for the exec frame reader (zl_http_frames_take), which
 * reads what a daemon sends to `zlayer exec -i/-t` over TCP.
 *
 * Every input is read twice: in one piece, and fed in small pieces whose sizes come from the
 * input (as a network delivers it). Invariants:
 *   - no crash or sanitizer report; every frame lies inside the input;
 *   - a frame's type is stdout, stderr or exit, an exit frame holds four bytes;
 *   - both runs see the same frames and end the same way;
 *   - writing the frames back (zl_http_frame_put) gives the bytes that were used.
 * A broken invariant calls abort() so that libFuzzer records the input. */
#include "http/http.h"
#include "util/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "fuzz_frames: invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                              \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

struct seen {
    struct zl_buf again; /* the frames written back */
    const char *lo, *hi; /* the bytes being read */
    bool exited;
};

static bool on_frame(void *ctx, int type, const char *d, size_t len)
{
    struct seen *s = ctx;
    CHECK(type == ZL_FRAME_STDOUT || type == ZL_FRAME_STDERR || type == ZL_FRAME_EXIT);
    CHECK(type != ZL_FRAME_EXIT || len == 4);
    CHECK(d >= s->lo && d + len <= s->hi);
    zl_http_frame_put(&s->again, type, d, len);
    if (type == ZL_FRAME_EXIT) {
        s->exited = true;
        return false;
    }
    return true;
}

/* Read everything as the client does: take, keep the rest, add more. */
static int read_all(const uint8_t *data, size_t size, size_t step, struct seen *s)
{
    struct zl_buf in;
    zl_buf_init(&in);
    size_t fed = 0;
    int rc = 0;
    while (!s->exited && fed < size) {
        size_t n = size - fed < step ? size - fed : step;
        zl_buf_append(&in, data + fed, n);
        fed += n;
        s->lo = in.data;
        s->hi = in.data + in.len;
        long used = zl_http_frames_take(in.data, in.len, on_frame, s);
        if (used < 0) {
            rc = -1;
            break;
        }
        CHECK((size_t)used <= in.len);
        memmove(in.data, in.data + used, in.len - (size_t)used);
        in.len -= (size_t)used;
    }
    zl_buf_fini(&in);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t step = size ? (size_t)(data[0] % 7) + 1 : 1;
    struct seen whole = {0}, pieces = {0};
    zl_buf_init(&whole.again);
    zl_buf_init(&pieces.again);
    int a = read_all(data, size, size ? size : 1, &whole);
    int b = read_all(data, size, step, &pieces);
    CHECK(a == b);
    CHECK(whole.exited == pieces.exited);
    CHECK(whole.again.len == pieces.again.len);
    CHECK(!whole.again.len || !memcmp(whole.again.data, pieces.again.data, whole.again.len));
    /* written back, the frames are the bytes they came from */
    CHECK(whole.again.len <= size);
    CHECK(!whole.again.len || !memcmp(whole.again.data, data, whole.again.len));
    zl_buf_fini(&whole.again);
    zl_buf_fini(&pieces.again);
    return 0;
}
