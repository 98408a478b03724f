/* SPDX-License-Identifier: Apache-2.0 */
/* api/jwt.c: HS256 JSON Web Tokens for the TCP API: sign, and verify (the algorithm must be
 * HS256, the signature is compared in constant time, exp and nbf are enforced). */
#include "api/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *b64url(const unsigned char *p, size_t n)
{
    char *out = zl_xmalloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *c = out; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    return out;
}

/* Decodes into a heap buffer (NUL-terminated); NULL on bad input. */
static unsigned char *unb64url(const char *s, size_t n, size_t *outlen)
{
    if (n > 65536)
        return NULL;
    char *t = zl_xmalloc(n + 4);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            free(t);
            return NULL;
        }
        t[m++] = c;
    }
    while (m % 4)
        t[m++] = '=';
    unsigned char *out = zl_xmalloc(m / 4 * 3 + 1);
    int len = EVP_DecodeBlock(out, (unsigned char *)t, (int)m);
    free(t);
    if (len < 0) {
        free(out);
        return NULL;
    }
    size_t pad = (4 - n % 4) % 4;
    *outlen = (size_t)len - pad;
    out[*outlen] = '\0';
    return out;
}

static char *sign_part(const unsigned char *key, size_t keylen, const char *data, size_t n)
{
    unsigned char mac[32];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, n, mac, &maclen);
    return b64url(mac, maclen);
}

char *zl_api_jwt_sign(const unsigned char *key, size_t keylen, const char *subject,
                      const char *role, int64_t ttl_secs)
{
    int64_t now = (int64_t)time(NULL);
    json_t *claims = json_pack("{s:s, s:s, s:I, s:I}", "sub", subject, "role", role, "iat",
                               (json_int_t)now, "exp", (json_int_t)(now + ttl_secs));
    char *payload = json_dumps(claims, JSON_COMPACT);
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *p = b64url((const unsigned char *)payload, strlen(payload));
    char *signing = zl_xasprintf("%s.%s", h, p);
    char *sig = sign_part(key, keylen, signing, strlen(signing));
    char *token = zl_xasprintf("%s.%s", signing, sig);
    free(h);
    free(p);
    free(signing);
    free(sig);
    free(payload);
    json_decref(claims);
    return token;
}

int zl_api_jwt_verify(const unsigned char *key, size_t keylen, const char *token, char *role,
                      size_t rolecap, struct zl_err *err)
{
    const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.'))
        return zl_err_set(err, ZL_EINVAL, "malformed token");
    size_t hl, pl;
    unsigned char *h = unb64url(token, (size_t)(d1 - token), &hl);
    unsigned char *p = unb64url(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
    json_t *hj = h ? json_loadb((char *)h, hl, 0, NULL) : NULL;
    json_t *pj = p ? json_loadb((char *)p, pl, 0, NULL) : NULL;
    int rc = 0;
    const char *alg = json_string_value(json_object_get(hj, "alg"));
    if (!hj || !pj)
        rc = zl_err_set(err, ZL_EINVAL, "malformed token");
    else if (!alg || strcmp(alg, "HS256") != 0)
        rc = zl_err_set(err, ZL_EINVAL, "token algorithm must be HS256");
    if (rc == 0) {
        char *want = sign_part(key, keylen, token, (size_t)(d2 - token));
        size_t n = strlen(want);
        if (strlen(d2 + 1) != n || CRYPTO_memcmp(want, d2 + 1, n) != 0)
            rc = zl_err_set(err, ZL_EINVAL, "bad token signature");
        free(want);
    }
    int64_t now = (int64_t)time(NULL);
    json_t *exp = json_object_get(pj, "exp"), *nbf = json_object_get(pj, "nbf");
    if (rc == 0 && (!json_is_integer(exp) || json_integer_value(exp) <= now))
        rc = zl_err_set(err, ZL_EINVAL, "token expired");
    if (rc == 0 && nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now))
        rc = zl_err_set(err, ZL_EINVAL, "token not valid yet");
    if (rc == 0 && role) {
        const char *r = json_string_value(json_object_get(pj, "role"));
        snprintf(role, rolecap, "%s", r ? r : "");
    }
    json_decref(hj);
    json_decref(pj);
    free(h);
    free(p);
    return rc;
}

int zl_api_jwt_key(const char *root_dir, unsigned char key[32], struct zl_err *err)
{
    char *path = zl_xasprintf("%s/jwt.secret", root_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;
    if (fd >= 0) {
        if (read(fd, key, 32) != 32)
            rc = zl_err_set(err, ZL_EINVAL, "%s is damaged (remove it to make a new one)", path);
        close(fd);
    } else if (errno == ENOENT) {
        /* first use: 32 random bytes, readable by root only, written atomically */
        char *tmp = zl_xasprintf("%s.tmp", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (RAND_bytes(key, 32) != 1 || fd < 0 || write(fd, key, 32) != 32 || fsync(fd) < 0 ||
            rename(tmp, path) < 0)
            rc = zl_err_sys(err, errno ? errno : EIO, "create %s", path);
        if (fd >= 0)
            close(fd);
        free(tmp);
    } else {
        rc = zl_err_sys(err, errno, "open %s", path);
    }
    free(path);
    return rc;
}
