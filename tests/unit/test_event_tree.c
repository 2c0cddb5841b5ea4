/*
 * test_event_tree.c - UDE registry and shared event trees against
 * hand-worked layouts and walk orders.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "counters.h"
#include "event_tree.h"
#include "mos_types.h"

struct fixture {
    struct event_registry *reg;
    struct event_tree_store *st;
    struct mos_counters ctr;
};

static void fx_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    cr_assert_eq(evreg_create(&f->reg), 0);
    cr_assert_eq(etree_store_create(f->reg, &f->ctr, &f->st), 0);
}

static void fx_fini(struct fixture *f)
{
    etree_store_destroy(f->st);
    evreg_destroy(f->reg);
    cr_assert_eq(f->ctr.trees_alive, 0, "store destroy frees every tree");
}

/* Add a pair and drop the old reference, as a flow switching trees does. */
static struct mos_tree *add(struct fixture *f, struct mos_tree *t, int ev, uint64_t h)
{
    int err = 1;
    struct mos_tree *n = etree_with(f->st, t, ev, h, &err);
    cr_assert_not_null(n, "etree_with(%d, %llu) err %d", ev, (unsigned long long)h, err);
    cr_assert_eq(err, 0);
    etree_release(f->st, t);
    return n;
}

static struct mos_tree *del(struct fixture *f, struct mos_tree *t, int ev, uint64_t h)
{
    int err = 1;
    struct mos_tree *n = etree_without(f->st, t, ev, h, &err);
    cr_assert_not_null(n);
    etree_release(f->st, t);
    return n;
}

/* ---- recording host ---- */

#define LOG_MAX 64
struct rec {
    char kind;               /* 'F' filter, 'H' handler */
    uint64_t id;
    int32_t event;
};
struct host_ctx {
    struct rec log[LOG_MAX];
    int n;
    uint64_t false_filters[4]; /* filter identities that return false */
};

static bool host_filter(void *ctx, uint64_t filter, uint64_t arg, const struct mos_event *ev)
{
    struct host_ctx *h = ctx;
    cr_assert_eq(arg, filter + 1000, "filter arg travels with the node");
    cr_assert_lt(h->n, LOG_MAX);
    h->log[h->n++] = (struct rec){'F', filter, ev->event};
    for (int i = 0; i < 4; i++)
        if (h->false_filters[i] == filter)
            return false;
    return true;
}

static void host_handler(void *ctx, uint64_t handler, const struct mos_event *ev)
{
    struct host_ctx *h = ctx;
    cr_assert_lt(h->n, LOG_MAX);
    h->log[h->n++] = (struct rec){'H', handler, ev->event};
}

static void expect_log(const struct host_ctx *h, const struct rec *want, int n)
{
    cr_assert_eq(h->n, n, "walk made %d calls, expected %d", h->n, n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(h->log[i].kind, want[i].kind, "call %d kind", i);
        cr_assert_eq(h->log[i].id, want[i].id, "call %d id %llu want %llu", i,
                     (unsigned long long)h->log[i].id, (unsigned long long)want[i].id);
        cr_assert_eq(h->log[i].event, want[i].event, "call %d event %d want %d", i, h->log[i].event,
                     want[i].event);
    }
}

/* ---- registry ---- */

Test(evreg, define_nested_and_errors)
{
    struct fixture f;
    fx_init(&f);
    int a = evreg_define(f.reg, MOS_ON_CONN_NEW_DATA, 7, 8);
    cr_assert_eq(a, MOS_UDE_FIRST);
    int b = evreg_define(f.reg, a, 9, 10);
    cr_assert_eq(b, MOS_UDE_FIRST + 1);
    const struct ude_def *d = evreg_get(f.reg, b);
    cr_assert_not_null(d);
    cr_assert_eq(d->base, a);
    cr_assert_eq(d->root, MOS_ON_CONN_NEW_DATA);
    cr_assert_eq(d->depth, 2);
    cr_assert_eq(d->filter, 9);
    cr_assert_eq(d->arg, 10);
    cr_assert_eq(evreg_root(f.reg, b), MOS_ON_CONN_NEW_DATA);
    cr_assert_eq(evreg_root(f.reg, MOS_ON_GAP), MOS_ON_GAP);
    cr_assert_eq(evreg_root(f.reg, b + 1), -EINVAL);
    cr_assert(evreg_valid(f.reg, MOS_ON_ERROR));
    cr_assert(!evreg_valid(f.reg, MOS_BUILTIN_EVENTS));
    cr_assert(!evreg_valid(f.reg, 20));
    cr_assert(!evreg_valid(f.reg, -1));
    cr_assert(!evreg_valid(f.reg, b + 1));
    cr_assert_null(evreg_get(f.reg, MOS_ON_PKT_IN));

    cr_assert_eq(evreg_define(f.reg, a, 0, 1), -EINVAL, "zero filter");
    cr_assert_eq(evreg_define(f.reg, b + 1, 5, 1), -EINVAL, "undefined base");
    cr_assert_eq(evreg_define(f.reg, MOS_BUILTIN_EVENTS, 5, 1), -EINVAL, "not a built-in");
    cr_assert_eq(evreg_define(f.reg, -3, 5, 1), -EINVAL);
    fx_fini(&f);
}

Test(evreg, enospc_and_deep_chain)
{
    struct fixture f;
    fx_init(&f);
    /* A single chain EVREG_MAX_UDE deep: the tree build must not recurse. */
    int base = MOS_ON_PKT_IN;
    for (int i = 0; i < EVREG_MAX_UDE; i++) {
        int id = evreg_define(f.reg, base, 100 + (uint64_t)i, 1100 + (uint64_t)i);
        cr_assert_eq(id, MOS_UDE_FIRST + i);
        base = id;
    }
    cr_assert_eq(evreg_define(f.reg, MOS_ON_PKT_IN, 1, 0), -ENOSPC);
    cr_assert_eq(evreg_get(f.reg, base)->depth, EVREG_MAX_UDE);

    struct mos_tree *t = add(&f, etree_empty(f.st), base, 77);
    cr_assert_eq(t->nnodes, EVREG_MAX_UDE + 1);
    cr_assert_eq(t->root[MOS_ON_PKT_IN], 0);
    for (uint32_t i = 0; i < t->nnodes; i++)
        cr_assert_eq(t->nodes[i].skip, t->nnodes);
    cr_assert_eq(t->nodes[t->nnodes - 1].nhandlers, 1);
    cr_assert_eq(etree_find(t, base), EVREG_MAX_UDE);
    etree_release(f.st, t);
    fx_fini(&f);
}

/* ---- ids and sharing ---- */

Test(etree, pair_hash_nonzero_and_distinct)
{
    uint64_t seen[64];
    int n = 0;
    for (int e = 0; e < 8; e++)
        for (uint64_t h = 0; h < 8; h++) {
            uint64_t x = etree_pair_hash(e, h);
            cr_assert_neq(x, 0);
            for (int i = 0; i < n; i++)
                cr_assert_neq(seen[i], x);
            seen[n++] = x;
        }
    cr_assert_eq(etree_pair_hash(3, 42), etree_pair_hash(3, 42));
}

Test(etree, xor_property_same_pointer)
{
    struct fixture f;
    fx_init(&f);
    struct mos_tree *e = etree_empty(f.st);
    cr_assert_eq(e->id, 0);
    cr_assert_eq(e->nnodes, 0);
    cr_assert_eq(e->mask, 0);

    int err;
    struct mos_tree *t1 = etree_with(f.st, e, MOS_ON_CONN_START, 1, &err);
    cr_assert_eq(t1->id, etree_pair_hash(MOS_ON_CONN_START, 1));
    struct mos_tree *t2 = etree_with(f.st, t1, MOS_ON_CONN_END, 2, &err);
    cr_assert_eq(t2->id, t1->id ^ etree_pair_hash(MOS_ON_CONN_END, 2));
    cr_assert_eq(t2->npairs, 2);
    uint32_t refs1 = t1->refs;
    struct mos_tree *back = etree_without(f.st, t2, MOS_ON_CONN_END, 2, &err);
    cr_assert_eq(back, t1, "removing the pair again yields the very same tree");
    cr_assert_eq(back->id, t1->id);
    cr_assert_eq(t1->refs, refs1 + 1);
    cr_assert_eq(f.ctr.tree_lookups_hit, 1);
    cr_assert_eq(f.ctr.tree_lookups_miss, 2);
    struct mos_tree *back0 = etree_without(f.st, t1, MOS_ON_CONN_START, 1, &err);
    cr_assert_eq(back0, e);

    /* present / absent pairs: same tree, new reference */
    struct mos_tree *same = etree_with(f.st, t2, MOS_ON_CONN_START, 1, &err);
    cr_assert_eq(same, t2);
    cr_assert_eq(t2->refs, 2);
    struct mos_tree *same2 = etree_without(f.st, t2, MOS_ON_GAP, 1, &err);
    cr_assert_eq(same2, t2);
    cr_assert_eq(t2->refs, 3);
    cr_assert(etree_has(t2, MOS_ON_CONN_END, 2));
    cr_assert(!etree_has(t2, MOS_ON_CONN_END, 1));
    cr_assert(!etree_has(e, MOS_ON_CONN_END, 2));

    etree_release(f.st, same);
    etree_release(f.st, same2);
    etree_release(f.st, t2);
    etree_release(f.st, back);
    etree_release(f.st, t1);
    etree_release(f.st, back0);
    etree_release(f.st, e);
    cr_assert_eq(f.ctr.trees_alive, 1);
    cr_assert_eq(etree_store_count(f.st), 1);
    fx_fini(&f);
}

#define NFLOWS 100000
Test(etree, sharing_100k_flows)
{
    struct fixture f;
    fx_init(&f);
    int ude = evreg_define(f.reg, MOS_ON_CONN_NEW_DATA, 5, 1005);
    static struct mos_tree *flows[NFLOWS][MOS_HK_COUNT];
    for (int i = 0; i < NFLOWS; i++) {
        for (int hk = 0; hk < MOS_HK_COUNT; hk++) {
            struct mos_tree *t = etree_empty(f.st);
            t = add(&f, t, MOS_ON_CONN_START, 100 + (uint64_t)hk);
            t = add(&f, t, ude, 200 + (uint64_t)hk);
            flows[i][hk] = t;
        }
    }
    for (int hk = 0; hk < MOS_HK_COUNT; hk++) {
        cr_assert_eq(flows[NFLOWS - 1][hk], flows[0][hk]);
        cr_assert_eq(flows[0][hk]->refs, NFLOWS);
        cr_assert_eq(flows[0][hk]->npairs, 2);
    }
    cr_assert_neq(flows[0][0], flows[0][1]);
    /* The one-pair intermediate loses its only reference when each flow
     * moves on; it is kept in the cache, so only the first flow builds
     * trees (two misses per hook) and every later flow revives the
     * intermediate and finds the shared two-pair tree (two hits). */
    cr_assert_eq(f.ctr.trees_alive, 1 + MOS_HK_COUNT);
    cr_assert_eq(etree_store_count(f.st), 1 + MOS_HK_COUNT);
    cr_assert_eq(f.ctr.trees_cached, MOS_HK_COUNT);
    cr_assert_eq(etree_store_cached(f.st), MOS_HK_COUNT);
    cr_assert_eq(f.ctr.trees_peak, 1 + MOS_HK_COUNT + 1);
    cr_assert_eq(f.ctr.tree_lookups_hit, (uint64_t)(NFLOWS - 1) * 2 * MOS_HK_COUNT);
    cr_assert_eq(f.ctr.tree_lookups_miss, (uint64_t)2 * MOS_HK_COUNT);
    cr_assert_eq(f.ctr.tree_cache_revived, (uint64_t)(NFLOWS - 1) * MOS_HK_COUNT);
    for (int i = 0; i < NFLOWS; i++)
        for (int hk = 0; hk < MOS_HK_COUNT; hk++)
            etree_release(f.st, flows[i][hk]);
    cr_assert_eq(f.ctr.trees_alive, 1);
    cr_assert_eq(f.ctr.trees_cached, 2 * MOS_HK_COUNT);
    fx_fini(&f);
    cr_assert_eq(f.ctr.trees_cached, 0, "store destroy frees cached trees too");
}

/* 100k flows each registering the same k pairs one by one: the k-1
 * intermediate trees are built once and then come from the cache. */
#define KPAIRS 12
Test(etree, cache_k_registrations_100k_flows)
{
    struct fixture f;
    fx_init(&f);
    int ude = evreg_define(f.reg, MOS_ON_CONN_NEW_DATA, 5, 1005);
    static struct mos_tree *flows[NFLOWS];
    for (int i = 0; i < NFLOWS; i++) {
        struct mos_tree *t = etree_empty(f.st);
        for (int k = 0; k < KPAIRS; k++)
            t = add(&f, t, k % 2 ? ude : MOS_ON_PKT_IN, 1000 + (uint64_t)k);
        flows[i] = t;
    }
    cr_assert_eq(flows[0], flows[NFLOWS - 1]);
    cr_assert_eq(flows[0]->refs, NFLOWS);
    cr_assert_eq(f.ctr.tree_lookups_miss, KPAIRS, "only the first flow builds");
    cr_assert_eq(f.ctr.tree_lookups_hit, (uint64_t)(NFLOWS - 1) * KPAIRS);
    cr_assert_eq(f.ctr.tree_cache_revived, (uint64_t)(NFLOWS - 1) * (KPAIRS - 1));
    cr_assert_eq(f.ctr.trees_alive, 2, "the empty tree and the final one");
    cr_assert_eq(f.ctr.trees_cached, KPAIRS - 1);
    /* empty + the shared final tree + a later flow's current and next */
    cr_assert_eq(f.ctr.trees_peak, 4);
    for (int i = 0; i < NFLOWS; i++)
        etree_release(f.st, flows[i]);
    cr_assert_eq(f.ctr.trees_alive, 1);
    cr_assert_eq(f.ctr.trees_cached, KPAIRS);
    fx_fini(&f);
}

/* The cache keeps the 64 most recently released trees. */
Test(etree, cache_lru_eviction)
{
    struct fixture f;
    fx_init(&f);
    struct mos_tree *e = etree_empty(f.st);
    int err;
    /* 64 distinct one-pair trees, released in handler order 1..64 */
    for (uint64_t h = 1; h <= 64; h++) {
        struct mos_tree *t = etree_with(f.st, e, MOS_ON_PKT_IN, h, &err);
        cr_assert_not_null(t);
        etree_release(f.st, t);
    }
    cr_assert_eq(f.ctr.tree_lookups_miss, 64);
    cr_assert_eq(f.ctr.trees_cached, 64);
    cr_assert_eq(f.ctr.trees_alive, 1);
    cr_assert_eq(etree_store_count(f.st), 1);
    /* revive 1 and release it again: now the most recent; 2 is the oldest */
    struct mos_tree *t1 = etree_with(f.st, e, MOS_ON_PKT_IN, 1, &err);
    cr_assert_eq(f.ctr.tree_lookups_hit, 1);
    cr_assert_eq(f.ctr.tree_cache_revived, 1);
    cr_assert_eq(f.ctr.trees_cached, 63);
    cr_assert_eq(f.ctr.trees_alive, 2);
    cr_assert_eq(t1->refs, 1);
    cr_assert_eq(t1->npairs, 1);
    cr_assert(etree_has(t1, MOS_ON_PKT_IN, 1));
    etree_release(f.st, t1);
    /* a 65th tree evicts handler 2's tree, not 1's */
    struct mos_tree *t65 = etree_with(f.st, e, MOS_ON_PKT_IN, 65, &err);
    etree_release(f.st, t65);
    cr_assert_eq(f.ctr.tree_lookups_miss, 65);
    cr_assert_eq(f.ctr.trees_cached, 64);
    struct mos_tree *again1 = etree_with(f.st, e, MOS_ON_PKT_IN, 1, &err);
    cr_assert_eq(f.ctr.tree_lookups_miss, 65, "1 was kept");
    struct mos_tree *again2 = etree_with(f.st, e, MOS_ON_PKT_IN, 2, &err);
    cr_assert_eq(f.ctr.tree_lookups_miss, 66, "2 was evicted and is rebuilt");
    cr_assert(etree_has(again2, MOS_ON_PKT_IN, 2));
    cr_assert_eq(f.ctr.trees_alive, 3);
    etree_release(f.st, again1);
    etree_release(f.st, again2);
    etree_release(f.st, e);
    cr_assert_eq(f.ctr.trees_alive, 1);
    cr_assert_leq(f.ctr.trees_cached, 64);
    fx_fini(&f);
}

Test(etree, order_independence)
{
    struct fixture f;
    fx_init(&f);
    int u = evreg_define(f.reg, MOS_ON_CONN_NEW_DATA, 3, 1003);
    int v = evreg_define(f.reg, u, 4, 1004);
    struct {
        int ev;
        uint64_t h;
    } p[6] = {{MOS_ON_PKT_IN, 9}, {u, 1}, {v, 2}, {MOS_ON_PKT_IN, 3}, {MOS_ON_CONN_END, 5}, {v, 1}};
    int orders[3][6] = {{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {2, 0, 4, 1, 5, 3}};
    struct mos_tree *res[3];
    for (int o = 0; o < 3; o++) {
        struct mos_tree *t = etree_empty(f.st);
        for (int i = 0; i < 6; i++)
            t = add(&f, t, p[orders[o][i]].ev, p[orders[o][i]].h);
        res[o] = t;
    }
    cr_assert_eq(res[0], res[1]);
    cr_assert_eq(res[0], res[2]);
    cr_assert_eq(res[0]->refs, 3);
    /* handlers of one node are ordered by identity, not by addition order */
    int pk = res[0]->root[MOS_ON_PKT_IN];
    cr_assert_eq(res[0]->nodes[pk].nhandlers, 2);
    cr_assert_eq(res[0]->handlers[res[0]->nodes[pk].first_handler], 3);
    cr_assert_eq(res[0]->handlers[res[0]->nodes[pk].first_handler + 1], 9);
    /* removing in yet another order reaches the empty tree */
    struct mos_tree *t = res[0];
    etree_ref(t);
    for (int i = 0; i < 6; i++)
        t = del(&f, t, p[(i * 5) % 6].ev, p[(i * 5) % 6].h);
    cr_assert_eq(t->id, 0);
    cr_assert_eq(t->npairs, 0);
    etree_release(f.st, t);
    for (int o = 0; o < 3; o++)
        etree_release(f.st, res[o]);
    cr_assert_eq(f.ctr.trees_alive, 1);
    fx_fini(&f);
}

/* ---- flattened layout and walk ---- */

/* UDEs (filter identity = 10 * letter index, arg = filter + 1000):
 *   a(32) on CONN_NEW_DATA, b(33) on a, c(34) on b, d(35) on CONN_NEW_DATA,
 *   e(36) on PKT_IN (no handlers), g(37) on a (no handlers)
 * pairs: (CND,10) (c,20) (c,5) (d,30) (CONN_END,40)
 * expected depth-first layout:
 *   0 CND   h{10}   skip 5
 *   1 a     h{}     skip 4
 *   2 b     h{}     skip 4
 *   3 c     h{5,20} skip 4
 *   4 d     h{30}   skip 5
 *   5 CONN_END h{40} skip 6        (e, g pruned: nothing under them) */
struct hand {
    struct fixture f;
    int a, b, c, d, e, g;
    struct mos_tree *t;
};

static void hand_init(struct hand *h)
{
    fx_init(&h->f);
    h->a = evreg_define(h->f.reg, MOS_ON_CONN_NEW_DATA, 10, 1010);
    h->b = evreg_define(h->f.reg, h->a, 20, 1020);
    h->c = evreg_define(h->f.reg, h->b, 30, 1030);
    h->d = evreg_define(h->f.reg, MOS_ON_CONN_NEW_DATA, 40, 1040);
    h->e = evreg_define(h->f.reg, MOS_ON_PKT_IN, 50, 1050);
    h->g = evreg_define(h->f.reg, h->a, 60, 1060);
    cr_assert_eq(h->g, 37);
    struct mos_tree *t = etree_empty(h->f.st);
    t = add(&h->f, t, h->d, 30);
    t = add(&h->f, t, h->c, 20);
    t = add(&h->f, t, MOS_ON_CONN_END, 40);
    t = add(&h->f, t, MOS_ON_CONN_NEW_DATA, 10);
    t = add(&h->f, t, h->c, 5);
    h->t = t;
}

static void hand_fini(struct hand *h)
{
    etree_release(h->f.st, h->t);
    cr_assert_eq(h->f.ctr.trees_alive, 1);
    fx_fini(&h->f);
}

Test(etree, flattened_layout)
{
    struct hand h;
    hand_init(&h);
    const struct mos_tree *t = h.t;
    struct {
        int32_t ev;
        uint32_t skip, first, n;
        uint64_t filter;
    } want[] = {
        {MOS_ON_CONN_NEW_DATA, 5, 0, 1, 0}, {h.a, 4, 1, 0, 10}, {h.b, 4, 1, 0, 20},
        {h.c, 4, 1, 2, 30},                  {h.d, 5, 3, 1, 40}, {MOS_ON_CONN_END, 6, 4, 1, 0},
    };
    cr_assert_eq(t->nnodes, 6);
    cr_assert_eq(t->npairs, 5);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(t->nodes[i].event, want[i].ev, "node %d event", i);
        cr_assert_eq(t->nodes[i].skip, want[i].skip, "node %d skip", i);
        cr_assert_eq(t->nodes[i].first_handler, want[i].first, "node %d first", i);
        cr_assert_eq(t->nodes[i].nhandlers, want[i].n, "node %d n", i);
        cr_assert_eq(t->nodes[i].filter, want[i].filter, "node %d filter", i);
        cr_assert_eq(t->nodes[i].filter_arg, want[i].filter ? want[i].filter + 1000 : 0);
    }
    uint64_t hs[] = {10, 5, 20, 30, 40};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(t->handlers[i], hs[i]);
    for (int e = 0; e < 16; e++) {
        int r = e == MOS_ON_CONN_NEW_DATA ? 0 : e == MOS_ON_CONN_END ? 5 : -1;
        cr_assert_eq(t->root[e], r, "root[%d]", e);
    }
    cr_assert_eq(t->mask, (1u << MOS_ON_CONN_NEW_DATA) | (1u << MOS_ON_CONN_END));
    cr_assert_eq(etree_find(t, h.c), 3);
    cr_assert_eq(etree_find(t, h.d), 4);
    cr_assert_eq(etree_find(t, h.e), -1);
    cr_assert_eq(etree_find(t, h.g), -1);
    cr_assert_eq(etree_find(t, MOS_ON_PKT_IN), -1);
    cr_assert_eq(etree_find(t, MOS_ON_CONN_END), 5);
    hand_fini(&h);
}

static void walk(struct hand *h, struct host_ctx *hc, int start, int32_t raised)
{
    struct etree_host host = {.ctx = hc, .filter = host_filter, .handler = host_handler};
    struct mos_event ev = {.flow = NULL, .event = raised, .side = MOS_SIDE_SVR, .hook = MOS_HK_NONE};
    etree_walk(h->t, start, &ev, &host, &h->f.ctr);
}

Test(etree, walk_all_filters_true)
{
    struct hand h;
    hand_init(&h);
    struct host_ctx hc = {0};
    walk(&h, &hc, h.t->root[MOS_ON_CONN_NEW_DATA], MOS_ON_CONN_NEW_DATA);
    int cnd = MOS_ON_CONN_NEW_DATA;
    struct rec want[] = {
        {'H', 10, cnd}, {'F', 10, cnd}, {'F', 20, cnd}, {'F', 30, cnd},
        {'H', 5, h.c},  {'H', 20, h.c}, {'F', 40, cnd}, {'H', 30, h.d},
    };
    expect_log(&hc, want, 8);
    cr_assert_eq(h.f.ctr.filters_run, 4, "each filter exactly once");
    hand_fini(&h);
}

Test(etree, walk_false_filter_prunes_subtree_sibling_runs)
{
    struct hand h;
    hand_init(&h);
    struct host_ctx hc = {.false_filters = {10}};
    walk(&h, &hc, h.t->root[MOS_ON_CONN_NEW_DATA], MOS_ON_CONN_NEW_DATA);
    int cnd = MOS_ON_CONN_NEW_DATA;
    struct rec want[] = {{'H', 10, cnd}, {'F', 10, cnd}, {'F', 40, cnd}, {'H', 30, h.d}};
    expect_log(&hc, want, 4);
    cr_assert_eq(h.f.ctr.filters_run, 2);

    /* prune at the deepest level: its parents' filters still ran once each */
    struct host_ctx hc2 = {.false_filters = {30, 40}};
    h.f.ctr.filters_run = 0;
    walk(&h, &hc2, h.t->root[MOS_ON_CONN_NEW_DATA], MOS_ON_CONN_NEW_DATA);
    struct rec want2[] = {{'H', 10, cnd}, {'F', 10, cnd}, {'F', 20, cnd}, {'F', 30, cnd}, {'F', 40, cnd}};
    expect_log(&hc2, want2, 5);
    cr_assert_eq(h.f.ctr.filters_run, 4);
    hand_fini(&h);
}

Test(etree, walk_other_root_and_raise_ude)
{
    struct hand h;
    hand_init(&h);
    struct host_ctx hc = {0};
    walk(&h, &hc, h.t->root[MOS_ON_CONN_END], MOS_ON_CONN_END);
    struct rec want[] = {{'H', 40, MOS_ON_CONN_END}};
    expect_log(&hc, want, 1);

    /* raise_event of UDE b: its own filter does not run, its subtree does */
    struct host_ctx hc2 = {0};
    walk(&h, &hc2, etree_find(h.t, h.b), h.b);
    struct rec want2[] = {{'F', 30, h.b}, {'H', 5, h.c}, {'H', 20, h.c}};
    expect_log(&hc2, want2, 3);

    /* absent nodes: nothing happens */
    struct host_ctx hc3 = {0};
    walk(&h, &hc3, h.t->root[MOS_ON_PKT_IN], MOS_ON_PKT_IN);
    walk(&h, &hc3, 99, MOS_ON_PKT_IN);
    cr_assert_eq(hc3.n, 0);
    hand_fini(&h);
}

Test(etree, intermediate_dropped_when_last_descendant_leaves)
{
    struct hand h;
    hand_init(&h);
    struct mos_tree *t = h.t;
    etree_ref(t);
    t = del(&h.f, t, h.c, 5);
    cr_assert_eq(t->nnodes, 6, "c still has handler 20");
    t = del(&h.f, t, h.c, 20);
    /* a, b, c gone; CND(10), d(30), CONN_END(40) remain */
    cr_assert_eq(t->nnodes, 3);
    cr_assert_eq(t->nodes[0].event, MOS_ON_CONN_NEW_DATA);
    cr_assert_eq(t->nodes[0].skip, 2);
    cr_assert_eq(t->nodes[1].event, h.d);
    cr_assert_eq(t->nodes[2].event, MOS_ON_CONN_END);
    /* a UDE with handlers but whose root has none: root node still present */
    t = del(&h.f, t, MOS_ON_CONN_NEW_DATA, 10);
    cr_assert_eq(t->nnodes, 3);
    cr_assert_eq(t->nodes[0].nhandlers, 0);
    cr_assert_eq(t->root[MOS_ON_CONN_NEW_DATA], 0);
    etree_release(h.f.st, t);
    hand_fini(&h);
}

Test(etree, refcount_free_to_baseline)
{
    struct fixture f;
    fx_init(&f);
    uint64_t base = f.ctr.trees_alive;
    cr_assert_eq(base, 1, "the empty tree");
    struct mos_tree *ts[10];
    for (int i = 0; i < 10; i++) {
        ts[i] = etree_empty(f.st);
        for (int k = 0; k <= i; k++)
            ts[i] = add(&f, ts[i], MOS_ON_PKT_IN, (uint64_t)k);
    }
    cr_assert_eq(f.ctr.trees_alive, base + 10);
    cr_assert_eq(f.ctr.trees_peak, base + 10);
    cr_assert_eq(etree_store_count(f.st), base + 10);
    for (int i = 0; i < 10; i++)
        etree_release(f.st, ts[i]);
    cr_assert_eq(f.ctr.trees_alive, base);
    cr_assert_eq(f.ctr.trees_peak, base + 10);
    cr_assert_eq(etree_store_count(f.st), base);
    fx_fini(&f);
}

static uint64_t const_hash(int event, uint64_t handler)
{
    (void)event;
    (void)handler;
    return 1;
}

Test(etree, collisions_compare_pair_sets)
{
    struct fixture f;
    fx_init(&f);
    etree_store_set_hash(f.st, const_hash);
    struct mos_tree *e = etree_empty(f.st);
    int err;
    struct mos_tree *ta = etree_with(f.st, e, MOS_ON_PKT_IN, 1, &err);
    struct mos_tree *tb = etree_with(f.st, e, MOS_ON_GAP, 2, &err);
    cr_assert_eq(ta->id, 1);
    cr_assert_eq(tb->id, 1);
    cr_assert_neq(ta, tb, "same id, different sets: distinct trees");
    /* {a,b} has id 1^1 = 0, the empty tree's id; must not be confused */
    struct mos_tree *tab = etree_with(f.st, ta, MOS_ON_GAP, 2, &err);
    cr_assert_eq(tab->id, 0);
    cr_assert_neq(tab, e);
    cr_assert_eq(tab->npairs, 2);
    struct mos_tree *tba = etree_with(f.st, tb, MOS_ON_PKT_IN, 1, &err);
    cr_assert_eq(tba, tab);
    struct mos_tree *back_b = etree_without(f.st, tab, MOS_ON_PKT_IN, 1, &err);
    cr_assert_eq(back_b, tb);
    struct mos_tree *back_a = etree_without(f.st, tab, MOS_ON_GAP, 2, &err);
    cr_assert_eq(back_a, ta);
    struct mos_tree *back_e = etree_without(f.st, ta, MOS_ON_PKT_IN, 1, &err);
    cr_assert_eq(back_e, e);
    /* {a,c}: id 0 as well, neither {a,b} nor empty */
    struct mos_tree *tac = etree_with(f.st, ta, MOS_ON_ERROR, 3, &err);
    cr_assert_neq(tac, tab);
    cr_assert_neq(tac, e);
    cr_assert(etree_has(tac, MOS_ON_ERROR, 3));
    cr_assert_eq(etree_store_count(f.st), 5);
    struct mos_tree *all[] = {ta, tb, tab, tba, back_b, back_a, back_e, tac, e};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        etree_release(f.st, all[i]);
    cr_assert_eq(f.ctr.trees_alive, 1);
    fx_fini(&f);
}

Test(etree, errors)
{
    struct fixture f;
    fx_init(&f);
    struct mos_tree *e = etree_empty(f.st);
    int err = 0;
    cr_assert_null(etree_with(f.st, e, MOS_UDE_FIRST, 1, &err), "undefined UDE");
    cr_assert_eq(err, -EINVAL);
    err = 0;
    cr_assert_null(etree_with(f.st, e, MOS_BUILTIN_EVENTS, 1, &err));
    cr_assert_eq(err, -EINVAL);
    err = 0;
    cr_assert_null(etree_without(f.st, e, -1, 1, &err));
    cr_assert_eq(err, -EINVAL);
    cr_assert_eq(e->refs, 2, "failed calls take no reference");
    etree_release(f.st, e);
    cr_assert_eq(f.ctr.trees_alive, 1);
    fx_fini(&f);
}

Test(etree, store_without_counters)
{
    struct event_registry *r;
    struct event_tree_store *s;
    cr_assert_eq(evreg_create(&r), 0);
    cr_assert_eq(etree_store_create(r, NULL, &s), 0);
    int err;
    struct mos_tree *e = etree_empty(s);
    struct mos_tree *t = etree_with(s, e, MOS_ON_PKT_IN, 1, &err);
    cr_assert_not_null(t);
    etree_release(s, t);
    etree_release(s, e);
    etree_store_destroy(s);
    evreg_destroy(r);
}
