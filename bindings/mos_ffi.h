/*
 * mos_ffi.h - the flat C ABI the Lua host calls through LuaJIT's FFI.
 *
 * lua/mos/abi.lua builds its ffi.cdef from core/mos_abi.h and this file with
 * every '#' line removed, so declarations here must not use macros, bitfields
 * or types other than <stdint.h> ones and the structs below. Every function is
 * mos_<module>_<verb>, returns >= 0 or a negative code: the project's
 * (core/mos_error.h) or -errno; mos_strerror() names either, and takes the core explicitly: nothing here
 * keeps state between calls. Functions touching a flow are only meaningful
 * while that flow's event is being dispatched (between two mos_core_step()
 * calls), which is the only time Lua holds a struct mos_flow pointer.
 */
#ifndef MOS_FFI_H
#define MOS_FFI_H

#include <stdint.h>

#include "mos_abi.h"

/* Headers of the packet being processed (core_current_pkt), copied out so
 * Lua never depends on struct mos_pkt's layout. */
struct mos_ffi_pkt {
    uint64_t ts_ns;
    uint8_t ip_ver;
    uint8_t proto;
    uint8_t ttl;
    uint8_t tcp_flags;
    uint8_t nvlan;
    uint8_t reassembled;
    uint16_t vlan[3];
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint16_t win;
    uint16_t urg;
    uint32_t caplen;
    uint32_t wirelen;
    const uint8_t *payload;
    uint32_t payload_len;
    uint32_t payload_wire_len;
};

/* One endpoint of a flow: what it sent, and the stream it RECEIVES. */
struct mos_ffi_side {
    uint8_t state;               /* enum mos_tcp_state */
    uint8_t buffered;            /* its receive stream is reassembled */
    uint16_t port;
    uint8_t addr[16];
    uint64_t pkts_sent;
    uint64_t bytes_sent;
    uint64_t rcv_next;           /* stream offset of the next expected byte */
    uint64_t rcv_delivered;      /* in-order bytes delivered (gaps excluded) */
    uint64_t rcv_unread;         /* delivered but not yet peeked */
    uint64_t rcv_lost;           /* unread bytes overwritten (buffer overflow) */
    uint64_t rcv_gap_bytes;
    uint32_t rcv_ngaps;          /* gaps listed (see mos_flow_gaps) */
    uint32_t rcv_ngaps_total;    /* gaps seen, listed or not */
    uint32_t rcv_rexmit;
    uint32_t rcv_rexmit_inconsistent;
    uint32_t rcv_ooo_held;
    uint32_t rcv_bufsize;
};

struct mos_ffi_flow {
    uint64_t id;
    uint64_t first_ts_ns;
    uint64_t last_ts_ns;
    uint8_t ip_ver;
    uint8_t proto;
    uint8_t handshake;           /* enum mos_handshake */
    uint8_t nvlan;
    uint16_t vlan[3];
    uint8_t ended;
    uint8_t end_reason;
    struct mos_ffi_side side[2]; /* [MOS_SIDE_CLI], [MOS_SIDE_SVR] */
};

/* Per-flow options for mos_flow_getopt / mos_flow_setopt. */
enum mos_ffi_opt {
    MOS_OPT_CLIBUF = 1,          /* buffer the client's receive stream (0/1) */
    MOS_OPT_SVRBUF = 2,          /* buffer the server's receive stream (0/1) */
    MOS_OPT_OVERLAP = 3,         /* enum mos_overlap_policy, both sides */
    MOS_OPT_CLI_STATE = 4,       /* read only */
    MOS_OPT_SVR_STATE = 5,       /* read only */
    MOS_OPT_UCTX = 6
};

const char *mos_strerror(int err);
const char *mos_state_name(int state);
const char *mos_event_label(int event);
uint64_t mos_clock_mono_ns(void);

/* core */
int mos_core_step(struct mos_core *c, const struct mos_event **evs);
int mos_core_id(struct mos_core *c);
uint64_t mos_core_now(struct mos_core *c);
const char *mos_core_error(struct mos_core *c);
/* 0, or the negative code of an input error (exit non-zero). */
int mos_core_input_status(struct mos_core *c);
/* Stop reading input; following steps end every flow, then return EOF. */
void mos_core_stop(struct mos_core *c);
int mos_core_count_handler_error(struct mos_core *c);
int mos_core_timer(struct mos_core *c, struct mos_flow *f, uint64_t at_ns, uint64_t handler);

/* counters: copies min(n, count) values in list order; returns count */
int mos_counters_get(struct mos_core *c, uint64_t *out, uint32_t n);
int mos_counters_count(void);
const char *mos_counters_name(int i);

/* config (read only from Lua) */
int mos_config_handler_timeout_ms(struct mos_core *c);
const char *mos_config_on_handler_error(struct mos_core *c);
int mos_config_log_level(struct mos_core *c);
const char *mos_config_log_file(struct mos_core *c);

/* sockets and registrations */
int mos_socket_open(struct mos_core *c, int type);
int mos_socket_close(struct mos_core *c, int sock);
int mos_socket_filter(struct mos_core *c, int sock, const char *syn_filter, const char *raw_filter,
                      char *err, uint32_t errlen);
int mos_socket_register(struct mos_core *c, int sock, int event, int hook, uint64_t handler, int existing);
int mos_socket_unregister(struct mos_core *c, int sock, int event, int hook, uint64_t handler, int existing);
const struct mos_tree *mos_socket_tree(struct mos_core *c, int sock, int hook);
int mos_event_check_hook(struct mos_core *c, int type, int event, int hook);
int mos_event_define(struct mos_core *c, int base, uint64_t filter, uint64_t arg);
int mos_event_raise(struct mos_core *c, struct mos_flow *f, int side, int event);
int mos_event_valid(struct mos_core *c, int event);

/* flows */
int mos_flow_register(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler);
int mos_flow_unregister(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler);
const struct mos_tree *mos_flow_tree(struct mos_core *c, struct mos_flow *f, int hook);
int64_t mos_flow_peek(struct mos_core *c, struct mos_flow *f, int side, uint8_t *buf, uint32_t n);
int64_t mos_flow_ppeek(struct mos_core *c, struct mos_flow *f, int side, uint64_t off, uint8_t *buf, uint32_t n);
int mos_flow_info(struct mos_core *c, struct mos_flow *f, struct mos_ffi_flow *out);
/* Gaps of the stream `side` receives, as [start, end) stream-offset pairs:
 * out[2*i], out[2*i+1]. Returns the number listed (may exceed n: call again). */
int mos_flow_gaps(struct mos_core *c, struct mos_flow *f, int side, uint64_t *out, uint32_t n);
/* "198.18.0.1:80", "[2001:db8::1]:80" for endpoint `side`; returns length. */
int mos_flow_endpoint(struct mos_core *c, struct mos_flow *f, int side, char *buf, uint32_t len);
/* The flow's uid, unique across cores, instances (core.instance_id) and
 * restarts: "C" + 22 base62 digits (core/flow_uid.h); needs len >= 24.
 * Returns the length (23). */
int mos_flow_uid(struct mos_core *c, struct mos_flow *f, char *buf, uint32_t len);
/* The flow's Community ID v1 ("1:" + base64 SHA-1, core.community_id_seed;
 * core/community_id.h); needs len >= 31. Returns the length (30). */
int mos_flow_community_id(struct mos_core *c, struct mos_flow *f, char *buf, uint32_t len);
int mos_flow_drop(struct mos_core *c, struct mos_flow *f);
int mos_flow_reset(struct mos_core *c, struct mos_flow *f);
/* Inline: replace `remove` bytes at `off` of `part` (1 IP header, 2 TCP
 * header, 3 payload) of the current packet by `len` bytes; only the payload
 * may change size (later seq/ack numbers of the flow are then remapped both
 * ways). Lengths and checksums are fixed. f must be the current packet's
 * flow. 0 or a negative code (core/mos_error.h: MOS_E_NO_PACKET,
 * MOS_E_OTHER_FLOW, MOS_E_PART_RANGE, MOS_E_REASSEMBLED, MOS_E_SNAPLEN;
 * -EINVAL, -EMSGSIZE). */
int mos_pkt_rewrite(struct mos_core *c, struct mos_flow *f, int part, uint32_t off, uint32_t remove,
                    const uint8_t *data, uint32_t len);
int mos_flow_getopt(struct mos_core *c, struct mos_flow *f, int opt, int64_t *out);
int mos_flow_setopt(struct mos_core *c, struct mos_flow *f, int opt, int64_t value);

/* Stream matching (core/stream_match.c; structs in core/mos_abi.h; how to
 * use it from C: bindings/README.md). A matcher belongs to core c and is
 * used from c's thread only; free it before c is destroyed. Creating one
 * returns 0 or a negative code with a message naming the bad pattern (or
 * the file and line) in err. */
int mos_matcher_new(struct mos_core *c, const struct mos_pattern *p, uint32_t n, struct mos_matcher **out,
                    char *err, uint32_t errlen);
int mos_matcher_load(struct mos_core *c, const char *path, struct mos_matcher **out, char *err, uint32_t errlen);
void mos_matcher_free(struct mos_matcher *m);
/* Scan the bytes of the stream `side` receives that m has not scanned yet
 * for f (peeked or not). Returns the number of matches, whose (id, offset)
 * pairs are at mos_matcher_results(m) until m's next scan; or -EINVAL,
 * -ENOTSUP (that side is not buffered), -ENOMEM. */
int mos_matcher_scan(struct mos_matcher *m, struct mos_flow *f, int side);
const struct mos_match *mos_matcher_results(const struct mos_matcher *m);
int mos_matcher_stats(const struct mos_matcher *m, struct mos_matcher_stats *out);

/* the current packet */
int mos_pkt_get(struct mos_core *c, struct mos_ffi_pkt *out);
/* Text form of a 4- or 16-byte address; returns length. */
int mos_addr_format(int ip_ver, const uint8_t *addr, char *buf, uint32_t len);
/* Text address (dotted IPv4 or IPv6) into out[16] (IPv4: the first 4
 * bytes, the rest zero): 4 or 6, or -EINVAL. */
int mos_addr_parse(const char *text, uint8_t *out);

#endif
