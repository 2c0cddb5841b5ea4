/*
 * tcp_stream.c - one TCP segment through both endpoints of its flow.
 *
 * Design: the engine decides *when* (packet order, dispatch points, flow
 * lifecycle); this file decides *what* a segment does to the two endpoints,
 * in the order mOS prescribes (sender update, then receiver update) and
 * tcp_state.h documents. It reports what happened as events appended to a
 * tcp_stream_out, in queue order, and counts them; it knows nothing of
 * sockets, trees or the queue, so it can be driven and checked on its own
 * (tests/unit/test_tcp_stream.c).
 *
 * Invariants:
 * - The payload tracked is the one the sender sent (tcp_seg.payload), never
 *   a handler's edit of the packet.
 * - An occurrence split over both halves (PKT_IN, REXMIT,
 *   REXMIT_INCONSISTENT) appears once with again = false (at HK_SND) and
 *   once with again = true (at HK_RCV), so it is counted once.
 * - GAP is reported only when the receiving direction's gap count grew, with
 *   the number of gaps skipped; NEW_DATA with the bytes that became readable.
 */
#include "tcp_stream.h"

#include <stdlib.h>
#include <string.h>

#include "mos_types.h"
#include "tcp_state.h"

enum { SND = 1u << MOS_HK_SND, RCV = 1u << MOS_HK_RCV, NONE = 1u << MOS_HK_NONE };

/* Raise an occurrence: count it (unless `again`: its other half was
 * counted), and queue it at each hook of `hooks` where someone listens.
 * Inlined with constant event and hooks, this is a few tests per event. */
static inline void emit(struct tcp_stream_out *o, struct mos_flow *f, int event, int side, unsigned hooks, bool again,
                        uint64_t arg)
{
    if (!again)
        o->ev_ctr[event]++;
    if (o->mute || (f->stop_mon & (1u << side)))
        return;
    for (int h = 0; h < MOS_HK_COUNT; h++) {
        const struct mos_tree *t = f->tree[h];
        if (!(hooks & (1u << h)) || !t || !(t->mask & (1u << event)))
            continue;
        if (*o->n >= o->cap) {
            (*o->lost)++; /* the caller made room for the worst case: only when memory ran out */
            return;
        }
        o->q[(*o->n)++] = (struct mos_event){.flow = f, .event = event, .side = (uint8_t)side, .hook = (uint8_t)h,
                                             .sock = o->sock, .arg = arg};
    }
}

/* Sender-side update and classification (read-only for the receiver). */
void tcp_stream_send(struct mos_flow *f, struct tcp_seg *s, struct tcp_stream_out *out)
{
    const struct mos_pkt *p = s->pkt;
    int S = s->sender, R = s->receiver;
    f->last_ts = p->ts_ns;
    f->last_sender = (uint8_t)S;
    f->ep[S].pkts++;
    f->ep[S].bytes += p->payload_len;
    if (tcp_state_on_send(f, S, p))
        emit(out, f, MOS_ON_TCP_STATE_CHANGE, S, SND, false, f->ep[S].state);
    emit(out, f, MOS_ON_PKT_IN, S, SND, false, 0);

    s->has_payload = s->len > 0 && !(p->tcp_flags & MOS_TCP_SYN);
    memset(&s->cls, 0, sizeof(s->cls));
    struct tcp_reasm *r = &f->ep[R].rcv;
    if (!s->has_payload && r->base_set && !(p->tcp_flags & (MOS_TCP_SYN | MOS_TCP_FIN | MOS_TCP_RST)))
        tcp_reasm_classify(r, p->seq, NULL, 0, &s->cls); /* a zero-length keep-alive? */
    if (s->has_payload) {
        if (!r->base_set)
            tcp_reasm_set_isn(r, p->seq - 1); /* first bytes seen from this side: offset 0 */
        tcp_reasm_classify(r, p->seq, s->payload, s->len, &s->cls);
        if (s->cls.rexmit && !s->cls.keepalive) {
            emit(out, f, MOS_ON_REXMIT, S, SND, false, 0);
            if (s->cls.inconsistent)
                emit(out, f, MOS_ON_REXMIT_INCONSISTENT, S, SND, false, 0);
        }
    }
}

/* What applying bytes to one side's buffer did, as events. */
static void deliver(struct tcp_stream_out *out, struct mos_flow *f, int side, const struct reasm_result *res,
                    uint32_t gaps_before)
{
    if (f->ep[side].rcv.ngaps_total > gaps_before)
        emit(out, f, MOS_ON_GAP, side, RCV | NONE, false, res->gaps);
    if (res->new_bytes)
        emit(out, f, MOS_ON_CONN_NEW_DATA, side, RCV | NONE, false, res->new_bytes);
    if (res->error)
        emit(out, f, MOS_ON_ERROR, side, NONE, false, (uint64_t)res->error);
}

static void insert(struct tcp_stream_out *out, struct mos_flow *f, int side, struct reasm_pool *pool, uint32_t seq,
                   const uint8_t *data, uint32_t len)
{
    struct reasm_result res = {0};
    uint32_t g = f->ep[side].rcv.ngaps_total;
    tcp_reasm_insert(&f->ep[side].rcv, pool, seq, data, len, &res);
    deliver(out, f, side, &res, g);
}

/* Data on the client's SYN waits for the SYN/ACK: accepted only if acked. */
static void settle_syn_data(struct tcp_stream_out *out, struct mos_flow *f, const struct tcp_seg *s,
                            struct reasm_pool *pool)
{
    const struct mos_pkt *p = s->pkt;
    if (!f->syn_data || s->sender != MOS_SIDE_SVR || !(p->tcp_flags & MOS_TCP_ACK))
        return;
    struct mos_endpoint *cli = &f->ep[MOS_SIDE_CLI];
    uint32_t data_end = cli->isn + 1 + f->syn_data_len;
    if ((int32_t)(p->ack - data_end) >= 0)
        insert(out, f, MOS_SIDE_SVR, pool, cli->isn + 1, f->syn_data, f->syn_data_len);
    else
        pool->ctr->reasm_syn_data_unacked++;
    free(f->syn_data);
    f->syn_data = NULL;
    f->syn_data_len = 0;
}

void tcp_stream_recv(struct mos_flow *f, struct tcp_seg *s, struct reasm_pool *pool, struct tcp_stream_out *out)
{
    const struct mos_pkt *p = s->pkt;
    int S = s->sender, R = s->receiver;
    bool rst = p->tcp_flags & MOS_TCP_RST;
    bool accept = true;
    if (rst && !tcp_state_rst_acceptable(f, R, p)) {
        pool->ctr->rst_out_of_window++;
        accept = false;
    }
    if (accept && tcp_state_on_recv(f, R, p))
        emit(out, f, MOS_ON_TCP_STATE_CHANGE, R, RCV, false, f->ep[R].state);
    if (s->cls.rexmit && !s->cls.keepalive) {
        emit(out, f, MOS_ON_REXMIT, R, RCV, true, 0);
        if (s->cls.inconsistent)
            emit(out, f, MOS_ON_REXMIT_INCONSISTENT, R, RCV, true, 0);
    }

    /* SYN payload (TCP Fast Open): kept aside until the SYN/ACK. */
    if ((p->tcp_flags & MOS_TCP_SYN) && s->len && S == MOS_SIDE_CLI && !(p->tcp_flags & MOS_TCP_ACK) &&
        !f->syn_data) {
        f->syn_data = malloc(s->len);
        if (f->syn_data) {
            memcpy(f->syn_data, s->payload, s->len);
            f->syn_data_len = s->len;
        }
    }
    settle_syn_data(out, f, s, pool);

    if (s->has_payload && !s->cls.keepalive && !s->cls.out_of_window && accept)
        insert(out, f, R, pool, p->seq, s->payload, s->len);
    if (s->cls.keepalive)
        pool->ctr->reasm_keepalive++;
    if (s->cls.out_of_window)
        pool->ctr->reasm_out_of_window++;
    /* S acknowledges what S received: holes before the ack will not be filled. */
    if ((p->tcp_flags & MOS_TCP_ACK) && !rst && f->ep[S].rcv.base_set) {
        uint32_t ack = p->ack;
        const struct mos_endpoint *peer = &f->ep[R];
        if (peer->fin_sent && (int32_t)(ack - peer->fin_seq) > 0)
            ack = peer->fin_seq; /* the FIN's sequence number is not a data byte */
        struct reasm_result res = {0};
        uint32_t g = f->ep[S].rcv.ngaps_total;
        tcp_reasm_ack(&f->ep[S].rcv, pool, ack, &res);
        deliver(out, f, S, &res, g);
    }
    emit(out, f, MOS_ON_PKT_IN, R, RCV, true, 0);
    s->rst_accepted = rst && accept;
}

void tcp_stream_flush(struct mos_flow *f, struct reasm_pool *pool, struct tcp_stream_out *out)
{
    for (int side = 0; side < 2; side++) {
        struct reasm_result res = {0};
        uint64_t before_gaps = f->ep[side].rcv.ngaps_total;
        tcp_reasm_flush(&f->ep[side].rcv, pool, &res);
        if (f->ep[side].rcv.ngaps_total > before_gaps)
            emit(out, f, MOS_ON_GAP, side, RCV | NONE, false, res.gaps);
        if (res.new_bytes)
            emit(out, f, MOS_ON_CONN_NEW_DATA, side, RCV | NONE, false, res.new_bytes);
    }
}
