/*
 * test_stream_buf.c - the byte ring: growth, overwrite accounting, reads
 * and comparisons. Expected values follow from the sizes by hand.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "stream_buf.h"

/* Byte at stream offset i in the test patterns: a 251-periodic sequence, so
 * positions wrapping at powers of two never line up with it by accident. */
static uint8_t pat(uint64_t i) { return (uint8_t)(i % 251); }

static void append_pattern(struct stream_buf *b, uint64_t from, uint32_t n)
{
    uint8_t tmp[9000];
    cr_assert(n <= sizeof(tmp));
    for (uint32_t i = 0; i < n; i++)
        tmp[i] = pat(from + i);
    stream_buf_append(b, NULL, tmp, n);
}

Test(stream_buf, lazy_and_small_first)
{
    struct stream_buf b;
    stream_buf_init(&b, 256 * 1024);
    cr_assert_null(b.data);
    cr_assert_eq(stream_buf_unread(&b), 0);
    cr_assert_eq(stream_buf_append(&b, NULL, (const uint8_t *)"hello", 5), 0);
    cr_assert_not_null(b.data);
    cr_assert_eq(b.size, 2048);
    cr_assert_eq(b.head, 5);
    cr_assert_eq(stream_buf_held_from(&b), 0);
    char out[8] = {0};
    cr_assert_eq(stream_buf_copy(&b, 1, (uint8_t *)out, 7), 4);
    cr_assert_str_eq(out, "ello");
    cr_assert_eq(stream_buf_consume(&b, (uint8_t *)out, 3), 3);
    cr_assert_eq(b.read, 3);
    cr_assert_eq(stream_buf_unread(&b), 2);
    stream_buf_free(&b, NULL);
}

Test(stream_buf, grows_by_doubling_and_keeps_bytes)
{
    struct stream_buf b;
    stream_buf_init(&b, 16384);
    append_pattern(&b, 0, 2000);            /* fits the first 2048 */
    cr_assert_eq(b.size, 2048);
    append_pattern(&b, 2000, 3000);         /* 5000 needs 8192 (2048 -> 4096 -> 8192) */
    cr_assert_eq(b.size, 8192);
    append_pattern(&b, 5000, 4000);         /* 9000 needs 16384 */
    cr_assert_eq(b.size, 16384);
    cr_assert_eq(b.lost, 0);
    uint8_t out[9000];
    cr_assert_eq(stream_buf_copy(&b, 0, out, 9000), 9000);
    for (int i = 0; i < 9000; i++)
        cr_assert_eq(out[i], pat(i), "byte %d", i);
    stream_buf_free(&b, NULL);
}

Test(stream_buf, overwrite_unread_counts_lost)
{
    struct stream_buf b;
    stream_buf_init(&b, 4096);
    append_pattern(&b, 0, 3000);
    int64_t lost = 0;
    uint8_t tmp[2000];
    for (int i = 0; i < 2000; i++)
        tmp[i] = pat(3000 + i);
    lost = stream_buf_append(&b, NULL, tmp, 2000); /* 5000 bytes, ring 4096: 904 unread lost */
    cr_assert_eq(lost, 904);
    cr_assert_eq(b.lost, 904);
    cr_assert_eq(b.read, 904);
    cr_assert_eq(stream_buf_held_from(&b), 904);
    uint8_t out[4096];
    cr_assert_eq(stream_buf_consume(&b, out, 4096), 4096);
    for (int i = 0; i < 4096; i++)
        cr_assert_eq(out[i], pat(904 + i));
    /* Everything read: overwriting read bytes loses nothing. */
    for (int i = 0; i < 2000; i++)
        tmp[i] = pat(5000 + i);
    cr_assert_eq(stream_buf_append(&b, NULL, tmp, 2000), 0);
    cr_assert_eq(b.lost, 904);
    cr_assert_eq(stream_buf_copy(&b, 100, out, 10), 0); /* no longer held */
    stream_buf_free(&b, NULL);
}

Test(stream_buf, read_bytes_stay_for_comparison)
{
    struct stream_buf b;
    stream_buf_init(&b, 4096);
    stream_buf_append(&b, NULL, (const uint8_t *)"abcdef", 6);
    char out[8];
    stream_buf_consume(&b, (uint8_t *)out, 6);
    bool differ = true;
    cr_assert_eq(stream_buf_compare(&b, 1, (const uint8_t *)"bcd", 3, &differ), 3);
    cr_assert_not(differ);
    cr_assert_eq(stream_buf_compare(&b, 4, (const uint8_t *)"eX", 2, &differ), 2);
    cr_assert(differ);
    /* Past head: only the held leading part is compared. */
    cr_assert_eq(stream_buf_compare(&b, 4, (const uint8_t *)"efgh", 4, &differ), 2);
    cr_assert_not(differ);
    stream_buf_free(&b, NULL);
}

Test(stream_buf, single_append_larger_than_cap)
{
    struct stream_buf b;
    stream_buf_init(&b, 2048);
    uint8_t big[5000];
    for (int i = 0; i < 5000; i++)
        big[i] = pat(i);
    cr_assert_eq(stream_buf_append(&b, NULL, big, 5000), 5000 - 2048);
    cr_assert_eq(b.head, 5000);
    cr_assert_eq(stream_buf_held_from(&b), 5000 - 2048);
    uint8_t out[2048];
    cr_assert_eq(stream_buf_copy(&b, 5000 - 2048, out, 2048), 2048);
    cr_assert_arr_eq(out, big + 5000 - 2048, 2048);
    /* Comparing a range that starts before the ring compares only its held tail. */
    bool differ = true;
    cr_assert_eq(stream_buf_compare(&b, 2900, big + 2900, 100, &differ), 48);
    cr_assert_not(differ);
    stream_buf_free(&b, NULL);
}

Test(stream_buf, cap_not_power_of_two)
{
    struct stream_buf b;
    stream_buf_init(&b, 3000);
    for (uint64_t off = 0; off < 10000; off += 700)
        append_pattern(&b, off, off + 700 > 10000 ? (uint32_t)(10000 - off) : 700);
    cr_assert_eq(b.size, 3000);
    cr_assert_eq(b.head, 10000);
    cr_assert_eq(stream_buf_held_from(&b), 7000);
    uint8_t out[3000];
    cr_assert_eq(stream_buf_copy(&b, 7000, out, 3000), 3000);
    for (int i = 0; i < 3000; i++)
        cr_assert_eq(out[i], pat(7000 + i), "byte %d", i);
    stream_buf_free(&b, NULL);
}

Test(stream_buf, cap_zero_stores_nothing)
{
    struct stream_buf b;
    stream_buf_init(&b, 0);
    cr_assert_eq(stream_buf_append(&b, NULL, (const uint8_t *)"abc", 3), 0);
    cr_assert_eq(b.head, 3);
    cr_assert_eq(stream_buf_unread(&b), 0);
    cr_assert_null(b.data);
    bool differ;
    cr_assert_eq(stream_buf_compare(&b, 0, (const uint8_t *)"abc", 3, &differ), 0);
    stream_buf_free(&b, NULL);
}

/* A reader that keeps up costs a small ring: 100 KiB through a 256 KiB cap,
 * read as it arrives, needs only the 16 KiB history; unread bytes make it grow. */
Test(stream_buf, grows_only_for_unread_bytes_and_history)
{
    struct stream_buf b;
    stream_buf_init(&b, 256 * 1024);
    uint8_t chunk[1024], out[1024];
    for (int i = 0; i < 100; i++) {
        memset(chunk, i, sizeof(chunk));
        cr_assert_eq(stream_buf_append(&b, NULL, chunk, sizeof(chunk)), 0);
        cr_assert_eq(stream_buf_consume(&b, out, sizeof(out)), sizeof(out));
    }
    cr_expect_eq(b.size, STREAM_BUF_HISTORY, "size %u", b.size);
    /* the last 16 KiB are still there for comparisons: chunk 90 (value 90) */
    bool differ = true;
    memset(chunk, 90, sizeof(chunk));
    cr_expect_eq(stream_buf_compare(&b, 90 * 1024, chunk, sizeof(chunk), &differ), sizeof(chunk));
    cr_expect_not(differ);
    /* older than the history: not comparable */
    memset(chunk, 10, sizeof(chunk));
    cr_expect_eq(stream_buf_compare(&b, 10 * 1024, chunk, sizeof(chunk), &differ), 0);
    stream_buf_free(&b, NULL);

    stream_buf_init(&b, 256 * 1024);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(stream_buf_append(&b, NULL, chunk, sizeof(chunk)), 0);
    cr_expect_geq(b.size, 100 * 1024, "unread bytes must all be held, size %u", b.size);
    cr_expect_eq(stream_buf_unread(&b), 100 * 1024);
    stream_buf_free(&b, NULL);
}

/* Issue 10 defect 1: a reader that keeps up leaves the ring at the 16 KiB
 * history, wrapped (head > size) although size < cap. A later burst of
 * unread bytes delivered in several appends (a hole filled, held segments
 * drained one by one) grows it to 32 KiB with only 1000 bytes in the append
 * that grows it: the ring then holds what the 16 KiB one held plus what was
 * appended since, [39616, 61000) here, not the last 32 KiB. Worked by hand:
 * 40 x 1000 read (head 40000), then 21 x 1000 unread; the append reaching
 * 17000 unread (head 56000 -> 57000) grows; old tail 56000 - 16384 = 39616. */
Test(stream_buf, growth_after_wrap_claims_only_copied_bytes)
{
    struct stream_buf b;
    stream_buf_init(&b, 256 * 1024);
    uint8_t out[1000];
    for (uint64_t off = 0; off < 40000; off += 1000) {
        append_pattern(&b, off, 1000);
        cr_assert_eq(stream_buf_consume(&b, out, sizeof out), 1000);
    }
    cr_assert_eq(b.size, STREAM_BUF_HISTORY);
    for (uint64_t off = 40000; off < 61000; off += 1000)
        append_pattern(&b, off, 1000);
    cr_assert_eq(b.size, 32768);
    cr_assert_eq(b.lost, 0);
    /* A retransmission of bytes older than the copied range, with the
     * original bytes, is not comparable (0 compared), never "different". */
    uint8_t orig[1000];
    for (int i = 0; i < 1000; i++)
        orig[i] = pat(30000 + (uint64_t)i);
    bool differ = true;
    cr_expect_eq(stream_buf_compare(&b, 30000, orig, 1000, &differ), 0);
    cr_expect_not(differ, "the original bytes compared as different");
    cr_assert_eq(stream_buf_held_from(&b), 39616, "held_from %llu", (unsigned long long)stream_buf_held_from(&b));
    /* Every byte claimed as held is the byte written there. */
    for (uint64_t off = stream_buf_held_from(&b); off < b.head; off += 500) {
        uint8_t got[500];
        uint32_t n = stream_buf_copy(&b, off, got, 500);
        cr_assert_gt(n, 0);
        for (uint32_t i = 0; i < n; i++)
            cr_assert_eq(got[i], pat(off + i), "byte %llu", (unsigned long long)(off + i));
    }
    /* Straddling the oldest held byte: only the held tail is compared. */
    for (int i = 0; i < 1000; i++)
        orig[i] = pat(39000 + (uint64_t)i);
    cr_assert_eq(stream_buf_compare(&b, 39000, orig, 1000, &differ), 1000 - 616);
    cr_assert_not(differ);
    /* The unread bytes are all there, in order. */
    cr_assert_eq(stream_buf_unread(&b), 21000);
    for (uint64_t off = 40000; off < 61000; off += 1000) {
        cr_assert_eq(stream_buf_consume(&b, out, sizeof out), 1000);
        for (int i = 0; i < 1000; i++)
            cr_assert_eq(out[i], pat(off + (uint64_t)i));
    }
    stream_buf_free(&b, NULL);
}

/* Growth by several doublings at once after a wrap (the 16 KiB ring jumps to
 * 64 KiB for a 40000-byte unread burst appended as one block): the held
 * range is the old ring's bytes plus the block, nothing older. */
Test(stream_buf, multi_step_growth_after_wrap)
{
    struct stream_buf b;
    stream_buf_init(&b, 256 * 1024);
    uint8_t out[1000];
    for (uint64_t off = 0; off < 20000; off += 1000) {
        append_pattern(&b, off, 1000);
        cr_assert_eq(stream_buf_consume(&b, out, sizeof out), 1000);
    }
    cr_assert_eq(b.size, STREAM_BUF_HISTORY);
    /* 9000 unread, then 31000 more in four appends of <= 9000 */
    for (uint64_t off = 20000; off < 60000;) {
        uint32_t n = off + 9000 <= 60000 ? 9000 : (uint32_t)(60000 - off);
        append_pattern(&b, off, n);
        off += n;
    }
    cr_assert_eq(b.size, 65536);
    /* by hand: at head 29000 the 16 KiB ring holds [12616, 29000); the next
     * append (unread 18000) grows it to 32 KiB, which holds [12616, 38000);
     * the third (head 47000) overwrites up to 47000 - 32768 = 14232; the
     * fourth (unread 36000) grows it to 64 KiB holding [14232, 56000); the
     * last one adds up to 60000. */
    cr_assert_eq(stream_buf_held_from(&b), 14232);
    bool differ = true;
    for (uint64_t off = 0; off < 60000; off += 1000) {
        uint8_t orig[1000];
        for (int i = 0; i < 1000; i++)
            orig[i] = pat(off + (uint64_t)i);
        uint32_t want = off >= 14232 ? 1000 : off + 1000 > 14232 ? (uint32_t)(off + 1000 - 14232) : 0;
        cr_assert_eq(stream_buf_compare(&b, off, orig, 1000, &differ), want, "off %llu", (unsigned long long)off);
        cr_assert_not(differ, "off %llu compared as different", (unsigned long long)off);
    }
    stream_buf_free(&b, NULL);
}
