/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_runtime.c: `zlayer runtime ...` (also the binary invoked as `zlayer-runtime`): the
 * OCI runtime command line that podman and containerd drive. */
#include "cli/cli.h"
#include "runtime/runtime.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct rt {
    struct zl_cli *cli;
    struct zl_runtime_backend *be;
    const char *backend;
    char *root;
    const char *log;
    bool log_json;
};

/* Errors go to stderr and, with --log, to that file (JSON with --log-format json), where
 * podman's conmon looks for them. */
static int rt_fail(struct rt *r, const char *msg)
{
    if (r->log) {
        FILE *f = fopen(r->log, "ae");
        if (f) {
            time_t now = time(NULL);
            char ts[32];
            strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
            if (r->log_json) {
                fputs("{\"level\":\"error\",\"time\":\"", f);
                fputs(ts, f);
                fputs("\",\"msg\":\"", f);
                for (const char *p = msg; *p; p++) {
                    if (*p == '"' || *p == '\\')
                        fputc('\\', f);
                    fputc(*p == '\n' ? ' ' : *p, f);
                }
                fputs("\"}\n", f);
            } else {
                fprintf(f, "%s error: %s\n", ts, msg);
            }
            fclose(f);
        }
    }
    return zl_cli_fail(r->cli, "%s", msg);
}

static int need_id(struct rt *r, const char *cmd, int argc, char **argv, int at)
{
    if (at >= argc)
        return zl_cli_usage(r->cli, "runtime", "%s needs a container id", cmd);
    (void)argv;
    return 0;
}

static int cmd_create_run(struct rt *r, int argc, char **argv, bool run)
{
    static const struct option longs[] = {
        {"bundle", required_argument, NULL, 'b'},
        {"pid-file", required_argument, NULL, 'p'},
        {"console-socket", required_argument, NULL, 'c'},
        {"no-pivot", no_argument, NULL, 'n'},
        {"detach", no_argument, NULL, 'd'},
        {"log-file", required_argument, NULL, 'l'},
        {"no-new-keyring", no_argument, NULL, 'k'},
        {"preserve-fds", required_argument, NULL, 'f'},
        {"hold", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct zl_runtime_create_opts o = {.root = r->root, .bundle = "."};
    bool detach = false, monitor = !strcmp(argv[0], "_monitor");
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:b:dp:", longs, NULL)) != -1) {
        switch (c) {
        case 'b':
            o.bundle = optarg;
            break;
        case 'p':
            o.pid_file = optarg;
            break;
        case 'c':
            o.console_socket = optarg;
            break;
        case 'n':
            o.no_pivot = true;
            break;
        case 'd':
            detach = true;
            break;
        case 'l':
            o.log_file = optarg;
            break;
        case 'k':
        case 'f':
            break; /* keyrings are not created; no extra fds are passed */
        case 'H':
            o.hold = true;
            break;
        default:
            return zl_cli_usage(r->cli, "runtime", "unknown or incomplete flag '%s'",
                                argv[optind - 1]);
        }
    }
    if (need_id(r, argv[0], argc, argv, optind))
        return ZL_EXIT_USAGE;
    o.id = argv[optind];
    struct zl_err err;
    if (monitor)
        zl_runtime_monitor_main(&o, 3);
    if (!run)
        return zl_runtime_backend_create(r->be, &o, &err) < 0 ? rt_fail(r, err.msg) : ZL_EXIT_OK;
    int status = 0;
    if (zl_runtime_backend_run(r->be, &o, detach, &status, &err) < 0)
        return rt_fail(r, err.msg);
    if (detach)
        return ZL_EXIT_OK;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int cmd_exec(struct rt *r, int argc, char **argv)
{
    static const struct option longs[] = {
        {"process", required_argument, NULL, 'p'},
        {"tty", no_argument, NULL, 't'},
        {"detach", no_argument, NULL, 'd'},
        {"pid-file", required_argument, NULL, 'P'},
        {"console-socket", required_argument, NULL, 'c'},
        {"cwd", required_argument, NULL, 'w'},
        {"env", required_argument, NULL, 'e'},
        {"user", required_argument, NULL, 'u'},
        {"no-new-privs", no_argument, NULL, 'n'},
        {"preserve-fds", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    struct zl_runtime_exec_opts o = {.root = r->root};
    char **env = zl_xcalloc((size_t)argc + 1, sizeof(char *));
    size_t nenv = 0;
    unsigned preserve = 0;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:tde:u:w:", longs, NULL)) != -1) {
        switch (c) {
        case 'p':
            o.process_file = optarg;
            break;
        case 't':
            o.tty = true;
            break;
        case 'd':
            o.detach = true;
            break;
        case 'P':
            o.pid_file = optarg;
            break;
        case 'c':
            o.console_socket = optarg;
            break;
        case 'w':
            o.cwd = optarg;
            break;
        case 'e':
            env[nenv++] = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        case 'f':
            preserve = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            break;
        default:
            free(env);
            return zl_cli_usage(r->cli, "runtime", "unknown or incomplete flag '%s'",
                                argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        free(env);
        return zl_cli_usage(r->cli, "runtime", "exec needs a container id");
    }
    o.id = argv[optind++];
    if (optind < argc && !strcmp(argv[optind], "--"))
        optind++;
    o.args = argv + optind;
    o.env = env;
    /* what the caller left open (a threaded daemon's descriptors) stays out of the container,
     * but for the --preserve-fds ones after stdio */
    if (preserve < 1u << 20)
        close_range(3 + preserve, ~0U, CLOSE_RANGE_CLOEXEC);
    struct zl_err err;
    int status = 0;
    int rc = zl_runtime_backend_exec(r->be, &o, &status, &err);
    free(env);
    if (rc < 0)
        return rt_fail(r, err.msg);
    if (o.detach)
        return ZL_EXIT_OK;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int cmd_simple(struct rt *r, int argc, char **argv)
{
    const char *cmd = argv[0];
    bool force = false, all = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f"))
            force = true;
        else if (!strcmp(argv[i], "--all") || !strcmp(argv[i], "-a"))
            all = true;
        else
            return zl_cli_usage(r->cli, "runtime", "unknown flag '%s' for %s", argv[i], cmd);
    }
    if (need_id(r, cmd, argc, argv, i))
        return ZL_EXIT_USAGE;
    const char *id = argv[i];
    struct zl_err err;
    int rc = 0;
    if (!strcmp(cmd, "start")) {
        rc = zl_runtime_backend_start(r->be, id, &err);
    } else if (!strcmp(cmd, "delete")) {
        rc = zl_runtime_backend_delete(r->be, id, force, &err);
    } else if (!strcmp(cmd, "kill")) {
        int sig = i + 1 < argc ? zl_runtime_signal_parse(argv[i + 1]) : SIGTERM;
        if (sig < 0)
            return zl_cli_usage(r->cli, "runtime", "unknown signal '%s'", argv[i + 1]);
        rc = zl_runtime_backend_kill(r->be, id, sig, all, &err);
    } else if (!strcmp(cmd, "state")) {
        char *json = NULL;
        rc = zl_runtime_backend_state(r->be, id, &json, &err);
        if (rc == 0 && json && json[0] && json[strlen(json) - 1] == '\n')
            json[strlen(json) - 1] = '\0';
        if (rc == 0)
            printf("%s\n", json);
        free(json);
    } else if (!strcmp(cmd, "stats")) {
        char *json = NULL;
        rc = zl_runtime_stats_json(r->root, id, &json, &err);
        if (rc == 0)
            printf("%s\n", json);
        free(json);
    } else if (!strcmp(cmd, "ps")) {
        pid_t *pids = NULL;
        size_t n = 0;
        rc = zl_runtime_ps(r->root, id, &pids, &n, &err);
        if (rc == 0) {
            /* `ps --format json` (podman) and plain both print a JSON array of pids */
            putchar('[');
            for (size_t k = 0; k < n; k++)
                printf("%s%d", k ? "," : "", (int)pids[k]);
            puts("]");
        }
        free(pids);
    }
    return rc < 0 ? rt_fail(r, err.msg) : ZL_EXIT_OK;
}

static int cmd_list(struct rt *r)
{
    char *json = NULL;
    struct zl_err err;
    if (zl_runtime_list_json(r->root, &json, &err) < 0)
        return rt_fail(r, err.msg);
    printf("%s\n", json);
    free(json);
    return ZL_EXIT_OK;
}

static int cmd_features(void)
{
    puts("{\n"
         "  \"ociVersionMin\": \"1.0.0\",\n"
         "  \"ociVersionMax\": \"1.1.0\",\n"
         "  \"hooks\": [\"prestart\", \"createRuntime\", \"createContainer\", "
         "\"startContainer\", \"poststart\", \"poststop\"],\n"
         "  \"mountOptions\": [\"ro\", \"rw\", \"nosuid\", \"suid\", \"nodev\", \"dev\", "
         "\"noexec\", \"exec\", \"bind\", \"rbind\", \"private\", \"rprivate\", \"slave\", "
         "\"rslave\", \"shared\", \"rshared\", \"noatime\", \"relatime\", \"strictatime\"],\n"
         "  \"linux\": {\n"
         "    \"namespaces\": [\"cgroup\", \"ipc\", \"mount\", \"network\", \"pid\", \"user\", "
         "\"uts\"],\n"
         "    \"cgroup\": {\"v1\": true, \"v2\": true, \"systemd\": false},\n"
         "    \"seccomp\": {\"enabled\": true},\n"
         "    \"apparmor\": {\"enabled\": false},\n"
         "    \"selinux\": {\"enabled\": false}\n"
         "  }\n"
         "}");
    return ZL_EXIT_OK;
}

int zl_cli_cmd_runtime(struct zl_cli *cli, int argc, char **argv)
{
    struct rt r = {.cli = cli};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        size_t klen = eq ? (size_t)(eq - a) : strlen(a);
        bool takes = !strncmp(a, "--root", klen) || !strncmp(a, "--log", klen) ||
                     !strncmp(a, "--log-format", klen) || !strncmp(a, "--log-level", klen) ||
                     !strncmp(a, "--backend", klen);
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            zl_cli_print_help(zl_cli_find("runtime"));
            return ZL_EXIT_OK;
        }
        if (!strncmp(a, "--systemd-cgroup", klen) && klen == 16) {
            free(r.root);
            return zl_cli_fail(cli, "--systemd-cgroup: the systemd cgroup driver is not "
                                    "supported; use cgroupfs (cgroup_manager = \"cgroupfs\")");
        }
        if (!strcmp(a, "--debug") || !strcmp(a, "--rootless=false"))
            continue;
        if (!takes || !val) {
            free(r.root);
            return zl_cli_usage(cli, "runtime", "unknown or incomplete flag '%s'", a);
        }
        if (!eq)
            i++;
        if (!strncmp(a, "--root", klen) && klen == 6) {
            free(r.root);
            r.root = zl_xstrdup(val);
        } else if (!strncmp(a, "--log-format", klen) && klen == 12) {
            r.log_json = !strcmp(val, "json");
        } else if (!strncmp(a, "--log", klen) && klen == 5) {
            r.log = val;
        } else if (!strncmp(a, "--backend", klen) && klen == 9) {
            r.backend = val;
        }
    }
    if (!r.root)
        r.root = zl_runtime_default_root();
    if (!r.backend)
        r.backend = getenv("ZLAYER_RUNTIME_BACKEND");
    struct zl_err err;
    r.be = zl_runtime_backend_new(r.backend, r.root, &err);
    if (!r.be) {
        free(r.root);
        return zl_cli_fail(cli, "%s", err.msg);
    }
    int rc;
    if (i >= argc)
        rc = zl_cli_usage(cli, "runtime", "missing command");
    else if (!strcmp(argv[i], "create") || !strcmp(argv[i], "run") ||
             !strcmp(argv[i], "_monitor")) /* _monitor: what run -d execs (report on fd 3) */
        rc = cmd_create_run(&r, argc - i, argv + i, argv[i][0] == 'r');
    else if (!strcmp(argv[i], "start") || !strcmp(argv[i], "delete") || !strcmp(argv[i], "kill") ||
             !strcmp(argv[i], "state") || !strcmp(argv[i], "ps") || !strcmp(argv[i], "stats"))
        rc = cmd_simple(&r, argc - i, argv + i);
    else if (!strcmp(argv[i], "exec"))
        rc = cmd_exec(&r, argc - i, argv + i);
    else if (!strcmp(argv[i], "list"))
        rc = cmd_list(&r);
    else if (!strcmp(argv[i], "features"))
        rc = cmd_features();
    else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "version"))
        rc = printf("zlayer-runtime version %s\nspec: 1.1.0\n", ZL_VERSION) < 0;
    else
        rc = zl_cli_usage(cli, "runtime", "unknown runtime command '%s'", argv[i]);
    zl_runtime_backend_free(r.be);
    free(r.root);
    return rc;
}
