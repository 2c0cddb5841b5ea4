/*
 * ip_frag.h - IPv4 and IPv6 fragment reassembly with bounded memory.
 *
 * Datagrams are keyed by (src, dst, id, proto, vlan); each has a timeout and
 * the whole table a memcap and a datagram limit. Overlaps keep the first
 * copy and are counted (inconsistent overlaps separately). A completed
 * datagram is returned in a per-table buffer that stays valid until the next
 * call.
 */
#ifndef MOS_IP_FRAG_H
#define MOS_IP_FRAG_H

#include <stdint.h>

#include "counters.h"

struct ip_frag;

struct ip_frag_key {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint16_t vlan[3];
    uint8_t nvlan, ip_ver, proto, pad;
};

int ip_frag_create(uint64_t timeout_ns, uint64_t memcap, uint32_t max_datagrams,
                   struct mos_counters *ctr, struct ip_frag **out);
void ip_frag_destroy(struct ip_frag *f);
/* Add a fragment: `hdr`/`hdr_len` is the unfragmentable header to put in
 * front of the result (IPv4 header without the fragment fields; IPv6 header
 * plus extension headers before the fragment header, with next-header fixed
 * up by the caller), `off` the fragment offset in bytes, `more` the MF flag.
 * Returns 1 and sets *out and *out_len when the datagram is complete, 0 when
 * held, negative on a bad fragment (counted). */
int ip_frag_add(struct ip_frag *f, const struct ip_frag_key *k, uint64_t now_ns,
                const uint8_t *hdr, uint32_t hdr_len, uint32_t off, int more,
                const uint8_t *data, uint32_t len, const uint8_t **out, uint32_t *out_len);
/* Drop datagrams older than the timeout (counted frags_timeout). */
void ip_frag_expire(struct ip_frag *f, uint64_t now_ns);

#endif
