/*
 * flow_hash.h - symmetric flow hash for spreading flows over workers.
 *
 * Both directions of a connection get the same value: the two endpoints
 * (address, port) are put in a canonical order before hashing, so
 * (src,dst,sport,dport) and (dst,src,dport,sport) collide by design. The
 * hash looks through 802.1Q/802.1ad tags but does not include the VLAN ids,
 * so two packets with equal mos_flow_key always map to the same worker.
 *
 * IP fragments carry no ports (only the first one does), so fragmented
 * datagrams are hashed on addresses and protocol only; use FLOW_HASH_L3 to
 * hash every packet that way when fragments of TCP/UDP flows must meet the
 * rest of their flow on one worker (at the cost of spreading host pairs,
 * not connections).
 */
#ifndef MOS_FLOW_HASH_H
#define MOS_FLOW_HASH_H

#include <stdint.h>

#define FLOW_HASH_L3 0x1u /* ignore ports: hash addresses + protocol only */

/* Hash of one tuple. Addresses are 4 (ip_ver 4) or 16 (ip_ver 6) bytes;
 * ports in host order. Symmetric in (src,sport) <-> (dst,dport). */
uint32_t flow_hash_tuple(int ip_ver, const uint8_t *src, const uint8_t *dst, uint16_t sport,
                         uint16_t dport, uint8_t proto, unsigned flags);

/* Hash of a captured frame of DLT `linktype` (Ethernet with up to
 * MOS_MAX_VLAN+ tags, Linux SLL/SLL2, raw IP, IPv4, IPv6, NULL/LOOP).
 * Frames that are not IP, or too short to parse, hash to 0 (worker 0). */
uint32_t flow_hash_frame(int linktype, const uint8_t *frame, uint32_t caplen, unsigned flags);

/* Map a hash to one of n workers (n >= 1) without a modulo bias toward low
 * indexes: multiply-shift uses the high bits of the hash. */
static inline unsigned flow_hash_worker(uint32_t h, unsigned n)
{
    return (unsigned)(((uint64_t)h * n) >> 32);
}

/* Shards first, then workers: of `nshards` instances (io.shard) running
 * `nworkers` workers each, hash h belongs to shard flow_hash_worker(h,
 * nshards) and, inside that shard, to the worker below. Both come from one
 * split of the hash range into nshards * nworkers equal slices (slice g is
 * shard g / nworkers, worker g % nworkers), so with one shard the worker is
 * flow_hash_worker(h, nworkers), and the flows of one shard spread evenly
 * over its workers (taking the worker from the same high bits as the shard
 * would put all of a shard's flows on one worker). */
static inline unsigned flow_hash_split_worker(uint32_t h, unsigned nshards, unsigned nworkers)
{
    return (unsigned)((((uint64_t)h * nshards * nworkers) >> 32) % nworkers);
}

#endif
