/*
 * io_share.h - shared-nothing offline input: each worker reads the whole
 * capture through its own io and keeps only the frames of its flows.
 *
 * The worker a frame belongs to is io_share_worker(): the symmetric flow
 * hash of the frame (flow_hash_frame, ports ignored for IP fragments,
 * 0 for frames without an IP header) mapped onto n workers, inside the
 * instance's shard when io.shard cuts the traffic into several
 * (flow_hash_split_worker: shard first, then workers). The software
 * distributor (io_setup.c) uses the same function, so a flow lands on the
 * same worker whichever of the two reads the capture.
 */
#ifndef MOS_HOST_IO_SHARE_H
#define MOS_HOST_IO_SHARE_H

#include "flow_hash.h"
#include "io.h"

static inline unsigned io_share_worker(const struct mos_frame *f, unsigned nshards, unsigned nworkers)
{
    return flow_hash_split_worker(flow_hash_frame(f->linktype, f->data, f->caplen, 0), nshards, nworkers);
}

/* Wrap `inner` (an offline io of its own, owned from now on and closed
 * with the wrapper) so that rx_burst returns only the frames
 * io_share_worker() gives to `worker` out of `nworkers` (of `nshards`
 * shards). The others are skipped before the caller sees them: not counted
 * anywhere (the frames of other shards among the kept ones are counted by
 * the engine's shard filter, once). 0 or -ENOMEM (inner is then closed too). */
int io_share_wrap(struct mos_io *inner, unsigned worker, unsigned nshards, unsigned nworkers, struct mos_io **out);

#endif
