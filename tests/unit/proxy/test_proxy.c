/* SPDX-License-Identifier: Apache-2.0 */
/* proxy: the choice of a backend (round-robin over those not ejected). */
#include "../helpers.h"

#include "proxy/proxy.h"

static void test_pick(void **state)
{
    (void)state;
    int64_t ej[3] = {0, 0, 0};
    size_t cur = 0;
    /* in turn */
    assert_int_equal(zl_proxy_pick(3, ej, 100, &cur), 0);
    assert_int_equal(zl_proxy_pick(3, ej, 100, &cur), 1);
    assert_int_equal(zl_proxy_pick(3, ej, 100, &cur), 2);
    assert_int_equal(zl_proxy_pick(3, ej, 100, &cur), 0);
    /* an ejected one is skipped until its time is up */
    ej[1] = 500;
    assert_int_equal(zl_proxy_pick(3, ej, 100, &cur), 2);
    assert_int_equal(zl_proxy_pick(3, ej, 100, &cur), 0);
    assert_int_equal(zl_proxy_pick(3, ej, 100, &cur), 2);
    assert_int_equal(zl_proxy_pick(3, ej, 500, &cur), 0);
    assert_int_equal(zl_proxy_pick(3, ej, 500, &cur), 1);
    /* all ejected, or none at all: nobody */
    int64_t all[2] = {900, 900};
    cur = 1;
    assert_int_equal(zl_proxy_pick(2, all, 100, &cur), -1);
    assert_int_equal(cur, 1);
    assert_int_equal(zl_proxy_pick(0, NULL, 100, &cur), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
