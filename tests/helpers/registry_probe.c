/* SPDX-License-Identifier: Apache-2.0 */
/* tests/helpers/registry_probe.c: drives the registry client for the integration tests:
 * resolve a reference and fetch its blobs into a store, or log in and out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image.h"

#define MAX_LIST 8
#define MAX_SEEN 64

struct probe {
    const char *root;
    bool has_platform;
    struct zl_platform platform;
    struct zl_registry_opts opts;
    const char *insecure[MAX_LIST + 1];
    const char *mirrors[MAX_LIST + 1];
    size_t ninsecure, nmirrors;
    bool progress;
    long slow_ms;
    /* the last progress of each blob, to tell a resume from a restart */
    char seen[MAX_SEEN][ZL_DIGEST_MAX];
    uint64_t last[MAX_SEEN];
    size_t nseen;
};

_Noreturn static void usage(void)
{
    fprintf(stderr,
            "usage: registry_probe [--root DIR] [--platform OS/ARCH[/VARIANT]] [--auth-file F]\n"
            "         [--insecure HOST]... [--mirror REG=HOST]... [--retries N] [--parallel N]\n"
            "         [--progress] [--slow-ms N] pull REF\n"
            "       registry_probe login AUTH_FILE REGISTRY USER   (password in "
            "$ZL_PROBE_PASSWORD)\n"
            "       registry_probe logout AUTH_FILE REGISTRY\n");
    exit(2);
}

static void on_progress(void *ctx, const char *digest, uint64_t done, uint64_t total)
{
    struct probe *p = ctx;
    size_t i;

    for (i = 0; i < p->nseen && strcmp(p->seen[i], digest) != 0; i++)
        ;
    if (i == p->nseen && i < MAX_SEEN) {
        snprintf(p->seen[i], ZL_DIGEST_MAX, "%s", digest);
        p->nseen++;
        if (p->progress)
            fprintf(stderr, "first %s %llu %llu\n", digest, (unsigned long long)done,
                    (unsigned long long)total);
    } else if (i < MAX_SEEN && done < p->last[i] && p->progress) {
        fprintf(stderr, "restart %s %llu\n", digest, (unsigned long long)p->last[i]);
    }
    if (i < MAX_SEEN)
        p->last[i] = done;
    if (p->progress)
        fprintf(stderr, "progress %s %llu %llu\n", digest, (unsigned long long)done,
                (unsigned long long)total);
    if (p->slow_ms > 0)
        usleep((useconds_t)p->slow_ms * 1000);
}

static void print_manifest(const struct zl_manifest *m)
{
    printf("manifest %s\nmedia-type %s\n", m->digest, m->media_type);
    if (m->index_raw)
        printf("index %s\n", m->index_digest);
    printf("config %s %s\n", m->config_digest, m->config_media_type);
    for (size_t i = 0; i < m->nlayers; i++)
        printf("layer %s %s %llu\n", m->layers[i].digest, m->layers[i].media_type,
               (unsigned long long)m->layers[i].size);
    printf("wasm %s\n", m->is_wasm ? "true" : "false");
}

static int fetch(struct probe *p, struct zl_registry *r, const char *ref,
                 const struct zl_manifest *m, struct zl_err *err)
{
    struct zl_image_store *s = NULL;
    struct zl_blob_req *reqs = calloc(m->nlayers + 1, sizeof(*reqs));
    int rc;

    if (!reqs || zl_image_store_open(p->root, &s, err) < 0) {
        free(reqs);
        return -1;
    }
    reqs[0].digest = m->config_digest;
    reqs[0].size = m->config_size;
    for (size_t i = 0; i < m->nlayers; i++) {
        reqs[i + 1].digest = m->layers[i].digest;
        reqs[i + 1].size = m->layers[i].size;
    }
    rc = zl_registry_fetch_blobs(r, ref, reqs, m->nlayers + 1, s, on_progress, p, err);
    free(reqs);
    zl_image_store_close(s);
    return rc;
}

static int pull(struct probe *p, const char *ref)
{
    struct zl_err err = {0};
    struct zl_manifest m;
    struct zl_registry *r;
    int rc = -1;

    p->opts.insecure = p->insecure;
    p->opts.mirrors = p->mirrors;
    if (!(r = zl_registry_new(&p->opts, &err)))
        goto out;
    rc = zl_registry_resolve(r, ref, p->has_platform ? &p->platform : NULL, &m, &err);
    if (rc == 0) {
        print_manifest(&m);
        if (p->root)
            rc = fetch(p, r, ref, &m, &err);
        zl_manifest_fini(&m);
    }
out:
    zl_registry_free(r);
    if (rc < 0) {
        fprintf(stderr, "registry_probe: %s\n", err.msg);
        return 1;
    }
    printf("ok\n");
    return 0;
}

static int login(int argc, char **argv)
{
    struct zl_err err = {0};
    const char *pass = getenv("ZL_PROBE_PASSWORD");
    int rc;

    if (argc == 4 && strcmp(argv[0], "login") == 0)
        rc = zl_registry_login(argv[1], argv[2], argv[3], pass ? pass : "", &err);
    else if (argc == 3 && strcmp(argv[0], "logout") == 0)
        rc = zl_registry_logout(argv[1], argv[2], &err);
    else
        usage();
    if (rc < 0) {
        fprintf(stderr, "registry_probe: %s\n", err.msg);
        return 1;
    }
    printf("ok\n");
    return 0;
}

static void add(const char **list, size_t *n, const char *v)
{
    if (*n >= MAX_LIST)
        usage();
    list[(*n)++] = v;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"root", 1, NULL, 'r'},     {"platform", 1, NULL, 'p'}, {"auth-file", 1, NULL, 'a'},
        {"insecure", 1, NULL, 'i'}, {"mirror", 1, NULL, 'm'},   {"retries", 1, NULL, 'R'},
        {"parallel", 1, NULL, 'P'}, {"progress", 0, NULL, 'g'}, {"slow-ms", 1, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    static struct probe p;
    struct zl_err err = {0};
    int c;

    setvbuf(stdout, NULL, _IOLBF, 0);
    while ((c = getopt_long(argc, argv, "+", longs, NULL)) != -1) {
        switch (c) {
        case 'r':
            p.root = optarg;
            break;
        case 'a':
            p.opts.auth_file = optarg;
            break;
        case 'i':
            add(p.insecure, &p.ninsecure, optarg);
            break;
        case 'm':
            add(p.mirrors, &p.nmirrors, optarg);
            break;
        case 'R':
            p.opts.retries = atoi(optarg);
            break;
        case 'P':
            p.opts.max_parallel = atoi(optarg);
            break;
        case 'g':
            p.progress = true;
            break;
        case 's':
            p.slow_ms = atol(optarg);
            break;
        case 'p':
            if (zl_platform_parse(optarg, &p.platform, &err) < 0) {
                fprintf(stderr, "registry_probe: %s\n", err.msg);
                return 2;
            }
            p.has_platform = true;
            break;
        default:
            usage();
        }
    }
    if (optind + 2 == argc && strcmp(argv[optind], "pull") == 0)
        return pull(&p, argv[optind + 1]);
    if (optind < argc && strncmp(argv[optind], "log", 3) == 0)
        return login(argc - optind, argv + optind);
    usage();
}
