/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/spec/test_imageref.c: image references (SPEC-v1 2.5): parse, reject, normalise. */
#include "spec/spec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#define H16  "0123456789abcdef"
#define H64  H16 H16 H16 H16
#define H96  H64 H16 H16
#define H128 H64 H64

/* Parse a copy without a trailing NUL so that ASan catches any read past len. */
static int parse_n(const char *s, size_t n, struct zl_image_ref *r, const char **why)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int rc = zl_image_ref_parse(copy, n, r, why);
    free(copy);
    return rc;
}

static int parse(const char *s, struct zl_image_ref *r, const char **why)
{
    return parse_n(s, strlen(s), r, why);
}

static const struct {
    const char *text;
    const char *domain, *path, *tag, *digest;
    const char *normal;
} valid[] = {
    /* SPEC-v1 2.5 examples */
    {"nginx", "", "nginx", "", "", "docker.io/library/nginx:latest"},
    {"nginx:1.27-alpine", "", "nginx", "1.27-alpine", "", "docker.io/library/nginx:1.27-alpine"},
    {"ghcr.io/acme/api:v2.3.1", "ghcr.io", "acme/api", "v2.3.1", "", "ghcr.io/acme/api:v2.3.1"},
    {"localhost:5000/tools/ci", "localhost:5000", "tools/ci", "", "",
     "localhost:5000/tools/ci:latest"},
    {"redis@sha256:" H64, "", "redis", "", "sha256:" H64, "docker.io/library/redis@sha256:" H64},
    /* name:tag@digest keeps both */
    {"nginx:1.27@sha256:" H64, "", "nginx", "1.27", "sha256:" H64,
     "docker.io/library/nginx:1.27@sha256:" H64},
    {"ghcr.io/a/b:t@sha512:" H128, "ghcr.io", "a/b", "t", "sha512:" H128,
     "ghcr.io/a/b:t@sha512:" H128},
    {"quay.io/x@sha384:" H96, "quay.io", "x", "", "sha384:" H96, "quay.io/x@sha384:" H96},
    /* Docker Hub: library/ only for a single component */
    {"docker.io/nginx", "docker.io", "nginx", "", "", "docker.io/library/nginx:latest"},
    {"docker.io/library/nginx:1", "docker.io", "library/nginx", "1", "",
     "docker.io/library/nginx:1"},
    {"acme/api", "", "acme/api", "", "", "docker.io/acme/api:latest"},
    {"ghcr.io/nginx", "ghcr.io", "nginx", "", "", "ghcr.io/nginx:latest"},
    /* what makes the first component a domain */
    {"localhost/foo", "localhost", "foo", "", "", "localhost/foo:latest"},
    {"localhost", "", "localhost", "", "", "docker.io/library/localhost:latest"},
    {"localhost:5000", "", "localhost", "5000", "", "docker.io/library/localhost:5000"},
    {"example.com", "", "example.com", "", "", "docker.io/library/example.com:latest"},
    {"localhostx/foo", "", "localhostx/foo", "", "", "docker.io/localhostx/foo:latest"},
    {"Registry.Example.COM/x", "Registry.Example.COM", "x", "", "",
     "Registry.Example.COM/x:latest"},
    {"my-registry.local:5000/a/b/c", "my-registry.local:5000", "a/b/c", "", "",
     "my-registry.local:5000/a/b/c:latest"},
    {"10.0.0.1:5000/x:y", "10.0.0.1:5000", "x", "y", "", "10.0.0.1:5000/x:y"},
    {"host:5000/x", "host:5000", "x", "", "", "host:5000/x:latest"},
    /* path component separators */
    {"a_b__c-d---e.f", "", "a_b__c-d---e.f", "", "", "docker.io/library/a_b__c-d---e.f:latest"},
    {"ghcr.io/a.b/c_d/e__f/g-h/0-9", "ghcr.io", "a.b/c_d/e__f/g-h/0-9", "", "",
     "ghcr.io/a.b/c_d/e__f/g-h/0-9:latest"},
    /* tags */
    {"x:_", "", "x", "_", "", "docker.io/library/x:_"},
    {"x:V1.2_3-rc.4", "", "x", "V1.2_3-rc.4", "", "docker.io/library/x:V1.2_3-rc.4"},
};

static void check_field(const char *text, const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("\"%s\": %s is \"%s\", want \"%s\"", text, what, got, want);
}

static void test_valid(void **state)
{
    char buf[1024];

    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(valid); i++) {
        struct zl_image_ref r;
        const char *why = NULL;
        if (parse(valid[i].text, &r, &why) != 0)
            fail_msg("\"%s\": rejected (%s)", valid[i].text, why ? why : "");
        check_field(valid[i].text, "domain", r.domain, valid[i].domain);
        check_field(valid[i].text, "path", r.path, valid[i].path);
        check_field(valid[i].text, "tag", r.tag, valid[i].tag);
        check_field(valid[i].text, "digest", r.digest, valid[i].digest);
        size_t n = zl_image_ref_normalize(&r, buf, sizeof(buf));
        check_field(valid[i].text, "normal form", buf, valid[i].normal);
        assert_int_equal(n, strlen(valid[i].normal));
    }
}

static const struct {
    const char *text;
    const char *why; /* a substring of the reason */
} invalid[] = {
    /* SPEC-v1 2.5 examples */
    {"Nginx", "must be lowercase"},
    {"nginx:", "empty tag"},
    {"a//b", "empty path component"},
    {"-bad/name", "start and end with a lowercase letter or digit"},
    {"file://./x.wasm", "URL scheme"},
    {"", "empty image reference"},
    /* path components */
    {"ghcr.io/Acme/api", "must be lowercase"},
    {"acme/API:v1", "must be lowercase"},
    {"/nginx", "empty path component"},
    {"nginx/", "empty path component"},
    {"ghcr.io/", "empty path component"},
    {"foo/bar_", "start and end"},
    {".x", "start and end"},
    {"a..b", "invalid separator"},
    {"a___b", "invalid separator"},
    {"a_-b", "invalid separator"},
    {"a.-b", "invalid separator"},
    {"a-.b", "invalid separator"},
    {"ngin x", "invalid character in repository name"},
    {"nginx:1.0:2", "invalid character in repository name"},
    {"caf\xc3\xa9x", "invalid character in repository name"},
    {"https://ghcr.io/acme/api", "URL scheme"},
    /* domains */
    {"gh_cr.io/x", "invalid character in registry host"},
    {"-ghcr.io/x", "invalid registry host"},
    {"ghcr-.io/x", "invalid registry host"},
    {"ghcr..io/x", "invalid registry host"},
    {".ghcr.io/x", "invalid registry host"},
    {"localhost:/x", "empty registry port"},
    {"localhost:50a0/x", "port must be digits"},
    {"localhost:5000:1/x", "port must be digits"},
    {":5000/x", "empty registry host"},
    /* tags */
    {"nginx:-tag", "tag must start"},
    {"nginx:.x", "tag must start"},
    {"nginx:a b", "invalid character in tag"},
    {"nginx:latest ", "invalid character in tag"},
    {"nginx:a+b", "invalid character in tag"},
    {"nginx:@sha256:" H64, "empty tag"},
    /* digests */
    {"nginx@", "empty digest"},
    {"nginx@sha256:abc", "64 lowercase hex"},
    {"nginx@sha256:" H64 "0", "64 lowercase hex"},
    {"nginx@sha256:" H16 H16 H16 "0123456789ABCDEF", "64 lowercase hex"},
    {"nginx@sha256:" H16 H16 H16 "0123456789abcdeg", "64 lowercase hex"},
    {"nginx@sha384:" H64, "96 lowercase hex"},
    {"nginx@sha512:" H96, "128 lowercase hex"},
    {"nginx@md5:0123456789abcdef0123456789abcdef", "unsupported digest"},
    {"nginx@sha1:0123456789abcdef0123456789abcdef01234567", "unsupported digest"},
    {"nginx@SHA256:" H64, "unsupported digest"},
    {"nginx@" H64, "unsupported digest"},
    {"nginx@sha256:" H64 "@x", "64 lowercase hex"},
    {"@sha256:" H64, "empty repository name"},
    {":tag", "empty repository name"},
};

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ZL_ARRAY_LEN(invalid); i++) {
        struct zl_image_ref r;
        const char *why = NULL;
        int rc = parse(invalid[i].text, &r, &why);
        if (rc != -1 || !why || !strstr(why, invalid[i].why))
            fail_msg("\"%s\": rc=%d why=\"%s\", want \"%s\"", invalid[i].text, rc,
                     why ? why : "(null)", invalid[i].why);
        /* nothing half-parsed is left behind */
        assert_string_equal(r.domain, "");
        assert_string_equal(r.path, "");
        assert_string_equal(r.tag, "");
        assert_string_equal(r.digest, "");
    }
}

/* A string of n copies of c, NUL-terminated; caller frees. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_lengths(void **state)
{
    struct zl_image_ref r;
    const char *why = NULL;
    char text[600];

    (void)state;
    /* the whole name (domain "/" path) may have 255 characters, not 256 */
    char *a = repeat('a', 255 - 8);
    snprintf(text, sizeof(text), "ghcr.io/%s", a);
    assert_int_equal(parse(text, &r, &why), 0);
    assert_int_equal(strlen(r.path), 247);
    snprintf(text, sizeof(text), "ghcr.io/%sa", a);
    assert_int_equal(parse(text, &r, &why), -1);
    assert_non_null(strstr(why, "longer than 255"));
    free(a);
    a = repeat('a', 255);
    assert_int_equal(parse(a, &r, &why), 0);
    free(a);
    a = repeat('a', 256);
    assert_int_equal(parse(a, &r, &why), -1);
    free(a);

    /* tags: 128 characters at most */
    char *t = repeat('t', 128);
    snprintf(text, sizeof(text), "x:%s", t);
    assert_int_equal(parse(text, &r, &why), 0);
    assert_string_equal(r.tag, t);
    snprintf(text, sizeof(text), "x:%st", t);
    assert_int_equal(parse(text, &r, &why), -1);
    assert_non_null(strstr(why, "longer than 128"));
    free(t);
}

static void test_len_and_normalize(void **state)
{
    struct zl_image_ref r;
    const char *why = NULL;
    char buf[16];

    (void)state;
    /* only len bytes count */
    assert_int_equal(zl_image_ref_parse("nginx:1.27 trailing", 10, &r, &why), 0);
    assert_string_equal(r.tag, "1.27");
    assert_int_equal(parse_n("nginx\0", 6, &r, &why), -1);
    assert_int_equal(zl_image_ref_parse("", 0, &r, NULL), -1);

    /* truncation keeps the buffer terminated */
    assert_int_equal(parse("nginx", &r, &why), 0);
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(zl_image_ref_normalize(&r, buf, 10), 9);
    assert_string_equal(buf, "docker.io");
    assert_int_equal(buf[10], 'x');
    buf[0] = 'x';
    assert_int_equal(zl_image_ref_normalize(&r, buf, 0), 0);
    assert_int_equal(buf[0], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_len_and_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
