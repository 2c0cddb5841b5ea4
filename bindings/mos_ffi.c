/*
 * mos_ffi.c - thin wrappers exporting the engine to LuaJIT's FFI.
 *
 * Each wrapper validates what Lua could get wrong (NULL pointers, side and
 * hook ranges, buffer sizes) and returns -EINVAL instead of trusting it, so a
 * script bug becomes a Lua error rather than a crash. Flow data is copied
 * into the plain structs of mos_ffi.h: Lua never sees struct mos_flow's
 * private layout, which the core may change freely. No state lives here.
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
#include "mos_error.h"
#include "mos_types.h"
#include "stream_match.h"

static bool side_ok(int side) { return side == MOS_SIDE_CLI || side == MOS_SIDE_SVR; }

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

static bool hook_ok(int hook) { return hook >= 0 && hook < MOS_HK_COUNT; }

int mos_socket_register(struct mos_core *c, int sock, int event, int hook, uint64_t handler, int existing)
{
    if (!c || !hook_ok(hook) || handler == 0)
        return -EINVAL;
    return core_register(c, sock, event, hook, handler, existing != 0);
}

int mos_socket_unregister(struct mos_core *c, int sock, int event, int hook, uint64_t handler, int existing)
{
    if (!c || !hook_ok(hook) || handler == 0)
        return -EINVAL;
    return core_unregister(c, sock, event, hook, handler, existing != 0);
}

const struct mos_tree *mos_socket_tree(struct mos_core *c, int sock, int hook)
{
    if (!c || !hook_ok(hook))
        return NULL;
    return core_socket_tree(c, sock, hook);
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
    if (!c || !f || !side_ok(side))
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
    if (!c || !f || !hook_ok(hook) || handler == 0)
        return -EINVAL;
    return core_flow_register(c, f, event, hook, handler);
}

int mos_flow_unregister(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler)
{
    if (!c || !f || !hook_ok(hook) || handler == 0)
        return -EINVAL;
    return core_flow_unregister(c, f, event, hook, handler);
}

const struct mos_tree *mos_flow_tree(struct mos_core *c, struct mos_flow *f, int hook)
{
    if (!c || !f || !hook_ok(hook))
        return NULL;
    return f->tree[hook];
}

int64_t mos_flow_peek(struct mos_core *c, struct mos_flow *f, int side, uint8_t *buf, uint32_t n)
{
    if (!c || !f || !side_ok(side) || (!buf && n))
        return -EINVAL;
    return core_peek(c, f, side, buf, n);
}

int64_t mos_flow_ppeek(struct mos_core *c, struct mos_flow *f, int side, uint64_t off, uint8_t *buf, uint32_t n)
{
    if (!c || !f || !side_ok(side) || (!buf && n))
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
        /* key end of side s: the client is key end cli_end */
        int end = s == MOS_SIDE_CLI ? f->cli_end : 1 - f->cli_end;
        const struct mos_endpoint *ep = &f->ep[s];
        const struct tcp_reasm *r = &ep->rcv;
        struct mos_ffi_side *o = &out->side[s];
        o->state = ep->state;
        o->buffered = r->enabled;
        o->port = f->key.port[end];
        memcpy(o->addr, f->key.addr[end], 16);
        o->pkts_sent = ep->pkts;
        o->bytes_sent = ep->bytes;
        o->rcv_next = r->next;
        o->rcv_delivered = r->buf.head;
        o->rcv_unread = stream_buf_unread(&r->buf);
        o->rcv_lost = r->buf.lost;
        o->rcv_gap_bytes = r->gap_bytes;
        o->rcv_ngaps = r->ngaps;
        o->rcv_ngaps_total = r->ngaps_total;
        o->rcv_rexmit = r->rexmit;
        o->rcv_rexmit_inconsistent = r->rexmit_inconsistent;
        o->rcv_ooo_held = r->ooo_held;
        o->rcv_bufsize = r->buf.size;
    }
    return 0;
}

int mos_flow_gaps(struct mos_core *c, struct mos_flow *f, int side, uint64_t *out, uint32_t n)
{
    if (!c || !f || !side_ok(side) || (!out && n))
        return -EINVAL;
    const struct tcp_reasm *r = &f->ep[side].rcv;
    for (uint32_t i = 0; i < r->ngaps && i < n; i++) {
        out[2 * i] = r->gaps[i].start;
        out[2 * i + 1] = r->gaps[i].end;
    }
    return (int)r->ngaps;
}

int mos_addr_format(int ip_ver, const uint8_t *addr, char *buf, uint32_t len)
{
    if (!addr || !buf || len < INET6_ADDRSTRLEN)
        return -EINVAL;
    if (!inet_ntop(ip_ver == 6 ? AF_INET6 : AF_INET, addr, buf, len))
        return -errno;
    return (int)strlen(buf);
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

int mos_flow_endpoint(struct mos_core *c, struct mos_flow *f, int side, char *buf, uint32_t len)
{
    if (!c || !f || !side_ok(side) || !buf || len < INET6_ADDRSTRLEN + 8)
        return -EINVAL;
    int end = side == MOS_SIDE_CLI ? f->cli_end : 1 - f->cli_end;
    char a[INET6_ADDRSTRLEN];
    int rc = mos_addr_format(f->key.ip_ver, f->key.addr[end], a, sizeof(a));
    if (rc < 0)
        return rc;
    const char *fmt = f->key.ip_ver == 6 ? "[%s]:%u" : "%s:%u";
    return snprintf(buf, len, fmt, a, (unsigned)f->key.port[end]);
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
    if (!c || !f || (!data && len))
        return -EINVAL;
    const struct mos_pkt *p = core_current_pkt(c);
    if (!p)
        return MOS_E_NO_PACKET;
    struct mos_flow_key k;
    memset(&k, 0, sizeof(k));
    mos_flow_key_from_pkt(p, &k);
    if (memcmp(&k, &f->key, sizeof(k)) != 0)
        return MOS_E_OTHER_FLOW;
    return core_pkt_rewrite(c, part, off, remove, data, len);
}

int mos_flow_getopt(struct mos_core *c, struct mos_flow *f, int opt, int64_t *out)
{
    if (!c || !f || !out)
        return -EINVAL;
    switch (opt) {
    case MOS_OPT_CLIBUF: *out = f->ep[MOS_SIDE_CLI].rcv.enabled; return 0;
    case MOS_OPT_SVRBUF: *out = f->ep[MOS_SIDE_SVR].rcv.enabled; return 0;
    case MOS_OPT_OVERLAP: *out = f->ep[MOS_SIDE_CLI].rcv.overlap; return 0;
    case MOS_OPT_CLI_STATE: *out = f->ep[MOS_SIDE_CLI].state; return 0;
    case MOS_OPT_SVR_STATE: *out = f->ep[MOS_SIDE_SVR].state; return 0;
    case MOS_OPT_UCTX: *out = (int64_t)f->uctx; return 0;
    default: return -ENOPROTOOPT;
    }
}

int mos_flow_setopt(struct mos_core *c, struct mos_flow *f, int opt, int64_t value)
{
    if (!c || !f)
        return -EINVAL;
    switch (opt) {
    case MOS_OPT_CLIBUF:
    case MOS_OPT_SVRBUF:
        if (value != 0 && value != 1)
            return -EINVAL;
        /* only switching OFF is safe mid-stream: turning it on later would
         * start a stream at an offset the reassembler never saw. */
        if (value == 1 && !f->ep[opt == MOS_OPT_CLIBUF ? MOS_SIDE_CLI : MOS_SIDE_SVR].rcv.enabled)
            return -EPERM;
        f->ep[opt == MOS_OPT_CLIBUF ? MOS_SIDE_CLI : MOS_SIDE_SVR].rcv.enabled = value != 0;
        return 0;
    case MOS_OPT_OVERLAP:
        if (value != MOS_OVERLAP_FIRST && value != MOS_OVERLAP_LAST)
            return -EINVAL;
        f->ep[0].rcv.overlap = f->ep[1].rcv.overlap = (uint8_t)value;
        return 0;
    case MOS_OPT_UCTX:
        f->uctx = (uint64_t)value;
        return 0;
    case MOS_OPT_CLI_STATE:
    case MOS_OPT_SVR_STATE:
        return MOS_E_READ_ONLY;
    default:
        return -ENOPROTOOPT;
    }
}

/* --- the current packet --- */

int mos_pkt_get(struct mos_core *c, struct mos_ffi_pkt *out)
{
    if (!c || !out)
        return -EINVAL;
    const struct mos_pkt *p = core_current_pkt(c);
    if (!p)
        return MOS_E_NO_PACKET;
    memset(out, 0, sizeof(*out));
    out->ts_ns = p->ts_ns;
    out->ip_ver = p->ip_ver;
    out->proto = p->proto;
    out->ttl = p->ttl;
    out->tcp_flags = p->tcp_flags;
    out->nvlan = p->nvlan;
    out->reassembled = p->reassembled;
    for (int i = 0; i < MOS_MAX_VLAN; i++)
        out->vlan[i] = p->vlan[i];
    memcpy(out->src, p->src, 16);
    memcpy(out->dst, p->dst, 16);
    out->sport = p->sport;
    out->dport = p->dport;
    out->seq = p->seq;
    out->ack = p->ack;
    out->win = p->win;
    out->urg = p->urg;
    out->caplen = p->caplen;
    out->wirelen = p->wirelen;
    out->payload = p->payload;
    out->payload_len = p->payload_len;
    out->payload_wire_len = p->payload_wire_len;
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
    if (!m || !f || !side_ok(side))
        return -EINVAL;
    return stream_match_scan(m, f, side);
}

const struct mos_match *mos_matcher_results(const struct mos_matcher *m) { return m ? stream_match_results(m) : NULL; }

int mos_matcher_stats(const struct mos_matcher *m, struct mos_matcher_stats *out)
{
    if (!m || !out)
        return -EINVAL;
    stream_match_stats(m, out);
    return 0;
}
