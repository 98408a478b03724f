/* SPDX-License-Identifier: Apache-2.0 */
/* http/frames.c: the frames of an attached exec (after Upgrade: zlayer-exec): one byte type,
 * four bytes big-endian length, the data. */
#include "http/http.h"

void zl_http_frame_put(struct zl_buf *b, int type, const void *data, size_t len)
{
    unsigned char h[5] = {(unsigned char)type, (unsigned char)(len >> 24),
                          (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                          (unsigned char)len};
    zl_buf_append(b, h, sizeof(h));
    if (len)
        zl_buf_append(b, data, len);
}

long zl_http_frames_take(const char *p, size_t n,
                         bool (*cb)(void *ctx, int type, const char *data, size_t len), void *ctx)
{
    size_t off = 0;
    while (n - off >= 5) {
        const unsigned char *h = (const unsigned char *)p + off;
        size_t len = ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | h[4];
        if (h[0] < ZL_FRAME_STDOUT || h[0] > ZL_FRAME_EXIT || len > ZL_FRAME_MAX ||
            (h[0] == ZL_FRAME_EXIT && len != 4))
            return -1; /* not a stream of ours */
        if (n - off - 5 < len)
            break; /* the rest comes later */
        off += 5 + len;
        if (!cb(ctx, h[0], p + off - len, len))
            break;
    }
    return (long)off;
}
