/* SPDX-License-Identifier: Apache-2.0 */
/* net: the node's container network. So far: IPv4 subnets and address management (ipam.c);
 * the bridge, veths, egress rules and service DNS build on it. */
#ifndef ZL_NET_H
#define ZL_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/util.h"

/* An IPv4 subnet; addresses in host byte order. */
struct zl_net_cidr {
    uint32_t base; /* the network address (host bits zero) */
    unsigned prefix;
};

/* "10.240.0.0/24": prefix 8-30, host bits zero. 0, or -1 with *why set. */
int zl_net_cidr_parse(const char *s, struct zl_net_cidr *out, const char **why);
/* The addresses containers may get: from base+2 (base+1 is the bridge's, the gateway) to
 * the one before broadcast. */
void zl_net_cidr_hosts(const struct zl_net_cidr *c, uint32_t *first, uint32_t *last);
uint32_t zl_net_cidr_gateway(const struct zl_net_cidr *c);
/* Dotted text of a host-order address; buf holds 16. */
const char *zl_net_ip_text(uint32_t ip, char buf[16]);

/* Address management, kept in the state store so that nothing is handed out twice and
 * everything survives a daemon restart. */
/* The address of container id in subnet c: the one it has, else the lowest free one.
 * -ZL_EFULL when the subnet has none left. */
int zl_net_ipam_take(struct zl_store *s, const struct zl_net_cidr *c, const char *id, uint32_t *ip,
                     struct zl_err *err);
/* Give back container id's address (none: nothing happens). */
int zl_net_ipam_release(struct zl_store *s, const char *id, struct zl_err *err);

/* ========== service DNS (dns.c: the zone and its answers; dns_server.c: the server) ========== */

/* Containers find each other by name under service.local, within their own deployment:
 *   SERVICE.service.local                  A: every healthy replica, rotated per query
 *   REPLICA.SERVICE.service.local          A: one replica (REPLICA: "0" or "web-0")
 *   _ENDPOINT._PROTO.SERVICE.service.local SRV: one per healthy replica, targets' A added
 * and, from the same deployment or from outside any container (the host), the same names with
 * the deployment after SERVICE: web.app.service.local. Other names go to the upstream
 * servers. docs/networking.md has the whole contract. */

#include <uv.h>

#define ZL_DNS_DOMAIN "service.local"
#define ZL_DNS_TTL    5 /* seconds, on every record we answer */

/* The names and addresses served, replaced as a whole. Thread-safe: any thread may call
 * zl_dns_zone_set while the loop answers. */
struct zl_dns_zone;

/* One container. */
struct zl_dns_replica {
    const char *deployment, *service;
    unsigned index; /* its number; its hostname is SERVICE-INDEX */
    uint32_t ip;    /* host byte order */
    bool healthy;   /* only healthy replicas appear in A and SRV answers */
};

/* One endpoint of a service: the SRV name _NAME._PROTO.SERVICE.service.local. */
struct zl_dns_endpoint {
    const char *deployment, *service, *name;
    const char *proto; /* "tcp" or "udp" */
    uint16_t port;
};

/* An empty zone. Caller frees with zl_dns_zone_free. */
struct zl_dns_zone *zl_dns_zone_new(void);
void zl_dns_zone_free(struct zl_dns_zone *z);
/* Replace every replica and endpoint at once; the zone copies what it needs, so the arrays
 * and strings may go right after. Names are compared without case. Entries with a NULL
 * name, and endpoints with another proto, are left out; of two replicas with the same
 * deployment, service and index the first counts. Any thread. */
void zl_dns_zone_set(struct zl_dns_zone *z, const struct zl_dns_replica *r, size_t nr,
                     const struct zl_dns_endpoint *e, size_t ne);

enum zl_dns_verdict {
    ZL_DNS_ANSWER = 0, /* *out holds the response */
    ZL_DNS_FORWARD,    /* not ours: send the query upstream */
    ZL_DNS_DROP,       /* not a query (too short, or a response): say nothing */
};

/* Answer the wire query q (qlen bytes) from client_ip (host order; the deployment of the
 * replica with that address scopes the names). ANSWER: *out is the response, malloc'd (the
 * caller frees), at most 65535 bytes, not cut to any UDP size. Otherwise *out is NULL. A
 * malformed query gets FORMERR (NOTIMP for an opcode other than QUERY). Any thread. */
enum zl_dns_verdict zl_dns_answer(struct zl_dns_zone *z, uint32_t client_ip, const uint8_t *q,
                                  size_t qlen, uint8_t **out, size_t *outlen);

/* The DNS server: UDP and TCP on one address, answering from a zone and forwarding the rest
 * (with a cache of what comes back). Lives on one libuv loop. */
struct zl_dns_server;

/* Serve zone z (borrowed: it must outlive the server) on bind_ip:port (IPv4) on loop.
 * upstreams: "ip[:port],..." (IPv6 as [ip]:port), or NULL for the nameservers of resolv_conf
 * (NULL: /etc/resolv.conf), leaving out bind_ip:port itself. On failure, handles may be
 * left closing: run the loop before closing it. Loop thread only. */
int zl_dns_server_start(uv_loop_t *loop, const char *bind_ip, uint16_t port, struct zl_dns_zone *z,
                        const char *upstreams, const char *resolv_conf, struct zl_dns_server **out,
                        struct zl_err *err);
/* Stop answering, fail what is in flight, close every handle; the server frees itself once
 * the loop has closed them (run the loop until then). NULL: nothing. Loop thread only. */
void zl_dns_server_stop(struct zl_dns_server *s);

#endif
