/* SPDX-License-Identifier: Apache-2.0 */
/* api/events.c: lifecycle events (deployments applied, scaled, removed; containers started,
 * died, removed). Any thread publishes into a bounded ring; the loop thread hands them to the
 * GET /api/v1/events streams as NDJSON. A reader too slow for the ring is told how many it
 * missed. */
#include "api/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 512

struct event {
    char *line; /* one JSON object and '\n' */
    char *deployment;
};

struct sub {
    struct zl_api_events *hub;
    struct zl_http_req *req;
    char *deployment; /* filter, or NULL */
    uint64_t next;    /* seq of the next event to send */
    struct sub *prev, *nextsub;
};

struct zl_api_events {
    uv_async_t async;
    pthread_mutex_t lock;
    struct event ring[RING];
    uint64_t seq; /* events published so far; event s lives in ring[(s - 1) % RING] */
    struct sub *subs;
    bool delivering; /* on_async runs: a closed connection's sub is unlinked there */
};

static void unlink_sub(struct sub *s)
{
    struct zl_api_events *e = s->hub;
    if (s->prev)
        s->prev->nextsub = s->nextsub;
    else
        e->subs = s->nextsub;
    if (s->nextsub)
        s->nextsub->prev = s->prev;
    free(s->deployment);
    free(s);
}

static void on_gone(void *arg)
{
    struct sub *s = arg;
    s->req = NULL;
    if (!s->hub->delivering)
        unlink_sub(s);
}

/* Send s what it has not seen; false when its connection is gone. Called with the lock. */
static bool deliver(struct zl_api_events *e, struct sub *s)
{
    if (!s->req)
        return false;
    uint64_t oldest = e->seq > RING ? e->seq - RING + 1 : 1;
    struct zl_buf out;
    zl_buf_init(&out);
    if (s->next < oldest) {
        zl_buf_printf(&out, "{\"resource\":\"stream\",\"kind\":\"dropped\",\"dropped\":%llu}\n",
                      (unsigned long long)(oldest - s->next));
        s->next = oldest;
    }
    for (; s->next <= e->seq; s->next++) {
        struct event *ev = &e->ring[(s->next - 1) % RING];
        if (!s->deployment || (ev->deployment && !strcmp(ev->deployment, s->deployment)))
            zl_buf_puts(&out, ev->line);
    }
    bool ok = !out.len || zl_http_stream_write(s->req, out.data, out.len) == 0;
    zl_buf_fini(&out);
    return ok && s->req;
}

static void on_async(uv_async_t *h)
{
    struct zl_api_events *e = h->data;
    pthread_mutex_lock(&e->lock);
    e->delivering = true;
    for (struct sub *s = e->subs, *nx; s; s = nx) {
        nx = s->nextsub;
        if (!deliver(e, s)) {
            if (s->req)
                zl_http_req_on_close(s->req, NULL, NULL);
            unlink_sub(s);
        }
    }
    e->delivering = false;
    pthread_mutex_unlock(&e->lock);
}

struct zl_api_events *zl_api_events_new(uv_loop_t *loop)
{
    struct zl_api_events *e = zl_xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    uv_async_init(loop, &e->async, on_async);
    uv_unref((uv_handle_t *)&e->async); /* it alone does not keep the loop running */
    e->async.data = e;
    return e;
}

static void free_hub(uv_handle_t *h)
{
    struct zl_api_events *e = h->data;
    for (size_t i = 0; i < RING; i++) {
        free(e->ring[i].line);
        free(e->ring[i].deployment);
    }
    while (e->subs)
        unlink_sub(e->subs);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void zl_api_events_close(struct zl_api_events *e)
{
    if (e)
        uv_close((uv_handle_t *)&e->async, free_hub);
}

void zl_api_events_publish(struct zl_api_events *e, json_t *ev)
{
    if (!e) {
        json_decref(ev);
        return;
    }
    pthread_mutex_lock(&e->lock);
    e->seq++;
    json_object_set_new(ev, "seq", json_integer((json_int_t)e->seq));
    json_object_set_new(ev, "at", json_integer((json_int_t)time(NULL)));
    struct event *slot = &e->ring[(e->seq - 1) % RING];
    free(slot->line);
    free(slot->deployment);
    char *text = json_dumps(ev, JSON_COMPACT);
    slot->line = zl_xasprintf("%s\n", text);
    free(text);
    const char *dep = json_string_value(json_object_get(ev, "deployment"));
    slot->deployment = dep ? zl_xstrdup(dep) : NULL;
    pthread_mutex_unlock(&e->lock);
    json_decref(ev);
    uv_async_send(&e->async);
}

/* GET /api/v1/events?deployment=NAME&follow=false&since=SEQ: follow (the default) streams
 * the events from now on; follow=false answers with the recent ones kept in the ring (those
 * after event SEQ with since) and ends. */
void zl_api__events(struct zl_api *a, struct zl_http_req *r)
{
    struct zl_api_events *e = a->events;
    char dep[256], fol[16], since[32];
    bool has_dep = zl_http_req_query(r, "deployment", dep, sizeof(dep)) && *dep;
    uint64_t after = 0;
    bool has_since = zl_http_req_query(r, "since", since, sizeof(since));
    if (has_since) {
        char *end;
        after = strtoull(since, &end, 10);
        if (*end || end == since)
            return zl_http_respond_error(r, 400, "bad_request", NULL,
                                         "since must be an event's seq");
    }
    bool follow = !zl_http_req_query(r, "follow", fol, sizeof(fol)) ||
                  (strcmp(fol, "false") != 0 && strcmp(fol, "0") != 0);
    if (!e)
        return zl_http_respond_error(r, 503, "unavailable", NULL, "no event hub");
    struct sub *s = zl_xcalloc(1, sizeof(*s));
    s->hub = e;
    s->req = r;
    s->deployment = has_dep ? zl_xstrdup(dep) : NULL;
    zl_http_stream_begin(r, 200, "application/json");
    pthread_mutex_lock(&e->lock);
    s->next = follow ? e->seq + 1 : (e->seq > RING ? e->seq - RING + 1 : 1);
    if (has_since) /* what came after event `since` (resuming: told if some were lost) */
        s->next = after < e->seq ? after + 1 : e->seq + 1;
    if (!follow) {
        deliver(e, s);
        zl_http_stream_end(r);
        free(s->deployment);
        free(s);
    } else {
        s->nextsub = e->subs;
        if (e->subs)
            e->subs->prev = s;
        e->subs = s;
        zl_http_req_on_close(r, on_gone, s);
    }
    pthread_mutex_unlock(&e->lock);
}
