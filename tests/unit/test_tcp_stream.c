/*
 * test_tcp_stream.c - the per-segment TCP unit on its own: segments in, the
 * two halves (sender update, receiver update) run as the engine runs them,
 * and the events each half reports compared with lists worked out by hand
 * from docs/events.md (which event, which side, which hooks, counted once)
 * and RFC 793's state diagram. None was recorded from the code.
 *
 * Client 10.0.0.1:40000 (key end 0, side C), server 10.0.0.2:80 (side S);
 * client ISN 100, server ISN 500. A queued event is written
 * EVENT/side/hook=arg, hook as a letter: s (HK_SND), r (HK_RCV), n (HK_NONE).
 * Every hook wants every event here, except where a test says otherwise.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "segbuild.h"
#include "stream_buf.h"
#include "tcp_state.h"
#include "tcp_stream.h"

#define C MOS_SIDE_CLI
#define S MOS_SIDE_SVR
#define CISN 100u
#define SISN 500u

static struct mos_flow f;
static struct sb_ctx ctx;
static char snd[512], rcv[512]; /* the two halves of the last segment */
static bool rst_accepted;

static uint64_t evc[MOS_BUILTIN_EVENTS]; /* occurrences counted, by event */

/* A queue of its own for each half. */
struct sink {
    struct mos_event q[32];
    int n;
    struct tcp_stream_out o;
};

static struct mos_tree all = {.mask = ~0u}; /* every hook listens to every event */

static void sink_init(struct sink *k)
{
    memset(k, 0, sizeof(*k));
    k->o.ev_ctr = evc;
    k->o.q = k->q;
    k->o.n = &k->n;
    k->o.cap = 32;
    k->o.sock = 7;
}

static void render(const struct sink *k, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < k->n; i++) {
        const struct mos_event *e = &k->q[i];
        cr_assert_eq(e->flow, &f);
        cr_assert_eq(e->sock, 7);
        n += (size_t)snprintf(out + n, cap - n, "%s%s/%c/%c=%llu", i ? " " : "", mos_event_name(e->event),
                              e->side == C ? 'C' : 'S', "srn"[e->hook], (unsigned long long)e->arg);
        cr_assert_lt(n, cap);
    }
}

/* One segment from `from`, both halves, as the engine orders them. */
static void seg(int from, uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
    uint32_t len = data ? (uint32_t)strlen(data) : 0;
    struct mos_pkt p = sb_pkt(&f, from, flags, seq, ack, 65535, 0);
    p.payload = (const uint8_t *)data;
    p.payload_len = p.payload_wire_len = len;
    struct tcp_seg s = {.pkt = &p, .payload = p.payload, .len = len, .sender = from, .receiver = 1 - from};
    struct sink k1, k2;
    sink_init(&k1);
    sink_init(&k2);
    tcp_stream_send(&f, &s, &k1.o);
    tcp_stream_recv(&f, &s, &ctx.pool, &k2.o);
    render(&k1, snd, sizeof(snd));
    render(&k2, rcv, sizeof(rcv));
    rst_accepted = s.rst_accepted;
}

static void expect(const char *want_snd, const char *want_rcv)
{
    cr_assert_str_eq(snd, want_snd, "send half: got '%s', expected '%s'", snd, want_snd);
    cr_assert_str_eq(rcv, want_rcv, "receive half: got '%s', expected '%s'", rcv, want_rcv);
}

/* The flow's first packet sets it up, as flow_life.c does. */
static void first(int from, uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
    sb_flow_key(&f, 40000, 80);
    for (int h = 0; h < MOS_HK_COUNT; h++)
        f.tree[h] = &all;
    struct mos_pkt p = sb_pkt(&f, from, flags, seq, ack, 65535, 0);
    struct tcp_state_params prm = {
        .rcvbuf = 4096, .ooo_window = 65536, .overlap = MOS_OVERLAP_FIRST, .reassembly = {true, true}};
    tcp_state_init_ex(&f, from, &p, &prm);
    seg(from, flags, seq, ack, data);
}

static void handshake(void)
{
    first(C, MOS_TCP_SYN, CISN, 0, NULL);
    seg(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, NULL);
    seg(C, MOS_TCP_ACK, CISN + 1, SISN + 1, NULL);
}

/* Every unread byte a side received. */
static const char *unread(int side)
{
    static char buf[256];
    int64_t n = stream_buf_consume(&f.ep[side].rcv.buf, (uint8_t *)buf, sizeof(buf) - 1);
    cr_assert_geq(n, 0);
    buf[n] = 0;
    return buf;
}

static void setup(void)
{
    memset(&f, 0, sizeof(f));
    memset(evc, 0, sizeof(evc));
    sb_ctx_init(&ctx, 1 << 20);
}

static void teardown(void)
{
    tcp_reasm_free(&f.ep[0].rcv, &ctx.pool);
    tcp_reasm_free(&f.ep[1].rcv, &ctx.pool);
    free(f.syn_data);
}
TestSuite(tcp_stream, .init = setup, .fini = teardown);

Test(tcp_stream, handshake_states_in_order)
{
    first(C, MOS_TCP_SYN, CISN, 0, NULL);
    /* SYN: the client becomes SYN_SENT (2) as it sends, the server
     * SYN_RCVD (3) as it receives; PKT_IN once, at both hooks */
    expect("TCP_STATE_CHANGE/C/s=2 PKT_IN/C/s=0", "TCP_STATE_CHANGE/S/r=3 PKT_IN/S/r=0");
    seg(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, NULL);
    /* SYN/ACK: the server stays SYN_RCVD; the client is ESTABLISHED (4) */
    expect("PKT_IN/S/s=0", "TCP_STATE_CHANGE/C/r=4 PKT_IN/C/r=0");
    seg(C, MOS_TCP_ACK, CISN + 1, SISN + 1, NULL);
    expect("PKT_IN/C/s=0", "TCP_STATE_CHANGE/S/r=4 PKT_IN/S/r=0");
    cr_assert_eq(f.ep[C].pkts, 2);
    cr_assert_eq(f.ep[S].pkts, 1);
    cr_assert_eq(f.last_sender, C);
}

Test(tcp_stream, data_goes_to_the_receivers_buffer)
{
    handshake();
    seg(C, MOS_TCP_ACK | MOS_TCP_PSH, CISN + 1, SISN + 1, "GET /");
    /* the server's buffer grew by 5: NEW_DATA at HK_RCV and HK_NONE */
    expect("PKT_IN/C/s=0", "CONN_NEW_DATA/S/r=5 CONN_NEW_DATA/S/n=5 PKT_IN/S/r=0");
    cr_assert_str_eq(unread(S), "GET /");
    cr_assert_str_eq(unread(C), "");
    cr_assert_eq(f.ep[C].bytes, 5);
}

Test(tcp_stream, retransmissions_both_halves_counted_once)
{
    handshake();
    seg(C, MOS_TCP_ACK, CISN + 1, SISN + 1, "GET /");
    seg(C, MOS_TCP_ACK, CISN + 1, SISN + 1, "GET /");
    expect("PKT_IN/C/s=0 REXMIT/C/s=0", "REXMIT/S/r=0 PKT_IN/S/r=0");
    seg(C, MOS_TCP_ACK, CISN + 1, SISN + 1, "PUT /");
    expect("PKT_IN/C/s=0 REXMIT/C/s=0 REXMIT_INCONSISTENT/C/s=0",
           "REXMIT/S/r=0 REXMIT_INCONSISTENT/S/r=0 PKT_IN/S/r=0");
    cr_assert_str_eq(unread(S), "GET /"); /* first wins */
}

Test(tcp_stream, out_of_order_held_then_delivered)
{
    handshake();
    seg(C, MOS_TCP_ACK, CISN + 6, SISN + 1, "WORLD");
    expect("PKT_IN/C/s=0", "PKT_IN/S/r=0");
    seg(C, MOS_TCP_ACK, CISN + 1, SISN + 1, "HELLO");
    expect("PKT_IN/C/s=0", "CONN_NEW_DATA/S/r=10 CONN_NEW_DATA/S/n=10 PKT_IN/S/r=0");
    cr_assert_str_eq(unread(S), "HELLOWORLD");
}

Test(tcp_stream, ack_past_a_hole_skips_it_on_the_ackers_side)
{
    handshake();
    seg(C, MOS_TCP_ACK, CISN + 6, SISN + 1, "WORLD"); /* "HELLO" never captured */
    /* the server acknowledges all 10 bytes: the hole in the server's own
     * buffer will not be filled; one gap, then the 5 held bytes */
    seg(S, MOS_TCP_ACK, SISN + 1, CISN + 11, NULL);
    expect("PKT_IN/S/s=0", "GAP/S/r=1 GAP/S/n=1 CONN_NEW_DATA/S/r=5 CONN_NEW_DATA/S/n=5 PKT_IN/C/r=0");
    cr_assert_str_eq(unread(S), "WORLD");
}

Test(tcp_stream, flush_reports_holes_then_held_bytes)
{
    handshake();
    seg(C, MOS_TCP_ACK, CISN + 6, SISN + 1, "WORLD");
    struct sink k;
    sink_init(&k);
    tcp_stream_flush(&f, &ctx.pool, &k.o);
    render(&k, snd, sizeof(snd));
    cr_assert_str_eq(snd, "GAP/S/r=1 GAP/S/n=1 CONN_NEW_DATA/S/r=5 CONN_NEW_DATA/S/n=5");
    cr_assert_str_eq(unread(S), "WORLD");
}

Test(tcp_stream, syn_data_waits_for_the_synack)
{
    first(C, MOS_TCP_SYN, CISN, 0, "HI");
    expect("TCP_STATE_CHANGE/C/s=2 PKT_IN/C/s=0", "TCP_STATE_CHANGE/S/r=3 PKT_IN/S/r=0");
    cr_assert_str_eq(unread(S), "");
    /* the SYN/ACK acknowledges the SYN and both bytes: they are delivered
     * to the server's buffer during the client's receive update */
    seg(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 3, NULL);
    expect("PKT_IN/S/s=0", "TCP_STATE_CHANGE/C/r=4 CONN_NEW_DATA/S/r=2 CONN_NEW_DATA/S/n=2 PKT_IN/C/r=0");
    cr_assert_str_eq(unread(S), "HI");
}

Test(tcp_stream, syn_data_not_acknowledged_is_dropped_and_counted)
{
    first(C, MOS_TCP_SYN, CISN, 0, "HI");
    seg(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, NULL); /* acks the SYN only */
    expect("PKT_IN/S/s=0", "TCP_STATE_CHANGE/C/r=4 PKT_IN/C/r=0");
    cr_assert_eq(ctx.ctr.reasm_syn_data_unacked, 1);
    cr_assert_null(f.syn_data);
}

Test(tcp_stream, keepalive_is_no_retransmission)
{
    handshake();
    seg(C, MOS_TCP_ACK, CISN + 1, SISN + 1, "GET /");
    seg(C, MOS_TCP_ACK, CISN + 5, SISN + 1, "/"); /* one old byte at next-1 */
    expect("PKT_IN/C/s=0", "PKT_IN/S/r=0");
    cr_assert_eq(ctx.ctr.reasm_keepalive, 1);
}

Test(tcp_stream, rst_outside_the_window_changes_nothing)
{
    handshake();
    seg(C, MOS_TCP_RST, CISN + 1 + 10000000, 0, NULL);
    expect("PKT_IN/C/s=0", "PKT_IN/S/r=0");
    cr_assert_not(rst_accepted);
    cr_assert_eq(ctx.ctr.rst_out_of_window, 1);
    cr_assert_eq(f.ep[S].state, MOS_TCP_ESTABLISHED);
}

Test(tcp_stream, rst_in_the_window_closes_both)
{
    handshake();
    seg(C, MOS_TCP_RST, CISN + 1, 0, NULL);
    /* RFC 793: an acceptable RST: the sender and the receiver are CLOSED (0) */
    expect("TCP_STATE_CHANGE/C/s=0 PKT_IN/C/s=0", "TCP_STATE_CHANGE/S/r=0 PKT_IN/S/r=0");
    cr_assert(rst_accepted);
    cr_assert_eq(ctx.ctr.rst_out_of_window, 0);
}

Test(tcp_stream, each_occurrence_counted_once_whatever_is_wanted)
{
    handshake();
    /* 3 packets: PKT_IN 3 times (not 6: the HK_RCV half is the same
     * occurrence); state changes: C and S on the SYN, C on the SYN/ACK, S on
     * the ACK */
    cr_assert_eq(evc[MOS_ON_PKT_IN], 3);
    cr_assert_eq(evc[MOS_ON_TCP_STATE_CHANGE], 4);
    seg(C, MOS_TCP_ACK, CISN + 1, SISN + 1, "GET /");
    seg(C, MOS_TCP_ACK, CISN + 1, SISN + 1, "PUT /");
    cr_assert_eq(evc[MOS_ON_REXMIT], 1);
    cr_assert_eq(evc[MOS_ON_REXMIT_INCONSISTENT], 1);
    cr_assert_eq(evc[MOS_ON_CONN_NEW_DATA], 1); /* one occurrence, two hooks */
}

Test(tcp_stream, only_wanted_pairs_are_reported)
{
    handshake();
    struct mos_pkt p = sb_pkt(&f, C, MOS_TCP_ACK, CISN + 1, SISN + 1, 65535, 0);
    p.payload = (const uint8_t *)"GET /";
    p.payload_len = p.payload_wire_len = 5;
    struct tcp_seg s = {.pkt = &p, .payload = p.payload, .len = 5, .sender = C, .receiver = S};
    struct sink k1, k2;
    sink_init(&k1);
    sink_init(&k2);
    struct mos_tree rcv_pkt_in = {.mask = 1u << MOS_ON_PKT_IN}, none_data = {.mask = 1u << MOS_ON_CONN_NEW_DATA};
    f.tree[MOS_HK_SND] = NULL;             /* nobody at HK_SND */
    f.tree[MOS_HK_RCV] = &rcv_pkt_in;      /* HK_RCV: PKT_IN only */
    f.tree[MOS_HK_NONE] = &none_data;      /* HK_NONE: NEW_DATA only */
    tcp_stream_send(&f, &s, &k1.o);
    tcp_stream_recv(&f, &s, &ctx.pool, &k2.o);
    render(&k1, snd, sizeof(snd));
    render(&k2, rcv, sizeof(rcv));
    expect("", "CONN_NEW_DATA/S/n=5 PKT_IN/S/r=0");

    /* a side that stopped being monitored (MOS_STOP_MON) gets nothing, nor
     * does a muted flow */
    for (int h = 0; h < MOS_HK_COUNT; h++)
        f.tree[h] = &all;
    f.stop_mon = 1u << S;
    sink_init(&k1);
    sink_init(&k2);
    s.payload = p.payload = (const uint8_t *)"HTTP/";
    tcp_stream_send(&f, &s, &k1.o);
    tcp_stream_recv(&f, &s, &ctx.pool, &k2.o);
    render(&k1, snd, sizeof(snd));
    render(&k2, rcv, sizeof(rcv));
    expect("PKT_IN/C/s=0 REXMIT/C/s=0 REXMIT_INCONSISTENT/C/s=0", "");
    f.stop_mon = 0;
    sink_init(&k1);
    k1.o.mute = true;
    tcp_stream_send(&f, &s, &k1.o);
    cr_assert_eq(k1.n, 0);
    cr_assert_eq(evc[MOS_ON_PKT_IN], 6); /* counted though nobody listened */
    cr_assert_str_eq(unread(S), "GET /");
}
