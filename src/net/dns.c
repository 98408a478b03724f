/* SPDX-License-Identifier: Apache-2.0 */
/* net/dns.c: the service.local zone (who is where, scoped per deployment) and its answers,
 * read and written as DNS wire messages by hand: no allocation but the response. */
#include "net/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- the zone: an immutable snapshot behind a mutex ---------------- */

struct dns_rep {
    unsigned index;
    uint32_t ip;
    bool healthy;
    size_t seq; /* its place in what zl_dns_zone_set was given */
};

struct dns_ep {
    const char *name; /* lowercase */
    size_t len;
    bool udp;
    uint16_t port;
};

struct dns_svc {
    unsigned dep;
    const char *name; /* lowercase */
    size_t len;
    struct dns_rep *reps; /* sorted by index, one per index */
    size_t nreps;
    const struct dns_rep **healthy;
    size_t nhealthy;
    struct dns_ep *eps;
    size_t neps;
    unsigned rr; /* round-robin position; changes under the zone's mutex */
};

struct dns_dep {
    const char *name; /* lowercase */
    size_t len;
};

struct dns_client {
    uint32_t ip;
    unsigned dep;
};

struct dns_data {
    struct zl_arena arena; /* everything below */
    struct dns_dep *deps;
    size_t ndeps;
    struct dns_svc *svcs;
    size_t nsvcs;
    uint32_t *svc_slots, *dep_slots; /* open addressing: number + 1, 0 = empty */
    size_t svc_mask, dep_mask;
    struct dns_client *clients; /* sorted by ip */
    size_t nclients;
    uint32_t serial;
};

struct zl_dns_zone {
    pthread_mutex_t mu;
    struct dns_data *data;
    uint32_t serial;
};

static uint32_t hash_name(const void *p, size_t n, uint32_t seed)
{
    const uint8_t *s = p;
    uint32_t h = 2166136261u ^ seed;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        h = (h ^ c) * 16777619u;
    }
    return h;
}

/* stored (lowercase) against a label from the wire (any case) */
static bool same_name(const char *stored, size_t n, const uint8_t *label, size_t ln)
{
    if (n != ln)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = label[i];
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if ((uint8_t)stored[i] != c)
            return false;
    }
    return true;
}

static char *lower_dup(struct zl_arena *a, const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *d = zl_arena_strndup(a, s, n);
    for (size_t i = 0; i < n; i++)
        if (d[i] >= 'A' && d[i] <= 'Z')
            d[i] += 'a' - 'A';
    *len = n;
    return d;
}

static size_t table_size(size_t n)
{
    size_t cap = 8;
    while (cap < n * 2)
        cap *= 2;
    return cap;
}

static struct dns_dep *find_dep(const struct dns_data *d, const uint8_t *l, size_t n)
{
    if (!d->ndeps)
        return NULL;
    for (size_t i = hash_name(l, n, 0) & d->dep_mask;; i = (i + 1) & d->dep_mask) {
        uint32_t v = d->dep_slots[i];
        if (!v)
            return NULL;
        struct dns_dep *dep = &d->deps[v - 1];
        if (same_name(dep->name, dep->len, l, n))
            return dep;
    }
}

static struct dns_svc *find_svc(const struct dns_data *d, unsigned dep, const uint8_t *l, size_t n)
{
    if (!d->nsvcs)
        return NULL;
    for (size_t i = hash_name(l, n, dep) & d->svc_mask;; i = (i + 1) & d->svc_mask) {
        uint32_t v = d->svc_slots[i];
        if (!v)
            return NULL;
        struct dns_svc *s = &d->svcs[v - 1];
        if (s->dep == dep && same_name(s->name, s->len, l, n))
            return s;
    }
}

/* Interning while building: the number of a deployment or service, added when new. */
struct builder {
    struct dns_data *d;
    size_t cap_deps, cap_svcs;
};

static unsigned intern_dep(struct builder *b, const char *name)
{
    struct dns_data *d = b->d;
    struct dns_dep *found = find_dep(d, (const uint8_t *)name, strlen(name));
    if (found)
        return (unsigned)(found - d->deps);
    ZL_ASSERT(d->ndeps < b->cap_deps);
    struct dns_dep *dep = &d->deps[d->ndeps];
    dep->name = lower_dup(&d->arena, name, &dep->len);
    size_t i = hash_name(dep->name, dep->len, 0) & d->dep_mask;
    while (d->dep_slots[i])
        i = (i + 1) & d->dep_mask;
    d->dep_slots[i] = (uint32_t)++d->ndeps;
    return (unsigned)(d->ndeps - 1);
}

static struct dns_svc *intern_svc(struct builder *b, const char *deployment, const char *service)
{
    struct dns_data *d = b->d;
    unsigned dep = intern_dep(b, deployment);
    struct dns_svc *found = find_svc(d, dep, (const uint8_t *)service, strlen(service));
    if (found)
        return found;
    ZL_ASSERT(d->nsvcs < b->cap_svcs);
    struct dns_svc *s = &d->svcs[d->nsvcs];
    s->dep = dep;
    s->name = lower_dup(&d->arena, service, &s->len);
    size_t i = hash_name(s->name, s->len, dep) & d->svc_mask;
    while (d->svc_slots[i])
        i = (i + 1) & d->svc_mask;
    d->svc_slots[i] = (uint32_t)++d->nsvcs;
    return s;
}

static int cmp_rep(const void *a, const void *b)
{
    const struct dns_rep *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_client(const void *a, const void *b)
{
    const struct dns_client *x = a, *y = b;
    if (x->ip != y->ip)
        return x->ip < y->ip ? -1 : 1;
    return x->dep < y->dep ? -1 : x->dep > y->dep;
}

static bool proto_of(const char *p, bool *udp)
{
    if (!p)
        return false;
    if (strcasecmp(p, "tcp") == 0)
        *udp = false;
    else if (strcasecmp(p, "udp") == 0)
        *udp = true;
    else
        return false;
    return true;
}

static struct dns_data *data_build(const struct zl_dns_replica *r, size_t nr,
                                   const struct zl_dns_endpoint *e, size_t ne)
{
    struct dns_data *d = zl_xcalloc(1, sizeof(*d));
    zl_arena_init(&d->arena);
    struct builder b = {.d = d, .cap_deps = nr + ne, .cap_svcs = nr + ne};
    size_t n = nr + ne;
    d->deps = zl_arena_alloc(&d->arena, (n ? n : 1) * sizeof(*d->deps));
    d->svcs = zl_arena_alloc(&d->arena, (n ? n : 1) * sizeof(*d->svcs));
    d->dep_mask = table_size(n) - 1;
    d->svc_mask = d->dep_mask;
    d->dep_slots = zl_arena_alloc(&d->arena, (d->dep_mask + 1) * sizeof(uint32_t));
    d->svc_slots = zl_arena_alloc(&d->arena, (d->svc_mask + 1) * sizeof(uint32_t));

    /* count, then fill */
    size_t *svc_of = zl_xcalloc(n ? n : 1, sizeof(size_t));
    for (size_t i = 0; i < nr; i++) {
        svc_of[i] = SIZE_MAX;
        if (!r[i].deployment || !r[i].service)
            continue;
        struct dns_svc *s = intern_svc(&b, r[i].deployment, r[i].service);
        s->nreps++;
        svc_of[i] = (size_t)(s - d->svcs);
    }
    for (size_t i = 0; i < ne; i++) {
        bool udp;
        svc_of[nr + i] = SIZE_MAX;
        if (!e[i].deployment || !e[i].service || !e[i].name || !proto_of(e[i].proto, &udp))
            continue;
        struct dns_svc *s = intern_svc(&b, e[i].deployment, e[i].service);
        s->neps++;
        svc_of[nr + i] = (size_t)(s - d->svcs);
    }
    for (size_t i = 0; i < d->nsvcs; i++) {
        struct dns_svc *s = &d->svcs[i];
        s->reps = zl_arena_alloc(&d->arena, (s->nreps + 1) * sizeof(*s->reps));
        s->healthy = zl_arena_alloc(&d->arena, (s->nreps + 1) * sizeof(*s->healthy));
        s->eps = zl_arena_alloc(&d->arena, (s->neps + 1) * sizeof(*s->eps));
        s->nreps = s->neps = 0;
    }
    d->clients = zl_arena_alloc(&d->arena, (nr + 1) * sizeof(*d->clients));
    for (size_t i = 0; i < nr; i++) {
        if (svc_of[i] == SIZE_MAX)
            continue;
        struct dns_svc *s = &d->svcs[svc_of[i]];
        s->reps[s->nreps++] =
            (struct dns_rep){.index = r[i].index, .ip = r[i].ip, .healthy = r[i].healthy, .seq = i};
        d->clients[d->nclients++] = (struct dns_client){.ip = r[i].ip, .dep = s->dep};
    }
    for (size_t i = 0; i < ne; i++) {
        if (svc_of[nr + i] == SIZE_MAX)
            continue;
        struct dns_svc *s = &d->svcs[svc_of[nr + i]];
        struct dns_ep *ep = &s->eps[s->neps++];
        ep->name = lower_dup(&d->arena, e[i].name, &ep->len);
        proto_of(e[i].proto, &ep->udp);
        ep->port = e[i].port;
    }
    free(svc_of);

    for (size_t i = 0; i < d->nsvcs; i++) {
        struct dns_svc *s = &d->svcs[i];
        /* of equal indexes, the first given comes first, and counts */
        if (s->nreps > 1)
            qsort(s->reps, s->nreps, sizeof(*s->reps), cmp_rep);
        size_t kept = 0;
        for (size_t j = 0; j < s->nreps; j++)
            if (!kept || s->reps[kept - 1].index != s->reps[j].index)
                s->reps[kept++] = s->reps[j];
        s->nreps = kept;
        for (size_t j = 0; j < s->nreps; j++)
            if (s->reps[j].healthy)
                s->healthy[s->nhealthy++] = &s->reps[j];
    }
    if (d->nclients > 1)
        qsort(d->clients, d->nclients, sizeof(*d->clients), cmp_client);
    return d;
}

static void data_free(struct dns_data *d)
{
    if (!d)
        return;
    zl_arena_fini(&d->arena);
    free(d);
}

struct zl_dns_zone *zl_dns_zone_new(void)
{
    struct zl_dns_zone *z = zl_xcalloc(1, sizeof(*z));
    pthread_mutex_init(&z->mu, NULL);
    z->data = data_build(NULL, 0, NULL, 0);
    return z;
}

void zl_dns_zone_free(struct zl_dns_zone *z)
{
    if (!z)
        return;
    data_free(z->data);
    pthread_mutex_destroy(&z->mu);
    free(z);
}

void zl_dns_zone_set(struct zl_dns_zone *z, const struct zl_dns_replica *r, size_t nr,
                     const struct zl_dns_endpoint *e, size_t ne)
{
    struct dns_data *d = data_build(r, nr, e, ne);
    pthread_mutex_lock(&z->mu);
    struct dns_data *old = z->data;
    d->serial = ++z->serial;
    z->data = d;
    pthread_mutex_unlock(&z->mu);
    data_free(old);
}

static const struct dns_client *find_client(const struct dns_data *d, uint32_t ip)
{
    size_t lo = 0, hi = d->nclients;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->clients[mid].ip < ip)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->nclients && d->clients[lo].ip == ip ? &d->clients[lo] : NULL;
}

/* "7" (no leading zero, at most 9 digits) */
static bool parse_index(const uint8_t *l, size_t n, unsigned *out)
{
    if (!n || n > 9 || (n > 1 && l[0] == '0'))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (l[i] < '0' || l[i] > '9')
            return false;
        v = v * 10 + (unsigned)(l[i] - '0');
    }
    *out = v;
    return true;
}

/* A replica by its number ("0") or its hostname ("web-0"). */
static const struct dns_rep *find_rep(const struct dns_svc *s, const uint8_t *l, size_t n)
{
    unsigned idx;
    if (!parse_index(l, n, &idx)) {
        if (n <= s->len + 1 || l[s->len] != '-' || !same_name(s->name, s->len, l, s->len) ||
            !parse_index(l + s->len + 1, n - s->len - 1, &idx))
            return NULL;
    }
    size_t lo = 0, hi = s->nreps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->reps[mid].index < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nreps && s->reps[lo].index == idx ? &s->reps[lo] : NULL;
}

/* ---------------- wire reading ---------------- */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Step over a name at *p (pointers allowed, not followed). */
static int skip_name(const uint8_t *m, size_t len, size_t *p)
{
    size_t i = *p;
    for (;;) {
        if (i >= len)
            return -1;
        uint8_t l = m[i];
        if ((l & 0xC0) == 0xC0) {
            if (len - i < 2)
                return -1;
            *p = i + 2;
            return 0;
        }
        if (l & 0xC0)
            return -1;
        i += 1u + l;
        if (!l) {
            *p = i;
            return 0;
        }
    }
}

int zl_dns__parse_query(const uint8_t *m, size_t len, struct zl_dns__query *q)
{
    memset(q, 0, sizeof(*q));
    if (len < ZL_DNS__HEADER)
        return ZL_DNS__Q_SHORT;
    q->id = rd16(m);
    q->flags = rd16(m + 2);
    if (q->flags & 0x8000)
        return ZL_DNS__Q_RESPONSE;
    if ((q->flags >> 11) & 0xF)
        return ZL_DNS__Q_OPCODE;
    if (rd16(m + 4) != 1)
        return ZL_DNS__Q_FORMERR;
    size_t p = ZL_DNS__HEADER;
    for (;;) {
        if (p >= len)
            return ZL_DNS__Q_FORMERR;
        uint8_t l = m[p];
        if (l & 0xC0)
            return ZL_DNS__Q_FORMERR;
        p += 1u + l;
        if (p - ZL_DNS__HEADER > 255)
            return ZL_DNS__Q_FORMERR;
        if (!l)
            break;
    }
    q->qname_len = p - ZL_DNS__HEADER;
    if (len - p < 4)
        return ZL_DNS__Q_FORMERR;
    q->qtype = rd16(m + p);
    q->qclass = rd16(m + p + 2);
    p += 4;
    q->question_end = p;
    unsigned before_ar = (unsigned)rd16(m + 6) + rd16(m + 8), all = before_ar + rd16(m + 10);
    for (unsigned i = 0; i < all; i++) {
        size_t start = p;
        if (skip_name(m, len, &p) < 0 || len - p < 10)
            return ZL_DNS__Q_FORMERR;
        uint16_t type = rd16(m + p), cls = rd16(m + p + 2), rdlen = rd16(m + p + 8);
        uint32_t ttl = rd32(m + p + 4);
        p += 10;
        if (len - p < rdlen)
            return ZL_DNS__Q_FORMERR;
        if (type == ZL_DNS__T_OPT) {
            if (i < before_ar || q->edns || m[start] != 0)
                return ZL_DNS__Q_FORMERR;
            q->edns = true;
            q->edns_size = cls;
            q->edns_version = (uint8_t)(ttl >> 16);
            q->edns_do = ttl & 0x8000;
        }
        p += rdlen;
    }
    return ZL_DNS__Q_OK;
}

size_t zl_dns__udp_limit(const struct zl_dns__query *q)
{
    if (!q->edns || q->edns_size <= ZL_DNS__UDP_MIN)
        return ZL_DNS__UDP_MIN;
    return q->edns_size < ZL_DNS__UDP_MAX ? q->edns_size : ZL_DNS__UDP_MAX;
}

static size_t put_opt(uint8_t *p, uint8_t ext_rcode)
{
    p[0] = 0;
    wr16(p + 1, ZL_DNS__T_OPT);
    wr16(p + 3, ZL_DNS__OUR_EDNS);
    wr32(p + 5, (uint32_t)ext_rcode << 24);
    wr16(p + 9, 0);
    return 11;
}

size_t zl_dns__truncate(uint8_t *r, size_t len, bool edns)
{
    size_t p = ZL_DNS__HEADER;
    if (len < ZL_DNS__HEADER || rd16(r + 4) != 1 || skip_name(r, len, &p) < 0 || len - p < 4)
        return 0;
    p += 4;
    r[2] |= 0x02; /* TC */
    wr16(r + 6, 0);
    wr16(r + 8, 0);
    wr16(r + 10, 0);
    if (edns) {
        p += put_opt(r + p, 0);
        wr16(r + 10, 1);
    }
    return p;
}

void zl_dns__error(const struct zl_dns__query *q, int rcode, uint8_t out[ZL_DNS__HEADER])
{
    memset(out, 0, ZL_DNS__HEADER);
    wr16(out, q->id);
    wr16(out + 2, (uint16_t)(0x8000 | (q->flags & 0x7900) | 0x0080 | (rcode & 0xF)));
}

int zl_dns__scan_response(const uint8_t *r, size_t len, struct zl_dns__scan *s)
{
    memset(s, 0, sizeof(*s));
    s->min_ttl = s->neg_ttl = UINT32_MAX;
    if (len < ZL_DNS__HEADER || len > ZL_DNS__MAX_MSG)
        return -1;
    s->flags = rd16(r + 2);
    for (int i = 0; i < 4; i++)
        s->counts[i] = rd16(r + 4 + 2 * i);
    if (s->counts[0] != 1)
        return -1;
    size_t p = ZL_DNS__HEADER;
    if (skip_name(r, len, &p) < 0 || len - p < 4)
        return -1;
    p += 4;
    s->question_end = p;
    unsigned an = s->counts[1], ns = s->counts[2], all = an + ns + s->counts[3];
    for (unsigned i = 0; i < all; i++) {
        size_t start = p;
        if (skip_name(r, len, &p) < 0 || len - p < 10)
            return -1;
        uint16_t type = rd16(r + p), rdlen = rd16(r + p + 8);
        uint32_t ttl = rd32(r + p + 4);
        size_t ttl_off = p + 4;
        p += 10;
        if (len - p < rdlen)
            return -1;
        if (type == ZL_DNS__T_OPT) {
            if (s->opt_off || i < an + ns)
                return -1;
            s->opt_off = start;
            s->opt_end = p + rdlen;
        } else {
            if (s->nttl == ZL_DNS__MAX_TTLS)
                return -1;
            s->ttl_off[s->nttl++] = (uint16_t)ttl_off;
            if (ttl < s->min_ttl)
                s->min_ttl = ttl;
            if (type == ZL_DNS__T_SOA && i >= an && i < an + ns && s->neg_ttl == UINT32_MAX &&
                rdlen >= 22) {
                uint32_t minimum = rd32(r + p + rdlen - 4);
                s->neg_ttl = minimum < ttl ? minimum : ttl;
            }
        }
        p += rdlen;
    }
    return p == len ? 0 : -1;
}

/* ---------------- answering ---------------- */

struct label {
    size_t off; /* of its length byte in the message */
    size_t len;
    const uint8_t *p; /* its bytes */
};

#define MAX_LABELS 128

enum target_kind {
    T_NONE = 0, /* NXDOMAIN */
    T_EMPTY,    /* a name that exists without records of its own */
    T_APEX,
    T_SERVICE,
    T_REPLICA,
    T_ENDPOINT,
};

struct target {
    enum target_kind kind;
    struct dns_svc *svc;
    const struct dns_rep *rep;
    const uint8_t *ep_name; /* T_ENDPOINT: the endpoint (without its '_') */
    size_t ep_len;
    bool ep_udp;
    size_t svc_label_off; /* T_ENDPOINT: where SERVICE[.DEPLOYMENT].service.local starts */
};

static bool label_is(const struct label *l, const char *s)
{
    return same_name(s, strlen(s), l->p, l->len);
}

static bool has_endpoint(const struct dns_svc *s, const uint8_t *name, size_t n, bool udp)
{
    for (size_t i = 0; i < s->neps; i++)
        if (s->eps[i].udp == udp && (!name || same_name(s->eps[i].name, s->eps[i].len, name, n)))
            return true;
    return false;
}

/* The deployment a DEPLOYMENT label names, if the client may use it: its own, or any when the
 * client is not a container. */
static bool dep_allowed(const struct dns_data *d, const struct dns_client *c, const struct label *l,
                        unsigned *dep)
{
    const struct dns_dep *found = find_dep(d, l->p, l->len);
    if (!found || (c && c->dep != (unsigned)(found - d->deps)))
        return false;
    *dep = (unsigned)(found - d->deps);
    return true;
}

/* A service named by labels l[0] (SERVICE) and, when n == 2, l[1] (DEPLOYMENT). */
static struct dns_svc *service_at(const struct dns_data *d, const struct dns_client *c,
                                  const struct label *l, size_t n)
{
    unsigned dep;
    if (n == 1)
        return c ? find_svc(d, c->dep, l[0].p, l[0].len) : NULL;
    if (n == 2 && dep_allowed(d, c, &l[1], &dep))
        return find_svc(d, dep, l[0].p, l[0].len);
    return NULL;
}

static bool proto_label(const struct label *l, bool *udp)
{
    if (label_is(l, "_tcp"))
        *udp = false;
    else if (label_is(l, "_udp"))
        *udp = true;
    else
        return false;
    return true;
}

/* What the n labels before service.local name, for client c (NULL: not a container). */
static void resolve(const struct dns_data *d, const struct dns_client *c, const struct label *l,
                    size_t n, struct target *t)
{
    memset(t, 0, sizeof(*t));
    bool udp;
    if (n == 0) {
        t->kind = T_APEX;
        return;
    }
    if (n >= 3 && l[0].len > 1 && l[0].p[0] == '_' && proto_label(&l[1], &udp)) {
        struct dns_svc *s = service_at(d, c, &l[2], n - 2);
        if (s && has_endpoint(s, l[0].p + 1, l[0].len - 1, udp)) {
            t->kind = T_ENDPOINT;
            t->svc = s;
            t->ep_name = l[0].p + 1;
            t->ep_len = l[0].len - 1;
            t->ep_udp = udp;
            t->svc_label_off = l[2].off;
        }
        return;
    }
    if (n >= 2 && proto_label(&l[0], &udp)) {
        struct dns_svc *s = service_at(d, c, &l[1], n - 1);
        if (s && has_endpoint(s, NULL, 0, udp))
            t->kind = T_EMPTY;
        return;
    }
    unsigned dep;
    struct dns_svc *s;
    switch (n) {
    case 1:
        if ((t->svc = service_at(d, c, l, 1)))
            t->kind = T_SERVICE;
        else if (dep_allowed(d, c, &l[0], &dep))
            t->kind = T_EMPTY;
        return;
    case 2:
        /* REPLICA.SERVICE first, then SERVICE.DEPLOYMENT */
        if ((s = service_at(d, c, &l[1], 1)) && (t->rep = find_rep(s, l[0].p, l[0].len))) {
            t->kind = T_REPLICA;
            t->svc = s;
        } else if ((t->svc = service_at(d, c, l, 2))) {
            t->kind = T_SERVICE;
        }
        return;
    case 3:
        if ((s = service_at(d, c, &l[1], 2)) && (t->rep = find_rep(s, l[0].p, l[0].len))) {
            t->kind = T_REPLICA;
            t->svc = s;
        }
        return;
    default:
        return;
    }
}

/* A response being written into a buffer sized beforehand. */
struct writer {
    uint8_t *b;
    size_t len, cap;
};

static void put16(struct writer *w, uint16_t v)
{
    ZL_ASSERT(w->len + 2 <= w->cap);
    wr16(w->b + w->len, v);
    w->len += 2;
}

static void put32(struct writer *w, uint32_t v)
{
    ZL_ASSERT(w->len + 4 <= w->cap);
    wr32(w->b + w->len, v);
    w->len += 4;
}

static void put_bytes(struct writer *w, const void *p, size_t n)
{
    ZL_ASSERT(w->len + n <= w->cap);
    memcpy(w->b + w->len, p, n);
    w->len += n;
}

/* A label of digits, then a pointer to the rest of the name. */
static void put_index_name(struct writer *w, unsigned index, size_t rest_off)
{
    uint8_t buf[12];
    size_t n = 0;
    char digits[10];
    do {
        digits[n++] = (char)('0' + index % 10);
        index /= 10;
    } while (index);
    buf[0] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        buf[1 + i] = (uint8_t)digits[n - 1 - i];
    put_bytes(w, buf, n + 1);
    put16(w, (uint16_t)(0xC000 | rest_off));
}

/* type, class IN, TTL, then the rdata length slot: returns where it is */
static size_t put_rr_head(struct writer *w, uint16_t type)
{
    put16(w, type);
    put16(w, ZL_DNS__C_IN);
    put32(w, ZL_DNS_TTL);
    put16(w, 0);
    return w->len - 2;
}

static void end_rdata(struct writer *w, size_t slot)
{
    wr16(w->b + slot, (uint16_t)(w->len - slot - 2));
}

#define A_SIZE   16 /* pointer, head, address */
#define SRV_SIZE 34 /* pointer, head, priority, weight, port, 10 digits, pointer */
#define ADD_SIZE 27 /* the target's A, its name written out when a pointer cannot reach */
#define SOA_SIZE 50 /* pointer, head, ns.<ptr>, hostmaster.<ptr>, five numbers */
#define OPT_SIZE 11

static void put_a(struct writer *w, size_t owner_off, uint32_t ip)
{
    put16(w, (uint16_t)(0xC000 | owner_off));
    size_t slot = put_rr_head(w, ZL_DNS__T_A);
    put32(w, ip);
    end_rdata(w, slot);
}

static void put_soa(struct writer *w, size_t apex_off, uint32_t serial)
{
    put16(w, (uint16_t)(0xC000 | apex_off));
    size_t slot = put_rr_head(w, ZL_DNS__T_SOA);
    put_bytes(w, "\2ns", 3);
    put16(w, (uint16_t)(0xC000 | apex_off));
    put_bytes(w, "\12hostmaster", 11);
    put16(w, (uint16_t)(0xC000 | apex_off));
    put32(w, serial);
    put32(w, 3600);  /* refresh */
    put32(w, 600);   /* retry */
    put32(w, 86400); /* expire */
    put32(w, ZL_DNS_TTL);
    end_rdata(w, slot);
}

/* Write the response to a resolved name. */
static void answer_target(struct writer *w, const struct zl_dns__query *q, struct target *t,
                          size_t apex_off, uint32_t serial, size_t room, uint16_t counts[3])
{
    uint16_t type = q->qtype;
    bool any = type == ZL_DNS__T_ANY;
    size_t nans = 0, nadd = 0;
    switch (t->kind) {
    case T_APEX:
        if (type == ZL_DNS__T_SOA || any) {
            put_soa(w, apex_off, serial);
            nans = 1;
        }
        break;
    case T_SERVICE:
        if ((type == ZL_DNS__T_A || any) && t->svc->nhealthy) {
            size_t nh = t->svc->nhealthy, max = room / A_SIZE;
            size_t start = t->svc->rr++ % nh;
            for (size_t i = 0; i < nh && i < max; i++)
                put_a(w, ZL_DNS__HEADER, t->svc->healthy[(start + i) % nh]->ip);
            nans = nh < max ? nh : max;
        }
        break;
    case T_REPLICA:
        if ((type == ZL_DNS__T_A || any) && t->rep->healthy) {
            put_a(w, ZL_DNS__HEADER, t->rep->ip);
            nans = 1;
        }
        break;
    case T_ENDPOINT:
        if ((type == ZL_DNS__T_SRV || any) && t->svc->nhealthy) {
            const struct dns_ep *ep = NULL;
            for (size_t i = 0; i < t->svc->neps && !ep; i++)
                if (t->svc->eps[i].udp == t->ep_udp &&
                    same_name(t->svc->eps[i].name, t->svc->eps[i].len, t->ep_name, t->ep_len))
                    ep = &t->svc->eps[i];
            size_t nh = t->svc->nhealthy, max = room / (SRV_SIZE + ADD_SIZE);
            nans = nh < max ? nh : max;
            size_t start = t->svc->rr++ % nh;
            size_t first = w->len;
            for (size_t i = 0; i < nans; i++) {
                const struct dns_rep *rep = t->svc->healthy[(start + i) % nh];
                put16(w, 0xC000 | ZL_DNS__HEADER);
                size_t slot = put_rr_head(w, ZL_DNS__T_SRV);
                put16(w, 0);  /* priority */
                put16(w, 10); /* weight */
                put16(w, ep->port);
                put_index_name(w, rep->index, t->svc_label_off);
                end_rdata(w, slot);
            }
            /* the targets' addresses, each owner a pointer to its SRV's target when one can
             * reach it */
            size_t srv = first;
            for (size_t i = 0; i < nans; i++) {
                const struct dns_rep *rep = t->svc->healthy[(start + i) % nh];
                size_t target = srv + 18;
                srv = target + w->b[target] + 3u;
                if (target < 0x4000) {
                    put_a(w, target, rep->ip);
                } else {
                    put_index_name(w, rep->index, t->svc_label_off);
                    size_t slot = put_rr_head(w, ZL_DNS__T_A);
                    put32(w, rep->ip);
                    end_rdata(w, slot);
                }
            }
            nadd = nans;
        }
        break;
    case T_NONE:
    case T_EMPTY:
        break;
    }
    counts[0] = (uint16_t)nans;
    counts[1] = 0;
    counts[2] = (uint16_t)nadd;
    if (!nans) {
        put_soa(w, apex_off, serial);
        counts[1] = 1;
    }
}

static uint8_t *error_response(const struct zl_dns__query *q, int rcode, size_t *outlen)
{
    uint8_t *b = zl_xmalloc(ZL_DNS__HEADER);
    zl_dns__error(q, rcode, b);
    *outlen = ZL_DNS__HEADER;
    return b;
}

enum zl_dns_verdict zl_dns_answer(struct zl_dns_zone *z, uint32_t client_ip, const uint8_t *m,
                                  size_t len, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    struct zl_dns__query q;
    int rc = zl_dns__parse_query(m, len, &q);
    if (rc == ZL_DNS__Q_SHORT || rc == ZL_DNS__Q_RESPONSE)
        return ZL_DNS_DROP;
    if (rc != ZL_DNS__Q_OK) {
        *out =
            error_response(&q, rc == ZL_DNS__Q_OPCODE ? ZL_DNS__NOTIMP : ZL_DNS__FORMERR, outlen);
        return ZL_DNS_ANSWER;
    }

    struct label l[MAX_LABELS];
    size_t n = 0;
    for (size_t p = ZL_DNS__HEADER; m[p]; p += 1u + m[p]) {
        if (n == MAX_LABELS)
            return ZL_DNS_FORWARD; /* 128 labels cannot end in service.local */
        l[n++] = (struct label){.off = p, .len = m[p], .p = m + p + 1};
    }
    if (n < 2 || !label_is(&l[n - 1], "local") || !label_is(&l[n - 2], "service"))
        return ZL_DNS_FORWARD;
    n -= 2;
    size_t apex_off = l[n].off;

    size_t qsec = q.qname_len + 4;
    uint16_t flags = (uint16_t)(0x8000 | (q.flags & 0x0100) | 0x0080);
    int rcode = ZL_DNS__NOERROR;
    uint8_t ext_rcode = 0;
    size_t head = ZL_DNS__HEADER + qsec + SOA_SIZE + (q.edns ? OPT_SIZE : 0);
    size_t room = ZL_DNS__MAX_MSG - head;
    struct writer w = {.cap = head};
    uint16_t counts[3] = {0, 0, 0};

    if (q.edns && q.edns_version > 0) {
        ext_rcode = 1; /* BADVERS */
    } else if (q.qclass != ZL_DNS__C_IN && q.qclass != ZL_DNS__C_ANY) {
        rcode = ZL_DNS__REFUSED;
    } else {
        flags |= 0x0400; /* AA */
    }

    pthread_mutex_lock(&z->mu);
    struct dns_data *d = z->data;
    struct target t = {.kind = T_NONE};
    if (flags & 0x0400) {
        resolve(d, find_client(d, client_ip), l, n, &t);
        if (t.kind == T_NONE)
            rcode = ZL_DNS__NXDOMAIN;
        size_t want = 0;
        if (t.kind == T_SERVICE)
            want = t.svc->nhealthy * A_SIZE;
        else if (t.kind == T_ENDPOINT)
            want = t.svc->nhealthy * (SRV_SIZE + ADD_SIZE);
        else
            want = A_SIZE;
        w.cap += want < room ? want : room;
    }
    w.b = zl_xmalloc(w.cap);
    put16(&w, q.id);
    put16(&w, (uint16_t)(flags | rcode));
    put16(&w, 1);
    put16(&w, 0);
    put16(&w, 0);
    put16(&w, 0);
    put_bytes(&w, m + ZL_DNS__HEADER, qsec);
    if (flags & 0x0400)
        answer_target(&w, &q, &t, apex_off, d->serial, room, counts);
    pthread_mutex_unlock(&z->mu);

    wr16(w.b + 6, counts[0]);
    wr16(w.b + 8, counts[1]);
    wr16(w.b + 10, counts[2]);
    if (q.edns) {
        w.len += put_opt(w.b + w.len, ext_rcode);
        wr16(w.b + 10, (uint16_t)(counts[2] + 1));
    }
    *out = w.b;
    *outlen = w.len;
    return ZL_DNS_ANSWER;
}
