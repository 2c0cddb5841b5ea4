/*
 * common.h - argument handling shared by the two C-API benchmark apps.
 *
 * The apps follow mOS's program shape: mtcp_init(config) once, one context
 * per core, monitor sockets and callbacks per context, mtcp_app_join() until
 * the offline input is exhausted. The pcap file and the core count reach the
 * core through the config file run.sh writes ([core] cores, [io] inputs);
 * -n only says how many contexts to create.
 */
#ifndef MOS_BENCH_C_COMMON_H
#define MOS_BENCH_C_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BENCH_MAX_CORES 16

struct bench_args {
    const char *config;
    const char *needle;
    int cores;
};

static inline int bench_parse(int argc, char **argv, struct bench_args *a)
{
    int c;
    a->config = NULL;
    a->needle = "MOSBENCH-NEEDLE-5e1d";
    a->cores = 1;
    while ((c = getopt(argc, argv, "f:n:s:")) != -1) {
        switch (c) {
        case 'f': a->config = optarg; break;
        case 'n': a->cores = atoi(optarg); break;
        case 's': a->needle = optarg; break;
        default: return -1;
        }
    }
    if (!a->config || a->cores < 1 || a->cores > BENCH_MAX_CORES || optind != argc) {
        fprintf(stderr, "usage: %s -f CONFIG [-n CORES] [-s NEEDLE]\n", argv[0]);
        return -1;
    }
    return 0;
}

#if __has_include("mtcp_api.h")
#include <pthread.h>
#include <stdint.h>

#include "mtcp_api.h"

/* mtcp_app_join() runs a context's loop in the calling thread, so each
 * context beyond the first gets its own thread; the first runs here. */
static inline void *bench_join_thread(void *m)
{
    return (void *)(intptr_t)mtcp_app_join((mctx_t)m);
}

static inline int bench_join(mctx_t *ctx, int n)
{
    pthread_t th[BENCH_MAX_CORES];
    int rc = 0, started = 1;
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, bench_join_thread, ctx[started]) != 0)
            break;
    if (started < n || mtcp_app_join(ctx[0]) < 0)
        rc = -1;
    for (int i = 1; i < started; i++) {
        void *r;
        pthread_join(th[i], &r);
        if ((intptr_t)r < 0)
            rc = -1;
    }
    for (int i = 0; i < n; i++)
        mtcp_destroy_context(ctx[i]);
    if (rc < 0)
        perror("mtcp_app_join");
    return rc;
}
#endif

#endif
