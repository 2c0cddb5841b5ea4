/*
 * test_inline.c - inline mode through a fake port pair: forwarding, drops,
 * same- and different-length rewrites with sequence remapping, and RST
 * injection. Expected numbers are worked out by hand in each test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "config.h"
#include "decode.h"
#include "engine.h"
#include "event_tree.h"
#include "flow_hash.h"
#include "pkt_rewrite.h"
#include "pktbuild.h"

#define MAXF 32

struct sent {
    uint16_t port;
    uint32_t len;
    uint8_t data[2048];
};

struct fake_io {
    struct mos_io io;
    uint8_t in[MAXF][2048];
    struct mos_frame frames[MAXF];
    int nin, next;
    struct sent out[MAXF];
    int nout;
};

static int fake_rx(struct mos_io *io, struct mos_frame *f, int max)
{
    struct fake_io *x = (struct fake_io *)io;
    if (x->next >= x->nin)
        return MOS_IO_EOF;
    f[0] = x->frames[x->next++]; /* one at a time: handlers act per packet */
    return 1;
}

static int fake_tx(struct mos_io *io, uint16_t port, const uint8_t *d, uint32_t len)
{
    struct fake_io *x = (struct fake_io *)io;
    cr_assert_lt(x->nout, MAXF);
    cr_assert_leq(len, sizeof(x->out[0].data));
    x->out[x->nout].port = port;
    x->out[x->nout].len = len;
    memcpy(x->out[x->nout].data, d, len);
    x->nout++;
    return 0;
}

static void fake_close(struct mos_io *io) {}

static struct fake_io X;
static struct mos_core *core;
/* what the handler does, keyed by the index of the packet being handled */
static int action_pkt = -1;
enum { ACT_NONE, ACT_REWRITE_SAME, ACT_REWRITE_GROW, ACT_DROP, ACT_RESET } action;

static void add(uint16_t port, const char *src, const char *dst, uint16_t sp, uint16_t dp, uint32_t seq, uint32_t ack,
                uint8_t fl, const char *pl)
{
    struct pkt_spec s = {.src = src, .dst = dst, .sport = sp, .dport = dp, .seq = seq, .ack = ack, .flags = fl,
                         .payload = pl, .payload_len = pl ? (uint32_t)strlen(pl) : 0};
    size_t n = pkt_build(X.in[X.nin], &s);
    cr_assert_gt(n, 0);
    X.frames[X.nin] = (struct mos_frame){.data = X.in[X.nin], .caplen = (uint32_t)n, .wirelen = (uint32_t)n,
                                         .ts_ns = 1000000000ull * (uint64_t)(X.nin + 1), .linktype = 1, .port = port};
    X.nin++;
}

#define C "10.0.0.1"
#define S "10.0.0.2"
static void c2s(uint32_t seq, uint32_t ack, uint8_t fl, const char *pl) { add(0, C, S, 40000, 80, seq, ack, fl, pl); }
static void s2c(uint32_t seq, uint32_t ack, uint8_t fl, const char *pl) { add(1, S, C, 80, 40000, seq, ack, fl, pl); }

static void handler(void *ctx, uint64_t h, const struct mos_event *ev)
{
    if (X.next - 1 != action_pkt)
        return;
    const struct mos_pkt *p = core_current_pkt(core);
    cr_assert_not_null(p);
    switch (action) {
    case ACT_REWRITE_SAME:
        cr_assert_eq(core_pkt_rewrite(core, MOS_PART_PAYLOAD, 0, 5, (const uint8_t *)"HOWDY", 5), 0);
        break;
    case ACT_REWRITE_GROW:
        cr_assert_eq(core_pkt_rewrite(core, MOS_PART_PAYLOAD, 0, 5, (const uint8_t *)"HOWDY THERE", 11), 0);
        break;
    case ACT_DROP:
        core_flow_drop(core, ev->flow);
        break;
    case ACT_RESET:
        cr_assert_eq(core_flow_reset(core, ev->flow), 0);
        break;
    default:
        break;
    }
    action_pkt = -1; /* once */
}

static bool no_filter(void *ctx, uint64_t f, uint64_t a, const struct mos_event *ev) { return true; }

/* Step the core to the end of input; after_step (may be NULL) runs after
 * each batch, e.g. to change what the fake io reports. */
static void run_with(void (*after_step)(void))
{
    struct etree_host host = {.ctx = NULL, .filter = no_filter, .handler = handler};
    const struct mos_event *evs;
    int n;
    while ((n = core_step(core, &evs)) != MOS_IO_EOF) {
        cr_assert_geq(n, 0);
        for (int i = 0; i < n; i++)
            core_dispatch_c(core, &evs[i], &host);
        if (after_step)
            after_step();
    }
}

static void run(void) { run_with(NULL); }

static void setup(void)
{
    memset(&X, 0, sizeof(X));
    X.io = (struct mos_io){.rx_burst = fake_rx, .tx = fake_tx, .close = fake_close, .name = "fake"};
    struct mos_config cfg;
    config_defaults(&cfg);
    cfg.npairs = 1;
    strcpy(cfg.inline_pairs[0][0], "a");
    strcpy(cfg.inline_pairs[0][1], "b");
    cr_assert_eq(core_create(&cfg, 0, &core), 0);
    core_set_io(core, &X.io);
    int s = core_socket(core, MOS_SOCK_MONITOR_STREAM);
    cr_assert_eq(core_register(core, s, MOS_ON_PKT_IN, MOS_HK_SND, 1, false), 0);
    action = ACT_NONE;
    action_pkt = -1;
}

static void teardown(void) { core_destroy(core); }

/* The decoded view of a forwarded frame, with checksums verified. */
static struct mos_pkt decode_out(int i)
{
    struct mos_counters ctr = {0};
    struct decoder d = {.checksum = MOS_CSUM_VERIFY, .ctr = &ctr};
    struct mos_pkt p;
    cr_assert_eq(decode_frame(&d, 1, X.out[i].data, X.out[i].len, X.out[i].len, 0, &p), DECODE_OK,
                 "forwarded frame %d does not decode with checksums verified", i);
    return p;
}

static void handshake(void)
{
    c2s(1000, 0, PKT_SYN, NULL);
    s2c(5000, 1001, PKT_SYN | PKT_ACK, NULL);
    c2s(1001, 5001, PKT_ACK, NULL);
}

TestSuite(inline_mode, .init = setup, .fini = teardown);

Test(inline_mode, forwards_every_packet_to_the_other_port)
{
    handshake();
    run();
    cr_assert_eq(X.nout, 3);
    cr_expect_eq(X.out[0].port, 1);
    cr_expect_eq(X.out[1].port, 0);
    cr_expect_eq(X.out[2].port, 1);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(X.out[i].len, X.frames[i].caplen);
        cr_expect(memcmp(X.out[i].data, X.in[i], X.out[i].len) == 0, "frame %d changed", i);
    }
    cr_expect_eq(core_counters(core)->pkts_forwarded, 3);
}

Test(inline_mode, drop_one_packet)
{
    handshake();
    c2s(1001, 5001, PKT_ACK, "hello");
    action = ACT_DROP;
    action_pkt = 3;
    run();
    cr_expect_eq(X.nout, 3);
    cr_expect_eq(core_counters(core)->pkts_dropped_handler, 1);
}

Test(inline_mode, same_length_rewrite)
{
    handshake();
    s2c(5001, 1001, PKT_ACK, "HELLO");
    action = ACT_REWRITE_SAME;
    action_pkt = 3;
    run();
    cr_assert_eq(X.nout, 4);
    struct mos_pkt p = decode_out(3);
    cr_assert_eq(p.payload_len, 5);
    cr_expect(memcmp(p.payload, "HOWDY", 5) == 0);
    cr_expect_eq(p.seq, 5001);
    cr_expect_eq(core_counters(core)->pkts_rewritten, 1);
}

/* "HELLO" (seq 5001..5006) becomes "HOWDY THERE" (11 bytes): +6 from 5006 on.
 * The next server segment "WORLD" at 5006 goes out at 5012; the client's ACK
 * of everything (wire 5017) is 5011 in the server's space, and goes to the
 * server as 5011 (a real stack ignores an ACK of data it never sent); the
 * server's ACK of the client is untouched. */
Test(inline_mode, longer_rewrite_remaps_sequence_numbers)
{
    handshake();
    s2c(5001, 1001, PKT_ACK, "HELLO");      /* 3: rewritten */
    s2c(5006, 1001, PKT_ACK, "WORLD");      /* 4 */
    c2s(1001, 5017, PKT_ACK, NULL);         /* 5: client acks all it got */
    c2s(1001, 5017, PKT_ACK, "thanks");     /* 6 */
    s2c(5011, 1007, PKT_ACK | PKT_FIN, NULL); /* 7 */
    action = ACT_REWRITE_GROW;
    action_pkt = 3;
    run();
    cr_assert_eq(X.nout, 8);
    struct mos_pkt p3 = decode_out(3), p4 = decode_out(4), p5 = decode_out(5), p6 = decode_out(6), p7 = decode_out(7);
    cr_assert_eq(p3.payload_len, 11);
    cr_expect(memcmp(p3.payload, "HOWDY THERE", 11) == 0);
    cr_expect_eq(p3.seq, 5001);
    cr_expect_eq(p4.seq, 5012);
    cr_expect(memcmp(p4.payload, "WORLD", 5) == 0);
    cr_expect_eq(p5.ack, 5011);
    cr_expect_eq(p6.ack, 5011);
    cr_expect_eq(p6.seq, 1001);
    cr_expect_eq(p7.seq, 5017);
    cr_expect_eq(p7.ack, 1007);
    /* tracking stayed in the server's own space: no gap in what the client received */
    cr_expect_eq(core_counters(core)->reasm_gaps, 0);
    /* changed on the wire: 3 (edited), 4 and 7 (renumbered), 5 and 6 (acks
     * mapped back to the server's space) */
    cr_expect_eq(core_counters(core)->pkts_rewritten, 5);
}

/* SACK edges name the server's bytes as the client saw them: after the
 * +6 edit at 5001..5006 (sender space), wire 5012..5017 ("WORLD") is
 * 5006..5011 for the server; edges before the edit stay as they are. Worked
 * by hand from the remap rule of the test above. */
Test(inline_mode, sack_blocks_are_remapped_like_acks)
{
    handshake();
    s2c(5001, 1001, PKT_ACK, "HELLO");      /* 3: rewritten, +6 */
    s2c(5006, 1001, PKT_ACK, "WORLD");      /* 4: wire 5012..5017 */
    struct pkt_spec sp = {.src = C, .dst = S, .sport = 40000, .dport = 80, .seq = 1001, .ack = 5001,
                          .flags = PKT_ACK, .nsack = 2, .sack = {{5012, 5017}, {4000, 4100}}};
    size_t n = pkt_build(X.in[X.nin], &sp);  /* 5: client has WORLD, not HOWDY THERE */
    cr_assert_gt(n, 0);
    X.frames[X.nin] = (struct mos_frame){.data = X.in[X.nin], .caplen = (uint32_t)n, .wirelen = (uint32_t)n,
                                         .ts_ns = 1000000000ull * (uint64_t)(X.nin + 1), .linktype = 1, .port = 0};
    X.nin++;
    action = ACT_REWRITE_GROW;
    action_pkt = 3;
    run();
    cr_assert_eq(X.nout, 6);
    struct mos_pkt p5 = decode_out(5); /* checksums verified */
    cr_expect_eq(p5.ack, 5001);
    const uint8_t *t = p5.l4;
    uint32_t hlen = (uint32_t)(t[12] >> 4) * 4;
    uint32_t edges[4], ne = 0;
    for (uint32_t i = 20; i < hlen && ne == 0;) {
        if (t[i] == 0) break;
        if (t[i] == 1) { i++; continue; }
        if (t[i] == 5)
            for (uint32_t e = i + 2; e + 4 <= i + t[i + 1] && ne < 4; e += 4)
                edges[ne++] = (uint32_t)t[e] << 24 | (uint32_t)t[e + 1] << 16 | (uint32_t)t[e + 2] << 8 | t[e + 3];
        i += t[i + 1];
    }
    cr_assert_eq(ne, 4, "the forwarded ACK lost its SACK option");
    cr_expect_eq(edges[0], 5006);
    cr_expect_eq(edges[1], 5011);
    cr_expect_eq(edges[2], 4000);
    cr_expect_eq(edges[3], 4100);
}

/* Losses the io reports (cumulative) reach the counters as deltas: 2 frames
 * the device refused and 5 it missed after the second packet, 1 and 2 more
 * later: 3 and 7 in the end, not the sums of what each burst saw. */
static void report_losses(void)
{
    if (X.next == 2)
        X.io.dropped = 2, X.io.rx_missed = 5;
    if (X.next == 3)
        X.io.dropped = 3, X.io.rx_missed = 7;
}

Test(inline_mode, io_losses_are_counted)
{
    handshake();
    c2s(1001, 5001, PKT_ACK, "x");
    run_with(report_losses);
    cr_assert_eq(X.nout, 4);
    cr_expect_eq(core_counters(core)->pkts_dropped_io, 3);
    cr_expect_eq(core_counters(core)->pkts_missed_io, 7);
}

Test(inline_mode, reset_injects_rst_both_ways)
{
    handshake();
    c2s(1001, 5001, PKT_ACK, "hello"); /* 3: the handler resets the connection */
    action = ACT_RESET;
    action_pkt = 3;
    run();
    /* 3 forwarded + 2 RSTs; the packet itself is dropped */
    cr_assert_eq(X.nout, 5);
    struct mos_pkt to_srv = decode_out(3), to_cli = decode_out(4);
    cr_expect_eq(X.out[3].port, 1);
    cr_expect_eq(X.out[4].port, 0);
    cr_expect_eq(to_srv.tcp_flags, PKT_RST | PKT_ACK);
    cr_expect_eq(to_srv.sport, 40000);
    cr_expect_eq(to_srv.seq, 1006); /* the client's next byte after "hello" */
    cr_expect_eq(to_srv.ack, 5001);
    cr_expect_eq(to_cli.sport, 80);
    cr_expect_eq(to_cli.seq, 5001);
    cr_expect_eq(to_cli.ack, 1006);
    cr_expect_eq(core_counters(core)->pkts_injected, 2);
    cr_expect_eq(core_counters(core)->pkts_dropped_handler, 1);
}

Test(inline_mode, rewrite_errors)
{
    handshake();
    s2c(5001, 1001, PKT_ACK, "HELLO");
    run();
    /* outside any packet's events: its own code, not end of input */
    cr_expect_eq(core_pkt_rewrite(core, MOS_PART_PAYLOAD, 0, 1, (const uint8_t *)"x", 1), MOS_E_NO_PACKET);
}

/* io.shard inline: frames of another shard are forwarded untouched and
 * counted, never decoded; the own shard's go through the engine. The shard
 * of the flow is taken from flow_hash_frame (both directions alike). */
static void reshard(uint32_t index)
{
    core_destroy(core);
    struct mos_config cfg;
    config_defaults(&cfg);
    cfg.npairs = 1;
    strcpy(cfg.inline_pairs[0][0], "a");
    strcpy(cfg.inline_pairs[0][1], "b");
    cfg.shard[0] = index;
    cfg.shard[1] = 2;
    cr_assert_eq(core_create(&cfg, 0, &core), 0);
    core_set_io(core, &X.io);
    int s = core_socket(core, MOS_SOCK_MONITOR_STREAM);
    cr_assert_eq(core_register(core, s, MOS_ON_PKT_IN, MOS_HK_SND, 1, false), 0);
}

static unsigned flow_shard(void)
{
    unsigned a = flow_hash_worker(flow_hash_frame(1, X.in[0], X.frames[0].caplen, 0), 2);
    unsigned b = flow_hash_worker(flow_hash_frame(1, X.in[1], X.frames[1].caplen, 0), 2);
    cr_assert_eq(a, b, "the two directions hash to different shards");
    return a;
}

Test(inline_mode, other_shard_forwarded_untouched)
{
    handshake();
    c2s(1001, 5001, PKT_ACK, "hello");
    reshard(1 - flow_shard());
    action = ACT_DROP; /* would drop packet 3 if the engine saw it */
    action_pkt = 3;
    run();
    cr_assert_eq(X.nout, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(X.out[i].port, X.frames[i].port ^ 1);
        cr_expect_eq(X.out[i].len, X.frames[i].caplen);
        cr_expect(memcmp(X.out[i].data, X.in[i], X.out[i].len) == 0, "frame %d changed", i);
    }
    const struct mos_counters *c = core_counters(core);
    cr_expect_eq(c->pkts_other_shard, 4);
    cr_expect_eq(c->pkts_in, 0);
    cr_expect_eq(c->pkts_forwarded, 0);
    cr_expect_eq(c->pkts_dropped_handler, 0);
    cr_expect_eq(c->flows_created, 0);
}

Test(inline_mode, own_shard_processed)
{
    handshake();
    c2s(1001, 5001, PKT_ACK, "hello");
    reshard(flow_shard());
    action = ACT_DROP;
    action_pkt = 3;
    run();
    cr_expect_eq(X.nout, 3);
    const struct mos_counters *c = core_counters(core);
    cr_expect_eq(c->pkts_other_shard, 0);
    cr_expect_eq(c->pkts_in, 4);
    cr_expect_eq(c->pkts_dropped_handler, 1);
    cr_expect_eq(c->flows_created, 1);
}
