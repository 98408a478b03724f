/* SPDX-License-Identifier: Apache-2.0 */
/* net/rules.c: the node's nftables rules, kept in two tables of zlayer's own per bridge
 * (family ip: egress masquerade, published ports, and the node's DNS kept out of any
 * translation; family bridge: isolation between groups), always rewritten whole in one atomic
 * batch so that a restart or a repeat leaves exactly one copy. Only literal addresses appear
 * in the script (a name there would make libnftables look it up, blocking). */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

static void table_name(char *out, size_t cap, const char *bridge)
{
    snprintf(out, cap, "zlayer_%s", bridge);
}

/* A published port and every member behind it. */
struct published {
    const char *group; /* the first member's: another group's same port is left out */
    uint32_t host_ip;
    uint16_t host_port;
    bool udp;
    uint32_t *ips;
    uint16_t *ports;
    size_t n;
};

static struct published *collect_ports(const struct zl_net_rules *r, size_t *count)
{
    struct published *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->nmembers; i++)
        for (size_t k = 0; k < r->members[i].nports; k++) {
            const struct zl_net_port *p = &r->members[i].ports[k];
            size_t j = 0;
            while (j < n && !(out[j].host_ip == p->host_ip && out[j].host_port == p->host_port &&
                              out[j].udp == p->udp))
                j++;
            if (j == n) {
                out = zl_xrealloc(out, (n + 1) * sizeof(*out));
                out[n++] = (struct published){
                    r->members[i].group, p->host_ip, p->host_port, p->udp, NULL, NULL, 0};
            } else if (strcmp(out[j].group, r->members[i].group) != 0)
                continue; /* taken by another deployment (deploy refuses this) */
            struct published *q = &out[j];
            q->ips = zl_xrealloc(q->ips, (q->n + 1) * sizeof(*q->ips));
            q->ports = zl_xrealloc(q->ports, (q->n + 1) * sizeof(*q->ports));
            q->ips[q->n] = r->members[i].ip;
            q->ports[q->n++] = p->container_port;
        }
    *count = n;
    return out;
}

static void port_rule(struct zl_buf *b, const struct published *p)
{
    char ip[16];
    zl_buf_puts(b, "    ");
    if (p->host_ip)
        zl_buf_printf(b, "ip daddr %s ", zl_net_ip_text(p->host_ip, ip));
    zl_buf_printf(b, "%s dport %u dnat ", p->udp ? "udp" : "tcp", p->host_port);
    if (p->n == 1) {
        zl_buf_printf(b, "to %s:%u\n", zl_net_ip_text(p->ips[0], ip), p->ports[0]);
        return;
    }
    /* several replicas publish the port: new connections go to each in turn */
    zl_buf_printf(b, "ip addr . port to numgen inc mod %zu map {", p->n);
    for (size_t i = 0; i < p->n; i++)
        zl_buf_printf(b, "%s %zu : %s . %u", i ? "," : "", i, zl_net_ip_text(p->ips[i], ip),
                      p->ports[i]);
    zl_buf_puts(b, " }\n");
}

char *zl_net_rules_text(const struct zl_net_rules *r)
{
    char t[64], net[16], ip[16], gw[16];
    table_name(t, sizeof(t), r->bridge);
    zl_net_ip_text(r->subnet.base, net);
    /* the node's own services on the bridge (its DNS) are never redirected */
    zl_net_ip_text(zl_net_cidr_gateway(&r->subnet), gw);
    struct zl_buf b;
    zl_buf_init(&b);
    zl_buf_printf(&b,
                  "add table ip %s\ndelete table ip %s\n"
                  "add table bridge %s\ndelete table bridge %s\n",
                  t, t, t, t);
    zl_buf_printf(&b, "table ip %s {\n  chain ports {\n", t);
    size_t np = 0;
    struct published *pub = collect_ports(r, &np);
    for (size_t i = 0; i < np; i++) {
        port_rule(&b, &pub[i]);
        free(pub[i].ips);
        free(pub[i].ports);
    }
    free(pub);
    zl_buf_printf(&b,
                  "  }\n"
                  "  chain prerouting {\n"
                  "    type nat hook prerouting priority dstnat; policy accept;\n"
                  "    fib daddr type local ip daddr != %s jump ports\n"
                  "  }\n"
                  "  chain output {\n"
                  "    type nat hook output priority -100; policy accept;\n"
                  "    fib daddr type local ip daddr != %s jump ports\n"
                  "  }\n"
                  "  chain postrouting {\n"
                  "    type nat hook postrouting priority srcnat; policy accept;\n"
                  "    ip saddr %s/%u oifname != \"%s\" masquerade\n"
                  "    ip saddr 127.0.0.0/8 oifname \"%s\" masquerade\n"
                  "    ip saddr %s/%u oifname \"%s\" ct status dnat masquerade\n"
                  "  }\n",
                  gw, gw, net, r->subnet.prefix, r->bridge, r->bridge, net, r->subnet.prefix,
                  r->bridge);
    /* the node's DNS, to and from the bridge's address, is never tracked, so never
     * translated: a port 53 published on every host address by anyone else (another node on
     * this host, whose exception above names only its own bridge; a container engine) would
     * otherwise take the replicas' queries, its DNAT applying to every local address */
    zl_buf_printf(&b,
                  "  chain dns_in {\n"
                  "    type filter hook prerouting priority raw; policy accept;\n"
                  "    ip daddr %s udp dport 53 notrack\n"
                  "    ip daddr %s tcp dport 53 notrack\n"
                  "  }\n"
                  "  chain dns_out {\n"
                  "    type filter hook output priority raw; policy accept;\n"
                  "    ip daddr %s udp dport 53 notrack\n"
                  "    ip daddr %s tcp dport 53 notrack\n"
                  "    ip saddr %s udp sport 53 notrack\n"
                  "    ip saddr %s tcp sport 53 notrack\n"
                  "  }\n"
                  "}\n",
                  gw, gw, gw, gw, gw, gw);
    zl_buf_printf(&b, "table bridge %s {\n", t);
    /* one set per group, in the order groups first appear */
    const char **groups = zl_xcalloc(r->nmembers + 1, sizeof(*groups));
    size_t ng = 0;
    for (size_t i = 0; i < r->nmembers; i++) {
        size_t g = 0;
        while (g < ng && strcmp(groups[g], r->members[i].group) != 0)
            g++;
        if (g == ng)
            groups[ng++] = r->members[i].group;
    }
    for (size_t g = 0; g < ng; g++) {
        zl_buf_printf(&b, "  set g%zu {\n    type ipv4_addr\n    elements = {", g);
        bool first = true;
        for (size_t i = 0; i < r->nmembers; i++)
            if (!strcmp(groups[g], r->members[i].group)) {
                zl_buf_printf(&b, "%s %s", first ? "" : ",", zl_net_ip_text(r->members[i].ip, ip));
                first = false;
            }
        zl_buf_puts(&b, " }\n  }\n");
    }
    /* each member's port: what may come in through it (IPv4 from its own address, ARP) */
    size_t nports = 0;
    for (size_t i = 0; i < r->nmembers; i++)
        if (r->members[i].host_if) {
            zl_buf_printf(&b, "%s \"%s\"",
                          nports ? "," : "  set ports {\n    type ifname\n    elements = {",
                          r->members[i].host_if);
            nports++;
        }
    if (nports) {
        zl_buf_puts(&b, " }\n  }\n  set own {\n    type ifname . ipv4_addr\n    elements = {");
        bool first = true;
        for (size_t i = 0; i < r->nmembers; i++)
            if (r->members[i].host_if) {
                zl_buf_printf(&b, "%s \"%s\" . %s", first ? "" : ",", r->members[i].host_if,
                              zl_net_ip_text(r->members[i].ip, ip));
                first = false;
            }
        zl_buf_puts(&b, " }\n  }\n");
    }
    zl_buf_puts(&b, "  chain isolate {\n"
                    "    type filter hook forward priority filter; policy accept;\n");
    if (nports)
        zl_buf_puts(&b, "    iifname @ports ether type != { ip, arp } drop\n"
                        "    iifname @ports ether type ip iifname . ip saddr != @own drop\n");
    for (size_t g = 0; g < ng; g++)
        zl_buf_printf(&b, "    ip saddr @g%zu ip daddr @g%zu accept\n", g, g);
    zl_buf_printf(&b, "    ip saddr %s/%u ip daddr %s/%u drop\n  }\n}\n", net, r->subnet.prefix,
                  net, r->subnet.prefix);
    free(groups);
    return zl_buf_steal(&b, NULL);
}

static int run(const char *script, struct zl_err *err)
{
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx)
        return zl_err_set(err, ZL_EINVAL, "nftables: out of memory");
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    int rc = nft_run_cmd_from_buffer(ctx, script);
    if (rc != 0) {
        const char *e = nft_ctx_get_error_buffer(ctx);
        char first[512];
        snprintf(first, sizeof(first), "%s", e && *e ? e : "failed");
        char *nl = strchr(first, '\n');
        if (nl)
            *nl = '\0';
        rc = zl_err_set(err, ZL_EINVAL, "nftables: %s", first);
    }
    nft_ctx_free(ctx);
    return rc;
}

int zl_net_rules_apply(const struct zl_net_rules *r, struct zl_err *err)
{
    char *s = zl_net_rules_text(r);
    int rc = run(s, err);
    free(s);
    return rc;
}

int zl_net_rules_remove(const char *bridge, struct zl_err *err)
{
    char t[64], *s;
    table_name(t, sizeof(t), bridge);
    s = zl_xasprintf("add table ip %s\ndelete table ip %s\nadd table bridge %s\n"
                     "delete table bridge %s\n",
                     t, t, t, t);
    int rc = run(s, err);
    free(s);
    return rc;
}

bool zl_net_rules_present(const char *bridge)
{
    char t[64];
    table_name(t, sizeof(t), bridge);
    char *s = zl_xasprintf("list table ip %s", t);
    struct zl_err err;
    bool found = run(s, &err) == 0;
    free(s);
    return found;
}
