/* SPDX-License-Identifier: Apache-2.0 */
/* The jobs API over a real server and store, with the runner stubbed: run ids in paths, and
 * a cancel that meets the run's own end.
 *
 * The server runs on its own uv loop in a thread; the test thread talks to it with the
 * blocking client. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "api/api.h"
#include "http/http.h"
#include "store/store.h"

#define WAIT_MS 5000

enum stub { STUB_RUNNING, STUB_NOT_HERE, STUB_ENDED };

struct fx {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    struct zl_http_server *srv;
    struct zl_api api;
    char dir[64];
    char sock[128], containers[128];
    enum stub stub;     /* what the runner says to a cancel */
    atomic_int cancels; /* cancels it was asked for */
};

/* The runner: the run is in progress (its cancel is taken), is unknown to it, or has just
 * ended on its own (recorded completed) and so is not in progress any more. */
static int stub_cancel(void *arg, int64_t id, struct zl_err *err)
{
    struct fx *f = arg;
    atomic_fetch_add(&f->cancels, 1);
    if (f->stub == STUB_RUNNING)
        return 0;
    if (f->stub == STUB_ENDED &&
        zl_store_job_run_finish(f->api.db, id, "completed", 0, NULL, err) < 0)
        return -ZL_EINVAL;
    return zl_err_set(err, ZL_ENOTFOUND, "run %lld is not in progress", (long long)id);
}

static void *loop_main(void *arg)
{
    struct fx *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_stop(uv_async_t *a)
{
    struct fx *f = a->data;
    zl_http_server_close(f->srv, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static int setup(void **state)
{
    struct fx *f = zl_xcalloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/zl-test-jobsapi-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
    snprintf(f->containers, sizeof(f->containers), "%s/containers", f->dir);
    char *db = zl_xasprintf("%s/state.db", f->dir);
    struct zl_err err;
    int rc = zl_store_open(db, &f->api.db, &err);
    free(db);
    if (rc < 0) {
        fprintf(stderr, "store: %s\n", err.msg);
        return -1;
    }
    f->api.root_dir = f->dir;
    f->api.runtime_dir = f->dir;
    f->api.rt_root = f->dir;
    f->api.containers_dir = f->containers;
    f->api.socket_path = f->sock;
    f->api.started = time(NULL);
    f->api.job_cancel = stub_cancel;
    f->api.jobs_arg = f;
    uv_loop_init(&f->loop);
    f->api.loop = &f->loop;
    f->srv = zl_http_server_new(&f->loop, NULL, zl_api_handle, &f->api);
    if (zl_http_server_listen_unix(f->srv, f->sock, 0600, &err) < 0) {
        fprintf(stderr, "listen: %s\n", err.msg);
        return -1;
    }
    uv_async_init(&f->loop, &f->stop, on_stop);
    f->stop.data = f;
    if (pthread_create(&f->thread, NULL, loop_main, f) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    uv_async_send(&f->stop);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    if (pthread_timedjoin_np(f->thread, NULL, &ts) != 0) {
        fprintf(stderr, "the loop thread did not finish\n");
        return -1; /* it may still run: keep f */
    }
    if (uv_loop_close(&f->loop) != 0)
        return -1;
    zl_store_close(f->api.db);
    char *cmd = zl_xasprintf("rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(cmd);
    free(f);
    return rc;
}

/* method path -> status; the body's "message" (errors) or "status" (runs) in what. */
static int call(struct fx *f, const char *method, const char *path, char *what, size_t cap)
{
    struct zl_http_target t = {.unix_path = f->sock, .timeout_ms = WAIT_MS};
    struct zl_http_response resp;
    struct zl_err err;
    int rc = zl_http_request(&t, method, path, NULL, NULL, 0, &resp, &err);
    if (rc < 0)
        fprintf(stderr, "%s %s: %s\n", method, path, err.msg);
    assert_int_equal(rc, 0);
    json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
    const char *s = json_string_value(json_object_get(j, "message"));
    if (!s)
        s = json_string_value(json_object_get(j, "status"));
    snprintf(what, cap, "%s", s ? s : "");
    json_decref(j);
    int status = resp.status;
    zl_http_response_fini(&resp);
    return status;
}

/* A run of demo/migrate that the store says is running. */
static int64_t running_run(struct fx *f)
{
    int64_t id = 0;
    struct zl_err err;
    assert_int_equal(
        zl_store_job_run_add(f->api.db, "demo", "migrate", "api", "pending", NULL, &id, &err), 0);
    assert_int_equal(zl_store_job_run_start(f->api.db, id, 1000, &err), 0);
    return id;
}

static char *status_of(struct fx *f, int64_t id)
{
    struct zl_store_job_run r;
    struct zl_err err;
    assert_int_equal(zl_store_job_run_get(f->api.db, id, &r, &err), 0);
    char *s = zl_xstrdup(r.status);
    zl_store_job_run_fini(&r);
    return s;
}

static void test_run_ids(void **state)
{
    struct fx *f = *state;
    int64_t id = running_run(f);
    char what[512], path[128];
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/status", (long long)id);
    assert_int_equal(call(f, "GET", path, what, sizeof(what)), 200);
    assert_string_equal(what, "running");
    snprintf(path, sizeof(path), "/api/v1/jobs/00%lld/status", (long long)id);
    assert_int_equal(call(f, "GET", path, what, sizeof(what)), 200);
    /* digits only: no sign, no space (the path is percent-decoded), nothing after them */
    static const char *const bad[] = {"%201", "%091", "+1",  "-1",  "0",   "00",
                                      "1x",   "1%20", "0x1", "1e3", "1.0", "%2B1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/jobs/%s/status", bad[i]);
        int st = call(f, "GET", path, what, sizeof(what));
        if (st != 400)
            fprintf(stderr, "%s: %d %s\n", path, st, what);
        assert_int_equal(st, 400);
        assert_non_null(strstr(what, "is not a run id"));
    }
    /* bounded: 18 digits at most, so never out of range */
    assert_int_equal(call(f, "GET", "/api/v1/jobs/999999999999999999/status", what, sizeof(what)),
                     404);
    assert_int_equal(call(f, "GET", "/api/v1/jobs/9999999999999999999/status", what, sizeof(what)),
                     400);
    assert_int_equal(
        call(f, "GET", "/api/v1/jobs/99999999999999999999999/status", what, sizeof(what)), 400);
}

static void test_cancel(void **state)
{
    struct fx *f = *state;
    char what[512], path[128];
    /* in progress: the runner stops it */
    int64_t id = running_run(f);
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/cancel", (long long)id);
    f->stub = STUB_RUNNING;
    assert_int_equal(call(f, "POST", path, what, sizeof(what)), 200);
    assert_string_equal(what, "cancelling: the container is being stopped");
    /* recorded as running but unknown to the runner: it ends now */
    f->stub = STUB_NOT_HERE;
    assert_int_equal(call(f, "POST", path, what, sizeof(what)), 200);
    char *s = status_of(f, id);
    assert_string_equal(s, "cancelled");
    free(s);
    /* already over */
    assert_int_equal(call(f, "POST", path, what, sizeof(what)), 409);
    assert_non_null(strstr(what, "is already cancelled"));
}

/* The run ends on its own between the API's look at it and the runner's answer: a
 * conflict, and the run keeps its own end. */
static void test_cancel_meets_the_end(void **state)
{
    struct fx *f = *state;
    char what[512], path[128];
    int64_t id = running_run(f);
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/cancel", (long long)id);
    f->stub = STUB_ENDED;
    int before = atomic_load(&f->cancels);
    assert_int_equal(call(f, "POST", path, what, sizeof(what)), 409);
    assert_int_equal(atomic_load(&f->cancels), before + 1);
    char want[128];
    snprintf(want, sizeof(want), "run %lld is not running: it is already completed", (long long)id);
    assert_string_equal(what, want);
    char *s = status_of(f, id);
    assert_string_equal(s, "completed");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_meets_the_end, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
