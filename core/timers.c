/*
 * timers.c - handler timers of one core: a binary min-heap on the firing
 * time (core clock: packet time offline, wall time live).
 *
 * Design: a timer names its flow by slot and id, not by pointer, so a timer
 * that outlives its flow (slot reused by another flow, or freed) is simply
 * dropped when it comes due; nothing has to cancel timers when a flow ends.
 * Invariants: at most TIMERS_MAX pending (core_set_timer says -ENOSPC);
 * timers_fire never fills more than half the event queue, so flow events of
 * the same step still fit.
 */
#include <errno.h>
#include <stdlib.h>

#include "engine_priv.h"

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
void timers_start_clock(struct mos_core *c, uint64_t t0)
{
    for (uint32_t i = 0; i < c->ntimers; i++)
        c->timers[i].at += t0;
}

/* Fire due timers as events with event = -1 and arg = handler identity.
 * Nothing is due before the clock has started (the first packet). */
void timers_fire(struct mos_core *c)
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
        core_push_event(c, f, -1, MOS_SIDE_CLI, MOS_HK_NONE, f && f->sock ? (int)(f->sock - c->socks) : 0, t.handler);
    }
}
