/*
 * test_tcp_state.c - dual-side RFC 793 state inference. Each test replays a
 * handful of hand-written segments (client 10.0.0.1:40000 = key end 0,
 * server 10.0.0.2:80) in the engine's order: on_send for the sender, then
 * on_recv for the receiver, and checks both endpoints against the states
 * RFC 793 gives for that exchange.
 */
#include <criterion/criterion.h>

#include "config.h"
#include "segbuild.h"
#include "tcp_state.h"

#define C MOS_SIDE_CLI
#define S MOS_SIDE_SVR
#define CISN 100u
#define SISN 500u

static struct mos_flow f;
static bool chs, chr; /* did the sender / receiver change on the last packet */

/* Side == key end in these tests (the client is key end 0). */
static void step(int from, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    struct mos_pkt p = sb_pkt(&f, from, flags, seq, ack, 1000, len);
    chs = tcp_state_on_send(&f, from, &p);
    chr = tcp_state_on_recv(&f, 1 - from, &p);
}

static void start(int from, uint8_t flags, uint32_t seq, uint32_t ack)
{
    sb_flow_key(&f, 40000, 80);
    struct mos_pkt p = sb_pkt(&f, from, flags, seq, ack, 1000, 0);
    tcp_state_init(&f, from, &p);
    step(from, flags, seq, ack, 0);
}

static void st(int cli, int svr)
{
    cr_assert_eq(f.ep[C].state, cli, "client %s, expected %s", mos_tcp_state_name(f.ep[C].state),
                 mos_tcp_state_name(cli));
    cr_assert_eq(f.ep[S].state, svr, "server %s, expected %s", mos_tcp_state_name(f.ep[S].state),
                 mos_tcp_state_name(svr));
}

static void handshake(void)
{
    start(C, MOS_TCP_SYN, CISN, 0);
    step(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, 0);
    step(C, MOS_TCP_ACK, CISN + 1, SISN + 1, 0);
}

static void teardown(void)
{
    tcp_reasm_free(&f.ep[0].rcv, &(struct reasm_pool){0});
    tcp_reasm_free(&f.ep[1].rcv, &(struct reasm_pool){0});
}
TestSuite(tcp_state, .fini = teardown);

Test(tcp_state, three_way_open)
{
    start(C, MOS_TCP_SYN, CISN, 0);
    cr_assert_eq(f.cli_end, 0);
    cr_assert_eq(f.handshake, MOS_HS_3WAY);
    st(MOS_TCP_SYN_SENT, MOS_TCP_SYN_RCVD);
    cr_assert(chs && chr);
    cr_assert(f.ep[C].isn_set);
    cr_assert_eq(f.ep[C].isn, CISN);
    cr_assert_eq(f.ep[S].rcv.base_seq, CISN + 1); /* the server receives the client's bytes */
    step(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, 0);
    st(MOS_TCP_ESTABLISHED, MOS_TCP_SYN_RCVD);
    cr_assert(!chs && chr);
    cr_assert_eq(f.ep[C].rcv.base_seq, SISN + 1);
    step(C, MOS_TCP_ACK, CISN + 1, SISN + 1, 0);
    st(MOS_TCP_ESTABLISHED, MOS_TCP_ESTABLISHED);
    cr_assert(!chs && chr);
    cr_assert_not(tcp_state_closed(&f));
}

Test(tcp_state, client_ack_without_seen_synack)
{
    start(C, MOS_TCP_SYN, CISN, 0);
    step(C, MOS_TCP_ACK, CISN + 1, SISN + 1, 0); /* the SYN/ACK never reached the capture */
    st(MOS_TCP_ESTABLISHED, MOS_TCP_ESTABLISHED);
    cr_assert_eq(f.ep[S].isn, SISN);
    cr_assert_eq(f.ep[C].rcv.base_seq, SISN + 1);
}

Test(tcp_state, syn_retransmissions)
{
    start(C, MOS_TCP_SYN, CISN, 0);
    step(C, MOS_TCP_SYN, CISN, 0, 0);
    cr_assert(!chs && !chr);
    st(MOS_TCP_SYN_SENT, MOS_TCP_SYN_RCVD);
    step(C, MOS_TCP_SYN, CISN + 1000, 0, 0); /* a new ISN before any SYN/ACK */
    cr_assert(!chs && !chr);
    cr_assert_eq(f.ep[C].isn, CISN + 1000);
    cr_assert_eq(f.ep[S].rcv.base_seq, CISN + 1001);
    step(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1001, 0);
    step(C, MOS_TCP_SYN, CISN + 5000, 0, 0); /* stale SYN after the SYN/ACK: ignored */
    cr_assert_eq(f.ep[C].isn, CISN + 1000);
    st(MOS_TCP_ESTABLISHED, MOS_TCP_SYN_RCVD);
    step(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1001, 0); /* SYN/ACK retransmitted */
    cr_assert(!chs && !chr);
}

Test(tcp_state, simultaneous_open)
{
    start(C, MOS_TCP_SYN, CISN, 0);
    step(S, MOS_TCP_SYN, SISN, 0, 0); /* crossing SYN */
    cr_assert_eq(f.handshake, MOS_HS_SIMULTANEOUS);
    cr_assert(!chs && chr);
    st(MOS_TCP_SYN_RCVD, MOS_TCP_SYN_RCVD);
    cr_assert_eq(f.ep[C].rcv.base_seq, SISN + 1);
    step(C, MOS_TCP_SYN | MOS_TCP_ACK, CISN, SISN + 1, 0);
    st(MOS_TCP_SYN_RCVD, MOS_TCP_ESTABLISHED);
    step(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, 0);
    st(MOS_TCP_ESTABLISHED, MOS_TCP_ESTABLISHED);
}

Test(tcp_state, active_close_by_client)
{
    handshake();
    step(C, MOS_TCP_FIN | MOS_TCP_ACK, CISN + 1, SISN + 1, 10); /* 10 data bytes then FIN */
    st(MOS_TCP_FIN_WAIT_1, MOS_TCP_CLOSE_WAIT);
    cr_assert(f.ep[C].fin_sent);
    cr_assert_eq(f.ep[C].fin_seq, CISN + 11);
    step(S, MOS_TCP_ACK, SISN + 1, CISN + 11, 0); /* acks the data, not the FIN */
    st(MOS_TCP_FIN_WAIT_1, MOS_TCP_CLOSE_WAIT);
    step(S, MOS_TCP_ACK, SISN + 1, CISN + 12, 0);
    st(MOS_TCP_FIN_WAIT_2, MOS_TCP_CLOSE_WAIT);
    step(S, MOS_TCP_FIN | MOS_TCP_ACK, SISN + 1, CISN + 12, 0);
    st(MOS_TCP_TIME_WAIT, MOS_TCP_LAST_ACK);
    cr_assert(chs && chr);
    cr_assert_not(tcp_state_closed(&f));
    step(C, MOS_TCP_ACK, CISN + 12, SISN + 2, 0);
    st(MOS_TCP_TIME_WAIT, MOS_TCP_CLOSED);
    /* both done: the engine may treat a new SYN on this tuple as port reuse */
    cr_assert(tcp_state_closed(&f));
}

Test(tcp_state, fin_and_ack_in_one_segment)
{
    handshake();
    step(C, MOS_TCP_FIN | MOS_TCP_ACK, CISN + 1, SISN + 1, 0);
    step(S, MOS_TCP_FIN | MOS_TCP_ACK, SISN + 1, CISN + 2, 0); /* FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT */
    st(MOS_TCP_TIME_WAIT, MOS_TCP_LAST_ACK);
    step(C, MOS_TCP_FIN | MOS_TCP_ACK, CISN + 1, SISN + 2, 0); /* retransmitted FIN */
    st(MOS_TCP_TIME_WAIT, MOS_TCP_CLOSED);                      /* ...whose ACK closes LAST_ACK */
}

Test(tcp_state, simultaneous_close)
{
    handshake();
    step(C, MOS_TCP_FIN | MOS_TCP_ACK, CISN + 1, SISN + 1, 0);
    st(MOS_TCP_FIN_WAIT_1, MOS_TCP_CLOSE_WAIT);
    step(S, MOS_TCP_FIN | MOS_TCP_ACK, SISN + 1, CISN + 1, 0); /* does not ack the client's FIN */
    st(MOS_TCP_CLOSING, MOS_TCP_CLOSING);
    step(C, MOS_TCP_ACK, CISN + 2, SISN + 2, 0);
    st(MOS_TCP_CLOSING, MOS_TCP_TIME_WAIT);
    step(S, MOS_TCP_ACK, SISN + 2, CISN + 2, 0);
    st(MOS_TCP_TIME_WAIT, MOS_TCP_TIME_WAIT);
    cr_assert(tcp_state_closed(&f));
}

Test(tcp_state, rst_in_window)
{
    handshake();
    step(C, MOS_TCP_ACK, CISN + 1, SISN + 1, 100); /* client snd_nxt = CISN + 101 */
    struct mos_pkt p = sb_pkt(&f, C, MOS_TCP_RST, CISN + 101, 0, 0, 0);
    cr_assert(tcp_state_rst_acceptable(&f, S, &p));
    step(C, MOS_TCP_RST, CISN + 101, 0, 0);
    st(MOS_TCP_CLOSED, MOS_TCP_CLOSED);
    cr_assert(tcp_state_closed(&f));
}

Test(tcp_state, rst_inside_window_not_exact)
{
    handshake();
    /* the server last acked CISN+1 and advertised 1000 (no scaling) */
    struct mos_pkt p = sb_pkt(&f, C, MOS_TCP_RST, CISN + 1 + 999, 0, 0, 0);
    cr_assert(tcp_state_rst_acceptable(&f, S, &p));
    p = sb_pkt(&f, C, MOS_TCP_RST, CISN + 1 + 1000, 0, 0, 0);
    cr_assert_not(tcp_state_rst_acceptable(&f, S, &p));
}

Test(tcp_state, rst_out_of_window_ignored)
{
    handshake();
    struct mos_pkt p = sb_pkt(&f, C, MOS_TCP_RST, CISN + 1 + 5000, 0, 0, 0);
    cr_assert_not(tcp_state_rst_acceptable(&f, S, &p));
    step(C, MOS_TCP_RST, CISN + 1 + 5000, 0, 0);
    cr_assert(!chs && !chr);
    st(MOS_TCP_ESTABLISHED, MOS_TCP_ESTABLISHED);
    p = sb_pkt(&f, C, MOS_TCP_RST, CISN + 1, 0, 0, 0); /* sequence bookkeeping untouched */
    cr_assert(tcp_state_rst_acceptable(&f, S, &p));
}

Test(tcp_state, rst_answering_syn)
{
    start(C, MOS_TCP_SYN, CISN, 0);
    struct mos_pkt p = sb_pkt(&f, S, MOS_TCP_RST | MOS_TCP_ACK, 0, CISN + 7, 0, 0);
    cr_assert_not(tcp_state_rst_acceptable(&f, C, &p)); /* wrong ack */
    p = sb_pkt(&f, S, MOS_TCP_RST, 0, 0, 0, 0);
    cr_assert_not(tcp_state_rst_acceptable(&f, C, &p)); /* no ack at all */
    step(S, MOS_TCP_RST | MOS_TCP_ACK, 0, CISN + 1, 0);
    st(MOS_TCP_CLOSED, MOS_TCP_CLOSED);
    cr_assert(tcp_state_closed(&f));
}

Test(tcp_state, rst_before_data_exact_seq)
{
    start(C, MOS_TCP_SYN, CISN, 0);
    step(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, 0);
    step(C, MOS_TCP_RST, CISN + 1, 0, 0); /* client aborts the handshake */
    st(MOS_TCP_CLOSED, MOS_TCP_CLOSED);
}

Test(tcp_state, window_scale_needs_both)
{
    sb_flow_key(&f, 40000, 80);
    struct mos_pkt p = sb_pkt(&f, C, MOS_TCP_SYN, CISN, 0, 1000, 0);
    p.wscale = 7;
    tcp_state_init(&f, C, &p);
    tcp_state_on_send(&f, C, &p);
    tcp_state_on_recv(&f, S, &p);
    p = sb_pkt(&f, S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, 1000, 0);
    p.wscale = 2;
    tcp_state_on_send(&f, S, &p);
    tcp_state_on_recv(&f, C, &p);
    cr_assert_eq(f.ep[S].rcv_wnd, 1000); /* windows in SYNs are never scaled */
    step(C, MOS_TCP_ACK, CISN + 1, SISN + 1, 0);
    step(S, MOS_TCP_ACK, SISN + 1, CISN + 1, 0);
    cr_assert_eq(f.ep[C].rcv_wnd, 1000u << 7);
    cr_assert_eq(f.ep[S].rcv_wnd, 1000u << 2);
}

Test(tcp_state, window_scale_one_sided_ignored)
{
    sb_flow_key(&f, 40000, 80);
    struct mos_pkt p = sb_pkt(&f, C, MOS_TCP_SYN, CISN, 0, 1000, 0);
    p.wscale = 7;
    tcp_state_init(&f, C, &p);
    tcp_state_on_send(&f, C, &p);
    tcp_state_on_recv(&f, S, &p);
    step(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, 0); /* no wscale option */
    step(C, MOS_TCP_ACK, CISN + 1, SISN + 1, 0);
    cr_assert_eq(f.ep[C].rcv_wnd, 1000);
}

Test(tcp_state, synack_first)
{
    sb_flow_key(&f, 40000, 80);
    struct mos_pkt p = sb_pkt(&f, 1, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, 1000, 0);
    tcp_state_init(&f, 1, &p);
    cr_assert_eq(f.cli_end, 0); /* the receiver of the SYN/ACK is the client */
    cr_assert_eq(f.handshake, MOS_HS_3WAY);
    step(S, MOS_TCP_SYN | MOS_TCP_ACK, SISN, CISN + 1, 0);
    st(MOS_TCP_ESTABLISHED, MOS_TCP_SYN_RCVD);
    cr_assert_eq(f.ep[S].rcv.base_seq, CISN + 1);
    cr_assert_eq(f.ep[C].rcv.base_seq, SISN + 1);
    step(C, MOS_TCP_ACK, CISN + 1, SISN + 1, 0);
    st(MOS_TCP_ESTABLISHED, MOS_TCP_ESTABLISHED);
}

Test(tcp_state, syn_from_key_end_1_is_client)
{
    sb_flow_key(&f, 40000, 80);
    struct mos_pkt p = sb_pkt(&f, 1, MOS_TCP_SYN, CISN, 0, 1000, 0);
    tcp_state_init(&f, 1, &p);
    cr_assert_eq(f.cli_end, 1);
    cr_assert_eq(flow_sender_side(&f, 1), MOS_SIDE_CLI);
}

static void midstream_roles(uint16_t port0, uint16_t port1, int from, int expect_cli_end)
{
    sb_flow_key(&f, port0, port1);
    struct mos_pkt p = sb_pkt(&f, from, MOS_TCP_ACK, 7000, 9000, 1000, 10);
    tcp_state_init(&f, from, &p);
    cr_assert_eq(f.cli_end, expect_cli_end, "ports %u/%u from end %d", port0, port1, from);
    cr_assert_eq(f.handshake, MOS_HS_NONE);
    st(MOS_TCP_ESTABLISHED, MOS_TCP_ESTABLISHED);
    tcp_reasm_free(&f.ep[0].rcv, &(struct reasm_pool){0});
    tcp_reasm_free(&f.ep[1].rcv, &(struct reasm_pool){0});
}

Test(tcp_state, midstream_role_inference)
{
    midstream_roles(40000, 80, 0, 0);  /* well-known port 80 is the server */
    midstream_roles(40000, 80, 1, 0);  /* whichever side speaks first */
    midstream_roles(80, 40000, 0, 1);
    midstream_roles(50000, 8080, 0, 0); /* neither well known: the lower port serves */
    midstream_roles(8080, 50000, 1, 1);
    midstream_roles(443, 22, 0, 0);    /* both well known: the lower port serves */
}

Test(tcp_state, midstream_offsets_from_first_bytes)
{
    sb_flow_key(&f, 40000, 80);
    struct mos_pkt p = sb_pkt(&f, C, MOS_TCP_ACK, 7000, 9000, 1000, 10);
    tcp_state_init(&f, C, &p);
    step(C, MOS_TCP_ACK, 7000, 9000, 10);
    cr_assert(!chs && !chr);
    cr_assert_eq(f.ep[C].isn, 6999);
    cr_assert_eq(f.ep[S].rcv.base_seq, 7000); /* offset 0 = first client byte seen */
    cr_assert_not(f.ep[C].rcv.base_set);      /* nothing seen from the server yet */
    step(S, MOS_TCP_ACK, 9100, 7010, 5);      /* its first byte seen is 9100 */
    cr_assert_eq(f.ep[S].isn, 9099);
    cr_assert_eq(f.ep[C].rcv.base_seq, 9100);
    step(C, MOS_TCP_FIN | MOS_TCP_ACK, 7010, 9105, 0);
    st(MOS_TCP_FIN_WAIT_1, MOS_TCP_CLOSE_WAIT);
}

Test(tcp_state, init_ex_sets_reassembly)
{
    sb_flow_key(&f, 40000, 80);
    struct mos_pkt p = sb_pkt(&f, C, MOS_TCP_SYN, CISN, 0, 1000, 0);
    struct tcp_state_params prm = {.rcvbuf = 8192, .ooo_window = 4096, .overlap = MOS_OVERLAP_LAST,
                                   .reassembly = {false, true}};
    tcp_state_init_ex(&f, C, &p, &prm);
    cr_assert_not(f.ep[C].rcv.enabled);
    cr_assert(f.ep[S].rcv.enabled);
    cr_assert_eq(f.ep[S].rcv.buf.cap, 8192);
    cr_assert_eq(f.ep[S].rcv.ooo_window, 4096);
    cr_assert_eq(f.ep[S].rcv.overlap, MOS_OVERLAP_LAST);
    cr_assert_eq(f.ep[C].wscale, -1);
    cr_assert_eq(f.ep[S].wscale, -1);
}
