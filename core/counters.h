/*
 * counters.h - every per-core counter, each with a stable name.
 *
 * One X-macro list so the JSON stats writer, the Lua side and the tests all
 * use the same names. Drop reasons are counters named drop_<reason>; a packet
 * that is dropped increments exactly one of them.
 */
#ifndef MOS_COUNTERS_H
#define MOS_COUNTERS_H

#include <stdint.h>

#define MOS_COUNTER_LIST(X)                                                    \
    /* input */                                                                \
    X(pkts_in)               /* frames handed to the core */                   \
    X(pkts_other_shard)      /* frames of other shards (io.shard): not in pkts_in */ \
    X(bytes_in)              /* their wire length */                           \
    X(pkts_ipv4) X(pkts_ipv6) X(pkts_tcp) X(pkts_udp) X(pkts_icmp)             \
    X(pkts_other_l3)         /* ARP, LLDP...: counted, not an error */         \
    X(pkts_other_l4)                                                           \
    /* decode drop reasons */                                                  \
    X(drop_link_truncated)   /* frame shorter than its link header */          \
    X(drop_link_unsupported) /* link type we do not decode */                  \
    X(drop_vlan_too_deep)    /* more than MOS_MAX_VLAN tags */                 \
    X(drop_ip_truncated)     /* shorter than the IP header */                  \
    X(drop_ip_bad_version)                                                     \
    X(drop_ip_bad_ihl)       /* IHL < 5 or beyond the frame */                 \
    X(drop_ip_bad_len)       /* total length < header length */                \
    X(drop_ip_bad_checksum)                                                    \
    X(drop_ip6_bad_ext)      /* extension-header chain runs off the packet */  \
    X(drop_tcp_truncated)    /* TCP header not fully captured */               \
    X(drop_tcp_bad_offset)   /* data offset < 5 or beyond the segment */       \
    X(drop_tcp_bad_checksum)                                                   \
    X(drop_tcp_bad_flags)    /* e.g. SYN+RST, no flags at all */               \
    X(drop_ip_len_beyond_frame) /* IP length > the frame's wire length: forged or broken */ \
    X(drop_udp_truncated)                                                      \
    X(drop_udp_bad_len)      /* UDP length < 8 or beyond the IP payload */     \
    X(drop_icmp_truncated)                                                     \
    X(pkts_snaplen_cut)      /* IP datagram cut by snaplen: only the captured bytes are used */ \
    X(pkts_eth_padding)      /* frame longer than the IP datagram */           \
    X(checksum_offload_suspected) /* auto policy saw bad checksums on outgoing-looking packets */ \
    /* fragments */                                                            \
    X(frags_in) X(frags_reassembled) X(frags_timeout) X(frags_overlap)         \
    X(frags_overlap_inconsistent) X(frags_memcap_drop) X(frags_bad)            \
    /* flows */                                                                \
    X(flows_created) X(flows_ended) X(flows_active) X(flows_peak)             \
    X(flows_timeout) X(flows_evicted_halfopen) X(flows_evicted_idle)           \
    X(flows_evicted_established) X(flows_reset) X(flows_port_reuse)            \
    X(flows_midstream)                                                         \
    X(drop_flow_table_full)  /* no slot even after eviction */                 \
    X(pkts_orphan)           /* belongs to no flow and starts none */          \
    X(rst_out_of_window)     /* ignored RSTs */                                \
    /* reassembly */                                                           \
    X(reasm_bytes_delivered) X(reasm_segments_ooo) X(reasm_ooo_bytes_held)     \
    X(reasm_ooo_peak_bytes)                                                    \
    X(reasm_rexmit) X(reasm_rexmit_inconsistent) X(reasm_rexmit_unverifiable)  \
    X(reasm_keepalive) X(reasm_gaps) X(reasm_gap_bytes)                        \
    X(reasm_window_forced_gaps) X(reasm_memcap_forced_gaps)                    \
    X(reasm_buf_overflow_bytes) X(reasm_syn_data_unacked)                      \
    X(reasm_out_of_window)   /* segment far outside the window: ignored */      \
    X(buf_bytes_in_use) X(buf_bytes_peak) /* stream rings (buf_pool.c) */       \
    X(buf_memcap_refused)    /* ring growths refused at buffer_memcap */        \
    X(buf_bytes_released)    /* free ring bytes returned to the kernel */       \
    /* events */                                                               \
    X(ev_pkt_in) X(ev_conn_start) X(ev_conn_new_data) X(ev_conn_end)           \
    X(ev_tcp_state_change) X(ev_rexmit) X(ev_rexmit_inconsistent) X(ev_gap)    \
    X(ev_orphan) X(ev_error) X(ev_ude)                                         \
    X(ev_queue_lost)         /* events not queued: no memory (never otherwise) */ \
    X(trees_alive) X(trees_peak) X(tree_lookups_hit) X(tree_lookups_miss)      \
    X(trees_cached)          /* unreferenced trees kept for reuse (LRU) */     \
    X(tree_cache_revived)    /* lookups answered by a cached tree */           \
    X(filters_run) X(handler_errors)                                           \
    /* inline */                                                               \
    X(pkts_forwarded) X(pkts_dropped_handler) X(pkts_dropped_io)               \
    X(pkts_missed_io)        /* dropped by the device/kernel before reading */  \
    X(pkts_rewritten) X(pkts_injected)

struct mos_counters {
#define MOS_CTR_FIELD(name) uint64_t name;
    MOS_COUNTER_LIST(MOS_CTR_FIELD)
#undef MOS_CTR_FIELD
};

/* Name of the i-th counter (in list order), NULL past the end. */
const char *mos_counter_name(unsigned i);
unsigned mos_counter_count(void);

#endif
