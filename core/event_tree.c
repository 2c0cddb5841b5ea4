/*
 * event_tree.c - UDE registry and shared, immutable event dependency trees.
 *
 * Design:
 * - A tree is a SET of <event, handler> pairs, kept privately as an array
 *   sorted by (event, handler). Its id is the XOR of pair hashes, so
 *   etree_with/etree_without derive the successor's id with one XOR and find
 *   it in the per-core store (a chained hash map id -> trees). Ids may
 *   collide, so a hit is only taken after the candidate's pair set is
 *   compared with "t plus/minus the pair" by a merge walk (no allocation on
 *   the hit path, which is the common one: many flows, few distinct sets).
 * - Trees never change after they are built; the flattened public form
 *   (struct mos_tree, mos_abi.h) and the private pair set share one malloc.
 * - The store keeps the empty tree (id 0) permanently: it holds one
 *   reference of its own, dropped by etree_store_destroy.
 * - A tree whose last reference goes is not freed at once: it stays in the
 *   id map, unreferenced, on an LRU list of at most ETREE_CACHE_MAX trees,
 *   and a lookup that finds it revives it. A flow that registers k pairs
 *   one by one walks through k-1 intermediate trees that only it held; with
 *   the cache the next flow doing the same finds them instead of rebuilding
 *   them (a malloc and a flatten each). The least recently released tree is
 *   freed when the cache is full.
 * - trees_alive counts referenced trees (including the empty one);
 *   trees_cached the unreferenced ones kept; etree_store_count() is
 *   trees_alive's value for this store.
 *
 * Flattened order (determinism): roots by built-in id; children of a node
 * by UDE id (definition order, since a base is always defined before the
 * UDEs built on it); handlers of one node by handler identity ascending, NOT
 * by registration order -- a set has no order, and two flows reaching the
 * same set along different paths must share one tree. Hosts that want
 * registration order hand out increasing handler identities.
 *
 * Walk: filters receive the raised event record unchanged; handlers of a
 * node receive a copy whose .event is that node's event (the UDE id for a
 * UDE node), so one handler registered on several UDEs can tell them apart.
 */
#include "event_tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "mos_types.h"

struct event_registry {
    uint32_t n;
    struct ude_def ude[EVREG_MAX_UDE];
};

struct pair {
    int32_t event;
    uint32_t pad;            /* always 0 */
    uint64_t handler;
};

/* Private view of a tree; `pub` first so a struct mos_tree * converts back. */
struct tree {
    struct mos_tree pub;
    struct tree *next;       /* hash chain */
    struct pair *pairs;      /* sorted set, pub.npairs entries */
    struct tree *lru_prev, *lru_next; /* cache list, when cached */
    bool cached;             /* refs == 0, kept for reuse */
};

#define ETREE_CACHE_MAX 64

typedef uint64_t (*pair_hash_fn)(int event, uint64_t handler);

struct event_tree_store {
    struct event_registry *reg;
    struct mos_counters *ctr;
    struct mos_counters own_ctr;  /* used when the caller passes none */
    struct tree **bucket;
    uint32_t nbuckets;            /* power of two */
    uint32_t count;               /* trees in the map, cached ones included */
    uint32_t ncached;
    struct tree *lru_head, *lru_tail; /* most / least recently released */
    struct tree *empty;
    pair_hash_fn hash;
};

/* ---- registry ----------------------------------------------------------- */

int evreg_create(struct event_registry **out)
{
    struct event_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    *out = r;
    return 0;
}

void evreg_destroy(struct event_registry *r)
{
    free(r);
}

static bool is_builtin(int id)
{
    return id >= 0 && id < MOS_BUILTIN_EVENTS;
}

const struct ude_def *evreg_get(const struct event_registry *r, int id)
{
    if (!r || id < MOS_UDE_FIRST || (uint32_t)(id - MOS_UDE_FIRST) >= r->n)
        return NULL;
    return &r->ude[id - MOS_UDE_FIRST];
}

bool evreg_valid(const struct event_registry *r, int id)
{
    return is_builtin(id) || evreg_get(r, id) != NULL;
}

int evreg_root(const struct event_registry *r, int id)
{
    if (is_builtin(id))
        return id;
    const struct ude_def *d = evreg_get(r, id);
    return d ? d->root : -EINVAL;
}

int evreg_define(struct event_registry *r, int base, uint64_t filter, uint64_t arg)
{
    if (!evreg_valid(r, base) || filter == 0)
        return -EINVAL;
    if (r->n >= EVREG_MAX_UDE)
        return -ENOSPC;
    struct ude_def *d = &r->ude[r->n];
    const struct ude_def *b = evreg_get(r, base);
    d->id = MOS_UDE_FIRST + (int32_t)r->n;
    d->base = base;
    d->root = b ? b->root : base;
    d->depth = b ? b->depth + 1 : 1;
    d->filter = filter;
    d->arg = arg;
    r->n++;
    return d->id;
}

/* ---- pair sets ----------------------------------------------------------- */

uint64_t etree_pair_hash(int event, uint64_t handler)
{
    uint8_t buf[12];
    uint32_t e = (uint32_t)event;
    /* Fixed little-endian layout so ids do not depend on struct padding. */
    for (int i = 0; i < 4; i++)
        buf[i] = (uint8_t)(e >> (8 * i));
    for (int i = 0; i < 8; i++)
        buf[4 + i] = (uint8_t)(handler >> (8 * i));
    uint64_t h = XXH3_64bits(buf, sizeof(buf));
    /* 0 is the empty tree's id; a real pair must change the id. */
    return h ? h : 0x9e3779b97f4a7c15ull;
}

static int pair_cmp(int32_t e1, uint64_t h1, int32_t e2, uint64_t h2)
{
    if (e1 != e2)
        return e1 < e2 ? -1 : 1;
    if (h1 != h2)
        return h1 < h2 ? -1 : 1;
    return 0;
}

/* Position of (e,h) in a sorted set, or where it would be inserted. */
static uint32_t pair_search(const struct pair *p, uint32_t n, int32_t e, uint64_t h, bool *found)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = pair_cmp(p[mid].event, p[mid].handler, e, h);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Does `c` equal `a` with `x` inserted (add) or removed (!add)? Both sorted. */
static bool set_equals_edit(const struct pair *c, uint32_t cn, const struct pair *a, uint32_t an,
                            struct pair x, bool add)
{
    if (cn != (add ? an + 1 : an - 1))
        return false;
    uint32_t i = 0, j = 0;
    bool used = false;
    while (i < cn) {
        struct pair want;
        if (add) {
            if (!used && (j == an || pair_cmp(x.event, x.handler, a[j].event, a[j].handler) < 0)) {
                want = x;
                used = true;
            } else {
                want = a[j++];
            }
        } else {
            if (j < an && a[j].event == x.event && a[j].handler == x.handler)
                j++;
            if (j == an)
                return false;
            want = a[j++];
        }
        if (c[i].event != want.event || c[i].handler != want.handler)
            return false;
        i++;
    }
    return true;
}

/* ---- store --------------------------------------------------------------- */

static uint32_t bucket_of(const struct event_tree_store *s, uint64_t id)
{
    /* ids are hashes already (XORs of them); fold the high half in so a test
     * hash with few low bits still spreads a little. */
    return (uint32_t)(id ^ (id >> 32)) & (s->nbuckets - 1);
}

static void alive_inc(struct event_tree_store *s)
{
    s->ctr->trees_alive++;
    if (s->ctr->trees_alive > s->ctr->trees_peak)
        s->ctr->trees_peak = s->ctr->trees_alive;
}

static void store_insert(struct event_tree_store *s, struct tree *t)
{
    if (s->count >= s->nbuckets) {
        /* Grow at load factor 1; on allocation failure keep the longer chains. */
        uint32_t nb = s->nbuckets * 2;
        struct tree **b = calloc(nb, sizeof(*b));
        if (b) {
            struct tree **old = s->bucket;
            uint32_t on = s->nbuckets;
            s->bucket = b;
            s->nbuckets = nb;
            for (uint32_t i = 0; i < on; i++) {
                for (struct tree *x = old[i], *nx; x; x = nx) {
                    nx = x->next;
                    uint32_t k = bucket_of(s, x->pub.id);
                    x->next = b[k];
                    b[k] = x;
                }
            }
            free(old);
        }
    }
    uint32_t k = bucket_of(s, t->pub.id);
    t->next = s->bucket[k];
    s->bucket[k] = t;
    s->count++;
    alive_inc(s);
}

/* Unlink from the map; counters are the caller's business. */
static void store_unlink(struct event_tree_store *s, struct tree *t)
{
    for (struct tree **pp = &s->bucket[bucket_of(s, t->pub.id)]; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            s->count--;
            return;
        }
    }
}

/* ---- cache of released trees ----------------------------------------------- */

static void lru_unlink(struct event_tree_store *s, struct tree *t)
{
    if (t->lru_prev)
        t->lru_prev->lru_next = t->lru_next;
    else
        s->lru_head = t->lru_next;
    if (t->lru_next)
        t->lru_next->lru_prev = t->lru_prev;
    else
        s->lru_tail = t->lru_prev;
    t->lru_prev = t->lru_next = NULL;
    t->cached = false;
    s->ncached--;
    s->ctr->trees_cached--;
}

static void cache_evict_tail(struct event_tree_store *s)
{
    struct tree *t = s->lru_tail;
    lru_unlink(s, t);
    store_unlink(s, t);
    free(t);
}

/* t's last reference went: keep it, most recent first. */
static void cache_put(struct event_tree_store *s, struct tree *t)
{
    s->ctr->trees_alive--;
    t->cached = true;
    t->lru_prev = NULL;
    t->lru_next = s->lru_head;
    if (s->lru_head)
        s->lru_head->lru_prev = t;
    else
        s->lru_tail = t;
    s->lru_head = t;
    s->ncached++;
    s->ctr->trees_cached++;
    if (s->ncached > ETREE_CACHE_MAX)
        cache_evict_tail(s);
}

static void cache_revive(struct event_tree_store *s, struct tree *t)
{
    lru_unlink(s, t);
    alive_inc(s);
    s->ctr->tree_cache_revived++;
}

/* ---- building the flattened form ------------------------------------------ */

struct build_frame {
    uint32_t node;           /* index in nodes */
    uint32_t scan;           /* next index in `need` to consider as a child */
};

static int32_t parent_of(const struct event_registry *r, int32_t ev)
{
    const struct ude_def *d = evreg_get(r, ev);
    return d ? d->base : -1;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Build a tree from a sorted, duplicate-free pair set whose events are all
 * valid. Takes ownership of nothing; copies `pairs`. */
static struct tree *tree_build(const struct event_registry *reg, const struct pair *pairs, uint32_t np,
                               uint64_t id, int *err)
{
    /* Events that need a node: each handled event plus all its ancestors. */
    int32_t *need = NULL;
    uint32_t nneed = 0, capneed = 0;
    for (uint32_t i = 0; i < np; i++) {
        if (i > 0 && pairs[i].event == pairs[i - 1].event)
            continue;
        for (int32_t ev = pairs[i].event; ev >= 0; ev = parent_of(reg, ev)) {
            if (nneed == capneed) {
                uint32_t nc = capneed ? capneed * 2 : 16;
                int32_t *nn = realloc(need, nc * sizeof(*nn));
                if (!nn) {
                    free(need);
                    *err = -ENOMEM;
                    return NULL;
                }
                need = nn;
                capneed = nc;
            }
            need[nneed++] = ev;
        }
    }
    if (nneed > 1)
        qsort(need, nneed, sizeof(*need), cmp_i32);
    uint32_t u = 0;
    for (uint32_t i = 0; i < nneed; i++)
        if (u == 0 || need[u - 1] != need[i])
            need[u++] = need[i];
    nneed = u;

    size_t sz = sizeof(struct tree) + (size_t)np * sizeof(struct pair) +
                (size_t)nneed * sizeof(struct mos_tree_node) + (size_t)np * sizeof(uint64_t);
    struct tree *t = calloc(1, sz);
    struct build_frame *stack = nneed ? malloc(nneed * sizeof(*stack)) : NULL;
    if (!t || (nneed && !stack)) {
        free(t);
        free(stack);
        free(need);
        *err = -ENOMEM;
        return NULL;
    }
    t->pairs = (struct pair *)(t + 1);
    t->pub.nodes = nneed ? (struct mos_tree_node *)(t->pairs + np) : NULL;
    t->pub.handlers = np ? (uint64_t *)((char *)(t->pairs + np) + nneed * sizeof(struct mos_tree_node)) : NULL;
    if (np)
        memcpy(t->pairs, pairs, np * sizeof(*pairs));
    t->pub.id = id;
    t->pub.npairs = np;
    for (int i = 0; i < 16; i++)
        t->pub.root[i] = -1;

    /* Iterative DFS (UDE chains may be EVREG_MAX_UDE deep). `need` is sorted,
     * so built-ins come first and each node's children are found in id order
     * by scanning forward: a child's id is always above its base's. */
    uint32_t nn = 0, nh = 0;
    for (uint32_t r = 0; r < nneed && is_builtin(need[r]); r++) {
        uint32_t sp = 0;
        int64_t idx = r;     /* index in `need` of the node to emit next */
        while (idx >= 0) {
            int32_t ev = need[idx];
            struct mos_tree_node *node = &t->pub.nodes[nn];
            const struct ude_def *d = evreg_get(reg, ev);
            node->event = ev;
            node->filter = d ? d->filter : 0;
            node->filter_arg = d ? d->arg : 0;
            bool found;
            uint32_t k = pair_search(pairs, np, ev, 0, &found);
            node->first_handler = nh;
            while (k < np && pairs[k].event == ev)
                t->pub.handlers[nh++] = pairs[k++].handler;
            node->nhandlers = nh - node->first_handler;
            if (!d) {
                t->pub.root[ev] = (int32_t)nn;
                t->pub.mask |= 1u << ev;
            }
            stack[sp].node = nn++;
            stack[sp].scan = (uint32_t)idx + 1;
            sp++;
            /* Next child of the stack top, popping (and closing) finished nodes. */
            idx = -1;
            while (sp > 0) {
                struct build_frame *f = &stack[sp - 1];
                int32_t pev = t->pub.nodes[f->node].event;
                while (f->scan < nneed && parent_of(reg, need[f->scan]) != pev)
                    f->scan++;
                if (f->scan < nneed) {
                    idx = f->scan++;
                    break;
                }
                t->pub.nodes[f->node].skip = nn;
                sp--;
            }
        }
    }
    t->pub.nnodes = nn;
    free(stack);
    free(need);
    return t;
}

static struct tree *store_find_edit(struct event_tree_store *s, uint64_t id, const struct tree *from,
                                    struct pair x, bool add)
{
    for (struct tree *c = s->bucket[bucket_of(s, id)]; c; c = c->next)
        if (c->pub.id == id &&
            set_equals_edit(c->pairs, c->pub.npairs, from->pairs, from->pub.npairs, x, add))
            return c;
    return NULL;
}

int etree_store_create(struct event_registry *reg, struct mos_counters *ctr, struct event_tree_store **out)
{
    struct event_tree_store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->reg = reg;
    s->ctr = ctr ? ctr : &s->own_ctr;
    s->hash = etree_pair_hash;
    s->nbuckets = 64;
    s->bucket = calloc(s->nbuckets, sizeof(*s->bucket));
    int err = 0;
    s->empty = s->bucket ? tree_build(reg, NULL, 0, 0, &err) : NULL;
    if (!s->empty) {
        free(s->bucket);
        free(s);
        return -ENOMEM;
    }
    s->empty->pub.refs = 1; /* the store's own reference */
    store_insert(s, s->empty);
    *out = s;
    return 0;
}

void etree_store_destroy(struct event_tree_store *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->nbuckets; i++) {
        for (struct tree *x = s->bucket[i], *nx; x; x = nx) {
            nx = x->next;
            if (x->cached)
                s->ctr->trees_cached--;
            else
                s->ctr->trees_alive--;
            free(x);
        }
    }
    free(s->bucket);
    free(s);
}

void etree_store_set_hash(struct event_tree_store *s, uint64_t (*fn)(int event, uint64_t handler))
{
    /* Cached trees carry ids from the old hash: drop them. */
    while (s->lru_tail)
        cache_evict_tail(s);
    s->hash = fn ? fn : etree_pair_hash;
}

uint32_t etree_store_count(const struct event_tree_store *s)
{
    return s->count - s->ncached;
}

uint32_t etree_store_cached(const struct event_tree_store *s)
{
    return s->ncached;
}

struct mos_tree *etree_empty(struct event_tree_store *s)
{
    s->empty->pub.refs++;
    return &s->empty->pub;
}

void etree_ref(struct mos_tree *t)
{
    t->refs++;
}

void etree_release(struct event_tree_store *s, struct mos_tree *pt)
{
    if (!pt)
        return;
    struct tree *t = (struct tree *)pt;
    if (--t->pub.refs > 0)
        return;
    /* Only non-empty trees reach 0: the store holds one ref on the empty tree. */
    cache_put(s, t);
}

bool etree_has(const struct mos_tree *pt, int event, uint64_t handler)
{
    const struct tree *t = (const struct tree *)pt;
    bool found;
    pair_search(t->pairs, t->pub.npairs, event, handler, &found);
    return found;
}

static struct mos_tree *etree_edit(struct event_tree_store *s, struct mos_tree *pt, int event, uint64_t handler,
                                   bool add, int *err)
{
    struct tree *t = (struct tree *)pt;
    int dummy;
    if (!err)
        err = &dummy;
    *err = 0;
    if (!evreg_valid(s->reg, event)) {
        *err = -EINVAL;
        return NULL;
    }
    bool found;
    uint32_t pos = pair_search(t->pairs, t->pub.npairs, event, handler, &found);
    if (found == add) {
        t->pub.refs++;
        return pt;
    }
    struct pair x = {.event = event, .pad = 0, .handler = handler};
    uint64_t id = t->pub.id ^ s->hash(event, handler);
    struct tree *hit = store_find_edit(s, id, t, x, add);
    if (hit) {
        s->ctr->tree_lookups_hit++;
        if (hit->cached)
            cache_revive(s, hit);
        hit->pub.refs++;
        return &hit->pub;
    }
    s->ctr->tree_lookups_miss++;

    uint32_t np = add ? t->pub.npairs + 1 : t->pub.npairs - 1;
    struct pair *p = malloc((np ? np : 1) * sizeof(*p));
    if (!p) {
        *err = -ENOMEM;
        return NULL;
    }
    if (add) {
        memcpy(p, t->pairs, pos * sizeof(*p));
        p[pos] = x;
        memcpy(p + pos + 1, t->pairs + pos, (t->pub.npairs - pos) * sizeof(*p));
    } else {
        memcpy(p, t->pairs, pos * sizeof(*p));
        memcpy(p + pos, t->pairs + pos + 1, (t->pub.npairs - pos - 1) * sizeof(*p));
    }
    struct tree *nt = tree_build(s->reg, p, np, id, err);
    free(p);
    if (!nt)
        return NULL;
    nt->pub.refs = 1;
    store_insert(s, nt);
    return &nt->pub;
}

struct mos_tree *etree_with(struct event_tree_store *s, struct mos_tree *t, int event, uint64_t handler, int *err)
{
    return etree_edit(s, t, event, handler, true, err);
}

struct mos_tree *etree_without(struct event_tree_store *s, struct mos_tree *t, int event, uint64_t handler,
                               int *err)
{
    return etree_edit(s, t, event, handler, false, err);
}

int etree_find(const struct mos_tree *t, int event)
{
    if (is_builtin(event))
        return t->root[event];
    for (uint32_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i].event == event)
            return (int)i;
    return -1;
}

static void call_handlers(const struct mos_tree *t, uint32_t i, const struct mos_event *ev,
                          const struct etree_host *host)
{
    const struct mos_tree_node *n = &t->nodes[i];
    if (n->nhandlers == 0)
        return;
    struct mos_event e = *ev;
    e.event = n->event;
    for (uint32_t k = 0; k < n->nhandlers; k++)
        host->handler(host->ctx, t->handlers[n->first_handler + k], &e);
}

void etree_walk(const struct mos_tree *t, int start, const struct mos_event *ev,
                const struct etree_host *host, struct mos_counters *ctr)
{
    if (!t || start < 0 || (uint32_t)start >= t->nnodes)
        return;
    call_handlers(t, (uint32_t)start, ev, host);
    uint32_t end = t->nodes[start].skip;
    /* j only moves forward, so each filter runs at most once per walk. */
    for (uint32_t j = (uint32_t)start + 1; j < end;) {
        const struct mos_tree_node *n = &t->nodes[j];
        if (ctr)
            ctr->filters_run++;
        if (host->filter(host->ctx, n->filter, n->filter_arg, ev)) {
            call_handlers(t, j, ev, host);
            j++;
        } else {
            j = n->skip;
        }
    }
}
