/*
 * test_buf_pool.c - the ring pool: size classes, reuse, the memcap on bytes
 * in use, release of free chunks before growing past the memcap, and rings
 * drawn from a pool through stream_buf. Expected figures follow from the
 * class sizes (powers of two from 2 KiB) by hand.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf_pool.h"
#include "counters.h"
#include "stream_buf.h"

/* the pool's figures are its buf_* counters (and buf_pool_resident) */
static struct mos_counters ctr;

Test(buf_pool, rounds_up_to_a_class_and_reuses_freed_chunks)
{
    struct buf_pool *p;
    cr_assert_eq(buf_pool_create(64u << 20, &ctr, &p), 0);
    uint8_t *a = buf_pool_alloc(p, 100);     /* 2 KiB class */
    uint8_t *b = buf_pool_alloc(p, 3000);    /* 4 KiB class */
    cr_assert(a && b);
    memset(a, 0xaa, 2048);                   /* the whole class size is usable */
    memset(b, 0xbb, 4096);
    cr_assert_eq(ctr.buf_bytes_in_use, 2048 + 4096);
    buf_pool_free(p, a, 100);
    cr_assert_eq(ctr.buf_bytes_in_use, 4096);
    uint8_t *c = buf_pool_alloc(p, 2048);
    cr_assert_eq(c, a, "a freed chunk is handed out again (LIFO)");
    buf_pool_free(p, b, 3000);
    buf_pool_free(p, c, 2048);
    cr_assert_eq(ctr.buf_bytes_in_use, 0);
    cr_assert_eq(ctr.buf_bytes_peak, 2048 + 4096);
    buf_pool_destroy(p);
}

Test(buf_pool, chunks_of_one_class_do_not_overlap)
{
    struct buf_pool *p;
    cr_assert_eq(buf_pool_create(64u << 20, &ctr, &p), 0);
    enum { N = 1500 };                       /* more than one 2 MiB arena of 4 KiB chunks */
    static uint8_t *blk[N];
    for (int i = 0; i < N; i++) {
        blk[i] = buf_pool_alloc(p, 4096);
        cr_assert_not_null(blk[i]);
        memset(blk[i], i & 0xff, 4096);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 4096; j += 512)
            cr_assert_eq(blk[i][j], (uint8_t)(i & 0xff), "chunk %d was overwritten", i);
    for (int i = 0; i < N; i++)
        buf_pool_free(p, blk[i], 4096);
    cr_assert_eq(ctr.buf_bytes_in_use, 0);
    buf_pool_destroy(p);
}

Test(buf_pool, memcap_refuses_and_counts)
{
    struct buf_pool *p;
    cr_assert_eq(buf_pool_create(64 * 1024, &ctr, &p), 0);
    void *x[16];
    for (int i = 0; i < 16; i++)
        cr_assert_not_null(x[i] = buf_pool_alloc(p, 4096)); /* 16 x 4 KiB = the cap */
    cr_assert_null(buf_pool_alloc(p, 2048));
    cr_assert_eq(ctr.buf_memcap_refused, 1);
    cr_assert_eq(ctr.buf_bytes_in_use, 64 * 1024);
    cr_assert_eq(ctr.buf_bytes_peak, 64 * 1024);
    buf_pool_free(p, x[0], 4096);
    cr_assert_not_null(buf_pool_alloc(p, 4096), "room again after a free");
    for (int i = 1; i < 16; i++)
        buf_pool_free(p, x[i], 4096);
    buf_pool_destroy(p);
}

Test(buf_pool, free_chunks_are_released_before_growing_past_the_memcap)
{
    /* cap 256 KiB: fill it with 8 KiB chunks, free them all (warm, still
     * resident), then ask for 32 KiB chunks: the pool must give 8 KiB chunks
     * back to the kernel rather than hold 512 KiB. */
    struct buf_pool *p;
    cr_assert_eq(buf_pool_create(256 * 1024, &ctr, &p), 0);
    void *x[32];
    for (int i = 0; i < 32; i++)
        cr_assert_not_null(x[i] = buf_pool_alloc(p, 8192));
    for (int i = 0; i < 32; i++)
        buf_pool_free(p, x[i], 8192);
    cr_assert_eq(buf_pool_resident(p), 256 * 1024);
    void *y[8];
    for (int i = 0; i < 8; i++) {
        cr_assert_not_null(y[i] = buf_pool_alloc(p, 32768));
        memset(y[i], 1, 32768);
    }
    cr_assert_eq(ctr.buf_bytes_in_use, 256 * 1024);
    cr_assert_leq(buf_pool_resident(p), 256 * 1024);
    cr_assert_eq(ctr.buf_bytes_released, 256 * 1024);
    /* released chunks come back (zeroed by the kernel) when their class asks */
    for (int i = 0; i < 8; i++)
        buf_pool_free(p, y[i], 32768);
    uint8_t *z = buf_pool_alloc(p, 8192);
    cr_assert_not_null(z);
    z[0] = 7;
    buf_pool_free(p, z, 8192);
    buf_pool_destroy(p);
}

Test(buf_pool, sizes_beyond_the_largest_class_use_malloc_under_the_same_cap)
{
    struct buf_pool *p;
    cr_assert_eq(buf_pool_create(4u << 20, &ctr, &p), 0);
    uint32_t big = (1u << BUF_POOL_MAX_SHIFT) + 1;
    void *a = buf_pool_alloc(p, big);
    cr_assert_not_null(a);
    cr_assert_eq(ctr.buf_bytes_in_use, big);
    cr_assert_null(buf_pool_alloc(p, 3u << 20), "over the 4 MiB cap");
    buf_pool_free(p, a, big);
    cr_assert_eq(ctr.buf_bytes_in_use, 0);
    buf_pool_destroy(p);
}

Test(buf_pool, stream_rings_grow_through_the_pool_and_fail_cleanly_at_the_cap)
{
    struct buf_pool *p;
    cr_assert_eq(buf_pool_create(64 * 1024, &ctr, &p), 0);
    struct stream_buf b;
    stream_buf_init(&b, 1u << 20);
    uint8_t data[4000];
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)i;
    /* unread bytes grow the ring 4K -> 8K -> 16K -> 32K (8 appends of 4000) */
    uint64_t total = 0;
    int64_t rc = 0;
    while ((rc = stream_buf_append(&b, p, data, sizeof(data))) == 0)
        total += sizeof(data);
    cr_assert_eq(rc, -ENOMEM);
    /* the 9th needs a 64 KiB ring while the 32 KiB one is still held:
     * 96 KiB > the 64 KiB cap */
    cr_assert_eq(total, 32000, "appended %llu", (unsigned long long)total);
    cr_assert_eq(stream_buf_unread(&b), total, "a refused append changes nothing");
    uint8_t out[8];
    cr_assert_eq(stream_buf_consume(&b, out, 8), 8);
    cr_assert_eq(out[7], 7);
    stream_buf_free(&b, p);
    cr_assert_eq(ctr.buf_bytes_in_use, 0);
    buf_pool_destroy(p);
}
