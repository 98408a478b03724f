/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/spec/test_cron.c: cron schedules (SPEC-v1 2.6): parse, reject, next fire time. */
#include "spec/spec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define B(n)      (1ULL << (n))
#define ALL_SEC   (B(60) - 1)
#define ALL_HOUR  (B(24) - 1)
#define ALL_MDAY  (B(32) - 2)
#define ALL_MONTH (B(13) - 2)
#define ALL_WDAY  (B(8) - 2)
#define EVERY5    0x84210842108421ULL /* 0, 5, ..., 55 */
#define EVERY10   0x4010040100401ULL  /* 0, 10, ..., 50 */

/* Parse a copy without a trailing NUL so that ASan catches any read past len. */
static int parse_n(const char *s, size_t n, struct zl_cron *c, const char **why)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int r = zl_cron_parse(copy, n, c, why);
    free(copy);
    return r;
}

static int parse(const char *s, struct zl_cron *c, const char **why)
{
    return parse_n(s, strlen(s), c, why);
}

struct expect {
    const char *text;
    uint64_t sec, min, hour, mday, month, wday;
    int ylo, yhi, ystep; /* ylo 0: every year 1970-2100 */
};

static const struct expect valid[] = {
    /* SPEC-v1 2.6 examples */
    {"0 0 0 * * * *", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"0 */5 * * * *", B(0), EVERY5, ALL_HOUR, ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"0 0 12 * * MON-FRI *", B(0), B(0), B(12), ALL_MDAY, ALL_MONTH, 0x7c, 0, 0, 0},
    {"0 30 2 1 * ?", B(0), B(30), B(2), B(1), ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"*/10 * * * * *", EVERY10, ALL_SEC, ALL_HOUR, ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    /* shorthands */
    {"@hourly", B(0), B(0), ALL_HOUR, ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"@daily", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"@weekly", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(1), 0, 0, 0},
    {"@monthly", B(0), B(0), B(0), B(1), ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"@yearly", B(0), B(0), B(0), B(1), B(1), ALL_WDAY, 0, 0, 0},
    {" \t@daily\n ", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    /* ranges, steps and lists */
    {"10-40/10 * * * * *", 0x10040100400ULL, ALL_SEC, ALL_HOUR, ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0,
     0},
    {"5/20 * * * * *", B(5) | B(25) | B(45), ALL_SEC, ALL_HOUR, ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0,
     0},
    {"*/59 * * * * *", B(0) | B(59), ALL_SEC, ALL_HOUR, ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"1,2,3 0 0 * * *", B(1) | B(2) | B(3), B(0), B(0), ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"0-4,50-59/3,30 0 0 * * *", 0x1f | B(50) | B(53) | B(56) | B(59) | B(30), B(0), B(0), ALL_MDAY,
     ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"00 05 010 * * *", B(0), B(5), B(10), ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"59 59 23 31 12 * 2100", B(59), B(59), B(23), B(31), B(12), ALL_WDAY, 2100, 2100, 1},
    {"0 0 0 */2 * ?", B(0), B(0), B(0), 0xaaaaaaaa, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"0 0 0 ?/10 * *", B(0), B(0), B(0), B(1) | B(11) | B(21) | B(31), ALL_MONTH, ALL_WDAY, 0, 0,
     0},
    {"0 0 0 29 2 * *", B(0), B(0), B(0), B(29), B(2), ALL_WDAY, 0, 0, 0},
    /* day of week: 1-7 with Sunday = 1, names, name ranges */
    {"0 0 0 ? * 1", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(1), 0, 0, 0},
    {"0 0 0 * * 7", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(7), 0, 0, 0},
    {"0 0 0 * * sun,SAT", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(1) | B(7), 0, 0, 0},
    {"0 0 0 * * Tues,thurs", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(3) | B(5), 0, 0, 0},
    {"0 0 0 * * Tue,WED,thu", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(3) | B(4) | B(5), 0, 0, 0},
    {"0 0 0 * * Sunday-Saturday", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
    {"0 0 0 * * monday,FRIDAY", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(2) | B(6), 0, 0, 0},
    {"0 0 0 * * MON-FRI/2", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(2) | B(4) | B(6), 0, 0, 0},
    {"0 0 0 * * 1-7/3", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(1) | B(4) | B(7), 0, 0, 0},
    {"0 0 0 * * */7", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(1), 0, 0, 0},
    {"0 0 0 * * 2,2,2", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, B(2), 0, 0, 0},
    /* months */
    {"0 0 0 * jan-MAR,Dec *", B(0), B(0), B(0), ALL_MDAY, B(1) | B(2) | B(3) | B(12), ALL_WDAY, 0,
     0, 0},
    {"0 0 0 * January,february,SEPTEMBER *", B(0), B(0), B(0), ALL_MDAY, B(1) | B(2) | B(9),
     ALL_WDAY, 0, 0, 0},
    {"0 0 0 * may-aug/2 *", B(0), B(0), B(0), ALL_MDAY, B(5) | B(7), ALL_WDAY, 0, 0, 0},
    /* the optional year field */
    {"0 0 0 1 1 * 2030", B(0), B(0), B(0), B(1), B(1), ALL_WDAY, 2030, 2030, 1},
    {"0 0 0 1 1 * 2020-2030/5", B(0), B(0), B(0), B(1), B(1), ALL_WDAY, 2020, 2030, 5},
    {"0 0 0 1 1 * */10", B(0), B(0), B(0), B(1), B(1), ALL_WDAY, 1970, 2100, 10},
    {"0 0 0 1 1 * 2099/1", B(0), B(0), B(0), B(1), B(1), ALL_WDAY, 2099, 2100, 1},
    {"0 0 0 1 1 * 1970-2100", B(0), B(0), B(0), B(1), B(1), ALL_WDAY, 0, 0, 0},
    {"0 0 0 1 1 * *", B(0), B(0), B(0), B(1), B(1), ALL_WDAY, 0, 0, 0},
    /* any whitespace between fields */
    {"  0\t0  0 * *\n*  ", B(0), B(0), B(0), ALL_MDAY, ALL_MONTH, ALL_WDAY, 0, 0, 0},
};

static bool year_set(const struct zl_cron *c, int y)
{
    int b = y - 1970;
    return c->year[b / 8] >> (b % 8) & 1;
}

static void check_expect(const struct expect *e, const struct zl_cron *c)
{
    if (c->sec != e->sec || c->min != e->min || c->hour != e->hour || c->mday != e->mday ||
        c->month != e->month || c->wday != e->wday)
        fail_msg("\"%s\": sec %" PRIx64 " min %" PRIx64 " hour %" PRIx32 " mday %" PRIx32
                 " month %x wday %x",
                 e->text, c->sec, c->min, c->hour, c->mday, (unsigned)c->month, (unsigned)c->wday);
    for (int y = 1970; y <= 2100; y++) {
        bool want = e->ylo == 0 || (y >= e->ylo && y <= e->yhi && (y - e->ylo) % e->ystep == 0);
        if (year_set(c, y) != want)
            fail_msg("\"%s\": year %d is %s", e->text, y, want ? "missing" : "set");
    }
    /* bits beyond 2100 stay clear */
    assert_int_equal(c->year[16] & 0xf8, 0);
}

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(valid); i++) {
        struct zl_cron c;
        const char *why = NULL;
        if (parse(valid[i].text, &c, &why) != 0)
            fail_msg("\"%s\": rejected (%s)", valid[i].text, why ? why : "");
        check_expect(&valid[i], &c);
    }
}

static const struct {
    const char *text;
    const char *why; /* a substring of the reason */
} invalid[] = {
    /* field count; the 5-field Unix form names the missing seconds field */
    {"0 3 * * *", "expected 6 or 7 fields (seconds minutes hours day-of-month month day-of-week "
                  "[year]), found 5"},
    {"", "empty schedule"},
    {" \t\n", "empty schedule"},
    {"*", "found 1"},
    {"* * * *", "found 4"},
    {"* * * * * * * *", "found 8"},
    {"* * * * * * * * * *", "found more than 8"},
    /* steps */
    {"*/0 * * * * *", "step must be at least 1"},
    {"*/60 * * * * *", "step is larger"},
    {"0 0 0 * * */8", "step is larger"},
    {"0 0 0 */32 * *", "step is larger"},
    {"0 0 */24 * * *", "step is larger"},
    {"*/99999999999 * * * * *", "step is larger"},
    {"0 0 0 1 1 * 2020-2030/0", "step must be at least 1"},
    {"0 0 0 1 1 * */2101", "step is larger"},
    {"*/ * * * * *", "number is needed after '/'"},
    {"*/x * * * * *", "number is needed after '/'"},
    /* ranges */
    {"40-10 * * * * *", "range start is greater than range end"},
    {"0 0 0 * * FRI-MON", "range start is greater than range end"},
    {"0 0 0 * dec-jan *", "range start is greater than range end"},
    {"0 0 0 * * MON-5", "two numbers or two names"},
    {"0 0 0 * * 2-FRI", "two numbers or two names"},
    {"1- * * * * *", "number expected"},
    {"1-2-3 * * * * *", "invalid character"},
    {"*-5 * * * * *", "invalid character"},
    {"1/2/3 * * * * *", "invalid character"},
    {"-1 * * * * *", "invalid character"},
    /* value ranges */
    {"60 * * * * *", "seconds must be 0-59"},
    {"99999999999 * * * * *", "seconds must be 0-59"},
    {"* 60 * * * *", "minutes must be 0-59"},
    {"* * 24 * * *", "hours must be 0-23"},
    {"* * * 0 * *", "day of month must be 1-31"},
    {"* * * 32 * *", "day of month must be 1-31"},
    {"* * * 1-32 * *", "day of month must be 1-31"},
    {"* * * * 0 *", "month must be 1-12"},
    {"* * * * 13 *", "month must be 1-12"},
    {"0 0 0 * * 0", "day of week 0 is invalid"},
    {"0 0 0 * * 0-6", "day of week 0 is invalid"},
    {"0 0 0 * * 8", "day of week must be 1-7"},
    {"0 0 0 1 1 * 1969", "year must be 1970-2100"},
    {"0 0 0 1 1 * 2101", "year must be 1970-2100"},
    {"0 0 0 1 1 * 0", "year must be 1970-2100"},
    /* '?' */
    {"? * * * * *", "'?' is only allowed"},
    {"0 ? * * * *", "'?' is only allowed"},
    {"0 0 0 * ? *", "'?' is only allowed"},
    {"0 0 0 1 1 * ?", "'?' is only allowed"},
    {"0 0 0 ?? * *", "invalid character"},
    /* names */
    {"0 0 0 * * MON/2", "a single name cannot take a step"},
    {"0 0 0 * JAN/2 *", "a single name cannot take a step"},
    {"0 0 0 * foo *", "unknown month name"},
    {"0 0 0 * sept *", "unknown month name"},
    {"0 0 0 * * funday", "unknown day name"},
    {"0 0 0 * * mo", "unknown day name"},
    {"0 0 0 * * thur", "unknown day name"},
    {"0 0 MON * * *", "names are only allowed"},
    {"0 0 0 L * *", "names are only allowed"},
    {"0 0 0 1 1 * y2k", "names are only allowed"},
    /* lists and characters */
    {"1,,2 * * * * *", "empty list item"},
    {"1, * * * * *", "empty list item"},
    {",1 * * * * *", "empty list item"},
    {"0 0 0 * * 1#2", "invalid character"},
    {"0 0 0 * * 5L", "invalid character"},
    {"0 0 0 * * * @daily", "invalid character"},
    {"0 0 0 * * 1.5", "invalid character"},
    /* shorthands */
    {"@annually", "unknown shorthand"},
    {"@reboot", "unknown shorthand"},
    {"@DAILY", "unknown shorthand"},
    {"@", "unknown shorthand"},
    {"@daily *", "unexpected text after the shorthand"},
    {"@daily @daily", "unexpected text after the shorthand"},
};

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(invalid); i++) {
        struct zl_cron c;
        const char *why = NULL;
        int r = parse(invalid[i].text, &c, &why);
        if (r != -1 || !why || !strstr(why, invalid[i].why))
            fail_msg("\"%s\": r=%d why=\"%s\", want \"%s\"", invalid[i].text, r,
                     why ? why : "(null)", invalid[i].why);
    }
}

static void test_len_and_nul(void **state)
{
    struct zl_cron c;
    const char *why = NULL;

    (void)state;
    assert_int_equal(zl_cron_parse("0 0 0 * * * garbage", 11, &c, &why), 0);
    assert_int_equal(c.wday, ALL_WDAY);
    assert_int_equal(parse_n("0 0 0 * * *\0", 12, &c, &why), -1);
    assert_int_equal(zl_cron_parse("", 0, &c, NULL), -1);
    assert_int_equal(zl_cron_parse("@daily", 3, &c, &why), -1);
}

static const struct {
    const char *text;
    int64_t after, next; /* next -1: none up to the end of 2100 */
} nexts[] = {
    /* 2024-01-01T00:00:00Z is 1704067200, a Monday */
    {"0 0 0 * * * *", 1704067200, 1704153600}, /* strictly after: 2024-01-02 */
    {"0 0 0 * * * *", 1704067199, 1704067200},
    {"*/10 * * * * *", 1704067200, 1704067210},
    {"*/10 * * * * *", 1704067205, 1704067210},
    {"*/10 * * * * *", 1704067259, 1704067260},
    {"0 */5 * * * *", 1704067200, 1704067500},
    /* Feb 29: the next one after 2025 is 2028-02-29; none after 2096 (2100 is not leap) */
    {"0 0 0 29 2 * *", 1735689600, 1835395200},
    {"0 0 0 29 2 * *", 3981312000, -1},
    {"0 0 0 29 2 * 2000", 0, 951782400},
    {"0 0 0 31 * * 2100", 1704067200, 4105036800}, /* 2100-01-31 */
    /* month ends */
    {"0 0 0 31 * *", 1713139200, 1717113600}, /* 2024-04-15 -> 2024-05-31 */
    {"0 0 0 31 * *", 1706659200, 1711843200}, /* 2024-01-31 -> 2024-03-31 */
    {"0 0 0 30 * *", 1706572800, 1711756800}, /* 2024-01-30 -> 2024-03-30 */
    {"0 0 0 29 * *", 1674950400, 1680048000}, /* 2023-01-29 -> 2023-03-29 */
    {"0 0 0 29 * *", 1706486400, 1709164800}, /* 2024-01-29 -> 2024-02-29 */
    {"0 0 0 31 2 *", 0, -1},
    {"0 0 0 30 2 *", 0, -1},
    {"0 0 0 31 4,6,9,11 *", 0, -1},
    /* day of week: Sunday = 1, Saturday = 7 */
    {"0 0 12 * * MON-FRI *", 1704542400, 1704715200}, /* Sat 2024-01-06 12:00 -> Mon 01-08 */
    {"0 0 0 * * 1", 1704067200, 1704585600},          /* -> Sunday 2024-01-07 */
    {"0 0 0 * * SUN", 1704067200, 1704585600},
    {"@weekly", 1704067200, 1704585600},
    {"0 0 0 * * 7", 1704067200, 1704499200}, /* -> Saturday 2024-01-06 */
    {"0 0 0 * * 2", 1704067199, 1704067200}, /* Monday is 2 */
    /* both day sets must match: Friday the 13th */
    {"0 0 0 13 * FRI", 1704067200, 1726185600}, /* 2024-09-13 */
    /* shorthands */
    {"@yearly", 1718409600, 1735689600},  /* 2024-06-15 -> 2025-01-01 */
    {"@monthly", 1706745599, 1706745600}, /* 2024-01-31T23:59:59 -> 2024-02-01 */
    {"@hourly", 1735687800, 1735689600},  /* 2024-12-31T23:30 -> 2025-01-01T00:00 */
    {"@daily", 1706745599, 1706745600},
    {"0 30 2 1 * ?", 1704076200, 1706754600}, /* 2024-01-01T02:30 -> 2024-02-01T02:30 */
    /* years */
    {"0 0 0 1 1 * 2020-2030/5", 1609459200, 1735689600}, /* 2021 -> 2025-01-01 */
    {"0 0 0 1 1 * 2020-2030/5", 1735689600, 1893456000}, /* 2025 -> 2030-01-01 */
    {"0 0 0 1 1 * 2100", 4102358400, 4102444800},
    {"59 59 23 31 12 * 2100", 0, 4133980799},
    {"59 59 23 31 12 * 2100", 4133980799, -1},
    {"0 0 0 1 1 * 1970", -100, 0},
    {"0 0 0 1 1 * 1970", 0, -1},
    {"1 2 3 4 5 *", 0, 10638121}, /* 1970-05-04T03:02:01 */
    /* extremes of `after` */
    {"* * * * * *", INT64_MIN, 0},
    {"* * * * * *", -1, 0},
    {"* * * * * *", 4133980798, 4133980799},
    {"* * * * * *", 4133980799, -1},
    {"* * * * * *", INT64_MAX, -1},
    /* carries: second -> minute -> hour -> day -> month -> year */
    {"0,30 * * * * *", 1735689599, 1735689600},
    {"10 20 5 * * *", 1735708820, 1735795210}, /* 2025-01-01T05:20:20 -> 01-02T05:20:10 */
};

static void test_next(void **state)
{
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(nexts); i++) {
        struct zl_cron c;
        const char *why = NULL;
        int64_t next = 42;
        if (parse(nexts[i].text, &c, &why) != 0)
            fail_msg("\"%s\": rejected (%s)", nexts[i].text, why ? why : "");
        int r = zl_cron_next(&c, nexts[i].after, &next);
        if (nexts[i].next == -1 ? r != -1 : (r != 0 || next != nexts[i].next))
            fail_msg("\"%s\" after %" PRId64 ": r=%d next=%" PRId64 ", want %" PRId64,
                     nexts[i].text, nexts[i].after, r, next, nexts[i].next);
    }
}

/* An independent, slow oracle: does Unix time t match c? (gmtime_r is fine in a test.) */
static bool matches(const struct zl_cron *c, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    int y = tm.tm_year + 1900;
    return (c->sec >> tm.tm_sec & 1) && (c->min >> tm.tm_min & 1) && (c->hour >> tm.tm_hour & 1) &&
           (c->mday >> tm.tm_mday & 1) && (c->month >> (tm.tm_mon + 1) & 1) &&
           (c->wday >> (tm.tm_wday + 1) & 1) && y >= 1970 && y <= 2100 && year_set(c, y);
}

/* Dense schedules against a second-by-second search from pseudo-random starting points. */
static void test_next_oracle(void **state)
{
    static const char *const dense[] = {
        "*/10 * * * * *",          "0 */5 * * * *", "30 15 * * * *", "0 0 12 * * MON-FRI",
        "15,45 10-20/5 3 * * 1,4", "0 0 0 * * ?",   "7 7 7 ? * sat", "0 0 */6 1-15 * *",
    };
    uint64_t x = 0x853c49e6748fea9bULL;

    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(dense); i++) {
        struct zl_cron c;
        assert_int_equal(parse(dense[i], &c, NULL), 0);
        for (int k = 0; k < 8; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t after = (int64_t)(x % 4133900000ULL), next = 0, t = after + 1;
            while (!matches(&c, (time_t)t))
                t++;
            assert_int_equal(zl_cron_next(&c, after, &next), 0);
            if (next != t)
                fail_msg("\"%s\" after %" PRId64 ": %" PRId64 ", oracle %" PRId64, dense[i], after,
                         next, t);
        }
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Sparse or impossible schedules skip whole days, months and years. */
static void test_next_speed(void **state)
{
    static const char *const sparse[] = {
        "0 0 0 29 2 * *", "0 0 0 31 * * 2100",     "0 0 0 31 2 *",
        "0 0 0 13 * FRI", "59 59 23 31 12 * 2100",
    };

    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(sparse); i++) {
        struct zl_cron c;
        int64_t next;
        assert_int_equal(parse(sparse[i], &c, NULL), 0);
        double start = now_ms();
        for (int k = 0; k < 1000; k++)
            (void)zl_cron_next(&c, (int64_t)k * 86400, &next);
        double per_call = (now_ms() - start) / 1000;
        if (per_call > 0.5)
            fail_msg("\"%s\": %.3f ms per call", sparse[i], per_call);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),       cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_len_and_nul), cmocka_unit_test(test_next),
        cmocka_unit_test(test_next_oracle), cmocka_unit_test(test_next_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
