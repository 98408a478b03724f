/* SPDX-License-Identifier: Apache-2.0 */
/* api/logs.c: GET .../services/{svc}/logs (or .../{name}/logs for every service): the last
 * lines of every replica's output, and
 * with follow=true a chunked stream of what they print next, replicas that start (again)
 * included, until the client goes away or the deployment is removed. */
#include "api/internal.h"
#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FOLLOW_TICK_MS  200
#define FOLLOW_MAX_READ (1u << 20) /* per file and tick: a chatty replica cannot stall others */

struct log_file {
    char *id, *prefix, *path;
    dev_t dev;
    ino_t ino;
    long pid;   /* the container's process when last seen running: a new one, a new file */
    size_t off; /* bytes of whole lines already sent */
};

struct follow {
    struct zl_api *a;
    struct zl_http_req *req;
    uv_timer_t timer;
    char *dep, *svc, *since;
    long replica; /* -1: all */
    bool stopped;
    struct log_file *files;
    size_t nfiles;
};

struct query {
    long lines, replica;
    bool follow;
    char since[64]; /* "" or RFC 3339 UTC */
};

/* since: RFC 3339 UTC as written in the logs, or Unix seconds. */
static int parse_query(struct zl_http_req *r, struct query *q)
{
    char buf[64];
    q->lines = zl_http_req_query(r, "lines", buf, sizeof(buf)) ? strtol(buf, NULL, 10) : 100;
    if (q->lines < 0 || q->lines > 100000) {
        zl_http_respond_error(r, 400, "bad_request", NULL, "lines must be 0-100000");
        return -1;
    }
    q->replica = -1;
    if (zl_http_req_query(r, "replica", buf, sizeof(buf))) {
        char *end;
        q->replica = strtol(buf, &end, 10);
        if (*end || end == buf || q->replica < 0) {
            zl_http_respond_error(r, 400, "bad_request", NULL, "replica must be a number");
            return -1;
        }
    }
    q->follow = zl_http_req_query(r, "follow", buf, sizeof(buf)) &&
                (!strcmp(buf, "true") || !strcmp(buf, "1"));
    q->since[0] = '\0';
    if (zl_http_req_query(r, "since", buf, sizeof(buf)) && *buf) {
        char *end;
        long long secs = strtoll(buf, &end, 10);
        if (!*end && secs >= 0) {
            time_t t = (time_t)secs;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(q->since, sizeof(q->since), "%Y-%m-%dT%H:%M:%S", &tm);
        } else if (strlen(buf) >= 19 && strlen(buf) < sizeof(q->since) && buf[4] == '-' &&
                   buf[10] == 'T') {
            memcpy(q->since, buf, strlen(buf) + 1);
        } else {
            zl_http_respond_error(r, 400, "bad_request", NULL,
                                  "since must be Unix seconds or an RFC 3339 UTC time");
            return -1;
        }
    }
    return 0;
}

/* The replicas to read, each with its log path and prefix. */
static json_t *replicas(struct zl_api *a, const char *dep, const char *svc, long replica)
{
    json_t *cs = zl_api__containers(a, dep, svc), *out = json_array();
    for (size_t i = 0; i < json_array_size(cs); i++) {
        json_t *c = json_array_get(cs, i);
        long rep = (long)json_integer_value(json_object_get(c, "replica"));
        if (replica < 0 || rep == replica)
            json_array_append(out, c);
    }
    json_decref(cs);
    return out;
}

static struct log_file *file_of(struct follow *f, const char *id, const char *svc, long rep)
{
    for (size_t i = 0; i < f->nfiles; i++)
        if (!strcmp(f->files[i].id, id))
            return &f->files[i];
    f->files = zl_xrealloc(f->files, (f->nfiles + 1) * sizeof(*f->files));
    struct log_file *l = &f->files[f->nfiles++];
    memset(l, 0, sizeof(*l));
    l->id = zl_xstrdup(id);
    l->prefix = zl_xasprintf("%s-%ld", svc, rep);
    l->path = zl_xasprintf("%s/%s/output.log", f->a->containers_dir, id);
    return l;
}

static void follow_free(uv_handle_t *h)
{
    struct follow *f = h->data;
    for (size_t i = 0; i < f->nfiles; i++) {
        free(f->files[i].id);
        free(f->files[i].prefix);
        free(f->files[i].path);
    }
    free(f->files);
    free(f->dep);
    free(f->svc);
    free(f->since);
    free(f);
}

/* Once; f is freed when its timer has closed. A write that fails may have closed the
 * connection (and called on_gone) already. */
static void follow_stop(struct follow *f, bool end)
{
    if (f->stopped)
        return;
    f->stopped = true;
    uv_timer_stop(&f->timer);
    if (f->req) {
        zl_http_req_on_close(f->req, NULL, NULL);
        if (end)
            zl_http_stream_end(f->req);
    }
    f->req = NULL;
    uv_close((uv_handle_t *)&f->timer, follow_free);
}

static void on_gone(void *arg)
{
    struct follow *f = arg;
    f->req = NULL;
    follow_stop(f, false);
}

/* New whole lines of one file since the last tick; a file replaced (the replica started
 * again: a new process, or a new inode) or cut short is read from its start. An inode alone
 * does not tell: a new file may get the number of the one just removed. */
static void read_new(struct follow *f, struct log_file *l, long pid, struct zl_buf *out)
{
    struct stat st;
    if (stat(l->path, &st) < 0)
        return;
    bool restarted = pid && l->pid && pid != l->pid;
    if (pid)
        l->pid = pid;
    if (restarted || st.st_dev != l->dev || st.st_ino != l->ino || (size_t)st.st_size < l->off) {
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        l->off = 0;
    }
    if ((size_t)st.st_size == l->off)
        return;
    size_t want = (size_t)st.st_size - l->off;
    if (want > FOLLOW_MAX_READ)
        want = FOLLOW_MAX_READ;
    FILE *fp = fopen(l->path, "re");
    if (!fp)
        return;
    char *buf = zl_xmalloc(want);
    size_t got = fseek(fp, (long)l->off, SEEK_SET) == 0 ? fread(buf, 1, want, fp) : 0;
    fclose(fp);
    size_t used = zl_runtime_log_format(buf, got, l->prefix, f->since, out);
    if (used == 0 && got == FOLLOW_MAX_READ)
        used = got; /* one line longer than a read: skip it rather than stall */
    l->off += used;
    free(buf);
}

static void on_tick(uv_timer_t *t)
{
    struct follow *f = t->data;
    struct zl_store_deployment d;
    struct zl_err err;
    if (zl_store_deployment_get(f->a->db, f->dep, &d, &err) < 0)
        return follow_stop(f, true); /* removed: nothing more will come */
    zl_store_deployment_fini(&d);
    json_t *cs = replicas(f->a, f->dep, f->svc, f->replica);
    struct zl_buf out;
    zl_buf_init(&out);
    for (size_t i = 0; i < json_array_size(cs); i++) {
        json_t *c = json_array_get(cs, i);
        struct log_file *l = file_of(f, json_string_value(json_object_get(c, "id")),
                                     json_string_value(json_object_get(c, "service")),
                                     (long)json_integer_value(json_object_get(c, "replica")));
        read_new(f, l, (long)json_integer_value(json_object_get(c, "pid")), &out);
    }
    json_decref(cs);
    if (out.len && zl_http_stream_write(f->req, out.data, out.len) < 0)
        follow_stop(f, false);
    zl_buf_fini(&out);
}

void zl_api__logs(struct zl_api *a, struct zl_http_req *r, const char *dep, const char *svc)
{
    struct query q;
    if (parse_query(r, &q) < 0)
        return;
    json_t *cs = replicas(a, dep, svc, q.replica);
    if (q.replica >= 0 && json_array_size(cs) == 0) {
        json_decref(cs);
        return zl_http_respond_error(r, 404, "not_found", NULL, "%s has no replica %ld",
                                     svc ? svc : dep, q.replica);
    }
    struct follow *f = NULL;
    if (q.follow) {
        f = zl_xcalloc(1, sizeof(*f));
        f->a = a;
        f->dep = zl_xstrdup(dep);
        f->svc = svc ? zl_xstrdup(svc) : NULL;
        f->since = q.since[0] ? zl_xstrdup(q.since) : NULL;
        f->replica = q.replica;
    }
    struct zl_buf out;
    zl_buf_init(&out);
    for (size_t i = 0; i < json_array_size(cs); i++) {
        json_t *c = json_array_get(cs, i);
        const char *id = json_string_value(json_object_get(c, "id"));
        long rep = (long)json_integer_value(json_object_get(c, "replica"));
        const char *cs_svc = json_string_value(json_object_get(c, "service"));
        char *path = zl_xasprintf("%s/%s/output.log", a->containers_dir, id);
        char *prefix = zl_xasprintf("%s-%ld", cs_svc, rep);
        size_t end = 0;
        char *text = zl_runtime_log_tail(path, q.lines, prefix, q.since[0] ? q.since : NULL, &end);
        zl_buf_append(&out, text, strlen(text));
        if (f) {
            /* the stream goes on from here */
            struct log_file *l = file_of(f, id, cs_svc, rep);
            struct stat st;
            if (stat(path, &st) == 0) {
                l->dev = st.st_dev;
                l->ino = st.st_ino;
                l->off = end;
            }
            l->pid = (long)json_integer_value(json_object_get(c, "pid"));
        }
        free(text);
        free(prefix);
        free(path);
    }
    json_decref(cs);
    if (!f) {
        zl_http_respond(r, 200, "text/plain; charset=utf-8", out.data ? out.data : "", out.len);
        zl_buf_fini(&out);
        return;
    }
    zl_http_stream_begin(r, 200, "text/plain; charset=utf-8");
    f->req = r;
    zl_http_req_on_close(r, on_gone, f);
    uv_timer_init(a->loop, &f->timer);
    f->timer.data = f;
    if (out.len && zl_http_stream_write(r, out.data, out.len) < 0) {
        zl_buf_fini(&out);
        return follow_stop(f, false);
    }
    zl_buf_fini(&out);
    uv_timer_start(&f->timer, on_tick, FOLLOW_TICK_MS, FOLLOW_TICK_MS);
}
