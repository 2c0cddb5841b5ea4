/*
 * community_id.h - the Community ID v1 flow hash (corelight/community-id-spec),
 * the flow identifier Zeek, Suricata, Arkime and Wireshark print, so logs
 * of different tools and machines join on it.
 */
#ifndef MOS_COMMUNITY_ID_H
#define MOS_COMMUNITY_ID_H

#include <stddef.h>
#include <stdint.h>

/* "1:" + base64 of a 20-byte SHA-1 digest (28 characters) + NUL. */
#define COMMUNITY_ID_LEN 31

/* The spec's community_id_v1(): addresses are 4 (ip_ver 4) or 16 (ip_ver 6)
 * bytes in network order, ports in host order and already mapped (for ICMP
 * use community_id_icmp). Ports are hashed only for TCP, UDP, SCTP, ICMP and
 * ICMPv6, as the spec says. Writes the NUL-terminated id into out (at least
 * COMMUNITY_ID_LEN bytes) and returns its length, or -EINVAL. */
int community_id_v1(uint16_t seed, int ip_ver, const uint8_t *saddr, const uint8_t *daddr, uint8_t proto,
                    uint16_t sport, uint16_t dport, char *out, size_t outlen);

/* ICMP (proto 1) and ICMPv6 (proto 58): type and code mapped to the port
 * pair the spec takes from Zeek (a request and its reply map to the same
 * pair, reversed), then community_id_v1. */
int community_id_icmp(uint16_t seed, int ip_ver, const uint8_t *saddr, const uint8_t *daddr, uint8_t proto,
                      uint8_t type, uint8_t code, char *out, size_t outlen);

/* The port pair of an ICMP/ICMPv6 type and code (exposed for tests). */
void community_id_icmp_ports(uint8_t proto, uint8_t type, uint8_t code, uint16_t *sport, uint16_t *dport);

#endif
