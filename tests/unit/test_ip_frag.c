/*
 * test_ip_frag.c - ip_frag on hand-made fragments: order, overlaps (first
 * copy wins), timeouts, memcap and datagram limits, size and count limits,
 * and the rebuilt IPv4/IPv6 header.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "counters.h"
#include "ip_frag.h"
#include "pktbuild.h"

#define SEC 1000000000ull

struct fx {
    struct mos_counters c;
    struct ip_frag *f;
    struct ip_frag_key k;
    uint8_t hdr[40];
    uint8_t data[4096];
};

static struct fx *fx_new(uint64_t timeout, uint64_t memcap, uint32_t maxd, int ver)
{
    struct fx *x = calloc(1, sizeof(*x));
    cr_assert_not_null(x);
    cr_assert_eq(ip_frag_create(timeout, memcap, maxd, &x->c, &x->f), 0);
    x->k.ip_ver = (uint8_t)ver;
    x->k.proto = 6;
    x->k.id = 0x1234;
    x->k.src[0] = 10, x->k.src[3] = 1;
    x->k.dst[0] = 10, x->k.dst[3] = 2;
    if (ver == 4) {
        /* IPv4 header as the first fragment carries it: MF set, DF set */
        static const uint8_t h4[20] = {0x45, 0, 0, 0, 0x12, 0x34, 0x60, 0, 64, 6, 0, 0,
                                       10, 0, 0, 1, 10, 0, 0, 2};
        memcpy(x->hdr, h4, 20);
    } else {
        memset(x->hdr, 0, 40);
        x->hdr[0] = 0x60;
        x->hdr[6] = 6; /* next header already patched by the caller */
        x->hdr[7] = 64;
    }
    for (size_t i = 0; i < sizeof(x->data); i++)
        x->data[i] = (uint8_t)(i * 13 + 1);
    return x;
}

static void fx_free(struct fx *x)
{
    ip_frag_destroy(x->f);
    free(x);
}

static int add(struct fx *x, uint64_t t, uint32_t off, uint32_t len, int more, const uint8_t *data,
               const uint8_t **out, uint32_t *out_len)
{
    uint32_t hl = x->k.ip_ver == 4 ? 20 : 40;
    return ip_frag_add(x->f, &x->k, t, x->hdr, hl, off, more, data ? data : x->data + off, len,
                       out, out_len);
}

static void check_v4(const uint8_t *o, uint32_t len, uint32_t payload)
{
    cr_assert_eq(len, 20 + payload);
    cr_assert_eq((uint32_t)(o[2] << 8 | o[3]), 20 + payload, "total length");
    cr_assert_eq(o[6], 0x40, "DF kept, MF and offset cleared");
    cr_assert_eq(o[7], 0);
    cr_assert_eq(pkt_inet_csum(o, 20), 0, "header checksum recomputed");
}

Test(ip_frag, in_order)
{
    struct fx *x = fx_new(30 * SEC, 1 << 20, 16, 4);
    const uint8_t *o;
    uint32_t ol;
    cr_assert_eq(add(x, 1, 0, 24, 1, NULL, &o, &ol), 0);
    cr_assert_eq(add(x, 2, 24, 16, 1, NULL, &o, &ol), 0);
    cr_assert_eq(add(x, 3, 40, 13, 0, NULL, &o, &ol), 1);
    check_v4(o, ol, 53);
    cr_assert_eq(memcmp(o + 20, x->data, 53), 0);
    cr_assert_eq(x->c.frags_in, 3);
    cr_assert_eq(x->c.frags_reassembled, 1);
    cr_assert_eq(x->c.frags_overlap, 0);
    fx_free(x);
}

Test(ip_frag, out_of_order)
{
    struct fx *x = fx_new(30 * SEC, 1 << 20, 16, 4);
    const uint8_t *o;
    uint32_t ol;
    cr_assert_eq(add(x, 1, 40, 13, 0, NULL, &o, &ol), 0);
    cr_assert_eq(add(x, 2, 0, 24, 1, NULL, &o, &ol), 0);
    cr_assert_eq(add(x, 3, 24, 16, 1, NULL, &o, &ol), 1);
    check_v4(o, ol, 53);
    cr_assert_eq(memcmp(o + 20, x->data, 53), 0);
    fx_free(x);
}

Test(ip_frag, overlap_consistent)
{
    struct fx *x = fx_new(30 * SEC, 1 << 20, 16, 4);
    const uint8_t *o;
    uint32_t ol;
    cr_assert_eq(add(x, 1, 0, 16, 1, NULL, &o, &ol), 0);
    cr_assert_eq(add(x, 2, 8, 16, 1, NULL, &o, &ol), 0);
    cr_assert_eq(add(x, 3, 24, 5, 0, NULL, &o, &ol), 1);
    check_v4(o, ol, 29);
    cr_assert_eq(memcmp(o + 20, x->data, 29), 0);
    cr_assert_eq(x->c.frags_overlap, 1);
    cr_assert_eq(x->c.frags_overlap_inconsistent, 0);
    fx_free(x);
}

Test(ip_frag, overlap_inconsistent_keeps_first_copy)
{
    struct fx *x = fx_new(30 * SEC, 1 << 20, 16, 4);
    const uint8_t *o;
    uint32_t ol;
    uint8_t evil[32];
    memset(evil, 'E', sizeof(evil));
    /* the later-offset fragment arrives first: its bytes are the first copy */
    cr_assert_eq(add(x, 1, 8, 16, 1, evil, &o, &ol), 0);
    cr_assert_eq(add(x, 2, 0, 16, 1, NULL, &o, &ol), 0);
    cr_assert_eq(x->c.frags_overlap, 1);
    cr_assert_eq(x->c.frags_overlap_inconsistent, 1);
    cr_assert_eq(add(x, 3, 24, 8, 0, NULL, &o, &ol), 1);
    check_v4(o, ol, 32);
    cr_assert_eq(memcmp(o + 20, x->data, 8), 0);
    cr_assert_eq(memcmp(o + 20 + 8, evil, 16), 0, "first copy wins");
    cr_assert_eq(memcmp(o + 20 + 24, x->data + 24, 8), 0);
    fx_free(x);
}

Test(ip_frag, full_duplicate_overlap)
{
    struct fx *x = fx_new(30 * SEC, 1 << 20, 16, 4);
    const uint8_t *o;
    uint32_t ol;
    uint8_t alt[16];
    memset(alt, 'X', sizeof(alt));
    cr_assert_eq(add(x, 1, 0, 16, 1, NULL, &o, &ol), 0);
    cr_assert_eq(add(x, 1, 0, 16, 1, alt, &o, &ol), 0); /* same range, other bytes */
    cr_assert_eq(add(x, 2, 16, 4, 0, NULL, &o, &ol), 1);
    cr_assert_eq(memcmp(o + 20, x->data, 16), 0);
    cr_assert_eq(x->c.frags_overlap, 1);
    cr_assert_eq(x->c.frags_overlap_inconsistent, 1);
    fx_free(x);
}

Test(ip_frag, timeout)
{
    struct fx *x = fx_new(30 * SEC, 1 << 20, 16, 4);
    const uint8_t *o;
    uint32_t ol;
    cr_assert_eq(add(x, 0, 0, 16, 1, NULL, &o, &ol), 0);
    cr_assert_eq(add(x, 30 * SEC, 16, 8, 1, NULL, &o, &ol), 0); /* exactly the timeout: kept */
    cr_assert_eq(x->c.frags_timeout, 0);
    ip_frag_expire(x->f, 31 * SEC);
    cr_assert_eq(x->c.frags_timeout, 1);
    /* the rest alone cannot complete the expired datagram */
    cr_assert_eq(add(x, 31 * SEC, 24, 8, 0, NULL, &o, &ol), 0);
    cr_assert_eq(x->c.frags_reassembled, 0);
    /* expiry also runs on add */
    x->k.id = 99;
    cr_assert_eq(add(x, 100 * SEC, 0, 8, 1, NULL, &o, &ol), 0);
    cr_assert_eq(x->c.frags_timeout, 2);
    fx_free(x);
}

Test(ip_frag, datagram_limit_and_memcap)
{
    struct fx *x = fx_new(30 * SEC, 1 << 20, 2, 4);
    const uint8_t *o;
    uint32_t ol;
    for (uint32_t id = 1; id <= 2; id++) {
        x->k.id = id;
        cr_assert_eq(add(x, 1, 0, 16, 1, NULL, &o, &ol), 0);
    }
    x->k.id = 3;
    cr_assert_lt(add(x, 1, 0, 16, 1, NULL, &o, &ol), 0);
    cr_assert_eq(x->c.frags_memcap_drop, 1);
    /* finishing one frees its slot */
    x->k.id = 1;
    cr_assert_eq(add(x, 2, 16, 8, 0, NULL, &o, &ol), 1);
    x->k.id = 3;
    cr_assert_eq(add(x, 3, 0, 16, 1, NULL, &o, &ol), 0);
    fx_free(x);

    /* a memcap too small for a second datagram buffer */
    x = fx_new(30 * SEC, 6000, 1000, 4);
    int refused = 0;
    for (uint32_t id = 1; id <= 10; id++) {
        x->k.id = id;
        if (add(x, 1, 0, 16, 1, NULL, &o, &ol) < 0)
            refused++;
    }
    cr_assert_gt(refused, 0);
    cr_assert_eq(x->c.frags_memcap_drop, (uint64_t)refused);
    fx_free(x);
}

Test(ip_frag, too_large_and_too_many)
{
    struct fx *x = fx_new(30 * SEC, 1 << 24, 16, 4);
    const uint8_t *o;
    uint32_t ol;
    static uint8_t zeros[64];
    /* 20 + 65520 + 16 > 65535 */
    cr_assert_lt(ip_frag_add(x->f, &x->k, 1, x->hdr, 20, 65520, 0, zeros, 16, &o, &ol), 0);
    cr_assert_eq(x->c.frags_bad, 1);
    /* 257 tiny fragments */
    x->k.id = 7;
    int rc = 0;
    for (uint32_t i = 0; i < 257 && rc >= 0; i++)
        rc = ip_frag_add(x->f, &x->k, 1, x->hdr, 20, 8 * i, 1, zeros, 8, &o, &ol);
    cr_assert_lt(rc, 0);
    cr_assert_eq(x->c.frags_bad, 2);
    /* a non-final fragment whose length is not a multiple of 8 */
    x->k.id = 8;
    cr_assert_lt(ip_frag_add(x->f, &x->k, 1, x->hdr, 20, 0, 1, zeros, 13, &o, &ol), 0);
    cr_assert_eq(x->c.frags_bad, 3);
    /* two different ends */
    x->k.id = 9;
    cr_assert_eq(ip_frag_add(x->f, &x->k, 1, x->hdr, 20, 16, 0, zeros, 8, &o, &ol), 0);
    cr_assert_lt(ip_frag_add(x->f, &x->k, 1, x->hdr, 20, 16, 0, zeros, 16, &o, &ol), 0);
    cr_assert_eq(x->c.frags_bad, 4);
    fx_free(x);
}

Test(ip_frag, keys_do_not_mix)
{
    struct fx *x = fx_new(30 * SEC, 1 << 20, 16, 4);
    const uint8_t *o;
    uint32_t ol;
    cr_assert_eq(add(x, 1, 0, 16, 1, NULL, &o, &ol), 0);
    x->k.nvlan = 1;
    x->k.vlan[0] = 5;
    cr_assert_eq(add(x, 1, 16, 8, 0, NULL, &o, &ol), 0, "other VLAN: other datagram");
    x->k.nvlan = 0;
    x->k.vlan[0] = 77; /* ignored beyond nvlan */
    cr_assert_eq(add(x, 1, 16, 8, 0, NULL, &o, &ol), 1);
    fx_free(x);
}

Test(ip_frag, ipv6_rebuild)
{
    struct fx *x = fx_new(30 * SEC, 1 << 20, 16, 6);
    const uint8_t *o;
    uint32_t ol;
    cr_assert_eq(add(x, 1, 1232, 100, 0, NULL, &o, &ol), 0);
    cr_assert_eq(add(x, 2, 0, 1232, 1, NULL, &o, &ol), 1);
    cr_assert_eq(ol, 40 + 1332);
    cr_assert_eq((uint32_t)(o[4] << 8 | o[5]), 1332, "payload length");
    cr_assert_eq(o[6], 6);
    cr_assert_eq(memcmp(o + 40, x->data, 1332), 0);
    /* IPv6 limits the payload, not the whole packet: 65535 payload bytes fit */
    static uint8_t big[65535];
    x->k.id = 2;
    cr_assert_eq(ip_frag_add(x->f, &x->k, 3, x->hdr, 40, 0, 1, big, 65528, &o, &ol), 0);
    cr_assert_eq(ip_frag_add(x->f, &x->k, 3, x->hdr, 40, 65528, 0, big, 7, &o, &ol), 1);
    cr_assert_eq(ol, 40 + 65535);
    fx_free(x);
}
