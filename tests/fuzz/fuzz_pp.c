/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz/fuzz_pp.c: libFuzzer target for the PROXY protocol (proxy/pp.c). Any input read as a
 * header: no crash, a length within the input; a header read is written again in its
 * version and read back the same. A broken invariant aborts. */
#include "proxy/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct zl_proxy_pp h, back;
    long n = zl_proxy_pp_read(data, size, &h);
    if (n < -1 || n > (long)size)
        abort();
    if (n <= 0 || (!h.src_ip && !h.dst_ip && !h.src_port && !h.dst_port))
        return 0; /* incomplete, refused, or LOCAL/UNKNOWN */
    int version = data[0] == 'P' ? 1 : 2;
    unsigned char out[ZL_PROXY_PP_V1_MAX];
    size_t m = zl_proxy_pp_write(&h, version, out, sizeof(out));
    if (!m || zl_proxy_pp_read(out, m, &back) != (long)m || memcmp(&h, &back, sizeof(h)) != 0) {
        fprintf(stderr, "fuzz_pp: a header read did not survive writing\n");
        abort();
    }
    /* version 1 as read is exactly what we write */
    if (version == 1 && (m != (size_t)n || memcmp(out, data, m) != 0)) {
        fprintf(stderr, "fuzz_pp: version 1 not canonical\n");
        abort();
    }
    return 0;
}
