/*
 * test_tcp_reasm.c - one direction of reassembly: wrap-around, overlaps under
 * both policies, retransmission verdicts, keep-alives, gaps (ack, window,
 * memcap, flush), disabled storage. Every expected stream is worked out by
 * hand from the segments in the test.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "mos_types.h"
#include "segbuild.h"
#include "tcp_reasm.h"

#define ISN 999u /* offset 0 = seq 1000 */
#define SEQ(off) (ISN + 1u + (uint32_t)(off))

static struct sb_ctx c;
static struct tcp_reasm r;
static char out[4096];

static void setup_policy(int overlap, uint32_t rcvbuf, uint32_t window, uint64_t memcap)
{
    sb_ctx_init(&c, memcap);
    tcp_reasm_init(&r, rcvbuf, window, overlap);
    tcp_reasm_set_isn(&r, ISN);
}
static void setup(void) { setup_policy(MOS_OVERLAP_FIRST, 4096, 65536, 0); }
static void teardown(void)
{
    cr_assert_null(sb_check(&r), "%s", sb_check(&r));
    tcp_reasm_free(&r, &c.pool);
    cr_assert_eq(c.pool.held, 0, "held bytes returned to the pool");
}

TestSuite(reasm, .init = setup, .fini = teardown);

Test(reasm, in_order)
{
    struct reasm_result res = sb_seg(&r, &c, SEQ(0), "hello");
    cr_assert_eq(res.new_bytes, 5);
    sb_seg(&r, &c, SEQ(5), " world");
    cr_assert_eq(r.next, 11);
    cr_assert_eq(sb_read(&r, out, sizeof out), 11);
    cr_assert_str_eq(out, "hello world");
    cr_assert_eq(c.ctr.reasm_bytes_delivered, 11);
    cr_assert_eq(c.ctr.reasm_rexmit, 0);
}

Test(reasm, wraps_at_2_32)
{
    tcp_reasm_init(&r, 4096, 65536, MOS_OVERLAP_FIRST);
    tcp_reasm_set_isn(&r, 0xFFFFFFF0u); /* offset 0 = 0xFFFFFFF1, offset 15 = 0 */
    sb_seg(&r, &c, 0xFFFFFFF1u, "abcdefghij");          /* offsets 0..9 */
    /* offsets 20..24 at seq 5 (wrapped): held out of order */
    sb_seg(&r, &c, 5u, "uvwxy");
    cr_assert_eq(r.ooo_held, 5);
    cr_assert_eq(r.ooo->off, 20);
    /* offsets 10..19 start at 0xFFFFFFFB and cross 2^32 */
    sb_seg(&r, &c, 0xFFFFFFFBu, "klmnopqrst");
    cr_assert_eq(r.next, 25);
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "abcdefghijklmnopqrstuvwxy");
    cr_assert_eq(tcp_reasm_offset(&r, 0u), 15);
    cr_assert_eq(tcp_reasm_offset(&r, 9u), 24);
    /* a retransmission of bytes across the wrap is recognised */
    struct reasm_class cl;
    tcp_reasm_classify(&r, 0xFFFFFFFEu, (const uint8_t *)"nopq", 4, &cl);
    cr_assert(cl.rexmit);
    cr_assert_not(cl.inconsistent);
    cr_assert_eq(cl.off, 13);
}

Test(reasm, long_stream_across_wrap)
{
    /* 600 segments of 100 bytes starting 30000 below 2^32: 60000 bytes. */
    tcp_reasm_init(&r, 128 * 1024, 65536, MOS_OVERLAP_FIRST);
    uint32_t isn = 0u - 30000u - 1u;
    tcp_reasm_set_isn(&r, isn);
    uint8_t seg[100];
    for (uint32_t i = 0; i < 600; i++) {
        memset(seg, (int)('a' + i % 26), sizeof seg);
        struct reasm_result res = {0};
        tcp_reasm_insert(&r, &c.pool, isn + 1 + i * 100, seg, 100, &res);
        cr_assert_eq(res.new_bytes, 100);
    }
    cr_assert_eq(r.next, 60000);
    cr_assert_eq(c.ctr.reasm_rexmit, 0);
    cr_assert_eq(c.ctr.reasm_segments_ooo, 0);
    uint8_t b;
    cr_assert_eq(stream_buf_copy(&r.buf, 59999, &b, 1), 1);
    cr_assert_eq(b, 'a' + 599 % 26);
}

Test(reasm, out_of_order_then_fill)
{
    sb_seg(&r, &c, SEQ(5), "FGHIJ");
    cr_assert_eq(r.next, 0);
    cr_assert_eq(c.ctr.reasm_segments_ooo, 1);
    cr_assert_eq(c.ctr.reasm_ooo_bytes_held, 5);
    cr_assert_eq(c.pool.held, 5);
    struct reasm_result res = sb_seg(&r, &c, SEQ(0), "ABCDE");
    cr_assert_eq(res.new_bytes, 10);
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "ABCDEFGHIJ");
    cr_assert_eq(c.ctr.reasm_ooo_bytes_held, 0);
    cr_assert_eq(c.ctr.reasm_ooo_peak_bytes, 5);
    cr_assert_eq(c.ctr.reasm_rexmit, 0);
}

/* Held [5,10) "FGHIJ"; a segment [3,8) "xxQQQ" overlaps 5..7 with different bytes. */
static void overlap_scenario(const char *expect)
{
    sb_seg(&r, &c, SEQ(5), "FGHIJ");
    struct reasm_class cl;
    tcp_reasm_classify(&r, SEQ(3), (const uint8_t *)"xxQQQ", 5, &cl);
    cr_assert(cl.rexmit);
    cr_assert(cl.inconsistent);
    sb_seg(&r, &c, SEQ(3), "xxQQQ");
    sb_seg(&r, &c, SEQ(0), "ABC");
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, expect);
    cr_assert_eq(c.ctr.reasm_rexmit, 1);
    cr_assert_eq(c.ctr.reasm_rexmit_inconsistent, 1);
    cr_assert_eq(r.rexmit, 1);
    cr_assert_eq(r.rexmit_inconsistent, 1);
}

Test(reasm, overlap_first_wins) { overlap_scenario("ABCxxFGHIJ"); }
Test(reasm, overlap_last_wins)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_LAST, 4096, 65536, 0);
    overlap_scenario("ABCxxQQQIJ");
}

Test(reasm, overlap_same_bytes_is_consistent_rexmit)
{
    sb_seg(&r, &c, SEQ(5), "FGHIJ");
    sb_seg(&r, &c, SEQ(3), "xxFGH");
    cr_assert_eq(c.ctr.reasm_rexmit, 1);
    cr_assert_eq(c.ctr.reasm_rexmit_inconsistent, 0);
    sb_seg(&r, &c, SEQ(0), "ABC");
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "ABCxxFGHIJ");
}

/* Held [5,10) and [15,20); [8,17) overlaps the end of one and the start of the other. */
static void both_ends(int policy, const char *expect)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(policy, 4096, 65536, 0);
    sb_seg(&r, &c, SEQ(5), "FGHIJ");
    sb_seg(&r, &c, SEQ(15), "PQRST");
    sb_seg(&r, &c, SEQ(8), "ijklmnopq");
    cr_assert_null(sb_check(&r));
    cr_assert_eq(r.ooo_held, 15); /* 5 + 5 + the 5 new bytes 10..14 */
    sb_seg(&r, &c, SEQ(0), "ABCDE");
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, expect);
    cr_assert_eq(c.ctr.reasm_rexmit_inconsistent, 1);
}

Test(reasm, partial_overlap_both_ends_first) { both_ends(MOS_OVERLAP_FIRST, "ABCDEFGHIJklmnoPQRST"); }
Test(reasm, partial_overlap_both_ends_last) { both_ends(MOS_OVERLAP_LAST, "ABCDEFGHijklmnopqRST"); }

static void covers_several(int policy, const char *expect)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(policy, 4096, 65536, 0);
    sb_seg(&r, &c, SEQ(2), "c");
    sb_seg(&r, &c, SEQ(5), "f");
    sb_seg(&r, &c, SEQ(8), "i");
    sb_seg(&r, &c, SEQ(1), "BCDEFGHIJ"); /* offsets 1..9 */
    cr_assert_eq(c.ctr.reasm_rexmit, 1);
    cr_assert_eq(c.ctr.reasm_rexmit_inconsistent, 1);
    struct reasm_result res = sb_seg(&r, &c, SEQ(0), "A");
    cr_assert_eq(res.new_bytes, 10);
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, expect);
}

Test(reasm, segment_covering_several_first) { covers_several(MOS_OVERLAP_FIRST, "ABcDEfGHiJ"); }
Test(reasm, segment_covering_several_last) { covers_several(MOS_OVERLAP_LAST, "ABCDEFGHIJ"); }

Test(reasm, delivered_bytes_never_change_under_last_wins)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_LAST, 4096, 65536, 0);
    sb_seg(&r, &c, SEQ(0), "ABCDE");
    sb_seg(&r, &c, SEQ(2), "zzzFG"); /* 2..4 delivered: kept; 5..6 new */
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "ABCDEFG");
    cr_assert_eq(c.ctr.reasm_rexmit_inconsistent, 1);
}

Test(reasm, rexmit_against_ring)
{
    sb_seg(&r, &c, SEQ(0), "hello world");
    sb_read(&r, out, sizeof out); /* read bytes stay comparable */
    struct reasm_class cl;
    tcp_reasm_classify(&r, SEQ(0), (const uint8_t *)"hello", 5, &cl);
    cr_assert(cl.rexmit);
    cr_assert_not(cl.inconsistent);
    cr_assert_not(cl.keepalive);
    sb_seg(&r, &c, SEQ(0), "hello");
    sb_seg(&r, &c, SEQ(0), "jello");
    /* partly old, partly new: still a rexmit, the new part is delivered */
    struct reasm_result res = sb_seg(&r, &c, SEQ(6), "world!!");
    cr_assert_eq(res.new_bytes, 2);
    cr_assert_eq(r.rexmit, 3);
    cr_assert_eq(r.rexmit_inconsistent, 1);
    cr_assert_eq(c.ctr.reasm_rexmit_unverifiable, 0);
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "!!");
}

Test(reasm, rexmit_older_than_ring_is_unverifiable)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_FIRST, 16, 65536, 0);
    struct reasm_result res = sb_seg(&r, &c, SEQ(0), "0123456789abcdefghijklmnopqrstuvwxyzABCD"); /* 40 */
    cr_assert_eq(res.lost, 24); /* nobody read: 40 - 16 overwritten unread */
    cr_assert_eq(res.error, MOS_ERR_BUF_OVERFLOW);
    cr_assert_eq(c.ctr.reasm_buf_overflow_bytes, 24);
    sb_seg(&r, &c, SEQ(0), "XXXXXXXXXX"); /* offsets 0..9: long gone from the ring */
    cr_assert_eq(c.ctr.reasm_rexmit, 1);
    cr_assert_eq(c.ctr.reasm_rexmit_unverifiable, 1);
    cr_assert_eq(c.ctr.reasm_rexmit_inconsistent, 0);
    /* 20..29 only partly held (24..39 are): the held part differs */
    sb_seg(&r, &c, SEQ(20), "klmnZZZZZZ");
    cr_assert_eq(c.ctr.reasm_rexmit_inconsistent, 1);
    cr_assert_eq(c.ctr.reasm_rexmit_unverifiable, 2);
}

Test(reasm, keepalives)
{
    sb_seg(&r, &c, SEQ(0), "hello"); /* next = 5 */
    struct reasm_class cl;
    tcp_reasm_classify(&r, SEQ(4), NULL, 0, &cl);
    cr_assert(cl.keepalive);
    cr_assert_not(cl.rexmit);
    tcp_reasm_classify(&r, SEQ(4), (const uint8_t *)"o", 1, &cl);
    cr_assert(cl.keepalive);
    cr_assert_not(cl.rexmit);
    tcp_reasm_classify(&r, SEQ(4), (const uint8_t *)"\0", 1, &cl); /* garbage byte, as some stacks send */
    cr_assert(cl.keepalive);
    struct reasm_result res = {0};
    tcp_reasm_insert(&r, &c.pool, SEQ(4), NULL, 0, &res);
    sb_seg(&r, &c, SEQ(4), "o");
    cr_assert_eq(c.ctr.reasm_keepalive, 2);
    cr_assert_eq(c.ctr.reasm_rexmit, 0);
    cr_assert_eq(r.next, 5);
    /* two bytes at next-1 are a retransmission plus new data, not a keep-alive */
    tcp_reasm_classify(&r, SEQ(4), (const uint8_t *)"o!", 2, &cl);
    cr_assert_not(cl.keepalive);
    cr_assert(cl.rexmit);
    /* keep-alive right after the handshake: seq = ISN */
    struct tcp_reasm r2;
    tcp_reasm_init(&r2, 4096, 65536, MOS_OVERLAP_FIRST);
    tcp_reasm_set_isn(&r2, ISN);
    tcp_reasm_classify(&r2, ISN, NULL, 0, &cl);
    cr_assert(cl.keepalive);
    tcp_reasm_free(&r2, &c.pool);
}

Test(reasm, gap_on_ack)
{
    sb_seg(&r, &c, SEQ(0), "ABC");
    sb_seg(&r, &c, SEQ(6), "GHI");
    /* ack of 4: the receiver has 3, a hole [3,4) is acked before the held data */
    struct reasm_result res = sb_ack(&r, &c, SEQ(9));
    cr_assert_eq(res.gaps, 1);
    cr_assert_eq(res.new_bytes, 3);
    cr_assert_eq(r.ngaps, 1);
    cr_assert_eq(r.ngaps_total, 1);
    cr_assert_eq(r.gaps[0].start, 3);
    cr_assert_eq(r.gaps[0].end, 6);
    cr_assert_eq(c.ctr.reasm_gaps, 1);
    cr_assert_eq(c.ctr.reasm_gap_bytes, 3);
    cr_assert_eq(r.next, 9);
    cr_assert_eq(tcp_reasm_delivered(&r), 6);
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "ABCGHI");
    /* a late arrival into the hole: not received before, not data any more */
    struct reasm_class cl;
    tcp_reasm_classify(&r, SEQ(3), (const uint8_t *)"DEF", 3, &cl);
    cr_assert_not(cl.rexmit);
    res = sb_seg(&r, &c, SEQ(3), "DEF");
    cr_assert_eq(res.new_bytes, 0);
    /* retransmissions after the hole map to the right ring bytes */
    tcp_reasm_classify(&r, SEQ(6), (const uint8_t *)"GHI", 3, &cl);
    cr_assert(cl.rexmit);
    cr_assert_not(cl.inconsistent);
    tcp_reasm_classify(&r, SEQ(6), (const uint8_t *)"GXI", 3, &cl);
    cr_assert(cl.inconsistent);
    tcp_reasm_classify(&r, SEQ(2), (const uint8_t *)"CdefG", 5, &cl); /* spans the hole */
    cr_assert(cl.rexmit);
    cr_assert_not(cl.inconsistent);
    /* acks at or below next change nothing */
    res = sb_ack(&r, &c, SEQ(9));
    cr_assert_eq(res.gaps, 0);
}

Test(reasm, ack_past_held_data_makes_two_gaps)
{
    sb_seg(&r, &c, SEQ(0), "ABC");
    sb_seg(&r, &c, SEQ(6), "GHI");
    struct reasm_result res = sb_ack(&r, &c, SEQ(12));
    cr_assert_eq(res.gaps, 2);
    cr_assert_eq(r.gaps[1].start, 9);
    cr_assert_eq(r.gaps[1].end, 12);
    cr_assert_eq(r.next, 12);
    cr_assert_eq(c.ctr.reasm_gap_bytes, 6);
    sb_seg(&r, &c, SEQ(12), "MN");
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "ABCGHIMN");
}

Test(reasm, adjacent_gaps_are_merged)
{
    /* zeek-tcp-http-with-padding: a hole skipped at one ACK, then the next
     * ACK moves past more missing bytes with nothing delivered between: one
     * listed hole [0,9), but two skips (two GAP events for the engine) */
    struct reasm_result res = sb_ack(&r, &c, SEQ(5));
    cr_assert_eq(res.gaps, 1);
    res = sb_ack(&r, &c, SEQ(9));
    cr_assert_eq(res.gaps, 1);
    cr_assert_eq(r.ngaps, 1);
    cr_assert_eq(r.gaps[0].start, 0);
    cr_assert_eq(r.gaps[0].end, 9);
    cr_assert_eq(r.ngaps_total, 2);
    cr_assert_eq(c.ctr.reasm_gap_bytes, 9);
    cr_assert_null(sb_check(&r));
    /* bytes after the merged hole still map to the ring */
    sb_seg(&r, &c, SEQ(9), "JK");
    struct reasm_class cl;
    tcp_reasm_classify(&r, SEQ(9), (const uint8_t *)"JK", 2, &cl);
    cr_assert(cl.rexmit);
    cr_assert_not(cl.inconsistent);
    tcp_reasm_classify(&r, SEQ(9), (const uint8_t *)"JX", 2, &cl);
    cr_assert(cl.inconsistent, "a merged hole must not make later bytes unverifiable");
    /* a hole after delivered bytes is a new entry */
    sb_ack(&r, &c, SEQ(14));
    cr_assert_eq(r.ngaps, 2);
    cr_assert_eq(r.gaps[1].start, 11);
    cr_assert_eq(r.gaps[1].end, 14);
    /* held data beyond the hole: [14,16) continues [11,14) (nothing was
     * delivered between), then a new hole after the held bytes */
    sb_seg(&r, &c, SEQ(16), "QR");
    sb_ack(&r, &c, SEQ(20));
    cr_assert_eq(r.ngaps, 3);
    cr_assert_eq(r.gaps[1].start, 11);
    cr_assert_eq(r.gaps[1].end, 16);
    cr_assert_eq(r.gaps[2].start, 18);
    cr_assert_eq(r.gaps[2].end, 20);
    cr_assert_null(sb_check(&r));
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "JKQR");
}

Test(reasm, window_forces_gap)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_FIRST, 4096, 10, 0);
    sb_seg(&r, &c, SEQ(5), "FGHIJ");           /* held 5 of 10 */
    struct reasm_result res = sb_seg(&r, &c, SEQ(20), "UVWXYZ"); /* 11 > 10 */
    cr_assert_eq(res.error, MOS_ERR_OOO_WINDOW);
    cr_assert_eq(c.ctr.reasm_window_forced_gaps, 1);
    cr_assert_eq(res.gaps, 1);
    cr_assert_eq(r.gaps[0].start, 0);
    cr_assert_eq(r.gaps[0].end, 5);
    cr_assert_eq(res.new_bytes, 5);
    cr_assert_eq(r.next, 10);
    cr_assert_eq(r.ooo_held, 6); /* [20,26) now fits and is held */
    sb_seg(&r, &c, SEQ(10), "KLMNOPQRST");
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "FGHIJKLMNOPQRSTUVWXYZ");
}

Test(reasm, window_gap_when_new_segment_comes_first)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_FIRST, 4096, 6, 0);
    sb_seg(&r, &c, SEQ(20), "UVWXY");          /* held 5 of 6 */
    struct reasm_result res = sb_seg(&r, &c, SEQ(10), "KL"); /* before it: skip [0,10) and deliver */
    cr_assert_eq(res.error, MOS_ERR_OOO_WINDOW);
    cr_assert_eq(r.gaps[0].end, 10);
    cr_assert_eq(r.next, 12);
    cr_assert_eq(r.ooo_held, 5);
}

Test(reasm, memcap_forces_gap)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_FIRST, 4096, 65536, 8);
    sb_seg(&r, &c, SEQ(5), "FGHIJ");
    struct reasm_result res = sb_seg(&r, &c, SEQ(20), "UVWX"); /* 9 > 8 */
    cr_assert_eq(res.error, MOS_ERR_MEMCAP);
    cr_assert_eq(c.ctr.reasm_memcap_forced_gaps, 1);
    cr_assert_eq(c.ctr.reasm_window_forced_gaps, 0);
    cr_assert_eq(r.next, 10);
    cr_assert_eq(c.pool.held, 4);
    cr_assert_eq(c.ctr.reasm_ooo_peak_bytes, 5);
}

Test(reasm, memcap_is_shared_between_directions)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_FIRST, 4096, 65536, 8);
    struct tcp_reasm other;
    tcp_reasm_init(&other, 4096, 65536, MOS_OVERLAP_FIRST);
    tcp_reasm_set_isn(&other, 0);
    sb_seg(&other, &c, 1 + 10, "0123456"); /* 7 held by the other direction */
    struct reasm_result res = sb_seg(&r, &c, SEQ(3), "de");
    cr_assert_eq(res.error, MOS_ERR_MEMCAP);
    cr_assert_eq(r.gaps[0].end, 3); /* nothing held here: skip straight to the segment */
    cr_assert_eq(r.next, 5);
    tcp_reasm_free(&other, &c.pool);
}

Test(reasm, flush_skips_every_hole)
{
    sb_seg(&r, &c, SEQ(3), "de");
    sb_seg(&r, &c, SEQ(8), "ij");
    struct reasm_result res = sb_flush(&r, &c);
    cr_assert_eq(res.gaps, 2);
    cr_assert_eq(res.new_bytes, 4);
    cr_assert_eq(r.gaps[0].start, 0);
    cr_assert_eq(r.gaps[0].end, 3);
    cr_assert_eq(r.gaps[1].start, 5);
    cr_assert_eq(r.gaps[1].end, 8);
    cr_assert_null(r.ooo);
    cr_assert_eq(c.pool.held, 0);
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "deij");
}

Test(reasm, disabled_keeps_offsets_and_verdicts)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_FIRST, 0, 65536, 0);
    cr_assert_not(r.enabled);
    struct reasm_result res = sb_seg(&r, &c, SEQ(0), "hello");
    cr_assert_eq(res.new_bytes, 5);
    cr_assert_null(r.buf.data);
    cr_assert_eq(stream_buf_unread(&r.buf), 0);
    struct reasm_class cl;
    tcp_reasm_classify(&r, SEQ(0), (const uint8_t *)"jello", 5, &cl);
    cr_assert(cl.rexmit);
    cr_assert_not(cl.inconsistent); /* cannot be known without the bytes */
    sb_seg(&r, &c, SEQ(0), "jello");
    cr_assert_eq(c.ctr.reasm_rexmit_unverifiable, 1);
    sb_seg(&r, &c, SEQ(8), "ij"); /* held as a range: no pool bytes */
    cr_assert_eq(c.pool.held, 0);
    cr_assert_eq(r.ooo_held, 2);
    tcp_reasm_classify(&r, SEQ(8), (const uint8_t *)"i", 1, &cl);
    cr_assert(cl.rexmit);
    res = sb_ack(&r, &c, SEQ(10));
    cr_assert_eq(res.gaps, 1);
    cr_assert_eq(res.new_bytes, 2);
    cr_assert_eq(r.next, 10);
    cr_assert_eq(tcp_reasm_delivered(&r), 7);
}

Test(reasm, out_of_window_ignored)
{
    sb_seg(&r, &c, SEQ(0), "ab");
    uint32_t far = SEQ(2) + (1u << 30) + 1000u;
    struct reasm_class cl;
    tcp_reasm_classify(&r, far, (const uint8_t *)"zz", 2, &cl);
    cr_assert(cl.out_of_window);
    struct reasm_result res = sb_seg(&r, &c, far, "zz");
    cr_assert_eq(res.new_bytes, 0);
    cr_assert_null(r.ooo);
    cr_assert_eq(c.ctr.reasm_out_of_window, 1);
    tcp_reasm_classify(&r, SEQ(2) - (1u << 30) - 1000u, (const uint8_t *)"zz", 2, &cl);
    cr_assert(cl.out_of_window);
    /* a far ack does not make a gap either */
    res = sb_ack(&r, &c, far);
    cr_assert_eq(res.gaps, 0);
}

Test(reasm, base_from_first_segment)
{
    struct tcp_reasm r2;
    tcp_reasm_init(&r2, 4096, 65536, MOS_OVERLAP_FIRST);
    struct reasm_result res = {0};
    cr_assert_not(r2.base_set);
    tcp_reasm_insert(&r2, &c.pool, 5000, (const uint8_t *)"abc", 3, &res);
    cr_assert(r2.base_set);
    cr_assert_eq(r2.base_seq, 5000);
    cr_assert_eq(res.new_bytes, 3);
    tcp_reasm_free(&r2, &c.pool);
}

/* The engine keeps SYN payload aside and inserts it at isn+1 only when the
 * SYN/ACK acknowledges it; these are the two outcomes as reassembly sees them. */
Test(reasm, syn_data_acked_then_resent_is_rexmit)
{
    sb_seg(&r, &c, SEQ(0), "GET ");     /* accepted SYN data */
    sb_seg(&r, &c, SEQ(0), "GET ");     /* client resends it anyway */
    cr_assert_eq(c.ctr.reasm_rexmit, 1);
    sb_seg(&r, &c, SEQ(4), "/");
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "GET /");
}

Test(reasm, syn_data_not_acked_resent_is_new)
{
    /* nothing inserted for the refused SYN data: the resend is the first copy */
    sb_seg(&r, &c, SEQ(0), "GET /");
    cr_assert_eq(c.ctr.reasm_rexmit, 0);
    sb_read(&r, out, sizeof out);
    cr_assert_str_eq(out, "GET /");
}

Test(reasm, gap_list_is_bounded)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_FIRST, 4096, 65536, 0);
    for (uint32_t i = 0; i < REASM_MAX_GAPS + 10; i++) {
        sb_seg(&r, &c, SEQ(i * 2 + 1), "x"); /* one byte after a one-byte hole */
        sb_ack(&r, &c, SEQ(i * 2 + 2));
    }
    cr_assert_eq(r.ngaps, REASM_MAX_GAPS);
    cr_assert_eq(r.ngaps_total, REASM_MAX_GAPS + 10);
    cr_assert_eq(c.ctr.reasm_gaps, REASM_MAX_GAPS + 10);
    cr_assert_eq(r.next, 2 * (REASM_MAX_GAPS + 10));
    cr_assert_eq(tcp_reasm_delivered(&r), REASM_MAX_GAPS + 10);
}

/* ---------------------------------------------- storage switched (MOS_CLIBUF/SVRBUF) */

Test(reasm, storage_off_keeps_held_ranges_and_gives_their_bytes_back)
{
    sb_seg(&r, &c, SEQ(5), "WORLD");
    cr_assert_eq(c.pool.held, 5);
    tcp_reasm_set_storage(&r, &c.pool, false, 0);
    cr_assert_eq(c.pool.held, 0, "bytes no longer stored leave the memcap");
    cr_assert_eq(c.ctr.reasm_ooo_bytes_held, 0);
    cr_assert_eq(r.ooo_held, 5, "the range is still held, for the window");
    struct reasm_result res = sb_seg(&r, &c, SEQ(0), "HELLO");
    cr_assert_eq(res.new_bytes, 10, "both ranges delivered in order");
    cr_assert_eq(sb_read(&r, out, sizeof(out)), 0, "nothing stored");
    cr_assert_eq(r.buf.head, 10);
}

Test(reasm, storage_on_drops_ranges_held_without_bytes)
{
    tcp_reasm_set_storage(&r, &c.pool, false, 0);
    sb_seg(&r, &c, SEQ(5), "WORLD");                  /* a range, no bytes */
    tcp_reasm_set_storage(&r, &c.pool, true, 4096);
    cr_assert_null(r.ooo, "a range without bytes can never be delivered as bytes");
    cr_assert_eq(r.ooo_held, 0);
    struct reasm_result res = sb_seg(&r, &c, SEQ(0), "HELLO");
    cr_assert_eq(res.new_bytes, 5);
    res = sb_seg(&r, &c, SEQ(5), "WORLD");            /* retransmitted: stored now */
    cr_assert_eq(res.new_bytes, 5);
    cr_assert_eq(sb_read(&r, out, sizeof(out)), 10);
    cr_assert_str_eq(out, "HELLOWORLD");
}

Test(reasm, storage_back_on_never_returns_bytes_not_stored)
{
    sb_seg(&r, &c, SEQ(0), "ABCDEFGH");
    cr_assert_eq(sb_read(&r, out, sizeof(out)), 8);
    tcp_reasm_set_storage(&r, &c.pool, false, 0);
    char big[3001];
    memset(big, 'z', 3000);
    big[3000] = 0;
    sb_seg(&r, &c, SEQ(8), big);                      /* delivered, not stored */
    tcp_reasm_set_storage(&r, &c.pool, true, 4096);
    sb_seg(&r, &c, SEQ(3008), "XY");
    cr_assert_eq(stream_buf_held_from(&r.buf), 3008, "storage starts where it was switched on");
    uint8_t b[16];
    cr_assert_eq(stream_buf_copy(&r.buf, 3000, b, sizeof(b)), 0, "offsets before it are not held");
    cr_assert_eq(stream_buf_copy(&r.buf, 3008, b, sizeof(b)), 2);
    cr_assert_eq(memcmp(b, "XY", 2), 0);
    /* a retransmission of bytes never stored is unverifiable, not inconsistent */
    struct reasm_result res = sb_seg(&r, &c, SEQ(3000), "qqqqqqqq");
    cr_assert_eq(res.new_bytes, 0);
    cr_assert_eq(c.ctr.reasm_rexmit_inconsistent, 0);
    cr_assert_eq(c.ctr.reasm_rexmit_unverifiable, 1);
    cr_assert_eq(sb_read(&r, out, sizeof(out)), 2);
    cr_assert_str_eq(out, "XY");
}

Test(reasm, storage_toggled_repeatedly_with_held_data)
{
    const char *seg[] = {"BB", "DD", "FF", "HH"};
    for (int i = 0; i < 4; i++) {
        sb_seg(&r, &c, SEQ(2 + 4 * i), seg[i]);      /* held out of order: holes at 0, 4, 8, 12 */
        tcp_reasm_set_storage(&r, &c.pool, i % 2 != 0, 4096);
        cr_assert_null(sb_check(&r), "%s", sb_check(&r));
        cr_assert_eq(c.pool.held, r.enabled ? r.ooo_held : 0, "the memcap counts exactly the bytes stored");
    }
    struct reasm_result res = {0};
    tcp_reasm_flush(&r, &c.pool, &res);
    cr_assert_eq(c.pool.held, 0);
}

/* Issue 10 defect 1, at the reassembly level: Linux TCP through a reordering
 * path. The receiver's script reads every new byte (the ring stays at the
 * 16 KiB history and wraps), then 20 segments arrive ahead of a lost one and
 * are held; the repacketized retransmission fills the hole and the held
 * bytes drain as one burst of unread bytes, growing the ring. Retransmitted
 * copies of earlier bytes, identical to the originals, must never be called
 * inconsistent: compared where the original is still held, unverifiable
 * where it is not. The same traffic without a reader gives the same verdicts
 * on consistency (0 inconsistent); a genuinely different copy is flagged by
 * both. Every count below is worked out from the offsets by hand. */
static uint8_t bpat(uint64_t off) { return (uint8_t)('a' + off % 26); }

static void seg_at(uint64_t off, uint32_t n, bool corrupt)
{
    uint8_t tmp[2000];
    cr_assert(n <= sizeof tmp);
    for (uint32_t i = 0; i < n; i++)
        tmp[i] = bpat(off + i);
    if (corrupt)
        tmp[n / 2] = 'X';
    struct reasm_result res = {0};
    tcp_reasm_insert(&r, &c.pool, SEQ(off), tmp, n, &res);
}

static void reordered_burst(bool reader)
{
    tcp_reasm_free(&r, &c.pool);
    setup_policy(MOS_OVERLAP_FIRST, 256 * 1024, 1024 * 1024, 0);
    static char big[70000];
    for (uint64_t off = 0; off < 40000; off += 1000) {
        seg_at(off, 1000, false);
        if (reader)
            cr_assert_eq(sb_read(&r, big, sizeof big), 1000);
    }
    for (uint64_t off = 41000; off < 61000; off += 1000) /* ahead of the lost 40000 */
        seg_at(off, 1000, false);
    cr_assert_eq(r.ooo_held, 20000);
    seg_at(40000, 2000, false); /* repacketized: the hole and the first held segment */
    cr_assert_eq(r.next, 61000);
    cr_assert_eq(c.ctr.reasm_rexmit, 1);
    cr_assert_eq(c.ctr.reasm_rexmit_inconsistent, 0);
    /* identical copies of bytes delivered long before the burst, and of
     * bytes that were held out of order */
    seg_at(30000, 2000, false);
    seg_at(20000, 1500, false);
    seg_at(39000, 1000, false);
    seg_at(45000, 2000, false);
    cr_assert_eq(c.ctr.reasm_rexmit, 5);
    cr_expect_eq(c.ctr.reasm_rexmit_inconsistent, 0, "%s: identical retransmissions flagged inconsistent",
                 reader ? "reader" : "no reader");
    /* with a reader the ring holds [39616, 61000) (16 KiB history before the
     * burst, see test_stream_buf.c): 30000 and 20000 are gone, 39000 is held
     * from 39616 on; without one it holds everything */
    cr_expect_eq(c.ctr.reasm_rexmit_unverifiable, reader ? 3 : 0);
    /* a genuinely different copy, still held: flagged with or without a reader */
    seg_at(50000, 1000, true);
    cr_expect_eq(c.ctr.reasm_rexmit_inconsistent, 1);
    if (reader) {
        cr_assert_eq(sb_read(&r, big, sizeof big), 21000);
        for (int i = 0; i < 21000; i++)
            cr_assert_eq((uint8_t)big[i], bpat(40000 + (uint64_t)i), "byte %d", 40000 + i);
    }
}

Test(reasm, reader_then_reordered_burst_no_false_inconsistent) { reordered_burst(true); }
Test(reasm, no_reader_same_traffic_same_verdicts) { reordered_burst(false); }
