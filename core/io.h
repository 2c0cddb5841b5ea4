/*
 * io.h - packet sources and sinks behind one burst interface.
 *
 * Offline captures, libpcap live interfaces and DPDK ports all implement
 * struct mos_io. Frames returned by rx_burst stay valid until the next
 * rx_burst on the same io. tx sends a frame out of a port (inline mode).
 */
#ifndef MOS_IO_H
#define MOS_IO_H

#include <stddef.h>
#include <stdint.h>

#include "mos_error.h"

#define MOS_IO_EOF MOS_E_EOF /* the input is exhausted */

struct mos_frame {
    const uint8_t *data;
    uint32_t caplen, wirelen;
    uint64_t ts_ns;
    int32_t linktype;
    uint16_t port;        /* input port index (inline pairs) */
    uint16_t pad;
};

struct mos_io {
    /* > 0: frames read; 0: none right now (live); MOS_IO_EOF; other < 0: error */
    int (*rx_burst)(struct mos_io *io, struct mos_frame *frames, int max);
    /* Send a frame out of `port`; 0 or negative errno. NULL when not inline. */
    int (*tx)(struct mos_io *io, uint16_t port, const uint8_t *data, uint32_t len);
    void (*close)(struct mos_io *io);
    const char *name;
    char err[256];        /* last error, human readable */
    /* Cumulative losses the io sees below the engine, kept current by the
     * io (from the thread that calls rx_burst) and folded into the core's
     * counters after every rx_burst (core_account_io): frames the io lost on
     * their way in or out, e.g. refused by the device after retries or by a
     * full distributor ring (pkts_dropped_io); frames the device or kernel
     * dropped before we read them (pkts_missed_io). Zero for inputs that
     * cannot lose frames. */
    uint64_t dropped;
    uint64_t rx_missed;
};

/* Offline capture (pcap or pcapng, any byte order and resolution) through
 * libpcap with a large stdio buffer. */
int io_pcap_open_offline(const char *path, struct mos_io **out, char *err, size_t errlen);

#endif
