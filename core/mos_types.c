/*
 * mos_types.c - names for the shared enums and the canonical flow key.
 *
 * Names come from the X-macro lists in mos_types.h so they cannot drift from
 * the enums. The flow key is filled field by field after zeroing the whole
 * struct, so padding and unused address bytes are always 0 and memcmp/hash
 * over the struct is well defined.
 */
#include "mos_types.h"

#include <string.h>

const char *mos_tcp_state_name(int state)
{
    switch (state) {
#define MOS_ST_NAME(name, n) case n: return #name;
        MOS_TCP_STATE_LIST(MOS_ST_NAME)
#undef MOS_ST_NAME
    default:
        return "?";
    }
}

const char *mos_event_name(int event)
{
    if (event >= MOS_UDE_FIRST)
        return "UDE";
    switch (event) {
#define MOS_EV_NAME(name, n) case n: return #name;
        MOS_EVENT_LIST(MOS_EV_NAME)
#undef MOS_EV_NAME
    default:
        return "?";
    }
}

/* Orders endpoints by (address bytes, port) so both directions agree. */
static int endpoint_cmp(const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb)
{
    int c = memcmp(a, b, 16);
    if (c != 0)
        return c;
    return (pa > pb) - (pa < pb);
}

int mos_flow_key_from_pkt(const struct mos_pkt *p, struct mos_flow_key *key)
{
    memset(key, 0, sizeof(*key));
    int dir = endpoint_cmp(p->src, p->sport, p->dst, p->dport) <= 0 ? 0 : 1;
    const uint8_t *a0 = dir == 0 ? p->src : p->dst;
    const uint8_t *a1 = dir == 0 ? p->dst : p->src;
    memcpy(key->addr[0], a0, 16);
    memcpy(key->addr[1], a1, 16);
    if (p->ip_ver == 4) { /* only 4 bytes are meaningful; never trust the rest */
        memset(key->addr[0] + 4, 0, 12);
        memset(key->addr[1] + 4, 0, 12);
    }
    key->port[0] = dir == 0 ? p->sport : p->dport;
    key->port[1] = dir == 0 ? p->dport : p->sport;
    uint8_t n = p->nvlan > MOS_MAX_VLAN ? MOS_MAX_VLAN : p->nvlan;
    for (uint8_t i = 0; i < n; i++)
        key->vlan[i] = p->vlan[i];
    key->nvlan = n;
    key->ip_ver = p->ip_ver;
    key->proto = p->proto;
    return dir;
}
