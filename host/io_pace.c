/*
 * io_pace.c - an offline io that hands frames out no faster than their
 * capture timestamps allow (see io_pace.h).
 *
 * Design: the wrapper reads a burst from the inner io and keeps it; each
 * rx_burst returns the prefix of the kept frames that is due now (wall
 * clock since the first frame >= capture offset / speed). When nothing is
 * due it sleeps until the next frame is, but never longer than
 * MAX_WAIT_NS, and returns 0 ("nothing right now"), so the worker's loop
 * serves signals, reloads and timers while the replay waits.
 *
 * Invariants:
 *   - the inner io is asked for more frames only when every kept frame has
 *     been handed out, so the kept frames' bytes stay valid (io.h: until the
 *     next rx_burst on the inner io), and frames we returned live until our
 *     next call, as io.h promises;
 *   - frames whose timestamp goes backwards are due at once (the pace never
 *     waits for a frame that is already late);
 *   - end of input and errors pass through with the inner io's text.
 */
#include "io_pace.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEEP 64
#define MAX_WAIT_NS 10000000ull /* 10 ms: the loop gets control at least this often */

struct pace_io {
    struct mos_io io;          /* first: the public handle */
    struct mos_io *inner;
    double speed;
    struct mos_frame kept[KEEP];
    int nkept, next;
    bool started;
    uint64_t ts0, wall0;       /* first frame's capture time, wall time then */
    char name[96];
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall time at which frame f is due. */
static uint64_t due_at(const struct pace_io *p, const struct mos_frame *f)
{
    if (f->ts_ns <= p->ts0)
        return p->wall0;
    return p->wall0 + (uint64_t)((double)(f->ts_ns - p->ts0) / p->speed);
}

static int pace_rx_burst(struct mos_io *io, struct mos_frame *frames, int max)
{
    struct pace_io *p = (struct pace_io *)io;
    if (p->next >= p->nkept) {
        int n = p->inner->rx_burst(p->inner, p->kept, KEEP);
        io->dropped = p->inner->dropped;
        io->rx_missed = p->inner->rx_missed;
        if (n <= 0) {
            if (n < 0 && p->inner->err[0])
                snprintf(io->err, sizeof(io->err), "%s", p->inner->err);
            return n;
        }
        p->nkept = n;
        p->next = 0;
        if (!p->started) {
            p->started = true;
            p->ts0 = p->kept[0].ts_ns;
            p->wall0 = mono_ns();
        }
    }
    uint64_t now = mono_ns();
    int k = 0;
    while (k < max && p->next < p->nkept && due_at(p, &p->kept[p->next]) <= now)
        frames[k++] = p->kept[p->next++];
    if (k > 0)
        return k;
    uint64_t wait = due_at(p, &p->kept[p->next]) - now;
    if (wait > MAX_WAIT_NS)
        wait = MAX_WAIT_NS;
    struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
    nanosleep(&ts, NULL);
    return 0;
}

static void pace_close(struct mos_io *io)
{
    struct pace_io *p = (struct pace_io *)io;
    if (p->inner->close)
        p->inner->close(p->inner);
    free(p);
}

int io_pace_wrap(struct mos_io *inner, double speed, struct mos_io **out)
{
    struct pace_io *p = calloc(1, sizeof(*p));
    if (!p) {
        if (inner->close)
            inner->close(inner);
        return -ENOMEM;
    }
    p->inner = inner;
    p->speed = speed;
    snprintf(p->name, sizeof(p->name), "%.64s (paced)", inner->name ? inner->name : "input");
    p->io.rx_burst = pace_rx_burst;
    p->io.tx = NULL; /* offline captures only */
    p->io.close = pace_close;
    p->io.name = p->name;
    *out = &p->io;
    return 0;
}
