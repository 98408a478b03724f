/* SPDX-License-Identifier: Apache-2.0 */
/* net/ipam.c: IPv4 subnets, and which container has which address (kept by the store). */
#include "net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool octet(const char **p, unsigned *v)
{
    const char *s = *p;
    unsigned n = 0;
    size_t digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) {
        n = n * 10 + (unsigned)(*s++ - '0');
        digits++;
    }
    if (!digits || digits > 3 || n > 255 || (digits > 1 && **p == '0'))
        return false;
    *v = n;
    *p = s;
    return true;
}

static bool dotted(const char **p, uint32_t *out)
{
    uint32_t ip = 0;
    for (int i = 0; i < 4; i++) {
        unsigned v;
        if (!octet(p, &v) || (i < 3 && *(*p)++ != '.'))
            return false;
        ip = ip << 8 | v;
    }
    *out = ip;
    return true;
}

int zl_net_ip_parse(const char *s, uint32_t *ip)
{
    const char *p = s;
    return s && dotted(&p, ip) && *p == '\0' ? 0 : -1;
}

int zl_net_cidr_parse(const char *s, struct zl_net_cidr *out, const char **why)
{
    uint32_t ip = 0;
    const char *p = s;
    if (!dotted(&p, &ip)) {
        *why = "not an IPv4 address (a.b.c.d/prefix)";
        return -1;
    }
    char *end;
    if (*p++ != '/' || *p < '0' || *p > '9') {
        *why = "missing /prefix";
        return -1;
    }
    unsigned long prefix = strtoul(p, &end, 10);
    if (*end || prefix < 8 || prefix > 30) {
        *why = "the prefix must be 8-30";
        return -1;
    }
    uint32_t mask = prefix ? ~0u << (32 - prefix) : 0;
    if (ip & ~mask) {
        *why = "host bits are set (write the network address, as 10.240.0.0/24)";
        return -1;
    }
    out->base = ip;
    out->prefix = (unsigned)prefix;
    return 0;
}

void zl_net_cidr_hosts(const struct zl_net_cidr *c, uint32_t *first, uint32_t *last)
{
    uint32_t size = 1u << (32 - c->prefix);
    *first = c->base + 2;
    *last = c->base + size - 2;
}

uint32_t zl_net_cidr_gateway(const struct zl_net_cidr *c)
{
    return c->base + 1;
}

const char *zl_net_ip_text(uint32_t ip, char buf[16])
{
    snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    return buf;
}

int zl_net_ipam_take(struct zl_store *s, const struct zl_net_cidr *c, const char *id, uint32_t *ip,
                     struct zl_err *err)
{
    uint32_t first, last;
    zl_net_cidr_hosts(c, &first, &last);
    int rc = zl_store_address_take(s, id, first, last, ip, err);
    if (rc == 0 && (*ip < first || *ip > last)) {
        /* kept from another subnet (the node's was changed): a new one in this one */
        rc = zl_store_address_release(s, id, err);
        if (rc == 0)
            rc = zl_store_address_take(s, id, first, last, ip, err);
    }
    if (rc == -ZL_EFULL) {
        char a[16];
        return zl_err_set(err, ZL_EFULL, "no free address left in %s/%u for %s",
                          zl_net_ip_text(c->base, a), c->prefix, id);
    }
    return rc;
}

int zl_net_ipam_release(struct zl_store *s, const char *id, struct zl_err *err)
{
    return zl_store_address_release(s, id, err);
}
