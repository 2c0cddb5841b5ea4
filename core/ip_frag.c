/*
 * ip_frag.c - IPv4/IPv6 fragment reassembly with bounded memory.
 *
 * Design: a chained hash table of datagrams plus an age list in creation
 * order. The timeout runs from a datagram's first fragment, so the oldest
 * datagram is always at the head of the age list and expiry only looks
 * there. Each datagram keeps one contiguous payload buffer (grown to the
 * highest end seen, never past 65535 bytes) and a sorted list of the byte
 * ranges already filled.
 *
 * Invariants:
 *   - first copy wins: bytes already held are never overwritten; a fragment
 *     that overlaps held bytes counts frags_overlap once, and
 *     frags_overlap_inconsistent when any overlapping byte differs.
 *   - mem_used = sum of datagram buffer capacities + header copies; a
 *     fragment that would push it past memcap is refused (frags_memcap_drop).
 *   - a datagram never exceeds 65535 bytes (IPv4 total length, IPv6 payload
 *     length) nor MAX_FRAGS fragments; one that would is freed (frags_bad).
 *   - the completed datagram is written to `out`, owned by the table and
 *     valid until the next ip_frag_add.
 */
#include "ip_frag.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Real traffic uses a handful of fragments; 256 leaves room for tiny-fragment
 * evasion tests while bounding the per-fragment overlap scan. */
#define MAX_FRAGS 256
#define MAX_HDR 512     /* IPv4 header <= 60; IPv6 unfragmentable part, bounded */
#define DG_MAX 65535u   /* largest IPv4 total length / IPv6 payload length */
#define DG_OVERHEAD 256 /* rough per-datagram bookkeeping charged to the memcap */

struct range {
    uint32_t start, end; /* [start, end) filled */
};

struct dgram {
    struct ip_frag_key key;
    uint64_t first_ns;
    struct dgram *hnext;             /* hash chain */
    struct dgram *older, *newer;     /* age list */
    uint8_t hdr[MAX_HDR];
    uint32_t hdr_len;
    bool hdr_from_first;             /* hdr came from the offset-0 fragment */
    bool have_last;
    uint32_t total;                  /* payload length, known once the last fragment came */
    uint32_t nfrags;
    uint8_t *data;
    uint32_t cap;
    struct range *ranges;
    uint32_t nranges;                /* ranges has room for MAX_FRAGS + 1 */
};

struct ip_frag {
    uint64_t timeout_ns, memcap, mem_used;
    uint32_t max_dgrams, ndgrams;
    struct mos_counters *ctr;
    struct dgram **buckets;
    uint32_t nbuckets;               /* power of two */
    struct dgram *oldest, *newest;
    uint8_t out[MAX_HDR + DG_MAX];
};

static uint32_t key_hash(const struct ip_frag_key *k)
{
    /* FNV-1a: keys are small and the table is a bounded, per-core one */
    const uint8_t *p = (const uint8_t *)k;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof(*k); i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

int ip_frag_create(uint64_t timeout_ns, uint64_t memcap, uint32_t max_datagrams,
                   struct mos_counters *ctr, struct ip_frag **out)
{
    if (ctr == NULL || out == NULL || max_datagrams == 0)
        return -EINVAL;
    struct ip_frag *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    f->timeout_ns = timeout_ns;
    f->memcap = memcap;
    f->max_dgrams = max_datagrams;
    f->ctr = ctr;
    uint32_t nb = 16;
    while (nb < max_datagrams && nb < (1u << 20))
        nb <<= 1;
    f->nbuckets = nb;
    f->buckets = calloc(nb, sizeof(*f->buckets));
    if (f->buckets == NULL) {
        free(f);
        return -ENOMEM;
    }
    *out = f;
    return 0;
}

static void dgram_free(struct ip_frag *f, struct dgram *g)
{
    struct dgram **pp = &f->buckets[key_hash(&g->key) & (f->nbuckets - 1)];
    while (*pp && *pp != g)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = g->hnext;
    if (g->older)
        g->older->newer = g->newer;
    else
        f->oldest = g->newer;
    if (g->newer)
        g->newer->older = g->older;
    else
        f->newest = g->older;
    f->mem_used -= (uint64_t)g->cap + DG_OVERHEAD + sizeof(*g);
    f->ndgrams--;
    free(g->data);
    free(g->ranges);
    free(g);
}

void ip_frag_destroy(struct ip_frag *f)
{
    if (f == NULL)
        return;
    while (f->oldest)
        dgram_free(f, f->oldest);
    free(f->buckets);
    free(f);
}

void ip_frag_expire(struct ip_frag *f, uint64_t now_ns)
{
    while (f->oldest && now_ns > f->oldest->first_ns &&
           now_ns - f->oldest->first_ns > f->timeout_ns) {
        f->ctr->frags_timeout++;
        dgram_free(f, f->oldest);
    }
}

static struct dgram *dgram_find(struct ip_frag *f, const struct ip_frag_key *k)
{
    struct dgram *g = f->buckets[key_hash(k) & (f->nbuckets - 1)];
    while (g && memcmp(&g->key, k, sizeof(*k)) != 0)
        g = g->hnext;
    return g;
}

static struct dgram *dgram_new(struct ip_frag *f, const struct ip_frag_key *k, uint64_t now)
{
    uint64_t need = DG_OVERHEAD + sizeof(struct dgram);
    if (f->ndgrams >= f->max_dgrams || f->mem_used + need > f->memcap)
        return NULL;
    struct dgram *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->ranges = malloc((MAX_FRAGS + 1) * sizeof(*g->ranges));
    if (g->ranges == NULL) {
        free(g);
        return NULL;
    }
    g->key = *k;
    g->first_ns = now;
    uint32_t b = key_hash(k) & (f->nbuckets - 1);
    g->hnext = f->buckets[b];
    f->buckets[b] = g;
    g->older = f->newest;
    if (f->newest)
        f->newest->newer = g;
    else
        f->oldest = g;
    f->newest = g;
    f->ndgrams++;
    f->mem_used += need;
    return g;
}

static int grow(struct ip_frag *f, struct dgram *g, uint32_t end)
{
    if (end <= g->cap)
        return 0;
    uint32_t ncap = g->cap ? g->cap : 1024;
    while (ncap < end)
        ncap *= 2;
    if (ncap > DG_MAX)
        ncap = DG_MAX;
    if (f->mem_used + (ncap - g->cap) > f->memcap)
        return -ENOMEM;
    uint8_t *nd = realloc(g->data, ncap);
    if (nd == NULL)
        return -ENOMEM;
    f->mem_used += ncap - g->cap;
    g->data = nd;
    g->cap = ncap;
    return 0;
}

/* Copy [start,end) of `src` (which begins at payload offset `base`) into the
 * holes of g; overlaps are compared, never overwritten. */
static void fill(struct ip_frag *f, struct dgram *g, const uint8_t *src, uint32_t base,
                 uint32_t end)
{
    bool overlap = false, differ = false;
    uint32_t pos = base;
    for (uint32_t i = 0; i < g->nranges && pos < end; i++) {
        struct range r = g->ranges[i];
        if (r.end <= pos)
            continue;
        if (r.start >= end)
            break;
        if (r.start > pos) /* hole before this range */
            memcpy(g->data + pos, src + (pos - base), r.start - pos);
        uint32_t os = r.start > pos ? r.start : pos;
        uint32_t oe = r.end < end ? r.end : end;
        overlap = true;
        if (memcmp(g->data + os, src + (os - base), oe - os) != 0)
            differ = true;
        pos = oe;
    }
    if (pos < end)
        memcpy(g->data + pos, src + (pos - base), end - pos);
    if (overlap)
        f->ctr->frags_overlap++;
    if (differ)
        f->ctr->frags_overlap_inconsistent++;

    /* insert [base,end) and merge: ranges stay sorted and disjoint */
    uint32_t n = 0;
    struct range tmp[MAX_FRAGS + 1];
    struct range add = {base, end};
    bool placed = false;
    for (uint32_t i = 0; i < g->nranges; i++) {
        struct range r = g->ranges[i];
        if (r.end < add.start) {
            tmp[n++] = r;
        } else if (add.end < r.start) {
            if (!placed) {
                tmp[n++] = add;
                placed = true;
            }
            tmp[n++] = r;
        } else { /* touching or overlapping: absorb */
            if (r.start < add.start)
                add.start = r.start;
            if (r.end > add.end)
                add.end = r.end;
        }
    }
    if (!placed)
        tmp[n++] = add;
    memcpy(g->ranges, tmp, n * sizeof(*tmp));
    g->nranges = n;
}

static uint16_t ip4_csum(const uint8_t *p, uint32_t len)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint32_t build(struct ip_frag *f, struct dgram *g)
{
    uint8_t *o = f->out;
    memcpy(o, g->hdr, g->hdr_len);
    memcpy(o + g->hdr_len, g->data, g->total);
    uint32_t len = g->hdr_len + g->total;
    if (g->key.ip_ver == 4) {
        o[2] = (uint8_t)(len >> 8);
        o[3] = (uint8_t)len;
        o[6] &= 0x40; /* keep DF, clear MF and the offset */
        o[7] = 0;
        o[10] = o[11] = 0;
        uint16_t c = ip4_csum(o, g->hdr_len);
        o[10] = (uint8_t)(c >> 8);
        o[11] = (uint8_t)c;
    } else {
        uint32_t pl = len - 40;
        o[4] = (uint8_t)(pl >> 8);
        o[5] = (uint8_t)pl;
    }
    return len;
}

static int bad(struct ip_frag *f, struct dgram *g)
{
    f->ctr->frags_bad++;
    if (g)
        dgram_free(f, g);
    return -EINVAL;
}

int ip_frag_add(struct ip_frag *f, const struct ip_frag_key *k, uint64_t now_ns,
                const uint8_t *hdr, uint32_t hdr_len, uint32_t off, int more,
                const uint8_t *data, uint32_t len, const uint8_t **out, uint32_t *out_len)
{
    f->ctr->frags_in++;
    ip_frag_expire(f, now_ns);

    struct ip_frag_key key = *k;
    for (uint8_t i = key.nvlan; i < 3; i++)
        key.vlan[i] = 0;
    key.pad = 0;
    if (key.ip_ver == 4) {
        memset(key.src + 4, 0, 12);
        memset(key.dst + 4, 0, 12);
    }

    uint32_t end = off + len;
    /* IPv4 limits the whole datagram, IPv6 the payload after the fixed header */
    uint32_t hdr_charge = key.ip_ver == 4 ? hdr_len : hdr_len - 40;
    if (hdr_len > MAX_HDR || (key.ip_ver == 6 && hdr_len < 40) || (key.ip_ver == 4 && hdr_len < 20) ||
        (more && len % 8 != 0) || (uint64_t)end + hdr_charge > DG_MAX)
        return bad(f, dgram_find(f, &key));

    struct dgram *g = dgram_find(f, &key);
    if (g == NULL) {
        g = dgram_new(f, &key, now_ns);
        if (g == NULL) {
            f->ctr->frags_memcap_drop++;
            return -ENOMEM;
        }
    }
    if (++g->nfrags > MAX_FRAGS)
        return bad(f, g);
    if (g->have_last && (end > g->total || (!more && end != g->total)))
        return bad(f, g); /* contradicts the known datagram end */
    if (!more) {
        for (uint32_t i = 0; i < g->nranges; i++)
            if (g->ranges[i].end > end)
                return bad(f, g);
        g->have_last = true;
        g->total = end;
    }
    if (g->hdr_len == 0 || (off == 0 && !g->hdr_from_first)) {
        memcpy(g->hdr, hdr, hdr_len);
        g->hdr_len = hdr_len;
        g->hdr_from_first = off == 0;
    }
    if (len > 0) {
        if (grow(f, g, end) < 0) {
            f->ctr->frags_memcap_drop++;
            dgram_free(f, g);
            return -ENOMEM;
        }
        fill(f, g, data, off, end);
    }
    if (g->have_last && g->nranges == 1 && g->ranges[0].start == 0 &&
        g->ranges[0].end == g->total && g->hdr_from_first) {
        if (hdr_charge + g->total > DG_MAX)
            return bad(f, g);
        *out = f->out;
        *out_len = build(f, g);
        f->ctr->frags_reassembled++;
        dgram_free(f, g);
        return 1;
    }
    return 0;
}
