/* SPDX-License-Identifier: Apache-2.0 */
/* http/tls.c: server-side TLS over memory (the socket stays libuv's): certificates chosen by
 * SNI, a self-signed one made once per node for everything else, TLS 1.2 and 1.3. OpenSSL
 * reads ciphertext straight from the bytes the caller just read and writes it into one
 * buffer per connection, which the caller sends from and which is freed once large and empty:
 * no copy through memory BIOs, no buffer kept at its largest size by an idle connection. */
#include "http/http.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

struct cert {
    SSL_CTX *ctx;
    char **names; /* lower-case DNS names, "*.example.com" for wildcards */
    size_t n;
    char **hosts; /* named in a spec: the endpoints' hosts it answers first (lower-case) */
    size_t nhosts;
};

struct zl_tls_certs {
    struct cert *c;
    size_t n;
    SSL_CTX *fallback; /* the self-signed one, or the first loaded */
    unsigned refs;
};

struct zl_tls {
    SSL *ssl;
    bool http; /* ALPN: h2 and http/1.1 may be agreed */
    struct zl_tls_certs *certs;
    const char *in; /* ciphertext being read (zl_tls_read's), not yet taken by OpenSSL */
    size_t in_len;
    struct zl_buf out; /* ciphertext made, from out_off on not yet taken */
    size_t out_off;
    bool failed;
};

#define OUT_KEEP 16384 /* an empty output buffer larger than this is freed */

static int err_ssl(struct zl_err *err, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return zl_err_set(err, EINVAL, "%s: %s", what, buf);
}

/* ---------------- files named by path ---------------- */

/* Pseudo file systems whose "regular" files are no certificate: reading one may never end
 * (/proc/kcore) or may do something. */
static bool pseudo_fs(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0)
        return false;
    switch ((unsigned long)sf.f_type) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case BPF_FS_MAGIC:
    case EFIVARFS_MAGIC:
    case PSTOREFS_MAGIC:
        return true;
    default:
        return false;
    }
}

int zl_tls_file_read(const char *path, char **data, size_t *len, struct zl_err *err)
{
    *data = NULL;
    *len = 0;
    /* nothing but a regular file is ever opened: a FIFO would block the loop, a device
     * (a watchdog, a terminal) do something on open. O_PATH opens no file; the file it found
     * is then opened through /proc/self/fd, so the one checked is the one read even when the
     * name is changed in between (else by name again, and the same inode checked after). */
    struct stat st, fst;
    int pfd = open(path, O_PATH | O_CLOEXEC);
    if (pfd < 0 || fstat(pfd, &st) < 0) {
        int e = errno;
        if (pfd >= 0)
            close(pfd);
        return zl_err_sys(err, e, "cannot read %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(pfd);
        return zl_err_set(err, EINVAL, "%s is not a file", path);
    }
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
    int fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
        fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    int e = errno;
    close(pfd);
    if (fd < 0)
        return zl_err_sys(err, e, "cannot read %s", path);
    int rc = 0;
    if (fstat(fd, &fst) < 0)
        rc = zl_err_sys(err, errno, "cannot read %s", path);
    else if (!S_ISREG(fst.st_mode) || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino)
        rc = zl_err_set(err, EINVAL, "%s is not a file (it changed while being opened)", path);
    else if (pseudo_fs(fd))
        rc = zl_err_set(err, EINVAL, "%s is not a file (it is in /proc, /sys or the like)", path);
    /* at most ZL_TLS_FILE_MAX, whatever st_size says (it may be 0 or wrong) */
    char *buf = rc == 0 ? zl_xmalloc(ZL_TLS_FILE_MAX + 2) : NULL;
    size_t n = 0;
    while (rc == 0 && n <= ZL_TLS_FILE_MAX) {
        ssize_t k = read(fd, buf + n, ZL_TLS_FILE_MAX + 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            rc = zl_err_sys(err, errno, "cannot read %s", path);
        else if (k == 0)
            break;
        else
            n += (size_t)k;
    }
    close(fd);
    if (rc == 0 && n > ZL_TLS_FILE_MAX)
        rc = zl_err_set(err, EFBIG, "%s is larger than %u KiB: no certificate file is", path,
                        ZL_TLS_FILE_MAX / 1024);
    if (rc < 0) {
        zl_tls_file_free(buf, n);
        return -1;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

void zl_tls_file_free(char *data, size_t len)
{
    if (!data)
        return;
    OPENSSL_cleanse(data, len); /* it may hold a private key */
    free(data);
}

/* ---------------- certificates ---------------- */

static int on_sni(SSL *ssl, int *alert, void *arg);

static int no_prompt(char *buf, int size, int rw, void *u)
{
    (void)buf;
    (void)size;
    (void)rw;
    (void)u;
    return 0; /* an encrypted key is not asked for (on a terminal): it does not load */
}

static SSL_CTX *ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_default_passwd_cb(ctx, no_prompt);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    return ctx;
}

static char *lower_ndup(const char *s, size_t len)
{
    char *n = zl_xstrndup(s, len);
    for (char *p = n; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return n;
}

static void add_name(struct cert *c, const char *s, size_t len)
{
    c->names = zl_xrealloc(c->names, (c->n + 1) * sizeof(*c->names));
    c->names[c->n++] = lower_ndup(s, len);
}

/* The names a certificate is for: its DNS subject alternative names, else its CN. */
static void cert_names(struct cert *c, X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                     (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    if (c->n)
        return;
    char cn[256];
    int k = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    if (k > 0)
        add_name(c, cn, (size_t)k);
}

/* ALPN: h2 when the client offers it, else http/1.1 (or no protocol at all). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x02h2\x08http/1.1";
    (void)arg;
    const struct zl_tls *t = SSL_get_app_data(ssl);
    if (!t || !t->http)
        return SSL_TLSEXT_ERR_NOACK; /* a stream of unknown protocol: none agreed */
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int mismatch(struct zl_err *err, const char *cert, const char *key)
{
    ERR_clear_error();
    return zl_err_set(err, EINVAL, "the key in %s does not match the certificate in %s", key, cert);
}

static int add_ctx(struct zl_tls_certs *cs, SSL_CTX *ctx, const char *cert, const char *key,
                   struct zl_err *err)
{
    if (SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return mismatch(err, cert, key);
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, on_sni);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    SSL_CTX_set_tlsext_servername_arg(ctx, cs);
    cs->c = zl_xrealloc(cs->c, (cs->n + 1) * sizeof(*cs->c));
    struct cert *c = &cs->c[cs->n++];
    *c = (struct cert){ctx, NULL, 0, NULL, 0};
    cert_names(c, SSL_CTX_get0_certificate(ctx));
    if (!cs->fallback)
        cs->fallback = ctx;
    return 0;
}

/* A PEM file's bytes (zl_tls_file_read): every certificate and key is parsed from memory,
 * never read by OpenSSL from a name. */
struct pem {
    const char *path;
    char *data;
    size_t len;
};

static int pem_read(struct pem *f, const char *path, struct zl_err *err)
{
    f->path = path;
    return zl_tls_file_read(path, &f->data, &f->len, err);
}

static void pem_free(struct pem *f)
{
    zl_tls_file_free(f->data, f->len);
    f->data = NULL;
    f->len = 0;
}

static BIO *pem_bio(const struct pem *f)
{
    return BIO_new_mem_buf(f->data, (int)f->len); /* at most ZL_TLS_FILE_MAX */
}

/* The first certificate of f (the leaf), or NULL. */
static X509 *pem_leaf(const struct pem *f)
{
    BIO *b = pem_bio(f);
    X509 *x = b ? PEM_read_bio_X509_AUX(b, NULL, no_prompt, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return x;
}

/* The first private key of f, or NULL (none, or an encrypted one: no passphrase is asked). */
static EVP_PKEY *pem_key(const struct pem *f)
{
    BIO *b = pem_bio(f);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_prompt, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return k;
}

static bool pem_encrypted(const struct pem *f)
{
    return memmem(f->data, f->len, "ENCRYPTED", 9) != NULL;
}

/* Why f gave no key; hint: what to do when the key was looked for in the certificate's file. */
static int no_key(const struct pem *f, const char *hint, struct zl_err *err)
{
    if (pem_encrypted(f))
        return zl_err_set(err, EINVAL,
                          "the private key in %s is encrypted: no passphrase is asked for "
                          "(keep it unencrypted, readable by root only)",
                          f->path);
    return zl_err_set(err, EINVAL,
                      "%s holds no private key (a PEM 'PRIVATE KEY' block, not "
                      "encrypted)%s",
                      f->path, hint ? hint : "");
}

/* A context with cert's chain (the leaf first, then the others) and key's key (key may be
 * cert), as SSL_CTX_use_certificate_chain_file and SSL_CTX_use_PrivateKey_file would load
 * them but from memory, added to cs. */
static int add_pem(struct zl_tls_certs *cs, const struct pem *cert, const struct pem *key,
                   struct zl_err *err)
{
    SSL_CTX *ctx = ctx_new();
    if (!ctx)
        return err_ssl(err, "TLS context");
    int rc = -1;
    EVP_PKEY *pk = NULL;
    BIO *b = pem_bio(cert);
    X509 *x = b ? PEM_read_bio_X509_AUX(b, NULL, no_prompt, NULL) : NULL, *ca;
    if (!x) {
        ERR_clear_error();
        zl_err_set(err, EINVAL, "%s holds no certificate (a PEM 'CERTIFICATE' block)", cert->path);
        goto out;
    }
    if (SSL_CTX_use_certificate(ctx, x) != 1) {
        err_ssl(err, cert->path);
        goto out;
    }
    ERR_clear_error(); /* so that the last error below is the chain's */
    while ((ca = PEM_read_bio_X509(b, NULL, no_prompt, NULL)))
        if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
            X509_free(ca);
            err_ssl(err, cert->path);
            goto out;
        }
    unsigned long e = ERR_peek_last_error(); /* the end of the file, or a broken one */
    if (e && (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)) {
        err_ssl(err, cert->path);
        goto out;
    }
    ERR_clear_error();
    pk = pem_key(key);
    if (!pk) {
        no_key(key, NULL, err);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
        if (X509_check_private_key(x, pk) != 1)
            mismatch(err, cert->path, key->path);
        else
            err_ssl(err, key->path);
        goto out;
    }
    rc = add_ctx(cs, ctx, cert->path, key->path, err);
    ctx = NULL;
out:
    EVP_PKEY_free(pk);
    X509_free(x);
    BIO_free(b);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

int zl_tls_certs_add_file(struct zl_tls_certs *cs, const char *cert, const char *key,
                          struct zl_err *err)
{
    struct pem c = {0}, k = {0};
    int rc = pem_read(&c, cert, err);
    if (rc == 0 && key)
        rc = pem_read(&k, key, err);
    if (rc == 0)
        rc = add_pem(cs, &c, key ? &k : &c, err);
    pem_free(&c);
    pem_free(&k);
    return rc;
}

int zl_tls_certs_load_dir(struct zl_tls_certs *cs, const char *dir, struct zl_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : zl_err_sys(err, errno, "open %s", dir);
    struct dirent *e;
    int rc = 0;
    struct zl_err one;
    while ((e = readdir(d))) { /* a broken file is reported; the others still load */
        size_t l = strlen(e->d_name);
        char *cert = NULL, *key = NULL;
        if (l > 4 && !strcmp(e->d_name + l - 4, ".pem"))
            cert = zl_xasprintf("%s/%s", dir, e->d_name);
        else if (l > 4 && !strcmp(e->d_name + l - 4, ".crt")) {
            cert = zl_xasprintf("%s/%s", dir, e->d_name);
            key = zl_xasprintf("%s/%.*s.key", dir, (int)(l - 4), e->d_name);
        }
        if (cert && zl_tls_certs_add_file(cs, cert, key, &one) < 0 && rc == 0) {
            rc = -1;
            zl_err_set(err, one.code, "%s", one.msg);
        }
        free(cert);
        free(key);
    }
    closedir(d);
    return rc;
}

int zl_tls_certs_add_named(struct zl_tls_certs *cs, const char *cert, const char *key,
                           const char *const *hosts, size_t nhosts, struct zl_err *err)
{
    if (zl_tls_certs_add_file(cs, cert, key, err) < 0)
        return -1;
    struct cert *c = &cs->c[cs->n - 1];
    c->hosts = zl_xcalloc(nhosts + 1, sizeof(*c->hosts));
    for (size_t i = 0; i < nhosts; i++)
        if (hosts[i] && *hosts[i])
            c->hosts[c->nhosts++] = lower_ndup(hosts[i], strlen(hosts[i]));
    return 0;
}

static void when(const ASN1_TIME *t, char *out, size_t cap)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || !strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(out, cap, "?");
}

int zl_tls_cert_check(const char *cert, const char *key, struct zl_tls_cert_info *info,
                      struct zl_err *err)
{
    memset(info, 0, sizeof(*info));
    /* each file read once, and checked and loaded from those bytes */
    struct pem c = {0}, k = {0};
    if (pem_read(&c, cert, err) < 0)
        return -1;
    if (key && pem_read(&k, key, err) < 0) {
        info->key_at_fault = true;
        pem_free(&c);
        return -1;
    }
    const struct pem *kf = key ? &k : &c;
    X509 *x = pem_leaf(&c);
    EVP_PKEY *pk = x ? pem_key(kf) : NULL;
    int rc = -1;
    if (!x) {
        zl_err_set(err, EINVAL, "%s holds no certificate (a PEM 'CERTIFICATE' block)", cert);
        goto out;
    }
    X509_NAME_oneline(X509_get_subject_name(x), info->subject, sizeof(info->subject));
    when(X509_get0_notBefore(x), info->not_before, sizeof(info->not_before));
    when(X509_get0_notAfter(x), info->not_after, sizeof(info->not_after));
    /* X509_cmp_current_time: 0 when the date cannot be read */
    int after = X509_cmp_current_time(X509_get0_notAfter(x)),
        before = X509_cmp_current_time(X509_get0_notBefore(x));
    if (!pk) {
        info->key_at_fault = key != NULL;
        no_key(kf, key ? NULL : ": add it, or name its file with the label zlayer.proxy/tls-key",
               err);
    } else if (X509_check_private_key(x, pk) != 1) {
        info->key_at_fault = key != NULL;
        mismatch(err, cert, kf->path);
    } else if (after == 0 || before == 0) {
        zl_err_set(err, EINVAL,
                   "the certificate in %s (%s) has a validity date that cannot be read "
                   "(notBefore %s, notAfter %s)",
                   cert, info->subject, info->not_before, info->not_after);
    } else if (after < 0) {
        zl_err_set(err, EINVAL, "the certificate in %s (%s) expired on %s", cert, info->subject,
                   info->not_after);
    } else if (before > 0) {
        zl_err_set(err, EINVAL, "the certificate in %s (%s) is not valid before %s", cert,
                   info->subject, info->not_before);
    } else {
        /* and the way the proxy loads it (the whole chain) */
        struct zl_tls_certs *cs = zl_tls_certs_new();
        rc = add_pem(cs, &c, kf, err);
        zl_tls_certs_unref(cs);
    }
out:
    ERR_clear_error();
    EVP_PKEY_free(pk);
    X509_free(x);
    pem_free(&c);
    pem_free(&k);
    return rc;
}

/* A new key and a self-signed certificate for names, one year, written to path (0600). */
static int make_self_signed(const char *path, const char *const *names, size_t n,
                            struct zl_err *err)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int rc = -1;
    if (!key || !x)
        goto out;
    X509_set_version(x, 2);
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        goto out;
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"zlayer", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)(n ? names[0] : "localhost"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    struct zl_buf san;
    zl_buf_init(&san);
    zl_buf_puts(&san, "DNS:localhost,IP:127.0.0.1");
    for (size_t i = 0; i < n; i++)
        zl_buf_printf(&san, ",DNS:%s", names[i]);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san.data);
    zl_buf_fini(&san);
    if (!ext || !X509_add_ext(x, ext, -1)) {
        X509_EXTENSION_free(ext);
        goto out;
    }
    X509_EXTENSION_free(ext);
    if (!X509_sign(x, key, EVP_sha256()))
        goto out;
    char *tmp = zl_xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) && PEM_write_X509(f, x) &&
        fflush(f) == 0 && fsync(fd) == 0 && rename(tmp, path) == 0)
        rc = 0;
    if (f)
        fclose(f);
    else if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
out:
    if (rc < 0)
        err_ssl(err, "self-signed certificate");
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int zl_tls_certs_default(struct zl_tls_certs *cs, const char *path, const char *const *names,
                         size_t n, struct zl_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0 && make_self_signed(path, names, n, err) < 0)
        return -1;
    size_t count = cs->n;
    if (zl_tls_certs_add_file(cs, path, NULL, err) < 0)
        return -1;
    /* the default answers names no other certificate has; it is not a match itself */
    struct cert *c = &cs->c[count];
    for (size_t i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    c->names = NULL;
    c->n = 0;
    cs->fallback = c->ctx;
    return 0;
}

struct zl_tls_certs *zl_tls_certs_new(void)
{
    struct zl_tls_certs *cs = zl_xcalloc(1, sizeof(*cs));
    cs->refs = 1;
    return cs;
}

size_t zl_tls_certs_count(const struct zl_tls_certs *cs)
{
    return cs->n;
}

struct zl_tls_certs *zl_tls_certs_ref(struct zl_tls_certs *cs)
{
    cs->refs++;
    return cs;
}

void zl_tls_certs_unref(struct zl_tls_certs *cs)
{
    if (!cs || --cs->refs)
        return;
    for (size_t i = 0; i < cs->n; i++) {
        for (size_t k = 0; k < cs->c[i].n; k++)
            free(cs->c[i].names[k]);
        free(cs->c[i].names);
        for (size_t k = 0; k < cs->c[i].nhosts; k++)
            free(cs->c[i].hosts[k]);
        free(cs->c[i].hosts);
        SSL_CTX_free(cs->c[i].ctx);
    }
    free(cs->c);
    free(cs);
}

/* How well a name of a certificate answers host: 0 not at all. An endpoint's host (pinned)
 * before the certificate's own names when both are exact; exact names before wildcards; an
 * endpoint's wildcard takes any name below it as its route does (a longer suffix first), a
 * certificate's one label only. */
static unsigned name_rank(const char *pattern, const char *host, bool pinned)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t pl = strlen(pattern + 1), hl = strlen(host);
        if (hl <= pl || strcasecmp(host + hl - pl, pattern + 1) != 0)
            return 0;
        if (!pinned && memchr(host, '.', hl - pl)) /* a wildcard stands for one label */
            return 0;
        return (pinned ? 2u << 20 : 1u << 20) + (unsigned)(pl < 0xfffff ? pl : 0xfffff);
    }
    return strcasecmp(pattern, host) ? 0 : pinned ? 4u << 20 : 3u << 20;
}

int zl_tls_certs_choose(const struct zl_tls_certs *cs, const char *host)
{
    int pick = -1;
    unsigned best = 0;
    for (size_t i = 0; host && *host && i < cs->n; i++) {
        const struct cert *c = &cs->c[i];
        for (size_t k = 0; k < c->nhosts + c->n; k++) {
            bool pinned = k < c->nhosts;
            unsigned r = name_rank(pinned ? c->hosts[k] : c->names[k - c->nhosts], host, pinned);
            if (r > best) { /* the first loaded on a tie */
                best = r;
                pick = (int)i;
            }
        }
    }
    return pick;
}

/* SNI: the certificate for the name asked (zl_tls_certs_choose), else the fallback. */
static int on_sni(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    struct zl_tls_certs *cs = arg;
    int i = zl_tls_certs_choose(cs, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
    SSL_CTX *pick = i >= 0 ? cs->c[i].ctx : cs->fallback;
    if (pick && pick != SSL_get_SSL_CTX(ssl))
        SSL_set_SSL_CTX(ssl, pick);
    return SSL_TLSEXT_ERR_OK;
}

/* ---------------- the connection's BIO ---------------- */

static int bio_write(BIO *b, const char *p, int n)
{
    struct zl_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (n > 0)
        zl_buf_append(&t->out, p, (size_t)n);
    return n;
}

static int bio_read(BIO *b, char *p, int n)
{
    struct zl_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!t->in_len) {
        BIO_set_retry_read(b); /* SSL_ERROR_WANT_READ: more when the socket has it */
        return -1;
    }
    size_t k = t->in_len < (size_t)n ? t->in_len : (size_t)n;
    memcpy(p, t->in, k);
    t->in += k;
    t->in_len -= k;
    return (int)k;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct zl_tls *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return (long)t->in_len;
    case BIO_CTRL_WPENDING:
        return (long)(t->out.len - t->out_off);
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *bio_meth;

static void bio_meth_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "zlayer");
    if (m && (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
              !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create))) {
        BIO_meth_free(m);
        m = NULL;
    }
    bio_meth = m;
}

static BIO_METHOD *bio_method(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, bio_meth_make);
    return bio_meth;
}

/* ---------------- connections ---------------- */

struct zl_tls *zl_tls_new(struct zl_tls_certs *cs, bool http)
{
    BIO_METHOD *m = bio_method();
    if (!cs || !cs->fallback || !m)
        return NULL;
    struct zl_tls *t = zl_xcalloc(1, sizeof(*t));
    zl_buf_init(&t->out);
    t->ssl = SSL_new(cs->fallback);
    BIO *bio = BIO_new(m);
    if (!t->ssl || !bio) {
        SSL_free(t->ssl);
        BIO_free(bio);
        free(t);
        return NULL;
    }
    BIO_set_data(bio, t);
    t->http = http;
    SSL_set_app_data(t->ssl, t);
    SSL_set_bio(t->ssl, bio, bio); /* one BIO both ways, owned by ssl */
    SSL_set_accept_state(t->ssl);
    t->certs = zl_tls_certs_ref(cs);
    return t;
}

void zl_tls_free(struct zl_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    zl_tls_certs_unref(t->certs);
    zl_buf_fini(&t->out);
    free(t);
}

int zl_tls_read(struct zl_tls *t, const char *p, size_t n,
                void (*on_plain)(void *arg, const char *p, size_t n), void *arg)
{
    if (t->failed)
        return -1;
    /* OpenSSL keeps a record cut short in its own buffer: every byte of p is taken before
     * SSL_read wants more */
    t->in = p;
    t->in_len = n;
    char buf[16384];
    int rc = 0;
    for (int guard = 0; guard < 100000; guard++) {
        int k = SSL_read(t->ssl, buf, sizeof(buf));
        if (k > 0) {
            on_plain(arg, buf, (size_t)k);
            /* every byte taken and nothing decrypted left: another SSL_read could only say
             * "want read" (no read-ahead: OpenSSL holds at most a record cut short) */
            if (!t->in_len && !SSL_has_pending(t->ssl))
                break;
            continue;
        }
        int e = SSL_get_error(t->ssl, k); /* at once: before anything else touches OpenSSL */
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        ERR_clear_error();
        t->failed = e != SSL_ERROR_ZERO_RETURN;
        rc = e == SSL_ERROR_ZERO_RETURN ? 1 : -1; /* 1: the peer said close_notify */
        break;
    }
    t->in = NULL; /* what follows a close_notify or an error is dropped */
    t->in_len = 0;
    return rc;
}

int zl_tls_write(struct zl_tls *t, const char *p, size_t n)
{
    /* room for the records at once (a 5-byte header and a 17-byte tag per 16 KiB), not
     * doublings while OpenSSL writes them */
    if (n)
        zl_buf_reserve(&t->out, n + (n / 16384 + 1) * 22);
    size_t done = 0;
    while (done < n && !t->failed) {
        size_t chunk = n - done > 1u << 30 ? 1u << 30 : n - done;
        int k = SSL_write(t->ssl, p + done, (int)chunk);
        if (k <= 0) {
            SSL_get_error(t->ssl, k);
            ERR_clear_error();
            t->failed = true;
            return -1;
        }
        done += (size_t)k;
    }
    return t->failed ? -1 : 0;
}

size_t zl_tls_pending(const struct zl_tls *t)
{
    return t->out.len - t->out_off;
}

const char *zl_tls_out(const struct zl_tls *t, size_t *n)
{
    *n = t->out.len - t->out_off;
    return *n ? t->out.data + t->out_off : "";
}

void zl_tls_out_taken(struct zl_tls *t, size_t n)
{
    t->out_off += n;
    if (t->out_off < t->out.len)
        return;
    t->out.len = t->out_off = 0;
    if (t->out.cap > OUT_KEEP)
        zl_buf_fini(&t->out); /* a large response's buffer is not kept by an idle connection */
}

void zl_tls_close_notify(struct zl_tls *t)
{
    if (!t->failed && SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl);
    ERR_clear_error();
}

const char *zl_tls_alpn(const struct zl_tls *t)
{
    const unsigned char *p = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    if (n == 2 && !memcmp(p, "h2", 2))
        return "h2";
    return n ? "http/1.1" : NULL;
}

bool zl_tls_ready(const struct zl_tls *t)
{
    return SSL_is_init_finished(t->ssl);
}
