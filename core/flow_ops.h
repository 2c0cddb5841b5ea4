/*
 * flow_ops.h - what a handler may do to or learn about a flow, once for
 * every binding: options (get/set, with their side and value checks),
 * stream buffer information and gaps, endpoint addresses, the current
 * packet and its rewrite.
 *
 * bindings/mos_ffi.c (Lua) and bindings/mtcp_api.c (mOS C API) are thin
 * translations of these: names, error convention (-errno vs -1/errno) and
 * output structs are theirs; checks and semantics are here.
 *
 * Side = the RECEIVING endpoint's stack (mOS convention), MOS_SIDE_CLI or
 * MOS_SIDE_SVR; MOS_SIDE_BOTH only where an option says so.
 */
#ifndef MOS_FLOW_OPS_H
#define MOS_FLOW_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "flow.h"
#include "tcp_reasm.h"

struct mos_core;

enum flow_opt {
    /* per side: the side's receive stream is stored (0/1). Either way at
     * any time, also with segments held out of order (flow_ops.c says what
     * happens to them); turning it back on stores from the next in-order
     * byte: earlier bytes were never stored and are never returned. */
    FLOW_OPT_BUF = 1,
    FLOW_OPT_OVERLAP,  /* per side (set: also MOS_SIDE_BOTH): enum mos_overlap_policy */
    FLOW_OPT_STATE,    /* per side, read only: enum mos_tcp_state */
    FLOW_OPT_STOP_MON, /* per side or MOS_SIDE_BOTH, set only (value 1): no more events for that side */
    FLOW_OPT_UCTX,     /* the flow (side ignored): the user context word */
};

/* 0, or -EINVAL (side or value out of range), -ENOPROTOOPT (unknown
 * option), -EPERM (read-only / write-only option), -EBADF (no flow). */
int flow_ops_get(const struct mos_flow *f, int opt, int side, int64_t *out);
int flow_ops_set(struct mos_core *c, struct mos_flow *f, int opt, int side, int64_t value);
/* The defaults of flows created from now on (FLOW_OPT_BUF, FLOW_OPT_OVERLAP). */
int flow_ops_set_default(struct mos_core *c, int opt, int side, int64_t value);

/* Switch storage of one side's receive stream: the one place this
 * transition happens (see FLOW_OPT_BUF). */
int flow_ops_set_buffering(struct mos_core *c, struct mos_flow *f, int side, bool on);

struct flow_buf_info {
    bool buffered;
    uint64_t next;          /* stream offset of the next expected byte */
    uint64_t delivered;     /* delivered offset: in-order bytes so far, gaps excluded */
    uint64_t unread;
    uint64_t lost;          /* unread bytes overwritten */
    uint64_t gap_bytes;
    uint32_t ngaps, ngaps_total, rexmit, rexmit_inconsistent, ooo_held, bufsize;
};
int flow_ops_buf_info(const struct mos_flow *f, int side, struct flow_buf_info *out);
/* Copies min(n, listed) gaps; returns the number listed (> n: call again). */
int flow_ops_gaps(const struct mos_flow *f, int side, struct reasm_gap *out, uint32_t n);

struct flow_endpoint {
    uint8_t ip_ver;
    uint8_t addr[16];       /* IPv4 in the first 4 bytes */
    uint16_t port;          /* host order */
};
int flow_ops_endpoint(const struct mos_flow *f, int side, struct flow_endpoint *out);
/* "198.18.0.1:80", "[2001:db8::1]:80"; len >= FLOW_OPS_ENDPOINT_LEN. Returns the length. */
#define FLOW_OPS_ENDPOINT_LEN 56
int flow_ops_endpoint_str(const struct mos_flow *f, int side, char *buf, uint32_t len);
/* Text form of a 4- or 16-byte address (len >= 46); returns the length. */
int flow_ops_addr_str(int ip_ver, const uint8_t *addr, char *buf, uint32_t len);

/* The flow's event tree at `hook` (NULL: no flow, or hook out of range). */
const struct mos_tree *flow_ops_tree(const struct mos_flow *f, int hook);

/* The packet being processed: 0 and *p, or MOS_E_NO_PACKET outside a packet. */
int flow_ops_pkt(struct mos_core *c, const struct mos_pkt **p);
/* Edit the current packet (core_pkt_rewrite); f, when given, must be its flow (-EINVAL). */
int flow_ops_rewrite(struct mos_core *c, const struct mos_flow *f, int part, uint32_t off, uint32_t remove,
                     const uint8_t *data, uint32_t len);

/* The flow's identity as NUL-terminated text: its uid, unique across
 * cores, instances and restarts (flow_uid.c), or its Community ID v1
 * (community_id.c). Returns the length written, or a negative code. */
#define FLOW_OPS_ID_LEN 32 /* >= FLOW_UID_LEN and COMMUNITY_ID_LEN */
int flow_ops_uid(struct mos_core *c, const struct mos_flow *f, char *buf, uint32_t len);
int flow_ops_community_id(struct mos_core *c, const struct mos_flow *f, char *buf, uint32_t len);

#endif
