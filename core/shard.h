/*
 * shard.h - keep one shard of the traffic (io.shard = I/N): the flows whose
 * symmetric flow hash falls in slice I of N (flow_hash.h).
 */
#ifndef MOS_SHARD_H
#define MOS_SHARD_H

#include <stdint.h>

#include "io.h"

/* Compact `frames` in place, in order, to the frames of shard `index` of
 * `count`; returns how many are left. Each other frame adds one to *other
 * and, when `fwd` is not NULL (inline), is sent untouched out of the port
 * opposite to the one it came in on; a frame the output refuses adds one to
 * *fwd_failed. Frames' bytes are not touched. */
int shard_keep(struct mos_frame *frames, int n, uint32_t index, uint32_t count, struct mos_io *fwd,
               uint64_t *other, uint64_t *fwd_failed);

#endif
