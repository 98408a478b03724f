/* SPDX-License-Identifier: Apache-2.0 */
/* The proxy's certificate store: which certificate SNI picks (the folder's and those named
 * in a spec, with the endpoints' hosts), and the checks a named certificate passes at
 * deploy. Certificates are made here, in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "http/http.h"

static char dir[] = "/tmp/zl-tls-certs-XXXXXX";

/* A self-signed certificate for the DNS names san (comma-separated) valid from days_from to
 * days_to (relative to now): NAME.crt and NAME.key in dir, or both in NAME.pem with one. */
static void make(const char *name, const char *san, long days_from, long days_to, bool one)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), days_from * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), days_to * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, n);
    struct zl_buf sb;
    zl_buf_init(&sb);
    for (const char *p = san; *p;) {
        size_t l = strcspn(p, ",");
        zl_buf_printf(&sb, "%sDNS:%.*s", sb.len ? "," : "", (int)l, p);
        p += l + (p[l] == ',');
    }
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, sb.data);
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    char *cp = zl_xasprintf("%s/%s.%s", dir, name, one ? "pem" : "crt"),
         *kp = zl_xasprintf("%s/%s.key", dir, name);
    FILE *f = fopen(cp, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    if (one)
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    if (!one) {
        f = fopen(kp, "w");
        assert_non_null(f);
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
        fclose(f);
    }
    free(cp);
    free(kp);
    zl_buf_fini(&sb);
    X509_free(x);
    EVP_PKEY_free(key);
}

static char *at(const char *file)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, file);
    return buf[k];
}

/* NAME.pem: a certificate whose notAfter is no date (the signature still good), and its key */
static void make_bad_date(const char *name)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    /* a UTCTime without seconds: DER takes it, RFC 5280 does not */
    assert_int_equal(ASN1_STRING_set(X509_getm_notAfter(x), "4901010000Z", -1), 1);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, n);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    char *cp = zl_xasprintf("%s/%s.pem", dir, name);
    FILE *f = fopen(cp, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    free(cp);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* NAME.key: a's key, encrypted with a passphrase */
static void make_encrypted(const char *name)
{
    FILE *f = fopen(at("a.key"), "r");
    assert_non_null(f);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(key);
    char *kp = zl_xasprintf("%s/%s.key", dir, name);
    f = fopen(kp, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PKCS8PrivateKey(f, key, EVP_aes_256_cbc(), "secret", 6, NULL, NULL),
                     1);
    fclose(f);
    free(kp);
    EVP_PKEY_free(key);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    make("a", "a.test", -1, 30, false);
    make("b", "b.test,*.wild.test", -1, 30, false);
    make("other", "other.test", -1, 30, true);
    make("old", "old.test", -10, -1, true);
    make("later", "later.test", 5, 30, true);
    make_bad_date("baddate");
    make_encrypted("enc");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = zl_xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static void test_choose(void **state)
{
    (void)state;
    struct zl_err err;
    struct zl_tls_certs *cs = zl_tls_certs_new();
    /* the folder's: a (0), b (1); then other.pem named for the hosts app.test and *.api.test
     * (2), and a's file named again for b.test (3) */
    assert_int_equal(zl_tls_certs_add_file(cs, at("a.crt"), at("a.key"), &err), 0);
    assert_int_equal(zl_tls_certs_add_file(cs, at("b.crt"), at("b.key"), &err), 0);
    const char *hosts[] = {"App.Test", "*.api.test"};
    assert_int_equal(zl_tls_certs_add_named(cs, at("other.pem"), NULL, hosts, 2, &err), 0);
    const char *hosts2[] = {"b.test"};
    assert_int_equal(zl_tls_certs_add_named(cs, at("a.crt"), at("a.key"), hosts2, 1, &err), 0);
    assert_int_equal(zl_tls_certs_count(cs), 4);
    assert_int_equal(zl_tls_certs_choose(cs, "a.test"), 0);
    /* an endpoint's host before a certificate's own exact name */
    assert_int_equal(zl_tls_certs_choose(cs, "b.test"), 3);
    /* the names differ: the endpoint's host picks the named one, case aside */
    assert_int_equal(zl_tls_certs_choose(cs, "app.test"), 2);
    assert_int_equal(zl_tls_certs_choose(cs, "APP.test"), 2);
    /* its own names too */
    assert_int_equal(zl_tls_certs_choose(cs, "other.test"), 2);
    /* an endpoint's wildcard: any name below, as its route takes them */
    assert_int_equal(zl_tls_certs_choose(cs, "x.api.test"), 2);
    assert_int_equal(zl_tls_certs_choose(cs, "y.x.api.test"), 2);
    assert_int_equal(zl_tls_certs_choose(cs, "api.test"), -1);
    /* a certificate's wildcard: one label */
    assert_int_equal(zl_tls_certs_choose(cs, "x.wild.test"), 1);
    assert_int_equal(zl_tls_certs_choose(cs, "y.x.wild.test"), -1);
    assert_int_equal(zl_tls_certs_choose(cs, "none.test"), -1);
    assert_int_equal(zl_tls_certs_choose(cs, NULL), -1);
    zl_tls_certs_unref(cs);

    /* an exact name beats an endpoint's wildcard; a longer wildcard a shorter one */
    cs = zl_tls_certs_new();
    const char *w1[] = {"*.wild.test"}, *w2[] = {"*.x.wild.test"};
    assert_int_equal(zl_tls_certs_add_named(cs, at("other.pem"), NULL, w1, 1, &err), 0);
    assert_int_equal(zl_tls_certs_add_named(cs, at("a.crt"), at("a.key"), w2, 1, &err), 0);
    assert_int_equal(zl_tls_certs_add_file(cs, at("b.crt"), at("b.key"), &err), 0);
    assert_int_equal(zl_tls_certs_choose(cs, "q.wild.test"), 0);
    assert_int_equal(zl_tls_certs_choose(cs, "q.x.wild.test"), 1);
    assert_int_equal(zl_tls_certs_choose(cs, "b.test"), 2);
    zl_tls_certs_unref(cs);
}

static void test_check(void **state)
{
    (void)state;
    struct zl_err err;
    struct zl_tls_cert_info info;
    assert_int_equal(zl_tls_cert_check(at("other.pem"), NULL, &info, &err), 0);
    assert_string_equal(info.subject, "/CN=other");
    assert_int_equal(zl_tls_cert_check(at("a.crt"), at("a.key"), &info, &err), 0);

    assert_true(zl_tls_cert_check(at("missing.pem"), NULL, &info, &err) < 0);
    assert_non_null(strstr(err.msg, "cannot read"));
    assert_non_null(strstr(err.msg, "missing.pem"));
    assert_false(info.key_at_fault);
    assert_true(zl_tls_cert_check(dir, NULL, &info, &err) < 0);
    assert_non_null(strstr(err.msg, "is not a file"));
    /* no certificate: a key alone */
    assert_true(zl_tls_cert_check(at("a.key"), NULL, &info, &err) < 0);
    assert_non_null(strstr(err.msg, "holds no certificate"));
    /* no key */
    assert_true(zl_tls_cert_check(at("a.crt"), NULL, &info, &err) < 0);
    assert_non_null(strstr(err.msg, "holds no private key"));
    assert_non_null(strstr(err.msg, "zlayer.proxy/tls-key"));
    assert_false(info.key_at_fault);
    assert_true(zl_tls_cert_check(at("a.crt"), at("a.crt"), &info, &err) < 0);
    assert_true(info.key_at_fault);
    assert_true(zl_tls_cert_check(at("a.crt"), at("nokey.key"), &info, &err) < 0);
    assert_non_null(strstr(err.msg, "cannot read"));
    assert_true(info.key_at_fault);
    /* another certificate's key */
    assert_true(zl_tls_cert_check(at("a.crt"), at("b.key"), &info, &err) < 0);
    assert_non_null(strstr(err.msg, "does not match"));
    assert_true(info.key_at_fault);
    /* out of its validity */
    assert_true(zl_tls_cert_check(at("old.pem"), NULL, &info, &err) < 0);
    assert_non_null(strstr(err.msg, "expired on"));
    assert_non_null(strstr(err.msg, "UTC"));
    assert_true(zl_tls_cert_check(at("later.pem"), NULL, &info, &err) < 0);
    assert_non_null(strstr(err.msg, "not valid before"));
    /* a date that cannot be read is no valid date */
    assert_true(zl_tls_cert_check(at("baddate.pem"), NULL, &info, &err) < 0);
    assert_non_null(strstr(err.msg, "validity date that cannot be read"));
    /* an encrypted key: refused, no passphrase asked for */
    assert_true(zl_tls_cert_check(at("a.crt"), at("enc.key"), &info, &err) < 0);
    assert_non_null(strstr(err.msg, "is encrypted"));
    assert_true(info.key_at_fault);
    struct zl_tls_certs *cs = zl_tls_certs_new();
    assert_true(zl_tls_certs_add_file(cs, at("a.crt"), at("enc.key"), &err) < 0);
    assert_non_null(strstr(err.msg, "is encrypted"));
    /* no file is ever opened but a regular one: a FIFO is refused at once */
    assert_int_equal(mkfifo(at("fifo.pem"), 0600), 0);
    assert_true(zl_tls_cert_check(at("fifo.pem"), NULL, &info, &err) < 0);
    assert_non_null(strstr(err.msg, "is not a file"));
    assert_true(zl_tls_cert_check(at("a.crt"), at("fifo.pem"), &info, &err) < 0);
    assert_true(info.key_at_fault);
    assert_true(zl_tls_certs_add_file(cs, at("fifo.pem"), NULL, &err) < 0);
    assert_true(zl_tls_certs_add_file(cs, at("a.crt"), at("fifo.pem"), &err) < 0);
    assert_int_equal(zl_tls_certs_count(cs), 0);
    zl_tls_certs_unref(cs);
    unlink(at("fifo.pem"));
}

/* zl_tls_file_read: what it takes, what it refuses, without blocking */
static void test_file_read(void **state)
{
    (void)state;
    struct zl_err err;
    char *data = (char *)1;
    size_t len = 1;
    /* a good PEM: all of it, NUL-terminated, and it parses */
    assert_int_equal(zl_tls_file_read(at("other.pem"), &data, &len, &err), 0);
    assert_non_null(data);
    assert_true(len > 100);
    assert_int_equal(strlen(data), len);
    assert_non_null(strstr(data, "-----BEGIN CERTIFICATE-----"));
    assert_non_null(strstr(data, "PRIVATE KEY-----"));
    BIO *b = BIO_new_mem_buf(data, (int)len);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    assert_non_null(x);
    X509_free(x);
    BIO_free(b);
    zl_tls_file_free(data, len);

    /* missing */
    assert_true(zl_tls_file_read(at("missing.pem"), &data, &len, &err) < 0);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err.msg, "cannot read"));
    /* a FIFO no one writes to: refused at once (an open would wait for a writer) */
    assert_int_equal(mkfifo(at("fifo"), 0600), 0);
    time_t t0 = time(NULL);
    assert_true(zl_tls_file_read(at("fifo"), &data, &len, &err) < 0);
    assert_true(time(NULL) - t0 < 2);
    assert_null(data);
    assert_non_null(strstr(err.msg, "is not a file"));
    unlink(at("fifo"));
    /* a directory, a device */
    assert_true(zl_tls_file_read(dir, &data, &len, &err) < 0);
    assert_non_null(strstr(err.msg, "is not a file"));
    assert_true(zl_tls_file_read("/dev/null", &data, &len, &err) < 0);
    assert_non_null(strstr(err.msg, "is not a file"));
    /* a symbolic link to a file is the file */
    assert_int_equal(symlink(at("other.pem"), at("link.pem")), 0);
    assert_int_equal(zl_tls_file_read(at("link.pem"), &data, &len, &err), 0);
    zl_tls_file_free(data, len);
    unlink(at("link.pem"));
    /* procfs and sysfs: "regular" files that are none (size 0, or endless) */
    assert_true(zl_tls_file_read("/proc/self/status", &data, &len, &err) < 0);
    assert_null(data);
    assert_non_null(strstr(err.msg, "/proc, /sys"));
    if (access("/sys/kernel/uevent_seqnum", R_OK) == 0) {
        assert_true(zl_tls_file_read("/sys/kernel/uevent_seqnum", &data, &len, &err) < 0);
        assert_non_null(strstr(err.msg, "/proc, /sys"));
    }
    /* at most 1 MiB, whatever the size */
    FILE *f = fopen(at("big.pem"), "w");
    assert_non_null(f);
    for (unsigned i = 0; i < ZL_TLS_FILE_MAX; i++)
        fputc('a', f);
    fclose(f);
    assert_int_equal(zl_tls_file_read(at("big.pem"), &data, &len, &err), 0);
    assert_int_equal(len, ZL_TLS_FILE_MAX);
    zl_tls_file_free(data, len);
    f = fopen(at("big.pem"), "a");
    fputc('a', f);
    fclose(f);
    assert_true(zl_tls_file_read(at("big.pem"), &data, &len, &err) < 0);
    assert_null(data);
    assert_non_null(strstr(err.msg, "larger than 1024 KiB"));
    /* a sparse one of 4 GiB: refused after 1 MiB read */
    assert_int_equal(truncate(at("big.pem"), 4LL << 30), 0);
    assert_true(zl_tls_file_read(at("big.pem"), &data, &len, &err) < 0);
    assert_non_null(strstr(err.msg, "larger than"));
    unlink(at("big.pem"));
    /* and so the certificate store */
    struct zl_tls_certs *cs = zl_tls_certs_new();
    /* a chain: the leaf, then the others, read from memory */
    char *cmd = zl_xasprintf("cat '%s' '%s' >'%s'", at("a.crt"), at("b.crt"), at("chain.crt"));
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_int_equal(zl_tls_certs_add_file(cs, at("chain.crt"), at("a.key"), &err), 0);
    assert_int_equal(zl_tls_certs_choose(cs, "a.test"), 0);
    assert_int_equal(zl_tls_certs_choose(cs, "b.test"), -1); /* the leaf's names only */
    struct zl_tls_cert_info info;
    assert_int_equal(zl_tls_cert_check(at("chain.crt"), at("a.key"), &info, &err), 0);
    /* a broken certificate after the leaf */
    FILE *g = fopen(at("chain.crt"), "a");
    fputs("-----BEGIN CERTIFICATE-----\nnot base64 @@@\n-----END CERTIFICATE-----\n", g);
    fclose(g);
    assert_true(zl_tls_certs_add_file(cs, at("chain.crt"), at("a.key"), &err) < 0);
    assert_non_null(strstr(err.msg, "chain.crt"));
    assert_int_equal(zl_tls_certs_count(cs), 1);
    assert_true(zl_tls_certs_add_file(cs, "/proc/self/status", NULL, &err) < 0);
    assert_int_equal(zl_tls_certs_count(cs), 1);
    zl_tls_certs_unref(cs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_file_read),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
