/* SPDX-License-Identifier: Apache-2.0 */
/* net/ipam: subnets, and addresses handed out once, kept across a restart, freed; and the
 * nftables script the node's rules are made from (net/rules.c). */
#include "../helpers.h"

#include <unistd.h>

#include "net/net.h"

static void test_cidr(void **state)
{
    (void)state;
    struct zl_net_cidr c;
    const char *why = NULL;
    assert_int_equal(zl_net_cidr_parse("10.240.0.0/24", &c, &why), 0);
    assert_int_equal(c.base, 0x0af00000u);
    assert_int_equal(c.prefix, 24);
    uint32_t first, last;
    zl_net_cidr_hosts(&c, &first, &last);
    char a[16], b[16];
    assert_string_equal(zl_net_ip_text(first, a), "10.240.0.2");
    assert_string_equal(zl_net_ip_text(last, b), "10.240.0.254");
    assert_string_equal(zl_net_ip_text(zl_net_cidr_gateway(&c), a), "10.240.0.1");
    assert_int_equal(zl_net_cidr_parse("172.16.0.0/12", &c, &why), 0);
    zl_net_cidr_hosts(&c, &first, &last);
    assert_string_equal(zl_net_ip_text(last, b), "172.31.255.254");
    static const char *const bad[] = {"10.240.0.1/24",  "10.240.0.0",     "10.240.0.0/31",
                                      "10.240.0.0/7",   "10.240.0/24",    "256.0.0.0/8",
                                      "10.240.00.0/24", "10.240.0.0/24x", "",
                                      "a.b.c.d/8"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(bad); i++) {
        why = NULL;
        if (zl_net_cidr_parse(bad[i], &c, &why) != -1 || !why)
            fail_msg("\"%s\" accepted", bad[i]);
    }
}

static void test_ip_parse(void **state)
{
    (void)state;
    uint32_t ip = 0;
    assert_int_equal(zl_net_ip_parse("10.240.0.7", &ip), 0);
    assert_int_equal(ip, 0x0af00007u);
    assert_int_equal(zl_net_ip_parse("0.0.0.0", &ip), 0);
    assert_int_equal(ip, 0);
    static const char *const bad[] = {"",         "1.2.3",    "1.2.3.4.5", "256.1.1.1", "01.2.3.4",
                                      "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/8", "::1",       "a.b.c.d"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(bad); i++)
        if (zl_net_ip_parse(bad[i], &ip) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
    assert_int_equal(zl_net_ip_parse(NULL, &ip), -1);
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p += n)
        if ((p == text || p[-1] == '\n' || p[-1] == ' ') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void test_rules(void **state)
{
    (void)state;
    struct zl_net_port web[] = {{0, 8080, 80, false}}, dns[] = {{0x7f000001u, 5353, 53, true}};
    struct zl_net_member m[] = {
        {0x0af00002u, "shop", "zlv0af00002", web, 1},
        {0x0af00003u, "shop", "zlv0af00003", web, 1},
        {0x0af00004u, "blog", "zlv0af00004", dns, 1},
        {0x0af00005u, "shop", NULL, NULL, 0},
    };
    struct zl_net_rules r = {"zl0", {0x0af00000u, 24}, m, ZL_ARRAY_LEN(m)};
    char *t = zl_net_rules_text(&r);
    /* replaced whole, in one batch: the tables are made (if absent), dropped, rebuilt */
    assert_true(!strncmp(t,
                         "add table ip zlayer_zl0\ndelete table ip zlayer_zl0\n"
                         "add table bridge zlayer_zl0\ndelete table bridge zlayer_zl0\n",
                         strlen("add table ip zlayer_zl0\ndelete table ip zlayer_zl0\n"
                                "add table bridge zlayer_zl0\ndelete table bridge zlayer_zl0\n")));
    /* two replicas behind one port: in turn; one: straight */
    assert_true(has_line(t, "tcp dport 8080 dnat ip addr . port to numgen inc mod 2 map "
                            "{ 0 : 10.240.0.2 . 80, 1 : 10.240.0.3 . 80 }"));
    assert_true(has_line(t, "ip daddr 127.0.0.1 udp dport 5353 dnat to 10.240.0.4:53"));
    assert_true(has_line(t, "fib daddr type local ip daddr != 10.240.0.1 jump ports"));
    /* the node's DNS is never tracked: no DNAT on the host (another node's port 53) takes it */
    assert_true(has_line(t, "type filter hook prerouting priority raw; policy accept;"));
    assert_true(has_line(t, "ip daddr 10.240.0.1 udp dport 53 notrack"));
    assert_true(has_line(t, "ip daddr 10.240.0.1 tcp dport 53 notrack"));
    assert_true(has_line(t, "type filter hook output priority raw; policy accept;"));
    assert_true(has_line(t, "ip saddr 10.240.0.1 udp sport 53 notrack"));
    assert_true(has_line(t, "ip saddr 10.240.0.1 tcp sport 53 notrack"));
    /* members' ports: IPv4 from their own address and ARP only */
    assert_true(has_line(t, "elements = { \"zlv0af00002\", \"zlv0af00003\", \"zlv0af00004\" }"));
    assert_true(has_line(t, "elements = { \"zlv0af00002\" . 10.240.0.2, \"zlv0af00003\" . "
                            "10.240.0.3, \"zlv0af00004\" . 10.240.0.4 }"));
    assert_true(has_line(t, "iifname @ports ether type != { ip, arp } drop"));
    assert_true(has_line(t, "iifname @ports ether type ip iifname . ip saddr != @own drop"));
    assert_true(has_line(t, "ip saddr 10.240.0.0/24 oifname != \"zl0\" masquerade"));
    assert_true(has_line(t, "ip saddr 127.0.0.0/8 oifname \"zl0\" masquerade"));
    /* one set per deployment; everything else on the subnet is dropped */
    assert_true(has_line(t, "elements = { 10.240.0.2, 10.240.0.3, 10.240.0.5 }"));
    assert_true(has_line(t, "elements = { 10.240.0.4 }"));
    assert_true(has_line(t, "ip saddr @g0 ip daddr @g0 accept"));
    assert_true(has_line(t, "ip saddr @g1 ip daddr @g1 accept"));
    assert_null(strstr(t, "@g2"));
    assert_true(has_line(t, "ip saddr 10.240.0.0/24 ip daddr 10.240.0.0/24 drop"));
    /* the same input, the same script (a no-op is skipped by comparing them) */
    char *again = zl_net_rules_text(&r);
    assert_string_equal(t, again);
    free(again);
    free(t);
    /* no member: no set, the drop rule still there */
    r.nmembers = 0;
    t = zl_net_rules_text(&r);
    assert_null(strstr(t, "set g0"));
    assert_true(has_line(t, "ip saddr 10.240.0.0/24 ip daddr 10.240.0.0/24 drop"));
    free(t);
}

static void test_ipam(void **state)
{
    (void)state;
    char dir[] = "/tmp/zl-test-ipam-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = zl_xasprintf("%s/state.db", dir);
    struct zl_store *s = NULL;
    struct zl_err err;
    assert_int_equal(zl_store_open(path, &s, &err), 0);
    struct zl_net_cidr c;
    const char *why;
    assert_int_equal(zl_net_cidr_parse("10.9.0.0/29", &c, &why), 0); /* .2 - .6: five */
    uint32_t ip[6];
    char t[16];
    const char *ids[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(zl_net_ipam_take(s, &c, ids[i], &ip[i], &err), 0);
        assert_int_equal(ip[i], c.base + 2 + (uint32_t)i);
    }
    /* the same container keeps its address; a full subnet says so */
    assert_int_equal(zl_net_ipam_take(s, &c, "c", &ip[5], &err), 0);
    assert_int_equal(ip[5], ip[2]);
    assert_int_equal(zl_net_ipam_take(s, &c, "f", &ip[5], &err), -ZL_EFULL);
    assert_non_null(strstr(err.msg, "no free address left in 10.9.0.0/29 for f"));
    /* a freed address is the next one handed out; releasing twice is harmless */
    assert_int_equal(zl_net_ipam_release(s, "b", &err), 0);
    assert_int_equal(zl_net_ipam_release(s, "b", &err), 0);
    assert_int_equal(zl_net_ipam_take(s, &c, "f", &ip[5], &err), 0);
    assert_string_equal(zl_net_ip_text(ip[5], t), "10.9.0.3");
    /* kept across a restart */
    zl_store_close(s);
    assert_int_equal(zl_store_open(path, &s, &err), 0);
    uint32_t again;
    assert_int_equal(zl_net_ipam_take(s, &c, "e", &again, &err), 0);
    assert_int_equal(again, ip[4]);
    assert_int_equal(zl_net_ipam_take(s, &c, "g", &again, &err), -ZL_EFULL);
    /* the node's subnet changed: a container keeping an address from the old one gets a new
     * one in the new range */
    struct zl_net_cidr other;
    assert_int_equal(zl_net_cidr_parse("10.241.0.0/24", &other, &why), 0);
    assert_int_equal(zl_net_ipam_take(s, &other, "e", &again, &err), 0);
    assert_int_equal(again, 0x0af10002u);
    zl_store_close(s);
    char *cmd = zl_xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_ip_parse),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_ipam),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
