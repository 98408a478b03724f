/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/internal.h: types shared by the runtime room's own files. */
#ifndef ZL_RUNTIME_INTERNAL_H
#define ZL_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include "runtime/runtime.h"

/* ---------------- the parsed OCI runtime config (oci_config.c) ---------------- */

struct zl_oci_idmap {
    uint32_t container_id, host_id, size;
};

struct zl_oci_ns {
    int type;   /* CLONE_NEWNS, CLONE_NEWPID, ... */
    char *path; /* join this namespace, or NULL to create one */
};

struct zl_oci_mount {
    char *destination;
    char *type;                /* may be NULL for bind mounts */
    char *source;              /* may be NULL */
    unsigned long flags;       /* MS_* from the options */
    unsigned long clear_flags; /* MS_* explicitly turned off (rw, suid, dev, exec, ...) */
    unsigned long propagation; /* MS_PRIVATE/MS_SLAVE/MS_SHARED/MS_UNBINDABLE (| MS_REC) */
    char *data;                /* the other options, comma-separated, for mount(2) */
    bool bind;                 /* bind or rbind */
};

struct zl_oci_rlimit {
    int resource; /* RLIMIT_* */
    uint64_t soft, hard;
};

struct zl_oci_device {
    char *path;
    char type; /* 'c', 'b', 'u' (= c) or 'p' */
    int64_t major, minor;
    uint32_t mode;
    bool has_mode;
    uint32_t uid, gid;
    bool has_uid, has_gid;
};

struct zl_oci_dev_rule {
    bool allow;
    char type;            /* 'a', 'c' or 'b' */
    int64_t major, minor; /* -1: any */
    char access[4];       /* subset of "rwm" */
};

struct zl_oci_resources {
    /* memory */
    bool has_memory_limit, has_memory_reservation, has_memory_swap, has_swappiness;
    int64_t memory_limit, memory_reservation, memory_swap; /* bytes; -1 unlimited */
    uint64_t swappiness;
    bool disable_oom_killer;
    /* cpu */
    bool has_cpu_shares, has_cpu_quota, has_cpu_period;
    uint64_t cpu_shares;
    int64_t cpu_quota; /* -1: max */
    uint64_t cpu_period;
    char *cpuset_cpus, *cpuset_mems;
    /* pids */
    bool has_pids_limit;
    int64_t pids_limit; /* -1 or 0: max */
    /* block io */
    bool has_blkio_weight;
    uint16_t blkio_weight;
    /* devices cgroup */
    struct zl_oci_dev_rule *devices;
    size_t ndevices;
    /* cgroup v2 unified key/values */
    char **unified; /* k, v, k, v ... */
    size_t nunified;
};

struct zl_oci_syscall_arg {
    unsigned index;
    uint64_t value, value_two;
    int op; /* enum scmp_compare */
};

struct zl_oci_syscall_rule {
    char **names;
    size_t nnames;
    uint32_t action; /* SCMP_ACT_* value */
    struct zl_oci_syscall_arg *args;
    size_t nargs;
};

struct zl_oci_seccomp {
    uint32_t default_action; /* SCMP_ACT_* value (with errno folded in) */
    uint32_t *archs;         /* SCMP_ARCH_* */
    size_t narchs;
    struct zl_oci_syscall_rule *rules;
    size_t nrules;
};

struct zl_oci_caps {
    uint64_t bounding, effective, permitted, inheritable, ambient; /* bit n = capability n */
};

struct zl_oci_hook {
    char *path;
    char **args; /* NULL-terminated; may be NULL */
    char **env;  /* NULL-terminated; may be NULL */
    int timeout; /* seconds, 0 = none */
};

struct zl_oci_hooks {
    struct zl_oci_hook *v;
    size_t n;
};

enum {
    ZL_HOOK_PRESTART = 0,
    ZL_HOOK_CREATE_RUNTIME,
    ZL_HOOK_CREATE_CONTAINER,
    ZL_HOOK_START_CONTAINER,
    ZL_HOOK_POSTSTART,
    ZL_HOOK_POSTSTOP,
    ZL_HOOK_COUNT,
};

struct zl_oci_config {
    char *oci_version;
    char *root_path; /* absolute (resolved against the bundle) */
    bool root_readonly;

    /* process */
    bool terminal;
    uint32_t uid, gid;
    uint32_t *additional_gids;
    size_t nadditional_gids;
    bool has_umask;
    uint32_t umask;
    char **args; /* NULL-terminated */
    char **env;  /* NULL-terminated */
    char *cwd;
    struct zl_oci_caps caps;
    bool has_caps;
    struct zl_oci_rlimit *rlimits;
    size_t nrlimits;
    bool no_new_privileges;
    bool has_oom_score_adj;
    int oom_score_adj;

    char *hostname, *domainname;
    struct zl_oci_mount *mounts;
    size_t nmounts;
    struct zl_oci_hooks hooks[ZL_HOOK_COUNT];

    /* linux */
    struct zl_oci_ns *namespaces;
    size_t nnamespaces;
    struct zl_oci_idmap *uid_mappings, *gid_mappings;
    size_t nuid_mappings, ngid_mappings;
    struct zl_oci_device *devices;
    size_t ndevices;
    char *cgroups_path;
    struct zl_oci_resources resources;
    bool has_resources;
    char **sysctl; /* k, v, k, v ... */
    size_t nsysctl;
    struct zl_oci_seccomp *seccomp;
    char **masked_paths, **readonly_paths;
    size_t nmasked_paths, nreadonly_paths;
    unsigned long rootfs_propagation; /* 0: rslave (the default) */
    char *annotations_json;           /* the "annotations" object as JSON text, or NULL */
};

/* Parse bundle/config.json. Errors name the JSON path: "process.args[0]: must be a string". */
int zl_runtime__config_load(const char *bundle, struct zl_oci_config **out, struct zl_err *err);
int zl_runtime__config_parse(const char *text, size_t len, const char *bundle,
                             struct zl_oci_config **out, struct zl_err *err);
void zl_runtime__config_free(struct zl_oci_config *c);
int zl_runtime__config_set_process(struct zl_oci_config *c, const char *text, size_t len,
                                   struct zl_err *err);
/* Capability name ("CAP_NET_ADMIN" or "NET_ADMIN") -> number, or -1. */
int zl_runtime__cap_from_name(const char *name);

/* ---------------- cgroups (cgroup.c, cgroup_v1.c, cgroup_v2.c) ---------------- */

struct zl_cgroup;

struct zl_cgroup_stats {
    uint64_t cpu_usage_ns;
    uint64_t memory_usage, memory_limit; /* memory_limit: UINT64_MAX when unlimited */
    uint64_t pids_current, pids_limit;   /* pids_limit: UINT64_MAX when unlimited */
    uint64_t io_read_bytes, io_write_bytes;
    uint64_t oom_kills;
};

/* Create (or reuse) the cgroup `path` (an OCI cgroupsPath; relative paths are placed under the
 * caller's own cgroup), apply `res` (may be NULL) and move `pid` into it. Works on cgroup v2,
 * v1 and hybrid hosts (v1 controllers used, the empty unified hierarchy left alone). */
int zl_runtime__cgroup_create(const char *path, const struct zl_oci_resources *res, pid_t pid,
                              struct zl_cgroup **out, struct zl_err *err);
/* Open an existing cgroup created by zl_runtime__cgroup_create. */
int zl_runtime__cgroup_open(const char *path, struct zl_cgroup **out, struct zl_err *err);
int zl_runtime__cgroup_enter(struct zl_cgroup *cg, pid_t pid, struct zl_err *err);
int zl_runtime__cgroup_stats(struct zl_cgroup *cg, struct zl_cgroup_stats *st, struct zl_err *err);
/* Pids in the cgroup (caller frees *pids). */
int zl_runtime__cgroup_pids(struct zl_cgroup *cg, pid_t **pids, size_t *n, struct zl_err *err);
/* Signal every process in it. */
int zl_runtime__cgroup_kill(struct zl_cgroup *cg, int sig, struct zl_err *err);
/* Remove the cgroup directories (after the processes are gone; waits briefly for them). */
int zl_runtime__cgroup_destroy(struct zl_cgroup *cg, struct zl_err *err);
void zl_runtime__cgroup_free(struct zl_cgroup *cg);

/* ---------------- capabilities and seccomp (caps.c, seccomp.c) ---------------- */

/* In the container's init, after setuid/setgid: drop the bounding set, set the
 * permitted/effective/inheritable sets and the ambient set. */
int zl_runtime__caps_apply(const struct zl_oci_caps *caps, struct zl_err *err);
/* The capabilities containers get by default (the usual 14). */
void zl_runtime__caps_default(struct zl_oci_caps *caps);
/* Load the filter (last step before exec). */
int zl_runtime__seccomp_load(const struct zl_oci_seccomp *sc, struct zl_err *err);
/* zlayer's default profile for its own containers: allow everything, EPERM the dangerous
 * syscalls (modules, kexec, mount family, bpf, perf, keyctl, ptrace, clock setting, reboot,
 * swap, namespaces creation by unprivileged flags, ...). Caller frees with
 * zl_runtime__seccomp_free. */
struct zl_oci_seccomp *zl_runtime__seccomp_default(void);
void zl_runtime__seccomp_free(struct zl_oci_seccomp *sc);

/* ---------------- container state (state.c) ---------------- */

struct zl_cstate {
    char *id;
    char *bundle;
    char *rootfs;
    pid_t pid;                     /* the container's init, as seen from the host */
    unsigned long long start_time; /* /proc/PID/stat field 22: guards against pid reuse */
    char *cgroup_path;
    char *created; /* RFC 3339 */
    char *annotations_json;
    pid_t monitor_pid; /* 0 when no monitor */
    bool started;      /* `start` has run */
    bool has_exit;     /* the monitor recorded how the process ended */
    int exit_status;   /* wait(2) encoding */
    bool oom_killed;
};

/* <root>/<id>; validates the id. Caller frees. */
char *zl_runtime__state_dir(const char *root, const char *id, struct zl_err *err);
int zl_runtime__state_write(const char *dir, const struct zl_cstate *s, struct zl_err *err);
int zl_runtime__state_read(const char *root, const char *id, struct zl_cstate *s,
                           struct zl_err *err);
void zl_runtime__state_fini(struct zl_cstate *s);
enum zl_runtime_status zl_runtime__state_status(const char *dir, const struct zl_cstate *s);
unsigned long long zl_runtime__pid_start_time(pid_t pid);
/* The OCI state document (caller frees). */
char *zl_runtime__state_oci_json(const struct zl_cstate *s, enum zl_runtime_status st);

/* ---------------- the container's side (init.c, rootfs.c) ---------------- */

struct zl_init_args {
    const struct zl_oci_config *cfg;
    int sync_fd;    /* SOCK_SEQPACKET to the runtime */
    int fifo_fd;    /* O_PATH fd of exec.fifo, or -1 for run (no wait) */
    int console_fd; /* connected console socket, or -1 */
    int stdio[3];   /* dup'ed onto 0, 1, 2 when >= 0 */
    bool no_pivot;
    const char *state_json; /* received with "go": for createContainer/startContainer hooks */
};

/* Shared by the init and exec: rlimits, no_new_privs, seccomp (when it must come before the
 * user switch), user and groups, capabilities, umask, cwd. */
int zl_runtime__process_setup(const struct zl_oci_config *c, struct zl_err *err);
/* args[0] looked up in the process's PATH (caller frees). */
char *zl_runtime__find_program(const struct zl_oci_config *c, struct zl_err *err);
/* The size for a new pty: our stdin's terminal's, else ZLAYER_TTY_SIZE=ROWSxCOLS (set by the
 * daemon for a remote client's terminal); false when neither tells. */
bool zl_runtime__tty_size(struct winsize *ws);
int zl_runtime__console_setup(int console_fd, bool bind_console, struct zl_err *err);
/* Connect to an OCI console socket (AF_UNIX stream). Returns the fd or -1. */
int zl_runtime__console_connect(const char *path, struct zl_err *err);

/* The function run in the cloned child; never returns on success (execs). */
int zl_runtime__init(void *arg);
/* Set up the root filesystem in the new mount namespace and switch to it. */
int zl_runtime__rootfs_setup(const struct zl_oci_config *c, bool no_pivot, const char *state_json,
                             struct zl_err *err);
/* After the switch: masked paths, read-only paths, read-only root. */
int zl_runtime__rootfs_finish(const struct zl_oci_config *c, struct zl_err *err);

/* ---------------- sync messages between runtime and init ---------------- */

#define ZL_SYNC_MAX 65536 /* largest message: "go" carries the state JSON */

enum {
    ZL_SYNC_GO = 1, /* runtime -> init: namespaces and cgroups are ready */
    ZL_SYNC_READY,  /* init -> runtime: set up, waiting on exec.fifo (or about to exec) */
    ZL_SYNC_ERROR,  /* init -> runtime: text follows */
};

/* ---------------- creation (container.c), shared with monitor.c ---------------- */

struct creation {
    const struct zl_runtime_create_opts *o;
    struct zl_oci_config *cfg;
    char *dir;
    struct zl_cstate st;
    struct zl_cgroup *cg;
    pid_t pid;
    int sync;    /* our end of the sync socket */
    int fifo;    /* O_PATH of exec.fifo */
    int console; /* connected console socket */
};

/* Ask the spawner for a monitor of o reporting on report_w (spawner.c): 0, -ENOSYS when
 * there is no spawner, or another -errno. */
int zl_runtime__spawn_monitor(const struct zl_runtime_create_opts *o, int report_w);

/* Create the container with stdio[] (-1: inherit). wait_fifo: the init waits for `start`;
 * else it execs as soon as it is ready. On failure everything is undone. */
int zl_runtime__create(struct creation *k, const int stdio[3], bool wait_fifo, struct zl_err *err);
/* After the container ended in a foreground run: cgroup, poststop hooks, state folder. */
void zl_runtime__finish(struct creation *k);
void zl_runtime__creation_fini(struct creation *k);

/* Hooks (hooks.c): run each hook of `kind` with the state JSON on stdin. */
int zl_runtime__hooks_run(const struct zl_oci_hooks *h, const char *state_json, const char *kind,
                          struct zl_err *err);

#endif
