/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/state.c: the per-container state folder: state.json written atomically, status. */
#include "runtime/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *zl_runtime_default_root(void)
{
    const char *rd = getenv("ZLAYER_RUNTIME_DIR");
    return zl_xasprintf("%s/containers", rd && *rd ? rd : "/run/zlayer");
}

const char *zl_runtime_status_name(enum zl_runtime_status s)
{
    static const char *const names[] = {"creating", "created", "running", "stopped"};
    return names[s];
}

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 128 || !isalnum((unsigned char)id[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("_.-", id[i]))
            return false;
    return true;
}

char *zl_runtime__state_dir(const char *root, const char *id, struct zl_err *err)
{
    if (!valid_id(id)) {
        zl_err_set(err, ZL_EINVAL,
                   "invalid container id '%s' (letters, digits, '_', '.', '-'; at most 128; "
                   "starting with a letter or digit)",
                   id);
        return NULL;
    }
    return zl_xasprintf("%s/%s", root, id);
}

unsigned long long zl_runtime__pid_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* the command may hold spaces and parentheses: fields restart after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    if (*p == 'Z' || *p == 'X')
        return 0; /* a zombie has ended */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

static json_t *to_json(const struct zl_cstate *s)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:i, s:I, s:s, s:s, s:i, s:b, s:b, s:i, s:b}", "id", s->id,
                  "bundle", s->bundle ? s->bundle : "", "rootfs", s->rootfs ? s->rootfs : "", "pid",
                  (int)s->pid, "start_time", (json_int_t)s->start_time, "cgroup",
                  s->cgroup_path ? s->cgroup_path : "", "created", s->created ? s->created : "",
                  "monitor_pid", (int)s->monitor_pid, "started", s->started, "has_exit",
                  s->has_exit, "exit_status", s->exit_status, "oom_killed", s->oom_killed);
    if (s->annotations_json) {
        json_t *a = json_loads(s->annotations_json, 0, NULL);
        if (a)
            json_object_set_new(j, "annotations", a);
    }
    return j;
}

int zl_runtime__state_write(const char *dir, const struct zl_cstate *s, struct zl_err *err)
{
    char *tmp = zl_xasprintf("%s/.state.json.%d", dir, (int)getpid());
    char *dst = zl_xasprintf("%s/state.json", dir);
    json_t *j = to_json(s);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || json_dumpfd(j, fd, JSON_COMPACT) < 0 || fsync(fd) < 0) {
        rc = zl_err_sys(err, errno, "write %s", tmp);
    } else if (rename(tmp, dst) < 0) {
        rc = zl_err_sys(err, errno, "rename %s", dst);
    }
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    json_decref(j);
    free(tmp);
    free(dst);
    return rc;
}

static char *dup_str(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s && *s ? zl_xstrdup(s) : NULL;
}

int zl_runtime__state_read(const char *root, const char *id, struct zl_cstate *s,
                           struct zl_err *err)
{
    memset(s, 0, sizeof(*s));
    char *dir = zl_runtime__state_dir(root, id, err);
    if (!dir)
        return -ZL_EINVAL;
    char *path = zl_xasprintf("%s/state.json", dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    free(path);
    free(dir);
    if (!j) {
        if (errno == ENOENT || strstr(jerr.text, "No such file"))
            return zl_err_set(err, ZL_ENOTFOUND, "container %s does not exist", id);
        return zl_err_set(err, ZL_EINVAL, "container %s: unreadable state: %s", id, jerr.text);
    }
    s->id = zl_xstrdup(id);
    s->bundle = dup_str(j, "bundle");
    s->rootfs = dup_str(j, "rootfs");
    s->cgroup_path = dup_str(j, "cgroup");
    s->created = dup_str(j, "created");
    s->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
    s->start_time = (unsigned long long)json_integer_value(json_object_get(j, "start_time"));
    s->monitor_pid = (pid_t)json_integer_value(json_object_get(j, "monitor_pid"));
    s->started = json_is_true(json_object_get(j, "started"));
    s->has_exit = json_is_true(json_object_get(j, "has_exit"));
    s->exit_status = (int)json_integer_value(json_object_get(j, "exit_status"));
    s->oom_killed = json_is_true(json_object_get(j, "oom_killed"));
    json_t *a = json_object_get(j, "annotations");
    if (a)
        s->annotations_json = json_dumps(a, JSON_COMPACT);
    json_decref(j);
    return 0;
}

void zl_runtime__state_fini(struct zl_cstate *s)
{
    free(s->id);
    free(s->bundle);
    free(s->rootfs);
    free(s->cgroup_path);
    free(s->created);
    free(s->annotations_json);
    memset(s, 0, sizeof(*s));
}

enum zl_runtime_status zl_runtime__state_status(const char *dir, const struct zl_cstate *s)
{
    if (s->pid <= 0)
        return ZL_STATUS_CREATING;
    unsigned long long st = zl_runtime__pid_start_time(s->pid);
    if (st == 0 || st != s->start_time)
        return ZL_STATUS_STOPPED;
    char *fifo = zl_xasprintf("%s/exec.fifo", dir);
    bool waiting = access(fifo, F_OK) == 0;
    free(fifo);
    return waiting ? ZL_STATUS_CREATED : ZL_STATUS_RUNNING;
}

char *zl_runtime__state_oci_json(const struct zl_cstate *s, enum zl_runtime_status st)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.0.2", "id", s->id, "status",
                  zl_runtime_status_name(st), "pid", st == ZL_STATUS_STOPPED ? 0 : (int)s->pid,
                  "bundle", s->bundle ? s->bundle : "");
    if (s->created)
        json_object_set_new(j, "created", json_string(s->created));
    json_t *a = s->annotations_json ? json_loads(s->annotations_json, 0, NULL) : NULL;
    json_object_set_new(j, "annotations", a ? a : json_object());
    char *out = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    return out;
}

int zl_runtime_signal_parse(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {
        {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
        {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
        {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
        {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
        {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
        {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
        {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
        {"PWR", SIGPWR},       {"SYS", SIGSYS},
    };
    if (isdigit((unsigned char)s[0])) {
        char *end;
        long n = strtol(s, &end, 10);
        return *end || n < 1 || n > 64 ? -1 : (int)n;
    }
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < ZL_ARRAY_LEN(sigs); i++)
        if (!strcasecmp(s, sigs[i].name))
            return sigs[i].sig;
    return -1;
}
