/* SPDX-License-Identifier: Apache-2.0 */
/* spec/cron.c: cron schedules of SPEC-v1 2.6 (the Rust cron crate's grammar), next fire time. */
#include "spec/spec.h"

#include <strings.h>
#include <string.h>

#define YEAR_MIN   1970
#define YEAR_MAX   2100
#define MAX_FIELDS 7

enum names {
    NAMES_NONE = 0,
    NAMES_MONTH,
    NAMES_DAY,
};

struct field {
    int min, max;
    int off; /* bit (value - off) in the set */
    enum names names;
    bool any; /* '?' allowed */
    const char *range_msg;
};

static const struct field fields[MAX_FIELDS] = {
    {0, 59, 0, NAMES_NONE, false, "seconds must be 0-59"},
    {0, 59, 0, NAMES_NONE, false, "minutes must be 0-59"},
    {0, 23, 0, NAMES_NONE, false, "hours must be 0-23"},
    {1, 31, 0, NAMES_NONE, true, "day of month must be 1-31"},
    {1, 12, 0, NAMES_MONTH, false, "month must be 1-12 or a name (jan-dec)"},
    {1, 7, 0, NAMES_DAY, true, "day of week must be 1-7 (Sunday = 1, Saturday = 7) or a name"},
    {YEAR_MIN, YEAR_MAX, YEAR_MIN, NAMES_NONE, false, "year must be 1970-2100"},
};

struct name {
    const char *name;
    int value;
};

static const struct name month_names[] = {
    {"jan", 1},       {"january", 1},   {"feb", 2},       {"february", 2}, {"mar", 3},
    {"march", 3},     {"apr", 4},       {"april", 4},     {"may", 5},      {"jun", 6},
    {"june", 6},      {"jul", 7},       {"july", 7},      {"aug", 8},      {"august", 8},
    {"sep", 9},       {"september", 9}, {"oct", 10},      {"october", 10}, {"nov", 11},
    {"november", 11}, {"dec", 12},      {"december", 12},
};

static const struct name day_names[] = {
    {"sun", 1},     {"sunday", 1}, {"mon", 2},       {"monday", 2},   {"tue", 3},   {"tues", 3},
    {"tuesday", 3}, {"wed", 4},    {"wednesday", 4}, {"thu", 5},      {"thurs", 5}, {"thursday", 5},
    {"fri", 6},     {"friday", 6}, {"sat", 7},       {"saturday", 7},
};

#define FIELDS_MSG \
    "expected 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), found "

static const char *const count_msgs[] = {
    "empty schedule",
    FIELDS_MSG "1",
    FIELDS_MSG "2",
    FIELDS_MSG "3",
    FIELDS_MSG "4",
    FIELDS_MSG "5 (the seconds field comes first: \"0 0 3 * * *\", not \"0 3 * * *\")",
    NULL,
    NULL,
    FIELDS_MSG "8",
    FIELDS_MSG "more than 8",
};

static const struct {
    const char *name, *expansion;
} shorthands[] = {
    {"@yearly", "0 0 0 1 1 * *"}, {"@monthly", "0 0 0 1 * * *"}, {"@weekly", "0 0 0 * * 1 *"},
    {"@daily", "0 0 0 * * * *"},  {"@hourly", "0 0 * * * * *"},
};

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Digits at p[*i], saturated well above any field maximum. */
static long parse_digits(const char *p, size_t n, size_t *i)
{
    long x = 0;

    for (; *i < n && is_digit(p[*i]); (*i)++)
        if (x < 100000)
            x = x * 10 + (p[*i] - '0');
    return x;
}

static int lookup_name(const struct field *f, const char *p, size_t n, int *v, const char **why)
{
    const struct name *tab = f->names == NAMES_MONTH ? month_names : day_names;
    size_t count = f->names == NAMES_MONTH ? ZL_ARRAY_LEN(month_names) : ZL_ARRAY_LEN(day_names);

    if (f->names == NAMES_NONE)
        return fail(why, "names are only allowed in the month and day-of-week fields");
    for (size_t k = 0; k < count; k++) {
        if (strlen(tab[k].name) == n && strncasecmp(tab[k].name, p, n) == 0) {
            *v = tab[k].value;
            return 0;
        }
    }
    return fail(why, f->names == NAMES_MONTH ? "unknown month name (jan-dec or a full name)"
                                             : "unknown day name (sun-sat or a full name)");
}

/* A number or a name at p[*i]; *named says which. */
static int parse_value(const struct field *f, const char *p, size_t n, size_t *i, int *v,
                       bool *named, const char **why)
{
    size_t start = *i;

    *named = false;
    if (*i < n && is_digit(p[*i])) {
        long x = parse_digits(p, n, i);
        if (x == 0 && f->names == NAMES_DAY)
            return fail(why, "day of week 0 is invalid: Sunday is 1 and Saturday is 7");
        if (x < f->min || x > f->max)
            return fail(why, f->range_msg);
        *v = (int)x;
        return 0;
    }
    while (*i < n && is_alpha(p[*i]))
        (*i)++;
    if (*i == start)
        return fail(why, *i == n ? "number expected" : "invalid character in cron field");
    *named = true;
    return lookup_name(f, p + start, *i - start, v, why);
}

static int parse_step(const struct field *f, const char *p, size_t n, size_t *i, int *step,
                      const char **why)
{
    size_t start = ++*i;
    long x = parse_digits(p, n, i);

    if (*i == start)
        return fail(why, "a number is needed after '/'");
    if (x == 0)
        return fail(why, "step must be at least 1");
    if (x > f->max)
        return fail(why, "step is larger than the field's maximum value");
    *step = (int)x;
    return 0;
}

static void set_bits(uint64_t *bits, const struct field *f, int lo, int hi, int step)
{
    for (int v = lo; v <= hi; v += step) {
        int b = v - f->off;
        bits[b / 64] |= 1ULL << (b % 64);
    }
}

/* item := base ( "/" step )? | NAME */
static int parse_item(const struct field *f, const char *p, size_t n, uint64_t *bits,
                      const char **why)
{
    size_t i = 1;
    int lo = f->min, hi = f->max, step = 1;
    bool named = false, single = false;

    if (n == 0)
        return fail(why, "empty list item");
    if (p[0] == '?' && !f->any)
        return fail(why, "'?' is only allowed in the day-of-month and day-of-week fields");
    if (p[0] != '*' && p[0] != '?') {
        i = 0;
        if (parse_value(f, p, n, &i, &lo, &named, why) < 0)
            return -1;
        hi = lo;
        single = true;
    }
    if (single && i < n && p[i] == '-') {
        bool named2;
        i++;
        if (parse_value(f, p, n, &i, &hi, &named2, why) < 0)
            return -1;
        if (named != named2)
            return fail(why, "a range needs two numbers or two names");
        if (lo > hi)
            return fail(why, "range start is greater than range end");
        single = false;
    }
    if (i < n && p[i] == '/') {
        if (single && named)
            return fail(why, "a single name cannot take a step");
        if (parse_step(f, p, n, &i, &step, why) < 0)
            return -1;
        if (single)
            hi = f->max;
    }
    if (i != n)
        return fail(why, "invalid character in cron field");
    set_bits(bits, f, lo, hi, step);
    return 0;
}

/* field := item ( "," item )* */
static int parse_field(const struct field *f, const char *p, size_t n, uint64_t *bits,
                       const char **why)
{
    size_t i = 0;

    for (;;) {
        const char *comma = memchr(p + i, ',', n - i);
        size_t end = comma ? (size_t)(comma - p) : n;
        if (parse_item(f, p + i, end - i, bits, why) < 0)
            return -1;
        if (end == n)
            return 0;
        i = end + 1;
    }
}

static void store(struct zl_cron *c, size_t k, const uint64_t *bits)
{
    switch (k) {
    case 0:
        c->sec = bits[0];
        break;
    case 1:
        c->min = bits[0];
        break;
    case 2:
        c->hour = (uint32_t)bits[0];
        break;
    case 3:
        c->mday = (uint32_t)bits[0];
        break;
    case 4:
        c->month = (uint16_t)bits[0];
        break;
    case 5:
        c->wday = (uint8_t)bits[0];
        break;
    default:
        for (int b = 0; b <= YEAR_MAX - YEAR_MIN; b++)
            if (bits[b / 64] >> (b % 64) & 1)
                c->year[b / 8] |= (uint8_t)(1u << (b % 8));
    }
}

struct span {
    size_t start, len;
};

/* Split at whitespace; stores at most max spans and returns the number of fields. */
static size_t split(const char *s, size_t len, struct span *out, size_t max)
{
    size_t count = 0, i = 0;

    while (i < len) {
        while (i < len && is_space(s[i]))
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && !is_space(s[i]))
            i++;
        if (count < max)
            out[count] = (struct span){start, i - start};
        count++;
    }
    return count;
}

static int parse_shorthand(const char *p, size_t n, size_t count, struct zl_cron *out,
                           const char **why)
{
    if (count > 1)
        return fail(why, "unexpected text after the shorthand");
    for (size_t k = 0; k < ZL_ARRAY_LEN(shorthands); k++) {
        const char *e = shorthands[k].expansion;
        if (strlen(shorthands[k].name) == n && memcmp(shorthands[k].name, p, n) == 0)
            return zl_cron_parse(e, strlen(e), out, why);
    }
    return fail(why, "unknown shorthand (expected @yearly, @monthly, @weekly, @daily or @hourly)");
}

int zl_cron_parse(const char *s, size_t len, struct zl_cron *out, const char **why)
{
    struct span f[MAX_FIELDS];
    size_t count = split(s, len, f, MAX_FIELDS);

    memset(out, 0, sizeof(*out));
    if (count > 0 && s[f[0].start] == '@')
        return parse_shorthand(s + f[0].start, f[0].len, count, out, why);
    if (count < 6 || count > MAX_FIELDS)
        return fail(
            why,
            count_msgs[count < ZL_ARRAY_LEN(count_msgs) ? count : ZL_ARRAY_LEN(count_msgs) - 1]);
    for (size_t k = 0; k < MAX_FIELDS; k++) {
        uint64_t bits[3] = {0, 0, 0};
        if (k == count) {
            set_bits(bits, &fields[k], YEAR_MIN, YEAR_MAX, 1);
        } else if (parse_field(&fields[k], s + f[k].start, f[k].len, bits, why) < 0) {
            memset(out, 0, sizeof(*out));
            return -1;
        }
        store(out, k, bits);
    }
    return 0;
}

/* ---- next fire time ---- */

struct when {
    int y, mo, d, h, mi, s;
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, struct when *w)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    w->d = (int)(doy - (153 * mp + 2) / 5 + 1);
    w->mo = (int)(mp < 10 ? mp + 3 : mp - 9);
    w->y = (int)(yoe + era * 400 + (w->mo <= 2));
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* The smallest n in [from, limit] whose bit is set in mask, or -1. */
static int next_bit(uint64_t mask, int from, int limit)
{
    if (from > limit)
        return -1;
    uint64_t m = mask >> from;
    if (m == 0)
        return -1;
    int n = from + __builtin_ctzll(m);
    return n <= limit ? n : -1;
}

/* First matching time of day at or after w's time; false when none is left today. */
static bool find_time(const struct zl_cron *c, struct when *w)
{
    for (;;) {
        int h = next_bit(c->hour, w->h, 23), mi, s;
        if (h < 0)
            return false;
        if (h != w->h)
            *w = (struct when){w->y, w->mo, w->d, h, 0, 0};
        if ((mi = next_bit(c->min, w->mi, 59)) < 0) {
            *w = (struct when){w->y, w->mo, w->d, w->h + 1, 0, 0};
            continue;
        }
        if (mi != w->mi)
            *w = (struct when){w->y, w->mo, w->d, w->h, mi, 0};
        if ((s = next_bit(c->sec, w->s, 59)) < 0) {
            *w = (struct when){w->y, w->mo, w->d, w->h, w->mi + 1, 0};
            continue;
        }
        w->s = s;
        return true;
    }
}

/* First match in w's month at or after w; the day must be in both day sets. */
static bool find_day(const struct zl_cron *c, struct when *w)
{
    int dim = days_in_month(w->y, w->mo);

    for (;;) {
        int d = next_bit(c->mday, w->d, dim);
        if (d < 0)
            return false;
        if (d != w->d)
            *w = (struct when){w->y, w->mo, d, 0, 0, 0};
        int64_t days = days_from_civil(w->y, w->mo, w->d);
        int wday = (int)((days % 7 + 11) % 7) + 1; /* 1970-01-01 was a Thursday (5) */
        if ((c->wday >> wday & 1) && find_time(c, w))
            return true;
        *w = (struct when){w->y, w->mo, w->d + 1, 0, 0, 0};
    }
}

static bool find_month(const struct zl_cron *c, struct when *w)
{
    for (;;) {
        int mo = next_bit(c->month, w->mo, 12);
        if (mo < 0)
            return false;
        if (mo != w->mo)
            *w = (struct when){w->y, mo, 1, 0, 0, 0};
        if (find_day(c, w))
            return true;
        *w = (struct when){w->y, w->mo + 1, 1, 0, 0, 0};
    }
}

int zl_cron_next(const struct zl_cron *c, int64_t after, int64_t *next)
{
    const int64_t end = days_from_civil(YEAR_MAX + 1, 1, 1) * 86400;
    struct when w;

    if (after >= end - 1)
        return -1;
    int64_t t = after < 0 ? 0 : after + 1;
    civil_from_days(t / 86400, &w);
    w.h = (int)(t % 86400 / 3600);
    w.mi = (int)(t % 3600 / 60);
    w.s = (int)(t % 60);
    for (; w.y <= YEAR_MAX; w = (struct when){w.y + 1, 1, 1, 0, 0, 0}) {
        int b = w.y - YEAR_MIN;
        if (!(c->year[b / 8] >> (b % 8) & 1) || !find_month(c, &w))
            continue;
        *next = days_from_civil(w.y, w.mo, w.d) * 86400 + w.h * 3600 + w.mi * 60 + w.s;
        return 0;
    }
    return -1;
}
