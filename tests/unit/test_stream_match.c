/*
 * test_stream_match.c - core/stream_match.c on hand-built streams.
 *
 * The flow is a real one of the core's table (made by a SYN through the
 * engine, so it has a slot and an id), whose two receive streams are then
 * replaced by ones fed by hand through tcp_reasm (segbuild.h): each case
 * states its bytes, gaps and retransmissions directly.
 * Every expected offset is counted by hand in the comments (stream offset
 * 0 = the first payload byte, seq 1000 here); none comes from the code.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "event_tree.h"
#include "flow.h"
#include "io.h"
#include "pktbuild.h"
#include "segbuild.h"
#include "stream_match.h"

static struct mos_core *core;
static struct sb_ctx sb;
static struct mos_flow *fp; /* the core's flow */
#define flow (*fp)
static char err[256];
static const struct etree_host NOHOST = {0};

/* A SYN through the engine: a tracked flow in the core's table. */
static struct mos_flow *make_flow(uint16_t cport)
{
    uint8_t buf[PKT_MAX];
    struct pkt_spec sp = {.src = "10.0.0.1", .dst = "10.0.0.2", .sport = cport, .dport = 80, .seq = 999,
                          .flags = PKT_SYN};
    size_t n = pkt_build(buf, &sp);
    struct mos_frame fr = {.data = buf, .caplen = (uint32_t)n, .wirelen = (uint32_t)n,
                           .ts_ns = 1700000000ull * 1000000000ull, .linktype = 1};
    cr_assert_geq(core_process_frame(core, &fr, &NOHOST), 0);
    uint32_t cursor = 0;
    struct mos_flow *f, *last = NULL;
    while ((f = core_flow_next(core, &cursor)))
        if (f->key.port[0] == cport || f->key.port[1] == cport)
            last = f;
    cr_assert_not_null(last);
    return last;
}

/* Replace the flow's streams by hand-fed ones (offset 0 = seq 1000). */
static void hand_streams(struct mos_flow *f, uint32_t rcvbuf)
{
    for (int s = 0; s < 2; s++) {
        tcp_reasm_free(&f->ep[s].rcv, &sb.pool); /* nothing stored yet by the engine */
        tcp_reasm_init(&f->ep[s].rcv, rcvbuf, 65536, MOS_OVERLAP_FIRST);
        tcp_reasm_set_isn(&f->ep[s].rcv, 999);
    }
}

static void setup(void)
{
    struct mos_config cfg;
    config_defaults(&cfg);
    cfg.max_concurrency = 16;
    cr_assert_eq(core_create(&cfg, 0, &core), 0);
    sb_ctx_init(&sb, 1 << 20);
    fp = make_flow(40000);
    hand_streams(fp, 65536);
}

static void teardown(void)
{
    /* give the core streams it can free itself */
    for (int s = 0; s < 2; s++) {
        tcp_reasm_free(&flow.ep[s].rcv, &sb.pool);
        tcp_reasm_init(&flow.ep[s].rcv, 0, 65536, MOS_OVERLAP_FIRST);
    }
    core_destroy(core);
}

TestSuite(stream_match, .init = setup, .fini = teardown);

static struct mos_matcher *lits(const char *const *l, int n)
{
    struct mos_pattern p[8];
    memset(p, 0, sizeof(p));
    for (int i = 0; i < n; i++) {
        p[i].expr = l[i];
        p[i].len = (uint32_t)strlen(l[i]);
        p[i].kind = MOS_PAT_LITERAL;
    }
    struct mos_matcher *m = NULL;
    cr_assert_eq(stream_match_create(core, p, (uint32_t)n, &m, err, sizeof(err)), 0, "%s", err);
    return m;
}

/* scan and expect exactly the (id, off) pairs given */
static void expect_scan(struct mos_matcher *m, int side, int n, const uint32_t *ids, const uint64_t *offs)
{
    int got = stream_match_scan(m, &flow, side);
    cr_assert_eq(got, n, "got %d matches, want %d", got, n);
    const struct mos_match *r = stream_match_results(m);
    for (int i = 0; i < n; i++) {
        cr_expect_eq(r[i].id, ids[i], "match %d: id %u, want %u", i, r[i].id, ids[i]);
        cr_expect_eq(r[i].off, offs[i], "match %d: off %llu, want %llu", i, (unsigned long long)r[i].off,
                     (unsigned long long)offs[i]);
    }
}

#define RCV(side) (&flow.ep[side].rcv)

Test(stream_match, literal_across_segments_and_scans)
{
    struct mos_matcher *m = lits((const char *[]){"NEEDLE"}, 1);
    sb_seg(RCV(0), &sb, 1000, "xxNEE"); /* offsets 0..4 */
    expect_scan(m, 0, 0, NULL, NULL);
    sb_seg(RCV(0), &sb, 1005, "DLEyy"); /* NEEDLE = offsets 2..7: just past = 8 */
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){8});
    expect_scan(m, 0, 0, NULL, NULL); /* nothing new */
    stream_match_destroy(m);
}

Test(stream_match, peeked_bytes_are_scanned_too)
{
    struct mos_matcher *m = lits((const char *[]){"abc"}, 1);
    sb_seg(RCV(1), &sb, 1000, "zabcz");
    char out[16];
    sb_read(RCV(1), out, sizeof(out)); /* a handler consumed them */
    expect_scan(m, 1, 1, (uint32_t[]){1}, (uint64_t[]){4});
    stream_match_destroy(m);
}

Test(stream_match, scanning_consumes_what_it_scanned)
{
    struct mos_matcher *m = lits((const char *[]){"abc"}, 1);
    sb_seg(RCV(1), &sb, 1000, "abcdef");
    cr_assert_eq(stream_buf_unread(&RCV(1)->buf), 6);
    expect_scan(m, 1, 1, (uint32_t[]){1}, (uint64_t[]){3});
    cr_assert_eq(stream_buf_unread(&RCV(1)->buf), 0);
    cr_assert_eq(stream_buf_unread(&RCV(0)->buf), 0); /* the other side untouched (empty) */
    sb_seg(RCV(1), &sb, 1006, "gh");
    char out[16];
    cr_assert_eq(sb_read(RCV(1), out, sizeof(out)), 2); /* only the later bytes */
    cr_assert_str_eq(out, "gh");
    stream_match_destroy(m);
}

Test(stream_match, retransmitted_bytes_are_scanned_once)
{
    struct mos_matcher *m = lits((const char *[]){"NEEDLE"}, 1);
    sb_seg(RCV(0), &sb, 1000, "..NEEDLE..");
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){8});
    sb_seg(RCV(0), &sb, 1000, "..NEEDLE.."); /* the same segment again */
    sb_seg(RCV(0), &sb, 1002, "NEEDLE");     /* and a part of it */
    expect_scan(m, 0, 0, NULL, NULL);
    /* offsets 6..16: 6..9 were received (first wins), 10..16 are new:
     * ".NEEDLE", the needle at 11..16, past = 17 */
    sb_seg(RCV(0), &sb, 1006, "DLE..NEEDLE");
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){17});
    stream_match_destroy(m);
}

Test(stream_match, no_match_across_a_gap)
{
    struct mos_matcher *m = lits((const char *[]){"NEEDLE"}, 1);
    sb_seg(RCV(0), &sb, 1000, "abNEE");        /* 0..4 */
    expect_scan(m, 0, 0, NULL, NULL);
    sb_seg(RCV(0), &sb, 1010, "DLE NEEDLE");   /* 10..19, after a hole 5..9 */
    sb_ack(RCV(0), &sb, 1020);                 /* the receiver acked past the hole: skipped */
    cr_assert_eq(RCV(0)->ngaps_total, 1);
    /* "NEE" + "DLE" must not join; the NEEDLE at stream 14..19 ends at 20 */
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){20});
    stream_match_destroy(m);
}

Test(stream_match, several_gaps_between_two_scans)
{
    struct mos_matcher *m = lits((const char *[]){"NEEDLE", "XY"}, 2);
    sb_seg(RCV(0), &sb, 1000, "NE");           /* 0..1 */
    expect_scan(m, 0, 0, NULL, NULL);
    sb_seg(RCV(0), &sb, 1004, "ED");           /* 4..5 after hole 2..3 */
    sb_ack(RCV(0), &sb, 1006);
    sb_seg(RCV(0), &sb, 1010, "LEXY");         /* 10..13 after hole 6..9: XY = 12..13 */
    sb_ack(RCV(0), &sb, 1014);
    cr_assert_eq(RCV(0)->ngaps_total, 2);
    expect_scan(m, 0, 1, (uint32_t[]){2}, (uint64_t[]){14});
    /* a match after the gaps keeps stream offsets: NEEDLE at 14..19 */
    sb_seg(RCV(0), &sb, 1014, "NEEDLE");
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){20});
    struct mos_matcher_stats st;
    stream_match_stats(m, &st);
    cr_expect_eq(st.restarts, 2);
    stream_match_destroy(m);
}

Test(stream_match, a_gap_right_at_the_scanned_end)
{
    struct mos_matcher *m = lits((const char *[]){"ABCD"}, 1);
    sb_seg(RCV(0), &sb, 1000, "AB");           /* 0..1, scanned */
    expect_scan(m, 0, 0, NULL, NULL);
    sb_seg(RCV(0), &sb, 1005, "CD");           /* hole 2..4, then 5..6 */
    sb_ack(RCV(0), &sb, 1007);
    expect_scan(m, 0, 0, NULL, NULL);
    sb_seg(RCV(0), &sb, 1007, "ABCD");         /* 7..10: past = 11 */
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){11});
    stream_match_destroy(m);
}

Test(stream_match, both_sides_are_independent)
{
    struct mos_matcher *m = lits((const char *[]){"ping", "pong"}, 2);
    sb_seg(RCV(0), &sb, 1000, "pi");
    sb_seg(RCV(1), &sb, 1000, "ng pong");
    expect_scan(m, 1, 1, (uint32_t[]){2}, (uint64_t[]){7}); /* "ng" alone is no ping */
    sb_seg(RCV(0), &sb, 1002, "ng");
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){4});
    stream_match_destroy(m);
}

Test(stream_match, regex_and_given_ids)
{
    struct mos_pattern p[3] = {
        {.expr = "MOSLUA-NEEDLE", .len = 13, .kind = MOS_PAT_LITERAL},
        {.expr = "GET /[a-z]+\\.php", .kind = MOS_PAT_REGEX, .id = 7, .has_id = 1},
        {.expr = "a.b", .len = 3, .kind = MOS_PAT_LITERAL}, /* '.' is a literal dot here */
    };
    struct mos_matcher *m = NULL;
    cr_assert_eq(stream_match_create(core, p, 3, &m, err, sizeof(err)), 0, "%s", err);
    sb_seg(RCV(1), &sb, 1000, "GET /ind");
    sb_seg(RCV(1), &sb, 1008, "ex.php axb a.b MOSLUA-NEEDLE");
    /* "GET /index.php" = 0..13 -> 14; "a.b" at 19..21 -> 22; needle 23..35 -> 36 */
    expect_scan(m, 1, 3, (uint32_t[]){7, 3, 1}, (uint64_t[]){14, 22, 36});
    stream_match_destroy(m);
}

Test(stream_match, binary_literal_with_nul)
{
    struct mos_pattern p = {.expr = "\x00\x01\xff", .len = 3, .kind = MOS_PAT_LITERAL};
    struct mos_matcher *m = NULL;
    cr_assert_eq(stream_match_create(core, &p, 1, &m, err, sizeof(err)), 0, "%s", err);
    struct reasm_result res = {0};
    const uint8_t bytes[] = {'a', 0, 1, 0xff, 'b'};
    tcp_reasm_insert(RCV(0), &sb.pool, 1000, bytes, sizeof(bytes), &res);
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){4});
    stream_match_destroy(m);
}

Test(stream_match, bad_regex_names_the_pattern)
{
    struct mos_pattern p[2] = {
        {.expr = "fine", .len = 4, .kind = MOS_PAT_LITERAL},
        {.expr = "GET /[a-z", .kind = MOS_PAT_REGEX},
    };
    struct mos_matcher *m = NULL;
    cr_assert_eq(stream_match_create(core, p, 2, &m, err, sizeof(err)), -EINVAL);
    cr_assert_null(m);
    cr_assert(strstr(err, "pattern 2") && strstr(err, "GET /[a-z"), "%s", err);
    cr_assert_eq(stream_match_create(core, p, 0, &m, err, sizeof(err)), -EINVAL);
}

Test(stream_match, flow_end_frees_the_state)
{
    struct mos_matcher *a = lits((const char *[]){"x"}, 1);
    struct mos_matcher *b = lits((const char *[]){"y"}, 1);
    sb_seg(RCV(0), &sb, 1000, "xy");
    cr_assert_eq(stream_match_scan(a, &flow, 0), 1);
    cr_assert_eq(stream_match_scan(b, &flow, 0), 1);
    struct mos_matcher_stats st;
    stream_match_stats(a, &st);
    cr_assert_eq(st.states, 1);
    stream_match_flow_end(*core_matchers(core), &flow, core_flow_slot(core, &flow));
    stream_match_stats(a, &st);
    cr_assert_eq(st.states, 0);
    stream_match_stats(b, &st);
    cr_assert_eq(st.states, 0);
    /* a later flow in the same slot (a new id) starts from scratch */
    stream_match_destroy(a);
    flow.id += 1000;
    cr_assert_eq(stream_match_scan(b, &flow, 0), 1); /* new state, scans "xy" from 0 */
    cr_assert_eq(stream_match_results(b)[0].off, 2);
    stream_match_stats(b, &st);
    cr_assert_eq(st.states, 1);
    stream_match_destroy(b); /* frees the flow's state too (ASan: no leak) */
}

Test(stream_match, a_slot_reused_without_flow_end_does_not_inherit)
{
    struct mos_matcher *m = lits((const char *[]){"NEEDLE"}, 1);
    sb_seg(RCV(0), &sb, 1000, "xxNEE");
    expect_scan(m, 0, 0, NULL, NULL);
    flow.id += 1000; /* another flow in this slot: "DLE" must not complete the old "NEE" */
    hand_streams(fp, 65536);
    sb_seg(RCV(0), &sb, 1000, "DLE");
    expect_scan(m, 0, 0, NULL, NULL);
    stream_match_destroy(m);
}

Test(stream_match, a_matcher_made_while_flows_exist_starts_at_their_end)
{
    sb_seg(RCV(0), &sb, 1000, "NEEDLE ");  /* 0..6: before the matcher */
    struct mos_matcher *m = lits((const char *[]){"NEEDLE"}, 1);
    struct mos_matcher_stats st;
    stream_match_stats(m, &st);
    cr_assert_eq(st.states, 1);
    sb_seg(RCV(0), &sb, 1007, "NEEDLE");   /* 7..12 -> 13 */
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){13});
    /* a flow made after it starts at 0 */
    struct mos_flow *g = make_flow(40001);
    hand_streams(g, 65536);
    sb_seg(&g->ep[1].rcv, &sb, 1000, "NEEDLE");
    cr_assert_eq(stream_match_scan(m, g, 1), 1);
    cr_assert_eq(stream_match_results(m)[0].off, 6);
    for (int s = 0; s < 2; s++) {
        tcp_reasm_free(&g->ep[s].rcv, &sb.pool);
        tcp_reasm_init(&g->ep[s].rcv, 0, 65536, MOS_OVERLAP_FIRST);
    }
    stream_match_destroy(m);
}

Test(stream_match, the_core_may_go_first)
{
    struct mos_matcher *m = lits((const char *[]){"x"}, 1);
    sb_seg(RCV(0), &sb, 1000, "x");
    cr_assert_eq(stream_match_scan(m, &flow, 0), 1);
    for (int s = 0; s < 2; s++) {
        tcp_reasm_free(&flow.ep[s].rcv, &sb.pool);
        tcp_reasm_init(&flow.ep[s].rcv, 0, 65536, MOS_OVERLAP_FIRST);
    }
    core_destroy(core); /* releases the flow (and m's state for it), detaches m */
    struct mos_matcher_stats st;
    stream_match_stats(m, &st);
    cr_assert_eq(st.states, 0);
    stream_match_destroy(m); /* must not touch the freed core (ASan) */
    struct mos_config cfg;
    config_defaults(&cfg);
    cr_assert_eq(core_create(&cfg, 0, &core), 0); /* for teardown */
    fp = make_flow(40000);
    hand_streams(fp, 65536);
}

Test(stream_match, unbuffered_side_and_bad_side)
{
    struct mos_matcher *m = lits((const char *[]){"x"}, 1);
    RCV(1)->enabled = false;
    cr_assert_eq(stream_match_scan(m, &flow, 1), -ENOTSUP);
    cr_assert_eq(stream_match_scan(m, &flow, 2), -EINVAL);
    stream_match_destroy(m);
}

Test(stream_match, bytes_overwritten_before_a_scan_are_counted_not_joined)
{
    /* a 4 KiB ring: 6000 bytes between two scans lose the first ones */
    tcp_reasm_free(RCV(0), &sb.pool);
    tcp_reasm_init(RCV(0), 4096, 65536, MOS_OVERLAP_FIRST);
    tcp_reasm_set_isn(RCV(0), 999);
    struct mos_matcher *m = lits((const char *[]){"NEEDLE"}, 1);
    sb_seg(RCV(0), &sb, 1000, "NEE");
    expect_scan(m, 0, 0, NULL, NULL);
    static char big[6001];
    memset(big, '.', 6000);
    memcpy(big, "DLE", 3); /* would complete NEEDLE if joined */
    memcpy(big + 5990, "NEEDLE", 6); /* offsets 3+5990 .. : past = 3 + 5996 = 5999 */
    sb_seg(RCV(0), &sb, 1003, big);
    cr_assert_eq(RCV(0)->buf.size, 4096);
    expect_scan(m, 0, 1, (uint32_t[]){1}, (uint64_t[]){5999});
    struct mos_matcher_stats st;
    stream_match_stats(m, &st);
    cr_expect_eq(st.bytes_unscanned, 6003 - 4096 - 3); /* held: the last 4096; 3 were scanned */
    cr_expect_eq(st.bytes_scanned, 3 + 4096);
    stream_match_destroy(m);
}

Test(stream_match, results_are_bounded)
{
    /* 60000 'a': "a" ends at 60000 places, "aa" at 59999 */
    struct mos_matcher *m = lits((const char *[]){"a", "aa"}, 2);
    static char big[60001];
    memset(big, 'a', 60000);
    sb_seg(RCV(0), &sb, 1000, big);
    cr_assert_eq(stream_match_scan(m, &flow, 0), STREAM_MATCH_MAX_RESULTS);
    struct mos_matcher_stats st;
    stream_match_stats(m, &st);
    cr_expect_eq(st.matches_dropped, 60000 + 59999 - STREAM_MATCH_MAX_RESULTS);
    stream_match_destroy(m);
}

/* ------------------------------------------------------------ pattern files */

static char *write_file(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/mos-sm-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(stream_match, pattern_file_format)
{
    const char *path = write_file("# comment\n"
                                  "\n"
                                  "lit MOSLUA-NEEDLE\n"
                                  "re:7 GET /[a-z]+\\.php\n"
                                  "   \t\n"
                                  "lit:12  two spaces\\x21\r\n"
                                  "lit a\\\\b\\tc\n");
    struct mos_matcher *m = NULL;
    cr_assert_eq(stream_match_load(core, path, &m, err, sizeof(err)), 0, "%s", err);
    unlink(path);
    struct mos_matcher_stats st;
    stream_match_stats(m, &st);
    cr_assert_eq(st.npatterns, 4);
    /* " two spaces!" (leading space kept) at 0..11 -> 12; "a\b<TAB>c" at 12..16 -> 17;
     * "GET /x.php" 17..26 -> 27; the needle 27..39 -> 40 */
    sb_seg(RCV(0), &sb, 1000, " two spaces!a\\b\tcGET /x.phpMOSLUA-NEEDLE");
    expect_scan(m, 0, 4, (uint32_t[]){12, 4, 7, 1}, (uint64_t[]){12, 17, 27, 40});
    stream_match_destroy(m);
}

static void expect_load_error(const char *text, const char *want)
{
    const char *path = write_file(text);
    struct mos_matcher *m = NULL;
    int rc = stream_match_load(core, path, &m, err, sizeof(err));
    unlink(path);
    cr_assert_lt(rc, 0, "loaded %s", text);
    cr_assert_null(m);
    char full[128];
    snprintf(full, sizeof(full), "%s:%s", path, want);
    cr_assert(strstr(err, full), "error \"%s\" lacks \"%s\"", err, full);
}

Test(stream_match, pattern_file_errors_name_the_line)
{
    expect_load_error("lit ok\n# fine\nre GET /[a-z\n", "3: regex \"GET /[a-z\"");
    expect_load_error("lit ok\nliteral foo\n", "2: unknown kind");
    expect_load_error("lit:x foo\n", "1: bad id");
    expect_load_error("lit:99999999999 foo\n", "1: bad id");
    expect_load_error("lit ok\nlit\n", "2: expected KIND");
    expect_load_error("lit \n", "1: empty pattern");
    expect_load_error("lit a\\qb\n", "1: bad escape");
    expect_load_error("lit a\\x4\n", "1: bad escape");
    expect_load_error("# only a comment\n", " no patterns");
    struct mos_matcher *m = NULL;
    cr_assert_eq(stream_match_load(core, "/nonexistent/patterns", &m, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, "/nonexistent/patterns"), "%s", err);
}
