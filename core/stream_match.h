/*
 * stream_match.h - multi-pattern matching over reassembled streams
 * (Hyperscan streaming mode), with its per-flow, per-side state.
 *
 * A matcher belongs to one core (one thread). It scans, on request, the
 * bytes of a flow side's stream buffer it has not scanned yet, across
 * segment boundaries, never across a gap; see stream_match.c for the design.
 * The exported C ABI (mos_matcher_*) wraps these in bindings/mos_ffi.c; the
 * structs are in mos_abi.h so LuaJIT sees the same layout.
 */
#ifndef MOS_STREAM_MATCH_H
#define MOS_STREAM_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "mos_abi.h"

struct mos_core;
struct mos_flow;

/* At most this many matches are returned by one scan; more are counted in
 * matches_dropped (a pattern like "a" on a megabyte of 'a' must not take
 * unbounded memory). */
#define STREAM_MATCH_MAX_RESULTS 65536
/* Longest pattern-file line (and literal) accepted. */
#define STREAM_MATCH_MAX_LINE 8192

/* Compile n patterns for core c. 0, or a negative errno-style code with a
 * message naming the bad pattern in err. */
int stream_match_create(struct mos_core *c, const struct mos_pattern *p, uint32_t n,
                        struct mos_matcher **out, char *err, size_t errlen);
/* Compile a pattern file (format: stream_match.c, lua/README.md); errors
 * name the file and line. */
int stream_match_load(struct mos_core *c, const char *path, struct mos_matcher **out,
                      char *err, size_t errlen);
/* Frees every per-flow state of m too. Must run before its core is destroyed. */
void stream_match_destroy(struct mos_matcher *m);
/* Scan the bytes of flow f's side `side` (the receiving endpoint) that m has
 * not scanned yet. Returns the number of matches (<= STREAM_MATCH_MAX_RESULTS,
 * valid at stream_match_results() until m's next scan), or a negative code:
 * -EINVAL bad side, -ENOTSUP the side is not buffered, -ENOMEM, -ENODEV the
 * core is gone. f must be a flow of m's core. */
int stream_match_scan(struct mos_matcher *m, struct mos_flow *f, int side);
const struct mos_match *stream_match_results(const struct mos_matcher *m);
void stream_match_stats(const struct mos_matcher *m, struct mos_matcher_stats *out);
/* For the engine. The flow in `slot` is being released: free every
 * matcher's state for it (list: *core_matchers(c)). */
void stream_match_flow_end(struct mos_matcher *list, const struct mos_flow *f, uint32_t slot);
/* The core is being destroyed: its matchers forget it (scans then fail). */
void stream_match_core_gone(struct mos_matcher *list);

#endif
