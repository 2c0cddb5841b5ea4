/*
 * flow.h - one tracked connection: both endpoints' inferred TCP state and
 * their receive streams.
 *
 * The first members form the public prefix that core/mos_abi.h declares
 * for LuaJIT (struct mos_flow { uint64_t id; uint64_t uctx; uint32_t slot; ... }); keep them
 * first and in this order.
 */
#ifndef MOS_FLOW_H
#define MOS_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "mos_types.h"
#include "tcp_reasm.h"

struct mos_tree;
struct mos_socket;
struct seq_remap;

/* Field order packs the small members together (no padding holes): at
 * 100k+ concurrent flows every packet's flow is a cache miss, so bytes per
 * flow are cache lines per packet. */
struct mos_endpoint {
    uint8_t state;          /* enum mos_tcp_state, as inferred by the middlebox */
    bool isn_set;           /* this side's ISN is known (saw its SYN, or picked up) */
    bool fin_sent;
    bool syn_sent;
    int8_t wscale;          /* -1 unknown / not negotiated */
    bool ack_set;
    uint32_t isn;           /* this side's initial sequence number */
    uint32_t snd_nxt;       /* highest seq + len (+SYN/FIN) this side has sent */
    uint32_t snd_una;       /* highest ack the peer has sent for this side's data */
    uint32_t fin_seq;       /* sequence number of this side's FIN */
    uint32_t rcv_wnd;       /* last window this side advertised (scaled) */
    uint32_t last_ack;      /* last ack number this side sent */
    uint64_t pkts, bytes;   /* packets / payload bytes this side SENT */
    struct tcp_reasm rcv;   /* bytes this side RECEIVES (sent by the peer) */
};

struct mos_flow {
    /* --- public prefix (mirrored in core/mos_abi.h) --- */
    uint64_t id;            /* unique per core, never reused */
    uint64_t uctx;          /* mtcp_set_uctx / host context */
    uint32_t slot;          /* place in the flow table's slab (flow_table_slot); reused after the
                             * flow is freed, so (slot, id) names a flow: Lua's flow.ctx is an
                             * array indexed by slot, checked against id */
    /* --- private. What every packet reads comes first (lookup: hash,
     * hnext, key; then flags, LRU links, socket, trees): at 100k+ concurrent
     * flows each packet's flow is a cache miss, so the layout decides how
     * many lines a packet costs. The small members after the key fill the
     * 46-byte key's tail up to the next pointer (no padding holes). --- */
    uint32_t hash;
    struct mos_flow *hnext;           /* hash chain (flow_table.c) */
    struct mos_flow_key key;
    uint8_t tclass;                   /* timeout class (flow_table.c) */
    uint8_t cli_end;        /* which key end (0/1) is the client */
    uint8_t handshake;      /* enum mos_handshake */
    bool syn_data_pending;  /* data on a SYN waiting for its ACK */
    bool ended;             /* CONN_END queued */
    bool drop;              /* current packet verdict (inline) */
    uint8_t end_reason;     /* enum flow_end_reason */
    uint8_t core;
    uint8_t stop_mon;       /* bit per side: no more events for that side (MOS_STOP_MON) */
    uint8_t last_sender;    /* side that sent the flow's latest packet */
    struct mos_flow *lprev, *lnext;   /* idle list of its timeout class (flow_table.c) */
    uint64_t first_ts, last_ts;
    struct mos_socket *sock;          /* owning stream socket, or NULL */
    struct mos_tree *tree[MOS_HK_COUNT];
    uint8_t *syn_data;      /* payload of the client's SYN, held until the SYN/ACK says whether it was accepted */
    struct seq_remap *remap; /* inline size-changing edits; NULL until the first */
    uint32_t syn_data_len;
    struct mos_endpoint ep[2];        /* [MOS_SIDE_CLI], [MOS_SIDE_SVR] */
    struct mos_flow *end_next;        /* ended, awaiting release (engine.c) */
};

enum flow_end_reason {
    FLOW_END_NONE = 0, FLOW_END_CLOSE, FLOW_END_RESET, FLOW_END_TIMEOUT,
    FLOW_END_EVICTED, FLOW_END_PORT_REUSE, FLOW_END_SHUTDOWN, FLOW_END_HOST
};

/* Side of the packet's sender: MOS_SIDE_CLI or MOS_SIDE_SVR. */
static inline int flow_sender_side(const struct mos_flow *f, int key_dir) {
    return key_dir == f->cli_end ? MOS_SIDE_CLI : MOS_SIDE_SVR;
}

#endif
