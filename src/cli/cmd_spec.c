/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_spec.c: `validate`, `spec validate` and `spec dump`: local work on a spec file. */
#include "cli/cli.h"
#include "spec/spec.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPEC_BYTES (16u << 20)

struct spec_opts {
    const char *file;
    bool strict;
    enum zl_cli_format format;
};

/* Parse [FILE] [--strict] [-f|--format F] [-q]. Returns -1 after printing a usage error. */
static int parse(struct zl_cli *cli, const char *cmd, unsigned formats, int argc, char **argv,
                 struct spec_opts *o, int *rc)
{
    static const struct option longs[] = {
        {"strict", no_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":f:qh", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            o->strict = true;
            break;
        case 'f':
            if (zl_cli_parse_format(optarg, formats, &o->format) < 0) {
                *rc = zl_cli_usage(cli, cmd, "unknown format '%s' for %s", optarg, cmd);
                return -1;
            }
            break;
        case 'q':
            cli->quiet = true;
            break;
        case 'h':
            zl_cli_print_help(zl_cli_find(cmd));
            *rc = ZL_EXIT_OK;
            return -1;
        case ':':
            *rc = zl_cli_usage(cli, cmd, "%s needs a value", argv[optind - 1]);
            return -1;
        default:
            *rc = zl_cli_usage(cli, cmd, "unknown flag '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (argc - optind > 1) {
        *rc = zl_cli_usage(cli, cmd, "too many arguments: give one spec file");
        return -1;
    }
    o->file = optind < argc ? argv[optind] : NULL;
    return 0;
}

/* Find, read and load the spec; prints diagnostics. Returns an exit code. */
static int load(struct zl_cli *cli, const struct spec_opts *o, struct zl_spec **spec, char **name)
{
    struct zl_err err;
    char *path = NULL;
    if (o->file) {
        path = zl_xstrdup(o->file);
    } else if (zl_spec_discover(".", &path, &err) < 0) {
        return zl_cli_fail(cli, "%s", err.msg);
    }
    char *buf;
    size_t len;
    if (zl_read_file(path, MAX_SPEC_BYTES, &buf, &len, &err) < 0) {
        free(path);
        return zl_cli_fail(cli, "%s", err.msg);
    }
    if (strcmp(path, "-") == 0) {
        free(path);
        path = zl_xstrdup("<stdin>");
    }
    struct zl_spec_opts so = {.strict = o->strict};
    struct zl_diags *d;
    int rc = zl_spec_load(path, buf, len, &so, spec, &d);
    zl_diags_print(d, path, stderr, cli->color_err);
    size_t errors = zl_diags_errors(d);
    zl_diags_free(d);
    free(buf);
    if (rc < 0) {
        zl_cli_fail(cli, "%s: %zu error%s; nothing was changed", path, errors,
                    errors == 1 ? "" : "s");
        free(path);
        return ZL_EXIT_FAIL;
    }
    *name = path;
    return ZL_EXIT_OK;
}

static void summary(struct zl_cli *cli, const struct zl_spec *s, const char *file,
                    enum zl_cli_format fmt)
{
    const struct zl_sval *root = zl_spec_root(s);
    const struct zl_sval *svcs = zl_sval_get(root, "services");
    size_t next = zl_sval_get(root, "externals")->n, ntun = zl_sval_get(root, "tunnels")->n;
    if (fmt == ZL_FMT_JSON) {
        json_t *names = json_array();
        for (size_t i = 0; i < svcs->n; i++)
            json_array_append_new(names, json_string(svcs->keys[i]));
        json_t *j = json_pack("{s:s, s:b, s:s, s:o, s:I, s:I}", "file", file, "valid", 1,
                              "deployment", zl_spec_deployment(s), "services", names, "externals",
                              (json_int_t)next, "tunnels", (json_int_t)ntun);
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
        return;
    }
    if (cli->quiet)
        return;
    const char *g = cli->color_out ? "\033[1;32m" : "", *r = cli->color_out ? "\033[0m" : "";
    printf("%s%s is valid%s: deployment %s, %zu service%s", g, file, r, zl_spec_deployment(s),
           svcs->n, svcs->n == 1 ? "" : "s");
    if (next)
        printf(", %zu external%s", next, next == 1 ? "" : "s");
    if (ntun)
        printf(", %zu tunnel%s", ntun, ntun == 1 ? "" : "s");
    putchar('\n');
    for (size_t i = 0; i < svcs->n && i < 50; i++) {
        const struct zl_sval *svc = svcs->items[i];
        printf("  %-24s %-8s %s\n", svcs->keys[i], zl_sval_str(svc, "rtype", ""),
               zl_sval_str(svc, "image.name", ""));
    }
    if (svcs->n > 50)
        printf("  ... and %zu more\n", svcs->n - 50);
}

static int do_validate(struct zl_cli *cli, const char *cmd, int argc, char **argv)
{
    struct spec_opts o = {.format = ZL_FMT_TABLE};
    int rc;
    if (parse(cli, cmd, 1u << ZL_FMT_TABLE | 1u << ZL_FMT_JSON, argc, argv, &o, &rc) < 0)
        return rc;
    struct zl_spec *s;
    char *name;
    if ((rc = load(cli, &o, &s, &name)) != ZL_EXIT_OK)
        return rc;
    summary(cli, s, name, o.format);
    zl_spec_free(s);
    free(name);
    return ZL_EXIT_OK;
}

int zl_cli_cmd_validate(struct zl_cli *cli, int argc, char **argv)
{
    return do_validate(cli, "validate", argc, argv);
}

static int do_dump(struct zl_cli *cli, int argc, char **argv)
{
    struct spec_opts o = {.format = ZL_FMT_YAML};
    int rc;
    if (parse(cli, "spec", 1u << ZL_FMT_YAML | 1u << ZL_FMT_JSON, argc, argv, &o, &rc) < 0)
        return rc;
    struct zl_spec *s;
    char *name;
    if ((rc = load(cli, &o, &s, &name)) != ZL_EXIT_OK)
        return rc;
    struct zl_buf out;
    zl_buf_init(&out);
    zl_spec_dump(s, o.format == ZL_FMT_JSON ? ZL_SPEC_JSON : ZL_SPEC_YAML, &out);
    fwrite(out.data, 1, out.len, stdout);
    zl_buf_fini(&out);
    zl_spec_free(s);
    free(name);
    return ZL_EXIT_OK;
}

int zl_cli_cmd_spec(struct zl_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return zl_cli_usage(cli, "spec", "missing subcommand: validate or dump");
    if (strcmp(argv[1], "validate") == 0)
        return do_validate(cli, "spec", argc - 1, argv + 1);
    if (strcmp(argv[1], "dump") == 0)
        return do_dump(cli, argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        zl_cli_print_help(zl_cli_find("spec"));
        return ZL_EXIT_OK;
    }
    return zl_cli_usage(cli, "spec", "unknown subcommand 'spec %s' (expected validate or dump)",
                        argv[1]);
}
