/*
 * test_flow_identity.c - Community ID v1 against the specification's
 * published baseline vectors (corelight/community-id-spec, baseline/
 * baseline_deflt.json and baseline_seed1.json: facts copied as data), the
 * ICMP type/code mapping on hand-worked cases, and flow uids (format,
 * round trip, uniqueness across instances, runs and cores), the io.shard
 * config key and the shard/worker split.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "community_id.h"
#include "config.h"
#include "flow_hash.h"
#include "flow_uid.h"

struct vec {
    uint8_t proto;
    const char *saddr, *daddr;
    int sport, dport; /* -1: none (the spec's null) */
    const char *deflt, *seed1;
};

/* Ports of ICMP rows are the spec's already-mapped values. */
static const struct vec vecs[] = {
    {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
    {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135, "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
    {58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
    {58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, "1:hLZd0XGWojozrvxqE0dWB1iM6R0=", "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="},
    {58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
    {58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
    {58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="},
    {58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00=", "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="},
    {1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="},
    {6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {46, "10.1.12.1", "10.1.12.2", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
    {46, "10.1.12.2", "10.1.12.1", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
};

static int parse_addr(const char *s, uint8_t *out)
{
    if (inet_pton(AF_INET, s, out) == 1)
        return 4;
    cr_assert_eq(inet_pton(AF_INET6, s, out), 1, "bad address %s", s);
    return 6;
}

static void check(const struct vec *v, uint16_t seed, const char *want)
{
    uint8_t sa[16], da[16];
    int ver = parse_addr(v->saddr, sa);
    cr_assert_eq(parse_addr(v->daddr, da), ver);
    char out[COMMUNITY_ID_LEN];
    /* a protocol without ports must ignore whatever ports it is given */
    uint16_t sp = v->sport < 0 ? 1234 : (uint16_t)v->sport, dp = v->dport < 0 ? 80 : (uint16_t)v->dport;
    int n = community_id_v1(seed, ver, sa, da, v->proto, sp, dp, out, sizeof(out));
    cr_assert_eq(n, (int)strlen(want));
    cr_assert_str_eq(out, want, "%s -> %s proto %u seed %u", v->saddr, v->daddr, v->proto, seed);
}

Test(community_id, spec_baseline_seed0)
{
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
        check(&vecs[i], 0, vecs[i].deflt);
}

Test(community_id, spec_baseline_seed1)
{
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
        check(&vecs[i], 1, vecs[i].seed1);
}

/* The spec's README example: 10.0.0.1:1234 <-> 127.0.0.1:80 over TCP hash
 * alike in both directions. */
Test(community_id, symmetric)
{
    uint8_t a[4] = {10, 0, 0, 1}, b[4] = {127, 0, 0, 1};
    char x[COMMUNITY_ID_LEN], y[COMMUNITY_ID_LEN];
    cr_assert_gt(community_id_v1(0, 4, a, b, 6, 1234, 80, x, sizeof(x)), 0);
    cr_assert_gt(community_id_v1(0, 4, b, a, 6, 80, 1234, y, sizeof(y)), 0);
    cr_assert_str_eq(x, y);
    cr_assert_gt(community_id_v1(0, 4, a, b, 6, 1234, 81, y, sizeof(y)), 0);
    cr_assert_str_neq(x, y);
}

Test(community_id, icmp_mapping)
{
    uint16_t s, d;
    community_id_icmp_ports(1, 8, 0, &s, &d); /* echo request -> (8, reply 0) */
    cr_assert(s == 8 && d == 0);
    community_id_icmp_ports(1, 0, 0, &s, &d); /* echo reply -> (0, request 8) */
    cr_assert(s == 0 && d == 8);
    community_id_icmp_ports(1, 3, 1, &s, &d); /* unreachable: one-way, (type, code) */
    cr_assert(s == 3 && d == 1);
    community_id_icmp_ports(58, 135, 0, &s, &d); /* neighbor solicitation */
    cr_assert(s == 135 && d == 136);
    /* the spec's row 0 again, from the raw ICMPv6 type and code */
    uint8_t sa[16], da[16];
    parse_addr(vecs[0].saddr, sa);
    parse_addr(vecs[0].daddr, da);
    char out[COMMUNITY_ID_LEN];
    cr_assert_gt(community_id_icmp(0, 6, sa, da, 58, 135, 0, out, sizeof(out)), 0);
    cr_assert_str_eq(out, vecs[0].deflt);
}

Test(community_id, bad_arguments)
{
    uint8_t a[16] = {0};
    char out[COMMUNITY_ID_LEN];
    cr_assert_eq(community_id_v1(0, 5, a, a, 6, 1, 2, out, sizeof(out)), -EINVAL);
    cr_assert_eq(community_id_v1(0, 4, a, a, 6, 1, 2, out, COMMUNITY_ID_LEN - 1), -EINVAL);
}

Test(flow_uid, format_and_round_trip)
{
    char u[FLOW_UID_LEN];
    uint64_t run = 1764669000123ull, id = ((uint64_t)5 << 46) | 123456789ull;
    cr_assert_eq(flow_uid_format(run, 7, id, u, sizeof(u)), 23);
    cr_assert_eq(u[0], 'C');
    cr_assert_eq(strlen(u), 23);
    for (int i = 1; i < 23; i++)
        cr_assert(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", u[i]));
    uint64_t r2, id2;
    uint16_t inst2;
    cr_assert_eq(flow_uid_parse(u, &r2, &inst2, &id2), 0);
    cr_assert(r2 == run && inst2 == 7 && id2 == id);
    /* the largest value still fits 22 digits and parses back */
    cr_assert_eq(flow_uid_format((1ull << 48) - 1, 65535, UINT64_MAX, u, sizeof(u)), 23);
    cr_assert_eq(flow_uid_parse(u, &r2, &inst2, &id2), 0);
    cr_assert(r2 == (1ull << 48) - 1 && inst2 == 65535 && id2 == UINT64_MAX);
    cr_assert_eq(flow_uid_parse("Czzzzzzzzzzzzzzzzzzzzzz", &r2, &inst2, &id2), -EINVAL); /* > 2^128 */
    cr_assert_eq(flow_uid_parse("X0000000000000000000000", &r2, &inst2, &id2), -EINVAL);
    cr_assert_eq(flow_uid_format(run, 7, id, u, FLOW_UID_LEN - 1), -EINVAL);
}

/* 0 is "0000...": the encoding is plain base62, most significant digit first */
Test(flow_uid, hand_worked)
{
    char u[FLOW_UID_LEN];
    flow_uid_format(0, 0, 0, u, sizeof(u));
    cr_assert_str_eq(u, "C0000000000000000000000");
    flow_uid_format(0, 0, 61, u, sizeof(u));
    cr_assert_str_eq(u, "C000000000000000000000z");
    flow_uid_format(0, 0, 62, u, sizeof(u));
    cr_assert_str_eq(u, "C0000000000000000000010");
}

Test(flow_uid, distinct_across_instances_runs_and_cores)
{
    char a[FLOW_UID_LEN], b[FLOW_UID_LEN];
    uint64_t id = 42;
    flow_uid_format(1000, 1, id, a, sizeof(a));
    flow_uid_format(1000, 2, id, b, sizeof(b)); /* other instance */
    cr_assert_str_neq(a, b);
    flow_uid_format(1001, 1, id, b, sizeof(b)); /* restart */
    cr_assert_str_neq(a, b);
    flow_uid_format(1000, 1, id | (1ull << 46), b, sizeof(b)); /* other core, same counter */
    cr_assert_str_neq(a, b);
}

Test(shard, config_key)
{
    struct mos_config c;
    char err[256];
    config_defaults(&c);
    cr_assert(c.shard[0] == 0 && c.shard[1] == 1);
    cr_assert_eq(config_set(&c, "io.shard", "2/3", err, sizeof(err)), 0, "%s", err);
    cr_assert(c.shard[0] == 2 && c.shard[1] == 3);
    cr_assert_eq(config_set(&c, "io.shard", "3/3", err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "io.shard"), "%s", err);
    cr_assert_eq(config_set(&c, "io.shard", "0/0", err, sizeof(err)), -EINVAL);
    cr_assert_eq(config_set(&c, "io.shard", "1", err, sizeof(err)), -EINVAL);
    cr_assert_eq(config_set(&c, "io.shard", "0/2x", err, sizeof(err)), -EINVAL);
    cr_assert_lt(config_set(&c, "io.shard", "0/1025", err, sizeof(err)), 0);
    cr_assert_eq(config_set(&c, "core.instance_id", "65535", err, sizeof(err)), 0);
    cr_assert_lt(config_set(&c, "core.instance_id", "65536", err, sizeof(err)), 0);
    cr_assert_eq(config_validate(&c, err, sizeof(err)), 0, "%s", err);
}

/* Shard first, then workers: the N*W slices of the hash range; a shard's
 * flows are spread over all of its workers. */
Test(shard, split_is_consistent)
{
    unsigned seen[3][2] = {{0}};
    for (uint64_t h = 0; h < (1ull << 32); h += 0x10001u * 7) {
        unsigned s = flow_hash_worker((uint32_t)h, 3);
        unsigned w = flow_hash_split_worker((uint32_t)h, 3, 2);
        cr_assert_eq(flow_hash_worker((uint32_t)h, 6), s * 2 + w);
        cr_assert_eq(flow_hash_split_worker((uint32_t)h, 1, 4), flow_hash_worker((uint32_t)h, 4));
        seen[s][w]++;
    }
    for (int s = 0; s < 3; s++)
        for (int w = 0; w < 2; w++)
            cr_assert_gt(seen[s][w], 1000);
}
