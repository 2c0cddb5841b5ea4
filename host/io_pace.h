/*
 * io_pace.h - replay an offline capture at its own pace (io.replay_speed).
 *
 * A frame is handed out when the wall clock has advanced, since the first
 * frame, by its capture time offset divided by the speed: 1.0 replays at
 * the rate the capture was taken, 2.0 twice as fast. Used to test reload,
 * --watch and timer behaviour on a capture as it would run live.
 */
#ifndef MOS_HOST_IO_PACE_H
#define MOS_HOST_IO_PACE_H

#include "io.h"

/* Wrap `inner` (owned from now on, closed with the wrapper). speed > 0.
 * 0 or -ENOMEM (inner is then closed too). */
int io_pace_wrap(struct mos_io *inner, double speed, struct mos_io **out);

#endif
