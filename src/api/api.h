/* SPDX-License-Identifier: Apache-2.0 */
/* api: the REST API the CLI (and later the dashboard and remote clients) use: deployments,
 * services, containers, logs, daemon status. */
#ifndef ZL_API_H
#define ZL_API_H

#include <time.h>
#include <uv.h>

#include "http/http.h"
#include "store/store.h"

struct zl_api {
    struct zl_store *db;        /* the loop thread's own connection */
    const char *rt_root;        /* the runtime's state root */
    const char *containers_dir; /* bundles and output logs */
    const char *root_dir, *runtime_dir, *socket_path;
    time_t started;
    void (*kick)(void *arg); /* ask the reconciler to run soon */
    void *kick_arg;
    uv_loop_t *loop; /* blocking work (exec) runs on its thread pool */
};

/* The zl_http_handler for the daemon's server; ctx is a struct zl_api. */
void zl_api_handle(void *ctx, struct zl_http_req *req);

#endif
