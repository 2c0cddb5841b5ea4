/*
 * shard.c - the io.shard filter (see shard.h).
 *
 * N instances that all receive the same traffic (a mirror feeding N
 * machines, or N processes on one tap) split it without talking to each
 * other: each keeps the flows whose symmetric flow hash (flow_hash_frame:
 * both directions hash alike, VLAN ids ignored, IP fragments on addresses
 * only) lands in its slice. The engine applies it right after every
 * rx_burst, for every kind of input, so the rule is the same offline, with
 * libpcap and with DPDK; frames of other shards never reach decoding, are
 * not in pkts_in, and count in pkts_other_shard. Inline, they are forwarded
 * untouched here (the instance is on the path of all traffic, and only its
 * own flows are its business).
 *
 * Consistency with the worker split: where mos-lua itself spreads frames
 * over workers (the offline readers and the distributor), it uses
 * flow_hash_split_worker(), the finer cut of the same slices, so an
 * instance's workers share exactly its shard's flows between them. Frames
 * without an IP header hash to 0: they all belong to shard 0.
 *
 * Like a worker, an instance's packet clock (offline timeouts and timers)
 * follows its own frames only.
 */
#include "shard.h"

#include "flow_hash.h"

int shard_keep(struct mos_frame *frames, int n, uint32_t index, uint32_t count, struct mos_io *fwd,
               uint64_t *other, uint64_t *fwd_failed)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        const struct mos_frame *f = &frames[i];
        if (flow_hash_worker(flow_hash_frame(f->linktype, f->data, f->caplen, 0), count) != index) {
            (*other)++;
            if (fwd && fwd->tx(fwd, (uint16_t)(f->port ^ 1), f->data, f->caplen) != 0)
                (*fwd_failed)++;
            continue;
        }
        if (k != i)
            frames[k] = frames[i];
        k++;
    }
    return k;
}
