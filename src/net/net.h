/* SPDX-License-Identifier: Apache-2.0 */
/* net: the node's container network: IPv4 subnets and address management (ipam.c), the
 * bridge and each container's veth through netlink (link.c), egress, published ports and
 * isolation in nftables (rules.c). */
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
/* "a.b.c.d" (no leading zeros) to a host-order address. 0 or -1. */
int zl_net_ip_parse(const char *s, uint32_t *ip);
/* Dotted text of a host-order address; buf holds 16. */
const char *zl_net_ip_text(uint32_t ip, char buf[16]);

/* Address management, kept in the state store so that nothing is handed out twice and
 * everything survives a daemon restart. */
/* The address of container id in subnet c: the one it has (unless that is outside c), else
 * the lowest free one.
 * -ZL_EFULL when the subnet has none left. */
int zl_net_ipam_take(struct zl_store *s, const struct zl_net_cidr *c, const char *id, uint32_t *ip,
                     struct zl_err *err);
/* Give back container id's address (none: nothing happens). */
int zl_net_ipam_release(struct zl_store *s, const char *id, struct zl_err *err);

/* ---------------- links (link.c) ---------------- */

/* The MTU for the bridge and veths: that of the host's default-route interface (1500 when
 * there is none). */
unsigned zl_net_default_mtu(void);
/* Make sure bridge `name` exists, has the subnet's gateway address and is up; turn on IPv4
 * forwarding and route_localnet on it (published ports reached on 127.0.0.1). Idempotent. */
int zl_net_bridge_ensure(const char *name, const struct zl_net_cidr *c, unsigned mtu,
                         struct zl_err *err);
/* Remove the bridge (absent: nothing happens). */
int zl_net_bridge_remove(const char *name, struct zl_err *err);

/* One container's network: a new network namespace bind-mounted on netns_path, with lo up
 * and eth0 (the peer of host_if, enslaved to bridge) at ip/prefix, default route via the
 * gateway. A stale host_if or netns_path from an earlier try is replaced. */
struct zl_net_attach {
    const char *netns_path, *bridge, *host_if;
    const struct zl_net_cidr *subnet;
    uint32_t ip;
    unsigned mtu;
};
int zl_net_attach(const struct zl_net_attach *at, struct zl_err *err);
/* Undo zl_net_attach (each part that is there). */
void zl_net_detach(const char *netns_path, const char *host_if);
/* The host side's name for a container address: "zlv" + 8 hex digits. */
void zl_net_host_if(uint32_t ip, char name[16]);
/* Counters seen from the container (its received bytes are those the host side sent). */
struct zl_net_stats {
    uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets;
};
int zl_net_stats_read(const char *host_if, struct zl_net_stats *st);
/* The MTU of interface name, 0 when there is none. */
unsigned zl_net_link_mtu(const char *name);

/* ---------------- nftables (rules.c) ---------------- */

struct zl_net_port {
    uint32_t host_ip; /* 0: every host address */
    uint16_t host_port, container_port;
    bool udp;
};
struct zl_net_member {
    uint32_t ip;
    const char *group;   /* the deployment: members of one group reach each other */
    const char *host_if; /* its veth on the bridge: only IPv4 from ip, and ARP, come in */
    const struct zl_net_port *ports;
    size_t nports;
};
/* The node's rules: masquerade of the subnet toward anything outside it, published ports
 * (DNAT from the host's addresses, 127.0.0.1 included, the gateway's left alone), and
 * isolation: on the bridge, a member reaches only members of its own group, sends only IPv4
 * from its own address and ARP. All in tables of zlayer's own, named after
 * the bridge, replaced in one atomic batch. */
struct zl_net_rules {
    const char *bridge;
    struct zl_net_cidr subnet;
    const struct zl_net_member *members;
    size_t nmembers;
};
/* The nft script for r (caller frees). Pure, for tests. */
char *zl_net_rules_text(const struct zl_net_rules *r);
int zl_net_rules_apply(const struct zl_net_rules *r, struct zl_err *err);
/* Delete zlayer's tables for bridge (absent: nothing happens). */
int zl_net_rules_remove(const char *bridge, struct zl_err *err);
/* True when zlayer's tables for bridge exist. */
bool zl_net_rules_present(const char *bridge);

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
