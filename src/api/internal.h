/* SPDX-License-Identifier: Apache-2.0 */
/* api/internal.h: what the API's files share. */
#ifndef ZL_API_INTERNAL_H
#define ZL_API_INTERNAL_H

#include <jansson.h>

#include "api/api.h"

/* zlayer's containers as the runtime sees them, optionally of one deployment / service. */
json_t *zl_api__containers(struct zl_api *a, const char *dep, const char *svc);
/* GET .../services/{svc}/logs?lines=N&replica=N&since=T&follow=true; svc NULL: every
 * service of the deployment (GET .../deployments/{name}/logs) */
void zl_api__logs(struct zl_api *a, struct zl_http_req *r, const char *dep, const char *svc);
/* GET /api/v1/events */
void zl_api__events(struct zl_api *a, struct zl_http_req *r);
/* POST .../exec with Upgrade: zlayer-exec: argv (zlayer runtime exec ...) attached to the
 * connection (attach.c) */
void zl_api__exec_attach(struct zl_api *a, struct zl_http_req *r, char **argv,
                         const char *tty_size);
/* POST .../services/{svc}/exec */
void zl_api__exec(struct zl_api *a, struct zl_http_req *r, const char *dep, const char *svc);
/* GET .../deployments/{name}/revisions and POST .../rollback (history.c) */
void zl_api__revisions(struct zl_api *a, struct zl_http_req *r,
                       const struct zl_store_deployment *d);
void zl_api__rollback(struct zl_api *a, struct zl_http_req *r, const struct zl_store_deployment *d);

/* /api/v1/jobs/... and /api/v1/cron/... (jobs.c); seg: the n path segments after the prefix */
void zl_api__jobs(struct zl_api *a, struct zl_http_req *r, char seg[4][256], size_t n);
void zl_api__cron(struct zl_api *a, struct zl_http_req *r, char seg[4][256], size_t n);

#endif
