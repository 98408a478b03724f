/* SPDX-License-Identifier: Apache-2.0 */
/* agent/oci.c: a replica's config.json from its service spec and its image config. */
#include "agent/agent.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static const char *const default_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

static const char *const all_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

#define sget zl_sval_get

/* "NET_ADMIN" or "CAP_NET_ADMIN" -> "CAP_NET_ADMIN" (caller frees). */
static char *cap_name(const char *s)
{
    char *out = zl_xasprintf("%s%s", strncasecmp(s, "CAP_", 4) ? "CAP_" : "", s);
    for (char *p = out; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return out;
}

static bool in_list(const struct zl_sval *list, const char *cap)
{
    for (size_t i = 0; list && i < list->n; i++) {
        char *c = cap_name(list->items[i]->s);
        bool match = !strcmp(c, cap) || !strcmp(c, "CAP_ALL");
        free(c);
        if (match)
            return true;
    }
    return false;
}

static json_t *capabilities(const struct zl_sval *svc)
{
    json_t *set = json_array();
    bool priv = zl_sval_bool(svc, "privileged", false);
    const struct zl_sval *add = sget(svc, "capabilities"), *drop = sget(svc, "cap_drop");
    for (size_t i = 0; i < ZL_ARRAY_LEN(all_caps); i++) {
        bool dflt = false;
        for (size_t k = 0; k < ZL_ARRAY_LEN(default_caps); k++)
            dflt = dflt || !strcmp(default_caps[k], all_caps[i]);
        bool on = priv || ((dflt || in_list(add, all_caps[i])) && !in_list(drop, all_caps[i]));
        if (on)
            json_array_append_new(set, json_string(all_caps[i]));
    }
    return json_pack("{s:O, s:O, s:o}", "bounding", set, "effective", set, "permitted", set);
}

/* KEY=VALUE list: image env, then the spec's with $E: resolved. */
static int environment(const struct zl_sval *svc, json_t *image_env, json_t *values, json_t **out,
                       struct zl_err *err)
{
    json_t *env = json_array();
    bool has_path = false;
    for (size_t i = 0; i < json_array_size(image_env); i++) {
        const char *kv = json_string_value(json_array_get(image_env, i));
        if (kv) {
            json_array_append_new(env, json_string(kv));
            has_path = has_path || !strncmp(kv, "PATH=", 5);
        }
    }
    if (!has_path)
        json_array_insert_new(env, 0,
                              json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                          "/usr/bin:/sbin:/bin"));
    const struct zl_sval *e = sget(svc, "env");
    for (size_t i = 0; e && i < e->n; i++) {
        const char *k = e->keys[i], *v = e->items[i]->s ? e->items[i]->s : "";
        if (!strncmp(v, "$E:", 3)) {
            v = json_string_value(json_object_get(values, v + 3));
            if (!v) {
                json_decref(env);
                return zl_err_set(err, ZL_EINVAL,
                                  "env.%s: environment variable '%s' referenced by %s is not set",
                                  k, e->items[i]->s + 3, e->items[i]->s);
            }
        } else if (!strncmp(v, "$S:", 3)) {
            json_decref(env);
            return zl_err_set(err, ZL_EINVAL,
                              "env.%s: %s: secrets are not available on this node yet", k, v);
        }
        json_array_append_new(env, json_pack("s++", k, "=", v));
    }
    *out = env;
    return 0;
}

/* Entrypoint + cmd: the spec's command replaces the image's parts (an overridden entrypoint
 * drops the image's Cmd, as Docker does). */
static json_t *arguments(const struct zl_sval *svc, json_t *icfg)
{
    const struct zl_sval *ep = zl_sval_path(svc, "command.entrypoint"),
                         *args = zl_sval_path(svc, "command.args");
    json_t *out = json_array();
    if (ep) {
        for (size_t i = 0; i < ep->n; i++)
            json_array_append_new(out, json_string(ep->items[i]->s));
    } else {
        json_array_extend(out, json_object_get(icfg, "Entrypoint"));
    }
    if (args) {
        for (size_t i = 0; i < args->n; i++)
            json_array_append_new(out, json_string(args->items[i]->s));
    } else if (!ep) {
        json_array_extend(out, json_object_get(icfg, "Cmd"));
    }
    return out;
}

/* "uid[:gid]" or "name[:group]" looked up in the image's /etc/passwd and /etc/group. */
static long lookup_id(const char *rootfs, const char *file, const char *name)
{
    char *path = zl_xasprintf("%s/etc/%s", rootfs, file);
    FILE *f = fopen(path, "re");
    free(path);
    char line[1024];
    long id = -1;
    size_t n = strlen(name);
    while (f && id < 0 && fgets(line, sizeof(line), f))
        if (!strncmp(line, name, n) && line[n] == ':') {
            char *p = strchr(line + n + 1, ':');
            if (p)
                id = strtol(p + 1, NULL, 10);
        }
    if (f)
        fclose(f);
    return id;
}

static int user_ids(const char *user, const char *rootfs, json_t **out, struct zl_err *err)
{
    char *copy = zl_xstrdup(user && *user ? user : "0");
    char *group = strchr(copy, ':');
    if (group)
        *group++ = '\0';
    char *end;
    long uid = strtol(copy, &end, 10);
    if (*end || end == copy)
        uid = lookup_id(rootfs, "passwd", copy);
    long gid = 0;
    if (group) {
        gid = strtol(group, &end, 10);
        if (*end || end == group)
            gid = lookup_id(rootfs, "group", group);
    } else if (uid > 0) {
        /* the user's primary group, from passwd's fourth field */
        gid = uid;
    }
    int rc = 0;
    if (uid < 0 || gid < 0)
        rc = zl_err_set(err, ZL_EINVAL, "user: '%s' is not a user (and group) of the image", user);
    else
        *out = json_pack("{s:I, s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid);
    free(copy);
    return rc;
}

static json_t *mount(const char *dst, const char *type, const char *src, const char *opts)
{
    json_t *o = json_array();
    char *copy = zl_xstrdup(opts), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(o, json_string(t));
    free(copy);
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type", type, "source", src,
                     "options", o);
}

static json_t *base_mounts(void)
{
    json_t *m = json_array();
    json_array_append_new(m, mount("/proc", "proc", "proc", "nosuid,noexec,nodev"));
    json_array_append_new(
        m, mount("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
    json_array_append_new(m, mount("/dev/pts", "devpts", "devpts",
                                   "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
    json_array_append_new(
        m, mount("/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k"));
    json_array_append_new(m, mount("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
    json_array_append_new(m, mount("/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"));
    return m;
}

/* storage[]: bind, named (VOLUMES/DEPLOYMENT-NAME), anonymous (DIR/anon-N), tmpfs. */
static int storage_mounts(const struct zl_sval *svc, const struct zl_replica_ref *r,
                          const char *volumes_dir, json_t *mounts, struct zl_err *err)
{
    const struct zl_sval *st = sget(svc, "storage");
    for (size_t i = 0; st && i < st->n; i++) {
        const struct zl_sval *m = st->items[i];
        const char *type = zl_sval_str(m, "type", ""), *target = zl_sval_str(m, "target", "/");
        bool ro = zl_sval_bool(m, "readonly", false);
        char *src = NULL;
        if (!strcmp(type, "bind"))
            src = zl_xstrdup(zl_sval_str(m, "source", ""));
        else if (!strcmp(type, "named"))
            src = zl_xasprintf("%s/%s-%s", volumes_dir, r->deployment, zl_sval_str(m, "name", ""));
        else if (!strcmp(type, "anonymous"))
            src = zl_xasprintf("%s/anon-%zu", r->dir, i);
        if (src) {
            if (strcmp(type, "bind") != 0 && mkdir(src, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                free(src);
                return zl_err_sys(err, e, "storage[%zu]: create the volume", i);
            }
            json_array_append_new(mounts, mount(target, "bind", src, ro ? "rbind,ro" : "rbind,rw"));
            free(src);
        } else if (!strcmp(type, "tmpfs")) {
            char opts[128];
            int n = snprintf(opts, sizeof(opts), "nosuid,nodev");
            const struct zl_sval *size = sget(m, "size"), *mode = sget(m, "mode");
            if (size && size->kind == ZL_SV_MEMSIZE)
                n += snprintf(opts + n, sizeof(opts) - (size_t)n, ",size=%llu",
                              (unsigned long long)size->u);
            if (mode)
                snprintf(opts + n, sizeof(opts) - (size_t)n, ",mode=%llo",
                         (unsigned long long)mode->u);
            json_array_append_new(mounts, mount(target, "tmpfs", "tmpfs", opts));
        } else {
            return zl_err_set(err, ZL_EINVAL, "storage[%zu]: %s volumes are not available yet", i,
                              type);
        }
    }
    return 0;
}

static json_t *resources(const struct zl_sval *svc)
{
    const struct zl_sval *res = sget(svc, "resources");
    json_t *r = json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm");
    const struct zl_sval *cpu = sget(res, "cpu"), *mem = sget(res, "memory"),
                         *pids = sget(res, "pids_limit"), *shares = sget(res, "cpu_shares"),
                         *cpuset = sget(res, "cpuset");
    if (cpu && cpu->f > 0)
        json_object_set_new(r, "cpu",
                            json_pack("{s:I, s:I}", "quota", (json_int_t)(cpu->f * 100000),
                                      "period", (json_int_t)100000));
    if (shares || cpuset) {
        json_t *c = json_object_get(r, "cpu");
        if (!c)
            json_object_set_new(r, "cpu", c = json_object());
        if (shares)
            json_object_set_new(c, "shares", json_integer((json_int_t)shares->u));
        if (cpuset)
            json_object_set_new(c, "cpus", json_string(cpuset->s));
    }
    if (mem && mem->kind == ZL_SV_MEMSIZE)
        json_object_set_new(r, "memory", json_pack("{s:I}", "limit", (json_int_t)mem->u));
    if (pids && pids->i > 0)
        json_object_set_new(r, "pids", json_pack("{s:I}", "limit", (json_int_t)pids->i));
    return r;
}

static json_t *rlimits(const struct zl_sval *svc)
{
    json_t *out = json_array();
    const struct zl_sval *ul = sget(svc, "ulimits");
    for (size_t i = 0; ul && i < ul->n; i++) {
        char name[64];
        int n = snprintf(name, sizeof(name), "RLIMIT_%s", ul->keys[i]);
        for (int k = 7; k < n && k < (int)sizeof(name); k++)
            name[k] = (char)toupper((unsigned char)name[k]);
        json_array_append_new(out,
                              json_pack("{s:s, s:I, s:I}", "type", name, "soft",
                                        (json_int_t)zl_sval_get(ul->items[i], "soft")->i, "hard",
                                        (json_int_t)zl_sval_get(ul->items[i], "hard")->i));
    }
    return out;
}

static json_t *namespaces(const struct zl_sval *svc)
{
    /* Until the node network exists, replicas share the host's network unless the spec asks
     * for none (docs/architecture.md). */
    const char *mode = zl_sval_str(svc, "network_mode", "default");
    json_t *ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type", "ipc", "type",
                           "uts", "type", "mount");
    if (!strcmp(mode, "none"))
        json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
    return ns;
}

static bool has_opt(const struct zl_sval *svc, const char *prefix)
{
    const struct zl_sval *o = sget(svc, "security_opt");
    for (size_t i = 0; o && i < o->n; i++)
        if (!strncmp(o->items[i]->s, prefix, strlen(prefix)))
            return true;
    return false;
}

static json_t *annotations(const struct zl_sval *svc, const struct zl_replica_ref *r)
{
    json_t *a = json_pack("{s:s, s:s, s:i}", "io.zlayer.deployment", r->deployment,
                          "io.zlayer.service", r->service, "io.zlayer.replica", (int)r->index);
    if (!zl_sval_bool(svc, "privileged", false) && !has_opt(svc, "seccomp=unconfined"))
        json_object_set_new(a, "io.zlayer.seccomp", json_string("default"));
    const struct zl_sval *l = sget(svc, "labels");
    for (size_t i = 0; l && i < l->n; i++)
        json_object_set_new(a, l->keys[i], json_string(l->items[i]->s));
    return a;
}

char *zl_agent_oci_config(const struct zl_sval *svc, const struct zl_replica_ref *r,
                          const char *image_config_json, const char *env_json,
                          const char *volumes_dir, struct zl_err *err)
{
    json_t *icfgdoc = json_loads(image_config_json ? image_config_json : "{}", 0, NULL);
    json_t *icfg = json_object_get(icfgdoc, "config"),
           *values = json_loads(env_json ? env_json : "{}", 0, NULL);
    char *rootfs = zl_xasprintf("%s/rootfs", r->dir);
    json_t *env = NULL, *user = NULL, *mounts = base_mounts();
    char *out = NULL;
    const char *uname = zl_sval_str(svc, "user", json_string_value(json_object_get(icfg, "User")));
    if (environment(svc, json_object_get(icfg, "Env"), values, &env, err) == 0 &&
        user_ids(uname, rootfs, &user, err) == 0 &&
        storage_mounts(svc, r, volumes_dir, mounts, err) == 0) {
        const char *cwd = zl_sval_str(svc, "command.workdir",
                                      json_string_value(json_object_get(icfg, "WorkingDir")));
        char host[64];
        snprintf(host, sizeof(host), "%s-%u", r->service, r->index);
        json_t *args = arguments(svc, icfg);
        if (json_array_size(args) == 0)
            json_array_append_new(args, json_string("/bin/sh"));
        json_t *proc =
            json_pack("{s:b, s:o, s:o, s:o, s:s, s:o, s:o, s:b}", "terminal",
                      zl_sval_bool(svc, "tty", false), "user", user, "args", args, "env", env,
                      "cwd", cwd && *cwd ? cwd : "/", "capabilities", capabilities(svc), "rlimits",
                      rlimits(svc), "noNewPrivileges", has_opt(svc, "no-new-privileges"));
        json_t *cfg =
            json_pack("{s:s, s:{s:s, s:b}, s:s, s:o, s:o, s:o,"
                      " s:{s:o, s:o, s:s, s:[s,s,s,s,s,s,s], s:[s,s,s,s,s,s]}}",
                      "ociVersion", "1.0.2", "root", "path", rootfs, "readonly",
                      zl_sval_bool(svc, "read_only_root_fs", false), "hostname",
                      zl_sval_str(svc, "hostname", host), "process", proc, "mounts", mounts,
                      "annotations", annotations(svc, r), "linux", "namespaces", namespaces(svc),
                      "resources", resources(svc), "cgroupsPath", "", "maskedPaths", "/proc/acpi",
                      "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                      "/proc/sched_debug", "/sys/firmware", "readonlyPaths", "/proc/asound",
                      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");
        mounts = NULL;
        json_t *lx = json_object_get(cfg, "linux");
        char *cg = zl_xasprintf("/zlayer/%s", r->id);
        json_object_set_new(lx, "cgroupsPath", json_string(cg));
        free(cg);
        const struct zl_sval *sys = sget(svc, "sysctls");
        if (sys && sys->n) {
            json_t *so = json_object();
            for (size_t i = 0; i < sys->n; i++)
                json_object_set_new(so, sys->keys[i], json_string(sys->items[i]->s));
            json_object_set_new(lx, "sysctl", so);
        }
        out = json_dumps(cfg, JSON_INDENT(2));
        json_decref(cfg);
    } else {
        json_decref(env);
        json_decref(user);
    }
    json_decref(mounts);
    json_decref(values);
    json_decref(icfgdoc);
    free(rootfs);
    return out;
}
