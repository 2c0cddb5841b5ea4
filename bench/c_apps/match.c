/*
 * match.c - reassembly + stream matching with the core's matcher on the
 * mOS-style C API (mtcp_matcher_*, bindings/README.md): the C twin of
 * bench/lua_apps/match.lua, for the Lua/C ratio of mos.matcher.
 *
 * -s NEEDLE searches one literal (id 1); -p FILE loads a pattern file
 * (lua/README.md format) in which the planted needle has id 1. On
 * CONN_NEW_DATA the receiving side is scanned; at CONN_END both sides are
 * (bytes flushed at the end). Matches with id 1 are counted as needles,
 * the others apart. Output: "needles N", "other N", "flows N".
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#if __has_include("mtcp_api.h")
#include "mtcp_api.h"

/* one matcher per context, each used by the thread running that context */
static struct mos_matcher *matcher[BENCH_MAX_CORES];
static _Thread_local struct mos_matcher *my_matcher;
static _Atomic uint64_t total_needles, total_other, total_flows;

struct counts {
    uint64_t needles, other;
};
static _Thread_local struct counts cnt;

static void scan(mctx_t mctx, int sock, int side)
{
    const struct mos_match *r;
    int n = mtcp_matcher_scan(mctx, sock, side, my_matcher, &r);
    for (int i = 0; i < n; i++) {
        if (r[i].id == 1)
            cnt.needles++;
        else
            cnt.other++;
    }
}

static void on_data(mctx_t mctx, int sock, int side, event_t events, filter_arg_t *arg)
{
    (void)events; (void)arg;
    scan(mctx, sock, side);
}

static void on_end(mctx_t mctx, int sock, int side, event_t events, filter_arg_t *arg)
{
    (void)side; (void)events; (void)arg;
    scan(mctx, sock, MOS_SIDE_CLI);
    scan(mctx, sock, MOS_SIDE_SVR);
    atomic_fetch_add_explicit(&total_flows, 1, memory_order_relaxed);
    /* fold this thread's counts in at every flow end: cheap, and no
     * per-thread exit hook is needed */
    atomic_fetch_add_explicit(&total_needles, cnt.needles, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_other, cnt.other, memory_order_relaxed);
    cnt.needles = cnt.other = 0;
}

struct runner {
    mctx_t ctx;
    struct mos_matcher *m;
};

static void *run(void *arg)
{
    struct runner *r = arg;
    my_matcher = r->m;
    return (void *)(intptr_t)mtcp_app_join(r->ctx);
}

int main(int argc, char **argv)
{
    const char *pfile = NULL;
    /* -p FILE is ours; the rest goes to bench_parse */
    char *rest[32];
    int nrest = 0;
    for (int i = 0; i < argc && nrest < 31; i++) {
        if (i > 0 && !strcmp(argv[i], "-p") && i + 1 < argc) {
            pfile = argv[++i];
            continue;
        }
        rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    struct bench_args a;
    mctx_t ctx[BENCH_MAX_CORES];
    if (bench_parse(nrest, rest, &a) < 0)
        return 2;
    if (mtcp_init(a.config) < 0) {
        fprintf(stderr, "match: mtcp_init(%s) failed\n", a.config);
        return 1;
    }
    for (int i = 0; i < a.cores; i++) {
        char err[512];
        ctx[i] = mtcp_create_context(i);
        if (!ctx[i]) {
            fprintf(stderr, "match: no context for core %d\n", i);
            return 1;
        }
        struct mos_pattern p = {.expr = a.needle, .len = (uint32_t)strlen(a.needle), .kind = MOS_PAT_LITERAL};
        matcher[i] = pfile ? mtcp_matcher_load(ctx[i], pfile, err, sizeof err)
                           : mtcp_matcher_create(ctx[i], &p, 1, err, sizeof err);
        if (!matcher[i]) {
            fprintf(stderr, "match: %s\n", err);
            return 2;
        }
        int s = mtcp_socket(ctx[i], AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
        if (s < 0 || mtcp_register_callback(ctx[i], s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) < 0 ||
            mtcp_register_callback(ctx[i], s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0) {
            fprintf(stderr, "match: setting up core %d failed\n", i);
            return 1;
        }
    }
    /* bench_join's shape, but each thread first picks its matcher, and the
     * matchers are destroyed before their contexts (bindings/README.md) */
    struct runner run_arg[BENCH_MAX_CORES];
    pthread_t th[BENCH_MAX_CORES];
    int rc = 0;
    for (int i = 0; i < a.cores; i++)
        run_arg[i] = (struct runner){ctx[i], matcher[i]};
    for (int i = 1; i < a.cores; i++)
        if (pthread_create(&th[i], NULL, run, &run_arg[i]) != 0)
            return 1;
    if ((intptr_t)run(&run_arg[0]) < 0)
        rc = 1;
    for (int i = 1; i < a.cores; i++) {
        void *r;
        pthread_join(th[i], &r);
        if ((intptr_t)r < 0)
            rc = 1;
    }
    for (int i = 0; i < a.cores; i++) {
        mtcp_matcher_destroy(matcher[i]);
        mtcp_destroy_context(ctx[i]);
    }
    mtcp_destroy();
    if (rc)
        return rc;
    printf("needles %llu\nother %llu\nflows %llu\n", (unsigned long long)atomic_load(&total_needles),
           (unsigned long long)atomic_load(&total_other), (unsigned long long)atomic_load(&total_flows));
    return 0;
}

#else /* the C API is not there yet: report "not available" as a skip */
int main(void)
{
    fprintf(stderr, "match: built without bindings/mtcp_api.h\n");
    return 77;
}
#endif
