/* SPDX-License-Identifier: Apache-2.0 */
/* image/manifest.c: image manifests (OCI and Docker schema 2) parsed into struct
 * zl_manifest, WASM artifact detection, and platforms ("linux/arm64/v8"). */
#include "image/image.h"

#include <string.h>
#include <sys/utsname.h>

#include <openssl/evp.h>

#include "image/registry_internal.h"

#define MAX_LAYERS 1024

void zl_image__reg_sha256(const void *p, size_t n, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    ZL_ASSERT(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32);
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

bool zl_image__reg_digest_ok(const char *s)
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
        return false;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

bool zl_image__reg_is_index(const char *media_type)
{
    return media_type &&
           (strcmp(media_type, ZL_MT_OCI_INDEX) == 0 || strcmp(media_type, ZL_MT_DOCKER_LIST) == 0);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* WASM artifacts by artifactType, config media type or layer media type. */
static bool is_wasm(const struct zl_manifest *m)
{
    if (has_prefix(m->artifact_type, "application/vnd.wasm."))
        return true;
    if (has_prefix(m->config_media_type, "application/vnd.wasm.config."))
        return true;
    for (size_t i = 0; i < m->nlayers; i++) {
        const char *t = m->layers[i].media_type;
        if (strcmp(t, "application/wasm") == 0 || has_suffix(t, "+wasm") ||
            has_prefix(t, "application/vnd.wasm.content.layer."))
            return true;
    }
    return false;
}

/* A descriptor's digest, size and media type; what names it for messages. */
static int parse_desc(json_t *d, const char *what, char *digest, uint64_t *size, char **media_type,
                      struct zl_err *err)
{
    const char *dg = json_string_value(json_object_get(d, "digest"));
    const char *mt = json_string_value(json_object_get(d, "mediaType"));
    json_t *sz = json_object_get(d, "size");

    if (!json_is_object(d))
        return zl_err_set(err, ZL_EINVAL, "manifest: %s is not an object", what);
    if (!dg)
        return zl_err_set(err, ZL_EINVAL, "manifest: %s has no digest", what);
    if (!zl_image__reg_digest_ok(dg))
        return zl_err_set(err, ZL_EINVAL,
                          "manifest: %s: unsupported digest \"%.80s\" "
                          "(only sha256 is supported)",
                          what, dg);
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return zl_err_set(err, ZL_EINVAL, "manifest: %s has no valid size", what);
    if (!mt)
        return zl_err_set(err, ZL_EINVAL, "manifest: %s has no mediaType", what);
    snprintf(digest, ZL_DIGEST_MAX, "%s", dg);
    *size = (uint64_t)json_integer_value(sz);
    *media_type = zl_xstrdup(mt);
    return 0;
}

static int parse_layers(json_t *layers, struct zl_manifest *m, struct zl_err *err)
{
    size_t n = json_array_size(layers);

    if (!json_is_array(layers))
        return zl_err_set(err, ZL_EINVAL, "manifest: \"layers\" is missing or not an array");
    if (n > MAX_LAYERS)
        return zl_err_set(err, ZL_EINVAL, "manifest: %zu layers (at most %d)", n, MAX_LAYERS);
    m->layers = zl_xcalloc(n ? n : 1, sizeof(*m->layers));
    for (size_t i = 0; i < n; i++) {
        char what[32];
        struct zl_layer *l = &m->layers[i];
        snprintf(what, sizeof(what), "layer %zu", i);
        if (parse_desc(json_array_get(layers, i), what, l->digest, &l->size, &l->media_type, err) <
            0)
            return err->code;
        m->nlayers = i + 1;
    }
    return 0;
}

/* The manifest's media type: the field, or for an OCI manifest without one, inferred. */
static int media_type(json_t *root, const char **out, struct zl_err *err)
{
    const char *mt = json_string_value(json_object_get(root, "mediaType"));
    json_t *sv = json_object_get(root, "schemaVersion");

    if (json_is_integer(sv) && json_integer_value(sv) == 1)
        return zl_err_set(err, ZL_EINVAL,
                          "manifest: Docker schema 1 manifests are not "
                          "supported (push the image again with a current client)");
    if (!mt && json_object_get(root, "manifests"))
        mt = ZL_MT_OCI_INDEX;
    if (!mt && json_object_get(root, "config"))
        mt = ZL_MT_OCI_MANIFEST;
    if (!mt)
        return zl_err_set(err, ZL_EINVAL, "manifest: no mediaType and no config");
    if (zl_image__reg_is_index(mt))
        return zl_err_set(err, ZL_EINVAL,
                          "manifest: %s is an index of manifests, not an "
                          "image manifest (resolve a platform first)",
                          mt);
    if (strcmp(mt, ZL_MT_OCI_MANIFEST) != 0 && strcmp(mt, ZL_MT_DOCKER_MANIFEST) != 0)
        return zl_err_set(err, ZL_EINVAL,
                          "manifest: unsupported media type \"%.200s\" "
                          "(expected %s or %s)",
                          mt, ZL_MT_OCI_MANIFEST, ZL_MT_DOCKER_MANIFEST);
    *out = mt;
    return 0;
}

static int parse_root(json_t *root, struct zl_manifest *m, struct zl_err *err)
{
    const char *mt = NULL, *at;

    if (!json_is_object(root))
        return zl_err_set(err, ZL_EINVAL, "manifest: not a JSON object");
    if (media_type(root, &mt, err) < 0)
        return err->code;
    m->media_type = zl_xstrdup(mt);
    at = json_string_value(json_object_get(root, "artifactType"));
    m->artifact_type = at ? zl_xstrdup(at) : NULL;
    if (parse_desc(json_object_get(root, "config"), "config", m->config_digest, &m->config_size,
                   &m->config_media_type, err) < 0)
        return err->code;
    if (parse_layers(json_object_get(root, "layers"), m, err) < 0)
        return err->code;
    m->is_wasm = is_wasm(m);
    return 0;
}

int zl_manifest_parse(const char *raw, size_t len, struct zl_manifest *m, struct zl_err *err)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    memset(m, 0, sizeof(*m));
    if (len > ZL_REG_DOC_MAX)
        return zl_err_set(err, ZL_EINVAL, "manifest: %zu bytes (at most %u)", len, ZL_REG_DOC_MAX);
    root = json_loadb(raw, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return zl_err_set(err, ZL_EINVAL, "manifest: invalid JSON at line %d: %s", jerr.line,
                          jerr.text);
    rc = parse_root(root, m, err);
    json_decref(root);
    if (rc < 0) {
        zl_manifest_fini(m);
        return rc;
    }
    m->raw = zl_xmalloc(len + 1);
    memcpy(m->raw, raw, len);
    m->raw[len] = '\0';
    m->raw_len = len;
    zl_image__reg_sha256(raw, len, m->digest);
    return 0;
}

void zl_manifest_fini(struct zl_manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    free(m->artifact_type);
    free(m->raw);
    free(m->index_raw);
    free(m->config_media_type);
    for (size_t i = 0; i < m->nlayers; i++)
        free(m->layers[i].media_type);
    free(m->layers);
    memset(m, 0, sizeof(*m));
}

/* ---- platforms ---- */

static const struct {
    const char *alias, *arch, *variant;
} arches[] = {
    {"x86_64", "amd64", ""},  {"amd64", "amd64", ""},     {"aarch64", "arm64", "v8"},
    {"arm64", "arm64", "v8"}, {"armv7l", "arm", "v7"},    {"armv6l", "arm", "v6"},
    {"i386", "386", ""},      {"i686", "386", ""},        {"ppc64le", "ppc64le", ""},
    {"s390x", "s390x", ""},   {"riscv64", "riscv64", ""}, {"arm", "arm", "v7"},
};

static void set_arch(struct zl_platform *p, const char *arch)
{
    for (size_t i = 0; i < ZL_ARRAY_LEN(arches); i++) {
        if (strcmp(arch, arches[i].alias) != 0)
            continue;
        snprintf(p->arch, sizeof(p->arch), "%s", arches[i].arch);
        if (!p->variant[0])
            snprintf(p->variant, sizeof(p->variant), "%s", arches[i].variant);
        return;
    }
    snprintf(p->arch, sizeof(p->arch), "%s", arch);
}

void zl_platform_host(struct zl_platform *p)
{
    struct utsname u;

    memset(p, 0, sizeof(*p));
    snprintf(p->os, sizeof(p->os), "linux");
    if (uname(&u) == -1)
        snprintf(u.machine, sizeof(u.machine), "x86_64");
    set_arch(p, u.machine);
}

static bool is_word(const char *s, size_t n)
{
    if (n == 0 || n >= 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

int zl_platform_parse(const char *s, struct zl_platform *p, struct zl_err *err)
{
    const char *a = strchr(s, '/'), *v = a ? strchr(a + 1, '/') : NULL;
    size_t nos = a ? (size_t)(a - s) : 0;
    size_t narch = v ? (size_t)(v - a - 1) : a ? strlen(a + 1) : 0;
    char arch[32];

    memset(p, 0, sizeof(*p));
    if (!a || !is_word(s, nos) || !is_word(a + 1, narch) || (v && !is_word(v + 1, strlen(v + 1))))
        return zl_err_set(err, ZL_EINVAL,
                          "invalid platform \"%.100s\" (expected os/arch or "
                          "os/arch/variant, e.g. linux/amd64 or linux/arm64/v8)",
                          s);
    memcpy(p->os, s, nos);
    memcpy(arch, a + 1, narch);
    arch[narch] = '\0';
    if (v)
        snprintf(p->variant, sizeof(p->variant), "%s", v + 1);
    set_arch(p, arch);
    return 0;
}

/* ---- indexes: the manifest for a platform ---- */

static void plat_str(const char *os, const char *arch, const char *var, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.40s/%.40s%s%.40s", os, arch, var[0] ? "/" : "", var);
}

/* How well an index entry fits: 3 exact, 2 the entry names no variant, 1 we name none. */
static int fit(json_t *pl, const struct zl_platform *want)
{
    const char *os = json_string_value(json_object_get(pl, "os"));
    const char *arch = json_string_value(json_object_get(pl, "architecture"));
    const char *var = json_string_value(json_object_get(pl, "variant"));
    struct zl_platform got = {.os = ""};

    if (!os || !arch || strcmp(os, want->os) != 0)
        return 0;
    /* the same aliases and defaults as a parsed platform: arm64 is arm64/v8 */
    if (strlen(os) + strlen(arch) + (var ? strlen(var) : 0) > 80)
        return 0;
    char spec[128];
    plat_str(os, arch, var ? var : "", spec, sizeof(spec));
    if (zl_platform_parse(spec, &got, NULL) < 0 || strcmp(got.arch, want->arch) != 0)
        return 0;
    if (!var || !var[0])
        return 2;
    if (strcmp(got.variant, want->variant) == 0)
        return 3;
    return want->variant[0] ? 0 : 1;
}

int zl_image__reg_pick(const char *raw, size_t len, const char *what,
                       const struct zl_platform *want, char *digest, struct zl_err *err)
{
    json_t *root = json_loadb(raw, len, 0, NULL), *e, *best = NULL;
    json_t *list = json_object_get(root, "manifests");
    struct zl_buf avail;
    int best_fit = 0, rc = 0;
    size_t i;

    zl_buf_init(&avail);
    json_array_foreach(list, i, e)
    {
        json_t *pl = json_object_get(e, "platform");
        const char *os = json_string_value(json_object_get(pl, "os"));
        const char *arch = json_string_value(json_object_get(pl, "architecture"));
        const char *var = json_string_value(json_object_get(pl, "variant"));
        char s[128];
        int f = fit(pl, want);
        if (f > best_fit)
            best_fit = f, best = e;
        if (!os || !arch || strcmp(os, "unknown") == 0 || strlen(os) + strlen(arch) > 60)
            continue;
        plat_str(os, arch, var && strlen(var) < 30 ? var : "", s, sizeof(s));
        zl_buf_printf(&avail, "%s%s", avail.len ? ", " : "", s);
    }
    const char *dg = json_string_value(json_object_get(best, "digest"));
    char ws[128];
    plat_str(want->os, want->arch, want->variant, ws, sizeof(ws));
    if (!best)
        rc = zl_err_set(err, ZL_ENOTFOUND, "%s has no image for platform %s (available: %s)", what,
                        ws, avail.len ? avail.data : "none");
    else if (!zl_image__reg_digest_ok(dg))
        rc = zl_err_set(err, ZL_EINVAL,
                        "%s: the index entry for %s has no valid sha256 "
                        "digest",
                        what, ws);
    else
        snprintf(digest, ZL_DIGEST_MAX, "%s", dg);
    zl_buf_fini(&avail);
    json_decref(root);
    return rc;
}
