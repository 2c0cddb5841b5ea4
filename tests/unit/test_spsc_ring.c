/*
 * test_spsc_ring.c - host/spsc_ring.c, the distributor's SPSC ring: record
 * layout and wrap rules worked out by hand on a 256-byte ring (records are
 * a 32-byte header plus the bytes, padded to 8), then the two-thread stress
 * (spsc_stress.h). The ThreadSanitizer run of the same stress is
 * tests/tsan/tsan_spsc_ring.c (ctest tsan.spsc_ring).
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "spsc_ring.h"
#include "spsc_stress.h"

static struct spsc_rec *push(struct spsc_ring *b, uint32_t caplen, uint64_t tag)
{
    struct spsc_rec *h = spsc_ring_reserve(b, caplen);
    if (h) {
        h->ts_ns = tag;
        memset(h + 1, (int)(tag & 0xff), caplen);
        spsc_ring_publish(b, h);
    }
    return h;
}

Test(spsc_ring, init_rejects_bad_sizes)
{
    struct spsc_ring b;
    cr_assert_eq(spsc_ring_init(&b, 100), -EINVAL);
    cr_assert_eq(spsc_ring_init(&b, 32), -EINVAL);
    cr_assert_eq(spsc_ring_init(&b, 256), 0);
    cr_assert_eq(spsc_ring_max_caplen(&b), 64);
    cr_assert_null(spsc_ring_reserve(&b, 65), "larger than a quarter never fits");
    spsc_ring_free(&b);
}

Test(spsc_ring, fifo_then_full_then_release)
{
    struct spsc_ring b;
    cr_assert_eq(spsc_ring_init(&b, 256), 0);
    /* 64-byte records (32 + 30 -> 62 -> 64): four fill the ring exactly */
    for (int i = 0; i < 4; i++)
        cr_assert_not_null(push(&b, 30, (uint64_t)i));
    cr_assert_null(spsc_ring_reserve(&b, 0), "full: not even an empty record");
    uint64_t head = spsc_ring_head(&b);
    cr_assert_eq(head, 256);
    for (int i = 0; i < 4; i++) {
        const struct spsc_rec *h = spsc_ring_next(&b, head);
        cr_assert_not_null(h);
        cr_assert_eq(h->ts_ns, (uint64_t)i);
        cr_assert_eq(h->caplen, 30);
        cr_assert_eq(h->size, 64);
        cr_assert_eq(((const uint8_t *)(h + 1))[29], i);
    }
    cr_assert_null(spsc_ring_next(&b, head));
    cr_assert_null(spsc_ring_reserve(&b, 0), "read but not released: still full");
    spsc_ring_release(&b);
    cr_assert_not_null(push(&b, 0, 9));
    spsc_ring_free(&b);
}

/* 200 bytes used, 56 left: a 64-byte record does not fit before the end; a
 * skip marker (56 >= 32) covers the rest and the record starts at 0. */
Test(spsc_ring, wrap_with_skip_marker)
{
    struct spsc_ring b;
    cr_assert_eq(spsc_ring_init(&b, 256), 0);
    cr_assert_not_null(push(&b, 64, 1)); /* 96 */
    cr_assert_not_null(push(&b, 64, 2)); /* 96 -> 192 */
    cr_assert_not_null(push(&b, 0, 3));  /* 32 -> 224 */
    uint64_t head = spsc_ring_head(&b);
    while (spsc_ring_next(&b, head))
        ;
    spsc_ring_release(&b);
    struct spsc_rec *h = push(&b, 30, 4); /* 64: 32 left at 224, marker fits */
    cr_assert_not_null(h);
    cr_assert_eq((uint8_t *)h, b.buf, "the record starts at offset 0");
    cr_assert_eq(spsc_ring_head(&b), 224 + 32 + 64);
    const struct spsc_rec *r = spsc_ring_next(&b, spsc_ring_head(&b));
    cr_assert_not_null(r);
    cr_assert_eq(r->ts_ns, 4, "the marker is skipped");
    cr_assert_null(spsc_ring_next(&b, spsc_ring_head(&b)));
    spsc_ring_free(&b);
}

/* 24 bytes left before the end: no room even for a marker; both sides
 * skip them by the same rule. */
Test(spsc_ring, wrap_without_room_for_a_marker)
{
    struct spsc_ring b;
    cr_assert_eq(spsc_ring_init(&b, 256), 0);
    cr_assert_not_null(push(&b, 64, 1)); /* 96 */
    cr_assert_not_null(push(&b, 64, 2)); /* 192 */
    cr_assert_not_null(push(&b, 8, 3));  /* 40 -> 232: 24 left */
    uint64_t head = spsc_ring_head(&b);
    while (spsc_ring_next(&b, head))
        ;
    spsc_ring_release(&b);
    struct spsc_rec *h = push(&b, 0, 4);
    cr_assert_eq((uint8_t *)h, b.buf);
    const struct spsc_rec *r = spsc_ring_next(&b, spsc_ring_head(&b));
    cr_assert_not_null(r);
    cr_assert_eq(r->ts_ns, 4);
    spsc_ring_free(&b);
}

/* A wrap needs the skipped bytes free too: 232 bytes written, the first
 * record (40) released. A 64-byte record needs the 24 bytes to the end plus
 * 64 = 88 > 64 free: refused. With 136 released (160 free) it fits. */
Test(spsc_ring, wrap_waits_for_the_skipped_bytes)
{
    struct spsc_ring b;
    cr_assert_eq(spsc_ring_init(&b, 256), 0);
    cr_assert_not_null(push(&b, 8, 1));  /* 40 */
    cr_assert_not_null(push(&b, 64, 2)); /* 136 */
    cr_assert_not_null(push(&b, 64, 3)); /* 232 */
    uint64_t head = spsc_ring_head(&b);
    cr_assert_not_null(spsc_ring_next(&b, head)); /* the 40-byte record */
    spsc_ring_release(&b);
    cr_assert_null(spsc_ring_reserve(&b, 30), "24 skipped + 64 > 64 free");
    cr_assert_not_null(spsc_ring_next(&b, head));
    spsc_ring_release(&b); /* 136 released: 160 free */
    cr_assert_not_null(push(&b, 30, 4));
    spsc_ring_free(&b);
}

Test(spsc_ring, two_threads_small_ring)
{
    struct spsc_ring b;
    cr_assert_eq(spsc_ring_init(&b, 4096), 0);
    cr_assert_eq(spsc_stress_run(&b, 100000), 0);
    spsc_ring_free(&b);
}

Test(spsc_ring, two_threads_distributor_size)
{
    struct spsc_ring b;
    cr_assert_eq(spsc_ring_init(&b, 1u << 20), 0);
    cr_assert_eq(spsc_stress_run(&b, 30000), 0);
    spsc_ring_free(&b);
}
