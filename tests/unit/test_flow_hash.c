/*
 * test_flow_hash.c - the worker-spreading hash is symmetric, parses through
 * tags and IPv6 extension headers, and spreads random tuples evenly.
 *
 * Frames are written byte by byte here so the expected tuple of each frame
 * is known independently of the parser under test.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "flow_hash.h"

/* Deterministic xorshift so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static size_t put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

/* Ethernet (+ ntags 802.1Q tags) + IPv4 + 8 bytes of TCP/UDP header. */
static size_t eth_ipv4(uint8_t *f, int ntags, const uint8_t src[4], const uint8_t dst[4],
                       uint8_t proto, uint16_t sport, uint16_t dport, uint16_t fragword)
{
    size_t n = 0;
    memset(f, 0, 128);
    memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
    n = 12;
    for (int i = 0; i < ntags; i++) {
        n += put16(f + n, i == 0 && ntags > 1 ? 0x88a8 : 0x8100);
        n += put16(f + n, (uint16_t)(100 + i));
    }
    n += put16(f + n, 0x0800);
    uint8_t *ip = f + n;
    ip[0] = 0x45;
    put16(ip + 2, 20 + 8);
    put16(ip + 6, fragword);
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    n += 20;
    n += put16(f + n, sport);
    n += put16(f + n, dport);
    n += 4;
    return n;
}

/* Ethernet + IPv6 with a hop-by-hop and a destination-options header. */
static size_t eth_ipv6_ext(uint8_t *f, const uint8_t src[16], const uint8_t dst[16], uint16_t sport,
                           uint16_t dport)
{
    size_t n = 0;
    memset(f, 0, 160);
    n = 12;
    n += put16(f + n, 0x86dd);
    uint8_t *ip = f + n;
    ip[0] = 0x60;
    put16(ip + 4, 8 + 16 + 8);
    ip[6] = 0;  /* hop-by-hop */
    ip[7] = 64;
    memcpy(ip + 8, src, 16);
    memcpy(ip + 24, dst, 16);
    n += 40;
    f[n] = 60; /* next: dest opts */
    f[n + 1] = 0;
    n += 8;
    f[n] = 17; /* next: UDP; 16 bytes long */
    f[n + 1] = 1;
    n += 16;
    n += put16(f + n, sport);
    n += put16(f + n, dport);
    n += 4;
    return n;
}

static const uint8_t A4[4] = { 10, 0, 0, 1 }, B4[4] = { 192, 168, 7, 9 };

Test(flow_hash, tuple_is_symmetric_and_port_sensitive)
{
    uint32_t h1 = flow_hash_tuple(4, A4, B4, 1234, 80, 6, 0);
    uint32_t h2 = flow_hash_tuple(4, B4, A4, 80, 1234, 6, 0);
    cr_assert_eq(h1, h2);
    cr_assert_neq(h1, flow_hash_tuple(4, A4, B4, 1235, 80, 6, 0));
    cr_assert_neq(h1, flow_hash_tuple(4, A4, B4, 1234, 80, 17, 0));
    /* Same address on both ends: order decided by the ports. */
    cr_assert_eq(flow_hash_tuple(4, A4, A4, 5, 9, 17, 0), flow_hash_tuple(4, A4, A4, 9, 5, 17, 0));
    cr_assert_neq(flow_hash_tuple(4, A4, A4, 5, 9, 17, 0), flow_hash_tuple(4, A4, A4, 5, 10, 17, 0));
    /* L3 mode ignores ports entirely. */
    cr_assert_eq(flow_hash_tuple(4, A4, B4, 1, 2, 6, FLOW_HASH_L3),
                 flow_hash_tuple(4, B4, A4, 7, 8, 6, FLOW_HASH_L3));
}

Test(flow_hash, frame_matches_its_tuple_both_directions)
{
    uint8_t f[128], g[128];
    size_t n = eth_ipv4(f, 0, A4, B4, 6, 40000, 443, 0);
    size_t m = eth_ipv4(g, 0, B4, A4, 6, 443, 40000, 0);
    uint32_t want = flow_hash_tuple(4, A4, B4, 40000, 443, 6, 0);
    cr_assert_neq(want, 0);
    cr_assert_eq(flow_hash_frame(1, f, (uint32_t)n, 0), want);
    cr_assert_eq(flow_hash_frame(1, g, (uint32_t)m, 0), want);
    /* DF bit alone (0x4000) is not fragmentation. */
    n = eth_ipv4(f, 0, A4, B4, 6, 40000, 443, 0x4000);
    cr_assert_eq(flow_hash_frame(1, f, (uint32_t)n, 0), want);
}

Test(flow_hash, vlan_tags_are_looked_through)
{
    uint8_t f[128], g[128], h[128];
    size_t n0 = eth_ipv4(f, 0, A4, B4, 17, 53, 5353, 0);
    size_t n1 = eth_ipv4(g, 1, B4, A4, 17, 5353, 53, 0);
    size_t n2 = eth_ipv4(h, 2, A4, B4, 17, 53, 5353, 0); /* QinQ 802.1ad + 802.1Q */
    uint32_t want = flow_hash_tuple(4, A4, B4, 53, 5353, 17, 0);
    cr_assert_eq(flow_hash_frame(1, f, (uint32_t)n0, 0), want);
    cr_assert_eq(flow_hash_frame(1, g, (uint32_t)n1, 0), want);
    cr_assert_eq(flow_hash_frame(1, h, (uint32_t)n2, 0), want);
}

Test(flow_hash, ipv6_with_extension_headers)
{
    uint8_t s[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    uint8_t d[16] = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xff, [15] = 2 };
    uint8_t f[160], g[160];
    size_t n = eth_ipv6_ext(f, s, d, 1000, 2000);
    size_t m = eth_ipv6_ext(g, d, s, 2000, 1000);
    uint32_t want = flow_hash_tuple(6, s, d, 1000, 2000, 17, 0);
    cr_assert_eq(flow_hash_frame(1, f, (uint32_t)n, 0), want);
    cr_assert_eq(flow_hash_frame(1, g, (uint32_t)m, 0), want);
    cr_assert_eq(flow_hash_tuple(6, d, s, 2000, 1000, 17, 0), want);
    /* An IPv4 address padded with zeros is not the same flow as IPv6. */
    cr_assert_neq(flow_hash_tuple(6, s, d, 1, 2, 6, 0), flow_hash_tuple(4, s, d, 1, 2, 6, 0));
}

Test(flow_hash, fragments_hash_on_addresses)
{
    uint8_t f[128], g[128];
    /* First fragment (MF) still has ports in the frame, later one (offset 185) has garbage there. */
    size_t n = eth_ipv4(f, 0, A4, B4, 17, 1111, 2222, 0x2000);
    size_t m = eth_ipv4(g, 0, B4, A4, 17, 0xdead, 0xbeef, 185);
    uint32_t want = flow_hash_tuple(4, A4, B4, 0, 0, 17, FLOW_HASH_L3);
    cr_assert_eq(flow_hash_frame(1, f, (uint32_t)n, 0), want);
    cr_assert_eq(flow_hash_frame(1, g, (uint32_t)m, 0), want);
}

Test(flow_hash, other_link_types)
{
    uint8_t f[128], sll[160];
    size_t n = eth_ipv4(f, 0, A4, B4, 6, 1, 2, 0);
    uint32_t want = flow_hash_tuple(4, A4, B4, 1, 2, 6, 0);
    const uint8_t *ip = f + 14;
    uint32_t iplen = (uint32_t)n - 14;
    cr_assert_eq(flow_hash_frame(101, ip, iplen, 0), want); /* DLT_RAW */
    cr_assert_eq(flow_hash_frame(228, ip, iplen, 0), want); /* DLT_IPV4 */
    memset(sll, 0, sizeof sll);                              /* DLT_LINUX_SLL */
    put16(sll + 14, 0x0800);
    memcpy(sll + 16, ip, iplen);
    cr_assert_eq(flow_hash_frame(113, sll, 16 + iplen, 0), want);
    memset(sll, 0, sizeof sll);                              /* DLT_LINUX_SLL2 */
    put16(sll, 0x0800);
    memcpy(sll + 20, ip, iplen);
    cr_assert_eq(flow_hash_frame(276, sll, 20 + iplen, 0), want);
    memset(sll, 0, sizeof sll);                              /* DLT_NULL, AF_INET little-endian */
    sll[0] = 2;
    memcpy(sll + 4, ip, iplen);
    cr_assert_eq(flow_hash_frame(0, sll, 4 + iplen, 0), want);
}

Test(flow_hash, unparsable_frames_hash_to_zero)
{
    uint8_t f[128];
    size_t n = eth_ipv4(f, 0, A4, B4, 6, 1, 2, 0);
    cr_assert_eq(flow_hash_frame(1, f, 20, 0), 0);          /* IP header cut */
    cr_assert_eq(flow_hash_frame(1, f, 10, 0), 0);          /* Ethernet header cut */
    f[12] = 0x08;                                           /* ARP */
    f[13] = 0x06;
    cr_assert_eq(flow_hash_frame(1, f, (uint32_t)n, 0), 0);
    cr_assert_eq(flow_hash_frame(9999, f, (uint32_t)n, 0), 0);
    /* Ports cut by the snaplen: hashed on addresses, still deterministic. */
    n = eth_ipv4(f, 0, A4, B4, 6, 1, 2, 0);
    cr_assert_eq(flow_hash_frame(1, f, 14 + 20 + 2, 0), flow_hash_tuple(4, A4, B4, 0, 0, 6, 0));
}

static void check_spread(unsigned nworkers)
{
    enum { N = 20000 };
    unsigned count[4] = { 0 };
    uint64_t s = 0x9e3779b97f4a7c15ull + nworkers;
    for (int i = 0; i < N; i++) {
        uint64_t r = rng_next(&s), q = rng_next(&s);
        uint8_t a[4], b[4];
        memcpy(a, &r, 4);
        memcpy(b, (uint8_t *)&r + 4, 4);
        uint16_t sp = (uint16_t)q, dp = (uint16_t)(q >> 16);
        uint32_t h = flow_hash_tuple(4, a, b, sp, dp, 6, 0);
        unsigned w = flow_hash_worker(h, nworkers);
        cr_assert_lt(w, nworkers);
        cr_assert_eq(w, flow_hash_worker(flow_hash_tuple(4, b, a, dp, sp, 6, 0), nworkers));
        count[w]++;
    }
    /* Uniform share is N/n; a binomial's sd here is < 71, so +-5% of N is > 14 sd. */
    for (unsigned w = 0; w < nworkers; w++) {
        cr_assert_gt(count[w], N / nworkers - N / 20, "worker %u got %u", w, count[w]);
        cr_assert_lt(count[w], N / nworkers + N / 20, "worker %u got %u", w, count[w]);
    }
}

Test(flow_hash, spreads_over_two_workers) { check_spread(2); }
Test(flow_hash, spreads_over_four_workers) { check_spread(4); }

Test(flow_hash, worker_index_bounds)
{
    cr_assert_eq(flow_hash_worker(0, 4), 0);
    cr_assert_eq(flow_hash_worker(0xffffffffu, 4), 3);
    cr_assert_eq(flow_hash_worker(0xffffffffu, 1), 0);
    cr_assert_eq(flow_hash_worker(0x80000000u, 2), 1);
}
