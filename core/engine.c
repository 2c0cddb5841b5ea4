/*
 * engine.c - one core's pipeline as a resumable state machine.
 *
 * core_step() advances the current packet through its phases and returns as
 * soon as a dispatch point has queued events. The host runs its handlers and
 * calls core_step() again, which resumes at the next phase. So handlers at
 * HK_SND see the stack before the receiver update, handlers at HK_RCV see it
 * after, and the verdict (forward/drop) is taken only after every handler of
 * the packet ran.
 *
 * Invariants:
 * - An event is queued only when the flow's tree for that hook has something
 *   under it (tree->mask), so packets nobody listens to never leave C.
 * - A flow's CONN_END is its last event. Ended flows stay in memory until the
 *   host has dispatched that batch: they are freed at the start of the next
 *   step (the c->ending list), which is also why the slab has a small
 *   reserve above max_concurrency.
 * - No event is dropped: the queue grows past EVQ_BATCH when handlers end
 *   many flows at once (core_flow_reset queues their last events). While
 *   the host holds a batch the array must not move, so what does not fit
 *   then waits in `spill` and joins the queue at the next step. Only a
 *   failed allocation loses an event, counted in ev_queue_lost.
 * - All state is in struct mos_core; nothing global is mutable.
 */
#include "engine.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf_pool.h"
#include "decode.h"
#include "event_tree.h"
#include "flow_table.h"
#include "ip_frag.h"
#include "pkt_rewrite.h"
#include "stream_match.h"
#include "tcp_reasm.h"
#include "tcp_state.h"

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
    struct reasm_class cls;
    bool has_payload;
    const uint8_t *trk_payload; /* the payload as the sender sent it: what tracking sees */
    uint32_t trk_len;
    bool owned;                 /* pkt points into txbuf (a private, editable copy) */
    bool edited;
    uint32_t txlen;
    uint8_t txbuf[PKT_REWRITE_MAX_FRAME];
    bool new_flow; /* CONN_START still to raise at HK_RCV */

    struct mos_event *evq; /* grows, never shrinks: see the invariants */
    int nev, evq_cap;
    int nreturned; /* events handed to the host by the last core_step */
    struct mos_event *spill; /* queued while the host held a full batch */
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

/* ------------------------------------------------------------------ utils */

static void count_event(struct mos_core *c, int event)
{
    switch (event) {
    case MOS_ON_PKT_IN: c->ctr.ev_pkt_in++; break;
    case MOS_ON_CONN_START: c->ctr.ev_conn_start++; break;
    case MOS_ON_CONN_NEW_DATA: c->ctr.ev_conn_new_data++; break;
    case MOS_ON_CONN_END: c->ctr.ev_conn_end++; break;
    case MOS_ON_TCP_STATE_CHANGE: c->ctr.ev_tcp_state_change++; break;
    case MOS_ON_REXMIT: c->ctr.ev_rexmit++; break;
    case MOS_ON_REXMIT_INCONSISTENT: c->ctr.ev_rexmit_inconsistent++; break;
    case MOS_ON_GAP: c->ctr.ev_gap++; break;
    case MOS_ON_ORPHAN: c->ctr.ev_orphan++; break;
    case MOS_ON_ERROR: c->ctr.ev_error++; break;
    default: c->ctr.ev_ude++; break;
    }
}

/* Room for `need` events in *q (capacity *cap), doubling. */
static int events_reserve(struct mos_event **q, int *cap, int need)
{
    if (need <= *cap)
        return 0;
    int nc = *cap ? *cap : EVQ_BATCH;
    while (nc < need)
        nc *= 2;
    struct mos_event *nq = realloc(*q, (size_t)nc * sizeof(*nq));
    if (!nq)
        return -ENOMEM;
    *q = nq;
    *cap = nc;
    return 0;
}

static void queue_event(struct mos_core *c, const struct mos_event *e)
{
    if (c->nev < c->evq_cap || (c->nreturned == 0 && events_reserve(&c->evq, &c->evq_cap, c->nev + 1) == 0)) {
        c->evq[c->nev++] = *e;
    } else if (c->nreturned > 0 && events_reserve(&c->spill, &c->spill_cap, c->nspill + 1) == 0) {
        c->spill[c->nspill++] = *e; /* the host is reading evq: it must not move */
    } else {
        c->ctr.ev_queue_lost++;
    }
}

static void push_event(struct mos_core *c, struct mos_flow *f, int event, int side, int hook,
                       int sock, uint64_t arg)
{
    struct mos_event e = {.flow = f, .event = event, .side = (uint8_t)side, .hook = (uint8_t)hook,
                          .sock = (uint16_t)sock, .arg = arg};
    queue_event(c, &e);
}

/* Raise a built-in event for a flow at one hook: queued only if someone is
 * registered under it. Counted whether or not anyone listens. */
static void raise_flow(struct mos_core *c, struct mos_flow *f, int event, int side, int hook, uint64_t arg)
{
    if (!f || f->ended || !f->sock || (f->stop_mon & (1u << side)))
        return;
    const struct mos_tree *t = f->tree[hook];
    if (t && (t->mask & (1u << event)))
        push_event(c, f, event, side, hook, (int)(f->sock - c->socks), arg);
}

/* Events of the receiver-side update and of flow ends: HK_RCV, then HK_NONE. */
static void raise_rcv(struct mos_core *c, struct mos_flow *f, int event, int side, uint64_t arg)
{
    count_event(c, event);
    raise_flow(c, f, event, side, MOS_HK_RCV, arg);
    raise_flow(c, f, event, side, MOS_HK_NONE, arg);
}

static int tclass_of(const struct mos_flow *f)
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

/* ------------------------------------------------------------- lifecycle */

int core_create(const struct mos_config *cfg, int core_id, struct mos_core **out)
{
    struct mos_core *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->cfg = *cfg;
    c->id = core_id;
    c->next_flow_id = 1;
    int rc = events_reserve(&c->evq, &c->evq_cap, EVQ_BATCH);
    if (rc < 0)
        goto fail;
    uint64_t timeouts[TCLASS_COUNT] = {
        [TCLASS_SYN] = cfg->timeout_syn,
        [TCLASS_ESTABLISHED] = cfg->timeout_established,
        [TCLASS_CLOSING] = cfg->timeout_closing,
        [TCLASS_TIME_WAIT] = cfg->timeout_time_wait,
    };
    rc = flow_table_create(cfg->max_concurrency + ENDING_MAX, timeouts, &c->ctr, &c->ft);
    if (rc < 0)
        goto fail;
    rc = ip_frag_create(cfg->frag_timeout, cfg->frag_memcap, cfg->frag_max_datagrams, &c->ctr, &c->frag);
    if (rc < 0)
        goto fail;
    rc = evreg_create(&c->reg);
    if (rc < 0)
        goto fail;
    rc = etree_store_create(c->reg, &c->ctr, &c->trees);
    if (rc < 0)
        goto fail;
    c->dec.checksum = cfg->checksum;
    c->dec.frag = c->frag;
    c->dec.ctr = &c->ctr;
    c->pool.memcap = cfg->memcap;
    c->pool.ctr = &c->ctr;
    rc = buf_pool_create(cfg->buffer_memcap, &c->ctr, &c->pool.bufs);
    if (rc < 0)
        goto fail;
    c->bpf_dead = pcap_open_dead(DLT_RAW, 65535);
    if (!c->bpf_dead) {
        rc = -ENOMEM;
        goto fail;
    }
    *out = c;
    return 0;
fail:
    core_destroy(c);
    return rc;
}

static void flow_release(struct mos_core *c, struct mos_flow *f)
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

static void free_ending(struct mos_core *c)
{
    while (c->ending) {
        struct mos_flow *f = c->ending;
        c->ending = f->end_next;
        flow_release(c, f);
    }
    c->nending = 0;
}

static void destroy_flow_cb(struct mos_flow *f, void *arg)
{
    flow_release(arg, f);
}

void core_destroy(struct mos_core *c)
{
    if (!c)
        return;
    free_ending(c);
    if (c->ft) {
        flow_table_foreach(c->ft, destroy_flow_cb, c);
        flow_table_destroy(c->ft);
    }
    stream_match_core_gone(c->matchers); /* matchers freed later must not touch c */
    for (int s = 0; s < MOS_MAX_SOCKETS; s++)
        if (c->socks[s].used)
            core_socket_close(c, s);
    if (c->trees)
        etree_store_destroy(c->trees);
    if (c->reg)
        evreg_destroy(c->reg);
    if (c->frag)
        ip_frag_destroy(c->frag);
    if (c->bpf_dead)
        pcap_close(c->bpf_dead);
    buf_pool_destroy(c->pool.bufs);
    free(c->timers);
    free(c->evq);
    free(c->spill);
    free(c);
}

void core_set_io(struct mos_core *c, struct mos_io *io)
{
    c->io = io;
    c->io_dropped_seen = c->io_rx_missed_seen = 0;
}
void core_account_io(struct mos_core *c)
{
    const struct mos_io *io = c->io;
    if (!io || (io->dropped == c->io_dropped_seen && io->rx_missed == c->io_rx_missed_seen))
        return;
    c->ctr.pkts_dropped_io += io->dropped - c->io_dropped_seen;
    c->ctr.pkts_missed_io += io->rx_missed - c->io_rx_missed_seen;
    c->io_dropped_seen = io->dropped;
    c->io_rx_missed_seen = io->rx_missed;
}

const char *core_error(const struct mos_core *c) { return c->err; }
int core_input_status(const struct mos_core *c) { return c->io_status; }

void core_stop(struct mos_core *c)
{
    c->io_eof = true; /* the next step that needs a frame ends every flow */
    c->nframes = c->iframe = 0;
}
struct mos_counters *core_counters(struct mos_core *c) { return &c->ctr; }
const struct mos_config *core_config(const struct mos_core *c) { return &c->cfg; }
struct mos_config *core_config_mut(struct mos_core *c) { return &c->cfg; }
int core_id(const struct mos_core *c) { return c->id; }
uint64_t core_now(const struct mos_core *c) { return c->now; }
struct event_registry *core_registry(struct mos_core *c) { return c->reg; }
struct event_tree_store *core_trees(struct mos_core *c) { return c->trees; }

const struct mos_pkt *core_current_pkt(const struct mos_core *c)
{
    return c->have_pkt ? &c->pkt : NULL;
}

struct mos_pkt *core_current_pkt_mut(struct mos_core *c)
{
    return c->have_pkt ? &c->pkt : NULL;
}

struct mos_flow *core_flow_by_slot(struct mos_core *c, uint32_t slot)
{
    return flow_table_at(c->ft, slot);
}

uint32_t core_flow_slot(struct mos_core *c, const struct mos_flow *f)
{
    return flow_table_slot(c->ft, f);
}

struct mos_flow *core_flow_next(struct mos_core *c, uint32_t *cursor)
{
    return flow_table_next(c->ft, cursor);
}

struct mos_matcher **core_matchers(struct mos_core *c)
{
    return &c->matchers;
}

bool core_bytes_needed(const struct mos_core *c)
{
    return c->matchers != NULL;
}

/* --------------------------------------------------------------- sockets */

static struct mos_socket *sock_get(struct mos_core *c, int sock)
{
    if (sock < 0 || sock >= MOS_MAX_SOCKETS || !c->socks[sock].used)
        return NULL;
    return &c->socks[sock];
}

int core_socket(struct mos_core *c, int type)
{
    if (type != MOS_SOCK_MONITOR_STREAM && type != MOS_SOCK_MONITOR_RAW)
        return -EINVAL;
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        if (c->socks[s].used)
            continue;
        struct mos_socket *so = &c->socks[s];
        memset(so, 0, sizeof(*so));
        so->used = true;
        so->type = (uint8_t)type;
        if (type == MOS_SOCK_MONITOR_RAW)
            c->nraw++;
        for (int h = 0; h < MOS_HK_COUNT; h++)
            so->tree[h] = etree_empty(c->trees);
        return s;
    }
    return -EMFILE;
}

int core_socket_close(struct mos_core *c, int sock)
{
    struct mos_socket *so = sock_get(c, sock);
    if (!so)
        return -EBADF;
    if (so->has_syn)
        pcap_freecode(&so->syn_bpf);
    if (so->has_raw)
        pcap_freecode(&so->raw_bpf);
    for (int h = 0; h < MOS_HK_COUNT; h++)
        if (so->tree[h])
            etree_release(c->trees, so->tree[h]);
    if (so->type == MOS_SOCK_MONITOR_RAW)
        c->nraw--;
    memset(so, 0, sizeof(*so));
    return 0;
}

static int compile_filter(struct mos_core *c, const char *expr, struct bpf_program *prog, bool *has,
                          char *err, size_t errlen)
{
    if (!expr)
        return 0;
    if (*has) {
        pcap_freecode(prog);
        *has = false;
    }
    if (!*expr)
        return 0;
    if (pcap_compile(c->bpf_dead, prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        if (err)
            snprintf(err, errlen, "bad filter '%s': %s", expr, pcap_geterr(c->bpf_dead));
        return -EINVAL;
    }
    *has = true;
    return 0;
}

int core_socket_filter(struct mos_core *c, int sock, const char *syn_filter, const char *raw_filter,
                       char *err, size_t errlen)
{
    struct mos_socket *so = sock_get(c, sock);
    if (!so)
        return -EBADF;
    int rc = compile_filter(c, syn_filter, &so->syn_bpf, &so->has_syn, err, errlen);
    if (rc < 0)
        return rc;
    return compile_filter(c, raw_filter, &so->raw_bpf, &so->has_raw, err, errlen);
}

static bool bpf_match(const struct bpf_program *prog, const struct mos_pkt *p)
{
    return bpf_filter(prog->bf_insns, p->l3, p->l3_len, p->l3_len) != 0;
}

/* Which hooks make sense for which event (mOS semantics, see docs/events.md). */
int core_check_hook(struct mos_core *c, int type, int event, int hook)
{
    if (hook < 0 || hook >= MOS_HK_COUNT)
        return -EINVAL;
    int root = event < MOS_BUILTIN_EVENTS ? event : evreg_root(c->reg, event);
    if (root < 0 || root >= MOS_BUILTIN_EVENTS)
        return -EINVAL;
    if (type == MOS_SOCK_MONITOR_RAW)
        return (root == MOS_ON_PKT_IN || root == MOS_ON_ORPHAN) && hook == MOS_HK_NONE ? 0 : -EINVAL;
    switch (root) {
    case MOS_ON_PKT_IN:
    case MOS_ON_CONN_START:
    case MOS_ON_TCP_STATE_CHANGE:
    case MOS_ON_REXMIT:
    case MOS_ON_REXMIT_INCONSISTENT:
        return hook == MOS_HK_NONE ? -EINVAL : 0;
    case MOS_ON_CONN_END:
        return 0;
    case MOS_ON_CONN_NEW_DATA:
    case MOS_ON_GAP:
        return hook == MOS_HK_SND ? -EINVAL : 0;
    case MOS_ON_ORPHAN:
    case MOS_ON_ERROR:
        return hook == MOS_HK_NONE ? 0 : -EINVAL;
    }
    return -EINVAL;
}

static int switch_tree(struct mos_core *c, struct mos_tree **slot, int event, uint64_t handler, bool add)
{
    int err = 0;
    struct mos_tree *cur = *slot ? *slot : etree_empty(c->trees);
    bool took_empty = (*slot == NULL);
    struct mos_tree *nt = add ? etree_with(c->trees, cur, event, handler, &err)
                              : etree_without(c->trees, cur, event, handler, &err);
    if (!nt) {
        if (took_empty)
            etree_release(c->trees, cur);
        return err ? err : -ENOMEM;
    }
    etree_release(c->trees, cur);
    *slot = nt;
    return 0;
}

struct sock_update {
    struct mos_core *c;
    struct mos_socket *so;
    int event, hook;
    uint64_t handler;
    bool add;
    int rc;
};

static void sock_update_flow(struct mos_flow *f, void *arg)
{
    struct sock_update *u = arg;
    if (f->sock != u->so || f->ended)
        return;
    int rc = switch_tree(u->c, &f->tree[u->hook], u->event, u->handler, u->add);
    if (rc < 0)
        u->rc = rc;
}

static int sock_change(struct mos_core *c, int sock, int event, int hook, uint64_t handler, bool existing, bool add)
{
    struct mos_socket *so = sock_get(c, sock);
    if (!so)
        return -EBADF;
    if (!handler)
        return -EINVAL;
    int rc = core_check_hook(c, so->type, event, hook);
    if (rc < 0)
        return rc;
    rc = switch_tree(c, &so->tree[hook], event, handler, add);
    if (rc < 0 || !existing)
        return rc;
    struct sock_update u = {c, so, event, hook, handler, add, 0};
    flow_table_foreach(c->ft, sock_update_flow, &u);
    return u.rc;
}

int core_register(struct mos_core *c, int sock, int event, int hook, uint64_t handler, bool existing)
{
    return sock_change(c, sock, event, hook, handler, existing, true);
}

int core_unregister(struct mos_core *c, int sock, int event, int hook, uint64_t handler, bool existing)
{
    return sock_change(c, sock, event, hook, handler, existing, false);
}

int core_flow_register(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler)
{
    if (f && f->ended)
        return MOS_E_FLOW_ENDED;
    if (!f || !f->sock)
        return -EBADF;
    if (!handler)
        return -EINVAL;
    int rc = core_check_hook(c, f->sock->type, event, hook);
    if (rc < 0)
        return rc;
    return switch_tree(c, &f->tree[hook], event, handler, true);
}

int core_flow_unregister(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler)
{
    if (!f || !f->sock)
        return -EBADF;
    if (hook < 0 || hook >= MOS_HK_COUNT)
        return -EINVAL;
    return switch_tree(c, &f->tree[hook], event, handler, false);
}

int core_define_event(struct mos_core *c, int base, uint64_t filter, uint64_t arg)
{
    return evreg_define(c->reg, base, filter, arg);
}

const struct mos_tree *core_socket_tree(struct mos_core *c, int sock, int hook)
{
    struct mos_socket *so = sock_get(c, sock);
    if (!so || hook < 0 || hook >= MOS_HK_COUNT)
        return NULL;
    return so->tree[hook];
}

/* ----------------------------------------------------------------- flows */

/* Queue the end of a flow: flush both streams (their last NEW_DATA and GAP
 * events), then CONN_END at every hook. The memory is freed after the host
 * has dispatched this batch. */
static void flow_end(struct mos_core *c, struct mos_flow *f, int reason)
{
    if (f->ended)
        return;
    for (int side = 0; side < 2; side++) {
        struct reasm_result res = {0};
        uint64_t before_gaps = f->ep[side].rcv.ngaps_total;
        tcp_reasm_flush(&f->ep[side].rcv, &c->pool, &res);
        if (f->ep[side].rcv.ngaps_total > before_gaps)
            raise_rcv(c, f, MOS_ON_GAP, side, res.gaps);
        if (res.new_bytes)
            raise_rcv(c, f, MOS_ON_CONN_NEW_DATA, side, res.new_bytes);
    }
    int snd = f->last_sender, rcv = !f->last_sender;
    count_event(c, MOS_ON_CONN_END);
    raise_flow(c, f, MOS_ON_CONN_END, snd, MOS_HK_SND, reason);
    raise_flow(c, f, MOS_ON_CONN_END, rcv, MOS_HK_RCV, reason);
    raise_flow(c, f, MOS_ON_CONN_END, rcv, MOS_HK_NONE, reason);
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
    flow_end(c, f, reason);
}

static struct mos_socket *pick_socket(struct mos_core *c, const struct mos_pkt *p)
{
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        struct mos_socket *so = &c->socks[s];
        if (!so->used || so->type != MOS_SOCK_MONITOR_STREAM)
            continue;
        if (so->has_syn && !bpf_match(&so->syn_bpf, p))
            continue;
        return so;
    }
    return NULL;
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
    flow_end(c, v, FLOW_END_EVICTED);
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
    struct mos_socket *so = pick_socket(c, &c->pkt);
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

/* ---------------------------------------------------------------- timers */

static void timer_sift_down(struct core_timer *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].at < h[m].at)
            m = l;
        if (r < n && h[r].at < h[m].at)
            m = r;
        if (m == i)
            return;
        struct core_timer t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int core_set_timer(struct mos_core *c, struct mos_flow *f, uint64_t at, uint64_t handler)
{
    if (!handler)
        return -EINVAL;
    if (c->ntimers >= TIMERS_MAX)
        return -ENOSPC;
    if (c->ntimers == c->timers_cap) {
        uint32_t ncap = c->timers_cap ? c->timers_cap * 2 : 64;
        struct core_timer *nt = realloc(c->timers, ncap * sizeof(*nt));
        if (!nt)
            return -ENOMEM;
        c->timers = nt;
        c->timers_cap = ncap;
    }
    uint32_t i = c->ntimers++;
    c->timers[i] = (struct core_timer){.at = at, .handler = handler, .has_flow = f != NULL,
                                       .flow_id = f ? f->id : 0, .slot = f ? core_flow_slot(c, f) : 0};
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (c->timers[parent].at <= c->timers[i].at)
            break;
        struct core_timer t = c->timers[i];
        c->timers[i] = c->timers[parent];
        c->timers[parent] = t;
        i = parent;
    }
    return 0;
}

/* Timers set before the first packet (a script's top level) were set on
 * a clock that had not started (now = 0, so their `at` is their delay):
 * they count from the first packet's time. Adding the same amount to every
 * timer keeps the heap ordered. */
static void timers_start_clock(struct mos_core *c, uint64_t t0)
{
    for (uint32_t i = 0; i < c->ntimers; i++)
        c->timers[i].at += t0;
}

/* Fire due timers as events with event = -1 and arg = handler identity.
 * Nothing is due before the clock has started (the first packet). */
static void fire_timers(struct mos_core *c)
{
    if (c->now == 0)
        return;
    while (c->ntimers && c->timers[0].at <= c->now && c->nev < EVQ_BATCH / 2) {
        struct core_timer t = c->timers[0];
        c->timers[0] = c->timers[--c->ntimers];
        timer_sift_down(c->timers, c->ntimers, 0);
        struct mos_flow *f = NULL;
        if (t.has_flow) {
            f = flow_table_at(c->ft, t.slot);
            if (!f || f->id != t.flow_id || f->ended)
                continue; /* the flow is gone: its timer dies with it */
        }
        push_event(c, f, -1, MOS_SIDE_CLI, MOS_HK_NONE, f && f->sock ? (int)(f->sock - c->socks) : 0, t.handler);
    }
}

/* ------------------------------------------------------------- the steps */

/* core.vlan_tracking = false: VLAN ids are not part of the flow key, so
 * a connection whose tag is on one direction only (a router that tags one
 * way) is one flow, as Suricata's vlan.use-for-tracking: false. */
static void key_policy(const struct mos_core *c, struct mos_flow_key *k)
{
    if (!c->cfg.vlan_tracking && k->nvlan) {
        memset(k->vlan, 0, sizeof(k->vlan));
        k->nvlan = 0;
    }
}

/* At 100k+ concurrent flows each packet's bucket and flow are cache (and
 * TLB) misses, taken one after the other. A burst is known in advance, so
 * its buckets are prefetched on arrival and each frame's flow two frames
 * ahead: the misses overlap with the processing of earlier packets. */
static void prefetch_burst(struct mos_core *c)
{
    c->fhint = 0;
    for (int i = 0; i < c->nframes; i++) {
        struct mos_flow_key k;
        const struct mos_frame *fr = &c->frames[i];
        if (decode_flow_hint(fr->linktype, fr->data, fr->caplen, &k) < 0)
            continue;
        key_policy(c, &k);
        c->fhash[i] = flow_table_hash(&k);
        c->fhint |= 1ull << i;
        flow_table_prefetch_bucket(c->ft, c->fhash[i]);
    }
}

static void prefetch_ahead(struct mos_core *c, int i)
{
    if (i < c->nframes && (c->fhint >> i & 1u))
        flow_table_prefetch_flow(c->ft, c->fhash[i]);
}

static bool next_frame(struct mos_core *c, int *rc)
{
    if (c->injected) {
        c->frame = c->injected;
        c->injected = NULL;
        return true;
    }
    if (c->iframe < c->nframes) {
        prefetch_ahead(c, c->iframe + PREFETCH_DIST);
        c->frame = &c->frames[c->iframe++];
        return true;
    }
    if (!c->io || c->io_eof) {
        *rc = c->io_eof ? MOS_IO_EOF : 0;
        return false;
    }
    int n = c->io->rx_burst(c->io, c->frames, BURST);
    core_account_io(c);
    if (n > 0) {
        c->nframes = n;
        prefetch_burst(c);
        for (int i = 0; i < PREFETCH_DIST; i++)
            prefetch_ahead(c, i);
        c->iframe = 1;
        c->frame = &c->frames[0];
        return true;
    }
    if (n == MOS_IO_EOF || n < 0) {
        /* A real error is kept as the input status; at EOF the io may still
         * have something to say (a truncated file): kept as a warning. */
        if (n != MOS_IO_EOF)
            c->io_status = n;
        if (n != MOS_IO_EOF || c->io->err[0])
            snprintf(c->err, sizeof(c->err), "%s", c->io->err[0] ? c->io->err : "input error");
        c->io_eof = true;
        *rc = MOS_IO_EOF;
        return false;
    }
    *rc = 0;
    return false;
}

/* Raw sockets see every packet their filter accepts, at HK_NONE. */
static void raise_raw(struct mos_core *c, struct mos_flow *f)
{
    if (!c->nraw)
        return;
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        struct mos_socket *so = &c->socks[s];
        if (!so->used || so->type != MOS_SOCK_MONITOR_RAW)
            continue;
        if (!(so->tree[MOS_HK_NONE]->mask & (1u << MOS_ON_PKT_IN)))
            continue;
        if (so->has_raw && !bpf_match(&so->raw_bpf, &c->pkt))
            continue;
        push_event(c, f, MOS_ON_PKT_IN, f ? f->last_sender : MOS_SIDE_CLI, MOS_HK_NONE, s, 0);
    }
}

static void raise_orphan(struct mos_core *c)
{
    c->ctr.pkts_orphan++;
    count_event(c, MOS_ON_ORPHAN);
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        struct mos_socket *so = &c->socks[s];
        if (so->used && (so->tree[MOS_HK_NONE]->mask & (1u << MOS_ON_ORPHAN)))
            push_event(c, NULL, MOS_ON_ORPHAN, MOS_SIDE_CLI, MOS_HK_NONE, s, 0);
    }
}

/* A frame the checksum policy dropped: sockets listening to ORPHAN get it
 * (arg = the reason, as Zeek reports a "weird" and keeps the C history
 * letter), with its headers decoded again without the check into c->pkt so
 * the handler can read them. Counted in ev_orphan, not in pkts_orphan (the
 * drop counter already has it). */
static void raise_checksum_drop(struct mos_core *c, const struct mos_frame *fr, uint64_t reason)
{
    bool any = false;
    for (int s = 0; s < MOS_MAX_SOCKETS && !any; s++) {
        struct mos_socket *so = &c->socks[s];
        any = so->used && (so->tree[MOS_HK_NONE]->mask & (1u << MOS_ON_ORPHAN));
    }
    if (!any)
        return;
    struct mos_counters scratch;
    memset(&scratch, 0, sizeof(scratch));
    struct decoder d = {.checksum = MOS_CSUM_IGNORE, .frag = NULL, .ctr = &scratch};
    c->have_pkt = decode_frame(&d, fr->linktype, fr->data, fr->caplen, fr->wirelen, fr->ts_ns, &c->pkt) == DECODE_OK;
    count_event(c, MOS_ON_ORPHAN);
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        struct mos_socket *so = &c->socks[s];
        if (so->used && (so->tree[MOS_HK_NONE]->mask & (1u << MOS_ON_ORPHAN)))
            push_event(c, NULL, MOS_ON_ORPHAN, MOS_SIDE_CLI, MOS_HK_NONE, s, reason);
    }
}

/* Decode the next frame. Returns 1 with a TCP packet ready for PH_FLOW,
 * 0 when the frame needed no flow work (events may be queued), or the
 * step's return code (<= 0) in *rc with -1 when no frame is available. */
static int take_packet(struct mos_core *c, int *rc)
{
    if (!next_frame(c, rc))
        return -1;
    const struct mos_frame *fr = c->frame;
    if (c->now == 0 && fr->ts_ns > 0)
        timers_start_clock(c, fr->ts_ns);
    if (fr->ts_ns > c->now)
        c->now = fr->ts_ns;
    c->drop = false;
    c->flow = NULL;
    c->new_flow = false;
    uint64_t bad_ip = c->ctr.drop_ip_bad_checksum, bad_tcp = c->ctr.drop_tcp_bad_checksum;
    int d = decode_frame(&c->dec, fr->linktype, fr->data, fr->caplen, fr->wirelen, fr->ts_ns, &c->pkt);
    if (d != DECODE_OK) {
        c->have_pkt = false;
        if (c->ctr.drop_ip_bad_checksum != bad_ip)
            raise_checksum_drop(c, fr, MOS_ORPHAN_BAD_IP_CHECKSUM);
        else if (c->ctr.drop_tcp_bad_checksum != bad_tcp)
            raise_checksum_drop(c, fr, MOS_ORPHAN_BAD_TCP_CHECKSUM);
        return 0;
    }
    c->have_pkt = true;
    c->owned = c->edited = false;
    c->trk_payload = c->pkt.payload;
    c->trk_len = c->pkt.payload_len;
    if (c->pkt.proto != 6) {
        raise_raw(c, NULL);
        return 0;
    }
    return 1;
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
static struct mos_flow *lookup_flow(struct mos_core *c, bool *wait)
{
    struct mos_flow_key k;
    int dir = mos_flow_key_from_pkt(&c->pkt, &k);
    key_policy(c, &k);
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
        flow_end(c, f, FLOW_END_PORT_REUSE);
        *wait = true;
        return NULL;
    }
    if (!f) {
        uint8_t fl = c->pkt.tcp_flags;
        bool syn = fl & MOS_TCP_SYN;
        if (fl & MOS_TCP_RST || (!syn && !c->cfg.midstream)) {
            raise_orphan(c);
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
        count_event(c, MOS_ON_CONN_START);
        c->new_flow = true;
    }
    c->sender = flow_sender_side(f, dir);
    c->receiver = !c->sender;
    if (f->remap && (c->pkt.tcp_flags & MOS_TCP_ACK))
        c->pkt.ack = seq_remap_ack(f->remap, c->receiver, c->pkt.ack); /* back to the peer's own space */
    return f;
}

/* Sender-side update and classification (read-only for the receiver). */
static void phase_snd(struct mos_core *c, struct mos_flow *f)
{
    const struct mos_pkt *p = &c->pkt;
    int S = c->sender, R = c->receiver;
    f->last_ts = p->ts_ns;
    f->last_sender = (uint8_t)S;
    f->ep[S].pkts++;
    f->ep[S].bytes += p->payload_len;
    if (c->new_flow)
        raise_flow(c, f, MOS_ON_CONN_START, S, MOS_HK_SND, 0);
    if (tcp_state_on_send(f, S, p)) {
        count_event(c, MOS_ON_TCP_STATE_CHANGE);
        raise_flow(c, f, MOS_ON_TCP_STATE_CHANGE, S, MOS_HK_SND, f->ep[S].state);
    }
    count_event(c, MOS_ON_PKT_IN);
    raise_flow(c, f, MOS_ON_PKT_IN, S, MOS_HK_SND, 0);

    c->has_payload = c->trk_len > 0 && !(p->tcp_flags & MOS_TCP_SYN);
    memset(&c->cls, 0, sizeof(c->cls));
    struct tcp_reasm *r = &f->ep[R].rcv;
    if (!c->has_payload && r->base_set && !(p->tcp_flags & (MOS_TCP_SYN | MOS_TCP_FIN | MOS_TCP_RST)))
        tcp_reasm_classify(r, p->seq, NULL, 0, &c->cls); /* a zero-length keep-alive? */
    if (c->has_payload) {
        if (!r->base_set)
            tcp_reasm_set_isn(r, p->seq - 1); /* first bytes seen from this side: offset 0 */
        tcp_reasm_classify(r, p->seq, c->trk_payload, c->trk_len, &c->cls);
        if (c->cls.rexmit && !c->cls.keepalive) {
            raise_flow(c, f, MOS_ON_REXMIT, S, MOS_HK_SND, 0);
            if (c->cls.inconsistent)
                raise_flow(c, f, MOS_ON_REXMIT_INCONSISTENT, S, MOS_HK_SND, 0);
        }
    }
}

static void deliver_result(struct mos_core *c, struct mos_flow *f, int side, const struct reasm_result *res,
                           uint32_t gaps_before)
{
    if (f->ep[side].rcv.ngaps_total > gaps_before)
        raise_rcv(c, f, MOS_ON_GAP, side, res->gaps);
    if (res->new_bytes)
        raise_rcv(c, f, MOS_ON_CONN_NEW_DATA, side, res->new_bytes);
    if (res->error) {
        count_event(c, MOS_ON_ERROR);
        raise_flow(c, f, MOS_ON_ERROR, side, MOS_HK_NONE, (uint64_t)res->error);
    }
}

/* Data on the client's SYN waits for the SYN/ACK: accepted only if acked. */
static void settle_syn_data(struct mos_core *c, struct mos_flow *f)
{
    const struct mos_pkt *p = &c->pkt;
    if (!f->syn_data || c->sender != MOS_SIDE_SVR || !(p->tcp_flags & MOS_TCP_ACK))
        return;
    struct mos_endpoint *cli = &f->ep[MOS_SIDE_CLI];
    uint32_t data_end = cli->isn + 1 + f->syn_data_len;
    if ((int32_t)(p->ack - data_end) >= 0) {
        struct reasm_result res = {0};
        uint32_t g = f->ep[MOS_SIDE_SVR].rcv.ngaps_total;
        tcp_reasm_insert(&f->ep[MOS_SIDE_SVR].rcv, &c->pool, cli->isn + 1, f->syn_data, f->syn_data_len, &res);
        deliver_result(c, f, MOS_SIDE_SVR, &res, g);
    } else {
        c->ctr.reasm_syn_data_unacked++;
    }
    free(f->syn_data);
    f->syn_data = NULL;
    f->syn_data_len = 0;
}

static void phase_rcv(struct mos_core *c, struct mos_flow *f)
{
    const struct mos_pkt *p = &c->pkt;
    int S = c->sender, R = c->receiver;
    bool rst = p->tcp_flags & MOS_TCP_RST;
    bool accept = true;
    if (rst && !tcp_state_rst_acceptable(f, R, p)) {
        c->ctr.rst_out_of_window++;
        accept = false;
    }
    if (c->new_flow) {
        raise_flow(c, f, MOS_ON_CONN_START, R, MOS_HK_RCV, 0);
        c->new_flow = false;
    }
    if (accept && tcp_state_on_recv(f, R, p)) {
        count_event(c, MOS_ON_TCP_STATE_CHANGE);
        raise_flow(c, f, MOS_ON_TCP_STATE_CHANGE, R, MOS_HK_RCV, f->ep[R].state);
    }
    if (c->cls.rexmit && !c->cls.keepalive) {
        raise_flow(c, f, MOS_ON_REXMIT, R, MOS_HK_RCV, 0);
        count_event(c, MOS_ON_REXMIT);
        if (c->cls.inconsistent) {
            raise_flow(c, f, MOS_ON_REXMIT_INCONSISTENT, R, MOS_HK_RCV, 0);
            count_event(c, MOS_ON_REXMIT_INCONSISTENT);
        }
    }

    /* SYN payload (TCP Fast Open): kept aside until the SYN/ACK. */
    if ((p->tcp_flags & MOS_TCP_SYN) && c->trk_len && S == MOS_SIDE_CLI && !(p->tcp_flags & MOS_TCP_ACK) &&
        !f->syn_data) {
        f->syn_data = malloc(c->trk_len);
        if (f->syn_data) {
            memcpy(f->syn_data, c->trk_payload, c->trk_len);
            f->syn_data_len = c->trk_len;
        }
    }
    settle_syn_data(c, f);

    if (c->has_payload && !c->cls.keepalive && !c->cls.out_of_window && accept) {
        struct reasm_result res = {0};
        uint32_t g = f->ep[R].rcv.ngaps_total;
        tcp_reasm_insert(&f->ep[R].rcv, &c->pool, p->seq, c->trk_payload, c->trk_len, &res);
        deliver_result(c, f, R, &res, g);
    }
    if (c->cls.keepalive)
        c->ctr.reasm_keepalive++;
    if (c->cls.out_of_window)
        c->ctr.reasm_out_of_window++;
    /* S acknowledges what S received: holes before the ack will not be filled. */
    if ((p->tcp_flags & MOS_TCP_ACK) && !rst && f->ep[S].rcv.base_set) {
        uint32_t ack = p->ack;
        const struct mos_endpoint *peer = &f->ep[R];
        if (peer->fin_sent && (int32_t)(ack - peer->fin_seq) > 0)
            ack = peer->fin_seq; /* the FIN's sequence number is not a data byte */
        struct reasm_result res = {0};
        uint32_t g = f->ep[S].rcv.ngaps_total;
        tcp_reasm_ack(&f->ep[S].rcv, &c->pool, ack, &res);
        deliver_result(c, f, S, &res, g);
    }
    raise_flow(c, f, MOS_ON_PKT_IN, R, MOS_HK_RCV, 0);
    raise_raw(c, f);
    if (rst && accept) {
        /* Not destroyed yet: like TIME_WAIT, the flow keeps absorbing what
         * is still in flight (data after an injected RST continues its
         * sequence space, as zeek and Suricata keep one session), and ends
         * after tcp.timeout_time_wait unless a new SYN reuses the ports. */
        c->ctr.flows_reset++;
        f->end_reason = FLOW_END_RESET;
    }
    int tc = rst && accept ? TCLASS_TIME_WAIT : tclass_of(f);
    flow_table_touch(c->ft, f, tc, c->now);
    f->tclass = (uint8_t)tc;
}

/* A handler at HK_SND dropped the packet: it never reaches the receiver,
 * offline as inline, so the receiver's stack (state, reassembly, what the
 * peer acknowledged) is not updated and HK_RCV handlers do not see it. Raw
 * sockets still see it (they watch the wire), and the flow stays alive. */
static void phase_rcv_dropped(struct mos_core *c, struct mos_flow *f)
{
    c->new_flow = false;
    raise_raw(c, f);
    int tc = tclass_of(f);
    flow_table_touch(c->ft, f, tc, c->now);
    f->tclass = (uint8_t)tc;
}

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

static void finish_packet(struct mos_core *c)
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
    c->have_pkt = false;
    c->flow = NULL;
    c->phase = PH_NEXT;
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
    uint32_t seq_end = p->seq + c->trk_len; /* sender space, before this edit */
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

static void expire_flows(struct mos_core *c)
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
static void end_some(struct mos_core *c)
{
    struct mos_flow *f;
    while (c->nending < ENDING_MAX && c->nev < EVQ_BATCH - 16 && (f = flow_table_next(c->ft, &c->shutdown_slot)))
        if (!f->ended)
            flow_end(c, f, FLOW_END_SHUTDOWN);
}

int core_step(struct mos_core *c, const struct mos_event **evs)
{
    /* Handlers' services (core_flow_reset -> flow_end) may have queued
     * events behind the batch the host was dispatching: they come first. */
    int late = c->nev - c->nreturned;
    if (late > 0)
        memmove(c->evq, c->evq + c->nreturned, (size_t)late * sizeof(c->evq[0]));
    c->nev = late > 0 ? late : 0;
    c->nreturned = 0;
    for (int i = 0; i < c->nspill; i++) /* they followed the late ones */
        queue_event(c, &c->spill[i]);
    c->nspill = 0;
    if (c->nraised) {
        /* events raised by handlers of the previous batch come first; the
         * flows they name are still allocated (freed below, next call) */
        for (int i = 0; i < c->nraised; i++)
            if (!c->raised[i].flow || !((struct mos_flow *)c->raised[i].flow)->ended)
                queue_event(c, &c->raised[i]);
        c->nraised = 0;
    }
    if (c->nev)
        goto out;
    free_ending(c);
    /* Packets nobody listens to never leave C, but the host must still get
     * control now and then (signals, reload, stats): at most STEP_BUDGET
     * packets per call, then return 0 as if the input were idle. */
    int budget = STEP_BUDGET;
    for (;;) {
        switch (c->phase) {
        case PH_NEXT: {
            c->have_pkt = false;
            fire_timers(c);
            expire_flows(c);
            if (c->nev)
                goto out;
            if (c->nending) { /* ended without listeners: free now */
                free_ending(c);
                continue;
            }
            if (budget-- <= 0)
                return 0;
            int rc = 0;
            int t = take_packet(c, &rc);
            if (t < 0) {
                if (rc == MOS_IO_EOF) {
                    c->phase = PH_SHUTDOWN;
                    continue;
                }
                return rc;
            }
            if (t == 0) { /* no flow work: raw-socket events, then the verdict */
                c->phase = PH_RCV_DONE;
                if (c->nev)
                    goto out;
                continue;
            }
            /* The packet moved the clock: flows that expired before it end
             * first (a SYN after a closed flow's timeout is a new flow,
             * not a port reuse). */
            c->phase = PH_FLOW;
            fire_timers(c);
            expire_flows(c);
            if (c->nev)
                goto out;
            if (c->nending)
                free_ending(c);
            continue;
        }
        case PH_FLOW: {
            bool wait = false;
            struct mos_flow *f = lookup_flow(c, &wait);
            if (wait) {
                if (c->nev)
                    goto out; /* dispatch the old flow's end; freed next step */
                free_ending(c);
                continue;
            }
            if (!f) {
                raise_raw(c, NULL);
                c->phase = PH_RCV_DONE;
                if (c->nev)
                    goto out;
                continue;
            }
            c->flow = f;
            phase_snd(c, f);
            c->phase = PH_SND_DONE;
            if (c->nev)
                goto out;
            continue;
        }
        case PH_SND_DONE:
            if (c->flow && !c->flow->ended && !c->drop)
                phase_rcv(c, c->flow);
            else if (c->flow && !c->flow->ended)
                phase_rcv_dropped(c, c->flow);
            c->phase = PH_RCV_DONE;
            if (c->nev)
                goto out;
            continue;
        case PH_RCV_DONE:
            finish_packet(c);
            continue;
        case PH_SHUTDOWN:
            c->have_pkt = false;
            fire_timers(c);
            end_some(c);
            if (c->nev)
                goto out;
            if (c->nending) {
                free_ending(c);
                continue;
            }
            if (flow_table_count(c->ft) == 0)
                return MOS_IO_EOF;
            c->shutdown_slot = 0; /* defensive: rescan rather than spin */
            continue;
        }
    }
out:
    c->nreturned = c->nev;
    *evs = c->evq;
    return c->nev;
}

/* --------------------------------------------------- handlers' services */

void core_flow_drop(struct mos_core *c, struct mos_flow *f)
{
    (void)f;
    c->drop = true;
}

/* In inline mode, tell both endpoints: a RST to each, with the sequence
 * number the receiver expects next (RFC 5961 accepts only that one without
 * a challenge ACK), through the port that leads to it. */
static void inject_resets(struct mos_core *c, struct mos_flow *f)
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

int core_flow_reset(struct mos_core *c, struct mos_flow *f)
{
    if (!f)
        return -EINVAL;
    if (f->ended)
        return MOS_E_FLOW_ENDED;
    c->ctr.flows_reset++;
    inject_resets(c, f);
    flow_end(c, f, FLOW_END_HOST);
    return 0;
}

int core_raise_event(struct mos_core *c, struct mos_flow *f, int side, int event)
{
    if (f && f->ended)
        return MOS_E_FLOW_ENDED;
    if (!f || !f->sock)
        return -EBADF;
    if (event < MOS_UDE_FIRST || !evreg_valid(c->reg, event))
        return -EINVAL;
    if (side != MOS_SIDE_CLI && side != MOS_SIDE_SVR)
        return -EINVAL;
    c->ctr.ev_ude++;
    for (int h = 0; h < MOS_HK_COUNT; h++) {
        if (!f->tree[h] || etree_find(f->tree[h], event) < 0)
            continue;
        if (c->nraised >= (int)(sizeof(c->raised) / sizeof(c->raised[0])))
            return -ENOSPC;
        c->raised[c->nraised++] = (struct mos_event){.flow = f, .event = event, .side = (uint8_t)side,
                                                     .hook = (uint8_t)h, .sock = (uint16_t)(f->sock - c->socks)};
    }
    return 0;
}

int64_t core_peek(struct mos_core *c, struct mos_flow *f, int side, uint8_t *buf, uint32_t n)
{
    if (!f)
        return -EBADF;
    if (side != MOS_SIDE_CLI && side != MOS_SIDE_SVR)
        return -EINVAL;
    return stream_buf_consume(&f->ep[side].rcv.buf, buf, n);
}

int64_t core_ppeek(struct mos_core *c, struct mos_flow *f, int side, uint64_t off, uint8_t *buf, uint32_t n)
{
    if (!f)
        return -EBADF;
    if (side != MOS_SIDE_CLI && side != MOS_SIDE_SVR)
        return -EINVAL;
    const struct stream_buf *b = &f->ep[side].rcv.buf;
    if (off >= b->head)
        return 0;
    if (off < stream_buf_held_from(b))
        return MOS_E_OVERWRITTEN; /* older than the ring */
    return stream_buf_copy(b, off, buf, n);
}

/* ----------------------------------------------- synchronous C dispatch */

void core_dispatch_c(struct mos_core *c, const struct mos_event *ev, const struct etree_host *host)
{
    if (!host)
        return;
    if (ev->event < 0) { /* timer */
        host->handler(host->ctx, ev->arg, ev);
        return;
    }
    const struct mos_tree *t = NULL;
    if (ev->flow) {
        struct mos_flow *f = (struct mos_flow *)ev->flow;
        struct mos_socket *so = sock_get(c, ev->sock);
        t = (so && so->type == MOS_SOCK_MONITOR_RAW) ? so->tree[ev->hook] : f->tree[ev->hook];
    } else {
        t = core_socket_tree(c, ev->sock, ev->hook);
    }
    if (!t)
        return;
    int start = ev->event < MOS_BUILTIN_EVENTS ? t->root[ev->event] : etree_find(t, ev->event);
    if (start < 0)
        return;
    etree_walk(t, start, ev, host, &c->ctr);
}

static void dispatch_all(struct mos_core *c, const struct mos_event *evs, int n, const struct etree_host *host)
{
    for (int i = 0; i < n; i++)
        core_dispatch_c(c, &evs[i], host);
}

/* Step and dispatch synchronously until the input is idle with the
 * pipeline back at a packet boundary (or, for a shutdown, at EOF). */
static int run_steps(struct mos_core *c, const struct etree_host *host, bool to_eof)
{
    for (;;) {
        const struct mos_event *evs;
        int n = core_step(c, &evs);
        if (n > 0) {
            dispatch_all(c, evs, n, host);
            continue;
        }
        if (n < 0)
            return n == MOS_IO_EOF ? 0 : n;
        if (!to_eof && c->phase == PH_NEXT)
            return 0;
    }
}

int core_process_frame(struct mos_core *c, const struct mos_frame *fr, const struct etree_host *host)
{
    c->injected = fr;
    return run_steps(c, host, false);
}

void core_shutdown(struct mos_core *c, const struct etree_host *host)
{
    c->io_eof = true;
    c->nframes = c->iframe = 0;
    if (c->phase == PH_NEXT)
        c->phase = PH_SHUTDOWN;
    (void)run_steps(c, host, true);
}
