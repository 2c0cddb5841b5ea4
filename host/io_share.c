/*
 * io_share.c - a worker's own reader of an offline capture, keeping only
 * the frames of that worker's flows (see io_share.h and the design note in
 * io_setup.c).
 *
 * Invariants:
 *   - the inner io reads straight into the caller's frame array and the
 *     kept frames are compacted in place, in capture order; their bytes
 *     belong to the inner io and stay valid until its next rx_burst, which
 *     happens only at our next rx_burst: io.h's lifetime, unchanged.
 *   - a burst whose frames all belong to other workers is not returned
 *     empty while the input goes on (0 means "nothing right now"); we read
 *     on, but after SKIP_ROUNDS such bursts in a row return 0 anyway, so a
 *     worker with few flows still lets its loop poll signals.
 *   - end of input and errors pass through with the inner io's text.
 *
 * Filtering after the inner io handed the frames out keeps io_pcap
 * unchanged: for plain pcap files it hands them out in place, and with
 * libpcap a skip before its copy saved nothing visible on a 3.2 GB capture
 * (reading and hashing dominate).
 */
#include "io_share.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define SKIP_ROUNDS 1024 /* ~32k frames of other workers: about a millisecond of reading */

struct share_io {
    struct mos_io io;          /* first: the public handle */
    struct mos_io *inner;
    unsigned worker, nshards, nworkers;
    char name[96];
};

static int share_rx_burst(struct mos_io *io, struct mos_frame *frames, int max)
{
    struct share_io *sh = (struct share_io *)io;
    for (int round = 0; round < SKIP_ROUNDS; round++) {
        int n = sh->inner->rx_burst(sh->inner, frames, max);
        if (n <= 0) {
            if (n < 0 && sh->inner->err[0])
                snprintf(io->err, sizeof(io->err), "%s", sh->inner->err);
            return n;
        }
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (io_share_worker(&frames[i], sh->nshards, sh->nworkers) != sh->worker)
                continue;
            if (k != i)
                frames[k] = frames[i];
            k++;
        }
        if (k > 0)
            return k;
    }
    return 0;
}

static void share_close(struct mos_io *io)
{
    struct share_io *sh = (struct share_io *)io;
    if (sh->inner->close)
        sh->inner->close(sh->inner);
    free(sh);
}

int io_share_wrap(struct mos_io *inner, unsigned worker, unsigned nshards, unsigned nworkers, struct mos_io **out)
{
    struct share_io *sh = calloc(1, sizeof(*sh));
    if (!sh) {
        if (inner->close)
            inner->close(inner);
        return -ENOMEM;
    }
    sh->inner = inner;
    sh->worker = worker;
    sh->nshards = nshards;
    sh->nworkers = nworkers;
    snprintf(sh->name, sizeof(sh->name), "%.64s (worker %u/%u)", inner->name ? inner->name : "input",
             worker, nworkers);
    sh->io.rx_burst = share_rx_burst;
    sh->io.tx = NULL;
    sh->io.close = share_close;
    sh->io.name = sh->name;
    *out = &sh->io;
    return 0;
}
