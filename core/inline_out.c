/*
 * inline_out.c - what leaves the core for a packet: the verdict (forward or
 * drop), the packet as handlers edited it, sequence remapping after
 * size-changing edits, and the RSTs of core_flow_reset.
 *
 * Design: a packet is forwarded from its frame untouched unless something
 * must change; the first change copies it into the core's txbuf
 * (c->owned) and every later edit works there. Size-changing payload edits
 * record a delta per direction (seq_remap, pkt_rewrite.h); every later
 * packet of the flow has its seq, ack and SACK blocks mapped so both
 * endpoints keep consistent sequence spaces.
 * Invariants: tracking never sees an edit (tcp_seg.payload is the sender's
 * bytes); each packet is counted in exactly one of pkts_forwarded,
 * pkts_dropped_handler, pkts_dropped_io when inline.
 */
#include <errno.h>

#include "engine_priv.h"

/* Outgoing sequence numbers after size-changing edits: the sender's seq
 * moves by its direction's edits; the ack was mapped back to the peer's own
 * space on receipt, which is the space the peer (its receiver) expects. */
static void remap_outgoing(struct mos_core *c)
{
    struct mos_flow *f = c->flow;
    if (!f || !f->remap || !c->have_pkt || c->pkt.proto != 6)
        return;
    struct mos_pkt *p = &c->pkt;
    uint32_t seq = seq_remap_seq(f->remap, c->sender, p->seq);
    uint32_t ack = p->ack;
    const uint8_t *t = p->l4;
    uint32_t wire_seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
    uint32_t wire_ack = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 | (uint32_t)t[10] << 8 | t[11];
    /* SACK blocks of this packet name the receiver's bytes as the sender saw
     * them on the wire: they go back to the receiver's space, like the ack */
    bool sack = (p->tcp_flags & MOS_TCP_ACK) && seq_remap_sack(f->remap, c->receiver, p, NULL);
    if (seq == wire_seq && ack == wire_ack && !sack)
        return;
    if (!c->owned) {
        if (pkt_rewrite_own(p, c->txbuf, c->frame->data, c->frame->caplen) < 0)
            return;
        c->owned = true;
        c->txlen = c->frame->caplen;
    }
    if (sack)
        seq_remap_sack(f->remap, c->receiver, p, c->txbuf + (p->l4 - p->frame));
    pkt_rewrite_set_seq_ack(p, c->txbuf, seq, ack);
    c->edited = true;
}

void out_verdict(struct mos_core *c)
{
    bool inline_mode = c->io && c->io->tx && c->cfg.npairs > 0 && c->frame && c->frame != c->injected;
    if (inline_mode && !c->drop)
        remap_outgoing(c);
    if (c->edited && !c->drop)
        c->ctr.pkts_rewritten++;
    if (inline_mode) {
        const uint8_t *data = c->owned ? c->txbuf : c->frame->data;
        uint32_t len = c->owned ? c->txlen : c->frame->caplen;
        if (c->drop) {
            c->ctr.pkts_dropped_handler++;
        } else if (c->io->tx(c->io, c->frame->port ^ 1, data, len) == 0) {
            c->ctr.pkts_forwarded++;
        } else {
            c->ctr.pkts_dropped_io++;
        }
    } else if (c->drop) {
        c->ctr.pkts_dropped_handler++;
    }
}

int core_pkt_rewrite(struct mos_core *c, int part, uint32_t off, uint32_t remove, const uint8_t *data, uint32_t len)
{
    if (!c->have_pkt || !c->frame)
        return MOS_E_NO_PACKET;
    struct mos_pkt *p = &c->pkt;
    if (!c->owned) {
        int rc = pkt_rewrite_own(p, c->txbuf, c->frame->data, c->frame->caplen);
        if (rc < 0)
            return rc;
        c->owned = true;
        c->txlen = c->frame->caplen;
    }
    uint32_t seq_end = p->seq + c->seg.len; /* sender space, before this edit */
    int32_t delta;
    int err = pkt_rewrite_edit(p, c->txbuf, &c->txlen, part, off, remove, data, len, &delta);
    if (err < 0)
        return err;
    if (delta != 0 && c->flow && p->proto == 6) {
        int rc = seq_remap_add(&c->flow->remap, c->sender, seq_end, delta);
        if (rc < 0)
            return rc;
    }
    c->edited = true;
    return 0;
}

void core_flow_drop(struct mos_core *c, struct mos_flow *f)
{
    (void)f;
    c->drop = true;
}

/* In inline mode, tell both endpoints: a RST to each, with the sequence
 * number the receiver expects next (RFC 5961 accepts only that one without
 * a challenge ACK), through the port that leads to it. */
void out_inject_resets(struct mos_core *c, struct mos_flow *f)
{
    if (!c->io || !c->io->tx || c->cfg.npairs == 0 || !c->have_pkt || c->flow != f || !c->frame)
        return;
    int S = c->sender, R = c->receiver;
    uint32_t s_next = seq_remap_seq(f->remap, S, f->ep[S].snd_nxt);
    uint32_t r_next = seq_remap_seq(f->remap, R, f->ep[R].snd_nxt);
    uint8_t rst[160];
    uint32_t n = pkt_build_rst(rst, &c->pkt, false, s_next, r_next);
    if (n && c->io->tx(c->io, c->frame->port ^ 1, rst, n) == 0)
        c->ctr.pkts_injected++;
    n = pkt_build_rst(rst, &c->pkt, true, r_next, s_next);
    if (n && c->io->tx(c->io, c->frame->port, rst, n) == 0)
        c->ctr.pkts_injected++;
    c->drop = true;
}
