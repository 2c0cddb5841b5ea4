/*
 * watchdog.c - the monitor thread: stuck handlers and --watch.
 *
 * Design: the Lua loop never calls into C for this. Around every handler,
 * filter and timer call it stores a fresh call number and the function's id
 * into its core's struct mos_host_progress (mos_host.h), and 0 afterwards;
 * that is three plain stores per call. This thread samples those blocks
 * every min(200 ms, timeout/4); a call seen with the same number for longer
 * than lua.handler_timeout is reported on stderr with the function's
 * "file:line" (names registered by the Lua side when it creates an id) and
 * the thread arms a count hook on that core's state with lua_sethook. The
 * hook runs on the worker's own thread: if the same call is still running
 * it raises "handler timed out", which the runtime's pcall around the call
 * counts and logs like any handler error, and the run goes on. Compiled
 * LuaJIT traces and C functions never run hooks, so a call still running 3x
 * the timeout after it started ends the process with HOST_EXIT_STUCK instead
 * of hanging silently; the --stats file is written first. on_exit and
 * on_finish functions (whole-run hooks: they may write out everything the
 * run gathered) are bounded by lua.finish_timeout instead (default 10 min).
 *
 * Invariants:
 *   - lua_sethook is the only Lua API called from this thread. It is the
 *     call Lua and LuaJIT document as safe to make asynchronously (their own
 *     interrupt and profiler hooks do it from signal handlers): it only sets
 *     hook fields and rewrites dispatch table entries. It is called only for
 *     a call that has run for the whole timeout (so the state is not in the
 *     middle of recording a trace), at most twice per stuck call; the hook
 *     clears itself on its own thread.
 *   - a state is touched only between host_watchdog_start and
 *     host_watchdog_stop, and main closes the states only after the stop,
 *     so the state behind w->L is alive whenever this thread uses it.
 *   - --watch only bumps h->reload_requests; the Lua loop sees it through
 *     mos_host_signals between two steps, exactly like SIGHUP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "host.h"

/* Registry key of the worker pointer; only its address matters. */
static const char wd_registry_key = 0;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct mos_host_progress *mos_host_progress(struct mos_host *h, int core)
{
    if (!h || core < 0 || (unsigned)core >= h->ncores)
        return NULL;
    return &h->workers[core].progress;
}

int mos_host_name_handler(struct mos_host *h, int core, int id, const char *where)
{
    if (!h || !where || core < 0 || (unsigned)core >= h->ncores)
        return -EINVAL;
    struct host_worker *w = &h->workers[core];
    int rc = 0;
    pthread_mutex_lock(&w->names_lock);
    if (!w->names)
        w->names = calloc(HOST_NAME_SLOTS, sizeof(*w->names));
    if (w->names) {
        struct host_name *n = &w->names[(uint32_t)id % HOST_NAME_SLOTS];
        n->id = id;
        snprintf(n->where, sizeof(n->where), "%s", where);
    } else {
        rc = -ENOMEM;
    }
    pthread_mutex_unlock(&w->names_lock);
    return rc;
}

static void name_of(struct host_worker *w, int32_t id, char *out, size_t len)
{
    snprintf(out, len, "function #%d", (int)id);
    pthread_mutex_lock(&w->names_lock);
    if (w->names) {
        const struct host_name *n = &w->names[(uint32_t)id % HOST_NAME_SLOTS];
        if (n->id == id && n->where[0])
            snprintf(out, len, "%s", n->where);
    }
    pthread_mutex_unlock(&w->names_lock);
}

/* Runs on the worker's thread, inside the stuck call when it is interpreted. */
static void wd_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_pushlightuserdata(L, (void *)&wd_registry_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    struct host_worker *w = lua_touserdata(L, -1);
    lua_pop(L, 1);
    lua_sethook(L, NULL, 0, 0);
    if (!w)
        return;
    double call, target;
    __atomic_load(&w->progress.call, &call, __ATOMIC_RELAXED);
    __atomic_load(&w->wd_target, &target, __ATOMIC_ACQUIRE);
    int32_t hid = __atomic_load_n(&w->progress.handler, __ATOMIC_RELAXED);
    if (hid == 0 || call != target)
        return; /* that call has ended on its own */
    /* level 0: a hook has no frame of its own, so this names the line the
     * stuck code was running (luaL_error's level 1 would name its caller) */
    luaL_where(L, 0);
    if (hid == -2 || hid == -3)
        lua_pushfstring(L, "%s function timed out after %d ms (lua.finish_timeout)", hid == -2 ? "on_exit" : "on_finish",
                        (int)w->host->cfg.finish_timeout_ms);
    else
        lua_pushfstring(L, "handler timed out after %d ms", (int)w->host->cfg.handler_timeout_ms);
    lua_concat(L, 2);
    lua_error(L);
}

void host_watchdog_attach(struct host_worker *w)
{
    lua_State *L = w->L;
    lua_pushlightuserdata(L, (void *)&wd_registry_key);
    lua_pushlightuserdata(L, w);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

static void arm(struct host_worker *w, double call)
{
    lua_State *L = __atomic_load_n((lua_State **)&w->L, __ATOMIC_ACQUIRE);
    if (!L)
        return;
    __atomic_store(&w->wd_target, &call, __ATOMIC_RELEASE);
    /* 1000 instructions: the hook fires within microseconds when the call
     * is interpreted, and the count dispatch only lasts until it fires */
    lua_sethook(L, wd_hook, LUA_MASKCOUNT, 1000);
}

/* Flush what the script printed so far without ever blocking on a stream
 * the stuck thread might hold. */
static void flush_unblocking(FILE *f)
{
    if (ftrylockfile(f) == 0) {
        fflush_unlocked(f);
        funlockfile(f);
    }
}

/* Whole-run hooks (on_exit -2, on_finish -3) work on the whole run's
 * data, so they have their own bound, lua.finish_timeout (default 10 min),
 * not the per-event handler timeout. */
static bool whole_run(int32_t hid) { return hid == -2 || hid == -3; }

static void check_worker(struct mos_host *h, struct host_worker *w, uint64_t now, uint64_t handler_ns,
                         uint64_t finish_ns)
{
    struct host_wd_state *s = &w->wd;
    int32_t hid = __atomic_load_n(&w->progress.handler, __ATOMIC_RELAXED);
    double call;
    __atomic_load(&w->progress.call, &call, __ATOMIC_RELAXED);
    uint64_t timeout_ns = whole_run(hid) ? finish_ns : handler_ns;
    if (hid == 0 || timeout_ns == 0) {
        s->active = false;
        return;
    }
    if (!s->active || call != s->call || hid != s->handler) {
        s->active = true;
        s->call = call;
        s->handler = hid;
        s->since_ns = now;
        s->state = 0;
        return;
    }
    uint64_t ran = now - s->since_ns;
    char name[160];
    if (s->state == 0 && ran >= timeout_ns) {
        name_of(w, hid, name, sizeof(name));
        fprintf(stderr,
                "mos-lua: watchdog: core %d: %s has been running for %.1f s (lua.%s = %u ms): "
                "interrupting it\n",
                w->id, name, ran / 1e9, whole_run(hid) ? "finish_timeout" : "handler_timeout",
                whole_run(hid) ? h->cfg.finish_timeout_ms : h->cfg.handler_timeout_ms);
        s->state = 1;
        arm(w, call);
    } else if (s->state == 1 && ran >= 2 * timeout_ns) {
        s->state = 2; /* in case the hook lost a race with a call that ended */
        arm(w, call);
    } else if (s->state == 2 && ran >= 3 * timeout_ns) {
        name_of(w, hid, name, sizeof(name));
        flush_unblocking(stdout);
        fprintf(stderr,
                "mos-lua: watchdog: core %d: %s is still running after %.1f s and cannot be interrupted "
                "(compiled loop or blocking C call): exiting with status %d\n",
                w->id, name, ran / 1e9, HOST_EXIT_STUCK);
        int se = host_stats_write(h);
        if (se < 0)
            fprintf(stderr, "mos-lua: --stats %s: %s\n", h->stats_file, strerror(-se));
        flush_unblocking(stderr);
        /* no exit(): atexit handlers and sanitizer leak checks would run
         * while the stuck thread still uses everything */
        _exit(HOST_EXIT_STUCK);
    }
}

static void *monitor(void *arg)
{
    struct mos_host *h = arg;
    uint64_t timeout_ns = (uint64_t)h->cfg.handler_timeout_ms * 1000000ull;
    uint64_t finish_ns = (uint64_t)h->cfg.finish_timeout_ms * 1000000ull;
    uint64_t period = 250000000ull;
    for (int k = 0; k < 2; k++) {
        uint64_t t = k ? finish_ns : timeout_ns;
        uint64_t p = t / 4 < 200000000ull ? t / 4 : 200000000ull;
        if (t && p < period)
            period = p;
    }
    if (period < 5000000ull)
        period = 5000000ull;
    int64_t mtime = h->watch ? mos_host_mtime_ns(h->script) : 0;
    pthread_mutex_lock(&h->wd_lock);
    while (!h->wd_stop) {
        uint64_t dl = mono_ns() + period;
        struct timespec ts = {.tv_sec = (time_t)(dl / 1000000000ull), .tv_nsec = (long)(dl % 1000000000ull)};
        pthread_cond_timedwait(&h->wd_cond, &h->wd_lock, &ts);
        if (h->wd_stop)
            break;
        uint64_t now = mono_ns();
        if (timeout_ns || finish_ns)
            for (unsigned i = 0; i < h->ncores; i++)
                check_worker(h, &h->workers[i], now, timeout_ns, finish_ns);
        if (h->watch) {
            int64_t m = mos_host_mtime_ns(h->script);
            if (m >= 0 && m != mtime) {
                mtime = m;
                __atomic_add_fetch(&h->reload_requests, 1, __ATOMIC_RELEASE);
            }
        }
    }
    pthread_mutex_unlock(&h->wd_lock);
    return NULL;
}

int host_watchdog_start(struct mos_host *h)
{
    if (h->cfg.handler_timeout_ms == 0 && h->cfg.finish_timeout_ms == 0 && !h->watch)
        return 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wd_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&h->wd_lock, NULL);
    h->wd_stop = false;
    int e = pthread_create(&h->wd_thread, NULL, monitor, h);
    if (e != 0) {
        pthread_cond_destroy(&h->wd_cond);
        pthread_mutex_destroy(&h->wd_lock);
        return -e;
    }
    h->wd_running = true;
    return 0;
}

void host_watchdog_stop(struct mos_host *h)
{
    if (!h->wd_running)
        return;
    pthread_mutex_lock(&h->wd_lock);
    h->wd_stop = true;
    pthread_cond_signal(&h->wd_cond);
    pthread_mutex_unlock(&h->wd_lock);
    pthread_join(h->wd_thread, NULL);
    pthread_cond_destroy(&h->wd_cond);
    pthread_mutex_destroy(&h->wd_lock);
    h->wd_running = false;
}
