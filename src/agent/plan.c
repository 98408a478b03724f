/* SPDX-License-Identifier: Apache-2.0 */
/* agent/plan.c: the reconciler's decisions that need no system: replica counts, what to do
 * with each replica, restart policy and backoff, when crons are due and jobs may start. */
#include "agent/internal.h"

#include <string.h>

uint64_t zl_agent_backoff_ms(unsigned restarts)
{
    if (restarts == 0)
        return 0;
    uint64_t ms = 1000;
    for (unsigned i = 1; i < restarts && ms < 60000; i++)
        ms *= 2;
    return ms < 60000 ? ms : 60000;
}

enum zl_replica_action zl_agent_replica_action(const char *status, const char *have_hash,
                                               const char *want_hash)
{
    if (!status)
        return ZL_REPLICA_CREATE;
    if (!have_hash || strcmp(have_hash, want_hash) != 0)
        return ZL_REPLICA_REPLACE;
    if (!strcmp(status, "created"))
        return ZL_REPLICA_RECREATE;
    if (!strcmp(status, "stopped"))
        return ZL_REPLICA_CRASHED;
    return ZL_REPLICA_KEEP;
}

bool zl_agent_restarts(const char *on_panic, const char *kind)
{
    if (on_panic && strcmp(on_panic, "restart") != 0)
        return false;
    return !kind || strcmp(kind, "no") != 0;
}

unsigned zl_agent_crash_count(unsigned before, int64_t ran_ms)
{
    return ran_ms >= 60000 ? 1 : before + 1;
}

unsigned zl_agent_desired_replicas(const struct zl_sval *svc, long scaled)
{
    const char *rtype = zl_sval_str(svc, "rtype", "service");
    if (strcmp(rtype, "service") != 0)
        return 0; /* jobs and crons run when triggered */
    const struct zl_sval *groups = zl_sval_get(svc, "replica_groups");
    if (groups && groups->n) {
        uint64_t n = 0;
        for (size_t i = 0; i < groups->n; i++)
            n += zl_sval_uint(groups->items[i], "count", 0);
        return scaled >= 0 ? (unsigned)scaled : (unsigned)n;
    }
    if (scaled >= 0)
        return (unsigned)scaled;
    const char *mode = zl_sval_str(svc, "scale.mode", "adaptive");
    if (!strcmp(mode, "fixed"))
        return (unsigned)zl_sval_uint(svc, "scale.replicas", 1);
    if (!strcmp(mode, "adaptive"))
        return (unsigned)zl_sval_uint(svc, "scale.min", 1);
    return 1; /* manual: one until scaled by hand */
}

enum zl_job_admit zl_agent_job_admit(bool is_cron, unsigned of_job, unsigned total)
{
    if (is_cron && of_job > 0)
        return ZL_JOB_OVERLAP;
    if (of_job >= ZL_JOB_MAX_RUNS_PER_JOB || total >= ZL_JOB_MAX_RUNS)
        return ZL_JOB_FULL;
    return ZL_JOB_ADMIT;
}

enum zl_cron_due zl_agent_cron_due(bool enabled, int64_t next_fire_ms, int64_t now_ms,
                                   int64_t started_ms)
{
    if (next_fire_ms <= 0 || now_ms < next_fire_ms)
        return ZL_CRON_WAIT;
    if (!enabled)
        return ZL_CRON_PASS;
    return next_fire_ms < started_ms ? ZL_CRON_CATCH_UP : ZL_CRON_FIRE;
}

int64_t zl_agent_cron_next_ms(const struct zl_cron *c, int64_t now_ms)
{
    int64_t next = 0;
    if (now_ms < 0 || zl_cron_next(c, now_ms / 1000, &next) < 0)
        return -1;
    return next * 1000;
}

void zl_agent__sval_text(const struct zl_sval *v, struct zl_buf *b)
{
    if (!v) {
        zl_buf_puts(b, "~");
        return;
    }
    switch (v->kind) {
    case ZL_SV_BOOL:
        zl_buf_puts(b, v->b ? "T" : "F");
        break;
    case ZL_SV_INT:
        zl_buf_printf(b, "i%lld", (long long)v->i);
        break;
    case ZL_SV_UINT:
    case ZL_SV_DURATION:
    case ZL_SV_MEMSIZE:
        zl_buf_printf(b, "u%llu", (unsigned long long)v->u);
        break;
    case ZL_SV_FLOAT:
        zl_buf_printf(b, "f%.17g", v->f);
        break;
    case ZL_SV_LIST:
    case ZL_SV_MAP:
    case ZL_SV_OBJ:
        zl_buf_putc(b, '{');
        for (size_t i = 0; i < v->n; i++) {
            if (v->keys)
                zl_buf_printf(b, "%zu:%s=", strlen(v->keys[i]), v->keys[i]);
            zl_agent__sval_text(v->items[i], b);
            zl_buf_putc(b, ',');
        }
        zl_buf_putc(b, '}');
        break;
    default:
        zl_buf_printf(b, "s%zu:%s", v->s ? strlen(v->s) : 0, v->s ? v->s : "");
    }
}
