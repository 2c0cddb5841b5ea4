/*
 * tcp_reasm.h - reassembly of one direction of a TCP connection.
 *
 * Sequence numbers are mapped to 64-bit stream offsets (offset 0 = first data
 * byte, i.e. ISN+1), so wrap-around is invisible above this layer. In-order
 * bytes go to the stream_buf; out-of-order segments are held in a sorted list
 * bounded by a per-flow window and by the core's memcap (struct reasm_pool).
 *
 * Classification is split from application so a packet can be classified
 * during the sender-side update (REXMIT events at HK_SND see the verdict)
 * and applied during the receiver-side update.
 */
#ifndef MOS_TCP_REASM_H
#define MOS_TCP_REASM_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "stream_buf.h"

#define REASM_MAX_GAPS 1024 /* gaps listed per direction; further ones are only counted */

struct reasm_seg {                 /* one held out-of-order segment */
    struct reasm_seg *next;
    uint64_t off;
    uint32_t len;
    uint8_t data[];
};

struct reasm_pool {                /* per core */
    uint64_t memcap;
    uint64_t held;                 /* bytes held in out-of-order segments */
    struct mos_counters *ctr;
    struct buf_pool *bufs;         /* stream rings (buf_pool.h); NULL = malloc */
};

struct reasm_gap { uint64_t start, end; }; /* [start, end) in stream offsets */

struct tcp_reasm {                 /* ordered so that no padding is needed */
    bool enabled;                  /* buffer bytes at all (MOS_CLIBUF/SVRBUF) */
    bool base_set;                 /* ISN known */
    uint8_t overlap;               /* enum mos_overlap_policy */
    bool gaps_truncated;           /* a gap could not be listed in gaps[] (full, or no memory) */
    uint32_t base_seq;             /* sequence number of stream offset 0 */
    uint32_t ref_seq;              /* last sequence number mapped, for unwrapping */
    uint32_t ooo_window;
    uint64_t ref_off;
    uint64_t next;                 /* stream offset of the next expected byte */
    uint64_t gap_bytes;            /* bytes skipped so far (next - gap_bytes = delivered offset) */
    struct reasm_seg *ooo;         /* sorted by off, non-overlapping */
    uint32_t ooo_held;             /* bytes held for this direction */
    uint32_t ngaps, ngaps_total, gaps_cap;
    struct reasm_gap *gaps;        /* malloc'd on the first gap, at most REASM_MAX_GAPS */
    uint32_t rexmit, rexmit_inconsistent; /* per-direction counts */
    struct stream_buf buf;
};

/* What a segment is, before it is applied. */
struct reasm_class {
    uint64_t off;                  /* stream offset of the first payload byte */
    bool rexmit;                   /* carries >= 1 byte already received */
    bool inconsistent;             /* ... and some of those bytes differ */
    bool keepalive;                /* 0/1 byte at next-1 */
    bool out_of_window;            /* absurdly far from next: ignored */
};

/* What applying did. */
struct reasm_result {
    uint32_t new_bytes;            /* bytes that became readable in order */
    uint32_t gaps;                 /* gaps skipped */
    uint64_t lost;                 /* unread bytes overwritten (buffer overflow) */
    int error;                     /* 0, or enum mos_error_kind of the last problem */
};

void tcp_reasm_init(struct tcp_reasm *r, uint32_t rcvbuf, uint32_t ooo_window, int overlap);
void tcp_reasm_free(struct tcp_reasm *r, struct reasm_pool *pool);
/* Set the ISN: offset 0 is isn+1. */
void tcp_reasm_set_isn(struct tcp_reasm *r, uint32_t isn);
/* Map a sequence number to a stream offset (unwrapping around ref). */
uint64_t tcp_reasm_offset(struct tcp_reasm *r, uint32_t seq);
void tcp_reasm_classify(const struct tcp_reasm *r, uint32_t seq, const uint8_t *p, uint32_t n,
                        struct reasm_class *out);
/* Apply a payload at seq (after classify). */
void tcp_reasm_insert(struct tcp_reasm *r, struct reasm_pool *pool, uint32_t seq,
                      const uint8_t *p, uint32_t n, struct reasm_result *res);
/* The receiver acknowledged `ack`: bytes before it were received, so a hole
 * before it will never be filled in this capture: skip it. */
void tcp_reasm_ack(struct tcp_reasm *r, struct reasm_pool *pool, uint32_t ack, struct reasm_result *res);
/* End of flow: skip every hole and deliver all held segments. */
void tcp_reasm_flush(struct tcp_reasm *r, struct reasm_pool *pool, struct reasm_result *res);
/* Switch storage of this direction's bytes (the only way `enabled`
 * changes after init): held out-of-order bytes are dropped from their
 * segments when storage goes off (the ranges stay, uncounted in the
 * memcap); held ranges without bytes are dropped when it comes back on
 * (they were never stored, so they can never be delivered as bytes; a
 * retransmission brings them again, an ack past them makes them a gap).
 * The ring restarts at the delivered offset either way (stream_buf_restart):
 * unread bytes are dropped, and bytes before it are never returned. */
void tcp_reasm_set_storage(struct tcp_reasm *r, struct reasm_pool *pool, bool on, uint32_t cap);
/* Delivered offset <-> stream offset for the data after the last gap. */
static inline uint64_t tcp_reasm_delivered(const struct tcp_reasm *r) { return r->buf.head; }

#endif
