/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/seccomp.c: loading a seccomp profile with libseccomp, and zlayer's default profile. */
#include "runtime/internal.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* At most one comparison per argument, and there are six arguments. */
#define MAX_ARGS 6

static int add_rule(scmp_filter_ctx ctx, const struct zl_oci_syscall_rule *rule, size_t *unknown,
                    struct zl_err *err)
{
    struct scmp_arg_cmp cmp[MAX_ARGS];
    if (rule->nargs > MAX_ARGS)
        return zl_err_set(err, ZL_EINVAL,
                          "seccomp rule for %s: %zu argument conditions (at most %d)",
                          rule->nnames ? rule->names[0] : "(no syscall)", rule->nargs, MAX_ARGS);
    for (size_t i = 0; i < rule->nargs; i++) {
        const struct zl_oci_syscall_arg *a = &rule->args[i];
        /* For SCMP_CMP_MASKED_EQ libseccomp wants the mask in datum_a and the value in
         * datum_b, which is OCI's value/valueTwo order. */
        cmp[i] = (struct scmp_arg_cmp){
            .arg = a->index,
            .op = (enum scmp_compare)a->op,
            .datum_a = a->value,
            .datum_b = a->value_two,
        };
    }
    for (size_t i = 0; i < rule->nnames; i++) {
        int nr = seccomp_syscall_resolve_name(rule->names[i]);
        if (nr == __NR_SCMP_ERROR) {
            /* Profiles list syscalls of newer kernels and other architectures; runc and crun
             * skip names libseccomp does not know, so do we. */
            (*unknown)++;
            continue;
        }
        int r = seccomp_rule_add_array(ctx, rule->action, nr, (unsigned)rule->nargs, cmp);
        if (r < 0)
            return zl_err_sys(err, -r, "seccomp rule for %s", rule->names[i]);
    }
    return 0;
}

static int build(scmp_filter_ctx ctx, const struct zl_oci_seccomp *sc, struct zl_err *err)
{
    /* Leave no_new_privs to the caller (process.noNewPrivileges). SYSRAWRC: have
     * seccomp_load report the kernel's errno rather than ECANCELED. */
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
    if (r < 0)
        return zl_err_sys(err, -r, "seccomp: set filter attributes");
    for (size_t i = 0; i < sc->narchs; i++) {
        /* The native architecture is in a new filter already: EEXIST. */
        r = seccomp_arch_add(ctx, sc->archs[i]);
        if (r < 0 && r != -EEXIST)
            return zl_err_sys(err, -r, "seccomp: add architecture 0x%08x", sc->archs[i]);
    }
    size_t unknown = 0;
    for (size_t i = 0; i < sc->nrules; i++) {
        /* libseccomp refuses a rule whose action is the default one (EACCES); it would
         * change nothing anyway. */
        if (sc->rules[i].action == sc->default_action)
            continue;
        if ((r = add_rule(ctx, &sc->rules[i], &unknown, err)) < 0)
            return r;
    }
    /* A debug note with `unknown` belongs here once obs/ has a logger; it is not an error. */
    (void)unknown;
    return 0;
}

/* The last step before exec. Without no_new_privs the kernel only takes a filter from a task
 * with CAP_SYS_ADMIN, so a caller that does not set PR_SET_NO_NEW_PRIVS must load the filter
 * before zl_runtime__caps_apply drops that capability (runc does the same); the profile must
 * then allow capset and prctl. */
int zl_runtime__seccomp_load(const struct zl_oci_seccomp *sc, struct zl_err *err)
{
    scmp_filter_ctx ctx = seccomp_init(sc->default_action);
    if (!ctx)
        return zl_err_set(err, ZL_EINVAL, "seccomp: invalid default action 0x%08x",
                          sc->default_action);
    int r = build(ctx, sc, err);
    if (r == 0) {
        r = seccomp_load(ctx);
        if (r < 0)
            r = zl_err_sys(err, -r, "load the seccomp filter%s",
                           r == -EACCES ? " (without no_new_privs this needs CAP_SYS_ADMIN)" : "");
    }
    seccomp_release(ctx);
    return r;
}

/* ---- the default profile ---- */

/* EPERM, unconditionally. Names missing on the native architecture (stime, vm86, umount...)
 * still resolve to libseccomp pseudo numbers and filter the 32-bit ABI. */
/* clang-format off */
static const char *const denied[] = {
    /* kernel modules and kexec */
    "init_module", "finit_module", "delete_module", "create_module", "kexec_load",
    "kexec_file_load", "get_kernel_syms", "query_module",
    /* the mount family (the new mount API included) */
    "mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick",
    /* bpf, perf, the kernel keyring */
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
    /* other processes' memory */
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    /* clocks */
    "clock_settime", "clock_settime64", "settimeofday", "stime", "adjtimex", "clock_adjtime",
    /* the whole machine */
    "reboot", "swapon", "swapoff", "acct", "quotactl", "lookup_dcookie", "syslog",
    "fanotify_init", "nfsservctl", "sysfs", "_sysctl", "uselib",
    /* new namespaces and joining others */
    "unshare", "setns",
    /* handles that bypass path lookup, userfaultfd */
    "open_by_handle_at", "name_to_handle_at", "userfaultfd",
    /* raw I/O ports, vm86 */
    "iopl", "ioperm", "vm86", "vm86old",
};
/* clang-format on */

/* clone(2) flags that create namespaces. */
static const uint64_t ns_flags[] = {
    CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

/* s390 passes the clone flags second (the stack pointer comes first). */
#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

#define PERSONA_QUERY UINT64_C(0xffffffff)
/* Bits of the allowed personas 0 (PER_LINUX), 8 (PER_LINUX32), 0x20000 (UNAME26), 0x20008. */
#define PERSONA_BITS UINT64_C(0x20008)

static struct zl_oci_syscall_rule *new_rule(struct zl_oci_seccomp *sc, uint32_t action,
                                            const char *const *names, size_t nnames)
{
    sc->rules = zl_xrealloc(sc->rules, (sc->nrules + 1) * sizeof(*sc->rules));
    struct zl_oci_syscall_rule *r = &sc->rules[sc->nrules++];
    *r = (struct zl_oci_syscall_rule){.action = action, .nnames = nnames};
    r->names = zl_xcalloc(nnames, sizeof(*r->names));
    for (size_t i = 0; i < nnames; i++)
        r->names[i] = zl_xstrdup(names[i]);
    return r;
}

/* A one-syscall rule with one argument comparison. */
static void arg_rule(struct zl_oci_seccomp *sc, uint32_t action, const char *name, unsigned index,
                     int op, uint64_t a, uint64_t b)
{
    struct zl_oci_syscall_rule *r = new_rule(sc, action, &name, 1);
    r->args = zl_xcalloc(1, sizeof(*r->args));
    r->args[0] = (struct zl_oci_syscall_arg){.index = index, .op = op, .value = a, .value_two = b};
    r->nargs = 1;
}

/* personality(2): EPERM unless arg0 is 0, 8, 0x20000, 0x20008 or 0xffffffff (the query).
 * libseccomp takes one comparison per argument in a rule and ORs the rules, so "not one of
 * these" cannot be a chain of SCMP_CMP_NE, and with a default of ALLOW there is no room for
 * an allow rule either. Instead the complement of the set is written as a union of
 * two-bit masked comparisons on the low 32 bits (bit 0 is outside PERSONA_BITS):
 *   - bit 0 clear and some bit b outside PERSONA_BITS set: not 0xffffffff and not allowed;
 *   - bit 0 set and some other bit c clear: not 0xffffffff, and no other allowed value has
 *     bit 0;
 * plus one rule for values above 32 bits. 61 small rules, exact. */
static void personality_rules(struct zl_oci_seccomp *sc)
{
    uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    for (unsigned b = 1; b < 32; b++) {
        uint64_t bit = UINT64_C(1) << b;
        if (!(bit & PERSONA_BITS))
            arg_rule(sc, eperm, "personality", 0, SCMP_CMP_MASKED_EQ, bit | 1, bit);
        arg_rule(sc, eperm, "personality", 0, SCMP_CMP_MASKED_EQ, bit | 1, 1);
    }
    arg_rule(sc, eperm, "personality", 0, SCMP_CMP_GT, PERSONA_QUERY, 0);
}

struct zl_oci_seccomp *zl_runtime__seccomp_default(void)
{
    struct zl_oci_seccomp *sc = zl_xcalloc(1, sizeof(*sc));
    uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    sc->default_action = SCMP_ACT_ALLOW;

    /* On x86_64 the i386 (int $0x80) and x32 ABIs reach the same kernel: filter them too, or
     * they are a way around every rule. Other architectures get their native ABI. */
    sc->archs = zl_xcalloc(3, sizeof(*sc->archs));
    sc->archs[sc->narchs++] = seccomp_arch_native();
    if (sc->archs[0] == SCMP_ARCH_X86_64) {
        sc->archs[sc->narchs++] = SCMP_ARCH_X86;
        sc->archs[sc->narchs++] = SCMP_ARCH_X32;
    }

    new_rule(sc, eperm, denied, ZL_ARRAY_LEN(denied));
    personality_rules(sc);
    /* One rule per namespace flag: a masked comparison tests one bit pattern, and the rules
     * OR together. unshare and setns are denied outright above. */
    for (size_t i = 0; i < ZL_ARRAY_LEN(ns_flags); i++)
        arg_rule(sc, eperm, "clone", CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]);
    /* clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc fall
     * back to clone, which the rules above see (Docker does the same). */
    const char *clone3 = "clone3";
    new_rule(sc, SCMP_ACT_ERRNO(ENOSYS), &clone3, 1);
    /* Raw packet sockets see (and forge) every frame on the interface. */
    arg_rule(sc, eperm, "socket", 0, SCMP_CMP_EQ, AF_PACKET, 0);
    return sc;
}

void zl_runtime__seccomp_free(struct zl_oci_seccomp *sc)
{
    if (!sc)
        return;
    for (size_t i = 0; i < sc->nrules; i++) {
        for (size_t j = 0; j < sc->rules[i].nnames; j++)
            free(sc->rules[i].names[j]);
        free(sc->rules[i].names);
        free(sc->rules[i].args);
    }
    free(sc->rules);
    free(sc->archs);
    free(sc);
}
