/* SPDX-License-Identifier: Apache-2.0 */
/* agent/net.c: a replica's network as its service asks (network_mode), the files that go
 * with it (/etc/hosts, /etc/resolv.conf, /etc/hostname), and the node's rules kept in step
 * with the containers there are. What each container has is written beside it (net.json),
 * so that the rules can be rebuilt from the containers alone, after a restart too. */
#include "agent/internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"

static bool valid_bridge(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15 || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

int zl_agent__net_config(struct zl_agent *a, struct zl_err *err)
{
    struct zl_agent_net *n = &a->net;
    const char *br = getenv("ZLAYER_BRIDGE"), *sub = getenv("ZLAYER_SUBNET"),
               *mtu = getenv("ZLAYER_MTU"), *why = NULL;
    snprintf(n->bridge, sizeof(n->bridge), "%s", br && *br ? br : "zl0");
    if (!valid_bridge(n->bridge))
        return zl_err_set(err, ZL_EINVAL,
                          "bridge name '%s': 1-15 lower-case letters and digits, from a letter",
                          n->bridge);
    if (zl_net_cidr_parse(sub && *sub ? sub : "10.240.0.0/24", &n->subnet, &why) < 0)
        return zl_err_set(err, ZL_EINVAL, "subnet '%s': %s", sub, why);
    n->mtu = mtu && *mtu ? (unsigned)strtoul(mtu, NULL, 10) : zl_net_link_mtu(n->bridge);
    if (!n->mtu) /* no bridge yet: the one it will get */
        n->mtu = zl_net_default_mtu();
    if (n->mtu < 576 || n->mtu > 65535)
        return zl_err_set(err, ZL_EINVAL, "MTU '%s': 576-65535", mtu);
    n->netns_dir = zl_xasprintf("%s/netns", a->runtime_dir);
    mkdir(n->netns_dir, 0700);
    return 0;
}

void zl_agent__net_fini(struct zl_agent *a)
{
    free(a->net.netns_dir);
    a->net.netns_dir = NULL;
}

/* ---------------- what a container has: net.json ---------------- */

static char *net_file(struct zl_agent *a, const char *id)
{
    return zl_xasprintf("%s/%s/net.json", a->containers_dir, id);
}

static json_t *net_read(struct zl_agent *a, const char *id)
{
    char *p = net_file(a, id);
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    return j;
}

void zl_agent__net_each(struct zl_agent *a, void (*fn)(void *arg, const char *id, json_t *net),
                        void *arg)
{
    DIR *d = opendir(a->containers_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        json_t *net = e->d_name[0] == '.' ? NULL : net_read(a, e->d_name);
        if (net)
            fn(arg, e->d_name, net);
        json_decref(net);
    }
    if (d)
        closedir(d);
}

static uint32_t ip_of(json_t *net)
{
    uint32_t ip = 0;
    const char *s = json_string_value(json_object_get(net, "ip"));
    return s && zl_net_ip_parse(s, &ip) == 0 ? ip : 0;
}

/* ---------------- the files ---------------- */

static int write_in(const char *dir, const char *name, const char *text, struct zl_err *err)
{
    char *p = zl_xasprintf("%s/%s", dir, name);
    int rc = zl_write_text(p, text, true, err);
    free(p);
    return rc;
}

static void add_file_mount(json_t *cfg, const char *dir, const char *name, const char *dst, bool ro)
{
    char *src = zl_xasprintf("%s/%s", dir, name);
    json_t *o = json_pack("[s,s]", "rbind", ro ? "ro" : "rw");
    json_array_append_new(json_object_get(cfg, "mounts"),
                          json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type", "bind",
                                    "source", src, "options", o));
    free(src);
}

/* A name that may go into /etc/hosts: letters, digits, '-', '.', '_'. */
static bool host_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.' || s[i] == '_'))
            return false;
    return true;
}

/* /etc/hosts: localhost, the replica's own name, extra_hosts ("name:ip", ip may be
 * host-gateway). */
static int hosts_text(struct zl_agent *a, const struct zl_sval *svc, const char *hostname,
                      uint32_t ip, struct zl_buf *b, struct zl_err *err)
{
    char t[16];
    if (!host_name_ok(hostname, strlen(hostname)))
        return zl_err_set(err, ZL_EINVAL, "hostname '%s': letters, digits, '-', '.' only",
                          hostname);
    zl_buf_puts(b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    zl_buf_printf(b, "%s\t%s\n", ip ? zl_net_ip_text(ip, t) : "127.0.1.1", hostname);
    const struct zl_sval *ex = zl_sval_get(svc, "extra_hosts");
    for (size_t i = 0; ex && i < ex->n; i++) {
        const char *s = ex->items[i]->s, *colon = strchr(s, ':');
        uint32_t addr;
        if (!colon || !host_name_ok(s, (size_t)(colon - s)))
            return zl_err_set(err, ZL_EINVAL, "extra_hosts '%s': write NAME:IP", s);
        if (!strcmp(colon + 1, "host-gateway"))
            addr = zl_net_cidr_gateway(&a->net.subnet);
        else if (zl_net_ip_parse(colon + 1, &addr) < 0) {
            struct in6_addr a6;
            if (inet_pton(AF_INET6, colon + 1, &a6) != 1)
                return zl_err_set(err, ZL_EINVAL, "extra_hosts '%s': '%s' is not an address", s,
                                  colon + 1);
            zl_buf_printf(b, "%s\t%.*s\n", colon + 1, (int)(colon - s), s);
            continue;
        }
        zl_buf_printf(b, "%s\t%.*s\n", zl_net_ip_text(addr, t), (int)(colon - s), s);
    }
    return 0;
}

static int resolv_text(struct zl_agent *a, const struct zl_sval *svc, struct zl_buf *b,
                       struct zl_err *err)
{
    char t[16];
    zl_buf_printf(b, "nameserver %s\n", zl_net_ip_text(zl_net_cidr_gateway(&a->net.subnet), t));
    const struct zl_sval *dns = zl_sval_get(svc, "dns");
    for (size_t i = 0; dns && i < dns->n; i++) {
        const char *s = dns->items[i]->s;
        struct in6_addr a6;
        uint32_t ip;
        if (zl_net_ip_parse(s, &ip) == 0)
            zl_buf_printf(b, "nameserver %s\n", zl_net_ip_text(ip, t));
        else if (inet_pton(AF_INET6, s, &a6) == 1)
            zl_buf_printf(b, "nameserver %s\n", s);
        else
            return zl_err_set(err, ZL_EINVAL, "dns '%s' is not an IP address", s);
    }
    zl_buf_puts(b, "search service.local\noptions ndots:1\n");
    return 0;
}

static int write_files(struct zl_agent *a, const struct zl_sval *svc,
                       const struct zl_replica_ref *r, const char *hostname, uint32_t ip,
                       json_t *cfg, struct zl_err *err)
{
    struct zl_buf h, rs;
    zl_buf_init(&h);
    zl_buf_init(&rs);
    int rc = hosts_text(a, svc, hostname, ip, &h, err);
    if (rc == 0)
        rc = resolv_text(a, svc, &rs, err);
    char *hn = zl_xasprintf("%s\n", hostname);
    if (rc == 0)
        rc = write_in(r->dir, "hosts", h.data, err);
    if (rc == 0)
        rc = write_in(r->dir, "resolv.conf", rs.data, err);
    if (rc == 0)
        rc = write_in(r->dir, "hostname", hn, err);
    free(hn);
    zl_buf_fini(&h);
    zl_buf_fini(&rs);
    if (rc == 0) {
        add_file_mount(cfg, r->dir, "hosts", "/etc/hosts", false);
        add_file_mount(cfg, r->dir, "hostname", "/etc/hostname", false);
        add_file_mount(cfg, r->dir, "resolv.conf", "/etc/resolv.conf", false);
    }
    return rc;
}

/* ---------------- port mappings ---------------- */

/* A free port the kernel would hand out now (for host_port 0). */
static uint16_t ephemeral_port(bool udp)
{
    int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static json_t *ports_of(const struct zl_sval *svc, struct zl_err *err)
{
    json_t *out = json_array();
    const struct zl_sval *pm = zl_sval_get(svc, "port_mappings");
    for (size_t i = 0; pm && i < pm->n; i++) {
        const struct zl_sval *m = pm->items[i];
        const char *proto = zl_sval_str(m, "protocol", "tcp"), *hip = zl_sval_str(m, "host_ip", "");
        uint32_t ip = 0;
        if (*hip && strcmp(hip, "0.0.0.0") != 0 && strcmp(hip, "::") != 0 &&
            zl_net_ip_parse(hip, &ip) < 0) {
            json_decref(out);
            zl_err_set(err, ZL_EINVAL, "port_mappings[%zu].host_ip '%s' is not an IPv4 address", i,
                       hip);
            return NULL;
        }
        unsigned hp = (unsigned)zl_sval_uint(m, "host_port", 0);
        if (hp == 0)
            hp = ephemeral_port(!strcmp(proto, "udp"));
        char t[16];
        json_array_append_new(
            out, json_pack("{s:s, s:i, s:i, s:s}", "host_ip", ip ? zl_net_ip_text(ip, t) : "",
                           "host_port", (int)hp, "container_port",
                           (int)zl_sval_uint(m, "container_port", 0), "protocol", proto));
    }
    return out;
}

/* ---------------- the rules, from every container's net.json ---------------- */

/* One process may have several agents (the reconciler, job runs): the rules are the node's. */
static pthread_mutex_t rules_lock = PTHREAD_MUTEX_INITIALIZER;
static char *rules_applied; /* the script last applied, to skip a no-op */

struct members {
    struct zl_net_member *m;
    struct zl_net_port **ports;
    char **groups, **ifs;
    size_t n;
};

static void members_free(struct members *ms)
{
    for (size_t i = 0; i < ms->n; i++) {
        free(ms->ports[i]);
        free(ms->groups[i]);
        free(ms->ifs[i]);
    }
    free(ms->m);
    free(ms->ports);
    free(ms->groups);
    free(ms->ifs);
}

static void add_member(void *arg, const char *id, json_t *net)
{
    struct members *ms = arg;
    uint32_t ip = ip_of(net);
    (void)id;
    if (!ip)
        return;
    ms->m = zl_xrealloc(ms->m, (ms->n + 1) * sizeof(*ms->m));
    ms->ports = zl_xrealloc(ms->ports, (ms->n + 1) * sizeof(*ms->ports));
    ms->groups = zl_xrealloc(ms->groups, (ms->n + 1) * sizeof(*ms->groups));
    ms->ifs = zl_xrealloc(ms->ifs, (ms->n + 1) * sizeof(*ms->ifs));
    const char *hif = json_string_value(json_object_get(net, "host_if"));
    ms->ifs[ms->n] = hif ? zl_xstrdup(hif) : NULL;
    json_t *ports = json_object_get(net, "ports");
    size_t np = json_array_size(ports);
    struct zl_net_port *p = zl_xcalloc(np + 1, sizeof(*p));
    for (size_t i = 0; i < np; i++) {
        json_t *o = json_array_get(ports, i);
        const char *hip = json_string_value(json_object_get(o, "host_ip"));
        if (hip && *hip)
            zl_net_ip_parse(hip, &p[i].host_ip);
        p[i].host_port = (uint16_t)json_integer_value(json_object_get(o, "host_port"));
        p[i].container_port = (uint16_t)json_integer_value(json_object_get(o, "container_port"));
        const char *proto = json_string_value(json_object_get(o, "protocol"));
        p[i].udp = proto && !strcmp(proto, "udp");
    }
    ms->ports[ms->n] = p;
    ms->groups[ms->n] = zl_xstrdup(json_string_value(json_object_get(net, "group")) ?: "");
    ms->m[ms->n] = (struct zl_net_member){ip, ms->groups[ms->n], ms->ifs[ms->n], p, np};
    ms->n++;
}

int zl_agent__net_sync(struct zl_agent *a, struct zl_err *err)
{
    /* read, written and applied under one lock: an older view never lands after a newer */
    pthread_mutex_lock(&rules_lock);
    struct members ms = {0};
    zl_agent__net_each(a, add_member, &ms);
    struct zl_net_rules r = {a->net.bridge, a->net.subnet, ms.m, ms.n};
    char *text = zl_net_rules_text(&r);
    int rc = 0;
    if (!rules_applied || strcmp(rules_applied, text) != 0 ||
        !zl_net_rules_present(a->net.bridge)) {
        rc = zl_net_rules_apply(&r, err);
        free(rules_applied);
        rules_applied = rc == 0 ? ZL_STEAL(text) : NULL;
    }
    pthread_mutex_unlock(&rules_lock);
    free(text);
    members_free(&ms);
    return rc;
}

/* After a reboot (or a crash between steps): records whose namespace is gone, and addresses
 * no record names, are let go. Runs before anything is created. */
static void drop_stale(void *arg, const char *id, json_t *net)
{
    const char *nsp = json_string_value(json_object_get(net, "netns"));
    if (nsp && access(nsp, F_OK) < 0) {
        char *p = net_file(arg, id);
        unlink(p);
        free(p);
        zl_log("info", "net", "%s: its network namespace is gone, its record too", id);
    }
}

static void count_member(void *arg, const char *id, json_t *net)
{
    (void)id;
    *(size_t *)arg += json_object_get(net, "ip") != NULL;
}

static void sweep(struct zl_agent *a)
{
    zl_agent__net_each(a, drop_stale, a);
    char **ids = NULL;
    size_t n = 0;
    struct zl_err err;
    if (zl_store_address_holders(a->db, &ids, &n, &err) < 0)
        zl_log("warn", "net", "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        json_t *net = net_read(a, ids[i]);
        if (!net && zl_net_ipam_release(a->db, ids[i], &err) < 0)
            zl_log("warn", "net", "%s", err.msg);
        json_decref(net);
        free(ids[i]);
    }
    free(ids);
}

int zl_agent__net_start(struct zl_agent *a, struct zl_err *err)
{
    sweep(a);
    int rc = zl_net_bridge_ensure(a->net.bridge, &a->net.subnet, a->net.mtu, err);
    if (rc == 0)
        rc = zl_agent__net_sync(a, err);
    return rc;
}

void zl_agent__net_stop(struct zl_agent *a)
{
    size_t n = 0;
    zl_agent__net_each(a, count_member, &n);
    if (n)
        return; /* containers outlive the daemon: their network stays */
    struct zl_err err;
    pthread_mutex_lock(&rules_lock);
    if (zl_net_rules_remove(a->net.bridge, &err) < 0)
        zl_log("warn", "net", "%s", err.msg);
    free(rules_applied);
    rules_applied = NULL;
    pthread_mutex_unlock(&rules_lock);
    if (zl_net_bridge_remove(a->net.bridge, &err) < 0)
        zl_log("warn", "net", "%s", err.msg);
}

/* ---------------- one replica ---------------- */

static void netns_path(struct zl_agent *a, const char *id, char **out)
{
    *out = zl_xasprintf("%s/%s", a->net.netns_dir, id);
}

/* container:X: X is a replica's hostname (SERVICE-INDEX) or a service of the same
 * deployment, or a container id. */
static char *joined_id(struct zl_agent *a, const struct zl_replica_ref *r, const char *x)
{
    char *cands[4] = {zl_xasprintf("%s-%s", r->deployment, x),
                      zl_xasprintf("%s-%s-%u", r->deployment, x, r->index), zl_xstrdup(x),
                      zl_xasprintf("%s-%s-0", r->deployment, x)};
    char *found = NULL;
    for (int i = 0; i < 4; i++) {
        json_t *net = found ? NULL : net_read(a, cands[i]);
        if (net)
            found = ZL_STEAL(cands[i]);
        json_decref(net);
        free(cands[i]);
    }
    return found;
}

static void set_netns(json_t *cfg, const char *path)
{
    json_t *ns = json_object_get(json_object_get(cfg, "linux"), "namespaces");
    for (size_t i = 0; i < json_array_size(ns); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(ns, i), "type")) ?: "",
                    "network")) {
            json_array_remove(ns, i);
            break;
        }
    if (path)
        json_array_append_new(ns, json_pack("{s:s, s:s}", "type", "network", "path", path));
}

/* Written whole or not at all (readers scan these files at any time). */
static int write_net(struct zl_agent *a, const char *id, json_t *net, struct zl_err *err)
{
    char *p = net_file(a, id), *tmp = zl_xasprintf("%s.tmp", p), *text = json_dumps(net, 0);
    int rc = zl_write_text(tmp, text, true, err);
    if (rc == 0 && rename(tmp, p) < 0)
        rc = zl_err_sys(err, errno, "rename %s", tmp);
    if (rc < 0)
        unlink(tmp);
    free(text);
    free(tmp);
    free(p);
    return rc;
}

int zl_agent__net_prepare(struct zl_agent *a, const struct zl_sval *svc,
                          const struct zl_replica_ref *r, json_t *cfg, struct zl_err *err)
{
    const char *mode = zl_sval_str(svc, "network_mode", "default");
    const char *hostname = json_string_value(json_object_get(cfg, "hostname")) ?: r->service;
    if (!strcmp(mode, "host")) {
        add_file_mount(cfg, "/etc", "hosts", "/etc/hosts", true);
        add_file_mount(cfg, "/etc", "resolv.conf", "/etc/resolv.conf", true);
        return 0;
    }
    if (!strcmp(mode, "none"))
        return write_files(a, svc, r, hostname, 0, cfg, err);
    json_t *net = NULL;
    int rc = 0;
    if (!strncmp(mode, "container:", 10)) {
        bool bad = strchr(mode + 10, '/') || mode[10] == '.';
        char *target = bad ? NULL : joined_id(a, r, mode + 10);
        json_t *tn = target ? net_read(a, target) : NULL;
        const char *tns = json_string_value(json_object_get(tn, "netns")),
                   *tdep = json_string_value(json_object_get(tn, "deployment"));
        if (tns && (!tdep || strcmp(tdep, r->deployment) != 0))
            rc = zl_err_set(err, ZL_EINVAL,
                            "network_mode %s: that container belongs to another deployment", mode);
        else if (!tns)
            rc = zl_err_set(err, ZL_ENOTFOUND,
                            "network_mode %s: no running container %s with a network of its own",
                            mode, mode + 10);
        else {
            set_netns(cfg, tns);
            rc = write_files(a, svc, r, hostname, ip_of(tn), cfg, err);
            net = json_pack("{s:s, s:s}", "joined", target, "group", r->deployment);
        }
        json_decref(tn);
        free(target);
    } else {
        /* default, bridge, bridge:NAME: an address on the node bridge; a named bridge
         * network is a group of its own across deployments */
        uint32_t ip = 0;
        json_t *ports = ports_of(svc, err);
        rc = ports ? zl_net_ipam_take(a->db, &a->net.subnet, r->id, &ip, err) : -ZL_EINVAL;
        char *nsp = NULL, hif[16], t[16];
        netns_path(a, r->id, &nsp);
        zl_net_host_if(ip, hif);
        struct zl_net_attach at = {nsp, a->net.bridge, hif, &a->net.subnet, ip, a->net.mtu};
        if (rc == 0)
            rc = zl_net_attach(&at, err);
        if (rc == 0) {
            char *group = !strncmp(mode, "bridge:", 7) ? zl_xasprintf("net:%s", mode + 7)
                                                       : zl_xstrdup(r->deployment);
            net =
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:O}", "ip", zl_net_ip_text(ip, t),
                          "netns", nsp, "host_if", hif, "group", group, "deployment", r->deployment,
                          "service", r->service, "index", (int)r->index, "ports", ports);
            free(group);
            set_netns(cfg, nsp);
            rc = write_files(a, svc, r, hostname, ip, cfg, err);
            if (rc == 0)
                rc = write_net(a, r->id, net, err);
            if (rc == 0)
                zl_agent__names_client(a, r, ip);
        }
        if (rc < 0 && ip)
            zl_net_detach(nsp, hif);
        if (rc < 0 && ip) {
            struct zl_err e2;
            zl_net_ipam_release(a->db, r->id, &e2);
        }
        json_decref(ports);
        free(nsp);
    }
    bool member = json_object_get(net, "ip") != NULL;
    if (rc == 0 && net && !member) /* container: mode, noted for the API */
        rc = write_net(a, r->id, net, err);
    json_decref(net);
    /* a new member is outside every group until the rules name it (its packets to others
     * on the bridge are dropped): a reconciler pass adds its members at its end, at once */
    if (rc == 0 && member && a->net_defer)
        a->net_dirty = true;
    else if (rc == 0 && member)
        rc = zl_agent__net_sync(a, err);
    return rc < 0 ? zl_err_wrap(err, "network") : 0;
}

void zl_agent__net_release(struct zl_agent *a, char *const *ids, size_t n)
{
    struct zl_err err;
    bool members = false;
    /* links and records first, then the rules without them, and only then the addresses:
     * an address is never handed out again while a rule still names it */
    for (size_t i = 0; i < n; i++) {
        json_t *net = net_read(a, ids[i]);
        if (!net)
            continue;
        const char *nsp = json_string_value(json_object_get(net, "netns")),
                   *hif = json_string_value(json_object_get(net, "host_if"));
        if (nsp || hif)
            zl_net_detach(nsp, hif);
        members |= json_object_get(net, "ip") != NULL;
        char *p = net_file(a, ids[i]);
        unlink(p);
        free(p);
        json_decref(net);
    }
    if (members && zl_agent__net_sync(a, &err) < 0) {
        /* the old rules may still name these addresses: kept (the next start lets them go) */
        zl_log("warn", "net", "%s; the addresses stay taken", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (zl_net_ipam_release(a->db, ids[i], &err) < 0)
            zl_log("warn", "net", "release the address of %s: %s", ids[i], err.msg);
}

json_t *zl_agent_net_json(const char *containers_dir, const char *id)
{
    char *p = zl_xasprintf("%s/%s/net.json", containers_dir, id);
    json_t *net = json_load_file(p, 0, NULL), *out = NULL;
    free(p);
    const char *hif = json_string_value(json_object_get(net, "host_if"));
    const char *ip = json_string_value(json_object_get(net, "ip"));
    struct zl_net_stats st;
    if (ip) {
        out = json_pack("{s:s, s:O}", "ip", ip, "ports", json_object_get(net, "ports"));
        if (hif && zl_net_stats_read(hif, &st) == 0)
            json_object_update_new(
                out, json_pack("{s:I, s:I, s:I, s:I}", "rx_bytes", (json_int_t)st.rx_bytes,
                               "rx_packets", (json_int_t)st.rx_packets, "tx_bytes",
                               (json_int_t)st.tx_bytes, "tx_packets", (json_int_t)st.tx_packets));
    } else if (json_object_get(net, "joined"))
        out = json_pack("{s:O}", "joined", json_object_get(net, "joined"));
    json_decref(net);
    return out;
}
