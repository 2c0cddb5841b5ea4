/*
 * test_flow_table.c - lookup from both directions, capacity bound, eviction
 * order and per-class expiry. Timeouts are small integers (the table has no
 * unit); expected victims follow from the touch order written in each test.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <xxhash.h>

#include "flow_table.h"

/* TCLASS_SYN 30, ESTABLISHED 300, CLOSING 60, TIME_WAIT 1 (the defaults' ratios). */
static const uint64_t TO[TCLASS_COUNT] = {[TCLASS_SYN] = 30, [TCLASS_ESTABLISHED] = 300,
                                          [TCLASS_CLOSING] = 60, [TCLASS_TIME_WAIT] = 1};
static struct mos_counters ctr;
static struct flow_table *t;

static void setup(void)
{
    memset(&ctr, 0, sizeof ctr);
    cr_assert_eq(flow_table_create(4, TO, &ctr, &t), 0);
}
static void teardown(void) { flow_table_destroy(t); }
TestSuite(flow_table, .init = setup, .fini = teardown);

static struct mos_pkt pkt(uint8_t a, uint16_t sport, uint8_t b, uint16_t dport)
{
    struct mos_pkt p;
    memset(&p, 0, sizeof p);
    p.ip_ver = 4;
    p.proto = 6;
    p.src[0] = 10, p.src[3] = a;
    p.dst[0] = 10, p.dst[3] = b;
    p.sport = sport;
    p.dport = dport;
    return p;
}

static struct mos_flow *add(uint16_t port, uint64_t now)
{
    struct mos_pkt p = pkt(1, port, 2, 80);
    struct mos_flow_key k;
    mos_flow_key_from_pkt(&p, &k);
    return flow_table_insert(t, &k, flow_table_hash(&k), now);
}

Test(flow_table, lookup_both_directions)
{
    struct mos_pkt fwd = pkt(1, 40000, 2, 80), rev = pkt(2, 80, 1, 40000);
    struct mos_flow_key k1, k2;
    int d1 = mos_flow_key_from_pkt(&fwd, &k1), d2 = mos_flow_key_from_pkt(&rev, &k2);
    cr_assert_neq(d1, d2);
    uint32_t h = flow_table_hash(&k1);
    cr_assert_eq(h, (uint32_t)XXH3_64bits(&k1, sizeof k1)); /* low 32 bits of XXH3 */
    cr_assert_null(flow_table_lookup(t, &k1, h));
    struct mos_flow *f = flow_table_insert(t, &k1, h, 5);
    cr_assert_not_null(f);
    cr_assert_eq(f->hash, h);
    cr_assert_eq(f->first_ts, 5);
    cr_assert_eq(f->tclass, TCLASS_SYN);
    cr_assert_eq(flow_table_lookup(t, &k2, flow_table_hash(&k2)), f);
    struct mos_pkt other = pkt(1, 40001, 2, 80);
    struct mos_flow_key k3;
    mos_flow_key_from_pkt(&other, &k3);
    cr_assert_null(flow_table_lookup(t, &k3, flow_table_hash(&k3)));
    cr_assert_eq(flow_table_count(t), 1);
}

Test(flow_table, capacity_bound_and_reuse)
{
    struct mos_flow *f[4];
    for (int i = 0; i < 4; i++)
        cr_assert_not_null(f[i] = add((uint16_t)(1000 + i), 0));
    cr_assert_null(add(2000, 0));
    cr_assert_eq(flow_table_count(t), 4);
    uint32_t slot = flow_table_slot(t, f[2]);
    cr_assert_eq(flow_table_at(t, slot), f[2]);
    f[2]->id = 77;
    flow_table_remove(t, f[2]);
    cr_assert_null(flow_table_at(t, slot));
    cr_assert_eq(flow_table_count(t), 3);
    struct mos_flow *g = add(2000, 0);
    cr_assert_eq(g, f[2]);          /* the freed slot is reused... */
    cr_assert_eq(g->id, 0);          /* ...zeroed */
    cr_assert_eq(flow_table_slot(t, g), slot);
    struct mos_pkt p = pkt(1, 1002, 2, 80);
    struct mos_flow_key k;
    mos_flow_key_from_pkt(&p, &k);
    cr_assert_null(flow_table_lookup(t, &k, flow_table_hash(&k)));
}

Test(flow_table, eviction_order)
{
    struct mos_flow *est = add(1, 0), *syn = add(2, 1), *clo = add(3, 2), *tw = add(4, 3);
    flow_table_touch(t, est, TCLASS_ESTABLISHED, 0);
    flow_table_touch(t, clo, TCLASS_CLOSING, 2);
    flow_table_touch(t, tw, TCLASS_TIME_WAIT, 3);
    cr_assert_eq(flow_table_victim(t), tw);
    flow_table_remove(t, tw);
    cr_assert_eq(flow_table_victim(t), syn);
    flow_table_remove(t, syn);
    cr_assert_eq(flow_table_victim(t), clo);
    flow_table_remove(t, clo);
    cr_assert_eq(flow_table_victim(t), est);
    flow_table_remove(t, est);
    cr_assert_null(flow_table_victim(t));
}

Test(flow_table, oldest_first_within_a_class)
{
    struct mos_flow *a = add(1, 0), *b = add(2, 1), *c = add(3, 2);
    cr_assert_eq(flow_table_victim(t), a);
    flow_table_touch(t, a, TCLASS_SYN, 5); /* a is now the newest */
    cr_assert_eq(flow_table_victim(t), b);
    flow_table_touch(t, b, TCLASS_ESTABLISHED, 6);
    cr_assert_eq(flow_table_victim(t), c);
}

Test(flow_table, timeouts_per_class)
{
    struct mos_flow *syn = add(1, 0), *est = add(2, 0), *tw = add(3, 0);
    flow_table_touch(t, est, TCLASS_ESTABLISHED, 0);
    flow_table_touch(t, tw, TCLASS_TIME_WAIT, 10);
    cr_assert_null(flow_table_expired(t, 11));  /* TIME_WAIT: 11 - 10 = 1, not past 1 */
    cr_assert_eq(flow_table_expired(t, 12), tw);
    cr_assert_eq(flow_table_expired(t, 30), tw); /* SYN: exactly 30 has not passed */
    cr_assert_eq(flow_table_expired(t, 31), syn); /* both expired: syn is older (0 < 10) */
    flow_table_remove(t, syn);
    flow_table_remove(t, tw);
    cr_assert_null(flow_table_expired(t, 300));
    cr_assert_eq(flow_table_expired(t, 301), est);
    flow_table_touch(t, est, TCLASS_ESTABLISHED, 301);
    cr_assert_null(flow_table_expired(t, 400));
    cr_assert_eq(est->last_ts, 301);
}

static void remove_cb(struct mos_flow *f, void *arg)
{
    int *n = arg;
    (*n)++;
    flow_table_remove(t, f);
}

Test(flow_table, foreach_may_remove)
{
    add(1, 0);
    struct mos_flow *b = add(2, 0);
    add(3, 0);
    flow_table_remove(t, b);
    int n = 0;
    flow_table_foreach(t, remove_cb, &n);
    cr_assert_eq(n, 2);
    cr_assert_eq(flow_table_count(t), 0);
    cr_assert_null(flow_table_victim(t));
    cr_assert_null(flow_table_expired(t, 1000));
}

Test(flow_table, many_flows_chains)
{
    struct flow_table *big;
    cr_assert_eq(flow_table_create(5000, TO, &ctr, &big), 0);
    for (uint32_t i = 0; i < 5000; i++) {
        struct mos_pkt p = pkt((uint8_t)(i & 0xff), (uint16_t)(1024 + i), 2, 80);
        struct mos_flow_key k;
        mos_flow_key_from_pkt(&p, &k);
        cr_assert_not_null(flow_table_insert(big, &k, flow_table_hash(&k), i));
    }
    for (uint32_t i = 0; i < 5000; i += 7) {
        struct mos_pkt p = pkt(2, 80, (uint8_t)(i & 0xff), (uint16_t)(1024 + i)); /* reverse direction */
        struct mos_flow_key k;
        mos_flow_key_from_pkt(&p, &k);
        struct mos_flow *f = flow_table_lookup(big, &k, flow_table_hash(&k));
        cr_assert_not_null(f);
        cr_assert_eq(f->first_ts, i);
    }
    flow_table_destroy(big);
}

/* List order is kept per tick (1/16 of the class timeout rounded down to a
 * power of two: 1600 / 16 = 100 -> 64 units here). Worked by hand: A at 0,
 * B at 10, A again at 20 (same tick 0): A stays first. A at 70 (tick 1)
 * moves behind B. Idle expiry of the flow itself is exact either way. */
Test(flow_table, order_is_kept_per_tick)
{
    static const uint64_t to[TCLASS_COUNT] = {[TCLASS_SYN] = 1600, [TCLASS_ESTABLISHED] = 1600,
                                              [TCLASS_CLOSING] = 1600, [TCLASS_TIME_WAIT] = 1600};
    struct flow_table *tt;
    cr_assert_eq(flow_table_create(8, to, &ctr, &tt), 0);
    struct mos_flow_key ka, kb;
    struct mos_pkt pa = pkt(1, 1000, 2, 80), pb = pkt(1, 1001, 2, 80);
    mos_flow_key_from_pkt(&pa, &ka);
    mos_flow_key_from_pkt(&pb, &kb);
    struct mos_flow *a = flow_table_insert(tt, &ka, flow_table_hash(&ka), 0);
    struct mos_flow *b = flow_table_insert(tt, &kb, flow_table_hash(&kb), 10);
    flow_table_touch(tt, a, TCLASS_SYN, 20);
    cr_assert_eq(a->last_ts, 20);
    cr_assert_eq(flow_table_victim(tt), a, "same tick: A keeps its place");
    /* B's timeout passed at 1611 but the head A (last 20) is due at 1621 only */
    cr_assert_null(flow_table_expired(tt, 1615));
    cr_assert(flow_table_idle_expired(tt, b, 1615), "B itself is overdue");
    cr_assert_not(flow_table_idle_expired(tt, a, 1615));
    cr_assert_not(flow_table_idle_expired(tt, b, 1610), "exactly the timeout is not past it");
    flow_table_touch(tt, a, TCLASS_SYN, 70);
    cr_assert_eq(flow_table_victim(tt), b, "next tick: A moved behind B");
    cr_assert_eq(flow_table_expired(tt, 1615), b);
    /* a class change always moves */
    flow_table_touch(tt, b, TCLASS_ESTABLISHED, 75);
    cr_assert_eq(flow_table_victim(tt), a, "SYN before ESTABLISHED in the eviction order");
    flow_table_destroy(tt);
}
