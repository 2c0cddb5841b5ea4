/*
 * engine.c - one core's pipeline as a resumable state machine.
 *
 * core_step() advances the current packet through its phases and returns as
 * soon as a dispatch point has queued events. The host runs its handlers and
 * calls core_step() again, which resumes at the next phase. So handlers at
 * HK_SND see the stack before the receiver update, handlers at HK_RCV see it
 * after, and the verdict (forward/drop) is taken only after every handler of
 * the packet ran. Read top to bottom, a packet goes (docs/events.md):
 *
 *   next_frame      burst input and prefetch
 *   take_packet     decode (decode.c); non-TCP packets go to raw sockets
 *   flows_lookup    find or create the flow (flow_life.c, sockets.c)
 *   phase_snd       tcp_stream_send (tcp_stream.c)      -> HK_SND events
 *   phase_rcv       tcp_stream_recv (tcp_stream.c)      -> HK_RCV, HK_NONE events
 *   finish_packet   out_verdict (inline_out.c)
 *
 * and between packets timers (timers.c) fire and idle flows end.
 *
 * Invariants:
 * - An event is queued only when the flow's tree for that hook has something
 *   under it (tree->mask), so packets nobody listens to never leave C;
 *   raising counts it either way (engine_priv.h).
 * - A flow's CONN_END is its last event. Ended flows stay in memory until the
 *   host has dispatched that batch: they are freed at the start of the next
 *   step (the c->ending list), which is also why the slab has a small
 *   reserve above max_concurrency.
 * - No event is dropped: the queue grows past EVQ_BATCH when handlers end
 *   many flows at once (core_flow_reset queues their last events). While
 *   the host holds a batch the array must not move, so what is raised then
 *   waits in `spill` and joins the queue at the next step. Only a failed
 *   allocation loses an event, counted in ev_queue_lost.
 * - All state is in struct mos_core; nothing global is mutable.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_priv.h"
#include "shard.h"

/* ------------------------------------------------------------- lifecycle */

int core_create(const struct mos_config *cfg, int core_id, struct mos_core **out)
{
    struct mos_core *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->cfg = *cfg;
    c->id = core_id;
    c->next_flow_id = 1;
    if (c->cfg.run_ms == 0) { /* the host sets it once for all cores; C API users may not */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->cfg.run_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    }
    if (core_events_reserve(&c->evq, &c->evq_cap, EVQ_BATCH) < 0) {
        free(c);
        return -ENOMEM;
    }
    uint64_t timeouts[TCLASS_COUNT] = {
        [TCLASS_SYN] = cfg->timeout_syn,
        [TCLASS_ESTABLISHED] = cfg->timeout_established,
        [TCLASS_CLOSING] = cfg->timeout_closing,
        [TCLASS_TIME_WAIT] = cfg->timeout_time_wait,
    };
    int rc = flow_table_create(cfg->max_concurrency + ENDING_MAX, timeouts, &c->ctr, &c->ft);
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
    c->sout = (struct tcp_stream_out){.ev_ctr = &c->ctr.ev_pkt_in, .lost = &c->ctr.ev_queue_lost};
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

static void destroy_flow_cb(struct mos_flow *f, void *arg)
{
    flows_release(arg, f);
}

void core_destroy(struct mos_core *c)
{
    if (!c)
        return;
    flows_free_ending(c);
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

int core_events_reserve(struct mos_event **q, int *cap, int need)
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

/* ------------------------------------------------------------- the steps */

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
        core_key_policy(c, &k);
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

#define SHARD_SKIP_ROUNDS 512 /* bursts of other shards' frames read in one go (~32k frames) */

/* One rx_burst, less the frames of other shards (io.shard, shard.c). A
 * burst of other shards' frames only is not returned as "nothing right
 * now" while the input goes on: read on, up to SHARD_SKIP_ROUNDS bursts
 * (~32k frames), after which 0 lets the host poll its signals. */
static int read_burst(struct mos_core *c)
{
    for (int round = 0;; round++) {
        int n = c->io->rx_burst(c->io, c->frames, BURST);
        core_account_io(c);
        if (n <= 0 || c->cfg.shard[1] <= 1)
            return n;
        bool inline_mode = c->io->tx && c->cfg.npairs > 0;
        n = shard_keep(c->frames, n, c->cfg.shard[0], c->cfg.shard[1], inline_mode ? c->io : NULL,
                       &c->ctr.pkts_other_shard, &c->ctr.pkts_dropped_io);
        if (n > 0 || round == SHARD_SKIP_ROUNDS)
            return n;
    }
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
    int n = read_burst(c);
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
            sockets_raise_checksum_drop(c, fr, MOS_ORPHAN_BAD_IP_CHECKSUM);
        else if (c->ctr.drop_tcp_bad_checksum != bad_tcp)
            sockets_raise_checksum_drop(c, fr, MOS_ORPHAN_BAD_TCP_CHECKSUM);
        return 0;
    }
    c->have_pkt = true;
    c->owned = c->edited = false;
    c->seg.pkt = &c->pkt;
    c->seg.payload = c->pkt.payload;
    c->seg.len = c->pkt.payload_len;
    if (c->pkt.proto != 6) {
        sockets_raise_raw(c, NULL);
        return 0;
    }
    return 1;
}

/* Sender-side update (tcp_stream.c); HK_SND events. */
static void phase_snd(struct mos_core *c, struct mos_flow *f)
{
    if (c->new_flow)
        core_raise(c, f, MOS_ON_CONN_START, c->sender, CORE_HOOK(MOS_HK_SND), 0);
    tcp_stream_send(f, &c->seg, core_stream_out(c, f));
}

/* Receiver-side update (tcp_stream.c); HK_RCV and HK_NONE events, then the
 * raw sockets' PKT_IN, then the flow's timeout class for this packet. */
static void phase_rcv(struct mos_core *c, struct mos_flow *f)
{
    if (c->new_flow) {
        core_raise_again(c, f, MOS_ON_CONN_START, c->receiver, CORE_HOOK(MOS_HK_RCV), 0);
        c->new_flow = false;
    }
    tcp_stream_recv(f, &c->seg, &c->pool, core_stream_out(c, f));
    if (c->nraw)
        sockets_raise_raw(c, f);
    bool rst = c->seg.rst_accepted;
    if (rst) {
        /* Not destroyed yet: like TIME_WAIT, the flow keeps absorbing what
         * is still in flight (data after an injected RST continues its
         * sequence space, as zeek and Suricata keep one session), and ends
         * after tcp.timeout_time_wait unless a new SYN reuses the ports. */
        c->ctr.flows_reset++;
        f->end_reason = FLOW_END_RESET;
    }
    int tc = rst ? TCLASS_TIME_WAIT : flows_tclass(f);
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
    if (c->nraw)
        sockets_raise_raw(c, f);
    int tc = flows_tclass(f);
    flow_table_touch(c->ft, f, tc, c->now);
    f->tclass = (uint8_t)tc;
}

static void finish_packet(struct mos_core *c)
{
    if (c->drop || c->edited || (c->io && c->io->tx && c->cfg.npairs > 0))
        out_verdict(c); /* else nothing to send, rewrite or count */
    c->have_pkt = false;
    c->flow = NULL;
    c->phase = PH_NEXT;
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
    for (int i = 0; i < c->nspill; i++) /* queued while the host held the batch */
        core_push_event(c, (struct mos_flow *)c->spill[i].flow, c->spill[i].event, c->spill[i].side,
                        c->spill[i].hook, c->spill[i].sock, c->spill[i].arg);
    c->nspill = 0;
    if (c->nraised) {
        /* events raised by handlers of the previous batch come first; the
         * flows they name are still allocated (freed below, next call) */
        for (int i = 0; i < c->nraised; i++)
            if (!c->raised[i].flow || !((struct mos_flow *)c->raised[i].flow)->ended)
                core_push_event(c, (struct mos_flow *)c->raised[i].flow, c->raised[i].event, c->raised[i].side, c->raised[i].hook,
                                c->raised[i].sock, c->raised[i].arg);
        c->nraised = 0;
    }
    if (c->nev)
        goto out;
    flows_free_ending(c);
    /* Packets nobody listens to never leave C, but the host must still get
     * control now and then (signals, reload, stats): at most STEP_BUDGET
     * packets per call, then return 0 as if the input were idle. */
    int budget = STEP_BUDGET;
    for (;;) {
        switch (c->phase) {
        case PH_NEXT: {
            c->have_pkt = false;
            if (timers_due(c))
                timers_fire(c);
            flows_expire(c);
            if (c->nev)
                goto out;
            if (c->nending) { /* ended without listeners: free now */
                flows_free_ending(c);
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
            if (timers_due(c))
                timers_fire(c);
            flows_expire(c);
            if (c->nev)
                goto out;
            if (c->nending)
                flows_free_ending(c);
            continue;
        }
        case PH_FLOW: {
            bool wait = false;
            struct mos_flow *f = flows_lookup(c, &wait);
            if (wait) {
                if (c->nev)
                    goto out; /* dispatch the old flow's end; freed next step */
                flows_free_ending(c);
                continue;
            }
            if (!f) {
                sockets_raise_raw(c, NULL);
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
            if (timers_due(c))
                timers_fire(c);
            flows_end_some(c);
            if (c->nev)
                goto out;
            if (c->nending) {
                flows_free_ending(c);
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

int core_flow_reset(struct mos_core *c, struct mos_flow *f)
{
    if (!f)
        return -EINVAL;
    if (f->ended)
        return MOS_E_FLOW_ENDED;
    c->ctr.flows_reset++;
    out_inject_resets(c, f);
    flows_end(c, f, FLOW_END_HOST);
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
        struct mos_socket *so = sockets_get(c, ev->sock);
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
