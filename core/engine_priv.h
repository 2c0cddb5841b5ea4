/*
 * engine_priv.h - the state of one core, shared by the files that make up
 * the engine (engine.c: the step machine; flow_life.c: flow lifecycle;
 * sockets.c: sockets, BPF and registrations; timers.c: the timer heap;
 * inline_out.c: the verdict, rewrites and injected RSTs). Not a public
 * header: everything outside core/ goes through engine.h.
 *
 * Raising an event counts it: a flow's built-in event is queued either by
 * core_raise(), which counts the occurrence once whatever the number of
 * hooks it reaches (core_raise_again(): the HK_RCV half of one already
 * raised at HK_SND), or by the stream unit (tcp_stream.h), which counts
 * what it raises itself and reports only what the flow's trees listen to.
 */
#ifndef MOS_ENGINE_PRIV_H
#define MOS_ENGINE_PRIV_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <string.h>

#include "buf_pool.h"
#include "decode.h"
#include "engine.h"
#include "event_tree.h"
#include "flow_table.h"
#include "mos_error.h"
#include "ip_frag.h"
#include "pkt_rewrite.h"
#include "stream_match.h"
#include "tcp_reasm.h"
#include "tcp_state.h"
#include "tcp_stream.h"

#define EVQ_BATCH 512      /* events per batch the pipeline aims at; a packet raises at most ~20 */
#define ENDING_MAX 64      /* flows ended but not yet freed; also the slab reserve */
/* Frames per rx_burst, and how many frames ahead a frame's flow is
 * prefetched: at 192k flows, 64/4 spent ~7% less CPU than 32/2 (count.lua,
 * small workload), the first frames of a burst waiting less for theirs. */
#define BURST 64
#define PREFETCH_DIST 4
_Static_assert(BURST <= 64, "fhint has one bit per frame of a burst");
#define STEP_BUDGET 1024   /* packets per core_step without events: keeps the host responsive */
#define TIMERS_MAX 65536

struct mos_socket {
    bool used;
    uint8_t type;
    bool has_syn, has_raw;
    struct bpf_program syn_bpf, raw_bpf;
    struct mos_tree *tree[MOS_HK_COUNT];
};

struct core_timer {
    uint64_t at, flow_id, handler;
    uint32_t slot;
    bool has_flow;
};

enum phase { PH_NEXT = 0, PH_FLOW, PH_SND_DONE, PH_RCV_DONE, PH_SHUTDOWN };

struct mos_core {
    struct mos_config cfg;
    int id;
    struct mos_counters ctr;
    struct decoder dec;
    struct ip_frag *frag;
    struct flow_table *ft;
    struct reasm_pool pool;
    struct event_registry *reg;
    struct event_tree_store *trees;
    struct mos_socket socks[MOS_MAX_SOCKETS];
    pcap_t *bpf_dead; /* DLT_RAW handle for compiling socket filters */

    struct mos_io *io;
    struct mos_frame frames[BURST];
    int nframes, iframe;
    uint32_t fhash[BURST]; /* flow hash hint of each frame of the burst */
    uint64_t fhint;        /* bit i: fhash[i] is valid */
    uint64_t io_dropped_seen, io_rx_missed_seen; /* io's loss counts already folded in */
    const struct mos_frame *injected; /* core_process_frame */
    bool io_eof;
    int io_status; /* 0, or the negative code of an input error */

    /* the packet in flight */
    enum phase phase;
    bool have_pkt;
    const struct mos_frame *frame;
    struct mos_pkt pkt;
    struct mos_flow *flow;
    int sender, receiver;
    bool drop;
    struct tcp_seg seg;         /* the TCP work of the packet between its two halves */
    struct tcp_stream_out sout; /* where the stream unit raises events (core_stream_out) */
    bool owned;                 /* pkt points into txbuf (a private, editable copy) */
    bool edited;
    uint32_t txlen;
    uint8_t txbuf[PKT_REWRITE_MAX_FRAME];
    bool new_flow; /* CONN_START still to raise at HK_RCV */

    struct mos_event *evq; /* grows, never shrinks: see engine.c's invariants */
    int nev, evq_cap;
    int nreturned; /* events handed to the host by the last core_step */
    struct mos_event *spill; /* queued while the host held a batch */
    int nspill, spill_cap;
    struct mos_event raised[EVQ_BATCH / 4]; /* raise_event from handlers: next batch */
    int nraised;
    struct mos_flow *ending; /* ended flows to free at the next step, linked by end_next */
    int nending;

    struct core_timer *timers; /* binary heap on .at */
    uint32_t ntimers, timers_cap;

    uint64_t now;
    uint64_t next_flow_id;
    uint32_t shutdown_slot; /* flow_table_next cursor of PH_SHUTDOWN */
    int nraw;               /* open raw sockets: raise_raw is free without any */
    struct mos_matcher *matchers; /* stream_match.c's list of this core's matchers */
    char err[256];
};

/* ---------------------------------------------------------- events */

/* The event counters are laid out in event id order (counters.h), ev_ude
 * last: counting is one indexed increment. */
#define CORE_EV_CTR_(name, n) \
    _Static_assert(offsetof(struct mos_counters, ev_pkt_in) + (n) * sizeof(uint64_t) == \
                       offsetof(struct mos_counters, name), #name " out of event order");
CORE_EV_CTR_(ev_conn_start, MOS_ON_CONN_START)
CORE_EV_CTR_(ev_conn_new_data, MOS_ON_CONN_NEW_DATA)
CORE_EV_CTR_(ev_conn_end, MOS_ON_CONN_END)
CORE_EV_CTR_(ev_tcp_state_change, MOS_ON_TCP_STATE_CHANGE)
CORE_EV_CTR_(ev_rexmit, MOS_ON_REXMIT)
CORE_EV_CTR_(ev_rexmit_inconsistent, MOS_ON_REXMIT_INCONSISTENT)
CORE_EV_CTR_(ev_gap, MOS_ON_GAP)
CORE_EV_CTR_(ev_orphan, MOS_ON_ORPHAN)
CORE_EV_CTR_(ev_error, MOS_ON_ERROR)
CORE_EV_CTR_(ev_ude, MOS_BUILTIN_EVENTS)
#undef CORE_EV_CTR_

static inline void core_count_event(struct mos_core *c, int event)
{
    unsigned i = (unsigned)event < MOS_BUILTIN_EVENTS ? (unsigned)event : MOS_BUILTIN_EVENTS;
    (&c->ctr.ev_pkt_in)[i]++;
}

/* Room for `need` events in *q (capacity *cap), doubling (engine.c). */
int core_events_reserve(struct mos_event **q, int *cap, int need);

/* The queue events go to now: evq, or the spill while the host holds a
 * batch of evq (it must not move then); `need` more places are made. Sets
 * *n and returns the queue, or NULL when no memory was left for them. */
static inline struct mos_event *core_event_queue(struct mos_core *c, int need, int **n, int *cap)
{
    struct mos_event **q = c->nreturned ? &c->spill : &c->evq;
    int *qn = c->nreturned ? &c->nspill : &c->nev, *qcap = c->nreturned ? &c->spill_cap : &c->evq_cap;
    if (*qn + need > *qcap && core_events_reserve(q, qcap, *qn + need) < 0)
        return NULL;
    *n = qn;
    *cap = *qcap;
    return *q;
}

static inline void core_push_event(struct mos_core *c, struct mos_flow *f, int event, int side, int hook, int sock,
                                   uint64_t arg)
{
    int *n, cap;
    struct mos_event *q = core_event_queue(c, 1, &n, &cap);
    if (!q) {
        c->ctr.ev_queue_lost++; /* no memory: the only way an event is lost */
        return;
    }
    q[(*n)++] = (struct mos_event){.flow = f, .event = event, .side = (uint8_t)side, .hook = (uint8_t)hook,
                                   .sock = (uint16_t)sock, .arg = arg};
}

#define CORE_HOOK(h) (1u << (h)) /* hook sets of core_raise */

/* Queue an occurrence at each hook of `hooks` (CORE_HOOK bits) where the
 * flow's tree has something under the event; core_raise also counts it,
 * whether or not anyone listens. */
static inline void core_raise_again(struct mos_core *c, struct mos_flow *f, int event, int side, unsigned hooks,
                                    uint64_t arg)
{
    if (!f || f->ended || !f->sock || (f->stop_mon & (1u << side)))
        return;
    uint32_t bit = 1u << event;
    for (int h = 0; h < MOS_HK_COUNT; h++) {
        const struct mos_tree *t = f->tree[h];
        if ((hooks & (1u << h)) && t && (t->mask & bit))
            core_push_event(c, f, event, side, h, (int)(f->sock - c->socks), arg);
    }
}

static inline void core_raise(struct mos_core *c, struct mos_flow *f, int event, int side, unsigned hooks,
                              uint64_t arg)
{
    core_count_event(c, event);
    core_raise_again(c, f, event, side, hooks, arg);
}

/* The stream unit raises (counts and queues) by itself into c->sout, set
 * up once by core_create; per flow it needs to know only whether the flow
 * may have events and under which socket. */
static inline struct tcp_stream_out *core_stream_out(struct mos_core *c, const struct mos_flow *f)
{
    c->sout.mute = f->ended || !f->sock;
    c->sout.sock = c->sout.mute ? 0 : (uint16_t)(f->sock - c->socks);
    /* Room for the unit's worst case, in the queue that may take events now. */
    int *n, cap;
    struct mos_event *q = core_event_queue(c, TCP_STREAM_PAIRS_MAX, &n, &cap);
    if (q) {
        c->sout.q = q;
        c->sout.n = n;
        c->sout.cap = cap;
    } else { /* no memory: the unit counts what it cannot queue */
        c->sout.n = c->nreturned ? &c->nspill : &c->nev;
        c->sout.q = c->nreturned ? c->spill : c->evq;
        c->sout.cap = c->nreturned ? c->spill_cap : c->evq_cap;
    }
    return &c->sout;
}

/* The functions below are internal to libmos: hidden, so calls between the
 * engine's files are direct (no PLT) in the shared library. */
#pragma GCC visibility push(hidden)

/* ---------------------------------------------------- sockets.c */
struct mos_socket *sockets_get(struct mos_core *c, int sock);
/* The first stream socket whose SYN filter accepts p (NULL: none). */
struct mos_socket *sockets_pick(struct mos_core *c, const struct mos_pkt *p);
/* Raw sockets see every packet their filter accepts, at HK_NONE. */
void sockets_raise_raw(struct mos_core *c, struct mos_flow *f);
void sockets_raise_orphan(struct mos_core *c);
void sockets_raise_checksum_drop(struct mos_core *c, const struct mos_frame *fr, uint64_t reason);

/* ----------------------------------------------------- timers.c */
/* Queue due timers as events (event = -1, arg = handler identity). */
void timers_fire(struct mos_core *c);
void timers_start_clock(struct mos_core *c, uint64_t t0);
/* Nothing is due before the clock has started (the first packet). */
static inline bool timers_due(const struct mos_core *c)
{
    return c->now != 0 && c->ntimers && c->timers[0].at <= c->now;
}

/* core.vlan_tracking = false: VLAN ids are not part of the flow key, so
 * a connection whose tag is on one direction only (a router that tags one
 * way) is one flow, as Suricata's vlan.use-for-tracking: false. */
static inline void core_key_policy(const struct mos_core *c, struct mos_flow_key *k)
{
    if (!c->cfg.vlan_tracking && k->nvlan) {
        memset(k->vlan, 0, sizeof(k->vlan));
        k->nvlan = 0;
    }
}

/* -------------------------------------------------- flow_life.c */
/* Find or create the flow of the current TCP packet (NULL: the packet is
 * done, or *wait: a previous flow on its key must be dispatched first). */
struct mos_flow *flows_lookup(struct mos_core *c, bool *wait);
/* Queue a flow's end (flush, CONN_END); freed after the batch. */
void flows_end(struct mos_core *c, struct mos_flow *f, int reason);
void flows_expire(struct mos_core *c);   /* end idle flows, within the queue's room */
void flows_end_some(struct mos_core *c); /* shutdown: end the next batch */
void flows_free_ending(struct mos_core *c);
void flows_release(struct mos_core *c, struct mos_flow *f);

/* The timeout class of a flow's current states (flow_table.h). */
static inline int flows_tclass(const struct mos_flow *f)
{
    int a = f->ep[0].state, b = f->ep[1].state;
    if (tcp_state_closed(f))
        return TCLASS_TIME_WAIT;
    if (a == MOS_TCP_ESTABLISHED && b == MOS_TCP_ESTABLISHED)
        return TCLASS_ESTABLISHED;
    if (a >= MOS_TCP_FIN_WAIT_1 || b >= MOS_TCP_FIN_WAIT_1)
        return TCLASS_CLOSING;
    if (a == MOS_TCP_ESTABLISHED || b == MOS_TCP_ESTABLISHED)
        return TCLASS_ESTABLISHED;
    return TCLASS_SYN;
}

/* ------------------------------------------------- inline_out.c */
/* The verdict of the current packet: forward (remapped, rewritten) or drop. */
void out_verdict(struct mos_core *c);
/* Inline: a RST to each endpoint of f, and drop the current packet. */
void out_inject_resets(struct mos_core *c, struct mos_flow *f);

#pragma GCC visibility pop

#endif
