/*
 * flow_ops.c - the operations both bindings offer on a flow, done once.
 *
 * Design: every check a binding used to make for itself (side range per
 * option, value range, read-only options, the current packet belonging to
 * the flow) is made here, so the Lua FFI and the mOS C API cannot disagree
 * again; they only translate names, structs and error conventions.
 *
 * Buffering is the delicate option: switching it while out-of-order bytes
 * are held used to leave segments whose allocation did not match the
 * `enabled` flag (reading bytes never stored) and a memcap count that was
 * never given back. flow_ops_set_buffering() is the only caller of
 * tcp_reasm_set_storage(), which converts the held segments and restarts the
 * ring; re-enabling is allowed (mOS allows it) and stores from the next
 * in-order byte on.
 */
#include "flow_ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "community_id.h"
#include "config.h"
#include "flow_uid.h"
#include "engine_priv.h"

static bool side_ok(int side) { return side == MOS_SIDE_CLI || side == MOS_SIDE_SVR; }
static bool overlap_ok(int64_t v) { return v == MOS_OVERLAP_FIRST || v == MOS_OVERLAP_LAST; }

int flow_ops_get(const struct mos_flow *f, int opt, int side, int64_t *out)
{
    if (!f)
        return -EBADF;
    if (!out)
        return -EINVAL;
    if (opt == FLOW_OPT_UCTX) {
        *out = (int64_t)f->uctx;
        return 0;
    }
    if (opt == FLOW_OPT_STOP_MON)
        return -EPERM;
    if (opt != FLOW_OPT_BUF && opt != FLOW_OPT_OVERLAP && opt != FLOW_OPT_STATE)
        return -ENOPROTOOPT;
    if (!side_ok(side))
        return -EINVAL;
    const struct mos_endpoint *ep = &f->ep[side];
    *out = opt == FLOW_OPT_BUF ? ep->rcv.enabled : opt == FLOW_OPT_OVERLAP ? ep->rcv.overlap : ep->state;
    return 0;
}

int flow_ops_set_buffering(struct mos_core *c, struct mos_flow *f, int side, bool on)
{
    if (!f)
        return -EBADF;
    if (!side_ok(side))
        return -EINVAL;
    tcp_reasm_set_storage(&f->ep[side].rcv, &c->pool, on, c->cfg.rcvbuf);
    return 0;
}

int flow_ops_set(struct mos_core *c, struct mos_flow *f, int opt, int side, int64_t value)
{
    if (!f)
        return -EBADF;
    switch (opt) {
    case FLOW_OPT_BUF:
        if (value != 0 && value != 1)
            return -EINVAL;
        return flow_ops_set_buffering(c, f, side, value != 0);
    case FLOW_OPT_OVERLAP:
        if (!overlap_ok(value) || (!side_ok(side) && side != MOS_SIDE_BOTH))
            return -EINVAL;
        for (int s = 0; s < 2; s++)
            if (side == s || side == MOS_SIDE_BOTH)
                f->ep[s].rcv.overlap = (uint8_t)value;
        return 0;
    case FLOW_OPT_STOP_MON:
        if (value != 1 || (!side_ok(side) && side != MOS_SIDE_BOTH))
            return -EINVAL;
        f->stop_mon |= (uint8_t)(side == MOS_SIDE_BOTH ? 3 : 1 << side);
        return 0;
    case FLOW_OPT_UCTX:
        f->uctx = (uint64_t)value;
        return 0;
    case FLOW_OPT_STATE:
        return MOS_E_READ_ONLY;
    default:
        return -ENOPROTOOPT;
    }
}

int flow_ops_set_default(struct mos_core *c, int opt, int side, int64_t value)
{
    struct mos_config *cfg = &c->cfg;
    switch (opt) {
    case FLOW_OPT_BUF:
        if ((value != 0 && value != 1) || !side_ok(side))
            return -EINVAL;
        if (side == MOS_SIDE_CLI)
            cfg->reassembly_client = value != 0;
        else
            cfg->reassembly_server = value != 0;
        return 0;
    case FLOW_OPT_OVERLAP:
        /* one policy for both sides of new flows (config.h) */
        if (!overlap_ok(value) || (!side_ok(side) && side != MOS_SIDE_BOTH))
            return -EINVAL;
        cfg->overlap = (int)value;
        return 0;
    case FLOW_OPT_STATE:
    case FLOW_OPT_STOP_MON:
    case FLOW_OPT_UCTX:
        return -EPERM; /* a flow's, not a default */
    default:
        return -ENOPROTOOPT;
    }
}

int flow_ops_buf_info(const struct mos_flow *f, int side, struct flow_buf_info *out)
{
    if (!f)
        return -EBADF;
    if (!side_ok(side) || !out)
        return -EINVAL;
    const struct tcp_reasm *r = &f->ep[side].rcv;
    *out = (struct flow_buf_info){
        .buffered = r->enabled,
        .next = r->next,
        .delivered = r->buf.head,
        .unread = stream_buf_unread(&r->buf),
        .lost = r->buf.lost,
        .gap_bytes = r->gap_bytes,
        .ngaps = r->ngaps,
        .ngaps_total = r->ngaps_total,
        .rexmit = r->rexmit,
        .rexmit_inconsistent = r->rexmit_inconsistent,
        .ooo_held = r->ooo_held,
        .bufsize = r->buf.size,
    };
    return 0;
}

int flow_ops_gaps(const struct mos_flow *f, int side, struct reasm_gap *out, uint32_t n)
{
    if (!f)
        return -EBADF;
    if (!side_ok(side) || (!out && n))
        return -EINVAL;
    const struct tcp_reasm *r = &f->ep[side].rcv;
    for (uint32_t i = 0; i < r->ngaps && i < n; i++)
        out[i] = r->gaps[i];
    return (int)r->ngaps;
}

int flow_ops_endpoint(const struct mos_flow *f, int side, struct flow_endpoint *out)
{
    if (!f)
        return -EBADF;
    if (!side_ok(side) || !out)
        return -EINVAL;
    /* key end of side: the client is key end cli_end */
    int end = side == MOS_SIDE_CLI ? f->cli_end : 1 - f->cli_end;
    out->ip_ver = f->key.ip_ver;
    memcpy(out->addr, f->key.addr[end], 16);
    out->port = f->key.port[end];
    return 0;
}

int flow_ops_addr_str(int ip_ver, const uint8_t *addr, char *buf, uint32_t len)
{
    if (!addr || !buf || len < INET6_ADDRSTRLEN)
        return -EINVAL;
    if (!inet_ntop(ip_ver == 6 ? AF_INET6 : AF_INET, addr, buf, len))
        return -errno;
    return (int)strlen(buf);
}

_Static_assert(FLOW_OPS_ENDPOINT_LEN >= INET6_ADDRSTRLEN + 8, "room for [address]:port");

int flow_ops_endpoint_str(const struct mos_flow *f, int side, char *buf, uint32_t len)
{
    struct flow_endpoint ep;
    int rc = flow_ops_endpoint(f, side, &ep);
    if (rc < 0)
        return rc;
    if (!buf || len < FLOW_OPS_ENDPOINT_LEN)
        return -EINVAL;
    char a[INET6_ADDRSTRLEN];
    rc = flow_ops_addr_str(ep.ip_ver, ep.addr, a, sizeof(a));
    if (rc < 0)
        return rc;
    return snprintf(buf, len, ep.ip_ver == 6 ? "[%s]:%u" : "%s:%u", a, (unsigned)ep.port);
}

const struct mos_tree *flow_ops_tree(const struct mos_flow *f, int hook)
{
    return f && hook >= 0 && hook < MOS_HK_COUNT ? f->tree[hook] : NULL;
}

int flow_ops_pkt(struct mos_core *c, const struct mos_pkt **p)
{
    *p = core_current_pkt(c);
    return *p ? 0 : MOS_E_NO_PACKET;
}

int flow_ops_rewrite(struct mos_core *c, const struct mos_flow *f, int part, uint32_t off, uint32_t remove,
                     const uint8_t *data, uint32_t len)
{
    if (!data && len)
        return -EINVAL;
    const struct mos_pkt *p = core_current_pkt(c);
    if (!p)
        return MOS_E_NO_PACKET;
    if (f) {
        struct mos_flow_key k;
        memset(&k, 0, sizeof(k));
        mos_flow_key_from_pkt(p, &k);
        if (memcmp(&k, &f->key, sizeof(k)) != 0)
            return MOS_E_OTHER_FLOW; /* the packet being processed is not this flow's */
    }
    return core_pkt_rewrite(c, part, off, remove, data, len);
}

_Static_assert(FLOW_OPS_ID_LEN >= FLOW_UID_LEN && FLOW_OPS_ID_LEN >= COMMUNITY_ID_LEN, "room for either id");

int flow_ops_uid(struct mos_core *c, const struct mos_flow *f, char *buf, uint32_t len)
{
    if (!c || !f || !buf)
        return -EINVAL;
    const struct mos_config *cfg = core_config(c);
    return flow_uid_format(cfg->run_ms, (uint16_t)cfg->instance_id, f->id, buf, len);
}

int flow_ops_community_id(struct mos_core *c, const struct mos_flow *f, char *buf, uint32_t len)
{
    if (!c || !f || !buf)
        return -EINVAL;
    const struct mos_flow_key *k = &f->key;
    return community_id_v1((uint16_t)core_config(c)->community_id_seed, k->ip_ver, k->addr[0], k->addr[1],
                           k->proto, k->port[0], k->port[1], buf, len);
}
