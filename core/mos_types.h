/*
 * mos_types.h - vocabulary shared by every core module: sides, hooks, events,
 * TCP states, the flow key and the decoded packet.
 *
 * Everything here is plain data; no module state lives in this header.
 * Side numbering follows mOS: a side names an endpoint's *stack*, and the
 * stream buffer of a side holds the bytes that endpoint RECEIVES (so the
 * client-to-server byte stream is ep[MOS_SIDE_SVR].rcv).
 */
#ifndef MOS_TYPES_H
#define MOS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monitor socket types (mOS names). */
enum mos_sock_type { MOS_SOCK_MONITOR_STREAM = 1, MOS_SOCK_MONITOR_RAW = 2 };

enum mos_side { MOS_SIDE_CLI = 0, MOS_SIDE_SVR = 1, MOS_SIDE_BOTH = 2 };

/* Where a handler runs in the per-packet order:
 * sender update -> HK_SND -> receiver update -> HK_RCV -> HK_NONE -> verdict. */
enum mos_hook { MOS_HK_SND = 0, MOS_HK_RCV = 1, MOS_HK_NONE = 2, MOS_HK_COUNT = 3 };

/* Built-in events. Their ids are bit positions in a tree's event mask;
 * user-defined events get ids from MOS_UDE_FIRST upwards. */
#define MOS_EVENT_LIST(X)                                                        \
    X(PKT_IN, 0)                                                                 \
    X(CONN_START, 1)                                                             \
    X(CONN_NEW_DATA, 2)                                                          \
    X(CONN_END, 3)                                                               \
    X(TCP_STATE_CHANGE, 4)                                                       \
    X(REXMIT, 5)                                                                 \
    X(REXMIT_INCONSISTENT, 6)                                                    \
    X(GAP, 7)                                                                    \
    X(ORPHAN, 8)                                                                 \
    X(ERROR, 9)

enum mos_event_id {
#define MOS_EV_ENUM(name, n) MOS_ON_##name = n,
    MOS_EVENT_LIST(MOS_EV_ENUM)
#undef MOS_EV_ENUM
    MOS_BUILTIN_EVENTS = 10,
    MOS_UDE_FIRST = 32
};

/* Argument of an ERROR event (mos_event.arg). */
enum mos_error_kind {
    MOS_ERR_BUF_OVERFLOW = 1, /* unread bytes overwritten: the script read too slowly */
    MOS_ERR_OOO_WINDOW = 2,   /* out-of-order bytes beyond the per-flow window, forced a gap */
    MOS_ERR_MEMCAP = 3,       /* global reassembly memcap reached, forced a gap */
};

#define MOS_TCP_STATE_LIST(X)                                                    \
    X(CLOSED, 0)                                                                 \
    X(LISTEN, 1)                                                                 \
    X(SYN_SENT, 2)                                                               \
    X(SYN_RCVD, 3)                                                               \
    X(ESTABLISHED, 4)                                                            \
    X(FIN_WAIT_1, 5)                                                             \
    X(FIN_WAIT_2, 6)                                                             \
    X(CLOSE_WAIT, 7)                                                             \
    X(CLOSING, 8)                                                                \
    X(LAST_ACK, 9)                                                               \
    X(TIME_WAIT, 10)

enum mos_tcp_state {
#define MOS_ST_ENUM(name, n) MOS_TCP_##name = n,
    MOS_TCP_STATE_LIST(MOS_ST_ENUM)
#undef MOS_ST_ENUM
    MOS_TCP_STATE_COUNT = 11
};

const char *mos_tcp_state_name(int state); /* "TIME_WAIT"; "?" if out of range */
const char *mos_event_name(int event);     /* "CONN_START"; "UDE" for ids >= MOS_UDE_FIRST */

/* How a connection began, as reported in flowdump. */
enum mos_handshake { MOS_HS_3WAY = 0, MOS_HS_SIMULTANEOUS = 1, MOS_HS_NONE = 2 };

#define MOS_MAX_VLAN 3

#define MOS_TCP_FIN 0x01
#define MOS_TCP_SYN 0x02
#define MOS_TCP_RST 0x04
#define MOS_TCP_PSH 0x08
#define MOS_TCP_ACK 0x10
#define MOS_TCP_URG 0x20
#define MOS_TCP_ECE 0x40
#define MOS_TCP_CWR 0x80

/* Bidirectional flow key. Addresses are 16 bytes; IPv4 uses the first 4 and
 * zeroes the rest, so memcmp/hash over the whole struct is well defined.
 * Canonical form: (addr[0],port[0]) <= (addr[1],port[1]) bytewise, so both
 * directions of a connection produce the same key. */
struct mos_flow_key {
    uint8_t addr[2][16];
    uint16_t port[2];  /* host byte order */
    uint16_t vlan[MOS_MAX_VLAN];
    uint8_t nvlan;
    uint8_t ip_ver;    /* 4 or 6 */
    uint8_t proto;     /* IPPROTO_TCP, ... */
    uint8_t pad;       /* always 0 */
};

/* A decoded packet. Pointers refer to the frame, or to the reassembled
 * datagram when the packet was rebuilt from IP fragments (reassembled = true);
 * they stay valid until the next packet is decoded on the same core. */
struct mos_pkt {
    uint64_t ts_ns;            /* capture time, ns since the epoch */
    const uint8_t *frame;      /* the frame as captured */
    uint32_t caplen, wirelen;
    int linktype;              /* DLT_* of the frame */

    const uint8_t *l3;         /* IP header (in frame or reassembly buffer) */
    uint32_t l3_len;           /* captured bytes from l3 on, clipped to the IP total length */
    const uint8_t *l4;         /* transport header */
    uint32_t l4_len;           /* captured bytes from l4 on, clipped to the IP payload length */
    uint32_t l2_len;           /* bytes before l3 in the frame */

    uint8_t ip_ver, proto, ttl;
    bool reassembled;          /* rebuilt from IP fragments */
    uint8_t nvlan;
    uint16_t vlan[MOS_MAX_VLAN];
    uint8_t src[16], dst[16];  /* IPv4 in the first 4 bytes, rest zero */
    uint16_t sport, dport;     /* host order; 0 for non-TCP/UDP */

    /* TCP only */
    uint32_t seq, ack;
    uint8_t tcp_flags;
    uint16_t win;              /* raw, unscaled */
    uint16_t urg;
    uint16_t mss;              /* 0 if absent */
    int8_t wscale;             /* -1 if absent; else shift as sent (may exceed 14) */
    bool sack_perm, has_ts;
    uint32_t tsval, tsecr;
    uint8_t nsack;             /* SACK blocks parsed (<= 4) */
    uint8_t sack_off;          /* with nsack: offset of sack[0][0] in the TCP header */
    uint32_t sack[4][2];

    const uint8_t *payload;    /* transport payload as captured */
    uint32_t payload_len;      /* captured payload bytes (never more than exist in the frame) */
    uint32_t payload_wire_len; /* payload length per the IP header; > payload_len when snaplen cut it */

    /* ICMP only */
    uint8_t icmp_type, icmp_code;
};

/* Fill a canonical key from a packet; returns the direction: 0 when the
 * packet's source is key end 0, 1 when it is key end 1. */
int mos_flow_key_from_pkt(const struct mos_pkt *p, struct mos_flow_key *key);

#endif
