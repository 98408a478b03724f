/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/runtime/test_caps_seccomp.c: capabilities and seccomp, applied in forked children. */
#include "runtime/internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __NR_clone3
#define __NR_clone3 435
#endif

/* ---- the child side: apply, try things, write "key=value" lines into a pipe ---- */

static void put(int fd, const char *key, const char *fmt, ...) ZL_PRINTF(3, 4);
static void put(int fd, const char *key, const char *fmt, ...)
{
    char line[1200];
    int n = snprintf(line, sizeof(line), "%s=", key);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* One write of under PIPE_BUF bytes: lines from a grandchild do not interleave. */
    if (write(fd, line, (size_t)n) != n)
        _exit(3);
}

/* "ok", or the errno name when the call failed. */
static void put_rc(int fd, const char *key, bool failed)
{
    int e = errno;
    const char *name = strerrorname_np(e);
    put(fd, key, "%s", !failed ? "ok" : name ? name : "E?");
}

/* "ok" or the error message. */
static void put_err(int fd, const char *key, int r, const struct zl_err *err)
{
    put(fd, key, "%s", r == 0 ? "ok" : err->msg);
}

/* Copy the /proc/self/status fields a test looks at. */
static void put_status(int fd)
{
    static const char *const keys[] = {"CapInh", "CapPrm",     "CapEff", "CapBnd",
                                       "CapAmb", "NoNewPrivs", "Seccomp"};
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) {
        put(fd, "status", "%s", strerror(errno));
        return;
    }
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        for (size_t i = 0; i < ZL_ARRAY_LEN(keys); i++) {
            if (strcmp(line, keys[i]) != 0)
                continue;
            char *v = colon + 1 + strspn(colon + 1, " \t");
            v[strcspn(v, "\n")] = '\0';
            put(fd, keys[i], "%s", v);
        }
    }
    fclose(f);
}

/* ---- the parent side ---- */

struct report {
    char text[16384];
};

typedef void child_fn(int fd, void *arg);

static void run_child(child_fn *fn, void *arg, struct report *r)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        alarm(20);
        fn(p[1], arg);
        put(p[1], "done", "yes");
        /* _exit: no atexit handlers, no LeakSanitizer run in a half-privileged child. */
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(p[0], r->text + len, sizeof(r->text) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    r->text[len] = '\0';
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_error("child output:\n%s", r->text);
        fail_msg("child ended with status 0x%x", st);
    }
}

/* The value of the last `key=` line, or "(missing)". */
static const char *get(const struct report *r, const char *key, char *buf, size_t size)
{
    size_t klen = strlen(key);
    const char *found = NULL;
    for (const char *l = r->text; *l;) {
        if (strncmp(l, key, klen) == 0 && l[klen] == '=')
            found = l + klen + 1;
        const char *nl = strchr(l, '\n');
        l = nl ? nl + 1 : l + strlen(l);
    }
    if (!found) {
        snprintf(buf, size, "(missing)");
        return buf;
    }
    size_t n = strcspn(found, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, found, n);
    buf[n] = '\0';
    return buf;
}

#define expect(r, key, want)                                                 \
    do {                                                                     \
        char v_[1200];                                                       \
        get((r), (key), v_, sizeof(v_));                                     \
        if (strcmp(v_, (want)) != 0)                                         \
            print_error("%s: got \"%s\", want \"%s\"\n", (key), v_, (want)); \
        assert_string_equal(v_, (want));                                     \
    } while (0)

static char *hex16(uint64_t m, char buf[static 17])
{
    snprintf(buf, 17, "%016" PRIx64, m);
    return buf;
}

static uint64_t own_permitted(void)
{
    cap_t c = cap_get_proc();
    assert_non_null(c);
    uint64_t m = 0;
    for (int cap = 0; cap < 64; cap++) {
        cap_flag_value_t v = CAP_CLEAR;
        if (cap_get_flag(c, cap, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
            m |= UINT64_C(1) << cap;
    }
    cap_free(c);
    return m;
}

/* Root with the default set, CAP_SYS_ADMIN, and no filter yet: or the test skips. */
static bool privileged(void)
{
    struct zl_oci_caps d;
    zl_runtime__caps_default(&d);
    uint64_t need = d.permitted | (UINT64_C(1) << CAP_SYS_ADMIN);
    return geteuid() == 0 && (own_permitted() & need) == need &&
           prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0;
}

#define need_root()        \
    do {                   \
        if (!privileged()) \
            skip();        \
    } while (0)

/* ---- (1) the default capabilities ---- */

static void child_default_caps(int fd, void *arg)
{
    const char *dir = arg;
    /* Namespaces of our own first: if the drop did not work, sethostname and mount change
     * these and never the host's. */
    put_rc(fd, "unshare",
           unshare(CLONE_NEWUTS | CLONE_NEWNS) == -1 ||
               mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1);
    struct zl_oci_caps c;
    zl_runtime__caps_default(&c);
    struct zl_err err = {0};
    put_err(fd, "apply", zl_runtime__caps_apply(&c, &err), &err);
    put_status(fd);
    char path[512];
    snprintf(path, sizeof(path), "%s/null", dir);
    put_rc(fd, "mknod", mknod(path, S_IFCHR | 0600, makedev(1, 3)) == -1);
    put_rc(fd, "chown", chown(path, 1234, 1234) == -1);
    put_rc(fd, "sethostname", sethostname("zl-test", 7) == -1);
    put_rc(fd, "mount", mount("none", dir, "tmpfs", 0, NULL) == -1);
}

static void test_caps_default_applied(void **state)
{
    (void)state;
    need_root();
    char dir[] = "/tmp/zl-caps-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct report r;
    run_child(child_default_caps, dir, &r);
    char path[64];
    snprintf(path, sizeof(path), "%s/null", dir);
    unlink(path);
    rmdir(dir);

    struct zl_oci_caps d;
    zl_runtime__caps_default(&d);
    char m[17];
    expect(&r, "unshare", "ok");
    expect(&r, "apply", "ok");
    expect(&r, "CapBnd", hex16(d.bounding, m));
    expect(&r, "CapEff", hex16(d.effective, m));
    expect(&r, "CapPrm", hex16(d.permitted, m));
    expect(&r, "CapInh", hex16(0, m));
    expect(&r, "CapAmb", hex16(0, m));
    expect(&r, "mknod", "ok");
    expect(&r, "chown", "ok");
    expect(&r, "sethostname", "EPERM");
    expect(&r, "mount", "EPERM");
    expect(&r, "done", "yes");
}

static void test_caps_default_set(void **state)
{
    (void)state;
    static const int want[] = {
        CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
        CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
        CAP_KILL,    CAP_AUDIT_WRITE,
    };
    uint64_t m = 0;
    for (size_t i = 0; i < ZL_ARRAY_LEN(want); i++)
        m |= UINT64_C(1) << want[i];
    struct zl_oci_caps c;
    memset(&c, 0xff, sizeof(c));
    zl_runtime__caps_default(&c);
    assert_int_equal(__builtin_popcountll(m), 14);
    assert_int_equal(c.bounding, m);
    assert_int_equal(c.effective, m);
    assert_int_equal(c.permitted, m);
    assert_int_equal(c.inheritable, 0);
    assert_int_equal(c.ambient, 0);
}

/* The init's order: setgroups, setgid, setuid (with PR_SET_KEEPCAPS), then the caps. */
static void child_after_setuid(int fd, void *arg)
{
    bool keepcaps = arg != NULL;
    if (keepcaps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1)
        put_rc(fd, "keepcaps", true);
    put_rc(fd, "setgroups", setgroups(0, NULL) == -1);
    put_rc(fd, "setgid", setresgid(65534, 65534, 65534) == -1);
    put_rc(fd, "setuid", setresuid(65534, 65534, 65534) == -1);
    struct zl_oci_caps c;
    zl_runtime__caps_default(&c);
    struct zl_err err = {0};
    put_err(fd, "apply", zl_runtime__caps_apply(&c, &err), &err);
    put_status(fd);
}

static void test_caps_after_setuid(void **state)
{
    (void)state;
    need_root();
    struct zl_oci_caps d;
    zl_runtime__caps_default(&d);
    char m[17];
    struct report r;
    run_child(child_after_setuid, "keepcaps", &r);
    expect(&r, "setuid", "ok");
    expect(&r, "apply", "ok");
    expect(&r, "CapBnd", hex16(d.bounding, m));
    expect(&r, "CapEff", hex16(d.effective, m));
    expect(&r, "CapPrm", hex16(d.permitted, m));

    /* Without PR_SET_KEEPCAPS nothing is left to drop the bounding set with; the message names
     * the first capability (2: the default set has 0 and 1). */
    run_child(child_after_setuid, NULL, &r);
    expect(&r, "setuid", "ok");
    expect(&r, "apply", "drop CAP_DAC_READ_SEARCH from the bounding set: Operation not permitted");
}

/* ---- (2) the ambient set ---- */

static void child_ambient(int fd, void *arg)
{
    const struct zl_oci_caps *c = arg;
    struct zl_err err = {0};
    put_err(fd, "apply", zl_runtime__caps_apply(c, &err), &err);
    put_status(fd);
}

static void test_caps_ambient(void **state)
{
    (void)state;
    need_root();
    uint64_t nbs = UINT64_C(1) << CAP_NET_BIND_SERVICE;
    struct zl_oci_caps c;
    zl_runtime__caps_default(&c);
    c.inheritable = nbs;
    c.ambient = nbs;
    char m[17];
    struct report r;
    run_child(child_ambient, &c, &r);
    expect(&r, "apply", "ok");
    expect(&r, "CapAmb", hex16(nbs, m));
    expect(&r, "CapInh", hex16(nbs, m));
    expect(&r, "CapEff", hex16(c.effective, m));

    /* Not inheritable: the kernel cannot grant it, so it is skipped (configs such as
     * `crun spec`'s list ambient caps without inheritable ones) and nothing else changes. */
    c.inheritable = 0;
    run_child(child_ambient, &c, &r);
    expect(&r, "apply", "ok");
    expect(&r, "CapAmb", hex16(0, m));

    /* Effective beyond permitted: capset refuses; named. */
    zl_runtime__caps_default(&c);
    c.effective |= UINT64_C(1) << CAP_NET_ADMIN;
    run_child(child_ambient, &c, &r);
    expect(&r, "apply",
           "set the process capabilities: CAP_NET_ADMIN is in the effective set "
           "but not in the permitted set: Operation not permitted");
}

/* ---- (3) the default seccomp profile ---- */

#if defined(__x86_64__)
/* A syscall through the i386 entry point, as a 32-bit program makes it. */
static long int80(long nr, long a, long b)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(0L), "S"(0L), "D"(0L)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

/* In a grandchild: a kernel without ia32 emulation kills it with SIGSEGV. */
static void put_ia32(int fd)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (int80(20 /* getpid */, 0, 0) != getpid())
            _exit(2);
        long rm = int80(21 /* mount */, 0, 0);
        long ru = int80(310 /* unshare */, CLONE_NEWUTS, 0);
        put(fd, "ia32_mount", "%s", rm < 0 ? strerrorname_np((int)-rm) : "ok");
        put(fd, "ia32_unshare", "%s", ru < 0 ? strerrorname_np((int)-ru) : "ok");
        _exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        put(fd, "ia32", "unavailable");
}
#endif

static bool persona_allowed(uint64_t v)
{
    return v == 0 || v == 8 || v == 0x20000 || v == 0x20008 || v == 0xffffffff;
}

/* personality(2) with many values: report the first one the filter gets wrong. The allowed
 * ones do change the persona; it is put back to 0 after each. */
static void put_personality(int fd)
{
    uint64_t vals[3 * 32 + 9];
    size_t n = 0;
    for (unsigned b = 0; b < 32; b++) {
        vals[n++] = UINT64_C(1) << b;
        vals[n++] = (UINT64_C(1) << b) | 0x20008;
        vals[n++] = UINT64_C(0xffffffff) & ~(UINT64_C(1) << b);
    }
    uint64_t extra[] = {0,
                        8,
                        0x20000,
                        0x20008,
                        0xffffffff,
                        ADDR_NO_RANDOMIZE,
                        READ_IMPLIES_EXEC,
                        UINT64_C(0x100000000),
                        UINT64_C(0x1ffffffff)};
    for (size_t i = 0; i < ZL_ARRAY_LEN(extra); i++)
        vals[n++] = extra[i];
    for (size_t i = 0; i < n; i++) {
        long rc = syscall(SYS_personality, (unsigned long)vals[i]);
        bool refused = rc == -1 && errno == EPERM;
        syscall(SYS_personality, 0UL);
        if (refused == persona_allowed(vals[i])) {
            put(fd, "personality", "0x%" PRIx64 " %s", vals[i], refused ? "refused" : "allowed");
            return;
        }
    }
    put(fd, "personality", "ok");
}

static void child_default_seccomp(int fd, void *arg)
{
    const char *dir = arg;
    /* A private mount namespace first: if the filter let mount through, it lands here. */
    put_rc(fd, "private",
           unshare(CLONE_NEWNS) == -1 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1);
    struct zl_oci_seccomp *sc = zl_runtime__seccomp_default();
    struct zl_err err = {0};
    put_err(fd, "load", zl_runtime__seccomp_load(sc, &err), &err);
    zl_runtime__seccomp_free(sc);
    put_status(fd);

    put_rc(fd, "mount", mount("none", dir, "tmpfs", 0, NULL) == -1);
    put_rc(fd, "unshare", unshare(CLONE_NEWUTS) == -1);
    put_rc(fd, "setns", setns(0, CLONE_NEWNET) == -1);
    put_rc(fd, "clone3", syscall(__NR_clone3, NULL, (size_t)0) == -1);
    put_rc(fd, "ptrace", ptrace(PTRACE_TRACEME, 0, NULL, NULL) == -1);
    put_rc(fd, "keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0) == -1);
    put_rc(fd, "init_module", syscall(SYS_init_module, NULL, 0UL, "") == -1);

    /* clone with a namespace flag, each one; a clone that wrongly succeeds just exits. */
    static const struct {
        const char *key;
        unsigned long flag;
    } ns[] = {
        {"clone_newns", CLONE_NEWNS},         {"clone_newuts", CLONE_NEWUTS},
        {"clone_newipc", CLONE_NEWIPC},       {"clone_newuser", CLONE_NEWUSER},
        {"clone_newpid", CLONE_NEWPID},       {"clone_newnet", CLONE_NEWNET},
        {"clone_newcgroup", CLONE_NEWCGROUP},
    };
    for (size_t i = 0; i < ZL_ARRAY_LEN(ns); i++) {
        long pid = syscall(SYS_clone, ns[i].flag | SIGCHLD, 0L, NULL, NULL, 0L);
        if (pid == 0)
            _exit(0);
        int e = errno;
        if (pid > 0)
            waitpid((pid_t)pid, NULL, 0);
        errno = e;
        put_rc(fd, ns[i].key, pid == -1);
    }

    int s = socket(AF_PACKET, SOCK_RAW, 0);
    put_rc(fd, "af_packet", s == -1);
    if (s >= 0)
        close(s);
    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    put_rc(fd, "af_inet", s == -1);
    if (s >= 0)
        close(s);

    /* Ordinary life goes on. */
    put(fd, "getpid", "%s", syscall(SYS_getpid) == getpid() ? "ok" : "wrong");
    int f = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    put_rc(fd, "open", f == -1);
    if (f >= 0)
        close(f);
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    int st = 0;
    bool forked = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7;
    put(fd, "fork", "%s", forked ? "ok" : "failed");
#if defined(__x86_64__)
    put_ia32(fd);
#endif
    put_personality(fd);
}

static void test_seccomp_default(void **state)
{
    (void)state;
    need_root();
    char dir[] = "/tmp/zl-seccomp-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct report r;
    run_child(child_default_seccomp, dir, &r);
    rmdir(dir);

    expect(&r, "private", "ok");
    expect(&r, "load", "ok");
    expect(&r, "Seccomp", "2");
    expect(&r, "NoNewPrivs", "0"); /* the caller decides about no_new_privs */
    expect(&r, "mount", "EPERM");
    expect(&r, "unshare", "EPERM");
    expect(&r, "setns", "EPERM");
    expect(&r, "clone3", "ENOSYS");
    expect(&r, "ptrace", "EPERM");
    expect(&r, "keyctl", "EPERM");
    expect(&r, "init_module", "EPERM");
    expect(&r, "clone_newns", "EPERM");
    expect(&r, "clone_newuts", "EPERM");
    expect(&r, "clone_newipc", "EPERM");
    expect(&r, "clone_newuser", "EPERM");
    expect(&r, "clone_newpid", "EPERM");
    expect(&r, "clone_newnet", "EPERM");
    expect(&r, "clone_newcgroup", "EPERM");
    expect(&r, "af_packet", "EPERM");
    expect(&r, "af_inet", "ok");
    expect(&r, "getpid", "ok");
    expect(&r, "open", "ok");
    expect(&r, "fork", "ok");
    expect(&r, "personality", "ok");
#if defined(__x86_64__)
    char v[64];
    if (strcmp(get(&r, "ia32", v, sizeof(v)), "unavailable") == 0) {
        print_message("no ia32 emulation: the 32-bit ABI was not tried\n");
    } else {
        expect(&r, "ia32_mount", "EPERM");
        expect(&r, "ia32_unshare", "EPERM");
    }
#endif
    expect(&r, "done", "yes");
}

static void test_seccomp_default_shape(void **state)
{
    (void)state;
    struct zl_oci_seccomp *sc = zl_runtime__seccomp_default();
    assert_int_equal(sc->default_action, SCMP_ACT_ALLOW);
    assert_true(sc->narchs >= 1);
    assert_int_equal(sc->archs[0], seccomp_arch_native());
    if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
        assert_int_equal(sc->narchs, 3);
        assert_int_equal(sc->archs[1], SCMP_ARCH_X86);
        assert_int_equal(sc->archs[2], SCMP_ARCH_X32);
    }
    size_t clone_rules = 0, clone3 = 0;
    for (size_t i = 0; i < sc->nrules; i++) {
        const struct zl_oci_syscall_rule *rule = &sc->rules[i];
        assert_true(rule->nnames >= 1);
        assert_int_not_equal(rule->action, sc->default_action);
        if (strcmp(rule->names[0], "clone") == 0) {
            clone_rules++;
            assert_int_equal(rule->nargs, 1);
            assert_int_equal(rule->args[0].op, SCMP_CMP_MASKED_EQ);
            assert_int_equal(rule->args[0].value, rule->args[0].value_two);
            assert_int_equal(__builtin_popcountll(rule->args[0].value), 1);
        }
        if (strcmp(rule->names[0], "clone3") == 0) {
            clone3++;
            assert_int_equal(rule->action, SCMP_ACT_ERRNO(ENOSYS));
        }
    }
    assert_int_equal(clone_rules, 7);
    assert_int_equal(clone3, 1);
    zl_runtime__seccomp_free(sc);
    zl_runtime__seccomp_free(NULL);
}

/* ---- (4) a profile built as the config parser builds one ---- */

static char name_getcwd[] = "getcwd", name_getpid[] = "getpid";
static char *names_getcwd[] = {name_getcwd};
static char *names_getpid[] = {name_getpid};

static void child_profile(int fd, void *arg)
{
    const struct zl_oci_seccomp *sc = arg;
    struct zl_err err = {0};
    put_err(fd, "load", zl_runtime__seccomp_load(sc, &err), &err);
    put_status(fd);
    static char buf[0x2000];
    put_rc(fd, "getcwd_7", syscall(SYS_getcwd, buf, (size_t)7) == -1);
    put_rc(fd, "getcwd_0x1100", syscall(SYS_getcwd, buf, (size_t)0x1100) == -1);
    put_rc(fd, "getcwd_0x1200", syscall(SYS_getcwd, buf, (size_t)0x1200) == -1);
    put_rc(fd, "getcwd_4096", syscall(SYS_getcwd, buf, (size_t)4096) == -1);
}

static void test_seccomp_profile(void **state)
{
    (void)state;
    need_root();
    struct zl_oci_syscall_arg eq7 = {.index = 1, .op = SCMP_CMP_EQ, .value = 7};
    /* value is the mask, value_two the value (OCI's order). */
    struct zl_oci_syscall_arg masked = {
        .index = 1, .op = SCMP_CMP_MASKED_EQ, .value = 0xff00, .value_two = 0x1100};
    struct zl_oci_syscall_rule rules[] = {
        {.names = names_getcwd,
         .nnames = 1,
         .action = SCMP_ACT_ERRNO(ENOTSUP),
         .args = &eq7,
         .nargs = 1},
        {.names = names_getcwd,
         .nnames = 1,
         .action = SCMP_ACT_ERRNO(EDOM),
         .args = &masked,
         .nargs = 1},
        /* the default action again: skipped, not an error */
        {.names = names_getpid, .nnames = 1, .action = SCMP_ACT_ALLOW},
    };
    uint32_t archs[] = {SCMP_ARCH_NATIVE, seccomp_arch_native()};
    struct zl_oci_seccomp sc = {
        .default_action = SCMP_ACT_ALLOW,
        .archs = archs,
        .narchs = ZL_ARRAY_LEN(archs),
        .rules = rules,
        .nrules = ZL_ARRAY_LEN(rules),
    };
    struct report r;
    run_child(child_profile, &sc, &r);
    expect(&r, "load", "ok");
    expect(&r, "Seccomp", "2");
    expect(&r, "getcwd_7", strerrorname_np(ENOTSUP));
    expect(&r, "getcwd_0x1100", "EDOM");
    expect(&r, "getcwd_0x1200", "ok");
    expect(&r, "getcwd_4096", "ok");
}

/* ---- (5) unknown syscall names, and errors ---- */

static void test_seccomp_unknown_names(void **state)
{
    (void)state;
    need_root();
    char n1[] = "no_such_syscall", n2[] = "getcwd", n3[] = "also_not_one_2";
    char *names[] = {n1, n2, n3};
    struct zl_oci_syscall_rule rule = {
        .names = names, .nnames = 3, .action = SCMP_ACT_ERRNO(ENOTSUP)};
    struct zl_oci_seccomp sc = {.default_action = SCMP_ACT_ALLOW, .rules = &rule, .nrules = 1};
    struct report r;
    run_child(child_profile, &sc, &r);
    expect(&r, "load", "ok");
    expect(&r, "Seccomp", "2");
    expect(&r, "getcwd_4096", strerrorname_np(ENOTSUP));
}

static void test_seccomp_errors(void **state)
{
    (void)state;
    need_root();
    /* An argument index past the sixth: libseccomp's EINVAL, named after the syscall. Nothing
     * is loaded. */
    struct zl_oci_syscall_arg bad = {.index = 6, .op = SCMP_CMP_EQ, .value = 1};
    struct zl_oci_syscall_rule rule = {.names = names_getcwd,
                                       .nnames = 1,
                                       .action = SCMP_ACT_ERRNO(EPERM),
                                       .args = &bad,
                                       .nargs = 1};
    struct zl_oci_seccomp sc = {.default_action = SCMP_ACT_ALLOW, .rules = &rule, .nrules = 1};
    struct report r;
    run_child(child_profile, &sc, &r);
    expect(&r, "load", "seccomp rule for getcwd: Invalid argument");
    expect(&r, "Seccomp", "0");

    rule.nargs = 0;
    uint32_t arch = 0x12345678;
    sc.archs = &arch;
    sc.narchs = 1;
    run_child(child_profile, &sc, &r);
    expect(&r, "load", "seccomp: add architecture 0x12345678: Invalid argument");

    sc.narchs = 0;
    sc.default_action = 0x12345678;
    run_child(child_profile, &sc, &r);
    expect(&r, "load", "seccomp: invalid default action 0x12345678");
    expect(&r, "Seccomp", "0");
}

/* Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the filter: the reason
 * the init loads it before dropping capabilities when noNewPrivileges is false. */
static void child_load_unprivileged(int fd, void *arg)
{
    (void)arg;
    struct zl_oci_caps c;
    zl_runtime__caps_default(&c);
    struct zl_err err = {0};
    put_err(fd, "apply", zl_runtime__caps_apply(&c, &err), &err);
    struct zl_oci_seccomp *sc = zl_runtime__seccomp_default();
    put_err(fd, "load", zl_runtime__seccomp_load(sc, &err), &err);
    zl_runtime__seccomp_free(sc);
    put_status(fd);
}

static void test_seccomp_needs_sys_admin(void **state)
{
    (void)state;
    need_root();
    struct report r;
    run_child(child_load_unprivileged, NULL, &r);
    expect(&r, "apply", "ok");
    expect(&r, "load",
           "load the seccomp filter (without no_new_privs this needs CAP_SYS_ADMIN): "
           "Permission denied");
    expect(&r, "Seccomp", "0");
}

/* ---- (6) capability names ---- */

static void test_cap_from_name(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int cap;
    } cases[] = {
        {"CAP_CHOWN", CAP_CHOWN},
        {"CAP_NET_ADMIN", 12},
        {"NET_ADMIN", 12},
        {"net_admin", 12},
        {"CAP_net_Admin", 12},
        {"cap_net_admin", 12},
        {"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
        {"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
        {"CAP_AUDIT_READ", CAP_AUDIT_READ},
        {"CAP_PERFMON", 38},
        {"bpf", 39},
        {"CAP_CHECKPOINT_RESTORE", 40},
        {"checkpoint_restore", 40},
        {"", -1},
        {"CAP_", -1},
        {"CAP_NOPE", -1},
        {"NET_ADMINX", -1},
        {"CAP_CAP_CHOWN", -1},
        {" CAP_CHOWN", -1},
        {"CAP_CHOWN ", -1},
        {"12", -1},
        {"ALL", -1},
    };
    for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++) {
        int got = zl_runtime__cap_from_name(cases[i].name);
        if (got != cases[i].cap)
            print_error("\"%s\": got %d, want %d\n", cases[i].name, got, cases[i].cap);
        assert_int_equal(got, cases[i].cap);
    }
    assert_int_equal(zl_runtime__cap_from_name(NULL), -1);

    /* Every capability libcap knows, by libcap's spelling ("cap_chown"): the same number. */
    for (int cap = 0; cap <= 40; cap++) {
        char *name = cap_to_name(cap);
        assert_non_null(name);
        if (strncmp(name, "cap_", 4) == 0)
            assert_int_equal(zl_runtime__cap_from_name(name), cap);
        /* and with the OCI spelling, without the prefix */
        char upper[64];
        snprintf(upper, sizeof(upper), "%s", name);
        for (char *p = upper; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        if (strncmp(upper, "CAP_", 4) == 0) {
            assert_int_equal(zl_runtime__cap_from_name(upper), cap);
            assert_int_equal(zl_runtime__cap_from_name(upper + 4), cap);
        }
        cap_free(name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_from_name),
        cmocka_unit_test(test_caps_default_set),
        cmocka_unit_test(test_caps_default_applied),
        cmocka_unit_test(test_caps_after_setuid),
        cmocka_unit_test(test_caps_ambient),
        cmocka_unit_test(test_seccomp_default_shape),
        cmocka_unit_test(test_seccomp_default),
        cmocka_unit_test(test_seccomp_profile),
        cmocka_unit_test(test_seccomp_unknown_names),
        cmocka_unit_test(test_seccomp_errors),
        cmocka_unit_test(test_seccomp_needs_sys_admin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
