/*
 * mtcp_api.c - mOS's C API on top of the engine.
 *
 * The API is process-wide by design (mtcp_init reads one config, and
 * mtcp_define_event has no context), so this file keeps one runtime struct:
 * the config and the UDE definitions. UDEs are replayed, in definition
 * order, into every context's registry, so an event id means the same thing
 * on every core. Everything per packet stays in the per-core struct mos_core.
 *
 * Handler identity for the event trees is the callback's address; a timer
 * is identified by its slot with bit 63 set (user-space addresses never have
 * it), so one dispatcher serves both.
 *
 * What a callback does to a flow (options, buffer info, gaps, addresses,
 * the last packet and its rewrite) is core/flow_ops.c, shared with the Lua
 * FFI; this file maps mOS's names and its -1/errno convention onto it.
 */
#include "mtcp_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "event_tree.h"
#include "flow.h"
#include "flow_ops.h"
#include "io.h"
#include "mos_error.h"
#include "pkt_rewrite.h"
#include "stream_match.h"

#define MTCP_MAX_CONTEXTS 64
#define MTCP_MAX_UDES 1024
#define MTCP_MAX_TIMERS 4096
#define TIMER_TAG (1ull << 63)

struct mtcp_ude {
    event_t base;
    filter_t filter;
    filter_arg_t arg;
};

struct mtcp_timer {
    callback_t cb;
    int id;
    bool used;
};

struct mtcp_context {
    struct mos_core *core;
    struct mos_io *io;
    int cpu;
    struct mtcp_timer timers[MTCP_MAX_TIMERS];
};

static struct {
    pthread_mutex_t lock;
    bool inited;
    struct mos_config cfg;
    struct mtcp_ude udes[MTCP_MAX_UDES];
    int nudes;
    struct mtcp_context *ctx[MTCP_MAX_CONTEXTS];
} rt = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* mOS reports through errno: a negative code (project or -errno) becomes
 * its nearest errno value; a positive argument is an errno value already. */
static int fail(int err)
{
    errno = err < 0 ? mos_error_errno(err) : err;
    return -1;
}

int mtcp_init(const char *config_file)
{
    char err[512];
    pthread_mutex_lock(&rt.lock);
    if (!rt.inited) {
        config_defaults(&rt.cfg);
        rt.inited = true;
    }
    int rc = 0;
    if (config_file && config_load_file(&rt.cfg, config_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "mtcp_init: %s\n", err);
        rc = -EINVAL;
    } else if (config_validate(&rt.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "mtcp_init: %s\n", err);
        rc = -EINVAL;
    }
    pthread_mutex_unlock(&rt.lock);
    return rc < 0 ? fail(rc) : 0;
}

int mtcp_config_set(const char *key, const char *value)
{
    char err[512];
    pthread_mutex_lock(&rt.lock);
    if (!rt.inited) {
        config_defaults(&rt.cfg);
        rt.inited = true;
    }
    int rc = config_set(&rt.cfg, key, value, err, sizeof(err));
    pthread_mutex_unlock(&rt.lock);
    if (rc < 0) {
        fprintf(stderr, "mtcp_config_set: %s\n", err);
        return fail(rc);
    }
    return 0;
}

int mtcp_destroy(void)
{
    pthread_mutex_lock(&rt.lock);
    rt.inited = false;
    rt.nudes = 0;
    pthread_mutex_unlock(&rt.lock);
    return 0;
}

static int define_in_core(struct mos_core *core, const struct mtcp_ude *u)
{
    return core_define_event(core, (int)u->base, (uint64_t)(uintptr_t)u->filter, (uint64_t)(uintptr_t)&u->arg);
}

mctx_t mtcp_create_context(int cpu)
{
    if (cpu < 0 || cpu >= MTCP_MAX_CONTEXTS) {
        errno = EINVAL;
        return NULL;
    }
    pthread_mutex_lock(&rt.lock);
    if (!rt.inited) {
        config_defaults(&rt.cfg);
        rt.inited = true;
    }
    struct mtcp_context *m = NULL;
    int rc = -EEXIST;
    if (rt.ctx[cpu])
        goto out;
    rc = -ENOMEM;
    m = calloc(1, sizeof(*m));
    if (!m)
        goto out;
    m->cpu = cpu;
    rc = core_create(&rt.cfg, cpu, &m->core);
    if (rc < 0)
        goto out;
    for (int i = 0; i < rt.nudes; i++)
        if ((rc = define_in_core(m->core, &rt.udes[i])) < 0)
            goto out;
    rt.ctx[cpu] = m;
    rc = 0;
out:
    pthread_mutex_unlock(&rt.lock);
    if (rc < 0) {
        if (m) {
            core_destroy(m->core);
            free(m);
        }
        errno = mos_error_errno(rc);
        return NULL;
    }
    return m;
}

int mtcp_destroy_context(mctx_t m)
{
    if (!m)
        return fail(EINVAL);
    pthread_mutex_lock(&rt.lock);
    if (rt.ctx[m->cpu] == m)
        rt.ctx[m->cpu] = NULL;
    pthread_mutex_unlock(&rt.lock);
    core_destroy(m->core);
    if (m->io)
        m->io->close(m->io);
    free(m);
    return 0;
}

/* ------------------------------------------------------------ dispatch */

static int flow_sockid(mctx_t m, const struct mos_flow *f)
{
    return MTCP_FLOW_SOCK_BASE + (int)core_flow_slot(m->core, f);
}

static struct mos_flow *flow_of(mctx_t m, int sockid)
{
    if (!m || sockid < MTCP_FLOW_SOCK_BASE)
        return NULL;
    struct mos_flow *f = core_flow_by_slot(m->core, (uint32_t)(sockid - MTCP_FLOW_SOCK_BASE));
    return f;
}

static int event_sockid(mctx_t m, const struct mos_event *ev)
{
    return ev->flow ? flow_sockid(m, ev->flow) : ev->sock;
}

static bool host_filter(void *ctx, uint64_t filter, uint64_t arg, const struct mos_event *ev)
{
    mctx_t m = ctx;
    filter_t fn = (filter_t)(uintptr_t)filter;
    return fn(m, event_sockid(m, ev), ev->side, ev->event, (filter_arg_t *)(uintptr_t)arg);
}

static void host_handler(void *ctx, uint64_t handler, const struct mos_event *ev)
{
    mctx_t m = ctx;
    if (handler & TIMER_TAG) {
        struct mtcp_timer *t = &m->timers[handler & ~TIMER_TAG];
        if (!t->used)
            return;
        t->used = false;
        t->cb(m, t->id, 0, 0, NULL);
        return;
    }
    callback_t cb = (callback_t)(uintptr_t)handler;
    cb(m, event_sockid(m, ev), ev->side, ev->event, NULL);
}

/* A batch is queued before its handlers run, so MOS_STOP_MON set by one
 * handler must also hold back the events already queued behind it. */
static bool stopped(const struct mos_event *ev)
{
    const struct mos_flow *f = ev->flow;
    return f && ev->event >= 0 && ev->side < 2 && (f->stop_mon & (1u << ev->side));
}

int mtcp_app_join(mctx_t m)
{
    if (!m)
        return fail(EINVAL);
    const struct mos_config *cfg = core_config(m->core);
    if (!m->io) {
        if (cfg->ninputs == 0) {
            fprintf(stderr, "mtcp_app_join: no input configured (io.input = file:PATH)\n");
            return fail(EINVAL);
        }
        const char *in = cfg->inputs[0];
        if (strncmp(in, "file:", 5) != 0) {
            fprintf(stderr, "mtcp_app_join: input '%s' is not supported by the C API yet\n", in);
            return fail(ENOTSUP);
        }
        char err[512];
        int rc = io_pcap_open_offline(in + 5, &m->io, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "mtcp_app_join: %s\n", err);
            return fail(rc);
        }
        core_set_io(m->core, m->io);
    }
    struct etree_host host = {.ctx = m, .filter = host_filter, .handler = host_handler};
    for (;;) {
        const struct mos_event *evs;
        int n = core_step(m->core, &evs);
        if (n > 0) {
            for (int i = 0; i < n; i++)
                if (!stopped(&evs[i]))
                    core_dispatch_c(m->core, &evs[i], &host);
            continue;
        }
        if (n == MOS_IO_EOF)
            break;
        if (n < 0) {
            fprintf(stderr, "mtcp_app_join: %s\n", core_error(m->core));
            return fail(n);
        }
    }
    if (core_error(m->core)[0])
        fprintf(stderr, "mtcp_app_join: %s\n", core_error(m->core));
    return 0;
}

/* ------------------------------------------------------------- sockets */

int mtcp_socket(mctx_t m, int domain, int type, int protocol)
{
    if (!m)
        return fail(EINVAL);
    if (domain != AF_INET && domain != AF_INET6 && domain != AF_UNSPEC)
        return fail(EAFNOSUPPORT);
    int rc = core_socket(m->core, type);
    return rc < 0 ? fail(rc) : rc;
}

int mtcp_close(mctx_t m, int sockid)
{
    if (!m)
        return fail(EINVAL);
    if (sockid >= MTCP_FLOW_SOCK_BASE) {
        int both = MOS_SIDE_BOTH;
        return mtcp_setsockopt(m, sockid, SOL_MONSOCKET, MOS_STOP_MON, &both, sizeof(both));
    }
    int rc = core_socket_close(m->core, sockid);
    return rc < 0 ? fail(rc) : 0;
}

int mtcp_bind_monitor_filter(mctx_t m, int sockid, monitor_filter_t ft)
{
    if (!m || !ft)
        return fail(EINVAL);
    char err[512];
    int rc = core_socket_filter(m->core, sockid, ft->stream_syn_filter, ft->raw_pkt_filter, err, sizeof(err));
    if (rc < 0) {
        if (rc == -EINVAL)
            fprintf(stderr, "mtcp_bind_monitor_filter: %s\n", err);
        return fail(rc);
    }
    return 0;
}

event_t mtcp_define_event(event_t event, filter_t filter, struct filter_arg *arg)
{
    if (!filter)
        return fail(EINVAL);
    pthread_mutex_lock(&rt.lock);
    int rc = -ENOSPC;
    if (rt.nudes >= MTCP_MAX_UDES)
        goto out;
    struct mtcp_ude *u = &rt.udes[rt.nudes];
    u->base = event;
    u->filter = filter;
    u->arg = arg ? *arg : (filter_arg_t){0};
    /* Every context gets the definition, in order, so ids agree. */
    int id = -EINVAL;
    bool any = false;
    for (int i = 0; i < MTCP_MAX_CONTEXTS; i++) {
        if (!rt.ctx[i])
            continue;
        int got = define_in_core(rt.ctx[i]->core, u);
        if (got < 0 || (any && got != id)) {
            rc = got < 0 ? got : -EPROTO;
            goto out;
        }
        id = got;
        any = true;
    }
    if (!any) {
        /* No context yet: ids are assigned in order from MOS_UDE_FIRST, and
         * base must be a built-in or an earlier UDE. */
        if (event < 0 || (event >= MOS_BUILTIN_EVENTS && (event < MOS_UDE_FIRST || event >= MOS_UDE_FIRST + rt.nudes)))
            goto out_inval;
        id = MOS_UDE_FIRST + rt.nudes;
    }
    rt.nudes++;
    rc = id;
    goto out;
out_inval:
    rc = -EINVAL;
out:
    pthread_mutex_unlock(&rt.lock);
    return rc < 0 ? fail(rc) : rc;
}

int mtcp_register_callback(mctx_t m, int sockid, event_t event, int hook, callback_t cb)
{
    if (!m || !cb)
        return fail(EINVAL);
    uint64_t id = (uint64_t)(uintptr_t)cb;
    int rc;
    struct mos_flow *f = flow_of(m, sockid);
    if (f)
        rc = core_flow_register(m->core, f, (int)event, hook, id);
    else
        rc = core_register(m->core, sockid, (int)event, hook, id, false);
    return rc < 0 ? fail(rc) : 0;
}

/* mOS's unregister names no callback: remove every handler of `event` at
 * that hook. The socket-level tree lists them. */
int mtcp_unregister_callback(mctx_t m, int sockid, event_t event, int hook)
{
    if (!m || hook < 0 || hook >= MOS_HK_COUNT)
        return fail(EINVAL);
    struct mos_flow *f = flow_of(m, sockid);
    const struct mos_tree *t = f ? flow_ops_tree(f, hook) : core_socket_tree(m->core, sockid, hook);
    if (!t)
        return fail(EBADF);
    int node = etree_find(t, (int)event);
    if (node < 0 || t->nodes[node].nhandlers == 0)
        return fail(ENOENT);
    /* Each removal switches to another tree: look the node up again. */
    while (t && (node = etree_find(t, (int)event)) >= 0 && t->nodes[node].nhandlers > 0) {
        uint64_t id = t->handlers[t->nodes[node].first_handler];
        int rc = f ? core_flow_unregister(m->core, f, (int)event, hook, id)
                   : core_unregister(m->core, sockid, (int)event, hook, id, false);
        if (rc < 0)
            return fail(rc);
        t = f ? flow_ops_tree(f, hook) : core_socket_tree(m->core, sockid, hook);
    }
    return 0;
}

int mtcp_raise_event(mctx_t m, int sockid, int side, event_t event)
{
    struct mos_flow *f = flow_of(m, sockid);
    if (!f)
        return fail(EBADF);
    int rc = core_raise_event(m->core, f, side, (int)event);
    return rc < 0 ? fail(rc) : 0;
}

void *mtcp_get_uctx(mctx_t m, int sockid)
{
    struct mos_flow *f = flow_of(m, sockid);
    return f ? (void *)(uintptr_t)f->uctx : NULL;
}

void mtcp_set_uctx(mctx_t m, int sockid, void *uctx)
{
    struct mos_flow *f = flow_of(m, sockid);
    if (f)
        f->uctx = (uint64_t)(uintptr_t)uctx;
}

/* ------------------------------------------------------------- streams */

ssize_t mtcp_peek(mctx_t m, int sockid, int side, char *buf, size_t len)
{
    struct mos_flow *f = flow_of(m, sockid);
    if (!f)
        return fail(EBADF);
    if (len > UINT32_MAX)
        len = UINT32_MAX;
    int64_t rc = core_peek(m->core, f, side, (uint8_t *)buf, (uint32_t)len);
    return rc < 0 ? fail((int)rc) : (ssize_t)rc;
}

ssize_t mtcp_ppeek(mctx_t m, int sockid, int side, char *buf, size_t count, uint64_t off)
{
    struct mos_flow *f = flow_of(m, sockid);
    if (!f)
        return fail(EBADF);
    if (count > UINT32_MAX)
        count = UINT32_MAX;
    int64_t rc = core_ppeek(m->core, f, side, off, (uint8_t *)buf, (uint32_t)count);
    return rc < 0 ? fail((int)rc) : (ssize_t)rc;
}

int mtcp_getlastpkt(mctx_t m, int sockid, int side, struct pkt_info *pi)
{
    if (!m || !pi)
        return fail(EINVAL);
    const struct mos_pkt *p;
    int rc = flow_ops_pkt(m->core, &p);
    if (rc < 0)
        return fail(rc);
    memset(pi, 0, sizeof(*pi));
    pi->cur_ts_ns = p->ts_ns;
    pi->frame = p->frame;
    pi->frame_len = p->caplen;
    pi->ip_ver = p->ip_ver;
    pi->iph = p->l3;
    pi->ip_len = (uint16_t)(p->l3_len > 65535 ? 65535 : p->l3_len);
    if (p->proto == 6) {
        pi->tcph = p->l4;
        pi->tcp_flags = p->tcp_flags;
        pi->seq = p->seq;
        pi->ack = p->ack;
        pi->window = p->win;
    }
    pi->payload = p->payload;
    pi->payloadlen = p->payload_len;
    return 0;
}

int mtcp_setlastpkt(mctx_t m, int sockid, int side, off_t offset, const uint8_t *data, uint16_t datalen,
                    int option)
{
    if (!m || offset < 0 || offset > UINT32_MAX)
        return fail(EINVAL);
    int part;
    switch (option) {
    case MOS_IP_HDR: part = MOS_PART_IP_HDR; break;
    case MOS_TCP_HDR: part = MOS_PART_TCP_HDR; break;
    case MOS_TCP_PL: part = MOS_PART_PAYLOAD; break;
    default: return fail(ENOTSUP); /* link headers are the port's business */
    }
    /* mOS semantics: overwrite datalen bytes in place (same length); lengths
     * and checksums are fixed. Size-changing payload edits: mtcp_rewrite_payload. */
    int rc = flow_ops_rewrite(m->core, flow_of(m, sockid), part, (uint32_t)offset, datalen, data, datalen);
    return rc < 0 ? fail(rc) : 0;
}

int mtcp_rewrite_payload(mctx_t m, int sockid, uint32_t off, uint32_t remove, const uint8_t *data, uint32_t len)
{
    if (!m)
        return fail(EINVAL);
    int rc = flow_ops_rewrite(m->core, flow_of(m, sockid), MOS_PART_PAYLOAD, off, remove, data, len);
    return rc < 0 ? fail(rc) : 0;
}

static int int_opt(const void *optval, socklen_t optlen, int *out)
{
    if (!optval || optlen < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(out, optval, sizeof(int));
    return 0;
}

/* mOS's option names as the core's option and side. */
static int sockopt(int optname, int *side)
{
    switch (optname) {
    case MOS_CLIBUF: *side = MOS_SIDE_CLI; return FLOW_OPT_BUF;
    case MOS_SVRBUF: *side = MOS_SIDE_SVR; return FLOW_OPT_BUF;
    case MOS_CLIOVERLAP: *side = MOS_SIDE_CLI; return FLOW_OPT_OVERLAP;
    case MOS_SVROVERLAP: *side = MOS_SIDE_SVR; return FLOW_OPT_OVERLAP;
    case MOS_TCP_STATE_CLI: *side = MOS_SIDE_CLI; return FLOW_OPT_STATE;
    case MOS_TCP_STATE_SVR: *side = MOS_SIDE_SVR; return FLOW_OPT_STATE;
    case MOS_STOP_MON: *side = MOS_SIDE_CLI; return FLOW_OPT_STOP_MON; /* the side is the value */
    default: *side = MOS_SIDE_CLI; return -1;
    }
}

int mtcp_setsockopt(mctx_t m, int sockid, int level, int optname, const void *optval, socklen_t optlen)
{
    if (!m || level != SOL_MONSOCKET)
        return fail(EINVAL);
    int v;
    if (int_opt(optval, optlen, &v) < 0)
        return fail(EINVAL);
    int side, opt = sockopt(optname, &side);
    int64_t value = v;
    if (opt == FLOW_OPT_BUF)
        value = v != 0; /* mOS passes a buffer size; 0 turns buffering off */
    else if (opt == FLOW_OPT_STOP_MON)
        side = v, value = 1;
    struct mos_flow *f = flow_of(m, sockid);
    /* On a monitor socket the options set the defaults of new flows. */
    int rc = f ? flow_ops_set(m->core, f, opt, side, value) : flow_ops_set_default(m->core, opt, side, value);
    return rc < 0 ? fail(rc) : 0;
}

_Static_assert(sizeof(struct tcp_gap_info) == sizeof(struct reasm_gap), "a gap is [start, end)");

int mtcp_getsockopt(mctx_t m, int sockid, int level, int optname, void *optval, socklen_t *optlen)
{
    if (!m || level != SOL_MONSOCKET || !optval || !optlen)
        return fail(EINVAL);
    struct mos_flow *f = flow_of(m, sockid);
    if (!f)
        return fail(EBADF);
    if (optname == MOS_FLOW_UID || optname == MOS_FLOW_COMMUNITY_ID) {
        char id[FLOW_OPS_ID_LEN];
        int n = optname == MOS_FLOW_UID ? flow_ops_uid(m->core, f, id, sizeof(id))
                                        : flow_ops_community_id(m->core, f, id, sizeof(id));
        if (n < 0 || *optlen < (socklen_t)n + 1)
            return fail(EINVAL);
        memcpy(optval, id, (size_t)n + 1);
        *optlen = (socklen_t)n + 1;
        return 0;
    }
    int side = (optname == MOS_INFO_SVRBUF || optname == MOS_FRAGINFO_SVRBUF) ? MOS_SIDE_SVR : MOS_SIDE_CLI;
    switch (optname) {
    case MOS_INFO_CLIBUF:
    case MOS_INFO_SVRBUF: {
        struct flow_buf_info b;
        if (*optlen < (socklen_t)sizeof(struct tcp_buf_info))
            return fail(EINVAL);
        flow_ops_buf_info(f, side, &b);
        struct tcp_buf_info bi = {
            .next_expected = b.next, .last_received = b.delivered, .unread = b.unread, .gap_bytes = b.gap_bytes};
        memcpy(optval, &bi, sizeof(bi));
        *optlen = sizeof(bi);
        return 0;
    }
    case MOS_FRAGINFO_CLIBUF:
    case MOS_FRAGINFO_SVRBUF: {
        socklen_t room = *optlen / (socklen_t)sizeof(struct tcp_gap_info);
        int listed = flow_ops_gaps(f, side, (struct reasm_gap *)optval, room);
        socklen_t n = (socklen_t)listed < room ? (socklen_t)listed : room;
        *optlen = n * (socklen_t)sizeof(struct tcp_gap_info);
        return 0;
    }
    }
    int64_t v;
    int opt = sockopt(optname, &side);
    int rc = flow_ops_get(f, opt, side, &v);
    if (rc < 0)
        return fail(rc == -EPERM ? -ENOPROTOOPT : rc);
    if (*optlen < (socklen_t)sizeof(int))
        return fail(EINVAL);
    int iv = (int)v;
    memcpy(optval, &iv, sizeof(int));
    *optlen = sizeof(int);
    return 0;
}

int mtcp_getpeername(mctx_t m, int sockid, struct sockaddr *addr, socklen_t *addrlen, int side)
{
    struct mos_flow *f = flow_of(m, sockid);
    if (!f)
        return fail(EBADF);
    struct flow_endpoint ep;
    int rc = flow_ops_endpoint(f, side, &ep);
    if (rc < 0 || !addr || !addrlen)
        return fail(rc < 0 ? rc : -EINVAL);
    if (ep.ip_ver == 4) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(ep.port)};
        memcpy(&sin.sin_addr, ep.addr, 4);
        if (*addrlen < (socklen_t)sizeof(sin))
            return fail(EINVAL);
        memcpy(addr, &sin, sizeof(sin));
        *addrlen = sizeof(sin);
    } else {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(ep.port)};
        memcpy(&sin6.sin6_addr, ep.addr, 16);
        if (*addrlen < (socklen_t)sizeof(sin6))
            return fail(EINVAL);
        memcpy(addr, &sin6, sizeof(sin6));
        *addrlen = sizeof(sin6);
    }
    return 0;
}

int mtcp_reset_conn(mctx_t m, int sockid)
{
    struct mos_flow *f = flow_of(m, sockid);
    if (!f)
        return fail(EBADF);
    int rc = core_flow_reset(m->core, f);
    return rc < 0 ? fail(rc) : 0;
}

int mtcp_settimer(mctx_t m, int id, struct timeval *timeout, callback_t cb)
{
    if (!m || !timeout || !cb || timeout->tv_sec < 0 || timeout->tv_usec < 0)
        return fail(EINVAL);
    for (uint64_t i = 0; i < MTCP_MAX_TIMERS; i++) {
        if (m->timers[i].used)
            continue;
        uint64_t at = core_now(m->core) + (uint64_t)timeout->tv_sec * 1000000000ull +
                      (uint64_t)timeout->tv_usec * 1000ull;
        int rc = core_set_timer(m->core, NULL, at, TIMER_TAG | i);
        if (rc < 0)
            return fail(rc);
        m->timers[i] = (struct mtcp_timer){.cb = cb, .id = id, .used = true};
        return 0;
    }
    return fail(ENOSPC);
}

uint32_t mtcp_cb_get_ts(mctx_t m)
{
    return m ? (uint32_t)(core_now(m->core) / 1000000ull) : 0;
}

/* --------------------------------------------------------- stream matching */

struct mos_matcher *mtcp_matcher_create(mctx_t m, const struct mos_pattern *p, int n, char *err, size_t errlen)
{
    struct mos_matcher *mm = NULL;
    if (!m || n < 0 || (n && !p)) {
        errno = EINVAL;
        return NULL;
    }
    int rc = stream_match_create(m->core, p, (uint32_t)n, &mm, err, errlen);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    return mm;
}

struct mos_matcher *mtcp_matcher_load(mctx_t m, const char *path, char *err, size_t errlen)
{
    struct mos_matcher *mm = NULL;
    if (!m || !path) {
        errno = EINVAL;
        return NULL;
    }
    int rc = stream_match_load(m->core, path, &mm, err, errlen);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    return mm;
}

void mtcp_matcher_destroy(struct mos_matcher *m) { stream_match_destroy(m); }

int mtcp_matcher_scan(mctx_t m, int sockid, int side, struct mos_matcher *mm, const struct mos_match **out)
{
    struct mos_flow *f = flow_of(m, sockid);
    if (!f)
        return fail(EBADF);
    if (!mm || !out)
        return fail(EINVAL);
    int rc = stream_match_scan(mm, f, side);
    if (rc < 0)
        return fail(rc);
    *out = stream_match_results(mm);
    return rc;
}
