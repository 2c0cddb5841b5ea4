/*
 * flow_hash.c - symmetric flow hash (see flow_hash.h).
 *
 * Symmetry comes from ordering, not from the hash function: the endpoint
 * that sorts first (address bytes, then port) is always written first into
 * a fixed 40-byte record, which is then hashed with XXH3. Any strong hash
 * therefore stays symmetric, and no XOR trick weakens it (XOR-combining
 * would make (a,b) and (b,a) equal but also collide a==b flows with each
 * other across ports).
 *
 * The parser only reads bytes below caplen; anything it cannot follow
 * (truncated headers, unknown link or network layer) yields hash 0 so such
 * frames consistently land on worker 0.
 */
#include "flow_hash.h"

#include <stddef.h>
#include <string.h>
#include <xxhash.h>

/* A few 802.1Q/802.1ad tags are plenty; the bound stops a frame of tags
 * from turning the parser into a loop over the whole capture. */
#define MAX_TAGS 8
#define MAX_V6_EXT 8

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t flow_hash_tuple(int ip_ver, const uint8_t *src, const uint8_t *dst, uint16_t sport,
                         uint16_t dport, uint8_t proto, unsigned flags)
{
    /* Record layout: addr lo[16] addr hi[16] port lo, port hi, proto, ver. */
    uint8_t rec[40];
    size_t alen = ip_ver == 6 ? 16 : 4;
    uint8_t a[16] = { 0 }, b[16] = { 0 };

    memcpy(a, src, alen);
    memcpy(b, dst, alen);
    if (flags & FLOW_HASH_L3)
        sport = dport = 0;
    int c = memcmp(a, b, sizeof a);
    int swap = c > 0 || (c == 0 && sport > dport);
    memset(rec, 0, sizeof rec);
    memcpy(rec, swap ? b : a, 16);
    memcpy(rec + 16, swap ? a : b, 16);
    uint16_t p0 = swap ? dport : sport, p1 = swap ? sport : dport;
    rec[32] = (uint8_t)(p0 >> 8);
    rec[33] = (uint8_t)p0;
    rec[34] = (uint8_t)(p1 >> 8);
    rec[35] = (uint8_t)p1;
    rec[36] = proto;
    rec[37] = (uint8_t)ip_ver;
    XXH64_hash_t h = XXH3_64bits(rec, sizeof rec);
    return (uint32_t)(h ^ (h >> 32));
}

static int has_ports(uint8_t proto)
{
    /* TCP, UDP, SCTP, UDP-Lite: source and destination port lead the header. */
    return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

static uint32_t hash_l4(int ver, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                        const uint8_t *l4, const uint8_t *end, int fragmented, unsigned flags)
{
    uint16_t sp = 0, dp = 0;

    if (fragmented)
        flags |= FLOW_HASH_L3;
    else if (has_ports(proto) && end - l4 >= 4) {
        sp = rd16(l4);
        dp = rd16(l4 + 2);
    }
    return flow_hash_tuple(ver, src, dst, sp, dp, proto, flags);
}

static uint32_t hash_ipv4(const uint8_t *ip, const uint8_t *end, unsigned flags)
{
    if (end - ip < 20 || (ip[0] >> 4) != 4)
        return 0;
    uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
    if (ihl < 20 || end - ip < (ptrdiff_t)ihl)
        return 0;
    /* MF set or a non-zero offset: only the first fragment has ports. */
    int frag = (rd16(ip + 6) & 0x3fff) != 0;
    return hash_l4(4, ip + 12, ip + 16, ip[9], ip + ihl, end, frag, flags);
}

static uint32_t hash_ipv6(const uint8_t *ip, const uint8_t *end, unsigned flags)
{
    if (end - ip < 40 || (ip[0] >> 4) != 6)
        return 0;
    uint8_t nh = ip[6];
    const uint8_t *p = ip + 40;
    int frag = 0;

    for (int i = 0; i < MAX_V6_EXT; i++) {
        if (nh == 0 || nh == 43 || nh == 60) { /* hop-by-hop, routing, dest opts */
            if (end - p < 8)
                return hash_l4(6, ip + 8, ip + 24, nh, p, p, 1, flags);
            size_t len = ((size_t)p[1] + 1) * 8;
            nh = p[0];
            p += len;
        } else if (nh == 44) { /* fragment header */
            if (end - p < 8)
                return hash_l4(6, ip + 8, ip + 24, nh, p, p, 1, flags);
            /* An atomic fragment (offset 0, M clear) is a whole datagram. */
            if ((rd16(p + 2) & 0xfff9) != 0)
                frag = 1;
            nh = p[0];
            p += 8;
        } else if (nh == 51) { /* AH: length in 4-byte units minus 2 */
            if (end - p < 8)
                return hash_l4(6, ip + 8, ip + 24, nh, p, p, 1, flags);
            size_t len = ((size_t)p[1] + 2) * 4;
            nh = p[0];
            p += len;
        } else {
            break;
        }
        if (p > end)
            return hash_l4(6, ip + 8, ip + 24, nh, end, end, 1, flags);
    }
    return hash_l4(6, ip + 8, ip + 24, nh, p, end, frag, flags);
}

static uint32_t hash_ip(const uint8_t *ip, const uint8_t *end, unsigned flags)
{
    if (end - ip < 1)
        return 0;
    switch (ip[0] >> 4) {
    case 4: return hash_ipv4(ip, end, flags);
    case 6: return hash_ipv6(ip, end, flags);
    default: return 0;
    }
}

static uint32_t hash_ethertype(uint16_t et, const uint8_t *p, const uint8_t *end, unsigned flags)
{
    if (et == 0x0800)
        return hash_ipv4(p, end, flags);
    if (et == 0x86dd)
        return hash_ipv6(p, end, flags);
    return 0;
}

static uint32_t hash_ether(const uint8_t *f, const uint8_t *end, unsigned flags)
{
    if (end - f < 14)
        return 0;
    uint16_t et = rd16(f + 12);
    const uint8_t *p = f + 14;

    for (int i = 0; i < MAX_TAGS && (et == 0x8100 || et == 0x88a8 || et == 0x9100); i++) {
        if (end - p < 4)
            return 0;
        et = rd16(p + 2);
        p += 4;
    }
    return hash_ethertype(et, p, end, flags);
}

uint32_t flow_hash_frame(int linktype, const uint8_t *frame, uint32_t caplen, unsigned flags)
{
    const uint8_t *end = frame + caplen;

    switch (linktype) {
    case 1: /* DLT_EN10MB */
        return hash_ether(frame, end, flags);
    case 113: /* DLT_LINUX_SLL: protocol at 14, 16-byte header */
        return caplen < 16 ? 0 : hash_ethertype(rd16(frame + 14), frame + 16, end, flags);
    case 276: /* DLT_LINUX_SLL2: protocol first, 20-byte header */
        return caplen < 20 ? 0 : hash_ethertype(rd16(frame), frame + 20, end, flags);
    case 12: case 14: case 101: /* raw IP, version from the first nibble */
        return hash_ip(frame, end, flags);
    case 228:
        return hash_ipv4(frame, end, flags);
    case 229:
        return hash_ipv6(frame, end, flags);
    case 0: case 108: /* NULL/LOOP: 4-byte family, then IP; the nibble suffices */
        return caplen < 4 ? 0 : hash_ip(frame + 4, end, flags);
    default:
        return 0;
    }
}
