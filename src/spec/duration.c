/* SPDX-License-Identifier: Apache-2.0 */
/* spec/duration.c: the duration grammar of SPEC-v1 2.1 (humantime units) and its canonical text. */
#include "spec/spec.h"

#include <inttypes.h>
#include <string.h>

#define NS_PER_S 1000000000ULL

static const char TOO_LARGE[] = "duration is too large (more than 2^64-1 nanoseconds)";

struct unit {
    const char *names[5]; /* the spellings, case-sensitive */
    uint64_t ns;          /* nanoseconds per unit */
    uint64_t grain;       /* a fractional part must be a whole number of these ns; 0 = none */
};

static const struct unit units[] = {
    {{"ns", "nsec", "nanos"}, 1, 0},
    {{"us", "usec", "\xc2\xb5s"}, 1000, 1},
    {{"ms", "msec", "millis"}, 1000000, 1},
    {{"s", "sec", "secs", "second", "seconds"}, NS_PER_S, 1},
    {{"m", "min", "mins", "minute", "minutes"}, 60 * NS_PER_S, 1},
    {{"h", "hr", "hrs", "hour", "hours"}, 3600 * NS_PER_S, NS_PER_S},
    {{"d", "day", "days"}, 86400 * NS_PER_S, NS_PER_S},
    {{"w", "wk", "wks", "week", "weeks"}, 604800 * NS_PER_S, NS_PER_S},
    {{"M", "month", "months"}, 2630016 * NS_PER_S, NS_PER_S},
    {{"y", "yr", "yrs", "year", "years"}, 31557600 * NS_PER_S, NS_PER_S},
};

/* A position in the text being parsed. */
struct cur {
    const unsigned char *s;
    size_t len, i;
};

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -1;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Bytes of the Unicode whitespace character at c->i (Rust's char::is_whitespace), or 0. */
static size_t ws_len(const struct cur *c)
{
    const unsigned char *p = c->s + c->i;
    size_t left = c->len - c->i;

    if (left == 0)
        return 0;
    if (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))
        return 1;
    if (left >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
        return 2;
    if (left < 3)
        return 0;
    if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
        return 3;
    if (p[0] == 0xe2 && p[1] == 0x80)
        return (p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf ? 3
                                                                                              : 0;
    if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
        return 3;
    if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
        return 3;
    return 0;
}

/* Skip whitespace; returns true when any was skipped. */
static bool skip_ws(struct cur *c)
{
    size_t n, start = c->i;

    while ((n = ws_len(c)) > 0)
        c->i += n;
    return c->i != start;
}

/* Bytes of the unit character (ASCII letter or "µ") at c->i, or 0. */
static size_t unit_char_len(const struct cur *c)
{
    unsigned char ch;

    if (c->i >= c->len)
        return 0;
    ch = c->s[c->i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return 1;
    if (ch == 0xc2 && c->i + 1 < c->len && c->s[c->i + 1] == 0xb5)
        return 2;
    return 0;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Nanoseconds of the fraction 0.<digits> of one unit, which must come out exact. */
static int fraction_ns(const unsigned char *digits, size_t n, const struct unit *u, uint64_t *out,
                       const char **why)
{
    uint64_t f = 0, scale = 1;

    while (n > 0 && digits[n - 1] == '0')
        n--;
    *out = 0;
    if (n == 0)
        return 0;
    const char *inexact = u->grain == NS_PER_S ? "fraction is not a whole number of seconds"
                                               : "fraction is not a whole number of nanoseconds";
    /* No unit is divisible by 2^20 or 5^20, so more digits than this can never be exact. */
    if (n > 19)
        return fail(why, inexact);
    for (size_t i = 0; i < n; i++) {
        f = f * 10 + (uint64_t)(digits[i] - '0');
        scale *= 10;
    }
    /* f / scale of u->ns / u->grain grains must be whole: reduce the fraction first. */
    uint64_t g = gcd(f, scale), per = u->ns / u->grain, den = scale / g;
    if (per % den != 0)
        return fail(why, inexact);
    *out = per / den * (f / g) * u->grain;
    return 0;
}

static const struct unit *find_unit(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < ZL_ARRAY_LEN(units); i++)
        for (size_t k = 0; k < ZL_ARRAY_LEN(units[i].names) && units[i].names[k]; k++)
            if (strlen(units[i].names[k]) == n && memcmp(units[i].names[k], p, n) == 0)
                return &units[i];
    return NULL;
}

/* The number at c->i: integer part in *n, fraction digits at [*frac, *frac + *flen). */
static int parse_number(struct cur *c, uint64_t *n, size_t *frac, size_t *flen, bool *dot,
                        const char **why)
{
    *n = 0;
    *flen = 0;
    *dot = false;
    while (c->i < c->len && is_digit(c->s[c->i])) {
        unsigned d = c->s[c->i++] - '0';
        if (*n > (UINT64_MAX - d) / 10)
            return fail(why, "number is too large");
        *n = *n * 10 + d;
    }
    if (c->i < c->len && c->s[c->i] == '.') {
        *dot = true;
        *frac = ++c->i;
        while (c->i < c->len && is_digit(c->s[c->i]))
            c->i++;
        *flen = c->i - *frac;
        if (*flen == 0)
            return fail(why, "digits expected after '.'");
    }
    return 0;
}

/* The unit after a number: a maximal run of letters and "µ". */
static int parse_unit(struct cur *c, const struct unit **u, const char **why)
{
    bool spaced = skip_ws(c);
    size_t start = c->i, n;

    if (c->i == c->len)
        return fail(why, "time unit needed");
    if (is_digit(c->s[c->i]))
        return fail(why, spaced ? "whitespace inside a number is not allowed" : "time unit needed");
    if (c->s[c->i] == '.')
        return fail(why, "invalid number");
    while ((n = unit_char_len(c)) > 0)
        c->i += n;
    if (c->i == start)
        return fail(why, "invalid character");
    if (c->i < c->len && !is_digit(c->s[c->i]) && ws_len(c) == 0)
        return fail(why, "invalid character");
    *u = find_unit(c->s + start, c->i - start);
    if (!*u)
        return fail(why, "unknown time unit");
    return 0;
}

/* One "number unit" item at c->i, in nanoseconds. */
static int parse_item(struct cur *c, uint64_t *ns, const char **why)
{
    const struct unit *u;
    uint64_t n, whole, part;
    size_t frac = 0, flen;
    bool dot;
    unsigned char ch = c->s[c->i];

    if (ch == '-')
        return fail(why, "negative durations are not allowed");
    if (!is_digit(ch))
        return fail(why, ch == '.' || unit_char_len(c) ? "number expected" : "invalid character");
    if (parse_number(c, &n, &frac, &flen, &dot, why) < 0 || parse_unit(c, &u, why) < 0)
        return -1;
    if (dot && u->grain == 0)
        return fail(why, "fractions of nanoseconds are not allowed");
    if (n > UINT64_MAX / u->ns)
        return fail(why, TOO_LARGE);
    whole = n * u->ns;
    if (fraction_ns(c->s + frac, flen, u, &part, why) < 0)
        return -1;
    if (whole > UINT64_MAX - part)
        return fail(why, TOO_LARGE);
    *ns = whole + part;
    return 0;
}

int zl_duration_parse(const char *s, size_t len, uint64_t *ns, const char **why)
{
    struct cur c = {(const unsigned char *)s, len, 0};
    uint64_t total = 0, item;
    bool any = false;

    if (len == 1 && s[0] == '0') {
        *ns = 0;
        return 0;
    }
    for (;;) {
        skip_ws(&c);
        if (c.i == c.len)
            break;
        if (parse_item(&c, &item, why) < 0)
            return -1;
        if (total > UINT64_MAX - item)
            return fail(why, TOO_LARGE);
        total += item;
        any = true;
    }
    if (!any)
        return fail(why, "empty duration");
    *ns = total;
    return 0;
}

size_t zl_duration_format(uint64_t ns, char *buf, size_t cap)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } parts[] = {
        {"d", 86400 * NS_PER_S},
        {"h", 3600 * NS_PER_S},
        {"m", 60 * NS_PER_S},
        {"s", NS_PER_S},
        {"ms", 1000000},
        {"us", 1000},
        {"ns", 1},
    };
    char tmp[64] = "0s";
    size_t n = ns ? 0 : 2;

    for (size_t i = 0; i < ZL_ARRAY_LEN(parts) && ns; i++) {
        uint64_t q = ns / parts[i].ns;
        if (q == 0)
            continue;
        ns %= parts[i].ns;
        int w = snprintf(tmp + n, sizeof(tmp) - n, "%" PRIu64 "%s", q, parts[i].name);
        ZL_ASSERT(w > 0 && (size_t)w < sizeof(tmp) - n);
        n += (size_t)w;
    }
    if (cap == 0)
        return 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}
