/*
 * tcp_reasm.c - one direction of TCP reassembly.
 *
 * Design: sequence numbers are unwrapped against the mapping of `next`
 * (ref_seq/ref_off are kept equal to base_seq + next / next), so any segment
 * within +-2 GiB of the next expected byte maps to the right 64-bit stream
 * offset; segments more than REASM_FAR away are refused as out of window
 * before that limit matters. In-order bytes go straight to the stream_buf;
 * out-of-order bytes are held in `ooo`, a singly linked list sorted by
 * offset.
 *
 * Invariants (checked by the unit tests):
 *  - held segments never overlap each other and all start after `next`
 *    (drain() runs after every change that moves `next`);
 *  - next - gap_bytes == buf.head: gap bytes are never stored, the bytes after
 *    a hole follow directly in the ring (also when nothing is stored);
 *  - gaps[] is sorted ascending (holes are only recorded at `next`);
 *    adjacent holes are merged into one entry (gaps_truncated says an entry
 *    could not be listed);
 *  - pool->held is the sum of the held bytes of every direction with
 *    storage enabled; ooo_held is this direction's (ranges only when
 *    disabled, to keep the window meaningful).
 *
 * Overlap policy: first-wins keeps the bytes already held; last-wins lets a
 * newer segment overwrite held out-of-order bytes. Delivered bytes never
 * change under either policy (the application may have read them already):
 * last-wins therefore only applies to bytes not yet delivered.
 *
 * Disabled storage (enabled == false): offsets, holes, gaps and the
 * retransmission verdict keep working on ranges only; held segments carry no
 * bytes. An inconsistent retransmission cannot be detected without the
 * bytes, so every retransmission then counts as unverifiable.
 *
 * Counting: tcp_reasm_insert counts what it sees (rexmit, inconsistent,
 * unverifiable, keepalive, out of window, ooo segments, gaps, bytes). It
 * ignores keepalives and out-of-window segments itself, so a caller may pass
 * every payload-carrying segment.
 */
#include "tcp_reasm.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mos_types.h"

/* A segment farther than this from the next expected byte cannot belong to
 * the stream: 1 GiB is the largest window TCP can advertise (65535 << 14). */
#define REASM_FAR ((int64_t)1 << 30)
#define REASM_GAPS_FIRST 8

#define CTR_ADD(pool, field, v)                                                \
    do {                                                                       \
        if ((pool)->ctr)                                                       \
            (pool)->ctr->field += (v);                                         \
    } while (0)

struct cls_full {
    struct reasm_class c;
    int64_t soff;        /* signed stream offset of the first byte */
    uint64_t received;   /* bytes of the segment already received */
    bool unverifiable;   /* some of those could not be compared */
};

static void update_ref(struct tcp_reasm *r)
{
    r->ref_off = r->next;
    r->ref_seq = r->base_seq + (uint32_t)r->next;
}

static int64_t soff_of(const struct tcp_reasm *r, uint32_t seq)
{
    return (int64_t)r->ref_off + (int32_t)(seq - r->ref_seq);
}

void tcp_reasm_init(struct tcp_reasm *r, uint32_t rcvbuf, uint32_t ooo_window, int overlap)
{
    memset(r, 0, sizeof(*r));
    r->enabled = rcvbuf > 0;
    r->overlap = (uint8_t)overlap;
    r->ooo_window = ooo_window;
    stream_buf_init(&r->buf, rcvbuf);
}

static void pool_gauge(struct reasm_pool *pool)
{
    if (!pool->ctr)
        return;
    pool->ctr->reasm_ooo_bytes_held = pool->held;
    if (pool->held > pool->ctr->reasm_ooo_peak_bytes)
        pool->ctr->reasm_ooo_peak_bytes = pool->held;
}

static void release(struct tcp_reasm *r, struct reasm_pool *pool, struct reasm_seg *s)
{
    r->ooo_held -= s->len;
    if (r->enabled) {
        pool->held -= s->len;
        pool_gauge(pool);
    }
    free(s);
}

void tcp_reasm_free(struct tcp_reasm *r, struct reasm_pool *pool)
{
    while (r->ooo) {
        struct reasm_seg *s = r->ooo;
        r->ooo = s->next;
        release(r, pool, s);
    }
    free(r->gaps);
    r->gaps = NULL;
    r->ngaps = r->gaps_cap = 0;
    stream_buf_free(&r->buf, pool ? pool->bufs : NULL);
}

void tcp_reasm_set_storage(struct tcp_reasm *r, struct reasm_pool *pool, bool on, uint32_t cap)
{
    if (on == r->enabled)
        return;
    struct reasm_seg **link = &r->ooo;
    while (*link) {
        struct reasm_seg *s = *link;
        if (on) { /* a range without bytes: never deliverable as bytes */
            *link = s->next;
            r->ooo_held -= s->len;
            free(s);
            continue;
        }
        pool->held -= s->len; /* release() stops counting it once disabled */
        struct reasm_seg *t = realloc(s, sizeof(*s)); /* keep the range, drop the bytes */
        if (t)
            *link = s = t;
        link = &s->next;
    }
    pool_gauge(pool);
    stream_buf_restart(&r->buf, pool->bufs, on ? cap : 0);
    r->enabled = on;
}

void tcp_reasm_set_isn(struct tcp_reasm *r, uint32_t isn)
{
    r->base_seq = isn + 1;
    r->base_set = true;
    update_ref(r);
}

uint64_t tcp_reasm_offset(struct tcp_reasm *r, uint32_t seq)
{
    if (!r->base_set)
        return 0;
    int64_t o = soff_of(r, seq);
    return o < 0 ? 0 : (uint64_t)o;
}

/* Already-delivered part [a, end) of a segment starting at s: bytes not in a
 * recorded hole were received; compare them with the ring where still held. */
static void check_delivered(const struct tcp_reasm *r, int64_t s, int64_t a, int64_t end, const uint8_t *p,
                            struct cls_full *o)
{
    uint32_t i = 0;
    uint64_t gb = 0; /* gap bytes before offset a */
    while (i < r->ngaps && (int64_t)r->gaps[i].end <= a)
        gb += r->gaps[i].end - r->gaps[i].start, i++;
    /* With a truncated gap list, holes after the last listed one are unknown:
     * their bytes are taken as received but cannot be mapped to the ring. */
    bool truncated = r->gaps_truncated;
    int64_t known_to = truncated && r->ngaps ? (int64_t)r->gaps[r->ngaps - 1].end : (truncated ? 0 : INT64_MAX);
    while (a < end) {
        if (i < r->ngaps && (int64_t)r->gaps[i].start <= a) {
            a = (int64_t)r->gaps[i].end;
            gb += r->gaps[i].end - r->gaps[i].start;
            i++;
            continue;
        }
        int64_t b = end;
        if (i < r->ngaps && (int64_t)r->gaps[i].start < b)
            b = (int64_t)r->gaps[i].start;
        uint32_t len = (uint32_t)(b - a);
        o->received += len;
        if (!r->enabled || a >= known_to) {
            o->unverifiable = true;
        } else {
            bool differ = false;
            uint32_t cmp = stream_buf_compare(&r->buf, (uint64_t)a - gb, p + (a - s), len, &differ);
            if (cmp < len)
                o->unverifiable = true;
            if (differ)
                o->c.inconsistent = true;
        }
        a = b;
    }
}

static void classify(const struct tcp_reasm *r, uint32_t seq, const uint8_t *p, uint32_t n, struct cls_full *o)
{
    memset(o, 0, sizeof(*o));
    if (!r->base_set)
        return; /* first bytes of the direction: new by definition */
    int64_t s = soff_of(r, seq), e = s + n, nx = (int64_t)r->next;
    o->soff = s;
    o->c.off = s < 0 ? 0 : (uint64_t)s;
    if (s > nx + REASM_FAR || e < nx - REASM_FAR) {
        o->c.out_of_window = true;
        return;
    }
    /* Keep-alive: one below the next byte, carrying nothing or one old byte. */
    if (n <= 1 && s == nx - 1) {
        o->c.keepalive = true;
        return;
    }
    if (n == 0)
        return;
    int64_t a = s < 0 ? 0 : s;
    if (a < nx)
        check_delivered(r, s, a, e < nx ? e : nx, p, o);
    for (const struct reasm_seg *h = r->ooo; h && (int64_t)h->off < e; h = h->next) {
        int64_t ha = (int64_t)h->off, he = ha + h->len;
        int64_t lo = s > ha ? s : ha, hi = e < he ? e : he;
        if (lo >= hi)
            continue;
        o->received += (uint64_t)(hi - lo);
        if (!r->enabled)
            o->unverifiable = true;
        else if (memcmp(h->data + (lo - ha), p + (lo - s), (size_t)(hi - lo)) != 0)
            o->c.inconsistent = true;
    }
    o->c.rexmit = o->received > 0;
}

void tcp_reasm_classify(const struct tcp_reasm *r, uint32_t seq, const uint8_t *p, uint32_t n,
                        struct reasm_class *out)
{
    struct cls_full c;
    classify(r, seq, p, n, &c);
    *out = c.c;
}

static void add_gap(struct tcp_reasm *r, struct reasm_pool *pool, uint64_t start, uint64_t end,
                    struct reasm_result *res)
{
    if (end <= start)
        return;
    if (r->ngaps && !r->gaps_truncated && r->gaps[r->ngaps - 1].end == start) {
        /* a hole right after the last one (nothing was delivered between,
         * e.g. an ACK moving past the end of an earlier skip) is the same
         * hole: list it once. ngaps_total still counts the skip, because
         * the engine raises a GAP event per skip. */
        r->gaps[r->ngaps - 1].end = end;
    } else if (r->ngaps < REASM_MAX_GAPS) {
        if (r->ngaps == r->gaps_cap) {
            uint32_t nc = r->gaps_cap ? r->gaps_cap * 2 : REASM_GAPS_FIRST;
            if (nc > REASM_MAX_GAPS)
                nc = REASM_MAX_GAPS;
            struct reasm_gap *g = realloc(r->gaps, nc * sizeof(*g));
            if (g) {
                r->gaps = g;
                r->gaps_cap = nc;
            }
        }
        if (r->ngaps < r->gaps_cap)
            r->gaps[r->ngaps++] = (struct reasm_gap){start, end};
        else
            r->gaps_truncated = true;
    } else {
        r->gaps_truncated = true;
    }
    r->ngaps_total++;
    r->gap_bytes += end - start;
    r->next = end;
    update_ref(r);
    res->gaps++;
    CTR_ADD(pool, reasm_gaps, 1);
    CTR_ADD(pool, reasm_gap_bytes, end - start);
}

/* Append len in-order bytes at `next`. */
static void deliver(struct tcp_reasm *r, struct reasm_pool *pool, const uint8_t *data, uint32_t len,
                    struct reasm_result *res)
{
    if (len == 0)
        return;
    if (r->enabled) {
        int64_t lost = stream_buf_append(&r->buf, pool->bufs, data, len);
        if (lost < 0) {
            /* No memory for the ring: keep next - gap_bytes == buf.head by
             * turning the bytes into a hole rather than losing track. */
            add_gap(r, pool, r->next, r->next + len, res);
            res->error = MOS_ERR_MEMCAP;
            return;
        }
        if (lost > 0) {
            res->lost += (uint64_t)lost;
            res->error = MOS_ERR_BUF_OVERFLOW;
            CTR_ADD(pool, reasm_buf_overflow_bytes, (uint64_t)lost);
        }
    } else {
        stream_buf_skip(&r->buf, len);
    }
    r->next += len;
    update_ref(r);
    res->new_bytes += len;
    CTR_ADD(pool, reasm_bytes_delivered, len);
}

/* Deliver held segments that became contiguous with `next`. */
static void drain(struct tcp_reasm *r, struct reasm_pool *pool, struct reasm_result *res)
{
    struct reasm_seg *h;
    while ((h = r->ooo) && h->off <= r->next) {
        uint64_t he = h->off + h->len;
        if (he > r->next)
            deliver(r, pool, r->enabled ? h->data + (r->next - h->off) : NULL, (uint32_t)(he - r->next), res);
        r->ooo = h->next;
        release(r, pool, h);
    }
}

/* Holding more is refused: skip the hole before the first thing we have
 * (the first held segment, or the new bytes at `cur` if they come first)
 * and deliver what follows. */
static void force_gap(struct tcp_reasm *r, struct reasm_pool *pool, uint64_t cur, int why,
                      struct reasm_result *res)
{
    uint64_t to = r->ooo && r->ooo->off < cur ? r->ooo->off : cur;
    add_gap(r, pool, r->next, to, res);
    drain(r, pool, res);
    if (why == MOS_ERR_OOO_WINDOW)
        CTR_ADD(pool, reasm_window_forced_gaps, 1);
    else
        CTR_ADD(pool, reasm_memcap_forced_gaps, 1);
    res->error = why;
}

static int hold_limit(const struct tcp_reasm *r, const struct reasm_pool *pool, uint32_t len)
{
    if ((uint64_t)r->ooo_held + len > r->ooo_window)
        return MOS_ERR_OOO_WINDOW;
    if (r->enabled && pool->memcap && pool->held + len > pool->memcap)
        return MOS_ERR_MEMCAP;
    return 0;
}

/* Place [s, e) (bytes p) into the stream: fill holes, deliver what is in
 * order, hold the rest. Every loop turn advances cur or moves next forward. */
static void place(struct tcp_reasm *r, struct reasm_pool *pool, int64_t s, int64_t e, const uint8_t *p,
                  struct reasm_result *res)
{
    bool counted = false;
    int64_t cur = s;
    while (cur < e) {
        if (cur < (int64_t)r->next) {
            cur = (int64_t)r->next;
            continue;
        }
        struct reasm_seg **link = &r->ooo, *h;
        while ((h = *link) && (int64_t)(h->off + h->len) <= cur)
            link = &h->next;
        if (h && (int64_t)h->off <= cur) {
            /* Overlap with a held segment. */
            int64_t oe = (int64_t)(h->off + h->len);
            if (oe > e)
                oe = e;
            if (r->overlap == MOS_OVERLAP_LAST && r->enabled)
                memcpy(h->data + (cur - (int64_t)h->off), p + (cur - s), (size_t)(oe - cur));
            cur = oe;
            continue;
        }
        int64_t pe = h && (int64_t)h->off < e ? (int64_t)h->off : e;
        uint32_t len = (uint32_t)(pe - cur);
        if (cur == (int64_t)r->next) {
            deliver(r, pool, p + (cur - s), len, res);
            drain(r, pool, res);
            cur = pe;
            continue;
        }
        int why = hold_limit(r, pool, len);
        struct reasm_seg *seg = NULL;
        if (!why) {
            seg = malloc(sizeof(*seg) + (r->enabled ? len : 0));
            if (!seg)
                why = MOS_ERR_MEMCAP;
        }
        if (why) {
            force_gap(r, pool, (uint64_t)cur, why, res);
            continue;
        }
        seg->off = (uint64_t)cur;
        seg->len = len;
        if (r->enabled)
            memcpy(seg->data, p + (cur - s), len);
        seg->next = h;
        *link = seg;
        r->ooo_held += len;
        if (r->enabled) {
            pool->held += len;
            pool_gauge(pool);
        }
        if (!counted) {
            CTR_ADD(pool, reasm_segments_ooo, 1);
            counted = true;
        }
        cur = pe;
    }
}

void tcp_reasm_insert(struct tcp_reasm *r, struct reasm_pool *pool, uint32_t seq, const uint8_t *p, uint32_t n,
                      struct reasm_result *res)
{
    if (!r->base_set)
        tcp_reasm_set_isn(r, seq - 1);
    struct cls_full c;
    classify(r, seq, p, n, &c);
    if (c.c.out_of_window) {
        CTR_ADD(pool, reasm_out_of_window, 1);
        return;
    }
    if (c.c.keepalive) {
        CTR_ADD(pool, reasm_keepalive, 1);
        return;
    }
    if (n == 0)
        return;
    if (c.c.rexmit) {
        r->rexmit++;
        CTR_ADD(pool, reasm_rexmit, 1);
        if (c.c.inconsistent) {
            r->rexmit_inconsistent++;
            CTR_ADD(pool, reasm_rexmit_inconsistent, 1);
        }
        if (c.unverifiable)
            CTR_ADD(pool, reasm_rexmit_unverifiable, 1);
    }
    place(r, pool, c.soff, c.soff + n, p, res);
}

void tcp_reasm_ack(struct tcp_reasm *r, struct reasm_pool *pool, uint32_t ack, struct reasm_result *res)
{
    if (!r->base_set)
        return;
    int64_t a = soff_of(r, ack), nx = (int64_t)r->next;
    if (a <= nx || a > nx + REASM_FAR)
        return;
    while ((int64_t)r->next < a) {
        uint64_t to = r->ooo && (int64_t)r->ooo->off < a ? r->ooo->off : (uint64_t)a;
        add_gap(r, pool, r->next, to, res);
        drain(r, pool, res);
    }
}

void tcp_reasm_flush(struct tcp_reasm *r, struct reasm_pool *pool, struct reasm_result *res)
{
    while (r->ooo) {
        add_gap(r, pool, r->next, r->ooo->off, res);
        drain(r, pool, res);
    }
}
