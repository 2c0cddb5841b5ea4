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

/* Progress of one core's Lua code, read by the watchdog thread
 * (host/watchdog.c) without any locking: the Lua side only stores into it
 * (plain aligned stores, no FFI call), so it costs nothing measurable.
 * Before each handler/filter/timer call: call = a new value, handler = the
 * function's id; after it: handler = 0. Negative handler ids mark the
 * script's top level (-1, while loading) and on_exit functions (-2). */
struct mos_host_progress {
    double call;
    double lua_kb;       /* this core's Lua heap, republished every few batches */
    int32_t handler;
    int32_t pad;
};

/* This core's progress block (never NULL for a valid core). */
struct mos_host_progress *mos_host_progress(struct mos_host *h, int core);
/* Tell the watchdog the "file:line" of a function id, for its reports
 * (copied; called when an id is created). */
int mos_host_name_handler(struct mos_host *h, int core, int id, const char *where);
/* Write the --stats file now (no-op without --stats); lua_kb is this core's
 * Lua heap, remembered for the file. */
int mos_host_write_stats(struct mos_host *h, int core, double lua_kb);
/* 1 the first time any worker passes this message text, 0 after: the
 * workers of one capture meet its end (or its truncation) alike, and the
 * user should read about it once. */
int mos_host_once(struct mos_host *h, const char *msg);
/* Hand one encoded log line (JSON, no trailing newline) to the log output
 * (log.output, host/log_sink.c). Never blocks on the output: 0, or
 * -ENOBUFS when log.buffer is full (the record is dropped and counted in
 * log_records_dropped). Any thread. */
int mos_log_write(struct mos_host *h, const char *line, uint32_t len);
/* Modification time of a file in ns, or a negative errno code. */
int64_t mos_host_mtime_ns(const char *path);

#endif
