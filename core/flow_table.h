/*
 * flow_table.h - per-core bidirectional flow table.
 *
 * Chained hash over the canonical key (xxHash), a fixed capacity
 * (max_concurrency), and one LRU list per timeout class so both expiry and
 * eviction are O(1): when full, the oldest finished (TIME_WAIT) flow goes
 * first, then the oldest half-open one, then
 * the oldest idle closing flow, then the oldest established one.
 */
#ifndef MOS_FLOW_TABLE_H
#define MOS_FLOW_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "flow.h"

enum flow_tclass { TCLASS_SYN = 0, TCLASS_ESTABLISHED, TCLASS_CLOSING, TCLASS_TIME_WAIT, TCLASS_COUNT };

struct flow_table;

int flow_table_create(uint32_t capacity, const uint64_t timeouts[TCLASS_COUNT],
                      struct mos_counters *ctr, struct flow_table **out);
void flow_table_destroy(struct flow_table *t);
struct mos_flow *flow_table_lookup(struct flow_table *t, const struct mos_flow_key *k, uint32_t hash);
uint32_t flow_table_hash(const struct mos_flow_key *k);
/* Pipelined lookup for a burst: prefetch the bucket of `hash` early, then,
 * once that line has had time to arrive, the flow it points to. Hints only. */
void flow_table_prefetch_bucket(const struct flow_table *t, uint32_t hash);
void flow_table_prefetch_flow(const struct flow_table *t, uint32_t hash);
/* Insert a zeroed flow for k. Returns NULL when the table is full: the
 * caller then asks for a victim with flow_table_victim and ends it first. */
struct mos_flow *flow_table_insert(struct flow_table *t, const struct mos_flow_key *k, uint32_t hash, uint64_t now);
/* Oldest flow to evict (time-wait, then half-open, then closing, then established); NULL if empty. */
struct mos_flow *flow_table_victim(struct flow_table *t);
/* Record a packet of f at `now` in class tclass: moves f to the tail of that
 * class list when the class or the tick changed (see flow_table.c). */
void flow_table_touch(struct flow_table *t, struct mos_flow *f, int tclass, uint64_t now);
/* Oldest flow whose timeout has passed at `now`, or NULL. */
struct mos_flow *flow_table_expired(struct flow_table *t, uint64_t now);
/* Whether f's own timeout has passed at `now` (flow_table_expired may find
 * it up to 1/16 of the timeout later; see flow_table.c). */
bool flow_table_idle_expired(const struct flow_table *t, const struct mos_flow *f, uint64_t now);
/* Unlink and free (the caller has already freed its streams). */
void flow_table_remove(struct flow_table *t, struct mos_flow *f);
uint32_t flow_table_count(const struct flow_table *t);
/* Stable slot index of a flow (its place in the slab, also f->slot) and
 * back; flow_table_at returns NULL for a free slot or one out of range. A
 * slot is reused after remove: pair it with f->id. */
uint32_t flow_table_slot(const struct flow_table *t, const struct mos_flow *f);
struct mos_flow *flow_table_at(struct flow_table *t, uint32_t slot);
/* In-use flow at the lowest slot >= *cursor, with *cursor moved past it;
 * NULL when none is left. Lets shutdown resume where it stopped instead of
 * rescanning the whole slab for every batch of ended flows. */
struct mos_flow *flow_table_next(struct flow_table *t, uint32_t *cursor);
/* Iterate every flow (shutdown); f may be removed inside the callback. */
void flow_table_foreach(struct flow_table *t, void (*fn)(struct mos_flow *, void *), void *arg);

#endif
