/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/pp.c: the PROXY protocol (HAProxy's, versions 1 and 2), which tells a backend who
 * the client is: a header written before the client's first byte (TCP: version 1, text), or
 * before each datagram (UDP: version 2, binary). The reader is for tests and fuzzing. */
#include "proxy/proxy.h"

#include <stdio.h>
#include <string.h>

static const unsigned char v2sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                        0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static void ip_text(uint32_t ip, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

size_t zl_proxy_pp_write(const struct zl_proxy_pp *h, int version, unsigned char *out, size_t cap)
{
    if (version == 1) {
        char s[16], d[16];
        ip_text(h->src_ip, s);
        ip_text(h->dst_ip, d);
        int n = snprintf((char *)out, cap, "PROXY %s %s %s %u %u\r\n", h->udp ? "UDP4" : "TCP4", s,
                         d, h->src_port, h->dst_port);
        return n > 0 && (size_t)n < cap && !h->udp ? (size_t)n : 0; /* v1 has no UDP */
    }
    if (version != 2 || cap < ZL_PROXY_PP_V2_LEN)
        return 0;
    memcpy(out, v2sig, sizeof(v2sig));
    out[12] = 0x21;                 /* version 2, PROXY */
    out[13] = h->udp ? 0x12 : 0x11; /* AF_INET, DGRAM or STREAM */
    out[14] = 0;                    /* 12 bytes of addresses follow */
    out[15] = 12;
    const uint32_t ips[2] = {h->src_ip, h->dst_ip};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 4; i++)
            out[16 + 4 * k + i] = (unsigned char)(ips[k] >> (24 - 8 * i));
    out[24] = (unsigned char)(h->src_port >> 8);
    out[25] = (unsigned char)h->src_port;
    out[26] = (unsigned char)(h->dst_port >> 8);
    out[27] = (unsigned char)h->dst_port;
    return ZL_PROXY_PP_V2_LEN;
}

static bool dec(const char **p, const char *end, unsigned max, unsigned *v)
{
    const char *s = *p;
    unsigned n = 0;
    size_t digits = 0;
    while (s < end && *s >= '0' && *s <= '9' && digits < 6) {
        n = n * 10 + (unsigned)(*s++ - '0');
        digits++;
    }
    if (!digits || n > max || (digits > 1 && **p == '0'))
        return false;
    *v = n;
    *p = s;
    return true;
}

static bool v1_ip(const char **p, const char *end, uint32_t *ip)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned o;
        if (!dec(p, end, 255, &o) || (i < 3 && (*p >= end || *(*p)++ != '.')))
            return false;
        v = v << 8 | o;
    }
    *ip = v;
    return true;
}

static bool sp(const char **p, const char *end)
{
    return *p < end && *(*p)++ == ' ';
}

long zl_proxy_pp_read(const unsigned char *in, size_t len, struct zl_proxy_pp *h)
{
    memset(h, 0, sizeof(*h));
    if (len >= 16 && !memcmp(in, v2sig, sizeof(v2sig))) {
        size_t body = (size_t)in[14] << 8 | in[15];
        if ((in[12] & 0xf0) != 0x20 || len < 16 + body)
            return len < 16 + body ? 0 : -1;
        if ((in[12] & 0x0f) == 0x00) /* LOCAL: no addresses */
            return (long)(16 + body);
        if ((in[12] & 0x0f) != 0x01 || (in[13] != 0x11 && in[13] != 0x12) || body < 12)
            return -1;
        h->udp = in[13] == 0x12;
        for (int i = 0; i < 4; i++) {
            h->src_ip = h->src_ip << 8 | in[16 + i];
            h->dst_ip = h->dst_ip << 8 | in[20 + i];
        }
        h->src_port = (uint16_t)(in[24] << 8 | in[25]);
        h->dst_port = (uint16_t)(in[26] << 8 | in[27]);
        return (long)(16 + body);
    }
    /* version 1: at most 107 bytes, ending in CRLF */
    const char *s = (const char *)in, *crlf = NULL;
    size_t lim = len < 107 ? len : 107;
    for (size_t i = 0; i + 1 < lim; i++)
        if (s[i] == '\r' && s[i + 1] == '\n') {
            crlf = s + i;
            break;
        }
    if (len < 6)
        return memcmp(in, "PROXY ", len) == 0 ? 0 : -1;
    if (memcmp(in, "PROXY ", 6) != 0)
        return -1;
    if (!crlf)
        return len >= 107 ? -1 : 0;
    const char *p = s + 6;
    if ((size_t)(crlf - p) >= 7 && !memcmp(p, "UNKNOWN", 7))
        return (long)(crlf + 2 - s);
    if ((size_t)(crlf - p) < 5 || memcmp(p, "TCP4 ", 5) != 0)
        return -1;
    p += 5;
    unsigned sport, dport;
    if (!v1_ip(&p, crlf, &h->src_ip) || !sp(&p, crlf) || !v1_ip(&p, crlf, &h->dst_ip) ||
        !sp(&p, crlf) || !dec(&p, crlf, 65535, &sport) || !sp(&p, crlf) ||
        !dec(&p, crlf, 65535, &dport) || p != crlf)
        return -1;
    h->src_port = (uint16_t)sport;
    h->dst_port = (uint16_t)dport;
    return (long)(crlf + 2 - s);
}
