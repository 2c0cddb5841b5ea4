/*
 * spsc_ring.h - a single-producer single-consumer ring of variable-sized
 * frame records, the distributor's queue (io_setup.c).
 *
 * One thread only produces (spsc_ring_reserve, spsc_ring_publish), one only
 * consumes (spsc_ring_head, spsc_ring_next, spsc_ring_release); any other
 * use is a data race. Records handed out by spsc_ring_next stay valid, and
 * their room unreusable, until the consumer's next spsc_ring_release.
 */
#ifndef MOS_SPSC_RING_H
#define MOS_SPSC_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

/* A record: this header, then caplen bytes, padded to 8. */
struct spsc_rec {
    uint32_t size;              /* whole record, header included, 8-aligned */
    uint32_t caplen, wirelen;
    int32_t linktype;
    uint64_t ts_ns;
    uint16_t port;              /* frame.port on rx, the output port on tx */
    uint16_t pad16;
    uint32_t pad32;
};

/* Producer-written and consumer-written fields on their own cache lines. */
struct spsc_ring {
    alignas(64) _Atomic uint64_t head; /* published by the producer */
    uint64_t wr;                       /* producer: write position (>= head) */
    alignas(64) _Atomic uint64_t tail; /* released by the consumer */
    uint64_t rd;                       /* consumer: read position (>= tail) */
    alignas(64) uint8_t *buf;
    uint32_t bytes;                    /* a power of two */
};

/* bytes: a power of two >= 64. 0 or -ENOMEM / -EINVAL. */
int spsc_ring_init(struct spsc_ring *b, uint32_t bytes);
void spsc_ring_free(struct spsc_ring *b);

/* Producer: room for a record of caplen bytes, its header's size and caplen
 * filled in, or NULL when it does not fit now (or ever: caplen larger than
 * the ring allows, see spsc_ring_max_caplen). Fill the rest, then publish. */
struct spsc_rec *spsc_ring_reserve(struct spsc_ring *b, uint32_t caplen);
void spsc_ring_publish(struct spsc_ring *b, const struct spsc_rec *h);
/* The largest caplen a record may have: any record of this size always
 * fits once the consumer has released everything. */
uint32_t spsc_ring_max_caplen(const struct spsc_ring *b);

/* Consumer: the producer's published position, then the records before it
 * one by one (NULL when none is left), then release them all at once. */
uint64_t spsc_ring_head(struct spsc_ring *b);
const struct spsc_rec *spsc_ring_next(struct spsc_ring *b, uint64_t head);
void spsc_ring_release(struct spsc_ring *b);

#endif
