/*
 * io_dpdk.h - DPDK ports behind struct mos_io (built only with libdpdk:
 * MOS_HAVE_DPDK). No DPDK header leaks out of here.
 *
 * Order of use: io_dpdk_init() once per process, io_dpdk_port_setup() once
 * per port (configures nqueues rx/tx queues, one mbuf pool per queue, and
 * symmetric RSS), then one io_dpdk_open() per worker with its queue index,
 * io close, io_dpdk_port_close(), io_dpdk_fini().
 *
 * Frames point into mbuf data and stay valid until the next rx_burst.
 * tx(port, data, len) with `data` equal to the start of a frame of the
 * current burst sends that very mbuf (no copy); other data is copied into
 * a fresh mbuf. Transmissions are batched and flushed at the next rx_burst
 * and at close. port is the index into the io's port list (0, 1, ...),
 * as is frame.port.
 */
#ifndef MOS_IO_DPDK_H
#define MOS_IO_DPDK_H

#include <stddef.h>
#include <stdint.h>

#include "io.h"

/* rte_eal_init with eal_args split on spaces (argv[0] is supplied).
 * Idempotent: later calls return 0 and ignore their arguments. Note that
 * EAL pins the calling thread to its main lcore. */
int io_dpdk_init(const char *eal_args, char *err, size_t errlen);
/* Ports known to EAL (PCI devices and --vdev's), and lookup by device name
 * ("net_ring0", "0000:01:00.0"). */
int io_dpdk_port_count(void);
int io_dpdk_port_by_name(const char *name, uint16_t *port_id);
/* Configure and start a port with up to nqueues queue pairs. Returns the
 * number of queues actually configured (> 0): 1 when the device has no
 * RSS, else min(nqueues, device max). Promiscuous mode is enabled. */
int io_dpdk_port_setup(uint16_t port_id, uint16_t nqueues, char *err, size_t errlen);
/* One worker's io over `queue` of each listed port (already set up). */
int io_dpdk_open(const uint16_t *port_ids, int nports, uint16_t queue, struct mos_io **out,
                 char *err, size_t errlen);
/* Stop and close a port (flushes e.g. net_pcap's tx file). */
void io_dpdk_port_close(uint16_t port_id);
/* rte_eal_cleanup(); after it DPDK cannot be initialised again. */
void io_dpdk_fini(void);

#endif
