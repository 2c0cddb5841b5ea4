/*
 * community_id.c - Community ID v1 (see community_id.h).
 *
 * Design: the hashed bytes are, in this order, the seed (2 bytes), the
 * smaller endpoint's address, the other address (4 or 16 bytes each), the
 * protocol, one zero byte, then for port-bearing protocols the two ports
 * (2 bytes each), all in network byte order; "smaller" compares the
 * addresses as bytes and, when equal, the ports, so both directions of a
 * flow give the same id. The digest is SHA-1 (nettle), printed as base64
 * after "1:". The layout is the spec's, checked against its published
 * baseline vectors (tests/unit/test_community_id.c) and against tshark's
 * communityid field on the corpus (tests/e2e/test_flow_identity.sh).
 *
 * Invariants: no allocation, no state: callers may call it from any core.
 * It costs one SHA-1 block (~0.3 us), so callers compute it when asked,
 * not per packet.
 */
#include "community_id.h"

#include <errno.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

static int has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 132 || proto == 1 || proto == 58;
}

int community_id_v1(uint16_t seed, int ip_ver, const uint8_t *saddr, const uint8_t *daddr, uint8_t proto,
                    uint16_t sport, uint16_t dport, char *out, size_t outlen)
{
    if ((ip_ver != 4 && ip_ver != 6) || !saddr || !daddr || !out || outlen < COMMUNITY_ID_LEN)
        return -EINVAL;
    size_t alen = ip_ver == 4 ? 4 : 16;
    int c = memcmp(saddr, daddr, alen);
    int ports = has_ports(proto);
    if (c > 0 || (c == 0 && ports && sport > dport)) {
        const uint8_t *ta = saddr;
        saddr = daddr, daddr = ta;
        uint16_t tp = sport;
        sport = dport, dport = tp;
    }
    uint8_t in[2 + 16 + 16 + 2 + 4];
    size_t n = 0;
    in[n++] = (uint8_t)(seed >> 8);
    in[n++] = (uint8_t)seed;
    memcpy(in + n, saddr, alen), n += alen;
    memcpy(in + n, daddr, alen), n += alen;
    in[n++] = proto;
    in[n++] = 0;
    if (ports) {
        in[n++] = (uint8_t)(sport >> 8);
        in[n++] = (uint8_t)sport;
        in[n++] = (uint8_t)(dport >> 8);
        in[n++] = (uint8_t)dport;
    }
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, n, in);
    sha1_digest(&ctx, sizeof(digest), digest);
    out[0] = '1';
    out[1] = ':';
    base64_encode_raw(out + 2, sizeof(digest), digest);
    size_t len = 2 + BASE64_ENCODE_RAW_LENGTH(sizeof(digest));
    out[len] = '\0';
    return (int)len;
}

/* Types that come in request/reply pairs map to (type, its counterpart);
 * every other type maps to (type, code). Values from RFC 792 / RFC 4443 and
 * the spec's choice of pairs. */
void community_id_icmp_ports(uint8_t proto, uint8_t type, uint8_t code, uint16_t *sport, uint16_t *dport)
{
    static const uint8_t v4[][2] = {
        {8, 0}, {0, 8},     /* echo request / reply */
        {13, 14}, {14, 13}, /* timestamp */
        {15, 16}, {16, 15}, /* information */
        {10, 9}, {9, 10},   /* router solicitation / advertisement */
        {17, 18}, {18, 17}, /* address mask */
    };
    static const uint8_t v6[][2] = {
        {128, 129}, {129, 128}, /* echo request / reply */
        {133, 134}, {134, 133}, /* router solicitation / advertisement */
        {135, 136}, {136, 135}, /* neighbor solicitation / advertisement */
        {130, 131}, {131, 130}, /* multicast listener query / report */
        {144, 145}, {145, 144}, /* home agent address discovery */
        {139, 140}, {140, 139}, /* node information query / response */
    };
    const uint8_t(*t)[2] = proto == 58 ? v6 : v4;
    size_t n = proto == 58 ? sizeof(v6) / sizeof(v6[0]) : sizeof(v4) / sizeof(v4[0]);
    *sport = type;
    *dport = code;
    for (size_t i = 0; i < n; i++) {
        if (t[i][0] == type) {
            *dport = t[i][1];
            break;
        }
    }
}

int community_id_icmp(uint16_t seed, int ip_ver, const uint8_t *saddr, const uint8_t *daddr, uint8_t proto,
                      uint8_t type, uint8_t code, char *out, size_t outlen)
{
    uint16_t sp, dp;
    community_id_icmp_ports(proto, type, code, &sp, &dp);
    return community_id_v1(seed, ip_ver, saddr, daddr, proto, sp, dp, out, outlen);
}
