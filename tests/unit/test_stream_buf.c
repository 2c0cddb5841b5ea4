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
