/* SPDX-License-Identifier: Apache-2.0 */
/* The store's job runs (life of a run, listing filters, bounded history) and cron state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

static char dir[] = "/tmp/zl-test-jobs-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = zl_xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

static struct zl_store *open_db(const char *name)
{
    char *path = zl_xasprintf("%s/%s", dir, name);
    struct zl_store *s = NULL;
    struct zl_err err;
    assert_int_equal(zl_store_open(path, &s, &err), 0);
    free(path);
    return s;
}

static void free_runs(struct zl_store_job_run *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        zl_store_job_run_fini(&v[i]);
    free(v);
}

static void test_run_life(void **state)
{
    (void)state;
    struct zl_store *s = open_db("life.db");
    struct zl_err err;
    int64_t id = 0, id2 = 0;
    assert_int_equal(zl_store_job_run_add(s, "jobs", "migrate", "cli", "pending", NULL, &id, &err),
                     0);
    assert_true(id > 0);
    struct zl_store_job_run r;
    assert_int_equal(zl_store_job_run_get(s, id, &r, &err), 0);
    assert_string_equal(r.status, "pending");
    assert_string_equal(r.trigger, "cli");
    assert_int_equal(r.exit_code, -1);
    assert_true(r.created_at > 1700000000000LL);
    assert_int_equal(r.started_at, 0);
    assert_int_equal(r.finished_at, 0);
    zl_store_job_run_fini(&r);
    assert_int_equal(zl_store_job_run_start(s, id, 1234, &err), 0);
    assert_int_equal(zl_store_job_run_finish(s, id, "failed", 3, "exited with code 3", &err), 0);
    /* a finished run does not change again */
    assert_int_equal(zl_store_job_run_finish(s, id, "cancelled", -1, NULL, &err), -ZL_ENOTFOUND);
    assert_int_equal(zl_store_job_run_get(s, id, &r, &err), 0);
    assert_string_equal(r.status, "failed");
    assert_int_equal(r.exit_code, 3);
    assert_int_equal(r.started_at, 1234);
    assert_true(r.finished_at > 0);
    assert_string_equal(r.error, "exited with code 3");
    zl_store_job_run_fini(&r);
    /* a skip is over when recorded */
    assert_int_equal(zl_store_job_run_add(s, "jobs", "tick", "scheduler", "skipped",
                                          "run 1 still running", &id2, &err),
                     0);
    assert_int_equal(zl_store_job_run_get(s, id2, &r, &err), 0);
    assert_true(r.finished_at > 0);
    assert_true(zl_store_job_status_is_final(r.status));
    zl_store_job_run_fini(&r);
    assert_int_equal(zl_store_job_run_get(s, 999, &r, &err), -ZL_ENOTFOUND);
    assert_false(zl_store_job_status_is_final("running"));
    zl_store_close(s);
}

static void test_list_and_prune(void **state)
{
    (void)state;
    struct zl_store *s = open_db("prune.db");
    struct zl_err err;
    int64_t id = 0, first = 0, running = 0;
    /* one unfinished run stays whatever its age */
    assert_int_equal(zl_store_job_run_add(s, "jobs", "j", "api", "pending", NULL, &running, &err),
                     0);
    assert_int_equal(zl_store_job_run_start(s, running, 1, &err), 0);
    for (int i = 0; i < 60; i++) {
        assert_int_equal(zl_store_job_run_add(s, "jobs", "j", "api", "pending", NULL, &id, &err),
                         0);
        assert_int_equal(zl_store_job_run_finish(s, id, i % 2 ? "completed" : "failed",
                                                 i % 2 ? 0 : 1, NULL, &err),
                         0);
        if (i == 0)
            first = id;
    }
    assert_int_equal(zl_store_job_run_add(s, "other", "j", "api", "pending", NULL, &id, &err), 0);
    struct zl_store_job_run *v = NULL;
    size_t n = 0;
    assert_int_equal(zl_store_job_run_list(s, "jobs", "j", "failed", 1000, &v, &n, &err), 0);
    assert_int_equal(n, 30);
    free_runs(v, n);
    assert_int_equal(zl_store_job_run_list(s, NULL, "j", "unfinished", 1000, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, id); /* newest first */
    assert_int_equal(v[1].id, running);
    free_runs(v, n);
    int64_t *gone = NULL;
    size_t ngone = 0;
    assert_int_equal(zl_store_job_run_prune(s, "jobs", "j", 50, &gone, &ngone, &err), 0);
    assert_int_equal(ngone, 10);
    assert_int_equal(gone[0], first);
    free(gone);
    assert_int_equal(zl_store_job_run_list(s, "jobs", "j", NULL, 1000, &v, &n, &err), 0);
    assert_int_equal(n, 51);
    assert_int_equal(v[n - 1].id, running);
    free_runs(v, n);
    /* nothing more to drop; other deployments untouched */
    assert_int_equal(zl_store_job_run_prune(s, "jobs", "j", 50, &gone, &ngone, &err), 0);
    assert_int_equal(ngone, 0);
    free(gone);
    assert_int_equal(zl_store_job_run_list(s, "other", NULL, NULL, 5, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    free_runs(v, n);
    zl_store_close(s);
}

static void test_cron_state(void **state)
{
    (void)state;
    struct zl_store *s = open_db("cron.db");
    struct zl_err err;
    struct zl_store_cron c;
    assert_int_equal(zl_store_cron_get(s, "jobs", "tick", &c, &err), -ZL_ENOTFOUND);
    /* disabling before the scheduler saw it makes a row to be scheduled */
    assert_int_equal(zl_store_cron_set_enabled(s, "jobs", "tick", false, &err), 0);
    assert_int_equal(zl_store_cron_get(s, "jobs", "tick", &c, &err), 0);
    assert_false(c.enabled);
    assert_string_equal(c.schedule, "");
    assert_int_equal(c.next_fire, 0);
    zl_store_cron_fini(&c);
    struct zl_store_cron w = {.deployment = "jobs",
                              .name = "tick",
                              .schedule = "* * * * * *",
                              .enabled = false,
                              .last_fire = 10,
                              .next_fire = 20};
    assert_int_equal(zl_store_cron_put(s, &w, &err), 0);
    assert_int_equal(zl_store_cron_set_enabled(s, "jobs", "tick", true, &err), 0);
    w.name = "b";
    assert_int_equal(zl_store_cron_put(s, &w, &err), 0);
    struct zl_store_cron *v = NULL;
    size_t n = 0;
    assert_int_equal(zl_store_cron_list(s, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "b");
    assert_true(v[1].enabled);
    assert_int_equal(v[1].next_fire, 20);
    assert_string_equal(v[1].schedule, "* * * * * *");
    for (size_t i = 0; i < n; i++)
        zl_store_cron_fini(&v[i]);
    free(v);
    assert_int_equal(zl_store_cron_remove(s, "jobs", "b", &err), 0);
    assert_int_equal(zl_store_cron_get(s, "jobs", "b", &c, &err), -ZL_ENOTFOUND);
    zl_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_life),
        cmocka_unit_test(test_list_and_prune),
        cmocka_unit_test(test_cron_state),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
