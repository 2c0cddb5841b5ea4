/*
 * mos_abi.h - the plain structs shared with LuaJIT's FFI.
 *
 * This file must stay parseable by ffi.cdef after its '#' lines are removed:
 * no macros in declarations, no includes needed beyond <stdint.h> types,
 * no bitfields. lua/mos/abi.lua builds its cdef from this file and
 * bindings/mos_ffi.h, so the two sides cannot drift.
 */
#ifndef MOS_ABI_H
#define MOS_ABI_H
#include <stdint.h>

struct mos_core;
struct mos_pkt;

/* Public prefix of a flow (see core/flow.h). Only LuaJIT sees the body:
 * lua/mos/abi.lua drops every '#' line, the C compiler skips the #if 0 and
 * gets the full struct from flow.h (a TU including both would otherwise
 * define struct mos_flow twice). */
struct mos_flow;
#if 0
struct mos_flow {
    uint64_t id;
    uint64_t uctx;
    uint32_t slot;
};
#endif

/* Argument of an ORPHAN event (mos_event.arg): why the stack did not take
 * the packet. Checksum drops are raised only for sockets that listen to
 * ORPHAN; the packet's headers are then readable (mos.packet()) as decoded
 * without the checksum check. */
enum mos_orphan_reason {
    MOS_ORPHAN_NO_FLOW = 0,            /* TCP packet of no flow that starts none */
    MOS_ORPHAN_BAD_IP_CHECKSUM = 1,    /* dropped by core.checksum: IPv4 header */
    MOS_ORPHAN_BAD_TCP_CHECKSUM = 2    /* dropped by core.checksum: TCP segment */
};

/* One raised event, as handed to the host's dispatcher. */
struct mos_event {
    struct mos_flow *flow;   /* NULL for ORPHAN and raw-socket PKT_IN without a flow */
    int32_t event;           /* built-in id, or a UDE id when raised explicitly */
    uint8_t side;            /* enum mos_side */
    uint8_t hook;            /* enum mos_hook */
    uint16_t sock;           /* monitor socket the event is dispatched for */
    uint64_t arg;            /* event-specific: ERROR kind, GAP length, new bytes */
};

/* An event dependency tree, flattened in depth-first order. For a raised
 * built-in event E, the walk starts at nodes[root[E]] (if >= 0) and ends at
 * that node's `skip`; a UDE node whose filter returns false is skipped to
 * its own `skip`. Handlers of node i are handlers[first_handler ..
 * first_handler + nhandlers). */
struct mos_tree_node {
    int32_t event;           /* built-in or UDE id */
    uint32_t skip;           /* index one past this node's subtree */
    uint32_t first_handler;
    uint32_t nhandlers;
    uint64_t filter;         /* UDE filter identity (0 for built-in nodes) */
    uint64_t filter_arg;
};

struct mos_tree {
    uint64_t id;             /* XOR over pairs of hash(event, handler) */
    uint32_t refs;
    uint32_t mask;           /* bit E set: built-in event E has a non-empty subtree */
    uint32_t nnodes;
    uint32_t npairs;
    struct mos_tree_node *nodes;
    uint64_t *handlers;
    int32_t root[16];        /* node index per built-in event, -1 if none */
};

/* Stream matching (core/stream_match.c, mos_matcher_* in bindings/mos_ffi.h). */
struct mos_matcher;

enum mos_pattern_kind { MOS_PAT_LITERAL = 0, MOS_PAT_REGEX = 1 };

/* One pattern: a literal (len bytes, any byte values) or a Hyperscan
 * regular expression (NUL-terminated; len is ignored). */
struct mos_pattern {
    const char *expr;
    uint32_t len;
    uint32_t id;             /* reported id, when has_id */
    uint8_t kind;            /* enum mos_pattern_kind */
    uint8_t has_id;          /* 0: the id is the pattern's 1-based position */
    uint16_t reserved;
    uint32_t line;           /* for messages: line in a pattern file, 0 if none */
};

/* One match of a scan. */
struct mos_match {
    uint64_t off;            /* stream offset just past the match's last byte */
    uint32_t id;
    uint32_t reserved;
};

struct mos_matcher_stats {
    uint64_t scans;          /* scan calls that had bytes to scan */
    uint64_t bytes_scanned;
    uint64_t matches;        /* returned by scans */
    uint64_t matches_dropped;/* beyond the per-scan limit */
    uint64_t bytes_unscanned;/* overwritten in the ring before this matcher scanned them */
    uint64_t restarts;       /* stream state restarted at a gap or lost bytes */
    uint64_t states;         /* flows this matcher holds state for now */
    uint32_t npatterns;
    uint32_t stream_size;    /* Hyperscan stream state bytes per flow side */
};

#endif
