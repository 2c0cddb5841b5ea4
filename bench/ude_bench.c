/*
 * ude_bench.c - micro-benchmark: dispatching CONN_NEW_DATA to user-defined
 * events on many concurrent flows, shared event trees vs a naive per-flow list.
 *
 * Build and run (from the repository root):
 *   gcc -O2 -std=gnu11 -Icore bench/ude_bench.c core/event_tree.c core/counters.c \
 *       core/mos_types.c -lxxhash -o /tmp/ude_bench && /tmp/ude_bench
 *   options: -f FLOWS (100000) -e EVENTS (5000000) -r RUNS (5)
 *
 * Workload: U UDEs (U = 4, 16, 64) in U/4 groups: a parent UDE on
 * CONN_NEW_DATA with three child UDEs on it, each UDE with one handler. Every
 * flow registers all U <UDE, handler> pairs. Events are CONN_NEW_DATA raised
 * round-robin over the flows, each with a different `arg`, which the filters
 * look at (each passes about half the time).
 *
 *  - trees: what the engine does. Every flow points at the one shared tree
 *    (built through the per-core store, as flows registering pairs one by
 *    one do); dispatch is etree_walk from root[CONN_NEW_DATA], so a parent
 *    whose filter fails skips its children's filters.
 *  - naive: each flow owns a malloc'd list of <event, filter, arg, handler>
 *    triples (one per pair, as a per-flow registration list would); dispatch
 *    walks it linearly and, for each UDE, evaluates its filter chain from
 *    the built-in event up (a UDE fires only when its ancestors' filters pass).
 *
 * Both call the same filter and handler functions through the same
 * function-pointer host, and both must fire exactly the same handlers (the
 * run is rejected otherwise). Printed: a Markdown table of median Mevents/s
 * over RUNS runs and the trees/naive ratio. Not a test: no assertions on time.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "event_tree.h"
#include "mos_types.h"

#define MAX_UDE 64

struct bench_host {
    uint64_t fired;        /* handler calls */
    uint64_t checksum;     /* sum of handler ids fired, to compare variants */
    uint64_t filters;      /* filter calls */
};

/* Filter `id` passes when bit (id % 61) of a mix of the event arg is set. */
static inline bool filter_eval(uint64_t id, uint64_t arg)
{
    uint64_t x = arg * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return (x >> (id % 61)) & 1;
}

static bool host_filter(void *ctx, uint64_t filter, uint64_t arg, const struct mos_event *ev)
{
    (void)arg;
    ((struct bench_host *)ctx)->filters++;
    return filter_eval(filter, ev->arg);
}

static void host_handler(void *ctx, uint64_t handler, const struct mos_event *ev)
{
    (void)ev;
    struct bench_host *h = ctx;
    h->fired++;
    h->checksum += handler;
}

/* ------------------------------------------------------------- naive */

struct triple {
    int32_t event;
    uint64_t filter, arg, handler;
};

struct naive_flow {
    struct triple *list;
    uint32_t n;
};

struct ude_info {
    int id, base;          /* base: CONN_NEW_DATA or a parent UDE id */
    uint64_t filter;
};

static void naive_dispatch(const struct naive_flow *f, const struct mos_event *ev, const struct ude_info *u,
                           const struct etree_host *host)
{
    for (uint32_t i = 0; i < f->n; i++) {
        const struct triple *t = &f->list[i];
        /* the filter chain, from the UDE down to the built-in event */
        bool pass = true;
        int id = t->event;
        while (pass && id >= MOS_UDE_FIRST) {
            const struct ude_info *d = &u[id - MOS_UDE_FIRST]; /* ids are dense from MOS_UDE_FIRST */
            pass = host->filter(host->ctx, d->filter, 0, ev);
            id = d->base;
        }
        if (pass && id == ev->event)
            host->handler(host->ctx, t->handler, ev);
    }
}

/* -------------------------------------------------------------- timing */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    long nflows = 100000, nevents = 5000000;
    int runs = 5, opt;
    while ((opt = getopt(argc, argv, "f:e:r:h")) != -1) {
        switch (opt) {
        case 'f': nflows = atol(optarg); break;
        case 'e': nevents = atol(optarg); break;
        case 'r': runs = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-f FLOWS] [-e EVENTS] [-r RUNS]\n", argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (nflows < 1 || nevents < 1 || runs < 1 || runs > 99)
        return 2;
    static const int ucounts[] = {4, 16, 64};
    printf("UDE dispatch, CONN_NEW_DATA round-robin over %ld flows, %ld events, median of %d runs\n\n", nflows,
           nevents, runs);
    printf("| UDEs per flow | trees (Mev/s) | naive list (Mev/s) | trees / naive | filters per event (trees / naive) |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    for (size_t ui = 0; ui < sizeof(ucounts) / sizeof(ucounts[0]); ui++) {
        int nu = ucounts[ui];
        struct mos_counters ctr;
        memset(&ctr, 0, sizeof(ctr));
        struct event_registry *reg;
        struct event_tree_store *st;
        if (evreg_create(&reg) < 0 || etree_store_create(reg, &ctr, &st) < 0)
            return 1;
        struct ude_info u[MAX_UDE];
        for (int i = 0; i < nu; i++) {
            int base = i % 4 == 0 ? MOS_ON_CONN_NEW_DATA : u[i - i % 4].id;
            uint64_t filter = 1 + (uint64_t)i * 7;
            u[i].id = evreg_define(reg, base, filter, 0);
            u[i].base = base;
            u[i].filter = filter;
        }
        /* flows: a tree reference each (the shared one), and a naive list each */
        struct mos_tree **trees = malloc((size_t)nflows * sizeof(*trees));
        struct naive_flow *naive = malloc((size_t)nflows * sizeof(*naive));
        if (!trees || !naive)
            return 1;
        double t0 = now_s();
        for (long f = 0; f < nflows; f++) {
            struct mos_tree *t = etree_empty(st);
            for (int i = 0; i < nu; i++) {
                int err;
                struct mos_tree *nt = etree_with(st, t, u[i].id, 1000 + (uint64_t)i, &err);
                if (!nt)
                    return 1;
                etree_release(st, t);
                t = nt;
            }
            trees[f] = t;
        }
        double t_build = now_s() - t0;
        for (long f = 0; f < nflows; f++) {
            naive[f].n = (uint32_t)nu;
            naive[f].list = malloc((size_t)nu * sizeof(struct triple));
            if (!naive[f].list)
                return 1;
            for (int i = 0; i < nu; i++)
                naive[f].list[i] = (struct triple){u[i].id, u[i].filter, 0, 1000 + (uint64_t)i};
        }

        double rate_tree[99], rate_naive[99];
        struct bench_host ht = {0}, hn = {0};
        for (int r = 0; r < runs; r++) {
            struct bench_host h = {0};
            struct etree_host host = {.ctx = &h, .filter = host_filter, .handler = host_handler};
            struct mos_event ev = {.event = MOS_ON_CONN_NEW_DATA, .side = MOS_SIDE_SVR, .hook = MOS_HK_RCV};
            double a = now_s();
            for (long e = 0; e < nevents; e++) {
                const struct mos_tree *t = trees[e % nflows];
                ev.arg = (uint64_t)e;
                etree_walk(t, t->root[MOS_ON_CONN_NEW_DATA], &ev, &host, NULL);
            }
            rate_tree[r] = (double)nevents / (now_s() - a) / 1e6;
            ht = h;

            struct bench_host h2 = {0};
            host.ctx = &h2;
            a = now_s();
            for (long e = 0; e < nevents; e++) {
                ev.arg = (uint64_t)e;
                naive_dispatch(&naive[e % nflows], &ev, u, &host);
            }
            rate_naive[r] = (double)nevents / (now_s() - a) / 1e6;
            hn = h2;
            if (h.fired != h2.fired || h.checksum != h2.checksum) {
                fprintf(stderr, "variants disagree: trees fired %llu (sum %llu), naive %llu (sum %llu)\n",
                        (unsigned long long)h.fired, (unsigned long long)h.checksum,
                        (unsigned long long)h2.fired, (unsigned long long)h2.checksum);
                return 1;
            }
        }
        double mt = median(rate_tree, runs), mn = median(rate_naive, runs);
        printf("| %d | %.2f | %.2f | %.2fx | %.1f / %.1f |\n", nu, mt, mn, mt / mn,
               (double)ht.filters / (double)nevents, (double)hn.filters / (double)nevents);
        fprintf(stderr, "U=%d: %ld flows built their trees in %.3f s (%llu store misses, %llu hits, %llu "
                        "cache revivals; %llu trees alive); handlers fired per event %.2f\n",
                nu, nflows, t_build, (unsigned long long)ctr.tree_lookups_miss,
                (unsigned long long)ctr.tree_lookups_hit, (unsigned long long)ctr.tree_cache_revived,
                (unsigned long long)ctr.trees_alive, (double)ht.fired / (double)nevents);
        for (long f = 0; f < nflows; f++) {
            etree_release(st, trees[f]);
            free(naive[f].list);
        }
        free(trees);
        free(naive);
        etree_store_destroy(st);
        evreg_destroy(reg);
    }
    return 0;
}
