/* SPDX-License-Identifier: Apache-2.0 */
/* The job runner's decisions: when a cron is due, the one catch-up after downtime, and how
 * many runs may go at once; a run's init steps end before its agent goes. */
#include "../helpers.h"

#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/internal.h"

#define S 1000LL /* one second in ms */

static void test_cron_due(void **state)
{
    (void)state;
    int64_t started = 1000 * S;
    /* not scheduled yet, never again, or not yet due */
    assert_int_equal(zl_agent_cron_due(true, 0, 2000 * S, started), ZL_CRON_WAIT);
    assert_int_equal(zl_agent_cron_due(true, -1, 2000 * S, started), ZL_CRON_WAIT);
    assert_int_equal(zl_agent_cron_due(true, 2001 * S, 2000 * S, started), ZL_CRON_WAIT);
    /* due while this daemon runs: a scheduled run, also when the tick came a bit late */
    assert_int_equal(zl_agent_cron_due(true, 2000 * S, 2000 * S, started), ZL_CRON_FIRE);
    assert_int_equal(zl_agent_cron_due(true, 1999 * S, 2000 * S + 300, started), ZL_CRON_FIRE);
    assert_int_equal(zl_agent_cron_due(true, started, started + 10, started), ZL_CRON_FIRE);
    /* due before this daemon started (missed while down): once, as a catch-up */
    assert_int_equal(zl_agent_cron_due(true, 500 * S, started + 400, started), ZL_CRON_CATCH_UP);
    assert_int_equal(zl_agent_cron_due(true, started - 1, started, started), ZL_CRON_CATCH_UP);
    /* disabled: passes its time without running, and never catches up */
    assert_int_equal(zl_agent_cron_due(false, 2000 * S, 2000 * S, started), ZL_CRON_PASS);
    assert_int_equal(zl_agent_cron_due(false, 500 * S, 2000 * S, started), ZL_CRON_PASS);
    assert_int_equal(zl_agent_cron_due(false, 2001 * S, 2000 * S, started), ZL_CRON_WAIT);
}

static void test_catch_up_once(void **state)
{
    (void)state;
    /* every 10 s; the daemon was down from t=100 s to t=1000 s (90 ticks missed) */
    struct zl_cron c;
    const char *why = NULL;
    const char *text = "*/10 * * * * *";
    assert_int_equal(zl_cron_parse(text, strlen(text), &c, &why), 0);
    int64_t next = zl_agent_cron_next_ms(&c, 100 * S);
    assert_int_equal(next, 110 * S);
    int64_t started = 1000 * S, now = started + 250;
    int runs = 0, catch_ups = 0;
    /* the scheduler's ticks, one a second for a minute */
    for (int tick = 0; tick < 60; tick++, now += S) {
        enum zl_cron_due d = zl_agent_cron_due(true, next, now, started);
        if (d == ZL_CRON_FIRE || d == ZL_CRON_CATCH_UP) {
            runs++;
            catch_ups += d == ZL_CRON_CATCH_UP;
            next = zl_agent_cron_next_ms(&c, now);
            assert_true(next > now);
        }
    }
    assert_int_equal(catch_ups, 1);
    /* the catch-up at start, then 1010, 1020, ... 1050 */
    assert_int_equal(runs, 6);
}

static void test_next_ms(void **state)
{
    (void)state;
    struct zl_cron c;
    const char *why = NULL;
    const char *every = "* * * * * *", *past = "0 0 0 1 1 * 1999";
    assert_int_equal(zl_cron_parse(every, strlen(every), &c, &why), 0);
    /* the next whole second strictly after now */
    assert_int_equal(zl_agent_cron_next_ms(&c, 5 * S), 6 * S);
    assert_int_equal(zl_agent_cron_next_ms(&c, 5 * S + 999), 6 * S);
    assert_int_equal(zl_cron_parse(past, strlen(past), &c, &why), 0);
    assert_int_equal(zl_agent_cron_next_ms(&c, 946684800LL * S), -1); /* 2000-01-01 */
}

static void test_admit(void **state)
{
    (void)state;
    assert_int_equal(zl_agent_job_admit(false, 0, 0), ZL_JOB_ADMIT);
    assert_int_equal(zl_agent_job_admit(false, ZL_JOB_MAX_RUNS_PER_JOB - 1, 12), ZL_JOB_ADMIT);
    assert_int_equal(zl_agent_job_admit(false, ZL_JOB_MAX_RUNS_PER_JOB, 12), ZL_JOB_FULL);
    assert_int_equal(zl_agent_job_admit(false, 0, ZL_JOB_MAX_RUNS), ZL_JOB_FULL);
    /* a cron never overlaps itself */
    assert_int_equal(zl_agent_job_admit(true, 0, 3), ZL_JOB_ADMIT);
    assert_int_equal(zl_agent_job_admit(true, 1, 3), ZL_JOB_OVERLAP);
    assert_int_equal(zl_agent_job_admit(true, 0, ZL_JOB_MAX_RUNS), ZL_JOB_FULL);
}

/* A job whose one init step waits for a port nothing listens on, each attempt secs long. */
static const char init_yaml[] =
    "version: v1\n"
    "deployment: demo\n"
    "services:\n"
    "  prep:\n"
    "    rtype: job\n"
    "    image: {name: busybox}\n"
    "    init: {steps: [{id: port, uses: init.wait_tcp,\n"
    "                    with: {host: 127.0.0.1, port: 1, timeout: %d}}]}\n"
    "    errors: {on_init_failure: {action: %s}}\n";

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* The steps run in a thread of their own (in this process's network: root only), are told
 * to stop after stop_after_ms and have ended within within_ms; then the agent goes, and a
 * thread still using it would be seen by ASan. */
static void init_stop_case(int secs, const char *policy, int64_t stop_after_ms, int64_t within_ms)
{
    if (geteuid() != 0)
        skip();
    char dir[] = "/tmp/zl-test-init-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *text = zl_xasprintf(init_yaml, secs, policy);
    struct zl_diags *d = NULL;
    struct zl_spec *spec = load_text(text, false, &d);
    if (!spec)
        print_diags(d);
    assert_non_null(spec);
    const struct zl_sval *svc = zl_sval_get(zl_sval_get(zl_spec_root(spec), "services"), "prep");
    assert_true(zl_agent__has_init(svc));
    struct zl_agent *a = zl_xcalloc(1, sizeof(*a));
    a->rt_root = zl_xstrdup(dir);
    struct zl_replica_ref ref = {"demo", "prep", 0, "demo-prep-r1", dir};
    struct zl_err err;
    assert_int_equal(zl_agent__init_start(a, svc, &ref, (int)getpid(), &err), 0);
    sleep_ms(stop_after_ms);
    assert_int_equal(zl_agent__init_state(a, ref.id, NULL, 0), ZL_INIT_RUNNING);
    int64_t t0 = zl_mono_ms();
    assert_true(zl_agent__init_stop(a));
    int64_t took = zl_mono_ms() - t0;
    assert_true(took < within_ms);
    /* a cancelled run's entry goes with its thread */
    assert_int_equal(zl_agent__init_state(a, ref.id, NULL, 0), ZL_INIT_NONE);
    assert_true(zl_agent__init_stop(a)); /* nothing left: at once */
    zl_agent__close(a);
    free(a);
    sleep_ms(300);
    zl_spec_free(spec);
    zl_diags_free(d);
    free(text);
    char *log = zl_xasprintf("%s/output.log", dir);
    unlink(log);
    free(log);
    rmdir(dir);
}

static void test_init_stop_while_waiting(void **state)
{
    (void)state;
    init_stop_case(30, "fail", 300, 3000);
}

/* between attempts too: on_init_failure backoff pauses 1, 2, 4 s after attempts of 0.5 s;
 * stopped during the 4 s pause */
static void test_init_stop_during_backoff(void **state)
{
    (void)state;
    init_stop_case(1, "backoff", 5000, 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_due),
        cmocka_unit_test(test_catch_up_once),
        cmocka_unit_test(test_next_ms),
        cmocka_unit_test(test_admit),
        cmocka_unit_test(test_init_stop_while_waiting),
        cmocka_unit_test(test_init_stop_during_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
