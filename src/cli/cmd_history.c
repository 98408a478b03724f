/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_history.c: zlayer history DEPLOYMENT and zlayer rollback DEPLOYMENT [REVISION]. */
#include "cli/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int zl_cli_cmd_history(struct zl_cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    enum zl_cli_format fmt = ZL_FMT_TABLE;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--format")) && i + 1 < argc) {
            if (zl_cli_parse_format(argv[++i], 3, &fmt) < 0)
                return zl_cli_usage(cli, argv[0], "--format is table or json");
        } else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return zl_cli_usage(cli, argv[0], "unexpected argument '%s'", argv[i]);
    }
    if (!name)
        return zl_cli_usage(cli, argv[0], "history needs a DEPLOYMENT");
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    char *path = zl_xasprintf("/api/v1/deployments/%s/revisions", name);
    json_t *j = zl_cli_get_json(cli, &d, path);
    free(path);
    zl_cli_dirs_fini(&d);
    if (!j)
        return ZL_EXIT_FAIL;
    if (fmt == ZL_FMT_JSON) {
        char *text = json_dumps(j, JSON_INDENT(2));
        puts(text);
        free(text);
    } else {
        printf("%-9s %-20s %s\n", "REVISION", "APPLIED", "NOTE");
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *e = json_array_get(j, i);
            time_t at = (time_t)json_integer_value(json_object_get(e, "created_at"));
            struct tm tm;
            char when[32];
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime_r(&at, &tm));
            printf("%-9lld %-20s %s%s\n", json_integer_value(json_object_get(e, "revision")), when,
                   json_is_true(json_object_get(e, "current")) ? "(current) " : "",
                   json_string_value(json_object_get(e, "note")));
        }
    }
    json_decref(j);
    return ZL_EXIT_OK;
}

int zl_cli_cmd_rollback(struct zl_cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    long long to = 0;
    bool wait = true;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "-b") || !strcmp(argv[i], "--background"))
            wait = false;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else if (argv[i][0] != '-' && !to && (to = strtoll(argv[i], &end, 10)) > 0 && !*end)
            continue;
        else
            return zl_cli_usage(cli, argv[0], "unexpected argument '%s'", argv[i]);
    }
    if (!name)
        return zl_cli_usage(cli, argv[0], "rollback needs a DEPLOYMENT");
    struct zl_cli_dirs d;
    zl_cli_dirs_init(&d);
    char *path = zl_xasprintf("/api/v1/deployments/%s/rollback", name);
    char body[64];
    snprintf(body, sizeof(body), to ? "{\"revision\": %lld}" : "{}", to);
    long long seq = zl_cli_events_mark(&d), rev = 0;
    struct zl_http_response r = {0};
    struct zl_err err;
    int rc = ZL_EXIT_OK;
    if (zl_cli_call(&d, "POST", path, body, &r, &err) < 0)
        rc = zl_cli_fail(cli, "%s", err.msg);
    else if (r.status != 200)
        rc = zl_cli_api_fail(cli, &r);
    else {
        json_t *j = json_loads(r.body, 0, NULL);
        rev = json_integer_value(json_object_get(j, "revision"));
        if (!cli->quiet)
            fprintf(stderr, "%s: rolling back to revision %lld (as revision %lld)\n", name,
                    json_integer_value(json_object_get(j, "rollback_to")), rev);
        json_decref(j);
    }
    zl_http_response_fini(&r);
    free(path);
    if (rc == 0 && wait)
        rc = zl_cli_wait_ready(cli, &d, name, 300, seq, rev);
    zl_cli_dirs_fini(&d);
    return rc;
}
