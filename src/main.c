/* SPDX-License-Identifier: Apache-2.0 */
/* main.c: global flags, the subcommand table and dispatch. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct zl_cli_cmd zl_cli_commands[] = {
    {"up", zl_cli_cmd_up, "Deploy a spec and follow it",
     "up [SPEC] [-b|--background] [-d|--detach-when-ready]",
     "Validates the spec here, starts the daemon if it is not running, and deploys. In the\n"
     "foreground it waits until every replica runs, then prints the services' output; Ctrl-C\n"
     "brings the deployment down. -b returns once the daemon has the spec; -d once every\n"
     "replica runs. $E:NAME values are taken from this shell's environment."},
    {"deploy", zl_cli_cmd_up, "Deploy a spec (and return)", "deploy [SPEC] [--wait]",
     "Like `up -b`; --wait returns once every replica runs and is healthy. A changed\n"
     "service is updated one replica at a time (a new one healthy before an old one\n"
     "stops); an update that fails is rolled back by the daemon and --wait exits 1 with\n"
     "the reason."},
    {"down", zl_cli_cmd_down, "Remove a deployment and its containers", "down [DEPLOYMENT]",
     "Without a name, the deployment of the spec found in this folder. Waits until its\n"
     "containers are gone (each stopped with SIGTERM, then SIGKILL after its grace period)."},
    {"ps", zl_cli_cmd_ps, "List deployments and services (or containers)",
     "ps [-c|--containers] [--stats] [--crashes] [-f table|json|yaml]",
     "Replicas running / wanted per service. --stats shows each container's address and\n"
     "network counters. --crashes lists the replicas that stopped on their own, newest\n"
     "first: exit code (128+N for signal N), OOM kills, last output."},
    {"logs", zl_cli_cmd_logs, "Show a service's output",
     "logs [-d DEPLOYMENT] SERVICE [-n|--tail N] [-r|--replica N] [--since T] [-f]",
     "The last N lines (100) of every replica, prefixed with SERVICE-REPLICA. --since\n"
     "takes a duration back from now (10m) or a UTC time (2026-01-02T03:04:05Z). -f\n"
     "streams what the replicas print next, replicas that start again included, until\n"
     "Ctrl-C or the deployment is removed."},
    {"stop", zl_cli_cmd_control, "Stop a deployment's replicas, keeping the deployment",
     "stop DEPLOYMENT [-s|--service SERVICE]",
     "Every replica of the deployment (or of one service) is stopped (SIGTERM, grace\n"
     "period, SIGKILL) and stays stopped until `zlayer start` or the next apply. Waits\n"
     "until they are gone (at most 120 s)."},
    {"start", zl_cli_cmd_control, "Start what zlayer stop stopped",
     "start DEPLOYMENT [-s|--service SERVICE]", "Waits until the deployment runs again."},
    {"restart", zl_cli_cmd_control, "Replace every replica of a deployment or service",
     "restart DEPLOYMENT [-s|--service SERVICE]",
     "Each replica is stopped and started anew (a stopped deployment is started). Waits\n"
     "until every replica is new and running (at most 120 s)."},
    {"history", zl_cli_cmd_history, "List a deployment's revisions",
     "history DEPLOYMENT [-f table|json]",
     "Every revision applied, oldest first, with what became of it: rolled back by the\n"
     "daemon (and why), or a rollback to an earlier revision."},
    {"rollback", zl_cli_cmd_rollback, "Go back to an earlier revision",
     "rollback DEPLOYMENT [REVISION] [-b]",
     "Applies REVISION (default: the one before the current) again, as a new revision,\n"
     "with a rolling update, and waits until it runs (-b: return at once)."},
    {"events", zl_cli_cmd_events, "Show lifecycle events as they happen",
     "events [-d DEPLOYMENT] [--no-follow]",
     "One JSON object per line: deployments applied, scaled, removed, their status; containers\n"
     "started, died (exit code, OOM kill) and removed. --no-follow prints the recent ones\n"
     "the daemon keeps (up to 512) and ends."},
    {"exec", zl_cli_cmd_exec, "Run a command in a service's replica",
     "exec [-d DEPLOYMENT] SERVICE [-r N] [-i] [-t] [--] COMMAND...",
     "Runs COMMAND in replica N (default: the first that runs) with the container's\n"
     "namespaces, cgroup, user and security settings; prints its output and exits with its\n"
     "exit code. -i attaches this stdin, -t (or -it) a terminal (a pty in the container);\n"
     "over TCP (ZLAYER_HOST) they go through an upgraded connection to the daemon."},
    {"scale", zl_cli_cmd_scale, "Set a service's replica count", "scale [-d DEPLOYMENT] SERVICE N",
     "Sets N replicas (0-100); it stays until the next scale."},
    {"job", zl_cli_cmd_job, "Run jobs and look at their runs",
     "job list [-f table|json] | job run NAME [-d DEPLOYMENT] [--wait] | job runs NAME "
     "[-d DEPLOYMENT] [-n N] [-f table|json] | job status RUN | job logs RUN | job cancel RUN",
     "Jobs are services with rtype: job (crons, rtype: cron, can be run by hand too).\n"
     "  list     every job and cron: name, deployment, type, schedule\n"
     "  run      start a run now and print its id; --wait follows it to its end, prints\n"
     "           its output and exits with its exit code (also: job trigger NAME)\n"
     "  runs     the newest N (50) runs: id, status, trigger, start, duration, exit code\n"
     "  status   one run as JSON\n"
     "  logs     a run's output (kept after it ended: the last 1 MiB)\n"
     "  cancel   stop a run (SIGTERM, SIGKILL after its grace period); waits until it ended\n"
     "-d picks the deployment when several have a job of that name. A job runs up to 10\n"
     "times at once; the newest 50 runs of each job are kept."},
    {"cron", zl_cli_cmd_job, "List, trigger, enable or disable crons",
     "cron list [-f table|json] | cron trigger NAME [-d DEPLOYMENT] [--wait] | "
     "cron enable|disable NAME [-d DEPLOYMENT]",
     "Crons are services with rtype: cron, run on their schedule (UTC) by the daemon.\n"
     "  list     name, deployment, schedule, enabled, last run and next fire time\n"
     "  trigger  run it now (refused while its previous run still goes)\n"
     "  enable, disable   a disabled cron lets its times pass (kept across restarts)\n"
     "A cron never overlaps itself: a time that falls while it runs is recorded as a\n"
     "skipped run. A time missed while the daemon was down runs once when it starts\n"
     "(trigger catch-up)."},
    {"status", zl_cli_cmd_status, "Is the daemon running?", "status",
     "The daemon's pid, version, socket and number of deployments; exit 1 when not running."},
    {"token", zl_cli_cmd_token, "Make a bearer token for the TCP API",
     "token create [--ttl SECS] [--role admin|operator|viewer]",
     "Asks the daemon over its local socket (root only) for an HS256 token valid for SECS\n"
     "(3600). Clients elsewhere use it with ZLAYER_HOST=tcp://HOST:PORT ZLAYER_TOKEN=...\n"
     "viewer: reads only; operator: also deploys, scales, stops, removes; admin: also exec."},
    {"serve", zl_cli_cmd_serve, "Run the node daemon", "serve [--daemon] [--bind ADDR[:PORT]]",
     "Serves the API on $ZLAYER_RUNTIME_DIR/zlayer.sock (root only) and keeps the deployments'\n"
     "replicas running and healthy: missing ones are created, crashed or unhealthy ones\n"
     "restarted with backoff (1 s doubling to 60 s), changed ones updated one at a time (and\n"
     "rolled back when the new ones fail); job runs and crons run. SIGTERM stops it;\n"
     "replicas keep running and the next daemon adopts them (job runs still going are\n"
     "stopped and recorded as failed). --daemon runs it in the background (log in\n"
     "$ZLAYER_RUNTIME_DIR/daemon.log). --bind also serves TCP (port 3669 by default), where\n"
     "every request but /health/* needs a bearer token (zlayer token create)."},
    {"validate", zl_cli_cmd_validate, "Check a deployment spec and report every problem",
     "validate [FILE|-] [--strict] [-f|--format table|json] [-q]",
     "Parses and validates a .zlayer.yml: YAML syntax, types, required and unknown keys, every\n"
     "field, cross-field and dependency rule. Problems are printed to stderr as\n"
     "FILE:LINE:COL: PATH: MESSAGE [RULE], in file order. Without FILE the spec is found in\n"
     "the current folder (.zlayer.yml, .zlayer.yaml, zlayer.yml, zlayer.yaml, or a single\n"
     "*.zlayer.yml, *.zlayer.yaml, zlayer.*.yml or zlayer.*.yaml); '-' reads standard input.\n\n"
     "  --strict        recommended rules (R-*) are errors instead of warnings\n"
     "  -f, --format    table (default) or json summary on success\n"
     "  -q, --quiet     print nothing on success\n\n"
     "Exit status: 0 valid, 1 invalid or unreadable, 2 usage error."},
    {"spec", zl_cli_cmd_spec, "Validate or dump a deployment spec",
     "spec validate [FILE|-] [--strict] | spec dump [FILE|-] [-f|--format yaml|json] [--strict]",
     "spec validate   the same as `zlayer validate`\n"
     "spec dump       print the spec with every default applied and values normalised\n"
     "                (durations, memory sizes, network modes); the YAML dump loads back to\n"
     "                the same dump. Nothing is printed to stdout when the spec is invalid."},
    {"runtime", zl_cli_cmd_runtime, "Run OCI bundles (the OCI runtime command line)",
     "runtime [--root DIR] [--backend native|crun|runc|PATH] [--log FILE] [--log-format text|json] "
     "COMMAND ...",
     "Commands, as podman, containerd and other OCI tools call them (also available as the\n"
     "binary invoked under the name zlayer-runtime):\n"
     "  create [--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot] ID\n"
     "  start ID | state ID | kill ID [SIGNAL] [--all] | delete [--force] ID\n"
     "  run [--bundle DIR] [-d] [--log-file F] ID   create + start; -d leaves a monitor\n"
     "                                             writing the output to F as JSON lines\n"
     "  exec [--process F | [-e K=V] [-u UID[:GID]] [--cwd D] ID CMD...] [-t] [-d]\n"
     "       [--pid-file F] [--console-socket S]\n"
     "  ps ID | stats ID | list | features\n\n"
     "State lives under --root (default $ZLAYER_RUNTIME_DIR/containers, /run/zlayer/containers).\n"
     "--backend (or $ZLAYER_RUNTIME_BACKEND) drives an external OCI runtime instead of the native\n"
     "one for create, start, run, state, kill, delete and exec."},
    {"pull", zl_cli_cmd_image, "Pull an image from a registry",
     "pull IMAGE [--platform OS/ARCH[/VARIANT]] [--policy always|newer|if_not_present|never] "
     "[-q] [--progress plain|json]",
     "Downloads the manifest, config and layers (several at once, each verified against its\n"
     "digest, resumed after an interruption) and unpacks every layer once into a snapshot that\n"
     "all images and containers share. Prints the image reference (with -q: its digest).\n"
     "Plain HTTP is used for localhost, 127.0.0.1 and the registries in\n"
     "$ZLAYER_INSECURE_REGISTRIES (comma-separated); $ZLAYER_REGISTRY_MIRRORS lists\n"
     "REGISTRY=MIRROR pairs. Credentials: zlayer login, $REGISTRY_AUTH_FILE,\n"
     "~/.docker/config.json. The store lives under $ZLAYER_ROOT_DIR (default /var/lib/zlayer)."},
    {"images", zl_cli_cmd_image, "List stored images", "images [-f table|json|yaml] [-q]",
     "Lists the stored images: reference, digest, platform, size, kind (image or wasm)."},
    {"image", zl_cli_cmd_image, "Inspect, list, remove or prune images",
     "image ls | inspect IMAGE... | rm IMAGE... | prune | pull IMAGE | mount IMAGE DIR | "
     "unmount DIR",
     "inspect prints the stored manifest, config and layers as JSON; rm removes references\n"
     "(rmi is the same); prune removes every blob and snapshot no image uses; mount makes\n"
     "DIR/rootfs an overlay of the image's layers with DIR/upper taking the writes, the root\n"
     "filesystem a container gets."},
    {"rmi", zl_cli_cmd_image, "Remove images", "rmi IMAGE...", "The same as `image rm`."},
    {"login", zl_cli_cmd_login, "Store registry credentials",
     "login REGISTRY -u USER [-p PASSWORD | --password-stdin] [--authfile F]",
     "Checks the credentials against the registry, then stores them (mode 0600) in\n"
     "$ZLAYER_ROOT_DIR/auth.json (or --authfile / $REGISTRY_AUTH_FILE). Without -p the\n"
     "password is read from the terminal without echo."},
    {"logout", zl_cli_cmd_login, "Forget registry credentials", "logout REGISTRY [--authfile F]",
     "Removes the stored credentials of REGISTRY."},
    {"export", zl_cli_cmd_archive, "Write an image as an OCI layout tar",
     "export IMAGE -o FILE [--gzip]",
     "Writes an OCI image layout archive that podman load, skopeo (oci-archive:) and\n"
     "zlayer import read."},
    {"import", zl_cli_cmd_archive, "Load an image from an archive", "import FILE [-t|--tag REF]",
     "Reads an OCI image layout tar (as written by export, skopeo or podman save --format\n"
     "oci-archive) or a docker save / podman save archive, verifies every blob and stores\n"
     "the image under REF (default: the name in the archive)."},
    {"version", zl_cli_cmd_version, "Print the version", "version [-f|--format table|json]",
     "Prints zlayer's version."},
    {"help", zl_cli_cmd_help, "Show help for a command", "help [COMMAND]",
     "Shows the list of commands, or the help of one."},
    {NULL, NULL, NULL, NULL, NULL},
};

const struct zl_cli_cmd *zl_cli_find(const char *name)
{
    for (const struct zl_cli_cmd *c = zl_cli_commands; name && c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void print_main_help(void)
{
    printf("zlayer %s: containers and deployments from one YAML file\n\n", ZL_VERSION);
    printf("Usage: zlayer [--no-color] [-q] COMMAND [ARGS...]\n\nCommands:\n");
    for (const struct zl_cli_cmd *c = zl_cli_commands; c->name; c++)
        printf("  %-10s %s\n", c->name, c->summary);
    printf("\nGlobal flags:\n"
           "  -h, --help       show help (also: zlayer help COMMAND, zlayer COMMAND --help)\n"
           "  -V, --version    print the version\n"
           "  --no-color       never colour output (also when NO_COLOR is set)\n"
           "  -q, --quiet      print only what is asked for\n");
}

void zl_cli_print_help(const struct zl_cli_cmd *cmd)
{
    if (!cmd) {
        print_main_help();
        return;
    }
    printf("Usage: zlayer %s\n\n%s\n\n%s\n", cmd->usage, cmd->summary, cmd->help);
}

int zl_cli_cmd_version(struct zl_cli *cli, int argc, char **argv)
{
    enum zl_cli_format fmt = ZL_FMT_TABLE;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--format")) && i + 1 < argc) {
            if (zl_cli_parse_format(argv[++i], 1u << ZL_FMT_TABLE | 1u << ZL_FMT_JSON, &fmt) < 0)
                return zl_cli_usage(cli, "version", "unknown format '%s'", argv[i]);
        } else {
            return zl_cli_usage(cli, "version", "unexpected argument '%s'", argv[i]);
        }
    }
    if (fmt == ZL_FMT_JSON)
        printf("{\"version\": \"%s\"}\n", ZL_VERSION);
    else
        printf("zlayer %s\n", ZL_VERSION);
    return ZL_EXIT_OK;
}

int zl_cli_cmd_help(struct zl_cli *cli, int argc, char **argv)
{
    if (argc < 2) {
        print_main_help();
        return ZL_EXIT_OK;
    }
    const struct zl_cli_cmd *c = zl_cli_find(argv[1]);
    if (!c)
        return zl_cli_usage(cli, NULL, "unknown command '%s'", argv[1]);
    zl_cli_print_help(c);
    return ZL_EXIT_OK;
}

/* Output that could not be written (a full disk, a closed pipe) is a failure. */
static int finish(struct zl_cli *cli, int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc == ZL_EXIT_OK)
            rc = zl_cli_fail(cli, "cannot write to standard output: %s", strerror(errno));
    }
    return rc;
}

static int run_main(struct zl_cli *cli, int argc, char **argv);

int main(int argc, char **argv)
{
    struct zl_cli cli = {.prog = "zlayer"};
    return finish(&cli, run_main(&cli, argc, argv));
}

static int run_main(struct zl_cli *clip, int argc, char **argv)
{
    struct zl_cli *cli = clip;
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (!strcmp(base, "zlayer-runtime")) {
        /* the OCI runtime name: `zlayer-runtime create ...` == `zlayer runtime create ...` */
        cli->prog = "zlayer-runtime";
        cli->color_err = false;
        argv[0] = "runtime";
        return zl_cli_cmd_runtime(cli, argc, argv);
    }
    bool color = getenv("NO_COLOR") == NULL || getenv("NO_COLOR")[0] == '\0';
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_main_help();
            return ZL_EXIT_OK;
        } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("zlayer %s\n", ZL_VERSION);
            return ZL_EXIT_OK;
        } else if (!strcmp(a, "--no-color")) {
            color = false;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            cli->quiet = true;
        } else {
            cli->color_err = color && isatty(STDERR_FILENO);
            return zl_cli_usage(cli, NULL, "unknown flag '%s'", a);
        }
    }
    /* Commands take --no-color too, wherever it is written. */
    for (int j = i; j < argc; j++)
        if (!strcmp(argv[j], "--no-color")) {
            color = false;
            memmove(&argv[j], &argv[j + 1], (size_t)(argc - j) * sizeof(*argv));
            argc--, j--;
        }
    cli->color_out = color && isatty(STDOUT_FILENO);
    cli->color_err = color && isatty(STDERR_FILENO);
    if (i >= argc) {
        print_main_help();
        return ZL_EXIT_USAGE;
    }
    const struct zl_cli_cmd *cmd = zl_cli_find(argv[i]);
    if (!cmd)
        return zl_cli_usage(cli, NULL, "unknown command '%s'", argv[i]);
    int rc = cmd->run(cli, argc - i, argv + i);
    return rc;
}
