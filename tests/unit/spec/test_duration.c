/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/spec/test_duration.c: durations (SPEC-v1 2.1): parse, reject, canonical text. */
#include "spec/spec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define US 1000ULL
#define MS 1000000ULL
#define S  1000000000ULL
#define M  (60 * S)
#define H  (3600 * S)
#define D  (86400 * S)

/* Parse a copy without a trailing NUL so that ASan catches any read past len. */
static int parse_n(const char *s, size_t n, uint64_t *ns, const char **why)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int r = zl_duration_parse(copy, n, ns, why);
    free(copy);
    return r;
}

static int parse(const char *s, uint64_t *ns, const char **why)
{
    return parse_n(s, strlen(s), ns, why);
}

static const struct {
    const char *text;
    uint64_t ns;
} valid[] = {
    /* SPEC-v1 2.1 examples */
    {"0", 0},
    {"500ms", 500 * MS},
    {"5s", 5 * S},
    {"1m", M},
    {"90s", 90 * S},
    {"1h30m", H + 30 * M},
    {"4h", 4 * H},
    {"1d", D},
    {"2 weeks", 14 * D},
    {"1.5h", H + 30 * M},
    {"1h 30m", H + 30 * M},
    {"2h 37min 5s", 2 * H + 37 * M + 5 * S},
    {"5 mins", 5 * M},
    /* every unit spelling */
    {"7ns", 7},
    {"7nsec", 7},
    {"7nanos", 7},
    {"7us", 7 * US},
    {"7usec", 7 * US},
    {"7\xc2\xb5s", 7 * US},
    {"7ms", 7 * MS},
    {"7msec", 7 * MS},
    {"7millis", 7 * MS},
    {"7s", 7 * S},
    {"7sec", 7 * S},
    {"7secs", 7 * S},
    {"7second", 7 * S},
    {"7seconds", 7 * S},
    {"7min", 7 * M},
    {"7mins", 7 * M},
    {"7minute", 7 * M},
    {"7minutes", 7 * M},
    {"7h", 7 * H},
    {"7hr", 7 * H},
    {"7hrs", 7 * H},
    {"7hour", 7 * H},
    {"7hours", 7 * H},
    {"7day", 7 * D},
    {"7days", 7 * D},
    {"1w", 7 * D},
    {"1wk", 7 * D},
    {"1wks", 7 * D},
    {"1week", 7 * D},
    {"1M", 2630016 * S},
    {"1month", 2630016 * S},
    {"2months", 2 * 2630016 * S},
    {"1y", 31557600 * S},
    {"1yr", 31557600 * S},
    {"1yrs", 31557600 * S},
    {"1year", 31557600 * S},
    {"2years", 2 * 31557600 * S},
    /* m, M and ms are different units */
    {"1m1M1ms", M + 2630016 * S + MS},
    /* zeros, leading zeros, repeated units */
    {"0s", 0},
    {"000s", 0},
    {"0h0m", 0},
    {"007s", 7 * S},
    {"1s1s", 2 * S},
    /* exact fractions */
    {"0.25s", 250 * MS},
    {"2.5ms", 2500 * US},
    {"1.5m", 90 * S},
    {"0.5us", 500},
    {"1.000000001s", S + 1},
    {"0.000000001s", 1},
    {"0.0001s", 100 * US},
    {"1.0h", H},
    {"1.50000000000000000000000000000s", S + 500 * MS},
    {"0.5d", 12 * H},
    {"1.25M", 3287520 * S},
    {"0.5y", 15778800 * S},
    {"0.5w", 302400 * S},
    {"0.01h", 36 * S},
    {"1.5h30m", 2 * H},
    /* whitespace: ASCII and Unicode, around items and between number and unit */
    {" 1h ", H},
    {"\t1h\n30m\r", H + 30 * M},
    {"1h\xc2\xa0"
     "30m",
     H + 30 * M},
    {"\xe3\x80\x80"
     "1h",
     H},
    {"\xe2\x80\x83"
     "2s",
     2 * S},
    {"1 h 30 m", H + 30 * M},
    /* the largest values */
    {"18446744073709551615ns", UINT64_MAX},
    {"18446744073s", 18446744073 * S},
    {"584y", 584ULL * 31557600 * S},
    {"213503d23h34m33s709ms551us615ns", UINT64_MAX},
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(valid); i++) {
        uint64_t ns = 12345;
        const char *why = NULL;
        int r = parse(valid[i].text, &ns, &why);
        if (r != 0 || ns != valid[i].ns)
            fail_msg("\"%s\": r=%d ns=%" PRIu64 " want %" PRIu64 " (%s)", valid[i].text, r, ns,
                     valid[i].ns, why ? why : "");
    }
}

static const struct {
    const char *text;
    const char *why; /* a substring of the reason */
} invalid[] = {
    /* SPEC-v1 2.1 examples */
    {"30", "time unit needed"},
    {"", "empty"},
    {"-5s", "negative"},
    {"5S", "unknown time unit"},
    {"1h30", "time unit needed"},
    {"1.2.3s", "invalid number"},
    {"30secz", "unknown time unit"},
    {"1_000ms", "invalid character"},
    {"1,5s", "invalid character"},
    {"-1h", "negative"},
    /* empty and whitespace only */
    {"   ", "empty"},
    {"\t\n", "empty"},
    {"\xc2\xa0", "empty"},
    /* only the exact text "0" is unit-less */
    {" 0", "time unit needed"},
    {"0 ", "time unit needed"},
    {"00", "time unit needed"},
    {"1", "time unit needed"},
    {"1h 2", "time unit needed"},
    {"1 hours5", "time unit needed"},
    /* whitespace inside a number */
    {"1 0s", "whitespace inside a number"},
    {"5 5s", "whitespace inside a number"},
    {"1.5 0s", "whitespace inside a number"},
    /* inexact fractions */
    {"0.0001h", "whole number of seconds"},
    {"0.001h", "whole number of seconds"},
    {"0.1234567891h", "whole number of seconds"},
    {"1.0000000001s", "whole number of nanoseconds"},
    {"0.0000000001s", "whole number of nanoseconds"},
    {"0.0000000000000000000000000001s", "whole number of nanoseconds"},
    {"0.5ns", "nanoseconds"},
    {"1.0ns", "nanoseconds"},
    {"1.s", "digits expected"},
    {".5s", "number expected"},
    {"1..5s", "digits expected"},
    /* units and characters */
    {"h", "number expected"},
    {"\xc2\xb5s", "number expected"},
    {"1H", "unknown time unit"},
    {"1Ms", "unknown time unit"},
    {"1e3s", "unknown time unit"},
    {"5hours_", "invalid character"},
    {"1h-5m", "invalid character"},
    {"5s.", "invalid character"},
    {"+5s", "invalid character"},
    {"1h30m!", "invalid character"},
    {"1\xce\xbcs", "invalid character"}, /* Greek mu is not the micro sign */
    {"1\xc2", "invalid character"},
    {"1s\xc2", "invalid character"},
    /* overflow */
    {"18446744073709551616ns", "number is too large"},
    {"99999999999999999999999s", "number is too large"},
    {"18446744074s", "too large"},
    {"585y", "too large"},
    {"18446744073709551615ns 1ns", "too large"},
    {"18446744073709551615ns 0.5us", "too large"},
    {"18446744073.709551616s", "too large"},
};

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(invalid); i++) {
        uint64_t ns = 12345;
        const char *why = NULL;
        int r = parse(invalid[i].text, &ns, &why);
        if (r != -1 || ns != 12345 || !why || !strstr(why, invalid[i].why))
            fail_msg("\"%s\": r=%d ns=%" PRIu64 " why=\"%s\", want \"%s\"", invalid[i].text, r, ns,
                     why ? why : "(null)", invalid[i].why);
    }
}

static void test_len_and_nul(void **state)
{
    uint64_t ns = 0;
    const char *why = NULL;

    (void)state;
    /* only len bytes count */
    assert_int_equal(zl_duration_parse("1h30m", 2, &ns, &why), 0);
    assert_int_equal(ns, H);
    assert_int_equal(zl_duration_parse("0s", 1, &ns, &why), 0);
    assert_int_equal(ns, 0);
    /* an embedded NUL is a character like any other */
    assert_int_equal(parse_n("1h\0", 3, &ns, &why), -1);
    assert_string_equal(why, "invalid character");
    assert_int_equal(parse_n("\0", 1, &ns, &why), -1);
    /* why may be NULL */
    assert_int_equal(zl_duration_parse("x", 1, &ns, NULL), -1);
    assert_int_equal(zl_duration_parse("", 0, &ns, NULL), -1);
}

static const struct {
    uint64_t ns;
    const char *text;
} formats[] = {
    {0, "0s"},
    {1, "1ns"},
    {500 * MS, "500ms"},
    {5 * S, "5s"},
    {90 * S, "1m30s"},
    {H + 30 * M, "1h30m"},
    {D + 2 * H, "1d2h"},
    {S + 500 * MS, "1s500ms"},
    {US + 1, "1us1ns"},
    {7 * D, "7d"},
    {2630016 * S, "30d10h33m36s"},
    {UINT64_MAX, "213503d23h34m33s709ms551us615ns"},
};

static void test_format(void **state)
{
    char buf[64];

    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(formats); i++) {
        size_t n = zl_duration_format(formats[i].ns, buf, sizeof(buf));
        assert_string_equal(buf, formats[i].text);
        assert_int_equal(n, strlen(formats[i].text));
    }
}

static void test_format_truncates(void **state)
{
    char buf[8];

    (void)state;
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(zl_duration_format(H + 30 * M, buf, 3), 2);
    assert_string_equal(buf, "1h");
    assert_int_equal(buf[3], 'x');
    assert_int_equal(zl_duration_format(H, buf, 1), 0);
    assert_string_equal(buf, "");
    buf[0] = 'x';
    assert_int_equal(zl_duration_format(H, buf, 0), 0);
    assert_int_equal(buf[0], 'x');
    /* 32 bytes hold the longest text */
    char big[32];
    assert_int_equal(zl_duration_format(UINT64_MAX, big, sizeof(big)), 31);
}

static void check_round_trip(uint64_t ns)
{
    char buf[64];
    uint64_t back = 0;
    const char *why = NULL;

    zl_duration_format(ns, buf, sizeof(buf));
    if (parse(buf, &back, &why) != 0 || back != ns)
        fail_msg("%" PRIu64 " -> \"%s\" -> %" PRIu64 " (%s)", ns, buf, back, why ? why : "");
}

static void test_round_trip(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;

    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(formats); i++)
        check_round_trip(formats[i].ns);
    for (size_t i = 0; i < ZL_ARRAY_LEN(valid); i++)
        check_round_trip(valid[i].ns);
    for (int i = 0; i < 20000; i++) {
        /* xorshift64, then values of every magnitude */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_round_trip(x);
        check_round_trip(x >> (i % 64));
        check_round_trip((x >> 40) * S);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_len_and_nul),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_truncates),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
