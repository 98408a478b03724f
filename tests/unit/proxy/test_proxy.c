/* SPDX-License-Identifier: Apache-2.0 */
/* proxy: the choice of a backend (round-robin over those not ejected); the PROXY protocol
 * header, written and read back; request rates from a ring of samples. */
#include "../helpers.h"

#include "proxy/proxy.h"

static void test_pick(void **state)
{
    (void)state;
    int64_t ej[3] = {0, 0, 0};
    size_t cur = 0;
    /* in turn */
    assert_int_equal(zl_proxy_pick(3, ej, NULL, 100, &cur), 0);
    assert_int_equal(zl_proxy_pick(3, ej, NULL, 100, &cur), 1);
    assert_int_equal(zl_proxy_pick(3, ej, NULL, 100, &cur), 2);
    assert_int_equal(zl_proxy_pick(3, ej, NULL, 100, &cur), 0);
    /* an ejected one is skipped until its time is up */
    ej[1] = 500;
    assert_int_equal(zl_proxy_pick(3, ej, NULL, 100, &cur), 2);
    assert_int_equal(zl_proxy_pick(3, ej, NULL, 100, &cur), 0);
    assert_int_equal(zl_proxy_pick(3, ej, NULL, 100, &cur), 2);
    assert_int_equal(zl_proxy_pick(3, ej, NULL, 500, &cur), 0);
    assert_int_equal(zl_proxy_pick(3, ej, NULL, 500, &cur), 1);
    /* all ejected, or none at all: nobody */
    int64_t all[2] = {900, 900};
    cur = 1;
    assert_int_equal(zl_proxy_pick(2, all, NULL, 100, &cur), -1);
    assert_int_equal(cur, 1);
    assert_int_equal(zl_proxy_pick(0, NULL, NULL, 100, &cur), -1);
}

static void test_least(void **state)
{
    (void)state;
    int64_t ej[3] = {0, 0, 0};
    unsigned active[3] = {2, 0, 1};
    size_t cur = 0;
    /* the fewest in flight, ejected ones skipped, ties in turn */
    assert_int_equal(zl_proxy_pick(3, ej, active, 100, &cur), 1);
    ej[1] = 500;
    assert_int_equal(zl_proxy_pick(3, ej, active, 100, &cur), 2);
    active[0] = 1;
    cur = 0;
    assert_int_equal(zl_proxy_pick(3, ej, active, 100, &cur), 0);
    assert_int_equal(zl_proxy_pick(3, ej, active, 100, &cur), 2);
}

static void test_routes(void **state)
{
    (void)state;
    /* hosts: exact above wildcards, longer wildcards above shorter, any host last */
    assert_int_equal(zl_proxy_host_match("a.example.com", "b.example.com"), 0);
    assert_true(zl_proxy_host_match("a.example.com", "a.example.com") >
                zl_proxy_host_match("*.example.com", "a.example.com"));
    assert_true(zl_proxy_host_match("*.a.example.com", "x.a.example.com") >
                zl_proxy_host_match("*.example.com", "x.a.example.com"));
    assert_true(zl_proxy_host_match("*.example.com", "a.example.com") >
                zl_proxy_host_match(NULL, "a.example.com"));
    assert_int_equal(zl_proxy_host_match("*.example.com", "example.com"), 0);
    assert_int_equal(zl_proxy_host_match("*.example.com", NULL), 0);
    assert_true(zl_proxy_host_match(NULL, NULL) > 0);
    /* paths: whole segments */
    assert_true(zl_proxy_path_match("/api", "/api", 4));
    assert_true(zl_proxy_path_match("/api", "/api/x", 6));
    assert_true(zl_proxy_path_match("/api/", "/api/x", 6));
    assert_false(zl_proxy_path_match("/api", "/apix", 5));
    assert_false(zl_proxy_path_match("/api", "/ap", 3));
    assert_true(zl_proxy_path_match("/", "/anything", 9));
    assert_true(zl_proxy_path_match("/api", "/api?q", 4)); /* the caller cuts the query */
}

/* Field by field: the padding after udp is whatever the stack held. */
static void assert_pp_equal(const struct zl_proxy_pp *a, const struct zl_proxy_pp *b)
{
    assert_int_equal(a->src_ip, b->src_ip);
    assert_int_equal(a->dst_ip, b->dst_ip);
    assert_int_equal(a->src_port, b->src_port);
    assert_int_equal(a->dst_port, b->dst_port);
    assert_int_equal(a->udp, b->udp);
}

static void test_pp(void **state)
{
    (void)state;
    struct zl_proxy_pp h = {0x0a000005u, 0x7f000001u, 40000, 8443, false}, back;
    unsigned char buf[ZL_PROXY_PP_V1_MAX];
    size_t n = zl_proxy_pp_write(&h, 1, buf, sizeof(buf));
    assert_int_equal(n, strlen("PROXY TCP4 10.0.0.5 127.0.0.1 40000 8443\r\n"));
    assert_memory_equal(buf, "PROXY TCP4 10.0.0.5 127.0.0.1 40000 8443\r\n", n);
    assert_int_equal(zl_proxy_pp_read(buf, n, &back), (long)n);
    assert_pp_equal(&back, &h);
    /* a short read asks for more; junk is refused */
    assert_int_equal(zl_proxy_pp_read(buf, 10, &back), 0);
    assert_int_equal(zl_proxy_pp_read((const unsigned char *)"GET / HTTP/1.1\r\n", 16, &back), -1);
    static const char *const bad[] = {
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",      "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "PROXY TCP6 ::1 ::1 1 2\r\n",
        "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",    "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(bad); i++)
        if (zl_proxy_pp_read((const unsigned char *)bad[i], strlen(bad[i]), &back) != -1)
            fail_msg("accepted: %s", bad[i]);
    assert_int_equal(zl_proxy_pp_read((const unsigned char *)"PROXY UNKNOWN\r\nx", 17, &back), 15);
    /* version 2, UDP */
    h.udp = true;
    assert_int_equal(zl_proxy_pp_write(&h, 1, buf, sizeof(buf)), 0); /* no UDP in v1 */
    n = zl_proxy_pp_write(&h, 2, buf, sizeof(buf));
    assert_int_equal(n, ZL_PROXY_PP_V2_LEN);
    assert_int_equal(buf[12], 0x21);
    assert_int_equal(buf[13], 0x12);
    assert_int_equal(zl_proxy_pp_read(buf, n, &back), (long)n);
    assert_pp_equal(&back, &h);
    assert_int_equal(zl_proxy_pp_read(buf, n - 1, &back), 0);
    assert_int_equal(zl_proxy_pp_write(&h, 2, buf, 10), 0);
}

/* The request rate of a route: a count's growth over the samples the ring holds. */
static void test_ring(void **state)
{
    (void)state;
    struct zl_proxy_ring r = {0};
    uint64_t count;
    int64_t span;
    /* fewer than two samples: no rate */
    assert_true(zl_proxy_ring_rate(&r) == 0.0);
    zl_proxy_ring_push(&r, 1000, 5);
    zl_proxy_ring_span(&r, &count, &span);
    assert_true(count == 0 && span == 0);
    assert_true(zl_proxy_ring_rate(&r) == 0.0);
    /* 20 requests a second for 4 s */
    for (int t = 1; t <= 4; t++)
        zl_proxy_ring_push(&r, 1000 + t * 1000, 5 + (uint64_t)t * 20);
    zl_proxy_ring_span(&r, &count, &span);
    assert_int_equal(count, 80);
    assert_int_equal(span, 4000);
    assert_true(zl_proxy_ring_rate(&r) == 20.0);
    /* a sample no later than the newest is ignored */
    zl_proxy_ring_push(&r, 5000, 1000);
    zl_proxy_ring_push(&r, 4000, 1000);
    assert_true(zl_proxy_ring_rate(&r) == 20.0);
    /* a late tick: the rate is over the real time between the samples */
    zl_proxy_ring_push(&r, 6500, 105 + 30);
    assert_true(zl_proxy_ring_rate(&r) == 130.0 * 1000.0 / 5500.0);
    /* once full, the window slides: only the last ZL_PROXY_RATE_SAMPLES count, so an old
     * burst leaves it; here 10 s of 3 a second after the burst */
    uint64_t total = 135 + 100000; /* a burst between two samples */
    int64_t at = 7500;
    zl_proxy_ring_push(&r, at, total);
    for (int i = 0; i < ZL_PROXY_RATE_SAMPLES - 1; i++)
        zl_proxy_ring_push(&r, at += 1000, total += 3);
    assert_int_equal(r.n, ZL_PROXY_RATE_SAMPLES);
    zl_proxy_ring_span(&r, &count, &span);
    assert_int_equal(count, 3 * (ZL_PROXY_RATE_SAMPLES - 1));
    assert_int_equal(span, ZL_PROXY_RATE_WINDOW_MS);
    assert_true(zl_proxy_ring_rate(&r) == 3.0);
    /* idle: the rate falls to 0 within the window */
    for (int i = 0; i < ZL_PROXY_RATE_SAMPLES - 1; i++)
        zl_proxy_ring_push(&r, at += 1000, total);
    assert_true(zl_proxy_ring_rate(&r) == 0.0);
    /* a count that went back (the route was made anew) starts the ring again */
    zl_proxy_ring_push(&r, at += 1000, 7);
    assert_int_equal(r.n, 1);
    assert_true(zl_proxy_ring_rate(&r) == 0.0);
    zl_proxy_ring_push(&r, at + 500, 8);
    assert_true(zl_proxy_ring_rate(&r) == 2.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick), cmocka_unit_test(test_least), cmocka_unit_test(test_routes),
        cmocka_unit_test(test_pp),   cmocka_unit_test(test_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
