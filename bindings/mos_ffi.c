/*
 * mos_ffi.c - thin wrappers exporting the engine to LuaJIT's FFI.
 *
 * Each wrapper checks only what the core cannot (NULL core/flow pointers,
 * buffer sizes) and returns -EINVAL instead of trusting Lua, so a script bug
 * becomes a Lua error rather than a crash; side, hook, option and value
 * ranges are checked by the core (core/flow_ops.c, core/sockets.c), the same
 * for the mOS C API. Flow data is copied into the plain structs of
 * mos_ffi.h: Lua never sees struct mos_flow's private layout, which the core
 * may change freely. No state lives here.
 */
#include "mos_ffi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "event_tree.h"
#include "flow.h"
#include "flow_ops.h"
#include "mos_error.h"
#include "mos_types.h"
#include "stream_match.h"

const char *mos_strerror(int err) { return mos_error_str(err); }

const char *mos_state_name(int state) { return mos_tcp_state_name(state); }
const char *mos_event_label(int event) { return mos_event_name(event); }

uint64_t mos_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- core --- */

int mos_core_step(struct mos_core *c, const struct mos_event **evs)
{
    if (!c || !evs)
        return -EINVAL;
    return core_step(c, evs);
}

int mos_core_id(struct mos_core *c) { return c ? core_id(c) : -EINVAL; }
uint64_t mos_core_now(struct mos_core *c) { return c ? core_now(c) : 0; }
const char *mos_core_error(struct mos_core *c) { return c ? core_error(c) : "no core"; }
int mos_core_input_status(struct mos_core *c) { return c ? core_input_status(c) : -EINVAL; }
void mos_core_stop(struct mos_core *c)
{
    if (c)
        core_stop(c);
}

int mos_core_count_handler_error(struct mos_core *c)
{
    if (!c)
        return -EINVAL;
    core_counters(c)->handler_errors++;
    return 0;
}

int mos_core_timer(struct mos_core *c, struct mos_flow *f, uint64_t at_ns, uint64_t handler)
{
    if (!c || handler == 0)
        return -EINVAL;
    return core_set_timer(c, f, at_ns, handler);
}

/* --- counters --- */

int mos_counters_get(struct mos_core *c, uint64_t *out, uint32_t n)
{
    if (!c || !out)
        return -EINVAL;
    unsigned count = mos_counter_count();
    /* struct mos_counters is a run of uint64_t in list order by construction */
    const uint64_t *v = (const uint64_t *)core_counters(c);
    for (unsigned i = 0; i < count && i < n; i++)
        out[i] = v[i];
    return (int)count;
}

int mos_counters_count(void) { return (int)mos_counter_count(); }
const char *mos_counters_name(int i) { return i < 0 ? NULL : mos_counter_name((unsigned)i); }

/* --- config --- */

int mos_config_handler_timeout_ms(struct mos_core *c)
{
    return c ? (int)core_config(c)->handler_timeout_ms : -EINVAL;
}

const char *mos_config_on_handler_error(struct mos_core *c)
{
    return c ? core_config(c)->on_handler_error : "pass";
}

int mos_config_log_level(struct mos_core *c) { return c ? core_config(c)->log_level : -EINVAL; }
const char *mos_config_log_file(struct mos_core *c) { return c ? core_config(c)->log_file : ""; }

/* --- sockets and events --- */

int mos_socket_open(struct mos_core *c, int type)
{
    if (!c || (type != MOS_SOCK_MONITOR_STREAM && type != MOS_SOCK_MONITOR_RAW))
        return -EINVAL;
    return core_socket(c, type);
}

int mos_socket_close(struct mos_core *c, int sock)
{
    return c ? core_socket_close(c, sock) : -EINVAL;
}

int mos_socket_filter(struct mos_core *c, int sock, const char *syn_filter, const char *raw_filter,
                      char *err, uint32_t errlen)
{
    if (!c || !err || errlen == 0)
        return -EINVAL;
    err[0] = '\0';
    return core_socket_filter(c, sock, syn_filter, raw_filter, err, errlen);
}

int mos_socket_register(struct mos_core *c, int sock, int event, int hook, uint64_t handler, int existing)
{
    if (!c)
        return -EINVAL;
    return core_register(c, sock, event, hook, handler, existing != 0);
}

int mos_socket_unregister(struct mos_core *c, int sock, int event, int hook, uint64_t handler, int existing)
{
    if (!c)
        return -EINVAL;
    return core_unregister(c, sock, event, hook, handler, existing != 0);
}

const struct mos_tree *mos_socket_tree(struct mos_core *c, int sock, int hook)
{
    return c ? core_socket_tree(c, sock, hook) : NULL;
}

int mos_event_check_hook(struct mos_core *c, int type, int event, int hook)
{
    return c ? core_check_hook(c, type, event, hook) : -EINVAL;
}

int mos_event_define(struct mos_core *c, int base, uint64_t filter, uint64_t arg)
{
    if (!c || filter == 0)
        return -EINVAL;
    return core_define_event(c, base, filter, arg);
}

int mos_event_raise(struct mos_core *c, struct mos_flow *f, int side, int event)
{
    if (!c || !f)
        return -EINVAL;
    return core_raise_event(c, f, side, event);
}

int mos_event_valid(struct mos_core *c, int event)
{
    if (!c)
        return -EINVAL;
    return evreg_valid(core_registry(c), event) ? 1 : 0;
}

/* --- flows --- */

int mos_flow_register(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler)
{
    if (!c || !f)
        return -EINVAL;
    return core_flow_register(c, f, event, hook, handler);
}

int mos_flow_unregister(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler)
{
    if (!c || !f)
        return -EINVAL;
    return core_flow_unregister(c, f, event, hook, handler);
}

const struct mos_tree *mos_flow_tree(struct mos_core *c, struct mos_flow *f, int hook)
{
    return c ? flow_ops_tree(f, hook) : NULL;
}

int64_t mos_flow_peek(struct mos_core *c, struct mos_flow *f, int side, uint8_t *buf, uint32_t n)
{
    if (!c || !f || (!buf && n))
        return -EINVAL;
    return core_peek(c, f, side, buf, n);
}

int64_t mos_flow_ppeek(struct mos_core *c, struct mos_flow *f, int side, uint64_t off, uint8_t *buf, uint32_t n)
{
    if (!c || !f || (!buf && n))
        return -EINVAL;
    return core_ppeek(c, f, side, off, buf, n);
}

int mos_flow_info(struct mos_core *c, struct mos_flow *f, struct mos_ffi_flow *out)
{
    if (!c || !f || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->id = f->id;
    out->first_ts_ns = f->first_ts;
    out->last_ts_ns = f->last_ts;
    out->ip_ver = f->key.ip_ver;
    out->proto = f->key.proto;
    out->handshake = f->handshake;
    out->nvlan = f->key.nvlan;
    for (int i = 0; i < MOS_MAX_VLAN; i++)
        out->vlan[i] = f->key.vlan[i];
    out->ended = f->ended;
    out->end_reason = f->end_reason;
    for (int s = 0; s < 2; s++) {
        struct flow_endpoint ep;
        struct flow_buf_info bi;
        flow_ops_endpoint(f, s, &ep);
        flow_ops_buf_info(f, s, &bi);
        struct mos_ffi_side *o = &out->side[s];
        o->state = f->ep[s].state;
        o->buffered = bi.buffered;
        o->port = ep.port;
        memcpy(o->addr, ep.addr, 16);
        o->pkts_sent = f->ep[s].pkts;
        o->bytes_sent = f->ep[s].bytes;
        o->rcv_next = bi.next;
        o->rcv_delivered = bi.delivered;
        o->rcv_unread = bi.unread;
        o->rcv_lost = bi.lost;
        o->rcv_gap_bytes = bi.gap_bytes;
        o->rcv_ngaps = bi.ngaps;
        o->rcv_ngaps_total = bi.ngaps_total;
        o->rcv_rexmit = bi.rexmit;
        o->rcv_rexmit_inconsistent = bi.rexmit_inconsistent;
        o->rcv_ooo_held = bi.ooo_held;
        o->rcv_bufsize = bi.bufsize;
    }
    return 0;
}

/* Gap pairs are struct reasm_gap's two uint64_t, in order. */
_Static_assert(sizeof(struct reasm_gap) == 2 * sizeof(uint64_t), "gap = [start, end)");

int mos_flow_gaps(struct mos_core *c, struct mos_flow *f, int side, uint64_t *out, uint32_t n)
{
    if (!c || !f)
        return -EINVAL;
    return flow_ops_gaps(f, side, (struct reasm_gap *)out, n);
}

int mos_addr_format(int ip_ver, const uint8_t *addr, char *buf, uint32_t len)
{
    return flow_ops_addr_str(ip_ver, addr, buf, len);
}

int mos_addr_parse(const char *text, uint8_t *out)
{
    if (!text || !out)
        return -EINVAL;
    memset(out, 0, 16);
    if (inet_pton(AF_INET, text, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, text, out) == 1)
        return 6;
    return -EINVAL;
}

int mos_flow_uid(struct mos_core *c, struct mos_flow *f, char *buf, uint32_t len)
{
    return flow_ops_uid(c, f, buf, len);
}

int mos_flow_community_id(struct mos_core *c, struct mos_flow *f, char *buf, uint32_t len)
{
    return flow_ops_community_id(c, f, buf, len);
}

int mos_flow_endpoint(struct mos_core *c, struct mos_flow *f, int side, char *buf, uint32_t len)
{
    if (!c || !f)
        return -EINVAL;
    return flow_ops_endpoint_str(f, side, buf, len);
}

int mos_flow_drop(struct mos_core *c, struct mos_flow *f)
{
    if (!c || !f)
        return -EINVAL;
    core_flow_drop(c, f);
    return 0;
}

int mos_flow_reset(struct mos_core *c, struct mos_flow *f)
{
    return c && f ? core_flow_reset(c, f) : -EINVAL;
}

int mos_pkt_rewrite(struct mos_core *c, struct mos_flow *f, int part, uint32_t off, uint32_t remove,
                    const uint8_t *data, uint32_t len)
{
    if (!c || !f)
        return -EINVAL;
    return flow_ops_rewrite(c, f, part, off, remove, data, len);
}

/* The Lua option numbers (enum mos_ffi_opt) as the core's option and side. */
static int ffi_opt(int opt, bool set, int *side)
{
    *side = MOS_SIDE_CLI;
    switch (opt) {
    case MOS_OPT_CLIBUF: *side = MOS_SIDE_CLI; return FLOW_OPT_BUF;
    case MOS_OPT_SVRBUF: *side = MOS_SIDE_SVR; return FLOW_OPT_BUF;
    case MOS_OPT_OVERLAP: *side = set ? MOS_SIDE_BOTH : MOS_SIDE_CLI; return FLOW_OPT_OVERLAP; /* both sides */
    case MOS_OPT_CLI_STATE: *side = MOS_SIDE_CLI; return FLOW_OPT_STATE;
    case MOS_OPT_SVR_STATE: *side = MOS_SIDE_SVR; return FLOW_OPT_STATE;
    case MOS_OPT_UCTX: return FLOW_OPT_UCTX;
    default: return -1;
    }
}

int mos_flow_getopt(struct mos_core *c, struct mos_flow *f, int opt, int64_t *out)
{
    if (!c || !f)
        return -EINVAL;
    int side, o = ffi_opt(opt, false, &side);
    return flow_ops_get(f, o, side, out);
}

int mos_flow_setopt(struct mos_core *c, struct mos_flow *f, int opt, int64_t value)
{
    if (!c || !f)
        return -EINVAL;
    int side, o = ffi_opt(opt, true, &side);
    return flow_ops_set(c, f, o, side, value);
}

/* --- the current packet --- */

int mos_pkt_get(struct mos_core *c, struct mos_ffi_pkt *out)
{
    const struct mos_pkt *p;
    int rc = c && out ? flow_ops_pkt(c, &p) : -EINVAL;
    if (rc < 0)
        return rc;
    *out = (struct mos_ffi_pkt){
        .ts_ns = p->ts_ns, .ip_ver = p->ip_ver, .proto = p->proto, .ttl = p->ttl, .tcp_flags = p->tcp_flags,
        .nvlan = p->nvlan, .reassembled = p->reassembled, .sport = p->sport, .dport = p->dport,
        .seq = p->seq, .ack = p->ack, .win = p->win, .urg = p->urg, .caplen = p->caplen, .wirelen = p->wirelen,
        .payload = p->payload, .payload_len = p->payload_len, .payload_wire_len = p->payload_wire_len,
    };
    for (int i = 0; i < MOS_MAX_VLAN; i++)
        out->vlan[i] = p->vlan[i];
    memcpy(out->src, p->src, 16);
    memcpy(out->dst, p->dst, 16);
    return 0;
}

/* --- stream matching --- */

int mos_matcher_new(struct mos_core *c, const struct mos_pattern *p, uint32_t n, struct mos_matcher **out,
                    char *err, uint32_t errlen)
{
    if (!c || !out || (n && !p))
        return -EINVAL;
    return stream_match_create(c, p, n, out, err, errlen);
}

int mos_matcher_load(struct mos_core *c, const char *path, struct mos_matcher **out, char *err, uint32_t errlen)
{
    if (!c || !path || !out)
        return -EINVAL;
    return stream_match_load(c, path, out, err, errlen);
}

void mos_matcher_free(struct mos_matcher *m) { stream_match_destroy(m); }

int mos_matcher_scan(struct mos_matcher *m, struct mos_flow *f, int side)
{
    if (!m || !f)
        return -EINVAL;
    return stream_match_scan(m, f, side); /* checks the side */
}

const struct mos_match *mos_matcher_results(const struct mos_matcher *m) { return m ? stream_match_results(m) : NULL; }

int mos_matcher_stats(const struct mos_matcher *m, struct mos_matcher_stats *out)
{
    if (!m || !out)
        return -EINVAL;
    stream_match_stats(m, out);
    return 0;
}
