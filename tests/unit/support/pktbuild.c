/*
 * pktbuild.c - packet builders and a pcap writer for tests.
 *
 * Written from the RFC formats only, sharing no code with core/decode.c, so
 * a test built with these helpers is an independent check of the decoder.
 * Everything is assembled in network byte order with explicit byte stores.
 */
#include "pktbuild.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static void w16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void w32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t sum_bytes(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

uint16_t pkt_inet_csum(const uint8_t *p, size_t len)
{
    return (uint16_t)~sum_bytes(0, p, len);
}

static bool is_v6(const struct pkt_spec *s)
{
    return s->src && strchr(s->src, ':') != NULL;
}

static size_t tcp_options(uint8_t *o, const struct pkt_spec *s)
{
    if (s->tcp_opts_raw) {
        memcpy(o, s->tcp_opts_raw, s->tcp_opts_raw_len);
        return s->tcp_opts_raw_len;
    }
    size_t n = 0;
    if (s->mss) {
        o[n] = 2;
        o[n + 1] = 4;
        w16(o + n + 2, s->mss);
        n += 4;
    }
    if (s->sack_perm) {
        o[n] = 4;
        o[n + 1] = 2;
        n += 2;
    }
    if (s->has_ts) {
        o[n] = 8;
        o[n + 1] = 10;
        w32(o + n + 2, s->tsval);
        w32(o + n + 6, s->tsecr);
        n += 10;
    }
    if (s->has_wscale) {
        o[n] = 3;
        o[n + 1] = 3;
        o[n + 2] = s->wscale;
        n += 3;
    }
    if (s->nsack) {
        uint8_t k = s->nsack > 4 ? 4 : s->nsack;
        o[n] = 5;
        o[n + 1] = (uint8_t)(2 + 8 * k);
        for (uint8_t i = 0; i < k; i++) {
            w32(o + n + 2 + 8 * i, s->sack[i][0]);
            w32(o + n + 6 + 8 * i, s->sack[i][1]);
        }
        n += 2 + 8u * k;
    }
    while (n % 4)
        o[n++] = 1; /* NOP */
    return n;
}

/* Transport header + payload at l4; returns its length. */
static size_t build_l4(uint8_t *l4, const struct pkt_spec *s, uint8_t proto)
{
    size_t hl;
    if (proto == 6) {
        w16(l4, s->sport);
        w16(l4 + 2, s->dport);
        w32(l4 + 4, s->seq);
        w32(l4 + 8, s->ack);
        size_t ol = tcp_options(l4 + 20, s);
        hl = 20 + ol;
        l4[12] = (uint8_t)((hl / 4) << 4);
        l4[13] = s->flags;
        w16(l4 + 14, s->win ? s->win : 65535);
        w16(l4 + 16, 0);
        w16(l4 + 18, s->urg);
    } else if (proto == 17) {
        hl = 8;
        w16(l4, s->sport);
        w16(l4 + 2, s->dport);
        w16(l4 + 4, (uint16_t)(8 + s->payload_len));
        w16(l4 + 6, 0);
    } else { /* ICMP / ICMPv6 echo request */
        hl = 8;
        l4[0] = proto == 58 ? 128 : 8;
        l4[1] = 0;
        w16(l4 + 2, 0);
        w16(l4 + 4, s->sport);
        w16(l4 + 6, s->dport);
    }
    if (s->payload_len)
        memcpy(l4 + hl, s->payload, s->payload_len);
    return hl + s->payload_len;
}

static void set_l4_csum(uint8_t *l4, size_t l4len, uint8_t proto, const uint8_t *src,
                        const uint8_t *dst, size_t alen, int mode)
{
    size_t pos = proto == 6 ? 16 : proto == 17 ? 6 : 2;
    uint32_t ps = 0;
    if (proto != 1) { /* ICMPv4 has no pseudo header */
        ps = sum_bytes(ps, src, alen);
        ps = sum_bytes(ps, dst, alen);
        ps += proto;
        ps += (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff);
        while (ps >> 16)
            ps = (ps & 0xffff) + (ps >> 16);
    }
    w16(l4 + pos, 0);
    uint16_t c = (uint16_t)~sum_bytes(ps, l4, l4len);
    if (proto == 17 && c == 0)
        c = 0xffff;
    switch (mode) {
    case PKT_CSUM_BAD:
        c ^= 0x5a5a;
        break;
    case PKT_CSUM_OFFLOAD:
        c = (uint16_t)ps;
        break;
    case PKT_CSUM_ZERO:
        c = 0;
        break;
    default:
        break;
    }
    w16(l4 + pos, c);
}

size_t pkt_build_ip(uint8_t *buf, const struct pkt_spec *s)
{
    const char *src = s->src ? s->src : "10.0.0.1";
    const char *dst = s->dst ? s->dst : "10.0.0.2";
    uint8_t proto = s->proto ? s->proto : 6;
    uint8_t a[16], b[16];
    if (is_v6(s)) {
        if (inet_pton(AF_INET6, src, a) != 1 || inet_pton(AF_INET6, dst, b) != 1)
            return 0;
        uint8_t *ip = buf;
        memset(ip, 0, 40);
        ip[0] = 0x60;
        ip[7] = s->ttl ? s->ttl : 64;
        memcpy(ip + 8, a, 16);
        memcpy(ip + 24, b, 16);
        size_t off = 40;
        uint8_t *nh = ip + 6;
        for (uint8_t i = 0; i < s->n_ext6 && i < 4; i++) {
            uint8_t t = s->ext6_type[i];
            size_t l = s->ext6_len[i];
            *nh = t;
            memset(ip + off, 0, l);
            ip[off + 1] = t == 51 ? (uint8_t)(l / 4 - 2) : (uint8_t)(l / 8 - 1);
            nh = ip + off;
            off += l;
        }
        *nh = proto;
        size_t l4len = build_l4(ip + off, s, proto);
        set_l4_csum(ip + off, l4len, proto, a, b, 16, s->l4_csum);
        w16(ip + 4, (uint16_t)(off - 40 + l4len));
        return off + l4len;
    }
    if (inet_pton(AF_INET, src, a) != 1 || inet_pton(AF_INET, dst, b) != 1)
        return 0;
    uint8_t *ip = buf;
    size_t ihl = 20 + s->ip_opts_len;
    memset(ip, 0, ihl);
    ip[0] = (uint8_t)(0x40 | (ihl / 4));
    w16(ip + 4, s->ip_id);
    w16(ip + 6, s->df ? 0x4000 : 0);
    ip[8] = s->ttl ? s->ttl : 64;
    ip[9] = proto;
    memcpy(ip + 12, a, 4);
    memcpy(ip + 16, b, 4);
    if (s->ip_opts_len)
        memcpy(ip + 20, s->ip_opts, s->ip_opts_len);
    size_t l4len = build_l4(ip + ihl, s, proto);
    set_l4_csum(ip + ihl, l4len, proto, a, b, 4, s->l4_csum);
    w16(ip + 2, (uint16_t)(ihl + l4len));
    uint16_t c = pkt_inet_csum(ip, ihl);
    w16(ip + 10, s->bad_ip_csum ? (uint16_t)(c ^ 0x1111) : c);
    return ihl + l4len;
}

size_t pkt_link_len(int linktype, const struct pkt_spec *s)
{
    switch (linktype) {
    case 1:
        return 14 + 4u * s->nvlan;
    case 113:
        return 16;
    case 276:
        return 20;
    case 0:
    case 108:
        return 4;
    default:
        return 0;
    }
}

size_t pkt_build_link(uint8_t *buf, int linktype, const struct pkt_spec *s)
{
    size_t l2 = pkt_link_len(linktype, s);
    size_t n = pkt_build_ip(buf + l2, s);
    if (n == 0)
        return 0;
    uint16_t et = is_v6(s) ? 0x86dd : 0x0800;
    switch (linktype) {
    case 1: {
        static const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1};
        memcpy(buf, macs, 12);
        size_t o = 12;
        for (uint8_t i = 0; i < s->nvlan; i++) {
            w16(buf + o, s->tpid[i] ? s->tpid[i] : 0x8100);
            w16(buf + o + 2, s->vlan[i]);
            o += 4;
        }
        w16(buf + o, et);
        size_t len = l2 + n;
        if (s->pad_to > len) {
            memset(buf + len, 0, s->pad_to - len);
            len = s->pad_to;
        }
        return len;
    }
    case 113:
        memset(buf, 0, 16);
        w16(buf + 2, 1);  /* ARPHRD_ETHER */
        w16(buf + 4, 6);  /* address length */
        w16(buf + 14, et);
        break;
    case 276:
        memset(buf, 0, 20);
        w16(buf, et);
        w32(buf + 4, 1);  /* interface index */
        w16(buf + 8, 1);  /* ARPHRD_ETHER */
        buf[11] = 6;
        break;
    case 0: {
        uint32_t af = is_v6(s) ? 30 : 2;
        memcpy(buf, &af, 4); /* host byte order, as BSD NULL is */
        break;
    }
    case 108:
        w32(buf, is_v6(s) ? 24 : 2);
        break;
    default:
        break;
    }
    return l2 + n;
}

size_t pkt_build(uint8_t *buf, const struct pkt_spec *s)
{
    return pkt_build_link(buf, 1, s);
}

size_t pkt_frag4(uint8_t *out, const uint8_t *frame, size_t l2_len, uint32_t off, uint32_t len,
                 bool more)
{
    const uint8_t *ip = frame + l2_len;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    memcpy(out, frame, l2_len + ihl);
    uint8_t *o = out + l2_len;
    memcpy(o + ihl, ip + ihl + off, len);
    w16(o + 2, (uint16_t)(ihl + len));
    uint16_t ff = (uint16_t)((ip[6] << 8 | ip[7]) & 0x4000);
    ff |= (uint16_t)(off / 8);
    if (more)
        ff |= 0x2000;
    w16(o + 6, ff);
    w16(o + 10, 0);
    w16(o + 10, pkt_inet_csum(o, ihl));
    return l2_len + ihl + len;
}

size_t pkt_frag6(uint8_t *out, const uint8_t *frame, size_t l2_len, uint32_t off, uint32_t len,
                 bool more, uint32_t id)
{
    const uint8_t *ip = frame + l2_len;
    memcpy(out, frame, l2_len + 40);
    uint8_t *o = out + l2_len;
    o[6] = 44;
    w16(o + 4, (uint16_t)(8 + len));
    uint8_t *fh = o + 40;
    fh[0] = ip[6];
    fh[1] = 0;
    w16(fh + 2, (uint16_t)((off & 0xfff8) | (more ? 1 : 0)));
    w32(fh + 4, id);
    memcpy(fh + 8, ip + 40 + off, len);
    return l2_len + 48 + len;
}

struct pkt_pcap *pkt_pcap_open(const char *path, uint32_t linktype, bool nsec)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return NULL;
    struct {
        uint32_t magic;
        uint16_t vmaj, vmin;
        int32_t thiszone;
        uint32_t sigfigs, snaplen, linktype;
    } h = {nsec ? 0xa1b23c4du : 0xa1b2c3d4u, 2, 4, 0, 0, 262144, linktype};
    if (fwrite(&h, sizeof(h), 1, f) != 1) {
        fclose(f);
        return NULL;
    }
    struct pkt_pcap *w = malloc(sizeof(*w));
    if (w == NULL) {
        fclose(f);
        return NULL;
    }
    w->f = f;
    w->nsec = nsec;
    return w;
}

int pkt_pcap_write(struct pkt_pcap *w, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
                   uint32_t wirelen)
{
    uint32_t rec[4];
    rec[0] = (uint32_t)(ts_ns / 1000000000u);
    rec[1] = (uint32_t)(w->nsec ? ts_ns % 1000000000u : (ts_ns % 1000000000u) / 1000u);
    rec[2] = caplen;
    rec[3] = wirelen;
    if (fwrite(rec, sizeof(rec), 1, w->f) != 1 || fwrite(data, 1, caplen, w->f) != caplen)
        return -1;
    return 0;
}

int pkt_pcap_close(struct pkt_pcap *w)
{
    int rc = fclose(w->f);
    free(w);
    return rc == 0 ? 0 : -1;
}
