/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_image.c: pull, images, image inspect/ls/rm/prune, rmi, login, logout, export,
 * import: local commands on the image store under $ZLAYER_ROOT_DIR. */
#include "cli/cli.h"
#include "image/image.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static char *root_dir(void)
{
    const char *r = getenv("ZLAYER_ROOT_DIR");
    return zl_xstrdup(r && *r ? r : "/var/lib/zlayer");
}

/* NULL-terminated list from a comma-separated environment variable (caller frees [0], list). */
static const char **env_list(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return NULL;
    char *copy = zl_xstrdup(v);
    size_t n = 1;
    for (const char *p = copy; *p; p++)
        n += *p == ',';
    const char **out = zl_xcalloc(n + 1, sizeof(*out));
    size_t i = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        out[i++] = t;
    if (i == 0)
        free(copy);
    return out;
}

static void free_list(const char **l)
{
    if (l && l[0])
        free((char *)l[0]);
    free(l);
}

struct ctx {
    struct zl_cli *cli;
    struct zl_images *im;
    const char **insecure, **mirrors;
};

static int open_images(struct zl_cli *cli, struct ctx *c)
{
    c->cli = cli;
    c->insecure = env_list("ZLAYER_INSECURE_REGISTRIES");
    c->mirrors = env_list("ZLAYER_REGISTRY_MIRRORS");
    struct zl_registry_opts ro = {.insecure = c->insecure, .mirrors = c->mirrors};
    char *root = root_dir();
    struct zl_err err;
    int rc = zl_images_open(root, &ro, &c->im, &err);
    free(root);
    return rc < 0 ? zl_cli_fail(cli, "%s", err.msg) : ZL_EXIT_OK;
}

static void close_images(struct ctx *c)
{
    zl_images_close(c->im);
    free_list(c->insecure);
    free_list(c->mirrors);
}

static void human(uint64_t n, char *buf, size_t cap)
{
    static const char *const u[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    int i = 0;
    while (v >= 1000 && i < 4)
        v /= 1000, i++;
    snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* ---------------- pull progress ---------------- */

struct progress {
    bool tty, json, quiet;
    size_t nlayers, done;
    uint64_t bytes;
    struct timespec t0;
};

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void on_event(void *ctx, enum zl_pull_phase ph, const char *digest, uint64_t done,
                     uint64_t total)
{
    static const char *const names[] = {"resolved", "downloading", "unpacking", "layer-done",
                                        "done"};
    struct progress *p = ctx;
    if (p->json) {
        printf("{\"event\":\"%s\",\"digest\":\"%s\",\"done\":%llu,\"total\":%llu}\n", names[ph],
               digest ? digest : "", (unsigned long long)done, (unsigned long long)total);
        fflush(stdout);
        return;
    }
    if (p->quiet)
        return;
    char a[32], b[32];
    const char *d = digest && !strncmp(digest, "sha256:", 7) ? digest + 7 : digest ? digest : "";
    switch (ph) {
    case ZL_PULL_RESOLVED:
        p->nlayers = total;
        fprintf(stderr, "manifest %.19s: %llu layer%s\n", digest, (unsigned long long)total,
                total == 1 ? "" : "s");
        break;
    case ZL_PULL_DOWNLOADING: {
        if (!p->tty)
            break;
        double t = since(&p->t0);
        char speed[32];
        human(done, a, sizeof(a));
        human(total, b, sizeof(b));
        human(t > 0.01 ? (uint64_t)((double)done / t) : 0, speed, sizeof(speed));
        fprintf(stderr, "\r\033[K%.12s: downloading %s / %s (%s/s)", d, a, b, speed);
        if (done == total)
            fprintf(stderr, "\r\033[K%.12s: downloaded and verified %s\n", d, b);
        break;
    }
    case ZL_PULL_UNPACKING:
        if (p->tty)
            fprintf(stderr, "\r\033[K%.12s: unpacking", d);
        break;
    case ZL_PULL_LAYER_DONE:
        p->done++;
        fprintf(stderr, p->tty ? "\r\033[K%.12s: ready (%zu/%zu)\n" : "%.12s: ready (%zu/%zu)\n", d,
                p->done, p->nlayers);
        break;
    case ZL_PULL_DONE:
        break;
    }
}

static int cmd_pull(struct zl_cli *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"platform", required_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},
        {"policy", required_argument, NULL, 'p'},
        {"progress", required_argument, NULL, 'g'},
        {NULL, 0, NULL, 0},
    };
    struct progress pr = {.tty = isatty(STDERR_FILENO)};
    struct zl_platform plat, *pp = NULL;
    enum zl_pull_policy policy = ZL_PULL_ALWAYS;
    struct zl_err err;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:q", longs, NULL)) != -1) {
        if (c == 'P') {
            if (zl_platform_parse(optarg, &plat, &err) < 0)
                return zl_cli_usage(cli, "pull", "%s", err.msg);
            pp = &plat;
        } else if (c == 'q') {
            pr.quiet = true;
        } else if (c == 'p') {
            if (zl_pull_policy_parse(optarg, &policy) < 0)
                return zl_cli_usage(cli, "pull", "unknown pull policy '%s'", optarg);
        } else if (c == 'g' && (!strcmp(optarg, "json") || !strcmp(optarg, "plain"))) {
            pr.json = !strcmp(optarg, "json");
            pr.tty = false;
        } else {
            return zl_cli_usage(cli, "pull", "unknown or incomplete flag '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return zl_cli_usage(cli, "pull", "give one image to pull");
    struct ctx x;
    if (open_images(cli, &x) != ZL_EXIT_OK)
        return ZL_EXIT_FAIL;
    clock_gettime(CLOCK_MONOTONIC, &pr.t0);
    struct zl_image_info info;
    int rc = zl_images_pull(x.im, argv[optind], pp, policy, on_event, &pr, &info, &err);
    if (rc == 0) {
        if (!pr.json)
            printf(pr.quiet ? "%s\n" : "%s\n", pr.quiet ? info.digest : info.ref);
        if (!pr.quiet && !pr.json)
            fprintf(stderr, "pulled %s (%s) in %.2f s\n", info.ref, info.digest, since(&pr.t0));
        zl_image_info_fini(&info);
    }
    close_images(&x);
    return rc < 0 ? zl_cli_fail(cli, "%s", err.msg) : ZL_EXIT_OK;
}

/* ---------------- images, inspect, rm, prune ---------------- */

static int cmd_images(struct zl_cli *cli, int argc, char **argv)
{
    enum zl_cli_format fmt = ZL_FMT_TABLE;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--format")) && i + 1 < argc) {
            if (zl_cli_parse_format(argv[++i], 7, &fmt) < 0)
                return zl_cli_usage(cli, "images", "unknown format '%s'", argv[i]);
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            cli->quiet = true;
        } else {
            return zl_cli_usage(cli, "images", "unexpected argument '%s'", argv[i]);
        }
    }
    struct ctx x;
    if (open_images(cli, &x) != ZL_EXIT_OK)
        return ZL_EXIT_FAIL;
    struct zl_image_info *list;
    size_t n;
    struct zl_err err;
    int rc = zl_images_list(x.im, &list, &n, &err);
    if (rc == 0 && fmt == ZL_FMT_TABLE && !cli->quiet)
        printf("%-50s %-14s %-12s %10s  %s\n", "REFERENCE", "DIGEST", "PLATFORM", "SIZE", "KIND");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct zl_image_info *m = &list[i];
        char size[32], plat[64];
        human(m->size, size, sizeof(size));
        snprintf(plat, sizeof(plat), "%s/%s", m->os, m->arch);
        if (cli->quiet)
            printf("%s\n", m->ref);
        else if (fmt == ZL_FMT_TABLE)
            printf("%-50s %-14.14s %-12s %10s  %s\n", m->ref, m->digest + 7, plat, size,
                   m->is_wasm ? "wasm" : "image");
        else if (fmt == ZL_FMT_JSON)
            printf("%s{\"ref\":\"%s\",\"digest\":\"%s\",\"os\":\"%s\",\"arch\":\"%s\","
                   "\"size\":%llu,\"created\":%lld,\"wasm\":%s}%s",
                   i ? "" : "[", m->ref, m->digest, m->os, m->arch, (unsigned long long)m->size,
                   (long long)m->created, m->is_wasm ? "true" : "false", i + 1 < n ? ",\n" : "]\n");
        else
            printf("- ref: \"%s\"\n  digest: \"%s\"\n  platform: \"%s\"\n  size: %llu\n", m->ref,
                   m->digest, plat, (unsigned long long)m->size);
    }
    if (rc == 0 && n == 0 && fmt == ZL_FMT_JSON)
        printf("[]\n");
    for (size_t i = 0; rc == 0 && i < n; i++)
        zl_image_info_fini(&list[i]);
    if (rc == 0)
        free(list);
    close_images(&x);
    return rc < 0 ? zl_cli_fail(cli, "%s", err.msg) : ZL_EXIT_OK;
}

static int one_image(struct zl_cli *cli, const char *cmd, int argc, char **argv)
{
    if (argc < 2)
        return zl_cli_usage(cli, "image", "%s needs an image", cmd);
    struct ctx x;
    if (open_images(cli, &x) != ZL_EXIT_OK)
        return ZL_EXIT_FAIL;
    struct zl_err err;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        if (!strcmp(cmd, "inspect")) {
            char *json = NULL;
            rc = zl_images_inspect(x.im, argv[i], &json, &err);
            if (rc == 0)
                printf("%s\n", json);
            free(json);
        } else {
            rc = zl_images_remove(x.im, argv[i], &err);
            if (rc == 0 && !cli->quiet)
                printf("removed %s\n", argv[i]);
        }
    }
    close_images(&x);
    return rc < 0 ? zl_cli_fail(cli, "%s", err.msg) : ZL_EXIT_OK;
}

static int cmd_prune(struct zl_cli *cli)
{
    struct ctx x;
    if (open_images(cli, &x) != ZL_EXIT_OK)
        return ZL_EXIT_FAIL;
    struct zl_err err;
    uint64_t freed = 0;
    int rc = zl_images_prune(x.im, &freed, &err);
    char h[32];
    human(freed, h, sizeof(h));
    if (rc == 0 && !cli->quiet)
        printf("freed %s\n", h);
    close_images(&x);
    return rc < 0 ? zl_cli_fail(cli, "%s", err.msg) : ZL_EXIT_OK;
}

/* image mount IMAGE DIR: DIR/rootfs becomes an overlay of the image's snapshots over
 * DIR/upper; what a container's root filesystem is made of. */
static int cmd_mount(struct zl_cli *cli, int argc, char **argv)
{
    bool un = !strcmp(argv[0], "unmount") || !strcmp(argv[0], "umount");
    if (argc != (un ? 2 : 3))
        return zl_cli_usage(cli, "image", un ? "unmount needs DIR" : "mount needs IMAGE DIR");
    struct zl_err err;
    if (un)
        return zl_image_rootfs_unmount(argv[1], &err) < 0 ? zl_cli_fail(cli, "%s", err.msg)
                                                          : ZL_EXIT_OK;
    struct ctx x;
    if (open_images(cli, &x) != ZL_EXIT_OK)
        return ZL_EXIT_FAIL;
    struct zl_image_info info = {0};
    struct timespec t0;
    int rc = zl_images_get(x.im, argv[1], &info, &err);
    if (rc == 0 && info.is_wasm)
        rc = zl_err_set(&err, ZL_EINVAL, "%s is a WASM artifact, not a filesystem", info.ref);
    if (rc == 0) {
        const char **ids = zl_xcalloc(info.nlayers + 1, sizeof(*ids));
        for (size_t i = 0; i < info.nlayers; i++)
            ids[i] = info.chain_ids[i];
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = zl_image_rootfs_mount(zl_images_store(x.im), ids, info.nlayers, argv[2], &err);
        if (rc == 0 && !cli->quiet)
            printf("%s/rootfs: %zu layer%s mounted in %.2f ms\n", argv[2], info.nlayers,
                   info.nlayers == 1 ? "" : "s", since(&t0) * 1000);
        free(ids);
    }
    zl_image_info_fini(&info);
    close_images(&x);
    return rc < 0 ? zl_cli_fail(cli, "%s", err.msg) : ZL_EXIT_OK;
}

int zl_cli_cmd_image(struct zl_cli *cli, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(argv[0], "pull"))
        return cmd_pull(cli, argc, argv);
    if (!strcmp(argv[0], "images"))
        return cmd_images(cli, argc, argv);
    if (!strcmp(argv[0], "rmi"))
        return one_image(cli, "rm", argc, argv);
    if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
        return cmd_images(cli, argc - 1, argv + 1);
    if (!strcmp(sub, "inspect"))
        return one_image(cli, "inspect", argc - 1, argv + 1);
    if (!strcmp(sub, "rm") || !strcmp(sub, "remove"))
        return one_image(cli, "rm", argc - 1, argv + 1);
    if (!strcmp(sub, "prune"))
        return cmd_prune(cli);
    if (!strcmp(sub, "pull"))
        return cmd_pull(cli, argc - 1, argv + 1);
    if (!strcmp(sub, "mount") || !strcmp(sub, "unmount") || !strcmp(sub, "umount"))
        return cmd_mount(cli, argc - 1, argv + 1);
    return zl_cli_usage(cli, "image", "unknown image command '%s'", sub);
}

/* ---------------- login, logout, export, import ---------------- */

static char *read_password(bool from_stdin)
{
    char buf[1024];
    struct termios saved, t;
    bool tty = !from_stdin && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        fprintf(stderr, "Password: ");
        t = saved;
        t.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    char *got = fgets(buf, sizeof(buf), stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        fputc('\n', stderr);
    }
    if (!got)
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    return zl_xstrdup(buf);
}

int zl_cli_cmd_login(struct zl_cli *cli, int argc, char **argv)
{
    bool logout = !strcmp(argv[0], "logout"), stdin_pw = false;
    const char *user = NULL, *pass = NULL, *reg = NULL, *auth = getenv("REGISTRY_AUTH_FILE");
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-u") || !strcmp(argv[i], "--username")) && i + 1 < argc)
            user = argv[++i];
        else if ((!strcmp(argv[i], "-p") || !strcmp(argv[i], "--password")) && i + 1 < argc)
            pass = argv[++i];
        else if (!strcmp(argv[i], "--password-stdin"))
            stdin_pw = true;
        else if (!strcmp(argv[i], "--authfile") && i + 1 < argc)
            auth = argv[++i];
        else if (argv[i][0] != '-' && !reg)
            reg = argv[i];
        else
            return zl_cli_usage(cli, argv[0], "unexpected argument '%s'", argv[i]);
    }
    if (!reg)
        return zl_cli_usage(cli, argv[0], "%s needs a registry", argv[0]);
    char *own = auth ? NULL : zl_registry_default_auth_file();
    struct zl_err err;
    int rc;
    if (logout) {
        rc = zl_registry_logout(auth ? auth : own, reg, &err);
    } else {
        if (!user) {
            free(own);
            return zl_cli_usage(cli, "login", "login needs --username");
        }
        char *pw = pass ? zl_xstrdup(pass) : read_password(stdin_pw);
        rc = pw ? zl_registry_login(auth ? auth : own, reg, user, pw, &err)
                : zl_err_set(&err, ZL_EINVAL, "no password given");
        if (pw)
            memset(pw, 0, strlen(pw));
        free(pw);
    }
    free(own);
    if (rc < 0)
        return zl_cli_fail(cli, "%s", err.msg);
    if (!cli->quiet)
        printf(logout ? "logged out of %s\n" : "logged in to %s\n", reg);
    return ZL_EXIT_OK;
}

int zl_cli_cmd_archive(struct zl_cli *cli, int argc, char **argv)
{
    bool import = !strcmp(argv[0], "import"), gzip = false;
    const char *out = NULL, *tag = NULL, *what = NULL;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc && !import)
            out = argv[++i];
        else if (!strcmp(argv[i], "--gzip") && !import)
            gzip = true;
        else if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--tag")) && i + 1 < argc && import)
            tag = argv[++i];
        else if (argv[i][0] != '-' && !what)
            what = argv[i];
        else
            return zl_cli_usage(cli, argv[0], "unexpected argument '%s'", argv[i]);
    }
    if (!what || (!import && !out))
        return zl_cli_usage(cli, argv[0],
                            import ? "import needs a FILE" : "export needs an IMAGE and -o FILE");
    struct ctx x;
    if (open_images(cli, &x) != ZL_EXIT_OK)
        return ZL_EXIT_FAIL;
    struct zl_err err;
    struct zl_image_info info;
    int rc = import ? zl_images_import(x.im, what, tag, &info, &err)
                    : zl_images_export(x.im, what, out, gzip, &err);
    if (rc == 0 && import) {
        printf("%s\n", info.ref);
        zl_image_info_fini(&info);
    }
    close_images(&x);
    return rc < 0 ? zl_cli_fail(cli, "%s", err.msg) : ZL_EXIT_OK;
}
