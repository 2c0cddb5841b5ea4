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

#endif
