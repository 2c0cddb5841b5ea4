/*
 * stream_buf.c - ring keeping the last `cap` bytes of one direction.
 *
 * Design: positions are 64-bit delivered offsets; a byte at offset o lives at
 * data[o % size]. The ring is allocated on the first append (STREAM_BUF_FIRST
 * bytes) and doubles, clamped to cap, whenever the bytes held would not fit.
 *
 * Invariants:
 *  - the ring holds exactly [tail, head), each byte at data[o % size], and
 *    head - tail <= size. `tail` is tracked, not derived from head and
 *    size: a ring that stays small for a reader that keeps up wraps long
 *    before size reaches cap, and growing it then copies only [tail, head),
 *    so the larger size must not be taken to mean older bytes are held
 *    (issue 10: comparing retransmissions with never-copied bytes reported
 *    identical copies as inconsistent).
 *  - tail <= read <= head: unread bytes that get overwritten are counted in
 *    `lost` and the read pointer jumps past them.
 *  - cap == 0 stores nothing: head advances, every byte counts as consumed
 *    (used when reassembly is disabled), so offsets stay meaningful.
 * size is a power of two except possibly the last step (== cap), so indexing
 * uses % rather than a mask; it is done once per memcpy chunk, not per byte.
 */
#include "stream_buf.h"

#include "buf_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Small first allocation: most flows carry a few hundred bytes per side. */
#define STREAM_BUF_FIRST 2048u

void stream_buf_init(struct stream_buf *b, uint32_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
}

void stream_buf_free(struct stream_buf *b, struct buf_pool *pool)
{
    buf_pool_free(pool, b->data, b->size);
    b->data = NULL;
    b->size = 0;
    b->tail = b->read = b->head; /* nothing is held any more */
}

void stream_buf_restart(struct stream_buf *b, struct buf_pool *pool, uint32_t cap)
{
    stream_buf_free(b, pool); /* tail = read = head: nothing is held any more */
    b->cap = cap;
}

/* Copy [off, off+n) of the stream into dst; the range must be held. */
static void ring_read(const struct stream_buf *b, uint64_t off, uint8_t *dst, uint32_t n)
{
    uint32_t pos = (uint32_t)(off % b->size);
    uint32_t first = b->size - pos < n ? b->size - pos : n;
    memcpy(dst, b->data + pos, first);
    if (n > first)
        memcpy(dst + first, b->data, n - first);
}

static void ring_write(struct stream_buf *b, uint64_t off, const uint8_t *src, uint32_t n)
{
    uint32_t pos = (uint32_t)(off % b->size);
    uint32_t first = b->size - pos < n ? b->size - pos : n;
    memcpy(b->data + pos, src, first);
    if (n > first)
        memcpy(b->data, src + first, n - first);
}

/* Grow so that `need` bytes fit, up to cap. The held range [tail, head)
 * keeps its offsets; only its positions change. */
static int grow(struct stream_buf *b, struct buf_pool *pool, uint64_t need)
{
    uint64_t ns = b->size ? b->size : STREAM_BUF_FIRST;
    while (ns < need && ns < b->cap)
        ns *= 2;
    if (ns > b->cap)
        ns = b->cap;
    if (ns == b->size)
        return 0;
    uint8_t *nd = buf_pool_alloc(pool, (uint32_t)ns);
    if (!nd)
        return -ENOMEM;
    /* Re-lay out the held bytes at their new positions (o % ns). */
    if (b->data) {
        for (uint64_t o = b->tail; o < b->head;) {
            uint32_t chunk = (uint32_t)(b->head - o > 65536 ? 65536 : b->head - o);
            uint32_t pos = (uint32_t)(o % ns);
            if (chunk > ns - pos)
                chunk = (uint32_t)ns - pos;
            ring_read(b, o, nd + pos, chunk);
            o += chunk;
        }
    }
    buf_pool_free(pool, b->data, b->size);
    b->data = nd;
    b->size = (uint32_t)ns;
    return 0;
}

int64_t stream_buf_append(struct stream_buf *b, struct buf_pool *pool, const uint8_t *p, uint32_t n)
{
    if (n == 0)
        return 0;
    if (b->cap == 0) {
        stream_buf_skip(b, n);
        return 0;
    }
    /* Grow only for what must be held: the unread bytes, plus a history of
     * read bytes (STREAM_BUF_HISTORY) for comparing retransmissions. A
     * reader that keeps up therefore costs a small ring per flow instead
     * of `cap` bytes. */
    uint64_t unread = b->head - b->read + n;
    uint64_t hist = b->head + n < STREAM_BUF_HISTORY ? b->head + n : STREAM_BUF_HISTORY;
    uint64_t want = unread > hist ? unread : hist;
    if (b->size < b->cap && want > b->size) {
        int rc = grow(b, pool, want);
        if (rc < 0)
            return rc;
    }
    uint64_t new_head = b->head + n;
    /* Only the last `size` bytes of p can be kept. */
    if (n > b->size) {
        p += n - b->size;
        n = b->size;
    }
    ring_write(b, new_head - n, p, n);
    b->head = new_head;
    if (b->head - b->tail > b->size)
        b->tail = b->head - b->size; /* the oldest bytes were overwritten */
    uint64_t lost = 0;
    if (b->read < b->tail) {
        lost = b->tail - b->read;
        b->read = b->tail;
        b->lost += lost;
    }
    return (int64_t)lost;
}

void stream_buf_skip(struct stream_buf *b, uint32_t n)
{
    b->head += n;
    b->read = b->head;
    b->tail = b->head;
}

uint32_t stream_buf_copy(const struct stream_buf *b, uint64_t off, uint8_t *dst, uint32_t n)
{
    if (off < b->tail || off >= b->head || !b->data)
        return 0;
    if (b->head - off < n)
        n = (uint32_t)(b->head - off);
    ring_read(b, off, dst, n);
    return n;
}

/* Compares the part of [off, off+n) held in the ring. When off is older than
 * the ring the held tail is still compared; the count returned is the number
 * of bytes compared, so callers detect "not all verifiable" as ret < n. */
uint32_t stream_buf_compare(const struct stream_buf *b, uint64_t off, const uint8_t *p, uint32_t n, bool *differ)
{
    *differ = false;
    if (!b->data || n == 0)
        return 0;
    uint64_t a = off > b->tail ? off : b->tail;
    uint64_t e = off + n < b->head ? off + n : b->head;
    if (a >= e)
        return 0;
    uint32_t pos = (uint32_t)(a % b->size);
    uint32_t len = (uint32_t)(e - a);
    const uint8_t *src = p + (a - off);
    uint32_t first = b->size - pos < len ? b->size - pos : len;
    if (memcmp(b->data + pos, src, first) != 0 ||
        (len > first && memcmp(b->data, src + first, len - first) != 0))
        *differ = true;
    return len;
}

uint32_t stream_buf_consume(struct stream_buf *b, uint8_t *dst, uint32_t n)
{
    uint64_t avail = b->head - b->read;
    if (n > avail)
        n = (uint32_t)avail;
    if (n && dst)
        ring_read(b, b->read, dst, n);
    b->read += n;
    return n;
}
