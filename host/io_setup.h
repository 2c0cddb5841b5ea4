/*
 * io_setup.h - build each worker's struct mos_io from the command line and
 * the [io] config keys.
 *
 * Inputs, in order of precedence: -r FILE, -i IFACE (or -i dpdk:NAME), the
 * io.inline_pair list (inline bridge: "A,B", each "pcap:IF", "IF" or
 * "dpdk:NAME"), then io.input entries ("file:PATH", "pcap:IF", "dpdk:NAME").
 *
 *  - offline, 1 worker: the worker reads the capture itself;
 *  - offline, N workers, a regular file: every worker reads the file
 *    itself and keeps the frames its symmetric flow hash names
 *    (io_share_worker, io_share.h), in capture order;
 *  - offline, N workers, anything else (-r - for stdin, a FIFO): one
 *    distributor thread reads the capture once and copies each frame into
 *    the bounded ring of the worker io_share_worker names, blocking when
 *    that ring is full, so nothing is dropped and every worker sees its
 *    frames in capture order;
 *  - live: one libpcap io per worker, joined to a PACKET_FANOUT_HASH group
 *    when there are several (the kernel's symmetric hash keeps both
 *    directions of a flow on one worker); a pair bridges two interfaces
 *    (without fanout support: one io and the distributor, as for DPDK);
 *  - DPDK: EAL from io.dpdk_eal, every named port set up with one queue
 *    pair per worker (symmetric RSS), worker i owns queue i of each port.
 *    A port with fewer queues than workers (no RSS: net_pcap, net_ring,
 *    net_null, net_af_packet) is read by a distributor thread that spreads
 *    frames with the symmetric flow hash into bounded per-worker rings; a
 *    full ring drops (pkts_dropped_io of that worker) instead of stalling
 *    the port. Inline, workers queue their transmissions to the
 *    distributor, the only thread that touches the port's tx queue.
 */
#ifndef MOS_HOST_IO_SETUP_H
#define MOS_HOST_IO_SETUP_H

#include <stdint.h>

struct mos_host;

/* Open every worker's io (h->workers[i].io). Returns a HOST_EXIT_* code
 * and prints the reason on failure. With --check nothing is opened. */
int io_setup_open(struct mos_host *h);
/* Start the distributor thread, if any (after the workers' cores exist). */
int io_setup_start(struct mos_host *h);
/* A worker's loop ended (maybe early, on an error): the distributor stops
 * waiting for it to consume. Called from the worker's thread. */
void io_setup_worker_done(struct mos_host *h, unsigned worker);
/* After every worker finished: stop and join the distributor, close every
 * io and DPDK port. Safe to call when nothing was opened. Returns
 * HOST_EXIT_RUNTIME when the distributor hit an input error, else 0. */
int io_setup_close(struct mos_host *h);
/* Kernel capture counters (pcap_stats) summed over every live io: frames
 * the kernel received and dropped. -ENOENT when no input is live. Call
 * under h->stats_lock, before io_setup_close. */
int io_setup_kernel_stats(struct mos_host *h, uint64_t *received, uint64_t *dropped);

#endif
