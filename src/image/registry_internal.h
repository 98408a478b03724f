/* SPDX-License-Identifier: Apache-2.0 */
/* image/registry_internal.h: what registry.c, auth.c and manifest.c share (the registry
 * object, endpoints, plain HTTP requests and the auth dance). */
#ifndef ZL_IMAGE_REGISTRY_INTERNAL_H
#define ZL_IMAGE_REGISTRY_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>

#include "image/image.h"

#define ZL_REG_DOC_MAX (4u << 20) /* manifests, indexes, token answers */

#define ZL_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define ZL_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define ZL_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define ZL_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* One place a registry's content can be fetched from: the registry or a mirror of it. */
struct zl_reg_endpoint {
    char host[256]; /* "127.0.0.1:5000", "registry-1.docker.io" */
    char name[256]; /* what credentials are looked up by: "docker.io", a mirror's host */
    bool http;      /* plain HTTP (insecure registry) */
};

/* A reference taken apart for the distribution API. */
struct zl_reg_target {
    char full[800];   /* "docker.io/library/busybox:latest", for messages */
    char name[256];   /* "docker.io", "127.0.0.1:5000": credentials and mirrors */
    char repo[256];   /* "library/busybox" */
    char ref[140];    /* the tag, or the digest when there is one */
    char digest[140]; /* "" or the reference's digest */
    char scope[300];  /* "repository:library/busybox:pull" */
    struct zl_reg_endpoint eps[8];
    size_t neps; /* mirrors first, the registry last */
};

/* A bounded response: the body and the few headers the client reads. */
struct zl_reg_resp {
    long status;
    struct zl_buf body;
    size_t max;
    bool overflow;
    char *content_type;
    char *digest;    /* Docker-Content-Digest */
    char *challenge; /* WWW-Authenticate, a Bearer one preferred */
};

struct zl_reg_auth; /* cached Authorization headers, by host and scope */

struct zl_registry {
    char *auth_file;
    char **insecure;
    char **mirrors;
    int max_parallel;
    int retries;
    struct zl_reg_auth *auth;
    size_t nauth;
    char *login_user; /* credentials given by zl_registry_login, instead of any file */
    char *login_pass;
};

/* registry.c */
void zl_image__reg_resp_init(struct zl_reg_resp *resp, size_t max);
void zl_image__reg_resp_fini(struct zl_reg_resp *resp);
/* GET url once the retry budget allows: 0 with any HTTP status in resp, or < 0 when the
 * connection kept failing. extra: more request headers or NULL. */
int zl_image__reg_http_get(struct zl_registry *r, const char *url, struct curl_slist *extra,
                           struct zl_reg_resp *resp, struct zl_err *err);
/* GET a registry URL with the auth dance (a challenge answered at most twice). */
int zl_image__reg_get(struct zl_registry *r, const struct zl_reg_endpoint *ep, const char *scope,
                      const char *url, const char *accept, struct zl_reg_resp *resp,
                      struct zl_err *err);
/* The endpoint of registry name ("docker.io" -> registry-1.docker.io over https). */
void zl_image__reg_endpoint(const struct zl_registry *r, const char *name,
                            struct zl_reg_endpoint *ep);
int zl_image__reg_target(struct zl_registry *r, const char *ref, struct zl_reg_target *t,
                         struct zl_err *err);
void zl_image__reg_sleep_ms(long ms);

/* auth.c */
/* "Authorization: ..." for a request to ep with scope, or NULL (caller frees). */
char *zl_image__reg_auth_header(struct zl_registry *r, const struct zl_reg_endpoint *ep,
                                const char *scope);
/* Answer the 401 in resp (Basic or Bearer): 0 when a retry may now succeed. sent: the
 * request carried an Authorization header. */
int zl_image__reg_auth_challenge(struct zl_registry *r, const struct zl_reg_endpoint *ep,
                                 const char *scope, const struct zl_reg_resp *resp, bool sent,
                                 struct zl_err *err);
void zl_image__reg_auth_free(struct zl_registry *r);

/* manifest.c */
/* "sha256:<hex>" of p[0..n) into out (ZL_DIGEST_MAX bytes). */
void zl_image__reg_sha256(const void *p, size_t n, char *out);
bool zl_image__reg_digest_ok(const char *s);
bool zl_image__reg_is_index(const char *media_type);
/* The digest of the manifest for platform want in index raw (what names it in messages), or
 * an error listing the platforms the index has. */
int zl_image__reg_pick(const char *raw, size_t len, const char *what,
                       const struct zl_platform *want, char *digest, struct zl_err *err);

#endif
