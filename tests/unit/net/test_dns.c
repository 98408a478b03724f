/* SPDX-License-Identifier: Apache-2.0 */
/* net/dns: the service.local zone's answers, built and read back with ldns. */
#include "../helpers.h"

#include <ldns/ldns.h>
#include <pthread.h>

#include "net/internal.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static const uint32_t APP = IP(10, 0, 0, 5);      /* db-0 of deployment app */
static const uint32_t APP_SICK = IP(10, 0, 0, 6); /* worker-0 of app, unhealthy */
static const uint32_t OTHER = IP(10, 0, 1, 2);    /* web-0 of deployment other */
static const uint32_t HOST = IP(10, 0, 0, 1);     /* not a container */
static const uint32_t SHOP = IP(10, 0, 2, 9);     /* shop-0 of deployment shop */

static const struct zl_dns_replica replicas[] = {
    {"app", "web", 0, IP(10, 0, 0, 2), true},
    {"app", "web", 1, IP(10, 0, 0, 3), true},
    {"app", "web", 2, IP(10, 0, 0, 4), false},
    {"app", "db", 0, IP(10, 0, 0, 5), true},
    {"app", "worker", 0, IP(10, 0, 0, 6), false},
    {"other", "web", 0, IP(10, 0, 1, 2), true},
    {"other", "cache", 0, IP(10, 0, 1, 3), true},
    /* a service named like its deployment, and one named like its replica's hostname */
    {"shop", "shop", 0, IP(10, 0, 2, 9), true},
    {"shop", "shop-0", 0, IP(10, 0, 2, 10), true},
};

static const struct zl_dns_endpoint endpoints[] = {
    {"app", "web", "http", "tcp", 8080},    {"app", "web", "metrics", "udp", 9100},
    {"app", "worker", "jobs", "tcp", 7000}, {"other", "web", "http", "tcp", 80},
    {"app", "web", "bad", "sctp", 1},
};

static struct zl_dns_zone *zone;

static int setup(void **state)
{
    (void)state;
    zone = zl_dns_zone_new();
    zl_dns_zone_set(zone, replicas, ZL_ARRAY_LEN(replicas), endpoints, ZL_ARRAY_LEN(endpoints));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zl_dns_zone_free(zone);
    zone = NULL;
    return 0;
}

/* The wire form of a query; caller frees. */
static uint8_t *wire_query(const char *name, ldns_rr_type type, ldns_rr_class cls, int edns,
                           size_t *len)
{
    ldns_rdf *dname = ldns_dname_new_frm_str(name);
    assert_non_null(dname);
    ldns_pkt *p = ldns_pkt_query_new(dname, type, cls, LDNS_RD);
    assert_non_null(p);
    ldns_pkt_set_id(p, 0x1234);
    if (edns >= 0) {
        ldns_pkt_set_edns_udp_size(p, 4096);
        ldns_pkt_set_edns_version(p, (uint8_t)edns);
    }
    uint8_t *w = NULL;
    assert_int_equal(ldns_pkt2wire(&w, p, len), LDNS_STATUS_OK);
    ldns_pkt_free(p);
    return w;
}

/* Ask, expect an answer, check what every answer has, and parse it. */
static ldns_pkt *ask_full(uint32_t client, const char *name, ldns_rr_type type, ldns_rr_class cls,
                          int edns)
{
    size_t qlen, rlen;
    uint8_t *q = wire_query(name, type, cls, edns, &qlen), *r = NULL;
    assert_int_equal(zl_dns_answer(zone, client, q, qlen, &r, &rlen), ZL_DNS_ANSWER);
    assert_non_null(r);
    ldns_pkt *p = NULL;
    if (ldns_wire2pkt(&p, r, rlen) != LDNS_STATUS_OK)
        fail_msg("%s: the response does not parse", name);
    assert_int_equal(ldns_pkt_id(p), 0x1234);
    assert_true(ldns_pkt_qr(p));
    assert_true(ldns_pkt_rd(p));
    assert_true(ldns_pkt_ra(p));
    assert_false(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_qdcount(p), 1);
    /* the question comes back as written */
    assert_int_equal(memcmp(r + 12, q + 12, strlen(name) + 1), 0);
    free(q);
    free(r);
    return p;
}

static ldns_pkt *ask(uint32_t client, const char *name, ldns_rr_type type)
{
    return ask_full(client, name, type, LDNS_RR_CLASS_IN, -1);
}

/* The records of a section as text, one "name ttl type rdata" per line, sorted. */
static char *section_text(const ldns_rr_list *l)
{
    size_t n = ldns_rr_list_rr_count(l);
    char **lines = zl_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(l, i);
        char *owner = ldns_rdf2str(ldns_rr_owner(rr));
        char *type = ldns_rr_type2str(ldns_rr_get_type(rr));
        struct zl_buf b;
        zl_buf_init(&b);
        zl_buf_printf(&b, "%s %u %s", owner, ldns_rr_ttl(rr), type);
        for (size_t j = 0; j < ldns_rr_rd_count(rr); j++) {
            char *rd = ldns_rdf2str(ldns_rr_rdf(rr, j));
            zl_buf_printf(&b, " %s", rd);
            free(rd);
        }
        lines[i] = zl_buf_steal(&b, NULL);
        free(owner);
        free(type);
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
            char *t = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = t;
        }
    struct zl_buf out;
    zl_buf_init(&out);
    zl_buf_puts(&out, "");
    for (size_t i = 0; i < n; i++) {
        zl_buf_printf(&out, "%s%s", i ? "\n" : "", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return zl_buf_steal(&out, NULL);
}

static void expect_section(const ldns_rr_list *l, const char *want)
{
    char *got = section_text(l);
    if (strcmp(got, want) != 0)
        fail_msg("section:\n%s\nwanted:\n%s", got, want);
    free(got);
}

/* An authoritative answer with these records (sorted, as section_text writes them). */
static void expect_answer(uint32_t client, const char *name, ldns_rr_type type, const char *want)
{
    ldns_pkt *p = ask(client, name, type);
    if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR)
        fail_msg("%s: rcode %d", name, ldns_pkt_get_rcode(p));
    assert_true(ldns_pkt_aa(p));
    expect_section(ldns_pkt_answer(p), want);
    assert_int_equal(ldns_pkt_nscount(p), 0);
    ldns_pkt_free(p);
}

/* NXDOMAIN (nx) or NODATA, with the SOA of service.local in the authority section. */
static void expect_negative(uint32_t client, const char *name, ldns_rr_type type, bool nx)
{
    ldns_pkt *p = ask(client, name, type);
    ldns_pkt_rcode want = nx ? LDNS_RCODE_NXDOMAIN : LDNS_RCODE_NOERROR;
    if (ldns_pkt_get_rcode(p) != want)
        fail_msg("%s: rcode %d, wanted %d", name, ldns_pkt_get_rcode(p), want);
    assert_true(ldns_pkt_aa(p));
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(ldns_pkt_arcount(p), 0);
    /* any serial: it counts the zone's replacements */
    char *soa = section_text(ldns_pkt_authority(p));
    const char *head = "service.local. 5 SOA ns.service.local. hostmaster.service.local. ";
    const char *tail = " 3600 600 86400 5";
    if (strncmp(soa, head, strlen(head)) != 0 || strlen(soa) < strlen(head) + strlen(tail) ||
        strcmp(soa + strlen(soa) - strlen(tail), tail) != 0 || strchr(soa, '\n'))
        fail_msg("%s: authority section:\n%s", name, soa);
    free(soa);
    ldns_pkt_free(p);
}

static void test_service_a(void **state)
{
    (void)state;
    /* healthy replicas only; the client's own deployment; any case, trailing dot or not */
    const char *want = "web.service.local. 5 A 10.0.0.2\nweb.service.local. 5 A 10.0.0.3";
    expect_answer(APP, "web.service.local", LDNS_RR_TYPE_A, want);
    expect_answer(APP, "web.service.local.", LDNS_RR_TYPE_A, want);
    expect_answer(APP_SICK, "web.service.local", LDNS_RR_TYPE_A, want);
    ldns_pkt *p = ask(APP, "WeB.SERVICE.Local", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 2);
    ldns_pkt_free(p);
    expect_answer(APP, "db.service.local", LDNS_RR_TYPE_A, "db.service.local. 5 A 10.0.0.5");
    expect_answer(OTHER, "web.service.local", LDNS_RR_TYPE_A, "web.service.local. 5 A 10.0.1.2");
    /* ANY gets the addresses too */
    expect_answer(APP, "db.service.local", LDNS_RR_TYPE_ANY, "db.service.local. 5 A 10.0.0.5");
}

static void test_round_robin(void **state)
{
    (void)state;
    char *first[4];
    for (int i = 0; i < 4; i++) {
        ldns_pkt *p = ask(APP, "web.service.local", LDNS_RR_TYPE_A);
        assert_int_equal(ldns_pkt_ancount(p), 2);
        first[i] = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0));
        ldns_pkt_free(p);
    }
    assert_string_not_equal(first[0], first[1]);
    assert_string_equal(first[0], first[2]);
    assert_string_equal(first[1], first[3]);
    for (int i = 0; i < 4; i++)
        free(first[i]);
}

static void test_replicas(void **state)
{
    (void)state;
    expect_answer(APP, "0.web.service.local", LDNS_RR_TYPE_A, "0.web.service.local. 5 A 10.0.0.2");
    expect_answer(APP, "web-1.web.service.local", LDNS_RR_TYPE_A,
                  "web-1.web.service.local. 5 A 10.0.0.3");
    ldns_pkt *p = ask(APP, "WEB-1.Web.Service.Local.", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    ldns_pkt_free(p);
    /* an unhealthy replica exists, without an address */
    expect_negative(APP, "2.web.service.local", LDNS_RR_TYPE_A, false);
    expect_negative(APP, "web-2.web.service.local", LDNS_RR_TYPE_A, false);
    /* no such replica, or no such hostname */
    expect_negative(APP, "3.web.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(APP, "01.web.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(APP, "db-0.web.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(APP, "web-.web.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(APP, "x.0.web.service.local", LDNS_RR_TYPE_A, true);
}

static void test_deployment_scope(void **state)
{
    (void)state;
    /* another deployment's services are not seen, by either form */
    expect_negative(APP, "cache.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(APP, "web.other.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(APP, "0.web.other.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(OTHER, "db.service.local", LDNS_RR_TYPE_A, true);
    /* the own deployment by name */
    expect_answer(APP, "db.app.service.local", LDNS_RR_TYPE_A,
                  "db.app.service.local. 5 A 10.0.0.5");
    expect_answer(APP, "1.web.app.service.local", LDNS_RR_TYPE_A,
                  "1.web.app.service.local. 5 A 10.0.0.3");
    expect_answer(OTHER, "web.other.service.local", LDNS_RR_TYPE_A,
                  "web.other.service.local. 5 A 10.0.1.2");
    /* the host sees every deployment by name, and no short name */
    expect_answer(HOST, "web.app.service.local", LDNS_RR_TYPE_A,
                  "web.app.service.local. 5 A 10.0.0.2\nweb.app.service.local. 5 A 10.0.0.3");
    expect_answer(HOST, "web-0.web.other.service.local", LDNS_RR_TYPE_A,
                  "web-0.web.other.service.local. 5 A 10.0.1.2");
    expect_negative(HOST, "web.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(HOST, "0.web.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(HOST, "web.nowhere.service.local", LDNS_RR_TYPE_A, true);
    /* a deployment is a name without records of its own */
    expect_negative(HOST, "app.service.local", LDNS_RR_TYPE_A, false);
    expect_negative(APP, "app.service.local", LDNS_RR_TYPE_A, false);
    expect_negative(APP, "other.service.local", LDNS_RR_TYPE_A, true);
}

static void test_ambiguous(void **state)
{
    (void)state;
    /* shop-0.shop: replica shop-0 of service shop, or service shop-0 of deployment shop; the
     * form without the deployment wins */
    expect_answer(SHOP, "shop-0.shop.service.local", LDNS_RR_TYPE_A,
                  "shop-0.shop.service.local. 5 A 10.0.2.9");
    expect_answer(SHOP, "shop-0.service.local", LDNS_RR_TYPE_A,
                  "shop-0.service.local. 5 A 10.0.2.10");
    expect_answer(SHOP, "shop-0.shop.shop.service.local", LDNS_RR_TYPE_A,
                  "shop-0.shop.shop.service.local. 5 A 10.0.2.9");
    expect_answer(SHOP, "0.shop-0.shop.service.local", LDNS_RR_TYPE_A,
                  "0.shop-0.shop.service.local. 5 A 10.0.2.10");
    /* the host has no deployment of its own: the deployment form */
    expect_answer(HOST, "shop-0.shop.service.local", LDNS_RR_TYPE_A,
                  "shop-0.shop.service.local. 5 A 10.0.2.10");
}

static void test_srv(void **state)
{
    (void)state;
    ldns_pkt *p = ask(APP, "_http._tcp.web.service.local", LDNS_RR_TYPE_SRV);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_true(ldns_pkt_aa(p));
    expect_section(ldns_pkt_answer(p),
                   "_http._tcp.web.service.local. 5 SRV 0 10 8080 0.web.service.local.\n"
                   "_http._tcp.web.service.local. 5 SRV 0 10 8080 1.web.service.local.");
    expect_section(ldns_pkt_additional(p), "0.web.service.local. 5 A 10.0.0.2\n"
                                           "1.web.service.local. 5 A 10.0.0.3");
    ldns_pkt_free(p);
    /* the targets are names that answer */
    expect_answer(APP, "1.web.service.local", LDNS_RR_TYPE_A, "1.web.service.local. 5 A 10.0.0.3");

    p = ask(HOST, "_http._tcp.web.app.service.local", LDNS_RR_TYPE_SRV);
    expect_section(ldns_pkt_answer(p),
                   "_http._tcp.web.app.service.local. 5 SRV 0 10 8080 0.web.app.service.local.\n"
                   "_http._tcp.web.app.service.local. 5 SRV 0 10 8080 1.web.app.service.local.");
    expect_section(ldns_pkt_additional(p), "0.web.app.service.local. 5 A 10.0.0.2\n"
                                           "1.web.app.service.local. 5 A 10.0.0.3");
    ldns_pkt_free(p);

    expect_answer(APP, "_metrics._udp.web.service.local", LDNS_RR_TYPE_SRV,
                  "_metrics._udp.web.service.local. 5 SRV 0 10 9100 0.web.service.local.\n"
                  "_metrics._udp.web.service.local. 5 SRV 0 10 9100 1.web.service.local.");
    expect_answer(OTHER, "_HTTP._TCP.web.service.local", LDNS_RR_TYPE_SRV,
                  "_HTTP._TCP.web.service.local. 5 SRV 0 10 80 0.web.service.local.");
    /* wrong proto, unknown endpoint, another deployment's, a proto not served */
    expect_negative(APP, "_http._udp.web.service.local", LDNS_RR_TYPE_SRV, true);
    expect_negative(APP, "_nope._tcp.web.service.local", LDNS_RR_TYPE_SRV, true);
    expect_negative(APP, "_http._tcp.web.other.service.local", LDNS_RR_TYPE_SRV, true);
    expect_negative(APP, "_bad._sctp.web.service.local", LDNS_RR_TYPE_SRV, true);
    expect_negative(APP, "_http._tcp.db.service.local", LDNS_RR_TYPE_SRV, true);
    /* names that exist without SRV records */
    expect_negative(APP, "_http._tcp.web.service.local", LDNS_RR_TYPE_A, false);
    expect_negative(APP, "_tcp.web.service.local", LDNS_RR_TYPE_SRV, false);
    expect_negative(APP, "_jobs._tcp.worker.service.local", LDNS_RR_TYPE_SRV, false);
    expect_negative(APP, "web.service.local", LDNS_RR_TYPE_SRV, false);
}

static void test_negative(void **state)
{
    (void)state;
    expect_negative(APP, "nothing.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(APP, "a.b.c.d.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(APP, "web.service.local", LDNS_RR_TYPE_AAAA, false);
    expect_negative(APP, "web.service.local", LDNS_RR_TYPE_TXT, false);
    expect_negative(APP, "0.web.service.local", LDNS_RR_TYPE_AAAA, false);
    /* a service with no healthy replica */
    expect_negative(APP, "worker.service.local", LDNS_RR_TYPE_A, false);
    expect_negative(APP, "0.worker.service.local", LDNS_RR_TYPE_A, false);
    /* the apex */
    expect_negative(APP, "service.local", LDNS_RR_TYPE_A, false);
    expect_answer(HOST, "service.local", LDNS_RR_TYPE_SOA,
                  "service.local. 5 SOA ns.service.local. hostmaster.service.local. 1 3600 600 "
                  "86400 5");
    /* another class */
    ldns_pkt *p = ask_full(APP, "web.service.local", LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH, -1);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
    assert_false(ldns_pkt_aa(p));
    assert_int_equal(ldns_pkt_ancount(p), 0);
    ldns_pkt_free(p);
}

static void test_forward(void **state)
{
    (void)state;
    static const char *const names[] = {
        "example.com",  "local",          "service.local.example", ".",
        "servicelocal", "xservice.local", "web.service.locale"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(names); i++) {
        size_t qlen, rlen = 7;
        uint8_t *q = wire_query(names[i], LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, -1, &qlen), *r = q;
        if (zl_dns_answer(zone, APP, q, qlen, &r, &rlen) != ZL_DNS_FORWARD)
            fail_msg("%s: not forwarded", names[i]);
        assert_null(r);
        assert_int_equal(rlen, 0);
        free(q);
    }
}

/* Send raw bytes; returns the verdict and the response's rcode (-1: none). */
static enum zl_dns_verdict raw(const uint8_t *m, size_t len, int *rcode, uint16_t *id)
{
    uint8_t *r = NULL;
    size_t rlen = 0;
    enum zl_dns_verdict v = zl_dns_answer(zone, APP, m, len, &r, &rlen);
    *rcode = -1;
    if (v == ZL_DNS_ANSWER) {
        assert_true(rlen >= 12);
        assert_true(r[2] & 0x80); /* QR */
        *rcode = r[3] & 0xF;
        *id = (uint16_t)(r[0] << 8 | r[1]);
    } else {
        assert_null(r);
    }
    free(r);
    return v;
}

static void test_malformed(void **state)
{
    (void)state;
    int rcode;
    uint16_t id;
    size_t qlen;
    uint8_t *q = wire_query("web.service.local", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, -1, &qlen);
    uint8_t m[512];
    assert_true(qlen <= sizeof(m));

    assert_int_equal(raw(q, 0, &rcode, &id), ZL_DNS_DROP);
    assert_int_equal(raw(q, 11, &rcode, &id), ZL_DNS_DROP);
    /* a header alone: no question */
    assert_int_equal(raw(q, 12, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_FORMERR);
    assert_int_equal(id, 0x1234);
    /* cut inside the name, inside the type */
    assert_int_equal(raw(q, 20, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_FORMERR);
    assert_int_equal(raw(q, qlen - 1, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_FORMERR);
    /* a response is never answered */
    memcpy(m, q, qlen);
    m[2] |= 0x80;
    assert_int_equal(raw(m, qlen, &rcode, &id), ZL_DNS_DROP);
    /* opcode STATUS */
    memcpy(m, q, qlen);
    m[2] = (uint8_t)((m[2] & 0x87) | (2 << 3));
    assert_int_equal(raw(m, qlen, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_NOTIMPL);
    /* no question, two questions */
    memcpy(m, q, qlen);
    m[5] = 0;
    assert_int_equal(raw(m, qlen, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_FORMERR);
    m[5] = 2;
    assert_int_equal(raw(m, qlen, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_FORMERR);
    /* an additional record promised and missing */
    memcpy(m, q, qlen);
    m[11] = 1;
    assert_int_equal(raw(m, qlen, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_FORMERR);
    /* a compression pointer in the question */
    static const uint8_t ptr[] = {0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
    assert_int_equal(raw(ptr, sizeof(ptr), &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_FORMERR);
    assert_int_equal(id, 0xabcd);
    /* a label of 64 bytes */
    memcpy(m, q, 12);
    m[12] = 64;
    memset(m + 13, 'a', 64);
    memcpy(m + 77, "\0\0\1\0\1", 5);
    assert_int_equal(raw(m, 82, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_FORMERR);
    /* a name of 256 bytes */
    size_t p = 12;
    for (int i = 0; i < 4; i++) {
        m[p] = 63;
        memset(m + p + 1, 'a', 63);
        p += 64;
    }
    memcpy(m + p, "\0\0\1\0\1", 5);
    assert_int_equal(raw(m, p + 5, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_FORMERR);
    /* trailing bytes after a well-formed query are tolerated */
    memcpy(m, q, qlen);
    m[qlen] = 0;
    assert_int_equal(raw(m, qlen + 1, &rcode, &id), ZL_DNS_ANSWER);
    assert_int_equal(rcode, LDNS_RCODE_NOERROR);
    free(q);
}

static void test_edns(void **state)
{
    (void)state;
    ldns_pkt *p = ask_full(APP, "web.service.local", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(p), 2);
    assert_int_equal(ldns_pkt_edns_udp_size(p), ZL_DNS__OUR_EDNS);
    ldns_pkt_free(p);
    p = ask_full(APP, "web.service.local", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1);
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(ldns_pkt_edns_extended_rcode(p), 1); /* BADVERS */
    ldns_pkt_free(p);
    /* without EDNS, no OPT comes back */
    p = ask(APP, "web.service.local", LDNS_RR_TYPE_A);
    assert_int_equal(ldns_pkt_arcount(p), 0);
    ldns_pkt_free(p);
}

static void test_replace(void **state)
{
    (void)state;
    struct zl_dns_replica one = {"App", "Api", 3, IP(10, 0, 0, 5), true};
    zl_dns_zone_set(zone, &one, 1, NULL, 0);
    expect_answer(APP, "api.service.local", LDNS_RR_TYPE_A, "api.service.local. 5 A 10.0.0.5");
    expect_answer(APP, "api-3.api.app.service.local", LDNS_RR_TYPE_A,
                  "api-3.api.app.service.local. 5 A 10.0.0.5");
    expect_negative(APP, "web.service.local", LDNS_RR_TYPE_A, true);
    expect_negative(OTHER, "web.service.local", LDNS_RR_TYPE_A, true);
    /* the same index twice: the first counts; entries without a name are left out */
    struct zl_dns_replica twice[] = {{"a", "s", 0, IP(10, 0, 0, 8), true},
                                     {NULL, "s", 1, IP(10, 0, 0, 7), true},
                                     {"a", NULL, 1, IP(10, 0, 0, 7), true},
                                     {"a", "s", 0, IP(10, 0, 0, 9), true}};
    struct zl_dns_endpoint nameless[] = {{"a", "s", NULL, "tcp", 1}, {NULL, "s", "x", "tcp", 1}};
    zl_dns_zone_set(zone, twice, 4, nameless, 2);
    expect_answer(IP(10, 0, 0, 9), "s.service.local", LDNS_RR_TYPE_A,
                  "s.service.local. 5 A 10.0.0.8");
    zl_dns_zone_set(zone, NULL, 0, NULL, 0);
    expect_negative(APP, "s.a.service.local", LDNS_RR_TYPE_A, true);
    zl_dns_zone_set(zone, replicas, ZL_ARRAY_LEN(replicas), endpoints, ZL_ARRAY_LEN(endpoints));
}

static void test_many_replicas(void **state)
{
    (void)state;
    /* more than a response holds: cut to 64 KiB, still well formed */
    enum { N = 5000 };
    struct zl_dns_replica *r = zl_xcalloc(N, sizeof(*r));
    for (unsigned i = 0; i < N; i++)
        r[i] = (struct zl_dns_replica){"big", "svc", i, IP(10, 1, 0, 0) + i, true};
    struct zl_dns_endpoint e = {"big", "svc", "p", "tcp", 1};
    zl_dns_zone_set(zone, r, N, &e, 1);
    ldns_pkt *p = ask(IP(10, 1, 0, 0), "svc.service.local", LDNS_RR_TYPE_A);
    assert_true(ldns_pkt_ancount(p) > 3000 && ldns_pkt_ancount(p) < N);
    ldns_pkt_free(p);
    p = ask(IP(10, 1, 0, 0), "_p._tcp.svc.service.local", LDNS_RR_TYPE_SRV);
    assert_true(ldns_pkt_ancount(p) > 500);
    assert_int_equal(ldns_pkt_ancount(p), ldns_pkt_arcount(p));
    /* every additional record names its SRV's target, even past the reach of a pointer */
    for (size_t i = 0; i < ldns_pkt_ancount(p); i++) {
        ldns_rr *srv = ldns_rr_list_rr(ldns_pkt_answer(p), i);
        ldns_rr *a = ldns_rr_list_rr(ldns_pkt_additional(p), i);
        assert_int_equal(ldns_dname_compare(ldns_rr_rdf(srv, 3), ldns_rr_owner(a)), 0);
    }
    ldns_pkt_free(p);
    free(r);
    zl_dns_zone_set(zone, replicas, ZL_ARRAY_LEN(replicas), endpoints, ZL_ARRAY_LEN(endpoints));
}

static void *replacer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 300; i++)
        zl_dns_zone_set(zone, replicas, ZL_ARRAY_LEN(replicas) - (size_t)(i % 3), endpoints,
                        ZL_ARRAY_LEN(endpoints));
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, replacer, NULL), 0);
    size_t qlen;
    uint8_t *q = wire_query("web.service.local", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, -1, &qlen);
    for (int i = 0; i < 3000; i++) {
        uint8_t *r = NULL;
        size_t rlen;
        assert_int_equal(zl_dns_answer(zone, APP, q, qlen, &r, &rlen), ZL_DNS_ANSWER);
        assert_int_equal(r[7], 2);
        free(r);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    free(q);
}

static void test_wire_helpers(void **state)
{
    (void)state;
    /* UDP limits */
    struct zl_dns__query q = {0};
    assert_int_equal(zl_dns__udp_limit(&q), 512);
    q.edns = true;
    q.edns_size = 100;
    assert_int_equal(zl_dns__udp_limit(&q), 512);
    q.edns_size = 1232;
    assert_int_equal(zl_dns__udp_limit(&q), 1232);
    q.edns_size = 65000;
    assert_int_equal(zl_dns__udp_limit(&q), ZL_DNS__UDP_MAX);

    /* truncation keeps the question, sets TC */
    size_t qlen, rlen;
    uint8_t *w = wire_query("web.service.local", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, -1, &qlen), *r;
    assert_int_equal(zl_dns_answer(zone, APP, w, qlen, &r, &rlen), ZL_DNS_ANSWER);
    size_t cut = zl_dns__truncate(r, rlen, false);
    assert_int_equal(cut, qlen);
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, r, cut), LDNS_STATUS_OK);
    assert_true(ldns_pkt_tc(p));
    assert_int_equal(ldns_pkt_ancount(p), 0);
    assert_int_equal(ldns_pkt_qdcount(p), 1);
    ldns_pkt_free(p);
    free(r);
    free(w);

    /* scanning a response: TTLs, the SOA's minimum, the OPT record */
    ldns_pkt *resp = ldns_pkt_new();
    ldns_pkt_set_qr(resp, true);
    ldns_rr *rr = NULL;
    ldns_rr_new_frm_str(&rr, "example.com. 300 IN A 192.0.2.1", 0, NULL, NULL);
    ldns_pkt_push_rr(resp, LDNS_SECTION_QUESTION, ldns_rr_clone(rr));
    ldns_pkt_push_rr(resp, LDNS_SECTION_ANSWER, rr);
    ldns_rr_new_frm_str(&rr, "example.com. 60 IN A 192.0.2.2", 0, NULL, NULL);
    ldns_pkt_push_rr(resp, LDNS_SECTION_ANSWER, rr);
    ldns_rr_new_frm_str(&rr, "example.com. 900 IN SOA ns. host. 1 2 3 4 30", 0, NULL, NULL);
    ldns_pkt_push_rr(resp, LDNS_SECTION_AUTHORITY, rr);
    ldns_pkt_set_edns_udp_size(resp, 1232);
    assert_int_equal(ldns_pkt2wire(&w, resp, &rlen), LDNS_STATUS_OK);
    ldns_pkt_free(resp);
    struct zl_dns__scan sc;
    assert_int_equal(zl_dns__scan_response(w, rlen, &sc), 0);
    assert_int_equal(sc.counts[1], 2);
    assert_int_equal(sc.nttl, 3);
    assert_int_equal(sc.min_ttl, 60);
    assert_int_equal(sc.neg_ttl, 30);
    assert_int_equal(sc.opt_end, rlen);
    assert_int_equal(sc.opt_off, rlen - 11);
    assert_int_equal(w[sc.ttl_off[1] + 3], 60);
    assert_int_equal(zl_dns__scan_response(w, rlen - 1, &sc), -1);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_service_a, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_robin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replicas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deployment_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ambiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_srv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_replicas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wire_helpers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
