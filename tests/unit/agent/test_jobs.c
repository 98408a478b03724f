/* SPDX-License-Identifier: Apache-2.0 */
/* The job runner's decisions: when a cron is due, the one catch-up after downtime, and how
 * many runs may go at once. */
#include "../helpers.h"

#include "agent/agent.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_due),
        cmocka_unit_test(test_catch_up_once),
        cmocka_unit_test(test_next_ms),
        cmocka_unit_test(test_admit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
