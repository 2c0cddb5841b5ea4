/*
 * stream_buf.h - byte storage for one direction of a stream, no TCP knowledge.
 *
 * A ring that keeps the LAST `cap` bytes delivered in order. Positions are
 * "delivered offsets": the count of bytes delivered before, gaps excluded
 * (the stream offset minus the bytes skipped in gaps). Bytes already read by
 * the application stay in the ring until overwritten, so retransmissions can
 * be compared against them (tunneling detection). The ring grows by doubling
 * from a small first allocation up to `cap`, so idle or tiny flows cost
 * little memory.
 */
#ifndef MOS_STREAM_BUF_H
#define MOS_STREAM_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Read bytes kept at least (when the stream is that long) so
 * retransmissions can be compared with what was delivered; beyond it the
 * ring grows only to hold unread bytes. */
#define STREAM_BUF_HISTORY (16u * 1024)

struct buf_pool;

struct stream_buf {
    uint8_t *data;      /* NULL until the first byte */
    uint32_t size;      /* allocated, power of two, <= cap */
    uint32_t cap;       /* maximum size */
    uint64_t tail;      /* delivered offset of the oldest byte held: [tail, head) */
    uint64_t head;      /* delivered offset one past the last byte written */
    uint64_t read;      /* delivered offset of the first unread byte */
    uint64_t lost;      /* unread bytes overwritten before they were read */
};

void stream_buf_init(struct stream_buf *b, uint32_t cap);
/* pool: where the ring comes from (buf_pool.h); NULL = malloc. */
void stream_buf_free(struct stream_buf *b, struct buf_pool *pool);
/* Storage restarts at head with capacity cap (0: store nothing): the ring
 * is freed, nothing is unread, no offset before head is held any more.
 * For switching a stream's buffering on or off (tcp_reasm_set_storage). */
void stream_buf_restart(struct stream_buf *b, struct buf_pool *pool, uint32_t cap);
/* Append n bytes. Returns the number of unread bytes that were overwritten
 * (0 normally), or -ENOMEM when growing failed (nothing appended). */
int64_t stream_buf_append(struct stream_buf *b, struct buf_pool *pool, const uint8_t *p, uint32_t n);
/* Advance past n bytes that are not stored (storage off): they count as
 * consumed and nothing before them stays held, so offsets stay meaningful. */
void stream_buf_skip(struct stream_buf *b, uint32_t n);
/* Bytes still held in the ring (read or not): [held_from, head). */
static inline uint64_t stream_buf_held_from(const struct stream_buf *b) { return b->tail; }
/* Copy up to n bytes starting at delivered offset `off` (must be >= held_from);
 * returns bytes copied (0 at the end of data). */
uint32_t stream_buf_copy(const struct stream_buf *b, uint64_t off, uint8_t *dst, uint32_t n);
/* Compare n bytes at `off` with p; returns the number of leading bytes that
 * could be compared (held in the ring) and sets *differ when any differ. */
uint32_t stream_buf_compare(const struct stream_buf *b, uint64_t off, const uint8_t *p, uint32_t n, bool *differ);
/* Unread bytes and consuming reads. */
static inline uint64_t stream_buf_unread(const struct stream_buf *b) { return b->head - b->read; }
uint32_t stream_buf_consume(struct stream_buf *b, uint8_t *dst, uint32_t n);

#endif
