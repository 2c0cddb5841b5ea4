/*
 * buf_pool.h - per-core allocator for stream ring buffers.
 *
 * Rings are power-of-two sized and come and go with flows (hundreds of
 * thousands a second); the pool keeps freed rings for reuse instead of
 * giving them back to the C library, whose heap trimming turned every
 * flow's end into page-table work (see buf_pool.c). One pool per core, so
 * no locks.
 */
#ifndef MOS_BUF_POOL_H
#define MOS_BUF_POOL_H

#include <stdint.h>

struct mos_counters;

#define BUF_POOL_MIN_SHIFT 11u /* 2 KiB: smallest ring */
#define BUF_POOL_MAX_SHIFT 20u /* 1 MiB: larger rings come from malloc */

struct buf_pool;

/* memcap bounds the bytes in use and, as far as whole pages allow, the
 * resident bytes (freed chunks are released to the kernel before the pool
 * grows past it). The pool keeps its figures in ctr's buf_* counters
 * (counters.h), written by the owning core's thread only. */
int buf_pool_create(uint64_t memcap, struct mos_counters *ctr, struct buf_pool **out);
void buf_pool_destroy(struct buf_pool *p);
/* A block of at least `size` bytes (`size` itself when it is a power of two
 * >= 2 KiB), or NULL when the memcap would be exceeded or memory is out.
 * p == NULL means plain malloc (tests, tools). */
void *buf_pool_alloc(struct buf_pool *p, uint32_t size);
/* `size` must be the size passed to buf_pool_alloc. */
void buf_pool_free(struct buf_pool *p, void *block, uint32_t size);
/* Bytes of pool chunks that may be backed by memory (carved, not released). */
uint64_t buf_pool_resident(const struct buf_pool *p);

#endif
