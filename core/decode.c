/*
 * decode.c - frame -> struct mos_pkt.
 *
 * Design: one pass, link layer -> IP -> transport, every length checked
 * against two limits that are kept apart on purpose:
 *   - the WIRE extent (what the headers claim), used for sequence-space and
 *     checksum arithmetic (payload_wire_len), and
 *   - the CAPTURED extent (caplen clipped to the IP total length), the only
 *     bytes ever exposed as l3/l4/payload.
 * So Ethernet padding (captured but past the IP total length) is never
 * payload, and bytes cut by the snaplen are never invented.
 *
 * Strict where a receiver is strict: a length field may only claim fewer
 * bytes than the frame carried on the wire, never more. A datagram (or UDP
 * datagram) claiming more than the frame's wire length is dropped and
 * counted, as every receiver's IP/UDP layer drops it: used, it would let
 * a forged frame put bytes into a stream no endpoint ever accepted. Only a
 * snaplen cut (caplen < wirelen: the bytes were on the wire, not captured)
 * is used partially, and then only for the bytes present. A zero length
 * field stands for the frame's length only where a sender writes 0 because
 * the datagram does not fit 16 bits (BIG TCP, IPv6 jumbograms: > 65535).
 *
 * Invariants:
 *   - every call counts pkts_in/bytes_in; a negative return has incremented
 *     exactly one drop_* counter; DECODE_HELD / DECODE_NOT_IP increment none.
 *   - IP fragments go to ip_frag; a completed datagram is decoded again from
 *     its IP header (reassembled = true). The rebuilt header has MF/offset
 *     cleared, so that second pass cannot recurse.
 *   - ICMP errors are decoded as ICMP only: the quoted IP/TCP header inside is
 *     never parsed as a TCP packet (it must not create or update a flow).
 */
#include "decode.h"

#include <errno.h>
#include <string.h>

#include "config.h"
#include "ip_frag.h"

#define ETH_HLEN 14
#define SLL_HLEN 16
#define SLL2_HLEN 20
#define NULL_HLEN 4
#define IP4_MIN_HLEN 20
#define IP6_HLEN 40
#define TCP_MIN_HLEN 20
#define UDP_HLEN 8
#define ICMP_MIN_HLEN 4 /* type, code, checksum: all we read */
/* Unfragmentable part of an IPv6 packet we are willing to copy for
 * reassembly; real chains are a few dozen bytes. */
#define IP6_UNFRAG_MAX 512

enum { L3_IPV4 = 4, L3_IPV6 = 6, L3_OTHER = 0 };

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int drop(uint64_t *ctr)
{
    (*ctr)++;
    return -EPROTO;
}

/* ---- checksums ------------------------------------------------------------ */

/* One's-complement sum of p[0..len) added to sum (both as big-endian 16-bit
 * words). The sum does not depend on byte order (RFC 1071), so the bytes
 * are added as native 32-bit halves of 64-bit loads, 8 bytes a step instead
 * of 2, and the folded result is swapped once at the end. An odd last byte
 * counts as the high byte of a zero-padded word, so only the last chunk of
 * a checksummed sequence may have an odd length. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
    uint64_t acc = 0;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        acc += (w & 0xffffffffu) + (w >> 32);
    }
    /* The tail in fixed-size loads: one zero-padded memcpy of 1..7 bytes
     * became a libc call per packet and cost ~8% of the count benchmark. */
    if (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc += w;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint8_t pad[2] = {p[0], 0};
        uint16_t w;
        memcpy(&w, pad, 2);
        acc += w;
    }
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    uint16_t folded = (uint16_t)acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    folded = (uint16_t)(folded << 8 | folded >> 8);
#endif
    sum += folded;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

uint16_t decode_ipv4_checksum(const uint8_t *ip, uint32_t ihl_bytes)
{
    return (uint16_t)~csum_fold(csum_add(0, ip, ihl_bytes));
}

static uint32_t pseudo_sum(const struct mos_pkt *p, uint32_t l4_len)
{
    uint32_t sum = 0;
    if (p->ip_ver == 4) {
        sum = csum_add(sum, p->src, 4);
        sum = csum_add(sum, p->dst, 4);
    } else {
        sum = csum_add(sum, p->src, 16);
        sum = csum_add(sum, p->dst, 16);
    }
    sum += p->proto;
    sum += l4_len >> 16;
    sum += l4_len & 0xffff;
    return sum;
}

/* ~(pseudo header + l4[0..l4_len)); 0 when a segment with its checksum field
 * is correct. To fill in a checksum: zero the field, store the result (for
 * UDP a result of 0 is sent as 0xffff). */
uint16_t decode_l4_checksum(const struct mos_pkt *p, const uint8_t *l4, uint32_t l4_len)
{
    return (uint16_t)~csum_fold(csum_add(pseudo_sum(p, l4_len), l4, l4_len));
}

/* ---- transport ------------------------------------------------------------- */

static void tcp_options(struct mos_pkt *p, const uint8_t *o, uint32_t len)
{
    uint32_t i = 0;
    while (i < len) {
        uint8_t kind = o[i];
        if (kind == 0) /* end of option list */
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        /* malformed length: stop parsing, the segment itself stays valid */
        if (i + 1 >= len)
            break;
        uint8_t olen = o[i + 1];
        if (olen < 2 || i + olen > len)
            break;
        const uint8_t *v = o + i + 2;
        switch (kind) {
        case 2:
            if (olen == 4)
                p->mss = rd16(v);
            break;
        case 3:
            if (olen == 3)
                p->wscale = (int8_t)(v[0] > 127 ? 127 : v[0]);
            break;
        case 4:
            if (olen == 2)
                p->sack_perm = true;
            break;
        case 5:
            if (olen >= 10 && (olen - 2) % 8 == 0) {
                uint32_t n = (uint32_t)(olen - 2) / 8;
                if (n > 4)
                    n = 4;
                for (uint32_t k = 0; k < n; k++) {
                    p->sack[k][0] = rd32(v + 8 * k);
                    p->sack[k][1] = rd32(v + 8 * k + 4);
                }
                p->nsack = (uint8_t)n;
                p->sack_off = (uint8_t)(TCP_MIN_HLEN + i + 2); /* for inline remapping */
            }
            break;
        case 8:
            if (olen == 10) {
                p->has_ts = true;
                p->tsval = rd32(v);
                p->tsecr = rd32(v + 4);
            }
            break;
        default:
            break;
        }
        i += olen;
    }
}

/* Returns 0 to accept, or a drop. cap = captured l4 bytes, wire = l4 length
 * per the IP header. */
static int tcp_checksum(struct decoder *d, struct mos_pkt *p, const uint8_t *l4, uint32_t cap,
                        uint32_t wire)
{
    if (d->checksum == MOS_CSUM_IGNORE)
        return 0;
    if (cap < wire) /* snaplen cut: the missing bytes cannot be summed */
        return 0;
    if (decode_l4_checksum(p, l4, wire) == 0)
        return 0;
    if (d->checksum == MOS_CSUM_AUTO) {
        uint16_t field = rd16(l4 + 16);
        /* A sender with checksum offload leaves the (uncomplemented) folded
         * pseudo-header sum for the NIC to finish; with TSO the length is
         * left out of it (tcpdump-ipv4_tcp_http_xml_tso); some stacks leave 0. */
        uint16_t partial = csum_fold(pseudo_sum(p, wire));
        uint16_t partial_tso = csum_fold(pseudo_sum(p, 0));
        if (field == 0 || field == partial || field == partial_tso) {
            d->csum_offload_seen++;
            d->ctr->checksum_offload_suspected++;
            return 0;
        }
    }
    d->csum_bad_seen++;
    return drop(&d->ctr->drop_tcp_bad_checksum);
}

static int decode_l4(struct decoder *d, struct mos_pkt *p, const uint8_t *l4, uint32_t cap,
                     uint32_t wire)
{
    struct mos_counters *c = d->ctr;
    p->l4 = l4;
    p->l4_len = cap;
    switch (p->proto) {
    case 6: {
        if (cap < TCP_MIN_HLEN)
            return drop(&c->drop_tcp_truncated);
        uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;
        if (doff < TCP_MIN_HLEN || doff > wire)
            return drop(&c->drop_tcp_bad_offset);
        if (doff > cap)
            return drop(&c->drop_tcp_truncated);
        int rc = tcp_checksum(d, p, l4, cap, wire);
        if (rc < 0)
            return rc;
        /* No stack accepts these (scans, evasion probes): they must not
         * create or change a flow. ECE/CWR alone do not count as flags. */
        if ((l4[13] & 0x3f) == 0 || (l4[13] & (MOS_TCP_SYN | MOS_TCP_RST)) == (MOS_TCP_SYN | MOS_TCP_RST))
            return drop(&c->drop_tcp_bad_flags);
        p->sport = rd16(l4);
        p->dport = rd16(l4 + 2);
        p->seq = rd32(l4 + 4);
        p->ack = rd32(l4 + 8);
        p->tcp_flags = l4[13];
        p->win = rd16(l4 + 14);
        p->urg = rd16(l4 + 18);
        tcp_options(p, l4 + TCP_MIN_HLEN, doff - TCP_MIN_HLEN);
        p->payload = l4 + doff;
        p->payload_len = cap - doff;
        p->payload_wire_len = wire - doff;
        c->pkts_tcp++;
        return DECODE_OK;
    }
    case 17: {
        if (cap < UDP_HLEN || wire < UDP_HLEN)
            return drop(&c->drop_udp_truncated);
        /* The UDP length bounds the datagram as the IP length bounds the
         * packet: more than the IP payload is dropped (receivers do), less
         * leaves trailing bytes that are not payload (receivers trim them).
         * 0 is a jumbogram's (RFC 2675), only meaningful above 65535. */
        uint32_t ulen = rd16(l4 + 4);
        if (ulen == 0 && wire > 0xffff)
            ulen = wire;
        if (ulen < UDP_HLEN || ulen > wire)
            return drop(&c->drop_udp_bad_len);
        wire = ulen;
        if (cap > ulen)
            cap = ulen;
        p->l4_len = cap;
        p->sport = rd16(l4);
        p->dport = rd16(l4 + 2);
        p->payload = l4 + UDP_HLEN;
        p->payload_len = cap - UDP_HLEN;
        p->payload_wire_len = wire - UDP_HLEN;
        c->pkts_udp++;
        return DECODE_OK;
    }
    case 1:
    case 58:
        if (cap < ICMP_MIN_HLEN || wire < ICMP_MIN_HLEN)
            return drop(&c->drop_icmp_truncated);
        p->icmp_type = l4[0];
        p->icmp_code = l4[1];
        /* payload = everything after the 8-byte ICMP header (the quoted
         * datagram of an error); it is data here, never decoded as TCP */
        if (cap >= 8) {
            p->payload = l4 + 8;
            p->payload_len = cap - 8;
            p->payload_wire_len = wire >= 8 ? wire - 8 : 0;
        }
        c->pkts_icmp++;
        return DECODE_OK;
    default:
        p->payload = l4;
        p->payload_len = cap;
        p->payload_wire_len = wire;
        c->pkts_other_l4++;
        return DECODE_OK;
    }
}

/* ---- IP -------------------------------------------------------------------- */

static int decode_ip(struct decoder *d, struct mos_pkt *p, const uint8_t *ip, uint32_t cap,
                     uint32_t wire_avail, bool reasm);

/* Clip the datagram to its total length (padding) and to the capture
 * (snaplen). Sets p->l3_len to the captured datagram bytes. The caller has
 * checked totlen <= wire_avail, so totlen > cap is a snaplen cut. */
static void clip_l3(struct decoder *d, struct mos_pkt *p, uint32_t cap, uint32_t totlen)
{
    if (totlen < cap) {
        d->ctr->pkts_eth_padding++;
        p->l3_len = totlen;
    } else {
        p->l3_len = cap;
        if (totlen > cap)
            d->ctr->pkts_snaplen_cut++;
    }
}

static void frag_key_from(const struct mos_pkt *p, uint32_t id, uint8_t proto, struct ip_frag_key *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->src, p->src, 16);
    memcpy(k->dst, p->dst, 16);
    k->id = id;
    for (uint8_t i = 0; i < p->nvlan && i < 3; i++)
        k->vlan[i] = p->vlan[i];
    k->nvlan = p->nvlan;
    k->ip_ver = p->ip_ver;
    k->proto = proto;
}

/* Hand a fragment to the table; decode the datagram if it completed. A
 * snaplen-cut fragment is refused: its missing bytes would become a hole
 * or, worse, a short datagram. */
static int handle_frag(struct decoder *d, struct mos_pkt *p, const struct ip_frag_key *k,
                       const uint8_t *hdr, uint32_t hdr_len, uint32_t off, int more,
                       const uint8_t *data, uint32_t len, uint32_t wire_len)
{
    if (d->frag == NULL || len < wire_len) {
        d->ctr->frags_in++;
        d->ctr->frags_bad++;
        return DECODE_HELD;
    }
    const uint8_t *dg;
    uint32_t dg_len;
    int rc = ip_frag_add(d->frag, k, p->ts_ns, hdr, hdr_len, off, more, data, len, &dg, &dg_len);
    if (rc != 1)
        return DECODE_HELD; /* stored, or refused and counted by ip_frag */
    p->reassembled = true;
    return decode_ip(d, p, dg, dg_len, dg_len, true);
}

static int decode_ipv4(struct decoder *d, struct mos_pkt *p, const uint8_t *ip, uint32_t cap,
                       uint32_t wire_avail, bool reasm)
{
    struct mos_counters *c = d->ctr;
    uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
    if (ihl < IP4_MIN_HLEN || ihl > cap)
        return drop(&c->drop_ip_bad_ihl);
    uint32_t totlen = rd16(ip + 2);
    /* BIG TCP leaves the length 0 when the datagram does not fit it
     * (tcpdump-bigtcp-ipv4: an 80052-byte datagram): the frame is the only
     * length there is. Below that, 0 is just a length < IHL. */
    if (totlen == 0 && wire_avail > 0xffff)
        totlen = wire_avail;
    if (totlen < ihl)
        return drop(&c->drop_ip_bad_len);
    if (totlen > wire_avail)
        return drop(&c->drop_ip_len_beyond_frame);
    if (d->checksum != MOS_CSUM_IGNORE && !reasm && decode_ipv4_checksum(ip, ihl) != 0) {
        if (!(d->checksum == MOS_CSUM_AUTO && rd16(ip + 10) == 0))
            return drop(&c->drop_ip_bad_checksum);
        c->checksum_offload_suspected++; /* header checksum left to the NIC */
    }
    if (!reasm)
        c->pkts_ipv4++;
    p->ip_ver = 4;
    p->proto = ip[9];
    p->ttl = ip[8];
    memset(p->src, 0, 16);
    memset(p->dst, 0, 16);
    memcpy(p->src, ip + 12, 4);
    memcpy(p->dst, ip + 16, 4);
    p->l3 = ip;
    clip_l3(d, p, cap, totlen);

    uint16_t fragf = rd16(ip + 6);
    uint32_t off = (uint32_t)(fragf & 0x1fff) * 8;
    int more = (fragf & 0x2000) != 0;
    if (!reasm && (more || off != 0)) {
        struct ip_frag_key k;
        frag_key_from(p, rd16(ip + 4), p->proto, &k);
        return handle_frag(d, p, &k, ip, ihl, off, more, ip + ihl, p->l3_len - ihl, totlen - ihl);
    }
    return decode_l4(d, p, ip + ihl, p->l3_len - ihl, totlen - ihl);
}

static int decode_ipv6(struct decoder *d, struct mos_pkt *p, const uint8_t *ip, uint32_t cap,
                       uint32_t wire_avail, bool reasm)
{
    struct mos_counters *c = d->ctr;
    if (cap < IP6_HLEN)
        return drop(&c->drop_ip_truncated);
    uint32_t totlen = IP6_HLEN + rd16(ip + 4);
    if (totlen == IP6_HLEN && ip[6] == 0 && wire_avail > IP6_HLEN + 0xffff)
        totlen = wire_avail; /* jumbogram (BIG TCP): length in hop-by-hop, use the frame's */
    if (totlen > wire_avail)
        return drop(&c->drop_ip_len_beyond_frame);
    if (!reasm)
        c->pkts_ipv6++;
    p->ip_ver = 6;
    p->ttl = ip[7];
    memcpy(p->src, ip + 8, 16);
    memcpy(p->dst, ip + 24, 16);
    p->l3 = ip;
    clip_l3(d, p, cap, totlen);
    uint32_t len = p->l3_len;

    uint8_t nh = ip[6];
    uint32_t nh_pos = 6; /* where the current next-header value lives */
    uint32_t off = IP6_HLEN;
    for (;;) {
        uint32_t hl;
        switch (nh) {
        case 0:
        case 43:
        case 60:
        case 51:
            if (off + 2 > len)
                return drop(&c->drop_ip6_bad_ext);
            hl = nh == 51 ? ((uint32_t)ip[off + 1] + 2) * 4 : ((uint32_t)ip[off + 1] + 1) * 8;
            if (off + hl > len)
                return drop(&c->drop_ip6_bad_ext);
            nh_pos = off;
            nh = ip[off];
            off += hl;
            continue;
        case 44: {
            if (off + 8 > len)
                return drop(&c->drop_ip6_bad_ext);
            uint16_t fo = rd16(ip + off + 2);
            uint32_t foff = fo & 0xfff8;
            int more = fo & 1;
            uint8_t fnh = ip[off];
            if (foff == 0 && !more) { /* atomic fragment (RFC 6946): just skip it */
                nh_pos = off;
                nh = fnh;
                off += 8;
                continue;
            }
            if (reasm || off > IP6_UNFRAG_MAX) {
                c->frags_in++;
                c->frags_bad++;
                return DECODE_HELD;
            }
            uint8_t hdr[IP6_UNFRAG_MAX];
            memcpy(hdr, ip, off);
            hdr[nh_pos] = fnh;
            p->proto = fnh;
            struct ip_frag_key k;
            frag_key_from(p, rd32(ip + off + 4), fnh, &k);
            return handle_frag(d, p, &k, hdr, off, foff, more, ip + off + 8, len - off - 8,
                               totlen - off - 8);
        }
        default:
            break;
        }
        break;
    }
    p->proto = nh;
    if (nh == 50 || nh == 59) { /* ESP / no next header: nothing we can read */
        p->l4 = ip + off;
        p->l4_len = len - off;
        c->pkts_other_l4++;
        return DECODE_OK;
    }
    return decode_l4(d, p, ip + off, len - off, totlen - off);
}

static int decode_ip(struct decoder *d, struct mos_pkt *p, const uint8_t *ip, uint32_t cap,
                     uint32_t wire_avail, bool reasm)
{
    if (cap < 1)
        return drop(&d->ctr->drop_ip_truncated);
    int ver = ip[0] >> 4;
    if (ver == 4) {
        if (cap < IP4_MIN_HLEN)
            return drop(&d->ctr->drop_ip_truncated);
        return decode_ipv4(d, p, ip, cap, wire_avail, reasm);
    }
    if (ver == 6)
        return decode_ipv6(d, p, ip, cap, wire_avail, reasm);
    return drop(&d->ctr->drop_ip_bad_version);
}

/* ---- link layer ---------------------------------------------------------- */

/* Follows VLAN tags from an ethertype at frame[off]; sets *l3 to the payload
 * offset. Returns the L3 kind or a negative drop. */
static int ethertype_chain(struct decoder *d, struct mos_pkt *p, const uint8_t *f, uint32_t cap,
                           uint16_t et, uint32_t off, uint32_t *l3)
{
    while (et == 0x8100 || et == 0x88a8 || et == 0x9100) {
        if (p->nvlan == MOS_MAX_VLAN)
            return drop(&d->ctr->drop_vlan_too_deep);
        if (off + 4 > cap)
            return drop(&d->ctr->drop_link_truncated);
        p->vlan[p->nvlan++] = rd16(f + off) & 0x0fff;
        et = rd16(f + off + 2);
        off += 4;
    }
    *l3 = off;
    if (et == 0x0800)
        return L3_IPV4;
    if (et == 0x86dd)
        return L3_IPV6;
    return L3_OTHER;
}

static int af_kind(uint32_t af)
{
    if (af == 2)
        return L3_IPV4;
    if (af == 24 || af == 28 || af == 30) /* BSD, FreeBSD, macOS values of AF_INET6 */
        return L3_IPV6;
    return -1;
}

static int raw_kind(const uint8_t *f, uint32_t cap)
{
    if (cap < 1)
        return L3_OTHER;
    int v = f[0] >> 4;
    return v == 4 ? L3_IPV4 : v == 6 ? L3_IPV6 : L3_OTHER;
}

int decode_flow_hint(int linktype, const uint8_t *frame, uint32_t caplen, struct mos_flow_key *k)
{
    struct mos_pkt p;
    uint32_t off = 0;
    p.nvlan = 0;
    memset(p.src, 0, sizeof(p.src)); /* IPv4 keys compare all 16 bytes */
    memset(p.dst, 0, sizeof(p.dst));
    if (linktype == 1) {
        if (caplen < ETH_HLEN)
            return -1;
        uint16_t et = rd16(frame + 12);
        off = ETH_HLEN;
        while (et == 0x8100 || et == 0x88a8 || et == 0x9100) {
            if (p.nvlan == MOS_MAX_VLAN || off + 4 > caplen)
                return -1;
            p.vlan[p.nvlan++] = rd16(frame + off) & 0x0fff;
            et = rd16(frame + off + 2);
            off += 4;
        }
        if (et != 0x0800 && et != 0x86dd)
            return -1;
    } else if (linktype != 12 && linktype != 14 && linktype != 101 && linktype != 228 && linktype != 229) {
        return -1;
    }
    if (off >= caplen)
        return -1;
    const uint8_t *ip = frame + off;
    uint32_t cap = caplen - off;
    const uint8_t *l4;
    if ((ip[0] >> 4) == 4) {
        uint32_t ihl = (ip[0] & 0x0fu) * 4;
        if (cap < 20 || ihl < 20 || cap < ihl + 4 || ip[9] != 6 || (rd16(ip + 6) & 0x3fff) != 0)
            return -1;
        p.ip_ver = 4;
        memcpy(p.src, ip + 12, 4);
        memcpy(p.dst, ip + 16, 4);
        l4 = ip + ihl;
    } else if ((ip[0] >> 4) == 6) {
        if (cap < 44 || ip[6] != 6)
            return -1;
        p.ip_ver = 6;
        memcpy(p.src, ip + 8, 16);
        memcpy(p.dst, ip + 24, 16);
        l4 = ip + 40;
    } else {
        return -1;
    }
    p.proto = 6;
    p.sport = rd16(l4);
    p.dport = rd16(l4 + 2);
    mos_flow_key_from_pkt(&p, k);
    return 0;
}

int decode_frame(struct decoder *d, int linktype, const uint8_t *frame, uint32_t caplen,
                 uint32_t wirelen, uint64_t ts_ns, struct mos_pkt *out)
{
    struct mos_counters *c = d->ctr;
    memset(out, 0, sizeof(*out));
    out->ts_ns = ts_ns;
    out->frame = frame;
    out->caplen = caplen;
    out->wirelen = wirelen < caplen ? caplen : wirelen;
    out->linktype = linktype;
    out->wscale = -1;
    c->pkts_in++;
    c->bytes_in += out->wirelen;

    uint32_t l3 = 0;
    int kind;
    switch (linktype) {
    case 1: /* Ethernet */
        if (caplen < ETH_HLEN)
            return drop(&c->drop_link_truncated);
        kind = ethertype_chain(d, out, frame, caplen, rd16(frame + 12), ETH_HLEN, &l3);
        break;
    case 113: /* Linux SLL: protocol at 14 */
        if (caplen < SLL_HLEN)
            return drop(&c->drop_link_truncated);
        kind = ethertype_chain(d, out, frame, caplen, rd16(frame + 14), SLL_HLEN, &l3);
        break;
    case 276: /* Linux SLL2: protocol at 0, header 20 bytes */
        if (caplen < SLL2_HLEN)
            return drop(&c->drop_link_truncated);
        kind = ethertype_chain(d, out, frame, caplen, rd16(frame), SLL2_HLEN, &l3);
        break;
    case 12:
    case 14:
    case 101: /* raw IP: version nibble decides */
        if (caplen < 1)
            return drop(&c->drop_link_truncated);
        kind = raw_kind(frame, caplen);
        break;
    case 228:
        kind = L3_IPV4;
        break;
    case 229:
        kind = L3_IPV6;
        break;
    case 0:   /* BSD NULL: AF in the capturing host's byte order */
    case 108: /* OpenBSD LOOP: AF in network order */
    {
        if (caplen < NULL_HLEN)
            return drop(&c->drop_link_truncated);
        uint32_t be = rd32(frame);
        uint32_t le = (uint32_t)frame[3] << 24 | (uint32_t)frame[2] << 16 |
                      (uint32_t)frame[1] << 8 | frame[0];
        kind = af_kind(be);
        if (kind < 0 && linktype == 0)
            kind = af_kind(le);
        if (kind < 0)
            kind = L3_OTHER;
        l3 = NULL_HLEN;
        break;
    }
    default:
        return drop(&c->drop_link_unsupported);
    }
    if (kind < 0)
        return kind;
    out->l2_len = l3;
    if (kind == L3_OTHER) {
        c->pkts_other_l3++;
        return DECODE_NOT_IP;
    }
    if (l3 >= caplen)
        return drop(&c->drop_ip_truncated);
    const uint8_t *ip = frame + l3;
    uint32_t cap = caplen - l3;
    uint32_t wire = out->wirelen - l3;
    if ((ip[0] >> 4) != kind)
        return drop(&c->drop_ip_bad_version);
    return decode_ip(d, out, ip, cap, wire, false);
}
