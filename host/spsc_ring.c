/*
 * spsc_ring.c - the distributor's single-producer single-consumer ring.
 *
 * Design: two monotonic byte counters over a power-of-two buffer of
 * variable-sized records. head is published by the producer (release) after
 * a record is complete; tail is released by the consumer (release) once it
 * is done with every record before it. Each side keeps its private cursor
 * (wr, rd) next to its counter, on its own cache line, so the only shared
 * writes are one store per publish and one per release.
 *
 * Invariants:
 *  - tail <= rd <= head <= wr, and wr - tail <= bytes: the producer never
 *    writes over bytes the consumer has not released;
 *  - a record never wraps. When one does not fit before the end of the
 *    buffer, the producer writes a skip marker there (caplen REC_SKIP) if a
 *    header fits, or nothing when fewer than sizeof(struct spsc_rec) bytes
 *    remain, and starts again at offset 0; the consumer applies the same
 *    rule, so both agree on where every record starts without the marker
 *    in the second case;
 *  - records are 8-aligned, so a header is always naturally aligned;
 *  - a record of at most spsc_ring_max_caplen() (bytes / 4) bytes always
 *    fits in an empty ring, even with the skip in front of it: the
 *    producer's wait for room always ends when the consumer keeps up.
 */
#include "spsc_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REC_SKIP UINT32_MAX /* caplen of a "skip to the buffer end" marker */

int spsc_ring_init(struct spsc_ring *b, uint32_t bytes)
{
    memset(b, 0, sizeof(*b));
    if (bytes < 64 || (bytes & (bytes - 1)) != 0)
        return -EINVAL;
    b->buf = malloc(bytes);
    if (!b->buf)
        return -ENOMEM;
    b->bytes = bytes;
    return 0;
}

void spsc_ring_free(struct spsc_ring *b)
{
    free(b->buf);
    b->buf = NULL;
}

uint32_t spsc_ring_max_caplen(const struct spsc_ring *b)
{
    return b->bytes / 4;
}

struct spsc_rec *spsc_ring_reserve(struct spsc_ring *b, uint32_t caplen)
{
    if (caplen > spsc_ring_max_caplen(b))
        return NULL;
    uint32_t size = (uint32_t)((sizeof(struct spsc_rec) + caplen + 7u) & ~7u);
    uint32_t pos = (uint32_t)(b->wr & (b->bytes - 1));
    uint32_t room = b->bytes - pos;
    uint64_t need = room < size ? (uint64_t)room + size : size;
    if (b->bytes - (b->wr - atomic_load_explicit(&b->tail, memory_order_acquire)) < need)
        return NULL;
    if (room < size) {
        if (room >= sizeof(struct spsc_rec)) {
            struct spsc_rec *m = (struct spsc_rec *)(b->buf + pos);
            m->size = room;
            m->caplen = REC_SKIP;
        }
        b->wr += room;
        pos = 0;
    }
    struct spsc_rec *h = (struct spsc_rec *)(b->buf + pos);
    h->size = size;
    h->caplen = caplen;
    return h;
}

void spsc_ring_publish(struct spsc_ring *b, const struct spsc_rec *h)
{
    b->wr += h->size;
    atomic_store_explicit(&b->head, b->wr, memory_order_release);
}

uint64_t spsc_ring_head(struct spsc_ring *b)
{
    return atomic_load_explicit(&b->head, memory_order_acquire);
}

const struct spsc_rec *spsc_ring_next(struct spsc_ring *b, uint64_t head)
{
    while (b->rd < head) {
        uint32_t pos = (uint32_t)(b->rd & (b->bytes - 1));
        uint32_t room = b->bytes - pos;
        if (room < sizeof(struct spsc_rec)) {
            b->rd += room;
            continue;
        }
        const struct spsc_rec *h = (const struct spsc_rec *)(b->buf + pos);
        if (h->caplen == REC_SKIP) {
            b->rd += room;
            continue;
        }
        b->rd += h->size;
        return h;
    }
    return NULL;
}

void spsc_ring_release(struct spsc_ring *b)
{
    atomic_store_explicit(&b->tail, b->rd, memory_order_release);
}
