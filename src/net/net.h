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

#endif
