/*
 * pkt_rewrite.h - editing packets in flight (inline mode).
 *
 * A handler may overwrite bytes of the current packet, or replace a range
 * of its TCP payload by bytes of another length. The engine works on a
 * private copy of the frame; this module edits that copy, fixes lengths and
 * checksums, and keeps, per flow, the table that maps each direction's
 * sequence numbers from the sender's space to the wire space after
 * size-changing edits (and acknowledgements back), so both endpoints stay
 * consistent, SACK block edges included. A retransmission of an edited
 * segment is forwarded as the sender sent it (documented limitation).
 */
#ifndef MOS_PKT_REWRITE_H
#define MOS_PKT_REWRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "mos_types.h"

enum mos_pkt_part { MOS_PART_IP_HDR = 1, MOS_PART_TCP_HDR = 2, MOS_PART_PAYLOAD = 3 };

#define PKT_REWRITE_MAX_FRAME 65600 /* largest IP datagram plus link headers */
#define SEQ_REMAP_MAX 256           /* size-changing edits per flow direction */

struct seq_remap; /* per flow; NULL until the first size-changing edit */

/* Turn p (whose pointers refer to `orig`, caplen bytes) into a packet whose
 * pointers refer to `buf` (a copy). Returns 0, or -ENOTSUP for packets that
 * were rebuilt from fragments. */
int pkt_rewrite_own(struct mos_pkt *p, uint8_t *buf, const uint8_t *orig, uint32_t caplen);
/* Replace `remove` bytes at `off` of `part` by `len` bytes of data. Only the
 * payload may change size. Updates p (lengths, pointers), the IP length
 * field and both checksums; *caplen is the frame length in buf; *delta gets
 * the size change (len - remove). Returns 0 or a negative errno. */
int pkt_rewrite_edit(struct mos_pkt *p, uint8_t *buf, uint32_t *caplen, int part, uint32_t off,
                     uint32_t remove, const uint8_t *data, uint32_t len, int32_t *delta);
/* Write p's seq/ack (host order fields) into the header in buf and fix the
 * TCP checksum. */
void pkt_rewrite_set_seq_ack(struct mos_pkt *p, uint8_t *buf, uint32_t seq, uint32_t ack);
/* Recompute the IPv4 header and TCP/UDP checksums of the packet in buf. */
void pkt_rewrite_fix_checksums(struct mos_pkt *p, uint8_t *buf);

/* Sequence remapping. dir is the sending side (MOS_SIDE_CLI/SVR). */
int seq_remap_add(struct seq_remap **r, int dir, uint32_t at, int32_t delta);
uint32_t seq_remap_seq(const struct seq_remap *r, int dir, uint32_t seq);   /* sender space -> wire */
uint32_t seq_remap_ack(const struct seq_remap *r, int dir, uint32_t ack);   /* wire -> sender space */
bool seq_remap_active(const struct seq_remap *r, int dir);
/* The SACK edges of p (as decoded: they name bytes of dir's stream in wire
 * space) mapped back to dir's own space like acks. Returns how many edges
 * differ; writes the mapped edges into tcp_out (the TCP header of p's copy)
 * when it is not NULL (the caller fixes the checksum). */
uint32_t seq_remap_sack(const struct seq_remap *r, int dir, const struct mos_pkt *p, uint8_t *tcp_out);
void seq_remap_free(struct seq_remap *r);

/* Build a RST+ACK from `from` to `to` of the connection of template packet
 * t (Ethernet frames only: MAC addresses taken from t, swapped when
 * `reverse`): IP addresses/ports swapped when reverse. Returns the frame
 * length, or 0 when t's link type is not Ethernet. out holds >= 128 bytes. */
uint32_t pkt_build_rst(uint8_t *out, const struct mos_pkt *t, bool reverse, uint32_t seq, uint32_t ack);

#endif
