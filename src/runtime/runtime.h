/* SPDX-License-Identifier: Apache-2.0 */
/* runtime: OCI bundles run directly on the kernel; the per-container monitor; the OCI CLI. */
#ifndef ZL_RUNTIME_H
#define ZL_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/util.h"

/* Where container state folders live: --root, else $ZLAYER_RUNTIME_DIR/containers, else
 * /run/zlayer/containers. Caller frees. */
char *zl_runtime_default_root(void);

struct zl_runtime_create_opts {
    const char *root;           /* state folder root */
    const char *id;             /* container id: [A-Za-z0-9][A-Za-z0-9_.-]{0,127} */
    const char *bundle;         /* folder holding config.json */
    const char *pid_file;       /* write the init's pid here, or NULL */
    const char *console_socket; /* AF_UNIX socket to receive the pty master, or NULL */
    const char *log_file;       /* run -d: container output as JSON lines here, or NULL */
    bool no_pivot;              /* use MS_MOVE + chroot instead of pivot_root (not on a ramfs) */
    bool hold;                  /* run -d: leave it created (waiting for `start`) */
};

/* OCI `create`: the container is set up and its process waits for `start`. */
int zl_runtime_create(const struct zl_runtime_create_opts *o, struct zl_err *err);
/* OCI `start`: let the created container's process exec. */
int zl_runtime_start(const char *root, const char *id, struct zl_err *err);
/* `run`: create + start. Foreground: waits, forwards signals, deletes the container, and
 * stores the exit status in *status (wait(2) encoding). detach: a monitor process stays the
 * container's parent and writes its output to o->log_file. */
int zl_runtime_run(const struct zl_runtime_create_opts *o, bool detach, int *status,
                   struct zl_err *err);

/* The body of `zlayer runtime _monitor` (run -d execs it): creates the container, writes one
 * NUL byte (or an error message) to the report fd and closes it, then watches the container
 * and logs its output until it ends. Does not return. */
_Noreturn void zl_runtime_monitor_main(const struct zl_runtime_create_opts *o, int report);
/* The program run -d execs as the monitor (`runtime _monitor`) when a threaded caller has no
 * spawner; NULL: /proc/self/exe. */
extern const char *zl_runtime_self_exe;
/* Fork the monitor spawner (spawner.c): call while the process has one thread (the daemon,
 * early). From then on run -d asks it for monitors, from any thread. */
int zl_runtime_spawner_start(struct zl_err *err);

/* A container's output from its monitor's JSON-line log: the whole lines of text[0..len)
 * appended to out as text, each prefixed with "PREFIX | " when prefix is not NULL, those
 * written before since (RFC 3339 UTC, e.g. "2026-01-02T03:04:05Z"; NULL: all) left out.
 * Returns how many bytes were used (a partial last line is not). */
size_t zl_runtime_log_format(const char *text, size_t len, const char *prefix, const char *since,
                             struct zl_buf *out);
/* The same for the last `lines` lines of log_file; "" when it has none. *end (may be NULL)
 * receives the file offset after the last whole line. Caller frees. */
char *zl_runtime_log_tail(const char *log_file, long lines, const char *prefix, const char *since,
                          size_t *end);

enum zl_runtime_status {
    ZL_STATUS_CREATING = 0,
    ZL_STATUS_CREATED,
    ZL_STATUS_RUNNING,
    ZL_STATUS_STOPPED,
};
const char *zl_runtime_status_name(enum zl_runtime_status s);

/* OCI state as JSON text (caller frees). */
int zl_runtime_state_json(const char *root, const char *id, char **json, struct zl_err *err);
/* Signal the container's process, or with all every process in its cgroup. */
int zl_runtime_kill(const char *root, const char *id, int sig, bool all, struct zl_err *err);
/* Remove a stopped container (force: kill it first). */
int zl_runtime_delete(const char *root, const char *id, bool force, struct zl_err *err);
/* JSON array of {id, pid, status, bundle, created} (caller frees). */
int zl_runtime_list_json(const char *root, char **json, struct zl_err *err);
/* Resource use from the container's cgroup as JSON: cpu_usage_ns, memory_usage,
 * memory_limit, pids_current, pids_limit, io_read_bytes, io_write_bytes, oom_kills (caller
 * frees). */
int zl_runtime_stats_json(const char *root, const char *id, char **json, struct zl_err *err);
/* Pids of the container's processes (caller frees). */
int zl_runtime_ps(const char *root, const char *id, pid_t **pids, size_t *n, struct zl_err *err);

struct zl_runtime_exec_opts {
    const char *root, *id;
    const char *process_file;   /* an OCI process object (JSON), or NULL */
    char **args;                /* the command when there is no process file (NULL-terminated) */
    char **env;                 /* extra KEY=VALUE (NULL-terminated), or NULL */
    const char *cwd;            /* or NULL: the container's */
    const char *user;           /* "UID[:GID]", or NULL: the container's */
    bool tty;                   /* a pty: to the console socket if given, else relayed here */
    bool detach;                /* do not wait */
    const char *pid_file;       /* or NULL */
    const char *console_socket; /* or NULL */
};

/* Run a process in a running container: its namespaces and cgroup, the capabilities, seccomp
 * filter and user of its config unless overridden. Not detached: waits and stores the exit
 * status (wait(2) encoding) in *status. */
int zl_runtime_exec(const struct zl_runtime_exec_opts *o, int *status, struct zl_err *err);

/* ---------------- backends ----------------
 * The rest of zlayer runs containers through a backend: the native runtime above, or an
 * external OCI runtime binary (crun, runc) driven on the same bundle and state root. */

struct zl_runtime_backend;

/* name: "native" (the default, also for NULL or ""), "crun", "runc", or a path to an OCI
 * runtime binary. root: the state folder root. Caller frees with zl_runtime_backend_free. */
struct zl_runtime_backend *zl_runtime_backend_new(const char *name, const char *root,
                                                  struct zl_err *err);
void zl_runtime_backend_free(struct zl_runtime_backend *b);
const char *zl_runtime_backend_name(const struct zl_runtime_backend *b);
int zl_runtime_backend_create(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o,
                              struct zl_err *err);
int zl_runtime_backend_start(struct zl_runtime_backend *b, const char *id, struct zl_err *err);
int zl_runtime_backend_run(struct zl_runtime_backend *b, const struct zl_runtime_create_opts *o,
                           bool detach, int *status, struct zl_err *err);
int zl_runtime_backend_state(struct zl_runtime_backend *b, const char *id, char **json,
                             struct zl_err *err);
int zl_runtime_backend_kill(struct zl_runtime_backend *b, const char *id, int sig, bool all,
                            struct zl_err *err);
int zl_runtime_backend_delete(struct zl_runtime_backend *b, const char *id, bool force,
                              struct zl_err *err);
int zl_runtime_backend_exec(struct zl_runtime_backend *b, const struct zl_runtime_exec_opts *o,
                            int *status, struct zl_err *err);

/* Signal name ("TERM", "SIGKILL") or number -> number, or -1. */
int zl_runtime_signal_parse(const char *s);

#endif
