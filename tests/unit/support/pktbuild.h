/*
 * pktbuild.h - tiny packet builders and a classic-pcap writer for tests.
 *
 * Build a frame from a zero-initialised spec; unset fields get sane
 * defaults, so a test states only what it checks:
 *
 *     uint8_t f[PKT_MAX];
 *     struct pkt_spec s = { .src = "10.0.0.1", .dst = "10.0.0.2",
 *                           .sport = 1234, .dport = 80, .seq = 1000,
 *                           .flags = PKT_SYN, .mss = 1460 };
 *     size_t n = pkt_build(f, &s);          // Ethernet/IPv4/TCP, checksums right
 *
 * Addresses are strings; a ':' makes the packet IPv6. Checksums are computed
 * here independently of core/decode.c (so tests can check the decoder's).
 * All builders return the number of bytes written (0 on a bad spec); `buf`
 * must hold PKT_MAX bytes.
 */
#ifndef MOS_TEST_PKTBUILD_H
#define MOS_TEST_PKTBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PKT_MAX 70000 /* largest IP datagram + link headers */

#define PKT_FIN 0x01
#define PKT_SYN 0x02
#define PKT_RST 0x04
#define PKT_PSH 0x08
#define PKT_ACK 0x10
#define PKT_URG 0x20

enum pkt_csum {
    PKT_CSUM_OK = 0,      /* correct */
    PKT_CSUM_BAD = 1,     /* correct value xor 0x5a5a: wrong, and not an offload pattern */
    PKT_CSUM_OFFLOAD = 2, /* folded pseudo-header sum only, as TX offload leaves it */
    PKT_CSUM_ZERO = 3,    /* 0x0000 */
};

struct pkt_spec {
    const char *src, *dst;   /* "10.0.0.1" / "2001:db8::1"; default 10.0.0.1 -> 10.0.0.2 */
    uint8_t proto;           /* 0 or 6: TCP; 17: UDP; 1 / 58: ICMP echo request */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;           /* PKT_* TCP flags */
    uint16_t win;            /* 0 means 65535 */
    uint16_t urg;
    /* TCP options, emitted as MSS, SACK-perm, timestamps, wscale, SACK, then
     * NOP-padded to a multiple of 4 */
    uint16_t mss;            /* 0: absent */
    bool has_wscale;
    uint8_t wscale;
    bool sack_perm;
    bool has_ts;
    uint32_t tsval, tsecr;
    uint8_t nsack;           /* 0..4 */
    uint32_t sack[4][2];
    const uint8_t *tcp_opts_raw; /* if set, replaces the options above verbatim */
    uint8_t tcp_opts_raw_len;    /* must be a multiple of 4 */
    const void *payload;
    uint32_t payload_len;
    /* IP */
    uint8_t ttl;             /* 0 means 64 */
    uint16_t ip_id;
    bool df;
    const uint8_t *ip_opts;  /* IPv4 options, ip_opts_len a multiple of 4 (<= 40) */
    uint8_t ip_opts_len;
    uint8_t n_ext6;          /* IPv6 extension headers before the transport header */
    uint8_t ext6_type[4];    /* 0 hop-by-hop, 43 routing, 60 dest opts, 51 AH */
    uint8_t ext6_len[4];     /* bytes, multiple of 8 (of 4 for AH), contents zero */
    bool bad_ip_csum;
    int l4_csum;             /* enum pkt_csum */
    /* link */
    uint8_t nvlan;           /* Ethernet tags, outermost first (up to 4) */
    uint16_t vlan[4];
    uint16_t tpid[4];        /* 0 means 0x8100 */
    uint32_t pad_to;         /* pad the Ethernet frame with zeros to this length */
};

/* Ethernet frame (with spec's VLAN tags). */
size_t pkt_build(uint8_t *buf, const struct pkt_spec *s);
/* The IP datagram alone (no link header). */
size_t pkt_build_ip(uint8_t *buf, const struct pkt_spec *s);
/* Frame for a DLT: 1 Ethernet, 113 SLL, 276 SLL2, 12/14/101/228/229 raw,
 * 0 NULL (AF in host order), 108 LOOP (AF in network order). */
size_t pkt_build_link(uint8_t *buf, int linktype, const struct pkt_spec *s);
/* Bytes before the IP header in pkt_build_link(linktype, s). */
size_t pkt_link_len(int linktype, const struct pkt_spec *s);

/* One IPv4 fragment of `frame` (whose IP header starts at l2_len): the
 * link header, the IP header with total length, offset and MF set and its
 * checksum recomputed, then IP payload bytes [off, off+len). */
size_t pkt_frag4(uint8_t *out, const uint8_t *frame, size_t l2_len, uint32_t off, uint32_t len,
                 bool more);
/* One IPv6 fragment of `frame` (a base header with no extension headers at
 * l2_len): a fragment header with `id` is inserted after the base header. */
size_t pkt_frag6(uint8_t *out, const uint8_t *frame, size_t l2_len, uint32_t off, uint32_t len,
                 bool more, uint32_t id);

/* Internet checksum of a buffer (complemented, host order). */
uint16_t pkt_inet_csum(const uint8_t *p, size_t len);

/* Classic pcap writer in the host's byte order. */
struct pkt_pcap {
    FILE *f;
    bool nsec;
};
/* NULL on error. snaplen 262144. */
struct pkt_pcap *pkt_pcap_open(const char *path, uint32_t linktype, bool nsec);
int pkt_pcap_write(struct pkt_pcap *w, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
                   uint32_t wirelen);
int pkt_pcap_close(struct pkt_pcap *w);

#endif
