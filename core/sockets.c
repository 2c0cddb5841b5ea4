/*
 * sockets.c - monitor sockets: their BPF filters, their <event, handler>
 * registrations, and the events raised per socket rather than per flow
 * (raw-socket PKT_IN, ORPHAN).
 *
 * Design: a socket owns one event tree per hook; a flow created under it
 * takes a reference to those trees (flow_life.c), so a registration that
 * must reach existing flows walks the flow table once and switches each
 * flow's tree (hash-consed: flows with equal sets share one tree).
 * Filters are compiled against a DLT_RAW dead handle and run on the IP
 * header, so one filter works for every link type.
 *
 * Invariants: a used socket has a non-NULL tree at every hook; nraw counts
 * the open raw sockets (sockets_raise_raw costs nothing without one).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine_priv.h"

struct mos_socket *sockets_get(struct mos_core *c, int sock)
{
    if (sock < 0 || sock >= MOS_MAX_SOCKETS || !c->socks[sock].used)
        return NULL;
    return &c->socks[sock];
}

int core_socket(struct mos_core *c, int type)
{
    if (type != MOS_SOCK_MONITOR_STREAM && type != MOS_SOCK_MONITOR_RAW)
        return -EINVAL;
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        if (c->socks[s].used)
            continue;
        struct mos_socket *so = &c->socks[s];
        memset(so, 0, sizeof(*so));
        so->used = true;
        so->type = (uint8_t)type;
        if (type == MOS_SOCK_MONITOR_RAW)
            c->nraw++;
        for (int h = 0; h < MOS_HK_COUNT; h++)
            so->tree[h] = etree_empty(c->trees);
        return s;
    }
    return -EMFILE;
}

int core_socket_close(struct mos_core *c, int sock)
{
    struct mos_socket *so = sockets_get(c, sock);
    if (!so)
        return -EBADF;
    if (so->has_syn)
        pcap_freecode(&so->syn_bpf);
    if (so->has_raw)
        pcap_freecode(&so->raw_bpf);
    for (int h = 0; h < MOS_HK_COUNT; h++)
        if (so->tree[h])
            etree_release(c->trees, so->tree[h]);
    if (so->type == MOS_SOCK_MONITOR_RAW)
        c->nraw--;
    memset(so, 0, sizeof(*so));
    return 0;
}

static int compile_filter(struct mos_core *c, const char *expr, struct bpf_program *prog, bool *has,
                          char *err, size_t errlen)
{
    if (!expr)
        return 0;
    if (*has) {
        pcap_freecode(prog);
        *has = false;
    }
    if (!*expr)
        return 0;
    if (pcap_compile(c->bpf_dead, prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        if (err)
            snprintf(err, errlen, "bad filter '%s': %s", expr, pcap_geterr(c->bpf_dead));
        return -EINVAL;
    }
    *has = true;
    return 0;
}

int core_socket_filter(struct mos_core *c, int sock, const char *syn_filter, const char *raw_filter,
                       char *err, size_t errlen)
{
    struct mos_socket *so = sockets_get(c, sock);
    if (!so)
        return -EBADF;
    int rc = compile_filter(c, syn_filter, &so->syn_bpf, &so->has_syn, err, errlen);
    if (rc < 0)
        return rc;
    return compile_filter(c, raw_filter, &so->raw_bpf, &so->has_raw, err, errlen);
}

static bool bpf_match(const struct bpf_program *prog, const struct mos_pkt *p)
{
    return bpf_filter(prog->bf_insns, p->l3, p->l3_len, p->l3_len) != 0;
}

/* Which hooks make sense for which event (mOS semantics, see docs/events.md). */
int core_check_hook(struct mos_core *c, int type, int event, int hook)
{
    if (hook < 0 || hook >= MOS_HK_COUNT)
        return -EINVAL;
    int root = event < MOS_BUILTIN_EVENTS ? event : evreg_root(c->reg, event);
    if (root < 0 || root >= MOS_BUILTIN_EVENTS)
        return -EINVAL;
    if (type == MOS_SOCK_MONITOR_RAW)
        return (root == MOS_ON_PKT_IN || root == MOS_ON_ORPHAN) && hook == MOS_HK_NONE ? 0 : -EINVAL;
    switch (root) {
    case MOS_ON_PKT_IN:
    case MOS_ON_CONN_START:
    case MOS_ON_TCP_STATE_CHANGE:
    case MOS_ON_REXMIT:
    case MOS_ON_REXMIT_INCONSISTENT:
        return hook == MOS_HK_NONE ? -EINVAL : 0;
    case MOS_ON_CONN_END:
        return 0;
    case MOS_ON_CONN_NEW_DATA:
    case MOS_ON_GAP:
        return hook == MOS_HK_SND ? -EINVAL : 0;
    case MOS_ON_ORPHAN:
    case MOS_ON_ERROR:
        return hook == MOS_HK_NONE ? 0 : -EINVAL;
    }
    return -EINVAL;
}

static int switch_tree(struct mos_core *c, struct mos_tree **slot, int event, uint64_t handler, bool add)
{
    int err = 0;
    struct mos_tree *cur = *slot ? *slot : etree_empty(c->trees);
    bool took_empty = (*slot == NULL);
    struct mos_tree *nt = add ? etree_with(c->trees, cur, event, handler, &err)
                              : etree_without(c->trees, cur, event, handler, &err);
    if (!nt) {
        if (took_empty)
            etree_release(c->trees, cur);
        return err ? err : -ENOMEM;
    }
    etree_release(c->trees, cur);
    *slot = nt;
    return 0;
}

struct sock_update {
    struct mos_core *c;
    struct mos_socket *so;
    int event, hook;
    uint64_t handler;
    bool add;
    int rc;
};

static void sock_update_flow(struct mos_flow *f, void *arg)
{
    struct sock_update *u = arg;
    if (f->sock != u->so || f->ended)
        return;
    int rc = switch_tree(u->c, &f->tree[u->hook], u->event, u->handler, u->add);
    if (rc < 0)
        u->rc = rc;
}

static int sock_change(struct mos_core *c, int sock, int event, int hook, uint64_t handler, bool existing, bool add)
{
    struct mos_socket *so = sockets_get(c, sock);
    if (!so)
        return -EBADF;
    if (!handler)
        return -EINVAL;
    int rc = core_check_hook(c, so->type, event, hook);
    if (rc < 0)
        return rc;
    rc = switch_tree(c, &so->tree[hook], event, handler, add);
    if (rc < 0 || !existing)
        return rc;
    struct sock_update u = {c, so, event, hook, handler, add, 0};
    flow_table_foreach(c->ft, sock_update_flow, &u);
    return u.rc;
}

int core_register(struct mos_core *c, int sock, int event, int hook, uint64_t handler, bool existing)
{
    return sock_change(c, sock, event, hook, handler, existing, true);
}

int core_unregister(struct mos_core *c, int sock, int event, int hook, uint64_t handler, bool existing)
{
    return sock_change(c, sock, event, hook, handler, existing, false);
}

int core_flow_register(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler)
{
    if (f && f->ended)
        return MOS_E_FLOW_ENDED;
    if (!f || !f->sock)
        return -EBADF;
    if (!handler)
        return -EINVAL;
    int rc = core_check_hook(c, f->sock->type, event, hook);
    if (rc < 0)
        return rc;
    return switch_tree(c, &f->tree[hook], event, handler, true);
}

int core_flow_unregister(struct mos_core *c, struct mos_flow *f, int event, int hook, uint64_t handler)
{
    if (!f || !f->sock)
        return -EBADF;
    if (hook < 0 || hook >= MOS_HK_COUNT)
        return -EINVAL;
    return switch_tree(c, &f->tree[hook], event, handler, false);
}

int core_define_event(struct mos_core *c, int base, uint64_t filter, uint64_t arg)
{
    return evreg_define(c->reg, base, filter, arg);
}

const struct mos_tree *core_socket_tree(struct mos_core *c, int sock, int hook)
{
    struct mos_socket *so = sockets_get(c, sock);
    if (!so || hook < 0 || hook >= MOS_HK_COUNT)
        return NULL;
    return so->tree[hook];
}

/* Stream sockets are tried in id order; the first whose SYN filter accepts
 * the flow's first packet owns the flow. */
struct mos_socket *sockets_pick(struct mos_core *c, const struct mos_pkt *p)
{
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        struct mos_socket *so = &c->socks[s];
        if (!so->used || so->type != MOS_SOCK_MONITOR_STREAM)
            continue;
        if (so->has_syn && !bpf_match(&so->syn_bpf, p))
            continue;
        return so;
    }
    return NULL;
}

/* Raw sockets see every packet their filter accepts, at HK_NONE. Not
 * counted here: a TCP packet's PKT_IN is counted once, by its flow. */
void sockets_raise_raw(struct mos_core *c, struct mos_flow *f)
{
    if (!c->nraw)
        return;
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        struct mos_socket *so = &c->socks[s];
        if (!so->used || so->type != MOS_SOCK_MONITOR_RAW)
            continue;
        if (!(so->tree[MOS_HK_NONE]->mask & (1u << MOS_ON_PKT_IN)))
            continue;
        if (so->has_raw && !bpf_match(&so->raw_bpf, &c->pkt))
            continue;
        core_push_event(c, f, MOS_ON_PKT_IN, f ? f->last_sender : MOS_SIDE_CLI, MOS_HK_NONE, s, 0);
    }
}

/* ORPHAN goes to every socket listening for it; counted once. */
void sockets_raise_orphan(struct mos_core *c)
{
    c->ctr.pkts_orphan++;
    core_count_event(c, MOS_ON_ORPHAN);
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        struct mos_socket *so = &c->socks[s];
        if (so->used && (so->tree[MOS_HK_NONE]->mask & (1u << MOS_ON_ORPHAN)))
            core_push_event(c, NULL, MOS_ON_ORPHAN, MOS_SIDE_CLI, MOS_HK_NONE, s, 0);
    }
}

/* A frame the checksum policy dropped: sockets listening to ORPHAN get it
 * (arg = the reason, as Zeek reports a "weird" and keeps the C history
 * letter), with its headers decoded again without the check into c->pkt so
 * the handler can read them. Counted in ev_orphan, not in pkts_orphan (the
 * drop counter already has it). */
void sockets_raise_checksum_drop(struct mos_core *c, const struct mos_frame *fr, uint64_t reason)
{
    bool any = false;
    for (int s = 0; s < MOS_MAX_SOCKETS && !any; s++) {
        struct mos_socket *so = &c->socks[s];
        any = so->used && (so->tree[MOS_HK_NONE]->mask & (1u << MOS_ON_ORPHAN));
    }
    if (!any)
        return;
    struct mos_counters scratch;
    memset(&scratch, 0, sizeof(scratch));
    struct decoder d = {.checksum = MOS_CSUM_IGNORE, .frag = NULL, .ctr = &scratch};
    c->have_pkt = decode_frame(&d, fr->linktype, fr->data, fr->caplen, fr->wirelen, fr->ts_ns, &c->pkt) == DECODE_OK;
    core_count_event(c, MOS_ON_ORPHAN);
    for (int s = 0; s < MOS_MAX_SOCKETS; s++) {
        struct mos_socket *so = &c->socks[s];
        if (so->used && (so->tree[MOS_HK_NONE]->mask & (1u << MOS_ON_ORPHAN)))
            core_push_event(c, NULL, MOS_ON_ORPHAN, MOS_SIDE_CLI, MOS_HK_NONE, s, reason);
    }
}
