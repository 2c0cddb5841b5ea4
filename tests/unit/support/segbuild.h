/*
 * segbuild.h - small builders for reassembly and TCP state tests.
 *
 * Streams are written as strings at sequence numbers:
 *
 *     struct sb_ctx c; sb_ctx_init(&c, 0);
 *     struct tcp_reasm r; tcp_reasm_init(&r, 4096, 65536, MOS_OVERLAP_FIRST);
 *     tcp_reasm_set_isn(&r, 999);                  // offset 0 = seq 1000
 *     sb_seg(&r, &c, 1005, "FGHIJ");               // held out of order
 *     sb_seg(&r, &c, 1000, "ABCDE");               // delivers 10 bytes
 *     char out[64]; sb_read(&r, out, sizeof out);  // "ABCDEFGHIJ"
 *
 * State tests build a struct mos_pkt by hand with sb_pkt(): a flow between
 * SB_CLI (10.0.0.1:40000) and SB_SVR (10.0.0.2:80).
 */
#ifndef MOS_TEST_SEGBUILD_H
#define MOS_TEST_SEGBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "flow.h"
#include "tcp_reasm.h"

struct sb_ctx {
    struct mos_counters ctr;
    struct reasm_pool pool;
    struct reasm_result res;    /* accumulated over every call */
};

void sb_ctx_init(struct sb_ctx *c, uint64_t memcap);
/* Insert the bytes of s at seq; returns this call's result (also added to c->res). */
struct reasm_result sb_seg(struct tcp_reasm *r, struct sb_ctx *c, uint32_t seq, const char *s);
struct reasm_result sb_ack(struct tcp_reasm *r, struct sb_ctx *c, uint32_t ack);
struct reasm_result sb_flush(struct tcp_reasm *r, struct sb_ctx *c);
/* Consume every unread byte into out (NUL-terminated, truncated to cap-1); returns the count. */
size_t sb_read(struct tcp_reasm *r, char *out, size_t cap);
/* Structural invariants of a reassembly direction; NULL when they hold, else what broke. */
const char *sb_check(const struct tcp_reasm *r);

enum { SB_CLI = 0, SB_SVR = 1 };
/* A flow keyed like the engine would key 10.0.0.1:40000 <-> 10.0.0.2:80
 * (client at key end 0), all else zero. */
void sb_flow_key(struct mos_flow *f, uint16_t cport, uint16_t sport);
/* A TCP packet from `from` (SB_CLI or SB_SVR) with len payload bytes (contents "x"). */
struct mos_pkt sb_pkt(const struct mos_flow *f, int from, uint8_t flags, uint32_t seq, uint32_t ack,
                      uint16_t win, uint32_t len);

#endif
