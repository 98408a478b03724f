/* SPDX-License-Identifier: Apache-2.0 */
/* image/registry.c: the registry client: endpoints (mirrors, insecure registries), HTTP with
 * libcurl and retries, manifest resolution with platform selection, and blob downloads on
 * one curl multi handle. */
#include "image/image.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "image/registry_internal.h"
#include "spec/spec.h"

#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS   5000
#define MAX_PARALLEL     32
#define MAX_RETRIES      20
#define ACCEPT_MANIFESTS                                                      \
    "Accept: " ZL_MT_OCI_INDEX ", " ZL_MT_DOCKER_LIST ", " ZL_MT_OCI_MANIFEST \
    ", " ZL_MT_DOCKER_MANIFEST

/* ---- the registry object ---- */

static char **copy_list(const char **l)
{
    size_t n = 0;
    char **c;

    while (l && l[n])
        n++;
    c = zl_xcalloc(n + 1, sizeof(*c));
    for (size_t i = 0; i < n; i++)
        c[i] = zl_xstrdup(l[i]);
    return c;
}

static void free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

static int check_mirrors(const char **m, struct zl_err *err)
{
    for (size_t i = 0; m && m[i]; i++) {
        const char *eq = strchr(m[i], '=');
        if (!eq || eq == m[i] || !eq[1] || strlen(m[i]) > 250)
            return zl_err_set(err, ZL_EINVAL,
                              "invalid registry mirror \"%.100s\" (expected "
                              "registry=mirror-host[:port], e.g. docker.io=mirror:5000)",
                              m[i]);
    }
    return 0;
}

struct zl_registry *zl_registry_new(const struct zl_registry_opts *o, struct zl_err *err)
{
    struct zl_registry *r;

    if (o && check_mirrors(o->mirrors, err) < 0)
        return NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        zl_err_set(err, EIO, "libcurl initialisation failed");
        return NULL;
    }
    r = zl_xcalloc(1, sizeof(*r));
    r->auth_file = o && o->auth_file ? zl_xstrdup(o->auth_file) : NULL;
    r->insecure = copy_list(o ? o->insecure : NULL);
    r->mirrors = copy_list(o ? o->mirrors : NULL);
    r->max_parallel = o && o->max_parallel > 0 ? o->max_parallel : 4;
    if (r->max_parallel > MAX_PARALLEL)
        r->max_parallel = MAX_PARALLEL;
    r->retries = o && o->retries != 0 ? o->retries : 4;
    if (r->retries < 0)
        r->retries = 0;
    if (r->retries > MAX_RETRIES)
        r->retries = MAX_RETRIES;
    return r;
}

void zl_registry_free(struct zl_registry *r)
{
    if (!r)
        return;
    zl_image__reg_auth_free(r);
    free(r->auth_file);
    free_list(r->insecure);
    free_list(r->mirrors);
    free(r->login_user);
    if (r->login_pass) {
        explicit_bzero(r->login_pass, strlen(r->login_pass));
        free(r->login_pass);
    }
    free(r);
    curl_global_cleanup();
}

/* ---- endpoints ---- */

/* Length of the host part of "host[:port]" ("[::1]:5000" keeps its brackets). */
static size_t host_len(const char *h)
{
    const char *end = h[0] == '[' ? strchr(h, ']') : NULL;
    return end ? (size_t)(end - h + 1) : strcspn(h, ":");
}

static bool is_insecure(const struct zl_registry *r, const char *host)
{
    static const char *const local[] = {"localhost", "127.0.0.1", "[::1]"};
    size_t hl = host_len(host);

    for (size_t i = 0; i < ZL_ARRAY_LEN(local); i++)
        if (strlen(local[i]) == hl && strncmp(host, local[i], hl) == 0)
            return true;
    for (size_t i = 0; r->insecure[i]; i++) {
        const char *e = r->insecure[i];
        bool has_port = e[host_len(e)] == ':';
        if (strcmp(e, host) == 0 || (!has_port && strlen(e) == hl && !strncmp(e, host, hl)))
            return true;
    }
    return false;
}

void zl_image__reg_endpoint(const struct zl_registry *r, const char *name,
                            struct zl_reg_endpoint *ep)
{
    bool hub = strcmp(name, "docker.io") == 0 || strcmp(name, "index.docker.io") == 0;

    memset(ep, 0, sizeof(*ep));
    snprintf(ep->name, sizeof(ep->name), "%s", hub ? "docker.io" : name);
    snprintf(ep->host, sizeof(ep->host), "%s", hub ? "registry-1.docker.io" : name);
    ep->http = is_insecure(r, ep->host);
}

/* A mirror "name=host", "name=http://host" or "name=https://host" for registry name. */
static bool mirror_endpoint(const struct zl_registry *r, const char *spec, const char *name,
                            struct zl_reg_endpoint *ep)
{
    const char *eq = strchr(spec, '='), *host = eq + 1;
    int forced = -1;

    if ((size_t)(eq - spec) != strlen(name) || strncmp(spec, name, (size_t)(eq - spec)) != 0)
        return false;
    if (strncmp(host, "http://", 7) == 0)
        forced = 1, host += 7;
    else if (strncmp(host, "https://", 8) == 0)
        forced = 0, host += 8;
    memset(ep, 0, sizeof(*ep));
    snprintf(ep->host, sizeof(ep->host), "%.*s", (int)strcspn(host, "/"), host);
    memcpy(ep->name, ep->host, sizeof(ep->name));
    ep->http = forced >= 0 ? forced == 1 : is_insecure(r, ep->host);
    return true;
}

int zl_image__reg_target(struct zl_registry *r, const char *s, struct zl_reg_target *t,
                         struct zl_err *err)
{
    struct zl_image_ref a, b;
    const char *why = "";

    memset(t, 0, sizeof(*t));
    if (zl_image_ref_parse(s, strlen(s), &a, &why) < 0)
        return zl_err_set(err, ZL_EINVAL, "invalid image reference \"%.200s\": %s", s, why);
    zl_image_ref_normalize(&a, t->full, sizeof(t->full));
    /* parsed again, the normalised form names the registry and the full repository */
    if (zl_image_ref_parse(t->full, strlen(t->full), &b, &why) < 0)
        return zl_err_set(err, ZL_EINVAL, "invalid image reference \"%.200s\": %s", s, why);
    if (b.digest[0] && !zl_image__reg_digest_ok(b.digest))
        return zl_err_set(err, ZL_EINVAL,
                          "image reference \"%.200s\": only sha256 digests "
                          "are supported",
                          s);
    snprintf(t->name, sizeof(t->name), "%s", b.domain);
    snprintf(t->repo, sizeof(t->repo), "%s", b.path);
    snprintf(t->digest, sizeof(t->digest), "%s", b.digest);
    snprintf(t->ref, sizeof(t->ref), "%s", b.digest[0] ? b.digest : b.tag);
    snprintf(t->scope, sizeof(t->scope), "repository:%s:pull", t->repo);
    for (size_t i = 0; r->mirrors[i] && t->neps + 1 < ZL_ARRAY_LEN(t->eps); i++)
        if (mirror_endpoint(r, r->mirrors[i], t->name, &t->eps[t->neps]))
            t->neps++;
    zl_image__reg_endpoint(r, t->name, &t->eps[t->neps++]);
    return 0;
}

/* ---- HTTP ---- */

void zl_image__reg_resp_init(struct zl_reg_resp *resp, size_t max)
{
    memset(resp, 0, sizeof(*resp));
    zl_buf_init(&resp->body);
    resp->max = max;
}

static void resp_reset_headers(struct zl_reg_resp *resp)
{
    free(resp->content_type);
    free(resp->digest);
    free(resp->challenge);
    resp->content_type = resp->digest = resp->challenge = NULL;
    resp->status = 0;
}

void zl_image__reg_resp_fini(struct zl_reg_resp *resp)
{
    resp_reset_headers(resp);
    zl_buf_fini(&resp->body);
}

/* The trimmed value of header line p[0..n) when it is called name, else NULL. */
static char *header_value(const char *p, size_t n, const char *name)
{
    size_t k = strlen(name);

    if (n <= k || strncasecmp(p, name, k) != 0 || p[k] != ':')
        return NULL;
    p += k + 1, n -= k + 1;
    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    return zl_xstrndup(p, n);
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    struct zl_reg_resp *resp = ud;
    size_t n = sz * nm;
    char *v;

    if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or a 100): forget the last one's headers */
        resp_reset_headers(resp);
        const char *sp = memchr(p, ' ', n);
        resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    } else if ((v = header_value(p, n, "Content-Type"))) {
        free(resp->content_type), resp->content_type = v;
    } else if ((v = header_value(p, n, "Docker-Content-Digest"))) {
        free(resp->digest), resp->digest = v;
    } else if ((v = header_value(p, n, "WWW-Authenticate"))) {
        if (resp->challenge && strncasecmp(resp->challenge, "Bearer", 6) == 0)
            free(v);
        else
            free(resp->challenge), resp->challenge = v;
    }
    return n;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct zl_reg_resp *resp = ud;
    size_t n = sz * nm;

    if (resp->body.len + n > resp->max) {
        resp->overflow = true;
        return 0;
    }
    zl_buf_append(&resp->body, p, n);
    return n;
}

/* Options every request shares: timeouts that never hang, http(s) only, redirects. */
static CURL *easy_new(const char *url, char *errbuf)
{
    CURL *h = curl_easy_init();

    ZL_ASSERT(h);
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "zlayer/" ZL_VERSION);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    return h;
}

static long backoff_ms(int attempt)
{
    long ms = BACKOFF_FIRST_MS;

    for (int i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

void zl_image__reg_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static bool retry_status(long status)
{
    return status >= 500 || status == 429 || status == 408;
}

static bool retry_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static CURLcode get_once(const char *url, struct curl_slist *extra, struct zl_reg_resp *resp,
                         char *errbuf)
{
    CURL *h = easy_new(url, errbuf);
    CURLcode rc;

    resp_reset_headers(resp);
    resp->body.len = 0;
    resp->overflow = false;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, extra);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_cleanup(h);
    return rc;
}

int zl_image__reg_http_get(struct zl_registry *r, const char *url, struct curl_slist *extra,
                           struct zl_reg_resp *resp, struct zl_err *err)
{
    char errbuf[CURL_ERROR_SIZE];

    for (int attempt = 0;; attempt++) {
        CURLcode rc = get_once(url, extra, resp, errbuf);
        if (resp->overflow)
            return zl_err_set(err, EFBIG, "GET %s: the answer is larger than %zu bytes", url,
                              resp->max);
        bool again = rc != CURLE_OK ? retry_curl(rc) : retry_status(resp->status);
        if (!again || attempt >= r->retries) {
            if (rc == CURLE_OK)
                return 0;
            return zl_err_set(err, EIO, "GET %s: %s (after %d attempts)", url,
                              errbuf[0] ? errbuf : curl_easy_strerror(rc), attempt + 1);
        }
        zl_image__reg_sleep_ms(backoff_ms(attempt + 1));
    }
}

int zl_image__reg_get(struct zl_registry *r, const struct zl_reg_endpoint *ep, const char *scope,
                      const char *url, const char *accept, struct zl_reg_resp *resp,
                      struct zl_err *err)
{
    for (int round = 0; round < 3; round++) {
        struct curl_slist *h = NULL;
        zl_autofree char *auth = zl_image__reg_auth_header(r, ep, scope);
        int rc;

        if (accept)
            h = curl_slist_append(h, accept);
        if (auth)
            h = curl_slist_append(h, auth);
        rc = zl_image__reg_http_get(r, url, h, resp, err);
        curl_slist_free_all(h);
        if (rc < 0 || resp->status != 401 || round == 2)
            return rc;
        if (zl_image__reg_auth_challenge(r, ep, scope, resp, auth != NULL, err) < 0)
            return err->code;
    }
    return 0;
}

/* "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)": the status and the registry's own word. */
static void describe(const struct zl_reg_resp *resp, char *buf, size_t cap)
{
    json_t *root = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
    json_t *e0 = json_array_get(json_object_get(root, "errors"), 0);
    const char *code = json_string_value(json_object_get(e0, "code"));
    const char *msg = json_string_value(json_object_get(e0, "message"));

    if (code && msg)
        snprintf(buf, cap, "HTTP %ld (%.60s: %.200s)", resp->status, code, msg);
    else
        snprintf(buf, cap, "HTTP %ld", resp->status);
    json_decref(root);
}

/* ---- manifests ---- */

struct doc {
    char *raw;
    size_t len;
    char digest[ZL_DIGEST_MAX];
    bool index;
};

/* Is the document an index? Its mediaType, or a "manifests" list, or the Content-Type. */
static bool doc_is_index(const struct zl_reg_resp *resp)
{
    json_t *root = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    const char *mt = json_string_value(json_object_get(root, "mediaType"));
    bool idx = mt ? zl_image__reg_is_index(mt) : json_object_get(root, "manifests") != NULL;

    if (!mt && !idx && resp->content_type)
        idx = strncmp(resp->content_type, ZL_MT_OCI_INDEX, strlen(ZL_MT_OCI_INDEX)) == 0 ||
              strncmp(resp->content_type, ZL_MT_DOCKER_LIST, strlen(ZL_MT_DOCKER_LIST)) == 0;
    json_decref(root);
    return idx;
}

static int check_doc(const struct zl_reg_target *t, const struct zl_reg_endpoint *ep,
                     const char *ref, const char *want, struct zl_reg_resp *resp, struct doc *d,
                     struct zl_err *err)
{
    char why[300];

    if (resp->status != 200) {
        describe(resp, why, sizeof(why));
        return zl_err_set(err, resp->status == 404 ? ZL_ENOTFOUND : EIO,
                          "registry %s: manifest %s%s%s: %s", ep->host, t->repo,
                          strchr(ref, ':') ? "@" : ":", ref, why);
    }
    zl_image__reg_sha256(resp->body.data, resp->body.len, d->digest);
    if (want && want[0] && strcmp(want, d->digest) != 0)
        return zl_err_set(err, ZL_EINVAL,
                          "registry %s: manifest %s@%s does not match its digest "
                          "(the bytes hash to %s)",
                          ep->host, t->repo, ref, d->digest);
    if ((!want || !want[0]) && resp->digest && strncmp(resp->digest, "sha256:", 7) == 0 &&
        strcmp(resp->digest, d->digest) != 0)
        return zl_err_set(err, ZL_EINVAL,
                          "registry %s: manifest %s:%s: Docker-Content-Digest says %.80s "
                          "but the bytes hash to %s",
                          ep->host, t->repo, ref, resp->digest, d->digest);
    d->index = doc_is_index(resp);
    d->raw = zl_buf_steal(&resp->body, &d->len);
    return 0;
}

static int fetch_doc(struct zl_registry *r, const struct zl_reg_target *t,
                     const struct zl_reg_endpoint *ep, const char *ref, const char *want,
                     struct doc *d, struct zl_err *err)
{
    struct zl_reg_resp resp;
    zl_autofree char *url = zl_xasprintf("%s://%s/v2/%s/manifests/%s", ep->http ? "http" : "https",
                                         ep->host, t->repo, ref);
    int rc;

    zl_image__reg_resp_init(&resp, ZL_REG_DOC_MAX);
    rc = zl_image__reg_get(r, ep, t->scope, url, ACCEPT_MANIFESTS, &resp, err);
    if (rc == 0)
        rc = check_doc(t, ep, ref, want, &resp, d, err);
    zl_image__reg_resp_fini(&resp);
    return rc;
}

static int resolve_at(struct zl_registry *r, const struct zl_reg_target *t,
                      const struct zl_reg_endpoint *ep, const struct zl_platform *p,
                      struct zl_manifest *out, struct zl_err *err)
{
    struct doc top = {0}, sub = {0};
    char dg[ZL_DIGEST_MAX];
    int rc = fetch_doc(r, t, ep, t->ref, t->digest, &top, err);

    if (rc == 0 && !top.index) {
        if ((rc = zl_manifest_parse(top.raw, top.len, out, err)) < 0)
            zl_err_wrap(err, "%s", t->full);
        goto out;
    }
    if (rc == 0)
        rc = zl_image__reg_pick(top.raw, top.len, t->full, p, dg, err);
    if (rc == 0)
        rc = fetch_doc(r, t, ep, dg, dg, &sub, err);
    if (rc == 0 && sub.index)
        rc = zl_err_set(err, ZL_EINVAL,
                        "%s: the index entry %s is itself an index "
                        "(nested indexes are not supported)",
                        t->full, dg);
    if (rc == 0 && (rc = zl_manifest_parse(sub.raw, sub.len, out, err)) < 0)
        zl_err_wrap(err, "%s (%s)", t->full, dg);
    if (rc == 0) {
        out->index_raw = ZL_STEAL(top.raw);
        out->index_len = top.len;
        snprintf(out->index_digest, sizeof(out->index_digest), "%s", top.digest);
    }
out:
    free(top.raw);
    free(sub.raw);
    return rc;
}

int zl_registry_resolve(struct zl_registry *r, const char *ref, const struct zl_platform *p,
                        struct zl_manifest *out, struct zl_err *err)
{
    struct zl_reg_target t;
    struct zl_platform host;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (zl_image__reg_target(r, ref, &t, err) < 0)
        return err->code;
    if (!p) {
        zl_platform_host(&host);
        p = &host;
    }
    /* mirrors first; an error there falls through to the next endpoint, and is told too */
    struct zl_err first = {0};
    for (size_t i = 0; i < t.neps; i++) {
        rc = resolve_at(r, &t, &t.eps[i], p, out, err);
        if (rc == 0)
            return 0;
        zl_manifest_fini(out);
        if (i == 0)
            first = *err;
    }
    if (t.neps > 1) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof(err->msg) - n, " (mirror %s failed first: %s)", t.eps[0].host,
                 first.msg);
    }
    return rc;
}

/* ---- blobs: several downloads at once on one curl multi handle ---- */

enum xstate {
    X_WAIT = 0, /* queued, or waiting out a backoff */
    X_RUN,
    X_DONE,
    X_FAILED,
};

struct fetch;

struct xfer {
    struct fetch *f;
    const char *digest;
    uint64_t size;
    enum xstate state;
    struct zl_blob_writer *w;
    CURL *h;
    struct curl_slist *hdrs;
    struct zl_reg_resp resp; /* headers only */
    size_t ep;               /* endpoint in use (mirrors first) */
    int attempt;
    int64_t wake_ms;
    uint64_t start, done, reported;
    bool resumed;    /* some bytes came from an earlier attempt or run */
    bool fresh_done; /* a digest mismatch after a resume was retried from zero already */
    bool auth_tried;
    bool sent_auth; /* the request carried an Authorization header */
    bool bad;       /* the write side failed: err says why */
    struct zl_err err;
    char errbuf[CURL_ERROR_SIZE];
};

struct fetch {
    struct zl_registry *r;
    const struct zl_reg_target *t;
    struct zl_image_store *store;
    zl_pull_progress_cb progress;
    void *ctx;
    CURLM *m;
    struct xfer *x;
    size_t n, running, left;
    struct zl_err first;
};

#define PROGRESS_STEP (256u << 10)

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report(struct xfer *x)
{
    x->reported = x->done;
    if (x->f->progress)
        x->f->progress(x->f->ctx, x->digest, x->done, x->size);
}

/* Always a resumable writer: what a crashed run kept is reused; after an abort or a failed
 * commit (both remove the partial file) it starts empty. */
static int writer_open(struct xfer *x)
{
    if (zl_image_blob_begin(x->f->store, x->digest, x->size, true, &x->w, &x->err) < 0)
        return -1;
    x->done = zl_image_blob_offset(x->w);
    x->resumed = x->resumed || x->done > 0;
    return 0;
}

/* The server ignored our Range and sent the whole blob: start the writer over. */
static int restart_writer(struct xfer *x)
{
    zl_image_blob_abort(x->w);
    x->w = NULL;
    if (writer_open(x) < 0)
        return -1;
    x->start = 0;
    return 0;
}

static size_t on_blob(char *p, size_t sz, size_t nm, void *ud)
{
    struct xfer *x = ud;
    size_t n = sz * nm;

    if (x->resp.status != 200 && x->resp.status != 206)
        return n; /* an error page: the status tells */
    if (x->resp.status == 200 && x->start > 0 && restart_writer(x) < 0)
        goto bad;
    if (x->size && x->done + n > x->size) {
        zl_err_set(&x->err, ZL_EINVAL,
                   "blob %s: the registry sent more than the %llu bytes "
                   "the manifest gives",
                   x->digest, (unsigned long long)x->size);
        goto bad;
    }
    if (zl_image_blob_write(x->w, p, n, &x->err) < 0)
        goto bad;
    x->done += n;
    if (x->done - x->reported >= PROGRESS_STEP)
        report(x);
    return n;
bad:
    x->bad = true;
    return 0;
}

static void x_fail(struct xfer *x)
{
    /* bad data is thrown away; a broken connection keeps its bytes for the next pull */
    if (x->w && x->bad)
        zl_image_blob_abort(x->w);
    else if (x->w)
        zl_image_blob_suspend(x->w);
    x->w = NULL;
    x->state = X_FAILED;
    x->f->left--;
    if (!x->f->first.code)
        x->f->first = x->err;
}

static void x_commit(struct xfer *x)
{
    struct zl_blob_writer *w = ZL_STEAL(x->w);

    if (zl_image_blob_commit(w, NULL, &x->err) == 0) {
        x->state = X_DONE;
        x->f->left--;
        report(x);
        return;
    }
    if (x->resumed && !x->fresh_done) {
        /* the kept part may be what is wrong: once more from the first byte */
        x->fresh_done = true;
        x->resumed = false;
        x->state = X_WAIT;
        x->wake_ms = 0;
        return;
    }
    zl_err_wrap(&x->err, "blob %s from %s", x->digest, x->f->t->eps[x->ep].host);
    x_fail(x);
}

static void x_start(struct xfer *x)
{
    struct fetch *f = x->f;
    const struct zl_reg_endpoint *ep = &f->t->eps[x->ep];
    char range[32];

    if (!x->w && writer_open(x) < 0)
        return x_fail(x);
    if (x->size && x->done >= x->size)
        return x_commit(x); /* all there already: the commit checks it */
    zl_autofree char *url = zl_xasprintf("%s://%s/v2/%s/blobs/%s", ep->http ? "http" : "https",
                                         ep->host, f->t->repo, x->digest);
    zl_autofree char *auth = zl_image__reg_auth_header(f->r, ep, f->t->scope);
    x->h = easy_new(url, x->errbuf);
    x->hdrs = auth ? curl_slist_append(NULL, auth) : NULL;
    x->sent_auth = auth != NULL;
    x->start = x->done;
    x->bad = false;
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, &x->resp);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_blob);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    if (x->start > 0) {
        snprintf(range, sizeof(range), "%llu-", (unsigned long long)x->start);
        curl_easy_setopt(x->h, CURLOPT_RANGE, range);
    }
    ZL_ASSERT(curl_multi_add_handle(f->m, x->h) == CURLM_OK);
    x->state = X_RUN;
    f->running++;
    report(x);
}

/* A finished request that did not deliver the blob: retry, next endpoint, or give up. */
static void x_again(struct xfer *x, CURLcode rc)
{
    struct fetch *f = x->f;
    long st = x->resp.status;
    char why[400];

    if (rc == CURLE_OK && st == 401 && !x->auth_tried) {
        x->auth_tried = true;
        if (zl_image__reg_auth_challenge(f->r, &f->t->eps[x->ep], f->t->scope, &x->resp,
                                         x->sent_auth, &x->err) < 0)
            return x_fail(x);
        x->state = X_WAIT;
        x->wake_ms = 0;
        return;
    }
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    else
        snprintf(why, sizeof(why), "HTTP %ld", st);
    if (rc != CURLE_OK ? retry_curl(rc) : retry_status(st)) {
        if (x->attempt < f->r->retries) {
            x->attempt++;
            x->state = X_WAIT;
            x->wake_ms = now_ms() + backoff_ms(x->attempt);
            return;
        }
    }
    if (x->ep + 1 < f->t->neps) {
        x->ep++, x->attempt = 0, x->auth_tried = false;
        x->state = X_WAIT;
        x->wake_ms = 0;
        return;
    }
    zl_err_set(&x->err,
               rc != CURLE_OK ? EIO
               : st == 404    ? ZL_ENOTFOUND
                              : EIO,
               "blob %s from %s: %s (after %d attempts)", x->digest, f->t->eps[x->ep].host, why,
               x->attempt + 1);
    x_fail(x);
}

static void x_finished(struct fetch *f, CURL *h, CURLcode rc)
{
    struct xfer *x = NULL;
    long st = 0;

    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    curl_multi_remove_handle(f->m, h);
    curl_easy_cleanup(h);
    curl_slist_free_all(x->hdrs);
    x->h = NULL;
    x->hdrs = NULL;
    f->running--;
    x->resp.status = st;
    if (x->start > 0 && x->done > x->start)
        x->resumed = true;
    if (x->bad)
        return x_fail(x);
    if (rc == CURLE_OK && (st == 200 || st == 206))
        return x_commit(x);
    x_again(x, rc);
}

/* Start what is due, run curl, collect what finished; until every blob is done or failed. */
static void fetch_loop(struct fetch *f)
{
    while (f->left > 0) {
        int64_t now = now_ms(), next = now + 1000;
        int still = 0;
        CURLMsg *msg;

        for (size_t i = 0; i < f->n; i++) {
            struct xfer *x = &f->x[i];
            if (x->state != X_WAIT)
                continue;
            if (x->wake_ms <= now && f->running < (size_t)f->r->max_parallel)
                x_start(x);
            else if (x->wake_ms > now && x->wake_ms < next)
                next = x->wake_ms;
        }
        curl_multi_perform(f->m, &still);
        while ((msg = curl_multi_info_read(f->m, &still)))
            if (msg->msg == CURLMSG_DONE)
                x_finished(f, msg->easy_handle, msg->data.result);
        if (f->left == 0)
            break;
        long wait = (long)(next - now_ms());
        curl_multi_poll(f->m, NULL, 0, wait < 0 ? 0 : wait > 1000 ? 1000 : (int)wait, NULL);
    }
}

static void fetch_fini(struct fetch *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct xfer *x = &f->x[i];
        if (x->h) {
            curl_multi_remove_handle(f->m, x->h);
            curl_easy_cleanup(x->h);
        }
        curl_slist_free_all(x->hdrs);
        if (x->w)
            zl_image_blob_suspend(x->w);
        zl_image__reg_resp_fini(&x->resp);
    }
    free(f->x);
    curl_multi_cleanup(f->m);
}

static bool seen_before(const struct zl_blob_req *blobs, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(blobs[j].digest, blobs[i].digest) == 0)
            return true;
    return false;
}

static int fetch_init(struct fetch *f, const struct zl_blob_req *blobs, size_t n,
                      struct zl_err *err)
{
    f->x = zl_xcalloc(n ? n : 1, sizeof(*f->x));
    f->m = curl_multi_init();
    ZL_ASSERT(f->m);
    for (size_t i = 0; i < n; i++) {
        const char *d = blobs[i].digest;
        if (!zl_image__reg_digest_ok(d))
            return zl_err_set(err, ZL_EINVAL, "blob \"%.100s\": not a sha256 digest", d ? d : "");
        if (seen_before(blobs, i))
            continue;
        if (zl_image_blob_has(f->store, d)) {
            if (f->progress)
                f->progress(f->ctx, d, blobs[i].size, blobs[i].size);
            continue;
        }
        struct xfer *x = &f->x[f->n++];
        x->f = f;
        x->digest = d;
        x->size = blobs[i].size;
        zl_image__reg_resp_init(&x->resp, 0);
    }
    f->left = f->n;
    return 0;
}

int zl_registry_fetch_blobs(struct zl_registry *r, const char *ref, const struct zl_blob_req *blobs,
                            size_t n, struct zl_image_store *store, zl_pull_progress_cb progress,
                            void *ctx, struct zl_err *err)
{
    struct zl_reg_target t;
    struct fetch f = {.r = r, .t = &t, .store = store, .progress = progress, .ctx = ctx};
    int rc;

    if (zl_image__reg_target(r, ref, &t, err) < 0)
        return err->code;
    rc = fetch_init(&f, blobs, n, err);
    if (rc == 0) {
        fetch_loop(&f);
        if (f.first.code) {
            *err = f.first;
            rc = err->code;
        }
    }
    fetch_fini(&f);
    return rc;
}
