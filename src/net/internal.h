/* SPDX-License-Identifier: Apache-2.0 */
/* net/internal.h: declarations shared by the net room's own files only. */
#ifndef ZL_NET_INTERNAL_H
#define ZL_NET_INTERNAL_H

#include "net/net.h"

/* ================= service DNS: wire helpers (dns.c) for the server (dns_server.c) ========= */

#define ZL_DNS__HEADER   12
#define ZL_DNS__MAX_MSG  65535
#define ZL_DNS__UDP_MIN  512  /* the size every client takes */
#define ZL_DNS__UDP_MAX  4096 /* the most we send over UDP, whatever the client says */
#define ZL_DNS__OUR_EDNS 1232 /* the UDP size we announce in our own OPT records */

enum {
    ZL_DNS__T_A = 1,
    ZL_DNS__T_NS = 2,
    ZL_DNS__T_SOA = 6,
    ZL_DNS__T_AAAA = 28,
    ZL_DNS__T_SRV = 33,
    ZL_DNS__T_OPT = 41,
    ZL_DNS__T_ANY = 255,
    ZL_DNS__C_IN = 1,
    ZL_DNS__C_ANY = 255,
};

enum {
    ZL_DNS__NOERROR = 0,
    ZL_DNS__FORMERR = 1,
    ZL_DNS__SERVFAIL = 2,
    ZL_DNS__NXDOMAIN = 3,
    ZL_DNS__NOTIMP = 4,
    ZL_DNS__REFUSED = 5,
};

/* What a query holds, from zl_dns__parse_query. */
struct zl_dns__query {
    uint16_t id, flags;
    size_t qname_len; /* wire bytes of the name at offset 12, root label included */
    uint16_t qtype, qclass;
    size_t question_end; /* offset just past the question */
    bool edns;           /* an OPT record came along */
    uint8_t edns_version;
    bool edns_do;       /* its DO bit */
    uint16_t edns_size; /* the UDP size it announced */
};

enum {
    ZL_DNS__Q_OK = 0,
    ZL_DNS__Q_SHORT = -1,    /* not even a header */
    ZL_DNS__Q_RESPONSE = -2, /* QR set */
    ZL_DNS__Q_OPCODE = -3,   /* not a standard query */
    ZL_DNS__Q_FORMERR = -4,  /* anything else wrong */
};

/* Parse and check a query: one question whose name has no compression pointer; answer and
 * authority records are skipped; an OPT record in the additional section is read. Returns
 * ZL_DNS__Q_OK or one of the negative reasons (q->id and q->flags are set once a header was
 * there). */
int zl_dns__parse_query(const uint8_t *m, size_t len, struct zl_dns__query *q);

/* The UDP response size a client takes: 512, or the size in its OPT record (at most
 * ZL_DNS__UDP_MAX). */
size_t zl_dns__udp_limit(const struct zl_dns__query *q);

/* Cut response r (len bytes, whose question parses) down to its header and question with the
 * TC bit set, plus an OPT record of ours when edns; r must have room for 11 more bytes past the
 * question. Returns the new length, or 0 when r has no readable question. */
size_t zl_dns__truncate(uint8_t *r, size_t len, bool edns);

/* Write a header-only error response to query q (as far as it was parsed) into out[12]. */
void zl_dns__error(const struct zl_dns__query *q, int rcode, uint8_t out[ZL_DNS__HEADER]);

#define ZL_DNS__MAX_TTLS 128

/* What a response holds, for the forwarder's cache (zl_dns__scan_response). */
struct zl_dns__scan {
    uint16_t flags;
    uint16_t counts[4]; /* question, answer, authority, additional */
    size_t question_end;
    size_t nttl;                        /* records with a TTL, OPT aside */
    uint16_t ttl_off[ZL_DNS__MAX_TTLS]; /* where each TTL is */
    uint32_t min_ttl;                   /* the lowest TTL; UINT32_MAX when no record */
    uint32_t neg_ttl;                   /* min(TTL, MINIMUM) of an SOA in the authority
                                         * section; UINT32_MAX when none */
    size_t opt_off, opt_end;            /* where the OPT record is; 0 when none */
};

/* Walk a whole response: -1 when it does not parse to its end, has more than one question
 * or more than ZL_DNS__MAX_TTLS records. */
int zl_dns__scan_response(const uint8_t *r, size_t len, struct zl_dns__scan *s);

#endif
