/*
 * search.c - full reassembly + needle search over both directions on the
 * mOS-style C API (bindings/mtcp_api.h).
 *
 * On MOS_ON_CONN_NEW_DATA the callback drains the receiving side's stream
 * with mtcp_peek() (each peek consumes what it returns) and scans it with
 * needle_scan(), which keeps the last len-1 bytes per direction so needles
 * straddling two reads are found once. Per-flow state is allocated at
 * CONN_START and freed at CONN_END (mOS guarantees END is a flow's last
 * event). Totals are atomics added to once per flow end.
 * Output: "needles N" and "flows N".
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../needle_scan.h"
#include "common.h"

#if __has_include("mtcp_api.h")
#include "mtcp_api.h"

#define PEEK_BUF 16384 /* >= one reassembly delivery of a few MSS, fits L1/L2 */

struct flow_state {
    struct needle_dir dir[2]; /* indexed by the receiving side */
    uint64_t hits;
};

/* Set once in main before any context exists, read-only afterwards: mOS
 * callbacks have no user argument to carry them. */
static const uint8_t *needle;
static size_t needle_len;
static _Atomic uint64_t total_needles, total_flows;

static void on_start(mctx_t mctx, int sock, int side, event_t events, filter_arg_t *arg)
{
    (void)side; (void)events; (void)arg;
    struct flow_state *st = calloc(1, sizeof(*st));
    if (!st) {
        fprintf(stderr, "search: out of memory\n");
        exit(1);
    }
    mtcp_set_uctx(mctx, sock, st);
}

static void on_data(mctx_t mctx, int sock, int side, event_t events, filter_arg_t *arg)
{
    (void)events; (void)arg;
    struct flow_state *st = mtcp_get_uctx(mctx, sock);
    uint8_t buf[PEEK_BUF];
    ssize_t n;
    if (!st || (side != MOS_SIDE_CLI && side != MOS_SIDE_SVR))
        return;
    while ((n = mtcp_peek(mctx, sock, side, (char *)buf, sizeof(buf))) > 0)
        st->hits += needle_scan(&st->dir[side], needle, needle_len, buf, (size_t)n);
}

static void on_end(mctx_t mctx, int sock, int side, event_t events, filter_arg_t *arg)
{
    (void)side; (void)events; (void)arg;
    struct flow_state *st = mtcp_get_uctx(mctx, sock);
    if (!st)
        return;
    /* bytes that arrived with the last packet are still unread here */
    on_data(mctx, sock, MOS_SIDE_CLI, 0, NULL);
    on_data(mctx, sock, MOS_SIDE_SVR, 0, NULL);
    atomic_fetch_add_explicit(&total_needles, st->hits, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_flows, 1, memory_order_relaxed);
    mtcp_set_uctx(mctx, sock, NULL);
    free(st);
}

int main(int argc, char **argv)
{
    struct bench_args a;
    mctx_t ctx[BENCH_MAX_CORES];
    if (bench_parse(argc, argv, &a) < 0)
        return 2;
    needle = (const uint8_t *)a.needle;
    needle_len = strlen(a.needle);
    if (needle_len == 0 || needle_len > NEEDLE_MAX) {
        fprintf(stderr, "search: needle must be 1..%d bytes\n", NEEDLE_MAX);
        return 2;
    }
    if (mtcp_init(a.config) < 0) {
        fprintf(stderr, "search: mtcp_init(%s) failed\n", a.config);
        return 1;
    }
    for (int i = 0; i < a.cores; i++) {
        ctx[i] = mtcp_create_context(i);
        int s = ctx[i] ? mtcp_socket(ctx[i], AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
        if (s < 0 || mtcp_register_callback(ctx[i], s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
            mtcp_register_callback(ctx[i], s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) < 0 ||
            mtcp_register_callback(ctx[i], s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0) {
            fprintf(stderr, "search: setting up core %d failed\n", i);
            return 1;
        }
    }
    if (bench_join(ctx, a.cores) < 0)
        return 1;
    mtcp_destroy();
    printf("needles %llu\nflows %llu\n", (unsigned long long)atomic_load(&total_needles),
           (unsigned long long)atomic_load(&total_flows));
    return 0;
}

#else /* the C API is not there yet: report "not available" as a skip */
int main(void)
{
    fprintf(stderr, "search: built without bindings/mtcp_api.h\n");
    return 77;
}
#endif
