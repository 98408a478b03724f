/* SPDX-License-Identifier: Apache-2.0 */
/* cli/output.c: errors and formats shared by every command. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int zl_cli_fail(struct zl_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(cli->color_err ? "\033[1;31mError:\033[0m " : "Error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return ZL_EXIT_FAIL;
}

int zl_cli_usage(struct zl_cli *cli, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(cli->color_err ? "\033[1;31mError:\033[0m " : "Error: ", stderr);
    vfprintf(stderr, fmt, ap);
    if (cmd)
        fprintf(stderr, " (run '%s help %s' for usage)\n", cli->prog, cmd);
    else
        fprintf(stderr, " (run '%s --help' for usage)\n", cli->prog);
    va_end(ap);
    return ZL_EXIT_USAGE;
}

int zl_cli_parse_format(const char *s, unsigned allowed, enum zl_cli_format *out)
{
    static const char *const names[] = {"table", "json", "yaml"};
    for (unsigned i = 0; i < ZL_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0 && (allowed & (1u << i))) {
            *out = (enum zl_cli_format)i;
            return 0;
        }
    return -1;
}
