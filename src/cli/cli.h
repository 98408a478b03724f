/* SPDX-License-Identifier: Apache-2.0 */
/* cli: the command line: global flags, output formats, one file per command group. */
#ifndef ZL_CLI_H
#define ZL_CLI_H

#include <stdbool.h>

#include "util/util.h"

enum {
    ZL_EXIT_OK = 0,
    ZL_EXIT_FAIL = 1,
    ZL_EXIT_USAGE = 2,
};

enum zl_cli_format {
    ZL_FMT_TABLE = 0,
    ZL_FMT_JSON,
    ZL_FMT_YAML,
};

struct zl_cli {
    const char *prog;
    bool quiet;
    bool color_out; /* colour on stdout (a TTY, and not --no-color / NO_COLOR) */
    bool color_err; /* colour on stderr */
};

struct zl_cli_cmd {
    const char *name;
    int (*run)(struct zl_cli *cli, int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
    const char *usage; /* "validate [FILE] [--strict]" */
    const char *help;  /* the rest of `zlayer help CMD` */
};

/* The table of commands (main.c). */
extern const struct zl_cli_cmd zl_cli_commands[];
const struct zl_cli_cmd *zl_cli_find(const char *name);
void zl_cli_print_help(const struct zl_cli_cmd *cmd);

/* "Error: MESSAGE" on stderr; returns ZL_EXIT_FAIL. */
int zl_cli_fail(struct zl_cli *cli, const char *fmt, ...) ZL_PRINTF(2, 3);
/* A usage error naming the command to ask for help about; returns ZL_EXIT_USAGE. */
int zl_cli_usage(struct zl_cli *cli, const char *cmd, const char *fmt, ...) ZL_PRINTF(3, 4);
/* Parse a --format value; allowed is a mask of 1 << ZL_FMT_*. */
int zl_cli_parse_format(const char *s, unsigned allowed, enum zl_cli_format *out);

/* Commands */
int zl_cli_cmd_version(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_help(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_validate(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_spec(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_runtime(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_image(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_login(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_archive(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_serve(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_up(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_down(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_ps(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_control(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_history(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_rollback(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_events(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_logs(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_scale(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_status(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_exec(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_token(struct zl_cli *cli, int argc, char **argv);
int zl_cli_cmd_job(struct zl_cli *cli, int argc, char **argv);

#endif
