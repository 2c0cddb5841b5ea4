/*
 * fuzz_script.h - the body of the fuzz_script target: frames through the
 * whole engine with a Lua script in the loop.
 *
 * Input: the engine target's format (fuzz_harness.h: a mode byte, then
 * frames "u16le length, u8 clock step, bytes"), with the same small limits
 * and mode bits (link type, overlap, checksum policy; bits 6-7 unused here).
 * Each input gets a fresh core in inline mode (one pair: every frame is
 * forwarded to a sink that reads it, so rewrites, drops and injected resets
 * take their real paths) and a fresh LuaJIT state running the real runtime
 * (lua/mos/loop.lua, as host/lua_worker.c does, without a host) with
 * tests/fuzz/fuzz_script.lua: every event at every hook, reading, peeking,
 * ppeeking, rewriting, resets, buffer toggles, UDEs, timers, per-flow
 * registrations and reloads, picked by payload bytes. State does not carry
 * over between inputs, so every finding replays alone.
 *
 * The loop returns 0, or 1 for an input error; the Lua side catches and
 * counts handler errors. Anything else (a Lua error escaping the loop, a
 * sanitizer report) is a finding: the former traps.
 *
 * Needs MOS_LUA_SOURCE_DIR, MOS_ABI_DIR and MOS_FUZZ_SCRIPT defined, and the
 * program linked so that LuaJIT's FFI finds the mos_* symbols (exported).
 * Everything is static: each including translation unit gets its own copy.
 */
#ifndef MOS_FUZZ_SCRIPT_H
#define MOS_FUZZ_SCRIPT_H

#include "fuzz_harness.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>

struct fuzz_memio {
    struct mos_io io;
    const uint8_t *data;
    size_t size, pos;
    uint64_t ts;
    int linktype;
    uint64_t sink;
};

static int fuzz_memio_rx(struct mos_io *io, struct mos_frame *frames, int max)
{
    struct fuzz_memio *m = (struct fuzz_memio *)io;
    int n = 0;
    while (n < max && m->pos + 3 <= m->size) {
        uint32_t len = (uint32_t)m->data[m->pos] | (uint32_t)m->data[m->pos + 1] << 8;
        uint8_t step = m->data[m->pos + 2];
        m->pos += 3;
        if (len > m->size - m->pos)
            len = (uint32_t)(m->size - m->pos);
        m->ts += step < 200 ? step * FUZZ_MS : (uint64_t)(step - 200) * FUZZ_S;
        frames[n++] = (struct mos_frame){.data = m->data + m->pos, .caplen = len, .wirelen = len,
                                         .ts_ns = m->ts, .linktype = m->linktype};
        m->pos += len;
    }
    return n > 0 ? n : MOS_IO_EOF;
}

static int fuzz_memio_tx(struct mos_io *io, uint16_t port, const uint8_t *data, uint32_t len)
{
    struct fuzz_memio *m = (struct fuzz_memio *)io;
    (void)port;
    if (len > 0) /* every byte handed out must be readable */
        m->sink += data[0] + data[len - 1] + data[len / 2];
    return 0;
}

static void fuzz_memio_close(struct mos_io *io) { (void)io; }

static int fuzz_lua_traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

__attribute__((unused)) static int fuzz_script_one(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct mos_config cfg;
    fuzz_engine_config(&cfg, data[0]);
    cfg.npairs = 1; /* inline: the verdict and the edits go to fuzz_memio_tx */
    if (!getenv("FUZZ_SCRIPT_LOG"))
        snprintf(cfg.log_file, sizeof(cfg.log_file), "/dev/null");
    struct mos_core *core = NULL;
    if (core_create(&cfg, 0, &core) != 0)
        return 0;
    struct fuzz_memio m = {
        .io = {.rx_burst = fuzz_memio_rx, .tx = fuzz_memio_tx, .close = fuzz_memio_close, .name = "fuzz"},
        .data = data, .size = size, .pos = 1, .ts = 1700000000ull * FUZZ_S,
        .linktype = FUZZ_LINKTYPES[(data[0] & 0x0f) % FUZZ_NLINKTYPES],
    };
    core_set_io(core, &m.io);

    lua_State *L = luaL_newstate();
    if (!L)
        __builtin_trap();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushstring(L, MOS_LUA_SOURCE_DIR "/?.lua");
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    lua_pushcfunction(L, fuzz_lua_traceback);
    lua_getglobal(L, "require");
    lua_pushstring(L, "mos.loop");
    if (lua_pcall(L, 1, 1, 1) != 0) {
        fprintf(stderr, "fuzz_script: cannot load the runtime: %s\n", lua_tostring(L, -1));
        __builtin_trap();
    }
    lua_getfield(L, -1, "main");
    lua_newtable(L);
    lua_pushlightuserdata(L, core);
    lua_setfield(L, -2, "core");
    lua_pushstring(L, MOS_FUZZ_SCRIPT);
    lua_setfield(L, -2, "script");
    lua_pushstring(L, MOS_ABI_DIR);
    lua_setfield(L, -2, "abi_dir");
    lua_pushnumber(L, 0);
    lua_setfield(L, -2, "verbosity");
    lua_newtable(L);
    lua_pushstring(L, MOS_FUZZ_SCRIPT);
    lua_setfield(L, -2, "script");
    lua_setfield(L, -2, "params");
    if (lua_pcall(L, 1, 1, 1) != 0) {
        fprintf(stderr, "fuzz_script: Lua error escaped the loop: %s\n", lua_tostring(L, -1));
        __builtin_trap();
    }
    int rc = (int)lua_tointeger(L, -1);
    if (rc != 0 && rc != 1) {
        fprintf(stderr, "fuzz_script: loop returned %d (the script did not load?)\n", rc);
        __builtin_trap();
    }
    lua_close(L);
    core_destroy(core);
    return 0;
}

#endif
