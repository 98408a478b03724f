/* SPDX-License-Identifier: Apache-2.0 */
/* net/link.c: the bridge, and each container's network namespace and veth, through netlink
 * (libnl-route-3). Work inside a container's namespace is done on a short-lived thread of
 * its own, since a namespace switch is per thread. */
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

static int nl_fail(struct zl_err *err, int nlrc, const char *what, const char *name)
{
    return zl_err_set(err, ZL_EINVAL, "%s %s: %s", what, name, nl_geterror(nlrc));
}

static struct nl_sock *rt_socket(struct zl_err *err)
{
    struct nl_sock *sk = nl_socket_alloc();
    if (!sk) {
        zl_err_set(err, ZL_EINVAL, "netlink: out of memory");
        return NULL;
    }
    int rc = nl_connect(sk, NETLINK_ROUTE);
    if (rc < 0) {
        nl_socket_free(sk);
        zl_err_set(err, ZL_EINVAL, "netlink: %s", nl_geterror(rc));
        return NULL;
    }
    return sk;
}

unsigned zl_net_default_mtu(void)
{
    FILE *f = fopen("/proc/net/route", "re");
    char line[256], ifname[IF_NAMESIZE + 1] = "";
    unsigned mtu = 1500;
    while (f && fgets(line, sizeof(line), f)) {
        char name[64];
        unsigned long dest, gw, mask;
        if (sscanf(line, "%63s %lx %lx %*x %*d %*d %*d %lx", name, &dest, &gw, &mask) == 4 &&
            dest == 0 && mask == 0 && strlen(name) <= IF_NAMESIZE) {
            snprintf(ifname, sizeof(ifname), "%s", name);
            break;
        }
    }
    if (f)
        fclose(f);
    unsigned v = *ifname ? zl_net_link_mtu(ifname) : 0;
    return v >= 576 && v <= 65535 ? v : mtu;
}

unsigned zl_net_link_mtu(const char *name)
{
    char path[96], *text = NULL;
    size_t len;
    struct zl_err err;
    snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", name);
    unsigned long v = zl_read_file(path, 64, &text, &len, &err) == 0 ? strtoul(text, NULL, 10) : 0;
    free(text);
    return v <= 65535 ? (unsigned)v : 0;
}

static int link_up(struct nl_sock *sk, const char *name, unsigned mtu, struct zl_err *err)
{
    struct rtnl_link *l = NULL, *change = rtnl_link_alloc();
    int rc = rtnl_link_get_kernel(sk, 0, name, &l);
    if (rc >= 0) {
        rtnl_link_set_flags(change, IFF_UP);
        if (mtu)
            rtnl_link_set_mtu(change, mtu);
        rc = rtnl_link_change(sk, l, change, 0);
    }
    rtnl_link_put(change);
    rtnl_link_put(l);
    return rc < 0 ? nl_fail(err, rc, "bring up", name) : 0;
}

static int add_address(struct nl_sock *sk, const char *ifname, uint32_t ip, unsigned prefix,
                       struct zl_err *err)
{
    struct rtnl_link *l = NULL;
    int rc = rtnl_link_get_kernel(sk, 0, ifname, &l);
    if (rc < 0)
        return nl_fail(err, rc, "find", ifname);
    int ifindex = rtnl_link_get_ifindex(l);
    rtnl_link_put(l);
    char text[32], ipt[16];
    snprintf(text, sizeof(text), "%s/%u", zl_net_ip_text(ip, ipt), prefix);
    struct nl_addr *local = NULL;
    rc = nl_addr_parse(text, AF_INET, &local);
    if (rc < 0)
        return nl_fail(err, rc, "parse", text);
    struct rtnl_addr *a = rtnl_addr_alloc();
    rtnl_addr_set_ifindex(a, ifindex);
    rtnl_addr_set_local(a, local);
    rc = rtnl_addr_add(sk, a, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_addr_put(a);
    nl_addr_put(local);
    if (rc == -NLE_EXIST)
        rc = 0;
    return rc < 0 ? nl_fail(err, rc, "add address to", ifname) : 0;
}

int zl_net_bridge_ensure(const char *name, const struct zl_net_cidr *c, unsigned mtu,
                         struct zl_err *err)
{
    struct nl_sock *sk = rt_socket(err);
    if (!sk)
        return -ZL_EINVAL;
    struct rtnl_link *l = NULL;
    int rc = rtnl_link_get_kernel(sk, 0, name, &l);
    if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV) {
        struct rtnl_link *b = rtnl_link_bridge_alloc();
        rtnl_link_set_name(b, name);
        rtnl_link_set_mtu(b, mtu);
        rc = rtnl_link_add(sk, b, NLM_F_CREATE | NLM_F_EXCL);
        rtnl_link_put(b);
        if (rc == -NLE_EXIST)
            rc = 0;
        if (rc < 0)
            rc = nl_fail(err, rc, "create bridge", name);
    } else if (rc < 0)
        rc = nl_fail(err, rc, "look up", name);
    else {
        const char *type = rtnl_link_get_type(l);
        if (!type || strcmp(type, "bridge") != 0)
            rc = zl_err_set(err, ZL_EINVAL, "%s exists and is not a bridge", name);
    }
    rtnl_link_put(l);
    if (rc == 0)
        rc = add_address(sk, name, zl_net_cidr_gateway(c), c->prefix, err);
    if (rc == 0)
        rc = link_up(sk, name, 0, err);
    nl_socket_free(sk);
    char path[128];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", name);
    if (rc == 0)
        rc = zl_write_text("/proc/sys/net/ipv4/ip_forward", "1", false, err);
    if (rc == 0)
        rc = zl_write_text(path, "1", false, err);
    return rc < 0 ? zl_err_wrap(err, "bridge %s", name) : 0;
}

static int delete_link(struct nl_sock *sk, const char *name, struct zl_err *err)
{
    struct rtnl_link *l = NULL;
    int rc = rtnl_link_get_kernel(sk, 0, name, &l);
    if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV)
        return 0;
    if (rc >= 0)
        rc = rtnl_link_delete(sk, l);
    rtnl_link_put(l);
    if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV)
        rc = 0;
    return rc < 0 ? nl_fail(err, rc, "delete", name) : 0;
}

int zl_net_bridge_remove(const char *name, struct zl_err *err)
{
    struct nl_sock *sk = rt_socket(err);
    if (!sk)
        return -ZL_EINVAL;
    int rc = delete_link(sk, name, err);
    nl_socket_free(sk);
    return rc;
}

static bool link_exists(const char *name)
{
    return if_nametoindex(name) != 0;
}

void zl_net_host_if(uint32_t ip, char name[16])
{
    snprintf(name, 16, "zlv%08x", ip);
}

/* ---------------- a container's namespace ---------------- */

struct attach_job {
    const struct zl_net_attach *at;
    struct zl_err err;
    int rc;
};

/* Inside the new namespace (sk is a socket there): lo and eth0 up, the address, the route. */
static int configure_inside(struct nl_sock *sk, const struct zl_net_attach *at, struct zl_err *err)
{
    int rc = link_up(sk, "lo", 0, err);
    if (rc == 0)
        rc = add_address(sk, "eth0", at->ip, at->subnet->prefix, err);
    if (rc == 0)
        rc = link_up(sk, "eth0", at->mtu, err);
    if (rc < 0)
        return rc;
    struct rtnl_link *l = NULL;
    rc = rtnl_link_get_kernel(sk, 0, "eth0", &l);
    if (rc < 0)
        return nl_fail(err, rc, "find", "eth0");
    int ifindex = rtnl_link_get_ifindex(l);
    rtnl_link_put(l);
    char gw[16];
    struct nl_addr *gwa = NULL, *dst = NULL;
    nl_addr_parse(zl_net_ip_text(zl_net_cidr_gateway(at->subnet), gw), AF_INET, &gwa);
    nl_addr_parse("0.0.0.0/0", AF_INET, &dst);
    struct rtnl_route *r = rtnl_route_alloc();
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    rtnl_route_set_family(r, AF_INET);
    rtnl_route_set_dst(r, dst);
    rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_nh_set_gateway(nh, gwa);
    rtnl_route_add_nexthop(r, nh);
    rc = rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_route_put(r);
    nl_addr_put(gwa);
    nl_addr_put(dst);
    return rc < 0 ? nl_fail(err, rc, "add default route via", gw) : 0;
}

/* On the host side (sk there): the veth with its peer created inside nsfd, enslaved, up. */
static int make_veth(struct nl_sock *sk, const struct zl_net_attach *at, int nsfd,
                     struct zl_err *err)
{
    int rc = delete_link(sk, at->host_if, err); /* left by an earlier try */
    if (rc < 0)
        return rc;
    struct rtnl_link *v = rtnl_link_veth_alloc();
    if (!v)
        return zl_err_set(err, ZL_EINVAL, "netlink: out of memory");
    struct rtnl_link *peer = rtnl_link_veth_get_peer(v);
    rtnl_link_set_name(v, at->host_if);
    rtnl_link_set_mtu(v, at->mtu);
    rtnl_link_set_name(peer, "eth0");
    rtnl_link_set_mtu(peer, at->mtu);
    rtnl_link_set_ns_fd(peer, nsfd);
    rc = rtnl_link_add(sk, v, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(peer);
    rtnl_link_veth_release(v);
    if (rc < 0)
        return nl_fail(err, rc, "create veth", at->host_if);
    struct rtnl_link *br = NULL, *me = NULL;
    rc = rtnl_link_get_kernel(sk, 0, at->bridge, &br);
    if (rc >= 0)
        rc = rtnl_link_get_kernel(sk, 0, at->host_if, &me);
    if (rc >= 0)
        rc = rtnl_link_enslave(sk, br, me);
    rtnl_link_put(br);
    rtnl_link_put(me);
    if (rc < 0)
        return nl_fail(err, rc, "attach to bridge", at->host_if);
    return link_up(sk, at->host_if, 0, err);
}

static int bind_namespace(const char *path, struct zl_err *err)
{
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0400);
    if (fd < 0)
        return zl_err_sys(err, errno, "create %s", path);
    close(fd);
    if (mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0)
        return zl_err_sys(err, errno, "bind the network namespace on %s", path);
    return 0;
}

static void *attach_thread(void *arg)
{
    struct attach_job *j = arg;
    const struct zl_net_attach *at = j->at;
    struct nl_sock *inside = NULL, *host = NULL;
    int hostfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), nsfd = -1;
    j->rc = -ZL_EINVAL;
    if (hostfd < 0) {
        j->rc = zl_err_sys(&j->err, errno, "open the host's network namespace");
        return NULL;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        j->rc = zl_err_sys(&j->err, errno, "new network namespace");
        goto out;
    }
    if ((j->rc = bind_namespace(at->netns_path, &j->err)) < 0)
        goto out;
    nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    inside = rt_socket(&j->err);
    if (nsfd < 0 || !inside) {
        j->rc = nsfd < 0 ? zl_err_sys(&j->err, errno, "open the new namespace") : -ZL_EINVAL;
        goto out;
    }
    /* back home for the host side (the inside socket stays where it was made) */
    if (setns(hostfd, CLONE_NEWNET) < 0) {
        j->rc = zl_err_sys(&j->err, errno, "return to the host's network namespace");
        goto out;
    }
    host = rt_socket(&j->err);
    j->rc = host ? make_veth(host, at, nsfd, &j->err) : -ZL_EINVAL;
    if (j->rc == 0)
        j->rc = configure_inside(inside, at, &j->err);
    /* the node network is IPv4: no IPv6 (link-local included) on eth0 to reach anyone by.
     * This thread ends here, so it may stay in the namespace. */
    if (j->rc == 0 && setns(nsfd, CLONE_NEWNET) == 0) {
        struct zl_err ignore;
        zl_write_text("/proc/sys/net/ipv6/conf/eth0/disable_ipv6", "1", false, &ignore);
    }
out:
    if (inside)
        nl_socket_free(inside);
    if (host)
        nl_socket_free(host);
    if (nsfd >= 0)
        close(nsfd);
    close(hostfd);
    return NULL;
}

int zl_net_attach(const struct zl_net_attach *at, struct zl_err *err)
{
    zl_net_detach(at->netns_path, at->host_if);
    struct attach_job j = {.at = at};
    pthread_t t;
    int e = pthread_create(&t, NULL, attach_thread, &j);
    if (e)
        return zl_err_sys(err, e, "thread");
    pthread_join(t, NULL);
    if (j.rc < 0) {
        *err = j.err;
        zl_net_detach(at->netns_path, at->host_if);
        return zl_err_wrap(err, "network of %s", at->host_if);
    }
    return 0;
}

void zl_net_detach(const char *netns_path, const char *host_if)
{
    struct zl_err err;
    struct nl_sock *sk = host_if ? rt_socket(&err) : NULL;
    if (sk) {
        delete_link(sk, host_if, &err);
        nl_socket_free(sk);
    }
    if (netns_path) {
        umount2(netns_path, MNT_DETACH);
        unlink(netns_path);
    }
}

static uint64_t counter(const char *ifname, const char *name)
{
    char path[128], *text = NULL;
    size_t len;
    struct zl_err err;
    snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
    uint64_t v = 0;
    if (zl_read_file(path, 64, &text, &len, &err) == 0)
        v = strtoull(text, NULL, 10);
    free(text);
    return v;
}

int zl_net_stats_read(const char *host_if, struct zl_net_stats *st)
{
    if (!link_exists(host_if))
        return -ENODEV;
    st->rx_bytes = counter(host_if, "tx_bytes");
    st->rx_packets = counter(host_if, "tx_packets");
    st->tx_bytes = counter(host_if, "rx_bytes");
    st->tx_packets = counter(host_if, "rx_packets");
    return 0;
}
