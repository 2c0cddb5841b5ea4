/*
 * tcp_state.h - dual-side inference of RFC 793 states.
 *
 * The middlebox sees each packet once, on the wire between the endpoints. For
 * a packet from S to R it first updates S's state as if S had just sent it
 * (tcp_state_on_send), then R's as if R had just received it
 * (tcp_state_on_recv), as mOS does. Each returns true when that endpoint's
 * state changed (a TCP_STATE_CHANGE event).
 *
 * Call order per TCP packet from S to R (core/tcp_stream.c owns it):
 *   tcp_state_on_send(f, S, p)          - also sets ISNs / reasm bases, FIN seq
 *   tcp_reasm_classify(&f->ep[R].rcv, ...)
 *   tcp_state_rst_acceptable(f, R, p)   - only to count rst_out_of_window;
 *                                         on_send/on_recv check it themselves
 *   tcp_state_on_recv(f, R, p)
 *   tcp_reasm_insert(&f->ep[R].rcv, ...) - may be given every payload segment:
 *                                          it counts and skips keep-alives and
 *                                          out-of-window ones itself
 *   tcp_reasm_ack(&f->ep[S].rcv, ..., ack clamped to R's fin_seq)
 * tcp_state_* never counts pkts/bytes (tcp_stream.c does) and never touches
 * SYN payload (tcp_stream.c keeps it until the SYN/ACK settles it).
 */
#ifndef MOS_TCP_STATE_H
#define MOS_TCP_STATE_H

#include <stdbool.h>

#include "flow.h"

/* Set up a new flow from its first packet (sender side `side`). handshake
 * and states follow from the flags: a SYN makes a 3-way candidate, anything
 * else a mid-stream pickup (both ESTABLISHED, handshake "none"). */
void tcp_state_init(struct mos_flow *f, int sender, const struct mos_pkt *p);
/* Reassembly settings for the two receive streams set up by tcp_state_init_ex
 * (tcp_state_init uses 256 KiB / 1 MiB / first-wins / both enabled). */
struct tcp_state_params {
    uint32_t rcvbuf;        /* per-side ring size */
    uint32_t ooo_window;    /* out-of-order bytes held per side */
    int overlap;            /* enum mos_overlap_policy */
    bool reassembly[2];     /* [MOS_SIDE_CLI]: store what the client receives */
};
/* `sender` is the key direction of p (0: p's source is key end 0); it is
 * only used when p's source matches neither key end. Sets f->cli_end. */
void tcp_state_init_ex(struct mos_flow *f, int sender, const struct mos_pkt *p,
                       const struct tcp_state_params *prm);
bool tcp_state_on_send(struct mos_flow *f, int sender, const struct mos_pkt *p);
bool tcp_state_on_recv(struct mos_flow *f, int receiver, const struct mos_pkt *p);
/* RST acceptance: the RST's sequence is within the receiver's window
 * (RFC 793 / 5961 spirit). */
bool tcp_state_rst_acceptable(const struct mos_flow *f, int receiver, const struct mos_pkt *p);
/* Both ends are done (CLOSED / TIME_WAIT): the flow can end after the
 * TIME_WAIT timeout. */
bool tcp_state_closed(const struct mos_flow *f);

#endif
