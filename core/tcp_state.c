/*
 * tcp_state.c - RFC 793 state inference for both endpoints of a flow.
 *
 * Design: the middlebox sits on the wire, so for a packet from S to R it
 * moves S as if S had just sent it, then R as if R had just received it.
 * Every transition is driven by what the packet proves:
 *  - a SYN proves its sender opened (ISN = seq); a SYN/ACK additionally
 *    proves its sender received a SYN;
 *  - an ACK proves the receiver's SYN or FIN arrived only when it covers
 *    isn+1 / fin_seq+1 (a FIN counts once it is acked);
 *  - a FIN whose ACK does not cover the peer's FIN proves the two FINs
 *    crossed (simultaneous close: CLOSING on both sides).
 * Simultaneous open as seen on the wire: A's SYN reaches B first, so B is
 * already SYN_RCVD when it sends its own bare SYN; B stays SYN_RCVD (it has
 * received and sent a SYN) and A goes SYN_SENT -> SYN_RCVD -> ESTABLISHED.
 * No transition ever goes back (except to CLOSED on an acceptable RST), so
 * retransmitted SYNs and FINs change nothing.
 *
 * Sequence comparisons are modulo 2^32 (seq_geq), as in TCP itself.
 */
#include "tcp_state.h"

#include <string.h>

#include "config.h"

/* Defaults when the engine does not pass settings (see config.h). */
#define DEF_RCVBUF (256u * 1024)
#define DEF_OOO_WINDOW (1024u * 1024)
/* Ports below this are well known: their owner is the server. */
#define WELL_KNOWN_PORTS 1024
/* Window scale shifts above 14 are treated as 14 (RFC 7323 2.3). */
#define MAX_WSCALE 14
/* Mid-stream pickup never saw the scale: assume Linux's usual shift (7) so a
 * valid RST is not refused because its window looked 128 times too small. */
#define MIDSTREAM_WSCALE 7

static inline bool seq_geq(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

static int key_dir(const struct mos_flow *f, const struct mos_pkt *p, int fallback)
{
    for (int end = 0; end < 2; end++)
        if (p->sport == f->key.port[end] && memcmp(p->src, f->key.addr[end], 16) == 0)
            return end;
    return fallback & 1;
}

/* Sequence space a segment occupies besides its SYN/FIN flags. */
static uint32_t seg_len(const struct mos_pkt *p)
{
    return p->payload_wire_len > p->payload_len ? p->payload_wire_len : p->payload_len;
}

static unsigned wshift(const struct mos_flow *f, int side)
{
    if (f->ep[0].wscale < 0 || f->ep[1].wscale < 0)
        return 0; /* only applied when both sides offered it */
    return f->ep[side].wscale > MAX_WSCALE ? MAX_WSCALE : (unsigned)f->ep[side].wscale;
}

void tcp_state_init_ex(struct mos_flow *f, int sender, const struct mos_pkt *p, const struct tcp_state_params *prm)
{
    int dir = key_dir(f, p, sender);
    uint8_t fl = p->tcp_flags;
    for (int s = 0; s < 2; s++) {
        struct mos_endpoint *e = &f->ep[s];
        memset(e, 0, sizeof(*e));
        e->wscale = -1;
        tcp_reasm_init(&e->rcv, prm->reassembly[s] ? prm->rcvbuf : 0, prm->ooo_window, prm->overlap);
    }
    struct mos_endpoint *cli = &f->ep[MOS_SIDE_CLI], *svr = &f->ep[MOS_SIDE_SVR];
    if ((fl & MOS_TCP_SYN) && !(fl & MOS_TCP_ACK)) {
        f->cli_end = (uint8_t)dir;
        f->handshake = MOS_HS_3WAY;
        cli->state = MOS_TCP_CLOSED;
        svr->state = MOS_TCP_LISTEN;
    } else if (fl & MOS_TCP_SYN) {
        /* SYN/ACK first: the client's SYN was missed; its ISN is ack - 1. */
        f->cli_end = (uint8_t)(1 - dir);
        f->handshake = MOS_HS_3WAY;
        cli->state = MOS_TCP_SYN_SENT;
        cli->isn = p->ack - 1;
        cli->isn_set = cli->syn_sent = true;
        cli->snd_nxt = p->ack;
        tcp_reasm_set_isn(&svr->rcv, cli->isn);
        svr->state = MOS_TCP_LISTEN;
    } else {
        bool swk = p->sport < WELL_KNOWN_PORTS, dwk = p->dport < WELL_KNOWN_PORTS;
        bool receiver_is_server = swk != dwk ? dwk : p->dport <= p->sport;
        f->cli_end = (uint8_t)(receiver_is_server ? dir : 1 - dir);
        f->handshake = MOS_HS_NONE;
        cli->state = svr->state = MOS_TCP_ESTABLISHED;
        /* ISNs are set lazily from the first segment of each side (on_send). */
    }
}

void tcp_state_init(struct mos_flow *f, int sender, const struct mos_pkt *p)
{
    const struct tcp_state_params d = {
        .rcvbuf = DEF_RCVBUF, .ooo_window = DEF_OOO_WINDOW, .overlap = MOS_OVERLAP_FIRST,
        .reassembly = {true, true}};
    tcp_state_init_ex(f, sender, p, &d);
}

bool tcp_state_rst_acceptable(const struct mos_flow *f, int receiver, const struct mos_pkt *p)
{
    if (!(p->tcp_flags & MOS_TCP_RST))
        return true;
    const struct mos_endpoint *e = &f->ep[receiver], *o = &f->ep[1 - receiver];
    /* Answer to our SYN: only the ACK matters (RFC 793 p.66). */
    if (e->state == MOS_TCP_SYN_SENT)
        return (p->tcp_flags & MOS_TCP_ACK) && e->isn_set && p->ack == e->isn + 1;
    /* The exact next sequence number of the sender is always fine. */
    if (o->isn_set && p->seq == o->snd_nxt)
        return true;
    if (!e->ack_set)
        return !o->isn_set; /* nothing known about the sender: cannot judge */
    uint64_t wnd = e->rcv_wnd;
    if (f->handshake == MOS_HS_NONE && e->wscale < 0)
        wnd <<= MIDSTREAM_WSCALE;
    uint32_t d = p->seq - e->last_ack; /* distance above the receiver's next expected byte */
    return d == 0 || d < wnd;
}

bool tcp_state_on_send(struct mos_flow *f, int sender, const struct mos_pkt *p)
{
    struct mos_endpoint *e = &f->ep[sender], *o = &f->ep[1 - sender];
    uint8_t fl = p->tcp_flags, old = e->state;
    bool syn = fl & MOS_TCP_SYN, ack = fl & MOS_TCP_ACK, fin = fl & MOS_TCP_FIN;

    if (fl & MOS_TCP_RST) {
        /* Sequence bookkeeping is left alone: an out-of-window RST proves nothing. */
        if (tcp_state_rst_acceptable(f, 1 - sender, p))
            e->state = MOS_TCP_CLOSED;
        return e->state != old;
    }

    bool had_isn = e->isn_set;
    if (syn) {
        bool first = !e->syn_sent;
        bool syn_acked = o->ack_set && e->isn_set && seq_geq(o->last_ack, e->isn + 1);
        /* A new ISN in a retransmitted SYN counts until the peer acks one. */
        if (first || (p->seq != e->isn && !syn_acked)) {
            e->isn = p->seq;
            e->isn_set = true;
            e->snd_nxt = p->seq;
            had_isn = false;
            tcp_reasm_set_isn(&o->rcv, p->seq);
        }
        e->syn_sent = true;
        if (p->wscale >= 0 || first)
            e->wscale = p->wscale;
        if (!ack) {
            if (e->state == MOS_TCP_CLOSED || e->state == MOS_TCP_LISTEN)
                e->state = MOS_TCP_SYN_SENT;
            else if (e->state == MOS_TCP_SYN_RCVD && first)
                f->handshake = MOS_HS_SIMULTANEOUS; /* it had received a SYN: stays SYN_RCVD */
        } else if (e->state == MOS_TCP_CLOSED || e->state == MOS_TCP_LISTEN || e->state == MOS_TCP_SYN_SENT) {
            e->state = MOS_TCP_SYN_RCVD; /* a SYN/ACK answers a SYN it received */
        }
    } else if (!e->isn_set) {
        /* Mid-stream: offset 0 is the first byte seen from this side. */
        e->isn = p->seq - 1;
        e->isn_set = true;
        e->snd_nxt = p->seq;
        had_isn = false;
        if (!o->rcv.base_set)
            tcp_reasm_set_isn(&o->rcv, e->isn);
    }

    if (ack) {
        e->last_ack = p->ack;
        e->ack_set = true;
        if (seq_gt(p->ack, o->snd_una) || !o->snd_una)
            o->snd_una = p->ack;
        if (!syn && (e->state == MOS_TCP_SYN_SENT || e->state == MOS_TCP_SYN_RCVD)) {
            /* Sending a plain ACK proves the handshake completed on this side
             * (the SYN/ACK or the final ACK may be missing from the capture). */
            if (!o->isn_set) {
                o->isn = p->ack - 1;
                o->isn_set = o->syn_sent = true;
                o->snd_nxt = p->ack;
                tcp_reasm_set_isn(&e->rcv, o->isn);
            }
            e->state = MOS_TCP_ESTABLISHED;
        }
    }
    e->rcv_wnd = syn ? p->win : (uint32_t)p->win << wshift(f, sender);

    uint32_t end = p->seq + (syn ? 1u : 0u) + seg_len(p);
    if (fin) {
        if (!e->fin_sent) {
            e->fin_sent = true;
            e->fin_seq = end;
            bool peer_fin_acked = ack && o->fin_sent && seq_geq(p->ack, o->fin_seq + 1);
            switch (e->state) {
            case MOS_TCP_ESTABLISHED:
            case MOS_TCP_SYN_RCVD: e->state = MOS_TCP_FIN_WAIT_1; break;
            case MOS_TCP_CLOSE_WAIT:
                /* Not acking the peer's FIN: ours was sent before theirs arrived. */
                e->state = peer_fin_acked ? MOS_TCP_LAST_ACK : MOS_TCP_CLOSING;
                break;
            default: break;
            }
        }
        end++;
    }
    if (!had_isn || seq_gt(end, e->snd_nxt))
        e->snd_nxt = end;
    return e->state != old;
}

bool tcp_state_on_recv(struct mos_flow *f, int receiver, const struct mos_pkt *p)
{
    struct mos_endpoint *e = &f->ep[receiver];
    uint8_t fl = p->tcp_flags, old = e->state;
    bool syn = fl & MOS_TCP_SYN, ack = fl & MOS_TCP_ACK;

    if (fl & MOS_TCP_RST) {
        if (tcp_state_rst_acceptable(f, receiver, p))
            e->state = MOS_TCP_CLOSED;
        return e->state != old;
    }
    if (ack) {
        bool acks_syn = e->syn_sent && seq_geq(p->ack, e->isn + 1);
        bool acks_fin = e->fin_sent && seq_geq(p->ack, e->fin_seq + 1);
        switch (e->state) {
        case MOS_TCP_SYN_SENT:
            if (syn && acks_syn)
                e->state = MOS_TCP_ESTABLISHED;
            break;
        case MOS_TCP_SYN_RCVD:
            if (acks_syn)
                e->state = MOS_TCP_ESTABLISHED;
            break;
        case MOS_TCP_FIN_WAIT_1:
            if (acks_fin)
                e->state = MOS_TCP_FIN_WAIT_2;
            break;
        case MOS_TCP_CLOSING:
            if (acks_fin)
                e->state = MOS_TCP_TIME_WAIT;
            break;
        case MOS_TCP_LAST_ACK:
            if (acks_fin)
                e->state = MOS_TCP_CLOSED;
            break;
        default: break;
        }
    }
    if (syn && !ack) {
        if (e->state == MOS_TCP_LISTEN) {
            e->state = MOS_TCP_SYN_RCVD;
        } else if (e->state == MOS_TCP_SYN_SENT) {
            e->state = MOS_TCP_SYN_RCVD; /* crossing SYNs */
            f->handshake = MOS_HS_SIMULTANEOUS;
        }
    }
    if (fl & MOS_TCP_FIN) {
        switch (e->state) {
        case MOS_TCP_ESTABLISHED:
        case MOS_TCP_SYN_RCVD: e->state = MOS_TCP_CLOSE_WAIT; break;
        case MOS_TCP_FIN_WAIT_1: e->state = MOS_TCP_CLOSING; break;
        case MOS_TCP_FIN_WAIT_2: e->state = MOS_TCP_TIME_WAIT; break;
        default: break; /* already had it: a retransmitted FIN */
        }
    }
    return e->state != old;
}

bool tcp_state_closed(const struct mos_flow *f)
{
    for (int s = 0; s < 2; s++)
        if (f->ep[s].state != MOS_TCP_CLOSED && f->ep[s].state != MOS_TCP_TIME_WAIT)
            return false;
    return true;
}
