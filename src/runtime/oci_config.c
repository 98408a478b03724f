/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/oci_config.c: config.json (OCI runtime spec 1.0/1.1) -> struct zl_oci_config.
 * Unknown keys are ignored as the spec requires; known features zlayer does not implement are
 * refused with the JSON path of the key, before anything is created. */
#include "runtime/internal.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

struct p {
    struct zl_err *err;
    const char *bundle;
};

/* ---------------- typed getters with JSON paths ---------------- */

static int bad(struct p *p, const char *path, const char *what)
{
    return zl_err_set(p->err, ZL_EINVAL, "config.json: %s: %s", path, what);
}

static int get_str(struct p *p, json_t *o, const char *key, const char *path, bool req, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return req ? bad(p, path, "is required") : 0;
    if (!json_is_string(v))
        return bad(p, path, "must be a string");
    *out = zl_xstrdup(json_string_value(v));
    return 0;
}

static int get_bool(struct p *p, json_t *o, const char *key, const char *path, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bad(p, path, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

/* Integer in [min, max]; *has set when present. */
static int get_int(struct p *p, json_t *o, const char *key, const char *path, int64_t min,
                   int64_t max, int64_t *out, bool *has)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return bad(p, path, "must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return zl_err_set(p->err, ZL_EINVAL, "config.json: %s: %lld is out of range", path,
                          (long long)x);
    *out = x;
    if (has)
        *has = true;
    return 0;
}

/* A JSON integer as uint64 (jansson stores int64; values above are refused). */
static int get_u64(struct p *p, json_t *o, const char *key, const char *path, uint64_t *out,
                   bool *has)
{
    int64_t x = 0;
    bool h = false;
    int rc = get_int(p, o, key, path, 0, INT64_MAX, &x, &h);
    if (rc == 0 && h) {
        *out = (uint64_t)x;
        if (has)
            *has = true;
    }
    return rc;
}

/* A NULL-terminated array of strings. */
static int get_strv(struct p *p, json_t *o, const char *key, const char *path, char ***out,
                    size_t *n)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return bad(p, path, "must be an array of strings");
    size_t len = json_array_size(v);
    char **a = zl_xcalloc(len + 1, sizeof(*a));
    for (size_t i = 0; i < len; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            for (size_t j = 0; j < i; j++)
                free(a[j]);
            free(a);
            return zl_err_set(p->err, ZL_EINVAL, "config.json: %s[%zu]: must be a string", path, i);
        }
        a[i] = zl_xstrdup(json_string_value(s));
    }
    *out = a;
    if (n)
        *n = len;
    return 0;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* Keys that name features zlayer refuses: present and not empty/null/false. */
static int refuse(struct p *p, json_t *o, const char *key, const char *path, const char *why)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if ((json_is_string(v) && !*json_string_value(v)) ||
        (json_is_array(v) && json_array_size(v) == 0) ||
        (json_is_object(v) && json_object_size(v) == 0))
        return 0;
    return zl_err_set(p->err, ZL_EINVAL, "config.json: %s: not supported (%s)", path, why);
}

/* ---------------- process ---------------- */

static const struct {
    const char *name;
    int res;
} rlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

static int parse_caps(struct p *p, json_t *o, struct zl_oci_config *c)
{
    static const char *const sets[] = {"bounding", "effective", "permitted", "inheritable",
                                       "ambient"};
    uint64_t *dst[] = {&c->caps.bounding, &c->caps.effective, &c->caps.permitted,
                       &c->caps.inheritable, &c->caps.ambient};
    json_t *caps = json_object_get(o, "capabilities");
    if (!caps || json_is_null(caps))
        return 0;
    if (!json_is_object(caps))
        return bad(p, "process.capabilities", "must be an object");
    c->has_caps = true;
    for (size_t s = 0; s < ZL_ARRAY_LEN(sets); s++) {
        json_t *a = json_object_get(caps, sets[s]);
        if (!a || json_is_null(a))
            continue;
        if (!json_is_array(a))
            return zl_err_set(p->err, ZL_EINVAL,
                              "config.json: process.capabilities.%s: must be an array", sets[s]);
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *n = json_array_get(a, i);
            int cap = json_is_string(n) ? zl_runtime__cap_from_name(json_string_value(n)) : -1;
            if (cap < 0)
                return zl_err_set(p->err, ZL_EINVAL,
                                  "config.json: process.capabilities.%s[%zu]: unknown capability "
                                  "%s",
                                  sets[s], i, json_is_string(n) ? json_string_value(n) : "");
            *dst[s] |= 1ull << cap;
        }
    }
    return 0;
}

static int parse_rlimits(struct p *p, json_t *o, struct zl_oci_config *c)
{
    json_t *a = json_object_get(o, "rlimits");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return bad(p, "process.rlimits", "must be an array");
    c->rlimits = zl_xcalloc(json_array_size(a) + 1, sizeof(*c->rlimits));
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *r = json_array_get(a, i);
        char path[64];
        snprintf(path, sizeof(path), "process.rlimits[%zu]", i);
        const char *type = json_string_value(json_object_get(r, "type"));
        int res = -1;
        for (size_t k = 0; type && k < ZL_ARRAY_LEN(rlimits); k++)
            if (!strcmp(type, rlimits[k].name))
                res = rlimits[k].res;
        if (res < 0)
            return zl_err_set(p->err, ZL_EINVAL, "config.json: %s.type: unknown rlimit %s", path,
                              type ? type : "(missing)");
        struct zl_oci_rlimit *rl = &c->rlimits[c->nrlimits++];
        rl->resource = res;
        bool hs = false, hh = false;
        if (get_u64(p, r, "soft", path, &rl->soft, &hs) < 0 ||
            get_u64(p, r, "hard", path, &rl->hard, &hh) < 0)
            return -ZL_EINVAL;
        if (!hs || !hh)
            return bad(p, path, "needs soft and hard");
    }
    return 0;
}

static int parse_process(struct p *p, json_t *root, struct zl_oci_config *c)
{
    json_t *o = json_object_get(root, "process");
    if (!o || !json_is_object(o))
        return bad(p, "process", "is required (an object)");
    json_t *user = json_object_get(o, "user");
    int64_t v;
    bool has = false;
    if (user && json_is_object(user)) {
        if (get_int(p, user, "uid", "process.user.uid", 0, UINT32_MAX, &v, &has) < 0)
            return -ZL_EINVAL;
        c->uid = (uint32_t)v;
        has = false;
        v = 0;
        if (get_int(p, user, "gid", "process.user.gid", 0, UINT32_MAX, &v, &has) < 0)
            return -ZL_EINVAL;
        c->gid = (uint32_t)v;
        if (get_int(p, user, "umask", "process.user.umask", 0, 0777, &v, &c->has_umask) < 0)
            return -ZL_EINVAL;
        c->umask = (uint32_t)v;
        json_t *g = json_object_get(user, "additionalGids");
        if (g && json_is_array(g)) {
            c->additional_gids = zl_xcalloc(json_array_size(g) + 1, sizeof(uint32_t));
            for (size_t i = 0; i < json_array_size(g); i++) {
                json_t *x = json_array_get(g, i);
                if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                    json_integer_value(x) > UINT32_MAX)
                    return zl_err_set(p->err, ZL_EINVAL,
                                      "config.json: process.user.additionalGids[%zu]: must be a "
                                      "group id",
                                      i);
                c->additional_gids[c->nadditional_gids++] = (uint32_t)json_integer_value(x);
            }
        }
    }
    size_t nargs = 0;
    if (get_strv(p, o, "args", "process.args", &c->args, &nargs) < 0)
        return -ZL_EINVAL;
    if (nargs == 0)
        return bad(p, "process.args", "must name the program to run");
    if (get_strv(p, o, "env", "process.env", &c->env, NULL) < 0 ||
        get_str(p, o, "cwd", "process.cwd", true, &c->cwd) < 0 ||
        get_bool(p, o, "terminal", "process.terminal", &c->terminal) < 0 ||
        get_bool(p, o, "noNewPrivileges", "process.noNewPrivileges", &c->no_new_privileges) < 0)
        return -ZL_EINVAL;
    if (c->cwd[0] != '/')
        return bad(p, "process.cwd", "must be an absolute path");
    if (get_int(p, o, "oomScoreAdj", "process.oomScoreAdj", -1000, 1000, &v,
                &c->has_oom_score_adj) < 0)
        return -ZL_EINVAL;
    c->oom_score_adj = (int)v;
    if (refuse(p, o, "apparmorProfile", "process.apparmorProfile", "no AppArmor support") < 0 ||
        refuse(p, o, "selinuxLabel", "process.selinuxLabel", "no SELinux support") < 0 ||
        refuse(p, o, "commandLine", "process.commandLine", "Windows only") < 0 ||
        refuse(p, o, "scheduler", "process.scheduler", "scheduling policies") < 0 ||
        refuse(p, o, "ioPriority", "process.ioPriority", "I/O priorities") < 0 ||
        refuse(p, o, "execCPUAffinity", "process.execCPUAffinity", "exec CPU affinity") < 0)
        return -ZL_EINVAL;
    if (parse_caps(p, o, c) < 0 || parse_rlimits(p, o, c) < 0)
        return -ZL_EINVAL;
    return 0;
}

/* ---------------- mounts ---------------- */

static const struct {
    const char *name;
    unsigned long set, clear;
} mount_flags[] = {
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},
    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},
    {"exec", 0, MS_NOEXEC},
    {"sync", MS_SYNCHRONOUS, 0},
    {"async", 0, MS_SYNCHRONOUS},
    {"dirsync", MS_DIRSYNC, 0},
    {"remount", MS_REMOUNT, 0},
    {"mand", MS_MANDLOCK, 0},
    {"nomand", 0, MS_MANDLOCK},
    {"atime", 0, MS_NOATIME},
    {"noatime", MS_NOATIME, 0},
    {"diratime", 0, MS_NODIRATIME},
    {"nodiratime", MS_NODIRATIME, 0},
    {"relatime", MS_RELATIME, 0},
    {"norelatime", 0, MS_RELATIME},
    {"strictatime", MS_STRICTATIME, 0},
    {"nostrictatime", 0, MS_STRICTATIME},
};

static const struct {
    const char *name;
    unsigned long flags;
} propagations[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static bool mount_option(struct zl_oci_mount *m, const char *opt, struct zl_buf *data)
{
    for (size_t i = 0; i < ZL_ARRAY_LEN(mount_flags); i++)
        if (!strcmp(opt, mount_flags[i].name)) {
            m->flags = (m->flags & ~mount_flags[i].clear) | mount_flags[i].set;
            m->clear_flags = (m->clear_flags & ~mount_flags[i].set) | mount_flags[i].clear;
            return true;
        }
    for (size_t i = 0; i < ZL_ARRAY_LEN(propagations); i++)
        if (!strcmp(opt, propagations[i].name)) {
            m->propagation = propagations[i].flags;
            return true;
        }
    if (!strcmp(opt, "bind") || !strcmp(opt, "rbind")) {
        m->bind = true;
        m->flags |= MS_BIND | (opt[0] == 'r' ? MS_REC : 0);
        return true;
    }
    if (!strcmp(opt, "tmpcopyup") || !strcmp(opt, "notmpcopyup"))
        return true; /* podman's hint for tmpfs over image content: not needed */
    if (!strcmp(opt, "idmap") || !strcmp(opt, "ridmap") || !strncmp(opt, "rro", 3) ||
        !strcmp(opt, "rrw") || !strcmp(opt, "recursive"))
        return false;
    if (data->len)
        zl_buf_putc(data, ',');
    zl_buf_puts(data, opt);
    return true;
}

static int parse_mounts(struct p *p, json_t *root, struct zl_oci_config *c)
{
    json_t *a = json_object_get(root, "mounts");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return bad(p, "mounts", "must be an array");
    c->mounts = zl_xcalloc(json_array_size(a) + 1, sizeof(*c->mounts));
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        char path[64];
        snprintf(path, sizeof(path), "mounts[%zu]", i);
        if (!json_is_object(o))
            return bad(p, path, "must be an object");
        struct zl_oci_mount *m = &c->mounts[c->nmounts++];
        char sub[96];
        snprintf(sub, sizeof(sub), "%s.destination", path);
        if (get_str(p, o, "destination", sub, true, &m->destination) < 0)
            return -ZL_EINVAL;
        if (m->destination[0] != '/')
            return bad(p, sub, "must be an absolute path");
        snprintf(sub, sizeof(sub), "%s.type", path);
        if (get_str(p, o, "type", sub, false, &m->type) < 0)
            return -ZL_EINVAL;
        snprintf(sub, sizeof(sub), "%s.source", path);
        if (get_str(p, o, "source", sub, false, &m->source) < 0)
            return -ZL_EINVAL;
        snprintf(sub, sizeof(sub), "%s.uidMappings", path);
        if (refuse(p, o, "uidMappings", sub, "id-mapped mounts") < 0 ||
            refuse(p, o, "gidMappings", sub, "id-mapped mounts") < 0)
            return -ZL_EINVAL;
        json_t *opts = json_object_get(o, "options");
        struct zl_buf data;
        zl_buf_init(&data);
        for (size_t k = 0; opts && json_is_array(opts) && k < json_array_size(opts); k++) {
            const char *opt = json_string_value(json_array_get(opts, k));
            if (!opt || !mount_option(m, opt, &data)) {
                zl_buf_fini(&data);
                return zl_err_set(p->err, ZL_EINVAL,
                                  "config.json: %s.options[%zu]: option '%s' is not supported",
                                  path, k, opt ? opt : "(not a string)");
            }
        }
        if (m->type && !strcmp(m->type, "bind"))
            m->bind = true, m->flags |= MS_BIND;
        m->data = data.len ? zl_buf_steal(&data, NULL) : NULL;
        zl_buf_fini(&data);
        if (m->source && m->bind && m->source[0] != '/') {
            char *abs = zl_xasprintf("%s/%s", p->bundle, m->source);
            free(m->source);
            m->source = abs;
        }
    }
    return 0;
}

/* ---------------- hooks ---------------- */

static int parse_hooks(struct p *p, json_t *root, struct zl_oci_config *c)
{
    static const char *const names[ZL_HOOK_COUNT] = {
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"};
    json_t *hooks = json_object_get(root, "hooks");
    if (!hooks || json_is_null(hooks))
        return 0;
    for (int h = 0; h < ZL_HOOK_COUNT; h++) {
        json_t *a = json_object_get(hooks, names[h]);
        if (!a || !json_is_array(a))
            continue;
        c->hooks[h].v = zl_xcalloc(json_array_size(a) + 1, sizeof(struct zl_oci_hook));
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *o = json_array_get(a, i);
            struct zl_oci_hook *k = &c->hooks[h].v[c->hooks[h].n++];
            char path[96];
            snprintf(path, sizeof(path), "hooks.%s[%zu].path", names[h], i);
            if (get_str(p, o, "path", path, true, &k->path) < 0)
                return -ZL_EINVAL;
            if (k->path[0] != '/')
                return bad(p, path, "must be an absolute path");
            snprintf(path, sizeof(path), "hooks.%s[%zu].args", names[h], i);
            if (get_strv(p, o, "args", path, &k->args, NULL) < 0)
                return -ZL_EINVAL;
            snprintf(path, sizeof(path), "hooks.%s[%zu].env", names[h], i);
            if (get_strv(p, o, "env", path, &k->env, NULL) < 0)
                return -ZL_EINVAL;
            int64_t t = 0;
            snprintf(path, sizeof(path), "hooks.%s[%zu].timeout", names[h], i);
            if (get_int(p, o, "timeout", path, 1, 86400, &t, NULL) < 0)
                return -ZL_EINVAL;
            k->timeout = (int)t;
        }
    }
    return 0;
}

/* ---------------- linux: namespaces, id maps, devices ---------------- */

static const struct {
    const char *name;
    int flag;
} ns_types[] = {
    {"pid", CLONE_NEWPID},       {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},
    {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},     {"user", CLONE_NEWUSER},
    {"cgroup", CLONE_NEWCGROUP},
};

static int parse_namespaces(struct p *p, json_t *lx, struct zl_oci_config *c)
{
    json_t *a = json_object_get(lx, "namespaces");
    if (!a || !json_is_array(a))
        return 0;
    c->namespaces = zl_xcalloc(json_array_size(a) + 1, sizeof(*c->namespaces));
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        const char *type = json_string_value(json_object_get(o, "type"));
        int flag = 0;
        for (size_t k = 0; type && k < ZL_ARRAY_LEN(ns_types); k++)
            if (!strcmp(type, ns_types[k].name))
                flag = ns_types[k].flag;
        if (!flag)
            return zl_err_set(p->err, ZL_EINVAL,
                              "config.json: linux.namespaces[%zu].type: unknown namespace '%s'", i,
                              type ? type : "(missing)");
        for (size_t k = 0; k < c->nnamespaces; k++)
            if (c->namespaces[k].type == flag)
                return zl_err_set(p->err, ZL_EINVAL,
                                  "config.json: linux.namespaces[%zu]: namespace '%s' given twice",
                                  i, type);
        struct zl_oci_ns *ns = &c->namespaces[c->nnamespaces++];
        ns->type = flag;
        char path[64];
        snprintf(path, sizeof(path), "linux.namespaces[%zu].path", i);
        if (get_str(p, o, "path", path, false, &ns->path) < 0)
            return -ZL_EINVAL;
        if (ns->path && !*ns->path) {
            free(ns->path);
            ns->path = NULL;
        }
    }
    return 0;
}

static int parse_idmaps(struct p *p, json_t *lx, const char *key, struct zl_oci_idmap **out,
                        size_t *n)
{
    json_t *a = json_object_get(lx, key);
    if (!a || !json_is_array(a))
        return 0;
    *out = zl_xcalloc(json_array_size(a) + 1, sizeof(**out));
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        char path[64];
        snprintf(path, sizeof(path), "linux.%s[%zu]", key, i);
        int64_t cid = -1, hid = -1, size = -1;
        if (get_int(p, o, "containerID", path, 0, UINT32_MAX, &cid, NULL) < 0 ||
            get_int(p, o, "hostID", path, 0, UINT32_MAX, &hid, NULL) < 0 ||
            get_int(p, o, "size", path, 1, UINT32_MAX, &size, NULL) < 0)
            return -ZL_EINVAL;
        if (cid < 0 || hid < 0 || size < 0)
            return bad(p, path, "needs containerID, hostID and size");
        (*out)[(*n)++] = (struct zl_oci_idmap){(uint32_t)cid, (uint32_t)hid, (uint32_t)size};
    }
    return 0;
}

static int parse_devices(struct p *p, json_t *lx, struct zl_oci_config *c)
{
    json_t *a = json_object_get(lx, "devices");
    if (!a || !json_is_array(a))
        return 0;
    c->devices = zl_xcalloc(json_array_size(a) + 1, sizeof(*c->devices));
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        char path[64];
        snprintf(path, sizeof(path), "linux.devices[%zu]", i);
        struct zl_oci_device *d = &c->devices[c->ndevices++];
        char *type = NULL;
        if (get_str(p, o, "path", path, true, &d->path) < 0 ||
            get_str(p, o, "type", path, true, &type) < 0)
            return -ZL_EINVAL;
        d->type = type[0] == 'u' ? 'c' : type[0];
        bool ok = strlen(type) == 1 && strchr("cbup", type[0]);
        free(type);
        if (!ok)
            return bad(p, path, "type must be c, b, u or p");
        if (d->path[0] != '/')
            return bad(p, path, "path must be absolute");
        int64_t v = 0;
        if (get_int(p, o, "major", path, 0, INT32_MAX, &d->major, NULL) < 0 ||
            get_int(p, o, "minor", path, 0, INT32_MAX, &d->minor, NULL) < 0 ||
            get_int(p, o, "fileMode", path, 0, 07777, &v, &d->has_mode) < 0)
            return -ZL_EINVAL;
        d->mode = (uint32_t)v;
        if (get_int(p, o, "uid", path, 0, UINT32_MAX, &v, &d->has_uid) < 0)
            return -ZL_EINVAL;
        d->uid = (uint32_t)v;
        if (get_int(p, o, "gid", path, 0, UINT32_MAX, &v, &d->has_gid) < 0)
            return -ZL_EINVAL;
        d->gid = (uint32_t)v;
    }
    return 0;
}

/* ---------------- linux.resources ---------------- */

static int parse_dev_rules(struct p *p, json_t *r, struct zl_oci_resources *res)
{
    json_t *a = json_object_get(r, "devices");
    if (!a || !json_is_array(a))
        return 0;
    res->devices = zl_xcalloc(json_array_size(a) + 1, sizeof(*res->devices));
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        char path[64];
        snprintf(path, sizeof(path), "linux.resources.devices[%zu]", i);
        struct zl_oci_dev_rule *d = &res->devices[res->ndevices++];
        json_t *allow = json_object_get(o, "allow");
        if (!json_is_boolean(allow))
            return bad(p, path, "allow must be true or false");
        d->allow = json_is_true(allow);
        const char *type = json_string_value(json_object_get(o, "type"));
        d->type = type && *type ? type[0] : 'a';
        if (!strchr("acb", d->type) || (type && strlen(type) > 1))
            return bad(p, path, "type must be a, c or b");
        d->major = d->minor = -1;
        if (get_int(p, o, "major", path, -1, INT32_MAX, &d->major, NULL) < 0 ||
            get_int(p, o, "minor", path, -1, INT32_MAX, &d->minor, NULL) < 0)
            return -ZL_EINVAL;
        const char *acc = json_string_value(json_object_get(o, "access"));
        if (!acc)
            acc = "rwm";
        if (strlen(acc) > 3 || strspn(acc, "rwm") != strlen(acc))
            return bad(p, path, "access must be letters of rwm");
        strcpy(d->access, acc);
    }
    return 0;
}

static int parse_memory(struct p *p, json_t *r, struct zl_oci_resources *res)
{
    json_t *m = json_object_get(r, "memory");
    if (!m || !json_is_object(m))
        return 0;
    if (get_int(p, m, "limit", "linux.resources.memory.limit", -1, INT64_MAX, &res->memory_limit,
                &res->has_memory_limit) < 0 ||
        get_int(p, m, "reservation", "linux.resources.memory.reservation", -1, INT64_MAX,
                &res->memory_reservation, &res->has_memory_reservation) < 0 ||
        get_int(p, m, "swap", "linux.resources.memory.swap", -1, INT64_MAX, &res->memory_swap,
                &res->has_memory_swap) < 0 ||
        get_u64(p, m, "swappiness", "linux.resources.memory.swappiness", &res->swappiness,
                &res->has_swappiness) < 0 ||
        get_bool(p, m, "disableOOMKiller", "linux.resources.memory.disableOOMKiller",
                 &res->disable_oom_killer) < 0)
        return -ZL_EINVAL;
    if (res->has_swappiness && res->swappiness > 100)
        return bad(p, "linux.resources.memory.swappiness", "must be 0-100");
    if (res->has_memory_limit && res->has_memory_swap && res->memory_swap >= 0 &&
        res->memory_limit > 0 && res->memory_swap < res->memory_limit)
        return bad(p, "linux.resources.memory.swap", "must be at least memory.limit");
    return refuse(p, m, "kernelTCP", "linux.resources.memory.kernelTCP", "kernel TCP limits");
}

static int parse_cpu(struct p *p, json_t *r, struct zl_oci_resources *res)
{
    json_t *c = json_object_get(r, "cpu");
    if (!c || !json_is_object(c))
        return 0;
    if (get_u64(p, c, "shares", "linux.resources.cpu.shares", &res->cpu_shares,
                &res->has_cpu_shares) < 0 ||
        get_int(p, c, "quota", "linux.resources.cpu.quota", -1, INT64_MAX, &res->cpu_quota,
                &res->has_cpu_quota) < 0 ||
        get_u64(p, c, "period", "linux.resources.cpu.period", &res->cpu_period,
                &res->has_cpu_period) < 0 ||
        get_str(p, c, "cpus", "linux.resources.cpu.cpus", false, &res->cpuset_cpus) < 0 ||
        get_str(p, c, "mems", "linux.resources.cpu.mems", false, &res->cpuset_mems) < 0)
        return -ZL_EINVAL;
    return refuse(p, c, "realtimeRuntime", "linux.resources.cpu.realtimeRuntime",
                  "real-time scheduling");
}

static int parse_resources(struct p *p, json_t *lx, struct zl_oci_config *c)
{
    json_t *r = json_object_get(lx, "resources");
    if (!r || !json_is_object(r))
        return 0;
    struct zl_oci_resources *res = &c->resources;
    c->has_resources = true;
    if (parse_dev_rules(p, r, res) < 0 || parse_memory(p, r, res) < 0 || parse_cpu(p, r, res) < 0)
        return -ZL_EINVAL;
    json_t *pids = json_object_get(r, "pids");
    if (pids && get_int(p, pids, "limit", "linux.resources.pids.limit", -1, INT64_MAX,
                        &res->pids_limit, &res->has_pids_limit) < 0)
        return -ZL_EINVAL;
    json_t *bio = json_object_get(r, "blockIO");
    int64_t w = 0;
    if (bio && get_int(p, bio, "weight", "linux.resources.blockIO.weight", 10, 1000, &w,
                       &res->has_blkio_weight) < 0)
        return -ZL_EINVAL;
    res->blkio_weight = (uint16_t)w;
    if (bio &&
        (refuse(p, bio, "weightDevice", "linux.resources.blockIO.weightDevice",
                "per-device weights") < 0 ||
         refuse(p, bio, "throttleReadBpsDevice", "linux.resources.blockIO", "throttling") < 0 ||
         refuse(p, bio, "throttleWriteBpsDevice", "linux.resources.blockIO", "throttling") < 0))
        return -ZL_EINVAL;
    if (refuse(p, r, "hugepageLimits", "linux.resources.hugepageLimits", "hugetlb limits") < 0 ||
        refuse(p, r, "rdma", "linux.resources.rdma", "RDMA limits") < 0)
        return -ZL_EINVAL;
    json_t *uni = json_object_get(r, "unified");
    if (uni && json_is_object(uni)) {
        res->unified = zl_xcalloc(json_object_size(uni) * 2 + 1, sizeof(char *));
        const char *k;
        json_t *v;
        json_object_foreach(uni, k, v)
        {
            if (!json_is_string(v))
                return zl_err_set(p->err, ZL_EINVAL,
                                  "config.json: linux.resources.unified.%s: must be a string", k);
            res->unified[res->nunified * 2] = zl_xstrdup(k);
            res->unified[res->nunified * 2 + 1] = zl_xstrdup(json_string_value(v));
            res->nunified++;
        }
    }
    return 0;
}

/* ---------------- linux.seccomp ---------------- */

static int seccomp_action(struct p *p, const char *path, const char *name, json_t *errno_ret,
                          uint32_t *out)
{
    int e = errno_ret && json_is_integer(errno_ret) ? (int)json_integer_value(errno_ret) : EPERM;
    static const struct {
        const char *name;
        uint32_t act;
    } acts[] = {
        {"SCMP_ACT_KILL", SCMP_ACT_KILL},
        {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
        {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
        {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
        {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
        {"SCMP_ACT_LOG", SCMP_ACT_LOG},
    };
    if (name && !strcmp(name, "SCMP_ACT_ERRNO")) {
        *out = SCMP_ACT_ERRNO((uint32_t)e);
        return 0;
    }
    if (name && !strcmp(name, "SCMP_ACT_TRACE")) {
        *out = SCMP_ACT_TRACE((uint32_t)e);
        return 0;
    }
    for (size_t i = 0; name && i < ZL_ARRAY_LEN(acts); i++)
        if (!strcmp(name, acts[i].name)) {
            *out = acts[i].act;
            return 0;
        }
    return zl_err_set(p->err, ZL_EINVAL, "config.json: %s: unsupported seccomp action %s", path,
                      name ? name : "(missing)");
}

static int parse_syscall(struct p *p, json_t *o, size_t i, struct zl_oci_syscall_rule *r)
{
    char path[64];
    snprintf(path, sizeof(path), "linux.seccomp.syscalls[%zu]", i);
    if (get_strv(p, o, "names", path, &r->names, &r->nnames) < 0)
        return -ZL_EINVAL;
    if (seccomp_action(p, path, json_string_value(json_object_get(o, "action")),
                       json_object_get(o, "errnoRet"), &r->action) < 0)
        return -ZL_EINVAL;
    json_t *args = json_object_get(o, "args");
    if (!args || !json_is_array(args))
        return 0;
    static const char *const ops[] = {NULL,          "SCMP_CMP_NE",       "SCMP_CMP_LT",
                                      "SCMP_CMP_LE", "SCMP_CMP_EQ",       "SCMP_CMP_GE",
                                      "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
    r->args = zl_xcalloc(json_array_size(args) + 1, sizeof(*r->args));
    for (size_t k = 0; k < json_array_size(args); k++) {
        json_t *a = json_array_get(args, k);
        struct zl_oci_syscall_arg *x = &r->args[r->nargs++];
        int64_t idx = -1, v = 0, v2 = 0;
        if (get_int(p, a, "index", path, 0, 5, &idx, NULL) < 0 ||
            get_int(p, a, "value", path, INT64_MIN, INT64_MAX, &v, NULL) < 0 ||
            get_int(p, a, "valueTwo", path, INT64_MIN, INT64_MAX, &v2, NULL) < 0)
            return -ZL_EINVAL;
        const char *op = json_string_value(json_object_get(a, "op"));
        x->op = 0;
        for (int n = 1; op && n < (int)ZL_ARRAY_LEN(ops); n++)
            if (!strcmp(op, ops[n]))
                x->op = n;
        if (idx < 0 || !x->op)
            return zl_err_set(p->err, ZL_EINVAL, "config.json: %s.args[%zu]: needs index and op",
                              path, k);
        x->index = (unsigned)idx;
        x->value = (uint64_t)v;
        x->value_two = (uint64_t)v2;
    }
    return 0;
}

static int parse_seccomp(struct p *p, json_t *lx, struct zl_oci_config *c)
{
    json_t *s = json_object_get(lx, "seccomp");
    if (!s || !json_is_object(s))
        return 0;
    if (refuse(p, s, "listenerPath", "linux.seccomp.listenerPath", "seccomp notify") < 0)
        return -ZL_EINVAL;
    struct zl_oci_seccomp *sc = c->seccomp = zl_xcalloc(1, sizeof(*sc));
    if (seccomp_action(p, "linux.seccomp.defaultAction",
                       json_string_value(json_object_get(s, "defaultAction")),
                       json_object_get(s, "defaultErrnoRet"), &sc->default_action) < 0)
        return -ZL_EINVAL;
    json_t *archs = json_object_get(s, "architectures");
    sc->archs = zl_xcalloc(json_array_size(archs) + 1, sizeof(*sc->archs));
    for (size_t i = 0; archs && i < json_array_size(archs); i++) {
        const char *a = json_string_value(json_array_get(archs, i));
        char lower[32] = "";
        for (size_t k = 0; a && k + 1 < sizeof(lower) && a[k]; k++)
            lower[k] = (char)((a[k] >= 'A' && a[k] <= 'Z') ? a[k] + 32 : a[k]);
        uint32_t arch =
            a && !strncmp(lower, "scmp_arch_", 10) ? seccomp_arch_resolve_name(lower + 10) : 0;
        if (!arch)
            return zl_err_set(p->err, ZL_EINVAL,
                              "config.json: linux.seccomp.architectures[%zu]: unknown %s", i,
                              a ? a : "(not a string)");
        sc->archs[sc->narchs++] = arch;
    }
    json_t *calls = json_object_get(s, "syscalls");
    sc->rules = zl_xcalloc(json_array_size(calls) + 1, sizeof(*sc->rules));
    for (size_t i = 0; calls && i < json_array_size(calls); i++) {
        if (parse_syscall(p, json_array_get(calls, i), i, &sc->rules[sc->nrules]) < 0) {
            sc->nrules++;
            return -ZL_EINVAL;
        }
        sc->nrules++;
    }
    return 0;
}

/* ---------------- linux ---------------- */

/* Only sysctls that live in a namespace may be set (SUBSYSTEMS: "namespaced ones only"). */
static bool sysctl_namespaced(const char *k)
{
    static const char *const ok[] = {
        "kernel.msgmax",     "kernel.msgmnb",  "kernel.msgmni", "kernel.sem",
        "kernel.shmall",     "kernel.shmmax",  "kernel.shmmni", "kernel.shm_rmid_forced",
        "kernel.domainname", "kernel.hostname"};
    for (size_t i = 0; i < ZL_ARRAY_LEN(ok); i++)
        if (!strcmp(k, ok[i]))
            return true;
    return !strncmp(k, "fs.mqueue.", 10) || !strncmp(k, "net.", 4);
}

static int parse_linux(struct p *p, json_t *root, struct zl_oci_config *c)
{
    json_t *lx = json_object_get(root, "linux");
    if (!lx || json_is_null(lx))
        return 0;
    if (!json_is_object(lx))
        return bad(p, "linux", "must be an object");
    if (parse_namespaces(p, lx, c) < 0 ||
        parse_idmaps(p, lx, "uidMappings", &c->uid_mappings, &c->nuid_mappings) < 0 ||
        parse_idmaps(p, lx, "gidMappings", &c->gid_mappings, &c->ngid_mappings) < 0 ||
        parse_devices(p, lx, c) < 0 || parse_resources(p, lx, c) < 0 ||
        parse_seccomp(p, lx, c) < 0 ||
        get_str(p, lx, "cgroupsPath", "linux.cgroupsPath", false, &c->cgroups_path) < 0 ||
        get_strv(p, lx, "maskedPaths", "linux.maskedPaths", &c->masked_paths, &c->nmasked_paths) <
            0 ||
        get_strv(p, lx, "readonlyPaths", "linux.readonlyPaths", &c->readonly_paths,
                 &c->nreadonly_paths) < 0)
        return -ZL_EINVAL;
    if (refuse(p, lx, "intelRdt", "linux.intelRdt", "Intel RDT") < 0 ||
        refuse(p, lx, "timeOffsets", "linux.timeOffsets", "time namespaces") < 0 ||
        refuse(p, lx, "personality", "linux.personality", "execution domains") < 0 ||
        refuse(p, lx, "mountLabel", "linux.mountLabel", "no SELinux support") < 0)
        return -ZL_EINVAL;
    char *prop = NULL;
    if (get_str(p, lx, "rootfsPropagation", "linux.rootfsPropagation", false, &prop) < 0)
        return -ZL_EINVAL;
    if (prop && *prop) {
        for (size_t i = 0; i < ZL_ARRAY_LEN(propagations); i++)
            if (!strcmp(prop, propagations[i].name))
                c->rootfs_propagation = propagations[i].flags;
        if (!c->rootfs_propagation) {
            free(prop);
            return bad(p, "linux.rootfsPropagation", "must be a propagation such as rslave");
        }
    }
    free(prop);
    json_t *sys = json_object_get(lx, "sysctl");
    if (sys && json_is_object(sys)) {
        c->sysctl = zl_xcalloc(json_object_size(sys) * 2 + 1, sizeof(char *));
        const char *k;
        json_t *v;
        json_object_foreach(sys, k, v)
        {
            if (!json_is_string(v) || !sysctl_namespaced(k) || strstr(k, ".."))
                return zl_err_set(p->err, ZL_EINVAL, "config.json: linux.sysctl.%s: %s", k,
                                  json_is_string(v) ? "not a namespaced sysctl"
                                                    : "must be a string");
            c->sysctl[c->nsysctl * 2] = zl_xstrdup(k);
            c->sysctl[c->nsysctl * 2 + 1] = zl_xstrdup(json_string_value(v));
            c->nsysctl++;
        }
    }
    return 0;
}

static bool has_ns(const struct zl_oci_config *c, int flag)
{
    for (size_t i = 0; i < c->nnamespaces; i++)
        if (c->namespaces[i].type == flag)
            return true;
    return false;
}

/* Rules that need several parts of the config. */
static int check_whole(struct p *p, struct zl_oci_config *c)
{
    if (!has_ns(c, CLONE_NEWNS))
        return bad(p, "linux.namespaces", "a mount namespace is required");
    if ((c->nuid_mappings || c->ngid_mappings) && !has_ns(c, CLONE_NEWUSER))
        return bad(p, "linux.uidMappings", "id mappings need a user namespace");
    if (has_ns(c, CLONE_NEWUSER) && (!c->nuid_mappings || !c->ngid_mappings))
        return bad(p, "linux.namespaces", "a user namespace needs uidMappings and gidMappings");
    if ((c->hostname && *c->hostname) && !has_ns(c, CLONE_NEWUTS))
        return bad(p, "hostname", "setting the hostname needs a uts namespace");
    return 0;
}

/* The devices every container gets (rootfs.c creates them) must be allowed by the devices
 * cgroup whatever the config denies, as must the config's own linux.devices: append allow
 * rules after the config's (later rules win). */
static void allow_devices(struct zl_oci_config *c)
{
    static const struct zl_oci_dev_rule defaults[] = {
        {true, 'c', 1, 3, "rwm"}, {true, 'c', 1, 5, "rwm"}, {true, 'c', 1, 7, "rwm"},
        {true, 'c', 1, 8, "rwm"}, {true, 'c', 1, 9, "rwm"}, {true, 'c', 5, 0, "rwm"},
        {true, 'c', 5, 1, "rwm"}, {true, 'c', 5, 2, "rwm"}, {true, 'c', 136, -1, "rwm"},
    };
    struct zl_oci_resources *r = &c->resources;
    size_t n = r->ndevices + ZL_ARRAY_LEN(defaults) + c->ndevices;
    r->devices = zl_xrealloc(r->devices, (n + 1) * sizeof(*r->devices));
    for (size_t i = 0; i < ZL_ARRAY_LEN(defaults); i++)
        r->devices[r->ndevices++] = defaults[i];
    for (size_t i = 0; i < c->ndevices; i++) {
        const struct zl_oci_device *d = &c->devices[i];
        if (d->type == 'p')
            continue;
        r->devices[r->ndevices++] = (struct zl_oci_dev_rule){
            .allow = true, .type = d->type, .major = d->major, .minor = d->minor, .access = "rwm"};
    }
}

int zl_runtime__config_parse(const char *text, size_t len, const char *bundle,
                             struct zl_oci_config **out, struct zl_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return zl_err_set(err, ZL_EINVAL, "config.json:%d:%d: %s", jerr.line, jerr.column,
                          jerr.text);
    struct p p = {.err = err, .bundle = bundle};
    struct zl_oci_config *c = zl_xcalloc(1, sizeof(*c));
    int rc = -ZL_EINVAL;
    if (!json_is_object(root)) {
        bad(&p, "(root)", "must be an object");
        goto out;
    }
    json_t *r = json_object_get(root, "root");
    char *rpath = NULL;
    if (get_str(&p, root, "ociVersion", "ociVersion", true, &c->oci_version) < 0 ||
        !json_is_object(r) || get_str(&p, r, "path", "root.path", true, &rpath) < 0 ||
        get_bool(&p, r, "readonly", "root.readonly", &c->root_readonly) < 0) {
        if (!json_is_object(r))
            bad(&p, "root", "is required (an object with path)");
        free(rpath);
        goto out;
    }
    c->root_path = rpath[0] == '/' ? rpath : zl_xasprintf("%s/%s", bundle, rpath);
    if (c->root_path != rpath)
        free(rpath);
    if (get_str(&p, root, "hostname", "hostname", false, &c->hostname) < 0 ||
        get_str(&p, root, "domainname", "domainname", false, &c->domainname) < 0 ||
        parse_process(&p, root, c) < 0 || parse_mounts(&p, root, c) < 0 ||
        parse_hooks(&p, root, c) < 0 || parse_linux(&p, root, c) < 0 || check_whole(&p, c) < 0)
        goto out;
    if (c->has_resources && c->resources.ndevices)
        allow_devices(c);
    json_t *ann = json_object_get(root, "annotations");
    if (ann && json_is_object(ann))
        c->annotations_json = json_dumps(ann, JSON_COMPACT);
    /* zlayer's own containers ask for its default seccomp profile by annotation */
    const char *sc = json_string_value(json_object_get(ann, "io.zlayer.seccomp"));
    if (!c->seccomp && sc && !strcmp(sc, "default"))
        c->seccomp = zl_runtime__seccomp_default();
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        zl_runtime__config_free(c);
    else
        *out = c;
    return rc;
}

int zl_runtime__config_load(const char *bundle, struct zl_oci_config **out, struct zl_err *err)
{
    char *path = zl_xasprintf("%s/config.json", bundle), *buf;
    size_t len;
    int rc = zl_read_file(path, 4u << 20, &buf, &len, err);
    free(path);
    if (rc < 0)
        return rc;
    rc = zl_runtime__config_parse(buf, len, bundle, out, err);
    free(buf);
    return rc;
}

static void free_process(struct zl_oci_config *c)
{
    free(c->additional_gids);
    free_strv(c->args);
    free_strv(c->env);
    free(c->cwd);
    free(c->rlimits);
    c->additional_gids = NULL;
    c->args = c->env = NULL;
    c->cwd = NULL;
    c->rlimits = NULL;
}

/* Replace the process part of a loaded config with a standalone OCI process object (exec
 * --process FILE). */
int zl_runtime__config_set_process(struct zl_oci_config *c, const char *text, size_t len,
                                   struct zl_err *err)
{
    json_error_t jerr;
    json_t *proc = json_loadb(text, len, 0, &jerr);
    if (!proc)
        return zl_err_set(err, ZL_EINVAL, "process.json:%d:%d: %s", jerr.line, jerr.column,
                          jerr.text);
    json_t *root = json_pack("{s:o}", "process", proc);
    struct zl_oci_config fresh = {0};
    struct p p = {.err = err, .bundle = "."};
    int rc = parse_process(&p, root, &fresh);
    json_decref(root);
    if (rc < 0) {
        free_process(&fresh);
        return rc;
    }
    free_process(c);
    c->terminal = fresh.terminal;
    c->uid = fresh.uid;
    c->gid = fresh.gid;
    c->additional_gids = fresh.additional_gids;
    c->nadditional_gids = fresh.nadditional_gids;
    c->has_umask = fresh.has_umask;
    c->umask = fresh.umask;
    c->args = fresh.args;
    c->env = fresh.env;
    c->cwd = fresh.cwd;
    c->caps = fresh.caps;
    c->has_caps = fresh.has_caps;
    c->rlimits = fresh.rlimits;
    c->nrlimits = fresh.nrlimits;
    c->no_new_privileges = fresh.no_new_privileges;
    c->has_oom_score_adj = fresh.has_oom_score_adj;
    c->oom_score_adj = fresh.oom_score_adj;
    return 0;
}

static void free_resources(struct zl_oci_resources *r)
{
    free(r->devices);
    free(r->cpuset_cpus);
    free(r->cpuset_mems);
    for (size_t i = 0; i < r->nunified * 2; i++)
        free(r->unified[i]);
    free(r->unified);
}

void zl_runtime__config_free(struct zl_oci_config *c)
{
    if (!c)
        return;
    free(c->oci_version);
    free(c->root_path);
    free_process(c);
    free(c->hostname);
    free(c->domainname);
    for (size_t i = 0; i < c->nmounts; i++) {
        free(c->mounts[i].destination);
        free(c->mounts[i].type);
        free(c->mounts[i].source);
        free(c->mounts[i].data);
    }
    free(c->mounts);
    for (int h = 0; h < ZL_HOOK_COUNT; h++) {
        for (size_t i = 0; i < c->hooks[h].n; i++) {
            free(c->hooks[h].v[i].path);
            free_strv(c->hooks[h].v[i].args);
            free_strv(c->hooks[h].v[i].env);
        }
        free(c->hooks[h].v);
    }
    for (size_t i = 0; i < c->nnamespaces; i++)
        free(c->namespaces[i].path);
    free(c->namespaces);
    free(c->uid_mappings);
    free(c->gid_mappings);
    for (size_t i = 0; i < c->ndevices; i++)
        free(c->devices[i].path);
    free(c->devices);
    free(c->cgroups_path);
    free_resources(&c->resources);
    for (size_t i = 0; i < c->nsysctl * 2; i++)
        free(c->sysctl[i]);
    free(c->sysctl);
    zl_runtime__seccomp_free(c->seccomp);
    free_strv(c->masked_paths);
    free_strv(c->readonly_paths);
    free(c->annotations_json);
    free(c);
}
