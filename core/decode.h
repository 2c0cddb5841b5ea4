/*
 * decode.h - frame -> struct mos_pkt.
 *
 * Link types: Ethernet (1) with 802.1Q/802.1ad/QinQ tags, Linux SLL (113)
 * and SLL2 (276), raw IP (12, 14, 101), IPv4 (228), IPv6 (229), BSD
 * NULL (0) and LOOP (108). IPv4 with options and fragments, IPv6 with its
 * extension-header chain and fragments, TCP with options, UDP, ICMP/ICMPv6.
 * Bytes past the IP total length (Ethernet padding) are never payload; bytes
 * past the capture length are never invented.
 */
#ifndef MOS_DECODE_H
#define MOS_DECODE_H

#include <stdint.h>

#include "counters.h"
#include "mos_types.h"

struct ip_frag;

struct decoder {
    int checksum;                 /* enum mos_checksum_policy */
    struct ip_frag *frag;         /* NULL: fragments are not reassembled (counted frags_bad) */
    struct mos_counters *ctr;
    uint64_t csum_bad_seen;       /* auto policy bookkeeping */
    uint64_t csum_offload_seen;
};

enum decode_result {
    DECODE_OK = 0,        /* *out is a packet to process */
    DECODE_HELD = 1,      /* a fragment was stored; nothing to process yet */
    DECODE_NOT_IP = 2,    /* valid frame but not IP (ARP...): counted, skip */
};

/* Returns enum decode_result, or a negative errno-style code (-EINVAL,
 * -EPROTO...) after incrementing exactly one drop_* counter. */
int decode_frame(struct decoder *d, int linktype, const uint8_t *frame, uint32_t caplen,
                 uint32_t wirelen, uint64_t ts_ns, struct mos_pkt *out);

/* Best-effort flow key of a frame, with no checks beyond bounds, no
 * counters and no checksums: it lets the engine prefetch a packet's flow
 * while earlier packets are processed. Fills *k as mos_flow_key_from_pkt
 * would for the decoded packet and returns 0 for unfragmented IPv4 and
 * IPv6 (no extension headers) TCP on Ethernet (VLAN tags allowed) or raw
 * IP; -1 otherwise. Only a hint: a wrong key costs a useless prefetch. */
int decode_flow_hint(int linktype, const uint8_t *frame, uint32_t caplen, struct mos_flow_key *k);

/* Internet checksum helpers, also used when rewriting packets. */
uint16_t decode_ipv4_checksum(const uint8_t *ip, uint32_t ihl_bytes);
uint16_t decode_l4_checksum(const struct mos_pkt *p, const uint8_t *l4, uint32_t l4_len);

#endif
