/* SPDX-License-Identifier: Apache-2.0 */
/* spec/imageref.c: OCI image references of SPEC-v1 2.5 (parse and normalise to docker.io form). */
#include "spec/spec.h"

#include <string.h>

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN  128

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -1;
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Index of the first c in [0, n), or n. */
static size_t find(const char *p, size_t n, char c)
{
    const char *q = memchr(p, c, n);
    return q ? (size_t)(q - p) : n;
}

/* component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )* */
static const char *check_component(const char *p, size_t n)
{
    size_t i = 0;

    if (n == 0)
        return "empty path component (\"//\", or a leading or trailing \"/\")";
    for (size_t k = 0; k < n; k++)
        if (p[k] >= 'A' && p[k] <= 'Z')
            return "repository name must be lowercase";
    if (!is_lower_alnum(p[0]) || !is_lower_alnum(p[n - 1]))
        return "path component must start and end with a lowercase letter or digit";
    while (i < n) {
        size_t j = i + 1;
        if (is_lower_alnum(p[i])) {
            i++;
            continue;
        }
        if (p[i] == '_' && j < n && p[j] == '_')
            j++;
        else if (p[i] == '-')
            while (j < n && p[j] == '-')
                j++;
        else if (p[i] != '.' && p[i] != '_')
            return "invalid character in repository name";
        if (!is_lower_alnum(p[j]))
            return "invalid separator in repository name (use '.', '_', '__' or '-')";
        i = j;
    }
    return NULL;
}

/* host component := [A-Za-z0-9] ( [A-Za-z0-9-]* [A-Za-z0-9] )? */
static const char *check_host(const char *p, size_t n)
{
    size_t start = 0;

    if (n == 0)
        return "empty registry host";
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '.') {
            if (!is_alnum(p[i]) && p[i] != '-')
                return "invalid character in registry host";
            continue;
        }
        if (i == start || p[start] == '-' || p[i - 1] == '-')
            return "invalid registry host (labels are letters, digits and inner '-')";
        start = i + 1;
    }
    return NULL;
}

/* domain := host ( ":" port )? */
static const char *check_domain(const char *p, size_t n)
{
    size_t colon = find(p, n, ':');
    const char *r = check_host(p, colon);

    if (r || colon == n)
        return r;
    if (colon + 1 == n)
        return "empty registry port";
    for (size_t i = colon + 1; i < n; i++)
        if (!is_digit(p[i]))
            return "registry port must be digits";
    return NULL;
}

static bool is_domain(const char *p, size_t n)
{
    return memchr(p, '.', n) || memchr(p, ':', n) || (n == 9 && memcmp(p, "localhost", 9) == 0);
}

/* name := ( domain "/" )? path, written into out->domain and out->path. */
static int parse_name(const char *s, size_t len, struct zl_image_ref *out, const char **why)
{
    size_t first = find(s, len, '/'), start = 0;
    const char *r;

    if (len == 0)
        return fail(why, "empty repository name");
    if (len > NAME_MAX_LEN)
        return fail(why, "repository name is longer than 255 characters");
    if (first < len && is_domain(s, first)) {
        if ((r = check_domain(s, first)))
            return fail(why, r);
        memcpy(out->domain, s, first);
        out->domain[first] = '\0';
        start = first + 1;
    }
    for (size_t i = start; i <= len; i++) {
        size_t end = i + find(s + i, len - i, '/');
        if ((r = check_component(s + i, end - i)))
            return fail(why, r);
        i = end;
    }
    memcpy(out->path, s + start, len - start);
    out->path[len - start] = '\0';
    return 0;
}

/* tag := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127} */
static int parse_tag(const char *p, size_t n, struct zl_image_ref *out, const char **why)
{
    if (n == 0)
        return fail(why, "empty tag");
    if (n > TAG_MAX_LEN)
        return fail(why, "tag is longer than 128 characters");
    if (!is_alnum(p[0]) && p[0] != '_')
        return fail(why, "tag must start with a letter, digit or '_'");
    for (size_t i = 1; i < n; i++)
        if (!is_alnum(p[i]) && p[i] != '_' && p[i] != '.' && p[i] != '-')
            return fail(why, "invalid character in tag (letters, digits, '_', '.', '-')");
    memcpy(out->tag, p, n);
    out->tag[n] = '\0';
    return 0;
}

/* digest := "sha256:" hex{64} | "sha384:" hex{96} | "sha512:" hex{128} */
static int parse_digest(const char *p, size_t n, struct zl_image_ref *out, const char **why)
{
    static const struct {
        const char *algo;
        size_t hex;
        const char *msg;
    } algos[] = {
        {"sha256:", 64, "a sha256 digest needs exactly 64 lowercase hex digits"},
        {"sha384:", 96, "a sha384 digest needs exactly 96 lowercase hex digits"},
        {"sha512:", 128, "a sha512 digest needs exactly 128 lowercase hex digits"},
    };

    if (n == 0)
        return fail(why, "empty digest");
    for (size_t k = 0; k < ZL_ARRAY_LEN(algos); k++) {
        if (n < 7 || memcmp(p, algos[k].algo, 7) != 0)
            continue;
        if (n - 7 != algos[k].hex)
            return fail(why, algos[k].msg);
        for (size_t i = 7; i < n; i++)
            if (!is_digit(p[i]) && !(p[i] >= 'a' && p[i] <= 'f'))
                return fail(why, algos[k].msg);
        memcpy(out->digest, p, n);
        out->digest[n] = '\0';
        return 0;
    }
    return fail(why, "unsupported digest (expected sha256:, sha384: or sha512: and hex digits)");
}

static bool has_scheme(const char *s, size_t len)
{
    for (size_t i = 0; i + 3 <= len; i++)
        if (memcmp(s + i, "://", 3) == 0)
            return true;
    return false;
}

/* reference := name ( ":" tag )? ( "@" digest )? */
static int parse_ref(const char *s, size_t len, struct zl_image_ref *out, const char **why)
{
    if (len == 0)
        return fail(why, "empty image reference");
    size_t at = find(s, len, '@'), end = at, colon = at;

    if (has_scheme(s, len))
        return fail(why, "image reference must not contain a URL scheme (\"://\")");
    if (at < len && parse_digest(s + at + 1, len - at - 1, out, why) < 0)
        return -1;
    /* The tag follows the last ':' after the last '/' of the name. */
    while (colon > 0 && s[colon - 1] != '/' && s[colon - 1] != ':')
        colon--;
    if (colon > 0 && s[colon - 1] == ':') {
        if (parse_tag(s + colon, at - colon, out, why) < 0)
            return -1;
        end = colon - 1;
    }
    return parse_name(s, end, out, why);
}

int zl_image_ref_parse(const char *s, size_t len, struct zl_image_ref *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (parse_ref(s, len, out, why) < 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}

size_t zl_image_ref_normalize(const struct zl_image_ref *r, char *buf, size_t cap)
{
    const char *domain = r->domain[0] ? r->domain : "docker.io";
    bool library = strcmp(domain, "docker.io") == 0 && !strchr(r->path, '/');
    const char *tag = r->tag[0] || r->digest[0] ? r->tag : "latest";

    if (cap == 0)
        return 0;
    int w = snprintf(buf, cap, "%s/%s%s%s%s%s%s", domain, library ? "library/" : "", r->path,
                     tag[0] ? ":" : "", tag, r->digest[0] ? "@" : "", r->digest);
    ZL_ASSERT(w >= 0);
    return (size_t)w < cap ? (size_t)w : cap - 1;
}
