/*
 * count.c - packet counting on the mOS-style C API (bindings/mtcp_api.h):
 * a per-flow counter bumped on every packet (MOS_ON_PKT_IN at MOS_HK_SND,
 * which fires once per packet, on the sender's side), folded into the
 * total when the flow ends. The counter lives in the flow's user context
 * as an integer, so tracking a flow allocates nothing here.
 *
 * Callbacks carry no user argument (mOS's signature), so the totals are
 * process-wide atomics touched once per flow end, not once per packet.
 * Output: "packets N" and "flows N".
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

#if __has_include("mtcp_api.h")
#include "mtcp_api.h"

static _Atomic uint64_t total_packets, total_flows;

static void on_pkt(mctx_t mctx, int sock, int side, event_t events, filter_arg_t *arg)
{
    (void)side; (void)events; (void)arg;
    uintptr_t n = (uintptr_t)mtcp_get_uctx(mctx, sock);
    mtcp_set_uctx(mctx, sock, (void *)(n + 1));
}

static void on_end(mctx_t mctx, int sock, int side, event_t events, filter_arg_t *arg)
{
    (void)side; (void)events; (void)arg;
    uintptr_t n = (uintptr_t)mtcp_get_uctx(mctx, sock);
    atomic_fetch_add_explicit(&total_packets, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_flows, 1, memory_order_relaxed);
}

int main(int argc, char **argv)
{
    struct bench_args a;
    mctx_t ctx[BENCH_MAX_CORES];
    if (bench_parse(argc, argv, &a) < 0)
        return 2;
    if (mtcp_init(a.config) < 0) {
        fprintf(stderr, "count: mtcp_init(%s) failed\n", a.config);
        return 1;
    }
    for (int i = 0; i < a.cores; i++) {
        ctx[i] = mtcp_create_context(i);
        int s = ctx[i] ? mtcp_socket(ctx[i], AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
        if (s < 0 || mtcp_register_callback(ctx[i], s, MOS_ON_PKT_IN, MOS_HK_SND, on_pkt) < 0 ||
            mtcp_register_callback(ctx[i], s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0) {
            fprintf(stderr, "count: setting up core %d failed\n", i);
            return 1;
        }
    }
    if (bench_join(ctx, a.cores) < 0)
        return 1;
    mtcp_destroy();
    printf("packets %llu\nflows %llu\n", (unsigned long long)atomic_load(&total_packets),
           (unsigned long long)atomic_load(&total_flows));
    return 0;
}

#else /* the C API is not there yet: report "not available" as a skip */
int main(void)
{
    fprintf(stderr, "count: built without bindings/mtcp_api.h\n");
    return 77;
}
#endif
