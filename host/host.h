/*
 * host.h - the mos-lua program's private structures.
 *
 * One worker per core: its own struct mos_core, its own LuaJIT state and,
 * for more than one core, its own thread. Workers share nothing but the
 * read-only options and config; the stats writer reads every core's counters
 * (a racy but harmless snapshot while they run, exact after they are joined).
 */
#ifndef MOS_HOST_PRIV_H
#define MOS_HOST_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "mos_host.h"

#define HOST_MAX_PARAMS 64
#define HOST_MAX_CORES 64

enum host_exit { HOST_EXIT_OK = 0, HOST_EXIT_RUNTIME = 1, HOST_EXIT_USAGE = 2 };

struct host_worker {
    int id;
    struct mos_host *host;
    struct mos_core *core;
    struct mos_io *io;
    void *L;                 /* lua_State; void so this header needs no Lua */
    pthread_t thread;
    int exit_code;
    double lua_kb;
    unsigned seen_hup, seen_usr1, seen_stop;
};

struct mos_host {
    /* options */
    const char *script;
    const char *config_file;
    const char *capture;
    const char *iface;
    const char *stats_file;
    const char *params[HOST_MAX_PARAMS][2];
    int nparams;
    bool check, watch;
    int verbosity;           /* 0 quiet, 1 normal, 2 verbose */
    unsigned ncores;
    struct mos_config cfg;
    struct host_worker workers[HOST_MAX_CORES];
    pthread_mutex_t stats_lock;
    struct io_setup *ios;    /* inputs of every worker (io_setup.c) */
};

/* signals.c */
void host_signals_install(void);
/* lua_worker.c: run one core's Lua loop to completion; returns an exit code */
int host_worker_run(struct mos_host *h, struct host_worker *w);
void host_worker_close_lua(struct host_worker *w);
/* stats.c */
int host_stats_write(struct mos_host *h);

#endif
