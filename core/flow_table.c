/*
 * flow_table.c - per-core flow table: chained hash + one LRU list per
 * timeout class.
 *
 * Design: flows live in one slab of `capacity` entries mapped anonymously
 * (zero pages on demand), so untouched entries cost no resident memory;
 * slab and buckets ask for transparent huge pages because at 100k+ flows
 * every lookup is a random access and 4 KiB pages make each one a TLB miss
 * as well (RSS grows in 2 MiB steps, at most one step beyond use); entries are handed out in
 * order (`used` grows) and returned to a free list threaded through hnext.
 * Buckets are a power of two >= capacity, so chains stay ~1 long. Each class
 * list is ordered by last touch (head = oldest); as every class has a single
 * timeout, the head is also the first to expire, which makes expiry and
 * eviction O(TCLASS_COUNT).
 *
 * The order is kept at a granularity of 1/16 of the class timeout (a power
 * of two of nanoseconds): a packet moves its flow to the tail only when its
 * time falls in a later such tick than the flow's last packet. Moving means
 * writing the list neighbours, two other random flows (two cache misses
 * per packet at 100k+ flows); at the tick most packets of a flow only update
 * last_ts. The price: inside one tick the list is unordered, so a flow may
 * end up to one tick (1/16 of its timeout) after a head that expired later;
 * flow_table_idle_expired() lets a packet of an overdue flow see it exactly.
 *
 * Invariants: a flow is in use iff tclass != TCLASS_FREE; an in-use flow is
 * in exactly one bucket chain and one class list; count == in-use flows.
 * The table does not touch counters: the engine counts creation, eviction
 * and the active/peak gauges.
 */
#include "flow_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include <xxhash.h>

#define TCLASS_FREE 0xff

struct lru { struct mos_flow *head, *tail; };

struct flow_table {
    uint32_t cap, used, count, mask;
    size_t slab_bytes, bucket_bytes;
    struct mos_flow *slab;
    struct mos_flow *free;
    struct mos_flow **buckets;
    struct lru lru[TCLASS_COUNT];
    uint64_t timeout[TCLASS_COUNT];
    uint8_t tick_shift[TCLASS_COUNT]; /* list order granularity: 2^shift ns */
    struct mos_counters *ctr;
};

/* Zeroed, lazily backed memory; NULL on failure. */
static void *zmap(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= (2u << 20))
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
    return p;
}

int flow_table_create(uint32_t capacity, const uint64_t timeouts[TCLASS_COUNT], struct mos_counters *ctr,
                      struct flow_table **out)
{
    if (capacity == 0 || capacity > (1u << 31))
        return -EINVAL;
    struct flow_table *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    uint32_t nb = 1;
    while (nb < capacity)
        nb <<= 1;
    t->cap = capacity;
    t->mask = nb - 1;
    t->ctr = ctr;
    memcpy(t->timeout, timeouts, sizeof(t->timeout));
    for (int c = 0; c < TCLASS_COUNT; c++) {
        uint8_t sh = 0;
        while (sh < 62 && (2ull << sh) <= timeouts[c] / 16)
            sh++;
        t->tick_shift[c] = sh;
    }
    t->slab_bytes = (size_t)capacity * sizeof(struct mos_flow);
    t->bucket_bytes = (size_t)nb * sizeof(*t->buckets);
    t->slab = zmap(t->slab_bytes);
    t->buckets = zmap(t->bucket_bytes);
    if (!t->slab || !t->buckets) {
        flow_table_destroy(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

void flow_table_destroy(struct flow_table *t)
{
    if (!t)
        return;
    if (t->slab)
        munmap(t->slab, t->slab_bytes);
    if (t->buckets)
        munmap(t->buckets, t->bucket_bytes);
    free(t);
}

uint32_t flow_table_hash(const struct mos_flow_key *k)
{
    return (uint32_t)XXH3_64bits(k, sizeof(*k));
}

void flow_table_prefetch_bucket(const struct flow_table *t, uint32_t hash)
{
    __builtin_prefetch(&t->buckets[hash & t->mask]);
}

/* The whole flow: lookup reads the head, the packet's updates both endpoints. */
void flow_table_prefetch_flow(const struct flow_table *t, uint32_t hash)
{
    const char *f = (const char *)t->buckets[hash & t->mask];
    if (!f)
        return;
    for (size_t off = 0; off < sizeof(struct mos_flow); off += 64)
        __builtin_prefetch(f + off);
}

struct mos_flow *flow_table_lookup(struct flow_table *t, const struct mos_flow_key *k, uint32_t hash)
{
    for (struct mos_flow *f = t->buckets[hash & t->mask]; f; f = f->hnext)
        if (f->hash == hash && memcmp(&f->key, k, sizeof(*k)) == 0)
            return f;
    return NULL;
}

static void lru_unlink(struct flow_table *t, struct mos_flow *f)
{
    struct lru *l = &t->lru[f->tclass];
    if (f->lprev)
        f->lprev->lnext = f->lnext;
    else
        l->head = f->lnext;
    if (f->lnext)
        f->lnext->lprev = f->lprev;
    else
        l->tail = f->lprev;
    f->lprev = f->lnext = NULL;
}

static void lru_append(struct flow_table *t, struct mos_flow *f, int tclass)
{
    struct lru *l = &t->lru[tclass];
    f->tclass = (uint8_t)tclass;
    f->lnext = NULL;
    f->lprev = l->tail;
    if (l->tail)
        l->tail->lnext = f;
    else
        l->head = f;
    l->tail = f;
}

struct mos_flow *flow_table_insert(struct flow_table *t, const struct mos_flow_key *k, uint32_t hash, uint64_t now)
{
    struct mos_flow *f;
    if (t->free) {
        f = t->free;
        t->free = f->hnext;
    } else if (t->used < t->cap) {
        f = &t->slab[t->used++];
    } else {
        return NULL;
    }
    memset(f, 0, sizeof(*f));
    f->slot = (uint32_t)(f - t->slab);
    f->key = *k;
    f->hash = hash;
    f->first_ts = f->last_ts = now;
    struct mos_flow **b = &t->buckets[hash & t->mask];
    f->hnext = *b;
    *b = f;
    lru_append(t, f, TCLASS_SYN);
    t->count++;
    return f;
}

static struct mos_flow *oldest(const struct flow_table *t, int c) { return t->lru[c].head; }

struct mos_flow *flow_table_victim(struct flow_table *t)
{
    /* Finished connections first (they only wait to absorb stray segments),
     * then half-open ones (a SYN flood's), then closing, then established. */
    static const int order[] = {TCLASS_TIME_WAIT, TCLASS_SYN, TCLASS_CLOSING, TCLASS_ESTABLISHED};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (oldest(t, order[i]))
            return oldest(t, order[i]);
    return NULL;
}

void flow_table_touch(struct flow_table *t, struct mos_flow *f, int tclass, uint64_t now)
{
    if (tclass < 0 || tclass >= TCLASS_COUNT)
        tclass = TCLASS_ESTABLISHED;
    unsigned sh = t->tick_shift[tclass];
    if (tclass == f->tclass && now >= f->last_ts && now >> sh == f->last_ts >> sh) {
        f->last_ts = now; /* same tick: the list order still holds */
        return;
    }
    lru_unlink(t, f);
    f->last_ts = now;
    lru_append(t, f, tclass);
}

bool flow_table_idle_expired(const struct flow_table *t, const struct mos_flow *f, uint64_t now)
{
    return f->tclass < TCLASS_COUNT && now > f->last_ts && now - f->last_ts > t->timeout[f->tclass];
}

/* A flow expires once strictly more than its class timeout has passed since
 * its last packet; heads of the class lists are the candidates. */
struct mos_flow *flow_table_expired(struct flow_table *t, uint64_t now)
{
    struct mos_flow *best = NULL;
    for (int c = 0; c < TCLASS_COUNT; c++) {
        struct mos_flow *f = oldest(t, c);
        if (!f || now < f->last_ts || now - f->last_ts <= t->timeout[c])
            continue;
        if (!best || f->last_ts < best->last_ts)
            best = f;
    }
    return best;
}

void flow_table_remove(struct flow_table *t, struct mos_flow *f)
{
    if (f->tclass == TCLASS_FREE)
        return;
    for (struct mos_flow **pp = &t->buckets[f->hash & t->mask]; *pp; pp = &(*pp)->hnext) {
        if (*pp == f) {
            *pp = f->hnext;
            break;
        }
    }
    lru_unlink(t, f);
    f->tclass = TCLASS_FREE;
    f->hnext = t->free;
    t->free = f;
    t->count--;
}

uint32_t flow_table_count(const struct flow_table *t) { return t->count; }

void flow_table_foreach(struct flow_table *t, void (*fn)(struct mos_flow *, void *), void *arg)
{
    for (uint32_t i = 0; i < t->used; i++)
        if (t->slab[i].tclass != TCLASS_FREE)
            fn(&t->slab[i], arg);
}

struct mos_flow *flow_table_next(struct flow_table *t, uint32_t *cursor)
{
    for (uint32_t i = *cursor; i < t->used; i++) {
        if (t->slab[i].tclass != TCLASS_FREE) {
            *cursor = i + 1;
            return &t->slab[i];
        }
    }
    *cursor = t->used;
    return NULL;
}

uint32_t flow_table_slot(const struct flow_table *t, const struct mos_flow *f)
{
    (void)t;
    return f->slot;
}

struct mos_flow *flow_table_at(struct flow_table *t, uint32_t slot)
{
    if (slot >= t->used || t->slab[slot].tclass == TCLASS_FREE)
        return NULL;
    return &t->slab[slot];
}
