/*
 * mtcp_api.h - the embeddable C API, with mOS's names and shapes.
 *
 * A C program becomes a middlebox the mOS way:
 *
 *     mtcp_init("mos.conf");                  // or NULL for defaults
 *     mctx_t m = mtcp_create_context(0);
 *     int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
 *     mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start);
 *     mtcp_app_join(m);                       // runs the input to its end
 *     mtcp_destroy_context(m); mtcp_destroy();
 *
 * Conventions (one for every function): functions returning int return 0
 * (or a non-negative value) on success and -1 with errno set on failure, as
 * mOS and the socket API do; ssize_t functions likewise. Event ids are
 * values (MOS_ON_* from mos_types.h, or ids from mtcp_define_event), not
 * bit masks. Socket ids: monitor sockets are < MTCP_FLOW_SOCK_BASE; the
 * `sockid` a stream callback receives names the flow and is valid until the
 * flow's CONN_END callback returns.
 *
 * Differences from mOS, deliberately: mtcp_app_join() runs the loop in the
 * calling thread (so registrations made before it never miss a packet);
 * reading past the end of data returns 0 instead of aborting; every
 * documented event is raised; mtcp_raise_event() works.
 */
#ifndef MOS_MTCP_API_H
#define MOS_MTCP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include "mos_abi.h"
#include "mos_types.h"

#define MTCP_FLOW_SOCK_BASE 1024
#define MOS_NULL MOS_HK_NONE

typedef struct mtcp_context *mctx_t;
typedef int64_t event_t;

typedef struct filter_arg {
    void *arg;
    size_t len;
} filter_arg_t;

typedef void (*callback_t)(mctx_t mctx, int sockid, int side, event_t event, filter_arg_t *arg);
typedef bool (*filter_t)(mctx_t mctx, int sockid, int side, event_t event, filter_arg_t *arg);

typedef struct monitor_filter {
    const char *stream_syn_filter; /* BPF applied to the first packet of a new flow */
    const char *stream_orphan_filter; /* accepted for compatibility; unused */
    const char *raw_pkt_filter;    /* BPF applied to every packet for raw sockets */
} *monitor_filter_t;

/* The last packet, as mtcp_getlastpkt returns it. Pointers are valid during
 * the callback only. */
struct pkt_info {
    uint64_t cur_ts_ns;
    uint32_t frame_len;    /* captured bytes of the frame */
    uint16_t ip_len;       /* IP total length (header included) */
    uint8_t ip_ver;
    uint8_t tcp_flags;
    uint32_t seq, ack;
    uint16_t window;
    const uint8_t *frame;
    const uint8_t *iph;
    const uint8_t *tcph;
    const uint8_t *payload;
    uint32_t payloadlen;
};

/* Socket options (level SOL_MONSOCKET). */
#define SOL_MONSOCKET 0xFFFF
enum mtcp_sockopt {
    MOS_CLIBUF = 1,          /* int: 0 disables the client's receive buffer, non-zero (re-)enables it:
                              * unread and held bytes are dropped, storage restarts at the next
                              * in-order byte (the same as the Lua flow:set, core/flow_ops.h) */
    MOS_SVRBUF,              /* int: the same for the server's receive buffer */
    MOS_STOP_MON,            /* int side: stop monitoring that side (MOS_SIDE_BOTH ends the flow's events) */
    MOS_CLIOVERLAP,          /* int: MOS_OVERLAP_POLICY_FIRST / _LAST */
    MOS_SVROVERLAP,
    MOS_TCP_STATE_CLI,       /* int (get): RFC 793 state of the client */
    MOS_TCP_STATE_SVR,
    MOS_INFO_CLIBUF,         /* struct tcp_buf_info (get) */
    MOS_INFO_SVRBUF,
    MOS_FRAGINFO_CLIBUF,     /* struct tcp_gap_info[] (get): the holes, stream offsets */
    MOS_FRAGINFO_SVRBUF,
    MOS_FLOW_UID,            /* char[] (get): the flow's uid, NUL-terminated (24 bytes) */
    MOS_FLOW_COMMUNITY_ID,   /* char[] (get): its Community ID v1, NUL-terminated (31 bytes) */
};
#define MOS_OVERLAP_POLICY_FIRST 0
#define MOS_OVERLAP_POLICY_LAST 1

struct tcp_buf_info {
    uint64_t next_expected;  /* stream offset of the next byte expected */
    uint64_t last_received;  /* delivered offset one past the last byte received in order */
    uint64_t unread;         /* bytes not yet read by mtcp_peek */
    uint64_t gap_bytes;      /* bytes skipped in holes */
};
struct tcp_gap_info { uint64_t start, end; };

int mtcp_init(const char *config_file);
int mtcp_destroy(void);
/* Extension: set a config key before mtcp_create_context ("io.input", "file:x.pcap"). */
int mtcp_config_set(const char *key, const char *value);
mctx_t mtcp_create_context(int cpu);
int mtcp_destroy_context(mctx_t mctx);
/* Extension: run the context's input to its end in this thread; 0 or -1. */
int mtcp_app_join(mctx_t mctx);

int mtcp_socket(mctx_t mctx, int domain, int type, int protocol);
int mtcp_close(mctx_t mctx, int sockid);
int mtcp_bind_monitor_filter(mctx_t mctx, int sockid, monitor_filter_t ft);

event_t mtcp_define_event(event_t event, filter_t filter, struct filter_arg *arg);
int mtcp_register_callback(mctx_t mctx, int sockid, event_t event, int hook_point, callback_t cb);
int mtcp_unregister_callback(mctx_t mctx, int sockid, event_t event, int hook_point);
int mtcp_raise_event(mctx_t mctx, int sockid, int side, event_t event);

void *mtcp_get_uctx(mctx_t mctx, int sockid);
void mtcp_set_uctx(mctx_t mctx, int sockid, void *uctx);

ssize_t mtcp_peek(mctx_t mctx, int sockid, int side, char *buf, size_t len);
/* Bytes at delivered offset `off`, not consumed: 0 at or past the end of the
 * data; -1 with errno ERANGE when they are older than the buffer holds. */
ssize_t mtcp_ppeek(mctx_t mctx, int sockid, int side, char *buf, size_t count, uint64_t off);
int mtcp_getlastpkt(mctx_t mctx, int sockid, int side, struct pkt_info *pinfo);
/* Overwrite `datalen` bytes of the current packet at byte `offset` of the
 * part named by option (MOS_ETH_HDR, MOS_IP_HDR, MOS_TCP_HDR, MOS_TCP_PL). */
#define MOS_ETH_HDR 1
#define MOS_IP_HDR 2
#define MOS_TCP_HDR 3
#define MOS_TCP_PL 4
int mtcp_setlastpkt(mctx_t mctx, int sockid, int side, off_t offset, const uint8_t *data, uint16_t datalen,
                    int option);
/* Extension: replace `remove` payload bytes at `off` by `len` bytes (inline
 * mode); the flow's later sequence/ack numbers are remapped both ways. */
int mtcp_rewrite_payload(mctx_t mctx, int sockid, uint32_t off, uint32_t remove, const uint8_t *data, uint32_t len);
int mtcp_getsockopt(mctx_t mctx, int sockid, int level, int optname, void *optval, socklen_t *optlen);
int mtcp_setsockopt(mctx_t mctx, int sockid, int level, int optname, const void *optval, socklen_t optlen);
int mtcp_getpeername(mctx_t mctx, int sockid, struct sockaddr *addr, socklen_t *addrlen, int side);
int mtcp_reset_conn(mctx_t mctx, int sockid);
/* Call cb(mctx, id, 0, 0, NULL) once `timeout` has passed on the core clock
 * (packet time offline). */
int mtcp_settimer(mctx_t mctx, int id, struct timeval *timeout, callback_t cb);
/* Current time of the core clock in milliseconds (mOS returned a 32-bit ms tick). */
uint32_t mtcp_cb_get_ts(mctx_t mctx);

/* Extension: stream matching (core/stream_match.c; bindings/README.md).
 * A matcher belongs to mctx's core: create it after mtcp_create_context,
 * use it from that context's callbacks, destroy it before
 * mtcp_destroy_context. Creation returns NULL with errno set (EINVAL: a bad
 * pattern, named in err with its position, or FILE:LINE for a file). */
struct mos_matcher *mtcp_matcher_create(mctx_t mctx, const struct mos_pattern *p, int n, char *err, size_t errlen);
struct mos_matcher *mtcp_matcher_load(mctx_t mctx, const char *path, char *err, size_t errlen);
void mtcp_matcher_destroy(struct mos_matcher *m);
/* Scan the bytes of the stream `side` receives that m has not scanned yet
 * for flow sockid; *out points at the (id, offset) matches, valid until
 * m's next scan. Returns the count, or -1 with errno (EBADF, EINVAL,
 * ENOTSUP: the side is not buffered). */
int mtcp_matcher_scan(mctx_t mctx, int sockid, int side, struct mos_matcher *m, const struct mos_match **out);

#endif
