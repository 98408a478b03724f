/* SPDX-License-Identifier: Apache-2.0 */
/* agent/init.c: a replica's init steps (SPEC-v1 5.15), run in its created container before
 * its main process starts: `init.run` through the runtime's exec (the image, namespaces,
 * cgroup and security settings of the replica), `init.wait_tcp` and `init.wait_http` from
 * the replica's network namespace. One thread per replica in init, so that the reconciler
 * never waits for a step; errors.on_init_failure decides about further attempts. */
#include "agent/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS   500
#define MAX_STEPS 64

struct step {
    char *id, *uses, *on_failure;
    char *host, *url, *command; /* parameters as text */
    unsigned port, expect;      /* expect 0: any 2xx */
    int64_t with_timeout_ms;    /* `with.timeout`, whole seconds in the spec */
    int64_t timeout_ms;         /* the step's own limit */
    unsigned retry;
};

struct job {
    struct zl_agent *a;
    char *id, *deployment, *service, *log_file;
    int pid;
    struct step steps[MAX_STEPS];
    size_t nsteps;
    char policy[16]; /* errors.on_init_failure.action */
};

/* ---------------- the table of replicas in init ---------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gone = PTHREAD_COND_INITIALIZER;
static unsigned threads; /* init threads alive */

/* The newest entry of id (an older one may still be there, cancelled, until its thread
 * notices). */
static struct zl_agent_init *entry_of(struct zl_agent *a, const char *id)
{
    for (size_t i = a->ninits; i-- > 0;)
        if (!strcmp(a->inits[i].id, id))
            return &a->inits[i];
    return NULL;
}

/* The entry of one thread's job. */
static struct zl_agent_init *entry_of_job(struct zl_agent *a, const void *job)
{
    for (size_t i = 0; i < a->ninits; i++)
        if (a->inits[i].owner == job)
            return &a->inits[i];
    return NULL;
}

static void entry_drop(struct zl_agent *a, struct zl_agent_init *e)
{
    *e = a->inits[--a->ninits];
}

enum zl_agent_init_state zl_agent__init_state(struct zl_agent *a, const char *id, char *why,
                                              size_t cap)
{
    pthread_mutex_lock(&mu);
    struct zl_agent_init *e = entry_of(a, id);
    enum zl_agent_init_state st = e ? e->state : ZL_INIT_NONE;
    if (e && why)
        snprintf(why, cap, "%s", e->why);
    pthread_mutex_unlock(&mu);
    return st;
}

void zl_agent__init_forget(struct zl_agent *a, const char *id)
{
    pthread_mutex_lock(&mu);
    for (size_t i = a->ninits; i-- > 0;) {
        struct zl_agent_init *e = &a->inits[i];
        if (strcmp(e->id, id) != 0)
            continue;
        if (e->state != ZL_INIT_RUNNING)
            entry_drop(a, e);
        else
            e->cancel = true; /* its thread ends at its next step or poll, and drops it */
    }
    pthread_mutex_unlock(&mu);
}

static bool cancelled(struct job *j)
{
    pthread_mutex_lock(&mu);
    struct zl_agent_init *e = entry_of_job(j->a, j);
    bool c = !e || e->cancel;
    pthread_mutex_unlock(&mu);
    return c;
}

/* The last the thread does with its agent: who waits for it may free the agent after this
 * (zl_agent__init_stop). Then a pass is asked for. */
static void finish(struct job *j, enum zl_agent_init_state st, const char *why)
{
    pthread_mutex_lock(&mu);
    struct zl_agent_init *e = entry_of_job(j->a, j);
    if (e && e->cancel)
        entry_drop(j->a, e);
    else if (e) {
        e->owner = NULL; /* done: the entry outlives the job */
        e->state = st;
        snprintf(e->why, sizeof(e->why), "%s", why);
    }
    void (*kick)(void *arg) = j->a->kick;
    void *kick_arg = j->a->kick_arg;
    j->a = NULL;
    pthread_mutex_unlock(&mu);
    if (kick)
        kick(kick_arg);
}

/* ---------------- output ---------------- */

/* A line in the replica's output log, as its monitor writes them (stream "init"). */
static void log_line(struct job *j, const char *fmt, ...) ZL_PRINTF(2, 3);
static void log_line(struct job *j, const char *fmt, ...)
{
    char msg[2048], when[48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    zl_time_rfc3339(when, sizeof(when), true);
    size_t n = strlen(msg);
    if (!n || msg[n - 1] != '\n')
        snprintf(msg + n, sizeof(msg) - n, "\n");
    json_t *o = json_pack("{s:s, s:s, s:s}", "time", when, "stream", "init", "log", msg);
    char *text = json_dumps(o, JSON_COMPACT);
    int fd = open(j->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd >= 0 && text) {
        size_t len = strlen(text);
        text[len] = '\n'; /* one write: lines from the monitor never interleave with it */
        if (write(fd, text, len + 1) < 0) {
            /* a full disk loses the line, not the step */
        }
        text[len] = '\0';
    }
    if (fd >= 0)
        close(fd);
    free(text);
    json_decref(o);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Sleep ms, less when the job is cancelled meanwhile. */
static void pause_ms(struct job *j, int64_t ms)
{
    int64_t end = zl_mono_ms() + ms, left;
    while ((left = end - zl_mono_ms()) > 0 && !cancelled(j))
        sleep_ms(left < POLL_MS ? left : POLL_MS);
}

/* ---------------- actions ---------------- */

/* Connect to host:port within ms; 0 on success. */
static int try_connect(const char *host, unsigned port, int64_t ms, char *why, size_t cap)
{
    char ps[16];
    snprintf(ps, sizeof(ps), "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g != 0) {
        snprintf(why, cap, "resolve %s: %s", host, gai_strerror(g));
        return -1;
    }
    int rc = -1;
    for (struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            rc = fd;
        else if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int e = 0;
            socklen_t l = sizeof(e);
            if (poll(&p, 1, (int)ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) == 0 &&
                e == 0)
                rc = fd;
            else
                snprintf(why, cap, "connect %s:%u: %s", host, port, e ? strerror(e) : "timed out");
        } else
            snprintf(why, cap, "connect %s:%u: %s", host, port, strerror(errno));
        if (rc < 0)
            close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

/* One GET; the status, or -1 (why says what happened). */
static int http_get(const char *url, int64_t ms, char *why, size_t cap)
{
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(why, cap, "%s: only http:// URLs", url);
        return -1;
    }
    const char *h = url + 7;
    size_t hl = strcspn(h, ":/");
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)(hl < 255 ? hl : 255), h);
    unsigned port = 80;
    const char *p = h + hl;
    if (*p == ':')
        port = (unsigned)strtoul(p + 1, (char **)&p, 10);
    const char *path = *p == '/' ? p : "/";
    int fd = try_connect(host, port, ms, why, cap);
    if (fd < 0)
        return -1;
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: zlayer-init\r\n"
                     "Connection: close\r\n\r\n",
                     path, host);
    int status = -1;
    char buf[512];
    size_t len = 0;
    if (n < 0 || (size_t)n >= sizeof(req)) {
        close(fd);
        snprintf(why, cap, "GET %.200s...: the URL is too long", url);
        return -1;
    }
    if (write(fd, req, (size_t)n) == n) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        while (len < sizeof(buf) - 1 && poll(&pf, 1, (int)ms) == 1) {
            ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
            if (r <= 0)
                break;
            len += (size_t)r;
            buf[len] = '\0';
            if (strstr(buf, "\r\n"))
                break;
        }
        buf[len] = '\0';
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
            status = -1;
            snprintf(why, cap, "GET %s: no HTTP answer", url);
        }
    } else
        snprintf(why, cap, "GET %s: %s", url, strerror(errno));
    close(fd);
    return status;
}

/* `zlayer runtime exec ID -- sh -c CMD` in the created container, within ms. */
static int run_command(struct job *j, const char *cmd, int64_t ms, char *why, size_t cap)
{
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0) {
        snprintf(why, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    char *root = zl_xasprintf("--root=%s", j->a->rt_root);
    char *argv[] = {"zlayer", "runtime", root, "exec", j->id, "--", "sh", "-c", (char *)cmd, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    free(root);
    close(out[1]);
    if (pid < 0) {
        close(out[0]);
        snprintf(why, cap, "fork: %s", strerror(errno));
        return -1;
    }
    /* its output goes to the replica's log, line by line; the tail is kept for errors */
    char line[1024], tail[512] = "";
    size_t ll = 0;
    int64_t end = zl_mono_ms() + ms;
    bool timed_out = false;
    for (;;) {
        int64_t left = end - zl_mono_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        if (cancelled(j)) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        if (poll(&p, 1, (int)(left < 1000 ? left : 1000)) <= 0)
            continue;
        char c[512];
        ssize_t r = read(out[0], c, sizeof(c));
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            line[ll++] = c[i];
            if (c[i] == '\n' || ll == sizeof(line) - 1) {
                line[ll] = '\0';
                log_line(j, "%s", line);
                snprintf(tail, sizeof(tail), "%.*s", (int)strcspn(line, "\n"), line);
                ll = 0;
            }
        }
    }
    if (ll) {
        line[ll] = '\0';
        log_line(j, "%s", line);
        snprintf(tail, sizeof(tail), "%.*s", (int)(sizeof(tail) - 1), line);
    }
    close(out[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        snprintf(why, cap, "`%s` did not finish within %lld s", cmd, (long long)(ms / 1000));
        return -1;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    snprintf(why, cap, "`%s` exited with code %d%s%s", cmd,
             WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), tail[0] ? ": " : "", tail);
    return -1;
}

/* One attempt of a step within ms: 0 done, -1 failed (why). Waits poll until the limit. */
static int run_action(struct job *j, const struct step *s, int64_t ms, char *why, size_t cap)
{
    int64_t end = zl_mono_ms() + ms;
    if (!strcmp(s->uses, "init.run"))
        return run_command(j, s->command, ms, why, cap);
    if (!strcmp(s->uses, "init.wait_tcp") || !strcmp(s->uses, "init.wait_http")) {
        bool tcp = !strcmp(s->uses, "init.wait_tcp");
        for (;;) {
            int64_t left = end - zl_mono_ms();
            int64_t each = left < 2000 ? left : 2000;
            if (tcp) {
                int fd = try_connect(s->host, s->port, each > 0 ? each : 1, why, cap);
                if (fd >= 0) {
                    close(fd);
                    return 0;
                }
            } else {
                int st = http_get(s->url, each > 0 ? each : 1, why, cap);
                if (st >= 0 && (s->expect ? (unsigned)st == s->expect : st / 100 == 2))
                    return 0;
                if (st >= 0)
                    snprintf(why, cap, "GET %s: status %d", s->url, st);
            }
            if (zl_mono_ms() + POLL_MS >= end || cancelled(j)) {
                size_t n = strlen(why);
                snprintf(why + n, cap - n, " (waited %lld s)", (long long)(ms / 1000));
                return -1;
            }
            sleep_ms(POLL_MS);
        }
    }
    if (!strcmp(s->uses, "init.s3_pull") || !strcmp(s->uses, "init.s3_push")) {
        snprintf(why, cap, "%s is not available in this version of zlayer (S3 support comes later)",
                 s->uses);
        return -1;
    }
    snprintf(why, cap,
             "unknown init action '%s' (init.run, init.wait_tcp, init.wait_http, init.s3_pull, "
             "init.s3_push)",
             s->uses);
    return -1;
}

/* Every step in order: 0, or -1 with why naming the step. */
static int run_steps(struct job *j, char *why, size_t cap)
{
    for (size_t i = 0; i < j->nsteps; i++) {
        const struct step *s = &j->steps[i];
        int64_t limit = s->timeout_ms;
        if (s->with_timeout_ms && s->with_timeout_ms < limit)
            limit = s->with_timeout_ms;
        char err[1024] = "";
        int rc = -1;
        for (unsigned t = 0; t <= s->retry && rc < 0 && !cancelled(j); t++) {
            log_line(j, "init step %s (%s)%s", s->id, s->uses, t ? ": once more" : "");
            rc = run_action(j, s, limit, err, sizeof(err));
        }
        if (cancelled(j)) {
            snprintf(why, cap, "cancelled");
            return -1;
        }
        if (rc == 0)
            continue;
        log_line(j, "init step %s failed: %s", s->id, err);
        if (!strcmp(s->on_failure, "warn"))
            zl_log("warn", "agent", "%s: init step %s failed, going on (on_failure: warn): %s",
                   j->id, s->id, err);
        if (!strcmp(s->on_failure, "fail")) {
            snprintf(why, cap, "init step %s (%s) failed: %s", s->id, s->uses, err);
            return -1;
        }
    }
    return 0;
}

static void job_free(struct job *j)
{
    for (size_t i = 0; i < j->nsteps; i++) {
        struct step *s = &j->steps[i];
        free(s->id);
        free(s->uses);
        free(s->on_failure);
        free(s->host);
        free(s->url);
        free(s->command);
    }
    free(j->id);
    free(j->deployment);
    free(j->service);
    free(j->log_file);
    free(j);
}

static void event(struct job *j, const char *kind, const char *why)
{
    if (j->a->events)
        zl_api_events_publish(j->a->events,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?}", "resource", "container",
                                        "kind", kind, "id", j->id, "deployment", j->deployment,
                                        "service", j->service, "reason", why));
}

static void *job_main(void *arg)
{
    struct job *j = arg;
    char why[1200] = "";
    /* this thread lives in the replica's network: wait_tcp to localhost is the replica's */
    char ns[64];
    snprintf(ns, sizeof(ns), "/proc/%d/ns/net", j->pid);
    int fd = open(ns, O_RDONLY | O_CLOEXEC);
    bool in_ns = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0)
        close(fd);
    int rc = in_ns ? 0 : -1;
    if (!in_ns)
        snprintf(why, sizeof(why), "enter the replica's network: %s", strerror(errno));
    /* on_init_failure: fail gives up at once; restart and backoff try 3 more times */
    bool more = strcmp(j->policy, "fail") != 0;
    for (unsigned attempt = 0; in_ns && attempt < (more ? 4u : 1u) && !cancelled(j); attempt++) {
        if (attempt)
            pause_ms(j,
                     !strcmp(j->policy, "backoff") ? (int64_t)zl_agent_backoff_ms(attempt) : 100);
        rc = run_steps(j, why, sizeof(why));
        if (rc == 0)
            break;
        zl_log("warn", "agent", "%s: %s%s", j->id, why,
               more && attempt < 3 ? " (trying again: on_init_failure)" : "");
    }
    struct zl_err err;
    if (rc == 0 && !cancelled(j) && zl_runtime_backend_start(j->a->be, j->id, &err) < 0) {
        rc = -1;
        snprintf(why, sizeof(why), "start after init: %s", err.msg);
    }
    if (rc == 0) {
        log_line(j, "init done");
        event(j, "start", NULL);
        finish(j, ZL_INIT_DONE, "");
    } else if (!cancelled(j)) {
        zl_log("error", "agent", "%s: %s", j->id, why);
        event(j, "init_failed", why);
        finish(j, ZL_INIT_FAILED, why);
    } else
        finish(j, ZL_INIT_FAILED, "cancelled");
    job_free(j);
    pthread_mutex_lock(&mu);
    threads--;
    pthread_cond_broadcast(&gone);
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Whether a thread still runs a's init steps (mu held). */
static bool any_running(struct zl_agent *a)
{
    for (size_t i = 0; i < a->ninits; i++)
        if (a->inits[i].state == ZL_INIT_RUNNING)
            return true;
    return false;
}

/* Tell a's init threads to stop, then wait (10 s at most) until they have: every init
 * thread's when all, else a's own. */
static bool stop(struct zl_agent *a, bool all)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < a->ninits; i++)
        a->inits[i].cancel = true;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while ((all ? threads > 0 : any_running(a)) && pthread_cond_timedwait(&gone, &mu, &until) == 0)
        ;
    bool done = all ? threads == 0 : !any_running(a);
    pthread_mutex_unlock(&mu);
    return done;
}

bool zl_agent__init_stop_all(struct zl_agent *a)
{
    return stop(a, true);
}

bool zl_agent__init_stop(struct zl_agent *a)
{
    return stop(a, false);
}

static char *text_of(const struct zl_sval *with, const char *key)
{
    const char *t = zl_sval_text(with, key);
    return t ? zl_xstrdup(t) : NULL;
}

bool zl_agent__has_init(const struct zl_sval *svc)
{
    const struct zl_sval *steps = zl_sval_path(svc, "init.steps");
    return steps && steps->n > 0;
}

int zl_agent__init_start(struct zl_agent *a, const struct zl_sval *svc,
                         const struct zl_replica_ref *r, int pid, struct zl_err *err)
{
    const struct zl_sval *steps = zl_sval_path(svc, "init.steps");
    if (!steps || steps->n > MAX_STEPS)
        return zl_err_set(err, ZL_EINVAL, "init.steps: at most %d steps", MAX_STEPS);
    struct job *j = zl_xcalloc(1, sizeof(*j));
    j->a = a;
    j->id = zl_xstrdup(r->id);
    j->deployment = zl_xstrdup(r->deployment);
    j->service = zl_xstrdup(r->service);
    j->log_file = zl_xasprintf("%s/output.log", r->dir);
    j->pid = pid;
    snprintf(j->policy, sizeof(j->policy), "%s",
             zl_sval_str(svc, "errors.on_init_failure.action", "fail"));
    for (size_t i = 0; i < steps->n; i++) {
        const struct zl_sval *st = steps->items[i], *with = zl_sval_get(st, "with");
        struct step *s = &j->steps[j->nsteps++];
        s->id = zl_xstrdup(zl_sval_str(st, "id", "?"));
        s->uses = zl_xstrdup(zl_sval_str(st, "uses", "?"));
        s->on_failure = zl_xstrdup(zl_sval_str(st, "on_failure", "fail"));
        s->timeout_ms = (int64_t)(zl_sval_uint(st, "timeout", 300000000000ull) / 1000000);
        s->retry = (unsigned)zl_sval_uint(st, "retry", 0);
        s->host = text_of(with, "host");
        s->url = text_of(with, "url");
        s->command = text_of(with, "command");
        const char *t = zl_sval_text(with, "port");
        s->port = t ? (unsigned)strtoul(t, NULL, 10) : 0;
        t = zl_sval_text(with, "expect_status");
        s->expect = t ? (unsigned)strtoul(t, NULL, 10) : 0;
        t = zl_sval_text(with, "timeout");
        bool run = !strcmp(s->uses, "init.run");
        s->with_timeout_ms = (t ? strtoll(t, NULL, 10) : run ? 300 : 30) * 1000;
    }
    pthread_mutex_lock(&mu);
    /* a finished record of an earlier container of this id goes; a running one stays until
     * its thread notices it was cancelled */
    struct zl_agent_init *old = entry_of(a, r->id);
    if (old && old->state != ZL_INIT_RUNNING)
        entry_drop(a, old);
    a->inits = zl_xrealloc(a->inits, (a->ninits + 1) * sizeof(*a->inits));
    struct zl_agent_init *e = &a->inits[a->ninits++];
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", r->id);
    e->state = ZL_INIT_RUNNING;
    e->owner = j;
    threads++;
    pthread_mutex_unlock(&mu);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    int rc = pthread_create(&t, &at, job_main, j);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        pthread_mutex_lock(&mu);
        threads--;
        struct zl_agent_init *mine = entry_of_job(a, j);
        if (mine)
            entry_drop(a, mine);
        pthread_mutex_unlock(&mu);
        job_free(j);
        return zl_err_sys(err, rc, "start the init steps of %s", r->id);
    }
    return 0;
}
