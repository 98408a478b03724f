/* SPDX-License-Identifier: Apache-2.0 */
/* obs: the Prometheus text format: family headers, samples with escaped labels, numbers. */
#include "../helpers.h"

#include <math.h>

#include "obs/obs.h"

static char *text(struct zl_buf *b)
{
    return zl_buf_steal(b, NULL); /* NUL-terminated */
}

static void test_samples(void **state)
{
    (void)state;
    struct zl_buf b;
    zl_buf_init(&b);
    zl_prom_family(&b, "x_total", "counter", "Things\\done\nhere, \"quoted\".");
    zl_prom_u64(&b, "x_total", UINT64_MAX, "route", "a/b\\c\"d\ne", "code", "2xx", NULL);
    zl_prom_u64(&b, "x_total", 0, NULL);
    zl_prom_f64(&b, "x_rate", 0.1, "k", "", NULL);
    char *t = text(&b);
    assert_string_equal(t,
                        "# HELP x_total Things\\\\done\\nhere, \"quoted\".\n"
                        "# TYPE x_total counter\n"
                        "x_total{route=\"a/b\\\\c\\\"d\\ne\",code=\"2xx\"} 18446744073709551615\n"
                        "x_total 0\n"
                        "x_rate{k=\"\"} 0.1\n");
    free(t);
}

static void test_floats(void **state)
{
    (void)state;
    const struct {
        double v;
        const char *want;
    } cases[] = {{0.001, "0.001"},    {0.25, "0.25"}, {5, "5"},
                 {1e-6, "1e-06"},     {-2.5, "-2.5"}, {INFINITY, "+Inf"},
                 {-INFINITY, "-Inf"}, {NAN, "NaN"},   {1.0 / 3, "0.33333333333333331"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct zl_buf b;
        zl_buf_init(&b);
        zl_prom_float(&b, cases[i].v);
        char *t = text(&b);
        assert_string_equal(t, cases[i].want);
        free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_floats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
