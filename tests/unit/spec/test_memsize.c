/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/spec/test_memsize.c: memory sizes (SPEC-v1 2.2): parse, reject, canonical text. */
#include "spec/spec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define KI (1ULL << 10)
#define MI (1ULL << 20)
#define GI (1ULL << 30)
#define TI (1ULL << 40)

/* Parse a copy without a trailing NUL so that ASan catches any read past len. */
static int parse_n(const char *s, size_t n, uint64_t *bytes, const char **why)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int r = zl_memsize_parse(copy, n, bytes, why);
    free(copy);
    return r;
}

static int parse(const char *s, uint64_t *bytes, const char **why)
{
    return parse_n(s, strlen(s), bytes, why);
}

static const struct {
    const char *text;
    uint64_t bytes;
} valid[] = {
    /* SPEC-v1 2.2 examples */
    {"512Mi", 512 * MI},
    {"1Gi", GI},
    {"256Ki", 256 * KI},
    {"4096Mi", 4096 * MI},
    {"2Ti", 2 * TI},
    /* ZLayer quirks we keep: a leading '+' and leading zeros */
    {"+512Mi", 512 * MI},
    {"0512Mi", 512 * MI},
    {"+0001Ki", KI},
    /* limits */
    {"1Ki", KI},
    {"16777215Ti", 16777215 * TI},
    {"18014398509481983Ki", 18014398509481983ULL * KI},
    {"17179869183Gi", 17179869183ULL * GI},
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(valid); i++) {
        uint64_t bytes = 12345;
        const char *why = NULL;
        int r = parse(valid[i].text, &bytes, &why);
        if (r != 0 || bytes != valid[i].bytes)
            fail_msg("\"%s\": r=%d bytes=%" PRIu64 " want %" PRIu64 " (%s)", valid[i].text, r,
                     bytes, valid[i].bytes, why ? why : "");
    }
}

static const struct {
    const char *text;
    const char *why; /* a substring of the reason */
} invalid[] = {
    /* SPEC-v1 2.2 examples */
    {"512MB", "unknown unit suffix"},
    {"1GB", "unknown unit suffix"},
    {"512m", "unknown unit suffix"},
    {"512", "unit suffix needed"},
    {"Mi", "must start with digits"},
    {"0Mi", "greater than 0"},
    {"-512Mi", "negative"},
    {"1.5Gi", "fractions"},
    {"512 Mi", "spaces"},
    {"1Pi", "unknown unit suffix"},
    /* more */
    {"", "empty"},
    {"+", "must start with digits"},
    {"+Mi", "must start with digits"},
    {"++1Mi", "must start with digits"},
    {"+-1Mi", "must start with digits"},
    {" 512Mi", "must start with digits"},
    {"512Mi ", "unknown unit suffix"},
    {"0000Ki", "greater than 0"},
    {"512mi", "unknown unit suffix"},
    {"512MI", "unknown unit suffix"},
    {"512Mib", "unknown unit suffix"},
    {"512M", "unknown unit suffix"},
    {"512i", "unknown unit suffix"},
    {"512Ei", "unknown unit suffix"},
    {"1,5Gi", "fractions"},
    {"512\tMi", "spaces"},
    {"0x10Mi", "unknown unit suffix"},
    /* overflow of the number and of number x multiplier */
    {"18446744073709551616Ki", "too large"},
    {"99999999999999999999999999Mi", "too large"},
    {"16777216Ti", "too large"},
    {"18014398509481984Ki", "too large"},
    {"17179869184Gi", "too large"},
};

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(invalid); i++) {
        uint64_t bytes = 12345;
        const char *why = NULL;
        int r = parse(invalid[i].text, &bytes, &why);
        if (r != -1 || bytes != 12345 || !why || !strstr(why, invalid[i].why))
            fail_msg("\"%s\": r=%d bytes=%" PRIu64 " why=\"%s\", want \"%s\"", invalid[i].text, r,
                     bytes, why ? why : "(null)", invalid[i].why);
    }
}

static void test_len_and_nul(void **state)
{
    uint64_t bytes = 0;
    const char *why = NULL;

    (void)state;
    assert_int_equal(zl_memsize_parse("512Mi and more", 5, &bytes, &why), 0);
    assert_int_equal(bytes, 512 * MI);
    assert_int_equal(zl_memsize_parse("512Mi", 4, &bytes, &why), -1);
    assert_int_equal(parse_n("1Mi\0", 4, &bytes, &why), -1);
    assert_int_equal(parse_n("1\0Mi", 4, &bytes, &why), -1);
    assert_int_equal(zl_memsize_parse("", 0, &bytes, NULL), -1);
}

static const struct {
    uint64_t bytes;
    const char *text;
} formats[] = {
    {KI, "1Ki"},
    {1536 * MI, "1536Mi"},
    {2 * GI, "2Gi"},
    {512 * MI, "512Mi"},
    {1024 * TI, "1024Ti"},
    {3 * KI, "3Ki"},
    {1025 * KI, "1025Ki"},
    {GI + MI, "1025Mi"},
    {TI + KI, "1073741825Ki"},
    {16777215 * TI, "16777215Ti"},
    {UINT64_MAX - 1023, "18014398509481983Ki"},
};

static void test_format(void **state)
{
    char buf[32];

    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(formats); i++) {
        size_t n = zl_memsize_format(formats[i].bytes, buf, sizeof(buf));
        assert_string_equal(buf, formats[i].text);
        assert_int_equal(n, strlen(formats[i].text));
    }
    assert_int_equal(zl_memsize_format(1536 * MI, buf, 3), 2);
    assert_string_equal(buf, "15");
    buf[0] = 'x';
    assert_int_equal(zl_memsize_format(MI, buf, 0), 0);
    assert_int_equal(buf[0], 'x');
}

static void check_round_trip(uint64_t bytes)
{
    char buf[32];
    uint64_t back = 0;
    const char *why = NULL;

    zl_memsize_format(bytes, buf, sizeof(buf));
    if (parse(buf, &back, &why) != 0 || back != bytes)
        fail_msg("%" PRIu64 " -> \"%s\" -> %" PRIu64 " (%s)", bytes, buf, back, why ? why : "");
}

static void test_round_trip(void **state)
{
    uint64_t x = 0x243f6a8885a308d3ULL;

    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(valid); i++)
        check_round_trip(valid[i].bytes);
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t b = (x >> (i % 54)) & ~(KI - 1);
        check_round_trip(b ? b : KI);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),       cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_len_and_nul), cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
