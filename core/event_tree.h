/*
 * event_tree.h - user-defined events and shared event dependency trees.
 *
 * A tree is the set of <event, handler> pairs of a flow at one hook. Its id
 * is the XOR over its pairs of hash(event, handler), so adding or removing a
 * pair yields the new id with one XOR; a per-core store maps ids to trees
 * (comparing pair sets on collision) so flows with the same set share one
 * tree. Trees are immutable once built and reference counted.
 */
#ifndef MOS_EVENT_TREE_H
#define MOS_EVENT_TREE_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "mos_abi.h"

#define EVREG_MAX_UDE 4096

struct ude_def {
    int32_t id, base;        /* base: built-in or another UDE */
    int32_t root;            /* the built-in event at the bottom of the chain */
    uint32_t depth;          /* 1 for a UDE on a built-in event */
    uint64_t filter, arg;
};

struct event_registry;       /* per core: UDE definitions */
struct event_tree_store;     /* per core: id -> tree */

int evreg_create(struct event_registry **out);
void evreg_destroy(struct event_registry *r);
/* Define a UDE on `base` (built-in or existing UDE). Returns its id
 * (>= MOS_UDE_FIRST), -EINVAL for an unknown base or zero filter,
 * -ENOSPC past EVREG_MAX_UDE. */
int evreg_define(struct event_registry *r, int base, uint64_t filter, uint64_t arg);
const struct ude_def *evreg_get(const struct event_registry *r, int id); /* NULL if not a UDE */
bool evreg_valid(const struct event_registry *r, int id);  /* built-in or defined UDE */
int evreg_root(const struct event_registry *r, int id);    /* built-in at the bottom, -EINVAL */

int etree_store_create(struct event_registry *reg, struct mos_counters *ctr, struct event_tree_store **out);
void etree_store_destroy(struct event_tree_store *s); /* frees every tree, referenced or not */
/* The tree with no pairs; a new reference. */
struct mos_tree *etree_empty(struct event_tree_store *s);
/* The tree `t` plus (or minus) the pair; returns a NEW reference (possibly
 * to t itself when the pair was already present / absent). NULL with *err
 * set on failure (-ENOMEM, -EINVAL for an undefined event). t's own
 * reference is untouched: the caller releases it when switching. */
struct mos_tree *etree_with(struct event_tree_store *s, struct mos_tree *t, int event, uint64_t handler, int *err);
struct mos_tree *etree_without(struct event_tree_store *s, struct mos_tree *t, int event, uint64_t handler, int *err);
void etree_ref(struct mos_tree *t);
void etree_release(struct event_tree_store *s, struct mos_tree *t);
bool etree_has(const struct mos_tree *t, int event, uint64_t handler);
/* Index of the node for `event` in t (for raise_event), -1 if absent. */
int etree_find(const struct mos_tree *t, int event);
uint64_t etree_pair_hash(int event, uint64_t handler);
uint32_t etree_store_count(const struct event_tree_store *s);   /* referenced trees */
uint32_t etree_store_cached(const struct event_tree_store *s);  /* released trees kept for reuse */
/* Tests only: replace the pair hash of an EMPTY store (NULL restores
 * etree_pair_hash), e.g. with a constant to force id collisions. */
void etree_store_set_hash(struct event_tree_store *s, uint64_t (*fn)(int event, uint64_t handler));

/* Walk for a raised event, calling back into the host. Used by the C-API
 * host; the Lua host walks the same flattened nodes from Lua. */
struct etree_host {
    void *ctx;
    bool (*filter)(void *ctx, uint64_t filter, uint64_t arg, const struct mos_event *ev);
    void (*handler)(void *ctx, uint64_t handler, const struct mos_event *ev);
};
/* Walk the subtree of node `start` (root[event] for built-ins). Filters get
 * `ev` unchanged; handlers get a copy whose .event is their node's event (the
 * UDE id for a UDE node). Handlers of one node run in ascending handler
 * identity (a tree is a set: registration order is not kept). ctr may be NULL. */
void etree_walk(const struct mos_tree *t, int start, const struct mos_event *ev,
                const struct etree_host *host, struct mos_counters *ctr);

#endif
