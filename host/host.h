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

/* 3: the watchdog found a handler stuck past lua.handler_timeout plus the
 * grace period and could not interrupt it (see watchdog.c). */
enum host_exit { HOST_EXIT_OK = 0, HOST_EXIT_RUNTIME = 1, HOST_EXIT_USAGE = 2, HOST_EXIT_STUCK = 3 };

#define HOST_NAME_SLOTS 512  /* handler names remembered per core (ring by id) */
#define HOST_ONCE_SLOTS 32   /* distinct worker messages remembered (messages.c) */

struct host_name {
    int32_t id;
    char where[124];
};

/* What the watchdog thread alone knows about one core's current call. */
struct host_wd_state {
    bool active;             /* a call was running at the last sample */
    int state;               /* 0 watching, 1 reported and hook set */
    double call;
    int32_t handler;
    uint64_t since_ns;       /* when this call was first seen running */
};

struct host_worker {
    int id;
    struct mos_host *host;
    struct mos_core *core;
    struct mos_io *io;
    void *L;                 /* lua_State; void so this header needs no Lua */
    pthread_t thread;
    int exit_code;
    unsigned seen_hup, seen_usr1, seen_stop, seen_reload;
    struct mos_host_progress progress; /* written by the Lua loop only */
    pthread_mutex_t names_lock;        /* names: Lua thread writes, watchdog reads */
    struct host_name *names;           /* HOST_NAME_SLOTS, allocated on first use */
    struct host_wd_state wd;
    double wd_target;                  /* the call the armed hook may interrupt */
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
    bool check, watch, strict;
    int verbosity;           /* 0 quiet, 1 normal, 2 verbose */
    double pace;             /* --pace: replay speed of -r captures; 0 = as fast as possible */
    unsigned ncores;
    struct mos_config cfg;
    struct host_worker workers[HOST_MAX_CORES];
    pthread_mutex_t stats_lock;
    pthread_mutex_t once_lock;          /* mos_host_once (messages.c) */
    uint64_t once_seen[HOST_ONCE_SLOTS]; /* hashes of messages already printed */
    unsigned once_n;
    struct io_setup *ios;    /* inputs of every worker (io_setup.c) */
    struct log_sink *log;    /* the log output (log_sink.c) */
    /* watchdog.c: the monitor thread (handler timeouts, --watch) */
    unsigned reload_requests;          /* bumped by the monitor on a --watch change */
    pthread_t wd_thread;
    bool wd_running, wd_stop;
    pthread_mutex_t wd_lock;
    pthread_cond_t wd_cond;
};

/* signals.c */
void host_signals_install(void);
/* SIGHUPs received so far (the log sink reopens its file on a change). */
unsigned host_signals_hup_count(void);
/* lua_worker.c: run one core's Lua loop to completion; returns an exit code */
int host_worker_run(struct mos_host *h, struct host_worker *w);
void host_worker_close_lua(struct host_worker *w);
/* After every worker's loop ended: run mos.on_finish functions in w's state. */
int host_worker_finish(struct host_worker *w);
/* watchdog.c: start the monitor thread when lua.handler_timeout > 0 or
 * --watch (returns a negative errno code if it cannot); stop joins it, and
 * must run before any Lua state is closed. */
int host_watchdog_start(struct mos_host *h);
void host_watchdog_stop(struct mos_host *h);
/* Lets the watchdog's hook find w from w->L (call once w->L is set). */
void host_watchdog_attach(struct host_worker *w);
/* stats.c */
int host_stats_write(struct mos_host *h);

#endif
