/*
 * lua_worker.c - one core's LuaJIT state.
 *
 * C only sets the state up and hands control to lua/mos/loop.lua, which
 * pulls event batches from the engine through the FFI and dispatches them:
 * C never calls into Lua per event. Everything the Lua side needs arrives as
 * one options table (pointers as light userdata), so the state has no
 * globals of ours. w->L is published atomically because the watchdog thread
 * (watchdog.c) may arm a hook on it while the loop runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "host.h"

#ifndef MOS_LUA_SOURCE_DIR
#define MOS_LUA_SOURCE_DIR "lua"
#endif
#ifndef MOS_ABI_DIR
#define MOS_ABI_DIR "."
#endif

static void set_field_str(lua_State *L, const char *k, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void set_field_int(lua_State *L, const char *k, lua_Number v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_field_bool(lua_State *L, const char *k, bool v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

/* package.path gets our tree first so "mos" can never resolve elsewhere. */
static void set_paths(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", MOS_LUA_SOURCE_DIR, MOS_LUA_SOURCE_DIR,
                    lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

int host_worker_run(struct mos_host *h, struct host_worker *w)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "mos-lua: cannot create a Lua state\n");
        return HOST_EXIT_RUNTIME;
    }
    pthread_mutex_init(&w->names_lock, NULL);
    __atomic_store_n((lua_State **)&w->L, L, __ATOMIC_RELEASE); /* the watchdog reads it */
    host_watchdog_attach(w);
    luaL_openlibs(L);
    set_paths(L);
    lua_pushcfunction(L, traceback);
    lua_getglobal(L, "require");
    lua_pushstring(L, "mos.loop");
    if (lua_pcall(L, 1, 1, 0) != 0) {
        fprintf(stderr, "mos-lua: cannot load the Lua runtime: %s\n", lua_tostring(L, -1));
        return HOST_EXIT_RUNTIME;
    }
    lua_getfield(L, -1, "main");
    lua_newtable(L);
    lua_pushlightuserdata(L, w->core);
    lua_setfield(L, -2, "core");
    lua_pushlightuserdata(L, h);
    lua_setfield(L, -2, "host");
    set_field_int(L, "core_id", w->id);
    set_field_int(L, "ncores", h->ncores);
    set_field_str(L, "script", h->script);
    set_field_str(L, "abi_dir", MOS_ABI_DIR);
    set_field_str(L, "stats_file", h->stats_file);
    set_field_bool(L, "check", h->check);
    set_field_bool(L, "watch", h->watch);
    set_field_int(L, "verbosity", h->verbosity);
    lua_newtable(L);
    for (int i = 0; i < h->nparams; i++)
        set_field_str(L, h->params[i][0], h->params[i][1]);
    lua_setfield(L, -2, "params");
    if (lua_pcall(L, 1, 1, -4) != 0) {
        fprintf(stderr, "mos-lua: internal error: %s\n", lua_tostring(L, -1));
        return HOST_EXIT_RUNTIME;
    }
    int rc = (int)lua_tointeger(L, -1);
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    w->progress.lua_kb = lua_gc(L, LUA_GCCOUNT, 0) + lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0;
    return rc;
}

int host_worker_finish(struct host_worker *w)
{
    lua_State *L = w->L;
    if (!L)
        return HOST_EXIT_OK;
    lua_settop(L, 0);
    lua_pushcfunction(L, traceback);
    lua_getglobal(L, "require");
    lua_pushstring(L, "mos.loop");
    if (lua_pcall(L, 1, 1, 1) != 0) {
        fprintf(stderr, "mos-lua: internal error: %s\n", lua_tostring(L, -1));
        lua_settop(L, 0);
        return HOST_EXIT_RUNTIME;
    }
    lua_getfield(L, -1, "finish");
    if (lua_pcall(L, 0, 1, 1) != 0) {
        fprintf(stderr, "mos-lua: internal error: %s\n", lua_tostring(L, -1));
        lua_settop(L, 0);
        return HOST_EXIT_RUNTIME;
    }
    int rc = (int)lua_tointeger(L, -1);
    lua_settop(L, 0);
    return rc;
}

void host_worker_close_lua(struct host_worker *w)
{
    if (w->L) {
        lua_close(w->L);
        pthread_mutex_destroy(&w->names_lock);
    }
    w->L = NULL;
    free(w->names);
    w->names = NULL;
}
