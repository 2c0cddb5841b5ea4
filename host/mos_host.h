/*
 * mos_host.h - what the mos-lua program exports to its own Lua states.
 *
 * Parsed by LuaJIT's ffi.cdef after '#' lines are removed (lua/mos/abi.lua),
 * so: no macros in declarations. The executable is linked with exported
 * symbols, so ffi.C finds these functions. Signals only set counters; each
 * core's Lua loop polls them between steps, which is the only place a reload
 * or a stats dump can happen without splitting a packet's processing.
 */
#ifndef MOS_HOST_H
#define MOS_HOST_H

#include <stdint.h>

struct mos_host;

/* Bits of mos_host_signals(): what arrived since this core last asked. */
enum mos_host_sig { MOS_HOST_SIG_HUP = 1, MOS_HOST_SIG_USR1 = 2, MOS_HOST_SIG_STOP = 4 };

int mos_host_signals(struct mos_host *h, int core);
/* Write the --stats file now (no-op without --stats); lua_kb is this core's
 * Lua heap, remembered for the file. */
int mos_host_write_stats(struct mos_host *h, int core, double lua_kb);
/* Modification time of a file in ns, or a negative errno code. */
int64_t mos_host_mtime_ns(const char *path);

#endif
