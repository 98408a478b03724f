/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite store: schema, image rows, lookups by ref and digest prefix, removal, GC sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

static char dir[] = "/tmp/zl-test-store-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = zl_xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

static struct zl_store_image image(const char *ref, const char *digest, const char *l1,
                                   const char *l2)
{
    static struct zl_store_layer layers[2];
    layers[0] = (struct zl_store_layer){(char *)l1, "sha256:d1", "sha256:c1", "tar+gzip", 10};
    layers[1] = (struct zl_store_layer){(char *)l2, "sha256:d2", "sha256:c2", "tar+gzip", 20};
    return (struct zl_store_image){.ref = (char *)ref,
                                   .digest = (char *)digest,
                                   .media_type = "oci",
                                   .config_digest = "sha256:cfg",
                                   .os = "linux",
                                   .arch = "amd64",
                                   .size = 30,
                                   .layers = layers,
                                   .nlayers = 2};
}

static bool collect(void *ctx, const char *d)
{
    struct zl_buf *b = ctx;
    zl_buf_printf(b, "%s;", d);
    return true;
}

static void test_images(void **state)
{
    (void)state;
    char *path = zl_xasprintf("%s/state.db", dir);
    struct zl_store *s;
    struct zl_err err;
    assert_int_equal(zl_store_open(path, &s, &err), 0);
    /* image() reuses one layer array: store each before making the next */
    struct zl_store_image a =
        image("docker.io/library/busybox:latest", "sha256:aaaa1111", "sha256:l1", "sha256:l2");
    assert_int_equal(zl_store_image_put(s, &a, &err), 0);
    struct zl_store_image b =
        image("localhost:5000/x:1", "sha256:bbbb2222", "sha256:l1", "sha256:l3");
    assert_int_equal(zl_store_image_put(s, &b, &err), 0);

    struct zl_store_image got;
    assert_int_equal(zl_store_image_get(s, "docker.io/library/busybox:latest", &got, &err), 0);
    assert_string_equal(got.digest, "sha256:aaaa1111");
    assert_int_equal(got.nlayers, 2);
    assert_string_equal(got.layers[1].digest, "sha256:l2");
    assert_string_equal(got.layers[0].chain_id, "sha256:c1");
    zl_store_image_fini(&got);
    /* a unique prefix of the digest's hex */
    assert_int_equal(zl_store_image_get(s, "bbbb22", &got, &err), 0);
    assert_string_equal(got.ref, "localhost:5000/x:1");
    zl_store_image_fini(&got);
    assert_int_equal(zl_store_image_get(s, "nope:1", &got, &err), -ZL_ENOTFOUND);

    struct zl_store_image *list;
    size_t n;
    assert_int_equal(zl_store_image_list(s, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].ref, "docker.io/library/busybox:latest");
    for (size_t i = 0; i < n; i++)
        zl_store_image_fini(&list[i]);
    free(list);

    /* removing one keeps the layers the other still uses */
    assert_int_equal(zl_store_image_remove(s, "localhost:5000/x:1", &err), 0);
    assert_int_equal(zl_store_image_remove(s, "localhost:5000/x:1", &err), -ZL_ENOTFOUND);
    struct zl_buf blobs, chains;
    zl_buf_init(&blobs);
    zl_buf_init(&chains);
    assert_int_equal(zl_store_in_use(s, collect, collect, &blobs, &err), 0);
    assert_non_null(strstr(blobs.data, "sha256:l1;"));
    assert_null(strstr(blobs.data, "sha256:l3;"));
    assert_null(strstr(blobs.data, "sha256:bbbb2222;"));
    zl_buf_fini(&blobs);
    zl_buf_fini(&chains);
    zl_store_close(s);

    /* reopening keeps everything and does not migrate twice */
    assert_int_equal(zl_store_open(path, &s, &err), 0);
    assert_int_equal(zl_store_image_get(s, "docker.io/library/busybox:latest", &got, &err), 0);
    zl_store_image_fini(&got);
    zl_store_close(s);
    free(path);
}

static void test_deployments(void **state)
{
    (void)state;
    char *path = zl_xasprintf("%s/deploy.db", dir);
    struct zl_store *s;
    struct zl_err err;
    assert_int_equal(zl_store_open(path, &s, &err), 0);
    int64_t rev = 0;
    assert_int_equal(zl_store_deployment_put(s, "shop", "version: v1\n", NULL, &rev, &err), 0);
    assert_int_equal(rev, 1);
    assert_int_equal(
        zl_store_deployment_put(s, "shop", "version: v1 # 2\n", "{\"A\":\"1\"}", &rev, &err), 0);
    assert_int_equal(rev, 2);
    struct zl_store_deployment d;
    assert_int_equal(zl_store_deployment_get(s, "shop", &d, &err), 0);
    assert_string_equal(d.spec, "version: v1 # 2\n");
    assert_string_equal(d.env_json, "{\"A\":\"1\"}");
    assert_string_equal(d.status, "deploying");
    zl_store_deployment_fini(&d);
    assert_int_equal(zl_store_deployment_set_status(s, "shop", "running", &err), 0);
    unsigned n = 0;
    assert_int_equal(zl_store_scale_get(s, "shop", "web", &n, &err), -ZL_ENOTFOUND);
    assert_int_equal(zl_store_scale_set(s, "shop", "web", 5, &err), 0);
    assert_int_equal(zl_store_scale_get(s, "shop", "web", &n, &err), 0);
    assert_int_equal(n, 5);
    struct zl_store_deployment *list;
    size_t cnt;
    assert_int_equal(zl_store_deployment_list(s, &list, &cnt, &err), 0);
    assert_int_equal(cnt, 1);
    assert_string_equal(list[0].status, "running");
    zl_store_deployment_fini(&list[0]);
    free(list);
    assert_int_equal(zl_store_deployment_remove(s, "shop", &err), 0);
    assert_int_equal(zl_store_deployment_remove(s, "shop", &err), -ZL_ENOTFOUND);
    assert_int_equal(zl_store_scale_get(s, "shop", "web", &n, &err), -ZL_ENOTFOUND);
    /* applied again after removal: the revisions go on from the history */
    assert_int_equal(zl_store_deployment_put(s, "shop", "version: v1\n", NULL, &rev, &err), 0);
    assert_int_equal(rev, 3);
    zl_store_close(s);
    free(path);
}

static void test_crashes(void **state)
{
    (void)state;
    char *path = zl_xasprintf("%s/crashes.db", dir);
    struct zl_store *s = NULL;
    struct zl_err err;
    assert_int_equal(zl_store_open(path, &s, &err), 0);
    struct zl_store_crash c = {.deployment = "shop",
                               .service = "web",
                               .container = "shop-web-0",
                               .started = "2026-01-01T00:00:00Z",
                               .exit_code = 137,
                               .log_tail = "bye\n"};
    assert_int_equal(zl_store_crash_add(s, &c, &err), 0);
    /* the same start is recorded once, however often it is seen */
    assert_int_equal(zl_store_crash_add(s, &c, &err), 0);
    struct zl_store_crash *list;
    size_t n;
    assert_int_equal(zl_store_crash_list(s, "shop", 10, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].exit_code, 137);
    assert_string_equal(list[0].log_tail, "bye\n");
    assert_true(list[0].at > 0);
    zl_store_crash_fini(&list[0]);
    free(list);
    /* a crash loop keeps only the newest 200, newest first */
    char started[32];
    for (int i = 0; i < 250; i++) {
        snprintf(started, sizeof(started), "t%03d", i);
        c.started = started;
        c.exit_code = i;
        assert_int_equal(zl_store_crash_add(s, &c, &err), 0);
    }
    assert_int_equal(zl_store_crash_list(s, "shop", 1000, &list, &n, &err), 0);
    assert_int_equal(n, 200);
    assert_int_equal(list[0].exit_code, 249);
    assert_int_equal(list[199].exit_code, 50);
    for (size_t i = 0; i < n; i++)
        zl_store_crash_fini(&list[i]);
    free(list);
    /* removing the deployment removes its records */
    assert_int_equal(zl_store_deployment_put(s, "shop", "version: v1\n", NULL, NULL, &err), 0);
    assert_int_equal(zl_store_deployment_remove(s, "shop", &err), 0);
    assert_int_equal(zl_store_crash_list(s, "shop", 10, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    free(list);
    zl_store_close(s);
    free(path);
}

static void test_controls(void **state)
{
    (void)state;
    char *path = zl_xasprintf("%s/controls.db", dir);
    struct zl_store *s = NULL;
    struct zl_err err;
    bool stopped = true;
    int64_t gen = -1;
    assert_int_equal(zl_store_open(path, &s, &err), 0);
    assert_int_equal(zl_store_deployment_put(s, "shop", "version: v1\n", NULL, NULL, &err), 0);
    assert_int_equal(zl_store_control_get(s, "shop", "web", &stopped, &gen, &err), 0);
    assert_false(stopped);
    assert_int_equal(gen, 0);
    /* a service stopped alone; the deployment stopped stops every service */
    assert_int_equal(zl_store_control_set(s, "shop", "web", ZL_CONTROL_STOP, &err), 0);
    assert_int_equal(zl_store_control_get(s, "shop", "web", &stopped, &gen, &err), 0);
    assert_true(stopped);
    assert_int_equal(zl_store_control_get(s, "shop", "db", &stopped, &gen, &err), 0);
    assert_false(stopped);
    assert_int_equal(zl_store_control_set(s, "shop", NULL, ZL_CONTROL_STOP, &err), 0);
    assert_int_equal(zl_store_control_get(s, "shop", "db", &stopped, &gen, &err), 0);
    assert_true(stopped);
    /* starting the deployment starts its services too */
    assert_int_equal(zl_store_control_set(s, "shop", "", ZL_CONTROL_START, &err), 0);
    assert_int_equal(zl_store_control_get(s, "shop", "web", &stopped, &gen, &err), 0);
    assert_false(stopped);
    /* restarts add up: the deployment's and the service's own */
    assert_int_equal(zl_store_control_set(s, "shop", NULL, ZL_CONTROL_RESTART, &err), 0);
    assert_int_equal(zl_store_control_set(s, "shop", "web", ZL_CONTROL_RESTART, &err), 0);
    assert_int_equal(zl_store_control_set(s, "shop", "web", ZL_CONTROL_RESTART, &err), 0);
    assert_int_equal(zl_store_control_get(s, "shop", "web", &stopped, &gen, &err), 0);
    assert_int_equal(gen, 3);
    assert_int_equal(zl_store_control_get(s, "shop", "db", &stopped, &gen, &err), 0);
    assert_int_equal(gen, 1);
    /* applying again clears stops, keeps generations */
    assert_int_equal(zl_store_control_set(s, "shop", "db", ZL_CONTROL_STOP, &err), 0);
    assert_int_equal(zl_store_deployment_put(s, "shop", "version: v1\n", NULL, NULL, &err), 0);
    assert_int_equal(zl_store_control_get(s, "shop", "db", &stopped, &gen, &err), 0);
    assert_false(stopped);
    assert_int_equal(gen, 1);
    /* removed with the deployment */
    assert_int_equal(zl_store_deployment_remove(s, "shop", &err), 0);
    assert_int_equal(zl_store_control_get(s, "shop", "web", &stopped, &gen, &err), 0);
    assert_int_equal(gen, 0);
    zl_store_close(s);
    free(path);
}

static void test_revisions(void **state)
{
    (void)state;
    char *path = zl_xasprintf("%s/revisions.db", dir);
    struct zl_store *s = NULL;
    struct zl_err err;
    int64_t rev = 0;
    assert_int_equal(zl_store_open(path, &s, &err), 0);
    assert_int_equal(zl_store_deployment_put(s, "shop", "one\n", "{\"A\":\"1\"}", &rev, &err), 0);
    assert_int_equal(zl_store_deployment_put(s, "shop", "two\n", "{}", &rev, &err), 0);
    assert_int_equal(rev, 2);
    assert_int_equal(zl_store_revision_note(s, "shop", 2, "rolled back: broken", &err), 0);
    /* back to 1: a new revision with 1's spec and values, noted */
    assert_int_equal(zl_store_rollback(s, "shop", 1, 2, &rev, &err), 0);
    assert_int_equal(rev, 3);
    struct zl_store_deployment d;
    assert_int_equal(zl_store_deployment_get(s, "shop", &d, &err), 0);
    assert_string_equal(d.spec, "one\n");
    assert_string_equal(d.env_json, "{\"A\":\"1\"}");
    assert_int_equal(d.revision, 3);
    assert_string_equal(d.status, "deploying");
    zl_store_deployment_fini(&d);
    struct zl_store_revision *v = NULL;
    size_t n = 0;
    assert_int_equal(zl_store_revision_list(s, "shop", &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].revision, 1);
    assert_string_equal(v[0].note, "");
    assert_string_equal(v[1].note, "rolled back: broken");
    assert_string_equal(v[2].note, "rollback to revision 1");
    zl_store_revisions_free(v, n);
    /* no such revision: nothing changes */
    assert_int_equal(zl_store_rollback(s, "shop", 9, 0, &rev, &err), -ZL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no revision 9"));
    assert_int_equal(zl_store_revision_list(s, "shop", &v, &n, &err), 0);
    assert_int_equal(n, 3);
    zl_store_revisions_free(v, n);
    /* decided on an older revision: a newer apply wins, nothing changes */
    assert_int_equal(zl_store_rollback(s, "shop", 1, 2, &rev, &err), -ZL_EINVAL);
    assert_non_null(strstr(err.msg, "at revision 3 now"));
    assert_int_equal(zl_store_rollback(s, "gone", 1, 1, &rev, &err), -ZL_ENOTFOUND);
    assert_int_equal(zl_store_revision_list(s, "nothing", &v, &n, &err), 0);
    assert_int_equal(n, 0);
    zl_store_revisions_free(v, n);
    zl_store_close(s);
    free(path);
}

static void test_bad_database(void **state)
{
    (void)state;
    char *path = zl_xasprintf("%s/garbage.db", dir);
    FILE *f = fopen(path, "w");
    fputs("this is not a database, just text that is long enough to look like a header....", f);
    fclose(f);
    struct zl_store *s = NULL;
    struct zl_err err;
    assert_true(zl_store_open(path, &s, &err) < 0);
    assert_non_null(strstr(err.msg, "garbage.db"));
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_images),    cmocka_unit_test(test_deployments),
        cmocka_unit_test(test_crashes),   cmocka_unit_test(test_controls),
        cmocka_unit_test(test_revisions), cmocka_unit_test(test_bad_database),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
