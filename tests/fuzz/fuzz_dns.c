/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz/fuzz_dns.c: libFuzzer target for the service DNS answers (net/dns.c).
 *
 * Every input is a query, answered over a populated zone for a client inside a deployment and
 * for the host, and also read as a response by the cache's scanner. Invariants:
 *   - no crash, leak or sanitizer report;
 *   - DROP only for less than a header or a response; FORWARD only for a well-formed query;
 *   - an answer is a response (QR) to the query's ID, at most 64 KiB, that ldns parses, with
 *     one question (but for FORMERR/NOTIMP, header only) and counts that match its records;
 *   - cut for UDP, it is still a well-formed response with TC set.
 * A broken invariant calls abort() so that libFuzzer records the input. */
#include "net/internal.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz_dns: invariant broken: %s (%s:%d): ", #cond, __FILE__, \
                    __LINE__);                                                           \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static struct zl_dns_zone *zone;

static void zone_init(void)
{
    static struct zl_dns_replica r[64];
    size_t n = 0;
    r[n++] = (struct zl_dns_replica){"app", "web", 0, IP(10, 0, 0, 2), true};
    r[n++] = (struct zl_dns_replica){"app", "web", 1, IP(10, 0, 0, 3), true};
    r[n++] = (struct zl_dns_replica){"app", "web", 2, IP(10, 0, 0, 4), false};
    r[n++] = (struct zl_dns_replica){"app", "db", 0, IP(10, 0, 0, 5), true};
    r[n++] = (struct zl_dns_replica){"other", "web", 0, IP(10, 0, 1, 2), true};
    r[n++] = (struct zl_dns_replica){"shop", "shop", 0, IP(10, 0, 2, 2), true};
    r[n++] = (struct zl_dns_replica){"shop", "shop-0", 7, IP(10, 0, 2, 3), true};
    while (n < ZL_ARRAY_LEN(r)) {
        r[n] = (struct zl_dns_replica){"app", "big", (unsigned)n, IP(10, 0, 3, 0) + (uint32_t)n,
                                       n % 5 != 0};
        n++;
    }
    static const struct zl_dns_endpoint e[] = {
        {"app", "web", "http", "tcp", 8080},
        {"app", "big", "p", "udp", 53},
        {"other", "web", "http", "tcp", 80},
    };
    zone = zl_dns_zone_new();
    zl_dns_zone_set(zone, r, n, e, ZL_ARRAY_LEN(e));
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void check_response(const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen)
{
    CHECK(r && rlen >= 12 && rlen <= ZL_DNS__MAX_MSG, "response of %zu bytes", rlen);
    CHECK(rd16(r) == rd16(q), "ID %04x for %04x", rd16(r), rd16(q));
    CHECK(r[2] & 0x80, "QR not set");
    int rcode = r[3] & 0xF;
    if (rcode == ZL_DNS__FORMERR || rcode == ZL_DNS__NOTIMP) {
        CHECK(rlen == 12, "error response of %zu bytes", rlen);
        return;
    }
    struct zl_dns__scan sc;
    CHECK(zl_dns__scan_response(r, rlen, &sc) == 0, "our scanner refuses our response");
    CHECK(sc.counts[0] == 1, "%u questions", sc.counts[0]);
    ldns_pkt *p = NULL;
    CHECK(ldns_wire2pkt(&p, r, rlen) == LDNS_STATUS_OK, "ldns refuses our response");
    CHECK(ldns_pkt_ancount(p) == sc.counts[1], "answer count");
    ldns_pkt_free(p);

    /* cut for UDP */
    uint8_t *cut = malloc(rlen + 11);
    memcpy(cut, r, rlen);
    size_t n = zl_dns__truncate(cut, rlen, true);
    CHECK(n > 12 && n <= rlen + 11, "truncated to %zu", n);
    CHECK(cut[2] & 0x02, "TC not set");
    CHECK(zl_dns__scan_response(cut, n, &sc) == 0 && sc.opt_end == n, "truncated response");
    free(cut);
    (void)qlen;
}

static void run(uint32_t client, const uint8_t *data, size_t size)
{
    uint8_t *r = (uint8_t *)"x";
    size_t rlen = 1;
    enum zl_dns_verdict v = zl_dns_answer(zone, client, data, size, &r, &rlen);
    struct zl_dns__query q;
    int rc = zl_dns__parse_query(data, size, &q);
    switch (v) {
    case ZL_DNS_DROP:
        CHECK(!r && !rlen, "output with DROP");
        CHECK(size < 12 || (data[2] & 0x80), "dropped a query");
        break;
    case ZL_DNS_FORWARD:
        CHECK(!r && !rlen, "output with FORWARD");
        CHECK(rc == ZL_DNS__Q_OK, "forwarded a malformed query (%d)", rc);
        break;
    case ZL_DNS_ANSWER:
        CHECK(size >= 12 && !(data[2] & 0x80), "answered a non-query");
        check_response(data, size, r, rlen);
        free(r);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!zone)
        zone_init();
    run(IP(10, 0, 0, 5), data, size);  /* db-0 of app */
    run(IP(10, 0, 2, 2), data, size);  /* shop-0 of shop */
    run(IP(192, 0, 2, 1), data, size); /* the host */

    /* the same bytes as an upstream's response, for the cache */
    struct zl_dns__scan sc;
    if (zl_dns__scan_response(data, size, &sc) == 0) {
        CHECK(sc.question_end <= size && sc.nttl <= ZL_DNS__MAX_TTLS, "scan");
        for (size_t i = 0; i < sc.nttl; i++)
            CHECK(sc.ttl_off[i] + 4u <= size, "TTL offset %u of %zu", sc.ttl_off[i], size);
        CHECK(!sc.opt_off || (sc.opt_off < sc.opt_end && sc.opt_end <= size), "OPT");
    }
    return 0;
}
