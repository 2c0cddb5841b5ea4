/*
 * buf_pool.c - size-class pool for stream rings.
 *
 * Why: with malloc/free, a workload of short flows allocates and frees a
 * few KiB per flow side at ~100k flows/s; glibc's heap then shrinks and
 * grows its top (brk) and re-faults the pages, which cost more system time
 * than the whole packet path (measured: 7.2 s of 11.8 s on the small
 * benchmark). Here a freed ring goes to its class's free stack and is
 * reused by the next flow, already faulted in.
 *
 * Layout: one class per power of two from 2 KiB to 1 MiB; each class carves
 * chunks from its own 2 MiB arenas (anonymous mappings, 4 KiB pages: see
 * new_arena). Arenas are unmapped only at destroy. Free chunks are kept in
 * arrays of pointers rather than lists threaded through them: a ring is
 * freed about a second after its flow's last packet, cold in the cache, and
 * writing a link into it cost a cache miss per free.
 *
 * Bound: bytes handed out (counter buf_bytes_in_use) never exceed memcap. `resident`
 * counts carved bytes not released to the kernel; before carving past the
 * memcap, warm free chunks of page size or more are released with
 * MADV_DONTNEED and moved to their class's cold stack (reused after the
 * warm ones; the kernel faults zero pages back in). So resident memory
 * stays within memcap plus the 2 KiB chunks (which share pages and are
 * never released) and one partly carved arena per class.
 *
 * Invariants: a chunk is in exactly one of: handed out, the warm stack, the
 * cold stack of its class; both stacks have room for every chunk carved
 * for the class (grown with the arenas), so freeing never allocates.
 */
#define _GNU_SOURCE
#include "buf_pool.h"

#include "counters.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#define NCLASS (BUF_POOL_MAX_SHIFT - BUF_POOL_MIN_SHIFT + 1)
#define ARENA_BYTES (2u << 20)
#define PAGE_BYTES 4096u

struct class_state {
    void **warm, **cold;     /* stacks of free chunks, room for `carved` each */
    size_t nwarm, ncold, carved;
    uint8_t *carve;          /* next uncarved byte of the current arena */
    uint32_t carve_left;
};

struct buf_pool {
    struct class_state cls[NCLASS];
    void **arenas;
    size_t narenas, arenas_cap;
    uint64_t memcap;
    uint64_t resident;
    struct mos_counters *ctr;      /* the buf_* figures live there */
};

int buf_pool_create(uint64_t memcap, struct mos_counters *ctr, struct buf_pool **out)
{
    struct buf_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->memcap = memcap;
    p->ctr = ctr;
    *out = p;
    return 0;
}

void buf_pool_destroy(struct buf_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->narenas; i++)
        munmap(p->arenas[i], ARENA_BYTES);
    for (unsigned k = 0; k < NCLASS; k++) {
        free(p->cls[k].warm);
        free(p->cls[k].cold);
    }
    free(p->arenas);
    free(p);
}

/* Class index of a size, or -1 when larger than the largest class. */
static int class_of(uint32_t size)
{
    if (size > (1u << BUF_POOL_MAX_SHIFT))
        return -1;
    unsigned s = BUF_POOL_MIN_SHIFT;
    while ((1u << s) < size)
        s++;
    return (int)(s - BUF_POOL_MIN_SHIFT);
}

static uint32_t class_bytes(int k) { return 1u << (BUF_POOL_MIN_SHIFT + (unsigned)k); }

/* Give warm chunks back to the kernel, largest classes first, until `need`
 * more bytes fit under the memcap. */
static void release_warm(struct buf_pool *p, uint64_t need)
{
    for (int k = NCLASS - 1; k >= 0 && p->resident + need > p->memcap; k--) {
        uint32_t sz = class_bytes(k);
        if (sz < PAGE_BYTES)
            break;
        struct class_state *cs = &p->cls[k];
        while (cs->nwarm && p->resident + need > p->memcap) {
            void *c = cs->warm[--cs->nwarm];
            (void)madvise(c, sz, MADV_DONTNEED);
            cs->cold[cs->ncold++] = c;
            p->resident -= sz;
            p->ctr->buf_bytes_released += sz;
        }
    }
}

static int grow_stack(void ***st, size_t n)
{
    void **ns = realloc(*st, n * sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    *st = ns;
    return 0;
}

/* A fresh arena for class k; the stacks first get room for its chunks. */
static int new_arena(struct buf_pool *p, int k)
{
    struct class_state *cs = &p->cls[k];
    size_t total = cs->carved + ARENA_BYTES / class_bytes(k);
    if (grow_stack(&cs->warm, total) < 0 || grow_stack(&cs->cold, total) < 0)
        return -ENOMEM;
    if (p->narenas == p->arenas_cap) {
        size_t nc = p->arenas_cap ? p->arenas_cap * 2 : 16;
        if (grow_stack(&p->arenas, nc) < 0)
            return -ENOMEM;
        p->arenas_cap = nc;
    }
    void *a = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED)
        return -ENOMEM;
#ifdef MADV_NOHUGEPAGE
    /* Huge pages were measured slower here: with defrag on madvise, every
     * 2 MiB fault compacted memory (count.lua, small: 8.3 s vs 5.2 s). */
    (void)madvise(a, ARENA_BYTES, MADV_NOHUGEPAGE);
#endif
    p->arenas[p->narenas++] = a;
    cs->carve = a;
    cs->carve_left = ARENA_BYTES;
    return 0;
}

static void account_alloc(struct buf_pool *p, uint64_t sz)
{
    struct mos_counters *c = p->ctr;
    c->buf_bytes_in_use += sz;
    if (c->buf_bytes_in_use > c->buf_bytes_peak)
        c->buf_bytes_peak = c->buf_bytes_in_use;
}

void *buf_pool_alloc(struct buf_pool *p, uint32_t size)
{
    if (!p)
        return malloc(size);
    int k = class_of(size);
    uint64_t sz = k < 0 ? size : class_bytes(k);
    if (p->ctr->buf_bytes_in_use + sz > p->memcap) {
        p->ctr->buf_memcap_refused++;
        return NULL;
    }
    if (k < 0) {
        void *b = malloc(size);
        if (b)
            account_alloc(p, sz);
        return b;
    }
    struct class_state *cs = &p->cls[k];
    void *c;
    if (cs->nwarm) {
        c = cs->warm[--cs->nwarm];
    } else {
        /* cold chunks and new carving both add resident bytes */
        if (p->resident + sz > p->memcap)
            release_warm(p, sz);
        if (cs->ncold) {
            c = cs->cold[--cs->ncold];
        } else {
            if (cs->carve_left < sz && new_arena(p, k) < 0)
                return NULL;
            c = cs->carve;
            cs->carve += sz;
            cs->carve_left -= (uint32_t)sz;
            cs->carved++;
        }
        p->resident += sz;
    }
    account_alloc(p, sz);
    return c;
}

void buf_pool_free(struct buf_pool *p, void *block, uint32_t size)
{
    if (!block)
        return;
    if (!p) {
        free(block);
        return;
    }
    int k = class_of(size);
    if (k < 0) {
        p->ctr->buf_bytes_in_use -= size;
        free(block);
        return;
    }
    struct class_state *cs = &p->cls[k];
    cs->warm[cs->nwarm++] = block;
    p->ctr->buf_bytes_in_use -= class_bytes(k);
}

uint64_t buf_pool_resident(const struct buf_pool *p) { return p ? p->resident : 0; }
