/*
 * engine.h - one core's middlebox pipeline, as a resumable step function.
 *
 * Per packet: decode -> flow lookup/create -> sender-side update ->
 * [HK_SND dispatch] -> receiver-side update (reassembly) -> [HK_RCV and
 * HK_NONE dispatch] -> verdict (forward/drop) -> deferred flow end.
 *
 * The host drives it: core_step() runs the pipeline until a dispatch point
 * has events some handler is registered for, and returns them; the host runs
 * its handlers (C function pointers, or Lua functions in the Lua host's own
 * loop) and calls core_step() again, which resumes where it stopped. So C
 * never calls into Lua, and packets nobody listens to never leave C.
 */
#ifndef MOS_ENGINE_H
#define MOS_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "counters.h"
#include "flow.h"
#include "io.h"
#include "mos_abi.h"
#include "mos_types.h"

#define MOS_MAX_SOCKETS 64

struct mos_core;
struct event_registry;
struct event_tree_store;

int core_create(const struct mos_config *cfg, int core_id, struct mos_core **out);
/* Ends every flow without events and frees everything. */
void core_destroy(struct mos_core *c);
void core_set_io(struct mos_core *c, struct mos_io *io); /* not owned */
/* Fold the io's loss counts (io.h) into the counters; done after every
 * rx_burst, and by the host once more when a worker's loop has ended. */
void core_account_io(struct mos_core *c);

/* --- sockets and registrations (before or during the run) --- */
int core_socket(struct mos_core *c, int type);                 /* socket id >= 0 */
int core_socket_close(struct mos_core *c, int sock);
/* BPF filters compiled with libpcap; NULL leaves a filter unchanged, "" clears it. */
int core_socket_filter(struct mos_core *c, int sock, const char *syn_filter,
                       const char *raw_filter, char *err, size_t errlen);
/* Socket-level pair: applies to flows created from now on (and, for the
 * current flows of that socket, too when `existing` is true). */
int core_register(struct mos_core *c, int sock, int event, int hook, uint64_t handler, bool existing);
int core_unregister(struct mos_core *c, int sock, int event, int hook, uint64_t handler, bool existing);
/* Per-flow pair. */
int core_flow_register(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler);
int core_flow_unregister(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler);
int core_define_event(struct mos_core *c, int base, uint64_t filter, uint64_t arg);
/* Is `hook` meaningful for `event` on a socket of `type`? 0 or -EINVAL. */
int core_check_hook(struct mos_core *c, int type, int event, int hook);
struct event_registry *core_registry(struct mos_core *c);
struct event_tree_store *core_trees(struct mos_core *c);
const struct mos_tree *core_socket_tree(struct mos_core *c, int sock, int hook);

/* --- running --- */
/* > 0: that many events at *evs (valid until the next call);
 * 0: the input has nothing right now (live input);
 * MOS_IO_EOF: input exhausted and every flow ended;
 * other < 0: input error (core_error() says what). */
int core_step(struct mos_core *c, const struct mos_event **evs);
/* Feed one frame directly (tests, the C API without an io): runs the whole
 * pipeline; events go to `host` synchronously (may be NULL). */
struct etree_host;
int core_process_frame(struct mos_core *c, const struct mos_frame *fr, const struct etree_host *host);
/* End every remaining flow (flush, CONN_END), delivering events to host. */
void core_shutdown(struct mos_core *c, const struct etree_host *host);
/* Walk the right tree for one event (used by the C host's dispatch). */
void core_dispatch_c(struct mos_core *c, const struct mos_event *ev, const struct etree_host *host);
/* Last input problem as text: an error, or a warning such as a truncated
 * capture ("" when none). core_input_status() is 0, or the negative code of
 * an input error (the run should exit non-zero). */
const char *core_error(const struct mos_core *c);
int core_input_status(const struct mos_core *c);
/* Stop reading input: the following steps end every flow (CONN_END) and
 * then return MOS_IO_EOF. For SIGINT/SIGTERM; call between steps. */
void core_stop(struct mos_core *c);

/* --- for handlers, valid during a dispatch --- */
const struct mos_pkt *core_current_pkt(const struct mos_core *c); /* NULL when no packet (timeouts) */
struct mos_pkt *core_current_pkt_mut(struct mos_core *c);
uint64_t core_now(const struct mos_core *c);                      /* ns, packet clock offline */
void core_flow_drop(struct mos_core *c, struct mos_flow *f);      /* drop the current packet */
/* End the flow now. Inline, a RST goes to each endpoint (seq = what it
 * expects next) and the current packet is dropped. */
int core_flow_reset(struct mos_core *c, struct mos_flow *f);
/* Edit the current packet (inline): replace `remove` bytes at `off` of
 * `part` (enum mos_pkt_part in pkt_rewrite.h: IP header, TCP header,
 * payload) by `len` bytes. Only the payload may change size; later sequence
 * and acknowledgement numbers of the flow are then remapped in both
 * directions. Lengths and checksums are fixed. 0 or a negative code
 * (mos_error.h: MOS_E_NO_PACKET, MOS_E_PART_RANGE, MOS_E_REASSEMBLED,
 * MOS_E_SNAPLEN; -EINVAL, -EMSGSIZE). */
int core_pkt_rewrite(struct mos_core *c, int part, uint32_t off, uint32_t remove, const uint8_t *data, uint32_t len);
int core_raise_event(struct mos_core *c, struct mos_flow *f, int side, int event);
/* Stream access: side = the RECEIVING endpoint (mOS convention). ppeek
 * returns MOS_E_OVERWRITTEN for an offset older than the buffer holds, 0 at
 * or past the end of data. */
int64_t core_peek(struct mos_core *c, struct mos_flow *f, int side, uint8_t *buf, uint32_t n);
int64_t core_ppeek(struct mos_core *c, struct mos_flow *f, int side, uint64_t off, uint8_t *buf, uint32_t n);
struct mos_counters *core_counters(struct mos_core *c);
const struct mos_config *core_config(const struct mos_core *c);
/* Defaults for flows created from now on (buffers, overlap policy). */
struct mos_config *core_config_mut(struct mos_core *c);
int core_id(const struct mos_core *c);
struct mos_flow *core_flow_by_slot(struct mos_core *c, uint32_t slot);
uint32_t core_flow_slot(struct mos_core *c, const struct mos_flow *f);
/* Every allocated flow, in slot order: start with *cursor = 0; NULL at the end. */
struct mos_flow *core_flow_next(struct mos_core *c, uint32_t *cursor);
/* The core's stream matchers (stream_match.c keeps the list; the engine
 * frees their per-flow state when it releases a flow). */
struct mos_matcher **core_matchers(struct mos_core *c);
/* "Something reads every flow's stream bytes": true while a matcher exists
 * on this core. A hook for buffering decisions (a matcher scans any flow a
 * handler hands it, so its bytes must be stored). */
bool core_bytes_needed(const struct mos_core *c);
/* Timers: fire `handler` as an event MOS_ON_TIMER-like record (event -1)
 * on flow f (may be NULL) at time `at` (core clock). */
int core_set_timer(struct mos_core *c, struct mos_flow *f, uint64_t at, uint64_t handler);

#endif
