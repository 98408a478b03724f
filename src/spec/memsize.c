/* SPDX-License-Identifier: Apache-2.0 */
/* spec/memsize.c: memory sizes of SPEC-v1 2.2 ("512Mi", "2Gi") and their canonical text. */
#include "spec/spec.h"

#include <inttypes.h>
#include <string.h>

static const struct {
    const char *suffix;
    uint64_t mult;
} suffixes[] = {
    {"Ti", 1ULL << 40},
    {"Gi", 1ULL << 30},
    {"Mi", 1ULL << 20},
    {"Ki", 1ULL << 10},
};

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -1;
}

/* Why the text after the digits is not a suffix. */
static const char *bad_suffix(const char *p, size_t n)
{
    if (n == 0)
        return "unit suffix needed (Ki, Mi, Gi or Ti)";
    if (p[0] == '.' || p[0] == ',')
        return "fractions are not allowed; use a smaller unit (1536Mi, not 1.5Gi)";
    if (p[0] == ' ' || p[0] == '\t')
        return "spaces are not allowed in a memory size";
    return "unknown unit suffix (expected Ki, Mi, Gi or Ti, case-sensitive)";
}

int zl_memsize_parse(const char *s, size_t len, uint64_t *bytes, const char **why)
{
    size_t i = 0;
    uint64_t n = 0;

    if (len == 0)
        return fail(why, "empty memory size");
    if (s[0] == '-')
        return fail(why, "memory size cannot be negative");
    if (s[0] == '+')
        i++;
    if (i == len || s[i] < '0' || s[i] > '9')
        return fail(why, "memory size must start with digits (512Mi)");
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (n > (UINT64_MAX - d) / 10)
            return fail(why, "memory size is too large");
        n = n * 10 + d;
    }
    for (size_t k = 0; k < ZL_ARRAY_LEN(suffixes); k++) {
        if (len - i != 2 || memcmp(s + i, suffixes[k].suffix, 2) != 0)
            continue;
        if (n == 0)
            return fail(why, "memory size must be greater than 0");
        if (n > UINT64_MAX / suffixes[k].mult)
            return fail(why, "memory size is too large");
        *bytes = n * suffixes[k].mult;
        return 0;
    }
    return fail(why, bad_suffix(s + i, len - i));
}

size_t zl_memsize_format(uint64_t bytes, char *buf, size_t cap)
{
    char tmp[32];
    size_t k = 0;

    ZL_ASSERT(bytes % 1024 == 0);
    /* 0 has no valid text; write "0Ki" rather than abort (the parser rejects it). */
    while (bytes != 0 && bytes % suffixes[k].mult != 0)
        k++;
    int w = snprintf(tmp, sizeof(tmp), "%" PRIu64 "%s", bytes / suffixes[k].mult,
                     bytes ? suffixes[k].suffix : "Ki");
    ZL_ASSERT(w > 0 && (size_t)w < sizeof(tmp));
    if (cap == 0)
        return 0;
    size_t n = (size_t)w < cap ? (size_t)w : cap - 1;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}
