/*
 * pkt_rewrite.c - in-flight packet edits and sequence remapping.
 *
 * Edits happen on the engine's private copy of the frame, never on the
 * input buffer. After a size-changing payload edit in direction d at
 * sender sequence X (the end of the edited segment), every later sequence
 * number of d is shifted by the cumulative size change on the way out, and
 * every acknowledgement coming back from the peer is shifted back on the
 * way in, so the middlebox's own tracking stays in the sender's space and
 * each endpoint sees a consistent stream. The table is a short list of
 * (edit point, cumulative delta) per direction, walked from the newest
 * entry: edits are rare and recent ones are what later packets hit.
 */
#include "pkt_rewrite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "mos_error.h"

struct remap_ent {
    uint32_t at;  /* sender-space sequence number where the delta starts */
    int32_t cum;  /* cumulative size change from there on */
};

struct seq_remap {
    uint32_t n[2];
    struct remap_ent e[2][SEQ_REMAP_MAX];
};

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *rebase(const uint8_t *ptr, const uint8_t *from, uint8_t *to)
{
    return ptr ? to + (ptr - from) : NULL;
}

int pkt_rewrite_own(struct mos_pkt *p, uint8_t *buf, const uint8_t *orig, uint32_t caplen)
{
    if (p->reassembled)
        return MOS_E_REASSEMBLED; /* there is no one frame to edit */
    if (caplen > PKT_REWRITE_MAX_FRAME)
        return -EMSGSIZE;
    memcpy(buf, orig, caplen);
    p->l3 = rebase(p->l3, orig, buf);
    p->l4 = rebase(p->l4, orig, buf);
    p->payload = rebase(p->payload, orig, buf);
    p->frame = buf;
    return 0;
}

void pkt_rewrite_fix_checksums(struct mos_pkt *p, uint8_t *buf)
{
    uint8_t *l3 = buf + (p->l3 - p->frame);
    if (p->ip_ver == 4) {
        uint32_t ihl = (uint32_t)(l3[0] & 0x0f) * 4;
        l3[10] = l3[11] = 0;
        wr16(l3 + 10, decode_ipv4_checksum(l3, ihl));
    }
    if (!p->l4 || (p->proto != 6 && p->proto != 17))
        return;
    uint8_t *l4 = buf + (p->l4 - p->frame);
    uint32_t at = p->proto == 6 ? 16 : 6;
    if (p->l4_len < at + 2)
        return;
    l4[at] = l4[at + 1] = 0;
    uint16_t sum = decode_l4_checksum(p, l4, p->l4_len);
    if (p->proto == 17 && sum == 0)
        sum = 0xffff; /* 0 means "no checksum" in UDP */
    wr16(l4 + at, sum);
}

int pkt_rewrite_edit(struct mos_pkt *p, uint8_t *buf, uint32_t *caplen, int part, uint32_t off,
                     uint32_t remove, const uint8_t *data, uint32_t len, int32_t *delta_out)
{
    *delta_out = 0;
    if (p->frame != buf || !p->l3)
        return -EINVAL;
    uint8_t *base;
    uint32_t plen;
    switch (part) {
    case MOS_PART_IP_HDR:
        base = buf + (p->l3 - buf);
        plen = p->l4 ? (uint32_t)(p->l4 - p->l3) : p->l3_len;
        break;
    case MOS_PART_TCP_HDR:
        if (p->proto != 6 || !p->l4 || !p->payload)
            return -EINVAL;
        base = buf + (p->l4 - buf);
        plen = (uint32_t)(p->payload - p->l4);
        break;
    case MOS_PART_PAYLOAD:
        if (!p->payload || (p->proto != 6 && p->proto != 17))
            return -EINVAL;
        if (p->payload_len != p->payload_wire_len && len != remove)
            return MOS_E_SNAPLEN; /* the rest of the payload was never captured */
        base = buf + (p->payload - buf);
        plen = p->payload_len;
        break;
    default:
        return -EINVAL;
    }
    if ((uint64_t)off + remove > plen || (!data && len))
        return MOS_E_PART_RANGE;
    if (len != remove && part != MOS_PART_PAYLOAD)
        return -EINVAL; /* headers keep their size */
    int32_t delta = (int32_t)len - (int32_t)remove;
    if (delta != 0) {
        uint32_t ip_end = (uint32_t)(p->l3 - buf) + p->l3_len; /* Ethernet padding is dropped */
        uint32_t tail_from = (uint32_t)(base + off + remove - buf);
        if (ip_end < tail_from || (uint64_t)ip_end + (uint64_t)(int64_t)delta > PKT_REWRITE_MAX_FRAME)
            return -EMSGSIZE;
        if ((int64_t)p->l3_len + delta > 65535 + (p->ip_ver == 6 ? 40 : 0))
            return -EMSGSIZE;
        memmove(base + off + len, base + off + remove, ip_end - tail_from);
        *caplen = ip_end + (uint32_t)delta;
        p->payload_len = (uint32_t)((int64_t)p->payload_len + delta);
        p->payload_wire_len = p->payload_len;
        p->l3_len = (uint32_t)((int64_t)p->l3_len + delta);
        p->l4_len = (uint32_t)((int64_t)p->l4_len + delta);
        p->caplen = p->wirelen = *caplen;
        uint8_t *l3 = buf + (p->l3 - buf);
        if (p->ip_ver == 4)
            wr16(l3 + 2, (uint16_t)p->l3_len);
        else
            wr16(l3 + 4, (uint16_t)(p->l3_len - 40));
        if (p->proto == 17)
            wr16(buf + (p->l4 - buf) + 4, (uint16_t)p->l4_len);
    }
    if (len)
        memcpy(base + off, data, len);
    if (part == MOS_PART_TCP_HDR) { /* keep the decoded view in step with the header */
        const uint8_t *t = p->l4;
        p->seq = rd32(t + 4);
        p->ack = rd32(t + 8);
        p->tcp_flags = t[13];
    }
    pkt_rewrite_fix_checksums(p, buf);
    *delta_out = delta;
    return 0;
}

void pkt_rewrite_set_seq_ack(struct mos_pkt *p, uint8_t *buf, uint32_t seq, uint32_t ack)
{
    uint8_t *l4 = buf + (p->l4 - p->frame);
    wr32(l4 + 4, seq);
    wr32(l4 + 8, ack);
    pkt_rewrite_fix_checksums(p, buf);
}

int seq_remap_add(struct seq_remap **rp, int dir, uint32_t at, int32_t delta)
{
    if (dir != 0 && dir != 1)
        return -EINVAL;
    if (!*rp && !(*rp = calloc(1, sizeof(**rp))))
        return -ENOMEM;
    struct seq_remap *r = *rp;
    uint32_t n = r->n[dir];
    int32_t prev = n ? r->e[dir][n - 1].cum : 0;
    if (n && r->e[dir][n - 1].at == at) {
        r->e[dir][n - 1].cum = prev + delta;
        return 0;
    }
    if (n && (int32_t)(at - r->e[dir][n - 1].at) < 0)
        return -EINVAL; /* an edit before an earlier one (a retransmission) cannot be mapped */
    if (n >= SEQ_REMAP_MAX)
        return -ENOSPC;
    r->e[dir][n] = (struct remap_ent){.at = at, .cum = prev + delta};
    r->n[dir] = n + 1;
    return 0;
}

uint32_t seq_remap_seq(const struct seq_remap *r, int dir, uint32_t seq)
{
    if (!r)
        return seq;
    for (uint32_t i = r->n[dir]; i-- > 0;)
        if ((int32_t)(seq - r->e[dir][i].at) >= 0)
            return seq + (uint32_t)r->e[dir][i].cum;
    return seq;
}

uint32_t seq_remap_ack(const struct seq_remap *r, int dir, uint32_t ack)
{
    if (!r)
        return ack;
    for (uint32_t i = r->n[dir]; i-- > 0;) {
        uint32_t wire_at = r->e[dir][i].at + (uint32_t)r->e[dir][i].cum;
        if ((int32_t)(ack - wire_at) >= 0)
            return ack - (uint32_t)r->e[dir][i].cum;
    }
    return ack;
}

uint32_t seq_remap_sack(const struct seq_remap *r, int dir, const struct mos_pkt *p, uint8_t *tcp_out)
{
    uint32_t changed = 0;
    if (!seq_remap_active(r, dir))
        return 0;
    for (uint32_t k = 0; k < p->nsack; k++) {
        for (int e = 0; e < 2; e++) {
            uint32_t wire = p->sack[k][e];
            uint32_t own = seq_remap_ack(r, dir, wire);
            if (own == wire)
                continue;
            changed++;
            if (tcp_out)
                wr32(tcp_out + p->sack_off + 8 * k + 4 * (uint32_t)e, own);
        }
    }
    return changed;
}

bool seq_remap_active(const struct seq_remap *r, int dir)
{
    return r && r->n[dir] > 0;
}

void seq_remap_free(struct seq_remap *r)
{
    free(r);
}

uint32_t pkt_build_rst(uint8_t *out, const struct mos_pkt *t, bool reverse, uint32_t seq, uint32_t ack)
{
    if (t->linktype != 1 || t->l2_len < 14 || t->l2_len > 64 || t->reassembled)
        return 0;
    uint32_t l2 = t->l2_len;
    memcpy(out, t->frame, l2);
    if (reverse) { /* swap destination and source MAC */
        uint8_t tmp[6];
        memcpy(tmp, out, 6);
        memcpy(out, out + 6, 6);
        memcpy(out + 6, tmp, 6);
    }
    const uint8_t *src = reverse ? t->dst : t->src, *dst = reverse ? t->src : t->dst;
    uint16_t sport = reverse ? t->dport : t->sport, dport = reverse ? t->sport : t->dport;
    uint8_t *ip = out + l2, *tcp;
    struct mos_pkt v = {.ip_ver = t->ip_ver, .proto = 6, .frame = out, .l3 = ip};
    memcpy(v.src, src, 16);
    memcpy(v.dst, dst, 16);
    if (t->ip_ver == 4) {
        memset(ip, 0, 20);
        ip[0] = 0x45;
        wr16(ip + 2, 40);
        ip[6] = 0x40; /* DF */
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        tcp = ip + 20;
        v.l3_len = 40;
    } else {
        memset(ip, 0, 40);
        ip[0] = 0x60;
        wr16(ip + 4, 20);
        ip[6] = 6;
        ip[7] = 64;
        memcpy(ip + 8, src, 16);
        memcpy(ip + 24, dst, 16);
        tcp = ip + 40;
        v.l3_len = 60;
    }
    memset(tcp, 0, 20);
    wr16(tcp, sport);
    wr16(tcp + 2, dport);
    wr32(tcp + 4, seq);
    wr32(tcp + 8, ack);
    tcp[12] = 5 << 4;
    tcp[13] = MOS_TCP_RST | MOS_TCP_ACK;
    v.l4 = tcp;
    v.l4_len = 20;
    pkt_rewrite_fix_checksums(&v, out);
    return (uint32_t)(tcp + 20 - out);
}
