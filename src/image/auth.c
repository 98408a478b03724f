/* SPDX-License-Identifier: Apache-2.0 */
/* image/auth.c: registry credentials (docker config.json "auths"), the Basic and Bearer
 * token answers to a 401, and zlayer login/logout. Passwords and tokens are never printed. */
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "image/registry_internal.h"

#define AUTH_FILE_MAX (1u << 20)
#define TOKEN_TTL_MIN 60

struct zl_reg_auth {
    char *host;
    char *scope;   /* "*": every scope (Basic) */
    char *header;  /* "Authorization: ..." */
    int64_t until; /* CLOCK_MONOTONIC seconds it is good until */
};

struct cred {
    char *user;
    char *pass;
};

static void wipe(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void cred_fini(struct cred *c)
{
    free(c->user);
    wipe(c->pass);
    c->user = c->pass = NULL;
}

static int64_t now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* ---- base64 ---- */

static char *b64_encode(const char *s)
{
    size_t n = strlen(s);
    char *out = zl_xmalloc(4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

/* Decoded text, or NULL when s is not base64 (caller wipes and frees). */
static char *b64_decode(const char *s)
{
    size_t n = strlen(s), pad = 0;
    char *out;
    int k;

    if (n == 0 || n % 4 != 0 || n > 8192)
        return NULL;
    pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    out = zl_xmalloc(n / 4 * 3 + 1);
    k = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    if (k < 0 || (size_t)k < pad) {
        free(out);
        return NULL;
    }
    out[(size_t)k - pad] = '\0';
    return out;
}

/* ---- auth files ---- */

char *zl_registry_default_auth_file(void)
{
    const char *root = getenv("ZLAYER_ROOT_DIR");

    return zl_xasprintf("%s/auth.json", root && root[0] ? root : "/var/lib/zlayer");
}

/* Does an "auths" key name registry? Keys may carry a scheme and a path
 * ("https://index.docker.io/v1/"); Docker Hub goes by several names. */
static bool key_matches(const char *key, const char *registry)
{
    static const char *const hub[] = {"docker.io", "index.docker.io", "registry-1.docker.io"};
    size_t n;

    if (strncmp(key, "https://", 8) == 0)
        key += 8;
    else if (strncmp(key, "http://", 7) == 0)
        key += 7;
    n = strcspn(key, "/");
    if (strlen(registry) == n && strncmp(key, registry, n) == 0)
        return true;
    bool key_hub = false, reg_hub = false;
    for (size_t i = 0; i < ZL_ARRAY_LEN(hub); i++) {
        key_hub = key_hub || (strlen(hub[i]) == n && strncmp(key, hub[i], n) == 0);
        reg_hub = reg_hub || strcmp(registry, hub[i]) == 0;
    }
    return key_hub && reg_hub;
}

static int entry_cred(json_t *e, struct cred *c)
{
    const char *auth = json_string_value(json_object_get(e, "auth"));
    const char *user = json_string_value(json_object_get(e, "username"));
    const char *pass = json_string_value(json_object_get(e, "password"));
    char *plain, *colon;

    if (auth && auth[0]) {
        if (!(plain = b64_decode(auth)))
            return 0;
        if (!(colon = strchr(plain, ':'))) {
            wipe(plain);
            return 0;
        }
        *colon = '\0';
        c->user = zl_xstrdup(plain);
        c->pass = zl_xstrdup(colon + 1);
        wipe(plain);
        return 1;
    }
    if (!user || !pass)
        return 0;
    c->user = zl_xstrdup(user);
    c->pass = zl_xstrdup(pass);
    return 1;
}

/* 1 and c filled when file has credentials for registry; 0 when not (or unreadable). */
static int from_file(const char *file, const char *registry, struct cred *c)
{
    char *text = NULL;
    size_t len = 0;
    json_t *root, *auths, *e;
    const char *key;
    int found = 0;

    if (zl_read_file(file, AUTH_FILE_MAX, &text, &len, NULL) < 0)
        return 0;
    root = json_loadb(text, len, 0, NULL);
    explicit_bzero(text, len);
    free(text);
    auths = json_object_get(root, "auths");
    json_object_foreach(auths, key,
                        e) if (key_matches(key, registry) && (found = entry_cred(e, c))) break;
    json_decref(root);
    return found;
}

/* Credentials for registry: the explicit auth file only, or else the first of
 * $REGISTRY_AUTH_FILE, ~/.docker/config.json, zlayer's own file that has an entry. */
static int lookup(const struct zl_registry *r, const char *registry, struct cred *c)
{
    const char *env = getenv("REGISTRY_AUTH_FILE"), *home = getenv("HOME");
    zl_autofree char *docker = home ? zl_xasprintf("%s/.docker/config.json", home) : NULL;
    zl_autofree char *own = zl_registry_default_auth_file();

    memset(c, 0, sizeof(*c));
    if (r->login_user) {
        c->user = zl_xstrdup(r->login_user);
        c->pass = zl_xstrdup(r->login_pass);
        return 1;
    }
    if (r->auth_file)
        return from_file(r->auth_file, registry, c);
    if (env && env[0] && from_file(env, registry, c))
        return 1;
    if (docker && from_file(docker, registry, c))
        return 1;
    return from_file(own, registry, c);
}

/* ---- cached Authorization headers ---- */

static struct zl_reg_auth *cached(struct zl_registry *r, const char *host, const char *scope)
{
    for (size_t i = 0; i < r->nauth; i++)
        if (strcmp(r->auth[i].host, host) == 0 && strcmp(r->auth[i].scope, scope) == 0)
            return &r->auth[i];
    return NULL;
}

static void remember(struct zl_registry *r, const char *host, const char *scope, char *header,
                     int64_t until)
{
    struct zl_reg_auth *a = cached(r, host, scope);

    if (!a) {
        r->auth = zl_xrealloc(r->auth, (r->nauth + 1) * sizeof(*r->auth));
        a = &r->auth[r->nauth++];
        a->host = zl_xstrdup(host);
        a->scope = zl_xstrdup(scope);
    } else {
        wipe(a->header);
    }
    a->header = header;
    a->until = until;
}

char *zl_image__reg_auth_header(struct zl_registry *r, const struct zl_reg_endpoint *ep,
                                const char *scope)
{
    struct zl_reg_auth *a = cached(r, ep->host, scope ? scope : "");

    if (!a || (a->until && a->until <= now_s()))
        a = cached(r, ep->host, "*");
    if (!a || (a->until && a->until <= now_s()))
        return NULL;
    return zl_xstrdup(a->header);
}

void zl_image__reg_auth_free(struct zl_registry *r)
{
    for (size_t i = 0; i < r->nauth; i++) {
        free(r->auth[i].host);
        free(r->auth[i].scope);
        wipe(r->auth[i].header);
    }
    free(r->auth);
    r->auth = NULL;
    r->nauth = 0;
}

/* ---- challenges ---- */

struct challenge {
    char scheme[16];
    char realm[1024];
    char service[256];
    char scope[512];
};

/* Copy s into dst[cap], cut short when longer. */
static void copy(char *dst, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);

    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* One `key=value` or `key="quoted \" value"` pair at *s; advances *s. */
static void next_param(const char **s, struct challenge *c)
{
    const char *p = *s, *k = p;
    char val[1024];
    size_t kn, vn = 0;

    while (*p && *p != '=' && *p != ',' && *p != ' ')
        p++;
    kn = (size_t)(p - k);
    if (*p == '=') {
        bool quoted = *++p == '"';
        p += quoted;
        while (*p && (quoted ? *p != '"' : *p != ',')) {
            if (quoted && *p == '\\' && p[1])
                p++;
            if (vn + 1 < sizeof(val))
                val[vn++] = *p;
            p++;
        }
        p += quoted && *p == '"';
    }
    val[vn] = '\0';
    if (kn == 5 && strncasecmp(k, "realm", 5) == 0)
        copy(c->realm, sizeof(c->realm), val);
    else if (kn == 7 && strncasecmp(k, "service", 7) == 0)
        copy(c->service, sizeof(c->service), val);
    else if (kn == 5 && strncasecmp(k, "scope", 5) == 0)
        copy(c->scope, sizeof(c->scope), val);
    *s = p + (k == p && *p); /* always move on */
}

static void parse_challenge(const char *s, struct challenge *c)
{
    size_t n = strcspn(s, " ");

    memset(c, 0, sizeof(*c));
    snprintf(c->scheme, sizeof(c->scheme), "%.*s", (int)(n < 15 ? n : 15), s);
    s += n;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (*s)
            next_param(&s, c);
    }
}

/* GET the token from the realm, with Basic credentials when there are any. */
static int fetch_token(struct zl_registry *r, const struct zl_reg_endpoint *ep,
                       const struct challenge *c, const char *scope, const struct cred *cr,
                       struct zl_reg_resp *resp, struct zl_err *err)
{
    CURL *esc = curl_easy_init();
    struct curl_slist *h = NULL;
    struct zl_buf url;
    int rc;

    ZL_ASSERT(esc);
    zl_buf_init(&url);
    zl_buf_puts(&url, c->realm);
    char *sv = curl_easy_escape(esc, c->service, 0), *sc = curl_easy_escape(esc, scope, 0);
    zl_buf_printf(&url, "%sservice=%s", strchr(c->realm, '?') ? "&" : "?", sv);
    if (scope[0])
        zl_buf_printf(&url, "&scope=%s", sc);
    curl_free(sv);
    curl_free(sc);
    curl_easy_cleanup(esc);
    if (cr->user) {
        zl_autofree char *pair = zl_xasprintf("%s:%s", cr->user, cr->pass);
        char *b = b64_encode(pair);
        char *line = zl_xasprintf("Authorization: Basic %s", b);
        h = curl_slist_append(h, line);
        explicit_bzero(pair, strlen(pair));
        wipe(b);
        wipe(line);
    }
    rc = zl_image__reg_http_get(r, url.data, h, resp, err);
    curl_slist_free_all(h);
    zl_buf_fini(&url);
    if (rc < 0)
        return zl_err_wrap(err, "registry %s: token service", ep->host);
    return 0;
}

static int denied(const struct zl_reg_endpoint *ep, const struct cred *c, long status,
                  struct zl_err *err)
{
    if (c->user)
        return zl_err_set(err, EACCES,
                          "registry %s: authentication failed for user %s "
                          "(HTTP %ld)",
                          ep->host, c->user, status);
    return zl_err_set(err, EACCES,
                      "registry %s: authentication required (HTTP %ld) and no "
                      "credentials for %s were found (zlayer login)",
                      ep->host, status, ep->name);
}

static int bearer(struct zl_registry *r, const struct zl_reg_endpoint *ep, const char *scope,
                  const struct challenge *c, const struct cred *cr, struct zl_err *err)
{
    struct zl_reg_resp resp;
    json_t *root = NULL;
    int rc;

    if (strncmp(c->realm, "https://", 8) != 0 && strncmp(c->realm, "http://", 7) != 0)
        return zl_err_set(err, EPROTO,
                          "registry %s: the Bearer realm \"%.200s\" is not an "
                          "http(s) URL",
                          ep->host, c->realm);
    zl_image__reg_resp_init(&resp, ZL_REG_DOC_MAX);
    rc = fetch_token(r, ep, c, c->scope[0] ? c->scope : scope, cr, &resp, err);
    if (rc == 0 && (resp.status == 401 || resp.status == 403))
        rc = denied(ep, cr, resp.status, err);
    else if (rc == 0 && resp.status != 200)
        rc = zl_err_set(err, EIO, "registry %s: token service %.200s answered HTTP %ld", ep->host,
                        c->realm, resp.status);
    if (rc == 0)
        root = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    const char *tok = json_string_value(json_object_get(root, "token"));
    if (!tok || !tok[0])
        tok = json_string_value(json_object_get(root, "access_token"));
    json_int_t ttl = json_integer_value(json_object_get(root, "expires_in"));
    if (rc == 0 && (!tok || !tok[0] || strpbrk(tok, "\r\n")))
        rc = zl_err_set(err, EPROTO, "registry %s: token service %.200s sent no token", ep->host,
                        c->realm);
    if (rc == 0)
        remember(r, ep->host, scope, zl_xasprintf("Authorization: Bearer %s", tok),
                 now_s() + (ttl > TOKEN_TTL_MIN ? ttl : TOKEN_TTL_MIN) - 10);
    if (resp.body.data)
        explicit_bzero(resp.body.data, resp.body.len);
    json_decref(root);
    zl_image__reg_resp_fini(&resp);
    return rc;
}

int zl_image__reg_auth_challenge(struct zl_registry *r, const struct zl_reg_endpoint *ep,
                                 const char *scope, const struct zl_reg_resp *resp, bool sent,
                                 struct zl_err *err)
{
    struct challenge c;
    struct cred cr;
    int rc;

    if (!resp->challenge)
        return zl_err_set(err, EACCES,
                          "registry %s: HTTP %ld without a WWW-Authenticate "
                          "challenge",
                          ep->host, resp->status);
    parse_challenge(resp->challenge, &c);
    lookup(r, ep->name, &cr);
    if (sent && strcasecmp(c.scheme, "Bearer") == 0 && cr.user)
        rc = zl_err_set(err, EACCES, "registry %s: access to %s denied for user %s (HTTP %ld)",
                        ep->host, scope[0] ? scope : "/v2/", cr.user, resp->status);
    else if (sent || (strcasecmp(c.scheme, "Basic") == 0 && !cr.user))
        rc = denied(ep, &cr, resp->status, err);
    else if (strcasecmp(c.scheme, "Basic") == 0) {
        zl_autofree char *pair = zl_xasprintf("%s:%s", cr.user, cr.pass);
        char *b = b64_encode(pair);
        remember(r, ep->host, "*", zl_xasprintf("Authorization: Basic %s", b), 0);
        explicit_bzero(pair, strlen(pair));
        wipe(b);
        rc = 0;
    } else if (strcasecmp(c.scheme, "Bearer") == 0)
        rc = bearer(r, ep, scope, &c, &cr, err);
    else
        rc = zl_err_set(err, EPROTO,
                        "registry %s: unsupported authentication scheme "
                        "\"%s\"",
                        ep->host, c.scheme);
    cred_fini(&cr);
    return rc;
}

/* ---- login and logout ---- */

static int mkdir_p(const char *dir, struct zl_err *err)
{
    zl_autofree char *p = zl_xstrdup(dir);

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) == -1 && errno != EEXIST)
            return zl_err_sys(err, errno, "create %s", p);
        *s = '/';
    }
    if (mkdir(p, 0700) == -1 && errno != EEXIST)
        return zl_err_sys(err, errno, "create %s", p);
    return 0;
}

/* The auth file's JSON, or a new {"auths": {}} when it does not exist yet. */
static json_t *load(const char *path, struct zl_err *err)
{
    char *text = NULL;
    size_t len = 0;
    json_error_t jerr;
    json_t *root;
    struct zl_err rerr;

    if (zl_read_file(path, AUTH_FILE_MAX, &text, &len, &rerr) < 0) {
        if (rerr.code == -ENOENT)
            return json_pack("{s:{}}", "auths");
        *err = rerr;
        return NULL;
    }
    root = json_loadb(text, len, 0, &jerr);
    explicit_bzero(text, len);
    free(text);
    if (!json_is_object(root)) {
        json_decref(root);
        zl_err_set(err, ZL_EINVAL, "%s is not a JSON object (line %d: %s)", path, jerr.line,
                   jerr.text);
        return NULL;
    }
    if (!json_is_object(json_object_get(root, "auths")))
        json_object_set_new(root, "auths", json_object());
    return root;
}

/* Write root to path atomically: a 0600 temporary file beside it, synced, renamed. */
static int save(const char *path, json_t *root, struct zl_err *err)
{
    zl_autofree char *dir = zl_xstrdup(path);
    zl_autofree char *tmp = zl_xasprintf("%s.XXXXXX", path);
    char *slash = strrchr(dir, '/');
    char *text = json_dumps(root, JSON_INDENT(2));
    size_t n = strlen(text);
    int fd, rc = 0;

    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir_p(dir, err) < 0) {
            free(text);
            return err->code;
        }
    }
    if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
        free(text);
        return zl_err_sys(err, errno, "create a file beside %s", path);
    }
    if (fchmod(fd, 0600) == -1 || write(fd, text, n) != (ssize_t)n || write(fd, "\n", 1) != 1 ||
        fsync(fd) == -1)
        rc = zl_err_sys(err, errno, "write %s", tmp);
    if (close(fd) == -1 && rc == 0)
        rc = zl_err_sys(err, errno, "write %s", tmp);
    if (rc == 0 && rename(tmp, path) == -1)
        rc = zl_err_sys(err, errno, "rename %s to %s", tmp, path);
    if (rc < 0)
        unlink(tmp);
    explicit_bzero(text, n);
    free(text);
    return rc;
}

/* A registry name as users write it: "host[:port]", maybe with a scheme or a path. */
static int registry_name(const char *in, char *out, size_t cap, struct zl_err *err)
{
    const char *s = in;

    if (strncmp(s, "https://", 8) == 0)
        s += 8;
    else if (strncmp(s, "http://", 7) == 0)
        s += 7;
    size_t n = strcspn(s, "/");
    if (n == 0 || n >= cap || strpbrk(in, " \t\r\n\"@"))
        return zl_err_set(err, ZL_EINVAL, "invalid registry name \"%.100s\"", in);
    snprintf(out, cap, "%.*s", (int)n, s);
    if (strcmp(out, "index.docker.io") == 0 || strcmp(out, "registry-1.docker.io") == 0)
        snprintf(out, cap, "docker.io");
    return 0;
}

/* GET /v2/ with the given credentials: 200 means they work. */
static int verify(const char *registry, const char *user, const char *password, struct zl_err *err)
{
    struct zl_registry *r = zl_registry_new(NULL, err);
    struct zl_reg_endpoint ep;
    struct zl_reg_resp resp;
    int rc;

    if (!r)
        return err->code;
    r->login_user = zl_xstrdup(user);
    r->login_pass = zl_xstrdup(password);
    zl_image__reg_endpoint(r, registry, &ep);
    zl_autofree char *url = zl_xasprintf("%s://%s/v2/", ep.http ? "http" : "https", ep.host);
    zl_image__reg_resp_init(&resp, ZL_REG_DOC_MAX);
    rc = zl_image__reg_get(r, &ep, "", url, NULL, &resp, err);
    if (rc == 0 && resp.status == 401) {
        struct cred c = {.user = (char *)user};
        rc = denied(&ep, &c, resp.status, err);
    } else if (rc == 0 && resp.status != 200) {
        rc = zl_err_set(err, EIO, "registry %s: GET %s answered HTTP %ld", ep.host, url,
                        resp.status);
    }
    zl_image__reg_resp_fini(&resp);
    zl_registry_free(r);
    return rc;
}

int zl_registry_login(const char *auth_file, const char *registry, const char *user,
                      const char *password, struct zl_err *err)
{
    char name[256];
    zl_autofree char *path = auth_file ? zl_xstrdup(auth_file) : zl_registry_default_auth_file();
    json_t *root;
    int rc;

    if (registry_name(registry, name, sizeof(name), err) < 0)
        return err->code;
    if (!user || !user[0] || strchr(user, ':') || !password || !password[0])
        return zl_err_set(err, ZL_EINVAL,
                          "login %s: a user name (without ':') and a "
                          "password are needed",
                          name);
    if (verify(name, user, password, err) < 0)
        return zl_err_wrap(err, "login %s", name);
    if (!(root = load(path, err)))
        return zl_err_wrap(err, "login %s", name);
    zl_autofree char *pair = zl_xasprintf("%s:%s", user, password);
    char *b = b64_encode(pair);
    json_object_set_new(json_object_get(root, "auths"), name, json_pack("{s:s}", "auth", b));
    explicit_bzero(pair, strlen(pair));
    wipe(b);
    rc = save(path, root, err);
    json_decref(root);
    return rc;
}

int zl_registry_logout(const char *auth_file, const char *registry, struct zl_err *err)
{
    char name[256];
    zl_autofree char *path = auth_file ? zl_xstrdup(auth_file) : zl_registry_default_auth_file();
    json_t *root, *auths;
    const char *key;
    void *tmp;
    json_t *e;
    int removed = 0, rc;

    if (registry_name(registry, name, sizeof(name), err) < 0)
        return err->code;
    if (!(root = load(path, err)))
        return zl_err_wrap(err, "logout %s", name);
    auths = json_object_get(root, "auths");
    json_object_foreach_safe(auths, tmp, key, e)
    {
        if (key_matches(key, name)) {
            json_object_del(auths, key);
            removed++;
        }
    }
    rc = removed
             ? save(path, root, err)
             : zl_err_set(err, ZL_ENOTFOUND, "not logged in to %s (no entry in %s)", name, path);
    json_decref(root);
    return rc;
}
