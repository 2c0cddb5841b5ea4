/*
 * flow_life.c - a flow's life in the core: found or created for a packet
 * (socket chosen by SYN filter, TCP state set up), ended (close, reset,
 * idle timeout, eviction, port reuse, shutdown, host), and freed.
 *
 * Design: ending and freeing are two steps. flows_end() flushes both
 * streams and queues CONN_END at every hook; the flow stays allocated, in
 * c->ending, until the host has dispatched that batch (its handlers may
 * still read it), and is freed at the start of the next step. A packet for
 * a key whose flow is ending waits (*wait) until the old flow is freed, so
 * a new flow on reused ports never shares a slot with the old one.
 * Invariants: CONN_END is a flow's last event, raised once; flows_active
 * never exceeds max_concurrency (the slab keeps ENDING_MAX spare slots for
 * flows that ended but are not yet freed).
 */
#include <stdlib.h>

#include "engine_priv.h"
#include "tcp_state.h"

void flows_release(struct mos_core *c, struct mos_flow *f)
{
    for (int h = 0; h < MOS_HK_COUNT; h++) {
        if (f->tree[h])
            etree_release(c->trees, f->tree[h]);
        f->tree[h] = NULL;
    }
    tcp_reasm_free(&f->ep[0].rcv, &c->pool);
    tcp_reasm_free(&f->ep[1].rcv, &c->pool);
    free(f->syn_data);
    f->syn_data = NULL;
    seq_remap_free(f->remap);
    f->remap = NULL;
    if (c->matchers) /* their per-flow state ends with the flow */
        stream_match_flow_end(c->matchers, f, flow_table_slot(c->ft, f));
    flow_table_remove(c->ft, f);
}

void flows_free_ending(struct mos_core *c)
{
    while (c->ending) {
        struct mos_flow *f = c->ending;
        c->ending = f->end_next;
        flows_release(c, f);
    }
    c->nending = 0;
}

/* Queue the end of a flow: flush both streams (their last NEW_DATA and GAP
 * events), then CONN_END at every hook. The memory is freed after the host
 * has dispatched this batch. */
void flows_end(struct mos_core *c, struct mos_flow *f, int reason)
{
    if (f->ended)
        return;
    tcp_stream_flush(f, &c->pool, core_stream_out(c, f));
    int snd = f->last_sender, rcv = !f->last_sender;
    core_raise(c, f, MOS_ON_CONN_END, snd, CORE_HOOK(MOS_HK_SND), reason);
    core_raise_again(c, f, MOS_ON_CONN_END, rcv, CORE_HOOK(MOS_HK_RCV) | CORE_HOOK(MOS_HK_NONE), reason);
    f->ended = true;
    f->end_reason = (uint8_t)reason;
    c->ctr.flows_ended++;
    if (c->ctr.flows_active)
        c->ctr.flows_active--;
    f->end_next = c->ending;
    c->ending = f;
    c->nending++;
}

/* End a flow whose idle timeout has passed: a closed one ended normally,
 * one reset earlier keeps its reason, any other timed out. */
static void end_idle(struct mos_core *c, struct mos_flow *f)
{
    int reason = f->end_reason ? f->end_reason : tcp_state_closed(f) ? FLOW_END_CLOSE : FLOW_END_TIMEOUT;
    if (reason == FLOW_END_TIMEOUT)
        c->ctr.flows_timeout++;
    flows_end(c, f, reason);
}


static void evict_one(struct mos_core *c)
{
    struct mos_flow *v = flow_table_victim(c->ft);
    if (!v)
        return;
    switch (v->tclass) {
    case TCLASS_SYN: c->ctr.flows_evicted_halfopen++; break;
    case TCLASS_ESTABLISHED: c->ctr.flows_evicted_established++; break;
    default: c->ctr.flows_evicted_idle++; break;
    }
    flows_end(c, v, FLOW_END_EVICTED);
}

static struct mos_flow *flow_create(struct mos_core *c, const struct mos_flow_key *k, uint32_t hash)
{
    if (c->ctr.flows_active >= c->cfg.max_concurrency)
        evict_one(c);
    struct mos_flow *f = NULL;
    if (c->ctr.flows_active < c->cfg.max_concurrency)
        f = flow_table_insert(c->ft, k, hash, c->now);
    if (!f) {
        c->ctr.drop_flow_table_full++;
        return NULL;
    }
    /* core in bits 46..51: ids stay below 2^53, exact as Lua numbers
     * (scripts key per-flow tables by tonumber(flow.id)) */
    f->id = ((uint64_t)c->id << 46) | c->next_flow_id++;
    f->core = (uint8_t)c->id;
    f->first_ts = f->last_ts = c->pkt.ts_ns;
    struct mos_socket *so = sockets_pick(c, &c->pkt);
    f->sock = so;
    if (so) {
        for (int h = 0; h < MOS_HK_COUNT; h++) {
            etree_ref(so->tree[h]);
            f->tree[h] = so->tree[h];
        }
    }
    c->ctr.flows_created++;
    c->ctr.flows_active++;
    if (c->ctr.flows_active > c->ctr.flows_peak)
        c->ctr.flows_peak = c->ctr.flows_active;
    return f;
}

static bool is_port_reuse(const struct mos_flow *f, const struct mos_pkt *p)
{
    if ((p->tcp_flags & (MOS_TCP_SYN | MOS_TCP_ACK | MOS_TCP_RST)) != MOS_TCP_SYN)
        return false;
    if (!tcp_state_closed(f))
        return false;
    /* A retransmission of the flow's own SYN is not a new connection. */
    const struct mos_endpoint *cli = &f->ep[MOS_SIDE_CLI];
    return !(cli->isn_set && cli->isn == p->seq);
}

/* Find or create the flow of the current TCP packet. Returns the flow, or
 * NULL (orphan / no room): then the packet is done. *wait is set when a
 * previous flow on the same key was ended and must be dispatched first. */
struct mos_flow *flows_lookup(struct mos_core *c, bool *wait)
{
    struct mos_flow_key k;
    int dir = mos_flow_key_from_pkt(&c->pkt, &k);
    core_key_policy(c, &k);
    uint32_t h = flow_table_hash(&k);
    struct mos_flow *f = flow_table_lookup(c->ft, &k, h);
    if (f && !f->ended && flow_table_idle_expired(c->ft, f, c->now)) {
        /* overdue but not yet reached by expire_flows (same tick as a
         * younger head): it ends before this packet, as if reached */
        end_idle(c, f);
    }
    if (f && f->ended) {
        *wait = true; /* freed at the next step, then looked up again */
        return NULL;
    }
    if (f && is_port_reuse(f, &c->pkt)) {
        c->ctr.flows_port_reuse++;
        flows_end(c, f, FLOW_END_PORT_REUSE);
        *wait = true;
        return NULL;
    }
    if (!f) {
        uint8_t fl = c->pkt.tcp_flags;
        bool syn = fl & MOS_TCP_SYN;
        if (fl & MOS_TCP_RST || (!syn && !c->cfg.midstream)) {
            sockets_raise_orphan(c);
            return NULL;
        }
        f = flow_create(c, &k, h);
        if (!f)
            return NULL;
        struct tcp_state_params prm = {
            .rcvbuf = c->cfg.rcvbuf,
            .ooo_window = c->cfg.ooo_window,
            .overlap = c->cfg.overlap,
            .reassembly = {c->cfg.reassembly_client, c->cfg.reassembly_server},
        };
        tcp_state_init_ex(f, dir, &c->pkt, &prm);
        if (f->handshake == MOS_HS_NONE)
            c->ctr.flows_midstream++;
        for (int s = 0; s < 2; s++) {
            f->ep[s].rcv.enabled = s == MOS_SIDE_CLI ? c->cfg.reassembly_client : c->cfg.reassembly_server;
            f->ep[s].rcv.overlap = (uint8_t)c->cfg.overlap;
        }
        f->last_sender = (uint8_t)flow_sender_side(f, dir);
        c->new_flow = true; /* CONN_START is raised (and counted) at HK_SND */
    }
    c->sender = flow_sender_side(f, dir);
    c->receiver = !c->sender;
    c->seg.sender = c->sender;
    c->seg.receiver = c->receiver;
    if (f->remap && (c->pkt.tcp_flags & MOS_TCP_ACK))
        c->pkt.ack = seq_remap_ack(f->remap, c->receiver, c->pkt.ack); /* back to the peer's own space */
    return f;
}

/* End flows whose idle timeout passed, while the event queue and the
 * ending list have room (the rest wait for the next step). */
void flows_expire(struct mos_core *c)
{
    struct mos_flow *f;
    while (c->nending < ENDING_MAX / 2 && c->nev < EVQ_BATCH / 2 && (f = flow_table_expired(c->ft, c->now))) {
        if (f->ended)
            break; /* already ending, freed at the next step */
        end_idle(c, f);
    }
}

/* End the next batch of flows, resuming at c->shutdown_slot (no flow is
 * created during shutdown, so slots behind the cursor hold none that is
 * still live); one pass over the slab in total instead of one per batch. */
void flows_end_some(struct mos_core *c)
{
    struct mos_flow *f;
    while (c->nending < ENDING_MAX && c->nev < EVQ_BATCH - 16 && (f = flow_table_next(c->ft, &c->shutdown_slot)))
        if (!f->ended)
            flows_end(c, f, FLOW_END_SHUTDOWN);
}
