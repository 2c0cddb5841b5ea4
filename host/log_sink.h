/*
 * log_sink.h - where the JSON log lines go (log.output): a file, stderr, a
 * Unix stream or datagram socket, syslog, or Redis. Lua encodes a line
 * (lua/mos/runtime.lua) and hands it over with one FFI call,
 * mos_log_write (mos_host.h); a thread of the sink writes it out.
 */
#ifndef MOS_HOST_LOG_SINK_H
#define MOS_HOST_LOG_SINK_H

#include <stdint.h>

struct mos_host;
struct log_sink;

/* Figures for --stats. */
struct log_sink_stats {
    uint64_t written;     /* records the output took (confirmed as far as it can say) */
    uint64_t dropped;     /* records given up: no room in log.buffer, or sent to an
                             output that went away before confirming them */
    uint64_t reconnects;  /* times the output was (re)opened after the first */
};

/* Open the output named by h->cfg and start the writer thread. A file that
 * cannot be opened is an error (message on stderr, -errno); a socket or
 * server that is not there yet is not: the sink retries in the background. */
int log_sink_open(struct mos_host *h);
/* Write what is held (waiting at most ~2 s for an output that is away),
 * count the rest as dropped, stop the thread and close. Idempotent. */
void log_sink_close(struct mos_host *h);
void log_sink_stats(struct mos_host *h, struct log_sink_stats *out);
/* Close (if not yet) and free; later mos_log_write calls go to stderr. */
void log_sink_free(struct mos_host *h);

#endif
