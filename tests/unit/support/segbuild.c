/*
 * segbuild.c - see segbuild.h. Kept free of assertions so any test
 * framework can use it; sb_check returns what it found instead.
 */
#include "segbuild.h"

#include <string.h>

void sb_ctx_init(struct sb_ctx *c, uint64_t memcap)
{
    memset(c, 0, sizeof(*c));
    c->pool.memcap = memcap;
    c->pool.ctr = &c->ctr;
}

static void acc(struct sb_ctx *c, const struct reasm_result *r)
{
    c->res.new_bytes += r->new_bytes;
    c->res.gaps += r->gaps;
    c->res.lost += r->lost;
    if (r->error)
        c->res.error = r->error;
}

struct reasm_result sb_seg(struct tcp_reasm *r, struct sb_ctx *c, uint32_t seq, const char *s)
{
    struct reasm_result res = {0};
    tcp_reasm_insert(r, &c->pool, seq, (const uint8_t *)s, (uint32_t)strlen(s), &res);
    acc(c, &res);
    return res;
}

struct reasm_result sb_ack(struct tcp_reasm *r, struct sb_ctx *c, uint32_t ack)
{
    struct reasm_result res = {0};
    tcp_reasm_ack(r, &c->pool, ack, &res);
    acc(c, &res);
    return res;
}

struct reasm_result sb_flush(struct tcp_reasm *r, struct sb_ctx *c)
{
    struct reasm_result res = {0};
    tcp_reasm_flush(r, &c->pool, &res);
    acc(c, &res);
    return res;
}

size_t sb_read(struct tcp_reasm *r, char *out, size_t cap)
{
    uint32_t n = stream_buf_consume(&r->buf, (uint8_t *)out, (uint32_t)(cap - 1));
    out[n] = '\0';
    return n;
}

const char *sb_check(const struct tcp_reasm *r)
{
    if (r->next - r->gap_bytes != r->buf.head)
        return "next - gap_bytes != buf.head";
    if (!(r->buf.tail <= r->buf.read && r->buf.read <= r->buf.head))
        return "stream_buf: not tail <= read <= head";
    if (r->buf.head - r->buf.tail > r->buf.size)
        return "stream_buf: holds more than its size";
    uint64_t held = 0, prev_end = r->next;
    for (const struct reasm_seg *s = r->ooo; s; s = s->next) {
        if (s->off <= r->next)
            return "held segment not after next";
        if (s->off < prev_end)
            return "held segments overlap or unsorted";
        if (s->len == 0)
            return "empty held segment";
        prev_end = s->off + s->len;
        held += s->len;
    }
    if (held != r->ooo_held)
        return "ooo_held mismatch";
    for (uint32_t i = 0; i < r->ngaps; i++) {
        if (r->gaps[i].start >= r->gaps[i].end)
            return "empty gap";
        if (i && r->gaps[i].start < r->gaps[i - 1].end)
            return "gaps unsorted";
        if (r->gaps[i].end > r->next)
            return "gap beyond next";
    }
    return NULL;
}

void sb_flow_key(struct mos_flow *f, uint16_t cport, uint16_t sport)
{
    memset(f, 0, sizeof(*f));
    f->key.ip_ver = 4;
    f->key.proto = 6;
    const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
    memcpy(f->key.addr[0], a, 4);
    memcpy(f->key.addr[1], b, 4);
    f->key.port[0] = cport;
    f->key.port[1] = sport;
}

struct mos_pkt sb_pkt(const struct mos_flow *f, int from, uint8_t flags, uint32_t seq, uint32_t ack,
                      uint16_t win, uint32_t len)
{
    static const uint8_t payload[1500] = {'x'};
    struct mos_pkt p;
    memset(&p, 0, sizeof(p));
    p.ip_ver = 4;
    p.proto = 6;
    memcpy(p.src, f->key.addr[from], 16);
    memcpy(p.dst, f->key.addr[1 - from], 16);
    p.sport = f->key.port[from];
    p.dport = f->key.port[1 - from];
    p.seq = seq;
    p.ack = ack;
    p.tcp_flags = flags;
    p.win = win;
    p.wscale = -1;
    p.payload = payload;
    p.payload_len = p.payload_wire_len = len > sizeof(payload) ? (uint32_t)sizeof(payload) : len;
    return p;
}
