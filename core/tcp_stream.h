/*
 * tcp_stream.h - the per-segment TCP work of one flow: one segment in, both
 * endpoints' updates in the right order, a list of events out.
 *
 * A segment from S to R is processed in two halves because HK_SND handlers
 * run between them (docs/events.md):
 *
 *   tcp_stream_send()  sender-side update: S's counts and inferred state,
 *                      classification of the payload against what R already
 *                      holds (REXMIT / REXMIT_INCONSISTENT are known here);
 *   ... HK_SND handlers ...
 *   tcp_stream_recv()  receiver-side update: RST acceptance, R's inferred
 *                      state, SYN data settled, reassembly into R's buffer,
 *                      S's acknowledgement applied to S's own buffer.
 *
 * tcp_stream_flush() ends both directions of a flow (holes skipped, held
 * bytes delivered). Raising an event counts it: every occurrence is counted
 * once (in ev_ctr) and, for each hook it reaches where the caller wants it,
 * appended to the caller's event queue (struct tcp_stream_out). It owns the call order of tcp_state_* and
 * tcp_reasm_* (tcp_state.h lists it); nothing else calls them per packet.
 */
#ifndef MOS_TCP_STREAM_H
#define MOS_TCP_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "flow.h"
#include "mos_abi.h"
#include "mos_types.h"
#include "tcp_reasm.h"

/* A send half raises at most 4 occurrences (state change, PKT_IN, the
 * REXMIT pair), a receive half 13 (state change, the REXMIT pair, three
 * deliveries of GAP/NEW_DATA/ERROR, PKT_IN), i.e. 19 (event, hook) pairs
 * since GAP and NEW_DATA go to two hooks; a flush 8. */
#define TCP_STREAM_PAIRS_MAX 19

/* Where raised events go. An (event, hook) pair is queued when the flow's
 * tree at that hook has something under the event (tree->mask), the side
 * is still monitored (MOS_STOP_MON) and the caller has not muted the flow
 * (ended, or no socket); every occurrence is counted in ev_ctr either way.
 * Pairs are appended to q[*n] while *n < cap, in queue order; one that does
 * not fit is counted in *lost. */
struct tcp_stream_out {
    uint64_t *ev_ctr;  /* counters indexed by built-in event id */
    struct mos_event *q;
    int *n;
    int cap;
    uint64_t *lost;    /* pairs that did not fit (ev_queue_lost) */
    bool mute;         /* count only */
    uint16_t sock;     /* mos_event.sock of what is queued */
};

/* One segment between its two halves. The caller fills the first block;
 * tcp_stream_send fills the rest, tcp_stream_recv sets rst_accepted. */
struct tcp_seg {
    const struct mos_pkt *pkt;
    const uint8_t *payload; /* as the sender sent it: later edits of the packet do not change tracking */
    uint32_t len;
    int sender, receiver;   /* MOS_SIDE_* */
    bool has_payload;       /* len > 0 and not a SYN */
    bool rst_accepted;      /* a RST the receiver would accept */
    struct reasm_class cls; /* the payload against what the receiver holds */
};

/* `pool` carries the core's reassembly memcap and counters (pool->ctr).
 * Internal to libmos (hidden): the engine calls them directly. */
#pragma GCC visibility push(hidden)
void tcp_stream_send(struct mos_flow *f, struct tcp_seg *s, struct tcp_stream_out *out);
void tcp_stream_recv(struct mos_flow *f, struct tcp_seg *s, struct reasm_pool *pool, struct tcp_stream_out *out);
void tcp_stream_flush(struct mos_flow *f, struct reasm_pool *pool, struct tcp_stream_out *out);
#pragma GCC visibility pop

#endif
