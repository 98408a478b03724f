/* SPDX-License-Identifier: Apache-2.0 */
/* HS256 tokens: what verifies and everything that must not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";

static void test_round_trip(void **state)
{
    (void)state;
    char *t = zl_api_jwt_sign(key, 32, "cli", "viewer", 60);
    char role[32];
    struct zl_err err;
    assert_int_equal(zl_api_jwt_verify(key, 32, t, role, sizeof(role), &err), 0);
    assert_string_equal(role, "viewer");
    free(t);
}

static void test_refused(void **state)
{
    (void)state;
    struct zl_err err;
    char role[32];
    /* expired */
    char *t = zl_api_jwt_sign(key, 32, "cli", "admin", -1);
    assert_true(zl_api_jwt_verify(key, 32, t, role, sizeof(role), &err) < 0);
    assert_non_null(strstr(err.msg, "expired"));
    free(t);
    /* another key */
    t = zl_api_jwt_sign(key, 32, "cli", "admin", 60);
    unsigned char other[32];
    memcpy(other, key, 32);
    other[0] ^= 1;
    assert_true(zl_api_jwt_verify(other, 32, t, role, sizeof(role), &err) < 0);
    /* a changed payload keeps the old signature */
    char *dot = strchr(t, '.');
    dot[2] = dot[2] == 'A' ? 'B' : 'A';
    assert_true(zl_api_jwt_verify(key, 32, t, role, sizeof(role), &err) < 0);
    free(t);
    /* alg none, garbage, pieces missing */
    static const char *const bad[] = {
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJjbGkiLCJleHAiOjk5OTk5OTk5OTl9.",
        "not-a-token",
        "a.b",
        "a.b.c.d",
        "...",
        "eyJ.eyJ.sig",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_true(zl_api_jwt_verify(key, 32, bad[i], role, sizeof(role), &err) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
