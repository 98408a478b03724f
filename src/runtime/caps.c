/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/caps.c: capability names, the default container set, applying a set in the init. */
#include "runtime/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Our own table (not cap_from_name/cap_to_name) so that names stay usable whatever libcap
 * version we are built against. Index = capability number; the numbers are kernel ABI. */
static const char *const names[] = {
    [0] = "CAP_CHOWN",
    [1] = "CAP_DAC_OVERRIDE",
    [2] = "CAP_DAC_READ_SEARCH",
    [3] = "CAP_FOWNER",
    [4] = "CAP_FSETID",
    [5] = "CAP_KILL",
    [6] = "CAP_SETGID",
    [7] = "CAP_SETUID",
    [8] = "CAP_SETPCAP",
    [9] = "CAP_LINUX_IMMUTABLE",
    [10] = "CAP_NET_BIND_SERVICE",
    [11] = "CAP_NET_BROADCAST",
    [12] = "CAP_NET_ADMIN",
    [13] = "CAP_NET_RAW",
    [14] = "CAP_IPC_LOCK",
    [15] = "CAP_IPC_OWNER",
    [16] = "CAP_SYS_MODULE",
    [17] = "CAP_SYS_RAWIO",
    [18] = "CAP_SYS_CHROOT",
    [19] = "CAP_SYS_PTRACE",
    [20] = "CAP_SYS_PACCT",
    [21] = "CAP_SYS_ADMIN",
    [22] = "CAP_SYS_BOOT",
    [23] = "CAP_SYS_NICE",
    [24] = "CAP_SYS_RESOURCE",
    [25] = "CAP_SYS_TIME",
    [26] = "CAP_SYS_TTY_CONFIG",
    [27] = "CAP_MKNOD",
    [28] = "CAP_LEASE",
    [29] = "CAP_AUDIT_WRITE",
    [30] = "CAP_AUDIT_CONTROL",
    [31] = "CAP_SETFCAP",
    [32] = "CAP_MAC_OVERRIDE",
    [33] = "CAP_MAC_ADMIN",
    [34] = "CAP_SYSLOG",
    [35] = "CAP_WAKE_ALARM",
    [36] = "CAP_BLOCK_SUSPEND",
    [37] = "CAP_AUDIT_READ",
    [38] = "CAP_PERFMON",
    [39] = "CAP_BPF",
    [40] = "CAP_CHECKPOINT_RESTORE",
};
_Static_assert(ZL_ARRAY_LEN(names) == 41, "CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40)");

#define BIT(cap) (UINT64_C(1) << (cap))

int zl_runtime__cap_from_name(const char *name)
{
    if (!name)
        return -1;
    /* libcap spells them "cap_chown", OCI "CAP_CHOWN": accept the prefix in either case. */
    const char *s = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
    if (*s == '\0')
        return -1;
    for (size_t i = 0; i < ZL_ARRAY_LEN(names); i++)
        if (strcasecmp(s, names[i] + 4) == 0)
            return (int)i;
    return -1;
}

/* For messages: the name, or "capability N" for one newer than the table. */
static const char *cap_name(int cap, char buf[static 24])
{
    if (cap >= 0 && (size_t)cap < ZL_ARRAY_LEN(names))
        return names[cap];
    snprintf(buf, 24, "capability %d", cap);
    return buf;
}

void zl_runtime__caps_default(struct zl_oci_caps *caps)
{
    static const int dflt[] = {
        CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
        CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
        CAP_KILL,    CAP_AUDIT_WRITE,
    };
    uint64_t m = 0;
    for (size_t i = 0; i < ZL_ARRAY_LEN(dflt); i++)
        m |= BIT(dflt[i]);
    *caps = (struct zl_oci_caps){.bounding = m, .effective = m, .permitted = m};
}

/* The highest capability the running kernel knows. /proc may be missing in the init (or not
 * yet mounted): then probe the bounding set, which answers EINVAL past the last one. */
static int last_cap(void)
{
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[16];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            char *end;
            long v = strtol(buf, &end, 10);
            if (end != buf && v >= 0 && v < 64)
                return (int)v;
        }
    }
    int cap = 0;
    while (cap < 63 && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
        cap++;
    return cap;
}

/* One of the process's current sets as a mask. */
static uint64_t cur_mask(cap_t cur, cap_flag_t flag, int last)
{
    uint64_t m = 0;
    for (int cap = 0; cap <= last; cap++) {
        cap_flag_value_t v = CAP_CLEAR;
        if (cap_get_flag(cur, cap, flag, &v) == 0 && v == CAP_SET)
            m |= BIT(cap);
    }
    return m;
}

/* After setuid() to a non-zero uid under PR_SET_KEEPCAPS the permitted set survives but the
 * effective set is emptied; dropping from the bounding set needs CAP_SETPCAP effective, so put
 * it back when the permitted set still has it. */
static int raise_setpcap(struct zl_err *err)
{
    cap_t cur = cap_get_proc();
    if (!cur)
        return zl_err_sys(err, errno, "read the process capabilities");
    cap_flag_value_t prm = CAP_CLEAR, eff = CAP_CLEAR;
    cap_value_t v = CAP_SETPCAP;
    int r = 0;
    if (cap_get_flag(cur, v, CAP_PERMITTED, &prm) == 0 &&
        cap_get_flag(cur, v, CAP_EFFECTIVE, &eff) == 0 && prm == CAP_SET && eff == CAP_CLEAR) {
        if (cap_set_flag(cur, CAP_EFFECTIVE, 1, &v, CAP_SET) == -1 || cap_set_proc(cur) == -1)
            r = zl_err_sys(err, errno, "raise CAP_SETPCAP in the effective set");
    }
    cap_free(cur);
    return r;
}

static int drop_bounding(uint64_t keep, int last, struct zl_err *err)
{
    char buf[24];
    for (int cap = 0; cap <= last; cap++) {
        if (keep & BIT(cap))
            continue;
        /* Already gone (a nested runtime, a second apply): dropping again would need
         * CAP_SETPCAP for nothing. EINVAL: the kernel does not have this one. */
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) <= 0)
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 && errno != EINVAL)
            return zl_err_sys(err, errno, "drop %s from the bounding set", cap_name(cap, buf));
    }
    return 0;
}

/* capset failed: name the first capability the kernel must have refused. */
static int explain_capset(const struct zl_oci_caps *want, int errnum, int last, struct zl_err *err)
{
    const char *what = "set the process capabilities";
    char buf[24];
    uint64_t prm = 0, inh = 0;
    cap_t cur = cap_get_proc();
    if (cur) {
        prm = cur_mask(cur, CAP_PERMITTED, last);
        inh = cur_mask(cur, CAP_INHERITABLE, last);
        cap_free(cur);
    }
    for (int cap = 0; cap <= last; cap++) {
        uint64_t b = BIT(cap);
        const char *why = NULL;
        if ((want->effective & b) && !(want->permitted & b))
            why = "is in the effective set but not in the permitted set";
        else if ((want->permitted & b) && !(prm & b))
            why = "is not in the process's permitted set";
        else if ((want->inheritable & b) && !(inh & b) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 0)
            why = "is in the inheritable set but not in the bounding set";
        if (why)
            return zl_err_sys(err, errnum, "%s: %s %s", what, cap_name(cap, buf), why);
    }
    return zl_err_sys(err, errnum, "%s", what);
}

static int set_sets(const struct zl_oci_caps *want, int last, struct zl_err *err)
{
    static const struct {
        cap_flag_t flag;
        const char *name;
        size_t off;
    } sets[] = {
        {CAP_PERMITTED, "permitted", offsetof(struct zl_oci_caps, permitted)},
        {CAP_EFFECTIVE, "effective", offsetof(struct zl_oci_caps, effective)},
        {CAP_INHERITABLE, "inheritable", offsetof(struct zl_oci_caps, inheritable)},
    };
    char buf[24];
    cap_t c = cap_init();
    if (!c)
        return zl_err_sys(err, errno, "cap_init");
    for (size_t i = 0; i < ZL_ARRAY_LEN(sets); i++) {
        uint64_t m;
        memcpy(&m, (const char *)want + sets[i].off, sizeof(m));
        for (int cap = 0; cap <= last; cap++) {
            cap_value_t v = cap;
            if ((m & BIT(cap)) && cap_set_flag(c, sets[i].flag, 1, &v, CAP_SET) == -1) {
                int e = errno;
                cap_free(c);
                return zl_err_sys(err, e, "put %s in the %s set", cap_name(cap, buf), sets[i].name);
            }
        }
    }
    int r = 0;
    if (cap_set_proc(c) == -1)
        r = explain_capset(want, errno, last, err);
    cap_free(c);
    return r;
}

static int set_ambient(const struct zl_oci_caps *want, int last, struct zl_err *err)
{
    char buf[24];
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1) {
        if (errno == EINVAL && want->ambient == 0)
            return 0; /* a kernel before 4.3 has no ambient set: nothing to clear */
        return zl_err_sys(err, errno, "clear the ambient set");
    }
    for (int cap = 0; cap <= last; cap++) {
        if (!(want->ambient & BIT(cap)))
            continue;
        /* The kernel allows an ambient cap only when it is permitted and inheritable. Configs
         * often list ambient caps without inheritable ones (`crun spec` does): such caps are
         * skipped, as other runtimes do, rather than failing the container. */
        if (!(want->permitted & BIT(cap)) || !(want->inheritable & BIT(cap)))
            continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) == -1)
            return zl_err_sys(err, errno, "raise %s in the ambient set", cap_name(cap, buf));
    }
    return 0;
}

/* Runs in the container's init after setgroups/setgid/setuid. The caller must have set
 * PR_SET_KEEPCAPS before a setuid() away from 0, or the kernel clears the permitted set and
 * nothing here can be granted (the bounding drop then fails with EPERM). Capabilities above
 * the kernel's cap_last_cap are ignored in every set. */
int zl_runtime__caps_apply(const struct zl_oci_caps *caps, struct zl_err *err)
{
    int last = last_cap();
    uint64_t known = last >= 63 ? UINT64_MAX : BIT(last + 1) - 1;
    struct zl_oci_caps want = {
        .bounding = caps->bounding & known,
        .effective = caps->effective & known,
        .permitted = caps->permitted & known,
        .inheritable = caps->inheritable & known,
        .ambient = caps->ambient & known,
    };
    int r = raise_setpcap(err);
    if (r < 0)
        return r;
    /* Bounding first: it needs CAP_SETPCAP, which the new sets may not keep. */
    if ((r = drop_bounding(want.bounding, last, err)) < 0)
        return r;
    if ((r = set_sets(&want, last, err)) < 0)
        return r;
    return set_ambient(&want, last, err);
}
