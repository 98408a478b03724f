/* SPDX-License-Identifier: Apache-2.0 */
/* cli/client.h: what the commands that talk to the daemon share: where it is, requests,
 * errors as the API words them. */
#ifndef ZL_CLI_CLIENT_H
#define ZL_CLI_CLIENT_H

#include <jansson.h>

#include "cli/cli.h"
#include "http/http.h"

struct zl_cli_dirs {
    char *root, *runtime, *sock;
};

/* $ZLAYER_ROOT_DIR (/var/lib/zlayer), $ZLAYER_RUNTIME_DIR (/run/zlayer) and the socket. */
void zl_cli_dirs_init(struct zl_cli_dirs *d);
void zl_cli_dirs_fini(struct zl_cli_dirs *d);
/* The daemon's unix socket, or TCP when ZLAYER_HOST=tcp://HOST:PORT (ZLAYER_TOKEN: bearer). */
void zl_cli_target(const struct zl_cli_dirs *d, struct zl_http_target *t, char *host, size_t cap);
/* One request; body (JSON) may be NULL. */
int zl_cli_call(const struct zl_cli_dirs *d, const char *method, const char *path, const char *body,
                struct zl_http_response *out, struct zl_err *err);
/* Does the daemon answer /health/ready? */
bool zl_cli_ready(const struct zl_cli_dirs *d);
/* Start `zlayer serve --daemon` when nothing answers on the socket. */
int zl_cli_ensure_daemon(struct zl_cli *cli, const struct zl_cli_dirs *d);
/* Print an API error body ({"error","message","details"}) as one line (+ diagnostics). */
int zl_cli_api_fail(struct zl_cli *cli, const struct zl_http_response *r);
/* The same for a request made from the spec in file: its details as FILE:LINE:COL: PATH:
 * MESSAGE [RULE]. */
int zl_cli_api_fail_in(struct zl_cli *cli, const struct zl_http_response *r, const char *file);
/* GET path and parse JSON; NULL after printing the error. */
json_t *zl_cli_get_json(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *path);
/* The deployment holding service (when -d is not given): the only one that has it. */
char *zl_cli_owner_of(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *service);
/* The sequence number of the newest event (events after it are what a command caused). */
long long zl_cli_events_mark(const struct zl_cli_dirs *d);
/* Wait (printing progress from events after seq) until revision rev of deployment name runs
 * with every replica ready, fails, or is rolled back (rev 0: whichever revision is current). */
int zl_cli_wait_ready(struct zl_cli *cli, const struct zl_cli_dirs *d, const char *name, int secs,
                      long long seq, long long rev);

#endif
