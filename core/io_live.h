/*
 * io_live.h - libpcap live capture behind struct mos_io.
 *
 * One io reads one interface, or a pair of interfaces for inline bridging
 * (frame.port 0 = A, 1 = B; tx(port) injects on that port's interface).
 * rx_burst never blocks forever: it waits at most timeout_ms for traffic,
 * and io_live_wake() makes a waiting rx_burst return 0 at once.
 */
#ifndef MOS_IO_LIVE_H
#define MOS_IO_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

struct io_live_opts {
    uint32_t snaplen;       /* 0: 65535 */
    bool promisc;           /* promiscuous mode */
    bool dir_in;            /* capture received frames only (always on for pairs) */
    uint32_t buffer_bytes;  /* kernel ring size; 0: 8 MiB */
    const char *bpf;        /* capture filter, NULL or "" for none */
    int timeout_ms;         /* idle wait in rx_burst: 0 = 10 ms, < 0 = until traffic or wake */
    bool fanout;            /* join PACKET_FANOUT_HASH group fanout_group (Linux) */
    uint16_t fanout_group;  /* pairs use fanout_group on A and fanout_group+1 on B */
};

/* All return 0 or a negative errno: -ENODEV (no such interface), -EPERM
 * (no capture permission), -EINVAL (bad filter: err holds libpcap's text),
 * -EOPNOTSUPP (fanout unavailable), -EIO (other libpcap failure),
 * -ENOMEM. err gets a human-readable message naming the interface.
 * opts may be NULL (defaults). */
int io_live_open(const char *iface, const struct io_live_opts *opts, struct mos_io **out,
                 char *err, size_t errlen);
int io_live_open_pair(const char *iface_a, const char *iface_b, const struct io_live_opts *opts,
                      struct mos_io **out, char *err, size_t errlen);
/* Worker i of N on one interface: every worker opens with the same
 * group_id; the kernel's symmetric flow hash puts both directions of a
 * TCP/UDP flow on the same worker. Open all workers of a group in a fixed
 * order from one thread (the kernel indexes members by join order). */
int io_live_open_fanout(const char *iface, uint16_t group_id, const struct io_live_opts *opts,
                        struct mos_io **out, char *err, size_t errlen);

/* Make a waiting (or the next) rx_burst return 0 now. Async-signal-safe
 * and thread-safe. -EINVAL if io is not a live io. */
int io_live_wake(struct mos_io *io);
/* Kernel counters summed over the io's interfaces (pcap_stats). */
int io_live_stats(struct mos_io *io, uint64_t *received, uint64_t *dropped);

#endif
